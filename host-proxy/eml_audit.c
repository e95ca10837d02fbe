#include "eml_audit.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <math.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_fault.h"
#include "eml_io.h"
#include "eml_mem.h"

/* A line under construction in caller memory; `over` latches when it would
 * not fit, so the encoder needs no error check per call. */
struct w {
	char *p;
	size_t cap;
	size_t len;
	bool over;
};

static void
w_raw(struct w *w, const char *s, size_t n)
{
	if (w->over || n > w->cap - w->len) {
		w->over = true;
		return;
	}
	EML_MEMCPY(w->p + w->len, s, n);
	w->len += n;
}

static void
w_str(struct w *w, const char *s)
{
	w_raw(w, s, strlen(s));
}

static void
w_fmt(struct w *w, const char *fmt, ...) EML_PRINTF(2, 3);

static void
w_fmt(struct w *w, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int k;

	va_start(ap, fmt);
	k = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= sizeof(tmp)) {
		w->over = true;
		return;
	}
	w_raw(w, tmp, (size_t)k);
}

/* A JSON string in plain ASCII: quotes, backslashes, control characters and
 * every byte >= 0x7f are escaped, so a line never holds a raw newline and
 * an odd byte in an address cannot corrupt the log. */
static void
w_jstr(struct w *w, const char *s)
{
	w_raw(w, "\"", 1);
	for (const unsigned char *c = (const unsigned char *)s; *c != '\0'; c++) {
		char e[6];

		w_raw(w, e, eml_json_escape_byte(*c, e));
	}
	w_raw(w, "\"", 1);
}

static void
w_key(struct w *w, const char *k)
{
	w_raw(w, ",", 1);
	w_jstr(w, k);
	w_raw(w, ":", 1);
}

static void
w_field(struct w *w, const struct eml_log_field *f)
{
	w_key(w, f->key != NULL ? f->key : "?");
	switch (f->type) {
	case EML_LOG_F_STR:
		if (f->v.s == NULL)
			w_str(w, "null");
		else
			w_jstr(w, f->v.s);
		break;
	case EML_LOG_F_I64:
		w_fmt(w, "%" PRId64, f->v.i);
		break;
	case EML_LOG_F_U64:
		w_fmt(w, "%" PRIu64, f->v.u);
		break;
	case EML_LOG_F_BOOL:
		w_str(w, f->v.b ? "true" : "false");
		break;
	case EML_LOG_F_F64:
		if (isfinite(f->v.d))
			w_fmt(w, "%.3f", f->v.d);
		else
			w_str(w, "null");
		break;
	case EML_LOG_F_ERR: {
		char k[64];

		w_fmt(w, "%d", (int)f->v.e);
		(void)snprintf(k, sizeof(k), "%s_name", f->key != NULL ? f->key : "err");
		w_key(w, k);
		w_jstr(w, eml_err_name(f->v.e));
		break;
	}
	default:
		w_str(w, "null");
		break;
	}
}

eml_err
eml_audit_format(char *out, size_t cap, size_t *len, uint64_t seq, const char *ts,
    const char *kind, const struct eml_cid *cid, const struct eml_log_field *fields,
    size_t nfields, const uint8_t prev[EML_AUDIT_HASH_LEN])
{
	struct w w = { out, cap, 0, false };
	char hex[2 * EML_AUDIT_HASH_LEN + 1];

	EML_ENSURE(out != NULL && len != NULL && ts != NULL && kind != NULL && prev != NULL,
	    EML_ERR_NULL);
	EML_ENSURE(fields != NULL || nfields == 0, EML_ERR_NULL);
	w_fmt(&w, "{\"seq\":%" PRIu64, seq);
	w_key(&w, "ts");
	w_jstr(&w, ts);
	w_key(&w, "kind");
	w_jstr(&w, kind);
	if (cid != NULL) {
		char c[2 * sizeof(cid->b) + 1];

		eml_hex_encode(c, cid->b, sizeof(cid->b));
		w_key(&w, "cid");
		w_jstr(&w, c);
	}
	for (size_t i = 0; i < nfields; i++)
		w_field(&w, &fields[i]);
	eml_hex_encode(hex, prev, EML_AUDIT_HASH_LEN);
#ifdef EML_FAULT_INJECTION
	if (EML_FAULT("audit_no_chain"))
		memset(hex, '0', 2 * EML_AUDIT_HASH_LEN); /* property 13's fault: no chain */
#endif
	w_key(&w, "prev");
	w_jstr(&w, hex);
	w_raw(&w, "}", 1);
	EML_ENSURE(!w.over, EML_ERR_PROTO_TOO_LARGE);
	*len = w.len;
	return EML_OK;
}

