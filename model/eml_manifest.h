/*
 * The policy manifest: the rules an enclave agent promises to keep, which
 * a client reads and pins before it trusts the enclave (issue 13).
 *
 * A small JSON file given to eml-agent with --policy (docs/OPERATIONS.md
 * section "Agent policy"):
 *
 *   {
 *     "version": 1,
 *     "models": ["<64 hex: content id of an allowed weights.sealed>", ...],
 *     "publishers": ["-----BEGIN PUBLIC KEY-----\n..." or "<64 hex key id>", ...],
 *     "strict": false,
 *     "assembly": "request",
 *     "limits": { "max_topology_bytes": 16777216, "max_input_bytes": 67108864,
 *                 "max_output_bytes": 67108864, "max_response_bytes": 67174400,
 *                 "max_weight_bytes": 2147483648,
 *                 "max_requests": 0, "max_requests_per_minute": 0,
 *                 "max_nodes": 100000,
 *                 "max_tensor_bytes": 1073741824, "max_arena_bytes": 2147483648,
 *                 "memory_budget_bytes": 4294967296,
 *                 "max_session_bytes": 3221225472, "max_sessions": 0,
 *                 "max_infer_ms": 60000 },
 *     "ops": ["Conv", "Relu", ...],
 *     "output": "declared",
 *     "output_schema": [{"dtype": "float32", "shape": [1, 10]}, ...]
 *   }
 *
 * - models: content ids the agent runs. A model not listed runs only with
 *   a valid signature by one of the publishers (when there are any).
 *   A policy with neither models nor publishers is refused at start
 *   (eml-agent --insecure-any-model is the development-only exception).
 * - publishers / strict: the allowed signers, each a PEM
 *   SubjectPublicKeyInfo (Ed25519, RSA or EC P-384, as `eml keys gen` and
 *   KMS give them) or its key id (`eml keys id`). A model.sig sent with a
 *   request is verified against them whenever the list is not empty;
 *   strict mode refuses every model without a valid signature by one of
 *   them. Strict with an empty list is a configuration error.
 * - assembly: "request" wipes weights, activations and topology after
 *   every request; "session" keeps the assembled model for the rest of the
 *   session (same topology key only) and wipes it at session end.
 * - limits: hard ceilings checked before any allocation. Per session:
 *   max_requests (0: unlimited) and max_requests_per_minute (0: unlimited;
 *   a token bucket of that many requests refilled over a minute, a request
 *   past it refused with EML_ERR_POLICY_RATE and the session goes on).
 *   max_output_bytes bounds the output tensors' data, max_response_bytes
 *   the whole response message the agent seals. max_nodes,
 *   max_tensor_bytes bound the topology key's graph when it is validated
 *   (before the blob is fetched) and every tensor when the model is
 *   planned; max_arena_bytes bounds the plan's activation arena.
 *   memory_budget_bytes caps the locked memory of all sessions together
 *   (EML_ERR_BUSY past it); max_session_bytes caps one session's;
 *   max_sessions (when not 0) lowers --max-sessions. max_infer_ms (> 0)
 *   is the wall time one inference may run (checked between nodes and
 *   inside long kernels); past it the request is refused with
 *   EML_ERR_POLICY_TIME (sealed; activations wiped, the session goes
 *   on). Every limit is at
 *   most 2^53 - 1 (I-JSON: the canonical form writes numbers as doubles).
 * - ops: the allowed operators: the only operator types a topology key
 *   may use (EML_ERR_POLICY_OP otherwise); absent or null: every operator
 *   the engine runs.
 * - output: the output rule. "declared" (the only rule, and the default):
 *   only the graph's declared outputs leave the enclave, each once, as
 *   declared (the egress guard, eml_agent_egress.h); no intermediate
 *   tensor, no debug output. output_schema (optional, null when absent):
 *   the exact list of outputs every model must produce, each element type
 *   and shape fixed; anything else is refused with EML_ERR_EGRESS.
 *
 * Unknown keys are errors (a typo must not silently weaken the policy).
 *
 * The manifest's digest (what the agent puts in the attestation
 * document's user_data, what a client pins as policy_digest) is taken over
 * the effective manifest: every field written out, defaults included, in
 * RFC 8785 canonical form (eml_manifest_json), with
 * eml_json_domain_sha256(EML_MANIFEST_DOMAIN). So a field left to its
 * default and the same field written out give the same digest, and any
 * change to any rule changes it. `eml policy show FILE` prints the
 * effective manifest and its digest.
 */
#ifndef EML_MANIFEST_H
#define EML_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"
#include "model/eml_graph.h"

struct eml_trust;

/* The digest's domain string (hashed with its NUL): v2 is the effective
 * manifest in RFC 8785 form; v1 (before issue 13's manifest) was the
 * policy file as given, keys sorted by jansson. */
#define EML_MANIFEST_DOMAIN "EphemeralML policy manifest v2"

