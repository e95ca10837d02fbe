/* Target: eml_agent_policy_parse (enclave-agent/eml_agent_policy.c) and
 * eml_agent_policy_check_model on what parsed.
 * Invariants: no crash, leak or over-read; a refused file leaves the
 * policy zeroed; a parsed one respects its documented bounds (strict
 * implies publishers, limits positive, at most 256 model ids). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "enclave-agent/eml_agent_policy.h"
#include "eml_mem.h"
#include "tests/fuzz/eml_fuzz.h"

EML_FUZZ_TARGET(NULL)
{
	struct eml_agent_policy pol;
	uint8_t id[32] = { 0 };

	if (eml_agent_policy_parse(data, size, &pol) != EML_OK) {
		if (pol.strict || pol.n_models != 0 || pol.trust != NULL)
			abort();
		return 0;
	}
	if (pol.strict && (pol.n_publishers == 0 || pol.trust == NULL))
		abort();
	if (pol.max_topology_bytes == 0 || pol.max_input_bytes == 0 ||
	    pol.max_output_bytes == 0 || pol.max_weight_bytes == 0 ||
	    pol.n_models > EML_AGENT_POLICY_MAX_IDS)
		abort();
	if (pol.n_models > 0)
		memcpy(id, pol.models[0], sizeof(id));
	/* A listed model passes unless strict; strict never passes unsigned. */
	if (eml_agent_policy_check_model(&pol, id, NULL) == EML_OK && pol.strict)
		abort();
	eml_agent_policy_clear(&pol);
	return 0;
}
