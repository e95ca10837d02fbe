#include "eml_upstream.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eml_log.h"
#include "eml_mem.h"

const char *
eml_upstream_state_name(enum eml_upstream_state s)
{
	switch (s) {
	case EML_UPSTREAM_UNKNOWN:
		return "unknown";
	case EML_UPSTREAM_UP:
		return "up";
	case EML_UPSTREAM_DOWN:
		return "down";
	default:
		return "invalid";
	}
}

eml_err
eml_upstream_pool_init(struct eml_upstream_pool *p, const char *const *addrs, size_t n,
    unsigned rise, unsigned fall)
{
	EML_ENSURE(p != NULL && addrs != NULL, EML_ERR_NULL);
	memset(p, 0, sizeof(*p));
	if (n == 0 || n > EML_UPSTREAMS_MAX) {
		eml_err_set_detail("between 1 and %u agents, not %zu", EML_UPSTREAMS_MAX, n);
		EML_BAIL(EML_ERR_CONFIG);
	}
	for (size_t i = 0; i < n; i++) {
		if (addrs[i] == NULL || addrs[i][0] == '\0' ||
		    strlen(addrs[i]) >= EML_UPSTREAM_ADDR_MAX) {
			eml_err_set_detail("agent address %zu is empty or too long", i + 1);
			EML_BAIL(EML_ERR_CONFIG);
		}
	}
	p->agents = eml_calloc(n, sizeof(*p->agents));
	EML_ENSURE(p->agents != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(addrs[i]);

		EML_MEMCPY(p->agents[i].addr, addrs[i], len + 1);
		p->agents[i].state = EML_UPSTREAM_UNKNOWN;
		p->agents[i].last_err = EML_OK;
	}
	p->n = n;
	p->rise = rise < 1 ? 1 : rise;
	p->fall = fall < 1 ? 1 : fall;
	(void)pthread_mutex_init(&p->mu, NULL);
	return EML_OK;
}

void
eml_upstream_pool_free(struct eml_upstream_pool *p)
{
	if (p == NULL || p->agents == NULL)
		return;
	eml_free(p->agents);
	p->agents = NULL;
	p->n = 0;
	(void)pthread_mutex_destroy(&p->mu);
}

/* The transition function; the caller holds the lock. Returns whether the
 * state changed. */
static bool
step(struct eml_upstream *a, bool ok, unsigned rise, unsigned fall)
{
	enum eml_upstream_state before = a->state;

	if (ok) {
		a->fail_streak = 0;
		a->ok_streak++;
	} else {
		a->ok_streak = 0;
		a->fail_streak++;
	}
	switch (a->state) {
	case EML_UPSTREAM_UNKNOWN:
		a->state = ok ? EML_UPSTREAM_UP : EML_UPSTREAM_DOWN;
		break;
	case EML_UPSTREAM_UP:
		if (!ok && a->fail_streak >= fall)
			a->state = EML_UPSTREAM_DOWN;
		break;
	case EML_UPSTREAM_DOWN:
		if (ok && a->ok_streak >= rise)
			a->state = EML_UPSTREAM_UP;
		break;
	default:
		abort();
	}
	return a->state != before;
}

void
eml_upstream_pool_report(struct eml_upstream_pool *p, size_t i, eml_err result, int64_t now_ms)
{
	struct eml_upstream *a;
	enum eml_upstream_state st;
	bool changed;
	char addr[EML_UPSTREAM_ADDR_MAX];

	if (p == NULL || i >= p->n)
		return;
	(void)pthread_mutex_lock(&p->mu);
	a = &p->agents[i];
	a->checks++;
	if (result != EML_OK)
		a->failures++;
	a->last_err = result;
	a->last_check_ms = now_ms;
	changed = step(a, result == EML_OK, p->rise, p->fall);
	if (changed)
		a->last_change_ms = now_ms;
	st = a->state;
	EML_MEMCPY(addr, a->addr, sizeof(addr));
	(void)pthread_mutex_unlock(&p->mu);
	if (changed) {
		if (st == EML_UPSTREAM_UP)
			EML_LOG_INFO("agent.up", NULL, EML_F_STR("agent", addr));
		else
			EML_LOG_WARN("agent.down", NULL, EML_F_STR("agent", addr), EML_F_ERR(result));
	}
}

void
eml_upstream_pool_set_producer(struct eml_upstream_pool *p, size_t i, const char *producer)
{
	if (p == NULL || i >= p->n)
		return;
	(void)pthread_mutex_lock(&p->mu);
	(void)snprintf(p->agents[i].producer, sizeof(p->agents[i].producer), "%s",
	    producer != NULL ? producer : "");
	(void)pthread_mutex_unlock(&p->mu);
}

eml_err
eml_upstream_pool_pick(struct eml_upstream_pool *p, size_t *idx, char *addr, size_t cap)
{
	eml_err rc = EML_ERR_NO_AGENT;

	EML_ENSURE(p != NULL && idx != NULL && p->agents != NULL, EML_ERR_NULL);
	(void)pthread_mutex_lock(&p->mu);
	for (size_t k = 0; k < p->n; k++) {
		size_t i = (p->next + k) % p->n;
		struct eml_upstream *a = &p->agents[i];

		if (a->state == EML_UPSTREAM_DOWN)
			continue;
		a->picks++;
		p->next = (i + 1) % p->n;
		*idx = i;
		if (addr != NULL && cap > 0) {
			size_t len = strnlen(a->addr, cap - 1);

			EML_MEMCPY(addr, a->addr, len);
			addr[len] = '\0';
		}
		rc = EML_OK;
		break;
	}
	(void)pthread_mutex_unlock(&p->mu);
	if (rc != EML_OK)
		eml_err_set_detail("all %zu agents are down", p->n);
	return rc;
}

size_t
eml_upstream_pool_snapshot(struct eml_upstream_pool *p, struct eml_upstream *out, size_t cap)
{
	size_t n;

	if (p == NULL || out == NULL)
		return 0;
	(void)pthread_mutex_lock(&p->mu);
	n = p->n < cap ? p->n : cap;
	EML_MEMCPY(out, p->agents, n * sizeof(*out));
	(void)pthread_mutex_unlock(&p->mu);
	return n;
}

size_t
eml_upstream_pool_up(struct eml_upstream_pool *p)
{
	size_t up = 0;

	if (p == NULL)
		return 0;
	(void)pthread_mutex_lock(&p->mu);
	for (size_t i = 0; i < p->n; i++)
		if (p->agents[i].state == EML_UPSTREAM_UP)
			up++;
	(void)pthread_mutex_unlock(&p->mu);
	return up;
}
