/*
 * int8 GEMM with AVX-512 VNNI (EVEX vpdpbusd on zmm): 8 x 32 tile over the
 * quads layout (16 accumulators + 2 B + broadcast), exact like AVX-VNNI.
 * Chosen only when the kernel table is AVX-512 and CPUID.(7,0):ECX bit 11
 * is set (qgemm.c).
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
qgemm_kernel_avx512vnni(size_t K, const uint8_t *A, size_t lda, uint8_t axor,
    const void *panel, int32_t *c, size_t ldc, size_t m, size_t n)
{
	const __m512i *b = panel;
	uint32_t x4 = axor * 0x01010101u;
	__m512i acc[8][2];
	size_t i;

	for (i = 0; i < 8; i++)
		acc[i][0] = acc[i][1] = _mm512_setzero_si512();
	for (size_t k = 0; k < K; k += 4, b += 2) {
		__m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 1);
#pragma GCC unroll 8
		for (i = 0; i < 8; i++) {
			if (i < m) {
				__m512i av = _mm512_set1_epi32(quad_at(A + i * lda, k, K, x4));
				acc[i][0] = _mm512_dpbusd_epi32(acc[i][0], av, b0);
				acc[i][1] = _mm512_dpbusd_epi32(acc[i][1], av, b1);
			}
		}
	}
	for (i = 0; i < m; i++) {
		__mmask16 m0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
		__mmask16 m1 = (__mmask16)(n <= 16 ? 0 : n >= 32 ? 0xffff : (1u << (n - 16)) - 1);
		_mm512_mask_storeu_epi32(c + i * ldc, m0, acc[i][0]);
		_mm512_mask_storeu_epi32(c + i * ldc + 16, m1, acc[i][1]);
	}
}

const struct eml_qgemm_impl eml_qgemm_avx512vnni = {
	.name = "avx512vnni",
	.mr = 8,
	.nr = 32,
	.kg = 4,
	.kernel = qgemm_kernel_avx512vnni,
};
