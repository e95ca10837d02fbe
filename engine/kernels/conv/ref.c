/* Direct 2-D convolution, portable reference (the oracle for every
 * convolution method). Sums in the order c, i, j per output element. */
#include "engine/kernels/eml_kernels_int.h"

void
eml_conv2d_ref(const struct eml_conv2d_params *p, const float *x, const float *w,
    const float *bias, float *y)
{
	size_t OH = eml_conv2d_out_h(p), OW = eml_conv2d_out_w(p);
	size_t Cg = p->C / p->group, Mg = p->M / p->group;
	size_t n, m, oh, ow, c, i, j;

	for (n = 0; n < p->N; n++) {
		for (m = 0; m < p->M; m++) {
			size_t g = m / Mg;
			const float *wm = w + m * Cg * p->kh * p->kw;
			float *yp = y + (n * p->M + m) * OH * OW;

			for (oh = 0; oh < OH; oh++) {
				for (ow = 0; ow < OW; ow++) {
					float acc = 0.0f;

					for (c = 0; c < Cg; c++) {
						const float *xp =
						    x + (n * p->C + g * Cg + c) * p->H * p->W;

						for (i = 0; i < p->kh; i++) {
							size_t ihp = oh * p->stride_h + i * p->dil_h;

							if (ihp < p->pad_top || ihp - p->pad_top >= p->H)
								continue;
							for (j = 0; j < p->kw; j++) {
								size_t iwp = ow * p->stride_w + j * p->dil_w;

								if (iwp < p->pad_left ||
								    iwp - p->pad_left >= p->W)
									continue;
								acc += xp[(ihp - p->pad_top) * p->W +
									   (iwp - p->pad_left)] *
								    wm[(c * p->kh + i) * p->kw + j];
							}
						}
					}
					if (bias != NULL)
						acc += bias[m];
					yp[oh * OW + ow] = eml_act_ref(p->ep.act, p->ep.a, p->ep.b, acc);
				}
			}
		}
	}
}
