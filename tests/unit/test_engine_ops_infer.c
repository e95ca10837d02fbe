/*
 * Inference operators taken on for the conformance suite's last skips
 * (Upsample, Gemm-6, Resize tf modes, MaxPool Indices, MaxUnpool,
 * ConvTranspose 3-D, RoiAlign, Unique, DFT, STFT, MelWeightMatrix). Every
 * expectation is worked out by hand in the comment above it (or by a
 * direct formula written here), never copied from the engine's output;
 * the bounds (sizes taken from attributes or constant inputs) are refused
 * at plan time under a small tensor limit.
 */
#include "eml_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/owner/onnx_import.h"
#include "eml_mem.h"
#include "engine/eml_engine.h"
#include "onnx_build.h"


/* One-node graph under construction: start it, add attributes to N,
 * then emit() and declare inputs/outputs with io(). */
static void
start(const char *op, const char *const *ins, const char *const *outs)
{
	G->n = 0;
	onnx_node(N, op, "n0", ins, outs);
}

static void
emit(void)
{
	pb_msg(G, 1, N);
}

static void
io(unsigned field, const char *name, int dt, const int64_t *dims, int nd)
{
	onnx_value_info(V, name, dt, dims, nd);
	pb_msg(G, field, V);
}

static void
init_i64(const char *name, const int64_t *dims, int nd, const int64_t *v, size_t n)
{
	onnx_tensor(T, name, 7, dims, nd, v, n * sizeof(int64_t));
	pb_msg(G, 5, T);
}

static void
init_f(const char *name, const int64_t *dims, int nd, const float *v, size_t n)
{
	onnx_tensor(T, name, 1, dims, nd, v, n * sizeof(float));
	pb_msg(G, 5, T);
}

static struct eml_model *
load(int64_t opset)
{
	struct eml_graph *g = NULL;
	struct eml_model *m = NULL;

	onnx_model(M, G, opset);
	assert_eml_ok(eml_onnx_import(M->b, M->n, &g));
	assert_eml_ok(eml_model_new(g, &m));
	return m;
}

/* The model's load error (eml_model_new owns the graph either way). */
static eml_err
load_err(int64_t opset)
{
	struct eml_graph *g = NULL;
	struct eml_model *m = NULL;
	eml_err rc;

	onnx_model(M, G, opset);
	assert_eml_ok(eml_onnx_import(M->b, M->n, &g));
	rc = eml_model_new(g, &m);
	if (rc == EML_OK)
		eml_model_free(m);
	return rc;
}

static struct eml_tensor
tin(enum eml_dtype dt, void *data, int rank, const int64_t *dims)
{
	struct eml_tensor t;
	size_t n = 1;

	memset(&t, 0, sizeof(t));
	t.dtype = dt;
	t.rank = rank;
	for (int i = 0; i < rank; i++) {
		t.dims[i] = dims[i];
		n *= (size_t)dims[i];
	}
	t.data = data;
	t.nbytes = n * eml_dtype_size(dt);
	return t;
}

static const struct eml_plan_opts OPTS = { .nthreads = 1, .bind_small_inputs = true,
	.max_tensor_bytes = 1 << 20 };

static const struct eml_plan_opts OPTS_RT = { .nthreads = 1, .max_tensor_bytes = 1 << 20 };

/* Plan and run m on ins; the plan's error, or EML_OK with *out set. */
static eml_err
run(struct eml_model *m, struct eml_tensor *ins, size_t n, struct eml_plan **out)
{
	eml_err rc = eml_plan_new(m, ins, n, &OPTS, out);

	if (rc != EML_OK)
		return rc;
	assert_eml_ok(eml_plan_run(*out, ins, n));
	return EML_OK;
}

