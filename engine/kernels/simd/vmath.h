/*
 * ISA-neutral vector math on top of vf_<isa>.h: exp, log, tanh, sigmoid,
 * erf and the fused activations. Included after one vf_*.h by an ISA file.
 *
 * Accuracy (measured by tests/unit/test_kernels_eltwise.c against glibc on
 * a dense sweep, special values included): exp, log, sigmoid within 4 ULP;
 * tanh, erf within 4 ULP; GELU within 8 ULP away from its zero crossing.
 * The polynomials were fitted for this project (mpmath chebyfit): the
 * fitting error is far below float rounding, so the bound is set by the
 * float evaluation.
 *
 * NaN in gives NaN out everywhere; the clamps below would otherwise turn
 * a NaN into a finite number (x86 max/min return the second operand).
 */
#ifndef EML_VMATH_H
#define EML_VMATH_H

#include "engine/kernels/eml_kernels.h"

/* Horner step: p * x + c, one rounding. */
static inline vf
vh(vf p, vf x, float c)
{
	return vf_fma(p, x, vf_set1(c));
}

/* exp: x = n ln2 + r, |r| <= ln2 / 2, degree-7 Taylor for e^r, then scale
 * by 2^n in two halves so results down into the denormals are right. */
static inline vf
vf_exp(vf x)
{
	vf xc = vf_min(vf_max(x, vf_set1(-104.0f)), vf_set1(89.0f));
	vf n = vf_round(vf_mul(xc, vf_set1(1.44269504088896341f)));
	vf r = vf_fma(n, vf_set1(-0.693359375f), xc);
	vf p;
	vi ni, h, l;

	r = vf_fma(n, vf_set1(2.12194440e-4f), r);
	p = vf_set1(1.0f / 5040.0f);
	p = vh(p, r, 1.0f / 720.0f);
	p = vh(p, r, 1.0f / 120.0f);
	p = vh(p, r, 1.0f / 24.0f);
	p = vh(p, r, 1.0f / 6.0f);
	p = vh(p, r, 0.5f);
	p = vh(p, r, 1.0f);
	p = vh(p, r, 1.0f);
	ni = vf_cvt(n);
	h = vi_sra(ni, 1);
	l = vi_sub(ni, h);
	p = vf_mul(p, vi_as_vf(vi_sll(vi_add(h, vi_set1(127)), 23)));
	p = vf_mul(p, vi_as_vf(vi_sll(vi_add(l, vi_set1(127)), 23)));
	return vf_sel(vf_isnan(x), x, p);
}

/* log: x = m 2^e with m in [sqrt(1/2), sqrt(2)), f = m - 1,
 * log(1 + f) = f - f^2/2 + f^3 P(f). Denormals are scaled up first;
 * x < 0 gives NaN, 0 gives -inf, +inf gives +inf. */
static inline vf
vf_log(vf x)
{
	vm tiny = vf_lt(x, vf_set1(1.17549435e-38f));
	vf xs = vf_sel(tiny, vf_mul(x, vf_set1(8388608.0f)), x); /* 2^23 */
	vi bits = vf_as_vi(xs);
	/* Subtracting the bits of sqrt(1/2) puts m in [sqrt(1/2), sqrt(2)). */
	vi t = vi_sub(bits, vi_set1(0x3f3504f3));
	vi e = vi_sra(t, 23);
	vf m = vi_as_vf(vi_add(vi_and(t, vi_set1(0x007fffff)), vi_set1(0x3f3504f3)));
	vf f = vf_sub(m, vf_set1(1.0f));
	vf ef = vf_sub(vi_cvt(e), vf_sel(tiny, vf_set1(23.0f), vf_zero()));
	vf p = vf_set1(-0.0790274377239f), f2, r;

	p = vh(p, f, 0.126223198492f);
	p = vh(p, f, -0.129981837637f);
	p = vh(p, f, 0.142144959239f);
	p = vh(p, f, -0.166412814631f);
	p = vh(p, f, 0.200010450942f);
	p = vh(p, f, -0.250003064226f);
	p = vh(p, f, 0.333333307282f);
	f2 = vf_mul(f, f);
	r = vf_mul(vf_mul(f2, f), p);
	r = vf_fma(f2, vf_set1(-0.5f), r);
	r = vf_add(f, vf_fma(ef, vf_set1(-2.12194440e-4f), r));
	r = vf_fma(ef, vf_set1(0.693359375f), r);
	/* Special values: NaN and x < 0 -> NaN, 0 -> -inf, +inf -> +inf. */
	r = vf_sel(vf_lt(vf_abs(x), vf_set1(1.4e-45f)), vf_set1(-__builtin_inff()), r);
	r = vf_sel(vf_gt(x, vf_set1(3.40282347e38f)), x, r);
	r = vf_sel(vf_lt(x, vf_zero()), vf_set1(__builtin_nanf("")), r);
	return vf_sel(vf_isnan(x), x, r);
}

/* sigmoid with e = exp(-|x|) <= 1: 1 / (1 + e) for x >= 0 and e / (1 + e)
 * for x < 0, so results down into the denormals keep their precision
 * (1 / (1 + exp(-x)) would flush to 0 below x = -88). */
