/*
 * Verifier against the real AWS documents in testdata/attestation
 * and a tampering suite built here from them. Expected facts come from the
 * docNN.json descriptions and NOTES.md, never from the code under test.
 */
#include "eml_test.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_attest_cache.h"
#include "attestation/eml_attest_encode.h"
#include "attestation/eml_attest_sim.h"
#include "attestation/eml_cbor.h"
#include "eml_buf.h"
#include "eml_mem.h"

#define NDOCS 15
#define AWS_ROOT_REPO "attestation/roots/aws_nitro_root_g1.pem"

static struct eml_attest_root *aws_root;
static struct eml_attest_doc *doc;
static struct eml_attest_policy pol;

static uint8_t *
load_doc(unsigned i, size_t *n)
{
	char rel[64];

	(void)snprintf(rel, sizeof(rel), "attestation/doc%02u.cbor", i);
	return eml_test_read_file(eml_test_data(rel), n);
}

static json_t *
load_json(unsigned i)
{
	char rel[64];
	json_error_t e;
	json_t *j;

	(void)snprintf(rel, sizeof(rel), "attestation/doc%02u.json", i);
	j = json_load_file(eml_test_data(rel), 0, &e);
	if (j == NULL)
		fail_msg("doc%02u.json: %s", i, e.text);
	return j;
}

static int
setup(void **state)
{
	size_t n;
	uint8_t *pem;

	(void)state;
	assert_eml_ok(eml_mem_init());
	pem = eml_test_read_file(eml_test_data("attestation/aws_nitro_root_g1.pem"), &n);
	assert_eml_ok(eml_attest_root_load(pem, n, &aws_root));
	eml_free(pem);
	doc = eml_calloc(1, sizeof(*doc));
	assert_non_null(doc);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	eml_attest_root_free(aws_root);
	eml_free(doc);
	return 0;
}

static void
permissive(void)
{
	eml_attest_policy_init(&pol);
	pol.allow_debug = true;
}

static eml_err
verify_at_doc(const uint8_t *p, size_t n)
{
	return eml_attest_verify(p, n, aws_root, EML_ATTEST_AT_DOC, 0, &pol, doc);
}

/* The root shipped in the repo is the AWS root (README: SHA-256 of its DER). */
static void
shipped_root_is_aws(void **state)
{
	struct eml_attest_root *r = NULL;
	uint8_t *pem;
	size_t n;
	uint8_t h[32];
	char hex[65];

	(void)state;
	pem = eml_test_read_file(AWS_ROOT_REPO, &n);
	assert_eml_ok(eml_attest_root_load(pem, n, &r));
	eml_attest_root_sha256(r, h);
	eml_hex_encode(hex, h, 32);
	assert_string_equal(hex, "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b");
	eml_attest_root_free(r);
	eml_free(pem);
}

static void
root_load_rejects_junk(void **state)
{
	struct eml_attest_root *r = NULL;
	static const uint8_t junk[] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
	uint8_t *leafdoc;
	size_t n;

	(void)state;
	assert_eml(eml_attest_root_load(junk, sizeof(junk) - 1, &r), EML_ERR_ATTEST_ROOT);
	assert_eml(eml_attest_root_load((const uint8_t *)"x", 1, &r), EML_ERR_ATTEST_ROOT);
	assert_null(r);
	/* A leaf certificate is not a trust root. */
	leafdoc = load_doc(1, &n);
	assert_eml_ok(eml_attest_doc_parse(leafdoc, n, doc));
	assert_eml(eml_attest_root_load(doc->certificate, doc->certificate_len, &r),
	    EML_ERR_ATTEST_ROOT);
	/* An intermediate CA is not self-issued. */
	assert_eml(eml_attest_root_load(doc->cabundle[1], doc->cabundle_len[1], &r),
	    EML_ERR_ATTEST_ROOT);
	eml_free(leafdoc);
}

/* Every genuine enclave document verifies at its own time, and its fields
 * match the independent description in docNN.json. */
static void
real_docs_verify_at_own_time(void **state)
{
	(void)state;
	for (unsigned i = 1; i <= NDOCS; i++) {
		size_t n;
		uint8_t *p = load_doc(i, &n);
		json_t *j = load_json(i);
		const char *enc;

		permissive();
		eml_err rc = verify_at_doc(p, n);
		if (rc != EML_OK)
			fail_msg("doc%02u: %s: %s", i, eml_err_name(rc), eml_err_detail());
		assert_string_equal(doc->module_id, json_string_value(json_object_get(j, "module_id")));
		assert_true(doc->timestamp_ms ==
		    (uint64_t)json_integer_value(json_object_get(j, "timestamp_ms")));
		assert_int_equal(doc->pcr_count,
		    (size_t)json_integer_value(json_object_get(j, "pcr_count")));
		enc = json_string_value(json_object_get(j, "payload_map_encoding"));
		assert_int_equal(doc->indefinite_map, strncmp(enc, "indefinite", 10) == 0);
		assert_int_equal(eml_attest_doc_is_debug(doc),
		    json_is_true(json_object_get(j, "debug_mode_enclave")));
		assert_int_equal(doc->cabundle_count,
		    (size_t)json_integer_value(json_object_get(j, "cabundle_count")));
		{
			json_t *pk = json_object_get(j, "public_key_len");
			json_t *ud = json_object_get(j, "user_data_len");
			json_t *nc = json_object_get(j, "nonce_len");

			assert_int_equal(doc->public_key.present, !json_is_null(pk));
			assert_int_equal(doc->user_data.present, !json_is_null(ud));
			assert_int_equal(doc->nonce.present, !json_is_null(nc));
			if (!json_is_null(pk))
				assert_int_equal(doc->public_key.len, (size_t)json_integer_value(pk));
			if (!json_is_null(ud))
				assert_int_equal(doc->user_data.len, (size_t)json_integer_value(ud));
			if (!json_is_null(nc))
				assert_int_equal(doc->nonce.len, (size_t)json_integer_value(nc));
		}
		json_decref(j);
		eml_free(p);
	}
}

/* Leaf certificates live about three hours: now, every one is expired. */
static void
real_docs_expired_now(void **state)
{
	(void)state;
	for (unsigned i = 1; i <= NDOCS; i++) {
		size_t n;
		uint8_t *p = load_doc(i, &n);

		permissive();
		assert_eml(eml_attest_verify(p, n, aws_root, EML_ATTEST_AT_NOW, 0, &pol, doc),
		    EML_ERR_ATTEST_CHAIN_EXPIRED);
		eml_free(p);
	}
}

/* Before the leaf's notBefore (2 h 17 min before doc02's time, NOTES §2.3)
 * the chain is not yet valid. */
