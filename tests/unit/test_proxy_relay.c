/* eml-proxy relay over socket pairs: the test plays client and agent, the
 * relay runs in its own thread. Covers streaming both ways, blob serving,
 * every deadline, frame limits, misdirected types, agent loss, drain, the
 * test hooks and the audit lines. */
#include "eml_test.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "host-proxy/eml_relay.h"
#include "host-proxy/eml_wire.h"

#define FMAX ((size_t)8 << 20)

/* splice(2) as the relay sees it: this binary's definition is the one the
 * relay links to. The real call, with the bytes it moved counted per side
 * (socket -> pipe: in, pipe -> socket: out), or EINVAL without moving
 * anything on the side splice_refuse names: what a kernel answers for a
 * pair of descriptors it cannot splice. */
enum { REFUSE_NONE, REFUSE_IN, REFUSE_OUT };
static atomic_int splice_refuse;
static atomic_long spliced_in, spliced_out, splice_refusals;

static bool
is_pipe(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode);
}

ssize_t
splice(int fd_in, loff_t *off_in, int fd_out, loff_t *off_out, size_t len, unsigned int flags)
{
	bool out = is_pipe(fd_in);
	int refuse = atomic_load(&splice_refuse);
	long r;

	if ((out && refuse == REFUSE_OUT) || (!out && refuse == REFUSE_IN)) {
		atomic_fetch_add(&splice_refusals, 1);
		errno = EINVAL;
		return -1;
	}
	r = syscall(SYS_splice, fd_in, off_in, fd_out, off_out, len, flags);
	if (r > 0)
		atomic_fetch_add(out ? &spliced_out : &spliced_in, r);
	return (ssize_t)r;
}

struct fx {
	int client;  /* test's client end */
	int agent;   /* test's agent end */
	int pcfd;    /* relay's client end */
	int pafd;    /* relay's agent end */
	struct eml_proxy_stats stats;
	struct eml_relay_env env;
	atomic_bool draining;
	atomic_bool stop;
	pthread_t th;
	eml_err rc;
	bool running;
	char dir[64];
	struct eml_store store;
	char audit_path[96];
	struct eml_audit audit;
};

static void *
relay_main(void *arg)
{
	struct fx *f = arg;

	f->rc = eml_relay_run(&f->env, f->pcfd, f->pafd, "test-client", "test-agent");
	(void)close(f->pcfd);
	(void)close(f->pafd);
	return NULL;
}

static int
setup(void **state)
{
	struct fx *f = eml_calloc(1, sizeof(*f));
	int a[2], b[2];

	assert_non_null(f);
	assert_eml_ok(eml_mem_init());
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	f->client = a[0];
	f->pcfd = a[1];
	f->agent = b[0];
	f->pafd = b[1];
	f->stats.started_ms = eml_now_ms();
	f->env.frame_max = FMAX;
	f->env.handshake_ms = 5000;
	f->env.idle_ms = 5000;
	f->env.request_ms = 5000;
	f->env.frame_ms = 5000;
	f->env.stats = &f->stats;
	f->env.draining = &f->draining;
	f->env.stop = &f->stop;
	f->env.capture_fd = -1;
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/eml-relay-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_eml_ok(eml_store_open(&f->store, f->dir));
	f->env.store = &f->store;
	atomic_store(&splice_refuse, REFUSE_NONE);
	atomic_store(&spliced_in, 0);
	atomic_store(&spliced_out, 0);
	atomic_store(&splice_refusals, 0);
	*state = f;
	return 0;
}

static void
start(struct fx *f)
{
	assert_int_equal(pthread_create(&f->th, NULL, relay_main, f), 0);
	f->running = true;
}

static eml_err
finish(struct fx *f)
{
	if (f->running) {
		assert_int_equal(pthread_join(f->th, NULL), 0);
		f->running = false;
	}
	return f->rc;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	atomic_store(&f->stop, true);
	(void)close(f->client);
	(void)close(f->agent);
	if (f->running)
		(void)pthread_join(f->th, NULL);
	eml_store_close(&f->store);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	if (f->audit_path[0] != '\0')
		(void)unlink(f->audit_path);
	eml_free(f);
	return 0;
}

/* An envelope packed into b, which this initialises and the caller frees. */
static eml_err
pack_env(uint32_t type, const uint8_t rid[16], const void *body, size_t n, struct eml_buf *b)
{
	struct eml_envelope env;

	memset(&env, 0, sizeof(env));
	env.version = 1;
	env.type = type;
	EML_MEMCPY(env.request_id, rid, 16);
	env.body = body;
	env.body_len = n;
	eml_buf_init(b, FMAX);
	return eml_envelope_pack(&env, FMAX, b);
}

static void
send_env(int fd, uint32_t type, const uint8_t rid[16], const void *body, size_t n)
{
	struct eml_buf b;

	assert_eml_ok(pack_env(type, rid, body, n, &b));
	assert_eml_ok(eml_frame_write(fd, b.data, b.len, FMAX, eml_deadline_in_ms(5000)));
	eml_buf_free_nowipe(&b);
}

/* Receive one envelope; the caller clears env and frees buf. */
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

/* Expect an Error envelope with this code. */
static void
expect_error(int fd, eml_err code)
{
	struct eml_envelope env;
	struct eml_buf b;
	ProtobufCMessage *m = NULL;

	assert_eml_ok(recv_env(fd, 3000, &env, &b));
	assert_int_equal(env.type, EML_MSG_ERROR);
	assert_eml_ok(eml_msg_unpack(&eml__v1__error__descriptor, env.body, env.body_len, 4096, &m));
	assert_int_equal(((Eml__V1__Error *)m)->code, (uint32_t)code);
	eml_msg_free(m);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
}

/* Receive one envelope of this type (0: any) and drop it. */
static void
recv_drop(int fd, uint32_t type)
{
	struct eml_envelope env;
	struct eml_buf b;

	assert_eml_ok(recv_env(fd, 3000, &env, &b));
	if (type != 0)
		assert_int_equal(env.type, type);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
}

static void
expect_eof(int fd)
{
	uint8_t x;

	assert_eml(eml_io_read_full(fd, &x, 1, eml_deadline_in_ms(3000), NULL), EML_ERR_IO_EOF);
}

