#include "eml_transport.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "eml_io.h"
#include "eml_num.h"

_Static_assert(EML_ADDR_PATH_MAX + 1 == sizeof(((struct sockaddr_un *)0)->sun_path),
    "unix path limit");
_Static_assert(EML_VSOCK_CID_ANY == (uint32_t)VMADDR_CID_ANY, "vsock any");

#define LISTEN_BACKLOG 128

static eml_err
addr_error(const char *s, const char *why)
{
	eml_err_set_detail("address \"%.64s\": %s", s, why);
	return EML_ERR_ADDR;
}

static eml_err
parse_vsock(const char *full, const char *s, struct eml_addr *out)
{
	const char *colon = strchr(s, ':');
	uint64_t cid, port;

	if (colon == NULL)
		EML_BAIL(addr_error(full, "vsock needs CID:PORT"));
	if (eml_num_u64n(s, (size_t)(colon - s), 0, UINT32_MAX, &cid) != EML_OK)
		EML_BAIL(addr_error(full, "CID is not a decimal 32-bit number"));
	if (eml_num_u64(colon + 1, 0, UINT32_MAX, &port) != EML_OK)
		EML_BAIL(addr_error(full, "PORT is not a decimal 32-bit number"));
	out->kind = EML_ADDR_VSOCK;
	out->cid = (uint32_t)cid;
	out->port = (uint32_t)port;
	return EML_OK;
}

static eml_err
parse_unix(const char *full, const char *s, struct eml_addr *out)
{
	size_t n = strlen(s);

	if (n == 0)
		EML_BAIL(addr_error(full, "empty unix path"));
	if (n > EML_ADDR_PATH_MAX)
		EML_BAIL(addr_error(full, "unix path longer than 107 bytes"));
	out->kind = EML_ADDR_UNIX;
	memcpy(out->path, s, n + 1);
	return EML_OK;
}

static bool
host_char_ok(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    c == '-' || c == '.';
}

static eml_err
parse_tcp(const char *full, const char *s, struct eml_addr *out)
{
	const char *host, *hend, *port;
	struct in6_addr a6;
	uint64_t pv;
	size_t hn;

	if (s[0] == '[') {
		host = s + 1;
		hend = strchr(host, ']');
		if (hend == NULL)
			EML_BAIL(addr_error(full, "missing ']' after IPv6 address"));
		if (hend[1] != ':')
			EML_BAIL(addr_error(full, "expected ':PORT' after ']'"));
		port = hend + 2;
		out->v6 = true;
	} else {
		host = s;
		hend = strrchr(s, ':');
		if (hend == NULL)
			EML_BAIL(addr_error(full, "tcp needs HOST:PORT"));
		port = hend + 1;
		out->v6 = false;
	}
	hn = (size_t)(hend - host);
	if (hn == 0)
		EML_BAIL(addr_error(full, "empty host"));
	if (hn > EML_ADDR_HOST_MAX)
		EML_BAIL(addr_error(full, "host name too long"));
	memcpy(out->host, host, hn);
	out->host[hn] = '\0';
	if (out->v6) {
		if (inet_pton(AF_INET6, out->host, &a6) != 1)
			EML_BAIL(addr_error(full, "not an IPv6 address inside [ ]"));
	} else {
		for (size_t i = 0; i < hn; i++) {
			if (host[i] == ':')
				EML_BAIL(addr_error(full, "IPv6 addresses need [brackets]"));
			if (!host_char_ok(host[i]))
				EML_BAIL(addr_error(full, "bad character in host"));
		}
	}
	if (eml_num_u64(port, 0, 65535, &pv) != EML_OK)
		EML_BAIL(addr_error(full, "PORT is not a decimal number 0..65535"));
	out->kind = EML_ADDR_TCP;
	out->port = (uint32_t)pv;
	return EML_OK;
}

eml_err
eml_addr_parse(const char *s, struct eml_addr *out)
{
	eml_err rc;

	EML_ENSURE(s != NULL && out != NULL, EML_ERR_NULL);
	memset(out, 0, sizeof(*out));
	if (strncmp(s, "vsock:", 6) == 0)
		rc = parse_vsock(s, s + 6, out);
	else if (strncmp(s, "unix:", 5) == 0)
		rc = parse_unix(s, s + 5, out);
	else if (strncmp(s, "tcp:", 4) == 0)
		rc = parse_tcp(s, s + 4, out);
	else
		rc = addr_error(s, "expected vsock:CID:PORT, unix:PATH or tcp:HOST:PORT");
	if (rc != EML_OK) {
		memset(out, 0, sizeof(*out));
		EML_BAIL(rc);
	}
	return EML_OK;
}

