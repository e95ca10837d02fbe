/* Fault points for the property tests; empty unless EML_FAULT_INJECTION
 * (eml_fault.h). */
#include "eml_fault.h"

#ifdef EML_FAULT_INJECTION
#include <stdlib.h>
#include <string.h>

int eml_fault_fd = -1;

bool
eml_fault(const char *name)
{
	const char *list = getenv("EML_FAULT");
	size_t n = strlen(name);

	while (list != NULL && *list != '\0') {
		const char *end = strchr(list, ',');
		size_t len = end != NULL ? (size_t)(end - list) : strlen(list);

		if (len == n && strncmp(list, name, n) == 0)
			return true;
		list = end != NULL ? end + 1 : NULL;
	}
	return false;
}

const char *
eml_fault_hex(char *dst, size_t cap, const void *p, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	const unsigned char *b = p;
	size_t i;

	for (i = 0; i < n && 2 * i + 2 < cap; i++) {
		dst[2 * i] = digits[b[i] >> 4];
		dst[2 * i + 1] = digits[b[i] & 15];
	}
	dst[2 * i] = '\0';
	return dst;
}
#else
/* ISO C wants a translation unit to declare something. */
typedef int eml_fault_unused;
#endif
