/*
 * Evidence artifacts: build (enclave), parse and verify (anyone). The
 * format, field by field, is docs/EVIDENCE.md; every failure's detail
 * names the field, as "field: what is wrong".
 */
#include "eml_evidence.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "eml_json.h"
#include "eml_mem.h"

#define DOMAIN_EXCHANGES "EphemeralML evidence v1 exchanges"
#define DOMAIN_BINDING "EphemeralML evidence v1 binding"

/* ---------------------------------------------------------------- hashes */

void
eml_evidence_exchange_init(uint8_t h[32])
{
	crypto_hash_sha256(h, (const uint8_t *)DOMAIN_EXCHANGES, sizeof(DOMAIN_EXCHANGES) - 1);
}

/* The same hash through OpenSSL, which uses the CPU's SHA extensions
 * (the agent hashes every request and response, up to the frame limit:
 * several times faster than libsodium's portable SHA-256). When OpenSSL
 * fails, end computes the step with libsodium from h and in. */
void
eml_evidence_exchange_begin(struct eml_evidence_x *x, const uint8_t h[32], const uint8_t *in,
    size_t in_len)
{
	EVP_MD_CTX *c = EVP_MD_CTX_new();
	uint8_t li[8];

	x->in = in;
	x->in_len = in_len;
	eml_store_u64be(li, (uint64_t)in_len);
	if (c != NULL && (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(c, h, 32) != 1 || EVP_DigestUpdate(c, li, 8) != 1 ||
	    (in_len != 0 && EVP_DigestUpdate(c, in, in_len) != 1))) {
		EVP_MD_CTX_free(c);
		c = NULL;
	}
	x->md = c;
}

void
eml_evidence_exchange_begin_len(struct eml_evidence_x *x, const uint8_t h[32], size_t in_len)
{
	eml_evidence_exchange_begin(x, h, NULL, 0);
	if (x->md != NULL && in_len != 0) {
		/* begin hashed the length word 0: start again with in_len */
		EVP_MD_CTX *c = x->md;
		uint8_t li[8];

		eml_store_u64be(li, (uint64_t)in_len);
		if (EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 || EVP_DigestUpdate(c, h, 32) != 1 ||
		    EVP_DigestUpdate(c, li, 8) != 1) {
			EVP_MD_CTX_free(c);
			x->md = NULL;
		}
	}
	/* the bytes come through update: end's fallback cannot recompute */
	x->in = NULL;
	x->in_len = in_len;
}

int
eml_evidence_exchange_update(struct eml_evidence_x *x, const uint8_t *p, size_t n)
{
	if (x->md == NULL || (n != 0 && EVP_DigestUpdate(x->md, p, n) != 1))
		return -1;
	return 0;
}

void
eml_evidence_exchange_abort(struct eml_evidence_x *x)
{
	EVP_MD_CTX_free(x->md);
	x->md = NULL;
}

void
eml_evidence_exchange_end(struct eml_evidence_x *x, uint8_t h[32], const uint8_t *out,
    size_t out_len)
{
	EVP_MD_CTX *c = x->md;
	crypto_hash_sha256_state st;
	uint8_t len[8];

	x->md = NULL;
	eml_store_u64be(len, (uint64_t)out_len);
	if (c != NULL && EVP_DigestUpdate(c, len, 8) == 1 &&
	    (out_len == 0 || EVP_DigestUpdate(c, out, out_len) == 1) &&
	    EVP_DigestFinal_ex(c, h, NULL) == 1) {
		EVP_MD_CTX_free(c);
		return;
	}
	EVP_MD_CTX_free(c); /* h was not written: the whole step again */
	if (x->in == NULL && x->in_len != 0) {
		/* begin_len: in's bytes are gone (decrypted over); no hash
		 * can be computed, so none that a client would accept */
		memset(h, 0xff, 32);
		return;
	}
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, h, 32);
	eml_store_u64be(len, (uint64_t)x->in_len);
	crypto_hash_sha256_update(&st, len, 8);
	if (x->in_len > 0)
		crypto_hash_sha256_update(&st, x->in, x->in_len);
	eml_store_u64be(len, (uint64_t)out_len);
	crypto_hash_sha256_update(&st, len, 8);
	if (out_len > 0)
		crypto_hash_sha256_update(&st, out, out_len);
	crypto_hash_sha256_final(&st, h);
}

void
eml_evidence_exchange_add(uint8_t h[32], const uint8_t *in, size_t in_len, const uint8_t *out,
    size_t out_len)
{
	struct eml_evidence_x x;

	eml_evidence_exchange_begin(&x, h, in, in_len);
	eml_evidence_exchange_end(&x, h, out, out_len);
}

void
eml_evidence_binding(const uint8_t id[16], const uint8_t th[32], uint8_t out[32])
{
	crypto_hash_sha256_state st;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const uint8_t *)DOMAIN_BINDING, sizeof(DOMAIN_BINDING) - 1);
	crypto_hash_sha256_update(&st, id, 16);
	crypto_hash_sha256_update(&st, th, 32);
	crypto_hash_sha256_final(&st, out);
}

void
eml_evidence_pubkey_id(const uint8_t pk[EML_EVIDENCE_PK_LEN], uint8_t out[32])
{
	crypto_hash_sha256(out, pk, EML_EVIDENCE_PK_LEN);
}

/* ---------------------------------------------------------------- time */

void
eml_evidence_time_format(int64_t ms, char *buf, size_t n)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms < 0 || gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 > 9999) {
		(void)snprintf(buf, n, "invalid");
		return;
	}
	(void)snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static int
