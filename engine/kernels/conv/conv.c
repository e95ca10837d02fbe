/*
 * Convolution plans: parameters validated once, the method chosen per shape
 * and ISA, the weights copied (and packed) into secure memory the plan
 * owns.
 */
#include <stdatomic.h>
#include <string.h>

#include "eml_mem.h"
#include "engine/kernels/eml_kernels_int.h"

enum conv_method {
	CONV_REF = 0,   /* the oracle: ISA ref only */
	CONV_DW,        /* depthwise direct, vectorised along output rows */
	CONV_1X1,       /* 1x1 stride 1 no pad: W x X as a GEMM, no copy */
	CONV_IM2COL,    /* GEMM with B packed from the image (implicit im2col) */
	CONV_WINO,      /* Winograd F(2x2, 3x3): transforms + 16 GEMMs */
	CONV_DIRECT,    /* few output channels: padded planes, register blocks */
};

static const char *const method_names[] = {
	[CONV_REF] = "direct-ref",
	[CONV_DW] = "depthwise-direct",
	[CONV_1X1] = "gemm-1x1",
	[CONV_IM2COL] = "im2col-gemm",
	[CONV_WINO] = "winograd-2x2",
	[CONV_DIRECT] = "direct-smallm",
};

struct eml_conv2d_plan {
	struct eml_conv2d_params p;
	size_t OH, OW;
	enum conv_method method;
	enum eml_isa isa;
	int nthreads;
	const struct eml_gemm_impl *g; /* CONV_1X1, CONV_IM2COL */
	eml_dwconv_fn dw;              /* CONV_DW */
	void (*im2col)(const void *ctx, size_t k0, size_t kk, size_t n0, size_t nn, size_t nr,
	    float *dst);               /* CONV_IM2COL */
	/* eml_secure_alloc, w_bytes: the weights as given (REF, DW) or packed
	 * as GEMM A operands, one block of a_stride floats per group. */
	float *w;
	size_t w_bytes;
	size_t a_stride;
	float *bias; /* eml_secure_alloc, M floats, or NULL */
	size_t dw_scratch; /* CONV_DW: floats per thread */
	bool transposed; /* GEMM methods: Y^T = X^T W^T, then transpose */
	size_t ct_off;   /* transposed: Y^T's offset in the workspace */
	/* Transposed im2col split by weight columns (3 HW <= Mg): the image's
	 * packed A [Mp x Kg] at apk_off, made once per group by all threads
	 * (0: none). */
	size_t apk_off;
	size_t ws;
	/* CONV_WINO: TH x TW tiles, processed in bands of wb tile rows; the
	 * workspace holds V [16][C][band] (transposed: each V_xi^T as the
	 * GEMM's packed A), the GEMM results [16][M][band],
	 * then per thread a GEMM workspace (w_gws) and transform scratch
	 * (w_scr). */
	void (*wino_in)(const struct eml_conv2d_params *p, size_t TW, size_t t0, size_t t1,
	    const float *x, float *v, size_t vstride, size_t nr, size_t pstride,
	    float *scratch);
	void (*wino_out)(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t TW,
	    size_t t0, size_t t1, const float *mb, size_t mstride, float bias, float *y,
	    float *scratch, bool round16);
	void (*wino_out_t)(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t TW,
	    size_t th0, size_t th, const float *ct, size_t xs, const float *bias, size_t m0,
	    size_t m1, float *y);
	size_t TH, TW, wb;
	size_t vxs, mxs; /* floats between V_xi, between results M_xi */
	size_t m_off, g_off, s_off, w_gws, w_scr;
	/* Banded (winograd-2x2-b): bands of nb tiles, one task each; per
	 * thread tws floats: V as packed GEMM B panels [16][vxs], the results
	 * [16][mxs] at m_off, the transform scratch at s_off. */
	bool banded;
	size_t nb, tws;
	/* Indirect (indirect-gemm-t): Y^T = col^T W^T with col^T read in
	 * place from the padded image by kernel_ind, koff[k] the offset of
	 * tap k = (c, i, j) in it (Kg entries); the padded image (planes
	 * PH x PW, as CONV_DIRECT's) at pad_off in the workspace. */
	bool ind;
	size_t pad_off;
	uint32_t *koff;
	/* CONV_DIRECT: padded planes PH x PW in the workspace. */
	void (*dc_pad)(const struct eml_conv2d_params *p, size_t PH, size_t PW, size_t c0,
	    size_t c1, const float *x, float *s);
	void (*dc_run)(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t PH,
	    size_t PW, const float *s, const float *wt, const float *bias, size_t oh0,
	    size_t oh1, float *y);
	size_t PH, PW;
	/* eml_conv2d_plan_round_f16: outputs rounded to float16 values. */
	bool round16;
};

static size_t
out_dim(size_t in, size_t k, size_t stride, size_t dil, size_t p0, size_t p1)
{
	size_t ek, padded;

	if (k == 0 || stride == 0 || dil == 0)
		return 0;
	if (eml_mul_overflow(dil, k - 1, &ek) || eml_add_overflow(ek, (size_t)1, &ek))
		return 0;
	if (eml_add_overflow(in, p0, &padded) || eml_add_overflow(padded, p1, &padded))
		return 0;
	if (padded < ek)
		return 0;
	return (padded - ek) / stride + 1;
}

size_t
eml_conv2d_out_h(const struct eml_conv2d_params *p)
{
	return out_dim(p->H, p->kh, p->stride_h, p->dil_h, p->pad_top, p->pad_bottom);
}

size_t
eml_conv2d_out_w(const struct eml_conv2d_params *p)
{
	return out_dim(p->W, p->kw, p->stride_w, p->dil_w, p->pad_left, p->pad_right);
}

static eml_err
check_params(const struct eml_conv2d_params *p)
{
	size_t t;

	EML_ENSURE_REF(p);
	if (p->N == 0 || p->C == 0 || p->H == 0 || p->W == 0 || p->M == 0 || p->group == 0 ||
	    p->C % p->group != 0 || p->M % p->group != 0) {
		eml_err_set_detail("conv: N=%zu C=%zu H=%zu W=%zu M=%zu group=%zu", p->N, p->C,
		    p->H, p->W, p->M, p->group);
		EML_BAIL(EML_ERR_KERNEL_PARAMS);
	}
	if (eml_conv2d_out_h(p) == 0 || eml_conv2d_out_w(p) == 0) {
		eml_err_set_detail("conv: kernel %zux%zu stride %zux%zu dilation %zux%zu "
				   "gives no output",
		    p->kh, p->kw, p->stride_h, p->stride_w, p->dil_h, p->dil_w);
		EML_BAIL(EML_ERR_KERNEL_PARAMS);
	}
	/* Every size the kernels compute must fit: N*C*H*W, N*M*OH*OW and the
	 * weights, in bytes. */
	if (eml_mul_overflow(p->N, p->C, &t) || eml_mul_overflow(t, p->H, &t) ||
	    eml_mul_overflow(t, p->W, &t) || eml_mul_overflow(t, sizeof(float), &t) ||
	    eml_mul_overflow(p->N, p->M, &t) || eml_mul_overflow(t, eml_conv2d_out_h(p), &t) ||
	    eml_mul_overflow(t, eml_conv2d_out_w(p), &t) ||
	    eml_mul_overflow(t, sizeof(float), &t) || eml_mul_overflow(p->M, p->C, &t) ||
	    eml_mul_overflow(t, p->kh, &t) || eml_mul_overflow(t, p->kw, &t) ||
	    eml_mul_overflow(t, 2 * sizeof(float), &t))
		EML_BAIL(EML_ERR_OVERFLOW);
	return EML_OK;
}

void
eml_dwconv_geometry(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t *PH,
    size_t *PW)
{
	size_t need_h = (OH - 1) * p->stride_h + (p->kh - 1) * p->dil_h + 1;
	size_t need_w = (OW - 1) * p->stride_w + (p->kw - 1) * p->dil_w + 1;

	*PH = need_h > p->H + p->pad_top ? need_h : p->H + p->pad_top;
	/* Slack: a full vector from the last output column reads up to
	 * 2 * 16 - 1 floats past it (stride 2, 16 lanes). */
	*PW = (need_w > p->W + p->pad_left ? need_w : p->W + p->pad_left) + 32;
}

size_t
eml_dwconv_scratch_size(const struct eml_conv2d_params *p, size_t OH, size_t OW)
{
	size_t PH, PW;

	eml_dwconv_geometry(p, OH, OW, &PH, &PW);
	return PH * PW;
}

#if EML_X86_KERNELS
static double
grid(const struct eml_gemm_impl *g, size_t M, size_t N)
{
	return (double)((M + g->mr - 1) / g->mr * g->mr) * (double)((N + g->nr - 1) / g->nr * g->nr);
}

/*
 * NCHW convolution as a GEMM puts the output pixels (HW) on the N side.
 * When HW is small (the 14x14 and 7x7 stages of ResNet: 196 and 49) the
 * column tiles are mostly padding; computing the transposed product puts
 * HW on the row side instead (14 rows x 14 tiles = 196 exactly) and costs
 * one transpose of the output. Taken when it pads at least 10 % less and
 * K is large enough that the transpose is noise.
 */
static void
choose_orientation(struct eml_conv2d_plan *plan, size_t Mg, size_t HW, size_t Kg)
{
	const struct eml_gemm_impl *gt;

	plan->transposed = false;
	/* The transpose costs ~1/K of the GEMM: at K = 96 (a mobile 1x1) it
	 * measured slower, at K >= 2304 (ResNet 14x14, 7x7) faster. */
	if (Kg < 512)
		return;
	gt = plan->isa == EML_ISA_AVX512 ? eml_gemm_avx512_pick(HW, Mg) : &eml_gemm_avx2;
	if (grid(gt, HW, Mg) < 0.9 * grid(plan->g, Mg, HW)) {
		plan->transposed = true;
		plan->g = gt;
	}
}