/* A file as a NUL-terminated string. */
static char *
read_text(const char *path)
{
	size_t n;
	uint8_t *raw = eml_test_read_file(path, &n);
	char *s = eml_alloc(n + 1);

	assert_non_null(s);
	memcpy(s, raw, n);
	s[n] = '\0';
	eml_free(raw);
	return s;
}

static const uint8_t RID1[16] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
static const uint8_t RID2[16] = { 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2 };

/* One request of n body bytes through the proxy to the echo agent and back:
 * the answer carries the same id and body. Returns the answer's frame
 * length (without its 4-byte prefix). */
static size_t
echo_round(int fd, const uint8_t *body, size_t n)
{
	struct eml_envelope env;
	struct eml_buf b;
	size_t len;

	send_env(fd, EML_MSG_INFER_REQUEST, RID2, body, n);
	assert_eml_ok(recv_env(fd, 5000, &env, &b));
	assert_int_equal(env.type, EML_MSG_INFER_RESPONSE);
	assert_memory_equal(env.request_id, RID2, 16);
	assert_int_equal(env.body_len, n);
	assert_memory_equal(env.body, body, n);
	len = b.len;
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
	return len;
}

/* The echo agent: answers until EOF. */
struct echo {
	int fd;
	int frames;
};

static void *
echo_main(void *arg)
{
	struct echo *e = arg;

	for (;;) {
		struct eml_envelope env;
		struct eml_buf b;
		uint32_t reply;

		if (recv_env(e->fd, 10000, &env, &b) != EML_OK) {
			eml_buf_free_nowipe(&b);
			break;
		}
		e->frames++;
		reply = env.type == EML_MSG_CLIENT_HELLO ? EML_MSG_ATTESTATION_RESPONSE
		    : env.type == EML_MSG_PING	    ? EML_MSG_PONG
						    : EML_MSG_INFER_RESPONSE;
		send_env(e->fd, reply, env.request_id, env.body, env.body_len);
		eml_envelope_clear(&env);
		eml_buf_free_nowipe(&b);
	}
	return NULL;
}

static void
relay_streams_both_ways(void **state)
{
	struct fx *f = *state;
	static const size_t sizes[] = { 16, 17, 1000, 131072, 131073, 1u << 20, (3u << 20) + 7 };
	uint64_t seed = eml_test_seed();
	uint8_t *body = eml_alloc(4u << 20);
	struct echo e = { f->agent, 0 };
	pthread_t et;
	uint64_t want_up = 0;

	assert_non_null(body);
	start(f);
	assert_int_equal(pthread_create(&et, NULL, echo_main, &e), 0);
	send_env(f->client, EML_MSG_CLIENT_HELLO, RID1, "hello-hello-hello", 17);
	recv_drop(f->client, EML_MSG_ATTESTATION_RESPONSE);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		eml_test_fill(&seed, body, sizes[i]);
		want_up += echo_round(f->client, body, sizes[i]) + 4;
	}
	(void)shutdown(f->client, SHUT_RDWR);
	assert_eml_ok(finish(f));
	(void)shutdown(f->agent, SHUT_RDWR);
	assert_int_equal(pthread_join(et, NULL), 0);
	assert_int_equal(e.frames, 8);
	assert_int_equal(atomic_load(&f->stats.frames_up), 8);
	assert_int_equal(atomic_load(&f->stats.frames_down), 8);
	assert_int_equal(atomic_load(&f->stats.requests), 8);
	assert_true(atomic_load(&f->stats.bytes_up) > want_up);
	eml_free(body);
}

/* Frames of an envelope (length word included) appended to out. */
static void
add_frame(struct eml_buf *out, uint32_t type, const uint8_t rid[16], const void *body, size_t n)
{
	struct eml_buf b;

	assert_eml_ok(pack_env(type, rid, body, n, &b));
	assert_eml_ok(eml_frame_encode(out, b.data, b.len, FMAX));
	eml_buf_free_nowipe(&b);
}

/* Body sizes of the batch: below, at and above the peek window; the last
 * two arrive in one head read, with nothing after them. */
static const size_t BATCH[] = { 17, 3, 1000, 1003, 3000, 40000, 5, 9 };
#define NBATCH (sizeof(BATCH) / sizeof(BATCH[0]))

/* hello first, then pings (small bodies) and requests */
static uint32_t
batch_type(size_t i, bool up)
{
	if (i == 0)
		return up ? EML_MSG_CLIENT_HELLO : EML_MSG_ATTESTATION_RESPONSE;
	if (BATCH[i] <= 64)
		return up ? EML_MSG_PING : EML_MSG_PONG;
	return up ? EML_MSG_INFER_REQUEST : EML_MSG_INFER_RESPONSE;
}

struct batch_agent {
	int fd;
	int frames;
	bool ok;
};

/* Reads the whole batch, then answers it in one write: the relay's head
 * reads then run past the ends of the answers it relays. */
static void *
batch_agent_main(void *arg)
{
	struct batch_agent *a = arg;
	struct eml_buf all;

	eml_buf_init(&all, FMAX);
	for (size_t i = 0; i < NBATCH; i++) {
		struct eml_envelope env;
		struct eml_buf b;

		if (recv_env(a->fd, 5000, &env, &b) != EML_OK) {
			eml_buf_free_nowipe(&b);
			goto out;
		}
		a->frames++;
		if (env.body_len != BATCH[i]) {
			eml_envelope_clear(&env);
			eml_buf_free_nowipe(&b);
			goto out;
		}
		add_frame(&all, batch_type(i, false), env.request_id, env.body, env.body_len);
		eml_envelope_clear(&env);
		eml_buf_free_nowipe(&b);
	}
	a->ok = eml_io_write_full(a->fd, all.data, all.len, eml_deadline_in_ms(5000)) == EML_OK;
out:
	eml_buf_free_nowipe(&all);
	return NULL;
}

/* A client that sends several frames in one write, and an agent that
 * answers them in one write: every frame arrives whole and in order,
 * whatever one read of the relay takes in (a head read returns the next
 * frame's first bytes with a small frame's end). */
