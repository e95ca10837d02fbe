/*
 * The eml-proxy binary as a process: started on 127.0.0.1 with a dummy
 * agent (this test, on a unix socket) behind it. Relay and blob serving
 * end to end, the admin endpoint, privilege drop as seen in /proc, the
 * handshake deadline, BUSY past --max-clients, NO_AGENT, SIGTERM drain,
 * and `eml-proxy audit verify` on the log it wrote.
 *
 * Skips when $BUILD/bin/eml-proxy is not built (make unit).
 */
#include "eml_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_transport.h"

#define FMAX ((size_t)8 << 20)
/* snprintf into an array, failing the test on truncation */
#define FMT(dst, ...) assert_true((size_t)snprintf((dst), sizeof(dst), __VA_ARGS__) < sizeof(dst))

static char proxy_bin[512];

struct fx {
	char dir[64];
	char store[96];
	char sock[128];
	char log[128];
	char audit[128];
	pid_t pid;
	int port;
	int admin_port;
	int agent_lfd;
	pthread_t agent_th;
	bool agent_running;
	atomic_bool agent_quit;
	atomic_int agent_sessions;
};

/* ------------------------------------------------------------ framing */

static int
num(const char *s)
{
	long v = strtol(s, NULL, 10);

	return v < 0 || v > INT_MAX ? -1 : (int)v;
}

static eml_err
send_env(int fd, uint32_t type, const uint8_t rid[16], const void *body, size_t n)
{
	struct eml_envelope env;
	struct eml_buf b;
	eml_err rc;

	memset(&env, 0, sizeof(env));
	env.version = 1;
	env.type = type;
	EML_MEMCPY(env.request_id, rid, 16);
	env.body = body;
	env.body_len = n;
	eml_buf_init(&b, FMAX);
	rc = eml_envelope_pack(&env, FMAX, &b);
	if (rc == EML_OK)
		rc = eml_frame_write(fd, b.data, b.len, FMAX, eml_deadline_in_ms(5000));
	eml_buf_free_nowipe(&b);
	return rc;
}

static eml_err
recv_env(int fd, int64_t ms, struct eml_envelope *env, struct eml_buf *buf)
{
	eml_err rc;

	memset(env, 0, sizeof(*env));
	eml_buf_init(buf, FMAX);
	rc = eml_frame_read(fd, FMAX, eml_deadline_in_ms(ms), buf);
	if (rc != EML_OK)
		return rc;
	return eml_envelope_unpack(env, buf->data, buf->len, FMAX);
}

static uint32_t
error_code(const struct eml_envelope *env)
{
	ProtobufCMessage *m = NULL;
	uint32_t code = 0;

	if (env->type != EML_MSG_ERROR)
		return 0;
	if (eml_msg_unpack(&eml__v1__error__descriptor, env->body, env->body_len, 4096, &m) ==
	    EML_OK) {
		code = ((Eml__V1__Error *)m)->code;
		eml_msg_free(m);
	}
	return code;
}

static void
expect_error(int fd, eml_err code, int64_t ms)
{
	struct eml_envelope env;
	struct eml_buf b;

	assert_eml_ok(recv_env(fd, ms, &env, &b));
	assert_int_equal(env.type, EML_MSG_ERROR);
	assert_int_equal(error_code(&env), (uint32_t)code);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
}

static void
expect_eof(int fd)
{
	uint8_t x;

	assert_eml(eml_io_read_full(fd, &x, 1, eml_deadline_in_ms(3000), NULL), EML_ERR_IO_EOF);
}

/* ------------------------------------------------------------ the agent */

/*
 * InferRequest bodies are commands for this dummy agent:
 *   'B' + id[32] + off[8] + len[8]: fetch that range through the proxy,
 *       answer with the bytes;
 *   'S' + 15 bytes: wait 800 ms, answer with the same body.
 */