static void
real_doc_not_yet_valid(void **state)
{
	size_t n;
	uint8_t *p = load_doc(2, &n);
	int64_t t;

	(void)state;
	permissive();
	assert_eml_ok(eml_attest_doc_parse(p, n, doc));
	t = (int64_t)(doc->timestamp_ms / 1000) - 3 * 3600;
	assert_eml(eml_attest_verify(p, n, aws_root, EML_ATTEST_AT_GIVEN, t, &pol, doc),
	    EML_ERR_ATTEST_CHAIN_NOT_YET_VALID);
	eml_free(p);
}

/* doc02, doc06, doc09 are debug enclaves (all-zero PCR0-2). */
static void
debug_docs_refused_by_default(void **state)
{
	(void)state;
	for (unsigned i = 1; i <= NDOCS; i++) {
		size_t n;
		uint8_t *p = load_doc(i, &n);
		bool dbg = i == 2 || i == 6 || i == 9;

		eml_attest_policy_init(&pol);
		assert_eml(verify_at_doc(p, n), dbg ? EML_ERR_ATTEST_DEBUG : EML_OK);
		eml_free(p);
	}
}

static void
nitrotpm_doc16_rejected(void **state)
{
	size_t n;
	uint8_t *p = eml_test_read_file(eml_test_data("attestation/doc16.cbor"), &n);

	(void)state;
	permissive();
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_NITROTPM);
	eml_free(p);
}

/* found_negatives.json says why each is bad; the code must say the same. */
static void
found_negatives_rejected(void **state)
{
	static const struct {
		const char *file;
		eml_err want;
	} cases[] = {
		/* "payload altered after signing; COSE signature fails" */
		{ "found_neg_eternis_invalid_attestation.cbor", EML_ERR_ATTEST_SIG_INVALID },
		/* "signed by a non-AWS CA (cabundle has 1 cert, not the AWS root)" */
		{ "found_neg_marlin_custom_root.cbor", EML_ERR_ATTEST_UNTRUSTED_ROOT },
		/* "unprotected header is CBOR null, cabundle null, ..." */
		{ "found_neg_blocky_selfsigned.cbor", EML_ERR_ATTEST_COSE_STRUCT },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char rel[128];
		size_t n;
		uint8_t *p;

		(void)snprintf(rel, sizeof(rel), "attestation/%s", cases[i].file);
		p = eml_test_read_file(eml_test_data(rel), &n);
		permissive();
		assert_eml(verify_at_doc(p, n), cases[i].want);
		eml_free(p);
	}
}

/* The encoder writes a payload byte-for-byte as the NSM does: re-encoding
 * each parsed real payload gives back the signed bytes. */
static void
encoder_matches_nsm_bytes(void **state)
{
	(void)state;
	for (unsigned i = 1; i <= NDOCS; i++) {
		size_t n;
		uint8_t *p = load_doc(i, &n);
		struct eml_buf b;

		eml_buf_init(&b, EML_ATTEST_PAYLOAD_MAX);
		assert_eml_ok(eml_attest_doc_parse(p, n, doc));
		assert_eml_ok(eml_attest_payload_encode(doc, doc->indefinite_map, &b));
		assert_int_equal(b.len, doc->payload_len);
		assert_memory_equal(b.data, doc->payload, b.len);
		eml_buf_free(&b);
		eml_free(p);
	}
}

/* ------------------------------------------------------------ tampering */

static uint8_t *
copy_of(const uint8_t *p, size_t n, size_t extra)
{
	uint8_t *q = eml_alloc(n + extra);

	assert_non_null(q);
	memcpy(q, p, n);
	return q;
}

static size_t
find(const uint8_t *hay, size_t hn, const uint8_t *needle, size_t nn)
{
	for (size_t i = 0; i + nn <= hn; i++) {
		if (memcmp(hay + i, needle, nn) == 0)
			return i;
	}
	fail_msg("pattern not found");
	return 0;
}

static void
flipped_bits(void **state)
{
	size_t n;
	uint8_t *orig = load_doc(5, &n);
	uint8_t *p;
	size_t off;

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(orig, n, doc));

	/* A bit inside PCR0's value in the payload: parses, signature fails. */
	p = copy_of(orig, n, 0);
	off = find(p, n, doc->pcr[0], 48);
	p[off + 7] ^= 0x10;
	permissive();
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_SIG_INVALID);
	memcpy(p, orig, n);
	/* A bit in the timestamp (module_id, digest keys precede it). */
	off = find(p, n, (const uint8_t *)"timestamp", 9) + 9 + 1;
	p[off + 7] ^= 0x01;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_SIG_INVALID);

	/* Protected header a1 01 38 22 at offset 2: -35 -> -36 (ES512). */
	memcpy(p, orig, n);
	assert_int_equal(p[5], 0x22);
	p[5] ^= 0x01;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_COSE_ALG);
	/* label 1 -> 3 (content type): no alg left. */
	memcpy(p, orig, n);
	p[3] ^= 0x02;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_COSE_HEADER);

	/* Last byte of s, and first byte of r. */
	memcpy(p, orig, n);
	p[n - 1] ^= 0x01;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_SIG_INVALID);
	memcpy(p, orig, n);
	p[n - 96] ^= 0x80;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_SIG_INVALID);
	eml_free(p);
	eml_free(orig);
}

static void
truncation_and_trailing(void **state)
{
	size_t n;
	uint8_t *orig = load_doc(14, &n);
	uint8_t *p = copy_of(orig, n, 1);

	(void)state;
	/* Every proper prefix is rejected as malformed CBOR. */
	for (size_t k = 0; k < n; k++)
		assert_eml(eml_attest_doc_parse(p, k, doc), EML_ERR_ATTEST_CBOR);
	p[n] = 0x00;
	assert_eml(eml_attest_doc_parse(p, n + 1, doc), EML_ERR_ATTEST_TRAILING);
	permissive();
	assert_eml(verify_at_doc(p, n + 1), EML_ERR_ATTEST_TRAILING);
	eml_free(p);
	eml_free(orig);
}

static void
tag18_accepted_other_tags_not(void **state)
{
	size_t n;
	uint8_t *orig = load_doc(14, &n);
	uint8_t *p = eml_alloc(n + 1);

	(void)state;
	p[0] = 0xd2; /* tag 18 */
	memcpy(p + 1, orig, n);
	permissive();
	assert_eml_ok(verify_at_doc(p, n + 1));
	assert_true(doc->tagged);
	p[0] = 0xd1; /* tag 17: COSE_Mac0 */
	assert_eml(verify_at_doc(p, n + 1), EML_ERR_ATTEST_COSE_STRUCT);
	eml_free(p);
	/* The same tag in its two-byte form, and tag 18 twice. */
	p = eml_alloc(n + 2);
	p[0] = 0xd8;
	p[1] = 0x12;
	memcpy(p + 2, orig, n);
	assert_eml_ok(verify_at_doc(p, n + 2));
	p[0] = 0xd2;
	p[1] = 0xd2;
	assert_eml(verify_at_doc(p, n + 2), EML_ERR_ATTEST_COSE_STRUCT);
	eml_free(p);
	eml_free(orig);
}

