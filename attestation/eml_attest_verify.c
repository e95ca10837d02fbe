/*
 * Authentication of a parsed document: the COSE ES384 signature with the
 * leaf key, and the X.509 chain to a caller-named root at an explicit
 * instant (AWS attestation_process.md §3.2.3; NOTES.md §3).
 */
#include "eml_attest.h"

#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sodium.h>

#include "eml_attest_cache.h"
#include "eml_buf.h"
#include "eml_cbor.h"
#include "eml_fault.h"
#include "eml_mem.h"

struct eml_attest_root {
	X509 *cert;
	size_t der_len;
	uint8_t *der;
	uint8_t sha256[32];
};

/* DER certificate with nothing after it. */
static eml_err
cert_from_der(const uint8_t *p, size_t n, X509 **out)
{
	const unsigned char *q = p;
	X509 *x;

	if (n == 0 || n > INT_MAX)
		EML_BAIL(EML_ERR_ATTEST_CERT_PARSE);
	x = d2i_X509(NULL, &q, (long)n);
	if (x == NULL)
		EML_BAIL(EML_ERR_ATTEST_CERT_PARSE);
	if ((size_t)(q - p) != n) {
		X509_free(x);
		EML_BAIL(EML_ERR_ATTEST_CERT_PARSE);
	}
	*out = x;
	return EML_OK;
}

static bool
looks_like_pem(const uint8_t *p, size_t n)
{
	static const char begin[] = "-----BEGIN";
	size_t bl = sizeof(begin) - 1;

	for (size_t i = 0; n >= bl && i <= n - bl; i++) {
		if (memcmp(p + i, begin, bl) == 0)
			return true;
	}
	return false;
}

eml_err
eml_attest_root_load(const uint8_t *p, size_t n, struct eml_attest_root **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_attest_root *r = NULL;
	BIO *bio = NULL;
	unsigned char *der = NULL;
	int dl;

	if (p == NULL || out == NULL)
		EML_BAIL(EML_ERR_NULL);
	*out = NULL;
	if (n == 0 || n > 65536) {
		eml_err_set_detail("root is %zu bytes", n);
		EML_BAIL(EML_ERR_ATTEST_ROOT);
	}
	r = eml_calloc(1, sizeof(*r));
	if (r == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (looks_like_pem(p, n)) {
		bio = BIO_new_mem_buf(p, (int)n);
		if (bio == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
		r->cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
	} else if (cert_from_der(p, n, &r->cert) != EML_OK) {
		r->cert = NULL;
	}
	if (r->cert == NULL) {
		eml_err_set_detail("root is not a PEM or DER certificate");
		EML_FAIL(rc, EML_ERR_ATTEST_ROOT);
	}
	/* A trust anchor here is a self-signed CA: anything else would make
	 * the "root" an intermediate we cannot pin meaningfully. */
	if (X509_check_issued(r->cert, r->cert) != X509_V_OK || X509_check_ca(r->cert) == 0) {
		eml_err_set_detail("root is not a self-issued CA certificate");
		EML_FAIL(rc, EML_ERR_ATTEST_ROOT);
	}
	dl = i2d_X509(r->cert, &der);
	if (dl <= 0)
		EML_FAIL(rc, EML_ERR_NOMEM);
	r->der_len = (size_t)dl;
	r->der = eml_alloc(r->der_len);
	if (r->der == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	EML_MEMCPY(r->der, der, r->der_len);
	crypto_hash_sha256(r->sha256, r->der, r->der_len);
	*out = r;
	r = NULL; /* transferred */
	rc = EML_OK;
out:
	OPENSSL_free(der);
	BIO_free(bio);
	eml_attest_root_free(r);
	return rc;
}

void
eml_attest_root_free(struct eml_attest_root *root)
{
	if (root == NULL)
		return;
	X509_free(root->cert);
	eml_free(root->der);
	eml_free(root);
}

eml_err
eml_attest_root_dup(const struct eml_attest_root *root, struct eml_attest_root **out)
{
	struct eml_attest_root *r;

	EML_ENSURE_REF(root);
	EML_ENSURE_REF(out);
	*out = NULL;
	r = eml_calloc(1, sizeof(*r));
	EML_ENSURE(r != NULL, EML_ERR_NOMEM);
	r->der = eml_alloc(root->der_len);
	if (r->der == NULL || X509_up_ref(root->cert) != 1) {
		eml_free(r->der);
		eml_free(r);
		EML_BAIL(EML_ERR_NOMEM);
	}
	r->cert = root->cert;
	r->der_len = root->der_len;
	EML_MEMCPY(r->der, root->der, root->der_len);
	EML_MEMCPY(r->sha256, root->sha256, sizeof(r->sha256));
	*out = r;
	return EML_OK;
}

void
eml_attest_root_sha256(const struct eml_attest_root *root, uint8_t out[32])
{
	EML_MEMCPY(out, root->sha256, 32);
}

/* The leaf must hold a P-384 key usable for signatures. */
static eml_err
leaf_key(X509 *leaf, EVP_PKEY **out)
{
	EVP_PKEY *pk = X509_get0_pubkey(leaf);
	char group[64] = { 0 };
	size_t gl = 0;

	if (pk == NULL || EVP_PKEY_get_base_id(pk) != EVP_PKEY_EC ||
	    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group),
		&gl) != 1 ||
	    strcmp(group, "secp384r1") != 0) {
		eml_err_set_detail("leaf key is not EC P-384");
		EML_BAIL(EML_ERR_ATTEST_CERT_KEY);
	}
	*out = pk;
	return EML_OK;
}

/* RFC 9052 §4.4: Sig_structure = ["Signature1", body_protected,
 * external_aad, payload], with external_aad empty, encoded with the
 * protected and payload byte strings exactly as received. */
static eml_err
build_sig_structure(const struct eml_attest_doc *doc, struct eml_buf *b)
{
	EML_GUARD(eml_cbor_put_head(b, EML_CBOR_ARRAY, 4));
	EML_GUARD(eml_cbor_put_text(b, "Signature1"));
	EML_GUARD(eml_cbor_put_bytes(b, doc->protected_hdr, doc->protected_len));
	EML_GUARD(eml_cbor_put_head(b, EML_CBOR_BYTES, 0));
	EML_GUARD(eml_cbor_put_bytes(b, doc->payload, doc->payload_len));
	return EML_OK;
}

/* Raw r||s (48 bytes each) to the DER ECDSA-Sig-Value OpenSSL verifies. */
static eml_err
sig_to_der(const uint8_t sig[EML_ATTEST_SIG_LEN], unsigned char **der, int *der_len)
{
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 48, NULL);
	BIGNUM *s = BN_bin2bn(sig + 48, 48, NULL);

	*der = NULL;
	if (es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		ECDSA_SIG_free(es);
		BN_free(r);
		BN_free(s);
		EML_BAIL(EML_ERR_NOMEM);
	}
	/* r and s now belong to es. */
	*der_len = i2d_ECDSA_SIG(es, der);
	ECDSA_SIG_free(es);
	if (*der_len <= 0)
		EML_BAIL(EML_ERR_NOMEM);
	return EML_OK;
}

