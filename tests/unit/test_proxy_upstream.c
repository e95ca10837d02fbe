/* eml-proxy agent pool: health state machine and round robin. */
#include "eml_test.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "eml_log.h"
#include "host-proxy/eml_upstream.h"

static const char *const three[] = { "unix:/tmp/a0", "unix:/tmp/a1", "vsock:16:5000" };

static size_t
pick(struct eml_upstream_pool *p)
{
	size_t i = 99;

	assert_eml_ok(eml_upstream_pool_pick(p, &i, NULL, 0));
	return i;
}

static void
init_rejects_bad_config(void **state)
{
	struct eml_upstream_pool p;
	char longaddr[EML_UPSTREAM_ADDR_MAX + 1];
	const char *one[1] = { longaddr };
	const char *empty[1] = { "" };
	const char *many[EML_UPSTREAMS_MAX + 1];

	(void)state;
	memset(longaddr, 'a', sizeof(longaddr) - 1);
	longaddr[sizeof(longaddr) - 1] = '\0';
	assert_eml(eml_upstream_pool_init(&p, three, 0, 1, 1), EML_ERR_CONFIG);
	assert_eml(eml_upstream_pool_init(&p, one, 1, 1, 1), EML_ERR_CONFIG);
	assert_eml(eml_upstream_pool_init(&p, empty, 1, 1, 1), EML_ERR_CONFIG);
	for (size_t i = 0; i < EML_UPSTREAMS_MAX + 1; i++)
		many[i] = "unix:/x";
	assert_eml(eml_upstream_pool_init(&p, many, EML_UPSTREAMS_MAX + 1, 1, 1), EML_ERR_CONFIG);
	assert_eml_ok(eml_upstream_pool_init(&p, many, EML_UPSTREAMS_MAX, 1, 1));
	eml_upstream_pool_free(&p);
	/* the longest address that fits */
	longaddr[EML_UPSTREAM_ADDR_MAX - 1] = '\0';
	assert_eml_ok(eml_upstream_pool_init(&p, one, 1, 1, 1));
	eml_upstream_pool_free(&p);
}

static void
round_robin_skips_down(void **state)
{
	struct eml_upstream_pool p;
	char addr[EML_UPSTREAM_ADDR_MAX];
	char small[8];
	size_t i;

	(void)state;
	assert_eml_ok(eml_upstream_pool_init(&p, three, 3, 1, 1));
	/* unknown agents are eligible, in order, wrapping */
	assert_int_equal(pick(&p), 0);
	assert_int_equal(pick(&p), 1);
	assert_int_equal(pick(&p), 2);
	assert_int_equal(pick(&p), 0);
	/* agent 1 fails: skipped from now on */
	eml_upstream_pool_report(&p, 1, EML_ERR_CONNECT, 10);
	assert_int_equal(pick(&p), 2);
	assert_int_equal(pick(&p), 0);
	assert_int_equal(pick(&p), 2);
	/* address copy, and truncation to the caller's buffer */
	assert_eml_ok(eml_upstream_pool_pick(&p, &i, addr, sizeof(addr)));
	assert_int_equal(i, 0);
	assert_string_equal(addr, "unix:/tmp/a0");
	assert_eml_ok(eml_upstream_pool_pick(&p, &i, small, sizeof(small)));
	assert_int_equal(i, 2);
	assert_string_equal(small, "vsock:1");
	/* all down: a clear error, not a crash or a stale choice */
	eml_upstream_pool_report(&p, 0, EML_ERR_IO_EOF, 11);
	eml_upstream_pool_report(&p, 2, EML_ERR_IO_TIMEOUT, 12);
	assert_eml(eml_upstream_pool_pick(&p, &i, NULL, 0), EML_ERR_NO_AGENT);
	assert_int_equal(eml_upstream_pool_up(&p), 0);
	/* one recovers: it is the only choice */
	eml_upstream_pool_report(&p, 2, EML_OK, 13);
	assert_int_equal(eml_upstream_pool_up(&p), 1);
	assert_int_equal(pick(&p), 2);
	assert_int_equal(pick(&p), 2);
	/* out-of-range reports are ignored */
	eml_upstream_pool_report(&p, 3, EML_OK, 14);
	eml_upstream_pool_report(&p, (size_t)-1, EML_OK, 14);
	assert_int_equal(eml_upstream_pool_up(&p), 1);
	eml_upstream_pool_free(&p);
}

