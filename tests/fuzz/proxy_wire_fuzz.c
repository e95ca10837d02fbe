/* Target: eml_wire_peek (host-proxy/eml_wire.c), the proxy's envelope
 * header reader over untrusted frame bytes from clients and agents.
 * Invariants: no crash or over-read for any input and any prefix length;
 * a successful peek describes a body that ends exactly at the frame end;
 * a prefix never gets a different successful answer than the whole. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "host-proxy/eml_wire.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	struct eml_wire_hdr whole, part;
	eml_err rc_whole = eml_wire_peek(data, size, size, &whole);

	if (rc_whole == EML_OK && whole.body_off + whole.body_len != size)
		abort();
	for (size_t avail = 0; avail < size && avail <= EML_WIRE_PEEK_MAX; avail++) {
		eml_err rc = eml_wire_peek(data, avail, size, &part);

		if (rc == EML_OK) {
			if (rc_whole != EML_OK || part.type != whole.type ||
			    part.body_off != whole.body_off || part.body_len != whole.body_len)
				abort();
		}
	}
	return 0;
}