dig(const char *s, size_t n)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Exactly the form eml_evidence_time_format writes, and a real instant. */
static bool
time_parse(const char *s, size_t n, int64_t *ms)
{
	struct tm tm;
	int y, mo, d, h, mi, se, f;
	time_t t;
	char back[32];

	if (n != 24 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':' || s[19] != '.' || s[23] != 'Z')
		return false;
	y = dig(s, 4);
	mo = dig(s + 5, 2);
	d = dig(s + 8, 2);
	h = dig(s + 11, 2);
	mi = dig(s + 14, 2);
	se = dig(s + 17, 2);
	f = dig(s + 20, 3);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || se < 0 || se > 59 || f < 0)
		return false;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = se;
	t = timegm(&tm);
	if (t < 0)
		return false;
	*ms = (int64_t)t * 1000 + f;
	/* 2026-02-31 normalises to March: refuse by writing it back. */
	eml_evidence_time_format(*ms, back, sizeof(back));
	return strlen(back) == n && memcmp(back, s, n) == 0;
}

/* ---------------------------------------------------------------- build */

static eml_err
put_key(struct eml_buf *b, bool *first, const char *k)
{
	if (!*first)
		EML_GUARD(eml_buf_append_u8(b, ','));
	*first = false;
	EML_GUARD(eml_json_put_string(b, k, strlen(k)));
	return eml_buf_append_u8(b, ':');
}

static eml_err
put_hex(struct eml_buf *b, bool *first, const char *k, const uint8_t *p, size_t n)
{
	char h[2 * EML_ATTEST_PCR_MAX + 1];

	EML_ENSURE(n <= EML_ATTEST_PCR_MAX, EML_ERR_INTERNAL);
	eml_hex_encode(h, p, n);
	EML_GUARD(put_key(b, first, k));
	return eml_json_put_string(b, h, 2 * n);
}

static eml_err
put_str(struct eml_buf *b, bool *first, const char *k, const char *v)
{
	EML_GUARD(put_key(b, first, k));
	return eml_json_put_string(b, v, strlen(v));
}

static eml_err
put_u64(struct eml_buf *b, bool *first, const char *k, uint64_t v)
{
	char num[24];
	int n = snprintf(num, sizeof(num), "%llu", (unsigned long long)v);

	EML_GUARD(put_key(b, first, k));
	return eml_buf_append(b, num, (size_t)n);
}

static eml_err
put_b64(struct eml_buf *b, bool *first, const char *k, const uint8_t *p, size_t n)
{
	size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_ORIGINAL);
	char *s = eml_alloc(cap);
	eml_err rc;

	EML_ENSURE(s != NULL, EML_ERR_NOMEM);
	(void)sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_ORIGINAL);
	rc = put_key(b, first, k);
	if (rc == EML_OK)
		rc = eml_json_put_string(b, s, strlen(s));
	eml_free(s);
	return rc;
}

static eml_err
put_session(struct eml_buf *b, const struct eml_evidence_session *s)
{
	bool first = true, f2;
	char t[32];

	EML_GUARD(eml_buf_append_u8(b, '{'));
	EML_GUARD(put_hex(b, &first, "id", s->id, sizeof(s->id)));
	EML_GUARD(put_hex(b, &first, "transcript_hash", s->transcript_hash, 32));
	eml_evidence_time_format(s->started_ms, t, sizeof(t));
	EML_GUARD(put_str(b, &first, "started_at", t));
	eml_evidence_time_format(s->ended_ms, t, sizeof(t));
	EML_GUARD(put_str(b, &first, "ended_at", t));
	EML_GUARD(put_key(b, &first, "final"));
	EML_GUARD(eml_buf_append(b, s->final ? "true" : "false", s->final ? 4 : 5));
	EML_GUARD(put_u64(b, &first, "request_count", s->request_count));
	EML_GUARD(put_hex(b, &first, "exchange_hash", s->exchange_hash, 32));
	EML_GUARD(put_key(b, &first, "models"));
	EML_GUARD(eml_buf_append_u8(b, '['));
	for (size_t i = 0; i < s->n_models; i++) {
		if (i > 0)
			EML_GUARD(eml_buf_append_u8(b, ','));
		f2 = true;
		EML_GUARD(eml_buf_append_u8(b, '{'));
		EML_GUARD(put_hex(b, &f2, "content_id", s->models[i].content_id, 32));
		EML_GUARD(put_hex(b, &f2, "topology_digest", s->models[i].topology_digest, 32));
		EML_GUARD(eml_buf_append_u8(b, '}'));
	}
	EML_GUARD(eml_buf_append_u8(b, ']'));
	EML_GUARD(put_hex(b, &first, "policy_digest", s->policy_digest, 32));
	if (s->has_client_identity)
		EML_GUARD(put_hex(b, &first, "client_identity", s->client_identity, 32));
	if (s->nonce_len > 0)
		EML_GUARD(put_hex(b, &first, "evidence_nonce", s->nonce, s->nonce_len));
	return eml_buf_append_u8(b, '}');
}

static eml_err
put_tee(struct eml_buf *b, const char *producer, const struct eml_attest_doc *doc)
{
	bool first = true, f2 = true;

	EML_GUARD(eml_buf_append_u8(b, '{'));
	EML_GUARD(put_str(b, &first, "provider", "aws-nitro"));
	EML_GUARD(put_str(b, &first, "producer", producer));
	EML_GUARD(put_str(b, &first, "module_id", doc->module_id));
	EML_GUARD(put_key(b, &first, "pcrs"));
	EML_GUARD(eml_buf_append_u8(b, '{'));
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
		char k[4];

		if ((doc->pcr_present & (1u << i)) == 0)
			continue;
		(void)snprintf(k, sizeof(k), "%u", i);
		EML_GUARD(put_hex(b, &f2, k, doc->pcr[i], doc->pcr_len[i]));
	}
	EML_GUARD(eml_buf_append_u8(b, '}'));
	return eml_buf_append_u8(b, '}');
}

/* The whole artifact as (non-canonical) JSON text, with or without the
 * signature member. */
