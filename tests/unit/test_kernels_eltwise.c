/*
 * Element-wise and row kernels: every SIMD table against the reference
 * table, lengths below, at and above the vector width, in place, special
 * values (NaN, +-0, +-inf, denormals, the edges of exp's range), canaries
 * around outputs and inputs that end at a PROT_NONE page.
 *
 * Tolerances (ULP against ref = glibc, which is itself within 1 ULP):
 *   0 ULP (bit-identical): relu, leaky relu, clip, hardsigmoid, hardswish,
 *     sqrt, abs, neg, reciprocal, add, sub, mul, div, max, min,
 *     reduce_max, global max pool, channel affine.
 *   pow: 1 ULP (x^2 is computed as x * x, correctly rounded; glibc's powf
 *     is within 1 ULP, so the two may differ by one).
 *   exp, log, sigmoid, tanh, erf: 4 ULP (vmath.h's claim).
 *   gelu: 8 ULP, or 3 eps |x| absolute where 1 + erf(x/sqrt 2) cancels
 *     (x < 0: erf's absolute error is scaled by 0.5 |x|, in ref too).
 *   sums (reduce_sum, average pool, softmax, layernorm): n * eps relative
 *     to the sum of magnitudes, as for any reordered float sum.
 */
#include "kernels_util.h"

#include <stdlib.h>
#include <sys/wait.h>

#include "engine/kernels/eml_kernels.h"

static const float specials[] = { NAN, -NAN, 0.0f, -0.0f, INFINITY, -INFINITY, 1e-40f, -1e-40f,
	1.17549435e-38f, 1.0f, -1.0f, 88.7f, 88.72f, 89.5f, -87.3f, -87.5f, -103.0f, -104.5f,
	100.0f, -100.0f, 0.5f, 0.625f, -0.625f, 0.6249f, 3.9f, 4.0f, 4.1f, -3.95f, 1e-8f, -1e-8f,
	9.4f, 9.6f, -9.6f, 1e30f, -1e30f, 2.0f, 3.0f, -3.0f, 0.999f, 1.001f, 6.0f, -6.0f };

static const size_t lengths[] = { 0, 1, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 1000 };

static const char *const unary_names[] = { "relu", "leaky_relu", "clip", "hardsigmoid",
	"hardswish", "sigmoid", "tanh", "exp", "log", "sqrt", "abs", "neg", "reciprocal", "erf",
	"gelu" };

static uint64_t
unary_ulp_bound(enum eml_unary op)
{
	switch (op) {
	case EML_UNARY_SIGMOID:
	case EML_UNARY_TANH:
	case EML_UNARY_EXP:
	case EML_UNARY_LOG:
	case EML_UNARY_ERF:
		return 4;
	case EML_UNARY_GELU:
		return 8;
	default:
		return 0;
	}
}

/* Inputs: random over a range that exercises the op, then specials. */
static void
unary_inputs(uint64_t *st, enum eml_unary op, float *x, size_t n)
{
	float lo = -10.0f, hi = 10.0f;
	size_t i;

	if (op == EML_UNARY_EXP) {
		lo = -105.0f;
		hi = 90.0f;
	} else if (op == EML_UNARY_LOG || op == EML_UNARY_SQRT) {
		lo = 0.0f;
		hi = 1000.0f;
	}
	kt_fill(st, x, n, lo, hi);
	for (i = 0; i < n; i++) {
		if (eml_test_rand(st) % 5 == 0)
			x[i] = specials[eml_test_rand(st) % (sizeof(specials) / sizeof(specials[0]))];
		else if (eml_test_rand(st) % 7 == 0) /* small magnitudes */
			x[i] = x[i] * 1e-3f;
	}
}

