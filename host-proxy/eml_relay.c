#include "eml_relay.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eml_artifacts.h"
#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_fault.h"
#include "eml_frame.h"
#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_wire.h"

/* Requests awaiting an answer, oldest first (the protocol is
 * request/response; a small queue tolerates a pipelining client). */
#define PEND_MAX 8u
/* The longest the proxy waits to deliver its own final Error frame. */
#define FINAL_ERROR_MS 1000
/* Poll wakes at least this often to notice drain and stop requests. */
#define TICK_MS 200
/* Windows relayed back to back within one frame before poll is asked
 * again (pump). */
#define RELAY_ROUNDS 8u
/* The agent socket's send buffer while blob bytes go out by sendfile: a
 * 540 KB blob in one call and one agent read, a 4 MiB range in a few,
 * instead of one round of sendfile, poll and agent wakeup per ~256 KiB
 * (the default, net.core.wmem_default). Kernel memory, held only while the
 * agent has not read it; the kernel caps it at net.core.wmem_max. Set for
 * the injection only, then the default again: relayed frames keep the
 * default (a larger buffer did not help the 32 MiB relay). */
#define BLOB_SNDBUF (512 * 1024)
/* A frame body at least this long goes src -> pipe -> dst by splice(2)
 * instead of through the window: no copy through the proxy's memory.
 * Below it, the two extra calls per window cost more than the copy. */
#define SPLICE_MIN (64u * 1024u)
/* What a direction's pipe is asked to hold (F_SETPIPE_SZ; kernel memory,
 * page references while src's pages wait for dst). A pipe that cannot be
 * grown (pipe-user-pages-soft reached) keeps the kernel's default. */
#define SPLICE_PIPE (256 * 1024)

struct pend {
	uint8_t rid[EML_REQUEST_ID_LEN];
	uint32_t type;
	int64_t start_ms;
	uint64_t bytes_in;
	uint64_t blob_requests;
	uint64_t blob_bytes;
	bool has_model;
	uint8_t model[EML_STORE_ID_LEN];
};

/* One direction: frames read from src, streamed to dst through out. */
struct dir {
	int src;
	int dst;
	bool up; /* client -> agent */
	/* the frame being read */
	uint8_t head[EML_FRAME_HDR_LEN + EML_WIRE_PEEK_MAX];
	size_t head_have;
	size_t head_need;
	uint32_t flen;         /* envelope length of the current frame */
	struct eml_wire_hdr h; /* its header, once parsed */
	bool in_frame;         /* at least one byte of a frame read, frame not done */
	bool hdr_done;         /* header parsed and moved to out */
	uint64_t body_left;    /* envelope bytes still to read from src */
	uint64_t fpos;         /* bytes of this frame placed in out so far */
	int64_t frame_start;
	bool tamper_this;      /* test hook armed for this frame */
	bool replay_this;
	uint32_t err_code;     /* code of an ERROR frame from the agent */
	bool discard;          /* a refused request: read to its end, dropped */
	/* bytes the proxy read for this direction before the relay started
	 * (the client's hello, key removed), or read past the end of a small
	 * frame with its head (the next frame's first bytes, in carry): read
	 * before the socket */
	const uint8_t *pre;
	size_t pre_len;
	size_t pre_off;
	uint8_t carry[EML_FRAME_HDR_LEN + EML_WIRE_PEEK_MAX];
	/* bytes waiting for dst */
	uint8_t *out;
	size_t out_len;
	size_t out_off;
	/* body bytes of this frame go by splice through pipe (splice_this);
	 * piped of them are in the pipe, not yet in dst. The pipe is made at
	 * the first such frame and kept; no_splice: a socket refused (EINVAL),
	 * the window carries everything from then on. */
	bool splice_this;
	bool no_splice;
	int pipe[2];
	size_t pipe_cap;
	size_t piped;
	/* counters */
	uint64_t frames;
	uint64_t bytes;
	/* test hook: what went to dst since the last frame boundary, so the
	 * capture file holds whole frames back to back */
	struct eml_buf cap;
};

/* A frame the proxy writes to the agent itself: a BlobResponse (head, then
 * data streamed from the store), an Error, or a test-hook replay. It goes
 * out through the up direction's window while that direction rests at a
 * frame boundary, so it never interleaves with a relayed frame. */
struct inject {
	bool active;
	struct eml_buf pre; /* bytes before any blob data */
	size_t pre_off;
	struct eml_blob blob;
	uint64_t blob_off;
	uint64_t blob_left;
	uint64_t blob_len;
	int64_t start;
	/* the blob's bytes go by eml_store_blob_send, not through the
	 * window: dst is waited for while blob_left > 0 */
	bool direct;
};

struct conn {
	const struct eml_relay_env *env;
	int cfd;
	int afd;
	const char *peer;
	const char *agent;
	struct dir up;
	struct dir down;
	struct inject inj;
	struct pend pend[PEND_MAX];
	size_t npend;
	int64_t start_ms;
	int64_t last_activity;
	bool handshake_done;
	uint64_t client_frames;
	struct eml_buf replay;
	bool replay_pending;
	/* The agent stopped taking bytes (EPIPE): what it already sent, often
	 * an Error saying why, still goes to the client before the end. */
	bool agent_wr_dead;
	int64_t agent_dead_at;
	char conn_id[17];
	bool have_first_rid;
	struct eml_cid first_rid;
	uint64_t blob_requests;
	uint64_t blob_bytes;
	uint64_t blob_errors;
	const char *end_reason; /* short word for logs */
	const struct eml_client_id *id;
	/* the proxy refused a request (operator controls): the session ends
	 * with this code once the refused frame has been read */
	eml_err refused;
	bool refuse_done;
	uint8_t refuse_rid[EML_REQUEST_ID_LEN];
	char refuse_msg[160];
	/* the agent socket cannot take blob bytes by sendfile: pread them
	 * through the window */
	bool no_sendfile;
	/* the agent socket's send buffer is BLOB_SNDBUF (direct blob bytes
	 * going out); sndbuf_default is what to set back (0: leave it) */
	bool sndbuf_raised;
	int sndbuf_default;
};

static void
stat_add(atomic_uint_fast64_t *a, uint64_t v)
{
	atomic_fetch_add(a, v);
}

static void
dir_reset_frame(struct dir *d)
{
	d->head_have = 0;
	d->head_need = EML_FRAME_HDR_LEN;
	d->flen = 0;
	d->in_frame = false;
	d->hdr_done = false;
	d->body_left = 0;
	d->fpos = 0;
	d->frame_start = 0;
	d->tamper_this = false;
	d->replay_this = false;
	d->err_code = 0;
	d->discard = false;
	d->splice_this = false;
}

static bool
win_empty(const struct dir *d)
{
	return d->out_off == d->out_len;
}

/* Nothing waits for dst: neither in the window nor in the pipe. */
static bool
out_empty(const struct dir *d)
{
	return win_empty(d) && d->piped == 0;
}

/* Nothing of a frame written to dst yet: an injection or a final Error
 * frame may go out without corrupting the stream. */
static bool
dst_at_boundary(const struct dir *d)
{
	return !d->hdr_done && out_empty(d);
}

static void
capture(struct conn *c, const uint8_t *p, size_t n)
{
	const struct eml_relay_env *e = c->env;

	if (e->capture_fd < 0 || n == 0)
		return;
	(void)pthread_mutex_lock(e->capture_mu);
	if (eml_io_write_full(e->capture_fd, p, n, EML_DEADLINE_NONE) != EML_OK)
		eml_err_clear_detail();
	(void)pthread_mutex_unlock(e->capture_mu);
}

/* Bytes written to d->dst: kept until the frame is complete, then written
 * to the capture file in one piece (frames of concurrent connections and
 * directions never interleave there). */
