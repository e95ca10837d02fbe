/*
 * Requantization of int32 accumulators and byte transposes, scalar: the
 * fallback without AVX2 and the tails of the AVX2 versions (avx2.c), which
 * give the same bytes.
 */
#include <math.h>

#include "engine/kernels/quant/quant_int.h"

/* One value: float(acc + bias) * mult, clamped to +-2^22 so that adding and
 * subtracting 1.5 * 2^23 rounds it to nearest even (the default mode, what
 * nearbyint and cvtps2dq do), plus zp, clamped to [lo, hi]. Ternaries, not
 * fminf/fmaxf: they compile to minss/maxss where the libm functions are
 * calls. */
static inline int32_t
requant1(int32_t acc, int32_t bias, float mult, int32_t zp, int32_t lo, int32_t hi)
{
	const float magic = 12582912.0f;
	float v = (float)(int32_t)((uint32_t)acc + (uint32_t)bias) * mult;
	int32_t q;

	v = v > -4194304.0f ? v : -4194304.0f;
	v = v < 4194304.0f ? v : 4194304.0f;
	q = (int32_t)((v + magic) - magic) + zp;
	return q < lo ? lo : q > hi ? hi : q;
}

void
eml_qrequant_t_ref(const struct eml_qrequant *r, size_t m, size_t n, const int32_t *C,
    size_t ldc, void *y, size_t ldy)
{
	/* element (i, j) at y[i * si + j * sj] */
	size_t si = r->rows ? ldy : 1, sj = r->rows ? 1 : ldy;

	for (size_t j = 0; j < n; j++) {
		int32_t b = r->bias != NULL ? r->bias[j] : 0;
		for (size_t i = 0; i < m; i++) {
			int32_t q = requant1(C[i * ldc + j], b, r->mult[j], r->zp, r->lo, r->hi);
			if (r->y_signed)
				((int8_t *)y)[i * si + j * sj] = (int8_t)q;
			else
				((uint8_t *)y)[i * si + j * sj] = (uint8_t)q;
		}
	}
}

void
eml_u8_transpose_ref(size_t rows, size_t cols, const uint8_t *src, size_t lds, uint8_t *dst,
    size_t ldd)
{
	/* 16 x 16 tiles: each source and destination line stays in cache */
	for (size_t r0 = 0; r0 < rows; r0 += 16)
		for (size_t c0 = 0; c0 < cols; c0 += 16) {
			size_t r1 = r0 + 16 < rows ? r0 + 16 : rows;
			size_t c1 = c0 + 16 < cols ? c0 + 16 : cols;
			for (size_t c = c0; c < c1; c++)
				for (size_t r = r0; r < r1; r++)
					dst[c * ldd + r] = src[r * lds + c];
		}
}

void
eml_quantize_f32_ref(size_t n, const float *x, float scale, int32_t zp, int32_t lo, int32_t hi,
    bool y_signed, void *y)
{
	for (size_t i = 0; i < n; i++) {
		float v = nearbyintf(x[i] / scale) + (float)zp;
		int32_t q = v != v ? zp : v <= (float)lo ? lo : v >= (float)hi ? hi : (int32_t)v;
		if (y_signed)
			((int8_t *)y)[i] = (int8_t)q;
		else
			((uint8_t *)y)[i] = (uint8_t)q;
	}
}

void
eml_dequantize_q8_ref(size_t n, const void *x, bool x_signed, int32_t zp, float scale, float *y)
{
	for (size_t i = 0; i < n; i++) {
		int32_t q = x_signed ? ((const int8_t *)x)[i] : ((const uint8_t *)x)[i];
		y[i] = (float)(q - zp) * scale;
	}
}

void
eml_qgemm_fix_ref(int32_t *c, size_t n, const int32_t *zb, const int32_t *colsum,
    uint32_t rowsum, int32_t za, uint32_t K)
{
	for (size_t j = 0; j < n; j++) {
		uint32_t v = (uint32_t)c[j];
		v -= (uint32_t)zb[j] * rowsum;
		v -= (uint32_t)za * (uint32_t)colsum[j];
		v += K * (uint32_t)za * (uint32_t)zb[j];
		c[j] = (int32_t)v;
	}
}
