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

void
eml_sig_message(const uint8_t content_id[32], const uint8_t topo_digest[32],
    uint8_t msg[EML_SIG_MSG_LEN])
{
	memcpy(msg, content_id, 32);
	memcpy(msg + 32, topo_digest, 32);
}

/* ---------------------------------------------------------------- keys */

static eml_err
rsa_bits_ok(EVP_PKEY *pk)
{
	int bits = EVP_PKEY_get_bits(pk);

	if (bits != 2048 && bits != 3072 && bits != 4096) {
		eml_err_set_detail("RSA key of %d bits (2048, 3072 or 4096 only)", bits);
		EML_BAIL(EML_ERR_SIG_KEY);
	}
	return EML_OK;
}

/* An EC key on P-384 (the only curve KMS-style ECDSA signatures use here). */
static eml_err
p384_ok(EVP_PKEY *pk)
{
	char name[64] = "";
	size_t n = 0;

	if (!EVP_PKEY_is_a(pk, "EC") ||
	    EVP_PKEY_get_group_name(pk, name, sizeof(name), &n) != 1 ||
	    strcmp(name, "secp384r1") != 0) {
		eml_err_set_detail("EC key is not on P-384 (secp384r1)");
		EML_BAIL(EML_ERR_SIG_KEY);
	}
	return EML_OK;
}

/* Algorithm, key id and (RSA, ECDSA) SPKI DER of a key. */
eml_err
eml_sign_key_info(EVP_PKEY *pk, struct eml_sig *s)
{
	unsigned char *der = NULL;
	int der_len;
	size_t len = EML_SIG_KEY_ID_LEN;

	if (EVP_PKEY_is_a(pk, "ED25519")) {
		s->alg = EML_SIG_ED25519;
		s->pubkey_len = 0;
		EML_ENSURE(EVP_PKEY_get_raw_public_key(pk, s->key_id, &len) == 1 &&
		    len == EML_SIG_KEY_ID_LEN, EML_ERR_SIG_KEY);
		return EML_OK;
	}
	if (EVP_PKEY_is_a(pk, "RSA")) {
		EML_GUARD(rsa_bits_ok(pk));
		s->alg = EML_SIG_RSA_PKCS1_SHA256;
	} else if (EVP_PKEY_is_a(pk, "EC")) {
		EML_GUARD(p384_ok(pk));
		s->alg = EML_SIG_ECDSA_P384_SHA384;
	} else {
		eml_err_set_detail("key type is neither Ed25519, RSA nor EC P-384");
		EML_BAIL(EML_ERR_SIG_KEY);
	}
	der_len = i2d_PUBKEY(pk, &der);
	if (der_len <= 0 || der == NULL || (size_t)der_len > sizeof(s->pubkey)) {
		OPENSSL_free(der);
		EML_BAIL(EML_ERR_SIG_KEY);
	}
	memcpy(s->pubkey, der, (size_t)der_len);
	s->pubkey_len = (size_t)der_len;
	crypto_hash_sha256(s->key_id, der, (unsigned long long)der_len);
	OPENSSL_free(der);
	return EML_OK;
}

