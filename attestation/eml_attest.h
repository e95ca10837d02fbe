/*
 * Nitro Enclaves attestation documents: parse, verify, apply a policy.
 *
 * The library does no I/O: bytes in, results out. The caller names the
 * trust root (there is no built-in one) and the instant at which the chain
 * is checked. See docs/ATTESTATION.md for the format, every check in order,
 * the error codes and the policy file.
 *
 * Typical use:
 *   eml_attest_root_load(pem, pem_len, &root);
 *   eml_attest_policy_init(&pol);  ... set expectations ...
 *   eml_attest_verify(doc_bytes, n, root, EML_ATTEST_AT_NOW, 0, &pol, doc);
 */
#ifndef EML_ATTEST_H
#define EML_ATTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

/* Whole COSE_Sign1 input. The NSM answers in at most 12288 bytes
 * (NSM_RESPONSE_MAX_SIZE), so no genuine document is larger. */
#define EML_ATTEST_DOC_MAX 16384
/* AWS CDDL: payload bstr .size (1..16384). */
#define EML_ATTEST_PAYLOAD_MAX 16384
#define EML_ATTEST_SIG_LEN 96
#define EML_ATTEST_PCR_COUNT 32
#define EML_ATTEST_PCR_MAX 64
/* public_key, user_data, nonce: AWS CDDL bstr .size (0..1024). */
#define EML_ATTEST_OPT_MAX 1024
/* certificate and each cabundle entry: AWS CDDL bstr .size (1..1024). */
#define EML_ATTEST_CERT_MAX 1024
/* Real documents carry 4; AWS gives no upper bound, we allow 8. */
#define EML_ATTEST_CABUNDLE_MAX 8
#define EML_ATTEST_MODULE_ID_MAX 128
/* Length of the policy digest carried in user_data (SHA-256). */
#define EML_ATTEST_POLICY_DIGEST_LEN 32
/* Clock skew tolerated before a timestamp counts as "in the future". */
#define EML_ATTEST_FUTURE_SKEW_MS (5 * 60 * 1000)

/* An optional byte field: absent/null (present == false), or 0..1024 bytes. */
struct eml_attest_bytes {
	bool present;
	size_t len;
	uint8_t data[EML_ATTEST_OPT_MAX];
};

/* A parsed document. Large (about 40 KiB): allocate it on the heap. */
struct eml_attest_doc {
	/* COSE_Sign1 envelope, bytes exactly as received. */
	bool tagged; /* tag 18 was present */
	size_t protected_len;
	uint8_t protected_hdr[16];
	size_t payload_len;
	uint8_t payload[EML_ATTEST_PAYLOAD_MAX];
	uint8_t signature[EML_ATTEST_SIG_LEN];

	/* Payload fields. */
	bool indefinite_map; /* payload map encoded 0xbf ... 0xff */
	char module_id[EML_ATTEST_MODULE_ID_MAX + 1];
	uint64_t timestamp_ms;
	uint32_t pcr_present; /* bit i: PCR i is in the document */
	size_t pcr_count;
	size_t pcr_len[EML_ATTEST_PCR_COUNT];
	uint8_t pcr[EML_ATTEST_PCR_COUNT][EML_ATTEST_PCR_MAX];
	size_t certificate_len;
	uint8_t certificate[EML_ATTEST_CERT_MAX];
	size_t cabundle_count; /* root first, as AWS sends it */
	size_t cabundle_len[EML_ATTEST_CABUNDLE_MAX];
	uint8_t cabundle[EML_ATTEST_CABUNDLE_MAX][EML_ATTEST_CERT_MAX];
	struct eml_attest_bytes public_key;
	struct eml_attest_bytes user_data;
	struct eml_attest_bytes nonce;
};

