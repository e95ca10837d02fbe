/* One-shot job seals (eml_jobseal.h, docs/PROTOCOL.md section 6). */
#include <string.h>

#include <sodium.h>

#include "eml_jobseal.h"
#include "eml_mem.h"

#define DOMAIN "EphemeralML job seal v1"
#define INFO_KEY "eml job key"

_Static_assert(EML_JOBSEAL_KEY_LEN == crypto_scalarmult_BYTES, "x25519 size");

static const uint8_t magic_job[4] = { 'E', 'M', 'J', '1' };
static const uint8_t magic_result[4] = { 'E', 'M', 'R', '1' };

static const uint8_t *
magic_of(enum eml_jobseal_kind kind)
{
	return kind == EML_JOBSEAL_RESULT ? magic_result : magic_job;
}

/* th = SHA-256(DOMAIN || 0x00 || header || bind); key = HKDF-SHA256
 * extract (salt th, ikm dh) then expand one block with INFO_KEY. */
static void
derive(const uint8_t hdr[EML_JOBSEAL_HDR_LEN], const uint8_t bind[32],
    const uint8_t dh[crypto_scalarmult_BYTES], uint8_t th[32], uint8_t key[32])
{
	crypto_hash_sha256_state hs;
	crypto_auth_hmacsha256_state ms;
	uint8_t prk[32];
	const uint8_t zero = 0, one = 1;

	crypto_hash_sha256_init(&hs);
	crypto_hash_sha256_update(&hs, (const uint8_t *)DOMAIN, sizeof(DOMAIN) - 1);
	crypto_hash_sha256_update(&hs, &zero, 1);
	crypto_hash_sha256_update(&hs, hdr, EML_JOBSEAL_HDR_LEN);
	crypto_hash_sha256_update(&hs, bind, 32);
	crypto_hash_sha256_final(&hs, th);
	crypto_auth_hmacsha256_init(&ms, th, 32);
	crypto_auth_hmacsha256_update(&ms, dh, crypto_scalarmult_BYTES);
	crypto_auth_hmacsha256_final(&ms, prk);
	crypto_auth_hmacsha256_init(&ms, prk, sizeof(prk));
	crypto_auth_hmacsha256_update(&ms, (const uint8_t *)INFO_KEY, sizeof(INFO_KEY) - 1);
	crypto_auth_hmacsha256_update(&ms, &one, 1);
	crypto_auth_hmacsha256_final(&ms, key);
	sodium_memzero(prk, sizeof(prk));
	sodium_memzero(&ms, sizeof(ms));
}

eml_err
eml_jobseal_keypair(uint8_t pk[EML_JOBSEAL_KEY_LEN], uint8_t sk[EML_JOBSEAL_KEY_LEN])
{
	EML_ENSURE(pk != NULL && sk != NULL, EML_ERR_NULL);
	randombytes_buf(sk, EML_JOBSEAL_KEY_LEN);
	if (crypto_scalarmult_base(pk, sk) != 0) {
		sodium_memzero(sk, EML_JOBSEAL_KEY_LEN);
		EML_BAIL(EML_ERR_CRYPTO_KEY);
	}
	return EML_OK;
}

eml_err
eml_jobseal_public(const uint8_t sk[EML_JOBSEAL_KEY_LEN], uint8_t pk[EML_JOBSEAL_KEY_LEN])
{
	EML_ENSURE(pk != NULL && sk != NULL, EML_ERR_NULL);
	EML_ENSURE(crypto_scalarmult_base(pk, sk) == 0, EML_ERR_CRYPTO_KEY);
	return EML_OK;
}