static void
now_rfc3339(char out[80])
{
	struct timespec ts;
	struct tm tm;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)snprintf(out, 80, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
	    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

/* Parse one line's "seq" and "prev", and its "kind" into kind (cap bytes,
 * "" when absent) when kind is not NULL. */
static eml_err
line_fields_kind(const uint8_t *line, size_t n, uint64_t *seq, uint8_t prev[EML_AUDIT_HASH_LEN],
    char *kind, size_t cap)
{
	eml_err rc = EML_ERR_INTERNAL;
	json_error_t jerr;
	json_t *o = NULL, *js, *jp;
	const char *ph;

	o = json_loadb((const char *)line, n, JSON_REJECT_DUPLICATES, &jerr);
	if (o == NULL || !json_is_object(o)) {
		eml_err_set_detail("not a JSON object");
		EML_FAIL(rc, EML_ERR_AUDIT_FORMAT);
	}
	js = json_object_get(o, "seq");
	jp = json_object_get(o, "prev");
	if (!json_is_integer(js) || json_integer_value(js) < 1) {
		eml_err_set_detail("no positive integer \"seq\"");
		EML_FAIL(rc, EML_ERR_AUDIT_FORMAT);
	}
	ph = json_string_value(jp);
	if (ph == NULL || eml_hex_decode(prev, EML_AUDIT_HASH_LEN, ph) != EML_OK) {
		eml_err_set_detail("no 64-hex-digit \"prev\"");
		EML_FAIL(rc, EML_ERR_AUDIT_FORMAT);
	}
	*seq = (uint64_t)json_integer_value(js);
	if (kind != NULL) {
		const char *k = json_string_value(json_object_get(o, "kind"));

		(void)snprintf(kind, cap, "%s", k != NULL ? k : "");
	}
	rc = EML_OK;
out:
	json_decref(o);
	return rc;
}

static eml_err
line_fields(const uint8_t *line, size_t n, uint64_t *seq, uint8_t prev[EML_AUDIT_HASH_LEN])
{
	return line_fields_kind(line, n, seq, prev, NULL, 0);
}

/* Resume the chain of an existing log from its last line. */
static eml_err
resume_chain(struct eml_audit *a)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct stat st;
	uint8_t *tail = NULL;
	size_t tn, start;
	uint8_t prev[EML_AUDIT_HASH_LEN];
	off_t off;

	if (fstat(a->fd, &st) != 0)
		EML_FAIL(rc, EML_ERR_FILE);
	if (st.st_size == 0) {
		rc = EML_OK;
		goto out;
	}
	tn = (size_t)st.st_size < EML_AUDIT_LINE_MAX + 1 ? (size_t)st.st_size
							: EML_AUDIT_LINE_MAX + 1;
	off = st.st_size - (off_t)tn;
	tail = eml_alloc(tn);
	if (tail == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (pread(a->fd, tail, tn, off) != (ssize_t)tn)
		EML_FAIL(rc, EML_ERR_FILE);
	if (tail[tn - 1] != '\n') {
		/* cut_tail() repairs this first; here only if it could not */
		eml_err_set_detail("audit log ends with a partial line");
		EML_FAIL(rc, EML_ERR_AUDIT_FORMAT);
	}
	/* The last line starts after the previous newline, or at the start of
	 * the file when the tail reaches it. */
	start = tn - 1;
	while (start > 0 && tail[start - 1] != '\n')
		start--;
	if (start == 0 && off != 0) {
		eml_err_set_detail("last audit line is longer than %u bytes", EML_AUDIT_LINE_MAX);
		EML_FAIL(rc, EML_ERR_AUDIT_FORMAT);
	}
	rc = line_fields(tail + start, tn - 1 - start, &a->seq, prev);
	if (rc != EML_OK)
		goto out;
	crypto_hash_sha256(a->head, tail + start, tn - 1 - start);
	a->size = st.st_size;
	rc = EML_OK;
out:
	eml_free(tail);
	return rc;
}

/* The cut tail of a log, moved aside at open. */
struct cut_info {
	uint64_t bytes;
	uint8_t sha[32];
	char side[4096];
};

/*
 * A log that does not end in a newline was cut mid-line (a full disk, a
 * crash). Copy everything after its last newline to PATH.cut-OFFSET
 * (synced), then truncate the log there and sync it. ci->bytes is 0 when
 * nothing was cut.
 */
static eml_err
cut_tail(int fd, const char *path, struct cut_info *ci)
{
	eml_err rc = EML_ERR_INTERNAL;
	crypto_hash_sha256_state h;
	struct stat st;
	uint8_t buf[4096];
	off_t end, pos, keep = 0;
	int sfd = -1;

	memset(ci, 0, sizeof(*ci));
	if (fstat(fd, &st) != 0)
		EML_FAIL(rc, EML_ERR_FILE);
	end = st.st_size;
	if (end == 0)
		return EML_OK;
	if (pread(fd, buf, 1, end - 1) != 1)
		EML_FAIL(rc, EML_ERR_FILE);
	if (buf[0] == '\n')
		return EML_OK;
	/* backwards, a block at a time, to the last newline */
	for (pos = end; pos > 0 && keep == 0;) {
		size_t n = pos >= (off_t)sizeof(buf) ? sizeof(buf) : (size_t)pos;

		pos -= (off_t)n;
		if (pread(fd, buf, n, pos) != (ssize_t)n)
			EML_FAIL(rc, EML_ERR_FILE);
		for (size_t i = n; i > 0; i--) {
			if (buf[i - 1] == '\n') {
				keep = pos + (off_t)i;
				break;
			}
		}
	}
	ci->bytes = (uint64_t)(end - keep);
	(void)snprintf(ci->side, sizeof(ci->side), "%s.cut-%lld", path, (long long)keep);
	/* O_TRUNC: an earlier repair of the same cut that stopped half way is
	 * simply done again */
	sfd = open(ci->side, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (sfd < 0) {
		eml_err_set_detail("audit log repair: %s: %s", ci->side, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	crypto_hash_sha256_init(&h);
	for (pos = keep; pos < end;) {
		size_t n = end - pos >= (off_t)sizeof(buf) ? sizeof(buf) : (size_t)(end - pos);

		if (pread(fd, buf, n, pos) != (ssize_t)n ||
		    eml_io_write_full(sfd, buf, n, EML_DEADLINE_NONE) != EML_OK) {
			eml_err_set_detail("audit log repair: copying the cut tail: %s",
			    strerror(errno));
			EML_FAIL(rc, EML_ERR_FILE);
		}
		crypto_hash_sha256_update(&h, buf, n);
		pos += (off_t)n;
	}
	crypto_hash_sha256_final(&h, ci->sha);
	if (fsync(sfd) != 0 || ftruncate(fd, keep) != 0 || fsync(fd) != 0) {
		eml_err_set_detail("audit log repair: %s", strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	rc = EML_OK;
out:
	if (sfd >= 0)
		(void)close(sfd);
	return rc;
}

static eml_err append_locked(struct eml_audit *a, const char *kind, const struct eml_cid *cid,
    const struct eml_log_field *fields, size_t nfields);

eml_err
eml_audit_open(struct eml_audit *a, const char *path)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct cut_info *ci = NULL;

	EML_ENSURE(a != NULL && path != NULL, EML_ERR_NULL);
	memset(a, 0, sizeof(*a));
	a->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (a->fd < 0) {
		eml_err_set_detail("audit log %s: %s", path, strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	ci = eml_calloc(1, sizeof(*ci));
	if (ci == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = cut_tail(a->fd, path, ci)) != EML_OK)
		goto out;
	if ((rc = resume_chain(a)) != EML_OK)
		goto out;
	(void)pthread_mutex_init(&a->mu, NULL);
	a->last_sync_ms = eml_now_ms();
	if (ci->bytes > 0) {
		char sha[65];
		const char *base = strrchr(ci->side, '/');

		eml_hex_encode(sha, ci->sha, sizeof(ci->sha));
		a->repaired_bytes = ci->bytes;
		/* the line the cut would have been gets this seq instead */
		(void)pthread_mutex_lock(&a->mu);
		rc = append_locked(a, "audit_repair", NULL,
		    (const struct eml_log_field[]){ EML_F_U64("at_seq", a->seq + 1),
			EML_F_U64("bytes", ci->bytes), EML_F_STR("sha256", sha),
			EML_F_STR("moved_to", base != NULL ? base + 1 : ci->side) },
		    4);
		(void)pthread_mutex_unlock(&a->mu);
		EML_LOG_WARN("audit.repaired", NULL, EML_F_U64("at_seq", a->seq),
		    EML_F_U64("bytes", ci->bytes), EML_F_STR("moved_to", ci->side));
		if (rc != EML_OK) {
			(void)pthread_mutex_destroy(&a->mu);
			goto out;
		}
	}
	rc = EML_OK;
out:
	eml_free(ci);
	if (rc != EML_OK) {
		(void)close(a->fd);
		a->fd = -1;
	}
	return rc;
}

void
eml_audit_set_sync(struct eml_audit *a, bool every)
{
	if (a != NULL)
		a->sync_every = every;
}

void
eml_audit_close(struct eml_audit *a)
{
	if (a == NULL || a->fd < 0)
		return;
	(void)fsync(a->fd);
	(void)close(a->fd);
	a->fd = -1;
	(void)pthread_mutex_destroy(&a->mu);
}

/* Write one line; the caller holds a->mu. On failure the line is lost
 * (counted), a partial write is cut back, and the log is marked failed. */
static eml_err
write_line(struct eml_audit *a, const char *kind, const struct eml_cid *cid,
    const struct eml_log_field *fields, size_t nfields)
{
	eml_err rc = EML_ERR_INTERNAL;
	char line[EML_AUDIT_LINE_MAX + 1];
	char ts[80];
	size_t n = 0, done = 0;
	int64_t now;

	now_rfc3339(ts);
	rc = eml_audit_format(line, EML_AUDIT_LINE_MAX, &n, a->seq + 1, ts, kind, cid, fields,
	    nfields, a->head);
	if (rc != EML_OK)
		return rc;
	line[n] = '\n';
	while (done < n + 1) {
		ssize_t k = write(a->fd, line + done, n + 1 - done);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			(void)snprintf(a->last_error, sizeof(a->last_error), "write: %s",
			    k == 0 ? "no progress" : strerror(errno));
			/* no partial line left behind while we run */
			if (done > 0 && ftruncate(a->fd, a->size) != 0)
				(void)snprintf(a->last_error, sizeof(a->last_error),
				    "write: %s; partial line left (repaired at next start)",
				    strerror(errno));
			goto failed;
		}
		done += (size_t)k;
	}
	now = eml_now_ms();
	if (a->sync_every || now - a->last_sync_ms >= 1000) {
		if (fdatasync(a->fd) != 0) {
			(void)snprintf(a->last_error, sizeof(a->last_error), "fdatasync: %s",
			    strerror(errno));
			/* the line is in the file; its durability is not known */
			a->size += (off_t)(n + 1);
			crypto_hash_sha256(a->head, (const uint8_t *)line, n);
			a->seq++;
			a->failed = true;
			eml_err_set_detail("audit log %s", a->last_error);
			EML_BAIL(EML_ERR_FILE);
		}
		a->last_sync_ms = now;
	}
	a->size += (off_t)(n + 1);
	crypto_hash_sha256(a->head, (const uint8_t *)line, n);
	a->seq++;
	return EML_OK;
failed:
	a->failed = true;
	eml_err_set_detail("audit log %s", a->last_error);
	EML_BAIL(EML_ERR_FILE);
}

/* After a failure, the first line that gets written says what was lost. */
static eml_err
recover_locked(struct eml_audit *a)
{
	char why[160];
	uint64_t lost = a->lost;

	if (!a->failed)
		return EML_OK;
	(void)snprintf(why, sizeof(why), "%s", a->last_error);
	EML_GUARD(write_line(a, "audit_gap", NULL,
	    (const struct eml_log_field[]){ EML_F_U64("lost", lost), EML_F_STR("error", why) }, 2));
	a->failed = false;
	a->lost = 0;
	a->last_error[0] = '\0';
	EML_LOG_INFO("audit.recovered", NULL, EML_F_U64("lost", lost));
	return EML_OK;
}

static eml_err
append_locked(struct eml_audit *a, const char *kind, const struct eml_cid *cid,
    const struct eml_log_field *fields, size_t nfields)
{
	eml_err rc = recover_locked(a);

	if (rc == EML_OK)
		rc = write_line(a, kind, cid, fields, nfields);
	if (rc == EML_ERR_FILE) {
		a->lost++;
		a->write_failures++;
	}
	return rc;
}

eml_err
eml_audit_append(struct eml_audit *a, const char *kind, const struct eml_cid *cid,
    const struct eml_log_field *fields, size_t nfields)
{
	eml_err rc;

	EML_ENSURE(a != NULL && kind != NULL && a->fd >= 0, EML_ERR_NULL);
	(void)pthread_mutex_lock(&a->mu);
	rc = append_locked(a, kind, cid, fields, nfields);
	(void)pthread_mutex_unlock(&a->mu);
	return rc;
}

bool
eml_audit_healthy(struct eml_audit *a, struct eml_audit_health *h)
{
	bool ok;

	if (h != NULL)
		memset(h, 0, sizeof(*h));
	if (a == NULL || a->fd < 0)
		return false;
	(void)pthread_mutex_lock(&a->mu);
	ok = recover_locked(a) == EML_OK;
	if (h != NULL) {
		h->healthy = ok;
		h->lost = a->lost;
		h->write_failures = a->write_failures;
		h->repaired_bytes = a->repaired_bytes;
		(void)snprintf(h->last_error, sizeof(h->last_error), "%s", a->last_error);
	}
	(void)pthread_mutex_unlock(&a->mu);
	if (!ok)
		eml_err_clear_detail();
	return ok;
}

void
eml_audit_head(struct eml_audit *a, uint8_t head[EML_AUDIT_HASH_LEN], uint64_t *seq)
{
	(void)pthread_mutex_lock(&a->mu);
	EML_MEMCPY(head, a->head, EML_AUDIT_HASH_LEN);
	*seq = a->seq;
	(void)pthread_mutex_unlock(&a->mu);
}

eml_err
eml_audit_verify_mem(const uint8_t *p, size_t n, struct eml_audit_report *r)
{
	struct eml_cur c = eml_cur_make(p, n);

	EML_ENSURE(r != NULL && (p != NULL || n == 0), EML_ERR_NULL);
	memset(r, 0, sizeof(*r));
	while (c.left > 0) {
		const uint8_t *nl = memchr(c.p, '\n', c.left);
		const uint8_t *line;
		size_t len;
		uint64_t seq = 0;
		uint8_t prev[EML_AUDIT_HASH_LEN];
		char kind[32];
		eml_err rc;

		r->bad_line = r->lines + 1;
		if (nl == NULL) {
			eml_err_set_detail("line %" PRIu64 ": no final newline (log cut)",
			    r->bad_line);
			EML_BAIL(EML_ERR_AUDIT_FORMAT);
		}
		len = (size_t)(nl - c.p);
		if (len > EML_AUDIT_LINE_MAX) {
			eml_err_set_detail("line %" PRIu64 ": longer than %u bytes", r->bad_line,
			    EML_AUDIT_LINE_MAX);
			EML_BAIL(EML_ERR_AUDIT_FORMAT);
		}
		EML_GUARD(eml_cur_take(&c, len, &line));
		EML_GUARD(eml_cur_skip(&c, 1));
		rc = line_fields_kind(line, len, &seq, prev, kind, sizeof(kind));
		if (rc != EML_OK) {
			char why[128];

			(void)snprintf(why, sizeof(why), "%s", eml_err_detail());
			eml_err_set_detail("line %" PRIu64 ": %s", r->bad_line, why);
			return rc;
		}
		if (seq != r->lines + 1) {
			eml_err_set_detail("line %" PRIu64 ": seq %" PRIu64 ", expected %" PRIu64
					   " (lines removed or inserted)",
			    r->bad_line, seq, r->lines + 1);
			EML_BAIL(EML_ERR_AUDIT_CHAIN);
		}
		if (sodium_memcmp(prev, r->head, EML_AUDIT_HASH_LEN) != 0) {
			eml_err_set_detail("line %" PRIu64 ": prev does not match the hash of line "
					   "%" PRIu64 " (edited, removed or reordered)",
			    r->bad_line, r->lines);
			EML_BAIL(EML_ERR_AUDIT_CHAIN);
		}
		crypto_hash_sha256(r->head, line, len);
		r->lines++;
		if (strcmp(kind, "audit_repair") == 0) {
			r->repairs++;
			r->repair_line = r->lines;
		} else if (strcmp(kind, "audit_gap") == 0) {
			r->gaps++;
		}
	}
	r->bad_line = 0;
	return EML_OK;
}

eml_err
eml_audit_verify_file(const char *path, struct eml_audit_report *r)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct stat st;
	void *map = MAP_FAILED;
	size_t n = 0;
	int fd = -1;

	if (path == NULL || r == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	memset(r, 0, sizeof(*r));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		eml_err_set_detail("%s: cannot read: %s", path, strerror(errno));
		EML_FAIL(rc, EML_ERR_FILE);
	}
	n = (size_t)st.st_size;
	if (n > 0) {
		map = mmap(NULL, n, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			eml_err_set_detail("%s: mmap: %s", path, strerror(errno));
			EML_FAIL(rc, EML_ERR_FILE);
		}
	}
	rc = eml_audit_verify_mem(map == MAP_FAILED ? NULL : map, n, r);
out:
	if (map != MAP_FAILED)
		(void)munmap(map, n);
	if (fd >= 0)
		(void)close(fd);
	return rc;
}
