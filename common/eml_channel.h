/*
 * The secure channel of DESIGN §3 steps 4-6 (key schedule in
 * docs/PROTOCOL.md §4).
 *
 * Client                                      Agent
 *   eml_channel_client_new -> ClientHello bytes
 *                         ------ CLIENT_HELLO ------>
 *                                             eml_channel_server_new
 *                                               (client nonce, agent public
 *                                                key for the NSM request)
 *                                             eml_channel_server_finish
 *                                               (attestation document ->
 *                                                AttestationResponse bytes,
 *                                                keys bound to those bytes)
 *                         <-- ATTESTATION_RESPONSE --
 *   verify the document (nonce = eml_channel_client_nonce, PCRs, ...);
 *   eml_channel_client_finish(response bytes, public_key from the document)
 *   eml_channel_seal / eml_channel_open on both sides.
 *
 * The client cannot derive keys before it holds a document it verified:
 * the only input that makes keys is the agent public key it takes from
 * that document. Both sides hash the exact hello and response bytes, so a
 * host that rewrites either makes the keys differ and the first frame fail.
 *
 * Every sealed frame uses the next 64-bit counter of its direction as the
 * nonce; the receiver expects exactly the next counter. Any failure of
 * open (altered, replayed, reordered, truncated, reflected frame, wrong
 * key) or of seal ends the channel for good: keys are wiped and every
 * later call returns EML_ERR_CRYPTO_CHANNEL_CLOSED.
 *
 * Secrets (ephemeral private key, shared secret, direction keys) live in
 * eml_secure_alloc memory; the private key and shared secret are wiped as
 * soon as the keys exist. A channel is not thread-safe: one thread (or a
 * lock) per channel.
 */
#ifndef EML_CHANNEL_H
#define EML_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_envelope.h"
#include "eml_err.h"

#define EML_CHANNEL_TAG_LEN 16u
#define EML_CHANNEL_HASH_LEN 32u
#define EML_CHANNEL_SESSION_ID_LEN 16u

struct eml_channel;

/*
 * Client, step 1: fresh X25519 key pair and 32-byte nonce; append the
 * encoded ClientHello to hello (the body of a CLIENT_HELLO envelope).
 * *out is owned by the caller (eml_channel_free). Returns EML_OK,
 * EML_ERR_NOMEM, EML_ERR_CRYPTO, EML_ERR_PROTO_TOO_LARGE (hello's ceiling).
 */
eml_err eml_channel_client_new(struct eml_channel **out, struct eml_buf *hello) EML_MUST_USE;
/* The nonce the attestation document must carry. EML_ERR_CRYPTO_STATE on
 * a server channel. */
eml_err eml_channel_client_nonce(const struct eml_channel *ch,
    uint8_t nonce[EML_HELLO_NONCE_LEN]) EML_MUST_USE;
/*
 * Client, step 2, only after the attestation document inside att_resp
 * verified: att_resp is the exact body of the ATTESTATION_RESPONSE
 * envelope, agent_pk the document's public_key. Returns EML_OK,
 * EML_ERR_CRYPTO_KEY (low-order agent key: all-zero shared secret),
 * EML_ERR_CRYPTO_STATE, EML_ERR_CRYPTO_CHANNEL_CLOSED. Any failure closes.
 */
eml_err eml_channel_client_finish(struct eml_channel *ch, const uint8_t *att_resp, size_t n,
    const uint8_t agent_pk[EML_X25519_KEY_LEN]) EML_MUST_USE;

/*
 * Agent, step 1: decode and check the ClientHello body, make the agent key
 * pair and the shared secret. client_nonce and agent_pk are what the NSM
 * attestation request must carry. *out is owned by the caller. Returns
 * EML_OK, EML_ERR_PROTO_DECODE / EML_ERR_PROTO_FIELD / EML_ERR_PROTO_TOO_LARGE
 * (bad hello), EML_ERR_CRYPTO_KEY (low-order client key), EML_ERR_NOMEM.
 */
