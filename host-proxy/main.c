/*
 * eml-proxy: the untrusted host relay (DESIGN §7, docs/PROXY.md).
 *
 *   eml-proxy --listen ADDR --agent ADDR [--agent ADDR]... --weights DIR [options]
 *   eml-proxy blob put FILE --weights DIR
 *   eml-proxy audit verify FILE [--head HEX]
 *
 * Exit status (DESIGN §9): 0 success, 1 verification failure (audit
 * chain), 2 usage, 3 I/O or peer failure.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <malloc.h>
#include <stddef.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "eml_artifacts.h"
#include "eml_audit.h"
#include "eml_buf.h"
#include "eml_err.h"
#include "eml_keys.h"
#include "eml_log.h"
#include "eml_mem.h"
#include "eml_num.h"
#include "eml_opt.h"
#include "eml_proxy.h"
#include "eml_store.h"

#define EXIT_USAGE 2

static int
fail(eml_err rc, const char *what)
{
	const char *d = eml_err_detail();

	if (d[0] != '\0' && strstr(d, what) != NULL) /* the cause once */
		(void)fprintf(stderr, "eml-proxy: %s (%s): %s\n", eml_strerror(rc), eml_err_name(rc),
		    d);
	else
		(void)fprintf(stderr, "eml-proxy: %s: %s (%s)%s%s\n", what, eml_strerror(rc),
		    eml_err_name(rc), d[0] != '\0' ? ": " : "", d);
	return eml_err_exit_code(rc);
}

static int
cmd_blob_put(const struct eml_args *a)
{
	const char *file = a->pos[0], *dir = eml_args_str(a, "weights");
	const char *sig = eml_args_str(a, "sig");
	struct eml_store s;
	uint8_t id[EML_STORE_ID_LEN];
	char hex[EML_STORE_ID_HEX_LEN + 1];
	eml_err rc;

	if ((rc = eml_store_open(&s, dir)) != EML_OK)
		return fail(rc, "weight store");
	rc = eml_store_put_sealed(&s, file, id);
	/* The blob's signature file beside it, for --strict-artifacts. */
	if (rc == EML_OK && sig != NULL)
		rc = eml_artifact_put_sig(&s, id, sig);
	eml_store_close(&s);
	if (rc != EML_OK)
		return fail(rc, "blob put");
	eml_hex_encode(hex, id, sizeof(id));
	(void)printf("%s\n", hex);
	return 0;
}

static int
cmd_audit_verify(const struct eml_args *a)
{
	const char *file = a->pos[0], *head_hex = eml_args_str(a, "head");
	struct eml_audit_report r;
	char hex[2 * EML_AUDIT_HASH_LEN + 1];
	uint8_t want[EML_AUDIT_HASH_LEN];
	eml_err rc;

	if (head_hex != NULL && eml_hex_decode(want, sizeof(want), head_hex) != EML_OK) {
		(void)fprintf(stderr, "eml-proxy: --head takes 64 hex digits\n");
		return EXIT_USAGE;
	}
	rc = eml_audit_verify_file(file, &r);
	if (rc != EML_OK) {
		(void)printf("audit: BROKEN after %" PRIu64 " good lines\n", r.lines);
		return fail(rc, file);
	}
	eml_hex_encode(hex, r.head, sizeof(r.head));
	/* Not secret, but compared the way the chain is. */
	if (head_hex != NULL && sodium_memcmp(want, r.head, sizeof(want)) != 0) {
		(void)printf("audit: chain intact (%" PRIu64 " lines) but its head %s is not the "
			     "expected head: lines were cut from the end\n",
		    r.lines, hex);
		return 1;
	}
	(void)printf("audit: ok, %" PRIu64 " lines, head %s\n", r.lines, hex);
	if (r.repairs > 0)
		(void)printf("audit: %" PRIu64 " repaired cut(s); the last is recorded at line %" PRIu64
			     " (kind audit_repair: at_seq, bytes, sha256, moved_to say where the "
			     "cut tail went)\n",
		    r.repairs, r.repair_line);
	if (r.gaps > 0)
		(void)printf("audit: %" PRIu64 " gap(s) where lines could not be written (kind "
			     "audit_gap: lost, error)\n",
		    r.gaps);
	return 0;
}

