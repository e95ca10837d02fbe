/* Publisher signatures: Ed25519 (eml keys gen) and RSA PKCS#1 v1.5
 * SHA-256 the way AWS KMS produces them; file format; trust decisions. */
#include "eml_test.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "model/eml_sign.h"

static uint8_t cid[32];
static uint8_t tdig[32];

struct pem_pair {
	struct eml_buf priv;
	struct eml_buf pub;
};

static void
pem_pair_free(struct pem_pair *k)
{
	eml_buf_free(&k->priv);
	eml_buf_free(&k->pub);
}

static void
bio_append(BIO *b, struct eml_buf *out)
{
	char *p = NULL;
	long n = BIO_get_mem_data(b, &p);

	assert_true(n > 0);
	assert_eml_ok(eml_buf_append(out, p, (size_t)n));
}

/* An RSA key pair made with OpenSSL, as a test would get from KMS. */
static EVP_PKEY *
rsa_new(int bits, struct pem_pair *k)
{
	EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)bits);
	BIO *b1 = BIO_new(BIO_s_mem());
	BIO *b2 = BIO_new(BIO_s_mem());

	assert_non_null(pk);
	assert_int_equal(PEM_write_bio_PrivateKey(b1, pk, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(PEM_write_bio_PUBKEY(b2, pk), 1);
	eml_buf_init(&k->priv, 1 << 16);
	eml_buf_init(&k->pub, 1 << 16);
	bio_append(b1, &k->priv);
	bio_append(b2, &k->pub);
	BIO_free(b1);
	BIO_free(b2);
	return pk;
}

static void
ed_new(struct pem_pair *k)
{
	eml_buf_init_secure(&k->priv, 1 << 16);
	eml_buf_init(&k->pub, 1 << 16);
	assert_eml_ok(eml_sign_keygen_ed25519(&k->priv, &k->pub));
}

static void
sign_with(const struct pem_pair *k, struct eml_buf *sig)
{
	struct eml_sign_key *sk = NULL;

	assert_eml_ok(eml_sign_key_load_pem(k->priv.data, k->priv.len, &sk));
	eml_buf_init(sig, 4096);
	assert_eml_ok(eml_sign_model(sk, cid, tdig, sig));
	eml_sign_key_free(sk);
}

static struct eml_trust *
trust_of(const struct pem_pair *k)
{
	struct eml_trust *t = eml_trust_new();

	assert_non_null(t);
	if (k != NULL)
		assert_eml_ok(eml_trust_add_pem(t, k->pub.data, k->pub.len));
	return t;
}

static int
setup(void **state)
{
	(void)state;
	for (int i = 0; i < 32; i++) {
		cid[i] = (uint8_t)i;
		tdig[i] = (uint8_t)(0xa0 + i);
	}
	return 0;
}

static void
ed25519_round_trip(void **state)
{
	struct pem_pair k;
	struct pem_pair other;
	struct eml_buf sig;
	struct eml_trust *t;
	struct eml_trust *t2;
	uint8_t who[32];
	uint8_t id[32];
	struct eml_sig s;

	(void)state;
	ed_new(&k);
	ed_new(&other);
	assert_non_null(memmem(k.priv.data, k.priv.len, "BEGIN PRIVATE KEY", 17));
	assert_non_null(memmem(k.pub.data, k.pub.len, "BEGIN PUBLIC KEY", 16));
	sign_with(&k, &sig);
	/* 6 + 1 + 1 + 32 + 2 + 0 + 2 + 64 */
	assert_int_equal(sig.len, 108);
	assert_eml_ok(eml_sig_parse(sig.data, sig.len, &s));
	assert_int_equal(s.alg, EML_SIG_ED25519);
	/* the Ed25519 key id is the raw public key: the last 32 bytes of
	 * its 44-byte SubjectPublicKeyInfo */
	{
		BIO *b = BIO_new_mem_buf(k.pub.data, (int)k.pub.len);
		EVP_PKEY *pk = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
		unsigned char *der = NULL;
		int n = i2d_PUBKEY(pk, &der);

		assert_int_equal(n, 44);
		assert_memory_equal(s.key_id, der + 12, 32);
		OPENSSL_free(der);
		EVP_PKEY_free(pk);
		BIO_free(b);
	}
	assert_eml_ok(eml_sign_pem_key_id(k.pub.data, k.pub.len, id));
	assert_memory_equal(id, s.key_id, 32);
	/* the signature is plain Ed25519 over content id || topology digest */
	{
		uint8_t msg[64];

		memcpy(msg, cid, 32);
		memcpy(msg + 32, tdig, 32);
		assert_int_equal(crypto_sign_verify_detached(s.sig, msg, 64, s.key_id), 0);
	}
	t = trust_of(&k);
	assert_eml_ok(eml_sig_verify(t, sig.data, sig.len, cid, tdig, who));
	assert_memory_equal(who, id, 32);
	/* trusted by id alone, as the agent policy lists it */
	t2 = trust_of(NULL);
	assert_eml_ok(eml_trust_add_id(t2, id));
	assert_eml_ok(eml_sig_verify(t2, sig.data, sig.len, cid, tdig, NULL));
	eml_trust_free(t2);
	/* other message parts */
	cid[0] ^= 1;
	assert_eml(eml_sig_verify(t, sig.data, sig.len, cid, tdig, NULL), EML_ERR_SIG_BAD);
	cid[0] ^= 1;
	tdig[31] ^= 0x80;
	assert_eml(eml_sig_verify(t, sig.data, sig.len, cid, tdig, NULL), EML_ERR_SIG_BAD);
	tdig[31] ^= 0x80;
	/* untrusted signer */
	t2 = trust_of(&other);
	assert_eml(eml_sig_verify(t2, sig.data, sig.len, cid, tdig, NULL), EML_ERR_SIG_UNTRUSTED);
	eml_trust_free(t2);
	t2 = trust_of(NULL);
	assert_eml(eml_sig_verify(t2, sig.data, sig.len, cid, tdig, NULL), EML_ERR_SIG_UNTRUSTED);
	eml_trust_free(t2);
	/* every bit of the file: never accepted */
	for (size_t bit = 0; bit < sig.len * 8; bit++) {
		eml_err rc;

		sig.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		rc = eml_sig_verify(t, sig.data, sig.len, cid, tdig, NULL);
		sig.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		assert_true(rc == EML_ERR_SIG_FORMAT || rc == EML_ERR_SIG_BAD ||
		    rc == EML_ERR_SIG_UNTRUSTED || rc == EML_ERR_PROTO_TRUNCATED ||
		    rc == EML_ERR_PROTO_TRAILING);
	}
	assert_eml_ok(eml_sig_verify(t, sig.data, sig.len, cid, tdig, NULL));
	eml_trust_free(t);
	eml_buf_free(&sig);
	pem_pair_free(&k);
	pem_pair_free(&other);
}

static void
rsa_sizes(void **state)
{
	static const int sizes[] = { 2048, 3072 };

	(void)state;
	for (size_t i = 0; i < 2; i++) {
		struct pem_pair k;
		struct eml_buf sig;
		struct eml_trust *t;
		EVP_PKEY *pk = rsa_new(sizes[i], &k);
		struct eml_sig s;

		sign_with(&k, &sig);
		assert_eml_ok(eml_sig_parse(sig.data, sig.len, &s));
		assert_int_equal(s.alg, EML_SIG_RSA_PKCS1_SHA256);
		assert_int_equal(s.sig_len, (size_t)sizes[i] / 8);
		t = trust_of(&k);
		assert_eml_ok(eml_sig_verify(t, sig.data, sig.len, cid, tdig, NULL));
		/* a flipped signature bit */
		sig.data[sig.len - 5] ^= 4;
		assert_eml(eml_sig_verify(t, sig.data, sig.len, cid, tdig, NULL), EML_ERR_SIG_BAD);
		sig.data[sig.len - 5] ^= 4;
		/* a flipped bit in the carried public key: no longer the trusted id */
		sig.data[42 + 40] ^= 1;
		assert_eml(eml_sig_verify(t, sig.data, sig.len, cid, tdig, NULL), EML_ERR_SIG_BAD);
		sig.data[42 + 40] ^= 1;
		assert_eml_ok(eml_sig_verify(t, sig.data, sig.len, cid, tdig, NULL));
		eml_trust_free(t);
		eml_buf_free(&sig);
		EVP_PKEY_free(pk);
		pem_pair_free(&k);
	}
}

/*
 * What AWS KMS returns for Sign(SigningAlgorithm=RSASSA_PKCS1_V1_5_SHA_256,
 * MessageType=DIGEST, Message=SHA-256(M)): the raw PKCS#1 v1.5 signature of
 * the DigestInfo for that digest. Made here with the low-level EVP_PKEY_sign
 * on a precomputed digest, independently of eml_sign_model, then wrapped in
 * a model.sig by hand from the documented layout.
 */
static void
rsa_kms_form(void **state)
{
	struct pem_pair k;
	EVP_PKEY *pk;
	EVP_PKEY_CTX *ctx;
	uint8_t msg[64];
	uint8_t digest[32];
	uint8_t rsasig[512];
	size_t rsalen = sizeof(rsasig);
	unsigned char *der = NULL;
	int der_len;
	struct eml_buf file;
	struct eml_trust *t;

	(void)state;
	pk = rsa_new(3072, &k);
	memcpy(msg, cid, 32);
	memcpy(msg + 32, tdig, 32);
	crypto_hash_sha256(digest, msg, sizeof(msg));
	ctx = EVP_PKEY_CTX_new(pk, NULL);
	assert_non_null(ctx);
	assert_int_equal(EVP_PKEY_sign_init(ctx), 1);
	assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING), 1);
	assert_int_equal(EVP_PKEY_CTX_set_signature_md(ctx, EVP_sha256()), 1);
	assert_int_equal(EVP_PKEY_sign(ctx, rsasig, &rsalen, digest, sizeof(digest)), 1);
	assert_int_equal(rsalen, 384);
	EVP_PKEY_CTX_free(ctx);
	der_len = i2d_PUBKEY(pk, &der);
	assert_true(der_len > 0);
	eml_buf_init(&file, 4096);
	assert_eml_ok(eml_buf_append(&file, "EMLSIG", 6));
	assert_eml_ok(eml_buf_append_u8(&file, 1));
	assert_eml_ok(eml_buf_append_u8(&file, 2));
	{
		uint8_t id[32];

		crypto_hash_sha256(id, der, (unsigned long long)der_len);
		assert_eml_ok(eml_buf_append(&file, id, 32));
	}
	assert_eml_ok(eml_buf_append_u8(&file, (uint8_t)(der_len >> 8)));
	assert_eml_ok(eml_buf_append_u8(&file, (uint8_t)der_len));
	assert_eml_ok(eml_buf_append(&file, der, (size_t)der_len));
	assert_eml_ok(eml_buf_append_u8(&file, (uint8_t)(rsalen >> 8)));
	assert_eml_ok(eml_buf_append_u8(&file, (uint8_t)rsalen));
	assert_eml_ok(eml_buf_append(&file, rsasig, rsalen));
	t = trust_of(&k);
	assert_eml_ok(eml_sig_verify(t, file.data, file.len, cid, tdig, NULL));
	/* the same signature does not verify another topology */
	tdig[0] ^= 1;
	assert_eml(eml_sig_verify(t, file.data, file.len, cid, tdig, NULL), EML_ERR_SIG_BAD);
	tdig[0] ^= 1;
	OPENSSL_free(der);
	eml_trust_free(t);
	eml_buf_free(&file);
	EVP_PKEY_free(pk);
	pem_pair_free(&k);
}

