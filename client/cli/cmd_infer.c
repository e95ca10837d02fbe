/*
 * eml infer --proxy HOST:PORT --model DIR --policy FILE --input FILE...
 *           [--output-dir DIR] [--timeout MS] [--repeat N] [--evidence PATH]
 *
 * Confidential inference through a proxy, on top of libeml only: connect,
 * attest against the policy, print the verified attestation summary, then
 * run the inference and print (and optionally write) the outputs. Output
 * files are named output_<i>.pb in the graph's output order, the ONNX
 * test-data convention `eml run --local` uses too, so the two can be
 * compared byte for byte. Exit codes per DESIGN §9.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_evidence.h"
#include "cli.h"
#include "eml/eml.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "eml_num.h"

#define MAX_INPUTS 64

int
eml_cli_client_fail(const char *cmd, const char *what, int rc, const struct eml_client *c)
{
	const char *d = eml_client_detail(c);

	if (d[0] != '\0' && strstr(d, what) != NULL) /* the cause once */
		fprintf(stderr, "%s: %s (%s): %s\n", cmd, eml_client_strerror(rc),
		    eml_client_error_name(rc), d);
	else
		fprintf(stderr, "%s: %s: %s (%s)%s%s\n", cmd, what, eml_client_strerror(rc),
		    eml_client_error_name(rc), d[0] != '\0' ? ": " : "", d);
	return eml_err_exit_code((eml_err)rc);
}

static int
fail(const char *what, int rc, const struct eml_client *c)
{
	return eml_cli_client_fail("eml infer", what, rc, c);
}

int
eml_cli_request_load(const char *cmd, const char *const *paths, size_t n,
    struct eml_client_tensor **in, struct eml_client_tensor *flat, const char *model_dir,
    struct eml_client_model **m)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		if ((rc = eml_client_tensor_load(paths[i], &in[i])) != 0)
			return eml_cli_client_fail(cmd, paths[i], rc, NULL);
		flat[i] = *in[i];
	}
	if ((rc = eml_client_model_open(model_dir, m)) != 0)
		return eml_cli_client_fail(cmd, model_dir, rc, NULL);
	return 0;
}

static void
print_hex(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
}

static void
print_summary(const struct eml_client_summary *s)
{
	time_t t = (time_t)(s->timestamp_ms / 1000);
	struct tm tm;
	char when[64] = "?";

	if (gmtime_r(&t, &tm) != NULL)
		(void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	printf("attestation: verified\n");
	printf("  module         %s\n", s->module_id);
	printf("  producer       %s%s\n", s->producer,
	    strcmp(s->producer, "sim") == 0 ? " (simulated NSM, not hardware)" : "");
	printf("  trust root     %s\n", s->root);
	printf("  document time  %s\n", when);
	for (size_t i = 0; i < s->n_pcrs; i++) {
		printf("  PCR%-2u          ", s->pcrs[i].index);
		print_hex(s->pcrs[i].value, 48);
		printf("\n");
	}
	if (s->n_pcrs == 0)
		printf("  PCRs           (none pinned)\n");
	printf("  policy digest  ");
	print_hex(s->policy_digest, s->policy_digest_len);
	printf("\n  session        ");
	print_hex(s->session_id, sizeof(s->session_id));
	printf("\n");
}

static const char *
dtype_name(int dt)
{
	switch (dt) {
	case EML_CLIENT_DT_FLOAT:
		return "float32";
	case EML_CLIENT_DT_INT64:
		return "int64";
	case EML_CLIENT_DT_INT32:
		return "int32";
	case EML_CLIENT_DT_UINT8:
		return "uint8";
	case EML_CLIENT_DT_BOOL:
		return "bool";
	default:
		return "other";
	}
}

static void
print_tensor(const struct eml_client_tensor *t)
{
	size_t n = t->dtype == EML_CLIENT_DT_FLOAT ? t->nbytes / 4 : 0;

	printf("  %s  %s [", t->name, dtype_name(t->dtype));
	for (size_t d = 0; d < t->rank; d++)
		printf("%s%llu", d ? ", " : "", (unsigned long long)t->dims[d]);
	printf("]");
	if (n > 0) {
		const float *f = t->data;

		printf("  =");
		for (size_t i = 0; i < n && i < 8; i++)
			printf(" %.6g", (double)f[i]);
		if (n > 8)
			printf(" ... (%zu values)", n);
	}
	printf("\n");
}

static bool json_mode;

static json_t *
hex_json(const uint8_t *p, size_t n)
{
	char h[2 * 64 + 1];

	if (n > 64)
		n = 64;
	eml_hex_encode(h, p, n);
	return json_string(h);
}

/* --json: the verified attestation and the outputs, one document. */
static void
print_json(const struct eml_client_summary *s, const struct eml_client_tensor *t, size_t n,
    long repeat, const char *evidence, bool any_image)
{
	json_t *o = json_object(), *att = json_object(), *pcrs = json_object();
	json_t *outs = json_array();

	json_object_set_new(att, "module_id", json_string(s->module_id));
	json_object_set_new(att, "producer", json_string(s->producer));
	json_object_set_new(att, "trust_root", json_string(s->root));
	json_object_set_new(att, "timestamp_ms", json_integer((json_int_t)s->timestamp_ms));
	for (size_t i = 0; i < s->n_pcrs; i++) {
		char k[8];

		(void)snprintf(k, sizeof(k), "%u", s->pcrs[i].index);
		json_object_set_new(pcrs, k, hex_json(s->pcrs[i].value, 48));
	}
	json_object_set_new(att, "pcrs", pcrs);
	json_object_set_new(att, "policy_digest",
	    hex_json(s->policy_digest, s->policy_digest_len));
	json_object_set_new(att, "session_id", hex_json(s->session_id, sizeof(s->session_id)));
	json_object_set_new(att, "image_pinned", json_boolean(!any_image));
	json_object_set_new(o, "attestation", att);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_object(), *shape = json_array(), *first = json_array();
		size_t nf = t[i].dtype == EML_CLIENT_DT_FLOAT ? t[i].nbytes / 4 : 0;

		json_object_set_new(e, "name", json_string(t[i].name));
		json_object_set_new(e, "dtype", json_string(dtype_name(t[i].dtype)));
		for (size_t d = 0; d < t[i].rank; d++)
			json_array_append_new(shape, json_integer((json_int_t)t[i].dims[d]));
		json_object_set_new(e, "shape", shape);
		for (size_t k = 0; k < nf && k < 8; k++) {
			float v;

			memcpy(&v, (const uint8_t *)t[i].data + 4 * k, 4);
			json_array_append_new(first, json_real((double)v));
		}
		json_object_set_new(e, "first", first);
		json_array_append_new(outs, e);
	}
	json_object_set_new(o, "outputs", outs);
	json_object_set_new(o, "repeat", json_integer(repeat));
	if (evidence != NULL)
		json_object_set_new(o, "evidence", json_string(evidence));
	(void)json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
}

