#include "eml_log.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "eml_buf.h"

#define LINE_MAX_BYTES 4096
/* Bytes kept back at the end of a line for ,"truncated":true}\n. */
#define LINE_RESERVE 24
/* Longest string value, in input bytes; longer ones end in "...". */
#define STR_MAX 512

static int level_threshold = -1;
static int out_fd = -1;

static int
level_from_env(void)
{
	const char *s = getenv("EML_LOG_LEVEL");

	if (s == NULL || *s == '\0')
		return EML_LOG_LEVEL_INFO;
	if (strcmp(s, "debug") == 0)
		return EML_LOG_LEVEL_DEBUG;
	if (strcmp(s, "warn") == 0)
		return EML_LOG_LEVEL_WARN;
	if (strcmp(s, "error") == 0)
		return EML_LOG_LEVEL_ERROR;
	if (strcmp(s, "off") == 0)
		return EML_LOG_LEVEL_OFF;
	return EML_LOG_LEVEL_INFO;
}

bool
eml_log_enabled(enum eml_log_level lvl)
{
	if (level_threshold < 0)
		level_threshold = level_from_env();
	return (int)lvl >= level_threshold;
}

void
eml_log_set_level(enum eml_log_level lvl)
{
	level_threshold = (int)lvl;
}

void
eml_log_set_fd(int fd)
{
	out_fd = fd;
}

void
eml_cid_random(struct eml_cid *cid)
{
	randombytes_buf(cid->b, sizeof(cid->b));
}

/* A line under construction. A field that does not fit is dropped whole
 * (overflow tells the caller to roll back), so a line is always valid
 * JSON. */
struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
	bool overflow;
};

static void
put_raw(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - LINE_RESERVE - l->len;

	if (n > room) {
		n = room;
		l->overflow = true;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void
put_fmt(struct line *l, const char *fmt, ...) EML_PRINTF(2, 3);
static void
put_fmt(struct line *l, const char *fmt, ...)
{
	char tmp[64];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
	va_end(ap);
	if (n > 0)
		put_raw(l, tmp, (size_t)n < sizeof(tmp) ? (size_t)n : sizeof(tmp) - 1);
}

/* JSON string with escapes; control and non-ASCII bytes become \u00XX so a
 * line is always valid, printable JSON. */
static void
put_str(struct line *l, const char *s)
{
	size_t i = 0;

	put_raw(l, "\"", 1);
	for (; s != NULL && *s != '\0'; s++, i++) {
		char e[6];

		if (i == STR_MAX) {
			put_raw(l, "...", 3);
			break;
		}
		put_raw(l, e, eml_json_escape_byte((unsigned char)*s, e));
	}
	put_raw(l, "\"", 1);
}

static void
put_key(struct line *l, const char *k)
{
	put_raw(l, ",", 1);
	put_str(l, k);
	put_raw(l, ":", 1);
}

static const char *
level_name(enum eml_log_level lvl)
{
	switch (lvl) {
	case EML_LOG_LEVEL_DEBUG:
		return "debug";
	case EML_LOG_LEVEL_INFO:
		return "info";
	case EML_LOG_LEVEL_WARN:
		return "warn";
	case EML_LOG_LEVEL_ERROR:
		return "error";
	case EML_LOG_LEVEL_OFF:
		break;
	}
	return "off";
}

static void
put_field(struct line *l, const struct eml_log_field *f)
{
	switch (f->type) {
	case EML_LOG_F_STR:
		put_key(l, f->key);
		put_str(l, f->v.s);
		break;
	case EML_LOG_F_I64:
		put_key(l, f->key);
		put_fmt(l, "%" PRId64, f->v.i);
		break;
	case EML_LOG_F_U64:
		put_key(l, f->key);
		put_fmt(l, "%" PRIu64, f->v.u);
		break;
	case EML_LOG_F_BOOL:
		put_key(l, f->key);
		put_raw(l, f->v.b ? "true" : "false", f->v.b ? 4 : 5);
		break;
	case EML_LOG_F_F64:
		put_key(l, f->key);
		if (isfinite(f->v.d))
			put_fmt(l, "%.6g", f->v.d);
		else
			put_raw(l, "null", 4);
		break;
	case EML_LOG_F_ERR:
		put_key(l, f->key);
		put_fmt(l, "%d", (int)f->v.e);
		put_key(l, "err_name");
		put_str(l, eml_err_name(f->v.e));
		break;
	}
}

void
eml_log_emit(enum eml_log_level lvl, const char *func, const char *event,
    const struct eml_cid *cid, const struct eml_log_field *fields, size_t nfields)
{
	struct line l;
	struct timespec ts;
	struct tm tm;
	char tbuf[32];
	int saved_errno = errno;

	if (!eml_log_enabled(lvl))
		return;
	l.len = 0;
	l.overflow = false;
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	(void)gmtime_r(&ts.tv_sec, &tm);
	(void)strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
	put_raw(&l, "{\"ts\":\"", 7);
	put_raw(&l, tbuf, strlen(tbuf));
	put_fmt(&l, ".%03ldZ\"", ts.tv_nsec / 1000000);
	put_key(&l, "level");
	put_str(&l, level_name(lvl));
	put_key(&l, "event");
	put_str(&l, event);
	if (cid != NULL) {
		char hex[33];

		eml_hex_encode(hex, cid->b, sizeof(cid->b));
		put_key(&l, "cid");
		put_str(&l, hex);
	}
	put_key(&l, "fn");
	put_str(&l, func);
	put_key(&l, "pid");
	put_fmt(&l, "%ld", (long)getpid());
	for (size_t i = 0; i < nfields && !l.overflow; i++) {
		size_t mark = l.len;

		put_field(&l, &fields[i]);
		if (l.overflow)
			l.len = mark; /* drop the field that did not fit */
	}
	if (l.overflow) {
		static const char marker[] = ",\"truncated\":true";

		memcpy(l.buf + l.len, marker, sizeof(marker) - 1);
		l.len += sizeof(marker) - 1;
	}
	l.buf[l.len++] = '}';
	l.buf[l.len++] = '\n';
	/* One write per line so concurrent writers do not interleave. */
	{
		int fd = out_fd >= 0 ? out_fd : STDERR_FILENO;
		ssize_t w;

		do {
			w = write(fd, l.buf, l.len);
		} while (w < 0 && errno == EINTR);
	}
	errno = saved_errno;
}
