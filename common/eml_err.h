/*
 * Errors: one enum with stable numbers (eml_err.def), guard macros, and a
 * thread-local record of where the last error was raised and why.
 */
#ifndef EML_ERR_H
#define EML_ERR_H

#include <stddef.h>
#include <string.h>

#define EML_MUST_USE __attribute__((warn_unused_result))
#define EML_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define EML_API __attribute__((visibility("default")))

typedef enum {
#define EML_ERR(name, num, msg) name = (num),
#include "eml_err.def"
#undef EML_ERR
} eml_err;

/* Message for a code; "unknown error" for a number not in the table. */
const char *eml_strerror(eml_err e);
/* Symbolic name ("EML_ERR_IO"); "EML_ERR_UNKNOWN" when not in the table. */
const char *eml_err_name(eml_err e);
/* Category range of a code: 0, 100, 200, ... 900. */
int eml_err_category(eml_err e);
/* Exit status for the command-line contract (DESIGN §9): 0 success,
 * 1 verification or policy failure, 2 usage, 3 I/O or peer failure. */
int eml_err_exit_code(eml_err e);

/*
 * Record where an error arose (file:line:func) and return it unchanged.
 * The record is thread-local and is what eml_err_where() reports.
 */
eml_err eml_err_record(eml_err e, const char *file, int line, const char *func);
const char *eml_err_where(void);

/*
 * A short human detail for the last error on this thread, e.g. which PCR
 * did not match. Never put secrets or payload bytes in it. The detail is
 * cleared by eml_err_clear_detail() and by the next eml_err_set_detail().
 */
void eml_err_set_detail(const char *fmt, ...) EML_PRINTF(1, 2);
const char *eml_err_detail(void);
void eml_err_clear_detail(void);
/* Another thread's record (eml_err_where, eml_err_detail, copied there)
 * made this thread's: for work split across threads that must report as
 * if it had run on the caller's. Returns e. */
#define EML_ERR_WHERE_MAX 160
#define EML_ERR_DETAIL_MAX 256
eml_err eml_err_adopt(eml_err e, const char *where, const char *detail);

/* The five guard macros (STYLE §10). Use them only in functions that own
 * no resources; functions that own resources use `goto out`. */
#define EML_GUARD(expr)                                                        \
	do {                                                                   \
		eml_err eml_guard_rc_ = (expr);                                \
		if (eml_guard_rc_ != EML_OK)                                   \
			return eml_guard_rc_;                                  \
	} while (0)
#define EML_BAIL(err) return eml_err_record((err), __FILE__, __LINE__, __func__)
#define EML_ENSURE(cond, err)                                                  \
	do {                                                                   \
		if (!(cond))                                                   \
			EML_BAIL(err);                                         \
	} while (0)
#define EML_ENSURE_REF(p) EML_ENSURE((p) != NULL, EML_ERR_NULL)
/* memcpy that is defined for n == 0 with NULL pointers. A function, not
 * an if in the macro, so that clang's -Wsometimes-uninitialized sees the
 * destination initialised on every path (EML_MEMCPY(&x, p, sizeof(x))). */
static inline void
eml_memcpy_(void *dst, const void *src, size_t n)
{
	if (n != 0)
		memcpy(dst, src, n);
}
#define EML_MEMCPY(dst, src, n) eml_memcpy_((dst), (src), (n))

/* For `goto out` functions: record and jump. */
#define EML_FAIL(rcvar, err)                                                   \
	do {                                                                   \
		(rcvar) = eml_err_record((err), __FILE__, __LINE__, __func__); \
		goto out;                                                      \
	} while (0)

/* Overflow-checked size arithmetic (STYLE §18). Return nonzero on overflow. */
#define eml_add_overflow(a, b, res) __builtin_add_overflow((a), (b), (res))
#define eml_mul_overflow(a, b, res) __builtin_mul_overflow((a), (b), (res))

#endif
