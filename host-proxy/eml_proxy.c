#include "eml_proxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "eml_admin.h"
#include "eml_artifacts.h"
#include "eml_audit.h"
#include "eml_buf.h"
#include "eml_controls.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_landlock.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_num.h"
#include "eml_privdrop.h"
#include "eml_relay.h"
#include "eml_seccomp.h"
#include "eml_secpool.h"
#include "eml_store.h"
#include "eml_tls.h"
#include "eml_transport.h"
#include "eml_wire.h"

/* A health probe's answer is a Pong or an Error: small. */
#define PROBE_FRAME_MAX 4096u
#define PROBE_REPLY_MS 1000
/* After the drain deadline, how long stopped sessions get to unwind. */
#define STOP_GRACE_MS 2000
#define CONN_STACK (512u * 1024u)
/* The client's hello, read by the proxy (1 KiB body and the envelope). */
#define HELLO_FRAME_MAX 2048u
/* Hello buffers kept for reuse: handshakes at once, beyond which a
 * buffer is made and released per connection as before. */
#define HELLO_POOL_KEEP 16u
/* How long a refused client gets to take its Error frame. */
#define HELLO_REFUSE_MS 1000

/* Connections per client address (--max-per-peer), and of those the ones
 * still in the handshake phase (--max-handshake-per-peer), under
 * proxy.mu. */
struct peer_slot {
	char host[EML_ADDR_STR_MAX];
	unsigned n;
	unsigned hs;
};

struct proxy {
	const struct eml_proxy_config *cfg;
	struct peer_slot *peers; /* max_clients slots, when a per-peer limit is set */
	struct eml_addr agent_addrs[EML_UPSTREAMS_MAX];
	struct eml_upstream_pool pool;
	bool have_pool;
	struct eml_jobs *jobs;
	struct eml_store store;
	struct eml_audit audit;
	bool have_audit;
	struct eml_proxy_stats stats;
	struct eml_relay_env env;
	struct eml_controls ctl;
	bool have_ctl;
	struct eml_signers signers; /* --signers */
	bool have_signers;
	struct eml_admin_view view;
	struct eml_admin_settings settings;
	struct eml_admin_server *admin;
	uint8_t admin_token[32];
	bool have_admin_token;
	struct eml_tls_server *tls; /* NULL: plain TCP clients */
	atomic_bool draining;
	atomic_bool stop;
	atomic_bool quit_aux; /* ends the health and admin threads */
	int lfd;
	int admin_fd;
	int sigfd;
	int capture_fd;
	pthread_mutex_t capture_mu;
	/* the hellos' buffers (secure: a hello carries the API key), kept
	 * wiped for the next connection */
	struct eml_secpool hello_pool;
	pthread_mutex_t mu; /* guards active, evicting, clients, peers */
	pthread_cond_t cv;
	unsigned active;
	unsigned evicting;      /* of active, cut and on their way out */
	struct client *clients; /* every active client, oldest first */
	struct client *clients_tail;
	bool test_hooks;
	pthread_t health_th;
	pthread_t admin_th;
	bool health_started;
	bool admin_started;
};

void
eml_proxy_config_defaults(struct eml_proxy_config *c)
{
	memset(c, 0, sizeof(*c));
	eml_jobs_config_defaults(&c->job);
	c->max_clients = 64;
	c->frame_max = EML_FRAME_MAX_DEFAULT;
	c->handshake_ms = 10000;
	c->idle_ms = 60000;
	c->request_ms = 300000;
	c->frame_ms = 30000;
	c->connect_ms = 2000;
	c->drain_ms = 10000;
	c->health_ms = 1000;
	c->rise = 1;
	/* One slow probe under load (a 64-client burst) must not take the
	 * only agent out of rotation: three failures in a row. */
	c->fall = 3;
	/* Idle or trickling sockets from one address may hold at most this
	 * many slots before their hello is answered (issue 18). */
	c->max_handshake_per_peer = 8;
	c->health_ping = true;
	c->rate_limit = 60;
}

eml_err
eml_proxy_check_admin_addr(const char *addr)
{
	struct eml_addr a;
	struct in_addr v4;
	struct in6_addr v6;

	EML_ENSURE_REF(addr);
	if (eml_addr_parse(addr, &a) != EML_OK || a.kind != EML_ADDR_TCP) {
		eml_err_set_detail("--admin must be tcp:127.x.x.x:PORT or tcp:[::1]:PORT");
		EML_BAIL(EML_ERR_CONFIG);
	}
	/* Loopback only, and a literal: a name could resolve elsewhere. */
	if (!a.v6 && inet_pton(AF_INET, a.host, &v4) == 1 &&
	    (ntohl(v4.s_addr) >> 24) == 127)
		return EML_OK;
	if (a.v6 && inet_pton(AF_INET6, a.host, &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6))
		return EML_OK;
	eml_err_set_detail("--admin %s is not a loopback address", addr);
	EML_BAIL(EML_ERR_CONFIG);
}

static eml_err
check_config(struct proxy *p)
{
	const struct eml_proxy_config *c = p->cfg;
	struct eml_addr l;

	if (c->listen == NULL || c->nagents == 0 || c->weights == NULL) {
		eml_err_set_detail("--listen, --agent and --weights are required");
		EML_BAIL(EML_ERR_CONFIG);
	}
	EML_GUARD(eml_addr_parse(c->listen, &l));
	if (l.kind == EML_ADDR_VSOCK) {
		eml_err_set_detail("--listen is for clients: tcp: (or unix: for local tests)");
		EML_BAIL(EML_ERR_CONFIG);
	}
	for (size_t i = 0; i < c->nagents; i++) {
		EML_GUARD(eml_addr_parse(c->agents[i], &p->agent_addrs[i]));
		if (p->agent_addrs[i].kind == EML_ADDR_TCP) {
			eml_err_set_detail("--agent %s: agents are reached over vsock: or unix:",
			    c->agents[i]);
			EML_BAIL(EML_ERR_CONFIG);
		}
	}
	if (c->admin != NULL)
		EML_GUARD(eml_proxy_check_admin_addr(c->admin));
	if (c->max_clients == 0 || c->frame_max < 1024 || c->frame_max > UINT32_MAX) {
		eml_err_set_detail(c->max_clients == 0 ? "--max-clients: at least 1"
						       : "--max-frame: 1024..4294967295 bytes");
		EML_BAIL(EML_ERR_CONFIG);
	}
	if ((c->tls_cert == NULL) != (c->tls_key == NULL)) {
		eml_err_set_detail("--tls-cert and --tls-key go together");
		EML_BAIL(EML_ERR_CONFIG);
	}
	for (size_t i = 0; i < c->n_allow_models; i++) {
		uint8_t id[EML_STORE_ID_LEN];

		if (strlen(c->allow_models[i]) != 2 * EML_STORE_ID_LEN ||
		    eml_hex_decode(id, sizeof(id), c->allow_models[i]) != EML_OK) {
			eml_err_set_detail("--allow-model %.80s: a content id is 64 hex digits",
			    c->allow_models[i]);
			EML_BAIL(EML_ERR_CONFIG);
		}
	}
	return EML_OK;
}

/* ------------------------------------------------------------ user probe */

/* Whether uid/gid can reach the weight store and every unix agent socket:
 * checked in a child that takes that identity, since access(2) answers only
 * for the real uid. */
