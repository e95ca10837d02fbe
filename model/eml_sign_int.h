/* Shared between the signature verifier (eml_sign.c) and the signer
 * (eml_sign_key.c); not part of the model/ interface. */
#ifndef EML_SIGN_INT_H
#define EML_SIGN_INT_H

#include <openssl/evp.h>
#include <stdbool.h>
#include <stddef.h>

#include "model/eml_sign.h"

/* Algorithm, key id and (RSA) SPKI DER of a key into s. EML_ERR_SIG_KEY
 * for a key that is neither Ed25519 nor RSA 2048/3072/4096. */
eml_err eml_sign_key_info(EVP_PKEY *pk, struct eml_sig *s) EML_MUST_USE;

#endif
