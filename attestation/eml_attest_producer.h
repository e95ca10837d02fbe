/*
 * Attestation producers: where an enclave gets its documents. Two
 * implementations behind one interface:
 *   nsm - the real Nitro Secure Module, /dev/nsm (eml_nsm.h)
 *   sim - a software NSM with its own P-384 CA chain (eml_attest_sim.h)
 * The agent picks one at start-up and logs producer->name.
 */
#ifndef EML_ATTEST_PRODUCER_H
#define EML_ATTEST_PRODUCER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

struct eml_attest_producer {
	const char *name; /* "nsm" or "sim" */
	void *ctx;
	/*
	 * A document binding the three optional fields (NULL: field absent,
	 * encoded as null). Each at most 1024 bytes. The document is appended
	 * to *doc, whose ceiling must allow EML_ATTEST_DOC_MAX.
	 */
	eml_err (*attest)(void *ctx, const uint8_t *user_data, size_t user_data_len,
	    const uint8_t *nonce, size_t nonce_len, const uint8_t *public_key,
	    size_t public_key_len, struct eml_buf *doc);
	/* PCR value (32, 48 or 64 bytes into data[64]) and lock state. */
	eml_err (*describe_pcr)(void *ctx, unsigned index, bool *locked, uint8_t data[64],
	    size_t *len);
	/* Fill out with n random bytes (n <= 256 per call for nsm; the
	 * wrapper loops). */
	eml_err (*get_random)(void *ctx, uint8_t *out, size_t n);
	void (*close)(void *ctx);
};

/* Convenience wrappers; they check the producer and its arguments. */
eml_err eml_attest_produce(struct eml_attest_producer *p, const uint8_t *user_data,
    size_t user_data_len, const uint8_t *nonce, size_t nonce_len, const uint8_t *public_key,
    size_t public_key_len, struct eml_buf *doc) EML_MUST_USE;
eml_err eml_attest_describe_pcr(struct eml_attest_producer *p, unsigned index, bool *locked,
    uint8_t data[64], size_t *len) EML_MUST_USE;
eml_err eml_attest_get_random(struct eml_attest_producer *p, uint8_t *out, size_t n) EML_MUST_USE;
/*
 * Open a producer by name, as the agent's --attest option names it:
 *   "nsm": arg is the device path (NULL: /dev/nsm);
 *   "sim": arg is a sim CA directory (NULL: a fresh in-memory root that no
 *          client trusts unless handed its PEM).
 * EML_OK, EML_ERR_CONFIG (unknown name), or the open's own error
 * (EML_ERR_ATTEST_NSM_DEVICE, EML_ERR_ATTEST_SIM_CA, ...).
 */
eml_err eml_attest_producer_open(const char *name, const char *arg,
    struct eml_attest_producer *p) EML_MUST_USE;
/* Close and release; p itself is caller memory and may be reused. */
void eml_attest_producer_close(struct eml_attest_producer *p);

#endif
