/*
 * eml_client_attestation_verify (include/eml/eml.h): an attestation
 * document verified outside a session, through the public API, against the
 * real AWS documents. Expected values come from docNN.json, not from the
 * code under test.
 */
#include "eml_test.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "eml/eml.h"
#include "eml_mem.h"

static uint8_t *root_pem;
static size_t root_len;

static int
setup(void **state)
{
	(void)state;
	root_pem = eml_test_read_file(eml_test_data("attestation/aws_nitro_root_g1.pem"),
	    &root_len);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	eml_free(root_pem);
	return 0;
}

static uint8_t *
doc(const char *name, size_t *n)
{
	char rel[96];

	(void)snprintf(rel, sizeof(rel), "attestation/%s.cbor", name);
	return eml_test_read_file(eml_test_data(rel), n);
}

static void
real_doc_at_its_time_fills_summary(void **state)
{
	json_error_t e;
	json_t *j = json_load_file(eml_test_data("attestation/doc01.json"), 0, &e);
	json_t *pcrs;
	struct eml_client_summary s;
	size_t n;
	uint8_t *d = doc("doc01", &n);
	const char *k;
	json_t *v;

	(void)state;
	assert_non_null(j);
	memset(&s, 0xa5, sizeof(s));
	assert_int_equal(eml_client_attestation_verify(d, n, root_pem, root_len,
	    EML_CLIENT_AT_DOC, &s), 0);
	assert_string_equal(s.module_id, json_string_value(json_object_get(j, "module_id")));
	assert_true(s.timestamp_ms ==
	    (uint64_t)json_integer_value(json_object_get(j, "timestamp_ms")));
	assert_int_equal(s.n_pcrs, (size_t)json_integer_value(json_object_get(j, "pcr_count")));
	assert_string_equal(s.producer, "nsm");
	assert_string_equal(s.root, "aws.nitro-enclaves");
	for (size_t i = 0; i < sizeof(s.session_id); i++)
		assert_int_equal(s.session_id[i], 0);
	pcrs = json_object_get(j, "pcrs_hex (0,1,2,8 and every non-zero)");
	assert_non_null(pcrs);
	json_object_foreach(pcrs, k, v) {
		unsigned idx = (unsigned)atoi(k);
		char hex[97];
		bool seen = false;

		for (size_t i = 0; i < s.n_pcrs; i++) {
			if (s.pcrs[i].index != idx)
				continue;
			for (size_t b = 0; b < 48; b++)
				(void)snprintf(hex + 2 * b, 3, "%02x", s.pcrs[i].value[b]);
			assert_string_equal(hex, json_string_value(v));
			seen = true;
		}
		assert_true(seen);
	}
	/* The same instant given in seconds. */
	assert_int_equal(eml_client_attestation_verify(d, n, root_pem, root_len,
	    (int64_t)(s.timestamp_ms / 1000), &s), 0);
	json_decref(j);
	eml_free(d);
}

static void
times_and_refusals(void **state)
{
	struct eml_client_summary s;
	size_t n, n2, n16;
	uint8_t *d = doc("doc01", &n);
	uint8_t *dbg = doc("doc02", &n2);
	uint8_t *tpm = doc("doc16", &n16);

	(void)state;
	/* Leaf certificates live hours: expired now, not yet valid in 2001. */
	assert_int_equal(eml_client_attestation_verify(d, n, root_pem, root_len,
	    EML_CLIENT_AT_NOW, &s), 321);
	assert_string_equal(eml_client_error_name(321), "EML_ERR_ATTEST_CHAIN_EXPIRED");
	assert_int_equal(eml_client_attestation_verify(d, n, root_pem, root_len, 1000000000,
	    &s), 322);
	assert_int_equal(eml_client_attestation_verify(d, n, root_pem, root_len, -2, &s), 327);
	assert_int_equal(eml_client_attestation_verify(dbg, n2, root_pem, root_len,
	    EML_CLIENT_AT_DOC, &s), 333);
	assert_int_equal(eml_client_attestation_verify(tpm, n16, root_pem, root_len,
	    EML_CLIENT_AT_DOC, &s), 316);
	d[n / 2] ^= 1;
	assert_int_equal(eml_client_attestation_verify(d, n, root_pem, root_len,
	    EML_CLIENT_AT_DOC, &s) / 100, 3);
	d[n / 2] ^= 1;
	assert_int_equal(eml_client_attestation_verify(d, n, (const uint8_t *)"junk", 4,
	    EML_CLIENT_AT_DOC, &s) / 100, 3);
	assert_int_equal(eml_client_attestation_verify(NULL, n, root_pem, root_len, 0, &s), 800);
	assert_int_equal(eml_client_attestation_verify(d, n, root_pem, root_len, 0, NULL), 800);
	assert_int_equal(eml_client_attestation_verify(d, 0, root_pem, root_len, 0, &s), 800);
	assert_true(strlen(eml_client_detail(NULL)) > 0);
	eml_free(d);
	eml_free(dbg);
	eml_free(tpm);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(real_doc_at_its_time_fills_summary),
		cmocka_unit_test(times_and_refusals),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
