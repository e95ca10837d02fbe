/* Bounded reader, owned buffer, hex helpers, error table, memory hooks. */
#include "eml_test.h"
#include "eml_test_wipe.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <jansson.h>

#include "eml_buf.h"
#include "eml_log.h"
#include "eml_mem.h"

static void
cur_reads_big_endian(void **state)
{
	static const uint8_t in[] = { 1, 0x02, 0x03, 0xa0, 0xb0, 0xc0, 0xd0, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct eml_cur c = eml_cur_make(in, sizeof(in));
	uint8_t u8;
	uint16_t u16;
	uint32_t u32;
	uint64_t u64;

	(void)state;
	assert_eml_ok(eml_cur_read_u8(&c, &u8));
	assert_int_equal(u8, 1);
	assert_eml_ok(eml_cur_read_u16be(&c, &u16));
	assert_int_equal(u16, 0x0203);
	assert_eml_ok(eml_cur_read_u32be(&c, &u32));
	assert_int_equal(u32, 0xa0b0c0d0u);
	assert_eml_ok(eml_cur_read_u64be(&c, &u64));
	assert_true(u64 == 0x0102030405060708ULL);
	assert_eml_ok(eml_cur_expect_end(&c));
}

static void
cur_reads_little_endian(void **state)
{
	static const uint8_t in[] = { 1, 2, 3, 4, 1, 2, 3, 4, 5, 6, 7, 8 };
	struct eml_cur c = eml_cur_make(in, sizeof(in));
	uint32_t u32;
	uint64_t u64;

	(void)state;
	assert_eml_ok(eml_cur_read_u32le(&c, &u32));
	assert_int_equal(u32, 0x04030201u);
	assert_eml_ok(eml_cur_read_u64le(&c, &u64));
	assert_true(u64 == 0x0807060504030201ULL);
}

/* A failed read must leave the cursor exactly as it was (STYLE §17). */
static void
cur_failed_read_leaves_cursor_unchanged(void **state)
{
	static const uint8_t in[] = { 9, 8, 7 };
	struct eml_cur c = eml_cur_make(in, sizeof(in));
	struct eml_cur before;
	struct eml_cur sub;
	uint8_t out[8] = { 0 };
	const uint8_t *view = NULL;
	uint32_t u32 = 0xdeadbeef;
	uint64_t u64 = 0;

	(void)state;
	before = c;
	assert_eml(eml_cur_read_u32be(&c, &u32), EML_ERR_PROTO_TRUNCATED);
	assert_int_equal(u32, 0xdeadbeef);
	assert_eml(eml_cur_read_u64be(&c, &u64), EML_ERR_PROTO_TRUNCATED);
	assert_eml(eml_cur_read_bytes(&c, out, 4), EML_ERR_PROTO_TRUNCATED);
	assert_eml(eml_cur_take(&c, SIZE_MAX, &view), EML_ERR_PROTO_TRUNCATED);
	assert_null(view);
	assert_eml(eml_cur_sub(&c, 4, &sub), EML_ERR_PROTO_TRUNCATED);
	assert_eml(eml_cur_skip(&c, 4), EML_ERR_PROTO_TRUNCATED);
	assert_ptr_equal(c.p, before.p);
	assert_int_equal(c.left, before.left);
	/* Exactly the remaining size works, then everything fails. */
	assert_eml_ok(eml_cur_read_bytes(&c, out, 3));
	assert_memory_equal(out, in, 3);
	assert_eml(eml_cur_read_u8(&c, out), EML_ERR_PROTO_TRUNCATED);
	assert_eml_ok(eml_cur_expect_end(&c));
}

static void
cur_zero_length_and_null(void **state)
{
	struct eml_cur c = eml_cur_make(NULL, 5);
	const uint8_t *p;
	uint8_t b;

	(void)state;
	assert_int_equal(c.left, 0); /* a NULL view has nothing to read */
	assert_eml_ok(eml_cur_take(&c, 0, &p));
	assert_eml(eml_cur_read_u8(&c, &b), EML_ERR_PROTO_TRUNCATED);
	assert_eml(eml_cur_read_u8(NULL, &b), EML_ERR_NULL);
	assert_eml(eml_cur_read_u8(&c, NULL), EML_ERR_NULL);
}

static void
cur_sub_and_trailing(void **state)
{
	static const uint8_t in[] = { 0, 0, 0, 2, 0xaa, 0xbb, 0xcc };
	struct eml_cur c = eml_cur_make(in, sizeof(in));
	struct eml_cur sub;
	uint32_t n;

	(void)state;
	assert_eml_ok(eml_cur_read_u32be(&c, &n));
	assert_eml_ok(eml_cur_sub(&c, n, &sub));
	assert_int_equal(sub.left, 2);
	assert_int_equal(sub.p[0], 0xaa);
	assert_eml(eml_cur_expect_end(&c), EML_ERR_PROTO_TRAILING);
}

static void
buf_ceiling_is_hard(void **state)
{
	struct eml_buf b;
	uint8_t chunk[10] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

	(void)state;
	eml_buf_init(&b, 25);
	assert_eml_ok(eml_buf_append(&b, chunk, 10));
	assert_eml_ok(eml_buf_append(&b, chunk, 10));
	assert_eml(eml_buf_append(&b, chunk, 10), EML_ERR_PROTO_TOO_LARGE);
	assert_int_equal(b.len, 20); /* unchanged by the failed append */
	assert_eml_ok(eml_buf_append(&b, chunk, 5));
	assert_int_equal(b.len, 25);
	assert_true(b.cap <= b.max);
	assert_eml(eml_buf_append_u8(&b, 1), EML_ERR_PROTO_TOO_LARGE);
	assert_eml(eml_buf_reserve(&b, SIZE_MAX), EML_ERR_OVERFLOW);
	eml_buf_free(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
}

/* One large reserve costs its size, not the next power of two (a secure
 * buffer locks all of its capacity); small appends still double. */
static void
buf_large_reserve_is_exact(void **state)
{
	struct eml_buf b;
	size_t big = ((size_t)1 << 20) + 1;

	(void)state;
	eml_buf_init(&b, (size_t)64 << 20);
	assert_eml_ok(eml_buf_reserve(&b, big));
	assert_int_equal(b.cap, big);
	b.len = big;
	assert_eml_ok(eml_buf_append_u8(&b, 1));
	assert_int_equal(b.cap, 2 * big); /* an append doubles */
	assert_eml_ok(eml_buf_reserve(&b, 3 * big));
	assert_int_equal(b.cap, 4 * big + 1); /* more than double: exact again */
	b.len = 1;
	eml_buf_free(&b);
}

static void
buf_zero_ceiling(void **state)
{
	struct eml_buf b;

	(void)state;
	eml_buf_init(&b, 0);
	assert_eml_ok(eml_buf_append(&b, NULL, 0));
	assert_eml(eml_buf_append_u8(&b, 1), EML_ERR_PROTO_TOO_LARGE);
	eml_buf_free(&b);
}

static void
buf_grows_and_keeps_contents(void **state)
{
	struct eml_buf b;
	uint64_t rng = eml_test_seed();
	uint8_t *ref = eml_alloc(100000);
	struct eml_cur c;
	uint32_t v;

	(void)state;
	assert_non_null(ref);
	eml_test_fill(&rng, ref, 100000);
	eml_buf_init(&b, 1 << 20);
	for (size_t off = 0; off < 100000;) {
		size_t n = (size_t)(eml_test_rand(&rng) % 777);

		if (n > 100000 - off)
			n = 100000 - off;
		assert_eml_ok(eml_buf_append(&b, ref + off, n));
		off += n;
	}
	assert_int_equal(b.len, 100000);
	assert_memory_equal(b.data, ref, 100000);
	eml_buf_reset(&b);
	assert_int_equal(b.len, 0);
	assert_eml_ok(eml_buf_append_u32be(&b, 0x01020304));
	c = eml_buf_cur(&b);
	assert_eml_ok(eml_cur_read_u32be(&c, &v));
	assert_int_equal(v, 0x01020304);
	eml_buf_free(&b);
	eml_free(ref);
}

/* A failed allocation inside reserve leaves the buffer as it was. */
static void
buf_nomem_leaves_buffer(void **state)
{
	struct eml_buf b;

	(void)state;
	eml_buf_init(&b, 1 << 20);
	assert_eml_ok(eml_buf_append(&b, "abc", 3));
	eml_mem_fail_after(1);
	assert_eml(eml_buf_reserve(&b, 4096), EML_ERR_NOMEM);
	eml_mem_fail_after(0);
	assert_int_equal(b.len, 3);
	assert_memory_equal(b.data, "abc", 3);
	eml_buf_free(&b);
}

static void
secure_buf_is_wiped_on_free(void **state)
{
	struct eml_buf b;
	uint8_t secret[300];
	const void *p = NULL;
	size_t n = 0;
	bool zero = false;

	(void)state;
	memset(secret, 0x5a, sizeof(secret));
	eml_test_wipe_start();
	eml_buf_init_secure(&b, 4096);
	assert_eml_ok(eml_buf_append(&b, secret, sizeof(secret)));
	assert_true(((uintptr_t)b.data % 64) == 0);
	eml_buf_free(&b);
	eml_test_wipe_stop();
	assert_int_equal(eml_test_wipe_count(), 1);
	assert_true(eml_test_wipe_last(&p, &n, &zero));
	assert_true(n >= sizeof(secret));
	assert_true(zero);
}

static void
hex_round_trip_and_rejects(void **state)
{
	uint8_t in[4] = { 0x00, 0x9f, 0xa0, 0xff }, out[4];
	char hex[9];

	(void)state;
	eml_hex_encode(hex, in, 4);
	assert_string_equal(hex, "009fa0ff");
	assert_eml_ok(eml_hex_decode(out, 4, "009FA0ff"));
	assert_memory_equal(in, out, 4);
	assert_eml(eml_hex_decode(out, 4, "009fa0f"), EML_ERR_PROTO_DECODE);
	assert_eml(eml_hex_decode(out, 4, "009fa0ffee"), EML_ERR_PROTO_DECODE);
	memset(out, 0x77, sizeof(out));
	assert_eml(eml_hex_decode(out, 4, "009fa0fg"), EML_ERR_PROTO_DECODE);
	for (size_t i = 0; i < sizeof(out); i++)
		assert_int_equal(out[i], 0x77); /* untouched on failure */
}

/* Every byte escapes to printable ASCII; bytes 1..127 round-trip through
 * an independent JSON parser (jansson). */
static void
json_escape_every_byte(void **state)
{
	char text[1024], e[6];
	size_t len = 0;
	json_error_t jerr;
	json_t *j;

	(void)state;
	text[len++] = '"';
	for (unsigned c = 1; c < 128; c++) {
		size_t n = eml_json_escape_byte((unsigned char)c, e);

		for (size_t i = 0; i < n; i++)
			assert_true(e[i] >= 0x20 && e[i] < 0x7f);
		memcpy(text + len, e, n);
		len += n;
	}
	text[len++] = '"';
	text[len] = '\0';
	j = json_loads(text, JSON_DECODE_ANY, &jerr);
	assert_non_null(j);
	assert_int_equal(json_string_length(j), 127);
	for (unsigned c = 1; c < 128; c++)
		assert_int_equal((unsigned char)json_string_value(j)[c - 1], c);
	json_decref(j);
	assert_int_equal(eml_json_escape_byte(0xff, e), 6);
	assert_memory_equal(e, "\\u00ff", 6);
	assert_int_equal(eml_json_escape_byte('\n', e), 6);
	assert_memory_equal(e, "\\u000a", 6);
	assert_int_equal(eml_json_escape_byte('"', e), 2);
	assert_memory_equal(e, "\\\"", 2);
	assert_int_equal(eml_json_escape_byte('a', e), 1);
}

static void
error_table_is_consistent(void **state)
{
	(void)state;
	assert_string_equal(eml_err_name(EML_ERR_PROTO_TRAILING), "EML_ERR_PROTO_TRAILING");
	assert_int_equal(eml_err_category(EML_ERR_PROTO_TRAILING), 200);
	assert_string_equal(eml_strerror((eml_err)12345), "unknown error");
	assert_int_equal(eml_err_exit_code(EML_OK), 0);
	assert_int_equal(eml_err_exit_code(EML_ERR_ATTEST), 1);
	assert_int_equal(eml_err_exit_code(EML_ERR_USAGE), 2);
	assert_int_equal(eml_err_exit_code(EML_ERR_IO), 3);
	assert_int_equal(eml_err_exit_code(EML_ERR_ATTEST_PCR_MISMATCH), 1);
	assert_int_equal(eml_err_exit_code(EML_ERR_POLICY_MODEL), 1);
	assert_int_equal(eml_err_exit_code(EML_ERR_AGENT_LOST), 3);
	assert_int_equal(eml_err_exit_code(EML_ERR_NO_AGENT), 3);
	assert_int_equal(eml_err_exit_code(EML_ERR_POLICY_FILE), 2);
	/* Every code's number sits in the range its name's category claims,
	 * and numbers are unique. */
	{
		static const struct {
			int num;
			const char *name;
		} all[] = {
#define EML_ERR(name, num, msg) { num, #name },
#include "eml_err.def"
#undef EML_ERR
		};
		size_t n = sizeof(all) / sizeof(all[0]);

		for (size_t i = 0; i < n; i++) {
			assert_true(all[i].num >= 0 && all[i].num < 1000);
			assert_string_equal(eml_err_name((eml_err)all[i].num), all[i].name);
			for (size_t j = i + 1; j < n; j++)
				assert_int_not_equal(all[i].num, all[j].num);
		}
	}
}

static void
err_record_and_detail(void **state)
{
	(void)state;
	eml_err_set_detail("pcr %d mismatch", 3);
	assert_string_equal(eml_err_detail(), "pcr 3 mismatch");
	eml_err_clear_detail();
	assert_string_equal(eml_err_detail(), "");
	assert_int_equal(eml_err_record(EML_ERR_IO, "f.c", 7, "fn"), EML_ERR_IO);
	assert_string_equal(eml_err_where(), "f.c:7:fn");
}

/* Logs are one JSON object per line with typed fields and escapes. */
static void
log_line_is_json(void **state)
{
	char path[] = "/tmp/eml-log-XXXXXX";
	int fd = mkstemp(path);
	struct eml_cid cid;
	char line[4096];
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	memset(cid.b, 0xab, sizeof(cid.b));
	eml_log_set_fd(fd);
	eml_log_set_level(EML_LOG_LEVEL_DEBUG);
	EML_LOG_INFO("test.event", &cid, EML_F_U64("bytes", 42), EML_F_STR("s", "a\"b\n"),
	    EML_F_ERR(EML_ERR_IO), EML_F_BOOL("ok", false));
	eml_log_set_level(EML_LOG_LEVEL_ERROR);
	EML_LOG0_INFO("suppressed", NULL);
	eml_log_set_fd(-1);
	f = fdopen(fd, "r");
	assert_non_null(f);
	rewind(f);
	assert_non_null(fgets(line, sizeof(line), f));
	assert_non_null(strstr(line, "\"event\":\"test.event\""));
	assert_non_null(strstr(line, "\"cid\":\"abababababababababababababababab\""));
	assert_non_null(strstr(line, "\"bytes\":42"));
	assert_non_null(strstr(line, "\"s\":\"a\\\"b\\u000a\""));
	assert_non_null(strstr(line, "\"err\":100,\"err_name\":\"EML_ERR_IO\""));
	assert_non_null(strstr(line, "\"ok\":false}\n"));
	assert_null(fgets(line, sizeof(line), f)); /* the info line was suppressed */
	fclose(f);
	unlink(path);
}

/* Regression (found by channel_fuzz under clang UBSan): growing a buffer
 * that has no allocation yet by 0 bytes must not compute NULL + 0. */
static void
extend_by_zero_on_empty_buffer(void **state)
{
	struct eml_buf b;
	uint8_t *w = (uint8_t *)&b;

	(void)state;
	eml_buf_init_secure(&b, 64);
	assert_eml_ok(eml_buf_extend(&b, 0, &w));
	assert_null(w);
	assert_int_equal(b.len, 0);
	assert_eml_ok(eml_buf_append(&b, NULL, 0));
	assert_eml_ok(eml_buf_extend(&b, 3, &w));
	assert_non_null(w);
	assert_int_equal(b.len, 3);
	eml_buf_free(&b);
}

/* A line at the size limit drops whole fields and stays valid JSON. */
static void
log_long_line_stays_json(void **state)
{
	char path[] = "/tmp/eml-log-XXXXXX";
	int fd = mkstemp(path);
	char *big = eml_alloc(3000);
	char line[8192];
	size_t quotes = 0, n;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	assert_non_null(big);
	memset(big, 'a', 2999);
	big[2999] = '\0';
	eml_log_set_fd(fd);
	eml_log_set_level(EML_LOG_LEVEL_INFO);
	EML_LOG_INFO("long", NULL, EML_F_STR("a", big), EML_F_STR("b", big),
	    EML_F_STR("c", big), EML_F_STR("d", big), EML_F_STR("e", big),
	    EML_F_STR("f", big), EML_F_STR("g", big), EML_F_STR("h", big),
	    EML_F_STR("i", big), EML_F_U64("last", 1));
	eml_log_set_fd(-1);
	f = fdopen(fd, "r");
	assert_non_null(f);
	rewind(f);
	assert_non_null(fgets(line, sizeof(line), f));
	n = strlen(line);
	assert_true(n <= 4096);
	assert_string_equal(line + n - 19, ",\"truncated\":true}\n");
	assert_non_null(strstr(line, "\"a\":\"aaaa"));
	assert_non_null(strstr(line, "aaa...\""));  /* long values are cut */
	assert_null(strstr(line, "\"last\""));    /* dropped whole */
	for (size_t i = 0; i < n; i++)
		quotes += line[i] == '"';
	assert_int_equal(quotes % 2, 0); /* every string closed */
	fclose(f);
	unlink(path);
	eml_free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(cur_reads_big_endian),
		cmocka_unit_test(cur_reads_little_endian),
		cmocka_unit_test(cur_failed_read_leaves_cursor_unchanged),
		cmocka_unit_test(cur_zero_length_and_null),
		cmocka_unit_test(cur_sub_and_trailing),
		cmocka_unit_test(buf_ceiling_is_hard),
		cmocka_unit_test(buf_zero_ceiling),
		cmocka_unit_test(buf_large_reserve_is_exact),
		cmocka_unit_test(buf_grows_and_keeps_contents),
		cmocka_unit_test(buf_nomem_leaves_buffer),
		cmocka_unit_test(secure_buf_is_wiped_on_free),
		cmocka_unit_test(hex_round_trip_and_rejects),
		cmocka_unit_test(json_escape_every_byte),
		cmocka_unit_test(error_table_is_consistent),
		cmocka_unit_test(err_record_and_detail),
		cmocka_unit_test(log_line_is_json),
		cmocka_unit_test(log_long_line_stays_json),
		cmocka_unit_test(extend_by_zero_on_empty_buffer),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
