/*
 * The topology key (docs/TOPOLOGY.md): the model graph with every weight
 * replaced by a reference (offset, length, dtype, dims) into the sealed
 * blob's flat plaintext array, plus what is needed to fetch and open the
 * blob (its content id and its 256-bit key). protobuf (proto/topo.proto).
 *
 * Reader and writer of the message live here (STYLE §3). The reader runs
 * in the enclave on bytes from the client: it checks every field before
 * building an eml_graph, and everything it allocates is wiped on free,
 * because the topology is itself a secret.
 */
#ifndef EML_TOPO_H
#define EML_TOPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_blob.h"
#include "eml_buf.h"
#include "eml_graph.h"

#define EML_TOPO_VERSION 1
/* The version of a key with subgraphs (GRAPH attributes); a key without
 * any stays version 1, byte for byte what older writers made. */
#define EML_TOPO_VERSION_SUBGRAPHS 2
/* Largest topology key accepted, checked before decoding. */
#define EML_TOPO_MAX_LEN (64u << 20)
/*
 * "Small shape constant": the only tensor values a topology key may carry
 * inline instead of in the blob. A tensor qualifies when it is empty, or
 * when its dtype is INT64 or INT32 and it holds at most 64 bytes (eight
 * int64 values: a shape of rank 8, or Slice/Reshape/Unsqueeze arguments).
 * Everything else, including float scalars, goes to the sealed blob.
 */
#define EML_TOPO_INLINE_MAX 64u

/* The blob section of a topology key. Holds the key: keep it in locked
 * memory (eml_topo_decode does). */
struct eml_topo_blob {
	uint8_t content_id[EML_BLOB_ID_LEN];
	uint8_t key[EML_BLOB_KEY_LEN];
	uint32_t cipher;
	uint32_t chunk_size;
	uint64_t plaintext_length;
	uint64_t file_size;
};

struct eml_topo {
	/* Tensors with in_blob set have data == NULL, nbytes and
	 * blob_offset filled; inline ones own their data. */
	struct eml_graph *graph;
	struct eml_topo_blob *blob; /* eml_secure_alloc */
};

/* Whether t may stay inline in a topology key (see EML_TOPO_INLINE_MAX). */
bool eml_topo_inline_ok(const struct eml_tensor *t);

/*
 * Serialize g and b, appending to out (use a secure buffer: the result
 * holds the blob key). Every tensor (initializers and tensor attributes)
 * must either have in_blob set (written as a reference) or pass
 * eml_topo_inline_ok (written inline); any other tensor is refused with
 * EML_ERR_TOPO so weight bytes can never leak into a topology key.
 * Subgraphs are written in place (version 2). Errors: EML_ERR_NULL,
 * EML_ERR_TOPO, EML_ERR_GRAPH_LIMIT (subgraphs nested deeper than
 * EML_GRAPH_MAX_DEPTH), EML_ERR_NOMEM, EML_ERR_PROTO_TOO_LARGE.
 */
eml_err eml_topo_encode(const struct eml_graph *g, const struct eml_topo_blob *b,
    struct eml_buf *out) EML_MUST_USE;

/*
 * Decode and validate a topology key. EML_ERR_PROTO_TOO_LARGE above
 * EML_TOPO_MAX_LEN, EML_ERR_TOPO for anything malformed (with a detail
 * naming the field), EML_ERR_TOPO_VERSION (also a version 1 key with
 * subgraphs or a version 2 key without), EML_ERR_GRAPH_LIMIT (subgraphs
 * nested deeper than EML_GRAPH_MAX_DEPTH, found before unpacking),
 * EML_ERR_TOPO_REF for a weight
 * reference outside the blob, misaligned or of the wrong size,
 * EML_ERR_NOMEM. On success *out is the caller's (eml_topo_free).
 */
eml_err eml_topo_decode(const uint8_t *p, size_t n, struct eml_topo **out) EML_MUST_USE;

/* Wipe and free; NULL is a no-op. */
void eml_topo_free(struct eml_topo *t);

#endif
