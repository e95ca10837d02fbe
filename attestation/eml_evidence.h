/*
 * Evidence artifacts (docs/EVIDENCE.md): a JSON document, signed inside
 * the enclave with an Ed25519 key born there, that says what happened in
 * one session and carries the attestation document binding that key to
 * the enclave image and the nonce binding it to the session.
 *
 * The signature covers the RFC 8785 canonical form of every member but
 * "signature", so the file may be re-indented or re-ordered and still
 * verify. The enclave builds artifacts (eml_evidence_build); anyone
 * verifies them offline with the trust root alone (eml_evidence_verify).
 */
#ifndef EML_EVIDENCE_H
#define EML_EVIDENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_attest.h"
#include "eml_buf.h"
#include "eml_err.h"

#define EML_EVIDENCE_VERSION 1
/* The EVIDENCE_RESPONSE body limit (docs/PROTOCOL.md). */
#define EML_EVIDENCE_MAX ((size_t)1 << 20)
#define EML_EVIDENCE_MODELS_MAX 16
#define EML_EVIDENCE_NONCE_MAX 64
#define EML_EVIDENCE_SKEW_MS (5 * 60 * 1000)
#define EML_EVIDENCE_PK_LEN 32
#define EML_EVIDENCE_SK_LEN 64
#define EML_EVIDENCE_SIG_LEN 64

struct eml_evidence_model {
	uint8_t content_id[32];      /* SHA-256 of the sealed blob file */
	uint8_t topology_digest[32]; /* SHA-256 of the topology key bytes */
};

struct eml_evidence_session {
	uint8_t id[16];              /* eml_channel_session_id */
	uint8_t transcript_hash[32]; /* eml_channel_transcript_hash */
	int64_t started_ms;          /* ms since the epoch, UTC */
	int64_t ended_ms;
	bool final;                  /* the session ended with this artifact */
	uint64_t request_count;
	uint8_t exchange_hash[32];   /* eml_evidence_exchange_* over every request */
	size_t n_models;
	struct eml_evidence_model models[EML_EVIDENCE_MODELS_MAX];
	uint8_t policy_digest[32];
	bool has_client_identity;
	uint8_t client_identity[32]; /* SHA-256 of the identity the client presented */
	size_t nonce_len;            /* the client's EvidenceRequest nonce, 0..64 */
	uint8_t nonce[EML_EVIDENCE_NONCE_MAX];
};

/* Optional operator co-signature (docs/EVIDENCE.md "Published keys"). */
#define EML_EVIDENCE_KEY_ID_MAX 64
#define EML_EVIDENCE_KEYS_MAX 64

struct eml_evidence_cosig {
	bool present;
	char key_id[EML_EVIDENCE_KEY_ID_MAX + 1];
	int64_t signed_at_ms;
	uint8_t signature[EML_EVIDENCE_SIG_LEN];
};

/* A published-keys file: long-lived operator keys and their windows. */
struct eml_evidence_pubkey {
	char key_id[EML_EVIDENCE_KEY_ID_MAX + 1];
	uint8_t pk[EML_EVIDENCE_PK_LEN]; /* Ed25519 */
	int64_t valid_from_ms;
	int64_t valid_until_ms;
};

struct eml_evidence_keys {
	size_t n;
	struct eml_evidence_pubkey k[EML_EVIDENCE_KEYS_MAX];
};

/* A parsed artifact. Large: allocate on the heap. */
struct eml_evidence {
	uint32_t version;
	struct eml_evidence_session session;
	char producer[8]; /* "nsm" or "sim" */
	char module_id[EML_ATTEST_MODULE_ID_MAX + 1];
	uint32_t pcr_present;
	size_t pcr_len[EML_ATTEST_PCR_COUNT];
	uint8_t pcr[EML_ATTEST_PCR_COUNT][EML_ATTEST_PCR_MAX];
	size_t doc_len;
	uint8_t doc[EML_ATTEST_DOC_MAX];
	uint8_t pubkey_id[32];
	uint8_t signature[EML_EVIDENCE_SIG_LEN];
	struct eml_evidence_cosig cosig;
};

/* The running hash over a session's exchanges:
 *   h0 = SHA-256("EphemeralML evidence v1 exchanges")
 *   h  = SHA-256(h | u64be(len(in)) | in | u64be(len(out)) | out)
 * in: the sealed INFER_REQUEST body; out: the sealed INFER_RESPONSE
 * body that answered it (outputs or a sealed refusal). */
void eml_evidence_exchange_init(uint8_t h[32]);
void eml_evidence_exchange_add(uint8_t h[32], const uint8_t *in, size_t in_len,
    const uint8_t *out, size_t out_len);
/* The same step in two halves, so that a client hashes its request while
 * it waits for the answer: begin takes h and in (both must stay unchanged
 * until end, which writes the new h); abort drops a begun step (a request
 * that was not answered). end or abort, exactly once, after begin;
 * abort on a zeroed context is a no-op. */
struct eml_evidence_x {
	void *md; /* OpenSSL's context; NULL: end computes the whole step */
	const uint8_t *in;
	size_t in_len;
};
void eml_evidence_exchange_begin(struct eml_evidence_x *x, const uint8_t h[32],
    const uint8_t *in, size_t in_len);