/* eml-proxy keys ... options */
struct keys_opts {
	const char *file, *id, *partner;
	uint64_t rate, nb, na;
};

/* Read and check the keys options; 0 or an exit status. */
static int
keys_args(const struct eml_args *a, struct keys_opts *o)
{
	static const char id_chars[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";
	bool has_id = eml_args_known(a, "id");

	memset(o, 0, sizeof(*o));
	o->file = eml_args_str(a, "keys");
	o->id = has_id ? eml_args_str(a, "id") : NULL;
	if (eml_args_known(a, "partner")) {
		o->partner = eml_args_str(a, "partner");
		o->rate = eml_args_u64(a, "rate", 60);
		o->nb = eml_args_u64(a, "not-before", 0);
		o->na = eml_args_u64(a, "not-after", 0);
	}
	if (o->id != NULL && eml_key_id_check(o->id) != EML_OK)
		return eml_args_usage(a, "%s", eml_err_detail());
	if (o->partner != NULL && (strlen(o->partner) > EML_KEY_PARTNER_MAX ||
	    strspn(o->partner, id_chars) != strlen(o->partner)))
		return eml_args_usage(a, "--partner: up to 64 of A-Z a-z 0-9 _ -");
	return 0;
}

static void
keys_list(const struct eml_keyset *ks)
{
	(void)printf("%-32s %-20s %10s %12s %12s %s\n", "ID", "PARTNER", "RATE/MIN", "NOT_BEFORE",
	    "NOT_AFTER", "STATE");
	for (size_t i = 0; i < ks->n; i++) {
		const struct eml_key *q = &ks->keys[i];

		(void)printf("%-32s %-20s %10" PRIu32 " %12" PRId64 " %12" PRId64 " %s\n", q->id,
		    q->partner[0] != '\0' ? q->partner : "-", q->rate_per_minute, q->not_before,
		    q->not_after, q->revoked ? "revoked" : "active");
	}
}

/* A new entry for o->id at the end of ks (no secret yet); NULL after a
 * message. */
static struct eml_key *
keys_append(struct eml_keyset *ks, const struct keys_opts *o)
{
	struct eml_key *grown, *k;

	if (ks->n >= EML_KEYS_MAX) {
		(void)fprintf(stderr, "eml-proxy: keys add: at most %u keys\n", EML_KEYS_MAX);
		return NULL;
	}
	grown = eml_calloc(ks->n + 1, sizeof(*grown));
	if (grown == NULL) {
		(void)fail(EML_ERR_NOMEM, "keys add");
		return NULL;
	}
	if (ks->n > 0)
		EML_MEMCPY(grown, ks->keys, ks->n * sizeof(*grown));
	eml_free_wipe(ks->keys, ks->n * sizeof(*ks->keys));
	ks->keys = grown;
	k = &ks->keys[ks->n++];
	(void)snprintf(k->id, sizeof(k->id), "%s", o->id);
	(void)snprintf(k->partner, sizeof(k->partner), "%s", o->partner != NULL ? o->partner : "");
	k->rate_per_minute = (uint32_t)o->rate;
	k->not_before = (int64_t)o->nb;
	k->not_after = (int64_t)o->na;
	return k;
}

/* add, revoke or rotate the key of o->id in ks, then save. */
static int
keys_change(const char *verb, struct eml_keyset *ks, const struct keys_opts *o)
{
	struct eml_key *k = NULL;
	char token[EML_KEY_TOKEN_MAX + 1] = "";
	bool add = strcmp(verb, "add") == 0, revoke = strcmp(verb, "revoke") == 0;
	eml_err rc;
	int st = 1;

	if (!add && !revoke && strcmp(verb, "rotate") != 0) {
		(void)fprintf(stderr, "eml-proxy: keys: add, list, revoke or rotate\n");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < ks->n; i++)
		if (strcmp(ks->keys[i].id, o->id) == 0)
			k = &ks->keys[i];
	if (add && k != NULL) {
		(void)fprintf(stderr, "eml-proxy: keys add: id %s exists (rotate it instead)\n", o->id);
		return 1;
	}
	if (!add && k == NULL) {
		(void)fprintf(stderr, "eml-proxy: keys %s: no key with id %s\n", verb, o->id);
		return 1;
	}
	if (add && (k = keys_append(ks, o)) == NULL)
		return 1;
	k->revoked = revoke;
	if (!revoke && (rc = eml_key_generate(o->id, k->hash, token)) != EML_OK) {
		st = fail(rc, "keys");
	} else if ((rc = eml_keys_save(o->file, ks)) != EML_OK) {
		st = fail(rc, o->file);
	} else if (revoke) {
		(void)printf("revoked %s (send SIGHUP to the proxy to apply)\n", o->id);
		st = 0;
	} else {
		/* The secret, once, as the last line: the file keeps its hash only. */
		(void)printf("key %s %s; the secret is shown once:\n%s\n", o->id,
		    add ? "added" : "rotated", token);
		st = 0;
	}
	eml_wipe(token, sizeof(token));
	return st;
}

/* eml-proxy keys add|list|revoke|rotate --keys FILE ... */
static int
cmd_keys(const struct eml_args *a)
{
	const char *verb = a->cmd->name;
	struct keys_opts o;
	struct eml_keyset ks;
	eml_err rc;
	int st;

	if ((st = keys_args(a, &o)) != 0)
		return st;
	rc = eml_keys_load(o.file, &ks);
	if (rc == EML_ERR_FILE && strcmp(verb, "add") == 0 && access(o.file, F_OK) != 0) {
		eml_err_clear_detail();
		rc = EML_OK; /* add creates the file */
	}
	if (rc != EML_OK)
		return fail(rc, o.file);
	if (strcmp(verb, "list") == 0)
		keys_list(&ks);
	else
		st = keys_change(verb, &ks, &o);
	eml_keys_free(&ks);
	return st;
}

/* The server's options from the table into c; 0 or an exit status. */
static int
server_config(const struct eml_args *a, struct eml_proxy_config *c)
{
	static const struct {
		const char *name;
		size_t off;
	} strs[] = {
		{ "listen", offsetof(struct eml_proxy_config, listen) },
		{ "weights", offsetof(struct eml_proxy_config, weights) },
		{ "admin", offsetof(struct eml_proxy_config, admin) },
		{ "audit", offsetof(struct eml_proxy_config, audit) },
		{ "user", offsetof(struct eml_proxy_config, user) },
		{ "capture", offsetof(struct eml_proxy_config, capture) },
		{ "api-keys", offsetof(struct eml_proxy_config, api_keys) },
		{ "tls-cert", offsetof(struct eml_proxy_config, tls_cert) },
		{ "tls-key", offsetof(struct eml_proxy_config, tls_key) },
		{ "admin-token-file", offsetof(struct eml_proxy_config, admin_token_file) },
		{ "signers", offsetof(struct eml_proxy_config, signers) },
	};
	const char *v;

	for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++)
		if ((v = eml_args_str(a, strs[k].name)) != NULL)
			*(const char **)(void *)((char *)c + strs[k].off) = v;
	c->nagents = eml_args_count(a, "agent");
	if (c->nagents > EML_UPSTREAMS_MAX)
		return eml_args_usage(a, "at most %u agents", EML_UPSTREAMS_MAX);
	for (size_t k = 0; k < c->nagents; k++)
		c->agents[k] = eml_args_nth(a, "agent", k);
	c->n_allow_models = eml_args_count(a, "allow-model");
	if (c->n_allow_models > sizeof(c->allow_models) / sizeof(c->allow_models[0]))
		return eml_args_usage(a, "at most 256 --allow-model");
	for (size_t k = 0; k < c->n_allow_models; k++)
		c->allow_models[k] = eml_args_nth(a, "allow-model", k);
	c->no_seccomp = eml_args_has(a, "no-seccomp");
	c->kill_switch = eml_args_has(a, "kill-switch");
	c->strict_artifacts = eml_args_has(a, "strict-artifacts");
	c->audit_serve = eml_args_choice(a, "audit-failure", 0) == 1;
	c->audit_sync_every = eml_args_choice(a, "audit-sync", 1) == 0;
	c->health_ping = eml_args_choice(a, "health", 0) == 0;
	c->max_clients = (unsigned)eml_args_u64(a, "max-clients", c->max_clients);
	c->frame_max = (size_t)eml_args_u64(a, "max-frame", c->frame_max);
	c->handshake_ms = (int64_t)eml_args_u64(a, "handshake-ms", (uint64_t)c->handshake_ms);
	c->idle_ms = (int64_t)eml_args_u64(a, "idle-ms", (uint64_t)c->idle_ms);
	c->request_ms = (int64_t)eml_args_u64(a, "request-ms", (uint64_t)c->request_ms);
	c->frame_ms = (int64_t)eml_args_u64(a, "frame-ms", (uint64_t)c->frame_ms);
	c->connect_ms = (int64_t)eml_args_u64(a, "connect-ms", (uint64_t)c->connect_ms);
	c->drain_ms = (int64_t)eml_args_u64(a, "drain-ms", (uint64_t)c->drain_ms);
	c->health_ms = (int64_t)eml_args_u64(a, "health-ms", (uint64_t)c->health_ms);
	c->rise = (unsigned)eml_args_u64(a, "health-rise", c->rise);
	c->fall = (unsigned)eml_args_u64(a, "health-fall", c->fall);
	c->max_per_peer = (unsigned)eml_args_u64(a, "max-per-peer", c->max_per_peer);
	c->max_handshake_per_peer =
	    (unsigned)eml_args_u64(a, "max-handshake-per-peer", c->max_handshake_per_peer);
	c->rate_limit = (unsigned)eml_args_u64(a, "rate-limit", c->rate_limit);
	c->tamper_frame = (long)eml_args_u64(a, "tamper-frame", (uint64_t)c->tamper_frame);
	c->replay_frame = (long)eml_args_u64(a, "replay-frame", (uint64_t)c->replay_frame);
	c->replay_frame = (long)eml_args_u64(a, "test-replay", (uint64_t)c->replay_frame);
	if ((v = eml_args_str(a, "test-tamper")) != NULL) {
		uint64_t n = 0;

		if (strncmp(v, "flip:", 5) != 0 || eml_num_u64(v + 5, 0, LONG_MAX, &n) != EML_OK)
			return eml_args_usage(a, "--test-tamper: flip:N");
		c->tamper_frame = (long)n;
	}
	if ((v = eml_args_str(a, "jobs")) != NULL) {
		c->jobs = v;
		c->job.queue.url = v;
	}
	if ((v = eml_args_str(a, "jobs-listen")) != NULL)
		c->job.listen = v;
	if ((v = eml_args_str(a, "proxy-name")) != NULL)
		c->job.queue.consumer = v;
	c->job.workers = (unsigned)eml_args_u64(a, "job-workers", c->job.workers);
	c->job.run_ms = (int64_t)eml_args_u64(a, "job-run-ms", (uint64_t)c->job.run_ms);
	c->job.queue.max_retries =
	    (unsigned)eml_args_u64(a, "job-retries", c->job.queue.max_retries);
	c->job.queue.backoff_ms =
	    (int64_t)eml_args_u64(a, "job-backoff-ms", (uint64_t)c->job.queue.backoff_ms);
	c->job.queue.result_ttl_ms =
	    (int64_t)eml_args_u64(a, "job-ttl-ms", (uint64_t)c->job.queue.result_ttl_ms);
	return 0;
}

