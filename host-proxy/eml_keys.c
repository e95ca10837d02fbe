#include "eml_keys.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <libgen.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_file.h"
#include "eml_io.h"
#include "eml_mem.h"

static const char HASH_LABEL[] = "eml api key v1";

const char *
eml_key_verdict_name(enum eml_key_verdict v)
{
	switch (v) {
	case EML_KEY_OK: return "ok";
	case EML_KEY_MISSING: return "missing";
	case EML_KEY_MALFORMED: return "malformed";
	case EML_KEY_UNKNOWN: return "unknown";
	case EML_KEY_REVOKED: return "revoked";
	case EML_KEY_EXPIRED: return "expired";
	case EML_KEY_NOT_YET: return "not_yet_valid";
	}
	return "?";
}

static bool
id_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '_' || c == '-';
}

eml_err
eml_key_id_check(const char *id)
{
	size_t n = 0;

	if (id == NULL)
		EML_BAIL(EML_ERR_USAGE);
	for (; id[n] != '\0'; n++) {
		if (n == EML_KEY_ID_MAX || !id_char(id[n])) {
			eml_err_set_detail("key id: 1..%u of A-Z a-z 0-9 _ -", EML_KEY_ID_MAX);
			EML_BAIL(EML_ERR_USAGE);
		}
	}
	if (n == 0) {
		eml_err_set_detail("key id: 1..%u of A-Z a-z 0-9 _ -", EML_KEY_ID_MAX);
		EML_BAIL(EML_ERR_USAGE);
	}
	return EML_OK;
}

void
eml_key_hash(const char *id, const uint8_t secret[EML_KEY_SECRET_LEN],
    uint8_t out[EML_KEY_HASH_LEN])
{
	crypto_hash_sha256_state st;
	const uint8_t zero = 0;

	(void)crypto_hash_sha256_init(&st);
	(void)crypto_hash_sha256_update(&st, (const uint8_t *)HASH_LABEL, sizeof(HASH_LABEL) - 1);
	(void)crypto_hash_sha256_update(&st, &zero, 1);
	(void)crypto_hash_sha256_update(&st, (const uint8_t *)id, strlen(id));
	(void)crypto_hash_sha256_update(&st, &zero, 1);
	(void)crypto_hash_sha256_update(&st, secret, EML_KEY_SECRET_LEN);
	(void)crypto_hash_sha256_final(&st, out);
	eml_wipe(&st, sizeof(st));
}

eml_err
eml_key_generate(const char *id, uint8_t hash[EML_KEY_HASH_LEN], char *token)
{
	uint8_t secret[EML_KEY_SECRET_LEN];
	char hex[2 * EML_KEY_SECRET_LEN + 1];

	EML_GUARD(eml_key_id_check(id));
	EML_ENSURE(hash != NULL && token != NULL, EML_ERR_NULL);
	if (getrandom(secret, sizeof(secret), 0) != (ssize_t)sizeof(secret))
		EML_BAIL(EML_ERR_CRYPTO_RANDOM);
	eml_key_hash(id, secret, hash);
	eml_hex_encode(hex, secret, sizeof(secret));
	(void)snprintf(token, EML_KEY_TOKEN_MAX + 1, "%s%s.%s", EML_KEY_PREFIX, id, hex);
	eml_wipe(secret, sizeof(secret));
	eml_wipe(hex, sizeof(hex));
	return EML_OK;
}

/* ------------------------------------------------------------ file */

static eml_err
bad(const char *what, size_t i)
{
	eml_err_set_detail("key %zu: %s", i, what);
	EML_BAIL(EML_ERR_KEYS_FILE);
}

static eml_err
get_time(json_t *o, const char *name, int64_t *out, size_t i)
{
	json_t *v = json_object_get(o, name);

	*out = 0;
	if (v == NULL)
		return EML_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return bad("not_before / not_after must be Unix seconds >= 0", i);
	*out = (int64_t)json_integer_value(v);
	return EML_OK;
}

