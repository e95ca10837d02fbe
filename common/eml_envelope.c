#include "eml_envelope.h"

#include "eml_mem.h"
#include "eml_varint.h"

_Static_assert((int)EML_MSG_CLIENT_HELLO == (int)EML__V1__MSG_TYPE__CLIENT_HELLO, "msg type");
_Static_assert((int)EML_MSG_ATTESTATION_RESPONSE == (int)EML__V1__MSG_TYPE__ATTESTATION_RESPONSE, "msg type");
_Static_assert((int)EML_MSG_INFER_REQUEST == (int)EML__V1__MSG_TYPE__INFER_REQUEST, "msg type");
_Static_assert((int)EML_MSG_INFER_RESPONSE == (int)EML__V1__MSG_TYPE__INFER_RESPONSE, "msg type");
_Static_assert((int)EML_MSG_EVIDENCE_REQUEST == (int)EML__V1__MSG_TYPE__EVIDENCE_REQUEST, "msg type");
_Static_assert((int)EML_MSG_EVIDENCE_RESPONSE == (int)EML__V1__MSG_TYPE__EVIDENCE_RESPONSE, "msg type");
_Static_assert((int)EML_MSG_CLOSE == (int)EML__V1__MSG_TYPE__CLOSE, "msg type");
_Static_assert((int)EML_MSG_BLOB_REQUEST == (int)EML__V1__MSG_TYPE__BLOB_REQUEST, "msg type");
_Static_assert((int)EML_MSG_BLOB_RESPONSE == (int)EML__V1__MSG_TYPE__BLOB_RESPONSE, "msg type");
_Static_assert((int)EML_MSG_PING == (int)EML__V1__MSG_TYPE__PING, "msg type");
_Static_assert((int)EML_MSG_JOB_KEY_REQUEST == (int)EML__V1__MSG_TYPE__JOB_KEY_REQUEST, "msg type");
_Static_assert((int)EML_MSG_JOB_DONE == (int)EML__V1__MSG_TYPE__JOB_DONE, "msg type");
_Static_assert((int)EML_MSG_PONG == (int)EML__V1__MSG_TYPE__PONG, "msg type");
_Static_assert((int)EML_MSG_ERROR == (int)EML__V1__MSG_TYPE__ERROR, "msg type");

/* The AEAD tag every sealed body carries (docs/PROTOCOL.md §4). */
#define SEALED_MIN 16u
/* 0 in .max means "limited only by the frame size". */
struct type_rule {
	const char *name;
	bool sealed;
	bool body_required;
	size_t max;
};

static const struct type_rule type_rules[EML_MSG_TYPE_MAX + 1] = {
	[EML_MSG_CLIENT_HELLO] = { "CLIENT_HELLO", false, true, 1024 },
	[EML_MSG_ATTESTATION_RESPONSE] = { "ATTESTATION_RESPONSE", false, true, 64 * 1024 },
	[EML_MSG_INFER_REQUEST] = { "INFER_REQUEST", true, true, 0 },
	[EML_MSG_INFER_RESPONSE] = { "INFER_RESPONSE", true, true, 0 },
	[EML_MSG_EVIDENCE_REQUEST] = { "EVIDENCE_REQUEST", true, true, 4096 },
	[EML_MSG_EVIDENCE_RESPONSE] = { "EVIDENCE_RESPONSE", true, true, 1024 * 1024 },
	[EML_MSG_CLOSE] = { "CLOSE", true, true, 64 },
	[EML_MSG_BLOB_REQUEST] = { "BLOB_REQUEST", false, true, 256 },
	[EML_MSG_BLOB_RESPONSE] = { "BLOB_RESPONSE", false, true, 0 },
	[EML_MSG_PING] = { "PING", false, false, 64 },
	[EML_MSG_PONG] = { "PONG", false, false, 64 },
	[EML_MSG_ERROR] = { "ERROR", false, true, 512 },
	[EML_MSG_JOB_KEY_REQUEST] = { "JOB_KEY_REQUEST", true, true, 64 },
	[EML_MSG_JOB_KEY_RESPONSE] = { "JOB_KEY_RESPONSE", true, true, 128 },
	[EML_MSG_JOB_RUN] = { "JOB_RUN", false, true, 0 },
	[EML_MSG_JOB_DONE] = { "JOB_DONE", false, true, 0 },
};

static const struct type_rule *
rule_for(uint32_t type)
{
	if (type < EML_MSG_TYPE_MIN || type > EML_MSG_TYPE_MAX)
		return NULL;
	return &type_rules[type];
}

const char *
eml_msg_type_name(uint32_t type)
{
	const struct type_rule *r = rule_for(type);

	return r != NULL ? r->name : "UNKNOWN";
}