/* The leaf certificate of doc, parsed (~150 us with OpenSSL 3.0: its key
 * goes through the provider decoders). */
static eml_err
leaf_parse(const struct eml_attest_doc *doc, X509 **leaf)
{
	eml_err rc = cert_from_der(doc->certificate, doc->certificate_len, leaf);

	if (rc != EML_OK)
		eml_err_set_detail("leaf certificate does not parse");
	return rc;
}

/* eml_attest_sig_verify with the leaf parsed by the caller (from the same
 * doc->certificate bytes). */
static eml_err
eml_attest_sig_verify_leaf(const struct eml_attest_doc *doc, X509 *leaf)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_buf tbs;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *md = NULL;
	unsigned char *der = NULL;
	int der_len = 0;
	int ok;

	eml_buf_init(&tbs, EML_ATTEST_PAYLOAD_MAX + 64);
	if (doc == NULL || leaf == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if ((rc = leaf_key(leaf, &pk)) != EML_OK)
		goto out;
	if ((rc = build_sig_structure(doc, &tbs)) != EML_OK)
		goto out;
	if ((rc = sig_to_der(doc->signature, &der, &der_len)) != EML_OK)
		goto out;
	md = EVP_MD_CTX_new();
	if (md == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if (EVP_DigestVerifyInit(md, NULL, EVP_sha384(), NULL, pk) != 1)
		EML_FAIL(rc, EML_ERR_ATTEST_CERT_KEY);
	ok = EVP_DigestVerify(md, der, (size_t)der_len, tbs.data, tbs.len);
	if (ok != 1) {
		eml_err_set_detail("ES384 signature over Sig_structure does not verify with the "
				   "leaf key");
		EML_FAIL(rc, EML_ERR_ATTEST_SIG_INVALID);
	}
	rc = EML_OK;
out:
	ERR_clear_error();
	OPENSSL_free(der);
	EVP_MD_CTX_free(md);
	eml_buf_free_nowipe(&tbs);
	return rc;
}

eml_err
eml_attest_sig_verify(const struct eml_attest_doc *doc)
{
	X509 *leaf = NULL;
	eml_err rc;

	EML_ENSURE(doc != NULL, EML_ERR_NULL);
	EML_GUARD(leaf_parse(doc, &leaf));
	rc = eml_attest_sig_verify_leaf(doc, leaf);
	X509_free(leaf);
	return rc;
}

static eml_err
map_x509_error(int err)
{
	switch (err) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return EML_ERR_ATTEST_CHAIN_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return EML_ERR_ATTEST_CHAIN_NOT_YET_VALID;
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
	case X509_V_ERR_UNABLE_TO_DECRYPT_CERT_SIGNATURE:
	case X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY:
		return EML_ERR_ATTEST_CHAIN_SIG;
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
		return EML_ERR_ATTEST_CHAIN_ISSUER;
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
		return EML_ERR_ATTEST_UNTRUSTED_ROOT;
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_CERT_CHAIN_TOO_LONG:
		return EML_ERR_ATTEST_CHAIN_CA;
	default:
		return EML_ERR_ATTEST_CHAIN;
	}
}

