/* eml_sort, the product's one sort (common/eml_sort.h): every length
 * from 0 to 300 and element sizes 1, 4, 8, 32 and 33 (odd, as the
 * manifest's id records are), random, sorted, reversed and all-equal
 * inputs, checked against the C library's qsort as the oracle and for
 * being a permutation of the input. */
#include "eml_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_sort.h"

static size_t g_size;

static int
cmp_bytes(const void *a, const void *b)
{
	return memcmp(a, b, g_size);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15u;

static uint8_t
rnd(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return (uint8_t)g_rng;
}

static void
fill(uint8_t *a, size_t n, size_t size, int kind)
{
	for (size_t i = 0; i < n * size; i++)
		a[i] = kind == 3 ? 7 : (uint8_t)(rnd() & (kind == 0 ? 0xff : 0x03));
	if (kind == 1 || kind == 2) {
		g_size = size;
		qsort(a, n, size, cmp_bytes);
		if (kind == 2)
			for (size_t i = 0; i < n / 2; i++)
				for (size_t j = 0; j < size; j++) {
					uint8_t t = a[i * size + j];
					a[i * size + j] = a[(n - 1 - i) * size + j];
					a[(n - 1 - i) * size + j] = t;
				}
	}
}

static void
matches_qsort(void **state)
{
	static const size_t sizes[] = { 1, 4, 8, 32, 33 };
	static uint8_t a[300 * 33], b[300 * 33];

	(void)state;
	for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++)
		for (size_t n = 0; n <= 300; n++)
			for (int kind = 0; kind < 4; kind++) {
				g_size = sizes[s];
				fill(a, n, g_size, kind);
				memcpy(b, a, n * g_size);
				eml_sort(a, n, g_size, cmp_bytes);
				qsort(b, n, g_size, cmp_bytes);
				/* Equal elements compare equal byte for byte, so
				 * the sorted arrays are identical. */
				assert_memory_equal(a, b, n * g_size + (n == 0));
			}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(matches_qsort),
	};

	return cmocka_run_group_tests_name("sort", tests, NULL, NULL);
}