static eml_err
write_text(const struct eml_evidence_session *s, const char *producer,
    const struct eml_attest_doc *doc, const uint8_t *doc_bytes, size_t doc_len,
    const uint8_t pk[32], const uint8_t *sig, struct eml_buf *b)
{
	bool first = true;
	uint8_t id[32];

	eml_evidence_pubkey_id(pk, id);
	EML_GUARD(eml_buf_append_u8(b, '{'));
	EML_GUARD(put_u64(b, &first, "version", EML_EVIDENCE_VERSION));
	EML_GUARD(put_key(b, &first, "session"));
	EML_GUARD(put_session(b, s));
	EML_GUARD(put_key(b, &first, "tee"));
	EML_GUARD(put_tee(b, producer, doc));
	EML_GUARD(put_b64(b, &first, "attestation", doc_bytes, doc_len));
	EML_GUARD(put_hex(b, &first, "pubkey_id", id, 32));
	if (sig != NULL)
		EML_GUARD(put_b64(b, &first, "signature", sig, EML_EVIDENCE_SIG_LEN));
	return eml_buf_append_u8(b, '}');
}

eml_err
eml_evidence_build(const struct eml_evidence_session *s, const char *producer,
    const uint8_t *doc_bytes, size_t doc_len, const uint8_t pk[EML_EVIDENCE_PK_LEN],
    const uint8_t sk[EML_EVIDENCE_SK_LEN], struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_attest_doc *doc = NULL;
	struct eml_buf text, canon;
	uint8_t sig[EML_EVIDENCE_SIG_LEN];
	uint8_t bind[32];

	eml_buf_init(&text, EML_EVIDENCE_MAX);
	eml_buf_init(&canon, EML_EVIDENCE_MAX);
	if (s == NULL || producer == NULL || doc_bytes == NULL || pk == NULL || sk == NULL ||
	    out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if (s->n_models > EML_EVIDENCE_MODELS_MAX || s->nonce_len > EML_EVIDENCE_NONCE_MAX ||
	    (strcmp(producer, "nsm") != 0 && strcmp(producer, "sim") != 0))
		EML_FAIL(rc, EML_ERR_EVIDENCE);
	doc = eml_calloc(1, sizeof(*doc));
	if (doc == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = eml_attest_doc_parse(doc_bytes, doc_len, doc)) != EML_OK)
		goto out;
	/* The document must be the one this artifact claims: our key, this
	 * session's binding. A mix-up here would sign an artifact no
	 * verifier accepts. */
	eml_evidence_binding(s->id, s->transcript_hash, bind);
	if (!doc->public_key.present || doc->public_key.len != EML_EVIDENCE_PK_LEN ||
	    sodium_memcmp(doc->public_key.data, pk, EML_EVIDENCE_PK_LEN) != 0 ||
	    !doc->nonce.present || doc->nonce.len != 32 ||
	    sodium_memcmp(doc->nonce.data, bind, 32) != 0) {
		eml_err_set_detail("attestation document does not bind this key and session");
		EML_FAIL(rc, EML_ERR_EVIDENCE);
	}
	if ((rc = write_text(s, producer, doc, doc_bytes, doc_len, pk, NULL, &text)) != EML_OK ||
	    (rc = eml_json_canonicalize(text.data, text.len, &canon)) != EML_OK)
		goto out;
	if (crypto_sign_detached(sig, NULL, canon.data, canon.len, sk) != 0)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	eml_buf_reset(&text);
	if ((rc = write_text(s, producer, doc, doc_bytes, doc_len, pk, sig, &text)) != EML_OK)
		goto out;
	rc = eml_json_canonicalize(text.data, text.len, out);
out:
	if (doc != NULL)
		eml_free_wipe(doc, sizeof(*doc));
	eml_buf_free_nowipe(&text); /* public */
	eml_buf_free_nowipe(&canon);
	return rc;
}

/* ---------------------------------------------------------------- parse */

static eml_err
field_err(const char *path, const char *what)
{
	eml_err_set_detail("%s: %s", path, what);
	EML_BAIL(EML_ERR_EVIDENCE_FIELD);
}

/* Every member of obj is in names (NULL-terminated), and each name marked
 * required ('!' prefix) is present. */
static eml_err
check_members(const struct eml_json *obj, const char *path, const char *const *names)
{
	char p[96];

	if (obj == NULL || obj->type != EML_JSON_OBJECT)
		return field_err(path[0] != '\0' ? path : "artifact", "expected an object");
	for (size_t i = 0; i < obj->n; i++) {
		bool known = false;

		for (const char *const *nm = names; *nm != NULL; nm++) {
			const char *n = (*nm)[0] == '!' ? *nm + 1 : *nm;

			if (obj->items[i].key_len == strlen(n) && strcmp(obj->items[i].key, n) == 0)
				known = true;
		}
		if (!known) {
			(void)snprintf(p, sizeof(p), "%s%s%.40s", path, path[0] ? "." : "",
			    obj->items[i].key);
			return field_err(p, "unknown field");
		}
	}
	for (const char *const *nm = names; *nm != NULL; nm++) {
		if ((*nm)[0] != '!' || eml_json_get(obj, *nm + 1) != NULL)
			continue;
		(void)snprintf(p, sizeof(p), "%s%s%s", path, path[0] ? "." : "", *nm + 1);
		return field_err(p, "missing");
	}
	return EML_OK;
}

static eml_err
get_str(const struct eml_json *obj, const char *key, const char *path,
    const struct eml_json **out)
{
	const struct eml_json *v = eml_json_get(obj, key);

	if (v == NULL || v->type != EML_JSON_STRING)
		return field_err(path, v == NULL ? "missing" : "expected a string");
	*out = v;
	return EML_OK;
}

