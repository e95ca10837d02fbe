#include "eml_agent_link.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "eml_frame.h"
#include "eml_io.h"
#include "eml_mem.h"

/*
 * One session's message buffer (rx_msg) of at least PARK_MIN bytes is kept
 * when the session ends, wiped up to the longest message it held whole
 * (rx_hw: nothing past that was ever written; a read that failed wiped
 * what it got, and a kept buffer is clean), and the next session starts
 * with it: a large request's frame (32 MiB) then lands in pages that are
 * already there instead of faulting them in (the kernel zeroing 32 MiB)
 * on the session's first request (issue 16: a fifth of the agent's CPU
 * for a 32 MiB request on a fresh session). One slot for the whole agent:
 * what it keeps between sessions is one buffer (<= frame_max), resident
 * only as far as messages that arrived whole filled it, on top of what
 * the sessions hold while they run. Room reserved for a frame that never
 * arrived (frame_bounds.sh's slow peers) stays address space.
 */
#define PARK_MIN ((size_t)2 << 20)

static pthread_mutex_t park_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t *park_data;
static size_t park_cap;
static size_t park_max;

static void
park_take(struct eml_buf *b)
{
	pthread_mutex_lock(&park_mu);
	if (park_data != NULL && park_max == b->max && b->data == NULL) {
		b->data = park_data;
		b->cap = park_cap;
		b->len = 0;
		park_data = NULL;
		park_cap = 0;
	}
	pthread_mutex_unlock(&park_mu);
}

static void
park_give(struct eml_buf *b, size_t hw)
{
	bool kept = false;

	if (b->data == NULL || b->secure || b->cap < PARK_MIN || hw > b->cap || b->cap > b->max) {
		eml_buf_free(b);
		return;
	}
	eml_wipe(b->data, hw); /* nothing of this session stays */
	pthread_mutex_lock(&park_mu);
	if (park_data == NULL) {
		park_data = b->data;
		park_cap = b->cap;
		park_max = b->max;
		kept = true;
	}
	pthread_mutex_unlock(&park_mu);
	if (kept) {
		b->data = NULL;
		b->len = b->cap = 0;
	} else {
		eml_buf_free_nowipe(b); /* wiped above */
	}
}

void
eml_agent_link_init(struct eml_agent_link *l, int fd, size_t frame_max, int64_t timeout_ms)
{
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->frame_max = frame_max;
	l->timeout_ms = timeout_ms;
	/* Received frames may carry sealed plaintext only after opening, so
	 * the raw frame is ciphertext; it is wiped anyway on reset. */
	eml_buf_init(&l->rx, frame_max);
	eml_buf_init(&l->rx_msg, frame_max);
	eml_buf_init(&l->tx, frame_max);
	park_take(&l->rx_msg);
}

void
eml_agent_link_clear(struct eml_agent_link *l)
{
	eml_buf_free(&l->rx);
	park_give(&l->rx_msg, l->rx_hw);
	l->rx_hw = 0;
	eml_buf_free(&l->tx);
}

void
eml_agent_link_park_drop(void)
{
	uint8_t *p;
	size_t cap;

	pthread_mutex_lock(&park_mu);
	p = park_data;
	cap = park_cap;
	park_data = NULL;
	park_cap = 0;
	pthread_mutex_unlock(&park_mu);
	eml_free_wipe(p, cap);
}

eml_err
eml_agent_link_send(struct eml_agent_link *l, uint32_t type, const uint8_t *body, size_t n)
{
	struct eml_envelope env;

	memset(&env, 0, sizeof(env));
	env.version = EML_PROTO_VERSION;
	env.type = type;
	EML_MEMCPY(env.request_id, l->rid, EML_REQUEST_ID_LEN);
	env.body = body;
	env.body_len = n;
	/* The head in tx, the body written from where it lies (no copy of
	 * a large sealed answer). */
	eml_buf_reset(&l->tx);
	EML_GUARD(eml_envelope_pack_head(&env, l->frame_max, &l->tx));
	return eml_frame_write2(l->fd, l->tx.data, l->tx.len, body, n, l->frame_max,
	    eml_deadline_in_ms(l->timeout_ms));
}

void
eml_agent_link_send_error(struct eml_agent_link *l, eml_err code, const char *msg)
{
	Eml__V1__Error e = EML__V1__ERROR__INIT;
	struct eml_buf b;
	char m[EML_ERROR_MSG_MAX];

	/* Only the stable message of the table, never a detail: details can
	 * name things from the secret topology. */
	(void)snprintf(m, sizeof(m), "%s", msg != NULL ? msg : eml_strerror(code));
	e.code = (uint32_t)code;
	e.message = m;
	eml_buf_init(&b, 4096);
	/* Best effort: the connection is being closed for an error anyway. */
	if (eml_msg_pack(&e.base, &b) == EML_OK &&
	    eml_agent_link_send(l, EML_MSG_ERROR, b.data, b.len) != EML_OK)
		eml_err_clear_detail();
	eml_buf_free(&b);
}

