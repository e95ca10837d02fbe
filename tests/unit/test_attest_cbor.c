/*
 * The bounded CBOR decoder and encoder. Encodings are checked against RFC 8949
 * Appendix A examples; decoding against hand-written bytes.
 */
#include "eml_test.h"

#include <string.h>

#include "attestation/eml_cbor.h"
#include "eml_buf.h"
#include "eml_mem.h"

static void
heads_match_rfc8949(void **state)
{
	static const struct {
		uint64_t v;
		const char *hex;
	} ex[] = {
		{ 0, "00" }, { 1, "01" }, { 23, "17" }, { 24, "1818" }, { 100, "1864" },
		{ 1000, "1903e8" }, { 1000000, "1a000f4240" },
		{ 1000000000000ULL, "1b000000e8d4a51000" },
		{ 18446744073709551615ULL, "1bffffffffffffffff" },
	};
	struct eml_buf b;
	char hex[64];

	(void)state;
	eml_buf_init(&b, 64);
	for (size_t i = 0; i < sizeof(ex) / sizeof(ex[0]); i++) {
		eml_buf_reset(&b);
		assert_eml_ok(eml_cbor_put_head(&b, EML_CBOR_UINT, ex[i].v));
		eml_hex_encode(hex, b.data, b.len);
		assert_string_equal(hex, ex[i].hex);
	}
	/* h'01020304' = 4401020304, "IETF" = 6449455446, null = f6 */
	eml_buf_reset(&b);
	assert_eml_ok(eml_cbor_put_bytes(&b, "\x01\x02\x03\x04", 4));
	assert_eml_ok(eml_cbor_put_text(&b, "IETF"));
	assert_eml_ok(eml_cbor_put_bytes_or_null(&b, NULL, 0));
	eml_hex_encode(hex, b.data, b.len);
	assert_string_equal(hex, "44010203046449455446f6");
	/* The ceiling is respected. */
	{
		struct eml_buf small;

		eml_buf_init(&small, 4);
		assert_eml(eml_cbor_put_bytes(&small, "\x01\x02\x03\x04", 4), EML_ERR_PROTO_TOO_LARGE);
		eml_buf_free(&small);
	}
	eml_buf_free(&b);
}

static eml_err
decode_hex(const char *hex, struct eml_cbor_item **it, size_t *left)
{
	static uint8_t buf[256];
	size_t n = strlen(hex) / 2;
	struct eml_cur c;
	eml_err rc;

	assert_eml_ok(eml_hex_decode(buf, n, hex));
	c = eml_cur_make(buf, n);
	rc = eml_cbor_decode(&c, it);
	if (left != NULL)
		*left = c.left;
	if (rc != EML_OK)
		assert_int_equal(c.left, n); /* unchanged on failure */
	return rc;
}

