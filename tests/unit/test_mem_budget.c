/*
 * The memory budget over all arenas (eml_arena_budget_set, issue 11): an
 * arena that would commit past it does not grow, the allocation fails
 * cleanly and the thread can tell it was the budget; freeing an arena
 * gives its bytes back.
 */
#include "eml_test.h"

#include <string.h>

#include "eml_mem.h"

static void
budget_refuses_and_recovers(void **state)
{
	struct eml_arena *a = NULL, *b = NULL, *prev;
	void *small, *big;

	(void)state;
	assert_eml_ok(eml_mem_init());
	eml_arena_budget_set((size_t)4 << 20);
	assert_int_equal(eml_arena_budget_used(), 0);
	assert_eml_ok(eml_arena_new(0, &a));
	prev = eml_arena_use(a);
	(void)eml_arena_budget_hit(true);
	small = eml_secure_alloc((size_t)1 << 20);
	assert_non_null(small);
	assert_false(eml_arena_budget_hit(false));
	assert_true(eml_arena_budget_used() >= ((size_t)1 << 20));
	assert_true(eml_arena_budget_used() <= ((size_t)4 << 20));
	/* 8 MiB more cannot fit a 4 MiB budget */
	big = eml_secure_alloc((size_t)8 << 20);
	assert_null(big);
	assert_true(eml_arena_budget_hit(true));
	assert_false(eml_arena_budget_hit(false));
	/* a second arena shares the same budget */
	assert_eml_ok(eml_arena_new(0, &b));
	(void)eml_arena_use(b);
	assert_null(eml_secure_alloc((size_t)4 << 20));
	assert_true(eml_arena_budget_hit(true));
	(void)eml_arena_use(a);
	eml_secure_free(small);
	(void)eml_arena_use(prev);
	eml_arena_free(a);
	eml_arena_free(b);
	assert_int_equal(eml_arena_budget_used(), 0);
	/* with the first arena gone, the room is back */
	assert_eml_ok(eml_arena_new(0, &a));
	(void)eml_arena_use(a);
	big = eml_secure_alloc((size_t)3 << 20);
	assert_non_null(big);
	eml_secure_free(big);
	(void)eml_arena_use(prev);
	eml_arena_free(a);
	eml_arena_budget_set(0);
	assert_int_equal(eml_arena_budget_used(), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(budget_refuses_and_recovers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
