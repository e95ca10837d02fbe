/*
 * Winograd F(2x2, 3x3) input and output transforms (conv.c runs the 16
 * GEMMs in between), instantiated per ISA with WI_IN / WI_OUT.
 *
 * Tiles: output tile (th, tw) is rows 2th..2th+1, columns 2tw..2tw+1; it
 * reads the 4x4 input patch at (2th - pad_top, 2tw - pad_left), zero
 * outside the image. With B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 * and A^T = [1 1 1 0; 0 1 -1 -1]:
 *   V = B^T d B  (16 values per tile and channel)
 *   Y = A^T (U .* V summed over channels) A
 * The loops run along tw over unit-stride arrays (an input row is split
 * into its even and odd columns first) so the compiler vectorises them;
 * only additions and subtractions in a fixed order, so the result does
 * not depend on the vector width chosen.
 */
#if !defined(WI_IN) || !defined(WI_OUT) || !defined(WI_OUT_T)
#error "define WI_IN, WI_OUT and WI_OUT_T before including wino_tmpl.h"
#endif

/* Input row y (zeros outside the image) as row[j] = x[y - pt][j - pl],
 * j in [0, len). */
static void
wi_row(const struct eml_conv2d_params *p, const float *x, size_t y, size_t len, float *row)
{
	size_t j0, j1;

	if (y < p->pad_top || y - p->pad_top >= p->H) {
		memset(row, 0, len * sizeof(float));
		return;
	}
	j0 = p->pad_left < len ? p->pad_left : len;
	j1 = p->pad_left + p->W < len ? p->pad_left + p->W : len;
	memset(row, 0, j0 * sizeof(float));
	if (j1 > j0)
		memcpy(row + j0, x + (y - p->pad_top) * p->W, (j1 - j0) * sizeof(float));
	if (len > j1)
		memset(row + j1, 0, (len - j1) * sizeof(float));
}

/* Padded row length: the stride-2 loads of a vector of tiles starting
 * at any tile of the row read up to 2 (TW + VF_N) + 2 floats. */
static size_t
wi_len(size_t TW)
{
	return 2 * (TW + VF_N) + 4;
}

/* First and last + 1 tile column of tile row th inside the tile range
 * [t0, t1). */
static inline void
wi_cols(size_t TW, size_t t0, size_t t1, size_t th, size_t *a, size_t *b)
{
	*a = th == t0 / TW ? t0 % TW : 0;
	*b = th == (t1 - 1) / TW ? (t1 - 1) % TW + 1 : TW;
}

/*
 * Channel plane x into V for the tiles [t0, t1) (tile t = th * TW + tw):
 * value xi of tile t goes to v[xi * vstride + (r / nr) * pstride + r % nr],
 * r = t - t0: panels of nr tiles pstride floats apart (the GEMM's packed
 * B layout, one channel's row of each panel), or with nr >= t1 - t0 one
 * plain run of tiles. Vectors never straddle a panel.
 * scratch: 4 wi_len(TW) floats (at most 8 TW + 8 VF_N + 16).
 */
void
WI_IN(const struct eml_conv2d_params *p, size_t TW, size_t t0, size_t t1, const float *x,
    float *v, size_t vstride, size_t nr, size_t pstride, float *scratch)
{
	size_t len = wi_len(TW), th, r, k, a, b;
	float *rows[4];

	if (t1 <= t0)
		return;
	for (r = 0; r < 4; r++)
		rows[r] = scratch + r * len;
	for (th = t0 / TW; th <= (t1 - 1) / TW; th++) {
		if (th == t0 / TW) {
			for (r = 0; r < 4; r++)
				wi_row(p, x, 2 * th + r, len, rows[r]);
		} else {
			/* Rows 2 and 3 of the previous tile row are rows 0 and 1. */
			float *tr0 = rows[0], *tr1 = rows[1];

			rows[0] = rows[2];
			rows[1] = rows[3];
			rows[2] = tr0;
			rows[3] = tr1;
			wi_row(p, x, 2 * th + 2, len, rows[2]);
			wi_row(p, x, 2 * th + 3, len, rows[3]);
		}
		wi_cols(TW, t0, t1, th, &a, &b);
		for (k = a; k < b;) {
			/* Per input row r: columns 2tw .. 2tw+3 of cnt tiles. */
			vf d[4][4] EML_NOINIT, t[4][4] EML_NOINIT;
			size_t rel = th * TW + k - t0, lane = rel % nr, c;
			size_t cnt = b - k < VF_N ? b - k : VF_N;
			float *vt = v + (rel / nr) * pstride + lane;

			if (cnt > nr - lane)
				cnt = nr - lane;
			for (r = 0; r < 4; r++)
				for (c = 0; c < 4; c++)
					d[r][c] = vf_load_s2(rows[r] + 2 * k + c);
			/* B^T d: along the rows. */
			for (c = 0; c < 4; c++) {
				t[0][c] = vf_sub(d[0][c], d[2][c]);
				t[1][c] = vf_add(d[1][c], d[2][c]);
				t[2][c] = vf_sub(d[2][c], d[1][c]);
				t[3][c] = vf_sub(d[1][c], d[3][c]);
			}
			/* (B^T d) B: along the columns. */
			for (r = 0; r < 4; r++) {
				vf o[4] EML_NOINIT;

				o[0] = vf_sub(t[r][0], t[r][2]);
				o[1] = vf_add(t[r][1], t[r][2]);
				o[2] = vf_sub(t[r][2], t[r][1]);
				o[3] = vf_sub(t[r][1], t[r][3]);
				for (c = 0; c < 4; c++) {
					float *dst = vt + (4 * r + c) * vstride;

					if (cnt == VF_N)
						vf_store(dst, o[c]);
					else
						vf_storen(dst, o[c], cnt);
				}
			}
			k += cnt;
		}
	}
}

