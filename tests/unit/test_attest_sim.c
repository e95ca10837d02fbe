/*
 * The simulator: round trip through the verifier under its own root,
 * rejection under the AWS root, the AWS-shaped chain profile (NOTES §2.3),
 * the NSM byte layout (NOTES §2.1), and the persisted CA directory.
 */
#include "eml_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_attest_sim.h"
#include "eml_buf.h"
#include "eml_mem.h"

static struct eml_attest_doc *doc;

static int
setup(void **state)
{
	(void)state;
	assert_eml_ok(eml_mem_init());
	doc = eml_calloc(1, sizeof(*doc));
	return doc == NULL;
}

static int
teardown(void **state)
{
	(void)state;
	eml_free(doc);
	return 0;
}

static struct eml_attest_root *
root_of(struct eml_attest_sim *sim)
{
	struct eml_buf pem;
	struct eml_attest_root *r = NULL;

	eml_buf_init(&pem, 16384);
	assert_eml_ok(eml_attest_sim_root_pem(sim, &pem));
	assert_eml_ok(eml_attest_root_load(pem.data, pem.len, &r));
	eml_buf_free(&pem);
	return r;
}

static struct eml_attest_root *
aws_root(void)
{
	size_t n;
	uint8_t *pem = eml_test_read_file(eml_test_data("attestation/aws_nitro_root_g1.pem"), &n);
	struct eml_attest_root *r = NULL;

	assert_eml_ok(eml_attest_root_load(pem, n, &r));
	eml_free(pem);
	return r;
}

static void
round_trip_and_aws_rejection(void **state)
{
	struct eml_attest_sim *sim = NULL;
	struct eml_attest_root *r;
	struct eml_attest_root *aws = aws_root();
	struct eml_attest_policy pol;
	struct eml_buf d;
	uint8_t nonce[32];
	uint8_t ud[32];
	uint8_t pk[32];
	struct eml_attest_sim_config cfg;

	(void)state;
	for (size_t i = 0; i < 32; i++) {
		nonce[i] = (uint8_t)i;
		ud[i] = (uint8_t)(0xa0 + i);
		pk[i] = (uint8_t)(0x50 ^ i);
	}
	eml_attest_sim_config_default(&cfg);
	cfg.pcr[0][0] = 0x11;
	assert_eml_ok(eml_attest_sim_open(NULL, &cfg, &sim));
	r = root_of(sim);
	eml_buf_init(&d, EML_ATTEST_DOC_MAX);
	assert_eml_ok(eml_attest_sim_attest(sim, 0, ud, 32, nonce, 32, pk, 32, &d));

	eml_attest_policy_init(&pol);
	pol.nonce_set = pol.user_data_set = pol.require_public_key = true;
	pol.nonce_len = pol.user_data_len = 32;
	memcpy(pol.nonce, nonce, 32);
	memcpy(pol.user_data, ud, 32);
	memcpy(pol.pcr[0], cfg.pcr[0], 48);
	pol.pcr_len[0] = 48;
	pol.pcr_mask = 1;
	pol.max_age_ms = 60 * 1000;
	assert_eml_ok(eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_NOW, 0, &pol, doc));
	assert_string_equal(doc->module_id, cfg.module_id);
	assert_int_equal(doc->pcr_count, 16);
	assert_memory_equal(doc->public_key.data, pk, 32);
	/* Under the AWS root: the bundle's root is not AWS's. */
	assert_eml(eml_attest_verify(d.data, d.len, aws, EML_ATTEST_AT_NOW, 0, &pol, doc),
	    EML_ERR_ATTEST_UNTRUSTED_ROOT);
	/* Wrong nonce, other PCR0. */
	pol.nonce[0] ^= 1;
	assert_eml(eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_NOW, 0, &pol, doc),
	    EML_ERR_ATTEST_NONCE);
	pol.nonce[0] ^= 1;
	pol.pcr[0][0] ^= 1;
	assert_eml(eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_NOW, 0, &pol, doc),
	    EML_ERR_ATTEST_PCR_MISMATCH);
	/* A second simulator's root does not accept the first one's documents. */
	{
		struct eml_attest_sim *other = NULL;
		struct eml_attest_root *r2;

		assert_eml_ok(eml_attest_sim_open(NULL, NULL, &other));
		r2 = root_of(other);
		assert_eml(eml_attest_verify(d.data, d.len, r2, EML_ATTEST_AT_NOW, 0, &pol, doc),
		    EML_ERR_ATTEST_UNTRUSTED_ROOT);
		eml_attest_root_free(r2);
		eml_attest_sim_free(other);
	}
	eml_buf_free(&d);
	eml_attest_root_free(r);
	eml_attest_root_free(aws);
	eml_attest_sim_free(sim);
}

