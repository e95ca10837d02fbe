#include "eml_blob.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <sodium.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "model/eml_blob_int.h"

bool
eml_blob_chunk_size_ok(uint64_t chunk_size)
{
	return chunk_size >= EML_BLOB_CHUNK_MIN && chunk_size <= EML_BLOB_CHUNK_MAX &&
	    chunk_size % 64 == 0;
}

uint64_t
eml_blob_chunk_count(uint64_t plaintext_length, uint32_t chunk_size)
{
	uint64_t n;

	if (chunk_size == 0)
		return 0;
	n = plaintext_length / chunk_size + (plaintext_length % chunk_size != 0);
	return n == 0 ? 1 : n;
}

eml_err
eml_blob_file_size(uint64_t plaintext_length, uint32_t chunk_size, uint64_t *out)
{
	uint64_t tags;
	uint64_t total;

	EML_ENSURE_REF(out);
	EML_ENSURE(eml_blob_chunk_size_ok(chunk_size), EML_ERR_BLOB_HEADER);
	EML_ENSURE(plaintext_length <= EML_BLOB_PLAINTEXT_MAX, EML_ERR_BLOB_HEADER);
	EML_ENSURE(!eml_mul_overflow(eml_blob_chunk_count(plaintext_length, chunk_size),
	    (uint64_t)EML_BLOB_TAG_LEN, &tags), EML_ERR_OVERFLOW);
	EML_ENSURE(!eml_add_overflow(plaintext_length, tags, &total), EML_ERR_OVERFLOW);
	EML_ENSURE(!eml_add_overflow(total, (uint64_t)EML_BLOB_HEADER_LEN, &total), EML_ERR_OVERFLOW);
	*out = total;
	return EML_OK;
}

eml_err
eml_blob_header_parse(const uint8_t *p, size_t n, struct eml_blob_header *out)
{
	struct eml_cur c = eml_cur_make(p, n);
	struct eml_blob_header h;
	uint8_t magic[8];

	EML_ENSURE_REF(out);
	EML_ENSURE(n >= EML_BLOB_HEADER_LEN, EML_ERR_PROTO_TRUNCATED);
	EML_GUARD(eml_cur_read_bytes(&c, magic, sizeof(magic)));
	EML_GUARD(eml_cur_read_u16be(&c, &h.version));
	EML_GUARD(eml_cur_read_u16be(&c, &h.cipher));
	EML_GUARD(eml_cur_read_u32be(&c, &h.chunk_size));
	EML_GUARD(eml_cur_read_u64be(&c, &h.chunk_count));
	EML_GUARD(eml_cur_read_u64be(&c, &h.plaintext_length));
	EML_GUARD(eml_cur_read_bytes(&c, h.nonce_prefix, sizeof(h.nonce_prefix)));
	if (memcmp(magic, EML_BLOB_MAGIC, sizeof(magic)) != 0) {
		eml_err_set_detail("not a sealed weight blob (bad magic)");
		EML_BAIL(EML_ERR_BLOB_HEADER);
	}
	if (h.version != EML_BLOB_VERSION || h.cipher != EML_BLOB_CIPHER_XCHACHA20POLY1305) {
		eml_err_set_detail("version %u cipher %u", (unsigned)h.version, (unsigned)h.cipher);
		EML_BAIL(EML_ERR_BLOB_VERSION);
	}
	if (!eml_blob_chunk_size_ok(h.chunk_size)) {
		eml_err_set_detail("chunk size %u", (unsigned)h.chunk_size);
		EML_BAIL(EML_ERR_BLOB_HEADER);
	}
	if (h.plaintext_length > EML_BLOB_PLAINTEXT_MAX) {
		eml_err_set_detail("plaintext length above the maximum");
		EML_BAIL(EML_ERR_BLOB_HEADER);
	}
	/* The count is redundant with size and length; it is in the header
	 * (and so in every chunk's additional data) to make a dropped tail a
	 * header mismatch rather than something a reader must infer. */
	if (h.chunk_count != eml_blob_chunk_count(h.plaintext_length, h.chunk_size)) {
		eml_err_set_detail("chunk count does not match length and chunk size");
		EML_BAIL(EML_ERR_BLOB_HEADER);
	}
	*out = h;
	return EML_OK;
}