static void
expect_f(const struct eml_plan *p, size_t k, int rank, const int64_t *dims, const float *want,
    size_t n, double tol)
{
	const struct eml_tensor *t = eml_plan_output(p, k);
	const float *got = t->data;

	assert_int_equal(t->dtype, EML_DT_FLOAT);
	assert_int_equal(t->rank, rank);
	for (int i = 0; i < rank; i++)
		assert_int_equal(t->dims[i], dims[i]);
	assert_int_equal(t->nbytes, n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		if (!(fabs((double)got[i] - (double)want[i]) <= tol))
			fail_msg("output %zu element %zu: got %.9g want %.9g", k, i,
			    (double)got[i], (double)want[i]);
}

static void
expect_i64(const struct eml_plan *p, size_t k, int rank, const int64_t *dims,
    const int64_t *want, size_t n)
{
	const struct eml_tensor *t = eml_plan_output(p, k);

	assert_int_equal(t->dtype, EML_DT_INT64);
	assert_int_equal(t->rank, rank);
	for (int i = 0; i < rank; i++)
		assert_int_equal(t->dims[i], dims[i]);
	assert_int_equal(t->nbytes, n * sizeof(int64_t));
	for (size_t i = 0; i < n; i++)
		if (((const int64_t *)t->data)[i] != want[i])
			fail_msg("output %zu element %zu: got %lld want %lld", k, i,
			    (long long)((const int64_t *)t->data)[i], (long long)want[i]);
}

/* ------------------------------------------------------------ Upsample */

/* x = [[1, 2], [3, 4]]. Nearest (opset 7, scales attribute [1, 1, 2, 3]):
 * output row r reads floor(r / 2), column c floor(c / 3). Linear (opset
 * 9, scales input [1, 1, 2, 2]): asymmetric coordinates c / 2 clamped to
 * the last index, so a row is x0, (x0 + x1) / 2, x1, x1. */
static void
test_upsample(void **state)
{
	static const char *ins7[] = { "x", NULL }, *ins9[] = { "x", "s", NULL },
			  *outs[] = { "y", NULL };
	float x[4] = { 1, 2, 3, 4 }, s9[4] = { 1, 1, 2, 2 }, s7[4] = { 1, 1, 2, 3 };
	int64_t xd[4] = { 1, 1, 2, 2 }, y7[4] = { 1, 1, 4, 6 }, y9[4] = { 1, 1, 4, 4 }, sd = 4;
	static const float want7[24] = { 1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4,
		3, 3, 3, 4, 4, 4 };
	static const float want9[16] = { 1, 1.5f, 2, 2, 2, 2.5f, 3, 3, 3, 3.5f, 4, 4, 3,
		3.5f, 4, 4 };
	struct eml_tensor in[2];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	start("Upsample", ins7, outs);
	onnx_attr_floats(N, "scales", s7, 4);
	emit();
	io(11, "x", 1, xd, 4);
	io(12, "y", 1, y7, 4);
	m = load(7);
	in[0] = tin(EML_DT_FLOAT, x, 4, xd);
	assert_eml_ok(run(m, in, 1, &p));
	expect_f(p, 0, 4, y7, want7, 24, 0);
	eml_plan_free(p);
	eml_model_free(m);

	start("Upsample", ins9, outs);
	onnx_attr_str(N, "mode", "linear");
	emit();
	io(11, "x", 1, xd, 4);
	io(11, "s", 1, &sd, 1);
	io(12, "y", 1, y9, 4);
	m = load(9);
	in[1] = tin(EML_DT_FLOAT, s9, 1, &sd);
	assert_eml_ok(run(m, in, 2, &p));
	expect_f(p, 0, 4, y9, want9, 16, 1e-6);
	eml_plan_free(p);
	/* A scale that makes the output exceed the tensor limit (1 MiB). */
	s9[3] = 65536.0f;
	assert_int_equal(run(m, in, 2, &p), EML_ERR_INFER_TOO_LARGE);
	eml_model_free(m);

	/* Upsample-7 without its scales attribute, or shrinking. */
	start("Upsample", ins7, outs);
	emit();
	io(11, "x", 1, xd, 4);
	io(12, "y", 1, y7, 4);
	assert_int_equal(load_err(7), EML_ERR_INFER_ATTR);
	start("Upsample", ins7, outs);
	s7[2] = 0.5f;
	onnx_attr_floats(N, "scales", s7, 4);
	emit();
	io(11, "x", 1, xd, 4);
	io(12, "y", 1, y7, 4);
	assert_int_equal(load_err(7), EML_ERR_INFER_ATTR);
}

/* ------------------------------------------------------------ Gemm-6 */

/* Gemm-6 without broadcast=1: C must be the full [M, N]. A = [[1, 2]],
 * B = [[3], [4]] (1x2 * 2x1 = 11), C = [[5]]: 16. A C of one value in
 * a [2, 2] output is refused. */
static void
test_gemm6(void **state)
{
	static const char *ins[] = { "a", "b", "c", NULL }, *outs[] = { "y", NULL };
	float a[4] = { 1, 2, 0, 1 }, b[4] = { 3, 0, 4, 1 }, c[4] = { 5, 6, 7, 8 };
	int64_t d22[2] = { 2, 2 }, d11[2] = { 1, 1 };
	/* [[1,2],[0,1]] x [[3,0],[4,1]] = [[11, 2], [4, 1]] + C */
	static const float want[4] = { 16, 8, 11, 9 };
	struct eml_tensor in[3];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	start("Gemm", ins, outs);
	emit();
	io(11, "a", 1, d22, 2);
	io(11, "b", 1, d22, 2);
	io(11, "c", 1, d22, 2);
	io(12, "y", 1, d22, 2);
	m = load(6);
	in[0] = tin(EML_DT_FLOAT, a, 2, d22);
	in[1] = tin(EML_DT_FLOAT, b, 2, d22);
	in[2] = tin(EML_DT_FLOAT, c, 2, d22);
	assert_eml_ok(run(m, in, 3, &p));
	expect_f(p, 0, 2, d22, want, 4, 0);
	eml_plan_free(p);
	eml_model_free(m);
	start("Gemm", ins, outs);
	emit();
	io(11, "a", 1, d22, 2);
	io(11, "b", 1, d22, 2);
	io(11, "c", 1, d11, 2);
	io(12, "y", 1, d22, 2);
	m = load(6);
	in[2] = tin(EML_DT_FLOAT, c, 2, d11);
	assert_int_equal(run(m, in, 3, &p), EML_ERR_INFER_SHAPE);
	eml_model_free(m);
}

/* ------------------------------------------------------------ Resize */

/* tf_half_pixel_for_nn: x = 0..15 as 4x4, sizes 3x2. Rows: scale 3/4,
 * (r + 0.5) / 0.75 = 0.67, 2, 3.33, rounded 1, 2, 3; columns: scale 1/2,
 * (c + 0.5) / 0.5 = 1, 3. So rows 1..3 of columns 1 and 3. */
static void
test_resize_tf_nn(void **state)
{
	static const char *ins[] = { "x", "", "", "sz", NULL }, *outs[] = { "y", NULL };
	float x[16];
	int64_t xd[4] = { 1, 1, 4, 4 }, yd[4] = { 1, 1, 3, 2 }, sz[4] = { 1, 1, 3, 2 }, sd = 4;
	static const float want[6] = { 5, 7, 9, 11, 13, 15 };
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	for (int i = 0; i < 16; i++)
		x[i] = (float)i;
	start("Resize", ins, outs);
	onnx_attr_str(N, "coordinate_transformation_mode", "tf_half_pixel_for_nn");
	emit();
	init_i64("sz", &sd, 1, sz, 4);
	io(11, "x", 1, xd, 4);
	io(12, "y", 1, yd, 4);
	m = load(13);
	in = tin(EML_DT_FLOAT, x, 4, xd);
	assert_eml_ok(run(m, &in, 1, &p));
	expect_f(p, 0, 4, yd, want, 6, 0);
	eml_plan_free(p);
	eml_model_free(m);
}

/* tf_crop_and_resize, linear, x = 0..8 as 3x3, output 2x2 (sizes), so
 * coordinate = r0 * 2 + o * (r1 - r0) * 2. Rows over [-0.5, 1]: -1 (out:
 * extrapolated, 9) and 2; columns over [0, 0.75]: 0 and 1.5. Row 2 is
 * 6 7 8: 6 and (7 + 8) / 2. By scales [1, 1, 2, 2] instead, the output
 * is floor(3 * (r1 - r0) * 2) = 9 x 4. */
static void
test_resize_crop(void **state)
{
	static const char *ins[] = { "x", "roi", "sc", "sz", NULL }, *outs[] = { "y", NULL };
	float x[9], roi[8] = { 0, 0, -0.5f, 0, 1, 1, 1, 0.75f }, sc[4] = { 1, 1, 2, 2 };
	int64_t xd[4] = { 1, 1, 3, 3 }, yd[4] = { 1, 1, 2, 2 }, sz[4] = { 1, 1, 2, 2 }, d4 = 4,
		d8 = 8, d0 = 0, yd2[4] = { 1, 1, 9, 4 };
	static const float want[4] = { 9, 9, 6, 7.5f };
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	for (int i = 0; i < 9; i++)
		x[i] = (float)i;
	for (int v = 0; v < 2; v++) {
		start("Resize", ins, outs);
		onnx_attr_str(N, "coordinate_transformation_mode", "tf_crop_and_resize");
		onnx_attr_str(N, "mode", "linear");
		onnx_attr_float(N, "extrapolation_value", 9.0f);
		emit();
		init_f("roi", &d8, 1, roi, 8);
		init_f("sc", v == 0 ? &d0 : &d4, 1, sc, v == 0 ? 0 : 4);
		if (v == 0)
			init_i64("sz", &d4, 1, sz, 4);
		else
			init_i64("sz", &d0, 1, sz, 0);
		io(11, "x", 1, xd, 4);
		io(12, "y", 1, v == 0 ? yd : yd2, 4);
		m = load(13);
		in = tin(EML_DT_FLOAT, x, 4, xd);
		assert_eml_ok(run(m, &in, 1, &p));
		if (v == 0) {
			expect_f(p, 0, 4, yd, want, 4, 1e-6);
		} else {
			const struct eml_tensor *t = eml_plan_output(p, 0);
			assert_int_equal(t->dims[2], 9);
			assert_int_equal(t->dims[3], 4);
		}
		eml_plan_free(p);
		eml_model_free(m);
	}
}

/* ------------------------------------------------------------ MaxPool */

/* 2x2 windows, stride 1, over two 3x3 planes: a = [[1,9,2],[3,4,8],
 * [7,5,6]] and b = 10 - a. Maxima of a: 9 (0,1), 9 (0,1), 7 (2,0),
 * 8 (1,2); of b: 9 (0,0), 8 (0,2), 7 (1,0), 6 (1,1). Indices flat over
 * the input (b's plane starts at 9): row-major h * 3 + w, column-major
 * (storage_order=1) w * 3 + h. As uint8 and as float. */
static void
test_maxpool_indices(void **state)
{
	static const char *ins[] = { "x", NULL }, *outs[] = { "y", "i", NULL };
	static const float a[9] = { 1, 9, 2, 3, 4, 8, 7, 5, 6 };
	static const float wy[8] = { 9, 9, 7, 8, 9, 8, 7, 6 };
	static const int64_t wrow[8] = { 1, 1, 6, 5, 9, 11, 12, 13 };
	static const int64_t wcol[8] = { 3, 3, 2, 7, 9, 15, 10, 13 };
	int64_t xd[4] = { 1, 2, 3, 3 }, yd[4] = { 1, 2, 2, 2 }, k[2] = { 2, 2 };
	float xf[18];
	uint8_t xu[18];
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	for (int i = 0; i < 9; i++) {
		xf[i] = a[i];
		xf[9 + i] = 10 - a[i];
		xu[i] = (uint8_t)a[i];
		xu[9 + i] = (uint8_t)(10 - a[i]);
	}
	for (int v = 0; v < 3; v++) {
		/* v: 0 float row-major, 1 float column-major, 2 uint8 */
		start("MaxPool", ins, outs);
		onnx_attr_ints(N, "kernel_shape", k, 2);
		if (v == 1)
			onnx_attr_int(N, "storage_order", 1);
		emit();
		io(11, "x", v == 2 ? 2 : 1, xd, 4);
		io(12, "y", v == 2 ? 2 : 1, yd, 4);
		io(12, "i", 7, yd, 4);
		m = load(12);
		in = v == 2 ? tin(EML_DT_UINT8, xu, 4, xd) : tin(EML_DT_FLOAT, xf, 4, xd);
		assert_eml_ok(run(m, &in, 1, &p));
		if (v == 2) {
			const struct eml_tensor *t = eml_plan_output(p, 0);
			assert_int_equal(t->dtype, EML_DT_UINT8);
			for (int i = 0; i < 8; i++)
				assert_int_equal(((const uint8_t *)t->data)[i], (uint8_t)wy[i]);
		} else {
			expect_f(p, 0, 4, yd, wy, 8, 0);
		}
		expect_i64(p, 1, 4, yd, v == 1 ? wcol : wrow, 8);
		eml_plan_free(p);
		eml_model_free(m);
	}
}

/* ------------------------------------------------------------ MaxUnpool */

/* X = [5, 6, 7, 8] at flat indices 5, 7, 13, 15 of the default 4x4
 * (kernel 2, stride 2: (2 - 1) * 2 + 2): (1,1), (1,3), (3,1), (3,3).
 * With output_shape 5x5 the same coordinates: flat 6, 8, 16, 18. An
 * index past the default 16 is a run error; an output_shape below the
 * default or above the tensor limit is refused at plan time. */
static void
test_maxunpool(void **state)
{
	static const char *ins2[] = { "x", "i", NULL }, *ins3[] = { "x", "i", "s", NULL },
			  *outs[] = { "y", NULL };
	float x[4] = { 5, 6, 7, 8 }, w4[16] = { 0 }, w5[25] = { 0 };
	int64_t ix[4] = { 5, 7, 13, 15 }, xd[4] = { 1, 1, 2, 2 }, y4[4] = { 1, 1, 4, 4 },
		y5[4] = { 1, 1, 5, 5 }, k[2] = { 2, 2 }, sd = 4, s5[4] = { 1, 1, 5, 5 };
	struct eml_tensor in[3];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	w4[5] = 5;
	w4[7] = 6;
	w4[13] = 7;
	w4[15] = 8;
	w5[6] = 5;
	w5[8] = 6;
	w5[16] = 7;
	w5[18] = 8;
	in[0] = tin(EML_DT_FLOAT, x, 4, xd);
	in[1] = tin(EML_DT_INT64, ix, 4, xd);
	in[2] = tin(EML_DT_INT64, s5, 1, &sd);

	start("MaxUnpool", ins2, outs);
	onnx_attr_ints(N, "kernel_shape", k, 2);
	onnx_attr_ints(N, "strides", k, 2);
	emit();
	io(11, "x", 1, xd, 4);
	io(11, "i", 7, xd, 4);
	io(12, "y", 1, y4, 4);
	m = load(11);
	/* I at run time (not bound as a constant as the small inputs are). */
	assert_eml_ok(eml_plan_new(m, in, 2, &OPTS_RT, &p));
	assert_eml_ok(eml_plan_run(p, in, 2));
	expect_f(p, 0, 4, y4, w4, 16, 0);
	/* One index past the default shape's 16 elements. */
	ix[3] = 16;
	assert_int_equal(eml_plan_run(p, in, 2), EML_ERR_INFER_SHAPE);
	ix[3] = 15;
	eml_plan_free(p);
	eml_model_free(m);

	start("MaxUnpool", ins3, outs);
	onnx_attr_ints(N, "kernel_shape", k, 2);
	onnx_attr_ints(N, "strides", k, 2);
	emit();
	io(11, "x", 1, xd, 4);
	io(11, "i", 7, xd, 4);
	io(11, "s", 7, &sd, 1);
	io(12, "y", 1, y5, 4);
	m = load(11);
	assert_eml_ok(run(m, in, 3, &p));
	expect_f(p, 0, 4, y5, w5, 25, 0);
	eml_plan_free(p);
	s5[3] = 3;
	assert_int_equal(run(m, in, 3, &p), EML_ERR_INFER_SHAPE);
	s5[2] = s5[3] = 1 << 20;
	assert_int_equal(run(m, in, 3, &p), EML_ERR_INFER_TOO_LARGE);
	eml_model_free(m);
}

/* ------------------------------------------------------------ ConvTranspose */

/* 3-D: x [1, 1, 2, 1, 1] = [1, 2], w [1, 2, 2, 1, 1] (channel 0 taps
 * [3, 4], channel 1 [1, -1]), bias [0.5, 0], stride 2 along D: output D
 * (2 - 1) * 2 + 2 = 4, y[2i + t] = x[i] * w[t]: [3, 4, 6, 8] + 0.5 and
 * [1, -1, 2, -2]; a following Relu (fused) zeroes the negatives.
 * 2-D output_shape past the full output: x [1, 2], w [1, 1], output
 * width 4 of a full 3: [1, 3, 2] then the bias alone, + 1. */
static void
test_convtranspose(void **state)
{
	static const char *ins[] = { "x", "w", "b", NULL }, *mid[] = { "t", NULL },
			  *outs[] = { "y", NULL };
	float x[2] = { 1, 2 }, w[4] = { 3, 4, 1, -1 }, b[2] = { 0.5f, 0 }, w2[2] = { 1, 1 },
	      b1 = 1;
	int64_t xd[5] = { 1, 1, 2, 1, 1 }, wd[5] = { 1, 2, 2, 1, 1 }, bd = 2, b1d = 1,
		yd[5] = { 1, 2, 4, 1, 1 }, st[3] = { 2, 1, 1 }, x2d[4] = { 1, 1, 1, 2 },
		w2d[4] = { 1, 1, 1, 2 }, y2d[4] = { 1, 1, 1, 4 }, os[2] = { 1, 4 };
	static const float want[8] = { 3.5f, 4.5f, 6.5f, 8.5f, 1, 0, 2, 0 };
	static const float want2[4] = { 2, 4, 3, 1 };
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	G->n = 0;
	onnx_node(N, "ConvTranspose", "ct", ins, mid);
	onnx_attr_ints(N, "strides", st, 3);
	emit();
	onnx_node(N, "Relu", "r", mid, outs);
	emit();
	init_f("w", wd, 5, w, 4);
	init_f("b", &bd, 1, b, 2);
	io(11, "x", 1, xd, 5);
	io(12, "y", 1, yd, 5);
	m = load(11);
	in = tin(EML_DT_FLOAT, x, 5, xd);
	assert_eml_ok(run(m, &in, 1, &p));
	expect_f(p, 0, 5, yd, want, 8, 1e-6);
	eml_plan_free(p);
	eml_model_free(m);

	start("ConvTranspose", ins, outs);
	onnx_attr_ints(N, "output_shape", os, 2);
	emit();
	init_f("w", w2d, 4, w2, 2);
	init_f("b", &b1d, 1, &b1, 1);
	io(11, "x", 1, x2d, 4);
	io(12, "y", 1, y2d, 4);
	m = load(11);
	in = tin(EML_DT_FLOAT, x, 4, x2d);
	assert_eml_ok(run(m, &in, 1, &p));
	expect_f(p, 0, 4, y2d, want2, 4, 1e-6);
	eml_plan_free(p);
	eml_model_free(m);
}

/* ------------------------------------------------------------ RoiAlign */

/* X = [[1, 2], [3, 4]], one roi, one output bin.
 * - opset 10 (output_half_pixel), roi [0, 0, 1, 1], sampling_ratio 1:
 *   one sample at (0.5, 0.5): the mean of the four, 2.5.
 * - opset 16 (half_pixel), roi [0, 0, 2, 2] (shifted by -0.5), ratio 2:
 *   samples at -0.5 + 0.5 = 0 and 1 on each axis: the four pixels, mean
 *   2.5, max 4 (each sample lands on a pixel: weight 1).
 * - sampling_ratio 0 with a roi a million pixels wide: a run error, not
 *   a trillion samples; a batch index of 1 for N = 1 too. */
static void
test_roialign(void **state)
{
	static const char *ins[] = { "x", "r", "b", NULL }, *outs[] = { "y", NULL };
	float x[4] = { 1, 2, 3, 4 }, roi[4] = { 0, 0, 1, 1 };
	int64_t bi = 0, xd[4] = { 1, 1, 2, 2 }, rd[2] = { 1, 4 }, bd = 1, yd[4] = { 1, 1, 1, 1 };
	struct {
		int64_t opset, ratio;
		const char *mode;
		float r2, want;
	} cases[] = { { 10, 1, "avg", 1, 2.5f }, { 16, 2, "avg", 2, 2.5f }, { 16, 2, "max", 2, 4 } };
	struct eml_tensor in[3];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	in[0] = tin(EML_DT_FLOAT, x, 4, xd);
	in[1] = tin(EML_DT_FLOAT, roi, 2, rd);
	in[2] = tin(EML_DT_INT64, &bi, 1, &bd);
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		start("RoiAlign", ins, outs);
		onnx_attr_int(N, "sampling_ratio", cases[c].ratio);
		onnx_attr_str(N, "mode", cases[c].mode);
		emit();
		io(11, "x", 1, xd, 4);
		io(11, "r", 1, rd, 2);
		io(11, "b", 7, &bd, 1);
		io(12, "y", 1, yd, 4);
		m = load(cases[c].opset);
		roi[2] = roi[3] = cases[c].r2;
		assert_eml_ok(eml_plan_new(m, in, 3, &OPTS_RT, &p));
		assert_eml_ok(eml_plan_run(p, in, 3));
		expect_f(p, 0, 4, yd, &cases[c].want, 1, 1e-6);
		if (c == 1) {
			bi = 1;
			assert_int_equal(eml_plan_run(p, in, 3), EML_ERR_INFER_SHAPE);
			bi = 0;
		}
		eml_plan_free(p);
		eml_model_free(m);
	}
	start("RoiAlign", ins, outs);
	emit();
	io(11, "x", 1, xd, 4);
	io(11, "r", 1, rd, 2);
	io(11, "b", 7, &bd, 1);
	io(12, "y", 1, yd, 4);
	m = load(16);
	roi[2] = roi[3] = 1e6f;
	assert_eml_ok(eml_plan_new(m, in, 3, &OPTS_RT, &p));
	assert_int_equal(eml_plan_run(p, in, 3), EML_ERR_INFER_SHAPE);
	eml_plan_free(p);
	eml_model_free(m);
	/* An output of 65536 x 65536 bins: over the tensor limit at plan. */
	start("RoiAlign", ins, outs);
	onnx_attr_int(N, "output_height", 65536);
	onnx_attr_int(N, "output_width", 65536);
	emit();
	io(11, "x", 1, xd, 4);
	io(11, "r", 1, rd, 2);
	io(11, "b", 7, &bd, 1);
	io(12, "y", 1, yd, 4);
	m = load(16);
	assert_int_equal(eml_plan_new(m, in, 3, &OPTS_RT, &p), EML_ERR_INFER_TOO_LARGE);
	eml_model_free(m);
}

