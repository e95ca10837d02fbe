/*
 * AVX-512 wrappers for the ISA-neutral vector helpers in vmath.h. Included
 * only by avx512.c files (the only ones built with -mavx512f).
 */
#ifndef EML_VF_AVX512_H
#define EML_VF_AVX512_H

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;
#define VF_N 16

static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }
static inline vm vf_tail_mask(size_t n) { return (vm)((1u << n) - 1u); }
/* Lanes [0, n) set. */
static inline vm vf_lanes(size_t n) { return vf_tail_mask(n); }
/* Masked: lanes >= n are neither read (no fault) nor written. */
static inline vf vf_loadn(const float *p, size_t n) { return _mm512_maskz_loadu_ps(vf_tail_mask(n), p); }
static inline void vf_storen(float *p, vf v, size_t n) { _mm512_mask_storeu_ps(p, vf_tail_mask(n), v); }
static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }
/* x86 max/min: (a > b ? a : b); a NaN in either gives b. */
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm512_min_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return _mm512_abs_ps(a); }
static inline vf vf_neg(vf a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(INT32_MIN))); }
static inline vf vf_and(vf a, vf b) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
static inline vf vf_or(vf a, vf b) { return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
static inline vf vf_xor(vf a, vf b) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
static inline vf vf_round(vf a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vi vf_cvt(vf a) { return _mm512_cvtps_epi32(a); }
static inline vf vi_cvt(vi a) { return _mm512_cvtepi32_ps(a); }
static inline vi vi_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
static inline vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
static inline vi vi_set1(int32_t x) { return _mm512_set1_epi32(x); }
static inline vi vi_sra(vi a, unsigned int s) { return _mm512_srai_epi32(a, s); }
static inline vi vi_srl(vi a, unsigned int s) { return _mm512_srli_epi32(a, s); }
static inline vi vi_sll(vi a, unsigned int s) { return _mm512_slli_epi32(a, s); }
static inline vi vi_and(vi a, vi b) { return _mm512_and_si512(a, b); }
static inline vf vi_as_vf(vi a) { return _mm512_castsi512_ps(a); }
static inline vi vf_as_vi(vf a) { return _mm512_castps_si512(a); }
static inline vm vf_lt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline vm vf_gt(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
static inline vm vf_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline vm vf_isnan(vf a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
static inline vm vm_or(vm a, vm b) { return (vm)(a | b); }
/* m ? a : b */
static inline vf vf_sel(vm m, vf a, vf b) { return _mm512_mask_blend_ps(m, b, a); }
static inline float vf_hsum(vf a) { return _mm512_reduce_add_ps(a); }
static inline float vf_hmax(vf a) { return _mm512_reduce_max_ps(a); }
static inline bool vm_any(vm m) { return m != 0; }
/* Lanes [a, b) = p[0 .. b-a), other lanes 0; reads only p[0 .. b-a). */
static inline vf vf_load_range(const float *p, size_t a, size_t b)
{
	return _mm512_maskz_expandloadu_ps((vm)(vf_tail_mask(b) & ~vf_tail_mask(a)), p);
}
/* Lanes [0, b-a) of v moved to lanes [a, b), other lanes 0. */
static inline vf vf_expand(vf v, size_t a, size_t b)
{
	return _mm512_maskz_expand_ps((vm)(vf_tail_mask(b) & ~vf_tail_mask(a)), v);
}
/* p[0], p[2], ..., p[30]: reads p[0..31]. */
static inline vf vf_load_s2(const float *p)
{
	const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);

	return _mm512_permutex2var_ps(_mm512_loadu_ps(p), idx, _mm512_loadu_ps(p + 16));
}
/* The first n of p[0], p[2], ...: reads only p[0 .. 2n-2]. */
static inline vf vf_loadn_s2(const float *p, size_t n)
{
	const __m512i idx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
	size_t c = n == 0 ? 0 : 2 * n - 1;
	vf lo = vf_loadn(p, c < 16 ? c : 16);
	vf hi = c > 16 ? vf_loadn(p + 16, c - 16) : vf_zero();

	return _mm512_permutex2var_ps(lo, idx, hi);
}

#endif
