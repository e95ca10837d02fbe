/*
 * The one whole-file reader. Every file the programs read whole (policies,
 * PEM keys and roots, topology keys, signatures, ONNX models, attestation
 * documents) comes in through here: a regular file only, a ceiling given by
 * the caller and checked before anything is allocated, EINTR and short reads
 * handled, and a file that grows while being read is an error rather than a
 * silently cut copy. The path "-" is standard input, read to its end under
 * the same ceiling.
 */
#ifndef EML_FILE_H
#define EML_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

/* Flags for eml_file_read. */
#define EML_FILE_SECRET 0x1u   /* eml_secure_alloc memory: locked, wiped on free */
#define EML_FILE_NONEMPTY 0x2u /* an empty file is an error */

/*
 * Read the regular file at path whole into fresh memory. *data gets len + 1
 * bytes, the last one a zero that *len does not count, so text files can be
 * used as C strings. Free with eml_file_free(*data, *len, flags).
 * Returns EML_OK; EML_ERR_FILE (cannot open, not a regular file, read error,
 * empty with EML_FILE_NONEMPTY, changed while read); EML_ERR_FILE_TOO_LARGE
 * (above max bytes); EML_ERR_NOMEM; EML_ERR_NULL. The detail names the path.
 */
eml_err eml_file_read(const char *path, size_t max, unsigned flags, uint8_t **data, size_t *len)
    EML_MUST_USE;
/* Wipe and free what eml_file_read returned (NULL is fine). */
void eml_file_free(uint8_t *data, size_t len, unsigned flags);
/* The same reader, appending the file's bytes to out (whose own ceiling
 * applies too). On failure out is as it was. */
eml_err eml_file_read_buf(const char *path, size_t max, unsigned flags, struct eml_buf *out)
    EML_MUST_USE;


/*
 * The one file writer. Every file the programs write whole (keys, topology
 * keys, sealed blobs, signatures, tensors, policies) goes out through here:
 * the bytes go to a fresh temporary file in the same directory (O_EXCL,
 * never a symlink), which gets its mode with fchmod, is fsynced and then
 * published under path in one step: link(2) when the file must be new,
 * so an existing one is never touched (EML_ERR_FILE_EXISTS), rename(2)
 * with EML_FILE_REPLACE. The directory is fsynced after. On any failure
 * the temporary file is removed: a reader sees the old file, or none, or
 * the whole new one, never half a secret.
 */
#define EML_FILE_REPLACE 0x4u /* replace an existing file (--force) */

struct eml_file_out {
	int fd;
	unsigned mode;
	unsigned flags;
	char path[4096];
	char tmp[4096 + 16];
};

/* Start writing path: creates the temporary file. With no REPLACE flag an
 * existing path is refused here already (EML_ERR_FILE_EXISTS), before any
 * work; the final link checks again. */
eml_err eml_file_out_open(struct eml_file_out *o, const char *path, unsigned mode, unsigned flags)
    EML_MUST_USE;
eml_err eml_file_out_write(struct eml_file_out *o, const void *p, size_t n) EML_MUST_USE;
/* fchmod, fsync, close and publish. After it (success or not) the object
 * holds nothing; eml_file_out_abort is still safe to call. */
eml_err eml_file_out_commit(struct eml_file_out *o) EML_MUST_USE;
/* Close and remove the temporary file (no-op after commit). */
void eml_file_out_abort(struct eml_file_out *o);
/* open + write + commit of n bytes. */
eml_err eml_file_write(const char *path, const void *p, size_t n, unsigned mode, unsigned flags)
    EML_MUST_USE;
/* EML_ERR_FILE_EXISTS when path exists (as anything, even a dangling
 * symlink) and flags lack EML_FILE_REPLACE; EML_ERR_FILE when its directory
 * is missing or not writable. Lets a command refuse before doing work. */
eml_err eml_file_check_new(const char *path, unsigned flags) EML_MUST_USE;

#endif