static bool
user_can_access(const struct proxy *p, uid_t uid, gid_t gid)
{
	pid_t pid = fork();
	int st = 0;

	if (pid < 0)
		return false;
	if (pid == 0) {
		int fd;

		if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
			_exit(1);
		fd = open(p->cfg->weights, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 || faccessat(fd, ".", R_OK | X_OK, 0) != 0)
			_exit(1);
		/* SIGHUP re-reads the key file as this user */
		if (p->cfg->api_keys != NULL && access(p->cfg->api_keys, R_OK) != 0)
			_exit(1);
		for (size_t i = 0; i < p->cfg->nagents; i++) {
			const struct eml_addr *a = &p->agent_addrs[i];
			char dir[EML_ADDR_PATH_MAX + 1];

			if (a->kind != EML_ADDR_UNIX)
				continue;
			(void)snprintf(dir, sizeof(dir), "%s", a->path);
			if (access(dirname(dir), X_OK) != 0)
				_exit(1);
			if (access(a->path, W_OK) != 0 && errno != ENOENT)
				_exit(1);
		}
		_exit(0);
	}
	if (waitpid(pid, &st, 0) != pid)
		return false;
	return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

/*
 * Which user to drop to. An explicit --user is obeyed (and fails loudly
 * later if it cannot reach the store). Without one, root drops to nobody
 * when nobody can reach the store and the agent sockets; otherwise (local
 * simulation in a private directory) it keeps uid 0 without any
 * capability, with a warning.
 */
static const char *
choose_user(const struct proxy *p)
{
	struct passwd *pw;

	if (p->cfg->user != NULL)
		return p->cfg->user;
	if (geteuid() != 0)
		return NULL;
	pw = getpwnam("nobody");
	if (pw != NULL && user_can_access(p, pw->pw_uid, pw->pw_gid))
		return "nobody";
	EML_LOG_WARN("privdrop.fallback", NULL,
	    EML_F_STR("note", "user nobody cannot reach the weight store or an agent socket; "
			      "keeping uid 0 with no capabilities. Fix the permissions or pass "
			      "--user for a real deployment"));
	return "root";
}

/* ------------------------------------------------------------ health */

/* One health probe. producer receives what a Pong announced ("nsm",
 * "sim"), or stays "" (connect-only, an Error answer, anything else). */
static eml_err
probe(const struct proxy *p, const struct eml_addr *a, char producer[8])
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__Ping ping = EML__V1__PING__INIT;
	struct eml_envelope env, got;
	struct eml_buf body, frame, rx;
	ProtobufCMessage *m = NULL;
	int fd = -1;
	int64_t ms = p->cfg->connect_ms < PROBE_REPLY_MS ? p->cfg->connect_ms : PROBE_REPLY_MS;

	memset(&env, 0, sizeof(env));
	memset(&got, 0, sizeof(got));
	eml_buf_init(&body, 64);
	eml_buf_init(&frame, 256);
	eml_buf_init(&rx, PROBE_FRAME_MAX);
	if ((rc = eml_transport_connect(a, eml_deadline_in_ms(ms), &fd)) != EML_OK)
		goto out;
	if (!p->cfg->health_ping) {
		rc = EML_OK;
		goto out;
	}
	if (getrandom(&ping.seq, sizeof(ping.seq), 0) != (ssize_t)sizeof(ping.seq) ||
	    getrandom(env.request_id, sizeof(env.request_id), 0) != (ssize_t)sizeof(env.request_id))
		EML_FAIL(rc, EML_ERR_CRYPTO_RANDOM);
	env.version = EML_PROTO_VERSION;
	env.type = EML_MSG_PING;
	if ((rc = eml_msg_pack(&ping.base, &body)) != EML_OK)
		goto out;
	env.body = body.data;
	env.body_len = body.len;
	if ((rc = eml_envelope_pack(&env, PROBE_FRAME_MAX, &frame)) != EML_OK)
		goto out;
	if ((rc = eml_frame_write(fd, frame.data, frame.len, PROBE_FRAME_MAX,
		 eml_deadline_in_ms(PROBE_REPLY_MS))) != EML_OK)
		goto out;
	if ((rc = eml_frame_read(fd, PROBE_FRAME_MAX, eml_deadline_in_ms(PROBE_REPLY_MS), &rx)) !=
	    EML_OK)
		goto out;
	if ((rc = eml_envelope_unpack(&got, rx.data, rx.len, PROBE_FRAME_MAX)) != EML_OK)
		goto out;
	if (got.type == EML_MSG_ERROR) {
		/* Alive and speaking the protocol, but refusing (e.g. all its
		 * sessions busy): healthy as far as routing goes. */
		rc = EML_OK;
		goto out;
	}
	if (got.type != EML_MSG_PONG)
		EML_FAIL(rc, EML_ERR_PROTO_MSG_TYPE);
	if ((rc = eml_msg_unpack(&eml__v1__pong__descriptor, got.body, got.body_len, 64, &m)) !=
	    EML_OK)
		goto out;
	if (((Eml__V1__Pong *)m)->seq != ping.seq)
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	/* Only the two known names: the field is the agent's word, and a
	 * host-side view of it; anything else is shown as unknown. */
	if (strcmp(((Eml__V1__Pong *)m)->producer, "nsm") == 0 ||
	    strcmp(((Eml__V1__Pong *)m)->producer, "sim") == 0)
		memcpy(producer, ((Eml__V1__Pong *)m)->producer, 4);
	rc = EML_OK;
out:
	if (fd >= 0)
		(void)close(fd);
	eml_msg_free(m);
	eml_envelope_clear(&got);
	eml_buf_free_nowipe(&body);
	eml_buf_free_nowipe(&frame);
	eml_buf_free_nowipe(&rx);
	return rc;
}

/* Sleep up to ms, waking early when flag is set. */
static void
nap(atomic_bool *flag, int64_t ms)
{
	int64_t end = eml_now_ms() + ms;

	while (!atomic_load(flag) && eml_now_ms() < end) {
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		(void)nanosleep(&ts, NULL);
	}
}

static void *
health_main(void *arg)
{
	struct proxy *p = arg;

	while (!atomic_load(&p->quit_aux)) {
		for (size_t i = 0; i < p->pool.n && !atomic_load(&p->quit_aux); i++) {
			char producer[8] = "";
			eml_err rc = probe(p, &p->agent_addrs[i], producer);

			eml_err_clear_detail();
			eml_upstream_pool_report(&p->pool, i, rc, eml_now_ms());
			eml_upstream_pool_set_producer(&p->pool, i, producer);
		}
		/* a failed audit log is retried here too, so it recovers (and
		 * says so in /status) without waiting for a client */
		if (p->have_audit)
			(void)eml_audit_healthy(&p->audit, NULL);
		nap(&p->quit_aux, p->cfg->health_ms);
	}
	return NULL;
}

/* ------------------------------------------------------------ admin */

static void log_listen(int fd, const char *spec, const char *event);

static void *
admin_main(void *arg)
{
	struct proxy *p = arg;

	/* libmicrohttpd in external mode: this thread drives it */
	while (!atomic_load(&p->quit_aux))
		eml_admin_poll(p->admin, 200);
	return NULL;
}

