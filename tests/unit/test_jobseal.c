/*
 * One-shot job seals (common/eml_jobseal.c, docs/PROTOCOL.md section 6):
 * round trips, and every way the host could alter, redirect or replay a
 * sealed job or result ends in a refusal.
 */
#include "eml_test.h"

#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "eml_buf.h"
#include "eml_jobseal.h"
#include "eml_mem.h"

static uint8_t zero[32];

static void
keys(uint8_t pk[32], uint8_t sk[32])
{
	assert_eml_ok(eml_jobseal_keypair(pk, sk));
}

static void
round_trip_and_binding(void **state)
{
	uint8_t pk[32], sk[32], pk2[32], sk2[32], id[16], id2[16], bind[32], got[16];
	uint8_t msg[1000];
	uint64_t seed = eml_test_seed();
	struct eml_buf ct, ct2, pt;

	(void)state;
	assert_eml_ok(eml_mem_init());
	keys(pk, sk);
	keys(pk2, sk2);
	eml_test_fill(&seed, id, sizeof(id));
	eml_test_fill(&seed, msg, sizeof(msg));
	eml_buf_init(&ct, 1 << 20);
	eml_buf_init(&ct2, 1 << 20);
	eml_buf_init_secure(&pt, 1 << 20);
	assert_eml_ok(eml_jobseal_seal(EML_JOBSEAL_JOB, id, pk, zero, msg, sizeof(msg), &ct));
	assert_int_equal(ct.len, sizeof(msg) + EML_JOBSEAL_OVERHEAD);
	/* The plaintext does not appear in the sealed bytes. */
	assert_null(memmem(ct.data, ct.len, msg, 16));
	assert_eml_ok(eml_jobseal_peek(ct.data, ct.len, got));
	assert_memory_equal(got, id, 16);
	assert_eml_ok(eml_jobseal_open(EML_JOBSEAL_JOB, id, sk, pk, zero, ct.data, ct.len, &pt));
	assert_int_equal(pt.len, sizeof(msg));
	assert_memory_equal(pt.data, msg, sizeof(msg));
	/* Two seals of the same message differ (fresh ephemeral key). */
	assert_eml_ok(eml_jobseal_seal(EML_JOBSEAL_JOB, id, pk, zero, msg, sizeof(msg), &ct2));
	assert_true(memcmp(ct.data, ct2.data, ct.len) != 0);
	/* Another recipient: refused before any crypto (header names pk). */
	eml_buf_reset(&pt);
	assert_eml(eml_jobseal_open(EML_JOBSEAL_JOB, id, sk2, pk2, zero, ct.data, ct.len, &pt),
	    EML_ERR_JOB_SEAL);
	/* Another job id expected. */
	memcpy(id2, id, 16);
	id2[3] ^= 1;
	assert_eml(eml_jobseal_open(EML_JOBSEAL_JOB, id2, sk, pk, zero, ct.data, ct.len, &pt),
	    EML_ERR_JOB_SEAL);
	/* A job opened as a result, a result as a job. */
	assert_eml(eml_jobseal_open(EML_JOBSEAL_RESULT, id, sk, pk, zero, ct.data, ct.len, &pt),
	    EML_ERR_JOB_SEAL);
	/* Another binding (a result presented for another job). */
	memset(bind, 0x5a, sizeof(bind));
	eml_buf_reset(&ct2);
	assert_eml_ok(eml_jobseal_seal(EML_JOBSEAL_RESULT, id, pk, bind, msg, 10, &ct2));
	assert_eml(eml_jobseal_open(EML_JOBSEAL_RESULT, id, sk, pk, zero, ct2.data, ct2.len, &pt),
	    EML_ERR_CRYPTO_AUTH);
	assert_int_equal(pt.len, 0);
	assert_eml_ok(eml_jobseal_open(EML_JOBSEAL_RESULT, id, sk, pk, bind, ct2.data, ct2.len,
	    &pt));
	assert_int_equal(pt.len, 10);
	eml_buf_free(&ct);
	eml_buf_free(&ct2);
	eml_buf_free(&pt);
}

