/*
 * int8 GEMM with AVX-512 VNNI (EVEX vpdpbusd on zmm): 8 x 32 tile over the
 * quads layout (16 accumulators + 2 B + broadcast), exact like AVX-VNNI.
 * Chosen only when the kernel table is AVX-512 and CPUID.(7,0):ECX bit 11
 * is set (qgemm.c).
 */
#include <immintrin.h>
#include <string.h>

#include "engine/kernels/quant/quant_int.h"
#include "engine/kernels/quant/t8x16.h"

/* acc + u8 a . s8 b per 32-bit lane (vpdpbusd), in place. GCC 12 compiles
 * _mm512_dpbusd_epi32 on an array of accumulators into a copy, the
 * instruction and a copy back per accumulator, with spills inside the
 * loop (the 8 x 32 tile ran at ~64% of the vpdpbusd issue rate); the
 * "+v" constraint keeps each accumulator in its register. */
static inline __attribute__((always_inline)) __m512i
dpbusd(__m512i acc, __m512i a, __m512i b)
{
	__asm__("vpdpbusd %2, %1, %0" : "+v"(acc) : "v"(a), "v"(b));
	return acc;
}

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

/* The full tile's whole quads: no per-row test, A's quads broadcast
 * straight from memory (vpbroadcastd m32: a load, no shuffle uop); xa
 * flips int8 A to uint8 (zero: nothing to flip). Returns the k reached. */
static inline __attribute__((always_inline)) size_t
full_quads(size_t K, const uint8_t *A, size_t lda, __m512i xa, bool flip, const __m512i **bp,
    __m512i acc[8][2])
{
	const __m512i *b = *bp;
	size_t k = 0;

	for (; k + 4 <= K; k += 4, b += 2) {
		__m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 1);
#pragma GCC unroll 8
		for (size_t i = 0; i < 8; i++) {
			int32_t q;
			__m512i av;
			memcpy(&q, A + i * lda + k, 4);
			av = _mm512_set1_epi32(q);
			if (flip)
				av = _mm512_xor_si512(av, xa);
			acc[i][0] = dpbusd(acc[i][0], av, b0);
			acc[i][1] = dpbusd(acc[i][1], av, b1);
		}
	}
	*bp = b;
	return k;
}

/* The m x 32 tile's raw sums into acc. */
static inline __attribute__((always_inline)) void
tile(size_t K, const uint8_t *A, size_t lda, uint8_t axor, const void *panel, size_t m,
    __m512i acc[8][2])
{
	const __m512i *b = panel;
	uint32_t x4 = axor * 0x01010101u;
	size_t i, k0 = 0;

	for (i = 0; i < 8; i++)
		acc[i][0] = acc[i][1] = _mm512_setzero_si512();
	if (m == 8 && axor == 0)
		k0 = full_quads(K, A, lda, _mm512_setzero_si512(), false, &b, acc);
	else if (m == 8)
		k0 = full_quads(K, A, lda, _mm512_set1_epi32((int32_t)x4), true, &b, acc);
	for (size_t k = k0; k < K; k += 4, b += 2) {
		__m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 1);
#pragma GCC unroll 8
		for (i = 0; i < 8; i++) {
			if (i < m) {
				__m512i av = _mm512_set1_epi32(quad_at(A + i * lda, k, K, x4));
				acc[i][0] = dpbusd(acc[i][0], av, b0);
				acc[i][1] = dpbusd(acc[i][1], av, b1);
			}
		}
	}
}

static void
qgemm_kernel_avx512vnni(size_t K, const uint8_t *A, size_t lda, uint8_t axor,
    const void *panel, int32_t *c, size_t ldc, size_t m, size_t n)
{
	__m512i acc[8][2] EML_NOINIT; /* set by tile */

	tile(K, A, lda, axor, panel, m, acc);
	for (size_t i = 0; i < m; i++) {
		__mmask16 m0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
		__mmask16 m1 = (__mmask16)(n <= 16 ? 0 : n >= 32 ? 0xffff : (1u << (n - 16)) - 1);
		_mm512_mask_storeu_epi32(c + i * ldc, m0, acc[i][0]);
		_mm512_mask_storeu_epi32(c + i * ldc + 16, m1, acc[i][1]);
	}
}

