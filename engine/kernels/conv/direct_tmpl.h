/*
 * Direct convolution for few output channels (M <= 16, group 1, dilation
 * 1, horizontal stride 1 or 2), written over the vf_* wrappers and
 * instantiated per ISA (conv/avx2.c, conv/avx512.c).
 *
 * Why: with M this small the im2col GEMM packs K x HW floats to feed two
 * row tiles; packing costs more than the multiplies (a 3x3 48 -> 12 conv
 * at 80x80 ran at 39 GFLOP/s). Here the image is copied once into
 * zero-padded planes (DC_PAD: tasks over channels), and each output row
 * is made in blocks of MB channels x two vectors of pixels held in
 * registers: per tap, two pixel loads (plain, or even lanes for stride 2)
 * and MB weight broadcasts feed 2 MB FMAs. Weights are repacked at plan
 * time as [c][i][j][m], so the broadcasts of one tap are adjacent. Bias
 * starts the accumulators, the activation runs before the store, and the
 * last block of a row stores with a mask.
 *
 * Rows of the padded planes follow each other, so a vector that runs past
 * the last valid output of a row reads the next row's values: they only
 * reach lanes that are never stored. The scratch has slack after the last
 * plane (eml_dconv_geometry) so no load leaves it.
 */
#ifndef DC_NAME
#error "define DC_NAME and DC_PAD before including direct_tmpl.h"
#endif

/* Most channels in one register block: MB x 2 accumulator vectors + 2
 * pixel vectors + 1 broadcast within the register file (AVX-512 32,
 * AVX2 16). */
#if VF_N == 16
#define DC_MB 12
#else
#define DC_MB 6
#endif

/*
 * Planes c0..c1 of x copied into the padded scratch. Horizontal stride 2:
 * each padded row of PW (even) floats is stored deinterleaved, its even
 * columns then its odd ones (PW / 2 each), so that every tap of a
 * stride-2 output vector is one plain load (padded column 2 ow + j is
 * at (j & 1) PW / 2 + ow + j / 2) instead of two loads and a permute.
 */
/* Padded columns 2 u + par, u in [0, h), of input row xr (W floats, pl
 * zeros on the left) into d: zeros, even-lane loads from the row, zeros.
 * A whole even-lane load reads 2 VF_N floats: masked at the row's end. */
static inline void
dc_half(const float *xr, size_t W, size_t pl, size_t par, size_t h, float *d)
{
	size_t ua = pl > par ? (pl - par + 1) / 2 : 0, ub, u;

	/* Valid: pl <= 2 u + par < pl + W. */
	ub = pl + W > par ? (pl + W - par + 1) / 2 : 0;
	ub = ub < h ? ub : h;
	ua = ua < ub ? ua : ub;
	for (u = 0; u < ua; u += VF_N)
		vf_storen(d + u, vf_zero(), ua - u < VF_N ? ua - u : VF_N);
	for (u = ua; u < ub; u += VF_N) {
		size_t n = ub - u < VF_N ? ub - u : VF_N, w = 2 * u + par - pl;
		vf v = w + 2 * VF_N <= W ? vf_load_s2(xr + w) : vf_loadn_s2(xr + w, n);

		vf_storen(d + u, v, n);
	}
	for (u = ub; u < h; u += VF_N)
		vf_storen(d + u, vf_zero(), h - u < VF_N ? h - u : VF_N);
}

#if VF_N == 16
/* Stride 2 on AVX-512: the lanes of each output vector of a half row
 * (its input columns, which of its two source vectors' lanes are inside
 * the row, the lanes stored) are the same for every row, so they are
 * worked out once per call and each row is, per vector, two masked loads,
 * a permute and a store: no bounds per row. dc_half's per-row masks and
 * branches made the copy ~10x a memcpy of the plane (hot cache: 128 x
 * 28 x 28 45.6 us against 4.1; 64 x 56 x 56 55.0 against 12.1), ~6 % of
 * f16-cnn on one thread. Half rows of up to DC_S2_VECS vectors. */
#define DC_S2_VECS 16