void
eml_blob_chunk_nonce_ad(const uint8_t header[EML_BLOB_HEADER_LEN], uint64_t index, bool last,
    uint8_t nonce[BLOB_NONCE_LEN], uint8_t ad[BLOB_AD_LEN])
{
	memcpy(nonce, header + 32, EML_BLOB_NONCE_PREFIX_LEN);
	eml_store_u64be(nonce + EML_BLOB_NONCE_PREFIX_LEN, index);
	memcpy(ad, header, EML_BLOB_HEADER_LEN);
	eml_store_u64be(ad + EML_BLOB_HEADER_LEN, index);
	ad[EML_BLOB_HEADER_LEN + 8] = last ? 1 : 0;
}

/* The content id is SHA-256 of the file. OpenSSL's SHA-256 uses the CPU's
 * SHA extensions where present (about 8x libsodium's portable one here),
 * and hashing every byte is half the cost of sealing and opening. */
eml_err
eml_blob_sha_init(EVP_MD_CTX **ctx)
{
	*ctx = EVP_MD_CTX_new();
	EML_ENSURE(*ctx != NULL, EML_ERR_NOMEM);
	EML_ENSURE(EVP_DigestInit_ex(*ctx, EVP_sha256(), NULL) == 1, EML_ERR_CRYPTO);
	return EML_OK;
}

eml_err
eml_blob_sha_update(EVP_MD_CTX *ctx, const void *p, size_t n)
{
	EML_ENSURE(EVP_DigestUpdate(ctx, p, n) == 1, EML_ERR_CRYPTO);
	return EML_OK;
}

eml_err
eml_blob_sha_final(EVP_MD_CTX *ctx, uint8_t out[EML_BLOB_ID_LEN])
{
	unsigned int len = 0;

	EML_ENSURE(EVP_DigestFinal_ex(ctx, out, &len) == 1 && len == EML_BLOB_ID_LEN,
	    EML_ERR_CRYPTO);
	return EML_OK;
}

eml_err
eml_sha256(const void *p, size_t n, uint8_t out[32])
{
	EVP_MD_CTX *ctx = NULL;
	eml_err rc;

	EML_ENSURE(out != NULL && (p != NULL || n == 0), EML_ERR_NULL);
	rc = eml_blob_sha_init(&ctx);
	if (rc == EML_OK)
		rc = eml_blob_sha_update(ctx, p, n);
	if (rc == EML_OK)
		rc = eml_blob_sha_final(ctx, out);
	EVP_MD_CTX_free(ctx);
	return rc;
}

/*
 * XChaCha20-Poly1305 (IETF) is HChaCha20(key, nonce[0..16)) as a subkey,
 * then ChaCha20-Poly1305 (RFC 8439) under it with the 12-byte nonce
 * 0x00000000 || nonce[16..24). libsodium provides HChaCha20; OpenSSL runs
 * the bulk AEAD with its vector code (several times libsodium's speed
 * here). The ciphertext is exactly libsodium's
 * crypto_aead_xchacha20poly1305_ietf output (test_blob checks that).
 */
eml_err
eml_blob_aead(bool enc, const uint8_t key[EML_BLOB_KEY_LEN], const uint8_t nonce[BLOB_NONCE_LEN],
    const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t n, uint8_t *out,
    uint8_t tag[EML_BLOB_TAG_LEN])
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t sub[crypto_core_hchacha20_OUTPUTBYTES];
	uint8_t iv[12] = { 0 };
	EVP_CIPHER_CTX *c = NULL;
	int len = 0;
	int ok;

	if (n > INT32_MAX || ad_len > INT32_MAX)
		EML_FAIL(rc, EML_ERR_OVERFLOW);
	if (crypto_core_hchacha20(sub, nonce, key, NULL) != 0)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	memcpy(iv + 4, nonce + 16, 8);
	c = EVP_CIPHER_CTX_new();
	if (c == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	ok = EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, NULL, NULL, enc ? 1 : 0) == 1 &&
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_IVLEN, (int)sizeof(iv), NULL) == 1 &&
	    EVP_CipherInit_ex(c, NULL, NULL, sub, iv, enc ? 1 : 0) == 1 &&
	    EVP_CipherUpdate(c, NULL, &len, ad, (int)ad_len) == 1 &&
	    (n == 0 || EVP_CipherUpdate(c, out, &len, in, (int)n) == 1) &&
	    (enc || EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, EML_BLOB_TAG_LEN, tag) == 1);
	if (!ok)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	if (EVP_CipherFinal_ex(c, out + (n == 0 ? 0 : n), &len) != 1)
		EML_FAIL(rc, enc ? EML_ERR_CRYPTO : EML_ERR_BLOB_AUTH);
	if (enc && EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, EML_BLOB_TAG_LEN, tag) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	rc = EML_OK;
