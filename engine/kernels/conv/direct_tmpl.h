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

/* Planes c0..c1 of x copied into the padded scratch. */
void
DC_PAD(const struct eml_conv2d_params *p, size_t PH, size_t PW, size_t c0, size_t c1,
    const float *x, float *s)
{
	size_t c, r, col;

	for (c = c0; c < c1; c++) {
		const float *xc = x + c * p->H * p->W;
		float *sc = s + c * PH * PW;

		for (r = 0; r < PH; r++) {
			float *row = sc + r * PW;

			if (r < p->pad_top || r - p->pad_top >= p->H) {
				memset(row, 0, PW * sizeof(float));
				continue;
			}
			for (col = 0; col < p->pad_left; col++)
				row[col] = 0.0f;
			memcpy(row + p->pad_left, xc + (r - p->pad_top) * p->W, p->W * sizeof(float));
			for (col = p->pad_left + p->W; col < PW; col++)
				row[col] = 0.0f;
		}
	}
}

/* One block of MB output channels over output rows oh0..oh1. Always
 * inlined with constant MB, kh, kw, sw at the call sites below. */
static inline __attribute__((always_inline)) void
dc_block(const struct eml_conv2d_params *p, size_t OW, size_t PH, size_t PW, const float *s,
    const float *wt, const float *bias, size_t m0, size_t oh0, size_t oh1, float *y,
    size_t OHW, size_t MB, size_t kh, size_t kw, size_t sw)
{
	size_t M = p->M, C = p->C, sh = p->stride_h;
	vf va = vf_set1(p->ep.a), vb = vf_set1(p->ep.b);
	size_t oh, ow, c, i, j, mm;

	for (oh = oh0; oh < oh1; oh++) {
		for (ow = 0; ow < OW; ow += 2 * VF_N) {
			vf acc0[6] EML_NOINIT, acc1[6] EML_NOINIT; /* [0, MB) set below */
			size_t left = OW - ow;

			for (mm = 0; mm < MB; mm++) {
				acc0[mm] = vf_set1(bias != NULL ? bias[m0 + mm] : 0.0f);
				acc1[mm] = acc0[mm];
			}
			for (c = 0; c < C; c++) {
				const float *base = s + c * PH * PW + oh * sh * PW + ow * sw;
				const float *wc = wt + c * kh * kw * M + m0;

				for (i = 0; i < kh; i++) {
					const float *r = base + i * PW;

					for (j = 0; j < kw; j++) {
						vf x0 = sw == 1 ? vf_load(r + j) : vf_load_s2(r + j);
						vf x1 = sw == 1 ? vf_load(r + j + VF_N) :
								  vf_load_s2(r + j + 2 * VF_N);
						const float *wk = wc + (i * kw + j) * M;

						for (mm = 0; mm < MB; mm++) {
							vf wv = vf_set1(wk[mm]);

							acc0[mm] = vf_fma(wv, x0, acc0[mm]);
							acc1[mm] = vf_fma(wv, x1, acc1[mm]);
						}
					}
				}
			}
			for (mm = 0; mm < MB; mm++) {
				float *yr = y + (m0 + mm) * OHW + oh * OW + ow;
				vf r0 = vf_act(p->ep.act, acc0[mm], va, vb);
				vf r1 = vf_act(p->ep.act, acc1[mm], va, vb);

				if (left >= 2 * VF_N) {
					vf_store(yr, r0);
					vf_store(yr + VF_N, r1);
				} else if (left > VF_N) {
					vf_store(yr, r0);
					vf_storen(yr + VF_N, r1, left - VF_N);
				} else {
					vf_storen(yr, r0, left);
				}
			}
		}
	}
}

/* Channel blocks of 6 (12 accumulators + 2 pixel vectors + 1 broadcast
 * fit the 16 AVX2 registers), then 4, 2, 1 for the rest. */
static inline __attribute__((always_inline)) void
dc_rows(const struct eml_conv2d_params *p, size_t OW, size_t PH, size_t PW, const float *s,
    const float *wt, const float *bias, size_t oh0, size_t oh1, float *y, size_t OHW,
    size_t kh, size_t kw, size_t sw)
{
	size_t m0 = 0, M = p->M;

	for (; m0 + 6 <= M; m0 += 6)
		dc_block(p, OW, PH, PW, s, wt, bias, m0, oh0, oh1, y, OHW, 6, kh, kw, sw);
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
	else if (p->stride_w == 1)
		dc_rows(p, OW, PH, PW, s, wt, bias, oh0, oh1, y, OHW, p->kh, p->kw, 1);
	else
		dc_rows(p, OW, PH, PW, s, wt, bias, oh0, oh1, y, OHW, p->kh, p->kw, 2);
}
