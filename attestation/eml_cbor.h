/*
 * Bounded CBOR for attestation: our own decoder into a small item tree,
 * reading only from a struct eml_cur. Every declared container size is
 * checked against the bytes left in the input before anything is
 * allocated for it, nesting is limited, and strings point into the input
 * (so the input must outlive the tree). The whole tree is one allocation
 * through eml_mem, sized by a first validating pass. Typed accessors check
 * every item's type before use. Also a minimal encoder for the producers
 * (requests to the NSM, simulator documents), writing the same
 * shortest-form heads serde_cbor and the NSM write.
 */
#ifndef EML_CBOR_H
#define EML_CBOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

/* Deepest nesting accepted anywhere (the attestation document needs 3). */
#define EML_CBOR_MAX_DEPTH 8

/* Kinds of decoded item. */
enum eml_cbor_kind {
	EML_CBOR_K_UINT, /* v is the value */
	EML_CBOR_K_NEGINT, /* v is the CBOR argument: the value is -1 - v */
	EML_CBOR_K_BYTES, /* p, n: definite byte string, into the input */
	EML_CBOR_K_TEXT, /* p, n: definite text string, into the input */
	EML_CBOR_K_ARRAY, /* kids[0..n) */
	EML_CBOR_K_MAP, /* n pairs: key kids[2i], value kids[2i+1] */
	EML_CBOR_K_TAG, /* v is the tag number, kids[0] the tagged item */
	EML_CBOR_K_SIMPLE, /* v: 20 false, 21 true, 22 null, 23 undefined */
	EML_CBOR_K_FLOAT, /* half, single or double; the value is not kept */
};

/* One decoded item. Read it through the accessors below. */
struct eml_cbor_item {
	enum eml_cbor_kind kind;
	bool indefinite; /* array or map written with an indefinite length */
	uint64_t v;
	const uint8_t *p;
	size_t n;
	struct eml_cbor_item *kids;
};

/*
 * Decode exactly one CBOR item from the front of *c and advance *c past it.
 * Indefinite-length maps and arrays are accepted (real Nitro documents use
 * them); indefinite-length byte and text strings are not. Bytes after the
 * item stay in *c for the caller to reject or read.
 * Returns EML_OK (*out owned by the caller, release with eml_cbor_free;
 * strings in it point into *c's bytes), EML_ERR_ATTEST_CBOR (malformed,
 * truncated, too deep, a declared size larger than the input),
 * EML_ERR_NOMEM, EML_ERR_NULL. *c is unchanged on failure.
 */
eml_err eml_cbor_decode(struct eml_cur *c, struct eml_cbor_item **out) EML_MUST_USE;
/* Release a tree from eml_cbor_decode and set *it to NULL. */
void eml_cbor_free(struct eml_cbor_item **it);

/* Type tests; all false for NULL. */
bool eml_cbor_is_uint(const struct eml_cbor_item *it);
bool eml_cbor_is_negint(const struct eml_cbor_item *it);
bool eml_cbor_is_text(const struct eml_cbor_item *it);
bool eml_cbor_is_array(const struct eml_cbor_item *it);
bool eml_cbor_is_map(const struct eml_cbor_item *it);
bool eml_cbor_is_tag(const struct eml_cbor_item *it);
bool eml_cbor_is_bool(const struct eml_cbor_item *it);
/* true when the item is CBOR null. */
bool eml_cbor_is_null(const struct eml_cbor_item *it);
/* Array or map written with an indefinite length. */
bool eml_cbor_is_indefinite(const struct eml_cbor_item *it);

/* Item accessors. Each checks the type first; wrong type gives
 * EML_ERR_ATTEST_FIELD_TYPE. Returned pointers point into the input. */
/* Definite byte string. */
eml_err eml_cbor_get_bytes(
    const struct eml_cbor_item *it, const uint8_t **p, size_t *n) EML_MUST_USE;
/* Definite text string (not NUL-terminated). */
eml_err eml_cbor_get_text(const struct eml_cbor_item *it, const char **p, size_t *n) EML_MUST_USE;
/* Unsigned integer of any width. */
eml_err eml_cbor_get_uint(const struct eml_cbor_item *it, uint64_t *v) EML_MUST_USE;
/* Negative integer: *arg is the CBOR argument, the value being -1 - *arg. */
eml_err eml_cbor_get_negint(const struct eml_cbor_item *it, uint64_t *arg) EML_MUST_USE;
/* true or false. */
eml_err eml_cbor_get_bool(const struct eml_cbor_item *it, bool *v) EML_MUST_USE;
/* Text string equal to s. */
bool eml_cbor_text_eq(const struct eml_cbor_item *it, const char *s);
/* Unsigned integer equal to v. */
bool eml_cbor_uint_eq(const struct eml_cbor_item *it, uint64_t v);

/* Containers: sizes are 0 and elements NULL for the wrong type or index. */
size_t eml_cbor_array_size(const struct eml_cbor_item *it);
const struct eml_cbor_item *eml_cbor_array_get(const struct eml_cbor_item *it, size_t i);
/* Number of key/value pairs. */
size_t eml_cbor_map_size(const struct eml_cbor_item *it);
const struct eml_cbor_item *eml_cbor_map_key(const struct eml_cbor_item *it, size_t i);
const struct eml_cbor_item *eml_cbor_map_value(const struct eml_cbor_item *it, size_t i);

/*
 * Check that a map has at most max_pairs entries, that every key is a
 * definite text string (text_keys) or an unsigned integer (!text_keys),
 * and that no key appears twice. Returns EML_OK, EML_ERR_ATTEST_FIELD_TYPE
 * (not a map or a key of the wrong type), EML_ERR_ATTEST_FIELD_RANGE (too
 * many entries), EML_ERR_ATTEST_DUP_KEY.
 */
eml_err eml_cbor_map_check(
    const struct eml_cbor_item *map, bool text_keys, size_t max_pairs) EML_MUST_USE;
/* Value under text key, or NULL. The map must have passed eml_cbor_map_check. */
const struct eml_cbor_item *eml_cbor_map_get(const struct eml_cbor_item *map, const char *key);

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
