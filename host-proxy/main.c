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
#include "eml_proxy.h"
#include "eml_store.h"

#define EXIT_USAGE 2

static void
usage(FILE *f)
{
	(void)fprintf(f,
	    "usage: eml-proxy --listen ADDR --agent ADDR [--agent ADDR]... --weights DIR [options]\n"
	    "       eml-proxy blob put FILE --weights DIR [--sig model.sig]\n"
	    "       eml-proxy audit verify FILE [--head HEX]\n"
	    "       eml-proxy keys add --keys FILE --id ID [--partner P] [--rate N]\n"
	    "                 [--not-before UNIX_S] [--not-after UNIX_S]\n"
	    "       eml-proxy keys list|revoke|rotate --keys FILE [--id ID]\n"
	    "\n"
	    "  --listen ADDR          clients: tcp:HOST:PORT, tcp:[V6]:PORT (unix:PATH for tests)\n"
	    "  --agent ADDR           an enclave agent: vsock:CID:PORT or unix:PATH (repeatable,\n"
	    "                         round robin over the healthy ones)\n"
	    "  --weights DIR          the content-addressed weight store\n"
	    "  --admin ADDR           GET /status and /metrics on a loopback tcp address\n"
	    "  --audit FILE           hash-chained audit log (JSON lines)\n"
	    "  --audit-failure close|serve  when a line cannot be written: refuse requests\n"
	    "                         with EML_ERR_AUDIT_DOWN until it can (close, default)\n"
	    "                         or keep serving (serve); /status and /metrics say so\n"
	    "  --audit-sync every|interval  fdatasync after every line, or once a second\n"
	    "                         (interval, default)\n"
	    "  --max-clients N        concurrent clients, BUSY past it (64)\n"
	    "  --max-per-peer N       concurrent clients per client address (no limit)\n"
	    "  --max-handshake-per-peer N  of those, before their attestation response (8;\n"
	    "                         0 = no limit)\n"
	    "  --user NAME            user to drop to when started as root (nobody)\n"
	    "  --max-frame BYTES      frame size limit (67108864)\n"
	    "  --handshake-ms MS      hello to attestation response (10000)\n"
	    "  --idle-ms MS           silence with no request outstanding (60000)\n"
	    "  --request-ms MS        agent silence with a request outstanding (300000)\n"
	    "  --frame-ms MS          one frame, first byte to last (30000)\n"
	    "  --connect-ms MS        agent connect (2000)\n"
	    "  --drain-ms MS          SIGTERM: wait for in-flight requests (10000)\n"
	    "  --health-ms MS         health check period (1000)\n"
	    "  --health-rise N        successes to mark an agent up (1)\n"
	    "  --health-fall N        failures in a row to mark an agent down (3)\n"
	    "  --health ping|connect  probe with Ping/Pong (default) or connect only\n"
	    "  --no-seccomp           do not install the system call allowlist\n"
	    "\n"
	    "asynchronous jobs (docs/PROXY.md):\n"
	    "  --jobs URL             queue: sqlite:PATH (one host) or redis://HOST:PORT (shared)\n"
	    "  --jobs-listen ADDR     HTTP API (POST /v1/jobs, GET /v1/jobs/ID): tcp:HOST:PORT\n"
	    "  --job-workers N        jobs run at once by this proxy (2; 0: API only)\n"
	    "  --job-run-ms MS        expected run time; the claim lease is twice it (60000)\n"
	    "  --job-retries N        deliveries after the first (3)\n"
	    "  --job-backoff-ms MS    delay before the first retry, doubling (1000)\n"
	    "  --job-ttl-ms MS        results and failures kept for (86400000)\n"
	    "  --proxy-name NAME      this proxy in the Redis consumer group (proxy-PID)\n"
	    "\n"
	    "operator controls:\n"
	    "  --api-keys FILE        every client presents a key from FILE (reloaded on SIGHUP)\n"
	    "  --rate-limit N         requests per minute per client address, 0 = none (60)\n"
	    "  --kill-switch          start with the kill switch on (every request refused)\n"
	    "  --allow-model ID       baseline-only: serve only these content ids (repeatable)\n"
	    "  --admin-token-file F   Bearer token for the admin endpoint's POSTs\n"
	    "  --strict-artifacts     serve only blobs with a signature file beside them in the\n"
	    "                         store (blob put --sig), naming one of --signers if given\n"
	    "  --signers FILE         allowed signers' key ids, one per line (eml keys id PUB.pem)\n"
	    "  --tls-cert PEM         TLS on the client listener: certificate chain\n"
	    "  --tls-key PEM          ... and its private key\n"
	    "\n"
	    "test hooks, for integration tests only (a loud warning is printed):\n"
	    "  --tamper-frame N       flip a bit in the last byte of the N-th client frame\n"
	    "  --replay-frame N       send the N-th client frame to the agent twice\n"
	    "  --capture FILE         append every byte written to either peer to FILE\n"
	    "  (aliases: --test-tamper flip:N, --test-replay N)\n");
}

