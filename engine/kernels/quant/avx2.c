/* float16 <-> float32 with F16C (vcvtph2ps / vcvtps2ph, round to nearest
 * even); tails through the scalar conversion. */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/quant/quant_int.h"

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
	for (; i < n; i++)
		y[i] = eml_half_to_float(eml_float_to_half(x[i]));
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
	int32_t t[16];

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
	const uint8_t *r[4];
	__m256i acc[4][2], av[4];
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
	const uint8_t *r[4];
	__m256i acc[4][2];
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
