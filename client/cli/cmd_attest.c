/*
 * eml attest: verify Nitro attestation documents; make and use simulator
 * CAs for local runs.
 *
 *   eml attest verify DOC [--root PEM] [--at now|doc|RFC3339] [--nonce HEX]
 *                     [--pcr N=HEX]... [--user-data HEX] [--max-age SEC]
 *                     [--require-public-key] [--allow-debug] [--policy FILE]
 *                     [--json]
 *   eml attest sim-init DIR
 *   eml attest sim-doc DIR [--nonce HEX] [--user-data HEX] [--public-key HEX]
 *                     [--out FILE]
 *   eml attest digest MANIFEST.json
 *
 * The trust root is always a file: --root, else the policy's trust_root,
 * else the AWS root shipped with the project (attestation/roots/), found
 * next to the binary or under PREFIX/share/eml. Exit codes (DESIGN §9):
 * 0 verified, 1 verification or policy failure, 2 usage, 3 I/O.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_attest_sim.h"
#include "cli.h"
#include "eml_buf.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "eml_num.h"

#define AWS_ROOT_NAME "aws_nitro_root_g1.pem"
#define ROOT_FILE_MAX 65536

/* Whole file into a fresh out (ceiling max); out is left empty on failure. */
static eml_err
read_file(const char *path, size_t max, struct eml_buf *out)
{
	eml_err rc;

	eml_buf_init(out, max);
	if ((rc = eml_file_read_buf(path, max, 0, out)) != EML_OK)
		eml_buf_free(out);
	return rc;
}

/* The shipped AWS root: <bin>/../../attestation/roots (a build tree), or
 * <bin>/../share/eml (an install). Never a built-in certificate. */
static bool
default_root(char *dst, size_t n)
{
	char exe[4096];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	char *slash;
	static const char *const rel[] = { "/../../attestation/roots/" AWS_ROOT_NAME,
		"/../share/eml/" AWS_ROOT_NAME };

	if (l <= 0)
		return false;
	exe[l] = '\0';
	slash = strrchr(exe, '/');
	if (slash == NULL)
		return false;
	*slash = '\0';
	for (size_t i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
		if ((size_t)snprintf(dst, n, "%s%s", exe, rel[i]) < n && access(dst, R_OK) == 0)
			return true;
	}
	return false;
}

/* RFC 3339: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static bool
parse_rfc3339(const char *s, int64_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, used = 0;
	const char *p;
	long off = 0;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2d%*1[Tt ]%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
	    used != 19)
		return false;
	p = s + used;
	if (*p == '.') {
		p++;
		if (*p < '0' || *p > '9')
			return false;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		int oh, om;

		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2 || oh > 23 || om > 59)
			return false;
		off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
	} else {
		return false;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return false;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	if (t == (time_t)-1)
		return false;
	*out = (int64_t)t - off;
	return *out >= 0;
}

bool
eml_cli_parse_time(const char *s, int64_t *out)
{
	uint64_t v;

	/* epoch seconds: digits only, up to the year 9999 */
	if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s)) {
		if (eml_num_u64(s, 0, 253402300799ULL, &v) != EML_OK)
			return false;
		*out = (int64_t)v;
		return true;
	}
	return parse_rfc3339(s, out);
}

static bool
hex_arg(const char *s, uint8_t *dst, size_t max, size_t *len)
{
	size_t sl = strlen(s);

	if (sl % 2 != 0 || sl / 2 > max)
		return false;
	if (sl == 0) {
		*len = 0;
		return true;
	}
	if (eml_hex_decode(dst, sl / 2, s) != EML_OK)
		return false;
	*len = sl / 2;
	return true;
}

static bool
pcr_arg(const char *s, struct eml_attest_policy *pol)
{
	const char *end = strchr(s, '=');
	uint64_t idx;
	size_t len = 0;

	if (strncmp(s, "PCR", 3) == 0) /* nitro-cli's spelling */
		s += 3;
	if (end == NULL ||
	    eml_num_u64n(s, (size_t)(end - s), 0, EML_ATTEST_PCR_COUNT - 1, &idx) != EML_OK)
		return false;
	if (!hex_arg(end + 1, pol->pcr[idx], EML_ATTEST_PCR_MAX, &len) ||
	    (len != 32 && len != 48 && len != 64))
		return false;
	pol->pcr_len[idx] = len;
	pol->pcr_mask |= 1u << idx;
	return true;
}

