/*
 * eml keys gen --out DIR    a fresh Ed25519 publisher key pair:
 *                           DIR/publisher.key  PKCS#8 "PRIVATE KEY" PEM, mode 0600
 *                           DIR/publisher.pub  "PUBLIC KEY" PEM (SubjectPublicKeyInfo)
 *                           and prints the key id (the raw public key, hex)
 * eml keys id PUBLIC.pem    print the key id of an Ed25519, RSA or EC P-384 public
 *                           key, the value agent policies list under "publishers"
 * eml keys message DIR --out M.bin
 *                           the 64 bytes a publisher signs for the split model
 *                           in DIR (content id || SHA-256 of model.topo), e.g.
 *                           with `aws kms sign --message fileb://M.bin
 *                           --message-type RAW`
 * eml keys wrap --alg rsa-pkcs1-sha256|ecdsa-p384-sha384 --public-key PUB.der
 *               --signature SIG.bin --out model.sig
 *                           a model.sig from a detached KMS signature and the
 *                           DER public key of `aws kms get-public-key`
 */
#include <errno.h>
#include <stdbool.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "client/owner/onnx_import.h"
#include "client/owner/split.h"
#include "eml_buf.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "model/eml_sign.h"

static void
print_id(const uint8_t id[EML_SIG_KEY_ID_LEN])
{
	char hex[2 * EML_SIG_KEY_ID_LEN + 1];

	eml_hex_encode(hex, id, EML_SIG_KEY_ID_LEN);
	printf("key id %s\n", hex);
}

static int
keys_gen(const struct eml_args *a)
{
	const char *dir = eml_args_str(a, "out");
	bool force = eml_args_has(a, "force");
	struct eml_buf priv;
	struct eml_buf pub;
	uint8_t id[EML_SIG_KEY_ID_LEN];
	char path[4096], pubpath[4096];
	unsigned wflags = force ? EML_FILE_REPLACE : 0;
	eml_err rc;
	int n;

	eml_buf_init_secure(&priv, 16384);
	eml_buf_init(&pub, 16384);
	rc = eml_sign_keygen_ed25519(&priv, &pub);
	if (rc == EML_OK)
		rc = eml_sign_pem_key_id(pub.data, pub.len, id);
	if (rc == EML_OK && mkdir(dir, 0700) != 0 && errno != EEXIST) {
		eml_err_set_detail("%s: %s", dir, strerror(errno));
		rc = EML_ERR_FILE;
	}
	/* Both names are checked before either is written: a second gen
	 * without --force leaves the first pair as it was. */
	n = snprintf(pubpath, sizeof(pubpath), "%s/publisher.pub", dir);
	if (rc == EML_OK && (n < 0 || (size_t)n >= sizeof(pubpath)))
		rc = EML_ERR_FILE;
	n = snprintf(path, sizeof(path), "%s/publisher.key", dir);
	if (rc == EML_OK && (n < 0 || (size_t)n >= sizeof(path)))
		rc = EML_ERR_FILE;
	if (rc == EML_OK)
		rc = eml_file_check_new(pubpath, wflags);
	if (rc == EML_OK)
		rc = eml_file_write(path, priv.data, priv.len, 0600, wflags);
	if (rc == EML_OK)
		rc = eml_file_write(pubpath, pub.data, pub.len, 0644, wflags);
	eml_buf_free(&priv);
	eml_buf_free(&pub);
	if (rc != EML_OK)
		return eml_cli_fail("keys gen", rc);
	printf("wrote %s/publisher.key (private, keep offline) and %s/publisher.pub\n", dir, dir);
	print_id(id);
	return 0;
}

static int
keys_id(const struct eml_args *a)
{
	const char *file = a->pos[0];
	uint8_t *pem = NULL;
	size_t len = 0;
	uint8_t id[EML_SIG_KEY_ID_LEN];
	eml_err rc;

	rc = eml_file_read(file, 64u * 1024u, EML_FILE_SECRET, &pem, &len);
	if (rc == EML_ERR_FILE_TOO_LARGE)
		rc = EML_ERR_CRYPTO_KEY; /* far too long for a key */
	if (rc == EML_OK)
		rc = eml_sign_pem_key_id(pem, len, id);
	eml_file_free(pem, len, EML_FILE_SECRET);
	if (rc != EML_OK)
		return eml_cli_fail("keys id", rc);
	print_id(id);
	return 0;
}

/* Write n bytes to out (not a secret: mode 0644), refusing to replace a
 * file without --force. */
static int
write_out(const char *what, const char *path, const uint8_t *p, size_t n, bool force)
{
	eml_err rc = eml_file_write(path, p, n, 0644, force ? EML_FILE_REPLACE : 0);

	return rc == EML_OK ? 0 : eml_cli_fail(what, rc);
}

/* SHA-256 of a file, read in pieces (a blob can be large). */
static int
hash_file(const char *path, uint8_t out[32])
{
	crypto_hash_sha256_state st;
	uint8_t buf[65536];
	FILE *f = fopen(path, "rbe");
	size_t n;

	if (f == NULL) {
		fprintf(stderr, "eml keys: %s: %s\n", path, strerror(errno));
		return 3;
	}
	(void)crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		(void)crypto_hash_sha256_update(&st, buf, n);
	if (ferror(f)) {
		(void)fclose(f);
		fprintf(stderr, "eml keys: %s: read error\n", path);
		return 3;
	}
	(void)fclose(f);
	(void)crypto_hash_sha256_final(&st, out);
	return 0;
}

