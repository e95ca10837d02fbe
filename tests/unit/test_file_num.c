/* The one whole-file reader (eml_file) and the one argument number parser
 * (eml_num): limits, odd files, strictness. */
#include "eml_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_file.h"
#include "eml_mem.h"
#include "eml_num.h"

static void
num_strict(void **state)
{
	static const char *bad[] = { "", "-1", "+1", " 1", "1 ", "01", "00", "0x1", "1e3",
		"18446744073709551616", "99999999999999999999", "123456789012345678901" };
	uint64_t v = 7;

	(void)state;
	assert_eml_ok(eml_num_u64("0", 0, 10, &v));
	assert_true(v == 0);
	assert_eml_ok(eml_num_u64("10", 0, 10, &v));
	assert_true(v == 10);
	assert_eml_ok(eml_num_u64("18446744073709551615", 0, UINT64_MAX, &v));
	assert_true(v == UINT64_MAX);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		assert_eml(eml_num_u64(bad[i], 0, UINT64_MAX, &v), EML_ERR_USAGE);
		assert_true(v == 7); /* untouched on failure */
	}
	assert_eml(eml_num_u64("11", 0, 10, &v), EML_ERR_USAGE);
	assert_eml(eml_num_u64("0", 1, 10, &v), EML_ERR_USAGE);
	assert_eml(eml_num_u64(NULL, 0, 10, &v), EML_ERR_USAGE);
	/* Exactly n bytes: "12:34" read as its first two. */
	assert_eml_ok(eml_num_u64n("12:34", 2, 0, 99, &v));
	assert_true(v == 12);
	assert_eml(eml_num_u64n("12:34", 3, 0, 99, &v), EML_ERR_USAGE);
	assert_eml(eml_num_u64n("12", 0, 0, 99, &v), EML_ERR_USAGE);
}

static char dir[] = "/tmp/eml-file-test.XXXXXX";

static const char *
put(const char *name, const char *text)
{
	static char path[256];
	FILE *f;

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
	assert_int_equal(fclose(f), 0);
	return path;
}

static void
file_read_whole(void **state)
{
	uint8_t *d = NULL;
	size_t n = 0;
	const char *p = put("ok", "hello");

	(void)state;
	assert_eml_ok(eml_file_read(p, 5, 0, &d, &n));
	assert_int_equal(n, 5);
	assert_memory_equal(d, "hello", 6); /* with the terminating zero */
	eml_file_free(d, n, 0);
	assert_eml_ok(eml_file_read(p, 5, EML_FILE_SECRET | EML_FILE_NONEMPTY, &d, &n));
	assert_int_equal(n, 5);
	assert_string_equal((const char *)d, "hello");
	eml_file_free(d, n, EML_FILE_SECRET);
	/* One byte above the ceiling is refused before any allocation. */
	d = NULL;
	eml_mem_fail_after(1);
	assert_eml(eml_file_read(p, 4, 0, &d, &n), EML_ERR_FILE_TOO_LARGE);
	eml_mem_fail_after(0);
	assert_null(d);
	eml_mem_fail_after(1);
	assert_eml(eml_file_read(p, 5, 0, &d, &n), EML_ERR_NOMEM);
	eml_mem_fail_after(0);
	assert_null(d);
}

static void
file_read_refuses(void **state)
{
	uint8_t *d = NULL;
	size_t n = 0;
	char missing[300];

	(void)state;
	(void)snprintf(missing, sizeof(missing), "%s/none", dir);
	assert_eml(eml_file_read(missing, 100, 0, &d, &n), EML_ERR_FILE);
	assert_eml(eml_file_read(dir, 100, 0, &d, &n), EML_ERR_FILE); /* a directory */
	assert_eml(eml_file_read("/dev/zero", 100, 0, &d, &n), EML_ERR_FILE);
	assert_eml(eml_file_read(put("empty", ""), 100, EML_FILE_NONEMPTY, &d, &n), EML_ERR_FILE);
	assert_null(d);
	assert_eml_ok(eml_file_read(put("empty", ""), 100, 0, &d, &n));
	assert_int_equal(n, 0);
	eml_file_free(d, n, 0);
	assert_eml(eml_file_read(NULL, 100, 0, &d, &n), EML_ERR_NULL);
	assert_eml(eml_file_read(missing, 100, 0, NULL, &n), EML_ERR_NULL);
}