static json_t *
hex_json(const uint8_t *p, size_t n)
{
	char *h = eml_alloc(2 * n + 1);
	json_t *j;

	if (h == NULL)
		return json_null();
	eml_hex_encode(h, p, n);
	j = json_string(h);
	eml_free(h);
	return j;
}

static json_t *
opt_json(const struct eml_attest_bytes *b)
{
	return b->present ? hex_json(b->data, b->len) : json_null();
}

static void
iso_time(char *dst, size_t n, uint64_t ms)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	char base[32];

	if (gmtime_r(&t, &tm) == NULL || strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		(void)snprintf(dst, n, "?");
		return;
	}
	(void)snprintf(dst, n, "%s.%03uZ", base, (unsigned)(ms % 1000));
}

struct verify_out {
	eml_err rc;
	bool parsed;
	const char *root_path;
	uint8_t root_sha256[32];
	bool have_root;
	const char *at;
};

static void
print_json(const struct eml_attest_doc *doc, const struct verify_out *v)
{
	json_t *o = json_object();
	char when[40];

	json_object_set_new(o, "ok", json_boolean(v->rc == EML_OK));
	if (v->rc != EML_OK) {
		json_t *e = json_object();

		json_object_set_new(e, "code", json_integer((json_int_t)v->rc));
		json_object_set_new(e, "name", json_string(eml_err_name(v->rc)));
		json_object_set_new(e, "message", json_string(eml_strerror(v->rc)));
		json_object_set_new(e, "detail", json_string(eml_err_detail()));
		json_object_set_new(o, "error", e);
	}
	json_object_set_new(o, "verified_at", json_string(v->at));
	json_object_set_new(o, "root", v->root_path != NULL ? json_string(v->root_path) : json_null());
	json_object_set_new(o, "root_sha256", v->have_root ? hex_json(v->root_sha256, 32) : json_null());
	if (v->parsed) {
		json_t *pcrs = json_object();
		json_t *bundle = json_array();

		json_object_set_new(o, "module_id", json_string(doc->module_id));
		json_object_set_new(o, "digest", json_string("SHA384"));
		json_object_set_new(o, "timestamp_ms", json_integer((json_int_t)doc->timestamp_ms));
		iso_time(when, sizeof(when), doc->timestamp_ms);
		json_object_set_new(o, "timestamp", json_string(when));
		json_object_set_new(o, "cose_tagged", json_boolean(doc->tagged));
		json_object_set_new(o, "payload_map", json_string(doc->indefinite_map ? "indefinite" : "definite"));
		json_object_set_new(o, "debug_enclave", json_boolean(eml_attest_doc_is_debug(doc)));
		for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
			char k[4];

			if (!(doc->pcr_present & (1u << i)))
				continue;
			(void)snprintf(k, sizeof(k), "%u", i);
			json_object_set_new(pcrs, k, hex_json(doc->pcr[i], doc->pcr_len[i]));
		}
		json_object_set_new(o, "pcrs", pcrs);
		json_object_set_new(o, "certificate", hex_json(doc->certificate, doc->certificate_len));
		for (size_t i = 0; i < doc->cabundle_count; i++)
			json_array_append_new(bundle, hex_json(doc->cabundle[i], doc->cabundle_len[i]));
		json_object_set_new(o, "cabundle", bundle);
		json_object_set_new(o, "public_key", opt_json(&doc->public_key));
		json_object_set_new(o, "user_data", opt_json(&doc->user_data));
		json_object_set_new(o, "nonce", opt_json(&doc->nonce));
		json_object_set_new(o, "signature", hex_json(doc->signature, EML_ATTEST_SIG_LEN));
	}
	(void)json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
}

