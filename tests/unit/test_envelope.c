/* Envelope encode/decode/validate and the bounded protobuf-c front end. */
#include "eml_test.h"

#include <stdio.h>
#include <stdlib.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_mem.h"

#define FMAX (1u << 20)

static void
make_env(struct eml_envelope *e, uint32_t type, const uint8_t *body, size_t n)
{
	memset(e, 0, sizeof(*e));
	e->version = EML_PROTO_VERSION;
	e->type = type;
	for (size_t i = 0; i < EML_REQUEST_ID_LEN; i++)
		e->request_id[i] = (uint8_t)(0xa0 + i);
	e->body = body;
	e->body_len = n;
}

/* Known answer written by hand from the protobuf encoding rules, not from
 * the encoder: field 1 varint, field 2 varint, field 3 and 4 length-
 * delimited. */
static void
envelope_known_encoding(void **state)
{
	static const uint8_t body[] = { 0x08, 0x05 }; /* Ping{seq=5} */
	uint8_t want[4 + 18 + 4];
	struct eml_envelope e, d;
	struct eml_buf b;

	(void)state;
	want[0] = 0x08;
	want[1] = 0x01;
	want[2] = 0x10;
	want[3] = 0x0a;
	want[4] = 0x1a;
	want[5] = 0x10;
	for (size_t i = 0; i < 16; i++)
		want[6 + i] = (uint8_t)(0xa0 + i);
	want[22] = 0x22;
	want[23] = 0x02;
	want[24] = 0x08;
	want[25] = 0x05;
	make_env(&e, EML_MSG_PING, body, sizeof(body));
	eml_buf_init(&b, 1024);
	assert_eml_ok(eml_envelope_pack(&e, FMAX, &b));
	assert_int_equal(b.len, sizeof(want));
	assert_memory_equal(b.data, want, sizeof(want));

	assert_eml_ok(eml_envelope_unpack(&d, want, sizeof(want), FMAX));
	assert_int_equal(d.version, 1);
	assert_int_equal(d.type, EML_MSG_PING);
	assert_memory_equal(d.request_id, e.request_id, 16);
	assert_int_equal(d.body_len, 2);
	assert_memory_equal(d.body, body, 2);
	eml_envelope_clear(&d);
	eml_buf_free(&b);
}

static void
envelope_round_trip_every_type(void **state)
{
	uint8_t body[64];
	struct eml_envelope e, d;
	struct eml_buf b;

	(void)state;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	for (uint32_t t = EML_MSG_TYPE_MIN; t <= EML_MSG_TYPE_MAX; t++) {
		size_t n = eml_msg_type_body_max(t, FMAX) < 20 ? 8 : 20;

		make_env(&e, t, body, n);
		e.request_id[0] = (uint8_t)t;
		eml_buf_init(&b, 4096);
		assert_eml_ok(eml_envelope_pack(&e, FMAX, &b));
		assert_eml_ok(eml_envelope_unpack(&d, b.data, b.len, FMAX));
		assert_int_equal(d.type, t);
		assert_int_equal(d.request_id[0], t);
		assert_int_equal(d.body_len, n);
		assert_memory_equal(d.body, body, n);
		assert_string_not_equal(eml_msg_type_name(t), "UNKNOWN");
		eml_envelope_clear(&d);
		eml_buf_free(&b);
	}
	assert_string_equal(eml_msg_type_name(0), "UNKNOWN");
	assert_string_equal(eml_msg_type_name(17), "UNKNOWN");
	assert_true(eml_msg_type_sealed(EML_MSG_INFER_REQUEST));
	assert_false(eml_msg_type_sealed(EML_MSG_BLOB_REQUEST));
	assert_false(eml_msg_type_sealed(99));
}

static void
envelope_rejects_zero_and_oversize(void **state)
{
	uint8_t body[32] = { 1 };
	struct eml_envelope e, d;
	struct eml_buf b;

	(void)state;
	assert_eml(eml_envelope_unpack(&d, body, 0, FMAX), EML_ERR_PROTO_ZERO_LENGTH);
	make_env(&e, EML_MSG_INFER_REQUEST, body, sizeof(body));
	eml_buf_init(&b, 4096);
	assert_eml_ok(eml_envelope_pack(&e, FMAX, &b));
	/* One byte under the encoded size as the frame limit. */
	assert_eml(eml_envelope_unpack(&d, b.data, b.len, b.len - 1), EML_ERR_PROTO_TOO_LARGE);
	assert_eml_ok(eml_envelope_unpack(&d, b.data, b.len, b.len));
	eml_envelope_clear(&d);
	/* And the packer refuses to produce it. */
	eml_buf_reset(&b);
	assert_eml(eml_envelope_pack(&e, 40, &b), EML_ERR_PROTO_TOO_LARGE);
	assert_int_equal(b.len, 0);
	eml_buf_free(&b);
}

