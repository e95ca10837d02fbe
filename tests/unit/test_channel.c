/* Secure channel: handshake, seal/open, every way a frame can be wrong,
 * counter exhaustion, wiping, and an independent re-derivation of the key
 * schedule of docs/PROTOCOL.md §4 with OpenSSL. */
#include "eml_test.h"
#include "eml_test_wipe.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include "eml_buf.h"
#include "eml_channel.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_mem.h"

/* ------------------------------------------------------------------
 * A randombytes implementation that is the OS generator normally and a
 * recorded deterministic stream when a test asks, so the key-schedule
 * test can find the private keys the channel drew. */
static int det_on;
static uint64_t det_state;
static uint8_t det_log[16][32];
static size_t det_n;

static void
rb_buf(void *const buf, const size_t n)
{
	if (det_on) {
		eml_test_fill(&det_state, buf, n);
		if (n == 32 && det_n < 16)
			memcpy(det_log[det_n++], buf, 32);
		return;
	}
	for (size_t done = 0; done < n;) {
		ssize_t r = getrandom((uint8_t *)buf + done, n - done, 0);

		if (r > 0)
			done += (size_t)r;
	}
}

static uint32_t
rb_random(void)
{
	uint32_t v;

	rb_buf(&v, sizeof(v));
	return v;
}

static const char *
rb_name(void)
{
	return "eml-test";
}

static struct randombytes_implementation rb_impl = {
	rb_name, rb_random, NULL, NULL, rb_buf, NULL,
};

/* ------------------------------------------------------------------ */

static const uint8_t DOC[] = "pretend attestation document";

struct pair {
	struct eml_channel *c, *s;
	uint8_t agent_pk[32];
	struct eml_buf hello, resp;
};

static void
handshake(struct pair *p)
{
	uint8_t nonce[32], cnonce[32];

	memset(p, 0, sizeof(*p));
	eml_buf_init(&p->hello, 1024);
	eml_buf_init(&p->resp, 65536);
	assert_eml_ok(eml_channel_client_new(&p->c, &p->hello));
	assert_false(eml_channel_is_open(p->c));
	assert_eml_ok(eml_channel_server_new(&p->s, p->hello.data, p->hello.len, nonce, p->agent_pk));
	assert_eml_ok(eml_channel_client_nonce(p->c, cnonce));
	assert_memory_equal(nonce, cnonce, 32);
	assert_eml_ok(eml_channel_server_finish(p->s, DOC, sizeof(DOC), &p->resp));
	assert_eml_ok(eml_channel_client_finish(p->c, p->resp.data, p->resp.len, p->agent_pk));
	assert_true(eml_channel_is_open(p->c));
	assert_true(eml_channel_is_open(p->s));
}

/* The same handshake with randomness from the recorded deterministic
 * stream seeded with seed: the same keys every time for a seed. */
static void
det_handshake(struct pair *p, uint64_t seed)
{
	det_on = 1;
	det_state = seed;
	det_n = 0;
	handshake(p);
	det_on = 0;
}

static void
pair_free(struct pair *p)
{
	eml_channel_free(p->c);
	eml_channel_free(p->s);
	eml_buf_free(&p->hello);
	eml_buf_free(&p->resp);
}

static void
hdr(struct eml_envelope *e, uint32_t type, uint8_t rid)
{
	memset(e, 0, sizeof(*e));
	e->version = EML_PROTO_VERSION;
	e->type = type;
	memset(e->request_id, rid, sizeof(e->request_id));
}

/* Seal pt from `from`, returning an envelope (body in *ct). */
static void
seal(struct eml_channel *from, struct eml_envelope *e, uint32_t type, uint8_t rid,
    const void *pt, size_t n, struct eml_buf *ct)
{
	hdr(e, type, rid);
	eml_buf_init(ct, n + 64);
	assert_eml_ok(eml_channel_seal(from, e, pt, n, ct));
	assert_int_equal(ct->len, n + EML_CHANNEL_TAG_LEN);
	e->body = ct->data;
	e->body_len = ct->len;
}

static void
expect_open(struct eml_channel *to, const struct eml_envelope *e, const void *pt, size_t n)
{
	struct eml_buf out;

	eml_buf_init_secure(&out, n + 1);
	assert_eml_ok(eml_channel_open(to, e, &out));
	assert_int_equal(out.len, n);
	if (n != 0)
		assert_memory_equal(out.data, pt, n);
	eml_buf_free(&out);
}

static void
expect_fail(struct eml_channel *to, const struct eml_envelope *e, eml_err want)
{
	struct eml_buf out;

	eml_buf_init_secure(&out, 1 << 20);
	assert_eml(eml_channel_open(to, e, &out), want);
	assert_int_equal(out.len, 0);
	assert_false(eml_channel_is_open(to));
	/* Closed for good: even a valid-looking call now fails. */
	assert_eml(eml_channel_open(to, e, &out), EML_ERR_CRYPTO_CHANNEL_CLOSED);
	eml_buf_free(&out);
}

static void
handshake_and_both_directions(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;
	uint8_t th1[32], th2[32], sid1[16], sid2[16];

	(void)state;
	handshake(&p);
	assert_eml_ok(eml_channel_transcript_hash(p.c, th1));
	assert_eml_ok(eml_channel_transcript_hash(p.s, th2));
	assert_memory_equal(th1, th2, 32);
	assert_eml_ok(eml_channel_session_id(p.c, sid1));
	assert_eml_ok(eml_channel_session_id(p.s, sid2));
	assert_memory_equal(sid1, sid2, 16);
	for (int i = 0; i < 5; i++) {
		seal(p.c, &e, EML_MSG_INFER_REQUEST, (uint8_t)i, "topology+inputs", 15, &ct);
		/* Ciphertext, not plaintext, on the wire. */
		assert_true(memcmp(ct.data, "topology+inputs", 15) != 0);
		expect_open(p.s, &e, "topology+inputs", 15);
		eml_buf_free(&ct);
		seal(p.s, &e, EML_MSG_INFER_RESPONSE, (uint8_t)i, "outputs", 7, &ct);
		expect_open(p.c, &e, "outputs", 7);
		eml_buf_free(&ct);
	}
	/* Empty plaintext is allowed (a bare tag). */
	seal(p.c, &e, EML_MSG_CLOSE, 9, NULL, 0, &ct);
	expect_open(p.s, &e, NULL, 0);
	eml_buf_free(&ct);
	pair_free(&p);
}

/* Sealing where the plaintext lies: what follows off becomes ciphertext
 * plus tag, what precedes it stays; it opens like any sealed frame and
 * shares the counter with eml_channel_seal. A refusal wipes the text. */
