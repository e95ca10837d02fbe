#include "split.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/owner/onnx_import.h"
#include "eml_fault.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "engine/eml_engine.h"
#include "model/eml_sign.h"
#include "model/eml_topo.h"
#include "model/eml_validate.h"

#define WHY_LEN 512
/* A private key PEM file is small; refuse anything silly. */
#define KEY_FILE_MAX (64u * 1024u)

/* Every node the engine refuses, subgraphs' nodes included (depth is
 * bounded by the importer and again by the validator). */
static eml_err
check_nodes(const struct eml_graph *g, struct eml_buf *report, size_t *bad, size_t *total,
    int depth)
{
	char why[WHY_LEN];

	if (depth > EML_GRAPH_MAX_DEPTH) {
		eml_err_set_detail("subgraphs nested deeper than %d", EML_GRAPH_MAX_DEPTH);
		EML_BAIL(EML_ERR_GRAPH_LIMIT);
	}
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct eml_node *n = &g->nodes[i];

		(*total)++;
		for (size_t j = 0; j < n->n_attrs; j++)
			if (n->attrs[j].type == EML_ATTR_GRAPH && n->attrs[j].g != NULL)
				EML_GUARD(check_nodes(n->attrs[j].g, report, bad, total, depth + 1));
		if (eml_engine_check_node(n, g->opset, why, sizeof(why)) == EML_OK)
			continue;
		(*bad)++;
		if (report != NULL) {
			EML_GUARD(eml_buf_append(report, why, strlen(why)));
			EML_GUARD(eml_buf_append_u8(report, '\n'));
		}
	}
	return EML_OK;
}

eml_err
eml_split_check(const struct eml_graph *g, struct eml_buf *report)
{
	size_t bad = 0, total = 0;

	EML_ENSURE_REF(g);
	EML_GUARD(check_nodes(g, report, &bad, &total, 0));
#ifdef EML_FAULT_INJECTION
	if (EML_FAULT("split_skip_op_check"))
		bad = 0; /* property 2's fault: unsupported operators accepted */
#endif
	if (bad > 0) {
		eml_err_set_detail("%zu of %zu nodes are not supported by the engine", bad, total);
		EML_BAIL(EML_ERR_SPLIT_UNSUPPORTED);
	}
	return EML_OK;
}

/* Every tensor that has a value, in the order the blob stores them
 * (subgraphs' tensors included). */
static eml_err
each_tensor(struct eml_graph *g, eml_tensor_fn fn, void *arg)
{
	return eml_graph_each_tensor(g, fn, arg);
}

struct layout {
	uint64_t end;
	size_t n_blob;
	size_t n_inline;
};

static eml_err
lay_out(struct eml_tensor *t, void *arg)
{
	struct layout *l = arg;
	uint64_t off;

	if (t->nbytes > 0 && t->data == NULL) {
		eml_err_set_detail("tensor '%s' has no value", t->name != NULL ? t->name : "");
		EML_BAIL(EML_ERR_TOPO);
	}
	if (eml_topo_inline_ok(t)) {
		t->in_blob = false;
		t->blob_offset = 0;
		l->n_inline++;
		return EML_OK;
	}
	off = (l->end + (EML_BLOB_ALIGN - 1)) & ~(uint64_t)(EML_BLOB_ALIGN - 1);
	EML_ENSURE(off >= l->end, EML_ERR_OVERFLOW);
	EML_ENSURE(!eml_add_overflow(off, (uint64_t)t->nbytes, &l->end), EML_ERR_OVERFLOW);
	EML_ENSURE(l->end <= EML_BLOB_PLAINTEXT_MAX, EML_ERR_PROTO_TOO_LARGE);
	t->in_blob = true;
	t->blob_offset = off;
	l->n_blob++;
	return EML_OK;
}

/* Offsets in the blob for every tensor, then the agent's validator with
 * its default limits: a model that splits here is not refused there for
 * its structure. The engine's per-node check is eml_split_check's
 * (eml_split_file runs it and lists every unsupported node). */
static eml_err
lay_out_checked(struct eml_graph *g, struct layout *l)
{
	struct eml_validate_limits lim;

	EML_GUARD(each_tensor(g, lay_out, l));
	eml_validate_limits_default(&lim);
	lim.weight_bytes = l->end;
	return eml_graph_validate(g, &lim);
}

struct fill {
	struct eml_blob_writer *w;
	uint64_t pos;
};

static eml_err
fill_one(struct eml_tensor *t, void *arg)
{
	struct fill *f = arg;

	if (!t->in_blob)
		return EML_OK;
	EML_ENSURE(t->blob_offset >= f->pos, EML_ERR_INTERNAL);
	EML_GUARD(eml_blob_writer_pad(f->w, (size_t)(t->blob_offset - f->pos)));
	EML_GUARD(eml_blob_writer_put(f->w, t->data, t->nbytes));
	f->pos = t->blob_offset + t->nbytes;
	return EML_OK;
}

