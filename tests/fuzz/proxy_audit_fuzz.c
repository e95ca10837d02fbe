/* Target: eml_audit_verify_mem (host-proxy/eml_audit.c), the audit log
 * verifier, which reads a file the host operator can edit. Invariants: no
 * crash; on success every line was counted and the head is the SHA-256 of
 * the last line; on failure the failing line is named. */
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "host-proxy/eml_audit.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	struct eml_audit_report r;
	eml_err rc = eml_audit_verify_mem(data, size, &r);

	if (rc == EML_OK) {
		size_t nl = 0, last = 0;

		for (size_t i = 0; i < size; i++) {
			if (data[i] == '\n') {
				nl++;
				if (i + 1 < size)
					last = i + 1;
			}
		}
		if (nl != r.lines || r.bad_line != 0)
			abort();
		if (size > 0) {
			uint8_t h[32];

			crypto_hash_sha256(h, data + last, size - last - 1);
			if (memcmp(h, r.head, 32) != 0)
				abort();
		}
	} else if (rc == EML_ERR_AUDIT_CHAIN || rc == EML_ERR_AUDIT_FORMAT) {
		if (r.bad_line != r.lines + 1)
			abort();
	} else {
		abort();
	}
	return 0;
}