out:
	EVP_CIPHER_CTX_free(c);
	sodium_memzero(sub, sizeof(sub));
	return rc;
}

/* ---------------------------------------------------------------- reader */

static eml_err
mem_read(void *ctx, uint64_t offset, void *dst, size_t n)
{
	const struct eml_blob_mem *m = ctx;
	struct eml_cur c = eml_cur_make(m->p, m->n);

	EML_ENSURE(offset <= m->n, EML_ERR_PROTO_TRUNCATED);
	EML_GUARD(eml_cur_skip(&c, (size_t)offset));
	EML_GUARD(eml_cur_read_bytes(&c, dst, n));
	return EML_OK;
}

void
eml_blob_source_mem(struct eml_blob_source *src, struct eml_blob_mem *mem, const uint8_t *p,
    size_t n)
{
	mem->p = p;
	mem->n = n;
	src->read = mem_read;
	src->ctx = mem;
	src->size = n;
	src->borrow = NULL;
	src->release = NULL;
}

struct blob_dst {
	uint8_t *p; /* NULL until allocated (alloc mode) */
	size_t len; /* the plaintext's */
	void *(*alloc)(void *ctx, size_t n, size_t max);
	bool (*grow)(void *ctx, void *p, size_t n);
	void (*free_fn)(void *ctx, void *p, size_t n);
	void *ctx;
	size_t cap;     /* alloc mode: bytes of p so far */
};

static eml_err open_into(const struct eml_blob_source *src, const struct eml_blob_expect *exp,
    struct blob_dst *d, struct eml_blob_pending **pend);

eml_err
eml_blob_open(const struct eml_blob_source *src, const struct eml_blob_expect *exp,
    uint8_t *dst, size_t dst_len)
{
	struct blob_dst d;

	memset(&d, 0, sizeof(d));
	if (dst == NULL && dst_len != 0)
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	d.p = dst;
	d.len = dst_len;
	return open_into(src, exp, &d, NULL);
}

eml_err
eml_blob_open_alloc(const struct eml_blob_source *src, const struct eml_blob_expect *exp,
    void *(*alloc)(void *ctx, size_t n, size_t max), bool (*grow)(void *ctx, void *p, size_t n),
    void (*free_fn)(void *ctx, void *p, size_t n), void *ctx, uint8_t **dst)
{
	return eml_blob_open_alloc_deferred(src, exp, alloc, grow, free_fn, ctx, dst, NULL);
}

eml_err
eml_blob_open_alloc_deferred(const struct eml_blob_source *src, const struct eml_blob_expect *exp,
    void *(*alloc)(void *ctx, size_t n, size_t max), bool (*grow)(void *ctx, void *p, size_t n),
    void (*free_fn)(void *ctx, void *p, size_t n), void *ctx, uint8_t **dst,
    struct eml_blob_pending **pend)
{
	struct blob_dst d;
	eml_err rc;

	if (pend != NULL)
		*pend = NULL;
	if (dst == NULL || alloc == NULL || grow == NULL || free_fn == NULL || exp == NULL)
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	*dst = NULL;
	memset(&d, 0, sizeof(d));
	d.len = (size_t)exp->plaintext_length;
	d.alloc = alloc;
	d.grow = grow;
	d.free_fn = free_fn;
	d.ctx = ctx;
	rc = open_into(src, exp, &d, pend);
	if (rc != EML_OK) {
		if (d.p != NULL)
			free_fn(ctx, d.p, d.cap); /* wiped by open_into already */
		return rc;
	}
	if (d.p == NULL) /* an empty blob: no chunk to wait for */
		d.p = alloc(ctx, d.len > 0 ? d.len : 1, d.len > 0 ? d.len : 1);
	if (d.p == NULL) {
		if (pend != NULL) {
			eml_blob_pending_free(*pend);
			*pend = NULL;
		}
		return eml_err_record(EML_ERR_NOMEM, __FILE__, __LINE__, __func__);
	}
	*dst = d.p;
	return EML_OK;
}