/*
 * Winograd: few tiles (small images) put on the N side of the 16 GEMMs
 * pad most of each column tile; the transposed products
 * M_xi^T [tiles, M] = V_xi^T U_xi^T put them on the row side instead.
 */
static void
wino_orientation(struct eml_conv2d_plan *plan, size_t tiles)
{
	size_t M = plan->p.M;

	plan->transposed = false;
	if (plan->isa == EML_ISA_AVX512) {
		const struct eml_gemm_impl *gt = eml_gemm_avx512_pick(tiles, M);

		plan->g = eml_gemm_avx512_pick(M, tiles);
		if (grid(gt, tiles, M) < 0.9 * grid(plan->g, M, tiles)) {
			plan->g = gt;
			plan->transposed = true;
		}
	} else if (grid(plan->g, tiles, M) < 0.9 * grid(plan->g, M, tiles)) {
		plan->transposed = true;
	}
}

/* The ISA's pieces; false for ISAs without SIMD kernels (ref). */
static bool
simd_pieces(struct eml_conv2d_plan *plan, size_t Mg, size_t HW)
{
	switch (plan->isa) {
	case EML_ISA_AVX2:
		plan->g = &eml_gemm_avx2;
		plan->dw = eml_dwconv_avx2;
		plan->im2col = eml_im2col_pack_avx2;
		plan->wino_in = eml_wino_in_avx2;
		plan->wino_out = eml_wino_out_avx2;
		plan->wino_out_t = eml_wino_out_t_avx2;
		plan->dc_pad = eml_dconv_pad_avx2;
		plan->dc_run = eml_dconv_avx2;
		return true;
	case EML_ISA_AVX512:
		plan->g = eml_gemm_avx512_pick(Mg, HW);
		plan->dw = eml_dwconv_avx512;
		plan->im2col = eml_im2col_pack_avx512;
		plan->wino_in = eml_wino_in_avx512;
		plan->wino_out = eml_wino_out_avx512;
		plan->wino_out_t = eml_wino_out_t_avx512;
		plan->dc_pad = eml_dconv_pad_avx512;
		plan->dc_run = eml_dconv_avx512;
		return true;
	default:
		return false;
	}
}
#else
/* No SIMD kernels on this architecture (NEON is not written): ref only. */
static void
choose_orientation(struct eml_conv2d_plan *plan, size_t Mg, size_t HW, size_t Kg)
{
	(void)Mg;
	(void)HW;
	(void)Kg;
	plan->transposed = false;
}

static void
wino_orientation(struct eml_conv2d_plan *plan, size_t tiles)
{
	(void)tiles;
	plan->transposed = false;
}

static bool
simd_pieces(struct eml_conv2d_plan *plan, size_t Mg, size_t HW)
{
	(void)plan;
	(void)Mg;
	(void)HW;
	return false;
}
#endif

static size_t
align16(size_t n)
{
	return (n + 15) / 16 * 16;
}

/*
 * Winograd F(2x2, 3x3) for 3x3 stride-1 convolutions with enough channels
 * and pixels: 16 multiplies per 2x2 output tile instead of 36. Needs the
 * SIMD transforms (x86). A pure function of the shape and ISA (the split
 * round trips rely on the method being the same on both sides).
 */
#define WINO_MIN_HW 36

static bool
use_wino(const struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;

	if (plan->wino_in == NULL || p->group != 1 || p->kh != 3 || p->kw != 3 ||
	    p->stride_h != 1 || p->stride_w != 1 || p->dil_h != 1 || p->dil_w != 1)
		return false;
	/* Small C or M: the transforms cost more than the multiplies saved. */
	return p->C >= 32 && p->M >= 32 && plan->OH * plan->OW >= WINO_MIN_HW;
}

/*
 * Banded Winograd for images with many tiles and few weights (56x56,
 * 28x28 at C, M <= 128): each task takes a band of nb tiles through the
 * input transform, the 16 GEMMs and the output transform on its own, with
 * V and the results (16 (C + M) nb floats) in its L2 and U shared; one
 * pool run per image instead of three, no pass over the whole image's V
 * (16 C tiles floats, 3 MB at 64@56) between them. The input transform
 * writes V straight as the GEMM's packed B panels (no pack_b).
 */
#define WINO_BAND_MIN_TILES 192    /* 28x28 and up */
#define WINO_BAND_MAX_U (16 * 128 * 128) /* U floats re-read per band */
#define WINO_BAND_FLOATS (160 * 1024) /* V + results per thread */
#define WINO_BAND_OVH 8            /* per-band cost, in tiles */

static bool
wino_banded(const struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;

	return plan->TH * plan->TW >= WINO_BAND_MIN_TILES &&
	    (double)p->M * (double)p->C * 16.0 <= (double)WINO_BAND_MAX_U;
}

/* Cost (in padded tiles) of bands of nb tiles on nt threads taking them
 * in order, each the next band when free. */
static size_t
band_cost(size_t tiles, size_t nb, size_t nr, size_t nt)
{
	size_t load[16] = { 0 }, b, i, k, cost = 0;

	nt = nt > 16 ? 16 : nt < 1 ? 1 : nt;
	for (b = 0; b * nb < tiles; b++) {
		size_t w = tiles - b * nb < nb ? tiles - b * nb : nb;

		k = 0;
		for (i = 1; i < nt; i++)
			if (load[i] < load[k])
				k = i;
		load[k] += (w + nr - 1) / nr * nr + WINO_BAND_OVH;
	}
	for (i = 0; i < nt; i++)
		cost = load[i] > cost ? load[i] : cost;
	return cost;
}

/* The band width for one GEMM tile shape: the cheapest multiple of nr
 * within the L2 budget (at least nr); cost through *cost. */
static size_t
band_width(const struct eml_conv2d_plan *plan, size_t nr, size_t *cost)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t tiles = plan->TH * plan->TW, nb, best = nr, c;
	size_t cap = WINO_BAND_FLOATS / (16 * (p->C + p->M));
	size_t top = (tiles + nr - 1) / nr * nr;

	cap = cap < nr ? nr : cap;
	top = top < cap ? top : cap;
	*cost = SIZE_MAX;
	for (nb = nr; nb <= top; nb += nr) {
		c = band_cost(tiles, nb, nr, (size_t)plan->nthreads);
		if (c <= *cost) {
			*cost = c;
			best = nb;
		}
	}
	return best;
}

static eml_err
plan_wino_banded(struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t cost, t;

	plan->banded = true;
	plan->transposed = false;
#if EML_X86_KERNELS
	if (plan->isa == EML_ISA_AVX512) {
		/* The tile shape padding the M x band grid least. */
		const struct eml_gemm_impl *a = &eml_gemm_avx512_8x48, *b = &eml_gemm_avx512;
		size_t ca, cb, na = band_width(plan, a->nr, &ca), nbw = band_width(plan, b->nr, &cb);

		if ((double)ca * (double)((p->M + a->mr - 1) / a->mr * a->mr) <=
		    (double)cb * (double)((p->M + b->mr - 1) / b->mr * b->mr)) {
			plan->g = a;
			plan->nb = na;
		} else {
			plan->g = b;
			plan->nb = nbw;
		}
	} else {
		plan->nb = band_width(plan, plan->g->nr, &cost);
	}
#else
	plan->nb = band_width(plan, plan->g->nr, &cost);
#endif
	/* + 16 floats per xi: the 16 streams off one L1 set (see below). */
	plan->vxs = p->C * plan->nb + 16;
	plan->mxs = align16(p->M * plan->nb) + 16;
	plan->m_off = 16 * plan->vxs;
	plan->s_off = plan->m_off + 16 * plan->mxs;
	plan->w_scr = align16(8 * plan->TW + 8 * 16 + 16);
	plan->tws = align16(plan->s_off + plan->w_scr + 16); /* + GEMM ws alignment */
	if (eml_mul_overflow(plan->tws, (size_t)plan->nthreads, &t))
		EML_BAIL(EML_ERR_OVERFLOW);
	plan->ws = t;
	return EML_OK;
}

static eml_err
plan_wino(struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t band, vsz, msz, t, r;

	plan->method = CONV_WINO;
	plan->TH = (plan->OH + 1) / 2;
	plan->TW = (plan->OW + 1) / 2;
	if (wino_banded(plan))
		return plan_wino_banded(plan);
	/* One band: bands of 2-7 tile rows (to keep V and the GEMM results
	 * in L2) measured no faster at 56x56 and 28x28 and narrow the GEMMs. */
	plan->wb = plan->TH;
	band = plan->wb * plan->TW;
	wino_orientation(plan, band);
	/* The transforms touch all 16 xi at once: when C x band is a multiple
	 * of 1024 floats (64@56: 64 x 784 = 49 pages) the 16 streams would
	 * share one L1 set; 16 floats more per xi spread them over 16 sets.
	 * V_xi is written as the GEMM's packed operand: transposed V_xi^T as
	 * A (panels of mr tiles), else V_xi as B (panels of nr tiles). */
	r = plan->transposed ? plan->g->mr : plan->g->nr;
	if (eml_mul_overflow(p->C, (band + r - 1) / r * r, &vsz) ||
	    eml_mul_overflow(p->M, band, &msz))
		EML_BAIL(EML_ERR_OVERFLOW);
	plan->vxs = align16(vsz) + 16;
	plan->mxs = align16(msz) + 16;
	if (eml_mul_overflow(16, plan->vxs, &vsz) || eml_mul_overflow(16, plan->mxs, &msz))
		EML_BAIL(EML_ERR_OVERFLOW);
	/* Workspace: V, the results, per thread a GEMM workspace and the
	 * transform scratch. */
	plan->w_gws = align16(eml_sgemm_blk_workspace_size(plan->g, p->M, band, p->C, true, true, 1));
	plan->w_scr = align16(8 * plan->TW + 8 * 16 + 16);
	plan->m_off = align16(vsz);
	plan->g_off = plan->m_off + align16(msz);
	plan->s_off = plan->g_off + plan->w_gws * (size_t)plan->nthreads;
	if (eml_mul_overflow(plan->w_scr, (size_t)plan->nthreads, &t) ||
	    eml_add_overflow(plan->s_off, t, &plan->ws))
		EML_BAIL(EML_ERR_OVERFLOW);
	return EML_OK;
}