/* The head alone, then the body: byte for byte what eml_envelope_pack
 * writes, for bodies whose length takes one, two and three varint bytes
 * and for none. */
static void
envelope_head_then_body(void **state)
{
	static const size_t lens[] = { 0, 16, 127, 128, 300, 16383, 16384, 40000 };
	static uint8_t body[40000];
	struct eml_buf whole, head;

	(void)state;
	for (size_t i = 0; i < sizeof(body); i++)
		body[i] = (uint8_t)(i * 7);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct eml_envelope e;

		make_env(&e, lens[i] == 0 ? EML_MSG_PING : EML_MSG_INFER_REQUEST, body, lens[i]);
		eml_buf_init(&whole, FMAX);
		eml_buf_init(&head, FMAX);
		assert_eml_ok(eml_envelope_pack(&e, FMAX, &whole));
		assert_eml_ok(eml_envelope_pack_head(&e, FMAX, &head));
		assert_int_equal(head.len + lens[i], whole.len);
		assert_memory_equal(head.data, whole.data, head.len);
		assert_memory_equal(whole.data + head.len, body, lens[i]);
		eml_buf_free(&whole);
		eml_buf_free(&head);
	}
	{ /* the same refusals */
		struct eml_envelope e;

		eml_buf_init(&head, FMAX);
		make_env(&e, EML_MSG_CLIENT_HELLO, NULL, 0);
		assert_eml(eml_envelope_pack_head(&e, FMAX, &head), EML_ERR_PROTO_FIELD);
		make_env(&e, EML_MSG_INFER_REQUEST, body, sizeof(body));
		assert_eml(eml_envelope_pack_head(&e, sizeof(body), &head), EML_ERR_PROTO_TOO_LARGE);
		assert_int_equal(head.len, 0);
		eml_buf_free(&head);
	}
}

static void
envelope_rejects_bad_headers(void **state)
{
	static const uint32_t bad_types[] = { 0, 17, 18, 99, 0x7fffffff };
	uint8_t body[32] = { 2 };
	struct eml_envelope e;

	(void)state;
	make_env(&e, EML_MSG_CLIENT_HELLO, body, sizeof(body));
	assert_eml_ok(eml_envelope_validate(&e, FMAX));
	e.version = 0;
	assert_eml(eml_envelope_validate(&e, FMAX), EML_ERR_PROTO_VERSION);
	e.version = 2;
	assert_eml(eml_envelope_validate(&e, FMAX), EML_ERR_PROTO_VERSION);
	e.version = 1;
	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		e.type = bad_types[i];
		assert_eml(eml_envelope_validate(&e, FMAX), EML_ERR_PROTO_MSG_TYPE);
	}
	/* Body required. */
	make_env(&e, EML_MSG_CLIENT_HELLO, NULL, 0);
	assert_eml(eml_envelope_validate(&e, FMAX), EML_ERR_PROTO_FIELD);
	make_env(&e, EML_MSG_ERROR, NULL, 0);
	assert_eml(eml_envelope_validate(&e, FMAX), EML_ERR_PROTO_FIELD);
	/* Optional body. */
	make_env(&e, EML_MSG_PING, NULL, 0);
	assert_eml_ok(eml_envelope_validate(&e, FMAX));
	/* Sealed bodies are at least one tag long: 15 fails, 16 passes. */
	make_env(&e, EML_MSG_CLOSE, body, 15);
	assert_eml(eml_envelope_validate(&e, FMAX), EML_ERR_PROTO_FIELD);
	e.body_len = 16;
	assert_eml_ok(eml_envelope_validate(&e, FMAX));
	/* Per-type limit: PING allows 64 bytes. */
	{
		uint8_t big[65] = { 0 };

		make_env(&e, EML_MSG_PING, big, 64);
		assert_eml_ok(eml_envelope_validate(&e, FMAX));
		e.body_len = 65;
		assert_eml(eml_envelope_validate(&e, FMAX), EML_ERR_PROTO_TOO_LARGE);
	}
	assert_eml(eml_envelope_validate(NULL, FMAX), EML_ERR_NULL);
}

/* Encode a raw Envelope with arbitrary fields through protobuf-c itself so
 * the decoder's checks can be driven with values the packer refuses. */
