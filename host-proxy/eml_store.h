/*
 * The host's content-addressed weight store (DESIGN §3 step 2, §7).
 *
 * A store is one directory. Each blob is a regular file whose name is the
 * lowercase hex SHA-256 of its content (64 characters); nothing else in the
 * directory is ever served. The proxy cannot open a sealed blob and does not
 * need to: it only adds files (eml_store_put_*) and serves byte ranges of
 * them to the agent (eml_store_blob_*), never reading a whole blob into
 * memory. The agent authenticates every chunk it receives, so the store does
 * not re-hash on read: a file altered on disk fails closed in the enclave.
 */
#ifndef EML_STORE_H
#define EML_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

#define EML_STORE_ID_LEN 32u
#define EML_STORE_ID_HEX_LEN 64u
/* Largest byte range one BlobRequest may ask for. The agent fetches a blob
 * in ranges no larger than this; it bounds the proxy's per-request disk
 * read and the size of a BlobResponse frame. 4 MiB of chunk data plus 64
 * KiB for their tags and the blob header: the agent asks for whole chunks,
 * and four 1 MiB chunks with their tags are a little more than 4 MiB
 * (EML_AGENT_BLOB_AHEAD is the same figure; until issue 16 the limit was 4
 * MiB, which held three). */
#define EML_STORE_RANGE_MAX ((4u << 20) + (64u << 10))

struct eml_store {
	int dirfd;
};

/* An open blob: a read-only descriptor and its size at open time. */
struct eml_blob {
	int fd;
	uint64_t size;
};

/*
 * Open the store directory dir (it must exist). Returns EML_OK,
 * EML_ERR_FILE (missing, not a directory, no permission; detail says which),
 * EML_ERR_NULL. Close with eml_store_close.
 */
eml_err eml_store_open(struct eml_store *s, const char *dir) EML_MUST_USE;
void eml_store_close(struct eml_store *s);

/*
 * Copy everything readable from fd into the store, hashing while copying
 * (64 KiB at a time; the file is never held in memory), and file it under
 * its content id, written to id. Idempotent: when the blob already exists
 * nothing changes and EML_OK is returned. The new file is written to a
 * temporary name, fsync'ed and linked into place, so a crash never leaves a
 * file whose name is not the hash of its content.
 * Returns EML_OK, EML_ERR_FILE (read, write or rename failure), EML_ERR_NULL.
 */
eml_err eml_store_put_fd(struct eml_store *s, int fd, uint8_t id[EML_STORE_ID_LEN]) EML_MUST_USE;
/* The same from a file path. EML_ERR_FILE when path cannot be opened or is
 * not a regular file. Takes any bytes (tests store arbitrary content);
 * `eml-proxy blob put` uses eml_store_put_sealed. */
eml_err eml_store_put_file(struct eml_store *s, const char *path,
    uint8_t id[EML_STORE_ID_LEN]) EML_MUST_USE;

/*
 * Open the blob with content id `id`. Returns EML_OK, EML_ERR_BLOB_UNKNOWN
 * when there is no such file (or it is not a regular file: a symlink planted
 * in the store is not followed), EML_ERR_FILE on other errors, EML_ERR_NULL.
 * Close with eml_store_blob_close.
 */
eml_err eml_store_blob_open(const struct eml_store *s, const uint8_t id[EML_STORE_ID_LEN],
    struct eml_blob *b) EML_MUST_USE;
void eml_store_blob_close(struct eml_blob *b);

/*
 * Check a requested range against a blob of `size` bytes: 1 <= len <=
 * EML_STORE_RANGE_MAX and [off, off + len) inside the blob. Returns EML_OK
 * or EML_ERR_BLOB_RANGE (detail says which bound failed).
 */
eml_err eml_store_check_range(uint64_t size, uint64_t off, uint64_t len) EML_MUST_USE;

/*
 * Read exactly n bytes at off into dst (pread, looping on short reads and
 * EINTR). The range must already have passed eml_store_check_range.
 * Returns EML_OK, EML_ERR_FILE (I/O error, or the file shrank under us).
 */
eml_err eml_store_blob_pread(const struct eml_blob *b, uint64_t off, void *dst,
    size_t n) EML_MUST_USE;

/*
 * Send up to n bytes of the blob at off straight to the socket sock
 * (sendfile: from the page cache, no buffer of ours, no copy through user
 * memory). sock is non-blocking: *sent receives what went (0 when sock is
 * full now). The range must already have passed eml_store_check_range.
 * Returns EML_OK; EML_ERR_IO_EOF (peer gone); EML_ERR_UNSUPPORTED when this
 * descriptor pair cannot do it (nothing sent; the caller reads with
 * eml_store_blob_pread instead); EML_ERR_FILE (the file shrank under us);
 * EML_ERR_IO.
 */
eml_err eml_store_blob_send(const struct eml_blob *b, int sock, uint64_t off, size_t n,
    size_t *sent) EML_MUST_USE;

/*
 * Convenience for tests and small reads: open, check the range, read len
 * bytes into dst (which holds cap bytes), close. *total receives the blob
 * size when not NULL. Errors as above; EML_ERR_BLOB_RANGE also when len >
 * cap.
 */
eml_err eml_store_read_range(const struct eml_store *s, const uint8_t id[EML_STORE_ID_LEN],
    uint64_t off, uint64_t len, void *dst, size_t cap, uint64_t *total) EML_MUST_USE;

/* One blob of the store as eml_store_list sees it. */
struct eml_store_entry {
	uint8_t id[EML_STORE_ID_LEN];
	uint64_t size;
	bool available; /* a regular file that opens for reading */
};

/*
 * Call fn for every blob of the store (names that are 64 lowercase hex
 * digits; anything else in the directory is skipped), at most max of
 * them, in directory order. *n receives the count. Returns EML_OK,
 * EML_ERR_FILE when the directory cannot be read, or the first error fn
 * returns.
 */
eml_err eml_store_list(const struct eml_store *s, size_t max,
    eml_err (*fn)(void *arg, const struct eml_store_entry *e), void *arg,
    size_t *n) EML_MUST_USE;

/*
 * `eml-proxy blob put`: the same, but only for a sealed blob. The 48-byte
 * header (docs/SEALED_BLOB.md: magic, version 1, cipher 1, chunk size a
 * multiple of 64 in [64, 64 MiB], chunk count matching the length) and the
 * file size (exactly what the header implies) are checked on the opened
 * descriptor before anything is copied, so a topology key (the secret that
 * opens the blob) or a plaintext ONNX model given by mistake never reaches
 * the store. EML_ERR_BLOB_HEADER with a detail naming what the file looks
 * like; nothing is written then.
 */
eml_err eml_store_put_sealed(struct eml_store *s, const char *path,
    uint8_t id[EML_STORE_ID_LEN]) EML_MUST_USE;

#endif