eml_err
eml_jobseal_seal(enum eml_jobseal_kind kind, const uint8_t job_id[EML_JOB_ID_LEN],
    const uint8_t pk_r[EML_JOBSEAL_KEY_LEN], const uint8_t bind[32], const uint8_t *pt,
    size_t n, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t sk_e[32], dh[32], th[32], key[32];
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
	uint8_t *w = NULL;
	unsigned long long clen = 0;
	size_t total;

	EML_ENSURE(job_id != NULL && pk_r != NULL && bind != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(pt != NULL || n == 0, EML_ERR_NULL);
	EML_ENSURE(!eml_add_overflow(n, (size_t)EML_JOBSEAL_OVERHEAD, &total), EML_ERR_OVERFLOW);
	if ((rc = eml_buf_extend(out, total, &w)) != EML_OK)
		goto out;
	EML_MEMCPY(w, magic_of(kind), 4);
	EML_MEMCPY(w + 4, job_id, EML_JOB_ID_LEN);
	/* enc = pk_e, written straight into the header. */
	if ((rc = eml_jobseal_keypair(w + 4 + EML_JOB_ID_LEN, sk_e)) != EML_OK)
		goto out;
	EML_MEMCPY(w + 4 + EML_JOB_ID_LEN + 32, pk_r, 32);
	if (crypto_scalarmult(dh, sk_e, pk_r) != 0) {
		/* A low-order recipient key: no shared secret. */
		eml_err_set_detail("recipient key is of low order");
		EML_FAIL(rc, EML_ERR_CRYPTO_KEY);
	}
	derive(w, bind, dh, th, key);
	/* The key is used for this one message: a zero nonce is safe. */
	memset(nonce, 0, sizeof(nonce));
	if (crypto_aead_chacha20poly1305_ietf_encrypt(w + EML_JOBSEAL_HDR_LEN, &clen, pt, n, th,
	    sizeof(th), NULL, nonce, key) != 0 || clen != (unsigned long long)n + 16u)
		EML_FAIL(rc, EML_ERR_CRYPTO);
	rc = EML_OK;
out:
	if (rc != EML_OK && w != NULL)
		out->len -= total;
	sodium_memzero(sk_e, sizeof(sk_e));
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(key, sizeof(key));
	return rc;
}

eml_err
eml_jobseal_open(enum eml_jobseal_kind kind, const uint8_t *job_id,
    const uint8_t sk_r[EML_JOBSEAL_KEY_LEN], const uint8_t pk_r[EML_JOBSEAL_KEY_LEN],
    const uint8_t bind[32], const uint8_t *sealed, size_t n, struct eml_buf *pt)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t dh[32], th[32], key[32];
	uint8_t nonce[crypto_aead_chacha20poly1305_ietf_NPUBBYTES];
	uint8_t *w = NULL;
	unsigned long long mlen = 0;
	size_t plen;

	EML_ENSURE(sk_r != NULL && pk_r != NULL && bind != NULL && pt != NULL, EML_ERR_NULL);
	if (sealed == NULL || n < EML_JOBSEAL_OVERHEAD || memcmp(sealed, magic_of(kind), 4) != 0) {
		eml_err_set_detail("not a sealed %s (%zu bytes)",
		    kind == EML_JOBSEAL_RESULT ? "result" : "job", n);
		EML_BAIL(EML_ERR_JOB_SEAL);
	}
	if (job_id != NULL && sodium_memcmp(sealed + 4, job_id, EML_JOB_ID_LEN) != 0) {
		eml_err_set_detail("sealed for another job id");
		EML_BAIL(EML_ERR_JOB_SEAL);
	}
	if (sodium_memcmp(sealed + 4 + EML_JOB_ID_LEN + 32, pk_r, 32) != 0) {
		eml_err_set_detail("sealed to another key");
		EML_BAIL(EML_ERR_JOB_SEAL);
	}
	if (crypto_scalarmult(dh, sk_r, sealed + 4 + EML_JOB_ID_LEN) != 0) {
		eml_err_set_detail("ephemeral key is of low order");
		EML_BAIL(EML_ERR_CRYPTO_AUTH);
	}
	derive(sealed, bind, dh, th, key);
	memset(nonce, 0, sizeof(nonce));
	plen = n - EML_JOBSEAL_OVERHEAD;
	if ((rc = eml_buf_extend(pt, plen, &w)) != EML_OK)
		goto out;
	if (crypto_aead_chacha20poly1305_ietf_decrypt(w, &mlen, NULL, sealed + EML_JOBSEAL_HDR_LEN,
	    n - EML_JOBSEAL_HDR_LEN, th, sizeof(th), nonce, key) != 0 ||
	    mlen != (unsigned long long)plen) {
		sodium_memzero(w, plen);
		pt->len -= plen;
		w = NULL;
		eml_err_set_detail("job seal does not authenticate");
		EML_FAIL(rc, EML_ERR_CRYPTO_AUTH);
	}
	rc = EML_OK;
out:
	sodium_memzero(dh, sizeof(dh));
	sodium_memzero(key, sizeof(key));
	return rc;
}