eml_err
eml_split_graph(struct eml_graph *g, const struct eml_split_opts *opts, eml_blob_write_fn fn,
    void *ctx, struct eml_buf *topo, struct eml_split_info *info)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_topo_blob *b = NULL;
	struct eml_blob_writer *w = NULL;
	struct layout l = { 0, 0, 0 };
	struct fill f = { NULL, 0 };
	size_t topo_start;
	uint32_t cs;

	if (g == NULL || fn == NULL || topo == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	cs = opts != NULL && opts->chunk_size != 0 ? opts->chunk_size : EML_BLOB_CHUNK_DEFAULT;
	if (!eml_blob_chunk_size_ok(cs)) {
		eml_err_set_detail("chunk size %u: a multiple of 64 in [%u, %u]", (unsigned)cs,
		    EML_BLOB_CHUNK_MIN, EML_BLOB_CHUNK_MAX);
		EML_FAIL(rc, EML_ERR_BLOB_HEADER);
	}
	rc = lay_out_checked(g, &l);
	if (rc != EML_OK)
		goto out;
	b = eml_secure_alloc(sizeof(*b));
	if (b == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	/* A fresh key per blob: nothing else is ever sealed under it. */
	randombytes_buf(b->key, sizeof(b->key));
	b->cipher = EML_BLOB_CIPHER_XCHACHA20POLY1305;
	b->chunk_size = cs;
	b->plaintext_length = l.end;
	rc = eml_blob_file_size(l.end, cs, &b->file_size);
	if (rc != EML_OK)
		goto out;
	rc = eml_blob_writer_new(b->key, cs, l.end, fn, ctx, &w);
	if (rc != EML_OK)
		goto out;
	f.w = w;
	rc = each_tensor(g, fill_one, &f);
	if (rc != EML_OK)
		goto out;
	rc = eml_blob_writer_finish(w, b->content_id);
	if (rc != EML_OK)
		goto out;
	topo_start = topo->len;
	rc = eml_topo_encode(g, b, topo);
	if (rc != EML_OK)
		goto out;
	if (info != NULL) {
		memcpy(info->content_id, b->content_id, sizeof(info->content_id));
		crypto_hash_sha256(info->topo_digest, topo->data + topo_start, topo->len - topo_start);
		info->weight_bytes = l.end;
		info->blob_bytes = b->file_size;
		info->topo_bytes = topo->len - topo_start;
		info->n_blob_tensors = l.n_blob;
		info->n_inline_tensors = l.n_inline;
	}
	rc = EML_OK;
out:
	eml_blob_writer_free(w);
	eml_secure_free(b);
	return rc;
}

static eml_err
buf_sink(void *ctx, const void *p, size_t n)
{
	return eml_buf_append(ctx, p, n);
}

eml_err
eml_split_graph_mem(struct eml_graph *g, const struct eml_split_opts *opts, struct eml_buf *topo,
    struct eml_buf *blob, struct eml_split_info *info)
{
	struct layout l = { 0, 0, 0 };
	uint32_t cs = opts != NULL && opts->chunk_size != 0 ? opts->chunk_size :
							    EML_BLOB_CHUNK_DEFAULT;
	uint64_t fsize;

	EML_ENSURE(g != NULL && blob != NULL, EML_ERR_NULL);
	/* Reserve the exact file size once: growing a buffer of hundreds of
	 * megabytes by doubling copies it over and over. */
	EML_GUARD(each_tensor(g, lay_out, &l));
	if (eml_blob_file_size(l.end, cs, &fsize) == EML_OK && fsize <= SIZE_MAX)
		EML_GUARD(eml_buf_reserve(blob, (size_t)fsize));
	return eml_split_graph(g, opts, buf_sink, blob, topo, info);
}

eml_err
eml_split_topology(struct eml_graph *g, struct eml_buf *topo)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_topo_blob *b = NULL;
	struct layout l = { 0, 0, 0 };

	EML_ENSURE(g != NULL && topo != NULL, EML_ERR_NULL);
	EML_GUARD(lay_out_checked(g, &l));
	/* The reference eml_split_graph writes, with a zero key and content
	 * id: no blob is sealed, so nothing is ever sealed under it. */
	b = eml_secure_alloc(sizeof(*b));
	if (b == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	b->cipher = EML_BLOB_CIPHER_XCHACHA20POLY1305;
	b->chunk_size = EML_BLOB_CHUNK_DEFAULT;
	b->plaintext_length = l.end;
	rc = eml_blob_file_size(l.end, b->chunk_size, &b->file_size);
	if (rc == EML_OK)
		rc = eml_topo_encode(g, b, topo);
out:
	eml_secure_free(b);
	return rc;
}

/* ---------------------------------------------------------------- files */

static eml_err
split_sink(void *ctx, const void *p, size_t n)
{
	return eml_file_out_write(ctx, p, n);
}

eml_err
eml_split_write_file(const char *path, const void *p, size_t n, unsigned mode)
{
	EML_ENSURE_REF(path);
	return eml_file_write(path, p, n, mode, EML_FILE_REPLACE);
}

static eml_err
path_join(char *dst, size_t n, const char *dir, const char *name)
{
	int k = snprintf(dst, n, "%s/%s", dir, name);

	EML_ENSURE(k > 0 && (size_t)k < n, EML_ERR_FILE);
	return EML_OK;
}

static eml_err
check_new3(const char *a, const char *b, const char *c)
{
	EML_GUARD(eml_file_check_new(a, 0));
	EML_GUARD(eml_file_check_new(b, 0));
	return eml_file_check_new(c, 0);
}

eml_err
eml_split_file(const char *onnx_path, const char *dir, const struct eml_split_opts *opts,
    const char *sign_key_pem, struct eml_buf *report, struct eml_split_info *info)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_graph *g = NULL;
	struct eml_sign_key *key = NULL;
	uint8_t *pem = NULL;
	size_t pem_len = 0;
	struct eml_buf topo;
	struct eml_buf sig;
	struct eml_split_info local;
	struct eml_file_out blob;
	char blob_path[4096];
	char topo_path[4096];
	char sig_path[4096];
	unsigned wflags = opts != NULL && opts->force ? EML_FILE_REPLACE : 0;
	bool topo_written = false;
	struct stat st;

	blob.fd = -1;
	blob.tmp[0] = '\0';
	eml_buf_init_secure(&topo, EML_TOPO_MAX_LEN);
	eml_buf_init(&sig, 4096);
	if (onnx_path == NULL || dir == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if (info == NULL)
		info = &local;
	rc = path_join(blob_path, sizeof(blob_path), dir, EML_SPLIT_BLOB_FILE);
	if (rc == EML_OK)
		rc = path_join(topo_path, sizeof(topo_path), dir, EML_SPLIT_TOPO_FILE);
	if (rc == EML_OK)
		rc = path_join(sig_path, sizeof(sig_path), dir, EML_SPLIT_SIG_FILE);
	if (rc != EML_OK)
		goto out;
	/* Refuse to replace a topology key (the only key to a blob that may
	 * already be published) before any work; a signature or blob left
	 * there would not match the new key either. */
	if (wflags == 0 && stat(dir, &st) == 0 &&
	    (rc = check_new3(topo_path, blob_path, sig_path)) != EML_OK)
		goto out;
	/* Load the signing key first: a bad key should fail before any work. */
	if (sign_key_pem != NULL) {
		rc = eml_file_read(sign_key_pem, KEY_FILE_MAX, EML_FILE_SECRET, &pem, &pem_len);
		if (rc == EML_ERR_FILE_TOO_LARGE)
			rc = EML_ERR_CRYPTO_KEY; /* far too long for a key */
		if (rc != EML_OK)
			goto out;
		rc = eml_sign_key_load_pem(pem, pem_len, &key);
		if (rc != EML_OK)
			goto out;
	}
	rc = eml_onnx_import_file(onnx_path, &g);
	if (rc != EML_OK)
		goto out;
	rc = eml_split_check(g, report);
	if (rc != EML_OK)
		goto out;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		eml_err_set_detail("%s: %s", dir, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	if ((rc = eml_file_out_open(&blob, blob_path, 0644, wflags)) != EML_OK)
		goto out;
	rc = eml_split_graph(g, opts, split_sink, &blob, &topo, info);
	if (rc != EML_OK)
		goto out;
	/* The topology key opens the blob: owner-only. */
	if ((rc = eml_file_write(topo_path, topo.data, topo.len, 0600, wflags)) != EML_OK)
		goto out;
	topo_written = true;
	if ((rc = eml_file_out_commit(&blob)) != EML_OK)
		goto out;
	if (key != NULL) {
		rc = eml_sign_model(key, info->content_id, info->topo_digest, &sig);
		if (rc == EML_OK)
			rc = eml_file_write(sig_path, sig.data, sig.len, 0644, wflags);
		if (rc != EML_OK)
			goto out;
	} else if (unlink(sig_path) != 0 && errno != ENOENT) {
		/* a signature left from an earlier split would not match */
		eml_err_set_detail("%s: %s", sig_path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	topo_written = false;
	rc = EML_OK;
out:
	eml_file_out_abort(&blob);
	if (topo_written)
		(void)unlink(topo_path); /* a key to a blob that was not written */
	eml_graph_free(g);
	eml_sign_key_free(key);
	eml_file_free(pem, pem_len, EML_FILE_SECRET);
	eml_buf_free(&topo);
	eml_buf_free_nowipe(&sig);
	return rc;
}
