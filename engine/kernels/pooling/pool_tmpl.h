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
 * - Max is separable (pl_max_sep): each input row's horizontal maxima
 *   (kw taps) are made once into a strip buffer, then each output row is
 *   the maximum of kh of those rows; a 3x3/2 window reads 3 + 3 values per
 *   output instead of 9, and each input row is copied once, not once per
 *   output row that reads it. Equal to ref bit for bit: ref keeps the
 *   first value in (i, j) order that no later one exceeds (a strict >), and
 *   so do the row pass (first j) and the column pass (first i): the same
 *   element, so -0 and +0 ties resolve alike; a NaN anywhere in a window
 *   is carried through both passes by a mask, kept only for rows whose
 *   copy into the padded buffer saw a NaN (one compare per input vector
 *   instead of one per tap).
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

#define PL_HBUF 6144 /* floats: a padded input row, then a strip's row maxima */

/* One vector of maxima: lanes with a NaN among the values become NaN. */
static inline vf
PL_NAME(pl_nan_fix)(vm nan, vf acc)
{
	return vf_sel(nan, vf_set1(__builtin_nanf("")), acc);
}

/* Row maxima of one padded row: h[ow] = max over j < kw of
 * row[ow sw + j dw], ow < OWp (a multiple of VF_N). */
static inline __attribute__((always_inline)) void
PL_NAME(pl_hrow)(const float *row, float *h, size_t OWp, size_t kw, size_t sw, size_t dw,
    bool chk)
{
	for (size_t ow = 0; ow < OWp; ow += VF_N) {
		const float *s = row + ow * sw;
		vf acc = vf_set1(-__builtin_inff());
		vm nan = vf_lt(acc, acc); /* all false */

		for (size_t j = 0; j < kw; j++) {
			vf v = sw == 1 ? vf_load(s + j * dw) : vf_load_s2(s + j * dw);

			if (chk)
				nan = vm_or(nan, vf_isnan(v));
			acc = vf_max(v, acc);
		}
		vf_store(h + ow, chk ? PL_NAME(pl_nan_fix)(nan, acc) : acc);
	}
}

/* One output row: y[ow] = max over i < kh of h0[i dh OWp + ow]. */
static inline __attribute__((always_inline)) void
PL_NAME(pl_vrow)(const float *h0, float *y, size_t OW, size_t OWp, size_t kh, size_t dh,
    bool chk)
{
	for (size_t ow = 0; ow < OW; ow += VF_N) {
		vf acc = vf_set1(-__builtin_inff());
		vm nan = vf_lt(acc, acc);

		for (size_t i = 0; i < kh; i++) {
			vf v = vf_load(h0 + i * dh * OWp + ow);

			if (chk)
				nan = vm_or(nan, vf_isnan(v));
			acc = vf_max(v, acc);
		}
		if (chk)
			acc = PL_NAME(pl_nan_fix)(nan, acc);
		if (OW - ow >= VF_N)
			vf_store(y + ow, acc);
		else
			vf_storen(y + ow, acc, OW - ow);
	}
}

/* Max pooling, separable (see the top). False when a strip of one
 * output row does not fit the buffer (the caller then takes the
 * general path). */
static __attribute__((noinline)) bool
PL_NAME(pl_max_sep)(size_t NC, size_t H, size_t W, size_t kh, size_t kw, size_t sh,
    size_t sw, size_t dh, size_t dw, size_t pt, size_t pl, size_t OH, size_t OW, size_t PW,
    const float *x, float *y)
{
	float buf[PL_HBUF] EML_NOINIT;
	bool hnan[PL_HBUF / VF_N] EML_NOINIT; /* per strip row: a NaN in it */
	size_t OWp = (OW + VF_N - 1) / VF_N * VF_N, ekh = (kh - 1) * dh + 1;
	size_t room, per, c, oh0, oh1, r, r0, r1, ow;
	float *row = buf, *hb = buf + PW;
	const vf ninf = vf_set1(-__builtin_inff());

	if (PW + ekh * OWp > PL_HBUF)
		return false;
	room = (PL_HBUF - PW) / OWp; /* input rows a strip can hold: >= ekh */
	/* Output rows per strip: (per - 1) sh + ekh input rows. */
	per = 1 + (room - ekh) / sh;
	/* The row's padding stays -inf; only [pl, pl + W) is rewritten. */
	for (r = 0; r < PW; r++)
		row[r] = -__builtin_inff();
	for (c = 0; c < NC; c++) {
		const float *xp = x + c * H * W;
		float *yp = y + c * OH * OW;

		for (oh0 = 0; oh0 < OH; oh0 = oh1) {
			oh1 = OH - oh0 < per ? OH : oh0 + per;
			/* Padded input rows [r0, r1) of the strip. */
			r0 = oh0 * sh;
			r1 = (oh1 - 1) * sh + ekh;
			for (r = r0; r < r1; r++) {
				float *h = hb + (r - r0) * OWp;

				if (r < pt || r - pt >= H) {
					for (ow = 0; ow < OWp; ow += VF_N)
						vf_store(h + ow, ninf);
					hnan[r - r0] = false;
					continue;
				}
				/* The copy notes a NaN in the row: only then do the
				 * passes carry NaN masks (x86 max drops a NaN). */
				{
					const float *src = xp + (r - pt) * W;
					vm nan = vf_lt(ninf, ninf);
					size_t j;

					for (j = 0; j + VF_N <= W; j += VF_N) {
						vf v = vf_load(src + j);

						nan = vm_or(nan, vf_isnan(v));
						vf_store(row + pl + j, v);
					}
					if (j < W) {
						vf v = vf_loadn(src + j, W - j);

						nan = vm_or(nan, vf_isnan(v));
						vf_storen(row + pl + j, v, W - j);
					}
					hnan[r - r0] = vm_any(nan);
				}
				/* The common windows with constant taps (unrolled). */
				if (hnan[r - r0])
					PL_NAME(pl_hrow)(row, h, OWp, kw, sw, dw, true);
				else if (kw == 3 && sw == 2 && dw == 1)
					PL_NAME(pl_hrow)(row, h, OWp, 3, 2, 1, false);
				else if (kw == 3 && sw == 1 && dw == 1)
					PL_NAME(pl_hrow)(row, h, OWp, 3, 1, 1, false);
				else
					PL_NAME(pl_hrow)(row, h, OWp, kw, sw, dw, false);
			}
			for (size_t oh = oh0; oh < oh1; oh++) {
				const float *h0 = hb + (oh * sh - r0) * OWp;
				float *yr = yp + oh * OW;
				bool chk = false;

				for (size_t i = 0; i < kh; i++)
					chk = chk || hnan[oh * sh - r0 + i * dh];
				if (chk)
					PL_NAME(pl_vrow)(h0, yr, OW, OWp, kh, dh, true);
				else if (kh == 3 && dh == 1)
					PL_NAME(pl_vrow)(h0, yr, OW, OWp, 3, 1, false);
				else
					PL_NAME(pl_vrow)(h0, yr, OW, OWp, kh, dh, false);
			}
		}
	}
	return true;
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
	if (is_max && PL_NAME(pl_max_sep)(NC, H, W, kh, kw, sh, sw, dh, dw, pt, pl, OH, OW, PW,
			  x, y))
		return;
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
