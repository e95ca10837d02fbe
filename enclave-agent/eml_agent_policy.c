#include "eml_agent_policy.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "attestation/eml_attest.h"
#include "eml_buf.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "model/eml_sign.h"

_Static_assert(EML_AGENT_POLICY_DIGEST_LEN == EML_ATTEST_POLICY_DIGEST_LEN, "digest length");

/* Defaults: generous enough for the demo and bench models, small enough
 * that one request cannot exhaust an enclave of a few GiB. */
#define DEF_TOPOLOGY (16ULL << 20)
#define DEF_INPUT (64ULL << 20)
#define DEF_OUTPUT (64ULL << 20)
#define DEF_WEIGHT (2ULL << 30)
#define DEF_NODES 100000ULL
#define DEF_TENSOR (1ULL << 30)
#define DEF_ARENA (2ULL << 30)
#define DEF_BUDGET (4ULL << 30)
#define DEF_SESSION (3ULL << 30)

static const char default_text[] =
	"{\"version\":1,\"models\":[],\"publishers\":[],\"strict\":false,"
	"\"assembly\":\"request\",\"limits\":{\"max_topology_bytes\":16777216,"
	"\"max_input_bytes\":67108864,\"max_output_bytes\":67108864,"
	"\"max_weight_bytes\":2147483648,\"max_requests\":0,\"max_nodes\":100000,"
	"\"max_tensor_bytes\":1073741824,\"max_arena_bytes\":2147483648,"
	"\"memory_budget_bytes\":4294967296,\"max_session_bytes\":3221225472,"
	"\"max_sessions\":0}}\n";

const char *
eml_agent_policy_default_text(void)
{
	return default_text;
}

