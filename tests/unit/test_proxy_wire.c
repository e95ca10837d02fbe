/* eml-proxy wire: the envelope header peek against the foundation's
 * protobuf-c encoder, malformed headers, and the frames the proxy writes
 * checked with the protobuf-c decoder. */
#include "eml_test.h"

#include <stdio.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_mem.h"
#include "host-proxy/eml_wire.h"

#define FMAX EML_FRAME_MAX_DEFAULT

static void
pack(uint32_t type, const uint8_t *rid, const uint8_t *body, size_t n, struct eml_buf *out)
{
	struct eml_envelope env;

	memset(&env, 0, sizeof(env));
	env.version = EML_PROTO_VERSION;
	env.type = type;
	EML_MEMCPY(env.request_id, rid, 16);
	env.body = body;
	env.body_len = n;
	eml_buf_reset(out);
	assert_eml_ok(eml_envelope_pack(&env, FMAX, out));
}

static void
peek_matches_encoder(void **state)
{
	static const size_t sizes[] = { 0, 1, 127, 128, 300, 16383, 16384, 100000 };
	uint64_t seed = eml_test_seed();
	uint8_t rid[16];
	uint8_t *body = eml_alloc(100000);
	struct eml_buf b;

	(void)state;
	assert_non_null(body);
	eml_test_fill(&seed, body, 100000);
	eml_buf_init(&b, FMAX);
	for (uint32_t type = EML_MSG_TYPE_MIN; type <= EML_MSG_TYPE_MAX; type++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			struct eml_wire_hdr h;
			size_t n = sizes[s];
			size_t first_ok = 0;

			if (n > eml_msg_type_body_max(type, FMAX))
				continue;
			if (n == 0 && (type != EML_MSG_PING && type != EML_MSG_PONG))
				continue; /* body required */
			if (eml_msg_type_sealed(type) && n < 16)
				continue; /* shorter than an AEAD tag */
			eml_test_fill(&seed, rid, sizeof(rid));
			pack(type, rid, body, n, &b);
			assert_eml_ok(eml_wire_peek(b.data, b.len, b.len, &h));
			assert_int_equal(h.version, 1);
			assert_int_equal(h.type, type);
			assert_memory_equal(h.request_id, rid, 16);
			assert_int_equal(h.body_len, n);
			assert_int_equal(h.body_off + h.body_len, b.len);
			if (n > 0)
				assert_memory_equal(b.data + h.body_off, body, n);
			/* every prefix: truncated until the header is in, then
			 * the same answer */
			for (size_t avail = 0; avail <= b.len && avail <= EML_WIRE_PEEK_MAX; avail++) {
				struct eml_wire_hdr h2;
				eml_err rc = eml_wire_peek(b.data, avail, b.len, &h2);

				if (rc == EML_ERR_PROTO_TRUNCATED) {
					assert_int_equal(first_ok, 0);
					continue;
				}
				assert_eml_ok(rc);
				if (first_ok == 0)
					first_ok = avail;
				assert_int_equal(h2.type, type);
				assert_int_equal(h2.body_off, h.body_off);
				assert_int_equal(h2.body_len, n);
			}
			assert_true(first_ok > 0 && first_ok <= h.body_off);
		}
	}
	eml_buf_free(&b);
	eml_free(body);
}

static eml_err
peek_bytes(const uint8_t *p, size_t n)
{
	struct eml_wire_hdr h;

	return eml_wire_peek(p, n, n, &h);
}

#define RID16 0x1a, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16

