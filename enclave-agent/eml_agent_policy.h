/*
 * The agent's policy: what this enclave agrees to run, and how.
 *
 * A small JSON file given with --policy (docs/OPERATIONS.md):
 *
 *   {
 *     "version": 1,
 *     "models": ["<64 hex: content id of an allowed weights.sealed>", ...],
 *     "publishers": ["-----BEGIN PUBLIC KEY-----\n...", ...],
 *     "strict": false,
 *     "assembly": "request",
 *     "limits": { "max_topology_bytes": 16777216, "max_input_bytes": 67108864,
 *                 "max_output_bytes": 67108864, "max_weight_bytes": 2147483648,
 *                 "max_requests": 0, "max_nodes": 100000,
 *                 "max_tensor_bytes": 1073741824, "max_arena_bytes": 2147483648,
 *                 "memory_budget_bytes": 4294967296,
 *                 "max_session_bytes": 3221225472, "max_sessions": 0 },
 *     "ops": ["Conv", "Relu", ...]
 *   }
 *
 * - models: content ids the agent runs. A model not listed runs only with
 *   a valid signature by one of the publishers (when there are any).
 *   A policy with neither models nor publishers is refused at start
 *   (eml-agent --insecure-any-model is the development-only exception).
 * - publishers / strict: publisher public keys (PEM SubjectPublicKeyInfo,
 *   Ed25519 or RSA, as `eml keys gen` and KMS give them). A model.sig sent
 *   with a request is verified against them whenever the list is not
 *   empty; strict mode refuses every model without a valid signature by
 *   one of them. Strict with an empty list is a configuration error, not
 *   "allow nothing" by accident.
 * - assembly: "request" wipes weights, activations and topology after
 *   every request; "session" keeps the assembled model for the rest of the
 *   session (same topology key only) and wipes it at session end.
 * - limits: hard ceilings checked before any allocation; max_requests 0
 *   means unlimited requests per session. max_nodes, max_tensor_bytes
 *   bound the topology key's graph when it is validated (before the blob
 *   is fetched) and every tensor when the model is planned;
 *   max_arena_bytes bounds the plan's activation arena.
 *   memory_budget_bytes caps the locked memory of all sessions together: a
 *   request that would need more is answered EML_ERR_BUSY (sealed; the
 *   session goes on) instead of the enclave running out of memory;
 *   max_session_bytes caps one session's; max_sessions (when not 0) lowers
 *   --max-sessions.
 * - ops: when present, the only operator types a topology key may use
 *   (EML_ERR_POLICY_OP otherwise); absent: every operator the engine runs.
 *
 * Unknown keys are errors (a typo must not silently weaken the policy).
 * The digest the agent puts in the attestation document's user_data is
 * eml_attest_policy_digest of the file (SHA-256 over a domain string and
 * the canonical re-serialisation of the JSON, docs/ATTESTATION.md), or of
 * the built-in default text when no file is given; a client pins it with
 * `eml attest policy-digest FILE` or the policy_digest its policy names.
 */
#ifndef EML_AGENT_POLICY_H
#define EML_AGENT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

struct eml_trust;

#define EML_AGENT_POLICY_DIGEST_LEN 32u
#define EML_AGENT_POLICY_ID_LEN 32u
#define EML_AGENT_POLICY_MAX_IDS 256u
#define EML_AGENT_POLICY_FILE_MAX (256u * 1024u)
#define EML_AGENT_POLICY_MAX_OPS 256u
#define EML_AGENT_POLICY_OP_LEN 32u /* with the NUL */

enum eml_agent_assembly {
	EML_ASSEMBLY_PER_REQUEST = 0,
	EML_ASSEMBLY_PER_SESSION = 1,
};

struct eml_agent_policy {
	uint8_t digest[EML_AGENT_POLICY_DIGEST_LEN];
	bool strict;
	enum eml_agent_assembly assembly;
	size_t n_models;
	uint8_t models[EML_AGENT_POLICY_MAX_IDS][EML_AGENT_POLICY_ID_LEN];
	size_t n_publishers;
	struct eml_trust *trust; /* the publishers; NULL when none */
	uint64_t max_topology_bytes;
	uint64_t max_input_bytes;
	uint64_t max_output_bytes;
	uint64_t max_weight_bytes;
	uint64_t max_requests;
	/* Graph limits (model/eml_validate.h) and the plan's bounds. */
	uint64_t max_nodes;
	uint64_t max_tensor_bytes;
	uint64_t max_arena_bytes;
	/* Memory: all sessions' locked memory together, one session's, and
	 * concurrent sessions (0: the agent's --max-sessions). */
	uint64_t memory_budget_bytes;
	uint64_t max_session_bytes;
	uint64_t max_sessions;
	/* Operator allow-list; n_ops 0: every operator the engine runs. */
	size_t n_ops;
	char ops[EML_AGENT_POLICY_MAX_OPS][EML_AGENT_POLICY_OP_LEN];
};

/* The built-in policy used without --policy: any model, not strict,
 * per-request assembly, default limits. Its text is what the digest
 * covers. */
const char *eml_agent_policy_default_text(void);

/*
 * Parse a policy from n bytes of JSON. Returns EML_OK, EML_ERR_POLICY_FILE
 * with a detail naming the offending key, EML_ERR_NULL. *out is fully
 * overwritten on success (release with eml_agent_policy_clear) and left
 * zeroed on failure.
 */
eml_err eml_agent_policy_parse(const uint8_t *p, size_t n,
    struct eml_agent_policy *out) EML_MUST_USE;
/* Read and parse a file; NULL path gives the built-in default.
 * EML_ERR_FILE when it cannot be read or is above the size limit. */
eml_err eml_agent_policy_load(const char *path, struct eml_agent_policy *out) EML_MUST_USE;

/* Release what a parsed policy owns (the publisher keys). */
void eml_agent_policy_clear(struct eml_agent_policy *pol);

/*
 * Decide whether a model may run. content_id is the blob's id from the
 * topology key; signer is the key id of a publisher whose signature was
 * verified against pol->trust, or NULL when the model carried no valid
 * signature. Returns EML_OK, EML_ERR_POLICY_MODEL, EML_ERR_POLICY_UNSIGNED.
 */
eml_err eml_agent_policy_check_model(const struct eml_agent_policy *pol,
    const uint8_t content_id[EML_AGENT_POLICY_ID_LEN],
    const uint8_t *signer) EML_MUST_USE;

/* Whether the policy pins this content id. */
bool eml_agent_policy_pins(const struct eml_agent_policy *pol,
    const uint8_t content_id[EML_AGENT_POLICY_ID_LEN]);

#endif
