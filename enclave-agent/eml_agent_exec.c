#include "eml_agent_exec.h"

#include <string.h>

#include "engine/eml_engine.h"
#include "eml_io.h"
#include "eml_mem.h"

struct eml_agent_exec {
	struct eml_model *model; /* the engine's model */
	struct eml_plan *plan;
	int threads;
	size_t max_tensor_bytes; /* 0: the engine's limits */
	size_t max_arena_bytes;
	uint64_t time_limit_ms; /* per run; 0: none */
	size_t n_in;
	uint64_t plan_us; /* time of the last eml_agent_exec_run spent planning */
	bool prepared;    /* eml_agent_exec_prepare planned for the next run */
	struct {
		enum eml_dtype dtype;
		int rank;
		int64_t dims[EML_MAX_RANK];
	} shape[64];
};

eml_err
eml_agent_exec_new(struct eml_graph *g, struct eml_node_checks *chk, int threads,
    struct eml_agent_exec **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_agent_exec *x = NULL;

	if (out == NULL) {
		eml_graph_free(g);
		EML_BAIL(EML_ERR_NULL);
	}
	*out = NULL;
	x = eml_calloc(1, sizeof(*x));
	if (x == NULL) {
		eml_graph_free(g);
		EML_FAIL(rc, EML_ERR_NOMEM);
	}
	x->threads = threads < 1 ? 1 : threads;
	if ((rc = eml_model_new_checked(g, chk, &x->model)) != EML_OK) /* g taken */
		goto out;
	*out = x;
	x = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_agent_exec_free(x);
	return rc;
}

void
eml_agent_exec_set_limits(struct eml_agent_exec *x, size_t max_tensor_bytes,
    size_t max_arena_bytes)
{
	if (x == NULL)
		return;
	x->max_tensor_bytes = max_tensor_bytes;
	x->max_arena_bytes = max_arena_bytes;
	eml_agent_exec_drop_plan(x);
}

void
eml_agent_exec_set_time_limit(struct eml_agent_exec *x, uint64_t ms)
{
	if (x == NULL)
		return;
	x->time_limit_ms = ms;
	eml_plan_set_time_limit(x->plan, ms);
}

const struct eml_graph *
eml_agent_exec_graph(const struct eml_agent_exec *x)
{
	return x == NULL ? NULL : eml_model_graph(x->model);
}

static bool
same_shapes(const struct eml_agent_exec *x, const struct eml_tensor *in, size_t n)
{
	if (x->plan == NULL || n != x->n_in)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (in[i].dtype != x->shape[i].dtype || in[i].rank != x->shape[i].rank)
			return false;
		for (int d = 0; d < in[i].rank; d++)
			if (in[i].dims[d] != x->shape[i].dims[d])
				return false;
	}
	return true;
}

/*
 * The engine takes inputs in the graph's order. Clients name theirs:
 * match by name, each graph input exactly once; an input with an empty
 * name takes the graph input at its position. A name that is not a graph
 * input is an error, never a silent positional guess.
 */
static eml_err
order_inputs(const struct eml_graph *g, const struct eml_tensor *in, size_t n,
    struct eml_tensor *ordered)
{
	bool used[64] = { false };

	if (n != g->n_inputs || n > sizeof(used)) {
		eml_err_set_detail("%zu inputs for a model with %zu", n, g->n_inputs);
		EML_BAIL(EML_ERR_INFER_INPUT);
	}
	for (size_t i = 0; i < n; i++) {
		size_t k = i;

		if (in[i].name != NULL && in[i].name[0] != '\0') {
			for (k = 0; k < n; k++)
				if (g->inputs[k].name != NULL && strcmp(g->inputs[k].name, in[i].name) == 0)
					break;
			if (k == n) {
				eml_err_set_detail("input %zu is not named like a model input", i);
				EML_BAIL(EML_ERR_INFER_INPUT);
			}
		}
		if (used[k]) {
			eml_err_set_detail("model input %zu given twice", k);
			EML_BAIL(EML_ERR_INFER_INPUT);
		}
		used[k] = true;
		ordered[k] = in[i];
	}
	return EML_OK;
}

/* Plan for these inputs. Small shape-like inputs are planned as the
 * constants they are in this call, exactly as `eml run --local` does, so
 * the enclave folds the same subgraphs and gives bit-identical results. */
