/* The policy manifest: parsing, defaults, effective form, digest (every
 * field), model and output decisions. */
#include "eml_test.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "model/eml_manifest.h"
#include "eml_buf.h"
#include "eml_mem.h"
#include "model/eml_sign.h"

static const char ID_A[] = "1111111111111111111111111111111111111111111111111111111111111111";
static const char ID_B[] = "2222222222222222222222222222222222222222222222222222222222222222";

static eml_err
parse_str(const char *s, struct eml_manifest *pol)
{
	return eml_manifest_parse((const uint8_t *)s, strlen(s), pol);
}

static void
default_policy_is_open_and_per_request(void **state)
{
	struct eml_manifest pol;
	uint8_t id[32];

	(void)state;
	assert_eml_ok(eml_manifest_load(NULL, &pol));
	assert_false(pol.strict);
	assert_int_equal(pol.assembly, EML_ASSEMBLY_PER_REQUEST);
	assert_int_equal(pol.n_models, 0);
	assert_true(pol.max_topology_bytes == 16777216ULL);
	assert_true(pol.max_weight_bytes == 2147483648ULL);
	assert_true(pol.max_requests == 0);
	memset(id, 0x5a, sizeof(id));
	assert_eml_ok(eml_manifest_check_model(&pol, id, NULL));
}

/* The digest covers the effective manifest: every field written out,
 * defaults included, in RFC 8785 form, after "EphemeralML policy manifest
 * v2" and a NUL. The expected text below is written by hand from the
 * documented defaults (eml_manifest.h), then hashed with OpenSSL. */
static void
digest_is_canonical_policy_digest(void **state)
{
	static const char domain[] = "EphemeralML policy manifest v2";
	const char *text = "{ \"version\": 1,\n  \"assembly\": \"session\" }";
	const char *canon = "{\"assembly\":\"session\",\"limits\":{\"max_arena_bytes\":2147483648,"
			    "\"max_infer_ms\":60000,\"max_input_bytes\":67108864,\"max_nodes\":100000,"
			    "\"max_output_bytes\":67108864,\"max_requests\":0,"
			    "\"max_requests_per_minute\":0,\"max_response_bytes\":67174400,"
			    "\"max_session_bytes\":3221225472,\"max_sessions\":0,"
			    "\"max_tensor_bytes\":1073741824,\"max_topology_bytes\":16777216,"
			    "\"max_weight_bytes\":2147483648,\"memory_budget_bytes\":4294967296},"
			    "\"models\":[],\"ops\":null,\"output\":\"declared\","
			    "\"output_schema\":null,\"publishers\":[],\"strict\":false,\"version\":1}";
	struct eml_manifest pol, pol2;
	struct eml_buf b;
	uint8_t want[32];
	unsigned int len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	(void)state;
	assert_non_null(ctx);
	assert_eml_ok(parse_str(text, &pol));
	eml_buf_init(&b, 1 << 16);
	assert_eml_ok(eml_manifest_json(&pol, &b));
	assert_int_equal(b.len, strlen(canon));
	assert_memory_equal(b.data, canon, b.len);
	eml_buf_free(&b);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(ctx, domain, sizeof(domain)), 1); /* with NUL */
	assert_int_equal(EVP_DigestUpdate(ctx, canon, strlen(canon)), 1);
	assert_int_equal(EVP_DigestFinal_ex(ctx, want, &len), 1);
	EVP_MD_CTX_free(ctx);
	assert_int_equal(len, 32);
	assert_memory_equal(pol.digest, want, 32);
	assert_int_equal(pol.assembly, EML_ASSEMBLY_PER_SESSION);
	/* Layout does not matter, content does; a default written out is the
	 * same manifest as the default left out. */
	assert_eml_ok(parse_str(canon, &pol2));
	assert_memory_equal(pol.digest, pol2.digest, 32);
	assert_eml_ok(parse_str("{\"version\":1,\"assembly\":\"session\",\"strict\":false,"
				"\"limits\":{\"max_requests\":0}}", &pol2));
	assert_memory_equal(pol.digest, pol2.digest, 32);
	assert_eml_ok(parse_str("{\"version\":1,\"assembly\":\"request\"}", &pol2));
	assert_memory_not_equal(pol.digest, pol2.digest, 32);
}

