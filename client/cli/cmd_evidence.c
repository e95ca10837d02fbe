/*
 * eml evidence verify FILE [--root PEM] [--at doc|now|RFC3339] [--policy FILE] [--json]
 * eml evidence show FILE
 * eml evidence cosign FILE --key KEY.pem --key-id ID --out FILE
 *
 * Offline checks of a session's evidence artifact (docs/EVIDENCE.md).
 * Exit codes per DESIGN §9: 0 verified, 1 the artifact does not verify
 * (anything wrong with its bytes, signature, binding or policy), 2 usage
 * (options, an unusable policy or root file), 3 the file cannot be read.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_evidence.h"
#include "cli.h"
#include "eml_buf.h"
#include "eml_file.h"
#include "eml_json.h"
#include "eml_mem.h"

#define ROOT_FILE_MAX 65536

/* A file through the one bounded reader; too large keeps this command's
 * code (PROTO_TOO_LARGE), as an artifact on stdin does. */
static eml_err
slurp_into(const char *path, size_t max, struct eml_buf *out)
{
	eml_err rc = eml_file_read_buf(path, max, 0, out);

	if (rc == EML_ERR_FILE_TOO_LARGE) {
		eml_err_set_detail("%s: larger than allowed", path);
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	return rc;
}

static eml_err
slurp(const char *path, size_t max, struct eml_buf *out)
{
	eml_buf_init(out, max + 1);
	return slurp_into(path, max, out);
}

static void
print_hex(FILE *f, const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fprintf(f, "%02x", p[i]);
}

static void
print_text(const struct eml_evidence *ev, const struct eml_attest_doc *doc, bool verified,
    const char *at)
{
	const struct eml_evidence_session *s = &ev->session;
	char t1[32], t2[32], t3[32];

	eml_evidence_time_format(s->started_ms, t1, sizeof(t1));
	eml_evidence_time_format(s->ended_ms, t2, sizeof(t2));
	printf("evidence: %s\n", verified ? "verified" : "NOT VERIFIED (eml evidence verify checks it)");
	if (verified)
		printf("  chain checked at   %s\n", at);
	printf("  session            ");
	print_hex(stdout, s->id, sizeof(s->id));
	printf("\n  started / ended    %s / %s%s\n", t1, t2, s->final ? " (final)" : "");
	printf("  requests           %llu\n", (unsigned long long)s->request_count);
	printf("  exchange hash      ");
	print_hex(stdout, s->exchange_hash, 32);
	for (size_t i = 0; i < s->n_models; i++) {
		printf("\n  model %-2zu           content id ", i);
		print_hex(stdout, s->models[i].content_id, 32);
		printf("\n                     topology   ");
		print_hex(stdout, s->models[i].topology_digest, 32);
	}
	printf("\n  policy digest      ");
	print_hex(stdout, s->policy_digest, 32);
	if (s->has_client_identity) {
		printf("\n  client identity    ");
		print_hex(stdout, s->client_identity, 32);
	}
	printf("\n  enclave            aws-nitro, module %s, producer %s%s\n", ev->module_id,
	    ev->producer, strcmp(ev->producer, "sim") == 0 ? " (simulated NSM, not hardware)" : "");
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
		if ((ev->pcr_present & (1u << i)) == 0 || (i > 2 && i != 8))
			continue;
		printf("  PCR%-2u              ", i);
		print_hex(stdout, ev->pcr[i], ev->pcr_len[i]);
		printf("\n");
	}
	if (doc != NULL && doc->timestamp_ms != 0) {
		eml_evidence_time_format((int64_t)doc->timestamp_ms, t3, sizeof(t3));
		printf("  document time      %s\n", t3);
	}
	printf("  signing key id     ");
	print_hex(stdout, ev->pubkey_id, 32);
	printf("\n");
}

/* --json output pieces; a failed append leaves ok false. */
static void
jraw(struct eml_buf *b, bool *ok, const char *raw)
{
	if (*ok && eml_buf_append(b, raw, strlen(raw)) != EML_OK)
		*ok = false;
}

static void
jstr(struct eml_buf *b, bool *ok, const char *key, const char *v)
{
	jraw(b, ok, key);
	if (*ok && eml_json_put_string(b, v, strlen(v)) != EML_OK)
		*ok = false;
}

