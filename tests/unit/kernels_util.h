/*
 * Helpers shared by the kernel tests (tests/unit/test_kernels_*.c):
 * random floats, canary-guarded buffers (out-of-bounds writes) and
 * buffers that end at a PROT_NONE page (out-of-bounds reads fault).
 */
#ifndef EML_KERNELS_UTIL_H
#define EML_KERNELS_UTIL_H

#include <float.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "eml_mem.h"
#include "eml_test.h"
#include "engine/kernels/eml_kernels.h"

#define KT_GUARD 32 /* canary floats on each side */
#define KT_CANARY 0x7fc0dead /* a NaN with a recognisable payload */

static inline float
kt_randf(uint64_t *st, float lo, float hi)
{
	double u = (double)(eml_test_rand(st) >> 11) / 9007199254740992.0;

	return (float)(lo + (hi - lo) * u);
}

static inline size_t
kt_randz(uint64_t *st, size_t lo, size_t hi)
{
	return lo + (size_t)(eml_test_rand(st) % (hi - lo + 1));
}

static inline void
kt_fill(uint64_t *st, float *p, size_t n, float lo, float hi)
{
	for (size_t i = 0; i < n; i++)
		p[i] = kt_randf(st, lo, hi);
}

/* n floats between two canary zones; kt_free checks the canaries. */
static inline float *
kt_alloc(size_t n)
{
	float *b = eml_alloc((n + 2 * KT_GUARD) * sizeof(float));
	uint32_t c = KT_CANARY;

	assert_non_null(b);
	for (size_t i = 0; i < KT_GUARD; i++) {
		memcpy(&b[i], &c, sizeof(c));
		memcpy(&b[KT_GUARD + n + i], &c, sizeof(c));
	}
	return b + KT_GUARD;
}

static inline void
kt_check_canaries(const float *p, size_t n, const char *what)
{
	const float *b = p - KT_GUARD;

	for (size_t i = 0; i < KT_GUARD; i++) {
		uint32_t lo, hi;

		memcpy(&lo, &b[i], sizeof(lo));
		memcpy(&hi, &b[KT_GUARD + n + i], sizeof(hi));
		if (lo != KT_CANARY || hi != KT_CANARY)
			fail_msg("%s: write outside the buffer (canary %zu %s)", what, i,
			    lo != KT_CANARY ? "before" : "after");
	}
}

static inline void
kt_free(float *p, size_t n, const char *what)
{
	if (p == NULL)
		return;
	kt_check_canaries(p, n, what);
	eml_free(p - KT_GUARD);
}

/* n floats ending exactly at a PROT_NONE page: any read past the end
 * faults. */
struct kt_edge {
	void *map;
	size_t maplen;
	float *p;
};

static inline float *
kt_edge_alloc(struct kt_edge *e, size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	size_t bytes = n * sizeof(float);
	size_t data = (bytes + pg - 1) / pg * pg;

	e->maplen = data + pg;
	e->map = mmap(NULL, e->maplen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(e->map != MAP_FAILED);
	assert_int_equal(mprotect((char *)e->map + data, pg, PROT_NONE), 0);
	e->p = (float *)(void *)((char *)e->map + data - bytes);
	return e->p;
}

static inline void
kt_edge_free(struct kt_edge *e)
{
	if (e->map != NULL)
		munmap(e->map, e->maplen);
	e->map = NULL;
}

/* Distance in ULPs between two floats (NaN == NaN counts as 0; a NaN
 * against a number is "infinitely" far). */
static inline uint64_t
kt_ulp(float a, float b)
{
	int32_t ia, ib;
	int64_t d;

	if (a != a || b != b)
		return (a != a && b != b) ? 0 : UINT64_MAX;
	if (a == b)
		return 0;
	memcpy(&ia, &a, sizeof(ia));
	memcpy(&ib, &b, sizeof(ib));
	/* Map the sign-magnitude encoding onto a monotonic integer line. */
	if (ia < 0)
		ia = INT32_MIN - ia;
	if (ib < 0)
		ib = INT32_MIN - ib;
	d = (int64_t)ia - (int64_t)ib;
	return (uint64_t)(d < 0 ? -d : d);
}

/*
 * Whether this CPU must have kernels for isa, judged independently of the
 * dispatcher (the compiler's CPUID checks): REF always; AVX2 with AVX2 and
 * FMA; AVX-512 with F, DQ, BW and VL. Asserts that eml_kernels_for agrees,
 * so a dispatcher that wrongly returns NULL fails instead of skipping, and
 * returns whether k is there to test.
 */
static inline bool
isa_expected(enum eml_isa isa, const struct eml_kernels *k)
{
	bool want;

	switch (isa) {
	case EML_ISA_REF:
		want = true;
		break;
	case EML_ISA_AVX2:
		want = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
		break;
	case EML_ISA_AVX512:
		want = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
		    __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
		break;
	default:
		want = false;
		break;
	}
	assert_int_equal(k != NULL, want);
	return k != NULL;
}

/* The ISA under test, or skip() with the reason. */
static inline const struct eml_kernels *
kt_need(enum eml_isa isa)
{
	const struct eml_kernels *k = eml_kernels_for(isa);

	if (k == NULL) {
		fprintf(stderr, "skipped: this CPU (best %s) lacks %s\n",
		    eml_isa_name(eml_cpu_best_isa()), eml_isa_name(isa));
		skip();
	}
	return k;
}

#endif
