/* eml_mem: session arenas (issue 18). A thread with an arena takes its
 * secure blocks from a few guarded segments instead of a mapping per
 * block; blocks are zeroed, wiped on free, reused after free; the limit
 * holds; a block outside any arena still frees the old way. */
#include "eml_test.h"
#include "eml_test_wipe.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "eml_mem.h"

static long
count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	assert_non_null(f);
	while ((c = fgetc(f)) != EOF)
		if (c == '\n')
			n++;
	fclose(f);
	return n;
}

/* 1,000 live secure blocks of mixed sizes: with an arena the process
 * gains at most the arena's few mappings; without one it would gain three
 * per block. */
static void
arena_costs_few_mappings(void **state)
{
	enum { N = 1000 };
	static void *blk[N];
	struct eml_arena *a = NULL;
	struct eml_arena_stats st;
	long before, during, after;

	(void)state;
	assert_eml_ok(eml_arena_new(0, &a));
	before = count_maps();
	assert_null(eml_arena_use(a));
	for (size_t i = 0; i < N; i++) {
		size_t n = 1 + (i * 7919) % 20000;

		blk[i] = eml_secure_alloc(n);
		assert_non_null(blk[i]);
		assert_true(((uintptr_t)blk[i] & 63) == 0);
		assert_true(sodium_is_zero(blk[i], n));
		memset(blk[i], 0xa5, n);
	}
	during = count_maps();
	eml_arena_stats(a, &st);
	assert_int_equal(st.segments, 1);
	assert_true(st.in_use > (size_t)N * 64);
	assert_true(during - before <= (long)eml_arena_mappings_max());
	for (size_t i = 0; i < N; i++)
		eml_secure_free(blk[i]);
	eml_arena_stats(a, &st);
	assert_int_equal(st.in_use, 0);
	assert_ptr_equal(eml_arena_use(NULL), a);
	eml_arena_free(a);
	after = count_maps();
	assert_true(after <= before);
}

/* Freed blocks are merged and reused: the same pattern of allocations
 * repeated 200 times commits no more than the first round did. */
static void
arena_reuses_freed_blocks(void **state)
{
	struct eml_arena *a = NULL;
	struct eml_arena_stats st;
	size_t first = 0;

	(void)state;
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	for (int round = 0; round < 200; round++) {
		void *x = eml_secure_alloc(3 << 20), *y = eml_secure_alloc(100);
		void *z = eml_secure_alloc(1 << 20);

		assert_non_null(x);
		assert_non_null(y);
		assert_non_null(z);
		/* free in an order that leaves holes before merging */
		eml_secure_free(y);
		eml_secure_free(x);
		x = eml_secure_alloc(2 << 20); /* fits in the hole */
		assert_non_null(x);
		assert_true(sodium_is_zero(x, 2 << 20));
		eml_secure_free(z);
		eml_secure_free(x);
		eml_arena_stats(a, &st);
		assert_int_equal(st.in_use, 0);
		if (round == 0)
			first = st.committed;
		assert_true(st.committed == first);
	}
	(void)eml_arena_use(NULL);
	eml_arena_free(a);
}

/* The limit: commits past it fail as NULL, and the arena still serves
 * what fits. */
static void
arena_limit_holds(void **state)
{
	struct eml_arena *a = NULL;
	void *p, *q;

	(void)state;
	assert_eml_ok(eml_arena_new(8u << 20, &a));
	(void)eml_arena_use(a);
	assert_null(eml_secure_alloc(9u << 20));
	p = eml_secure_alloc(6u << 20);
	assert_non_null(p);
	assert_null(eml_secure_alloc(4u << 20));
	q = eml_secure_alloc(1u << 20);
	assert_non_null(q);
	eml_secure_free(p);
	eml_secure_free(q);
	(void)eml_arena_use(NULL);
	eml_arena_free(a);
}

