/* Shared between the sealed blob reader (eml_blob.c) and writer
 * (eml_blob_write.c); not part of the model/ interface. */
#ifndef EML_BLOB_INT_H
#define EML_BLOB_INT_H

#include <openssl/evp.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>

#include "model/eml_blob.h"

/* XChaCha20-Poly1305 nonce: the blob's 16-byte random prefix, then the
 * chunk index as u64 big-endian. The key is fresh per blob, so a nonce can
 * never repeat under it; the prefix keeps that true even if a key were
 * ever reused by mistake. */
#define BLOB_NONCE_LEN crypto_aead_xchacha20poly1305_ietf_NPUBBYTES
/* Additional data: the 48 header bytes, u64be index, u8 is-last. */
#define BLOB_AD_LEN (EML_BLOB_HEADER_LEN + 8 + 1)

_Static_assert(BLOB_NONCE_LEN == EML_BLOB_NONCE_PREFIX_LEN + 8, "nonce layout");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == EML_BLOB_TAG_LEN, "tag");
_Static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == EML_BLOB_KEY_LEN, "key");

/* Chunk index's nonce and additional data under the 48 header bytes. */
void eml_blob_chunk_nonce_ad(const uint8_t header[EML_BLOB_HEADER_LEN], uint64_t index, bool last,
    uint8_t nonce[BLOB_NONCE_LEN], uint8_t ad[BLOB_AD_LEN]);
/* SHA-256 of the file (the content id), through OpenSSL. */
eml_err eml_blob_sha_init(EVP_MD_CTX **ctx) EML_MUST_USE;
eml_err eml_blob_sha_update(EVP_MD_CTX *ctx, const void *p, size_t n) EML_MUST_USE;
eml_err eml_blob_sha_final(EVP_MD_CTX *ctx, uint8_t out[EML_BLOB_ID_LEN]) EML_MUST_USE;
/* XChaCha20-Poly1305 (IETF) seal (enc) or open of one chunk. */
eml_err eml_blob_aead(bool enc, const uint8_t key[EML_BLOB_KEY_LEN], const uint8_t nonce[BLOB_NONCE_LEN],
    const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t n, uint8_t *out,
    uint8_t tag[EML_BLOB_TAG_LEN]) EML_MUST_USE;

#endif
