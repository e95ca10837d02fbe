/* Strict JSON and RFC 8785 canonical form (common/eml_json.c). The
 * expected outputs are the examples printed in RFC 8785 (§3.2.2, §3.2.3,
 * Appendix B), typed in from the RFC text, with non-ASCII characters as
 * UTF-8 byte escapes. */
#include "eml_test.h"

#include <math.h>
#include <string.h>

#include "eml_json.h"
#include "eml_mem.h"

static void
canon_is(const char *in, const char *want)
{
	struct eml_buf out;

	eml_buf_init(&out, 1 << 20);
	assert_eml_ok(eml_json_canonicalize((const uint8_t *)in, strlen(in), &out));
	if (out.len != strlen(want) || memcmp(out.data, want, out.len) != 0)
		fail_msg("canonical form\n got  %.*s\n want %s", (int)out.len, out.data, want);
	eml_buf_free(&out);
}

static void
refused(const char *in, size_t n)
{
	struct eml_json *v = NULL;

	assert_eml(eml_json_parse((const uint8_t *)in, n, &v), EML_ERR_JSON);
	assert_null(v);
}

/* RFC 8785 §3.2.2: the sample with numbers, string escapes and literals. */
static void
rfc8785_values_example(void **state)
{
	(void)state;
	canon_is("{\n"
		 "  \"numbers\": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],\n"
		 "  \"string\": \"\\u20ac$\\u000F\\u000aA'\\u0042\\u0022\\u005c\\\\\\\"\\/\",\n"
		 "  \"literals\": [null, true, false]\n"
		 "}",
	    "{\"literals\":[null,true,false],"
	    "\"numbers\":[333333333.3333333,1e+30,4.5,0.002,1e-27],"
	    "\"string\":\"\xe2\x82\xac$\\u000f\\nA'B\\\"\\\\\\\\\\\"/\"}");
}

/* RFC 8785 §3.2.3: member order by UTF-16 code units, so U+1F600
 * (surrogates D83D DE00) sorts before U+FB33. */
static void
rfc8785_sorting_example(void **state)
{
	(void)state;
	canon_is("{\n"
		 "  \"\\u20ac\": \"Euro Sign\",\n"
		 "  \"\\r\": \"Carriage Return\",\n"
		 "  \"\\ufb33\": \"Hebrew Letter Dalet With Dagesh\",\n"
		 "  \"1\": \"One\",\n"
		 "  \"\\ud83d\\ude00\": \"Emoji: Grinning Face\",\n"
		 "  \"\\u0080\": \"Control\",\n"
		 "  \"\\u00f6\": \"Latin Small Letter O With Diaeresis\"\n"
		 "}",
	    "{\"\\r\":\"Carriage Return\",\"1\":\"One\",\"\xc2\x80\":\"Control\","
	    "\"\xc3\xb6\":\"Latin Small Letter O With Diaeresis\","
	    "\"\xe2\x82\xac\":\"Euro Sign\",\"\xf0\x9f\x98\x80\":\"Emoji: Grinning Face\","
	    "\"\xef\xac\xb3\":\"Hebrew Letter Dalet With Dagesh\"}");
}

/* RFC 8785 Appendix B: IEEE 754 bit patterns and their JSON form. */
static void
rfc8785_number_samples(void **state)
{
	static const struct {
		uint64_t bits;
		const char *want;
	} t[] = {
		{ 0x0000000000000000ULL, "0" },
		{ 0x8000000000000000ULL, "0" },
		{ 0x0000000000000001ULL, "5e-324" },
		{ 0x8000000000000001ULL, "-5e-324" },
		{ 0x7fefffffffffffffULL, "1.7976931348623157e+308" },
		{ 0xffefffffffffffffULL, "-1.7976931348623157e+308" },
		{ 0x4340000000000000ULL, "9007199254740992" },
		{ 0xc340000000000000ULL, "-9007199254740992" },
		{ 0x4430000000000000ULL, "295147905179352830000" },
		{ 0x44b52d02c7e14af5ULL, "9.999999999999997e+22" },
		{ 0x44b52d02c7e14af6ULL, "1e+23" },
		{ 0x44b52d02c7e14af7ULL, "1.0000000000000001e+23" },
		{ 0x444b1ae4d6e2ef4eULL, "999999999999999700000" },
		{ 0x444b1ae4d6e2ef4fULL, "999999999999999900000" },
		{ 0x444b1ae4d6e2ef50ULL, "1e+21" },
		{ 0x3eb0c6f7a0b5ed8cULL, "9.999999999999997e-7" },
		{ 0x3eb0c6f7a0b5ed8dULL, "0.000001" },
		{ 0x41b3de4355555553ULL, "333333333.3333332" },
		{ 0x41b3de4355555554ULL, "333333333.33333325" },
		{ 0x41b3de4355555555ULL, "333333333.3333333" },
		{ 0x41b3de4355555556ULL, "333333333.3333334" },
		{ 0x41b3de4355555557ULL, "333333333.33333343" },
		{ 0xbecbf647612f3696ULL, "-0.0000033333333333333333" },
		{ 0x43143ff3c1cb0959ULL, "1424953923781206.2" },
	};
	char out[EML_JSON_NUMBER_OUT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		double d;

		memcpy(&d, &t[i].bits, sizeof(d));
		assert_eml_ok(eml_json_number(d, out));
		if (strcmp(out, t[i].want) != 0)
			fail_msg("%016llx: got %s, want %s", (unsigned long long)t[i].bits, out,
			    t[i].want);
	}
	/* Appendix B: NaN and Infinity have no JSON form. */
	assert_eml(eml_json_number(NAN, out), EML_ERR_JSON);
	assert_eml(eml_json_number(INFINITY, out), EML_ERR_JSON);
	assert_eml(eml_json_number(-INFINITY, out), EML_ERR_JSON);
}