/* Lower-case hex of exactly n bytes (or, with n_max, 1..n_max bytes). */
static eml_err
get_hex(const struct eml_json *obj, const char *key, const char *path, uint8_t *dst,
    size_t n, size_t n_max, size_t *got)
{
	const struct eml_json *v = NULL;
	size_t len;

	EML_GUARD(get_str(obj, key, path, &v));
	EML_ENSURE(v != NULL, EML_ERR_INTERNAL);
	len = v->str_len / 2;
	if (v->str_len % 2 != 0 || (n_max == 0 && len != n) ||
	    (n_max != 0 && (len == 0 || len > n_max)))
		return field_err(path, "wrong length of hex");
	for (size_t i = 0; i < v->str_len; i++) {
		char c = v->str[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return field_err(path, "expected lower-case hex");
	}
	if (eml_hex_decode(dst, len, v->str) != EML_OK)
		return field_err(path, "bad hex");
	if (got != NULL)
		*got = len;
	return EML_OK;
}

/* Standard base64 with padding, in its one canonical spelling. */
static eml_err
get_b64(const struct eml_json *obj, const char *key, const char *path, uint8_t *dst,
    size_t max, size_t *got)
{
	const struct eml_json *v = NULL;
	size_t len = 0, cap;
	const char *end = NULL;
	char *back = NULL;
	bool same;

	EML_GUARD(get_str(obj, key, path, &v));
	EML_ENSURE(v != NULL, EML_ERR_INTERNAL);
	if (v->str_len == 0 || v->str_len > 4 * ((max + 2) / 3))
		return field_err(path, "base64 of the wrong length");
	if (sodium_base642bin(dst, max, v->str, v->str_len, NULL, &len, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || end != v->str + v->str_len)
		return field_err(path, "not base64");
	cap = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	back = eml_alloc(cap);
	EML_ENSURE(back != NULL, EML_ERR_NOMEM);
	(void)sodium_bin2base64(back, cap, dst, len, sodium_base64_VARIANT_ORIGINAL);
	same = strlen(back) == v->str_len && memcmp(back, v->str, v->str_len) == 0;
	eml_free(back);
	if (!same)
		return field_err(path, "base64 not in canonical form");
	*got = len;
	return EML_OK;
}

/* A JSON number that is an integer in 0 .. 2^53 - 1. */
static eml_err
get_uint(const struct eml_json *obj, const char *key, const char *path, uint64_t *out)
{
	const struct eml_json *v = eml_json_get(obj, key);

	if (v == NULL || v->type != EML_JSON_NUMBER)
		return field_err(path, v == NULL ? "missing" : "expected a number");
	if (!(v->num >= 0.0 && v->num <= 9007199254740991.0) || v->num != (double)(uint64_t)v->num)
		return field_err(path, "expected an integer in 0..2^53-1");
	*out = (uint64_t)v->num;
	return EML_OK;
}

static eml_err
get_time(const struct eml_json *obj, const char *key, const char *path, int64_t *ms)
{
	const struct eml_json *v = NULL;

	EML_GUARD(get_str(obj, key, path, &v));
	EML_ENSURE(v != NULL, EML_ERR_INTERNAL);
	if (!time_parse(v->str, v->str_len, ms))
		return field_err(path, "expected YYYY-MM-DDTHH:MM:SS.mmmZ");
	return EML_OK;
}

static eml_err
parse_models(const struct eml_json *arr, struct eml_evidence_session *s)
{
	static const char *const names[] = { "!content_id", "!topology_digest", NULL };
	char p[64];

	if (arr == NULL || arr->type != EML_JSON_ARRAY)
		return field_err("session.models", arr == NULL ? "missing" : "expected an array");
	if (arr->n > EML_EVIDENCE_MODELS_MAX)
		return field_err("session.models", "more than 16 entries");
	for (size_t i = 0; i < arr->n; i++) {
		const struct eml_json *m = &arr->items[i];

		(void)snprintf(p, sizeof(p), "session.models[%zu]", i);
		EML_GUARD(check_members(m, p, names));
		(void)snprintf(p, sizeof(p), "session.models[%zu].content_id", i);
		EML_GUARD(get_hex(m, "content_id", p, s->models[i].content_id, 32, 0, NULL));
		(void)snprintf(p, sizeof(p), "session.models[%zu].topology_digest", i);
		EML_GUARD(get_hex(m, "topology_digest", p, s->models[i].topology_digest, 32, 0,
		    NULL));
	}
	s->n_models = arr->n;
	return EML_OK;
}

static eml_err
parse_session(const struct eml_json *o, struct eml_evidence_session *s)
{
	static const char *const names[] = { "!id", "!transcript_hash", "!started_at",
		"!ended_at", "!final", "!request_count", "!exchange_hash", "!models",
		"!policy_digest", "client_identity", "evidence_nonce", NULL };
	const struct eml_json *f;

	EML_GUARD(check_members(o, "session", names));
	EML_GUARD(get_hex(o, "id", "session.id", s->id, 16, 0, NULL));
	EML_GUARD(get_hex(o, "transcript_hash", "session.transcript_hash", s->transcript_hash, 32,
	    0, NULL));
	EML_GUARD(get_time(o, "started_at", "session.started_at", &s->started_ms));
	EML_GUARD(get_time(o, "ended_at", "session.ended_at", &s->ended_ms));
	f = eml_json_get(o, "final");
	if (f == NULL || (f->type != EML_JSON_TRUE && f->type != EML_JSON_FALSE))
		return field_err("session.final", "expected true or false");
	s->final = f->type == EML_JSON_TRUE;
	EML_GUARD(get_uint(o, "request_count", "session.request_count", &s->request_count));
	EML_GUARD(get_hex(o, "exchange_hash", "session.exchange_hash", s->exchange_hash, 32, 0,
	    NULL));
	EML_GUARD(parse_models(eml_json_get(o, "models"), s));
	EML_GUARD(get_hex(o, "policy_digest", "session.policy_digest", s->policy_digest, 32, 0,
	    NULL));
	s->has_client_identity = eml_json_get(o, "client_identity") != NULL;
	if (s->has_client_identity)
		EML_GUARD(get_hex(o, "client_identity", "session.client_identity",
		    s->client_identity, 32, 0, NULL));
	if (eml_json_get(o, "evidence_nonce") != NULL)
		EML_GUARD(get_hex(o, "evidence_nonce", "session.evidence_nonce", s->nonce, 0,
		    EML_EVIDENCE_NONCE_MAX, &s->nonce_len));
	return EML_OK;
}

/* PCR index as the canonical decimal "0".."31". */
static int
pcr_index(const char *k, size_t n)
{
	int v;

	if (n == 0 || n > 2 || (n == 2 && k[0] == '0'))
		return -1;
	v = dig(k, n);
	return v >= 0 && v < EML_ATTEST_PCR_COUNT ? v : -1;
}

static eml_err
parse_tee(const struct eml_json *o, struct eml_evidence *ev)
{
	static const char *const names[] = { "!provider", "!producer", "!module_id", "!pcrs",
		NULL };
	const struct eml_json *v = NULL, *pcrs;
	char p[48];

	EML_GUARD(check_members(o, "tee", names));
	EML_GUARD(get_str(o, "provider", "tee.provider", &v));
	EML_ENSURE(v != NULL, EML_ERR_INTERNAL);
	if (strcmp(v->str, "aws-nitro") != 0 || v->str_len != 9)
		return field_err("tee.provider", "expected \"aws-nitro\"");
	EML_GUARD(get_str(o, "producer", "tee.producer", &v));
	EML_ENSURE(v != NULL, EML_ERR_INTERNAL);
	if (v->str_len != 3 || (strcmp(v->str, "nsm") != 0 && strcmp(v->str, "sim") != 0))
		return field_err("tee.producer", "expected \"nsm\" or \"sim\"");
	(void)snprintf(ev->producer, sizeof(ev->producer), "%s", v->str);
	EML_GUARD(get_str(o, "module_id", "tee.module_id", &v));
	EML_ENSURE(v != NULL, EML_ERR_INTERNAL);
	if (v->str_len == 0 || v->str_len > EML_ATTEST_MODULE_ID_MAX || strlen(v->str) != v->str_len)
		return field_err("tee.module_id", "empty, too long or with a NUL");
	EML_MEMCPY(ev->module_id, v->str, v->str_len + 1);
	pcrs = eml_json_get(o, "pcrs");
	if (pcrs == NULL || pcrs->type != EML_JSON_OBJECT)
		return field_err("tee.pcrs", "expected an object");
	for (size_t i = 0; i < pcrs->n; i++) {
		int idx = pcr_index(pcrs->items[i].key, pcrs->items[i].key_len);
		size_t len = 0;

		(void)snprintf(p, sizeof(p), "tee.pcrs.%.8s", pcrs->items[i].key);
		if (idx < 0)
			return field_err(p, "not a PCR index 0..31");
		EML_GUARD(get_hex(pcrs, pcrs->items[i].key, p, ev->pcr[idx], 0, EML_ATTEST_PCR_MAX,
		    &len));
		if (len != 32 && len != 48 && len != 64)
			return field_err(p, "expected 32, 48 or 64 bytes");
		ev->pcr_len[idx] = len;
		ev->pcr_present |= 1u << idx;
	}
	return EML_OK;
}

/* A key id: 1..64 of [A-Za-z0-9._:-], so it prints and sorts plainly. */
static bool
key_id_ok(const char *s, size_t n)
{
	if (n == 0 || n > EML_EVIDENCE_KEY_ID_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == ':' || c == '-'))
			return false;
	}
	return true;
}