static void
refused_keys(void **state)
{
	struct pem_pair k;
	EVP_PKEY *pk;
	struct eml_sign_key *sk = NULL;
	struct eml_trust *t = trust_of(NULL);
	static const char junk[] = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";

	(void)state;
	pk = rsa_new(1024, &k);
	assert_eml(eml_sign_key_load_pem(k.priv.data, k.priv.len, &sk), EML_ERR_SIG_KEY);
	assert_null(sk);
	assert_eml(eml_trust_add_pem(t, k.pub.data, k.pub.len), EML_ERR_SIG_KEY);
	assert_eml(eml_trust_add_pem(t, (const uint8_t *)junk, sizeof(junk) - 1), EML_ERR_SIG_KEY);
	assert_eml(eml_sign_key_load_pem((const uint8_t *)junk, sizeof(junk) - 1, &sk),
	    EML_ERR_SIG_KEY);
	assert_int_equal(eml_trust_count(t), 0);
	EVP_PKEY_free(pk);
	pem_pair_free(&k);
	/* P-256 is neither Ed25519 nor RSA */
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	assert_non_null(pk);
	{
		BIO *b = BIO_new(BIO_s_mem());
		struct eml_buf pub;

		eml_buf_init(&pub, 4096);
		assert_int_equal(PEM_write_bio_PUBKEY(b, pk), 1);
		bio_append(b, &pub);
		assert_eml(eml_trust_add_pem(t, pub.data, pub.len), EML_ERR_SIG_KEY);
		BIO_free(b);
		eml_buf_free(&pub);
	}
	EVP_PKEY_free(pk);
	eml_trust_free(t);
}

