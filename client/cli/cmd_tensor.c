/*
 * eml tensor make [--shape 1,3,224,224] [--dtype float32] [--model M.onnx
 *                 [--input NAME]] --from FILE.npy|FILE.json|FILE|random|zeros
 *                 [--seed N] [--name NAME] -o input_0.pb
 * eml tensor show FILE.pb [--json]
 *
 * Inputs for `eml run --local` and `eml infer` without writing Python:
 * ONNX TensorProto files from a NumPy .npy file (client/owner/npy.c, the
 * bounded reader), a JSON array of numbers (nested or flat), raw
 * little-endian bytes, random values or zeros; the shape, type and name
 * can come from the model's declared input.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "client/owner/npy.h"
#include "client/owner/onnx_import.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "eml_num.h"
#include "model/eml_onnx_tensor.h"

static const struct {
	const char *name;
	enum eml_dtype dt;
} dtypes[] = {
	{ "float32", EML_DT_FLOAT }, { "float", EML_DT_FLOAT }, { "float64", EML_DT_DOUBLE },
	{ "float16", EML_DT_FLOAT16 }, { "int64", EML_DT_INT64 }, { "int32", EML_DT_INT32 },
	{ "int16", EML_DT_INT16 }, { "int8", EML_DT_INT8 }, { "uint8", EML_DT_UINT8 },
	{ "uint16", EML_DT_UINT16 }, { "uint32", EML_DT_UINT32 }, { "uint64", EML_DT_UINT64 },
	{ "bool", EML_DT_BOOL },
};

static bool
dtype_of(const char *s, enum eml_dtype *dt)
{
	for (size_t k = 0; k < sizeof(dtypes) / sizeof(dtypes[0]); k++) {
		if (strcmp(s, dtypes[k].name) == 0) {
			*dt = dtypes[k].dt;
			return true;
		}
	}
	return false;
}

/* "1,3,224,224" (or "" for a scalar) into t's rank and dims. */
static bool
shape_of(const char *s, struct eml_tensor *t)
{
	t->rank = 0;
	while (*s != '\0') {
		size_t n = strcspn(s, ",");
		uint64_t v;

		if (t->rank == EML_MAX_RANK || eml_num_u64n(s, n, 0, 1u << 30, &v) != EML_OK)
			return false;
		t->dims[t->rank++] = (int64_t)v;
		s += n;
		if (*s == ',' && *++s == '\0')
			return false;
	}
	return true;
}

static size_t
numel(const struct eml_tensor *t)
{
	size_t n = 1;

	for (int d = 0; d < t->rank; d++)
		n *= (size_t)t->dims[d];
	return n;
}

/* float -> IEEE half, round to nearest even (enough for test inputs). */
static uint16_t
to_half(float f)
{
	uint32_t x;
	uint32_t sign, exp, man;

	memcpy(&x, &f, 4);
	sign = (x >> 16) & 0x8000u;
	exp = (x >> 23) & 0xffu;
	man = x & 0x7fffffu;
	if (exp == 0xff)
		return (uint16_t)(sign | 0x7c00u | (man != 0 ? 0x200u : 0));
	if (exp > 142)
		return (uint16_t)(sign | 0x7c00u);
	if (exp < 113)
		return (uint16_t)sign; /* flush tiny values to zero */
	man += 0xfffu + ((man >> 13) & 1u);
	if (man & 0x800000u) {
		man = 0;
		exp++;
	}
	if (exp > 142)
		return (uint16_t)(sign | 0x7c00u);
	return (uint16_t)(sign | ((exp - 112) << 10) | (man >> 13));
}

/* Element i of t set from a double. */
static void
put(struct eml_tensor *t, size_t i, double v)
{
	uint8_t *p = (uint8_t *)t->data + i * eml_dtype_size(t->dtype);

	switch (t->dtype) {
	case EML_DT_FLOAT: {
		float f = (float)v;
		memcpy(p, &f, 4);
		break;
	}
	case EML_DT_DOUBLE:
		memcpy(p, &v, 8);
		break;
	case EML_DT_FLOAT16: {
		uint16_t h = to_half((float)v);
		memcpy(p, &h, 2);
		break;
	}
	case EML_DT_INT64:
	case EML_DT_UINT64: {
		int64_t x = (int64_t)v;
		memcpy(p, &x, 8);
		break;
	}
	case EML_DT_INT32:
	case EML_DT_UINT32: {
		int32_t x = (int32_t)v;
		memcpy(p, &x, 4);
		break;
	}
	case EML_DT_INT16:
	case EML_DT_UINT16: {
		int16_t x = (int16_t)v;
		memcpy(p, &x, 2);
		break;
	}
	case EML_DT_BOOL:
		*p = v != 0;
		break;
	default:
		*p = (uint8_t)(int)v;
		break;
	}
}