static int
cmd_serve(const struct eml_args *a)
{
	struct eml_proxy_config cfg;
	eml_err rc;
	int st;

	eml_proxy_config_defaults(&cfg);
	if ((st = server_config(a, &cfg)) != 0)
		return st;
	if ((cfg.jobs == NULL) != (cfg.job.listen == NULL))
		return eml_args_usage(a, "--jobs and --jobs-listen go together");
	/* The lease is twice the expected run time. */
	cfg.job.queue.visibility_ms = 2 * cfg.job.run_ms;
	cfg.job.frame_max = cfg.frame_max;
	if (cfg.jobs != NULL && strcmp(cfg.job.queue.consumer, "proxy") == 0) {
		static char name[32];

		(void)snprintf(name, sizeof(name), "proxy-%ld", (long)getpid());
		cfg.job.queue.consumer = name;
	}
	rc = eml_proxy_run(&cfg);
	if (rc != EML_OK) {
		if (rc == EML_ERR_CONFIG || rc == EML_ERR_ADDR)
			(void)fail(rc, "configuration");
		else
			(void)fail(rc, "start-up");
		if (rc == EML_ERR_AUDIT_FORMAT || rc == EML_ERR_AUDIT_CHAIN)
			return 3; /* a log we cannot resume: an I/O failure, not a policy */
		return rc == EML_ERR_ADDR ? EXIT_USAGE : eml_err_exit_code(rc);
	}
	return 0;
}