struct opts {
	const char *proxy, *model, *policy, *outdir, *evidence;
	const char *api_key_file;
	const char *tls_ca, *tls_name;
	const char *inputs[MAX_INPUTS];
	size_t n_inputs;
	unsigned timeout_ms;
	long repeat;
	int quiet;
	int any_image;
	bool json;
};

static int
parse(const struct eml_args *a, struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->proxy = eml_args_str(a, "proxy");
	o->model = eml_args_str(a, "model");
	o->policy = eml_args_str(a, "policy");
	o->outdir = eml_args_str(a, "output-dir");
	o->evidence = eml_args_str(a, "evidence");
	o->api_key_file = eml_args_str(a, "api-key-file");
	o->tls_ca = eml_args_str(a, "tls-ca");
	o->tls_name = eml_args_str(a, "tls-name");
	o->timeout_ms = (unsigned)eml_args_u64(a, "timeout", 0);
	o->repeat = (long)eml_args_u64(a, "repeat", 1);
	o->quiet = eml_args_has(a, "quiet");
	o->json = eml_args_has(a, "json");
	json_mode = o->json;
	o->any_image = eml_args_has(a, "insecure-any-image");
	o->n_inputs = eml_args_count(a, "input");
	if (o->n_inputs > MAX_INPUTS)
		return eml_args_usage(a, "at most %d inputs", MAX_INPUTS);
	for (size_t i = 0; i < o->n_inputs; i++)
		o->inputs[i] = eml_args_nth(a, "input", i);
	if (o->tls_name != NULL && o->tls_ca == NULL)
		return eml_args_usage(a, "--tls-name needs --tls-ca");
	return 0;
}

/* Where outputs go must be usable before anything is sent: an existing
 * writable directory, or a new one in an existing writable directory. */
static int
check_output_dir(const char *dir)
{
	struct stat st;

	if (stat(dir, &st) == 0) {
		if (S_ISDIR(st.st_mode) && access(dir, W_OK | X_OK) == 0)
			return 0;
		fprintf(stderr, "eml infer: --output-dir %s: not a writable directory\n", dir);
		return 3;
	}
	/* a new directory: its parent must exist and be writable */
	if (eml_file_check_new(dir, EML_FILE_REPLACE) != EML_OK) {
		fprintf(stderr, "eml infer: --output-dir: %s\n", eml_err_detail());
		return 3;
	}
	return 0;
}