/* ------------------------------------------------------------ Unique */

/* X = [2, 1, 1, 3, 4, 3] (int64, at run time). Sorted: Y [1, 2, 3, 4],
 * first indices [1, 0, 3, 4], inverse [1, 0, 0, 2, 3, 2], counts
 * [2, 1, 2, 1]. Unsorted (order of first occurrence): Y [2, 1, 3, 4],
 * [0, 1, 3, 4], [0, 1, 1, 2, 3, 2], [1, 2, 2, 1]. Axis 1 of [[1, 1, 0],
 * [0, 0, 1]] (float): columns (1,0), (1,0), (0,1); sorted (0,1) < (1,0):
 * Y [[0, 1], [1, 0]], indices [2, 0], inverse [1, 1, 0], counts [1, 2].
 * A node reading Y (its length is the data's) is refused at plan. */
static void
test_unique(void **state)
{
	static const char *ins[] = { "x", NULL }, *outs[] = { "y", "i", "v", "c", NULL },
			  *rd[] = { "y", NULL }, *ro[] = { "z", NULL };
	int64_t x[6] = { 2, 1, 1, 3, 4, 3 }, xd = 6, x2d[2] = { 2, 3 }, y2d[2] = { 2, 2 }, u2 = 2,
		u4 = 4, u3 = 3;
	static const int64_t sy[4] = { 1, 2, 3, 4 }, si[4] = { 1, 0, 3, 4 },
			     sv[6] = { 1, 0, 0, 2, 3, 2 }, sc[4] = { 2, 1, 2, 1 };
	static const int64_t uy[4] = { 2, 1, 3, 4 }, ui[4] = { 0, 1, 3, 4 },
			     uv[6] = { 0, 1, 1, 2, 3, 2 }, uc[4] = { 1, 2, 2, 1 };
	static const int64_t ai[2] = { 2, 0 }, av[3] = { 1, 1, 0 }, ac[2] = { 1, 2 };
	static const float ay[4] = { 0, 1, 1, 0 };
	float x2[6] = { 1, 1, 0, 0, 0, 1 };
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	for (int sorted = 1; sorted >= 0; sorted--) {
		start("Unique", ins, outs);
		onnx_attr_int(N, "sorted", sorted);
		emit();
		io(11, "x", 7, &xd, 1);
		io(12, "y", 7, &u4, 1);
		io(12, "i", 7, &u4, 1);
		io(12, "v", 7, &xd, 1);
		io(12, "c", 7, &u4, 1);
		m = load(11);
		in = tin(EML_DT_INT64, x, 1, &xd);
		/* At run time (OPTS_RT), and folded (X bound as a constant). */
		for (int fold = 0; fold < 2; fold++) {
			assert_eml_ok(eml_plan_new(m, &in, 1, fold ? &OPTS : &OPTS_RT, &p));
			assert_eml_ok(eml_plan_run(p, &in, 1));
			expect_i64(p, 0, 1, &u4, sorted ? sy : uy, 4);
			expect_i64(p, 1, 1, &u4, sorted ? si : ui, 4);
			expect_i64(p, 2, 1, &xd, sorted ? sv : uv, 6);
			expect_i64(p, 3, 1, &u4, sorted ? sc : uc, 4);
			eml_plan_free(p);
		}
		eml_model_free(m);
	}

	start("Unique", ins, outs);
	onnx_attr_int(N, "axis", 1);
	emit();
	io(11, "x", 1, x2d, 2);
	io(12, "y", 1, y2d, 2);
	io(12, "i", 7, &u2, 1);
	io(12, "v", 7, &u3, 1);
	io(12, "c", 7, &u2, 1);
	m = load(11);
	in = tin(EML_DT_FLOAT, x2, 2, x2d);
	assert_eml_ok(run(m, &in, 1, &p));
	expect_f(p, 0, 2, y2d, ay, 4, 0);
	expect_i64(p, 1, 1, &u2, ai, 2);
	expect_i64(p, 2, 1, &u3, av, 3);
	expect_i64(p, 3, 1, &u2, ac, 2);
	eml_plan_free(p);
	eml_model_free(m);

	G->n = 0;
	onnx_node(N, "Unique", "u", ins, rd);
	emit();
	onnx_node(N, "Relu", "r", rd, ro);
	emit();
	io(11, "x", 1, x2d, 2);
	io(12, "z", 1, x2d, 2);
	m = load(11);
	assert_int_equal(run(m, &in, 1, &p), EML_ERR_INFER_NOT_CONST);
	eml_model_free(m);
}

