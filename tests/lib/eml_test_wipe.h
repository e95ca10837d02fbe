/*
 * A recording wipe observer for tests (eml_mem_set_wipe_observer): every
 * secure region released while recording is noted with its address, size
 * and whether it was all zero at release. Safe to use while other threads
 * (an agent's sessions) release memory.
 */
#ifndef EML_TEST_WIPE_H
#define EML_TEST_WIPE_H

#include <stdbool.h>
#include <stddef.h>

/* Forget what was seen and start recording. */
void eml_test_wipe_start(void);
/* Stop recording (what was seen stays readable). */
void eml_test_wipe_stop(void);
/* Regions seen; regions that were not all zero at release. */
size_t eml_test_wipe_count(void);
size_t eml_test_wipe_dirty(void);
/* Also count the regions of exactly n bytes (all of them, however many);
 * eml_test_wipe_watched gives that count and how many were not zero. */
void eml_test_wipe_watch(size_t n);
size_t eml_test_wipe_watched(size_t *dirty);
/* The largest region seen (0 when none). */
size_t eml_test_wipe_largest(void);
/* The last region seen: its address and size; false when none. */
bool eml_test_wipe_last(const void **p, size_t *n, bool *zero);
/* Whether [p, p + n) lay inside one region seen (the first 4096 regions
 * are kept with their addresses). */
bool eml_test_wipe_covers(const void *p, size_t n);

#endif
