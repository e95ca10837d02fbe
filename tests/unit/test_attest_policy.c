/* The JSON policy file and the policy digest (docs/ATTESTATION.md). */
#include "eml_test.h"

#include <string.h>

#include "attestation/eml_attest.h"
#include "eml_buf.h"
#include "eml_mem.h"

static struct eml_attest_policy pol;

static eml_err
parse(const char *s)
{
	return eml_attest_policy_parse((const uint8_t *)s, strlen(s), &pol);
}

#define PCR48 "2d151586641b790f3b1b92b8f89678c3aa86e73dd97969c892124be9d2b7fdc62b58a55cd9ee8216f6f5689cebf590ad"

static void
full_policy(void **state)
{
	static const char json[] =
	    "{\n"
	    "  \"version\": 1,\n"
	    "  \"pcrs\": {\"0\": \"" PCR48 "\", \"31\": \"" PCR48 "\"},\n"
	    "  \"trust_root\": \"roots/sim.pem\",\n"
	    "  \"max_age_seconds\": 300,\n"
	    "  \"policy_digest\": \"00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\",\n"
	    "  \"allow_debug\": false,\n"
	    "  \"require_public_key\": true\n"
	    "}\n";
	uint8_t want[48];

	(void)state;
	assert_eml_ok(parse(json));
	assert_int_equal(pol.pcr_mask, 0x80000001u);
	assert_int_equal(pol.pcr_len[0], 48);
	assert_eml_ok(eml_hex_decode(want, 48, PCR48));
	assert_memory_equal(pol.pcr[31], want, 48);
	assert_string_equal(pol.root_path, "roots/sim.pem");
	assert_true(pol.max_age_ms == 300000);
	assert_true(pol.user_data_set);
	assert_int_equal(pol.user_data_len, 32);
	assert_int_equal(pol.user_data[31], 0xff);
	assert_false(pol.allow_debug);
	assert_true(pol.require_public_key);
	assert_false(pol.nonce_set);
	/* Minimal: version only; the defaults are the strict ones. */
	assert_eml_ok(parse("{\"version\": 1}"));
	assert_int_equal(pol.pcr_mask, 0);
	assert_false(pol.allow_debug);
	assert_eml_ok(parse("{\"version\": 1, \"trust_root_pem\": \"-----BEGIN CERTIFICATE-----\\nAA\\n\"}"));
	assert_true(pol.root_pem_len > 0);
}