static EVP_PKEY *
p384(void)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");

	assert_non_null(k);
	return k;
}

/* COSE_Sign1 from doc's fields, signed by key under protected header
 * prot (NULL: the Nitro one). */
static uint8_t *
forge(const struct eml_attest_doc *d, EVP_PKEY *key, const uint8_t *prot, size_t plen, size_t *n)
{
	struct eml_buf payload;
	struct eml_buf out;

	eml_buf_init(&payload, EML_ATTEST_PAYLOAD_MAX);
	eml_buf_init(&out, EML_ATTEST_DOC_MAX);
	assert_eml_ok(eml_attest_payload_encode(d, d->indefinite_map, &payload));
	assert_eml_ok(eml_attest_cose_sign(payload.data, payload.len, prot, plen, false, key, &out));
	eml_buf_free(&payload);
	*n = out.len;
	return out.data; /* the caller frees with eml_free */
}

/* ES256 named in an otherwise valid, validly signed header. */
static void
es256_header_refused(void **state)
{
	static const uint8_t es256[] = { 0xa1, 0x01, 0x26 };
	static const uint8_t crit[] = { 0xa2, 0x01, 0x38, 0x22, 0x02, 0x81, 0x01 };
	size_t n;
	uint8_t *orig = load_doc(5, &n);
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	EVP_PKEY *k = p384();
	uint8_t *p;
	size_t pn;

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	permissive();
	p = forge(d, k, es256, sizeof(es256), &pn);
	assert_eml(verify_at_doc(p, pn), EML_ERR_ATTEST_COSE_ALG);
	eml_free(p);
	p = forge(d, k, crit, sizeof(crit), &pn);
	assert_eml(verify_at_doc(p, pn), EML_ERR_ATTEST_COSE_CRIT);
	eml_free(p);
	EVP_PKEY_free(k);
	eml_free(d);
	eml_free(orig);
}

/* Rebuild the envelope around the genuine payload with a signature of
 * another length, or a non-empty unprotected header. */
static void
signature_length_and_unprotected(void **state)
{
	size_t n;
	uint8_t *orig = load_doc(5, &n);
	static const uint8_t prot[] = { 0xa1, 0x01, 0x38, 0x22 };
	struct eml_buf b;
	size_t lens[] = { 95, 97, 64, 0 };

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(orig, n, doc));
	permissive();
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));

		assert_eml_ok(eml_attest_doc_parse(orig, n, d));
		eml_buf_init(&b, EML_ATTEST_DOC_MAX);
		assert_eml_ok(eml_cbor_put_head(&b, EML_CBOR_ARRAY, 4));
		assert_eml_ok(eml_cbor_put_bytes(&b, prot, sizeof(prot)));
		assert_eml_ok(eml_cbor_put_head(&b, EML_CBOR_MAP, 0));
		assert_eml_ok(eml_cbor_put_bytes(&b, d->payload, d->payload_len));
		assert_eml_ok(eml_cbor_put_bytes(&b, d->signature, lens[i]));
		assert_eml(verify_at_doc(b.data, b.len), EML_ERR_ATTEST_SIG_LENGTH);
		eml_buf_free(&b);
		eml_free(d);
	}
	/* Unprotected {4: h'00'} (kid), then {2: [1]} (crit). */
	{
		static const uint8_t kid[] = { 0xa1, 0x04, 0x41, 0x00 };
		static const uint8_t crit[] = { 0xa1, 0x02, 0x81, 0x01 };
		const uint8_t *hs[] = { kid, crit };
		eml_err want[] = { EML_ERR_ATTEST_COSE_HEADER, EML_ERR_ATTEST_COSE_CRIT };

		for (size_t i = 0; i < 2; i++) {
			eml_buf_init(&b, EML_ATTEST_DOC_MAX);
			assert_eml_ok(eml_cbor_put_head(&b, EML_CBOR_ARRAY, 4));
			assert_eml_ok(eml_cbor_put_bytes(&b, prot, sizeof(prot)));
			assert_eml_ok(eml_buf_append(&b, hs[i], 4));
			assert_eml_ok(eml_cbor_put_bytes(&b, doc->payload, doc->payload_len));
			assert_eml_ok(eml_cbor_put_bytes(&b, doc->signature, 96));
			assert_eml(verify_at_doc(b.data, b.len), want[i]);
			eml_buf_free(&b);
		}
	}
	eml_free(orig);
}

/* A certificate with the given subject and issuer names. */
static X509 *
cert(const X509_NAME *subject, const X509_NAME *issuer, EVP_PKEY *key, EVP_PKEY *signer,
    int64_t nb, bool ca)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *e;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
	assert_non_null(ASN1_TIME_set(X509_getm_notBefore(x), (time_t)nb));
	assert_non_null(ASN1_TIME_set(X509_getm_notAfter(x), (time_t)(nb + 30 * 86400)));
	assert_int_equal(X509_set_subject_name(x, subject), 1);
	assert_int_equal(X509_set_issuer_name(x, issuer), 1);
	assert_int_equal(X509_set_pubkey(x, key), 1);
	X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
	    ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	e = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
	    ca ? "critical,keyCertSign,digitalSignature" : "digitalSignature");
	X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	assert_true(X509_sign(x, signer, EVP_sha384()) > 0);
	return x;
}

static void
der_into(X509 *x, uint8_t *dst, size_t *len)
{
	unsigned char *q = dst;
	int n = i2d_X509(x, NULL);

	assert_true(n > 0 && n <= EML_ATTEST_CERT_MAX);
	assert_int_equal(i2d_X509(x, &q), n);
	*len = (size_t)n;
}

static X509 *
x509_of(const uint8_t *p, size_t n)
{
	const unsigned char *q = p;
	X509 *x = d2i_X509(NULL, &q, (long)n);

	assert_non_null(x);
	return x;
}

/* A whole chain made by an attacker whose root copies the AWS root's
 * name: rejected whether the bundle carries the forged root or the
 * genuine one. */