/* The NSM's byte layout: untagged, a1 01 38 22, {}, payload, 96-byte
 * signature; payload keys in the NSM's order; nulls for absent fields. */
static void
document_layout_is_nsm(void **state)
{
	static const uint8_t head[] = { 0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0, 0x59 };
	static const char *const order[] = { "module_id", "digest", "timestamp", "pcrs",
		"certificate", "cabundle", "public_key", "user_data", "nonce" };
	struct eml_attest_sim *sim = NULL;
	struct eml_buf d;
	size_t last = 0;

	(void)state;
	assert_eml_ok(eml_attest_sim_open(NULL, NULL, &sim));
	eml_buf_init(&d, EML_ATTEST_DOC_MAX);
	assert_eml_ok(eml_attest_sim_attest(sim, 0, NULL, 0, NULL, 0, NULL, 0, &d));
	assert_memory_equal(d.data, head, sizeof(head));
	/* bstr of 96 bytes closes the document */
	assert_int_equal(d.data[d.len - 98], 0x58);
	assert_int_equal(d.data[d.len - 97], 96);
	assert_eml_ok(eml_attest_doc_parse(d.data, d.len, doc));
	assert_true(doc->indefinite_map);
	assert_int_equal(doc->payload[0], 0xbf);
	assert_int_equal(doc->payload[doc->payload_len - 1], 0xff);
	for (size_t i = 0; i < 9; i++) {
		size_t kl = strlen(order[i]);
		size_t at = 0;

		for (size_t j = 0; j + kl < doc->payload_len; j++) {
			if (doc->payload[j] == (uint8_t)(0x60 + kl) &&
			    memcmp(doc->payload + j + 1, order[i], kl) == 0) {
				at = j;
				break;
			}
		}
		assert_true(at > last || (i == 0 && at == 1));
		last = at;
	}
	/* The last three values are null: "nonce" f6 ff. */
	assert_int_equal(doc->payload[doc->payload_len - 2], 0xf6);
	assert_false(doc->nonce.present || doc->user_data.present || doc->public_key.present);
	/* The definite form is the a9 map. */
	{
		struct eml_attest_sim *s2 = NULL;
		struct eml_attest_sim_config cfg;

		eml_attest_sim_config_default(&cfg);
		cfg.indefinite_map = false;
		assert_eml_ok(eml_attest_sim_open(NULL, &cfg, &s2));
		eml_buf_reset(&d);
		assert_eml_ok(eml_attest_sim_attest(s2, 0, NULL, 0, NULL, 0, NULL, 0, &d));
		assert_eml_ok(eml_attest_doc_parse(d.data, d.len, doc));
		assert_int_equal(doc->payload[0], 0xa9);
		eml_attest_sim_free(s2);
	}
	eml_buf_free(&d);
	eml_attest_sim_free(sim);
}

static X509 *
x509_of(const uint8_t *p, size_t n)
{
	const unsigned char *q = p;
	X509 *x = d2i_X509(NULL, &q, (long)n);

	assert_non_null(x);
	return x;
}

static long
life_seconds(X509 *x)
{
	int days = 0;
	int secs = 0;

	assert_int_equal(ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(x), X509_get0_notAfter(x)), 1);
	return (long)days * 86400 + secs;
}

/* Depth, pathlens, key usages, lifetimes and key identifiers as on the
 * AWS chains of the real documents. */
