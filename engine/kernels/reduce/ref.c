/* Row reductions, portable reference. NaN propagates through max. */
#include <math.h>

#include "engine/kernels/eml_kernels_int.h"

void
eml_reduce_sum_ref(size_t rows, size_t n, const float *x, float *y)
{
	size_t r, i;

	for (r = 0; r < rows; r++) {
		float s = 0.0f;

		for (i = 0; i < n; i++)
			s += x[r * n + i];
		y[r] = s;
	}
}

void
eml_reduce_max_ref(size_t rows, size_t n, const float *x, float *y)
{
	size_t r, i;

	for (r = 0; r < rows; r++) {
		float m = -INFINITY;

		for (i = 0; i < n; i++) {
			float v = x[r * n + i];

			/* Once m is NaN no comparison replaces it. */
			m = (v > m || v != v) ? v : m;
		}
		y[r] = m;
	}
}
