/*
 * libeml: the EphemeralML client SDK.
 *
 * Confidential inference against an eml-agent running in an AWS Nitro
 * Enclave, reached through an untrusted eml-proxy on the host:
 *
 *     struct eml_client *c = NULL;
 *     struct eml_client_model *m = NULL;
 *     struct eml_client_tensor *out = NULL;
 *     size_t n_out = 0;
 *     int rc;
 *
 *     if ((rc = eml_client_connect("127.0.0.1:7400", &c)) != 0 ||
 *         (rc = eml_client_attest(c, "policy.json")) != 0 ||
 *         (rc = eml_client_model_open("model-dir", &m)) != 0 ||
 *         (rc = eml_client_infer(c, m, inputs, n_inputs, &out, &n_out)) != 0)
 *             fprintf(stderr, "%s: %s\n", eml_client_strerror(rc),
 *                 eml_client_detail(c));
 *     eml_client_tensors_free(out, n_out);
 *     eml_client_model_close(m);
 *     eml_client_close(c);
 *
 * Order of a session: connect, attest, then any number of infer calls. The
 * client verifies the enclave's attestation document (signature, chain to
 * the trust root named by the policy, nonce, freshness, PCRs, policy
 * digest) BEFORE it derives session keys, and it sends nothing but its
 * hello (a random nonce and an ephemeral public key) until the document
 * has been verified. When verification fails, eml_client_attest returns an
 * attestation error, the connection is closed, and no topology key or
 * input byte ever leaves the process.
 *
 * Errors: every fallible function returns 0 on success or a stable
 * positive code from the project's error table (docs/PROTOCOL.md lists
 * them; eml_client_strerror and eml_client_error_name describe any code).
 * The hundreds digit is the category, see EML_CLIENT_CAT_*. A short human
 * detail for the last failure on a handle (which PCR differed, which file
 * could not be read) is available from eml_client_detail; it never
 * contains key material or tensor bytes.
 *
 * Threads: a handle (struct eml_client) must be used by one thread at a
 * time; distinct handles are fully independent and may be used from
 * different threads concurrently. A model (struct eml_client_model) is
 * read-only after eml_client_model_open and may be shared by handles.
 *
 * Memory: tensors returned by the library are owned by the caller and
 * released with eml_client_tensors_free, which wipes them. Input tensors are
 * only read during the call. The topology key of a model is held in locked
 * memory and wiped by eml_client_model_close.
 */
#ifndef EML_EML_H
#define EML_EML_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef EML_API
#define EML_API __attribute__((visibility("default")))
#endif

/* Version of this header. eml_version() reports the library's, which may
 * be newer; the major number changes only with an incompatible ABI. */
#define EML_VERSION_MAJOR 0
#define EML_VERSION_MINOR 1
#define EML_VERSION_PATCH 0
#define EML_VERSION_STRING "0.1.0"

/* "MAJOR.MINOR.PATCH" of the linked library. */
EML_API const char *eml_version(void);

/* Error categories: code / 100 * 100. */
#define EML_CLIENT_OK 0
#define EML_CLIENT_CAT_IO 100       /* connection, files: exit code 3 */
#define EML_CLIENT_CAT_PROTO 200    /* malformed or unexpected messages */
#define EML_CLIENT_CAT_ATTEST 300   /* attestation did not verify */
#define EML_CLIENT_CAT_CRYPTO 400   /* altered, replayed or reordered frame */
#define EML_CLIENT_CAT_INFER 500    /* the engine refused or failed */
#define EML_CLIENT_CAT_MODEL 600    /* topology key, sealed blob, signature */
#define EML_CLIENT_CAT_SESSION 700  /* session state, agent policy, busy */
#define EML_CLIENT_CAT_USAGE 800    /* bad arguments */
#define EML_CLIENT_CAT_INTERNAL 900

/* Message and symbolic name ("EML_ERR_ATTEST") of any code; never NULL. */
EML_API const char *eml_client_strerror(int code);
EML_API const char *eml_client_error_name(int code);

