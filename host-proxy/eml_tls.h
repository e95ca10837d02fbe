/*
 * TLS on the proxy's client listener (--tls-cert, --tls-key; docs/PROXY.md
 * "TLS"). It protects what the proxy itself reads from the client - the
 * API key in the hello and the connection metadata - on the network; the
 * inner channel stays end to end between client and enclave either way.
 *
 * The relay works on plain descriptors. A TLS client gets a pump thread
 * that runs the handshake (within the handshake deadline) and then moves
 * plaintext between the TLS connection and one end of a socket pair; the
 * connection thread reads the hello and relays on the other end exactly as
 * for a plain client. Either side closing ends both.
 */
#ifndef EML_TLS_H
#define EML_TLS_H

#include <stdint.h>

#include "eml_err.h"

struct eml_tls_server;

/* Load the certificate chain and private key (PEM files), TLS 1.2 and
 * newer, no session tickets. EML_ERR_FILE (unreadable), EML_ERR_CONFIG
 * (not a certificate, key does not match), EML_ERR_NOMEM. */
eml_err eml_tls_server_new(const char *cert, const char *key,
    struct eml_tls_server **out) EML_MUST_USE;
void eml_tls_server_free(struct eml_tls_server *s);

struct eml_tls_pump;

/*
 * Take over the accepted socket fd: start the pump thread and return the
 * plaintext end in *plain (the caller closes it when done, which ends the
 * pump). The handshake must finish by deadline (monotonic ms) or the pump
 * closes its end. EML_ERR_IO (no socket pair or thread), EML_ERR_NOMEM; on
 * failure fd is still the caller's.
 */
eml_err eml_tls_pump_start(struct eml_tls_server *s, int fd, int64_t deadline, int *plain,
    struct eml_tls_pump **out) EML_MUST_USE;
/* Wait for the pump to end (after the caller closed *plain) and free it;
 * closes fd. */
void eml_tls_pump_join(struct eml_tls_pump *p);

#endif
