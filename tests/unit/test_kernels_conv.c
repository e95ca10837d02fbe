/*
 * Convolution plans: every method of every SIMD ISA against the direct
 * reference on random shapes (depthwise 3x3/5x5 stride 1/2, 1x1, general
 * with groups, dilations, asymmetric pads), bias and fused activations,
 * 1..2 threads; canaries around the output and the workspace, inputs at
 * the end of a page followed by a PROT_NONE page. Plus a hand-computed
 * known answer for the reference and the parameter checks.
 *
 * Tolerance as for GEMM: 2 (K + 4) eps sum |x w| + |bias| with
 * K = C/group * kh * kw, plus 8 ULP of the result for sigmoid/tanh.
 */
#include <stdlib.h>

#include "kernels_util.h"

#include "engine/kernels/eml_kernels_int.h"

struct ccase {
	struct eml_conv2d_params p;
	bool bias;
	int threads;
	bool edge;
};

static void
run_case(enum eml_isa isa, const struct ccase *cc, uint64_t *st, const char *want_method)
{
	const struct eml_conv2d_params *p = &cc->p;
	size_t OH = eml_conv2d_out_h(p), OW = eml_conv2d_out_w(p);
	size_t Cg = p->C / p->group, K = Cg * p->kh * p->kw;
	size_t xn = p->N * p->C * p->H * p->W, yn = p->N * p->M * OH * OW, wn = p->M * K;
	struct kt_edge ex = { 0 };
	float *x, *w, *b = NULL, *y, *yref, *ws;
	struct eml_conv2d_plan *plan = NULL;
	struct eml_pool *pool = NULL;
	size_t wsn, i;

	x = cc->edge ? kt_edge_alloc(&ex, xn) : kt_alloc(xn);
	w = kt_alloc(wn);
	y = kt_alloc(yn);
	yref = kt_alloc(yn);
	kt_fill(st, x, xn, -1.0f, 1.0f);
	kt_fill(st, w, wn, -1.0f, 1.0f);
	if (cc->bias) {
		b = kt_alloc(p->M);
		kt_fill(st, b, p->M, -1.0f, 1.0f);
	}
	eml_conv2d_ref(p, x, w, b, yref);
	if (cc->threads > 1)
		assert_eml_ok(eml_pool_new(cc->threads, &pool));
	assert_eml_ok(eml_conv2d_plan_new_isa(isa, p, w, b, cc->threads, &plan));
	/* "x" also accepts "x-t", the transposed product of the same method. */
	if (want_method != NULL &&
	    strncmp(eml_conv2d_method(plan), want_method, strlen(want_method)) != 0)
		fail_msg("method %s, want %s", eml_conv2d_method(plan), want_method);
	wsn = eml_conv2d_workspace_size(plan);
	ws = kt_alloc(wsn);
	/* Garbage in the output must not matter. */
	for (i = 0; i < yn; i++)
		y[i] = NAN;
	eml_conv2d_run(plan, x, y, ws, pool);
	kt_check_canaries(ws, wsn, "workspace");
	kt_check_canaries(y, yn, "y");

	for (i = 0; i < yn; i++) {
		/* Bound |x w| <= 1 per term: K terms, plus the bias. */
		double tol = 2.0 * (double)(K + 4) * FLT_EPSILON * ((double)K + 1.0);

		if (p->ep.act == EML_ACT_SIGMOID || p->ep.act == EML_ACT_TANH)
			tol += 8.0 * FLT_EPSILON * fabs(yref[i]);
		if (!(fabs((double)y[i] - yref[i]) <= tol))
			fail_msg("%s %s N=%zu C=%zu %zux%zu M=%zu k=%zux%zu s=%zu,%zu d=%zu,%zu "
				 "pad=%zu,%zu,%zu,%zu g=%zu act=%d: y[%zu] = %.9g, ref %.9g",
			    eml_isa_name(isa), eml_conv2d_method(plan), p->N, p->C, p->H, p->W, p->M,
			    p->kh, p->kw, p->stride_h, p->stride_w, p->dil_h, p->dil_w, p->pad_top,
			    p->pad_left, p->pad_bottom, p->pad_right, p->group, p->ep.act, i,
			    (double)y[i], (double)yref[i]);
	}
	kt_free(ws, wsn, "workspace");
	eml_conv2d_plan_free(plan);
	eml_pool_free(pool);
	if (b != NULL)
		kt_free(b, p->M, "bias");
	kt_free(yref, yn, "yref");
	kt_free(y, yn, "y");
	kt_free(w, wn, "w");
	if (cc->edge)
		kt_edge_free(&ex);
	else
		kt_free(x, xn, "x");
}

static const enum eml_act acts[] = { EML_ACT_NONE, EML_ACT_RELU, EML_ACT_LEAKY_RELU,
	EML_ACT_CLIP, EML_ACT_HARDSIGMOID, EML_ACT_HARDSWISH, EML_ACT_SIGMOID, EML_ACT_TANH };

static void
random_common(uint64_t *st, struct ccase *cc)
{
	cc->p.ep.act = acts[kt_randz(st, 0, sizeof(acts) / sizeof(acts[0]) - 1)];
	cc->p.ep.a = cc->p.ep.act == EML_ACT_CLIP ? -0.3f : 0.2f;
	cc->p.ep.b = cc->p.ep.act == EML_ACT_CLIP ? 0.6f : 0.5f;
	cc->bias = (eml_test_rand(st) & 1) != 0;
	cc->threads = (int)kt_randz(st, 1, 2);
	cc->edge = (eml_test_rand(st) & 1) != 0;
}

static void
random_cases(enum eml_isa isa)
{
	uint64_t st = eml_test_seed() ^ (0x100u + (unsigned)isa);
	int t;

	(void)kt_need(isa);
	for (t = 0; t < 300; t++) {
		struct ccase cc;
		struct eml_conv2d_params *p = &cc.p;
		const char *want = NULL;
		int kind = t % 3;

		memset(&cc, 0, sizeof(cc));
		p->N = kt_randz(&st, 1, 2);
		p->H = kt_randz(&st, 1, 40);
		p->W = kt_randz(&st, 1, 70);
		p->stride_h = kt_randz(&st, 1, 3);
		p->stride_w = kt_randz(&st, 1, 3);
		p->dil_h = (eml_test_rand(&st) & 3) == 0 ? 2 : 1;
		p->dil_w = (eml_test_rand(&st) & 3) == 0 ? 2 : 1;
		if (kind == 0) { /* depthwise */
			p->C = kt_randz(&st, 1, 9);
			p->M = p->C;
			p->group = p->C;
			p->kh = p->kw = (eml_test_rand(&st) & 1) ? 3 : 5;
			if (eml_test_rand(&st) & 1) {
				p->kw = kt_randz(&st, 1, 4);
				p->kh = kt_randz(&st, 1, 4);
			}
			want = "depthwise-direct";
		} else if (kind == 1) { /* 1x1 */
			p->C = kt_randz(&st, 1, 40);
			p->M = kt_randz(&st, 1, 40);
			p->group = 1;
			p->kh = p->kw = 1;
			p->stride_h = p->stride_w = 1;
			want = "gemm-1x1";
		} else { /* general, maybe grouped */
			p->group = kt_randz(&st, 1, 3);
			p->C = p->group * kt_randz(&st, 1, 6);
			p->M = p->group * kt_randz(&st, 1, 20);
			p->kh = kt_randz(&st, 1, 5);
			p->kw = kt_randz(&st, 1, 5);
		}
		p->pad_top = kt_randz(&st, 0, p->kh / 2 + 1);
		p->pad_bottom = kt_randz(&st, 0, p->kh / 2 + 1);
		p->pad_left = kt_randz(&st, 0, p->kw / 2 + 1);
		p->pad_right = kt_randz(&st, 0, p->kw / 2 + 1);
		if (kind == 1)
			p->pad_top = p->pad_bottom = p->pad_left = p->pad_right = 0;
		/* One channel in and out is also depthwise, which wins. */
		if (kind == 1 && p->C == 1 && p->M == 1)
			want = "depthwise-direct";
		if (eml_conv2d_out_h(p) == 0 || eml_conv2d_out_w(p) == 0)
			continue;
		random_common(&st, &cc);
		run_case(isa, &cc, &st, want);
	}
}

