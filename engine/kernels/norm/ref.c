/* Channel affine (folded batch norm) and layer normalization, reference. */
#include <math.h>

#include "engine/kernels/eml_kernels_int.h"

void
eml_channel_affine_ref(size_t N, size_t C, size_t HW, const float *x, const float *scale,
    const float *shift, float *y)
{
	size_t n, c, i;

	for (n = 0; n < N; n++) {
		for (c = 0; c < C; c++) {
			const float *xp = x + (n * C + c) * HW;
			float *yp = y + (n * C + c) * HW;

			/* Multiply then add, two roundings (no FMA): the SIMD
			 * variants do the same and are bit-identical. */
			for (i = 0; i < HW; i++)
				yp[i] = xp[i] * scale[c] + shift[c];
		}
	}
}

void
eml_layernorm_ref(size_t rows, size_t n, const float *x, const float *g, const float *b,
    float eps, float *y)
{
	size_t r, i;

	for (r = 0; r < rows; r++) {
		const float *xr = x + r * n;
		float *yr = y + r * n;
		float mean = 0.0f, var = 0.0f, inv;

		for (i = 0; i < n; i++)
			mean += xr[i];
		mean /= (float)n;
		for (i = 0; i < n; i++) {
			float d = xr[i] - mean;

			var += d * d;
		}
		var /= (float)n;
		inv = 1.0f / sqrtf(var + eps);
		for (i = 0; i < n; i++) {
			float v = (xr[i] - mean) * inv;

			if (g != NULL)
				v *= g[i];
			if (b != NULL)
				v += b[i];
			yr[i] = v;
		}
	}
}
