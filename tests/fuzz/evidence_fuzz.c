/* Target: eml_evidence_parse, eml_evidence_keys_parse
 * (attestation/eml_evidence.c) and
 * eml_json_canonicalize (common/eml_json.c) over an untrusted artifact.
 * Invariants: no crash or leak; a parsed artifact has bounded counts;
 * the canonical form of anything that parses parses again and is a fixed
 * point of canonicalization. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/eml_evidence.h"
#include "eml_json.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

static struct eml_evidence ev;
static struct eml_evidence_keys keys;

EML_FUZZ_TARGET(NULL)
{
	struct eml_buf a, b;

	if (eml_evidence_parse(data, size, &ev) == EML_OK) {
		if (ev.session.n_models > EML_EVIDENCE_MODELS_MAX ||
		    ev.session.nonce_len > EML_EVIDENCE_NONCE_MAX || ev.doc_len > sizeof(ev.doc) ||
		    ev.version != EML_EVIDENCE_VERSION)
			abort();
	}
	if (eml_evidence_keys_parse(data, size, &keys) == EML_OK && keys.n > EML_EVIDENCE_KEYS_MAX)
		abort();
	eml_buf_init(&a, EML_EVIDENCE_MAX * 2);
	eml_buf_init(&b, EML_EVIDENCE_MAX * 2);
	if (eml_json_canonicalize(data, size, &a) == EML_OK) {
		if (eml_json_canonicalize(a.data, a.len, &b) != EML_OK || a.len != b.len ||
		    memcmp(a.data, b.data, a.len) != 0)
			abort();
	}
	eml_buf_free_nowipe(&a);
	eml_buf_free_nowipe(&b);
	return 0;
}
