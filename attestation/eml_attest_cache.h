/*
 * Verified intermediate certificates, remembered across sessions
 * (docs/ATTESTATION.md, "Intermediate cache"). An entry says: the DER with
 * this SHA-384 was verified, in a complete chain X509_verify_cert accepted,
 * as a CA certificate issued by the certificate with SHA-384 `issuer`,
 * under the trust root with SHA-384 `root`, valid from not_before to
 * not_after. A later chain whose every intermediate is such an entry,
 * linked the same way to the same root, skips their signature checks only;
 * the root pin, every validity period at the verification instant, the
 * leaf's signature by its issuer, the leaf's profile, the document's
 * signature and the policy are checked every time. Never the leaf, never
 * a document. Bounded (EML_ATTEST_CACHE_MAX entries, least recently used
 * replaced), thread-safe.
 */
#ifndef EML_ATTEST_CACHE_H
#define EML_ATTEST_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

#define EML_ATTEST_CACHE_MAX 32u
#define EML_ATTEST_SHA384_LEN 48u

struct eml_attest_cache;

eml_err eml_attest_cache_new(struct eml_attest_cache **out) EML_MUST_USE;
void eml_attest_cache_free(struct eml_attest_cache *c);

/* Whether h is an entry issued by `issuer` under `root`, valid at at_s
 * (not_before <= at_s < not_after, as OpenSSL counts). Counts a hit or a
 * miss. */
bool eml_attest_cache_has(struct eml_attest_cache *c, const uint8_t h[EML_ATTEST_SHA384_LEN],
    const uint8_t issuer[EML_ATTEST_SHA384_LEN], const uint8_t root[EML_ATTEST_SHA384_LEN],
    int64_t at_s);
/* Remember a verified intermediate (replaces the least recently used). */
void eml_attest_cache_put(struct eml_attest_cache *c, const uint8_t h[EML_ATTEST_SHA384_LEN],
    const uint8_t issuer[EML_ATTEST_SHA384_LEN], const uint8_t root[EML_ATTEST_SHA384_LEN],
    int64_t not_before, int64_t not_after);
/* Entries, hits and misses so far (tests, bench). */
void eml_attest_cache_stats(struct eml_attest_cache *c, size_t *entries, uint64_t *hits,
    uint64_t *misses);
/* Forget everything. */
void eml_attest_cache_clear(struct eml_attest_cache *c);

#endif