static void
bad_policies(void **state)
{
	static const char *const bad[] = {
		"",
		"not json",
		"[1]",
		"{}",
		"{\"version\": 2}",
		"{\"version\": \"1\"}",
		"{\"version\": 1, \"pcr\": {}}",
		"{\"version\": 1, \"version\": 1}",
		"{\"version\": 1, \"pcrs\": []}",
		"{\"version\": 1, \"pcrs\": {\"32\": \"" PCR48 "\"}}",
		"{\"version\": 1, \"pcrs\": {\"01\": \"" PCR48 "\"}}",
		"{\"version\": 1, \"pcrs\": {\"-1\": \"" PCR48 "\"}}",
		"{\"version\": 1, \"pcrs\": {\"x\": \"" PCR48 "\"}}",
		"{\"version\": 1, \"pcrs\": {\"0 \": \"" PCR48 "\"}}",
		"{\"version\": 1, \"pcrs\": {\"0\": \"" PCR48 "0\"}}",
		"{\"version\": 1, \"pcrs\": {\"0\": \"zz" PCR48 "\"}}",
		"{\"version\": 1, \"pcrs\": {\"0\": \"00\"}}",
		"{\"version\": 1, \"pcrs\": {\"0\": 7}}",
		"{\"version\": 1, \"pcrs\": {\"0\": \"" PCR48 "\", \"0\": \"" PCR48 "\"}}",
		"{\"version\": 1, \"max_age_seconds\": 0}",
		"{\"version\": 1, \"max_age_seconds\": -5}",
		"{\"version\": 1, \"max_age_seconds\": 1.5}",
		"{\"version\": 1, \"max_age_seconds\": \"300\"}",
		"{\"version\": 1, \"allow_debug\": \"false\"}",
		"{\"version\": 1, \"allow_debug\": 0}",
		"{\"version\": 1, \"policy_digest\": \"\"}",
		"{\"version\": 1, \"policy_digest\": \"abc\"}",
		"{\"version\": 1, \"trust_root\": \"\"}",
		"{\"version\": 1, \"trust_root\": \"a\\u0000b\"}",
		"{\"version\": 1, \"trust_root\": \"a\", \"trust_root_pem\": \"-----BEGIN CERTIFICATE-----\"}",
		"{\"version\": 1, \"trust_root_pem\": \"not a pem\"}",
		"{\"version\": 1} trailing",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		eml_err rc = parse(bad[i]);

		if (rc != EML_ERR_ATTEST_POLICY)
			fail_msg("policy %zu (%s): got %s", i, bad[i], eml_err_name(rc));
		/* A failed parse leaves nothing half-set. */
		assert_int_equal(pol.pcr_mask, 0);
		assert_false(pol.user_data_set);
	}
	/* Over 64 KiB. */
	{
		size_t n = EML_ATTEST_POLICY_FILE_MAX + 1;
		uint8_t *big = eml_alloc(n);

		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		assert_eml(eml_attest_policy_parse(big, n, &pol), EML_ERR_ATTEST_POLICY);
		eml_free(big);
	}
}

/* Known answer computed outside the code (Python hashlib over the domain
 * string "EphemeralML policy manifest v2", a NUL and the RFC 8785 text),
 * then spelling-independence. */
static void
policy_digest(void **state)
{
	static const char a[] = "{ \"c\": \"\\u00e9\", \"b\": 1,\n \"a\": [true, null, \"x\"] }";
	static const char b[] = "{\"a\":[true,null,\"x\"],\"b\":1,\"c\":\"\xc3\xa9\"}";
	static const char c[] = "{\"a\":[true,null,\"x\"],\"b\":2,\"c\":\"\xc3\xa9\"}";
	uint8_t da[32];
	uint8_t db[32];
	uint8_t dc[32];
	char hex[65];

	(void)state;
	assert_eml_ok(eml_attest_policy_digest((const uint8_t *)a, strlen(a), da));
	eml_hex_encode(hex, da, 32);
	assert_string_equal(hex, "2e7052a34daa9885ac5c900383d272f7cbc9d306e552a447747130097f16666d");
	assert_eml_ok(eml_attest_policy_digest((const uint8_t *)b, strlen(b), db));
	assert_memory_equal(da, db, 32);
	assert_eml_ok(eml_attest_policy_digest((const uint8_t *)c, strlen(c), dc));
	assert_memory_not_equal(da, dc, 32);
	/* RFC 8785 writes numbers as ECMAScript does: 1.0 and 1 are one value. */
	assert_eml_ok(eml_attest_policy_digest((const uint8_t *)"{\"a\": 1.0}", 10, da));
	assert_eml_ok(eml_attest_policy_digest((const uint8_t *)"{\"a\":1}", 7, db));
	assert_memory_equal(da, db, 32);
	assert_eml(eml_attest_policy_digest((const uint8_t *)"{\"a\":1,\"a\":2}", 13, da),
	    EML_ERR_ATTEST_POLICY);
	assert_eml(eml_attest_policy_digest((const uint8_t *)"[1]", 3, da), EML_ERR_ATTEST_POLICY);
	assert_eml(eml_attest_policy_digest((const uint8_t *)"", 0, da), EML_ERR_ATTEST_POLICY);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_policy),
		cmocka_unit_test(bad_policies),
		cmocka_unit_test(policy_digest),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
