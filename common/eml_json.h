/*
 * Strict JSON (RFC 8259, I-JSON RFC 7493) and its canonical form, the
 * JSON Canonicalization Scheme (RFC 8785, "JCS").
 *
 * The parser reads untrusted bytes through a bounded cursor and accepts
 * only: UTF-8 without BOM; no invalid, overlong or surrogate encodings; no
 * lone surrogate escapes; no raw control characters in strings; no
 * duplicate member names (compared after unescaping); numbers that are
 * finite IEEE 754 doubles; nesting at most EML_JSON_MAX_DEPTH; at most
 * EML_JSON_MAX_NODES values; nothing but whitespace after the value.
 *
 * The canonical writer (RFC 8785 §3.2): no whitespace; members sorted by
 * the UTF-16 code units of their names; strings with only the escapes
 * ECMAScript JSON.stringify uses; numbers as ECMAScript
 * Number.prototype.toString writes them.
 */
#ifndef EML_JSON_H
#define EML_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"

#define EML_JSON_MAX_DEPTH 32
#define EML_JSON_MAX_NODES 65536
/* Longest number token accepted, and the longest any double needs in
 * canonical form ("-1.7976931348623157e+308" is 24 characters). */
#define EML_JSON_NUMBER_TEXT_MAX 512
#define EML_JSON_NUMBER_OUT_MAX 32

enum eml_json_type {
	EML_JSON_NULL = 1,
	EML_JSON_FALSE,
	EML_JSON_TRUE,
	EML_JSON_NUMBER,
	EML_JSON_STRING,
	EML_JSON_ARRAY,
	EML_JSON_OBJECT,
};

/* One value. Object members are the items, each carrying its name in key
 * (UTF-8, NUL-terminated; key_len excludes the NUL and may count embedded
 * NULs); array elements have key NULL. Strings are decoded UTF-8. */
struct eml_json {
	enum eml_json_type type;
	double num;
	char *str;
	size_t str_len;
	char *key;
	size_t key_len;
	struct eml_json *items;
	size_t n;
};

/*
 * Parse n bytes into a tree owned by the caller (eml_json_free). Returns
 * EML_OK, EML_ERR_JSON (the detail says what and at which byte offset),
 * EML_ERR_NOMEM, EML_ERR_NULL. *out is NULL on failure.
 */
eml_err eml_json_parse(const uint8_t *p, size_t n, struct eml_json **out) EML_MUST_USE;
void eml_json_free(struct eml_json *v);

/* The member named key of an object (exact bytes), or NULL. */
const struct eml_json *eml_json_get(const struct eml_json *obj, const char *key);

/*
 * Append the RFC 8785 canonical form of v to out. Members named in skip
 * (a NULL-terminated list, or NULL) at the top level only are left out,
 * for signatures over "every other field". EML_OK, EML_ERR_JSON (a non-finite number),
 * EML_ERR_PROTO_TOO_LARGE (out's ceiling), EML_ERR_NOMEM.
 */
eml_err eml_json_canonical(const struct eml_json *v, const char *const *skip,
    struct eml_buf *out) EML_MUST_USE;
/* Parse, then write the canonical form. */
eml_err eml_json_canonicalize(const uint8_t *p, size_t n, struct eml_buf *out) EML_MUST_USE;

/* ECMAScript Number.prototype.toString of a finite double, NUL-terminated
 * (RFC 8785 §3.2.2.3). EML_OK or EML_ERR_JSON for NaN and infinities. */
eml_err eml_json_number(double v, char out[EML_JSON_NUMBER_OUT_MAX]) EML_MUST_USE;

/* A JSON string literal of n UTF-8 bytes with the RFC 8785 escapes,
 * quotes included. The bytes are not validated here. */
eml_err eml_json_put_string(struct eml_buf *out, const char *s, size_t n) EML_MUST_USE;

/*
 * SHA-256 over domain (its bytes and the terminating NUL) followed by the
 * RFC 8785 form of the n bytes of JSON, which must be an object: a digest that two spellings of
 * the same document share (the policy manifest digest, ATTESTATION.md
 * section 6). The canonical form may be at most EML_JSON_DIGEST_MAX
 * bytes. EML_OK, EML_ERR_JSON, EML_ERR_PROTO_TOO_LARGE, EML_ERR_NOMEM.
 */
#define EML_JSON_DIGEST_MAX (1u << 20)
eml_err eml_json_domain_sha256(const char *domain, const uint8_t *p, size_t n,
    uint8_t out[32]) EML_MUST_USE;

/* Negative, zero or positive as a sorts before, with or after b in
 * UTF-16 code units (RFC 8785 §3.2.3). Both are valid UTF-8. */
int eml_json_utf16_cmp(const char *a, size_t an, const char *b, size_t bn);

#endif