static void
back_to_back_frames_both_ways(void **state)
{
	struct fx *f = *state;
	uint64_t seed = eml_test_seed();
	uint8_t *body = eml_alloc(NBATCH * 40000);
	struct batch_agent a = { f->agent, 0, false };
	struct eml_buf all;
	pthread_t at;

	assert_non_null(body);
	eml_buf_init(&all, FMAX);
	eml_test_fill(&seed, body, NBATCH * 40000);
	for (size_t i = 0; i < NBATCH; i++) {
		uint8_t rid[16];

		memset(rid, (int)(i + 1), sizeof(rid));
		add_frame(&all, batch_type(i, true), rid, body + i * 40000, BATCH[i]);
	}
	start(f);
	assert_int_equal(pthread_create(&at, NULL, batch_agent_main, &a), 0);
	assert_eml_ok(eml_io_write_full(f->client, all.data, all.len, eml_deadline_in_ms(5000)));
	for (size_t i = 0; i < NBATCH; i++) {
		struct eml_envelope env;
		struct eml_buf b;
		uint8_t rid[16];

		memset(rid, (int)(i + 1), sizeof(rid));
		assert_eml_ok(recv_env(f->client, 5000, &env, &b));
		assert_int_equal(env.type, batch_type(i, false));
		assert_memory_equal(env.request_id, rid, 16);
		assert_int_equal(env.body_len, BATCH[i]);
		assert_memory_equal(env.body, body + i * 40000, BATCH[i]);
		eml_envelope_clear(&env);
		eml_buf_free_nowipe(&b);
	}
	assert_int_equal(pthread_join(at, NULL), 0);
	assert_true(a.ok);
	assert_int_equal(a.frames, (int)NBATCH);
	(void)shutdown(f->client, SHUT_RDWR);
	assert_eml_ok(finish(f));
	assert_int_equal(atomic_load(&f->stats.frames_up), NBATCH);
	assert_int_equal(atomic_load(&f->stats.frames_down), NBATCH);
	eml_buf_free_nowipe(&all);
	eml_free(body);
}

