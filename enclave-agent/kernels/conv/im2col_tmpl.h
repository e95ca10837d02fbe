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
	for (u = 0; u < cnt; u++) {
		size_t ow = o + u;

		d[u] = (ow >= ow_a && ow < ow_b) ? xr[ow * p->stride_w + off - p->pad_left] : 0.0f;
	}
}

void
IC_NAME(const void *vctx, size_t k0, size_t kk, size_t n0, size_t nn, size_t nr, float *dst)
{
	const struct eml_im2col *s = vctx;
	const struct eml_conv2d_params *p = s->p;
	size_t OW = s->OW, khw = p->kh * p->kw, q;

	for (q = 0; q < kk; q++) {
		size_t kidx = k0 + q, c = kidx / khw, i = kidx % khw / p->kw, j = kidx % p->kw;
		const float *xc = s->x + c * p->H * p->W;
		size_t off = j * p->dil_w;
		/* Valid ow: pad_left <= ow * sw + off < W + pad_left. */
		size_t ow_a = off >= p->pad_left ? 0 :
						   (p->pad_left - off + p->stride_w - 1) / p->stride_w;
		size_t ow_b = off >= p->W + p->pad_left ? 0 :
							  (p->W + p->pad_left - off - 1) / p->stride_w + 1;
		size_t t = 0, oh = n0 / OW, ow = n0 % OW;

		if (ow_b > OW)
			ow_b = OW;
		if (ow_a > ow_b)
			ow_a = ow_b;
		while (t < nn) {
			size_t ihp = oh * p->stride_h + i * p->dil_h;
			const float *xr = (ihp < p->pad_top || ihp - p->pad_top >= p->H) ?
			    NULL :
			    xc + (ihp - p->pad_top) * p->W;
			size_t run = nn - t < OW - ow ? nn - t : OW - ow;

			while (run > 0) {
				size_t lane = t % nr;
				size_t cnt = nr - lane;

				cnt = cnt < VF_N ? cnt : VF_N;
				cnt = cnt < run ? cnt : run;
				ic_chunk(p, xr, ow, cnt, off, ow_a, ow_b,
				    dst + (t / nr) * nr * kk + q * nr + lane);
				t += cnt;
				ow += cnt;
				run -= cnt;
			}
			ow = 0;
			oh++;
		}
		/* Zero the rest of the last panel. */
		while (t % nr != 0) {
			size_t lane = t % nr, cnt = nr - lane < VF_N ? nr - lane : VF_N;

			vf_storen(dst + (t / nr) * nr * kk + q * nr + lane, vf_zero(), cnt);
			t += cnt;
		}
	}
}