static eml_err
agent_fetch(int fd, const uint8_t *cmd, struct eml_buf *data)
{
	Eml__V1__BlobRequest req = EML__V1__BLOB_REQUEST__INIT;
	struct eml_buf b;
	struct eml_envelope env;
	ProtobufCMessage *m = NULL;
	struct eml_cur c = eml_cur_make(cmd + 33, 16);
	uint8_t rid[16] = { 9 };
	eml_err rc;

	eml_buf_init(&b, 1024);
	req.content_id.data = (uint8_t *)(uintptr_t)(cmd + 1);
	req.content_id.len = 32;
	if ((rc = eml_cur_read_u64be(&c, &req.offset)) != EML_OK ||
	    (rc = eml_cur_read_u64be(&c, &req.length)) != EML_OK ||
	    (rc = eml_msg_pack(&req.base, &b)) != EML_OK ||
	    (rc = send_env(fd, EML_MSG_BLOB_REQUEST, rid, b.data, b.len)) != EML_OK) {
		eml_buf_free_nowipe(&b);
		return rc;
	}
	eml_buf_free_nowipe(&b);
	rc = recv_env(fd, 5000, &env, &b);
	if (rc == EML_OK && env.type == EML_MSG_BLOB_RESPONSE)
		rc = eml_msg_unpack(&eml__v1__blob_response__descriptor, env.body, env.body_len, FMAX,
		    &m);
	else if (rc == EML_OK)
		rc = EML_ERR_PROTO_MSG_TYPE;
	if (rc == EML_OK)
		rc = eml_buf_append(data, ((Eml__V1__BlobResponse *)m)->data.data,
		    ((Eml__V1__BlobResponse *)m)->data.len);
	eml_msg_free(m);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
	return rc;
}

static void *
agent_session(void *arg)
{
	int fd = (int)(intptr_t)arg;

	for (;;) {
		struct eml_envelope env;
		struct eml_buf b, out;
		eml_err rc = recv_env(fd, 10000, &env, &b);

		if (rc != EML_OK) {
			eml_buf_free_nowipe(&b);
			break;
		}
		eml_buf_init(&out, FMAX);
		if (env.type == EML_MSG_PING) {
			/* Pong carries the same seq: same field number and type */
			rc = send_env(fd, EML_MSG_PONG, env.request_id, env.body, env.body_len);
		} else if (env.type == EML_MSG_CLIENT_HELLO) {
			rc = send_env(fd, EML_MSG_ATTESTATION_RESPONSE, env.request_id,
			    "dummy-attestation-document", 26);
		} else if (env.type == EML_MSG_INFER_REQUEST && env.body_len == 49 &&
			   env.body[0] == 'B') {
			rc = agent_fetch(fd, env.body, &out);
			if (rc == EML_OK)
				rc = send_env(fd, EML_MSG_INFER_RESPONSE, env.request_id, out.data,
				    out.len);
		} else if (env.type == EML_MSG_INFER_REQUEST) {
			usleep(800 * 1000);
			rc = send_env(fd, EML_MSG_INFER_RESPONSE, env.request_id, env.body,
			    env.body_len);
		}
		eml_buf_free_nowipe(&out);
		eml_envelope_clear(&env);
		eml_buf_free_nowipe(&b);
		if (rc != EML_OK)
			break;
	}
	(void)close(fd);
	return NULL;
}

static void *
agent_main(void *arg)
{
	struct fx *f = arg;

	while (!atomic_load(&f->agent_quit)) {
		pthread_t th;
		int fd;

		if (eml_transport_accept(f->agent_lfd, eml_deadline_in_ms(100), &fd) != EML_OK)
			continue;
		atomic_fetch_add(&f->agent_sessions, 1);
		if (pthread_create(&th, NULL, agent_session, (void *)(intptr_t)fd) != 0)
			(void)close(fd);
		else
			(void)pthread_detach(th);
	}
	return NULL;
}

