/*
 * Engine planning: liveness reuse of the arena, folding of shape-only
 * subgraphs, fusions (same results as unfused, and as plain loops written
 * here), input checks, run-time errors, error paths under allocation
 * failure, wiping, and the real text-direction model against ONNX Runtime.
 */
#include "eml_test.h"
#include "eml_test_wipe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/owner/onnx_import.h"
#include "eml_mem.h"
#include "engine/eml_engine.h"
#include "engine/ops.h"
#include "eml_test_graph.h"
#include "onnx_build.h"


static void
node(const char *op, const char *name, const char *const *ins, const char *const *outs)
{
	onnx_node(N, op, name, ins, outs);
}

static void
emit(void)
{
	pb_msg(G, 1, N);
}

static void
init_f(const char *name, const int64_t *dims, int nd, const float *v, size_t n)
{
	onnx_tensor(T, name, 1, dims, nd, v, n * sizeof(float));
	pb_msg(G, 5, T);
}

static void
init_i64(const char *name, const int64_t *dims, int nd, const int64_t *v, size_t n)
{
	onnx_tensor(T, name, 7, dims, nd, v, n * sizeof(int64_t));
	pb_msg(G, 5, T);
}

static void
io(unsigned field, const char *name, int dt, const int64_t *dims, int nd)
{
	onnx_value_info(V, name, dt, dims, nd);
	pb_msg(G, field, V);
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

/* A tensor of type dt over data, its size from the shape. */
static struct eml_tensor
dtensor(enum eml_dtype dt, void *data, int rank, const int64_t *dims)
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

static struct eml_tensor
ftensor(float *data, int rank, const int64_t *dims)
{
	return dtensor(EML_DT_FLOAT, data, rank, dims);
}

/* A plan of m that splits every step across its threads however small
 * (EML_POOL_MIN_WORK 0 while planning), run once on in. */
static struct eml_plan *
plan_split_run(const struct eml_model *m, const struct eml_tensor *in, size_t n_in,
    const struct eml_plan_opts *o)
{
	struct eml_plan *p = NULL;

	(void)setenv("EML_POOL_MIN_WORK", "0", 1);
	assert_eml_ok(eml_plan_new(m, in, n_in, o, &p));
	(void)unsetenv("EML_POOL_MIN_WORK");
	assert_eml_ok(eml_plan_run(p, in, n_in));
	return p;
}

static void
fill(uint64_t *rng, float *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		v[i] = (float)((double)(eml_test_rand(rng) >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static void
assert_close(const float *got, const float *want, size_t n, double tol)
{
	for (size_t i = 0; i < n; i++)
		if (!(fabs((double)got[i] - (double)want[i]) <= tol * (1.0 + fabs((double)want[i]))))
			fail_msg("element %zu: got %.9g want %.9g", i, (double)got[i],
			    (double)want[i]);
}

/* ------------------------------------------------------------ liveness */

#define LN 4096

/* y = Sigmoid(((Relu(2x + x) - 1)^2) + 2x): seven steps over one shape. */
static void
build_chain(void)
{
	static const char *n1i[] = { "x", "two", NULL }, *n1o[] = { "h1", NULL };
	static const char *n2i[] = { "h1", "x", NULL }, *n2o[] = { "h2", NULL };
	static const char *n3i[] = { "h2", NULL }, *n3o[] = { "h3", NULL };
	static const char *n4i[] = { "h3", "one", NULL }, *n4o[] = { "h4", NULL };
	static const char *n5i[] = { "h4", "h4", NULL }, *n5o[] = { "h5", NULL };
	static const char *n6i[] = { "h5", "h1", NULL }, *n6o[] = { "h6", NULL };
	static const char *n7i[] = { "h6", NULL }, *n7o[] = { "y", NULL };
	int64_t d[2] = { 1, LN };
	float two = 2.0f, one = 1.0f;

	G->n = 0;
	init_f("two", NULL, 0, &two, 1);
	init_f("one", NULL, 0, &one, 1);
	node("Mul", "n1", n1i, n1o), emit();
	node("Add", "n2", n2i, n2o), emit();
	node("Relu", "n3", n3i, n3o), emit();
	node("Sub", "n4", n4i, n4o), emit();
	node("Mul", "n5", n5i, n5o), emit();
	node("Add", "n6", n6i, n6o), emit();
	node("Sigmoid", "n7", n7i, n7o), emit();
	io(11, "x", 1, d, 2);
	io(12, "y", 1, d, 2);
}

static void
test_liveness(void **state)
{
	uint64_t rng = eml_test_seed();
	float *x = eml_alloc(LN * sizeof(float)), *want = eml_alloc(LN * sizeof(float));
	int64_t d[2] = { 1, LN };
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan_stats st;

	(void)state;
	assert_non_null(x);
	assert_non_null(want);
	fill(&rng, x, LN);
	for (size_t i = 0; i < LN; i++) {
		float h1 = x[i] * 2.0f, h3 = fmaxf(h1 + x[i], 0.0f), h4 = h3 - 1.0f;
		want[i] = 1.0f / (1.0f + expf(-(h4 * h4 + h1)));
	}
	build_chain();
	m = load(13);
	in = ftensor(x, 2, d);
	for (int variant = 0; variant < 2; variant++) {
		struct eml_plan_opts o = { .nthreads = 1, .no_inplace = variant == 1 };
		struct eml_plan *p = NULL;
		assert_eml_ok(eml_plan_new(m, &in, 1, &o, &p));
		assert_eml_ok(eml_plan_run(p, &in, 1));
		assert_close(eml_plan_output(p, 0)->data, want, LN, 1e-5);
		eml_plan_get_stats(p, &st);
		assert_int_equal(st.n_steps, 7);
		/* 8 tensors of 16 KiB without reuse; at most 3 live at once. */
		assert_true(st.naive_bytes >= 8 * LN * sizeof(float));
		assert_true(st.arena_bytes <= 3 * LN * sizeof(float) + 4096);
		if (variant == 0)
			assert_true(st.n_inplace >= 3);
		else
			assert_int_equal(st.n_inplace, 0);
		eml_plan_free(p);
	}
	eml_model_free(m);
	eml_free(x);
	eml_free(want);
}

/* ------------------------------------------------------------ folding */

static void
test_folding(void **state)
{
	static const char *si[] = { "x", NULL }, *so[] = { "s", NULL };
	static const char *gi[] = { "s", "zero", NULL }, *go[] = { "n", NULL };
	static const char *ui[] = { "n", "ax0", NULL }, *uo[] = { "n1", NULL };
	static const char *ci[] = { "n1", "minus1", NULL }, *co[] = { "shape", NULL };
	static const char *ri[] = { "x", "shape", NULL }, *ro[] = { "y", NULL };
	int64_t d[3] = { 2, 3, 4 }, dsym[3] = { -1, 3, 4 }, od[2] = { -1, 12 }, one = 1, zero = 0;
	int64_t m1 = -1;
	float x[24];
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan *p = NULL;
	struct eml_plan_stats st;
	const struct eml_tensor *y;

	(void)state;
	for (int i = 0; i < 24; i++)
		x[i] = (float)i;
	G->n = 0;
	init_i64("zero", NULL, 0, &zero, 1);
	init_i64("ax0", &one, 1, &zero, 1);
	init_i64("minus1", &one, 1, &m1, 1);
	node("Shape", "shape_of", si, so), emit();
	node("Gather", "first", gi, go), emit();
	node("Unsqueeze", "unsq", ui, uo), emit();
	node("Concat", "cat", ci, co), onnx_attr_int(N, "axis", 0), emit();
	node("Reshape", "reshape", ri, ro), emit();
	io(11, "x", 1, dsym, 3);
	io(12, "y", 1, od, 2);
	m = load(13);
	in = ftensor(x, 3, d);
	assert_eml_ok(eml_plan_new(m, &in, 1, NULL, &p));
	eml_plan_get_stats(p, &st);
	assert_int_equal(st.n_folded, 4);
	assert_int_equal(st.n_steps, 1);
	assert_int_equal(st.n_alias, 1);
	assert_eml_ok(eml_plan_run(p, &in, 1));
	y = eml_plan_output(p, 0);
	assert_int_equal(y->rank, 2);
	assert_int_equal(y->dims[0], 2);
	assert_int_equal(y->dims[1], 12);
	assert_memory_equal(y->data, x, sizeof(x));
	eml_plan_free(p);
	/* Another batch size: another plan, other folded shape. */
	d[0] = 1;
	in = ftensor(x, 3, d);
	assert_eml_ok(eml_plan_new(m, &in, 1, NULL, &p));
	assert_eml_ok(eml_plan_run(p, &in, 1));
	assert_int_equal(eml_plan_output(p, 0)->dims[0], 1);
	assert_int_equal(eml_plan_output(p, 0)->dims[1], 12);
	/* Running with the other shape is refused. */
	d[0] = 2;
	in = ftensor(x, 3, d);
	assert_eml(eml_plan_run(p, &in, 1), EML_ERR_INFER_INPUT);
	eml_plan_free(p);
	eml_model_free(m);
}

/* ------------------------------------------------------------ fusions */

#define C_IN 3
#define C_OUT 4
#define HW 8

/* Conv(x) with pads 1, double accumulation: the reference of the tests
 * below. */
static void
ref_conv(const float *x, const float *w, const float *b, float *y)
{
	for (int m = 0; m < C_OUT; m++)
		for (int oh = 0; oh < HW; oh++)
			for (int ow = 0; ow < HW; ow++) {
				double acc = b[m];
				for (int c = 0; c < C_IN; c++)
					for (int i = 0; i < 3; i++)
						for (int j = 0; j < 3; j++) {
							int ih = oh + i - 1, iw = ow + j - 1;
							if (ih < 0 || iw < 0 || ih >= HW || iw >= HW)
								continue;
							acc += (double)x[(c * HW + ih) * HW + iw] *
							    (double)w[((m * C_IN + c) * 3 + i) * 3 + j];
						}
				y[(m * HW + oh) * HW + ow] = (float)acc;
			}
}

/* Relu(BatchNormalization(Conv(x))), epsilon 1e-5. */
static void
ref_conv_bn_relu(const float *x, const float *w, const float *b, const float *bn, float *y)
{
	ref_conv(x, w, b, y);
	for (int m = 0; m < C_OUT; m++) {
		float s = bn[m] / sqrtf(bn[3 * C_OUT + m] + 1e-5f);
		for (int i = 0; i < HW * HW; i++) {
			float *o = &y[m * HW * HW + i];
			float v = (*o - bn[2 * C_OUT + m]) * s + bn[C_OUT + m];
			*o = v > 0 ? v : 0;
		}
	}
}

/* Plans m with fusion (pass 0, one thread) and without (pass 1, on
 * threads1 threads), runs each on in[0 .. n_in) and checks output 0 against want
 * (n floats) and the plan's fused node and step counts per pass (a step
 * count below 0 is not checked). got, when not NULL, takes both outputs
 * (2 n floats) for a bit comparison by the caller. */
static void
plan_both_ways(struct eml_model *m, const struct eml_tensor *in, size_t n_in, const float *want,
    size_t n, float tol, int threads1, const int fused[2], const int steps[2], float *got)
{
	for (int pass = 0; pass < 2; pass++) {
		struct eml_plan_opts o = { .nthreads = pass == 0 ? 1 : threads1,
			.no_fusion = pass == 1 };
		struct eml_plan *p = NULL;
		struct eml_plan_stats st;

		assert_eml_ok(eml_plan_new(m, in, n_in, &o, &p));
		assert_eml_ok(eml_plan_run(p, in, n_in));
		assert_close(eml_plan_output(p, 0)->data, want, n, tol);
		if (got != NULL)
			memcpy(got + (size_t)pass * n, eml_plan_output(p, 0)->data, n * sizeof(float));
		eml_plan_get_stats(p, &st);
		assert_int_equal(st.n_fused, fused[pass]);
		if (steps[pass] >= 0)
			assert_int_equal(st.n_steps, steps[pass]);
		eml_plan_free(p);
	}
}

static void
conv_inits(uint64_t *rng, float *x, float *w, float *b)
{
	int64_t wd[4] = { C_OUT, C_IN, 3, 3 }, cd = C_OUT;

	fill(rng, x, C_IN * HW * HW);
	fill(rng, w, C_OUT * C_IN * 9);
	fill(rng, b, C_OUT);
	G->n = 0;
	init_f("w", wd, 4, w, C_OUT * C_IN * 9);
	init_f("b", &cd, 1, b, C_OUT);
}

/* Random BatchNormalization parameters (scale, bias, mean, variance > 0)
 * for C_OUT channels, drawn after the conv's and added as initializers. */
static void
bn_inits(uint64_t *rng, float *bn)
{
	int64_t cd = C_OUT;

	fill(rng, bn, 4 * C_OUT);
	for (int i = 0; i < C_OUT; i++)
		bn[3 * C_OUT + i] = fabsf(bn[3 * C_OUT + i]) + 0.1f;
	init_f("g", &cd, 1, bn, C_OUT);
	init_f("beta", &cd, 1, bn + C_OUT, C_OUT);
	init_f("mean", &cd, 1, bn + 2 * C_OUT, C_OUT);
	init_f("var", &cd, 1, bn + 3 * C_OUT, C_OUT);
}

static void
test_fusion_conv_bn_relu(void **state)
{
	static const char *ci[] = { "x", "w", "b", NULL }, *co[] = { "c", NULL };
	static const char *bi[] = { "c", "g", "beta", "mean", "var", NULL }, *bo[] = { "n", NULL };
	static const char *ri[] = { "n", NULL }, *ro[] = { "y", NULL };
	uint64_t rng = eml_test_seed();
	float x[C_IN * HW * HW], w[C_OUT * C_IN * 9], b[C_OUT], bn[4 * C_OUT];
	float want[C_OUT * HW * HW];
	int64_t xd[4] = { 1, C_IN, HW, HW }, yd[4] = { 1, C_OUT, HW, HW };
	int64_t pads[4] = { 1, 1, 1, 1 };
	struct eml_tensor in;
	struct eml_model *m;

	(void)state;
	conv_inits(&rng, x, w, b);
	bn_inits(&rng, bn);
	ref_conv_bn_relu(x, w, b, bn, want);
	node("Conv", "conv", ci, co), onnx_attr_ints(N, "pads", pads, 4), emit();
	node("BatchNormalization", "bn", bi, bo), emit();
	node("Relu", "relu", ri, ro), emit();
	io(11, "x", 1, xd, 4);
	io(12, "y", 1, yd, 4);
	m = load(13);
	in = ftensor(x, 4, xd);
	plan_both_ways(m, &in, 1, want, sizeof(want) / sizeof(want[0]), 1e-4f, 1, (int[2]){ 2, 0 },
	    (int[2]){ 1, 3 }, NULL);
	eml_model_free(m);
}

static void
test_fusion_matmul_bias_act(void **state)
{
	static const char *mi[] = { "x", "w", NULL }, *mo[] = { "h", NULL };
	static const char *ai[] = { "h", "b", NULL }, *ao[] = { "hb", NULL };
	static const char *ri[] = { "hb", NULL }, *ro[] = { "y", NULL };
	uint64_t rng = eml_test_seed();
	enum { B = 2, S = 5, K = 8, NO = 6 };
	float x[B * S * K], w[K * NO], b[NO], want[B * S * NO];
	int64_t xd[3] = { B, S, K }, wd[2] = { K, NO }, bd = NO, yd[3] = { B, S, NO };
	struct eml_tensor in;
	struct eml_model *m;

	(void)state;
	fill(&rng, x, sizeof(x) / sizeof(x[0]));
	fill(&rng, w, sizeof(w) / sizeof(w[0]));
	fill(&rng, b, NO);
	for (int r = 0; r < B * S; r++)
		for (int j = 0; j < NO; j++) {
			double acc = 0;
			for (int k = 0; k < K; k++)
				acc += (double)x[r * K + k] * (double)w[k * NO + j];
			want[r * NO + j] = tanhf((float)acc + b[j]);
		}
	G->n = 0;
	init_f("w", wd, 2, w, K * NO);
	init_f("b", &bd, 1, b, NO);
	node("MatMul", "mm", mi, mo), emit();
	node("Add", "bias", ai, ao), emit();
	node("Tanh", "act", ri, ro), emit();
	io(11, "x", 1, xd, 3);
	io(12, "y", 1, yd, 3);
	m = load(13);
	in = ftensor(x, 3, xd);
	plan_both_ways(m, &in, 1, want, B * S * NO, 1e-5f, 2, (int[2]){ 2, 0 }, (int[2]){ -1, -1 },
	    NULL);
	eml_model_free(m);
}

/* Batched MatMul of two run-time operands, then Div by a constant: the
 * scale becomes the GEMM's alpha (attention's 1/sqrt(d)). */
static void
test_fusion_matmul_scale(void **state)
{
	static const char *mi[] = { "a", "b", NULL }, *mo[] = { "s", NULL };
	static const char *di[] = { "s", "scale", NULL }, *dop[] = { "y", NULL };
	uint64_t rng = eml_test_seed();
	enum { H = 3, RM = 4, K = 5, NN = 6 };
	float a[H * RM * K], b[H * K * NN], want[H * RM * NN], scale = 8.0f;
	int64_t ad[3] = { H, RM, K }, bd[3] = { H, K, NN }, yd[3] = { H, RM, NN };
	struct eml_tensor in[2];
	struct eml_model *m;

	(void)state;
	fill(&rng, a, sizeof(a) / sizeof(a[0]));
	fill(&rng, b, sizeof(b) / sizeof(b[0]));
	for (int h = 0; h < H; h++)
		for (int i = 0; i < RM; i++)
			for (int j = 0; j < NN; j++) {
				double acc = 0;
				for (int k = 0; k < K; k++)
					acc += (double)a[(h * RM + i) * K + k] *
					    (double)b[(h * K + k) * NN + j];
				want[(h * RM + i) * NN + j] = (float)(acc / 8.0);
			}
	G->n = 0;
	init_f("scale", NULL, 0, &scale, 1);
	node("MatMul", "qk", mi, mo), emit();
	node("Div", "scaled", di, dop), emit();
	io(11, "a", 1, ad, 3);
	io(11, "b", 1, bd, 3);
	io(12, "y", 1, yd, 3);
	m = load(13);
	in[0] = ftensor(a, 3, ad);
	in[1] = ftensor(b, 3, bd);
	plan_both_ways(m, in, 2, want, H * RM * NN, 1e-5f, 1, (int[2]){ 1, 0 }, (int[2]){ 1, 2 }, NULL);
	eml_model_free(m);
}

/* A conv output that another node reads as well takes no fusion: Relu(c)
 * and BatchNormalization(c), then Add(both). Fused, the conv would write
 * the normalized values and the Relu would read no conv output at all. */
static void
test_fusion_shared_output(void **state)
{
	static const char *ci[] = { "x", "w", "b", NULL }, *co[] = { "c", NULL };
	static const char *bi[] = { "c", "g", "beta", "mean", "var", NULL }, *bo[] = { "n", NULL };
	static const char *ri[] = { "c", NULL }, *ro[] = { "r", NULL };
	static const char *ai[] = { "n", "r", NULL }, *ao[] = { "y", NULL };
	uint64_t rng = eml_test_seed();
	float x[C_IN * HW * HW], w[C_OUT * C_IN * 9], b[C_OUT], bn[4 * C_OUT];
	float c[C_OUT * HW * HW], want[C_OUT * HW * HW], got[2][C_OUT * HW * HW];
	int64_t xd[4] = { 1, C_IN, HW, HW }, yd[4] = { 1, C_OUT, HW, HW };
	int64_t pads[4] = { 1, 1, 1, 1 };
	struct eml_tensor in;
	struct eml_model *m;

	(void)state;
	conv_inits(&rng, x, w, b);
	bn_inits(&rng, bn);
	ref_conv(x, w, b, c);
	for (int i = 0; i < C_OUT * HW * HW; i++) {
		int ch = i / (HW * HW);
		float v = (c[i] - bn[2 * C_OUT + ch]) * (bn[ch] / sqrtf(bn[3 * C_OUT + ch] + 1e-5f)) +
		    bn[C_OUT + ch];
		want[i] = v + (c[i] > 0 ? c[i] : 0);
	}
	node("Conv", "conv", ci, co), onnx_attr_ints(N, "pads", pads, 4), emit();
	node("Relu", "relu", ri, ro), emit();
	node("BatchNormalization", "bn", bi, bo), emit();
	node("Add", "add", ai, ao), emit();
	io(11, "x", 1, xd, 4);
	io(12, "y", 1, yd, 4);
	m = load(13);
	in = ftensor(x, 4, xd);
	plan_both_ways(m, &in, 1, want, C_OUT * HW * HW, 1e-4f, 1, (int[2]){ 0, 0 }, (int[2]){ 4, 4 },
	    got[0]);
	assert_memory_equal(got[0], got[1], sizeof(got[0]));
	eml_model_free(m);
}

/* HardSwish as PaddlePaddle writes it after a conv: Div(Mul(c, Clip(Add(c,
 * 3), 0, 6)), 6) becomes HardSwish(c), and the conv takes it as its
 * epilogue only when nothing else reads c: the nodes the rewrite removed
 * (Add, Mul) no longer count as readers. With c also read by a Relu (a
 * second output), the rewrite happens and the fusion does not. */
static void
test_fusion_after_rewrite(void **state)
{
	static const char *ci[] = { "x", "w", "b", NULL }, *co[] = { "c", NULL };
	static const char *ai[] = { "c", "three", NULL }, *ao[] = { "a", NULL };
	static const char *cli[] = { "a", NULL }, *clo[] = { "cl", NULL };
	static const char *mi[] = { "c", "cl", NULL }, *mo[] = { "mu", NULL };
	static const char *di[] = { "mu", "six", NULL }, *dop[] = { "y", NULL };
	static const char *ri[] = { "c", NULL }, *ro[] = { "z", NULL };
	uint64_t rng = eml_test_seed();
	float x[C_IN * HW * HW], w[C_OUT * C_IN * 9], b[C_OUT], three = 3.0f, six = 6.0f;
	float c[C_OUT * HW * HW], want[C_OUT * HW * HW], relu[C_OUT * HW * HW];
	int64_t xd[4] = { 1, C_IN, HW, HW }, yd[4] = { 1, C_OUT, HW, HW };
	int64_t pads[4] = { 1, 1, 1, 1 };

	(void)state;
	for (int shared = 0; shared < 2; shared++) {
		struct eml_tensor in;
		struct eml_model *m;

		conv_inits(&rng, x, w, b);
		ref_conv(x, w, b, c);
		for (int i = 0; i < C_OUT * HW * HW; i++) {
			float r6 = fminf(fmaxf(c[i] + 3.0f, 0.0f), 6.0f);
			want[i] = c[i] * r6 / 6.0f;
			relu[i] = c[i] > 0 ? c[i] : 0;
		}
		init_f("three", NULL, 0, &three, 1);
		init_f("six", NULL, 0, &six, 1);
		node("Conv", "conv", ci, co), onnx_attr_ints(N, "pads", pads, 4), emit();
		node("Add", "add", ai, ao), emit();
		node("Clip", "clip", cli, clo), onnx_attr_float(N, "min", 0.0f),
		    onnx_attr_float(N, "max", 6.0f), emit();
		node("Mul", "mul", mi, mo), emit();
		node("Div", "div", di, dop), emit();
		if (shared)
			node("Relu", "relu", ri, ro), emit();
		io(11, "x", 1, xd, 4);
		io(12, "y", 1, yd, 4);
		if (shared)
			io(12, "z", 1, yd, 4);
		m = load(9);
		in = ftensor(x, 4, xd);
		for (int variant = 0; variant < 2; variant++) {
			struct eml_plan_opts o = { .nthreads = 1, .no_fusion = variant == 1 };
			struct eml_plan *p = NULL;
			struct eml_plan_stats st;
			assert_eml_ok(eml_plan_new(m, &in, 1, &o, &p));
			assert_eml_ok(eml_plan_run(p, &in, 1));
			assert_close(eml_plan_output(p, 0)->data, want, C_OUT * HW * HW, 1e-4);
			if (shared)
				assert_close(eml_plan_output(p, 1)->data, relu, C_OUT * HW * HW, 1e-4);
			eml_plan_get_stats(p, &st);
			/* the rewrite counts the 3 nodes it removes, the fusion 1 */
			assert_int_equal(st.n_fused, variant == 1 ? 0 : shared ? 3 : 4);
			assert_int_equal(st.n_steps, variant == 1 ? 5 + shared : shared ? 3 : 1);
			eml_plan_free(p);
		}
		eml_model_free(m);
	}
}

/* ------------------------------------------------------------ errors */

static void
build_reshape_from_input(void)
{
	static const char *ri[] = { "x", "shape", NULL }, *ro[] = { "y", NULL };
	int64_t d[2] = { 2, 6 }, sd = 2, od[2] = { -1, -1 };

	G->n = 0;
	node("Reshape", "reshape", ri, ro), emit();
	io(11, "x", 1, d, 2);
	io(11, "shape", 7, &sd, 1);
	io(12, "y", 1, od, 2);
}

static void
test_input_checks(void **state)
{
	float x[12] = { 0 };
	int64_t d[2] = { 2, 6 }, bad[2] = { 3, 4 }, shape[2] = { 3, 4 }, other[2] = { 4, 3 };
	int64_t sd = 2;
	struct eml_tensor in[2];
	struct eml_model *m;
	struct eml_plan *p = NULL;
	struct eml_plan_opts bind = { .nthreads = 1, .bind_small_inputs = true };

	(void)state;
	build_reshape_from_input();
	m = load(13);
	in[0] = ftensor(x, 2, d);
	memset(&in[1], 0, sizeof(in[1]));
	in[1].dtype = EML_DT_INT64;
	in[1].rank = 1;
	in[1].dims[0] = sd;
	in[1].data = shape;
	in[1].nbytes = sizeof(shape);
	/* Count, dtype, fixed dims. */
	assert_eml(eml_plan_new(m, in, 1, NULL, &p), EML_ERR_INFER_INPUT);
	in[0].dtype = EML_DT_INT32;
	assert_eml(eml_plan_new(m, in, 2, NULL, &p), EML_ERR_INFER_INPUT);
	in[0] = ftensor(x, 2, bad);
	assert_eml(eml_plan_new(m, in, 2, NULL, &p), EML_ERR_INFER_INPUT);
	in[0] = ftensor(x, 2, d);
	/* A shape computed at run time is refused, clearly. */
	assert_eml(eml_plan_new(m, in, 2, NULL, &p), EML_ERR_INFER_NOT_CONST);
	assert_non_null(strstr(eml_err_detail(), "reshape"));
	/* Bound as a constant: runs, and another value is refused. */
	assert_eml_ok(eml_plan_new(m, in, 2, &bind, &p));
	assert_eml_ok(eml_plan_run(p, in, 2));
	assert_int_equal(eml_plan_output(p, 0)->dims[0], 3);
	in[1].data = other;
	assert_eml(eml_plan_run(p, in, 2), EML_ERR_INFER_INPUT);
	eml_plan_free(p);
	eml_model_free(m);
}

/*
 * A topology is written by its client: every attribute value is checked
 * when the model is loaded, before any plan. One node per case, each with
 * one value out of range; the load must refuse it and name the attribute.
 */
enum hostile_kind { H_INT, H_FLOAT, H_INTS };

struct hostile {
	const char *op;
	int n_in, n_out;
	int64_t opset;
	enum hostile_kind kind;
	const char *attr;
	int64_t i;
	float f;
	int64_t ints[4];
	size_t n_ints;
	const char *why; /* in the error detail */
};

static const struct hostile hostile_attrs[] = {
	{ "Conv", 2, 1, 13, H_INT, "group", (int64_t)1 << 40, 0, { 0 }, 0, "group" },
	{ "Conv", 2, 1, 13, H_INTS, "kernel_shape", 0, 0, { 3, 0 }, 2, "kernel_shape" },
	{ "Conv", 2, 1, 13, H_INTS, "kernel_shape", 0, 0, { 3, 3, 3, 3 }, 4, "kernel_shape" },
	{ "Conv", 2, 1, 13, H_INTS, "strides", 0, 0, { -1 }, 1, "strides" },
	{ "Conv", 2, 1, 13, H_INTS, "pads", 0, 0, { 0, 1 << 20 }, 2, "pads" },
	{ "ConvTranspose", 2, 1, 13, H_INTS, "output_shape", 0, 0, { INT64_MIN }, 1,
	    "output_shape" },
	{ "ConvTranspose", 2, 1, 13, H_INTS, "output_padding", 0, 0, { -1 }, 1,
	    "output_padding" },
	{ "MaxPool", 1, 1, 13, H_INT, "ceil_mode", 2, 0, { 0 }, 0, "ceil_mode" },
	{ "AveragePool", 1, 1, 13, H_INTS, "dilations", 0, 0, { 1 << 30 }, 1, "dilations" },
	{ "Softmax", 1, 1, 13, H_INT, "axis", 100, 0, { 0 }, 0, "axis" },
	{ "Flatten", 1, 1, 13, H_INT, "axis", INT64_MIN, 0, { 0 }, 0, "axis" },
	{ "Gather", 2, 1, 13, H_INT, "axis", -9, 0, { 0 }, 0, "axis" },
	{ "ReduceSum", 1, 1, 11, H_INT, "keepdims", 7, 0, { 0 }, 0, "keepdims" },
	{ "ReduceMean", 1, 1, 11, H_INTS, "axes", 0, 0, { 0, 9 }, 2, "axes" },
	{ "Unsqueeze", 1, 1, 11, H_INTS, "axes", 0, 0, { INT64_MAX }, 1, "axes" },
	{ "Transpose", 1, 1, 13, H_INTS, "perm", 0, 0, { 0, 8 }, 2, "perm" },
	{ "Gemm", 2, 1, 13, H_FLOAT, "alpha", 0, NAN, { 0 }, 0, "alpha" },
	{ "Gemm", 2, 1, 13, H_INT, "transA", 2, 0, { 0 }, 0, "transA" },
	{ "LayerNormalization", 2, 1, 17, H_FLOAT, "epsilon", 0, -1.0f, { 0 }, 0, "epsilon" },
	{ "BatchNormalization", 5, 1, 15, H_FLOAT, "epsilon", 0, INFINITY, { 0 }, 0,
	    "epsilon" },
	{ "Celu", 1, 1, 13, H_FLOAT, "alpha", 0, 0.0f, { 0 }, 0, "alpha" },
	{ "LeakyRelu", 1, 1, 13, H_FLOAT, "alpha", 0, INFINITY, { 0 }, 0, "alpha" },
	{ "Clip", 1, 1, 6, H_FLOAT, "min", 0, NAN, { 0 }, 0, "min" },
	{ "Dropout", 1, 1, 13, H_FLOAT, "ratio", 0, 1.5f, { 0 }, 0, "ratio" },
	{ "Split", 1, 2, 18, H_INT, "num_outputs", 3, 0, { 0 }, 0, "num_outputs" },
	{ "Split", 1, 2, 11, H_INTS, "split", 0, 0, { -1, 3 }, 2, "split" },
	{ "ArgMax", 1, 1, 13, H_INT, "select_last_index", -1, 0, { 0 }, 0, "select_last_index" },
	{ "CumSum", 2, 1, 14, H_INT, "reverse", 3, 0, { 0 }, 0, "reverse" },
	{ "Mod", 2, 1, 13, H_INT, "fmod", 5, 0, { 0 }, 0, "fmod" },
	{ "Trilu", 1, 1, 14, H_INT, "upper", 2, 0, { 0 }, 0, "upper" },
	{ "Reshape", 2, 1, 14, H_INT, "allowzero", -1, 0, { 0 }, 0, "allowzero" },
	{ "CastLike", 2, 1, 19, H_INT, "saturate", 9, 0, { 0 }, 0, "saturate" },
	/* issue 19's operators */
	{ "DepthToSpace", 1, 1, 13, H_INT, "blocksize", 0, 0, { 0 }, 0, "blocksize" },
	{ "SpaceToDepth", 1, 1, 13, H_INT, "blocksize", 1 << 20, 0, { 0 }, 0, "blocksize" },
	{ "GatherND", 2, 1, 13, H_INT, "batch_dims", 9, 0, { 0 }, 0, "batch_dims" },
	{ "TopK", 2, 2, 11, H_INT, "largest", 2, 0, { 0 }, 0, "largest" },
	{ "TopK", 2, 2, 11, H_INT, "axis", 100, 0, { 0 }, 0, "axis" },
	{ "OneHot", 3, 1, 11, H_INT, "axis", INT64_MIN, 0, { 0 }, 0, "axis" },
	{ "ScatterElements", 3, 1, 13, H_INT, "axis", -100, 0, { 0 }, 0, "axis" },
	{ "IsInf", 1, 1, 10, H_INT, "detect_negative", 3, 0, { 0 }, 0, "detect_negative" },
	{ "Shrink", 1, 1, 9, H_FLOAT, "lambd", 0, NAN, { 0 }, 0, "lambd" },
	{ "EyeLike", 1, 1, 9, H_INT, "k", (int64_t)1 << 50, 0, { 0 }, 0, "k" },
	{ "LSTM", 3, 1, 14, H_INT, "hidden_size", (int64_t)1 << 40, 0, { 0 }, 0, "hidden_size" },
	{ "LSTM", 3, 1, 14, H_INT, "input_forget", 1, 0, { 0 }, 0, "input_forget" },
	{ "GRU", 3, 1, 14, H_INT, "linear_before_reset", 2, 0, { 0 }, 0, "linear_before_reset" },
	{ "RNN", 3, 1, 14, H_FLOAT, "clip", 0, -1.0f, { 0 }, 0, "clip" },
	{ "RNN", 3, 1, 14, H_INT, "layout", 2, 0, { 0 }, 0, "layout" },
	{ "LRN", 1, 1, 13, H_INT, "size", 0, 0, { 0 }, 0, "size" },
	{ "ReverseSequence", 2, 1, 10, H_INT, "time_axis", 2, 0, { 0 }, 0, "time_axis" },
	{ "HannWindow", 1, 1, 17, H_INT, "periodic", 2, 0, { 0 }, 0, "periodic" },
	{ "NonMaxSuppression", 2, 1, 11, H_INT, "center_point_box", 2, 0, { 0 }, 0,
	    "center_point_box" },
	{ "GridSample", 2, 1, 16, H_INT, "align_corners", 5, 0, { 0 }, 0, "align_corners" },
	{ "Resize", 1, 1, 13, H_FLOAT, "cubic_coeff_a", 0, INFINITY, { 0 }, 0, "cubic_coeff_a" },
	{ "Resize", 1, 1, 13, H_INT, "exclude_outside", 3, 0, { 0 }, 0, "exclude_outside" },
	{ "Add", 2, 1, 13, H_INT, "broadcast", 1, 0, { 0 }, 0, "broadcast" },
	{ "Gemm", 2, 1, 13, H_INT, "broadcast", 1, 0, { 0 }, 0, "broadcast" },
	{ "Compress", 2, 1, 11, H_INT, "axis", 9, 0, { 0 }, 0, "axis" },
};

static void
build_hostile(const struct hostile *h)
{
	static const char *ins[] = { "i0", "i1", "i2", "i3", "i4", NULL };
	static const char *outs[] = { "o0", "o1", NULL };
	const char *in_list[6] = { NULL }, *out_list[3] = { NULL };
	int64_t d[2] = { 2, 2 };

	G->n = 0;
	for (int k = 0; k < h->n_in; k++)
		in_list[k] = ins[k];
	for (int k = 0; k < h->n_out; k++)
		out_list[k] = outs[k];
	node(h->op, "hostile", in_list, out_list);
	if (h->kind == H_INT)
		onnx_attr_int(N, h->attr, h->i);
	else if (h->kind == H_FLOAT)
		onnx_attr_float(N, h->attr, h->f);
	else
		onnx_attr_ints(N, h->attr, h->ints, h->n_ints);
	emit();
	for (int k = 0; k < h->n_in; k++)
		io(11, ins[k], 1, d, 2);
	for (int k = 0; k < h->n_out; k++)
		io(12, outs[k], 1, d, 2);
}

static void
test_hostile_attributes(void **state)
{
	(void)state;
	for (size_t c = 0; c < sizeof(hostile_attrs) / sizeof(hostile_attrs[0]); c++) {
		const struct hostile *h = &hostile_attrs[c];
		struct eml_graph *g = NULL;
		struct eml_model *m = NULL;
		eml_err rc;

		build_hostile(h);
		onnx_model(M, G, h->opset);
		assert_eml_ok(eml_onnx_import(M->b, M->n, &g));
		rc = eml_model_new(g, &m);
		if (rc != EML_ERR_INFER_ATTR || strstr(eml_err_detail(), h->attr) == NULL)
			fail_msg("%s %s: load gave %s (%s), want %s refused", h->op, h->attr,
			    eml_err_name(rc), eml_err_detail(), h->why);
		assert_null(m);
	}
}

/* ConvTranspose takes a following activation into its col2im pass, which
 * walks the in-image column range of each tap (kernel = stride without
 * pads: one interleaving pass per output row), in bands of output rows
 * when there are few channels: the same outputs as the unfused plan, with
 * strides, dilation, pads, output_padding, groups, one output channel,
 * ragged sizes, 1 and 2 threads, and a plain-loop scatter written here. */
struct convt_case {
	int nb, c, h, w, gr, mg, k, s, d, p, op;
};

static void
convtranspose_case(const struct convt_case *t)
{
	static const char *ci[] = { "x", "w", "b", NULL }, *co[] = { "h", NULL };
	static const char *ai[] = { "h", NULL }, *ao[] = { "y", NULL };
	int NB = t->nb, C = t->c, H = t->h, W = t->w, GR = t->gr, MG = t->mg, K = t->k, S = t->s,
	    D = t->d, P = t->p, OP = t->op;
	int MO = MG * GR, OH = S * (H - 1) + OP + D * (K - 1) + 1 - 2 * P,
	    OW = S * (W - 1) + OP + D * (K - 1) + 1 - 2 * P;
	size_t xn = (size_t)(NB * C * H * W), wn = (size_t)(C * MG * K * K),
	       yn = (size_t)(NB * MO * OH * OW);
	uint64_t rng = eml_test_seed();
	float *x = test_malloc(xn * sizeof(float)), *w = test_malloc(wn * sizeof(float));
	float *b = test_malloc((size_t)MO * sizeof(float)), *want = test_malloc(yn * sizeof(float));
	int64_t xd[4] = { NB, C, H, W }, wd[4] = { C, MG, K, K }, bd = MO;
	int64_t yd[4] = { NB, MO, OH, OW }, st2[2] = { S, S }, pads[4] = { P, P, P, P };
	int64_t ks[2] = { K, K }, opad[2] = { OP, OP }, dil[2] = { D, D };
	struct eml_tensor in;
	struct eml_model *mdl;

	fill(&rng, x, xn);
	fill(&rng, w, wn);
	fill(&rng, b, (size_t)MO);
	/* y[n][g*MG+mm][ih*S - P + i*D][iw*S - P + j*D] += x[n][g*CG+c][ih][iw] w[g*CG+c][mm][i][j] */
	for (int n = 0; n < NB; n++)
		for (int o = 0; o < MO; o++)
			for (int e = 0; e < OH * OW; e++)
				want[(n * MO + o) * OH * OW + e] = b[o];
	for (int n = 0; n < NB; n++)
		for (int c = 0; c < C; c++)
			for (int mm = 0; mm < MG; mm++)
				for (int i = 0; i < K; i++)
					for (int j = 0; j < K; j++)
						for (int ih = 0; ih < H; ih++)
							for (int iw = 0; iw < W; iw++) {
								int oh = ih * S - P + i * D, ow = iw * S - P + j * D;
								int o = (c / (C / GR)) * MG + mm;
								if (oh < 0 || oh >= OH || ow < 0 || ow >= OW)
									continue;
								want[((n * MO + o) * OH + oh) * OW + ow] +=
								    x[((n * C + c) * H + ih) * W + iw] *
								    w[((c * MG + mm) * K + i) * K + j];
							}
	for (size_t e = 0; e < yn; e++)
		want[e] = 1.0f / (1.0f + expf(-want[e]));
	G->n = 0;
	init_f("w", wd, 4, w, wn);
	init_f("b", &bd, 1, b, (size_t)MO);
	node("ConvTranspose", "ct", ci, co);
	onnx_attr_ints(N, "strides", st2, 2);
	onnx_attr_ints(N, "pads", pads, 4);
	onnx_attr_ints(N, "kernel_shape", ks, 2);
	onnx_attr_ints(N, "dilations", dil, 2);
	onnx_attr_ints(N, "output_padding", opad, 2);
	onnx_attr_int(N, "group", GR);
	emit();
	node("Sigmoid", "act", ai, ao), emit();
	io(11, "x", 1, xd, 4);
	io(12, "y", 1, yd, 4);
	mdl = load(13);
	in = ftensor(x, 4, xd);
	for (int variant = 0; variant < 3; variant++) {
		struct eml_plan_opts o = { .nthreads = variant == 2 ? 2 : 1,
			.no_fusion = variant == 1 };
		struct eml_plan *p = NULL;
		struct eml_plan_stats st;

		p = plan_split_run(mdl, &in, 1, &o);
		assert_int_equal(eml_plan_output(p, 0)->nbytes, yn * sizeof(float));
		assert_close(eml_plan_output(p, 0)->data, want, yn, 1e-5);
		eml_plan_get_stats(p, &st);
		assert_int_equal(st.n_fused, variant == 1 ? 0 : 1);
		eml_plan_free(p);
	}
	eml_model_free(mdl);
	test_free(want);
	test_free(b);
	test_free(w);
	test_free(x);
}

static void
test_convtranspose_fused(void **state)
{
	static const struct convt_case cases[] = {
		/* nb c h w gr mg k s d p op */
		{ 2, 4, 5, 7, 2, 3, 3, 2, 1, 1, 1 }, /* overlapping taps, pads */
		{ 1, 3, 4, 6, 1, 2, 3, 1, 2, 2, 0 }, /* dilation */
		{ 1, 5, 5, 7, 1, 1, 2, 2, 1, 0, 1 }, /* kernel = stride, one channel */
		{ 2, 6, 3, 9, 2, 2, 3, 3, 1, 0, 0 }, /* kernel = stride 3, groups */
		{ 1, 4, 6, 5, 1, 12, 2, 2, 1, 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		convtranspose_case(&cases[i]);
}

/* MaxPool and AveragePool split over planes on two threads: the same
 * outputs as one thread and as a plain loop, on ragged planes (3x3/2,
 * pads 1; average without the pads in the divisor). */
static void
test_pool_threads(void **state)
{
	static const char *pi[] = { "x", NULL }, *po[] = { "y", NULL };
	enum { NB = 2, C = 7, H = 9, W = 11, K = 3, S = 2, P = 1 };
	enum { OH = (H + 2 * P - K) / S + 1, OW = (W + 2 * P - K) / S + 1 };
	static float x[NB * C * H * W], want[NB * C * OH * OW];
	int64_t xd[4] = { NB, C, H, W }, yd[4] = { NB, C, OH, OW };
	int64_t ks[2] = { K, K }, st2[2] = { S, S }, pads[4] = { P, P, P, P };
	uint64_t rng = eml_test_seed();
	struct eml_tensor in;

	(void)state;
	fill(&rng, x, sizeof(x) / sizeof(x[0]));
	in = ftensor(x, 4, xd);
	for (int is_max = 0; is_max < 2; is_max++) {
		struct eml_model *mdl;

		for (int pl = 0; pl < NB * C; pl++)
			for (int oh = 0; oh < OH; oh++)
				for (int ow = 0; ow < OW; ow++) {
					float acc = is_max ? -INFINITY : 0.0f;
					int cnt = 0;

					for (int i = 0; i < K; i++)
						for (int jj = 0; jj < K; jj++) {
							int ih = oh * S - P + i, iw = ow * S - P + jj;
							float v;

							if (ih < 0 || ih >= H || iw < 0 || iw >= W)
								continue;
							v = x[(pl * H + ih) * W + iw];
							acc = is_max ? (v > acc ? v : acc) : acc + v;
							cnt++;
						}
					want[(pl * OH + oh) * OW + ow] = is_max ? acc : acc / (float)cnt;
				}
		G->n = 0;
		node(is_max ? "MaxPool" : "AveragePool", "pool", pi, po);
		onnx_attr_ints(N, "kernel_shape", ks, 2);
		onnx_attr_ints(N, "strides", st2, 2);
		onnx_attr_ints(N, "pads", pads, 4);
		emit();
		io(11, "x", 1, xd, 4);
		io(12, "y", 1, yd, 4);
		mdl = load(13);
		for (int t = 1; t <= 2; t++) {
			struct eml_plan_opts o = { .nthreads = t };
			struct eml_plan *p = NULL;

			p = plan_split_run(mdl, &in, 1, &o);
			assert_int_equal(eml_plan_output(p, 0)->nbytes, sizeof(want));
			assert_close(eml_plan_output(p, 0)->data, want,
			    sizeof(want) / sizeof(want[0]), 1e-6);
			eml_plan_free(p);
		}
		eml_model_free(mdl);
	}
}

/* Attention's shape of work on two threads: a batched MatMul (A [2,3,M,K]
 * against B [3,K,N] broadcast over the first batch axis), Softmax over
 * its rows and Erf over everything, with every step split (the batch
 * across the threads, Softmax's rows and Erf's elements in ranges), on
 * ragged sizes (rows of 19, 570 elements): the plain loops' values at 1
 * and 2 threads. */
static void
test_batched_threads(void **state)
{
	static const char *mi[] = { "a", "b", NULL }, *mo[] = { "s", NULL };
	static const char *si[] = { "s", NULL }, *so[] = { "p", NULL };
	static const char *ei[] = { "p", NULL }, *eo[] = { "y", NULL };
	enum { B0 = 2, B1 = 3, RM = 5, RK = 7, RN = 19 };
	static float a[B0 * B1 * RM * RK], b[B1 * RK * RN], want[B0 * B1 * RM * RN];
	int64_t ad[4] = { B0, B1, RM, RK }, bd[3] = { B1, RK, RN }, yd[4] = { B0, B1, RM, RN };
	uint64_t rng = eml_test_seed();
	struct eml_tensor in[2];
	struct eml_model *mdl;

	(void)state;
	fill(&rng, a, sizeof(a) / sizeof(a[0]));
	fill(&rng, b, sizeof(b) / sizeof(b[0]));
	for (int i0 = 0; i0 < B0; i0++)
		for (int i1 = 0; i1 < B1; i1++)
			for (int m = 0; m < RM; m++) {
				double row[RN], mx = -1e300, sum = 0;
				for (int n = 0; n < RN; n++) {
					double acc = 0;
					for (int k = 0; k < RK; k++)
						acc += (double)a[((i0 * B1 + i1) * RM + m) * RK + k] *
						    (double)b[(i1 * RK + k) * RN + n];
					row[n] = acc;
					mx = acc > mx ? acc : mx;
				}
				for (int n = 0; n < RN; n++)
					sum += exp(row[n] - mx);
				for (int n = 0; n < RN; n++)
					want[((i0 * B1 + i1) * RM + m) * RN + n] =
					    (float)erf(exp(row[n] - mx) / sum);
			}
	G->n = 0;
	node("MatMul", "mm", mi, mo);
	emit();
	node("Softmax", "sm", si, so);
	onnx_attr_int(N, "axis", -1);
	emit();
	node("Erf", "erf", ei, eo);
	emit();
	io(11, "a", 1, ad, 4);
	io(11, "b", 1, bd, 3);
	io(12, "y", 1, yd, 4);
	mdl = load(13);
	in[0] = ftensor(a, 4, ad);
	in[1] = ftensor(b, 3, bd);
	for (int t = 1; t <= 2; t++) {
		struct eml_plan_opts o = { .nthreads = t };
		struct eml_plan *p = NULL;

		p = plan_split_run(mdl, in, 2, &o);
		assert_int_equal(eml_plan_output(p, 0)->nbytes, sizeof(want));
		assert_close(eml_plan_output(p, 0)->data, want, sizeof(want) / sizeof(want[0]), 2e-6);
		eml_plan_free(p);
	}
	eml_model_free(mdl);
}

/* QLinearConv on channel counts that are not a multiple of 4 (3: an RGB
 * input; 5 and 6; the engine pads them to 4 and 8 so the GEMM reads the
 * image without im2col), uint8 input with a zero point, int8 weights per
 * output channel, symmetric (the requantizing kernel) and with zero points
 * (the int32 path), ragged sizes, stride 1 and 2, padding, 1 and 2
 * threads splitting every step: the ONNX definition, written as plain
 * loops, exactly. */
static void
qconv_pad_case(int64_t C, int64_t stride, bool wzp)
{
	static const char *qi[] = { "x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b", NULL };
	static const char *qo[] = { "y", NULL };
	enum { QH = 9, QW = 11, QM = 37, QK = 3 };
	int64_t OH = (QH + 2 - QK) / stride + 1, OW = (QW + 2 - QK) / stride + 1;
	int64_t xd[4] = { 1, C, QH, QW }, wd[4] = { QM, C, QK, QK }, md = QM;
	int64_t yd[4] = { 1, QM, OH, OW }, ks[2] = { QK, QK }, st2[2] = { stride, stride };
	int64_t pads[4] = { 1, 1, 1, 1 };
	uint8_t x[6 * QH * QW], yzv = 7, xzv = 131, want[QM * 9 * 11];
	int8_t w[QM * 6 * QK * QK], wz[QM];
	int32_t bias[QM];
	float xs = 0.02f, ys = 0.05f, ws[QM];
	uint64_t rng = eml_test_seed();
	struct eml_tensor in;
	struct eml_model *mdl;

	for (size_t i = 0; i < (size_t)(C * QH * QW); i++)
		x[i] = (uint8_t)(eml_test_rand(&rng) % 256);
	for (size_t i = 0; i < (size_t)(QM * C * QK * QK); i++)
		w[i] = (int8_t)((int)(eml_test_rand(&rng) % 127) - 63);
	for (int m = 0; m < QM; m++) {
		ws[m] = 0.001f + 0.0001f * (float)m;
		wz[m] = wzp ? (int8_t)((int)(eml_test_rand(&rng) % 9) - 4) : 0;
		bias[m] = (int32_t)(eml_test_rand(&rng) % 2001) - 1000;
	}
	for (int m = 0; m < QM; m++)
		for (int64_t oh = 0; oh < OH; oh++)
			for (int64_t ow = 0; ow < OW; ow++) {
				int64_t acc = 0;
				float v;
				for (int64_t c = 0; c < C; c++)
					for (int i = 0; i < QK; i++)
						for (int j = 0; j < QK; j++) {
							int64_t ih = oh * stride - 1 + i, iw = ow * stride - 1 + j;
							int32_t xv = xzv;
							if (ih >= 0 && ih < QH && iw >= 0 && iw < QW)
								xv = x[(c * QH + ih) * QW + iw];
							acc += (int64_t)(xv - xzv) *
							    (w[((m * C + c) * QK + i) * QK + j] - wz[m]);
						}
				v = nearbyintf((float)(int32_t)(acc + bias[m]) * (xs * ws[m] / ys)) +
				    (float)yzv;
				want[(m * OH + oh) * OW + ow] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
			}
	G->n = 0;
	onnx_tensor(T, "xs", 1, NULL, 0, &xs, 4), pb_msg(G, 5, T);
	onnx_tensor(T, "xz", 2, NULL, 0, &xzv, 1), pb_msg(G, 5, T);
	onnx_tensor(T, "w", 3, wd, 4, w, (size_t)(QM * C * QK * QK)), pb_msg(G, 5, T);
	onnx_tensor(T, "ws", 1, &md, 1, ws, sizeof(ws)), pb_msg(G, 5, T);
	onnx_tensor(T, "wz", 3, &md, 1, wz, sizeof(wz)), pb_msg(G, 5, T);
	onnx_tensor(T, "ys", 1, NULL, 0, &ys, 4), pb_msg(G, 5, T);
	onnx_tensor(T, "yz", 2, NULL, 0, &yzv, 1), pb_msg(G, 5, T);
	onnx_tensor(T, "b", 6, &md, 1, bias, sizeof(bias)), pb_msg(G, 5, T);
	node("QLinearConv", "qc", qi, qo);
	onnx_attr_ints(N, "kernel_shape", ks, 2);
	onnx_attr_ints(N, "strides", st2, 2);
	onnx_attr_ints(N, "pads", pads, 4);
	emit();
	io(11, "x", 2, xd, 4);
	io(12, "y", 2, yd, 4);
	mdl = load(13);
	in = dtensor(EML_DT_UINT8, x, 4, xd);
	for (int t = 1; t <= 2; t++) {
		struct eml_plan_opts o = { .nthreads = t };
		struct eml_plan *p = NULL;
		const uint8_t *got;

		p = plan_split_run(mdl, &in, 1, &o);
		assert_int_equal(eml_plan_output(p, 0)->nbytes, (size_t)(QM * OH * OW));
		got = eml_plan_output(p, 0)->data;
		for (size_t i = 0; i < (size_t)(QM * OH * OW); i++)
			if (got[i] != want[i])
				fail_msg("C %lld stride %lld wz %d, %d threads: element %zu got %u want %u",
				    (long long)C, (long long)stride, wzp, t, i, got[i], want[i]);
		eml_plan_free(p);
	}
	eml_model_free(mdl);
}

static void
test_qconv_padded_channels(void **state)
{
	(void)state;
	for (int64_t C = 3; C <= 6; C++)
		for (int64_t s = 1; s <= 2; s++)
			for (int z = 0; z < 2; z++)
				qconv_pad_case(C, s, z != 0);
}

/* A chain of QLinearConv (eml_qconv_chain: the image between two of them
 * HWC when the second is the only reader, one group, channels a multiple
 * of 4): 3 -> 8 (group 1) -> 12 (group 2, stride 2: its input stays NCHW,
 * its output goes HWC) -> 20 (stride 1) -> 5 (1x1), batch 2, ragged
 * 9 x 11 images, uint8 with zero points, per-channel int8 weights
 * (symmetric: the requantizing kernel), a Relu-like clamp on one; 1 and 2
 * threads splitting every step: the same bytes as the plan without
 * fusions (each QLinearConv on its own, NCHW between), also when the
 * middle image is a graph output too (no HWC for it). */
struct qchain_conv {
	int64_t cin, cout, k, stride, group;
};

static const struct qchain_conv qchain[] = {
	{ 3, 8, 3, 1, 1 }, { 8, 12, 3, 2, 2 }, { 12, 20, 3, 1, 1 }, { 20, 5, 1, 1, 1 },
};

static void
qconv_chain_case(bool mid_out)
{
	enum { QN = 2, QH = 9, QW = 11, NC = 4 };
	static char names[NC][10][16];
	static int8_t w[NC][20 * 12 * 9];
	static int32_t bias[NC][20];
	static float ws[NC][20];
	static uint8_t x[QN * 3 * QH * QW];
	const char *qi[NC][10], *qo[NC][2];
	int64_t h = QH, wd = QW, xd[4] = { QN, 3, QH, QW }, yd[4], md[4];
	uint64_t rng = eml_test_seed();
	struct eml_tensor in;
	struct eml_model *mdl;
	const uint8_t *want[2] = { NULL, NULL };
	size_t nbytes[2] = { 0, 0 };
	uint8_t *keep[2][2] = { { NULL, NULL }, { NULL, NULL } };

	for (size_t i = 0; i < sizeof(x); i++)
		x[i] = (uint8_t)(eml_test_rand(&rng) % 256);
	G->n = 0;
	for (int c = 0; c < NC; c++) {
		const struct qchain_conv *q = &qchain[c];
		int64_t wdims[4] = { q->cout, q->cin / q->group, q->k, q->k }, mdim = q->cout;
		int64_t ks[2] = { q->k, q->k }, st[2] = { q->stride, q->stride };
		int64_t pd = q->k / 2, pads[4] = { pd, pd, pd, pd };
		float xs = 0.02f + 0.01f * (float)c, ys = 0.03f + 0.01f * (float)c;
		uint8_t xz = (uint8_t)(c == 0 ? 131 : 5 + c), yz = (uint8_t)(c == 2 ? 0 : 6 + c);
		int8_t wz[20];
		size_t nw = (size_t)(q->cout * (q->cin / q->group) * q->k * q->k);
		static const char *suf[10] = { "x", "xs", "xz", "w", "ws", "wz", "ys", "yz", "b", "y" };

		for (int k = 0; k < 10; k++) {
			snprintf(names[c][k], sizeof(names[c][k]), "%s%d", suf[k], c);
			qi[c][k] = names[c][k];
		}
		/* x of conv c is y of conv c - 1 */
		if (c > 0)
			qi[c][0] = names[c - 1][9];
		else
			snprintf(names[0][0], sizeof(names[0][0]), "x");
		qi[c][9] = NULL;
		qo[c][0] = names[c][9];
		qo[c][1] = NULL;
		for (size_t i = 0; i < nw; i++)
			w[c][i] = (int8_t)((int)(eml_test_rand(&rng) % 127) - 63);
		for (int m = 0; m < q->cout; m++) {
			ws[c][m] = 0.0005f + 0.0001f * (float)m;
			wz[m] = 0;
			bias[c][m] = (int32_t)(eml_test_rand(&rng) % 2001) - 1000;
		}
		onnx_tensor(T, qi[c][1], 1, NULL, 0, &xs, 4), pb_msg(G, 5, T);
		onnx_tensor(T, qi[c][2], 2, NULL, 0, &xz, 1), pb_msg(G, 5, T);
		onnx_tensor(T, qi[c][3], 3, wdims, 4, w[c], nw), pb_msg(G, 5, T);
		onnx_tensor(T, qi[c][4], 1, &mdim, 1, ws[c], (size_t)q->cout * 4), pb_msg(G, 5, T);
		onnx_tensor(T, qi[c][5], 3, &mdim, 1, wz, (size_t)q->cout), pb_msg(G, 5, T);
		onnx_tensor(T, qi[c][6], 1, NULL, 0, &ys, 4), pb_msg(G, 5, T);
		onnx_tensor(T, qi[c][7], 2, NULL, 0, &yz, 1), pb_msg(G, 5, T);
		onnx_tensor(T, qi[c][8], 6, &mdim, 1, bias[c], (size_t)q->cout * 4), pb_msg(G, 5, T);
		node("QLinearConv", names[c][9], qi[c], qo[c]);
		onnx_attr_ints(N, "kernel_shape", ks, 2);
		onnx_attr_ints(N, "strides", st, 2);
		onnx_attr_ints(N, "pads", pads, 4);
		onnx_attr_int(N, "group", q->group);
		emit();
		h = (h + 2 * pd - q->k) / q->stride + 1;
		wd = (wd + 2 * pd - q->k) / q->stride + 1;
		if (c == 2) {
			md[0] = QN, md[1] = q->cout, md[2] = h, md[3] = wd;
		}
	}
	yd[0] = QN, yd[1] = qchain[NC - 1].cout, yd[2] = h, yd[3] = wd;
	io(11, "x", 2, xd, 4);
	io(12, names[NC - 1][9], 2, yd, 4);
	if (mid_out)
		io(12, names[2][9], 2, md, 4);
	mdl = load(13);
	in = dtensor(EML_DT_UINT8, x, 4, xd);
	for (int nf = 1; nf >= 0; nf--)
		for (int t = 1; t <= 2; t++) {
			struct eml_plan_opts o = { .nthreads = t, .no_fusion = nf == 1 };
			struct eml_plan *p = NULL;

			p = plan_split_run(mdl, &in, 1, &o);
			for (size_t k = 0; k < (mid_out ? 2u : 1u); k++) {
				const struct eml_tensor *y = eml_plan_output(p, k);
				if (want[k] == NULL) {
					/* the first plan (no fusion, 1 thread): the oracle */
					keep[k][0] = eml_alloc(y->nbytes);
					assert_non_null(keep[k][0]);
					memcpy(keep[k][0], y->data, y->nbytes);
					want[k] = keep[k][0];
					nbytes[k] = y->nbytes;
					continue;
				}
				assert_int_equal(y->nbytes, nbytes[k]);
				for (size_t i = 0; i < nbytes[k]; i++)
					if (((const uint8_t *)y->data)[i] != want[k][i])
						fail_msg("mid_out %d output %zu, fusion %d, %d threads: byte %zu got %u want %u",
						    mid_out, k, !nf, t, i, ((const uint8_t *)y->data)[i],
						    want[k][i]);
			}
			eml_plan_free(p);
		}
	for (size_t k = 0; k < 2; k++)
		eml_free(keep[k][0]);
	eml_model_free(mdl);
}

static void
test_qconv_chain_hwc(void **state)
{
	(void)state;
	qconv_chain_case(false);
	qconv_chain_case(true);
}

/* ------------------------------------------------------------ Resize */

/* Image resizes take the kernels' table-driven 2-D path; no_fusion keeps
 * the generic N-D loop, the oracle here. Same bits (up to the sign of a
 * zero, which nearest now copies) over the modes, integer and fractional
 * scales both ways, ragged planes, 1 and 2 threads. Non-finite inputs only
 * for nearest: the generic linear loop also weighs the next channel by 0,
 * so an infinity there gives it NaN where the 2-D path is right. */
struct resize_case {
	const char *mode, *coord, *nearest;
	int64_t n, c, h, w;
	float sh, sw;
};

static const struct resize_case resize_cases[] = {
	{ "nearest", "asymmetric", "floor", 1, 3, 5, 7, 2.0f, 2.0f },
	{ "nearest", "half_pixel", "round_prefer_floor", 2, 3, 9, 4, 1.7f, 0.6f },
	{ "nearest", "tf_half_pixel_for_nn", "ceil", 1, 2, 6, 11, 3.0f, 8.0f },
	{ "nearest", "align_corners", "round_prefer_ceil", 1, 5, 7, 3, 0.5f, 2.5f },
	{ "linear", "half_pixel", "floor", 1, 3, 5, 7, 2.0f, 2.0f },
	{ "linear", "pytorch_half_pixel", "floor", 2, 2, 9, 13, 1.3f, 0.7f },
	{ "linear", "align_corners", "floor", 1, 4, 1, 6, 4.0f, 1.5f },
	{ "linear", "asymmetric", "floor", 1, 17, 3, 2, 0.5f, 3.0f },
};

static void
build_resize(const struct resize_case *rc)
{
	static const char *ri[] = { "x", "", "scales", NULL }, *ro[] = { "y", NULL };
	int64_t xd[4] = { rc->n, rc->c, rc->h, rc->w }, sd = 4;
	int64_t yd[4] = { rc->n, rc->c, (int64_t)floorf((float)rc->h * rc->sh),
		(int64_t)floorf((float)rc->w * rc->sw) };
	float sc[4] = { 1.0f, 1.0f, rc->sh, rc->sw };

	G->n = 0;
	init_f("scales", &sd, 1, sc, 4);
	node("Resize", "rs", ri, ro);
	onnx_attr_str(N, "mode", rc->mode);
	onnx_attr_str(N, "coordinate_transformation_mode", rc->coord);
	onnx_attr_str(N, "nearest_mode", rc->nearest);
	emit();
	io(11, "x", 1, xd, 4);
	io(12, "y", 1, yd, 4);
}

static void
test_resize_2d_path(void **state)
{
	uint64_t rng = eml_test_seed();

	(void)state;
	for (size_t c = 0; c < sizeof(resize_cases) / sizeof(resize_cases[0]); c++) {
		const struct resize_case *rc = &resize_cases[c];
		int64_t xd[4] = { rc->n, rc->c, rc->h, rc->w };
		size_t nx = (size_t)(rc->n * rc->c * rc->h * rc->w);
		float *x = eml_alloc(nx * sizeof(float));
		struct eml_tensor in;
		struct eml_model *m;
		struct eml_plan *ref = NULL;
		struct eml_plan_opts ro = { .nthreads = 1, .no_fusion = true };
		const struct eml_tensor *want;

		assert_non_null(x);
		fill(&rng, x, nx);
		if (strcmp(rc->mode, "nearest") == 0) {
			x[nx / 2] = INFINITY;
			x[nx / 3] = NAN;
			x[nx - 1] = -0.0f;
		}
		build_resize(rc);
		m = load(13);
		in = ftensor(x, 4, xd);
		assert_eml_ok(eml_plan_new(m, &in, 1, &ro, &ref));
		assert_eml_ok(eml_plan_run(ref, &in, 1));
		want = eml_plan_output(ref, 0);
		for (int t = 1; t <= 2; t++) {
			struct eml_plan_opts o = { .nthreads = t };
			struct eml_plan *p = NULL;
			const struct eml_tensor *got;
			const float *g, *w;

			/* every plane split across the threads */
			p = plan_split_run(m, &in, 1, &o);
			got = eml_plan_output(p, 0);
			assert_int_equal(got->nbytes, want->nbytes);
			assert_true(got->nbytes > 0);
			g = got->data;
			w = want->data;
			for (size_t i = 0; i < got->nbytes / sizeof(float); i++)
				if (!(g[i] == w[i] || (isnan(g[i]) && isnan(w[i]))))
					fail_msg("%s/%s/%s %lldx%lld x%gx%g, %d threads: "
						 "element %zu got %.9g want %.9g",
					    rc->mode, rc->coord, rc->nearest, (long long)rc->h,
					    (long long)rc->w, (double)rc->sh, (double)rc->sw, t, i,
					    (double)g[i], (double)w[i]);
			eml_plan_free(p);
		}
		eml_plan_free(ref);
		eml_model_free(m);
		eml_free(x);
	}
}

static void
test_gather_out_of_range(void **state)
{
	static const char *gi[] = { "x", "idx", NULL }, *go[] = { "y", NULL };
	float x[6] = { 1, 2, 3, 4, 5, 6 };
	int64_t d[2] = { 3, 2 }, one = 1, idx = 7, od[2] = { 1, 2 };
	struct eml_tensor in[2];
	struct eml_model *m;
	struct eml_plan *p = NULL;

	(void)state;
	G->n = 0;
	node("Gather", "gather", gi, go), emit();
	io(11, "x", 1, d, 2);
	io(11, "idx", 7, &one, 1);
	io(12, "y", 1, od, 2);
	m = load(13);
	in[0] = ftensor(x, 2, d);
	memset(&in[1], 0, sizeof(in[1]));
	in[1].dtype = EML_DT_INT64;
	in[1].rank = 1;
	in[1].dims[0] = 1;
	in[1].data = &idx;
	in[1].nbytes = 8;
	assert_eml_ok(eml_plan_new(m, in, 2, NULL, &p));
	assert_eml(eml_plan_run(p, in, 2), EML_ERR_INFER_SHAPE);
	idx = -1; /* negative counts from the end */
	assert_eml_ok(eml_plan_run(p, in, 2));
	assert_true(((float *)eml_plan_output(p, 0)->data)[1] == 6.0f);
	eml_plan_free(p);
	eml_model_free(m);
}

static void
test_alloc_failures(void **state)
{
	float x[LN];
	int64_t d[2] = { 1, LN };
	struct eml_tensor in;
	struct eml_model *m;
	int ok = 0;

	(void)state;
	memset(x, 0, sizeof(x));
	build_chain();
	m = load(13);
	in = ftensor(x, 2, d);
	for (long n = 1; n < 400 && !ok; n++) {
		struct eml_plan *p = NULL;
		eml_err rc;
		eml_mem_fail_after(n);
		rc = eml_plan_new(m, &in, 1, NULL, &p);
		eml_mem_fail_after(0);
		if (rc == EML_OK) {
			assert_eml_ok(eml_plan_run(p, &in, 1));
			eml_plan_free(p);
			ok = 1;
		} else {
			assert_null(p);
		}
	}
	assert_true(ok);
	eml_model_free(m);
}

/* eml_ops_find (a sorted index since issue 16) gives, for every name in
 * the tables, the entry a scan in table order finds first; unknown names,
 * "" and another case give NULL. */
static void
test_ops_find(void **state)
{
	const struct op *const tables[] = { eml_ops_basic, eml_ops_nn, eml_ops_extra,
		eml_ops_more, eml_ops_rnn, eml_ops_quant, eml_ops_index, eml_ops_signal,
		eml_ops_cf };
	const size_t nt = sizeof(tables) / sizeof(tables[0]);
	size_t seen = 0;

	(void)state;
	for (size_t t = 0; t < nt; t++)
		for (const struct op *o = tables[t]; o->name != NULL; o++) {
			const struct op *first = NULL;

			for (size_t u = 0; u < nt && first == NULL; u++)
				for (const struct op *q = tables[u]; q->name != NULL; q++)
					if (strcmp(q->name, o->name) == 0) {
						first = q;
						break;
					}
			assert_ptr_equal(eml_ops_find(o->name), first);
			seen++;
		}
	assert_true(seen > 100);
	assert_null(eml_ops_find("NoSuchOperator"));
	assert_null(eml_ops_find(""));
	assert_null(eml_ops_find("conv"));
	assert_null(eml_ops_find("Conv "));
	assert_non_null(eml_ops_find("Conv"));
}

static void
test_wipe(void **state)
{
	float x[LN];
	int64_t d[2] = { 1, LN };
	struct eml_tensor in;
	struct eml_model *m;
	struct eml_plan *p = NULL;
	struct eml_plan_stats st;
	size_t n_nodes;

	(void)state;
	for (size_t i = 0; i < LN; i++)
		x[i] = 1.0f;
	build_chain();
	m = load(13);
	in = ftensor(x, 2, d);
	assert_eml_ok(eml_plan_new(m, &in, 1, NULL, &p));
	assert_eml_ok(eml_plan_run(p, &in, 1));
	eml_plan_get_stats(p, &st);
	eml_test_wipe_start();
	eml_plan_free(p);
	eml_test_wipe_stop();
	assert_int_equal(eml_test_wipe_dirty(), 0);
	assert_true(eml_test_wipe_largest() >= st.arena_bytes);
	/* The model's per-node parameters (attributes of the secret topology,
	 * each far over 64 bytes) are wiped with it. */
	n_nodes = eml_model_graph(m)->n_nodes;
	eml_test_wipe_start();
	eml_model_free(m);
	eml_test_wipe_stop();
	assert_int_equal(eml_test_wipe_dirty(), 0);
	assert_true(eml_test_wipe_largest() >= (n_nodes + 1) * 64);
}

/* ------------------------------------------------------------ real model */

static void
test_text_direction(void **state)
{
	const char *model = eml_test_data("models/text-direction-cls.onnx");
	const char *vin = "tests/vectors/text-direction-cls/input_0.pb";
	const char *vout = "tests/vectors/text-direction-cls/output_0.pb";
	struct eml_graph *g = NULL;
	struct eml_model *m = NULL;
	struct eml_tensor in, want;

	(void)state;
	if (access(model, R_OK) != 0 || access(vin, R_OK) != 0 || access(vout, R_OK) != 0) {
		print_message("text-direction model or tests/vectors/text-direction-cls missing\n");
		skip();
	}
	assert_eml_ok(eml_onnx_import_file(model, &g));
	assert_eml_ok(eml_model_new(g, &m));
	assert_eml_ok(eml_onnx_tensor_read_file(vin, &in));
	assert_eml_ok(eml_onnx_tensor_read_file(vout, &want));
	for (int threads = 1; threads <= 2; threads++) {
		struct eml_plan_opts o = { .nthreads = threads };
		struct eml_plan *p = NULL;
		const struct eml_tensor *y;
		const float *a, *b;
		double maxabs = 0, maxerr = 0;
		assert_eml_ok(eml_plan_new(m, &in, 1, &o, &p));
		assert_eml_ok(eml_plan_run(p, &in, 1));
		y = eml_plan_output(p, 0);
		assert_int_equal(y->nbytes, want.nbytes);
		a = y->data;
		b = want.data;
		for (size_t i = 0; i < want.nbytes / 4; i++) {
			maxabs = fmax(maxabs, fabs((double)b[i]));
			maxerr = fmax(maxerr, fabs((double)a[i] - (double)b[i]));
		}
		print_message("text-direction, %d thread(s): max |ours - ORT| / max |ORT| = %.3g\n",
		    threads, maxerr / maxabs);
		assert_true(maxerr <= 1e-4 * maxabs);
		eml_plan_free(p);
	}
	eml_tensor_clear(&in);
	eml_tensor_clear(&want);
	eml_model_free(m);
}

/* ------------------------------------------------------------ control flow */

static void
run_if(struct eml_plan *p, uint8_t c, const float *x, const float *want)
{
	int64_t d2[] = { 2 };
	struct eml_tensor in[2];
	const struct eml_tensor *y;

	memset(&in[0], 0, sizeof(in[0]));
	in[0].dtype = EML_DT_BOOL;
	in[0].data = &c;
	in[0].nbytes = 1;
	in[1] = ftensor((float *)(uintptr_t)x, 1, d2);
	assert_eml_ok(eml_plan_run(p, in, 2));
	y = eml_plan_output(p, 0);
	assert_int_equal(y->nbytes, 8);
	assert_close(y->data, want, 2, 0);
}

/* If nested two deep, branches reading the outer x and their own weights:
 * with the condition known at run both branches are planned and the one
 * the data picks runs; with a constant condition only the taken branch. */
static void
test_control_flow_if(void **state)
{
	struct eml_model *m = NULL;
	struct eml_plan *p = NULL;
	struct eml_plan_opts o = { .nthreads = 1 };
	const float x[2] = { 1.5f, -4.0f };
	const float sum[2] = { 3.5f, -1.0f }, prod[2] = { 3.0f, -12.0f };
	int64_t d2[] = { 2 };
	uint8_t c = 0;
	struct eml_tensor in[2];

	(void)state;
	assert_eml_ok(eml_model_new(eml_test_graph_if(2), &m));
	memset(&in[0], 0, sizeof(in[0]));
	in[0].dtype = EML_DT_BOOL;
	in[0].data = &c;
	in[0].nbytes = 1;
	in[1] = ftensor((float *)(uintptr_t)x, 1, d2);
	assert_eml_ok(eml_plan_new(m, in, 2, &o, &p));
	run_if(p, 1, x, sum);
	run_if(p, 0, x, prod);
	run_if(p, 1, x, sum);
	eml_plan_free(p);
	o.bind_small_inputs = true;
	assert_eml_ok(eml_plan_new(m, in, 2, &o, &p));
	run_if(p, 0, x, prod);
	c = 1;
	assert_eml(eml_plan_run(p, in, 2), EML_ERR_INFER_INPUT);
	eml_plan_free(p);
	eml_model_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_liveness),
		cmocka_unit_test(test_folding),
		cmocka_unit_test(test_fusion_conv_bn_relu),
		cmocka_unit_test(test_fusion_matmul_bias_act),
		cmocka_unit_test(test_fusion_matmul_scale),
		cmocka_unit_test(test_fusion_shared_output),
		cmocka_unit_test(test_fusion_after_rewrite),
		cmocka_unit_test(test_input_checks),
		cmocka_unit_test(test_hostile_attributes),
		cmocka_unit_test(test_gather_out_of_range),
		cmocka_unit_test(test_resize_2d_path),
		cmocka_unit_test(test_convtranspose_fused),
		cmocka_unit_test(test_pool_threads),
		cmocka_unit_test(test_batched_threads),
		cmocka_unit_test(test_qconv_padded_channels),
		cmocka_unit_test(test_qconv_chain_hwc),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_ops_find),
		cmocka_unit_test(test_wipe),
		cmocka_unit_test(test_text_direction),
		cmocka_unit_test(test_control_flow_if),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, setup, teardown);
}