static void
peek_rejects_malformed(void **state)
{
	static const uint8_t good[] = { 0x08, 1, 0x10, 3, RID16, 0x22, 2, 0xaa, 0xbb };
	static const uint8_t v2[] = { 0x08, 2, 0x10, 3, RID16, 0x22, 1, 0 };
	static const uint8_t v0[] = { 0x10, 3, RID16, 0x22, 1, 0 };
	static const uint8_t t0[] = { 0x08, 1, RID16, 0x22, 1, 0 };
	static const uint8_t t13[] = { 0x08, 1, 0x10, 17, RID16, 0x22, 1, 0 }; /* type 17: unknown */
	static const uint8_t nrid[] = { 0x08, 1, 0x10, 3, 0x22, 1, 0 };
	static const uint8_t rid15[] = { 0x08, 1, 0x10, 3, 0x1a, 15, 1, 2, 3, 4, 5, 6, 7, 8, 9,
		10, 11, 12, 13, 14, 15, 0x22, 1, 0 };
	static const uint8_t f5[] = { 0x08, 1, 0x10, 3, RID16, 0x28, 1, 0x22, 1, 0 };
	static const uint8_t rep[] = { 0x08, 1, 0x08, 1, 0x10, 3, RID16, 0x22, 1, 0 };
	static const uint8_t blast[] = { 0x08, 1, 0x10, 3, 0x22, 1, 0, RID16 };
	static const uint8_t blong[] = { 0x08, 1, 0x10, 3, RID16, 0x22, 3, 0 };
	static const uint8_t bshort[] = { 0x08, 1, 0x10, 3, RID16, 0x22, 1, 0, 0 };
	static const uint8_t wt[] = { 0x0a, 1, 1, 0x10, 3, RID16, 0x22, 1, 0 };
	static const uint8_t vlong[] = { 0x08, 0x81, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80,
		0x80, 0x80, 0x00, 0x10, 3, RID16 };
	static const uint8_t vbig[] = { 0x08, 0x81, 0x80, 0x80, 0x80, 0x10, 0x10, 3, RID16 };
	static const uint8_t fzero[] = { 0x00, 1, 0x08, 1, 0x10, 3, RID16 };
	static const uint8_t cut[] = { 0x08, 1, 0x10, 3, 0x1a, 0x10, 1, 2, 3 };
	/* non-minimal varint for the version: valid protobuf, accepted */
	static const uint8_t nonmin[] = { 0x08, 0x81, 0x00, 0x10, 3, RID16 };
	struct eml_wire_hdr h;

	(void)state;
	assert_eml_ok(peek_bytes(good, sizeof(good)));
	assert_eml(peek_bytes(v2, sizeof(v2)), EML_ERR_PROTO_VERSION);
	assert_eml(peek_bytes(v0, sizeof(v0)), EML_ERR_PROTO_VERSION);
	assert_eml(peek_bytes(t0, sizeof(t0)), EML_ERR_PROTO_MSG_TYPE);
	assert_eml(peek_bytes(t13, sizeof(t13)), EML_ERR_PROTO_MSG_TYPE);
	assert_eml(peek_bytes(nrid, sizeof(nrid)), EML_ERR_PROTO_FIELD);
	assert_eml(peek_bytes(rid15, sizeof(rid15)), EML_ERR_PROTO_FIELD);
	assert_eml(peek_bytes(f5, sizeof(f5)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(rep, sizeof(rep)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(blast, sizeof(blast)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(blong, sizeof(blong)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(bshort, sizeof(bshort)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(wt, sizeof(wt)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(vlong, sizeof(vlong)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(vbig, sizeof(vbig)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(fzero, sizeof(fzero)), EML_ERR_PROTO_DECODE);
	assert_eml(peek_bytes(cut, sizeof(cut)), EML_ERR_PROTO_DECODE);
	assert_eml_ok(eml_wire_peek(nonmin, sizeof(nonmin), sizeof(nonmin), &h));
	assert_int_equal(h.type, 3);
	assert_int_equal(h.body_len, 0);
	/* the same cut inside a longer frame is only "need more" */
	assert_eml(eml_wire_peek(cut, sizeof(cut), 100, &h), EML_ERR_PROTO_TRUNCATED);
	/* avail beyond total is a caller error, caught */
	assert_eml(eml_wire_peek(good, sizeof(good), sizeof(good) - 1, &h), EML_ERR_PROTO_DECODE);
	assert_eml(eml_wire_peek(NULL, 1, 1, &h), EML_ERR_NULL);
}

/* A header that does not finish within the peek window is malformed. */
static void
peek_window_is_bounded(void **state)
{
	uint8_t big[EML_WIRE_PEEK_MAX + 64];
	struct eml_wire_hdr h;

	(void)state;
	memset(big, 0x80, sizeof(big)); /* endless varint continuation */
	big[0] = 0x08;
	assert_eml(eml_wire_peek(big, EML_WIRE_PEEK_MAX, 100000, &h), EML_ERR_PROTO_DECODE);
	assert_eml(eml_wire_peek(big, sizeof(big), sizeof(big), &h), EML_ERR_PROTO_DECODE);
}

static void
blob_response_head_decodes(void **state)
{
	static const uint64_t offs[] = { 0, 1, 127, 128, (uint64_t)1 << 40 };
	static const size_t ns[] = { 1, 127, 128, 65536, 4u << 20 };
	uint64_t seed = eml_test_seed();
	uint8_t rid[16];
	uint8_t *data = eml_alloc(4u << 20);
	struct eml_buf frame;

	(void)state;
	assert_non_null(data);
	eml_test_fill(&seed, data, 4u << 20);
	eml_buf_init(&frame, FMAX);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		for (size_t j = 0; j < sizeof(ns) / sizeof(ns[0]); j++) {
			uint8_t head[64];
			size_t hl = 0;
			struct eml_cur in, body;
			struct eml_envelope env;
			ProtobufCMessage *m = NULL;
			Eml__V1__BlobResponse *r;
			uint64_t total = offs[i] + ns[j] + 17;

			eml_test_fill(&seed, rid, sizeof(rid));
			assert_eml_ok(eml_wire_blob_response_head(rid, total, offs[i], ns[j], FMAX,
			    head, sizeof(head), &hl));
			eml_buf_reset(&frame);
			assert_eml_ok(eml_buf_append(&frame, head, hl));
			assert_eml_ok(eml_buf_append(&frame, data, ns[j]));
			in = eml_buf_cur(&frame);
			assert_eml_ok(eml_frame_decode(&in, FMAX, &body));
			assert_int_equal(in.left, 0);
			assert_eml_ok(eml_envelope_unpack(&env, body.p, body.left, FMAX));
			assert_int_equal(env.type, EML_MSG_BLOB_RESPONSE);
			assert_memory_equal(env.request_id, rid, 16);
			assert_eml_ok(eml_msg_unpack(&eml__v1__blob_response__descriptor, env.body,
			    env.body_len, FMAX, &m));
			r = (Eml__V1__BlobResponse *)m;
			assert_int_equal(r->offset, offs[i]);
			assert_int_equal(r->total_size, total);
			assert_int_equal(r->data.len, ns[j]);
			assert_memory_equal(r->data.data, data, ns[j]);
			eml_msg_free(m);
			eml_envelope_clear(&env);
		}
	}
	/* the frame limit applies to what the head announces */
	{
		uint8_t head[64];
		size_t hl;

		assert_eml(eml_wire_blob_response_head(rid, 1u << 20, 0, 1u << 20, 1u << 20, head,
		    sizeof(head), &hl), EML_ERR_PROTO_TOO_LARGE);
		assert_eml(eml_wire_blob_response_head(rid, 10, 0, 10, FMAX, head, 10, &hl),
		    EML_ERR_PROTO_TOO_LARGE);
	}
	eml_buf_free_nowipe(&frame);
	eml_free(data);
}

static void
error_frame_decodes(void **state)
{
	uint8_t rid[16];
	struct eml_buf f;
	struct eml_cur in, body;
	struct eml_envelope env;
	ProtobufCMessage *m = NULL;
	Eml__V1__Error *e;
	char longmsg[600];

	(void)state;
	memset(rid, 7, sizeof(rid));
	memset(longmsg, 'm', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	eml_buf_init(&f, 4096);
	assert_eml_ok(eml_wire_error_frame(rid, EML_ERR_BUSY, NULL, FMAX, &f));
	assert_eml_ok(eml_wire_error_frame(NULL, EML_ERR_NO_AGENT, longmsg, FMAX, &f));
	in = eml_buf_cur(&f);
	for (int k = 0; k < 2; k++) {
		assert_eml_ok(eml_frame_decode(&in, FMAX, &body));
		assert_eml_ok(eml_envelope_unpack(&env, body.p, body.left, FMAX));
		assert_int_equal(env.type, EML_MSG_ERROR);
		assert_eml_ok(eml_msg_unpack(&eml__v1__error__descriptor, env.body, env.body_len,
		    4096, &m));
		e = (Eml__V1__Error *)m;
		assert_eml_ok(eml_msg_error_check(e));
		if (k == 0) {
			assert_memory_equal(env.request_id, rid, 16);
			assert_int_equal(e->code, 701);
			assert_string_equal(e->message, eml_strerror(EML_ERR_BUSY));
		} else {
			assert_int_equal(e->code, 750);
			assert_int_equal(strlen(e->message), 256);
		}
		eml_msg_free(m);
		eml_envelope_clear(&env);
	}
	assert_int_equal(in.left, 0);
	eml_buf_free(&f);
}

/* ClientHello.api_key: what protobuf-c writes with a key is the hello
 * without it, then the key; the proxy forwards exactly the former. */
static void
hello_key_split(void **state)
{
	Eml__V1__ClientHello h = EML__V1__CLIENT_HELLO__INIT;
	uint8_t nonce[32], pk[32];
	static const char key[] = "emlk1.acme-1.0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
	struct eml_buf with, without;
	const uint8_t *k = NULL;
	size_t keep = 0, klen = 0;

	(void)state;
	memset(nonce, 0x11, sizeof(nonce));
	memset(pk, 0x22, sizeof(pk));
	h.nonce.data = nonce;
	h.nonce.len = sizeof(nonce);
	h.client_public_key.data = pk;
	h.client_public_key.len = sizeof(pk);
	h.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM;
	eml_buf_init(&with, 4096);
	eml_buf_init(&without, 4096);
	assert_eml_ok(eml_msg_pack(&h.base, &without));
	h.api_key.data = (uint8_t *)(uintptr_t)key;
	h.api_key.len = sizeof(key) - 1;
	assert_eml_ok(eml_msg_pack(&h.base, &with));
	assert_eml_ok(eml_wire_hello_key(with.data, with.len, 128, &keep, &k, &klen));
	assert_int_equal(keep, without.len);
	assert_memory_equal(with.data, without.data, keep);
	assert_int_equal(klen, sizeof(key) - 1);
	assert_memory_equal(k, key, klen);
	/* no key: everything is kept */
	assert_eml_ok(eml_wire_hello_key(without.data, without.len, 128, &keep, &k, &klen));
	assert_int_equal(keep, without.len);
	assert_null(k);
	assert_int_equal(klen, 0);
	/* a key longer than the limit */
	assert_eml(eml_wire_hello_key(with.data, with.len, 16, &keep, &k, &klen),
	    EML_ERR_PROTO_FIELD);
	/* the key not last: the transcript would not be a prefix */
	{
		uint8_t b[256];
		size_t n = 0;

		b[n++] = 0x22;
		b[n++] = 3;
		memcpy(b + n, "abc", 3);
		n += 3;
		memcpy(b + n, without.data, without.len);
		n += without.len;
		assert_eml(eml_wire_hello_key(b, n, 128, &keep, &k, &klen), EML_ERR_PROTO_DECODE);
	}
	/* a repeated field, an unknown field, a wrong wire type, a cut body */
	{
		static const uint8_t rep[] = { 0x18, 0x01, 0x18, 0x01 };
		static const uint8_t unk[] = { 0x28, 0x01 };
		static const uint8_t wt[] = { 0x08, 0x01 };
		static const uint8_t cut[] = { 0x0a, 0x20, 0x11 };

		assert_eml(eml_wire_hello_key(rep, sizeof(rep), 128, &keep, &k, &klen),
		    EML_ERR_PROTO_DECODE);
		assert_eml(eml_wire_hello_key(unk, sizeof(unk), 128, &keep, &k, &klen),
		    EML_ERR_PROTO_DECODE);
		assert_eml(eml_wire_hello_key(wt, sizeof(wt), 128, &keep, &k, &klen),
		    EML_ERR_PROTO_DECODE);
		assert_eml(eml_wire_hello_key(cut, sizeof(cut), 128, &keep, &k, &klen),
		    EML_ERR_PROTO_DECODE);
	}
	eml_buf_free(&with);
	eml_buf_free(&without);
}

/* Non-canonical envelopes (found by wire_diff_fuzz: protobuf-c took
 * them, the proxy did not): the proxy's peek and the endpoints' full
 * parser both refuse each one as undecodable, and both accept the
 * canonical frame they are made from. */
static void
strict_envelope_agreement(void **state)
{
	static const uint8_t rid[] = { 0x1a, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
		16 };
	struct {
		const char *what;
		uint8_t b[64];
		size_t n;
	} cases[] = {
		{ "repeated version", { 0x08, 1, 0x08, 1, 0x10, 10 }, 6 },
		{ "repeated type", { 0x08, 1, 0x10, 10, 0x10, 11 }, 6 },
		{ "version of 33 bits (1 + 2^32)", { 0x08, 0x81, 0x80, 0x80, 0x80, 0x10, 0x10, 10 }, 8 },
		{ "type of 33 bits (10 + 2^32)", { 0x08, 1, 0x10, 0x8a, 0x80, 0x80, 0x80, 0x10 }, 8 },
		{ "version length-delimited", { 0x0a, 1, 1, 0x10, 10 }, 5 },
		{ "unknown field 5", { 0x08, 1, 0x10, 10, 0x28, 0 }, 6 },
	};
	uint8_t f[96];
	struct eml_wire_hdr h;
	struct eml_envelope env;

	(void)state;
	/* The canonical PING: version, type, request id, no body. */
	memcpy(f, (const uint8_t[]){ 0x08, 1, 0x10, 10 }, 4);
	memcpy(f + 4, rid, sizeof(rid));
	assert_eml_ok(eml_wire_peek(f, 4 + sizeof(rid), 4 + sizeof(rid), &h));
	assert_eml_ok(eml_envelope_unpack(&env, f, 4 + sizeof(rid), FMAX));
	assert_int_equal(env.type, 10);
	eml_envelope_clear(&env);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].n;

		memcpy(f, cases[i].b, n);
		memcpy(f + n, rid, sizeof(rid));
		n += sizeof(rid);
		print_message("%s\n", cases[i].what);
		assert_eml(eml_wire_peek(f, n, n, &h), EML_ERR_PROTO_DECODE);
		assert_eml(eml_envelope_unpack(&env, f, n, FMAX), EML_ERR_PROTO_DECODE);
	}
	/* The request id twice; the body before the request id; a body
	 * that does not end the frame. */
	memcpy(f, (const uint8_t[]){ 0x08, 1, 0x10, 10 }, 4);
	memcpy(f + 4, rid, sizeof(rid));
	memcpy(f + 4 + sizeof(rid), rid, sizeof(rid));
	assert_eml(eml_wire_peek(f, 4 + 2 * sizeof(rid), 4 + 2 * sizeof(rid), &h),
	    EML_ERR_PROTO_DECODE);
	assert_eml(eml_envelope_unpack(&env, f, 4 + 2 * sizeof(rid), FMAX), EML_ERR_PROTO_DECODE);
	memcpy(f, (const uint8_t[]){ 0x08, 1, 0x10, 3, 0x22, 1, 0x55 }, 7);
	memcpy(f + 7, rid, sizeof(rid));
	assert_eml(eml_wire_peek(f, 7 + sizeof(rid), 7 + sizeof(rid), &h), EML_ERR_PROTO_DECODE);
	assert_eml(eml_envelope_unpack(&env, f, 7 + sizeof(rid), FMAX), EML_ERR_PROTO_DECODE);
	memcpy(f, (const uint8_t[]){ 0x08, 1, 0x10, 3 }, 4);
	memcpy(f + 4, rid, sizeof(rid));
	memcpy(f + 4 + sizeof(rid), (const uint8_t[]){ 0x22, 1, 0x55, 0x08, 1 }, 5);
	assert_eml(eml_wire_peek(f, 9 + sizeof(rid), 9 + sizeof(rid), &h), EML_ERR_PROTO_DECODE);
	assert_eml(eml_envelope_unpack(&env, f, 9 + sizeof(rid), FMAX), EML_ERR_PROTO_DECODE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peek_matches_encoder),
		cmocka_unit_test(peek_rejects_malformed),
		cmocka_unit_test(peek_window_is_bounded),
		cmocka_unit_test(blob_response_head_decodes),
		cmocka_unit_test(error_frame_decodes),
		cmocka_unit_test(hello_key_split),
		cmocka_unit_test(strict_envelope_agreement),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
