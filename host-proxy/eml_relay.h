/*
 * One relayed connection: a client socket and the agent socket opened for
 * it (DESIGN §3 step 3), pumped both ways until either side ends.
 *
 * The relay never opens a body. Of each frame it reads the 4-byte length
 * (checked against the frame limit before anything else) and the Envelope
 * header (eml_wire_peek), then streams the rest through a fixed window of
 * EML_RELAY_CHUNK bytes per direction: a connection costs two windows and
 * two small header buffers however large its frames are, and at most one
 * frame per direction is in flight.
 *
 * It does read and answer two things itself, both plaintext by design
 * (DESIGN §4): BLOB_REQUEST frames from the agent, answered from the
 * weight store by streaming the asked range from disk (never relayed to
 * the client), and the Error code of an agent's ERROR frame, for the
 * audit log.
 *
 * Deadlines (all per connection, on the monotonic clock):
 * - handshake: the agent's ATTESTATION_RESPONSE must have been relayed
 *   within handshake_ms of the start (a silent client is dropped);
 * - idle: with no request outstanding, no byte may move for idle_ms;
 * - request: with a request outstanding, the agent may stay silent for at
 *   most request_ms (inference takes time; blob fetches count as
 *   activity);
 * - frame: once a frame's first byte is read, it must be wholly read and
 *   written within frame_ms (a slow-drip peer cannot hold a slot), and the
 *   same bound holds for every frame the proxy writes itself.
 *
 * Test hooks (off unless set; the binary prints a loud warning): tamper
 * flips the lowest bit of the last byte of the N-th client->agent frame;
 * replay sends the N-th client->agent frame twice; capture appends every
 * byte written to either peer to a file.
 */
#ifndef EML_RELAY_H
#define EML_RELAY_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_admin.h"
#include "eml_audit.h"
#include "eml_controls.h"
#include "eml_err.h"
#include "eml_store.h"

#define EML_RELAY_CHUNK (128u * 1024u)

/* Shared by every connection of a proxy; read-only while relaying. */
struct eml_relay_env {
	size_t frame_max;
	int64_t handshake_ms;
	int64_t idle_ms;
	int64_t request_ms;
	int64_t frame_ms;
	struct eml_store *store;       /* NULL: every BLOB_REQUEST gets an error */
	struct eml_audit *audit;       /* NULL: no audit lines */
	struct eml_proxy_stats *stats; /* required */
	atomic_bool *draining;         /* NULL or set: finish at the next idle point */
	atomic_bool *stop;             /* NULL or set: end now */
	/* Called once, on the relaying thread, when the agent's attestation
	 * response has been relayed (the handshake phase is over); NULL: not
	 * called. */
	void (*on_handshake)(const char *peer);
	/* true: a request that arrives while the audit log cannot be written
	 * ends the connection with EML_ERR_AUDIT_DOWN (fail closed) */
	bool audit_fail_closed;
	struct eml_controls *ctl;      /* NULL: no kill switch, limits or allowlist */
	int64_t drain_ms;              /* kill switch: in-flight requests cut after this */
	bool strict_artifacts;         /* serve only blobs whose signature state is signed */
	const struct eml_signers *signers; /* NULL: any well-formed signature file */
	/* test hooks */
	long tamper_frame;             /* 0 = off */
	long replay_frame;             /* 0 = off */
	int capture_fd;                /* -1 = off */
	pthread_mutex_t *capture_mu;   /* required when capture_fd >= 0 */
};

/*
 * Relay between cfd (client) and afd (agent) until the session ends.
 * Both descriptors are switched to non-blocking mode; neither is closed.
 * When the proxy ends the connection for a reason the client should know
 * (deadline, protocol error, agent lost) and no partial frame has been
 * sent to the client, it first sends an Error frame with that code.
 * Writes one "request" audit line per answered request and one "conn"
 * line at the end. peer and agent are for logs only.
 *
 * Returns the reason the session ended: EML_OK (a side closed cleanly at a
 * frame boundary, or drained), EML_ERR_IO_TIMEOUT (a deadline),
 * EML_ERR_AGENT_LOST (the agent went away with a request outstanding or
 * inside a frame), EML_ERR_PROTO_* (a malformed or misdirected frame from
 * either side), EML_ERR_IO, EML_ERR_NOMEM.
 */
eml_err eml_relay_run(const struct eml_relay_env *env, int cfd, int afd, const char *peer,
    const char *agent) EML_MUST_USE;

/*
 * The same for a client the proxy has already read the hello of
 * (eml_proxy.c checks its API key first): first / first_len is that frame,
 * as it must reach the agent (key removed), relayed before anything else
 * is read from cfd. id names the client in audit lines and charges its
 * requests to the right buckets (env->ctl): each INFER_REQUEST and
 * EVIDENCE_REQUEST is admitted or refused (kill switch, rate limits, a
 * key withdrawn since the hello) before its first byte reaches the agent;
 * a refused one is read to its end and discarded, the client gets an
 * Error frame with the code (and a retry-after hint for rate limits) and
 * the session ends. A BLOB_REQUEST for a model outside the baseline-only
 * allowlist ends the session the same way with EML_ERR_MODEL_BLOCKED.
 */
struct eml_relay_client {
	const char *peer;
	const char *agent;
	const struct eml_client_id *id; /* NULL: anonymous, no buckets */
	const uint8_t *first;
	size_t first_len;
};

eml_err eml_relay_run_client(const struct eml_relay_env *env, int cfd, int afd,
    const struct eml_relay_client *cl) EML_MUST_USE;

#endif