/* A manifest with every field away from its default; each row below
 * changes one field of it. */
static const char FULL[] =
	"{\"version\":1,"
	"\"models\":[\"1111111111111111111111111111111111111111111111111111111111111111\"],"
	"\"publishers\":[\"2222222222222222222222222222222222222222222222222222222222222222\"],"
	"\"strict\":true,\"assembly\":\"session\","
	"\"limits\":{\"max_topology_bytes\":1001,\"max_input_bytes\":1002,"
	"\"max_output_bytes\":1003,\"max_response_bytes\":1004,\"max_weight_bytes\":1005,"
	"\"max_requests\":1006,\"max_requests_per_minute\":1007,\"max_nodes\":1008,"
	"\"max_tensor_bytes\":1009,\"max_arena_bytes\":1010,\"memory_budget_bytes\":1011,"
	"\"max_session_bytes\":1012,\"max_sessions\":1013,\"max_infer_ms\":1014},"
	"\"ops\":[\"Gemm\",\"Relu\"],\"output\":\"declared\","
	"\"output_schema\":[{\"dtype\":\"float32\",\"shape\":[1,10]}]}";

struct field_change {
	const char *field;
	const char *from, *to; /* one substring of FULL and its replacement */
};

/* Every field of the manifest. "version" and "output" have a single
 * legal value today, so they cannot change; any other value is refused
 * (rejects_bad_files). */
static const struct field_change changes[] = {
	{ "models", "\"1111111111111111111111111111111111111111111111111111111111111111\"",
	    "\"1111111111111111111111111111111111111111111111111111111111111112\"" },
	{ "publishers", "\"2222222222222222222222222222222222222222222222222222222222222222\"",
	    "\"2222222222222222222222222222222222222222222222222222222222222223\"" },
	{ "strict", "\"strict\":true", "\"strict\":false" },
	{ "assembly", "\"session\"", "\"request\"" },
	{ "limits.max_topology_bytes", ":1001", ":2001" },
	{ "limits.max_input_bytes", ":1002", ":2002" },
	{ "limits.max_output_bytes", ":1003", ":2003" },
	{ "limits.max_response_bytes", ":1004", ":2004" },
	{ "limits.max_weight_bytes", ":1005", ":2005" },
	{ "limits.max_requests", ":1006", ":2006" },
	{ "limits.max_requests_per_minute", ":1007", ":2007" },
	{ "limits.max_nodes", ":1008", ":2008" },
	{ "limits.max_tensor_bytes", ":1009", ":2009" },
	{ "limits.max_arena_bytes", ":1010", ":2010" },
	{ "limits.memory_budget_bytes", ":1011", ":2011" },
	{ "limits.max_session_bytes", ":1012", ":2012" },
	{ "limits.max_sessions", ":1013", ":2013" },
	{ "limits.max_infer_ms", ":1014", ":2014" },
	{ "ops", "\"Relu\"]", "\"Sigmoid\"]" },
	{ "ops (absent)", ",\"ops\":[\"Gemm\",\"Relu\"]", "" },
	{ "output_schema.dtype", "\"float32\"", "\"float16\"" },
	{ "output_schema.shape", "[1,10]", "[1,11]" },
	{ "output_schema (absent)", ",\"output_schema\":[{\"dtype\":\"float32\",\"shape\":[1,10]}]",
	    "" },
};