/* The canonical form does not depend on whitespace or member order, and
 * is a fixed point. */
static void
canonical_ignores_layout(void **state)
{
	static const char *a = "{\"b\":[1,{\"y\":2,\"x\":\"\\u0041\"}],\"a\":null}";
	static const char *b = " {\r\n\t\"a\" : null ,\n \"b\" : [ 1.0 , { \"x\" : \"A\" , \"y\" : 2e0 } ] } \n";
	static const char *want = "{\"a\":null,\"b\":[1,{\"x\":\"A\",\"y\":2}]}";

	(void)state;
	canon_is(a, want);
	canon_is(b, want);
	canon_is(want, want);
	canon_is("-0", "0");
	canon_is("[1E2,-0.0,10.50]", "[100,0,10.5]");
	canon_is("\"\\u001f\\u007f\\u2028\"", "\"\\u001f\x7f\xe2\x80\xa8\"");
}

static void
parser_refuses_ambiguity(void **state)
{
	static const char nul_in[] = "\"a\0b\"";
	static const char *bad[] = {
		"{\"a\":1,\"a\":2}",         /* duplicate member */
		"{\"a\":1,\"\\u0061\":2}",   /* duplicate after unescaping */
		"\"\\ud800\"",               /* lone high surrogate */
		"\"\\udc00x\"",              /* lone low surrogate */
		"\"\\ud800\\u0041\"",        /* high surrogate, no low */
		"\"\xc0\xaf\"",              /* overlong */
		"\"\xed\xa0\x80\"",          /* surrogate in UTF-8 */
		"\"\xf4\x90\x80\x80\"",      /* above U+10FFFF */
		"\"\xff\"",                  /* not UTF-8 */
		"\"\xe2\x82\"",              /* truncated sequence */
		"\"a\tb\"",                  /* raw control character */
		"\xef\xbb\xbf{}",            /* byte order mark */
		"{\"a\":1",                  /* truncated */
		"{\"a\":",                   /* truncated */
		"[1,2",                      /* truncated */
		"\"abc",                     /* truncated */
		"{} x",                      /* trailing */
		"{}{}",                      /* trailing */
		"01",                        /* leading zero */
		"1.",                        /* no fraction digits */
		"1e",                        /* no exponent digits */
		"-",                         /* sign only */
		"+1",                        /* plus sign */
		"1e400",                     /* beyond a double */
		"NaN",
		"Infinity",
		"tru",
		"nulls",
		"{a:1}",
		"[1,]",
		"{\"a\":1,}",
		"'a'",
		"\"\\x41\"",
		"",
		"   ",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		refused(bad[i], strlen(bad[i]));
	/* A NUL byte inside a string is a raw control character. */
	refused(nul_in, sizeof(nul_in) - 1);
}

static void
parser_limits(void **state)
{
	char deep[2 * (EML_JSON_MAX_DEPTH + 2) + 1];
	size_t n = 0;

	(void)state;
	for (int i = 0; i < EML_JSON_MAX_DEPTH + 2; i++)
		deep[n++] = '[';
	for (int i = 0; i < EML_JSON_MAX_DEPTH + 2; i++)
		deep[n++] = ']';
	deep[n] = '\0';
	refused(deep, n);
	/* At the limit it parses. */
	canon_is("[[[[1]]]]", "[[[[1]]]]");
}

static void
get_finds_members(void **state)
{
	static const char *in = "{\"x\":\"y\",\"n\":3}";
	struct eml_json *v = NULL;
	const struct eml_json *m;

	(void)state;
	assert_eml_ok(eml_json_parse((const uint8_t *)in, strlen(in), &v));
	m = eml_json_get(v, "n");
	assert_non_null(m);
	assert_int_equal(m->type, EML_JSON_NUMBER);
	assert_true(m->num == 3.0);
	m = eml_json_get(v, "x");
	assert_non_null(m);
	assert_string_equal(m->str, "y");
	assert_null(eml_json_get(v, "z"));
	eml_json_free(v);
}

/* Keys outside the BMP sort by their surrogates, not by code point. */
static void
utf16_order_differs_from_code_points(void **state)
{
	static const char *emoji = "\xf0\x9f\x98\x80"; /* U+1F600 */
	static const char *pua = "\xee\x80\x80";       /* U+E000 */

	(void)state;
	assert_true(eml_json_utf16_cmp(emoji, 4, pua, 3) < 0);
	assert_true(strcmp(emoji, pua) > 0); /* byte order says the opposite */
	assert_true(eml_json_utf16_cmp("a", 1, "ab", 2) < 0);
	assert_int_equal(eml_json_utf16_cmp("ab", 2, "ab", 2), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(rfc8785_values_example),
		cmocka_unit_test(rfc8785_sorting_example),
		cmocka_unit_test(rfc8785_number_samples),
		cmocka_unit_test(canonical_ignores_layout),
		cmocka_unit_test(parser_refuses_ambiguity),
		cmocka_unit_test(parser_limits),
		cmocka_unit_test(get_finds_members),
		cmocka_unit_test(utf16_order_differs_from_code_points),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
