/*
 * Row kernels over the vf_* wrappers, instantiated per ISA by
 * softmax/avx2.c and softmax/avx512.c (RW_SFX): softmax, row sums and
 * maxima, global pooling, channel affine and layer normalization (one
 * template because they share the row reductions).
 *
 * Bit-identical to ref: channel_affine, reduce_max, global max pool.
 * Different summation order (vector lanes) so within a few ULP times the
 * row length: reduce_sum, global average pool, layernorm, softmax (plus
 * vf_exp's bound).
 */
#ifndef RW_SFX
#error "define RW_SFX before including rows_tmpl.h"
#endif

#define RW_CAT2(a, b) a##_##b
#define RW_CAT(a, b) RW_CAT2(a, b)
#define RW_NAME(n) RW_CAT(n, RW_SFX)

static inline vf
RW_NAME(rw_load)(const float *p, size_t c)
{
	return c == VF_N ? vf_load(p) : vf_loadn(p, c);
}

static float
RW_NAME(rw_sum)(const float *x, size_t n)
{
	vf s0 = vf_zero(), s1 = vf_zero();
	size_t i = 0;

	for (; i + 2 * VF_N <= n; i += 2 * VF_N) {
		s0 = vf_add(s0, vf_load(x + i));
		s1 = vf_add(s1, vf_load(x + i + VF_N));
	}
	for (; i < n; i += VF_N) {
		size_t c = n - i < VF_N ? n - i : VF_N;

		s0 = vf_add(s0, RW_NAME(rw_load)(x + i, c));
	}
	return vf_hsum(vf_add(s0, s1));
}

/* Max with NaN propagation, as ref: lanes keep the max ignoring NaN and a
 * separate flag remembers any NaN. Masked-off lanes load 0, so they are
 * replaced by -inf before the max. */
static float
RW_NAME(rw_max)(const float *x, size_t n)
{
	vf m = vf_set1(-__builtin_inff()), ninf = m;
	vm nan = vf_lt(m, m); /* all false */
	size_t i;

	for (i = 0; i < n; i += VF_N) {
		size_t c = n - i < VF_N ? n - i : VF_N;
		vf v = RW_NAME(rw_load)(x + i, c);

		if (c < VF_N)
			v = vf_sel(vf_lanes(c), v, ninf);
		nan = vm_or(nan, vf_isnan(v));
		m = vf_max(v, m); /* v > m ? v : m: a NaN v leaves m */
	}
	return vm_any(nan) ? __builtin_nanf("") : vf_hmax(m);
}

void
RW_NAME(eml_reduce_sum)(size_t rows, size_t n, const float *x, float *y)
{
	size_t r;

	for (r = 0; r < rows; r++)
		y[r] = RW_NAME(rw_sum)(x + r * n, n);
}

void
RW_NAME(eml_reduce_max)(size_t rows, size_t n, const float *x, float *y)
{
	size_t r;

	for (r = 0; r < rows; r++)
		y[r] = RW_NAME(rw_max)(x + r * n, n);
}

void
RW_NAME(eml_global_pool)(bool is_max, size_t NC, size_t HW, const float *x, float *y)
{
	size_t c;

	for (c = 0; c < NC; c++) {
		if (is_max)
			y[c] = RW_NAME(rw_max)(x + c * HW, HW);
		else
			y[c] = HW == 0 ? 0.0f : RW_NAME(rw_sum)(x + c * HW, HW) / (float)HW;
	}
}