static void
capture_add(struct conn *c, struct dir *d, const uint8_t *p, size_t n)
{
	if (c->env->capture_fd < 0)
		return;
	if (eml_buf_append(&d->cap, p, n) != EML_OK) {
		/* never drop captured bytes: flush what we have first */
		capture(c, d->cap.data, d->cap.len);
		eml_buf_reset(&d->cap);
		capture(c, p, n);
		eml_err_clear_detail();
	}
}

static void
capture_flush(struct conn *c, struct dir *d)
{
	if (d->cap.len == 0)
		return;
	capture(c, d->cap.data, d->cap.len);
	eml_buf_reset(&d->cap);
}

/* Non-blocking send; *n receives the bytes written (0 on EAGAIN). */
static eml_err
send_some(int fd, const uint8_t *p, size_t len, size_t *n)
{
	ssize_t w;

	*n = 0;
	w = send(fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (w < 0 && errno == ENOTSOCK)
		w = write(fd, p, len);
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return EML_OK;
		if (errno == EPIPE || errno == ECONNRESET)
			return EML_ERR_IO_EOF;
		EML_BAIL(EML_ERR_IO);
	}
	*n = (size_t)w;
	return EML_OK;
}

/* Non-blocking read; *n receives the bytes read (0 on EAGAIN), EOF is
 * EML_ERR_IO_EOF. */
static eml_err
recv_some(int fd, uint8_t *p, size_t len, size_t *n)
{
	ssize_t r;

	*n = 0;
	r = read(fd, p, len);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return EML_OK;
		if (errno == ECONNRESET)
			return EML_ERR_IO_EOF;
		EML_BAIL(EML_ERR_IO);
	}
	if (r == 0)
		return EML_ERR_IO_EOF;
	*n = (size_t)r;
	return EML_OK;
}

/* Read for direction d: what the proxy read ahead first, then src.
 * *from_pre tells which (for unread). */
static eml_err
src_read(struct dir *d, uint8_t *p, size_t len, size_t *n, bool *from_pre)
{
	*from_pre = d->pre_off < d->pre_len;
	if (*from_pre) {
		size_t k = d->pre_len - d->pre_off < len ? d->pre_len - d->pre_off : len;

		EML_MEMCPY(p, d->pre + d->pre_off, k);
		d->pre_off += k;
		*n = k;
		return EML_OK;
	}
	return recv_some(d->src, p, len, n);
}

static bool
pre_pending(const struct dir *d)
{
	return d->pre_off < d->pre_len;
}

/* Give back the last k bytes of the read that just returned them at p
 * (read past the end of a frame): the next src_read returns them first.
 * Bytes from the read-ahead go back into it; bytes from the socket (the
 * read-ahead was empty then) are kept in carry, which holds a whole head
 * read. */
static void
src_unread(struct dir *d, const uint8_t *p, size_t k, bool from_pre)
{
	if (k == 0)
		return;
	if (from_pre) {
		d->pre_off -= k;
		return;
	}
	EML_MEMCPY(d->carry, p, k); /* p is in head, never in carry */
	d->pre = d->carry;
	d->pre_len = k;
	d->pre_off = 0;
}

/* The direction's pipe, made at its first spliced frame; false when none
 * can be had (descriptors exhausted): the window carries the frame. */
static bool
pipe_ready(struct dir *d)
{
	int sz;

	if (d->pipe[0] >= 0)
		return true;
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) != 0) {
		d->pipe[0] = d->pipe[1] = -1;
		d->no_splice = true;
		return false;
	}
	sz = fcntl(d->pipe[1], F_SETPIPE_SZ, SPLICE_PIPE);
	if (sz <= 0)
		sz = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->pipe_cap = sz > 0 ? (size_t)sz : 4096;
	return true;
}

static void
pipe_close(struct dir *d)
{
	if (d->pipe[0] >= 0)
		(void)close(d->pipe[0]);
	if (d->pipe[1] >= 0)
		(void)close(d->pipe[1]);
	d->pipe[0] = d->pipe[1] = -1;
	d->piped = 0;
}

/* The errors by which a kernel says it cannot splice between these two
 * descriptors (nothing was moved): copy through the window instead. */
static bool
splice_refused(int e)
{
	return e == EINVAL || e == ENOSYS || e == EOPNOTSUPP;
}

/* Body bytes of the current frame from src into the (empty) pipe; *n
 * receives how many (0 on EAGAIN). EML_ERR_UNSUPPORTED: refused, nothing
 * read. */