static void
print_json(const struct eml_evidence *ev, eml_err rc, const char *at)
{
	struct eml_buf b;
	char hex[65], t[32];
	bool ok = true;

	eml_buf_init(&b, 65536);
	jraw(&b, &ok, rc == EML_OK ? "{\"verified\":true,\"error\":null" :
				     "{\"verified\":false");
	if (rc != EML_OK) {
		jstr(&b, &ok, ",\"error\":", eml_err_name(rc));
		jstr(&b, &ok, ",\"detail\":", eml_err_detail());
	}
	jstr(&b, &ok, ",\"at\":", at);
	if (rc == EML_OK) {
		eml_hex_encode(hex, ev->session.id, 16);
		jstr(&b, &ok, ",\"session\":", hex);
		eml_evidence_time_format(ev->session.ended_ms, t, sizeof(t));
		jstr(&b, &ok, ",\"ended_at\":", t);
		jstr(&b, &ok, ",\"module_id\":", ev->module_id);
		jstr(&b, &ok, ",\"producer\":", ev->producer);
	}
	jraw(&b, &ok, "}\n");
	if (ok)
		fwrite(b.data, 1, b.len, stdout);
	eml_buf_free_nowipe(&b);
}

static int
fail_usage(const char *what, eml_err rc)
{
	(void)eml_cli_fail(what, rc);
	return 2;
}

struct vopts {
	const char *file, *root, *policy, *at, *keys;
	bool json;
};

static void
parse_verify(const struct eml_args *a, struct vopts *o)
{
	memset(o, 0, sizeof(*o));
	o->file = a->pos[0];
	o->json = eml_args_has(a, "json");
	o->root = eml_args_str(a, "root");
	o->policy = eml_args_str(a, "policy");
	o->keys = eml_args_str(a, "keys");
	o->at = eml_args_str(a, "at");
	if (o->at == NULL)
		o->at = "doc";
}

static int
cmd_verify(const struct eml_args *a)
{
	struct vopts o;
	struct eml_attest_policy *pol = NULL;
	struct eml_evidence *ev = NULL;
	struct eml_attest_doc *doc = NULL;
	struct eml_attest_root *root = NULL;
	struct eml_evidence_check chk;
	struct eml_evidence_keys *keys = NULL;
	struct eml_buf rootb, art;
	char root_path[4096] = "";
	eml_err rc;
	int ret = 2;

	eml_buf_init(&rootb, 0);
	eml_buf_init(&art, 0);
	memset(&chk, 0, sizeof(chk));
	parse_verify(a, &o);
	if (strcmp(o.at, "doc") == 0) {
		chk.at = EML_ATTEST_AT_DOC;
	} else if (strcmp(o.at, "now") == 0) {
		chk.at = EML_ATTEST_AT_NOW;
	} else if (eml_cli_parse_time(o.at, &chk.at_s)) {
		chk.at = EML_ATTEST_AT_GIVEN;
	} else {
		return eml_args_usage(a, "--at: doc, now, epoch seconds or RFC 3339 "
					 "(2026-01-31T12:00:00Z)");
	}
	pol = eml_calloc(1, sizeof(*pol));
	ev = eml_calloc(1, sizeof(*ev));
	doc = eml_calloc(1, sizeof(*doc));
	if (pol == NULL || ev == NULL || doc == NULL) {
		ret = eml_cli_fail("evidence verify", EML_ERR_NOMEM);
		goto out;
	}
	eml_attest_policy_init(pol);
	if (o.policy != NULL && (ret = eml_cli_policy_load("evidence verify: --policy", o.policy,
				     pol, root_path, sizeof(root_path))) != 0)
		goto out;
	if (o.root != NULL)
		(void)snprintf(root_path, sizeof(root_path), "%s", o.root);
	/* DESIGN §5: no default root; the auditor names the one they trust. */
	if (root_path[0] == '\0' && pol->root_pem_len == 0) {
		fprintf(stderr, "eml evidence verify: name a trust root: --root PEM, or a --policy "
				"whose trust_root names one\n");
		ret = 2;
		goto out;
	}
	if (root_path[0] != '\0') {
		if ((rc = slurp(root_path, ROOT_FILE_MAX, &rootb)) == EML_OK)
			rc = eml_attest_root_load(rootb.data, rootb.len, &root);
	} else {
		rc = eml_attest_root_load((const uint8_t *)pol->root_pem, pol->root_pem_len, &root);
	}
	if (rc != EML_OK) {
		ret = fail_usage("evidence verify: root", rc);
		goto out;
	}
	if ((rc = slurp(o.file, EML_EVIDENCE_MAX, &art)) != EML_OK) {
		/* Unreadable is I/O; oversized is a bad artifact. */
		ret = rc == EML_ERR_FILE ? eml_cli_fail("evidence verify", rc) : 1;
		if (rc != EML_ERR_FILE)
			(void)eml_cli_fail("evidence verify", EML_ERR_EVIDENCE);
		goto out;
	}
	if (o.keys != NULL) {
		struct eml_buf kb;

		keys = eml_calloc(1, sizeof(*keys));
		if (keys == NULL) {
			ret = eml_cli_fail("evidence verify", EML_ERR_NOMEM);
			goto out;
		}
		rc = slurp(o.keys, 65536, &kb);
		if (rc == EML_OK)
			rc = eml_evidence_keys_parse(kb.data, kb.len, keys);
		eml_buf_free_nowipe(&kb);
		if (rc != EML_OK) {
			ret = fail_usage("evidence verify: --keys", rc);
			goto out;
		}
		chk.keys = keys;
	}
	chk.root = root;
	chk.policy = o.policy != NULL ? pol : NULL;
	rc = eml_evidence_verify(art.data, art.len, &chk, ev, doc);
	if (o.json)
		print_json(ev, rc, o.at);
	else if (rc == EML_OK)
		print_text(ev, doc, true, o.at);
	if (rc == EML_OK && !o.json && ev->cosig.present) {
		char t[32];

		eml_evidence_time_format(ev->cosig.signed_at_ms, t, sizeof(t));
		printf("  co-signature       key %s at %s, %s\n", ev->cosig.key_id, t,
		    o.keys != NULL ? "verified against --keys" : "NOT checked (no --keys)");
	}
	if (rc == EML_OK) {
		ret = 0;
	} else {
		/* Whatever is wrong with the artifact's bytes, it did not
		 * verify: exit 1, with the field named. */
		(void)eml_cli_fail("evidence verify", rc);
		ret = rc == EML_ERR_NOMEM ? 3 : 1;
	}
out:
	eml_free(keys);
	eml_attest_root_free(root);
	eml_buf_free_nowipe(&rootb);
	eml_buf_free_nowipe(&art);
	eml_free(doc);
	eml_free(ev);
	eml_free(pol);
	return ret;
}

