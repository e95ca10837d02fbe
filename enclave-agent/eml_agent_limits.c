/* eml-agent start-up check: --max-sessions against the process limits
 * (issue 18). A session costs a thread (its stack is two mappings), one
 * secure arena (a few mappings, eml_arena_mappings_max at most, and its
 * first segment's address space) and a descriptor; all of them at once
 * must fit vm.max_map_count, RLIMIT_AS and RLIMIT_NOFILE, or the limit
 * the agent advertises is one a client cannot reach. */
#include "eml_agent.h"

#include <stdio.h>
#include <sys/resource.h>

#include "eml_log.h"
#include "eml_mem.h"

#define BASE_MAPPINGS 512u                  /* libraries, heap, listener, slack */
#define SESSION_STACK ((size_t)8 << 20)     /* glibc default thread stack */
#define BASE_FDS 64u

/* The first number in a file, or -1. */
static long long
read_number(const char *path)
{
	FILE *f = fopen(path, "r");
	long long v = -1;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%lld", &v) != 1)
		v = -1;
	(void)fclose(f);
	return v;
}

size_t
eml_agent_mappings_per_session(const struct eml_agent_config *cfg)
{
	/* arena + session thread stack and guard + the engine's extra threads
	 * (stack and guard each) + a little slack */
	return eml_arena_mappings_max() + 2 + 2 * (size_t)(cfg->threads > 1 ? cfg->threads - 1 : 0) +
	    4;
}

eml_err
eml_agent_check_limits(const struct eml_agent_config *cfg, const char *map_count_path)
{
	unsigned long long n = cfg->max_sessions, need;
	long long maps;
	struct rlimit rl;

	maps = read_number(map_count_path != NULL ? map_count_path : "/proc/sys/vm/max_map_count");
	need = BASE_MAPPINGS + n * eml_agent_mappings_per_session(cfg);
	if (maps > 0 && need > (unsigned long long)maps) {
		eml_err_set_detail("--max-sessions %llu needs up to %llu memory mappings but "
				   "vm.max_map_count is %lld: raise it (sysctl -w vm.max_map_count=%llu) "
				   "or lower --max-sessions to %llu",
		    n, need, maps, need,
		    ((unsigned long long)maps - BASE_MAPPINGS) / eml_agent_mappings_per_session(cfg));
		EML_BAIL(EML_ERR_CONFIG);
	}
	if (maps <= 0)
		EML_LOG_WARN("agent.limits", NULL, EML_F_STR("unknown", "vm.max_map_count"));
	if (getrlimit(RLIMIT_AS, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		unsigned long long per = eml_arena_reserve_first() + SESSION_STACK +
		    (unsigned long long)cfg->frame_max * 4;

		need = n * per + ((unsigned long long)1 << 30);
		if (need > rl.rlim_cur) {
			eml_err_set_detail("--max-sessions %llu needs about %llu MiB of address space "
					   "but RLIMIT_AS is %llu MiB: raise it (ulimit -v %llu) or "
					   "lower --max-sessions",
			    n, need >> 20, (unsigned long long)rl.rlim_cur >> 20, need >> 10);
			EML_BAIL(EML_ERR_CONFIG);
		}
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < n + BASE_FDS) {
		if (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= n + BASE_FDS) {
			rl.rlim_cur = n + BASE_FDS;
			(void)setrlimit(RLIMIT_NOFILE, &rl);
		}
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < n + BASE_FDS) {
			eml_err_set_detail("--max-sessions %llu needs %llu descriptors but "
					   "RLIMIT_NOFILE is %llu: raise it (ulimit -n %llu) or lower "
					   "--max-sessions",
			    n, n + BASE_FDS, (unsigned long long)rl.rlim_cur, n + BASE_FDS);
			EML_BAIL(EML_ERR_CONFIG);
		}
	}
	/* Locking is best effort (eml_secure_locked): say so when the limit
	 * cannot hold two frames per session, but start. */
	if (getrlimit(RLIMIT_MEMLOCK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < n * 2 * (unsigned long long)cfg->frame_max)
		EML_LOG_WARN("agent.limits", NULL,
		    EML_F_STR("memlock", "too low to lock every session's secrets; raise ulimit -l"),
		    EML_F_U64("memlock_bytes", rl.rlim_cur),
		    EML_F_U64("wanted_bytes", n * 2 * (unsigned long long)cfg->frame_max));
	return EML_OK;
}
