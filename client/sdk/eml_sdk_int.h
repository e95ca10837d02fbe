/* libeml internals shared by client/sdk/eml_sdk*.c. Not installed. */
#ifndef EML_SDK_INT_H
#define EML_SDK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "attestation/eml_attest.h"
#include "eml/eml.h"
#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_err.h"
#include "eml_transport.h"

#define EML_SDK_TOPO_MAX ((size_t)64 << 20)
#define EML_SDK_TIMEOUT_DEFAULT_MS 60000
/* Connect and the first answer (the attestation response) have their own
 * short deadlines (or the exchange timeout, when shorter): a silent peer
 * is named as such in seconds, not after the exchange timeout. */
#define EML_SDK_CONNECT_MS 10000
#define EML_SDK_FIRST_ANSWER_MS 15000
#define EML_SDK_API_KEY_MAX 128u

enum eml_sdk_state {
	EML_SDK_CONNECTED = 0, /* TCP up, nothing sent */
	EML_SDK_ATTESTED,      /* document verified, keys derived */
	EML_SDK_DEAD,          /* failed or closed: only eml_client_close */
};

struct eml_channel;
struct eml_attest_root;

/* The handshake's steps in microseconds (make bench's step table; not an
 * API). */
struct eml_sdk_steps {
	int64_t connect_us; /* eml_client_connect: socket, connect */
	int64_t local_us;   /* policy, root, key pair, hello encoded */
	int64_t rtt_us;     /* hello sent -> attestation response read (the
	                     * agent's document production included) */
	struct eml_attest_timing verify; /* parse, signature, chain */
	int64_t policy_us;  /* PCRs, nonce, digest: the rest of the verify */
	int64_t keys_us;    /* key agreement (eml_channel_client_finish) */
};

/* The process's verified-intermediate cache (attestation/eml_attest_cache.h);
 * NULL when EML_ATTEST_CACHE=0 or it cannot be made. */
struct eml_attest_cache *eml_sdk_attest_cache(void);

struct eml_client {
	int fd;
	enum eml_sdk_state state;
	int64_t timeout_ms;
	size_t frame_max;
	uint8_t session_id[EML_REQUEST_ID_LEN];
	/* Request ids after the hello: rid_base (random, drawn with the
	 * session id) with rid_count added to its last 8 bytes, one per
	 * message. Correlation ids only (PROTOCOL §2): unique per session by
	 * the counter, across sessions by the random base; no getrandom per
	 * request (issue 16). */
	uint8_t rid_base[EML_REQUEST_ID_LEN];
	uint64_t rid_count;
	struct eml_channel *ch;
	struct eml_client_summary summary;
	uint64_t requests;
	/* What the evidence artifact must say (docs/EVIDENCE.md): every
	 * exchange the agent answered, and the root the session verified
	 * against. */
	uint64_t exchanges;
	uint8_t exchange_hash[32];
	struct eml_attest_root *root;
	bool any_image; /* eml_client_set_insecure_any_image */
	struct eml_buf rx; /* raw frames (ciphertext) */
	struct eml_buf tx;
	/* eml_client_infer's request (encoded, then sealed in place) and
	 * opened answer: secure buffers kept across requests and wiped after
	 * each, not mapped, locked and unmapped per request (issue 16), at
	 * most a frame each; freed when the session ends. */
	struct eml_buf req;
	struct eml_buf ans;
	/* The agent said it keeps the model of the last request for the
	 * session (InferResponse.model_kept): a request for the model whose
	 * topology key has this digest sends the digest, not the key. */
	bool kept;
	uint8_t kept_digest[32];
	char detail[256];
	char host[EML_ADDR_HOST_MAX + 1]; /* of the connect address: the TLS name */
	char addr[EML_ADDR_STR_MAX + 8];  /* the connect address, for messages */
	bool answered;                    /* the peer sent a first frame */
	struct ssl_ctx_st *tls_ctx;       /* NULL: plain TCP */
	struct ssl_st *ssl;
	char *api_key;  /* eml_secure_alloc, NUL-terminated; NULL: none */
	bool api_key_set; /* set explicitly (else EML_API_KEY is used) */
	struct eml_sdk_steps steps; /* where the handshake's time went */
};

