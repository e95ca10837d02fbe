#include "eml_sort.h"

#include <stdint.h>

static void
swap_bytes(uint8_t *a, uint8_t *b, size_t size)
{
	for (size_t i = 0; i < size; i++) {
		uint8_t t = a[i];
		a[i] = b[i];
		b[i] = t;
	}
}

/* Move element i down the max-heap of the first n elements. */
static void
sift_down(uint8_t *base, size_t i, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	for (;;) {
		size_t l = 2 * i + 1, big = i;

		if (l < n && cmp(base + l * size, base + big * size) > 0)
			big = l;
		if (l + 1 < n && cmp(base + (l + 1) * size, base + big * size) > 0)
			big = l + 1;
		if (big == i)
			return;
		swap_bytes(base + i * size, base + big * size, size);
		i = big;
	}
}

void
eml_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	uint8_t *b = base;

	if (n < 2 || size == 0)
		return;
	for (size_t i = n / 2; i-- > 0;)
		sift_down(b, i, n, size, cmp);
	for (size_t end = n - 1; end > 0; end--) {
		swap_bytes(b, b + end * size, size);
		sift_down(b, 0, end, size, cmp);
	}
}