/* The key file's first line (a token as `eml-proxy keys add` printed
 * it) into key (cap bytes); 0, or an exit status after a message. */
static int
read_api_key(const char *path, char *key, size_t cap)
{
	uint8_t *data = NULL;
	size_t n = 0, line;
	eml_err rc = eml_file_read(path, cap - 1, EML_FILE_SECRET, &data, &n);

	if (rc != EML_OK) {
		fprintf(stderr, "eml infer: --api-key-file: %s\n",
		    rc == EML_ERR_FILE_TOO_LARGE ? "longer than a key" : eml_err_detail());
		return rc == EML_ERR_FILE_TOO_LARGE ? 2 : 3;
	}
	line = strcspn((const char *)data, "\r\n");
	memcpy(key, data, line);
	key[line] = '\0';
	eml_file_free(data, n, EML_FILE_SECRET);
	if (key[0] == '\0') {
		explicit_bzero(key, cap);
		fprintf(stderr, "eml infer: --api-key-file %s: empty or longer than a key\n", path);
		return 2;
	}
	return 0;
}

static int
write_outputs(const char *dir, const struct eml_client_tensor *t, size_t n)
{
	char path[4096];

	if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "eml infer: cannot create %s: %s\n", dir, strerror(errno));
		return 3;
	}
	for (size_t i = 0; i < n; i++) {
		int rc;

		/* each file is written atomically (temporary, fsync, rename) */
		(void)snprintf(path, sizeof(path), "%s/output_%zu.pb", dir, i);
		if ((rc = eml_client_tensor_save(path, &t[i])) != 0) {
			rc = fail(path, rc, NULL);
			/* all or nothing: the outputs already written go too */
			for (size_t j = 0; j < i; j++) {
				(void)snprintf(path, sizeof(path), "%s/output_%zu.pb", dir, j);
				(void)unlink(path);
			}
			return rc;
		}
	}
	return 0;
}

/* --evidence: an existing directory (the file is named after the
 * session), or a file that does not exist yet in an existing directory.
 * Checked before connecting. */
static int
evidence_target(const char *path, bool *is_dir)
{
	struct stat st;
	char dir[4096];
	const char *slash;

	if (stat(path, &st) == 0) {
		if (S_ISDIR(st.st_mode)) {
			*is_dir = true;
			return 0;
		}
		fprintf(stderr, "eml infer: --evidence %s: exists; evidence is never overwritten\n",
		    path);
		return 2;
	}
	*is_dir = false;
	slash = strrchr(path, '/');
	(void)snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 : (int)(slash - path),
	    slash == NULL ? "." : path);
	if (dir[0] == '\0')
		(void)snprintf(dir, sizeof(dir), "/");
	if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "eml infer: --evidence %s: no directory %s\n", path, dir);
		return 2;
	}
	return 0;
}

/* Write through a temporary file and a hard link, so the name appears
 * whole or not at all, and an existing file is never replaced. */
static int
write_evidence(const char *target, bool is_dir, const uint8_t *art, size_t n)
{
	struct eml_evidence *ev = eml_calloc(1, sizeof(*ev));
	char path[4096], tmp[4200], sid[33];
	int fd = -1, ret = 3;
	eml_err rc;

	if (ev == NULL)
		return eml_cli_fail("evidence", EML_ERR_NOMEM);
	if ((rc = eml_evidence_parse(art, n, ev)) != EML_OK) {
		ret = eml_cli_fail("evidence", rc);
		goto out;
	}
	eml_hex_encode(sid, ev->session.id, 16);
	if (is_dir)
		(void)snprintf(path, sizeof(path), "%s/%s.json", target, sid);
	else
		(void)snprintf(path, sizeof(path), "%s", target);
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0 || fchmod(fd, 0644) != 0 || write(fd, art, n) != (ssize_t)n ||
	    fsync(fd) != 0) {
		fprintf(stderr, "eml infer: --evidence %s: %s\n", path, strerror(errno));
		goto out;
	}
	if (link(tmp, path) != 0) {
		fprintf(stderr, "eml infer: --evidence %s: %s\n", path, strerror(errno));
		goto out;
	}
	/* with --json stdout carries the one document only */
	fprintf(json_mode ? stderr : stdout, "evidence: %s (session %s, %llu request%s)\n", path, sid,
	    (unsigned long long)ev->session.request_count,
	    ev->session.request_count == 1 ? "" : "s");
	ret = 0;