/*
 * Few output channels (the 3x3 48 -> 12 convs of a detector's FPN, a 3 ->
 * 8 stem): the im2col GEMM would pack K x HW floats for one or two row
 * tiles. Not for 1x1 stride 1 (gemm-1x1 reads the image as it is).
 *
 * Stride 2 with many output channels on AVX-512 (ResNet's 7x7/2 stem; its
 * 3x3/2 64 -> 128 at 56x56 until indirect-gemm-t, which takes K >= 512
 * first): the stride-2 im2col pack is a gather in short
 * row pieces, ~25 % of those convolutions (perf, bench_conv), while the
 * direct blocks of 12 channels x 2 vectors read the deinterleaved padded
 * rows with plain loads (14 loads per 24 FMAs). Only where the output rows
 * fill the vectors (at most 1/7 of the lanes idle: widths 28, 56, 112; not
 * 14 or 7, whose im2col-gemm-t has no idle lanes).
 */
#define DIRECT_MAX_M 16
#define DIRECT_S2_MIN_OW 24

/* The padded row: every column a full output row reads; even for
 * stride 2. */
static size_t
direct_pw(const struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t need_w = (plan->OW - 1) * p->stride_w + p->kw;
	size_t pw = need_w > p->W + p->pad_left ? need_w : p->W + p->pad_left;

	return p->stride_w == 2 ? pw + (pw & 1) : pw;
}

static bool
direct_s2_wide(const struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t vn = 16, lanes = (plan->OW + vn - 1) / vn * vn;

	return plan->isa == EML_ISA_AVX512 && p->stride_h == 2 && p->stride_w == 2 &&
	    p->kh * p->kw >= 9 && plan->OW >= DIRECT_S2_MIN_OW && 7 * lanes <= 8 * plan->OW;
}

static bool
use_direct(const struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;

	if (plan->dc_run == NULL || p->group != 1 || p->dil_h != 1 || p->dil_w != 1 ||
	    p->stride_w > 2 || p->kh * p->kw < 2)
		return false;
	return p->M <= DIRECT_MAX_M || direct_s2_wide(plan);
}

static eml_err
plan_direct(struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t need_h = (plan->OH - 1) * p->stride_h + p->kh;
	size_t t;

	plan->method = CONV_DIRECT;
	plan->PH = need_h > p->H + p->pad_top ? need_h : p->H + p->pad_top;
	plan->PW = direct_pw(plan);
	if (eml_mul_overflow(plan->PH, plan->PW, &t) || eml_mul_overflow(t, p->C, &t) ||
	    eml_add_overflow(t, (size_t)EML_DCONV_SLACK, &plan->ws))
		EML_BAIL(EML_ERR_OVERFLOW);
	return EML_OK;
}

/*
 * Indirect GEMM for stride-2 convolutions (AVX-512, group 1, dilation 1):
 * Y^T [HW, M] = col^T W^T as im2col-gemm-t computes it, but the 14-row A
 * panels are not packed: the image is padded and deinterleaved once
 * (dc_pad), so the 14 output pixels of a panel (a piece of one output row)
 * read 14 adjacent floats per tap, which the micro-kernel broadcasts in
 * place (kernel_ind, koff). No per-block gather (the pack and its border
 * tests were ~22 % of a 3x3/2 128 -> 128 conv at 28x28), every lane of
 * the vectors busy on any M (the direct-s2 blocks of 12 channels leave
 * a block of 4 on M = 64), and the transpose into NCHW shared out by
 * output channels.
 * Where a panel is at most 1/8 idle (OW 14, 28, 42, 56, 112; not 7),
 * there are at least two panels per thread and K >= IND_MIN_K (a stem's
 * K = 27 or 147 ran at half the speed of direct-s2: C store and tap
 * table per few k steps). bench_conv, 1 thread, alternated with the
 * previous methods: CNN 3x3/2 128->128 @28 388-392 -> 340-350 us
 * (im2col-gemm-t), 64->64 @56 387-398 -> 347-385 (direct-s2); ResNet
 * 3x3/2 64->128 @56 703-729 -> 671-677, 128->256 @28 694-705 -> 634-646.
 */
#define IND_MIN_K 512
#if EML_X86_KERNELS
static bool
use_ind(const struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t mr = eml_gemm_avx512.mr, pr = (plan->OW + mr - 1) / mr;
	size_t need_h = (plan->OH - 1) * p->stride_h + p->kh;
	size_t PH = need_h > p->H + p->pad_top ? need_h : p->H + p->pad_top;

	if (plan->isa != EML_ISA_AVX512 || p->group != 1 || p->stride_w != 2 || p->dil_h != 1 ||
	    p->dil_w != 1 || plan->dc_pad == NULL)
		return false;
	if (8 * plan->OW < 7 * pr * mr || plan->OH * pr < 2 * (size_t)plan->nthreads ||
	    p->C * p->kh * p->kw < IND_MIN_K)
		return false;
	/* Every offset into the padded image fits koff's 32 bits. */
	return (double)p->C * (double)PH * (double)direct_pw(plan) + EML_DCONV_SLACK <
	    (double)UINT32_MAX;
}
#else
static bool
use_ind(const struct eml_conv2d_plan *plan)
{
	(void)plan;
	return false;
}
#endif

static eml_err
plan_ind(struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t need_h = (plan->OH - 1) * p->stride_h + p->kh, HW = plan->OH * plan->OW;
	size_t khw = p->kh * p->kw, k, t;

#if EML_X86_KERNELS
	plan->g = &eml_gemm_avx512;
#endif
	plan->method = CONV_IM2COL;
	plan->transposed = true;
	plan->ind = true;
	plan->PH = need_h > p->H + p->pad_top ? need_h : p->H + p->pad_top;
	plan->PW = direct_pw(plan);
	/* Y^T at 0, the padded image at pad_off. */
	plan->ct_off = 0;
	if (eml_mul_overflow(HW, p->M, &t))
		EML_BAIL(EML_ERR_OVERFLOW);
	plan->pad_off = align16(t);
	if (eml_mul_overflow(plan->PH, plan->PW, &t) || eml_mul_overflow(t, p->C, &t) ||
	    eml_add_overflow(t, (size_t)EML_DCONV_SLACK, &t) ||
	    eml_add_overflow(plan->pad_off, t, &plan->ws))
		EML_BAIL(EML_ERR_OVERFLOW);
	plan->koff = eml_calloc(p->C * khw, sizeof(uint32_t));
	if (plan->koff == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	for (k = 0; k < p->C * khw; k++) {
		size_t c = k / khw, i = k % khw / p->kw, j = k % p->kw;

		plan->koff[k] = (uint32_t)(c * plan->PH * plan->PW + i * plan->PW +
		    (j & 1) * (plan->PW / 2) + (j >> 1));
	}
	return EML_OK;
}

static eml_err
choose_method(struct eml_conv2d_plan *plan)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t Cg = p->C / p->group, Mg = p->M / p->group;
	size_t Kg = Cg * p->kh * p->kw, HW = plan->OH * plan->OW;

	if (!simd_pieces(plan, Mg, HW)) {
		plan->method = CONV_REF;
		return EML_OK;
	}
	if (p->group == p->C && p->M == p->C) {
		plan->method = CONV_DW;
		plan->dw_scratch = eml_dwconv_scratch_size(p, plan->OH, plan->OW);
		if (eml_mul_overflow(plan->dw_scratch, (size_t)plan->nthreads, &plan->ws))
			EML_BAIL(EML_ERR_OVERFLOW);
		return EML_OK;
	}
	if (use_wino(plan))
		return plan_wino(plan);
	if (use_ind(plan))
		return plan_ind(plan);
	if (use_direct(plan))
		return plan_direct(plan);
	if (p->kh == 1 && p->kw == 1 && p->stride_h == 1 && p->stride_w == 1 && p->pad_top == 0 &&
	    p->pad_left == 0 && p->pad_bottom == 0 && p->pad_right == 0) {
		plan->method = CONV_1X1;
	} else {
		plan->method = CONV_IM2COL;
	}
	choose_orientation(plan, Mg, HW, Kg);
	if (plan->transposed) {
		/* Y^T [HW, Mg] = col^T [HW, Kg] x W^T [Kg, Mg]: weights are the
		 * pre-packed B, the image the A packed per thread, and Y^T
		 * lands in the workspace before the transpose into NCHW. */
		size_t gws = eml_sgemm_blk_workspace_size(plan->g, HW, Mg, Kg, false, true,
		    plan->nthreads);

		plan->ct_off = gws;
		if (eml_mul_overflow(HW, Mg, &plan->ws) || eml_add_overflow(plan->ws, gws, &plan->ws))
			EML_BAIL(EML_ERR_OVERFLOW);
		if (plan->method == CONV_IM2COL && plan->nthreads > 1 && 3 * HW <= Mg) {
			size_t apk;

			plan->apk_off = align16(plan->ws);
			if (eml_mul_overflow(eml_sgemm_blk_packed_a_size(plan->g, HW, Kg), 1, &apk) ||
			    eml_add_overflow(plan->apk_off, apk, &plan->ws))
				EML_BAIL(EML_ERR_OVERFLOW);
		}
		return EML_OK;
	}
	/* Packed A (the weights) is in the plan; B blocks are packed per
	 * thread into the GEMM workspace, straight from the image. */
	plan->ws = eml_sgemm_blk_workspace_size(plan->g, Mg, HW, Kg, true, false, plan->nthreads);
	return EML_OK;
}

