/*
 * Thread pool: nthreads - 1 workers created once; the caller is thread 0
 * and works too. A run publishes (fn, arg, ntasks), bumps a generation
 * number and wakes only the workers that went to sleep; tasks are handed
 * out with one atomic counter, so a run allocates nothing and, when the
 * workers are spinning, takes no lock and makes no system call.
 *
 * The caller never waits for a worker that has not joined the run: on a
 * loaded machine a worker may not be scheduled for milliseconds, and then
 * the caller simply does all the tasks itself. When the caller has drained
 * the counter it closes the run; it then waits only for the workers that
 * joined (they are finishing their last task). A worker joins by counting
 * itself in `active` and then checking `closed` (both sequentially
 * consistent, as are the caller's close and its read of `active`), so a
 * worker that comes late either sees the close and leaves, or is counted
 * and waited for.
 *
 * Workers spin on the generation for POOL_SPIN_NS before they sleep: a
 * graph runs its operators back to back, and the gaps between two
 * parallel operators (an element-wise step, a small convolution run on the
 * caller alone) are tens of microseconds; sleeping in them would cost a
 * futex wake-up and a reschedule per operator. After the spin they sleep
 * on a condition variable, and the caller signals only when one sleeps.
 *
 * Every spin (a worker's, the caller's wait at the end of a run, a task
 * waiting for others) calls sched_yield every EML_POOL_YIELD_POLLS
 * pauses (eml_pool_wait_step). On a loaded machine the scheduler often
 * puts both threads on one CPU while another process has the other: a
 * worker done with its tasks then spun out its whole 0.3 ms while the
 * caller, which would start the next run, waited behind it, at every
 * operator (ResNet at 2 threads, load ~4: 25 ms against 19 on one
 * thread; a pool trace showed ~0.3 ms between the last task of a step
 * and its end). sched_yield costs ~1 us when nothing else waits.
 *
 * Runs from different callers are serialised by run_mu (the engine runs
 * one graph per pool at a time; this only keeps misuse from corrupting
 * state).
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "eml_mem.h"
#include "engine/kernels/eml_kernels.h"

#define POOL_MAX_THREADS 256
#define POOL_SPIN_NS 300000L /* 0.3 ms */

struct eml_pool {
	int n;
	pthread_t *threads;
	pthread_mutex_t run_mu; /* one run at a time */
	pthread_mutex_t mu;     /* sleeping workers and stop */
	pthread_cond_t cv_start;
	bool stop; /* under mu */
	size_t min_work;
	/* Published by the caller before gen is bumped. */
	eml_pool_fn fn;
	void *arg;
	size_t ntasks;
	atomic_bool closed; /* the caller finished the current run */
	atomic_int active;  /* workers inside the current run */
	atomic_int sleepers;
	atomic_uint_fast64_t gen;
	atomic_size_t next;
	/* Cancellation: the run's deadline, and whether it has passed. */
	atomic_uint_fast64_t deadline_ns;
	atomic_bool cancelled;
};

struct pool_worker_arg {
	struct eml_pool *p;
	int index;
};

static inline void
cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static long
now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

/* EML_POOL_MIN_WORK overrides the threshold (benchmarks: 0 splits every
 * operator, as before the cost model). */
static size_t
pool_min_work(void)
{
	const char *env = getenv("EML_POOL_MIN_WORK");
	char *end = NULL;
	unsigned long long v;

	if (env == NULL || *env == '\0')
		return EML_POOL_MIN_WORK;
	v = strtoull(env, &end, 10);
	return end != NULL && *end == '\0' ? (size_t)v : EML_POOL_MIN_WORK;
}

static void
pool_drain(struct eml_pool *p, eml_pool_fn fn, void *arg, size_t ntasks, int thread)
{
	for (;;) {
		size_t t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);

		if (t >= ntasks)
			break;
		if (!eml_pool_cancelled(p))
			fn(arg, t, thread);
	}
}

bool
eml_pool_wait_step(unsigned *polls)
{
	if (++*polls % EML_POOL_YIELD_POLLS == 0) {
		(void)sched_yield();
		return true;
	}
	cpu_relax();
	return false;
}

/* Spin until the generation moves past seen (true) or the spin time is
 * over (false). The clock is read every 256 polls; eml_pool_wait_step
 * yields the CPU every EML_POOL_YIELD_POLLS. */
static bool
pool_spin(struct eml_pool *p, uint_fast64_t seen)
{
	long t0 = now_ns();
	unsigned polls = 0;

	for (;;) {
		for (int i = 0; i < 256; i++) {
			if (atomic_load_explicit(&p->gen, memory_order_acquire) != seen)
				return true;
			(void)eml_pool_wait_step(&polls);
		}
		if (now_ns() - t0 > POOL_SPIN_NS)
			return false;
	}
}

/* Sleep until the generation moves or the pool stops; false on stop. */
static bool
pool_sleep(struct eml_pool *p, uint_fast64_t seen)
{
	bool go;

	pthread_mutex_lock(&p->mu);
	atomic_fetch_add(&p->sleepers, 1);
	while (!p->stop && atomic_load(&p->gen) == seen)
		pthread_cond_wait(&p->cv_start, &p->mu);
	atomic_fetch_sub(&p->sleepers, 1);
	go = !p->stop;
	pthread_mutex_unlock(&p->mu);
	return go;
}

