/*
 * eml-agent: the enclave side (DESIGN §3, §9).
 *
 *   eml-agent --listen vsock:CID:PORT|unix:PATH --attest nsm|sim
 *             [--sim-dir DIR] [--sim-pcrs FILE] [--policy FILE] [--threads N]
 *             [--max-sessions N]
 *   eml-agent --policy-digest [--policy FILE]
 *             print the digest this agent would put in user_data, and exit
 *
 * Start-up order (STYLE §32): seed the RNG (from the NSM when nsm), pick
 * the kernels, refuse core dumps, then serve.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "eml_agent.h"
#include "eml_agent_seccomp.h"
#include "eml_fault.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_num.h"
#include "engine/kernels/eml_kernels.h"

static volatile sig_atomic_t stop_flag;
/* Tests only: a call the seccomp filter forbids, made right after it is
 * installed ("open", "socket" or "exec"); the test expects SIGSYS. */
static const char *seccomp_selftest;

static void
on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: eml-agent --listen vsock:CID:PORT|unix:PATH --attest nsm|sim\n"
		   "                 [--sim-dir DIR] [--sim-pcrs MEASUREMENTS.json] [--policy FILE]\n"
		   "                 [--threads N]\n"
		   "                 [--max-sessions N] [--idle-timeout MS] [--host-timeout MS]\n"
		   "                 [--sim-evidence-clock-offset SECONDS]\n"
		   "                 [--job-key FILE]\n"
		   "                 [--insecure-any-model]  (development only: a policy that pins\n"
		   "                                          no model and no signer)\n"
		   "       eml-agent --policy-digest [--policy FILE]\n");
}

/* --insecure-any-model: serve a policy that pins no model and no signer */
static bool any_model;