static void
seal_in_place_opens(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf b, ct;

	(void)state;
	handshake(&p);
	for (int i = 0; i < 3; i++) {
		seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "before", 6, &ct);
		expect_open(p.s, &e, "before", 6);
		eml_buf_free(&ct);
		eml_buf_init_secure(&b, 1024);
		assert_eml_ok(eml_buf_append(&b, "head|", 5));
		assert_eml_ok(eml_buf_append(&b, "topology+inputs", 15));
		hdr(&e, EML_MSG_INFER_REQUEST, 2);
		assert_eml_ok(eml_channel_seal_in_place(p.c, &e, &b, 5));
		assert_int_equal(b.len, 5 + 15 + EML_CHANNEL_TAG_LEN);
		assert_memory_equal(b.data, "head|", 5);
		assert_true(memcmp(b.data + 5, "topology+inputs", 15) != 0);
		e.body = b.data + 5;
		e.body_len = b.len - 5;
		expect_open(p.s, &e, "topology+inputs", 15);
		eml_buf_free(&b);
	}
	/* A type that is not sealed: refused, text wiped, channel closed. */
	eml_buf_init_secure(&b, 1024);
	assert_eml_ok(eml_buf_append(&b, "secret", 6));
	hdr(&e, EML_MSG_PING, 3);
	assert_eml(eml_channel_seal_in_place(p.c, &e, &b, 0), EML_ERR_PROTO_MSG_TYPE);
	assert_int_equal(b.len, 0);
	assert_memory_equal(b.data, "\0\0\0\0\0\0", 6);
	assert_false(eml_channel_is_open(p.c));
	eml_buf_free(&b);
	pair_free(&p);
}

/* Open where the ciphertext lies: the plaintext replaces it, the counter
 * advances as for eml_channel_open; an altered byte (text or tag) or
 * header is refused, the body wiped and the channel closed. */
static void
open_in_place_works_and_refuses(void **state)
{
	static const char msg[] = "topology key + a large input tensor";
	const size_t n = sizeof(msg) - 1;
	const size_t where[] = { 0, 7, n - 1, n, n + EML_CHANNEL_TAG_LEN - 1 };
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;
	uint8_t body[128], zero[128];
	size_t pl = 99;

	(void)state;
	memset(zero, 0, sizeof(zero));
	handshake(&p);
	for (int i = 0; i < 3; i++) {
		seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, msg, n, &ct);
		memcpy(body, ct.data, ct.len);
		e.body = body;
		assert_eml(eml_channel_open_in_place(p.s, &e, ct.data, &pl), EML_ERR_NULL);
		assert_eml_ok(eml_channel_open_in_place(p.s, &e, body, &pl));
		assert_int_equal(pl, n);
		assert_memory_equal(body, msg, n);
		eml_buf_free(&ct);
	}
	/* the counters moved in step: an ordinary frame still opens */
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "next", 4, &ct);
	expect_open(p.s, &e, "next", 4);
	eml_buf_free(&ct);
	pair_free(&p);
	for (size_t w = 0; w < sizeof(where) / sizeof(where[0]) + 1; w++) {
		handshake(&p);
		seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, msg, n, &ct);
		memcpy(body, ct.data, ct.len);
		e.body = body;
		if (w < sizeof(where) / sizeof(where[0]))
			body[where[w]] ^= 0x10;
		else
			e.type = EML_MSG_EVIDENCE_REQUEST; /* the header is in the AD */
		assert_eml(eml_channel_open_in_place(p.s, &e, body, &pl), EML_ERR_CRYPTO_AUTH);
		assert_int_equal(pl, 0);
		assert_memory_equal(body, zero, ct.len);
		assert_false(eml_channel_is_open(p.s));
		eml_buf_free(&ct);
		pair_free(&p);
	}
}

/* The open-in-place hook sees the whole ciphertext before the tag, in
 * order and in pieces of at most 256 KiB, before each is decrypted over;
 * a hook that fails fails the open (wiped, channel closed). */
struct pieces {
	uint8_t *copy;
	size_t got, calls, fail_at;
};

static int
piece_fn(void *arg, const uint8_t *ct, size_t n)
{
	struct pieces *pc = arg;

	assert_true(n <= ((size_t)256 << 10));
	if (++pc->calls == pc->fail_at)
		return -1;
	memcpy(pc->copy + pc->got, ct, n);
	pc->got += n;
	return 0;
}

static void
open_in_place_hook_sees_ciphertext(void **state)
{
	const size_t n = ((size_t)600 << 10) + 3; /* three pieces */
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;
	uint8_t *msg = eml_alloc(n), *body = eml_alloc(n + EML_CHANNEL_TAG_LEN);
	struct pieces pc = { eml_alloc(n), 0, 0, 0 };
	size_t pl = 0;

	(void)state;
	assert_non_null(msg);
	assert_non_null(body);
	assert_non_null(pc.copy);
	for (size_t i = 0; i < n; i++)
		msg[i] = (uint8_t)(i * 7 + 1);
	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, msg, n, &ct);
	memcpy(body, ct.data, ct.len);
	e.body = body;
	assert_eml_ok(eml_channel_open_in_place_x(p.s, &e, body, &pl, piece_fn, &pc));
	assert_int_equal(pl, n);
	assert_int_equal(pc.calls, 3);
	assert_int_equal(pc.got, n);
	assert_memory_equal(pc.copy, ct.data, n);
	assert_memory_equal(body, msg, n);
	eml_buf_free(&ct);
	/* a failing hook (second piece): refused, wiped, closed */
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, msg, n, &ct);
	memcpy(body, ct.data, ct.len);
	e.body = body;
	pc.got = pc.calls = 0;
	pc.fail_at = 2;
	assert_eml(eml_channel_open_in_place_x(p.s, &e, body, &pl, piece_fn, &pc),
	    EML_ERR_CRYPTO_AUTH);
	for (size_t i = 0; i < ct.len; i++)
		assert_int_equal(body[i], 0);
	assert_false(eml_channel_is_open(p.s));
	eml_buf_free(&ct);
	pair_free(&p);
	eml_free(msg);
	eml_free(body);
	eml_free(pc.copy);
}

/* The open in steps (begin, update in any split, final) gives what the
 * whole open gives and checks the same tag; a flipped byte anywhere, the
 * tag included, fails final (channel closed); steps out of order fail
 * and close; abort closes a pending one. */
