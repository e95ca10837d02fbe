/*
 * Element-wise kernels, portable reference: the definitions every SIMD
 * variant is tested against. NaN propagates through every operation
 * (comparisons are written so that a NaN input falls through to the
 * result), and libm supplies the transcendental functions (< 1 ULP in
 * glibc for expf, logf, tanhf, erff).
 */
#include <math.h>

#include "engine/kernels/eml_kernels_int.h"

static float
hardsigmoid(float x, float alpha, float beta)
{
	float v = alpha * x + beta;

	v = v < 0.0f ? 0.0f : v;
	return v > 1.0f ? 1.0f : v;
}

static float
sigmoid(float x)
{
	/* Split by sign so exp never overflows into inf/inf. */
	if (x >= 0.0f)
		return 1.0f / (1.0f + expf(-x));
	float e = expf(x);

	return e / (1.0f + e);
}

float
eml_act_ref(enum eml_act act, float a, float b, float x)
{
	switch (act) {
	case EML_ACT_NONE:
		return x;
	case EML_ACT_RELU:
		return x < 0.0f ? 0.0f : x;
	case EML_ACT_LEAKY_RELU:
		return x < 0.0f ? a * x : x;
	case EML_ACT_CLIP:
		x = x < a ? a : x;
		return x > b ? b : x;
	case EML_ACT_HARDSIGMOID:
		return hardsigmoid(x, a, b);
	case EML_ACT_HARDSWISH:
		return x * hardsigmoid(x, 1.0f / 6.0f, 0.5f);
	case EML_ACT_SIGMOID:
		return sigmoid(x);
	case EML_ACT_TANH:
		return tanhf(x);
	}
	return x;
}

static float
unary1(enum eml_unary op, float x, float p0, float p1)
{
	switch (op) {
	case EML_UNARY_RELU:
		return x < 0.0f ? 0.0f : x;
	case EML_UNARY_LEAKY_RELU:
		return x < 0.0f ? p0 * x : x;
	case EML_UNARY_CLIP:
		x = x < p0 ? p0 : x;
		return x > p1 ? p1 : x;
	case EML_UNARY_HARDSIGMOID:
		return hardsigmoid(x, p0, p1);
	case EML_UNARY_HARDSWISH:
		return x * hardsigmoid(x, 1.0f / 6.0f, 0.5f);
	case EML_UNARY_SIGMOID:
		return sigmoid(x);
	case EML_UNARY_TANH:
		return tanhf(x);
	case EML_UNARY_EXP:
		return expf(x);
	case EML_UNARY_LOG:
		return logf(x);
	case EML_UNARY_SQRT:
		return sqrtf(x);
	case EML_UNARY_ABS:
		return fabsf(x);
	case EML_UNARY_NEG:
		return -x;
	case EML_UNARY_RECIPROCAL:
		return 1.0f / x;
	case EML_UNARY_ERF:
		return erff(x);
	case EML_UNARY_GELU:
		/* ONNX Gelu (approximate="none"): 0.5 x (1 + erf(x / sqrt 2)). */
		return 0.5f * x * (1.0f + erff(x * 0.70710678118654752f));
	case EML_UNARY_COUNT:
		break;
	}
	return x;
}

void
eml_unary_ref(enum eml_unary op, size_t n, const float *x, float *y, float p0, float p1)
{
	size_t i;

	for (i = 0; i < n; i++)
		y[i] = unary1(op, x[i], p0, p1);
}

static float
binary1(enum eml_binary op, float a, float b)
{
	switch (op) {
	case EML_BINARY_ADD:
		return a + b;
	case EML_BINARY_SUB:
		return a - b;
	case EML_BINARY_MUL:
		return a * b;
	case EML_BINARY_DIV:
		return a / b;
	case EML_BINARY_POW:
		return powf(a, b);
	case EML_BINARY_MAX:
		/* a NaN wins, then b NaN falls through the comparison. */
		return a != a ? a : (a > b ? a : b);
	case EML_BINARY_MIN:
		return a != a ? a : (a < b ? a : b);
	case EML_BINARY_COUNT:
		break;
	}
	return a;
}

void
eml_binary_ref(enum eml_binary op, size_t n, const float *a, const float *b, float *y)
{
	size_t i;

	for (i = 0; i < n; i++)
		y[i] = binary1(op, a[i], b[i]);
}

void
eml_binary_scalar_ref(enum eml_binary op, size_t n, const float *a, float s,
    bool scalar_first, float *y)
{
	size_t i;

	if (scalar_first) {
		for (i = 0; i < n; i++)
			y[i] = binary1(op, s, a[i]);
	} else {
		for (i = 0; i < n; i++)
			y[i] = binary1(op, a[i], s);
	}
}