/* The admin endpoint's view of the proxy, and the daemon itself (started
 * before the privilege drop and the seccomp filter: it opens nothing and
 * spawns nothing later). */
static eml_err
start_admin(struct proxy *p, bool seccomp)
{
	const struct eml_proxy_config *c = p->cfg;

	p->settings.tls = c->tls_cert != NULL;
	p->settings.seccomp = seccomp;
	p->settings.strict_artifacts = c->strict_artifacts;
	p->settings.signers = p->have_signers ? &p->signers : NULL;
	p->settings.api_keys_required = c->api_keys != NULL;
	p->settings.rate_limit_per_minute = c->rate_limit;
	p->settings.admin_token = p->have_admin_token;
	p->view.stats = &p->stats;
	p->view.agents = &p->pool;
	p->view.audit = p->have_audit ? &p->audit : NULL;
	p->view.ctl = &p->ctl;
	p->view.store = &p->store;
	p->view.settings = &p->settings;
	p->view.max_clients = c->max_clients;
	p->view.draining_flag = &p->draining;
	p->view.test_hooks = p->test_hooks;
	if (p->admin_fd < 0)
		return EML_OK;
	log_listen(p->admin_fd, c->admin, "proxy.admin");
	EML_GUARD(eml_admin_start(p->admin_fd, &p->view,
	    p->have_admin_token ? p->admin_token : NULL, &p->admin));
	p->admin_fd = -1; /* the daemon owns it */
	return EML_OK;
}

/* ------------------------------------------------------------ clients */

struct client {
	struct proxy *p;
	int fd;
	char peer[EML_ADDR_STR_MAX];
	char host[EML_ADDR_STR_MAX]; /* peer without its port */
	bool in_handshake;           /* counted in its peer slot's hs */
	bool evicted;                /* cut to make room (p->evicting) */
	struct client *next, *prev;  /* p->clients, oldest first */
};

/* "tcp:1.2.3.4:5678" -> "tcp:1.2.3.4", "tcp:[::1]:5678" -> "tcp:[::1]";
 * anything else as it is. */
static void
peer_host(const char *peer, char *host, size_t cap)
{
	char *colon;

	(void)snprintf(host, cap, "%s", peer);
	if (strncmp(host, "tcp:", 4) != 0)
		return;
	colon = strrchr(host, ':');
	if (colon != NULL && colon > host + 3)
		*colon = '\0';
}

/* Count one more connection from host, in its handshake phase. Returns
 * NULL, or the refusal reason ("per_peer"). Caller holds p->mu. */
static const char *
peer_take(struct proxy *p, const char *host)
{
	const struct eml_proxy_config *c = p->cfg;
	struct peer_slot *free_slot = NULL;

	if (p->peers == NULL)
		return NULL;
	for (unsigned i = 0; i < c->max_clients; i++) {
		struct peer_slot *s = &p->peers[i];

		if (s->n > 0 && strcmp(s->host, host) == 0) {
			if (c->max_per_peer > 0 && s->n >= c->max_per_peer)
				return "per_peer";
			s->n++;
			s->hs++;
			return NULL;
		}
		if (s->n == 0 && free_slot == NULL)
			free_slot = s;
	}
	/* active < max_clients, so a free slot exists */
	if (free_slot == NULL)
		return "busy";
	(void)snprintf(free_slot->host, sizeof(free_slot->host), "%s", host);
	free_slot->n = 1;
	free_slot->hs = 1;
	return NULL;
}

static struct peer_slot *
peer_find(struct proxy *p, const char *host)
{
	if (p->peers == NULL)
		return NULL;
	for (unsigned i = 0; i < p->cfg->max_clients; i++) {
		struct peer_slot *s = &p->peers[i];

		if (s->n > 0 && strcmp(s->host, host) == 0)
			return s;
	}
	return NULL;
}

/* One connection from host leaves; in_handshake: it had not finished its
 * handshake. Caller holds p->mu. */
static void
peer_release(struct proxy *p, const char *host, bool in_handshake)
{
	struct peer_slot *s = peer_find(p, host);

	if (s == NULL)
		return;
	s->n--;
	if (in_handshake && s->hs > 0)
		s->hs--;
}

/*
 * The house is full and host wants in. If some address holds more than
 * --max-handshake-per-peer connections that have not finished their
 * handshake (idle or trickling sockets), the one holding most loses its
 * oldest such connection: it is shut down (its thread ends and gives the
 * slot back) and the newcomer is admitted in its place. Returns NULL with
 * the victim's peer string in victim, or the reason to refuse the
 * newcomer: "per_peer_handshake" when host itself is that address,
 * "busy" when no address is over the limit. Caller holds p->mu.
 */
static const char *
evict_for(struct proxy *p, const char *host, char *victim, size_t cap)
{
	const struct peer_slot *top = NULL;
	unsigned limit = p->cfg->max_handshake_per_peer;

	victim[0] = '\0';
	if (p->peers == NULL || limit == 0)
		return "busy";
	for (unsigned i = 0; i < p->cfg->max_clients; i++)
		if (p->peers[i].n > 0 && (top == NULL || p->peers[i].hs > top->hs))
			top = &p->peers[i];
	if (top == NULL || top->hs <= limit)
		return "busy";
	if (strcmp(top->host, host) == 0)
		return "per_peer_handshake";
	for (struct client *cl = p->clients; cl != NULL; cl = cl->next) {
		if (cl->in_handshake && !cl->evicted && strcmp(cl->host, top->host) == 0) {
			cl->evicted = true;
			p->evicting++;
			(void)shutdown(cl->fd, SHUT_RDWR);
			(void)snprintf(victim, cap, "%s", cl->peer);
			return NULL;
		}
	}
	return "busy";
}

static void
clients_link(struct proxy *p, struct client *cl)
{
	cl->next = NULL;
	cl->prev = p->clients_tail;
	if (p->clients_tail != NULL)
		p->clients_tail->next = cl;
	else
		p->clients = cl;
	p->clients_tail = cl;
}

static void
clients_unlink(struct proxy *p, struct client *cl)
{
	if (cl->prev != NULL)
		cl->prev->next = cl->next;
	else
		p->clients = cl->next;
	if (cl->next != NULL)
		cl->next->prev = cl->prev;
	else
		p->clients_tail = cl->prev;
	if (cl->evicted)
		p->evicting--;
}

static void
audit_refusal(struct proxy *p, const char *peer, const char *reason, eml_err why)
{
	EML_LOG_WARN("conn.refused", NULL, EML_F_STR("peer", peer), EML_F_STR("reason", reason),
	    EML_F_ERR(why));
	if (p->have_audit &&
	    EML_AUDIT(&p->audit, "conn", NULL, EML_F_STR("peer", peer),
		EML_F_STR("reason", reason), EML_F_ERR(why)) != EML_OK)
		EML_LOG_ERROR("audit.write_failed", NULL, EML_F_STR("why", eml_err_detail()));
}

/* Best effort, never blocking: a refused client gets one small Error
 * frame if its socket takes it at once. */
static void
refuse(struct proxy *p, int fd, eml_err why)
{
	struct eml_buf f;

	eml_buf_init(&f, 2048);
	if (eml_wire_error_frame(NULL, why, eml_strerror(why), p->cfg->frame_max, &f) == EML_OK)
		(void)send(fd, f.data, f.len, MSG_DONTWAIT | MSG_NOSIGNAL);
	eml_err_clear_detail();
	eml_buf_free_nowipe(&f);
}

