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

static int
usage(void)
{
	fprintf(stderr, "usage: eml keys gen --out DIR\n"
			"       eml keys id PUBLIC.pem\n"
			"       eml keys message MODEL_DIR --out M.bin\n"
			"       eml keys wrap --alg rsa-pkcs1-sha256|ecdsa-p384-sha384 "
			"--public-key PUB.der --signature SIG.bin --out model.sig\n");
	return 2;
}

static void
print_id(const uint8_t id[EML_SIG_KEY_ID_LEN])
{
	char hex[2 * EML_SIG_KEY_ID_LEN + 1];

	eml_hex_encode(hex, id, EML_SIG_KEY_ID_LEN);
	printf("key id %s\n", hex);
}

static int
keys_gen(const char *dir, bool force)
{
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
keys_id(const char *file)
{
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
keys_message(const char *dir, const char *out, bool force)
{
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
keys_wrap(int argc, char **argv)
{
	const char *alg = NULL, *pub = NULL, *sig = NULL, *out = NULL;
	uint8_t *k = NULL, *sg = NULL;
	size_t klen = 0, slen = 0;
	struct eml_buf file;
	enum eml_sig_alg a;
	bool force = false;
	eml_err rc;
	int st;

	if (argc > 0 && strcmp(argv[argc - 1], "--force") == 0) {
		force = true;
		argc--;
	}
	for (int i = 0; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--alg") == 0)
			alg = argv[i + 1];
		else if (strcmp(argv[i], "--public-key") == 0)
			pub = argv[i + 1];
		else if (strcmp(argv[i], "--signature") == 0)
			sig = argv[i + 1];
		else if (strcmp(argv[i], "--out") == 0)
			out = argv[i + 1];
		else
			return usage();
	}
	if (argc % 2 != 0 || alg == NULL || pub == NULL || sig == NULL || out == NULL)
		return usage();
	if (strcmp(alg, "rsa-pkcs1-sha256") == 0)
		a = EML_SIG_RSA_PKCS1_SHA256;
	else if (strcmp(alg, "ecdsa-p384-sha384") == 0)
		a = EML_SIG_ECDSA_P384_SHA384;
	else
		return usage();
	rc = eml_file_read(pub, EML_SIG_PUBKEY_MAX, EML_FILE_NONEMPTY, &k, &klen);
	if (rc == EML_OK)
		rc = eml_file_read(sig, EML_SIG_MAX_LEN, EML_FILE_NONEMPTY, &sg, &slen);
	eml_buf_init(&file, 4096);
	if (rc == EML_OK)
		rc = eml_sig_wrap(a, k, klen, sg, slen, &file);
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

int
eml_cmd_keys(int argc, char **argv)
{
	bool force = false;

	if (argc > 1 && strcmp(argv[argc - 1], "--force") == 0 && strcmp(argv[0], "wrap") != 0) {
		force = true;
		argc--;
	}
	if (argc == 4 && strcmp(argv[0], "message") == 0 && strcmp(argv[2], "--out") == 0)
		return keys_message(argv[1], argv[3], force);
	if (argc >= 1 && strcmp(argv[0], "wrap") == 0)
		return keys_wrap(argc - 1, argv + 1);
	if (argc == 3 && strcmp(argv[0], "gen") == 0 && strcmp(argv[1], "--out") == 0)
		return keys_gen(argv[2], force);
	if (argc == 2 && strcmp(argv[0], "id") == 0)
		return keys_id(argv[1]);
	if (argc == 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
		(void)usage();
		return 0;
	}
	return usage();
}
