/*
 * eml-agent: the enclave side of EphemeralML (DESIGN §3 steps 4-7).
 *
 * One session per relayed client connection, each on its own thread, at
 * most max_sessions at a time; a connection past the bound gets a plain
 * Error frame with EML_ERR_BUSY and is closed at once, so a client sees a
 * clear "busy" instead of a hang.
 *
 * Session life (docs/ARCHITECTURE.md):
 *   HELLO        CLIENT_HELLO -> attestation document (nonce = client
 *                nonce, public_key = fresh X25519 key, user_data = policy
 *                digest) -> keys bound to the transcript.  PING allowed.
 *   ESTABLISHED  sealed INFER_REQUEST, JOB_KEY_REQUEST, CLOSE; plain PING.  While a request
 *                runs the agent sends BLOB_REQUESTs and accepts only
 *                BLOB_RESPONSE / ERROR from the host.
 *   JOB          a host connection that starts with plain JOB_RUN (a job
 *                sealed to the job key): the agent opens it, runs it,
 *                answers JOB_DONE (the result sealed to the job's reply
 *                key); further JOB_RUNs may follow.
 *   CLOSED       anything else, any failure to open a sealed frame, or an
 *                unknown type ends the session.
 */
#ifndef EML_AGENT_H
#define EML_AGENT_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/eml_manifest.h"
#include "eml_err.h"
#include "eml_transport.h"

enum eml_agent_producer {
	EML_AGENT_ATTEST_NSM = 1,
	EML_AGENT_ATTEST_SIM = 2,
};

struct eml_agent_config {
	struct eml_addr listen;
	enum eml_agent_producer producer;
	const char *sim_dir;       /* sim: directory of the simulator CA */
	/* sim: JSON with the PCRs to report ({"Measurements": {"PCR0": hex,
	 * ...}} as `eml image measure --json` writes, or {"PCR0": hex, ...}),
	 * so a local run can stand in for a given enclave image. NULL: the
	 * simulator's defaults. */
	const char *sim_pcrs;
	int threads;               /* engine threads per request (>= 1) */
	unsigned max_sessions;     /* concurrent sessions (>= 1) */
	size_t frame_max;          /* EML_FRAME_MAX_DEFAULT unless set */
	int64_t idle_timeout_ms;   /* wait for the next client message */
	int64_t host_timeout_ms;   /* wait for a blob answer from the host */
	/* sim only, for tests: the evidence clock (session times and the
	 * evidence attestation document) runs this far from real time. */
	int64_t sim_evidence_offset_ms;
	/* Job key (docs/PROTOCOL.md section 6): a file holding the 32-byte
	 * X25519 secret shared by the agents of one fleet, so a job sealed
	 * to it can be retried on any of them; NULL: a fresh key per start
	 * (jobs then only run on this agent process). */
	const char *job_key_path;
	struct eml_manifest policy;
};

/* Defaults for everything but listen, producer and policy. */
void eml_agent_config_defaults(struct eml_agent_config *cfg);

struct eml_agent;

/*
 * Create an agent: opens the attestation producer, binds the listener.
 * On success the agent owns cfg->policy's publisher keys (released by
 * eml_agent_free). Returns EML_OK with *out, EML_ERR_LISTEN,
 * EML_ERR_ADDR_FAMILY, an attestation error, EML_ERR_NOMEM.
 */
eml_err eml_agent_new(const struct eml_agent_config *cfg, struct eml_agent **out) EML_MUST_USE;

/* The address the listener is bound to (tcp port 0 resolved). */
void eml_agent_local_addr(const struct eml_agent *a, char *dst, size_t n);

/*
 * Accept and serve until *stop becomes nonzero (checked at least every
 * 200 ms), then stop accepting and wait for running sessions to end.
 * First starts the producer's background thread (sim: precomputed
 * signature nonces): call it after installing the seccomp filter, which
 * that thread then inherits. Returns EML_OK, or EML_ERR_IO when accepting
 * fails for good.
 */
eml_err eml_agent_serve(struct eml_agent *a, volatile sig_atomic_t *stop) EML_MUST_USE;

/* Serve one already-accepted connection on the calling thread (tests,
 * and what each session thread runs). Closes fd. Returns the code the
 * session ended with (EML_OK for a clean close or EOF). */
eml_err eml_agent_session(struct eml_agent *a, int fd) EML_MUST_USE;

void eml_agent_free(struct eml_agent *a);

/* Session threads so far: created (started), connections handed to a
 * thread that ended its last session (reused), and those waiting now
 * (idle). Any may be NULL. */
void eml_agent_thread_stats(struct eml_agent *a, uint64_t *started, uint64_t *reused,
    unsigned *idle);

/* Test hook (NULL: none, the default): fn runs on the session's thread
 * after each inference request is answered and what it assembled is
 * destroyed, with the session's arena current (eml_arena_current). */
void eml_agent_set_request_hook(void (*fn)(void *arg), void *arg);
/* Test hook (NULL: none): fn runs just before a request's sealed body is
 * hashed into the session's exchange hash on the session's hash thread
 * (not for bodies hashed on the session's own thread). */
void eml_agent_set_exchange_hook(void (*fn)(void *arg), void *arg);

/*
 * Whether cfg->max_sessions sessions at once fit this process's limits:
 * vm.max_map_count (read from map_count_path, NULL for the real one),
 * RLIMIT_AS, RLIMIT_NOFILE (the soft limit is raised when the hard one
 * allows). Returns EML_OK or EML_ERR_CONFIG with a detail that says what
 * to raise. A low RLIMIT_MEMLOCK is logged, not refused.
 */
eml_err eml_agent_check_limits(const struct eml_agent_config *cfg,
    const char *map_count_path) EML_MUST_USE;
/* Mappings one session may cost at most. */
size_t eml_agent_mappings_per_session(const struct eml_agent_config *cfg);

#endif