static void
print_text(const struct eml_attest_doc *doc, const struct verify_out *v)
{
	char when[40];
	char h[2 * EML_ATTEST_PCR_MAX + 1];

	iso_time(when, sizeof(when), doc->timestamp_ms);
	printf("verified: %s\n", doc->module_id);
	printf("  timestamp  %s (%llu ms)\n", when, (unsigned long long)doc->timestamp_ms);
	printf("  checked at %s against %s\n", v->at, v->root_path);
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
		if (!(doc->pcr_present & (1u << i)))
			continue;
		eml_hex_encode(h, doc->pcr[i], doc->pcr_len[i]);
		printf("  PCR%-2u      %s\n", i, h);
	}
	printf("  public_key %s, user_data %s, nonce %s\n",
	    doc->public_key.present ? "present" : "null", doc->user_data.present ? "present" : "null",
	    doc->nonce.present ? "present" : "null");
}

int
eml_cli_policy_load(const char *what, const char *path, struct eml_attest_policy *pol, char *root,
    size_t rootn)
{
	uint8_t *p = NULL;
	size_t n = 0;
	eml_err rc = eml_file_read(path, EML_ATTEST_POLICY_FILE_MAX, EML_FILE_NONEMPTY, &p, &n);

	if (rc == EML_ERR_FILE_TOO_LARGE)
		rc = EML_ERR_ATTEST_POLICY; /* far too long for a policy: unusable as written */
	if (rc == EML_OK)
		rc = eml_attest_policy_parse(p, n, pol);
	eml_file_free(p, n, 0);
	if (rc != EML_OK)
		return eml_cli_fail(what, rc); /* unreadable: 3; malformed: 2 */
	if (root != NULL && pol->root_path[0] != '\0') {
		const char *slash = strrchr(path, '/');

		if (pol->root_path[0] == '/' || slash == NULL)
			(void)snprintf(root, rootn, "%s", pol->root_path);
		else
			(void)snprintf(root, rootn, "%.*s/%s", (int)(slash - path), path,
			    pol->root_path);
	}
	return 0;
}

struct verify_args {
	const char *doc_path;
	const char *root_path;
	const char *policy_path;
	const char *at;
	bool json;
};

static int
parse_verify_args(const struct eml_args *ar, struct verify_args *a, struct eml_attest_policy *cli,
    uint32_t *set)
{
	const char *v;

	a->doc_path = ar->pos[0];
	a->json = eml_args_has(ar, "json");
	a->root_path = eml_args_str(ar, "root");
	a->policy_path = eml_args_str(ar, "policy");
	if ((v = eml_args_str(ar, "at")) != NULL)
		a->at = v;
	if (eml_args_has(ar, "allow-debug")) {
		cli->allow_debug = true;
		*set |= 1u << 0;
	}
	if (eml_args_has(ar, "require-public-key")) {
		cli->require_public_key = true;
		*set |= 1u << 1;
	}
	if ((v = eml_args_str(ar, "nonce")) != NULL) {
		if (!hex_arg(v, cli->nonce, EML_ATTEST_OPT_MAX, &cli->nonce_len))
			return eml_args_usage(ar, "--nonce: hex, at most 1024 bytes");
		cli->nonce_set = true;
	}
	if ((v = eml_args_str(ar, "user-data")) != NULL) {
		if (!hex_arg(v, cli->user_data, EML_ATTEST_OPT_MAX, &cli->user_data_len))
			return eml_args_usage(ar, "--user-data: hex, at most 1024 bytes");
		cli->user_data_set = true;
	}
	for (size_t k = 0; (v = eml_args_nth(ar, "pcr", k)) != NULL; k++)
		if (!pcr_arg(v, cli))
			return eml_args_usage(ar, "--pcr %s: want N=HEX, N 0..31, 32/48/64 bytes", v);
	cli->max_age_ms = eml_args_u64(ar, "max-age", 0) * 1000u;
	return 0;
}