static eml_err
parse_cosig(const struct eml_json *o, struct eml_evidence_cosig *c)
{
	static const char *const names[] = { "!key_id", "!signed_at", "!signature", NULL };
	const struct eml_json *v = NULL;
	size_t len = 0;

	EML_GUARD(check_members(o, "cosignature", names));
	EML_GUARD(get_str(o, "key_id", "cosignature.key_id", &v));
	EML_ENSURE(v != NULL, EML_ERR_INTERNAL);
	if (!key_id_ok(v->str, v->str_len))
		return field_err("cosignature.key_id", "expected 1..64 of [A-Za-z0-9._:-]");
	EML_MEMCPY(c->key_id, v->str, v->str_len + 1);
	EML_GUARD(get_time(o, "signed_at", "cosignature.signed_at", &c->signed_at_ms));
	EML_GUARD(get_b64(o, "signature", "cosignature.signature", c->signature,
	    sizeof(c->signature), &len));
	if (len != EML_EVIDENCE_SIG_LEN)
		return field_err("cosignature.signature", "not 64 bytes");
	c->present = true;
	return EML_OK;
}

static eml_err
parse_tree(const struct eml_json *root, struct eml_evidence *ev)
{
	static const char *const names[] = { "!version", "!session", "!tee", "!attestation",
		"!pubkey_id", "!signature", "cosignature", NULL };
	uint64_t version = 0;
	size_t sig_len = 0;

	EML_GUARD(check_members(root, "", names));
	EML_GUARD(get_uint(root, "version", "version", &version));
	if (version != EML_EVIDENCE_VERSION) {
		eml_err_set_detail("version: %llu is not supported (only 1)",
		    (unsigned long long)version);
		EML_BAIL(EML_ERR_EVIDENCE);
	}
	ev->version = (uint32_t)version;
	EML_GUARD(parse_session(eml_json_get(root, "session"), &ev->session));
	EML_GUARD(parse_tee(eml_json_get(root, "tee"), ev));
	EML_GUARD(get_b64(root, "attestation", "attestation", ev->doc, sizeof(ev->doc),
	    &ev->doc_len));
	EML_GUARD(get_hex(root, "pubkey_id", "pubkey_id", ev->pubkey_id, 32, 0, NULL));
	EML_GUARD(get_b64(root, "signature", "signature", ev->signature, sizeof(ev->signature),
	    &sig_len));
	if (sig_len != EML_EVIDENCE_SIG_LEN)
		return field_err("signature", "not 64 bytes");
	if (eml_json_get(root, "cosignature") != NULL)
		EML_GUARD(parse_cosig(eml_json_get(root, "cosignature"), &ev->cosig));
	return EML_OK;
}

