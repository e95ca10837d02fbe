/*
 * Thread pool: every task runs exactly once per run, thread indices stay
 * in [0, size), the caller participates, many repeated runs (the
 * generation handshake), NULL pool, bad sizes; the cancellation check
 * (a deadline passed: no task runs; none or a future one: all run).
 */
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "kernels_util.h"

#define MAX_TASKS 5000

struct count_job {
	atomic_int hits[MAX_TASKS];
	atomic_int bad_thread;
	atomic_int per_thread[8];
	int size;
};

static void
count_task(void *arg, size_t task, int thread)
{
	struct count_job *j = arg;

	atomic_fetch_add(&j->hits[task], 1);
	if (thread < 0 || thread >= j->size)
		atomic_fetch_add(&j->bad_thread, 1);
	else
		atomic_fetch_add(&j->per_thread[thread], 1);
}

static void
pool_runs_every_task_once(void **state)
{
	static struct count_job job;
	static const size_t counts[] = { 0, 1, 2, 3, 7, 64, 1000, MAX_TASKS };
	int n;

	(void)state;
	for (n = 1; n <= 4; n++) {
		struct eml_pool *p = NULL;
		int rep;

		assert_eml_ok(eml_pool_new(n, &p));
		assert_int_equal(eml_pool_size(p), n);
		for (rep = 0; rep < 300; rep++) {
			size_t c = counts[(size_t)rep % (sizeof(counts) / sizeof(counts[0]))], t;

			memset(&job, 0, sizeof(job));
			job.size = n;
			eml_pool_run(p, c, count_task, &job);
			for (t = 0; t < c; t++)
				if (atomic_load(&job.hits[t]) != 1)
					fail_msg("threads %d run %d: task %zu ran %d times", n, rep, t,
					    atomic_load(&job.hits[t]));
			for (; t < MAX_TASKS; t++)
				assert_int_equal(atomic_load(&job.hits[t]), 0);
			assert_int_equal(atomic_load(&job.bad_thread), 0);
		}
		eml_pool_free(p);
	}
}

/* eml_pool_run_range: every item in exactly one range, ranges never
 * empty, min(n, EML_POOL_RANGES_PER_THREAD per thread) of them, their
 * sizes differing by at most one item (balanced shares), one range [0, n)
 * without a pool. */
struct range_job {
	atomic_int hits[MAX_TASKS];
	atomic_int ranges;
	atomic_int bad;
	atomic_size_t min_len, max_len;
	int size;
};

static void
range_task(void *arg, size_t i0, size_t i1, int thread)
{
	struct range_job *j = arg;

	atomic_fetch_add(&j->ranges, 1);
	for (size_t m = atomic_load(&j->min_len); i1 - i0 < m;)
		if (atomic_compare_exchange_weak(&j->min_len, &m, i1 - i0))
			break;
	for (size_t m = atomic_load(&j->max_len); i1 - i0 > m;)
		if (atomic_compare_exchange_weak(&j->max_len, &m, i1 - i0))
			break;
	if (i0 >= i1 || i1 > MAX_TASKS || thread < 0 || thread >= j->size)
		atomic_fetch_add(&j->bad, 1);
	for (size_t i = i0; i < i1 && i < MAX_TASKS; i++)
		atomic_fetch_add(&j->hits[i], 1);
}

static void
pool_run_range_covers_once(void **state)
{
	static struct range_job job;
	static const size_t counts[] = { 0, 1, 2, 3, 7, 8, 9, 63, 64, 65, 1001, MAX_TASKS };
	int n;

	(void)state;
	for (n = 0; n <= 3; n++) {
		struct eml_pool *p = NULL;

		if (n > 0)
			assert_eml_ok(eml_pool_new(n, &p));
		for (size_t k = 0; k < sizeof(counts) / sizeof(counts[0]); k++) {
			size_t c = counts[k], t;
			int size = n == 0 ? 1 : n;

			memset(&job, 0, sizeof(job));
			job.size = size;
			atomic_store(&job.min_len, SIZE_MAX);
			eml_pool_run_range(p, c, range_task, &job);
			for (t = 0; t < MAX_TASKS; t++)
				if (atomic_load(&job.hits[t]) != (t < c ? 1 : 0))
					fail_msg("threads %d n %zu: item %zu ran %d times", n, c, t,
					    atomic_load(&job.hits[t]));
			assert_int_equal(atomic_load(&job.bad), 0);
			if (c == 0)
				assert_int_equal(atomic_load(&job.ranges), 0);
			else if (size == 1)
				assert_int_equal(atomic_load(&job.ranges), 1);
			else {
				size_t want = (size_t)size * EML_POOL_RANGES_PER_THREAD;

				assert_int_equal(atomic_load(&job.ranges), c < want ? c : want);
				if (atomic_load(&job.max_len) - atomic_load(&job.min_len) > 1)
					fail_msg("threads %d n %zu: ranges of %zu to %zu items", n, c,
					    atomic_load(&job.min_len), atomic_load(&job.max_len));
			}
		}
		eml_pool_free(p);
	}
}