/* Command-line expectations add to (and override) the policy file's. */
static void
merge_policy(struct eml_attest_policy *pol, const struct eml_attest_policy *cli, uint32_t set)
{
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
		if (!(cli->pcr_mask & (1u << i)))
			continue;
		memcpy(pol->pcr[i], cli->pcr[i], cli->pcr_len[i]);
		pol->pcr_len[i] = cli->pcr_len[i];
		pol->pcr_mask |= 1u << i;
	}
	if (cli->nonce_set) {
		pol->nonce_set = true;
		pol->nonce_len = cli->nonce_len;
		memcpy(pol->nonce, cli->nonce, cli->nonce_len);
	}
	if (cli->user_data_set) {
		pol->user_data_set = true;
		pol->user_data_len = cli->user_data_len;
		memcpy(pol->user_data, cli->user_data, cli->user_data_len);
	}
	if (cli->max_age_ms != 0)
		pol->max_age_ms = cli->max_age_ms;
	if (set & (1u << 0))
		pol->allow_debug = true;
	if (set & (1u << 1))
		pol->require_public_key = true;
}

static int
cmd_verify(const struct eml_args *ar)
{
	struct verify_args a = { .at = "now" };
	struct eml_attest_policy *pol = eml_calloc(1, sizeof(*pol));
	struct eml_attest_policy *cli = eml_calloc(1, sizeof(*cli));
	struct eml_attest_doc *doc = eml_calloc(1, sizeof(*doc));
	struct eml_attest_root *root = NULL;
	struct eml_buf docb = { 0 };
	struct eml_buf rootb = { 0 };
	struct verify_out v = { .rc = EML_ERR_INTERNAL };
	char root_path[4096] = "";
	enum eml_attest_at at = EML_ATTEST_AT_NOW;
	int64_t at_s = 0;
	uint32_t set = 0;
	int ret = 3;

	if (pol == NULL || cli == NULL || doc == NULL)
		goto out;
	eml_attest_policy_init(pol);
	eml_attest_policy_init(cli);
	if ((ret = parse_verify_args(ar, &a, cli, &set)) != 0)
		goto out;
	if (strcmp(a.at, "now") == 0) {
		at = EML_ATTEST_AT_NOW;
	} else if (strcmp(a.at, "doc") == 0) {
		at = EML_ATTEST_AT_DOC;
	} else if (eml_cli_parse_time(a.at, &at_s)) {
		at = EML_ATTEST_AT_GIVEN;
	} else {
		ret = eml_args_usage(ar, "--at: now, doc, epoch seconds (1758058200) or RFC 3339 "
					 "(2025-09-16T21:30:00Z)");
		goto out;
	}
	if (a.policy_path != NULL &&
	    (ret = eml_cli_policy_load("attest verify: policy", a.policy_path, pol, root_path,
		 sizeof(root_path))) != 0)
		goto out;
	merge_policy(pol, cli, set);
	if (a.root_path != NULL) {
		(void)snprintf(root_path, sizeof(root_path), "%s", a.root_path);
	} else if (root_path[0] == '\0' && pol->root_pem_len == 0 &&
	    !default_root(root_path, sizeof(root_path))) {
		fprintf(stderr, "eml attest verify: cannot find the shipped AWS root (%s); "
				"name one with --root\n", AWS_ROOT_NAME);
		ret = 2;
		goto out;
	}
	if (root_path[0] != '\0') {
		if ((v.rc = read_file(root_path, ROOT_FILE_MAX, &rootb)) != EML_OK) {
			ret = eml_cli_fail("attest verify: root", v.rc == EML_ERR_FILE ? EML_ERR_FILE
											: EML_ERR_ATTEST_ROOT);
			goto out;
		}
		v.rc = eml_attest_root_load(rootb.data, rootb.len, &root);
		v.root_path = root_path;
	} else {
		v.rc = eml_attest_root_load((const uint8_t *)pol->root_pem, pol->root_pem_len, &root);
		v.root_path = "policy:trust_root_pem";
	}
	if (v.rc != EML_OK) {
		ret = eml_cli_fail("attest verify: root", v.rc);
		goto out;
	}
	eml_attest_root_sha256(root, v.root_sha256);
	v.have_root = true;
	if ((v.rc = read_file(a.doc_path, EML_ATTEST_DOC_MAX, &docb)) != EML_OK) {
		if (v.rc != EML_ERR_FILE)
			v.rc = EML_ERR_ATTEST_TOO_LARGE;
		ret = eml_cli_fail("attest verify", v.rc);
		goto out;
	}
	v.at = a.at;
	/* Fields are worth printing only when the whole document parsed; a
	 * partial parse would show a misleading half document. */
	v.parsed = eml_attest_doc_parse(docb.data, docb.len, doc) == EML_OK;
	v.rc = eml_attest_verify(docb.data, docb.len, root, at, at_s, pol, doc);
	if (a.json)
		print_json(doc, &v);
	else if (v.rc == EML_OK)
		print_text(doc, &v);
	ret = v.rc == EML_OK ? 0 : eml_cli_fail("attest verify", v.rc);
out:
	eml_attest_root_free(root);
	eml_buf_free_nowipe(&docb);
	eml_buf_free_nowipe(&rootb);
	eml_free(doc);
	eml_free(cli);
	eml_free(pol);
	return ret;
}