/* A block larger than the first segment gets a segment of its own. */
static void
arena_grows_segments(void **state)
{
	struct eml_arena *a = NULL;
	struct eml_arena_stats st;
	void *small, *big;

	(void)state;
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	small = eml_secure_alloc(4096);
	big = eml_secure_alloc(eml_arena_reserve_first() + 1);
	assert_non_null(small);
	assert_non_null(big);
	eml_arena_stats(a, &st);
	assert_int_equal(st.segments, 2);
	eml_secure_free(big);
	eml_secure_free(small);
	(void)eml_arena_use(NULL);
	eml_arena_free(a);
}

/* Wiped on free, whichever kind of block; a block from outside the arena
 * frees correctly while an arena is in use. */
static void
wiped_on_free_both_kinds(void **state)
{
	struct eml_arena *a = NULL;
	uint8_t *outside, *inside;
	const void *p = NULL;
	size_t n = 0;
	bool zero = false;

	(void)state;
	outside = eml_secure_alloc(333);
	assert_non_null(outside);
	memset(outside, 0x5a, 333);
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	inside = eml_secure_alloc(777);
	assert_non_null(inside);
	memset(inside, 0x3c, 777);
	eml_test_wipe_start();
	eml_secure_free(inside);
	assert_true(eml_test_wipe_last(&p, &n, &zero));
	assert_ptr_equal(p, inside);
	assert_int_equal(n, 777);
	assert_true(zero);
	eml_secure_free(outside);
	assert_true(eml_test_wipe_last(&p, &n, &zero));
	assert_ptr_equal(p, outside);
	assert_int_equal(n, 333);
	assert_true(zero);
	assert_int_equal(eml_test_wipe_count(), 2);
	eml_test_wipe_stop();
	(void)eml_arena_use(NULL);
	eml_arena_free(a);
}

/* A large secure block outside an arena (from 2 MiB: the client's and
 * the proxy's request buffers) is zeroed, sits in a mapping of its own
 * whose usable part starts on a 2 MiB boundary (huge pages), is wiped
 * whole on free, and its mapping is gone after it. */
static void
huge_secure_block(void **state)
{
	size_t n = ((size_t)3 << 20) + 5;
	uint8_t *p;
	const void *wp = NULL;
	size_t wn = 0;
	bool zero = false;
	long maps0;

	(void)state;
	maps0 = count_maps();
	p = eml_secure_alloc(n);
	assert_non_null(p);
	/* the header is the first 64 bytes of the first huge page */
	assert_int_equal(((uintptr_t)p - 64) & (((uintptr_t)2 << 20) - 1), 0);
	assert_true(sodium_is_zero(p, n));
	memset(p, 0x77, n);
	eml_test_wipe_start();
	eml_secure_free(p);
	assert_true(eml_test_wipe_last(&wp, &wn, &zero));
	assert_ptr_equal(wp, p);
	assert_int_equal(wn, n);
	assert_true(zero);
	eml_test_wipe_stop();
	assert_true(count_maps() <= maps0);
	/* a second one of that size is zero again (fresh pages) */
	p = eml_secure_alloc(n);
	assert_non_null(p);
	assert_true(sodium_is_zero(p, n));
	eml_secure_free(p);
}

/* A block left behind is wiped with the arena, and failure injection
 * reaches arena allocations too. */
static void
abandoned_and_injected(void **state)
{
	struct eml_arena *a = NULL;

	(void)state;
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	assert_non_null(eml_secure_alloc(1000)); /* never freed */
	eml_mem_fail_after(1);
	assert_null(eml_secure_alloc(10));
	assert_non_null(eml_secure_alloc(10));
	eml_arena_free(a); /* also clears the thread's arena */
	assert_null(eml_arena_use(NULL));
}

/* Destroying an arena wipes what is left below the bump (a block nobody
 * freed, the free blocks beside it) and makes no pass over the committed
 * bytes above it, which are zero already; an arena whose blocks were all
 * freed has nothing left to wipe. */
