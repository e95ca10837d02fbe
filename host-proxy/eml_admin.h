/*
 * The proxy's counters and its loopback admin endpoint (DESIGN §7):
 *
 *   GET /status    JSON: agents and their health, clients, counters
 *   GET /metrics   Prometheus text exposition format 0.0.4
 *
 * A deliberately minimal HTTP/1.0 responder: one request per connection,
 * request head at most EML_ADMIN_REQ_MAX bytes read within a deadline,
 * only GET of those two paths; anything else gets 400, 404 or 405 and the
 * connection is closed. The admin listener is bound to a loopback address
 * only (enforced when the address is parsed), and nothing it shows is
 * secret: counters, agent addresses, the audit head hash.
 */
#ifndef EML_ADMIN_H
#define EML_ADMIN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"
#include "eml_upstream.h"
#include "eml_audit.h"

#define EML_ADMIN_REQ_MAX 4096u
#define EML_ADMIN_RESP_MAX (256u * 1024u)

/* Process-wide counters, updated lock-free by the connection threads. */
struct eml_proxy_stats {
	atomic_uint_fast64_t clients_total;     /* accepted client connections */
	atomic_uint_fast64_t clients_active;    /* relaying right now */
	atomic_uint_fast64_t rejected_busy;     /* refused past --max-clients */
	atomic_uint_fast64_t rejected_no_agent; /* refused: no agent available */
	atomic_uint_fast64_t rejected_audit;    /* refused: audit log not writable */
	atomic_uint_fast64_t frames_up;         /* client -> agent frames relayed */
	atomic_uint_fast64_t frames_down;       /* agent -> client frames relayed */
	atomic_uint_fast64_t bytes_up;          /* client -> agent bytes, headers included */
	atomic_uint_fast64_t bytes_down;        /* agent -> client bytes */
	atomic_uint_fast64_t requests;          /* request/response pairs seen */
	atomic_uint_fast64_t blob_requests;     /* BlobRequests answered with data */
	atomic_uint_fast64_t blob_bytes;        /* blob bytes served */
	atomic_uint_fast64_t blob_errors;       /* BlobRequests answered with Error */
	atomic_uint_fast64_t timeouts_handshake;
	atomic_uint_fast64_t timeouts_idle;
	atomic_uint_fast64_t timeouts_frame;
	atomic_uint_fast64_t timeouts_request;
	atomic_uint_fast64_t proto_errors;      /* bad frames or envelopes, either side */
	atomic_uint_fast64_t agent_lost;        /* agent closed or failed mid-connection */
	int64_t started_ms;                     /* monotonic start time */
};

/* Everything the admin pages show. agents and audit may be NULL. */
struct eml_admin_view {
	struct eml_proxy_stats *stats;
	struct eml_upstream_pool *agents;
	struct eml_audit *audit;
	unsigned max_clients;
	bool draining;
	bool test_hooks; /* a --test-* flag is active: shown loudly */
};

enum eml_admin_route {
	EML_ADMIN_STATUS = 1,
	EML_ADMIN_METRICS = 2,
	EML_ADMIN_NOT_FOUND = 3,   /* 404 */
	EML_ADMIN_BAD_METHOD = 4,  /* 405 */
};

/*
 * Parse a request head (the bytes up to and including the blank line).
 * The request line must be `METHOD SP PATH SP HTTP/1.0|1.1` ending in CRLF
 * or LF. Returns EML_OK with *route set (NOT_FOUND / BAD_METHOD are valid
 * requests with an error answer), EML_ERR_PROTO (malformed: answer 400),
 * EML_ERR_PROTO_TRUNCATED (no end of line yet), EML_ERR_NULL.
 */
eml_err eml_admin_parse(const uint8_t *req, size_t n, enum eml_admin_route *route) EML_MUST_USE;

/* The body of GET /status, appended to out. EML_ERR_PROTO_TOO_LARGE past
 * out's ceiling, EML_ERR_NOMEM. */
eml_err eml_admin_status_json(const struct eml_admin_view *v, struct eml_buf *out) EML_MUST_USE;
/* The body of GET /metrics, appended to out. Same errors. */
eml_err eml_admin_metrics_text(const struct eml_admin_view *v, struct eml_buf *out) EML_MUST_USE;

/*
 * Serve one admin connection on fd: read the head within deadline
 * (absolute monotonic ms), answer, return. Does not close fd.
 * Returns EML_OK once an answer (also 4xx) was sent, or the I/O errors of
 * eml_io.h.
 */
eml_err eml_admin_serve(int fd, const struct eml_admin_view *v, int64_t deadline) EML_MUST_USE;

#endif
