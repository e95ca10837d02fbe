#include "eml_frame.h"

eml_err
eml_frame_check_len(uint64_t len, size_t max)
{
	uint64_t lim = max > UINT32_MAX ? UINT32_MAX : (uint64_t)max;

	/* PROTOCOL.md §1: "A length of 0 or above the configured maximum is
	 * a protocol error." */
	if (len == 0)
		EML_BAIL(EML_ERR_PROTO_ZERO_LENGTH);
	if (len > lim) {
		eml_err_set_detail("frame of %llu bytes, limit %llu", (unsigned long long)len,
		    (unsigned long long)lim);
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	return EML_OK;
}

struct frame_progress {
	eml_frame_progress_fn fn;
	void *arg;
	uint8_t *body;
	size_t len;
};

static eml_err
frame_progress(void *arg, size_t done)
{
	const struct frame_progress *fp = arg;

	return fp->fn(fp->arg, fp->body, done, fp->len);
}

eml_err
eml_frame_read_x(int fd, size_t max, int64_t deadline, struct eml_buf *out,
    eml_frame_progress_fn fn, void *arg)
{
	uint8_t hdr[EML_FRAME_HDR_LEN];
	struct eml_cur c;
	uint32_t len;
	size_t got;
	uint8_t *w;
	eml_err rc;

	EML_ENSURE_REF(out);
	eml_buf_reset(out);
	rc = eml_io_read_full(fd, hdr, sizeof(hdr), deadline, &got);
	if (rc == EML_ERR_IO_EOF && got != 0) {
		eml_err_set_detail("peer closed after %zu header bytes", got);
		EML_BAIL(EML_ERR_PROTO_TRUNCATED);
	}
	EML_GUARD(rc);
	c = eml_cur_make(hdr, sizeof(hdr));
	EML_GUARD(eml_cur_read_u32be(&c, &len));
	EML_GUARD(eml_frame_check_len(len, max));
	if (len > out->max) {
		eml_err_set_detail("frame of %u bytes, buffer limit %zu", len, out->max);
		EML_BAIL(EML_ERR_PROTO_TOO_LARGE);
	}
	/* The whole body at once, into a buffer reserved once: no regrowth,
	 * no copy of what arrived, one read per socket buffer. The length is
	 * bounded above (max, out->max); what the reservation costs is address
	 * space: a large block is mapped lazily and its pages become resident
	 * only as the peer's bytes arrive, so a peer that announces a large
	 * frame and sends little pins little, and the deadline ends it. A
	 * buffer that already holds that much (a session's earlier frames)
	 * allocates nothing. */
	rc = eml_buf_extend(out, len, &w);
	if (rc != EML_OK)
		goto fail;
	/* the body usually came with its length word: read before polling */
	if (fn == NULL) {
		rc = eml_io_read_full_now(fd, w, len, deadline, &got);
	} else {
		struct frame_progress fp = { fn, arg, w, len };

		rc = eml_io_read_full_now_x(fd, w, len, deadline, &got, frame_progress, &fp);
	}
	if (rc != EML_OK) {
		out->len = got; /* wipe what arrived */
		if (rc == EML_ERR_IO_EOF) {
			eml_err_set_detail("peer closed inside a %u-byte frame", len);
			rc = eml_err_record(EML_ERR_PROTO_TRUNCATED, __FILE__, __LINE__, __func__);
		}
		goto fail;
	}
	return EML_OK;
fail:
	eml_buf_reset(out);
	return rc;
}

eml_err
eml_frame_read(int fd, size_t max, int64_t deadline, struct eml_buf *out)
{
	return eml_frame_read_x(fd, max, deadline, out, NULL, NULL);
}

eml_err
eml_frame_write(int fd, const uint8_t *body, size_t n, size_t max, int64_t deadline)
{
	uint8_t hdr[EML_FRAME_HDR_LEN];
	struct iovec iov[2];

	EML_ENSURE(body != NULL || n == 0, EML_ERR_NULL);
	EML_GUARD(eml_frame_check_len(n, max));
	eml_store_u32be(hdr, (uint32_t)n);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)body;
	iov[1].iov_len = n;
	return eml_io_writev_full(fd, iov, 2, deadline);
}

eml_err
eml_frame_write2(int fd, const uint8_t *head, size_t head_n, const uint8_t *tail, size_t tail_n,
    size_t max, int64_t deadline)
{
	uint8_t hdr[EML_FRAME_HDR_LEN];
	struct iovec iov[3];
	size_t n;

	EML_ENSURE((head != NULL || head_n == 0) && (tail != NULL || tail_n == 0), EML_ERR_NULL);
	EML_ENSURE(!eml_add_overflow(head_n, tail_n, &n), EML_ERR_OVERFLOW);
	EML_GUARD(eml_frame_check_len(n, max));
	eml_store_u32be(hdr, (uint32_t)n);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)(uintptr_t)head;
	iov[1].iov_len = head_n;
	iov[2].iov_base = (void *)(uintptr_t)tail;
	iov[2].iov_len = tail_n;
	return eml_io_writev_full(fd, iov, 3, deadline);
}

eml_err
eml_frame_decode(struct eml_cur *in, size_t max, struct eml_cur *body)
{
	struct eml_cur c;
	uint32_t len;

	EML_ENSURE(eml_cur_valid(in) && body != NULL, EML_ERR_NULL);
	c = *in;
	EML_GUARD(eml_cur_read_u32be(&c, &len));
	EML_GUARD(eml_frame_check_len(len, max));
	EML_GUARD(eml_cur_sub(&c, len, body));
	*in = c;
	return EML_OK;
}

eml_err
eml_frame_encode(struct eml_buf *out, const uint8_t *body, size_t n, size_t max)
{
	uint8_t *w;

	EML_ENSURE(out != NULL && (body != NULL || n == 0), EML_ERR_NULL);
	EML_GUARD(eml_frame_check_len(n, max));
	EML_GUARD(eml_buf_extend(out, EML_FRAME_HDR_LEN + n, &w));
	eml_store_u32be(w, (uint32_t)n);
	EML_MEMCPY(w + EML_FRAME_HDR_LEN, body, n);
	return EML_OK;
}