static void
file_read_buf_appends(void **state)
{
	struct eml_buf b;

	(void)state;
	eml_buf_init(&b, 8);
	assert_eml_ok(eml_buf_append(&b, "ab", 2));
	assert_eml_ok(eml_file_read_buf(put("cd", "cd"), 8, 0, &b));
	assert_int_equal(b.len, 4);
	assert_memory_equal(b.data, "abcd", 4);
	/* The file fits its own ceiling but not the buffer's: b unchanged. */
	assert_eml(eml_file_read_buf(put("long", "12345"), 8, 0, &b), EML_ERR_PROTO_TOO_LARGE);
	assert_int_equal(b.len, 4);
	assert_eml(eml_file_read_buf(put("long", "12345"), 4, 0, &b), EML_ERR_FILE_TOO_LARGE);
	assert_eml(eml_file_read_buf(put("empty", ""), 8, EML_FILE_NONEMPTY, &b), EML_ERR_FILE);
	assert_int_equal(b.len, 4);
	eml_buf_free(&b);
}

/* The one writer: new file or EML_ERR_FILE_EXISTS, REPLACE renames over,
 * the mode is the one given whatever the umask or an old file had, and no
 * temporary file is left in either case. */
static void
file_write_atomic(void **state)
{
	char path[300], sub[300];
	struct stat st;
	uint8_t *d = NULL;
	size_t n = 0;
	struct eml_file_out o;
	FILE *ls;
	char line[400];
	int entries = 0;

	(void)state;
	(void)snprintf(path, sizeof(path), "%s/w", dir);
	assert_eml_ok(eml_file_write(path, "one", 3, 0600, 0));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_eml(eml_file_write(path, "two", 3, 0600, 0), EML_ERR_FILE_EXISTS);
	assert_eml(eml_file_check_new(path, 0), EML_ERR_FILE_EXISTS);
	assert_eml_ok(eml_file_check_new(path, EML_FILE_REPLACE));
	assert_eml_ok(eml_file_read(path, 100, 0, &d, &n));
	assert_int_equal(n, 3);
	assert_memory_equal(d, "one", 3);
	eml_file_free(d, n, 0);
	assert_int_equal(chmod(path, 0666), 0);
	assert_eml_ok(eml_file_write(path, "three", 5, 0600, EML_FILE_REPLACE));
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 5);
	/* An aborted writer leaves neither the file nor its temporary. */
	(void)snprintf(sub, sizeof(sub), "%s/aborted", dir);
	assert_eml_ok(eml_file_out_open(&o, sub, 0600, 0));
	assert_eml_ok(eml_file_out_write(&o, "half", 4));
	eml_file_out_abort(&o);
	assert_int_not_equal(access(sub, F_OK), 0);
	/* a missing directory fails before anything is made */
	(void)snprintf(sub, sizeof(sub), "%s/no/such/file", dir);
	assert_eml(eml_file_write(sub, "x", 1, 0600, 0), EML_ERR_FILE);
	(void)snprintf(line, sizeof(line), "ls -A '%s'", dir);
	ls = popen(line, "r");
	assert_non_null(ls);
	while (fgets(line, sizeof(line), ls) != NULL) {
		assert_null(strstr(line, ".tmp"));
		entries++;
	}
	(void)pclose(ls);
	assert_true(entries >= 1);
	(void)unlink(path);
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[300];

	(void)state;
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(num_strict),
		cmocka_unit_test(file_read_whole),
		cmocka_unit_test(file_read_refuses),
		cmocka_unit_test(file_read_buf_appends),
		cmocka_unit_test(file_write_atomic),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("file_num", tests, setup, teardown);
}