/* a0 b0 a1 b1 ...: the first VF_N into *lo, the rest into *hi. */
static inline void
wi_zip(vf a, vf b, vf *lo, vf *hi)
{
#if VF_N == 16
	const __m512i il = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
	const __m512i ih = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30,
	    15, 31);

	*lo = _mm512_permutex2var_ps(a, il, b);
	*hi = _mm512_permutex2var_ps(a, ih, b);
#else
	__m256 u = _mm256_unpacklo_ps(a, b), w = _mm256_unpackhi_ps(a, b);

	*lo = _mm256_permute2f128_ps(u, w, 0x20);
	*hi = _mm256_permute2f128_ps(u, w, 0x31);
#endif
}

/* WI_OUT's body for one activation (a constant when inlined from the
 * switch below: no dispatch per vector, the blocks stay in registers). */
static inline __attribute__((always_inline)) void
wi_out_body(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t TW, size_t t0,
    size_t t1, const float *mb, size_t mstride, float bias, float *y, enum eml_act act,
    bool r16)
{
	vf vbias = vf_set1(bias), va = vf_set1(p->ep.a), vb = vf_set1(p->ep.b);
	size_t th, j, k, a, ca, cb;

	for (th = t0 / TW; th <= (t1 - 1) / TW; th++) {
		wi_cols(TW, t0, t1, th, &ca, &cb);
		for (k = ca; k < cb; k += VF_N) {
			size_t cnt = cb - k < VF_N ? cb - k : VF_N;
			const float *mt = mb + th * TW + k - t0;
			vf m[16] EML_NOINIT, sa[2][4] EML_NOINIT;

#pragma GCC unroll 16
			for (j = 0; j < 16; j++)
				m[j] = cnt == VF_N ? vf_load(mt + j * mstride) :
						     vf_loadn(mt + j * mstride, cnt);
			/* A^T m: rows 0+1+2 and 1-2-3. */
#pragma GCC unroll 4
			for (j = 0; j < 4; j++) {
				sa[0][j] = vf_add(vf_add(m[j], m[4 + j]), m[8 + j]);
				sa[1][j] = vf_sub(vf_sub(m[4 + j], m[8 + j]), m[12 + j]);
			}
#pragma GCC unroll 2
			for (a = 0; a < 2; a++) {
				size_t oy = 2 * th + a, ox = 2 * k, n;
				vf ye, yo, lo, hi;
				float *yr = y + oy * OW + ox;

				if (oy >= OH)
					break;
				/* (A^T m) A: even and odd output columns. */
				ye = vf_add(vf_add(sa[a][0], sa[a][1]), sa[a][2]);
				yo = vf_sub(vf_sub(sa[a][1], sa[a][2]), sa[a][3]);
				wi_zip(ye, yo, &lo, &hi);
				lo = vf_act(act, vf_add(lo, vbias), va, vb);
				hi = vf_act(act, vf_add(hi, vbias), va, vb);
#if VF_N == 16
				if (r16) { /* vcvtps2ph as eml_f32_round_f16's F16C */
					lo = _mm512_cvtph_ps(
					    _mm512_cvtps_ph(lo, _MM_FROUND_TO_NEAREST_INT));
					hi = _mm512_cvtph_ps(
					    _mm512_cvtps_ph(hi, _MM_FROUND_TO_NEAREST_INT));
				}
#endif
				n = OW - ox; /* > 0: ox = 2 tw < OW */
				if (n > 2 * cnt)
					n = 2 * cnt;
				if (n >= 2 * VF_N) {
					vf_store(yr, lo);
					vf_store(yr + VF_N, hi);
				} else if (n > VF_N) {
					vf_store(yr, lo);
					vf_storen(yr + VF_N, hi, n - VF_N);
				} else {
					vf_storen(yr, lo, n);
				}
#if VF_N != 16
				/* AVX2 does not imply F16C: the dispatched rounding. */
				if (r16)
					eml_f32_round_f16(n, yr, yr);
#endif
			}
		}
	}
}

