/*
 * The operator's controls over a running proxy (docs/PROXY.md "Operator
 * controls"): who may call (API keys), how often (rate limits), and
 * whether anything is served at all (kill switch, baseline-only).
 *
 * One instance per proxy, shared by the accept loop, every connection
 * thread and the admin endpoint. The kill switch is an atomic read on
 * every request; the key set, the allowlist and the buckets are behind a
 * mutex held for microseconds. Every change is an audit line (when the
 * proxy has an audit log) and a log line, and shows in /status at once:
 * the pages read this state, not a copy.
 */
#ifndef EML_CONTROLS_H
#define EML_CONTROLS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_audit.h"
#include "eml_err.h"
#include "eml_keys.h"
#include "eml_ratelimit.h"
#include "eml_store.h"
#include "eml_transport.h"

#define EML_ALLOW_MAX 256u

/* What a connection learned about its client at the hello. */
struct eml_client_id {
	char host[EML_ADDR_STR_MAX];           /* address without port, for buckets */
	char key_id[EML_KEY_ID_MAX + 1];       /* "" without keys */
	char partner[EML_KEY_PARTNER_MAX + 1]; /* "" when none */
	uint32_t key_rate;                     /* per-key limit, 0 = none */
};

struct eml_controls {
	atomic_bool kill_switch;
	atomic_int_fast64_t kill_since_ms; /* monotonic, when last switched on */
	atomic_bool baseline_only;
	atomic_uint_fast64_t rejected_auth;
	atomic_uint_fast64_t rejected_rate_addr;
	atomic_uint_fast64_t rejected_rate_key;
	atomic_uint_fast64_t rejected_kill;
	atomic_uint_fast64_t rejected_model;
	atomic_uint_fast64_t keys_reloads;
	atomic_uint_fast64_t keys_reload_errors;
	pthread_mutex_t mu; /* guards everything below */
	uint8_t allow[EML_ALLOW_MAX][EML_STORE_ID_LEN];
	size_t n_allow;
	bool keys_required;
	const char *keys_path;
	struct eml_keyset keys;
	struct eml_ratelimit rl;
	uint32_t rate_per_addr; /* per minute, 0 = none */
	struct eml_audit *audit; /* NULL: no audit lines */
};

/* keys_path NULL: no keys required. Loads the key file once. */
eml_err eml_controls_init(struct eml_controls *c, const char *keys_path, uint32_t rate_per_addr,
    struct eml_audit *audit) EML_MUST_USE;
void eml_controls_free(struct eml_controls *c);

/*
 * The hello's key (tok/n, n may be 0). With keys required: EML_OK and id
 * filled for a valid key, else EML_ERR_AUTH, whatever was wrong (the
 * reason goes to the audit line only). Without keys: EML_OK, id gets no
 * key. Counts refusals.
 */
eml_err eml_controls_auth(struct eml_controls *c, const uint8_t *tok, size_t n, const char *peer,
    struct eml_client_id *id) EML_MUST_USE;

/*
 * A new request from id at now_ms (monotonic): EML_OK, EML_ERR_KILL_SWITCH
 * or EML_ERR_RATE_LIMITED with *retry_ms (the wait until a token is back).
 * Counts refusals; the caller writes the audit line.
 */
eml_err eml_controls_admit(struct eml_controls *c, const struct eml_client_id *id, int64_t now_ms,
    int64_t *retry_ms, const char **which) EML_MUST_USE;

/* Whether a blob may be served (baseline-only mode off, or id listed). */
bool eml_controls_model_allowed(struct eml_controls *c, const uint8_t id[EML_STORE_ID_LEN]);

/* Switches, each an audit line with who changed it ("start", "admin"). */
void eml_controls_set_kill(struct eml_controls *c, bool on, const char *by);
/* ids: n content ids (n <= EML_ALLOW_MAX), replacing the list when
 * set_list; baseline-only on with an empty list serves nothing. */
eml_err eml_controls_set_baseline(struct eml_controls *c, bool on, bool set_list,
    const uint8_t (*ids)[EML_STORE_ID_LEN], size_t n, const char *by) EML_MUST_USE;

/* Re-read the key file (SIGHUP, POST /admin/keys/reload). On failure the
 * keys in force stay. Connections are not touched. */
eml_err eml_controls_reload_keys(struct eml_controls *c, const char *by) EML_MUST_USE;

#endif
