#include "eml_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_mem.h"

#define COPY_CHUNK (64u * 1024u)

eml_err
eml_store_open(struct eml_store *s, const char *dir)
{
	struct stat st;
	int fd;

	EML_ENSURE(s != NULL && dir != NULL, EML_ERR_NULL);
	s->dirfd = -1;
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		eml_err_set_detail("weight store %s: %s", dir, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	if (fstat(fd, &st) != 0 || !S_ISDIR(st.st_mode)) {
		(void)close(fd);
		eml_err_set_detail("weight store %s: not a directory", dir);
		EML_BAIL(EML_ERR_FILE);
	}
	s->dirfd = fd;
	return EML_OK;
}

void
eml_store_close(struct eml_store *s)
{
	if (s != NULL && s->dirfd >= 0) {
		(void)close(s->dirfd);
		s->dirfd = -1;
	}
}

static void
id_name(char name[EML_STORE_ID_HEX_LEN + 1], const uint8_t id[EML_STORE_ID_LEN])
{
	eml_hex_encode(name, id, EML_STORE_ID_LEN);
}

static eml_err
write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			eml_err_set_detail("weight store write: %s", strerror(errno));
			EML_BAIL(EML_ERR_FILE);
		}
		p += (size_t)w;
		n -= (size_t)w;
	}
	return EML_OK;
}

/* Copy fd into tmpfd, hashing on the way. */
static eml_err
copy_hash(int fd, int tmpfd, uint8_t id[EML_STORE_ID_LEN])
{
	eml_err rc = EML_ERR_INTERNAL;
	crypto_hash_sha256_state st;
	uint8_t *chunk = eml_alloc(COPY_CHUNK);

	if (chunk == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	crypto_hash_sha256_init(&st);
	for (;;) {
		ssize_t r = read(fd, chunk, COPY_CHUNK);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			eml_err_set_detail("blob put read: %s", strerror(errno));
			EML_FAIL(rc, EML_ERR_FILE);
		}
		if (r == 0)
			break;
		crypto_hash_sha256_update(&st, chunk, (unsigned long long)r);
		rc = write_all(tmpfd, chunk, (size_t)r);
		if (rc != EML_OK)
			goto out;
	}
	crypto_hash_sha256_final(&st, id);
	rc = EML_OK;
out:
	/* Sealed blobs are ciphertext: no wipe needed. */
	eml_free(chunk);
	return rc;
}