bool
eml_msg_type_sealed(uint32_t type)
{
	const struct type_rule *r = rule_for(type);

	return r != NULL && r->sealed;
}

size_t
eml_msg_type_body_max(uint32_t type, size_t frame_max)
{
	const struct type_rule *r = rule_for(type);

	if (r == NULL)
		return 0;
	if (r->max == 0 || r->max > frame_max)
		return frame_max;
	return r->max;
}

eml_err
eml_envelope_validate(const struct eml_envelope *env, size_t frame_max)
{
	const struct type_rule *r;

	EML_ENSURE_REF(env);
	EML_ENSURE(env->body != NULL || env->body_len == 0, EML_ERR_NULL);
	/* PROTOCOL.md §2: "A receiver rejects any version other than 1." */
	if (env->version != EML_PROTO_VERSION) {
		eml_err_set_detail("envelope version %u", env->version);
		EML_BAIL(EML_ERR_PROTO_VERSION);
	}
	r = rule_for(env->type);
	if (r == NULL) {
		eml_err_set_detail("envelope type %u", env->type);
		EML_BAIL(EML_ERR_PROTO_MSG_TYPE);
	}
	if (r->body_required && env->body_len == 0) {
		eml_err_set_detail("%s without a body", r->name);
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	if (r->sealed && env->body_len < SEALED_MIN) {
		eml_err_set_detail("%s body shorter than an AEAD tag", r->name);
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	if (env->body_len > eml_msg_type_body_max(env->type, frame_max)) {
		eml_err_set_detail("%s body of %zu bytes", r->name, env->body_len);
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	return EML_OK;
}

/*
 * A protobuf-c allocator that goes through eml_alloc, remembers each block's
 * size so the block is wiped on free (decoded bodies may be plaintext), and
 * charges every allocation to a budget fixed from the input size.
 */
struct pb_budget {
	size_t left;
	bool exceeded;
};

struct pb_hdr {
	size_t size;
	size_t pad; /* keeps the user pointer 16-byte aligned */
};

static void *
pb_alloc(void *data, size_t size)
{
	struct pb_budget *b = data;
	struct pb_hdr *h;
	size_t total;

	if (eml_add_overflow(size, sizeof(*h), &total))
		return NULL;
	if (b != NULL) {
		if (total > b->left) {
			b->exceeded = true;
			return NULL;
		}
		b->left -= total;
	}
	h = eml_alloc(total);
	if (h == NULL)
		return NULL;
	h->size = size;
	return h + 1;
}

static void
pb_free(void *data, void *p)
{
	struct pb_hdr *h;

	(void)data;
	if (p == NULL)
		return;
	h = (struct pb_hdr *)p - 1;
	eml_free_wipe(h, h->size + sizeof(*h));
}

static ProtobufCAllocator pb_free_allocator = { pb_alloc, pb_free, NULL };

/* Decoded structures are at most a few times larger than their encoding
 * for sane messages; a flood of empty submessages is not. */
#define PB_BUDGET_FACTOR 8u
#define PB_BUDGET_BASE (64u * 1024u)

/* Whether m or any message nested in it carries fields this schema does
 * not define. Nesting depth is bounded by protobuf-c's own recursion
 * limit at decode time. */
static bool
has_unknown_fields(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;

	if (m->n_unknown_fields != 0)
		return true;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const uint8_t *base = (const uint8_t *)m;

		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t cnt;
			ProtobufCMessage *const *arr;

			memcpy(&cnt, base + f->quantifier_offset, sizeof(cnt));
			memcpy(&arr, base + f->offset, sizeof(arr));
			for (size_t j = 0; j < cnt; j++)
				if (arr[j] != NULL && has_unknown_fields(arr[j]))
					return true;
		} else {
			const ProtobufCMessage *sub;

			memcpy(&sub, base + f->offset, sizeof(sub));
			if (sub != NULL && has_unknown_fields(sub))
				return true;
		}
	}
	return false;
}

static eml_err msg_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
    size_t max, size_t budget_n, ProtobufCMessage **out);

eml_err
eml_msg_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n,
    size_t max, ProtobufCMessage **out)
{
	return msg_unpack(desc, p, n, max, n, out);
}

/* The decoded form may take PB_BUDGET_BASE + PB_BUDGET_FACTOR * budget_n
 * bytes: n itself, or the size of the message p was leaned from. */
