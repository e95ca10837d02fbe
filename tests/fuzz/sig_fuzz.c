/* Target: eml_sig_parse and eml_sig_verify (model/eml_sign.c), the agent's
 * reader of the model.sig a client sends with a request.
 * Invariants: no crash, leak or over-read for any input; parsing is exact
 * (a parsed file re-encodes to the very same bytes); verification of a
 * parsed file whose key id is trusted (Ed25519 verify, or the RSA SPKI
 * parse, its hash check and the PKCS#1 verify) never crashes and never
 * accepts: the message it is checked against is fixed and nobody signed
 * it. Seeds: Ed25519 and RSA model.sig files (tests/fuzz/corpus/sig/),
 * and its first finding (unknown_alg_long_key: an unknown algorithm with a
 * 1606-byte public key overflowed struct eml_sig.pubkey before 4e20ac4). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "model/eml_sign.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	static const uint8_t cid[32] = { 0x11 }, digest[32] = { 0x22 };
	struct eml_sig s;
	struct eml_buf b;
	struct eml_trust *t;
	uint8_t id[EML_SIG_KEY_ID_LEN];

	if (eml_sig_parse(data, size, &s) != EML_OK)
		return 0;
	eml_buf_init(&b, 4096);
	if (eml_sig_encode(&s, &b) != EML_OK || b.len != size || memcmp(b.data, data, size) != 0)
		abort();
	eml_buf_free(&b);
	t = eml_trust_new();
	if (t == NULL)
		abort();
	if (eml_trust_add_id(t, s.key_id) != EML_OK)
		abort();
	if (eml_sig_verify(t, data, size, cid, digest, id) == EML_OK)
		abort();
	eml_trust_free(t);
	return 0;
}
