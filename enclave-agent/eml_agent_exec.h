/*
 * The engine as the agent uses it: one graph, a plan for the last input
 * shapes (re-planned when they change), run, outputs as views. The
 * session keeps one per assembled model (eml_assembly_attach_engine).
 */
#ifndef EML_AGENT_EXEC_H
#define EML_AGENT_EXEC_H

#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"
#include "model/eml_graph.h"

struct eml_agent_exec;
struct eml_node_checks;

/* Validate g for the engine; g is taken (also on failure). chk (or NULL):
 * what validating g kept of its nodes (eml_engine_check_node_keep),
 * taken instead of checking them again; it stays the caller's to free.
 * EML_OK with *out, the engine's model errors, EML_ERR_NOMEM. */
eml_err eml_agent_exec_new(struct eml_graph *g, struct eml_node_checks *chk, int threads,
    struct eml_agent_exec **out) EML_MUST_USE;
/* Bound every planned tensor and the plan's arena (bytes; 0: the
 * engine's limits). Drops a plan made under other limits. */
void eml_agent_exec_set_limits(struct eml_agent_exec *x, size_t max_tensor_bytes,
    size_t max_arena_bytes);
/* Wall-time limit of each run in ms (0: none); a run past it fails with
 * EML_ERR_POLICY_TIME and its plan is dropped (activations wiped). */
void eml_agent_exec_set_time_limit(struct eml_agent_exec *x, uint64_t ms);
const struct eml_graph *eml_agent_exec_graph(const struct eml_agent_exec *x);
/* Plan (when the shapes differ from the last run) and run. Inputs are
 * matched to graph inputs by name (an empty name: by position);
 * EML_ERR_INFER_INPUT when they do not match. outs receives
 * views valid until the next run or free; *n_outs their count, at most
 * max_outs. Errors of eml_plan_new / eml_plan_run, EML_ERR_EGRESS when the
 * plan has more outputs than max_outs. */
eml_err eml_agent_exec_run(struct eml_agent_exec *x, const struct eml_tensor *inputs,
    size_t n_inputs, struct eml_tensor *outs, size_t max_outs, size_t *n_outs) EML_MUST_USE;
/* The planning half of eml_agent_exec_run, on its own: plan for these
 * inputs when the shapes differ from the last plan's. The next
 * eml_agent_exec_run with the same inputs then only runs (the agent plans
 * while the blob's content id is still being checked, issue 16). */
eml_err eml_agent_exec_prepare(struct eml_agent_exec *x, const struct eml_tensor *inputs,
    size_t n_inputs) EML_MUST_USE;
/* Free the plan (wiping activations) but keep the model. */
void eml_agent_exec_drop_plan(struct eml_agent_exec *x);
/* Microseconds the last eml_agent_exec_run (with the prepare before it)
 * spent planning (0: plan reused). */
uint64_t eml_agent_exec_plan_us(const struct eml_agent_exec *x);
/* Wipe and free all; a void * so it fits eml_model_attach_engine. */
void eml_agent_exec_free(void *x);

#endif