static eml_err
msg_unpack(const ProtobufCMessageDescriptor *desc, const uint8_t *p, size_t n, size_t max,
    size_t budget_n, ProtobufCMessage **out)
{
	struct pb_budget budget = { PB_BUDGET_BASE, false };
	ProtobufCAllocator a = { pb_alloc, pb_free, &budget };
	ProtobufCMessage *m;
	size_t extra;

	EML_ENSURE(desc != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(p != NULL || n == 0, EML_ERR_NULL);
	*out = NULL;
	EML_ENSURE(n <= max, EML_ERR_PROTO_TOO_LARGE);
	if (eml_mul_overflow(budget_n, (size_t)PB_BUDGET_FACTOR, &extra) ||
	    eml_add_overflow(budget.left, extra, &budget.left))
		budget.left = SIZE_MAX;
	m = protobuf_c_message_unpack(desc, &a, n, p);
	if (m == NULL) {
		if (budget.exceeded) {
			eml_err_set_detail("%s needs more memory than its size allows", desc->short_name);
			EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
		}
		eml_err_set_detail("%s does not decode", desc->short_name);
		EML_BAIL(EML_ERR_PROTO_DECODE);
	}
	/* Strict schema: a field number version 1 does not define is an
	 * error, not something to carry along silently. */
	if (has_unknown_fields(m)) {
		protobuf_c_message_free_unpacked(m, &pb_free_allocator);
		eml_err_set_detail("%s carries fields unknown to protocol version 1",
		    desc->short_name);
		EML_BAIL(EML_ERR_PROTO_DECODE);
	}
	*out = m;
	return EML_OK;
}

/* ---- InferRequest without copying tensor bytes ---- */

/* Protobuf base-128 varint at *c; false when truncated or longer than 10
 * bytes. */
static bool
pbw_varint(struct eml_cur *c, uint64_t *v)
{
	uint64_t r = 0;

	for (unsigned i = 0; i < 10; i++) {
		uint8_t b;

		if (c->left == 0)
			return false;
		b = *c->p++;
		c->left--;
		r |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			*v = r;
			return true;
		}
	}
	return false;
}

/* One field at *c: its number and wire type, and [start, end) of the
 * whole field (key included); for wire type 2 also its payload. Groups
 * (3, 4) and anything truncated: false. */
struct pbw_field {
	uint64_t num;
	unsigned wt;
	const uint8_t *start;
	size_t len; /* whole field */
	struct eml_cur payload; /* wire type 2 */
};

static bool
pbw_field(struct eml_cur *c, struct pbw_field *f)
{
	uint64_t key, v;

	f->start = c->p;
	if (!pbw_varint(c, &key))
		return false;
	f->num = key >> 3;
	f->wt = (unsigned)(key & 7);
	switch (f->wt) {
	case 0:
		if (!pbw_varint(c, &v))
			return false;
		break;
	case 1:
	case 5:
		v = f->wt == 1 ? 8 : 4;
		if (c->left < v)
			return false;
		c->p += v;
		c->left -= v;
		break;
	case 2:
		if (!pbw_varint(c, &v) || v > c->left)
			return false;
		f->payload.p = c->p;
		f->payload.left = (size_t)v;
		c->p += v;
		c->left -= (size_t)v;
		break;
	default:
		return false;
	}
	f->len = (size_t)(c->p - f->start);
	return true;
}

static eml_err
pbw_put_varint(struct eml_buf *b, uint64_t v)
{
	uint8_t t[EML_VARINT_MAX];

	return eml_buf_append(b, t, eml_varint_put(t, v));
}

/* Tensor payload t without its data fields (field 4) into lean; *data the
 * last one's bytes. */
static eml_err
lean_tensor(struct eml_cur t, struct eml_buf *lean, struct eml_cur *data, bool *ok)
{
	struct pbw_field f;
	size_t hole, kept = 0;

	*data = (struct eml_cur){ NULL, 0 };
	/* a length prefix of at most 10 bytes, fixed up at the end */
	EML_GUARD(eml_buf_append(lean, "\0\0\0\0\0\0\0\0\0\0", 10));
	hole = lean->len;
	while (t.left > 0) {
		if (!pbw_field(&t, &f)) {
			*ok = false;
			return EML_OK;
		}
		if (f.num == 4 && f.wt == 2) {
			*data = f.payload;
			continue;
		}
		EML_GUARD(eml_buf_append(lean, f.start, f.len));
		kept += f.len;
	}
	{
		uint8_t t10[EML_VARINT_MAX];
		size_t k = eml_varint_put(t10, kept);

		/* move the kept fields down to just after the real prefix */
		memmove(lean->data + hole - 10 + k, lean->data + hole, kept);
		memcpy(lean->data + hole - 10, t10, k);
		lean->len = hole - 10 + k + kept;
	}
	return EML_OK;
}

