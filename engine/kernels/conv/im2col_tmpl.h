/*
 * Implicit im2col packing over the vf_* wrappers (see conv.c): rows
 * [k0, k0 + kk) x columns [n0, n0 + nn) of the virtual column matrix
 *   col[(c*kh + i)*kw + j][oh*OW + ow] = x[c][oh*sh + i*dh - pt][ow*sw + j*dw - pl]
 * into GEMM B panels of nr columns (k-major, zero past nn). Each output
 * row's columns are copied in vector chunks that stay inside one panel:
 * whole-vector or masked loads where every lane is inside the input row
 * (masked: nothing past the row's valid range is read), scalar only for
 * the few chunks that straddle the left/right padding.
 */
#ifndef IC_NAME
#error "define IC_NAME before including im2col_tmpl.h"
#endif

#include <stdlib.h>

static inline void
ic_chunk(const struct eml_conv2d_params *p, const float *xr, size_t o, size_t cnt, size_t off,
    size_t ow_a, size_t ow_b, float *d)
{
	size_t u;

	if (xr == NULL) {
		vf_storen(d, vf_zero(), cnt);
		return;
	}
	if (o >= ow_a && o + cnt <= ow_b) {
		const float *s = xr + o * p->stride_w + off - p->pad_left;
		vf v;

		if (p->stride_w == 1)
			v = cnt == VF_N ? vf_load(s) : vf_loadn(s, cnt);
		else if (p->stride_w == 2)
			v = vf_loadn_s2(s, cnt);
		else {
			for (u = 0; u < cnt; u++)
				d[u] = s[u * p->stride_w];
			return;
		}
		if (cnt == VF_N)
			vf_store(d, v);
		else
			vf_storen(d, v, cnt);
		return;
	}
	if (p->stride_w <= 2) {
		/* Lanes [a, b) of the chunk are inside the row (the padding
		 * cuts the rest): one expanding load (stride 2: an even-lane
		 * load moved up), zeros elsewhere. */
		size_t a = ow_a > o ? ow_a - o : 0, b = ow_b > o ? ow_b - o : 0;
		const float *src;
		vf v = vf_zero();

		a = a < cnt ? a : cnt;
		b = b < cnt ? b : cnt;
		src = b > a ? xr + (o + a) * p->stride_w + off - p->pad_left : NULL;
		if (src != NULL && p->stride_w == 1)
			v = vf_load_range(src, a, b);
		else if (src != NULL)
			v = vf_expand(vf_loadn_s2(src, b - a), a, b);
		if (cnt == VF_N)
			vf_store(d, v);
		else
			vf_storen(d, v, cnt);
		return;
	}
	for (u = 0; u < cnt; u++) {
		size_t ow = o + u;

		d[u] = (ow >= ow_a && ow < ow_b) ? xr[ow * p->stride_w + off - p->pad_left] : 0.0f;
	}
}

/*
 * A run of up to nr columns of one output row inside one panel: whole
 * vectors straight through when every tap is inside the input row (the
 * common case), else vector-sized chunks with the border handling.
 * x_end: the end of the group's planes. A short last vector is read
 * with a whole load (the lanes past the run are the next row's floats,
 * never stored) while that stays inside the planes: the masked and
 * two-part loads cost more than the copy (the pack was 44 % of a 3x3/2
 * 64->64 conv).
 */
static inline void
ic_run(const struct eml_conv2d_params *p, const float *xr, size_t o, size_t cnt, size_t off,
    size_t ow_a, size_t ow_b, const float *x_end, float *d)
{
	size_t u;

	if (xr != NULL && p->stride_w == 1 && o >= ow_a && o + cnt <= ow_b) {
		const float *s = xr + o + off - p->pad_left;
		size_t x_left = (size_t)(x_end - s);

		for (u = 0; u + VF_N <= cnt; u += VF_N)
			vf_store(d + u, vf_load(s + u));
		if (u < cnt)
			vf_storen(d + u, u + VF_N <= x_left ? vf_load(s + u) : vf_loadn(s + u, cnt - u),
			    cnt - u);
		return;
	}
	if (xr != NULL && p->stride_w == 2 && o >= ow_a && o + cnt <= ow_b) {
		const float *s = xr + 2 * o + off - p->pad_left;
		size_t x_left = (size_t)(x_end - s);

		/* A whole even-lane load reads 2 VF_N floats. */
		for (u = 0; u < cnt; u += VF_N) {
			size_t c = cnt - u < VF_N ? cnt - u : VF_N;
			vf v = 2 * (u + VF_N) <= x_left ? vf_load_s2(s + 2 * u) :
							  vf_loadn_s2(s + 2 * u, c);

			if (c == VF_N)
				vf_store(d + u, v);
			else
				vf_storen(d + u, v, c);
		}
		return;
	}
	for (u = 0; u < cnt; u += VF_N)
		ic_chunk(p, xr, o + u, cnt - u < VF_N ? cnt - u : VF_N, off, ow_a, ow_b, d + u);
}

