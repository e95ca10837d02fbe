#include "eml_buf.h"

#include "eml_mem.h"

eml_err
eml_cur_take(struct eml_cur *c, size_t n, const uint8_t **out)
{
	EML_ENSURE(eml_cur_valid(c) && out != NULL, EML_ERR_NULL);
	EML_ENSURE(n <= c->left, EML_ERR_PROTO_TRUNCATED);
	*out = c->p;
	if (n != 0) {
		c->p += n;
		c->left -= n;
	}
	return EML_OK;
}

eml_err
eml_cur_read_bytes(struct eml_cur *c, void *dst, size_t n)
{
	const uint8_t *p;

	EML_ENSURE(dst != NULL || n == 0, EML_ERR_NULL);
	EML_GUARD(eml_cur_take(c, n, &p));
	EML_MEMCPY(dst, p, n);
	return EML_OK;
}

eml_err
eml_cur_sub(struct eml_cur *c, size_t n, struct eml_cur *sub)
{
	const uint8_t *p;

	EML_ENSURE_REF(sub);
	EML_GUARD(eml_cur_take(c, n, &p));
	*sub = eml_cur_make(p, n);
	return EML_OK;
}

eml_err
eml_cur_skip(struct eml_cur *c, size_t n)
{
	const uint8_t *p;

	return eml_cur_take(c, n, &p);
}

eml_err
eml_cur_expect_end(const struct eml_cur *c)
{
	EML_ENSURE(eml_cur_valid(c), EML_ERR_NULL);
	EML_ENSURE(c->left == 0, EML_ERR_PROTO_TRAILING);
	return EML_OK;
}

eml_err
eml_cur_read_u8(struct eml_cur *c, uint8_t *out)
{
	EML_ENSURE_REF(out);
	return eml_cur_read_bytes(c, out, 1);
}

static uint64_t
load_be(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++)
		v = (v << 8) | p[i];
	return v;
}

static uint64_t
load_le(const uint8_t *p, size_t n)
{
	uint64_t v = 0;

	for (size_t i = n; i > 0; i--)
		v = (v << 8) | p[i - 1];
	return v;
}

eml_err
eml_cur_read_u16be(struct eml_cur *c, uint16_t *out)
{
	const uint8_t *p;

	EML_ENSURE_REF(out);
	EML_GUARD(eml_cur_take(c, 2, &p));
	*out = (uint16_t)load_be(p, 2);
	return EML_OK;
}

eml_err
eml_cur_read_u32be(struct eml_cur *c, uint32_t *out)
{
	const uint8_t *p;

	EML_ENSURE_REF(out);
	EML_GUARD(eml_cur_take(c, 4, &p));
	*out = (uint32_t)load_be(p, 4);
	return EML_OK;
}

eml_err
eml_cur_read_u64be(struct eml_cur *c, uint64_t *out)
{
	const uint8_t *p;

	EML_ENSURE_REF(out);
	EML_GUARD(eml_cur_take(c, 8, &p));
	*out = load_be(p, 8);
	return EML_OK;
}

eml_err
eml_cur_read_u32le(struct eml_cur *c, uint32_t *out)
{
	const uint8_t *p;

	EML_ENSURE_REF(out);
	EML_GUARD(eml_cur_take(c, 4, &p));
	*out = (uint32_t)load_le(p, 4);
	return EML_OK;
}

eml_err
eml_cur_read_u64le(struct eml_cur *c, uint64_t *out)
{
	const uint8_t *p;

	EML_ENSURE_REF(out);
	EML_GUARD(eml_cur_take(c, 8, &p));
	*out = load_le(p, 8);
	return EML_OK;
}

static void
buf_init(struct eml_buf *b, size_t max, bool secure)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
	b->secure = secure;
}

void
eml_buf_init(struct eml_buf *b, size_t max)
{
	buf_init(b, max, false);
}

void
eml_buf_init_secure(struct eml_buf *b, size_t max)
{
	buf_init(b, max, true);
}

