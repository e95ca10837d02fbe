#include "eml_cbor.h"

#include <string.h>

#include "eml_mem.h"

/*
 * Decoder state. The same recursive walk runs twice: first with pool NULL,
 * to validate the item and count its nodes, then with pool holding exactly
 * that many, to fill them in. A container's children take consecutive
 * slots of the pool, handed out when the container is opened.
 */
struct dec {
	struct eml_cur c;
	size_t total; /* bytes in the input, for offsets in messages */
	struct eml_cbor_item *pool;
	size_t used; /* nodes counted, or slots handed out */
	size_t cap;
};

static size_t
dec_at(const struct dec *d)
{
	return d->total - d->c.left;
}

static eml_err
dec_bad(const struct dec *d, size_t off, const char *what)
{
	(void)d;
	eml_err_set_detail("CBOR %s at byte %zu", what, off);
	EML_BAIL(EML_ERR_ATTEST_CBOR);
}

static eml_err
dec_limit(size_t off)
{
	eml_err_set_detail("CBOR item at byte %zu: indefinite string, nesting "
			   "deeper than %d, or size larger than the input",
	    off, EML_CBOR_MAX_DEPTH);
	EML_BAIL(EML_ERR_ATTEST_CBOR);
}

/* Head of the next item: major type, additional information and argument
 * (0 for an indefinite length or a break). */
static eml_err
read_head(struct dec *d, uint8_t *major, uint8_t *ai, uint64_t *arg)
{
	size_t off = dec_at(d);
	uint8_t b;
	eml_err rc = EML_OK;

	if (eml_cur_read_u8(&d->c, &b) != EML_OK)
		return dec_bad(d, off, "truncated");
	*major = (uint8_t)(b >> 5);
	*ai = (uint8_t)(b & 0x1f);
	*arg = 0;
	if (*ai < 24) {
		*arg = *ai;
	} else if (*ai == 24) {
		uint8_t x = 0;

		rc = eml_cur_read_u8(&d->c, &x);
		*arg = x;
	} else if (*ai == 25) {
		uint16_t x = 0;

		rc = eml_cur_read_u16be(&d->c, &x);
		*arg = x;
	} else if (*ai == 26) {
		uint32_t x = 0;

		rc = eml_cur_read_u32be(&d->c, &x);
		*arg = x;
	} else if (*ai == 27) {
		rc = eml_cur_read_u64be(&d->c, arg);
	} else if (*ai != 31) {
		return dec_bad(d, off, "malformed");
	}
	if (rc != EML_OK)
		return dec_bad(d, off, "truncated");
	return EML_OK;
}

static eml_err parse_item(struct dec *d, size_t depth, struct eml_cbor_item *slot, bool *brk);

/* Number of items before the break of the indefinite container whose head
 * was just read; the cursor is left where it was. */
static eml_err
count_indefinite(struct dec *d, size_t depth, size_t *k)
{
	struct dec sub = *d;

	sub.pool = NULL;
	*k = 0;
	for (;;) {
		bool brk = false;

		EML_GUARD(parse_item(&sub, depth, NULL, &brk));
		if (brk)
			return EML_OK;
		(*k)++;
	}
}

/*
 * The children of a container (or the tagged item of a tag) whose head
 * started at off. nkids is the number of child items for a definite
 * length (pairs count twice); it is ignored for an indefinite one.
 */
static eml_err
parse_kids(struct dec *d, size_t depth, size_t off, struct eml_cbor_item *it, size_t nkids)
{
	struct eml_cbor_item *kids = NULL;
	size_t k = nkids;

	if (!it->indefinite && nkids == 0)
		return EML_OK;
	if (depth >= EML_CBOR_MAX_DEPTH)
		return dec_limit(off);
	if (d->pool != NULL) {
		if (it->indefinite)
			EML_GUARD(count_indefinite(d, depth + 1, &k));
		if (k > d->cap - d->used)
			EML_BAIL(EML_ERR_INTERNAL);
		kids = d->pool + d->used;
		d->used += k;
	} else if (!it->indefinite) {
		d->used += k;
	}
	for (size_t i = 0;; i++) {
		bool brk = false;

		if (!it->indefinite && i == nkids)
			break;
		if (d->pool != NULL && it->indefinite && i > k)
			EML_BAIL(EML_ERR_INTERNAL);
		EML_GUARD(parse_item(d, depth + 1, kids != NULL && i < k ? &kids[i] : NULL,
		    it->indefinite ? &brk : NULL));
		if (brk) {
			k = i;
			break;
		}
		if (d->pool == NULL && it->indefinite)
			d->used++;
	}
	if (it->kind == EML_CBOR_K_MAP && k % 2 != 0)
		return dec_bad(d, off, "malformed (map without a value for its last key)");
	it->kids = kids;
	it->n = it->kind == EML_CBOR_K_MAP ? k / 2 : k;
	return EML_OK;
}

/*
 * One item at the cursor into *slot (NULL while counting). brk is NULL
 * outside an indefinite container, where a break is malformed; inside one,
 * *brk tells that the break was read instead of an item.
 */