static void
file_format_rejects(void **state)
{
	struct pem_pair k;
	struct eml_buf sig;
	struct eml_sig s;
	uint8_t *b;

	(void)state;
	ed_new(&k);
	sign_with(&k, &sig);
	for (size_t n = 0; n < sig.len; n++)
		assert_eml(eml_sig_parse(sig.data, n, &s), EML_ERR_PROTO_TRUNCATED);
	b = eml_alloc(sig.len + 1);
	assert_non_null(b);
	memcpy(b, sig.data, sig.len);
	b[sig.len] = 0;
	assert_eml(eml_sig_parse(b, sig.len + 1, &s), EML_ERR_PROTO_TRAILING);
	memcpy(b, sig.data, sig.len);
	b[0] = 'X';
	assert_eml(eml_sig_parse(b, sig.len, &s), EML_ERR_SIG_FORMAT);
	memcpy(b, sig.data, sig.len);
	b[6] = 2; /* version */
	assert_eml(eml_sig_parse(b, sig.len, &s), EML_ERR_SIG_FORMAT);
	memcpy(b, sig.data, sig.len);
	b[7] = 3; /* unknown algorithm */
	assert_eml(eml_sig_parse(b, sig.len, &s), EML_ERR_SIG_FORMAT);
	memcpy(b, sig.data, sig.len);
	b[7] = 2; /* RSA with no public key */
	assert_eml(eml_sig_parse(b, sig.len, &s), EML_ERR_SIG_FORMAT);
	memcpy(b, sig.data, sig.len);
	b[41] = 1; /* Ed25519 with a public key (length at 40-41) */
	assert_eml(eml_sig_parse(b, sig.len, &s), EML_ERR_SIG_FORMAT);
	memcpy(b, sig.data, sig.len);
	b[43] = 63; /* 63-byte Ed25519 signature (length at 42-43) */
	assert_eml(eml_sig_parse(b, sig.len, &s), EML_ERR_SIG_FORMAT);
	eml_free(b);
	eml_buf_free(&sig);
	pem_pair_free(&k);
}