eml_err eml_channel_server_new(struct eml_channel **out, const uint8_t *hello, size_t n,
    uint8_t client_nonce[EML_HELLO_NONCE_LEN], uint8_t agent_pk[EML_X25519_KEY_LEN]) EML_MUST_USE;
/*
 * Agent, step 2: wrap the attestation document in an AttestationResponse,
 * append its encoding to att_resp (the body to send) and derive the keys
 * over exactly those bytes. Returns EML_OK, EML_ERR_PROTO_FIELD (empty
 * document), EML_ERR_PROTO_TOO_LARGE, EML_ERR_CRYPTO_STATE, EML_ERR_NOMEM.
 * Any failure closes.
 */
eml_err eml_channel_server_finish(struct eml_channel *ch, const uint8_t *doc, size_t doc_len,
    struct eml_buf *att_resp) EML_MUST_USE;

/*
 * Seal n plaintext bytes for an envelope with header hdr (version, type,
 * request id; its body is ignored) and append n + 16 bytes of ciphertext to
 * out, which becomes the envelope body. The type must be a sealed type.
 * Returns EML_OK, EML_ERR_PROTO_MSG_TYPE, EML_ERR_PROTO_VERSION,
 * EML_ERR_PROTO_TOO_LARGE (out's ceiling), EML_ERR_CRYPTO_COUNTER,
 * EML_ERR_CRYPTO_STATE, EML_ERR_CRYPTO_CHANNEL_CLOSED, EML_ERR_NOMEM.
 * Failures other than EML_ERR_NULL close the channel.
 */
eml_err eml_channel_seal(struct eml_channel *ch, const struct eml_envelope *hdr,
    const uint8_t *pt, size_t n, struct eml_buf *out) EML_MUST_USE;
/*
 * The same seal where the plaintext lies: buf's bytes from off to its end
 * become their ciphertext and buf grows by the 16-byte tag (reserve room
 * first and nothing moves). No second buffer of the message's size. Same
 * errors; on failure those bytes are wiped and buf->len is back to off.
 */
eml_err eml_channel_seal_in_place(struct eml_channel *ch, const struct eml_envelope *hdr,
    struct eml_buf *buf, size_t off) EML_MUST_USE;
/*
 * Open env->body (sealed by the peer for this header) and append the
 * plaintext to out; use a secure buffer (eml_buf_init_secure) for it.
 * Returns EML_OK, EML_ERR_CRYPTO_AUTH (altered, replayed, reordered,
 * truncated, reflected, wrong key), EML_ERR_PROTO_MSG_TYPE,
 * EML_ERR_PROTO_VERSION, EML_ERR_PROTO_TOO_LARGE, EML_ERR_CRYPTO_COUNTER,
 * EML_ERR_CRYPTO_STATE, EML_ERR_CRYPTO_CHANNEL_CLOSED. Failures other than
 * EML_ERR_NULL close the channel; out->len is then unchanged.
 */
eml_err eml_channel_open(struct eml_channel *ch, const struct eml_envelope *env,
    struct eml_buf *out) EML_MUST_USE;

/*
 * The same open where the ciphertext lies: body must be env->body (the
 * caller's writable copy of it, e.g. the frame buffer the envelope is a
 * view of). On EML_OK body[0..*pt_len) is the plaintext (*pt_len =
 * env->body_len - 16) and the tag bytes after it are left as they were;
 * no buffer of the message's size is allocated. On failure the body bytes
 * are wiped (a partly decrypted frame never stays) and the channel closes
 * as for eml_channel_open. Same errors; EML_ERR_NULL when body is not
 * env->body.
 */
eml_err eml_channel_open_in_place(struct eml_channel *ch, const struct eml_envelope *env,
    uint8_t *body, size_t *pt_len) EML_MUST_USE;
/*
 * The same, with fn shown each piece of the ciphertext (before the tag,
 * in order, pieces of 256 KiB) just before that piece is decrypted over:
 * whoever hashes the ciphertext (the agent's exchange hash) does it in
 * the same pass while the piece is in the cache. fn returning non-zero
 * fails the open as a wrong tag does (EML_ERR_CRYPTO_AUTH, body wiped).
 */
