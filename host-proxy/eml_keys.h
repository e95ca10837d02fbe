/*
 * API keys for the proxy's clients (docs/PROXY.md "API keys").
 *
 * A key is a token the client presents in its hello:
 *
 *   emlk1.<id>.<64 lowercase hex digits: 32 random bytes>
 *
 * The key file holds, per key, its id, the partner it belongs to, the
 * SHA-256 of (label, id, secret) - never the secret -, a per-key rate
 * limit, a validity window and a revoked flag:
 *
 *   {"version":1,"keys":[{"id":"acme-1","partner":"acme","sha256":"<64 hex>",
 *     "rate_per_minute":60,"not_before":0,"not_after":0,"revoked":false}]}
 *
 * not_before / not_after are Unix seconds, 0 for "no bound". The file is
 * untrusted input as far as its shape goes (bounded size, strict members,
 * no duplicate ids). eml_keys_check compares every key in constant time
 * and does the same work whatever the token, so a missing, malformed,
 * unknown, revoked or expired key costs the same and earns the same
 * refusal; only the verdict (for the operator's audit log) differs.
 */
#ifndef EML_KEYS_H
#define EML_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

#define EML_KEY_ID_MAX 32u
#define EML_KEY_PARTNER_MAX 64u
#define EML_KEY_SECRET_LEN 32u
#define EML_KEY_HASH_LEN 32u
#define EML_KEYS_MAX 4096u
#define EML_KEYS_FILE_MAX (1024u * 1024u)
#define EML_KEY_PREFIX "emlk1."
/* "emlk1." + id + "." + 64 hex */
#define EML_KEY_TOKEN_MAX (6u + EML_KEY_ID_MAX + 1u + 2u * EML_KEY_SECRET_LEN)
#define EML_KEY_RATE_MAX 1000000u

struct eml_key {
	char id[EML_KEY_ID_MAX + 1];
	char partner[EML_KEY_PARTNER_MAX + 1];
	uint8_t hash[EML_KEY_HASH_LEN];
	uint32_t rate_per_minute; /* 0: no per-key limit */
	int64_t not_before;       /* Unix seconds, 0: none */
	int64_t not_after;        /* Unix seconds, 0: none */
	bool revoked;
};

struct eml_keyset {
	struct eml_key *keys;
	size_t n;
};

enum eml_key_verdict {
	EML_KEY_OK = 0,
	EML_KEY_MISSING,    /* no token in the hello */
	EML_KEY_MALFORMED,  /* not emlk1.<id>.<hex> */
	EML_KEY_UNKNOWN,    /* no such id, or the secret does not match */
	EML_KEY_REVOKED,
	EML_KEY_EXPIRED,    /* past not_after */
	EML_KEY_NOT_YET,    /* before not_before */
};

/* A word for logs: "ok", "missing", "malformed", "unknown", ... */
const char *eml_key_verdict_name(enum eml_key_verdict v);

/* Id syntax: 1..32 of [A-Za-z0-9_-]. EML_OK or EML_ERR_USAGE. */
eml_err eml_key_id_check(const char *id) EML_MUST_USE;

/*
 * Parse a key file (n bytes). EML_OK, EML_ERR_KEYS_FILE (detail says
 * where), EML_ERR_NOMEM. On failure *out is left empty.
 */
eml_err eml_keys_parse(const uint8_t *p, size_t n, struct eml_keyset *out) EML_MUST_USE;

/* Read and parse a key file. Adds EML_ERR_FILE. */
eml_err eml_keys_load(const char *path, struct eml_keyset *out) EML_MUST_USE;

/* The canonical JSON text of a key set (one key per line), appended to
 * out (an eml_buf). */
struct eml_buf;
eml_err eml_keys_format(const struct eml_keyset *ks, struct eml_buf *out) EML_MUST_USE;

/* Write a key set to path atomically (temporary file, fsync, rename),
 * mode 0600. EML_ERR_FILE, EML_ERR_NOMEM. */
eml_err eml_keys_save(const char *path, const struct eml_keyset *ks) EML_MUST_USE;

void eml_keys_free(struct eml_keyset *ks);

/* The stored hash of a key: SHA-256("eml api key v1" 0 id 0 secret). */
void eml_key_hash(const char *id, const uint8_t secret[EML_KEY_SECRET_LEN],
    uint8_t out[EML_KEY_HASH_LEN]);

/*
 * A fresh secret for id: its hash goes to hash, the token the client
 * presents to token (EML_KEY_TOKEN_MAX + 1 bytes). Wipe the token after
 * use. EML_ERR_USAGE (bad id), EML_ERR_CRYPTO_RANDOM.
 */
eml_err eml_key_generate(const char *id, uint8_t hash[EML_KEY_HASH_LEN],
    char *token) EML_MUST_USE;

/*
 * Check a presented token (n bytes, may be 0 for none) at Unix time now.
 * Returns the verdict; on EML_KEY_OK *match points at the key (inside ks).
 * id_out (EML_KEY_ID_MAX + 1 bytes) receives the presented id when the
 * token was well formed, "" otherwise: for the audit log.
 */
enum eml_key_verdict eml_keys_check(const struct eml_keyset *ks, const uint8_t *tok, size_t n,
    int64_t now, const struct eml_key **match, char *id_out);

#endif