/* A refusal that answers the client's hello, with its request id. */
static void
refuse_hello(struct proxy *p, int fd, const uint8_t *rid, eml_err why)
{
	struct eml_buf f;

	eml_buf_init(&f, 2048);
	if (eml_wire_error_frame(rid, why, eml_strerror(why), p->cfg->frame_max, &f) == EML_OK &&
	    eml_io_write_full(fd, f.data, f.len, eml_deadline_in_ms(HELLO_REFUSE_MS)) == EML_OK &&
	    p->capture_fd >= 0) {
		(void)pthread_mutex_lock(&p->capture_mu);
		if (eml_io_write_full(p->capture_fd, f.data, f.len, EML_DEADLINE_NONE) != EML_OK)
			eml_err_clear_detail();
		(void)pthread_mutex_unlock(&p->capture_mu);
	}
	eml_err_clear_detail();
	eml_buf_free_nowipe(&f);
}

/*
 * The client's first frame, read by the proxy itself before an agent is
 * involved: it must be a CLIENT_HELLO; its API key (if any) is checked and
 * removed, and the kill switch consulted. On success first holds the
 * frame to relay (length prefix and envelope, key removed). *rid gets the
 * hello's request id once known; *reason a word for the audit line.
 */
static eml_err
read_hello(struct proxy *p, const struct client *cl, struct eml_client_id *id,
    struct eml_buf *first, uint8_t rid[EML_REQUEST_ID_LEN], bool *have_rid, const char **reason)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf rx;
	struct eml_wire_hdr h;
	struct eml_envelope fwd;
	const uint8_t *key = NULL;
	size_t keep = 0, klen = 0, at;

	*have_rid = false;
	*reason = "handshake";
	/* The hello carries the key: its buffer is wiped when given back. */
	eml_secpool_buf(&p->hello_pool, &rx);
	rc = eml_frame_read(cl->fd, HELLO_FRAME_MAX, eml_deadline_in_ms(p->cfg->handshake_ms), &rx);
	if (rc != EML_OK)
		goto out;
	*reason = "protocol";
	if ((rc = eml_wire_peek(rx.data, rx.len, rx.len, &h)) != EML_OK)
		goto out;
	EML_MEMCPY(rid, h.request_id, EML_REQUEST_ID_LEN);
	*have_rid = true;
	if (h.type != EML_MSG_CLIENT_HELLO) {
		eml_err_set_detail("first frame is %s, not CLIENT_HELLO", eml_msg_type_name(h.type));
		EML_FAIL(rc, EML_ERR_PROTO_MSG_TYPE);
	}
	if ((rc = eml_wire_hello_key(rx.data + h.body_off, h.body_len, EML_KEY_TOKEN_MAX, &keep,
	    &key, &klen)) != EML_OK)
		goto out;
	if (atomic_load(&p->ctl.kill_switch)) {
		atomic_fetch_add(&p->ctl.rejected_kill, 1);
		*reason = "kill_switch";
		EML_FAIL(rc, EML_ERR_KILL_SWITCH);
	}
	*reason = "auth";
	if ((rc = eml_controls_auth(&p->ctl, key, klen, cl->peer, id)) != EML_OK)
		goto out;
	*reason = NULL;
	memset(&fwd, 0, sizeof(fwd));
	fwd.version = h.version;
	fwd.type = h.type;
	EML_MEMCPY(fwd.request_id, h.request_id, EML_REQUEST_ID_LEN);
	fwd.body = rx.data + h.body_off;
	fwd.body_len = keep;
	at = first->len;
	if ((rc = eml_buf_append_u32be(first, 0)) != EML_OK ||
	    (rc = eml_envelope_pack(&fwd, p->cfg->frame_max, first)) != EML_OK)
		goto out;
	{
		size_t n = first->len - at - EML_FRAME_HDR_LEN;

		first->data[at] = (uint8_t)(n >> 24);
		first->data[at + 1] = (uint8_t)(n >> 16);
		first->data[at + 2] = (uint8_t)(n >> 8);
		first->data[at + 3] = (uint8_t)n;
	}
	rc = EML_OK;
out:
	eml_secpool_buf_give(&p->hello_pool, &rx);
	return rc;
}

static eml_err
connect_agent(struct proxy *p, int *afd, char *addr, size_t cap)
{
	eml_err rc = EML_ERR_NO_AGENT;
	size_t k;

	/* Round robin over healthy agents; a refused connect marks the agent
	 * and the next one is tried, each at most once. */
	for (k = 0; k < p->pool.n; k++) {
		size_t i;

		if (eml_upstream_pool_pick(&p->pool, &i, addr, cap) != EML_OK)
			break;
		rc = eml_transport_connect(&p->agent_addrs[i],
		    eml_deadline_in_ms(p->cfg->connect_ms), afd);
		eml_upstream_pool_report(&p->pool, i, rc, eml_now_ms());
		if (rc == EML_OK)
			return EML_OK;
		EML_LOG_WARN("agent.connect_failed", NULL, EML_F_STR("agent", addr), EML_F_ERR(rc));
		eml_err_clear_detail();
	}
	/* Every agent is down as far as the last checks knew. Before refusing
	 * the client, try each once more (with one agent, that agent): it may
	 * have come back since, and a connect that works marks it up. */
	if (k == 0) {
		int64_t deadline = eml_deadline_in_ms(p->cfg->connect_ms);

		for (size_t i = 0; i < p->pool.n && eml_now_ms() < deadline; i++) {
			rc = eml_transport_connect(&p->agent_addrs[i], deadline, afd);
			eml_upstream_pool_report(&p->pool, i, rc, eml_now_ms());
			eml_err_clear_detail();
			if (rc == EML_OK) {
				(void)snprintf(addr, cap, "%s", p->cfg->agents[i]);
				EML_LOG_INFO("agent.retried", NULL, EML_F_STR("agent", addr));
				return EML_OK;
			}
		}
	}
	EML_BAIL(EML_ERR_NO_AGENT);
}

/* The client thread's connection, for on_handshake (the relay calls it on
 * this thread). */
static _Thread_local struct client *tl_client;

static void
on_handshake(const char *peer)
{
	struct client *cl = tl_client;
	struct peer_slot *s;

	(void)peer;
	if (cl == NULL || !cl->in_handshake)
		return;
	(void)pthread_mutex_lock(&cl->p->mu);
	cl->in_handshake = false;
	if ((s = peer_find(cl->p, cl->host)) != NULL && s->hs > 0)
		s->hs--;
	(void)pthread_mutex_unlock(&cl->p->mu);
}

/* Wait for the client's first byte before taking an agent session: a
 * connect-and-close (a port scan, a load balancer's TCP check, churn)
 * never reaches the enclave. Returns EML_OK when bytes are there, else
 * the reason the connection ends (EOF, timeout). */