static void
fmt_time(char *dst, size_t n, int64_t t)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL || strftime(dst, n, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		(void)snprintf(dst, n, "%lld", (long long)t);
}

/* The leaf signs documents; it must not be a CA and must allow
 * digitalSignature (AWS §3.2.3.2). */
static eml_err
check_leaf_profile(X509 *leaf)
{
	EVP_PKEY *pk;

	EML_GUARD(leaf_key(leaf, &pk));
	if (X509_check_ca(leaf) != 0) {
		eml_err_set_detail("leaf certificate is a CA");
		EML_BAIL(EML_ERR_ATTEST_CHAIN_CA);
	}
	if (!(X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) ||
	    !(X509_get_key_usage(leaf) & KU_DIGITAL_SIGNATURE)) {
		eml_err_set_detail("leaf certificate lacks keyUsage digitalSignature");
		EML_BAIL(EML_ERR_ATTEST_CERT_KEY);
	}
	return EML_OK;
}

/* X509_verify_cert of leaf through untrusted to the one trusted
 * certificate anchor, which the chain must end at byte for byte (pin).
 * partial: anchor is an intermediate (the cache's path), not the root.
 * given: a store already holding the anchor alone (anchor NULL), whose
 * reference this call takes over; NULL: a new one for anchor. */
static eml_err
run_store(X509 *leaf, STACK_OF(X509) *untrusted, X509 *anchor, X509_STORE *given,
    const uint8_t *pin, size_t pin_len, bool partial, int64_t at_s, size_t expect_len)
{
	eml_err rc = EML_ERR_INTERNAL;
	X509_STORE *store = given != NULL ? given : X509_STORE_new();
	X509_STORE_CTX *ctx = X509_STORE_CTX_new();
	X509_VERIFY_PARAM *param;
	STACK_OF(X509) *chain;
	X509 *top;
	unsigned char *der = NULL;
	int dl;

	if (store == NULL || ctx == NULL ||
	    (given == NULL && X509_STORE_add_cert(store, anchor) != 1) ||
	    X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1)
		EML_FAIL(rc, EML_ERR_NOMEM);
	param = X509_STORE_CTX_get0_param(ctx);
	/* Explicit instant (sets X509_V_FLAG_USE_CHECK_TIME). No partial
	 * chains, no CRLs (AWS: do not use CRLs), strict mode off (the AWS
	 * leaf has no AKI/SKI, NOTES §2.3). */
	X509_VERIFY_PARAM_set_time(param, (time_t)at_s);
	X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_PARTIAL_CHAIN | X509_V_FLAG_X509_STRICT |
						 X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
	X509_VERIFY_PARAM_set_depth(param, EML_ATTEST_CABUNDLE_MAX);
	if (partial)
		X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN);
	if (X509_verify_cert(ctx) != 1) {
		int err = X509_STORE_CTX_get_error(ctx);
		int depth = X509_STORE_CTX_get_error_depth(ctx);
		X509 *bad = X509_STORE_CTX_get_current_cert(ctx);
		char when[40];
		char cn[80] = "?";

		if (bad == NULL || X509_NAME_get_text_by_NID(X509_get_subject_name(bad),
				       NID_commonName, cn, (int)sizeof(cn)) < 0)
			(void)snprintf(cn, sizeof(cn), "?");
		/* The name comes from an untrusted certificate: printable only. */
		for (char *q = cn; *q != '\0'; q++) {
			if (*q < 0x20 || *q > 0x7e)
				*q = '?';
		}
		fmt_time(when, sizeof(when), at_s);
		eml_err_set_detail("chain depth %d (CN=%.60s): %s (checked at %s)", depth, cn,
		    X509_verify_cert_error_string(err), when);
		EML_FAIL(rc, map_x509_error(err));
	}
	chain = X509_STORE_CTX_get0_chain(ctx);
	if (chain == NULL || (size_t)sk_X509_num(chain) != expect_len) {
		eml_err_set_detail("chain has %d certificates, the document carries %zu",
		    chain == NULL ? 0 : sk_X509_num(chain), expect_len);
		EML_FAIL(rc, EML_ERR_ATTEST_CHAIN);
	}
	/* Pin: the anchor OpenSSL ended at must be the caller's root, byte for
	 * byte, not merely a certificate with the same name. */
	top = sk_X509_value(chain, sk_X509_num(chain) - 1);
	dl = i2d_X509(top, &der);
	if (dl <= 0 || (size_t)dl != pin_len || sodium_memcmp(der, pin, pin_len) != 0) {
		eml_err_set_detail("chain ends at a certificate other than the trusted root");
		EML_FAIL(rc, EML_ERR_ATTEST_UNTRUSTED_ROOT);
	}
	rc = EML_OK;
