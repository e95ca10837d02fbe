#include "eml_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_mem.h"

/* Open path and size it: a regular file of at most max bytes (and at least
 * one with EML_FILE_NONEMPTY). */
static eml_err
open_sized(const char *path, size_t max, unsigned flags, int *fd_out, size_t *n_out)
{
	struct stat st;
	int fd;

	EML_ENSURE(path != NULL, EML_ERR_NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		(void)close(fd);
		eml_err_set_detail("%s: not a regular file", path);
		EML_BAIL(EML_ERR_FILE);
	}
	if (st.st_size < 0 || (uint64_t)st.st_size > (uint64_t)max) {
		(void)close(fd);
		eml_err_set_detail("%s: %lld bytes, limit %zu", path, (long long)st.st_size, max);
		EML_BAIL(EML_ERR_FILE_TOO_LARGE);
	}
	if (st.st_size == 0 && (flags & EML_FILE_NONEMPTY) != 0) {
		(void)close(fd);
		eml_err_set_detail("%s: empty file", path);
		EML_BAIL(EML_ERR_FILE);
	}
	*fd_out = fd;
	*n_out = (size_t)st.st_size;
	return EML_OK;
}

/* Exactly n bytes from fd into dst, then end of file. */
static eml_err
read_exact(int fd, const char *path, uint8_t *dst, size_t n)
{
	size_t got = 0;
	uint8_t extra;
	ssize_t r;

	while (got < n) {
		r = read(fd, dst + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			eml_err_set_detail("%s: short read", path);
			EML_BAIL(EML_ERR_FILE);
		}
		got += (size_t)r;
	}
	do
		r = read(fd, &extra, 1);
	while (r < 0 && errno == EINTR);
	if (r != 0) {
		eml_err_set_detail("%s: %s", path, r > 0 ? "grew while being read" : "read error");
		EML_BAIL(EML_ERR_FILE);
	}
	return EML_OK;
}

eml_err
eml_file_read(const char *path, size_t max, unsigned flags, uint8_t **data, size_t *len)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t *buf = NULL;
	size_t n = 0;
	int fd = -1;

	EML_ENSURE(data != NULL && len != NULL, EML_ERR_NULL);
	if ((rc = open_sized(path, max, flags, &fd, &n)) != EML_OK)
		goto out;
	buf = (flags & EML_FILE_SECRET) != 0 ? eml_secure_alloc(n + 1) : eml_alloc(n + 1);
	if (buf == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = read_exact(fd, path, buf, n)) != EML_OK)
		goto out;
	buf[n] = 0;
	*data = buf;
	buf = NULL; /* transferred */
	*len = n;
	rc = EML_OK;
out:
	eml_file_free(buf, n, flags);
	if (fd >= 0)
		(void)close(fd);
	return rc;
}

void
eml_file_free(uint8_t *data, size_t len, unsigned flags)
{
	if (data == NULL)
		return;
	if ((flags & EML_FILE_SECRET) != 0)
		eml_secure_free(data);
	else
		eml_free_wipe(data, len + 1);
}

eml_err
eml_file_read_buf(const char *path, size_t max, unsigned flags, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t *w = NULL;
	size_t before = 0, n = 0;
	int fd = -1;

	EML_ENSURE(out != NULL, EML_ERR_NULL);
	before = out->len;
	if ((rc = open_sized(path, max, flags & ~EML_FILE_SECRET, &fd, &n)) != EML_OK)
		goto out;
	if ((rc = eml_buf_extend(out, n, &w)) != EML_OK)
		goto out;
	if ((rc = read_exact(fd, path, w, n)) != EML_OK) {
		eml_wipe(w, n);
		out->len = before;
		goto out;
	}
	rc = EML_OK;
out:
	if (fd >= 0)
		(void)close(fd);
	return rc;
}