/* Element types: the ONNX TensorProto.DataType numbers. */
enum eml_client_dtype {
	EML_CLIENT_DT_FLOAT = 1,
	EML_CLIENT_DT_UINT8 = 2,
	EML_CLIENT_DT_INT8 = 3,
	EML_CLIENT_DT_UINT16 = 4,
	EML_CLIENT_DT_INT16 = 5,
	EML_CLIENT_DT_INT32 = 6,
	EML_CLIENT_DT_INT64 = 7,
	EML_CLIENT_DT_BOOL = 9,
	EML_CLIENT_DT_FLOAT16 = 10,
	EML_CLIENT_DT_DOUBLE = 11,
	EML_CLIENT_DT_UINT32 = 12,
	EML_CLIENT_DT_UINT64 = 13,
};

#define EML_CLIENT_MAX_RANK 8

/* A dense tensor: little-endian elements, row-major. For inputs every
 * pointer is the caller's and only read; for outputs the library owns name
 * and data until eml_client_tensors_free. nbytes must equal the product of
 * dims times the element size. */
struct eml_client_tensor {
	const char *name;
	int dtype; /* enum eml_client_dtype */
	size_t rank;
	uint64_t dims[EML_CLIENT_MAX_RANK];
	const void *data;
	size_t nbytes;
};

/* What the verified attestation document said. Filled by
 * eml_client_summary after a successful eml_client_attest. */
#define EML_CLIENT_MAX_PCRS 32
struct eml_client_summary {
	char module_id[128];      /* enclave module id, NUL-terminated */
	uint64_t timestamp_ms;    /* document time, ms since the Unix epoch */
	size_t n_pcrs;            /* PCRs the policy required and that matched */
	struct {
		unsigned index;
		uint8_t value[48];    /* SHA-384 */
	} pcrs[EML_CLIENT_MAX_PCRS];
	uint8_t policy_digest[64]; /* the document's user_data */
	size_t policy_digest_len;
	char producer[16];         /* "nsm" (real hardware) or "sim" */
	char root[128];            /* subject of the trust root the chain ended in */
	uint8_t session_id[16];    /* correlation id of this session in logs */
};

struct eml_client;
struct eml_client_model;

/*
 * Open a TCP connection to an eml-proxy. addr is "HOST:PORT",
 * "tcp:HOST:PORT" or "[V6ADDR]:PORT". Nothing is sent yet.
 * Returns 0 and a new handle in *out (the caller closes it), or an I/O or
 * usage code; *out is left NULL on failure.
 */
EML_API int eml_client_connect(const char *addr, struct eml_client **out);

/*
 * Set the timeout for each network wait (connect excluded) in
 * milliseconds; 0 restores the default (60000). Returns 0 or a usage code.
 */
EML_API int eml_client_set_timeout(struct eml_client *c, unsigned ms);

/*
 * DEVELOPMENT ONLY. Let eml_client_attest accept a client policy that does
 * not pin the enclave image: by default a policy must pin PCR0, PCR1 and
 * PCR2 (and PCR8 when the document shows a signed image), or attest fails
 * with EML_ERR_ATTEST_UNPINNED (342) before anything is sent. With on != 0
 * whatever enclave answers with a valid chain receives the model and the
 * inputs; debug-mode (all-zero) images stay refused unless the policy sets
 * allow_debug. Call before eml_client_attest. Returns 0 or a usage code.
 */
EML_API int eml_client_set_insecure_any_image(struct eml_client *c, int on);

/*
 * Switch the connection to TLS (a proxy started with --tls-cert): the
 * proxy's certificate must chain to the PEM file ca_file and carry name
 * (a DNS name, or an IP address entry for an address); name NULL or ""
 * is the host given to eml_client_connect. Call it right after connect,
 * before eml_client_attest. TLS protects the API key and the metadata on
 * the network; the channel to the enclave is end to end either way.
 * Returns 0, a TLS code (the certificate does not verify, handshake
 * failed; the handle can then only be closed), or an I/O or usage code.
 */
EML_API int eml_client_set_tls(struct eml_client *c, const char *ca_file, const char *name);