/*
 * U = G g G^T per (m, c), G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1];
 * value xi of every (m, c) forms the GEMM A operand U_xi [M, C], packed
 * once at plan time. In float, WINO_TBLK filters at a time: the 3x3
 * taps are first split into 9 planes so that every step below is the
 * same operation on WINO_TBLK adjacent floats (the compiler vectorizes
 * it across filters; the scalar double version was the largest engine
 * share of a ResNet's plan, paid on every per-request assembly). Each U
 * value sums at most 9 taps scaled by 1/4 exactly, so float costs a few
 * ULP of sum |g|, far below the conv tolerance (unit test against a
 * double reference on ragged counts in test_kernels_conv).
 */
#define WINO_TBLK 64
/* Gather prefetch, in filters along the same weight row: the lanes of a
 * block read r rows (one per output channel of the panel), 36 bytes each,
 * far apart; ~10% of the transform on ResNet-18's set. */
#define WINO_PF 16

/* o0..o3 = G (a, b, c)^T on WINO_TBLK lanes. */
static inline void
wino_g_blk(const float *restrict a, const float *restrict b, const float *restrict c,
    float *restrict o0, float *restrict o1, float *restrict o2, float *restrict o3)
{
	for (size_t i = 0; i < WINO_TBLK; i++) {
		float s = 0.5f * (a[i] + c[i]), h = 0.5f * b[i];

		o0[i] = a[i];
		o1[i] = s + h;
		o2[i] = s - h;
		o3[i] = c[i];
	}
}

/* U of the WINO_TBLK filters in g (9 tap planes), value xi to o[xi]. */
static void
wino_filter_blk(float (*restrict g)[WINO_TBLK], float (*restrict c)[WINO_TBLK],
    float *const o[16])
{
	size_t k;

	/* Column r of G g: c[4 r + k] = (G g[:, r])_k. */
	for (k = 0; k < 3; k++)
		wino_g_blk(g[k], g[3 + k], g[6 + k], c[4 * k], c[4 * k + 1], c[4 * k + 2],
		    c[4 * k + 3]);
	/* Row k of U = G applied to (c[k], c[4 + k], c[8 + k]). */
	for (k = 0; k < 4; k++)
		wino_g_blk(c[k], c[4 + k], c[8 + k], o[4 * k], o[4 * k + 1], o[4 * k + 2],
		    o[4 * k + 3]);
}

void
eml_wino_filter(const float *weights, size_t n, float *u, size_t ustride)
{
	float g[9][WINO_TBLK], c[12][WINO_TBLK], t[16][WINO_TBLK];
	float *o[16];

	for (size_t k = 0; k < 16; k++)
		o[k] = t[k];
	for (size_t i0 = 0; i0 < n; i0 += WINO_TBLK) {
		size_t nb = n - i0 < WINO_TBLK ? n - i0 : WINO_TBLK, i, k;

		for (i = 0; i < nb; i++)
			for (k = 0; k < 9; k++)
				g[k][i] = weights[(i0 + i) * 9 + k];
		for (; i < WINO_TBLK; i++)
			for (k = 0; k < 9; k++)
				g[k][i] = 0.0f;
		wino_filter_blk(g, c, o);
		for (k = 0; k < 16; k++)
			EML_MEMCPY(u + k * ustride + i0, t[k], nb * sizeof(float));
	}
	eml_wipe(g, sizeof(g));
	eml_wipe(c, sizeof(c));
	eml_wipe(t, sizeof(t));
}

/*
 * Whole blocks go out with non-temporal stores where every run starts on
 * 16 bytes: the packed operands (16/9 the weights, 67 MB for a ResNet-18)
 * are not read again before the first run, and ordinary stores read
 * each destination line first.
 */
#if EML_X86_KERNELS
#include <immintrin.h>

static bool
wino_nt_ok(const float *out, size_t xs, size_t r)
{
	return (uintptr_t)out % 16 == 0 && xs % 4 == 0 && r % 4 == 0;
}

static void
wino_stream(float *dst, const float *src)
{
	for (size_t i = 0; i < WINO_TBLK; i += 4)
		_mm_stream_ps(dst + i, _mm_loadu_ps(src + i));
}

static void
wino_stream_fence(void)
{
	_mm_sfence();
}
#else
static bool
wino_nt_ok(const float *out, size_t xs, size_t r)
{
	(void)out;
	(void)xs;
	(void)r;
	return false;
}

static void
wino_stream(float *dst, const float *src)
{
	EML_MEMCPY(dst, src, WINO_TBLK * sizeof(float));
}

static void
wino_stream_fence(void)
{
}
#endif

/*
 * The same transform written straight into the 16 packed GEMM operands
 * (no 16 x M x C temporary, no second pass to pack it). U_xi [M, C] packed
 * as A (panels of r = mr rows) and U_xi^T [C, M] packed as B (panels of
 * r = nr columns) have one layout: per K block kb of C (kk = its length),
 * panel m0 is kk x r floats, c-major, at kb * round_up(M, r) + m0 * kk,
 * rows past M zero. Within one (block, panel) the packed floats are the
 * filters (m0 + i, c) in (c, i) order, so each WINO_TBLK lanes gather
 * their taps in that order and land as one contiguous run per xi.
 * Per lane the arithmetic is eml_wino_filter's: the result is bit for bit
 * the old transform-then-pack (test_kernels_conv). wscale (a folded batch
 * norm, or NULL) multiplies filter m's taps as they are gathered: the
 * products a scaled copy of the weights would hold, without the copy.
 */
void
eml_wino_filter_packed(const float *weights, const float *wscale, size_t M, size_t C,
    size_t r, size_t kcb, float *out, size_t xs)
{
	float g[9][WINO_TBLK], cb[12][WINO_TBLK], t[16][WINO_TBLK];
	float *o[16];
	size_t Mp = (M + r - 1) / r * r;
	bool nt = wino_nt_ok(out, xs, r);

	for (size_t kb = 0; kb < C; kb += kcb) {
		size_t kk = C - kb < kcb ? C - kb : kcb;

		for (size_t m0 = 0; m0 < Mp; m0 += r) {
			size_t run = kk * r, base = kb * Mp + m0 * kk;
			size_t c = kb, i = 0; /* the next lane's filter (m0 + i, c) */

			for (size_t l0 = 0; l0 < run; l0 += WINO_TBLK) {
				size_t nb = run - l0 < WINO_TBLK ? run - l0 : WINO_TBLK, l, k;

				for (l = 0; l < nb; l++) {
					if (m0 + i < M) {
						const float *w = weights + ((m0 + i) * C + c) * 9;

						__builtin_prefetch(w + 9 * WINO_PF);
						if (wscale != NULL)
							for (k = 0; k < 9; k++)
								g[k][l] = w[k] * wscale[m0 + i];
						else
							for (k = 0; k < 9; k++)
								g[k][l] = w[k];
					} else {
						for (k = 0; k < 9; k++)
							g[k][l] = 0.0f;
					}
					if (++i == r) {
						i = 0;
						c++;
					}
				}
				for (; l < WINO_TBLK; l++)
					for (k = 0; k < 9; k++)
						g[k][l] = 0.0f;
				/* A whole block straight to its 16 runs. */
				for (k = 0; k < 16; k++)
					o[k] = nb == WINO_TBLK && !nt ? out + k * xs + base + l0 : t[k];
				wino_filter_blk(g, cb, o);
				if (nb < WINO_TBLK)
					for (k = 0; k < 16; k++)
						EML_MEMCPY(out + k * xs + base + l0, t[k],
						    nb * sizeof(float));
				else if (nt)
					for (k = 0; k < 16; k++)
						wino_stream(out + k * xs + base + l0, t[k]);
			}
		}
	}
	if (nt)
		wino_stream_fence();
	eml_wipe(g, sizeof(g));
	eml_wipe(cb, sizeof(cb));
	eml_wipe(t, sizeof(t));
}