struct dc_s2_vec {
	size_t off[2];      /* input column of each source's first read */
	__mmask16 m[2];     /* the lanes read from there (inside the row) */
	__mmask16 store;    /* output lanes of the half row */
	size_t dst;         /* into the stored row: (par) PW / 2 + 16 k */
};

/* Source lanes [b, b + 16) of padded columns, the row at [pl, pl + W):
 * read as lanes [0, l1 - l0) from column b + l0 - pl (never before the
 * row), then moved up by l0 (only the first vectors, when b < pl). */
static inline size_t
dc_s2_src(size_t b, size_t pl, size_t W, size_t *off, __mmask16 *m)
{
	size_t l0 = pl > b ? pl - b : 0, l1 = pl + W > b ? pl + W - b : 0;

	l0 = l0 < 16 ? l0 : 16;
	l1 = l1 < 16 ? l1 : 16;
	*m = (__mmask16)(l1 > l0 ? (1u << (l1 - l0)) - 1u : 0u);
	*off = *m != 0 ? b + l0 - pl : 0;
	return *m != 0 ? l0 : 0;
}

/* v's lanes moved up by sh (< 16), zeros below. */
static inline __m512
dc_s2_up(__m512 v, size_t sh)
{
	const __m512i id = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

	return _mm512_maskz_permutexvar_ps((__mmask16)(0xffffu << sh),
	    _mm512_sub_epi32(id, _mm512_set1_epi32((int)sh)), v);
}

static void
dc_pad_s2(const struct eml_conv2d_params *p, size_t PH, size_t PW, size_t c0, size_t c1,
    const float *x, float *s)
{
	const __m512i ev = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26,
	    28, 30);
	struct dc_s2_vec v[2 * DC_S2_VECS];
	size_t h = PW / 2, nv = (h + 15) / 16, n = 0, par, k, q, c, r;
	size_t sh[2][2] = { { 0, 0 }, { 0, 0 } }; /* vector 0 of each half */

	for (par = 0; par < 2; par++)
		for (k = 0; k < nv; k++, n++) {
			size_t b = 32 * k + par, left = h - 16 * k, s0, s1;

			s0 = dc_s2_src(b, p->pad_left, p->W, &v[n].off[0], &v[n].m[0]);
			s1 = dc_s2_src(b + 16, p->pad_left, p->W, &v[n].off[1], &v[n].m[1]);
			v[n].store = (__mmask16)(left >= 16 ? 0xffffu : (1u << left) - 1u);
			v[n].dst = par * h + 16 * k;
			if (k == 0) {
				sh[par][0] = s0;
				sh[par][1] = s1;
			}
			/* Past vector 0, b >= 32 > pl (pl < kw <= the PW check
			 * below): no lane before the row. */
		}
	for (c = c0; c < c1; c++) {
		const float *xc = x + c * p->H * p->W;
		float *sc = s + c * PH * PW;

		for (r = 0; r < PH; r++) {
			float *row = sc + r * PW;
			const float *xr = xc + (r - p->pad_top) * p->W;

			if (r < p->pad_top || r - p->pad_top >= p->H) {
				memset(row, 0, PW * sizeof(float));
				continue;
			}
			for (par = 0, q = 0; par < 2; par++)
				for (k = 0; k < nv; k++, q++) {
					__m512 a = _mm512_maskz_loadu_ps(v[q].m[0], xr + v[q].off[0]);
					__m512 bb = _mm512_maskz_loadu_ps(v[q].m[1], xr + v[q].off[1]);

					if (k == 0 && sh[par][0] != 0)
						a = dc_s2_up(a, sh[par][0]);
					if (k == 0 && sh[par][1] != 0)
						bb = dc_s2_up(bb, sh[par][1]);
					_mm512_mask_storeu_ps(row + v[q].dst, v[q].store,
					    _mm512_permutex2var_ps(a, ev, bb));
				}
		}
	}
}
#endif

/*
 * Planes c0..c1 of x copied into the padded scratch. Horizontal stride 2:
 * each padded row of PW (even) floats is stored deinterleaved, its even
 * columns then its odd ones (PW / 2 each), so that every tap of a
 * stride-2 output vector is one plain load (padded column 2 ow + j is
 * at (j & 1) PW / 2 + ow + j / 2) instead of two loads and a permute.
 */
