/* The agent's policy file: parsing, defaults, digest, model decisions. */
#include "eml_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "enclave-agent/eml_agent_policy.h"
#include "eml_buf.h"
#include "eml_mem.h"
#include "model/eml_sign.h"

static const char ID_A[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char ID_B[] = "2222222222222222222222222222222222222222222222222222222222222222";

static eml_err
parse_str(const char *s, struct eml_agent_policy *pol)
{
	return eml_agent_policy_parse((const uint8_t *)s, strlen(s), pol);
}

static void
default_policy_is_open_and_per_request(void **state)
{
	struct eml_agent_policy pol;
	uint8_t id[32];

	(void)state;
	assert_eml_ok(eml_agent_policy_load(NULL, &pol));
	assert_false(pol.strict);
	assert_int_equal(pol.assembly, EML_ASSEMBLY_PER_REQUEST);
	assert_int_equal(pol.n_models, 0);
	assert_true(pol.max_topology_bytes == 16777216ULL);
	assert_true(pol.max_weight_bytes == 2147483648ULL);
	assert_true(pol.max_requests == 0);
	memset(id, 0x5a, sizeof(id));
	assert_eml_ok(eml_agent_policy_check_model(&pol, id, NULL));
}

/* The digest is the attestation library's policy digest: SHA-256 over
 * "EphemeralML policy manifest v1" NUL and the canonical JSON (keys sorted,
 * no whitespace), computed here by hand from the documented rule. */
static void
digest_is_canonical_policy_digest(void **state)
{
	static const char domain[] = "EphemeralML policy manifest v1";
	const char *text = "{ \"version\": 1,\n  \"assembly\": \"session\" }";
	const char *canon = "{\"assembly\":\"session\",\"version\":1}";
	struct eml_agent_policy pol, pol2;
	uint8_t want[32];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	(void)state;
	assert_non_null(ctx);
	assert_eml_ok(parse_str(text, &pol));
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, domain, sizeof(domain)), 1); /* with NUL */
	assert_int_equal(EVP_DigestUpdate(ctx, canon, strlen(canon)), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, want, &len), 1);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(len, 32);
	assert_memory_equal(pol.digest, want, 32);
	assert_int_equal(pol.assembly, EML_ASSEMBLY_PER_SESSION);
	/* Layout does not matter, content does. */
	assert_eml_ok(parse_str(canon, &pol2));
	assert_memory_equal(pol.digest, pol2.digest, 32);
	assert_eml_ok(parse_str("{\"version\":1,\"assembly\":\"request\"}", &pol2));
	assert_memory_not_equal(pol.digest, pol2.digest, 32);
}

static void
models_allowlist(void **state)
{
	char text[512];
	struct eml_agent_policy pol;
	uint8_t a[32], b[32], c[32];

	(void)state;
	snprintf(text, sizeof(text),
	    "{\"version\":1,\"models\":[\"%s\",\"%s\"],\"limits\":{\"max_input_bytes\":4096}}",
	    ID_A, ID_B);
	assert_eml_ok(parse_str(text, &pol));
	assert_int_equal(pol.n_models, 2);
	assert_true(pol.max_input_bytes == 4096);
	memset(a, 0x11, 32);
	memset(b, 0x22, 32);
	memset(c, 0x22, 32);
	c[31] = 0x23;
	assert_eml_ok(eml_agent_policy_check_model(&pol, a, NULL));
	assert_eml_ok(eml_agent_policy_check_model(&pol, b, NULL));
	assert_eml(eml_agent_policy_check_model(&pol, c, NULL), EML_ERR_POLICY_MODEL);
}

/* A policy JSON naming one fresh Ed25519 publisher key. */
static void
policy_with_publisher(char *text, size_t cap, bool strict)
{
	struct eml_buf priv, pub;
	char esc[1024];
	size_t j = 0;

	eml_buf_init_secure(&priv, 4096);
	eml_buf_init(&pub, 4096);
	assert_eml_ok(eml_sign_keygen_ed25519(&priv, &pub));
	for (size_t i = 0; i < pub.len && j + 3 < sizeof(esc); i++) {
		if (pub.data[i] == '\n') {
			esc[j++] = '\\';
			esc[j++] = 'n';
		} else {
			esc[j++] = (char)pub.data[i];
		}
	}
	esc[j] = '\0';
	snprintf(text, cap, "{\"version\":1,\"strict\":%s,\"publishers\":[\"%s\"]}",
	    strict ? "true" : "false", esc);
	eml_buf_free(&priv);
	eml_buf_free(&pub);
}