/* Put a file into the store and return its id. */
static void
put_blob(struct fx *f, const uint8_t *data, size_t n, uint8_t id[32])
{
	char path[128];
	FILE *fp;

	(void)snprintf(path, sizeof(path), "%s.in", f->dir);
	fp = fopen(path, "wb");
	assert_non_null(fp);
	assert_int_equal(fwrite(data, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
	assert_eml_ok(eml_store_put_file(&f->store, path, id));
	(void)unlink(path);
}

static void
blob_request(int fd, const uint8_t *id, size_t idlen, uint64_t off, uint64_t len)
{
	Eml__V1__BlobRequest req = EML__V1__BLOB_REQUEST__INIT;
	struct eml_buf b;

	eml_buf_init(&b, 1024);
	req.content_id.data = (uint8_t *)(uintptr_t)id;
	req.content_id.len = idlen;
	req.offset = off;
	req.length = len;
	assert_eml_ok(eml_msg_pack(&req.base, &b));
	send_env(fd, EML_MSG_BLOB_REQUEST, RID2, b.data, b.len);
	eml_buf_free_nowipe(&b);
}

static void
expect_blob(int fd, const uint8_t *want, uint64_t off, size_t n, uint64_t total)
{
	struct eml_envelope env;
	struct eml_buf b;
	ProtobufCMessage *m = NULL;
	Eml__V1__BlobResponse *r;

	assert_eml_ok(recv_env(fd, 5000, &env, &b));
	assert_int_equal(env.type, EML_MSG_BLOB_RESPONSE);
	assert_memory_equal(env.request_id, RID2, 16);
	assert_eml_ok(eml_msg_unpack(&eml__v1__blob_response__descriptor, env.body, env.body_len,
	    FMAX, &m));
	r = (Eml__V1__BlobResponse *)m;
	assert_int_equal(r->offset, off);
	assert_int_equal(r->total_size, total);
	assert_int_equal(r->data.len, n);
	assert_memory_equal(r->data.data, want + off, n);
	eml_msg_free(m);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
}

static void
blob_requests_are_served_not_relayed(void **state)
{
	struct fx *f = *state;
	uint64_t seed = eml_test_seed();
	size_t n = (5u << 20) + 3;
	uint8_t *data = eml_alloc(n), id[32], bad[32];

	int sb0 = 0, sb = 0;
	socklen_t sl = sizeof(sb0);

	assert_non_null(data);
	eml_test_fill(&seed, data, n);
	put_blob(f, data, n, id);
	assert_int_equal(getsockopt(f->pafd, SOL_SOCKET, SO_SNDBUF, &sb0, &sl), 0);
	start(f);
	send_env(f->client, EML_MSG_INFER_REQUEST, RID2, "0123456789abcdef0123", 20);
	recv_drop(f->agent, 0);
	/* ranges: start, the 4 MiB maximum across the middle, the last byte */
	blob_request(f->agent, id, 32, 0, 1000);
	expect_blob(f->agent, data, 0, 1000, n);
	blob_request(f->agent, id, 32, 12345, 4u << 20);
	expect_blob(f->agent, data, 12345, 4u << 20, n);
	/* the agent socket's send buffer, larger while the blob went out, is
	 * the default again once it has (the relay sets it right after its
	 * last sendfile: wait for that) */
	for (int i = 0; i < 200; i++) {
		sl = sizeof(sb);
		assert_int_equal(getsockopt(f->pafd, SOL_SOCKET, SO_SNDBUF, &sb, &sl), 0);
		if (sb == sb0)
			break;
		(void)usleep(10000);
	}
	assert_int_equal(sb, sb0);
	blob_request(f->agent, id, 32, n - 1, 1);
	expect_blob(f->agent, data, n - 1, 1, n);
	/* refusals, each a stable code; the session goes on */
	memset(bad, 0x5a, sizeof(bad));
	blob_request(f->agent, bad, 32, 0, 1);
	expect_error(f->agent, EML_ERR_BLOB_UNKNOWN);
	blob_request(f->agent, id, 32, n - 1, 2);
	expect_error(f->agent, EML_ERR_BLOB_RANGE);
	blob_request(f->agent, id, 32, 0, EML_STORE_RANGE_MAX + 1); /* above the range limit */
	expect_error(f->agent, EML_ERR_BLOB_RANGE);
	blob_request(f->agent, id, 32, 0, FMAX); /* above what one frame can carry */
	expect_error(f->agent, EML_ERR_PROTO_FIELD);
	blob_request(f->agent, id, 31, 0, 1);
	expect_error(f->agent, EML_ERR_PROTO_FIELD);
	/* the answer reaches the client; none of the blob traffic does */
	send_env(f->agent, EML_MSG_INFER_RESPONSE, RID2, "fedcba9876543210fedc", 20);
	recv_drop(f->client, EML_MSG_INFER_RESPONSE);
	(void)shutdown(f->client, SHUT_RDWR);
	assert_eml_ok(finish(f));
	assert_int_equal(atomic_load(&f->stats.blob_requests), 3);
	assert_int_equal(atomic_load(&f->stats.blob_bytes), 1000 + (4u << 20) + 1);
	assert_int_equal(atomic_load(&f->stats.blob_errors), 5);
	assert_int_equal(atomic_load(&f->stats.frames_down), 1);
	eml_free(data);
}

static void
silent_client_dropped_at_handshake_deadline(void **state)
{
	struct fx *f = *state;
	int64_t t0 = eml_now_ms(), dt;

	f->env.handshake_ms = 300;
	start(f);
	expect_error(f->client, EML_ERR_IO_TIMEOUT);
	expect_eof(f->client);
	assert_eml(finish(f), EML_ERR_IO_TIMEOUT);
	dt = eml_now_ms() - t0;
	assert_true(dt >= 300 && dt < 2000);
	assert_int_equal(atomic_load(&f->stats.timeouts_handshake), 1);
}

static void
idle_after_handshake(void **state)
{
	struct fx *f = *state;

	f->env.handshake_ms = 300;
	f->env.idle_ms = 600;
	start(f);
	send_env(f->client, EML_MSG_CLIENT_HELLO, RID1, "hello-hello-hello", 17);
	recv_drop(f->agent, 0);
	send_env(f->agent, EML_MSG_ATTESTATION_RESPONSE, RID1, "attestation-doc", 15);
	recv_drop(f->client, 0);
	/* the handshake deadline no longer applies; idle does */
	expect_error(f->client, EML_ERR_IO_TIMEOUT);
	assert_eml(finish(f), EML_ERR_IO_TIMEOUT);
	assert_int_equal(atomic_load(&f->stats.timeouts_handshake), 0);
	assert_int_equal(atomic_load(&f->stats.timeouts_idle), 1);
}

/* A request outstanding switches to the (longer) request deadline. */
static void
request_deadline(void **state)
{
	struct fx *f = *state;
	int64_t t0;

	f->env.handshake_ms = 0;
	f->env.idle_ms = 200;
	f->env.request_ms = 900;
	start(f);
	t0 = eml_now_ms();
	send_env(f->client, EML_MSG_INFER_REQUEST, RID2, "0123456789abcdef0123", 20);
	recv_drop(f->agent, 0);
	expect_error(f->client, EML_ERR_IO_TIMEOUT);
	assert_true(eml_now_ms() - t0 >= 900);
	assert_eml(finish(f), EML_ERR_IO_TIMEOUT);
	assert_int_equal(atomic_load(&f->stats.timeouts_request), 1);
}

/* Half a frame, then silence: the frame deadline, not the idle one. */
static void
slow_frame_dropped(void **state)
{
	struct fx *f = *state;
	static const uint8_t part[] = { 0, 0, 0x10, 0, 0x08, 1, 0x10, 3 };

	f->env.handshake_ms = 0;
	f->env.idle_ms = 0;
	f->env.frame_ms = 300;
	start(f);
	assert_int_equal(write(f->client, part, sizeof(part)), (ssize_t)sizeof(part));
	expect_error(f->client, EML_ERR_IO_TIMEOUT);
	assert_eml(finish(f), EML_ERR_IO_TIMEOUT);
	assert_int_equal(atomic_load(&f->stats.timeouts_frame), 1);
}

static void
oversize_and_zero_frames(void **state)
{
	struct fx *f = *state;
	uint8_t hdr[4];

	start(f);
	eml_store_u32be(hdr, (uint32_t)FMAX + 1);
	assert_int_equal(write(f->client, hdr, 4), 4);
	expect_error(f->client, EML_ERR_PROTO_TOO_LARGE);
	assert_eml(finish(f), EML_ERR_PROTO_TOO_LARGE);
	assert_int_equal(atomic_load(&f->stats.proto_errors), 1);
	/* nothing reached the agent */
	expect_eof(f->agent);
}

static void
zero_frame(void **state)
{
	struct fx *f = *state;
	static const uint8_t hdr[4] = { 0, 0, 0, 0 };

	start(f);
	assert_int_equal(write(f->client, hdr, 4), 4);
	expect_error(f->client, EML_ERR_PROTO_ZERO_LENGTH);
	assert_eml(finish(f), EML_ERR_PROTO_ZERO_LENGTH);
}

/* Host-service messages may not come from the client, nor client
 * messages from the agent. */
static void
misdirected_types(void **state)
{
	struct fx *f = *state;

	start(f);
	send_env(f->client, EML_MSG_BLOB_RESPONSE, RID1, "x", 1);
	expect_error(f->client, EML_ERR_PROTO_MSG_TYPE);
	assert_eml(finish(f), EML_ERR_PROTO_MSG_TYPE);
	expect_eof(f->agent);
}

static void
misdirected_from_agent(void **state)
{
	struct fx *f = *state;

	start(f);
	send_env(f->agent, EML_MSG_INFER_REQUEST, RID1, "0123456789abcdef0123", 20);
	expect_error(f->client, EML_ERR_PROTO_MSG_TYPE);
	assert_eml(finish(f), EML_ERR_PROTO_MSG_TYPE);
}

static void
agent_lost_mid_request(void **state)
{
	struct fx *f = *state;

	start(f);
	send_env(f->client, EML_MSG_INFER_REQUEST, RID2, "0123456789abcdef0123", 20);
	recv_drop(f->agent, 0);
	(void)close(f->agent);
	f->agent = -1;
	expect_error(f->client, EML_ERR_AGENT_LOST);
	expect_eof(f->client);
	assert_eml(finish(f), EML_ERR_AGENT_LOST);
	assert_int_equal(atomic_load(&f->stats.agent_lost), 1);
}

/* The agent closing with nothing outstanding is a normal end. */
static void
agent_closes_cleanly(void **state)
{
	struct fx *f = *state;

	start(f);
	(void)close(f->agent);
	f->agent = -1;
	expect_eof(f->client);
	assert_eml_ok(finish(f));
}

static void
drain_waits_for_outstanding_request(void **state)
{
	struct fx *f = *state;

	start(f);
	send_env(f->client, EML_MSG_INFER_REQUEST, RID2, "0123456789abcdef0123", 20);
	recv_drop(f->agent, 0);
	atomic_store(&f->draining, true);
	usleep(400 * 1000);
	/* still relaying: the answer gets through, then the session ends */
	send_env(f->agent, EML_MSG_INFER_RESPONSE, RID2, "fedcba9876543210fedc", 20);
	recv_drop(f->client, EML_MSG_INFER_RESPONSE);
	expect_eof(f->client);
	assert_eml_ok(finish(f));
}

static void
recv_expect(int fd, const uint8_t rid[16], const uint8_t *body, size_t n, int flip_last)
{
	struct eml_envelope env;
	struct eml_buf b;

	assert_eml_ok(recv_env(fd, 3000, &env, &b));
	assert_memory_equal(env.request_id, rid, 16);
	assert_int_equal(env.body_len, n);
	assert_memory_equal(env.body, body, n - 1);
	assert_int_equal(env.body[n - 1], body[n - 1] ^ (flip_last ? 1 : 0));
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
}

/* Replay: the saved request goes to the agent again once it has answered
 * it. Tamper: the lowest bit of the frame's last byte flipped. */
static void
tamper_and_replay_hooks(void **state)
{
	struct fx *f = *state;
	uint8_t body[64];

	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)i;
	f->env.tamper_frame = 2;
	f->env.replay_frame = 1;
	start(f);
	send_env(f->client, EML_MSG_INFER_REQUEST, RID1, body, sizeof(body));
	recv_expect(f->agent, RID1, body, sizeof(body), 0);
	send_env(f->agent, EML_MSG_INFER_RESPONSE, RID1, body, sizeof(body));
	recv_expect(f->client, RID1, body, sizeof(body), 0);
	/* the replay, intact */
	recv_expect(f->agent, RID1, body, sizeof(body), 0);
	send_env(f->client, EML_MSG_INFER_REQUEST, RID2, body, sizeof(body));
	recv_expect(f->agent, RID2, body, sizeof(body), 1);
	(void)shutdown(f->client, SHUT_RDWR);
	assert_eml_ok(finish(f));
}

/* A frame that gets no answer (CLOSE) is replayed right behind itself. */
static void
replay_of_unanswered_frame(void **state)
{
	struct fx *f = *state;
	uint8_t body[32];

	memset(body, 0x33, sizeof(body));
	f->env.replay_frame = 1;
	start(f);
	send_env(f->client, EML_MSG_CLOSE, RID1, body, sizeof(body));
	recv_expect(f->agent, RID1, body, sizeof(body), 0);
	recv_expect(f->agent, RID1, body, sizeof(body), 0);
	(void)shutdown(f->client, SHUT_RDWR);
	assert_eml_ok(finish(f));
}

/* Capture holds exactly the bytes each peer received, in order per peer,
 * and the audit log gets a request line and a conn line. */
/* With the capture hook on, blob bytes go through the window (pread)
 * rather than straight from the store (sendfile), so the capture holds
 * them: the same answer either way. */
static void
blob_through_the_window_when_captured(void **state)
{
	struct fx *f = *state;
	uint64_t seed = eml_test_seed();
	size_t n = (1u << 20) + 77, caplen;
	uint8_t *data = eml_alloc(n), id[32], *cap;
	char cap_path[96];
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	int cfd;

	assert_non_null(data);
	eml_test_fill(&seed, data, n);
	put_blob(f, data, n, id);
	(void)snprintf(cap_path, sizeof(cap_path), "%s.cap", f->dir);
	cfd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(cfd >= 0);
	f->env.capture_fd = cfd;
	f->env.capture_mu = &mu;
	start(f);
	send_env(f->client, EML_MSG_INFER_REQUEST, RID2, "0123456789abcdef0123", 20);
	recv_drop(f->agent, 0);
	blob_request(f->agent, id, 32, 5, n - 5);
	expect_blob(f->agent, data, 5, n - 5, n);
	send_env(f->agent, EML_MSG_INFER_RESPONSE, RID2, "fedcba9876543210fedc", 20);
	recv_drop(f->client, 0);
	(void)shutdown(f->client, SHUT_RDWR);
	assert_eml_ok(finish(f));
	(void)close(cfd);
	assert_int_equal(atomic_load(&f->stats.blob_bytes), n - 5);
	cap = eml_test_read_file(cap_path, &caplen);
	assert_non_null(memmem(cap, caplen, data + 5, n - 5));
	eml_free(cap);
	(void)unlink(cap_path);
	eml_free(data);
}

static void
capture_and_audit(void **state)
{
	struct fx *f = *state;
	char cap_path[96];
	int cfd;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	struct eml_envelope env;
	struct eml_buf b, to_agent, to_client;
	struct eml_audit_report r;
	uint8_t *cap;
	size_t caplen, alen;
	char *log;
	json_t *o;
	json_error_t jerr;

	(void)snprintf(cap_path, sizeof(cap_path), "%s.cap", f->dir);
	cfd = open(cap_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(cfd >= 0);
	(void)snprintf(f->audit_path, sizeof(f->audit_path), "%s.audit", f->dir);
	assert_eml_ok(eml_audit_open(&f->audit, f->audit_path));
	f->env.audit = &f->audit;
	f->env.capture_fd = cfd;
	f->env.capture_mu = &mu;
	eml_buf_init(&to_agent, FMAX);
	eml_buf_init(&to_client, FMAX);
	start(f);
	send_env(f->client, EML_MSG_INFER_REQUEST, RID2, "0123456789abcdef0123", 20);
	assert_eml_ok(recv_env(f->agent, 3000, &env, &b));
	assert_eml_ok(eml_buf_append_u32be(&to_agent, (uint32_t)b.len));
	assert_eml_ok(eml_buf_append(&to_agent, b.data, b.len));
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
	send_env(f->agent, EML_MSG_INFER_RESPONSE, RID2, "fedcba9876543210fedc", 20);
	assert_eml_ok(recv_env(f->client, 3000, &env, &b));
	assert_eml_ok(eml_buf_append_u32be(&to_client, (uint32_t)b.len));
	assert_eml_ok(eml_buf_append(&to_client, b.data, b.len));
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
	(void)shutdown(f->client, SHUT_RDWR);
	assert_eml_ok(finish(f));
	eml_audit_close(&f->audit);
	(void)close(cfd);

	cap = eml_test_read_file(cap_path, &caplen);
	alen = to_agent.len;
	assert_int_equal(caplen, alen + to_client.len);
	assert_memory_equal(cap, to_agent.data, alen);
	assert_memory_equal(cap + alen, to_client.data, to_client.len);
	eml_free(cap);
	(void)unlink(cap_path);

	assert_eml_ok(eml_audit_verify_file(f->audit_path, &r));
	assert_int_equal(r.lines, 2);
	log = read_text(f->audit_path);
	o = json_loadb(log, (size_t)(strchr(log, '\n') - log), 0, &jerr);
	assert_non_null(o);
	assert_string_equal(json_string_value(json_object_get(o, "kind")), "request");
	assert_string_equal(json_string_value(json_object_get(o, "cid")),
	    "02020202020202020202020202020202");
	assert_string_equal(json_string_value(json_object_get(o, "type")), "INFER_REQUEST");
	assert_string_equal(json_string_value(json_object_get(o, "resp")), "INFER_RESPONSE");
	assert_int_equal(json_integer_value(json_object_get(o, "err")), 0);
	json_decref(o);
	assert_non_null(strstr(log, "\"kind\":\"conn\""));
	/* no payload byte in the log */
	assert_null(strstr(log, "0123456789abcdef"));
	assert_null(strstr(log, "fedcba9876543210"));
	eml_free(log);
	eml_buf_free_nowipe(&to_agent);
	eml_buf_free_nowipe(&to_client);
}

/* The agent's Error code lands in the audit line. */
static void
agent_error_code_is_audited(void **state)
{
	struct fx *f = *state;
	struct eml_buf ef;
	char *log;

	(void)snprintf(f->audit_path, sizeof(f->audit_path), "%s.audit", f->dir);
	assert_eml_ok(eml_audit_open(&f->audit, f->audit_path));
	f->env.audit = &f->audit;
	start(f);
	send_env(f->client, EML_MSG_CLIENT_HELLO, RID1, "hello-hello-hello", 17);
	recv_drop(f->agent, 0);
	eml_buf_init(&ef, 4096);
	assert_eml_ok(eml_wire_error_frame(RID1, EML_ERR_BUSY, "busy", FMAX, &ef));
	assert_eml_ok(eml_io_write_full(f->agent, ef.data, ef.len, eml_deadline_in_ms(1000)));
	eml_buf_free_nowipe(&ef);
	expect_error(f->client, EML_ERR_BUSY);
	(void)close(f->agent);
	f->agent = -1;
	expect_eof(f->client);
	assert_eml_ok(finish(f));
	eml_audit_close(&f->audit);
	log = read_text(f->audit_path);
	assert_non_null(strstr(log, "\"resp\":\"ERROR\""));
	assert_non_null(strstr(log, "\"err\":701,\"err_name\":\"EML_ERR_BUSY\""));
	eml_free(log);
}

struct bigsend {
	int fd;
	size_t n;
};

static void *
big_sender(void *arg)
{
	struct bigsend *bs = arg;
	uint8_t *body = eml_calloc(1, bs->n);
	static const uint8_t rid0[16];
	struct eml_buf b;

	/* may fail half way: the proxy stops reading once the agent is gone */
	if (pack_env(EML_MSG_INFER_REQUEST, rid0, body, bs->n, &b) != EML_OK ||
	    eml_frame_write(bs->fd, b.data, b.len, FMAX, eml_deadline_in_ms(3000)) != EML_OK)
		eml_err_clear_detail();
	eml_buf_free_nowipe(&b);
	eml_free(body);
	return NULL;
}

/* The agent answers with an Error and hangs up while the client is still
 * sending: the proxy's write to the agent fails, and the agent's Error
 * must still reach the client (it says why the session ended). */
static void
agent_error_survives_its_hangup(void **state)
{
	struct fx *f = *state;
	struct eml_buf ef;
	struct bigsend bs;
	pthread_t th;

	start(f);
	send_env(f->client, EML_MSG_INFER_REQUEST, RID1, "0123456789abcdef0123", 20);
	recv_drop(f->agent, 0);
	bs.fd = f->client;
	bs.n = 4u << 20;
	assert_int_equal(pthread_create(&th, NULL, big_sender, &bs), 0);
	usleep(200 * 1000); /* the proxy is now blocked writing to the agent */
	eml_buf_init(&ef, 4096);
	assert_eml_ok(eml_wire_error_frame(RID1, EML_ERR_CRYPTO_AUTH, "auth", FMAX, &ef));
	assert_eml_ok(eml_io_write_full(f->agent, ef.data, ef.len, eml_deadline_in_ms(1000)));
	eml_buf_free_nowipe(&ef);
	(void)close(f->agent);
	f->agent = -1;
	expect_error(f->client, EML_ERR_CRYPTO_AUTH);
	expect_eof(f->client);
	(void)shutdown(f->client, SHUT_RDWR);
	assert_int_equal(pthread_join(th, NULL), 0);
	(void)finish(f);
}

/* Random bytes from either side, raw or behind a valid length and
 * envelope header: the relay always ends, with a code, and never crashes
 * (run under ASan in CI). */
static void
garbage_from_either_side(void **state)
{
	struct fx *f = *state;
	uint64_t seed = eml_test_seed();
	uint8_t buf[3000];

	f->env.handshake_ms = 2000;
	for (int it = 0; it < 150; it++) {
		struct fx g = *f;
		int a[2], b[2];
		size_t n = (size_t)(eml_test_rand(&seed) % sizeof(buf));
		int from_agent = (int)(eml_test_rand(&seed) & 1);
		int shape = (int)(eml_test_rand(&seed) % 3);
		int victim;
		uint8_t sink[4096];

		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, a), 0);
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
		g.client = a[0];
		g.pcfd = a[1];
		g.agent = b[0];
		g.pafd = b[1];
		g.running = false;
		eml_test_fill(&seed, buf, n);
		if (shape >= 1 && n > 30) {
			/* a plausible frame: right length, valid header start */
			eml_store_u32be(buf, (uint32_t)(n - 4));
			buf[4] = 0x08;
			buf[5] = 1;
			buf[6] = 0x10;
			buf[7] = (uint8_t)(1 + eml_test_rand(&seed) % 12);
			buf[8] = 0x1a;
			buf[9] = 16;
			if (shape == 2) {
				buf[26] = 0x22;
				buf[27] = (uint8_t)(n - 28 < 128 ? n - 28 : 0);
			}
		}
		assert_int_equal(pthread_create(&g.th, NULL, relay_main, &g), 0);
		victim = from_agent ? g.agent : g.client;
		/* the relay may hang up before taking it all */
		if (n > 0 && eml_io_write_full(victim, buf, n, eml_deadline_in_ms(2000)) != EML_OK)
			eml_err_clear_detail();
		(void)shutdown(victim, SHUT_WR);
		/* drain both ends until the relay lets go */
		for (int k = 0; k < 2; k++) {
			int fd = k == 0 ? g.client : g.agent;

			while (eml_io_wait(fd, POLLIN, eml_deadline_in_ms(3000)) == EML_OK &&
			       read(fd, sink, sizeof(sink)) > 0)
				;
		}
		assert_int_equal(pthread_join(g.th, NULL), 0);
		assert_true(g.rc != EML_ERR_INTERNAL && g.rc != EML_ERR_NOMEM);
		(void)close(g.client);
		(void)close(g.agent);
		eml_err_clear_detail();
	}
}