static void
forged_chain_with_aws_root_name(void **state)
{
	size_t n;
	uint8_t *orig = load_doc(5, &n);
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	X509 *aws;
	X509 *chain[5] = { 0 };
	EVP_PKEY *keys[5];
	int64_t t;
	uint8_t *p;
	size_t pn;

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	t = (int64_t)(d->timestamp_ms / 1000) - 86400;
	aws = x509_of(d->cabundle[0], d->cabundle_len[0]);
	for (int i = 0; i < 5; i++)
		keys[i] = p384();
	/* chain[0] forged root (AWS name), 1..3 copies of the genuine
	 * intermediates' names, 4 the leaf. */
	chain[0] = cert(X509_get_subject_name(aws), X509_get_subject_name(aws), keys[0], keys[0], t, true);
	for (int i = 1; i < 4; i++) {
		X509 *g = x509_of(d->cabundle[i], d->cabundle_len[i]);

		chain[i] = cert(X509_get_subject_name(g), X509_get_subject_name(chain[i - 1]), keys[i],
		    keys[i - 1], t, true);
		X509_free(g);
	}
	{
		X509 *g = x509_of(d->certificate, d->certificate_len);

		chain[4] = cert(X509_get_subject_name(g), X509_get_subject_name(chain[3]), keys[4],
		    keys[3], t, false);
		X509_free(g);
	}
	for (int i = 0; i < 4; i++)
		der_into(chain[i], d->cabundle[i], &d->cabundle_len[i]);
	der_into(chain[4], d->certificate, &d->certificate_len);
	permissive();
	p = forge(d, keys[4], NULL, 0, &pn);
	/* The signature is valid under the forged leaf; only the chain fails. */
	assert_eml_ok(eml_attest_doc_parse(p, pn, doc));
	assert_eml_ok(eml_attest_sig_verify(doc));
	assert_eml(verify_at_doc(p, pn), EML_ERR_ATTEST_UNTRUSTED_ROOT);
	eml_free(p);
	/* Same forgery, but the bundle shows the genuine root bytes: the
	 * forged regional certificate does not verify under the AWS key. */
	der_into(aws, d->cabundle[0], &d->cabundle_len[0]);
	p = forge(d, keys[4], NULL, 0, &pn);
	assert_eml(verify_at_doc(p, pn), EML_ERR_ATTEST_CHAIN_SIG);
	eml_free(p);
	for (int i = 0; i < 5; i++) {
		X509_free(chain[i]);
		EVP_PKEY_free(keys[i]);
	}
	X509_free(aws);
	eml_free(d);
	eml_free(orig);
}

/* The attacker's leaf over d's: named like the genuine leaf, claiming the
 * genuine instance CA (the bundle's last) as issuer, holding key, signed
 * by signer, valid from an hour before the document. */
static void
forged_leaf_into(struct eml_attest_doc *d, EVP_PKEY *key, EVP_PKEY *signer)
{
	X509 *inst = x509_of(d->cabundle[d->cabundle_count - 1],
	    d->cabundle_len[d->cabundle_count - 1]);
	X509 *g = x509_of(d->certificate, d->certificate_len);
	X509 *leaf = cert(X509_get_subject_name(g), X509_get_subject_name(inst), key, signer,
	    (int64_t)(d->timestamp_ms / 1000) - 3600, false);

	der_into(leaf, d->certificate, &d->certificate_len);
	X509_free(leaf);
	X509_free(g);
	X509_free(inst);
}

/* The attacker's own leaf, named like an AWS leaf and claiming the
 * genuine instance CA as issuer, on the genuine cabundle. */
static void
attacker_leaf_on_genuine_bundle(void **state)
{
	size_t n;
	uint8_t *orig = load_doc(14, &n);
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	EVP_PKEY *k = p384();
	uint8_t *p;
	size_t pn;

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	forged_leaf_into(d, k, k);
	p = forge(d, k, NULL, 0, &pn);
	permissive();
	assert_eml(verify_at_doc(p, pn), EML_ERR_ATTEST_CHAIN_SIG);
	eml_free(p);
	/* Keeping the genuine leaf but signing with the attacker key: the
	 * COSE signature fails first. */
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(verify_at_doc(p, pn), EML_ERR_ATTEST_SIG_INVALID);
	eml_free(p);
	EVP_PKEY_free(k);
	eml_free(d);
	eml_free(orig);
}

/* The signature and the chain are checked at once on two threads; what
 * is reported is what the sequential order reports: a bad signature over
 * a bad chain says "signature" (its detail and where), and a bad
 * signature over a good chain leaves the intermediate cache empty (the
 * chain's verification is not taken as done). */
static void
signature_reported_before_chain(void **state)
{
	size_t n, pn, entries = 9;
	uint8_t *orig = load_doc(14, &n), *p;
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	struct eml_attest_cache *cache = NULL;
	struct eml_attest_timing tm;
	EVP_PKEY *k = p384(), *k2 = p384();

	(void)state;
	permissive();
	assert_eml_ok(eml_attest_cache_new(&cache));
	/* genuine bundle and leaf, signed by another key */
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(eml_attest_verify_ex(p, pn, aws_root, EML_ATTEST_AT_DOC, 0, &pol, cache, &tm,
	    doc), EML_ERR_ATTEST_SIG_INVALID);
	assert_non_null(strstr(eml_err_detail(), "ES384"));
	assert_non_null(strstr(eml_err_where(), "eml_attest_sig_verify"));
	eml_attest_cache_stats(cache, &entries, NULL, NULL);
	assert_int_equal(entries, 0);
	assert_false(tm.chain_cached);
	assert_int_equal(tm.chain_us, 0);
	eml_free(p);
	/* the attacker's leaf (chain: CHAIN_SIG) and a signature by yet
	 * another key: the signature is what is reported */
	forged_leaf_into(d, k, k);
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(verify_at_doc(p, pn), EML_ERR_ATTEST_CHAIN_SIG);
	eml_free(p);
	p = forge(d, k2, NULL, 0, &pn);
	assert_eml(verify_at_doc(p, pn), EML_ERR_ATTEST_SIG_INVALID);
	assert_non_null(strstr(eml_err_detail(), "ES384"));
	/* and a good one fills the cache as before */
	assert_eml_ok(eml_attest_verify_ex(orig, n, aws_root, EML_ATTEST_AT_DOC, 0, &pol, cache,
	    &tm, doc));
	eml_attest_cache_stats(cache, &entries, NULL, NULL);
	assert_int_equal(entries, doc->cabundle_count - 1);
	assert_true(tm.auth_us > 0);
	eml_free(p);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	eml_attest_cache_free(cache);
	eml_free(d);
	eml_free(orig);
}

/* The signature goes to the process's verifier thread (or is taken back
 * by the caller when that thread has not started it): jobs from several
 * threads at once, on one shared intermediate cache, each get their own
 * verdict: the genuine document passes, the same bytes signed by another
 * key fail on the signature, an attacker's leaf on the cached genuine
 * bundle fails on the chain, in any interleaving. */
