/*
 * Bounded reading and owned buffers (STYLE §16-21).
 *
 * struct eml_cur is a read-only view over untrusted bytes. Every reader is
 * all-or-nothing: on failure it returns an error and leaves the cursor
 * exactly as it was. Lengths are checked as `n > cur->left`, never by
 * pointer arithmetic that could overflow.
 *
 * struct eml_buf is an owned, growable buffer with a hard ceiling fixed at
 * init. Freeing or resetting wipes it, unless eml_buf_free_nowipe() is used
 * (for ciphertext only). A secure buffer lives in eml_secure_alloc memory.
 */
#ifndef EML_BUF_H
#define EML_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

struct eml_cur {
	const uint8_t *p;
	size_t left;
};

static inline struct eml_cur
eml_cur_make(const void *p, size_t n)
{
	struct eml_cur c = { (const uint8_t *)p, p == NULL ? 0 : n };
	return c;
}

/* Invariant check: a cursor with bytes left has a pointer. */
static inline bool
eml_cur_valid(const struct eml_cur *c)
{
	return c != NULL && (c->left == 0 || c->p != NULL);
}

/* All return EML_OK, EML_ERR_PROTO_TRUNCATED when fewer bytes remain than
 * asked for, or EML_ERR_NULL. */
eml_err eml_cur_read_u8(struct eml_cur *c, uint8_t *out) EML_MUST_USE;
eml_err eml_cur_read_u16be(struct eml_cur *c, uint16_t *out) EML_MUST_USE;
eml_err eml_cur_read_u32be(struct eml_cur *c, uint32_t *out) EML_MUST_USE;
eml_err eml_cur_read_u64be(struct eml_cur *c, uint64_t *out) EML_MUST_USE;
eml_err eml_cur_read_u32le(struct eml_cur *c, uint32_t *out) EML_MUST_USE;
eml_err eml_cur_read_u64le(struct eml_cur *c, uint64_t *out) EML_MUST_USE;
/* Copy n bytes out. */
eml_err eml_cur_read_bytes(struct eml_cur *c, void *dst, size_t n) EML_MUST_USE;
/* Zero-copy: *out points into the cursor's memory, valid as long as it is. */
eml_err eml_cur_take(struct eml_cur *c, size_t n, const uint8_t **out) EML_MUST_USE;
/* Split off the next n bytes as a sub-cursor. */
eml_err eml_cur_sub(struct eml_cur *c, size_t n, struct eml_cur *sub) EML_MUST_USE;
eml_err eml_cur_skip(struct eml_cur *c, size_t n) EML_MUST_USE;
/* EML_OK when nothing is left, else EML_ERR_PROTO_TRAILING. */
eml_err eml_cur_expect_end(const struct eml_cur *c) EML_MUST_USE;

struct eml_buf {
	uint8_t *data;
	size_t len;  /* bytes in use */
	size_t cap;  /* bytes allocated */
	size_t max;  /* hard ceiling on cap, fixed at init */
	bool secure; /* data comes from eml_secure_alloc */
};

/* Empty buffer that may grow to max bytes. Allocates nothing yet. */
void eml_buf_init(struct eml_buf *b, size_t max);
void eml_buf_init_secure(struct eml_buf *b, size_t max);
/* Make room for n more bytes. EML_ERR_PROTO_TOO_LARGE past the ceiling,
 * EML_ERR_NOMEM, EML_ERR_OVERFLOW. On failure the buffer is unchanged. */
eml_err eml_buf_reserve(struct eml_buf *b, size_t n) EML_MUST_USE;
eml_err eml_buf_append(struct eml_buf *b, const void *p, size_t n) EML_MUST_USE;
eml_err eml_buf_append_u8(struct eml_buf *b, uint8_t v) EML_MUST_USE;
eml_err eml_buf_append_u32be(struct eml_buf *b, uint32_t v) EML_MUST_USE;
eml_err eml_buf_append_u64be(struct eml_buf *b, uint64_t v) EML_MUST_USE;
/* Grow len by n bytes (after reserve) and return where they start, so a
 * caller can write in place. */
eml_err eml_buf_extend(struct eml_buf *b, size_t n, uint8_t **where) EML_MUST_USE;
/* Wipe the contents and set len to 0; keeps the allocation. */
void eml_buf_reset(struct eml_buf *b);
/* Wipe and release. The buffer is left empty and reusable with the same max. */
void eml_buf_free(struct eml_buf *b);
/* Release without wiping: only for bytes that were never secret. */
void eml_buf_free_nowipe(struct eml_buf *b);
static inline struct eml_cur
eml_buf_cur(const struct eml_buf *b)
{
	return eml_cur_make(b->data, b->len);
}

/* Big-endian stores for fixed headers. */
static inline void
eml_store_u32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline void
eml_store_u64be(uint8_t *p, uint64_t v)
{
	eml_store_u32be(p, (uint32_t)(v >> 32));
	eml_store_u32be(p + 4, (uint32_t)v);
}

/* Hex helpers for ids and digests (never for payloads). dst must hold
 * 2*n+1 bytes. eml_hex_decode returns EML_ERR_PROTO_DECODE on bad input or
 * when the decoded length is not exactly n, and then leaves dst untouched. */
void eml_hex_encode(char *dst, const uint8_t *src, size_t n);
eml_err eml_hex_decode(uint8_t *dst, size_t n, const char *hex) EML_MUST_USE;

/* One byte of a JSON string in plain ASCII: quote and backslash get a
 * backslash, control bytes and every byte >= 0x7f become \u00XX, the rest
 * stay. Writes 1, 2 or 6 chars to out (no NUL) and returns the count. Every
 * JSON writer in the project (logs, audit log, admin pages) escapes through
 * this, so no odd byte can break a line. */
size_t eml_json_escape_byte(unsigned char c, char out[6]);

#endif