static eml_err
await_first_byte(struct proxy *p, int fd)
{
	int64_t end = eml_deadline_in_ms(p->cfg->handshake_ms);
	uint8_t b;
	ssize_t n;
	eml_err rc;

	/* in slices, so a draining proxy does not wait for silent clients */
	while ((rc = eml_io_wait(fd, POLLIN, eml_now_ms() + 200 < end ? eml_now_ms() + 200 : end)) ==
	    EML_ERR_IO_TIMEOUT) {
		if (eml_now_ms() >= end)
			return EML_ERR_IO_TIMEOUT;
		if (atomic_load(&p->draining) || atomic_load(&p->stop))
			return EML_ERR_IO_EOF;
	}
	EML_GUARD(rc);
	n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 1)
		return EML_OK;
	if (n == 0)
		return EML_ERR_IO_EOF;
	eml_err_set_detail("recv: %s", strerror(errno));
	return EML_ERR_IO;
}

static void *
client_main(void *arg)
{
	struct client *cl = arg;
	struct proxy *p = cl->p;
	char agent[EML_UPSTREAM_ADDR_MAX] = "";
	struct eml_client_id id;
	struct eml_relay_client rcl;
	struct eml_buf first;
	uint8_t rid[EML_REQUEST_ID_LEN];
	bool have_rid = false;
	const char *reason = NULL;
	struct eml_tls_pump *tls = NULL;
	int afd = -1, cfd = -1;
	eml_err rc;

	memset(&id, 0, sizeof(id));
	(void)snprintf(id.host, sizeof(id.host), "%s", cl->host);
	eml_buf_init(&first, HELLO_FRAME_MAX + EML_FRAME_HDR_LEN);
	if (p->tls != NULL) {
		/* from here on cl->fd is the plaintext end of the TLS pump */
		rc = eml_tls_pump_start(p->tls, cl->fd, eml_deadline_in_ms(p->cfg->handshake_ms),
		    &cfd, &tls);
		if (rc != EML_OK) {
			eml_err_clear_detail();
			atomic_fetch_add(&p->stats.rejected_busy, 1);
			audit_refusal(p, cl->peer, "no_thread", EML_ERR_BUSY);
			goto done;
		}
		/* under the lock: evict_for may shut it down */
		(void)pthread_mutex_lock(&p->mu);
		cl->fd = cfd;
		(void)pthread_mutex_unlock(&p->mu);
	}
	tl_client = cl;
	rc = await_first_byte(p, cl->fd);
	if (rc != EML_OK) {
		if (rc == EML_ERR_IO_TIMEOUT) {
			atomic_fetch_add(&p->stats.timeouts_handshake, 1);
			refuse(p, cl->fd, EML_ERR_IO_TIMEOUT);
			audit_refusal(p, cl->peer, "handshake", EML_ERR_IO_TIMEOUT);
		} else {
			EML_LOG_DEBUG("conn.closed_early", NULL, EML_F_STR("peer", cl->peer),
			    EML_F_ERR(rc));
		}
		eml_err_clear_detail();
	} else if (p->have_audit && !p->cfg->audit_serve && !eml_audit_healthy(&p->audit, NULL)) {
		/* fail closed: nothing is served that cannot be audited */
		atomic_fetch_add(&p->stats.rejected_audit, 1);
		refuse(p, cl->fd, EML_ERR_AUDIT_DOWN);
		EML_LOG_WARN("conn.refused", NULL, EML_F_STR("peer", cl->peer),
		    EML_F_STR("reason", "audit"), EML_F_ERR(EML_ERR_AUDIT_DOWN));
	} else if ((rc = read_hello(p, cl, &id, &first, rid, &have_rid, &reason)) != EML_OK) {
		if (rc == EML_ERR_IO_TIMEOUT)
			atomic_fetch_add(&p->stats.timeouts_handshake, 1);
		else if (eml_err_category(rc) == 200)
			atomic_fetch_add(&p->stats.proto_errors, 1);
		/* eml_controls_auth wrote its own, more detailed line */
		if (rc != EML_ERR_AUTH && rc != EML_ERR_IO_EOF)
			audit_refusal(p, cl->peer, reason, rc);
		eml_err_clear_detail();
		if (rc != EML_ERR_IO_EOF)
			refuse_hello(p, cl->fd, have_rid ? rid : NULL, rc);
	} else if ((rc = connect_agent(p, &afd, agent, sizeof(agent))) != EML_OK) {
		atomic_fetch_add(&p->stats.rejected_no_agent, 1);
		refuse_hello(p, cl->fd, rid, EML_ERR_NO_AGENT);
		audit_refusal(p, cl->peer, "no_agent", EML_ERR_NO_AGENT);
	} else {
		memset(&rcl, 0, sizeof(rcl));
		rcl.peer = cl->peer;
		rcl.agent = agent;
		rcl.id = &id;
		rcl.first = first.data;
		rcl.first_len = first.len;
		rc = eml_relay_run_client(&p->env, cl->fd, afd, &rcl);
		eml_err_clear_detail();
		(void)close(afd);
	}
done:
	eml_buf_free(&first);
	tl_client = NULL;
	(void)pthread_mutex_lock(&p->mu);
	/* unlinked before the close: evict_for may shut fd down meanwhile */
	clients_unlink(p, cl);
	(void)close(cl->fd);
	peer_release(p, cl->host, cl->in_handshake);
	eml_free(cl);
	p->active--;
	atomic_fetch_sub(&p->stats.clients_active, 1);
	(void)pthread_cond_broadcast(&p->cv);
	(void)pthread_mutex_unlock(&p->mu);
	/* the plaintext end is closed: the pump ends and closes the TCP socket */
	eml_tls_pump_join(tls);
	return NULL;
}

static void
set_nodelay(int fd)
{
	int one = 1;

	/* Harmless failure on unix sockets. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
accept_one(struct proxy *p)
{
	struct client *cl = NULL;
	pthread_attr_t at;
	pthread_t th;
	char peer[EML_ADDR_STR_MAX], host[EML_ADDR_STR_MAX], victim[EML_ADDR_STR_MAX] = "";
	int fd = -1;
	const char *full = NULL;

	if (eml_transport_accept(p->lfd, eml_deadline_in_ms(0), &fd) != EML_OK) {
		eml_err_clear_detail();
		return;
	}
	set_nodelay(fd);
	eml_transport_peer_string(fd, peer, sizeof(peer));
	peer_host(peer, host, sizeof(host));
	atomic_fetch_add(&p->stats.clients_total, 1);
	cl = eml_calloc(1, sizeof(*cl));
	if (cl == NULL) {
		full = "no_memory";
		goto refused;
	}
	cl->p = p;
	cl->fd = fd;
	cl->in_handshake = true;
	(void)snprintf(cl->peer, sizeof(cl->peer), "%s", peer);
	(void)snprintf(cl->host, sizeof(cl->host), "%s", host);
	(void)pthread_mutex_lock(&p->mu);
	/* Connections being cut still count until their thread ends; the
	 * threads are bounded by max_clients plus those. */
	if (p->active - p->evicting >= p->cfg->max_clients)
		full = evict_for(p, host, victim, sizeof(victim));
	if (full == NULL)
		full = peer_take(p, host);
	if (full == NULL) {
		p->active++;
		atomic_fetch_add(&p->stats.clients_active, 1);
		clients_link(p, cl);
	}
	(void)pthread_mutex_unlock(&p->mu);
	if (victim[0] != '\0') {
		atomic_fetch_add(&p->stats.rejected_busy, 1);
		audit_refusal(p, victim, "per_peer_handshake", EML_ERR_BUSY);
	}
	if (full != NULL)
		goto refused;
	(void)pthread_attr_init(&at);
	(void)pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	(void)pthread_attr_setstacksize(&at, CONN_STACK);
	if (pthread_create(&th, &at, client_main, cl) == 0) {
		(void)pthread_attr_destroy(&at);
		return;
	}
	(void)pthread_attr_destroy(&at);
	/* No thread: the same answer as a full house. */
	(void)pthread_mutex_lock(&p->mu);
	clients_unlink(p, cl);
	peer_release(p, host, true);
	p->active--;
	atomic_fetch_sub(&p->stats.clients_active, 1);
	(void)pthread_mutex_unlock(&p->mu);
	full = "no_thread";
refused:
	eml_free(cl);
	atomic_fetch_add(&p->stats.rejected_busy, 1);
	refuse(p, fd, EML_ERR_BUSY);
	audit_refusal(p, peer, full, EML_ERR_BUSY);
	(void)close(fd);
}