static eml_err
parse_all(const uint8_t *p, size_t n, struct eml_evidence *ev, struct eml_json **tree)
{
	eml_err rc;

	EML_ENSURE_REF(ev);
	memset(ev, 0, sizeof(*ev));
	if (n > EML_EVIDENCE_MAX) {
		eml_err_set_detail("artifact: %zu bytes, at most %zu", n, EML_EVIDENCE_MAX);
		EML_BAIL(EML_ERR_EVIDENCE);
	}
	EML_GUARD(eml_json_parse(p, n, tree));
	rc = parse_tree(*tree, ev);
	if (rc != EML_OK) {
		eml_json_free(*tree);
		*tree = NULL;
	}
	return rc;
}

eml_err
eml_evidence_parse(const uint8_t *p, size_t n, struct eml_evidence *ev)
{
	struct eml_json *tree = NULL;

	EML_GUARD(parse_all(p, n, ev, &tree));
	eml_json_free(tree);
	return EML_OK;
}

/* ---------------------------------------------------------------- verify */

static eml_err
check_binding(const struct eml_evidence *ev, const struct eml_attest_doc *doc)
{
	uint8_t id[32];

	if (!doc->public_key.present || doc->public_key.len != EML_EVIDENCE_PK_LEN) {
		eml_err_set_detail("attestation: public_key is not a 32-byte Ed25519 key");
		EML_BAIL(EML_ERR_EVIDENCE_KEY);
	}
	eml_evidence_pubkey_id(doc->public_key.data, id);
	if (sodium_memcmp(id, ev->pubkey_id, 32) != 0) {
		eml_err_set_detail("pubkey_id: not the key the attestation document binds "
				   "(signed by another key)");
		EML_BAIL(EML_ERR_EVIDENCE_KEY);
	}
	if (strcmp(ev->module_id, doc->module_id) != 0) {
		eml_err_set_detail("tee.module_id: differs from the attestation document's");
		EML_BAIL(EML_ERR_EVIDENCE_BINDING);
	}
	if (ev->pcr_present != doc->pcr_present) {
		eml_err_set_detail("tee.pcrs: not the set of PCRs in the attestation document");
		EML_BAIL(EML_ERR_EVIDENCE_BINDING);
	}
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
		if ((ev->pcr_present & (1u << i)) == 0)
			continue;
		if (ev->pcr_len[i] != doc->pcr_len[i] ||
		    sodium_memcmp(ev->pcr[i], doc->pcr[i], ev->pcr_len[i]) != 0) {
			eml_err_set_detail("tee.pcrs.%u: differs from the attestation document's", i);
			EML_BAIL(EML_ERR_EVIDENCE_BINDING);
		}
	}
	if (!doc->user_data.present || doc->user_data.len != 32 ||
	    sodium_memcmp(doc->user_data.data, ev->session.policy_digest, 32) != 0) {
		eml_err_set_detail("session.policy_digest: not the attestation document's user_data");
		EML_BAIL(EML_ERR_EVIDENCE_BINDING);
	}
	return EML_OK;
}

static eml_err
check_session(const struct eml_evidence_session *s, const struct eml_attest_doc *doc)
{
	uint8_t h0[32];
	int64_t t = (int64_t)doc->timestamp_ms;

	if (s->ended_ms < s->started_ms) {
		eml_err_set_detail("session.ended_at: before session.started_at");
		EML_BAIL(EML_ERR_EVIDENCE_SESSION);
	}
	/* The document was made inside the session, give or take clock skew
	 * between the enclave and its NSM. */
	if (t < s->started_ms - EML_EVIDENCE_SKEW_MS || t > s->ended_ms + EML_EVIDENCE_SKEW_MS) {
		eml_err_set_detail("session.started_at/ended_at: the attestation document's time "
				   "is outside the session");
		EML_BAIL(EML_ERR_EVIDENCE_SESSION);
	}
	eml_evidence_exchange_init(h0);
	if (s->request_count == 0 &&
	    (s->n_models != 0 || sodium_memcmp(h0, s->exchange_hash, 32) != 0)) {
		eml_err_set_detail("session.request_count: 0, yet models or exchanges are recorded");
		EML_BAIL(EML_ERR_EVIDENCE_SESSION);
	}
	if (s->n_models > s->request_count) {
		eml_err_set_detail("session.models: more models than requests");
		EML_BAIL(EML_ERR_EVIDENCE_SESSION);
	}
	return EML_OK;
}

/* The enclave signs everything but its own signature and a co-signature
 * added later by an operator. */
static const char *const enclave_skip[] = { "signature", "cosignature", NULL };

static const char *
attest_field(eml_err rc)
{
	return rc == EML_ERR_ATTEST_NONCE ? "attestation: nonce does not bind session.id and "
					    "session.transcript_hash (a document from another "
					    "session)" :
					    "attestation";
}

static eml_err check_cosig(const uint8_t *p, size_t n, const struct eml_evidence *ev,
    const struct eml_evidence_keys *keys);