static void
open_in_steps(void **state)
{
	const size_t n = ((size_t)300 << 10) + 5;
	static const size_t splits[] = { 1, 16, 4093, (size_t)256 << 10, (size_t)1 << 20 };
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;
	uint8_t *msg = eml_alloc(n), *body = eml_alloc(n + EML_CHANNEL_TAG_LEN);

	(void)state;
	assert_non_null(msg);
	assert_non_null(body);
	for (size_t i = 0; i < n; i++)
		msg[i] = (uint8_t)(i * 13 + 5);
	handshake(&p);
	for (size_t k = 0; k < sizeof(splits) / sizeof(splits[0]); k++) {
		seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, msg, n, &ct);
		memcpy(body, ct.data, ct.len);
		assert_eml_ok(eml_channel_open_begin(p.s, &e, ct.len));
		for (size_t off = 0; off < n;) {
			size_t c = n - off < splits[k] ? n - off : splits[k];

			assert_eml_ok(eml_channel_open_update(p.s, body + off, c));
			off += c;
		}
		assert_eml_ok(eml_channel_open_final(p.s, &e, body + n));
		assert_memory_equal(body, msg, n);
		eml_buf_free(&ct);
	}
	/* the next frame opens whole: the counter moved once per frame */
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, msg, 100, &ct);
	{
		struct eml_buf out;

		eml_buf_init_secure(&out, 1 << 20);
		assert_eml_ok(eml_channel_open(p.s, &e, &out));
		assert_memory_equal(out.data, msg, 100);
		eml_buf_free(&out);
	}
	eml_buf_free(&ct);
	pair_free(&p);
	/* a flipped byte (start, middle, last, tag): final refuses, closed */
	for (int w = 0; w < 4; w++) {
		size_t at = w == 0 ? 0 : w == 1 ? n / 2 : w == 2 ? n - 1 : n + 3;

		handshake(&p);
		seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, msg, n, &ct);
		memcpy(body, ct.data, ct.len);
		body[at] ^= 0x20;
		assert_eml_ok(eml_channel_open_begin(p.s, &e, ct.len));
		assert_eml_ok(eml_channel_open_update(p.s, body, n));
		assert_eml(eml_channel_open_final(p.s, &e, body + n), EML_ERR_CRYPTO_AUTH);
		assert_false(eml_channel_is_open(p.s));
		assert_eml(eml_channel_open_begin(p.s, &e, ct.len), EML_ERR_CRYPTO_CHANNEL_CLOSED);
		eml_buf_free(&ct);
		pair_free(&p);
	}
	/* out of order: each closes the channel */
	for (int w = 0; w < 6; w++) {
		struct eml_buf out;

		handshake(&p);
		seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, msg, n, &ct);
		memcpy(body, ct.data, ct.len);
		eml_buf_init_secure(&out, 1 << 20);
		if (w == 0) { /* update without begin */
			assert_eml(eml_channel_open_update(p.s, body, 16), EML_ERR_CRYPTO_STATE);
		} else if (w == 1) { /* final without begin */
			assert_eml(eml_channel_open_final(p.s, &e, body + n), EML_ERR_CRYPTO_STATE);
		} else {
			assert_eml_ok(eml_channel_open_begin(p.s, &e, ct.len));
			if (w == 2) /* more than announced */
				assert_eml(eml_channel_open_update(p.s, body, n + 1),
				    EML_ERR_CRYPTO_STATE);
			else if (w == 3) /* final before all of it */
				assert_eml(eml_channel_open_final(p.s, &e, body + n),
				    EML_ERR_CRYPTO_STATE);
			else if (w == 4) /* another open meanwhile */
				assert_eml(eml_channel_open(p.s, &e, &out), EML_ERR_CRYPTO_STATE);
			else
				eml_channel_open_abort(p.s);
		}
		assert_false(eml_channel_is_open(p.s));
		eml_buf_free(&out);
		eml_buf_free(&ct);
		pair_free(&p);
	}
	/* abort with nothing pending: no-op */
	handshake(&p);
	eml_channel_open_abort(p.s);
	assert_true(eml_channel_is_open(p.s));
	pair_free(&p);
	eml_free(msg);
	eml_free(body);
}

/* The seal in steps, any split, opens as a whole seal does (same nonce,
 * AD and counter rule: the next whole seal opens too); steps out of order,
 * another seal meanwhile and abort close the channel. */
static void
seal_in_steps(void **state)
{
	const size_t n = ((size_t)300 << 10) + 7;
	static const size_t splits[] = { 1, 17, (size_t)256 << 10, (size_t)1 << 20 };
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;
	uint8_t *msg = eml_alloc(n), *w = eml_alloc(n + EML_CHANNEL_TAG_LEN);

	(void)state;
	assert_non_null(msg);
	assert_non_null(w);
	for (size_t i = 0; i < n; i++)
		msg[i] = (uint8_t)(i * 11 + 3);
	handshake(&p);
	for (size_t k = 0; k < sizeof(splits) / sizeof(splits[0]); k++) {
		hdr(&e, EML_MSG_INFER_REQUEST, 2);
		assert_eml_ok(eml_channel_seal_begin(p.c, &e));
		for (size_t off = 0; off < n;) {
			size_t c = n - off < splits[k] ? n - off : splits[k];

			/* into another buffer, or in place */
			if (k % 2 == 0) {
				assert_eml_ok(eml_channel_seal_update(p.c, msg + off, c, w + off));
			} else {
				memcpy(w + off, msg + off, c);
				assert_eml_ok(eml_channel_seal_update(p.c, w + off, c, w + off));
			}
			off += c;
		}
		assert_eml_ok(eml_channel_seal_final(p.c, w + n));
		e.body = w;
		e.body_len = n + EML_CHANNEL_TAG_LEN;
		expect_open(p.s, &e, msg, n);
	}
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 3, msg, 99, &ct);
	expect_open(p.s, &e, msg, 99);
	eml_buf_free(&ct);
	pair_free(&p);
	for (int wk = 0; wk < 5; wk++) {
		struct eml_buf out;

		handshake(&p);
		hdr(&e, EML_MSG_INFER_REQUEST, 4);
		eml_buf_init(&out, n + 64);
		if (wk == 0) {
			assert_eml(eml_channel_seal_update(p.c, msg, 16, w), EML_ERR_CRYPTO_STATE);
		} else if (wk == 1) {
			assert_eml(eml_channel_seal_final(p.c, w), EML_ERR_CRYPTO_STATE);
		} else {
			assert_eml_ok(eml_channel_seal_begin(p.c, &e));
			if (wk == 2)
				assert_eml(eml_channel_seal(p.c, &e, msg, 16, &out), EML_ERR_CRYPTO_STATE);
			else if (wk == 3)
				assert_eml(eml_channel_seal_begin(p.c, &e), EML_ERR_CRYPTO_STATE);
			else
				eml_channel_seal_abort(p.c);
		}
		assert_false(eml_channel_is_open(p.c));
		eml_buf_free(&out);
		pair_free(&p);
	}
	handshake(&p);
	eml_channel_seal_abort(p.c); /* nothing under way: no-op */
	assert_true(eml_channel_is_open(p.c));
	pair_free(&p);
	eml_free(msg);
	eml_free(w);
}

/* Two sealings of the same plaintext differ (distinct nonces). */
static void
same_plaintext_different_ciphertext(void **state)
{
	struct pair p;
	struct eml_envelope e1, e2;
	struct eml_buf c1, c2;

	(void)state;
	handshake(&p);
	seal(p.c, &e1, EML_MSG_INFER_REQUEST, 1, "same", 4, &c1);
	seal(p.c, &e2, EML_MSG_INFER_REQUEST, 1, "same", 4, &c2);
	/* Same length (same plaintext, same header), different bytes. */
	assert_int_equal(c1.len, c2.len);
	assert_true(c1.len > 4);
	assert_true(memcmp(c1.data, c2.data, c1.len) != 0);
	eml_buf_free(&c1);
	eml_buf_free(&c2);
	pair_free(&p);
}