static void
every_byte_is_authenticated(void **state)
{
	uint8_t pk[32], sk[32], id[16] = { 1, 2, 3 };
	uint8_t msg[64] = { 7 };
	struct eml_buf ct, pt;

	(void)state;
	keys(pk, sk);
	eml_buf_init(&ct, 4096);
	eml_buf_init_secure(&pt, 4096);
	assert_eml_ok(eml_jobseal_seal(EML_JOBSEAL_JOB, id, pk, zero, msg, sizeof(msg), &ct));
	for (size_t i = 0; i < ct.len; i++) {
		for (unsigned bit = 0; bit < 8; bit += 3) {
			eml_err rc;

			ct.data[i] ^= (uint8_t)(1u << bit);
			eml_buf_reset(&pt);
			/* With the expected id taken from the (altered) header,
			 * as the agent does: still refused. */
			rc = eml_jobseal_open(EML_JOBSEAL_JOB, NULL, sk, pk, zero, ct.data, ct.len, &pt);
			assert_true(rc == EML_ERR_JOB_SEAL || rc == EML_ERR_CRYPTO_AUTH);
			assert_int_equal(pt.len, 0);
			ct.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	/* Truncated anywhere, or with bytes appended. */
	for (size_t n = 0; n < ct.len; n++) {
		eml_buf_reset(&pt);
		assert_true(eml_jobseal_open(EML_JOBSEAL_JOB, id, sk, pk, zero, ct.data, n, &pt) !=
		    EML_OK);
	}
	assert_eml(eml_jobseal_peek(ct.data, 10, id), EML_ERR_JOB_SEAL);
	assert_eml(eml_jobseal_peek(NULL, 0, id), EML_ERR_JOB_SEAL);
	eml_buf_free(&ct);
	eml_buf_free(&pt);
}

static void
low_order_keys_refused(void **state)
{
	uint8_t id[16] = { 0 }, msg[4] = { 0 };
	uint8_t lo[32] = { 0 }; /* the identity point */
	struct eml_buf ct;

	(void)state;
	eml_buf_init(&ct, 4096);
	assert_eml(eml_jobseal_seal(EML_JOBSEAL_JOB, id, lo, zero, msg, sizeof(msg), &ct),
	    EML_ERR_CRYPTO_KEY);
	assert_int_equal(ct.len, 0);
	eml_buf_free(&ct);
}

/* docs/PROTOCOL.md section 6, written again with OpenSSL only: open what
 * eml_jobseal_seal produced, from the description, not from the code. */
static void
construction_matches_spec(void **state)
{
	uint8_t pk[32], sk[32], id[16] = { 9, 8, 7 }, bind[32];
	const char msg[] = "job plaintext for the spec check";
	const char domain[] = "EphemeralML job seal v1";
	const char info[] = "eml job key";
	struct eml_buf ct;
	EVP_PKEY *me, *peer;
	EVP_PKEY_CTX *dctx;
	EVP_CIPHER_CTX *cc;
	uint8_t z[32], th[32], prk[32], key[32], nonce[12] = { 0 }, out[64], expand[16];
	size_t zl = sizeof(z);
	unsigned int hl = 0;
	int ol = 0, fl = 0;
	EVP_MD_CTX *sh;
	const uint8_t zero_byte = 0;

	(void)state;
	keys(pk, sk);
	memset(bind, 0xa7, sizeof(bind));
	eml_buf_init(&ct, 4096);
	assert_eml_ok(eml_jobseal_seal(EML_JOBSEAL_RESULT, id, pk, bind, (const uint8_t *)msg,
	    sizeof(msg), &ct));
	assert_memory_equal(ct.data, "EMR1", 4);
	assert_memory_equal(ct.data + 4, id, 16);
	assert_memory_equal(ct.data + 52, pk, 32);
	me = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, sk, 32);
	peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, ct.data + 20, 32);
	assert_non_null(me);
	assert_non_null(peer);
	dctx = EVP_PKEY_CTX_new(me, NULL);
	assert_int_equal(EVP_PKEY_derive_init(dctx), 1);
	assert_int_equal(EVP_PKEY_derive_set_peer(dctx, peer), 1);
	assert_int_equal(EVP_PKEY_derive(dctx, z, &zl), 1);
	sh = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestInit_ex(sh, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(sh, domain, strlen(domain)), 1);
	assert_int_equal(EVP_DigestUpdate(sh, &zero_byte, 1), 1);
	assert_int_equal(EVP_DigestUpdate(sh, ct.data, 84), 1);
	assert_int_equal(EVP_DigestUpdate(sh, bind, 32), 1);
	assert_int_equal(EVP_DigestFinal_ex(sh, th, &hl), 1);
	EVP_MD_CTX_free(sh);
	assert_non_null(HMAC(EVP_sha256(), th, 32, z, 32, prk, &hl));
	memcpy(expand, info, strlen(info));
	expand[strlen(info)] = 1;
	assert_non_null(HMAC(EVP_sha256(), prk, 32, expand, strlen(info) + 1, key, &hl));
	cc = EVP_CIPHER_CTX_new();
	assert_int_equal(EVP_DecryptInit_ex(cc, EVP_chacha20_poly1305(), NULL, key, nonce), 1);
	assert_int_equal(EVP_DecryptUpdate(cc, NULL, &ol, th, 32), 1);
	assert_int_equal(EVP_DecryptUpdate(cc, out, &ol, ct.data + 84, (int)(ct.len - 84 - 16)), 1);
	assert_int_equal(EVP_CIPHER_CTX_ctrl(cc, EVP_CTRL_AEAD_SET_TAG, 16,
	    ct.data + ct.len - 16), 1);
	assert_int_equal(EVP_DecryptFinal_ex(cc, out + ol, &fl), 1);
	assert_int_equal(ol + fl, (int)sizeof(msg));
	assert_memory_equal(out, msg, sizeof(msg));
	EVP_CIPHER_CTX_free(cc);
	EVP_PKEY_CTX_free(dctx);
	EVP_PKEY_free(me);
	EVP_PKEY_free(peer);
	eml_buf_free(&ct);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_and_binding),
		cmocka_unit_test(every_byte_is_authenticated),
		cmocka_unit_test(low_order_keys_refused),
		cmocka_unit_test(construction_matches_spec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
