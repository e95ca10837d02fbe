#include "eml_cbor.h"

#include <string.h>

/* Marks an open indefinite-length container on the scan stack. */
#define SCAN_INDEF SIZE_MAX

/*
 * Pre-scan state. The stack holds, for each open container, how many items
 * it still expects (SCAN_INDEF until its break). `left` is the number of
 * input bytes not yet consumed when the current head was decoded: every
 * item takes at least one byte, so a container declaring more items than
 * that is a lie we refuse before libcbor allocates for it.
 */
struct scan {
	size_t left;
	size_t stack[EML_CBOR_MAX_DEPTH];
	size_t depth;
	bool bad;
	bool done;
};

static void
scan_consume_slot(struct scan *s)
{
	if (s->depth > 0 && s->stack[s->depth - 1] != SCAN_INDEF)
		s->stack[s->depth - 1]--;
}

static void
scan_close_completed(struct scan *s)
{
	while (s->depth > 0 && s->stack[s->depth - 1] == 0)
		s->depth--;
	if (s->depth == 0)
		s->done = true;
}

static void
scan_leaf(struct scan *s)
{
	if (s->bad)
		return;
	scan_consume_slot(s);
	scan_close_completed(s);
}

static void
scan_open(struct scan *s, size_t count)
{
	if (s->bad)
		return;
	scan_consume_slot(s);
	if (count == 0) {
		scan_close_completed(s);
		return;
	}
	if (s->depth == EML_CBOR_MAX_DEPTH) {
		s->bad = true;
		return;
	}
	s->stack[s->depth++] = count;
}

static void cb_u8(void *ctx, uint8_t v) { (void)v; scan_leaf(ctx); }
static void cb_u16(void *ctx, uint16_t v) { (void)v; scan_leaf(ctx); }
static void cb_u32(void *ctx, uint32_t v) { (void)v; scan_leaf(ctx); }
static void cb_u64(void *ctx, uint64_t v) { (void)v; scan_leaf(ctx); }
static void cb_f4(void *ctx, float v) { (void)v; scan_leaf(ctx); }
static void cb_f8(void *ctx, double v) { (void)v; scan_leaf(ctx); }
static void cb_bool(void *ctx, bool v) { (void)v; scan_leaf(ctx); }
static void cb_simple(void *ctx) { scan_leaf(ctx); }
static void cb_string(void *ctx, cbor_data d, size_t n) { (void)d; (void)n; scan_leaf(ctx); }

/* Indefinite-length strings: nothing we read uses them, and refusing them
 * keeps every string a single contiguous run of bytes. */
static void
cb_indef_string(void *ctx)
{
	((struct scan *)ctx)->bad = true;
}

static void
cb_array(void *ctx, size_t n)
{
	struct scan *s = ctx;

	if (n > s->left) {
		s->bad = true;
		return;
	}
	scan_open(s, n);
}

static void
cb_map(void *ctx, size_t n)
{
	struct scan *s = ctx;

	if (n > s->left / 2) {
		s->bad = true;
		return;
	}
	scan_open(s, 2 * n);
}

static void
cb_indef_open(void *ctx)
{
	scan_open(ctx, SCAN_INDEF);
}

static void
cb_tag(void *ctx, uint64_t v)
{
	(void)v;
	scan_open(ctx, 1);
}

static void
cb_break(void *ctx)
{
	struct scan *s = ctx;

	if (s->bad)
		return;
	if (s->depth == 0 || s->stack[s->depth - 1] != SCAN_INDEF) {
		s->bad = true;
		return;
	}
	s->depth--;
	scan_close_completed(s);
}

static const struct cbor_callbacks scan_callbacks = {
	.uint8 = cb_u8,
	.uint16 = cb_u16,
	.uint32 = cb_u32,
	.uint64 = cb_u64,
	.negint8 = cb_u8,
	.negint16 = cb_u16,
	.negint32 = cb_u32,
	.negint64 = cb_u64,
	.byte_string_start = cb_indef_string,
	.byte_string = cb_string,
	.string = cb_string,
	.string_start = cb_indef_string,
	.indef_array_start = cb_indef_open,
	.array_start = cb_array,
	.indef_map_start = cb_indef_open,
	.map_start = cb_map,
	.tag = cb_tag,
	.float2 = cb_f4,
	.float4 = cb_f4,
	.float8 = cb_f8,
	.undefined = cb_simple,
	.null = cb_simple,
	.boolean = cb_bool,
	.indef_break = cb_break,
};

