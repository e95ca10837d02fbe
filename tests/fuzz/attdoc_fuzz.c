/* Target: eml_attest_doc_parse (attestation/eml_attest_doc.c) and, for
 * inputs that parse, eml_attest_sig_verify, eml_attest_chain_verify and
 * eml_attest_policy_check, over an untrusted attestation document as a
 * client receives it. Seeds: the real AWS documents.
 * Invariants: no crash, leak or over-read; a parsed document respects
 * every documented bound; a document that parses re-encodes (through the
 * simulator's encoder) into a payload that parses to the same fields. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_attest_encode.h"
#include "attestation/eml_cbor.h"
#include "eml_buf.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

static struct eml_attest_root *root;
static struct eml_attest_doc *doc;
static struct eml_attest_doc *again;
static const uint8_t nitro_protected[] = { 0xa1, 0x01, 0x38, 0x22 };

/* Once, before the first input. */
static int
fuzz_setup(void)
{
	uint8_t *pem = NULL;
	size_t n = 0;

	if (eml_file_read("attestation/roots/aws_nitro_root_g1.pem", 8192, 0, &pem, &n) != EML_OK ||
	    eml_attest_root_load(pem, n, &root) != EML_OK)
		abort();
	eml_file_free(pem, n, 0);
	doc = eml_calloc(1, sizeof(*doc));
	again = eml_calloc(1, sizeof(*again));
	if (doc == NULL || again == NULL)
		abort();
	return 0;
}

static void
check_bounds(const struct eml_attest_doc *d)
{
	if (d->payload_len == 0 || d->payload_len > EML_ATTEST_PAYLOAD_MAX ||
	    d->certificate_len == 0 || d->certificate_len > EML_ATTEST_CERT_MAX ||
	    d->cabundle_count == 0 || d->cabundle_count > EML_ATTEST_CABUNDLE_MAX ||
	    d->pcr_count == 0 || d->pcr_count > EML_ATTEST_PCR_COUNT ||
	    (unsigned)__builtin_popcount(d->pcr_present) != d->pcr_count ||
	    d->module_id[0] == '\0' || d->timestamp_ms == 0 ||
	    d->public_key.len > EML_ATTEST_OPT_MAX || d->user_data.len > EML_ATTEST_OPT_MAX ||
	    d->nonce.len > EML_ATTEST_OPT_MAX)
		abort();
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
		if ((d->pcr_present & (1u << i)) && d->pcr_len[i] != 32 && d->pcr_len[i] != 48 &&
		    d->pcr_len[i] != 64)
			abort();
	}
}

EML_FUZZ_TARGET(fuzz_setup)
{
	struct eml_attest_policy pol;
	struct eml_buf pl;
	struct eml_buf env;

	if (eml_attest_doc_parse(data, size, doc) != EML_OK)
		return 0;
	check_bounds(doc);
	/* Re-encode the fields the way the NSM would and parse them again:
	 * parse(encode(fields)) must give the same fields. */
	eml_buf_init(&env, EML_ATTEST_DOC_MAX + 64);
	eml_buf_init(&pl, EML_ATTEST_PAYLOAD_MAX);
	if (eml_attest_payload_encode(doc, doc->indefinite_map, &pl) == EML_OK &&
	    eml_cbor_put_head(&env, EML_CBOR_ARRAY, 4) == EML_OK &&
	    eml_cbor_put_bytes(&env, nitro_protected, sizeof(nitro_protected)) == EML_OK &&
	    eml_cbor_put_head(&env, EML_CBOR_MAP, 0) == EML_OK &&
	    eml_cbor_put_bytes(&env, pl.data, pl.len) == EML_OK &&
	    eml_cbor_put_bytes(&env, doc->signature, EML_ATTEST_SIG_LEN) == EML_OK) {
		if (eml_attest_doc_parse(env.data, env.len, again) != EML_OK)
			abort();
		if (strcmp(again->module_id, doc->module_id) != 0 ||
		    again->timestamp_ms != doc->timestamp_ms ||
		    again->pcr_present != doc->pcr_present ||
		    memcmp(again->pcr, doc->pcr, sizeof(doc->pcr)) != 0 ||
		    again->certificate_len != doc->certificate_len ||
		    memcmp(again->certificate, doc->certificate, doc->certificate_len) != 0 ||
		    again->cabundle_count != doc->cabundle_count ||
		    memcmp(again->cabundle_len, doc->cabundle_len, sizeof(doc->cabundle_len)) != 0 ||
		    again->nonce.present != doc->nonce.present ||
		    again->nonce.len != doc->nonce.len ||
		    again->user_data.len != doc->user_data.len ||
		    again->public_key.len != doc->public_key.len)
			abort();
	}
	eml_buf_free(&pl);
	eml_buf_free(&env);
	if (eml_attest_sig_verify(doc) == EML_OK)
		(void)eml_attest_chain_verify(doc, root, (int64_t)(doc->timestamp_ms / 1000));
	eml_attest_policy_init(&pol);
	pol.require_public_key = true;
	pol.max_age_ms = 1000;
	(void)eml_attest_policy_check(doc, &pol, doc->timestamp_ms + 500);
	return 0;
}