/* ECDSA P-384 as AWS KMS signs (ECDSA_SHA_384, MessageType RAW: DER
 * signature over SHA-384 of M) with an OpenSSL-made key, wrapped from the
 * detached signature and the DER public key. */
static void
ecdsa_kms_form(void **state)
{
	EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
	EVP_PKEY *k256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t ecid[32], td[32], msg[EML_SIG_MSG_LEN], sig[128], id[32];
	unsigned char *der = NULL, *der256 = NULL;
	size_t slen = sizeof(sig);
	int dlen, dlen256;
	struct eml_buf file;
	struct eml_trust *t = eml_trust_new();

	(void)state;
	assert_non_null(k);
	assert_non_null(k256);
	assert_non_null(t);
	memset(ecid, 0x5a, sizeof(ecid));
	memset(td, 0xa5, sizeof(td));
	eml_sig_message(ecid, td, msg);
	assert_int_equal(EVP_DigestSignInit(md, NULL, EVP_sha384(), NULL, k), 1);
	assert_int_equal(EVP_DigestSign(md, sig, &slen, msg, sizeof(msg)), 1);
	dlen = i2d_PUBKEY(k, &der);
	assert_true(dlen > 0);
	crypto_hash_sha256(id, der, (unsigned long long)dlen);
	assert_eml_ok(eml_trust_add_id(t, id));
	eml_buf_init(&file, 4096);
	assert_eml_ok(eml_sig_wrap(EML_SIG_ECDSA_P384_SHA384, der, (size_t)dlen, sig, slen, &file));
	assert_eml_ok(eml_sig_verify(t, file.data, file.len, ecid, td, NULL));
	/* another topology digest: not the signed message */
	td[0] ^= 1;
	assert_eml(eml_sig_verify(t, file.data, file.len, ecid, td, NULL), EML_ERR_SIG_BAD);
	td[0] ^= 1;
	/* the wrong algorithm for the key, a P-256 key, a truncated signature */
	eml_buf_reset(&file);
	assert_eml(eml_sig_wrap(EML_SIG_RSA_PKCS1_SHA256, der, (size_t)dlen, sig, slen, &file),
	    EML_ERR_SIG_KEY);
	dlen256 = i2d_PUBKEY(k256, &der256);
	assert_true(dlen256 > 0);
	assert_eml(eml_sig_wrap(EML_SIG_ECDSA_P384_SHA384, der256, (size_t)dlen256, sig, slen,
	    &file), EML_ERR_SIG_KEY);
	assert_eml(eml_sig_wrap(EML_SIG_ECDSA_P384_SHA384, der, (size_t)dlen, sig, 4, &file),
	    EML_ERR_SIG_FORMAT);
	eml_err_clear_detail();
	eml_buf_free(&file);
	OPENSSL_free(der);
	OPENSSL_free(der256);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(k);
	EVP_PKEY_free(k256);
	eml_trust_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(ed25519_round_trip),
		cmocka_unit_test(rsa_sizes),
		cmocka_unit_test(rsa_kms_form),
		cmocka_unit_test(ecdsa_kms_form),
		cmocka_unit_test(refused_keys),
		cmocka_unit_test(file_format_rejects),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, setup, NULL);
}