void
DC_PAD(const struct eml_conv2d_params *p, size_t PH, size_t PW, size_t c0, size_t c1,
    const float *x, float *s)
{
	size_t c, r, col;

#if VF_N == 16
	if (p->stride_w == 2 && PW / 2 <= 16 * DC_S2_VECS && p->pad_left < 32) {
		dc_pad_s2(p, PH, PW, c0, c1, x, s);
		return;
	}
#endif
	for (c = c0; c < c1; c++) {
		const float *xc = x + c * p->H * p->W;
		float *sc = s + c * PH * PW;

		for (r = 0; r < PH; r++) {
			float *row = sc + r * PW;
			const float *xr = xc + (r - p->pad_top) * p->W;

			if (r < p->pad_top || r - p->pad_top >= p->H) {
				memset(row, 0, PW * sizeof(float));
				continue;
			}
			if (p->stride_w == 2) {
				dc_half(xr, p->W, p->pad_left, 0, PW / 2, row);
				dc_half(xr, p->W, p->pad_left, 1, PW / 2, row + PW / 2);
				continue;
			}
			for (col = 0; col < p->pad_left; col++)
				row[col] = 0.0f;
			memcpy(row + p->pad_left, xr, p->W * sizeof(float));
			for (col = p->pad_left + p->W; col < PW; col++)
				row[col] = 0.0f;
		}
	}
}

/* MB output channels x NV vectors of pixels at (oh, ow). Always inlined
 * with constant MB, NV, kh, kw, sw at the call sites below. */
static inline __attribute__((always_inline)) void
dc_tile(const struct eml_conv2d_params *p, size_t OW, size_t PH, size_t PW, const float *s,
    const float *wt, const float *bias, size_t m0, size_t oh, size_t ow, float *y, size_t OHW,
    size_t MB, size_t NV, size_t kh, size_t kw, size_t sw)
{
	size_t M = p->M, C = p->C, sh = p->stride_h, h = PW / 2;
	vf acc0[DC_MB] EML_NOINIT, acc1[DC_MB] EML_NOINIT; /* [0, MB) set below */
	size_t left = OW - ow, c, i, j, mm;
	vf va, vb;

	for (mm = 0; mm < MB; mm++) {
		acc0[mm] = vf_set1(bias != NULL ? bias[m0 + mm] : 0.0f);
		acc1[mm] = acc0[mm];
	}
	for (c = 0; c < C; c++) {
		const float *base = s + c * PH * PW + oh * sh * PW + ow;
		const float *wc = wt + c * kh * kw * M + m0;

		for (i = 0; i < kh; i++) {
			const float *r = base + i * PW;

			for (j = 0; j < kw; j++) {
				/* Stride 2: the row's even or odd half. */
				const float *q = sw == 1 ? r + j : r + (j & 1) * h + (j >> 1);
				vf x0 = vf_load(q);
				vf x1 = NV == 2 ? vf_load(q + VF_N) : x0;
				const float *wk = wc + (i * kw + j) * M;

				for (mm = 0; mm < MB; mm++) {
					vf wv = vf_set1(wk[mm]);

					acc0[mm] = vf_fma(wv, x0, acc0[mm]);
					if (NV == 2)
						acc1[mm] = vf_fma(wv, x1, acc1[mm]);
				}
			}
		}
	}
	/* The activation's constants only now: set before the loop they
	 * would take two of the registers the accumulators need. */
	va = vf_set1(p->ep.a);
	vb = vf_set1(p->ep.b);
	for (mm = 0; mm < MB; mm++) {
		float *yr = y + (m0 + mm) * OHW + oh * OW + ow;
		vf r0 = vf_act(p->ep.act, acc0[mm], va, vb);

		if (NV == 1) {
			vf_storen(yr, r0, left < VF_N ? left : VF_N);
			continue;
		}
		vf_store(yr, r0);
		if (left >= 2 * VF_N)
			vf_store(yr + VF_N, vf_act(p->ep.act, acc1[mm], va, vb));
		else
			vf_storen(yr + VF_N, vf_act(p->ep.act, acc1[mm], va, vb), left - VF_N);
	}
}

