/*
 * Publisher signatures over a split model (docs/TOPOLOGY.md, "Signature
 * file"). The signed message is 64 bytes:
 *
 *   M = content id of weights.sealed (32) || SHA-256 of model.topo (32)
 *
 * - Ed25519 (alg 1): pure Ed25519 over M (libsodium), as `eml keys gen`
 *   keys produce.
 * - RSA (alg 2): RSASSA-PKCS1-v1_5 with SHA-256 over M, i.e. the RSA
 *   signature of DigestInfo(SHA-256(M)). That is what AWS KMS returns for
 *   Sign with SigningAlgorithm RSASSA_PKCS1_V1_5_SHA_256 and
 *   MessageType RAW over M (or MessageType DIGEST over SHA-256(M)).
 *   Moduli of 2048, 3072 or 4096 bits only.
 * - ECDSA P-384 (alg 3): ECDSA with SHA-384 over M, the signature as DER
 *   ECDSA-Sig-Value: what AWS KMS returns for Sign with SigningAlgorithm
 *   ECDSA_SHA_384 and MessageType RAW over M (an ECC_NIST_P384 key).
 *
 * Key id: for Ed25519 the 32-byte raw public key itself; for RSA and ECDSA the
 * SHA-256 of the public key as DER SubjectPublicKeyInfo (the bytes of a
 * "PUBLIC KEY" PEM, and what KMS GetPublicKey returns). A verifier's trust
 * is a set of key ids (the agent policy's "publishers"): an RSA signature
 * file carries its public key, which must hash to the key id.
 *
 * model.sig, big-endian, nothing after:
 *   "EMLSIG" | u8 version=1 | u8 alg | key id (32) |
 *   u16 pubkey length | pubkey (0 bytes for Ed25519, SPKI DER for RSA/ECDSA) |
 *   u16 signature length | signature (64 for Ed25519, modulus size for RSA,
 *   8..104 bytes of DER for ECDSA P-384)
 *
 * eml_sig_wrap builds this file from what KMS gives: the DER public key of
 * GetPublicKey and the detached signature of Sign.
 */
#ifndef EML_SIGN_H
#define EML_SIGN_H

#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

#include "model/eml_sig_file.h"

/*
 * A model.sig from a detached signature as `aws kms sign` writes it (raw
 * bytes) and the public key as `aws kms get-public-key` returns it (SPKI
 * DER): alg RSA (2) or ECDSA P-384 (3); the key must be of that kind (RSA
 * 2048/3072/4096, EC P-384) and the signature of a valid length. Appends
 * the file to out. The signature itself is not checked here (there is no
 * message): eml_sig_verify does that. EML_ERR_SIG_KEY, EML_ERR_SIG_FORMAT.
 */
eml_err eml_sig_wrap(enum eml_sig_alg alg, const uint8_t *spki, size_t spki_len,
    const uint8_t *sig, size_t sig_len, struct eml_buf *out) EML_MUST_USE;

/* M = content_id || topo_digest. */
void eml_sig_message(const uint8_t content_id[32], const uint8_t topo_digest[32],
    uint8_t msg[EML_SIG_MSG_LEN]);

/* Append the file form of s to out. */
eml_err eml_sig_encode(const struct eml_sig *s, struct eml_buf *out) EML_MUST_USE;

/* ---------------------------------------------------------------- verify */

/* A set of trusted publisher key ids. */
struct eml_trust;

struct eml_trust *eml_trust_new(void);
void eml_trust_free(struct eml_trust *t);
/* Trust the key of a "PUBLIC KEY" PEM (SubjectPublicKeyInfo): Ed25519 or
 * RSA 2048, 3072 or 4096 bits. EML_ERR_SIG_KEY for anything else,
 * EML_ERR_OVERFLOW past EML_TRUST_MAX keys. */
eml_err eml_trust_add_pem(struct eml_trust *t, const uint8_t *pem, size_t n) EML_MUST_USE;
/* Trust a key id (see above) directly, e.g. from the agent policy. */
eml_err eml_trust_add_id(struct eml_trust *t, const uint8_t id[EML_SIG_KEY_ID_LEN]) EML_MUST_USE;
/* The key id of a "PUBLIC KEY" PEM. */
eml_err eml_sign_pem_key_id(const uint8_t *pem, size_t n,
    uint8_t id[EML_SIG_KEY_ID_LEN]) EML_MUST_USE;
size_t eml_trust_count(const struct eml_trust *t);

/*
 * Verify a model.sig over (content_id, topo_digest) against the trusted
 * keys. EML_ERR_SIG_FORMAT for a malformed file, EML_ERR_SIG_UNTRUSTED
 * when the signature's key id is not trusted, EML_ERR_SIG_BAD when the
 * signature does not verify, or an RSA file's public key does not hash to
 * its key id, EML_ERR_SIG_KEY for an RSA key of a refused size.
 * key_id_out (optional) receives the signer's key id on success.
 */
eml_err eml_sig_verify(const struct eml_trust *t, const uint8_t *sig, size_t sig_len,
    const uint8_t content_id[32], const uint8_t topo_digest[32],
    uint8_t key_id_out[EML_SIG_KEY_ID_LEN]) EML_MUST_USE;

/* ---------------------------------------------------------------- sign */

struct eml_sign_key;

/* Load a private key PEM (PKCS#8 "PRIVATE KEY", or "RSA PRIVATE KEY"):
 * Ed25519 or RSA 2048/3072/4096. EML_ERR_SIG_KEY otherwise. */
eml_err eml_sign_key_load_pem(const uint8_t *pem, size_t n, struct eml_sign_key **out) EML_MUST_USE;
void eml_sign_key_free(struct eml_sign_key *k);
/* Sign (content_id, topo_digest) and append the model.sig file to out. */
eml_err eml_sign_model(const struct eml_sign_key *k, const uint8_t content_id[32],
    const uint8_t topo_digest[32], struct eml_buf *out) EML_MUST_USE;

/* A fresh Ed25519 key pair as PEM: PKCS#8 "PRIVATE KEY" into priv (use a
 * secure buffer) and SubjectPublicKeyInfo "PUBLIC KEY" into pub. */
eml_err eml_sign_keygen_ed25519(struct eml_buf *priv, struct eml_buf *pub) EML_MUST_USE;

#endif