/* 16 sums requantized (eml_qrequant's steps) into 16 bytes. */
static inline __m128i
rq16(__m512i acc, const struct eml_qrequant *r, size_t j, __mmask16 k)
{
	__m512i b = r->bias != NULL ? _mm512_maskz_loadu_epi32(k, r->bias + j) :
				      _mm512_setzero_si512();
	__m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_add_epi32(acc, b)),
	    _mm512_maskz_loadu_ps(k, r->mult + j));
	__m512i q;

	v = _mm512_min_ps(_mm512_max_ps(v, _mm512_set1_ps(-4194304.0f)), _mm512_set1_ps(4194304.0f));
	q = _mm512_add_epi32(_mm512_cvtps_epi32(v), _mm512_set1_epi32(r->zp));
	q = _mm512_min_epi32(_mm512_max_epi32(q, _mm512_set1_epi32(r->lo)), _mm512_set1_epi32(r->hi));
	return _mm512_cvtepi32_epi8(q); /* in range: the truncation is exact */
}

/* The tile's m x n sums requantized and stored transposed, or as rows
 * (r->rows). */
static inline __attribute__((always_inline)) void
rq_store(__m512i acc[8][2], const struct eml_qrequant *r, uint8_t *y, size_t ldy, size_t m,
    size_t n)
{
	__m128i rows[2][8] EML_NOINIT;
	__mmask16 m0 = (__mmask16)(n >= 16 ? 0xffff : (1u << n) - 1);
	__mmask16 m1 = (__mmask16)(n <= 16 ? 0 : n >= 32 ? 0xffff : (1u << (n - 16)) - 1);

	if (r->rows) {
		/* [pixel][channel]: row i's n bytes in place */
		for (size_t i = 0; i < m; i++) {
			_mm_mask_storeu_epi8(y + i * ldy, m0, rq16(acc[i][0], r, 0, m0));
			if (n > 16)
				_mm_mask_storeu_epi8(y + i * ldy + 16, m1, rq16(acc[i][1], r, 16, m1));
		}
		return;
	}
	for (size_t i = 0; i < 8; i++) {
		rows[0][i] = i < m ? rq16(acc[i][0], r, 0, m0) : _mm_setzero_si128();
		rows[1][i] = i < m ? rq16(acc[i][1], r, 16, m1) : _mm_setzero_si128();
	}
	if (m == 8 && n == 32) {
		eml_store_t8x16(rows[0], y, ldy);
		eml_store_t8x16(rows[1], y + 16 * ldy, ldy);
		return;
	}
	{
		uint8_t t[8][32] EML_NOINIT;
		for (size_t i = 0; i < 8; i++) {
			_mm_storeu_si128((__m128i *)(void *)t[i], rows[0][i]);
			_mm_storeu_si128((__m128i *)(void *)(t[i] + 16), rows[1][i]);
		}
		for (size_t j = 0; j < n; j++)
			for (size_t i = 0; i < m; i++)
				y[j * ldy + i] = t[i][j];
	}
}

static void
qgemm_kernel_rq_avx512vnni(size_t K, const uint8_t *A, size_t lda, uint8_t axor,
    const void *panel, const struct eml_qrequant *r, uint8_t *y, size_t ldy, size_t m, size_t n)
{
	__m512i acc[8][2] EML_NOINIT; /* set by tile */

	tile(K, A, lda, axor, panel, m, acc);
	rq_store(acc, r, y, ldy, m, n);
}