/* Every single-bit flip of a whole sealed frame (length prefix, envelope
 * header, ciphertext, tag) is rejected: either the frame or envelope no
 * longer decodes, or open fails. */
static void
every_bit_flip_rejected(void **state)
{
	static const char msg[] = "0123456789abcdefghijklmnopqrstuv";
	struct pair p0;
	struct eml_envelope e, d;
	struct eml_buf ct, frame, env;
	uint8_t *bytes;
	size_t nbits, ok_decodes = 0;

	(void)state;
	/* Build one reference frame, then replay it into fresh channels whose
	 * keys are the same: re-running the handshake would change keys, so
	 * the flips are checked against the reference sender's peer, one
	 * fresh receiver per flip, made by repeating the handshake with
	 * deterministic randomness. */
	det_handshake(&p0, 777);
	seal(p0.c, &e, EML_MSG_INFER_REQUEST, 0x42, msg, sizeof(msg) - 1, &ct);
	eml_buf_init(&env, 4096);
	assert_eml_ok(eml_envelope_pack(&e, EML_FRAME_MAX_DEFAULT, &env));
	eml_buf_init(&frame, 4096);
	assert_eml_ok(eml_frame_encode(&frame, env.data, env.len, EML_FRAME_MAX_DEFAULT));
	bytes = eml_alloc(frame.len);
	assert_non_null(bytes);
	nbits = frame.len * 8;
	for (size_t bit = 0; bit < nbits; bit++) {
		struct pair p;
		struct eml_cur in, body;
		struct eml_buf out;
		eml_err rc;

		memcpy(bytes, frame.data, frame.len);
		bytes[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		in = eml_cur_make(bytes, frame.len);
		if (eml_frame_decode(&in, EML_FRAME_MAX_DEFAULT, &body) != EML_OK ||
		    eml_cur_expect_end(&in) != EML_OK)
			continue;
		if (eml_envelope_unpack(&d, body.p, body.left, EML_FRAME_MAX_DEFAULT) != EML_OK)
			continue;
		ok_decodes++;
		det_handshake(&p, 777);
		eml_buf_init_secure(&out, 4096);
		rc = eml_channel_open(p.s, &d, &out);
		if (rc == EML_OK)
			fail_msg("flipped bit %zu of %zu was accepted", bit, nbits);
		assert_int_equal(out.len, 0);
		assert_false(eml_channel_is_open(p.s));
		eml_buf_free(&out);
		eml_envelope_clear(&d);
		pair_free(&p);
	}
	/* Most flips land in fields that still decode: the channel, not the
	 * decoder, is what rejected them. */
	assert_true(ok_decodes > nbits / 2);
	/* And the unflipped frame opens in such a fresh receiver. */
	{
		struct pair p;
		struct eml_cur in = eml_buf_cur(&frame), body;

		det_handshake(&p, 777);
		assert_eml_ok(eml_frame_decode(&in, EML_FRAME_MAX_DEFAULT, &body));
		assert_eml_ok(eml_envelope_unpack(&d, body.p, body.left, EML_FRAME_MAX_DEFAULT));
		expect_open(p.s, &d, msg, sizeof(msg) - 1);
		eml_envelope_clear(&d);
		pair_free(&p);
	}
	eml_free(bytes);
	eml_buf_free(&ct);
	eml_buf_free(&env);
	eml_buf_free(&frame);
	pair_free(&p0);
}

static void
replay_rejected(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;

	(void)state;
	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "once", 4, &ct);
	expect_open(p.s, &e, "once", 4);
	expect_fail(p.s, &e, EML_ERR_CRYPTO_AUTH);
	/* The sender's side is unaffected, the receiver's is closed. */
	assert_true(eml_channel_is_open(p.c));
	eml_buf_free(&ct);
	pair_free(&p);
}

static void
reorder_and_drop_rejected(void **state)
{
	struct pair p;
	struct eml_envelope e0, e1;
	struct eml_buf c0, c1;

	(void)state;
	handshake(&p);
	seal(p.c, &e0, EML_MSG_INFER_REQUEST, 1, "first", 5, &c0);
	seal(p.c, &e1, EML_MSG_INFER_REQUEST, 1, "second", 6, &c1);
	expect_fail(p.s, &e1, EML_ERR_CRYPTO_AUTH);
	/* After the failure even the right next frame is refused. */
	assert_eml(eml_channel_open(p.s, &e0, &c1), EML_ERR_CRYPTO_CHANNEL_CLOSED);
	eml_buf_free(&c0);
	eml_buf_free(&c1);
	pair_free(&p);
}

static void
truncated_and_extended_rejected(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;
	uint8_t longer[64];

	(void)state;
	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "truncate me", 11, &ct);
	e.body_len--;
	expect_fail(p.s, &e, EML_ERR_CRYPTO_AUTH);
	pair_free(&p);
	eml_buf_free(&ct);

	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "truncate me", 11, &ct);
	e.body_len = 15; /* shorter than a tag */
	expect_fail(p.s, &e, EML_ERR_CRYPTO_AUTH);
	pair_free(&p);
	eml_buf_free(&ct);

	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "extend me", 9, &ct);
	memcpy(longer, ct.data, ct.len);
	longer[ct.len] = 0;
	e.body = longer;
	e.body_len = ct.len + 1;
	expect_fail(p.s, &e, EML_ERR_CRYPTO_AUTH);
	pair_free(&p);
	eml_buf_free(&ct);
}

/* A frame sent back to its sender (the host reflecting it) fails: the
 * directions have different keys and nonces. */
static void
reflection_rejected(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;

	(void)state;
	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "mirror", 6, &ct);
	expect_fail(p.c, &e, EML_ERR_CRYPTO_AUTH);
	eml_buf_free(&ct);
	seal(p.s, &e, EML_MSG_INFER_RESPONSE, 1, "mirror", 6, &ct);
	expect_fail(p.s, &e, EML_ERR_CRYPTO_AUTH);
	eml_buf_free(&ct);
	pair_free(&p);
}

static void
wrong_key_rejected(void **state)
{
	struct pair a, b;
	struct eml_envelope e;
	struct eml_buf ct;

	(void)state;
	handshake(&a);
	handshake(&b);
	seal(a.c, &e, EML_MSG_INFER_REQUEST, 1, "for a", 5, &ct);
	expect_fail(b.s, &e, EML_ERR_CRYPTO_AUTH);
	expect_open(a.s, &e, "for a", 5);
	eml_buf_free(&ct);
	pair_free(&a);
	pair_free(&b);
}

