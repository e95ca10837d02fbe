/*
 * eml-proxy, the server (DESIGN §7): listeners, the agent pool and its
 * health checks, one relay thread per client, the admin endpoint, the
 * audit log, privilege drop, and a draining shutdown.
 *
 * Concurrency model: one thread per client connection (it owns both
 * sockets and runs eml_relay_run's poll loop), plus one accept loop, one
 * health-check thread and one admin thread. A thread per connection keeps
 * every deadline and every blocking disk read (pread of a blob range)
 * local to the connection it belongs to; the number of threads is bounded
 * by --max-clients, and past it a client gets a BUSY Error frame at once.
 */
#ifndef EML_PROXY_H
#define EML_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_upstream.h"
#include "eml_err.h"
#include "eml_jobs.h"

struct eml_proxy_config {
	const char *listen;                    /* tcp:HOST:PORT, tcp:[V6]:PORT or unix:PATH */
	const char *agents[EML_UPSTREAMS_MAX];    /* vsock: or unix: addresses */
	size_t nagents;
	const char *weights;                   /* store directory */
	const char *admin;                     /* loopback tcp address, or NULL */
	const char *audit;                     /* audit log path, or NULL */
	const char *user;                      /* --user, NULL when not given */
	unsigned max_clients;
	unsigned max_per_peer;                 /* per client address, 0 = no limit */
	unsigned max_handshake_per_peer;       /* of those, before the attestation
						* response (0 = no limit) */
	size_t frame_max;
	int64_t handshake_ms;
	int64_t idle_ms;
	int64_t request_ms;
	int64_t frame_ms;
	int64_t connect_ms;
	int64_t drain_ms;
	int64_t health_ms;
	unsigned rise;
	unsigned fall;
	bool health_ping;                      /* false: connect-only probe */
	bool no_seccomp;                       /* skip the syscall allowlist */
	bool audit_serve;                      /* --audit-failure serve: keep serving
						* when the audit log cannot be written */
	bool audit_sync_every;                 /* --audit-sync every (else interval) */
	const char *jobs;                      /* queue URL, NULL: no job API */
	struct eml_jobs_config job;            /* job.listen etc. when jobs is set */
	/* operator controls (docs/PROXY.md "Operator controls") */
	const char *api_keys;                  /* key file: every client needs a key */
	unsigned rate_limit;                   /* requests per minute per address, 0 = none */
	bool kill_switch;                      /* start with the kill switch on */
	const char *allow_models[256];         /* --allow-model: baseline-only from the start */
	size_t n_allow_models;
	const char *admin_token_file;          /* Bearer token for the admin POSTs */
	bool strict_artifacts;                 /* serve only blobs with a signature file
						* (naming one of signers when given) */
	const char *signers;                   /* allowed signers' key ids, or NULL */
	const char *tls_cert;                  /* PEM chain for the client listener */
	const char *tls_key;                   /* its private key */
	/* test hooks */
	long tamper_frame;
	long replay_frame;
	const char *capture;
};

/* Defaults for every field (listen, agents and weights stay unset). */
void eml_proxy_config_defaults(struct eml_proxy_config *c);

/*
 * Check that an admin address is a loopback TCP literal (127.0.0.0/8 or
 * [::1]). EML_OK or EML_ERR_CONFIG.
 */
eml_err eml_proxy_check_admin_addr(const char *addr) EML_MUST_USE;

/*
 * Run the proxy until SIGTERM or SIGINT, then stop accepting, let
 * in-flight requests finish for up to drain_ms, close the rest and return
 * EML_OK. Start-up errors: EML_ERR_CONFIG, EML_ERR_ADDR, EML_ERR_LISTEN,
 * EML_ERR_FILE (store or audit log), EML_ERR_PRIVDROP, EML_ERR_NOMEM.
 * Must be called from the main thread before any other thread exists.
 */
eml_err eml_proxy_run(const struct eml_proxy_config *c) EML_MUST_USE;

#endif