static void
check_unary(const struct eml_kernels *k, enum eml_unary op, const float *x, const float *got,
    const float *want, size_t n)
{
	uint64_t bound = unary_ulp_bound(op);
	size_t i;

	for (i = 0; i < n; i++) {
		uint64_t d = kt_ulp(got[i], want[i]);

		if (d <= bound)
			continue;
		/* GELU = 0.5 x (1 + erf(x / sqrt 2)): for x < 0 the sum cancels,
		 * so erf's 4 ULP (absolute <= 4 eps) become 2 eps |x| absolute
		 * in the result, in ref (1 ULP erff) and SIMD alike. */
		if (op == EML_UNARY_GELU && fabs((double)got[i] - want[i]) <=
		    3.0 * FLT_EPSILON * fabs((double)x[i]))
			continue;
		fail_msg("%s %s(%.9g) = %.9g, ref %.9g (%llu ULP > %llu)", eml_isa_name(k->isa),
		    unary_names[op], (double)x[i], (double)got[i], (double)want[i],
		    (unsigned long long)d, (unsigned long long)bound);
	}
}

static void
unary_all(enum eml_isa isa)
{
	const struct eml_kernels *k = kt_need(isa), *r = eml_kernels_for(EML_ISA_REF);
	uint64_t st = eml_test_seed() ^ 0x5151u;
	int op;
	size_t li;

	for (op = 0; op < EML_UNARY_COUNT; op++) {
		float p0 = op == EML_UNARY_CLIP ? -0.5f : 0.2f, p1 = op == EML_UNARY_CLIP ? 0.75f : 0.5f;

		for (li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
			size_t n = lengths[li];
			struct kt_edge e = { 0 };
			float *x = kt_edge_alloc(&e, n), *y = kt_alloc(n), *want = kt_alloc(n);
			float *inplace = kt_alloc(n);

			unary_inputs(&st, (enum eml_unary)op, x, n);
			r->unary((enum eml_unary)op, n, x, want, p0, p1);
			k->unary((enum eml_unary)op, n, x, y, p0, p1);
			check_unary(k, (enum eml_unary)op, x, y, want, n);
			/* In place: y == x. */
			EML_MEMCPY(inplace, x, n * sizeof(float));
			k->unary((enum eml_unary)op, n, inplace, inplace, p0, p1);
			check_unary(k, (enum eml_unary)op, x, inplace, want, n);
			kt_free(inplace, n, "unary in place");
			kt_free(want, n, "unary ref");
			kt_free(y, n, "unary y");
			kt_edge_free(&e);
		}
	}
}

/* A dense sweep of the transcendental functions over their interesting
 * ranges: the ULP bound must hold everywhere, not just on random picks. */
static void
unary_sweep(enum eml_isa isa)
{
	static const struct {
		enum eml_unary op;
		float lo, hi;
	} sw[] = {
		{ EML_UNARY_EXP, -104.0f, 89.0f },
		{ EML_UNARY_LOG, 1e-38f, 1e6f },
		{ EML_UNARY_SIGMOID, -90.0f, 30.0f },
		{ EML_UNARY_TANH, -10.0f, 10.0f },
		{ EML_UNARY_ERF, -5.0f, 5.0f },
		{ EML_UNARY_GELU, -6.0f, 6.0f },
	};
	const struct eml_kernels *k = kt_need(isa), *r = eml_kernels_for(EML_ISA_REF);
	size_t n = 200000, s, i;
	float *x = kt_alloc(n), *y = kt_alloc(n), *want = kt_alloc(n);

	for (s = 0; s < sizeof(sw) / sizeof(sw[0]); s++) {
		bool logscale = sw[s].op == EML_UNARY_LOG;

		for (i = 0; i < n; i++) {
			double t = (double)i / (double)(n - 1);

			x[i] = logscale ? (float)(sw[s].lo * pow((double)sw[s].hi / sw[s].lo, t)) :
					  (float)(sw[s].lo + (sw[s].hi - sw[s].lo) * t);
		}
		r->unary(sw[s].op, n, x, want, 0.0f, 0.0f);
		k->unary(sw[s].op, n, x, y, 0.0f, 0.0f);
		check_unary(k, sw[s].op, x, y, want, n);
	}
	kt_free(want, n, "sweep ref");
	kt_free(y, n, "sweep y");
	kt_free(x, n, "sweep x");
}

