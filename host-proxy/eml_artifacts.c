/* Blob signature state in the weight store (eml_artifacts.h). */
#include "eml_artifacts.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "model/eml_sig_file.h"

_Static_assert(EML_SIG_KEY_ID_LEN == 32, "key id length");

const char *
eml_artifact_sig_name(enum eml_artifact_sig st)
{
	switch (st) {
	case EML_ARTIFACT_SIGNED:
		return "signed";
	case EML_ARTIFACT_BAD:
		return "bad";
	case EML_ARTIFACT_UNSIGNED:
	default:
		return "unsigned";
	}
}

static bool
is_hex_id(const char *p, size_t n)
{
	if (n != 64)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f') ||
		    (p[i] >= 'A' && p[i] <= 'F')))
			return false;
	}
	return true;
}

eml_err
eml_signers_parse(const uint8_t *p, size_t n, struct eml_signers *out)
{
	struct eml_cur c = eml_cur_make(p, n);
	unsigned line = 0;

	EML_ENSURE(out != NULL && (p != NULL || n == 0), EML_ERR_NULL);
	memset(out, 0, sizeof(*out));
	while (c.left > 0) {
		const char *s = (const char *)c.p;
		const uint8_t *nl = memchr(c.p, '\n', c.left);
		size_t len = nl != NULL ? (size_t)(nl - c.p) : c.left;
		char hex[65];

		line++;
		EML_GUARD(eml_cur_skip(&c, nl != NULL ? len + 1 : len));
		while (len > 0 && (s[len - 1] == '\r' || s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		if (len == 0 || s[0] == '#')
			continue;
		if (len > 7 && memcmp(s, "key id ", 7) == 0) {
			s += 7;
			len -= 7;
		}
		if (!is_hex_id(s, len) || out->n == EML_SIGNERS_MAX) {
			eml_err_set_detail("signers line %u: %s", line, out->n == EML_SIGNERS_MAX ?
			    "more than 256 signers" : "not a 64-hex key id (eml keys id PUB.pem)");
			memset(out, 0, sizeof(*out));
			EML_BAIL(EML_ERR_CONFIG);
		}
		memcpy(hex, s, 64);
		hex[64] = '\0';
		for (size_t i = 0; i < 64; i++)
			hex[i] = (char)(hex[i] >= 'A' && hex[i] <= 'F' ? hex[i] - 'A' + 'a' : hex[i]);
		EML_GUARD(eml_hex_decode(out->ids[out->n], 32, hex));
		out->n++;
	}
	if (out->n == 0) {
		eml_err_set_detail("signers: no key id");
		EML_BAIL(EML_ERR_CONFIG);
	}
	return EML_OK;
}

eml_err
eml_signers_load(const char *path, struct eml_signers *out)
{
	uint8_t *data = NULL;
	size_t len = 0;
	eml_err rc;

	EML_ENSURE(path != NULL && out != NULL, EML_ERR_NULL);
	rc = eml_file_read(path, EML_SIGNERS_FILE_MAX, 0, &data, &len);
	if (rc == EML_OK)
		rc = eml_signers_parse(data, len, out);
	eml_file_free(data, len, 0);
	return rc;
}

static void
sig_name(const uint8_t id[EML_STORE_ID_LEN], char name[EML_STORE_ID_HEX_LEN + 5])
{
	eml_hex_encode(name, id, EML_STORE_ID_LEN);
	memcpy(name + EML_STORE_ID_HEX_LEN, ".sig", 5);
}

/* Read "<id>.sig" from the store: a regular file (no symlink followed) of
 * at most EML_ARTIFACT_SIG_MAX bytes. 1 read, 0 absent, -1 bad. */
static int
read_sig(const struct eml_store *s, const uint8_t id[EML_STORE_ID_LEN], uint8_t *buf,
    size_t *len)
{
	char name[EML_STORE_ID_HEX_LEN + 5];
	struct stat st;
	size_t got = 0;
	int fd;

	sig_name(id, name);
	fd = openat(s->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_size <= 0 ||
	    (uint64_t)st.st_size > EML_ARTIFACT_SIG_MAX) {
		(void)close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size) {
		ssize_t r = read(fd, buf + got, (size_t)st.st_size - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	(void)close(fd);
	if (got != (size_t)st.st_size)
		return -1;
	*len = got;
	return 1;
}

enum eml_artifact_sig
eml_artifact_sig_state(const struct eml_store *s, const uint8_t id[EML_STORE_ID_LEN],
    const struct eml_signers *signers, uint8_t key_id[32], bool *has_key)
{
	uint8_t buf[EML_ARTIFACT_SIG_MAX];
	struct eml_sig sig;
	size_t len = 0;
	int r;

	*has_key = false;
	if (s == NULL || s->dirfd < 0 || id == NULL)
		return EML_ARTIFACT_UNSIGNED;
	r = read_sig(s, id, buf, &len);
	if (r == 0)
		return EML_ARTIFACT_UNSIGNED;
	if (r < 0 || eml_sig_parse(buf, len, &sig) != EML_OK) {
		eml_err_clear_detail();
		return EML_ARTIFACT_BAD;
	}
	memcpy(key_id, sig.key_id, 32);
	*has_key = true;
	if (signers == NULL)
		return EML_ARTIFACT_SIGNED;
	for (size_t i = 0; i < signers->n; i++) {
		if (memcmp(signers->ids[i], sig.key_id, 32) == 0)
			return EML_ARTIFACT_SIGNED;
	}
	return EML_ARTIFACT_BAD;
}

eml_err
eml_artifact_put_sig(const struct eml_store *s, const uint8_t id[EML_STORE_ID_LEN],
    const char *sig_path)
{
	eml_err rc = EML_ERR_INTERNAL;
	char name[EML_STORE_ID_HEX_LEN + 5], tmp[EML_STORE_ID_HEX_LEN + 16];
	uint8_t *data = NULL;
	size_t len = 0, off = 0;
	struct eml_sig sig;
	int fd = -1;
	bool made = false;

	EML_ENSURE(s != NULL && id != NULL && sig_path != NULL && s->dirfd >= 0, EML_ERR_NULL);
	if ((rc = eml_file_read(sig_path, EML_ARTIFACT_SIG_MAX, EML_FILE_NONEMPTY, &data,
	    &len)) != EML_OK)
		goto out;
	if ((rc = eml_sig_parse(data, len, &sig)) != EML_OK)
		goto out;
	sig_name(id, name);
	(void)snprintf(tmp, sizeof(tmp), ".%.64s.tmp", name);
	fd = openat(s->dirfd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0) {
		eml_err_set_detail("weight store: %s: %s", tmp, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	made = true;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			eml_err_set_detail("weight store: write %s: %s", tmp, strerror(errno));
			EML_FAIL(rc, EML_ERR_FILE);
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		eml_err_set_detail("weight store: %s: %s", tmp, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	(void)close(fd);
	fd = -1;
	if (renameat(s->dirfd, tmp, s->dirfd, name) != 0) {
		eml_err_set_detail("weight store: %s: %s", name, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	made = false; /* renamed into place */
	rc = EML_OK;
out:
	if (fd >= 0)
		(void)close(fd);
	if (made)
		(void)unlinkat(s->dirfd, tmp, 0);
	eml_file_free(data, len, 0);
	return rc;
}