out:
	OPENSSL_free(der);
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	return rc;
}

/* eml_attest_chain_verify; given: the leaf parsed from doc->certificate
 * by the caller (NULL: parsed here). */
static eml_err
chain_verify_leaf(const struct eml_attest_doc *doc, const struct eml_attest_root *root,
    int64_t at_s, X509 *given)
{
	eml_err rc = EML_ERR_INTERNAL;
	X509 *leaf = NULL;
	STACK_OF(X509) *untrusted = NULL;
	bool doc_root_checked = true;

	if (doc == NULL || root == NULL)
		EML_BAIL(EML_ERR_NULL);
	if (doc->cabundle_count == 0)
		EML_BAIL(EML_ERR_ATTEST_FIELD_RANGE);
	/* cabundle is root first (AWS §3.2.3.1). Its root must be ours. */
#ifdef EML_FAULT_INJECTION
	if (EML_FAULT("verify_skip_root"))
		doc_root_checked = false; /* property 4's fault: any root accepted */
#endif
	if (doc_root_checked && (doc->cabundle_len[0] != root->der_len ||
	    sodium_memcmp(doc->cabundle[0], root->der, root->der_len) != 0)) {
		char hex[17];

		eml_hex_encode(hex, root->sha256, 8);
		eml_err_set_detail("cabundle[0] is not the trusted root (sha256 %s...)", hex);
		EML_BAIL(EML_ERR_ATTEST_UNTRUSTED_ROOT);
	}
	if (given != NULL && X509_up_ref(given) == 1)
		leaf = given;
	else if ((rc = leaf_parse(doc, &leaf)) != EML_OK)
		goto out;
	if ((rc = check_leaf_profile(leaf)) != EML_OK)
		goto out;
	untrusted = sk_X509_new_null();
	if (untrusted == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	for (size_t i = 1; i < doc->cabundle_count; i++) {
		X509 *x = NULL;

		if ((rc = cert_from_der(doc->cabundle[i], doc->cabundle_len[i], &x)) != EML_OK) {
			eml_err_set_detail("cabundle[%zu] does not parse", i);
			goto out;
		}
		if (sk_X509_push(untrusted, x) <= 0) {
			X509_free(x);
			EML_FAIL(rc, EML_ERR_NOMEM);
		}
	}
	rc = run_store(leaf, untrusted, root->cert, NULL, root->der, root->der_len, false, at_s,
	    doc->cabundle_count + 1);
#ifdef EML_FAULT_INJECTION
	if (!doc_root_checked)
		rc = EML_OK;
#endif
out:
	ERR_clear_error();
	sk_X509_pop_free(untrusted, X509_free);
	X509_free(leaf);
	return rc;
}

eml_err
eml_attest_chain_verify(const struct eml_attest_doc *doc, const struct eml_attest_root *root,
    int64_t at_s)
{
	return chain_verify_leaf(doc, root, at_s, NULL);
}

/* ---------------------------------------------------------------- cache */

static eml_err
sha384(const uint8_t *p, size_t n, uint8_t out[EML_ATTEST_SHA384_LEN])
{
	unsigned int ol = 0;

	EML_ENSURE(EVP_Digest(p, n, out, &ol, EVP_sha384(), NULL) == 1 &&
	    ol == EML_ATTEST_SHA384_LEN, EML_ERR_CRYPTO);
	return EML_OK;
}

static eml_err
asn1_secs(const ASN1_TIME *a, int64_t *out)
{
	struct tm tm;

	EML_ENSURE(a != NULL && ASN1_TIME_to_tm(a, &tm) == 1, EML_ERR_ATTEST_CHAIN);
	*out = (int64_t)timegm(&tm);
	return EML_OK;
}

/* Valid at at_s as OpenSSL counts it: notBefore <= t < notAfter. */
static eml_err
cert_time_ok(X509 *x, int64_t at_s)
{
	int64_t nb, na;

	EML_GUARD(asn1_secs(X509_get0_notBefore(x), &nb));
	EML_GUARD(asn1_secs(X509_get0_notAfter(x), &na));
	if (at_s < nb)
		EML_BAIL(EML_ERR_ATTEST_CHAIN_NOT_YET_VALID);
	if (at_s >= na)
		EML_BAIL(EML_ERR_ATTEST_CHAIN_EXPIRED);
	return EML_OK;
}

/* SHA-384 of cabundle[0..count) (cabundle[0] is the pinned root). */
static eml_err
bundle_hashes(const struct eml_attest_doc *doc, uint8_t h[][EML_ATTEST_SHA384_LEN])
{
	for (size_t i = 0; i < doc->cabundle_count; i++)
		EML_GUARD(sha384(doc->cabundle[i], doc->cabundle_len[i], h[i]));
	return EML_OK;
}

/* After a full verification: remember every intermediate with its
 * issuer, the root and its validity period. */
static void
cache_fill(struct eml_attest_cache *cache, const struct eml_attest_doc *doc,
    uint8_t h[][EML_ATTEST_SHA384_LEN])
{
	for (size_t i = 1; i < doc->cabundle_count; i++) {
		X509 *x = NULL;
		int64_t nb, na;

		/* A certificate that constrains the names or policies below it
		 * is not cached: its constraints apply to every leaf, and only
		 * the full path applies them. */
		if (cert_from_der(doc->cabundle[i], doc->cabundle_len[i], &x) == EML_OK &&
		    X509_get_ext_by_NID(x, NID_name_constraints, -1) < 0 &&
		    X509_get_ext_by_NID(x, NID_policy_constraints, -1) < 0 &&
		    X509_get_ext_by_NID(x, NID_inhibit_any_policy, -1) < 0 &&
		    X509_get_ext_by_NID(x, NID_certificate_policies, -1) < 0 &&
		    asn1_secs(X509_get0_notBefore(x), &nb) == EML_OK &&
		    asn1_secs(X509_get0_notAfter(x), &na) == EML_OK)
			eml_attest_cache_put(cache, h[i], h[i - 1], h[0], nb, na);
		X509_free(x);
	}
	eml_err_clear_detail();
}

/*
 * The cached path's anchor (the last intermediate) parsed once: one store
 * holding it alone, kept for the next document with the same bytes (keyed
 * by the SHA-384 of its DER, which the cache entries pin too). Only ever
 * used after every intermediate was found in the cache under the caller's
 * root; the leaf and the document are never kept. A certificate parse is
 * ~150 us here (OpenSSL 3 decodes the key through its decoders).
 */
static pthread_mutex_t anchor_mu = PTHREAD_MUTEX_INITIALIZER;
static uint8_t anchor_h[EML_ATTEST_SHA384_LEN];
static X509_STORE *anchor_store; /* NULL: none yet */

static eml_err
anchor_store_get(const uint8_t *der, size_t n, const uint8_t h[EML_ATTEST_SHA384_LEN],
    X509_STORE **out)
{
	X509 *x = NULL;
	X509_STORE *st;

	*out = NULL;
	pthread_mutex_lock(&anchor_mu);
	if (anchor_store != NULL && memcmp(anchor_h, h, EML_ATTEST_SHA384_LEN) == 0 &&
	    X509_STORE_up_ref(anchor_store) == 1)
		*out = anchor_store;
	pthread_mutex_unlock(&anchor_mu);
	if (*out != NULL)
		return EML_OK;
	EML_GUARD(cert_from_der(der, n, &x));
	st = X509_STORE_new();
	if (st == NULL || X509_STORE_add_cert(st, x) != 1) {
		X509_free(x);
		X509_STORE_free(st);
		ERR_clear_error();
		EML_BAIL(EML_ERR_NOMEM);
	}
	X509_free(x); /* the store holds it */
	pthread_mutex_lock(&anchor_mu);
	if (X509_STORE_up_ref(st) == 1) {
		X509_STORE_free(anchor_store);
		anchor_store = st;
		EML_MEMCPY(anchor_h, h, EML_ATTEST_SHA384_LEN);
	}
	pthread_mutex_unlock(&anchor_mu);
	*out = st;
	return EML_OK;
}

/*
 * Every intermediate known: the root pin and the root's validity are
 * checked, then X509_verify_cert of the leaf against its issuer alone
 * (the last intermediate, as a partial-chain anchor): the leaf's
 * signature by that issuer, its validity, names and extensions. The
 * intermediates' own signatures are what is not redone. hl: the SHA-384
 * of that issuer's DER.
 */
static eml_err
chain_from_cache(const struct eml_attest_doc *doc, const struct eml_attest_root *root,
    int64_t at_s, const uint8_t hl[EML_ATTEST_SHA384_LEN], X509 *given)
{
	eml_err rc = EML_ERR_INTERNAL;
	size_t last = doc->cabundle_count - 1;
	X509 *leaf = NULL;
	X509_STORE *st = NULL;

	if ((rc = cert_time_ok(root->cert, at_s)) != EML_OK) {
		eml_err_set_detail("the trusted root is not valid at the verification time");
		goto out;
	}
	if (given != NULL && X509_up_ref(given) == 1)
		leaf = given;
	else if ((rc = leaf_parse(doc, &leaf)) != EML_OK)
		goto out;
	if ((rc = check_leaf_profile(leaf)) != EML_OK)
		goto out;
	if ((rc = anchor_store_get(doc->cabundle[last], doc->cabundle_len[last], hl, &st)) !=
	    EML_OK)
		goto out;
	rc = run_store(leaf, NULL, NULL, st, doc->cabundle[last], doc->cabundle_len[last], true,
	    at_s, 2);
out:
	ERR_clear_error();
	X509_free(leaf);
	return rc;
}

/* eml_attest_chain_verify_cached without the fill: *fill says whether a
 * full verification succeeded whose intermediates (hashes in h) may go
 * into the cache, which the caller does once nothing else refuses. */
static eml_err
chain_cached_nofill(const struct eml_attest_doc *doc, const struct eml_attest_root *root,
    int64_t at_s, struct eml_attest_cache *cache, bool *hit,
    uint8_t h[][EML_ATTEST_SHA384_LEN], bool *fill, X509 *leaf)
{
	bool all = true;
	eml_err rc;

	*fill = false;
	if (hit != NULL)
		*hit = false;
	if (cache == NULL || doc == NULL || root == NULL || doc->cabundle_count < 2 ||
	    doc->cabundle_count > EML_ATTEST_CABUNDLE_MAX)
		return chain_verify_leaf(doc, root, at_s, leaf);
	/* The root pin first, as on the full path. */
	if (doc->cabundle_len[0] != root->der_len ||
	    sodium_memcmp(doc->cabundle[0], root->der, root->der_len) != 0)
		return chain_verify_leaf(doc, root, at_s, leaf); /* says why */
	EML_GUARD(bundle_hashes(doc, h));
	for (size_t i = 1; all && i < doc->cabundle_count; i++)
		all = eml_attest_cache_has(cache, h[i], h[i - 1], h[0], at_s);
	if (all) {
		if (hit != NULL)
			*hit = true;
		return chain_from_cache(doc, root, at_s, h[doc->cabundle_count - 1], leaf);
	}
	rc = chain_verify_leaf(doc, root, at_s, leaf);
	*fill = rc == EML_OK;
	return rc;
}

eml_err
eml_attest_chain_verify_cached(const struct eml_attest_doc *doc,
    const struct eml_attest_root *root, int64_t at_s, struct eml_attest_cache *cache, bool *hit)
{
	uint8_t h[EML_ATTEST_CABUNDLE_MAX][EML_ATTEST_SHA384_LEN];
	bool fill;
	eml_err rc = chain_cached_nofill(doc, root, at_s, cache, hit, h, &fill, NULL);

	if (fill)
		cache_fill(cache, doc, h);
	return rc;
}

static int64_t
mono_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * The document's signature is checked beside the chain: two independent
 * P-384 verifications (~0.7 ms each). It goes to one long-lived thread
 * per process (started at the first verification) rather than a thread
 * made per call: pthread_create, and OpenSSL's per-thread state made and
 * torn down each time, were on every handshake's path. A job that thread
 * has not picked up by the time the caller's chain is done is taken back
 * and run by the caller: on a busy machine, where the second thread gets
 * no CPU, the two run one after the other instead of the caller waiting
 * for a thread that has not started. Each job lives on its caller's
 * stack and carries its own verdict; its error record is carried back
 * (eml_err_adopt) so that what the caller sees is what the sequential
 * order reports.
 */
enum sig_job_state { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct sig_job {
	const struct eml_attest_doc *doc;
	X509 *leaf;
	eml_err rc;
	int64_t us;
	enum sig_job_state state;
	struct sig_job *next; /* queue link */
	char where[EML_ERR_WHERE_MAX];
	char detail[EML_ERR_DETAIL_MAX];
};

static void
sig_job_run(struct sig_job *j)
{
	int64_t t0 = mono_us();

	j->rc = eml_attest_sig_verify_leaf(j->doc, j->leaf);
	j->us = mono_us() - t0;
	if (j->rc != EML_OK) {
		(void)snprintf(j->where, sizeof(j->where), "%s", eml_err_where());
		(void)snprintf(j->detail, sizeof(j->detail), "%s", eml_err_detail());
	}
}

static pthread_mutex_t vq_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t vq_work = PTHREAD_COND_INITIALIZER;
static pthread_cond_t vq_done = PTHREAD_COND_INITIALIZER;
static struct sig_job *vq_head, *vq_tail; /* FIFO, under vq_mu */
static pthread_once_t vq_once = PTHREAD_ONCE_INIT;
/* The process whose thread serves the queue (0: none). A forked child
 * has no such thread and runs its jobs itself, without touching vq_mu
 * (the parent may have held it at the fork). */
static pid_t vq_pid;

static void *
vq_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&vq_mu);
	for (;;) {
		struct sig_job *j;

		while (vq_head == NULL)
			pthread_cond_wait(&vq_work, &vq_mu);
		j = vq_head;
		vq_head = j->next;
		if (vq_head == NULL)
			vq_tail = NULL;
		j->state = JOB_RUNNING;
		pthread_mutex_unlock(&vq_mu);
		sig_job_run(j);
		pthread_mutex_lock(&vq_mu);
		/* j may be gone as soon as the lock is released */
		j->state = JOB_DONE;
		pthread_cond_broadcast(&vq_done);
	}
	return NULL;
}

