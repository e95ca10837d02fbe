/*
 * Attestation verification latency: median over many runs of the whole
 * eml_attest_verify, and of its three parts (parse, COSE ES384 signature,
 * X.509 chain of five P-384 certificates), on real AWS documents at their
 * own time. Figures only. EML_BENCH_RUNS overrides the run count.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_attest_cache.h"
#include "eml_mem.h"
#include "eml_test.h"

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a;
	double y = *(const double *)b;

	return (x > y) - (x < y);
}

static double
median(double *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int
main(void)
{
	static const char *const docs[] = { "doc01.cbor", "doc10.cbor", "doc14.cbor" };
	const char *env = getenv("EML_BENCH_RUNS");
	size_t runs = env != NULL ? (size_t)strtoul(env, NULL, 10) : 300;
	struct eml_attest_root *root = NULL;
	struct eml_attest_doc *doc;
	struct eml_attest_policy pol;
	struct eml_attest_cache *cache = NULL;
	struct eml_attest_timing tm;
	double *t[6];
	size_t n;
	uint8_t *pem;

	if (runs < 1 || eml_mem_init() != EML_OK)
		return 1;
	pem = eml_test_read_file(eml_test_data("attestation/aws_nitro_root_g1.pem"), &n);
	if (eml_attest_root_load(pem, n, &root) != EML_OK)
		return 1;
	eml_free(pem);
	doc = eml_calloc(1, sizeof(*doc));
	for (int k = 0; k < 6; k++)
		t[k] = eml_calloc(runs, sizeof(double));
	/* the client's handshake path: intermediates cached (as after a
	 * process's first handshake), signature || chain on two threads */
	if (eml_attest_cache_new(&cache) != EML_OK)
		return 1;
	eml_attest_policy_init(&pol);
	printf("%-12s %6s %10s %10s %10s %10s %10s %10s %10s\n", "document", "bytes", "total_us",
	    "parse_us", "sig_us", "chain_us", "cached_us", "cchain_us", "runs");
	for (size_t d = 0; d < sizeof(docs) / sizeof(docs[0]); d++) {
		char rel[96];
		uint8_t *p;

		(void)snprintf(rel, sizeof(rel), "attestation/%s", docs[d]);
		p = eml_test_read_file(eml_test_data(rel), &n);
		for (size_t i = 0; i < runs; i++) {
			double a = eml_test_now();
			double b, c, e, f;

			if (eml_attest_doc_parse(p, n, doc) != EML_OK)
				return 1;
			b = eml_test_now();
			if (eml_attest_sig_verify(doc) != EML_OK)
				return 1;
			c = eml_test_now();
			if (eml_attest_chain_verify(doc, root, (int64_t)(doc->timestamp_ms / 1000)) != EML_OK)
				return 1;
			e = eml_test_now();
			if (eml_attest_verify(p, n, root, EML_ATTEST_AT_DOC, 0, &pol, doc) != EML_OK)
				return 1;
			f = eml_test_now();
			if (eml_attest_verify_ex(p, n, root, EML_ATTEST_AT_DOC, 0, &pol, cache, &tm,
			    doc) != EML_OK)
				return 1;
			t[4][i] = (eml_test_now() - f) * 1e6;
			t[5][i] = (double)tm.chain_us;
			t[0][i] = (f - e) * 1e6;
			t[1][i] = (b - a) * 1e6;
			t[2][i] = (c - b) * 1e6;
			t[3][i] = (e - c) * 1e6;
		}
		printf("%-12s %6zu %10.1f %10.1f %10.1f %10.1f %10.1f %10.1f %10zu\n", docs[d], n,
		    median(t[0], runs), median(t[1], runs), median(t[2], runs), median(t[3], runs),
		    median(t[4], runs), median(t[5], runs), runs);
		eml_free(p);
	}
	for (int k = 0; k < 6; k++)
		eml_free(t[k]);
	eml_attest_cache_free(cache);
	eml_free(doc);
	eml_attest_root_free(root);
	return 0;
}