/* Room for need bytes: grow in place, else a new buffer twice as large
 * (at most the plaintext) with the bytes so far. */
static eml_err
dst_reserve(struct blob_dst *d, size_t need)
{
	size_t ncap;
	uint8_t *np;

	if (d->p == NULL) {
		d->p = d->alloc(d->ctx, need > 0 ? need : 1, d->len > 0 ? d->len : 1);
		EML_ENSURE(d->p != NULL, EML_ERR_NOMEM);
		d->cap = need;
		return EML_OK;
	}
	if (need <= d->cap)
		return EML_OK;
	if (d->grow(d->ctx, d->p, need)) {
		d->cap = need;
		return EML_OK;
	}
	ncap = d->cap > d->len / 2 ? d->len : 2 * d->cap;
	if (ncap < need)
		ncap = need;
	np = d->alloc(d->ctx, ncap, d->len);
	EML_ENSURE(np != NULL, EML_ERR_NOMEM);
	EML_MEMCPY(np, d->p, d->cap);
	eml_wipe(d->p, d->cap);
	d->free_fn(d->ctx, d->p, d->cap);
	d->p = np;
	d->cap = ncap;
	return EML_OK;
}

/* Where chunk i is opened: straight into the destination, which in alloc
 * mode grows now to hold it: the chunks that authenticated plus this one,
 * never what the header claims. Opened in place, no copy (issue 16: the
 * copy from a chunk-sized buffer, its wipe and the growth's zeroing were
 * three passes over the weights on every per-request assembly). */
static eml_err
chunk_dst(struct blob_dst *d, uint64_t pos, size_t plen, uint8_t **out)
{
	if (d->alloc != NULL)
		EML_GUARD(dst_reserve(d, (size_t)pos + plen));
	*out = d->p + pos;
	return EML_OK;
}

/*
 * The content id's SHA-256 of the ciphertext runs on a second thread, one
 * chunk at a time, while this one decrypts that chunk and reads the next
 * into the other buffer: the two passes over a large blob overlap
 * (issue 16: SHA-256 is the larger half of opening it). Small blobs, and
 * any failure to start the thread, hash inline as before; the result is
 * the same either way.
 */
#define HASH_THREAD_MIN ((uint64_t)256 << 10)
/* With the thread, the ciphertext of up to this many bytes of chunks is
 * kept for it (a ring of chunk buffers): the decryption runs ahead of the
 * hash instead of waiting for it chunk by chunk, and a caller that defers
 * the content id check (eml_blob_open_alloc_deferred) goes on with the
 * authenticated plaintext while the hash finishes. */
#define HASH_RING_BYTES ((uint64_t)64 << 20)
#define HASH_RING_MAX 64

struct hasher {
	EVP_MD_CTX *sha;
	struct eml_blob_worker *w; /* the thread hashing for this one */
	bool own_worker;           /* w is this hash's alone (ended with it) */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	const uint8_t *p[HASH_RING_MAX]; /* queued chunks, slot = index % HASH_RING_MAX */
	size_t n[HASH_RING_MAX];
	uint64_t queued, done; /* chunks handed over, chunks hashed */
	/* the blob's chunk count: the thread is done with h once it has
	 * hashed that many, without waiting to be told (hasher_stop) */
	uint64_t expect;
	bool stop, failed, threaded;
};

/*
 * The hash thread: a worker that hashes one blob after another. A caller
 * that opens many blobs (the agent: one per per-request assembly) keeps
 * one (eml_blob_worker_new, with the expectation) instead of starting and
 * joining a thread per blob (issue 16: about 30-60 us per request here);
 * without one, each blob has a worker of its own, ended with its hash. A
 * worker holds no secret: it hashes ciphertext, and the digest state is
 * the hasher's.
 */
struct eml_blob_worker {
	pthread_t t;
	pthread_mutex_t mu; /* job, fn, quit */
	pthread_cond_t cv;
	struct hasher *job; /* NULL: idle (or its job is finished) */
	/* or a job of the caller's (eml_blob_worker_post), NULL once run */
	void (*fn)(void *arg);
	void *arg;
	bool quit;
};