static eml_err
parse_item(struct dec *d, size_t depth, struct eml_cbor_item *slot, bool *brk)
{
	struct eml_cbor_item it;
	size_t off = dec_at(d);
	uint8_t major = 0;
	uint8_t ai = 0;
	uint64_t arg = 0;

	memset(&it, 0, sizeof(it));
	if (brk != NULL)
		*brk = false;
	EML_GUARD(read_head(d, &major, &ai, &arg));
	if (ai == 31) {
		if (major == 7) {
			if (brk == NULL)
				return dec_bad(d, off, "malformed (break outside an indefinite container)");
			*brk = true;
			return EML_OK;
		}
		/* Nothing we read uses indefinite strings, and refusing them
		 * keeps every string one contiguous run of the input. */
		if (major == 2 || major == 3)
			return dec_limit(off);
		if (major != 4 && major != 5)
			return dec_bad(d, off, "malformed");
		it.indefinite = true;
	}
	switch (major) {
	case 0:
		it.kind = EML_CBOR_K_UINT;
		it.v = arg;
		break;
	case 1:
		it.kind = EML_CBOR_K_NEGINT;
		it.v = arg;
		break;
	case 2:
	case 3:
		it.kind = major == 2 ? EML_CBOR_K_BYTES : EML_CBOR_K_TEXT;
		if (arg > d->c.left)
			return dec_bad(d, off, "truncated");
		it.p = d->c.p;
		it.n = (size_t)arg;
		if (eml_cur_skip(&d->c, it.n) != EML_OK)
			EML_BAIL(EML_ERR_INTERNAL);
		break;
	case 4:
		it.kind = EML_CBOR_K_ARRAY;
		/* Every item takes at least one byte. */
		if (!it.indefinite && arg > d->c.left)
			return dec_limit(off);
		EML_GUARD(parse_kids(d, depth, off, &it, (size_t)arg));
		break;
	case 5:
		it.kind = EML_CBOR_K_MAP;
		if (!it.indefinite && arg > d->c.left / 2)
			return dec_limit(off);
		EML_GUARD(parse_kids(d, depth, off, &it, 2 * (size_t)arg));
		break;
	case 6:
		it.kind = EML_CBOR_K_TAG;
		it.v = arg;
		EML_GUARD(parse_kids(d, depth, off, &it, 1));
		break;
	default:
		if (ai >= 20 && ai <= 23) {
			it.kind = EML_CBOR_K_SIMPLE;
			it.v = ai;
		} else if (ai >= 25 && ai <= 27) {
			it.kind = EML_CBOR_K_FLOAT;
		} else {
			return dec_bad(d, off, "malformed (unsupported simple value)");
		}
		break;
	}
	if (slot != NULL)
		*slot = it;
	return EML_OK;
}

eml_err
eml_cbor_decode(struct eml_cur *c, struct eml_cbor_item **out)
{
	struct dec d;
	struct eml_cbor_item *pool;
	eml_err rc;

	EML_ENSURE_REF(c);
	EML_ENSURE_REF(out);
	EML_ENSURE(eml_cur_valid(c), EML_ERR_NULL);
	*out = NULL;
	memset(&d, 0, sizeof(d));
	d.c = *c;
	d.total = c->left;
	d.used = 1;
	EML_GUARD(parse_item(&d, 0, NULL, NULL));
	/* Each node took at least one input byte, so this is bounded by the
	 * input's length. */
	pool = eml_calloc(d.used, sizeof(*pool));
	if (pool == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	d.cap = d.used;
	d.used = 1;
	d.c = *c;
	d.pool = pool;
	rc = parse_item(&d, 0, &pool[0], NULL);
	if (rc == EML_OK && d.used != d.cap)
		rc = eml_err_record(EML_ERR_INTERNAL, __FILE__, __LINE__, __func__);
	if (rc != EML_OK) {
		eml_free(pool);
		return rc;
	}
	*c = d.c;
	*out = pool;
	return EML_OK;
}

void
eml_cbor_free(struct eml_cbor_item **it)
{
	if (it == NULL)
		return;
	eml_free(*it);
	*it = NULL;
}

static bool
is_kind(const struct eml_cbor_item *it, enum eml_cbor_kind k)
{
	return it != NULL && it->kind == k;
}

bool
eml_cbor_is_uint(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_UINT);
}

bool
eml_cbor_is_negint(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_NEGINT);
}

bool
eml_cbor_is_text(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_TEXT);
}

bool
eml_cbor_is_array(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_ARRAY);
}

bool
eml_cbor_is_map(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_MAP);
}

bool
eml_cbor_is_tag(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_TAG);
}

bool
eml_cbor_is_bool(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_SIMPLE) && (it->v == 20 || it->v == 21);
}

bool
eml_cbor_is_null(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_SIMPLE) && it->v == 22;
}

bool
eml_cbor_is_indefinite(const struct eml_cbor_item *it)
{
	return (is_kind(it, EML_CBOR_K_ARRAY) || is_kind(it, EML_CBOR_K_MAP)) && it->indefinite;
}

