/*
 * Token buckets for the proxy's rate limits (docs/PROXY.md "Rate limits"):
 * one per client address (--rate-limit N per minute) and one per API key
 * (rate_per_minute in the key file).
 *
 * A bucket for a rate of R per minute holds at most R tokens and gains R
 * tokens per minute, continuously; a request takes one. Arithmetic is in
 * integers (a token is 60000 units, a bucket gains R units per
 * millisecond), so a refusal is exact to the bucket and the retry-after
 * hint is the time until one whole token is back.
 *
 * The buckets live in one fixed table of open-addressed slots (no growth
 * with the number of addresses seen). A slot whose bucket has refilled
 * completely is as good as empty and is reused; when a probe run holds no
 * such slot, the least recently used one is taken over. Thread-safe.
 */
#ifndef EML_RATELIMIT_H
#define EML_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

#define EML_RL_NAME_MAX 80u
#define EML_RL_SLOTS_DEFAULT 8192u

struct eml_rl_slot;

struct eml_ratelimit {
	pthread_mutex_t mu;
	struct eml_rl_slot *slots;
	size_t cap;
};

/* A request charged to up to two buckets. A rate of 0 means no limit for
 * that name; a NULL name is skipped. */
struct eml_rl_charge {
	const char *name[2];
	uint32_t rate[2];
};

eml_err eml_ratelimit_init(struct eml_ratelimit *r, size_t slots) EML_MUST_USE;
void eml_ratelimit_free(struct eml_ratelimit *r);

/*
 * Take one token from every bucket of the charge at now_ms (monotonic),
 * all or none. Returns -1 when granted; otherwise the index (0 or 1) of
 * the first bucket that was empty, with *retry_ms the milliseconds until
 * it holds a token again (>= 1).
 */
int eml_ratelimit_take(struct eml_ratelimit *r, const struct eml_rl_charge *ch, int64_t now_ms,
    int64_t *retry_ms);

#endif
