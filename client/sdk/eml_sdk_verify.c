/* libeml: an attestation document verified on its own, outside a session
 * (archived evidence, a document handed over by someone else). */
#include <stdio.h>
#include <string.h>

#include "attestation/eml_attest.h"
#include "client/sdk/eml_sdk_int.h"
#include "eml_mem.h"

#define SDK_ROOT_PEM_MAX 65536
#define SDK_DOC_MAX (64u << 10)

static void
summary_from_doc(const struct eml_attest_doc *doc, struct eml_client_summary *s)
{
	memset(s, 0, sizeof(*s));
	(void)snprintf(s->module_id, sizeof(s->module_id), "%.127s", doc->module_id);
	s->timestamp_ms = doc->timestamp_ms;
	for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT && s->n_pcrs < EML_CLIENT_MAX_PCRS; i++) {
		if (doc->pcr_len[i] != 48)
			continue;
		s->pcrs[s->n_pcrs].index = i;
		EML_MEMCPY(s->pcrs[s->n_pcrs].value, doc->pcr[i], 48);
		s->n_pcrs++;
	}
	s->policy_digest_len = doc->user_data.present && doc->user_data.len <= 64 ?
	    doc->user_data.len : 0;
	EML_MEMCPY(s->policy_digest, doc->user_data.data, s->policy_digest_len);
}

EML_API int
eml_client_attestation_verify(const uint8_t *doc_bytes, size_t doc_len, const uint8_t *root_pem,
    size_t root_len, int64_t at_s, struct eml_client_summary *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_attest_policy *pol = NULL;
	struct eml_attest_root *root = NULL;
	struct eml_attest_doc *doc = NULL;
	enum eml_attest_at at = EML_ATTEST_AT_GIVEN;

	eml_err_clear_detail();
	if (doc_bytes == NULL || root_pem == NULL || out == NULL || root_len == 0 ||
	    doc_len == 0) {
		eml_err_set_detail("document, root and summary are required");
		EML_FAIL(rc, EML_ERR_USAGE);
	}
	if (root_len > SDK_ROOT_PEM_MAX || doc_len > SDK_DOC_MAX) {
		eml_err_set_detail("document above %u bytes or root above %u bytes", SDK_DOC_MAX,
		    SDK_ROOT_PEM_MAX);
		EML_FAIL(rc, EML_ERR_USAGE);
	}
	if (at_s < EML_CLIENT_AT_DOC) {
		eml_err_set_detail("verification time %lld before the epoch", (long long)at_s);
		EML_FAIL(rc, EML_ERR_ATTEST_TIME);
	}
	if (at_s == EML_CLIENT_AT_NOW)
		at = EML_ATTEST_AT_NOW;
	else if (at_s == EML_CLIENT_AT_DOC)
		at = EML_ATTEST_AT_DOC;
	if ((rc = eml_mem_init()) != EML_OK)
		goto out;
	pol = eml_calloc(1, sizeof(*pol));
	doc = eml_calloc(1, sizeof(*doc));
	if (pol == NULL || doc == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	/* Signature and chain only; the strict defaults refuse debug enclaves.
	 * PCRs, digest and age are the caller's to compare. */
	eml_attest_policy_init(pol);
	if ((rc = eml_attest_root_load(root_pem, root_len, &root)) != EML_OK)
		goto out;
	if ((rc = eml_attest_verify(doc_bytes, doc_len, root, at, at_s, pol, doc)) != EML_OK)
		goto out;
	summary_from_doc(doc, out);
	eml_sdk_describe_root(root_pem, root_len, out);
	rc = EML_OK;
out:
	eml_attest_root_free(root);
	eml_free(doc);
	eml_free(pol);
	eml_sdk_note(NULL, rc);
	return (int)rc;
}