/* Bodies below, at and above the size that goes by splice (64 KiB), up to
 * several pipes' worth. */
static const size_t SPLICED[] = { 65535, 65536 + 1024, 1u << 20, (5u << 20) + 3 };
#define NSPLICED (sizeof(SPLICED) / sizeof(SPLICED[0]))

/* Each SPLICED body to the echo agent and back: every byte arrives as
 * sent, both ways. */
static void
spliced_round_trips(struct fx *f)
{
	uint64_t seed = eml_test_seed();
	uint8_t *body = eml_alloc((6u << 20));
	struct echo e = { f->agent, 0 };
	pthread_t et;

	assert_non_null(body);
	start(f);
	assert_int_equal(pthread_create(&et, NULL, echo_main, &e), 0);
	for (size_t i = 0; i < NSPLICED; i++) {
		eml_test_fill(&seed, body, SPLICED[i]);
		(void)echo_round(f->client, body, SPLICED[i]);
	}
	(void)shutdown(f->client, SHUT_RDWR);
	assert_eml_ok(finish(f));
	(void)shutdown(f->agent, SHUT_RDWR);
	assert_int_equal(pthread_join(et, NULL), 0);
	assert_int_equal(e.frames, (int)NSPLICED);
	assert_int_equal(atomic_load(&f->stats.frames_up), NSPLICED);
	assert_int_equal(atomic_load(&f->stats.frames_down), NSPLICED);
	eml_free(body);
}