static void
chain_profile_like_aws(void **state)
{
	struct eml_attest_sim *sim = NULL;
	struct eml_buf d;
	static const long pathlen[4] = { -1, 2, 1, 0 };
	static const long life[4] = { 30L * 365 * 86400, 20L * 86400, 6L * 86400, 86400 };

	(void)state;
	assert_eml_ok(eml_attest_sim_open(NULL, NULL, &sim));
	eml_buf_init(&d, EML_ATTEST_DOC_MAX);
	assert_eml_ok(eml_attest_sim_attest(sim, 0, NULL, 0, NULL, 0, NULL, 0, &d));
	assert_eml_ok(eml_attest_doc_parse(d.data, d.len, doc));
	assert_int_equal(doc->cabundle_count, 4);
	for (size_t i = 0; i < 4; i++) {
		X509 *x = x509_of(doc->cabundle[i], doc->cabundle_len[i]);
		int crit = 0;
		BASIC_CONSTRAINTS *bc = X509_get_ext_d2i(x, NID_basic_constraints, &crit, NULL);

		assert_non_null(bc);
		assert_true(bc->ca);
		assert_int_equal(crit, 1);
		assert_int_equal(X509_get_pathlen(x), pathlen[i]);
		assert_true(X509_get_key_usage(x) & KU_KEY_CERT_SIGN);
		assert_int_equal(life_seconds(x), life[i]);
		assert_non_null(X509_get0_subject_key_id(x));
		BASIC_CONSTRAINTS_free(bc);
		X509_free(x);
	}
	{
		X509 *leaf = x509_of(doc->certificate, doc->certificate_len);

		assert_int_equal(X509_check_ca(leaf), 0);
		assert_int_equal(X509_get_key_usage(leaf), KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
		assert_null(X509_get0_subject_key_id(leaf));
		assert_null(X509_get0_authority_key_id(leaf));
		assert_int_equal(life_seconds(leaf), 3 * 3600);
		X509_free(leaf);
	}
	eml_buf_free(&d);
	eml_attest_sim_free(sim);
}

/* Documents for a past instant: the chain is remade around it. */
static void
past_instant(void **state)
{
	struct eml_attest_sim *sim = NULL;
	struct eml_attest_root *r;
	struct eml_attest_policy pol;
	struct eml_buf d;
	uint64_t now_ms = (uint64_t)time(NULL) * 1000u;

	(void)state;
	assert_eml_ok(eml_attest_sim_open(NULL, NULL, &sim));
	r = root_of(sim);
	eml_buf_init(&d, EML_ATTEST_DOC_MAX);
	/* 10 minutes ago: the root was made an hour back. */
	assert_eml_ok(eml_attest_sim_attest(sim, now_ms - 600000, NULL, 0, NULL, 0, NULL, 0, &d));
	eml_attest_policy_init(&pol);
	assert_eml_ok(eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_DOC, 0, &pol, doc));
	pol.max_age_ms = 300 * 1000;
	assert_eml(eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_NOW, 0, &pol, doc),
	    EML_ERR_ATTEST_TOO_OLD);
	/* Four hours on, the leaf has expired. */
	assert_eml(eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_GIVEN,
		       (int64_t)(now_ms / 1000) + 4 * 3600, &pol, doc),
	    EML_ERR_ATTEST_CHAIN_EXPIRED);
	eml_buf_free(&d);
	eml_attest_root_free(r);
	eml_attest_sim_free(sim);
}