static void
binary_check(const struct eml_kernels *k, enum eml_binary op, const float *a, const float *b,
    const float *got, const float *want, size_t n, const char *what)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (kt_ulp(got[i], want[i]) > (op == EML_BINARY_POW ? 1u : 0u))
			fail_msg("%s binary op %d %s: %.9g, %.9g -> %.9g, ref %.9g",
			    eml_isa_name(k->isa), op, what, (double)a[i], (double)b[i],
			    (double)got[i], (double)want[i]);
}

static void
binary_all(enum eml_isa isa)
{
	const struct eml_kernels *k = kt_need(isa), *r = eml_kernels_for(EML_ISA_REF);
	uint64_t st = eml_test_seed() ^ 0xb1b1u;
	int op;
	size_t li, i;

	for (op = 0; op < EML_BINARY_COUNT; op++) {
		for (li = 0; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
			size_t n = lengths[li];
			struct kt_edge ea = { 0 }, eb = { 0 };
			float *a = kt_edge_alloc(&ea, n), *b = kt_edge_alloc(&eb, n);
			float *y = kt_alloc(n), *want = kt_alloc(n), *bs = kt_alloc(n);
			float s = op == EML_BINARY_POW ? 2.0f : kt_randf(&st, -3.0f, 3.0f);

			kt_fill(&st, a, n, -5.0f, 5.0f);
			kt_fill(&st, b, n, -5.0f, 5.0f);
			for (i = 0; i < n; i++) {
				if (eml_test_rand(&st) % 6 == 0)
					a[i] = specials[eml_test_rand(&st) % (sizeof(specials) / sizeof(specials[0]))];
				if (eml_test_rand(&st) % 6 == 0)
					b[i] = specials[eml_test_rand(&st) % (sizeof(specials) / sizeof(specials[0]))];
			}
			r->binary((enum eml_binary)op, n, a, b, want);
			k->binary((enum eml_binary)op, n, a, b, y);
			binary_check(k, (enum eml_binary)op, a, b, y, want, n, "vector");
			/* In place on b (y == b). */
			EML_MEMCPY(y, b, n * sizeof(float));
			k->binary((enum eml_binary)op, n, a, y, y);
			binary_check(k, (enum eml_binary)op, a, b, y, want, n, "in place y == b");
			/* Scalar second and first. */
			for (i = 0; i < n; i++)
				bs[i] = s;
			r->binary((enum eml_binary)op, n, a, bs, want);
			k->binary_scalar((enum eml_binary)op, n, a, s, false, y);
			binary_check(k, (enum eml_binary)op, a, bs, y, want, n, "a op s");
			r->binary((enum eml_binary)op, n, bs, a, want);
			EML_MEMCPY(y, a, n * sizeof(float));
			k->binary_scalar((enum eml_binary)op, n, y, s, true, y);
			binary_check(k, (enum eml_binary)op, bs, a, y, want, n, "s op a in place");
			kt_free(bs, n, "bs");
			kt_free(want, n, "want");
			kt_free(y, n, "y");
			kt_edge_free(&ea);
			kt_edge_free(&eb);
		}
	}
}

static void
close_rel(const struct eml_kernels *k, const char *what, const float *got, const float *want,
    size_t n, double scale_per_elem, size_t terms)
{
	size_t i;

	for (i = 0; i < n; i++) {
		double tol = 2.0 * (double)(terms + 4) * FLT_EPSILON * scale_per_elem +
		    4.0 * FLT_EPSILON * fabs(want[i]);

		if (kt_ulp(got[i], want[i]) == 0)
			continue;
		if (!(fabs((double)got[i] - want[i]) <= tol))
			fail_msg("%s %s[%zu] = %.9g, ref %.9g (tol %.3g)", eml_isa_name(k->isa), what,
			    i, (double)got[i], (double)want[i], tol);
	}
}