static void
spliced_frames_arrive_intact(void **state)
{
	struct fx *f = *state;

	spliced_round_trips(f);
	/* the large bodies went by splice, both ways, and everything that
	 * entered a pipe left it */
	assert_true(atomic_load(&spliced_in) >= 2 * (long)(5u << 20));
	assert_int_equal(atomic_load(&spliced_in), atomic_load(&spliced_out));
}

/* A connected TCP pair on the loopback (the client side of a real proxy). */
static void
tcp_pair(int sv[2])
{
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(l >= 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&a, &al), 0);
	sv[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(sv[0] >= 0);
	assert_int_equal(connect(sv[0], (struct sockaddr *)&a, sizeof(a)), 0);
	sv[1] = accept(l, NULL, NULL);
	assert_true(sv[1] >= 0);
	(void)close(l);
}

/* The same with the client on TCP: TCP's splice takes the socket's pages
 * into the pipe, unix sockets' copies. */
static void
spliced_frames_arrive_intact_tcp(void **state)
{
	struct fx *f = *state;
	int t[2];

	tcp_pair(t);
	(void)close(f->client);
	(void)close(f->pcfd);
	f->client = t[0];
	f->pcfd = t[1];
	spliced_round_trips(f);
	assert_true(atomic_load(&spliced_in) >= 2 * (long)(5u << 20));
	assert_int_equal(atomic_load(&spliced_in), atomic_load(&spliced_out));
}

