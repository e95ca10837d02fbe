#include "model/eml_manifest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "eml_buf.h"
#include "eml_file.h"
#include "eml_json.h"
#include "eml_mem.h"
#include "eml_sort.h"
#include "model/eml_sign.h"

_Static_assert(EML_MANIFEST_ID_LEN == EML_SIG_KEY_ID_LEN, "key id length");

/* Defaults: generous enough for the demo and bench models, small enough
 * that one request cannot exhaust an enclave of a few GiB. */
#define DEF_TOPOLOGY (16ULL << 20)
#define DEF_INPUT (64ULL << 20)
#define DEF_OUTPUT (64ULL << 20)
/* The output data and room for the message around it. */
#define DEF_RESPONSE ((64ULL << 20) + (64ULL << 10))
#define DEF_WEIGHT (2ULL << 30)
#define DEF_NODES 100000ULL
#define DEF_TENSOR (1ULL << 30)
#define DEF_ARENA (2ULL << 30)
#define DEF_BUDGET (4ULL << 30)
#define DEF_SESSION (3ULL << 30)
#define DEF_INFER_MS 60000ULL

static const char default_text[] =
	"{\"version\":1,\"models\":[],\"publishers\":[],\"strict\":false,"
	"\"assembly\":\"request\",\"limits\":{\"max_topology_bytes\":16777216,"
	"\"max_input_bytes\":67108864,\"max_output_bytes\":67108864,"
	"\"max_weight_bytes\":2147483648,\"max_requests\":0,\"max_nodes\":100000,"
	"\"max_tensor_bytes\":1073741824,\"max_arena_bytes\":2147483648,"
	"\"memory_budget_bytes\":4294967296,\"max_session_bytes\":3221225472,"
	"\"max_sessions\":0,\"max_infer_ms\":60000}}\n";

const char *
eml_manifest_default_text(void)
{
	return default_text;
}

