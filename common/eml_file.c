#include "eml_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

/* "-": standard input, read to its end into out (whose ceiling holds);
 * more than max bytes is EML_ERR_FILE_TOO_LARGE. */
static eml_err
read_stdin(size_t max, unsigned flags, struct eml_buf *out)
{
	uint8_t chunk[16384];
	size_t before = out->len, got = 0;
	eml_err rc = EML_OK;

	for (;;) {
		ssize_t r = read(0, chunk, sizeof(chunk));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			eml_err_set_detail("standard input: %s", strerror(errno));
			rc = EML_ERR_FILE;
			break;
		}
		if (r == 0)
			break;
		if ((size_t)r > max - got) {
			eml_err_set_detail("standard input: more than %zu bytes", max);
			rc = EML_ERR_FILE_TOO_LARGE;
			break;
		}
		got += (size_t)r;
		if ((rc = eml_buf_append(out, chunk, (size_t)r)) != EML_OK)
			break;
	}
	eml_wipe(chunk, sizeof(chunk));
	if (rc == EML_OK && got == 0 && (flags & EML_FILE_NONEMPTY) != 0) {
		eml_err_set_detail("standard input: empty");
		rc = EML_ERR_FILE;
	}
	if (rc != EML_OK) {
		eml_wipe(out->data + before, out->len - before);
		out->len = before;
	}
	return rc;
}

static eml_err
read_stdin_whole(size_t max, unsigned flags, uint8_t **data, size_t *len)
{
	struct eml_buf b;
	uint8_t *p;
	eml_err rc;

	if ((flags & EML_FILE_SECRET) != 0)
		eml_buf_init_secure(&b, max);
	else
		eml_buf_init(&b, max);
	rc = read_stdin(max, flags, &b);
	p = rc != EML_OK                     ? NULL
	    : (flags & EML_FILE_SECRET) != 0 ? eml_secure_alloc(b.len + 1)
					     : eml_alloc(b.len + 1);
	if (rc == EML_OK && p == NULL)
		rc = EML_ERR_NOMEM;
	if (rc == EML_OK) {
		if (b.len > 0)
			EML_MEMCPY(p, b.data, b.len);
		p[b.len] = 0;
		*data = p;
		*len = b.len;
	}
	eml_buf_free(&b);
	return rc;
}

eml_err
eml_file_read(const char *path, size_t max, unsigned flags, uint8_t **data, size_t *len)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t *buf = NULL;
	size_t n = 0;
	int fd = -1;

	EML_ENSURE(data != NULL && len != NULL, EML_ERR_NULL);
	if (path != NULL && strcmp(path, "-") == 0)
		return read_stdin_whole(max, flags, data, len);
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
	if (path != NULL && strcmp(path, "-") == 0)
		return read_stdin(max, flags, out);
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

/* The directory part of path ("." when none) into dst. */
static eml_err
dir_of(const char *path, char *dst, size_t n)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL) {
		EML_ENSURE(n >= 2, EML_ERR_OVERFLOW);
		dst[0] = '.';
		dst[1] = '\0';
		return EML_OK;
	}
	len = slash == path ? 1 : (size_t)(slash - path);
	EML_ENSURE(len < n, EML_ERR_OVERFLOW);
	EML_MEMCPY(dst, path, len);
	dst[len] = '\0';
	return EML_OK;
}

eml_err
eml_file_check_new(const char *path, unsigned flags)
{
	char dir[4096];
	struct stat st;

	EML_ENSURE(path != NULL, EML_ERR_NULL);
	if ((flags & EML_FILE_REPLACE) == 0 && lstat(path, &st) == 0) {
		eml_err_set_detail("%s", path);
		EML_BAIL(EML_ERR_FILE_EXISTS);
	}
	if (dir_of(path, dir, sizeof(dir)) != EML_OK) {
		eml_err_set_detail("%s: path too long", path);
		EML_BAIL(EML_ERR_FILE);
	}
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || access(dir, W_OK | X_OK) != 0) {
		eml_err_set_detail("%s: directory %s is missing or not writable", path, dir);
		EML_BAIL(EML_ERR_FILE);
	}
	return EML_OK;
}