/* The header is bound: another type, request id or version fails. */
static void
header_bound(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;

	(void)state;
	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "bound", 5, &ct);
	e.type = EML_MSG_EVIDENCE_REQUEST;
	expect_fail(p.s, &e, EML_ERR_CRYPTO_AUTH);
	eml_buf_free(&ct);
	pair_free(&p);

	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "bound", 5, &ct);
	e.request_id[15] ^= 1;
	expect_fail(p.s, &e, EML_ERR_CRYPTO_AUTH);
	eml_buf_free(&ct);
	pair_free(&p);

	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "bound", 5, &ct);
	e.version = 2;
	expect_fail(p.s, &e, EML_ERR_PROTO_VERSION);
	eml_buf_free(&ct);
	pair_free(&p);

	/* A plaintext type cannot be opened or sealed. */
	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "bound", 5, &ct);
	e.type = EML_MSG_PING;
	expect_fail(p.s, &e, EML_ERR_PROTO_MSG_TYPE);
	eml_buf_free(&ct);
	hdr(&e, EML_MSG_BLOB_REQUEST, 1);
	eml_buf_init(&ct, 100);
	assert_eml(eml_channel_seal(p.c, &e, (const uint8_t *)"x", 1, &ct), EML_ERR_PROTO_MSG_TYPE);
	assert_int_equal(ct.len, 0);
	assert_false(eml_channel_is_open(p.c));
	eml_buf_free(&ct);
	pair_free(&p);
}

/* The host rewriting the hello or the attestation response makes the two
 * sides derive different keys: the first sealed frame fails. */
static void
transcript_tampering_detected(void **state)
{
	uint8_t nonce[32], pk[32];
	struct eml_channel *c, *s;
	struct eml_buf hello, resp, ct, out;
	struct eml_envelope e;

	(void)state;
	/* Response altered (one byte of the document) on its way. */
	eml_buf_init(&hello, 1024);
	eml_buf_init(&resp, 4096);
	assert_eml_ok(eml_channel_client_new(&c, &hello));
	assert_eml_ok(eml_channel_server_new(&s, hello.data, hello.len, nonce, pk));
	assert_eml_ok(eml_channel_server_finish(s, DOC, sizeof(DOC), &resp));
	resp.data[resp.len - 5] ^= 0x20;
	assert_eml_ok(eml_channel_client_finish(c, resp.data, resp.len, pk));
	seal(s, &e, EML_MSG_INFER_RESPONSE, 1, "x", 1, &ct);
	expect_fail(c, &e, EML_ERR_CRYPTO_AUTH);
	eml_buf_free(&ct);
	eml_channel_free(c);
	eml_channel_free(s);
	eml_buf_free(&hello);
	eml_buf_free(&resp);

	/* Hello altered (one nonce byte): the agent attests the altered nonce
	 * (the client's nonce check would catch that); the keys differ too. */
	eml_buf_init(&hello, 1024);
	eml_buf_init(&resp, 4096);
	assert_eml_ok(eml_channel_client_new(&c, &hello));
	hello.data[4] ^= 1;
	assert_eml_ok(eml_channel_server_new(&s, hello.data, hello.len, nonce, pk));
	assert_eml_ok(eml_channel_server_finish(s, DOC, sizeof(DOC), &resp));
	assert_eml_ok(eml_channel_client_finish(c, resp.data, resp.len, pk));
	seal(c, &e, EML_MSG_INFER_REQUEST, 1, "x", 1, &ct);
	eml_buf_init_secure(&out, 64);
	assert_eml(eml_channel_open(s, &e, &out), EML_ERR_CRYPTO_AUTH);
	eml_buf_free(&out);
	eml_buf_free(&ct);
	eml_channel_free(c);
	eml_channel_free(s);
	eml_buf_free(&hello);
	eml_buf_free(&resp);

	/* The client given another agent key than the one that made the
	 * response (a substituted key): keys differ. */
	{
		uint8_t other[32];

		eml_buf_init(&hello, 1024);
		eml_buf_init(&resp, 4096);
		assert_eml_ok(eml_channel_client_new(&c, &hello));
		assert_eml_ok(eml_channel_server_new(&s, hello.data, hello.len, nonce, pk));
		assert_eml_ok(eml_channel_server_finish(s, DOC, sizeof(DOC), &resp));
		randombytes_buf(other, sizeof(other));
		assert_eml_ok(eml_channel_client_finish(c, resp.data, resp.len, other));
		seal(s, &e, EML_MSG_INFER_RESPONSE, 1, "x", 1, &ct);
		expect_fail(c, &e, EML_ERR_CRYPTO_AUTH);
		eml_buf_free(&ct);
		eml_channel_free(c);
		eml_channel_free(s);
		eml_buf_free(&hello);
		eml_buf_free(&resp);
	}
}

/* Points of small order on Curve25519 (and non-canonical encodings of
 * them) make the shared secret all-zero: refused on both sides. */
static void
low_order_points_rejected(void **state)
{
	static const uint8_t bad[][32] = {
		{ 0 },
		{ 1 },
		{ 0xe0, 0xeb, 0x7a, 0x7c, 0x3b, 0x41, 0xb8, 0xae, 0x16, 0x56, 0xe3, 0xfa, 0xf1, 0x9f, 0xc4,
		    0x6a, 0xda, 0x09, 0x8d, 0xeb, 0x9c, 0x32, 0xb1, 0xfd, 0x86, 0x62, 0x05, 0x16, 0x5f, 0x49,
		    0xb8, 0x00 },
		{ 0x5f, 0x9c, 0x95, 0xbc, 0xa3, 0x50, 0x8c, 0x24, 0xb1, 0xd0, 0xb1, 0x55, 0x9c, 0x83, 0xef,
		    0x5b, 0x04, 0x44, 0x5c, 0xc4, 0x58, 0x1c, 0x8e, 0x86, 0xd8, 0x22, 0x4e, 0xdd, 0xd0, 0x9f,
		    0x11, 0x57 },
		{ 0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0x7f },
		{ 0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0x7f },
		{ 0xee, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		    0xff, 0x7f },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		Eml__V1__ClientHello h = EML__V1__CLIENT_HELLO__INIT;
		uint8_t nonce[32] = { 7 }, pk[32];
		struct eml_channel *c = NULL, *s = NULL;
		struct eml_buf hello, resp;
		struct eml_envelope e;

		/* Server side: a hello carrying the point. */
		h.nonce.data = nonce;
		h.nonce.len = 32;
		h.client_public_key.data = (uint8_t *)(uintptr_t)bad[i];
		h.client_public_key.len = 32;
		h.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM;
		eml_buf_init(&hello, 1024);
		assert_eml_ok(eml_msg_pack(&h.base, &hello));
		assert_eml(eml_channel_server_new(&s, hello.data, hello.len, nonce, pk),
		    EML_ERR_CRYPTO_KEY);
		assert_null(s);
		eml_buf_free(&hello);

		/* Client side: a document carrying the point. */
		eml_buf_init(&hello, 1024);
		eml_buf_init(&resp, 1024);
		assert_eml_ok(eml_channel_client_new(&c, &hello));
		assert_eml(eml_channel_client_finish(c, DOC, sizeof(DOC), bad[i]), EML_ERR_CRYPTO_KEY);
		assert_false(eml_channel_is_open(c));
		hdr(&e, EML_MSG_INFER_REQUEST, 1);
		assert_eml(eml_channel_seal(c, &e, (const uint8_t *)"x", 1, &resp),
		    EML_ERR_CRYPTO_CHANNEL_CLOSED);
		eml_channel_free(c);
		eml_buf_free(&hello);
		eml_buf_free(&resp);
	}
}

