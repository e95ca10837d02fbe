#include "eml_assemble.h"

#include <sodium.h>
#include <string.h>

#include "eml_fault.h"
#include "eml_mem.h"
#include "eml_topo.h"

/* Point a decoded blob reference at its bytes. The topology decoder has
 * already checked offset + length against the plaintext length, which is
 * the size of weights. */
static eml_err
attach(struct eml_tensor *t, void *arg)
{
	uint8_t *weights = arg;

	if (t == NULL || !t->in_blob)
		return EML_OK;
	t->data = weights + t->blob_offset;
	t->owned = false;
	/* From here on the tensor looks exactly like an imported one. */
	t->in_blob = false;
	t->blob_offset = 0;
	return EML_OK;
}

static void *
weights_alloc(void *ctx, size_t n, size_t max)
{
	(void)ctx;
	return eml_secure_alloc_growable(n > 0 ? n : 1, max > n ? max : n);
}

static bool
weights_grow(void *ctx, void *p, size_t n)
{
	(void)ctx;
	return eml_secure_grow(p, n);
}

static void
weights_free(void *ctx, void *p, size_t n)
{
	(void)ctx;
	(void)n;
	eml_secure_free(p);
}

static eml_err
check_signature(const struct eml_assemble_opts *opts, const struct eml_topo *t,
    struct eml_assembly *m)
{
	if (opts->sig == NULL) {
		if (opts->strict) {
			eml_err_set_detail("strict mode needs a publisher signature");
			EML_BAIL(EML_ERR_SIG_MISSING);
		}
		return EML_OK;
	}
	if (opts->trust == NULL || eml_trust_count(opts->trust) == 0) {
		eml_err_set_detail("no trusted publisher keys configured");
		EML_BAIL(EML_ERR_SIG_UNTRUSTED);
	}
	EML_GUARD(eml_sig_verify(opts->trust, opts->sig, opts->sig_len, t->blob->content_id,
	    m->topo_digest, m->signer));
	m->is_signed = true;
	return EML_OK;
}

eml_err
eml_assemble_topo(struct eml_topo *t, const uint8_t topo_digest[32],
    const struct eml_blob_source *src, const struct eml_assemble_opts *opts,
    struct eml_assembly **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_assembly *m = NULL;
	struct eml_blob_expect exp;

	if (t == NULL || topo_digest == NULL || src == NULL || opts == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	*out = NULL;
	m = eml_calloc(1, sizeof(*m));
	if (m == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	memcpy(m->topo_digest, topo_digest, sizeof(m->topo_digest));
	rc = check_signature(opts, t, m);
	if (rc != EML_OK)
		goto out;
	/* At least one byte so an empty model still has a region to point
	 * at; the blob never writes past plaintext_length. */
	m->weights_len = t->blob->plaintext_length > 0 ? (size_t)t->blob->plaintext_length : 1;
	exp.key = t->blob->key;
	exp.content_id = t->blob->content_id;
	exp.cipher = t->blob->cipher;
	exp.chunk_size = t->blob->chunk_size;
	exp.plaintext_length = t->blob->plaintext_length;
	exp.file_size = t->blob->file_size;
	exp.worker = opts->hash_worker;
	/* Locked memory for the weights grows with the authenticated chunks
	 * only: a forged header, garbage or a blob shorter than its claim
	 * costs the enclave no more than one chunk. */
	rc = eml_blob_open_alloc_deferred(src, &exp, weights_alloc, weights_grow, weights_free,
	    NULL, &m->weights, opts->defer_id_check ? &m->pending : NULL);
	if (rc != EML_OK)
		goto out;
	memcpy(m->content_id, t->blob->content_id, sizeof(m->content_id));
	/* Depth was bounded by the decoder: this cannot fail. */
	rc = eml_graph_each_tensor(t->graph, attach, m->weights);
	if (rc != EML_OK)
		goto out;
	m->graph = t->graph;
	t->graph = NULL; /* transferred */
	*out = m;
	m = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_topo_free(t);
	eml_assembly_destroy(m);
	return rc;
}

eml_err
eml_assemble(const uint8_t *topo, size_t topo_len, const struct eml_blob_source *src,
    const struct eml_assemble_opts *opts, struct eml_assembly **out)
{
	uint8_t digest[32];
	struct eml_topo *t = NULL;

	if (topo == NULL || src == NULL || opts == NULL || out == NULL)
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	*out = NULL;
	EML_GUARD(eml_sha256(topo, topo_len, digest));
	EML_GUARD(eml_topo_decode(topo, topo_len, &t));
	return eml_assemble_topo(t, digest, src, opts, out);
}

eml_err
eml_assemble_mem(const uint8_t *topo, size_t topo_len, const uint8_t *blob, size_t blob_len,
    const struct eml_assemble_opts *opts, struct eml_assembly **out)
{
	struct eml_blob_mem mem;
	struct eml_blob_source src;

	eml_blob_source_mem(&src, &mem, blob, blob_len);
	return eml_assemble(topo, topo_len, &src, opts, out);
}

void
eml_assembly_attach_engine(struct eml_assembly *m, void *engine, void (*free_fn)(void *engine))
{
	if (m == NULL)
		return;
	m->engine = engine;
	m->engine_free = free_fn;
}

eml_err
eml_assembly_verify(struct eml_assembly *m)
{
	struct eml_blob_pending *p;

	EML_ENSURE_REF(m);
	p = m->pending;
	m->pending = NULL;
	return eml_blob_pending_finish(p);
}

void
eml_assembly_destroy(struct eml_assembly *m)
{
	if (m == NULL)
		return;
	eml_blob_pending_free(m->pending);
	m->pending = NULL;
	if (m->engine_free != NULL)
		m->engine_free(m->engine);
	eml_graph_free(m->graph);
#ifdef EML_FAULT_INJECTION
	if (EML_FAULT("assembly_no_wipe"))
		m->weights = NULL; /* property 5's fault: weights left unwiped */
#endif
	eml_secure_free(m->weights);
	eml_free_wipe(m, sizeof(*m));
}