static void
every_field_changes_the_digest(void **state)
{
	enum { N = sizeof(changes) / sizeof(changes[0]) };
	uint8_t d[N + 1][32];
	struct eml_manifest pol, again;
	struct eml_buf b;

	(void)state;
	assert_eml_ok(parse_str(FULL, &pol));
	memcpy(d[N], pol.digest, 32);
	/* The effective manifest parses back to the same digest. */
	eml_buf_init(&b, 1 << 16);
	assert_eml_ok(eml_manifest_json(&pol, &b));
	assert_eml_ok(eml_manifest_parse(b.data, b.len, &again));
	assert_memory_equal(again.digest, pol.digest, 32);
	eml_buf_free(&b);
	eml_manifest_clear(&again);
	eml_manifest_clear(&pol);
	for (size_t i = 0; i < N; i++) {
		char text[2048];
		const char *at = strstr(FULL, changes[i].from);
		size_t pre;

		assert_non_null(at);
		assert_null(strstr(at + 1, changes[i].from)); /* one place only */
		pre = (size_t)(at - FULL);
		snprintf(text, sizeof(text), "%.*s%s%s", (int)pre, FULL, changes[i].to,
		    at + strlen(changes[i].from));
		if (parse_str(text, &pol) != EML_OK)
			fail_msg("%s: variant refused: %s", changes[i].field, eml_err_detail());
		memcpy(d[i], pol.digest, 32);
		eml_manifest_clear(&pol);
	}
	for (size_t i = 0; i <= N; i++) {
		for (size_t j = i + 1; j <= N; j++) {
			if (memcmp(d[i], d[j], 32) == 0)
				fail_msg("same digest: %s and %s", changes[i].field,
				    j == N ? "the full manifest" : changes[j].field);
		}
	}
}

/* models, publishers and ops are sets: their order is not a change. */
static void
set_order_is_not_a_change(void **state)
{
	struct eml_manifest a, b;

	(void)state;
	assert_eml_ok(parse_str("{\"version\":1,\"ops\":[\"Gemm\",\"Relu\"],\"models\":[\"1111111111111111111111111111111111111111111111111111111111111111\",\"2222222222222222222222222222222222222222222222222222222222222222\"]}", &a));
	assert_eml_ok(parse_str("{\"version\":1,\"ops\":[\"Relu\",\"Gemm\"],\"models\":[\"2222222222222222222222222222222222222222222222222222222222222222\",\"1111111111111111111111111111111111111111111111111111111111111111\"]}", &b));
	assert_memory_equal(a.digest, b.digest, 32);
}

static void
output_schema_check(void **state)
{
	struct eml_manifest pol;
	struct eml_tensor t[2];

	(void)state;
	memset(t, 0, sizeof(t));
	t[0].dtype = EML_DT_FLOAT;
	t[0].rank = 2;
	t[0].dims[0] = 1;
	t[0].dims[1] = 10;
	t[1] = t[0];
	assert_eml_ok(parse_str(FULL, &pol));
	assert_eml_ok(eml_manifest_check_outputs(&pol, t, 1));
	assert_eml(eml_manifest_check_outputs(&pol, t, 2), EML_ERR_EGRESS);
	t[0].dims[1] = 11;
	assert_eml(eml_manifest_check_outputs(&pol, t, 1), EML_ERR_EGRESS);
	t[0].dims[1] = 10;
	t[0].dtype = EML_DT_FLOAT16;
	assert_eml(eml_manifest_check_outputs(&pol, t, 1), EML_ERR_EGRESS);
	t[0].dtype = EML_DT_FLOAT;
	t[0].rank = 3;
	assert_eml(eml_manifest_check_outputs(&pol, t, 1), EML_ERR_EGRESS);
	eml_manifest_clear(&pol);
	/* No schema: anything the egress guard lets through. */
	assert_eml_ok(parse_str("{\"version\":1}", &pol));
	assert_eml_ok(eml_manifest_check_outputs(&pol, t, 2));
}

