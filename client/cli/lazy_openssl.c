/*
 * libssl and libcrypto, loaded on the first call into them (issue 16).
 *
 * eml is linked without -lssl -lcrypto: every OpenSSL function its code
 * calls is a stub (scripts/lazy-openssl.sh, generated at build time) that
 * jumps through eml_osl_tab. Each entry first points at code that calls
 * eml_osl_load and then jumps again. eml_osl_load opens the libssl the
 * build linked against by its soname (libcrypto comes with it), the same
 * library the dynamic loader would have loaded at start and from the same
 * search path, looks up every function and makes the table read-only.
 * Relocating libcrypto at start was ~4.5 ms of CPU on every command, half
 * of `eml run --local` on the demo model, which never calls OpenSSL.
 */
#if defined(__x86_64__) /* the stubs are x86-64 assembly (Makefile) */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

/* from the generated stubs */
extern void *eml_osl_tab[];
extern const char *const eml_osl_names[];
extern const char eml_osl_soname[];
extern const size_t eml_osl_count;

void eml_osl_load(void);

static pthread_once_t osl_once = PTHREAD_ONCE_INIT;

/* A function the installed library does not have: called, it stops. */
static void
osl_missing(void)
{
	static const char msg[] = "eml: an OpenSSL function this build calls is missing from the "
				  "installed library\n";

	(void)!write(2, msg, sizeof(msg) - 1);
	abort();
}

static void
osl_open(void)
{
	void *h = dlopen(eml_osl_soname, RTLD_NOW | RTLD_LOCAL);
	long pg = sysconf(_SC_PAGESIZE);
	size_t bytes = eml_osl_count * sizeof(void *);

	if (h == NULL) {
		fprintf(stderr, "eml: cannot load %s: %s\n", eml_osl_soname, dlerror());
		_exit(3);
	}
	for (size_t i = 0; i < eml_osl_count; i++) {
		void *f = dlsym(h, eml_osl_names[i]);

		eml_osl_tab[i] = f != NULL ? f : (void *)(uintptr_t)osl_missing;
	}
	/* the table has whole pages of its own (lazy-openssl.sh) */
	if (pg > 0)
		(void)mprotect(eml_osl_tab, (bytes + (size_t)pg - 1) & ~((size_t)pg - 1), PROT_READ);
}

void
eml_osl_load(void)
{
	(void)pthread_once(&osl_once, osl_open);
}
#else
typedef int eml_lazy_openssl_unused; /* not an empty translation unit */
#endif