static eml_err
splice_in(struct dir *d, size_t *n)
{
	size_t want = d->body_left < d->pipe_cap ? (size_t)d->body_left : d->pipe_cap;
	ssize_t r = splice(d->src, NULL, d->pipe[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

	*n = 0;
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return EML_OK;
		if (errno == ECONNRESET)
			return EML_ERR_IO_EOF;
		if (splice_refused(errno))
			return EML_ERR_UNSUPPORTED;
		EML_BAIL(EML_ERR_IO);
	}
	if (r == 0)
		return EML_ERR_IO_EOF;
	*n = (size_t)r;
	return EML_OK;
}

/* What the pipe holds, into dst; *n receives how many bytes went (0 on
 * EAGAIN). EML_ERR_UNSUPPORTED: dst refused, nothing written. */
static eml_err
splice_out(struct dir *d, size_t *n)
{
	ssize_t w = splice(d->pipe[0], NULL, d->dst, NULL, d->piped,
	    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);

	*n = 0;
	if (w < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return EML_OK;
		if (errno == EPIPE || errno == ECONNRESET)
			return EML_ERR_IO_EOF;
		if (splice_refused(errno))
			return EML_ERR_UNSUPPORTED;
		EML_BAIL(EML_ERR_IO);
	}
	*n = (size_t)w;
	d->piped -= *n;
	return EML_OK;
}

/* dst refused splice with bytes in the pipe: the next window's worth of
 * them into the (empty) window, to go out by send. */
static eml_err
pipe_to_window(struct dir *d)
{
	size_t want = d->piped < EML_RELAY_CHUNK ? d->piped : EML_RELAY_CHUNK;

	d->no_splice = true;
	EML_GUARD(eml_io_read_full(d->pipe[0], d->out, want, EML_DEADLINE_NONE, NULL));
	d->out_off = 0;
	d->out_len = want;
	d->piped -= want;
	return EML_OK;
}

static const char *
key_of(const struct conn *c)
{
	return c->id != NULL && c->id->key_id[0] != '\0' ? c->id->key_id : NULL;
}

static bool
type_allowed(bool up, uint32_t type)
{
	switch (type) {
	case EML_MSG_CLIENT_HELLO:
	case EML_MSG_INFER_REQUEST:
	case EML_MSG_EVIDENCE_REQUEST:
	case EML_MSG_JOB_KEY_REQUEST:
	case EML_MSG_PING:
		return up;
	case EML_MSG_ATTESTATION_RESPONSE:
	case EML_MSG_INFER_RESPONSE:
	case EML_MSG_EVIDENCE_RESPONSE:
	case EML_MSG_JOB_KEY_RESPONSE:
	case EML_MSG_PONG:
	case EML_MSG_BLOB_REQUEST:
		return !up;
	case EML_MSG_CLOSE:
	case EML_MSG_ERROR:
		return true;
	default:
		/* BLOB_RESPONSE comes only from the proxy itself; JOB_RUN and
		 * JOB_DONE only travel on the proxy's own job connections. */
		return false;
	}
}

static bool
is_request(uint32_t type)
{
	return type == EML_MSG_CLIENT_HELLO || type == EML_MSG_INFER_REQUEST ||
	    type == EML_MSG_EVIDENCE_REQUEST || type == EML_MSG_JOB_KEY_REQUEST ||
	    type == EML_MSG_PING;
}

static bool
is_response(uint32_t type)
{
	return type == EML_MSG_ATTESTATION_RESPONSE || type == EML_MSG_INFER_RESPONSE ||
	    type == EML_MSG_EVIDENCE_RESPONSE || type == EML_MSG_JOB_KEY_RESPONSE ||
	    type == EML_MSG_PONG || type == EML_MSG_ERROR;
}

/* Test hooks and the replay copy, applied to bytes as they enter out. */
static eml_err
hooks(struct conn *c, struct dir *d, uint8_t *p, size_t n)
{
	uint64_t last = (uint64_t)EML_FRAME_HDR_LEN + d->flen - 1;

	if (d->tamper_this && last >= d->fpos && last < d->fpos + n) {
		p[last - d->fpos] ^= 1;
		EML_LOG_WARN("test.tamper", NULL, EML_F_STR("conn", c->conn_id),
		    EML_F_U64("frame", c->client_frames));
	}
	if (d->replay_this)
		EML_GUARD(eml_buf_append(&c->replay, p, n));
	d->fpos += n;
	return EML_OK;
}

/* Parse the code of an ERROR frame held whole in d->head, for the audit
 * log; 0 when it cannot be read. */
static uint32_t
error_code_of(const struct dir *d, size_t frame_max)
{
	struct eml_envelope env;
	ProtobufCMessage *m = NULL;
	uint32_t code = 0;

	if (d->flen > EML_WIRE_PEEK_MAX)
		return 0;
	if (eml_envelope_unpack(&env, d->head + EML_FRAME_HDR_LEN, d->flen, frame_max) != EML_OK) {
		eml_err_clear_detail();
		return 0;
	}
	if (eml_msg_unpack(&eml__v1__error__descriptor, env.body, env.body_len, env.body_len,
	    &m) == EML_OK) {
		code = ((Eml__V1__Error *)m)->code;
		eml_msg_free(m);
	}
	eml_envelope_clear(&env);
	eml_err_clear_detail();
	return code;
}

static void
inject_clear(struct inject *inj)
{
	eml_buf_free_nowipe(&inj->pre);
	inj->pre_off = 0;
	eml_store_blob_close(&inj->blob);
	inj->blob_off = 0;
	inj->blob_left = 0;
	inj->blob_len = 0;
	inj->active = false;
	inj->start = 0;
	inj->direct = false;
}

/* Refuse the request in d (kill switch, rate limit): remember why for the
 * Error frame, and write its audit line. */
static void
refuse_request(struct conn *c, const uint8_t *rid, uint32_t type, eml_err why, const char *which,
    int64_t retry_ms, const char *model)
{
	struct eml_cid cid;

	c->refused = why;
	c->end_reason = which;
	EML_MEMCPY(c->refuse_rid, rid, EML_REQUEST_ID_LEN);
	EML_MEMCPY(cid.b, rid, sizeof(cid.b));
	if (why == EML_ERR_RATE_LIMITED)
		(void)snprintf(c->refuse_msg, sizeof(c->refuse_msg), "%s; retry_after_ms=%lld",
		    eml_strerror(why), (long long)retry_ms);
	else
		(void)snprintf(c->refuse_msg, sizeof(c->refuse_msg), "%s", eml_strerror(why));
	EML_LOG_WARN("request.refused", &cid, EML_F_STR("conn", c->conn_id),
	    EML_F_STR("peer", c->peer), EML_F_STR("key", key_of(c)), EML_F_STR("reason", which),
	    EML_F_I64("retry_after_ms", retry_ms), EML_F_ERR(why));
	if (c->env->audit != NULL &&
	    EML_AUDIT(c->env->audit, "request", &cid, EML_F_STR("conn", c->conn_id),
		EML_F_STR("type", eml_msg_type_name(type)), EML_F_STR("peer", c->peer),
		EML_F_STR("key", key_of(c)), EML_F_STR("refused", which), EML_F_STR("model", model),
		EML_F_I64("retry_after_ms", retry_ms), EML_F_ERR(why)) != EML_OK)
		EML_LOG_ERROR("audit.write_failed", &cid, EML_F_STR("why", eml_err_detail()));
}

/* Queue an Error answer to a BLOB_REQUEST. */
static eml_err
blob_refuse(struct conn *c, const uint8_t *rid, eml_err code)
{
	c->blob_errors++;
	stat_add(&c->env->stats->blob_errors, 1);
	EML_LOG_WARN("blob.refused", (const struct eml_cid *)(const void *)rid,
	    EML_F_STR("conn", c->conn_id), EML_F_ERR(code));
	eml_err_clear_detail();
	EML_GUARD(eml_wire_error_frame(rid, code, eml_strerror(code), c->env->frame_max,
	    &c->inj.pre));
	c->inj.active = true;
	c->inj.start = eml_now_ms();
	return EML_OK;
}

/*
 * A BLOB_REQUEST from the agent, held whole in d->head: answer it from the
 * store. Any problem with the request is answered with an Error frame and
 * the session goes on (the agent decides); only local failures (memory)
 * end it.
 */
static eml_err
serve_blob(struct conn *c, struct dir *d)
{
	eml_err rc = EML_ERR_INTERNAL;
	const struct eml_relay_env *e = c->env;
	struct eml_envelope env;
	ProtobufCMessage *m = NULL;
	const Eml__V1__BlobRequest *req;
	struct eml_blob blob = { -1, 0 };
	uint8_t head[64];
	size_t hl = 0;
	eml_err why;

	memset(&env, 0, sizeof(env));
	inject_clear(&c->inj);
	eml_buf_init(&c->inj.pre, 4096);
	why = eml_envelope_unpack(&env, d->head + EML_FRAME_HDR_LEN, d->flen, e->frame_max);
	if (why == EML_OK)
		why = eml_msg_unpack(&eml__v1__blob_request__descriptor, env.body, env.body_len,
		    env.body_len, &m);
	if (why == EML_OK)
		why = eml_msg_blob_request_check((const Eml__V1__BlobRequest *)m, e->frame_max);
	if (why != EML_OK) {
		rc = blob_refuse(c, d->h.request_id, why);
		goto out;
	}
	req = (const Eml__V1__BlobRequest *)m;
	/* The blob belongs to the oldest outstanding request, for the audit
	 * line: its model content id. */
	if (c->npend > 0 && req->content_id.len == EML_STORE_ID_LEN) {
		c->pend[0].has_model = true;
		EML_MEMCPY(c->pend[0].model, req->content_id.data, EML_STORE_ID_LEN);
	}
	if (e->ctl != NULL && req->content_id.len == EML_STORE_ID_LEN &&
	    !eml_controls_model_allowed(e->ctl, req->content_id.data)) {
		/* baseline-only: the agent is told no, and the client why;
		 * the session ends here */
		char hex[2 * EML_STORE_ID_LEN + 1];

		eml_hex_encode(hex, req->content_id.data, EML_STORE_ID_LEN);
		EML_LOG_WARN("blob.blocked", (const struct eml_cid *)(const void *)d->h.request_id,
		    EML_F_STR("conn", c->conn_id), EML_F_STR("model", hex));
		refuse_request(c, c->npend > 0 ? c->pend[0].rid : d->h.request_id,
		    c->npend > 0 ? c->pend[0].type : EML_MSG_BLOB_REQUEST, EML_ERR_MODEL_BLOCKED,
		    "baseline_only", 0, hex);
		c->refuse_done = true;
		rc = blob_refuse(c, d->h.request_id, EML_ERR_MODEL_BLOCKED);
		goto out;
	}
	if (e->store == NULL) {
		rc = blob_refuse(c, d->h.request_id, EML_ERR_BLOB_UNKNOWN);
		goto out;
	}
	if (e->strict_artifacts && req->content_id.len == EML_STORE_ID_LEN) {
		/* --strict-artifacts: only a blob with a signature file beside
		 * it (naming an allowed signer when --signers was given); the
		 * agent still verifies the signature itself. */
		uint8_t kid[32];
		bool has_key = false;
		enum eml_artifact_sig st = eml_artifact_sig_state(e->store, req->content_id.data,
		    e->signers, kid, &has_key);

		if (st != EML_ARTIFACT_SIGNED) {
			char hex[2 * EML_STORE_ID_LEN + 1];

			eml_hex_encode(hex, req->content_id.data, EML_STORE_ID_LEN);
			EML_LOG_WARN("blob.unsigned",
			    (const struct eml_cid *)(const void *)d->h.request_id,
			    EML_F_STR("conn", c->conn_id), EML_F_STR("model", hex),
			    EML_F_STR("signature", eml_artifact_sig_name(st)));
			refuse_request(c, c->npend > 0 ? c->pend[0].rid : d->h.request_id,
			    c->npend > 0 ? c->pend[0].type : EML_MSG_BLOB_REQUEST,
			    EML_ERR_BLOB_UNSIGNED, "strict_artifacts", 0, hex);
			c->refuse_done = true;
			rc = blob_refuse(c, d->h.request_id, EML_ERR_BLOB_UNSIGNED);
			goto out;
		}
	}
	why = eml_store_blob_open(e->store, req->content_id.data, &blob);
	if (why == EML_OK)
		why = eml_store_check_range(blob.size, req->offset, req->length);
	if (why == EML_OK &&
	    eml_wire_blob_response_head(d->h.request_id, blob.size, req->offset,
		(size_t)req->length, e->frame_max, head, sizeof(head), &hl) != EML_OK)
		why = EML_ERR_BLOB_RANGE;
	if (why != EML_OK) {
		rc = blob_refuse(c, d->h.request_id, why);
		goto out;
	}
	if ((rc = eml_buf_append(&c->inj.pre, head, hl)) != EML_OK)
		goto out;
	c->inj.blob = blob;
	blob.fd = -1; /* transferred */
	c->inj.blob_off = req->offset;
	c->inj.blob_left = req->length;
	c->inj.blob_len = req->length;
	c->inj.active = true;
	c->inj.start = eml_now_ms();
	EML_LOG_DEBUG("blob.serve", (const struct eml_cid *)(const void *)d->h.request_id,
	    EML_F_STR("conn", c->conn_id), EML_F_U64("offset", req->offset),
	    EML_F_U64("length", req->length));
	rc = EML_OK;
out:
	eml_store_blob_close(&blob);
	eml_msg_free(m);
	eml_envelope_clear(&env);
	return rc;
}

/* Operator controls for a new request from the client. */
static eml_err
admit(struct conn *c, const struct dir *d)
{
	static const struct eml_client_id anon;
	struct eml_controls *ctl = c->env->ctl;
	int64_t retry_ms = 0;
	const char *which = NULL;
	eml_err rc;

	if (ctl == NULL)
		return EML_OK;
	rc = eml_controls_admit(ctl, c->id != NULL ? c->id : &anon, eml_now_ms(), &retry_ms, &which);
	if (rc == EML_OK)
		return EML_OK;
	eml_err_clear_detail();
	refuse_request(c, d->h.request_id, d->h.type, rc, which != NULL ? which : "refused", retry_ms,
	    NULL);
	return rc;
}

/* The whole header of a frame is in d->head: check it and either serve it
 * (BLOB_REQUEST) or start streaming it to dst. */
static eml_err
frame_head_ready(struct conn *c, struct dir *d)
{
	const struct eml_relay_env *e = c->env;
	size_t avail = d->head_have - EML_FRAME_HDR_LEN;

	EML_GUARD(eml_wire_peek(d->head + EML_FRAME_HDR_LEN, avail, d->flen, &d->h));
	if (!type_allowed(d->up, d->h.type)) {
		eml_err_set_detail("%s from the %s", eml_msg_type_name(d->h.type),
		    d->up ? "client" : "agent");
		EML_BAIL(EML_ERR_PROTO_MSG_TYPE);
	}
	if (d->h.body_len > eml_msg_type_body_max(d->h.type, e->frame_max)) {
		eml_err_set_detail("%s body of %zu bytes", eml_msg_type_name(d->h.type),
		    d->h.body_len);
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	if (!d->up && d->h.type == EML_MSG_BLOB_REQUEST) {
		/* eml_msg_type_body_max bounds it to 256 bytes, so the whole
		 * frame is in head. */
		EML_ENSURE(d->flen == avail, EML_ERR_PROTO_TOO_LARGE);
		EML_GUARD(serve_blob(c, d));
		dir_reset_frame(d);
		return EML_OK;
	}
	if (!d->up && d->h.type == EML_MSG_ERROR)
		d->err_code = error_code_of(d, e->frame_max);
	if (d->up && is_request(d->h.type) && e->audit != NULL && e->audit_fail_closed &&
	    !eml_audit_healthy(e->audit, NULL)) {
		stat_add(&e->stats->rejected_audit, 1);
		c->end_reason = "audit";
		eml_err_set_detail("audit log cannot be written");
		EML_BAIL(EML_ERR_AUDIT_DOWN);
	}
	if (d->up && (d->h.type == EML_MSG_INFER_REQUEST || d->h.type == EML_MSG_EVIDENCE_REQUEST) &&
	    admit(c, d) != EML_OK) {
		/* Nothing of it reaches the agent; the rest of the frame is
		 * read and dropped so the client is done sending when it
		 * reads why. */
		d->discard = true;
		d->hdr_done = true;
		d->body_left = d->flen - avail;
		if (d->body_left == 0)
			c->refuse_done = true;
		return EML_OK;
	}
	if (d->up) {
		c->client_frames++;
		d->tamper_this = e->tamper_frame > 0 && c->client_frames == (uint64_t)e->tamper_frame;
#ifdef EML_FAULT_INJECTION
		if (EML_FAULT("proxy_modify_request") && d->h.type == EML_MSG_INFER_REQUEST)
			d->tamper_this = true; /* property 8's fault: a sealed frame changed */
#endif
		d->replay_this = e->replay_frame > 0 && c->client_frames == (uint64_t)e->replay_frame;
		if (d->replay_this)
			eml_buf_reset(&c->replay);
	}
	/* The hooks and the capture file must see the bytes: they take the
	 * window. */
	d->splice_this = !d->no_splice && !d->tamper_this && !d->replay_this &&
	    e->capture_fd < 0 && d->flen - avail >= SPLICE_MIN;
	EML_MEMCPY(d->out, d->head, d->head_have);
	d->out_len = d->head_have;
	d->out_off = 0;
	d->fpos = 0;
	d->body_left = d->flen - avail;
	d->hdr_done = true;
	return hooks(c, d, d->out, d->out_len);
}

/* Read body bytes of the current frame into what is left of out (the
 * head may already be there, waiting for dst). */
static eml_err
dir_read_body(struct conn *c, struct dir *d)
{
	size_t n = 0, room, want;
	bool from_pre;

	if (d->discard) {
		/* a refused request: its bytes go nowhere */
		want = d->body_left < EML_RELAY_CHUNK ? (size_t)d->body_left : EML_RELAY_CHUNK;
		EML_GUARD(src_read(d, d->out, want, &n, &from_pre));
		if (n == 0)
			return EML_OK;
		c->last_activity = eml_now_ms();
		d->body_left -= n;
		if (d->body_left == 0)
			c->refuse_done = true;
		return EML_OK;
	}
	if (d->splice_this && d->piped == 0 && !pre_pending(d) && pipe_ready(d)) {
		/* after the window (the head may still be in it): the pipe
		 * goes out second */
		eml_err rc = splice_in(d, &n);

		if (rc != EML_ERR_UNSUPPORTED) {
			EML_GUARD(rc);
			if (n == 0)
				return EML_OK;
			c->last_activity = eml_now_ms();
			d->body_left -= n;
			d->piped += n;
			d->fpos += n;
			return EML_OK;
		}
		d->no_splice = true;
		d->splice_this = false;
	}
	if (win_empty(d))
		d->out_off = d->out_len = 0;
	room = EML_RELAY_CHUNK - d->out_len;
	if (room == 0)
		return EML_OK;
	want = d->body_left < room ? (size_t)d->body_left : room;
	EML_GUARD(src_read(d, d->out + d->out_len, want, &n, &from_pre));
	if (n == 0)
		return EML_OK;
	c->last_activity = eml_now_ms();
	d->body_left -= n;
	d->out_len += n;
	return hooks(c, d, d->out + d->out_len - n, n);
}

/* Read what src has for the current frame (out must be empty). */
static eml_err
dir_read(struct conn *c, struct dir *d)
{
	size_t n = 0;
	bool from_pre = false;

	/* The length word and the peeked head are read together (a read of
	 * up to sizeof(head): a small frame that has arrived whole is read
	 * in one read, a larger one's head in one and its body in the next),
	 * one after the other while src has them, not one poll round per
	 * part. What such a read returns past the end of a small frame is
	 * the next frame's: it is given back (src_unread). */
	while (!d->hdr_done) {
		size_t want = d->head_need == EML_FRAME_HDR_LEN ? sizeof(d->head) - d->head_have
								 : d->head_need - d->head_have;

		EML_GUARD(src_read(d, d->head + d->head_have, want, &n, &from_pre));
		if (n == 0)
			return EML_OK;
		c->last_activity = eml_now_ms();
		if (!d->in_frame) {
			d->in_frame = true;
			d->frame_start = c->last_activity;
		}
		d->head_have += n;
		if (d->head_have >= EML_FRAME_HDR_LEN && d->head_need == EML_FRAME_HDR_LEN) {
			struct eml_cur hc = eml_cur_make(d->head, EML_FRAME_HDR_LEN);

			EML_GUARD(eml_cur_read_u32be(&hc, &d->flen));
			/* PROTOCOL §1: the length is checked before anything is
			 * allocated or relayed for the body (at most the peek
			 * window of it has been read, into head). */
			EML_GUARD(eml_frame_check_len(d->flen, c->env->frame_max));
			d->head_need = EML_FRAME_HDR_LEN +
			    (d->flen < EML_WIRE_PEEK_MAX ? d->flen : EML_WIRE_PEEK_MAX);
			if (d->head_have > d->head_need) {
				/* past this frame's end: < n bytes, the tail of
				 * this read */
				src_unread(d, d->head + d->head_need, d->head_have - d->head_need,
				    from_pre);
				d->head_have = d->head_need;
			}
			if (d->head_have < d->head_need)
				continue;
		}
		if (d->head_have < d->head_need)
			return EML_OK;
		EML_GUARD(frame_head_ready(c, d));
		/* a frame the proxy answered itself (BlobRequest) is done */
		if (!d->hdr_done)
			return EML_OK;
	}
	if (d->body_left == 0)
		return EML_OK;
	return dir_read_body(c, d);
}

static void
audit_request(struct conn *c, const struct pend *p, uint32_t resp_type, uint64_t bytes_out,
    eml_err result)
{
	char model[2 * EML_STORE_ID_LEN + 1];
	struct eml_cid cid;
	int64_t now = eml_now_ms();

	stat_add(&c->env->stats->requests, 1);
	if (c->env->audit == NULL)
		return;
	EML_MEMCPY(cid.b, p->rid, sizeof(cid.b));
	if (p->has_model)
		eml_hex_encode(model, p->model, EML_STORE_ID_LEN);
	if (EML_AUDIT(c->env->audit, "request", &cid, EML_F_STR("conn", c->conn_id),
		EML_F_STR("type", eml_msg_type_name(p->type)),
		EML_F_STR("resp", resp_type != 0 ? eml_msg_type_name(resp_type) : NULL),
		EML_F_STR("model", p->has_model ? model : NULL), EML_F_STR("agent", c->agent),
		EML_F_STR("key", key_of(c)),
		EML_F_U64("bytes_in", p->bytes_in), EML_F_U64("bytes_out", bytes_out),
		EML_F_U64("blob_requests", p->blob_requests), EML_F_U64("blob_bytes", p->blob_bytes),
		EML_F_F64("latency_ms", (double)(now - p->start_ms)),
		EML_F_ERR(result)) != EML_OK)
		EML_LOG_ERROR("audit.write_failed", &cid, EML_F_STR("why", eml_err_detail()));
}

static void
pend_pop(struct conn *c)
{
	if (c->npend == 0)
		return;
	memmove(&c->pend[0], &c->pend[1], (c->npend - 1) * sizeof(c->pend[0]));
	c->npend--;
}

/* Test hook: queue the saved frame for the agent, unless the proxy is
 * writing one of its own right now (then inject_refill calls again). */
static void
start_replay(struct conn *c)
{
	if (!c->replay_pending || c->inj.active)
		return;
	c->replay_pending = false;
	inject_clear(&c->inj);
	c->inj.pre = c->replay;
	eml_buf_init(&c->replay, c->replay.max);
	c->inj.active = true;
	c->inj.start = eml_now_ms();
	EML_LOG_WARN("test.replay", NULL, EML_F_STR("conn", c->conn_id),
	    EML_F_U64("frame", (uint64_t)c->env->replay_frame));
}

/* A relayed frame has been wholly written to dst. */
static eml_err
frame_done(struct conn *c, struct dir *d)
{
	uint64_t total = (uint64_t)EML_FRAME_HDR_LEN + d->flen;
	struct eml_proxy_stats *s = c->env->stats;

	capture_flush(c, d);
	d->frames++;
	d->bytes += total;
	if (d->up) {
		stat_add(&s->frames_up, 1);
		stat_add(&s->bytes_up, total);
		if (!c->have_first_rid) {
			c->have_first_rid = true;
			EML_MEMCPY(c->first_rid.b, d->h.request_id, EML_REQUEST_ID_LEN);
		}
		if (is_request(d->h.type)) {
			struct pend *p;

			if (c->npend == PEND_MAX) {
				audit_request(c, &c->pend[0], 0, 0, EML_ERR_PROTO);
				pend_pop(c);
			}
			p = &c->pend[c->npend++];
			memset(p, 0, sizeof(*p));
			EML_MEMCPY(p->rid, d->h.request_id, EML_REQUEST_ID_LEN);
			p->type = d->h.type;
			p->start_ms = eml_now_ms();
			p->bytes_in = total;
		}
		if (d->replay_this) {
			/* test hook: the same frame again once the agent has
			 * answered it (a replay into a session at rest, the
			 * way an attacker would time it), or right away for a
			 * frame that gets no answer */
			c->replay_pending = true;
			if (!is_request(d->h.type))
				start_replay(c);
		}
	} else {
		stat_add(&s->frames_down, 1);
		stat_add(&s->bytes_down, total);
		if (d->h.type == EML_MSG_ATTESTATION_RESPONSE && !c->handshake_done) {
			c->handshake_done = true;
			if (c->env->on_handshake != NULL)
				c->env->on_handshake(c->peer);
		}
		if (is_response(d->h.type) && c->npend > 0) {
			audit_request(c, &c->pend[0], d->h.type, total,
			    d->h.type == EML_MSG_ERROR ? (eml_err)d->err_code : EML_OK);
			pend_pop(c);
		}
		if (c->npend == 0)
			start_replay(c);
	}
	dir_reset_frame(d);
	return EML_OK;
}

/* BLOB_SNDBUF on the agent socket while blob bytes go out directly;
 * best effort (a failure leaves the default). */
static void
sndbuf_raise(struct conn *c)
{
	int v = 0, want = BLOB_SNDBUF;
	socklen_t l = sizeof(v);

	c->sndbuf_raised = true;
	if (c->sndbuf_default == 0 && getsockopt(c->afd, SOL_SOCKET, SO_SNDBUF, &v, &l) == 0)
		c->sndbuf_default = v / 2; /* Linux reports twice what was set */
	if (c->sndbuf_default >= BLOB_SNDBUF ||
	    setsockopt(c->afd, SOL_SOCKET, SO_SNDBUF, &want, sizeof(want)) != 0)
		c->sndbuf_default = 0; /* nothing to set back */
}

static void
sndbuf_restore(struct conn *c)
{
	if (!c->sndbuf_raised)
		return;
	c->sndbuf_raised = false;
	if (c->sndbuf_default > 0)
		(void)setsockopt(c->afd, SOL_SOCKET, SO_SNDBUF, &c->sndbuf_default,
		    sizeof(c->sndbuf_default));
}

/* The blob's bytes of the injection straight from the store to the agent
 * (sendfile), while the agent socket takes them: no window, no copy
 * through the proxy's memory. EML_ERR_UNSUPPORTED (nothing sent) when the
 * socket or the store cannot: the caller preads through the window, on
 * this connection from then on. Not with the capture hook, which must
 * see every byte. */
static eml_err
inject_direct(struct conn *c)
{
	struct inject *inj = &c->inj;
	eml_err rc;

	if (c->no_sendfile || c->env->capture_fd >= 0)
		return EML_ERR_UNSUPPORTED;
	if (!c->sndbuf_raised)
		sndbuf_raise(c);
	while (inj->blob_left > 0) {
		size_t want = inj->blob_left < EML_STORE_RANGE_MAX ? (size_t)inj->blob_left
								   : EML_STORE_RANGE_MAX;
		size_t sent = 0;

		rc = eml_store_blob_send(&inj->blob, c->up.dst, inj->blob_off, want, &sent);
		if (rc == EML_ERR_UNSUPPORTED && !inj->direct) {
			c->no_sendfile = true;
			return rc;
		}
		EML_GUARD(rc == EML_ERR_UNSUPPORTED ? EML_ERR_IO : rc);
		inj->direct = true;
		if (sent == 0)
			return EML_OK; /* full: pump waits for POLLOUT */
		c->last_activity = eml_now_ms();
		inj->blob_off += sent;
		inj->blob_left -= sent;
		if (sent < want)
			return EML_OK; /* full now, most likely: poll first */
	}
	return EML_OK;
}

/* Whether the injection waits for the agent socket to take blob bytes
 * sent directly (the window is empty meanwhile). */
static bool
inject_sending(const struct conn *c)
{
	return c->inj.active && c->inj.direct && c->inj.blob_left > 0;
}

/* Refill the up window from the injection (up rests at a boundary). */
static eml_err
inject_refill(struct conn *c)
{
	struct inject *inj = &c->inj;
	struct dir *d = &c->up;
	size_t n;

	if (inj->pre_off < inj->pre.len) {
		n = inj->pre.len - inj->pre_off;
		if (n > EML_RELAY_CHUNK)
			n = EML_RELAY_CHUNK;
		EML_MEMCPY(d->out, inj->pre.data + inj->pre_off, n);
		inj->pre_off += n;
	} else if (inj->blob_left > 0) {
		eml_err rc = inject_direct(c);

		if (rc != EML_ERR_UNSUPPORTED) {
			EML_GUARD(rc);
			if (inj->blob_left > 0)
				return EML_OK;
			return inject_refill(c); /* all sent: finish below */
		}
		eml_err_clear_detail();
		n = inj->blob_left < EML_RELAY_CHUNK ? (size_t)inj->blob_left : EML_RELAY_CHUNK;
		EML_GUARD(eml_store_blob_pread(&inj->blob, inj->blob_off, d->out, n));
		inj->blob_off += n;
		inj->blob_left -= n;
	} else {
		/* everything written */
		if (inj->blob_len > 0) {
			c->blob_requests++;
			c->blob_bytes += inj->blob_len;
			stat_add(&c->env->stats->blob_requests, 1);
			stat_add(&c->env->stats->blob_bytes, inj->blob_len);
			if (c->npend > 0) {
				c->pend[0].blob_requests++;
				c->pend[0].blob_bytes += inj->blob_len;
			}
		}
		capture_flush(c, d);
		inject_clear(inj);
		sndbuf_restore(c);
		if (c->npend == 0)
			start_replay(c);
		return EML_OK;
	}
	d->out_len = n;
	d->out_off = 0;
	return EML_OK;
}

/* Write what the window holds to dst; then finish frames and refill
 * injections. A window refilled from an injection goes out at once (no
 * poll round per window while the socket takes it), bounded. */
static eml_err
dir_write(struct conn *c, struct dir *d)
{
	for (size_t round = 0; round < RELAY_ROUNDS; round++) {
		size_t n = 0;

		if (!win_empty(d)) {
			EML_GUARD(send_some(d->dst, d->out + d->out_off, d->out_len - d->out_off,
			    &n));
			if (n == 0)
				return EML_OK;
			capture_add(c, d, d->out + d->out_off, n);
			c->last_activity = eml_now_ms();
			d->out_off += n;
			if (!win_empty(d))
				return EML_OK;
			d->out_off = d->out_len = 0;
		}
		if (d->piped > 0) {
			eml_err rc = d->no_splice ? EML_ERR_UNSUPPORTED : splice_out(d, &n);

			if (rc == EML_ERR_UNSUPPORTED) {
				EML_GUARD(pipe_to_window(d));
				continue;
			}
			EML_GUARD(rc);
			if (n == 0)
				return EML_OK;
			c->last_activity = eml_now_ms();
			if (d->piped > 0)
				return EML_OK; /* dst full, most likely: poll first */
		}
		if (d->hdr_done && d->body_left == 0 && !d->discard)
			EML_GUARD(frame_done(c, d));
		if (!d->up || !c->inj.active || !dst_at_boundary(d))
			return EML_OK;
		EML_GUARD(inject_refill(c));
		if (out_empty(d))
			return EML_OK; /* blob bytes sent directly, or the injection is done */
	}
	return EML_OK;
}

static bool
at_rest(const struct conn *c)
{
	return !c->up.in_frame && !c->down.in_frame && !c->inj.active && out_empty(&c->up) &&
	    out_empty(&c->down) && c->npend == 0;
}

/* Which deadline has passed, if any; *next receives the nearest one. */
static const char *
deadline_passed(const struct conn *c, int64_t now, int64_t *next)
{
	const struct eml_relay_env *e = c->env;
	int64_t lim = c->npend > 0 ? e->request_ms : e->idle_ms;
	int64_t t;

	*next = now + TICK_MS;
	if (!c->handshake_done && e->handshake_ms > 0) {
		t = c->start_ms + e->handshake_ms;
		if (now >= t)
			return "handshake";
		if (t < *next)
			*next = t;
	}
	if (lim > 0) {
		t = c->last_activity + lim;
		if (now >= t)
			return c->npend > 0 ? "request" : "idle";
		if (t < *next)
			*next = t;
	}
	if (e->frame_ms > 0) {
		const int64_t starts[3] = {
			c->up.in_frame ? c->up.frame_start : 0,
			c->down.in_frame ? c->down.frame_start : 0,
			c->inj.active ? c->inj.start : 0,
		};

		for (size_t i = 0; i < 3; i++) {
			if (starts[i] == 0)
				continue;
			t = starts[i] + e->frame_ms;
			if (now >= t)
				return "frame";
			if (t < *next)
				*next = t;
		}
	}
	return NULL;
}

static void
count_timeout(const struct conn *c, const char *which)
{
	struct eml_proxy_stats *s = c->env->stats;

	if (strcmp(which, "handshake") == 0)
		stat_add(&s->timeouts_handshake, 1);
	else if (strcmp(which, "idle") == 0)
		stat_add(&s->timeouts_idle, 1);
	else if (strcmp(which, "request") == 0)
		stat_add(&s->timeouts_request, 1);
	else
		stat_add(&s->timeouts_frame, 1);
}

/* Tell the client why the proxy is ending its session, when a whole frame
 * can still be written to it. */
static void
final_error(struct conn *c, eml_err why)
{
	struct eml_buf f;
	const uint8_t *rid = NULL;

	if (!dst_at_boundary(&c->down))
		return;
	if (c->refused != EML_OK && why == c->refused)
		rid = c->refuse_rid;
	else if (c->npend > 0)
		rid = c->pend[0].rid;
	else if (c->have_first_rid)
		rid = c->first_rid.b;
	eml_buf_init(&f, 2048);
	if (eml_wire_error_frame(rid, why,
		c->refused != EML_OK && why == c->refused ? c->refuse_msg : eml_strerror(why),
		c->env->frame_max, &f) == EML_OK &&
	    eml_io_write_full(c->cfd, f.data, f.len, eml_deadline_in_ms(FINAL_ERROR_MS)) == EML_OK)
		capture(c, f.data, f.len);
	eml_err_clear_detail();
	eml_buf_free_nowipe(&f);
}

/* EOF from one side: a clean end or a loss, depending on where it came. */
static eml_err
on_eof(struct conn *c, const struct dir *d)
{
	if (d->up) {
		c->end_reason = d->in_frame ? "client_cut" : "client_closed";
		if (d->in_frame)
			EML_BAIL(EML_ERR_PROTO_TRUNCATED);
		return EML_OK;
	}
	if (d->in_frame || c->npend > 0 || c->inj.active) {
		c->end_reason = "agent_lost";
		EML_BAIL(EML_ERR_AGENT_LOST);
	}
	c->end_reason = "agent_closed";
	return EML_OK;
}

/* Whether d is inside a frame, its window written out whole, with body
 * bytes still to come from src. */
static bool
mid_frame_drained(const struct dir *d)
{
	return d->hdr_done && !d->discard && d->body_left > 0 && out_empty(d);
}

/* Write the up window to the agent; an agent that stopped reading is
 * noted, not an error. */
static eml_err
write_up(struct conn *c)
{
	eml_err rc = c->agent_wr_dead ? EML_OK : dir_write(c, &c->up);

	if (rc == EML_ERR_IO_EOF) {
		/* Keep reading the agent until its EOF (bounded by
		 * FINAL_ERROR_MS): nothing more goes to it. */
		c->agent_wr_dead = true;
		c->agent_dead_at = eml_now_ms();
		c->up.out_off = c->up.out_len = 0;
		pipe_close(&c->up);
		c->up.no_splice = true;
		inject_clear(&c->inj);
		eml_err_clear_detail();
		rc = EML_OK;
	}
	return rc;
}

/* Write the down window to the client; a client gone ends the session. */
static eml_err
write_down(struct conn *c, bool *done)
{
	eml_err rc = dir_write(c, &c->down);

	if (rc == EML_ERR_IO_EOF) {
		*done = true;
		c->end_reason = "client_gone";
		return EML_OK;
	}
	return rc;
}

/* After a pump round: a window that went out whole in the middle of a
 * frame. The rest of the frame is often in src already (a request larger
 * than the window), so read and write on without a poll round until src
 * or dst has nothing more now. Bounded, so both directions and the
 * deadlines get their turn. */
static eml_err
pump_on(struct conn *c, bool *done)
{
	struct dir *up = &c->up, *down = &c->down;
	eml_err rc;

	for (size_t i = 0; i < RELAY_ROUNDS; i++) {
		bool more = false;

		if (!c->agent_wr_dead && mid_frame_drained(up)) {
			uint64_t left = up->body_left;

			rc = dir_read(c, up);
			if (rc == EML_ERR_IO_EOF) {
				*done = true;
				return on_eof(c, up);
			}
			EML_GUARD(rc);
			more = up->body_left != left;
			EML_GUARD(write_up(c));
		}
		if ((!c->inj.active || c->agent_wr_dead) && mid_frame_drained(down)) {
			uint64_t left = down->body_left;

			rc = dir_read(c, down);
			if (rc == EML_ERR_IO_EOF) {
				*done = true;
				return on_eof(c, down);
			}
			EML_GUARD(rc);
			more = more || down->body_left != left;
			EML_GUARD(write_down(c, done));
			if (*done)
				return EML_OK;
		}
		if (!more)
			break;
	}
	return EML_OK;
}

/* One round of I/O on both sockets, guided by poll. Returns EML_OK to go
 * on, anything else to end the session (with c->end_reason set, or an
 * EML_OK "end" through *done). */
static eml_err
pump(struct conn *c, int timeout_ms, bool *done)
{
	struct dir *up = &c->up, *down = &c->down;
	/* The client side may finish the frame it is in, but waits at a
	 * frame boundary while the proxy writes its own frame to the agent;
	 * the agent side waits while that frame (its answer) is going out:
	 * one frame in flight per direction. */
	bool up_rd = !c->agent_wr_dead && out_empty(up) &&
	    !(c->inj.active && dst_at_boundary(up));
	bool down_rd = (!c->inj.active || c->agent_wr_dead) && out_empty(down);
	bool up_wr = !c->agent_wr_dead && (!out_empty(up) || inject_sending(c));
	struct pollfd p[2];
	eml_err rc;

	p[0].fd = c->cfd;
	p[0].events = (short)((up_rd ? POLLIN : 0) | (out_empty(down) ? 0 : POLLOUT));
	p[0].revents = 0;
	p[1].fd = c->afd;
	p[1].events = (short)((down_rd ? POLLIN : 0) | (up_wr ? POLLOUT : 0));
	p[1].revents = 0;
	/* An fd with nothing wanted is left out, or a hang-up on it would
	 * wake poll at once, over and over. */
	for (size_t i = 0; i < 2; i++)
		if (p[i].events == 0)
			p[i].fd = -1;
	/* Bytes read ahead are ready now: no waiting for the socket. */
	if ((up_rd && pre_pending(up)) || (down_rd && pre_pending(down)))
		timeout_ms = 0;
	if (poll(p, 2, timeout_ms) < 0) {
		if (errno == EINTR)
			return EML_OK;
		EML_BAIL(EML_ERR_IO);
	}
	if (up_rd && ((p[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0 || pre_pending(up))) {
		rc = dir_read(c, up);
		if (rc == EML_ERR_IO_EOF) {
			*done = true;
			return on_eof(c, up);
		}
		EML_GUARD(rc);
	}
	if (down_rd && ((p[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0 || pre_pending(down))) {
		rc = dir_read(c, down);
		if (rc == EML_ERR_IO_EOF) {
			*done = true;
			return on_eof(c, down);
		}
		EML_GUARD(rc);
	}
	/* Writes are attempted whenever something waits: a fresh window is
	 * usually writable at once, which saves a poll round per chunk. */
	EML_GUARD(write_up(c));
	EML_GUARD(write_down(c, done));
	if (*done)
		return EML_OK;
	return pump_on(c, done);
}

static void
audit_conn(struct conn *c, eml_err why)
{
	const struct eml_relay_env *e = c->env;
	int64_t dur = eml_now_ms() - c->start_ms;
	const struct eml_cid *cid = c->have_first_rid ? &c->first_rid : NULL;

	EML_LOG_INFO("conn.end", cid, EML_F_STR("conn", c->conn_id), EML_F_STR("peer", c->peer),
	    EML_F_STR("agent", c->agent), EML_F_STR("reason", c->end_reason),
	    EML_F_I64("duration_ms", dur), EML_F_U64("frames_up", c->up.frames),
	    EML_F_U64("frames_down", c->down.frames), EML_F_U64("blob_requests", c->blob_requests),
	    EML_F_ERR(why));
	if (e->audit == NULL)
		return;
	if (EML_AUDIT(e->audit, "conn", cid, EML_F_STR("conn", c->conn_id),
		EML_F_STR("peer", c->peer), EML_F_STR("agent", c->agent),
		EML_F_STR("key", key_of(c)),
		EML_F_STR("partner", c->id != NULL && c->id->partner[0] != '\0' ? c->id->partner : NULL),
		EML_F_STR("reason", c->end_reason), EML_F_I64("duration_ms", dur),
		EML_F_BOOL("handshake", c->handshake_done),
		EML_F_U64("frames_up", c->up.frames), EML_F_U64("frames_down", c->down.frames),
		EML_F_U64("bytes_up", c->up.bytes), EML_F_U64("bytes_down", c->down.bytes),
		EML_F_U64("blob_requests", c->blob_requests), EML_F_U64("blob_bytes", c->blob_bytes),
		EML_F_U64("blob_errors", c->blob_errors), EML_F_ERR(why)) != EML_OK)
		EML_LOG_ERROR("audit.write_failed", cid, EML_F_STR("why", eml_err_detail()));
}

static void
dir_init(struct dir *d, int src, int dst, bool up, uint8_t *out)
{
	memset(d, 0, sizeof(*d));
	d->src = src;
	d->dst = dst;
	d->up = up;
	d->out = out;
	d->pipe[0] = d->pipe[1] = -1;
	eml_buf_init(&d->cap, (size_t)EML_FRAME_HDR_LEN + UINT32_MAX);
	dir_reset_frame(d);
}

/* Count why the session ended and tell the client when it should know. */
static void
session_ended(struct conn *c, eml_err rc)
{
	const struct eml_relay_env *env = c->env;

	if (rc != EML_OK && rc != EML_ERR_AGENT_LOST && rc != EML_ERR_IO_TIMEOUT &&
	    eml_err_category(rc) == 200) {
		stat_add(&env->stats->proto_errors, 1);
		if (strcmp(c->end_reason, "error") == 0)
			c->end_reason = "protocol";
	}
	if (rc == EML_ERR_AGENT_LOST)
		stat_add(&env->stats->agent_lost, 1);
	if (rc != EML_OK && rc != EML_ERR_PROTO_TRUNCATED)
		final_error(c, rc);
}

/* Whether the operator's controls end the session now: a request was
 * refused (and read to its end), or the kill switch has been on for
 * drain_ms with a request still in flight. *rc gets the code. */
static bool
operator_end(struct conn *c, int64_t now, eml_err *rc)
{
	const struct eml_relay_env *env = c->env;

	if (c->refuse_done) {
		*rc = c->refused;
		return true;
	}
	if (env->ctl == NULL || c->npend == 0 || !atomic_load(&env->ctl->kill_switch) ||
	    now - (int64_t)atomic_load(&env->ctl->kill_since_ms) < env->drain_ms)
		return false;
	/* Its own code: the client learns its request was cut while in
	 * flight (the agent may have run it), not refused before it began. */
	refuse_request(c, c->pend[0].rid, c->pend[0].type, EML_ERR_DRAIN_CUT, "kill_switch_cut",
	    0, NULL);
	*rc = EML_ERR_DRAIN_CUT;
	return true;
}

eml_err
eml_relay_run(const struct eml_relay_env *env, int cfd, int afd, const char *peer,
    const char *agent)
{
	struct eml_relay_client cl;

	memset(&cl, 0, sizeof(cl));
	cl.peer = peer;
	cl.agent = agent;
	return eml_relay_run_client(env, cfd, afd, &cl);
}

eml_err
eml_relay_run_client(const struct eml_relay_env *env, int cfd, int afd,
    const struct eml_relay_client *cl)
{
	const char *peer, *agent;
	eml_err rc = EML_ERR_INTERNAL;
	struct conn *c = NULL;
	uint8_t *win_up = NULL, *win_down = NULL;
	uint8_t idb[8];
	bool done = false;

	if (env == NULL || env->stats == NULL || cfd < 0 || afd < 0 || cl == NULL)
		return EML_ERR_NULL;
	peer = cl->peer;
	agent = cl->agent;
	c = eml_calloc(1, sizeof(*c));
	if (c == NULL)
		return EML_ERR_NOMEM;
	c->env = env;
	c->cfd = cfd;
	c->afd = afd;
	c->peer = peer != NULL ? peer : "?";
	c->agent = agent != NULL ? agent : "?";
	c->end_reason = "error";
	c->inj.blob.fd = -1;
	eml_buf_init(&c->inj.pre, 4096);
	eml_buf_init(&c->replay, env->frame_max + EML_FRAME_HDR_LEN);
	win_up = eml_alloc(EML_RELAY_CHUNK);
	win_down = eml_alloc(EML_RELAY_CHUNK);
	dir_init(&c->up, cfd, afd, true, win_up);
	dir_init(&c->down, afd, cfd, false, win_down);
	c->id = cl->id;
	c->up.pre = cl->first;
	c->up.pre_len = cl->first_len; /* 0 when first is NULL */
	if (win_up == NULL || win_down == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (getrandom(idb, sizeof(idb), 0) != (ssize_t)sizeof(idb))
		memset(idb, 0, sizeof(idb));
	eml_hex_encode(c->conn_id, idb, sizeof(idb));
	c->start_ms = c->last_activity = eml_now_ms();
	if ((rc = eml_io_set_nonblock(cfd, 1)) != EML_OK ||
	    (rc = eml_io_set_nonblock(afd, 1)) != EML_OK)
		goto out;
	EML_LOG_INFO("conn.start", NULL, EML_F_STR("conn", c->conn_id), EML_F_STR("peer", c->peer),
	    EML_F_STR("agent", c->agent));
	for (;;) {
		int64_t now = eml_now_ms(), next = 0;
		const char *which;

		if (env->stop != NULL && atomic_load(env->stop)) {
			c->end_reason = "stopped";
			rc = EML_OK;
			break;
		}
		if (env->draining != NULL && atomic_load(env->draining) && at_rest(c)) {
			c->end_reason = "drained";
			rc = EML_OK;
			break;
		}
		if (c->agent_wr_dead && now - c->agent_dead_at >= FINAL_ERROR_MS) {
			c->end_reason = "agent_lost";
			eml_err_set_detail("agent stopped reading and did not close");
			rc = eml_err_record(EML_ERR_AGENT_LOST, __FILE__, __LINE__, __func__);
			break;
		}
		if (operator_end(c, now, &rc))
			break;
		which = deadline_passed(c, now, &next);
		if (which != NULL) {
			count_timeout(c, which);
			c->end_reason = which;
			eml_err_set_detail("%s deadline passed", which);
			rc = eml_err_record(EML_ERR_IO_TIMEOUT, __FILE__, __LINE__, __func__);
			break;
		}
		rc = pump(c, (int)(next - now), &done);
		if (rc != EML_OK || done)
			break;
	}
	session_ended(c, rc);
out:
	if (c != NULL) {
		capture_flush(c, &c->up);
		capture_flush(c, &c->down);
		pipe_close(&c->up);
		pipe_close(&c->down);
		eml_buf_free_nowipe(&c->up.cap);
		eml_buf_free_nowipe(&c->down.cap);
		audit_conn(c, rc);
		inject_clear(&c->inj);
		eml_buf_free_nowipe(&c->replay);
		eml_free(c);
	}
	eml_free(win_up);
	eml_free(win_down);
	return rc;
}