/* ------------------------------------------------------------ lifecycle */

/* Wait until no session is left or the deadline passes; true if none. */
static bool
wait_idle(struct proxy *p, int64_t deadline)
{
	bool idle;

	(void)pthread_mutex_lock(&p->mu);
	while (p->active > 0 && eml_now_ms() < deadline) {
		struct timespec ts;

		(void)clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000 * 1000;
		if (ts.tv_nsec >= 1000 * 1000 * 1000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000 * 1000 * 1000;
		}
		(void)pthread_cond_timedwait(&p->cv, &p->mu, &ts);
	}
	idle = p->active == 0;
	(void)pthread_mutex_unlock(&p->mu);
	return idle;
}

static void
log_listen(int fd, const char *spec, const char *event)
{
	struct eml_addr like, got;
	char s[EML_ADDR_STR_MAX];

	if (eml_addr_parse(spec, &like) == EML_OK &&
	    eml_transport_local_addr(fd, &like, &got) == EML_OK) {
		eml_addr_format(&got, s, sizeof(s));
		EML_LOG_INFO(event, NULL, EML_F_STR("addr", s));
	} else {
		eml_err_clear_detail();
		EML_LOG_INFO(event, NULL, EML_F_STR("addr", spec));
	}
}

static void
warn_test_hooks(const struct eml_proxy_config *c)
{
	(void)fprintf(stderr,
	    "\n"
	    "**********************************************************************\n"
	    "*  eml-proxy: TEST HOOKS ACTIVE - FOR INTEGRATION TESTS ONLY           *\n"
	    "*  tamper-frame=%ld replay-frame=%ld capture=%s\n"
	    "*  This proxy alters, replays or records relayed traffic.             *\n"
	    "*  Never run it like this in production.                             *\n"
	    "**********************************************************************\n\n",
	    c->tamper_frame, c->replay_frame, c->capture != NULL ? c->capture : "-");
	EML_LOG_WARN("proxy.test_hooks", NULL, EML_F_I64("tamper_frame", c->tamper_frame),
	    EML_F_I64("replay_frame", c->replay_frame),
	    EML_F_STR("capture", c->capture != NULL ? c->capture : ""));
}

/* Open everything that needs privileges or paths, in STYLE §30 order
 * step 1: files and sockets first. */
