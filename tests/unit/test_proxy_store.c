/* eml-proxy weight store: put, idempotence, range reads, bounds, unknown ids. */
#include "eml_test.h"

#include <dirent.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "host-proxy/eml_store.h"

struct fixture {
	char dir[64];   /* the store */
	char src[96];   /* a scratch file to put */
	struct eml_store store;
};

static int
setup(void **state)
{
	struct fixture *f = eml_calloc(1, sizeof(*f));

	assert_non_null(f);
	assert_eml_ok(eml_mem_init());
	(void)snprintf(f->dir, sizeof(f->dir), "/tmp/eml-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	(void)snprintf(f->src, sizeof(f->src), "%s.src", f->dir);
	assert_eml_ok(eml_store_open(&f->store, f->dir));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[256];

	eml_store_close(&f->store);
	(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s' '%s'", f->dir, f->src);
	assert_int_equal(system(cmd), 0);
	eml_free(f);
	return 0;
}

static void
write_file(const char *path, const void *p, size_t n)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	if (n > 0)
		assert_int_equal(fwrite(p, 1, n, fp), n);
	assert_int_equal(fclose(fp), 0);
}

/* Reference digest from OpenSSL, an implementation independent of the
 * libsodium one the store uses. */
static void
openssl_sha256(const void *p, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha256(), NULL), 1);
	assert_int_equal(len, 32);
}

static size_t
count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	(void)closedir(d);
	return n;
}

/* FIPS 180-2 known answer: SHA-256("abc"). */
static void
put_known_answer(void **state)
{
	struct fixture *f = *state;
	uint8_t id[EML_STORE_ID_LEN];
	char hex[EML_STORE_ID_HEX_LEN + 1];
	char path[256];
	struct stat st;

	write_file(f->src, "abc", 3);
	assert_eml_ok(eml_store_put_file(&f->store, f->src, id));
	eml_hex_encode(hex, id, sizeof(id));
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	(void)snprintf(path, sizeof(path), "%s/%s", f->dir, hex);
	assert_int_equal(stat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 3);
}

/* A file several copy chunks long, with a ragged tail; a second put is a
 * no-op; no temporary file is left behind. */
static void
put_large_is_idempotent(void **state)
{
	struct fixture *f = *state;
	uint64_t seed = eml_test_seed();
	size_t n = 3 * 65536 + 1234;
	uint8_t *data = eml_alloc(n), want[32], id[32], id2[32];
	uint8_t got[4096];
	uint64_t total = 0;

	assert_non_null(data);
	eml_test_fill(&seed, data, n);
	write_file(f->src, data, n);
	openssl_sha256(data, n, want);
	assert_eml_ok(eml_store_put_file(&f->store, f->src, id));
	assert_memory_equal(id, want, 32);
	assert_eml_ok(eml_store_put_file(&f->store, f->src, id2));
	assert_memory_equal(id2, want, 32);
	assert_int_equal(count_entries(f->dir), 1);

	/* Ranges: the start, across a chunk boundary, the very last byte. */
	assert_eml_ok(eml_store_read_range(&f->store, id, 0, 100, got, sizeof(got), &total));
	assert_int_equal(total, n);
	assert_memory_equal(got, data, 100);
	assert_eml_ok(eml_store_read_range(&f->store, id, 65536 - 7, 4096, got, sizeof(got), NULL));
	assert_memory_equal(got, data + 65536 - 7, 4096);
	assert_eml_ok(eml_store_read_range(&f->store, id, n - 1, 1, got, sizeof(got), NULL));
	assert_int_equal(got[0], data[n - 1]);
	assert_eml_ok(eml_store_read_range(&f->store, id, n - 4096, 4096, got, sizeof(got), NULL));
	assert_memory_equal(got, data + n - 4096, 4096);
	eml_free(data);
}

