/* Target: eml_admin_parse (host-proxy/eml_admin.c), the admin endpoint's
 * HTTP request-line reader. Invariants: no crash or over-read; a request
 * accepted as a route has a complete request line. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host-proxy/eml_admin.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	enum eml_admin_route r = 0;
	eml_err rc = eml_admin_parse(data, size, &r);

	if (rc == EML_OK) {
		if (memchr(data, '\n', size) == NULL)
			abort();
		if (r != EML_ADMIN_STATUS && r != EML_ADMIN_METRICS && r != EML_ADMIN_NOT_FOUND &&
		    r != EML_ADMIN_BAD_METHOD)
			abort();
	}
	return 0;
}
