#include "eml_attest_cache.h"

#include <pthread.h>
#include <string.h>

#include <sodium.h>

#include "eml_mem.h"

struct entry {
	bool live;
	uint8_t h[EML_ATTEST_SHA384_LEN];
	uint8_t issuer[EML_ATTEST_SHA384_LEN];
	uint8_t root[EML_ATTEST_SHA384_LEN];
	int64_t not_before;
	int64_t not_after;
	uint64_t used; /* tick of the last hit or insertion */
};

struct eml_attest_cache {
	pthread_mutex_t mu;
	struct entry e[EML_ATTEST_CACHE_MAX];
	uint64_t tick;
	uint64_t hits;
	uint64_t misses;
};

eml_err
eml_attest_cache_new(struct eml_attest_cache **out)
{
	struct eml_attest_cache *c;

	EML_ENSURE_REF(out);
	c = eml_calloc(1, sizeof(*c));
	EML_ENSURE(c != NULL, EML_ERR_NOMEM);
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		eml_free(c);
		EML_BAIL(EML_ERR_NOMEM);
	}
	*out = c;
	return EML_OK;
}

void
eml_attest_cache_free(struct eml_attest_cache *c)
{
	if (c == NULL)
		return;
	(void)pthread_mutex_destroy(&c->mu);
	eml_free(c);
}

static struct entry *
find(struct eml_attest_cache *c, const uint8_t h[EML_ATTEST_SHA384_LEN])
{
	for (size_t i = 0; i < EML_ATTEST_CACHE_MAX; i++)
		if (c->e[i].live && sodium_memcmp(c->e[i].h, h, EML_ATTEST_SHA384_LEN) == 0)
			return &c->e[i];
	return NULL;
}

bool
eml_attest_cache_has(struct eml_attest_cache *c, const uint8_t h[EML_ATTEST_SHA384_LEN],
    const uint8_t issuer[EML_ATTEST_SHA384_LEN], const uint8_t root[EML_ATTEST_SHA384_LEN],
    int64_t at_s)
{
	struct entry *e;
	bool ok;

	if (c == NULL)
		return false;
	(void)pthread_mutex_lock(&c->mu);
	e = find(c, h);
	ok = e != NULL && sodium_memcmp(e->issuer, issuer, EML_ATTEST_SHA384_LEN) == 0 &&
	    sodium_memcmp(e->root, root, EML_ATTEST_SHA384_LEN) == 0 && e->not_before <= at_s &&
	    at_s < e->not_after;
	if (ok) {
		e->used = ++c->tick;
		c->hits++;
	} else {
		c->misses++;
	}
	(void)pthread_mutex_unlock(&c->mu);
	return ok;
}

void
eml_attest_cache_put(struct eml_attest_cache *c, const uint8_t h[EML_ATTEST_SHA384_LEN],
    const uint8_t issuer[EML_ATTEST_SHA384_LEN], const uint8_t root[EML_ATTEST_SHA384_LEN],
    int64_t not_before, int64_t not_after)
{
	struct entry *e;

	if (c == NULL)
		return;
	(void)pthread_mutex_lock(&c->mu);
	e = find(c, h);
	for (size_t i = 0; e == NULL && i < EML_ATTEST_CACHE_MAX; i++)
		if (!c->e[i].live)
			e = &c->e[i];
	if (e == NULL) { /* full: the least recently used goes */
		e = &c->e[0];
		for (size_t i = 1; i < EML_ATTEST_CACHE_MAX; i++)
			if (c->e[i].used < e->used)
				e = &c->e[i];
	}
	e->live = true;
	memcpy(e->h, h, EML_ATTEST_SHA384_LEN);
	memcpy(e->issuer, issuer, EML_ATTEST_SHA384_LEN);
	memcpy(e->root, root, EML_ATTEST_SHA384_LEN);
	e->not_before = not_before;
	e->not_after = not_after;
	e->used = ++c->tick;
	(void)pthread_mutex_unlock(&c->mu);
}

void
eml_attest_cache_stats(struct eml_attest_cache *c, size_t *entries, uint64_t *hits,
    uint64_t *misses)
{
	size_t n = 0;

	if (c == NULL)
		return;
	(void)pthread_mutex_lock(&c->mu);
	for (size_t i = 0; i < EML_ATTEST_CACHE_MAX; i++)
		n += c->e[i].live ? 1 : 0;
	if (entries != NULL)
		*entries = n;
	if (hits != NULL)
		*hits = c->hits;
	if (misses != NULL)
		*misses = c->misses;
	(void)pthread_mutex_unlock(&c->mu);
}

void
eml_attest_cache_clear(struct eml_attest_cache *c)
{
	if (c == NULL)
		return;
	(void)pthread_mutex_lock(&c->mu);
	memset(c->e, 0, sizeof(c->e));
	c->tick = 0;
	(void)pthread_mutex_unlock(&c->mu);
}