static size_t
raw_envelope(uint8_t *dst, size_t cap, uint32_t version, int type, size_t rid_len,
    size_t body_len)
{
	Eml__V1__Envelope m = EML__V1__ENVELOPE__INIT;
	static uint8_t rid[64];
	static uint8_t body[4096];
	size_t n;

	m.version = version;
	m.type = (Eml__V1__MsgType)type;
	m.request_id.data = rid;
	m.request_id.len = rid_len;
	m.body.data = body;
	m.body.len = body_len;
	n = eml__v1__envelope__get_packed_size(&m);
	assert_true(n <= cap);
	return eml__v1__envelope__pack(&m, dst);
}

/* eml_envelope_unpack and eml_envelope_view give the same answer; on
 * success the view's body lies in enc, not in a copy. */
static void
unpack_both(const uint8_t *enc, size_t n, eml_err want)
{
	struct eml_envelope d, v;

	assert_eml(eml_envelope_unpack(&d, enc, n, FMAX), want);
	assert_eml(eml_envelope_view(&v, enc, n, FMAX), want);
	if (want == EML_OK) {
		assert_int_equal(v.type, d.type);
		assert_int_equal(v.body_len, d.body_len);
		assert_memory_equal(v.request_id, d.request_id, EML_REQUEST_ID_LEN);
		assert_true(v.body == enc + n - v.body_len);
		assert_memory_equal(v.body, d.body, v.body_len);
	} else {
		assert_null(d.body);
		assert_null(v.body);
	}
	eml_envelope_clear(&d);
	eml_envelope_clear(&v);
}

static void
envelope_unpack_rejects_bad_fields(void **state)
{
	uint8_t enc[8192];
	size_t n;

	(void)state;
	n = raw_envelope(enc, sizeof(enc), 1, EML_MSG_CLIENT_HELLO, 16, 40);
	unpack_both(enc, n, EML_OK);
	static const size_t bad_rid[] = { 0, 1, 15, 17, 32, 64 };
	for (size_t i = 0; i < sizeof(bad_rid) / sizeof(bad_rid[0]); i++) {
		n = raw_envelope(enc, sizeof(enc), 1, EML_MSG_CLIENT_HELLO, bad_rid[i], 40);
		unpack_both(enc, n, EML_ERR_PROTO_FIELD);
	}
	n = raw_envelope(enc, sizeof(enc), 3, EML_MSG_CLIENT_HELLO, 16, 40);
	unpack_both(enc, n, EML_ERR_PROTO_VERSION);
	n = raw_envelope(enc, sizeof(enc), 1, 17, 16, 40);
	unpack_both(enc, n, EML_ERR_PROTO_MSG_TYPE);
	/* -1 is a 10-byte varint: above 32 bits, undecodable (the proxy's
	 * header reader says the same; protobuf-c alone truncated it). */
	n = raw_envelope(enc, sizeof(enc), 1, -1, 16, 40);
	unpack_both(enc, n, EML_ERR_PROTO_DECODE);
	n = raw_envelope(enc, sizeof(enc), 1, EML_MSG_CLIENT_HELLO, 16, 1025);
	unpack_both(enc, n, EML_ERR_PROTO_TOO_LARGE);
}

/* Every proper prefix of an envelope whose type needs a body fails, and
 * appending garbage fails: truncation and trailing bytes never decode into
 * something else silently. */
static void
envelope_truncated_and_trailing(void **state)
{
	uint8_t body[40];
	uint8_t enc[256];
	struct eml_envelope e, d;
	struct eml_buf b;
	eml_err rc;

	(void)state;
	memset(body, 0x5a, sizeof(body));
	make_env(&e, EML_MSG_CLIENT_HELLO, body, sizeof(body));
	eml_buf_init(&b, 1024);
	assert_eml_ok(eml_envelope_pack(&e, FMAX, &b));
	for (size_t cut = 1; cut < b.len; cut++) {
		rc = eml_envelope_unpack(&d, b.data, cut, FMAX);
		if (rc == EML_OK)
			fail_msg("prefix of %zu/%zu bytes decoded", cut, b.len);
	}
	memcpy(enc, b.data, b.len);
	enc[b.len] = 0x00; /* field number 0 is invalid */
	assert_eml(eml_envelope_unpack(&d, enc, b.len + 1, FMAX), EML_ERR_PROTO_DECODE);
	enc[b.len] = 0xff; /* a tag whose varint never ends */
	assert_eml(eml_envelope_unpack(&d, enc, b.len + 1, FMAX), EML_ERR_PROTO_DECODE);
	enc[b.len] = 0x22; /* body field again, length byte missing */
	assert_eml(eml_envelope_unpack(&d, enc, b.len + 1, FMAX), EML_ERR_PROTO_DECODE);
	/* A well-formed field that version 1 does not define (field 5,
	 * varint 1): strict schema, rejected. */
	enc[b.len] = 0x28;
	enc[b.len + 1] = 0x01;
	assert_eml(eml_envelope_unpack(&d, enc, b.len + 2, FMAX), EML_ERR_PROTO_DECODE);
	eml_buf_free(&b);
}