/* The socket refuses splice from it (EINVAL): the window carries the
 * frame, nothing is lost, and splice is not asked again. */
static void
splice_refused_reading_falls_back(void **state)
{
	struct fx *f = *state;

	atomic_store(&splice_refuse, REFUSE_IN);
	spliced_round_trips(f);
	assert_int_equal(atomic_load(&spliced_in), 0);
	assert_int_equal(atomic_load(&splice_refusals), 2); /* once per direction */
}

/* dst refuses splice into it with bytes already in the pipe: they are
 * read out of the pipe and sent through the window, in order. */
static void
splice_refused_writing_falls_back(void **state)
{
	struct fx *f = *state;

	atomic_store(&splice_refuse, REFUSE_OUT);
	spliced_round_trips(f);
	assert_true(atomic_load(&spliced_in) > 0);
	assert_int_equal(atomic_load(&spliced_out), 0);
	assert_int_equal(atomic_load(&splice_refusals), 2);
}

/* The first k bytes of a frame with a body of n bytes. */
static void
write_part(int fd, uint32_t type, size_t n, size_t k)
{
	uint64_t seed = eml_test_seed();
	uint8_t *body = eml_alloc(n);
	struct eml_buf all;

	assert_non_null(body);
	eml_test_fill(&seed, body, n);
	eml_buf_init(&all, FMAX);
	add_frame(&all, type, RID2, body, n);
	assert_true(k <= all.len);
	assert_eml_ok(eml_io_write_full(fd, all.data, k, eml_deadline_in_ms(5000)));
	eml_buf_free_nowipe(&all);
	eml_free(body);
}

