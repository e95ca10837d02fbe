/* The sealed blob writer (the model owner's side, `eml model split`). Kept
 * apart from the reader in eml_blob.c so that the agent, which only opens
 * blobs, links no writer. */
#include "eml_blob.h"

#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_fault.h"
#include "eml_mem.h"
#include "model/eml_blob_int.h"

void
eml_blob_header_write(const struct eml_blob_header *h, uint8_t out[EML_BLOB_HEADER_LEN])
{
	memset(out, 0, EML_BLOB_HEADER_LEN);
	memcpy(out, EML_BLOB_MAGIC, 8); /* includes the NUL */
	out[8] = (uint8_t)(h->version >> 8);
	out[9] = (uint8_t)h->version;
	out[10] = (uint8_t)(h->cipher >> 8);
	out[11] = (uint8_t)h->cipher;
	eml_store_u32be(out + 12, h->chunk_size);
	eml_store_u64be(out + 16, h->chunk_count);
	eml_store_u64be(out + 24, h->plaintext_length);
	memcpy(out + 32, h->nonce_prefix, EML_BLOB_NONCE_PREFIX_LEN);
}

/* ---------------------------------------------------------------- writer */

struct eml_blob_writer {
	uint8_t key[EML_BLOB_KEY_LEN];
	uint8_t header[EML_BLOB_HEADER_LEN];
	struct eml_blob_header h;
	EVP_MD_CTX *sha;
	eml_blob_write_fn fn;
	void *ctx;
	uint64_t put;   /* plaintext bytes accepted so far */
	uint64_t index; /* next chunk to seal */
	size_t fill;    /* bytes in chunk */
	uint8_t *chunk; /* plaintext staging, in this same locked block */
	uint8_t *ct;    /* ciphertext out (not secret), eml_alloc */
};

static eml_err
emit(struct eml_blob_writer *w, const uint8_t *p, size_t n)
{
	EML_GUARD(w->fn(w->ctx, p, n));
	EML_GUARD(eml_blob_sha_update(w->sha, p, n));
	return EML_OK;
}

static eml_err
seal_chunk(struct eml_blob_writer *w)
{
	uint8_t nonce[BLOB_NONCE_LEN];
	uint8_t ad[BLOB_AD_LEN];
	bool last = w->index + 1 == w->h.chunk_count;
	size_t n = w->fill;

	EML_ENSURE(w->index < w->h.chunk_count, EML_ERR_INTERNAL);
	eml_blob_chunk_nonce_ad(w->header, w->index, last, nonce, ad);
	EML_GUARD(eml_blob_aead(true, w->key, nonce, ad, sizeof(ad), w->chunk, n, w->ct, w->ct + n));
#ifdef EML_FAULT_INJECTION
	if (EML_FAULT("split_plain_blob"))
		memcpy(w->ct, w->chunk, n); /* property 1's fault: weights in clear */
#endif
	eml_wipe(w->chunk, n);
	w->fill = 0;
	w->index++;
	EML_GUARD(emit(w, w->ct, n + EML_BLOB_TAG_LEN));
	return EML_OK;
}

eml_err
eml_blob_writer_new(const uint8_t key[EML_BLOB_KEY_LEN], uint32_t chunk_size,
    uint64_t plaintext_length, eml_blob_write_fn fn, void *ctx, struct eml_blob_writer **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_blob_writer *w = NULL;
	uint64_t fsize;

	if (key == NULL || fn == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	*out = NULL;
	rc = eml_blob_file_size(plaintext_length, chunk_size, &fsize);
	if (rc != EML_OK)
		goto out;
	w = eml_secure_alloc(sizeof(*w) + chunk_size);
	if (w == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	w->chunk = (uint8_t *)(w + 1);
	w->ct = eml_alloc((size_t)chunk_size + EML_BLOB_TAG_LEN);
	if (w->ct == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	memcpy(w->key, key, EML_BLOB_KEY_LEN);
	w->fn = fn;
	w->ctx = ctx;
	w->h.version = EML_BLOB_VERSION;
	w->h.cipher = EML_BLOB_CIPHER_XCHACHA20POLY1305;
	w->h.chunk_size = chunk_size;
	w->h.plaintext_length = plaintext_length;
	w->h.chunk_count = eml_blob_chunk_count(plaintext_length, chunk_size);
	randombytes_buf(w->h.nonce_prefix, sizeof(w->h.nonce_prefix));
	eml_blob_header_write(&w->h, w->header);
	rc = eml_blob_sha_init(&w->sha);
	if (rc != EML_OK)
		goto out;
	rc = emit(w, w->header, sizeof(w->header));
	if (rc != EML_OK)
		goto out;
	*out = w;
	w = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_blob_writer_free(w);
	return rc;
}

static eml_err
writer_take(struct eml_blob_writer *w, const uint8_t *p, size_t n)
{
	uint64_t end;

	EML_ENSURE_REF(w);
	EML_ENSURE(!eml_add_overflow(w->put, (uint64_t)n, &end), EML_ERR_OVERFLOW);
	EML_ENSURE(end <= w->h.plaintext_length, EML_ERR_OVERFLOW);
	while (n > 0) {
		size_t room = w->h.chunk_size - w->fill;
		size_t k = n < room ? n : room;

		if (p != NULL) {
			memcpy(w->chunk + w->fill, p, k);
			p += k;
		} else {
			memset(w->chunk + w->fill, 0, k);
		}
		w->fill += k;
		w->put += k;
		n -= k;
		/* A full chunk is sealed now unless it is the last one, which
		 * waits for finish so the is-last flag is set on it. */
		if (w->fill == w->h.chunk_size && w->index + 1 < w->h.chunk_count)
			EML_GUARD(seal_chunk(w));
	}
	return EML_OK;
}

eml_err
eml_blob_writer_put(struct eml_blob_writer *w, const void *p, size_t n)
{
	if (n == 0)
		return EML_OK;
	EML_ENSURE_REF(p);
	return writer_take(w, p, n);
}

eml_err
eml_blob_writer_pad(struct eml_blob_writer *w, size_t n)
{
	return writer_take(w, NULL, n);
}

eml_err
eml_blob_writer_finish(struct eml_blob_writer *w, uint8_t content_id[EML_BLOB_ID_LEN])
{
	EML_ENSURE(w != NULL && content_id != NULL, EML_ERR_NULL);
	EML_ENSURE(w->put == w->h.plaintext_length, EML_ERR_BLOB_MISMATCH);
	EML_ENSURE(w->index + 1 == w->h.chunk_count, EML_ERR_INTERNAL);
	EML_GUARD(seal_chunk(w));
	EML_GUARD(eml_blob_sha_final(w->sha, content_id));
	return EML_OK;
}

void
eml_blob_writer_free(struct eml_blob_writer *w)
{
	if (w == NULL)
		return;
	eml_free(w->ct); /* ciphertext only */
	EVP_MD_CTX_free(w->sha);
	eml_secure_free(w); /* wipes key and staging chunk */
}