#define CV_THREADS 4
#define CV_ROUNDS 6

struct cv_arg {
	const uint8_t *doc[3];
	size_t len[3];
	struct eml_attest_cache *cache;
	eml_err got[CV_ROUNDS * 3];
	bool sig_in_detail[CV_ROUNDS * 3];
	unsigned first;
};

static void *
cv_main(void *p)
{
	struct cv_arg *a = p;
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	struct eml_attest_timing tm;

	for (unsigned i = 0; d != NULL && i < CV_ROUNDS * 3; i++) {
		unsigned k = (a->first + i) % 3;

		a->got[i] = eml_attest_verify_ex(a->doc[k], a->len[k], aws_root, EML_ATTEST_AT_DOC,
		    0, &pol, a->cache, &tm, d);
		a->sig_in_detail[i] = strstr(eml_err_detail(), "ES384") != NULL;
	}
	eml_free(d);
	return NULL;
}

static void
concurrent_verdicts(void **state)
{
	static const eml_err want[3] = { EML_OK, EML_ERR_ATTEST_SIG_INVALID,
		EML_ERR_ATTEST_CHAIN_SIG };
	struct cv_arg *args = eml_calloc(CV_THREADS, sizeof(*args));
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	struct eml_attest_cache *cache = NULL;
	pthread_t th[CV_THREADS];
	size_t n, bad_sig_n, bad_leaf_n;
	uint8_t *orig = load_doc(14, &n), *bad_sig, *bad_leaf;
	EVP_PKEY *k = p384(), *k2 = p384();

	(void)state;
	permissive();
	assert_eml_ok(eml_attest_cache_new(&cache));
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	bad_sig = forge(d, k, NULL, 0, &bad_sig_n); /* genuine leaf, other key */
	forged_leaf_into(d, k2, k2);
	bad_leaf = forge(d, k2, NULL, 0, &bad_leaf_n); /* signature good, chain not */
	/* the genuine bundle cached first: the bad leaf meets the cached path */
	assert_eml_ok(eml_attest_verify_ex(orig, n, aws_root, EML_ATTEST_AT_DOC, 0, &pol, cache,
	    NULL, d));
	for (unsigned t = 0; t < CV_THREADS; t++) {
		args[t].doc[0] = orig;
		args[t].len[0] = n;
		args[t].doc[1] = bad_sig;
		args[t].len[1] = bad_sig_n;
		args[t].doc[2] = bad_leaf;
		args[t].len[2] = bad_leaf_n;
		args[t].cache = cache;
		args[t].first = t % 3;
		assert_int_equal(pthread_create(&th[t], NULL, cv_main, &args[t]), 0);
	}
	for (unsigned t = 0; t < CV_THREADS; t++)
		assert_int_equal(pthread_join(th[t], NULL), 0);
	for (unsigned t = 0; t < CV_THREADS; t++) {
		for (unsigned i = 0; i < CV_ROUNDS * 3; i++) {
			unsigned kind = (args[t].first + i) % 3;

			assert_int_equal(args[t].got[i], want[kind]);
			/* the signature's own detail with its verdict only */
			assert_true(args[t].sig_in_detail[i] == (kind == 1));
		}
	}
	EVP_PKEY_free(k);
	EVP_PKEY_free(k2);
	eml_free(bad_sig);
	eml_free(bad_leaf);
	eml_free(orig);
	eml_free(d);
	eml_free(args);
	eml_attest_cache_free(cache);
}

/* The genuine document under another root (the simulator's). */
static void
genuine_doc_under_other_root(void **state)
{
	struct eml_attest_sim *sim = NULL;
	struct eml_attest_root *r = NULL;
	struct eml_buf pem;
	size_t n;
	uint8_t *p = load_doc(1, &n);

	(void)state;
	eml_buf_init(&pem, 16384);
	assert_eml_ok(eml_attest_sim_open(NULL, NULL, &sim));
	assert_eml_ok(eml_attest_sim_root_pem(sim, &pem));
	assert_eml_ok(eml_attest_root_load(pem.data, pem.len, &r));
	permissive();
	assert_eml(eml_attest_verify(p, n, r, EML_ATTEST_AT_DOC, 0, &pol, doc),
	    EML_ERR_ATTEST_UNTRUSTED_ROOT);
	eml_attest_root_free(r);
	eml_attest_sim_free(sim);
	eml_buf_free(&pem);
	eml_free(p);
}

/* docs/ATTESTATION.md, "Intermediate cache": a second verification of a
 * genuine document skips the intermediates' signatures only; an attacker's
 * leaf on the genuine (cached) bundle is still refused on that path, a
 * different root never hits, a verification instant outside the cached
 * validity falls back to the full path and its error. */