/* Length of the one well-formed item at the front of c, within bounds. */
static eml_err
scan_item(const struct eml_cur *c, size_t *len)
{
	struct scan s = { 0 };
	size_t off = 0;

	while (!s.done) {
		struct cbor_decoder_result r;

		if (off >= c->left) {
			eml_err_set_detail("CBOR truncated at byte %zu", off);
			EML_BAIL(EML_ERR_ATTEST_CBOR);
		}
		s.left = c->left - off;
		r = cbor_stream_decode(c->p + off, c->left - off, &scan_callbacks, &s);
		if (r.status != CBOR_DECODER_FINISHED || r.read == 0 || r.read > c->left - off) {
			eml_err_set_detail("CBOR %s at byte %zu",
			    r.status == CBOR_DECODER_NEDATA ? "truncated" : "malformed", off);
			EML_BAIL(EML_ERR_ATTEST_CBOR);
		}
		if (s.bad) {
			eml_err_set_detail("CBOR item at byte %zu: indefinite string, nesting "
					   "deeper than %d, or size larger than the input",
			    off, EML_CBOR_MAX_DEPTH);
			EML_BAIL(EML_ERR_ATTEST_CBOR);
		}
		off += r.read;
	}
	*len = off;
	return EML_OK;
}

eml_err
eml_cbor_decode(struct eml_cur *c, cbor_item_t **out)
{
	struct cbor_load_result res;
	cbor_item_t *it;
	size_t len = 0;

	EML_ENSURE_REF(c);
	EML_ENSURE_REF(out);
	EML_ENSURE(eml_cur_valid(c), EML_ERR_NULL);
	*out = NULL;
	EML_GUARD(scan_item(c, &len));
	memset(&res, 0, sizeof(res));
	it = cbor_load(c->p, len, &res);
	if (it == NULL || res.error.code != CBOR_ERR_NONE || res.read != len) {
		bool nomem = res.error.code == CBOR_ERR_MEMERROR;

		if (it != NULL)
			cbor_decref(&it);
		if (nomem)
			EML_BAIL(EML_ERR_NOMEM);
		eml_err_set_detail("CBOR does not decode (libcbor error %d)", (int)res.error.code);
		EML_BAIL(EML_ERR_ATTEST_CBOR);
	}
	if (eml_cur_skip(c, len) != EML_OK) {
		cbor_decref(&it);
		EML_BAIL(EML_ERR_INTERNAL);
	}
	*out = it;
	return EML_OK;
}

eml_err
eml_cbor_get_bytes(const cbor_item_t *it, const uint8_t **p, size_t *n)
{
	EML_ENSURE_REF(it);
	EML_ENSURE(cbor_isa_bytestring(it) && cbor_bytestring_is_definite(it),
	    EML_ERR_ATTEST_FIELD_TYPE);
	*n = cbor_bytestring_length(it);
	*p = cbor_bytestring_handle(it);
	return EML_OK;
}

eml_err
eml_cbor_get_text(const cbor_item_t *it, const char **p, size_t *n)
{
	EML_ENSURE_REF(it);
	EML_ENSURE(cbor_isa_string(it) && cbor_string_is_definite(it), EML_ERR_ATTEST_FIELD_TYPE);
	*n = cbor_string_length(it);
	*p = (const char *)cbor_string_handle(it);
	return EML_OK;
}

eml_err
eml_cbor_get_uint(const cbor_item_t *it, uint64_t *v)
{
	EML_ENSURE_REF(it);
	EML_ENSURE(cbor_isa_uint(it), EML_ERR_ATTEST_FIELD_TYPE);
	*v = cbor_get_int(it);
	return EML_OK;
}

bool
eml_cbor_is_null(const cbor_item_t *it)
{
	return it != NULL && cbor_is_null(it);
}

bool
eml_cbor_text_eq(const cbor_item_t *it, const char *s)
{
	const char *p;
	size_t n;
	size_t sl = strlen(s);

	if (eml_cbor_get_text(it, &p, &n) != EML_OK || n != sl)
		return false;
	return n == 0 || memcmp(p, s, n) == 0;
}

