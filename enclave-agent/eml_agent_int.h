/* Private to the agent's files: the agent object and its attestation
 * producer. */
#ifndef EML_AGENT_INT_H
#define EML_AGENT_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "attestation/eml_attest_producer.h"
#include "eml_agent.h"

struct eml_arena;

struct eml_agent {
	struct eml_agent_config cfg;
	int lfd;
	pthread_mutex_t mu; /* guards active and sessions */
	pthread_cond_t cv;
	unsigned active;   /* connections being served */
	unsigned sessions; /* of those, past CLIENT_HELLO (max_sessions) */
	/* Session threads that ended a session and wait a moment for the
	 * next connection (EML_AGENT_IDLE_MAX, EML_AGENT_IDLE_MS): handed
	 * over in handoff_fd (-1: none) with idle_cv, so the next session
	 * starts without a thread created on its path. Guarded by mu;
	 * stopping (set when serve drains) sends them away. */
	pthread_cond_t idle_cv;
	unsigned idle;
	int handoff_fd;
	bool stopping;
	uint64_t threads_started, threads_reused; /* eml_agent_thread_stats */
	/* One wiped, empty session arena kept from an ended session for the
	 * next (eml_arena_recycle); guarded by mu. NULL: none. */
	struct eml_arena *spare_arena;
	bool sync_ok;
	/* One producer for all sessions; calls are serialised by attest_mu
	 * (the NSM device takes one request at a time anyway). */
	pthread_mutex_t attest_mu;
	bool attest_ok;
	struct eml_attest_producer producer;
	/* Evidence signing key, made at start-up; the secret half lives in
	 * eml_secure_alloc memory and never leaves (eml_agent_evidence.c). */
	uint8_t *ev_sk;
	uint8_t ev_pk[32];
	uint8_t *job_sk; /* 32 bytes, eml_secure_alloc */
	uint8_t job_pk[32];
};

/* Connections beyond max_sessions that are still accepted (max_sessions
 * more, at least 4), so that a health probe (PING, or connect and close)
 * is answered when every session is taken, and connections still on
 * their way to a hello (a slow client relayed by the proxy) do not push a
 * real client out: a connection holds a session slot only from its
 * CLIENT_HELLO on. */
#define EML_AGENT_PROBE_RESERVE(max) ((max) > 4u ? (max) : 4u)

/* Idle session threads kept, and how long one waits for a connection. */
#define EML_AGENT_IDLE_MAX 2u
#define EML_AGENT_IDLE_MS 2000

/* Take a session slot for a connection that sent CLIENT_HELLO; false when
 * all max_sessions are taken. */
bool eml_agent_session_take(struct eml_agent *a);
void eml_agent_session_release(struct eml_agent *a);

/* A session's arena: the spare when there is one, else a new one. */
eml_err eml_agent_arena_take(struct eml_agent *a, struct eml_arena **out) EML_MUST_USE;
/* An ended session's arena: wiped whole and kept as the spare when it is
 * small and the slot is free, else wiped and freed. */
void eml_agent_arena_give(struct eml_agent *a, struct eml_arena *arena);
/* Largest committed size a spare may keep (the first commits). */
#define EML_AGENT_SPARE_KEEP ((size_t)4 << 20)

/* Sealed requests up to this size are opened out of place and their
 * exchange hash is computed after the answer is sent (on_infer). */
#define EML_AGENT_LATE_HASH_MAX ((size_t)1 << 20)

/* Load or make the job key pair. */
eml_err eml_agent_job_key_open(struct eml_agent *a) EML_MUST_USE;

/* Open the configured producer (and seed the RNG from it for nsm). */
eml_err eml_agent_attest_open(struct eml_agent *a) EML_MUST_USE;
void eml_agent_attest_close(struct eml_agent *a);
/* The producer's background work (the simulator's precomputed signature
 * nonces), started by eml_agent_serve: its thread is created after the
 * caller installed the seccomp filter, so it inherits it. */
void eml_agent_attest_start(struct eml_agent *a);
/* The simulator's next signature nonce made now (an idle moment: not
 * while a client verifies the last document); nothing for the NSM. */
void eml_agent_attest_refill(struct eml_agent *a);
/* A document binding user_data = policy digest, nonce, public_key,
 * appended to doc. Serialised across sessions. */
eml_err eml_agent_attest(struct eml_agent *a, const uint8_t *nonce, size_t nonce_len,
    const uint8_t *public_key, size_t public_key_len, struct eml_buf *doc) EML_MUST_USE;

#endif
