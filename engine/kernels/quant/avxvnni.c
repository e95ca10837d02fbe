/*
 * int8 GEMM with AVX-VNNI (VEX vpdpbusd on ymm): 4 x 16 tile over the
 * quads layout; vpdpbusd adds the four u8 x s8 products of each lane to
 * the int32 accumulator without intermediate saturation, so it is exact.
 * Chosen only when CPUID.(7,1):EAX bit 4 is set (qgemm.c).
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/quant/quant_int.h"

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

static void
qgemm_kernel_avxvnni(size_t K, const uint8_t *A, size_t lda, uint8_t axor, const void *panel,
    int32_t *c, size_t ldc, size_t m, size_t n)
{
	const __m256i *b = panel;
	uint32_t x4 = axor * 0x01010101u;
	__m256i acc[6][2] EML_NOINIT;
	int32_t t[16] EML_NOINIT;
	size_t i;

	for (i = 0; i < 6; i++)
		acc[i][0] = acc[i][1] = _mm256_setzero_si256();
	for (size_t k = 0; k < K; k += 4, b += 2) {
		__m256i b0 = _mm256_loadu_si256(b), b1 = _mm256_loadu_si256(b + 1);
#pragma GCC unroll 6
		for (i = 0; i < 6; i++) {
			if (i < m) {
				__m256i av = _mm256_set1_epi32(quad_at(A + i * lda, k, K, x4));
				acc[i][0] = _mm256_dpbusd_avx_epi32(acc[i][0], av, b0);
				acc[i][1] = _mm256_dpbusd_avx_epi32(acc[i][1], av, b1);
			}
		}
	}
	for (i = 0; i < m; i++) {
		_mm256_storeu_si256((__m256i *)(void *)t, acc[i][0]);
		_mm256_storeu_si256((__m256i *)(void *)(t + 8), acc[i][1]);
		memcpy(c + i * ldc, t, n * 4);
	}
}

const struct eml_qgemm_impl eml_qgemm_avxvnni = {
	.name = "avxvnni",
	.mr = 6,
	.nr = 16,
	.kg = 4,
	.kernel = qgemm_kernel_avxvnni,
};
