/* Target: eml_admin_parse_switch (host-proxy/eml_admin.c), the admin
 * endpoint's POST body reader (kill switch, baseline-only). Invariants: no
 * crash or over-read; an accepted body gives a bounded id count, and ids
 * only when "models" was allowed and present. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_mem.h"
#include "host-proxy/eml_admin.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	static uint8_t ids[EML_ALLOW_MAX][EML_STORE_ID_LEN];
	bool on = false, has = false;
	size_t n = 0;
	bool allow = size > 0 && (data[0] & 1) != 0;
	eml_err rc = eml_admin_parse_switch(data, size, allow, &on, &has, allow ? ids : NULL, &n);

	if (rc == EML_OK) {
		if (n > EML_ALLOW_MAX || (has && !allow) || (!has && n != 0))
			abort();
	}
	eml_err_clear_detail();
	return 0;
}
