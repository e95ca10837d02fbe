#include "npy.h"

#include <string.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "eml_num.h"
#include "model/eml_onnx_tensor.h"

static const uint8_t magic[6] = { 0x93, 'N', 'U', 'M', 'P', 'Y' };

#define NPY_FAIL(code, ...)                                                    \
	do {                                                                   \
		eml_err_set_detail(__VA_ARGS__);                               \
		EML_BAIL(code);                                                \
	} while (0)

/* The type codes NumPy writes for the types the engine knows. '<' is
 * little-endian, '|' no byte order (one byte). */
static const struct {
	const char *descr;
	enum eml_dtype dt;
} types[] = {
	{ "<f4", EML_DT_FLOAT }, { "<f8", EML_DT_DOUBLE }, { "<f2", EML_DT_FLOAT16 },
	{ "<i8", EML_DT_INT64 }, { "<i4", EML_DT_INT32 }, { "<i2", EML_DT_INT16 },
	{ "|i1", EML_DT_INT8 }, { "<u8", EML_DT_UINT64 }, { "<u4", EML_DT_UINT32 },
	{ "<u2", EML_DT_UINT16 }, { "|u1", EML_DT_UINT8 }, { "|b1", EML_DT_BOOL },
};

/* A small cursor over the header text. */
struct hdr {
	const char *p;
	size_t left;
};

static void
spaces(struct hdr *h)
{
	while (h->left > 0 && (*h->p == ' ' || *h->p == '\t')) {
		h->p++;
		h->left--;
	}
}

static bool
eat(struct hdr *h, char c)
{
	spaces(h);
	if (h->left == 0 || *h->p != c)
		return false;
	h->p++;
	h->left--;
	return true;
}

/* A quoted key or string ('...'), at most max-1 bytes, into dst. */
static bool
quoted(struct hdr *h, char *dst, size_t max)
{
	size_t k = 0;

	if (!eat(h, '\''))
		return false;
	while (h->left > 0 && *h->p != '\'') {
		if (k + 1 >= max || (unsigned char)*h->p < 0x20 || (unsigned char)*h->p > 0x7e)
			return false;
		dst[k++] = *h->p++;
		h->left--;
	}
	if (h->left == 0)
		return false;
	h->p++;
	h->left--;
	dst[k] = '\0';
	return true;
}

/* "(2, 3)", "(5,)" or "()": decimal dimensions. */
static eml_err
shape(struct hdr *h, struct eml_tensor *t)
{
	if (!eat(h, '('))
		NPY_FAIL(EML_ERR_MODEL, "npy: shape is not a tuple");
	t->rank = 0;
	spaces(h);
	while (h->left > 0 && *h->p != ')') {
		uint64_t v = 0;
		size_t len = 0;

		while (len < h->left && h->p[len] >= '0' && h->p[len] <= '9')
			len++;
		if (t->rank >= EML_MAX_RANK)
			NPY_FAIL(EML_ERR_ONNX_DIMS, "npy: rank above %d", EML_MAX_RANK);
		if (len == 0 || eml_num_u64n(h->p, len, 0, (uint64_t)EML_ONNX_MAX_DIM, &v) != EML_OK)
			NPY_FAIL(EML_ERR_ONNX_DIMS, "npy: a dimension is not a number in range");
		t->dims[t->rank++] = (int64_t)v;
		h->p += len;
		h->left -= len;
		if (!eat(h, ','))
			break;
		spaces(h);
	}
	if (!eat(h, ')'))
		NPY_FAIL(EML_ERR_MODEL, "npy: shape tuple not closed");
	return EML_OK;
}

/* The header dict: exactly the three keys, each once. */
static eml_err
header(const char *text, size_t n, struct eml_tensor *t)
{
	struct hdr h = { text, n };
	char key[32], descr[8];
	unsigned seen = 0;
	bool fortran = true;

	if (!eat(&h, '{'))
		NPY_FAIL(EML_ERR_MODEL, "npy: header is not a dict");
	while (!eat(&h, '}')) {
		if (!quoted(&h, key, sizeof(key)) || !eat(&h, ':'))
			NPY_FAIL(EML_ERR_MODEL, "npy: header key malformed");
		if (strcmp(key, "descr") == 0 && (seen & 1u) == 0) {
			if (!quoted(&h, descr, sizeof(descr)))
				NPY_FAIL(EML_ERR_MODEL, "npy: descr is not a simple type");
			seen |= 1u;
		} else if (strcmp(key, "fortran_order") == 0 && (seen & 2u) == 0) {
			spaces(&h);
			if (h.left >= 5 && strncmp(h.p, "False", 5) == 0)
				fortran = false;
			else if (!(h.left >= 4 && strncmp(h.p, "True", 4) == 0))
				NPY_FAIL(EML_ERR_MODEL, "npy: fortran_order is not True or False");
			h.p += fortran ? 4 : 5;
			h.left -= fortran ? 4 : 5;
			seen |= 2u;
		} else if (strcmp(key, "shape") == 0 && (seen & 4u) == 0) {
			EML_GUARD(shape(&h, t));
			seen |= 4u;
		} else {
			NPY_FAIL(EML_ERR_MODEL, "npy: header key unknown or repeated");
		}
		if (!eat(&h, ',')) {
			if (!eat(&h, '}'))
				NPY_FAIL(EML_ERR_MODEL, "npy: header dict malformed");
			break;
		}
	}
	/* The rest is the padding NumPy writes: spaces, then one newline. */
	spaces(&h);
	if (h.left != 1 || *h.p != '\n')
		NPY_FAIL(EML_ERR_MODEL, "npy: header does not end in padding and a newline");
	if (seen != 7u)
		NPY_FAIL(EML_ERR_MODEL, "npy: header lacks descr, fortran_order or shape");
	if (fortran)
		NPY_FAIL(EML_ERR_MODEL, "npy: Fortran order is not supported (np.ascontiguousarray)");
	for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++) {
		if (strcmp(descr, types[k].descr) == 0) {
			t->dtype = types[k].dt;
			return EML_OK;
		}
	}
	NPY_FAIL(EML_ERR_MODEL, "npy: type '%s' not supported (little-endian numbers or bool)",
	    descr);
}