static void *
pool_worker(void *varg)
{
	struct eml_pool *p = ((struct pool_worker_arg *)varg)->p;
	int index = ((struct pool_worker_arg *)varg)->index;
	uint_fast64_t seen = 0;

	eml_free(varg);
	for (;;) {
		if (!pool_spin(p, seen) && !pool_sleep(p, seen))
			break;
		seen = atomic_load(&p->gen);
		if (seen == UINT64_MAX) /* eml_pool_free */
			break;
		atomic_fetch_add(&p->active, 1);
		if (!atomic_load(&p->closed))
			pool_drain(p, p->fn, p->arg, p->ntasks, index);
		atomic_fetch_sub(&p->active, 1);
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
	atomic_init(&p->closed, true);
	atomic_init(&p->active, 0);
	atomic_init(&p->sleepers, 0);
	atomic_init(&p->gen, 0);
	atomic_init(&p->next, 0);
	p->min_work = pool_min_work();
	atomic_init(&p->deadline_ns, 0);
	atomic_init(&p->cancelled, false);
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
	/* Spinning workers see the last generation, sleeping ones stop. */
	atomic_store(&p->gen, UINT64_MAX);
	pthread_mutex_lock(&p->mu);
	p->stop = true;
	pthread_cond_broadcast(&p->cv_start);
	pthread_mutex_unlock(&p->mu);
	for (i = 0; i < p->n - 1; i++)
		pthread_join(p->threads[i], NULL);
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
	unsigned polls = 0;

	if (ntasks == 0)
		return;
	if (p == NULL || p->n == 1 || ntasks == 1) {
		for (t = 0; t < ntasks && !eml_pool_cancelled(p); t++)
			fn(arg, t, 0);
		return;
	}
	pthread_mutex_lock(&p->run_mu);
	/* No worker is inside a run here (the last run waited for them, and
	 * a late one sees closed), so the fields can be rewritten. */
	p->fn = fn;
	p->arg = arg;
	p->ntasks = ntasks;
	atomic_store_explicit(&p->next, 0, memory_order_relaxed);
	atomic_store(&p->closed, false);
	atomic_fetch_add(&p->gen, 1);
	if (atomic_load(&p->sleepers) > 0) {
		pthread_mutex_lock(&p->mu);
		pthread_cond_broadcast(&p->cv_start);
		pthread_mutex_unlock(&p->mu);
	}

	pool_drain(p, fn, arg, ntasks, 0);

	/* Close the run; wait only for the workers that joined it (they are
	 * in their last task). */
	atomic_store(&p->closed, true);
	while (atomic_load(&p->active) > 0)
		(void)eml_pool_wait_step(&polls);
	pthread_mutex_unlock(&p->run_mu);
}

struct pool_range_job {
	eml_pool_range_fn fn;
	void *arg;
	size_t n, ranges; /* items, ranges */
};

/* Range task covers [task n / ranges, (task + 1) n / ranges): the ranges'
 * sizes differ by at most one item, so the threads' shares are as even as
 * the item count allows (ceil-sized ranges left a short last one and
 * fewer tasks than threads x EML_POOL_RANGES_PER_THREAD: 65 items on two
 * threads were 7 ranges of 9 and one of 2). */
static void
pool_range_task(void *arg, size_t task, int thread)
{
	const struct pool_range_job *j = arg;
	size_t i0 = task * j->n / j->ranges;
	size_t i1 = (task + 1) * j->n / j->ranges;

	j->fn(j->arg, i0, i1, thread);
}

void
eml_pool_run_range(struct eml_pool *p, size_t n, eml_pool_range_fn fn, void *arg)
{
	struct pool_range_job j = { fn, arg, n, 1 };

	if (n == 0)
		return;
	if (p == NULL || p->n == 1) {
		if (!eml_pool_cancelled(p))
			fn(arg, 0, n, 0);
		return;
	}
	j.ranges = (size_t)p->n * EML_POOL_RANGES_PER_THREAD;
	if (j.ranges > n)
		j.ranges = n;
	eml_pool_run(p, j.ranges, pool_range_task, &j);
}

struct eml_pool *
eml_pool_for(struct eml_pool *p, double work)
{
	/* One thread: eml_pool_run runs on the caller anyway; the pool is
	 * kept so that long kernels still see the cancellation check. */
	if (p != NULL && p->n == 1)
		return p;
	return p == NULL || work < (double)p->min_work ? NULL : p;
}

uint64_t
eml_pool_now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
eml_pool_set_deadline(struct eml_pool *p, uint64_t deadline_ns)
{
	if (p == NULL)
		return;
	atomic_store_explicit(&p->cancelled, false, memory_order_relaxed);
	atomic_store_explicit(&p->deadline_ns, deadline_ns, memory_order_release);
}

bool
eml_pool_cancelled(struct eml_pool *p)
{
	uint_fast64_t d;

	if (p == NULL)
		return false;
	d = atomic_load_explicit(&p->deadline_ns, memory_order_acquire);
	if (d == 0)
		return false;
	if (atomic_load_explicit(&p->cancelled, memory_order_relaxed))
		return true;
	if (eml_pool_now_ns() < d)
		return false;
	atomic_store_explicit(&p->cancelled, true, memory_order_relaxed);
	return true;
}