typedef int (*eml_channel_ct_fn)(void *arg, const uint8_t *ct, size_t n);
eml_err eml_channel_open_in_place_x(struct eml_channel *ch, const struct eml_envelope *env,
    uint8_t *body, size_t *pt_len, eml_channel_ct_fn fn, void *arg) EML_MUST_USE;

/*
 * The seal in steps, for a message sent while it is being sealed: begin
 * with the envelope's header fields; update seals the next n plaintext
 * bytes from p to w (w may equal p), in order; final gives the 16-byte
 * tag that follows the ciphertext and advances the counter. Any other
 * seal meanwhile, a step out of order or a failure closes the channel;
 * so does eml_channel_seal_abort while one is under way (a no-op
 * otherwise). The ciphertext equals eml_channel_seal's for the same
 * plaintext (test_channel).
 */
eml_err eml_channel_seal_begin(struct eml_channel *ch, const struct eml_envelope *hdr)
    EML_MUST_USE;
eml_err eml_channel_seal_update(struct eml_channel *ch, const uint8_t *p, size_t n, uint8_t *w)
    EML_MUST_USE;
eml_err eml_channel_seal_final(struct eml_channel *ch, uint8_t tag[EML_CHANNEL_TAG_LEN])
    EML_MUST_USE;
void eml_channel_seal_abort(struct eml_channel *ch);

/*
 * The in-place open in steps, for a frame whose ciphertext is still
 * arriving: begin with the envelope's header fields (version, type,
 * request_id; its body is not read) and the sealed body's length (tag
 * included); update decrypts the next n ciphertext bytes in place, in
 * order, up to body_len - 16 in all; final checks the tag (the body's
 * last 16 bytes) once all of them went through update. NOTHING update
 * wrote may be used before final returns EML_OK: on any failure (and
 * after eml_channel_open_abort, for a frame that will never complete)
 * the caller wipes what update wrote and the session ends. Errors as
 * eml_channel_open, plus EML_ERR_CRYPTO_STATE for a step out of order
 * (begin while one is under way, more bytes than announced, final before
 * all of them; any other open meanwhile). Every failure closes the
 * channel; so does abort while a begin is pending (a no-op otherwise).
 */
eml_err eml_channel_open_begin(struct eml_channel *ch, const struct eml_envelope *hdr,
    size_t body_len) EML_MUST_USE;
eml_err eml_channel_open_update(struct eml_channel *ch, uint8_t *p, size_t n) EML_MUST_USE;
eml_err eml_channel_open_final(struct eml_channel *ch, const struct eml_envelope *hdr,
    const uint8_t tag[EML_CHANNEL_TAG_LEN]) EML_MUST_USE;
void eml_channel_open_abort(struct eml_channel *ch);

/* Whether seal/open can still be used (keys derived, no failure). */
bool eml_channel_is_open(const struct eml_channel *ch);
/* SHA-256 transcript hash (PROTOCOL.md §4) and a 16-byte session id
 * derived from the keys, for evidence that binds a session to its
 * attestation. EML_ERR_CRYPTO_STATE before the keys exist or after close. */
eml_err eml_channel_transcript_hash(const struct eml_channel *ch,
    uint8_t out[EML_CHANNEL_HASH_LEN]) EML_MUST_USE;
eml_err eml_channel_session_id(const struct eml_channel *ch,
    uint8_t out[EML_CHANNEL_SESSION_ID_LEN]) EML_MUST_USE;
/* End the channel: wipe every secret. Later calls return
 * EML_ERR_CRYPTO_CHANNEL_CLOSED. */
void eml_channel_close(struct eml_channel *ch);
/* Close and release. NULL is allowed. */
void eml_channel_free(struct eml_channel *ch);

/* Tests only: set the next send and receive counters, to reach the end of
 * the counter space. */
void eml_channel_test_set_counters(struct eml_channel *ch, uint64_t send, uint64_t recv);
/* Tests only: where the channel's secrets block is, and how many
 * channels took the kept (spare) one so far. */
const void *eml_channel_test_secrets(const struct eml_channel *ch);
uint64_t eml_channel_test_spare_taken(void);

#endif
