/* eml-proxy API keys (host-proxy/eml_keys.c) and rate-limit buckets
 * (eml_ratelimit.c): the key file's strict shape, every verdict of a
 * presented token, the file round trip, and the bucket arithmetic on a
 * clock the test drives. */
#include "eml_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "host-proxy/eml_keys.h"
#include "host-proxy/eml_ratelimit.h"

#define HEX64 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

static eml_err
parse_str(const char *s, struct eml_keyset *ks)
{
	return eml_keys_parse((const uint8_t *)s, strlen(s), ks);
}

static void
file_shape_is_strict(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{\"version\":2,\"keys\":[]}",
		"{\"version\":1}",
		"{\"version\":1,\"keys\":[],\"extra\":1}",
		"{\"version\":1,\"keys\":[{\"id\":\"a\"}]}",
		"{\"version\":1,\"keys\":[{\"id\":\"a b\",\"sha256\":\"" HEX64 "\"}]}",
		"{\"version\":1,\"keys\":[{\"id\":\"a\",\"sha256\":\"zz\"}]}",
		"{\"version\":1,\"keys\":[{\"id\":\"a\",\"sha256\":\"" HEX64 "\",\"x\":1}]}",
		"{\"version\":1,\"keys\":[{\"id\":\"a\",\"sha256\":\"" HEX64
		"\",\"rate_per_minute\":-1}]}",
		"{\"version\":1,\"keys\":[{\"id\":\"a\",\"sha256\":\"" HEX64
		"\",\"revoked\":1}]}",
		"{\"version\":1,\"keys\":[{\"id\":\"a\",\"sha256\":\"" HEX64
		"\",\"not_after\":\"soon\"}]}",
		"{\"version\":1,\"keys\":[{\"id\":\"a\",\"sha256\":\"" HEX64
		"\"},{\"id\":\"a\",\"sha256\":\"" HEX64 "\"}]}",
		"{\"version\":1,\"version\":1,\"keys\":[]}",
	};
	struct eml_keyset ks;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		eml_err rc = parse_str(bad[i], &ks);

		if (rc != EML_ERR_KEYS_FILE)
			fail_msg("case %zu: got %d", i, (int)rc);
		assert_null(ks.keys);
		assert_int_equal(ks.n, 0);
		eml_err_clear_detail();
	}
	assert_eml_ok(parse_str("{\"version\":1,\"keys\":[]}", &ks));
	assert_int_equal(ks.n, 0);
	eml_keys_free(&ks);
}

