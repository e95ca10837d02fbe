/*
 * The sealed weight blob (docs/SEALED_BLOB.md): one flat array of weight
 * bytes, encrypted in fixed-size chunks with XChaCha20-Poly1305 under a
 * 256-bit key that is fresh for every blob and known only to the topology
 * key. Each chunk's additional data binds the whole 48-byte header, the
 * chunk index and an is-last flag, so chunks cannot be altered, swapped,
 * dropped, repeated or cut off without the open failing.
 *
 * The writer streams: header first, then chunks as plaintext arrives, with
 * the file's SHA-256 (its content id) computed on the way. The reader
 * pulls byte ranges through a callback (the agent fetches them from the
 * host) and decrypts straight into caller-provided locked memory, so the
 * plaintext never exists outside it.
 */
#ifndef EML_BLOB_H
#define EML_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

#define EML_BLOB_HEADER_LEN 48
#define EML_BLOB_MAGIC "EMLBLOB" /* 7 characters plus a NUL: 8 bytes */
#define EML_BLOB_VERSION 1
#define EML_BLOB_CIPHER_XCHACHA20POLY1305 1
#define EML_BLOB_KEY_LEN 32
#define EML_BLOB_ID_LEN 32 /* SHA-256 */
#define EML_BLOB_TAG_LEN 16
#define EML_BLOB_NONCE_PREFIX_LEN 16
/* Chunk sizes: a multiple of 64 between 64 bytes and 64 MiB. */
#define EML_BLOB_CHUNK_MIN 64u
#define EML_BLOB_CHUNK_MAX (64u << 20)
#define EML_BLOB_CHUNK_DEFAULT (1u << 20)
/* Weight arrays above 64 GiB are refused before any allocation. */
#define EML_BLOB_PLAINTEXT_MAX (1ULL << 36)
/* Every weight starts at a multiple of this in the flat array. */
#define EML_BLOB_ALIGN 64u

struct eml_blob_header {
	uint16_t version;
	uint16_t cipher;
	uint32_t chunk_size;
	uint64_t chunk_count;
	uint64_t plaintext_length;
	uint8_t nonce_prefix[EML_BLOB_NONCE_PREFIX_LEN];
};

/* Chunk count for a plaintext length: ceil(len / chunk_size), and at least
 * one, so even an empty blob ends with an authenticated last chunk. */
uint64_t eml_blob_chunk_count(uint64_t plaintext_length, uint32_t chunk_size);
/* Total file size; EML_ERR_OVERFLOW or EML_ERR_BLOB_HEADER for parameters
 * that are out of range. */
eml_err eml_blob_file_size(uint64_t plaintext_length, uint32_t chunk_size,
    uint64_t *out) EML_MUST_USE;
/* Whether a chunk size is allowed (multiple of 64 in [64, 64 MiB]). */
bool eml_blob_chunk_size_ok(uint64_t chunk_size);

/* Parse exactly EML_BLOB_HEADER_LEN bytes. EML_ERR_PROTO_TRUNCATED when
 * fewer, EML_ERR_BLOB_HEADER for a bad magic, size or count,
 * EML_ERR_BLOB_VERSION for an unknown version or cipher. Trailing bytes
 * after the header are the chunks and are not looked at. */
eml_err eml_blob_header_parse(const uint8_t *p, size_t n, struct eml_blob_header *out) EML_MUST_USE;
/* Serialize a header into exactly EML_BLOB_HEADER_LEN bytes. */
void eml_blob_header_write(const struct eml_blob_header *h, uint8_t out[EML_BLOB_HEADER_LEN]);

/* ---------------------------------------------------------------- writer */

/* Sink for the sealed bytes, in file order. Must write all n bytes. */
typedef eml_err (*eml_blob_write_fn)(void *ctx, const void *p, size_t n);

struct eml_blob_writer;