static enum eml_upstream_state
state_of(struct eml_upstream_pool *p, size_t i)
{
	struct eml_upstream snap[EML_UPSTREAMS_MAX];

	assert_true(eml_upstream_pool_snapshot(p, snap, EML_UPSTREAMS_MAX) > i);
	return snap[i].state;
}

/* rise = 2, fall = 3: hysteresis in both directions, streaks reset by the
 * opposite outcome. */
static void
hysteresis(void **state)
{
	struct eml_upstream_pool p;
	struct eml_upstream snap[3];

	(void)state;
	assert_eml_ok(eml_upstream_pool_init(&p, three, 1, 2, 3));
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_UNKNOWN);
	eml_upstream_pool_report(&p, 0, EML_OK, 1);
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_UP);
	eml_upstream_pool_report(&p, 0, EML_ERR_IO, 2);
	eml_upstream_pool_report(&p, 0, EML_ERR_IO, 3);
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_UP);
	/* still eligible while failing below the threshold */
	assert_int_equal(pick(&p), 0);
	eml_upstream_pool_report(&p, 0, EML_OK, 4); /* resets the fail streak */
	eml_upstream_pool_report(&p, 0, EML_ERR_IO, 5);
	eml_upstream_pool_report(&p, 0, EML_ERR_IO, 6);
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_UP);
	eml_upstream_pool_report(&p, 0, EML_ERR_IO, 7);
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_DOWN);
	eml_upstream_pool_report(&p, 0, EML_OK, 8);
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_DOWN);
	eml_upstream_pool_report(&p, 0, EML_ERR_IO, 9); /* resets the ok streak */
	eml_upstream_pool_report(&p, 0, EML_OK, 10);
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_DOWN);
	eml_upstream_pool_report(&p, 0, EML_OK, 11);
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_UP);

	assert_int_equal(eml_upstream_pool_snapshot(&p, snap, 3), 1);
	assert_int_equal(snap[0].checks, 11);
	assert_int_equal(snap[0].failures, 6);
	assert_int_equal(snap[0].picks, 1);
	assert_int_equal(snap[0].last_check_ms, 11);
	assert_int_equal(snap[0].last_change_ms, 11);
	assert_int_equal(snap[0].last_err, EML_OK);
	eml_upstream_pool_free(&p);

	/* an agent that fails its first check is down at once */
	assert_eml_ok(eml_upstream_pool_init(&p, three, 1, 2, 3));
	eml_upstream_pool_report(&p, 0, EML_ERR_CONNECT, 1);
	assert_int_equal(state_of(&p, 0), EML_UPSTREAM_DOWN);
	eml_upstream_pool_free(&p);
	assert_string_equal(eml_upstream_state_name(EML_UPSTREAM_DOWN), "down");
}

struct race {
	struct eml_upstream_pool *p;
	int picks;
};

static void *
racer(void *arg)
{
	struct race *r = arg;

	for (int k = 0; k < 2000; k++) {
		size_t i;

		if (eml_upstream_pool_pick(r->p, &i, NULL, 0) == EML_OK)
			r->picks++;
		eml_upstream_pool_report(r->p, (size_t)k % 3, (k % 7) == 0 ? EML_ERR_IO : EML_OK, k);
	}
	return NULL;
}

/* Concurrent picks and reports keep the counters consistent. */
static void
concurrent_use(void **state)
{
	struct eml_upstream_pool p;
	struct eml_upstream snap[3];
	pthread_t t[4];
	struct race r[4];
	uint64_t picks = 0, checks = 0;
	int want = 0;

	(void)state;
	assert_eml_ok(eml_upstream_pool_init(&p, three, 3, 1, 1));
	for (int i = 0; i < 4; i++) {
		r[i].p = &p;
		r[i].picks = 0;
		assert_int_equal(pthread_create(&t[i], NULL, racer, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		want += r[i].picks;
	}
	assert_int_equal(eml_upstream_pool_snapshot(&p, snap, 3), 3);
	for (int i = 0; i < 3; i++) {
		picks += snap[i].picks;
		checks += snap[i].checks;
	}
	assert_int_equal(picks, (uint64_t)want);
	assert_int_equal(checks, 4 * 2000);
	eml_upstream_pool_free(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_rejects_bad_config),
		cmocka_unit_test(round_robin_skips_down),
		cmocka_unit_test(hysteresis),
		cmocka_unit_test(concurrent_use),
	};

	eml_log_set_level(EML_LOG_LEVEL_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