static eml_err
parse_key(json_t *o, size_t i, struct eml_key *k)
{
	static const char *const allowed[] = { "id", "partner", "sha256", "rate_per_minute",
		"not_before", "not_after", "revoked", NULL };
	const char *name;
	json_t *v;

	if (!json_is_object(o))
		return bad("not an object", i);
	json_object_foreach(o, name, v) {
		bool ok = false;

		(void)v;
		for (size_t j = 0; allowed[j] != NULL; j++)
			ok = ok || strcmp(name, allowed[j]) == 0;
		if (!ok)
			return bad("unknown member", i);
	}
	v = json_object_get(o, "id");
	if (!json_is_string(v) || eml_key_id_check(json_string_value(v)) != EML_OK)
		return bad("\"id\" must be 1..32 of A-Z a-z 0-9 _ -", i);
	(void)snprintf(k->id, sizeof(k->id), "%s", json_string_value(v));
	v = json_object_get(o, "partner");
	if (v != NULL) {
		if (!json_is_string(v) || json_string_length(v) > EML_KEY_PARTNER_MAX)
			return bad("\"partner\" must be a string of at most 64 bytes", i);
		for (const char *c = json_string_value(v); *c != '\0'; c++)
			if (!id_char(*c))
				return bad("\"partner\": A-Z a-z 0-9 _ - only", i);
		(void)snprintf(k->partner, sizeof(k->partner), "%s", json_string_value(v));
	}
	v = json_object_get(o, "sha256");
	if (!json_is_string(v) || json_string_length(v) != 2 * EML_KEY_HASH_LEN ||
	    eml_hex_decode(k->hash, sizeof(k->hash), json_string_value(v)) != EML_OK) {
		eml_err_clear_detail();
		return bad("\"sha256\" must be 64 hex digits", i);
	}
	v = json_object_get(o, "rate_per_minute");
	if (v != NULL) {
		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > (json_int_t)EML_KEY_RATE_MAX)
			return bad("\"rate_per_minute\" must be 0..1000000", i);
		k->rate_per_minute = (uint32_t)json_integer_value(v);
	}
	EML_GUARD(get_time(o, "not_before", &k->not_before, i));
	EML_GUARD(get_time(o, "not_after", &k->not_after, i));
	v = json_object_get(o, "revoked");
	if (v != NULL && !json_is_boolean(v))
		return bad("\"revoked\" must be true or false", i);
	k->revoked = v != NULL && json_is_true(v);
	return EML_OK;
}

eml_err
eml_keys_parse(const uint8_t *p, size_t n, struct eml_keyset *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	json_error_t jerr;
	json_t *root = NULL, *arr, *v;
	const char *name;
	size_t i;

	EML_ENSURE(out != NULL && (p != NULL || n == 0), EML_ERR_NULL);
	memset(out, 0, sizeof(*out));
	if (n > EML_KEYS_FILE_MAX) {
		eml_err_set_detail("key file above %u bytes", EML_KEYS_FILE_MAX);
		EML_BAIL(EML_ERR_KEYS_FILE);
	}
	root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		eml_err_set_detail("line %d: %.80s", jerr.line, jerr.text);
		EML_BAIL(EML_ERR_KEYS_FILE);
	}
	if (!json_is_object(root)) {
		eml_err_set_detail("the key file must be a JSON object");
		EML_FAIL(rc, EML_ERR_KEYS_FILE);
	}
	json_object_foreach(root, name, v) {
		(void)v;
		if (strcmp(name, "version") != 0 && strcmp(name, "keys") != 0) {
			eml_err_set_detail("unknown member \"%.32s\"", name);
			EML_FAIL(rc, EML_ERR_KEYS_FILE);
		}
	}
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		eml_err_set_detail("\"version\" must be 1");
		EML_FAIL(rc, EML_ERR_KEYS_FILE);
	}
	arr = json_object_get(root, "keys");
	if (!json_is_array(arr) || json_array_size(arr) > EML_KEYS_MAX) {
		eml_err_set_detail("\"keys\" must be an array of at most %u keys", EML_KEYS_MAX);
		EML_FAIL(rc, EML_ERR_KEYS_FILE);
	}
	if (json_array_size(arr) > 0) {
		out->keys = eml_calloc(json_array_size(arr), sizeof(*out->keys));
		if (out->keys == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
	}
	json_array_foreach(arr, i, v) {
		if ((rc = parse_key(v, i, &out->keys[i])) != EML_OK)
			goto out;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(out->keys[j].id, out->keys[i].id) == 0) {
				rc = bad("duplicate id", i);
				goto out;
			}
		}
		out->n = i + 1;
	}
	rc = EML_OK;
