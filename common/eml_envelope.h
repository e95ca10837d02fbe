/*
 * The protocol Envelope (DESIGN §4, docs/PROTOCOL.md) and a bounded
 * protobuf-c front end for every message of proto/eml.proto.
 *
 * Decoding is fail-closed: eml_envelope_unpack checks the size before
 * protobuf-c sees a byte, decodes with an allocator that is routed through
 * eml_alloc and capped at a small multiple of the input size (so a frame of
 * tiny repeated submessages cannot blow up memory), and then validates the
 * result. There is no way to obtain an unvalidated envelope.
 */
#ifndef EML_ENVELOPE_H
#define EML_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "eml_buf.h"
#include "eml_err.h"
#include "proto/eml.pb-c.h"

#define EML_PROTO_VERSION 1u
#define EML_REQUEST_ID_LEN 16u
#define EML_HELLO_NONCE_LEN 32u
#define EML_X25519_KEY_LEN 32u
#define EML_CONTENT_ID_LEN 32u
#define EML_ERROR_MSG_MAX 256u

/* Message types; the same numbers as eml.v1.MsgType (checked at compile
 * time in eml_envelope.c). */
enum eml_msg_type {
	EML_MSG_CLIENT_HELLO = 1,
	EML_MSG_ATTESTATION_RESPONSE = 2,
	EML_MSG_INFER_REQUEST = 3,
	EML_MSG_INFER_RESPONSE = 4,
	EML_MSG_EVIDENCE_REQUEST = 5,
	EML_MSG_EVIDENCE_RESPONSE = 6,
	EML_MSG_CLOSE = 7,
	EML_MSG_BLOB_REQUEST = 8,
	EML_MSG_BLOB_RESPONSE = 9,
	EML_MSG_PING = 10,
	EML_MSG_PONG = 11,
	EML_MSG_ERROR = 12,
	EML_MSG_JOB_KEY_REQUEST = 13,
	EML_MSG_JOB_KEY_RESPONSE = 14,
	EML_MSG_JOB_RUN = 15,
	EML_MSG_JOB_DONE = 16,
};
#define EML_MSG_TYPE_MIN 1u
#define EML_MSG_TYPE_MAX 16u

/*
 * A decoded or to-be-encoded envelope. For pack, body points to caller
 * memory. After eml_envelope_unpack, body points into memory owned by the
 * envelope (released by eml_envelope_clear).
 */
struct eml_envelope {
	uint32_t version;
	uint32_t type; /* enum eml_msg_type */
	uint8_t request_id[EML_REQUEST_ID_LEN];
	const uint8_t *body;
	size_t body_len;
	void *owned_; /* private: the protobuf-c message after unpack */
};

/* Name for logs ("CLIENT_HELLO"), "UNKNOWN" for anything else. */
const char *eml_msg_type_name(uint32_t type);
/* Whether the body of this type is AEAD ciphertext (DESIGN §4). */
bool eml_msg_type_sealed(uint32_t type);
/* Largest body allowed for the type given the frame limit frame_max
 * (0 for unknown types). */
size_t eml_msg_type_body_max(uint32_t type, size_t frame_max);

/*
 * Check an envelope against the rules of docs/PROTOCOL.md §2: version 1,
 * a known type, body present when the type requires one, body no larger
 * than the type's limit under frame_max. The request id is a fixed array
 * here, so its length is checked at decode time.
 * Returns EML_OK, EML_ERR_PROTO_VERSION, EML_ERR_PROTO_MSG_TYPE,
 * EML_ERR_PROTO_FIELD (body missing), EML_ERR_PROTO_TOO_LARGE, EML_ERR_NULL.
 */
eml_err eml_envelope_validate(const struct eml_envelope *env, size_t frame_max) EML_MUST_USE;

/*
 * Validate env and append its encoding to out (no frame header).
 * Fails with the errors of eml_envelope_validate, EML_ERR_PROTO_TOO_LARGE
 * when out's ceiling or frame_max would be passed, EML_ERR_NOMEM. On
 * failure out->len is unchanged.
 */
eml_err eml_envelope_pack(const struct eml_envelope *env, size_t frame_max,
    struct eml_buf *out) EML_MUST_USE;

/*
 * The same encoding without the body's bytes: what eml_envelope_pack
 * appends up to where env->body would be copied (the body is the last
 * field, so head || body is the whole envelope). For sending a large body
 * from where it lies (eml_frame_write2) instead of copying it. Same errors.
 */
eml_err eml_envelope_pack_head(const struct eml_envelope *env, size_t frame_max,
    struct eml_buf *out) EML_MUST_USE;

/*
 * Decode and validate n bytes (one frame body). n == 0 is
 * EML_ERR_PROTO_ZERO_LENGTH and n > frame_max EML_ERR_PROTO_TOO_LARGE,
 * both before any decoding; EML_ERR_PROTO_DECODE for bytes that are not an
 * Envelope, EML_ERR_PROTO_FIELD for a request id that is not 16 bytes,
 * then the errors of eml_envelope_validate. *env is overwritten; on success
 * the caller must eml_envelope_clear it, on failure it is left cleared.
 */