void
eml_addr_format(const struct eml_addr *a, char *dst, size_t n)
{
	if (dst == NULL || n == 0)
		return;
	dst[0] = '\0';
	if (a == NULL)
		return;
	switch (a->kind) {
	case EML_ADDR_VSOCK:
		(void)snprintf(dst, n, "vsock:%u:%u", a->cid, a->port);
		break;
	case EML_ADDR_UNIX:
		(void)snprintf(dst, n, "unix:%s", a->path);
		break;
	case EML_ADDR_TCP:
		(void)snprintf(dst, n, a->v6 ? "tcp:[%s]:%u" : "tcp:%s:%u", a->host, a->port);
		break;
	default:
		(void)snprintf(dst, n, "invalid");
		break;
	}
}

/* A socket with CLOEXEC; EML_ERR_ADDR_FAMILY when the kernel lacks the
 * family (vsock on most hosts without the module). */
static eml_err
new_socket(int family, int extra, int *fd)
{
	int s = socket(family, SOCK_STREAM | SOCK_CLOEXEC | extra, 0);

	if (s < 0) {
		eml_err_set_detail("socket: %s", strerror(errno));
		if (errno == EAFNOSUPPORT || errno == EPROTONOSUPPORT || errno == ESOCKTNOSUPPORT)
			EML_BAIL(EML_ERR_ADDR_FAMILY);
		EML_BAIL(EML_ERR_IO);
	}
	*fd = s;
	return EML_OK;
}

static void
fill_unix(const struct eml_addr *a, struct sockaddr_un *sun)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, a->path, strlen(a->path) + 1);
}

static void
fill_vsock(const struct eml_addr *a, struct sockaddr_vm *svm)
{
	memset(svm, 0, sizeof(*svm));
	svm->svm_family = AF_VSOCK;
	svm->svm_cid = a->cid;
	svm->svm_port = a->port;
}

static eml_err
resolve(const struct eml_addr *a, bool passive, struct addrinfo **res)
{
	struct addrinfo hints;
	char port[16];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = a->v6 ? AF_INET6 : AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
	if (a->v6)
		hints.ai_flags |= AI_NUMERICHOST;
	(void)snprintf(port, sizeof(port), "%u", a->port);
	r = getaddrinfo(a->host, port, &hints, res);
	if (r != 0) {
		eml_err_set_detail("resolve %.64s: %s", a->host, gai_strerror(r));
		EML_BAIL(EML_ERR_RESOLVE);
	}
	return EML_OK;
}

/* A unix path in the way of bind: remove it only when it is a socket that
 * refuses connections (a leftover from a dead process). */
static eml_err
unix_clear_stale(const struct eml_addr *a)
{
	struct sockaddr_un sun;
	struct stat st;
	int s, r, e;

	if (lstat(a->path, &st) != 0)
		return errno == ENOENT ? EML_OK : EML_ERR_LISTEN;
	if (!S_ISSOCK(st.st_mode)) {
		eml_err_set_detail("%.64s exists and is not a socket", a->path);
		EML_BAIL(EML_ERR_LISTEN);
	}
	EML_GUARD(new_socket(AF_UNIX, 0, &s));
	fill_unix(a, &sun);
	r = connect(s, (struct sockaddr *)&sun, sizeof(sun));
	e = errno;
	close(s);
	if (r == 0) {
		eml_err_set_detail("%.64s: another process is listening", a->path);
		EML_BAIL(EML_ERR_LISTEN);
	}
	if (e != ECONNREFUSED) {
		eml_err_set_detail("%.64s: %s", a->path, strerror(e));
		EML_BAIL(EML_ERR_LISTEN);
	}
	if (unlink(a->path) != 0 && errno != ENOENT)
		EML_BAIL(EML_ERR_LISTEN);
	return EML_OK;
}

static eml_err
listen_unix(const struct eml_addr *a, int *fd)
{
	struct sockaddr_un sun;
	int s = -1, r;
	eml_err rc = EML_ERR_INTERNAL;

	fill_unix(a, &sun);
	rc = new_socket(AF_UNIX, SOCK_NONBLOCK, &s);
	if (rc != EML_OK)
		goto out;
	r = bind(s, (struct sockaddr *)&sun, sizeof(sun));
	/* In use: clear the path only if it is a stale socket, then once more. */
	if (r != 0 && errno == EADDRINUSE) {
		rc = unix_clear_stale(a);
		if (rc != EML_OK)
			goto out;
		r = bind(s, (struct sockaddr *)&sun, sizeof(sun));
	}
	if (r != 0) {
		eml_err_set_detail("bind %.64s: %s", a->path, strerror(errno));
		EML_FAIL(rc, EML_ERR_LISTEN);
	}
	if (listen(s, LISTEN_BACKLOG) != 0)
		EML_FAIL(rc, EML_ERR_LISTEN);
	*fd = s;
	s = -1;
	rc = EML_OK;
out:
	if (s >= 0)
		close(s);
	return rc;
}

