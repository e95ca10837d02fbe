/* Target: the nsm producer's response parsing (attestation/eml_nsm.c:
 * eml_nsm_attest, eml_nsm_describe_pcr, eml_nsm_get_random) with the
 * fuzzer's bytes as the device's answer, through the same fake-device
 * hook the unit tests use. The first input byte picks the request.
 * Invariants: no crash, leak or over-read; a successful Attestation
 * returns 1..16384 bytes; DescribePCR 32/48/64 bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/eml_attest.h"
#include "attestation/eml_nsm.h"
#include "eml_buf.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

struct answer {
	const uint8_t *p;
	size_t n;
};

static int
fake_xfer(void *ctx, int fd, unsigned long request, struct eml_nsm_raw *raw)
{
	const struct answer *a = ctx;
	size_t n = a->n < raw->response_len ? a->n : (size_t)raw->response_len;

	(void)fd;
	(void)request;
	memcpy((void *)(uintptr_t)raw->response_addr, a->p, n);
	raw->response_len = n;
	return 0;
}

EML_FUZZ_TARGET(NULL)
{
	struct answer a;
	struct eml_nsm *nsm = NULL;
	struct eml_buf doc;
	uint8_t pcr[64];
	uint8_t rnd[64];
	size_t len = 0;
	bool locked;

	if (size < 1)
		return 0;
	a.p = data + 1;
	a.n = size - 1;
	if (eml_nsm_open_with(fake_xfer, &a, &nsm) != EML_OK)
		abort();
	eml_buf_init(&doc, EML_ATTEST_DOC_MAX);
	switch (data[0] % 3) {
	case 0:
		if (eml_nsm_attest(nsm, NULL, 0, (const uint8_t *)"n", 1, NULL, 0, &doc) == EML_OK &&
		    (doc.len == 0 || doc.len > EML_ATTEST_DOC_MAX))
			abort();
		break;
	case 1:
		if (eml_nsm_describe_pcr(nsm, 3, &locked, pcr, &len) == EML_OK && len != 32 &&
		    len != 48 && len != 64)
			abort();
		break;
	default:
		/* Every answer is the same, so a short one repeats: bounded by
		 * sizeof(rnd) since each round gives at least one byte. */
		(void)eml_nsm_get_random(nsm, rnd, sizeof(rnd));
		break;
	}
	eml_buf_free(&doc);
	eml_nsm_close(nsm);
	return 0;
}