/* One block of MB output channels over output rows oh0..oh1: two vectors
 * of pixels at a time, one for a last piece of at most VF_N. */
static inline __attribute__((always_inline)) void
dc_block(const struct eml_conv2d_params *p, size_t OW, size_t PH, size_t PW, const float *s,
    const float *wt, const float *bias, size_t m0, size_t oh0, size_t oh1, float *y,
    size_t OHW, size_t MB, size_t kh, size_t kw, size_t sw)
{
	size_t oh, ow;

	for (oh = oh0; oh < oh1; oh++) {
		for (ow = 0; ow < OW; ow += 2 * VF_N) {
			if (OW - ow > VF_N)
				dc_tile(p, OW, PH, PW, s, wt, bias, m0, oh, ow, y, OHW, MB, 2, kh,
				    kw, sw);
			else
				dc_tile(p, OW, PH, PW, s, wt, bias, m0, oh, ow, y, OHW, MB, 1, kh,
				    kw, sw);
		}
	}
}

/* Channel blocks of DC_MB (12 on AVX-512, 6 on AVX2), then 8, 6, 4, 2, 1
 * for the rest. */
static inline __attribute__((always_inline)) void
dc_rows(const struct eml_conv2d_params *p, size_t OW, size_t PH, size_t PW, const float *s,
    const float *wt, const float *bias, size_t oh0, size_t oh1, float *y, size_t OHW,
    size_t kh, size_t kw, size_t sw)
{
	size_t m0 = 0, M = p->M;

	for (; m0 + DC_MB <= M; m0 += DC_MB)
		dc_block(p, OW, PH, PW, s, wt, bias, m0, oh0, oh1, y, OHW, DC_MB, kh, kw, sw);
#if DC_MB > 8
	if (m0 + 8 <= M) {
		dc_block(p, OW, PH, PW, s, wt, bias, m0, oh0, oh1, y, OHW, 8, kh, kw, sw);
		m0 += 8;
	}
#endif
#if DC_MB > 6
	if (m0 + 6 <= M) {
		dc_block(p, OW, PH, PW, s, wt, bias, m0, oh0, oh1, y, OHW, 6, kh, kw, sw);
		m0 += 6;
	}
#endif
	if (m0 + 4 <= M) {
		dc_block(p, OW, PH, PW, s, wt, bias, m0, oh0, oh1, y, OHW, 4, kh, kw, sw);
		m0 += 4;
	}
	if (m0 + 2 <= M) {
		dc_block(p, OW, PH, PW, s, wt, bias, m0, oh0, oh1, y, OHW, 2, kh, kw, sw);
		m0 += 2;
	}
	if (m0 < M)
		dc_block(p, OW, PH, PW, s, wt, bias, m0, oh0, oh1, y, OHW, 1, kh, kw, sw);
}

void
DC_NAME(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t PH, size_t PW,
    const float *s, const float *wt, const float *bias, size_t oh0, size_t oh1, float *y)
{
	size_t OHW = OH * OW;

	if (p->kh == 3 && p->kw == 3 && p->stride_w == 1)
		dc_rows(p, OW, PH, PW, s, wt, bias, oh0, oh1, y, OHW, 3, 3, 1);
	else if (p->kh == 3 && p->kw == 3)
		dc_rows(p, OW, PH, PW, s, wt, bias, oh0, oh1, y, OHW, 3, 3, 2);
	else if (p->kh == 7 && p->kw == 7 && p->stride_w == 2) /* a ResNet stem */
		dc_rows(p, OW, PH, PW, s, wt, bias, oh0, oh1, y, OHW, 7, 7, 2);
	else if (p->stride_w == 1)
		dc_rows(p, OW, PH, PW, s, wt, bias, oh0, oh1, y, OHW, p->kh, p->kw, 1);
	else
		dc_rows(p, OW, PH, PW, s, wt, bias, oh0, oh1, y, OHW, p->kh, p->kw, 2);
}
