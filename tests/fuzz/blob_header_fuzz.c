/* Target: eml_blob_header_parse and eml_blob_open
 * (model/eml_blob.c) over a whole untrusted blob file as the
 * host would serve it.
 * Invariants: no crash or over-read; a header that parses writes back to
 * the same 48 bytes; opening with expectations taken from the input itself
 * (so size and content id checks pass) walks the chunks and either fails
 * with a blob error, wiping the destination, or (only for input sealed
 * under the fixed fuzz key) succeeds. */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_mem.h"
#include "model/eml_blob.h"
#include "tests/fuzz/eml_fuzz.h"

/* Seeds in tests/fuzz/corpus/blob_header/ are sealed under this key. */
static const uint8_t fuzz_key[EML_BLOB_KEY_LEN] = { 0x42 };

EML_FUZZ_TARGET(NULL)
{
	struct eml_blob_header h;
	uint8_t back[EML_BLOB_HEADER_LEN];
	uint8_t id[EML_BLOB_ID_LEN];
	struct eml_blob_mem mem;
	struct eml_blob_source src;
	struct eml_blob_expect e;
	uint64_t fsize;
	uint8_t *dst;
	eml_err rc;

	if (eml_blob_header_parse(data, size, &h) != EML_OK)
		return 0;
	eml_blob_header_write(&h, back);
	if (memcmp(back, data, sizeof(back)) != 0)
		abort();
	/* keep the work per input small */
	if (h.plaintext_length > (1u << 20) ||
	    eml_blob_file_size(h.plaintext_length, h.chunk_size, &fsize) != EML_OK)
		return 0;
	crypto_hash_sha256(id, data, size);
	memset(&e, 0, sizeof(e));
	e.key = fuzz_key;
	e.content_id = id;
	e.cipher = h.cipher;
	e.chunk_size = h.chunk_size;
	e.plaintext_length = h.plaintext_length;
	e.file_size = fsize;
	dst = eml_alloc((size_t)h.plaintext_length + 1);
	if (dst == NULL)
		abort();
	memset(dst, 0x5a, (size_t)h.plaintext_length);
	eml_blob_source_mem(&src, &mem, data, size);
	rc = eml_blob_open(&src, &e, dst, (size_t)h.plaintext_length);
	if (rc != EML_OK) {
		if (rc != EML_ERR_BLOB_MISMATCH && rc != EML_ERR_BLOB_AUTH)
			abort();
		for (size_t i = 0; i < h.plaintext_length; i++)
			if (dst[i] != 0)
				abort();
	}
	eml_free(dst);
	return 0;
}