/* The agent side of a cut frame: reads until EOF. */
struct sink {
	int fd;
	uint8_t *got;
	size_t cap;
	size_t n;
	eml_err rc;
};

static void *
sink_main(void *arg)
{
	struct sink *k = arg;

	k->rc = eml_io_read_full(k->fd, k->got, k->cap, eml_deadline_in_ms(5000), &k->n);
	return NULL;
}

/* A large frame cut short by the client: the session ends as truncated
 * after part of it went by splice; the agent sees the part, then EOF,
 * never a whole frame. */
static void
short_spliced_frame_is_refused(void **state)
{
	struct fx *f = *state;
	struct sink k = { f->agent, eml_alloc(1u << 20), 1u << 20, 0, EML_OK };
	pthread_t kt;

	assert_non_null(k.got);
	start(f);
	assert_int_equal(pthread_create(&kt, NULL, sink_main, &k), 0);
	write_part(f->client, EML_MSG_INFER_REQUEST, 1u << 20, 600u * 1024u);
	(void)shutdown(f->client, SHUT_WR);
	assert_eml(finish(f), EML_ERR_PROTO_TRUNCATED);
	assert_int_equal(pthread_join(kt, NULL), 0);
	assert_int_equal(k.rc, EML_ERR_IO_EOF);
	assert_int_equal(k.n, 600u * 1024u);
	assert_true(atomic_load(&spliced_in) > 0);
	assert_int_equal(atomic_load(&f->stats.frames_up), 0);
	eml_free(k.got);
}

/* A large body on a type that may not carry one (a hello of 200 KiB) is
 * refused on its head: no byte of it reaches the agent, spliced or not. */
static void
oversized_body_for_its_type_is_refused(void **state)
{
	struct fx *f = *state;
	uint64_t seed = eml_test_seed();
	uint8_t *body = eml_alloc(200u * 1024u);
	struct eml_buf all;
	bool patched = false;

	assert_non_null(body);
	eml_test_fill(&seed, body, 200u * 1024u);
	eml_buf_init(&all, FMAX);
	add_frame(&all, EML_MSG_INFER_REQUEST, RID2, body, 200u * 1024u);
	/* the type field (tag 2, varint) of the packed envelope: 3 -> 1 */
	for (size_t i = 4; i + 1 < 12 && !patched; i++) {
		if (all.data[i] == 0x10 && all.data[i + 1] == EML_MSG_INFER_REQUEST) {
			all.data[i + 1] = EML_MSG_CLIENT_HELLO;
			patched = true;
		}
	}
	assert_true(patched);
	start(f);
	/* the relay hangs up on the head: the rest may not be taken */
	if (eml_io_write_full(f->client, all.data, all.len, eml_deadline_in_ms(3000)) != EML_OK)
		eml_err_clear_detail();
	expect_error(f->client, EML_ERR_PROTO_TOO_LARGE);
	assert_eml(finish(f), EML_ERR_PROTO_TOO_LARGE);
	expect_eof(f->agent);
	assert_int_equal(atomic_load(&spliced_in), 0);
	eml_buf_free_nowipe(&all);
	eml_free(body);
}

/* Half of a large frame, then silence: the frame deadline holds on the
 * spliced path too. */
static void
slow_spliced_frame_dropped(void **state)
{
	struct fx *f = *state;

	f->env.handshake_ms = 0;
	f->env.idle_ms = 0;
	f->env.frame_ms = 300;
	start(f);
	/* less than the socket buffers and the pipe hold: the write ends
	 * before the deadline, with nobody reading on the agent side */
	write_part(f->client, EML_MSG_INFER_REQUEST, 1u << 20, 160u * 1024u);
	expect_error(f->client, EML_ERR_IO_TIMEOUT);
	assert_eml(finish(f), EML_ERR_IO_TIMEOUT);
	assert_int_equal(atomic_load(&f->stats.timeouts_frame), 1);
	assert_true(atomic_load(&spliced_in) > 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(relay_streams_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(back_to_back_frames_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(blob_requests_are_served_not_relayed, setup, teardown),
		cmocka_unit_test_setup_teardown(silent_client_dropped_at_handshake_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(idle_after_handshake, setup, teardown),
		cmocka_unit_test_setup_teardown(request_deadline, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_frame_dropped, setup, teardown),
		cmocka_unit_test_setup_teardown(oversize_and_zero_frames, setup, teardown),
		cmocka_unit_test_setup_teardown(zero_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(misdirected_types, setup, teardown),
		cmocka_unit_test_setup_teardown(misdirected_from_agent, setup, teardown),
		cmocka_unit_test_setup_teardown(agent_lost_mid_request, setup, teardown),
		cmocka_unit_test_setup_teardown(agent_closes_cleanly, setup, teardown),
		cmocka_unit_test_setup_teardown(drain_waits_for_outstanding_request, setup, teardown),
		cmocka_unit_test_setup_teardown(tamper_and_replay_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(replay_of_unanswered_frame, setup, teardown),
		cmocka_unit_test_setup_teardown(capture_and_audit, setup, teardown),
		cmocka_unit_test_setup_teardown(blob_through_the_window_when_captured, setup, teardown),
		cmocka_unit_test_setup_teardown(agent_error_code_is_audited, setup, teardown),
		cmocka_unit_test_setup_teardown(garbage_from_either_side, setup, teardown),
		cmocka_unit_test_setup_teardown(agent_error_survives_its_hangup, setup, teardown),
		cmocka_unit_test_setup_teardown(spliced_frames_arrive_intact, setup, teardown),
		cmocka_unit_test_setup_teardown(spliced_frames_arrive_intact_tcp, setup, teardown),
		cmocka_unit_test_setup_teardown(splice_refused_reading_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(splice_refused_writing_falls_back, setup, teardown),
		cmocka_unit_test_setup_teardown(short_spliced_frame_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(oversized_body_for_its_type_is_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(slow_spliced_frame_dropped, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	eml_log_set_level(EML_LOG_LEVEL_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
