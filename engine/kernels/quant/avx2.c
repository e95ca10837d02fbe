/* float16 <-> float32 with F16C (vcvtph2ps / vcvtps2ph, round to nearest
 * even); the conversions' tails through the scalar conversion, the
 * rounding's through F16C. */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/quant/quant_int.h"
#include "engine/kernels/quant/t8x16.h"

void
eml_f16_to_f32_f16c(size_t n, const uint16_t *x, float *y)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(x + i))));
	for (; i < n; i++)
		y[i] = eml_half_to_float(x[i]);
}

void
eml_f32_to_f16_f16c(size_t n, const float *x, uint16_t *y)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8)
		_mm_storeu_si128((__m128i *)(y + i),
		    _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
	for (; i < n; i++)
		y[i] = eml_float_to_half(x[i]);
}

void
eml_f32_round_f16_f16c(size_t n, const float *x, float *y)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i h = _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT);
		_mm256_storeu_ps(y + i, _mm256_cvtph_ps(h));
	}
	/* The tail through the same instruction (a row's last few outputs
	 * when a kernel rounds what it wrote): the bits, NaN payloads too,
	 * do not depend on where a call starts and ends. */
	if (i < n) {
		float t[8] = { 0 };

		memcpy(t, x + i, (n - i) * sizeof(float));
		_mm256_storeu_ps(t, _mm256_cvtph_ps(_mm256_cvtps_ph(_mm256_loadu_ps(t),
		    _MM_FROUND_TO_NEAREST_INT)));
		memcpy(y + i, t, (n - i) * sizeof(float));
	}
}

/* ------------------------------------------------ int8 GEMM, AVX2 */

/* A's 4 bytes k .. k + 3 of one row as a 32-bit lane (zero past K). */
static inline int32_t
quad_at(const uint8_t *row, size_t k, size_t K, uint32_t x4)
{
	uint32_t q = 0;

	if (k + 4 <= K)
		memcpy(&q, row + k, 4);
	else
		for (size_t t = 0; k + t < K; t++)
			q |= (uint32_t)row[k + t] << (8 * t);
	return (int32_t)(q ^ x4);
}

/* A's bytes k, k + 1 as two int16 in one lane (zero past K). */
static inline int32_t
pair_at(const uint8_t *row, size_t k, size_t K, uint8_t axor)
{
	uint32_t lo = (uint32_t)(row[k] ^ axor);
	uint32_t hi = k + 1 < K ? (uint32_t)(row[k + 1] ^ axor) : 0;

	return (int32_t)(lo | hi << 16);
}

/* Stores an accumulator pair (16 columns) of one row, n of them. */
static inline void
store_row(int32_t *c, __m256i v0, __m256i v1, size_t n)
{
	int32_t t[16] EML_NOINIT; /* stored whole before read */

	if (n == 16) {
		_mm256_storeu_si256((__m256i *)(void *)c, v0);
		_mm256_storeu_si256((__m256i *)(void *)(c + 8), v1);
		return;
	}
	_mm256_storeu_si256((__m256i *)(void *)t, v0);
	_mm256_storeu_si256((__m256i *)(void *)(t + 8), v1);
	memcpy(c, t, n * 4);
}

/* One quad step of the 4 x 16 vpmaddubsw tile: 4 rows' quads av[] against
 * the two B vectors. */
#define MADDUBS_STEP(i)                                                            \
	do {                                                                       \
		__m256i t0 = _mm256_madd_epi16(_mm256_maddubs_epi16(av[i], b0), ones); \
		__m256i t1 = _mm256_madd_epi16(_mm256_maddubs_epi16(av[i], b1), ones); \
		acc[i][0] = _mm256_add_epi32(acc[i][0], t0);                        \
		acc[i][1] = _mm256_add_epi32(acc[i][1], t1);                        \
	} while (0)

/*
 * 4 x 16 tile, quads: vpmaddubsw (u8 x s8 -> pairs summed to int16, which
 * the packer proved cannot saturate for this B), vpmaddwd with ones (int16
 * pairs -> int32), vpaddd. 8 accumulators + 2 B + ones + A + temp. Rows
 * past m read row 0 again (never past the matrix) and are not stored.
 */
