/*
 * GEMM micro-kernel and packing for AVX2 + FMA: a 6 x 16 register tile
 * (12 accumulators + 2 B vectors + 1 broadcast of the 16 ymm registers).
 * Blocking as for AVX-512 (gemm/avx512.c), with a 16 KiB B micro-panel.
 */
#include "engine/kernels/eml_kernels_int.h"
#include "engine/kernels/simd/vf_avx2.h"
#include "engine/kernels/simd/vmath.h"

#define GEMM_MR 6
#define GEMM_NV 2
#define GEMM_TAG 6x16
#include "engine/kernels/gemm/gemm_tmpl.h"

const struct eml_gemm_impl eml_gemm_avx2 = {
	.mr = GEMM_MR,
	.nr = GEMM_NR,
	.mc = GEMM_MR * 24,
	.kc = 256,
	.nc = GEMM_NR * 32,
	.pack_a = gemm_pack_a_6x16,
	.pack_b = gemm_pack_b_6x16,
	.kernel = gemm_kernel_6x16,
};

/* The benchmark's peak: 12 independent FMA chains, 2 flops x 8 lanes. */
float
eml_fma_peak_avx2(size_t iters)
{
	__m256 acc[12];
	__m256 m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
	size_t i;
	int j;

	for (j = 0; j < 12; j++)
		acc[j] = _mm256_set1_ps((float)j);
	for (i = 0; i < iters; i++) {
#pragma GCC unroll 12
		for (j = 0; j < 12; j++)
			acc[j] = _mm256_fmadd_ps(acc[j], m, a);
	}
	for (j = 1; j < 12; j++)
		acc[0] = _mm256_add_ps(acc[0], acc[j]);
	return vf_hsum(acc[0]);
}
