/*
 * The model.sig file format alone (docs/TOPOLOGY.md "Signature file";
 * the algorithms and key ids in eml_sign.h): its constants, its parsed
 * form and its bounded parser. Nothing here verifies a signature or
 * touches a key, so the host proxy may link it (--strict-artifacts checks
 * that a blob in its store has a well-formed signature file naming an
 * allowed signer; tests/integration/proxy_isolation.sh allows this file
 * and nothing else from model/).
 */
#ifndef EML_SIG_FILE_H
#define EML_SIG_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

#define EML_SIG_MSG_LEN 64
#define EML_SIG_KEY_ID_LEN 32
#define EML_SIG_MAGIC "EMLSIG"
#define EML_SIG_VERSION 1
#define EML_SIG_MAX_LEN 512     /* RSA-4096 */
#define EML_SIG_PUBKEY_MAX 1024 /* SPKI DER of RSA-4096 is 550 bytes */
#define EML_TRUST_MAX 256

enum eml_sig_alg {
	EML_SIG_ED25519 = 1,
	EML_SIG_RSA_PKCS1_SHA256 = 2,
	EML_SIG_ECDSA_P384_SHA384 = 3,
};

struct eml_sig {
	enum eml_sig_alg alg;
	uint8_t key_id[EML_SIG_KEY_ID_LEN];
	uint8_t pubkey[EML_SIG_PUBKEY_MAX]; /* RSA only: SPKI DER */
	size_t pubkey_len;
	uint8_t sig[EML_SIG_MAX_LEN];
	size_t sig_len;
};

/* Parse a model.sig file exactly: EML_ERR_SIG_FORMAT for a bad magic,
 * version, algorithm or length, EML_ERR_PROTO_TRUNCATED, or
 * EML_ERR_PROTO_TRAILING. */
eml_err eml_sig_parse(const uint8_t *p, size_t n, struct eml_sig *out) EML_MUST_USE;
/* Whether n is the signature length of alg. */
bool eml_sig_len_ok(enum eml_sig_alg alg, size_t n);

#endif
