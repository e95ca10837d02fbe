#include "eml_test.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "eml_file.h"
#include "eml_mem.h"

uint64_t
eml_test_seed(void)
{
	static uint64_t seed;
	static int done;
	const char *s;

	if (done)
		return seed;
	s = getenv("EML_TEST_SEED");
	if (s != NULL && *s != '\0') {
		seed = strtoull(s, NULL, 0);
	} else {
		struct timespec ts;

		(void)clock_gettime(CLOCK_REALTIME, &ts);
		seed = (uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec;
	}
	fprintf(stderr, "test seed: EML_TEST_SEED=%" PRIu64 "\n", seed);
	done = 1;
	return seed;
}

uint64_t
eml_test_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void
eml_test_fill(uint64_t *state, void *p, size_t n)
{
	uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)eml_test_rand(state);
}

const char *
eml_test_data(const char *rel)
{
	static char path[4096];
	const char *base = getenv("EML_TESTDATA");

	if (base == NULL || *base == '\0')
		base = "testdata";
	(void)snprintf(path, sizeof(path), "%s/%s", base, rel);
	return path;
}

uint8_t *
eml_test_read_file(const char *path, size_t *len)
{
	uint8_t *p = NULL;
	eml_err rc = eml_file_read(path, (size_t)1 << 31, 0, &p, len);

	if (rc != EML_OK)
		fail_msg("cannot read %s: %s (%s)", path, eml_err_name(rc), eml_err_detail());
	return p;
}

double
eml_test_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
