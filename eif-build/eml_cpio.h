/*
 * Deterministic cpio ("newc", the initramfs format): every entry owned by
 * 0:0, mtime 0, inode numbers counted from 1 in the order entries are
 * added, so the archive depends only on names, modes and contents.
 */
#ifndef EML_CPIO_H
#define EML_CPIO_H

#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

#define EML_CPIO_NAME_MAX 255

struct eml_cpio {
	struct eml_buf *out;
	uint32_t ino;
};

void eml_cpio_init(struct eml_cpio *c, struct eml_buf *out);
/*
 * Names are relative ("dev/console"): no leading '/', no empty, "." or
 * ".." component, at most EML_CPIO_NAME_MAX bytes; modes are permission
 * bits only (07777). EML_OK, EML_ERR_USAGE (bad name or mode),
 * EML_ERR_PROTO_TOO_LARGE (the buffer's ceiling), EML_ERR_NOMEM.
 */
eml_err eml_cpio_dir(struct eml_cpio *c, const char *name, uint32_t mode) EML_MUST_USE;
eml_err eml_cpio_file(struct eml_cpio *c, const char *name, uint32_t mode, const uint8_t *p,
    size_t n) EML_MUST_USE;
eml_err eml_cpio_char(struct eml_cpio *c, const char *name, uint32_t mode, uint32_t major,
    uint32_t minor) EML_MUST_USE;
/* The TRAILER!!! entry; nothing may be added after it. */
eml_err eml_cpio_end(struct eml_cpio *c) EML_MUST_USE;

#endif
