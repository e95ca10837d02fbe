/* eml-agent: listener, session threads and their bound. The session
 * itself is in eml_agent_session.c. */
#include "eml_agent.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "eml_agent_evidence.h"
#include "eml_agent_int.h"
#include "eml_agent_link.h"
#include "eml_frame.h"
#include "eml_mem.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"

void
eml_agent_config_defaults(struct eml_agent_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = 1;
	cfg->max_sessions = 64;
	cfg->frame_max = EML_FRAME_MAX_DEFAULT;
	cfg->idle_timeout_ms = 300000;
	cfg->host_timeout_ms = 30000;
}

eml_err
eml_agent_new(const struct eml_agent_config *cfg, struct eml_agent **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_agent *a = NULL;
	char addr[EML_ADDR_STR_MAX];

	if (cfg == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	*out = NULL;
	if (cfg->threads < 1 || cfg->max_sessions < 1 || cfg->frame_max < 1024) {
		eml_err_set_detail("threads and max-sessions must be at least 1");
		EML_FAIL(rc, EML_ERR_CONFIG);
	}
	a = eml_calloc(1, sizeof(*a));
	if (a == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	a->lfd = -1;
	a->cfg = *cfg;
	/* The policy's bounds (covered by its digest) win over the flags. */
	if (cfg->policy.max_sessions != 0 && cfg->policy.max_sessions < a->cfg.max_sessions)
		a->cfg.max_sessions = (unsigned)cfg->policy.max_sessions;
	eml_arena_budget_set((size_t)cfg->policy.memory_budget_bytes);
	if (pthread_mutex_init(&a->mu, NULL) != 0)
		EML_FAIL(rc, EML_ERR_INTERNAL);
	if (pthread_cond_init(&a->cv, NULL) != 0) {
		pthread_mutex_destroy(&a->mu);
		EML_FAIL(rc, EML_ERR_INTERNAL);
	}
	if (pthread_cond_init(&a->idle_cv, NULL) != 0) {
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
		EML_FAIL(rc, EML_ERR_INTERNAL);
	}
	a->handoff_fd = -1;
	a->sync_ok = true;
	if ((rc = eml_agent_attest_open(a)) != EML_OK)
		goto out;
	/* After the RNG was seeded from the NSM. */
	if ((rc = eml_agent_evidence_open(a)) != EML_OK)
		goto out;
	if ((rc = eml_agent_job_key_open(a)) != EML_OK)
		goto out;
	if ((rc = eml_transport_listen(&cfg->listen, &a->lfd)) != EML_OK)
		goto out;
	eml_addr_format(&cfg->listen, addr, sizeof(addr));
	EML_LOG_INFO("agent.listen", NULL, EML_F_STR("addr", addr),
	    EML_F_STR("attest", cfg->producer == EML_AGENT_ATTEST_NSM ? "nsm" : "sim"),
	    EML_F_U64("max_sessions", cfg->max_sessions), EML_F_I64("threads", cfg->threads),
	    EML_F_STR("assembly",
		cfg->policy.assembly == EML_ASSEMBLY_PER_SESSION ? "session" : "request"),
	    EML_F_BOOL("strict", cfg->policy.strict));
	*out = a;
	a = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_agent_free(a);
	return rc;
}

void
eml_agent_local_addr(const struct eml_agent *a, char *dst, size_t n)
{
	struct eml_addr la;

	if (eml_transport_local_addr(a->lfd, &a->cfg.listen, &la) == EML_OK)
		eml_addr_format(&la, dst, n);
	else
		eml_addr_format(&a->cfg.listen, dst, n);
}

struct session_arg {
	struct eml_agent *a;
	int fd;
};

/* After a session: wait (mu held) up to EML_AGENT_IDLE_MS for a
 * connection dispatch hands over, when fewer than EML_AGENT_IDLE_MAX
 * threads wait already; its fd, or -1 (the thread ends). */
static int
idle_wait(struct eml_agent *a)
{
	struct timespec until;
	int fd = -1;

	if (a->stopping || a->idle >= EML_AGENT_IDLE_MAX)
		return -1;
	(void)clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += EML_AGENT_IDLE_MS / 1000;
	until.tv_nsec += (long)(EML_AGENT_IDLE_MS % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	a->idle++;
	while (a->handoff_fd < 0 && !a->stopping &&
	    pthread_cond_timedwait(&a->idle_cv, &a->mu, &until) == 0)
		;
	/* whoever sees a handed-over fd takes it, also on a timeout */
	if (a->handoff_fd >= 0) {
		fd = a->handoff_fd;
		a->handoff_fd = -1;
	}
	a->idle--;
	pthread_cond_broadcast(&a->cv); /* serve's drain counts idle threads */
	return fd;
}

static void *
session_thread(void *p)
{
	struct session_arg *arg = p;
	struct eml_agent *a = arg->a;
	int fd = arg->fd;

	eml_free(arg);
	while (fd >= 0) {
		if (eml_agent_session(a, fd) != EML_OK)
			eml_err_clear_detail(); /* logged by the session */
		/* The session's frames (outputs, keys on their way) stay on
		 * this stack while the thread waits for the next connection:
		 * property 10 found a model's output there after b7fe834. */
		eml_stack_scrub();
		pthread_mutex_lock(&a->mu);
		a->active--;
		pthread_cond_broadcast(&a->cv);
		/* the next connection's session on this thread (counted
		 * active by dispatch), or none */
		fd = idle_wait(a);
		pthread_mutex_unlock(&a->mu);
	}
	return NULL;
}

/* Past the bound: a clear BUSY Error frame, then close. The envelope has
 * an all-zero request id since no request exists yet. */
static void
refuse_busy(const struct eml_agent *a, int fd)
{
	struct eml_agent_link l;

	uint8_t sink[512];
	int64_t deadline = eml_deadline_in_ms(200);

	eml_agent_link_init(&l, fd, a->cfg.frame_max, 1000);
	eml_agent_link_send_error(&l, EML_ERR_BUSY, NULL);
	eml_agent_link_clear(&l);
	/* Half-close, then swallow what the client already sent (its hello)
	 * for a moment: closing a socket with unread bytes can reset it and
	 * lose the Error frame on the way. */
	(void)shutdown(fd, SHUT_WR);
	while (eml_io_wait(fd, POLLIN, deadline) == EML_OK && read(fd, sink, sizeof(sink)) > 0)
		;
	EML_LOG_WARN("session.busy", NULL, EML_F_U64("max_sessions", a->cfg.max_sessions),
	    EML_F_ERR(EML_ERR_BUSY));
	(void)close(fd);
}

eml_err
eml_agent_arena_take(struct eml_agent *a, struct eml_arena **out)
{
	pthread_mutex_lock(&a->mu);
	*out = a->spare_arena;
	a->spare_arena = NULL;
	pthread_mutex_unlock(&a->mu);
	if (*out != NULL)
		return EML_OK;
	return eml_arena_new((size_t)a->cfg.policy.max_session_bytes, out);
}

void
eml_agent_arena_give(struct eml_agent *a, struct eml_arena *arena)
{
	bool kept = false;

	if (arena == NULL)
		return;
	/* the wipe outside the lock; the slot checked after */
	if (eml_arena_recycle(arena, EML_AGENT_SPARE_KEEP)) {
		pthread_mutex_lock(&a->mu);
		if (a->spare_arena == NULL) {
			a->spare_arena = arena;
			kept = true;
		}
		pthread_mutex_unlock(&a->mu);
	}
	if (!kept)
		eml_arena_free(arena);
}

bool
eml_agent_session_take(struct eml_agent *a)
{
	bool ok;

	pthread_mutex_lock(&a->mu);
	ok = a->sessions < a->cfg.max_sessions;
	if (ok)
		a->sessions++;
	pthread_mutex_unlock(&a->mu);
	if (!ok)
		EML_LOG_WARN("session.busy", NULL, EML_F_U64("max_sessions", a->cfg.max_sessions),
		    EML_F_ERR(EML_ERR_BUSY));
	return ok;
}

void
eml_agent_session_release(struct eml_agent *a)
{
	pthread_mutex_lock(&a->mu);
	a->sessions--;
	pthread_mutex_unlock(&a->mu);
}

static void
dispatch(struct eml_agent *a, int fd)
{
	struct session_arg *arg = NULL;
	pthread_attr_t attr;
	pthread_t t;
	bool busy;

	pthread_mutex_lock(&a->mu);
	/* Connections, not sessions: a slot is taken at CLIENT_HELLO
	 * (eml_agent_session_take); the reserve keeps probes answered. */
	busy = a->active >= a->cfg.max_sessions + EML_AGENT_PROBE_RESERVE(a->cfg.max_sessions);
	if (!busy)
		a->active++;
	/* A thread waiting after its last session takes it: no thread
	 * created on the new session's path. */
	if (!busy && a->idle > 0 && a->handoff_fd < 0) {
		a->handoff_fd = fd;
		a->threads_reused++;
		pthread_cond_signal(&a->idle_cv);
		pthread_mutex_unlock(&a->mu);
		return;
	}
	pthread_mutex_unlock(&a->mu);
	if (busy) {
		refuse_busy(a, fd);
		return;
	}
	arg = eml_alloc(sizeof(*arg));
	if (arg != NULL && pthread_attr_init(&attr) == 0) {
		arg->a = a;
		arg->fd = fd;
		(void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&t, &attr, session_thread, arg) == 0) {
			pthread_attr_destroy(&attr);
			pthread_mutex_lock(&a->mu);
			a->threads_started++;
			pthread_mutex_unlock(&a->mu);
			return;
		}
		pthread_attr_destroy(&attr);
	}
	eml_free(arg);
	EML_LOG_ERROR("session.spawn", NULL, EML_F_ERR(EML_ERR_NOMEM));
	(void)close(fd);
	pthread_mutex_lock(&a->mu);
	a->active--;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

eml_err
eml_agent_serve(struct eml_agent *a, volatile sig_atomic_t *stop)
{
	unsigned failures = 0;

	EML_ENSURE_REF(a);
	EML_ENSURE_REF(stop);
	eml_agent_attest_start(a);
	while (!*stop) {
		int fd = -1;
		eml_err rc = eml_transport_accept(a->lfd, eml_deadline_in_ms(200), &fd);

		if (rc == EML_ERR_IO_TIMEOUT)
			continue;
		if (rc != EML_OK) {
			/* EMFILE and friends pass; a listener that fails for
			 * good does not spin forever. */
			EML_LOG_WARN("agent.accept", NULL, EML_F_ERR(rc));
			if (++failures > 100)
				EML_BAIL(EML_ERR_IO);
			(void)usleep(50000);
			continue;
		}
		failures = 0;
		dispatch(a, fd);
	}
	EML_LOG0_INFO("agent.drain", NULL);
	pthread_mutex_lock(&a->mu);
	/* idle threads leave at once; a handed-over fd is served first */
	a->stopping = true;
	pthread_cond_broadcast(&a->idle_cv);
	while (a->active > 0 || a->idle > 0)
		pthread_cond_wait(&a->cv, &a->mu);
	pthread_mutex_unlock(&a->mu);
	EML_LOG0_INFO("agent.stop", NULL);
	return EML_OK;
}

void
eml_agent_thread_stats(struct eml_agent *a, uint64_t *started, uint64_t *reused, unsigned *idle)
{
	pthread_mutex_lock(&a->mu);
	if (started != NULL)
		*started = a->threads_started;
	if (reused != NULL)
		*reused = a->threads_reused;
	if (idle != NULL)
		*idle = a->idle;
	pthread_mutex_unlock(&a->mu);
}

void
eml_agent_free(struct eml_agent *a)
{
	if (a == NULL)
		return;
	if (a->lfd >= 0) {
		(void)close(a->lfd);
		if (a->cfg.listen.kind == EML_ADDR_UNIX)
			(void)unlink(a->cfg.listen.path);
	}
	eml_arena_free(a->spare_arena);
	a->spare_arena = NULL;
	eml_agent_evidence_close(a);
	eml_agent_attest_close(a);
	if (a->job_sk != NULL)
		eml_secure_free(a->job_sk);
	eml_manifest_clear(&a->cfg.policy);
	eml_agent_link_park_drop(); /* the frame buffer kept between sessions */
	if (a->sync_ok) {
		pthread_cond_destroy(&a->idle_cv);
		pthread_cond_destroy(&a->cv);
		pthread_mutex_destroy(&a->mu);
	}
	eml_free_wipe(a, sizeof(*a));
}