static void
intermediate_cache(void **state)
{
	struct eml_attest_cache *cache = NULL;
	struct eml_attest_timing tm;
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	size_t n, pn, entries = 0;
	uint64_t hits = 0, misses = 0;
	uint8_t *orig = load_doc(14, &n), *p;
	EVP_PKEY *k = p384();

	(void)state;
	assert_eml_ok(eml_attest_cache_new(&cache));
	permissive();
	assert_eml_ok(eml_attest_verify_ex(orig, n, aws_root, EML_ATTEST_AT_DOC, 0, &pol, cache,
	    &tm, doc));
	assert_false(tm.chain_cached);
	eml_attest_cache_stats(cache, &entries, &hits, &misses);
	assert_int_equal(entries, doc->cabundle_count - 1); /* intermediates only */
	assert_eml_ok(eml_attest_verify_ex(orig, n, aws_root, EML_ATTEST_AT_DOC, 0, &pol, cache,
	    &tm, doc));
	assert_true(tm.chain_cached);
	/* Another genuine document of the same instance: same intermediates. */
	{
		size_t n13;
		uint8_t *d13 = load_doc(13, &n13);

		assert_eml_ok(eml_attest_doc_parse(d13, n13, d));
		if (d->cabundle_len[d->cabundle_count - 1] == doc->cabundle_len[doc->cabundle_count - 1])
			assert_eml_ok(eml_attest_verify_ex(d13, n13, aws_root, EML_ATTEST_AT_DOC, 0,
			    &pol, cache, &tm, doc));
		eml_free(d13);
	}
	/* The attacker's leaf claiming the genuine instance CA, on the
	 * genuine bundle: the cached path verifies the leaf by its issuer. */
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	forged_leaf_into(d, k, k);
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(eml_attest_verify_ex(p, pn, aws_root, EML_ATTEST_AT_DOC, 0, &pol, cache, &tm,
	    doc), EML_ERR_ATTEST_CHAIN_SIG);
	assert_true(tm.chain_cached);
	eml_free(p);
	/* Now: the cached validity does not cover it; the full path says
	 * expired, as without a cache. */
	assert_eml(eml_attest_verify_ex(orig, n, aws_root, EML_ATTEST_AT_NOW, 0, &pol, cache, &tm,
	    doc), EML_ERR_ATTEST_CHAIN_EXPIRED);
	assert_false(tm.chain_cached);
	/* Another root: no hit, refused. */
	{
		struct eml_attest_sim *sim = NULL;
		struct eml_attest_root *r = NULL;
		struct eml_buf pem;

		eml_buf_init(&pem, 16384);
		assert_eml_ok(eml_attest_sim_open(NULL, NULL, &sim));
		assert_eml_ok(eml_attest_sim_root_pem(sim, &pem));
		assert_eml_ok(eml_attest_root_load(pem.data, pem.len, &r));
		assert_eml(eml_attest_verify_ex(orig, n, r, EML_ATTEST_AT_DOC, 0, &pol, cache, &tm,
		    doc), EML_ERR_ATTEST_UNTRUSTED_ROOT);
		assert_false(tm.chain_cached);
		eml_attest_root_free(r);
		eml_attest_sim_free(sim);
		eml_buf_free(&pem);
	}
	/* Bounded: the least recently used entries go. */
	for (unsigned i = 0; i < 2 * EML_ATTEST_CACHE_MAX; i++) {
		uint8_t h[EML_ATTEST_SHA384_LEN] = { (uint8_t)i, 1 };

		eml_attest_cache_put(cache, h, h, h, 0, 1);
	}
	eml_attest_cache_stats(cache, &entries, NULL, NULL);
	assert_int_equal(entries, EML_ATTEST_CACHE_MAX);
	assert_eml_ok(eml_attest_verify_ex(orig, n, aws_root, EML_ATTEST_AT_DOC, 0, &pol, cache,
	    &tm, doc));
	assert_false(tm.chain_cached); /* evicted, verified in full again */
	EVP_PKEY_free(k);
	eml_attest_cache_free(cache);
	eml_free(d);
	eml_free(orig);
}

/* PCR values from doc01.json (an independent decoding). */
static void
policy_mismatches(void **state)
{
	size_t n;
	uint8_t *p = load_doc(1, &n);
	json_t *j = load_json(1);
	json_t *pcrs = json_object_get(j, "pcrs_hex (0,1,2,8 and every non-zero)");
	const char *k;
	json_t *v;

	(void)state;
	assert_non_null(pcrs);
	eml_attest_policy_init(&pol);
	json_object_foreach(pcrs, k, v) {
		unsigned idx = (unsigned)atoi(k);

		assert_eml_ok(eml_hex_decode(pol.pcr[idx], 48, json_string_value(v)));
		pol.pcr_len[idx] = 48;
		pol.pcr_mask |= 1u << idx;
	}
	assert_eml_ok(verify_at_doc(p, n));
	/* One bit off in PCR2. */
	pol.pcr[2][47] ^= 1;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_PCR_MISMATCH);
	assert_non_null(strstr(eml_err_detail(), "PCR2: expected"));
	pol.pcr[2][47] ^= 1;
	/* A PCR the document does not have (doc01 has 16). */
	pol.pcr_mask |= 1u << 20;
	pol.pcr_len[20] = 48;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_PCR_MISSING);
	pol.pcr_mask &= ~(1u << 20);
	/* A 32-byte expectation against a 48-byte PCR. */
	pol.pcr_len[4] = 32;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_PCR_MISMATCH);
	pol.pcr_len[4] = 48;
	/* doc01 has null nonce, user_data and public_key. */
	pol.nonce_set = true;
	pol.nonce_len = 32;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_NONCE);
	pol.nonce_set = false;
	pol.user_data_set = true;
	pol.user_data_len = 32;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_USER_DATA);
	pol.user_data_set = false;
	pol.require_public_key = true;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_PUBLIC_KEY);
	json_decref(j);
	eml_free(p);
}

/* doc10 carries 1024-byte nonce, user_data and public_key; doc02 an empty
 * public_key. */
static void
nonce_user_data_public_key(void **state)
{
	size_t n;
	uint8_t *p = load_doc(10, &n);
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(p, n, d));
	eml_attest_policy_init(&pol);
	pol.nonce_set = pol.user_data_set = pol.require_public_key = true;
	pol.nonce_len = d->nonce.len;
	memcpy(pol.nonce, d->nonce.data, d->nonce.len);
	pol.user_data_len = d->user_data.len;
	memcpy(pol.user_data, d->user_data.data, d->user_data.len);
	assert_eml_ok(verify_at_doc(p, n));
	pol.nonce[1023] ^= 0x80;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_NONCE);
	pol.nonce[1023] ^= 0x80;
	pol.nonce_len = 1023; /* a prefix is not a match */
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_NONCE);
	pol.nonce_len = 1024;
	pol.user_data[0] ^= 1;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_USER_DATA);
	eml_free(p);
	p = load_doc(2, &n);
	eml_attest_policy_init(&pol);
	pol.allow_debug = true;
	pol.require_public_key = true;
	assert_eml(verify_at_doc(p, n), EML_ERR_ATTEST_PUBLIC_KEY);
	eml_free(p);
	eml_free(d);
}

static void
age_and_future(void **state)
{
	size_t n;
	uint8_t *p = load_doc(2, &n);
	int64_t t;

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(p, n, doc));
	t = (int64_t)(doc->timestamp_ms / 1000);
	permissive();
	pol.max_age_ms = 600 * 1000;
	assert_eml_ok(eml_attest_verify(p, n, aws_root, EML_ATTEST_AT_GIVEN, t + 599, &pol, doc));
	assert_eml(eml_attest_verify(p, n, aws_root, EML_ATTEST_AT_GIVEN, t + 1000, &pol, doc),
	    EML_ERR_ATTEST_TOO_OLD);
	/* 40 minutes before its own timestamp, the leaf is already valid. */
	assert_eml(eml_attest_verify(p, n, aws_root, EML_ATTEST_AT_GIVEN, t - 2400, &pol, doc),
	    EML_ERR_ATTEST_FUTURE);
	eml_free(p);
}

/* ------------------------------------------------------- malformed CBOR */

static eml_err
parse_bytes(const uint8_t *p, size_t n)
{
	return eml_attest_doc_parse(p, n, doc);
}

