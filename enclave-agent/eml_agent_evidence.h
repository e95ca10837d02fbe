/*
 * The agent's side of evidence (docs/EVIDENCE.md): the Ed25519 key made
 * at start-up, what a session records for its artifact, and building the
 * artifact on request.
 */
#ifndef EML_AGENT_EVIDENCE_H
#define EML_AGENT_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attestation/eml_evidence.h"
#include "eml_buf.h"
#include "eml_err.h"

struct eml_agent;
struct eml_channel;

/* What one session records as it goes. */
struct eml_agent_ev {
	int64_t started_ms;
	uint8_t exchange_hash[32];
	size_t n_models;
	struct eml_evidence_model models[EML_EVIDENCE_MODELS_MAX];
};

/* Make the signing key (secret in eml_secure_alloc). EML_OK,
 * EML_ERR_NOMEM. Close wipes it; NULL-safe, idempotent. */
eml_err eml_agent_evidence_open(struct eml_agent *a) EML_MUST_USE;
void eml_agent_evidence_close(struct eml_agent *a);

/* Session start: the clock and the running hash. */
void eml_agent_ev_start(const struct eml_agent *a, struct eml_agent_ev *ev);
/* One exchange: the sealed request body and the sealed response body
 * that answered it (outputs or a sealed refusal). */
void eml_agent_ev_exchange(struct eml_agent_ev *ev, const uint8_t *in, size_t in_len,
    const uint8_t *out, size_t out_len);
/* A model that ran. A 17th distinct model in one session is refused
 * (EML_ERR_POLICY): the artifact names every model. */
eml_err eml_agent_ev_model(struct eml_agent_ev *ev, const uint8_t content_id[32],
    const uint8_t topology_digest[32]) EML_MUST_USE;

/*
 * The artifact for the session so far: a fresh attestation document
 * binding the signing key (public_key) and the session (nonce), then the
 * signed JSON, appended to out. EML_OK, attestation, crypto or size
 * errors.
 */
eml_err eml_agent_evidence_make(struct eml_agent *a, const struct eml_agent_ev *ev,
    const struct eml_channel *ch, uint64_t requests, const uint8_t *nonce, size_t nonce_len,
    bool final, struct eml_buf *out) EML_MUST_USE;

#endif