/*
 * Start a blob of exactly plaintext_length bytes: draws the nonce prefix
 * and writes the header through fn. key is copied into locked memory.
 * Returns EML_OK, EML_ERR_BLOB_HEADER for an invalid chunk size or length,
 * EML_ERR_NOMEM, or the sink's error. *out is owned by the caller.
 */
eml_err eml_blob_writer_new(const uint8_t key[EML_BLOB_KEY_LEN], uint32_t chunk_size,
    uint64_t plaintext_length, eml_blob_write_fn fn, void *ctx,
    struct eml_blob_writer **out) EML_MUST_USE;
/* Append plaintext; full chunks are sealed and written at once.
 * EML_ERR_OVERFLOW when more than plaintext_length bytes are put. */
eml_err eml_blob_writer_put(struct eml_blob_writer *w, const void *p, size_t n) EML_MUST_USE;
/* Append n zero bytes (alignment padding). */
eml_err eml_blob_writer_pad(struct eml_blob_writer *w, size_t n) EML_MUST_USE;
/* Seal the last chunk and return the content id (SHA-256 of the file).
 * EML_ERR_BLOB_MISMATCH when fewer bytes than announced were put. */
eml_err eml_blob_writer_finish(struct eml_blob_writer *w,
    uint8_t content_id[EML_BLOB_ID_LEN]) EML_MUST_USE;
/* Wipe and free; NULL is a no-op. */
void eml_blob_writer_free(struct eml_blob_writer *w);

/* SHA-256 of n bytes with the CPU's SHA extensions where present (the
 * content id's hash; also the topology key's digest). EML_ERR_CRYPTO,
 * EML_ERR_NOMEM. */
eml_err eml_sha256(const void *p, size_t n, uint8_t out[32]) EML_MUST_USE;

/* ---------------------------------------------------------------- reader */

/* A sealed blob somewhere else: read exactly n bytes at offset into dst,
 * or fail. size is the length of the whole file as the source knows it. */
struct eml_blob_source {
	eml_err (*read)(void *ctx, uint64_t offset, void *dst, size_t n);
	void *ctx;
	uint64_t size;
	/* Optional (NULL: every chunk is read into a buffer of the reader's):
	 * the source's own bytes [offset, offset + n) in place, no copy
	 * (issue 16). *p is NULL when it cannot lend that range at once (the
	 * reader then reads it). The bytes stay as they are until
	 * release(*hold), which may come after the source's ctx is gone (a
	 * deferred content id check): a hold owns what it points into.
	 * Ciphertext only; never called from another thread. */
	eml_err (*borrow)(void *ctx, uint64_t offset, size_t n, const uint8_t **p, void **hold);
	void (*release)(void *hold);
};

/* A source over bytes in memory (tests, eml run --local); mem is the
 * caller's and must outlive src. */
struct eml_blob_mem {
	const uint8_t *p;
	size_t n;
};
void eml_blob_source_mem(struct eml_blob_source *src, struct eml_blob_mem *mem, const uint8_t *p,
    size_t n);

struct eml_blob_worker;

/* What the topology key says the blob must be. */
struct eml_blob_expect {
	const uint8_t *key;        /* EML_BLOB_KEY_LEN */
	const uint8_t *content_id; /* EML_BLOB_ID_LEN */
	uint32_t cipher;
	uint32_t chunk_size;
	uint64_t plaintext_length;
	uint64_t file_size;
	/* Optional: the thread to hash on when it is idle (NULL, or busy:
	 * a thread of the open's own, started and joined). */
	struct eml_blob_worker *worker;
};

/* A hash thread kept for many opens (eml_blob_expect.worker): one blob at
 * a time. Free it (ends and joins the thread) only when no open or
 * pending check uses it. EML_ERR_NOMEM, EML_ERR_INTERNAL (no thread). */
