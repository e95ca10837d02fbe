/*
 * Memory: every allocation in the project goes through here (STYLE §24).
 *
 * - eml_alloc/eml_calloc/eml_free: ordinary heap memory. eml_free_wipe()
 *   zeroes before freeing and is what anything that held plaintext uses.
 * - eml_secure_alloc/eml_secure_free: secrets and model material. Guarded
 *   pages, a canary, mlock (best effort, reported by eml_secure_locked()),
 *   MADV_DONTDUMP, and a wipe on free (libsodium's sodium_malloc).
 *
 * Test hooks: eml_mem_fail_after(n) makes the n-th following allocation
 * (counting from 1) fail, so error paths can be driven one by one; and a
 * wipe observer sees each secure region just after it is wiped and before
 * it is released, so tests can prove nothing survives.
 */
#ifndef EML_MEM_H
#define EML_MEM_H

#include <stdbool.h>
#include <stddef.h>

#include "eml_err.h"

/* Initialises libsodium; safe to call more than once, from any thread.
 * Returns EML_OK or EML_ERR_CRYPTO. */
eml_err eml_mem_init(void) EML_MUST_USE;

void *eml_alloc(size_t n);
/* Zeroed; NULL on overflow of nmemb * size. */
void *eml_calloc(size_t nmemb, size_t size);
/* Like realloc; on failure the old block is untouched and NULL returned.
 * Not for secrets: the old block is not wiped. */
void *eml_realloc(void *p, size_t n);
void eml_free(void *p);
/* Zero n bytes at p, then free. */
void eml_free_wipe(void *p, size_t n);
/* strdup through eml_alloc. */
char *eml_strdup(const char *s);

void *eml_secure_alloc(size_t n);
void eml_secure_free(void *p);
/* Whether the last eml_secure_alloc on this process got its pages locked. */
bool eml_secure_locked(void);

/* Wipe that the compiler cannot drop. */
void eml_wipe(void *p, size_t n);

/* Test hooks. n <= 0 disables the failure injection. */
void eml_mem_fail_after(long n);
typedef void (*eml_wipe_observer)(const void *p, size_t n, void *arg);
void eml_mem_set_wipe_observer(eml_wipe_observer fn, void *arg);

#endif