static bool
key_equal(const cbor_item_t *a, const cbor_item_t *b, bool text_keys)
{
	if (text_keys) {
		size_t n = cbor_string_length(a);

		return n == cbor_string_length(b) &&
		    (n == 0 || memcmp(cbor_string_handle(a), cbor_string_handle(b), n) == 0);
	}
	return cbor_get_int(a) == cbor_get_int(b);
}

eml_err
eml_cbor_map_check(const cbor_item_t *map, bool text_keys, size_t max_pairs)
{
	struct cbor_pair *pairs;
	size_t n;

	EML_ENSURE_REF(map);
	EML_ENSURE(cbor_isa_map(map), EML_ERR_ATTEST_FIELD_TYPE);
	n = cbor_map_size(map);
	if (n > max_pairs) {
		eml_err_set_detail("map has %zu entries, at most %zu allowed", n, max_pairs);
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	}
	pairs = cbor_map_handle(map);
	for (size_t i = 0; i < n; i++) {
		const cbor_item_t *k = pairs[i].key;

		if (text_keys ? !(cbor_isa_string(k) && cbor_string_is_definite(k)) : !cbor_isa_uint(k)) {
			eml_err_set_detail("map key %zu is not %s", i,
			    text_keys ? "a text string" : "an unsigned integer");
			EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
		}
		for (size_t j = 0; j < i; j++) {
			if (key_equal(pairs[j].key, k, text_keys)) {
				eml_err_set_detail("map key %zu repeats key %zu", i, j);
				EML_BAIL(EML_ERR_ATTEST_DUP_KEY);
			}
		}
	}
	return EML_OK;
}

cbor_item_t *
eml_cbor_map_get(const cbor_item_t *map, const char *key)
{
	struct cbor_pair *pairs;
	size_t n;

	if (map == NULL || !cbor_isa_map(map))
		return NULL;
	n = cbor_map_size(map);
	pairs = cbor_map_handle(map);
	for (size_t i = 0; i < n; i++) {
		if (eml_cbor_text_eq(pairs[i].key, key))
			return pairs[i].value;
	}
	return NULL;
}

eml_err
eml_cbor_put_head(struct eml_buf *b, enum eml_cbor_major major, uint64_t v)
{
	uint8_t h[9];
	size_t n;
	uint8_t mt = (uint8_t)((unsigned)major << 5);

	if (v < 24) {
		h[0] = (uint8_t)(mt | v);
		n = 1;
	} else if (v <= 0xff) {
		h[0] = (uint8_t)(mt | 24);
		h[1] = (uint8_t)v;
		n = 2;
	} else if (v <= 0xffff) {
		h[0] = (uint8_t)(mt | 25);
		h[1] = (uint8_t)(v >> 8);
		h[2] = (uint8_t)v;
		n = 3;
	} else if (v <= 0xffffffffu) {
		h[0] = (uint8_t)(mt | 26);
		eml_store_u32be(h + 1, (uint32_t)v);
		n = 5;
	} else {
		h[0] = (uint8_t)(mt | 27);
		eml_store_u64be(h + 1, v);
		n = 9;
	}
	return eml_buf_append(b, h, n);
}

eml_err
eml_cbor_put_bytes(struct eml_buf *b, const void *p, size_t n)
{
	EML_GUARD(eml_cbor_put_head(b, EML_CBOR_BYTES, n));
	return eml_buf_append(b, p, n);
}

eml_err
eml_cbor_put_text(struct eml_buf *b, const char *s)
{
	size_t n = strlen(s);

	EML_GUARD(eml_cbor_put_head(b, EML_CBOR_TEXT, n));
	return eml_buf_append(b, s, n);
}

eml_err
eml_cbor_put_bytes_or_null(struct eml_buf *b, const void *p, size_t n)
{
	if (p == NULL)
		return eml_cbor_put_simple(b, 0xf6);
	return eml_cbor_put_bytes(b, p, n);
}

eml_err
eml_cbor_put_simple(struct eml_buf *b, uint8_t byte)
{
	return eml_buf_append_u8(b, byte);
}
