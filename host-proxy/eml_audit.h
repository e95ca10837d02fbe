/*
 * The proxy's audit log (DESIGN §7): one JSON object per line, metadata
 * only, each line chained to the one before it.
 *
 *   {"seq":1,"ts":"2026-11-21T20:01:02.345Z","kind":"request","cid":"00ff..",
 *    ...typed fields...,"prev":"<64 hex>"}
 *
 * "prev" is the SHA-256 of the previous line's bytes (without its newline);
 * the first line of a log has seq 1 and prev = 64 zeros. Editing, removing,
 * inserting or reordering any line breaks the chain at the next line, and
 * cutting the head of the log breaks the seq-1 rule. Cutting the tail is
 * only detectable against a head hash kept elsewhere: the proxy reports the
 * current head in GET /status and in its shutdown log line, and
 * `eml-proxy audit verify FILE --head HEX` checks a log against it.
 *
 * Fields are the typed fields of eml_log.h (strings, integers, booleans,
 * doubles, error codes). There is no byte-buffer field type, so a payload
 * cannot reach the audit log by accident.
 */
#ifndef EML_AUDIT_H
#define EML_AUDIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"
#include "eml_log.h"

#define EML_AUDIT_HASH_LEN 32u
/* Longest line the writer produces and the verifier accepts. */
#define EML_AUDIT_LINE_MAX 8192u

struct eml_audit {
	int fd;
	pthread_mutex_t mu;
	uint8_t head[EML_AUDIT_HASH_LEN]; /* hash of the last line, zeros at genesis */
	uint64_t seq;                     /* seq of the last line, 0 at genesis */
	bool failed;                      /* a write failed: the log is stuck */
};

/*
 * Open (or create, mode 0600) the log at path for appending and resume its
 * chain from the last line. Returns EML_OK, EML_ERR_FILE, EML_ERR_NULL,
 * EML_ERR_AUDIT_FORMAT when the existing file does not end in a complete
 * line with a seq (a torn or foreign file: verify and rotate it first).
 */
eml_err eml_audit_open(struct eml_audit *a, const char *path) EML_MUST_USE;
void eml_audit_close(struct eml_audit *a);

/*
 * Append one line (thread-safe; one write(2) per line on an O_APPEND fd).
 * kind is a short ASCII word ("conn", "request", "start", ...); cid may be
 * NULL. Returns EML_OK, EML_ERR_PROTO_TOO_LARGE (line above
 * EML_AUDIT_LINE_MAX), EML_ERR_FILE (after which every later append fails
 * too: a gap in an audit log must not go unnoticed), EML_ERR_NULL.
 */
eml_err eml_audit_append(struct eml_audit *a, const char *kind, const struct eml_cid *cid,
    const struct eml_log_field *fields, size_t nfields) EML_MUST_USE;

#define EML_AUDIT(a, kind, cid, ...)                                           \
	eml_audit_append((a), (kind), (cid),                                   \
	    (const struct eml_log_field[]){ __VA_ARGS__ },                     \
	    sizeof((const struct eml_log_field[]){ __VA_ARGS__ }) /            \
		sizeof(struct eml_log_field))

/* The current head hash and seq (for /status and the shutdown log). */
void eml_audit_head(struct eml_audit *a, uint8_t head[EML_AUDIT_HASH_LEN], uint64_t *seq);

/*
 * Encode one line (without newline) into out, which holds cap bytes; *len
 * receives the length. Exposed for tests. Strings are escaped to plain
 * ASCII JSON. Returns EML_OK, EML_ERR_PROTO_TOO_LARGE, EML_ERR_NULL.
 */
eml_err eml_audit_format(char *out, size_t cap, size_t *len, uint64_t seq, const char *ts,
    const char *kind, const struct eml_cid *cid, const struct eml_log_field *fields,
    size_t nfields, const uint8_t prev[EML_AUDIT_HASH_LEN]) EML_MUST_USE;

struct eml_audit_report {
	uint64_t lines;                   /* complete, valid lines */
	uint8_t head[EML_AUDIT_HASH_LEN]; /* hash of the last valid line */
	uint64_t bad_line;                /* 1-based line that failed, 0 if none */
};

/*
 * Verify a whole log held in memory. Every line must be a JSON object with
 * "seq" = previous + 1 (starting at 1) and "prev" = hex SHA-256 of the
 * previous line, and the log must end with a newline.
 * Returns EML_OK, EML_ERR_AUDIT_CHAIN (a hash or seq mismatch: a line was
 * edited, removed, inserted or reordered), EML_ERR_AUDIT_FORMAT (a line
 * that is not a JSON object with those fields, too long, or a missing final
 * newline: a cut), EML_ERR_NULL. The detail names the line; *r says how far
 * the chain held.
 */
eml_err eml_audit_verify_mem(const uint8_t *p, size_t n, struct eml_audit_report *r) EML_MUST_USE;
/* The same for a file (mapped read-only). EML_ERR_FILE when unreadable. */
eml_err eml_audit_verify_file(const char *path, struct eml_audit_report *r) EML_MUST_USE;

#endif