/* One blob's hash: until its last chunk is hashed, or the hasher stops
 * with nothing left queued. Its last touch of h is the unlock of h->mu.
 * Ending at the last chunk, the worker is free (and its job cleared)
 * before the caller asks: the caller's check then waits for no wakeup
 * of this thread and none of its own (issue 16: ~14 us of the agent's
 * idwait on every per-request assembly). */
static void
hash_job(struct hasher *h)
{
	pthread_mutex_lock(&h->mu);
	for (;;) {
		const uint8_t *p;
		size_t n;
		bool ok;

		while (h->done == h->queued && !h->stop && h->done != h->expect)
			pthread_cond_wait(&h->cv, &h->mu);
		if (h->done == h->queued)
			break;
		p = h->p[h->done % HASH_RING_MAX];
		n = h->n[h->done % HASH_RING_MAX];
		pthread_mutex_unlock(&h->mu);
		ok = EVP_DigestUpdate(h->sha, p, n) == 1;
		pthread_mutex_lock(&h->mu);
		h->failed = h->failed || !ok;
		h->done++;
		pthread_cond_broadcast(&h->cv);
	}
	pthread_mutex_unlock(&h->mu);
}

static void *
worker_main(void *arg)
{
	struct eml_blob_worker *w = arg;
	struct hasher *h;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->job == NULL && w->fn == NULL && !w->quit)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->fn != NULL) {
			void (*fn)(void *) = w->fn;
			void *fa = w->arg;

			pthread_mutex_unlock(&w->mu);
			fn(fa);
			pthread_mutex_lock(&w->mu);
			w->fn = NULL; /* its arg is the caller's again */
			w->arg = NULL;
			pthread_cond_broadcast(&w->cv);
			continue;
		}
		if (w->job == NULL)
			break; /* quit */
		h = w->job;
		pthread_mutex_unlock(&w->mu);
		hash_job(h);
		pthread_mutex_lock(&w->mu);
		w->job = NULL; /* h is the caller's again */
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

eml_err
eml_blob_worker_new(struct eml_blob_worker **out)
{
	struct eml_blob_worker *w;

	EML_ENSURE_REF(out);
	*out = NULL;
	w = eml_calloc(1, sizeof(*w));
	EML_ENSURE(w != NULL, EML_ERR_NOMEM);
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		eml_free(w);
		EML_BAIL(EML_ERR_INTERNAL);
	}
	if (pthread_cond_init(&w->cv, NULL) != 0) {
		pthread_mutex_destroy(&w->mu);
		eml_free(w);
		EML_BAIL(EML_ERR_INTERNAL);
	}
	if (pthread_create(&w->t, NULL, worker_main, w) != 0) {
		pthread_cond_destroy(&w->cv);
		pthread_mutex_destroy(&w->mu);
		eml_free(w);
		EML_BAIL(EML_ERR_INTERNAL);
	}
	*out = w;
	return EML_OK;
}

bool
eml_blob_worker_post(struct eml_blob_worker *w, void (*fn)(void *arg), void *arg)
{
	bool taken = false;

	if (w == NULL || fn == NULL)
		return false;
	pthread_mutex_lock(&w->mu);
	if (w->job == NULL && w->fn == NULL && !w->quit) {
		w->fn = fn;
		w->arg = arg;
		taken = true;
		pthread_cond_broadcast(&w->cv);
	}
	pthread_mutex_unlock(&w->mu);
	return taken;
}

/* The lock's hand-over orders everything fn wrote before the caller's
 * next read. */
static void
worker_join_locked(struct eml_blob_worker *w)
{
	while (w->fn != NULL)
		pthread_cond_wait(&w->cv, &w->mu);
}

void
eml_blob_worker_join(struct eml_blob_worker *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	worker_join_locked(w);
	pthread_mutex_unlock(&w->mu);
}

/* Its job finished (hasher_stop waits for that): end and join it. */
void
eml_blob_worker_free(struct eml_blob_worker *w)
{
	if (w == NULL)
		return;
	pthread_mutex_lock(&w->mu);
	worker_join_locked(w); /* a posted job runs to its end */
	w->quit = true;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	(void)pthread_join(w->t, NULL);
	pthread_cond_destroy(&w->cv);
	pthread_mutex_destroy(&w->mu);
	eml_free(w);
}

