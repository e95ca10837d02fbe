/*
 * Bounded CBOR for attestation: a wrapper around libcbor that only ever
 * hands it bytes from a struct eml_cur, after a streaming pre-scan that
 * bounds nesting, container sizes and item counts (libcbor allocates a
 * definite container from its declared size before reading its items, so a
 * 5-byte header could otherwise ask for gigabytes), and small typed helpers
 * that check every item's type before use. Also a minimal encoder for the
 * producers (requests to the NSM, simulator documents), writing the same
 * shortest-form heads serde_cbor and the NSM write.
 */
#ifndef EML_CBOR_H
#define EML_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cbor.h>

#include "eml_buf.h"
#include "eml_err.h"

/* Deepest nesting accepted anywhere (the attestation document needs 3). */
#define EML_CBOR_MAX_DEPTH 8

/*
 * Decode exactly one CBOR item from the front of *c and advance *c past it.
 * Indefinite-length maps and arrays are accepted (real Nitro documents use
 * them); indefinite-length byte and text strings are not. Bytes after the
 * item stay in *c for the caller to reject or read.
 * Returns EML_OK (*out owned by the caller, release with cbor_decref),
 * EML_ERR_ATTEST_CBOR (malformed, truncated, too deep, a declared size
 * larger than the input), EML_ERR_NOMEM, EML_ERR_NULL. *c is unchanged on
 * failure.
 */
eml_err eml_cbor_decode(struct eml_cur *c, cbor_item_t **out) EML_MUST_USE;

/* Item accessors. Each checks the type first; wrong type gives
 * EML_ERR_ATTEST_FIELD_TYPE. Returned pointers point into the item. */
/* Definite byte string. */
eml_err eml_cbor_get_bytes(const cbor_item_t *it, const uint8_t **p, size_t *n) EML_MUST_USE;
/* Definite text string (not NUL-terminated). */
eml_err eml_cbor_get_text(const cbor_item_t *it, const char **p, size_t *n) EML_MUST_USE;
/* Unsigned integer of any width. */
eml_err eml_cbor_get_uint(const cbor_item_t *it, uint64_t *v) EML_MUST_USE;
/* true when the item is CBOR null. */
bool eml_cbor_is_null(const cbor_item_t *it);
/* Text string equal to s. */
bool eml_cbor_text_eq(const cbor_item_t *it, const char *s);

/*
 * Check that a map has at most max_pairs entries, that every key is a
 * definite text string (text_keys) or an unsigned integer (!text_keys),
 * and that no key appears twice. Returns EML_OK, EML_ERR_ATTEST_FIELD_TYPE
 * (not a map or a key of the wrong type), EML_ERR_ATTEST_FIELD_RANGE (too
 * many entries), EML_ERR_ATTEST_DUP_KEY.
 */
eml_err eml_cbor_map_check(const cbor_item_t *map, bool text_keys, size_t max_pairs) EML_MUST_USE;
/* Value under text key, or NULL. The map must have passed eml_cbor_map_check. */
cbor_item_t *eml_cbor_map_get(const cbor_item_t *map, const char *key);

/* Encoder: shortest-form heads (RFC 8949 §4.2.1 preferred serialization). */
enum eml_cbor_major {
	EML_CBOR_UINT = 0,
	EML_CBOR_NEGINT = 1,
	EML_CBOR_BYTES = 2,
	EML_CBOR_TEXT = 3,
	EML_CBOR_ARRAY = 4,
	EML_CBOR_MAP = 5,
	EML_CBOR_TAG = 6,
};
eml_err eml_cbor_put_head(struct eml_buf *b, enum eml_cbor_major major, uint64_t v) EML_MUST_USE;
eml_err eml_cbor_put_bytes(struct eml_buf *b, const void *p, size_t n) EML_MUST_USE;
eml_err eml_cbor_put_text(struct eml_buf *b, const char *s) EML_MUST_USE;
/* A byte string, or null when p is NULL. */
eml_err eml_cbor_put_bytes_or_null(struct eml_buf *b, const void *p, size_t n) EML_MUST_USE;
eml_err eml_cbor_put_simple(struct eml_buf *b, uint8_t byte) EML_MUST_USE;

#endif