static void
arena_free_wipes_what_is_left(void **state)
{
	struct eml_arena *a = NULL;
	uint8_t *kept, *gone;
	const void *p = NULL;
	size_t n = 0;
	bool zero = false;

	(void)state;
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	gone = eml_secure_alloc(5000);
	kept = eml_secure_alloc(3000);
	assert_non_null(gone);
	assert_non_null(kept);
	memset(gone, 0x5a, 5000);
	memset(kept, 0xa5, 3000);
	eml_secure_free(gone); /* a free block below the live one */
	(void)eml_arena_use(NULL);
	eml_test_wipe_start();
	eml_arena_free(a);
	assert_int_equal(eml_test_wipe_count(), 1);
	assert_true(eml_test_wipe_last(&p, &n, &zero));
	assert_true((const uint8_t *)p <= gone && gone < kept);
	assert_true(kept + 3000 <= (const uint8_t *)p + n);
	assert_true(zero);
	eml_test_wipe_stop();

	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	kept = eml_secure_alloc(3 << 20);
	assert_non_null(kept);
	memset(kept, 0xa5, 3 << 20);
	eml_secure_free(kept);
	(void)eml_arena_use(NULL);
	eml_test_wipe_start();
	eml_arena_free(a);
	assert_int_equal(eml_test_wipe_count(), 0);
	eml_test_wipe_stop();
}

static void
count_free_dirty(const uint8_t *p, size_t n, bool live, void *arg)
{
	size_t *dirty = arg;

	if (live)
		return;
	for (size_t i = 0; i < n; i++)
		*dirty += p[i] != 0;
}

/* Allocations start from zero without a pass over them (issue 16): every
 * free byte of the arena stays zero. Blocks are written to their last
 * byte, freed in an order that merges them with both neighbours and gives
 * some back to the top, and new blocks laid over them read zero. */
static void
arena_free_memory_stays_zero(void **state)
{
	static const size_t sizes[] = { 1, 63, 64, 65, 200, 4096, 100000, 7, 3000, 1 << 20 };
	struct eml_arena *a = NULL;
	uint8_t *p[10];
	size_t dirty = 0;

	(void)state;
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	for (int round = 0; round < 3; round++) {
		for (size_t i = 0; i < 10; i++) {
			size_t n = sizes[(i + (size_t)round * 3) % 10];

			p[i] = eml_secure_alloc(n);
			assert_non_null(p[i]);
			for (size_t k = 0; k < n; k++)
				assert_int_equal(p[i][k], 0);
			memset(p[i], 0xa5, n);
		}
		/* odd ones first (free blocks between live ones), then the
		 * rest (merging both ways, the last one back to the top) */
		for (size_t i = 1; i < 10; i += 2)
			eml_secure_free(p[i]);
		dirty = 0;
		eml_arena_walk(a, count_free_dirty, &dirty);
		assert_int_equal(dirty, 0);
		for (size_t i = 0; i < 10; i += 2)
			eml_secure_free(p[i]);
		dirty = 0;
		eml_arena_walk(a, count_free_dirty, &dirty);
		assert_int_equal(dirty, 0);
	}
	(void)eml_arena_use(NULL);
	eml_arena_free(a);
}

static void
count_live(const uint8_t *p, size_t n, bool live, void *arg)
{
	size_t *c = arg;

	(void)p;
	(void)n;
	*c += live;
}

/* An arena recycled for another session (the agent's spare): too big,
 * refused and untouched; else every committed byte is wiped (a block
 * never freed included), nothing is left in it, its pages stay committed,
 * and a new block from it reads zero without a new commit. */
static void
arena_recycled_wiped_and_empty(void **state)
{
	struct eml_arena *a = NULL;
	struct eml_arena_stats st0, st;
	uint8_t *x, *y, *z;
	size_t dirty = 0, live = 0;

	(void)state;
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	x = eml_secure_alloc(5000); /* abandoned */
	y = eml_secure_alloc(300);
	assert_non_null(x);
	assert_non_null(y);
	memset(x, 0x77, 5000);
	memset(y, 0x66, 300);
	eml_secure_free(y);
	eml_arena_stats(a, &st0);
	assert_false(eml_arena_recycle(a, st0.committed - 1));
	assert_int_equal(x[4999], 0x77);
	assert_ptr_equal(eml_arena_current(), a);
	assert_true(eml_arena_recycle(a, st0.committed));
	assert_null(eml_arena_current());
	assert_true(sodium_is_zero(x, 5000));
	eml_arena_walk(a, count_free_dirty, &dirty);
	eml_arena_walk(a, count_live, &live);
	assert_int_equal(dirty, 0);
	assert_int_equal(live, 0);
	eml_arena_stats(a, &st);
	assert_int_equal(st.in_use, 0);
	assert_int_equal(st.peak, 0);
	assert_int_equal(st.segments, 1);
	assert_int_equal(st.committed, st0.committed);
	(void)eml_arena_use(a);
	z = eml_secure_alloc(5000);
	assert_non_null(z);
	assert_true(sodium_is_zero(z, 5000));
	eml_arena_stats(a, &st);
	assert_int_equal(st.committed, st0.committed);
	eml_secure_free(z);
	(void)eml_arena_use(NULL);
	eml_arena_free(a);
}