out:
	json_decref(root);
	if (rc != EML_OK)
		eml_keys_free(out);
	return rc;
}

eml_err
eml_keys_load(const char *path, struct eml_keyset *out)
{
	uint8_t *data = NULL;
	size_t n = 0;
	eml_err rc;

	EML_ENSURE(path != NULL && out != NULL, EML_ERR_NULL);
	memset(out, 0, sizeof(*out));
	rc = eml_file_read(path, EML_KEYS_FILE_MAX, 0, &data, &n);
	if (rc == EML_ERR_FILE_TOO_LARGE)
		rc = EML_ERR_KEYS_FILE;
	if (rc != EML_OK)
		return rc;
	rc = eml_keys_parse(data, n, out);
	eml_file_free(data, n, 0);
	return rc;
}

static eml_err
appendf(struct eml_buf *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static eml_err
appendf(struct eml_buf *out, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	EML_ENSURE(n >= 0 && (size_t)n < sizeof(line), EML_ERR_OVERFLOW);
	return eml_buf_append(out, line, (size_t)n);
}

eml_err
eml_keys_format(const struct eml_keyset *ks, struct eml_buf *out)
{
	EML_ENSURE(ks != NULL && out != NULL, EML_ERR_NULL);
	EML_GUARD(appendf(out, "{\"version\":1,\"keys\":[%s", ks->n > 0 ? "\n" : ""));
	for (size_t i = 0; i < ks->n; i++) {
		const struct eml_key *k = &ks->keys[i];
		char hex[2 * EML_KEY_HASH_LEN + 1];

		/* ids and partners are [A-Za-z0-9_-]: nothing to escape */
		eml_hex_encode(hex, k->hash, sizeof(k->hash));
		EML_GUARD(appendf(out,
		    " {\"id\":\"%s\",\"partner\":\"%s\",\"sha256\":\"%s\",\"rate_per_minute\":%" PRIu32
		    ",\"not_before\":%" PRId64 ",\"not_after\":%" PRId64 ",\"revoked\":%s}%s\n",
		    k->id, k->partner, hex, k->rate_per_minute, k->not_before, k->not_after,
		    k->revoked ? "true" : "false", i + 1 < ks->n ? "," : ""));
	}
	return appendf(out, "]}\n");
}

eml_err
eml_keys_save(const char *path, const struct eml_keyset *ks)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf b;
	char tmp[4096], dir[4096];
	int fd = -1, dfd = -1;

	EML_ENSURE(path != NULL && ks != NULL, EML_ERR_NULL);
	eml_buf_init(&b, EML_KEYS_FILE_MAX);
	if ((rc = eml_keys_format(ks, &b)) != EML_OK)
		goto out;
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp) ||
	    snprintf(dir, sizeof(dir), "%s", path) >= (int)sizeof(dir)) {
		eml_err_set_detail("key file path too long");
		EML_FAIL(rc, EML_ERR_FILE);
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		eml_err_set_detail("%s: %s", tmp, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	if ((rc = eml_io_write_full(fd, b.data, b.len, EML_DEADLINE_NONE)) != EML_OK || fsync(fd) != 0) {
		eml_err_set_detail("%s: write failed", tmp);
		EML_FAIL(rc, EML_ERR_FILE);
	}
	(void)close(fd);
	fd = -1;
	if (rename(tmp, path) != 0) {
		eml_err_set_detail("rename to %s: %s", path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		(void)fsync(dfd);
	rc = EML_OK;
out:
	if (fd >= 0) {
		(void)close(fd);
		(void)unlink(tmp);
	}
	if (dfd >= 0)
		(void)close(dfd);
	eml_buf_free_nowipe(&b);
	return rc;
}

void
eml_keys_free(struct eml_keyset *ks)
{
	if (ks == NULL)
		return;
	eml_free_wipe(ks->keys, ks->n * sizeof(*ks->keys));
	ks->keys = NULL;
	ks->n = 0;
}

/* ------------------------------------------------------------ check */

/* Split "emlk1.<id>.<64 hex>" into a zero-padded id and the secret. */
static bool
token_parse(const uint8_t *tok, size_t n, char id[EML_KEY_ID_MAX + 1],
    uint8_t secret[EML_KEY_SECRET_LEN])
{
	const size_t pre = sizeof(EML_KEY_PREFIX) - 1;
	char hex[2 * EML_KEY_SECRET_LEN + 1];
	size_t idn = 0;

	memset(id, 0, EML_KEY_ID_MAX + 1);
	if (n > EML_KEY_TOKEN_MAX || n < pre + 2 + 2 * EML_KEY_SECRET_LEN ||
	    memcmp(tok, EML_KEY_PREFIX, pre) != 0)
		return false;
	while (pre + idn < n && tok[pre + idn] != '.') {
		if (idn == EML_KEY_ID_MAX || !id_char((char)tok[pre + idn]))
			return false;
		id[idn] = (char)tok[pre + idn];
		idn++;
	}
	if (idn == 0 || n - pre - idn - 1 != 2 * EML_KEY_SECRET_LEN)
		return false;
	EML_MEMCPY(hex, tok + pre + idn + 1, 2 * EML_KEY_SECRET_LEN);
	hex[2 * EML_KEY_SECRET_LEN] = '\0';
	for (size_t i = 0; i < 2 * EML_KEY_SECRET_LEN; i++) {
		/* lowercase only: one spelling per key */
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f'))) {
			eml_wipe(hex, sizeof(hex));
			return false;
		}
	}
	if (eml_hex_decode(secret, EML_KEY_SECRET_LEN, hex) != EML_OK) {
		eml_err_clear_detail();
		eml_wipe(hex, sizeof(hex));
		return false;
	}
	eml_wipe(hex, sizeof(hex));
	return true;
}

enum eml_key_verdict
eml_keys_check(const struct eml_keyset *ks, const uint8_t *tok, size_t n, int64_t now,
    const struct eml_key **match, char *id_out)
{
	char id[EML_KEY_ID_MAX + 1];
	uint8_t secret[EML_KEY_SECRET_LEN] = { 0 };
	uint8_t h[EML_KEY_HASH_LEN];
	const struct eml_key *hit = NULL;
	enum eml_key_verdict v;
	bool wellformed;

	if (match != NULL)
		*match = NULL;
	wellformed = n > 0 && tok != NULL && token_parse(tok, n, id, secret);
	if (!wellformed) {
		/* Same work as for a real token: a dummy id and secret. */
		memset(id, 0, sizeof(id));
		id[0] = '.';
		memset(secret, 0, sizeof(secret));
	}
	eml_key_hash(id, secret, h);
	eml_wipe(secret, sizeof(secret));
	/* Every key is compared, id and hash, in constant time; the
	 * first one that matches both is kept. */
	for (size_t i = 0; ks != NULL && i < ks->n; i++) {
		const struct eml_key *k = &ks->keys[i];
		char kid[EML_KEY_ID_MAX + 1];
		int id_ne, h_ne;

		memset(kid, 0, sizeof(kid));
		EML_MEMCPY(kid, k->id, strnlen(k->id, EML_KEY_ID_MAX));
		id_ne = sodium_memcmp(kid, id, sizeof(kid));
		h_ne = sodium_memcmp(k->hash, h, sizeof(h));
		if ((id_ne | h_ne) == 0 && hit == NULL)
			hit = k;
	}
	eml_wipe(h, sizeof(h));
	if (id_out != NULL)
		(void)snprintf(id_out, EML_KEY_ID_MAX + 1, "%s", wellformed ? id : "");
	if (n == 0 || tok == NULL)
		v = EML_KEY_MISSING;
	else if (!wellformed)
		v = EML_KEY_MALFORMED;
	else if (hit == NULL)
		v = EML_KEY_UNKNOWN;
	else if (hit->revoked)
		v = EML_KEY_REVOKED;
	else if (hit->not_after != 0 && now >= hit->not_after)
		v = EML_KEY_EXPIRED;
	else if (hit->not_before != 0 && now < hit->not_before)
		v = EML_KEY_NOT_YET;
	else
		v = EML_KEY_OK;
	if (v == EML_KEY_OK && match != NULL)
		*match = hit;
	return v;
}