eml_err
eml_msg_infer_request_unpack_view(const uint8_t *p, size_t n, size_t max,
    ProtobufCMessage **out, struct eml_cur *data, size_t data_max)
{
	struct eml_cur c = { p, n };
	struct eml_cur spans[64];
	struct pbw_field f;
	struct eml_buf lean;
	size_t k = 0;
	bool ok = true;
	eml_err rc = EML_OK;
	const Eml__V1__InferRequest *r;

	EML_ENSURE(out != NULL && (data != NULL || data_max == 0), EML_ERR_NULL);
	EML_ENSURE(p != NULL || n == 0, EML_ERR_NULL);
	*out = NULL;
	EML_ENSURE(n <= max, EML_ERR_PROTO_TOO_LARGE);
	eml_buf_init(&lean, n + 16); /* a 10-byte length slot before its fix-up */
	while (ok && rc == EML_OK && c.left > 0) {
		if (!pbw_field(&c, &f)) {
			ok = false;
			break;
		}
		if (f.num != 2 || f.wt != 2) {
			rc = eml_buf_append(&lean, f.start, f.len);
			continue;
		}
		if (k == data_max || k == sizeof(spans) / sizeof(spans[0])) {
			ok = false;
			break;
		}
		rc = pbw_put_varint(&lean, (2u << 3) | 2u);
		if (rc == EML_OK)
			rc = lean_tensor(f.payload, &lean, &spans[k++], &ok);
		/* The engine reads tensors as typed arrays: a view at an
		 * address malloc would never return (not 16-aligned) is not
		 * taken; the whole message is decoded (copied) instead. */
		if (rc == EML_OK && ok && spans[k - 1].left > 0 &&
		    ((uintptr_t)spans[k - 1].p & 15u) != 0)
			ok = false;
	}
	if (rc == EML_OK && ok)
		rc = msg_unpack(&eml__v1__infer_request__descriptor, lean.data, lean.len,
		    lean.len, n, out);
	else if (rc == EML_OK) /* not walkable: the whole message, as before */
		rc = eml_msg_unpack(&eml__v1__infer_request__descriptor, p, n, max, out);
	eml_buf_free(&lean);
	if (rc != EML_OK)
		return rc;
	r = (const Eml__V1__InferRequest *)*out;
	for (size_t i = 0; i < data_max; i++)
		data[i] = (struct eml_cur){ NULL, 0 };
	for (size_t i = 0; i < r->n_inputs && i < data_max; i++) {
		if (ok)
			data[i] = spans[i];
		else
			data[i] = (struct eml_cur){ r->inputs[i]->data.data, r->inputs[i]->data.len };
	}
	return EML_OK;
}

/* ---------------------------------------------------- aligned InferRequest */

static uint8_t *
put_bytes_field(uint8_t *w, unsigned num, const void *p, size_t n)
{
	*w++ = (uint8_t)((num << 3) | 2u);
	w += eml_varint_put(w, n);
	memcpy(w, p, n);
	return w + n;
}

/* The length of t's dims field(s) in the form put_dims writes for pad
 * (pad 0: protobuf-c's, one packed run): pad even, the packed run then
 * pad / 2 empty packed runs; pad odd, the first dim unpacked (the only
 * one: (pad + 1) / 2 empty runs after it; else the others in a packed
 * run and (pad - 1) / 2 empty runs). All standard proto3 forms of the
 * same repeated field. false when there is no such form (no dims, pad
 * odd). */
static bool
dims_len(const Eml__V1__Tensor *t, size_t pad, size_t *len)
{
	size_t s = 0, v0;

	for (size_t i = 0; i < t->n_dims; i++)
		s += eml_varint_len(t->dims[i]);
	if (t->n_dims == 0) {
		*len = pad;
		return pad % 2 == 0;
	}
	if (pad % 2 == 0) {
		*len = 1 + eml_varint_len(s) + s + pad;
		return true;
	}
	v0 = eml_varint_len(t->dims[0]);
	if (t->n_dims == 1)
		*len = 1 + v0 + pad + 1;
	else
		*len = 1 + v0 + 1 + eml_varint_len(s - v0) + (s - v0) + pad - 1;
	return true;
}