/* M for the split model in dir: blob content id || SHA-256(model.topo). */
static int
keys_message(const struct eml_args *a)
{
	const char *dir = a->pos[0], *out = eml_args_str(a, "out");
	bool force = eml_args_has(a, "force");
	char path[4096];
	uint8_t *topo = NULL;
	size_t tlen = 0;
	uint8_t cid[32], td[32], msg[EML_SIG_MSG_LEN];
	eml_err rc;

	(void)snprintf(path, sizeof(path), "%s/model.topo", dir);
	rc = eml_file_read(path, (size_t)64 << 20, EML_FILE_SECRET, &topo, &tlen);
	if (rc != EML_OK)
		return eml_cli_fail("keys message", rc);
	crypto_hash_sha256(td, topo, tlen);
	eml_file_free(topo, tlen, EML_FILE_SECRET);
	(void)snprintf(path, sizeof(path), "%s/weights.sealed", dir);
	if (hash_file(path, cid) != 0)
		return 3;
	eml_sig_message(cid, td, msg);
	return write_out("keys message", out, msg, sizeof(msg), force);
}

static int
keys_wrap(const struct eml_args *a)
{
	const char *pub = eml_args_str(a, "public-key"), *sig = eml_args_str(a, "signature");
	const char *out = eml_args_str(a, "out");
	bool force = eml_args_has(a, "force");
	uint8_t *k = NULL, *sg = NULL;
	size_t klen = 0, slen = 0;
	struct eml_buf file;
	enum eml_sig_alg alg = eml_args_choice(a, "alg", 0) == 0 ? EML_SIG_RSA_PKCS1_SHA256
								  : EML_SIG_ECDSA_P384_SHA384;
	eml_err rc;
	int st;

	rc = eml_file_read(pub, EML_SIG_PUBKEY_MAX, EML_FILE_NONEMPTY, &k, &klen);
	if (rc == EML_OK)
		rc = eml_file_read(sig, EML_SIG_MAX_LEN, EML_FILE_NONEMPTY, &sg, &slen);
	eml_buf_init(&file, 4096);
	if (rc == EML_OK)
		rc = eml_sig_wrap(alg, k, klen, sg, slen, &file);
	eml_file_free(k, klen, 0);
	eml_file_free(sg, slen, 0);
	if (rc != EML_OK) {
		eml_buf_free(&file);
		return eml_cli_fail("keys wrap", rc);
	}
	st = write_out("keys wrap", out, file.data, file.len, force);
	eml_buf_free(&file);
	return st;
}

#define FORCE_OPT                                                              \
	{ "force", 'f', EML_OPT_FLAG, NULL, "replace files that exist", 0, 0, NULL, 0 }

static const struct eml_opt gen_opts[] = {
	{ "out", 'o', EML_OPT_DIR, "DIR", "directory for publisher.key (0600) and publisher.pub",
	    0, 0, NULL, EML_OPT_REQUIRED },
	FORCE_OPT,
};
static const struct eml_opt message_opts[] = {
	{ "out", 'o', EML_OPT_FILE, "M.bin", "the 64-byte message to sign", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	FORCE_OPT,
};
static const struct eml_opt wrap_opts[] = {
	{ "alg", 0, EML_OPT_CHOICE, "ALG", "the KMS signing algorithm", 0, 0,
	    "rsa-pkcs1-sha256|ecdsa-p384-sha384", EML_OPT_REQUIRED },
	{ "public-key", 0, EML_OPT_FILE, "PUB.der",
	    "DER public key (aws kms get-public-key)", 0, 0, NULL, EML_OPT_REQUIRED },
	{ "signature", 0, EML_OPT_FILE, "SIG.bin", "the detached signature", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	{ "out", 'o', EML_OPT_FILE, "model.sig", "the signature file to write", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	FORCE_OPT,
};

static const struct eml_cmd keys_gen_cmd = { .name = "gen",
	.summary = "make a fresh Ed25519 publisher key pair and print its key id",
	.opts = gen_opts, .n_opts = EML_OPT_N(gen_opts), .run = keys_gen };
static const struct eml_cmd keys_id_cmd = { .name = "id", .args = "PUBLIC.pem",
	.summary = "print the key id of an Ed25519, RSA or EC P-384 public key (what agent "
		   "policies list under \"publishers\")",
	.min_pos = 1, .max_pos = 1, .run = keys_id };
static const struct eml_cmd keys_message_cmd = { .name = "message", .args = "MODEL_DIR",
	.summary = "write the 64 bytes a publisher signs for the split model in MODEL_DIR",
	.text = "The message is the blob content id followed by the SHA-256 of model.topo; "
		"sign it with e.g. `aws kms sign --message fileb://M.bin --message-type RAW`.",
	.opts = message_opts, .n_opts = EML_OPT_N(message_opts), .min_pos = 1, .max_pos = 1,
	.run = keys_message };
static const struct eml_cmd keys_wrap_cmd = { .name = "wrap",
	.summary = "make a model.sig from a detached KMS signature and its DER public key",
	.opts = wrap_opts, .n_opts = EML_OPT_N(wrap_opts), .run = keys_wrap };
static const struct eml_cmd *const keys_subs[] = { &keys_gen_cmd, &keys_id_cmd,
	&keys_message_cmd, &keys_wrap_cmd };

const struct eml_cmd eml_cli_keys = { .name = "keys", .summary = "publisher signing keys",
	.subs = keys_subs, .n_subs = EML_OPT_N(keys_subs) };