static int
cmd_sim_init(const struct eml_args *a)
{
	char **argv = a->pos;
	eml_err rc;

	rc = eml_attest_sim_ca_create(argv[0]);
	if (rc != EML_OK)
		return eml_cli_fail("attest sim-init", rc);
	printf("%s/%s (trust root for clients), %s/%s (keep private)\n", argv[0],
	    EML_ATTEST_SIM_ROOT_PEM, argv[0], EML_ATTEST_SIM_ROOT_KEY);
	return 0;
}

static int
cmd_sim_doc(const struct eml_args *a)
{
	static const char *const names[3] = { "user-data", "nonce", "public-key" };
	uint8_t *f[3] = { NULL, NULL, NULL }; /* user_data, nonce, public_key */
	size_t fl[3] = { 0, 0, 0 };
	const char *dir = a->pos[0];
	const char *out_path = eml_args_str(a, "out");
	struct eml_attest_sim *sim = NULL;
	struct eml_buf doc;
	FILE *o = stdout;
	eml_err rc;
	int ret = 2;

	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	for (int i = 0; i < 3; i++) {
		const char *v = eml_args_str(a, names[i]);

		if (v == NULL)
			continue;
		f[i] = eml_alloc(EML_ATTEST_OPT_MAX);
		if (f[i] == NULL || !hex_arg(v, f[i], EML_ATTEST_OPT_MAX, &fl[i])) {
			ret = eml_args_usage(a, "--%s: hex, at most 1024 bytes", names[i]);
			goto out;
		}
	}
	if ((rc = eml_attest_sim_open(dir, NULL, &sim)) != EML_OK ||
	    (rc = eml_attest_sim_attest(sim, 0, f[0], fl[0], f[1], fl[1], f[2], fl[2], &doc)) != EML_OK) {
		ret = eml_cli_fail("attest sim-doc", rc);
		goto out;
	}
	if (out_path != NULL && (o = fopen(out_path, "wb")) == NULL) {
		fprintf(stderr, "eml attest sim-doc: %s: %s\n", out_path, strerror(errno));
		ret = 3;
		goto out;
	}
	ret = fwrite(doc.data, 1, doc.len, o) == doc.len ? 0 : 3;
	if (o != stdout && fclose(o) != 0)
		ret = 3;
out:
	for (int i = 0; i < 3; i++)
		eml_free(f[i]);
	eml_attest_sim_free(sim);
	eml_buf_free_nowipe(&doc);
	return ret;
}

/* The policy digest of a manifest, for eif-build to write into a policy
 * file's policy_digest and for the agent's user_data. */
static int
cmd_digest(const struct eml_args *a)
{
	char **argv = a->pos;
	struct eml_buf b;
	uint8_t d[EML_ATTEST_POLICY_DIGEST_LEN];
	char hex[2 * EML_ATTEST_POLICY_DIGEST_LEN + 1];
	eml_err rc;

	if ((rc = read_file(argv[0], EML_ATTEST_POLICY_FILE_MAX, &b)) != EML_OK)
		return eml_cli_fail("attest digest", rc == EML_ERR_FILE ? rc : EML_ERR_ATTEST_POLICY);
	rc = eml_attest_policy_digest(b.data, b.len, d);
	eml_buf_free_nowipe(&b);
	if (rc != EML_OK) {
		(void)eml_cli_fail("attest digest", rc);
		return 2;
	}
	eml_hex_encode(hex, d, sizeof(d));
	printf("%s\n", hex);
	return 0;
}

