/*
 * Signature state of the blobs in the weight store (issue 13, "fail-closed
 * artifacts", the proxy's side).
 *
 * A blob's signature file sits beside it in the store as "<content id>.sig"
 * (the model.sig of the split, put there with `eml-proxy blob put FILE
 * --sig model.sig`). The proxy cannot verify it: the signed message is the
 * content id and the SHA-256 of the topology key, which the proxy never
 * sees. It can only check that the file is a well-formed model.sig
 * (model/eml_sig_file.h, the one piece of model/ the proxy links) and,
 * when the operator gives it the allowed signers' key ids (--signers
 * FILE), that the file names one of them. This is operator hygiene on an
 * untrusted host: the agent still verifies every signature against its
 * attested policy.
 *
 * States: "signed" (a file that parses and, with --signers, names an
 * allowed signer), "unsigned" (no file), "bad" (a file that is not a
 * regular file, too large, malformed, or names another signer). With
 * --strict-artifacts the proxy serves only "signed" blobs; anything else
 * is refused with EML_ERR_BLOB_UNSIGNED (764) to the agent and the client.
 */
#ifndef EML_ARTIFACTS_H
#define EML_ARTIFACTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"
#include "eml_store.h"

#define EML_SIGNERS_MAX 256u
#define EML_SIGNERS_FILE_MAX (64u * 1024u)
/* Largest model.sig: header, RSA-4096 SPKI, RSA-4096 signature. */
#define EML_ARTIFACT_SIG_MAX 2048u

enum eml_artifact_sig {
	EML_ARTIFACT_UNSIGNED = 0,
	EML_ARTIFACT_SIGNED = 1,
	EML_ARTIFACT_BAD = 2,
};

/* The allowed signers' key ids. */
struct eml_signers {
	size_t n;
	uint8_t ids[EML_SIGNERS_MAX][32];
};

/*
 * Read a signers file: one key id per line, 64 hex digits, as `eml keys
 * id PUBLIC.pem` prints it (the "key id " prefix of that output is
 * accepted); blank lines and lines starting with '#' are skipped.
 * EML_OK, EML_ERR_CONFIG (a line that is not a key id, no key at all, more
 * than EML_SIGNERS_MAX; the detail gives the line), EML_ERR_FILE.
 */
eml_err eml_signers_load(const char *path, struct eml_signers *out) EML_MUST_USE;
eml_err eml_signers_parse(const uint8_t *p, size_t n, struct eml_signers *out) EML_MUST_USE;

/*
 * The signature state of blob id in store s. signers NULL: any well-formed
 * file counts as signed. key_id receives the file's signer when it parsed
 * (signed, or bad because of an unknown signer); *has_key says whether.
 */
enum eml_artifact_sig eml_artifact_sig_state(const struct eml_store *s,
    const uint8_t id[EML_STORE_ID_LEN], const struct eml_signers *signers, uint8_t key_id[32],
    bool *has_key);

const char *eml_artifact_sig_name(enum eml_artifact_sig st);

/*
 * Copy a model.sig into the store beside blob id as "<id>.sig" (written
 * to a temporary name, fsync'ed, renamed). The file must parse as a
 * model.sig. EML_OK, EML_ERR_SIG_FORMAT (and the parser's codes),
 * EML_ERR_FILE.
 */
eml_err eml_artifact_put_sig(const struct eml_store *s, const uint8_t id[EML_STORE_ID_LEN],
    const char *sig_path) EML_MUST_USE;

#endif