eml_err
eml_cbor_get_bytes(const struct eml_cbor_item *it, const uint8_t **p, size_t *n)
{
	EML_ENSURE_REF(it);
	EML_ENSURE(it->kind == EML_CBOR_K_BYTES, EML_ERR_ATTEST_FIELD_TYPE);
	*n = it->n;
	*p = it->p;
	return EML_OK;
}

eml_err
eml_cbor_get_text(const struct eml_cbor_item *it, const char **p, size_t *n)
{
	EML_ENSURE_REF(it);
	EML_ENSURE(it->kind == EML_CBOR_K_TEXT, EML_ERR_ATTEST_FIELD_TYPE);
	*n = it->n;
	*p = (const char *)it->p;
	return EML_OK;
}

eml_err
eml_cbor_get_uint(const struct eml_cbor_item *it, uint64_t *v)
{
	EML_ENSURE_REF(it);
	EML_ENSURE(it->kind == EML_CBOR_K_UINT, EML_ERR_ATTEST_FIELD_TYPE);
	*v = it->v;
	return EML_OK;
}

eml_err
eml_cbor_get_negint(const struct eml_cbor_item *it, uint64_t *arg)
{
	EML_ENSURE_REF(it);
	EML_ENSURE(it->kind == EML_CBOR_K_NEGINT, EML_ERR_ATTEST_FIELD_TYPE);
	*arg = it->v;
	return EML_OK;
}

eml_err
eml_cbor_get_bool(const struct eml_cbor_item *it, bool *v)
{
	EML_ENSURE_REF(it);
	EML_ENSURE(eml_cbor_is_bool(it), EML_ERR_ATTEST_FIELD_TYPE);
	*v = it->v == 21;
	return EML_OK;
}

bool
eml_cbor_text_eq(const struct eml_cbor_item *it, const char *s)
{
	const char *p;
	size_t n;
	size_t sl = strlen(s);

	if (eml_cbor_get_text(it, &p, &n) != EML_OK || n != sl)
		return false;
	return n == 0 || memcmp(p, s, n) == 0;
}

bool
eml_cbor_uint_eq(const struct eml_cbor_item *it, uint64_t v)
{
	return is_kind(it, EML_CBOR_K_UINT) && it->v == v;
}

size_t
eml_cbor_array_size(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_ARRAY) ? it->n : 0;
}

const struct eml_cbor_item *
eml_cbor_array_get(const struct eml_cbor_item *it, size_t i)
{
	return is_kind(it, EML_CBOR_K_ARRAY) && i < it->n ? &it->kids[i] : NULL;
}

size_t
eml_cbor_map_size(const struct eml_cbor_item *it)
{
	return is_kind(it, EML_CBOR_K_MAP) ? it->n : 0;
}

const struct eml_cbor_item *
eml_cbor_map_key(const struct eml_cbor_item *it, size_t i)
{
	return is_kind(it, EML_CBOR_K_MAP) && i < it->n ? &it->kids[2 * i] : NULL;
}

const struct eml_cbor_item *
eml_cbor_map_value(const struct eml_cbor_item *it, size_t i)
{
	return is_kind(it, EML_CBOR_K_MAP) && i < it->n ? &it->kids[2 * i + 1] : NULL;
}

static bool
key_equal(const struct eml_cbor_item *a, const struct eml_cbor_item *b)
{
	if (a->kind == EML_CBOR_K_TEXT)
		return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
	return a->v == b->v;
}

eml_err
eml_cbor_map_check(const struct eml_cbor_item *map, bool text_keys, size_t max_pairs)
{
	size_t n;

	EML_ENSURE_REF(map);
	EML_ENSURE(map->kind == EML_CBOR_K_MAP, EML_ERR_ATTEST_FIELD_TYPE);
	n = map->n;
	if (n > max_pairs) {
		eml_err_set_detail("map has %zu entries, at most %zu allowed", n, max_pairs);
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	}
	for (size_t i = 0; i < n; i++) {
		const struct eml_cbor_item *k = &map->kids[2 * i];

		if (k->kind != (text_keys ? EML_CBOR_K_TEXT : EML_CBOR_K_UINT)) {
			eml_err_set_detail("map key %zu is not %s", i,
			    text_keys ? "a text string" : "an unsigned integer");
			EML_BAIL(EML_ERR_ATTEST_FIELD_TYPE);
		}
		for (size_t j = 0; j < i; j++) {
			if (key_equal(&map->kids[2 * j], k)) {
				eml_err_set_detail("map key %zu repeats key %zu", i, j);
				EML_BAIL(EML_ERR_ATTEST_DUP_KEY);
			}
		}
	}
	return EML_OK;
}

const struct eml_cbor_item *
eml_cbor_map_get(const struct eml_cbor_item *map, const char *key)
{
	for (size_t i = 0; i < eml_cbor_map_size(map); i++) {
		if (eml_cbor_text_eq(&map->kids[2 * i], key))
			return &map->kids[2 * i + 1];
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
