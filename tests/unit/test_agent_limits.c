/* eml_agent_check_limits (issue 18): --max-sessions must fit the mapping
 * limit, the address space and the descriptor limit, and the refusal
 * says what to raise. */
#include "eml_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "enclave-agent/eml_agent.h"
#include "eml_mem.h"

static char map_path[64];

static void
write_map_count(long v)
{
	FILE *f = fopen(map_path, "w");

	assert_non_null(f);
	fprintf(f, "%ld\n", v);
	fclose(f);
}

static void
mappings_bound(void **state)
{
	struct eml_agent_config cfg;
	size_t per;

	(void)state;
	eml_agent_config_defaults(&cfg);
	per = eml_agent_mappings_per_session(&cfg);
	assert_true(per >= eml_arena_mappings_max() + 2);
	/* the kernel default (65530) holds the default 64 sessions */
	write_map_count(65530);
	assert_eml_ok(eml_agent_check_limits(&cfg, map_path));
	/* a limit that holds 10 sessions refuses 64, names the sysctl and
	 * the bound that would fit */
	write_map_count((long)(512 + 10 * per));
	assert_eml(eml_agent_check_limits(&cfg, map_path), EML_ERR_CONFIG);
	assert_non_null(strstr(eml_err_detail(), "vm.max_map_count"));
	assert_non_null(strstr(eml_err_detail(), "lower --max-sessions to 10"));
	cfg.max_sessions = 10;
	assert_eml_ok(eml_agent_check_limits(&cfg, map_path));
	/* more engine threads per session cost more mappings */
	cfg.threads = 8;
	assert_true(eml_agent_mappings_per_session(&cfg) > per);
	assert_eml(eml_agent_check_limits(&cfg, map_path), EML_ERR_CONFIG);
}

static void
address_space_and_descriptors(void **state)
{
	struct eml_agent_config cfg;
	struct rlimit old_as, old_nf, rl;

	(void)state;
	eml_agent_config_defaults(&cfg);
	write_map_count(1000000);
	assert_int_equal(getrlimit(RLIMIT_AS, &old_as), 0);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old_nf), 0);
	/* 4 GiB of address space cannot hold 64 first segments */
	rl.rlim_cur = (rlim_t)4 << 30;
	rl.rlim_max = old_as.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_AS, &rl), 0);
	assert_eml(eml_agent_check_limits(&cfg, map_path), EML_ERR_CONFIG);
	assert_non_null(strstr(eml_err_detail(), "RLIMIT_AS"));
	assert_int_equal(setrlimit(RLIMIT_AS, &old_as), 0);
	/* a soft descriptor limit below the need is raised when the hard
	 * one allows, refused when it does not */
	rl.rlim_cur = 40;
	rl.rlim_max = old_nf.rlim_max;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
	if (old_nf.rlim_max == RLIM_INFINITY || old_nf.rlim_max >= 64 + 64) {
		assert_eml_ok(eml_agent_check_limits(&cfg, map_path));
		assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
		assert_true(rl.rlim_cur >= 128);
	}
	rl.rlim_cur = 40;
	rl.rlim_max = 100; /* lowering the hard limit is for good: last case */
	if (setrlimit(RLIMIT_NOFILE, &rl) == 0) {
		assert_eml(eml_agent_check_limits(&cfg, map_path), EML_ERR_CONFIG);
		assert_non_null(strstr(eml_err_detail(), "RLIMIT_NOFILE"));
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mappings_bound),
		cmocka_unit_test(address_space_and_descriptors),
	};
	int fd, rc;

	if (eml_mem_init() != EML_OK)
		return 1;
	(void)snprintf(map_path, sizeof(map_path), "/tmp/eml-maps.XXXXXX");
	fd = mkstemp(map_path);
	if (fd < 0)
		return 1;
	(void)close(fd);
	rc = cmocka_run_group_tests_name("agent_limits", tests, NULL, NULL);
	(void)unlink(map_path);
	return rc;
}