/*
 * The 16 GEMM results of one output channel for the tiles [t0, t1)
 * (value xi of tile t at mb[xi * mstride + t - t0]) into the plane y,
 * + bias, then the activation, then with round16 rounded to float16
 * values as they are stored. scratch: unused.
 */
void
WI_OUT(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t TW, size_t t0,
    size_t t1, const float *mb, size_t mstride, float bias, float *y, float *scratch,
    bool round16)
{
	(void)scratch;
	if (t1 <= t0)
		return;
	switch (p->ep.act) {
	case EML_ACT_NONE:
		wi_out_body(p, OH, OW, TW, t0, t1, mb, mstride, bias, y, EML_ACT_NONE, round16);
		break;
	case EML_ACT_RELU:
		wi_out_body(p, OH, OW, TW, t0, t1, mb, mstride, bias, y, EML_ACT_RELU, round16);
		break;
	default:
		wi_out_body(p, OH, OW, TW, t0, t1, mb, mstride, bias, y, p->ep.act, round16);
		break;
	}
}

/*
 * Transposed form (small images): the GEMM results are ct[xi][t][m]
 * (tiles as rows, ct[xi * xs + t * M + m], t counted from the band's
 * first tile row th0), so the output transform runs along the output
 * channels: for tile row th, every tile and the channels [m0, m1),
 * + bias (NULL: none), then the activation, each of the four
 * results scattered into its plane of y [M][OH][OW].
 */
void
WI_OUT_T(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t TW, size_t th0,
    size_t th, const float *ct, size_t xs, const float *bias, size_t m0, size_t m1, float *y)
{
	size_t M = p->M, HW = OH * OW, tw, m, j, l, a, b;
	vf va = vf_set1(p->ep.a), vb = vf_set1(p->ep.b);
	float out[4][VF_N] EML_NOINIT;

	for (tw = 0; tw < TW; tw++) {
		const float *c = ct + ((th - th0) * TW + tw) * M;

		for (m = m0; m < m1; m += VF_N) {
			size_t cnt = m1 - m < VF_N ? m1 - m : VF_N;
			vf v[16] EML_NOINIT, sa[2][4] EML_NOINIT, vbias;

			for (j = 0; j < 16; j++)
				v[j] = cnt == VF_N ? vf_load(c + j * xs + m) :
						     vf_loadn(c + j * xs + m, cnt);
			vbias = bias == NULL ? vf_zero() :
			    cnt == VF_N	     ? vf_load(bias + m) :
						     vf_loadn(bias + m, cnt);
			for (j = 0; j < 4; j++) {
				sa[0][j] = vf_add(vf_add(v[j], v[4 + j]), v[8 + j]);
				sa[1][j] = vf_sub(vf_sub(v[4 + j], v[8 + j]), v[12 + j]);
			}
			for (a = 0; a < 2; a++) {
				vf ye = vf_add(vf_add(sa[a][0], sa[a][1]), sa[a][2]);
				vf yo = vf_sub(vf_sub(sa[a][1], sa[a][2]), sa[a][3]);

				vf_store(out[2 * a], vf_act(p->ep.act, vf_add(ye, vbias), va, vb));
				vf_store(out[2 * a + 1], vf_act(p->ep.act, vf_add(yo, vbias), va, vb));
			}
			for (a = 0; a < 2; a++) {
				size_t oy = 2 * th + a;

				if (oy >= OH)
					break;
				for (b = 0; b < 2; b++) {
					size_t ox = 2 * tw + b;
					float *d = y + m * HW + oy * OW + ox;

					if (ox >= OW)
						break;
					for (l = 0; l < cnt; l++)
						d[l * HW] = out[2 * a + b][l];
				}
			}
		}
	}
}
