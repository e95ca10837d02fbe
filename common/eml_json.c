/*
 * Strict JSON parsing and RFC 8785 canonical serialization (eml_json.h).
 * Used for evidence artifacts, where the signed bytes are the canonical
 * form, so two parsers that disagree on what a document means must not
 * exist: anything ambiguous (duplicate names, lone surrogates, numbers
 * beyond a double) is refused instead of interpreted.
 */
#include "eml_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "eml_mem.h"
#include "eml_sort.h"

/* Public bytes only (names, literals): no constant-time need. */
static bool
bytes_eq(const void *a, const void *b, size_t n)
{
	return n == 0 || memcmp(a, b, n) == 0;
}

struct parser {
	struct eml_cur c;
	size_t total;
	size_t nodes;
};

static size_t
pos(const struct parser *ps)
{
	return ps->total - ps->c.left;
}

static eml_err
perr(const struct parser *ps, const char *what)
{
	eml_err_set_detail("JSON: %s at byte %zu", what, pos(ps));
	EML_BAIL(EML_ERR_JSON);
}

static void
skip_ws(struct parser *ps)
{
	/* RFC 8259 §2: space, tab, line feed, carriage return only. */
	while (ps->c.left > 0) {
		uint8_t b = ps->c.p[0];

		if (b != ' ' && b != '\t' && b != '\n' && b != '\r')
			break;
		ps->c.p++;
		ps->c.left--;
	}
}

static int
peek(const struct parser *ps)
{
	return ps->c.left > 0 ? ps->c.p[0] : -1;
}

static eml_err
expect_lit(struct parser *ps, const char *lit)
{
	size_t n = strlen(lit);

	if (ps->c.left < n || !bytes_eq(ps->c.p, lit, n))
		return perr(ps, ps->c.left < n ? "truncated literal" : "invalid literal");
	ps->c.p += n;
	ps->c.left -= n;
	return EML_OK;
}

/* ---------------------------------------------------------------- UTF-8 */

/* Decode one UTF-8 sequence strictly (RFC 3629): no overlongs, no
 * surrogates, nothing above U+10FFFF. Returns its length, 0 if invalid. */