static int
cmd_show(const struct eml_args *a)
{
	char **argv = a->pos;
	struct eml_evidence *ev = NULL;
	struct eml_attest_doc *doc = NULL;
	struct eml_buf art;
	eml_err rc;
	int ret;

	eml_buf_init(&art, 0);
	if ((rc = slurp(argv[0], EML_EVIDENCE_MAX, &art)) != EML_OK)
		return rc == EML_ERR_FILE ? eml_cli_fail("evidence show", rc) : 1;
	ev = eml_calloc(1, sizeof(*ev));
	doc = eml_calloc(1, sizeof(*doc));
	if (ev == NULL || doc == NULL) {
		ret = eml_cli_fail("evidence show", EML_ERR_NOMEM);
		goto out;
	}
	if ((rc = eml_evidence_parse(art.data, art.len, ev)) != EML_OK) {
		(void)eml_cli_fail("evidence show", rc);
		ret = 1;
		goto out;
	}
	if (eml_attest_doc_parse(ev->doc, ev->doc_len, doc) != EML_OK)
		memset(doc, 0, sizeof(*doc));
	print_text(ev, doc, false, "");
	ret = 0;
out:
	eml_buf_free_nowipe(&art);
	eml_free(doc);
	eml_free(ev);
	return ret;
}

/* Ed25519 over msg with a PKCS#8 PEM key (eml keys gen). */
static eml_err
sign_with_pem(const struct eml_buf *pem, const struct eml_buf *msg, uint8_t sig[64])
{
	BIO *bio = BIO_new_mem_buf(pem->data, (int)pem->len);
	EVP_PKEY *k = bio != NULL ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
	EVP_MD_CTX *x = EVP_MD_CTX_new();
	size_t len = 64;
	eml_err rc = EML_ERR_CRYPTO;

	if (k == NULL || EVP_PKEY_id(k) != EVP_PKEY_ED25519) {
		eml_err_set_detail("--key: not an Ed25519 private key (PEM, eml keys gen)");
		rc = EML_ERR_SIG_KEY;
	} else if (x != NULL && EVP_DigestSignInit(x, NULL, NULL, NULL, k) == 1 &&
	    EVP_DigestSign(x, sig, &len, msg->data, msg->len) == 1 && len == 64) {
		rc = EML_OK;
	}
	EVP_MD_CTX_free(x);
	EVP_PKEY_free(k);
	BIO_free(bio);
	return rc;
}

