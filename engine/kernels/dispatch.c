/*
 * CPU dispatch: one read-only kernel table per ISA, the best one this CPU
 * and OS can run chosen once under pthread_once (STYLE §36).
 *
 * This file is built for baseline x86-64 / armv8-a: nothing here may
 * execute an AVX instruction. Detection reads CPUID for the instruction
 * sets and XCR0 (xgetbv) for the register state the OS saves: a CPU can
 * report AVX-512 while the kernel does not context-switch ZMM state, and
 * then the first AVX-512 instruction faults (ggml's missing check).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "engine/kernels/eml_kernels_int.h"

#if EML_X86_KERNELS
#include <cpuid.h>
#endif
#define EML_X86 EML_X86_KERNELS

/* sfx: element-wise and row kernels; pool_sfx: pool2d; gemm_sfx: GEMM. */
#define EML_TABLE(isa_enum, sfx, pool_sfx, gemm_sfx)                           \
	{                                                                      \
		.isa = (isa_enum),                                             \
		.unary = eml_unary_##sfx,                                      \
		.binary = eml_binary_##sfx,                                    \
		.binary_scalar = eml_binary_scalar_##sfx,                      \
		.softmax = eml_softmax_##sfx,                                  \
		.reduce_sum = eml_reduce_sum_##sfx,                            \
		.reduce_max = eml_reduce_max_##sfx,                            \
		.pool2d = eml_pool2d_##pool_sfx,                               \
		.global_pool = eml_global_pool_##sfx,                          \
		.channel_affine = eml_channel_affine_##sfx,                    \
		.layernorm = eml_layernorm_##sfx,                              \
		.sgemm_packed_b_size = eml_sgemm_packed_b_size_##gemm_sfx,     \
		.sgemm_pack_b = eml_sgemm_pack_b_##gemm_sfx,                   \
		.sgemm_workspace_size = eml_sgemm_workspace_size_##gemm_sfx,   \
		.sgemm = eml_sgemm_##gemm_sfx,                                 \
	}

static const struct eml_kernels table_ref = EML_TABLE(EML_ISA_REF, ref, ref, ref);

#if EML_X86
static const struct eml_kernels table_avx2 = EML_TABLE(EML_ISA_AVX2, avx2, avx2, avx2);
static const struct eml_kernels table_avx512 = EML_TABLE(EML_ISA_AVX512, avx512, avx512, avx512);

/* XCR0 via the raw opcode, so this file needs no -mxsave. Only called
 * after CPUID said OSXSAVE is set (else xgetbv is #UD). */
static uint64_t
read_xcr0(void)
{
	uint32_t lo, hi;

	__asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
	return ((uint64_t)hi << 32) | lo;
}

static enum eml_isa
detect(void)
{
	unsigned int a, b, c, d;
	uint64_t xcr0;
	bool avx, fma, avx2;

	if (!__get_cpuid(1, &a, &b, &c, &d))
		return EML_ISA_REF;
	/* CPUID.1:ECX bit 27 OSXSAVE, bit 28 AVX, bit 12 FMA. */
	if (!(c & (1u << 27)) || !(c & (1u << 28)))
		return EML_ISA_REF;
	fma = (c & (1u << 12)) != 0;
	xcr0 = read_xcr0();
	/* XCR0 bits 1 (SSE) and 2 (AVX upper halves) must both be enabled. */
	if ((xcr0 & 0x6) != 0x6)
		return EML_ISA_REF;
	avx = true;
	if (__get_cpuid_max(0, NULL) < 7)
		return EML_ISA_REF;
	__cpuid_count(7, 0, a, b, c, d);
	/* CPUID.(7,0):EBX bit 5 AVX2. */
	avx2 = (b & (1u << 5)) != 0;
	if (!avx || !avx2 || !fma)
		return EML_ISA_REF;
	/* EBX bit 16 AVX512F, 17 DQ, 30 BW, 31 VL; XCR0 bits 5-7 opmask,
	 * ZMM_Hi256 and Hi16_ZMM state. */
	if ((b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31)) &&
	    (xcr0 & 0xe0) == 0xe0)
		return EML_ISA_AVX512;
	return EML_ISA_AVX2;
}
#else
static enum eml_isa
detect(void)
{
	return EML_ISA_REF;
}
#endif

static pthread_once_t once = PTHREAD_ONCE_INIT;
static enum eml_isa best_isa = EML_ISA_REF;
static const struct eml_kernels *chosen = &table_ref;

static const struct eml_kernels *
table_of(enum eml_isa isa)
{
	switch (isa) {
	case EML_ISA_REF:
		return &table_ref;
#if EML_X86
	case EML_ISA_AVX2:
		return &table_avx2;
	case EML_ISA_AVX512:
		return &table_avx512;
#endif
	default:
		return NULL;
	}
}

static void
choose(void)
{
	const char *env = getenv("EML_ISA");
	enum eml_isa want;

	best_isa = detect();
	want = best_isa;
	/* The override can only lower the choice; an unknown name is ignored
	 * rather than trusted (it is a test knob, not configuration). */
	if (env != NULL) {
		if (strcmp(env, "ref") == 0)
			want = EML_ISA_REF;
		else if (strcmp(env, "avx2") == 0 && best_isa >= EML_ISA_AVX2)
			want = EML_ISA_AVX2;
		else if (strcmp(env, "avx512") == 0 && best_isa >= EML_ISA_AVX512)
			want = EML_ISA_AVX512;
		else if (strcmp(env, "neon") == 0 && best_isa == EML_ISA_NEON)
			want = EML_ISA_NEON;
	}
	chosen = table_of(want);
	if (chosen == NULL)
		chosen = &table_ref;
}

const char *
eml_isa_name(enum eml_isa isa)
{
	switch (isa) {
	case EML_ISA_REF:
		return "ref";
	case EML_ISA_NEON:
		return "neon";
	case EML_ISA_AVX2:
		return "avx2";
	case EML_ISA_AVX512:
		return "avx512";
	}
	return "unknown";
}

enum eml_isa
eml_cpu_best_isa(void)
{
	(void)pthread_once(&once, choose);
	return best_isa;
}

const struct eml_kernels *
eml_kernels_get(void)
{
	(void)pthread_once(&once, choose);
	return chosen;
}

const struct eml_kernels *
eml_kernels_for(enum eml_isa isa)
{
	(void)pthread_once(&once, choose);
	/* NEON and x86 ISAs are never both available, so an order check on
	 * the enum is only meaningful within one architecture. */
	if (isa != EML_ISA_REF && isa != best_isa &&
	    !(best_isa == EML_ISA_AVX512 && isa == EML_ISA_AVX2))
		return NULL;
	return table_of(isa);
}

/* ------------------------------------------------ the public GEMM entry */

size_t
eml_sgemm_packed_b_size(size_t K, size_t N)
{
	return eml_kernels_get()->sgemm_packed_b_size(K, N);
}

void
eml_sgemm_pack_b(size_t K, size_t N, const float *B, size_t ldb, bool trans_b, float *packed)
{
	eml_kernels_get()->sgemm_pack_b(K, N, B, ldb, trans_b, packed);
}

size_t
eml_sgemm_workspace_size(const struct eml_sgemm_args *a, int nthreads)
{
	return eml_kernels_get()->sgemm_workspace_size(a, nthreads);
}

void
eml_sgemm(const struct eml_sgemm_args *a, float *workspace, struct eml_pool *pool)
{
	eml_kernels_get()->sgemm(a, workspace, pool);
}