static void
bad_hello_rejected(void **state)
{
	static const uint8_t garbage[] = { 0xff, 0xff, 0xff };
	uint8_t nonce[32], pk[32];
	struct eml_channel *s = NULL;
	struct eml_buf hello;
	Eml__V1__ClientHello h = EML__V1__CLIENT_HELLO__INIT;
	uint8_t k[32] = { 9 };

	(void)state;
	assert_eml(eml_channel_server_new(&s, garbage, sizeof(garbage), nonce, pk), EML_ERR_PROTO_DECODE);
	assert_eml(eml_channel_server_new(&s, garbage, 0, nonce, pk), EML_ERR_PROTO_FIELD);
	h.nonce.data = k;
	h.nonce.len = 31;
	h.client_public_key.data = k;
	h.client_public_key.len = 32;
	h.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM;
	eml_buf_init(&hello, 1024);
	assert_eml_ok(eml_msg_pack(&h.base, &hello));
	assert_eml(eml_channel_server_new(&s, hello.data, hello.len, nonce, pk), EML_ERR_PROTO_FIELD);
	eml_buf_free(&hello);
	assert_null(s);
}

static void
misuse_is_refused(void **state)
{
	struct eml_channel *c = NULL, *s = NULL;
	struct eml_buf hello, resp, ct;
	struct eml_envelope e;
	uint8_t nonce[32], pk[32];

	(void)state;
	eml_buf_init(&hello, 1024);
	eml_buf_init(&resp, 4096);
	eml_buf_init(&ct, 4096);
	hdr(&e, EML_MSG_INFER_REQUEST, 1);
	/* Seal before the keys exist. */
	assert_eml_ok(eml_channel_client_new(&c, &hello));
	assert_eml(eml_channel_seal(c, &e, (const uint8_t *)"x", 1, &ct), EML_ERR_CRYPTO_STATE);
	assert_eml(eml_channel_seal(c, &e, (const uint8_t *)"x", 1, &ct), EML_ERR_CRYPTO_CHANNEL_CLOSED);
	assert_eml(eml_channel_transcript_hash(c, nonce), EML_ERR_CRYPTO_STATE);
	eml_channel_free(c);
	/* Server-only and client-only calls on the wrong side; finishing twice. */
	eml_buf_reset(&hello);
	assert_eml_ok(eml_channel_client_new(&c, &hello));
	assert_eml_ok(eml_channel_server_new(&s, hello.data, hello.len, nonce, pk));
	assert_eml(eml_channel_client_nonce(s, nonce), EML_ERR_CRYPTO_STATE);
	assert_eml(eml_channel_server_finish(c, DOC, sizeof(DOC), &resp), EML_ERR_CRYPTO_STATE);
	assert_eml(eml_channel_server_finish(s, DOC, 0, &resp), EML_ERR_PROTO_FIELD);
	assert_false(eml_channel_is_open(s));
	eml_channel_free(c);
	eml_channel_free(s);
	eml_buf_reset(&hello);
	eml_buf_reset(&resp);
	assert_eml_ok(eml_channel_client_new(&c, &hello));
	assert_eml_ok(eml_channel_server_new(&s, hello.data, hello.len, nonce, pk));
	assert_eml_ok(eml_channel_server_finish(s, DOC, sizeof(DOC), &resp));
	assert_eml(eml_channel_server_finish(s, DOC, sizeof(DOC), &resp), EML_ERR_CRYPTO_STATE);
	assert_eml_ok(eml_channel_client_finish(c, resp.data, resp.len, pk));
	assert_eml(eml_channel_client_finish(c, resp.data, resp.len, pk), EML_ERR_CRYPTO_STATE);
	assert_eml(eml_channel_client_finish(c, resp.data, resp.len, pk), EML_ERR_CRYPTO_CHANNEL_CLOSED);
	eml_channel_free(c);
	eml_channel_free(s);
	/* Explicit close. */
	{
		struct pair p;

		handshake(&p);
		eml_channel_close(p.c);
		assert_eml(eml_channel_seal(p.c, &e, (const uint8_t *)"x", 1, &ct),
		    EML_ERR_CRYPTO_CHANNEL_CLOSED);
		pair_free(&p);
	}
	/* A too-small output buffer on seal closes too (one rule: any
	 * failure ends the channel) and leaves the buffer unchanged. */
	{
		struct pair p;
		struct eml_buf small;

		handshake(&p);
		eml_buf_init(&small, 16);
		assert_eml(eml_channel_seal(p.c, &e, (const uint8_t *)"x", 1, &small),
		    EML_ERR_PROTO_TOO_LARGE);
		assert_int_equal(small.len, 0);
		assert_false(eml_channel_is_open(p.c));
		eml_buf_free(&small);
		pair_free(&p);
	}
	eml_channel_free(NULL);
	eml_buf_free(&hello);
	eml_buf_free(&resp);
	eml_buf_free(&ct);
}

static void
counter_exhaustion(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;

	(void)state;
	handshake(&p);
	eml_channel_test_set_counters(p.c, UINT64_MAX - 1, 0);
	eml_channel_test_set_counters(p.s, 0, UINT64_MAX - 1);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "last", 4, &ct);
	expect_open(p.s, &e, "last", 4);
	eml_buf_free(&ct);
	/* The next one would reuse the wrapped nonce space: refused. */
	hdr(&e, EML_MSG_INFER_REQUEST, 1);
	eml_buf_init(&ct, 64);
	assert_eml(eml_channel_seal(p.c, &e, (const uint8_t *)"over", 4, &ct), EML_ERR_CRYPTO_COUNTER);
	assert_int_equal(ct.len, 0);
	assert_false(eml_channel_is_open(p.c));
	/* Same on the receiving side. */
	eml_buf_free(&ct);
	seal(p.s, &e, EML_MSG_INFER_RESPONSE, 1, "x", 1, &ct);
	eml_channel_test_set_counters(p.c, 0, UINT64_MAX);
	assert_eml(eml_channel_open(p.c, &e, &ct), EML_ERR_CRYPTO_CHANNEL_CLOSED);
	eml_buf_free(&ct);
	pair_free(&p);
	handshake(&p);
	seal(p.s, &e, EML_MSG_INFER_RESPONSE, 1, "x", 1, &ct);
	eml_channel_test_set_counters(p.c, 0, UINT64_MAX);
	expect_fail(p.c, &e, EML_ERR_CRYPTO_COUNTER);
	eml_buf_free(&ct);
	pair_free(&p);
}

/* Every secure region is all-zero when released: keys do not survive
 * close, and the handshake's private keys are gone. */