static eml_err
listen_vsock(const struct eml_addr *a, int *fd)
{
	struct sockaddr_vm svm;
	int s = -1;
	eml_err rc = EML_ERR_INTERNAL;

	fill_vsock(a, &svm);
	rc = new_socket(AF_VSOCK, SOCK_NONBLOCK, &s);
	if (rc != EML_OK)
		goto out;
	if (bind(s, (struct sockaddr *)&svm, sizeof(svm)) != 0 || listen(s, LISTEN_BACKLOG) != 0) {
		eml_err_set_detail("vsock listen: %s", strerror(errno));
		EML_FAIL(rc, errno == EADDRNOTAVAIL ? EML_ERR_ADDR_FAMILY : EML_ERR_LISTEN);
	}
	*fd = s;
	s = -1;
	rc = EML_OK;
out:
	if (s >= 0)
		close(s);
	return rc;
}

static eml_err
listen_tcp(const struct eml_addr *a, int *fd)
{
	struct addrinfo *res = NULL, *ai;
	int s = -1, one = 1;
	eml_err rc = EML_ERR_INTERNAL;

	rc = resolve(a, true, &res);
	if (rc != EML_OK)
		goto out;
	rc = EML_ERR_LISTEN;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s < 0)
			continue;
		if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
		    bind(s, ai->ai_addr, ai->ai_addrlen) == 0 && listen(s, LISTEN_BACKLOG) == 0)
			break;
		eml_err_set_detail("listen %.64s:%u: %s", a->host, a->port, strerror(errno));
		close(s);
		s = -1;
	}
	if (s < 0)
		EML_FAIL(rc, EML_ERR_LISTEN);
	*fd = s;
	s = -1;
	rc = EML_OK;
out:
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

eml_err
eml_transport_listen(const struct eml_addr *a, int *fd)
{
	EML_ENSURE(a != NULL && fd != NULL, EML_ERR_NULL);
	*fd = -1;
	switch (a->kind) {
	case EML_ADDR_UNIX:
		return listen_unix(a, fd);
	case EML_ADDR_VSOCK:
		return listen_vsock(a, fd);
	case EML_ADDR_TCP:
		return listen_tcp(a, fd);
	default:
		EML_BAIL(EML_ERR_ADDR);
	}
}

eml_err
eml_transport_local_addr(int fd, const struct eml_addr *like, struct eml_addr *out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);

	EML_ENSURE(like != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(getsockname(fd, (struct sockaddr *)&ss, &sl) == 0, EML_ERR_IO);
	*out = *like;
	if (ss.ss_family == AF_INET)
		out->port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	else if (ss.ss_family == AF_INET6)
		out->port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	else if (ss.ss_family == AF_VSOCK)
		out->port = ((struct sockaddr_vm *)&ss)->svm_port;
	return EML_OK;
}

eml_err
eml_transport_accept(int lfd, int64_t deadline, int *fd)
{
	int s;

	EML_ENSURE_REF(fd);
	*fd = -1;
	for (;;) {
		EML_GUARD(eml_io_wait(lfd, POLLIN, deadline));
		s = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (s >= 0)
			break;
		/* The connection may have gone between poll and accept. */
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == ECONNABORTED || errno == EPROTO)
			continue;
		eml_err_set_detail("accept: %s", strerror(errno));
		EML_BAIL(EML_ERR_IO);
	}
	*fd = s;
	return EML_OK;
}