static void
malformed_envelopes(void **state)
{
	/* Each claims more than it has, nests too deep, or is the wrong shape. */
	static const uint8_t huge_array[] = { 0x9b, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
	static const uint8_t huge_map[] = { 0xbb, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t huge_bstr[] = { 0x5b, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00 };
	static const uint8_t deep[] = { 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x81, 0x00 };
	static const uint8_t indef_bstr[] = { 0x84, 0x5f, 0x41, 0x00, 0xff, 0xa0, 0x41, 0x00, 0x41, 0x00 };
	static const uint8_t three[] = { 0x83, 0x40, 0xa0, 0x40 };
	static const uint8_t five[] = { 0x85, 0x40, 0xa0, 0x40, 0x40, 0x40 };
	static const uint8_t not_array[] = { 0xa0 };
	static const uint8_t stray_break[] = { 0xff };
	static const uint8_t reserved[] = { 0x1c };
	static const uint8_t indef_array[] = { 0x9f, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x41, 0x00,
		0x40, 0xff };
	static const uint8_t null_payload[] = { 0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0xf6, 0x40 };
	static const uint8_t prot_map[] = { 0x84, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x41, 0x00, 0x40 };
	uint8_t *big;

	(void)state;
	assert_eml(parse_bytes(huge_array, sizeof(huge_array)), EML_ERR_ATTEST_CBOR);
	assert_eml(parse_bytes(huge_map, sizeof(huge_map)), EML_ERR_ATTEST_CBOR);
	assert_eml(parse_bytes(huge_bstr, sizeof(huge_bstr)), EML_ERR_ATTEST_CBOR);
	assert_eml(parse_bytes(deep, sizeof(deep)), EML_ERR_ATTEST_CBOR);
	assert_eml(parse_bytes(indef_bstr, sizeof(indef_bstr)), EML_ERR_ATTEST_CBOR);
	assert_eml(parse_bytes(stray_break, sizeof(stray_break)), EML_ERR_ATTEST_CBOR);
	assert_eml(parse_bytes(reserved, sizeof(reserved)), EML_ERR_ATTEST_CBOR);
	assert_eml(parse_bytes(three, sizeof(three)), EML_ERR_ATTEST_COSE_STRUCT);
	assert_eml(parse_bytes(five, sizeof(five)), EML_ERR_ATTEST_COSE_STRUCT);
	assert_eml(parse_bytes(not_array, sizeof(not_array)), EML_ERR_ATTEST_COSE_STRUCT);
	assert_eml(parse_bytes(indef_array, sizeof(indef_array)), EML_ERR_ATTEST_COSE_STRUCT);
	assert_eml(parse_bytes(null_payload, sizeof(null_payload)), EML_ERR_ATTEST_COSE_STRUCT);
	assert_eml(parse_bytes(prot_map, sizeof(prot_map)), EML_ERR_ATTEST_COSE_STRUCT);
	big = eml_calloc(1, EML_ATTEST_DOC_MAX + 1);
	assert_eml(parse_bytes(big, EML_ATTEST_DOC_MAX + 1), EML_ERR_ATTEST_TOO_LARGE);
	eml_free(big);
	assert_eml(parse_bytes(NULL, 0), EML_ERR_ATTEST_CBOR);
}

/* Payload maps built by hand around doc05's fields: duplicate, unknown,
 * missing and mistyped keys. The envelope is signed by an unrelated key:
 * the parser runs before any signature check. */
static void
payload_field_errors(void **state)
{
	size_t n;
	uint8_t *orig = load_doc(5, &n);
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	EVP_PKEY *k = p384();
	struct eml_buf pl;
	struct eml_buf out;
	struct {
		const char *extra_key;
		int extra_kind; /* 0 text "SHA384", 1 uint 5, 2 null */
		eml_err want;
	} cases[] = {
		{ "digest", 0, EML_ERR_ATTEST_DUP_KEY },
		{ "nonce", 2, EML_ERR_ATTEST_DUP_KEY },
		{ "favourite_colour", 0, EML_ERR_ATTEST_FIELD_UNKNOWN },
		{ "nitrotpm_pcrs", 2, EML_ERR_ATTEST_NITROTPM },
	};

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		eml_buf_init(&pl, EML_ATTEST_PAYLOAD_MAX);
		eml_buf_init(&out, EML_ATTEST_DOC_MAX);
		d->indefinite_map = true;
		assert_eml_ok(eml_attest_payload_encode(d, true, &pl));
		pl.len--; /* drop the break, add one more pair, close again */
		assert_eml_ok(eml_cbor_put_text(&pl, cases[i].extra_key));
		if (cases[i].extra_kind == 0)
			assert_eml_ok(eml_cbor_put_text(&pl, "SHA384"));
		else if (cases[i].extra_kind == 1)
			assert_eml_ok(eml_cbor_put_head(&pl, EML_CBOR_UINT, 5));
		else
			assert_eml_ok(eml_cbor_put_simple(&pl, 0xf6));
		assert_eml_ok(eml_cbor_put_simple(&pl, 0xff));
		assert_eml_ok(eml_attest_cose_sign(pl.data, pl.len, NULL, 0, false, k, &out));
		assert_eml(parse_bytes(out.data, out.len), cases[i].want);
		eml_buf_free(&pl);
		eml_buf_free(&out);
	}
	eml_free(orig);
	eml_free(d);
	EVP_PKEY_free(k);
}

/* Field values out of range, through the encoder. */
static void
payload_value_errors(void **state)
{
	size_t n;
	uint8_t *orig = load_doc(5, &n);
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	EVP_PKEY *k = p384();
	uint8_t *p;
	size_t pn;

	(void)state;
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	d->pcr_len[3] = 47;
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(parse_bytes(p, pn), EML_ERR_ATTEST_FIELD_RANGE);
	eml_free(p);
	d->pcr_len[3] = 48;
	d->pcr_present = 0;
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(parse_bytes(p, pn), EML_ERR_ATTEST_FIELD_RANGE);
	eml_free(p);
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	d->timestamp_ms = 0;
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(parse_bytes(p, pn), EML_ERR_ATTEST_FIELD_RANGE);
	eml_free(p);
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	d->module_id[0] = '\0';
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(parse_bytes(p, pn), EML_ERR_ATTEST_FIELD_RANGE);
	eml_free(p);
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	d->cabundle_count = 0;
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(parse_bytes(p, pn), EML_ERR_ATTEST_FIELD_RANGE);
	eml_free(p);
	assert_eml_ok(eml_attest_doc_parse(orig, n, d));
	d->certificate_len = 0;
	p = forge(d, k, NULL, 0, &pn);
	assert_eml(parse_bytes(p, pn), EML_ERR_ATTEST_FIELD_RANGE);
	eml_free(p);
	/* digest "SHA256": swap the text in the encoded payload. */
	{
		struct eml_buf pl;
		struct eml_buf out;
		size_t off;

		assert_eml_ok(eml_attest_doc_parse(orig, n, d));
		eml_buf_init(&pl, EML_ATTEST_PAYLOAD_MAX);
		eml_buf_init(&out, EML_ATTEST_DOC_MAX);
		assert_eml_ok(eml_attest_payload_encode(d, false, &pl));
		off = find(pl.data, pl.len, (const uint8_t *)"SHA384", 6);
		memcpy(pl.data + off, "SHA256", 6);
		assert_eml_ok(eml_attest_cose_sign(pl.data, pl.len, NULL, 0, false, k, &out));
		assert_eml(parse_bytes(out.data, out.len), EML_ERR_ATTEST_DIGEST);
		eml_buf_free(&pl);
		eml_buf_free(&out);
	}
	eml_free(orig);
	eml_free(d);
	EVP_PKEY_free(k);
}

/* eml_attest_sig_raw: r||s as COSE has them, each left-padded to 48
 * bytes; a value over 48 bytes is refused, not cut. */
static void
sig_raw_pads_and_bounds(void **state)
{
	uint8_t big[49], sig[EML_ATTEST_SIG_LEN], want[EML_ATTEST_SIG_LEN];
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_new(), *s = BN_new();

	(void)state;
	assert_non_null(es);
	assert_true(BN_set_word(r, 0x0102) == 1);
	memset(big, 0xa5, sizeof(big));
	assert_non_null(BN_bin2bn(big, 48, s));
	assert_true(ECDSA_SIG_set0(es, r, s) == 1);
	memset(want, 0, sizeof(want));
	want[46] = 0x01;
	want[47] = 0x02;
	memset(want + 48, 0xa5, 48);
	memset(sig, 0xee, sizeof(sig));
	assert_eml_ok(eml_attest_sig_raw(es, sig));
	assert_memory_equal(sig, want, sizeof(want));
	/* s of 49 bytes */
	r = BN_new();
	s = BN_bin2bn(big, sizeof(big), NULL);
	assert_non_null(r);
	assert_non_null(s);
	assert_true(BN_set_word(r, 7) == 1);
	assert_true(ECDSA_SIG_set0(es, r, s) == 1);
	assert_eml(eml_attest_sig_raw(es, sig), EML_ERR_CRYPTO);
	assert_eml(eml_attest_sig_raw(NULL, sig), EML_ERR_NULL);
	ECDSA_SIG_free(es);
}

/* eml_attest_verify_ex parses the leaf once for both threads: a leaf
 * that does not parse, or holds a key other than P-384, is reported as
 * the signature's step reports it (code, detail, where), with the chain
 * not run and nothing cached, with and without a cache; the document
 * verifies again right after (the shared leaf is not left behind). */
static void
leaf_errors_with_one_parse(void **state)
{
	size_t n, pn, entries = 9;
	uint8_t *orig = load_doc(14, &n), *p;
	struct eml_attest_doc *d = eml_calloc(1, sizeof(*d));
	struct eml_attest_cache *cache = NULL;
	struct eml_attest_timing tm;
	EVP_PKEY *k = p384(), *k256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");

	(void)state;
	assert_non_null(k256);
	permissive();
	assert_eml_ok(eml_attest_cache_new(&cache));
	for (int c = 0; c < 2; c++) {
		struct eml_attest_cache *use = c ? cache : NULL;

		assert_eml_ok(eml_attest_doc_parse(orig, n, d));
		memset(d->certificate + 8, 0x5a, 24); /* not DER any more */
		p = forge(d, k, NULL, 0, &pn);
		assert_eml(eml_attest_verify_ex(p, pn, aws_root, EML_ATTEST_AT_DOC, 0, &pol, use,
		    &tm, doc), EML_ERR_ATTEST_CERT_PARSE);
		assert_non_null(strstr(eml_err_detail(), "leaf certificate does not parse"));
		assert_int_equal(tm.chain_us, 0);
		eml_free(p);
		/* a P-256 leaf under the genuine issuer */
		assert_eml_ok(eml_attest_doc_parse(orig, n, d));
		forged_leaf_into(d, k256, k);
		p = forge(d, k, NULL, 0, &pn);
		assert_eml(eml_attest_verify_ex(p, pn, aws_root, EML_ATTEST_AT_DOC, 0, &pol, use,
		    &tm, doc), EML_ERR_ATTEST_CERT_KEY);
		assert_non_null(strstr(eml_err_detail(), "P-384"));
		assert_non_null(strstr(eml_err_where(), "leaf_key"));
		assert_int_equal(tm.chain_us, 0);
		eml_attest_cache_stats(cache, &entries, NULL, NULL);
		assert_int_equal(entries, 0);
		eml_free(p);
		assert_eml_ok(eml_attest_verify_ex(orig, n, aws_root, EML_ATTEST_AT_DOC, 0, &pol,
		    use, &tm, doc));
		assert_true(tm.sig_us > 0);
	}
	eml_attest_cache_stats(cache, &entries, NULL, NULL);
	assert_int_equal(entries, doc->cabundle_count - 1);
	eml_attest_cache_free(cache);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k256);
	eml_free(d);
	eml_free(orig);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sig_raw_pads_and_bounds),
		cmocka_unit_test(shipped_root_is_aws),
		cmocka_unit_test(root_load_rejects_junk),
		cmocka_unit_test(real_docs_verify_at_own_time),
		cmocka_unit_test(real_docs_expired_now),
		cmocka_unit_test(real_doc_not_yet_valid),
		cmocka_unit_test(debug_docs_refused_by_default),
		cmocka_unit_test(nitrotpm_doc16_rejected),
		cmocka_unit_test(found_negatives_rejected),
		cmocka_unit_test(encoder_matches_nsm_bytes),
		cmocka_unit_test(flipped_bits),
		cmocka_unit_test(truncation_and_trailing),
		cmocka_unit_test(tag18_accepted_other_tags_not),
		cmocka_unit_test(es256_header_refused),
		cmocka_unit_test(signature_length_and_unprotected),
		cmocka_unit_test(forged_chain_with_aws_root_name),
		cmocka_unit_test(attacker_leaf_on_genuine_bundle),
		cmocka_unit_test(signature_reported_before_chain),
		cmocka_unit_test(concurrent_verdicts),
		cmocka_unit_test(leaf_errors_with_one_parse),
		cmocka_unit_test(genuine_doc_under_other_root),
		cmocka_unit_test(policy_mismatches),
		cmocka_unit_test(nonce_user_data_public_key),
		cmocka_unit_test(age_and_future),
		cmocka_unit_test(malformed_envelopes),
		cmocka_unit_test(payload_field_errors),
		cmocka_unit_test(payload_value_errors),
		cmocka_unit_test(intermediate_cache),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