static eml_err
prepare_wino(struct eml_conv2d_plan *plan, const float *weights, const float *wscale)
{
	const struct eml_conv2d_params *p = &plan->p;

	/* U_xi [M, C]: the A operand, or transposed the B operand U_xi^T. */
	plan->a_stride = plan->transposed ? eml_sgemm_blk_packed_b_size(plan->g, p->C, p->M) :
					    eml_sgemm_blk_packed_a_size(plan->g, p->M, p->C);
	if (eml_mul_overflow(plan->a_stride, 16 * sizeof(float), &plan->w_bytes))
		EML_BAIL(EML_ERR_OVERFLOW);
	plan->w = eml_secure_alloc(plan->w_bytes);
	if (plan->w == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	eml_wino_filter_packed(weights, wscale, p->M, p->C,
	    plan->transposed ? plan->g->nr : plan->g->mr, eml_sgemm_blk_kc(plan->g, p->C), plan->w,
	    plan->a_stride);
	return EML_OK;
}

/* dst[m][j] = w[m][j] * scale[m] over M rows of K, in fixed blocks of 8
 * the compiler vectorizes at -O2 (the same products): per-request
 * assembly scales every batch-normalized conv's weights on each request,
 * and the scalar loop reloading scale[m] was a sixth of planning. */
static void
copy_scaled(float *restrict dst, const float *restrict w, const float *restrict scale, size_t M,
    size_t K)
{
	for (size_t m = 0; m < M; m++) {
		const float *restrict src = w + m * K;
		float *restrict out = dst + m * K;
		float s = scale[m];
		size_t j = 0;

		for (; j + 8 <= K; j += 8)
			for (size_t k = 0; k < 8; k++)
				out[j + k] = src[j + k] * s;
		for (; j < K; j++)
			out[j] = src[j] * s;
	}
}

static eml_err
prepare_weights(struct eml_conv2d_plan *plan, const float *weights, const float *wscale)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t Cg = p->C / p->group, Mg = p->M / p->group;
	size_t Kg = Cg * p->kh * p->kw, wn = p->M * Kg, g;

	if (plan->method == CONV_WINO)
		return prepare_wino(plan, weights, wscale);
	if (plan->method == CONV_REF || plan->method == CONV_DW) {
		/* a copy, scaled on the way */
		plan->w_bytes = wn * sizeof(float);
		plan->w = eml_secure_alloc(plan->w_bytes);
		if (plan->w == NULL)
			EML_BAIL(EML_ERR_NOMEM);
		if (wscale != NULL)
			copy_scaled(plan->w, weights, wscale, p->M, Kg);
		else
			EML_MEMCPY(plan->w, weights, plan->w_bytes);
		return EML_OK;
	}
	if (wscale != NULL) {
		/* The other methods pack (or transpose) a scaled copy, freed
		 * at once. */
		float *scaled = eml_secure_alloc(wn * sizeof(float));
		eml_err rc;

		if (scaled == NULL)
			EML_BAIL(EML_ERR_NOMEM);
		copy_scaled(scaled, weights, wscale, p->M, Kg);
		rc = prepare_weights(plan, scaled, NULL);
		eml_secure_free(scaled);
		return rc;
	}
	if (plan->method == CONV_DIRECT) {
		/* [M][C][kh][kw] -> [C][kh][kw][M]: one tap's weights adjacent. */
		size_t kk = p->kh * p->kw, m, r;

		plan->w_bytes = wn * sizeof(float);
		plan->w = eml_secure_alloc(plan->w_bytes);
		if (plan->w == NULL)
			EML_BAIL(EML_ERR_NOMEM);
		for (m = 0; m < p->M; m++)
			for (r = 0; r < p->C * kk; r++)
				plan->w[r * p->M + m] = weights[m * p->C * kk + r];
		return EML_OK;
	}
	if (plan->transposed) {
		/* Per group, W_g^T [Kg, Mg] is the B operand of the
		 * transposed product. */
		plan->a_stride = eml_sgemm_blk_packed_b_size(plan->g, Kg, Mg);
		plan->w_bytes = plan->a_stride * p->group * sizeof(float);
		plan->w = eml_secure_alloc(plan->w_bytes == 0 ? 1 : plan->w_bytes);
		if (plan->w == NULL)
			EML_BAIL(EML_ERR_NOMEM);
		for (g = 0; g < p->group; g++)
			eml_sgemm_blk_pack_b(plan->g, Kg, Mg, weights + g * Mg * Kg, Kg, true,
			    plan->w + g * plan->a_stride);
		return EML_OK;
	}
	/* Weights [M, Cg*kh*kw] are, per group, the A operand [Mg, Kg] of
	 * Y_g = W_g X_g: pack it once here. */
	plan->a_stride = eml_sgemm_blk_packed_a_size(plan->g, Mg, Kg);
	plan->w_bytes = plan->a_stride * p->group * sizeof(float);
	plan->w = eml_secure_alloc(plan->w_bytes == 0 ? 1 : plan->w_bytes);
	if (plan->w == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	for (g = 0; g < p->group; g++)
		eml_sgemm_blk_pack_a(plan->g, Mg, Kg, weights + g * Mg * Kg, Kg, false,
		    plan->w + g * plan->a_stride);
	return EML_OK;
}

eml_err
eml_conv2d_plan_new_isa_scaled(enum eml_isa isa, const struct eml_conv2d_params *p,
    const float *weights, const float *wscale, const float *bias, int nthreads,
    struct eml_conv2d_plan **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_conv2d_plan *plan = NULL;

	if (out == NULL || weights == NULL)
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	*out = NULL;
	rc = check_params(p);
	if (rc != EML_OK)
		return rc;
	if (eml_kernels_for(isa) == NULL) {
		eml_err_set_detail("ISA %s not available on this CPU", eml_isa_name(isa));
		return eml_err_record(EML_ERR_UNSUPPORTED, __FILE__, __LINE__, __func__);
	}
	plan = eml_calloc(1, sizeof(*plan));
	if (plan == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	plan->p = *p;
	plan->isa = isa;
	plan->OH = eml_conv2d_out_h(p);
	plan->OW = eml_conv2d_out_w(p);
	plan->nthreads = nthreads < 1 ? 1 : nthreads;
	rc = choose_method(plan);
	if (rc != EML_OK)
		goto out;
	if (bias != NULL) {
		plan->bias = eml_secure_alloc(p->M * sizeof(float));
		if (plan->bias == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
		EML_MEMCPY(plan->bias, bias, p->M * sizeof(float));
	}
	rc = prepare_weights(plan, weights, wscale);
	if (rc != EML_OK)
		goto out;
	*out = plan;
	plan = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_conv2d_plan_free(plan);
	return rc;
}

eml_err
eml_conv2d_plan_new_isa(enum eml_isa isa, const struct eml_conv2d_params *p,
    const float *weights, const float *bias, int nthreads, struct eml_conv2d_plan **out)
{
	return eml_conv2d_plan_new_isa_scaled(isa, p, weights, NULL, bias, nthreads, out);
}

eml_err
eml_conv2d_plan_new(const struct eml_conv2d_params *p, const float *weights,
    const float *bias, int nthreads, struct eml_conv2d_plan **out)
{
	return eml_conv2d_plan_new_isa(eml_kernels_get()->isa, p, weights, bias, nthreads, out);
}

eml_err
eml_conv2d_plan_new_scaled(const struct eml_conv2d_params *p, const float *weights,
    const float *wscale, const float *bias, int nthreads, struct eml_conv2d_plan **out)
{
	return eml_conv2d_plan_new_isa_scaled(eml_kernels_get()->isa, p, weights, wscale, bias,
	    nthreads, out);
}

size_t
eml_conv2d_workspace_size(const struct eml_conv2d_plan *plan)
{
	return plan->ws;
}

const char *
eml_conv2d_method(const struct eml_conv2d_plan *plan)
{
	if (plan->ind)
		return "indirect-gemm-t";
	if (plan->transposed && plan->method == CONV_WINO)
		return "winograd-2x2-t";
	if (plan->banded && plan->method == CONV_WINO)
		return "winograd-2x2-b";
	if (plan->transposed)
		return plan->method == CONV_1X1 ? "gemm-1x1-t" : "im2col-gemm-t";
	if (plan->method == CONV_DIRECT && plan->p.M > DIRECT_MAX_M)
		return "direct-s2";
	return method_names[plan->method];
}

/*
 * Implicit im2col: the GEMM's B operand is the virtual matrix
 * col[(c*kh + i)*kw + j][oh*OW + ow] = x[c][oh*sh + i*dh - pt][ow*sw + j*dw - pl]
 * (0 in the padding). Instead of writing it out (Kg x OH*OW floats, far
 * beyond L2 for the ResNet shapes) and packing it again, the driver asks
 * for each kc x nc block and the ISA's eml_im2col_pack_* packs it straight
 * from the image (conv/im2col_tmpl.h).
 */

struct dw_job {
	const struct eml_conv2d_plan *plan;
	const float *x;
	float *y;
	float *ws;
};

/* Per plane: the taps' flops and a pass over the input and output, plus
 * DW_PLANE_WORK for what a plane costs whatever its size (the padded
 * copy's setup, the call, the first touch of its rows): bench_conv, one
 * thread, runs "det dw 5x5 480 @10" in ~134 us, ~0.28 us a plane of 100
 * outputs, against ~0.1 us for its flops; without the term that step (2.8 M
 * by the flops) ran on the caller alone in mobile-det. */
#define DW_PLANE_WORK 30000.0

double
eml_dwconv_work(const struct eml_conv2d_params *p, size_t OH, size_t OW)
{
	return (double)(p->N * p->C) *
	    ((double)(OH * OW * (2 * p->kh * p->kw + 4) + 4 * p->H * p->W) + DW_PLANE_WORK);
}

/* Planes (n, c) [t0, t1) of N x C. */
static void
dw_task(void *arg, size_t t0, size_t t1, int thread)
{
	const struct dw_job *j = arg;
	const struct eml_conv2d_plan *plan = j->plan;
	const struct eml_conv2d_params *p = &plan->p;

	for (size_t task = t0; task < t1; task++) {
		size_t c = task % p->C;

		plan->dw(p, plan->OH, plan->OW, j->x + task * p->H * p->W,
		    plan->w + c * p->kh * p->kw, plan->bias != NULL ? plan->bias[c] : 0.0f,
		    j->y + task * plan->OH * plan->OW,
		    j->ws + (size_t)thread * plan->dw_scratch);
	}
}

/* y [Mg, HW] = ct^T, ct [HW, Mg], rows [r0, r1) x columns [c0, c1) of
 * ct; 8 x 8 blocks keep both sides in cache. */
static void
transpose_part(const float *ct, size_t HW, size_t Mg, size_t r0, size_t r1, size_t c0,
    size_t c1, float *y)
{
	size_t i0, j0, i, j;

	for (i0 = r0; i0 < r1; i0 += 8) {
		size_t i1 = i0 + 8 < r1 ? i0 + 8 : r1;

		for (j0 = c0; j0 < c1; j0 += 8) {
			size_t j1 = j0 + 8 < c1 ? j0 + 8 : c1;

			for (j = j0; j < j1; j++)
				for (i = i0; i < i1; i++)
					y[j * HW + i] = ct[i * Mg + j];
		}
	}
}

static void
transpose_out(const float *ct, size_t HW, size_t Mg, float *y)
{
	transpose_part(ct, HW, Mg, 0, HW, 0, Mg, y);
}

/* The transposed im2col's A (the image, rows = output pixels) packed
 * whole: k blocks [kb0, kb1) of the GEMM's blocking, each in pieces of at
 * most mc rows (one im2col call packs at most that many). */
struct apk_job {
	const struct eml_conv2d_plan *plan;
	const struct eml_im2col *src;
	float *dst;
	size_t M, K, kcb;
};

static void
apk_range(void *arg, size_t b0, size_t b1, int thread)
{
	const struct apk_job *j = arg;
	const struct eml_gemm_impl *g = j->plan->g;
	size_t Mp = (j->M + g->mr - 1) / g->mr * g->mr, b, m0;

	(void)thread;
	for (b = b0; b < b1; b++) {
		size_t kb = b * j->kcb, kk = j->K - kb < j->kcb ? j->K - kb : j->kcb;

		for (m0 = 0; m0 < j->M; m0 += g->mc) {
			size_t mm = j->M - m0 < g->mc ? j->M - m0 : g->mc;

			j->plan->im2col(j->src, kb, kk, m0, mm, g->mr, j->dst + kb * Mp + m0 * kk);
		}
	}
}

/* Transposed im2col on several threads, one pool run per image and
 * group: with the image packed once (apk), tasks [0, nk) pack ranges of
 * its K blocks and the column tasks after them wait for those (handed out
 * before them, running), then make output channels [n0, n1) of Y^T;
 * else row tasks, each packing its own output pixels' rows of A from the
 * image (asrc). Every task then transposes its own rectangle of Y^T into
 * y, in parallel and while it is in cache (it ran on the caller alone
 * after the GEMM: 26 us of the 128->256 @14 conv, ~4 %). */
struct gemmt_job {
	const struct eml_conv2d_plan *plan;
	const struct eml_sgemm_args *a;
	const struct eml_gemm_bsrc *asrc;
	struct apk_job apk;
	float *ws, *ct, *y;
	struct eml_pool *pool;
	size_t part_ws;
	size_t nk, nkb;        /* pack tasks, K blocks */
	size_t ntask, unit;    /* GEMM tasks over columns (nk > 0) or rows, in units */
	atomic_size_t pk_done; /* pack tasks finished */
};

static void
gemmt_task(void *arg, size_t task, int thread)
{
	struct gemmt_job *j = arg;
	const struct eml_sgemm_args *a = j->a;
	size_t n = j->nk > 0 ? a->N : a->M, panels = (n + j->unit - 1) / j->unit, k, i0, i1;
	unsigned polls = 0;

	if (task < j->nk) {
		apk_range(&j->apk, task * j->nkb / j->nk, (task + 1) * j->nkb / j->nk, thread);
		atomic_fetch_add_explicit(&j->pk_done, 1, memory_order_release);
		return;
	}
	k = task - j->nk;
	i0 = k * panels / j->ntask * j->unit;
	i1 = (k + 1) * panels / j->ntask * j->unit;
	i1 = i1 < n ? i1 : n;
	if (i0 >= i1)
		return;
	while (atomic_load_explicit(&j->pk_done, memory_order_acquire) < j->nk) {
		if (eml_pool_cancelled(j->pool))
			return;
		(void)eml_pool_wait_step(&polls);
	}
	if (j->nk > 0) {
		eml_sgemm_blk_part(j->plan->g, a, j->apk.dst, NULL, 0, a->M, i0, i1,
		    j->ws + (size_t)thread * j->part_ws);
		transpose_part(j->ct, a->M, a->N, 0, a->M, i0, i1, j->y);
	} else {
		eml_sgemm_blk_part(j->plan->g, a, NULL, j->asrc, i0, i1, 0, a->N,
		    j->ws + (size_t)thread * j->part_ws);
		transpose_part(j->ct, a->M, a->N, i0, i1, 0, a->N, j->y);
	}
}

/* Y^T = col^T W^T. When the GEMM splits the weight columns among threads
 * (3 HW <= Mg: ResNet's 3x3/2 256 -> 512 at 14x14), each task would pack
 * the whole image again (a stride-2 gather, ~15 % of that conv on one
 * thread): it is packed once here, the k blocks shared out, and the GEMM
 * runs on it as a pre-packed A. Same packed values and blocking, so the
 * same bits as the single-thread path. */
static void
run_gemm_t(const struct eml_conv2d_plan *plan, const float *x, float *y, float *workspace,
    struct eml_pool *pool)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t Cg = p->C / p->group, Mg = p->M / p->group;
	size_t Kg = Cg * p->kh * p->kw, HW = plan->OH * plan->OW;
	struct eml_im2col src = { p, plan->OW, NULL };
	struct eml_gemm_bsrc asrc = { plan->im2col, &src };
	float *ct = workspace + plan->ct_off;
	struct eml_sgemm_args a;
	struct eml_pool *gp = eml_pool_for(pool, 2.0 * (double)HW * (double)Mg * (double)(Kg + 1));
	bool prepack = plan->apk_off != 0 && eml_pool_size(gp) > 1;
	size_t n, g, k, nt = (size_t)eml_pool_size(gp);

	memset(&a, 0, sizeof(a));
	a.M = HW;
	a.N = Mg;
	a.K = Kg;
	a.lda = HW; /* CONV_1X1: A = X^T, X [Cg, HW] as it is */
	a.trans_a = true;
	a.C = ct;
	a.ldc = Mg;
	a.alpha = 1.0f;
	a.bias_kind = plan->bias != NULL ? EML_BIAS_COL : EML_BIAS_NONE;
	a.ep = p->ep;
	for (n = 0; n < p->N; n++) {
		for (g = 0; g < p->group; g++) {
			const float *xg = x + (n * p->C + g * Cg) * p->H * p->W;

			src.x = xg;
			a.A = xg;
			a.b_packed = plan->w + g * plan->a_stride;
			a.bias = plan->bias != NULL ? plan->bias + g * Mg : NULL;
			if (nt > 1 && (prepack || (plan->method == CONV_IM2COL && 3 * HW > Mg &&
						      (HW + plan->g->mr - 1) / plan->g->mr >= nt))) {
				struct gemmt_job j;

				memset(&j, 0, sizeof(j));
				j.plan = plan;
				j.a = &a;
				j.asrc = &asrc;
				j.ws = workspace;
				j.ct = ct;
				j.y = y + (n * p->M + g * Mg) * HW;
				j.pool = gp;
				j.part_ws = eml_sgemm_blk_part_ws(plan->g, prepack, true);
				if (prepack) {
					struct apk_job pj = { plan, &src, workspace + plan->apk_off, HW,
						Kg, eml_sgemm_blk_kc(plan->g, Kg) };

					j.apk = pj;
					j.nkb = (Kg + pj.kcb - 1) / pj.kcb;
					j.nk = nt * EML_POOL_RANGES_PER_THREAD;
					j.nk = j.nk < j.nkb ? j.nk : j.nkb;
					/* Column tasks: each packs nothing, so 4 per
					 * thread cost only their B reads. */
					j.unit = plan->g->nr;
					j.ntask = nt * 4;
				} else {
					/* Row tasks pack their A rows: one per
					 * thread (as the GEMM driver split them). */
					j.unit = plan->g->mr;
					j.ntask = nt;
				}
				k = ((j.nk > 0 ? Mg : HW) + j.unit - 1) / j.unit;
				j.ntask = j.ntask < k ? j.ntask : k;
				atomic_store_explicit(&j.pk_done, 0, memory_order_relaxed);
				eml_pool_run(gp, j.nk + j.ntask, gemmt_task, &j);
				continue;
			}
			if (prepack) {
				struct apk_job j = { plan, &src, workspace + plan->apk_off, HW, Kg,
					eml_sgemm_blk_kc(plan->g, Kg) };

				eml_pool_run_range(gp, (Kg + j.kcb - 1) / j.kcb, apk_range, &j);
				eml_sgemm_blk_ex(plan->g, &a, j.dst, NULL, NULL, workspace, pool);
			} else {
				eml_sgemm_blk_ex(plan->g, &a, NULL,
				    plan->method == CONV_IM2COL ? &asrc : NULL, NULL, workspace, pool);
			}
			transpose_out(ct, HW, Mg, y + (n * p->M + g * Mg) * HW);
		}
	}
}

static void
run_gemm(const struct eml_conv2d_plan *plan, const float *x, float *y, float *workspace,
    struct eml_pool *pool)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t Cg = p->C / p->group, Mg = p->M / p->group;
	size_t Kg = Cg * p->kh * p->kw, HW = plan->OH * plan->OW;
	struct eml_im2col src = { p, plan->OW, NULL };
	struct eml_gemm_bsrc bsrc = { plan->im2col, &src };
	struct eml_sgemm_args a;
	size_t n, g;

	memset(&a, 0, sizeof(a));
	a.M = Mg;
	a.N = HW;
	a.K = Kg;
	a.ldb = HW;
	a.ldc = HW;
	a.alpha = 1.0f;
	a.bias_kind = plan->bias != NULL ? EML_BIAS_ROW : EML_BIAS_NONE;
	a.ep = p->ep;
	for (n = 0; n < p->N; n++) {
		for (g = 0; g < p->group; g++) {
			const float *xg = x + (n * p->C + g * Cg) * p->H * p->W;

			src.x = xg;
			a.B = xg; /* CONV_1X1: the image is B as it is */
			a.C = y + (n * p->M + g * Mg) * HW;
			a.bias = plan->bias != NULL ? plan->bias + g * Mg : NULL;
			eml_sgemm_blk_ex(plan->g, &a, plan->w + g * plan->a_stride, NULL,
			    plan->method == CONV_IM2COL ? &bsrc : NULL, workspace, pool);
		}
	}
}

struct wino_job {
	const struct eml_conv2d_plan *plan;
	const float *x; /* this image */
	float *y;
	float *ws;
	struct eml_pool *pool; /* for the cancellation check while waiting */
	size_t nb;             /* tiles */
	size_t nin;            /* input transform tasks (channel ranges) */
	size_t ntask, unit;    /* then M tasks, in panels of unit channels */
	atomic_size_t in_done; /* input transform tasks finished */
};

/* Input transform of channels [c0, c1) into V: each V_xi as the GEMM's
 * packed operand (transposed: V_xi^T as A, panels of mr tiles; else V_xi
 * as B, panels of nr tiles), K blocks of kcb channels, the last panel's
 * lanes past the tiles zeroed: the values and layout pack_a / pack_b
 * made of it before. */
static void
wino_in_range(const struct wino_job *j, size_t c0, size_t c1, int thread)
{
	const struct eml_conv2d_plan *plan = j->plan;
	const struct eml_conv2d_params *p = &plan->p;
	size_t r = plan->transposed ? plan->g->mr : plan->g->nr, nb = j->nb;
	size_t Rp = (nb + r - 1) / r * r, kcb = eml_sgemm_blk_kc(plan->g, p->C);
	float *scr = j->ws + plan->s_off + (size_t)thread * plan->w_scr;

	for (size_t c = c0; c < c1; c++) {
		size_t kb = c / kcb * kcb, kk = p->C - kb < kcb ? p->C - kb : kcb;
		float *vc = j->ws + kb * Rp + (c - kb) * r;

		plan->wino_in(p, plan->TW, 0, nb, j->x + c * p->H * p->W, vc, plan->vxs, r, kk * r,
		    scr);
		if (nb % r != 0)
			for (size_t xi = 0; xi < 16; xi++)
				memset(vc + xi * plan->vxs + (nb / r) * kk * r + nb % r, 0,
				    (r - nb % r) * sizeof(float));
	}
}

/* Until every input transform task has finished (false: the run was
 * cancelled, and skipped tasks never finish). The tasks waited for were
 * all handed out before this one and are running. */
static bool
wino_wait_in(struct wino_job *j)
{
	unsigned polls = 0;

	while (atomic_load_explicit(&j->in_done, memory_order_acquire) < j->nin) {
		if (eml_pool_cancelled(j->pool))
			return false;
		(void)eml_pool_wait_step(&polls);
	}
	return true;
}

/*
 * One pool run per image: tasks [0, nin) make V (ranges of input
 * channels), tasks [nin, nin + ntask) then each take output channels
 * [m0, m1) (whole panels of the GEMM's M side) through the 16 GEMMs and
 * the output transform. Tasks are handed out in order, so an M task only
 * waits for input tasks already running; the output transform needs no
 * other task. One fork/join instead of three (in, GEMMs, out), and no
 * wait between the GEMMs and the output transform (the 7 tile rows of a
 * 14x14 image split 4 + 3 on two threads there). Each value is computed
 * by one task in a fixed order: the result does not depend on the thread
 * count.
 */
static void
wino_task(void *arg, size_t task, int thread)
{
	struct wino_job *j = arg;
	const struct eml_conv2d_plan *plan = j->plan;
	const struct eml_conv2d_params *p = &plan->p;
	size_t panels = (p->M + j->unit - 1) / j->unit, k, m0, m1, xi, th, m;
	float *gws = j->ws + plan->g_off + (size_t)thread * plan->w_gws;
	float *res = j->ws + plan->m_off, *v = j->ws;
	struct eml_sgemm_args a;

	if (task < j->nin) {
		wino_in_range(j, task * p->C / j->nin, (task + 1) * p->C / j->nin, thread);
		atomic_fetch_add_explicit(&j->in_done, 1, memory_order_release);
		return;
	}
	k = task - j->nin;
	m0 = k * panels / j->ntask * j->unit;
	m1 = (k + 1) * panels / j->ntask * j->unit;
	m1 = m1 < p->M ? m1 : p->M;
	if (m0 >= m1 || !wino_wait_in(j))
		return;
	memset(&a, 0, sizeof(a));
	a.K = p->C;
	a.alpha = 1.0f;
	a.bias_kind = EML_BIAS_NONE;
	for (xi = 0; xi < 16; xi++) {
		a.C = res + xi * plan->mxs;
		if (plan->transposed) {
			/* M_xi^T [nb, M] = V_xi^T U_xi^T, columns [m0, m1). */
			a.M = j->nb;
			a.N = p->M;
			a.ldc = p->M;
			a.b_packed = plan->w + xi * plan->a_stride;
			eml_sgemm_blk_part(plan->g, &a, v + xi * plan->vxs, NULL, 0, j->nb, m0, m1,
			    gws);
		} else {
			/* M_xi [M, nb] = U_xi V_xi, rows [m0, m1). */
			a.M = p->M;
			a.N = j->nb;
			a.ldc = j->nb;
			a.b_packed = v + xi * plan->vxs;
			eml_sgemm_blk_part(plan->g, &a, plan->w + xi * plan->a_stride, NULL, m0,
			    m1, 0, j->nb, gws);
		}
	}
	if (plan->transposed) {
		for (th = 0; th < plan->TH; th++)
			plan->wino_out_t(p, plan->OH, plan->OW, plan->TW, 0, th, res, plan->mxs,
			    plan->bias, m0, m1, j->y);
		return;
	}
	for (m = m0; m < m1; m++)
		plan->wino_out(p, plan->OH, plan->OW, plan->TW, 0, j->nb, res + m * j->nb,
		    plan->mxs, plan->bias != NULL ? plan->bias[m] : 0.0f,
		    j->y + m * plan->OH * plan->OW,
		    j->ws + plan->s_off + (size_t)thread * plan->w_scr, plan->round16);
}

/* One band of tiles [t0, t1) of image n, start to end, in the thread's
 * slice of the workspace. */
static void
wino_band_task(void *arg, size_t task, int thread)
{
	const struct wino_job *j = arg;
	const struct eml_conv2d_plan *plan = j->plan;
	const struct eml_conv2d_params *p = &plan->p;
	size_t tiles = plan->TH * plan->TW, nbands = (tiles + plan->nb - 1) / plan->nb;
	size_t n = task / nbands, t0 = task % nbands * plan->nb;
	size_t t1 = t0 + plan->nb < tiles ? t0 + plan->nb : tiles, cnt = t1 - t0;
	size_t nr = plan->g->nr, Np = (cnt + nr - 1) / nr * nr, kcb = eml_sgemm_blk_kc(plan->g, p->C);
	float *v = j->ws + (size_t)thread * plan->tws, *res = v + plan->m_off;
	float *scr = v + plan->s_off, *gws = scr + plan->w_scr;
	const float *x = j->x + n * p->C * p->H * p->W;
	float *y = j->y + n * p->M * plan->OH * plan->OW;
	struct eml_sgemm_args a;
	size_t c, xi, m;

	/* V_xi as the packed B of [C, cnt]: k blocks of kcb rows at
	 * kb * Np, in each ceil(cnt / nr) panels of kk x nr. */
	for (c = 0; c < p->C; c++) {
		size_t kb = c / kcb * kcb, kk = p->C - kb < kcb ? p->C - kb : kcb;
		float *vc = v + kb * Np + (c - kb) * nr;

		plan->wino_in(p, plan->TW, t0, t1, x + c * p->H * p->W, vc, plan->vxs, nr,
		    kk * nr, scr);
		if (cnt % nr != 0) /* the last panel's lanes past cnt: defined */
			for (xi = 0; xi < 16; xi++)
				memset(vc + xi * plan->vxs + (cnt / nr) * kk * nr + cnt % nr, 0,
				    (nr - cnt % nr) * sizeof(float));
	}
	memset(&a, 0, sizeof(a));
	a.M = p->M;
	a.N = cnt;
	a.K = p->C;
	a.ldc = cnt;
	a.alpha = 1.0f;
	a.bias_kind = EML_BIAS_NONE;
	for (xi = 0; xi < 16; xi++) {
		a.b_packed = v + xi * plan->vxs;
		a.C = res + xi * plan->mxs;
		eml_sgemm_blk_ex(plan->g, &a, plan->w + xi * plan->a_stride, NULL, NULL, gws, NULL);
	}
	for (m = 0; m < p->M; m++)
		plan->wino_out(p, plan->OH, plan->OW, plan->TW, t0, t1, res + m * cnt, plan->mxs,
		    plan->bias != NULL ? plan->bias[m] : 0.0f, y + m * plan->OH * plan->OW, NULL,
		    plan->round16);
}

/* Banded: one task per band of tiles. Otherwise one pool run per image
 * (wino_task). */
static void
run_wino(const struct eml_conv2d_plan *plan, const float *x, float *y, float *workspace,
    struct eml_pool *pool)
{
	const struct eml_conv2d_params *p = &plan->p;
	struct wino_job j;
	size_t n, panels, nt;

	memset(&j, 0, sizeof(j));
	j.plan = plan;
	j.ws = workspace;
	/* 16 GEMMs of M x C x tiles dominate; the transforms are memory
	 * passes of the same order as one of them. */
	pool = eml_pool_for(pool, 36.0 * (double)p->M * (double)p->C *
		(double)(plan->TH * plan->TW));
	j.pool = pool;
	if (plan->banded) {
		size_t tiles = plan->TH * plan->TW;

		j.x = x;
		j.y = y;
		eml_pool_run(pool, p->N * ((tiles + plan->nb - 1) / plan->nb), wino_band_task, &j);
		return;
	}
	nt = (size_t)eml_pool_size(pool);
	j.nb = plan->TH * plan->TW;
	j.unit = plan->transposed ? plan->g->nr : plan->g->mr;
	panels = (p->M + j.unit - 1) / j.unit;
	/* Four input ranges and two M tasks per thread (one when alone): a
	 * late thread holds the run up by a share of one task. */
	j.nin = nt == 1 ? 1 : nt * EML_POOL_RANGES_PER_THREAD;
	j.nin = j.nin < p->C ? j.nin : p->C;
	j.ntask = nt == 1 ? 1 : nt * 2;
	j.ntask = j.ntask < panels ? j.ntask : panels;
	for (n = 0; n < p->N; n++) {
		j.x = x + n * p->C * p->H * p->W;
		j.y = y + n * p->M * plan->OH * plan->OW;
		atomic_store_explicit(&j.in_done, 0, memory_order_relaxed);
		eml_pool_run(pool, j.nin + j.ntask, wino_task, &j);
	}
}

struct dc_job {
	const struct eml_conv2d_plan *plan;
	const float *x;
	float *y;
	float *s;
};

static void
dc_pad_range(void *arg, size_t c0, size_t c1, int thread)
{
	const struct dc_job *j = arg;
	const struct eml_conv2d_plan *plan = j->plan;

	(void)thread;
	plan->dc_pad(&plan->p, plan->PH, plan->PW, c0, c1, j->x, j->s);
}

static void
dc_run_range(void *arg, size_t oh0, size_t oh1, int thread)
{
	const struct dc_job *j = arg;
	const struct eml_conv2d_plan *plan = j->plan;

	(void)thread;
	plan->dc_run(&plan->p, plan->OH, plan->OW, plan->PH, plan->PW, j->s, plan->w, plan->bias,
	    oh0, oh1, j->y);
	if (plan->round16)
		for (size_t m = 0; m < plan->p.M; m++)
			eml_f32_round_f16((oh1 - oh0) * plan->OW,
			    j->y + (m * plan->OH + oh0) * plan->OW,
			    j->y + (m * plan->OH + oh0) * plan->OW);
}

/* Per image: the padded copy (ranges of channels), then bands of output
 * rows (every channel of a row in one task), both in balanced ranges
 * (eml_pool_run_range: sizes differ by at most one; ceil-sized bands
 * left 20 rows on two threads as 6 bands of 3 and one of 2). Each output
 * is one task's fixed-order sum, whatever the thread count. */
static void
run_direct(const struct eml_conv2d_plan *plan, const float *x, float *y, float *workspace,
    struct eml_pool *pool)
{
	const struct eml_conv2d_params *p = &plan->p;
	struct dc_job j = { plan, NULL, NULL, workspace };
	size_t n;

	pool = eml_pool_for(pool, 2.0 * (double)(p->M * p->C * p->kh * p->kw) *
		(double)(plan->OH * plan->OW));
	/* The slack past the last plane is read into lanes never stored;
	 * keep it defined. */
	memset(workspace + p->C * plan->PH * plan->PW, 0, EML_DCONV_SLACK * sizeof(float));
	for (n = 0; n < p->N; n++) {
		j.x = x + n * p->C * p->H * p->W;
		j.y = y + n * p->M * plan->OH * plan->OW;
		eml_pool_run_range(pool, p->C, dc_pad_range, &j);
		eml_pool_run_range(pool, plan->OH, dc_run_range, &j);
	}
}

struct ind_job {
	const struct eml_conv2d_plan *plan;
	const float *s; /* the padded image */
	float *ct;      /* Y^T [HW, M] */
	float *y;       /* this image's output, NCHW */
	struct eml_pool *pool;
};

/* Row panels [r0, r1) of Y^T (panel r: output row r / pr, columns from
 * (r % pr) mr, at most mr of them), the GEMM driver's k blocks and column
 * panels in its order. */
static void
ind_range(void *arg, size_t r0, size_t r1, int thread)
{
	const struct ind_job *j = arg;
	const struct eml_conv2d_plan *plan = j->plan;
	const struct eml_conv2d_params *p = &plan->p;
	const struct eml_gemm_impl *g = plan->g;
	size_t mr = g->mr, nr = g->nr, OW = plan->OW, pr = (OW + mr - 1) / mr;
	size_t K = p->C * p->kh * p->kw, M = p->M, Np = (M + nr - 1) / nr * nr;
	size_t kcb = eml_sgemm_blk_kc(g, K), kb, jr, r;
	struct eml_gemm_ep ep;

	(void)thread;
	ep.alpha = 1.0f;
	ep.act = p->ep.act;
	ep.a = p->ep.a;
	ep.b = p->ep.b;
	ep.bias_row = NULL;
	for (kb = 0; kb < K; kb += kcb) {
		size_t kk = K - kb < kcb ? K - kb : kcb;

		if (eml_pool_cancelled(j->pool))
			return; /* past the deadline: the run is refused */
		ep.beta = kb == 0 ? 0.0f : 1.0f;
		ep.last = kb + kk >= K;
		/* A panel's taps (kk x mr floats over ~kk / 3 rows of the
		 * padded image) stay in L1 across the column panels. */
		for (r = r0; r < r1; r++) {
			size_t oh = r / pr, ow = r % pr * mr;

			for (jr = 0; jr < M; jr += nr) {
				ep.bias_col = plan->bias != NULL ? plan->bias + jr : NULL;
				g->kernel_ind(kk, j->s + oh * p->stride_h * plan->PW + ow,
				    plan->koff + kb, plan->w + kb * Np + jr * kk,
				    j->ct + (oh * OW + ow) * M + jr, M, OW - ow < mr ? OW - ow : mr,
				    M - jr < nr ? M - jr : nr, &ep);
			}
		}
	}
}

/* Output channels [m0, m1) of Y^T into NCHW: each task writes whole rows
 * of y (tasks by pixel ranges shared the cache lines at every range end,
 * for every channel). */
static void
ind_out_range(void *arg, size_t m0, size_t m1, int thread)
{
	const struct ind_job *j = arg;
	const struct eml_conv2d_plan *plan = j->plan;
	size_t HW = plan->OH * plan->OW, M = plan->p.M, i0, i, m;

	(void)thread;
	for (i0 = 0; i0 < HW; i0 += 8) {
		size_t i1 = i0 + 8 < HW ? i0 + 8 : HW;

		for (m = m0; m < m1; m++)
			for (i = i0; i < i1; i++)
				j->y[m * HW + i] = j->ct[i * M + m];
	}
	if (plan->round16) /* the task's rows, still in cache */
		eml_f32_round_f16((m1 - m0) * HW, j->y + m0 * HW, j->y + m0 * HW);
}

/* indirect-gemm-t, per image: the padded copy (channel ranges), the row
 * panels in balanced ranges, the transpose (channel ranges). Each output is one kernel call chain in
 * the driver's fixed k order: the bits of im2col-gemm-t, on any number of
 * threads. */
static void
run_ind(const struct eml_conv2d_plan *plan, const float *x, float *y, float *workspace,
    struct eml_pool *pool)
{
	const struct eml_conv2d_params *p = &plan->p;
	size_t HW = plan->OH * plan->OW, mr = plan->g->mr, n;
	struct ind_job j = { plan, workspace + plan->pad_off, workspace + plan->ct_off, NULL, NULL };
	struct dc_job dj = { plan, NULL, NULL, workspace + plan->pad_off };

	pool = eml_pool_for(pool, 2.0 * (double)HW * (double)p->M *
		(double)(p->C * p->kh * p->kw + 1));
	j.pool = pool;
	memset(dj.s + p->C * plan->PH * plan->PW, 0, EML_DCONV_SLACK * sizeof(float));
	for (n = 0; n < p->N; n++) {
		dj.x = x + n * p->C * p->H * p->W;
		j.y = y + n * p->M * HW;
		eml_pool_run_range(pool, p->C, dc_pad_range, &dj);
		eml_pool_run_range(pool, plan->OH * ((plan->OW + mr - 1) / mr), ind_range, &j);
		eml_pool_run_range(pool, p->M, ind_out_range, &j);
	}
}

void
eml_conv2d_plan_round_f16(struct eml_conv2d_plan *plan)
{
	plan->round16 = true;
}

static void
round_range(void *arg, size_t i0, size_t i1, int thread)
{
	float *y = arg;

	(void)thread;
	eml_f32_round_f16(i1 - i0, y + i0, y + i0);
}

/* The methods whose last writer rounds what it wrote (the others get a
 * pass over y, shared out over the pool). */
static bool
rounds_in_task(const struct eml_conv2d_plan *plan)
{
	return plan->method == CONV_DIRECT || plan->ind ||
	    (plan->method == CONV_WINO && !plan->transposed);
}

void
eml_conv2d_run(const struct eml_conv2d_plan *plan, const float *x, float *y,
    float *workspace, struct eml_pool *pool)
{
	/* The workspace was sized for plan->nthreads: a bigger pool would
	 * overrun it, so it runs single-threaded instead. */
	if (eml_pool_size(pool) > plan->nthreads)
		pool = NULL;
	switch (plan->method) {
	case CONV_REF:
		eml_conv2d_ref(&plan->p, x, plan->w, plan->bias, y);
		break;
	case CONV_DW: {
		const struct eml_conv2d_params *p = &plan->p;
		struct dw_job j = { plan, x, y, workspace };

		eml_pool_run_range(eml_pool_for(pool, eml_dwconv_work(p, plan->OH, plan->OW)),
		    plan->p.N * plan->p.C, dw_task, &j);
		break;
	}
	case CONV_WINO:
		run_wino(plan, x, y, workspace, pool);
		break;
	case CONV_DIRECT:
		run_direct(plan, x, y, workspace, pool);
		break;
	case CONV_1X1:
	case CONV_IM2COL:
		if (plan->ind)
			run_ind(plan, x, y, workspace, pool);
		else if (plan->transposed)
			run_gemm_t(plan, x, y, workspace, pool);
		else
			run_gemm(plan, x, y, workspace, pool);
		break;
	}
	if (plan->round16 && !rounds_in_task(plan)) {
		size_t n = plan->p.N * plan->p.M * plan->OH * plan->OW;

		eml_pool_run_range(eml_pool_for(pool, 8.0 * (double)n), n, round_range, y);
	}
}

void
eml_conv2d_plan_free(struct eml_conv2d_plan *plan)
{
	if (plan == NULL)
		return;
	eml_secure_free(plan->w);
	eml_secure_free(plan->bias);
	eml_free(plan->koff);
	eml_free(plan);
}
