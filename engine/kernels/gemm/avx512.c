/*
 * GEMM micro-kernel and packing for AVX-512: a 14 x 32 register tile
 * (28 accumulators + 2 B vectors + 1 broadcast of the 32 zmm registers).
 * Per k step: 2 loads of B, 14 broadcasts of A, 28 FMAs.
 *
 * Blocking (EPYC Zen 5: 48 KiB L1D, 1 MiB L2 per core): a B micro-panel
 * of kc x 32 floats = 32 KiB at kc = 256 stays in L1 while the A block
 * mc x kc = 168 x 256 x 4 = 168 KiB streams from L2; nc bounds the B
 * block packed per call (kc x nc = 1 MiB at nc = 1024, L2/L3).
 */
#include "engine/kernels/eml_kernels_int.h"
#include "engine/kernels/simd/vf_avx512.h"
#include "engine/kernels/simd/vmath.h"

#define GEMM_MR 14
#define GEMM_NV 2
#define GEMM_TAG 14x32
#define GEMM_IND
#include "engine/kernels/gemm/gemm_tmpl.h"
#undef GEMM_IND

const struct eml_gemm_impl eml_gemm_avx512 = {
	.mr = GEMM_MR,
	.nr = GEMM_NR,
	.mc = GEMM_MR * 12,
	.kc = 256,
	.nc = GEMM_NR * 16,
	.pack_a = gemm_pack_a_14x32,
	.pack_b = gemm_pack_b_14x32,
	.kernel = gemm_kernel_14x32,
	.kernel_ind = gemm_kernel_ind_14x32,
};

#undef GEMM_MR
#undef GEMM_NV
#undef GEMM_NR
#undef GEMM_TAG

/*
 * 8 x 48: 24 accumulators, 3 B vectors and 8 broadcasts per k step for 24
 * FMAs (fewer loads per FMA than 14 x 32). Eight rows divide the channel
 * counts of the ResNet shapes (64..512) exactly, where 14 leaves a
 * partial tile; the convolution plans and unpacked GEMMs pick whichever of
 * the two pads the M x N grid less (eml_gemm_avx512_pick).
 */
#define GEMM_MR 8
#define GEMM_NV 3
#define GEMM_TAG 8x48
#include "engine/kernels/gemm/gemm_tmpl.h"

const struct eml_gemm_impl eml_gemm_avx512_8x48 = {
	.mr = GEMM_MR,
	.nr = GEMM_NR,
	.mc = GEMM_MR * 24,
	.kc = 256,
	.nc = GEMM_NR * 10,
	.pack_a = gemm_pack_a_8x48,
	.pack_b = gemm_pack_b_8x48,
	.kernel = gemm_kernel_8x48,
};

/* The benchmark's peak: 12 independent FMA chains (enough to cover the FMA
 * latency on both pipes), 2 flops x 16 lanes each per instruction. */
float
eml_fma_peak_avx512(size_t iters)
{
	__m512 acc[12];
	__m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
	size_t i;
	int j;

	for (j = 0; j < 12; j++)
		acc[j] = _mm512_set1_ps((float)j);
	for (i = 0; i < iters; i++) {
#pragma GCC unroll 12
		for (j = 0; j < 12; j++)
			acc[j] = _mm512_fmadd_ps(acc[j], m, a);
	}
	for (j = 1; j < 12; j++)
		acc[0] = _mm512_add_ps(acc[0], acc[j]);
	return _mm512_reduce_add_ps(acc[0]);
}