static eml_err
pem_pubkey(const uint8_t *pem, size_t n, EVP_PKEY **out)
{
	BIO *bio;

	EML_ENSURE(pem != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(n <= INT_MAX, EML_ERR_SIG_KEY);
	bio = BIO_new_mem_buf(pem, (int)n);
	EML_ENSURE(bio != NULL, EML_ERR_NOMEM);
	*out = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
	BIO_free(bio);
	if (*out == NULL) {
		eml_err_set_detail("not a PUBLIC KEY PEM");
		EML_BAIL(EML_ERR_SIG_KEY);
	}
	return EML_OK;
}

eml_err
eml_sign_pem_key_id(const uint8_t *pem, size_t n, uint8_t id[EML_SIG_KEY_ID_LEN])
{
	eml_err rc = EML_ERR_INTERNAL;
	EVP_PKEY *pk = NULL;
	struct eml_sig s;

	if (id == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	rc = pem_pubkey(pem, n, &pk);
	if (rc != EML_OK)
		goto out;
	rc = eml_sign_key_info(pk, &s);
	if (rc != EML_OK)
		goto out;
	memcpy(id, s.key_id, EML_SIG_KEY_ID_LEN);
	rc = EML_OK;
out:
	EVP_PKEY_free(pk);
	return rc;
}

struct eml_trust {
	uint8_t ids[EML_TRUST_MAX][EML_SIG_KEY_ID_LEN];
	size_t n;
};

struct eml_trust *
eml_trust_new(void)
{
	if (eml_mem_init() != EML_OK)
		return NULL;
	return eml_calloc(1, sizeof(struct eml_trust));
}

void
eml_trust_free(struct eml_trust *t)
{
	if (t != NULL)
		eml_free_wipe(t, sizeof(*t));
}

size_t
eml_trust_count(const struct eml_trust *t)
{
	return t != NULL ? t->n : 0;
}

eml_err
eml_trust_add_id(struct eml_trust *t, const uint8_t id[EML_SIG_KEY_ID_LEN])
{
	EML_ENSURE(t != NULL && id != NULL, EML_ERR_NULL);
	EML_ENSURE(t->n < EML_TRUST_MAX, EML_ERR_OVERFLOW);
	memcpy(t->ids[t->n++], id, EML_SIG_KEY_ID_LEN);
	return EML_OK;
}

eml_err
eml_trust_add_pem(struct eml_trust *t, const uint8_t *pem, size_t n)
{
	uint8_t id[EML_SIG_KEY_ID_LEN];

	EML_ENSURE_REF(t);
	EML_GUARD(eml_sign_pem_key_id(pem, n, id));
	EML_GUARD(eml_trust_add_id(t, id));
	return EML_OK;
}

/* RSA PKCS#1 v1.5 SHA-256 or ECDSA P-384 SHA-384 with the SPKI the file
 * carries. */
static eml_err
spki_verify(const struct eml_sig *s, const uint8_t *msg, size_t msg_len)
{
	eml_err rc = EML_ERR_INTERNAL;
	EVP_MD_CTX *md = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	EVP_PKEY *pk = NULL;
	const unsigned char *der = s->pubkey;
	uint8_t h[32];

	/* The key id is what is trusted; the key that came with the file
	 * must be the one it names. */
	crypto_hash_sha256(h, s->pubkey, s->pubkey_len);
	if (sodium_memcmp(h, s->key_id, sizeof(h)) != 0) {
		eml_err_set_detail("public key in the signature file does not match its key id");
		EML_FAIL(rc, EML_ERR_SIG_BAD);
	}
	pk = d2i_PUBKEY(NULL, &der, (long)s->pubkey_len);
	if (pk == NULL || der != s->pubkey + s->pubkey_len ||
	    !EVP_PKEY_is_a(pk, s->alg == EML_SIG_RSA_PKCS1_SHA256 ? "RSA" : "EC")) {
		eml_err_set_detail("public key in the signature file is not of its algorithm");
		EML_FAIL(rc, EML_ERR_SIG_FORMAT);
	}
	rc = s->alg == EML_SIG_RSA_PKCS1_SHA256 ? rsa_bits_ok(pk) : p384_ok(pk);
	if (rc != EML_OK)
		goto out;
	md = EVP_MD_CTX_new();
	if (md == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (EVP_DigestVerifyInit(md, &pctx,
		s->alg == EML_SIG_RSA_PKCS1_SHA256 ? EVP_sha256() : EVP_sha384(), NULL, pk) != 1 ||
	    (s->alg == EML_SIG_RSA_PKCS1_SHA256 &&
		EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) != 1))
		EML_FAIL(rc, EML_ERR_CRYPTO);
	if (EVP_DigestVerify(md, s->sig, s->sig_len, msg, msg_len) != 1)
		EML_FAIL(rc, EML_ERR_SIG_BAD);
	rc = EML_OK;
out:
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pk);
	return rc;
}

eml_err
eml_sig_verify(const struct eml_trust *t, const uint8_t *sig, size_t sig_len,
    const uint8_t content_id[32], const uint8_t topo_digest[32],
    uint8_t key_id_out[EML_SIG_KEY_ID_LEN])
{
	struct eml_sig s;
	uint8_t msg[EML_SIG_MSG_LEN];
	bool trusted = false;

	EML_ENSURE(t != NULL && content_id != NULL && topo_digest != NULL, EML_ERR_NULL);
	EML_GUARD(eml_sig_parse(sig, sig_len, &s));
	for (size_t i = 0; i < t->n; i++)
		if (sodium_memcmp(t->ids[i], s.key_id, sizeof(s.key_id)) == 0)
			trusted = true;
	if (!trusted) {
		eml_err_set_detail("signed by a key that is not in the trusted set");
		EML_BAIL(EML_ERR_SIG_UNTRUSTED);
	}
	eml_sig_message(content_id, topo_digest, msg);
	if (s.alg == EML_SIG_ED25519) {
		if (crypto_sign_verify_detached(s.sig, msg, sizeof(msg), s.key_id) != 0)
			EML_BAIL(EML_ERR_SIG_BAD);
	} else {
		EML_GUARD(spki_verify(&s, msg, sizeof(msg)));
	}
	if (key_id_out != NULL)
		memcpy(key_id_out, s.key_id, EML_SIG_KEY_ID_LEN);
	return EML_OK;
}