/* The caller is thread 0 and does work: with a task that waits until a
 * worker has also started, both must participate. */
struct meet_job {
	atomic_int seen[2];
};

static void
meet_task(void *arg, size_t task, int thread)
{
	struct meet_job *j = arg;
	long spins = 0;

	(void)task;
	atomic_store(&j->seen[thread], 1);
	/* Wait (bounded) for the other thread to show up. */
	while (atomic_load(&j->seen[1 - thread]) == 0 && spins++ < 200000000L)
		;
}

static void
pool_caller_participates(void **state)
{
	struct eml_pool *p = NULL;
	struct meet_job j;

	(void)state;
	assert_eml_ok(eml_pool_new(2, &p));
	memset(&j, 0, sizeof(j));
	eml_pool_run(p, 2, meet_task, &j);
	assert_int_equal(atomic_load(&j.seen[0]), 1);
	assert_int_equal(atomic_load(&j.seen[1]), 1);
	eml_pool_free(p);
}

/* With every thread of the process on one CPU (both pool threads share
 * it, as when another process has the other CPU), runs where each task
 * waits for the other thread to show up (so each thread must get the CPU
 * while the other one spins) and runs of many tasks still complete with
 * every task once. */
static void
pool_one_cpu(void **state)
{
	static struct count_job job;
	cpu_set_t one, old;
	struct eml_pool *p = NULL;
	int r;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(old), &old), 0);
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() > 0 ? (size_t)sched_getcpu() : 0u, &one);
	assert_int_equal(sched_setaffinity(0, sizeof(one), &one), 0);
	assert_eml_ok(eml_pool_new(2, &p)); /* the worker inherits the mask */
	for (r = 0; r < 20; r++) {
		struct meet_job j;

		memset(&j, 0, sizeof(j));
		eml_pool_run(p, 2, meet_task, &j);
		assert_int_equal(atomic_load(&j.seen[0]) + atomic_load(&j.seen[1]), 2);
		memset(&job, 0, sizeof(job));
		job.size = 2;
		eml_pool_run(p, 64, count_task, &job);
		for (size_t t = 0; t < 64; t++)
			assert_int_equal(atomic_load(&job.hits[t]), 1);
	}
	eml_pool_free(p);
	assert_int_equal(sched_setaffinity(0, sizeof(old), &old), 0);
}

/* eml_pool_wait_step: a pause per step, a yield every
 * EML_POOL_YIELD_POLLS steps and only then. */
static void
pool_wait_step_yields(void **state)
{
	unsigned polls = 0, yields = 0;

	(void)state;
	for (unsigned i = 1; i <= 3 * EML_POOL_YIELD_POLLS + 5; i++) {
		bool y = eml_pool_wait_step(&polls);

		assert_int_equal(y, i % EML_POOL_YIELD_POLLS == 0);
		yields += y;
	}
	assert_int_equal(yields, 3);
	assert_int_equal(polls, 3 * EML_POOL_YIELD_POLLS + 5);
}

/* The cost model: a pool is used for work at or above the threshold,
 * never for less (a one-thread pool is kept: it runs inline); the
 * environment variable moves the threshold. */
static void
pool_cost_model(void **state)
{
	struct eml_pool *p = NULL, *one = NULL;

	(void)state;
	(void)unsetenv("EML_POOL_MIN_WORK");
	assert_eml_ok(eml_pool_new(2, &p));
	assert_eml_ok(eml_pool_new(1, &one));
	assert_null(eml_pool_for(NULL, 1e12));
	/* one thread: runs stay on the caller anyway; the pool is kept for
	 * the cancellation check (the wall-time limit) */
	assert_ptr_equal(eml_pool_for(one, 1e12), one);
	assert_ptr_equal(eml_pool_for(one, 0.0), one);
	assert_ptr_equal(eml_pool_for(p, (double)EML_POOL_MIN_WORK), p);
	assert_ptr_equal(eml_pool_for(p, 1e12), p);
	assert_null(eml_pool_for(p, (double)EML_POOL_MIN_WORK - 1.0));
	assert_null(eml_pool_for(p, 0.0));
	eml_pool_free(p);
	(void)setenv("EML_POOL_MIN_WORK", "0", 1);
	assert_eml_ok(eml_pool_new(2, &p));
	assert_ptr_equal(eml_pool_for(p, 0.0), p);
	eml_pool_free(p);
	(void)setenv("EML_POOL_MIN_WORK", "1000x", 1); /* not a number: default */
	assert_eml_ok(eml_pool_new(2, &p));
	assert_null(eml_pool_for(p, (double)EML_POOL_MIN_WORK - 1.0));
	eml_pool_free(p);
	(void)unsetenv("EML_POOL_MIN_WORK");
	eml_pool_free(one);
}

