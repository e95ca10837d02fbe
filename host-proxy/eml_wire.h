/*
 * What the proxy reads of the wire, and the few frames it writes itself.
 *
 * The proxy streams frame bodies through a small window instead of holding
 * whole frames, so it cannot hand a frame to protobuf-c. eml_wire_peek
 * reads only the Envelope header fields (version, type, request id) and the
 * position and length of the body from the first bytes of a frame, with
 * the strict rules below, and never looks into the body. It parses
 * untrusted bytes: see tests/fuzz/proxy_wire_fuzz.c.
 *
 * Envelope wire rules enforced here (proto/eml.proto, protobuf encoding):
 * - fields 1 version (varint), 2 type (varint), 3 request_id (bytes, 16),
 *   4 body (bytes), each at most once; any other field or wire type is an
 *   error (the protocol is versioned: unknown fields are not skipped);
 * - the body, when present, is the last field and ends exactly at the end
 *   of the frame, which is how every encoder of this project writes it;
 * - version 1, a known type, a request id present.
 */
#ifndef EML_WIRE_H
#define EML_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_err.h"

/* The header fields always fit in this many leading bytes of an envelope
 * (2 varints, 18 bytes of request id, a tag and a length, with room for
 * non-minimal varints); frames up to this size are held whole, which
 * covers every BLOB_REQUEST, PING, PONG and ERROR frame. */
#define EML_WIRE_PEEK_MAX 1024u

struct eml_wire_hdr {
	uint32_t version;
	uint32_t type;
	uint8_t request_id[EML_REQUEST_ID_LEN];
	size_t body_off; /* where the body bytes start in the envelope */
	size_t body_len; /* body_off + body_len == total */
};

/*
 * Parse the header of an envelope of `total` bytes from its first `avail`
 * bytes (avail <= total). Returns EML_OK once every header field and the
 * body's tag and length have been read; EML_ERR_PROTO_TRUNCATED when avail
 * is too short and more bytes would tell (never when avail == total or
 * avail >= EML_WIRE_PEEK_MAX); EML_ERR_PROTO_DECODE (bad varint, unknown
 * field, repeated field, body not last, lengths that do not add up);
 * EML_ERR_PROTO_VERSION; EML_ERR_PROTO_MSG_TYPE; EML_ERR_PROTO_FIELD
 * (request id missing or not 16 bytes); EML_ERR_NULL.
 */
eml_err eml_wire_peek(const uint8_t *p, size_t avail, size_t total,
    struct eml_wire_hdr *h) EML_MUST_USE;

/*
 * The bytes of a BLOB_RESPONSE frame that come before its n data bytes:
 * frame length, Envelope header, body tag and length, then BlobResponse
 * total_size, offset and the data field's tag and length (the data field
 * is written last so that the blob bytes can be streamed straight from
 * disk after this head). out holds cap bytes (64 is always enough); *len
 * receives the head length. Returns EML_OK, EML_ERR_PROTO_TOO_LARGE when
 * the frame would exceed frame_max, EML_ERR_NULL.
 */
eml_err eml_wire_blob_response_head(const uint8_t rid[EML_REQUEST_ID_LEN], uint64_t total_size,
    uint64_t offset, size_t n, size_t frame_max, uint8_t *out, size_t cap,
    size_t *len) EML_MUST_USE;

/*
 * A whole ERROR frame (length + Envelope{ERROR, Error{code, msg}}) appended
 * to out, with request id rid (zeros when NULL). msg is cut to 256 bytes.
 * Errors of eml_envelope_pack / eml_frame_encode.
 */
eml_err eml_wire_error_frame(const uint8_t *rid, eml_err code, const char *msg,
    size_t frame_max, struct eml_buf *out) EML_MUST_USE;

/*
 * The API key a client puts in its CLIENT_HELLO body for the proxy
 * (ClientHello field 4, docs/PROXY.md "API keys"). The key is outside the
 * handshake transcript: the client hashes the hello without it and sends
 * it as the last field, and the proxy forwards only the bytes before it,
 * so the agent never sees a key. Walks the body's fields (nonce 1,
 * public key 2, suite 3, api_key 4; each at most once, with its wire
 * type); *keep receives the length to forward, *key / *key_len the key
 * (NULL / 0 without one). EML_ERR_PROTO_DECODE for a malformed body or a
 * key that is not the last field, EML_ERR_PROTO_FIELD for a key longer
 * than key_max, EML_ERR_NULL.
 */
eml_err eml_wire_hello_key(const uint8_t *body, size_t n, size_t key_max, size_t *keep,
    const uint8_t **key, size_t *key_len) EML_MUST_USE;

#endif
