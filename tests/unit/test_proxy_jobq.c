/*
 * The proxy's job queue (host-proxy/eml_jobq*.c): the same semantics on
 * both backends, SQLite in a temporary file and Redis on a redis-server
 * started here on a free local port (skipped with a message when the
 * binary is absent): dedup, conflict, leases and their expiry, stale
 * completions refused, bounded retries with backoff, durability across a
 * reopen, expiry of results.
 */
#include "eml_test.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eml_mem.h"
#include "host-proxy/eml_jobq.h"
#include <fcntl.h>

static char dir[256];
static pid_t redis_pid = -1;
static char redis_url[64];

static void
nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
free_port(void)
{
	struct sockaddr_in a;
	socklen_t n = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &n) != 0)
		fail_msg("free port: %s", strerror(errno));
	port = ntohs(a.sin_port);
	(void)close(fd);
	return port;
}

static int
setup(void **state)
{
	char rdir[300], port_s[16];
	int port;

	(void)state;
	assert_eml_ok(eml_mem_init());
	(void)snprintf(dir, sizeof(dir), "%s/eml-jobq.XXXXXX",
	    getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	assert_non_null(mkdtemp(dir));
	if (system("command -v redis-server >/dev/null 2>&1") != 0)
		return 0;
	port = free_port();
	(void)snprintf(port_s, sizeof(port_s), "%d", port);
	(void)snprintf(rdir, sizeof(rdir), "%s", dir);
	redis_pid = fork();
	if (redis_pid == 0) {
		int null = open("/dev/null", 1);

		if (null >= 0) {
			(void)dup2(null, 1);
			(void)dup2(null, 2);
		}
		execlp("redis-server", "redis-server", "--port", port_s, "--bind", "127.0.0.1",
		    "--dir", rdir, "--appendonly", "yes", "--appendfsync", "always", "--save", "",
		    (char *)NULL);
		_exit(127);
	}
	(void)snprintf(redis_url, sizeof(redis_url), "redis://127.0.0.1:%d", port);
	for (int i = 0; i < 100; i++) {
		struct eml_jobq_config c;
		struct eml_jobq *q = NULL;

		eml_jobq_config_defaults(&c);
		c.url = redis_url;
		if (eml_jobq_open(&c, &q) == EML_OK) {
			eml_jobq_close(q);
			return 0;
		}
		nap(50);
	}
	fail_msg("redis-server did not start");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	if (redis_pid > 0) {
		(void)kill(redis_pid, SIGTERM);
		(void)waitpid(redis_pid, NULL, 0);
	}
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		print_message("could not remove %s\n", dir);
	return 0;
}

static struct eml_jobq *
open_q(const char *url, int64_t vis, int64_t ttl)
{
	struct eml_jobq_config c;
	struct eml_jobq *q = NULL;

	eml_jobq_config_defaults(&c);
	c.url = url;
	c.consumer = "t";
	c.visibility_ms = vis;
	c.backoff_ms = 30;
	c.result_ttl_ms = ttl;
	assert_eml_ok(eml_jobq_open(&c, &q));
	return q;
}

static bool
claim(struct eml_jobq *q, struct eml_job_claim *c)
{
	bool got = false;

	assert_eml_ok(eml_jobq_claim(q, c, &got));
	return got;
}

/* Poll claim for up to ms. */
static bool
claim_within(struct eml_jobq *q, struct eml_job_claim *c, long ms)
{
	for (long t = 0; t <= ms; t += 10) {
		if (claim(q, c))
			return true;
		nap(10);
	}
	return false;
}

static void
semantics(const char *url)
{
	struct eml_jobq *q = open_q(url, 150, 60000), *q2;
	uint8_t id[16], id2[16], body[300], other[300];
	struct eml_job_claim c, c2;
	struct eml_job_info ji;
	uint64_t seed = eml_test_seed();
	bool created = false;

	eml_test_fill(&seed, id, sizeof(id));
	eml_test_fill(&seed, id2, sizeof(id2));
	eml_test_fill(&seed, body, sizeof(body));
	memcpy(other, body, sizeof(body));
	other[299] ^= 1;
	memset(&c, 0, sizeof(c));
	memset(&c2, 0, sizeof(c2));
	memset(&ji, 0, sizeof(ji));
	eml_buf_init(&c.body, 1 << 20);
	eml_buf_init(&c2.body, 1 << 20);
	eml_buf_init(&ji.result, 1 << 20);

	/* Unknown, then queued; same bytes again: the same job; other bytes:
	 * conflict. */
	assert_eml(eml_jobq_get(q, id, &ji), EML_ERR_JOB_NOT_FOUND);
	assert_eml_ok(eml_jobq_put(q, id, body, sizeof(body), &created));
	assert_true(created);
	assert_eml_ok(eml_jobq_put(q, id, body, sizeof(body), &created));
	assert_false(created);
	assert_eml(eml_jobq_put(q, id, other, sizeof(other), &created), EML_ERR_JOB_CONFLICT);
	assert_eml_ok(eml_jobq_get(q, id, &ji));
	assert_int_equal(ji.state, EML_JOB_QUEUED);

	/* Durable: a second handle (a restarted proxy) sees it. */
	q2 = open_q(url, 150, 60000);
	assert_eml_ok(eml_jobq_get(q2, id, &ji));
	assert_int_equal(ji.state, EML_JOB_QUEUED);

	/* One claim at a time; the lease runs out and the job is handed out
	 * again; the first worker can no longer complete it. */
	assert_true(claim(q, &c));
	assert_memory_equal(c.id, id, 16);
	assert_int_equal(c.attempt, 1);
	assert_int_equal(c.body.len, sizeof(body));
	assert_memory_equal(c.body.data, body, sizeof(body));
	assert_false(claim(q2, &c2));
	assert_eml_ok(eml_jobq_get(q, id, &ji));
	assert_int_equal(ji.state, EML_JOB_RUNNING);
	assert_true(claim_within(q2, &c2, 2000));
	assert_memory_equal(c2.id, id, 16);
	assert_int_equal(c2.attempt, 2);
	assert_eml(eml_jobq_complete(q, &c, (const uint8_t *)"late", 4), EML_ERR_JOB_CONFLICT);
	assert_eml_ok(eml_jobq_complete(q2, &c2, (const uint8_t *)"sealed-result", 13));
	assert_eml(eml_jobq_complete(q2, &c2, (const uint8_t *)"again", 5), EML_ERR_JOB_CONFLICT);
	assert_eml_ok(eml_jobq_get(q, id, &ji));
	assert_int_equal(ji.state, EML_JOB_DONE);
	assert_int_equal(ji.result.len, 13);
	assert_memory_equal(ji.result.data, "sealed-result", 13);
	/* Done is not handed out again; resubmitting it is still the same job. */
	assert_false(claim(q, &c));
	assert_eml_ok(eml_jobq_put(q, id, body, sizeof(body), &created));
	assert_false(created);

	/* Retries: after 1 + 3 failed deliveries the job has failed, with the
	 * last cause; each retry waits its backoff. */
	assert_eml_ok(eml_jobq_put(q, id2, body, 100, &created));
	for (unsigned a = 1; a <= 4; a++) {
		assert_true(claim_within(q, &c, 2000));
		assert_memory_equal(c.id, id2, 16);
		assert_int_equal(c.attempt, a);
		assert_eml_ok(eml_jobq_fail(q, &c, EML_ERR_NO_AGENT, false));
		if (a < 4)
			assert_false(claim(q, &c)); /* backoff not over yet */
	}
	assert_eml_ok(eml_jobq_get(q, id2, &ji));
	assert_int_equal(ji.state, EML_JOB_FAILED);
	assert_int_equal(ji.attempts, 4);
	assert_int_equal(ji.code, EML_ERR_NO_AGENT);
	assert_false(claim_within(q, &c, 200));

	eml_jobq_close(q2);
	eml_jobq_close(q);
	eml_buf_free(&c.body);
	eml_buf_free(&c2.body);
	eml_buf_free(&ji.result);
}

static void
permanent_failure_and_expiry(const char *url)
{
	struct eml_jobq *q = open_q(url, 5000, 100);
	uint8_t id[16], body[40] = { 9 };
	struct eml_job_claim c;
	struct eml_job_info ji;
	uint64_t seed = eml_test_seed();
	bool created;
	size_t removed = 0;

	eml_test_fill(&seed, id, sizeof(id));
	id[0] ^= 0xff; /* not the id semantics() used with the same seed */
	memset(&c, 0, sizeof(c));
	memset(&ji, 0, sizeof(ji));
	eml_buf_init(&c.body, 1 << 20);
	eml_buf_init(&ji.result, 1 << 20);
	assert_eml_ok(eml_jobq_put(q, id, body, sizeof(body), &created));
	assert_true(claim_within(q, &c, 1000));
	assert_eml_ok(eml_jobq_fail(q, &c, EML_ERR_JOB_SEAL, true));
	assert_eml_ok(eml_jobq_get(q, id, &ji));
	assert_int_equal(ji.state, EML_JOB_FAILED);
	assert_int_equal(ji.code, EML_ERR_JOB_SEAL);
	assert_int_equal(ji.attempts, 1);
	/* Past the result time to live: gone. */
	nap(300);
	assert_eml_ok(eml_jobq_expire(q, &removed));
	assert_eml(eml_jobq_get(q, id, &ji), EML_ERR_JOB_NOT_FOUND);
	eml_jobq_close(q);
	eml_buf_free(&c.body);
	eml_buf_free(&ji.result);
}

static void
sqlite_backend(void **state)
{
	char url[320];

	(void)state;
	(void)snprintf(url, sizeof(url), "sqlite:%s/q.db", dir);
	semantics(url);
	(void)snprintf(url, sizeof(url), "%s/q2.db", dir); /* a bare path */
	permanent_failure_and_expiry(url);
}

static void
redis_backend(void **state)
{
	(void)state;
	if (redis_pid <= 0) {
		printf("redis-server not installed: Redis backend not tested\n");
		skip();
	}
	semantics(redis_url);
	permanent_failure_and_expiry(redis_url);
}

static void
bad_urls(void **state)
{
	struct eml_jobq_config c;
	struct eml_jobq *q = NULL;
	char url[320];

	(void)state;
	eml_jobq_config_defaults(&c);
	c.url = "redis://nohostport";
	assert_eml(eml_jobq_open(&c, &q), EML_ERR_CONFIG);
	c.url = "redis://127.0.0.1:99999";
	assert_eml(eml_jobq_open(&c, &q), EML_ERR_CONFIG);
	c.url = "redis://127.0.0.1:1";
	assert_eml(eml_jobq_open(&c, &q), EML_ERR_JOB_QUEUE);
	(void)snprintf(url, sizeof(url), "sqlite:%s/no/such/dir/q.db", dir);
	c.url = url;
	assert_eml(eml_jobq_open(&c, &q), EML_ERR_JOB_QUEUE);
	assert_null(q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sqlite_backend),
		cmocka_unit_test(redis_backend),
		cmocka_unit_test(bad_urls),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