/*
 * Parse a COSE_Sign1 Nitro enclave document strictly (structure, types,
 * sizes, duplicate keys, unknown fields). Authenticates nothing.
 * Returns EML_OK or one of EML_ERR_ATTEST_TOO_LARGE, _CBOR, _TRAILING,
 * _COSE_STRUCT, _COSE_HEADER, _COSE_ALG, _COSE_CRIT, _SIG_LENGTH, _DUP_KEY,
 * _FIELD_MISSING, _FIELD_TYPE, _FIELD_RANGE, _FIELD_UNKNOWN, _DIGEST,
 * _NITROTPM; EML_ERR_NOMEM, EML_ERR_NULL. *doc is caller-owned and is
 * zeroed first.
 */
eml_err eml_attest_doc_parse(const uint8_t *p, size_t n, struct eml_attest_doc *doc) EML_MUST_USE;

/* A trust root: a self-signed CA certificate named by the caller. */
struct eml_attest_root;
/* From PEM (text before the BEGIN line is ignored) or DER bytes.
 * EML_OK (*out owned by the caller), EML_ERR_ATTEST_ROOT, EML_ERR_NOMEM. */
eml_err eml_attest_root_load(const uint8_t *p, size_t n, struct eml_attest_root **out) EML_MUST_USE;
void eml_attest_root_free(struct eml_attest_root *root);
/* A second handle on the same root (the certificate shared, counted).
 * EML_OK, EML_ERR_NOMEM. */
eml_err eml_attest_root_dup(const struct eml_attest_root *root,
    struct eml_attest_root **out) EML_MUST_USE;
/* SHA-256 of the root's DER encoding. */
void eml_attest_root_sha256(const struct eml_attest_root *root, uint8_t out[32]);

/*
 * ES384 over Sig_structure ["Signature1", protected, h'', payload] with
 * the key of doc->certificate. EML_OK, EML_ERR_ATTEST_CERT_PARSE,
 * EML_ERR_ATTEST_CERT_KEY, EML_ERR_ATTEST_SIG_INVALID, EML_ERR_NOMEM.
 */
eml_err eml_attest_sig_verify(const struct eml_attest_doc *doc) EML_MUST_USE;

/*
 * Chain certificate -> cabundle[n-1] .. cabundle[1] -> root at instant
 * at_s (seconds since the epoch). cabundle[0] must be byte-identical to
 * the root. No partial chains, no CRLs, X.509 strict mode off (the AWS
 * leaf lacks key identifiers). EML_OK, EML_ERR_ATTEST_CERT_PARSE,
 * _CERT_KEY, _CHAIN_ISSUER, _CHAIN_SIG, _CHAIN_EXPIRED,
 * _CHAIN_NOT_YET_VALID, _UNTRUSTED_ROOT, _CHAIN_CA, _CHAIN, EML_ERR_NOMEM.
 */
eml_err eml_attest_chain_verify(const struct eml_attest_doc *doc,
    const struct eml_attest_root *root, int64_t at_s) EML_MUST_USE;

/* What the caller expects. eml_attest_policy_init gives the strictest
 * defaults: debug enclaves refused, nothing else required. */
struct eml_attest_policy {
	uint32_t pcr_mask; /* bit i: PCR i must equal pcr[i] */
	size_t pcr_len[EML_ATTEST_PCR_COUNT];
	uint8_t pcr[EML_ATTEST_PCR_COUNT][EML_ATTEST_PCR_MAX];
	bool nonce_set;
	size_t nonce_len;
	uint8_t nonce[EML_ATTEST_OPT_MAX];
	bool user_data_set;
	size_t user_data_len;
	uint8_t user_data[EML_ATTEST_OPT_MAX];
	uint64_t max_age_ms; /* 0: no age limit */
	bool allow_debug;
	bool require_public_key;
	/* Trust root named by a policy file, for the caller to load: a path
	 * (relative paths are relative to the policy file) or inline PEM.
	 * At most one is set. The library never opens the path. */
	char root_path[1024];
	size_t root_pem_len;
	char root_pem[8192];
};

void eml_attest_policy_init(struct eml_attest_policy *pol);

/*
 * Apply pol to a document whose signature and chain were verified.
 * now_ms is the reference instant for age and future checks.
 * EML_OK, EML_ERR_ATTEST_PCR_MISMATCH, _PCR_MISSING, _DEBUG, _NONCE,
 * _USER_DATA, _PUBLIC_KEY, _TOO_OLD, _FUTURE.
 */