static const struct eml_opt verify_opts[] = {
	{ "root", 0, EML_OPT_FILE, "PEM",
	    "trust root; default: the policy's trust_root, else the shipped AWS root", 0, 0,
	    NULL, 0 },
	{ "policy", 0, EML_OPT_FILE, "FILE", "client policy (JSON; docs/ATTESTATION.md)", 0, 0,
	    NULL, 0 },
	{ "at", 0, EML_OPT_STR, "WHEN",
	    "instant for the certificate chain: now (default), doc, epoch seconds or RFC 3339",
	    0, 0, NULL, 0 },
	{ "nonce", 0, EML_OPT_STR, "HEX", "expected nonce", 0, 0, NULL, 0 },
	{ "pcr", 0, EML_OPT_STR, "N=HEX", "expected PCR value", 0, 0, NULL, EML_OPT_REPEAT },
	{ "user-data", 0, EML_OPT_STR, "HEX", "expected user_data", 0, 0, NULL, 0 },
	{ "max-age", 0, EML_OPT_U64, "SECONDS", "oldest document accepted", 1,
	    10ULL * 365 * 86400, NULL, 0 },
	{ "require-public-key", 0, EML_OPT_FLAG, NULL, "refuse a document without public_key",
	    0, 0, NULL, 0 },
	{ "allow-debug", 0, EML_OPT_FLAG, NULL,
	    "accept a debug-mode enclave (PCR0-2 all zero)", 0, 0, NULL, 0 },
	{ "json", 0, EML_OPT_FLAG, NULL, "one JSON document on stdout (docs/CLI.md)", 0, 0, NULL,
	    0 },
};
static const struct eml_opt sim_doc_opts[] = {
	{ "nonce", 0, EML_OPT_STR, "HEX", "nonce to put in the document", 0, 0, NULL, 0 },
	{ "user-data", 0, EML_OPT_STR, "HEX", "user_data to put in the document", 0, 0, NULL, 0 },
	{ "public-key", 0, EML_OPT_STR, "HEX", "public_key to put in the document", 0, 0, NULL,
	    0 },
	{ "out", 'o', EML_OPT_FILE, "FILE", "write the document here (default: stdout)", 0, 0,
	    NULL, 0 },
};

static const struct eml_cmd verify_cmd = { .name = "verify", .args = "DOC",
	.summary = "verify a Nitro attestation document (COSE_Sign1) against a root and a "
		   "policy",
	.opts = verify_opts, .n_opts = EML_OPT_N(verify_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_verify };
static const struct eml_cmd sim_init_cmd = { .name = "sim-init", .args = "DIR",
	.summary = "make a simulator CA in DIR (root.pem for clients, root.key 0600); an "
		   "existing one is never replaced",
	.min_pos = 1, .max_pos = 1, .run = cmd_sim_init };
static const struct eml_cmd sim_doc_cmd = { .name = "sim-doc", .args = "DIR",
	.summary = "produce a simulated attestation document with the CA in DIR",
	.opts = sim_doc_opts, .n_opts = EML_OPT_N(sim_doc_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_sim_doc };
static const struct eml_cmd digest_cmd = { .name = "digest", .args = "MANIFEST.json",
	.summary = "the policy digest of a manifest (what the agent puts in user_data)",
	.min_pos = 1, .max_pos = 1, .run = cmd_digest };
static const struct eml_cmd policy_digest_cmd = { .name = "policy-digest",
	.args = "MANIFEST.json", .summary = "the same as digest", .min_pos = 1, .max_pos = 1,
	.run = cmd_digest };
static const struct eml_cmd *const attest_subs[] = { &verify_cmd, &sim_init_cmd, &sim_doc_cmd,
	&digest_cmd, &policy_digest_cmd };

const struct eml_cmd eml_cli_attest = { .name = "attest",
	.summary = "verify attestation documents; simulator CAs for local runs",
	.subs = attest_subs, .n_subs = EML_OPT_N(attest_subs) };