/*
 * The API key the proxy asks for (eml-proxy --api-keys): a token
 * "emlk1.ID.HEX" as `eml-proxy keys add` printed it; NULL or "" forgets
 * it. Without a call, eml_client_attest takes the environment variable
 * EML_API_KEY when it is set. The key goes in the hello for the proxy
 * only: it is outside the handshake transcript and never reaches the
 * enclave. Over plain TCP it crosses the network in clear: use a TLS
 * listener (eml_client_set_tls_ca) where that matters. Returns 0 or a
 * usage code (key longer than 128 bytes).
 */
EML_API int eml_client_set_api_key(struct eml_client *c, const char *key);

/*
 * Run the handshake and verify the enclave against a client policy file
 * (JSON, written by eif-build or `eml attest sim-init`: trust root,
 * expected PCRs, expected policy digest, maximum document age; PCR0-2 must
 * be pinned, see eml_client_set_insecure_any_image). On
 * success the session keys are derived and the handle is ready for infer.
 * On any verification failure the connection is closed and the handle can
 * only be closed; nothing besides the hello was sent. Returns 0, an
 * attestation code (3xx), an I/O, protocol or session code.
 */
EML_API int eml_client_attest(struct eml_client *c, const char *policy_path);

/* The verified attestation of an attested handle. Returns 0, or a session
 * code when the handle has not been attested. */
EML_API int eml_client_summary(const struct eml_client *c, struct eml_client_summary *out);

/*
 * Load a split model's topology key from DIR/model.topo into locked
 * memory. The sealed weights stay on the host; the agent fetches them.
 * Returns 0 and a model in *out (release with eml_client_model_close), an
 * I/O code or a model code.
 */
EML_API int eml_client_model_open(const char *dir, struct eml_client_model **out);
EML_API void eml_client_model_close(struct eml_client_model *m);

/*
 * Run one confidential inference: the topology key and the inputs go out
 * sealed under the session keys; the outputs come back sealed. On success
 * *outs is an array of *n_outs tensors owned by the caller (free with
 * eml_client_tensors_free). On failure *outs is NULL and *n_outs 0; a
 * crypto, I/O or protocol failure also ends the session (the handle can
 * only be closed), while a refusal by the agent (model, session or infer
 * codes) leaves it usable.
 */
EML_API int eml_client_infer(struct eml_client *c, const struct eml_client_model *m,
    const struct eml_client_tensor *inputs, size_t n_inputs,
    struct eml_client_tensor **outs, size_t *n_outs);

/*
 * The signed evidence artifact of this session so far (docs/EVIDENCE.md):
 * JSON, signed inside the enclave by a key its attestation document
 * binds, verifiable offline by anyone with the trust root. With final
 * nonzero the agent ends the session after answering (the handle can then
 * only be closed). Before returning it the library verifies it (document
 * chained to the policy's trust root at the document's time, key binding,
 * signature, the policy's PCRs and digest) and checks that it describes
 * this session as the client saw it (session id, transcript, request
 * count, exchange hash, nonce). On success *out holds *len bytes owned by
 * the caller (free with eml_client_evidence_free). Returns 0, an evidence
 * code (36x), a session, protocol, crypto or I/O code.
 */
EML_API int eml_client_evidence(struct eml_client *c, int final, uint8_t **out, size_t *len);
EML_API void eml_client_evidence_free(uint8_t *p, size_t len);

/* Wipe and free tensors returned by the library; NULL is a no-op. */
EML_API void eml_client_tensors_free(struct eml_client_tensor *t, size_t n);

/*
 * Read an ONNX TensorProto file (the format of ONNX test data, input_0.pb)
 * into a tensor owned by the caller (free with eml_client_tensors_free(t,
 * 1)), or write one. Returns 0, an I/O code or a model code.
 */
EML_API int eml_client_tensor_load(const char *path, struct eml_client_tensor **out);
EML_API int eml_client_tensor_save(const char *path, const struct eml_client_tensor *t);

/* Instants for eml_client_attestation_verify (otherwise seconds since the
 * Unix epoch). */