static void
qgemm_kernel_maddubs(size_t K, const uint8_t *A, size_t lda, uint8_t axor, const void *panel,
    int32_t *c, size_t ldc, size_t m, size_t n)
{
	const __m256i *b = panel;
	const __m256i ones = _mm256_set1_epi16(1);
	const __m256i x4 = _mm256_set1_epi8((char)axor);
	const uint8_t *r[4] EML_NOINIT;
	__m256i acc[4][2] EML_NOINIT, av[4] EML_NOINIT;
	size_t i, k = 0, K4 = K & ~(size_t)3;

	for (i = 0; i < 4; i++) {
		acc[i][0] = acc[i][1] = _mm256_setzero_si256();
		r[i] = A + (i < m ? i : 0) * lda;
	}
	for (; k < K4; k += 4, b += 2) {
		__m256i b0 = _mm256_loadu_si256(b), b1 = _mm256_loadu_si256(b + 1);
		for (i = 0; i < 4; i++) {
			int32_t q;
			memcpy(&q, r[i] + k, 4);
			av[i] = _mm256_xor_si256(_mm256_set1_epi32(q), x4);
		}
		MADDUBS_STEP(0);
		MADDUBS_STEP(1);
		MADDUBS_STEP(2);
		MADDUBS_STEP(3);
	}
	if (k < K) {
		__m256i b0 = _mm256_loadu_si256(b), b1 = _mm256_loadu_si256(b + 1);
		for (i = 0; i < 4; i++)
			av[i] = _mm256_set1_epi32(quad_at(r[i], k, K, axor * 0x01010101u));
		MADDUBS_STEP(0);
		MADDUBS_STEP(1);
		MADDUBS_STEP(2);
		MADDUBS_STEP(3);
	}
	for (i = 0; i < m; i++)
		store_row(c + i * ldc, acc[i][0], acc[i][1], n);
}

/* 4 x 16 tile, int16 pairs: vpmaddwd is exact for any int8 B. */
static void
qgemm_kernel_madd(size_t K, const uint8_t *A, size_t lda, uint8_t axor, const void *panel,
    int32_t *c, size_t ldc, size_t m, size_t n)
{
	const __m256i *b = panel;
	const uint8_t *r[4] EML_NOINIT;
	__m256i acc[4][2] EML_NOINIT;
	size_t i;

	for (i = 0; i < 4; i++) {
		acc[i][0] = acc[i][1] = _mm256_setzero_si256();
		r[i] = A + (i < m ? i : 0) * lda;
	}
	for (size_t k = 0; k < K; k += 2, b += 2) {
		__m256i b0 = _mm256_loadu_si256(b), b1 = _mm256_loadu_si256(b + 1);
#pragma GCC unroll 4
		for (i = 0; i < 4; i++) {
			__m256i av = _mm256_set1_epi32(pair_at(r[i], k, K, axor));
			acc[i][0] = _mm256_add_epi32(acc[i][0], _mm256_madd_epi16(av, b0));
			acc[i][1] = _mm256_add_epi32(acc[i][1], _mm256_madd_epi16(av, b1));
		}
	}
	for (i = 0; i < m; i++)
		store_row(c + i * ldc, acc[i][0], acc[i][1], n);
}

const struct eml_qgemm_impl eml_qgemm_avx2_maddubs = {
	.name = "avx2-maddubs",
	.mr = 4,
	.nr = 16,
	.kg = 4,
	.kernel = qgemm_kernel_maddubs,
};

const struct eml_qgemm_impl eml_qgemm_avx2_madd = {
	.name = "avx2-madd",
	.mr = 4,
	.nr = 16,
	.kg = 2,
	.kernel = qgemm_kernel_madd,
};

/* The bench's peak: vpmaddubsw + vpmaddwd + vpaddd on 4 different A
 * registers, twice per iteration into 4 accumulators (an empty asm makes
 * the A registers new every iteration, so nothing is hoisted or shared;
 * few enough registers that nothing spills), 32 u8 x s8 multiply-adds
 * (64 ops) per step. */