/* One piece of a packed row: output columns [ow, ow + cnt) of output row
 * oh (cut at output rows and panel ends only) land at dst offset off
 * (+ q * nr for row q). The list is the same for
 * every row of the block, so it is built once per call: no divisions in
 * the copy loop. */
struct ic_seg {
	uint32_t oh, ow, cnt;
	size_t off;
};

#define IC_MAXSEG 1024

void
IC_NAME(const void *vctx, size_t k0, size_t kk, size_t n0, size_t nn, size_t nr, float *dst)
{
	const struct eml_im2col *s = vctx;
	const struct eml_conv2d_params *p = s->p;
	size_t OW = s->OW, khw = p->kh * p->kw, q, g, nseg = 0, t = 0, lane = 0, panel = 0;
	size_t oh = n0 / OW, ow = n0 % OW;
	/* The end of this image's (group's) planes: reads stay below it. */
	const float *x_end = s->x + p->C / p->group * p->H * p->W;
	struct ic_seg seg[IC_MAXSEG] EML_NOINIT; /* [0, nseg) set below */

	/* Segments: split at output rows, panel ends and VF_N lanes; then the
	 * zero tail of the last panel (oh = UINT32_MAX marks zeros). */
	while (t < nn || lane != 0) {
		size_t cnt = nr - lane;

		if (nseg == IC_MAXSEG) /* nn <= nc or mc (<= 512): at most nn + 3 */
			abort();
		if (t < nn) {
			cnt = cnt < nn - t ? cnt : nn - t;
			cnt = cnt < OW - ow ? cnt : OW - ow;
			seg[nseg].oh = (uint32_t)oh;
			seg[nseg].ow = (uint32_t)ow;
			t += cnt;
			ow += cnt;
			if (ow == OW) {
				ow = 0;
				oh++;
			}
		} else {
			seg[nseg].oh = UINT32_MAX;
			seg[nseg].ow = 0;
		}
		seg[nseg].cnt = (uint32_t)cnt;
		seg[nseg].off = panel * nr * kk + lane;
		nseg++;
		lane += cnt;
		if (lane == nr) {
			lane = 0;
			panel++;
		}
	}

	for (q = 0; q < kk; q++) {
		size_t kidx = k0 + q, c = kidx / khw, i = kidx % khw / p->kw, j = kidx % p->kw;
		const float *xc = s->x + c * p->H * p->W;
		size_t off = j * p->dil_w;
		/* Valid ow: pad_left <= ow * sw + off < W + pad_left. */
		size_t ow_a = off >= p->pad_left ? 0 :
						   (p->pad_left - off + p->stride_w - 1) / p->stride_w;
		size_t ow_b = off >= p->W + p->pad_left ? 0 :
							  (p->W + p->pad_left - off - 1) / p->stride_w + 1;
		float *dq = dst + q * nr;

		if (ow_b > OW)
			ow_b = OW;
		if (ow_a > ow_b)
			ow_a = ow_b;
		for (g = 0; g < nseg; g++) {
			const struct ic_seg *sg = &seg[g];
			size_t ihp;
			const float *xr = NULL;

			if (sg->oh != UINT32_MAX) {
				ihp = (size_t)sg->oh * p->stride_h + i * p->dil_h;
				if (ihp >= p->pad_top && ihp - p->pad_top < p->H)
					xr = xc + (ihp - p->pad_top) * p->W;
			}
			ic_run(p, xr, sg->ow, sg->cnt, off, ow_a, ow_b, x_end, dq + sg->off);
		}
	}
}