#define EML_CLIENT_AT_NOW 0
#define EML_CLIENT_AT_DOC (-1) /* the document's own timestamp */

/*
 * Verify an attestation document on its own, outside a session (archived
 * evidence, a document obtained elsewhere): CBOR and COSE structure, the
 * ES384 signature, and the certificate chain to the trust root root_pem
 * (PEM, root_len bytes) at instant at_s. Debug enclaves (PCR0-2 all zero)
 * are refused. No PCR, nonce, digest or age expectation is applied: on
 * success *out lists every SHA-384 PCR the document carries, its
 * user_data as policy_digest, module id, time, root and producer (the
 * session_id is zero) for the caller to compare. Returns 0, an attestation
 * code (3xx) or a usage code; eml_client_detail(NULL) says more.
 */
EML_API int eml_client_attestation_verify(const uint8_t *doc, size_t doc_len,
    const uint8_t *root_pem, size_t root_len, int64_t at_s, struct eml_client_summary *out);

/*
 * Asynchronous jobs (docs/PROTOCOL.md section 6). On an attested handle,
 * eml_client_job_seal fetches the enclave's job key over the session and
 * seals the topology key, the inputs and a fresh reply key into one
 * message for the proxy's job API. job_id: 16 bytes, the caller's choice
 * (all zero: a random id is written back). ticket receives what opens the
 * result later (the reply secret key, the job id, the digest of the sealed
 * job): a secret, keep it like a key. *sealed (free with eml_client_free)
 * is what to submit. Returns 0 or a code; refusals keep the session.
 */
#define EML_CLIENT_JOB_ID_LEN 16
#define EML_CLIENT_JOB_TICKET_LEN 84
EML_API int eml_client_job_seal(struct eml_client *c, const struct eml_client_model *m,
    const struct eml_client_tensor *inputs, size_t n_inputs,
    uint8_t job_id[EML_CLIENT_JOB_ID_LEN], uint8_t ticket[EML_CLIENT_JOB_TICKET_LEN],
    uint8_t **sealed, size_t *sealed_len);

/*
 * POST a sealed job to the proxy's job API at jobs_addr ("HOST:PORT").
 * status receives "queued" (or the current status of the same job
 * submitted before). Returns 0, EML_ERR_JOB_CONFLICT (the id was used for
 * other bytes), an I/O or protocol code.
 */
EML_API int eml_client_job_submit(const char *jobs_addr, const uint8_t *sealed, size_t n,
    char status[16]);

/*
 * GET a job's status: "queued", "running", "done" (and, when result is
 * not NULL, *result the sealed result, free with eml_client_free) or
 * "failed" (*job_code the reason). Returns 0, EML_ERR_JOB_NOT_FOUND, an
 * I/O or protocol code.
 */
EML_API int eml_client_job_status(const char *jobs_addr,
    const uint8_t job_id[EML_CLIENT_JOB_ID_LEN], char status[16], int *job_code,
    uint8_t **result, size_t *result_len);

/*
 * Open a sealed result with the job's ticket into caller-owned tensors
 * (free with eml_client_tensors_free). Returns 0, EML_ERR_JOB_SEAL or
 * EML_ERR_CRYPTO_AUTH for a result that is not this job's, or the code
 * with which the enclave refused the job.
 */
EML_API int eml_client_job_open(const uint8_t ticket[EML_CLIENT_JOB_TICKET_LEN],
    const uint8_t *result, size_t n, struct eml_client_tensor **outs, size_t *n_outs);

/* Free memory returned by the library (sealed jobs and results). */
EML_API void eml_client_free(void *p);

/* Human detail of the last failure on this handle (or of the last failure
 * on this thread when c is NULL); "" when none. Valid until the next call
 * on the handle. */
EML_API const char *eml_client_detail(const struct eml_client *c);

/* Close the session (a sealed Close when established), the connection, and
 * wipe the session keys. NULL is a no-op. */
EML_API void eml_client_close(struct eml_client *c);

#ifdef __cplusplus
}
#endif

#endif