static void
ca_directory(void **state)
{
	char dir[] = "/tmp/eml-simca-XXXXXX";
	char path[128];
	struct eml_attest_sim *sim = NULL;
	struct eml_attest_sim *sim2 = NULL;
	struct eml_attest_root *r;
	struct eml_attest_policy pol;
	struct eml_buf d;
	struct stat st;
	uint8_t *pem;
	size_t n;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_eml_ok(eml_attest_sim_ca_create(dir));
	(void)snprintf(path, sizeof(path), "%s/root.key", dir);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* No overwrite, and said so (not "missing or invalid"). */
	assert_eml(eml_attest_sim_ca_create(dir), EML_ERR_FILE_EXISTS);
	/* The root.pem clients read verifies the documents of a sim opened
	 * on the directory. */
	(void)snprintf(path, sizeof(path), "%s/root.pem", dir);
	pem = eml_test_read_file(path, &n);
	assert_eml_ok(eml_attest_root_load(pem, n, &r));
	eml_free(pem);
	assert_eml_ok(eml_attest_sim_open(dir, NULL, &sim));
	eml_buf_init(&d, EML_ATTEST_DOC_MAX);
	{
		struct eml_attest_producer p;

		eml_attest_sim_producer(sim, &p);
		assert_string_equal(p.name, "sim");
		assert_eml_ok(eml_attest_produce(&p, NULL, 0, (const uint8_t *)"n", 1, NULL, 0, &d));
		eml_attest_policy_init(&pol);
		assert_eml_ok(eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_NOW, 0, &pol, doc));
		eml_attest_producer_close(&p); /* frees sim */
	}
	/* A key that does not match the certificate. */
	(void)snprintf(path, sizeof(path), "%s/x", dir);
	assert_int_equal(mkdir(path, 0700), 0);
	assert_eml_ok(eml_attest_sim_ca_create(path));
	{
		char a[160];
		char b[160];

		(void)snprintf(a, sizeof(a), "%s/x/root.key", dir);
		(void)snprintf(b, sizeof(b), "%s/root.key", dir);
		assert_int_equal(rename(a, b), 0);
	}
	assert_eml(eml_attest_sim_open(dir, NULL, &sim2), EML_ERR_ATTEST_SIM_CA);
	assert_null(sim2);
	assert_eml(eml_attest_sim_open("/nonexistent/dir", NULL, &sim2), EML_ERR_ATTEST_SIM_CA);
	/* Clean up. */
	(void)snprintf(path, sizeof(path), "%s/x/root.pem", dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/x", dir);
	(void)rmdir(path);
	(void)snprintf(path, sizeof(path), "%s/root.pem", dir);
	(void)unlink(path);
	(void)snprintf(path, sizeof(path), "%s/root.key", dir);
	(void)unlink(path);
	(void)rmdir(dir);
	eml_buf_free(&d);
	eml_attest_root_free(r);
}

static void
sim_limits(void **state)
{
	struct eml_attest_sim *sim = NULL;
	struct eml_buf d;
	uint8_t *big = eml_calloc(1, 1025);
	struct eml_attest_producer p;
	bool locked = false;
	uint8_t data[64];
	size_t len = 0;

	(void)state;
	assert_eml_ok(eml_attest_sim_open(NULL, NULL, &sim));
	eml_buf_init(&d, EML_ATTEST_DOC_MAX);
	assert_eml(eml_attest_sim_attest(sim, 0, big, 1025, NULL, 0, NULL, 0, &d),
	    EML_ERR_ATTEST_FIELD_RANGE);
	assert_eml_ok(eml_attest_sim_attest(sim, 0, big, 1024, big, 1024, big, 1024, &d));
	assert_eml_ok(eml_attest_doc_parse(d.data, d.len, doc));
	assert_int_equal(doc->nonce.len, 1024);
	eml_attest_sim_producer(sim, &p);
	assert_eml_ok(eml_attest_describe_pcr(&p, 0, &locked, data, &len));
	assert_int_equal(len, 48);
	assert_memory_equal(data, doc->pcr[0], 48);
	assert_eml(eml_attest_describe_pcr(&p, 16, &locked, data, &len), EML_ERR_ATTEST_NSM_ERROR);
	eml_attest_producer_close(&p);
	eml_buf_free(&d);
	eml_free(big);
}

/* Every allocation of ours failing in turn, through sim -> verify: each
 * run ends in success or a clean error (never a crash; ASan checks for
 * leaks). */
