/*
 * Protobuf base-128 varints, the writing side: how many bytes a value
 * takes, and the bytes (seven bits at a time, least significant first,
 * the top bit set on every byte but the last). Readers stay with their
 * callers, each with its own rule for a cut or overlong varint.
 *
 * Header-only: the envelope code and the proxy's wire helpers both use
 * it, and the proxy's link (proxy_isolation.sh, link_rooms.sh) gains no
 * member of libeml_common.a by it.
 */
#ifndef EML_VARINT_H
#define EML_VARINT_H

#include <stddef.h>
#include <stdint.h>

/* The most a 64-bit value takes. */
#define EML_VARINT_MAX 10u

/* Bytes v takes: 1 to EML_VARINT_MAX. */
static inline size_t
eml_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

/* Writes v at p, which has room for eml_varint_len(v) bytes; returns
 * that number. */
static inline size_t
eml_varint_put(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

#endif