static void
conv_avx2_random(void **state)
{
	(void)state;
	random_cases(EML_ISA_AVX2);
}

static void
conv_avx512_random(void **state)
{
	(void)state;
	random_cases(EML_ISA_AVX512);
}

/* The Winograd cases' kernel: 3x3 stride 1, no dilation, group 1, pads
 * 0..2 on each side (drawn top, bottom, left, right). */
static void
wino_kernel(uint64_t *st, struct eml_conv2d_params *p)
{
	p->kh = p->kw = 3;
	p->stride_h = p->stride_w = 1;
	p->dil_h = p->dil_w = 1;
	p->group = 1;
	p->pad_top = kt_randz(st, 0, 2);
	p->pad_bottom = kt_randz(st, 0, 2);
	p->pad_left = kt_randz(st, 0, 2);
	p->pad_right = kt_randz(st, 0, 2);
}

/*
 * Winograd F(2x2, 3x3): 3x3 stride 1, C and M >= 32, >= 36 output
 * pixels, both orientations (the transposed one for few tiles). Odd and even H and W (a last tile row or column half outside
 * the output), asymmetric pads 0..2 (patches reaching past the image on
 * either side), channel counts off the 8/14-row tiles, batch 2, 1-2
 * threads, every activation, input ending at a PROT_NONE page.
 */
static void
wino_cases(enum eml_isa isa)
{
	uint64_t st = eml_test_seed() ^ (0x300u + (unsigned)isa);
	int t;

	(void)kt_need(isa);
	for (t = 0; t < 24; t++) {
		struct ccase cc;
		struct eml_conv2d_params *p = &cc.p;

		memset(&cc, 0, sizeof(cc));
		p->N = kt_randz(&st, 1, 2);
		p->C = kt_randz(&st, 32, 45);
		p->M = kt_randz(&st, 32, 50);
		/* Small images take the transposed form (-t). */
		p->H = kt_randz(&st, 8, 31);
		p->W = kt_randz(&st, 8, 41);
		wino_kernel(&st, p);
		random_common(&st, &cc);
		run_case(isa, &cc, &st, "winograd-2x2");
	}
}

/*
 * Banded Winograd (winograd-2x2-b, >= 192 tiles and 16 M C <= 256 Ki):
 * bands of tiles that start and end inside tile rows, panels of the
 * GEMM's packed B cut inside a vector of tiles, a last band short of a
 * panel, C above the GEMM's K block (two k blocks of V), odd H and W,
 * asymmetric pads, batch 2, 1 and 2 threads, against the reference.
 */
static void
wino_band_cases(enum eml_isa isa)
{
	uint64_t st = eml_test_seed() ^ (0x500u + (unsigned)isa);
	int t, ran = 0, kblocks = 0;

	(void)kt_need(isa);
	for (t = 0; t < 12; t++) {
		struct ccase cc;
		struct eml_conv2d_params *p = &cc.p;

		memset(&cc, 0, sizeof(cc));
		p->N = kt_randz(&st, 1, 2);
		p->C = t % 4 == 3 ? kt_randz(&st, 257, 300) : kt_randz(&st, 32, 70);
		p->M = t % 4 == 3 ? kt_randz(&st, 32, 40) : kt_randz(&st, 32, 70);
		p->H = kt_randz(&st, 27, 61);
		p->W = kt_randz(&st, 27, 75);
		wino_kernel(&st, p);
		random_common(&st, &cc);
		cc.threads = 1 + t % 2;
		/* Enough tiles for the banded form whatever the pads. */
		if (((eml_conv2d_out_h(p) + 1) / 2) * ((eml_conv2d_out_w(p) + 1) / 2) < 192)
			continue;
		run_case(isa, &cc, &st, "winograd-2x2-b");
		ran++;
		kblocks += p->C > 256;
	}
	assert_true(ran >= 8 && kblocks >= 1);
}

/*
 * Transposed Winograd (winograd-2x2-t, small images): the input
 * transform writes V_xi^T straight as the GEMM's packed A, so cover what
 * that layout has to get right: C past the GEMM's K block (2 and 3 k
 * blocks: 257..300 and 513..560 channels), tile counts off the 8- and
 * 14-row panels (the last panel's rows past the tiles), odd H and W,
 * asymmetric pads, batch 2, 1 and 2 threads (splitting forced by
 * EML_POOL_MIN_WORK=0, set in main), against the reference; and 1 and 2
 * threads bit for bit.
 */
/* Whether the shape plans as winograd-2x2-t (the orientation depends on
 * the ISA's tiles). */
static bool
is_wino_t(enum eml_isa isa, const struct eml_conv2d_params *p)
{
	size_t wn = p->M * p->C * 9;
	float *w = kt_alloc(wn);
	struct eml_conv2d_plan *plan = NULL;
	bool t;

	memset(w, 0, wn * sizeof(float));
	assert_eml_ok(eml_conv2d_plan_new_isa(isa, p, w, NULL, 2, &plan));
	t = strcmp(eml_conv2d_method(plan), "winograd-2x2-t") == 0;
	eml_conv2d_plan_free(plan);
	kt_free(w, wn, "w");
	return t;
}

static void
wino_t_cases(enum eml_isa isa)
{
	uint64_t st = eml_test_seed() ^ (0x700u + (unsigned)isa);
	int t, ran = 0, k3 = 0;

	(void)kt_need(isa);
	/* Draws until ten cases ran and one of them has C > 512 (about one
	 * seed in 300 had no such case in the first 40 draws). */
	for (t = 0; t < 400 && (ran < 10 || k3 < 1); t++) {
		struct ccase cc;
		struct eml_conv2d_params *p = &cc.p;

		memset(&cc, 0, sizeof(cc));
		p->N = kt_randz(&st, 1, 2);
		p->C = t % 3 == 2 ? kt_randz(&st, 513, 560) : kt_randz(&st, 257, 300);
		p->M = kt_randz(&st, 40, 90);
		p->H = kt_randz(&st, 5, 14);
		p->W = kt_randz(&st, 5, 11);
		wino_kernel(&st, p);
		if (eml_conv2d_out_h(p) * eml_conv2d_out_w(p) < 36 || !is_wino_t(isa, p))
			continue;
		random_common(&st, &cc);
		cc.threads = 1 + t % 2;
		run_case(isa, &cc, &st, "winograd-2x2-t");
		ran++;
		k3 += p->C > 512;
	}
	assert_true(ran >= 6 && k3 >= 1);
}

