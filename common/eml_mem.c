#include "eml_mem.h"

#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/*
 * Secure blocks carry a small header in front of the user pointer so that
 * eml_secure_free knows the size to wipe and report to the observer.
 * sodium_malloc puts the region right before a guard page; the total is
 * rounded up to 64 bytes so the user pointer is 64-byte aligned, which
 * means an overrun of less than 64 bytes past the end may not fault.
 */
struct secure_hdr {
	size_t size;
	uint64_t magic;
	uint8_t pad[48]; /* keeps the user pointer 64-byte aligned for SIMD */
};
#define SECURE_MAGIC 0x656d6c7365637572ULL /* "emlsecur" */

static atomic_long fail_countdown;
static eml_wipe_observer wipe_observer;
static void *wipe_observer_arg;
static atomic_bool last_locked;
static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_rc = -1;

static void
sodium_init_once(void)
{
	sodium_rc = sodium_init();
}

eml_err
eml_mem_init(void)
{
	(void)pthread_once(&sodium_once, sodium_init_once);
	EML_ENSURE(sodium_rc >= 0, EML_ERR_CRYPTO);
	return EML_OK;
}

static bool
injected_failure(void)
{
	long n = atomic_load(&fail_countdown);

	while (n > 0) {
		if (atomic_compare_exchange_weak(&fail_countdown, &n, n - 1))
			return n == 1;
	}
	return false;
}

void
eml_mem_fail_after(long n)
{
	atomic_store(&fail_countdown, n > 0 ? n : 0);
}

void
eml_mem_set_wipe_observer(eml_wipe_observer fn, void *arg)
{
	wipe_observer = fn;
	wipe_observer_arg = arg;
}

void *
eml_alloc(size_t n)
{
	if (injected_failure())
		return NULL;
	return malloc(n == 0 ? 1 : n);
}

void *
eml_calloc(size_t nmemb, size_t size)
{
	size_t total;

	if (eml_mul_overflow(nmemb, size, &total))
		return NULL;
	if (injected_failure())
		return NULL;
	return calloc(1, total == 0 ? 1 : total);
}

void *
eml_realloc(void *p, size_t n)
{
	if (injected_failure())
		return NULL;
	return realloc(p, n == 0 ? 1 : n);
}

void
eml_free(void *p)
{
	free(p);
}

void
eml_wipe(void *p, size_t n)
{
	if (p != NULL && n != 0)
		sodium_memzero(p, n);
}

void
eml_free_wipe(void *p, size_t n)
{
	if (p == NULL)
		return;
	eml_wipe(p, n);
	free(p);
}

char *
eml_strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *d = eml_alloc(n);

	if (d != NULL)
		memcpy(d, s, n);
	return d;
}

void *
eml_secure_alloc(size_t n)
{
	struct secure_hdr *h;
	size_t total;

	if (eml_mem_init() != EML_OK)
		return NULL;
	if (eml_add_overflow(n, sizeof(*h) + 63, &total))
		return NULL;
	total &= ~(size_t)63;
	if (injected_failure())
		return NULL;
	h = sodium_malloc(total);
	if (h == NULL)
		return NULL;
	/* sodium_malloc fills with 0xdb; start from zero like calloc. */
	sodium_memzero(h, total);
	h->size = n;
	h->magic = SECURE_MAGIC;
	/* sodium_malloc already tries mlock + MADV_DONTDUMP but does not say
	 * whether the lock held; locking again tells us. */
	atomic_store(&last_locked, sodium_mlock(h, total) == 0);
	return h + 1;
}

void
eml_secure_free(void *p)
{
	struct secure_hdr *h;
	size_t n;

	if (p == NULL)
		return;
	h = (struct secure_hdr *)p - 1;
	if (h->magic != SECURE_MAGIC)
		abort(); /* heap corruption or a foreign pointer: do not go on */
	n = h->size;
	sodium_memzero(p, n);
	if (wipe_observer != NULL)
		wipe_observer(p, n, wipe_observer_arg);
	h->magic = 0;
	sodium_free(h); /* wipes the header and unlocks */
}

bool
eml_secure_locked(void)
{
	return atomic_load(&last_locked);
}