eml_err eml_attest_policy_check(const struct eml_attest_doc *doc,
    const struct eml_attest_policy *pol, uint64_t now_ms) EML_MUST_USE;

/*
 * Policy file (JSON, docs/ATTESTATION.md) from bytes, at most 64 KiB.
 * Unknown keys, duplicate keys, wrong types and bad hex are errors.
 * EML_OK or EML_ERR_ATTEST_POLICY (detail says which key); *pol is
 * initialised first.
 */
#define EML_ATTEST_POLICY_FILE_MAX 65536
eml_err eml_attest_policy_parse(const uint8_t *json, size_t n, struct eml_attest_policy *pol) EML_MUST_USE;

/*
 * Policy digest for user_data: SHA-256 over the domain string
 * "EphemeralML policy manifest v2" and a NUL byte, then the manifest JSON
 * in RFC 8785 canonical form (eml_json_domain_sha256). The agent applies
 * it to its effective manifest (model/eml_manifest.h), so for an agent
 * policy file use `eml policy show` or `eml-agent --policy-digest`.
 * EML_OK or EML_ERR_ATTEST_POLICY (not strict JSON, not I-JSON).
 */
eml_err eml_attest_policy_digest(const uint8_t *manifest, size_t n,
    uint8_t out[EML_ATTEST_POLICY_DIGEST_LEN]) EML_MUST_USE;

enum eml_attest_at {
	EML_ATTEST_AT_NOW,   /* the current time */
	EML_ATTEST_AT_DOC,   /* the document's own timestamp (archived evidence) */
	EML_ATTEST_AT_GIVEN, /* at_s */
};

/*
 * Everything: parse, COSE signature, chain at the chosen instant,
 * policy. doc receives the parsed document (also on a policy failure, for
 * reporting). Returns the first failure's code in that order (the
 * signature and the chain are checked at once on two threads; a bad
 * signature is what is reported even when the chain fails too).
 */
eml_err eml_attest_verify(const uint8_t *p, size_t n, const struct eml_attest_root *root,
    enum eml_attest_at at, int64_t at_s, const struct eml_attest_policy *pol,
    struct eml_attest_doc *doc) EML_MUST_USE;

/* Where eml_attest_verify_ex spent its time (microseconds), and whether
 * the chain came from the intermediate cache. The signature and the chain
 * are checked at once on two threads: sig_us and chain_us overlap, auth_us
 * is the wall time of both. */
struct eml_attest_timing {
	int64_t parse_us;
	int64_t sig_us;
	int64_t chain_us;
	int64_t auth_us;
	bool chain_cached;
};
struct eml_attest_cache; /* eml_attest_cache.h */

/*
 * eml_attest_verify with an intermediate cache (NULL: none) and step
 * timings (NULL: not wanted). With a cache, a chain whose intermediates
 * are all entries verified under this root skips their signatures only
 * (eml_attest_chain_verify_cached); a full verification fills it.
 */
eml_err eml_attest_verify_ex(const uint8_t *p, size_t n, const struct eml_attest_root *root,
    enum eml_attest_at at, int64_t at_s, const struct eml_attest_policy *pol,
    struct eml_attest_cache *cache, struct eml_attest_timing *tm,
    struct eml_attest_doc *doc) EML_MUST_USE;

/*
 * eml_attest_chain_verify, or, when cache knows every intermediate of the
 * document as verified under root with the same issuer links and valid at
 * at_s: the root pin, the root's validity and the leaf against its issuer
 * (signature, validity, profile) only. *hit (may be NULL) says which. A
 * full verification that succeeds puts the intermediates in the cache.
 */
eml_err eml_attest_chain_verify_cached(const struct eml_attest_doc *doc,
    const struct eml_attest_root *root, int64_t at_s, struct eml_attest_cache *cache,
    bool *hit) EML_MUST_USE;

/* Whether PCR0, PCR1 and PCR2 are all present and all zero. */
bool eml_attest_doc_is_debug(const struct eml_attest_doc *doc);

#endif