static void
conv_avx2_winograd_t(void **state)
{
	(void)state;
	wino_t_cases(EML_ISA_AVX2);
}

static void
conv_avx512_winograd_t(void **state)
{
	(void)state;
	wino_t_cases(EML_ISA_AVX512);
}

static void
conv_avx2_winograd_banded(void **state)
{
	(void)state;
	wino_band_cases(EML_ISA_AVX2);
}

static void
conv_avx512_winograd_banded(void **state)
{
	(void)state;
	wino_band_cases(EML_ISA_AVX512);
}

static void
conv_avx2_winograd(void **state)
{
	(void)state;
	wino_cases(EML_ISA_AVX2);
}

static void
conv_avx512_winograd(void **state)
{
	(void)state;
	wino_cases(EML_ISA_AVX512);
}

/* One image, a square kernel, stride and pads alike on both axes, no
 * dilation, from a table row { C, H, W, M, k, stride, pad, group }. */
static void
square_params(const size_t row[8], struct eml_conv2d_params *p)
{
	memset(p, 0, sizeof(*p));
	p->N = 1;
	p->C = row[0];
	p->H = row[1];
	p->W = row[2];
	p->M = row[3];
	p->kh = p->kw = row[4];
	p->stride_h = p->stride_w = row[5];
	p->pad_top = p->pad_left = p->pad_bottom = p->pad_right = row[6];
	p->dil_h = p->dil_w = 1;
	p->group = row[7];
}

/* The shapes of the bench models (ResNet stem and blocks, mobile
 * depthwise + pointwise), scaled down in H/W to keep the test fast. */
static void
model_shapes(enum eml_isa isa)
{
	static const size_t sh[][9] = {
		/* C, H, W, M, k, stride, pad, group, act */
		{ 3, 37, 41, 16, 7, 2, 3, 1, EML_ACT_RELU },
		{ 16, 20, 20, 16, 3, 1, 1, 1, EML_ACT_RELU },
		{ 64, 14, 14, 32, 1, 1, 0, 1, EML_ACT_NONE },
		{ 32, 14, 14, 32, 3, 2, 1, 32, EML_ACT_HARDSWISH },
		{ 32, 29, 67, 32, 3, 1, 1, 32, EML_ACT_HARDSIGMOID },
		{ 24, 18, 50, 24, 5, 2, 2, 24, EML_ACT_HARDSWISH },
		{ 48, 9, 9, 96, 3, 2, 1, 1, EML_ACT_CLIP },
		/* Small HW, large K: the transposed product (-t methods). */
		{ 640, 7, 7, 64, 1, 1, 0, 1, EML_ACT_RELU },
		{ 64, 7, 7, 64, 5, 1, 2, 1, EML_ACT_NONE },
		{ 96, 14, 14, 64, 5, 1, 2, 1, EML_ACT_SIGMOID }, /* -t on AVX-512 only */
		{ 64, 7, 7, 80, 3, 1, 1, 2, EML_ACT_TANH },
		/* 3x3 stride 1: Winograd, transposed at 7x7 and 14x14. */
		{ 64, 7, 7, 64, 3, 1, 1, 1, EML_ACT_NONE },
		{ 96, 14, 14, 64, 3, 1, 1, 1, EML_ACT_SIGMOID },
		{ 40, 28, 28, 48, 3, 1, 1, 1, EML_ACT_RELU },
		/* Few output channels: direct-smallm, ragged widths against
		 * the 2-vector blocks, channel blocks 6+6, 6+6+1, 2+1, 6+2,
		 * 6+6+4, stride 2, kernels 2x2 to 5x5. */
		{ 48, 19, 23, 12, 3, 1, 1, 1, EML_ACT_NONE },
		{ 5, 11, 7, 13, 5, 1, 2, 1, EML_ACT_RELU },
		{ 7, 9, 40, 3, 2, 2, 0, 1, EML_ACT_SIGMOID },
		{ 3, 33, 45, 8, 3, 2, 1, 1, EML_ACT_HARDSWISH },
		{ 20, 17, 37, 16, 3, 1, 1, 1, EML_ACT_CLIP },
		{ 9, 1, 1, 5, 3, 1, 1, 1, EML_ACT_NONE },
		/* Stride 2, many output channels, rows filling the vectors
		 * (AVX-512 direct-s2): a stem 7x7/2 (12 + 8 channel blocks,
		 * two vectors + a one-vector tail: OW 46), a 3x3/2 with
		 * ragged M (12 + 12 + 4 + 1) and odd W, pads 0 and odd W. */
		{ 3, 75, 91, 20, 7, 2, 3, 1, EML_ACT_RELU },
		{ 17, 56, 57, 29, 3, 2, 1, 1, EML_ACT_CLIP },
		{ 6, 20, 61, 18, 3, 2, 0, 1, EML_ACT_NONE },
		/* Transposed im2col split by weight columns (3 HW <= M): the
		 * image packed once by both threads, ragged k blocks (1152 =
		 * 5 x 231), and 196 rows in two im2col pieces (mc 168; output
		 * rows of 7 leave 14-row panels too idle for indirect-gemm-t). */
		{ 128, 8, 9, 160, 3, 2, 1, 1, EML_ACT_RELU },
		{ 64, 55, 13, 596, 3, 2, 1, 1, EML_ACT_NONE },
		/* Stride 2, K >= 512, output rows of 14 and 28 (AVX-512
		 * indirect-gemm-t): the CNN's 128 -> 128 at 28x28 and a
		 * ResNet-like 64 -> 96 at 56x56. */
		{ 128, 28, 28, 128, 3, 2, 1, 1, EML_ACT_RELU },
		{ 64, 56, 56, 96, 3, 2, 1, 1, EML_ACT_CLIP },
	};
	uint64_t st = eml_test_seed() + 99;
	size_t i;

	(void)kt_need(isa);
	for (i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
		struct ccase cc;

		memset(&cc, 0, sizeof(cc));
		square_params(sh[i], &cc.p);
		cc.p.ep.act = (enum eml_act)sh[i][8];
		cc.p.ep.a = 0.0f;
		cc.p.ep.b = 6.0f;
		cc.bias = true;
		cc.threads = 2;
		run_case(isa, &cc, &st,
		    i >= 25		       ? (isa == EML_ISA_AVX512 ? "indirect-gemm-t" : NULL) :
		    i >= 23		       ? (isa == EML_ISA_AVX512 ? "im2col-gemm-t" : NULL) :
		    i >= 20		       ? (isa == EML_ISA_AVX512 ? "direct-s2" : NULL) :
		    i >= 14		       ? "direct-smallm" :
		    i == 7		       ? "gemm-1x1-t" :
		    i == 8 || (i == 9 && isa == EML_ISA_AVX512) ? "im2col-gemm-t" :
		    i >= 11		       ? "winograd-2x2" :
						 NULL);
	}
}

/* The same plan run with 1 and 2 threads gives bit-identical outputs:
 * each output element is computed by one task in a fixed order. */
/* The depthwise cost model (eml_dwconv_work, eml_pool_for): a step is
 * split when it takes more than ~20 us on one thread. bench_conv, one
 * thread: "det dw 5x5 480 @10" 134 us and "mobilenet dw 3x3/2 128 @56"
 * 108 us must split (the flop count alone, 2.8 M and 3.8 M, ran the first
 * on the caller: ~0.2 us a plane goes to padding it); the text classifier's
 * "ocr dw 3x3 16 @24x96", 16 us, stays on the caller. */