static void
start_agent(struct fx *f)
{
	struct eml_addr a;

	assert_eml_ok(eml_addr_parse("unix:/x", &a));
	FMT(a.path, "%s", f->sock);
	assert_eml_ok(eml_transport_listen(&a, &f->agent_lfd));
	/* so that the proxy, dropped to nobody, can connect */
	assert_int_equal(chmod(f->sock, 0777), 0);
	assert_int_equal(pthread_create(&f->agent_th, NULL, agent_main, f), 0);
	f->agent_running = true;
}

/* ------------------------------------------------------------ the proxy */

static int
setup(void **state)
{
	struct fx *f = eml_calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_eml_ok(eml_mem_init());
	FMT(f->dir, "/tmp/eml-pproc-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	/* world-searchable, so a proxy dropped to nobody can reach in */
	assert_int_equal(chmod(f->dir, 0755), 0);
	FMT(f->store, "%s/store", f->dir);
	assert_int_equal(mkdir(f->store, 0755), 0);
	FMT(f->sock, "%s/agent.sock", f->dir);
	FMT(f->log, "%s/proxy.log", f->dir);
	FMT(f->audit, "%s/audit.log", f->dir);
	f->agent_lfd = -1;
	f->pid = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[160];

	if (f->pid > 0) {
		(void)kill(f->pid, SIGKILL);
		(void)waitpid(f->pid, NULL, 0);
	}
	atomic_store(&f->agent_quit, true);
	if (f->agent_running)
		(void)pthread_join(f->agent_th, NULL);
	if (f->agent_lfd >= 0)
		(void)close(f->agent_lfd);
	FMT(cmd, "rm -rf '%s'", f->dir);
	if (getenv("EML_KEEP") == NULL)
		assert_int_equal(system(cmd), 0);
	eml_free(f);
	return 0;
}

/* The port from the log line of `event` ("addr":"tcp:127.0.0.1:PORT"). */
static int
port_from_log(const char *path, const char *event)
{
	FILE *fp = fopen(path, "r");
	char line[2048];
	int port = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		const char *at;

		if (strstr(line, event) == NULL || (at = strstr(line, "\"addr\":\"tcp:")) == NULL)
			continue;
		at = strchr(at + 12, ':');
		if (at != NULL)
			port = num(at + 1);
	}
	(void)fclose(fp);
	return port;
}

static bool
log_has(const char *path, const char *what)
{
	FILE *fp = fopen(path, "r");
	char line[2048];
	bool found = false;

	if (fp == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), fp) != NULL)
		found = strstr(line, what) != NULL;
	(void)fclose(fp);
	return found;
}

