/*
 * Relay figures for eml-proxy (issue 6): the real binary on 127.0.0.1,
 * an in-process echo agent on a unix socket behind it.
 *
 *   - relay throughput: 1 MiB INFER_REQUEST frames client -> proxy ->
 *     agent, echoed back as INFER_RESPONSE; MB/s of payload each way,
 *     next to the same echo with no proxy in between (client straight to
 *     the agent's socket) for scale;
 *   - blob serving: the agent reads a 64 MiB blob from the proxy's store
 *     in 1 MiB BlobRequest ranges; MB/s.
 *
 * Figures only, no thresholds.
 *
 *   BUILD=build-x build-x/bench/bench_relay [seconds-per-figure]   (default 1.0)
 */
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_test.h"
#include "eml_transport.h"
#include "host-proxy/eml_store.h"

#define FMAX ((size_t)8 << 20)
#define MSG ((size_t)1 << 20)
#define BLOB ((size_t)64 << 20)

static int
send_env(int fd, uint32_t type, const uint8_t rid[16], const void *body, size_t n,
    struct eml_buf *scratch)
{
	struct eml_envelope env;

	memset(&env, 0, sizeof(env));
	env.version = 1;
	env.type = type;
	EML_MEMCPY(env.request_id, rid, 16);
	env.body = body;
	env.body_len = n;
	eml_buf_reset(scratch);
	return eml_envelope_pack(&env, FMAX, scratch) == EML_OK &&
	    eml_frame_write(fd, scratch->data, scratch->len, FMAX, eml_deadline_in_ms(10000)) ==
		EML_OK;
}

static int
recv_env(int fd, struct eml_envelope *env, struct eml_buf *buf)
{
	memset(env, 0, sizeof(*env));
	return eml_frame_read(fd, FMAX, eml_deadline_in_ms(10000), buf) == EML_OK &&
	    eml_envelope_unpack(env, buf->data, buf->len, FMAX) == EML_OK;
}

/* ------------------------------------------------------------ echo agent */

static uint8_t blob_id[32];

/* 'F' + seconds[8]: fetch the 64 MiB blob in 1 MiB ranges, as many times
 * as fit, answer with the byte count; anything else: echo. Pings: pong. */
static void
fetch_blob(int fd, struct eml_buf *scratch, struct eml_buf *rx, uint64_t *bytes)
{
	uint8_t rid[16] = { 7 };

	for (size_t off = 0; off < BLOB; off += MSG) {
		Eml__V1__BlobRequest req = EML__V1__BLOB_REQUEST__INIT;
		struct eml_buf b;
		struct eml_envelope env;

		eml_buf_init(&b, 256);
		req.content_id.data = blob_id;
		req.content_id.len = 32;
		req.offset = off;
		req.length = MSG;
		if (eml_msg_pack(&req.base, &b) != EML_OK ||
		    !send_env(fd, EML_MSG_BLOB_REQUEST, rid, b.data, b.len, scratch)) {
			eml_buf_free_nowipe(&b);
			return;
		}
		eml_buf_free_nowipe(&b);
		if (!recv_env(fd, &env, rx))
			return;
		if (env.type == EML_MSG_BLOB_RESPONSE)
			*bytes += MSG;
		eml_envelope_clear(&env);
	}
}

static void *
agent_session(void *arg)
{
	int fd = (int)(intptr_t)arg;
	struct eml_buf rx, tx;

	eml_buf_init(&rx, FMAX);
	eml_buf_init(&tx, FMAX);
	for (;;) {
		struct eml_envelope env;
		int ok;

		if (!recv_env(fd, &env, &rx))
			break;
		if (env.type == EML_MSG_CLIENT_HELLO) {
			/* the proxy relays nothing before a hello and its answer */
			static const uint8_t doc[4] = { 0x0a, 0x02, 0xa0, 0xa0 }; /* field 1 */

			ok = send_env(fd, EML_MSG_ATTESTATION_RESPONSE, env.request_id, doc, sizeof(doc),
			    &tx);
		} else if (env.type == EML_MSG_PING) {
			ok = send_env(fd, EML_MSG_PONG, env.request_id, env.body, env.body_len, &tx);
		} else if (env.body_len == 16 && env.body[0] == 'F') {
			uint8_t rid[16], out[16] = { 0 };
			uint64_t bytes = 0;

			EML_MEMCPY(rid, env.request_id, 16);
			eml_envelope_clear(&env);
			fetch_blob(fd, &tx, &rx, &bytes);
			eml_store_u64be(out, bytes);
			ok = send_env(fd, EML_MSG_INFER_RESPONSE, rid, out, sizeof(out), &tx);
			if (!ok)
				break;
			continue;
		} else {
			ok = send_env(fd, EML_MSG_INFER_RESPONSE, env.request_id, env.body,
			    env.body_len, &tx);
		}
		eml_envelope_clear(&env);
		if (!ok)
			break;
	}
	eml_buf_free_nowipe(&rx);
	eml_buf_free_nowipe(&tx);
	(void)close(fd);
	return NULL;
}