static int
fail(eml_err rc, const char *what)
{
	const char *d = eml_err_detail();

	(void)fprintf(stderr, "eml-proxy: %s: %s (%s)%s%s\n", what, eml_strerror(rc),
	    eml_err_name(rc), d[0] != '\0' ? ": " : "", d);
	return eml_err_exit_code(rc);
}

static int
cmd_blob_put(int argc, char **argv)
{
	const char *file = NULL, *dir = NULL, *sig = NULL;
	struct eml_store s;
	uint8_t id[EML_STORE_ID_LEN];
	char hex[EML_STORE_ID_HEX_LEN + 1];
	eml_err rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--sig") == 0 && i + 1 < argc)
			sig = argv[++i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (file == NULL || dir == NULL) {
		(void)fprintf(stderr, "eml-proxy: blob put FILE --weights DIR [--sig model.sig]\n");
		return EXIT_USAGE;
	}
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
cmd_audit_verify(int argc, char **argv)
{
	const char *file = NULL, *head_hex = NULL;
	struct eml_audit_report r;
	char hex[2 * EML_AUDIT_HASH_LEN + 1];
	uint8_t want[EML_AUDIT_HASH_LEN];
	eml_err rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--head") == 0 && i + 1 < argc)
			head_hex = argv[++i];
		else if (argv[i][0] != '-' && file == NULL)
			file = argv[i];
		else {
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (file == NULL) {
		(void)fprintf(stderr, "eml-proxy: audit verify FILE [--head HEX]\n");
		return EXIT_USAGE;
	}
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

/* Parse and check the keys options; 0 or an exit status. */
static int
keys_args(const char *verb, int argc, char **argv, struct keys_opts *o)
{
	static const char id_chars[] =
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-";

	memset(o, 0, sizeof(*o));
	o->rate = 60;
	for (int i = 0; i + 1 < argc; i += 2) {
		const char *k = argv[i], *v = argv[i + 1];
		eml_err prc = EML_OK;

		if (strcmp(k, "--keys") == 0)
			o->file = v;
		else if (strcmp(k, "--id") == 0)
			o->id = v;
		else if (strcmp(k, "--partner") == 0)
			o->partner = v;
		else if (strcmp(k, "--rate") == 0)
			prc = eml_num_u64(v, 0, EML_KEY_RATE_MAX, &o->rate);
		else if (strcmp(k, "--not-before") == 0)
			prc = eml_num_u64(v, 0, INT64_MAX, &o->nb);
		else if (strcmp(k, "--not-after") == 0)
			prc = eml_num_u64(v, 0, INT64_MAX, &o->na);
		else
			prc = EML_ERR_CONFIG;
		if (prc != EML_OK) {
			(void)fprintf(stderr, "eml-proxy: keys: %s %s: unknown option or bad value\n", k,
			    v);
			return EXIT_USAGE;
		}
	}
	if (argc % 2 != 0) {
		(void)fprintf(stderr, "eml-proxy: keys: %s needs a value (or is unknown)\n",
		    argv[argc - 1]);
		return EXIT_USAGE;
	}
	if (o->file == NULL || (strcmp(verb, "list") != 0 && o->id == NULL)) {
		(void)fprintf(stderr, "eml-proxy: keys %s needs --keys FILE%s\n", verb,
		    strcmp(verb, "list") != 0 ? " and --id ID" : "");
		return EXIT_USAGE;
	}
	if (o->id != NULL && eml_key_id_check(o->id) != EML_OK) {
		(void)fprintf(stderr, "eml-proxy: keys: %s\n", eml_err_detail());
		return EXIT_USAGE;
	}
	if (o->partner != NULL && (strlen(o->partner) > EML_KEY_PARTNER_MAX ||
	    strspn(o->partner, id_chars) != strlen(o->partner))) {
		(void)fprintf(stderr, "eml-proxy: keys: --partner: up to 64 of A-Z a-z 0-9 _ -\n");
		return EXIT_USAGE;
	}
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
cmd_keys(const char *verb, int argc, char **argv)
{
	struct keys_opts o;
	struct eml_keyset ks;
	eml_err rc;
	int st;

	if ((st = keys_args(verb, argc, argv, &o)) != 0)
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

/* The options that name a file or an address: true when o was one. */
static bool
str_option(struct eml_proxy_config *c, const char *o, const char *v)
{
	static const char *const names[] = { "--listen", "--weights", "--admin", "--audit",
		"--user", "--capture", "--api-keys", "--tls-cert", "--tls-key", "--admin-token-file",
		"--signers" };
	const char **slots[] = { &c->listen, &c->weights, &c->admin, &c->audit, &c->user,
		&c->capture, &c->api_keys, &c->tls_cert, &c->tls_key, &c->admin_token_file,
		&c->signers };

	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		if (strcmp(o, names[k]) == 0) {
			*slots[k] = v;
			return true;
		}
	}
	return false;
}

/* Server options. Returns 0 on success, else an exit status. */
/* The job options (docs/PROXY.md "Jobs"); false when o is not one. A bad
 * number sets *rc. */
static bool
job_opt(struct eml_proxy_config *c, const char *o, const char *v, eml_err *rc)
{
	static const struct {
		const char *name;
		uint64_t lo, max;
	} nums[] = {
		{ "--job-workers", 0, 64 }, { "--job-run-ms", 1, 86400000 },
		{ "--job-retries", 0, 100 }, { "--job-backoff-ms", 0, 86400000 },
		{ "--job-ttl-ms", 1, 31536000000 },
	};
	uint64_t n = 0;
	size_t k;

	if (strcmp(o, "--jobs") == 0) {
		c->jobs = v;
		c->job.queue.url = v;
		return true;
	}
	if (strcmp(o, "--jobs-listen") == 0 || strcmp(o, "--proxy-name") == 0) {
		*(o[2] == 'j' ? &c->job.listen : &c->job.queue.consumer) = v;
		return true;
	}
	for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
		if (strcmp(o, nums[k].name) == 0)
			break;
	if (k == sizeof(nums) / sizeof(nums[0]))
		return false;
	*rc = eml_num_u64(v, nums[k].lo, nums[k].max, &n);
	if (k == 0)
		c->job.workers = (unsigned)n;
	else if (k == 1)
		c->job.run_ms = (int64_t)n;
	else if (k == 2)
		c->job.queue.max_retries = (unsigned)n;
	else if (k == 3)
		c->job.queue.backoff_ms = (int64_t)n;
	else
		c->job.queue.result_ttl_ms = (int64_t)n;
	return true;
}

static int
parse_server(int argc, char **argv, struct eml_proxy_config *c)
{
	for (int i = 1; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t n = 0;
		eml_err rc = EML_OK;

		if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
			usage(stdout);
			return -1;
		}
		if (strcmp(o, "--no-seccomp") == 0) {
			c->no_seccomp = true;
			continue;
		}
		if (strcmp(o, "--kill-switch") == 0) {
			c->kill_switch = true;
			continue;
		}
		if (strcmp(o, "--strict-artifacts") == 0) {
			c->strict_artifacts = true;
			continue;
		}
		if (v == NULL) {
			(void)fprintf(stderr, "eml-proxy: %s needs a value (or is unknown)\n", o);
			return EXIT_USAGE;
		}
		i++;
		if (str_option(c, o, v)) {
			continue;
		} else if (strcmp(o, "--agent") == 0) {
			if (c->nagents == EML_UPSTREAMS_MAX) {
				(void)fprintf(stderr, "eml-proxy: at most %u agents\n", EML_UPSTREAMS_MAX);
				return EXIT_USAGE;
			}
			c->agents[c->nagents++] = v;
		} else if (strcmp(o, "--audit-failure") == 0) {
			if (strcmp(v, "close") == 0)
				c->audit_serve = false;
			else if (strcmp(v, "serve") == 0)
				c->audit_serve = true;
			else
				rc = EML_ERR_USAGE;
		} else if (strcmp(o, "--audit-sync") == 0) {
			if (strcmp(v, "every") == 0)
				c->audit_sync_every = true;
			else if (strcmp(v, "interval") == 0)
				c->audit_sync_every = false;
			else
				rc = EML_ERR_USAGE;
		} else if (job_opt(c, o, v, &rc)) {
			/* --jobs, --jobs-listen, --proxy-name, --job-* */
		} else if (strcmp(o, "--allow-model") == 0) {
			if (c->n_allow_models == sizeof(c->allow_models) / sizeof(c->allow_models[0])) {
				(void)fprintf(stderr, "eml-proxy: at most 256 --allow-model\n");
				return EXIT_USAGE;
			}
			c->allow_models[c->n_allow_models++] = v;
		} else if (strcmp(o, "--health") == 0) {
			if (strcmp(v, "ping") == 0)
				c->health_ping = true;
			else if (strcmp(v, "connect") == 0)
				c->health_ping = false;
			else
				rc = EML_ERR_USAGE;
		} else if (strcmp(o, "--test-tamper") == 0) {
			rc = strncmp(v, "flip:", 5) == 0 ? eml_num_u64(v + 5, 0, LONG_MAX, &n)
							 : EML_ERR_USAGE;
			c->tamper_frame = (long)n;
		} else {
			static const struct {
				const char *name;
				uint64_t max;
			} nums[] = {
				{ "--max-clients", 100000 }, { "--max-frame", UINT32_MAX },
				{ "--handshake-ms", 86400000 }, { "--idle-ms", 86400000 },
				{ "--request-ms", 86400000 }, { "--frame-ms", 86400000 },
				{ "--connect-ms", 600000 }, { "--drain-ms", 3600000 },
				{ "--health-ms", 3600000 }, { "--health-rise", 100 },
				{ "--health-fall", 100 }, { "--tamper-frame", LONG_MAX },
				{ "--replay-frame", LONG_MAX }, { "--test-replay", LONG_MAX },
				{ "--max-per-peer", 100000 }, { "--max-handshake-per-peer", 100000 },
				{ "--rate-limit", EML_KEY_RATE_MAX },
			};
			size_t k;

			for (k = 0; k < sizeof(nums) / sizeof(nums[0]); k++)
				if (strcmp(o, nums[k].name) == 0)
					break;
			if (k == sizeof(nums) / sizeof(nums[0])) {
				(void)fprintf(stderr, "eml-proxy: unknown option %s\n", o);
				return EXIT_USAGE;
			}
			rc = eml_num_u64(v, 0, nums[k].max, &n);
			switch (k) {
			case 0: c->max_clients = (unsigned)n; break;
			case 1: c->frame_max = (size_t)n; break;
			case 2: c->handshake_ms = (int64_t)n; break;
			case 3: c->idle_ms = (int64_t)n; break;
			case 4: c->request_ms = (int64_t)n; break;
			case 5: c->frame_ms = (int64_t)n; break;
			case 6: c->connect_ms = (int64_t)n; break;
			case 7: c->drain_ms = (int64_t)n; break;
			case 8: c->health_ms = (int64_t)n; break;
			case 9: c->rise = (unsigned)n; break;
			case 10: c->fall = (unsigned)n; break;
			case 11: c->tamper_frame = (long)n; break;
			case 14: c->max_per_peer = (unsigned)n; break;
			case 15: c->max_handshake_per_peer = (unsigned)n; break;
			case 16: c->rate_limit = (unsigned)n; break;
			default: c->replay_frame = (long)n; break;
			}
		}
		if (rc != EML_OK) {
			(void)fprintf(stderr, "eml-proxy: bad value for %s: %s\n", o, v);
			return EXIT_USAGE;
		}
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct eml_proxy_config cfg;
	eml_err rc;
	int st;

	if ((rc = eml_mem_init()) != EML_OK)
		return fail(rc, "init");
	if (argc >= 3 && strcmp(argv[1], "blob") == 0 && strcmp(argv[2], "put") == 0)
		return cmd_blob_put(argc - 3, argv + 3);
	if (argc >= 3 && strcmp(argv[1], "audit") == 0 && strcmp(argv[2], "verify") == 0)
		return cmd_audit_verify(argc - 3, argv + 3);
	if (argc >= 3 && strcmp(argv[1], "keys") == 0)
		return cmd_keys(argv[2], argc - 3, argv + 3);
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		(void)printf("eml-proxy 0.1.0\n");
		return 0;
	}
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	eml_proxy_config_defaults(&cfg);
	st = parse_server(argc, argv, &cfg);
	if (st != 0)
		return st < 0 ? 0 : st;
	if ((cfg.jobs == NULL) != (cfg.job.listen == NULL)) {
		(void)fprintf(stderr, "eml-proxy: --jobs and --jobs-listen go together\n");
		return EXIT_USAGE;
	}
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