/* A flood of empty submessages is cheap on the wire and expensive to
 * decode; the allocator budget refuses it. */
static void
msg_unpack_budget(void **state)
{
	size_t n = 2 * 200000;
	uint8_t *enc = eml_alloc(n);
	ProtobufCMessage *m = NULL;
	uint8_t small[8] = { 0x0a, 0x00, 0x0a, 0x00 };

	(void)state;
	assert_non_null(enc);
	for (size_t i = 0; i < n; i += 2) {
		enc[i] = 0x0a; /* InferResponse.outputs, empty Tensor */
		enc[i + 1] = 0x00;
	}
	assert_eml(eml_msg_unpack(&eml__v1__infer_response__descriptor, enc, n, n, &m),
	    EML_ERR_PROTO_TOO_LARGE);
	assert_null(m);
	assert_eml(eml_msg_unpack(&eml__v1__infer_response__descriptor, enc, n, n - 1, &m),
	    EML_ERR_PROTO_TOO_LARGE);
	assert_eml_ok(eml_msg_unpack(&eml__v1__infer_response__descriptor, small, 4, 64, &m));
	assert_int_equal(((Eml__V1__InferResponse *)m)->n_outputs, 2);
	eml_msg_free(m);
	eml_free(enc);
}

/* Each allocation inside decode failing in turn: an error, never a crash
 * or leak (ASan checks the leak part). */
static void
unpack_allocation_failures(void **state)
{
	uint8_t body[40] = { 3 };
	struct eml_envelope e, d;
	struct eml_buf b;
	eml_err rc;
	int failures = 0;

	(void)state;
	make_env(&e, EML_MSG_CLIENT_HELLO, body, sizeof(body));
	eml_buf_init(&b, 1024);
	assert_eml_ok(eml_envelope_pack(&e, FMAX, &b));
	for (long k = 1; k < 20; k++) {
		eml_mem_fail_after(k);
		rc = eml_envelope_unpack(&d, b.data, b.len, FMAX);
		eml_mem_fail_after(0);
		if (rc == EML_OK)
			eml_envelope_clear(&d);
		else
			failures++;
	}
	assert_true(failures > 0);
	eml_buf_free(&b);
}

static void
hello_and_friends_checks(void **state)
{
	uint8_t n32[32] = { 1 }, n31[31] = { 1 }, n33[33] = { 1 };
	Eml__V1__ClientHello h = EML__V1__CLIENT_HELLO__INIT;
	Eml__V1__AttestationResponse a = EML__V1__ATTESTATION_RESPONSE__INIT;
	Eml__V1__BlobRequest br = EML__V1__BLOB_REQUEST__INIT;
	Eml__V1__Error er = EML__V1__ERROR__INIT;
	char longmsg[300];

	(void)state;
	h.nonce.data = n32;
	h.nonce.len = 32;
	h.client_public_key.data = n32;
	h.client_public_key.len = 32;
	h.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM;
	assert_eml_ok(eml_msg_client_hello_check(&h));
	h.nonce.data = n31;
	h.nonce.len = 31;
	assert_eml(eml_msg_client_hello_check(&h), EML_ERR_PROTO_FIELD);
	h.nonce.data = n33;
	h.nonce.len = 33;
	assert_eml(eml_msg_client_hello_check(&h), EML_ERR_PROTO_FIELD);
	h.nonce.data = n32;
	h.nonce.len = 32;
	h.client_public_key.len = 0;
	assert_eml(eml_msg_client_hello_check(&h), EML_ERR_PROTO_FIELD);
	h.client_public_key.len = 32;
	h.suite = EML__V1__SUITE__SUITE_UNSPECIFIED;
	assert_eml(eml_msg_client_hello_check(&h), EML_ERR_PROTO_FIELD);
	h.suite = (Eml__V1__Suite)7;
	assert_eml(eml_msg_client_hello_check(&h), EML_ERR_PROTO_FIELD);
	/* the retired ChaCha20-Poly1305 suite: a peer of the old protocol is
	 * refused at the hello, before any key exists */
	h.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_CHACHA20POLY1305;
	assert_eml(eml_msg_client_hello_check(&h), EML_ERR_PROTO_FIELD);

	assert_eml(eml_msg_attestation_response_check(&a), EML_ERR_PROTO_FIELD);
	a.attestation_document.data = n32;
	a.attestation_document.len = 32;
	assert_eml(eml_msg_attestation_response_check(&a), EML_ERR_PROTO_FIELD);
	a.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_CHACHA20POLY1305;
	assert_eml(eml_msg_attestation_response_check(&a), EML_ERR_PROTO_FIELD);
	a.suite = EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM;
	assert_eml_ok(eml_msg_attestation_response_check(&a));

	br.content_id.data = n32;
	br.content_id.len = 32;
	br.offset = 0;
	br.length = 4096;
	assert_eml_ok(eml_msg_blob_request_check(&br, FMAX));
	br.length = 0;
	assert_eml(eml_msg_blob_request_check(&br, FMAX), EML_ERR_PROTO_FIELD);
	br.length = FMAX;
	assert_eml(eml_msg_blob_request_check(&br, FMAX), EML_ERR_PROTO_FIELD);
	br.length = 10;
	br.offset = UINT64_MAX - 5;
	assert_eml(eml_msg_blob_request_check(&br, FMAX), EML_ERR_PROTO_FIELD);
	br.offset = 0;
	br.content_id.len = 31;
	assert_eml(eml_msg_blob_request_check(&br, FMAX), EML_ERR_PROTO_FIELD);

	er.code = 0;
	assert_eml(eml_msg_error_check(&er), EML_ERR_PROTO_FIELD);
	er.code = EML_ERR_PROTO_VERSION;
	er.message = (char *)(uintptr_t)"unsupported version";
	assert_eml_ok(eml_msg_error_check(&er));
	memset(longmsg, 'x', sizeof(longmsg) - 1);
	longmsg[sizeof(longmsg) - 1] = '\0';
	er.message = longmsg;
	assert_eml(eml_msg_error_check(&er), EML_ERR_PROTO_FIELD);
}

