/* Target: eml_frame_decode, eml_envelope_unpack and eml_envelope_view
 * (which must agree exactly), eml_msg_unpack (every
 * plain body type) and the field checks; round-trip invariant through
 * eml_envelope_pack.
 *
 * The input is a byte stream as it arrives on a connection: frames are
 * taken one after another until the stream is used up or a frame fails.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_frame.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

/* Small so the fuzzer reaches the limits quickly. */
#define FUZZ_FRAME_MAX ((size_t)1 << 16)

static const ProtobufCMessageDescriptor *
plain_descriptor(uint32_t type)
{
	switch (type) {
	case EML_MSG_CLIENT_HELLO:
		return &eml__v1__client_hello__descriptor;
	case EML_MSG_ATTESTATION_RESPONSE:
		return &eml__v1__attestation_response__descriptor;
	case EML_MSG_BLOB_REQUEST:
		return &eml__v1__blob_request__descriptor;
	case EML_MSG_BLOB_RESPONSE:
		return &eml__v1__blob_response__descriptor;
	case EML_MSG_PING:
		return &eml__v1__ping__descriptor;
	case EML_MSG_PONG:
		return &eml__v1__pong__descriptor;
	case EML_MSG_ERROR:
		return &eml__v1__error__descriptor;
	/* Sealed bodies are ciphertext on the wire; after opening they are
	 * protobuf too, so decode them as their inner message to fuzz that
	 * decoder with the same bytes. */
	case EML_MSG_INFER_REQUEST:
		return &eml__v1__infer_request__descriptor;
	case EML_MSG_INFER_RESPONSE:
		return &eml__v1__infer_response__descriptor;
	case EML_MSG_EVIDENCE_REQUEST:
		return &eml__v1__evidence_request__descriptor;
	case EML_MSG_EVIDENCE_RESPONSE:
		return &eml__v1__evidence_response__descriptor;
	case EML_MSG_CLOSE:
		return &eml__v1__close__descriptor;
	default:
		return NULL;
	}
}

static void
check_body(const struct eml_envelope *env)
{
	const ProtobufCMessageDescriptor *d = plain_descriptor(env->type);
	ProtobufCMessage *m = NULL;
	eml_err rc;

	if (d == NULL)
		abort(); /* validate let an unknown type through */
	if (eml_msg_unpack(d, env->body, env->body_len, FUZZ_FRAME_MAX, &m) != EML_OK)
		return;
	switch (env->type) {
	case EML_MSG_CLIENT_HELLO:
		rc = eml_msg_client_hello_check((const Eml__V1__ClientHello *)m);
		break;
	case EML_MSG_ATTESTATION_RESPONSE:
		rc = eml_msg_attestation_response_check((const Eml__V1__AttestationResponse *)m);
		break;
	case EML_MSG_BLOB_REQUEST:
		rc = eml_msg_blob_request_check((const Eml__V1__BlobRequest *)m, FUZZ_FRAME_MAX);
		break;
	case EML_MSG_ERROR:
		rc = eml_msg_error_check((const Eml__V1__Error *)m);
		break;
	default:
		rc = EML_OK;
		break;
	}
	(void)rc;
	eml_msg_free(m);
}

/* pack(unpack(x)) must unpack to the same envelope. */
static void
check_round_trip(const struct eml_envelope *env)
{
	struct eml_envelope again;
	struct eml_buf b;

	eml_buf_init(&b, FUZZ_FRAME_MAX);
	if (eml_envelope_pack(env, FUZZ_FRAME_MAX, &b) != EML_OK)
		abort();
	if (eml_envelope_unpack(&again, b.data, b.len, FUZZ_FRAME_MAX) != EML_OK)
		abort();
	if (again.version != env->version || again.type != env->type ||
	    memcmp(again.request_id, env->request_id, EML_REQUEST_ID_LEN) != 0 ||
	    again.body_len != env->body_len ||
	    (env->body_len != 0 && memcmp(again.body, env->body, env->body_len) != 0))
		abort();
	eml_envelope_clear(&again);
	eml_buf_free(&b);
}

/* The in-place reading accepts exactly what the copying one does, with
 * the same fields; unpacked is the copy's result (rc, env). */
static void
check_view(const struct eml_cur *body, eml_err rc, const struct eml_envelope *env)
{
	struct eml_envelope v;
	eml_err vrc = eml_envelope_view(&v, body->p, body->left, FUZZ_FRAME_MAX);

	if ((vrc == EML_OK) != (rc == EML_OK))
		abort();
	if (rc != EML_OK)
		return;
	if (v.version != env->version || v.type != env->type ||
	    memcmp(v.request_id, env->request_id, EML_REQUEST_ID_LEN) != 0 ||
	    v.body_len != env->body_len ||
	    (v.body_len != 0 && (v.body < body->p || v.body + v.body_len != body->p + body->left ||
	    memcmp(v.body, env->body, v.body_len) != 0)))
		abort();
	eml_envelope_clear(&v);
}

EML_FUZZ_TARGET(NULL)
{
	struct eml_cur in = eml_cur_make(data, size);
	struct eml_cur body, before;
	struct eml_envelope env;

	while (in.left > 0) {
		before = in;
		if (eml_frame_decode(&in, FUZZ_FRAME_MAX, &body) != EML_OK) {
			/* All-or-nothing: a failed decode moved nothing. */
			if (in.p != before.p || in.left != before.left)
				abort();
			break;
		}
		if (body.left == 0 || body.left > FUZZ_FRAME_MAX)
			abort();
		{
			eml_err rc = eml_envelope_unpack(&env, body.p, body.left, FUZZ_FRAME_MAX);

			check_view(&body, rc, &env);
			if (rc != EML_OK)
				continue;
		}
		if (env.version != EML_PROTO_VERSION || env.type < EML_MSG_TYPE_MIN ||
		    env.type > EML_MSG_TYPE_MAX)
			abort();
		check_body(&env);
		check_round_trip(&env);
		eml_envelope_clear(&env);
	}
	return 0;
}