eml_err
eml_file_out_open(struct eml_file_out *o, const char *path, unsigned mode, unsigned flags)
{
	int n;

	EML_ENSURE(o != NULL && path != NULL, EML_ERR_NULL);
	o->fd = -1;
	o->tmp[0] = '\0';
	o->mode = mode;
	o->flags = flags;
	n = snprintf(o->path, sizeof(o->path), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(o->path)) {
		eml_err_set_detail("path too long");
		EML_BAIL(EML_ERR_FILE);
	}
	EML_GUARD(eml_file_check_new(path, flags));
	(void)snprintf(o->tmp, sizeof(o->tmp), "%s.tmp-XXXXXX", path);
	/* mkostemp: O_EXCL, mode 0600 until the commit sets the real one. */
	o->fd = mkostemp(o->tmp, O_CLOEXEC);
	if (o->fd < 0) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		o->tmp[0] = '\0';
		EML_BAIL(EML_ERR_FILE);
	}
	return EML_OK;
}

eml_err
eml_file_out_write(struct eml_file_out *o, const void *p, size_t n)
{
	const uint8_t *q = p;

	EML_ENSURE(o != NULL && o->fd >= 0 && (p != NULL || n == 0), EML_ERR_NULL);
	while (n > 0) {
		ssize_t k = write(o->fd, q, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			eml_err_set_detail(
			    "%s: %s", o->path, k < 0 ? strerror(errno) : "short write");
			EML_BAIL(EML_ERR_FILE);
		}
		q += k;
		n -= (size_t)k;
	}
	return EML_OK;
}

void
eml_file_out_abort(struct eml_file_out *o)
{
	if (o == NULL)
		return;
	if (o->fd >= 0)
		(void)close(o->fd);
	o->fd = -1;
	if (o->tmp[0] != '\0')
		(void)unlink(o->tmp);
	o->tmp[0] = '\0';
}

/* fsync the directory holding path, so the new name survives a crash. */
static void
sync_dir(const char *path)
{
	char dir[4096];
	int fd;

	if (dir_of(path, dir, sizeof(dir)) != EML_OK)
		return;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	(void)fsync(fd);
	(void)close(fd);
}

eml_err
eml_file_out_commit(struct eml_file_out *o)
{
	eml_err rc = EML_ERR_INTERNAL;
	const char *step = NULL;
	int fd;

	EML_ENSURE(o != NULL && o->fd >= 0, EML_ERR_NULL);
	fd = o->fd;
	o->fd = -1;
	if (fchmod(fd, (mode_t)o->mode) != 0)
		step = "chmod";
	else if (fsync(fd) != 0)
		step = "fsync";
	if (close(fd) != 0 && step == NULL)
		step = "close";
	if (step != NULL) {
		eml_err_set_detail("%s: %s: %s", o->path, step, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	if ((o->flags & EML_FILE_REPLACE) != 0) {
		if (rename(o->tmp, o->path) != 0) {
			eml_err_set_detail("%s: rename: %s", o->path, strerror(errno));
			EML_FAIL(rc, EML_ERR_FILE);
		}
		o->tmp[0] = '\0'; /* renamed: nothing to remove */
	} else if (link(o->tmp, o->path) != 0) {
		/* link never replaces: the check in open and this one cannot
		 * race into overwriting a file created in between. */
		if (errno == EEXIST) {
			eml_err_set_detail("%s", o->path);
			EML_FAIL(rc, EML_ERR_FILE_EXISTS);
		}
		eml_err_set_detail("%s: link: %s", o->path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	sync_dir(o->path);
	rc = EML_OK;
out:
	eml_file_out_abort(o);
	return rc;
}

eml_err
eml_file_write(const char *path, const void *p, size_t n, unsigned mode, unsigned flags)
{
	struct eml_file_out o;
	eml_err rc;

	EML_GUARD(eml_file_out_open(&o, path, mode, flags));
	rc = eml_file_out_write(&o, p, n);
	if (rc == EML_OK)
		return eml_file_out_commit(&o);
	eml_file_out_abort(&o);
	return rc;
}