static int
cmd_cosign(const struct eml_args *a)
{
	const char *file = a->pos[0], *key = eml_args_str(a, "key");
	const char *key_id = eml_args_str(a, "key-id"), *outp = eml_args_str(a, "out");
	struct eml_buf art, pem, msg, out;
	uint8_t sig[64];
	struct timespec ts;
	int64_t now_ms;
	eml_err rc;
	int ret = 3, fd = -1;
	char tmp[4200];

	eml_buf_init(&art, 0);
	eml_buf_init_secure(&pem, 65536 + 1);
	eml_buf_init(&msg, EML_EVIDENCE_MAX + 256);
	eml_buf_init(&out, EML_EVIDENCE_MAX);
	if (access(outp, F_OK) == 0) {
		fprintf(stderr, "eml evidence cosign: %s exists; evidence is never overwritten\n",
		    outp);
		return 2;
	}
	(void)clock_gettime(CLOCK_REALTIME, &ts);
	now_ms = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	if ((rc = slurp(file, EML_EVIDENCE_MAX, &art)) != EML_OK ||
	    (rc = slurp_into(key, 65536, &pem)) != EML_OK) {
		ret = eml_cli_fail("evidence cosign", rc);
		goto out;
	}
	if ((rc = eml_evidence_cosign_message(art.data, art.len, key_id, now_ms, &msg)) != EML_OK ||
	    (rc = sign_with_pem(&pem, &msg, sig)) != EML_OK ||
	    (rc = eml_evidence_cosign_attach(art.data, art.len, key_id, now_ms, sig, &out)) !=
		EML_OK) {
		ret = eml_cli_fail("evidence cosign", rc);
		goto out;
	}
	(void)snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", outp);
	fd = mkstemp(tmp);
	if (fd < 0 || fchmod(fd, 0644) != 0 || write(fd, out.data, out.len) != (ssize_t)out.len ||
	    fsync(fd) != 0 || link(tmp, outp) != 0) {
		fprintf(stderr, "eml evidence cosign: %s: %s\n", outp, strerror(errno));
		goto out;
	}
	printf("co-signed by %s: %s\n", key_id, outp);
	ret = 0;
out:
	if (fd >= 0) {
		(void)close(fd);
		(void)unlink(tmp);
	}
	eml_buf_free_nowipe(&art);
	eml_buf_free(&pem);
	eml_buf_free_nowipe(&msg);
	eml_buf_free_nowipe(&out);
	return ret;
}

static const struct eml_opt verify_opts[] = {
	{ "root", 0, EML_OPT_FILE, "PEM", "trust root; default: the policy's trust_root", 0, 0,
	    NULL, 0 },
	{ "at", 0, EML_OPT_STR, "WHEN",
	    "instant for the certificate chain: doc (the document's own time, default for "
	    "archived evidence), now, epoch seconds or RFC 3339",
	    0, 0, NULL, 0 },
	{ "policy", 0, EML_OPT_FILE, "FILE",
	    "client policy: expected PCRs and policy digest (and root)", 0, 0, NULL, 0 },
	{ "keys", 0, EML_OPT_FILE, "FILE",
	    "published operator keys: require a co-signature by one of them, made inside its "
	    "validity window",
	    0, 0, NULL, 0 },
	{ "json", 0, EML_OPT_FLAG, NULL, "one JSON document on stdout (docs/CLI.md)", 0, 0, NULL,
	    0 },
};
static const struct eml_opt cosign_opts[] = {
	{ "key", 0, EML_OPT_FILE, "KEY.pem", "operator Ed25519 private key (eml keys gen)", 0, 0,
	    NULL, EML_OPT_REQUIRED },
	{ "key-id", 0, EML_OPT_STR, "ID", "the id the key is published under", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	{ "out", 'o', EML_OPT_FILE, "FILE", "the co-signed artifact (never overwritten)", 0, 0,
	    NULL, EML_OPT_REQUIRED },
};

static const struct eml_cmd verify_cmd = { .name = "verify", .args = "FILE",
	.summary = "check a session's evidence artifact offline (- reads stdin)",
	.opts = verify_opts, .n_opts = EML_OPT_N(verify_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_verify };
static const struct eml_cmd show_cmd = { .name = "show", .args = "FILE",
	.summary = "print an evidence artifact", .min_pos = 1, .max_pos = 1, .run = cmd_show };
static const struct eml_cmd cosign_cmd = { .name = "cosign", .args = "FILE",
	.summary = "add an operator co-signature to an evidence artifact",
	.opts = cosign_opts, .n_opts = EML_OPT_N(cosign_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_cosign };
static const struct eml_cmd *const evidence_subs[] = { &verify_cmd, &show_cmd, &cosign_cmd };

const struct eml_cmd eml_cli_evidence = { .name = "evidence",
	.summary = "verify, show or co-sign a session's evidence (docs/EVIDENCE.md)",
	.subs = evidence_subs, .n_subs = EML_OPT_N(evidence_subs) };
