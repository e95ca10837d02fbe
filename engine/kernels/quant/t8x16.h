/*
 * 8 x 16 byte tile transpose for the requantizing stores (SSE2, included by
 * the AVX2 and AVX-512 VNNI files only).
 */
#ifndef EML_QUANT_T8X16_H
#define EML_QUANT_T8X16_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

/* 8 rows x 16 bytes (row i: 16 columns) into 16 columns x 8 bytes: column
 * j's 8 bytes (rows 0..7) to out + j * ldo. */
static inline void
eml_store_t8x16(const __m128i r[8], uint8_t *out, size_t ldo)
{
	__m128i t[8], u[8], v[8];

	for (int k = 0; k < 4; k++) {
		t[2 * k] = _mm_unpacklo_epi8(r[2 * k], r[2 * k + 1]);
		t[2 * k + 1] = _mm_unpackhi_epi8(r[2 * k], r[2 * k + 1]);
	}
	/* t[0]: rows 0-1 of columns 0-7, t[1]: columns 8-15, t[2]/t[3]:
	 * rows 2-3, ... */
	for (int k = 0; k < 2; k++) {
		u[4 * k + 0] = _mm_unpacklo_epi16(t[4 * k + 0], t[4 * k + 2]);
		u[4 * k + 1] = _mm_unpackhi_epi16(t[4 * k + 0], t[4 * k + 2]);
		u[4 * k + 2] = _mm_unpacklo_epi16(t[4 * k + 1], t[4 * k + 3]);
		u[4 * k + 3] = _mm_unpackhi_epi16(t[4 * k + 1], t[4 * k + 3]);
	}
	/* u[0..3]: rows 0-3 of columns 0-3, 4-7, 8-11, 12-15; u[4..7]: rows 4-7 */
	for (int k = 0; k < 4; k++) {
		v[2 * k] = _mm_unpacklo_epi32(u[k], u[k + 4]);
		v[2 * k + 1] = _mm_unpackhi_epi32(u[k], u[k + 4]);
	}
	/* v[q]: columns 2q (low 8 bytes) and 2q + 1 (high 8 bytes) */
	for (int q = 0; q < 8; q++) {
		_mm_storel_epi64((__m128i *)(void *)(out + (size_t)(2 * q) * ldo), v[q]);
		_mm_storel_epi64((__m128i *)(void *)(out + (size_t)(2 * q + 1) * ldo),
		    _mm_unpackhi_epi64(v[q], v[q]));
	}
}

#endif
