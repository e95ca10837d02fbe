/*
 * libeml over TLS to the proxy (eml_client_set_tls): the certificate must
 * chain to the given CA file and name the proxy (DNS name or IP address).
 * TLS carries the frames of the protocol unchanged; the inner channel to
 * the enclave is the same with or without it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "client/sdk/eml_sdk_int.h"
#include "eml_frame.h"
#include "eml_io.h"

static void
tls_detail(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160];

	ERR_error_string_n(e, buf, sizeof(buf));
	eml_err_set_detail("%s: %s", what, e != 0 ? buf : "failed");
	ERR_clear_error();
}

/* Wait for what the last SSL call asked for, by deadline. */
static eml_err
tls_wait(struct eml_client *c, int r, int64_t deadline)
{
	int e = SSL_get_error(c->ssl, r);

	if (e == SSL_ERROR_WANT_READ)
		return eml_io_wait(c->fd, POLLIN, deadline);
	if (e == SSL_ERROR_WANT_WRITE)
		return eml_io_wait(c->fd, POLLOUT, deadline);
	if (e == SSL_ERROR_ZERO_RETURN || (e == SSL_ERROR_SYSCALL && ERR_peek_error() == 0)) {
		ERR_clear_error();
		eml_err_set_detail("the proxy closed the TLS connection");
		EML_BAIL(EML_ERR_IO_EOF);
	}
	tls_detail("TLS");
	EML_BAIL(EML_ERR_TLS);
}

eml_err
eml_sdk_tls_start(struct eml_client *c, const char *ca_file, const char *name)
{
	const char *host = name != NULL && name[0] != '\0' ? name : c->host;
	int64_t deadline = eml_deadline_in_ms(c->timeout_ms);
	unsigned char ip[16];
	bool is_ip;
	long vr;

	EML_ENSURE(ca_file != NULL, EML_ERR_USAGE);
	if (c->ssl != NULL) {
		eml_err_set_detail("TLS is already on");
		EML_BAIL(EML_ERR_USAGE);
	}
	c->tls_ctx = SSL_CTX_new(TLS_client_method());
	EML_ENSURE(c->tls_ctx != NULL, EML_ERR_NOMEM);
	(void)SSL_CTX_set_min_proto_version(c->tls_ctx, TLS1_2_VERSION);
	SSL_CTX_set_verify(c->tls_ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(c->tls_ctx, ca_file, NULL) != 1) {
		tls_detail(ca_file);
		EML_BAIL(EML_ERR_FILE);
	}
	c->ssl = SSL_new(c->tls_ctx);
	EML_ENSURE(c->ssl != NULL, EML_ERR_NOMEM);
	is_ip = inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1;
	/* the name the certificate must carry: an IP address entry for an
	 * address, a DNS name (and SNI) otherwise */
	if (is_ip ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host) != 1 :
		    (SSL_set1_host(c->ssl, host) != 1 ||
			SSL_set_tlsext_host_name(c->ssl, host) != 1)) {
		tls_detail("TLS name");
		EML_BAIL(EML_ERR_USAGE);
	}
	if (SSL_set_fd(c->ssl, c->fd) != 1)
		EML_BAIL(EML_ERR_NOMEM);
	SSL_set_mode(c->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	EML_GUARD(eml_io_set_nonblock(c->fd, 1));
	for (;;) {
		int r = SSL_connect(c->ssl);

		if (r == 1)
			break;
		vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK) {
			ERR_clear_error();
			eml_err_set_detail("the proxy's certificate does not verify for %s: %s", host,
			    X509_verify_cert_error_string(vr));
			EML_BAIL(EML_ERR_TLS);
		}
		EML_GUARD(tls_wait(c, r, deadline));
	}
	return EML_OK;
}

void
eml_sdk_tls_free(struct eml_client *c)
{
	if (c->ssl != NULL) {
		(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
		c->ssl = NULL;
	}
	SSL_CTX_free(c->tls_ctx);
	c->tls_ctx = NULL;
	ERR_clear_error();
}

static eml_err
tls_write_all(struct eml_client *c, const uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		int w = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);

		if (w > 0) {
			p += w;
			n -= (size_t)w;
			continue;
		}
		EML_GUARD(tls_wait(c, w, deadline));
	}
	return EML_OK;
}

static eml_err
tls_read_all(struct eml_client *c, uint8_t *p, size_t n, int64_t deadline)
{
	while (n > 0) {
		int r = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);

		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		EML_GUARD(tls_wait(c, r, deadline));
	}
	return EML_OK;
}

eml_err
eml_sdk_frame_write(struct eml_client *c, const uint8_t *head, size_t head_n,
    const uint8_t *tail, size_t tail_n, int64_t deadline)
{
	uint8_t hdr[EML_FRAME_HDR_LEN];
	size_t n = head_n + tail_n; /* both below the frame limit: no overflow */

	if (c->ssl == NULL)
		return eml_frame_write2(c->fd, head, head_n, tail, tail_n, c->frame_max, deadline);
	EML_GUARD(eml_frame_check_len((uint64_t)n, c->frame_max));
	hdr[0] = (uint8_t)(n >> 24);
	hdr[1] = (uint8_t)(n >> 16);
	hdr[2] = (uint8_t)(n >> 8);
	hdr[3] = (uint8_t)n;
	EML_GUARD(tls_write_all(c, hdr, sizeof(hdr), deadline));
	EML_GUARD(tls_write_all(c, head, head_n, deadline));
	return tail_n == 0 ? EML_OK : tls_write_all(c, tail, tail_n, deadline);
}

eml_err
eml_sdk_write(struct eml_client *c, const uint8_t *p, size_t n, int64_t deadline)
{
	if (c->ssl == NULL)
		return eml_io_write_full(c->fd, p, n, deadline);
	return n == 0 ? EML_OK : tls_write_all(c, p, n, deadline);
}

eml_err
eml_sdk_frame_read(struct eml_client *c, int64_t deadline, struct eml_buf *out)
{
	uint8_t hdr[EML_FRAME_HDR_LEN];
	uint8_t *w = NULL;
	uint32_t n;

	if (c->ssl == NULL)
		return eml_frame_read(c->fd, c->frame_max, deadline, out);
	EML_GUARD(tls_read_all(c, hdr, sizeof(hdr), deadline));
	n = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | (uint32_t)hdr[2] << 8 | hdr[3];
	/* PROTOCOL §1: the length is checked before anything is allocated */
	EML_GUARD(eml_frame_check_len(n, c->frame_max));
	eml_buf_reset(out);
	EML_GUARD(eml_buf_extend(out, n, &w));
	return tls_read_all(c, w, n, deadline);
}