static int
parse_args(int argc, char **argv, struct eml_agent_config *cfg, const char **policy,
    bool *digest_only)
{
	bool have_listen = false;

	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n = 0;

		if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
			usage(stdout);
			exit(0);
		}
		if (strcmp(o, "--policy-digest") == 0) {
			*digest_only = true;
			continue;
		}
		if (strcmp(o, "--insecure-any-model") == 0) {
			any_model = true;
			continue;
		}
		if (v == NULL) {
			fprintf(stderr, "eml-agent: %s needs a value\n", o);
			return -1;
		}
		i++;
		if (strcmp(o, "--listen") == 0) {
			if (eml_addr_parse(v, &cfg->listen) != EML_OK ||
			    cfg->listen.kind == EML_ADDR_TCP) {
				/* DESIGN §2: the agent never listens on TCP. */
				fprintf(stderr, "eml-agent: --listen: want vsock:CID:PORT or unix:PATH "
						"(%s)\n", eml_err_detail());
				return -1;
			}
			have_listen = true;
		} else if (strcmp(o, "--attest") == 0) {
			if (strcmp(v, "nsm") == 0)
				cfg->producer = EML_AGENT_ATTEST_NSM;
			else if (strcmp(v, "sim") == 0)
				cfg->producer = EML_AGENT_ATTEST_SIM;
			else {
				fprintf(stderr, "eml-agent: --attest: nsm or sim\n");
				return -1;
			}
		} else if (strcmp(o, "--sim-dir") == 0) {
			cfg->sim_dir = v;
		} else if (strcmp(o, "--seccomp-selftest") == 0) {
			seccomp_selftest = v;
		} else if (strcmp(o, "--sim-pcrs") == 0) {
			cfg->sim_pcrs = v;
		} else if (strcmp(o, "--policy") == 0) {
			*policy = v;
		} else if (strcmp(o, "--job-key") == 0) {
			cfg->job_key_path = v;
		} else if (strcmp(o, "--threads") == 0 && eml_num_u64(v, 1, 256, &n) == EML_OK) {
			cfg->threads = (int)n;
		} else if (strcmp(o, "--max-sessions") == 0 && eml_num_u64(v, 1, 4096, &n) == EML_OK) {
			cfg->max_sessions = (unsigned)n;
		} else if (strcmp(o, "--idle-timeout") == 0 &&
		    eml_num_u64(v, 1, 86400000, &n) == EML_OK) {
			cfg->idle_timeout_ms = (int64_t)n;
		} else if (strcmp(o, "--host-timeout") == 0 &&
		    eml_num_u64(v, 1, 86400000, &n) == EML_OK) {
			cfg->host_timeout_ms = (int64_t)n;
		} else if (strcmp(o, "--sim-evidence-clock-offset") == 0 &&
		    eml_num_u64(v[0] == '-' ? v + 1 : v, 0, 3650u * 86400u, &n) == EML_OK) {
			/* Tests only: evidence as if made this many seconds
			 * from now (negative: in the past). */
			cfg->sim_evidence_offset_ms = (int64_t)n * 1000 * (v[0] == '-' ? -1 : 1);
		} else {
			fprintf(stderr, "eml-agent: bad option or value: %s %s\n", o, v);
			return -1;
		}
	}
	if (!*digest_only && (!have_listen || cfg->producer == 0)) {
		fprintf(stderr, "eml-agent: --listen and --attest are required\n");
		return -1;
	}
	if (cfg->sim_evidence_offset_ms != 0 && cfg->producer != EML_AGENT_ATTEST_SIM) {
		fprintf(stderr, "eml-agent: --sim-evidence-clock-offset needs --attest sim\n");
		return -1;
	}
	/* A simulator on a throwaway in-memory root is useless to clients:
	 * they can only trust a root they were given. */
	if (cfg->sim_pcrs != NULL && cfg->producer != EML_AGENT_ATTEST_SIM) {
		fprintf(stderr, "eml-agent: --sim-pcrs goes with --attest sim (the NSM reports "
				"the real PCRs)\n");
		return -1;
	}
	if (!*digest_only && cfg->producer == EML_AGENT_ATTEST_SIM && cfg->sim_dir == NULL) {
		fprintf(stderr, "eml-agent: --attest sim needs --sim-dir DIR "
				"(make one with: eml attest sim-init DIR)\n");
		return -1;
	}
	return 0;
}

static void
seccomp_forbidden_call(const char *what)
{
	static char arg0[] = "true";
	char *const args[] = { arg0, NULL };

	if (strcmp(what, "open") == 0) {
		int fd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);

		if (fd < 0 && errno == EACCES) {
			fprintf(stderr, "eml-agent: --seccomp-selftest open: refused (EACCES)\n");
			return;
		}
		if (fd >= 0)
			(void)close(fd);
	} else if (strcmp(what, "socket") == 0)
		(void)socket(AF_INET, SOCK_STREAM, 0);
	else if (strcmp(what, "exec") == 0)
		(void)execv("/bin/true", args);
	fprintf(stderr, "eml-agent: --seccomp-selftest %s: the call was allowed\n", what);
}