static void
start_proxy(struct fx *f, const char *agent_sock, const char *const *extra)
{
	char agent[160];
	const char *argv[48];
	size_t n = 0;

	FMT(agent, "unix:%s", agent_sock);
	argv[n++] = proxy_bin;
	argv[n++] = "--listen";
	argv[n++] = "tcp:127.0.0.1:0";
	argv[n++] = "--agent";
	argv[n++] = agent;
	argv[n++] = "--weights";
	argv[n++] = f->store;
	argv[n++] = "--admin";
	argv[n++] = "tcp:127.0.0.1:0";
	argv[n++] = "--audit";
	argv[n++] = f->audit;
	argv[n++] = "--health-ms";
	argv[n++] = "200";
	for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 46; i++)
		argv[n++] = extra[i];
	argv[n] = NULL;
	f->pid = fork();
	assert_true(f->pid >= 0);
	if (f->pid == 0) {
		int lfd = open(f->log, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (lfd < 0 || dup2(lfd, 2) < 0)
			_exit(127);
		(void)execv(proxy_bin, (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	for (int i = 0; i < 100 && f->port == 0; i++) {
		usleep(50 * 1000);
		f->port = port_from_log(f->log, "proxy.listening");
	}
	f->admin_port = port_from_log(f->log, "proxy.admin");
	if (f->port == 0) {
		fail_msg("eml-proxy did not start; see %s (EML_KEEP=1 keeps it)", f->log);
	}
}

static int
dial(int port)
{
	struct eml_addr a;
	int fd = -1;

	assert_eml_ok(eml_addr_parse("tcp:127.0.0.1:1", &a));
	a.port = (uint32_t)port;
	assert_eml_ok(eml_transport_connect(&a, eml_deadline_in_ms(3000), &fd));
	return fd;
}

static const uint8_t RID[16] = { 0xee, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };
/* A ClientHello the proxy can walk (it reads the hello for an API key):
 * nonce (1) and public key (2) of 32 bytes, suite (3) 1. The dummy agent
 * does not check the values. */
#define H32(b) b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, \
	b, b, b, b, b, b, b, b, b, b, b, b, b, b, b, b
static const uint8_t HELLO[] = { 0x0a, 0x20, H32(0x11), 0x12, 0x20, H32(0x22), 0x18, 0x01 };

static void
handshake(int fd)
{
	struct eml_envelope env;
	struct eml_buf b;

	assert_eml_ok(send_env(fd, EML_MSG_CLIENT_HELLO, RID, HELLO, sizeof(HELLO)));
	assert_eml_ok(recv_env(fd, 3000, &env, &b));
	assert_int_equal(env.type, EML_MSG_ATTESTATION_RESPONSE);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
}

/* GET path from the admin endpoint; returns a static buffer. */
static const char *
admin_get(int port, const char *path)
{
	static char resp[65536];
	char req[128];
	int fd = dial(port);
	size_t got = 0;
	ssize_t r;

	FMT(req, "GET %s HTTP/1.0\r\n\r\n", path);
	assert_eml_ok(eml_io_write_full(fd, req, strlen(req), eml_deadline_in_ms(2000)));
	while ((r = read(fd, resp + got, sizeof(resp) - 1 - got)) > 0)
		got += (size_t)r;
	resp[got] = '\0';
	(void)close(fd);
	return resp;
}

static void
proc_status(pid_t pid, const char *key, char *val, size_t cap)
{
	char path[64], line[256];
	FILE *fp;

	FMT(path, "/proc/%d/status", (int)pid);
	fp = fopen(path, "r");
	assert_non_null(fp);
	val[0] = '\0';
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strncmp(line, key, strlen(key)) == 0 && line[strlen(key)] == ':')
			(void)snprintf(val, cap, "%s", line + strlen(key) + 1);
	(void)fclose(fp);
}

static int
run(const char *cmd, char *out, size_t cap)
{
	FILE *p = popen(cmd, "r");
	size_t n = 0;
	int st;

	assert_non_null(p);
	if (out != NULL) {
		n = fread(out, 1, cap - 1, p);
		out[n] = '\0';
	}
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 99;
}

static void
relay_blob_admin_privdrop(void **state)
{
	struct fx *f = *state;
	uint64_t seed = eml_test_seed();
	size_t n = (2u << 20) + 5;
	uint8_t *data = eml_alloc(n);
	uint8_t id[32], cmd[49];
	char path[160], line[256], out[128];
	const char *r;
	FILE *fp;
	int fd;
	struct eml_envelope env;
	struct eml_buf b;

	assert_non_null(data);
	eml_test_fill(&seed, data, n);
	/* `blob put` takes only sealed blobs: a header that agrees with the
	 * size (chunks of 64 KiB, 32 of them; docs/SEALED_BLOB.md) */
	{
		static const uint8_t hdr[32] = { 'E', 'M', 'L', 'B', 'L', 'O', 'B', 0, 0, 1, 0, 1,
			0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, 0, 0, 0, 0, 0x1f, 0xfd, 0xd5 };

		assert_int_equal(n, 48u + 0x1ffdd5u + 32u * 16u);
		memcpy(data, hdr, sizeof(hdr));
	}
	FMT(path, "%s/blob.bin", f->dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
	FMT(line, "'%s' blob put '%s' --weights '%s'", proxy_bin, path,
	    f->store);
	assert_int_equal(run(line, out, sizeof(out)), 0);
	assert_int_equal(strlen(out), 65);
	out[64] = '\0';
	assert_eml_ok(eml_hex_decode(id, 32, out));
	/* idempotent */
	assert_int_equal(run(line, NULL, 0), 0);

	start_agent(f);
	start_proxy(f, f->sock, NULL);
	fd = dial(f->port);
	handshake(fd);
	cmd[0] = 'B';
	memcpy(cmd + 1, id, 32);
	eml_store_u64be(cmd + 33, 777);
	eml_store_u64be(cmd + 41, 1u << 20);
	assert_eml_ok(send_env(fd, EML_MSG_INFER_REQUEST, RID, cmd, sizeof(cmd)));
	assert_eml_ok(recv_env(fd, 5000, &env, &b));
	assert_int_equal(env.type, EML_MSG_INFER_RESPONSE);
	assert_int_equal(env.body_len, 1u << 20);
	assert_memory_equal(env.body, data + 777, 1u << 20);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);

	/* admin, while the client is still connected */
	assert_true(f->admin_port > 0);
	r = admin_get(f->admin_port, "/status");
	/* libmicrohttpd answers a 1.0 request as HTTP/1.1 */
	assert_true(strncmp(r, "HTTP/1.1 200", 12) == 0);
	assert_non_null(strstr(r, "\"active\":1"));
	assert_non_null(strstr(r, "\"state\":\"up\""));
	assert_non_null(strstr(r, "\"blobs\":{\"requests\":1,\"bytes\":1048576"));
	r = admin_get(f->admin_port, "/metrics");
	assert_non_null(strstr(r, "\neml_proxy_blob_bytes_total 1048576\n"));
	r = admin_get(f->admin_port, "/nope");
	assert_true(strncmp(r, "HTTP/1.1 404", 12) == 0);

	/* privileges, as the kernel sees them */
	proc_status(f->pid, "NoNewPrivs", line, sizeof(line));
	assert_int_equal(num(line), 1);
	proc_status(f->pid, "CapEff", line, sizeof(line));
	assert_non_null(strstr(line, "0000000000000000"));
	proc_status(f->pid, "Seccomp", line, sizeof(line));
	if (log_has(f->log, "seccomp.installed"))
		assert_int_equal(num(line), 2); /* SECCOMP_MODE_FILTER */
	else
		assert_true(log_has(f->log, "seccomp.skipped"));
	proc_status(f->pid, "CapBnd", line, sizeof(line));
	if (geteuid() == 0) {
		assert_non_null(strstr(line, "0000000000000000"));
		proc_status(f->pid, "Uid", line, sizeof(line));
		assert_int_equal(num(line), 65534);
	}
	(void)close(fd);
	eml_free(data);
}

static void
silent_client_dropped(void **state)
{
	struct fx *f = *state;
	static const char *const extra[] = { "--handshake-ms", "500", NULL };
	int64_t t0;
	int fd;

	start_agent(f);
	start_proxy(f, f->sock, extra);
	t0 = eml_now_ms();
	fd = dial(f->port);
	expect_error(fd, EML_ERR_IO_TIMEOUT, 3000);
	expect_eof(fd);
	assert_true(eml_now_ms() - t0 >= 450);
	(void)close(fd);
	/* the slot is free again: a real client is served */
	fd = dial(f->port);
	handshake(fd);
	(void)close(fd);
}

/* A proxy started with extra, which leaves room for two clients from
 * here: two are served, a third is refused busy (an Error, then EOF), and
 * once one of the two left a new one is served. */
static void
two_served_third_busy(struct fx *f, const char *const *extra)
{
	int a, b, c;

	start_agent(f);
	start_proxy(f, f->sock, extra);
	a = dial(f->port);
	handshake(a);
	b = dial(f->port);
	handshake(b);
	c = dial(f->port);
	expect_error(c, EML_ERR_BUSY, 3000);
	expect_eof(c);
	(void)close(c);
	(void)close(a);
	usleep(300 * 1000);
	c = dial(f->port);
	handshake(c);
	(void)close(b);
	(void)close(c);
}

static void
busy_past_max_clients(void **state)
{
	struct fx *f = *state;
	static const char *const extra[] = { "--max-clients", "2", NULL };

	two_served_third_busy(f, extra);
	assert_non_null(strstr(admin_get(f->admin_port, "/metrics"),
	    "eml_proxy_clients_rejected_total{reason=\"busy\"} 1\n"));
}

/* One client address may not take every slot. */
static void
per_peer_limit(void **state)
{
	struct fx *f = *state;
	static const char *const extra[] = { "--max-per-peer", "2", NULL };

	two_served_third_busy(f, extra);
}

static void
no_agent(void **state)
{
	struct fx *f = *state;
	char missing[160];
	int fd;

	FMT(missing, "%s/absent.sock", f->dir);
	start_proxy(f, missing, NULL);
	fd = dial(f->port);
	/* the proxy reads the hello (and its key) before it picks an agent */
	assert_eml_ok(send_env(fd, EML_MSG_CLIENT_HELLO, RID, HELLO, sizeof(HELLO)));
	expect_error(fd, EML_ERR_NO_AGENT, 3000);
	expect_eof(fd);
	(void)close(fd);
	/* the proxy stays up; once the agent exists, clients are served */
	FMT(f->sock, "%s", missing);
	start_agent(f);
	for (int i = 0; i < 50; i++) {
		struct eml_envelope env;
		struct eml_buf b;

		fd = dial(f->port);
		assert_eml_ok(send_env(fd, EML_MSG_CLIENT_HELLO, RID, HELLO, sizeof(HELLO)));
		assert_eml_ok(recv_env(fd, 3000, &env, &b));
		(void)close(fd);
		if (env.type == EML_MSG_ATTESTATION_RESPONSE) {
			eml_envelope_clear(&env);
			eml_buf_free_nowipe(&b);
			return;
		}
		assert_int_equal(error_code(&env), EML_ERR_NO_AGENT);
		eml_envelope_clear(&env);
		eml_buf_free_nowipe(&b);
		usleep(100 * 1000);
	}
	fail_msg("agent never became available");
}

static void
sigterm_drains(void **state)
{
	struct fx *f = *state;
	struct eml_envelope env;
	struct eml_buf b;
	int fd, st = 0, probe = -1;
	char line[512], out[512];
	struct eml_addr a;

	start_agent(f);
	start_proxy(f, f->sock, NULL);
	fd = dial(f->port);
	handshake(fd);
	assert_eml_ok(send_env(fd, EML_MSG_INFER_REQUEST, RID, "S-slow-request-body", 19));
	usleep(200 * 1000);
	assert_int_equal(kill(f->pid, SIGTERM), 0);
	usleep(200 * 1000);
	/* no longer accepting */
	assert_eml_ok(eml_addr_parse("tcp:127.0.0.1:1", &a));
	a.port = (uint32_t)f->port;
	assert_eml(eml_transport_connect(&a, eml_deadline_in_ms(1000), &probe), EML_ERR_CONNECT);
	/* the request in flight is answered, then the session ends */
	assert_eml_ok(recv_env(fd, 3000, &env, &b));
	assert_int_equal(env.type, EML_MSG_INFER_RESPONSE);
	assert_memory_equal(env.body, "S-slow-request-body", 19);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
	expect_eof(fd);
	(void)close(fd);
	assert_int_equal(waitpid(f->pid, &st, 0), f->pid);
	f->pid = -1;
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);

	/* the audit log it left verifies, and an edit is caught */
	FMT(line, "'%s' audit verify '%s'", proxy_bin, f->audit);
	assert_int_equal(run(line, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "audit: ok, "));
	FMT(line, "sed -i '2s/\"kind\":\"request\"/\"kind\":\"requesT\"/' '%s'",
	    f->audit);
	assert_int_equal(run(line, NULL, 0), 0);
	FMT(line, "'%s' audit verify '%s' 2>&1", proxy_bin, f->audit);
	assert_int_equal(run(line, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "EML_ERR_AUDIT_CHAIN"));
}

/* Usage errors exit 2 before anything starts; audit verify's own exit
 * codes: 0 good, 1 broken, 3 unreadable. */
static void
cli_exit_codes(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		"",
		"--listen",
		"--bogus 1",
		"--listen tcp:127.0.0.1:0 --agent unix:/tmp/x.sock",                  /* no --weights */
		"--listen tcp:127.0.0.1:0 --agent tcp:127.0.0.1:9 --weights /tmp",  /* tcp agent */
		"--listen tcp:127.0.0.1:0 --agent unix:/tmp/x --weights /tmp --admin tcp:0.0.0.0:1",
		"--listen tcp:127.0.0.1:0 --agent unix:/tmp/x --weights /tmp --max-clients 0",
		"--listen tcp:127.0.0.1:0 --agent unix:/tmp/x --weights /tmp --max-clients 1x",
		"--listen tcp:127.0.0.1:0 --agent unix:/tmp/x --weights /tmp --idle-ms -5",
		"--listen tcp:127.0.0.1:0 --agent unix:/tmp/x --weights /tmp --health sometimes",
		"--listen tcp:127.0.0.1:0 --agent unix:/tmp/x --weights /tmp --test-tamper 3",
		"--listen tcp:127.0.0.1:0 --agent unix:/tmp/x --weights /tmp --user no-such-user-eml",
		"blob put",
		"blob put /etc/hostname",
		"audit verify",
		"audit verify x --head 12",
	};
	char cmd[512], out[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* timeout: a proxy that wrongly starts must not hang the test */
		FMT(cmd, "timeout 10 '%s' %s >/dev/null 2>&1", proxy_bin, bad[i]);
		if (run(cmd, NULL, 0) != 2)
			fail_msg("exit status for `eml-proxy %s` is not 2", bad[i]);
	}
	FMT(cmd, "'%s' --help", proxy_bin);
	assert_int_equal(run(cmd, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "usage: eml-proxy"));
	FMT(cmd, "'%s' audit verify /nonexistent/audit.log >/dev/null 2>&1", proxy_bin);
	assert_int_equal(run(cmd, NULL, 0), 3);
	FMT(cmd, "'%s' blob put /nonexistent/file --weights '%s' >/dev/null 2>&1", proxy_bin,
	    f->store);
	assert_int_equal(run(cmd, NULL, 0), 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(relay_blob_admin_privdrop, setup, teardown),
		cmocka_unit_test_setup_teardown(silent_client_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(busy_past_max_clients, setup, teardown),
		cmocka_unit_test_setup_teardown(per_peer_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(no_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(sigterm_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(cli_exit_codes, setup, teardown),
	};
	const char *build = getenv("BUILD");

	FMT(proxy_bin, "%s%s/bin/eml-proxy",
	    build != NULL && build[0] == '/' ? "" : "./", build != NULL ? build : "build");
	if (access(proxy_bin, X_OK) != 0) {
		(void)printf("SKIP: %s not built (make all first)\n", proxy_bin);
		return 0;
	}
	{
		/* absolute, since the proxy runs from the same cwd anyway */
		char abs[PATH_MAX];

		if (realpath(proxy_bin, abs) != NULL)
			FMT(proxy_bin, "%s", abs);
	}
	signal(SIGPIPE, SIG_IGN);
	eml_log_set_level(EML_LOG_LEVEL_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