/* begin with in's length only: the caller gives in's bytes, all of them
 * and in order, through eml_evidence_exchange_update (0, or -1 when the
 * digest failed: x is then unusable, abort it). x->md NULL when the
 * digest could not start (nothing to update; use begin instead). */
void eml_evidence_exchange_begin_len(struct eml_evidence_x *x, const uint8_t h[32],
    size_t in_len);
int eml_evidence_exchange_update(struct eml_evidence_x *x, const uint8_t *p, size_t n);
void eml_evidence_exchange_end(struct eml_evidence_x *x, uint8_t h[32], const uint8_t *out,
    size_t out_len);
void eml_evidence_exchange_abort(struct eml_evidence_x *x);
/* The attestation document's nonce for a session:
 *   SHA-256("EphemeralML evidence v1 binding" | id (16) | transcript_hash (32)) */
void eml_evidence_binding(const uint8_t id[16], const uint8_t th[32], uint8_t out[32]);
/* pubkey_id = SHA-256(Ed25519 public key). */
void eml_evidence_pubkey_id(const uint8_t pk[EML_EVIDENCE_PK_LEN], uint8_t out[32]);

/*
 * Build a signed artifact: doc is the attestation document whose
 * public_key is pk and whose nonce is the session's binding; module id
 * and PCRs are copied from it. The canonical JSON is appended to out.
 * EML_OK, EML_ERR_EVIDENCE (inputs disagree), an attestation parse
 * error, EML_ERR_PROTO_TOO_LARGE, EML_ERR_NOMEM.
 */
eml_err eml_evidence_build(const struct eml_evidence_session *s, const char *producer,
    const uint8_t *doc, size_t doc_len, const uint8_t pk[EML_EVIDENCE_PK_LEN],
    const uint8_t sk[EML_EVIDENCE_SK_LEN], struct eml_buf *out) EML_MUST_USE;

/*
 * Parse an artifact strictly: JSON (eml_json.h), then every field's
 * presence, type and form; unknown fields are refused. No cryptography.
 * EML_OK, EML_ERR_JSON, EML_ERR_EVIDENCE_FIELD or EML_ERR_EVIDENCE (the
 * detail names the field), EML_ERR_NOMEM.
 */
eml_err eml_evidence_parse(const uint8_t *p, size_t n, struct eml_evidence *ev) EML_MUST_USE;

struct eml_evidence_check {
	const struct eml_attest_root *root; /* required */
	enum eml_attest_at at;               /* EML_ATTEST_AT_DOC for archives */
	int64_t at_s;                        /* for EML_ATTEST_AT_GIVEN */
	/* Optional: expected PCRs and policy digest (user_data). Its nonce
	 * and maximum age are ignored. */
	const struct eml_attest_policy *policy;
	/* Optional: published operator keys. When set, the artifact must
	 * carry a co-signature by one of them, made inside its window. */
	const struct eml_evidence_keys *keys;
};

/*
 * Published-keys file (JSON, at most 64 KiB): {"version":1,"keys":[{
 * "key_id", "algorithm":"ed25519", "public_key": 64 hex, "valid_from",
 * "valid_until"}]}. EML_OK, EML_ERR_JSON, EML_ERR_EVIDENCE_FIELD.
 */
eml_err eml_evidence_keys_parse(const uint8_t *p, size_t n, struct eml_evidence_keys *out) EML_MUST_USE;

/*
 * Co-signing, by the holder of a published key, of an artifact that
 * parses. The message is the canonical JSON
 *   {"artifact":<artifact without cosignature>,"key_id":ID,"signed_at":T}
 * eml_evidence_cosign_message appends it to msg; eml_evidence_cosign_attach
 * appends the canonical artifact carrying "cosignature" {key_id,
 * signed_at, signature} to out (an earlier co-signature is replaced).
 */
eml_err eml_evidence_cosign_message(const uint8_t *art, size_t n, const char *key_id,
    int64_t signed_at_ms, struct eml_buf *msg) EML_MUST_USE;
eml_err eml_evidence_cosign_attach(const uint8_t *art, size_t n, const char *key_id,
    int64_t signed_at_ms, const uint8_t sig[EML_EVIDENCE_SIG_LEN], struct eml_buf *out) EML_MUST_USE;

/*
 * Verify an artifact, in order: parse; the attestation document (COSE
 * signature, chain to root at the chosen instant, nonce = the session's
 * binding, a public key present); pubkey_id = SHA-256 of that key; tee
 * and policy_digest equal to the document's; the session's consistency;
 * the Ed25519 signature over the canonical form; then the policy. The
 * first failure is returned with a detail naming the field. ev and doc
 * (caller memory) receive what was parsed, also on failure.
 */
eml_err eml_evidence_verify(const uint8_t *p, size_t n, const struct eml_evidence_check *chk,
    struct eml_evidence *ev, struct eml_attest_doc *doc) EML_MUST_USE;

/* "YYYY-MM-DDTHH:MM:SS.mmmZ" of ms since the epoch; buf >= 32 bytes. */
void eml_evidence_time_format(int64_t ms, char *buf, size_t n);

#endif
