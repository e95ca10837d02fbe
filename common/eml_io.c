#include "eml_io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int64_t
eml_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + (int64_t)(ts.tv_nsec / 1000000);
}

int64_t
eml_now_us(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + (int64_t)(ts.tv_nsec / 1000);
}

int64_t
eml_deadline_in_ms(int64_t ms)
{
	int64_t now = eml_now_ms(), d;

	if (ms < 0 || __builtin_add_overflow(now, ms, &d) || d == EML_DEADLINE_NONE)
		return EML_DEADLINE_NONE;
	return d;
}

eml_err
eml_io_wait(int fd, short events, int64_t deadline)
{
	struct pollfd pfd;
	int timeout, r;
	int64_t left;

	for (;;) {
		if (deadline == EML_DEADLINE_NONE) {
			timeout = -1;
		} else {
			left = deadline - eml_now_ms();
			if (left <= 0)
				left = 0;
			timeout = left > INT_MAX ? INT_MAX : (int)left;
		}
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		r = poll(&pfd, 1, timeout);
		if (r > 0) {
			if (pfd.revents & POLLNVAL)
				EML_BAIL(EML_ERR_IO);
			return EML_OK;
		}
		if (r < 0 && errno != EINTR && errno != EAGAIN) {
			eml_err_set_detail("poll: %s", strerror(errno));
			EML_BAIL(EML_ERR_IO);
		}
		/* r == 0 or EINTR: re-check the deadline with a fresh clock. */
		if (deadline != EML_DEADLINE_NONE && eml_now_ms() >= deadline) {
			eml_err_set_detail("no %s on fd %d before the deadline",
			    (events & POLLOUT) ? "progress writing" : "data", fd);
			EML_BAIL(EML_ERR_IO_TIMEOUT);
		}
	}
}

/* now: a socket is read before any poll (recv with MSG_DONTWAIT, so a
 * blocking one cannot block past the deadline), and again right after
 * every read that returned bytes (a large frame's next bytes are usually
 * there already: one syscall per read, not a poll and a read); poll only
 * when it has nothing. Anything that is not a socket, and !now: poll then
 * read. */
static eml_err
read_full(int fd, void *buf, size_t n, int64_t deadline, size_t *got, eml_io_progress_fn fn,
    void *arg, bool now)
{
	uint8_t *p = buf;
	size_t done = 0;
	ssize_t r;
	eml_err rc = EML_OK;
	bool try = now;

	if (buf == NULL && n != 0)
		EML_BAIL(EML_ERR_NULL);
	while (done < n) {
		if (try) {
			try = false;
			r = recv(fd, p + done, n - done, MSG_DONTWAIT);
			if (r < 0 && errno == ENOTSOCK) {
				now = false;
				continue; /* poll, then read */
			}
		} else {
			rc = eml_io_wait(fd, POLLIN, deadline);
			if (rc != EML_OK)
				break;
			r = now ? recv(fd, p + done, n - done, MSG_DONTWAIT)
				: read(fd, p + done, n - done);
		}
		if (r > 0) {
			done += (size_t)r;
			try = now;
			if (fn != NULL && (rc = fn(arg, done)) != EML_OK)
				break;
			continue;
		}
		if (r == 0) {
			rc = eml_err_record(EML_ERR_IO_EOF, __FILE__, __LINE__, __func__);
			break;
		}
		if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
			continue;
		if (errno == ECONNRESET) {
			rc = eml_err_record(EML_ERR_IO_EOF, __FILE__, __LINE__, __func__);
			break;
		}
		eml_err_set_detail("read: %s", strerror(errno));
		rc = eml_err_record(EML_ERR_IO, __FILE__, __LINE__, __func__);
		break;
	}
	if (got != NULL)
		*got = done;
	return rc;
}

eml_err
eml_io_read_full_x(
    int fd, void *buf, size_t n, int64_t deadline, size_t *got, eml_io_progress_fn fn, void *arg)
{
	return read_full(fd, buf, n, deadline, got, fn, arg, false);
}

