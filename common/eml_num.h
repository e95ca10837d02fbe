/*
 * The one number parser for command-line arguments, addresses and policy
 * keys: strict unsigned decimal. Digits only (no sign, no spaces, no "0x"),
 * no leading zero unless the number is 0, no overflow, and the value within
 * [lo, hi]. Anything else is EML_ERR_USAGE; the caller words the message.
 */
#ifndef EML_NUM_H
#define EML_NUM_H

#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

/* The whole NUL-terminated string s. */
eml_err eml_num_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) EML_MUST_USE;
/* Exactly the n bytes at s (for "CID:PORT" or "N=HEX" style pieces). */
eml_err eml_num_u64n(const char *s, size_t n, uint64_t lo, uint64_t hi, uint64_t *out)
    EML_MUST_USE;

#endif