void
RW_NAME(eml_softmax)(size_t rows, size_t n, const float *x, float *y, bool log_softmax)
{
	size_t r, i;

	for (r = 0; r < rows; r++) {
		const float *xr = x + r * n;
		float *yr = y + r * n;
		vf m = vf_set1(-__builtin_inff()), acc = vf_zero(), vm_, vinv;
		float mx, s;

		/* Max ignoring NaN (as ref): a NaN then poisons the sum. */
		for (i = 0; i < n; i += VF_N) {
			size_t c = n - i < VF_N ? n - i : VF_N;
			vf v = RW_NAME(rw_load)(xr + i, c);

			if (c < VF_N)
				v = vf_sel(vf_lanes(c), v, m);
			m = vf_max(v, m);
		}
		mx = vf_hmax(m);
		vm_ = vf_set1(mx);
		for (i = 0; i < n; i += VF_N) {
			size_t c = n - i < VF_N ? n - i : VF_N;
			vf e = vf_exp(vf_sub(RW_NAME(rw_load)(xr + i, c), vm_));

			if (c < VF_N) {
				e = vf_sel(vf_lanes(c), e, vf_zero());
				if (!log_softmax)
					vf_storen(yr + i, e, c);
			} else if (!log_softmax) {
				vf_store(yr + i, e);
			}
			acc = vf_add(acc, e);
		}
		s = vf_hsum(acc);
		if (log_softmax) {
			vf ls = vf_set1(logf(s));

			for (i = 0; i < n; i += VF_N) {
				size_t c = n - i < VF_N ? n - i : VF_N;
				vf v = vf_sub(vf_sub(RW_NAME(rw_load)(xr + i, c), vm_), ls);

				if (c < VF_N)
					vf_storen(yr + i, v, c);
				else
					vf_store(yr + i, v);
			}
			continue;
		}
		vinv = vf_set1(1.0f / s);
		for (i = 0; i < n; i += VF_N) {
			size_t c = n - i < VF_N ? n - i : VF_N;
			vf v = vf_mul(RW_NAME(rw_load)(yr + i, c), vinv);

			if (c < VF_N)
				vf_storen(yr + i, v, c);
			else
				vf_store(yr + i, v);
		}
	}
}

void
RW_NAME(eml_channel_affine)(size_t N, size_t C, size_t HW, const float *x,
    const float *scale, const float *shift, float *y)
{
	size_t n, c, i;

	for (n = 0; n < N; n++) {
		for (c = 0; c < C; c++) {
			const float *xp = x + (n * C + c) * HW;
			float *yp = y + (n * C + c) * HW;
			vf sc = vf_set1(scale[c]), sh = vf_set1(shift[c]);

			/* mul then add, as ref: bit-identical. */
			for (i = 0; i < HW; i += VF_N) {
				size_t k = HW - i < VF_N ? HW - i : VF_N;
				vf v = vf_add(vf_mul(RW_NAME(rw_load)(xp + i, k), sc), sh);

				if (k < VF_N)
					vf_storen(yp + i, v, k);
				else
					vf_store(yp + i, v);
			}
		}
	}
}

void
RW_NAME(eml_layernorm)(size_t rows, size_t n, const float *x, const float *g, const float *b,
    float eps, float *y)
{
	size_t r, i;

	for (r = 0; r < rows; r++) {
		const float *xr = x + r * n;
		float *yr = y + r * n;
		float mean = RW_NAME(rw_sum)(xr, n) / (float)n, var, inv;
		vf vmean = vf_set1(mean), acc = vf_zero(), vinv;

		for (i = 0; i < n; i += VF_N) {
			size_t c = n - i < VF_N ? n - i : VF_N;
			vf d = vf_sub(RW_NAME(rw_load)(xr + i, c), vmean);

			if (c < VF_N)
				d = vf_sel(vf_lanes(c), d, vf_zero());
			acc = vf_fma(d, d, acc);
		}
		var = vf_hsum(acc) / (float)n;
		inv = 1.0f / sqrtf(var + eps);
		vinv = vf_set1(inv);
		for (i = 0; i < n; i += VF_N) {
			size_t c = n - i < VF_N ? n - i : VF_N;
			vf v = vf_mul(vf_sub(RW_NAME(rw_load)(xr + i, c), vmean), vinv);

			if (g != NULL)
				v = vf_mul(v, RW_NAME(rw_load)(g + i, c));
			if (b != NULL)
				v = vf_add(v, RW_NAME(rw_load)(b + i, c));
			if (c < VF_N)
				vf_storen(yr + i, v, c);
			else
				vf_store(yr + i, v);
		}
	}
}