static void
strict_requires_a_verified_signer(void **state)
{
	char text[2048];
	struct eml_agent_policy pol;
	uint8_t id[32], signer[32];

	(void)state;
	policy_with_publisher(text, sizeof(text), true);
	assert_eml_ok(parse_str(text, &pol));
	assert_true(pol.strict);
	assert_int_equal(pol.n_publishers, 1);
	assert_non_null(pol.trust);
	memset(id, 0x77, 32);
	memset(signer, 0x11, 32);
	assert_eml(eml_agent_policy_check_model(&pol, id, NULL), EML_ERR_POLICY_UNSIGNED);
	assert_eml_ok(eml_agent_policy_check_model(&pol, id, signer));
	eml_agent_policy_clear(&pol);
	assert_null(pol.trust);
	/* Not strict: unsigned models pass. */
	policy_with_publisher(text, sizeof(text), false);
	assert_eml_ok(parse_str(text, &pol));
	assert_eml_ok(eml_agent_policy_check_model(&pol, id, NULL));
	eml_agent_policy_clear(&pol);
	/* A publisher that is not a key. */
	assert_eml(parse_str("{\"version\":1,\"publishers\":[\"-----BEGIN PUBLIC KEY-----\\nAAAA\\n"
			     "-----END PUBLIC KEY-----\\n\"]}", &pol),
	    EML_ERR_POLICY_FILE);
	assert_null(pol.trust);
}

static void
rejects_bad_files(void **state)
{
	static const char *const bad[] = {
		"",
		"[]",
		"{}",                                       /* no version */
		"{\"version\":2}",
		"{\"version\":1,\"strict\":true}",          /* strict without publishers */
		"{\"version\":1,\"strict\":\"yes\"}",
		"{\"version\":1,\"assembly\":\"forever\"}",
		"{\"version\":1,\"models\":[\"abcd\"]}",    /* short id */
		"{\"version\":1,\"models\":\"x\"}",
		"{\"version\":1,\"limits\":{\"max_input_bytes\":-1}}",
		"{\"version\":1,\"limits\":{\"max_input_bytes\":0}}",
		"{\"version\":1,\"limits\":{\"max_inptu_bytes\":5}}", /* typo */
		"{\"version\":1,\"stirct\":true}",                    /* typo */
		"{\"version\":1,\"strict\":false,\"strict\":true}",   /* duplicate */
		"{\"version\":1} trailing",
	};
	struct eml_agent_policy pol;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&pol, 0xaa, sizeof(pol));
		if (parse_str(bad[i], &pol) != EML_ERR_POLICY_FILE)
			fail_msg("accepted bad policy %zu: %s", i, bad[i]);
		/* Left zeroed, not half-filled. */
		assert_false(pol.strict);
		assert_int_equal(pol.n_models, 0);
	}
	assert_eml(eml_agent_policy_parse(NULL, 3, &pol), EML_ERR_NULL);
}

static void
load_from_file_and_missing_file(void **state)
{
	char path[] = "/tmp/eml-agent-policy-XXXXXX";
	const char *text = "{\"version\":1,\"assembly\":\"session\"}\n";
	struct eml_agent_policy pol;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_eml_ok(eml_agent_policy_load(path, &pol));
	assert_int_equal(pol.assembly, EML_ASSEMBLY_PER_SESSION);
	unlink(path);
	assert_eml(eml_agent_policy_load(path, &pol), EML_ERR_FILE);
	assert_eml(eml_agent_policy_load("/", &pol), EML_ERR_FILE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_policy_is_open_and_per_request),
		cmocka_unit_test(digest_is_canonical_policy_digest),
		cmocka_unit_test(models_allowlist),
		cmocka_unit_test(strict_requires_a_verified_signer),
		cmocka_unit_test(rejects_bad_files),
		cmocka_unit_test(load_from_file_and_missing_file),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