static uint8_t *
put_dims(uint8_t *w, const Eml__V1__Tensor *t, size_t pad)
{
	size_t s = 0, first = 0, empties = pad / 2;

	if (t->n_dims == 0) {
		for (size_t i = 0; i < empties; i++) {
			*w++ = (3u << 3) | 2u;
			*w++ = 0;
		}
		return w;
	}
	if (pad % 2 == 1) {
		/* first dim unpacked: 1 + vs(d0) instead of its share of the run */
		*w++ = (3u << 3) | 0u;
		w += eml_varint_put(w, t->dims[0]);
		first = 1;
		empties = t->n_dims == 1 ? (pad + 1) / 2 : (pad - 1) / 2;
	}
	for (size_t i = first; i < t->n_dims; i++)
		s += eml_varint_len(t->dims[i]);
	if (first < t->n_dims) {
		*w++ = (3u << 3) | 2u;
		w += eml_varint_put(w, s);
		for (size_t i = first; i < t->n_dims; i++)
			w += eml_varint_put(w, t->dims[i]);
	}
	for (size_t i = 0; i < empties; i++) {
		*w++ = (3u << 3) | 2u;
		*w++ = 0;
	}
	return w;
}

/* One tensor's layout at frame offset q (where its field key goes): the
 * dims padding that puts its data at a multiple of 16 and the tensor's
 * payload length. */
struct tlay {
	size_t pre, pad, dims, payload;
};

static void
tensor_layout(const Eml__V1__Tensor *t, size_t q, struct tlay *l)
{
	size_t nl = t->name != NULL ? strlen(t->name) : 0;
	size_t dh = t->data.len != 0 ? 1 + eml_varint_len(t->data.len) : 0;

	l->pre = (nl != 0 ? 1 + eml_varint_len(nl) + nl : 0) +
	    (t->dtype != 0 ? 1 + eml_varint_len((uint64_t)(int64_t)t->dtype) : 0);
	for (size_t pad = 0; pad < 48; pad++) {
		size_t dl, pl;

		if (!dims_len(t, pad, &dl))
			continue;
		pl = l->pre + dl + dh + t->data.len;
		if (t->data.len == 0 || (q + 1 + eml_varint_len(pl) + l->pre + dl + dh) % 16 == 0) {
			l->pad = pad;
			l->dims = dl;
			l->payload = pl;
			return;
		}
	}
	/* none (a scalar tensor at an odd offset): protobuf-c's form */
	(void)dims_len(t, 0, &l->dims);
	l->pad = 0;
	l->payload = l->pre + l->dims + dh + t->data.len;
}

static size_t
request_layout(const Eml__V1__InferRequest *r, size_t base, struct tlay *lay)
{
	size_t q = base;

	if (r->topology_key.len != 0)
		q += 1 + eml_varint_len(r->topology_key.len) + r->topology_key.len;
	for (size_t i = 0; i < r->n_inputs; i++) {
		tensor_layout(r->inputs[i], q, &lay[i]);
		q += 1 + eml_varint_len(lay[i].payload) + lay[i].payload;
	}
	if (r->model_signature.len != 0)
		q += 1 + eml_varint_len(r->model_signature.len) + r->model_signature.len;
	if (r->topology_digest.len != 0)
		q += 1 + eml_varint_len(r->topology_digest.len) + r->topology_digest.len;
	return q - base;
}

/* pack_aligned with g (cap entries): the data of a tensor of at least
 * min bytes is not copied; g records where in out's bytes it belongs. */
static eml_err
pack_aligned(const Eml__V1__InferRequest *r, size_t base, struct eml_buf *out,
    struct eml_msg_gather *g, size_t cap, size_t min, size_t *n_g)
{
	struct tlay lay[64];
	size_t n, ext = 0, k = 0;
	uint8_t *w, *start;

	EML_ENSURE(r != NULL && out != NULL, EML_ERR_NULL);
	*n_g = 0;
	if (r->n_inputs > sizeof(lay) / sizeof(lay[0]))
		return eml_msg_pack(&r->base, out);
	n = request_layout(r, base, lay);
	for (size_t i = 0; g != NULL && i < r->n_inputs && k < cap; i++)
		if (r->inputs[i]->data.len != 0 && r->inputs[i]->data.len >= min) {
			ext += r->inputs[i]->data.len;
			k++;
		}
	EML_GUARD(eml_buf_extend(out, n - ext, &start));
	w = start;
	k = 0;
	if (r->topology_key.len != 0)
		w = put_bytes_field(w, 1, r->topology_key.data, r->topology_key.len);
	for (size_t i = 0; i < r->n_inputs; i++) {
		const Eml__V1__Tensor *t = r->inputs[i];
		size_t nl = t->name != NULL ? strlen(t->name) : 0;

		*w++ = (2u << 3) | 2u;
		w += eml_varint_put(w, lay[i].payload);
		if (nl != 0)
			w = put_bytes_field(w, 1, t->name, nl);
		if (t->dtype != 0) {
			*w++ = (2u << 3) | 0u;
			w += eml_varint_put(w, (uint64_t)(int64_t)t->dtype);
		}
		w = put_dims(w, t, lay[i].pad);
		if (t->data.len == 0)
			continue;
		if (g == NULL || k == cap || t->data.len < min) {
			w = put_bytes_field(w, 4, t->data.data, t->data.len);
			continue;
		}
		*w++ = (4u << 3) | 2u;
		w += eml_varint_put(w, t->data.len);
		g[k].at = (size_t)(w - start);
		g[k].p = t->data.data;
		g[k].len = t->data.len;
		k++;
	}
	if (r->model_signature.len != 0)
		w = put_bytes_field(w, 3, r->model_signature.data, r->model_signature.len);
	if (r->topology_digest.len != 0)
		w = put_bytes_field(w, 4, r->topology_digest.data, r->topology_digest.len);
	if ((size_t)(w - start) != n - ext) {
		eml_wipe(start, n - ext);
		out->len -= n - ext;
		EML_BAIL(EML_ERR_INTERNAL);
	}
	*n_g = k;
	return EML_OK;
}