/* eml_stack_scrub: a thread that leaves a marker in deep frames (a large
 * one, and a small one just under the caller) and then scrubs finds no
 * marker anywhere below its frame. Run without the scrub, the same scan
 * finds both (the control: the scan can see dead frames). */
#define STACK_MARK 0x5au

static __attribute__((noinline)) void
stack_mark_deep(size_t n)
{
	volatile uint8_t deep[96 * 1024];

	for (size_t i = 0; i < n && i < sizeof(deep); i++)
		deep[i] = STACK_MARK;
}

static __attribute__((noinline)) void
stack_mark_near(void)
{
	volatile uint8_t near[512];

	for (size_t i = 0; i < sizeof(near); i++)
		near[i] = STACK_MARK;
}

/* Runs of 64 marker bytes between the stack's low end and `top`: what a
 * memory scan for a secret would see. Not instrumented: it reads dead
 * frames on purpose. */
static __attribute__((no_sanitize_address, noinline)) size_t
stack_marks_below(const uint8_t *top)
{
	pthread_attr_t at;
	void *lo;
	size_t size, runs = 0, run = 0;

	assert_int_equal(pthread_getattr_np(pthread_self(), &at), 0);
	assert_int_equal(pthread_attr_getstack(&at, &lo, &size), 0);
	pthread_attr_destroy(&at);
	for (const volatile uint8_t *p = lo; p < top; p++) {
		run = *p == STACK_MARK ? run + 1 : 0;
		if (run == 64) {
			runs++;
			run = 0;
		}
	}
	return runs;
}

static void *
stack_scrub_thread(void *arg)
{
	bool scrub = *(bool *)arg;
	uint8_t here = 0;
	size_t *found = eml_calloc(1, sizeof(*found));

	stack_mark_deep(96 * 1024);
	stack_mark_near();
	if (scrub)
		eml_stack_scrub();
	/* 1 KiB under this frame: the scan's own frame and its callees */
	*found = stack_marks_below((const uint8_t *)((uintptr_t)&here - 1024));
	return found;
}

static void
stack_scrub_leaves_no_marker(void **state)
{
	(void)state;
	for (int scrub = 0; scrub < 2; scrub++) {
		pthread_t t;
		bool arg = scrub != 0;
		size_t *found = NULL;

		assert_int_equal(pthread_create(&t, NULL, stack_scrub_thread, &arg), 0);
		assert_int_equal(pthread_join(t, (void **)&found), 0);
		assert_non_null(found);
		if (scrub)
			assert_int_equal(*found, 0);
		else
			assert_true(*found > 96 * 1024 / 64 / 2); /* the control */
		eml_free(found);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(arena_costs_few_mappings),
		cmocka_unit_test(arena_reuses_freed_blocks),
		cmocka_unit_test(arena_limit_holds),
		cmocka_unit_test(arena_grows_segments),
		cmocka_unit_test(wiped_on_free_both_kinds),
		cmocka_unit_test(huge_secure_block),
		cmocka_unit_test(abandoned_and_injected),
		cmocka_unit_test(arena_free_memory_stays_zero),
		cmocka_unit_test(arena_free_wipes_what_is_left),
		cmocka_unit_test(arena_recycled_wiped_and_empty),
		cmocka_unit_test(stack_scrub_leaves_no_marker),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("mem", tests, NULL, NULL);
}