static void
rows_all(enum eml_isa isa)
{
	const struct eml_kernels *k = kt_need(isa), *r = eml_kernels_for(EML_ISA_REF);
	uint64_t st = eml_test_seed() ^ 0x2020u;
	size_t li;

	for (li = 1; li < sizeof(lengths) / sizeof(lengths[0]); li++) {
		size_t n = lengths[li], rows = kt_randz(&st, 1, 5), tot = rows * n;
		struct kt_edge ex = { 0 };
		float *x = kt_edge_alloc(&ex, tot), *y = kt_alloc(tot), *want = kt_alloc(tot);
		float *g = kt_alloc(n), *b = kt_alloc(n), *sc = kt_alloc(rows), *sh = kt_alloc(rows);
		float *ry = kt_alloc(rows), *rwant = kt_alloc(rows);

		kt_fill(&st, x, tot, -4.0f, 4.0f);
		kt_fill(&st, g, n, 0.5f, 1.5f);
		kt_fill(&st, b, n, -1.0f, 1.0f);
		kt_fill(&st, sc, rows, -2.0f, 2.0f);
		kt_fill(&st, sh, rows, -2.0f, 2.0f);

		r->softmax(rows, n, x, want, false);
		k->softmax(rows, n, x, y, false);
		/* exp within 4 ULP, the sum over n terms each <= 1. */
		close_rel(k, "softmax", y, want, tot, 1.0, n);
		r->softmax(rows, n, x, want, true);
		k->softmax(rows, n, x, y, true);
		close_rel(k, "log_softmax", y, want, tot, 8.0 + log((double)n), n);
		/* In place. */
		EML_MEMCPY(y, x, tot * sizeof(float));
		k->softmax(rows, n, y, y, false);
		r->softmax(rows, n, x, want, false);
		close_rel(k, "softmax in place", y, want, tot, 1.0, n);

		r->reduce_sum(rows, n, x, rwant);
		k->reduce_sum(rows, n, x, ry);
		close_rel(k, "reduce_sum", ry, rwant, rows, 4.0 * (double)n, n);
		r->reduce_max(rows, n, x, rwant);
		k->reduce_max(rows, n, x, ry);
		close_rel(k, "reduce_max", ry, rwant, rows, 0.0, 0);
		r->global_pool(false, rows, n, x, rwant);
		k->global_pool(false, rows, n, x, ry);
		close_rel(k, "global avg", ry, rwant, rows, 4.0, n);
		r->global_pool(true, rows, n, x, rwant);
		k->global_pool(true, rows, n, x, ry);
		close_rel(k, "global max", ry, rwant, rows, 0.0, 0);

		r->channel_affine(1, rows, n, x, sc, sh, want);
		k->channel_affine(1, rows, n, x, sc, sh, y);
		close_rel(k, "channel_affine", y, want, tot, 0.0, 0);

		r->layernorm(rows, n, x, g, b, 1e-5f, want);
		k->layernorm(rows, n, x, g, b, 1e-5f, y);
		/* Normalised values are O(sqrt n) at most; mean and variance
		 * are sums of n terms. */
		close_rel(k, "layernorm", y, want, tot, 8.0 * sqrt((double)n), n);
		r->layernorm(rows, n, x, NULL, NULL, 1e-5f, want);
		k->layernorm(rows, n, x, NULL, NULL, 1e-5f, y);
		close_rel(k, "layernorm (no g, b)", y, want, tot, 8.0 * sqrt((double)n), n);

		/* A NaN anywhere in a row: max-reductions give NaN, as ref. */
		x[tot - 1] = NAN;
		k->reduce_max(rows, n, x, ry);
		assert_true(isnan(ry[rows - 1]));
		k->global_pool(true, rows, n, x, ry);
		assert_true(isnan(ry[rows - 1]));

		kt_free(rwant, rows, "rwant");
		kt_free(ry, rows, "ry");
		kt_free(sh, rows, "sh");
		kt_free(sc, rows, "sc");
		kt_free(b, n, "b");
		kt_free(g, n, "g");
		kt_free(want, tot, "want");
		kt_free(y, tot, "y");
		kt_edge_free(&ex);
	}
}

