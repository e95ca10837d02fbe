/*
 * Request ids of a session (client/sdk): the random base drawn with the
 * session id plus a counter in its last 8 bytes (PROTOCOL §2: correlation
 * ids, chosen by the client). Every id of a session differs from every
 * other, the carry stays in the last 8 bytes and wraps there, and the first
 * 8 bytes are the base's.
 */
#include "eml_test.h"

#include <stdlib.h>
#include <string.h>

#include "client/sdk/eml_sdk_int.h"
#include "eml_mem.h"

#define N 4096

static int
cmp_rid(const void *a, const void *b)
{
	return memcmp(a, b, EML_REQUEST_ID_LEN);
}

static void
check_distinct(const uint8_t base[EML_REQUEST_ID_LEN])
{
	struct eml_client *c = eml_calloc(1, sizeof(*c));
	uint8_t(*ids)[EML_REQUEST_ID_LEN] = eml_calloc(N + 1, EML_REQUEST_ID_LEN);

	assert_non_null(c);
	assert_non_null(ids);
	EML_MEMCPY(c->rid_base, base, EML_REQUEST_ID_LEN);
	EML_MEMCPY(ids[N], base, EML_REQUEST_ID_LEN); /* and never the base itself */
	for (size_t i = 0; i < N; i++) {
		eml_sdk_next_rid(c, ids[i]);
		assert_memory_equal(ids[i], base, 8);
	}
	qsort(ids, N + 1, EML_REQUEST_ID_LEN, cmp_rid);
	for (size_t i = 1; i <= N; i++)
		assert_true(memcmp(ids[i - 1], ids[i], EML_REQUEST_ID_LEN) != 0);
	eml_free(ids);
	eml_free(c);
}

static void
ids_of_a_session_are_distinct(void **state)
{
	uint64_t seed = eml_test_seed();
	uint8_t base[EML_REQUEST_ID_LEN];

	(void)state;
	eml_test_fill(&seed, base, sizeof(base));
	check_distinct(base);
	/* the counter wraps in the last 8 bytes within the run (base ends
	 * 100 below 2^64), and carries across bytes (base ends in 0x..00ff) */
	memset(base + 8, 0xff, 8);
	base[15] = 0xff - 100;
	check_distinct(base);
	memset(base + 8, 0, 8);
	base[15] = 0xff;
	check_distinct(base);
}

static void
carry_wraps_in_the_last_eight_bytes(void **state)
{
	struct eml_client *c = eml_calloc(1, sizeof(*c));
	uint8_t rid[EML_REQUEST_ID_LEN], want[EML_REQUEST_ID_LEN];

	(void)state;
	assert_non_null(c);
	memset(c->rid_base, 0xab, 8);
	memset(c->rid_base + 8, 0xff, 8);
	eml_sdk_next_rid(c, rid); /* base + 1: all ones + 1 = 0 */
	memset(want, 0xab, 8);
	memset(want + 8, 0, 8);
	assert_memory_equal(rid, want, sizeof(want));
	eml_sdk_next_rid(c, rid); /* base + 2 */
	want[15] = 1;
	assert_memory_equal(rid, want, sizeof(want));
	eml_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ids_of_a_session_are_distinct),
		cmocka_unit_test(carry_wraps_in_the_last_eight_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
