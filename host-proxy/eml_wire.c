#include "eml_wire.h"

#include <stdio.h>
#include <string.h>

#include "eml_frame.h"
#include "eml_varint.h"

/* Protobuf wire types. */
#define WT_VARINT 0u
#define WT_LEN 2u

/* A base-128 varint of at most 10 bytes. EML_ERR_PROTO_TRUNCATED when the
 * cursor ends inside it; the cursor moves only on success. */
static eml_err
read_varint(struct eml_cur *c, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 10; i++) {
		uint8_t b;

		if (i >= c->left)
			return EML_ERR_PROTO_TRUNCATED;
		b = c->p[i];
		/* the 10th byte may only carry the top bit of a 64-bit value */
		if (i == 9 && b > 1)
			EML_BAIL(EML_ERR_PROTO_DECODE);
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			EML_GUARD(eml_cur_skip(c, i + 1));
			*out = v;
			return EML_OK;
		}
	}
	EML_BAIL(EML_ERR_PROTO_DECODE);
}

/* What the envelope so far must satisfy once its header is complete. */
static eml_err
check_header(const struct eml_wire_hdr *h, bool have_rid)
{
	if (h->version != EML_PROTO_VERSION) {
		eml_err_set_detail("envelope version %u", h->version);
		EML_BAIL(EML_ERR_PROTO_VERSION);
	}
	if (h->type < EML_MSG_TYPE_MIN || h->type > EML_MSG_TYPE_MAX) {
		eml_err_set_detail("envelope type %u", h->type);
		EML_BAIL(EML_ERR_PROTO_MSG_TYPE);
	}
	if (!have_rid) {
		eml_err_set_detail("envelope without a request id");
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	return EML_OK;
}

eml_err
eml_wire_peek(const uint8_t *p, size_t avail, size_t total, struct eml_wire_hdr *h)
{
	struct eml_cur c;
	bool seen[5] = { false, false, false, false, false };
	/* Bytes beyond the window never matter: past it the header must be
	 * complete, or the frame is malformed. */
	bool can_grow = avail < total && avail < EML_WIRE_PEEK_MAX;

	EML_ENSURE(h != NULL && (p != NULL || avail == 0), EML_ERR_NULL);
	EML_ENSURE(avail <= total, EML_ERR_PROTO_DECODE);
	memset(h, 0, sizeof(*h));
	c = eml_cur_make(p, avail < EML_WIRE_PEEK_MAX ? avail : EML_WIRE_PEEK_MAX);
	for (;;) {
		size_t consumed = (size_t)(c.p - p);
		uint64_t key, v;
		uint32_t field, wt;
		eml_err rc;

		if (consumed == total) {
			/* no body field: an empty body */
			h->body_off = total;
			h->body_len = 0;
			return check_header(h, seen[3]);
		}
		rc = read_varint(&c, &key);
		if (rc == EML_ERR_PROTO_TRUNCATED)
			goto truncated;
		EML_GUARD(rc);
		field = (uint32_t)(key >> 3);
		wt = (uint32_t)(key & 7);
		if (key >> 3 > 4 || field == 0 || seen[field]) {
			eml_err_set_detail("envelope field %llu unknown or repeated",
			    (unsigned long long)(key >> 3));
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		if (wt != (field <= 2 ? WT_VARINT : WT_LEN)) {
			eml_err_set_detail("envelope field %u with wire type %u", field, wt);
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		rc = read_varint(&c, &v);
		if (rc == EML_ERR_PROTO_TRUNCATED)
			goto truncated;
		EML_GUARD(rc);
		seen[field] = true;
		consumed = (size_t)(c.p - p);
		switch (field) {
		case 1:
		case 2:
			if (v > UINT32_MAX) {
				eml_err_set_detail("envelope field %u out of range", field);
				EML_BAIL(EML_ERR_PROTO_DECODE);
			}
			if (field == 1)
				h->version = (uint32_t)v;
			else
				h->type = (uint32_t)v;
			break;
		case 3:
			if (v != EML_REQUEST_ID_LEN) {
				eml_err_set_detail("request id of %llu bytes", (unsigned long long)v);
				EML_BAIL(EML_ERR_PROTO_FIELD);
			}
			if (c.left < EML_REQUEST_ID_LEN) {
				if (total - consumed < EML_REQUEST_ID_LEN)
					EML_BAIL(EML_ERR_PROTO_DECODE);
				goto truncated;
			}
			EML_GUARD(eml_cur_read_bytes(&c, h->request_id, EML_REQUEST_ID_LEN));
			break;
		default: /* 4: the body, which must end the frame exactly */
			if (v != total - consumed) {
				eml_err_set_detail("envelope body of %llu bytes in %zu remaining",
				    (unsigned long long)v, total - consumed);
				EML_BAIL(EML_ERR_PROTO_DECODE);
			}
			h->body_off = consumed;
			h->body_len = (size_t)v;
			return check_header(h, seen[3]);
		}
	}
truncated:
	if (can_grow)
		return EML_ERR_PROTO_TRUNCATED;
	eml_err_set_detail("envelope header cut short");
	EML_BAIL(EML_ERR_PROTO_DECODE);
}

eml_err
eml_wire_blob_response_head(const uint8_t rid[EML_REQUEST_ID_LEN], uint64_t total_size,
    uint64_t offset, size_t n, size_t frame_max, uint8_t *out, size_t cap, size_t *len)
{
	uint64_t body_len, env_len;
	size_t k = 0;

	EML_ENSURE(rid != NULL && out != NULL && len != NULL, EML_ERR_NULL);
	/* BlobResponse: 2 total_size, 3 offset, 1 data (in this order). */
	body_len = 1 + eml_varint_len(total_size) + 1 + eml_varint_len(offset) + 1 +
	    eml_varint_len(n) + (uint64_t)n;
	/* Envelope: 1 version, 2 type, 3 request_id, 4 body. */
	env_len = 2 + 2 + 2 + EML_REQUEST_ID_LEN + 1 + eml_varint_len(body_len) + body_len;
	EML_GUARD(eml_frame_check_len(env_len, frame_max));
	EML_ENSURE(cap >= 64, EML_ERR_PROTO_TOO_LARGE);
	eml_store_u32be(out, (uint32_t)env_len);
	k = 4;
	out[k++] = (1 << 3) | WT_VARINT;
	out[k++] = EML_PROTO_VERSION;
	out[k++] = (2 << 3) | WT_VARINT;
	out[k++] = EML_MSG_BLOB_RESPONSE;
	out[k++] = (3 << 3) | WT_LEN;
	out[k++] = EML_REQUEST_ID_LEN;
	EML_MEMCPY(out + k, rid, EML_REQUEST_ID_LEN);
	k += EML_REQUEST_ID_LEN;
	out[k++] = (4 << 3) | WT_LEN;
	k += eml_varint_put(out + k, body_len);
	out[k++] = (2 << 3) | WT_VARINT;
	k += eml_varint_put(out + k, total_size);
	out[k++] = (3 << 3) | WT_VARINT;
	k += eml_varint_put(out + k, offset);
	out[k++] = (1 << 3) | WT_LEN;
	k += eml_varint_put(out + k, n);
	*len = k;
	return EML_OK;
}

eml_err
eml_wire_error_frame(const uint8_t *rid, eml_err code, const char *msg, size_t frame_max,
    struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__V1__Error e = EML__V1__ERROR__INIT;
	struct eml_envelope env;
	struct eml_buf body, envb;
	char m[EML_ERROR_MSG_MAX + 1];

	eml_buf_init(&body, 1024);
	eml_buf_init(&envb, 2048);
	memset(&env, 0, sizeof(env));
	if (out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	(void)snprintf(m, sizeof(m), "%s", msg != NULL ? msg : eml_strerror(code));
	e.code = (uint32_t)code;
	e.message = m;
	if ((rc = eml_msg_pack(&e.base, &body)) != EML_OK)
		goto out;
	env.version = EML_PROTO_VERSION;
	env.type = EML_MSG_ERROR;
	if (rid != NULL)
		EML_MEMCPY(env.request_id, rid, EML_REQUEST_ID_LEN);
	env.body = body.data;
	env.body_len = body.len;
	if ((rc = eml_envelope_pack(&env, frame_max, &envb)) != EML_OK)
		goto out;
	rc = eml_frame_encode(out, envb.data, envb.len, frame_max);
out:
	eml_buf_free_nowipe(&body);
	eml_buf_free_nowipe(&envb);
	return rc;
}

eml_err
eml_wire_hello_key(const uint8_t *body, size_t n, size_t key_max, size_t *keep,
    const uint8_t **key, size_t *key_len)
{
	struct eml_cur c;
	bool seen[5] = { false, false, false, false, false };

	EML_ENSURE(keep != NULL && key != NULL && key_len != NULL, EML_ERR_NULL);
	EML_ENSURE(body != NULL || n == 0, EML_ERR_NULL);
	*keep = n;
	*key = NULL;
	*key_len = 0;
	c = eml_cur_make(body, n);
	while (c.left > 0) {
		size_t at = (size_t)(c.p - body);
		uint64_t k, v;
		uint32_t field, wt;

		if (read_varint(&c, &k) != EML_OK) {
			eml_err_set_detail("ClientHello: bad field tag");
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		field = (uint32_t)(k >> 3);
		wt = (uint32_t)(k & 7);
		/* nonce 1, client_public_key 2, suite 3, api_key 4 */
		if (k >> 3 > 4 || field == 0 || seen[field] ||
		    wt != (field == 3 ? WT_VARINT : WT_LEN)) {
			eml_err_set_detail("ClientHello field %llu unknown, repeated or mistyped",
			    (unsigned long long)(k >> 3));
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		seen[field] = true;
		if (read_varint(&c, &v) != EML_OK) {
			eml_err_set_detail("ClientHello field %u: bad length or value", field);
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		if (wt == WT_LEN) {
			if (v > c.left) {
				eml_err_set_detail("ClientHello field %u runs past the end", field);
				EML_BAIL(EML_ERR_PROTO_DECODE);
			}
			if (field == 4) {
				if (v > key_max) {
					eml_err_set_detail("ClientHello api_key of %llu bytes",
					    (unsigned long long)v);
					EML_BAIL(EML_ERR_PROTO_FIELD);
				}
				if (v != c.left) {
					/* the key is outside the transcript: it must
					 * be the last field so that what precedes it
					 * is exactly what the client hashed */
					eml_err_set_detail("ClientHello api_key is not the last field");
					EML_BAIL(EML_ERR_PROTO_DECODE);
				}
				*keep = at;
				*key = c.p;
				*key_len = (size_t)v;
			}
			EML_GUARD(eml_cur_skip(&c, (size_t)v));
		}
	}
	return EML_OK;
}
