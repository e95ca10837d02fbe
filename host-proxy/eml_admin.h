/*
 * The proxy's counters and its loopback admin endpoint (DESIGN §7,
 * docs/PROXY.md "Admin endpoint"), served by libmicrohttpd:
 *
 *   GET  /status                JSON: agents, clients, counters, and the
 *                               security, configuration and artifacts
 *                               sections an auditor asks for
 *   GET  /metrics               Prometheus text exposition format 0.0.4
 *   POST /admin/kill-switch     {"enabled": true|false}
 *   POST /admin/baseline-only   {"enabled": true|false, "models": [ids]}
 *   POST /admin/keys/reload     re-read the --api-keys file
 *
 * The listener is bound to a loopback address only (enforced when the
 * address is parsed). GETs are read-only and show nothing secret. POSTs
 * need "Authorization: Bearer TOKEN" with the token of --admin-token-file,
 * compared in constant time; anything else is 401 (also when no token file
 * was given: then nothing can be changed at run time). The daemon runs in
 * libmicrohttpd's external mode, driven by the proxy's admin thread
 * (eml_admin_poll), so it starts no thread of its own and opens nothing
 * after the seccomp filter is in place.
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
#include "eml_controls.h"
#include "eml_store.h"

#define EML_ADMIN_REQ_MAX 4096u
#define EML_ADMIN_RESP_MAX (1024u * 1024u)
/* Largest POST body read. */
#define EML_ADMIN_BODY_MAX (64u * 1024u)
#define EML_ADMIN_TOKEN_MIN 16u
#define EML_ADMIN_TOKEN_MAX 256u

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

/* Settings /status reports under "security" and "configuration". */
struct eml_admin_settings {
	bool tls;
	bool seccomp;
	int landlock; /* the Landlock ABI enforced, 0: none */
	bool strict_artifacts;
	const struct eml_signers *signers; /* NULL: none given */
	bool api_keys_required;
	unsigned rate_limit_per_minute;
	bool admin_token; /* POSTs possible */
};

/* Everything the admin pages show. agents, audit, ctl, store and settings
 * may be NULL. */
struct eml_admin_view {
	struct eml_proxy_stats *stats;
	struct eml_upstream_pool *agents;
	struct eml_audit *audit;
	struct eml_controls *ctl;
	const struct eml_store *store;
	const struct eml_admin_settings *settings;
	unsigned max_clients;
	bool draining;
	const atomic_bool *draining_flag; /* when set, read instead of draining */
	bool test_hooks; /* a --test-* flag is active: shown loudly */
};

/*
 * A POST body for a switch: {"enabled": true|false} and, for
 * baseline-only, an optional "models": [content ids as 64 hex digits]
 * (allow_models false: "models" is refused). Strict: other members,
 * duplicates, wrong types and more than EML_ALLOW_MAX ids are
 * EML_ERR_USAGE with a detail. *has_models says whether "models" was
 * given; ids receives them (EML_ALLOW_MAX slots).
 */
eml_err eml_admin_parse_switch(const uint8_t *body, size_t n, bool allow_models, bool *enabled,
    bool *has_models, uint8_t (*ids)[EML_STORE_ID_LEN], size_t *n_ids) EML_MUST_USE;

/* The body of GET /status, appended to out. EML_ERR_PROTO_TOO_LARGE past
 * out's ceiling, EML_ERR_NOMEM. */
eml_err eml_admin_status_json(const struct eml_admin_view *v, struct eml_buf *out) EML_MUST_USE;
/* The body of GET /metrics, appended to out. Same errors. */
eml_err eml_admin_metrics_text(const struct eml_admin_view *v, struct eml_buf *out) EML_MUST_USE;

/*
 * Read the admin token: the file's first line, EML_ADMIN_TOKEN_MIN..MAX
 * printable ASCII bytes. Only its SHA-256 is kept (hash, 32 bytes), so
 * the comparison is constant-time whatever the presented length.
 * EML_ERR_FILE, EML_ERR_CONFIG (too short, too long, odd bytes).
 */
eml_err eml_admin_token_load(const char *path, uint8_t hash[32]) EML_MUST_USE;

struct eml_admin_server;

/*
 * Start serving on the bound, listening socket lfd (taken over: closed by
 * eml_admin_stop). token_hash NULL: every POST is 401. The view must stay
 * valid until eml_admin_stop. Starts no thread. EML_ERR_INTERNAL when
 * libmicrohttpd refuses, EML_ERR_NOMEM.
 */
eml_err eml_admin_start(int lfd, const struct eml_admin_view *v, const uint8_t *token_hash,
    struct eml_admin_server **out) EML_MUST_USE;
/* Serve whatever is ready, waiting at most ms for something to happen. */
void eml_admin_poll(struct eml_admin_server *s, int64_t ms);
void eml_admin_stop(struct eml_admin_server *s);

#endif