static void
models_allowlist(void **state)
{
	char text[512];
	struct eml_manifest pol;
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
	assert_eml_ok(eml_manifest_check_model(&pol, a, NULL));
	assert_eml_ok(eml_manifest_check_model(&pol, b, NULL));
	assert_eml(eml_manifest_check_model(&pol, c, NULL), EML_ERR_POLICY_MODEL);
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
	struct eml_manifest pol;
	uint8_t id[32], signer[32];

	(void)state;
	policy_with_publisher(text, sizeof(text), true);
	assert_eml_ok(parse_str(text, &pol));
	assert_true(pol.strict);
	assert_int_equal(pol.n_publishers, 1);
	assert_non_null(pol.trust);
	memset(id, 0x77, 32);
	memset(signer, 0x11, 32);
	assert_eml(eml_manifest_check_model(&pol, id, NULL), EML_ERR_POLICY_UNSIGNED);
	assert_eml_ok(eml_manifest_check_model(&pol, id, signer));
	eml_manifest_clear(&pol);
	assert_null(pol.trust);
	/* Not strict: unsigned models pass. */
	policy_with_publisher(text, sizeof(text), false);
	assert_eml_ok(parse_str(text, &pol));
	assert_eml_ok(eml_manifest_check_model(&pol, id, NULL));
	eml_manifest_clear(&pol);
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
		"{\"version\":1,\"output\":\"all\"}",               /* the only rule */
		"{\"version\":1,\"output_schema\":[]}",
		"{\"version\":1,\"output_schema\":[{\"dtype\":\"float33\",\"shape\":[1]}]}",
		"{\"version\":1,\"output_schema\":[{\"dtype\":\"float32\",\"shape\":[-1]}]}",
		"{\"version\":1,\"output_schema\":[{\"dtype\":\"float32\"}]}",
		"{\"version\":1,\"output_schema\":[{\"dtype\":\"float32\",\"shape\":[],"
		"\"name\":\"y\"}]}",
		"{\"version\":1,\"ops\":[\"Relu\",\"Relu\"]}",
		"{\"version\":1,\"limits\":{\"max_requests\":9007199254740992}}", /* 2^53 */
		"{\"version\":1,\"limits\":{\"max_response_bytes\":0}}",
		"{\"version\":1,\"publishers\":[\"abcd\"]}",
	};
	struct eml_manifest pol;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&pol, 0xaa, sizeof(pol));
		if (parse_str(bad[i], &pol) != EML_ERR_POLICY_FILE)
			fail_msg("accepted bad policy %zu: %s", i, bad[i]);
		/* Left zeroed, not half-filled. */
		assert_false(pol.strict);
		assert_int_equal(pol.n_models, 0);
	}
	assert_eml(eml_manifest_parse(NULL, 3, &pol), EML_ERR_NULL);
}

static void
load_from_file_and_missing_file(void **state)
{
	char path[] = "/tmp/eml-agent-policy-XXXXXX";
	const char *text = "{\"version\":1,\"assembly\":\"session\"}\n";
	struct eml_manifest pol;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_eml_ok(eml_manifest_load(path, &pol));
	assert_int_equal(pol.assembly, EML_ASSEMBLY_PER_SESSION);
	unlink(path);
	assert_eml(eml_manifest_load(path, &pol), EML_ERR_FILE);
	assert_eml(eml_manifest_load("/", &pol), EML_ERR_FILE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(default_policy_is_open_and_per_request),
		cmocka_unit_test(digest_is_canonical_policy_digest),
		cmocka_unit_test(every_field_changes_the_digest),
		cmocka_unit_test(set_order_is_not_a_change),
		cmocka_unit_test(output_schema_check),
		cmocka_unit_test(models_allowlist),
		cmocka_unit_test(strict_requires_a_verified_signer),
		cmocka_unit_test(rejects_bad_files),
		cmocka_unit_test(load_from_file_and_missing_file),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
