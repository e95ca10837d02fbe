/*
 * Transports (DESIGN §8): one interface for
 *
 *   vsock:CID:PORT     CID and PORT decimal 32-bit (4294967295 = any)
 *   unix:PATH          at most 107 bytes, the sun_path limit
 *   tcp:HOST:PORT      HOST a name or IPv4 literal, or [IPv6] in brackets;
 *                      PORT decimal 0..65535 (0 only to listen)
 *
 * Parsing is strict: no empty parts, signs, spaces, leading zeros or
 * trailing junk; an unbracketed IPv6 literal is an error. Every descriptor
 * returned is close-on-exec and in blocking mode (the eml_io helpers add
 * deadlines on top). TCP connections get TCP_NODELAY: the protocol is
 * request/response and Nagle would delay small frames.
 */
#ifndef EML_TRANSPORT_H
#define EML_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

enum eml_addr_kind {
	EML_ADDR_VSOCK = 1,
	EML_ADDR_UNIX = 2,
	EML_ADDR_TCP = 3,
};

#define EML_ADDR_HOST_MAX 253u   /* DNS name limit */
#define EML_ADDR_PATH_MAX 107u   /* sizeof(sun_path) - 1 */
#define EML_ADDR_STR_MAX 300u    /* enough for eml_addr_format of any address */
#define EML_VSOCK_CID_ANY 4294967295u

struct eml_addr {
	enum eml_addr_kind kind;
	uint32_t cid;  /* vsock */
	uint32_t port; /* vsock (32-bit) and tcp (16-bit) */
	bool v6;       /* tcp: host was written [in brackets] */
	char host[EML_ADDR_HOST_MAX + 1];
	char path[EML_ADDR_PATH_MAX + 1];
};

/* Parse s into *out. EML_OK or EML_ERR_ADDR with a detail saying what is
 * wrong (the detail quotes at most the first 64 characters of s). */
eml_err eml_addr_parse(const char *s, struct eml_addr *out) EML_MUST_USE;
/* The canonical text form ("tcp:[::1]:8080"), always NUL-terminated,
 * truncated to n - 1 bytes. For logs. */
void eml_addr_format(const struct eml_addr *a, char *dst, size_t n);

/*
 * Bind and listen (backlog 128). tcp sets SO_REUSEADDR. unix: if the path
 * exists and is a socket nobody accepts on (connect is refused), it is a
 * stale leftover and is removed; a live socket or a non-socket file is
 * never removed (EML_ERR_LISTEN). The listening descriptor is
 * non-blocking so accept never hangs. Returns EML_OK with *fd,
 * EML_ERR_LISTEN, EML_ERR_RESOLVE, EML_ERR_ADDR_FAMILY (e.g. no vsock).
 */
eml_err eml_transport_listen(const struct eml_addr *a, int *fd) EML_MUST_USE;

/* The address a listening or connected descriptor is bound to, in the
 * family of like (for tcp port 0: the port the kernel picked). */
eml_err eml_transport_local_addr(int fd, const struct eml_addr *like,
    struct eml_addr *out) EML_MUST_USE;

/* Wait for and accept one connection. EML_OK with *fd,
 * EML_ERR_IO_TIMEOUT, EML_ERR_IO. */
eml_err eml_transport_accept(int lfd, int64_t deadline, int *fd) EML_MUST_USE;

/*
 * Connect, giving up at deadline (absolute, eml_io.h). tcp tries every
 * resolved address in turn. Name resolution itself is not bounded by the
 * deadline (getaddrinfo has no timeout); use literals where that matters.
 * Returns EML_OK with *fd, EML_ERR_ADDR (port 0), EML_ERR_RESOLVE,
 * EML_ERR_ADDR_FAMILY, EML_ERR_CONNECT, EML_ERR_IO_TIMEOUT.
 */
eml_err eml_transport_connect(const struct eml_addr *a, int64_t deadline, int *fd) EML_MUST_USE;

/* "tcp:1.2.3.4:5678", "vsock:3:5000", "unix:" for the peer of a connected
 * descriptor; "unknown" when it cannot be told. For logs. */
void eml_transport_peer_string(int fd, char *dst, size_t n);

#endif