/* One pooling case's output size and buffers: x (ending at a PROT_NONE
 * page), y, want. */
struct pool_case {
	size_t OH, OW, xn, yn;
	struct kt_edge ex;
	float *x, *y, *want;
};

/* NC planes of H x W under an effective window ekh x ekw, strides sh, sw
 * and pads pt, pl, pb, pr: false (nothing allocated) when the window does
 * not fit the padded image. */
static bool
pool_case_new(struct pool_case *c, size_t NC, size_t H, size_t W, size_t ekh, size_t ekw,
    size_t sh, size_t sw, size_t pt, size_t pl, size_t pb, size_t pr)
{
	if (H + pt + pb < ekh || W + pl + pr < ekw)
		return false;
	c->OH = (H + pt + pb - ekh) / sh + 1;
	c->OW = (W + pl + pr - ekw) / sw + 1;
	c->xn = NC * H * W;
	c->yn = NC * c->OH * c->OW;
	memset(&c->ex, 0, sizeof(c->ex));
	c->x = kt_edge_alloc(&c->ex, c->xn);
	c->y = kt_alloc(c->yn);
	c->want = kt_alloc(c->yn);
	return true;
}

static void
pool_case_free(struct pool_case *c)
{
	kt_free(c->want, c->yn, "pool ref");
	kt_free(c->y, c->yn, "pool y");
	kt_edge_free(&c->ex);
}

/* pool2d: random windows, strides, dilations and pads, max and average
 * (with and without count_include_pad): bit-identical to ref. */
static void
pool_all(enum eml_isa isa)
{
	const struct eml_kernels *k = kt_need(isa), *r = eml_kernels_for(EML_ISA_REF);
	uint64_t st = eml_test_seed() ^ 0x9090u;
	int t;

	for (t = 0; t < 300; t++) {
		size_t NC = kt_randz(&st, 1, 3), H = kt_randz(&st, 1, 30), W = kt_randz(&st, 1, 70);
		size_t kh = kt_randz(&st, 1, 5), kw = kt_randz(&st, 1, 5);
		size_t sh = kt_randz(&st, 1, 3), sw = kt_randz(&st, 1, 3);
		size_t dh = (eml_test_rand(&st) & 3) == 0 ? 2 : 1, dw = (eml_test_rand(&st) & 3) == 0 ? 2 : 1;
		size_t pt = kt_randz(&st, 0, kh - 1), pl = kt_randz(&st, 0, kw - 1);
		size_t pb = kt_randz(&st, 0, kh - 1), pr = kt_randz(&st, 0, kw - 1);
		size_t ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1, i;
		bool is_max = (eml_test_rand(&st) & 1) != 0, cip = (eml_test_rand(&st) & 1) != 0;
		struct pool_case c;

		if (!pool_case_new(&c, NC, H, W, ekh, ekw, sh, sw, pt, pl, pb, pr))
			continue;
		kt_fill(&st, c.x, c.xn, -3.0f, 3.0f);
		if (t % 10 == 0 && c.xn > 0)
			c.x[kt_randz(&st, 0, c.xn - 1)] = NAN;
		r->pool2d(is_max, NC, H, W, kh, kw, sh, sw, dh, dw, pt, pl, c.OH, c.OW, cip, c.x,
		    c.want);
		k->pool2d(is_max, NC, H, W, kh, kw, sh, sw, dh, dw, pt, pl, c.OH, c.OW, cip, c.x,
		    c.y);
		for (i = 0; i < c.yn; i++)
			if (kt_ulp(c.y[i], c.want[i]) != 0)
				fail_msg("%s pool2d max=%d %zux%zu k=%zux%zu s=%zu,%zu d=%zu,%zu "
					 "p=%zu,%zu cip=%d: y[%zu] = %.9g, ref %.9g",
				    eml_isa_name(isa), is_max, H, W, kh, kw, sh, sw, dh, dw, pt, pl,
				    cip, i, (double)c.y[i], (double)c.want[i]);
		pool_case_free(&c);
	}
}