static void
vq_start(void)
{
	pthread_attr_t at;
	pthread_t th;
	sigset_t all, old;

	if (pthread_attr_init(&at) != 0)
		return;
	(void)pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	/* a library's thread takes none of the application's signals */
	(void)sigfillset(&all);
	(void)pthread_sigmask(SIG_BLOCK, &all, &old);
	if (pthread_create(&th, &at, vq_main, NULL) == 0)
		vq_pid = getpid();
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	(void)pthread_attr_destroy(&at);
}

/* Queue j for the thread; false: no thread (the caller runs it). */
static bool
vq_post(struct sig_job *j)
{
	(void)pthread_once(&vq_once, vq_start);
	if (vq_pid == 0 || vq_pid != getpid())
		return false;
	j->state = JOB_QUEUED;
	j->next = NULL;
	pthread_mutex_lock(&vq_mu);
	if (vq_tail != NULL)
		vq_tail->next = j;
	else
		vq_head = j;
	vq_tail = j;
	pthread_cond_signal(&vq_work);
	pthread_mutex_unlock(&vq_mu);
	return true;
}

/* A posted job, done: waited for when the thread has it, else taken off
 * the queue and run here. */
static void
vq_finish(struct sig_job *j)
{
	bool mine = false;

	pthread_mutex_lock(&vq_mu);
	if (j->state == JOB_QUEUED) {
		struct sig_job **pp = &vq_head, *prev = NULL;

		while (*pp != j) {
			prev = *pp;
			pp = &(*pp)->next;
		}
		*pp = j->next;
		if (vq_tail == j)
			vq_tail = prev;
		mine = true;
	}
	while (!mine && j->state != JOB_DONE)
		pthread_cond_wait(&vq_done, &vq_mu);
	pthread_mutex_unlock(&vq_mu);
	if (mine)
		sig_job_run(j);
}

