/*
 * eml keys gen --out DIR    a fresh Ed25519 publisher key pair:
 *                           DIR/publisher.key  PKCS#8 "PRIVATE KEY" PEM, mode 0600
 *                           DIR/publisher.pub  "PUBLIC KEY" PEM (SubjectPublicKeyInfo)
 *                           and prints the key id (the raw public key, hex)
 * eml keys id PUBLIC.pem    print the key id of an Ed25519 or RSA public key,
 *                           the value agent policies list under "publishers"
 */
#include <errno.h>
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
			"       eml keys id PUBLIC.pem\n");
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
keys_gen(const char *dir)
{
	struct eml_buf priv;
	struct eml_buf pub;
	uint8_t id[EML_SIG_KEY_ID_LEN];
	char path[4096];
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
	n = snprintf(path, sizeof(path), "%s/publisher.key", dir);
	if (rc == EML_OK && (n < 0 || (size_t)n >= sizeof(path)))
		rc = EML_ERR_FILE;
	if (rc == EML_OK)
		rc = eml_split_write_file(path, priv.data, priv.len, 0600);
	n = snprintf(path, sizeof(path), "%s/publisher.pub", dir);
	if (rc == EML_OK && (n < 0 || (size_t)n >= sizeof(path)))
		rc = EML_ERR_FILE;
	if (rc == EML_OK)
		rc = eml_split_write_file(path, pub.data, pub.len, 0644);
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

int
eml_cmd_keys(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[0], "gen") == 0 && strcmp(argv[1], "--out") == 0)
		return keys_gen(argv[2]);
	if (argc == 2 && strcmp(argv[0], "id") == 0)
		return keys_id(argv[1]);
	if (argc == 1 && (strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0)) {
		(void)usage();
		return 0;
	}
	return usage();
}
