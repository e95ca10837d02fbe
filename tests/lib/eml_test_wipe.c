#include "eml_test_wipe.h"

#include <pthread.h>
#include <stdint.h>

#include "eml_mem.h"

#define KEEP 4096

struct region {
	const uint8_t *p;
	size_t n;
	bool zero;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static struct region kept[KEEP];
static size_t n_kept, n_seen, n_dirty, largest;
static size_t watch_n, n_watched, n_watched_dirty;
static struct region last;

static void
observe(const void *p, size_t n, void *arg)
{
	const uint8_t *b = p;
	bool zero = true;

	(void)arg;
	for (size_t i = 0; i < n && zero; i++)
		zero = b[i] == 0;
	pthread_mutex_lock(&mu);
	last.p = p;
	last.n = n;
	last.zero = zero;
	if (n_kept < KEEP)
		kept[n_kept++] = last;
	n_seen++;
	n_dirty += zero ? 0 : 1;
	if (n > largest)
		largest = n;
	if (n == watch_n) {
		n_watched++;
		n_watched_dirty += zero ? 0 : 1;
	}
	pthread_mutex_unlock(&mu);
}

void
eml_test_wipe_start(void)
{
	pthread_mutex_lock(&mu);
	n_kept = n_seen = n_dirty = largest = 0;
	watch_n = SIZE_MAX;
	n_watched = n_watched_dirty = 0;
	last.p = NULL;
	last.n = 0;
	pthread_mutex_unlock(&mu);
	eml_mem_set_wipe_observer(observe, NULL);
}

void
eml_test_wipe_stop(void)
{
	eml_mem_set_wipe_observer(NULL, NULL);
}

size_t
eml_test_wipe_count(void)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = n_seen;
	pthread_mutex_unlock(&mu);
	return n;
}

size_t
eml_test_wipe_dirty(void)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = n_dirty;
	pthread_mutex_unlock(&mu);
	return n;
}

void
eml_test_wipe_watch(size_t n)
{
	pthread_mutex_lock(&mu);
	watch_n = n;
	n_watched = n_watched_dirty = 0;
	pthread_mutex_unlock(&mu);
}

size_t
eml_test_wipe_watched(size_t *dirty)
{
	size_t c;

	pthread_mutex_lock(&mu);
	c = n_watched;
	if (dirty != NULL)
		*dirty = n_watched_dirty;
	pthread_mutex_unlock(&mu);
	return c;
}

size_t
eml_test_wipe_largest(void)
{
	size_t n;

	pthread_mutex_lock(&mu);
	n = largest;
	pthread_mutex_unlock(&mu);
	return n;
}

bool
eml_test_wipe_last(const void **p, size_t *n, bool *zero)
{
	bool any;

	pthread_mutex_lock(&mu);
	any = n_seen > 0;
	*p = last.p;
	*n = last.n;
	*zero = last.zero;
	pthread_mutex_unlock(&mu);
	return any;
}

bool
eml_test_wipe_covers(const void *p, size_t n)
{
	uintptr_t a = (uintptr_t)p;
	bool found = false;

	pthread_mutex_lock(&mu);
	for (size_t i = 0; i < n_kept && !found; i++) {
		uintptr_t r = (uintptr_t)kept[i].p;

		found = a >= r && a + n <= r + kept[i].n;
	}
	pthread_mutex_unlock(&mu);
	return found;
}