eml_err
eml_store_put_fd(struct eml_store *s, int fd, uint8_t id[EML_STORE_ID_LEN])
{
	eml_err rc = EML_ERR_INTERNAL;
	char tmpname[64];
	char name[EML_STORE_ID_HEX_LEN + 1];
	uint8_t rnd[8];
	char rndhex[2 * sizeof(rnd) + 1];
	int tmpfd = -1;
	bool have_tmp = false;

	if (s == NULL || id == NULL || s->dirfd < 0)
		EML_FAIL(rc, EML_ERR_NULL);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		EML_FAIL(rc, EML_ERR_CRYPTO_RANDOM);
	eml_hex_encode(rndhex, rnd, sizeof(rnd));
	(void)snprintf(tmpname, sizeof(tmpname), ".tmp-%s", rndhex);
	tmpfd = openat(s->dirfd, tmpname, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW,
	    0644);
	if (tmpfd < 0) {
		eml_err_set_detail("weight store: cannot create a file: %s", strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	have_tmp = true;
	rc = copy_hash(fd, tmpfd, id);
	if (rc != EML_OK)
		goto out;
	if (fsync(tmpfd) != 0) {
		eml_err_set_detail("weight store fsync: %s", strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	id_name(name, id);
	/* linkat never replaces: when the name exists the content is already
	 * there (same name, same hash), which makes put idempotent without a
	 * check-then-act race. */
	if (linkat(s->dirfd, tmpname, s->dirfd, name, 0) != 0 && errno != EEXIST) {
		eml_err_set_detail("weight store link: %s", strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	if (fsync(s->dirfd) != 0) {
		eml_err_set_detail("weight store fsync dir: %s", strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	rc = EML_OK;
out:
	if (tmpfd >= 0)
		(void)close(tmpfd);
	if (have_tmp)
		(void)unlinkat(s->dirfd, tmpname, 0);
	return rc;
}

eml_err
eml_store_put_file(struct eml_store *s, const char *path, uint8_t id[EML_STORE_ID_LEN])
{
	eml_err rc = EML_ERR_INTERNAL;
	struct stat st;
	int fd = -1;

	if (s == NULL || path == NULL || id == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		eml_err_set_detail("%s: not a regular file", path);
		EML_FAIL(rc, EML_ERR_FILE);
	}
	rc = eml_store_put_fd(s, fd, id);
out:
	if (fd >= 0)
		(void)close(fd);
	return rc;
}

eml_err
eml_store_blob_open(const struct eml_store *s, const uint8_t id[EML_STORE_ID_LEN],
    struct eml_blob *b)
{
	char name[EML_STORE_ID_HEX_LEN + 1];
	struct stat st;
	int fd;

	EML_ENSURE(s != NULL && id != NULL && b != NULL, EML_ERR_NULL);
	b->fd = -1;
	b->size = 0;
	EML_ENSURE(s->dirfd >= 0, EML_ERR_NULL);
	id_name(name, id);
	/* The name is built from 32 bytes as hex, so it can never contain a
	 * slash or "..": a content id cannot escape the store. O_NOFOLLOW
	 * keeps a planted symlink from pointing us elsewhere. */
	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT || errno == ELOOP) {
			eml_err_set_detail("blob %.16s... not in the store", name);
			EML_BAIL(EML_ERR_BLOB_UNKNOWN);
		}
		eml_err_set_detail("blob %.16s...: %s", name, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size < 0) {
		(void)close(fd);
		eml_err_set_detail("blob %.16s... is not a regular file", name);
		EML_BAIL(EML_ERR_BLOB_UNKNOWN);
	}
	b->fd = fd;
	b->size = (uint64_t)st.st_size;
	return EML_OK;
}

void
eml_store_blob_close(struct eml_blob *b)
{
	if (b != NULL && b->fd >= 0) {
		(void)close(b->fd);
		b->fd = -1;
	}
}

eml_err
eml_store_check_range(uint64_t size, uint64_t off, uint64_t len)
{
	if (len == 0 || len > EML_STORE_RANGE_MAX) {
		eml_err_set_detail("range length %llu not in 1..%u", (unsigned long long)len,
		    EML_STORE_RANGE_MAX);
		EML_BAIL(EML_ERR_BLOB_RANGE);
	}
	/* Written so that nothing can overflow: off <= size first, then the
	 * length against what is left. */
	if (off > size || len > size - off) {
		eml_err_set_detail("range [%llu, +%llu) outside a blob of %llu bytes",
		    (unsigned long long)off, (unsigned long long)len, (unsigned long long)size);
		EML_BAIL(EML_ERR_BLOB_RANGE);
	}
	return EML_OK;
}

eml_err
eml_store_blob_pread(const struct eml_blob *b, uint64_t off, void *dst, size_t n)
{
	uint8_t *p = dst;

	EML_ENSURE(b != NULL && b->fd >= 0 && (dst != NULL || n == 0), EML_ERR_NULL);
	EML_ENSURE(off <= (uint64_t)INT64_MAX - n, EML_ERR_OVERFLOW);
	while (n > 0) {
		ssize_t r = pread(b->fd, p, n, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			eml_err_set_detail("blob read: %s", strerror(errno));
			EML_BAIL(EML_ERR_FILE);
		}
		if (r == 0) {
			eml_err_set_detail("blob shrank while being served");
			EML_BAIL(EML_ERR_FILE);
		}
		p += (size_t)r;
		n -= (size_t)r;
		off += (uint64_t)r;
	}
	return EML_OK;
}

eml_err
eml_store_blob_send(const struct eml_blob *b, int sock, uint64_t off, size_t n, size_t *sent)
{
	off_t o;
	ssize_t r;

	EML_ENSURE(sent != NULL, EML_ERR_NULL);
	*sent = 0;
	EML_ENSURE(b != NULL && b->fd >= 0 && sock >= 0, EML_ERR_NULL);
	EML_ENSURE(off <= (uint64_t)INT64_MAX - n, EML_ERR_OVERFLOW);
	if (n == 0)
		return EML_OK;
	o = (off_t)off;
	r = sendfile(sock, b->fd, &o, n);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return EML_OK;
		if (errno == EPIPE || errno == ECONNRESET)
			return EML_ERR_IO_EOF;
		if (errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP)
			return EML_ERR_UNSUPPORTED; /* not an error: the caller reads */
		eml_err_set_detail("blob send: %s", strerror(errno));
		EML_BAIL(EML_ERR_IO);
	}
	if (r == 0) {
		eml_err_set_detail("blob shrank while being served");
		EML_BAIL(EML_ERR_FILE);
	}
	*sent = (size_t)r;
	return EML_OK;
}

eml_err
eml_store_read_range(const struct eml_store *s, const uint8_t id[EML_STORE_ID_LEN],
    uint64_t off, uint64_t len, void *dst, size_t cap, uint64_t *total)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_blob b = { -1, 0 };

	rc = eml_store_blob_open(s, id, &b);
	if (rc != EML_OK)
		goto out;
	if (total != NULL)
		*total = b.size;
	rc = eml_store_check_range(b.size, off, len);
	if (rc != EML_OK)
		goto out;
	if (len > cap) {
		eml_err_set_detail("range of %llu bytes does not fit a %zu-byte buffer",
		    (unsigned long long)len, cap);
		EML_FAIL(rc, EML_ERR_BLOB_RANGE);
	}
	rc = eml_store_blob_pread(&b, off, dst, (size_t)len);
out:
	eml_store_blob_close(&b);
	return rc;
}

static bool
hex_name(const char *n)
{
	size_t i;

	for (i = 0; n[i] != '\0'; i++)
		if (i == EML_STORE_ID_HEX_LEN ||
		    !((n[i] >= '0' && n[i] <= '9') || (n[i] >= 'a' && n[i] <= 'f')))
			return false;
	return i == EML_STORE_ID_HEX_LEN;
}

eml_err
eml_store_list(const struct eml_store *s, size_t max,
    eml_err (*fn)(void *arg, const struct eml_store_entry *e), void *arg, size_t *n)
{
	eml_err rc = EML_OK;
	DIR *d;
	struct dirent *de;
	int fd;

	EML_ENSURE(s != NULL && fn != NULL && n != NULL && s->dirfd >= 0, EML_ERR_NULL);
	*n = 0;
	/* a descriptor of our own: closedir closes it */
	fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		eml_err_set_detail("weight store: %s", strerror(errno));
		if (fd >= 0)
			(void)close(fd);
		EML_BAIL(EML_ERR_FILE);
	}
	while (*n < max && (de = readdir(d)) != NULL) {
		struct eml_store_entry e;
		struct eml_blob b;

		if (!hex_name(de->d_name))
			continue;
		memset(&e, 0, sizeof(e));
		if (eml_hex_decode(e.id, sizeof(e.id), de->d_name) != EML_OK) {
			eml_err_clear_detail();
			continue;
		}
		if (eml_store_blob_open(s, e.id, &b) == EML_OK) {
			e.available = true;
			e.size = b.size;
			eml_store_blob_close(&b);
		} else {
			eml_err_clear_detail();
		}
		(*n)++;
		if ((rc = fn(arg, &e)) != EML_OK)
			break;
	}
	(void)closedir(d);
	return rc;
}

/* What a file that is not a sealed blob most likely is, for the message:
 * the two mistakes that matter are the secret topology key, which sits
 * right beside weights.sealed, and the plaintext model it came from. */
static const char *
not_sealed_hint(const char *path, const uint8_t *p, size_t n)
{
	size_t len = strlen(path);

	if (len >= 5 && strcmp(path + len - 5, ".topo") == 0)
		return "it is a topology key, the secret that opens the blob: it stays with "
		       "the client and must never reach the host";
	if (len >= 5 && strcmp(path + len - 5, ".onnx") == 0)
		return "it is a plaintext ONNX model: split it with `eml model split` and put "
		       "the weights.sealed it writes";
	/* A protobuf message starts with a field tag: field 1..15, wire type
	 * 0 (varint) or 2 (bytes). Both ONNX models and topology keys do. */
	if (n > 0 && (p[0] >> 3) >= 1 && (p[0] >> 3) <= 15 && ((p[0] & 7) == 0 || (p[0] & 7) == 2))
		return "it looks like a protobuf file: a topology key (the secret that opens "
		       "the blob) or a plaintext ONNX model, neither of which may reach the host";
	return "only the weights.sealed that `eml model split` writes is accepted";
}

/* The public header of a sealed blob and the file size it implies. */
static eml_err
check_sealed(int fd, const char *path)
{
	static const uint8_t magic[8] = { 'E', 'M', 'L', 'B', 'L', 'O', 'B', 0 };
	uint8_t h[48];
	struct eml_cur c;
	uint8_t m[8];
	uint16_t version = 0, cipher = 0;
	uint32_t chunk = 0;
	uint64_t count = 0, plain = 0, want = 0, tags = 0;
	struct stat st;
	ssize_t r;

	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		eml_err_set_detail("%s: not a regular file", path);
		EML_BAIL(EML_ERR_FILE);
	}
	do
		r = pread(fd, h, sizeof(h), 0);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	c = eml_cur_make(h, (size_t)r);
	if ((size_t)r < sizeof(h) || eml_cur_read_bytes(&c, m, sizeof(m)) != EML_OK ||
	    sodium_memcmp(m, magic, sizeof(m)) != 0) {
		eml_err_set_detail("%s is not a sealed blob (no EMLBLOB header): %s", path,
		    not_sealed_hint(path, h, r > 0 ? (size_t)r : 0));
		EML_BAIL(EML_ERR_BLOB_HEADER);
	}
	EML_GUARD(eml_cur_read_u16be(&c, &version));
	EML_GUARD(eml_cur_read_u16be(&c, &cipher));
	EML_GUARD(eml_cur_read_u32be(&c, &chunk));
	EML_GUARD(eml_cur_read_u64be(&c, &count));
	EML_GUARD(eml_cur_read_u64be(&c, &plain));
	if (version != 1 || cipher != 1 || chunk < 64 || chunk > (64u << 20) || chunk % 64 != 0 ||
	    plain > (1ULL << 36) || count != (plain == 0 ? 1 : (plain + chunk - 1) / chunk)) {
		eml_err_set_detail("%s: sealed blob header has unknown version, cipher or "
				   "inconsistent sizes",
		    path);
		EML_BAIL(EML_ERR_BLOB_HEADER);
	}
	/* plain <= 2^36 and count <= 2^30: no overflow. */
	tags = count * 16u;
	want = 48u + plain + tags;
	if ((uint64_t)st.st_size != want) {
		eml_err_set_detail("%s: %lld bytes, its header says %llu (cut or extended)", path,
		    (long long)st.st_size, (unsigned long long)want);
		EML_BAIL(EML_ERR_BLOB_HEADER);
	}
	return EML_OK;
}

eml_err
eml_store_put_sealed(struct eml_store *s, const char *path, uint8_t id[EML_STORE_ID_LEN])
{
	eml_err rc = EML_ERR_INTERNAL;
	int fd = -1;

	if (s == NULL || path == NULL || id == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		eml_err_set_detail("%s: %s", path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	/* Checked on the descriptor that is then copied: no swap in between. */
	if ((rc = check_sealed(fd, path)) != EML_OK)
		goto out;
	rc = eml_store_put_fd(s, fd, id);
out:
	if (fd >= 0)
		(void)close(fd);
	return rc;
}