static void
secrets_wiped(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;

	(void)state;
	eml_test_wipe_start();
	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "secret", 6, &ct);
	expect_open(p.s, &e, "secret", 6);
	eml_buf_free(&ct);
	pair_free(&p);
	/* Also on the failure path. */
	handshake(&p);
	seal(p.c, &e, EML_MSG_INFER_REQUEST, 1, "secret", 6, &ct);
	ct.data[0] ^= 1;
	expect_fail(p.s, &e, EML_ERR_CRYPTO_AUTH);
	eml_buf_free(&ct);
	pair_free(&p);
	eml_test_wipe_stop();
	/* Per handshake: two key holders, at least (the PRK scratch is on
	 * derive's stack now, sodium_memzero'd there, no region of its own). */
	assert_true(eml_test_wipe_count() >= 4);
	assert_int_equal(eml_test_wipe_dirty(), 0);
}

/* Each allocation failing in turn through a whole handshake and one
 * message: an error, never a crash or leak (ASan checks leaks). */
static void
allocation_failures(void **state)
{
	int failed = 0;

	(void)state;
	for (long k = 1; k < 40; k++) {
		struct eml_channel *c = NULL, *s = NULL;
		struct eml_buf hello, resp, ct, out;
		struct eml_envelope e;
		uint8_t nonce[32], pk[32];
		eml_err rc;

		eml_buf_init(&hello, 1024);
		eml_buf_init(&resp, 4096);
		eml_buf_init(&ct, 4096);
		eml_buf_init_secure(&out, 4096);
		eml_mem_fail_after(k);
		rc = eml_channel_client_new(&c, &hello);
		if (rc == EML_OK)
			rc = eml_channel_server_new(&s, hello.data, hello.len, nonce, pk);
		if (rc == EML_OK)
			rc = eml_channel_server_finish(s, DOC, sizeof(DOC), &resp);
		if (rc == EML_OK)
			rc = eml_channel_client_finish(c, resp.data, resp.len, pk);
		hdr(&e, EML_MSG_INFER_REQUEST, 1);
		if (rc == EML_OK)
			rc = eml_channel_seal(c, &e, (const uint8_t *)"m", 1, &ct);
		e.body = ct.data;
		e.body_len = ct.len;
		if (rc == EML_OK)
			rc = eml_channel_open(s, &e, &out);
		eml_mem_fail_after(0);
		if (rc != EML_OK) {
			failed++;
			assert_true(rc == EML_ERR_NOMEM || rc == EML_ERR_PROTO_DECODE);
		}
		eml_channel_free(c);
		eml_channel_free(s);
		eml_buf_free(&hello);
		eml_buf_free(&resp);
		eml_buf_free(&ct);
		eml_buf_free(&out);
	}
	assert_true(failed > 3);
}

/* Randomized conversations over many seeds: random sizes, types and
 * interleavings must all round-trip. The seed is printed on failure. */
static void
randomized_round_trips(void **state)
{
	static const uint32_t types[] = { EML_MSG_INFER_REQUEST, EML_MSG_INFER_RESPONSE,
		EML_MSG_EVIDENCE_REQUEST, EML_MSG_EVIDENCE_RESPONSE, EML_MSG_CLOSE };
	uint64_t base = eml_test_seed();
	uint8_t *msg = eml_alloc(70000);

	(void)state;
	assert_non_null(msg);
	for (uint64_t i = 0; i < 200; i++) {
		uint64_t seed = base + i, s = seed;
		struct pair p;
		int rounds = 1 + (int)(eml_test_rand(&s) % 12);

		handshake(&p);
		for (int r = 0; r < rounds; r++) {
			int to_server = (int)(eml_test_rand(&s) & 1);
			size_t n = (size_t)(eml_test_rand(&s) % (r % 3 == 0 ? 70000 : 300));
			uint32_t type = types[eml_test_rand(&s) % 5];
			struct eml_envelope e;
			struct eml_buf ct, out;
			eml_err rc;

			eml_test_fill(&s, msg, n);
			hdr(&e, type, (uint8_t)eml_test_rand(&s));
			eml_buf_init(&ct, n + 16);
			rc = eml_channel_seal(to_server ? p.c : p.s, &e, msg, n, &ct);
			e.body = ct.data;
			e.body_len = ct.len;
			eml_buf_init_secure(&out, 70000);
			if (rc == EML_OK)
				rc = eml_channel_open(to_server ? p.s : p.c, &e, &out);
			if (rc != EML_OK || out.len != n || (n != 0 && memcmp(out.data, msg, n) != 0))
				fail_msg("seed %llu round %d (%zu bytes): %s; replay with "
					 "EML_TEST_SEED=%llu",
				    (unsigned long long)seed, r, n, eml_err_name(rc),
				    (unsigned long long)base);
			eml_buf_free(&ct);
			eml_buf_free(&out);
		}
		pair_free(&p);
	}
	eml_free(msg);
}

/* ------------------------------------------------------------------
 * Independent re-derivation with OpenSSL of everything PROTOCOL.md §4
 * specifies: find the private keys the channel drew (recorded by the test
 * RNG), recompute X25519, the transcript hash, HKDF and the AEAD, and
 * open the client's first frame without eml_channel. */
static int
find_sk(const uint8_t pk[32], uint8_t sk[32])
{
	for (size_t i = 0; i < det_n; i++) {
		EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, det_log[i], 32);
		uint8_t pub[32];
		size_t pl = sizeof(pub);
		int ok = k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &pl) == 1 && pl == 32 &&
		    memcmp(pub, pk, 32) == 0;

		EVP_PKEY_free(k);
		if (ok) {
			memcpy(sk, det_log[i], 32);
			return 1;
		}
	}
	return 0;
}

static void
ossl_x25519(const uint8_t sk[32], const uint8_t pk[32], uint8_t out[32])
{
	EVP_PKEY *a = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, 32);
	EVP_PKEY *b = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pk, 32);
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(a, NULL);
	size_t n = 32;

	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_derive_init(ctx), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(ctx, b), 1);
	assert_int_equal(EVP_PKEY_derive(ctx, out, &n), 1);
	assert_int_equal(n, 32);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(a);
	EVP_PKEY_free(b);
}

static void
ossl_hmac(const uint8_t *key, size_t kl, const uint8_t *m, size_t ml, uint8_t out[32])
{
	unsigned int ol = 32;

	assert_non_null(HMAC(EVP_sha256(), key, (int)kl, m, ml, out, &ol));
	assert_int_equal(ol, 32);
}

