/*
 * float16 <-> float32, scalar (the oracle and the fallback when the CPU has
 * no F16C). IEEE 754 binary16: round to nearest even, subnormals kept,
 * overflow to infinity, NaN stays NaN (quiet, payload truncated as F16C
 * does).
 */
#include <string.h>

#include "engine/kernels/quant/quant_int.h"

static uint32_t
fbits(float f)
{
	uint32_t u;

	memcpy(&u, &f, 4);
	return u;
}

static float
bitsf(uint32_t u)
{
	float f;

	memcpy(&f, &u, 4);
	return f;
}

float
eml_half_to_float(uint16_t h)
{
	uint32_t u = (uint32_t)(h & 0x7fffu) << 13;
	uint32_t e = u & (0x7c00u << 13);

	u += (uint32_t)(127 - 15) << 23;
	if (e == (0x7c00u << 13)) {
		u += (uint32_t)(128 - 16) << 23; /* Inf / NaN: exponent all ones */
		if ((u & 0x7fffffu) != 0)
			u |= 0x400000u; /* quiet */
	} else if (e == 0) {
		/* zero or subnormal: let the FPU normalise it */
		u += 1u << 23;
		u = fbits(bitsf(u) - bitsf(113u << 23));
	}
	return bitsf(u | ((uint32_t)(h & 0x8000u) << 16));
}

uint16_t
eml_float_to_half(float f)
{
	uint32_t u = fbits(f);
	uint32_t sign = (u >> 16) & 0x8000u;
	uint32_t o;

	u &= 0x7fffffffu;
	if (u >= ((uint32_t)(127 + 16) << 23)) {
		/* >= 65536, Inf or NaN */
		if (u > 0x7f800000u)
			o = 0x7e00u | ((u >> 13) & 0x3ffu);
		else
			o = 0x7c00u;
	} else if (u < (113u << 23)) {
		/* below the smallest normal half: adding 0.5 aligns the
		 * mantissa so the FPU rounds it to nearest even */
		float m = bitsf((uint32_t)((127 - 15) + (23 - 10) + 1) << 23);
		o = fbits(bitsf(u) + m) - fbits(m);
	} else {
		uint32_t odd = (u >> 13) & 1u;
		u += ((uint32_t)(15 - 127) << 23) + 0xfffu + odd;
		o = u >> 13; /* a carry into exponent 31 gives Inf */
	}
	return (uint16_t)(o | sign);
}

void
eml_f16_to_f32_ref(size_t n, const uint16_t *x, float *y)
{
	for (size_t i = 0; i < n; i++)
		y[i] = eml_half_to_float(x[i]);
}

void
eml_f32_to_f16_ref(size_t n, const float *x, uint16_t *y)
{
	for (size_t i = 0; i < n; i++)
		y[i] = eml_float_to_half(x[i]);
}

void
eml_f32_round_f16_ref(size_t n, const float *x, float *y)
{
	for (size_t i = 0; i < n; i++)
		y[i] = eml_half_to_float(eml_float_to_half(x[i]));
}

/* ------------------------------------------------ bfloat16 */

/* bfloat16 is float32's upper half: widening is exact; narrowing rounds to
 * nearest even on the dropped 16 bits (as ONNX Runtime's Cast does) and
 * keeps a NaN a NaN (quiet bit set: truncation alone could leave a zero
 * payload, which would read as infinity). */
static uint16_t
float_to_bf16(float f)
{
	uint32_t u = fbits(f);

	if ((u & 0x7fffffffu) > 0x7f800000u)
		return (uint16_t)((u >> 16) | 0x0040u);
	u += 0x7fffu + ((u >> 16) & 1u);
	return (uint16_t)(u >> 16);
}

void
eml_bf16_to_f32(size_t n, const uint16_t *x, float *y)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)x[i] << 16;
		memcpy(&y[i], &u, 4);
	}
}

void
eml_f32_to_bf16(size_t n, const float *x, uint16_t *y)
{
	for (size_t i = 0; i < n; i++)
		y[i] = float_to_bf16(x[i]);
}

void
eml_f32_round_bf16(size_t n, const float *x, float *y)
{
	for (size_t i = 0; i < n; i++) {
		uint32_t u = (uint32_t)float_to_bf16(x[i]) << 16;
		memcpy(&y[i], &u, 4);
	}
}

/* ------------------------------------------------ int8 GEMM, the oracle */

/* Quads layout (kg = 4), 4 x 8 tile, plain loops; the sums wrap modulo
 * 2^32 like the SIMD accumulators (unsigned arithmetic: no overflow UB). */
static void
qgemm_kernel_ref(size_t K, const uint8_t *A, size_t lda, uint8_t axor, const void *panel,
    int32_t *c, size_t ldc, size_t m, size_t n)
{
	const int8_t *b = panel;

	for (size_t i = 0; i < m; i++)
		for (size_t j = 0; j < n; j++) {
			uint32_t s = 0;
			for (size_t k = 0; k < K; k++) {
				int32_t bv = b[(k / 4) * 32 + j * 4 + k % 4];
				s += (uint32_t)((int32_t)(A[i * lda + k] ^ axor) * bv);
			}
			c[i * ldc + j] = (int32_t)s;
		}
}

const struct eml_qgemm_impl eml_qgemm_ref = {
	.name = "ref",
	.mr = 4,
	.nr = 8,
	.kg = 4,
	.kernel = qgemm_kernel_ref,
};