#define EML_MANIFEST_DIGEST_LEN 32u
#define EML_MANIFEST_ID_LEN 32u
#define EML_MANIFEST_MAX_IDS 256u
#define EML_MANIFEST_FILE_MAX (256u * 1024u)
#define EML_MANIFEST_MAX_OPS 256u
#define EML_MANIFEST_OP_LEN 32u /* with the NUL */
#define EML_MANIFEST_MAX_SCHEMA 16u
/* Largest limit: 2^53 - 1, exact as an IEEE double (I-JSON, RFC 8785). */
#define EML_MANIFEST_LIMIT_MAX 9007199254740991ULL

enum eml_agent_assembly {
	EML_ASSEMBLY_PER_REQUEST = 0,
	EML_ASSEMBLY_PER_SESSION = 1,
};

enum eml_manifest_output {
	EML_OUTPUT_DECLARED = 0, /* only the graph's declared outputs */
};

/* One output of a fixed output schema. */
struct eml_manifest_out {
	enum eml_dtype dtype;
	int rank;
	int64_t dims[EML_MAX_RANK];
};

struct eml_manifest {
	uint8_t digest[EML_MANIFEST_DIGEST_LEN];
	bool strict;
	enum eml_agent_assembly assembly;
	size_t n_models;
	uint8_t models[EML_MANIFEST_MAX_IDS][EML_MANIFEST_ID_LEN];
	size_t n_publishers;
	struct eml_trust *trust; /* the publishers; NULL when none */
	uint64_t max_topology_bytes;
	uint64_t max_input_bytes;
	uint64_t max_output_bytes;
	uint64_t max_weight_bytes;
	uint64_t max_response_bytes;
	/* Per session: requests in all (0: unlimited), and per minute. */
	uint64_t max_requests;
	uint64_t max_requests_per_minute;
	/* Graph limits (model/eml_validate.h) and the plan's bounds. */
	uint64_t max_nodes;
	uint64_t max_tensor_bytes;
	uint64_t max_arena_bytes;
	/* Memory: all sessions' locked memory together, one session's, and
	 * concurrent sessions (0: the agent's --max-sessions). */
	uint64_t memory_budget_bytes;
	uint64_t max_session_bytes;
	uint64_t max_sessions;
	/* Wall time of one inference, ms (> 0). */
	uint64_t max_infer_ms;
	/* Operator allow-list; n_ops 0: every operator the engine runs. */
	size_t n_ops;
	char ops[EML_MANIFEST_MAX_OPS][EML_MANIFEST_OP_LEN];
	/* The allowed signers' key ids, in the file's order. */
	uint8_t publisher_ids[EML_MANIFEST_MAX_IDS][EML_MANIFEST_ID_LEN];
	/* Output rule, and the fixed output schema (n_schema 0: none). */
	enum eml_manifest_output output;
	size_t n_schema;
	struct eml_manifest_out schema[EML_MANIFEST_MAX_SCHEMA];
};

/* The built-in policy used without --policy: any model, not strict,
 * per-request assembly, default limits (the agent refuses to serve it
 * without --insecure-any-model). */
const char *eml_manifest_default_text(void);

/*
 * Parse a policy from n bytes of JSON. Returns EML_OK, EML_ERR_POLICY_FILE
 * with a detail naming the offending key, EML_ERR_NULL. *out is fully
 * overwritten on success (release with eml_manifest_clear) and left
 * zeroed on failure.
 */
eml_err eml_manifest_parse(const uint8_t *p, size_t n,
    struct eml_manifest *out) EML_MUST_USE;
/* Read and parse a file; NULL path gives the built-in default.
 * EML_ERR_FILE when it cannot be read or is above the size limit. */
eml_err eml_manifest_load(const char *path, struct eml_manifest *out) EML_MUST_USE;

/*
 * Append the effective manifest of a parsed policy to out: every field,
 * defaults written out, publishers as key ids, in RFC 8785 canonical form.
 * This is what the digest covers and what `eml policy show --json`
 * prints; parsed again it gives the same manifest. EML_OK,
 * EML_ERR_PROTO_TOO_LARGE past out's ceiling, EML_ERR_NOMEM.
 */
eml_err eml_manifest_json(const struct eml_manifest *pol, struct eml_buf *out) EML_MUST_USE;

/* Release what a parsed policy owns (the publisher keys). */
void eml_manifest_clear(struct eml_manifest *pol);

/*
 * Decide whether a model may run. content_id is the blob's id from the
 * topology key; signer is the key id of a publisher whose signature was
 * verified against pol->trust, or NULL when the model carried no valid
 * signature. Returns EML_OK, EML_ERR_POLICY_MODEL, EML_ERR_POLICY_UNSIGNED.
 */
eml_err eml_manifest_check_model(const struct eml_manifest *pol,
    const uint8_t content_id[EML_MANIFEST_ID_LEN],
    const uint8_t *signer) EML_MUST_USE;

/* Whether the policy pins this content id. */
bool eml_manifest_pins(const struct eml_manifest *pol,
    const uint8_t content_id[EML_MANIFEST_ID_LEN]);

/*
 * The output schema check: when the manifest fixes one, outputs[0..n)
 * must match it exactly (count, element type, every dimension).
 * EML_OK or EML_ERR_EGRESS (the detail gives the output's index only).
 */
eml_err eml_manifest_check_outputs(const struct eml_manifest *pol,
    const struct eml_tensor *outputs, size_t n) EML_MUST_USE;

#endif