static eml_err
npy_parse(const uint8_t *p, size_t n, struct eml_tensor *out)
{
	struct eml_cur c = eml_cur_make(p, n);
	uint8_t m[6], major = 0, minor = 0;
	uint32_t hlen = 0;
	char text[EML_NPY_HEADER_MAX + 1];
	struct eml_tensor t;
	uint64_t count = 1, bytes = 0;

	EML_ENSURE(out != NULL && (p != NULL || n == 0), EML_ERR_NULL);
	eml_err_clear_detail();
	memset(&t, 0, sizeof(t));
	memset(out, 0, sizeof(*out));
	EML_GUARD(eml_cur_read_bytes(&c, m, sizeof(m)));
	if (memcmp(m, magic, sizeof(m)) != 0)
		NPY_FAIL(EML_ERR_MODEL, "npy: no \\x93NUMPY magic");
	EML_GUARD(eml_cur_read_u8(&c, &major));
	EML_GUARD(eml_cur_read_u8(&c, &minor));
	if (major == 1 && minor == 0) {
		uint8_t lo = 0, hi = 0;

		EML_GUARD(eml_cur_read_u8(&c, &lo));
		EML_GUARD(eml_cur_read_u8(&c, &hi));
		hlen = (uint32_t)lo | (uint32_t)hi << 8;
	} else if ((major == 2 || major == 3) && minor == 0) {
		EML_GUARD(eml_cur_read_u32le(&c, &hlen));
	} else {
		NPY_FAIL(EML_ERR_MODEL, "npy: format version %u.%u unknown", major, minor);
	}
	if (hlen > EML_NPY_HEADER_MAX)
		NPY_FAIL(EML_ERR_PROTO_TOO_LARGE, "npy: header of %u bytes", (unsigned)hlen);
	EML_GUARD(eml_cur_read_bytes(&c, text, hlen));
	text[hlen] = '\0';
	if (memchr(text, '\0', hlen) != NULL)
		NPY_FAIL(EML_ERR_MODEL, "npy: NUL in the header");
	EML_GUARD(header(text, hlen, &t));
	for (int d = 0; d < t.rank; d++)
		if (eml_mul_overflow(count, (uint64_t)t.dims[d], &count))
			NPY_FAIL(EML_ERR_ONNX_DIMS, "npy: element count overflows");
	if (eml_mul_overflow(count, (uint64_t)eml_dtype_size(t.dtype), &bytes) ||
	    bytes > EML_NPY_DATA_MAX)
		NPY_FAIL(EML_ERR_PROTO_TOO_LARGE, "npy: data above %zu bytes", EML_NPY_DATA_MAX);
	if (bytes > c.left)
		NPY_FAIL(EML_ERR_PROTO_TRUNCATED, "npy: %llu data bytes, %zu present",
		    (unsigned long long)bytes, c.left);
	if (bytes < c.left)
		NPY_FAIL(EML_ERR_PROTO_TRAILING, "npy: %zu bytes after the data",
		    c.left - (size_t)bytes);
	t.nbytes = (size_t)bytes;
	t.data = eml_secure_alloc(t.nbytes == 0 ? 1 : t.nbytes);
	if (t.data == NULL)
		EML_BAIL(EML_ERR_NOMEM);
	t.owned = true;
	if (t.nbytes > 0 && eml_cur_read_bytes(&c, t.data, t.nbytes) != EML_OK) {
		eml_tensor_clear(&t);
		EML_BAIL(EML_ERR_INTERNAL);
	}
	*out = t;
	return EML_OK;
}

eml_err
eml_npy_read(const uint8_t *p, size_t n, struct eml_tensor *out)
{
	eml_err rc = npy_parse(p, n, out);

	/* A file cut short, extended or oversized is bad data in a file, not
	 * a peer's protocol error: refused (exit 1), the detail says how. */
	if (eml_err_category(rc) == 200) {
		if (rc == EML_ERR_PROTO_TRUNCATED && eml_err_detail()[0] == '\0')
			eml_err_set_detail("npy: file cut short");
		rc = EML_ERR_ONNX_DATA;
	}
	return rc;
}