#define PEAK_STEP(c, a) c = _mm256_add_epi32(c, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones))
int32_t
eml_qgemm_peak_avx2(size_t iters, double *ops)
{
	const __m256i ones = _mm256_set1_epi16(1);
	__m256i b = _mm256_set1_epi8(-2);
	__m256i a0 = _mm256_set1_epi8(1), a1 = _mm256_set1_epi8(2), a2 = _mm256_set1_epi8(3);
	__m256i a3 = _mm256_set1_epi8(4);
	__m256i c0 = _mm256_setzero_si256(), c1 = c0, c2 = c0, c3 = c0;
	int32_t out[8];

	for (size_t i = 0; i < iters; i++) {
		__asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3));
		PEAK_STEP(c0, a0);
		PEAK_STEP(c1, a1);
		PEAK_STEP(c2, a2);
		PEAK_STEP(c3, a3);
		__asm__ volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3));
		PEAK_STEP(c0, a0);
		PEAK_STEP(c1, a1);
		PEAK_STEP(c2, a2);
		PEAK_STEP(c3, a3);
	}
	c0 = _mm256_add_epi32(_mm256_add_epi32(c0, c1), _mm256_add_epi32(c2, c3));
	_mm256_storeu_si256((__m256i *)(void *)out, c0);
	*ops = (double)iters * 8 * 64;
	return out[0];
}

/* ------------------------------------------------ requantization, AVX2 */

/* 8 columns of one row as int32, requantized (before the zp and clamp). */
static inline __m256i
rq8(const int32_t *c, const int32_t *bias, const float *mult)
{
	__m256i a = _mm256_loadu_si256((const __m256i *)(const void *)c);
	__m256 v;

	if (bias != NULL)
		a = _mm256_add_epi32(a, _mm256_loadu_si256((const __m256i *)(const void *)bias));
	v = _mm256_mul_ps(_mm256_cvtepi32_ps(a), _mm256_loadu_ps(mult));
	v = _mm256_max_ps(v, _mm256_set1_ps(-4194304.0f));
	v = _mm256_min_ps(v, _mm256_set1_ps(4194304.0f));
	return _mm256_cvtps_epi32(v); /* nearest even in the default mode */
}

/* 16 columns of one row as 16 bytes, saturated and clamped. */
static inline __m128i
rq16(const struct eml_qrequant *r, const int32_t *c, size_t j, __m256i zp, __m128i lo,
    __m128i hi)
{
	const int32_t *b = r->bias != NULL ? r->bias + j : NULL;
	__m256i v0 = _mm256_add_epi32(rq8(c + j, b, r->mult + j), zp);
	__m256i v1 = _mm256_add_epi32(rq8(c + j + 8, b != NULL ? b + 8 : NULL, r->mult + j + 8), zp);
	/* packs works per 128-bit lane: [v0 lo, v1 lo, v0 hi, v1 hi] */
	__m256i w = _mm256_permute4x64_epi64(_mm256_packs_epi32(v0, v1), 0xd8);
	__m128i wl = _mm256_castsi256_si128(w), wh = _mm256_extracti128_si256(w, 1);

	if (r->y_signed)
		return _mm_min_epi8(_mm_max_epi8(_mm_packs_epi16(wl, wh), lo), hi);
	return _mm_min_epu8(_mm_max_epu8(_mm_packus_epi16(wl, wh), lo), hi);
}