/* A sealed application message round-trips through eml_msg_pack/unpack. */
static void
infer_request_round_trip(void **state)
{
	Eml__V1__InferRequest r = EML__V1__INFER_REQUEST__INIT;
	Eml__V1__Tensor t = EML__V1__TENSOR__INIT, *tp = &t;
	uint64_t dims[] = { 1, 3, 2 };
	float data[6] = { 1, 2, 3, 4, 5, 6 };
	uint8_t topo[5] = { 9, 8, 7, 6, 5 };
	ProtobufCMessage *m = NULL;
	Eml__V1__InferRequest *g;
	struct eml_buf b;

	(void)state;
	t.name = (char *)(uintptr_t)"input";
	t.dtype = EML__V1__DTYPE__DTYPE_FLOAT;
	t.n_dims = 3;
	t.dims = dims;
	t.data.data = (uint8_t *)data;
	t.data.len = sizeof(data);
	r.topology_key.data = topo;
	r.topology_key.len = sizeof(topo);
	r.n_inputs = 1;
	r.inputs = &tp;
	eml_buf_init_secure(&b, 4096);
	assert_eml_ok(eml_msg_pack(&r.base, &b));
	assert_eml_ok(eml_msg_unpack(&eml__v1__infer_request__descriptor, b.data, b.len, 4096, &m));
	g = (Eml__V1__InferRequest *)m;
	assert_int_equal(g->n_inputs, 1);
	assert_string_equal(g->inputs[0]->name, "input");
	assert_int_equal(g->inputs[0]->n_dims, 3);
	assert_int_equal(g->inputs[0]->dims[1], 3);
	assert_memory_equal(g->inputs[0]->data.data, data, sizeof(data));
	assert_memory_equal(g->topology_key.data, topo, sizeof(topo));
	eml_msg_free(m);
	/* An unknown field nested inside a Tensor (field 9, varint 1) is
	 * rejected too: InferRequest.inputs is field 2. */
	{
		uint8_t nested[] = { 0x12, 0x04, 0x48, 0x01, 0x10, 0x01 };

		m = NULL;
		assert_eml(eml_msg_unpack(&eml__v1__infer_request__descriptor, nested,
		    sizeof(nested), 4096, &m), EML_ERR_PROTO_DECODE);
		assert_null(m);
		nested[2] = 0x10; /* the same bytes as a known field: accepted */
		assert_eml_ok(eml_msg_unpack(&eml__v1__infer_request__descriptor, nested,
		    sizeof(nested), 4096, &m));
		eml_msg_free(m);
	}
	/* Packing into a buffer whose ceiling is too small fails cleanly. */
	{
		struct eml_buf small;

		eml_buf_init(&small, 8);
		assert_eml(eml_msg_pack(&r.base, &small), EML_ERR_PROTO_TOO_LARGE);
		assert_int_equal(small.len, 0);
		eml_buf_free(&small);
	}
	eml_buf_free(&b);
}

/* Two decodes of InferRequests agree on all but the bytes of the tensors'
 * data and of the signature: the input count, the topology key, the
 * signature's length, and every input's name, type and shape. */