static int agent_lfd = -1;
static volatile int agent_quit;

static void *
agent_main(void *arg)
{
	(void)arg;
	while (!agent_quit) {
		pthread_t th;
		int fd;

		if (eml_transport_accept(agent_lfd, eml_deadline_in_ms(100), &fd) != EML_OK)
			continue;
		if (pthread_create(&th, NULL, agent_session, (void *)(intptr_t)fd) != 0)
			(void)close(fd);
		else
			(void)pthread_detach(th);
	}
	return NULL;
}

/* ------------------------------------------------------------ driver */

static int
port_from_log(const char *path)
{
	FILE *fp = fopen(path, "r");
	char line[2048];
	int port = 0;

	if (fp == NULL)
		return 0;
	while (fgets(line, sizeof(line), fp) != NULL) {
		const char *at = strstr(line, "\"addr\":\"tcp:");

		if (strstr(line, "proxy.listening") == NULL || at == NULL)
			continue;
		at = strchr(at + 12, ':');
		if (at != NULL)
			port = (int)strtol(at + 1, NULL, 10);
	}
	(void)fclose(fp);
	return port;
}

/* CPU time (user + system, all threads) process pid has used, in ms;
 * -1 when unknown. */
static double
proc_cpu_ms(pid_t pid)
{
	char path[64], line[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *fp;
	int ok;

	(void)snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fp = fopen(path, "r");
	if (fp == NULL)
		return -1;
	p = fgets(line, sizeof(line), fp);
	(void)fclose(fp);
	/* the fields after the command name's closing parenthesis: state is
	 * the 3rd, utime the 14th, stime the 15th */
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return -1;
	ok = sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2;
	return ok ? (double)(ut + st) * 1000.0 / (double)sysconf(_SC_CLK_TCK) : -1;
}

/* Echo 1 MiB frames over fd for about secs; MB/s of payload each way.
 * *mb receives the payload MB each way. */
static double
echo_rate(int fd, double secs, double *mb)
{
	uint8_t rid[16] = { 1 };
	uint8_t *m = eml_alloc(MSG);
	struct eml_buf tx, rx;
	uint64_t st = 3;
	size_t n = 0;
	double t0, el;

	if (m == NULL)
		return 0;
	eml_test_fill(&st, m, MSG);
	eml_buf_init(&tx, FMAX);
	eml_buf_init(&rx, FMAX);
	{
		struct eml_envelope env;

		/* the handshake the proxy insists on: a hello (a nonce field of
		 * 32 bytes), answered */
		uint8_t hello[34] = { 0x0a, 32 };

		if (!send_env(fd, EML_MSG_CLIENT_HELLO, rid, hello, sizeof(hello), &tx) ||
		    !recv_env(fd, &env, &rx)) {
			eml_buf_free_nowipe(&tx);
			eml_buf_free_nowipe(&rx);
			eml_free(m);
			return 0;
		}
		eml_envelope_clear(&env);
	}
	t0 = eml_test_now();
	do {
		struct eml_envelope env;

		if (!send_env(fd, EML_MSG_INFER_REQUEST, rid, m, MSG, &tx) || !recv_env(fd, &env, &rx) ||
		    env.body_len != MSG) {
			n = 0;
			break;
		}
		eml_envelope_clear(&env);
		n++;
		el = eml_test_now() - t0;
	} while (el < secs);
	el = eml_test_now() - t0;
	eml_buf_free_nowipe(&tx);
	eml_buf_free_nowipe(&rx);
	eml_free(m);
	*mb = (double)n * (double)MSG / 1e6;
	return n == 0 ? 0 : *mb / el;
}

static double
blob_rate(int fd)
{
	uint8_t rid[16] = { 2 }, cmd[16] = { 'F' };
	struct eml_buf tx, rx;
	struct eml_envelope env;
	struct eml_cur c;
	uint64_t bytes = 0;
	double t0, el;

	eml_buf_init(&tx, FMAX);
	eml_buf_init(&rx, FMAX);
	t0 = eml_test_now();
	if (!send_env(fd, EML_MSG_INFER_REQUEST, rid, cmd, sizeof(cmd), &tx) ||
	    !recv_env(fd, &env, &rx))
		return 0;
	el = eml_test_now() - t0;
	c = eml_cur_make(env.body, env.body_len);
	if (eml_cur_read_u64be(&c, &bytes) != EML_OK)
		bytes = 0;
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&tx);
	eml_buf_free_nowipe(&rx);
	return bytes != BLOB ? 0 : (double)bytes / 1e6 / el;
}