static void
range_bounds(void **state)
{
	struct fixture *f = *state;
	uint8_t id[32], got[16];
	uint64_t total = 0;

	(void)f;
	write_file(f->src, "0123456789", 10);
	assert_eml_ok(eml_store_put_file(&f->store, f->src, id));
	assert_eml_ok(eml_store_read_range(&f->store, id, 0, 10, got, sizeof(got), &total));
	assert_int_equal(total, 10);
	assert_memory_equal(got, "0123456789", 10);
	/* one past the end, by length and by offset */
	assert_eml(eml_store_read_range(&f->store, id, 0, 11, got, sizeof(got), NULL),
	    EML_ERR_BLOB_RANGE);
	assert_eml(eml_store_read_range(&f->store, id, 1, 10, got, sizeof(got), NULL),
	    EML_ERR_BLOB_RANGE);
	assert_eml(eml_store_read_range(&f->store, id, 10, 1, got, sizeof(got), NULL),
	    EML_ERR_BLOB_RANGE);
	/* zero length, and offsets that would wrap a 64-bit sum */
	assert_eml(eml_store_read_range(&f->store, id, 0, 0, got, sizeof(got), NULL),
	    EML_ERR_BLOB_RANGE);
	assert_eml(eml_store_read_range(&f->store, id, UINT64_MAX, 1, got, sizeof(got), NULL),
	    EML_ERR_BLOB_RANGE);
	assert_eml(eml_store_read_range(&f->store, id, 5, UINT64_MAX - 2, got, sizeof(got), NULL),
	    EML_ERR_BLOB_RANGE);
	/* the destination is smaller than the range */
	assert_eml(eml_store_read_range(&f->store, id, 0, 10, got, 9, NULL), EML_ERR_BLOB_RANGE);

	/* the limit itself, against a large virtual size */
	assert_eml_ok(eml_store_check_range(UINT64_MAX, UINT64_MAX - EML_STORE_RANGE_MAX,
	    EML_STORE_RANGE_MAX));
	assert_eml(eml_store_check_range(UINT64_MAX, 0, (uint64_t)EML_STORE_RANGE_MAX + 1),
	    EML_ERR_BLOB_RANGE);
	assert_eml(eml_store_check_range(0, 0, 1), EML_ERR_BLOB_RANGE);
}

static void
empty_blob_has_no_range(void **state)
{
	struct fixture *f = *state;
	uint8_t id[32], got[4];
	char hex[65];

	write_file(f->src, NULL, 0);
	assert_eml_ok(eml_store_put_file(&f->store, f->src, id));
	eml_hex_encode(hex, id, 32);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_eml(eml_store_read_range(&f->store, id, 0, 1, got, sizeof(got), NULL),
	    EML_ERR_BLOB_RANGE);
}

static void
unknown_ids(void **state)
{
	struct fixture *f = *state;
	uint8_t id[32], got[4];
	char hex[65], path[256], target[256];

	memset(id, 0xab, sizeof(id));
	assert_eml(eml_store_read_range(&f->store, id, 0, 1, got, sizeof(got), NULL),
	    EML_ERR_BLOB_UNKNOWN);

	/* a symlink under a valid-looking name is not followed */
	write_file(f->src, "secret", 6);
	eml_hex_encode(hex, id, 32);
	(void)snprintf(path, sizeof(path), "%s/%s", f->dir, hex);
	(void)snprintf(target, sizeof(target), "%s", f->src);
	assert_int_equal(symlink(target, path), 0);
	assert_eml(eml_store_read_range(&f->store, id, 0, 1, got, sizeof(got), NULL),
	    EML_ERR_BLOB_UNKNOWN);
	assert_int_equal(unlink(path), 0);

	/* nor is a directory */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_eml(eml_store_read_range(&f->store, id, 0, 1, got, sizeof(got), NULL),
	    EML_ERR_BLOB_UNKNOWN);
	assert_int_equal(rmdir(path), 0);
}

static void
bad_paths(void **state)
{
	struct fixture *f = *state;
	struct eml_store s2;
	uint8_t id[32];
	char path[256];

	assert_eml(eml_store_open(&s2, "/nonexistent/eml-store"), EML_ERR_FILE);
	assert_eml(eml_store_open(&s2, "/etc/hostname"), EML_ERR_FILE);
	assert_eml(eml_store_put_file(&f->store, "/nonexistent/file", id), EML_ERR_FILE);
	/* a directory is not a blob */
	assert_eml(eml_store_put_file(&f->store, f->dir, id), EML_ERR_FILE);
	assert_eml(eml_store_open(NULL, f->dir), EML_ERR_NULL);
	(void)snprintf(path, sizeof(path), "%s", f->src);
	write_file(path, "x", 1);
	assert_eml(eml_store_put_file(&f->store, path, NULL), EML_ERR_NULL);
	assert_int_equal(count_entries(f->dir), 0);
}

/* Allocation failure in the copy path leaves nothing behind. */
static void
put_nomem_leaves_nothing(void **state)
{
	struct fixture *f = *state;
	uint8_t id[32];

	write_file(f->src, "abc", 3);
	eml_mem_fail_after(1);
	assert_eml(eml_store_put_file(&f->store, f->src, id), EML_ERR_NOMEM);
	eml_mem_fail_after(0);
	assert_int_equal(count_entries(f->dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(put_known_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(put_large_is_idempotent, setup, teardown),
		cmocka_unit_test_setup_teardown(range_bounds, setup, teardown),
		cmocka_unit_test_setup_teardown(empty_blob_has_no_range, setup, teardown),
		cmocka_unit_test_setup_teardown(unknown_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(bad_paths, setup, teardown),
		cmocka_unit_test_setup_teardown(put_nomem_leaves_nothing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