eml_err
eml_io_read_full_now_x(
    int fd, void *buf, size_t n, int64_t deadline, size_t *got, eml_io_progress_fn fn, void *arg)
{
	return read_full(fd, buf, n, deadline, got, fn, arg, true);
}

eml_err
eml_io_read_full(int fd, void *buf, size_t n, int64_t deadline, size_t *got)
{
	return read_full(fd, buf, n, deadline, got, NULL, NULL, false);
}

eml_err
eml_io_read_full_now(int fd, void *buf, size_t n, int64_t deadline, size_t *got)
{
	return read_full(fd, buf, n, deadline, got, NULL, NULL, true);
}

/* One transfer; returns bytes written, 0 for "try again", -1 with errno. */
static ssize_t
write_some(int fd, const struct iovec *iov, int iovcnt, bool *is_sock)
{
	struct msghdr mh;
	ssize_t r;
	size_t n;

	if (*is_sock) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = (struct iovec *)(uintptr_t)iov;
		mh.msg_iovlen = (size_t)iovcnt;
		r = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r >= 0 || errno != ENOTSOCK)
			return r;
		*is_sock = false;
		errno = EAGAIN; /* poll first, then write */
		return -1;
	}
	/* Not a socket: at most PIPE_BUF bytes, which POLLOUT guarantees fit
	 * in a pipe, so a blocking descriptor cannot block past the deadline. */
	n = iov[0].iov_len < PIPE_BUF ? iov[0].iov_len : PIPE_BUF;
	return write(fd, iov[0].iov_base, n);
}

eml_err
eml_io_writev_full(int fd, struct iovec *iov, int iovcnt, int64_t deadline)
{
	bool is_sock = true, wait = false;
	ssize_t r;
	size_t w;

	EML_ENSURE(iov != NULL || iovcnt == 0, EML_ERR_NULL);
	for (;;) {
		/* Skip finished (or empty) entries. */
		while (iovcnt > 0 && iov[0].iov_len == 0) {
			iov++;
			iovcnt--;
		}
		if (iovcnt == 0)
			return EML_OK;
		/* A socket is written at once (sendmsg with MSG_DONTWAIT does
		 * not block) and polled only once it took less than all or
		 * nothing: a small frame costs one call, not two. */
		if (wait || !is_sock)
			EML_GUARD(eml_io_wait(fd, POLLOUT, deadline));
		wait = true;
		r = write_some(fd, iov, iovcnt, &is_sock);
		if (r < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			if (errno == EPIPE || errno == ECONNRESET)
				EML_BAIL(EML_ERR_IO_EOF);
			eml_err_set_detail("write: %s", strerror(errno));
			EML_BAIL(EML_ERR_IO);
		}
		w = (size_t)r;
		while (w > 0 && iovcnt > 0) {
			size_t take = w < iov[0].iov_len ? w : iov[0].iov_len;

			iov[0].iov_base = (uint8_t *)iov[0].iov_base + take;
			iov[0].iov_len -= take;
			w -= take;
			if (iov[0].iov_len == 0) {
				iov++;
				iovcnt--;
			}
		}
	}
}

eml_err
eml_io_write_full(int fd, const void *buf, size_t n, int64_t deadline)
{
	struct iovec iov;

	EML_ENSURE(buf != NULL || n == 0, EML_ERR_NULL);
	iov.iov_base = (void *)(uintptr_t)buf;
	iov.iov_len = n;
	return eml_io_writev_full(fd, &iov, 1, deadline);
}

eml_err
eml_io_set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	EML_ENSURE(fl >= 0, EML_ERR_IO);
	EML_ENSURE(fcntl(fd, F_SETFD, fl | FD_CLOEXEC) == 0, EML_ERR_IO);
	return EML_OK;
}

eml_err
eml_io_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	EML_ENSURE(fl >= 0, EML_ERR_IO);
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	EML_ENSURE(fcntl(fd, F_SETFL, fl) == 0, EML_ERR_IO);
	return EML_OK;
}
