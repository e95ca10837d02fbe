/*
 * Depthwise convolution, one channel plane, written over the vf_*
 * wrappers and instantiated per ISA (conv/avx2.c, conv/avx512.c).
 *
 * The plane is first copied into a zero-padded scratch plane (PH x PW,
 * eml_dwconv_scratch_size), so the inner loop has no border cases: each
 * output row is whole vectors of VF_N outputs (a masked store for the
 * last), each the sum of kh x kw broadcast-weight FMAs on plain (stride 1)
 * or even-lane (stride 2) loads of the padded rows. The scratch rows have
 * slack at the end, so a full-vector load past the last output never
 * leaves the scratch. Bias starts the accumulator; the activation runs on
 * the vector before the store. Strides above 2 use a scalar loop on the
 * same padded plane.
 */
#ifndef DW_NAME
#error "define DW_NAME before including dw_tmpl.h"
#endif

/* Copy x (H x W) into the padded plane; zero every position that is not
 * input. */
static void
dw_pad(const struct eml_conv2d_params *p, size_t PH, size_t PW, const float *x, float *s)
{
	size_t r, c;

	for (r = 0; r < PH; r++) {
		float *row = s + r * PW;

		if (r < p->pad_top || r - p->pad_top >= p->H) {
			memset(row, 0, PW * sizeof(float));
			continue;
		}
		for (c = 0; c < p->pad_left; c++)
			row[c] = 0.0f;
		memcpy(row + p->pad_left, x + (r - p->pad_top) * p->W, p->W * sizeof(float));
		for (c = p->pad_left + p->W; c < PW; c++)
			row[c] = 0.0f;
	}
}

/* Always inlined with constant kh, kw, sw at the call sites below, so the
 * tap loops unroll for the common 3x3 and 5x5 cases. */
static inline __attribute__((always_inline)) void
dw_rows(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t PW, const float *s,
    const float *w, float bias, float *y, size_t kh, size_t kw, size_t sw)
{
	size_t sh = p->stride_h, dh = p->dil_h, dw = p->dil_w;
	vf va = vf_set1(p->ep.a), vb = vf_set1(p->ep.b), vbias = vf_set1(bias);
	size_t oh, ow, i, j;

	for (oh = 0; oh < OH; oh++) {
		const float *base = s + oh * sh * PW;
		float *yr = y + oh * OW;

		for (ow = 0; ow < OW; ow += VF_N) {
			vf acc = vbias;

			for (i = 0; i < kh; i++) {
				const float *r = base + i * dh * PW + ow * sw;

				for (j = 0; j < kw; j++) {
					vf xv = sw == 1 ? vf_load(r + j * dw) : vf_load_s2(r + j * dw);

					acc = vf_fma(vf_set1(w[i * kw + j]), xv, acc);
				}
			}
			acc = vf_act(p->ep.act, acc, va, vb);
			if (OW - ow >= VF_N)
				vf_store(yr + ow, acc);
			else
				vf_storen(yr + ow, acc, OW - ow);
		}
	}
}

static void
dw_scalar(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t PW, const float *s,
    const float *w, float bias, float *y)
{
	vf va = vf_set1(p->ep.a), vb = vf_set1(p->ep.b);
	size_t oh, ow, i, j;

	for (oh = 0; oh < OH; oh++) {
		float *yr = y + oh * OW;

		for (ow = 0; ow < OW; ow++) {
			float acc = bias;

			for (i = 0; i < p->kh; i++)
				for (j = 0; j < p->kw; j++)
					acc += s[(oh * p->stride_h + i * p->dil_h) * PW +
						 ow * p->stride_w + j * p->dil_w] *
					    w[i * p->kw + j];
			yr[ow] = acc;
		}
		for (ow = 0; ow < OW; ow += VF_N) {
			size_t c = OW - ow < VF_N ? OW - ow : VF_N;

			vf_storen(yr + ow, vf_act(p->ep.act, vf_loadn(yr + ow, c), va, vb), c);
		}
	}
}

void
DW_NAME(const struct eml_conv2d_params *p, size_t OH, size_t OW, const float *x,
    const float *w, float bias, float *y, float *scratch)
{
	size_t PH, PW;

	eml_dwconv_geometry(p, OH, OW, &PH, &PW);
	dw_pad(p, PH, PW, x, scratch);
	if (p->stride_w > 2)
		dw_scalar(p, OH, OW, PW, scratch, w, bias, y);
	else if (p->kh == 3 && p->kw == 3 && p->stride_w == 1)
		dw_rows(p, OH, OW, PW, scratch, w, bias, y, 3, 3, 1);
	else if (p->kh == 3 && p->kw == 3)
		dw_rows(p, OH, OW, PW, scratch, w, bias, y, 3, 3, 2);
	else if (p->kh == 5 && p->kw == 5 && p->stride_w == 1)
		dw_rows(p, OH, OW, PW, scratch, w, bias, y, 5, 5, 1);
	else if (p->kh == 5 && p->kw == 5)
		dw_rows(p, OH, OW, PW, scratch, w, bias, y, 5, 5, 2);
	else
		dw_rows(p, OH, OW, PW, scratch, w, bias, y, p->kh, p->kw, p->stride_w);
}