/* Non-blocking connect bounded by the deadline; leaves s blocking. */
static eml_err
connect_one(int s, const struct sockaddr *sa, socklen_t sl, int64_t deadline)
{
	int err = 0;
	socklen_t el = sizeof(err);
	useconds_t backoff = 1000;
	int r;

	/* A Unix socket whose listen backlog is full answers a non-blocking
	 * connect with EAGAIN and queues nothing: nothing to poll for, so
	 * try again (1 ms doubling to 50 ms) until the deadline. A burst of
	 * connections must not read as "the agent is gone". */
	while ((r = connect(s, sa, sl)) != 0 && errno == EAGAIN && sa->sa_family == AF_UNIX) {
		int64_t left = deadline == EML_DEADLINE_NONE ? INT64_MAX : deadline - eml_now_ms();

		if (left <= 0) {
			eml_err_set_detail("connect: listen backlog full until the deadline");
			EML_BAIL(EML_ERR_IO_TIMEOUT);
		}
		if ((int64_t)backoff / 1000 > left)
			backoff = (useconds_t)(left * 1000);
		(void)usleep(backoff);
		if (backoff < 50000)
			backoff *= 2;
	}
	if (r != 0) {
		if (errno != EINPROGRESS && errno != EINTR) {
			eml_err_set_detail("connect: %s", strerror(errno));
			if (errno == EAFNOSUPPORT || errno == ENODEV || errno == EADDRNOTAVAIL)
				EML_BAIL(EML_ERR_ADDR_FAMILY);
			EML_BAIL(EML_ERR_CONNECT);
		}
		EML_GUARD(eml_io_wait(s, POLLOUT, deadline));
		if (getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &el) != 0)
			err = errno;
		if (err != 0) {
			eml_err_set_detail("connect: %s", strerror(err));
			EML_BAIL(EML_ERR_CONNECT);
		}
	}
	EML_GUARD(eml_io_set_nonblock(s, 0));
	return EML_OK;
}

static eml_err
connect_tcp(const struct eml_addr *a, int64_t deadline, int *fd)
{
	struct addrinfo *res = NULL, *ai;
	int s = -1, one = 1;
	eml_err rc = EML_ERR_INTERNAL;

	rc = resolve(a, false, &res);
	if (rc != EML_OK)
		goto out;
	rc = EML_ERR_CONNECT;
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		s = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (s < 0)
			continue;
		rc = connect_one(s, ai->ai_addr, ai->ai_addrlen, deadline);
		if (rc == EML_OK)
			break;
		close(s);
		s = -1;
		if (rc == EML_ERR_IO_TIMEOUT)
			break;
	}
	if (s < 0)
		goto out;
	(void)setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*fd = s;
	rc = EML_OK;
out:
	if (res != NULL)
		freeaddrinfo(res);
	return rc;
}

eml_err
eml_transport_connect(const struct eml_addr *a, int64_t deadline, int *fd)
{
	struct sockaddr_un sun;
	struct sockaddr_vm svm;
	int s = -1;
	eml_err rc = EML_ERR_INTERNAL;

	EML_ENSURE(a != NULL && fd != NULL, EML_ERR_NULL);
	*fd = -1;
	switch (a->kind) {
	case EML_ADDR_TCP:
		if (a->port == 0) {
			eml_err_set_detail("cannot connect to port 0");
			EML_BAIL(EML_ERR_ADDR);
		}
		return connect_tcp(a, deadline, fd);
	case EML_ADDR_UNIX:
		fill_unix(a, &sun);
		rc = new_socket(AF_UNIX, SOCK_NONBLOCK, &s);
		if (rc == EML_OK)
			rc = connect_one(s, (struct sockaddr *)&sun, sizeof(sun), deadline);
		break;
	case EML_ADDR_VSOCK:
		fill_vsock(a, &svm);
		rc = new_socket(AF_VSOCK, SOCK_NONBLOCK, &s);
		if (rc == EML_OK)
			rc = connect_one(s, (struct sockaddr *)&svm, sizeof(svm), deadline);
		break;
	default:
		EML_BAIL(EML_ERR_ADDR);
	}
	if (rc != EML_OK) {
		if (s >= 0)
			close(s);
		return rc;
	}
	*fd = s;
	return EML_OK;
}

void
eml_transport_peer_string(int fd, char *dst, size_t n)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char ip[INET6_ADDRSTRLEN];

	if (dst == NULL || n == 0)
		return;
	(void)snprintf(dst, n, "unknown");
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
		return;
	switch (ss.ss_family) {
	case AF_INET:
		if (inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, ip, sizeof(ip)))
			(void)snprintf(dst, n, "tcp:%s:%u", ip,
			    ntohs(((struct sockaddr_in *)&ss)->sin_port));
		break;
	case AF_INET6:
		if (inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, ip, sizeof(ip)))
			(void)snprintf(dst, n, "tcp:[%s]:%u", ip,
			    ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
		break;
	case AF_VSOCK:
		(void)snprintf(dst, n, "vsock:%u:%u", ((struct sockaddr_vm *)&ss)->svm_cid,
		    ((struct sockaddr_vm *)&ss)->svm_port);
		break;
	case AF_UNIX:
		(void)snprintf(dst, n, "unix:");
		break;
	default:
		break;
	}
}