/* ------------------------------------------------------------ DFT */

/* A naive DFT written here (cos/sin of 2 pi j k / L per term, no table)
 * as the oracle for the engine's, of x real [n] at length L. */
static void
naive_dft(const float *x, size_t n, size_t L, size_t bins, float *out)
{
	for (size_t k = 0; k < bins; k++) {
		double re = 0, im = 0;
		for (size_t j = 0; j < n && j < L; j++) {
			re += x[j] * cos(2 * M_PI * (double)(j * k) / (double)L);
			im -= x[j] * sin(2 * M_PI * (double)(j * k) / (double)L);
		}
		out[2 * k] = (float)re;
		out[2 * k + 1] = (float)im;
	}
}

/* x = [1, 2, 3, 4]: by hand X = [10, -2 + 2i, -2, -2 - 2i]; onesided
 * keeps the first three; the inverse of X is x (imaginary 0). Lengths 2
 * (truncated) and 7 (zero padded) against the naive DFT; DFT-20 with the
 * axis as input 2; a dft_length over the tensor limit is refused. */
static void
test_dft(void **state)
{
	static const char *ins17[] = { "x", "", NULL }, *insl[] = { "x", "l", NULL },
			  *ins20[] = { "x", "", "a", NULL }, *outs[] = { "y", NULL };
	float x[4] = { 1, 2, 3, 4 }, X[8] = { 10, 0, -2, 2, -2, 0, -2, -2 }, back[8] = { 1, 0, 2, 0,
		3, 0, 4, 0 }, want[14];
	int64_t xd[3] = { 1, 4, 1 }, cd[3] = { 1, 4, 2 }, y3[3] = { 1, 3, 2 }, y4[3] = { 1, 4, 2 },
		ax = 1, sd = 1, len = 0;
	struct eml_tensor in[2];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	for (int v = 0; v < 3; v++) {
		/* 0: forward, 1: onesided, 2: inverse of X */
		start("DFT", ins17, outs);
		if (v == 1)
			onnx_attr_int(N, "onesided", 1);
		if (v == 2)
			onnx_attr_int(N, "inverse", 1);
		emit();
		io(11, "x", 1, v == 2 ? cd : xd, 3);
		io(12, "y", 1, v == 1 ? y3 : y4, 3);
		m = load(17);
		in[0] = v == 2 ? tin(EML_DT_FLOAT, X, 3, cd) : tin(EML_DT_FLOAT, x, 3, xd);
		assert_eml_ok(run(m, in, 1, &p));
		expect_f(p, 0, 3, v == 1 ? y3 : y4, v == 2 ? back : X, v == 1 ? 6 : 8, 1e-5);
		eml_plan_free(p);
		eml_model_free(m);
	}

	start("DFT", insl, outs);
	emit();
	io(11, "x", 1, xd, 3);
	io(11, "l", 7, NULL, 0);
	io(12, "y", 1, y4, 3);
	m = load(17);
	in[0] = tin(EML_DT_FLOAT, x, 3, xd);
	in[1] = tin(EML_DT_INT64, &len, 0, NULL);
	for (len = 2; len <= 7; len += 5) {
		int64_t yd[3] = { 1, len, 2 };
		naive_dft(x, 4, (size_t)len, (size_t)len, want);
		assert_eml_ok(run(m, in, 2, &p));
		expect_f(p, 0, 3, yd, want, (size_t)len * 2, 1e-5);
		eml_plan_free(p);
	}
	len = (int64_t)1 << 20; /* 8 MiB of output, the limit is 1 MiB */
	assert_int_equal(run(m, in, 2, &p), EML_ERR_INFER_TOO_LARGE);
	len = 0;
	assert_int_equal(run(m, in, 2, &p), EML_ERR_INFER_ATTR);
	eml_model_free(m);

	start("DFT", ins20, outs);
	emit();
	io(11, "x", 1, xd, 3);
	io(11, "a", 7, &sd, 1);
	io(12, "y", 1, y4, 3);
	m = load(20);
	in[1] = tin(EML_DT_INT64, &ax, 1, &sd);
	for (ax = 1; ax >= -2; ax -= 3) {
		assert_eml_ok(run(m, in, 2, &p));
		expect_f(p, 0, 3, y4, X, 8, 1e-5);
		eml_plan_free(p);
	}
	ax = 2; /* the complex dimension */
	assert_int_equal(run(m, in, 2, &p), EML_ERR_INFER_ATTR);
	eml_model_free(m);
}

