/*
 * Shared helpers for unit tests (cmocka) and benchmarks.
 */
#ifndef EML_TEST_H
#define EML_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "eml_err.h"

/* assert that an eml_err expression equals the expected code, printing
 * both names on failure. */
#define assert_eml(expr, expected)                                             \
	do {                                                                   \
		eml_err eml_t_rc_ = (expr);                                    \
		if (eml_t_rc_ != (expected))                                   \
			fail_msg("%s: got %s (%d), want %s (%d) [%s] %s", #expr, \
			    eml_err_name(eml_t_rc_), (int)eml_t_rc_,           \
			    eml_err_name(expected), (int)(expected),           \
			    eml_err_where(), eml_err_detail());                \
	} while (0)
#define assert_eml_ok(expr) assert_eml((expr), EML_OK)

/* Seed for randomized tests: EML_TEST_SEED from the environment, or from the
 * clock. Printed once so a failure can be replayed. */
uint64_t eml_test_seed(void);
/* splitmix64: a small deterministic generator for test data. */
uint64_t eml_test_rand(uint64_t *state);
void eml_test_fill(uint64_t *state, void *p, size_t n);

/* Path under the test data folder ($EML_TESTDATA, default testdata). Returns a
 * static buffer. */
const char *eml_test_data(const char *rel);
/* Read a whole file (eml_file_read) into an eml_alloc'ed buffer followed by
 * a zero byte not counted in *len; fails the test on error. eml_free it. */
uint8_t *eml_test_read_file(const char *path, size_t *len);
/* Monotonic clock in seconds, for benchmarks. */
double eml_test_now(void);

#endif
