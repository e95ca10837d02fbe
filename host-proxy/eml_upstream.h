/*
 * The proxy's upstreams: the enclave agents it relays to, as the proxy sees
 * them (an address and a health record; the agent process itself is
 * enclave-agent/'s struct eml_agent). Several enclaves on one host,
 * health-checked, with round-robin choice among the healthy ones.
 *
 * Each agent has a small health state machine fed by two sources: the
 * periodic probe (connect + Ping, expecting Pong) and the outcome of every
 * real connection attempt (a refused connect counts as a failed check).
 *
 *   UNKNOWN --ok--> UP          UNKNOWN --fail--> DOWN
 *   UP   --`fall` consecutive failures--> DOWN
 *   DOWN --`rise` consecutive successes--> UP
 *
 * UNKNOWN (never checked yet) agents are eligible so that a client arriving
 * in the first instant after start-up is not refused; DOWN agents are
 * skipped until they recover. The pool is thread-safe.
 */
#ifndef EML_UPSTREAM_H
#define EML_UPSTREAM_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

#define EML_UPSTREAMS_MAX 64u
#define EML_UPSTREAM_ADDR_MAX 160u

enum eml_upstream_state {
	EML_UPSTREAM_UNKNOWN = 0,
	EML_UPSTREAM_UP = 1,
	EML_UPSTREAM_DOWN = 2,
};

struct eml_upstream {
	char addr[EML_UPSTREAM_ADDR_MAX];
	enum eml_upstream_state state;
	unsigned ok_streak;
	unsigned fail_streak;
	int64_t last_check_ms;  /* monotonic ms of the last report, 0 = never */
	int64_t last_change_ms; /* monotonic ms of the last state change */
	uint64_t checks;        /* reports received */
	uint64_t failures;      /* failed reports */
	uint64_t picks;         /* times chosen for a client */
	eml_err last_err;
	/* The attestation producer the agent announced in its last Pong
	 * ("nsm", "sim"), "" when it has not (connect-only probes). The
	 * agent's word, shown in /status; never trusted for anything. */
	char producer[8];
};

struct eml_upstream_pool {
	struct eml_upstream *agents;
	size_t n;
	size_t next; /* round-robin cursor */
	unsigned rise;
	unsigned fall;
	pthread_mutex_t mu;
};

/*
 * Copy n addresses (1..EML_UPSTREAMS_MAX, each shorter than
 * EML_UPSTREAM_ADDR_MAX) into a new pool, all UNKNOWN. rise and fall are
 * clamped to at least 1. Returns EML_OK, EML_ERR_CONFIG (count or length
 * out of range), EML_ERR_NOMEM, EML_ERR_NULL.
 */
eml_err eml_upstream_pool_init(struct eml_upstream_pool *p, const char *const *addrs, size_t n,
    unsigned rise, unsigned fall) EML_MUST_USE;
void eml_upstream_pool_free(struct eml_upstream_pool *p);

/* Feed one health observation for agent i (EML_OK = healthy). An index out
 * of range is ignored. */
void eml_upstream_pool_report(struct eml_upstream_pool *p, size_t i, eml_err result, int64_t now_ms);
/* Record the producer agent i announced (NULL or "" clears it). */
void eml_upstream_pool_set_producer(struct eml_upstream_pool *p, size_t i, const char *producer);

/*
 * Choose the next eligible (UP or UNKNOWN) agent after the previous
 * choice, round robin. *idx receives its index and addr (cap bytes, may be
 * NULL) a copy of its address. Returns EML_OK or EML_ERR_NO_AGENT.
 */
eml_err eml_upstream_pool_pick(struct eml_upstream_pool *p, size_t *idx, char *addr,
    size_t cap) EML_MUST_USE;

/* Consistent copy of every agent for status output; returns how many were
 * copied (at most cap). */
size_t eml_upstream_pool_snapshot(struct eml_upstream_pool *p, struct eml_upstream *out, size_t cap);
/* Number of agents currently UP. */
size_t eml_upstream_pool_up(struct eml_upstream_pool *p);

const char *eml_upstream_state_name(enum eml_upstream_state s);

#endif