/* Hash on the caller's worker when it is idle, else on one of its own;
 * inline when not threaded or no thread can start. */
static eml_err
hasher_start(struct hasher *h, bool threaded, struct eml_blob_worker *kept, uint64_t chunks)
{
	struct eml_blob_worker *w = NULL;

	memset(h, 0, sizeof(*h));
	h->expect = chunks;
	EML_GUARD(eml_blob_sha_init(&h->sha));
	if (!threaded || pthread_mutex_init(&h->mu, NULL) != 0)
		return EML_OK;
	if (pthread_cond_init(&h->cv, NULL) != 0) {
		pthread_mutex_destroy(&h->mu);
		return EML_OK;
	}
	if (kept != NULL) {
		pthread_mutex_lock(&kept->mu);
		/* a posted job (bounded: the agent's exchange hash of one
		 * request) is waited for rather than a thread started */
		worker_join_locked(kept);
		if (kept->job == NULL && !kept->quit) {
			kept->job = h;
			w = kept;
			pthread_cond_broadcast(&kept->cv);
		}
		pthread_mutex_unlock(&kept->mu);
	}
	if (w == NULL) {
		if (eml_blob_worker_new(&w) != EML_OK) {
			eml_err_clear_detail();
			pthread_cond_destroy(&h->cv);
			pthread_mutex_destroy(&h->mu);
			return EML_OK;
		}
		h->own_worker = true;
		pthread_mutex_lock(&w->mu);
		w->job = h;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	h->w = w;
	h->threaded = true;
	return EML_OK;
}

/* Wait until at most `left` chunks are still queued for the thread. */
static void
hasher_wait(struct hasher *h, uint64_t left)
{
	if (!h->threaded)
		return;
	pthread_mutex_lock(&h->mu);
	while (h->queued - h->done > left)
		pthread_cond_wait(&h->cv, &h->mu);
	pthread_mutex_unlock(&h->mu);
}

/* Hash [p, p + n): inline, or queued for the thread (the caller keeps the
 * bytes until hasher_wait says the thread is past them). */
static eml_err
hasher_put(struct hasher *h, const uint8_t *p, size_t n)
{
	if (!h->threaded)
		return eml_blob_sha_update(h->sha, p, n);
	pthread_mutex_lock(&h->mu);
	while (h->queued - h->done >= HASH_RING_MAX)
		pthread_cond_wait(&h->cv, &h->mu);
	h->p[h->queued % HASH_RING_MAX] = p;
	h->n[h->queued % HASH_RING_MAX] = n;
	h->queued++;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	return EML_OK;
}

/* Wait for the thread to finish what it has and end it. */
static void
hasher_stop(struct hasher *h)
{
	if (!h->threaded)
		return;
	hasher_wait(h, 0);
	pthread_mutex_lock(&h->mu);
	h->stop = true;
	pthread_cond_broadcast(&h->cv);
	pthread_mutex_unlock(&h->mu);
	/* the worker is done with h once it has cleared its job */
	pthread_mutex_lock(&h->w->mu);
	while (h->w->job == h)
		pthread_cond_wait(&h->w->cv, &h->w->mu);
	pthread_mutex_unlock(&h->w->mu);
	if (h->own_worker)
		eml_blob_worker_free(h->w);
	h->w = NULL;
	h->own_worker = false;
	pthread_cond_destroy(&h->cv);
	pthread_mutex_destroy(&h->mu);
	h->threaded = false;
}

static eml_err
hasher_finish(struct hasher *h, uint8_t id[EML_BLOB_ID_LEN])
{
	hasher_stop(h);
	EML_ENSURE(!h->failed, EML_ERR_CRYPTO);
	return eml_blob_sha_final(h->sha, id);
}

static void
hasher_free(struct hasher *h)
{
	hasher_stop(h);
	EVP_MD_CTX_free(h->sha);
	h->sha = NULL;
}

/* The content id check still to come (eml_blob_open_alloc_deferred): the
 * hash (maybe still running), the ciphertext it reads, the id expected. */
struct eml_blob_pending {
	struct hasher hs;
	/* per ring slot: a chunk read into ct (allocated when first needed),
	 * or lent by the source (hold, given back with release) */
	uint8_t *ct[HASH_RING_MAX];
	void *hold[HASH_RING_MAX];
	void (*release)(void *hold);
	uint8_t want[EML_BLOB_ID_LEN];
};

/* The slot's lent bytes back to the source (the hash is past them). */
static void
slot_release(struct eml_blob_pending *p, size_t k)
{
	if (p->hold[k] != NULL && p->release != NULL)
		p->release(p->hold[k]);
	p->hold[k] = NULL;
}

static void
ring_free(struct eml_blob_pending *p)
{
	for (size_t i = 0; i < HASH_RING_MAX; i++) {
		slot_release(p, i);
		eml_free(p->ct[i]); /* ciphertext only */
		p->ct[i] = NULL;
	}
}

void
eml_blob_pending_free(struct eml_blob_pending *p)
{
	if (p == NULL)
		return;
	hasher_free(&p->hs); /* before the buffers it may be reading */
	ring_free(p);
	eml_free_wipe(p, sizeof(*p));
}

eml_err
eml_blob_pending_finish(struct eml_blob_pending *p)
{
	uint8_t id[EML_BLOB_ID_LEN];
	eml_err rc;

	if (p == NULL)
		return EML_OK;
	rc = hasher_finish(&p->hs, id);
	if (rc == EML_OK && sodium_memcmp(id, p->want, sizeof(id)) != 0) {
		eml_err_set_detail("content id differs from the topology key");
		rc = eml_err_record(EML_ERR_BLOB_MISMATCH, __FILE__, __LINE__, __func__);
	}
	eml_blob_pending_free(p);
	return rc;
}

/* Sizes against the expectation, then the header: parsed exactly and
 * agreeing with the topology key. */
static eml_err
read_header(const struct eml_blob_source *src, const struct eml_blob_expect *exp,
    size_t dst_len, uint8_t header[EML_BLOB_HEADER_LEN], struct eml_blob_header *h)
{
	uint64_t fsize;

	EML_ENSURE(exp->plaintext_length == dst_len, EML_ERR_BLOB_MISMATCH);
	EML_GUARD(eml_blob_file_size(exp->plaintext_length, exp->chunk_size, &fsize));
	if (fsize != exp->file_size || src->size != fsize) {
		eml_err_set_detail("blob is %llu bytes, topology key says %llu",
		    (unsigned long long)src->size, (unsigned long long)exp->file_size);
		EML_BAIL(EML_ERR_BLOB_MISMATCH);
	}
	EML_GUARD(src->read(src->ctx, 0, header, EML_BLOB_HEADER_LEN));
	EML_GUARD(eml_blob_header_parse(header, EML_BLOB_HEADER_LEN, h));
	if (h->cipher != exp->cipher || h->chunk_size != exp->chunk_size ||
	    h->plaintext_length != exp->plaintext_length) {
		eml_err_set_detail("blob header parameters differ from the topology key");
		EML_BAIL(EML_ERR_BLOB_MISMATCH);
	}
	return EML_OK;
}

/* Chunk buffers for the hash's ring: one inline; with the thread, as many
 * as fit in HASH_RING_BYTES, at most one per chunk, 2 to HASH_RING_MAX. */
static uint64_t
ring_size(const struct eml_blob_header *h, bool threaded)
{
	uint64_t ring;

	if (!threaded)
		return 1;
	ring = HASH_RING_BYTES / ((uint64_t)h->chunk_size + EML_BLOB_TAG_LEN);
	if (ring > h->chunk_count)
		ring = h->chunk_count;
	if (ring > HASH_RING_MAX)
		ring = HASH_RING_MAX;
	if (ring < 2) /* one buffer for a single chunk, else two at least */
		ring = h->chunk_count > 1 ? 2 : 1;
	return ring;
}

static eml_err
open_into(const struct eml_blob_source *src, const struct eml_blob_expect *exp,
    struct blob_dst *d, struct eml_blob_pending **pend)
{
	uint8_t *dst = NULL;
	size_t dst_len = d->len;
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t header[EML_BLOB_HEADER_LEN];
	uint8_t id[EML_BLOB_ID_LEN];
	uint8_t nonce[BLOB_NONCE_LEN];
	uint8_t ad[BLOB_AD_LEN];
	struct eml_blob_header h;
	struct eml_blob_pending *pd = NULL;
	struct hasher *hs;
	uint64_t off, ring;
	bool auth_failed = false;

	if (pend != NULL)
		*pend = NULL;
	pd = eml_calloc(1, sizeof(*pd));
	if (pd == NULL)
		return eml_err_record(EML_ERR_NOMEM, __FILE__, __LINE__, __func__);
	hs = &pd->hs;
	if (src == NULL || exp == NULL || exp->key == NULL || exp->content_id == NULL ||
	    src->read == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	EML_MEMCPY(pd->want, exp->content_id, sizeof(pd->want));
	if ((rc = read_header(src, exp, dst_len, header, &h)) != EML_OK)
		goto out;
	/* A blob of one chunk is threaded too: its hash then runs while the
	 * chunk is decrypted and, deferred, while the caller plans. */
	rc = hasher_start(hs, exp->file_size >= HASH_THREAD_MIN, exp->worker, h.chunk_count);
	if (rc == EML_OK)
		rc = eml_blob_sha_update(hs->sha, header, sizeof(header));
	if (rc != EML_OK)
		goto out;
	/* with the thread, a ring of chunk slots the hash reads behind the
	 * decryption; inline, one (it stays in cache). A slot holds the
	 * chunk where the source lends it (no copy), else in a buffer. */
	ring = ring_size(&h, hs->threaded);
	pd->release = src->release;
	off = EML_BLOB_HEADER_LEN;
	for (uint64_t i = 0; i < h.chunk_count; i++) {
		bool last = i + 1 == h.chunk_count;
		uint64_t pos = i * h.chunk_size;
		size_t plen = last ? (size_t)(h.plaintext_length - pos) : h.chunk_size;
		size_t clen = plen + EML_BLOB_TAG_LEN;
		size_t k = (size_t)(i % ring);
		const uint8_t *c = NULL;

		/* the slot's previous chunk (i - ring) is hashed */
		hasher_wait(hs, ring - 1);
		slot_release(pd, k);
		if (src->borrow != NULL &&
		    (rc = src->borrow(src->ctx, off, clen, &c, &pd->hold[k])) != EML_OK)
			goto out;
		if (c == NULL) {
			if (pd->ct[k] == NULL &&
			    (pd->ct[k] = eml_alloc((size_t)h.chunk_size + EML_BLOB_TAG_LEN)) == NULL)
				EML_FAIL(rc, EML_ERR_NOMEM);
			if ((rc = src->read(src->ctx, off, pd->ct[k], clen)) != EML_OK)
				goto out;
			c = pd->ct[k];
		}
		if ((rc = hasher_put(hs, c, clen)) != EML_OK)
			goto out;
		eml_blob_chunk_nonce_ad(header, i, last, nonce, ad);
		if ((rc = chunk_dst(d, pos, plen, &dst)) != EML_OK)
			goto out;
		/* Straight into locked memory (wiped below if anything fails,
		 * this chunk included). The tag is only read. */
		if (eml_blob_aead(false, exp->key, nonce, ad, sizeof(ad), c, plen, dst,
		    (uint8_t *)(uintptr_t)(c + plen)) != EML_OK) {
			eml_err_set_detail("chunk %llu of %llu", (unsigned long long)i,
			    (unsigned long long)h.chunk_count);
			auth_failed = true;
			break;
		}
		off += clen;
	}
	if (auth_failed)
		EML_FAIL(rc, EML_ERR_BLOB_AUTH);
	if (pend != NULL) {
		/* every chunk authenticated; the content id is the caller's
		 * to check (eml_blob_pending_finish) before anything derived
		 * from these bytes is used outside */
		*pend = pd;
		pd = NULL;
		return EML_OK;
	}
	rc = hasher_finish(hs, id);
	if (rc != EML_OK)
		goto out;
	if (sodium_memcmp(id, exp->content_id, sizeof(id)) != 0) {
		eml_err_set_detail("content id differs from the topology key");
		EML_FAIL(rc, EML_ERR_BLOB_MISMATCH);
	}
	rc = EML_OK;
out:
	eml_blob_pending_free(pd); /* the hash before the buffers it may be reading */
	if (rc != EML_OK && d->p != NULL)
		eml_wipe(d->p, d->alloc != NULL ? d->cap : dst_len);
	return rc;
}