eml_err eml_envelope_unpack(struct eml_envelope *env, const uint8_t *p, size_t n,
    size_t frame_max) EML_MUST_USE;
/* Release what unpack allocated and zero *env. Safe on a zeroed envelope. */
/*
 * The same decoding and checks as eml_envelope_unpack, without a copy:
 * body (and nothing else) points into p, which must outlive the envelope
 * and not change under it. For frames of the size of a request (a second
 * copy of 32 MiB costs more than the rest of the relay). eml_envelope_clear
 * is harmless on it.
 */
eml_err eml_envelope_view(struct eml_envelope *env, const uint8_t *p, size_t n,
    size_t frame_max) EML_MUST_USE;
void eml_envelope_clear(struct eml_envelope *env);

/*
 * Any message of eml.proto through the same bounded allocator. *out is
 * owned by the caller and released with eml_msg_free. Returns EML_OK,
 * EML_ERR_PROTO_TOO_LARGE (n > max, or the decoded form above the memory
 * budget), EML_ERR_PROTO_DECODE (malformed, or a field number the schema
 * does not define, at any nesting depth), EML_ERR_NULL.
 * An empty input decodes to the default message (all fields zero).
 */
eml_err eml_msg_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p,
    size_t n, size_t max, ProtobufCMessage **out) EML_MUST_USE;
/*
 * InferRequest without a copy of the tensor bytes: the message is decoded
 * (eml_msg_unpack, same rules and errors) from a lean re-encoding of p in
 * which every inputs[i].data field is left out, and data[i] points at
 * input i's bytes inside p (the last occurrence of the field, as protobuf
 * takes it; {NULL, 0} when absent). In the message, inputs[i]->data is
 * empty. When p's wire form cannot be walked (malformed, groups, more than
 * data_max inputs, a tensor's bytes not 16-aligned, as malloc would give
 * them), p is unpacked whole instead and data[i] points into
 * the message: the caller sees the same result either way. p must outlive
 * the use of data[].
 */
eml_err eml_msg_infer_request_unpack_view(const uint8_t *p, size_t n, size_t max,
    ProtobufCMessage **out, struct eml_cur *data, size_t data_max) EML_MUST_USE;
void eml_msg_free(ProtobufCMessage *msg);
/*
 * Append r's encoding with every input's data at a frame offset that is a
 * multiple of 16, base being the frame offset of the first byte written
 * (the envelope head's length when the message is a frame's whole body,
 * as a sealed one is: ciphertext and plaintext share offsets), so that
 * the agent's frame buffer (malloc-aligned) holds the bytes where
 * eml_msg_infer_request_unpack_view takes them without a copy. The same
 * message as eml_msg_pack gives, in standard proto3 forms only: a tensor's
 * dims may be written as several packed runs (some empty) and the first
 * unpacked. A scalar tensor at an odd offset keeps protobuf-c's form.
 * Errors as eml_msg_pack.
 */
eml_err eml_msg_infer_request_pack_aligned(const Eml__V1__InferRequest *r, size_t base,
    struct eml_buf *out) EML_MUST_USE;
/*
 * The same encoding, less the data of the first cap input tensors of at
 * least min bytes (min 0: any but empty ones): their field key and length
 * are in out, their bytes are not; g[i] says where they go (at: the offset
 * in the bytes appended to out before which g[i].p's g[i].len bytes come;
 * ascending). The message is out's appended bytes with each g[i]'s inserted
 * at its offset; *n_g entries used (0: out holds it whole, as
 * eml_msg_infer_request_pack_aligned gives). The sender seals straight
 * from the caller's tensors (libeml's large requests): no copy.
 */
struct eml_msg_gather {
	size_t at;
	const uint8_t *p;
	size_t len;
};
eml_err eml_msg_infer_request_pack_gather(const Eml__V1__InferRequest *r, size_t base, size_t min,
    struct eml_buf *out, struct eml_msg_gather *g, size_t cap, size_t *n_g) EML_MUST_USE;
/* Append the encoding of msg to out. EML_ERR_PROTO_TOO_LARGE past out's
 * ceiling, EML_ERR_NOMEM. On failure out->len is unchanged. */
eml_err eml_msg_pack(const ProtobufCMessage *msg, struct eml_buf *out) EML_MUST_USE;

/*
 * Field checks for the plain messages (docs/PROTOCOL.md §3). Each returns
 * EML_OK or EML_ERR_PROTO_FIELD with a detail naming the field.
 */
eml_err eml_msg_client_hello_check(const Eml__V1__ClientHello *m) EML_MUST_USE;
eml_err eml_msg_attestation_response_check(const Eml__V1__AttestationResponse *m) EML_MUST_USE;
eml_err eml_msg_blob_request_check(const Eml__V1__BlobRequest *m, size_t frame_max) EML_MUST_USE;
eml_err eml_msg_error_check(const Eml__V1__Error *m) EML_MUST_USE;

#endif
