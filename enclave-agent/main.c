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
#include <malloc.h>
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
#include "eml_opt.h"
#include "engine/kernels/eml_kernels.h"

/*
 * The heap keeps what a request freed instead of giving it back to the
 * kernel (issue 16): every per-request assembly allocates and frees the
 * same few MiB (blob answers, plan tables), and with glibc's defaults each
 * request mapped them afresh or had them trimmed, then page-faulted and
 * zeroed them again: most of a small model's per-request time. Freed heap
 * memory that held plaintext is wiped before it is freed (eml_free_wipe);
 * secrets live in the locked session arenas, not here.
 */
#define AGENT_MMAP_THRESHOLD (32 << 20) /* glibc's own ceiling for the dynamic one */
#define AGENT_TRIM_THRESHOLD (128 << 20)

static void
heap_keep_freed(void)
{
	(void)mallopt(M_MMAP_THRESHOLD, AGENT_MMAP_THRESHOLD);
	(void)mallopt(M_TRIM_THRESHOLD, AGENT_TRIM_THRESHOLD);
}

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

/* --insecure-any-model: serve a policy that pins no model and no signer */
static bool any_model;

/* The agent's options from the table; 0 or an exit status. */
static int
parse_args(const struct eml_args *a, struct eml_agent_config *cfg, const char **policy,
    bool *digest_only)
{
	const char *v;

	*digest_only = eml_args_has(a, "policy-digest");
	any_model = eml_args_has(a, "insecure-any-model");
	if ((v = eml_args_str(a, "listen")) != NULL &&
	    (eml_addr_parse(v, &cfg->listen) != EML_OK || cfg->listen.kind == EML_ADDR_TCP))
		/* DESIGN §2: the agent never listens on TCP. */
		return eml_args_usage(a, "--listen: want vsock:CID:PORT or unix:PATH (%s)",
		    eml_err_detail());
	if (eml_args_has(a, "attest"))
		cfg->producer = eml_args_choice(a, "attest", 0) == 0 ? EML_AGENT_ATTEST_NSM
								     : EML_AGENT_ATTEST_SIM;
	cfg->sim_dir = eml_args_str(a, "sim-dir");
	cfg->sim_pcrs = eml_args_str(a, "sim-pcrs");
	cfg->job_key_path = eml_args_str(a, "job-key");
	*policy = eml_args_str(a, "policy");
	seccomp_selftest = eml_args_str(a, "seccomp-selftest");
	cfg->threads = (int)eml_args_u64(a, "threads", (uint64_t)cfg->threads);
	cfg->max_sessions = (unsigned)eml_args_u64(a, "max-sessions", cfg->max_sessions);
	cfg->idle_timeout_ms =
	    (int64_t)eml_args_u64(a, "idle-timeout", (uint64_t)cfg->idle_timeout_ms);
	cfg->host_timeout_ms =
	    (int64_t)eml_args_u64(a, "host-timeout", (uint64_t)cfg->host_timeout_ms);
	/* Tests only: evidence as if made this many seconds from now
	 * (negative: in the past). */
	cfg->sim_evidence_offset_ms = eml_args_i64(a, "sim-evidence-clock-offset", 0) * 1000;
	if (!*digest_only && (v == NULL || cfg->producer == 0))
		return eml_args_usage(a, "--listen and --attest are required");
	if (cfg->sim_evidence_offset_ms != 0 && cfg->producer != EML_AGENT_ATTEST_SIM)
		return eml_args_usage(a, "--sim-evidence-clock-offset needs --attest sim");
	/* A simulator on a throwaway in-memory root is useless to clients:
	 * they can only trust a root they were given. */
	if (cfg->sim_pcrs != NULL && cfg->producer != EML_AGENT_ATTEST_SIM)
		return eml_args_usage(a, "--sim-pcrs goes with --attest sim (the NSM reports the "
					 "real PCRs)");
	if (!*digest_only && cfg->producer == EML_AGENT_ATTEST_SIM && cfg->sim_dir == NULL)
		return eml_args_usage(a, "--attest sim needs --sim-dir DIR (make one with: eml "
					 "attest sim-init DIR)");
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

static int
serve(const struct eml_args *a)
{
	struct eml_agent_config cfg;
	struct eml_agent *agent = NULL;
	const char *policy = NULL;
	bool digest_only = false;
	struct sigaction sa;
	eml_err rc;
	int st;
	char addr[EML_ADDR_STR_MAX];

	heap_keep_freed();
	eml_agent_config_defaults(&cfg);
	if ((st = parse_args(a, &cfg, &policy, &digest_only)) != 0)
		return st;
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

static const struct eml_opt agent_opts[] = {
	{ "listen", 'l', EML_OPT_STR, "ADDR",
	    "vsock:CID:PORT (in the enclave) or unix:PATH (local simulation); never TCP", 0, 0,
	    NULL, 0 },
	{ "attest", 0, EML_OPT_CHOICE, "PRODUCER",
	    "attestation documents from the NSM (nsm) or the simulator CA (sim)", 0, 0, "nsm|sim",
	    0 },
	{ "sim-dir", 0, EML_OPT_DIR, "DIR", "the simulator CA (eml attest sim-init DIR)", 0, 0,
	    NULL, 0 },
	{ "sim-pcrs", 0, EML_OPT_FILE, "MEASUREMENTS.json",
	    "the PCRs the simulator reports (eml image measure --json)", 0, 0, NULL, 0 },
	{ "policy", 'p', EML_OPT_FILE, "FILE", "the agent policy manifest (eml policy show)", 0,
	    0, NULL, 0 },
	{ "threads", 't', EML_OPT_U64, "N", "engine threads per inference", 1, 256, NULL, 0 },
	{ "max-sessions", 0, EML_OPT_U64, "N", "concurrent sessions, BUSY past it", 1, 4096, NULL,
	    0 },
	{ "idle-timeout", 0, EML_OPT_U64, "MS", "a session silent this long is closed", 1,
	    86400000, NULL, 0 },
	{ "host-timeout", 0, EML_OPT_U64, "MS", "a host (blob) request unanswered this long "
	    "fails", 1, 86400000, NULL, 0 },
	{ "job-key", 0, EML_OPT_FILE, "FILE", "the enclave's job key (asynchronous jobs)", 0, 0,
	    NULL, 0 },
	{ "insecure-any-model", 0, EML_OPT_FLAG, NULL,
	    "development only: serve a policy that pins no model and no signer", 0, 0, NULL, 0 },
	{ "policy-digest", 0, EML_OPT_FLAG, NULL,
	    "print the digest this agent would put in user_data, and exit", 0, 0, NULL, 0 },
	{ "sim-evidence-clock-offset", 0, EML_OPT_I64, "SECONDS", "test hook",
	    (uint64_t)(-3650LL * 86400), 3650u * 86400u, NULL, EML_OPT_HIDDEN },
	{ "seccomp-selftest", 0, EML_OPT_CHOICE, "CALL", "test hook", 0, 0, "open|socket|exec",
	    EML_OPT_HIDDEN },
};

static const struct eml_cmd agent_root = { .name = "eml-agent",
	.summary = "the enclave side: attests, opens sealed models, runs inference",
	.text = "Start-up order: seed the RNG (from the NSM with --attest nsm), pick the "
		"kernels, refuse core dumps, install the system call filter, then serve. A "
		"policy must pin content ids or name publishers (--insecure-any-model is for "
		"development only).",
	.opts = agent_opts, .n_opts = EML_OPT_N(agent_opts), .run = serve };

static const struct eml_prog agent_prog = {
	.name = "eml-agent",
	.version = "0.1.0",
	.summary = "EphemeralML enclave agent",
	.text = "eml-agent runs inside an AWS Nitro Enclave (or, for local simulation, as a "
		"process with a simulator CA). It attests itself to each client, receives the "
		"topology key over the secure channel, fetches and opens the sealed weights "
		"through the host, and runs inference under its policy manifest.",
	.root = &agent_root,
	.exit_text = "0 success. 1 policy refusal. 2 usage, or an unusable policy file. 3 I/O "
		     "or start-up failure.",
};

int
main(int argc, char **argv)
{
	return eml_opt_main(&agent_prog, argc, argv);
}
