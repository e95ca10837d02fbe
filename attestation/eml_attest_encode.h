/*
 * Encoding Nitro attestation documents: the simulator produces documents
 * with it, and the tests use it to build forgeries from real documents.
 * The output has the exact shape of an NSM document (NOTES §2): untagged
 * COSE_Sign1, protected a1 01 38 22, unprotected {}, payload keys in the
 * NSM's order, absent optional fields as null, signature r||s.
 */
#ifndef EML_ATTEST_ENCODE_H
#define EML_ATTEST_ENCODE_H

#include <stdbool.h>

#include <openssl/ec.h>
#include <openssl/evp.h>

#include "eml_attest.h"
#include "eml_buf.h"

/*
 * Payload map from doc's fields (module_id, timestamp, pcrs in index
 * order, certificate, cabundle, public_key, user_data, nonce). indefinite
 * selects the 0xbf..0xff map form the NSM uses since 2025-09.
 * EML_OK, EML_ERR_PROTO_TOO_LARGE (out's ceiling), EML_ERR_NOMEM.
 */
eml_err eml_attest_payload_encode(const struct eml_attest_doc *doc, bool indefinite,
    struct eml_buf *out) EML_MUST_USE;

/*
 * COSE_Sign1 over payload with an EC P-384 private key (ES384, r||s).
 * protected_hdr NULL means the Nitro header a1 01 38 22. tagged adds
 * tag 18. EML_OK, EML_ERR_CRYPTO, EML_ERR_NOMEM, EML_ERR_PROTO_TOO_LARGE.
 */
eml_err eml_attest_cose_sign(const uint8_t *payload, size_t payload_len,
    const uint8_t *protected_hdr, size_t protected_len, bool tagged, EVP_PKEY *key,
    struct eml_buf *out) EML_MUST_USE;

/* The same with the signature made by sign(arg, tbs, n, sig) (ES384, r||s):
 * the simulator's precomputed signatures (eml_attest_presign.h). */
typedef eml_err (*eml_attest_signer)(void *arg, const uint8_t *msg, size_t n,
    uint8_t sig[EML_ATTEST_SIG_LEN]);
eml_err eml_attest_cose_sign_by(const uint8_t *payload, size_t payload_len,
    const uint8_t *protected_hdr, size_t protected_len, bool tagged, eml_attest_signer sign,
    void *arg, struct eml_buf *out) EML_MUST_USE;

/* An ECDSA signature as COSE writes it: r||s, each left-padded to 48
 * bytes. EML_OK, EML_ERR_NULL, EML_ERR_CRYPTO (r or s over 48 bytes). */
eml_err eml_attest_sig_raw(const ECDSA_SIG *es, uint8_t sig[EML_ATTEST_SIG_LEN]) EML_MUST_USE;

/* Sign the SHA-384 digest of msg with key and write r||s (48+48 bytes). */
eml_err eml_attest_es384_sign(EVP_PKEY *key, const uint8_t *msg, size_t n,
    uint8_t sig[EML_ATTEST_SIG_LEN]) EML_MUST_USE;

#endif
