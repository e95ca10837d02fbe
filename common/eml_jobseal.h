/*
 * One-shot seals for asynchronous jobs (docs/PROTOCOL.md section 6): an
 * HPKE-style base-mode seal from libsodium primitives (X25519, HMAC-SHA256
 * as HKDF, ChaCha20-Poly1305), used twice: the client seals a job to the
 * agent's attested job key, the agent seals the result to the job's reply
 * key, bound to the exact bytes of the sealed job.
 *
 * Sealed bytes: header (magic 4, job id 16, ephemeral public key 32,
 * recipient public key 32) then the AEAD ciphertext and tag. The header is
 * authenticated through the transcript hash that is the AEAD's associated
 * data, so the host can read the job id but not change it.
 */
#ifndef EML_JOBSEAL_H
#define EML_JOBSEAL_H

#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

#define EML_JOB_ID_LEN 16u
#define EML_JOBSEAL_KEY_LEN 32u
#define EML_JOBSEAL_HDR_LEN (4u + EML_JOB_ID_LEN + 2u * EML_JOBSEAL_KEY_LEN)
#define EML_JOBSEAL_OVERHEAD (EML_JOBSEAL_HDR_LEN + 16u)

enum eml_jobseal_kind {
	EML_JOBSEAL_JOB = 1,    /* magic "EMJ1", client -> enclave */
	EML_JOBSEAL_RESULT = 2, /* magic "EMR1", enclave -> client */
};

/*
 * Seal pt for the holder of pk_r. bind is 32 bytes mixed into the
 * transcript: zeros for a job, SHA-256 of the sealed job for its result.
 * The sealed bytes are appended to out.
 */
eml_err eml_jobseal_seal(enum eml_jobseal_kind kind, const uint8_t job_id[EML_JOB_ID_LEN],
    const uint8_t pk_r[EML_JOBSEAL_KEY_LEN], const uint8_t bind[32], const uint8_t *pt,
    size_t n, struct eml_buf *out) EML_MUST_USE;

/*
 * Open sealed bytes with the recipient's key pair. The header must carry
 * the magic of kind, job_id (when not NULL) and pk_r; the plaintext is
 * appended to pt (give it a secure buffer). EML_ERR_JOB_SEAL for a header
 * that does not fit, EML_ERR_CRYPTO_AUTH for anything altered or sealed to
 * another key, transcript or binding.
 */
eml_err eml_jobseal_open(enum eml_jobseal_kind kind, const uint8_t *job_id,
    const uint8_t sk_r[EML_JOBSEAL_KEY_LEN], const uint8_t pk_r[EML_JOBSEAL_KEY_LEN],
    const uint8_t bind[32], const uint8_t *sealed, size_t n, struct eml_buf *pt) EML_MUST_USE;

/* The job id in a sealed job's header (no authentication: the host's
 * view). EML_ERR_JOB_SEAL when the bytes are not a job seal. */
eml_err eml_jobseal_peek(const uint8_t *sealed, size_t n, uint8_t job_id[EML_JOB_ID_LEN]) EML_MUST_USE;

/* A fresh X25519 key pair; the secret half belongs in secure memory. */
eml_err eml_jobseal_keypair(uint8_t pk[EML_JOBSEAL_KEY_LEN], uint8_t sk[EML_JOBSEAL_KEY_LEN]) EML_MUST_USE;
/* The public half of a secret key. */
eml_err eml_jobseal_public(const uint8_t sk[EML_JOBSEAL_KEY_LEN], uint8_t pk[EML_JOBSEAL_KEY_LEN]) EML_MUST_USE;

#endif