/*
 * Max pooling on values that tie: +0 and -0 (equal, but ref keeps the
 * first in (i, j) order, so the sign shows which one won), +-1, +-inf,
 * some NaN; ragged shapes (rows of 1..300, strides 1..3, dilations,
 * pads), ResNet's 3x3/2 pad 1 on 112x112. Bit for bit against ref (a NaN
 * for a NaN; pool_all's ULP check takes -0 for +0), all planes in one
 * call and split in two calls at a random plane, as the engine's threads
 * split them. Red with the taps' max operands swapped (last tie wins).
 */
static void
pool_max_ties(enum eml_isa isa)
{
	const struct eml_kernels *k = kt_need(isa), *r = eml_kernels_for(EML_ISA_REF);
	static const float vals[] = { 0.0f, -0.0f, 0.0f, -0.0f, 1.0f, -1.0f, -INFINITY,
		INFINITY, 0.5f };
	uint64_t st = eml_test_seed() ^ 0x7a7au;
	int t, wide = 0;

	/* 400 draws, then more until ten had rows over 150 outputs (about one
	 * seed in 80 had fewer in the 400). */
	for (t = 0; t < 400 || (wide < 10 && t < 4000); t++) {
		bool resnet = t == 0, big = t % 8 == 1;
		size_t NC = resnet ? 2 : kt_randz(&st, 1, 4);
		size_t H = resnet ? 112 : kt_randz(&st, 1, big ? 70 : 30);
		size_t W = resnet ? 112 : kt_randz(&st, big ? 150 : 1, big ? 300 : 70);
		size_t kh = resnet ? 3 : kt_randz(&st, 1, 5), kw = resnet ? 3 : kt_randz(&st, 1, 5);
		size_t sh = resnet ? 2 : kt_randz(&st, 1, 3), sw = resnet ? 2 : kt_randz(&st, 1, 3);
		size_t dh = !resnet && (eml_test_rand(&st) & 3) == 0 ? 2 : 1;
		size_t dw = !resnet && (eml_test_rand(&st) & 3) == 0 ? 2 : 1;
		size_t pt = resnet ? 1 : kt_randz(&st, 0, kh - 1), pl = resnet ? 1 : kt_randz(&st, 0, kw - 1);
		size_t pb = resnet ? 1 : kt_randz(&st, 0, kh - 1), pr = resnet ? 1 : kt_randz(&st, 0, kw - 1);
		size_t ekh = (kh - 1) * dh + 1, ekw = (kw - 1) * dw + 1, i, cut;
		struct pool_case c;

		if (!pool_case_new(&c, NC, H, W, ekh, ekw, sh, sw, pt, pl, pb, pr))
			continue;
		for (i = 0; i < c.xn; i++)
			c.x[i] = vals[kt_randz(&st, 0, sizeof(vals) / sizeof(vals[0]) - 1)];
		if (t % 5 == 0)
			c.x[kt_randz(&st, 0, c.xn - 1)] = NAN;
		wide += c.OW > 150;
		r->pool2d(true, NC, H, W, kh, kw, sh, sw, dh, dw, pt, pl, c.OH, c.OW, false, c.x,
		    c.want);
		for (int split = 0; split < 2; split++) {
			cut = split == 0 ? NC : kt_randz(&st, 0, NC);
			for (i = 0; i < c.yn; i++)
				c.y[i] = 42.0f;
			k->pool2d(true, cut, H, W, kh, kw, sh, sw, dh, dw, pt, pl, c.OH, c.OW, false,
			    c.x, c.y);
			k->pool2d(true, NC - cut, H, W, kh, kw, sh, sw, dh, dw, pt, pl, c.OH, c.OW,
			    false, c.x + cut * H * W, c.y + cut * c.OH * c.OW);
			for (i = 0; i < c.yn; i++) {
				uint32_t a, b;

				memcpy(&a, &c.y[i], sizeof(a));
				memcpy(&b, &c.want[i], sizeof(b));
				if (a != b && !(c.y[i] != c.y[i] && c.want[i] != c.want[i]))
					fail_msg("%s max pool %zux%zu k=%zux%zu s=%zu,%zu d=%zu,%zu "
						 "p=%zu,%zu cut %zu/%zu: y[%zu] = %g (%08x), ref %g (%08x)",
					    eml_isa_name(isa), H, W, kh, kw, sh, sw, dh, dw, pt, pl, cut,
					    NC, i, (double)c.y[i], a, (double)c.want[i], b);
			}
		}
		pool_case_free(&c);
	}
	assert_true(wide >= 10);
}