/* vq_finish after the caller's chain (rc): when the job is taken back and
 * run here, the chain's error record is kept. rc is returned. */
static eml_err
vq_join(struct sig_job *j, eml_err rc)
{
	char where[EML_ERR_WHERE_MAX] = "", detail[EML_ERR_DETAIL_MAX] = "";

	if (rc != EML_OK) {
		(void)snprintf(where, sizeof(where), "%s", eml_err_where());
		(void)snprintf(detail, sizeof(detail), "%s", eml_err_detail());
	}
	vq_finish(j);
	if (rc != EML_OK && j->rc == EML_OK)
		rc = eml_err_adopt(rc, where, detail);
	return rc;
}

/* The verification instant, or EML_ERR_ATTEST_TIME. */
static eml_err
verify_time(const struct eml_attest_doc *doc, enum eml_attest_at at, int64_t at_s, int64_t *t)
{
	switch (at) {
	case EML_ATTEST_AT_NOW:
		*t = (int64_t)time(NULL);
		break;
	case EML_ATTEST_AT_DOC:
		*t = (int64_t)(doc->timestamp_ms / 1000);
		break;
	case EML_ATTEST_AT_GIVEN:
		*t = at_s;
		break;
	default:
		EML_BAIL(EML_ERR_ATTEST_TIME);
	}
	if (*t < 0) {
		eml_err_set_detail("verification time before 1970");
		EML_BAIL(EML_ERR_ATTEST_TIME);
	}
	return EML_OK;
}