static void
be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static void
key_schedule_matches_spec(void **state)
{
	struct pair p;
	struct eml_envelope e;
	struct eml_buf ct;
	Eml__V1__ClientHello *h;
	ProtobufCMessage *pm = NULL;
	uint8_t csk[32], cpk[32], shared[32], th[32], prk[32], k[32], sid[32], sid_ch[16];
	uint8_t th_ch[32], *t, *plain, nonce[12] = { 0, 0, 0, 1 }, ad[38], info[64];
	size_t tl = 0, il;
	int outl = 0, fl = 0;
	EVP_CIPHER_CTX *cx;
	static const char label[] = "EphemeralML v1 transcript";
	static const char msg[] = "known plaintext";

	(void)state;
	det_handshake(&p, 12345);
	assert_eml_ok(eml_msg_unpack(&eml__v1__client_hello__descriptor, p.hello.data, p.hello.len,
	    1024, &pm));
	h = (Eml__V1__ClientHello *)pm;
	memcpy(cpk, h->client_public_key.data, 32);
	eml_msg_free(pm);
	assert_true(find_sk(cpk, csk));
	ossl_x25519(csk, p.agent_pk, shared);

	t = eml_alloc(64 + p.hello.len + p.resp.len + 64);
	assert_non_null(t);
	memcpy(t, label, strlen(label));
	tl = strlen(label);
	be32(t + tl, (uint32_t)p.hello.len);
	tl += 4;
	memcpy(t + tl, p.hello.data, p.hello.len);
	tl += p.hello.len;
	be32(t + tl, (uint32_t)p.resp.len);
	tl += 4;
	memcpy(t + tl, p.resp.data, p.resp.len);
	tl += p.resp.len;
	memcpy(t + tl, cpk, 32);
	tl += 32;
	memcpy(t + tl, p.agent_pk, 32);
	tl += 32;
	SHA256(t, tl, th);
	eml_free(t);
	assert_eml_ok(eml_channel_transcript_hash(p.c, th_ch));
	assert_memory_equal(th, th_ch, 32);

	ossl_hmac(th, 32, shared, 32, prk);
	il = strlen("EphemeralML v1 c2s key");
	memcpy(info, "EphemeralML v1 c2s key", il);
	info[il] = 1;
	ossl_hmac(prk, 32, info, il + 1, k);
	il = strlen("EphemeralML v1 session id");
	memcpy(info, "EphemeralML v1 session id", il);
	info[il] = 1;
	ossl_hmac(prk, 32, info, il + 1, sid);
	assert_eml_ok(eml_channel_session_id(p.s, sid_ch));
	assert_memory_equal(sid, sid_ch, 16);

	seal(p.c, &e, EML_MSG_INFER_REQUEST, 0x33, msg, sizeof(msg) - 1, &ct);
	/* AD = "EMLv1" | dir 1 | u64be 0 | u32be 1 | u32be 3 | request id */
	memcpy(ad, "EMLv1", 5);
	ad[5] = 1;
	memset(ad + 6, 0, 8);
	be32(ad + 14, 1);
	be32(ad + 18, EML_MSG_INFER_REQUEST);
	memset(ad + 22, 0x33, 16);
	plain = eml_alloc(ct.len);
	assert_non_null(plain);
	cx = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_DecryptInit_ex(cx, EVP_aes_256_gcm(), NULL, k, nonce), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(cx, EVP_CTRL_AEAD_SET_TAG, 16, ct.data + ct.len - 16), 1);
	assert_int_equal(EVP_DecryptUpdate(cx, NULL, &outl, ad, sizeof(ad)), 1);
	assert_int_equal(EVP_DecryptUpdate(cx, plain, &outl, ct.data, (int)(ct.len - 16)), 1);
	assert_int_equal(EVP_DecryptFinal_ex(cx, plain + outl, &fl), 1);
	assert_int_equal(outl + fl, (int)(sizeof(msg) - 1));
	assert_memory_equal(plain, msg, sizeof(msg) - 1);
	EVP_CIPHER_CTX_free(cx);
	eml_free(plain);
	eml_buf_free(&ct);
	pair_free(&p);
}

/* Outside an arena a channel's secrets block (locked, its own mapping)
 * is kept, wiped, for the next channel; one made inside an arena is not
 * (the arena owns and wipes it). */
static void
secrets_block_kept_outside_arenas(void **state)
{
	struct eml_channel *c1 = NULL, *c2 = NULL, *c3 = NULL, *c4 = NULL;
	struct eml_arena *a = NULL;
	struct eml_buf hello;
	const void *p1, *p3;
	uint64_t taken;

	(void)state;
	eml_buf_init(&hello, 4096);
	assert_eml_ok(eml_channel_client_new(&c1, &hello));
	p1 = eml_channel_test_secrets(c1);
	assert_non_null(p1);
	eml_channel_free(c1);
	taken = eml_channel_test_spare_taken();
	eml_buf_reset(&hello);
	assert_eml_ok(eml_channel_client_new(&c2, &hello));
	assert_int_equal(eml_channel_test_spare_taken(), taken + 1);
	assert_ptr_equal(eml_channel_test_secrets(c2), p1);
	/* the spare is taken (c2 holds it); a block from an arena */
	assert_eml_ok(eml_arena_new(1 << 20, &a));
	(void)eml_arena_use(a);
	eml_buf_reset(&hello);
	assert_eml_ok(eml_channel_client_new(&c3, &hello));
	p3 = eml_channel_test_secrets(c3);
	eml_channel_free(c3);
	(void)eml_arena_use(NULL);
	eml_buf_reset(&hello);
	assert_eml_ok(eml_channel_client_new(&c4, &hello));
	assert_ptr_not_equal(eml_channel_test_secrets(c4), p3);
	assert_int_equal(eml_channel_test_spare_taken(), taken + 1);
	eml_channel_free(c4);
	eml_channel_free(c2);
	eml_arena_free(a);
	eml_buf_free(&hello);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(secrets_block_kept_outside_arenas),
		cmocka_unit_test(handshake_and_both_directions),
		cmocka_unit_test(seal_in_place_opens),
		cmocka_unit_test(open_in_place_works_and_refuses),
		cmocka_unit_test(open_in_place_hook_sees_ciphertext),
		cmocka_unit_test(open_in_steps),
		cmocka_unit_test(seal_in_steps),
		cmocka_unit_test(same_plaintext_different_ciphertext),
		cmocka_unit_test(every_bit_flip_rejected),
		cmocka_unit_test(replay_rejected),
		cmocka_unit_test(reorder_and_drop_rejected),
		cmocka_unit_test(truncated_and_extended_rejected),
		cmocka_unit_test(reflection_rejected),
		cmocka_unit_test(wrong_key_rejected),
		cmocka_unit_test(header_bound),
		cmocka_unit_test(transcript_tampering_detected),
		cmocka_unit_test(low_order_points_rejected),
		cmocka_unit_test(bad_hello_rejected),
		cmocka_unit_test(misuse_is_refused),
		cmocka_unit_test(counter_exhaustion),
		cmocka_unit_test(secrets_wiped),
		cmocka_unit_test(allocation_failures),
		cmocka_unit_test(randomized_round_trips),
		cmocka_unit_test(key_schedule_matches_spec),
	};

	/* Must precede sodium_init (inside eml_mem_init). */
	randombytes_set_implementation(&rb_impl);
	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("channel", tests, NULL, NULL);
}
