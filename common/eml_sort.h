/*
 * The one sort for product code: an in-place heap sort, not the C qsort:
 * glibc's may allocate a buffer and ask the kernel how much memory there
 * is (sysinfo), which the agent's seccomp filter answers with SIGSYS.
 * O(n log n) in the worst case, no allocation, no system call; not stable.
 */
#ifndef EML_SORT_H
#define EML_SORT_H

#include <stddef.h>

void eml_sort(void *base, size_t n, size_t size, int (*cmp)(const void *, const void *));

#endif
