/*
 * Simulator only: ES384 signatures whose per-signature setup was done
 * ahead. An ECDSA signature's cost is almost all in its nonce: k, r =
 * x(kG) mod n and k^-1 mod n, none of which depends on the message. A
 * background thread computes such pairs when asked, up to two ready (at
 * start, then at each eml_presign_refill: the caller picks an idle
 * moment, not the one right after a signature when the document is being
 * verified); the next signature takes one (used once: taken under the
 * lock, cleared and freed after the one signature), waiting for one under
 * way when none is ready. With none ready or under way the signature is
 * made in full, as without this.
 *
 * A real NSM signs inside the device (/dev/nsm): none of this applies to
 * it (docs/ATTESTATION.md, "Precomputed signatures (simulator)").
 */
#ifndef EML_ATTEST_PRESIGN_H
#define EML_ATTEST_PRESIGN_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "eml_attest.h"

struct eml_presign;

/* Start the thread for key (an EC P-384 private key, which must outlive
 * the presigner). EML_OK, EML_ERR_CRYPTO, EML_ERR_NOMEM, EML_ERR_INTERNAL
 * (no thread). */
eml_err eml_presign_new(EVP_PKEY *key, struct eml_presign **out) EML_MUST_USE;
/* Ask the thread to make pairs until two are ready (nothing when two
 * are, or it is already asked). */
void eml_presign_refill(struct eml_presign *p);
/* Stop and join the thread; an unused triple is cleared. NULL is fine. */
void eml_presign_free(struct eml_presign *p);
/*
 * ES384 over msg (SHA-384, r||s) with the key given at eml_presign_new,
 * from a precomputed triple when one is ready or under way (waited for;
 * *used true), else in full
 * (*used false). EML_OK, EML_ERR_CRYPTO, EML_ERR_NOMEM.
 */
eml_err eml_presign_sign(struct eml_presign *p, const uint8_t *msg, size_t n,
    uint8_t sig[EML_ATTEST_SIG_LEN], bool *used) EML_MUST_USE;
/* Wait (tests) until a triple is ready, up to ms milliseconds; true when
 * one is. */
bool eml_presign_wait_ready(struct eml_presign *p, int ms);

#endif
