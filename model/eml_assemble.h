/*
 * Ephemeral assembly (DESIGN §3 step 7): a topology key plus a sealed blob
 * streamed from wherever it is stored become a runnable eml_graph whose
 * weights live in one locked region. Either the whole model is assembled
 * or nothing is: on any failure every byte allocated so far is wiped and
 * released. eml_assembly_destroy wipes weights, topology and anything the
 * engine attached (activations).
 */
#ifndef EML_ASSEMBLE_H
#define EML_ASSEMBLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_blob.h"
#include "eml_graph.h"
#include "eml_sign.h"

struct eml_assemble_opts {
	/* Refuse an unsigned model, or one not signed by a trusted key. */
	bool strict;
	/* Trusted publisher keys; needed whenever sig is given. */
	const struct eml_trust *trust;
	/* The model.sig bytes, or NULL for none. A signature that is given
	 * is always checked, strict or not. */
	const uint8_t *sig;
	size_t sig_len;
	/* Return once every chunk has authenticated, the blob's content id
	 * still being hashed: the caller must call eml_assembly_verify
	 * before anything derived from the weights leaves it (issue 16:
	 * planning overlaps the hash). */
	bool defer_id_check;
	/* Optional: the thread the content id is hashed on (eml_blob.h,
	 * eml_blob_worker_new), kept by a caller that assembles often. */
	struct eml_blob_worker *hash_worker;
};

struct eml_assembly {
	/* The assembled graph. Weight tensors point into weights (owned is
	 * false); the graph itself is the model's. */
	struct eml_graph *graph;
	uint8_t *weights; /* eml_secure_alloc, weights_len bytes (>= 1) */
	size_t weights_len;
	uint8_t content_id[EML_BLOB_ID_LEN];
	uint8_t topo_digest[32]; /* SHA-256 of the topology key bytes */
	bool is_signed;
	uint8_t signer[EML_SIG_KEY_ID_LEN]; /* when is_signed */
	/* Engine state (plan, activations) to release with the model. */
	void *engine;
	void (*engine_free)(void *engine);
	/* defer_id_check: the content id check still to make, or NULL */
	struct eml_blob_pending *pending;
};

/*
 * Assemble from topology key bytes and a blob source. Checks, in order:
 * the topology key (EML_ERR_TOPO*), the signature policy
 * (EML_ERR_SIG_MISSING, EML_ERR_SIG_FORMAT, EML_ERR_SIG_UNTRUSTED,
 * EML_ERR_SIG_BAD), then the blob (EML_ERR_BLOB_*), decrypting it straight
 * into locked memory. On success *out is the caller's (eml_assembly_destroy);
 * on failure *out is NULL and nothing of the model remains in memory.
 */
eml_err eml_assemble(const uint8_t *topo, size_t topo_len, const struct eml_blob_source *src,
    const struct eml_assemble_opts *opts, struct eml_assembly **out) EML_MUST_USE;

/* Same, from a topology key the caller has already decoded (t, taken in
 * every case) and whose bytes hash to topo_digest (SHA-256): the agent
 * decodes once to check the key against its policy before fetching. */
struct eml_topo;
eml_err eml_assemble_topo(struct eml_topo *t, const uint8_t topo_digest[32],
    const struct eml_blob_source *src, const struct eml_assemble_opts *opts,
    struct eml_assembly **out) EML_MUST_USE;
/* Same, with the sealed blob in memory. */
eml_err eml_assemble_mem(const uint8_t *topo, size_t topo_len, const uint8_t *blob,
    size_t blob_len, const struct eml_assemble_opts *opts, struct eml_assembly **out) EML_MUST_USE;

/* Hand engine state to the model: free_fn(engine) runs first on destroy. */
void eml_assembly_attach_engine(struct eml_assembly *m, void *engine, void (*free_fn)(void *engine));

/* The deferred content id check (eml_assemble_opts.defer_id_check):
 * waits for the hash; EML_ERR_BLOB_MISMATCH when the blob is not the one
 * the topology key names, and the caller must then destroy m (which
 * wipes the weights and the engine state made from them). EML_OK at once
 * when there is nothing pending (checked already, or not deferred). */
eml_err eml_assembly_verify(struct eml_assembly *m) EML_MUST_USE;

/* Release engine state, then wipe and free the graph and weights. NULL is
 * a no-op. */
void eml_assembly_destroy(struct eml_assembly *m);

#endif