static eml_err
open_resources(struct proxy *p)
{
	const struct eml_proxy_config *c = p->cfg;
	struct eml_addr a;

	EML_GUARD(eml_store_open(&p->store, c->weights));
	if (c->audit != NULL) {
		EML_GUARD(eml_audit_open(&p->audit, c->audit));
		eml_audit_set_sync(&p->audit, c->audit_sync_every);
		p->have_audit = true;
	}
	if (c->capture != NULL) {
		p->capture_fd = open(c->capture, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (p->capture_fd < 0) {
			eml_err_set_detail("--capture %s: %s", c->capture, strerror(errno));
			EML_BAIL(EML_ERR_FILE);
		}
	}
	EML_GUARD(eml_addr_parse(c->listen, &a));
	EML_GUARD(eml_transport_listen(&a, &p->lfd));
	if (c->admin != NULL) {
		EML_GUARD(eml_addr_parse(c->admin, &a));
		EML_GUARD(eml_transport_listen(&a, &p->admin_fd));
	}
	if (c->admin_token_file != NULL) {
		EML_GUARD(eml_admin_token_load(c->admin_token_file, p->admin_token));
		p->have_admin_token = true;
	}
	if (c->tls_cert != NULL)
		EML_GUARD(eml_tls_server_new(c->tls_cert, c->tls_key, &p->tls));
	return EML_OK;
}

static eml_err
setup_signals(struct proxy *p)
{
	sigset_t set;

	(void)signal(SIGPIPE, SIG_IGN);
	(void)sigemptyset(&set);
	(void)sigaddset(&set, SIGTERM);
	(void)sigaddset(&set, SIGINT);
	(void)sigaddset(&set, SIGHUP);
	/* Blocked here, before any thread starts, so every thread inherits
	 * the mask and only the accept loop sees them (through signalfd). */
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
		EML_BAIL(EML_ERR_INTERNAL);
	p->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
	EML_ENSURE(p->sigfd >= 0, EML_ERR_INTERNAL);
	return EML_OK;
}

static void
accept_loop(struct proxy *p)
{
	for (;;) {
		struct pollfd fds[2] = { { p->lfd, POLLIN, 0 }, { p->sigfd, POLLIN, 0 } };

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			EML_LOG_ERROR("proxy.poll_failed", NULL, EML_F_STR("why", strerror(errno)));
			return;
		}
		if ((fds[1].revents & POLLIN) != 0) {
			struct signalfd_siginfo si;

			if (read(p->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				EML_LOG_INFO("proxy.signal", NULL, EML_F_U64("signo", si.ssi_signo));
				if (si.ssi_signo != SIGHUP)
					return;
				/* SIGHUP: new keys for new hellos and requests;
				 * no connection is dropped */
				if (p->ctl.keys_required &&
				    eml_controls_reload_keys(&p->ctl, "sighup") != EML_OK)
					eml_err_clear_detail();
			}
		}
		if ((fds[0].revents & POLLIN) != 0)
			accept_one(p);
	}
}

static void
shutdown_sessions(struct proxy *p)
{
	int64_t t0 = eml_now_ms();
	unsigned left;

	atomic_store(&p->draining, true);
	(void)pthread_mutex_lock(&p->mu);
	left = p->active;
	(void)pthread_mutex_unlock(&p->mu);
	EML_LOG_INFO("proxy.draining", NULL, EML_F_U64("sessions", left),
	    EML_F_I64("drain_ms", p->cfg->drain_ms));
	if (!wait_idle(p, t0 + p->cfg->drain_ms)) {
		(void)pthread_mutex_lock(&p->mu);
		left = p->active;
		(void)pthread_mutex_unlock(&p->mu);
		EML_LOG_WARN("proxy.drain_timeout", NULL, EML_F_U64("sessions_cut", left));
		atomic_store(&p->stop, true);
		(void)wait_idle(p, eml_now_ms() + STOP_GRACE_MS);
	}
	EML_LOG_INFO("proxy.drained", NULL, EML_F_I64("ms", eml_now_ms() - t0));
}

static void
audit_event(struct proxy *p, const char *kind)
{
	if (!p->have_audit)
		return;
	if (EML_AUDIT(&p->audit, kind, NULL, EML_F_STR("listen", p->cfg->listen),
		EML_F_U64("agents", p->cfg->nagents), EML_F_BOOL("test_hooks", p->test_hooks),
		EML_F_U64("clients_total", atomic_load(&p->stats.clients_total)),
		EML_F_U64("requests", atomic_load(&p->stats.requests))) != EML_OK)
		EML_LOG_ERROR("audit.write_failed", NULL, EML_F_STR("why", eml_err_detail()));
}

/* The switches given at start, each an audit line like a later change. */
static eml_err
start_controls(struct proxy *p)
{
	const struct eml_proxy_config *c = p->cfg;
	uint8_t (*ids)[EML_STORE_ID_LEN] = NULL;
	eml_err rc;

	EML_LOG_INFO("controls", NULL, EML_F_BOOL("api_keys_required", c->api_keys != NULL),
	    EML_F_U64("keys", p->ctl.keys.n), EML_F_U64("rate_limit_per_minute", c->rate_limit));
	if (c->kill_switch)
		eml_controls_set_kill(&p->ctl, true, "start");
	if (c->n_allow_models == 0)
		return EML_OK;
	ids = eml_calloc(c->n_allow_models, EML_STORE_ID_LEN);
	EML_ENSURE(ids != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < c->n_allow_models; i++)
		if ((rc = eml_hex_decode(ids[i], EML_STORE_ID_LEN, c->allow_models[i])) != EML_OK)
			goto out;
	rc = eml_controls_set_baseline(&p->ctl, true, true, (const uint8_t (*)[EML_STORE_ID_LEN])ids,
	    c->n_allow_models, "start");
out:
	eml_free(ids);
	return rc;
}

/* A proxy for config c with nothing opened yet; NULL when out of memory. */
static struct proxy *
proxy_new(const struct eml_proxy_config *c)
{
	struct proxy *p = eml_calloc(1, sizeof(*p));

	if (p == NULL)
		return NULL;
	p->cfg = c;
	p->lfd = p->admin_fd = p->sigfd = p->capture_fd = -1;
	p->store.dirfd = -1;
	p->audit.fd = -1;
	(void)pthread_mutex_init(&p->mu, NULL);
	(void)pthread_cond_init(&p->cv, NULL);
	(void)pthread_mutex_init(&p->capture_mu, NULL);
	eml_secpool_init(&p->hello_pool, HELLO_FRAME_MAX, HELLO_POOL_KEEP);
	p->stats.started_ms = eml_now_ms();
	p->test_hooks = c->tamper_frame > 0 || c->replay_frame > 0 || c->capture != NULL;
	return p;
}

/* Everything that needs privileges or names outside the sandbox: the agent
 * pool, signals, sockets, the store and the audit log. */
static eml_err
proxy_open(struct proxy *p)
{
	const struct eml_proxy_config *c = p->cfg;

	EML_GUARD(check_config(p));
	EML_GUARD(eml_upstream_pool_init(&p->pool, c->agents, c->nagents, c->rise, c->fall));
	p->have_pool = true;
	if (c->max_per_peer > 0 || c->max_handshake_per_peer > 0) {
		p->peers = eml_calloc(c->max_clients, sizeof(*p->peers));
		EML_ENSURE(p->peers != NULL, EML_ERR_NOMEM);
	}
	EML_GUARD(setup_signals(p));
	EML_GUARD(open_resources(p));
	/* The job queue and the job API's socket, before the privilege drop;
	 * their threads start after the seccomp filter (start_aux_threads). */
	if (c->jobs != NULL)
		EML_GUARD(eml_jobs_open(&c->job, &p->jobs));
	EML_GUARD(eml_controls_init(&p->ctl, c->api_keys, c->rate_limit,
	    p->have_audit ? &p->audit : NULL));
	p->have_ctl = true;
	if (c->signers != NULL) {
		EML_GUARD(eml_signers_load(c->signers, &p->signers));
		p->have_signers = true;
	}
	/* before the drop and the filter: it opens and spawns nothing later */
	EML_GUARD(start_admin(p, !c->no_seccomp && eml_seccomp_supported()));
	return EML_OK;
}

/* STYLE §30: drop privileges, then (step 4, last, single-threaded, so every
 * thread inherits it) the seccomp filter; before any client byte is read. */
/* The directory holding path ("." for a bare name), into out. */
static const char *
parent_dir(const char *path, char *out, size_t n)
{
	const char *slash = strrchr(path, '/');
	size_t len;

	if (slash == NULL)
		return ".";
	len = slash == path ? 1 : (size_t)(slash - path);
	if (len >= n)
		return path; /* too long to cut: its own rule, which fails closed */
	memcpy(out, path, len);
	out[len] = '\0';
	return out;
}

/* The port of a redis://HOST:PORT queue URL, -1 for anything else. */
static int
redis_port(const char *url)
{
	const char *colon;
	uint64_t port;

	if (url == NULL || strncmp(url, "redis://", 8) != 0 ||
	    (colon = strrchr(url + 8, ':')) == NULL)
		return -1;
	if (eml_num_u64(colon + 1, 1, 65535, &port) != EML_OK)
		return -1;
	return (int)port;
}

/*
 * Landlock (host-proxy/eml_landlock.h): what the proxy may still open
 * once it serves. The store read-only; the audit log's and the SQLite
 * queue's directories read-write; the API key file's directory
 * read-only (reloads); glibc's overcommit file. EML_PROXY_SELFTEST_OPEN
 * names a path to try afterwards (a test hook: the start log says what the
 * kernel answered).
 */
static eml_err
proxy_landlock(struct proxy *p)
{
	const struct eml_proxy_config *c = p->cfg;
	struct eml_landlock_rules r;
	char audit_dir[4096], keys_dir[4096], jobs_dir[4096];
	const char *q = c->jobs != NULL ? c->job.queue.url : NULL;
	int abi = 0;

	memset(&r, 0, sizeof(r));
	r.read_dirs[r.n_read++] = c->weights;
	if (c->api_keys != NULL)
		r.read_dirs[r.n_read++] = parent_dir(c->api_keys, keys_dir, sizeof(keys_dir));
	if (c->audit != NULL)
		r.write_dirs[r.n_write++] = parent_dir(c->audit, audit_dir, sizeof(audit_dir));
	if (q != NULL && strncmp(q, "redis://", 8) != 0)
		r.write_dirs[r.n_write++] = parent_dir(strncmp(q, "sqlite:", 7) == 0 ? q + 7 : q,
		    jobs_dir, sizeof(jobs_dir));
	r.read_files[r.n_files++] = "/proc/sys/vm/overcommit_memory";
	r.tcp_connect_port = redis_port(q);
	EML_GUARD(eml_landlock_apply(&r, &abi));
	p->settings.landlock = abi;
	if (abi > 0)
		EML_LOG_INFO("landlock.installed", NULL, EML_F_I64("abi", abi),
		    EML_F_U64("read_dirs", r.n_read), EML_F_U64("write_dirs", r.n_write),
		    EML_F_I64("tcp_connect_port", r.tcp_connect_port));
	else
		EML_LOG_WARN("landlock.unavailable", NULL,
		    EML_F_STR("why", "kernel without Landlock: paths confined by seccomp only"));
	return EML_OK;
}

/* The test hook: one open after confinement, its answer logged. */
static void
sandbox_selftest(void)
{
	const char *path = getenv("EML_PROXY_SELFTEST_OPEN");
	int fd, err;

	if (path == NULL || path[0] == '\0')
		return;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	err = fd < 0 ? errno : 0;
	if (fd >= 0)
		(void)close(fd);
	EML_LOG_WARN("sandbox.selftest", NULL, EML_F_STR("path", path),
	    EML_F_STR("result", err == 0 ? "opened" : strerror(err)), EML_F_I64("errno", err));
}

static bool
has_unix_agent(const struct eml_proxy_config *c)
{
	for (size_t i = 0; i < c->nagents; i++)
		if (strncmp(c->agents[i], "unix:", 5) == 0)
			return true;
	return false;
}

static eml_err
proxy_confine(struct proxy *p, struct eml_privdrop_result *pr)
{
	const struct eml_proxy_config *c = p->cfg;

	EML_GUARD(eml_privdrop(choose_user(p), pr));
	if (p->test_hooks)
		warn_test_hooks(c);
	if (!c->no_seccomp && eml_seccomp_supported()) {
		/* Landlock first (the seccomp filter does not allow its
		 * calls); both are off together with --no-seccomp and in
		 * sanitizer builds (their runtimes read /proc at will). */
		EML_GUARD(proxy_landlock(p));
		EML_GUARD(eml_seccomp_install(has_unix_agent(c)));
		EML_LOG_INFO("seccomp.installed", NULL, EML_F_STR("default", "kill"),
		    EML_F_STR("unix_sockets", has_unix_agent(c) ? "allowed" : "refused"));
		sandbox_selftest();
	} else {
		EML_LOG_WARN("seccomp.skipped", NULL,
		    EML_F_STR("why", c->no_seccomp ? "--no-seccomp" : "sanitizer build or architecture"));
	}
	return EML_OK;
}

/* What every relay session reads: limits, store, audit, counters, hooks. */
static void
relay_env_init(struct proxy *p)
{
	const struct eml_proxy_config *c = p->cfg;

	p->env.frame_max = c->frame_max;
	p->env.handshake_ms = c->handshake_ms;
	p->env.idle_ms = c->idle_ms;
	p->env.request_ms = c->request_ms;
	p->env.frame_ms = c->frame_ms;
	p->env.store = &p->store;
	p->env.audit = p->have_audit ? &p->audit : NULL;
	p->env.stats = &p->stats;
	p->env.draining = &p->draining;
	p->env.stop = &p->stop;
	p->env.on_handshake = on_handshake;
	p->env.audit_fail_closed = !c->audit_serve;
	p->env.tamper_frame = c->tamper_frame;
	p->env.replay_frame = c->replay_frame;
	p->env.capture_fd = p->capture_fd;
	p->env.capture_mu = &p->capture_mu;
	p->env.ctl = &p->ctl;
	p->env.drain_ms = c->drain_ms;
	p->env.strict_artifacts = c->strict_artifacts;
	p->env.signers = p->have_signers ? &p->signers : NULL;
}

/* The health-check thread and, with --admin, the admin thread (it drives
 * libmicrohttpd). */
static eml_err
start_aux_threads(struct proxy *p)
{
	EML_ENSURE(pthread_create(&p->health_th, NULL, health_main, p) == 0, EML_ERR_INTERNAL);
	p->health_started = true;
	if (p->admin != NULL) {
		EML_ENSURE(pthread_create(&p->admin_th, NULL, admin_main, p) == 0,
		    EML_ERR_INTERNAL);
		p->admin_started = true;
	}
	if (p->jobs != NULL)
		EML_GUARD(eml_jobs_run(p->jobs, &p->pool, &p->store));
	return EML_OK;
}

/* Accept and relay until a stop signal, then drain the sessions. */
static void
serve(struct proxy *p, const struct eml_privdrop_result *pr)
{
	const struct eml_proxy_config *c = p->cfg;

	audit_event(p, "start");
	if (start_controls(p) != EML_OK) {
		EML_LOG_ERROR("controls.failed", NULL, EML_F_STR("why", eml_err_detail()));
		eml_err_clear_detail();
	}
	log_listen(p->lfd, c->listen, "proxy.listening");
	EML_LOG_INFO("proxy.ready", NULL, EML_F_U64("agents", c->nagents),
	    EML_F_U64("max_clients", c->max_clients), EML_F_U64("uid", pr->uid),
	    EML_F_BOOL("test_hooks", p->test_hooks));
	accept_loop(p);
	/* Stop accepting: new clients get "connection refused" from now. */
	(void)close(p->lfd);
	p->lfd = -1;
	shutdown_sessions(p);
	audit_event(p, "stop");
}

/* Log the audit chain's head and close the log. The head anchors the log's
 * tail: keep it elsewhere to detect a cut at the end (eml-proxy audit
 * verify --head). */
static void
close_audit(struct proxy *p)
{
	uint8_t head[EML_AUDIT_HASH_LEN];
	char hex[2 * EML_AUDIT_HASH_LEN + 1];
	uint64_t lines = 0;

	eml_audit_head(&p->audit, head, &lines);
	eml_hex_encode(hex, head, sizeof(head));
	EML_LOG_INFO("audit.head", NULL, EML_F_U64("lines", lines), EML_F_STR("head", hex));
	eml_audit_close(&p->audit);
}

static void
close_fd(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
	*fd = -1;
}

static void
proxy_teardown(struct proxy *p)
{
	atomic_store(&p->quit_aux, true);
	if (p->health_started)
		(void)pthread_join(p->health_th, NULL);
	if (p->admin_started)
		(void)pthread_join(p->admin_th, NULL);
	eml_jobs_stop(p->jobs);
	p->jobs = NULL;
	eml_admin_stop(p->admin);
	p->admin = NULL;
	eml_wipe(p->admin_token, sizeof(p->admin_token));
	if (p->have_audit)
		close_audit(p);
	close_fd(&p->lfd);
	close_fd(&p->admin_fd);
	close_fd(&p->sigfd);
	close_fd(&p->capture_fd);
	eml_store_close(&p->store);
	/* Sessions still running after the stop grace keep pointers into p:
	 * leak it rather than free it under them. */
	if (p->active == 0) {
		if (p->have_pool)
			eml_upstream_pool_free(&p->pool);
		if (p->have_ctl)
			eml_controls_free(&p->ctl);
		eml_tls_server_free(p->tls);
		eml_secpool_free(&p->hello_pool);
		eml_free(p->peers);
		eml_free(p);
	}
}

eml_err
eml_proxy_run(const struct eml_proxy_config *c)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct proxy *p = NULL;
	struct eml_privdrop_result pr;

	EML_ENSURE_REF(c);
	p = proxy_new(c);
	EML_ENSURE(p != NULL, EML_ERR_NOMEM);
	if ((rc = proxy_open(p)) != EML_OK || (rc = proxy_confine(p, &pr)) != EML_OK)
		goto out;
	relay_env_init(p);
	if ((rc = start_aux_threads(p)) != EML_OK)
		goto out;
	serve(p, &pr);
	rc = EML_OK;
out:
	proxy_teardown(p);
	return rc;
}
