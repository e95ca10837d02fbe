/*
 * The one entry point of every libFuzzer target:
 *
 *     EML_FUZZ_TARGET(setup)
 *     {
 *             ... one input: data, size ...
 *             return 0;
 *     }
 *
 * expands to LLVMFuzzerInitialize (eml_mem_init, then setup() when setup is
 * not NULL; any failure aborts: a target that cannot start must not report
 * a clean run) and LLVMFuzzerTestOneInput, whose body is the block that
 * follows. setup is a static int (void) function returning 0, or NULL.
 */
#ifndef EML_FUZZ_H
#define EML_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "eml_mem.h"

typedef int (*eml_fuzz_setup_fn)(void);

static inline int
eml_fuzz_setup_(eml_fuzz_setup_fn fn)
{
	return fn != NULL ? fn() : 0;
}

#define EML_FUZZ_TARGET(setup)                                                 \
	int LLVMFuzzerInitialize(int *argc, char ***argv);                     \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);          \
	int LLVMFuzzerInitialize(int *argc, char ***argv)                      \
	{                                                                      \
		(void)argc;                                                    \
		(void)argv;                                                    \
		if (eml_mem_init() != EML_OK || eml_fuzz_setup_(setup) != 0)   \
			abort();                                               \
		return 0;                                                      \
	}                                                                      \
	int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)

#endif
