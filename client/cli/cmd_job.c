/*
 * eml job: asynchronous jobs through a proxy's job API (docs/PROXY.md).
 *
 *   eml job submit --proxy HOST:PORT --model DIR --policy FILE --input FILE...
 *                  [--job-id HEX] [--jobs-api HOST:PORT] [--ticket-dir DIR]
 *   eml job status --proxy HOST:PORT --job-id HEX [--jobs-api HOST:PORT]
 *   eml job fetch  --proxy HOST:PORT --job-id HEX --output-dir DIR [--wait]
 *                  [--model DIR] [--policy FILE] [--timeout MS]
 *                  [--jobs-api HOST:PORT] [--ticket-dir DIR]
 *
 * submit attests the enclave through the proxy, seals the job to the
 * enclave's job key, posts it and prints the job id. What opens the
 * result (the ticket, a secret) and the sealed bytes (so that a retried
 * submit resends the very same job) are kept in the ticket directory
 * (--ticket-dir, else $EML_JOB_DIR, else ~/.eml/jobs), mode 0600. fetch
 * polls the job and writes output_<i>.pb like `eml infer`. The job API
 * is on the proxy's host at PORT+1 unless --jobs-api names it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "eml/eml.h"
#include "eml_mem.h"

#define MAX_INPUTS 64

struct opts {
	const char *proxy, *api, *model, *policy, *outdir, *tdir, *job_id;
	const char *inputs[MAX_INPUTS];
	size_t n_inputs;
	unsigned timeout_ms;
	int wait;
	char api_buf[300];
	char tdir_buf[4096];
};

static int
fail(const char *what, int rc, const struct eml_client *c)
{
	return eml_cli_client_fail("eml job", what, rc, c);
}

/* The job API next to the proxy, the ticket directory from the
 * environment, when not given. */
static int
fill_defaults(struct opts *o)
{
	if (o->proxy == NULL) {
		fprintf(stderr, "eml job: --proxy is required\n");
		return -1;
	}
	if (o->api == NULL) {
		/* The job API listens on the proxy's host, next port up. */
		const char *colon = strrchr(o->proxy, ':');
		char *end = NULL;
		long port = colon != NULL ? strtol(colon + 1, &end, 10) : 0;

		if (colon == NULL || *end != '\0' || port < 1 || port >= 65535) {
			fprintf(stderr, "eml job: --proxy HOST:PORT\n");
			return -1;
		}
		(void)snprintf(o->api_buf, sizeof(o->api_buf), "%.*s:%ld", (int)(colon - o->proxy),
		    o->proxy, port + 1);
		o->api = o->api_buf;
	}
	if (o->tdir == NULL) {
		const char *e = getenv("EML_JOB_DIR"), *home = getenv("HOME");

		if (e != NULL && e[0] != '\0')
			(void)snprintf(o->tdir_buf, sizeof(o->tdir_buf), "%s", e);
		else
			(void)snprintf(o->tdir_buf, sizeof(o->tdir_buf), "%s/.eml/jobs",
			    home != NULL ? home : ".");
		o->tdir = o->tdir_buf;
	}
	return 0;
}

/* The option of name when this command has it, else NULL. */
static const char *
opt(const struct eml_args *a, const char *name)
{
	return eml_args_known(a, name) ? eml_args_str(a, name) : NULL;
}

static int
parse(const struct eml_args *a, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->proxy = opt(a, "proxy");
	o->api = opt(a, "jobs-api");
	o->model = opt(a, "model");
	o->policy = opt(a, "policy");
	o->outdir = opt(a, "output-dir");
	o->tdir = opt(a, "ticket-dir");
	o->job_id = opt(a, "job-id");
	o->wait = eml_args_known(a, "wait") && eml_args_has(a, "wait");
	if (eml_args_known(a, "timeout"))
		o->timeout_ms = (unsigned)eml_args_u64(a, "timeout", 0);
	if (eml_args_known(a, "input")) {
		o->n_inputs = eml_args_count(a, "input");
		if (o->n_inputs > MAX_INPUTS)
			return eml_args_usage(a, "at most %d inputs", MAX_INPUTS);
		for (size_t i = 0; i < o->n_inputs; i++)
			o->inputs[i] = eml_args_nth(a, "input", i);
	}
	return fill_defaults(o) == 0 ? 0 : 2;
}

