#include "eml_tls.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "eml_io.h"
#include "eml_log.h"
#include "eml_mem.h"

#define PUMP_BUF (16u * 1024u)
#define PUMP_STACK (256u * 1024u)
/* After one side ended, how long what is left may take to go out. */
#define LINGER_MS 1000

struct eml_tls_server {
	SSL_CTX *ctx;
};

struct eml_tls_pump {
	SSL *ssl;
	int fd;    /* the client's TCP socket */
	int plain; /* our end of the pair */
	int64_t deadline;
	pthread_t th;
};

static void
ssl_detail(const char *what)
{
	unsigned long e = ERR_get_error();
	char buf[160];

	ERR_error_string_n(e, buf, sizeof(buf));
	eml_err_set_detail("%s: %s", what, e != 0 ? buf : "failed");
	ERR_clear_error();
}

eml_err
eml_tls_server_new(const char *cert, const char *key, struct eml_tls_server **out)
{
	struct eml_tls_server *s;

	EML_ENSURE(cert != NULL && key != NULL && out != NULL, EML_ERR_NULL);
	*out = NULL;
	if (access(cert, R_OK) != 0 || access(key, R_OK) != 0) {
		eml_err_set_detail("--tls-cert / --tls-key: %s", strerror(errno));
		EML_BAIL(EML_ERR_FILE);
	}
	s = eml_calloc(1, sizeof(*s));
	EML_ENSURE(s != NULL, EML_ERR_NOMEM);
	s->ctx = SSL_CTX_new(TLS_server_method());
	if (s->ctx == NULL) {
		eml_free(s);
		EML_BAIL(EML_ERR_NOMEM);
	}
	(void)SSL_CTX_set_min_proto_version(s->ctx, TLS1_2_VERSION);
	(void)SSL_CTX_set_options(s->ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_NO_COMPRESSION);
	(void)SSL_CTX_set_session_cache_mode(s->ctx, SSL_SESS_CACHE_OFF);
	if (SSL_CTX_use_certificate_chain_file(s->ctx, cert) != 1) {
		ssl_detail("--tls-cert");
		eml_tls_server_free(s);
		EML_BAIL(EML_ERR_CONFIG);
	}
	if (SSL_CTX_use_PrivateKey_file(s->ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(s->ctx) != 1) {
		ssl_detail("--tls-key");
		eml_tls_server_free(s);
		EML_BAIL(EML_ERR_CONFIG);
	}
	*out = s;
	return EML_OK;
}

void
eml_tls_server_free(struct eml_tls_server *s)
{
	if (s == NULL)
		return;
	SSL_CTX_free(s->ctx);
	eml_free(s);
}

/* Wait for what the last SSL call asked for; false at the deadline. */
static bool
ssl_wait(SSL *ssl, int fd, int r, int64_t deadline)
{
	int e = SSL_get_error(ssl, r);
	short ev;

	if (e == SSL_ERROR_WANT_READ)
		ev = POLLIN;
	else if (e == SSL_ERROR_WANT_WRITE)
		ev = POLLOUT;
	else
		return false;
	if (eml_io_wait(fd, ev, deadline) != EML_OK) {
		eml_err_clear_detail();
		return false;
	}
	return true;
}

/* Write all of p to the TLS side by deadline. */
static bool
tls_write_all(struct eml_tls_pump *p, const uint8_t *b, size_t n, int64_t deadline)
{
	while (n > 0) {
		int w = SSL_write(p->ssl, b, n > INT32_MAX ? INT32_MAX : (int)n);

		if (w > 0) {
			b += w;
			n -= (size_t)w;
			continue;
		}
		if (!ssl_wait(p->ssl, p->fd, w, deadline))
			return false;
	}
	return true;
}

static void *
pump_main(void *arg)
{
	struct eml_tls_pump *p = arg;
	uint8_t *buf = eml_alloc(PUMP_BUF);
	bool ok = buf != NULL;

	/* the handshake, bounded by the client's handshake deadline */
	while (ok) {
		int r = SSL_accept(p->ssl);

		if (r == 1)
			break;
		if (!ssl_wait(p->ssl, p->fd, r, p->deadline)) {
			ERR_clear_error();
			EML_LOG_WARN("tls.handshake_failed", NULL, EML_F_ERR(EML_ERR_TLS));
			ok = false;
		}
	}
	while (ok) {
		struct pollfd f[2] = { { p->fd, POLLIN, 0 }, { p->plain, POLLIN, 0 } };

		/* bytes OpenSSL already decrypted do not show in poll */
		if (SSL_pending(p->ssl) == 0 && poll(f, 2, 1000) < 0 && errno != EINTR)
			break;
		if (SSL_pending(p->ssl) > 0 || (f[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
			int r = SSL_read(p->ssl, buf, (int)PUMP_BUF);

			if (r > 0) {
				if (eml_io_write_full(p->plain, buf, (size_t)r,
				    eml_deadline_in_ms(30000)) != EML_OK)
					break;
			} else {
				int e = SSL_get_error(p->ssl, r);

				if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
					break; /* closed or failed */
			}
		}
		if ((f[1].revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
			ssize_t r = read(p->plain, buf, PUMP_BUF);

			if (r <= 0 && !(r < 0 && errno == EINTR))
				break; /* the relay is done */
			if (r > 0 && !tls_write_all(p, buf, (size_t)r, eml_deadline_in_ms(30000)))
				break;
		}
	}
	eml_err_clear_detail();
	ERR_clear_error();
	/* closing our end tells the relay; a close_notify tells the client */
	(void)shutdown(p->plain, SHUT_RDWR);
	if (ok)
		(void)SSL_shutdown(p->ssl);
	ERR_clear_error();
	eml_free(buf);
	return NULL;
}

eml_err
eml_tls_pump_start(struct eml_tls_server *s, int fd, int64_t deadline, int *plain,
    struct eml_tls_pump **out)
{
	struct eml_tls_pump *p;
	pthread_attr_t at;
	int sp[2];

	EML_ENSURE(s != NULL && fd >= 0 && plain != NULL && out != NULL, EML_ERR_NULL);
	*out = NULL;
	*plain = -1;
	p = eml_calloc(1, sizeof(*p));
	EML_ENSURE(p != NULL, EML_ERR_NOMEM);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) != 0) {
		eml_free(p);
		eml_err_set_detail("socketpair: %s", strerror(errno));
		EML_BAIL(EML_ERR_IO);
	}
	p->ssl = SSL_new(s->ctx);
	if (p->ssl == NULL || SSL_set_fd(p->ssl, fd) != 1 || eml_io_set_nonblock(fd, 1) != EML_OK) {
		SSL_free(p->ssl);
		(void)close(sp[0]);
		(void)close(sp[1]);
		eml_free(p);
		ERR_clear_error();
		EML_BAIL(EML_ERR_NOMEM);
	}
	SSL_set_mode(p->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	p->fd = fd;
	p->plain = sp[1];
	p->deadline = deadline;
	(void)pthread_attr_init(&at);
	(void)pthread_attr_setstacksize(&at, PUMP_STACK);
	if (pthread_create(&p->th, &at, pump_main, p) != 0) {
		(void)pthread_attr_destroy(&at);
		SSL_free(p->ssl);
		(void)close(sp[0]);
		(void)close(sp[1]);
		eml_free(p);
		eml_err_set_detail("no thread for the TLS pump");
		EML_BAIL(EML_ERR_IO);
	}
	(void)pthread_attr_destroy(&at);
	*plain = sp[0];
	*out = p;
	return EML_OK;
}

void
eml_tls_pump_join(struct eml_tls_pump *p)
{
	if (p == NULL)
		return;
	(void)pthread_join(p->th, NULL);
	SSL_free(p->ssl);
	(void)close(p->plain);
	(void)close(p->fd);
	eml_free(p);
}