void
eml_qrequant_t_avx2(const struct eml_qrequant *r, size_t m, size_t n, const int32_t *C,
    size_t ldc, void *y, size_t ldy)
{
	__m256i zp = _mm256_set1_epi32(r->zp);
	__m128i lo = _mm_set1_epi8((char)r->lo), hi = _mm_set1_epi8((char)r->hi);
	uint8_t *yb = y;
	size_t i = 0, j;

	if (r->rows) {
		/* [pixel][channel]: each row's 16 columns are 16 bytes in place */
		for (i = 0; i < m; i++) {
			for (j = 0; j + 16 <= n; j += 16)
				_mm_storeu_si128((__m128i *)(void *)(yb + i * ldy + j),
				    rq16(r, C + i * ldc, j, zp, lo, hi));
			if (j < n) {
				struct eml_qrequant t = *r;
				t.bias = r->bias != NULL ? r->bias + j : NULL;
				t.mult = r->mult + j;
				eml_qrequant_t_ref(&t, 1, n - j, C + i * ldc + j, ldc, yb + i * ldy + j,
				    ldy);
			}
		}
		return;
	}
	for (; i + 8 <= m; i += 8) {
		for (j = 0; j + 16 <= n; j += 16) {
			__m128i rows[8] EML_NOINIT;
			for (int k = 0; k < 8; k++)
				rows[k] = rq16(r, C + (i + (size_t)k) * ldc, j, zp, lo, hi);
			eml_store_t8x16(rows, yb + j * ldy + i, ldy);
		}
		if (j < n) {
			struct eml_qrequant t = *r;
			t.bias = r->bias != NULL ? r->bias + j : NULL;
			t.mult = r->mult + j;
			eml_qrequant_t_ref(&t, 8, n - j, C + i * ldc + j, ldc, yb + j * ldy + i, ldy);
		}
	}
	if (i < m)
		eml_qrequant_t_ref(r, m - i, n, C + i * ldc, ldc, yb + i, ldy);
}

/* 16 x 16 bytes: rows of src into columns of dst. */
static inline void
transpose16(const uint8_t *src, size_t lds, uint8_t *dst, size_t ldd)
{
	__m128i a[16] EML_NOINIT, b[16] EML_NOINIT;

	for (int k = 0; k < 16; k++)
		a[k] = _mm_loadu_si128((const __m128i *)(const void *)(src + (size_t)k * lds));
	for (int k = 0; k < 8; k++) {
		b[k] = _mm_unpacklo_epi8(a[2 * k], a[2 * k + 1]);
		b[k + 8] = _mm_unpackhi_epi8(a[2 * k], a[2 * k + 1]);
	}
	for (int k = 0; k < 4; k++) {
		a[k] = _mm_unpacklo_epi16(b[2 * k], b[2 * k + 1]);
		a[k + 4] = _mm_unpackhi_epi16(b[2 * k], b[2 * k + 1]);
		a[k + 8] = _mm_unpacklo_epi16(b[8 + 2 * k], b[8 + 2 * k + 1]);
		a[k + 12] = _mm_unpackhi_epi16(b[8 + 2 * k], b[8 + 2 * k + 1]);
	}
	/* a[4h + k]: rows 4k..4k+3 of columns 4h..4h+3 */
	for (int h = 0; h < 4; h++)
		for (int k = 0; k < 2; k++) {
			b[4 * h + k] = _mm_unpacklo_epi32(a[4 * h + 2 * k], a[4 * h + 2 * k + 1]);
			b[4 * h + k + 2] = _mm_unpackhi_epi32(a[4 * h + 2 * k], a[4 * h + 2 * k + 1]);
		}
	/* b[4h + 2p + k]: rows 8k..8k+7 of columns 4h + 2p and 4h + 2p + 1 */
	for (int h = 0; h < 4; h++)
		for (int q = 0; q < 2; q++) {
			a[4 * h + 2 * q] = _mm_unpacklo_epi64(b[4 * h + 2 * q], b[4 * h + 2 * q + 1]);
			a[4 * h + 2 * q + 1] =
			    _mm_unpackhi_epi64(b[4 * h + 2 * q], b[4 * h + 2 * q + 1]);
		}
	for (int k = 0; k < 16; k++)
		_mm_storeu_si128((__m128i *)(void *)(dst + (size_t)k * ldd), a[k]);
}