eml_err
eml_msg_infer_request_pack_aligned(const Eml__V1__InferRequest *r, size_t base,
    struct eml_buf *out)
{
	size_t n_g;

	return pack_aligned(r, base, out, NULL, 0, 0, &n_g);
}

eml_err
eml_msg_infer_request_pack_gather(const Eml__V1__InferRequest *r, size_t base, size_t min,
    struct eml_buf *out, struct eml_msg_gather *g, size_t cap, size_t *n_g)
{
	EML_ENSURE(n_g != NULL && (g != NULL || cap == 0), EML_ERR_NULL);
	return pack_aligned(r, base, out, g, cap, min, n_g);
}

void
eml_msg_free(ProtobufCMessage *msg)
{
	if (msg != NULL)
		protobuf_c_message_free_unpacked(msg, &pb_free_allocator);
}

eml_err
eml_msg_pack(const ProtobufCMessage *msg, struct eml_buf *out)
{
	uint8_t *w;
	size_t n, done;

	EML_ENSURE(msg != NULL && out != NULL, EML_ERR_NULL);
	n = protobuf_c_message_get_packed_size(msg);
	EML_GUARD(eml_buf_extend(out, n, &w));
	done = protobuf_c_message_pack(msg, w);
	if (done != n) {
		out->len -= n;
		EML_BAIL(EML_ERR_INTERNAL);
	}
	return EML_OK;
}