/* signal 0..7, frame_step 4, frame_length 4, onesided: two frames.
 * [0, 1, 2, 3]: X0 = 6, X1 = -i - 2 + 3i = -2 + 2i, X2 = 0 - 1 + 2 - 3 = -2;
 * [4, 5, 6, 7]: 22, -2 + 2i, -2. With the window [0, 1, 1, 0] the frames
 * are [0, 1, 2, 0]: 3, -i - 2 = -2 - i, -1 + 2 = 1; and [0, 5, 6, 0]: 11,
 * -6 - 5i, 1. */
static void
test_stft(void **state)
{
	static const char *insl[] = { "x", "s", "", "l", NULL }, *insw[] = { "x", "s", "w", NULL },
			  *outs[] = { "y", NULL };
	float x[8] = { 0, 1, 2, 3, 4, 5, 6, 7 }, win[4] = { 0, 1, 1, 0 };
	static const float want[12] = { 6, 0, -2, 2, -2, 0, 22, 0, -2, 2, -2, 0 };
	static const float wantw[12] = { 3, 0, -2, -1, 1, 0, 11, 0, -6, -5, 1, 0 };
	int64_t xd[3] = { 1, 8, 1 }, yd[4] = { 1, 2, 3, 2 }, wd = 4, step = 4, fl = 4;
	struct eml_tensor in[3];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	start("STFT", insl, outs);
	emit();
	io(11, "x", 1, xd, 3);
	io(11, "s", 7, NULL, 0);
	io(11, "l", 7, NULL, 0);
	io(12, "y", 1, yd, 4);
	m = load(17);
	in[0] = tin(EML_DT_FLOAT, x, 3, xd);
	in[1] = tin(EML_DT_INT64, &step, 0, NULL);
	in[2] = tin(EML_DT_INT64, &fl, 0, NULL);
	assert_eml_ok(run(m, in, 3, &p));
	expect_f(p, 0, 4, yd, want, 12, 1e-5);
	eml_plan_free(p);
	fl = 9; /* longer than the signal */
	assert_int_equal(run(m, in, 3, &p), EML_ERR_INFER_ATTR);
	eml_model_free(m);

	start("STFT", insw, outs);
	emit();
	io(11, "x", 1, xd, 3);
	io(11, "s", 7, NULL, 0);
	io(11, "w", 1, &wd, 1);
	io(12, "y", 1, yd, 4);
	m = load(17);
	in[2] = tin(EML_DT_FLOAT, win, 1, &wd);
	assert_eml_ok(run(m, in, 3, &p));
	expect_f(p, 0, 4, yd, wantw, 12, 1e-5);
	eml_plan_free(p);
	eml_model_free(m);
}

