/* Target: eml_eif_measure_mem and eml_eif_sig_parse (eif-build/eml_eif.c)
 * over an untrusted enclave image file. Invariants: no crash or leak; an
 * accepted image has 2..32 sections laid end to end from byte 548 to the
 * end of the input, at least one ramdisk, and measures the same twice. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eif-build/eml_eif.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	struct eml_eif_info a, b;
	struct eml_buf cert, cose;

	if (eml_eif_measure_mem(data, size, &a) == EML_OK) {
		uint64_t at = EML_EIF_HEADER_LEN;

		if (a.num_sections < 2 || a.num_sections > EML_EIF_MAX_SECTIONS || a.ramdisks == 0)
			abort();
		for (unsigned i = 0; i < a.num_sections; i++) {
			if (a.sec[i].offset != at)
				abort();
			at += EML_EIF_SECTION_HEADER_LEN + a.sec[i].size;
		}
		if (at != size)
			abort();
		if (eml_eif_measure_mem(data, size, &b) != EML_OK ||
		    memcmp(a.pcr, b.pcr, sizeof(a.pcr)) != 0 || a.is_signed != b.is_signed)
			abort();
		eml_eif_info_free(&b);
	}
	eml_eif_info_free(&a);
	/* The signature section parser on its own, too. */
	eml_buf_init(&cert, EML_EIF_SIGNATURE_MAX);
	eml_buf_init(&cose, EML_EIF_SIGNATURE_MAX);
	(void)eml_eif_sig_parse(data, size, &cert, &cose);
	eml_buf_free_nowipe(&cert);
	eml_buf_free_nowipe(&cose);
	return 0;
}