struct eml_client_model {
	uint8_t *topo; /* eml_secure_alloc */
	size_t topo_len;
	uint8_t topo_digest[32]; /* SHA-256 of topo (InferRequest.topology_digest) */
	uint8_t *sig;  /* model.sig when present */
	size_t sig_len;
};

/* TLS to the proxy (eml_sdk_tls.c). Frames go through these two, over TLS
 * when it is on and straight to the socket otherwise. */
eml_err eml_sdk_tls_start(struct eml_client *c, const char *ca_file, const char *name) EML_MUST_USE;
void eml_sdk_tls_free(struct eml_client *c);
eml_err eml_sdk_frame_write(struct eml_client *c, const uint8_t *head, size_t head_n,
    const uint8_t *tail, size_t tail_n, int64_t deadline) EML_MUST_USE;
eml_err eml_sdk_frame_read(struct eml_client *c, int64_t deadline, struct eml_buf *out) EML_MUST_USE;
/* n raw bytes on the connection (plain or TLS): part of a frame whose
 * header the caller wrote. */
eml_err eml_sdk_write(struct eml_client *c, const uint8_t *p, size_t n, int64_t deadline)
    EML_MUST_USE;

/* The session's next request id (see rid_base). */
void eml_sdk_next_rid(struct eml_client *c, uint8_t rid[EML_REQUEST_ID_LEN]);
/* Copy the thread's error detail into the handle (or thread slot for
 * NULL) after a public call. */
void eml_sdk_note(struct eml_client *c, eml_err rc);
/* Bytes of a tensor from its shape and dtype. EML_ERR_USAGE for an
 * unknown dtype or rank, EML_ERR_OVERFLOW. */
eml_err eml_sdk_tensor_size(const struct eml_client_tensor *t, size_t *nbytes) EML_MUST_USE;
/* Most tensors a request or an answer carries. */
#define SDK_MAX_IO 64
/* Protobuf views of a request's input tensors (pointing into the caller's
 * tensors, nothing copied), for an InferRequest or a JobRequest. */
struct eml_sdk_tensor_views {
	Eml__V1__Tensor tv[SDK_MAX_IO];
	Eml__V1__Tensor *tp[SDK_MAX_IO];
	uint64_t dims[SDK_MAX_IO][EML_CLIENT_MAX_RANK];
};
/* Fill v from inputs[0..n), each checked (name present, data length
 * agreeing with shape and type). EML_ERR_USAGE (with the detail),
 * EML_ERR_OVERFLOW. */
eml_err eml_sdk_tensor_views(const struct eml_client_tensor *inputs, size_t n,
    struct eml_sdk_tensor_views *v) EML_MUST_USE;
/* Point a request's topology_key and model_signature fields at m's
 * (the signature only when the model has one). */
void eml_sdk_model_fields(const struct eml_client_model *m, ProtobufCBinaryData *topo,
    ProtobufCBinaryData *sig);
/* Copy an InferResponse's outputs (1 to SDK_MAX_IO, each checked) into
 * caller-owned tensors (*outs, freed with eml_client_tensors_free).
 * EML_ERR_PROTO_FIELD, EML_ERR_NOMEM. */
eml_err eml_sdk_outputs_copy(const Eml__V1__InferResponse *r, struct eml_client_tensor **outs,
    size_t *n_outs) EML_MUST_USE;
/* Fill an owned tensor, copying name and data; nbytes must match. */
eml_err eml_sdk_tensor_fill(struct eml_client_tensor *dst, const char *name, int dtype,
    size_t rank, const uint64_t *dims, const void *data, size_t nbytes) EML_MUST_USE;

/* Subject of the trust root (PEM) and the producer judged from it: only
 * the AWS Nitro root stands for real hardware. */
void eml_sdk_describe_root(const uint8_t *pem, size_t pem_len, struct eml_client_summary *s);

/* One sealed request of type on an attested handle and its sealed answer
 * of type want, opened into out. */
eml_err eml_sdk_sealed_call(struct eml_client *c, uint32_t type, const uint8_t *pt, size_t n,
    uint32_t want, struct eml_buf *out) EML_MUST_USE;

#endif