struct eml_blob_worker;
eml_err eml_blob_worker_new(struct eml_blob_worker **out) EML_MUST_USE;
void eml_blob_worker_free(struct eml_blob_worker *w);
/* Run fn(arg) on the worker's thread (work of the caller's that needs no
 * blob: the agent's exchange hash of a request). false when the worker is
 * busy: nothing posted, the caller does the work itself. After a post,
 * eml_blob_worker_join before the caller touches anything fn reads or
 * writes; a blob open wanting the worker meanwhile waits for fn to end,
 * and so does eml_blob_worker_free. */
bool eml_blob_worker_post(struct eml_blob_worker *w, void (*fn)(void *arg), void *arg);
/* Wait until a posted fn has returned (at once when none; NULL: no-op). */
void eml_blob_worker_join(struct eml_blob_worker *w);

/*
 * Fetch, authenticate and decrypt a whole blob into dst, which must hold
 * plaintext_length bytes (locked memory, the caller's). Errors:
 * EML_ERR_BLOB_HEADER / EML_ERR_BLOB_VERSION for a bad header,
 * EML_ERR_BLOB_MISMATCH when the header, file size or content id differ
 * from the expectation, EML_ERR_BLOB_AUTH when any chunk fails to open,
 * or the source's own error. On any failure all of dst is wiped.
 */
eml_err eml_blob_open(const struct eml_blob_source *src, const struct eml_blob_expect *exp,
    uint8_t *dst, size_t dst_len) EML_MUST_USE;

/*
 * The same, allocating the destination itself, and growing it with the
 * authenticated bytes only (the header is bound into every chunk's
 * associated data): each chunk is decrypted into a chunk-sized secure
 * buffer and only once it has authenticated does the destination grow
 * to hold it, so a topology key or header that claims a huge size with a
 * short or forged blob costs at most one chunk of locked memory.
 * alloc(ctx, n, max) returns a zeroed buffer of n bytes that may grow to
 * max (eml_secure_alloc_growable-like; NULL gives EML_ERR_NOMEM);
 * grow(ctx, p, n) extends it in place to n bytes or returns false, and
 * then a new buffer (twice as large, at most the plaintext length) is
 * allocated, the bytes so far copied and the old one freed. On success
 * *dst holds plaintext_length bytes. On failure *dst is NULL and whatever
 * was allocated has been wiped and freed with free_fn.
 */
eml_err eml_blob_open_alloc(const struct eml_blob_source *src, const struct eml_blob_expect *exp,
    void *(*alloc)(void *ctx, size_t n, size_t max), bool (*grow)(void *ctx, void *p, size_t n),
    void (*free_fn)(void *ctx, void *p, size_t n), void *ctx, uint8_t **dst) EML_MUST_USE;

/*
 * The same, with the content id check deferred when pend is not NULL: on
 * success every chunk has authenticated under the key and *dst holds the
 * plaintext, while the content id's hash may still run on a second
 * thread; *pend is the check still to make. The caller must call
 * eml_blob_pending_finish (EML_ERR_BLOB_MISMATCH on a content id other
 * than exp->content_id, which the caller then answers by wiping *dst and
 * everything derived from it) before anything derived from the plaintext
 * leaves its trust boundary, or eml_blob_pending_free to give up.
 * exp->content_id is copied. With pend NULL, eml_blob_open_alloc.
 */
struct eml_blob_pending;
eml_err eml_blob_open_alloc_deferred(const struct eml_blob_source *src,
    const struct eml_blob_expect *exp, void *(*alloc)(void *ctx, size_t n, size_t max),
    bool (*grow)(void *ctx, void *p, size_t n), void (*free_fn)(void *ctx, void *p, size_t n),
    void *ctx, uint8_t **dst, struct eml_blob_pending **pend) EML_MUST_USE;
/* Wait for the hash, compare, free p (NULL: EML_OK). */
eml_err eml_blob_pending_finish(struct eml_blob_pending *p) EML_MUST_USE;
/* Stop the hash and free p without a verdict; NULL is a no-op. */
void eml_blob_pending_free(struct eml_blob_pending *p);

#endif
