#include "eml_ratelimit.h"

#include <stdio.h>
#include <string.h>

#include "eml_mem.h"

/* One token, in bucket units; a rate of R per minute adds R units/ms. */
#define UNIT 60000
/* Slots looked at from a name's home slot before one is taken over. */
#define PROBES 32u

struct eml_rl_slot {
	char name[EML_RL_NAME_MAX];
	bool used;
	uint32_t rate;
	int64_t level; /* units */
	int64_t last_ms;
};

eml_err
eml_ratelimit_init(struct eml_ratelimit *r, size_t slots)
{
	EML_ENSURE_REF(r);
	memset(r, 0, sizeof(*r));
	EML_ENSURE(slots >= PROBES, EML_ERR_USAGE);
	r->slots = eml_calloc(slots, sizeof(*r->slots));
	EML_ENSURE(r->slots != NULL, EML_ERR_NOMEM);
	r->cap = slots;
	(void)pthread_mutex_init(&r->mu, NULL);
	return EML_OK;
}

void
eml_ratelimit_free(struct eml_ratelimit *r)
{
	if (r == NULL || r->slots == NULL)
		return;
	(void)pthread_mutex_destroy(&r->mu);
	eml_free(r->slots);
	r->slots = NULL;
	r->cap = 0;
}

static uint64_t
fnv1a(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	for (; *s != '\0'; s++) {
		h ^= (uint8_t)*s;
		h *= 1099511628211ull;
	}
	return h;
}

/* The bucket's level brought up to now (capped at full). */
static int64_t
level_at(const struct eml_rl_slot *s, uint32_t rate, int64_t now)
{
	int64_t full = (int64_t)rate * UNIT;
	int64_t dt = now > s->last_ms ? now - s->last_ms : 0;
	int64_t lv = s->level;

	/* dt * rate overflows only after centuries; cap dt at a minute,
	 * which refills any bucket. */
	if (dt > UNIT)
		dt = UNIT;
	lv += dt * (int64_t)rate;
	return lv > full ? full : lv;
}

/* The slot for name: found, or claimed (a new bucket starts full). */
static struct eml_rl_slot *
slot_for(struct eml_ratelimit *r, const char *name, uint32_t rate, int64_t now,
    const struct eml_rl_slot *keep)
{
	size_t home = (size_t)(fnv1a(name) % r->cap);
	struct eml_rl_slot *spare = NULL, *lru = NULL;

	for (size_t k = 0; k < PROBES; k++) {
		struct eml_rl_slot *s = &r->slots[(home + k) % r->cap];

		if (s->used && strcmp(s->name, name) == 0)
			return s;
		if (s == keep)
			continue;
		if (!s->used || level_at(s, s->rate, now) >= (int64_t)s->rate * UNIT) {
			if (spare == NULL)
				spare = s;
		} else if (lru == NULL || s->last_ms < lru->last_ms) {
			lru = s;
		}
	}
	if (spare == NULL)
		spare = lru;
	memset(spare, 0, sizeof(*spare));
	spare->used = true;
	(void)snprintf(spare->name, sizeof(spare->name), "%s", name);
	spare->rate = rate;
	spare->level = (int64_t)rate * UNIT;
	spare->last_ms = now;
	return spare;
}

int
eml_ratelimit_take(struct eml_ratelimit *r, const struct eml_rl_charge *ch, int64_t now_ms,
    int64_t *retry_ms)
{
	struct eml_rl_slot *s[2] = { NULL, NULL };
	int refused = -1;

	if (retry_ms != NULL)
		*retry_ms = 0;
	if (r == NULL || ch == NULL)
		return -1;
	(void)pthread_mutex_lock(&r->mu);
	for (int i = 0; i < 2; i++) {
		if (ch->name[i] == NULL || ch->rate[i] == 0)
			continue;
		s[i] = slot_for(r, ch->name[i], ch->rate[i], now_ms, i == 1 ? s[0] : NULL);
		/* A rate changed by a reload applies from now on. */
		s[i]->level = level_at(s[i], ch->rate[i], now_ms);
		s[i]->rate = ch->rate[i];
		s[i]->last_ms = now_ms;
		if (refused < 0 && s[i]->level < UNIT) {
			refused = i;
			if (retry_ms != NULL)
				*retry_ms = (UNIT - s[i]->level + ch->rate[i] - 1) / ch->rate[i];
		}
	}
	if (refused < 0) {
		for (int i = 0; i < 2; i++)
			if (s[i] != NULL)
				s[i]->level -= UNIT;
	}
	(void)pthread_mutex_unlock(&r->mu);
	return refused;
}