static void
request_heads_equal(const Eml__V1__InferRequest *x, const Eml__V1__InferRequest *y)
{
	assert_int_equal(x->n_inputs, y->n_inputs);
	assert_int_equal(x->topology_key.len, y->topology_key.len);
	if (x->topology_key.len != 0)
		assert_memory_equal(x->topology_key.data, y->topology_key.data, x->topology_key.len);
	assert_int_equal(x->model_signature.len, y->model_signature.len);
	for (size_t i = 0; i < x->n_inputs; i++) {
		assert_string_equal(x->inputs[i]->name, y->inputs[i]->name);
		assert_int_equal(x->inputs[i]->dtype, y->inputs[i]->dtype);
		assert_int_equal(x->inputs[i]->n_dims, y->inputs[i]->n_dims);
		for (size_t k = 0; k < x->inputs[i]->n_dims; k++)
			assert_int_equal(x->inputs[i]->dims[k], y->inputs[i]->dims[k]);
	}
}

/* The view decode agrees with the whole decode: same message apart from
 * the tensors' data, whose bytes the spans give inside p. */
static void
view_agrees(const uint8_t *p, size_t n, size_t data_max, bool inside)
{
	ProtobufCMessage *a = NULL, *b = NULL;
	const Eml__V1__InferRequest *x, *y;
	struct eml_cur d[4];
	eml_err ra, rb;

	ra = eml_msg_unpack(&eml__v1__infer_request__descriptor, p, n, n, &a);
	rb = eml_msg_infer_request_unpack_view(p, n, n, &b, d, data_max);
	assert_int_equal(ra, rb);
	if (ra != EML_OK)
		return;
	x = (const Eml__V1__InferRequest *)a;
	y = (const Eml__V1__InferRequest *)b;
	request_heads_equal(x, y);
	for (size_t i = 0; i < x->n_inputs && i < data_max; i++) {
		assert_int_equal(d[i].left, x->inputs[i]->data.len);
		if (d[i].left != 0)
			assert_memory_equal(d[i].p, x->inputs[i]->data.data, d[i].left);
		/* the engine reads them as typed arrays: never at an address
		 * malloc would not give */
		if (d[i].left != 0)
			assert_int_equal((uintptr_t)d[i].p & 15u, 0);
		if (inside && d[i].left != 0 && d[i].p >= p && d[i].p < p + n) {
			/* not copied: the bytes where they arrived */
			assert_true(d[i].p + d[i].left <= p + n);
			assert_int_equal(y->inputs[i]->data.len, 0);
		}
	}
	eml_msg_free(a);
	eml_msg_free(b);
}

static void
infer_request_view_without_copy(void **state)
{
	Eml__V1__InferRequest r = EML__V1__INFER_REQUEST__INIT;
	Eml__V1__Tensor t[3] = { EML__V1__TENSOR__INIT, EML__V1__TENSOR__INIT,
		EML__V1__TENSOR__INIT };
	Eml__V1__Tensor *tp[3] = { &t[0], &t[1], &t[2] };
	uint64_t dims[2] = { 3, 300 };
	static uint8_t big[3 * 300 * 4], key[200];
	struct eml_buf b;
	/* hand-made: one tensor whose data field comes twice (the last wins),
	 * another with an unknown field 9, a truncated one */
	static const uint8_t twice[] = { 0x12, 0x0c, 0x0a, 0x01, 'x', 0x22, 0x02, 'a', 'b', 0x22,
		0x03, 'c', 'd', 'e' };
	static const uint8_t unknown[] = { 0x12, 0x05, 0x0a, 0x01, 'x', 0x48, 0x01 };
	static const uint8_t cut[] = { 0x12, 0x0c, 0x0a, 0x01, 'x', 0x22, 0x09, 'a' };
	uint64_t st = 5;

	(void)state;
	eml_test_fill(&st, big, sizeof(big));
	eml_test_fill(&st, key, sizeof(key));
	for (int i = 0; i < 3; i++) {
		t[i].name = (char *)(uintptr_t)(i == 0 ? "x" : i == 1 ? "mask" : "y");
		t[i].dtype = EML__V1__DTYPE__DTYPE_FLOAT;
		t[i].n_dims = 2;
		t[i].dims = dims;
	}
	t[0].data.data = big;
	t[0].data.len = sizeof(big);
	t[2].data.data = big + 8;
	t[2].data.len = 160 * 1; /* need not match the shape here */
	r.topology_key.data = key;
	r.topology_key.len = sizeof(key);
	r.inputs = tp;
	for (size_t ni = 0; ni <= 3; ni++) {
		r.n_inputs = ni;
		eml_buf_init(&b, 1 << 20);
		assert_eml_ok(eml_msg_pack(&r.base, &b));
		view_agrees(b.data, b.len, 4, true);
		view_agrees(b.data, b.len, 1, ni <= 1); /* more inputs than room: whole */
		/* every truncation decodes or fails the same way */
		for (size_t cutn = 0; cutn < b.len; cutn += 97)
			view_agrees(b.data, cutn, 4, true);
		eml_buf_free(&b);
	}
	view_agrees(twice, sizeof(twice), 4, true);
	view_agrees(unknown, sizeof(unknown), 4, true);
	view_agrees(cut, sizeof(cut), 4, true);
	{
		ProtobufCMessage *m = NULL;
		struct eml_cur d[4];

		assert_eml(eml_msg_infer_request_unpack_view(unknown, sizeof(unknown),
		    sizeof(unknown), &m, d, 4), EML_ERR_PROTO_DECODE);
		assert_eml_ok(eml_msg_infer_request_unpack_view(twice, sizeof(twice),
		    sizeof(twice), &m, d, 4));
		assert_int_equal(d[0].left, 3);
		assert_memory_equal(d[0].p, "cde", 3);
		eml_msg_free(m);
	}
}