/* Two mel bins, dft_length 16 (9 rows), sample_rate 16, 0 to 8 Hz.
 * Points at mel t * mel(8) / 4, t = 0..3: 0, 1.991, 3.989, 5.991 Hz (the
 * mel curve is nearly linear this low), bins floor(17 f / 16) = 0, 2, 4,
 * 6. Filter 0 rises over rows 0..2 (0, .5, 1) and falls to row 4 (1, .5);
 * filter 1 the same two rows lower. */
static void
test_melweightmatrix(void **state)
{
	static const char *ins[] = { "m", "l", "r", "lo", "hi", NULL }, *outs[] = { "y", NULL };
	int64_t mb = 2, dl = 16, sr = 16, yd[2] = { 9, 2 };
	float lo = 0, hi = 8;
	static const float want[18] = { 0, 0, 0.5f, 0, 1, 0, 0.5f, 0.5f, 0, 1, 0, 0.5f, 0, 0,
		0, 0, 0, 0 };
	struct eml_tensor in[5];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	start("MelWeightMatrix", ins, outs);
	emit();
	io(11, "m", 7, NULL, 0);
	io(11, "l", 7, NULL, 0);
	io(11, "r", 7, NULL, 0);
	io(11, "lo", 1, NULL, 0);
	io(11, "hi", 1, NULL, 0);
	io(12, "y", 1, yd, 2);
	m = load(17);
	in[0] = tin(EML_DT_INT64, &mb, 0, NULL);
	in[1] = tin(EML_DT_INT64, &dl, 0, NULL);
	in[2] = tin(EML_DT_INT64, &sr, 0, NULL);
	in[3] = tin(EML_DT_FLOAT, &lo, 0, NULL);
	in[4] = tin(EML_DT_FLOAT, &hi, 0, NULL);
	assert_eml_ok(run(m, in, 5, &p));
	expect_f(p, 0, 2, yd, want, 18, 1e-6);
	eml_plan_free(p);
	hi = 9; /* above sample_rate / 2 */
	assert_int_equal(run(m, in, 5, &p), EML_ERR_INFER_ATTR);
	hi = 8;
	mb = 1 << 20; /* 9 x 2^20 floats: over the 1 MiB limit */
	assert_int_equal(run(m, in, 5, &p), EML_ERR_INFER_TOO_LARGE);
	eml_model_free(m);
}