/* Many short runs back to back, with pauses long enough that the workers
 * go from spinning to sleeping and back: every task still runs once. */
static void
pool_spin_then_sleep(void **state)
{
	static struct count_job job;
	struct eml_pool *p = NULL;
	int r;

	(void)state;
	assert_eml_ok(eml_pool_new(3, &p));
	for (r = 0; r < 40; r++) {
		size_t c = (size_t)(r % 7) + 2;

		memset(&job, 0, sizeof(job));
		job.size = 3;
		eml_pool_run(p, c, count_task, &job);
		for (size_t t = 0; t < c; t++)
			assert_int_equal(atomic_load(&job.hits[t]), 1);
		assert_int_equal(atomic_load(&job.bad_thread), 0);
		if (r % 10 == 9) {
			struct timespec ts = { 0, 2000000 }; /* 2 ms: past the spin */

			nanosleep(&ts, NULL);
		}
	}
	eml_pool_free(p);
}

/* Stops the run's clock: the first task moves the deadline into the past,
 * so every later task is skipped (the check comes before each task). */
struct cancel_job {
	struct eml_pool *p;
	atomic_int ran;
};

static void
cancel_task(void *arg, size_t task, int thread)
{
	struct cancel_job *j = arg;

	(void)task;
	(void)thread;
	if (atomic_fetch_add(&j->ran, 1) == 0)
		eml_pool_set_deadline(j->p, 1);
}

static void
pool_cancellation(void **state)
{
	static struct count_job job;
	int n;

	(void)state;
	assert_false(eml_pool_cancelled(NULL));
	eml_pool_set_deadline(NULL, 1); /* no effect, no crash */
	for (n = 1; n <= 3; n++) {
		struct eml_pool *p = NULL;
		struct cancel_job cj;

		assert_eml_ok(eml_pool_new(n, &p));
		/* No deadline, or one far ahead: every task runs. */
		assert_false(eml_pool_cancelled(p));
		eml_pool_set_deadline(p, eml_pool_now_ns() + 3600ull * 1000000000u);
		memset(&job, 0, sizeof(job));
		job.size = n;
		eml_pool_run(p, 100, count_task, &job);
		for (int t = 0; t < 100; t++)
			assert_int_equal(atomic_load(&job.hits[t]), 1);
		assert_false(eml_pool_cancelled(p));
		/* A deadline already passed: sticky, no task runs. */
		eml_pool_set_deadline(p, 1);
		assert_true(eml_pool_cancelled(p));
		assert_true(eml_pool_cancelled(p));
		memset(&job, 0, sizeof(job));
		job.size = n;
		eml_pool_run(p, 100, count_task, &job);
		for (int t = 0; t < 100; t++)
			assert_int_equal(atomic_load(&job.hits[t]), 0);
		/* Passed during a run: a task in flight on another thread may
		 * still start, the rest are skipped. */
		eml_pool_set_deadline(p, 0);
		cj.p = p;
		atomic_init(&cj.ran, 0);
		eml_pool_run(p, 1000, cancel_task, &cj);
		assert_true(atomic_load(&cj.ran) >= 1 && atomic_load(&cj.ran) <= n);
		/* Cleared: runs again. */
		eml_pool_set_deadline(p, 0);
		assert_false(eml_pool_cancelled(p));
		eml_pool_free(p);
	}
}

static void
pool_null_and_bad_sizes(void **state)
{
	static struct count_job job;
	struct eml_pool *p = (struct eml_pool *)1;

	(void)state;
	assert_int_equal(eml_pool_size(NULL), 1);
	memset(&job, 0, sizeof(job));
	job.size = 1;
	eml_pool_run(NULL, 10, count_task, &job);
	assert_int_equal(atomic_load(&job.per_thread[0]), 10);
	assert_eml(eml_pool_new(0, &p), EML_ERR_KERNEL_PARAMS);
	assert_null(p);
	assert_eml(eml_pool_new(-3, &p), EML_ERR_KERNEL_PARAMS);
	assert_eml(eml_pool_new(100000, &p), EML_ERR_KERNEL_PARAMS);
	assert_eml(eml_pool_new(2, NULL), EML_ERR_NULL);
	eml_pool_free(NULL);
	/* Allocation failure on the way in: clean error, nothing leaked. */
	eml_mem_fail_after(2);
	assert_eml(eml_pool_new(3, &p), EML_ERR_NOMEM);
	eml_mem_fail_after(0);
	assert_null(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pool_null_and_bad_sizes),
		cmocka_unit_test(pool_cost_model),
		cmocka_unit_test(pool_spin_then_sleep),
		cmocka_unit_test(pool_cancellation),
		cmocka_unit_test(pool_caller_participates),
		cmocka_unit_test(pool_one_cpu),
		cmocka_unit_test(pool_wait_step_yields),
		cmocka_unit_test(pool_runs_every_task_once),
		cmocka_unit_test(pool_run_range_covers_once),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
