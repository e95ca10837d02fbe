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
#include <sys/types.h>

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
	bool failed;                      /* the last write failed: lines are being lost */
	bool sync_every;                  /* fdatasync after every line, else once a second */
	int64_t last_sync_ms;
	off_t size;                       /* file size after the last whole line */
	uint64_t lost;                    /* lines not written since the failure */
	uint64_t write_failures;          /* lines lost, ever */
	uint64_t repaired_bytes;          /* a cut tail moved aside at open (0: none) */
	char last_error[160];             /* why the last write failed ("" when none) */
};

/* What /status and /metrics show about the log. */
struct eml_audit_health {
	bool healthy;
	uint64_t lost;
	uint64_t write_failures;
	uint64_t repaired_bytes;
	char last_error[160];
};

/*
 * Open (or create, mode 0600) the log at path for appending and resume its
 * chain from the last line. A log whose last line was cut (a full disk, a
 * crash mid-write) is repaired first: the partial tail is moved to a side
 * file PATH.cut-SEQ (SEQ: the seq the cut line would have had), the log is
 * truncated after its last whole line, and an "audit_repair" line chained
 * to it records the cut (at_seq, bytes, sha256 of the cut bytes, file).
 * Returns EML_OK, EML_ERR_FILE, EML_ERR_NULL, EML_ERR_AUDIT_FORMAT when the
 * last whole line has no seq (a foreign file: verify and rotate it first).
 */
eml_err eml_audit_open(struct eml_audit *a, const char *path) EML_MUST_USE;

/* Sync policy: every line (true) or at most once a second (false, the
 * default). A failed sync counts as a failed write. */
void eml_audit_set_sync(struct eml_audit *a, bool every);

/*
 * Whether the last write worked. When it did not, try again now: the
 * first line written after a failure is an "audit_gap" line saying how
 * many lines were lost and why, so the chain records the gap. The proxy
 * calls this before admitting a request (fail closed) and from its health
 * thread. Fills h when not NULL.
 */
bool eml_audit_healthy(struct eml_audit *a, struct eml_audit_health *h);
void eml_audit_close(struct eml_audit *a);

/*
 * Append one line (thread-safe; one write(2) per line on an O_APPEND fd).
 * kind is a short ASCII word ("conn", "request", "start", ...); cid may be
 * NULL. A write that fails part way is cut back (ftruncate) so the log
 * never holds a partial line while the proxy runs. Returns EML_OK,
 * EML_ERR_PROTO_TOO_LARGE (line above EML_AUDIT_LINE_MAX), EML_ERR_FILE
 * (the line is lost and counted; the next append first writes the gap
 * line), EML_ERR_NULL.
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
	uint64_t repairs;                 /* "audit_repair" lines (cuts repaired) */
	uint64_t repair_line;             /* the last of them, 0 if none */
	uint64_t gaps;                    /* "audit_gap" lines (lines lost) */
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
