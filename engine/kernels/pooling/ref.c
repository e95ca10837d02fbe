/*
 * Pooling, portable reference. Max pooling ignores padded positions (they
 * act as -inf). Average pooling divides by the number of window positions
 * inside the input, or, with count_include_pad, by kh * kw (every window
 * position counted, padded or not).
 */
#include <math.h>

#include "engine/kernels/eml_kernels_int.h"

void
eml_pool2d_ref(bool is_max, size_t NC, size_t H, size_t W, size_t kh, size_t kw, size_t sh,
    size_t sw, size_t dh, size_t dw, size_t pt, size_t pl, size_t OH, size_t OW,
    bool count_include_pad, const float *x, float *y)
{
	size_t c, oh, ow, i, j;

	for (c = 0; c < NC; c++) {
		const float *xp = x + c * H * W;
		float *yp = y + c * OH * OW;

		for (oh = 0; oh < OH; oh++) {
			for (ow = 0; ow < OW; ow++) {
				float acc = is_max ? -INFINITY : 0.0f;
				size_t cnt = 0;

				for (i = 0; i < kh; i++) {
					/* ih = oh*sh + i*dh - pt, unsigned-safe. */
					size_t ihp = oh * sh + i * dh;

					if (ihp < pt || ihp - pt >= H)
						continue;
					for (j = 0; j < kw; j++) {
						size_t iwp = ow * sw + j * dw;
						float v;

						if (iwp < pl || iwp - pl >= W)
							continue;
						v = xp[(ihp - pt) * W + (iwp - pl)];
						if (is_max)
							acc = (v > acc || v != v) ? v : acc;
						else
							acc += v;
						cnt++;
					}
				}
				if (!is_max) {
					size_t d = count_include_pad ? kh * kw : cnt;

					acc = d == 0 ? 0.0f : acc / (float)d;
				}
				yp[oh * OW + ow] = acc;
			}
		}
	}
}

void
eml_global_pool_ref(bool is_max, size_t NC, size_t HW, const float *x, float *y)
{
	size_t c, i;

	for (c = 0; c < NC; c++) {
		float acc = is_max ? -INFINITY : 0.0f;

		for (i = 0; i < HW; i++) {
			float v = x[c * HW + i];

			if (is_max)
				acc = (v > acc || v != v) ? v : acc;
			else
				acc += v;
		}
		y[c] = is_max ? acc : (HW == 0 ? 0.0f : acc / (float)HW);
	}
}
