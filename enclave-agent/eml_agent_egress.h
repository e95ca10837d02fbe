/*
 * The egress guard: the last check before anything computed inside the
 * enclave is sealed for the client (DESIGN §3 step 7).
 *
 * Only the graph's declared outputs may leave, each exactly once, with
 * the declared element type, a shape consistent with the declared one
 * (fixed dimensions equal, symbolic ones free), a byte length that agrees
 * with that shape, and all of them together under a size cap. Anything
 * else (an intermediate activation, a weight, an extra tensor, a tensor
 * whose length says something different from its shape) is refused and no
 * output leaves at all.
 */
#ifndef EML_AGENT_EGRESS_H
#define EML_AGENT_EGRESS_H

#include <stddef.h>

#include "eml_buf.h"
#include "eml_err.h"
#include "model/eml_graph.h"

/*
 * Check outputs[0..n) against g's declared outputs and the cap (total data
 * bytes). Returns EML_OK, or EML_ERR_EGRESS with a detail naming the rule
 * (the tensor name is not given: names come from the secret topology and
 * details may reach logs), or EML_ERR_NULL.
 */
eml_err eml_egress_check(const struct eml_graph *g, const struct eml_tensor *outputs,
    size_t n, size_t cap) EML_MUST_USE;

/*
 * eml_egress_check, then append the protobuf InferResponse carrying the
 * outputs in the graph's declared order to out (a secure buffer: this is
 * plaintext about to be sealed). On failure out->len is unchanged.
 * Returns the errors of eml_egress_check, EML_ERR_PROTO_TOO_LARGE past
 * out's ceiling, EML_ERR_NOMEM.
 */
eml_err eml_egress_encode(const struct eml_graph *g, const struct eml_tensor *outputs,
    size_t n, size_t cap, struct eml_buf *out) EML_MUST_USE;

#endif