static void
allocation_failures(void **state)
{
	int failures = 0;

	(void)state;
	for (long k = 1; k <= 40; k++) {
		struct eml_attest_sim *sim = NULL;
		struct eml_attest_root *r = NULL;
		struct eml_attest_root *aws = NULL;
		struct eml_attest_policy pol;
		struct eml_buf d;
		struct eml_buf pem;
		eml_err rc;

		eml_buf_init(&d, EML_ATTEST_DOC_MAX);
		eml_buf_init(&pem, 16384);
		eml_attest_policy_init(&pol);
		eml_mem_fail_after(k);
		rc = eml_attest_sim_open(NULL, NULL, &sim);
		if (rc == EML_OK)
			rc = eml_attest_sim_attest(sim, 0, NULL, 0, (const uint8_t *)"n", 1, NULL, 0, &d);
		if (rc == EML_OK)
			rc = eml_attest_sim_root_pem(sim, &pem);
		if (rc == EML_OK)
			rc = eml_attest_root_load(pem.data, pem.len, &r);
		if (rc == EML_OK)
			rc = eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_NOW, 0, &pol, doc);
		if (rc == EML_OK)
			rc = eml_attest_root_load(pem.data, pem.len, &aws);
		eml_mem_fail_after(0);
		if (rc != EML_OK) {
			failures++;
			assert_true(rc == EML_ERR_NOMEM || rc == EML_ERR_PROTO_TOO_LARGE);
		}
		eml_attest_root_free(aws);
		eml_attest_root_free(r);
		eml_attest_sim_free(sim);
		eml_buf_free(&d);
		eml_buf_free(&pem);
	}
	/* The injection did reach this code. */
	assert_true(failures > 0);
}

/* Precomputed nonces (eml_attest_sim_presign): the documents verify, each
 * precomputed nonce signs one document only (a reused k would show as
 * the same r in two signatures, and give the key away), two are kept
 * ready, the next ones are made only when asked
 * (eml_attest_sim_presign_refill: not right after a signature, while
 * that document is being verified), a document asked for while one is
 * under way waits for it, and one asked for with none ready or under way
 * is signed in full. */
static void
presigned_documents(void **state)
{
	struct eml_attest_sim *sim = NULL;
	struct eml_attest_root *r;
	struct eml_attest_policy pol;
	struct eml_buf d;
	uint8_t rs[7][48];
	uint64_t pre = 0, full = 0;
	uint8_t nonce[1] = { 7 };

	(void)state;
	assert_eml_ok(eml_attest_sim_open(NULL, NULL, &sim));
	r = root_of(sim);
	eml_attest_policy_init(&pol);
	eml_buf_init(&d, EML_ATTEST_DOC_MAX);
	assert_eml_ok(eml_attest_sim_presign(sim));
	assert_eml_ok(eml_attest_sim_presign(sim)); /* once is enough */
	for (int i = 0; i < 7; i++) {
		/* 0, 1: the two made at once (1 ready or under way); 2: none
		 * asked for since, in full; 3, 4: asked for and ready; 5, 6:
		 * asked for, taken ready or while under way */
		if (i == 0)
			assert_true(eml_attest_sim_presign_wait(sim, 10000));
		if (i == 2) /* the signatures did not start the next one */
			assert_false(eml_attest_sim_presign_wait(sim, 200));
		if (i >= 3)
			eml_attest_sim_presign_refill(sim);
		if (i == 3 || i == 4)
			assert_true(eml_attest_sim_presign_wait(sim, 10000));
		eml_buf_reset(&d);
		assert_eml_ok(eml_attest_sim_attest(sim, 0, NULL, 0, nonce, 1, NULL, 0, &d));
		assert_eml_ok(eml_attest_verify(d.data, d.len, r, EML_ATTEST_AT_NOW, 0, &pol, doc));
		memcpy(rs[i], doc->signature, 48);
		for (int j = 0; j < i; j++)
			assert_memory_not_equal(rs[i], rs[j], 48);
	}
	eml_attest_sim_presign_stats(sim, &pre, &full);
	assert_int_equal(pre, 6);
	assert_int_equal(full, 1);
	eml_attest_sim_presign_refill(sim); /* one under way at free */
	eml_buf_free(&d);
	eml_attest_root_free(r);
	eml_attest_sim_free(sim); /* stops the thread, clears what is left */
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_and_aws_rejection),
		cmocka_unit_test(document_layout_is_nsm),
		cmocka_unit_test(chain_profile_like_aws),
		cmocka_unit_test(past_instant),
		cmocka_unit_test(ca_directory),
		cmocka_unit_test(sim_limits),
		cmocka_unit_test(allocation_failures),
		cmocka_unit_test(presigned_documents),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
