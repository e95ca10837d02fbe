/*
 * Model split (client side, DESIGN §3 step 1): an eml_graph becomes a
 * topology key (secret, small) and a sealed weight blob (large, stored by
 * the untrusted host), optionally signed by a publisher key.
 *
 * Which tensors go to the blob: every initializer and every tensor-valued
 * attribute (Constant values included), except small shape constants as
 * defined by eml_topo_inline_ok (INT64/INT32, at most 64 bytes). Weights
 * are laid out in graph order (initializers, then node attributes), each at
 * the next multiple of 64 bytes, zero padding in between.
 */
#ifndef EML_SPLIT_H
#define EML_SPLIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"
#include "model/eml_blob.h"
#include "model/eml_graph.h"

#define EML_SPLIT_TOPO_FILE "model.topo"
#define EML_SPLIT_BLOB_FILE "weights.sealed"
#define EML_SPLIT_SIG_FILE "model.sig"

struct eml_split_opts {
	uint32_t chunk_size; /* 0: EML_BLOB_CHUNK_DEFAULT */
	bool force;          /* eml_split_file: replace files already in DIR */
};

struct eml_split_info {
	uint8_t content_id[EML_BLOB_ID_LEN];
	uint8_t topo_digest[32]; /* SHA-256 of the topology key bytes */
	uint64_t weight_bytes;   /* plaintext length of the flat array */
	uint64_t blob_bytes;     /* size of weights.sealed */
	size_t topo_bytes;
	size_t n_blob_tensors;
	size_t n_inline_tensors;
};

/*
 * Check every node against the engine. On failure returns
 * EML_ERR_SPLIT_UNSUPPORTED and appends one line per unsupported node
 * ("node NAME (OP): reason\n") to report (may be NULL): all of them, not
 * just the first.
 */
eml_err eml_split_check(const struct eml_graph *g, struct eml_buf *report) EML_MUST_USE;

/*
 * Split g: the sealed blob goes to fn in file order, the topology key is
 * appended to topo (make it a secure buffer). Marks the blob tensors of g
 * (in_blob, blob_offset); their data is left in place. info may be NULL.
 * Errors: EML_ERR_BLOB_HEADER for a bad chunk size, EML_ERR_TOPO,
 * EML_ERR_NOMEM, the sink's errors.
 */
eml_err eml_split_graph(struct eml_graph *g, const struct eml_split_opts *opts,
    eml_blob_write_fn fn, void *ctx, struct eml_buf *topo, struct eml_split_info *info)
    EML_MUST_USE;

/* Same, with the sealed blob appended to blob (an ordinary buffer:
 * ciphertext only). Used by the tests and benches. */
eml_err eml_split_graph_mem(struct eml_graph *g, const struct eml_split_opts *opts,
    struct eml_buf *topo, struct eml_buf *blob, struct eml_split_info *info) EML_MUST_USE;

/*
 * The topology key eml_split_graph would write for g, without sealing
 * anything: the blob tensors of g are marked (in_blob, blob_offset) as by
 * eml_split_graph and keep their data; the key's blob reference has the
 * plaintext length but a zero key and content id. `eml run --local` decodes
 * it and points the decoded graph at g's weights: the engine runs the graph
 * the agent would assemble, without the AEAD work of a blob that nobody
 * reads. Same checks and errors as eml_split_graph.
 */
eml_err eml_split_topology(struct eml_graph *g, struct eml_buf *topo) EML_MUST_USE;

/*
 * `eml model split`: import the ONNX file, check it, write
 * DIR/weights.sealed, DIR/model.topo (mode 0600) and, with sign_key_pem
 * (a private key PEM path, or NULL), DIR/model.sig. DIR is created if
 * missing. Files already in DIR are refused (EML_ERR_FILE_EXISTS) before
 * any work unless opts->force: a model.topo is the only key to the blob
 * it was split with. Every file is written through eml_file_write
 * (temporary, fsync, link or rename). report receives the unsupported-node
 * list on EML_ERR_SPLIT_UNSUPPORTED.
 */
eml_err eml_split_file(const char *onnx_path, const char *dir, const struct eml_split_opts *opts,
    const char *sign_key_pem, struct eml_buf *report, struct eml_split_info *info) EML_MUST_USE;

/* Write n bytes to path (given mode), replacing it atomically
 * (eml_file_write with EML_FILE_REPLACE); EML_ERR_FILE. */
eml_err eml_split_write_file(const char *path, const void *p, size_t n, unsigned mode)
    EML_MUST_USE;

#endif
