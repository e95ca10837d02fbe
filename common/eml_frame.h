/*
 * Framing (DESIGN §4, docs/PROTOCOL.md §1): a 4-byte big-endian length,
 * then that many bytes of body. A length of 0 or above the maximum is a
 * protocol error, detected from the 4 header bytes alone, before any
 * allocation. The maximum is per call (EML_FRAME_MAX_DEFAULT = 64 MiB
 * unless configured) and can never exceed UINT32_MAX.
 *
 * After any error other than EML_ERR_IO_EOF at a frame boundary the
 * stream is out of sync: send an Error frame if possible and close.
 */
#ifndef EML_FRAME_H
#define EML_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"
#include "eml_io.h"

#define EML_FRAME_HDR_LEN 4u
#define EML_FRAME_MAX_DEFAULT ((size_t)64 * 1024 * 1024)

/* The length rule alone: EML_OK, EML_ERR_PROTO_ZERO_LENGTH,
 * EML_ERR_PROTO_TOO_LARGE (len > max or max > UINT32_MAX is clamped). */
eml_err eml_frame_check_len(uint64_t len, size_t max) EML_MUST_USE;

/*
 * Read one frame from fd into out (reset first, wiped). The body goes into
 * room reserved once for the announced length (checked first): address
 * space, lazily mapped, so a peer that announces a large frame and sends
 * nothing makes nothing resident; out keeps its capacity for the next frame.
 * out's own ceiling also applies (EML_ERR_PROTO_TOO_LARGE).
 * Returns EML_OK; EML_ERR_IO_EOF when the peer closed cleanly before the
 * first header byte; EML_ERR_PROTO_TRUNCATED when it closed inside a frame;
 * EML_ERR_PROTO_ZERO_LENGTH; EML_ERR_PROTO_TOO_LARGE; EML_ERR_IO_TIMEOUT
 * when deadline (absolute, eml_io.h) passed; EML_ERR_IO; EML_ERR_NOMEM.
 */
eml_err eml_frame_read(int fd, size_t max, int64_t deadline, struct eml_buf *out) EML_MUST_USE;
/* The same, with fn shown the frame's body (its first got of len bytes
 * arrived) after each read that brought body bytes: a reader may work on
 * a frame while the rest of it arrives. fn's result other than EML_OK
 * fails the read with it (the buffer is wiped as on any failure). */
typedef eml_err (*eml_frame_progress_fn)(void *arg, uint8_t *body, size_t got, size_t len);
eml_err eml_frame_read_x(int fd, size_t max, int64_t deadline, struct eml_buf *out,
    eml_frame_progress_fn fn, void *arg) EML_MUST_USE;

/*
 * Write header + n body bytes with one gathered write per transfer.
 * Returns EML_OK, EML_ERR_PROTO_ZERO_LENGTH, EML_ERR_PROTO_TOO_LARGE (both
 * before writing anything), EML_ERR_IO_EOF (peer gone),
 * EML_ERR_IO_TIMEOUT, EML_ERR_IO.
 */
eml_err eml_frame_write(int fd, const uint8_t *body, size_t n, size_t max,
    int64_t deadline) EML_MUST_USE;
/* One frame whose body is head || tail, written from both places with
 * one writev (no copy of a large tail into a frame buffer). Same errors
 * as eml_frame_write, with n = head_n + tail_n. */
eml_err eml_frame_write2(int fd, const uint8_t *head, size_t head_n, const uint8_t *tail,
    size_t tail_n, size_t max, int64_t deadline) EML_MUST_USE;

/*
 * In-memory decoder: take one frame from the front of *in and point *body
 * at its bytes (inside in's memory). All-or-nothing: on failure *in is
 * unchanged. EML_ERR_PROTO_TRUNCATED when *in holds less than a whole
 * frame (more bytes may complete it), EML_ERR_PROTO_ZERO_LENGTH,
 * EML_ERR_PROTO_TOO_LARGE.
 */
eml_err eml_frame_decode(struct eml_cur *in, size_t max, struct eml_cur *body) EML_MUST_USE;
/* Append header + body to out. Same length errors; on failure out->len
 * is unchanged. */
eml_err eml_frame_encode(struct eml_buf *out, const uint8_t *body, size_t n,
    size_t max) EML_MUST_USE;

#endif