int
main(int argc, char **argv)
{
	struct eml_agent_config cfg;
	struct eml_agent *agent = NULL;
	const char *policy = NULL;
	bool digest_only = false;
	struct sigaction sa;
	eml_err rc;
	char addr[EML_ADDR_STR_MAX];

	eml_agent_config_defaults(&cfg);
	if (parse_args(argc, argv, &cfg, &policy, &digest_only) != 0) {
		usage(stderr);
		return 2;
	}
	/* libsodium init; the RNG is seeded from the kernel here, and for nsm
	 * the producer mixes NSM randomness in when it opens. */
	if (eml_mem_init() != EML_OK) {
		fprintf(stderr, "eml-agent: cannot initialise libsodium\n");
		return 3;
	}
	if ((rc = eml_manifest_load(policy, &cfg.policy)) != EML_OK) {
		fprintf(stderr, "eml-agent: policy: %s (%s): %s\n", eml_strerror(rc),
		    eml_err_name(rc), eml_err_detail());
		return eml_err_exit_code(rc) == 3 ? 3 : 2;
	}
	if (digest_only) {
		for (size_t i = 0; i < sizeof(cfg.policy.digest); i++)
			printf("%02x", cfg.policy.digest[i]);
		printf("\n");
		eml_manifest_clear(&cfg.policy);
		return 0;
	}
	/* The advertised session bound must be one a client can reach. */
	if ((rc = eml_agent_check_limits(&cfg, NULL)) != EML_OK) {
		fprintf(stderr, "eml-agent: %s\n", eml_err_detail());
		eml_manifest_clear(&cfg.policy);
		return eml_err_exit_code(rc);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGTERM, &sa, NULL);
	(void)sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	(void)sigaction(SIGPIPE, &sa, NULL);
	/* STYLE §32 order: the producer opens first (with nsm it seeds the
	 * kernel RNG), then the kernels are chosen, then dumps are refused,
	 * then we serve. */
	if ((rc = eml_agent_new(&cfg, &agent)) != EML_OK) {
		fprintf(stderr, "eml-agent: start: %s (%s): %s\n", eml_strerror(rc),
		    eml_err_name(rc), eml_err_detail());
		return eml_err_exit_code(rc);
	}
	/* Fail closed (issue 13): a policy must pin content ids or name
	 * publishers whose signature a model needs; "run anything" exists
	 * only behind a flag that says what it is, loudly, on every start. */
	if (cfg.policy.n_models == 0 && cfg.policy.n_publishers == 0) {
		if (!any_model) {
			fprintf(stderr, "eml-agent: the policy pins no model (\"models\") and names no "
					"publisher (\"publishers\"): it would run any model. Pin the "
					"content ids or the signers (--insecure-any-model is for "
					"development only)\n");
			eml_agent_free(agent);
			return 2;
		}
		fprintf(stderr,
		    "\n****************************************************************\n"
		    "*  eml-agent: --insecure-any-model: DEVELOPMENT ONLY.           *\n"
		    "*  This enclave runs ANY model sent to it: its policy pins no   *\n"
		    "*  content id and no signer. Never deploy it like this.         *\n"
		    "****************************************************************\n\n");
		EML_LOG_WARN("agent.insecure_any_model", NULL, EML_F_BOOL("any_model", true));
	}
	EML_LOG_INFO("agent.kernels", NULL, EML_F_STR("isa", eml_isa_name(eml_kernels_get()->isa)));
	/* No core dumps, no ptrace by the same uid: memory holds keys and
	 * weights. */
	if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		fprintf(stderr, "eml-agent: PR_SET_DUMPABLE: %s\n", strerror(errno));
		eml_agent_free(agent);
		return 3;
	}
	eml_agent_local_addr(agent, addr, sizeof(addr));
	/* Listening, producer, policy and keys loaded: from here on no files,
	 * no new sockets, no exec (a forbidden call kills the process). */
#ifdef EML_FAULT_INJECTION
	if (EML_FAULT("agent_write_output"))
		eml_fault_fd = open("eml-fault-output.bin", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		    0600);
#endif
	if (eml_agent_seccomp_supported() && (rc = eml_agent_seccomp_install()) != EML_OK) {
		fprintf(stderr, "eml-agent: %s\n", eml_err_detail());
		eml_agent_free(agent);
		return 3;
	}
	EML_LOG_INFO("agent.ready", NULL, EML_F_STR("addr", addr),
	    EML_F_BOOL("seccomp", eml_agent_seccomp_supported()));
	if (seccomp_selftest != NULL)
		seccomp_forbidden_call(seccomp_selftest);
	rc = eml_agent_serve(agent, &stop_flag);
	eml_agent_free(agent);
	return rc == EML_OK ? 0 : eml_err_exit_code(rc);
}