#define MS(nm, dflt, max, help)                                                \
	{ nm, 0, EML_OPT_U64, "MS", help " (" dflt ")", 0, max, NULL, 0 }
#define HOOK(nm, arg, kind, max)                                               \
	{ nm, 0, kind, arg, "test hook", 0, max, NULL, EML_OPT_HIDDEN }

static const struct eml_opt serve_opts[] = {
	{ "listen", 'l', EML_OPT_STR, "ADDR",
	    "clients: tcp:HOST:PORT, tcp:[V6]:PORT (unix:PATH for tests)", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	{ "agent", 'a', EML_OPT_STR, "ADDR",
	    "an enclave agent: vsock:CID:PORT or unix:PATH; round robin over the healthy ones",
	    0, 0, NULL, EML_OPT_REQUIRED | EML_OPT_REPEAT },
	{ "weights", 'w', EML_OPT_DIR, "DIR", "the content-addressed weight store", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	{ "admin", 0, EML_OPT_STR, "ADDR", "GET /status and /metrics on a loopback tcp address",
	    0, 0, NULL, 0 },
	{ "audit", 0, EML_OPT_FILE, "FILE", "hash-chained audit log (JSON lines)", 0, 0, NULL,
	    0 },
	{ "audit-failure", 0, EML_OPT_CHOICE, "MODE",
	    "when a line cannot be written: refuse requests with EML_ERR_AUDIT_DOWN until it "
	    "can (close, default) or keep serving (serve)",
	    0, 0, "close|serve", 0 },
	{ "audit-sync", 0, EML_OPT_CHOICE, "MODE",
	    "fdatasync after every line, or once a second (interval, default)", 0, 0,
	    "every|interval", 0 },
	{ "max-clients", 0, EML_OPT_U64, "N", "concurrent clients, BUSY past it (64)", 1, 100000,
	    NULL, 0 },
	{ "max-per-peer", 0, EML_OPT_U64, "N",
	    "concurrent clients per client address (0: no limit)", 0, 100000, NULL, 0 },
	{ "max-handshake-per-peer", 0, EML_OPT_U64, "N",
	    "of those, before their attestation response (8; 0: no limit)", 0, 100000, NULL, 0 },
	{ "user", 'u', EML_OPT_STR, "NAME", "user to drop to when started as root (nobody)", 0,
	    0, NULL, 0 },
	{ "max-frame", 0, EML_OPT_U64, "BYTES", "frame size limit (67108864)", 1024, UINT32_MAX,
	    NULL, 0 },
	MS("handshake-ms", "10000", 86400000, "hello to attestation response"),
	MS("idle-ms", "60000", 86400000, "silence with no request outstanding"),
	MS("request-ms", "300000", 86400000, "agent silence with a request outstanding"),
	MS("frame-ms", "30000", 86400000, "one frame, first byte to last"),
	MS("connect-ms", "2000", 600000, "agent connect"),
	MS("drain-ms", "10000", 3600000, "SIGTERM: wait for in-flight requests"),
	MS("health-ms", "1000", 3600000, "health check period"),
	{ "health-rise", 0, EML_OPT_U64, "N", "successes to mark an agent up (1)", 0, 100, NULL,
	    0 },
	{ "health-fall", 0, EML_OPT_U64, "N", "failures in a row to mark an agent down (3)", 0,
	    100, NULL, 0 },
	{ "health", 0, EML_OPT_CHOICE, "MODE", "probe with Ping/Pong (default) or connect only",
	    0, 0, "ping|connect", 0 },
	{ "no-seccomp", 0, EML_OPT_FLAG, NULL, "do not install the system call allowlist", 0, 0,
	    NULL, 0 },
	{ "jobs", 0, EML_OPT_STR, "URL",
	    "job queue: sqlite:PATH (one host) or redis://HOST:PORT (shared)", 0, 0, NULL, 0 },
	{ "jobs-listen", 0, EML_OPT_STR, "ADDR",
	    "HTTP job API (POST /v1/jobs, GET /v1/jobs/ID): tcp:HOST:PORT", 0, 0, NULL, 0 },
	{ "job-workers", 0, EML_OPT_U64, "N", "jobs run at once by this proxy (2; 0: API only)",
	    0, 64, NULL, 0 },
	{ "job-run-ms", 0, EML_OPT_U64, "MS",
	    "expected run time; the claim lease is twice it (60000)", 1, 86400000, NULL, 0 },
	{ "job-retries", 0, EML_OPT_U64, "N", "deliveries after the first (3)", 0, 100, NULL, 0 },
	{ "job-backoff-ms", 0, EML_OPT_U64, "MS", "delay before the first retry, doubling (1000)",
	    0, 86400000, NULL, 0 },
	{ "job-ttl-ms", 0, EML_OPT_U64, "MS", "results and failures kept for (86400000)", 1,
	    31536000000, NULL, 0 },
	{ "proxy-name", 0, EML_OPT_STR, "NAME", "this proxy in the Redis consumer group "
	    "(proxy-PID)", 0, 0, NULL, 0 },
	{ "api-keys", 0, EML_OPT_FILE, "FILE",
	    "every client presents a key from FILE (reloaded on SIGHUP)", 0, 0, NULL, 0 },
	{ "rate-limit", 0, EML_OPT_U64, "N", "requests per minute per client address, 0 = none "
	    "(60)", 0, EML_KEY_RATE_MAX, NULL, 0 },
	{ "kill-switch", 0, EML_OPT_FLAG, NULL, "start with the kill switch on (every request "
	    "refused)", 0, 0, NULL, 0 },
	{ "allow-model", 0, EML_OPT_STR, "ID", "baseline-only: serve only these content ids", 0,
	    0, NULL, EML_OPT_REPEAT },
	{ "admin-token-file", 0, EML_OPT_FILE, "FILE", "Bearer token for the admin endpoint's "
	    "POSTs", 0, 0, NULL, 0 },
	{ "strict-artifacts", 0, EML_OPT_FLAG, NULL,
	    "serve only blobs with a signature file beside them in the store (blob put --sig), "
	    "naming one of --signers if given",
	    0, 0, NULL, 0 },
	{ "signers", 0, EML_OPT_FILE, "FILE",
	    "allowed signers' key ids, one per line (eml keys id PUB.pem)", 0, 0, NULL, 0 },
	{ "tls-cert", 0, EML_OPT_FILE, "PEM", "TLS on the client listener: certificate chain", 0,
	    0, NULL, 0 },
	{ "tls-key", 0, EML_OPT_FILE, "PEM", "... and its private key", 0, 0, NULL, 0 },
	HOOK("tamper-frame", "N", EML_OPT_U64, LONG_MAX),
	HOOK("replay-frame", "N", EML_OPT_U64, LONG_MAX),
	HOOK("test-replay", "N", EML_OPT_U64, LONG_MAX),
	HOOK("test-tamper", "flip:N", EML_OPT_STR, 0),
	HOOK("capture", "FILE", EML_OPT_FILE, 0),
};

static const struct eml_opt blob_put_opts[] = {
	{ "weights", 'w', EML_OPT_DIR, "DIR", "the weight store", 0, 0, NULL, EML_OPT_REQUIRED },
	{ "sig", 0, EML_OPT_FILE, "model.sig",
	    "keep the model's signature beside the blob (for --strict-artifacts)", 0, 0, NULL,
	    0 },
};
static const struct eml_opt audit_verify_opts[] = {
	{ "head", 0, EML_OPT_STR, "HEX",
	    "the head hash recorded elsewhere: lines cut from the end are found", 0, 0, NULL,
	    0 },
};
#define KEYS_FILE_OPT                                                          \
	{ "keys", 'k', EML_OPT_FILE, "FILE", "the API key file", 0, 0, NULL, EML_OPT_REQUIRED }
#define KEYS_ID_OPT                                                            \
	{ "id", 0, EML_OPT_STR, "ID", "the key's id", 0, 0, NULL, EML_OPT_REQUIRED }
static const struct eml_opt keys_add_opts[] = {
	KEYS_FILE_OPT,
	KEYS_ID_OPT,
	{ "partner", 0, EML_OPT_STR, "P", "partner name (up to 64 of A-Z a-z 0-9 _ -)", 0, 0,
	    NULL, 0 },
	{ "rate", 0, EML_OPT_U64, "N", "requests per minute for this key (60)", 0,
	    EML_KEY_RATE_MAX, NULL, 0 },
	{ "not-before", 0, EML_OPT_U64, "UNIX_S", "valid from", 0, INT64_MAX, NULL, 0 },
	{ "not-after", 0, EML_OPT_U64, "UNIX_S", "valid until", 0, INT64_MAX, NULL, 0 },
};
static const struct eml_opt keys_list_opts[] = { KEYS_FILE_OPT };
static const struct eml_opt keys_id_opts[] = { KEYS_FILE_OPT, KEYS_ID_OPT };

static const struct eml_cmd blob_put_cmd = { .name = "put", .args = "FILE",
	.summary = "add a sealed blob (weights.sealed) to the weight store; prints its content "
		   "id",
	.text = "Only a sealed blob is accepted: the header and the size it implies are "
		"checked first, so a topology key or a plaintext ONNX model is refused by content "
		"and nothing is written.",
	.opts = blob_put_opts, .n_opts = EML_OPT_N(blob_put_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_blob_put };
static const struct eml_cmd *const blob_subs[] = { &blob_put_cmd };
static const struct eml_cmd blob_cmd = { .name = "blob", .summary = "the weight store",
	.subs = blob_subs, .n_subs = EML_OPT_N(blob_subs) };

static const struct eml_cmd audit_verify_cmd = { .name = "verify", .args = "FILE",
	.summary = "check an audit log's hash chain (exit 1 when broken)",
	.opts = audit_verify_opts, .n_opts = EML_OPT_N(audit_verify_opts), .min_pos = 1,
	.max_pos = 1, .run = cmd_audit_verify };
static const struct eml_cmd *const audit_subs[] = { &audit_verify_cmd };
static const struct eml_cmd audit_cmd = { .name = "audit", .summary = "the audit log",
	.subs = audit_subs, .n_subs = EML_OPT_N(audit_subs) };

static const struct eml_cmd keys_add_cmd = { .name = "add",
	.summary = "add a client API key; the secret is printed once",
	.opts = keys_add_opts, .n_opts = EML_OPT_N(keys_add_opts), .run = cmd_keys };
static const struct eml_cmd keys_list_cmd = { .name = "list", .summary = "list the keys",
	.opts = keys_list_opts, .n_opts = EML_OPT_N(keys_list_opts), .run = cmd_keys };
static const struct eml_cmd keys_revoke_cmd = { .name = "revoke", .summary = "revoke a key",
	.opts = keys_id_opts, .n_opts = EML_OPT_N(keys_id_opts), .run = cmd_keys };
static const struct eml_cmd keys_rotate_cmd = { .name = "rotate",
	.summary = "a new secret for a key, printed once", .opts = keys_id_opts,
	.n_opts = EML_OPT_N(keys_id_opts), .run = cmd_keys };
static const struct eml_cmd *const keys_subs[] = { &keys_add_cmd, &keys_list_cmd,
	&keys_revoke_cmd, &keys_rotate_cmd };
static const struct eml_cmd keys_cmd = { .name = "keys",
	.summary = "client API keys (the file keeps hashes only; SIGHUP reloads it)",
	.subs = keys_subs, .n_subs = EML_OPT_N(keys_subs) };

static const struct eml_cmd *const proxy_subs[] = { &blob_cmd, &audit_cmd, &keys_cmd };

static const struct eml_cmd proxy_root = { .name = "eml-proxy",
	.summary = "the untrusted host relay between clients and enclave agents",
	.opts = serve_opts, .n_opts = EML_OPT_N(serve_opts), .subs = proxy_subs,
	.n_subs = EML_OPT_N(proxy_subs), .run = cmd_serve };

static const struct eml_prog proxy_prog = {
	.name = "eml-proxy",
	.version = "0.1.0",
	.summary = "EphemeralML host proxy: relays sessions, serves sealed blobs, audits",
	.text = "eml-proxy runs on the parent instance, outside the enclave. It relays each "
		"client's encrypted session to an enclave agent over vsock, serves byte ranges "
		"of sealed weight blobs from a content-addressed store, and keeps a hash-chained "
		"audit log. It never holds a key that opens a session or a blob "
		"(docs/PROXY.md).",
	.root = &proxy_root,
	.exit_text = "0 success. 1 verification failure (audit verify: the chain is broken or "
		     "cut) or a refused blob (blob put of anything but a sealed blob). 2 usage or "
		     "configuration. 3 I/O or peer failure.",
};

/*
 * Each client connection is a new thread whose relay takes two 128 KiB
 * windows and a few buffers from its malloc arena and gives them back when
 * the connection ends. With glibc's defaults (a 128 KiB mmap threshold,
 * then a dynamic one, trimming past 128 KiB) every connection mapped or
 * grew its heap afresh, page-faulted and zeroed those pages, and had them
 * trimmed again at the end (madvise, a TLB shootdown): ~0.1 ms of every
 * handshake's round trip, before the hello reaches the agent. Up to 1 MiB
 * of freed heap is kept per arena (the proxy holds ciphertext and public
 * bytes on its heap; the hello with its key is in secure memory).
 */
#define PROXY_MMAP_THRESHOLD (1 << 20)
#define PROXY_TRIM_THRESHOLD (1 << 20)

int
main(int argc, char **argv)
{
	eml_err rc;

	(void)mallopt(M_MMAP_THRESHOLD, PROXY_MMAP_THRESHOLD);
	(void)mallopt(M_TRIM_THRESHOLD, PROXY_TRIM_THRESHOLD);
	if ((rc = eml_mem_init()) != EML_OK)
		return fail(rc, "init");
	return eml_opt_main(&proxy_prog, argc, argv);
}