/* ------------------------------------------------------------ TfIdfVectorizer */

/* Pool: unigrams 1, 2 (columns 0, 1), bigrams (1, 2), (2, 1) (columns 2,
 * 3). Rows [1, 3, 2] and [1, 2, 1], grams of 1 to 2 items, skip up to 1:
 * row 0 has unigrams 1 and 2, no adjacent bigram, (1, 2) two apart:
 * [1, 1, 1, 0]; row 1 has 1 twice and 2 once, adjacent (1, 2) and
 * (2, 1), two apart (1, 1) (not in the pool): [2, 1, 1, 1] (unigrams
 * counted once, not once per skip). With weights [0.5, 1, 2, 4]: IDF
 * gives the weight where the count is not 0, TFIDF count * weight.
 * Levels that do not split into whole n-grams are refused at load. */
static void
test_tfidf(void **state)
{
	static const char *ins[] = { "x", NULL }, *outs[] = { "y", NULL };
	static const char *modes[] = { "TF", "IDF", "TFIDF" };
	int64_t x[6] = { 1, 3, 2, 1, 2, 1 }, xd[2] = { 2, 3 }, yd[2] = { 2, 4 };
	int64_t pool[6] = { 1, 2, 1, 2, 2, 1 }, cnt[2] = { 0, 2 }, idx[4] = { 0, 1, 2, 3 },
		bad[2] = { 0, 3 };
	float w[4] = { 0.5f, 1, 2, 4 };
	static const float want[3][8] = { { 1, 1, 1, 0, 2, 1, 1, 1 },
		{ 0.5f, 1, 2, 0, 0.5f, 1, 2, 4 }, { 0.5f, 1, 2, 0, 1, 1, 2, 4 } };
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	for (int md = 0; md < 3; md++) {
		start("TfIdfVectorizer", ins, outs);
		onnx_attr_int(N, "min_gram_length", 1);
		onnx_attr_int(N, "max_gram_length", 2);
		onnx_attr_int(N, "max_skip_count", 1);
		onnx_attr_str(N, "mode", modes[md]);
		onnx_attr_ints(N, "pool_int64s", pool, 6);
		onnx_attr_ints(N, "ngram_counts", cnt, 2);
		onnx_attr_ints(N, "ngram_indexes", idx, 4);
		if (md > 0)
			onnx_attr_floats(N, "weights", w, 4);
		emit();
		io(11, "x", 7, xd, 2);
		io(12, "y", 1, yd, 2);
		m = load(9);
		in = tin(EML_DT_INT64, x, 2, xd);
		assert_eml_ok(run(m, &in, 1, &p));
		expect_f(p, 0, 2, yd, want[md], 8, 0);
		eml_plan_free(p);
		eml_model_free(m);
	}
	start("TfIdfVectorizer", ins, outs);
	onnx_attr_int(N, "max_gram_length", 2);
	onnx_attr_ints(N, "pool_int64s", pool, 6);
	onnx_attr_ints(N, "ngram_counts", bad, 2);
	onnx_attr_ints(N, "ngram_indexes", idx, 4);
	emit();
	io(11, "x", 7, xd, 2);
	io(12, "y", 1, yd, 2);
	assert_int_equal(load_err(9), EML_ERR_INFER_ATTR);
}

