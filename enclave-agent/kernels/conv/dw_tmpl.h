/*
 * Depthwise convolution, one channel plane, written over the vf_*
 * wrappers and instantiated per ISA (conv/avx2.c, conv/avx512.c).
 *
 * Each output row is split into a left border, an interior where every
 * horizontal tap is inside the row, and a right border. The interior is
 * vectorised along the output row (stride 1: plain loads; stride 2:
 * even-lane loads; masked loads for the last partial vector, so nothing
 * past the row is read); the borders are scalar. Rows of the kernel that
 * fall in the top/bottom padding are skipped. Bias is the accumulator's
 * start; the activation runs on whole vectors (the borders too, through
 * masked loads), so every output element sees the same vf_act.
 */
#ifndef DW_NAME
#error "define DW_NAME before including dw_tmpl.h"
#endif

static inline vf
dw_load(const float *p, size_t sw, size_t n)
{
	if (sw == 1)
		return n == VF_N ? vf_load(p) : vf_loadn(p, n);
	return vf_loadn_s2(p, n);
}

/* Scalar output element with bounds checks (borders, odd strides). */
static float
dw_point(const struct eml_conv2d_params *p, const float *x, const float *w, float bias,
    size_t oh, size_t ow)
{
	float acc = bias;
	size_t i, j;

	for (i = 0; i < p->kh; i++) {
		size_t ihp = oh * p->stride_h + i * p->dil_h;

		if (ihp < p->pad_top || ihp - p->pad_top >= p->H)
			continue;
		for (j = 0; j < p->kw; j++) {
			size_t iwp = ow * p->stride_w + j * p->dil_w;

			if (iwp < p->pad_left || iwp - p->pad_left >= p->W)
				continue;
			acc += x[(ihp - p->pad_top) * p->W + iwp - p->pad_left] * w[i * p->kw + j];
		}
	}
	return acc;
}

static void
dw_act_range(const struct eml_conv2d_params *p, float *y, size_t n)
{
	vf va = vf_set1(p->ep.a), vb = vf_set1(p->ep.b);
	size_t k;

	if (p->ep.act == EML_ACT_NONE)
		return;
	for (k = 0; k < n; k += VF_N) {
		size_t c = n - k < VF_N ? n - k : VF_N;

		vf_storen(y + k, vf_act(p->ep.act, vf_loadn(y + k, c), va, vb), c);
	}
}

void
DW_NAME(const struct eml_conv2d_params *p, size_t OH, size_t OW, const float *x,
    const float *w, float bias, float *y)
{
	size_t sw = p->stride_w, dw = p->dil_w, pl = p->pad_left;
	size_t span = (p->kw - 1) * dw; /* horizontal reach of the kernel */
	size_t ow_lo, ow_hi, oh, ow;
	vf va = vf_set1(p->ep.a), vb = vf_set1(p->ep.b), vbias = vf_set1(bias);

	/* Interior: ow * sw >= pl and ow * sw + span - pl <= W - 1. Only
	 * strides 1 and 2 are vectorised. */
	ow_lo = (pl + sw - 1) / sw;
	if (sw > 2 || p->W + pl < span + 1)
		ow_hi = 0;
	else
		ow_hi = (p->W - 1 + pl - span) / sw + 1;
	if (ow_hi > OW)
		ow_hi = OW;
	if (ow_lo > ow_hi)
		ow_lo = ow_hi;

	for (oh = 0; oh < OH; oh++) {
		float *yr = y + oh * OW;

		for (ow = 0; ow < ow_lo; ow++)
			yr[ow] = dw_point(p, x, w, bias, oh, ow);
		for (ow = ow_lo; ow < ow_hi; ow += VF_N) {
			size_t n = ow_hi - ow < VF_N ? ow_hi - ow : VF_N;
			/* A full stride-2 load reads one float past the last
			 * needed one: only when the next column is interior. */
			bool full = n == VF_N && (sw == 1 || ow + VF_N < ow_hi);
			vf acc = vbias;
			size_t i, j;

			for (i = 0; i < p->kh; i++) {
				size_t ihp = oh * p->stride_h + i * p->dil_h;
				const float *xr;

				if (ihp < p->pad_top || ihp - p->pad_top >= p->H)
					continue;
				xr = x + (ihp - p->pad_top) * p->W + ow * sw - pl;
				for (j = 0; j < p->kw; j++) {
					vf xv = full ? (sw == 1 ? vf_load(xr + j * dw) :
								  vf_load_s2(xr + j * dw)) :
						       dw_load(xr + j * dw, sw, n);

					acc = vf_fma(vf_set1(w[i * p->kw + j]), xv, acc);
				}
			}
			acc = vf_act(p->ep.act, acc, va, vb);
			if (n == VF_N)
				vf_store(yr + ow, acc);
			else
				vf_storen(yr + ow, acc, n);
		}
		for (ow = ow_hi; ow < OW; ow++)
			yr[ow] = dw_point(p, x, w, bias, oh, ow);
		dw_act_range(p, yr, ow_lo);
		dw_act_range(p, yr + ow_hi, OW - ow_hi);
	}
}