static void
verdicts(void **state)
{
	struct eml_keyset ks;
	struct eml_key k[4];
	char tok[4][EML_KEY_TOKEN_MAX + 1];
	char other[EML_KEY_TOKEN_MAX + 1];
	const struct eml_key *m = NULL;
	char id[EML_KEY_ID_MAX + 1];
	uint8_t scratch[EML_KEY_HASH_LEN];
	const int64_t now = 1800000000;

	(void)state;
	memset(k, 0, sizeof(k));
	for (int i = 0; i < 4; i++) {
		(void)snprintf(k[i].id, sizeof(k[i].id), "key-%d", i);
		assert_eml_ok(eml_key_generate(k[i].id, k[i].hash, tok[i]));
		assert_int_equal(strncmp(tok[i], "emlk1.key-", 10), 0);
		assert_int_equal(strlen(tok[i]), 6 + 5 + 1 + 64);
	}
	k[1].revoked = true;
	k[2].not_after = now;      /* expired at now */
	k[3].not_before = now + 1; /* not yet */
	ks.keys = k;
	ks.n = 4;
	assert_int_equal(eml_keys_check(&ks, (const uint8_t *)tok[0], strlen(tok[0]), now, &m, id),
	    EML_KEY_OK);
	assert_ptr_equal(m, &k[0]);
	assert_string_equal(id, "key-0");
	assert_int_equal(eml_keys_check(&ks, (const uint8_t *)tok[1], strlen(tok[1]), now, &m, id),
	    EML_KEY_REVOKED);
	assert_null(m);
	assert_int_equal(eml_keys_check(&ks, (const uint8_t *)tok[2], strlen(tok[2]), now, &m, id),
	    EML_KEY_EXPIRED);
	assert_int_equal(eml_keys_check(&ks, (const uint8_t *)tok[2], strlen(tok[2]), now - 1, &m,
	    id), EML_KEY_OK);
	assert_int_equal(eml_keys_check(&ks, (const uint8_t *)tok[3], strlen(tok[3]), now, &m, id),
	    EML_KEY_NOT_YET);
	assert_int_equal(eml_keys_check(&ks, NULL, 0, now, &m, id), EML_KEY_MISSING);
	assert_string_equal(id, "");
	/* the right id with another key's secret */
	assert_eml_ok(eml_key_generate("key-0", scratch, other));
	assert_int_equal(eml_keys_check(&ks, (const uint8_t *)other, strlen(other), now, &m, id),
	    EML_KEY_UNKNOWN);
	assert_string_equal(id, "key-0");
	/* an id nobody has */
	assert_eml_ok(eml_key_generate("nobody", scratch, other));
	assert_int_equal(eml_keys_check(&ks, (const uint8_t *)other, strlen(other), now, &m, id),
	    EML_KEY_UNKNOWN);
	/* malformed: uppercase hex, short secret, no prefix, id too long */
	{
		char up[256];

		(void)snprintf(up, sizeof(up), "%s", tok[0]);
		for (char *c = up + 12; *c != '\0'; c++)
			if (*c >= 'a' && *c <= 'f')
				*c = (char)(*c - 'a' + 'A');
		assert_int_equal(eml_keys_check(&ks, (const uint8_t *)up, strlen(up), now, &m, id),
		    EML_KEY_MALFORMED);
		assert_int_equal(eml_keys_check(&ks, (const uint8_t *)tok[0], strlen(tok[0]) - 2, now,
		    &m, id), EML_KEY_MALFORMED);
		assert_int_equal(eml_keys_check(&ks, (const uint8_t *)tok[0] + 6,
		    strlen(tok[0]) - 6, now, &m, id), EML_KEY_MALFORMED);
		(void)snprintf(up, sizeof(up), "emlk1.%s.%.64s",
		    "abcdefghijklmnopqrstuvwxyz0123456789", tok[0] + 12);
		assert_int_equal(eml_keys_check(&ks, (const uint8_t *)up, strlen(up), now, &m, id),
		    EML_KEY_MALFORMED);
	}
	/* one flipped secret digit */
	tok[0][strlen(tok[0]) - 1] = tok[0][strlen(tok[0]) - 1] == '0' ? '1' : '0';
	assert_int_equal(eml_keys_check(&ks, (const uint8_t *)tok[0], strlen(tok[0]), now, &m, id),
	    EML_KEY_UNKNOWN);
	assert_eml(eml_key_generate("bad id", scratch, other), EML_ERR_USAGE);
	eml_err_clear_detail();
}

static void
file_round_trip(void **state)
{
	char dir[] = "/tmp/eml-keys-XXXXXX";
	char path[128];
	struct eml_keyset ks, back;
	struct eml_key k[2];
	char tok[EML_KEY_TOKEN_MAX + 1];
	struct stat st;
	struct eml_buf a, b;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(path, sizeof(path), "%s/keys.json", dir);
	memset(k, 0, sizeof(k));
	(void)snprintf(k[0].id, sizeof(k[0].id), "acme-1");
	(void)snprintf(k[0].partner, sizeof(k[0].partner), "acme");
	k[0].rate_per_minute = 600;
	k[0].not_before = 5;
	k[0].not_after = 1900000000;
	assert_eml_ok(eml_key_generate(k[0].id, k[0].hash, tok));
	(void)snprintf(k[1].id, sizeof(k[1].id), "beta_2");
	k[1].revoked = true;
	assert_eml_ok(eml_key_generate(k[1].id, k[1].hash, tok));
	ks.keys = k;
	ks.n = 2;
	assert_eml_ok(eml_keys_save(path, &ks));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_eml_ok(eml_keys_load(path, &back));
	assert_int_equal(back.n, 2);
	eml_buf_init(&a, 1 << 20);
	eml_buf_init(&b, 1 << 20);
	assert_eml_ok(eml_keys_format(&ks, &a));
	assert_eml_ok(eml_keys_format(&back, &b));
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.data, b.data, a.len);
	/* the secret is nowhere in the file */
	assert_null(memmem(a.data, a.len, tok + 13, 64));
	assert_true(back.keys[1].revoked);
	assert_int_equal(back.keys[0].rate_per_minute, 600);
	assert_int_equal(back.keys[0].not_after, 1900000000);
	eml_buf_free(&a);
	eml_buf_free(&b);
	eml_keys_free(&back);
	assert_eml(eml_keys_load("/nonexistent/keys.json", &back), EML_ERR_FILE);
	eml_err_clear_detail();
	(void)unlink(path);
	(void)rmdir(dir);
}