out:
	if (fd >= 0) {
		(void)close(fd);
		(void)unlink(tmp);
	}
	eml_free(ev);
	return ret;
}

/* Everything local that can be checked before connecting: the policy
 * file readable, where evidence and outputs go usable. The inputs and the
 * model are loaded next, still before connecting. */
static int
check_local(const struct opts *o, bool *ev_dir)
{
	struct eml_attest_policy *p = eml_calloc(1, sizeof(*p));
	eml_err rc = EML_OK;
	int st;

	/* Parsed here, the same way eml attest verify does, to refuse a
	 * broken or unpinned policy before connecting; the library reads it
	 * again when it attests. */
	if (p == NULL)
		return eml_cli_fail("--policy", EML_ERR_NOMEM);
	eml_attest_policy_init(p);
	if ((st = eml_cli_policy_load(o->policy, o->policy, p, NULL, 0)) != 0) {
		eml_free(p);
		return st;
	}
	/* The library refuses an unpinned image too, but only once connected. */
	if (!o->any_image && (p->pcr_mask & 7u) != 7u) {
		char missing[32] = "";
		size_t k = 0;

		for (unsigned i = 0; i < 3; i++)
			if ((p->pcr_mask & (1u << i)) == 0)
				k += (size_t)snprintf(missing + k, sizeof(missing) - k, "%sPCR%u",
				    k > 0 ? " " : "", i);
		eml_err_set_detail("the policy %s does not pin %s: add \"pcrs\" from the image's "
				   "measurements (eml image policy, nitro-cli describe-eif)",
		    o->policy, missing);
		rc = EML_ERR_ATTEST_UNPINNED;
	}
	eml_free(p);
	if (rc != EML_OK)
		return eml_cli_fail(o->policy, rc);
	if (o->evidence != NULL && (st = evidence_target(o->evidence, ev_dir)) != 0)
		return st;
	if (o->outdir != NULL && (st = check_output_dir(o->outdir)) != 0)
		return st;
	return 0;
}

/* After the last inference: print, write the outputs, keep the evidence,
 * or the one JSON document. */
static int
finish(const struct opts *o, bool ev_dir, struct eml_client *c,
    const struct eml_client_summary *sum, const struct eml_client_tensor *outs, size_t n_outs)
{
	uint8_t *art = NULL;
	size_t art_len = 0;
	int rc, status = 0;

	if (!o->quiet && !o->json) {
		printf("result:\n");
		for (size_t i = 0; i < n_outs; i++)
			print_tensor(&outs[i]);
	}
	if (o->outdir != NULL && (status = write_outputs(o->outdir, outs, n_outs)) != 0)
		return status;
	if (o->evidence != NULL) {
		/* The final artifact: checked by the library against what this
		 * session saw, then kept. */
		if ((rc = eml_client_evidence(c, 1, &art, &art_len)) != 0)
			return fail("evidence", rc, c);
		status = write_evidence(o->evidence, ev_dir, art, art_len);
		eml_client_evidence_free(art, art_len);
		if (status != 0)
			return status;
	}
	if (o->json)
		print_json(sum, outs, n_outs, o->repeat, o->evidence, o->any_image);
	return 0;
}