static eml_err
replan(struct eml_agent_exec *x, const struct eml_tensor *inputs, size_t n_inputs)
{
	struct eml_plan_opts o;

	eml_agent_exec_drop_plan(x);
	memset(&o, 0, sizeof(o));
	o.nthreads = x->threads;
	o.bind_small_inputs = true;
	o.max_tensor_bytes = x->max_tensor_bytes;
	o.max_arena_bytes = x->max_arena_bytes;
	EML_GUARD(eml_plan_new(x->model, inputs, n_inputs, &o, &x->plan));
	eml_plan_set_time_limit(x->plan, x->time_limit_ms);
	x->n_in = n_inputs;
	for (size_t i = 0; i < n_inputs; i++) {
		x->shape[i].dtype = inputs[i].dtype;
		x->shape[i].rank = inputs[i].rank;
		for (int d = 0; d < inputs[i].rank && d < EML_MAX_RANK; d++)
			x->shape[i].dims[d] = inputs[i].dims[d];
	}
	return EML_OK;
}

eml_err
eml_agent_exec_run(struct eml_agent_exec *x, const struct eml_tensor *in, size_t n_inputs,
    struct eml_tensor *outs, size_t max_outs, size_t *n_outs)
{
	struct eml_tensor inputs[64];
	bool fresh = false;
	eml_err rc;
	size_t n;

	EML_ENSURE_REF(x);
	EML_ENSURE_REF(n_outs);
	*n_outs = 0;
	EML_ENSURE(n_inputs <= sizeof(x->shape) / sizeof(x->shape[0]), EML_ERR_INFER);
	EML_GUARD(order_inputs(eml_model_graph(x->model), in, n_inputs, inputs));
	fresh = x->prepared && x->plan != NULL;
	x->prepared = false;
	if (!fresh)
		x->plan_us = 0;
	if (!fresh && !same_shapes(x, inputs, n_inputs)) {
		int64_t t0 = eml_now_us();

		EML_GUARD(replan(x, inputs, n_inputs));
		x->plan_us = (uint64_t)(eml_now_us() - t0);
		fresh = true;
	}
	rc = eml_plan_run(x->plan, inputs, n_inputs);
	if (rc == EML_ERR_INFER_INPUT && !fresh) {
		/* A bound small input has another value than the kept plan
		 * was made for: plan once more for this one. */
		EML_GUARD(replan(x, inputs, n_inputs));
		rc = eml_plan_run(x->plan, inputs, n_inputs);
	}
	/* Stopped at the wall-time limit: the activations hold a part of
	 * this request; wipe them now, not at the next run. */
	if (rc == EML_ERR_POLICY_TIME)
		eml_agent_exec_drop_plan(x);
	EML_GUARD(rc);
	n = eml_plan_n_outputs(x->plan);
	EML_ENSURE(n <= max_outs, EML_ERR_EGRESS);
	for (size_t i = 0; i < n; i++) {
		const struct eml_tensor *t = eml_plan_output(x->plan, i);

		EML_ENSURE(t != NULL, EML_ERR_INTERNAL);
		outs[i] = *t;
		outs[i].owned = false; /* a view */
		/* The engine returns outputs in the graph's declared order,
		 * unnamed; the egress guard checks them by name. */
		outs[i].name = eml_model_graph(x->model)->outputs[i].name;
	}
	*n_outs = n;
	return EML_OK;
}

eml_err
eml_agent_exec_prepare(struct eml_agent_exec *x, const struct eml_tensor *in, size_t n_inputs)
{
	struct eml_tensor inputs[64];

	EML_ENSURE_REF(x);
	x->prepared = false;
	x->plan_us = 0;
	EML_ENSURE(n_inputs <= sizeof(x->shape) / sizeof(x->shape[0]), EML_ERR_INFER);
	EML_GUARD(order_inputs(eml_model_graph(x->model), in, n_inputs, inputs));
	if (!same_shapes(x, inputs, n_inputs)) {
		int64_t t0 = eml_now_us();

		EML_GUARD(replan(x, inputs, n_inputs));
		x->plan_us = (uint64_t)(eml_now_us() - t0);
		x->prepared = true;
	}
	return EML_OK;
}

uint64_t
eml_agent_exec_plan_us(const struct eml_agent_exec *x)
{
	return x == NULL ? 0 : x->plan_us;
}

void
eml_agent_exec_drop_plan(struct eml_agent_exec *x)
{
	if (x == NULL)
		return;
	eml_plan_free(x->plan);
	x->plan = NULL;
	x->n_in = 0;
}

void
eml_agent_exec_free(void *p)
{
	struct eml_agent_exec *x = p;

	if (x == NULL)
		return;
	eml_agent_exec_drop_plan(x);
	eml_model_free(x->model);
	eml_free_wipe(x, sizeof(*x));
}
