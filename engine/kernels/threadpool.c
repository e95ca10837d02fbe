/*
 * Thread pool: nthreads - 1 workers created once; the caller is thread 0
 * and works too. A run publishes (fn, arg, ntasks) under the mutex, bumps a
 * generation number and wakes the workers; tasks are handed out with one
 * atomic counter, so a run allocates nothing. Runs from different callers
 * are serialised by run_mu (the engine runs one graph per pool at a time;
 * this only keeps misuse from corrupting state).
 *
 * The caller never waits for a worker that has not joined the run: on a
 * loaded machine a worker may not be scheduled for milliseconds, and then
 * the caller simply does all the tasks itself. When the caller has drained
 * the counter it closes the run; it then waits only for the workers that
 * joined (they are finishing their last task). A worker that wakes after
 * the close skips that run.
 *
 * Workers spin briefly on the generation before sleeping: on a busy 2-core
 * machine a long spin steals the core from the caller, so the spin is
 * short.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "eml_mem.h"
#include "engine/kernels/eml_kernels.h"

#define POOL_MAX_THREADS 256
#define POOL_SPIN 2000

struct eml_pool {
	int n;
	pthread_t *threads;
	pthread_mutex_t run_mu; /* one run at a time */
	pthread_mutex_t mu;
	pthread_cond_t cv_start;
	pthread_cond_t cv_done;
	/* Under mu. */
	eml_pool_fn fn;
	void *arg;
	size_t ntasks;
	bool stop;
	bool closed; /* the caller finished the current run */
	int active;  /* workers inside the current run */
	atomic_uint_fast64_t gen;
	atomic_size_t next;
};

struct pool_worker_arg {
	struct eml_pool *p;
	int index;
};

static void
pool_drain(struct eml_pool *p, eml_pool_fn fn, void *arg, size_t ntasks, int thread)
{
	for (;;) {
		size_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);

		if (t >= ntasks)
			break;
		fn(arg, t, thread);
	}
}

static void *
pool_worker(void *varg)
{
	struct eml_pool *p = ((struct pool_worker_arg *)varg)->p;
	int index = ((struct pool_worker_arg *)varg)->index;
	uint_fast64_t seen = 0;

	eml_free(varg);
	for (;;) {
		eml_pool_fn fn;
		void *arg;
		size_t ntasks;
		int spin;

		for (spin = 0; spin < POOL_SPIN; spin++) {
			if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen)
				break;
		}
		pthread_mutex_lock(&p->mu);
		while (!p->stop && atomic_load_explicit(&p->gen, memory_order_acquire) == seen)
			pthread_cond_wait(&p->cv_start, &p->mu);
		if (p->stop) {
			pthread_mutex_unlock(&p->mu);
			break;
		}
		seen = atomic_load_explicit(&p->gen, memory_order_acquire);
		if (p->closed) { /* too late for this run */
			pthread_mutex_unlock(&p->mu);
			continue;
		}
		p->active++;
		fn = p->fn;
		arg = p->arg;
		ntasks = p->ntasks;
		pthread_mutex_unlock(&p->mu);

		pool_drain(p, fn, arg, ntasks, index);

		pthread_mutex_lock(&p->mu);
		if (--p->active == 0 && p->closed)
			pthread_cond_signal(&p->cv_done);
		pthread_mutex_unlock(&p->mu);
	}
	return NULL;
}

eml_err
eml_pool_new(int nthreads, struct eml_pool **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_pool *p = NULL;
	int started = 0;

	if (out == NULL)
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	*out = NULL;
	if (nthreads < 1 || nthreads > POOL_MAX_THREADS) {
		eml_err_set_detail("thread count %d outside 1..%d", nthreads, POOL_MAX_THREADS);
		return eml_err_record(EML_ERR_KERNEL_PARAMS, __FILE__, __LINE__, __func__);
	}
	p = eml_calloc(1, sizeof(*p));
	if (p == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	p->n = nthreads;
	pthread_mutex_init(&p->run_mu, NULL);
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->cv_start, NULL);
	pthread_cond_init(&p->cv_done, NULL);
	p->closed = true;
	atomic_init(&p->gen, 0);
	atomic_init(&p->next, 0);
	if (nthreads > 1) {
		p->threads = eml_calloc((size_t)nthreads - 1, sizeof(*p->threads));
		if (p->threads == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
	}
	for (started = 0; started < nthreads - 1; started++) {
		struct pool_worker_arg *wa = eml_alloc(sizeof(*wa));

		if (wa == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
		wa->p = p;
		wa->index = started + 1;
		if (pthread_create(&p->threads[started], NULL, pool_worker, wa) != 0) {
			eml_free(wa);
			eml_err_set_detail("pthread_create failed after %d workers", started);
			EML_FAIL(rc, EML_ERR_NOMEM);
		}
	}
	*out = p;
	p = NULL; /* transferred */
	rc = EML_OK;
out:
	if (p != NULL) {
		p->n = started + 1; /* join only what started */
		eml_pool_free(p);
	}
	return rc;
}

void
eml_pool_free(struct eml_pool *p)
{
	int i;

	if (p == NULL)
		return;
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv_start);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->n - 1; i++)
		pthread_join(p->threads[i], NULL);
	pthread_cond_destroy(&p->cv_done);
	pthread_cond_destroy(&p->cv_start);
	pthread_mutex_destroy(&p->mu);
	pthread_mutex_destroy(&p->run_mu);
	eml_free(p->threads);
	eml_free(p);
}

int
eml_pool_size(const struct eml_pool *p)
{
	return p == NULL ? 1 : p->n;
}

void
eml_pool_run(struct eml_pool *p, size_t ntasks, eml_pool_fn fn, void *arg)
{
	size_t t;

	if (ntasks == 0)
		return;
	if (p == NULL || p->n == 1 || ntasks == 1) {
		for (t = 0; t < ntasks; t++)
			fn(arg, t, 0);
		return;
	}
	pthread_mutex_lock(&p->run_mu);
	pthread_mutex_lock(&p->mu);
	p->fn = fn;
	p->arg = arg;
	p->ntasks = ntasks;
	p->closed = false;
	/* No worker is inside a run here (the last run waited for them), so
	 * the counter can be reset. */
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&p->gen, 1, memory_order_release);
	pthread_cond_broadcast(&p->cv_start);
	pthread_mutex_unlock(&p->mu);

	pool_drain(p, fn, arg, ntasks, 0);

	/* Close the run; wait only for the workers that joined it. */
	pthread_mutex_lock(&p->mu);
	p->closed = true;
	while (p->active > 0)
		pthread_cond_wait(&p->cv_done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	pthread_mutex_unlock(&p->run_mu);
}