static inline vf
vf_sigmoid(vf x)
{
	vf e = vf_exp(vf_neg(vf_abs(x)));
	vf d = vf_add(vf_set1(1.0f), e);

	return vf_sel(vf_lt(x, vf_zero()), vf_div(e, d), vf_div(vf_set1(1.0f), d));
}

/* tanh: odd polynomial below 0.625, else 1 - 2 / (e^{2|x|} + 1). */
static inline vf
vf_tanh(vf x)
{
	vf ax = vf_abs(x);
	vf x2 = vf_mul(x, x);
	vf p = vf_set1(0.0022927448161781423f), small, big, e;

	p = vh(p, x2, -0.008343945515839152f);
	p = vh(p, x2, 0.02176891865102821f);
	p = vh(p, x2, -0.053959259577204543f);
	p = vh(p, x2, 0.13333303556915742f);
	p = vh(p, x2, -0.33333333172140362f);
	small = vf_fma(vf_mul(x, x2), p, x);
	e = vf_exp(vf_mul(vf_min(ax, vf_set1(9.5f)), vf_set1(2.0f)));
	big = vf_sub(vf_set1(1.0f), vf_div(vf_set1(2.0f), vf_add(e, vf_set1(1.0f))));
	big = vf_or(big, vf_and(x, vf_set1(-0.0f)));
	return vf_sel(vf_isnan(x), x, vf_sel(vf_lt(ax, vf_set1(0.625f)), small, big));
}

/* erf: x P(x^2) below 1; 1 - exp(-x^2 + Q(|x| - 2.5)) on [1, 4); 1 above
 * (erfc(3.92) is below half an ULP of 1). */
static inline vf
vf_erf(vf x)
{
	vf ax = vf_abs(x);
	vf x2 = vf_mul(x, x);
	vf p = vf_set1(7.87587506269e-5f), small, big, t, q;

	p = vh(p, x2, -0.000801686428717f);
	p = vh(p, x2, 0.00518908742343f);
	p = vh(p, x2, -0.0268542120106f);
	p = vh(p, x2, 0.112835947152f);
	p = vh(p, x2, -0.376126266667f);
	p = vh(p, x2, 1.12837916585f);
	small = vf_mul(x, p);
	t = vf_sub(vf_min(ax, vf_set1(4.0f)), vf_set1(2.5f));
	q = vf_set1(-3.83471414224e-8f);
	q = vh(q, t, -6.61463686083e-8f);
	q = vh(q, t, 1.82979275686e-6f);
	q = vh(q, t, -1.2974525813e-5f);
	q = vh(q, t, 7.69696326374e-5f);
	q = vh(q, t, -0.000420709648265f);
	q = vh(q, t, 0.0021655017387f);
	q = vh(q, t, -0.0108581638401f);
	q = vh(q, t, 0.05610626367f);
	q = vh(q, t, -0.35268074067f);
	q = vh(q, t, -1.55681527273f);
	big = vf_sub(vf_set1(1.0f), vf_exp(vf_sub(q, vf_mul(vf_min(ax, vf_set1(4.0f)),
							 vf_min(ax, vf_set1(4.0f))))));
	big = vf_sel(vf_ge(ax, vf_set1(4.0f)), vf_set1(1.0f), big);
	big = vf_or(big, vf_and(x, vf_set1(-0.0f)));
	return vf_sel(vf_isnan(x), x, vf_sel(vf_lt(ax, vf_set1(1.0f)), small, big));
}

static inline vf
vf_relu(vf x)
{
	/* max(0, x) = (0 > x ? 0 : x): NaN and -0 pass through, as in ref. */
	return vf_max(vf_zero(), x);
}

static inline vf
vf_clip(vf x, vf lo, vf hi)
{
	x = vf_sel(vf_lt(x, lo), lo, x);
	return vf_sel(vf_gt(x, hi), hi, x);
}

static inline vf
vf_hardsigmoid(vf x, vf alpha, vf beta)
{
	/* mul then add (no FMA), as the reference computes it. */
	return vf_clip(vf_add(vf_mul(alpha, x), beta), vf_zero(), vf_set1(1.0f));
}

static inline vf
vf_act(enum eml_act act, vf x, vf a, vf b)
{
	switch (act) {
	case EML_ACT_NONE:
		return x;
	case EML_ACT_RELU:
		return vf_relu(x);
	case EML_ACT_LEAKY_RELU:
		return vf_sel(vf_lt(x, vf_zero()), vf_mul(a, x), x);
	case EML_ACT_CLIP:
		return vf_clip(x, a, b);
	case EML_ACT_HARDSIGMOID:
		return vf_hardsigmoid(x, a, b);
	case EML_ACT_HARDSWISH:
		return vf_mul(x, vf_hardsigmoid(x, vf_set1(1.0f / 6.0f), vf_set1(0.5f)));
	case EML_ACT_SIGMOID:
		return vf_sigmoid(x);
	case EML_ACT_TANH:
		return vf_tanh(x);
	}
	return x;
}

#endif
