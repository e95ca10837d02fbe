/*
 * The graph runtime (DESIGN §6): a model is a validated graph; a plan is
 * that model specialised to one set of input shapes, with shapes inferred,
 * shape-only subgraphs folded into constants, fusions applied, weights
 * pre-packed and every activation given a place in one arena by liveness.
 * Running a plan allocates nothing.
 *
 * Ownership:
 * - eml_model_new always takes ownership of the graph (also on failure).
 *   The model keeps it until eml_model_free, which wipes the weights.
 * - A plan borrows its model: free every plan before the model. It owns
 *   its arena, folded constants and packed weights (eml_secure_alloc),
 *   and eml_plan_free wipes them all.
 * - eml_plan_output returns a view into plan memory, valid until the next
 *   eml_plan_run or eml_plan_free.
 *
 * Threads: a plan owns a pool of nthreads (the caller included); one plan
 * runs one inference at a time.
 */
#ifndef EML_ENGINE_H
#define EML_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "eml_err.h"
#include "model/eml_graph.h"

/* Bytes above which a single tensor or the arena is refused. */
#define EML_ENGINE_MAX_TENSOR_BYTES ((size_t)1 << 32)
#define EML_ENGINE_MAX_ARENA_BYTES ((size_t)1 << 34)

struct eml_model;
struct eml_plan;

/*
 * Validate every node against the supported operator set and attribute
 * values. Errors: EML_ERR_INFER_OP (operator or domain not supported),
 * EML_ERR_INFER_ATTR (attribute missing, invalid or not implemented),
 * EML_ERR_INFER_DTYPE, EML_ERR_NOMEM. eml_err_detail() names the node,
 * e.g. "node Conv_12: auto_pad=VALID with dilations unsupported".
 */
eml_err eml_model_new(struct eml_graph *g, struct eml_model **out) EML_MUST_USE;
void eml_model_free(struct eml_model *m);
const struct eml_graph *eml_model_graph(const struct eml_model *m);

/*
 * Whether the engine can run node n at this opset; on failure why (if not
 * NULL) receives a one-line reason naming the node. Used by inspect and
 * the split to list unsupported nodes. Same errors as eml_model_new.
 */
eml_err eml_engine_check_node(const struct eml_node *n, int64_t opset, char *why,
    size_t why_len) EML_MUST_USE;

/*
 * The same check kept for the model (issue 16: per-request assembly
 * validates the graph, then makes its model, and parsed every node
 * twice). eml_engine_check_node_keep is an eml_validate_node_at_fn with
 * arg a struct eml_node_checks of graph g: it checks node i of whichever
 * graph it is given and keeps the operator and parameters of g's own
 * nodes. eml_model_new_checked then takes them when they cover every
 * node of its graph (the same graph object; validation checks nodes in
 * order and stops at the first refusal) and otherwise checks as
 * eml_model_new does. chk stays the caller's to free; count: the nodes
 * it holds (0 once a model took them).
 */
struct eml_node_checks;
eml_err eml_node_checks_new(const struct eml_graph *g, struct eml_node_checks **out)
    EML_MUST_USE;
void eml_node_checks_free(struct eml_node_checks *chk);
size_t eml_node_checks_count(const struct eml_node_checks *chk);
eml_err eml_engine_check_node_keep(void *chk, const struct eml_graph *g, size_t i, char *why,
    size_t why_len) EML_MUST_USE;
eml_err eml_model_new_checked(struct eml_graph *g, struct eml_node_checks *chk,
    struct eml_model **out) EML_MUST_USE;

struct eml_plan_opts {
	int nthreads;       /* >= 1 */
	bool no_fusion;     /* tests: plan every node as written */
	bool no_inplace;    /* tests: never reuse an input buffer for an output */
	/* Plan small inputs as the constants they are in this call: integer
	 * or bool inputs of at most 64 elements and float inputs of rank <= 1
	 * with at most 8 elements (shape, axes, scales, clip bounds fed as
	 * inputs). eml_plan_run then refuses other values for them
	 * (EML_ERR_INFER_INPUT): plan again. */
	bool bind_small_inputs;
	bool profile;       /* time every step (eml_plan_print_profile) */
	/* Refuse any tensor above this many bytes (0: the engine limit); for
	 * callers that bound memory, e.g. fuzzing. */
	size_t max_tensor_bytes;
	/* Refuse a plan whose arena is above this many bytes (0: the engine
	 * limit); the agent's policy sets it. */
	size_t max_arena_bytes;
};

/*
 * Plan for these input shapes. inputs[i] matches the i-th graph input
 * (dtype and dims are used; data is ignored). Errors: EML_ERR_INFER_INPUT
 * (count, dtype or a fixed dimension differs from the model),
 * EML_ERR_INFER_SHAPE, EML_ERR_INFER_DTYPE, EML_ERR_INFER_ATTR,
 * EML_ERR_INFER_NOT_CONST (a shape-defining input is computed at run
 * time), EML_ERR_INFER_TOO_LARGE, EML_ERR_NOMEM.
 */
eml_err eml_plan_new(const struct eml_model *m, const struct eml_tensor *inputs,
    size_t n_inputs, const struct eml_plan_opts *opts, struct eml_plan **out) EML_MUST_USE;
/* Run with inputs of exactly the planned dtypes and shapes
 * (EML_ERR_INFER_INPUT otherwise). With a time limit set, a run still
 * going when it passes stops (checked between nodes and inside long
 * kernels) and fails with EML_ERR_POLICY_TIME; its outputs are then not
 * exposed. */
eml_err eml_plan_run(struct eml_plan *p, const struct eml_tensor *inputs, size_t n_inputs)
    EML_MUST_USE;
/* Wall-time limit of each later eml_plan_run, in ms from its start; 0
 * (the default) = none. */
void eml_plan_set_time_limit(struct eml_plan *p, uint64_t ms);
size_t eml_plan_n_outputs(const struct eml_plan *p);
/* A view (owned = false) of output i after a run; NULL when out of range. */
const struct eml_tensor *eml_plan_output(const struct eml_plan *p, size_t i);
void eml_plan_free(struct eml_plan *p);

struct eml_plan_stats {
	size_t n_nodes;      /* nodes in the graph */
	size_t n_steps;      /* nodes that run */
	size_t n_folded;     /* nodes folded into constants */
	size_t n_fused;      /* nodes fused into a producer */
	size_t n_alias;      /* outputs sharing their input's buffer */
	size_t n_inplace;    /* outputs written over a dead input */
	size_t arena_bytes;  /* activations + workspace */
	size_t naive_bytes;  /* sum of activation sizes without reuse */
};
void eml_plan_get_stats(const struct eml_plan *p, struct eml_plan_stats *st);
/* With opts.profile: time per operator type and the slowest nodes, summed
 * over all runs so far, printed to f. */
void eml_plan_print_profile(const struct eml_plan *p, FILE *f);

#endif