static void
decode_bounds(void **state)
{
	struct eml_cbor_item *it = NULL;
	size_t left = 0;

	(void)state;
	/* RFC 8949 A: {_ "a": 1, "b": [_ 2, 3]} */
	assert_eml_ok(decode_hex("bf61610161629f0203ffff", &it, &left));
	assert_int_equal(left, 0);
	assert_true(eml_cbor_is_map(it) && eml_cbor_is_indefinite(it));
	assert_eml_ok(eml_cbor_map_check(it, true, 4));
	assert_non_null(eml_cbor_map_get(it, "b"));
	assert_null(eml_cbor_map_get(it, "c"));
	eml_cbor_free(&it);
	/* One item is taken; what follows stays in the cursor. */
	assert_eml_ok(decode_hex("01020304", &it, &left));
	assert_int_equal(left, 3);
	eml_cbor_free(&it);
	/* Empty containers, at the top and nested. */
	assert_eml_ok(decode_hex("82a080", &it, &left));
	assert_int_equal(left, 0);
	eml_cbor_free(&it);
	/* Eight levels of nesting are fine; nine are not. */
	assert_eml_ok(decode_hex("818181818181818100", &it, NULL));
	eml_cbor_free(&it);
	assert_eml(decode_hex("81818181818181818100", &it, NULL), EML_ERR_ATTEST_CBOR);
	/* Declared sizes beyond the input; indefinite strings; odd maps. */
	assert_eml(decode_hex("9a00010000", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("83010203ff", &it, NULL), EML_OK);
	eml_cbor_free(&it);
	assert_eml(decode_hex("830102", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("a2016161", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("5f42010243030405ff", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("7f657374726561646d696e67ff", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("bf6161ff", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("ff", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("9f01", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("", &it, NULL), EML_ERR_ATTEST_CBOR);
}

static void
map_checks(void **state)
{
	struct eml_cbor_item *it = NULL;

	(void)state;
	/* {"a": 1, "a": 2} */
	assert_eml_ok(decode_hex("a2616101616102", &it, NULL));
	assert_eml(eml_cbor_map_check(it, true, 4), EML_ERR_ATTEST_DUP_KEY);
	assert_eml(eml_cbor_map_check(it, true, 1), EML_ERR_ATTEST_FIELD_RANGE);
	assert_eml(eml_cbor_map_check(it, false, 4), EML_ERR_ATTEST_FIELD_TYPE);
	eml_cbor_free(&it);
	/* {1: h'', 1: h''} and {1: h'', 2: h''} */
	assert_eml_ok(decode_hex("a201400140", &it, NULL));
	assert_eml(eml_cbor_map_check(it, false, 4), EML_ERR_ATTEST_DUP_KEY);
	eml_cbor_free(&it);
	assert_eml_ok(decode_hex("a201400240", &it, NULL));
	assert_eml_ok(eml_cbor_map_check(it, false, 4));
	assert_eml(eml_cbor_map_check(it, true, 4), EML_ERR_ATTEST_FIELD_TYPE);
	eml_cbor_free(&it);
	/* Not a map at all. */
	assert_eml_ok(decode_hex("80", &it, NULL));
	assert_eml(eml_cbor_map_check(it, true, 4), EML_ERR_ATTEST_FIELD_TYPE);
	eml_cbor_free(&it);
}

/* The item tree our decoder builds: kinds, values, strings into the input. */
static void
decode_tree(void **state)
{
	struct eml_cbor_item *it = NULL;
	const struct eml_cbor_item *v;
	const uint8_t *p;
	const char *t;
	size_t n;
	uint64_t u;
	bool b;

	(void)state;
	/* [-35, h'0102', "ab", true, null, 18(0), 1.5 (half), 2^64-1] */
	assert_eml_ok(decode_hex("883822420102626162f5f6d200f93e001bffffffffffffffff", &it, NULL));
	assert_true(eml_cbor_is_array(it) && !eml_cbor_is_indefinite(it));
	assert_int_equal(eml_cbor_array_size(it), 8);
	assert_eml_ok(eml_cbor_get_negint(eml_cbor_array_get(it, 0), &u));
	assert_int_equal(u, 34);
	assert_eml(eml_cbor_get_uint(eml_cbor_array_get(it, 0), &u), EML_ERR_ATTEST_FIELD_TYPE);
	assert_eml_ok(eml_cbor_get_bytes(eml_cbor_array_get(it, 1), &p, &n));
	assert_int_equal(n, 2);
	assert_int_equal(p[0], 1);
	assert_int_equal(p[1], 2);
	assert_eml(eml_cbor_get_text(eml_cbor_array_get(it, 1), &t, &n), EML_ERR_ATTEST_FIELD_TYPE);
	assert_true(eml_cbor_text_eq(eml_cbor_array_get(it, 2), "ab"));
	assert_false(eml_cbor_text_eq(eml_cbor_array_get(it, 2), "a"));
	assert_eml_ok(eml_cbor_get_bool(eml_cbor_array_get(it, 3), &b));
	assert_true(b);
	assert_eml(eml_cbor_get_bool(eml_cbor_array_get(it, 4), &b), EML_ERR_ATTEST_FIELD_TYPE);
	assert_true(eml_cbor_is_null(eml_cbor_array_get(it, 4)));
	v = eml_cbor_array_get(it, 5);
	assert_true(eml_cbor_is_tag(v));
	assert_false(eml_cbor_is_null(eml_cbor_array_get(it, 6)));
	assert_eml_ok(eml_cbor_get_uint(eml_cbor_array_get(it, 7), &u));
	assert_true(u == UINT64_MAX);
	assert_null(eml_cbor_array_get(it, 8));
	/* Accessors on the wrong kind give nothing. */
	assert_int_equal(eml_cbor_map_size(it), 0);
	assert_null(eml_cbor_map_key(it, 0));
	eml_cbor_free(&it);
	assert_null(it);
	/* Nested indefinite containers: [_ {_ 1: [_ ]}, [_ 2]] */
	assert_eml_ok(decode_hex("9fbf019fffff9f02ffff", &it, NULL));
	assert_int_equal(eml_cbor_array_size(it), 2);
	v = eml_cbor_array_get(it, 0);
	assert_true(eml_cbor_is_map(v) && eml_cbor_is_indefinite(v));
	assert_int_equal(eml_cbor_map_size(v), 1);
	assert_true(eml_cbor_uint_eq(eml_cbor_map_key(v, 0), 1));
	assert_int_equal(eml_cbor_array_size(eml_cbor_map_value(v, 0)), 0);
	assert_eml_ok(eml_cbor_get_uint(eml_cbor_array_get(eml_cbor_array_get(it, 1), 0), &u));
	assert_int_equal(u, 2);
	eml_cbor_free(&it);
	/* A map of 2^32-1 pairs in a 9-byte head, an array of 2^64-1: refused
	 * from their heads, before any allocation. */
	assert_eml(decode_hex("bb00000000ffffffff", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("9bffffffffffffffff00", &it, NULL), EML_ERR_ATTEST_CBOR);
	/* A byte string longer than the input; reserved heads; a bare simple
	 * value; a break inside a definite array; indefinite uint. */
	assert_eml(decode_hex("5bffffffffffffffff00", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("1c", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("f0", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("8201ff", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml(decode_hex("1f", &it, NULL), EML_ERR_ATTEST_CBOR);
	/* Tags count toward the nesting limit like containers. */
	assert_eml(decode_hex("c1c1c1c1c1c1c1c1c100", &it, NULL), EML_ERR_ATTEST_CBOR);
	assert_eml_ok(decode_hex("c1c1c1c1c1c1c1c100", &it, NULL));
	eml_cbor_free(&it);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(heads_match_rfc8949),
		cmocka_unit_test(decode_bounds),
		cmocka_unit_test(map_checks),
		cmocka_unit_test(decode_tree),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
