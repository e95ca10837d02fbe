/*
 * The one whole-file reader. Every file the programs read whole (policies,
 * PEM keys and roots, topology keys, signatures, ONNX models, attestation
 * documents) comes in through here: a regular file only, a ceiling given by
 * the caller and checked before anything is allocated, EINTR and short reads
 * handled, and a file that grows while being read is an error rather than a
 * silently cut copy.
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

#endif