static eml_err
parse_ids(json_t *arr, const char *key, uint8_t ids[][EML_MANIFEST_ID_LEN], size_t *n)
{
	size_t i;
	json_t *v;

	*n = 0;
	if (arr == NULL)
		return EML_OK;
	if (!json_is_array(arr) || json_array_size(arr) > EML_MANIFEST_MAX_IDS) {
		eml_err_set_detail("\"%s\" must be an array of at most %u hex ids", key,
		    EML_MANIFEST_MAX_IDS);
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	json_array_foreach(arr, i, v) {
		const char *hex = json_string_value(v);

		if (hex == NULL || strlen(hex) != 2 * EML_MANIFEST_ID_LEN ||
		    eml_hex_decode(ids[i], EML_MANIFEST_ID_LEN, hex) != EML_OK) {
			eml_err_set_detail("\"%s\"[%zu] is not %u bytes of hex", key, i,
			    EML_MANIFEST_ID_LEN);
			EML_BAIL(EML_ERR_POLICY_FILE);
		}
	}
	*n = json_array_size(arr);
	return EML_OK;
}

/* A publisher: a PEM public key, or its key id in hex. */
static eml_err
add_publisher(struct eml_manifest *pol, size_t i, json_t *v)
{
	const char *txt = json_string_value(v);
	uint8_t *id = pol->publisher_ids[i];

	if (txt == NULL)
		goto bad;
	if (json_string_length(v) == 2 * EML_MANIFEST_ID_LEN &&
	    eml_hex_decode(id, EML_MANIFEST_ID_LEN, txt) == EML_OK) {
		if (eml_trust_add_id(pol->trust, id) != EML_OK)
			goto bad;
		return EML_OK;
	}
	if (eml_trust_add_pem(pol->trust, (const uint8_t *)txt, json_string_length(v)) == EML_OK &&
	    eml_sign_pem_key_id((const uint8_t *)txt, json_string_length(v), id) == EML_OK)
		return EML_OK;
bad:
	eml_err_set_detail("\"publishers\"[%zu] is neither a public key PEM (Ed25519, RSA, "
	    "EC P-384) nor a 64-hex key id", i);
	EML_BAIL(EML_ERR_POLICY_FILE);
}

static eml_err
parse_publishers(json_t *arr, struct eml_manifest *pol)
{
	size_t i;
	json_t *v;

	if (arr == NULL)
		return EML_OK;
	if (!json_is_array(arr) || json_array_size(arr) > EML_MANIFEST_MAX_IDS) {
		eml_err_set_detail("\"publishers\" must be an array of at most %u keys",
		    EML_MANIFEST_MAX_IDS);
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	if (json_array_size(arr) == 0)
		return EML_OK;
	pol->trust = eml_trust_new();
	EML_ENSURE(pol->trust != NULL, EML_ERR_NOMEM);
	json_array_foreach(arr, i, v) {
		EML_GUARD(add_publisher(pol, i, v));
		/* A key listed twice would be one signer counted twice. */
		for (size_t j = 0; j < i; j++) {
			if (memcmp(pol->publisher_ids[j], pol->publisher_ids[i],
			    EML_MANIFEST_ID_LEN) == 0) {
				eml_err_set_detail("\"publishers\"[%zu] repeats [%zu]", i, j);
				EML_BAIL(EML_ERR_POLICY_FILE);
			}
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
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > EML_MANIFEST_LIMIT_MAX) {
		eml_err_set_detail("limits.%s must be an integer from 0 to 2^53-1", key);
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
parse_limits(json_t *limits, struct eml_manifest *pol)
{
	static const char *const keys[] = { "max_topology_bytes", "max_input_bytes",
		"max_output_bytes", "max_response_bytes", "max_weight_bytes", "max_requests",
		"max_requests_per_minute", "max_nodes", "max_tensor_bytes", "max_arena_bytes",
		"memory_budget_bytes", "max_session_bytes", "max_sessions", "max_infer_ms", NULL };

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
	EML_GUARD(parse_limit(limits, "max_response_bytes", &pol->max_response_bytes));
	EML_GUARD(parse_limit(limits, "max_requests", &pol->max_requests));
	EML_GUARD(parse_limit(limits, "max_requests_per_minute", &pol->max_requests_per_minute));
	EML_GUARD(parse_limit(limits, "max_nodes", &pol->max_nodes));
	EML_GUARD(parse_limit(limits, "max_tensor_bytes", &pol->max_tensor_bytes));
	EML_GUARD(parse_limit(limits, "max_arena_bytes", &pol->max_arena_bytes));
	EML_GUARD(parse_limit(limits, "memory_budget_bytes", &pol->memory_budget_bytes));
	EML_GUARD(parse_limit(limits, "max_session_bytes", &pol->max_session_bytes));
	EML_GUARD(parse_limit(limits, "max_sessions", &pol->max_sessions));
	EML_GUARD(parse_limit(limits, "max_infer_ms", &pol->max_infer_ms));
	if (pol->max_topology_bytes == 0 || pol->max_input_bytes == 0 ||
	    pol->max_output_bytes == 0 || pol->max_response_bytes == 0 ||
	    pol->max_weight_bytes == 0 || pol->max_nodes == 0 ||
	    pol->max_tensor_bytes == 0 || pol->max_arena_bytes == 0 ||
	    pol->memory_budget_bytes == 0 || pol->max_session_bytes == 0 ||
	    pol->max_infer_ms == 0) {
		eml_err_set_detail("size and time limits must be positive");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	return EML_OK;
}

static eml_err
parse_ops(json_t *arr, struct eml_manifest *pol)
{
	size_t i;
	json_t *v;

	if (arr == NULL || json_is_null(arr))
		return EML_OK;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > EML_MANIFEST_MAX_OPS) {
		eml_err_set_detail("\"ops\" must be an array of 1 to %u operator names",
		    EML_MANIFEST_MAX_OPS);
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	json_array_foreach(arr, i, v) {
		const char *op = json_string_value(v);

		if (op == NULL || op[0] == '\0' || json_string_length(v) >= EML_MANIFEST_OP_LEN ||
		    strlen(op) != json_string_length(v)) {
			eml_err_set_detail("\"ops\"[%zu] is not an operator name", i);
			EML_BAIL(EML_ERR_POLICY_FILE);
		}
		memcpy(pol->ops[i], op, json_string_length(v) + 1);
		for (size_t j = 0; j < i; j++) {
			if (strcmp(pol->ops[j], op) == 0) {
				eml_err_set_detail("\"ops\"[%zu] repeats [%zu]", i, j);
				EML_BAIL(EML_ERR_POLICY_FILE);
			}
		}
	}
	pol->n_ops = json_array_size(arr);
	return EML_OK;
}

static eml_err
parse_dtype(json_t *v, enum eml_dtype *out)
{
	const char *name = json_string_value(v);

	for (int dt = EML_DT_FLOAT; name != NULL && dt <= EML_DT_BFLOAT16; dt++) {
		if (eml_dtype_size((enum eml_dtype)dt) != 0 &&
		    strcmp(eml_dtype_name((enum eml_dtype)dt), name) == 0) {
			*out = (enum eml_dtype)dt;
			return EML_OK;
		}
	}
	return EML_ERR_POLICY_FILE;
}

static eml_err
parse_schema(json_t *arr, struct eml_manifest *pol)
{
	static const char *const keys[] = { "dtype", "shape", NULL };
	size_t i, j;
	json_t *v, *d;

	if (arr == NULL || json_is_null(arr))
		return EML_OK;
	if (!json_is_array(arr) || json_array_size(arr) == 0 ||
	    json_array_size(arr) > EML_MANIFEST_MAX_SCHEMA) {
		eml_err_set_detail("\"output_schema\" must be null or an array of 1 to %u outputs",
		    EML_MANIFEST_MAX_SCHEMA);
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	json_array_foreach(arr, i, v) {
		struct eml_manifest_out *o = &pol->schema[i];
		json_t *shape = json_object_get(v, "shape");

		if (!json_is_object(v) || check_keys(v, keys, "output_schema") != EML_OK ||
		    parse_dtype(json_object_get(v, "dtype"), &o->dtype) != EML_OK ||
		    !json_is_array(shape) || json_array_size(shape) > EML_MAX_RANK) {
			eml_err_set_detail("\"output_schema\"[%zu] must be {\"dtype\": a type name, "
			    "\"shape\": at most %d dimensions}", i, EML_MAX_RANK);
			EML_BAIL(EML_ERR_POLICY_FILE);
		}
		json_array_foreach(shape, j, d) {
			if (!json_is_integer(d) || json_integer_value(d) < 0 ||
			    (uint64_t)json_integer_value(d) > EML_MANIFEST_LIMIT_MAX) {
				eml_err_set_detail("\"output_schema\"[%zu].shape[%zu] is not a dimension",
				    i, j);
				EML_BAIL(EML_ERR_POLICY_FILE);
			}
			o->dims[j] = (int64_t)json_integer_value(d);
		}
		o->rank = (int)json_array_size(shape);
	}
	pol->n_schema = json_array_size(arr);
	return EML_OK;
}

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, EML_MANIFEST_ID_LEN);
}

static int
cmp_op(const void *a, const void *b)
{
	return strcmp(a, b);
}

/* models, publishers and ops are sets: kept sorted, so their order in the
 * file changes neither the effective manifest nor its digest. */
static void
sort_sets(struct eml_manifest *pol)
{
	eml_sort(pol->models, pol->n_models, EML_MANIFEST_ID_LEN, cmp_id);
	eml_sort(pol->publisher_ids, pol->n_publishers, EML_MANIFEST_ID_LEN, cmp_id);
	eml_sort(pol->ops, pol->n_ops, EML_MANIFEST_OP_LEN, cmp_op);
}

static eml_err
parse_root(json_t *root, struct eml_manifest *pol)
{
	static const char *const keys[] = { "version", "models", "publishers", "strict",
		"assembly", "limits", "ops", "output", "output_schema", NULL };
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
	v = json_object_get(root, "output");
	if (v != NULL && !(json_is_string(v) && strcmp(json_string_value(v), "declared") == 0)) {
		eml_err_set_detail("\"output\" must be \"declared\" (the only output rule)");
		EML_BAIL(EML_ERR_POLICY_FILE);
	}
	pol->output = EML_OUTPUT_DECLARED;
	EML_GUARD(parse_schema(json_object_get(root, "output_schema"), pol));
	return parse_limits(json_object_get(root, "limits"), pol);
}

static json_t *
hex_array(const uint8_t ids[][EML_MANIFEST_ID_LEN], size_t n)
{
	json_t *arr = json_array();
	char hex[2 * EML_MANIFEST_ID_LEN + 1];

	for (size_t i = 0; arr != NULL && i < n; i++) {
		eml_hex_encode(hex, ids[i], EML_MANIFEST_ID_LEN);
		if (json_array_append_new(arr, json_string(hex)) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* Every value below is at most 2^53 - 1 (parse_limit), so the int64 json
 * integer is exact and so is its canonical (double) form. */
static int
set_u64(json_t *o, const char *key, uint64_t v)
{
	return json_object_set_new(o, key, json_integer((json_int_t)v));
}

static json_t *
limits_json(const struct eml_manifest *pol)
{
	json_t *o = json_object();

	if (o == NULL || set_u64(o, "max_topology_bytes", pol->max_topology_bytes) != 0 ||
	    set_u64(o, "max_input_bytes", pol->max_input_bytes) != 0 ||
	    set_u64(o, "max_output_bytes", pol->max_output_bytes) != 0 ||
	    set_u64(o, "max_response_bytes", pol->max_response_bytes) != 0 ||
	    set_u64(o, "max_weight_bytes", pol->max_weight_bytes) != 0 ||
	    set_u64(o, "max_requests", pol->max_requests) != 0 ||
	    set_u64(o, "max_requests_per_minute", pol->max_requests_per_minute) != 0 ||
	    set_u64(o, "max_nodes", pol->max_nodes) != 0 ||
	    set_u64(o, "max_tensor_bytes", pol->max_tensor_bytes) != 0 ||
	    set_u64(o, "max_arena_bytes", pol->max_arena_bytes) != 0 ||
	    set_u64(o, "memory_budget_bytes", pol->memory_budget_bytes) != 0 ||
	    set_u64(o, "max_session_bytes", pol->max_session_bytes) != 0 ||
	    set_u64(o, "max_sessions", pol->max_sessions) != 0 ||
	    set_u64(o, "max_infer_ms", pol->max_infer_ms) != 0) {
		json_decref(o);
		return NULL;
	}
	return o;
}

static json_t *
ops_json(const struct eml_manifest *pol)
{
	json_t *arr;

	if (pol->n_ops == 0)
		return json_null();
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < pol->n_ops; i++) {
		if (json_array_append_new(arr, json_string(pol->ops[i])) != 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *
schema_json(const struct eml_manifest *pol)
{
	json_t *arr;

	if (pol->n_schema == 0)
		return json_null();
	arr = json_array();
	for (size_t i = 0; arr != NULL && i < pol->n_schema; i++) {
		const struct eml_manifest_out *o = &pol->schema[i];
		json_t *shape = json_array();
		json_t *e = json_object();
		bool ok = shape != NULL && e != NULL;

		for (int j = 0; ok && j < o->rank; j++)
			ok = json_array_append_new(shape, json_integer((json_int_t)o->dims[j])) == 0;
		ok = ok && json_object_set_new(e, "dtype", json_string(eml_dtype_name(o->dtype))) == 0;
		ok = ok && json_object_set(e, "shape", shape) == 0;
		ok = ok && json_array_append(arr, e) == 0;
		json_decref(shape);
		json_decref(e);
		if (!ok) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

eml_err
eml_manifest_json(const struct eml_manifest *pol, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	json_t *root = NULL;
	char *text = NULL;

	EML_ENSURE_REF(pol);
	EML_ENSURE_REF(out);
	root = json_object();
	if (root == NULL || set_u64(root, "version", 1) != 0 ||
	    json_object_set_new(root, "models", hex_array(pol->models, pol->n_models)) != 0 ||
	    json_object_set_new(root, "publishers",
	    hex_array(pol->publisher_ids, pol->n_publishers)) != 0 ||
	    json_object_set_new(root, "strict", json_boolean(pol->strict)) != 0 ||
	    json_object_set_new(root, "assembly", json_string(pol->assembly ==
	    EML_ASSEMBLY_PER_SESSION ? "session" : "request")) != 0 ||
	    json_object_set_new(root, "limits", limits_json(pol)) != 0 ||
	    json_object_set_new(root, "ops", ops_json(pol)) != 0 ||
	    json_object_set_new(root, "output", json_string("declared")) != 0 ||
	    json_object_set_new(root, "output_schema", schema_json(pol)) != 0)
		EML_FAIL(rc, EML_ERR_NOMEM);
	text = json_dumps(root, JSON_COMPACT);
	if (text == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	/* jansson's text in any order, then the one canonical form. */
	rc = eml_json_canonicalize((const uint8_t *)text, strlen(text), out);
out:
	if (text != NULL) {
		json_free_t jfree = NULL;

		json_get_alloc_funcs(NULL, &jfree);
		jfree(text);
	}
	json_decref(root);
	return rc;
}

static eml_err
manifest_digest(struct eml_manifest *pol)
{
	eml_err rc;
	struct eml_buf b;

	eml_buf_init(&b, EML_JSON_DIGEST_MAX);
	rc = eml_manifest_json(pol, &b);
	if (rc == EML_OK)
		rc = eml_json_domain_sha256(EML_MANIFEST_DOMAIN, b.data, b.len, pol->digest);
	eml_buf_free_nowipe(&b);
	return rc;
}

eml_err
eml_manifest_parse(const uint8_t *p, size_t n, struct eml_manifest *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	json_t *root = NULL;
	json_error_t jerr;

	if (out == NULL || (p == NULL && n != 0))
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	memset(out, 0, sizeof(*out));
	if (n > EML_MANIFEST_FILE_MAX) {
		eml_err_set_detail("policy above %u bytes", EML_MANIFEST_FILE_MAX);
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
	out->max_response_bytes = DEF_RESPONSE;
	out->max_weight_bytes = DEF_WEIGHT;
	out->max_nodes = DEF_NODES;
	out->max_tensor_bytes = DEF_TENSOR;
	out->max_arena_bytes = DEF_ARENA;
	out->memory_budget_bytes = DEF_BUDGET;
	out->max_session_bytes = DEF_SESSION;
	out->max_infer_ms = DEF_INFER_MS;
	if ((rc = parse_root(root, out)) != EML_OK)
		goto out;
	sort_sets(out);
	if ((rc = manifest_digest(out)) != EML_OK)
		goto out;
	rc = EML_OK;
out:
	json_decref(root);
	if (rc != EML_OK && out != NULL)
		eml_manifest_clear(out);
	return rc;
}

void
eml_manifest_clear(struct eml_manifest *pol)
{
	if (pol == NULL)
		return;
	eml_trust_free(pol->trust);
	memset(pol, 0, sizeof(*pol));
}

eml_err
eml_manifest_load(const char *path, struct eml_manifest *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if (path == NULL) {
		rc = eml_manifest_parse((const uint8_t *)default_text, strlen(default_text), out);
		goto out;
	}
	rc = eml_file_read(path, EML_MANIFEST_FILE_MAX, 0, &buf, &len);
	if (rc == EML_ERR_FILE_TOO_LARGE)
		rc = EML_ERR_FILE;
	if (rc != EML_OK)
		goto out;
	rc = eml_manifest_parse(buf, len, out);
out:
	eml_file_free(buf, len, 0);
	return rc;
}

static bool
id_in(const uint8_t ids[][EML_MANIFEST_ID_LEN], size_t n, const uint8_t *id)
{
	bool found = false;

	/* Constant time per entry: ids are not secret, but the habit is cheap. */
	for (size_t i = 0; i < n; i++)
		found = (sodium_memcmp(ids[i], id, EML_MANIFEST_ID_LEN) == 0) || found;
	return found;
}

bool
eml_manifest_pins(const struct eml_manifest *pol,
    const uint8_t content_id[EML_MANIFEST_ID_LEN])
{
	return id_in(pol->models, pol->n_models, content_id);
}

eml_err
eml_manifest_check_model(const struct eml_manifest *pol,
    const uint8_t content_id[EML_MANIFEST_ID_LEN], const uint8_t *signer)
{
	EML_ENSURE_REF(pol);
	EML_ENSURE_REF(content_id);
	/* Pinned, or signed by a publisher the policy names (issue 13): a
	 * signature verified against pol->trust is the other way in. */
	if (pol->n_models != 0 && !id_in(pol->models, pol->n_models, content_id) &&
	    (signer == NULL || pol->trust == NULL)) {
		char hex[2 * EML_MANIFEST_ID_LEN + 1];

		eml_hex_encode(hex, content_id, EML_MANIFEST_ID_LEN);
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

eml_err
eml_manifest_check_outputs(const struct eml_manifest *pol, const struct eml_tensor *outputs,
    size_t n)
{
	EML_ENSURE_REF(pol);
	if (pol->n_schema == 0)
		return EML_OK;
	EML_ENSURE_REF(outputs);
	if (n != pol->n_schema) {
		eml_err_set_detail("%zu outputs, the policy's output_schema fixes %zu", n,
		    pol->n_schema);
		EML_BAIL(EML_ERR_EGRESS);
	}
	for (size_t i = 0; i < n; i++) {
		const struct eml_manifest_out *o = &pol->schema[i];
		bool same = outputs[i].dtype == o->dtype && outputs[i].rank == o->rank;

		for (int j = 0; same && j < o->rank; j++)
			same = outputs[i].dims[j] == o->dims[j];
		if (!same) {
			eml_err_set_detail("output %zu: type or shape differs from the policy's "
			    "output_schema", i);
			EML_BAIL(EML_ERR_EGRESS);
		}
	}
	return EML_OK;
}
