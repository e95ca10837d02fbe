/*
 * Blocking-style file descriptor I/O with absolute deadlines.
 *
 * Deadlines are absolute times on CLOCK_MONOTONIC in milliseconds, so a
 * sequence of reads shares one budget and a peer that trickles one byte at
 * a time cannot stretch it. EML_DEADLINE_NONE waits forever.
 *
 * The full-read and full-write helpers loop over EINTR, EAGAIN and short
 * transfers, wait with poll() before every transfer, and never block past
 * the deadline: socket writes use MSG_DONTWAIT | MSG_NOSIGNAL, and writes to
 * non-sockets (pipes) are cut into PIPE_BUF pieces, which poll() guarantees
 * room for. They work on blocking and non-blocking descriptors alike and
 * never change the descriptor's flags. Writing to a pipe whose reader is
 * gone raises SIGPIPE unless the process ignores it (the binaries do).
 *
 * After any error the stream position is unknown: close the descriptor.
 */
#ifndef EML_IO_H
#define EML_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "eml_err.h"

#define EML_DEADLINE_NONE INT64_MAX

/* CLOCK_MONOTONIC now, in milliseconds. */
int64_t eml_now_ms(void);
/* CLOCK_MONOTONIC in microseconds, for phase timers in logs. */
int64_t eml_now_us(void);
/* now + ms; a negative ms means EML_DEADLINE_NONE. Saturates. */
int64_t eml_deadline_in_ms(int64_t ms);

/*
 * Wait until fd is ready for events (POLLIN or POLLOUT). Returns EML_OK
 * (also when the peer hung up or errored, so the next transfer reports it),
 * EML_ERR_IO_TIMEOUT once the deadline has passed, EML_ERR_IO.
 */
eml_err eml_io_wait(int fd, short events, int64_t deadline) EML_MUST_USE;

/*
 * Read exactly n bytes. *got (may be NULL) receives the number of bytes
 * read, also on failure. Returns EML_OK, EML_ERR_IO_EOF when the peer
 * closed before n bytes (check *got to tell "nothing" from "part"),
 * EML_ERR_IO_TIMEOUT, EML_ERR_IO.
 */
eml_err eml_io_read_full(int fd, void *buf, size_t n, int64_t deadline, size_t *got) EML_MUST_USE;
/* The same, with fn told the count read so far after each read that
 * brought bytes; a result other than EML_OK stops the read with it. */
typedef eml_err (*eml_io_progress_fn)(void *arg, size_t done);
eml_err eml_io_read_full_x(int fd, void *buf, size_t n, int64_t deadline, size_t *got,
    eml_io_progress_fn fn, void *arg) EML_MUST_USE;
/* The same two, trying the first read before polling: for bytes that
 * are probably there already (a frame's body after its length word). */
eml_err eml_io_read_full_now(
    int fd, void *buf, size_t n, int64_t deadline, size_t *got) EML_MUST_USE;
eml_err eml_io_read_full_now_x(int fd, void *buf, size_t n, int64_t deadline, size_t *got,
    eml_io_progress_fn fn, void *arg) EML_MUST_USE;

/*
 * Write all bytes of iov[0..iovcnt). The iov array is consumed (modified).
 * Returns EML_OK, EML_ERR_IO_EOF when the peer is gone (EPIPE, ECONNRESET),
 * EML_ERR_IO_TIMEOUT, EML_ERR_IO.
 */
eml_err eml_io_writev_full(int fd, struct iovec *iov, int iovcnt, int64_t deadline) EML_MUST_USE;
eml_err eml_io_write_full(int fd, const void *buf, size_t n, int64_t deadline) EML_MUST_USE;

/* Set FD_CLOEXEC / O_NONBLOCK. EML_OK or EML_ERR_IO. */
eml_err eml_io_set_cloexec(int fd) EML_MUST_USE;
eml_err eml_io_set_nonblock(int fd, int on) EML_MUST_USE;

#endif
