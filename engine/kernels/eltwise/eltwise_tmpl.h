/*
 * Element-wise unary and binary kernels over the vf_* wrappers,
 * instantiated per ISA by eltwise/avx2.c and eltwise/avx512.c (EW_SFX).
 *
 * Bit-identical to ref: relu, leaky relu, clip, hardsigmoid, hardswish,
 * sqrt, abs, neg, reciprocal, add, sub, mul, div, max, min (IEEE
 * operations in the same order, NaN handled as in ref). Within the bound
 * stated in vmath.h: exp, log, sigmoid, tanh, erf, gelu. Pow is scalar
 * (libm) except x^2 and x^1 with a scalar exponent.
 */
#ifndef EW_SFX
#error "define EW_SFX before including eltwise_tmpl.h"
#endif

#define EW_CAT2(a, b) a##_##b
#define EW_CAT(a, b) EW_CAT2(a, b)
#define EW_NAME(n) EW_CAT(n, EW_SFX)

/* Whole vectors, then one masked vector: in place is safe (each lane is
 * read before it is written) and nothing past n is touched. */
#define EW_UNARY_LOOP(EXPR)                                                    \
	do {                                                                   \
		size_t i_ = 0;                                                 \
		for (; i_ + VF_N <= n; i_ += VF_N) {                           \
			vf v = vf_load(x + i_);                                \
			vf_store(y + i_, (EXPR));                              \
		}                                                              \
		if (i_ < n) {                                                  \
			vf v = vf_loadn(x + i_, n - i_);                       \
			vf_storen(y + i_, (EXPR), n - i_);                     \
		}                                                              \
	} while (0)

void
EW_NAME(eml_unary)(enum eml_unary op, size_t n, const float *x, float *y, float p0, float p1)
{
	vf a = vf_set1(p0), b = vf_set1(p1);
	vf sixth = vf_set1(1.0f / 6.0f), half = vf_set1(0.5f), one = vf_set1(1.0f);
	vf rsqrt2 = vf_set1(0.70710678118654752f);

	switch (op) {
	case EML_UNARY_RELU:
		EW_UNARY_LOOP(vf_relu(v));
		break;
	case EML_UNARY_LEAKY_RELU:
		EW_UNARY_LOOP(vf_sel(vf_lt(v, vf_zero()), vf_mul(a, v), v));
		break;
	case EML_UNARY_CLIP:
		EW_UNARY_LOOP(vf_clip(v, a, b));
		break;
	case EML_UNARY_HARDSIGMOID:
		EW_UNARY_LOOP(vf_hardsigmoid(v, a, b));
		break;
	case EML_UNARY_HARDSWISH:
		EW_UNARY_LOOP(vf_mul(v, vf_hardsigmoid(v, sixth, half)));
		break;
	case EML_UNARY_SIGMOID:
		EW_UNARY_LOOP(vf_sigmoid(v));
		break;
	case EML_UNARY_TANH:
		EW_UNARY_LOOP(vf_tanh(v));
		break;
	case EML_UNARY_EXP:
		EW_UNARY_LOOP(vf_exp(v));
		break;
	case EML_UNARY_LOG:
		EW_UNARY_LOOP(vf_log(v));
		break;
	case EML_UNARY_SQRT:
		EW_UNARY_LOOP(vf_sqrt(v));
		break;
	case EML_UNARY_ABS:
		EW_UNARY_LOOP(vf_abs(v));
		break;
	case EML_UNARY_NEG:
		EW_UNARY_LOOP(vf_neg(v));
		break;
	case EML_UNARY_RECIPROCAL:
		EW_UNARY_LOOP(vf_div(one, v));
		break;
	case EML_UNARY_ERF:
		EW_UNARY_LOOP(vf_erf(v));
		break;
	case EML_UNARY_GELU:
		EW_UNARY_LOOP(vf_mul(vf_mul(half, v), vf_add(one, vf_erf(vf_mul(v, rsqrt2)))));
		break;
	case EML_UNARY_COUNT:
		break;
	}
}

static inline vf
EW_NAME(ew_binop)(enum eml_binary op, vf a, vf b)
{
	switch (op) {
	case EML_BINARY_ADD:
		return vf_add(a, b);
	case EML_BINARY_SUB:
		return vf_sub(a, b);
	case EML_BINARY_MUL:
		return vf_mul(a, b);
	case EML_BINARY_DIV:
		return vf_div(a, b);
	case EML_BINARY_MAX:
		/* x86 max gives b when either is NaN: a NaN a must win. */
		return vf_sel(vf_isnan(a), a, vf_max(a, b));
	case EML_BINARY_MIN:
		return vf_sel(vf_isnan(a), a, vf_min(a, b));
	case EML_BINARY_POW:
	case EML_BINARY_COUNT:
		break;
	}
	return a;
}

#define EW_BINARY_LOOP(OP, LA, LB)                                             \
	do {                                                                   \
		size_t i_ = 0;                                                 \
		for (; i_ + VF_N <= n; i_ += VF_N)                             \
			vf_store(y + i_, EW_NAME(ew_binop)(OP, LA(i_, VF_N), LB(i_, VF_N))); \
		if (i_ < n)                                                    \
			vf_storen(y + i_,                                      \
			    EW_NAME(ew_binop)(OP, LA(i_, n - i_), LB(i_, n - i_)), n - i_); \
	} while (0)

#define EW_LD_A(i, c) ((c) == VF_N ? vf_load(a + (i)) : vf_loadn(a + (i), (c)))
#define EW_LD_B(i, c) ((c) == VF_N ? vf_load(b + (i)) : vf_loadn(b + (i), (c)))
#define EW_LD_S(i, c) (sv)

void
EW_NAME(eml_binary)(enum eml_binary op, size_t n, const float *a, const float *b, float *y)
{
	if (op == EML_BINARY_POW) {
		eml_binary_ref(op, n, a, b, y);
		return;
	}
	/* A switch per op so each loop has a constant operation. */
	switch (op) {
	case EML_BINARY_ADD:
		EW_BINARY_LOOP(EML_BINARY_ADD, EW_LD_A, EW_LD_B);
		break;
	case EML_BINARY_SUB:
		EW_BINARY_LOOP(EML_BINARY_SUB, EW_LD_A, EW_LD_B);
		break;
	case EML_BINARY_MUL:
		EW_BINARY_LOOP(EML_BINARY_MUL, EW_LD_A, EW_LD_B);
		break;
	default:
		EW_BINARY_LOOP(op, EW_LD_A, EW_LD_B);
		break;
	}
}

void
EW_NAME(eml_binary_scalar)(enum eml_binary op, size_t n, const float *a, float s,
    bool scalar_first, float *y)
{
	vf sv = vf_set1(s);

	if (op == EML_BINARY_POW) {
		/* x^2 and x^1 are exact as x*x and x; others go to libm. */
		if (!scalar_first && s == 2.0f) {
			const float *x = a;

			EW_UNARY_LOOP(vf_mul(v, v));
			return;
		}
		eml_binary_scalar_ref(op, n, a, s, scalar_first, y);
		return;
	}
	if (scalar_first) {
		EW_BINARY_LOOP(op, EW_LD_S, EW_LD_A);
		return;
	}
	switch (op) {
	case EML_BINARY_ADD:
		EW_BINARY_LOOP(EML_BINARY_ADD, EW_LD_A, EW_LD_S);
		break;
	case EML_BINARY_MUL:
		EW_BINARY_LOOP(EML_BINARY_MUL, EW_LD_A, EW_LD_S);
		break;
	default:
		EW_BINARY_LOOP(op, EW_LD_A, EW_LD_S);
		break;
	}
}