static size_t
utf8_decode(const uint8_t *p, size_t left, uint32_t *cp)
{
	uint8_t b0 = p[0];
	size_t len;
	uint32_t v, min;

	if (b0 < 0x80) {
		*cp = b0;
		return 1;
	}
	if (b0 >= 0xc2 && b0 <= 0xdf) {
		len = 2;
		v = b0 & 0x1fu;
		min = 0x80;
	} else if (b0 >= 0xe0 && b0 <= 0xef) {
		len = 3;
		v = b0 & 0x0fu;
		min = 0x800;
	} else if (b0 >= 0xf0 && b0 <= 0xf4) {
		len = 4;
		v = b0 & 0x07u;
		min = 0x10000;
	} else {
		return 0;
	}
	if (left < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		v = (v << 6) | (p[i] & 0x3fu);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		return 0;
	*cp = v;
	return len;
}

static eml_err
utf8_put(struct eml_buf *b, uint32_t cp)
{
	uint8_t t[4];
	size_t n;

	if (cp < 0x80) {
		t[0] = (uint8_t)cp;
		n = 1;
	} else if (cp < 0x800) {
		t[0] = (uint8_t)(0xc0 | (cp >> 6));
		t[1] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 2;
	} else if (cp < 0x10000) {
		t[0] = (uint8_t)(0xe0 | (cp >> 12));
		t[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		t[2] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 3;
	} else {
		t[0] = (uint8_t)(0xf0 | (cp >> 18));
		t[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
		t[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
		t[3] = (uint8_t)(0x80 | (cp & 0x3f));
		n = 4;
	}
	return eml_buf_append(b, t, n);
}

/* ---------------------------------------------------------------- strings */

static int
hexval(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static eml_err
read_u4(struct parser *ps, uint32_t *out)
{
	uint32_t v = 0;

	if (ps->c.left < 4)
		return perr(ps, "truncated \\u escape");
	for (int i = 0; i < 4; i++) {
		int h = hexval(ps->c.p[i]);

		if (h < 0)
			return perr(ps, "bad hex digit in \\u escape");
		v = (v << 4) | (uint32_t)h;
	}
	ps->c.p += 4;
	ps->c.left -= 4;
	*out = v;
	return EML_OK;
}

static eml_err
read_escape(struct parser *ps, struct eml_buf *b)
{
	uint8_t e;
	uint32_t cp, lo;

	if (ps->c.left == 0)
		return perr(ps, "truncated escape");
	e = ps->c.p[0];
	ps->c.p++;
	ps->c.left--;
	switch (e) {
	case '"':
	case '\\':
	case '/':
		return eml_buf_append_u8(b, e);
	case 'b':
		return eml_buf_append_u8(b, '\b');
	case 'f':
		return eml_buf_append_u8(b, '\f');
	case 'n':
		return eml_buf_append_u8(b, '\n');
	case 'r':
		return eml_buf_append_u8(b, '\r');
	case 't':
		return eml_buf_append_u8(b, '\t');
	case 'u':
		break;
	default:
		return perr(ps, "invalid escape");
	}
	EML_GUARD(read_u4(ps, &cp));
	if (cp >= 0xdc00 && cp <= 0xdfff)
		return perr(ps, "lone low surrogate");
	if (cp >= 0xd800 && cp <= 0xdbff) {
		/* RFC 7493 §2.1: no lone surrogates; the pair must follow. */
		if (ps->c.left < 2 || ps->c.p[0] != '\\' || ps->c.p[1] != 'u')
			return perr(ps, "lone high surrogate");
		ps->c.p += 2;
		ps->c.left -= 2;
		EML_GUARD(read_u4(ps, &lo));
		if (lo < 0xdc00 || lo > 0xdfff)
			return perr(ps, "high surrogate without low surrogate");
		cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
	}
	return utf8_put(b, cp);
}

/* A string after its opening quote; *out is a NUL-terminated copy. */
static eml_err
read_string(struct parser *ps, char **out, size_t *out_len)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf b;
	uint8_t *w = NULL;

	eml_buf_init(&b, ps->total + 1);
	for (;;) {
		uint8_t ch;
		uint32_t cp;
		size_t len;

		if (ps->c.left == 0) {
			rc = perr(ps, "unterminated string");
			goto out;
		}
		ch = ps->c.p[0];
		if (ch == '"') {
			ps->c.p++;
			ps->c.left--;
			break;
		}
		if (ch == '\\') {
			ps->c.p++;
			ps->c.left--;
			if ((rc = read_escape(ps, &b)) != EML_OK)
				goto out;
			continue;
		}
		if (ch < 0x20) {
			rc = perr(ps, "control character in string");
			goto out;
		}
		len = utf8_decode(ps->c.p, ps->c.left, &cp);
		if (len == 0) {
			rc = perr(ps, "invalid UTF-8");
			goto out;
		}
		if ((rc = eml_buf_append(&b, ps->c.p, len)) != EML_OK)
			goto out;
		ps->c.p += len;
		ps->c.left -= len;
	}
	w = eml_alloc(b.len + 1);
	if (w == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	EML_MEMCPY(w, b.data, b.len);
	w[b.len] = '\0';
	*out = (char *)w;
	*out_len = b.len;
	rc = EML_OK;
out:
	eml_buf_free_nowipe(&b);
	return rc;
}

/* ---------------------------------------------------------------- numbers */

static size_t
digits(const struct eml_cur *c, size_t at)
{
	size_t n = 0;

	while (at + n < c->left && c->p[at + n] >= '0' && c->p[at + n] <= '9')
		n++;
	return n;
}

static eml_err
read_number(struct parser *ps, double *out)
{
	const struct eml_cur *c = &ps->c;
	size_t i = 0, d;
	char text[EML_JSON_NUMBER_TEXT_MAX + 1];
	char *end = NULL;
	double v;

	/* RFC 8259 §6: -? int frac? exp? ; int = 0 | [1-9][0-9]* */
	if (i < c->left && c->p[i] == '-')
		i++;
	d = digits(c, i);
	if (d == 0)
		return perr(ps, "invalid number");
	if (d > 1 && c->p[i] == '0')
		return perr(ps, "leading zero in number");
	i += d;
	if (i < c->left && c->p[i] == '.') {
		d = digits(c, i + 1);
		if (d == 0)
			return perr(ps, "no digits after the decimal point");
		i += 1 + d;
	}
	if (i < c->left && (c->p[i] == 'e' || c->p[i] == 'E')) {
		i++;
		if (i < c->left && (c->p[i] == '+' || c->p[i] == '-'))
			i++;
		d = digits(c, i);
		if (d == 0)
			return perr(ps, "no digits in exponent");
		i += d;
	}
	if (i > EML_JSON_NUMBER_TEXT_MAX)
		return perr(ps, "number too long");
	EML_MEMCPY(text, c->p, i);
	text[i] = '\0';
	v = strtod(text, &end);
	if (end != text + i)
		return perr(ps, "invalid number");
	/* RFC 8785 §3.2.2.3 works on IEEE 754 doubles: a number beyond
	 * their range has no canonical form. */
	if (!isfinite(v))
		return perr(ps, "number out of the range of a double");
	ps->c.p += i;
	ps->c.left -= i;
	*out = v;
	return EML_OK;
}

/* ---------------------------------------------------------------- values */

static eml_err parse_value(struct parser *ps, struct eml_json *v, unsigned depth);

static eml_err
push_item(struct eml_json *v, size_t *cap, struct eml_json **slot)
{
	if (v->n == *cap) {
		size_t ncap = *cap == 0 ? 4 : *cap * 2;
		struct eml_json *ni;

		if (ncap > EML_JSON_MAX_NODES)
			ncap = EML_JSON_MAX_NODES;
		if (ncap <= v->n)
			EML_BAIL(EML_ERR_JSON);
		ni = eml_realloc(v->items, ncap * sizeof(*ni));
		EML_ENSURE(ni != NULL, EML_ERR_NOMEM);
		v->items = ni;
		*cap = ncap;
	}
	*slot = &v->items[v->n];
	memset(*slot, 0, sizeof(**slot));
	v->n++;
	return EML_OK;
}

static eml_err
parse_array(struct parser *ps, struct eml_json *v, unsigned depth)
{
	size_t cap = 0;

	v->type = EML_JSON_ARRAY;
	skip_ws(ps);
	if (peek(ps) == ']') {
		ps->c.p++;
		ps->c.left--;
		return EML_OK;
	}
	for (;;) {
		struct eml_json *it;
		int ch;

		EML_GUARD(push_item(v, &cap, &it));
		EML_GUARD(parse_value(ps, it, depth + 1));
		skip_ws(ps);
		ch = peek(ps);
		if (ch < 0)
			return perr(ps, "unterminated array");
		ps->c.p++;
		ps->c.left--;
		if (ch == ']')
			return EML_OK;
		if (ch != ',')
			return perr(ps, "expected ',' or ']'");
	}
}

/* Member order for canonical output (RFC 8785 §3.2.3) and for finding
 * duplicates: UTF-16 code units, then length. */
static int
member_cmp(const void *a, const void *b)
{
	const struct eml_json *x = *(const struct eml_json *const *)a;
	const struct eml_json *y = *(const struct eml_json *const *)b;

	return eml_json_utf16_cmp(x->key, x->key_len, y->key, y->key_len);
}

/* Pointers to the members of v, sorted; *out is eml_free'd by the caller. */
static eml_err
sorted_members(const struct eml_json *v, const struct eml_json ***out)
{
	const struct eml_json **ord = NULL;

	*out = NULL;
	if (v->n == 0)
		return EML_OK;
	ord = eml_calloc(v->n, sizeof(*ord));
	EML_ENSURE(ord != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < v->n; i++)
		ord[i] = &v->items[i];
	eml_sort(ord, v->n, sizeof(*ord), member_cmp);
	*out = ord;
	return EML_OK;
}

/* RFC 7493 §2.3: member names are unique. Sorting first keeps this
 * O(n log n) for an object of many members. */
static eml_err
check_unique(struct parser *ps, const struct eml_json *v)
{
	const struct eml_json **ord = NULL;
	eml_err rc = EML_OK;

	EML_GUARD(sorted_members(v, &ord));
	for (size_t i = 1; i < v->n; i++) {
		if (ord[i]->key_len == ord[i - 1]->key_len &&
		    bytes_eq(ord[i]->key, ord[i - 1]->key, ord[i]->key_len)) {
			eml_err_set_detail("JSON: duplicate member name \"%.64s\" in the object "
					   "ending at byte %zu", ord[i]->key, pos(ps));
			rc = EML_ERR_JSON;
			break;
		}
	}
	eml_free(ord);
	return rc == EML_OK ? EML_OK : eml_err_record(rc, __FILE__, __LINE__, __func__);
}

static eml_err
parse_object(struct parser *ps, struct eml_json *v, unsigned depth)
{
	size_t cap = 0;

	v->type = EML_JSON_OBJECT;
	skip_ws(ps);
	if (peek(ps) == '}') {
		ps->c.p++;
		ps->c.left--;
		return EML_OK;
	}
	for (;;) {
		struct eml_json *it;
		char *key = NULL;
		size_t key_len = 0;
		int ch;

		skip_ws(ps);
		if (peek(ps) != '"')
			return perr(ps, ps->c.left == 0 ? "unterminated object" : "expected a member name");
		ps->c.p++;
		ps->c.left--;
		EML_GUARD(read_string(ps, &key, &key_len));
		if (push_item(v, &cap, &it) != EML_OK) {
			eml_free(key);
			EML_BAIL(EML_ERR_NOMEM);
		}
		it->key = key;
		it->key_len = key_len;
		skip_ws(ps);
		if (peek(ps) != ':')
			return perr(ps, ps->c.left == 0 ? "unterminated object" : "expected ':'");
		ps->c.p++;
		ps->c.left--;
		EML_GUARD(parse_value(ps, it, depth + 1));
		skip_ws(ps);
		ch = peek(ps);
		if (ch < 0)
			return perr(ps, "unterminated object");
		ps->c.p++;
		ps->c.left--;
		if (ch == '}')
			return check_unique(ps, v);
		if (ch != ',')
			return perr(ps, "expected ',' or '}'");
	}
}

static eml_err
parse_value(struct parser *ps, struct eml_json *v, unsigned depth)
{
	int ch;

	if (depth > EML_JSON_MAX_DEPTH)
		return perr(ps, "nesting too deep");
	if (++ps->nodes > EML_JSON_MAX_NODES)
		return perr(ps, "too many values");
	skip_ws(ps);
	ch = peek(ps);
	switch (ch) {
	case -1:
		return perr(ps, "truncated: value expected");
	case '{':
		ps->c.p++;
		ps->c.left--;
		return parse_object(ps, v, depth);
	case '[':
		ps->c.p++;
		ps->c.left--;
		return parse_array(ps, v, depth);
	case '"':
		ps->c.p++;
		ps->c.left--;
		v->type = EML_JSON_STRING;
		return read_string(ps, &v->str, &v->str_len);
	case 't':
		v->type = EML_JSON_TRUE;
		return expect_lit(ps, "true");
	case 'f':
		v->type = EML_JSON_FALSE;
		return expect_lit(ps, "false");
	case 'n':
		v->type = EML_JSON_NULL;
		return expect_lit(ps, "null");
	default:
		if (ch == '-' || (ch >= '0' && ch <= '9')) {
			v->type = EML_JSON_NUMBER;
			return read_number(ps, &v->num);
		}
		return perr(ps, "unexpected character");
	}
}

static void
free_inner(struct eml_json *v)
{
	for (size_t i = 0; i < v->n; i++) {
		free_inner(&v->items[i]);
		eml_free(v->items[i].key);
	}
	eml_free(v->items);
	eml_free(v->str);
}

void
eml_json_free(struct eml_json *v)
{
	if (v == NULL)
		return;
	free_inner(v);
	eml_free(v);
}

eml_err
eml_json_parse(const uint8_t *p, size_t n, struct eml_json **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct parser ps;
	struct eml_json *v = NULL;

	if (out == NULL || (p == NULL && n != 0))
		EML_BAIL(EML_ERR_NULL);
	*out = NULL;
	ps.c = eml_cur_make(p, n);
	ps.total = n;
	ps.nodes = 0;
	/* RFC 8259 §8.1: no byte order mark. */
	if (n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf) {
		rc = perr(&ps, "byte order mark");
		goto out;
	}
	v = eml_calloc(1, sizeof(*v));
	if (v == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = parse_value(&ps, v, 0)) != EML_OK)
		goto out;
	skip_ws(&ps);
	if (ps.c.left != 0) {
		rc = perr(&ps, "bytes after the value");
		goto out;
	}
	*out = v;
	v = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_json_free(v);
	return rc;
}

const struct eml_json *
eml_json_get(const struct eml_json *obj, const char *key)
{
	size_t n;

	if (obj == NULL || obj->type != EML_JSON_OBJECT || key == NULL)
		return NULL;
	n = strlen(key);
	for (size_t i = 0; i < obj->n; i++)
		if (obj->items[i].key_len == n && bytes_eq(obj->items[i].key, key, n))
			return &obj->items[i];
	return NULL;
}

/* ---------------------------------------------------------------- canonical */

eml_err
eml_json_number(double v, char out[EML_JSON_NUMBER_OUT_MAX])
{
	char e[40], s[20];
	size_t k = 0, o = 0;
	int prec, n;
	const char *q;
	double a;

	if (!isfinite(v)) {
		eml_err_set_detail("JSON: NaN or infinity has no JSON form");
		EML_BAIL(EML_ERR_JSON);
	}
	/* ECMAScript: +0 and -0 are both "0". */
	if (v == 0.0) {
		out[0] = '0';
		out[1] = '\0';
		return EML_OK;
	}
	a = fabs(v);
	/* The fewest significant digits that read back as the same double.
	 * For each precision %e rounds correctly, so the first that round-
	 * trips is the closest of that length, as ECMAScript requires. */
	for (prec = 1; prec <= 17; prec++) {
		(void)snprintf(e, sizeof(e), "%.*e", prec - 1, a);
		if (strtod(e, NULL) == a)
			break;
	}
	/* e is "d[.ddd]e[+-]xx": collect the digits, then the exponent. */
	for (q = e; *q != 'e'; q++)
		if (*q >= '0' && *q <= '9')
			s[k++] = *q;
	while (k > 1 && s[k - 1] == '0')
		k--;
	n = (int)strtol(q + 1, NULL, 10) + 1; /* value = 0.s x 10^n */
	if (v < 0)
		out[o++] = '-';
	if ((int)k <= n && n <= 21) {
		/* Integer: the digits, then n - k zeros. */
		EML_MEMCPY(out + o, s, k);
		o += k;
		for (int i = 0; i < n - (int)k; i++)
			out[o++] = '0';
	} else if (0 < n && n <= 21) {
		EML_MEMCPY(out + o, s, (size_t)n);
		o += (size_t)n;
		out[o++] = '.';
		EML_MEMCPY(out + o, s + n, k - (size_t)n);
		o += k - (size_t)n;
	} else if (-6 < n && n <= 0) {
		out[o++] = '0';
		out[o++] = '.';
		for (int i = 0; i < -n; i++)
			out[o++] = '0';
		EML_MEMCPY(out + o, s, k);
		o += k;
	} else {
		int ex = n - 1;

		out[o++] = s[0];
		if (k > 1) {
			out[o++] = '.';
			EML_MEMCPY(out + o, s + 1, k - 1);
			o += k - 1;
		}
		o += (size_t)snprintf(out + o, EML_JSON_NUMBER_OUT_MAX - o, "e%c%d",
		    ex < 0 ? '-' : '+', ex < 0 ? -ex : ex);
	}
	out[o] = '\0';
	return EML_OK;
}

eml_err
eml_json_put_string(struct eml_buf *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";

	EML_GUARD(eml_buf_append_u8(out, '"'));
	for (size_t i = 0; i < n; i++) {
		uint8_t c = (uint8_t)s[i];
		char esc[6];
		size_t m = 2;

		/* RFC 8785 §3.2.2.2: the two-character escapes where they exist,
		 * \u00xx (lower-case hex) for other controls, every other
		 * character as itself. */
		esc[0] = '\\';
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\b':
			esc[1] = 'b';
			break;
		case '\f':
			esc[1] = 'f';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			if (c >= 0x20) {
				EML_GUARD(eml_buf_append_u8(out, c));
				continue;
			}
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			m = 6;
			break;
		}
		EML_GUARD(eml_buf_append(out, esc, m));
	}
	return eml_buf_append_u8(out, '"');
}

/* Next UTF-16 code unit of a valid UTF-8 string; false at the end. */
struct u16it {
	const uint8_t *p;
	size_t n, i;
	uint16_t low;
	bool has_low;
};

static bool
u16_next(struct u16it *it, uint16_t *u)
{
	uint32_t cp = 0;
	size_t len;

	if (it->has_low) {
		it->has_low = false;
		*u = it->low;
		return true;
	}
	if (it->i >= it->n)
		return false;
	len = utf8_decode(it->p + it->i, it->n - it->i, &cp);
	if (len == 0) {
		/* Not reached for parsed strings; order raw bytes stably. */
		cp = it->p[it->i];
		len = 1;
	}
	it->i += len;
	if (cp >= 0x10000) {
		cp -= 0x10000;
		*u = (uint16_t)(0xd800 + (cp >> 10));
		it->low = (uint16_t)(0xdc00 + (cp & 0x3ff));
		it->has_low = true;
		return true;
	}
	*u = (uint16_t)cp;
	return true;
}

int
eml_json_utf16_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	struct u16it x = { (const uint8_t *)a, an, 0, 0, false };
	struct u16it y = { (const uint8_t *)b, bn, 0, 0, false };

	for (;;) {
		uint16_t ua = 0, ub = 0;
		bool ha = u16_next(&x, &ua), hb = u16_next(&y, &ub);

		if (!ha || !hb)
			return (int)ha - (int)hb;
		if (ua != ub)
			return ua < ub ? -1 : 1;
	}
}

static eml_err write_value(const struct eml_json *v, const char *const *skip,
    struct eml_buf *out);

static bool
skipped(const struct eml_json *m, const char *const *skip)
{
	for (; skip != NULL && *skip != NULL; skip++)
		if (m->key_len == strlen(*skip) && bytes_eq(m->key, *skip, m->key_len))
			return true;
	return false;
}

static eml_err
write_object(const struct eml_json *v, const char *const *skip, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	const struct eml_json **ord = NULL;
	bool first = true;

	EML_GUARD(sorted_members(v, &ord));
	if ((rc = eml_buf_append_u8(out, '{')) != EML_OK)
		goto out;
	for (size_t i = 0; i < v->n; i++) {
		const struct eml_json *m = ord[i];

		if (skipped(m, skip))
			continue;
		if ((!first && (rc = eml_buf_append_u8(out, ',')) != EML_OK) ||
		    (rc = eml_json_put_string(out, m->key, m->key_len)) != EML_OK ||
		    (rc = eml_buf_append_u8(out, ':')) != EML_OK ||
		    (rc = write_value(m, NULL, out)) != EML_OK)
			goto out;
		first = false;
	}
	rc = eml_buf_append_u8(out, '}');
out:
	eml_free(ord);
	return rc;
}

static eml_err
write_value(const struct eml_json *v, const char *const *skip, struct eml_buf *out)
{
	char num[EML_JSON_NUMBER_OUT_MAX];

	switch (v->type) {
	case EML_JSON_NULL:
		return eml_buf_append(out, "null", 4);
	case EML_JSON_FALSE:
		return eml_buf_append(out, "false", 5);
	case EML_JSON_TRUE:
		return eml_buf_append(out, "true", 4);
	case EML_JSON_NUMBER:
		EML_GUARD(eml_json_number(v->num, num));
		return eml_buf_append(out, num, strlen(num));
	case EML_JSON_STRING:
		return eml_json_put_string(out, v->str, v->str_len);
	case EML_JSON_ARRAY:
		EML_GUARD(eml_buf_append_u8(out, '['));
		for (size_t i = 0; i < v->n; i++) {
			if (i > 0)
				EML_GUARD(eml_buf_append_u8(out, ','));
			EML_GUARD(write_value(&v->items[i], NULL, out));
		}
		return eml_buf_append_u8(out, ']');
	case EML_JSON_OBJECT:
		return write_object(v, skip, out);
	default:
		EML_BAIL(EML_ERR_INTERNAL);
	}
}

eml_err
eml_json_canonical(const struct eml_json *v, const char *const *skip, struct eml_buf *out)
{
	EML_ENSURE_REF(v);
	EML_ENSURE_REF(out);
	return write_value(v, skip, out);
}

eml_err
eml_json_canonicalize(const uint8_t *p, size_t n, struct eml_buf *out)
{
	struct eml_json *v = NULL;
	eml_err rc;

	EML_GUARD(eml_json_parse(p, n, &v));
	rc = eml_json_canonical(v, NULL, out);
	eml_json_free(v);
	return rc;
}

eml_err
eml_json_domain_sha256(const char *domain, const uint8_t *p, size_t n, uint8_t out[32])
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf canon;
	struct eml_json *v = NULL;
	crypto_hash_sha256_state st;

	if (domain == NULL || out == NULL || (p == NULL && n != 0))
		return eml_err_record(EML_ERR_NULL, __FILE__, __LINE__, __func__);
	eml_buf_init(&canon, EML_JSON_DIGEST_MAX);
	if ((rc = eml_json_parse(p, n, &v)) != EML_OK)
		goto out;
	if (v->type != EML_JSON_OBJECT) {
		eml_err_set_detail("JSON: a manifest is an object");
		EML_FAIL(rc, EML_ERR_JSON);
	}
	if ((rc = eml_json_canonical(v, NULL, &canon)) != EML_OK)
		goto out;
	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, (const unsigned char *)domain, strlen(domain) + 1);
	crypto_hash_sha256_update(&st, canon.data, canon.len);
	crypto_hash_sha256_final(&st, out);
	rc = EML_OK;
out:
	eml_json_free(v);
	eml_buf_free_nowipe(&canon);
	return rc;
}