eml_err
eml_agent_link_recv(struct eml_agent_link *l, struct eml_envelope *env)
{
	EML_GUARD(eml_frame_read(l->fd, l->frame_max, eml_deadline_in_ms(l->timeout_ms), &l->rx));
	return eml_envelope_view(env, l->rx.data, l->rx.len, l->frame_max);
}

eml_err
eml_agent_link_recv_msg_x(struct eml_agent_link *l, struct eml_envelope *env,
    eml_frame_progress_fn fn, void *arg)
{
	EML_GUARD(eml_frame_read_x(l->fd, l->frame_max, eml_deadline_in_ms(l->timeout_ms),
	    &l->rx_msg, fn, arg));
	if (l->rx_msg.len > l->rx_hw)
		l->rx_hw = l->rx_msg.len;
	return eml_envelope_view(env, l->rx_msg.data, l->rx_msg.len, l->frame_max);
}

eml_err
eml_agent_link_recv_msg(struct eml_agent_link *l, struct eml_envelope *env)
{
	return eml_agent_link_recv_msg_x(l, env, NULL, NULL);
}

/* A peer's Error envelope becomes EML_ERR_BLOB_FETCH, with its code in
 * the detail (the host's code is not ours to propagate as is). */
static eml_err
host_error(const struct eml_envelope *env)
{
	ProtobufCMessage *m = NULL;
	uint32_t code = 0;

	if (eml_msg_unpack(&eml__v1__error__descriptor, env->body, env->body_len,
	    env->body_len, &m) == EML_OK) {
		code = ((Eml__V1__Error *)m)->code;
		eml_msg_free(m);
	}
	eml_err_set_detail("host answered the blob request with error %u", code);
	EML_BAIL(EML_ERR_BLOB_FETCH);
}