static int
cmd_infer(const struct eml_args *a)
{
	struct opts o;
	struct eml_client *c = NULL;
	struct eml_client_model *m = NULL;
	struct eml_client_tensor *in[MAX_INPUTS] = { NULL };
	struct eml_client_tensor flat[MAX_INPUTS];
	struct eml_client_tensor *outs = NULL;
	struct eml_client_summary sum;
	size_t n_outs = 0;
	char key[256] = "";
	int rc, status = 0;
	bool ev_dir = false;

	if ((status = parse(a, &o)) != 0 || (status = check_local(&o, &ev_dir)) != 0)
		return status;
	if ((status = eml_cli_request_load("eml infer", o.inputs, o.n_inputs, in, flat, o.model,
	    &m)) != 0)
		goto out;
	if (o.api_key_file != NULL &&
	    (status = read_api_key(o.api_key_file, key, sizeof(key))) != 0)
		goto out;
	if ((rc = eml_client_connect(o.proxy, &c)) != 0) {
		status = fail("connect", rc, NULL);
		goto out;
	}
	if (o.timeout_ms != 0)
		(void)eml_client_set_timeout(c, o.timeout_ms);
	if (o.tls_ca != NULL && (rc = eml_client_set_tls(c, o.tls_ca, o.tls_name)) != 0) {
		status = fail("TLS", rc, c);
		goto out;
	}
	if (o.any_image) {
		/* Loud on every use, and recorded in the output. */
		fprintf(stderr, "eml infer: WARNING: --insecure-any-image: the enclave image is NOT "
				"verified; any enclave with a valid chain gets your model and inputs\n");
		(void)eml_client_set_insecure_any_image(c, 1);
	}
	if (o.api_key_file != NULL) {
		/* without the flag, the library takes EML_API_KEY */
		rc = eml_client_set_api_key(c, key);
		explicit_bzero(key, sizeof(key));
		if (rc != 0) {
			status = fail("--api-key-file", rc, c);
			goto out;
		}
	}
	if ((rc = eml_client_attest(c, o.policy)) != 0) {
		status = fail("attestation", rc, c);
		goto out;
	}
	if ((rc = eml_client_summary(c, &sum)) != 0) {
		status = fail("summary", rc, c);
		goto out;
	}
	if (!o.quiet && !o.json)
		print_summary(&sum);
	if (o.any_image && !o.json)
		printf("  image          NOT PINNED (--insecure-any-image)\n");
	for (long r = 0; r < o.repeat; r++) {
		eml_client_tensors_free(outs, n_outs);
		outs = NULL;
		n_outs = 0;
		if ((rc = eml_client_infer(c, m, flat, o.n_inputs, &outs, &n_outs)) != 0) {
			status = fail("infer", rc, c);
			goto out;
		}
	}
	status = finish(&o, ev_dir, c, &sum, outs, n_outs);
out:
	explicit_bzero(key, sizeof(key));
	eml_client_tensors_free(outs, n_outs);
	eml_client_close(c);
	eml_client_model_close(m);
	for (size_t i = 0; i < o.n_inputs; i++)
		eml_client_tensors_free(in[i], 1);
	return status;
}

static const struct eml_opt infer_opts[] = {
	{ "proxy", 0, EML_OPT_STR, "HOST:PORT", "the proxy", 0, 0, NULL, EML_OPT_REQUIRED },
	{ "model", 0, EML_OPT_DIR, "DIR", "the split model (model.topo, optional model.sig)", 0,
	    0, NULL, EML_OPT_REQUIRED },
	{ "policy", 0, EML_OPT_FILE, "FILE", "client policy: what the enclave must prove", 0, 0,
	    NULL, EML_OPT_REQUIRED },
	{ "input", 'i', EML_OPT_FILE, "FILE...", "input tensors (.pb), in graph order or by name",
	    0, 0, NULL, EML_OPT_REQUIRED | EML_OPT_MULTI },
	{ "output-dir", 'o', EML_OPT_DIR, "DIR", "write output_<i>.pb here", 0, 0, NULL, 0 },
	{ "timeout", 0, EML_OPT_U64, "MS", "deadline of each exchange", 1, 3600000, NULL, 0 },
	{ "repeat", 0, EML_OPT_U64, "N", "run the inference N times on one session", 1, 1000000,
	    NULL, 0 },
	{ "quiet", 'q', EML_OPT_FLAG, NULL, "no summary and no result on stdout", 0, 0, NULL, 0 },
	{ "json", 0, EML_OPT_FLAG, NULL,
	    "one JSON document on stdout: the verified attestation and the outputs "
	    "(docs/CLI.md)",
	    0, 0, NULL, 0 },
	{ "evidence", 0, EML_OPT_FILE, "DIR|FILE",
	    "keep the session's signed evidence (DIR/<session id>.json or FILE)", 0, 0, NULL, 0 },
	{ "insecure-any-image", 0, EML_OPT_FLAG, NULL,
	    "development only: trust an enclave image the policy does not pin", 0, 0, NULL, 0 },
	{ "api-key-file", 0, EML_OPT_FILE, "FILE",
	    "API key for the proxy (default: the environment variable EML_API_KEY)", 0, 0, NULL,
	    0 },
	{ "tls-ca", 0, EML_OPT_FILE, "FILE", "TLS to the proxy, verified against this CA", 0, 0,
	    NULL, 0 },
	{ "tls-name", 0, EML_OPT_STR, "NAME", "the name the proxy's certificate must carry", 0,
	    0, NULL, 0 },
};

const struct eml_cmd eml_cli_infer = { .name = "infer",
	.summary = "confidential inference through a proxy",
	.text = "Connects, verifies the enclave's attestation against the policy, prints the "
		"verified summary, then sends the inputs (readable only by the enclave) and "
		"prints the outputs; with --output-dir writes output_<i>.pb in graph output "
		"order, like eml run --local. Every local file and the output directory are "
		"checked before connecting.",
	.opts = infer_opts, .n_opts = EML_OPT_N(infer_opts), .run = cmd_infer };
