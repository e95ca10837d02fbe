/* Deterministic newc cpio writer (eml_cpio.h). */
#include "eml_cpio.h"

#include <stdio.h>
#include <string.h>

#define S_DIR 0040000u
#define S_REG 0100000u
#define S_CHR 0020000u

void
eml_cpio_init(struct eml_cpio *c, struct eml_buf *out)
{
	c->out = out;
	c->ino = 0;
}

static eml_err
check_name(const char *name)
{
	size_t n = name == NULL ? 0 : strlen(name);
	const char *p = name;

	if (n == 0 || n > EML_CPIO_NAME_MAX || name[0] == '/')
		goto bad;
	while (*p != '\0') {
		const char *e = strchr(p, '/');
		size_t k = e == NULL ? strlen(p) : (size_t)(e - p);

		if (k == 0 || (k == 1 && p[0] == '.') || (k == 2 && p[0] == '.' && p[1] == '.'))
			goto bad;
		p += k;
		if (*p == '/')
			p++;
		if (e != NULL && *p == '\0')
			goto bad; /* trailing slash */
	}
	return EML_OK;
bad:
	eml_err_set_detail("cpio name '%s': want a relative path without empty, . or .. parts",
	    name == NULL ? "" : name);
	EML_BAIL(EML_ERR_USAGE);
}

static eml_err
pad4(struct eml_cpio *c)
{
	while (c->out->len % 4 != 0)
		EML_GUARD(eml_buf_append_u8(c->out, 0));
	return EML_OK;
}

static eml_err
entry(struct eml_cpio *c, const char *name, uint32_t mode, uint32_t nlink, uint32_t rmaj,
    uint32_t rmin, const uint8_t *p, size_t n)
{
	char hdr[111];
	size_t namesize = strlen(name) + 1;
	uint32_t ino = 0;

	if (n > 0xffffffffu) {
		eml_err_set_detail("cpio: %s is above 4 GiB", name);
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	if (strcmp(name, "TRAILER!!!") != 0)
		ino = ++c->ino;
	/* Fields: magic, ino, mode, uid, gid, nlink, mtime, filesize,
	 * devmajor, devminor, rdevmajor, rdevminor, namesize, check. */
	(void)snprintf(hdr, sizeof(hdr),
	    "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", ino, mode, 0u, 0u,
	    nlink, 0u, (unsigned)n, 0u, 0u, rmaj, rmin, (unsigned)namesize, 0u);
	EML_GUARD(eml_buf_append(c->out, hdr, 110));
	EML_GUARD(eml_buf_append(c->out, name, namesize));
	EML_GUARD(pad4(c));
	EML_GUARD(eml_buf_append(c->out, p, n));
	return pad4(c);
}

eml_err
eml_cpio_dir(struct eml_cpio *c, const char *name, uint32_t mode)
{
	EML_GUARD(check_name(name));
	EML_ENSURE((mode & ~07777u) == 0, EML_ERR_USAGE);
	return entry(c, name, S_DIR | mode, 2, 0, 0, NULL, 0);
}

eml_err
eml_cpio_file(struct eml_cpio *c, const char *name, uint32_t mode, const uint8_t *p, size_t n)
{
	EML_GUARD(check_name(name));
	EML_ENSURE((mode & ~07777u) == 0, EML_ERR_USAGE);
	return entry(c, name, S_REG | mode, 1, 0, 0, p, n);
}

eml_err
eml_cpio_char(struct eml_cpio *c, const char *name, uint32_t mode, uint32_t major, uint32_t minor)
{
	EML_GUARD(check_name(name));
	EML_ENSURE((mode & ~07777u) == 0, EML_ERR_USAGE);
	return entry(c, name, S_CHR | mode, 1, major, minor, NULL, 0);
}

eml_err
eml_cpio_end(struct eml_cpio *c)
{
	return entry(c, "TRAILER!!!", 0, 1, 0, 0, NULL, 0);
}