static int
put_blob(const char *dir)
{
	char path[128];
	struct eml_store s;
	uint8_t *chunk = eml_alloc(MSG);
	uint64_t st = 5;
	FILE *fp;
	int ok;

	(void)snprintf(path, sizeof(path), "%s/blob.in", dir);
	fp = fopen(path, "wb");
	if (fp == NULL || chunk == NULL)
		return 0;
	for (size_t i = 0; i < BLOB / MSG; i++) {
		eml_test_fill(&st, chunk, MSG);
		if (fwrite(chunk, 1, MSG, fp) != MSG)
			break;
	}
	ok = fclose(fp) == 0 && eml_store_open(&s, dir) == EML_OK;
	if (ok) {
		ok = eml_store_put_file(&s, path, blob_id) == EML_OK;
		eml_store_close(&s);
	}
	(void)unlink(path);
	eml_free(chunk);
	return ok;
}

int
main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 1.0;
	const char *build = getenv("BUILD");
	char bin[512], dir[64] = "/tmp/eml-brelay-XXXXXX", sock[128], agent[160], logp[128];
	struct eml_addr a;
	pthread_t ath;
	pid_t pid;
	int port = 0, fd = -1, rc = 1;
	double direct, proxied, blob, mb = 0, cpu0;

	if (secs <= 0)
		secs = 1.0;
	(void)snprintf(bin, sizeof(bin), "%s/bin/eml-proxy", build != NULL ? build : "build");
	if (access(bin, X_OK) != 0) {
		printf("bench_relay: %s not built; skipped\n", bin);
		return 0;
	}
	signal(SIGPIPE, SIG_IGN);
	eml_log_set_level(EML_LOG_LEVEL_OFF);
	if (eml_mem_init() != EML_OK || mkdtemp(dir) == NULL)
		return 1;
	(void)snprintf(sock, sizeof(sock), "%s/agent.sock", dir);
	(void)snprintf(agent, sizeof(agent), "unix:%s", sock);
	(void)snprintf(logp, sizeof(logp), "%s/proxy.log", dir);
	if (!put_blob(dir) || eml_addr_parse(agent, &a) != EML_OK ||
	    eml_transport_listen(&a, &agent_lfd) != EML_OK ||
	    pthread_create(&ath, NULL, agent_main, NULL) != 0)
		goto out;

	/* baseline: straight to the agent */
	if (eml_transport_connect(&a, eml_deadline_in_ms(2000), &fd) != EML_OK)
		goto out;
	direct = echo_rate(fd, secs, &mb);
	(void)close(fd);
	fd = -1;

	pid = fork();
	if (pid == 0) {
		int lfd = open(logp, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (lfd >= 0)
			(void)dup2(lfd, 2);
		(void)execl(bin, bin, "--listen", "tcp:127.0.0.1:0", "--agent", agent, "--weights",
		    dir, "--user", "root", "--max-frame", "8388608", "--rate-limit", "0", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && port == 0; i++) {
		usleep(50 * 1000);
		port = port_from_log(logp);
	}
	if (port == 0 || eml_addr_parse("tcp:127.0.0.1:1", &a) != EML_OK)
		goto stop;
	a.port = (uint32_t)port;
	if (eml_transport_connect(&a, eml_deadline_in_ms(2000), &fd) != EML_OK)
		goto stop;
	cpu0 = proc_cpu_ms(pid);
	proxied = echo_rate(fd, secs, &mb);
	/* the proxy's own CPU for those bytes: a figure that the other
	 * processes on a loaded machine move less than MB/s */
	cpu0 = cpu0 >= 0 && mb > 0 ? (proc_cpu_ms(pid) - cpu0) / (mb / 1000.0) : -1;
	blob = blob_rate(fd);
	(void)close(fd);
	fd = -1;
	printf("relay (1 MiB frames, echo agent on a unix socket, %.1fs):\n", secs);
	printf("  direct to agent       %8.0f MB/s each way\n", direct);
	printf("  through eml-proxy     %8.0f MB/s each way (client on TCP 127.0.0.1)\n", proxied);
	printf("  eml-proxy CPU         %8.0f ms per GB each way (user + system, /proc, %.0f MB)\n",
	    cpu0, mb);
	printf("  blob serving          %8.0f MB/s (64 MiB in 1 MiB BlobRequest ranges)\n", blob);
	rc = proxied > 0 && blob > 0 ? 0 : 1;
stop:
	(void)kill(pid, SIGTERM);
	(void)waitpid(pid, NULL, 0);
out:
	agent_quit = 1;
	if (fd >= 0)
		(void)close(fd);
	{
		char cmd[128];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd) != 0)
			rc = 1;
	}
	return rc;
}
