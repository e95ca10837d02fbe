/* Target: eml_attest_policy_parse and eml_attest_policy_digest
 * (attestation/eml_attest_policy.c) over an untrusted policy file or
 * manifest. Invariants: no crash or leak; a parsed policy only sets PCRs
 * of 32, 48 or 64 bytes, bounded fields, at most one trust root; digesting
 * the same bytes twice gives the same digest. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "attestation/eml_attest.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

static struct eml_attest_policy pol;

EML_FUZZ_TARGET(NULL)
{
	uint8_t d1[EML_ATTEST_POLICY_DIGEST_LEN];
	uint8_t d2[EML_ATTEST_POLICY_DIGEST_LEN];

	if (eml_attest_policy_parse(data, size, &pol) == EML_OK) {
		for (unsigned i = 0; i < EML_ATTEST_PCR_COUNT; i++) {
			if ((pol.pcr_mask & (1u << i)) && pol.pcr_len[i] != 32 &&
			    pol.pcr_len[i] != 48 && pol.pcr_len[i] != 64)
				abort();
		}
		if (pol.user_data_len > EML_ATTEST_OPT_MAX ||
		    pol.root_pem_len >= sizeof(pol.root_pem) ||
		    (pol.root_pem_len != 0 && pol.root_path[0] != '\0'))
			abort();
	}
	if (eml_attest_policy_digest(data, size, d1) == EML_OK) {
		if (eml_attest_policy_digest(data, size, d2) != EML_OK || memcmp(d1, d2, sizeof(d1)) != 0)
			abort();
	}
	return 0;
}