static void
conv_dw_work_model(void **state)
{
	static const size_t sh[][6] = {
		/* C, H, W, k, stride, split */
		{ 480, 10, 10, 5, 1, 1 },
		{ 128, 56, 56, 3, 2, 1 },
		{ 8, 160, 160, 3, 1, 1 },
		{ 16, 24, 96, 3, 1, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
		struct eml_conv2d_params p;
		double w;

		memset(&p, 0, sizeof(p));
		p.N = 1;
		p.C = p.M = p.group = sh[i][0];
		p.H = sh[i][1];
		p.W = sh[i][2];
		p.kh = p.kw = sh[i][3];
		p.stride_h = p.stride_w = sh[i][4];
		p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = sh[i][3] / 2;
		p.dil_h = p.dil_w = 1;
		w = eml_dwconv_work(&p, eml_conv2d_out_h(&p), eml_conv2d_out_w(&p));
		if ((w >= (double)EML_POOL_MIN_WORK) != (sh[i][5] != 0))
			fail_msg("dw %zu @%zux%zu k%zu/%zu: work %.3g, threshold %u", p.C, p.H, p.W,
			    p.kh, p.stride_h, w, EML_POOL_MIN_WORK);
	}
}

static void
conv_threads_bit_identical(void **state)
{
	static const size_t sh[][8] = {
		/* C, H, W, M, k, stride, pad, group */
		{ 16, 30, 30, 40, 3, 1, 1, 1 },
		{ 40, 31, 30, 36, 3, 1, 1, 1 }, /* winograd-2x2 */
		{ 64, 7, 9, 96, 3, 1, 1, 1 },   /* winograd-2x2-t */
		{ 300, 9, 11, 72, 3, 1, 1, 1 }, /* winograd-2x2-t, 2 k blocks, 30 tiles */
		{ 600, 7, 7, 64, 3, 1, 1, 1 },
		{ 24, 20, 33, 24, 5, 2, 2, 24 },
		{ 64, 12, 12, 96, 1, 1, 0, 1 },
		{ 480, 10, 10, 480, 5, 1, 2, 480 }, /* depthwise, small planes */
		{ 37, 11, 9, 37, 3, 2, 1, 37 },     /* depthwise, ragged */
		{ 5, 40, 59, 21, 3, 2, 1, 1 },      /* direct-s2 (AVX-512) */
		{ 128, 8, 9, 160, 3, 2, 1, 1 },     /* im2col-gemm-t, A packed once */
		{ 64, 26, 27, 40, 3, 2, 1, 1 },     /* indirect-gemm-t (AVX-512) */
	};
	uint64_t st = eml_test_seed() + 5;
	struct eml_pool *pool = NULL;
	size_t i, j;

	(void)state;
	assert_eml_ok(eml_pool_new(2, &pool));
	for (i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
		struct eml_conv2d_params p;
		struct eml_conv2d_plan *plan = NULL;
		float *x, *w, *y1, *y2, *ws;
		size_t xn, wn, yn, wsn;

		square_params(sh[i], &p);
		xn = p.C * p.H * p.W;
		wn = p.M * (p.C / p.group) * p.kh * p.kw;
		yn = p.M * eml_conv2d_out_h(&p) * eml_conv2d_out_w(&p);
		x = kt_alloc(xn);
		w = kt_alloc(wn);
		y1 = kt_alloc(yn);
		y2 = kt_alloc(yn);
		kt_fill(&st, x, xn, -1.0f, 1.0f);
		kt_fill(&st, w, wn, -1.0f, 1.0f);
		assert_eml_ok(eml_conv2d_plan_new(&p, w, NULL, 2, &plan));
		wsn = eml_conv2d_workspace_size(plan);
		ws = kt_alloc(wsn);
		eml_conv2d_run(plan, x, y1, ws, NULL);
		eml_conv2d_run(plan, x, y2, ws, pool);
		for (j = 0; j < yn; j++)
			if (memcmp(&y1[j], &y2[j], sizeof(float)) != 0)
				fail_msg("%s shape %zu: y[%zu] %.9g (1 thread) != %.9g (2 threads)",
				    eml_conv2d_method(plan), i, j, (double)y1[j], (double)y2[j]);
		kt_free(ws, wsn, "ws");
		eml_conv2d_plan_free(plan);
		kt_free(y2, yn, "y2");
		kt_free(y1, yn, "y1");
		kt_free(w, wn, "w");
		kt_free(x, xn, "x");
	}
	eml_pool_free(pool);
}

/*
 * indirect-gemm-t (AVX-512; stride_w 2, group 1, K >= 512, row panels of
 * 14 output pixels read in place from the padded, deinterleaved image):
 * ragged shapes against the reference on 1, 2 and 3 threads, every size
 * split (EML_POOL_MIN_WORK=0), and bit-identical across the thread
 * counts. Output rows of 13 and 27 (a short last panel, whose idle rows
 * read past the row), M of 37, 70 and 40 (a short last column panel), 3x3,
 * 5x5 and 3x5 taps (both halves of a deinterleaved row, offsets j / 2 up to
 * 2), stride_h 1 and 2, asymmetric pads, two images, K cut into two or
 * more k blocks (513, 576, 600, 900), with and without bias, and the
 * activations.
 */
static void
conv_avx512_indirect(void **state)
{
	/* C, H, W, M, kh, kw, stride_h, pad t, l, b, r, N */
	static const size_t sh[][12] = {
		{ 57, 27, 28, 37, 3, 3, 2, 1, 1, 1, 1, 1 },  /* OW 14, K 513 */
		{ 64, 26, 26, 70, 3, 3, 2, 1, 1, 0, 0, 2 },  /* OW 13, two images */
		{ 24, 20, 55, 33, 5, 5, 2, 2, 2, 2, 2, 1 },  /* OW 28, 5x5 */
		{ 60, 9, 54, 40, 3, 5, 1, 1, 2, 0, 1, 1 },   /* OW 27, stride 1x2 */
		{ 128, 29, 28, 64, 3, 3, 2, 0, 1, 1, 0, 1 }, /* OW 14, OH 15 */
	};
	static const enum eml_act act[] = { EML_ACT_RELU, EML_ACT_NONE, EML_ACT_HARDSWISH,
		EML_ACT_CLIP, EML_ACT_SIGMOID };
	uint64_t st = eml_test_seed() + 0x1d;
	size_t i, j;
	int t;

	(void)state;
	(void)kt_need(EML_ISA_AVX512);
	for (i = 0; i < sizeof(sh) / sizeof(sh[0]); i++) {
		struct eml_conv2d_params p;
		float *x, *w, *b, *y[3];
		size_t xn, wn, yn;

		memset(&p, 0, sizeof(p));
		p.C = sh[i][0];
		p.H = sh[i][1];
		p.W = sh[i][2];
		p.M = sh[i][3];
		p.kh = sh[i][4];
		p.kw = sh[i][5];
		p.stride_h = sh[i][6];
		p.stride_w = 2;
		p.pad_top = sh[i][7];
		p.pad_left = sh[i][8];
		p.pad_bottom = sh[i][9];
		p.pad_right = sh[i][10];
		p.N = sh[i][11];
		p.dil_h = p.dil_w = 1;
		p.group = 1;
		p.ep.act = act[i];
		p.ep.a = -0.3f;
		p.ep.b = 0.6f;
		/* Against the reference, through run_case (canaries, an
		 * input at a PROT_NONE page), on 1, 2 and 3 threads. */
		for (t = 1; t <= 3; t++) {
			struct ccase cc;

			memset(&cc, 0, sizeof(cc));
			cc.p = p;
			cc.bias = (i & 1) == 0;
			cc.threads = t;
			cc.edge = t == 2;
			run_case(EML_ISA_AVX512, &cc, &st, "indirect-gemm-t");
		}
		/* The same plan's bits on 1, 2 and 3 threads. */
		xn = p.N * p.C * p.H * p.W;
		wn = p.M * p.C * p.kh * p.kw;
		yn = p.N * p.M * eml_conv2d_out_h(&p) * eml_conv2d_out_w(&p);
		x = kt_alloc(xn);
		w = kt_alloc(wn);
		b = kt_alloc(p.M);
		kt_fill(&st, x, xn, -1.0f, 1.0f);
		kt_fill(&st, w, wn, -1.0f, 1.0f);
		kt_fill(&st, b, p.M, -1.0f, 1.0f);
		for (t = 1; t <= 3; t++) {
			struct eml_conv2d_plan *plan = NULL;
			struct eml_pool *pool = NULL;
			float *ws;
			size_t wsn;

			if (t > 1)
				assert_eml_ok(eml_pool_new(t, &pool));
			assert_eml_ok(eml_conv2d_plan_new_isa(EML_ISA_AVX512, &p, w, b, t, &plan));
			assert_string_equal(eml_conv2d_method(plan), "indirect-gemm-t");
			wsn = eml_conv2d_workspace_size(plan);
			ws = kt_alloc(wsn);
			y[t - 1] = kt_alloc(yn);
			eml_conv2d_run(plan, x, y[t - 1], ws, pool);
			for (j = 0; t > 1 && j < yn; j++)
				if (memcmp(&y[0][j], &y[t - 1][j], sizeof(float)) != 0)
					fail_msg("shape %zu: y[%zu] %.9g (1 thread) != %.9g (%d threads)",
					    i, j, (double)y[0][j], (double)y[t - 1][j], t);
			kt_free(ws, wsn, "ws");
			eml_conv2d_plan_free(plan);
			eml_pool_free(pool);
		}
		for (t = 0; t < 3; t++)
			kt_free(y[t], yn, "y");
		kt_free(b, p.M, "b");
		kt_free(w, wn, "w");
		kt_free(x, xn, "x");
	}
}

static void
conv_avx2_model_shapes(void **state)
{
	(void)state;
	model_shapes(EML_ISA_AVX2);
}

static void
conv_avx512_model_shapes(void **state)
{
	(void)state;
	model_shapes(EML_ISA_AVX512);
}

/* Hand-computed: 1 channel 3x3 input, 2x2 kernel, pad 1 left/top only,
 * stride 2: output 2x2 (out = floor((3 + 1 - 2) / 2) + 1). */
static void
conv_ref_known_answer(void **state)
{
	struct eml_conv2d_params p;
	float x[9] = { 1, 2, 3, 4, 5, 6, 7, 8, 9 }, w[4] = { 1, 10, 100, 1000 }, b = 0.5f;
	float y[4];
	/* y[0,0]: window rows -1..0, cols -1..0: only x[0][0] * w[1][1].
	 * y[0,1]: rows -1..0, cols 1..2: x[0][1] w[1][0] + x[0][2] w[1][1].
	 * y[1,0]: rows 1..2, cols -1..0: x[1][0] w[0][1] + x[2][0] w[1][1].
	 * y[1,1]: rows 1..2, cols 1..2: 5 + 60 + 800 + 9000. */
	const float want[4] = { 1000.5f, 200 + 3000 + 0.5f, 40 + 7000 + 0.5f,
		5 + 60 + 800 + 9000 + 0.5f };
	size_t i;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.N = p.C = p.M = p.group = 1;
	p.H = p.W = 3;
	p.kh = p.kw = 2;
	p.stride_h = p.stride_w = 2;
	p.dil_h = p.dil_w = 1;
	p.pad_top = p.pad_left = 1;
	assert_int_equal(eml_conv2d_out_h(&p), 2);
	assert_int_equal(eml_conv2d_out_w(&p), 2);
	eml_conv2d_ref(&p, x, w, &b, y);
	for (i = 0; i < 4; i++)
		assert_true(y[i] == want[i]);
}

static void
conv_rejects_bad_params(void **state)
{
	struct eml_conv2d_params p;
	struct eml_conv2d_plan *plan = (struct eml_conv2d_plan *)1;
	float w[4 * 4 * 3 * 3] = { 0 };

	(void)state;
	memset(&p, 0, sizeof(p));
	p.N = 1;
	p.C = 4;
	p.H = p.W = 8;
	p.M = 4;
	p.kh = p.kw = 3;
	p.stride_h = p.stride_w = 1;
	p.dil_h = p.dil_w = 1;
	p.group = 3; /* does not divide C */
	assert_eml(eml_conv2d_plan_new(&p, w, NULL, 1, &plan), EML_ERR_KERNEL_PARAMS);
	assert_null(plan);
	p.group = 1;
	p.stride_w = 0;
	assert_eml(eml_conv2d_plan_new(&p, w, NULL, 1, &plan), EML_ERR_KERNEL_PARAMS);
	p.stride_w = 1;
	p.kh = 9; /* larger than the padded input */
	assert_eml(eml_conv2d_plan_new(&p, w, NULL, 1, &plan), EML_ERR_KERNEL_PARAMS);
	p.kh = 3;
	p.M = 0;
	assert_eml(eml_conv2d_plan_new(&p, w, NULL, 1, &plan), EML_ERR_KERNEL_PARAMS);
	p.M = 4;
	p.N = SIZE_MAX / 2;
	assert_eml(eml_conv2d_plan_new(&p, w, NULL, 1, &plan), EML_ERR_OVERFLOW);
	p.N = 1;
	assert_eml(eml_conv2d_plan_new(&p, NULL, NULL, 1, &plan), EML_ERR_NULL);
	/* An ISA the CPU lacks (NEON on x86, or AVX-512 on an AVX2 machine). */
	if (eml_kernels_for(EML_ISA_NEON) == NULL)
		assert_eml(eml_conv2d_plan_new_isa(EML_ISA_NEON, &p, w, NULL, 1, &plan),
		    EML_ERR_UNSUPPORTED);
	/* And a good one still works. */
	assert_eml_ok(eml_conv2d_plan_new(&p, w, NULL, 1, &plan));
	eml_conv2d_plan_free(plan);
	eml_conv2d_plan_free(NULL);
}

/*
 * The Winograd filter transform U = G g G^T (float, blocks of 64 filters)
 * against the definition in double, on counts around the block size
 * (1, 63, 64, 65, 130, random): every value within 4 ULP of sum |g|
 * (each U value is a sum of at most 9 taps times exact powers of two);
 * nothing written past the n values of each of the 16 planes.
 */
static void
conv_wino_filter_vs_double(void **state)
{
	static const double G[4][3] = {
		{ 1, 0, 0 }, { 0.5, 0.5, 0.5 }, { 0.5, -0.5, 0.5 }, { 0, 0, 1 }
	};
	const size_t counts[] = { 1, 63, 64, 65, 130, 0 };
	uint64_t st = eml_test_seed() ^ 0x316u;
	size_t ci;

	(void)state;
	for (ci = 0; ci < sizeof(counts) / sizeof(counts[0]); ci++) {
		size_t n = counts[ci] != 0 ? counts[ci] : kt_randz(&st, 2, 300);
		size_t us = n + 3, i, a, b, r, s;
		float *g = kt_alloc(n * 9), *u = kt_alloc(16 * us);

		kt_fill(&st, g, n * 9, -2.0f, 2.0f);
		for (i = 0; i < 16 * us; i++)
			u[i] = -7.0f;
		eml_wino_filter(g, n, u, us);
		for (i = 0; i < n; i++) {
			double sum = 0.0;

			for (r = 0; r < 9; r++)
				sum += fabs((double)g[i * 9 + r]);
			for (a = 0; a < 4; a++)
				for (b = 0; b < 4; b++) {
					double want = 0.0;

					for (r = 0; r < 3; r++)
						for (s = 0; s < 3; s++)
							want += G[a][r] * (double)g[i * 9 + r * 3 + s] *
							    G[b][s];
					if (!(fabs((double)u[(a * 4 + b) * us + i] - want) <=
						4.0 * FLT_EPSILON * sum))
						fail_msg("n %zu filter %zu U[%zu][%zu] %g, want %g", n, i,
						    a, b, (double)u[(a * 4 + b) * us + i], want);
				}
		}
		for (a = 0; a < 16; a++)
			for (i = n; i < us; i++)
				if (u[a * us + i] != -7.0f)
					fail_msg("n %zu: plane %zu written past n at %zu", n, a, i);
		kt_free(g, n * 9, "g");
		kt_free(u, 16 * us, "u");
	}
}

/*
 * The transform written straight into the packed GEMM operands
 * (eml_wino_filter_packed, what a Winograd plan now does) against the
 * old two passes, eml_wino_filter into a [16][M x C] temporary and then
 * pack_a (U_xi [M, C]) or pack_b (U_xi^T [C, M]) of each impl: the same
 * bits, on M off the 6/8/14-row and 16/32/48-column panels and C across
 * one to three K blocks (kc 256, equal blocks), operands 16-byte aligned
 * (non-temporal stores) or not; the room between the 16 operands is not
 * written.
 */
static void
wino_packed_vs_pack(const struct eml_gemm_impl *g, uint64_t *st)
{
	const size_t shapes[][2] = { { 1, 1 }, { 13, 7 }, { 50, 45 }, { 97, 300 }, { 48, 513 },
		{ 33, 256 }, { 8, 257 }, { 0, 0 } };
	size_t si;

	for (si = 0; si < sizeof(shapes) / sizeof(shapes[0]); si++) {
		size_t M = shapes[si][0] != 0 ? shapes[si][0] : kt_randz(st, 1, 120);
		size_t C = shapes[si][1] != 0 ? shapes[si][1] : kt_randz(st, 1, 600);
		size_t MC = M * C, kcb = eml_sgemm_blk_kc(g, C);

		/* pad 4: runs on 16 bytes, whole blocks streamed (r a multiple
		 * of 4); pad 5: ordinary stores. */
		for (int v = 0; v < 4; v++) {
			int trans = v & 1;
			size_t pad = v < 2 ? 5 : 4;
			size_t r = trans ? g->nr : g->mr;
			size_t sz = trans ? eml_sgemm_blk_packed_b_size(g, C, M) :
					    eml_sgemm_blk_packed_a_size(g, M, C);
			size_t xs = sz + pad, i, xi;
			float *w = kt_alloc(MC * 9), *u = kt_alloc(16 * MC);
			float *want = kt_alloc(16 * xs), *got = kt_alloc(16 * xs);
			float *ws = kt_alloc(MC * 9), *sc = kt_alloc(M);

			assert_int_equal(sz, C * ((M + r - 1) / r * r));
			assert_int_equal((uintptr_t)got % 16, 0);
			kt_fill(st, w, MC * 9, -2.0f, 2.0f);
			for (i = 0; i < 16 * xs; i++)
				want[i] = got[i] = -7.0f;
			eml_wino_filter(w, MC, u, MC);
			for (xi = 0; xi < 16; xi++) {
				if (trans)
					eml_sgemm_blk_pack_b(g, C, M, u + xi * MC, C, true,
					    want + xi * xs);
				else
					eml_sgemm_blk_pack_a(g, M, C, u + xi * MC, C, false,
					    want + xi * xs);
			}
			eml_wino_filter_packed(w, NULL, M, C, r, kcb, got, xs);
			for (i = 0; i < 16 * xs; i++)
				if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
					fail_msg("mr %zu nr %zu %s M %zu C %zu: [%zu][%zu] %a, want %a",
					    g->mr, g->nr, trans ? "B" : "A", M, C, i / xs, i % xs,
					    (double)got[i], (double)want[i]);
			/* With a per-filter-row scale: as from a scaled copy. */
			kt_fill(st, sc, M, 0.3f, 3.0f);
			for (i = 0; i < MC * 9; i++)
				ws[i] = w[i] * sc[i / (C * 9)];
			eml_wino_filter_packed(ws, NULL, M, C, r, kcb, want, xs);
			eml_wino_filter_packed(w, sc, M, C, r, kcb, got, xs);
			for (i = 0; i < 16 * xs; i++)
				if (memcmp(&got[i], &want[i], sizeof(float)) != 0)
					fail_msg("scaled, mr %zu nr %zu %s M %zu C %zu: [%zu][%zu] %a, "
						 "want %a",
					    g->mr, g->nr, trans ? "B" : "A", M, C, i / xs, i % xs,
					    (double)got[i], (double)want[i]);
			kt_free(w, MC * 9, "w");
			kt_free(u, 16 * MC, "u");
			kt_free(want, 16 * xs, "want");
			kt_free(got, 16 * xs, "got");
			kt_free(ws, MC * 9, "ws");
			kt_free(sc, M, "sc");
		}
	}
}

static void
conv_wino_filter_packed(void **state)
{
	uint64_t st = eml_test_seed() ^ 0x317u;
	bool any = false;

	(void)state;
	if (eml_kernels_for(EML_ISA_AVX2) != NULL) {
		wino_packed_vs_pack(&eml_gemm_avx2, &st);
		any = true;
	}
	if (eml_kernels_for(EML_ISA_AVX512) != NULL) {
		wino_packed_vs_pack(&eml_gemm_avx512, &st);
		wino_packed_vs_pack(&eml_gemm_avx512_8x48, &st);
		any = true;
	}
	if (!any)
		skip();
}

/*
 * A folded batch norm's per-channel scale given to the plan
 * (eml_conv2d_plan_new_isa_scaled) against the weights scaled first: the
 * same output bits on every method (Winograd both ways, im2col, 1x1,
 * direct, depthwise, grouped, the reference), bias and activation.
 */
static void
scaled_vs_copy(enum eml_isa isa, uint64_t *st)
{
	/* C, H, W, M, k, stride, group */
	static const size_t cs[][7] = {
		{ 40, 16, 18, 48, 3, 1, 1 }, /* winograd-2x2 (AVX-512: -t) */
		{ 36, 36, 40, 40, 3, 1, 1 }, /* winograd-2x2 */
		{ 128, 14, 14, 256, 3, 2, 1 }, /* im2col-gemm-t */
		{ 300, 8, 8, 40, 3, 1, 1 },  /* winograd, transposed, 2 K blocks */
		{ 20, 12, 11, 24, 3, 2, 1 }, /* im2col */
		{ 24, 9, 10, 30, 1, 1, 1 },  /* 1x1 */
		{ 12, 10, 9, 6, 3, 1, 1 },   /* direct, few M */
		{ 16, 11, 12, 16, 3, 1, 16 }, /* depthwise */
		{ 12, 9, 9, 18, 3, 1, 3 },   /* grouped */
	};
	size_t ci;

	for (ci = 0; ci < sizeof(cs) / sizeof(cs[0]); ci++) {
		struct eml_conv2d_params p;
		struct eml_conv2d_plan *pa = NULL, *pb = NULL;
		size_t K, xn, yn, wn, wsa, wsb, i;
		float *x, *w, *ws, *s, *b, *ya, *yb, *wka, *wkb;

		memset(&p, 0, sizeof(p));
		p.N = 1;
		p.C = cs[ci][0];
		p.H = cs[ci][1];
		p.W = cs[ci][2];
		p.M = cs[ci][3];
		p.kh = p.kw = cs[ci][4];
		p.stride_h = p.stride_w = cs[ci][5];
		p.dil_h = p.dil_w = 1;
		p.group = cs[ci][6];
		p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = p.kh / 2;
		p.ep.act = EML_ACT_RELU;
		K = p.C / p.group * p.kh * p.kw;
		xn = p.C * p.H * p.W;
		yn = p.M * eml_conv2d_out_h(&p) * eml_conv2d_out_w(&p);
		wn = p.M * K;
		x = kt_alloc(xn);
		w = kt_alloc(wn);
		ws = kt_alloc(wn);
		s = kt_alloc(p.M);
		b = kt_alloc(p.M);
		ya = kt_alloc(yn);
		yb = kt_alloc(yn);
		kt_fill(st, x, xn, -1.0f, 1.0f);
		kt_fill(st, w, wn, -1.0f, 1.0f);
		kt_fill(st, s, p.M, 0.3f, 3.0f);
		kt_fill(st, b, p.M, -1.0f, 1.0f);
		for (i = 0; i < wn; i++)
			ws[i] = w[i] * s[i / K];
		assert_eml_ok(eml_conv2d_plan_new_isa(isa, &p, ws, b, 1, &pa));
		assert_eml_ok(eml_conv2d_plan_new_isa_scaled(isa, &p, w, s, b, 1, &pb));
		assert_string_equal(eml_conv2d_method(pa), eml_conv2d_method(pb));
		wsa = eml_conv2d_workspace_size(pa);
		wsb = eml_conv2d_workspace_size(pb);
		wka = kt_alloc(wsa);
		wkb = kt_alloc(wsb);
		eml_conv2d_run(pa, x, ya, wka, NULL);
		eml_conv2d_run(pb, x, yb, wkb, NULL);
		for (i = 0; i < yn; i++)
			if (memcmp(&ya[i], &yb[i], sizeof(float)) != 0)
				fail_msg("%s %s case %zu: y[%zu] %a scaled, %a from the copy",
				    eml_isa_name(isa), eml_conv2d_method(pa), ci, i, (double)yb[i],
				    (double)ya[i]);
		eml_conv2d_plan_free(pa);
		eml_conv2d_plan_free(pb);
		kt_free(wka, wsa, "ws a");
		kt_free(wkb, wsb, "ws b");
		kt_free(x, xn, "x");
		kt_free(w, wn, "w");
		kt_free(ws, wn, "w scaled");
		kt_free(s, p.M, "s");
		kt_free(b, p.M, "b");
		kt_free(ya, yn, "ya");
		kt_free(yb, yn, "yb");
	}
}

static void
conv_scaled_bit_identical(void **state)
{
	uint64_t st = eml_test_seed() ^ 0x318u;

	(void)state;
	scaled_vs_copy(EML_ISA_REF, &st);
	if (eml_kernels_for(EML_ISA_AVX2) != NULL)
		scaled_vs_copy(EML_ISA_AVX2, &st);
	if (eml_kernels_for(EML_ISA_AVX512) != NULL)
		scaled_vs_copy(EML_ISA_AVX512, &st);
}

/*
 * eml_conv2d_plan_round_f16: the outputs the tasks round as they write
 * them against the same plan's outputs without it, rounded by one
 * eml_f32_round_f16 pass after the run, bit for bit, on 1, 2 and 3
 * threads and on every method: direct-s2 and indirect-gemm-t at the
 * f16-cnn's shapes and ragged ones (OW 27, two images), banded Winograd
 * with bands ending inside tile rows and odd OH / OW (the last tile's
 * second row and column cut), and the methods rounded by a pass after
 * the run (Winograd unbanded, im2col, im2col-gemm-t, depthwise, grouped,
 * direct-smallm, the reference). Red when any of them skips a row
 * (at least one output must change when rounded).
 */
static void
rounded_vs_pass(enum eml_isa isa, uint64_t *st, bool *seen)
{
	/* C, H, W, M, k, stride, group, N */
	static const size_t cs[][8] = {
		{ 3, 112, 112, 32, 3, 2, 1, 1 },  /* direct-s2 (AVX-512) */
		{ 5, 37, 50, 20, 3, 2, 1, 2 },    /* direct-s2, OW 25, two images */
		{ 64, 56, 56, 64, 3, 2, 1, 1 },   /* indirect-gemm-t */
		{ 64, 28, 54, 40, 3, 2, 1, 2 },   /* indirect, OW 27, two images */
		{ 32, 56, 56, 64, 3, 1, 1, 1 },   /* winograd-2x2-b */
		{ 33, 29, 31, 40, 3, 1, 1, 2 },   /* banded, odd OH and OW */
		{ 36, 10, 12, 40, 3, 1, 1, 1 },   /* winograd-2x2 */
		{ 20, 12, 11, 24, 3, 2, 1, 1 },   /* im2col */
		{ 128, 14, 14, 256, 3, 2, 1, 1 }, /* im2col-gemm-t */
		{ 12, 10, 9, 6, 3, 1, 1, 1 },     /* direct-smallm */
		{ 16, 11, 13, 16, 3, 1, 16, 1 },  /* depthwise */
		{ 12, 9, 9, 18, 3, 1, 3, 1 },     /* grouped */
	};
	size_t ci, i;
	int t;

	for (ci = 0; ci < sizeof(cs) / sizeof(cs[0]); ci++) {
		struct eml_conv2d_params p;
		size_t K, xn, yn, wn, changed = 0;
		float *x, *w, *b, *want;

		memset(&p, 0, sizeof(p));
		p.C = cs[ci][0];
		p.H = cs[ci][1];
		p.W = cs[ci][2];
		p.M = cs[ci][3];
		p.kh = p.kw = cs[ci][4];
		p.stride_h = p.stride_w = cs[ci][5];
		p.group = cs[ci][6];
		p.N = cs[ci][7];
		p.dil_h = p.dil_w = 1;
		p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = p.kh / 2;
		p.ep.act = ci % 2 == 0 ? EML_ACT_RELU : EML_ACT_NONE;
		K = p.C / p.group * p.kh * p.kw;
		xn = p.N * p.C * p.H * p.W;
		yn = p.N * p.M * eml_conv2d_out_h(&p) * eml_conv2d_out_w(&p);
		wn = p.M * K;
		x = kt_alloc(xn);
		w = kt_alloc(wn);
		b = kt_alloc(p.M);
		want = kt_alloc(yn);
		kt_fill(st, x, xn, -1.0f, 1.0f);
		kt_fill(st, w, wn, -1.0f, 1.0f);
		kt_fill(st, b, p.M, -1.0f, 1.0f);
		for (t = 1; t <= 3; t++) {
			struct eml_conv2d_plan *pa = NULL, *pb = NULL;
			struct eml_pool *pool = NULL;
			size_t wsa, wsb;
			float *wka, *wkb, *got;
			const char *m;

			if (t > 1)
				assert_eml_ok(eml_pool_new(t, &pool));
			assert_eml_ok(eml_conv2d_plan_new_isa(isa, &p, w, b, t, &pa));
			assert_eml_ok(eml_conv2d_plan_new_isa(isa, &p, w, b, t, &pb));
			eml_conv2d_plan_round_f16(pb);
			m = eml_conv2d_method(pa);
			assert_string_equal(m, eml_conv2d_method(pb));
			seen[0] |= strcmp(m, "direct-s2") == 0;
			seen[1] |= strcmp(m, "indirect-gemm-t") == 0;
			seen[2] |= strcmp(m, "winograd-2x2-b") == 0;
			wsa = eml_conv2d_workspace_size(pa);
			wsb = eml_conv2d_workspace_size(pb);
			wka = kt_alloc(wsa);
			wkb = kt_alloc(wsb);
			got = kt_alloc(yn);
			eml_conv2d_run(pa, x, want, wka, pool);
			eml_conv2d_run(pb, x, got, wkb, pool);
			for (i = 0; i < yn; i++) {
				float r;

				eml_f32_round_f16(1, &want[i], &r);
				changed += memcmp(&r, &want[i], sizeof(float)) != 0;
				if (memcmp(&got[i], &r, sizeof(float)) != 0)
					fail_msg("%s %s case %zu, %d threads: y[%zu] %a, want %a",
					    eml_isa_name(isa), m, ci, t, i, (double)got[i],
					    (double)r);
			}
			assert_true(changed > 0);
			eml_conv2d_plan_free(pa);
			eml_conv2d_plan_free(pb);
			eml_pool_free(pool);
			kt_free(wka, wsa, "ws a");
			kt_free(wkb, wsb, "ws b");
			kt_free(got, yn, "got");
		}
		kt_free(x, xn, "x");
		kt_free(w, wn, "w");
		kt_free(b, p.M, "b");
		kt_free(want, yn, "want");
	}
}

/*
 * The stride-2 padded copy of the direct and indirect methods: AVX-512's
 * (lanes worked out once per call, then masked loads, a permute and a
 * store per vector) against AVX2's (bounds per row), every float of the
 * scratch, on rows 1..75 wide, left pads 0..3 (the first vector expanded
 * past the padding), top pads 0..2 and rows beyond the image, PW from
 * the even minimum up to 7 columns more (a right padding of zeros; half
 * rows of 1..45 floats, 1..3 vectors), a channel range not starting at
 * 0 (the other planes untouched), the input ending at a PROT_NONE page.
 */
static void
conv_avx512_dconv_pad_s2(void **state)
{
	uint64_t st = eml_test_seed() ^ 0x9ad2u;
	size_t W, pl, extra, i;

	(void)state;
	(void)kt_need(EML_ISA_AVX512);
	if (eml_kernels_for(EML_ISA_AVX2) == NULL)
		skip();
	for (W = 1; W <= 75; W += W < 40 ? 1 : 7)
		for (pl = 0; pl <= 3; pl++)
			for (extra = 0; extra <= 7; extra += 3) {
				struct eml_conv2d_params p;
				struct kt_edge e;
				size_t C = 3, c0 = 1, H = 1 + W % 5, PH, PW, sn;
				float *x, *sa, *sb;

				memset(&p, 0, sizeof(p));
				p.N = 1;
				p.C = C;
				p.H = H;
				p.W = W;
				p.M = 24;
				p.kh = p.kw = 3;
				p.stride_h = p.stride_w = 2;
				p.dil_h = p.dil_w = 1;
				p.pad_top = W % 3;
				p.pad_left = pl;
				PH = H + p.pad_top + 1;
				PW = W + pl + extra;
				PW += PW & 1;
				sn = C * PH * PW;
				x = kt_edge_alloc(&e, C * H * W);
				kt_fill(&st, x, C * H * W, -1.0f, 1.0f);
				sa = kt_alloc(sn);
				sb = kt_alloc(sn);
				for (i = 0; i < sn; i++)
					sa[i] = sb[i] = -9.0f;
				eml_dconv_pad_avx512(&p, PH, PW, c0, C, x, sa);
				eml_dconv_pad_avx2(&p, PH, PW, c0, C, x, sb);
				for (i = 0; i < sn; i++) {
					if (i < c0 * PH * PW && sa[i] != -9.0f)
						fail_msg("W %zu pl %zu PW %zu: plane 0 written at %zu",
						    W, pl, PW, i);
					if (memcmp(&sa[i], &sb[i], sizeof(float)) != 0)
						fail_msg("W %zu pl %zu PW %zu: s[%zu] %a, want %a", W,
						    pl, PW, i, (double)sa[i], (double)sb[i]);
				}
				kt_free(sa, sn, "sa");
				kt_free(sb, sn, "sb");
				kt_edge_free(&e);
			}
}

static void
conv_round_f16_bit_identical(void **state)
{
	uint64_t st = eml_test_seed() ^ 0x16f1u;
	bool seen[3] = { false, false, false };

	(void)state;
	rounded_vs_pass(EML_ISA_REF, &st, seen);
	if (eml_kernels_for(EML_ISA_AVX2) != NULL)
		rounded_vs_pass(EML_ISA_AVX2, &st, seen);
	if (eml_kernels_for(EML_ISA_AVX512) != NULL) {
		rounded_vs_pass(EML_ISA_AVX512, &st, seen);
		/* The three methods that round in their tasks were run. */
		assert_true(seen[0] && seen[1] && seen[2]);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(conv_ref_known_answer),
		cmocka_unit_test(conv_rejects_bad_params),
		cmocka_unit_test(conv_avx2_random),
		cmocka_unit_test(conv_avx512_random),
		cmocka_unit_test(conv_avx2_winograd),
		cmocka_unit_test(conv_avx512_winograd),
		cmocka_unit_test(conv_avx2_winograd_banded),
		cmocka_unit_test(conv_avx512_winograd_banded),
		cmocka_unit_test(conv_avx2_winograd_t),
		cmocka_unit_test(conv_avx512_winograd_t),
		cmocka_unit_test(conv_wino_filter_vs_double),
		cmocka_unit_test(conv_wino_filter_packed),
		cmocka_unit_test(conv_scaled_bit_identical),
		cmocka_unit_test(conv_threads_bit_identical),
		cmocka_unit_test(conv_dw_work_model),
		cmocka_unit_test(conv_avx2_model_shapes),
		cmocka_unit_test(conv_avx512_model_shapes),
		cmocka_unit_test(conv_avx512_indirect),
		cmocka_unit_test(conv_round_f16_bit_identical),
		cmocka_unit_test(conv_avx512_dconv_pad_s2),
	};

	/* Every size is split across the pool's threads (the cost model would
	 * run the small test shapes on the caller alone). */
	(void)setenv("EML_POOL_MIN_WORK", "0", 1);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
