/* Softmax over rows, portable reference. */
#include <math.h>

#include "engine/kernels/eml_kernels_int.h"

void
eml_softmax_ref(size_t rows, size_t n, const float *x, float *y, bool log_softmax)
{
	size_t r, i;

	for (r = 0; r < rows; r++) {
		const float *xr = x + r * n;
		float *yr = y + r * n;
		float m = -INFINITY, s = 0.0f;

		for (i = 0; i < n; i++)
			m = xr[i] > m ? xr[i] : m;
		if (log_softmax) {
			for (i = 0; i < n; i++)
				s += expf(xr[i] - m);
			float ls = logf(s);

			for (i = 0; i < n; i++)
				yr[i] = (xr[i] - m) - ls;
		} else {
			/* x and y may alias: exponentiate in place, then scale. */
			for (i = 0; i < n; i++) {
				float e = expf(xr[i] - m);

				yr[i] = e;
				s += e;
			}
			float inv = 1.0f / s;

			for (i = 0; i < n; i++)
				yr[i] *= inv;
		}
	}
}
