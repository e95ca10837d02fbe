/*
 * AVX2 + FMA wrappers for the ISA-neutral vector helpers in vmath.h.
 * Included only by avx2.c files (the only ones built with -mavx2 -mfma).
 */
#ifndef EML_VF_AVX2_H
#define EML_VF_AVX2_H

#include <immintrin.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef __m256 vf;
typedef __m256i vi;
typedef __m256 vm;
#define VF_N 8

static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }
static inline __m256i vf_tail_mask(size_t n)
{
	/* lane i enabled when i < n (sign bit set). */
	return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
/* Lanes [0, n) set. */
static inline vm vf_lanes(size_t n) { return _mm256_castsi256_ps(vf_tail_mask(n)); }
/* vmaskmov: masked-off lanes are not accessed, so no fault past the end. */
static inline vf vf_loadn(const float *p, size_t n) { return _mm256_maskload_ps(p, vf_tail_mask(n)); }
static inline void vf_storen(float *p, vf v, size_t n) { _mm256_maskstore_ps(p, vf_tail_mask(n), v); }
static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_fma(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_min(vf a, vf b) { return _mm256_min_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vf_abs(vf a) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MAX))); }
static inline vf vf_neg(vf a) { return _mm256_xor_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(INT32_MIN))); }
static inline vf vf_and(vf a, vf b) { return _mm256_and_ps(a, b); }
static inline vf vf_or(vf a, vf b) { return _mm256_or_ps(a, b); }
static inline vf vf_xor(vf a, vf b) { return _mm256_xor_ps(a, b); }
static inline vf vf_round(vf a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
static inline vi vf_cvt(vf a) { return _mm256_cvtps_epi32(a); }
static inline vf vi_cvt(vi a) { return _mm256_cvtepi32_ps(a); }
static inline vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline vi vi_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
static inline vi vi_set1(int32_t x) { return _mm256_set1_epi32(x); }
static inline vi vi_sra(vi a, int s) { return _mm256_srai_epi32(a, s); }
static inline vi vi_srl(vi a, int s) { return _mm256_srli_epi32(a, s); }
static inline vi vi_sll(vi a, int s) { return _mm256_slli_epi32(a, s); }
static inline vi vi_and(vi a, vi b) { return _mm256_and_si256(a, b); }
static inline vf vi_as_vf(vi a) { return _mm256_castsi256_ps(a); }
static inline vi vf_as_vi(vf a) { return _mm256_castps_si256(a); }
static inline vm vf_lt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline vm vf_gt(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
static inline vm vf_ge(vf a, vf b) { return _mm256_cmp_ps(a, b, _CMP_GE_OQ); }
static inline vm vf_isnan(vf a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
static inline vm vm_or(vm a, vm b) { return _mm256_or_ps(a, b); }
static inline vf vf_sel(vm m, vf a, vf b) { return _mm256_blendv_ps(b, a, m); }
static inline float vf_hsum(vf a)
{
	__m128 s = _mm_add_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));

	s = _mm_add_ps(s, _mm_movehl_ps(s, s));
	s = _mm_add_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}
static inline float vf_hmax(vf a)
{
	__m128 s = _mm_max_ps(_mm256_castps256_ps128(a), _mm256_extractf128_ps(a, 1));

	s = _mm_max_ps(s, _mm_movehl_ps(s, s));
	s = _mm_max_ss(s, _mm_movehdup_ps(s));
	return _mm_cvtss_f32(s);
}
static inline bool vm_any(vm m) { return _mm256_movemask_ps(m) != 0; }
static inline vf vf_even2(vf a, vf b)
{
	/* per 128-bit lane {a0 a2 b0 b2}: p0 p2 p8 p10 | p4 p6 p12 p14, then
	 * reorder the 64-bit pairs 0 2 1 3. */
	__m256 t = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));

	return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(t), _MM_SHUFFLE(3, 1, 2, 0)));
}
/* Lanes [a, b) = p[0 .. b-a), other lanes 0; reads only p[0 .. b-a). */
static inline vf vf_load_range(const float *p, size_t a, size_t b)
{
	float t[8] = { 0 };
	size_t i;

	for (i = a; i < b; i++)
		t[i] = p[i - a];
	return _mm256_loadu_ps(t);
}
/* Lanes [0, b-a) of v moved to lanes [a, b), other lanes 0. */
static inline vf vf_expand(vf v, size_t a, size_t b)
{
	float in[8], t[8] = { 0 };
	size_t i;

	_mm256_storeu_ps(in, v);
	for (i = a; i < b; i++)
		t[i] = in[i - a];
	return _mm256_loadu_ps(t);
}
/* p[0], p[2], ..., p[14]: reads p[0..15]. */
static inline vf vf_load_s2(const float *p) { return vf_even2(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8)); }
/* The first n of p[0], p[2], ...: reads only p[0 .. 2n-2]. */
static inline vf vf_loadn_s2(const float *p, size_t n)
{
	size_t c = n == 0 ? 0 : 2 * n - 1;
	vf lo = vf_loadn(p, c < 8 ? c : 8);
	vf hi = c > 8 ? vf_loadn(p + 8, c - 8) : vf_zero();

	return vf_even2(lo, hi);
}

#endif