/* One varint of at most 64 bits; false for anything longer or cut. */
static bool
pb_varint(struct eml_cur *c, uint64_t *v)
{
	uint8_t b;

	*v = 0;
	for (unsigned shift = 0; shift < 64; shift += 7) {
		if (eml_cur_read_u8(c, &b) != EML_OK)
			return false;
		if (shift == 63 && b > 1)
			return false; /* bits past 64: the decoder's business */
		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/*
 * A BlobResponse read in place: data (1, bytes), total_size (2) and offset
 * (3), each at most once, nothing else. false for anything else, which
 * then goes through the protobuf decoder as before (so what is accepted
 * and the values read are the decoder's): an answer of the usual form
 * costs no copy of its megabytes (issue 16).
 */
static bool
blob_response_view(const uint8_t *p, size_t n, const uint8_t **data, size_t *len,
    uint64_t *total, uint64_t *offset)
{
	struct eml_cur c = eml_cur_make(p, n);
	bool seen[4] = { false, false, false, false };
	uint64_t key, v;

	*data = NULL;
	*len = 0;
	*total = 0;
	*offset = 0;
	while (c.left > 0) {
		if (!pb_varint(&c, &key) || key >> 3 == 0 || key >> 3 > 3 || seen[key >> 3] ||
		    (key & 7) != (key >> 3 == 1 ? 2u : 0u) || !pb_varint(&c, &v))
			return false;
		seen[key >> 3] = true;
		if (key >> 3 == 2) {
			*total = v;
		} else if (key >> 3 == 3) {
			*offset = v;
		} else {
			if (v > c.left || eml_cur_take(&c, (size_t)v, data) != EML_OK)
				return false;
			*len = (size_t)v;
		}
	}
	return true;
}

/* One blob answer's frame: ciphertext and plain framing only (nothing
 * to wipe). Shared by the read-ahead and the chunks the blob reader
 * borrowed from it; freed with the last reference. References are taken
 * and dropped on the session's thread only. */
struct eml_agent_blob_frame {
	unsigned refs;
	struct eml_buf buf;  /* the frame as received */
	ProtobufCMessage *m; /* the answer decoded, when not read in place */
};

static void
frame_release(void *hold)
{
	struct eml_agent_blob_frame *f = hold;

	if (f == NULL || --f->refs > 0)
		return;
	eml_msg_free(f->m);
	eml_buf_free_nowipe(&f->buf);
	eml_free(f);
}

/* Ask the host for [offset, offset + n) and receive its answer into a
 * frame of its own (*out, one reference): *data is exactly those bytes,
 * in the frame or in its decoded message. */
static eml_err
fetch_range(struct eml_agent_blob_ctx *c, uint64_t offset, size_t n,
    struct eml_agent_blob_frame **out, const uint8_t **data)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__BlobRequest req = EML__V1__BLOB_REQUEST__INIT;
	Eml__V1__BlobResponse *resp = NULL;
	ProtobufCMessage *m = NULL;
	struct eml_agent_blob_frame *f = NULL;
	struct eml_envelope env;
	struct eml_buf b;
	size_t got = 0;
	uint64_t total = 0, at = 0;

	*out = NULL;
	*data = NULL;
	memset(&env, 0, sizeof(env));
	eml_buf_init(&b, 1024);
	req.content_id.data = (uint8_t *)(uintptr_t)c->content_id;
	req.content_id.len = EML_CONTENT_ID_LEN;
	req.offset = offset;
	req.length = n;
	if ((rc = eml_msg_pack(&req.base, &b)) != EML_OK)
		goto out;
	if ((f = eml_calloc(1, sizeof(*f))) == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	f->refs = 1;
	eml_buf_init(&f->buf, c->link->frame_max);
	if ((rc = eml_agent_link_send(c->link, EML_MSG_BLOB_REQUEST, b.data, b.len)) != EML_OK)
		goto out;
	/* as eml_agent_link_recv, into this answer's own frame */
	if ((rc = eml_frame_read(c->link->fd, c->link->frame_max,
	    eml_deadline_in_ms(c->link->timeout_ms), &f->buf)) != EML_OK ||
	    (rc = eml_envelope_view(&env, f->buf.data, f->buf.len, c->link->frame_max)) != EML_OK)
		goto out;
	if (env.type == EML_MSG_ERROR) {
		rc = host_error(&env);
		goto out;
	}
	if (env.type != EML_MSG_BLOB_RESPONSE && eml_msg_type_sealed(env.type) &&
	    c->unexpected != NULL) {
		if ((rc = c->unexpected(c->arg, &env)) == EML_OK) {
			eml_err_set_detail("%s while a request runs", eml_msg_type_name(env.type));
			EML_FAIL(rc, EML_ERR_SESSION_STATE);
		}
		goto out;
	}
	if (env.type != EML_MSG_BLOB_RESPONSE) {
		eml_err_set_detail("expected BLOB_RESPONSE, got %s", eml_msg_type_name(env.type));
		EML_FAIL(rc, EML_ERR_PROTO_MSG_TYPE);
	}
	if (!blob_response_view(env.body, env.body_len, data, &got, &total, &at)) {
		if ((rc = eml_msg_unpack(&eml__v1__blob_response__descriptor, env.body,
		    env.body_len, c->link->frame_max, &m)) != EML_OK)
			goto out;
		resp = (Eml__V1__BlobResponse *)m;
		*data = resp->data.data;
		got = resp->data.len;
		total = resp->total_size;
		at = resp->offset;
	}
	/* The host is untrusted: an answer must be exactly the range asked. */
	if (at != offset || got != n || total != c->file_size) {
		eml_err_set_detail("blob answer for offset %llu differs from the request",
		    (unsigned long long)offset);
		EML_FAIL(rc, EML_ERR_BLOB_FETCH);
	}
	c->link->blob_requests++;
	c->link->blob_bytes += n;
	f->m = m;
	m = NULL; /* the frame's */
	*out = f;
	f = NULL; /* transferred */
	rc = EML_OK;
out:
	if (rc != EML_OK)
		*data = NULL;
	eml_msg_free(m);
	frame_release(f);
	eml_envelope_clear(&env);
	eml_buf_free_nowipe(&b);
	return rc;
}

void
eml_agent_blob_ctx_clear(struct eml_agent_blob_ctx *c)
{
	if (c == NULL)
		return;
	frame_release(c->ra); /* borrowed chunks keep it until released */
	c->ra = NULL;
	c->ra_data = NULL;
	c->ra_off = 0;
	c->ra_len = 0;
}

/* What to ask for of the rest bytes left from an offset: a whole number
 * of units (at least one) when they fit in a range, else a range. */
static size_t
ahead_want(const struct eml_agent_blob_ctx *c, uint64_t rest, size_t unit)
{
	size_t span = unit > 0 && unit <= c->ahead ? c->ahead / unit * unit : c->ahead;
	size_t want = rest < span ? (size_t)rest : span;

	return want == 0 ? 1 : want;
}

/* Fill the read-ahead with the range that starts at offset: unit bytes
 * at least, a whole number of units when more fit in a range (a range
 * then holds whole chunks, which the reader borrows in place). */
static eml_err
read_ahead(struct eml_agent_blob_ctx *c, uint64_t offset, size_t need, size_t unit)
{
	uint64_t rest = c->file_size > offset ? c->file_size - offset : need;
	size_t want = ahead_want(c, rest, unit);
	struct eml_agent_blob_frame *f = NULL;
	const uint8_t *data = NULL;
	eml_err rc;

	eml_agent_blob_ctx_clear(c);
	rc = fetch_range(c, offset, want, &f, &data);
	if (rc == EML_ERR_BLOB_FETCH && c->ahead > EML_AGENT_BLOB_AHEAD_V1 &&
	    want > EML_AGENT_BLOB_AHEAD_V1) {
		/* A host from before issue 16 answers at most 4 MiB per
		 * range: ask in ranges of that size from now on. */
		eml_err_clear_detail();
		c->ahead = EML_AGENT_BLOB_AHEAD_V1;
		want = ahead_want(c, rest, unit);
		rc = fetch_range(c, offset, want, &f, &data);
	}
	if (rc == EML_ERR_BLOB_FETCH && c->ahead > EML_AGENT_BLOB_PIECE &&
	    want > EML_AGENT_BLOB_PIECE) {
		/* A host with a smaller frame limit refuses the large range:
		 * ask in pieces from now on. */
		eml_err_clear_detail();
		c->ahead = EML_AGENT_BLOB_PIECE;
		want = EML_AGENT_BLOB_PIECE;
		rc = fetch_range(c, offset, want, &f, &data);
	}
	EML_GUARD(rc);
	c->ra = f;
	c->ra_off = offset;
	c->ra_len = want;
	c->ra_data = data;
	return EML_OK;
}

/* Whether the read-ahead holds all of [offset, offset + n). */
static bool
ra_holds(const struct eml_agent_blob_ctx *c, uint64_t offset, size_t n)
{
	return c->ra_data != NULL && offset >= c->ra_off && offset - c->ra_off <= c->ra_len &&
	    n <= c->ra_len - (size_t)(offset - c->ra_off);
}

/* The chunk at [offset, offset + n) where its answer lies: a range of
 * whole chunks is fetched when the read-ahead does not hold it; a chunk
 * larger than a range (or than the pieces a host asks for) is not lent,
 * and the reader reads it (blob_read, copied). */
static eml_err
blob_borrow(void *ctx, uint64_t offset, size_t n, const uint8_t **p, void **hold)
{
	struct eml_agent_blob_ctx *c = ctx;
	int64_t t0 = eml_now_us();

	*p = NULL;
	*hold = NULL;
	if (!ra_holds(c, offset, n) && n <= c->ahead)
		EML_GUARD(read_ahead(c, offset, n, n));
	if (ra_holds(c, offset, n)) {
		*p = c->ra_data + (offset - c->ra_off);
		c->ra->refs++;
		*hold = c->ra;
	}
	c->link->fetch_us += (uint64_t)(eml_now_us() - t0);
	return EML_OK;
}

static eml_err
blob_read(void *ctx, uint64_t offset, void *dst, size_t n)
{
	struct eml_agent_blob_ctx *c = ctx;
	uint8_t *d = dst;
	int64_t t0 = eml_now_us();

	while (n > 0) {
		size_t k;

		if (c->ra_data == NULL || offset < c->ra_off || offset - c->ra_off >= c->ra_len)
			EML_GUARD(read_ahead(c, offset, n, 0));
		k = c->ra_len - (size_t)(offset - c->ra_off);
		if (k > n)
			k = n;
		EML_MEMCPY(d, c->ra_data + (offset - c->ra_off), k);
		offset += k;
		d += k;
		n -= k;
	}
	c->link->fetch_us += (uint64_t)(eml_now_us() - t0);
	return EML_OK;
}

void
eml_agent_blob_source(struct eml_blob_source *src, struct eml_agent_blob_ctx *ctx)
{
	size_t lim = ctx->link->frame_max > 2048 ? ctx->link->frame_max - 1024 : 1024;

	eml_agent_blob_ctx_clear(ctx);
	ctx->ahead = EML_AGENT_BLOB_AHEAD < lim ? EML_AGENT_BLOB_AHEAD : lim;
	src->read = blob_read;
	src->ctx = ctx;
	src->size = ctx->file_size;
	src->borrow = blob_borrow;
	src->release = frame_release;
}