static void
pool_max_ties_avx2(void **state)
{
	(void)state;
	pool_max_ties(EML_ISA_AVX2);
}

static void
pool_max_ties_avx512(void **state)
{
	(void)state;
	pool_max_ties(EML_ISA_AVX512);
}

static void
pool_avx2(void **state)
{
	(void)state;
	pool_all(EML_ISA_AVX2);
}

static void
pool_avx512(void **state)
{
	(void)state;
	pool_all(EML_ISA_AVX512);
}

/* Known answers for the reference itself (so the oracle is checked too). */
static void
ref_known_answers(void **state)
{
	const struct eml_kernels *r = eml_kernels_for(EML_ISA_REF);
	float x[4] = { -2.0f, -0.0f, 0.5f, 4.0f }, y[4];
	float sm[3] = { 1.0f, 1.0f, 1.0f }, smy[3];
	float p[16], py[4];
	size_t i;

	(void)state;
	assert_non_null(r);
	r->unary(EML_UNARY_RELU, 4, x, y, 0, 0);
	assert_true(y[0] == 0.0f && y[1] == 0.0f && signbit(y[1]) && y[2] == 0.5f && y[3] == 4.0f);
	r->unary(EML_UNARY_HARDSWISH, 4, x, y, 0, 0);
	/* x * clamp(x/6 + 1/2, 0, 1): -2 -> -2/6; 0.5 -> 0.5 * 7/12; 4 -> 4. */
	assert_true(fabsf(y[0] - (-2.0f * (1.0f / 6.0f))) < 1e-6f);
	assert_true(fabsf(y[2] - 0.5f * (0.5f / 6.0f + 0.5f)) < 1e-6f);
	assert_true(y[3] == 4.0f);
	r->unary(EML_UNARY_CLIP, 4, x, y, -1.0f, 1.0f);
	assert_true(y[0] == -1.0f && y[3] == 1.0f && y[2] == 0.5f);
	r->softmax(1, 3, sm, smy, false);
	for (i = 0; i < 3; i++)
		assert_true(fabsf(smy[i] - 1.0f / 3.0f) < 1e-7f);
	/* 4x4 plane, 2x2 max and average pool stride 2. */
	for (i = 0; i < 16; i++)
		p[i] = (float)i;
	r->pool2d(true, 1, 4, 4, 2, 2, 2, 2, 1, 1, 0, 0, 2, 2, false, p, py);
	assert_true(py[0] == 5 && py[1] == 7 && py[2] == 13 && py[3] == 15);
	r->pool2d(false, 1, 4, 4, 2, 2, 2, 2, 1, 1, 0, 0, 2, 2, false, p, py);
	assert_true(py[0] == 2.5f && py[3] == 12.5f);
	/* Padding 1 top/left, 2x2 windows stride 2 over 3x3 of a 4x4 grid:
	 * the first window sees only p[0]; average excludes pads unless
	 * count_include_pad. */
	r->pool2d(false, 1, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, false, p, py);
	assert_true(py[0] == 0.0f && py[1] == 1.5f);
	r->pool2d(false, 1, 4, 4, 2, 2, 2, 2, 1, 1, 1, 1, 2, 2, true, p, py);
	assert_true(py[1] == 0.75f);
}