eml_err
eml_attest_verify_ex(const uint8_t *p, size_t n, const struct eml_attest_root *root,
    enum eml_attest_at at, int64_t at_s, const struct eml_attest_policy *pol,
    struct eml_attest_cache *cache, struct eml_attest_timing *tm, struct eml_attest_doc *doc)
{
	uint8_t h[EML_ATTEST_CABUNDLE_MAX][EML_ATTEST_SHA384_LEN];
	struct eml_attest_timing local;
	struct sig_job job;
	bool posted, fill = false;
	int64_t t0, t1, t = 0;
	uint64_t now_ms;
	X509 *leaf = NULL;
	eml_err rc;

	if (tm == NULL)
		tm = &local;
	memset(tm, 0, sizeof(*tm));
	EML_ENSURE_REF(root);
	EML_ENSURE_REF(pol);
	t0 = mono_us();
	EML_GUARD(eml_attest_doc_parse(p, n, doc));
	t1 = mono_us();
	tm->parse_us = t1 - t0;
	/* The leaf parsed once, for both (the signature's first step: a leaf
	 * that does not parse is reported as the signature path reports it).
	 * Its extensions are cached here, before two threads read it. */
	EML_GUARD(leaf_parse(doc, &leaf));
	(void)X509_check_purpose(leaf, -1, 0);
	ERR_clear_error();
	/* Signature (the verifier thread) and chain (here) at once; the
	 * errors are reported in the sequential order: signature, time,
	 * chain. Without the thread, one after the other. */
	memset(&job, 0, sizeof(job));
	job.doc = doc;
	job.leaf = leaf;
	posted = vq_post(&job);
	if (!posted) {
		sig_job_run(&job);
		if (job.rc != EML_OK) {
			X509_free(leaf);
			return eml_err_adopt(job.rc, job.where, job.detail);
		}
	}
	/* Chain first (before the policy): only a document from a valid
	 * chain has a timestamp worth comparing with anything. */
	rc = verify_time(doc, at, at_s, &t);
	if (rc == EML_OK) {
		int64_t c0 = mono_us();

		rc = chain_cached_nofill(doc, root, t, cache, &tm->chain_cached, h, &fill, leaf);
		tm->chain_us = mono_us() - c0;
	}
	if (posted)
		rc = vq_join(&job, rc);
	X509_free(leaf);
	tm->sig_us = job.us;
	tm->auth_us = mono_us() - t1;
	if (job.rc != EML_OK) {
		/* sequentially the chain would not have run */
		tm->chain_us = 0;
		tm->chain_cached = false;
		return eml_err_adopt(job.rc, job.where, job.detail);
	}
	if (rc != EML_OK)
		return rc;
	if (fill)
		cache_fill(cache, doc, h);
	now_ms = at == EML_ATTEST_AT_DOC ? doc->timestamp_ms : (uint64_t)t * 1000u;
	return eml_attest_policy_check(doc, pol, now_ms);
}

eml_err
eml_attest_verify(const uint8_t *p, size_t n, const struct eml_attest_root *root,
    enum eml_attest_at at, int64_t at_s, const struct eml_attest_policy *pol,
    struct eml_attest_doc *doc)
{
	return eml_attest_verify_ex(p, n, root, at, at_s, pol, NULL, NULL, doc);
}
