#include "eml_attest_encode.h"

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>

#include "eml_cbor.h"

static const uint8_t nitro_protected[] = { 0xa1, 0x01, 0x38, 0x22 };

static eml_err
put_optional(struct eml_buf *b, const char *key, const struct eml_attest_bytes *v)
{
	EML_GUARD(eml_cbor_put_text(b, key));
	return eml_cbor_put_bytes_or_null(b, v->present ? v->data : NULL, v->len);
}

eml_err
eml_attest_payload_encode(const struct eml_attest_doc *doc, bool indefinite, struct eml_buf *out)
{
	unsigned npcr = 0;

	EML_ENSURE_REF(doc);
	EML_ENSURE_REF(out);
	if (indefinite)
		EML_GUARD(eml_cbor_put_simple(out, 0xbf));
	else
		EML_GUARD(eml_cbor_put_head(out, EML_CBOR_MAP, 9));
	EML_GUARD(eml_cbor_put_text(out, "module_id"));
	EML_GUARD(eml_cbor_put_text(out, doc->module_id));
	EML_GUARD(eml_cbor_put_text(out, "digest"));
	EML_GUARD(eml_cbor_put_text(out, "SHA384"));
	EML_GUARD(eml_cbor_put_text(out, "timestamp"));
	EML_GUARD(eml_cbor_put_head(out, EML_CBOR_UINT, doc->timestamp_ms));
	EML_GUARD(eml_cbor_put_text(out, "pcrs"));
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++)
		npcr += (doc->pcr_present >> i) & 1u;
	EML_GUARD(eml_cbor_put_head(out, EML_CBOR_MAP, npcr));
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
		if (!(doc->pcr_present & (1u << i)))
			continue;
		EML_GUARD(eml_cbor_put_head(out, EML_CBOR_UINT, i));
		EML_GUARD(eml_cbor_put_bytes(out, doc->pcr[i], doc->pcr_len[i]));
	}
	EML_GUARD(eml_cbor_put_text(out, "certificate"));
	EML_GUARD(eml_cbor_put_bytes(out, doc->certificate, doc->certificate_len));
	EML_GUARD(eml_cbor_put_text(out, "cabundle"));
	EML_GUARD(eml_cbor_put_head(out, EML_CBOR_ARRAY, doc->cabundle_count));
	for (size_t i = 0; i < doc->cabundle_count; i++)
		EML_GUARD(eml_cbor_put_bytes(out, doc->cabundle[i], doc->cabundle_len[i]));
	EML_GUARD(put_optional(out, "public_key", &doc->public_key));
	EML_GUARD(put_optional(out, "user_data", &doc->user_data));
	EML_GUARD(put_optional(out, "nonce", &doc->nonce));
	if (indefinite)
		EML_GUARD(eml_cbor_put_simple(out, 0xff));
	return EML_OK;
}

/* Left-pad a big-endian integer into a fixed 48-byte field. */
static eml_err
bn_to_48(const BIGNUM *bn, uint8_t *dst)
{
	if (BN_num_bytes(bn) > 48 || BN_bn2binpad(bn, dst, 48) != 48)
		EML_BAIL(EML_ERR_CRYPTO);
	return EML_OK;
}

eml_err
eml_attest_sig_raw(const ECDSA_SIG *es, uint8_t sig[EML_ATTEST_SIG_LEN])
{
	if (es == NULL || sig == NULL)
		EML_BAIL(EML_ERR_NULL);
	EML_GUARD(bn_to_48(ECDSA_SIG_get0_r(es), sig));
	return bn_to_48(ECDSA_SIG_get0_s(es), sig + 48);
}

eml_err
eml_attest_es384_sign(EVP_PKEY *key, const uint8_t *msg, size_t n, uint8_t sig[EML_ATTEST_SIG_LEN])
{
	eml_err rc = EML_ERR_INTERNAL;
	EVP_MD_CTX *md = NULL;
	unsigned char *der = NULL;
	const unsigned char *q;
	size_t dl = 0;
	ECDSA_SIG *es = NULL;

	if (key == NULL || msg == NULL || sig == NULL)
		EML_BAIL(EML_ERR_NULL);
	md = EVP_MD_CTX_new();
	if (md == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, key) != 1 ||
	    EVP_DigestSign(md, NULL, &dl, msg, n) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	der = OPENSSL_malloc(dl);
	if (der == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (EVP_DigestSign(md, der, &dl, msg, n) != 1)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	q = der;
	es = d2i_ECDSA_SIG(NULL, &q, (long)dl);
	if (es == NULL)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	rc = eml_attest_sig_raw(es, sig);
out:
	ERR_clear_error();
	ECDSA_SIG_free(es);
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	return rc;
}

static eml_err
key_signer(void *arg, const uint8_t *msg, size_t n, uint8_t sig[EML_ATTEST_SIG_LEN])
{
	return eml_attest_es384_sign(arg, msg, n, sig);
}

eml_err
eml_attest_cose_sign(const uint8_t *payload, size_t payload_len, const uint8_t *protected_hdr,
    size_t protected_len, bool tagged, EVP_PKEY *key, struct eml_buf *out)
{
	if (key == NULL)
		EML_BAIL(EML_ERR_NULL);
	return eml_attest_cose_sign_by(
	    payload, payload_len, protected_hdr, protected_len, tagged, key_signer, key, out);
}

eml_err
eml_attest_cose_sign_by(const uint8_t *payload, size_t payload_len, const uint8_t *protected_hdr,
    size_t protected_len, bool tagged, eml_attest_signer sign, void *arg, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf tbs;
	uint8_t sig[EML_ATTEST_SIG_LEN];

	eml_buf_init(&tbs, EML_ATTEST_PAYLOAD_MAX + 64);
	if (payload == NULL || out == NULL || sign == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if (protected_hdr == NULL) {
		protected_hdr = nitro_protected;
		protected_len = sizeof(nitro_protected);
	}
	/* RFC 9052 §4.4 Sig_structure, as the verifier rebuilds it. */
	if ((rc = eml_cbor_put_head(&tbs, EML_CBOR_ARRAY, 4)) != EML_OK ||
	    (rc = eml_cbor_put_text(&tbs, "Signature1")) != EML_OK ||
	    (rc = eml_cbor_put_bytes(&tbs, protected_hdr, protected_len)) != EML_OK ||
	    (rc = eml_cbor_put_head(&tbs, EML_CBOR_BYTES, 0)) != EML_OK ||
	    (rc = eml_cbor_put_bytes(&tbs, payload, payload_len)) != EML_OK)
		goto out;
	if ((rc = sign(arg, tbs.data, tbs.len, sig)) != EML_OK)
		goto out;
	if ((tagged && (rc = eml_cbor_put_head(out, EML_CBOR_TAG, 18)) != EML_OK) ||
	    (rc = eml_cbor_put_head(out, EML_CBOR_ARRAY, 4)) != EML_OK ||
	    (rc = eml_cbor_put_bytes(out, protected_hdr, protected_len)) != EML_OK ||
	    (rc = eml_cbor_put_head(out, EML_CBOR_MAP, 0)) != EML_OK ||
	    (rc = eml_cbor_put_bytes(out, payload, payload_len)) != EML_OK ||
	    (rc = eml_cbor_put_bytes(out, sig, sizeof(sig))) != EML_OK)
		goto out;
	rc = EML_OK;
out:
	eml_buf_free_nowipe(&tbs);
	return rc;
}