void
eml_u8_transpose_avx2(size_t rows, size_t cols, const uint8_t *src, size_t lds, uint8_t *dst,
    size_t ldd)
{
	size_t r0 = 0, c0;

	for (; r0 + 16 <= rows; r0 += 16) {
		for (c0 = 0; c0 + 16 <= cols; c0 += 16)
			transpose16(src + r0 * lds + c0, lds, dst + c0 * ldd + r0, ldd);
		if (c0 < cols)
			eml_u8_transpose_ref(16, cols - c0, src + r0 * lds + c0, lds,
			    dst + c0 * ldd + r0, ldd);
	}
	if (r0 < rows)
		eml_u8_transpose_ref(rows - r0, cols, src + r0 * lds, lds, dst + r0, ldd);
}

/* ------------------------------------------------ quantize / dequantize, AVX2 */

void
eml_quantize_f32_avx2(size_t n, const float *x, float scale, int32_t zp, int32_t lo, int32_t hi,
    bool y_signed, void *y)
{
	__m256 sc = _mm256_set1_ps(scale);
	__m256i z = _mm256_set1_epi32(zp), l = _mm256_set1_epi32(lo), h = _mm256_set1_epi32(hi);
	uint8_t *yb = y;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m256 v = _mm256_div_ps(_mm256_loadu_ps(x + i), sc);
		__m256i nan = _mm256_castps_si256(_mm256_cmp_ps(v, v, _CMP_UNORD_Q));
		__m256i q;
		__m128i w;
		/* past +-2^22 the result saturates anyway; NaN handled below */
		v = _mm256_min_ps(_mm256_max_ps(v, _mm256_set1_ps(-4194304.0f)),
		    _mm256_set1_ps(4194304.0f));
		q = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);
		q = _mm256_blendv_epi8(q, z, nan);
		q = _mm256_min_epi32(_mm256_max_epi32(q, l), h);
		/* in range now: the packs are exact */
		w = _mm_packs_epi32(_mm256_castsi256_si128(q), _mm256_extracti128_si256(q, 1));
		w = y_signed ? _mm_packs_epi16(w, w) : _mm_packus_epi16(w, w);
		_mm_storel_epi64((__m128i *)(void *)(yb + i), w);
	}
	if (i < n)
		eml_quantize_f32_ref(n - i, x + i, scale, zp, lo, hi, y_signed, yb + i);
}

void
eml_dequantize_q8_avx2(size_t n, const void *x, bool x_signed, int32_t zp, float scale, float *y)
{
	const uint8_t *xb = x;
	__m256 sc = _mm256_set1_ps(scale);
	__m256i z = _mm256_set1_epi32(zp);
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		__m128i b = _mm_loadl_epi64((const __m128i *)(const void *)(xb + i));
		__m256i q = x_signed ? _mm256_cvtepi8_epi32(b) : _mm256_cvtepu8_epi32(b);
		q = _mm256_sub_epi32(q, z);
		_mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_cvtepi32_ps(q), sc));
	}
	if (i < n)
		eml_dequantize_q8_ref(n - i, xb + i, x_signed, zp, scale, y + i);
}

void
eml_qgemm_fix_avx2(int32_t *c, size_t n, const int32_t *zb, const int32_t *colsum,
    uint32_t rowsum, int32_t za, uint32_t K)
{
	__m256i rs = _mm256_set1_epi32((int32_t)rowsum), a = _mm256_set1_epi32(za);
	__m256i kza = _mm256_set1_epi32((int32_t)(K * (uint32_t)za));
	size_t j = 0;

	for (; j + 8 <= n; j += 8) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(void *)(c + j));
		__m256i z = _mm256_loadu_si256((const __m256i *)(const void *)(zb + j));
		__m256i cs = _mm256_loadu_si256((const __m256i *)(const void *)(colsum + j));
		/* K za zb - za cs - zb rs, all modulo 2^32 (mullo keeps the low half) */
		v = _mm256_add_epi32(v, _mm256_mullo_epi32(z, _mm256_sub_epi32(kza, rs)));
		v = _mm256_sub_epi32(v, _mm256_mullo_epi32(a, cs));
		_mm256_storeu_si256((__m256i *)(void *)(c + j), v);
	}
	if (j < n)
		eml_qgemm_fix_ref(c + j, n - j, zb + j, colsum + j, rowsum, za, K);
}