static double
get(const struct eml_tensor *t, size_t i)
{
	const uint8_t *p = (const uint8_t *)t->data + i * eml_dtype_size(t->dtype);

	switch (t->dtype) {
	case EML_DT_FLOAT: {
		float f;
		memcpy(&f, p, 4);
		return (double)f;
	}
	case EML_DT_DOUBLE: {
		double d;
		memcpy(&d, p, 8);
		return d;
	}
	case EML_DT_INT64: {
		int64_t x;
		memcpy(&x, p, 8);
		return (double)x;
	}
	case EML_DT_INT32: {
		int32_t x;
		memcpy(&x, p, 4);
		return (double)x;
	}
	case EML_DT_INT8:
		return (double)(int8_t)*p;
	case EML_DT_UINT8:
	case EML_DT_BOOL:
		return (double)*p;
	default:
		return NAN;
	}
}

/* Fresh owned data for t's shape and type. */
static eml_err
alloc_data(struct eml_tensor *t)
{
	size_t n = numel(t), sz = eml_dtype_size(t->dtype);

	EML_ENSURE(sz > 0, EML_ERR_ONNX_DTYPE);
	if (n > EML_NPY_DATA_MAX / sz) {
		eml_err_set_detail("tensor above %zu bytes", EML_NPY_DATA_MAX);
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	t->nbytes = n * sz;
	t->data = eml_secure_alloc(t->nbytes == 0 ? 1 : t->nbytes);
	EML_ENSURE(t->data != NULL, EML_ERR_NOMEM);
	memset(t->data, 0, t->nbytes == 0 ? 1 : t->nbytes);
	t->owned = true;
	return EML_OK;
}

eml_err
eml_cli_tensor_fill(struct eml_tensor *t, bool random, uint64_t seed)
{
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;

	EML_GUARD(alloc_data(t));
	if (!random)
		return EML_OK;
	for (size_t i = 0; i < numel(t); i++) {
		double u;

		/* xorshift64*: reproducible for a seed, not for secrets */
		s ^= s >> 12;
		s ^= s << 25;
		s ^= s >> 27;
		u = (double)((s * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
		if (t->dtype == EML_DT_FLOAT || t->dtype == EML_DT_DOUBLE ||
		    t->dtype == EML_DT_FLOAT16)
			put(t, i, 2.0 * u - 1.0);
		else if (t->dtype == EML_DT_BOOL)
			put(t, i, u < 0.5 ? 0 : 1);
		else
			put(t, i, floor(u * 100.0));
	}
	return EML_OK;
}

eml_err
eml_cli_tensor_from_input(const struct eml_value_info *vi, struct eml_tensor *t, bool *symbolic)
{
	memset(t, 0, sizeof(*t));
	*symbolic = false;
	if (vi->rank < 0 || vi->rank > EML_MAX_RANK) {
		eml_err_set_detail("input %s has no declared shape: give --shape", vi->name);
		EML_BAIL(EML_ERR_INFER_INPUT);
	}
	t->dtype = vi->dtype;
	t->rank = vi->rank;
	for (int d = 0; d < vi->rank; d++) {
		/* A symbolic dimension becomes 1 (batch, sequence), except the
		 * height and width of an image input (rank 4, NCHW): 224, what
		 * most vision models take and enough for their pooling. */
		bool spatial = vi->rank == 4 && d >= 2;

		t->dims[d] = vi->dims[d].value >= 0 ? vi->dims[d].value : spatial ? 224 : 1;
		*symbolic |= vi->dims[d].value < 0;
	}
	return EML_OK;
}

/* Numbers of a JSON array, nested or flat, appended in row-major order;
 * the shape of a regular nesting into t when t has none. */
static eml_err
json_numbers(json_t *a, struct eml_tensor *t, int depth, size_t *at, bool set_shape)
{
	size_t n = json_array_size(a);

	if (!json_is_array(a) || depth >= EML_MAX_RANK) {
		eml_err_set_detail("JSON: want nested arrays of numbers");
		EML_BAIL(EML_ERR_JSON);
	}
	if (set_shape) {
		if (depth == t->rank) {
			t->dims[t->rank++] = (int64_t)n;
		} else if (t->dims[depth] != (int64_t)n) {
			eml_err_set_detail("JSON: ragged array at depth %d", depth);
			EML_BAIL(EML_ERR_JSON);
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_t *v = json_array_get(a, i);

		if (json_is_array(v)) {
			EML_GUARD(json_numbers(v, t, depth + 1, at, set_shape));
			continue;
		}
		if (!json_is_number(v) && !json_is_boolean(v)) {
			eml_err_set_detail("JSON: element %zu is not a number", *at);
			EML_BAIL(EML_ERR_JSON);
		}
		if (t->data != NULL) {
			if (*at >= numel(t)) {
				eml_err_set_detail("JSON: more numbers than the shape holds");
				EML_BAIL(EML_ERR_INFER_SHAPE);
			}
			put(t, *at, json_is_boolean(v) ? (double)json_is_true(v) : json_number_value(v));
		}
		(*at)++;
	}
	return EML_OK;
}

static eml_err
from_json(const char *path, struct eml_tensor *t, bool have_shape)
{
	uint8_t *text = NULL;
	size_t n = 0, count = 0;
	json_error_t jerr;
	json_t *root;
	eml_err rc;

	EML_GUARD(eml_file_read(path, 256u << 20, EML_FILE_NONEMPTY, &text, &n));
	root = json_loadb((const char *)text, n, JSON_REJECT_DUPLICATES, &jerr);
	eml_file_free(text, n, 0);
	if (root == NULL) {
		eml_err_set_detail("%s: JSON line %d: %s", path, jerr.line, jerr.text);
		EML_BAIL(EML_ERR_JSON);
	}
	if (!have_shape)
		t->rank = 0;
	/* first pass: count (and the shape); second: the values */
	rc = json_numbers(root, t, 0, &count, !have_shape);
	if (rc == EML_OK && count != numel(t)) {
		eml_err_set_detail("%s: %zu numbers, the shape holds %zu", path, count, numel(t));
		rc = EML_ERR_INFER_SHAPE;
	}
	if (rc == EML_OK)
		rc = alloc_data(t);
	count = 0;
	if (rc == EML_OK)
		rc = json_numbers(root, t, 0, &count, false);
	json_decref(root);
	return rc;
}

static eml_err
from_raw(const char *path, struct eml_tensor *t)
{
	uint8_t *p = NULL;
	size_t n = 0;
	eml_err rc;

	EML_GUARD(alloc_data(t));
	rc = eml_file_read(path, EML_NPY_DATA_MAX, EML_FILE_SECRET, &p, &n);
	if (rc == EML_OK && n != t->nbytes) {
		eml_err_set_detail("%s: %zu bytes, %s [shape] needs %zu", path, n,
		    eml_dtype_name(t->dtype), t->nbytes);
		rc = EML_ERR_INFER_SHAPE;
	}
	if (rc == EML_OK && n > 0)
		EML_MEMCPY(t->data, p, n);
	eml_file_free(p, n, EML_FILE_SECRET);
	return rc;
}

/* .npy: its own shape and type, which --shape and --dtype must agree with. */
static eml_err
from_npy(const char *path, struct eml_tensor *t, bool have_shape, bool have_dtype)
{
	struct eml_tensor f;
	uint8_t *p = NULL;
	size_t n = 0;
	eml_err rc;

	EML_GUARD(eml_file_read(path, EML_NPY_DATA_MAX + EML_NPY_HEADER_MAX + 16, EML_FILE_SECRET,
	    &p, &n));
	rc = eml_npy_read(p, n, &f);
	eml_file_free(p, n, EML_FILE_SECRET);
	if (rc != EML_OK)
		return rc;
	if ((have_dtype && f.dtype != t->dtype) ||
	    (have_shape && (f.rank != t->rank ||
			       memcmp(f.dims, t->dims, (size_t)f.rank * sizeof(f.dims[0])) != 0))) {
		eml_tensor_clear(&f);
		eml_err_set_detail("%s: its shape or type is not the one given", path);
		EML_BAIL(EML_ERR_INFER_SHAPE);
	}
	f.name = t->name;
	*t = f;
	return EML_OK;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* The declared input of --model (by --input NAME, else the first). */
static int
model_input(const struct eml_args *a, struct eml_tensor *t, const char **name)
{
	const char *want = eml_args_str(a, "input");
	struct eml_graph *g = NULL;
	const struct eml_value_info *vi = NULL;
	bool symbolic = false;
	eml_err rc;

	if ((rc = eml_onnx_import_file(eml_args_str(a, "model"), &g)) != EML_OK)
		return eml_cli_fail(eml_args_str(a, "model"), rc);
	for (size_t i = 0; i < g->n_inputs && vi == NULL; i++)
		if (want == NULL || strcmp(g->inputs[i].name, want) == 0)
			vi = &g->inputs[i];
	if (vi == NULL) {
		eml_graph_free(g);
		return eml_args_usage(a, "--input %s: the model has no such input",
		    want != NULL ? want : "");
	}
	rc = eml_cli_tensor_from_input(vi, t, &symbolic);
	if (rc == EML_OK && *name == NULL) {
		static char keep[EML_ONNX_MAX_NAME + 1];

		(void)snprintf(keep, sizeof(keep), "%s", vi->name);
		*name = keep;
	}
	if (symbolic)
		fprintf(stderr, "eml tensor make: symbolic dimensions of %s set to 1 (224 for the height and width of an image)\n", vi->name);
	eml_graph_free(g);
	return rc == EML_OK ? 0 : eml_cli_fail("tensor make", rc);
}

static int
cmd_make(const struct eml_args *a)
{
	const char *from = eml_args_str(a, "from"), *out = eml_args_str(a, "out");
	const char *name = eml_args_str(a, "name"), *v;
	struct eml_tensor t;
	bool have_shape = false, have_dtype = false;
	eml_err rc;
	int st;

	memset(&t, 0, sizeof(t));
	t.dtype = EML_DT_FLOAT;
	if (eml_args_has(a, "model") && (st = model_input(a, &t, &name)) != 0)
		return st;
	have_shape = have_dtype = eml_args_has(a, "model");
	if ((v = eml_args_str(a, "shape")) != NULL) {
		if (!shape_of(v, &t))
			return eml_args_usage(a, "--shape: comma-separated dimensions, e.g. 1,3,224,224");
		have_shape = true;
	}
	if ((v = eml_args_str(a, "dtype")) != NULL) {
		if (!dtype_of(v, &t.dtype))
			return eml_args_usage(a, "--dtype: float32, float64, float16, int64, int32, "
						 "int16, int8, uint8, uint16, uint32, uint64 or bool");
		have_dtype = true;
	}
	if (strcmp(from, "random") == 0 || strcmp(from, "zeros") == 0) {
		if (!have_shape)
			return eml_args_usage(a, "--from %s needs --shape (or --model)", from);
		rc = eml_cli_tensor_fill(&t, from[0] == 'r', eml_args_u64(a, "seed", 1));
	} else if (ends_with(from, ".npy")) {
		rc = from_npy(from, &t, have_shape, have_dtype);
	} else if (ends_with(from, ".json")) {
		rc = from_json(from, &t, have_shape);
	} else {
		if (!have_shape)
			return eml_args_usage(a, "raw bytes from %s need --shape and --dtype", from);
		rc = from_raw(from, &t);
	}
	if (rc != EML_OK) {
		eml_tensor_clear(&t);
		return eml_cli_fail(from, rc);
	}
	t.name = (char *)(uintptr_t)(name != NULL ? name : "input");
	rc = eml_onnx_tensor_write_file(&t, out);
	if (rc == EML_OK) {
		printf("%s: %s %s [", out, t.name, eml_dtype_name(t.dtype));
		for (int d = 0; d < t.rank; d++)
			printf("%s%lld", d ? "," : "", (long long)t.dims[d]);
		printf("], %zu bytes\n", t.nbytes);
	}
	t.name = NULL; /* not ours to free */
	eml_tensor_clear(&t);
	return rc == EML_OK ? 0 : eml_cli_fail(out, rc);
}

static int
cmd_show(const struct eml_args *a)
{
	struct eml_tensor t;
	size_t n;
	double lo = INFINITY, hi = -INFINITY, sum = 0;
	bool numeric;
	eml_err rc;

	if ((rc = eml_onnx_tensor_read_file(a->pos[0], &t)) != EML_OK)
		return eml_cli_fail(a->pos[0], rc);
	n = numel(&t);
	numeric = !isnan(get(&t, 0)) || n == 0;
	for (size_t i = 0; numeric && i < n; i++) {
		double x = get(&t, i);

		lo = x < lo ? x : lo;
		hi = x > hi ? x : hi;
		sum += x;
	}
	if (eml_args_has(a, "json")) {
		json_t *o = json_object(), *shape = json_array(), *first = json_array();

		json_object_set_new(o, "name", json_string(t.name != NULL ? t.name : ""));
		json_object_set_new(o, "dtype", json_string(eml_dtype_name(t.dtype)));
		for (int d = 0; d < t.rank; d++)
			json_array_append_new(shape, json_integer((json_int_t)t.dims[d]));
		json_object_set_new(o, "shape", shape);
		json_object_set_new(o, "elements", json_integer((json_int_t)n));
		json_object_set_new(o, "bytes", json_integer((json_int_t)t.nbytes));
		for (size_t i = 0; numeric && i < n && i < 8; i++)
			json_array_append_new(first, json_real(get(&t, i)));
		json_object_set_new(o, "first", first);
		if (numeric && n > 0) {
			json_object_set_new(o, "min", json_real(lo));
			json_object_set_new(o, "max", json_real(hi));
			json_object_set_new(o, "mean", json_real(sum / (double)n));
		}
		(void)json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
		json_decref(o);
	} else {
		printf("%s  %s [", t.name != NULL && t.name[0] != '\0' ? t.name : "(unnamed)",
		    eml_dtype_name(t.dtype));
		for (int d = 0; d < t.rank; d++)
			printf("%s%lld", d ? "," : "", (long long)t.dims[d]);
		printf("]  %zu elements, %zu bytes\n", n, t.nbytes);
		if (numeric && n > 0) {
			printf("  min %.6g  max %.6g  mean %.6g\n  first", lo, hi, sum / (double)n);
			for (size_t i = 0; i < n && i < 8; i++)
				printf(" %.6g", get(&t, i));
			printf("%s\n", n > 8 ? " ..." : "");
		}
	}
	eml_tensor_clear(&t);
	return 0;
}

static const struct eml_opt make_opts[] = {
	{ "from", 0, EML_OPT_STR, "SOURCE",
	    "FILE.npy, FILE.json (an array of numbers, nested or flat), a raw little-endian "
	    "FILE, random (uniform in [-1, 1) for floats) or zeros",
	    0, 0, NULL, EML_OPT_REQUIRED },
	{ "out", 'o', EML_OPT_FILE, "FILE.pb", "the ONNX TensorProto to write", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	{ "shape", 's', EML_OPT_STR, "D0,D1,...", "dimensions (from the .npy, the JSON nesting "
	    "or --model when not given)", 0, 0, NULL, 0 },
	{ "dtype", 'd', EML_OPT_STR, "TYPE", "float32 (default), float64, float16, int64, int32, "
	    "int16, int8, uint8, uint16, uint32, uint64, bool", 0, 0, NULL, 0 },
	{ "model", 'm', EML_OPT_FILE, "MODEL.onnx", "take the shape, type and name from the "
	    "model's declared input (symbolic dimensions become 1)", 0, 0, NULL, 0 },
	{ "input", 0, EML_OPT_STR, "NAME", "with --model: which input (default the first)", 0, 0,
	    NULL, 0 },
	{ "name", 'n', EML_OPT_STR, "NAME", "the tensor's name (default: the model input's, "
	    "else input)", 0, 0, NULL, 0 },
	{ "seed", 0, EML_OPT_U64, "N", "--from random: the seed (1)", 0, UINT64_MAX, NULL, 0 },
};
static const struct eml_opt show_opts[] = {
	{ "json", 0, EML_OPT_FLAG, NULL, "one JSON document on stdout", 0, 0, NULL, 0 },
};

static const struct eml_cmd make_cmd = { .name = "make",
	.summary = "write an input tensor (.pb) from a .npy, JSON or raw file, random values or "
		   "zeros",
	.opts = make_opts, .n_opts = EML_OPT_N(make_opts), .run = cmd_make };
static const struct eml_cmd show_cmd = { .name = "show", .args = "FILE.pb",
	.summary = "name, type, shape and a summary of the values of a tensor file",
	.opts = show_opts, .n_opts = EML_OPT_N(show_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_show };
static const struct eml_cmd *const tensor_subs[] = { &make_cmd, &show_cmd };

const struct eml_cmd eml_cli_tensor = { .name = "tensor",
	.summary = "input tensors (ONNX .pb) without Python: make, show",
	.subs = tensor_subs, .n_subs = EML_OPT_N(tensor_subs) };