/*
 * Scan opset 8: a leading batch axis the body does not see, scan along
 * axis 1, `directions` reversing the scan input. Body: s' = s + x, y = s'.
 * Batch 0: s = (1, 2), x read backwards (3,3) (2,2) (1,1) -> y (4,5) (6,7)
 * (7,8), final (7,8). Batch 1: s = (10, 20), x backwards (500,600)
 * (300,400) (100,200) -> y (510,620) (810,1020) (910,1220).
 */
static void
test_scan8_batch_reverse(void **state)
{
	struct pb *body = eml_calloc(1, sizeof(*body)), *bn = eml_calloc(1, sizeof(*bn));
	static const char *const add_in[] = { "s", "x", NULL }, *const add_out[] = { "s2", NULL };
	static const char *const id_in[] = { "s2", NULL }, *const id_out[] = { "y", NULL };
	static const char *const ins[] = { "", "init", "xs", NULL };
	static const char *const outs[] = { "final", "ys", NULL };
	const int64_t d2[] = { 2 }, db[] = { 2, 2 }, dx[] = { 2, 3, 2 };
	float init[4] = { 1, 2, 10, 20 };
	float xs[12] = { 1, 1, 2, 2, 3, 3, 100, 200, 300, 400, 500, 600 };
	const float want_final[4] = { 7, 8, 910, 1220 };
	const float want_ys[12] = { 4, 5, 6, 7, 7, 8, 510, 620, 810, 1020, 910, 1220 };
	const int64_t rev[] = { 1 };
	struct eml_tensor in[2];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	assert_non_null(body);
	assert_non_null(bn);
	onnx_node(bn, "Add", "add", add_in, add_out);
	pb_msg(body, 1, bn);
	onnx_node(bn, "Identity", "id", id_in, id_out);
	pb_msg(body, 1, bn);
	pb_str(body, 2, "body");
	onnx_value_info(V, "s", 1, d2, 1);
	pb_msg(body, 11, V);
	onnx_value_info(V, "x", 1, d2, 1);
	pb_msg(body, 11, V);
	onnx_value_info(V, "s2", 1, d2, 1);
	pb_msg(body, 12, V);
	onnx_value_info(V, "y", 1, d2, 1);
	pb_msg(body, 12, V);

	start("Scan", ins, outs);
	onnx_attr_graph(N, "body", body);
	onnx_attr_int(N, "num_scan_inputs", 1);
	onnx_attr_ints(N, "directions", rev, 1);
	emit();
	io(11, "init", 1, db, 2);
	io(11, "xs", 1, dx, 3);
	io(12, "final", 1, db, 2);
	io(12, "ys", 1, dx, 3);
	m = load(8);
	in[0] = tin(EML_DT_FLOAT, init, 2, db);
	in[1] = tin(EML_DT_FLOAT, xs, 3, dx);
	assert_eml_ok(run(m, in, 2, &p));
	expect_f(p, 0, 2, db, want_final, 4, 0);
	expect_f(p, 1, 3, dx, want_ys, 12, 0);
	eml_plan_free(p);
	eml_model_free(m);
	eml_free(body);
	eml_free(bn);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_upsample),
		cmocka_unit_test(test_gemm6),
		cmocka_unit_test(test_resize_tf_nn),
		cmocka_unit_test(test_resize_crop),
		cmocka_unit_test(test_maxpool_indices),
		cmocka_unit_test(test_maxunpool),
		cmocka_unit_test(test_convtranspose),
		cmocka_unit_test(test_roialign),
		cmocka_unit_test(test_unique),
		cmocka_unit_test(test_dft),
		cmocka_unit_test(test_stft),
		cmocka_unit_test(test_melweightmatrix),
		cmocka_unit_test(test_tfidf),
		cmocka_unit_test(test_scan8_batch_reverse),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