static int
parse_id(const char *hex, uint8_t id[EML_CLIENT_JOB_ID_LEN])
{
	if (hex == NULL || strlen(hex) != 2 * EML_CLIENT_JOB_ID_LEN)
		return -1;
	for (size_t i = 0; i < EML_CLIENT_JOB_ID_LEN; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1 ||
		    strchr("0123456789abcdefABCDEF", hex[2 * i]) == NULL ||
		    strchr("0123456789abcdefABCDEF", hex[2 * i + 1]) == NULL)
			return -1;
		id[i] = (uint8_t)v;
	}
	return 0;
}

static void
to_hex(const uint8_t *p, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		(void)snprintf(out + 2 * i, 3, "%02x", p[i]);
}

/* mkdir -p for the ticket directory, mode 0700. */
static int
make_dirs(const char *dir)
{
	char p[4096];

	(void)snprintf(p, sizeof(p), "%s", dir);
	for (char *s = p + 1; *s != '\0'; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return -1;
		*s = '/';
	}
	return mkdir(p, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

static int
write_file(const char *path, const uint8_t *p, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < n) {
		ssize_t w = write(fd, p + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			(void)close(fd);
			return -1;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0) {
		(void)close(fd);
		return -1;
	}
	return close(fd);
}

/* Read a whole small file (at most max bytes) into malloc'ed memory. */
static uint8_t *
read_file(const char *path, size_t max, size_t *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *p = NULL;
	long sz;

	if (f == NULL)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (sz = ftell(f)) > 0 && (size_t)sz <= max &&
	    fseek(f, 0, SEEK_SET) == 0 && (p = eml_calloc(1, (size_t)sz)) != NULL) {
		if (fread(p, 1, (size_t)sz, f) != (size_t)sz) {
			eml_free(p);
			p = NULL;
		} else {
			*n = (size_t)sz;
		}
	}
	(void)fclose(f);
	return p;
}

static int
submit(struct opts *o)
{
	struct eml_client *c = NULL;
	struct eml_client_model *m = NULL;
	struct eml_client_tensor *in[MAX_INPUTS] = { NULL };
	struct eml_client_tensor flat[MAX_INPUTS];
	uint8_t id[EML_CLIENT_JOB_ID_LEN], ticket[EML_CLIENT_JOB_TICKET_LEN];
	uint8_t *sealed = NULL, *saved = NULL;
	size_t sealed_len = 0;
	char hex[2 * EML_CLIENT_JOB_ID_LEN + 1], path[4400], status[16];
	int rc, st = 0;

	memset(id, 0, sizeof(id));
	if (o->job_id != NULL && parse_id(o->job_id, id) != 0) {
		fprintf(stderr, "eml job: --job-id: 32 hex digits\n");
		return 2;
	}
	if (o->model == NULL || o->policy == NULL || o->n_inputs == 0) {
		fprintf(stderr, "eml job submit: --model, --policy and --input are required\n");
		return 2;
	}
	if (make_dirs(o->tdir) != 0) {
		fprintf(stderr, "eml job: cannot create %s: %s\n", o->tdir, strerror(errno));
		return 3;
	}
	if (o->job_id != NULL) {
		/* A retried submit sends the very same bytes: the same job. */
		(void)snprintf(path, sizeof(path), "%s/%s.sealed", o->tdir, o->job_id);
		saved = read_file(path, (size_t)64 << 20, &sealed_len);
	}
	if (saved == NULL) {
		if ((st = eml_cli_request_load("eml job", o->inputs, o->n_inputs, in, flat,
		    o->model, &m)) != 0)
			goto out;
		if ((rc = eml_client_connect(o->proxy, &c)) != 0) {
			st = fail("connect", rc, NULL);
			goto out;
		}
		if (o->timeout_ms != 0)
			(void)eml_client_set_timeout(c, o->timeout_ms);
		if ((rc = eml_client_attest(c, o->policy)) != 0) {
			st = fail("attestation", rc, c);
			goto out;
		}
		if ((rc = eml_client_job_seal(c, m, flat, o->n_inputs, id, ticket, &sealed,
		    &sealed_len)) != 0) {
			st = fail("seal", rc, c);
			goto out;
		}
		to_hex(id, sizeof(id), hex);
		(void)snprintf(path, sizeof(path), "%s/%s.ticket", o->tdir, hex);
		if (write_file(path, ticket, sizeof(ticket)) != 0) {
			fprintf(stderr, "eml job: cannot write %s: %s\n", path, strerror(errno));
			st = 3;
			goto out;
		}
		(void)snprintf(path, sizeof(path), "%s/%s.sealed", o->tdir, hex);
		if (write_file(path, sealed, sealed_len) != 0) {
			fprintf(stderr, "eml job: cannot write %s: %s\n", path, strerror(errno));
			st = 3;
			goto out;
		}
	} else {
		to_hex(id, sizeof(id), hex);
	}
	if ((rc = eml_client_job_submit(o->api, saved != NULL ? saved : sealed, sealed_len,
	    status)) != 0) {
		st = fail("submit", rc, NULL);
		goto out;
	}
	printf("%s\n", hex);
	fprintf(stderr, "eml job: %s %s\n", hex, status);
out:
	memset(ticket, 0, sizeof(ticket));
	eml_client_free(sealed);
	eml_free(saved);
	eml_client_close(c);
	eml_client_model_close(m);
	for (size_t i = 0; i < o->n_inputs; i++)
		eml_client_tensors_free(in[i], 1);
	return st;
}

static int
status_cmd(struct opts *o)
{
	uint8_t id[EML_CLIENT_JOB_ID_LEN];
	char status[16];
	int rc, code = 0;

	if (parse_id(o->job_id, id) != 0) {
		fprintf(stderr, "eml job: --job-id: 32 hex digits\n");
		return 2;
	}
	if ((rc = eml_client_job_status(o->api, id, status, &code, NULL, NULL)) != 0)
		return fail("status", rc, NULL);
	if (strcmp(status, "failed") == 0)
		printf("failed %d %s\n", code, eml_client_error_name(code));
	else
		printf("%s\n", status);
	return 0;
}

static void
nap_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

static int
fetch(struct opts *o)
{
	uint8_t id[EML_CLIENT_JOB_ID_LEN];
	uint8_t *ticket = NULL, *res = NULL;
	size_t tn = 0, rn = 0, n_outs = 0;
	struct eml_client_tensor *outs = NULL;
	char path[4400], status[16];
	int rc, code = 0, st = 0;
	long waited = 0, limit = o->timeout_ms != 0 ? (long)o->timeout_ms : 600000;

	if (parse_id(o->job_id, id) != 0 || o->outdir == NULL) {
		fprintf(stderr, "eml job fetch: --job-id (32 hex digits) and --output-dir\n");
		return 2;
	}
	(void)snprintf(path, sizeof(path), "%s/%s.ticket", o->tdir, o->job_id);
	ticket = read_file(path, EML_CLIENT_JOB_TICKET_LEN, &tn);
	if (ticket == NULL || tn != EML_CLIENT_JOB_TICKET_LEN) {
		fprintf(stderr, "eml job: no ticket %s (submitted from another directory?)\n", path);
		st = 3;
		goto out;
	}
	for (;;) {
		if ((rc = eml_client_job_status(o->api, id, status, &code, &res, &rn)) != 0) {
			st = fail("status", rc, NULL);
			goto out;
		}
		if (strcmp(status, "done") == 0 || strcmp(status, "failed") == 0 || !o->wait ||
		    waited >= limit)
			break;
		nap_ms(200);
		waited += 200;
	}
	if (strcmp(status, "failed") == 0) {
		st = fail("job failed", code != 0 ? code : 783, NULL);
		goto out;
	}
	if (strcmp(status, "done") != 0) {
		fprintf(stderr, "eml job: %s is %s%s\n", o->job_id, status,
		    o->wait ? " (timed out waiting)" : " (use --wait)");
		st = 3;
		goto out;
	}
	if ((rc = eml_client_job_open(ticket, res, rn, &outs, &n_outs)) != 0) {
		st = fail("open result", rc, NULL);
		goto out;
	}
	if (mkdir(o->outdir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "eml job: cannot create %s: %s\n", o->outdir, strerror(errno));
		st = 3;
		goto out;
	}
	for (size_t i = 0; i < n_outs; i++) {
		(void)snprintf(path, sizeof(path), "%s/output_%zu.pb", o->outdir, i);
		if ((rc = eml_client_tensor_save(path, &outs[i])) != 0) {
			st = fail(path, rc, NULL);
			goto out;
		}
	}
	printf("%s done: %zu outputs in %s\n", o->job_id, n_outs, o->outdir);
out:
	eml_free_wipe(ticket, tn);
	eml_client_free(res);
	eml_client_tensors_free(outs, n_outs);
	return st;
}

static int
run_submit(const struct eml_args *a)
{
	struct opts o;
	int st = parse(a, &o);

	return st != 0 ? st : submit(&o);
}

static int
run_status(const struct eml_args *a)
{
	struct opts o;
	int st = parse(a, &o);

	return st != 0 ? st : status_cmd(&o);
}

static int
run_fetch(const struct eml_args *a)
{
	struct opts o;
	int st = parse(a, &o);

	return st != 0 ? st : fetch(&o);
}

#define PROXY_OPT                                                              \
	{ "proxy", 0, EML_OPT_STR, "HOST:PORT", "the proxy", 0, 0, NULL, EML_OPT_REQUIRED }
#define API_OPT                                                                \
	{ "jobs-api", 0, EML_OPT_STR, "HOST:PORT",                                  \
		"the job API (default: the proxy's host, port + 1)", 0, 0, NULL, 0 }
#define TICKETS_OPT                                                            \
	{ "ticket-dir", 0, EML_OPT_DIR, "DIR",                                      \
		"where tickets are kept, mode 0600 (default $EML_JOB_DIR, else "    \
		"~/.eml/jobs)", 0, 0, NULL, 0 }

static const struct eml_opt submit_opts[] = {
	PROXY_OPT,
	{ "model", 0, EML_OPT_DIR, "DIR", "the split model", 0, 0, NULL, EML_OPT_REQUIRED },
	{ "policy", 0, EML_OPT_FILE, "FILE", "client policy", 0, 0, NULL, EML_OPT_REQUIRED },
	{ "input", 'i', EML_OPT_FILE, "FILE...", "input tensors (.pb)", 0, 0, NULL,
	    EML_OPT_REQUIRED | EML_OPT_MULTI },
	{ "job-id", 0, EML_OPT_STR, "HEX", "the job id (default: random)", 0, 0, NULL, 0 },
	API_OPT,
	TICKETS_OPT,
};
static const struct eml_opt status_opts[] = {
	PROXY_OPT,
	{ "job-id", 0, EML_OPT_STR, "HEX", "the job", 0, 0, NULL, EML_OPT_REQUIRED },
	API_OPT,
};
static const struct eml_opt fetch_opts[] = {
	PROXY_OPT,
	{ "job-id", 0, EML_OPT_STR, "HEX", "the job", 0, 0, NULL, EML_OPT_REQUIRED },
	{ "output-dir", 'o', EML_OPT_DIR, "DIR", "write output_<i>.pb here", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	{ "wait", 0, EML_OPT_FLAG, NULL, "poll until the job is done", 0, 0, NULL, 0 },
	{ "model", 0, EML_OPT_DIR, "DIR", "the split model", 0, 0, NULL, 0 },
	{ "policy", 0, EML_OPT_FILE, "FILE", "client policy", 0, 0, NULL, 0 },
	{ "timeout", 0, EML_OPT_U64, "MS", "how long --wait polls", 1, 86400000, NULL, 0 },
	API_OPT,
	TICKETS_OPT,
};

static const struct eml_cmd submit_cmd = { .name = "submit",
	.summary = "attest the enclave, seal a job to its job key, post it, print the job id",
	.opts = submit_opts, .n_opts = EML_OPT_N(submit_opts), .run = run_submit };
static const struct eml_cmd status_cmd_node = { .name = "status",
	.summary = "the state of a job", .opts = status_opts, .n_opts = EML_OPT_N(status_opts),
	.run = run_status };
static const struct eml_cmd fetch_cmd = { .name = "fetch",
	.summary = "fetch and open a job's result; writes output_<i>.pb like eml infer",
	.opts = fetch_opts, .n_opts = EML_OPT_N(fetch_opts), .run = run_fetch };
static const struct eml_cmd *const job_subs[] = { &submit_cmd, &status_cmd_node, &fetch_cmd };

const struct eml_cmd eml_cli_job = { .name = "job",
	.summary = "asynchronous jobs through a proxy's job API: submit, status, fetch",
	.subs = job_subs, .n_subs = EML_OPT_N(job_subs) };