/* env's fields with the body given (validated by the caller). */
static eml_err
pack_fields(const struct eml_envelope *env, const uint8_t *body, size_t body_len,
    size_t frame_max, struct eml_buf *out)
{
	Eml__V1__Envelope m = EML__V1__ENVELOPE__INIT;
	size_t before;
	eml_err rc;

	m.version = env->version;
	m.type = (Eml__V1__MsgType)env->type;
	m.request_id.data = (uint8_t *)(uintptr_t)env->request_id;
	m.request_id.len = EML_REQUEST_ID_LEN;
	m.body.data = (uint8_t *)(uintptr_t)body;
	m.body.len = body_len;
	if (protobuf_c_message_get_packed_size(&m.base) > frame_max) {
		eml_err_set_detail("envelope larger than the frame limit");
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	before = out->len;
	rc = eml_msg_pack(&m.base, out);
	if (rc != EML_OK)
		out->len = before;
	return rc;
}

eml_err
eml_envelope_pack(const struct eml_envelope *env, size_t frame_max, struct eml_buf *out)
{
	EML_ENSURE(env != NULL && out != NULL, EML_ERR_NULL);
	EML_GUARD(eml_envelope_validate(env, frame_max));
	return pack_fields(env, env->body, env->body_len, frame_max, out);
}

eml_err
eml_envelope_pack_head(const struct eml_envelope *env, size_t frame_max, struct eml_buf *out)
{
	uint8_t var[1 + EML_VARINT_MAX];
	size_t before, k = 0;
	eml_err rc;

	EML_ENSURE(env != NULL && out != NULL, EML_ERR_NULL);
	EML_GUARD(eml_envelope_validate(env, frame_max));
	/* proto3 leaves an empty body out: pack the rest, then the body's
	 * key (field 4, length-delimited) and length, as protobuf-c would. */
	before = out->len;
	EML_GUARD(pack_fields(env, NULL, 0, frame_max, out));
	if (env->body_len == 0)
		return EML_OK;
	var[k++] = (4u << 3) | 2u;
	k += eml_varint_put(var + k, env->body_len);
	if (out->len - before + k + env->body_len > frame_max) {
		out->len = before;
		eml_err_set_detail("envelope larger than the frame limit");
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	rc = eml_buf_append(out, var, k);
	if (rc != EML_OK)
		out->len = before;
	return rc;
}

void
eml_envelope_clear(struct eml_envelope *env)
{
	if (env == NULL)
		return;
	eml_msg_free(env->owned_);
	memset(env, 0, sizeof(*env));
}

/* A base-128 varint of at most 10 bytes (the 10th carries one bit). */
static eml_err
env_varint(struct eml_cur *c, uint64_t *out)
{
	uint64_t v = 0;

	for (size_t i = 0; i < 10 && i < c->left; i++) {
		uint8_t b = c->p[i];

		if (i == 9 && b > 1)
			break;
		v |= (uint64_t)(b & 0x7f) << (7 * i);
		if ((b & 0x80) == 0) {
			EML_GUARD(eml_cur_skip(c, i + 1));
			*out = v;
			return EML_OK;
		}
	}
	eml_err_set_detail("envelope varint malformed or cut short");
	EML_BAIL(EML_ERR_PROTO_DECODE);
}

/*
 * The envelope's top level in the one form the proxy reads
 * (host-proxy/eml_wire.h): fields 1 version and 2 type (varints of at most
 * 32 bits), 3 request id and 4 body (length-delimited), each at most once,
 * the body last and ending the frame. protobuf-c alone takes repeated
 * fields (last one wins), any order and silently truncated 64-bit
 * varints; an endpoint that did would read a frame differently from the
 * proxy that relayed it (found by wire_diff_fuzz). EML_ERR_PROTO_DECODE.
 */
/* The fields as found by envelope_wire_check; body and request id point
 * into the checked bytes. */
struct env_fields {
	uint64_t num[3]; /* [1] version, [2] type */
	const uint8_t *rid;
	size_t rid_len;
	const uint8_t *body;
	size_t body_len;
};

static eml_err
envelope_wire_check(const uint8_t *p, size_t n, struct env_fields *f)
{
	struct eml_cur c = eml_cur_make(p, n);
	bool seen[5] = { false, false, false, false, false };

	memset(f, 0, sizeof(*f));
	while (c.left > 0) {
		uint64_t key, v;
		uint64_t field;

		EML_GUARD(env_varint(&c, &key));
		field = key >> 3;
		if (field == 0 || field > 4 || seen[field] ||
		    (key & 7) != (field <= 2 ? 0u : 2u)) {
			eml_err_set_detail("envelope field %llu (wire type %u) unknown, repeated or "
					   "of the wrong type",
			    (unsigned long long)field, (unsigned)(key & 7));
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		seen[field] = true;
		EML_GUARD(env_varint(&c, &v));
		if (field <= 2 && v > UINT32_MAX) {
			eml_err_set_detail("envelope field %llu above 32 bits", (unsigned long long)field);
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		if (field == 3 && v > c.left) {
			eml_err_set_detail("envelope request id longer than the frame");
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		if (field == 4 && v != c.left) {
			eml_err_set_detail("envelope body of %llu bytes in %zu remaining (body last)",
			    (unsigned long long)v, c.left);
			EML_BAIL(EML_ERR_PROTO_DECODE);
		}
		if (field <= 2) {
			f->num[field] = v;
		} else if (field == 3) {
			f->rid = c.p;
			f->rid_len = (size_t)v;
		} else {
			f->body = c.p;
			f->body_len = (size_t)v;
		}
		if (field >= 3)
			EML_GUARD(eml_cur_skip(&c, (size_t)v));
	}
	return EML_OK;
}

/* What both readers check before reading a field: env cleared, then
 * PROTOCOL.md §1's "length 0 or above the maximum is a protocol error"
 * before protobuf-c sees a byte, then the one accepted wire form. */
static eml_err
envelope_precheck(struct eml_envelope *env, const uint8_t *p, size_t n, size_t frame_max,
    struct env_fields *f)
{
	EML_ENSURE_REF(env);
	memset(env, 0, sizeof(*env));
	EML_ENSURE(p != NULL || n == 0, EML_ERR_NULL);
	EML_ENSURE(n != 0, EML_ERR_PROTO_ZERO_LENGTH);
	EML_ENSURE(n <= frame_max, EML_ERR_PROTO_TOO_LARGE);
	return envelope_wire_check(p, n, f);
}

/*
 * The envelope read in place: the one wire form envelope_wire_check
 * accepts has nothing protobuf-c would read differently (each field once,
 * varints of 32 bits, the body last), so the fields are taken as found and
 * the body is not copied: a 32 MiB sealed request is not duplicated before
 * it is opened. Same checks and errors as eml_envelope_unpack.
 */
eml_err
eml_envelope_view(struct eml_envelope *env, const uint8_t *p, size_t n, size_t frame_max)
{
	struct env_fields f;
	eml_err rc = EML_ERR_INTERNAL;

	EML_GUARD(envelope_precheck(env, p, n, frame_max, &f));
	if (f.rid_len != EML_REQUEST_ID_LEN) {
		eml_err_set_detail("request_id of %zu bytes", f.rid_len);
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	}
	env->version = (uint32_t)f.num[1];
	env->type = (uint32_t)f.num[2];
	memcpy(env->request_id, f.rid, EML_REQUEST_ID_LEN);
	env->body = f.body_len != 0 ? f.body : NULL;
	env->body_len = f.body_len;
	rc = eml_envelope_validate(env, frame_max);
out:
	if (rc != EML_OK)
		memset(env, 0, sizeof(*env));
	return rc;
}

eml_err
eml_envelope_unpack(struct eml_envelope *env, const uint8_t *p, size_t n, size_t frame_max)
{
	ProtobufCMessage *pm = NULL;
	Eml__V1__Envelope *m;
	struct env_fields f;
	eml_err rc = EML_ERR_INTERNAL;

	EML_GUARD(envelope_precheck(env, p, n, frame_max, &f));
	rc = eml_msg_unpack(&eml__v1__envelope__descriptor, p, n, frame_max, &pm);
	if (rc != EML_OK)
		goto out;
	m = (Eml__V1__Envelope *)pm;
	if (m->request_id.len != EML_REQUEST_ID_LEN) {
		eml_err_set_detail("request_id of %zu bytes", m->request_id.len);
		EML_FAIL(rc, EML_ERR_PROTO_FIELD);
	}
	env->version = m->version;
	env->type = (uint32_t)m->type;
	memcpy(env->request_id, m->request_id.data, EML_REQUEST_ID_LEN);
	env->body = m->body.data;
	env->body_len = m->body.len;
	rc = eml_envelope_validate(env, frame_max);
	if (rc != EML_OK)
		goto out;
	env->owned_ = pm;
	pm = NULL;
	rc = EML_OK;
out:
	if (rc != EML_OK)
		memset(env, 0, sizeof(*env));
	eml_msg_free(pm);
	return rc;
}

eml_err
eml_msg_client_hello_check(const Eml__V1__ClientHello *m)
{
	EML_ENSURE_REF(m);
	if (m->nonce.len != EML_HELLO_NONCE_LEN) {
		eml_err_set_detail("ClientHello.nonce of %zu bytes", m->nonce.len);
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	if (m->client_public_key.len != EML_X25519_KEY_LEN) {
		eml_err_set_detail("ClientHello.client_public_key of %zu bytes",
		    m->client_public_key.len);
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	if (m->suite != EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM) {
		eml_err_set_detail("ClientHello.suite %d", (int)m->suite);
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	/* A key is for the proxy, which strips it: one that got this far
	 * crossed to the enclave side, where it has no business. */
	if (m->api_key.len != 0) {
		eml_err_set_detail("ClientHello carries an API key");
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	return EML_OK;
}

eml_err
eml_msg_attestation_response_check(const Eml__V1__AttestationResponse *m)
{
	EML_ENSURE_REF(m);
	if (m->attestation_document.len == 0) {
		eml_err_set_detail("AttestationResponse without a document");
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	if (m->suite != EML__V1__SUITE__SUITE_X25519_HKDFSHA256_AES256GCM) {
		eml_err_set_detail("AttestationResponse.suite %d", (int)m->suite);
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	return EML_OK;
}

eml_err
eml_msg_blob_request_check(const Eml__V1__BlobRequest *m, size_t frame_max)
{
	uint64_t end;

	EML_ENSURE_REF(m);
	if (m->content_id.len != EML_CONTENT_ID_LEN) {
		eml_err_set_detail("BlobRequest.content_id of %zu bytes", m->content_id.len);
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	/* The response must fit in one frame with its envelope; 1 KiB is
	 * more than the envelope and BlobResponse overhead. */
	if (m->length == 0 || frame_max < 1024 || m->length > (uint64_t)(frame_max - 1024)) {
		eml_err_set_detail("BlobRequest.length %llu", (unsigned long long)m->length);
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	if (eml_add_overflow(m->offset, m->length, &end)) {
		eml_err_set_detail("BlobRequest range overflows");
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	return EML_OK;
}

eml_err
eml_msg_error_check(const Eml__V1__Error *m)
{
	EML_ENSURE_REF(m);
	if (m->code == 0) {
		eml_err_set_detail("Error.code is 0");
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	if (m->message == NULL || strlen(m->message) > EML_ERROR_MSG_MAX) {
		eml_err_set_detail("Error.message missing or too long");
		EML_BAIL(EML_ERR_PROTO_FIELD);
	}
	return EML_OK;
}