/* Two decodes of InferRequests agree field by field, data included. */
static void
requests_equal(const Eml__V1__InferRequest *x, const Eml__V1__InferRequest *y)
{
	request_heads_equal(x, y);
	if (x->model_signature.len != 0)
		assert_memory_equal(x->model_signature.data, y->model_signature.data,
		    x->model_signature.len);
	for (size_t i = 0; i < x->n_inputs; i++) {
		assert_int_equal(x->inputs[i]->data.len, y->inputs[i]->data.len);
		if (x->inputs[i]->data.len != 0)
			assert_memory_equal(x->inputs[i]->data.data, y->inputs[i]->data.data,
			    x->inputs[i]->data.len);
	}
}

/* eml_msg_infer_request_pack_gather: out's bytes with each gathered
 * tensor's data put back at its offset are pack_aligned's bytes (whole),
 * for every threshold and number of entries; the data is not in out. */
static void
gather_agrees(const Eml__V1__InferRequest *r, size_t base, const struct eml_buf *whole)
{
	static const size_t mins[] = { 0, 5, 78, 1001, 5000 };

	for (size_t mi = 0; mi < sizeof(mins) / sizeof(mins[0]); mi++)
		for (size_t cap = 0; cap <= 4; cap++) {
			struct eml_msg_gather g[4];
			struct eml_buf o, joined;
			size_t n_g = 99, in = 0, ext = 0, want = 0;

			for (size_t i = 0; i < r->n_inputs; i++)
				if (r->inputs[i]->data.len != 0 && r->inputs[i]->data.len >= mins[mi])
					want++;
			want = want < cap ? want : cap;
			eml_buf_init(&o, 1 << 20);
			eml_buf_init(&joined, 1 << 20);
			assert_eml_ok(eml_msg_infer_request_pack_gather(r, base, mins[mi], &o,
			    cap != 0 ? g : NULL, cap, &n_g));
			assert_int_equal(n_g, want);
			for (size_t i = 0; i < n_g; i++) {
				assert_true(g[i].at >= in && g[i].at <= o.len);
				assert_eml_ok(eml_buf_append(&joined, o.data + in, g[i].at - in));
				assert_eml_ok(eml_buf_append(&joined, g[i].p, g[i].len));
				in = g[i].at;
				ext += g[i].len;
			}
			assert_eml_ok(eml_buf_append(&joined, o.data + in, o.len - in));
			assert_int_equal(o.len + ext, whole->len);
			assert_int_equal(joined.len, whole->len);
			assert_memory_equal(joined.data, whole->data, whole->len);
			eml_buf_free(&o);
			eml_buf_free(&joined);
		}
}

/* eml_msg_infer_request_pack_aligned: the message protobuf-c's packing
 * gives, with every tensor's data at a multiple of 16 from the frame start
 * whatever the offset the message starts at, so the view takes it in place
 * (a scalar tensor may not be). */