/* ------------------------------------------------------------ buckets */

static int
take(struct eml_ratelimit *r, const char *a, uint32_t ra, const char *k, uint32_t rk,
    int64_t now, int64_t *retry)
{
	struct eml_rl_charge ch;

	memset(&ch, 0, sizeof(ch));
	ch.name[0] = a;
	ch.rate[0] = ra;
	ch.name[1] = k;
	ch.rate[1] = rk;
	return eml_ratelimit_take(r, &ch, now, retry);
}

static void
bucket_is_exact(void **state)
{
	struct eml_ratelimit r;
	int64_t retry = 0;
	const int64_t t0 = 1000000;

	(void)state;
	assert_eml_ok(eml_ratelimit_init(&r, 64));
	/* 60 per minute: 60 at once, the 61st refused, one back per second */
	for (int i = 0; i < 60; i++)
		assert_int_equal(take(&r, "a:h1", 60, NULL, 0, t0, &retry), -1);
	assert_int_equal(take(&r, "a:h1", 60, NULL, 0, t0, &retry), 0);
	assert_int_equal(retry, 1000);
	assert_int_equal(take(&r, "a:h1", 60, NULL, 0, t0 + 999, &retry), 0);
	assert_int_equal(retry, 1);
	assert_int_equal(take(&r, "a:h1", 60, NULL, 0, t0 + 1000, &retry), -1);
	assert_int_equal(take(&r, "a:h1", 60, NULL, 0, t0 + 1000, &retry), 0);
	/* another address has its own bucket */
	assert_int_equal(take(&r, "a:h2", 60, NULL, 0, t0, &retry), -1);
	/* after a minute the bucket is full again, and no fuller */
	for (int i = 0; i < 60; i++)
		assert_int_equal(take(&r, "a:h1", 60, NULL, 0, t0 + 600000, &retry), -1);
	assert_int_equal(take(&r, "a:h1", 60, NULL, 0, t0 + 600000, &retry), 0);
	/* rate 0: no limit */
	for (int i = 0; i < 1000; i++)
		assert_int_equal(take(&r, "a:h3", 0, NULL, 0, t0, &retry), -1);
	eml_ratelimit_free(&r);
}

static void
two_buckets_all_or_none(void **state)
{
	struct eml_ratelimit r;
	int64_t retry = 0;
	const int64_t t0 = 5000;

	(void)state;
	assert_eml_ok(eml_ratelimit_init(&r, 64));
	/* the key allows 3, the address 5: the key runs out first */
	for (int i = 0; i < 3; i++)
		assert_int_equal(take(&r, "a:x", 5, "k:k1", 3, t0, &retry), -1);
	assert_int_equal(take(&r, "a:x", 5, "k:k1", 3, t0, &retry), 1);
	assert_int_equal(retry, 20000); /* 3 per minute: one per 20 s */
	/* the refusal took nothing from the address: 2 left for another key */
	assert_int_equal(take(&r, "a:x", 5, "k:k2", 100, t0, &retry), -1);
	assert_int_equal(take(&r, "a:x", 5, "k:k2", 100, t0, &retry), -1);
	assert_int_equal(take(&r, "a:x", 5, "k:k2", 100, t0, &retry), 0);
	assert_int_equal(retry, 12000);
	eml_ratelimit_free(&r);
}

static void
table_is_bounded(void **state)
{
	struct eml_ratelimit r;
	int64_t retry = 0;
	char name[32];

	(void)state;
	assert_eml_ok(eml_ratelimit_init(&r, 64));
	/* 10,000 addresses through 64 slots: each new one starts full */
	for (int i = 0; i < 10000; i++) {
		(void)snprintf(name, sizeof(name), "a:10.0.%d.%d", i / 256, i % 256);
		assert_int_equal(take(&r, name, 1, NULL, 0, 1000 + i, &retry), -1);
	}
	/* an address seen just now is still limited */
	assert_int_equal(take(&r, name, 1, NULL, 0, 1000 + 10000, &retry), 0);
	eml_ratelimit_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(file_shape_is_strict),
		cmocka_unit_test(verdicts),
		cmocka_unit_test(file_round_trip),
		cmocka_unit_test(bucket_is_exact),
		cmocka_unit_test(two_buckets_all_or_none),
		cmocka_unit_test(table_is_bounded),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