eml_err
eml_evidence_verify(const uint8_t *p, size_t n, const struct eml_evidence_check *chk,
    struct eml_evidence *ev, struct eml_attest_doc *doc)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_json *tree = NULL;
	struct eml_attest_policy *pol = NULL;
	struct eml_buf canon;

	eml_buf_init(&canon, EML_EVIDENCE_MAX);
	if (chk == NULL || chk->root == NULL || ev == NULL || doc == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	memset(doc, 0, sizeof(*doc));
	if ((rc = parse_all(p, n, ev, &tree)) != EML_OK)
		goto out;
	pol = eml_calloc(1, sizeof(*pol));
	if (pol == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	eml_attest_policy_init(pol);
	eml_evidence_binding(ev->session.id, ev->session.transcript_hash, pol->nonce);
	pol->nonce_set = true;
	pol->nonce_len = 32;
	pol->require_public_key = true;
	/* A debug-mode enclave (PCR0-2 zero) proves nothing about its code:
	 * refused unless the caller's policy allows it. */
	pol->allow_debug = chk->policy != NULL && chk->policy->allow_debug;
	rc = eml_attest_verify(ev->doc, ev->doc_len, chk->root, chk->at, chk->at_s, pol, doc);
	if (rc != EML_OK) {
		char d[200];

		(void)snprintf(d, sizeof(d), "%s", eml_err_detail());
		eml_err_set_detail("%s%s%s", attest_field(rc), d[0] != '\0' ? ": " : "", d);
		goto out;
	}
	if ((rc = check_binding(ev, doc)) != EML_OK ||
	    (rc = check_session(&ev->session, doc)) != EML_OK)
		goto out;
	if ((rc = eml_json_canonical(tree, enclave_skip, &canon)) != EML_OK)
		goto out;
	if (crypto_sign_verify_detached(ev->signature, canon.data, canon.len,
	    doc->public_key.data) != 0) {
		eml_err_set_detail("signature: does not verify over the canonical form of the "
				   "other fields (a signed field was changed)");
		EML_FAIL(rc, EML_ERR_EVIDENCE_SIGNATURE);
	}
	if (chk->keys != NULL && (rc = check_cosig(p, n, ev, chk->keys)) != EML_OK)
		goto out;
	if (chk->policy != NULL) {
		/* Archived evidence: the policy's PCRs and digest apply, its
		 * freshness rules do not. */
		*pol = *chk->policy;
		pol->nonce_set = false;
		pol->max_age_ms = 0;
		if ((rc = eml_attest_policy_check(doc, pol, doc->timestamp_ms)) != EML_OK) {
			char d[200];

			(void)snprintf(d, sizeof(d), "%s", eml_err_detail());
			eml_err_set_detail("--policy: %s", d);
			goto out;
		}
	}
	rc = EML_OK;
out:
	eml_json_free(tree);
	if (pol != NULL)
		eml_free_wipe(pol, sizeof(*pol));
	eml_buf_free_nowipe(&canon);
	return rc;
}

/* ---------------------------------------------------------------- co-signature */

static eml_err
time_field(const struct eml_json *o, const char *key, const char *path, int64_t *ms)
{
	const struct eml_json *v = eml_json_get(o, key);

	if (v == NULL || v->type != EML_JSON_STRING || !time_parse(v->str, v->str_len, ms))
		return field_err(path, "expected YYYY-MM-DDTHH:MM:SS.mmmZ");
	return EML_OK;
}

eml_err
eml_evidence_keys_parse(const uint8_t *p, size_t n, struct eml_evidence_keys *out)
{
	static const char *const top[] = { "!version", "!keys", NULL };
	static const char *const names[] = { "!key_id", "!algorithm", "!public_key", "!valid_from",
		"!valid_until", NULL };
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_json *t = NULL;
	const struct eml_json *keys, *v = NULL;
	uint64_t version = 0;
	char path[64];

	EML_ENSURE_REF(out);
	memset(out, 0, sizeof(*out));
	if (n > 65536) {
		eml_err_set_detail("published keys: above 64 KiB");
		EML_BAIL(EML_ERR_EVIDENCE_FIELD);
	}
	EML_GUARD(eml_json_parse(p, n, &t));
	if ((rc = check_members(t, "", top)) != EML_OK ||
	    (rc = get_uint(t, "version", "version", &version)) != EML_OK)
		goto out;
	if (version != 1) {
		rc = field_err("version", "only 1 is supported");
		goto out;
	}
	keys = eml_json_get(t, "keys");
	if (keys == NULL || keys->type != EML_JSON_ARRAY || keys->n == 0 ||
	    keys->n > EML_EVIDENCE_KEYS_MAX) {
		rc = field_err("keys", "expected an array of 1..64 keys");
		goto out;
	}
	for (size_t i = 0; i < keys->n; i++) {
		const struct eml_json *k = &keys->items[i];
		struct eml_evidence_pubkey *d = &out->k[i];

		(void)snprintf(path, sizeof(path), "keys[%zu]", i);
		if ((rc = check_members(k, path, names)) != EML_OK)
			goto out;
		(void)snprintf(path, sizeof(path), "keys[%zu].key_id", i);
		if ((rc = get_str(k, "key_id", path, &v)) != EML_OK)
			goto out;
		if (v == NULL || !key_id_ok(v->str, v->str_len)) {
			rc = field_err(path, "expected 1..64 of [A-Za-z0-9._:-]");
			goto out;
		}
		EML_MEMCPY(d->key_id, v->str, v->str_len + 1);
		(void)snprintf(path, sizeof(path), "keys[%zu].algorithm", i);
		if ((rc = get_str(k, "algorithm", path, &v)) != EML_OK)
			goto out;
		if (v == NULL || strcmp(v->str, "ed25519") != 0 || v->str_len != 7) {
			rc = field_err(path, "only \"ed25519\"");
			goto out;
		}
		(void)snprintf(path, sizeof(path), "keys[%zu].public_key", i);
		if ((rc = get_hex(k, "public_key", path, d->pk, 32, 0, NULL)) != EML_OK)
			goto out;
		(void)snprintf(path, sizeof(path), "keys[%zu].valid_from", i);
		if ((rc = time_field(k, "valid_from", path, &d->valid_from_ms)) != EML_OK)
			goto out;
		(void)snprintf(path, sizeof(path), "keys[%zu].valid_until", i);
		if ((rc = time_field(k, "valid_until", path, &d->valid_until_ms)) != EML_OK)
			goto out;
		if (d->valid_until_ms < d->valid_from_ms) {
			rc = field_err(path, "before valid_from");
			goto out;
		}
		out->n = i + 1;
	}
	rc = EML_OK;
out:
	eml_json_free(t);
	return rc;
}

eml_err
eml_evidence_cosign_message(const uint8_t *art, size_t n, const char *key_id,
    int64_t signed_at_ms, struct eml_buf *msg)
{
	static const char *const skip[] = { "cosignature", NULL };
	struct eml_json *t = NULL;
	struct eml_evidence *ev = NULL;
	char when[32];
	eml_err rc = EML_ERR_INTERNAL;

	if (art == NULL || key_id == NULL || msg == NULL)
		EML_BAIL(EML_ERR_NULL);
	if (!key_id_ok(key_id, strlen(key_id)))
		return field_err("cosignature.key_id", "expected 1..64 of [A-Za-z0-9._:-]");
	ev = eml_calloc(1, sizeof(*ev));
	if (ev == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	if ((rc = parse_all(art, n, ev, &t)) != EML_OK)
		goto out;
	eml_evidence_time_format(signed_at_ms, when, sizeof(when));
	/* "artifact" < "key_id" < "signed_at": this concatenation is the
	 * canonical form of the three-member object. */
	if ((rc = eml_buf_append(msg, "{\"artifact\":", 12)) != EML_OK ||
	    (rc = eml_json_canonical(t, skip, msg)) != EML_OK ||
	    (rc = eml_buf_append(msg, ",\"key_id\":", 10)) != EML_OK ||
	    (rc = eml_json_put_string(msg, key_id, strlen(key_id))) != EML_OK ||
	    (rc = eml_buf_append(msg, ",\"signed_at\":", 13)) != EML_OK ||
	    (rc = eml_json_put_string(msg, when, strlen(when))) != EML_OK)
		goto out;
	rc = eml_buf_append_u8(msg, '}');
out:
	eml_json_free(t);
	eml_free(ev);
	return rc;
}

eml_err
eml_evidence_cosign_attach(const uint8_t *art, size_t n, const char *key_id,
    int64_t signed_at_ms, const uint8_t sig[EML_EVIDENCE_SIG_LEN], struct eml_buf *out)
{
	static const char *const skip[] = { "cosignature", NULL };
	struct eml_json *t = NULL;
	struct eml_evidence *ev = NULL;
	struct eml_buf text;
	char when[32];
	bool first = true;
	eml_err rc = EML_ERR_INTERNAL;

	eml_buf_init(&text, EML_EVIDENCE_MAX);
	if (art == NULL || key_id == NULL || sig == NULL || out == NULL)
		EML_BAIL(EML_ERR_NULL);
	ev = eml_calloc(1, sizeof(*ev));
	if (ev == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	if ((rc = parse_all(art, n, ev, &t)) != EML_OK)
		goto out;
	eml_evidence_time_format(signed_at_ms, when, sizeof(when));
	/* The artifact without its old co-signature, with the new one
	 * spliced in before the closing brace, then canonicalized. */
	if ((rc = eml_json_canonical(t, skip, &text)) != EML_OK)
		goto out;
	text.len--; /* '}' */
	if ((rc = eml_buf_append(&text, ",\"cosignature\":{", 16)) != EML_OK ||
	    (rc = put_str(&text, &first, "key_id", key_id)) != EML_OK ||
	    (rc = put_str(&text, &first, "signed_at", when)) != EML_OK ||
	    (rc = put_b64(&text, &first, "signature", sig, EML_EVIDENCE_SIG_LEN)) != EML_OK ||
	    (rc = eml_buf_append(&text, "}}", 2)) != EML_OK)
		goto out;
	rc = eml_json_canonicalize(text.data, text.len, out);
out:
	eml_json_free(t);
	eml_free(ev);
	eml_buf_free_nowipe(&text);
	return rc;
}

static eml_err
check_cosig(const uint8_t *p, size_t n, const struct eml_evidence *ev,
    const struct eml_evidence_keys *keys)
{
	const struct eml_evidence_cosig *c = &ev->cosig;
	const struct eml_evidence_pubkey *k = NULL;
	struct eml_buf msg;
	eml_err rc;
	int bad;

	if (!c->present) {
		eml_err_set_detail("cosignature: missing, yet published keys were given");
		EML_BAIL(EML_ERR_EVIDENCE_FIELD);
	}
	for (size_t i = 0; i < keys->n; i++)
		if (strcmp(keys->k[i].key_id, c->key_id) == 0)
			k = &keys->k[i];
	if (k == NULL) {
		eml_err_set_detail("cosignature.key_id: \"%s\" is not in the published keys",
		    c->key_id);
		EML_BAIL(EML_ERR_EVIDENCE_KEY);
	}
	if (c->signed_at_ms < k->valid_from_ms || c->signed_at_ms > k->valid_until_ms) {
		eml_err_set_detail("cosignature.signed_at: outside the validity window of key "
				   "\"%s\"", k->key_id);
		EML_BAIL(EML_ERR_EVIDENCE_KEY);
	}
	if (c->signed_at_ms < ev->session.ended_ms - EML_EVIDENCE_SKEW_MS) {
		eml_err_set_detail("cosignature.signed_at: before the artifact was made");
		EML_BAIL(EML_ERR_EVIDENCE_SESSION);
	}
	eml_buf_init(&msg, EML_EVIDENCE_MAX + 256);
	rc = eml_evidence_cosign_message(p, n, c->key_id, c->signed_at_ms, &msg);
	bad = rc == EML_OK ? crypto_sign_verify_detached(c->signature, msg.data, msg.len, k->pk) : 0;
	eml_buf_free_nowipe(&msg);
	EML_GUARD(rc);
	if (bad != 0) {
		eml_err_set_detail("cosignature.signature: does not verify with key \"%s\"",
		    k->key_id);
		EML_BAIL(EML_ERR_EVIDENCE_SIGNATURE);
	}
	return EML_OK;
}
