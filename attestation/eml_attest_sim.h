/*
 * The simulator: a software NSM for local runs and tests. It owns a P-384
 * CA chain shaped like AWS's (NOTES §2.3): root (30 years, CA) -> regional
 * (20 days, pathlen 2) -> zonal (6 days, pathlen 1) -> instance (1 day,
 * pathlen 0, keyCertSign only) -> leaf (3 hours, CA:false, keyUsage
 * digitalSignature + nonRepudiation, no key identifiers), and answers with
 * documents in the NSM's exact format. Its root is trusted only by callers
 * that name it; under the AWS root its documents fail.
 *
 * A sim CA directory holds root.pem (the certificate clients pin) and
 * root.key (PKCS#8 PEM, mode 0600). The rest of the chain is made afresh
 * in memory when the simulator opens, and again when the leaf nears its
 * end of life.
 */
#ifndef EML_ATTEST_SIM_H
#define EML_ATTEST_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "eml_attest.h"
#include "eml_attest_producer.h"
#include "eml_buf.h"

#define EML_ATTEST_SIM_PCRS 16
#define EML_ATTEST_SIM_ROOT_PEM "root.pem"
#define EML_ATTEST_SIM_ROOT_KEY "root.key"

struct eml_attest_sim_config {
	/* PCR0..15, 48 bytes each, as a real enclave reports them. */
	uint8_t pcr[EML_ATTEST_SIM_PCRS][48];
	char module_id[EML_ATTEST_MODULE_ID_MAX + 1];
	/* Payload map form: indefinite (as the NSM since 2025-09) or a9. */
	bool indefinite_map;
};

/* PCR0-2 = SHA-384("EphemeralML simulator PCR<n>"), the rest zero, so a
 * default simulator is not mistaken for a debug enclave. */
void eml_attest_sim_config_default(struct eml_attest_sim_config *cfg);

/*
 * Create a sim CA in dir (created 0700 if missing). Refuses to overwrite
 * an existing root.pem or root.key. EML_OK, EML_ERR_ATTEST_SIM_CA (detail
 * says which file), EML_ERR_CRYPTO, EML_ERR_NOMEM.
 */
eml_err eml_attest_sim_ca_create(const char *dir) EML_MUST_USE;

struct eml_attest_sim;

/*
 * Open a simulator on the CA in dir, or on a fresh in-memory root when dir
 * is NULL (tests). cfg NULL means the defaults. EML_OK (*out owned by the
 * caller), EML_ERR_ATTEST_SIM_CA, EML_ERR_CRYPTO, EML_ERR_NOMEM.
 */
eml_err eml_attest_sim_open(const char *dir, const struct eml_attest_sim_config *cfg,
    struct eml_attest_sim **out) EML_MUST_USE;
void eml_attest_sim_free(struct eml_attest_sim *sim);

/* The root certificate as PEM, appended to out. */
eml_err eml_attest_sim_root_pem(const struct eml_attest_sim *sim, struct eml_buf *out) EML_MUST_USE;

/*
 * A document at at_ms (0: now). NULL fields are null in the document.
 * Appended to out. EML_OK, EML_ERR_ATTEST_FIELD_RANGE (a field over 1024
 * bytes), EML_ERR_CRYPTO, EML_ERR_NOMEM, EML_ERR_PROTO_TOO_LARGE.
 */
eml_err eml_attest_sim_attest(struct eml_attest_sim *sim, uint64_t at_ms,
    const uint8_t *user_data, size_t user_data_len, const uint8_t *nonce, size_t nonce_len,
    const uint8_t *public_key, size_t public_key_len, struct eml_buf *out) EML_MUST_USE;

/*
 * Precompute the per-signature part of the next documents' ES384
 * signatures (the nonce k, r and k^-1) on a background thread, up to two
 * ready: the first two at once, the next ones at
 * eml_attest_sim_presign_refill (the caller's idle moment); each is used for one signature only and
 * cleared (eml_attest_presign.h). A document asked for while one is under
 * way waits for it; with none ready or under way it is signed in full. The agent turns this on; a real NSM signs in
 * the device and has nothing of the kind. EML_OK, EML_ERR_CRYPTO,
 * EML_ERR_NOMEM, EML_ERR_INTERNAL (no thread).
 */
eml_err eml_attest_sim_presign(struct eml_attest_sim *sim) EML_MUST_USE;
/* Signatures made from a precomputed nonce, and in full, since open. */
void eml_attest_sim_presign_stats(const struct eml_attest_sim *sim, uint64_t *presigned,
    uint64_t *full);
/* Make precomputed nonces now until two are ready (nothing without
 * eml_attest_sim_presign). */
void eml_attest_sim_presign_refill(struct eml_attest_sim *sim);
/* Tests: wait up to ms for a precomputed nonce to be ready. */
bool eml_attest_sim_presign_wait(struct eml_attest_sim *sim, int ms);

/* A producer that owns sim (closed with eml_attest_producer_close). */
void eml_attest_sim_producer(struct eml_attest_sim *sim, struct eml_attest_producer *p);

#endif
