/* eml_secpool: secure blocks of one size kept for reuse (the proxy's
 * hello buffers). A block given back is wiped before anyone takes it
 * again; at most keep are kept, the rest released wiped; a buffer over
 * a block stays within it; threads never share a block. */
#include "eml_test.h"
#include "eml_test_wipe.h"

#include <pthread.h>
#include <string.h>

#include "eml_mem.h"
#include "eml_secpool.h"

#define SZ 2048u

static bool
zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static void
given_back_is_wiped(void **state)
{
	struct eml_secpool pool;
	uint8_t *a, *b;

	(void)state;
	assert_eml_ok(eml_mem_init());
	eml_secpool_init(&pool, SZ, 4);
	a = eml_secpool_take(&pool);
	assert_non_null(a);
	assert_true(zero(a, SZ));
	memset(a, 0xa5, SZ); /* a key, say */
	eml_secpool_give(&pool, a);
	b = eml_secpool_take(&pool);
	assert_ptr_equal(a, b); /* kept, not remade */
	assert_true(zero(b, SZ));
	eml_secpool_give(&pool, b);
	eml_secpool_free(&pool);
}

static void
keeps_at_most_keep(void **state)
{
	struct eml_secpool pool;
	uint8_t *blk[5];
	size_t dirty = 9;

	(void)state;
	eml_secpool_init(&pool, SZ, 2);
	for (int i = 0; i < 5; i++) {
		blk[i] = eml_secpool_take(&pool);
		assert_non_null(blk[i]);
		memset(blk[i], 0x5a, SZ);
	}
	eml_test_wipe_start();
	eml_test_wipe_watch(SZ);
	for (int i = 0; i < 5; i++)
		eml_secpool_give(&pool, blk[i]);
	assert_int_equal(pool.n, 2);
	assert_int_equal(eml_test_wipe_watched(&dirty), 3); /* released, wiped */
	assert_int_equal(dirty, 0);
	eml_secpool_free(&pool);
	assert_int_equal(eml_test_wipe_watched(&dirty), 5);
	assert_int_equal(dirty, 0);
	eml_test_wipe_stop();
}

static void
buffer_over_a_block(void **state)
{
	struct eml_secpool pool;
	struct eml_buf b;
	uint8_t fill[SZ];
	const uint8_t *first;

	(void)state;
	memset(fill, 0x77, sizeof(fill));
	eml_secpool_init(&pool, SZ, 4);
	eml_secpool_buf(&pool, &b);
	assert_true(b.secure);
	assert_non_null(b.data);
	first = b.data;
	assert_eml_ok(eml_buf_append(&b, fill, SZ));
	assert_ptr_equal(b.data, first); /* no reallocation within the block */
	assert_eml(eml_buf_append(&b, fill, 1), EML_ERR_PROTO_TOO_LARGE);
	eml_secpool_buf_give(&pool, &b);
	assert_null(b.data);
	assert_int_equal(pool.n, 1);
	eml_secpool_buf(&pool, &b);
	assert_ptr_equal(b.data, first);
	assert_int_equal(b.len, 0);
	assert_true(zero(b.data, SZ));
	eml_secpool_buf_give(&pool, &b);
	/* no block to be had: an ordinary secure buffer, which still works
	 * (and is released, not kept: it grew to another size) */
	assert_ptr_equal(eml_secpool_take(&pool), first);
	eml_mem_fail_after(1);
	eml_secpool_buf(&pool, &b);
	assert_null(b.data);
	assert_eml_ok(eml_buf_append(&b, fill, 100));
	eml_secpool_buf_give(&pool, &b);
	eml_secpool_give(&pool, (void *)(uintptr_t)first);
	eml_secpool_free(&pool);
}

#define TH 4
#define ROUNDS 2000

struct th_arg {
	struct eml_secpool *pool;
	uint8_t id;
	int bad;
};

static void *
th_main(void *p)
{
	struct th_arg *a = p;

	for (int i = 0; i < ROUNDS; i++) {
		uint8_t *b = eml_secpool_take(a->pool);

		if (b == NULL || !zero(b, SZ)) {
			a->bad++;
			continue;
		}
		memset(b, a->id, SZ);
		/* nobody else wrote into it meanwhile */
		for (size_t k = 0; k < SZ; k += 97)
			if (b[k] != a->id)
				a->bad++;
		eml_secpool_give(a->pool, b);
	}
	return NULL;
}

static void
threads_never_share(void **state)
{
	struct eml_secpool pool;
	struct th_arg arg[TH];
	pthread_t th[TH];

	(void)state;
	eml_secpool_init(&pool, SZ, 2);
	for (int t = 0; t < TH; t++) {
		arg[t].pool = &pool;
		arg[t].id = (uint8_t)(t + 1);
		arg[t].bad = 0;
		assert_int_equal(pthread_create(&th[t], NULL, th_main, &arg[t]), 0);
	}
	for (int t = 0; t < TH; t++) {
		assert_int_equal(pthread_join(th[t], NULL), 0);
		assert_int_equal(arg[t].bad, 0);
	}
	assert_true(pool.n <= 2);
	eml_secpool_free(&pool);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(given_back_is_wiped),
		cmocka_unit_test(keeps_at_most_keep),
		cmocka_unit_test(buffer_over_a_block),
		cmocka_unit_test(threads_never_share),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
