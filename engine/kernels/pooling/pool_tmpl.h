/*
 * Max / average pooling over the vf_* wrappers, instantiated per ISA by
 * pool/avx2.c and pool/avx512.c (PL_SFX). Bit-identical to ref:
 *
 * - For each output row the kh input rows it reads are copied into a
 *   padded stack buffer (-inf for max, 0 for average), so every output
 *   vector is kh x kw plain or even-lane loads, no border cases.
 * - Max: x86 max ignores a NaN operand, so a separate mask carries NaN to
 *   the result, as ref propagates it.
 * - Average: ref adds the valid inputs in (i, j) order; adding the
 *   padding zeros in between changes no partial sum, and the divisor
 *   (valid rows x valid columns, or kh x kw) is the same float, so the
 *   results are equal bit for bit.
 * Shapes too big for the stack buffers, or strides above 2, go to ref.
 */
#ifndef PL_SFX
#error "define PL_SFX before including pool_tmpl.h"
#endif

#define PL_CAT2(a, b) a##_##b
#define PL_CAT(a, b) PL_CAT2(a, b)
#define PL_NAME(n) PL_CAT(n, PL_SFX)

#define PL_ROWBUF 8192 /* floats: kh padded rows */
#define PL_MAXOW 4096

static size_t
PL_NAME(pl_valid)(size_t o, size_t s, size_t k, size_t d, size_t pad, size_t in)
{
	size_t t, c = 0;

	for (t = 0; t < k; t++) {
		size_t pos = o * s + t * d;

		if (pos >= pad && pos - pad < in)
			c++;
	}
	return c;
}

void
PL_NAME(eml_pool2d)(bool is_max, size_t NC, size_t H, size_t W, size_t kh, size_t kw,
    size_t sh, size_t sw, size_t dh, size_t dw, size_t pt, size_t pl, size_t OH, size_t OW,
    bool count_include_pad, const float *x, float *y)
{
	float rows[PL_ROWBUF];
	float colcnt[PL_MAXOW + VF_N];
	size_t need_w = OW == 0 ? 0 : (OW - 1) * sw + (kw - 1) * dw + 1;
	size_t PW = (need_w > W + pl ? need_w : W + pl) + 32;
	float padv = is_max ? -__builtin_inff() : 0.0f;
	size_t c, oh, ow, i, j, r;

	if (sw > 2 || kh == 0 || kw == 0 || kh * PW > PL_ROWBUF || OW > PL_MAXOW) {
		eml_pool2d_ref(is_max, NC, H, W, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW,
		    count_include_pad, x, y);
		return;
	}
	for (ow = 0; ow < OW + VF_N; ow++)
		colcnt[ow] = ow < OW ? (float)PL_NAME(pl_valid)(ow, sw, kw, dw, pl, W) : 1.0f;
	for (c = 0; c < NC; c++) {
		const float *xp = x + c * H * W;
		float *yp = y + c * OH * OW;

		for (oh = 0; oh < OH; oh++) {
			size_t rv = PL_NAME(pl_valid)(oh, sh, kh, dh, pt, H);
			vf vrv = vf_set1((float)rv), vfull = vf_set1((float)(kh * kw));

			for (i = 0; i < kh; i++) {
				float *row = rows + i * PW;
				size_t ihp = oh * sh + i * dh;

				if (ihp < pt || ihp - pt >= H) {
					for (r = 0; r < PW; r++)
						row[r] = padv;
					continue;
				}
				for (r = 0; r < pl; r++)
					row[r] = padv;
				memcpy(row + pl, xp + (ihp - pt) * W, W * sizeof(float));
				for (r = pl + W; r < PW; r++)
					row[r] = padv;
			}
			for (ow = 0; ow < OW; ow += VF_N) {
				vf acc = vf_set1(padv);
				vm nan = vf_lt(acc, acc); /* all false */

				for (i = 0; i < kh; i++) {
					const float *row = rows + i * PW + ow * sw;

					for (j = 0; j < kw; j++) {
						vf v = sw == 1 ? vf_load(row + j * dw) :
								 vf_load_s2(row + j * dw);

						if (is_max) {
							nan = vm_or(nan, vf_isnan(v));
							acc = vf_max(v, acc);
						} else {
							acc = vf_add(acc, v);
						}
					}
				}
				if (is_max)
					acc = vf_sel(nan, vf_set1(__builtin_nanf("")), acc);
				else if (count_include_pad)
					acc = vf_div(acc, vfull);
				else {
					/* No valid input under the window: 0, as ref. */
					vf d = vf_mul(vrv, vf_load(colcnt + ow));

					acc = vf_sel(vf_lt(d, vf_set1(0.5f)), vf_zero(), vf_div(acc, d));
				}
				if (OW - ow >= VF_N)
					vf_store(yp + oh * OW + ow, acc);
				else
					vf_storen(yp + oh * OW + ow, acc, OW - ow);
			}
		}
	}
}
