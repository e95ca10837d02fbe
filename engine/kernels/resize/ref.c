/*
 * 2-D resize of NCHW planes from per-row and per-column tables (the
 * engine computes them from the ONNX coordinate and rounding modes):
 * nearest reads one input, linear blends the two inputs of each axis where
 * they differ. Plain C: the work is one or four loads per output, and the
 * tables take the coordinate arithmetic out of the inner loop.
 *
 * The linear sum is the engine's generic N-D Resize, term by term in the
 * same order (rows before columns, each weight the product of the axis
 * factors), so the two give the same bits.
 */
#include <string.h>

#include "engine/kernels/eml_kernels.h"

static void
nearest_plane(const struct eml_resize2d *r, const float *x, float *y)
{
	size_t oh, ow;

	for (oh = 0; oh < r->OH; oh++) {
		float *yr = y + oh * r->OW;
		const float *xr = x + (size_t)r->ih0[oh] * r->W;

		/* Upsampling repeats input rows: copy the row just made. */
		if (oh > 0 && r->ih0[oh] == r->ih0[oh - 1]) {
			memcpy(yr, yr - r->OW, r->OW * sizeof(float));
			continue;
		}
		for (ow = 0; ow < r->OW; ow++)
			yr[ow] = xr[r->iw0[ow]];
	}
}

/* One output of a row whose two input rows differ (hl) or not. */
static inline float
linear_point(const float *r0, const float *r1, bool hl, float wh, int64_t c0, int64_t c1,
    float ww)
{
	float acc = 0.0f;

	if (c0 != c1) {
		if (hl) {
			acc += (1.0f - wh) * (1.0f - ww) * r0[c0];
			acc += wh * (1.0f - ww) * r1[c0];
			acc += (1.0f - wh) * ww * r0[c1];
			acc += wh * ww * r1[c1];
		} else {
			acc += (1.0f - ww) * r0[c0];
			acc += ww * r0[c1];
		}
	} else if (hl) {
		acc += (1.0f - wh) * r0[c0];
		acc += wh * r1[c0];
	} else {
		acc += 1.0f * r0[c0];
	}
	return acc;
}

static void
linear_plane(const struct eml_resize2d *r, const float *x, float *y)
{
	size_t oh, ow;

	for (oh = 0; oh < r->OH; oh++) {
		float *yr = y + oh * r->OW;
		const float *r0 = x + (size_t)r->ih0[oh] * r->W;
		const float *r1 = x + (size_t)r->ih1[oh] * r->W;
		bool hl = r->ih0[oh] != r->ih1[oh];
		float wh = r->wh[oh];

		for (ow = 0; ow < r->OW; ow++)
			yr[ow] = linear_point(r0, r1, hl, wh, r->iw0[ow], r->iw1[ow], r->ww[ow]);
	}
}

void
eml_resize2d_planes(const struct eml_resize2d *r, size_t planes, const float *x, float *y)
{
	size_t i;

	for (i = 0; i < planes; i++) {
		const float *xp = x + i * r->H * r->W;
		float *yp = y + i * r->OH * r->OW;

		if (r->linear)
			linear_plane(r, xp, yp);
		else
			nearest_plane(r, xp, yp);
	}
}