eml_err
eml_buf_reserve(struct eml_buf *b, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	EML_ENSURE_REF(b);
	EML_ENSURE(!eml_add_overflow(b->len, n, &need), EML_ERR_OVERFLOW);
	EML_ENSURE(need <= b->max, EML_ERR_PROTO_TOO_LARGE);
	if (need <= b->cap)
		return EML_OK;
	/* Grow geometrically (appends stay amortized O(1)), but to exactly
	 * what is asked when that is more than double: one large reserve
	 * (a 32 MiB frame, a sealed message) costs its size, not the next
	 * power of two, which a secure buffer would also lock and every
	 * buffer would wipe on free. Never past the ceiling. */
	cap = b->cap < 32 ? 64 : b->cap > b->max / 2 ? b->max : b->cap * 2;
	if (cap < need)
		cap = need;
	if (cap > b->max)
		cap = b->max;
	p = b->secure ? eml_secure_alloc(cap) : eml_alloc(cap);
	EML_ENSURE(p != NULL, EML_ERR_NOMEM);
	EML_MEMCPY(p, b->data, b->len);
	if (b->secure)
		eml_secure_free(b->data);
	else
		eml_free_wipe(b->data, b->cap);
	b->data = p;
	b->cap = cap;
	return EML_OK;
}

eml_err
eml_buf_extend(struct eml_buf *b, size_t n, uint8_t **where)
{
	EML_ENSURE_REF(where);
	EML_GUARD(eml_buf_reserve(b, n));
	/* An empty buffer may still have no allocation (n == 0): NULL + 0
	 * is undefined in C, so do no arithmetic on it. */
	if (n == 0 && b->data == NULL) {
		*where = NULL;
		return EML_OK;
	}
	*where = b->data + b->len;
	b->len += n;
	return EML_OK;
}

eml_err
eml_buf_append(struct eml_buf *b, const void *p, size_t n)
{
	uint8_t *w;

	EML_ENSURE(p != NULL || n == 0, EML_ERR_NULL);
	EML_GUARD(eml_buf_extend(b, n, &w));
	EML_MEMCPY(w, p, n);
	return EML_OK;
}

eml_err
eml_buf_append_u8(struct eml_buf *b, uint8_t v)
{
	return eml_buf_append(b, &v, 1);
}

eml_err
eml_buf_append_u32be(struct eml_buf *b, uint32_t v)
{
	uint8_t tmp[4];

	eml_store_u32be(tmp, v);
	return eml_buf_append(b, tmp, sizeof(tmp));
}

eml_err
eml_buf_append_u64be(struct eml_buf *b, uint64_t v)
{
	uint8_t tmp[8];

	eml_store_u64be(tmp, v);
	return eml_buf_append(b, tmp, sizeof(tmp));
}

void
eml_buf_reset(struct eml_buf *b)
{
	if (b == NULL)
		return;
	eml_wipe(b->data, b->len);
	b->len = 0;
}

static void
buf_release(struct eml_buf *b, bool wipe)
{
	if (b == NULL)
		return;
	if (b->secure)
		eml_secure_free(b->data); /* always wipes */
	else if (wipe)
		eml_free_wipe(b->data, b->cap);
	else
		eml_free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

void
eml_buf_free(struct eml_buf *b)
{
	buf_release(b, true);
}

void
eml_buf_free_nowipe(struct eml_buf *b)
{
	buf_release(b, false);
}

void
eml_hex_encode(char *dst, const uint8_t *src, size_t n)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		dst[2 * i] = digits[src[i] >> 4];
		dst[2 * i + 1] = digits[src[i] & 15];
	}
	dst[2 * n] = '\0';
}

static int
hex_nibble(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

eml_err
eml_hex_decode(uint8_t *dst, size_t n, const char *hex)
{
	EML_ENSURE(dst != NULL && hex != NULL, EML_ERR_NULL);
	EML_ENSURE(strlen(hex) == 2 * n, EML_ERR_PROTO_DECODE);
	/* Check everything first so a failure leaves dst untouched. */
	for (size_t i = 0; i < 2 * n; i++)
		EML_ENSURE(hex_nibble(hex[i]) >= 0, EML_ERR_PROTO_DECODE);
	for (size_t i = 0; i < n; i++)
		dst[i] = (uint8_t)((hex_nibble(hex[2 * i]) << 4) | hex_nibble(hex[2 * i + 1]));
	return EML_OK;
}

size_t
eml_json_escape_byte(unsigned char c, char out[6])
{
	static const char digits[] = "0123456789abcdef";

	if (c == '"' || c == '\\') {
		out[0] = '\\';
		out[1] = (char)c;
		return 2;
	}
	if (c < 0x20 || c >= 0x7f) {
		memcpy(out, "\\u00", 4);
		out[4] = digits[c >> 4];
		out[5] = digits[c & 15];
		return 6;
	}
	out[0] = (char)c;
	return 1;
}