static void
infer_request_pack_aligned(void **state)
{
	Eml__V1__InferRequest r = EML__V1__INFER_REQUEST__INIT;
	Eml__V1__Tensor t[4] = { EML__V1__TENSOR__INIT, EML__V1__TENSOR__INIT,
		EML__V1__TENSOR__INIT, EML__V1__TENSOR__INIT };
	Eml__V1__Tensor *tp[4] = { &t[0], &t[1], &t[2], &t[3] };
	uint64_t d1[1] = { 77 }, d2[2] = { 3, 300 }, d3[3] = { 1, 200, 1ull << 40 };
	static uint8_t big[3 * 300 * 4 + 40], key[333], sig[41];
	uint64_t st = 9;
	size_t in_place = 0, with_data = 0;

	(void)state;
	eml_test_fill(&st, big, sizeof(big));
	eml_test_fill(&st, key, sizeof(key));
	eml_test_fill(&st, sig, sizeof(sig));
	t[0].name = (char *)(uintptr_t)"x";
	t[0].dtype = EML__V1__DTYPE__DTYPE_FLOAT;
	t[0].n_dims = 2;
	t[0].dims = d2;
	t[0].data.data = big;
	t[0].data.len = 3 * 300 * 4;
	t[1].name = (char *)(uintptr_t)"a_longer_input_name";
	t[1].dtype = EML__V1__DTYPE__DTYPE_FLOAT;
	t[1].n_dims = 1;
	t[1].dims = d1;
	t[1].data.data = big + 3;
	t[1].data.len = 77;
	t[2].name = (char *)(uintptr_t)"s"; /* a scalar: no dims to pad with */
	t[2].dtype = EML__V1__DTYPE__DTYPE_FLOAT;
	t[2].data.data = big + 5;
	t[2].data.len = 4;
	t[3].name = (char *)(uintptr_t)"three";
	t[3].dtype = EML__V1__DTYPE__DTYPE_FLOAT;
	t[3].n_dims = 3;
	t[3].dims = d3;
	t[3].data.data = big + 11;
	t[3].data.len = 1001;
	r.inputs = tp;
	for (size_t ni = 1; ni <= 4; ni++)
		for (size_t klen = 0; klen <= sizeof(key); klen += 111)
			for (size_t base = 0; base < 40; base++) {
				struct eml_buf a, b;
				ProtobufCMessage *ma = NULL, *mb = NULL, *mv = NULL;
				struct eml_cur d[4];
				uint8_t *fr;

				r.n_inputs = ni;
				r.topology_key.data = key;
				r.topology_key.len = klen;
				r.model_signature.data = sig;
				r.model_signature.len = base % 2 ? sizeof(sig) : 0;
				eml_buf_init(&a, 1 << 20);
				eml_buf_init(&b, 1 << 20);
				assert_eml_ok(eml_msg_pack(&r.base, &a));
				assert_eml_ok(eml_msg_infer_request_pack_aligned(&r, base, &b));
				/* a frame buffer as the agent has it: malloc-aligned,
				 * the message at base */
				fr = eml_alloc(base + b.len);
				assert_non_null(fr);
				assert_int_equal((uintptr_t)fr & 15u, 0);
				memcpy(fr + base, b.data, b.len);
				assert_eml_ok(eml_msg_unpack(&eml__v1__infer_request__descriptor,
				    a.data, a.len, a.len, &ma));
				assert_eml_ok(eml_msg_unpack(&eml__v1__infer_request__descriptor,
				    fr + base, b.len, b.len, &mb));
				requests_equal((const Eml__V1__InferRequest *)ma,
				    (const Eml__V1__InferRequest *)mb);
				view_agrees(fr + base, b.len, 4, true);
				assert_eml_ok(eml_msg_infer_request_unpack_view(fr + base, b.len,
				    b.len, &mv, d, 4));
				for (size_t i = 0; i < ni; i++) {
					bool inside = d[i].p >= fr + base && d[i].p < fr + base + b.len;

					assert_int_equal((uintptr_t)d[i].p & 15u, 0);
					with_data++;
					in_place += inside;
					/* only a scalar may miss (and then all go whole) */
					if (!inside)
						assert_true(ni >= 3);
				}
				gather_agrees(&r, base, &b);
				eml_msg_free(ma);
				eml_msg_free(mb);
				eml_msg_free(mv);
				eml_free(fr);
				eml_buf_free(&a);
				eml_buf_free(&b);
			}
	/* the scalar misses about half the time, and then takes the others
	 * with it; everything else is in place */
	assert_true(in_place > with_data / 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(envelope_known_encoding),
		cmocka_unit_test(envelope_round_trip_every_type),
		cmocka_unit_test(envelope_head_then_body),
		cmocka_unit_test(envelope_rejects_zero_and_oversize),
		cmocka_unit_test(envelope_rejects_bad_headers),
		cmocka_unit_test(envelope_unpack_rejects_bad_fields),
		cmocka_unit_test(envelope_truncated_and_trailing),
		cmocka_unit_test(msg_unpack_budget),
		cmocka_unit_test(unpack_allocation_failures),
		cmocka_unit_test(hello_and_friends_checks),
		cmocka_unit_test(infer_request_round_trip),
		cmocka_unit_test(infer_request_view_without_copy),
		cmocka_unit_test(infer_request_pack_aligned),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("envelope", tests, NULL, NULL);
}