/* The indirect tile's taps: for each, the 8 rows' runs of `run` bytes
 * against the panel's next run / 4 lane groups; xa flips int8 A to uint8
 * (flip false: uint8 A, no instruction spent on it). The accumulators are
 * 16 named variables, not an array: GCC kept an array in memory across
 * the tap loop (16 stores and 16 loads per tap, as many as the vpdpbusd
 * of a 4-channel tap). */
#define ROW_(i)                                                                \
	do {                                                                   \
		int32_t q_;                                                    \
		__m512i av_;                                                   \
		memcpy(&q_, p[i] + c, 4);                                      \
		av_ = _mm512_set1_epi32(q_);                                   \
		if (flip)                                                      \
			av_ = _mm512_xor_si512(av_, xa);                       \
		a##i##0 = dpbusd(a##i##0, av_, b0);                            \
		a##i##1 = dpbusd(a##i##1, av_, b1);                            \
	} while (0)

static inline __attribute__((always_inline)) void
ind_taps(size_t taps, size_t run, const uint8_t *A, const int32_t *offs, const uint8_t *pad,
    size_t m, __m512i xa, bool flip, const __m512i *b, __m512i acc[8][2])
{
	__m512i z = _mm512_setzero_si512();
	__m512i a00 = z, a01 = z, a10 = z, a11 = z, a20 = z, a21 = z, a30 = z, a31 = z;
	__m512i a40 = z, a41 = z, a50 = z, a51 = z, a60 = z, a61 = z, a70 = z, a71 = z;

	(void)m; /* the rows past m read the padding (their offsets are -1) */
	for (size_t t = 0; t < taps; t++) {
		const uint8_t *p[8] EML_NOINIT;
		const int32_t *o8 = offs + t * EML_QIND_ROWS; /* rows past m: -1 */
		for (size_t i = 0; i < 8; i++)
			p[i] = o8[i] < 0 ? pad : A + o8[i];
		for (size_t c = 0; c < run; c += 4, b += 2) {
			__m512i b0 = _mm512_loadu_si512(b), b1 = _mm512_loadu_si512(b + 1);
			ROW_(0);
			ROW_(1);
			ROW_(2);
			ROW_(3);
			ROW_(4);
			ROW_(5);
			ROW_(6);
			ROW_(7);
		}
	}
	acc[0][0] = a00, acc[0][1] = a01, acc[1][0] = a10, acc[1][1] = a11;
	acc[2][0] = a20, acc[2][1] = a21, acc[3][0] = a30, acc[3][1] = a31;
	acc[4][0] = a40, acc[4][1] = a41, acc[5][0] = a50, acc[5][1] = a51;
	acc[6][0] = a60, acc[6][1] = a61, acc[7][0] = a70, acc[7][1] = a71;
}
#undef ROW_

/* Indirect A (a convolution without im2col): row i is taps runs of `run`
 * bytes (a multiple of 4) at A + offs[i * taps + t], pad where negative.
 * Rows past m read pad; they are not stored. */
static void
qgemm_kernel_rq_ind_avx512vnni(size_t taps, size_t run, const uint8_t *A, const int32_t *offs,
    const uint8_t *pad, uint8_t axor, const void *panel, const struct eml_qrequant *r,
    uint8_t *y, size_t ldy, size_t m, size_t n)
{
	__m512i acc[8][2] EML_NOINIT /* set by ind_taps */, xa = _mm512_set1_epi32((int32_t)(axor * 0x01010101u));

	if (axor == 0)
		ind_taps(taps, run, A, offs, pad, m, xa, false, panel, acc);
	else
		ind_taps(taps, run, A, offs, pad, m, xa, true, panel, acc);
	rq_store(acc, r, y, ldy, m, n);
}

const struct eml_qgemm_impl eml_qgemm_avx512vnni = {
	.name = "avx512vnni",
	.mr = 8,
	.nr = 32,
	.kg = 4,
	.kernel = qgemm_kernel_avx512vnni,
	.kernel_rq = qgemm_kernel_rq_avx512vnni,
	.kernel_rq_ind = qgemm_kernel_rq_ind_avx512vnni,
};
