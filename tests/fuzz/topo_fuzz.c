/* Target: eml_topo_decode (model/eml_topo.c), the enclave's
 * reader of topology keys sent by clients, and eml_topo_encode.
 * Invariants: no crash, leak or over-read for any input; a key that
 * decodes re-encodes, and the re-encoded bytes decode and re-encode to the
 * very same bytes (the writer and the reader agree on every field). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "model/eml_topo.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	struct eml_topo *t = NULL;
	struct eml_topo *t2 = NULL;
	struct eml_buf a;
	struct eml_buf b;

	if (eml_topo_decode(data, size, &t) != EML_OK) {
		if (t != NULL)
			abort();
		return 0;
	}
	eml_buf_init(&a, EML_TOPO_MAX_LEN);
	eml_buf_init(&b, EML_TOPO_MAX_LEN);
	if (eml_topo_encode(t->graph, t->blob, &a) != EML_OK)
		abort();
	if (eml_topo_decode(a.data, a.len, &t2) != EML_OK)
		abort();
	if (eml_topo_encode(t2->graph, t2->blob, &b) != EML_OK)
		abort();
	if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0)
		abort();
	eml_topo_free(t);
	eml_topo_free(t2);
	eml_buf_free(&a);
	eml_buf_free(&b);
	return 0;
}
