/*
 * The agent's engine wrapper plans the way `eml run --local` does: small
 * shape-like inputs are bound as constants, and a kept plan is made again
 * when such an input changes value. Without that, the enclave refuses (or
 * folds differently) what the local run accepts.
 */
#include "eml_test.h"

#include <string.h>

#include "enclave-agent/eml_agent_exec.h"
#include "eml_mem.h"

static char *
dup(const char *s)
{
	char *d = eml_strdup(s);

	assert_non_null(d);
	return d;
}

/* y = Reshape(x, shape): x float [6], shape int64 [2]. */
static struct eml_graph *
reshape_graph(void)
{
	struct eml_graph *g = eml_graph_new();
	struct eml_node *n;

	assert_non_null(g);
	g->name = dup("reshape");
	g->opset = 13;
	g->inputs = eml_calloc(2, sizeof(*g->inputs));
	g->outputs = eml_calloc(1, sizeof(*g->outputs));
	g->nodes = eml_calloc(1, sizeof(*g->nodes));
	assert_true(g->inputs != NULL && g->outputs != NULL && g->nodes != NULL);
	g->n_inputs = 2;
	g->inputs[0].name = dup("x");
	g->inputs[0].dtype = EML_DT_FLOAT;
	g->inputs[0].rank = 1;
	g->inputs[0].dims[0].value = 6;
	g->inputs[1].name = dup("shape");
	g->inputs[1].dtype = EML_DT_INT64;
	g->inputs[1].rank = 1;
	g->inputs[1].dims[0].value = 2;
	g->n_outputs = 1;
	g->outputs[0].name = dup("y");
	g->outputs[0].dtype = EML_DT_FLOAT;
	g->outputs[0].rank = -1;
	g->n_nodes = 1;
	n = &g->nodes[0];
	n->name = dup("reshape0");
	n->op_type = dup("Reshape");
	n->domain = dup("");
	n->inputs = eml_calloc(2, sizeof(char *));
	n->outputs = eml_calloc(1, sizeof(char *));
	assert_true(n->inputs != NULL && n->outputs != NULL);
	n->n_inputs = 2;
	n->inputs[0] = dup("x");
	n->inputs[1] = dup("shape");
	n->n_outputs = 1;
	n->outputs[0] = dup("y");
	return g;
}

static void
run_with_shape(struct eml_agent_exec *x, const float *xv, int64_t a, int64_t b)
{
	int64_t shape[2] = { a, b };
	struct eml_tensor in[2];
	struct eml_tensor out[4];
	size_t n_out = 0;

	memset(in, 0, sizeof(in));
	in[0].name = (char *)(uintptr_t)"x";
	in[0].dtype = EML_DT_FLOAT;
	in[0].rank = 1;
	in[0].dims[0] = 6;
	in[0].data = (void *)(uintptr_t)xv;
	in[0].nbytes = 6 * sizeof(float);
	in[1].name = (char *)(uintptr_t)"shape";
	in[1].dtype = EML_DT_INT64;
	in[1].rank = 1;
	in[1].dims[0] = 2;
	in[1].data = shape;
	in[1].nbytes = sizeof(shape);
	assert_eml_ok(eml_agent_exec_run(x, in, 2, out, 4, &n_out));
	assert_int_equal(n_out, 1);
	assert_int_equal(out[0].rank, 2);
	assert_int_equal(out[0].dims[0], a);
	assert_int_equal(out[0].dims[1], b);
	assert_int_equal(out[0].nbytes, 6 * sizeof(float));
	assert_memory_equal(out[0].data, xv, 6 * sizeof(float));
}

static void
shape_input_bound_and_replanned(void **state)
{
	static const float xv[6] = { 1, 2, 3, 4, 5, 6 };
	struct eml_agent_exec *x = NULL;

	(void)state;
	assert_eml_ok(eml_agent_exec_new(reshape_graph(), NULL, 1, &x));
	run_with_shape(x, xv, 2, 3);
	run_with_shape(x, xv, 2, 3); /* the kept plan */
	run_with_shape(x, xv, 3, 2); /* same input shapes, new bound value */
	run_with_shape(x, xv, 6, 1);
	eml_agent_exec_free(x);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(shape_input_bound_and_replanned),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests_name("agent_exec", tests, NULL, NULL);
}
