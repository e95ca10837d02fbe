/* Target: eml_manifest_parse (model/eml_manifest.c), its effective form
 * (eml_manifest_json) and eml_manifest_check_model on what parsed.
 * Invariants: no crash, leak or over-read; a refused file leaves the
 * policy zeroed; a parsed one respects its documented bounds (strict
 * implies publishers, limits positive, at most 256 model ids). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "model/eml_manifest.h"
#include "eml_buf.h"
#include "eml_json.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	struct eml_manifest pol;
	uint8_t id[32] = { 0 };

	if (eml_manifest_parse(data, size, &pol) != EML_OK) {
		if (pol.strict || pol.n_models != 0 || pol.trust != NULL)
			abort();
		return 0;
	}
	if (pol.strict && (pol.n_publishers == 0 || pol.trust == NULL))
		abort();
	if (pol.max_topology_bytes == 0 || pol.max_input_bytes == 0 ||
	    pol.max_output_bytes == 0 || pol.max_weight_bytes == 0 ||
	    pol.n_models > EML_MANIFEST_MAX_IDS)
		abort();
	{
		/* The effective manifest parses back to the same digest. */
		struct eml_manifest again;
		struct eml_buf b;

		eml_buf_init(&b, EML_JSON_DIGEST_MAX);
		if (eml_manifest_json(&pol, &b) != EML_OK ||
		    eml_manifest_parse(b.data, b.len, &again) != EML_OK ||
		    memcmp(again.digest, pol.digest, sizeof(pol.digest)) != 0)
			abort();
		eml_manifest_clear(&again);
		eml_buf_free_nowipe(&b);
	}
	if (pol.n_models > 0)
		memcpy(id, pol.models[0], sizeof(id));
	/* A listed model passes unless strict; strict never passes unsigned. */
	if (eml_manifest_check_model(&pol, id, NULL) == EML_OK && pol.strict)
		abort();
	eml_manifest_clear(&pol);
	return 0;
}