static void
eltwise_avx2(void **state)
{
	(void)state;
	unary_all(EML_ISA_AVX2);
	binary_all(EML_ISA_AVX2);
}

static void
eltwise_avx512(void **state)
{
	(void)state;
	unary_all(EML_ISA_AVX512);
	binary_all(EML_ISA_AVX512);
}

static void
sweep_avx2(void **state)
{
	(void)state;
	unary_sweep(EML_ISA_AVX2);
}

static void
sweep_avx512(void **state)
{
	(void)state;
	unary_sweep(EML_ISA_AVX512);
}

static void
rows_avx2(void **state)
{
	(void)state;
	rows_all(EML_ISA_AVX2);
}

static void
rows_avx512(void **state)
{
	(void)state;
	rows_all(EML_ISA_AVX512);
}

/* EML_ISA can only lower the choice; the table exists for every ISA the
 * CPU has. */
static void
dispatch_rules(void **state)
{
	enum eml_isa best = eml_cpu_best_isa();
	const struct eml_kernels *k = eml_kernels_get();

	(void)state;
	assert_non_null(k);
	assert_true(k->isa <= best || (best == EML_ISA_NEON && k->isa == EML_ISA_REF));
	assert_non_null(eml_kernels_for(EML_ISA_REF));
	assert_non_null(eml_kernels_for(best));
	if (best == EML_ISA_AVX512)
		assert_non_null(eml_kernels_for(EML_ISA_AVX2));
	if (best != EML_ISA_AVX512)
		assert_null(eml_kernels_for(EML_ISA_AVX512));
	assert_string_equal(eml_isa_name(EML_ISA_AVX512), "avx512");
	assert_string_equal(eml_isa_name((enum eml_isa)42), "unknown");
}

/* EML_ISA is read once per process, so each value is checked in a fresh
 * copy of this binary (main's --isa-child mode exits with the chosen ISA). */
static int
isa_in_child(const char *value)
{
	pid_t pid = fork();
	int st = 0;

	assert_true(pid >= 0);
	if (pid == 0) {
		if (value != NULL)
			setenv("EML_ISA", value, 1);
		else
			unsetenv("EML_ISA");
		execl("/proc/self/exe", "test_kernels_eltwise", "--isa-child", (char *)NULL);
		_exit(99);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
dispatch_env_only_lowers(void **state)
{
	int best = (int)eml_cpu_best_isa();

	(void)state;
	assert_int_equal(isa_in_child(NULL), best);
	assert_int_equal(isa_in_child("ref"), EML_ISA_REF);
	/* Higher than the CPU, unknown or empty: ignored, never raised. */
	assert_int_equal(isa_in_child("bogus"), best);
	assert_int_equal(isa_in_child(""), best);
	if (best == EML_ISA_AVX512) {
		assert_int_equal(isa_in_child("avx2"), EML_ISA_AVX2);
		assert_int_equal(isa_in_child("avx512"), EML_ISA_AVX512);
	} else if (best == EML_ISA_AVX2) {
		assert_int_equal(isa_in_child("avx512"), EML_ISA_AVX2);
	} else {
		assert_int_equal(isa_in_child("avx2"), best);
	}
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--isa-child") == 0)
		return (int)eml_kernels_get()->isa;

	const struct CMUnitTest tests[] = {
		cmocka_unit_test(dispatch_rules),
		cmocka_unit_test(dispatch_env_only_lowers),
		cmocka_unit_test(ref_known_answers),
		cmocka_unit_test(eltwise_avx2),
		cmocka_unit_test(eltwise_avx512),
		cmocka_unit_test(sweep_avx2),
		cmocka_unit_test(sweep_avx512),
		cmocka_unit_test(rows_avx2),
		cmocka_unit_test(rows_avx512),
		cmocka_unit_test(pool_avx2),
		cmocka_unit_test(pool_avx512),
		cmocka_unit_test(pool_max_ties_avx2),
		cmocka_unit_test(pool_max_ties_avx512),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
