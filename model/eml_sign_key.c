/* The publisher's side of model signatures: signature encoding, private
 * key loading, signing and key generation (`eml model split --sign-key`,
 * `eml keys gen`). Kept apart from eml_sign.c (parse and verify) so that
 * the agent, which only verifies, links no signer and no key generator. */
#include "eml_sign.h"

#include <limits.h>
#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <string.h>

#include "eml_mem.h"
#include "model/eml_sign_int.h"

eml_err
eml_sig_encode(const struct eml_sig *s, struct eml_buf *out)
{
	EML_ENSURE(s != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(eml_sig_len_ok(s->alg, s->sig_len) && s->pubkey_len <= EML_SIG_PUBKEY_MAX,
	    EML_ERR_SIG_FORMAT);
	EML_GUARD(eml_buf_append(out, EML_SIG_MAGIC, 6));
	EML_GUARD(eml_buf_append_u8(out, EML_SIG_VERSION));
	EML_GUARD(eml_buf_append_u8(out, (uint8_t)s->alg));
	EML_GUARD(eml_buf_append(out, s->key_id, sizeof(s->key_id)));
	EML_GUARD(eml_buf_append_u8(out, (uint8_t)(s->pubkey_len >> 8)));
	EML_GUARD(eml_buf_append_u8(out, (uint8_t)s->pubkey_len));
	EML_GUARD(eml_buf_append(out, s->pubkey, s->pubkey_len));
	EML_GUARD(eml_buf_append_u8(out, (uint8_t)(s->sig_len >> 8)));
	EML_GUARD(eml_buf_append_u8(out, (uint8_t)s->sig_len));
	EML_GUARD(eml_buf_append(out, s->sig, s->sig_len));
	return EML_OK;
}

/* ---------------------------------------------------------------- sign */

struct eml_sign_key {
	EVP_PKEY *pk;
	struct eml_sig pub; /* alg, key id, RSA public key */
};

void
eml_sign_key_free(struct eml_sign_key *k)
{
	if (k == NULL)
		return;
	EVP_PKEY_free(k->pk); /* OpenSSL clears private key material */
	eml_free_wipe(k, sizeof(*k));
}

eml_err
eml_sign_key_load_pem(const uint8_t *pem, size_t n, struct eml_sign_key **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	BIO *bio = NULL;
	struct eml_sign_key *k = NULL;

	if (pem == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	*out = NULL;
	if (n > INT_MAX)
		EML_FAIL(rc, EML_ERR_SIG_KEY);
	k = eml_calloc(1, sizeof(*k));
	bio = BIO_new_mem_buf(pem, (int)n);
	if (k == NULL || bio == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	k->pk = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	if (k->pk == NULL) {
		eml_err_set_detail("not a private key PEM (or it is encrypted)");
		EML_FAIL(rc, EML_ERR_SIG_KEY);
	}
	rc = eml_sign_key_info(k->pk, &k->pub);
	if (rc != EML_OK)
		goto out;
	*out = k;
	k = NULL; /* transferred */
	rc = EML_OK;
out:
	BIO_free(bio);
	eml_sign_key_free(k);
	return rc;
}

static eml_err
sign_ed25519(EVP_PKEY *pk, const uint8_t *msg, size_t msg_len, struct eml_sig *s)
{
	eml_err rc = EML_ERR_INTERNAL;
	/* seed then the expanded secret key, in locked memory */
	uint8_t *sec = eml_secure_alloc(32 + crypto_sign_SECRETKEYBYTES);
	uint8_t pub[crypto_sign_PUBLICKEYBYTES];
	size_t len = 32;
	unsigned long long slen = 0;

	if (sec == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (EVP_PKEY_get_raw_private_key(pk, sec, &len) != 1 || len != 32)
		EML_FAIL(rc, EML_ERR_SIG_KEY);
	if (crypto_sign_seed_keypair(pub, sec + 32, sec) != 0 ||
	    crypto_sign_detached(s->sig, &slen, msg, msg_len, sec + 32) != 0)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	s->sig_len = (size_t)slen;
	rc = EML_OK;
out:
	eml_secure_free(sec);
	return rc;
}

static eml_err
sign_rsa(EVP_PKEY *pk, const uint8_t *msg, size_t msg_len, struct eml_sig *s)
{
	eml_err rc = EML_ERR_INTERNAL;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pctx = NULL;
	size_t len = sizeof(s->sig);

	if (md == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	/* RSA PKCS#1 v1.5 SHA-256, or ECDSA P-384 SHA-384 (DER), as KMS signs */
	if (EVP_DigestSignInit(md, &pctx,
		s->alg == EML_SIG_ECDSA_P384_SHA384 ? EVP_sha384() : EVP_sha256(), NULL, pk) != 1 ||
	    (s->alg == EML_SIG_RSA_PKCS1_SHA256 &&
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1) ||
	    EVP_DigestSign(md, s->sig, &len, msg, msg_len) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	s->sig_len = len;
	rc = EML_OK;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

eml_err
eml_sign_model(const struct eml_sign_key *k, const uint8_t content_id[32],
    const uint8_t topo_digest[32], struct eml_buf *out)
{
	struct eml_sig s;
	uint8_t msg[EML_SIG_MSG_LEN];

	EML_ENSURE(k != NULL && content_id != NULL && topo_digest != NULL && out != NULL,
	    EML_ERR_NULL);
	s = k->pub;
	eml_sig_message(content_id, topo_digest, msg);
	if (s.alg == EML_SIG_ED25519)
		EML_GUARD(sign_ed25519(k->pk, msg, sizeof(msg), &s));
	else
		EML_GUARD(sign_rsa(k->pk, msg, sizeof(msg), &s));
	EML_GUARD(eml_sig_encode(&s, out));
	return EML_OK;
}

static eml_err
bio_to_buf(BIO *bio, struct eml_buf *out)
{
	char *p = NULL;
	long n = BIO_get_mem_data(bio, &p);

	EML_ENSURE(n > 0 && p != NULL, EML_ERR_CRYPTO);
	EML_GUARD(eml_buf_append(out, p, (size_t)n));
	return EML_OK;
}

eml_err
eml_sign_keygen_ed25519(struct eml_buf *priv, struct eml_buf *pub)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t *seed = NULL;
	EVP_PKEY *pk = NULL;
	BIO *bpriv = NULL;
	BIO *bpub = NULL;

	if (priv == NULL || pub == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	seed = eml_secure_alloc(32);
	if (seed == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	randombytes_buf(seed, 32);
	pk = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	/* secmem BIOs clear their memory when freed */
	bpriv = BIO_new(BIO_s_secmem());
	bpub = BIO_new(BIO_s_mem());
	if (pk == NULL || bpriv == NULL || bpub == NULL)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	if (PEM_write_bio_PrivateKey(bpriv, pk, NULL, NULL, 0, NULL, NULL) != 1 ||
	    PEM_write_bio_PUBKEY(bpub, pk) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	rc = bio_to_buf(bpriv, priv);
	if (rc != EML_OK)
		goto out;
	rc = bio_to_buf(bpub, pub);
	if (rc != EML_OK)
		goto out;
	rc = EML_OK;
out:
	BIO_free(bpriv);
	BIO_free(bpub);
	EVP_PKEY_free(pk);
	eml_secure_free(seed);
	return rc;
}

eml_err
eml_sig_wrap(enum eml_sig_alg alg, const uint8_t *spki, size_t spki_len, const uint8_t *sig,
    size_t sig_len, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	const unsigned char *der = spki;
	EVP_PKEY *pk = NULL;
	struct eml_sig s;

	EML_ENSURE(spki != NULL && sig != NULL && out != NULL, EML_ERR_NULL);
	memset(&s, 0, sizeof(s));
	if (alg != EML_SIG_RSA_PKCS1_SHA256 && alg != EML_SIG_ECDSA_P384_SHA384) {
		eml_err_set_detail("only RSA PKCS#1 v1.5 SHA-256 and ECDSA P-384 SHA-384 wrap");
		EML_BAIL(EML_ERR_SIG_FORMAT);
	}
	if (spki_len == 0 || spki_len > EML_SIG_PUBKEY_MAX || spki_len > LONG_MAX)
		EML_FAIL(rc, EML_ERR_SIG_KEY);
	pk = d2i_PUBKEY(NULL, &der, (long)spki_len);
	if (pk == NULL || der != spki + spki_len) {
		eml_err_set_detail("the public key is not DER SubjectPublicKeyInfo");
		EML_FAIL(rc, EML_ERR_SIG_KEY);
	}
	if ((rc = eml_sign_key_info(pk, &s)) != EML_OK)
		goto out;
	if (s.alg != alg) {
		eml_err_set_detail("the public key is not of the named algorithm");
		EML_FAIL(rc, EML_ERR_SIG_KEY);
	}
	if (!eml_sig_len_ok(alg, sig_len)) {
		eml_err_set_detail("a %zu-byte signature for algorithm %u", sig_len, (unsigned)alg);
		EML_FAIL(rc, EML_ERR_SIG_FORMAT);
	}
	EML_MEMCPY(s.sig, sig, sig_len);
	s.sig_len = sig_len;
	rc = eml_sig_encode(&s, out);
out:
	EVP_PKEY_free(pk);
	return rc;
}