static eml_err
parse_ids(json_t *arr, const char *key, uint8_t ids[][EML_AGENT_POLICY_ID_LEN], size_t *n)
{
	size_t i;
	json_t *v;

	*n = 0;
	if (arr == NULL)
		return EML_OK;
	if (!json_is_array(arr) || json_array_size(arr) > EML_AGENT_POLICY_MAX_IDS) {
		eml_err_set_detail("\"%s\" must be an array of at most %u hex ids", key,
		    EML_AGENT_POLICY_MAX_IDS);
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	json_array_foreach(arr, i, v) {
		const char *hex = json_string_value(v);

		if (hex == NULL || strlen(hex) != 2 * EML_AGENT_POLICY_ID_LEN ||
		    eml_hex_decode(ids[i], EML_AGENT_POLICY_ID_LEN, hex) != EML_OK) {
			eml_err_set_detail("\"%s\"[%zu] is not %u bytes of hex", key, i,
			    EML_AGENT_POLICY_ID_LEN);
			EML_BAIL(EML_ERR_POLICY_FILE);
		}
	}
	*n = json_array_size(arr);
	return EML_OK;
}

static eml_err
parse_publishers(json_t *arr, struct eml_agent_policy *pol)
{
	size_t i;
	json_t *v;

	if (arr == NULL)
		return EML_OK;
	if (!json_is_array(arr) || json_array_size(arr) > EML_TRUST_MAX) {
		eml_err_set_detail("\"publishers\" must be an array of at most %d PEM keys",
		    EML_TRUST_MAX);
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	if (json_array_size(arr) == 0)
		return EML_OK;
	pol->trust = eml_trust_new();
	EML_ENSURE(pol->trust != NULL, EML_ERR_NOMEM);
	json_array_foreach(arr, i, v) {
		const char *pem = json_string_value(v);

		if (pem == NULL || eml_trust_add_pem(pol->trust, (const uint8_t *)pem,
		    json_string_length(v)) != EML_OK) {
			eml_err_set_detail("\"publishers\"[%zu] is not an Ed25519 or RSA public key PEM",
			    i);
			EML_BAIL(EML_ERR_POLICY_FILE);
		}
	}
	pol->n_publishers = json_array_size(arr);
	return EML_OK;
}

static eml_err
parse_limit(json_t *limits, const char *key, uint64_t *out)
{
	json_t *v = json_object_get(limits, key);

	if (v == NULL)
		return EML_OK;
	if (!json_is_integer(v) || json_integer_value(v) < 0) {
		eml_err_set_detail("limits.%s must be a non-negative integer", key);
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	*out = (uint64_t)json_integer_value(v);
	return EML_OK;
}

static eml_err
check_keys(json_t *obj, const char *const *allowed, const char *where)
{
	const char *key;
	json_t *v;

	json_object_foreach(obj, key, v) {
		bool ok = false;

		(void)v;
		for (size_t i = 0; allowed[i] != NULL; i++)
			ok = ok || strcmp(key, allowed[i]) == 0;
		if (!ok) {
			eml_err_set_detail("unknown key \"%.64s\" in %s", key, where);
			EML_BAIL(EML_ERR_POLICY_FILE);
		}
	}
	return EML_OK;
}

static eml_err
parse_limits(json_t *limits, struct eml_agent_policy *pol)
{
	static const char *const keys[] = { "max_topology_bytes", "max_input_bytes",
		"max_output_bytes", "max_weight_bytes", "max_requests", "max_nodes",
		"max_tensor_bytes", "max_arena_bytes", "memory_budget_bytes", "max_session_bytes",
		"max_sessions", NULL };

	if (limits == NULL)
		return EML_OK;
	if (!json_is_object(limits)) {
		eml_err_set_detail("\"limits\" must be an object");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	EML_GUARD(check_keys(limits, keys, "limits"));
	EML_GUARD(parse_limit(limits, "max_topology_bytes", &pol->max_topology_bytes));
	EML_GUARD(parse_limit(limits, "max_input_bytes", &pol->max_input_bytes));
	EML_GUARD(parse_limit(limits, "max_output_bytes", &pol->max_output_bytes));
	EML_GUARD(parse_limit(limits, "max_weight_bytes", &pol->max_weight_bytes));
	EML_GUARD(parse_limit(limits, "max_requests", &pol->max_requests));
	EML_GUARD(parse_limit(limits, "max_nodes", &pol->max_nodes));
	EML_GUARD(parse_limit(limits, "max_tensor_bytes", &pol->max_tensor_bytes));
	EML_GUARD(parse_limit(limits, "max_arena_bytes", &pol->max_arena_bytes));
	EML_GUARD(parse_limit(limits, "memory_budget_bytes", &pol->memory_budget_bytes));
	EML_GUARD(parse_limit(limits, "max_session_bytes", &pol->max_session_bytes));
	EML_GUARD(parse_limit(limits, "max_sessions", &pol->max_sessions));
	if (pol->max_topology_bytes == 0 || pol->max_input_bytes == 0 ||
	    pol->max_output_bytes == 0 || pol->max_weight_bytes == 0 || pol->max_nodes == 0 ||
	    pol->max_tensor_bytes == 0 || pol->max_arena_bytes == 0 ||
	    pol->memory_budget_bytes == 0 || pol->max_session_bytes == 0) {
		eml_err_set_detail("size limits must be positive");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	return EML_OK;
}

static eml_err
parse_ops(json_t *arr, struct eml_agent_policy *pol)
{
	size_t i;
	json_t *v;

	if (arr == NULL)
		return EML_OK;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > EML_AGENT_POLICY_MAX_OPS) {
		eml_err_set_detail("\"ops\" must be an array of 1 to %u operator names",
		    EML_AGENT_POLICY_MAX_OPS);
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	json_array_foreach(arr, i, v) {
		const char *op = json_string_value(v);

		if (op == NULL || op[0] == '\0' || json_string_length(v) >= EML_AGENT_POLICY_OP_LEN ||
		    strlen(op) != json_string_length(v)) {
			eml_err_set_detail("\"ops\"[%zu] is not an operator name", i);
			EML_BAIL(EML_ERR_POLICY_FILE);
		}
		memcpy(pol->ops[i], op, json_string_length(v) + 1);
	}
	pol->n_ops = json_array_size(arr);
	return EML_OK;
}

static eml_err
parse_root(json_t *root, struct eml_agent_policy *pol)
{
	static const char *const keys[] = { "version", "models", "publishers", "strict",
		"assembly", "limits", "ops", NULL };
	json_t *v;

	if (!json_is_object(root)) {
		eml_err_set_detail("policy must be a JSON object");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	EML_GUARD(check_keys(root, keys, "policy"));
	v = json_object_get(root, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		eml_err_set_detail("\"version\" must be 1");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	EML_GUARD(parse_ids(json_object_get(root, "models"), "models", pol->models,
	    &pol->n_models));
	EML_GUARD(parse_publishers(json_object_get(root, "publishers"), pol));
	v = json_object_get(root, "strict");
	if (v != NULL && !json_is_boolean(v)) {
		eml_err_set_detail("\"strict\" must be true or false");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	pol->strict = v != NULL && json_is_true(v);
	if (pol->strict && pol->n_publishers == 0) {
		eml_err_set_detail("\"strict\" needs at least one publisher");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	v = json_object_get(root, "assembly");
	if (v == NULL || (json_is_string(v) && strcmp(json_string_value(v), "request") == 0)) {
		pol->assembly = EML_ASSEMBLY_PER_REQUEST;
	} else if (json_is_string(v) && strcmp(json_string_value(v), "session") == 0) {
		pol->assembly = EML_ASSEMBLY_PER_SESSION;
	} else {
		eml_err_set_detail("\"assembly\" must be \"request\" or \"session\"");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	EML_GUARD(parse_ops(json_object_get(root, "ops"), pol));
	return parse_limits(json_object_get(root, "limits"), pol);
}

eml_err
eml_agent_policy_parse(const uint8_t *p, size_t n, struct eml_agent_policy *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	json_t *root = NULL;
	json_error_t jerr;

	if (out == NULL || (p == NULL && n != 0))
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	memset(out, 0, sizeof(*out));
	if (n > EML_AGENT_POLICY_FILE_MAX) {
		eml_err_set_detail("policy above %u bytes", EML_AGENT_POLICY_FILE_MAX);
		EML_FAIL(rc, EML_ERR_POLICY_FILE);
	}
	/* JSON_REJECT_DUPLICATES: a second "strict" must not override the first
	 * depending on the parser. */
	root = json_loadb((const char *)p, n, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		eml_err_set_detail("policy is not JSON: line %d: %.80s", jerr.line, jerr.text);
		EML_FAIL(rc, EML_ERR_POLICY_FILE);
	}
	out->max_topology_bytes = DEF_TOPOLOGY;
	out->max_input_bytes = DEF_INPUT;
	out->max_output_bytes = DEF_OUTPUT;
	out->max_weight_bytes = DEF_WEIGHT;
	out->max_nodes = DEF_NODES;
	out->max_tensor_bytes = DEF_TENSOR;
	out->max_arena_bytes = DEF_ARENA;
	out->memory_budget_bytes = DEF_BUDGET;
	out->max_session_bytes = DEF_SESSION;
	if ((rc = parse_root(root, out)) != EML_OK)
		goto out;
	if ((rc = eml_attest_policy_digest(p, n, out->digest)) != EML_OK) {
		rc = eml_err_record(EML_ERR_POLICY_FILE, __FILE__, __LINE__, __func__);
		goto out;
	}
	rc = EML_OK;
out:
	json_decref(root);
	if (rc != EML_OK && out != NULL)
		eml_agent_policy_clear(out);
	return rc;
}

void
eml_agent_policy_clear(struct eml_agent_policy *pol)
{
	if (pol == NULL)
		return;
	eml_trust_free(pol->trust);
	memset(pol, 0, sizeof(*pol));
}

eml_err
eml_agent_policy_load(const char *path, struct eml_agent_policy *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if (path == NULL) {
		rc = eml_agent_policy_parse((const uint8_t *)default_text, strlen(default_text), out);
		goto out;
	}
	rc = eml_file_read(path, EML_AGENT_POLICY_FILE_MAX, 0, &buf, &len);
	if (rc == EML_ERR_FILE_TOO_LARGE)
		rc = EML_ERR_FILE;
	if (rc != EML_OK)
		goto out;
	rc = eml_agent_policy_parse(buf, len, out);
out:
	eml_file_free(buf, len, 0);
	return rc;
}

static bool
id_in(const uint8_t ids[][EML_AGENT_POLICY_ID_LEN], size_t n, const uint8_t *id)
{
	bool found = false;

	/* Constant time per entry: ids are not secret, but the habit is cheap. */
	for (size_t i = 0; i < n; i++)
		found = (sodium_memcmp(ids[i], id, EML_AGENT_POLICY_ID_LEN) == 0) || found;
	return found;
}

bool
eml_agent_policy_pins(const struct eml_agent_policy *pol,
    const uint8_t content_id[EML_AGENT_POLICY_ID_LEN])
{
	return id_in(pol->models, pol->n_models, content_id);
}

eml_err
eml_agent_policy_check_model(const struct eml_agent_policy *pol,
    const uint8_t content_id[EML_AGENT_POLICY_ID_LEN], const uint8_t *signer)
{
	EML_ENSURE_REF(pol);
	EML_ENSURE_REF(content_id);
	/* Pinned, or signed by a publisher the policy names (issue 13): a
	 * signature verified against pol->trust is the other way in. */
	if (pol->n_models != 0 && !id_in(pol->models, pol->n_models, content_id) &&
	    (signer == NULL || pol->trust == NULL)) {
		char hex[2 * EML_AGENT_POLICY_ID_LEN + 1];

		eml_hex_encode(hex, content_id, EML_AGENT_POLICY_ID_LEN);
		eml_err_set_detail("content id %.16s... is not in the policy's models", hex);
		EML_BAIL(EML_ERR_POLICY_MODEL);
	}
	/* The signer was verified against pol->trust by the assembly; a
	 * signature from anyone else never yields a signer. */
	if (pol->strict && (signer == NULL || pol->trust == NULL)) {
		eml_err_set_detail("strict policy: model not signed by an allowed publisher");
		EML_BAIL(EML_ERR_POLICY_UNSIGNED);
	}
	return EML_OK;
}
