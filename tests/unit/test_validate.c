/*
 * The graph validator (model/eml_validate.c): a valid MLP passes; each
 * defect an attacker can write into a topology key by hand is refused
 * with its own code; the engine refuses a value defined twice even when
 * no validator ran (the Cast/Shape heap overflow of issue 11).
 */
#include "eml_test.h"

#include <string.h>

#include "eml_mem.h"
#include "eml_test_graph.h"
#include "engine/eml_engine.h"
#include "model/eml_validate.h"

static struct eml_graph *
mlp(void)
{
	uint64_t rng = 11;

	return eml_test_graph_mlp(&rng, 4, 8, 2);
}

static void
set_str(char **p, const char *s)
{
	eml_free_wipe(*p, strlen(*p));
	*p = eml_strdup(s);
	assert_non_null(*p);
}

static eml_err
check(const struct eml_graph *g)
{
	struct eml_validate_limits lim;

	eml_validate_limits_default(&lim);
	lim.check_node = eml_engine_check_node;
	return eml_graph_validate(g, &lim);
}

static void
valid_graph_passes(void **state)
{
	struct eml_graph *g = mlp();

	(void)state;
	assert_eml_ok(check(g));
	assert_eml_ok(eml_graph_validate(g, NULL));
	eml_graph_free(g);
}

static void
duplicate_value(void **state)
{
	struct eml_graph *g = mlp();

	(void)state;
	set_str(&g->nodes[3].outputs[0], "h1"); /* relu writes add1's output */
	assert_eml(check(g), EML_ERR_GRAPH_DUP_VALUE);
	assert_non_null(strstr(eml_err_detail(), "h1"));
	eml_graph_free(g);
	g = mlp();
	set_str(&g->nodes[1].outputs[0], "W1"); /* a node overwrites a weight */
	assert_eml(check(g), EML_ERR_GRAPH_DUP_VALUE);
	eml_graph_free(g);
	g = mlp();
	set_str(&g->nodes[1].outputs[0], "x"); /* a node overwrites the input */
	assert_eml(check(g), EML_ERR_GRAPH_DUP_VALUE);
	eml_graph_free(g);
	g = mlp();
	set_str(&g->initializers[1].name, "W1"); /* two initializers */
	assert_eml(check(g), EML_ERR_GRAPH_DUP_VALUE);
	eml_graph_free(g);
}

static void
order_and_cycles(void **state)
{
	struct eml_graph *g = mlp();
	struct eml_node tmp;

	(void)state;
	/* relu before add1: out of order, no cycle */
	tmp = g->nodes[2];
	g->nodes[2] = g->nodes[3];
	g->nodes[3] = tmp;
	assert_eml(check(g), EML_ERR_GRAPH_ORDER);
	eml_graph_free(g);
	/* add1 reads relu's output and relu reads add1's: a cycle */
	g = mlp();
	set_str(&g->nodes[2].inputs[0], "h2");
	assert_eml(check(g), EML_ERR_GRAPH_CYCLE);
	eml_graph_free(g);
	/* a node reading its own output */
	g = mlp();
	set_str(&g->nodes[3].inputs[0], "h2");
	assert_eml(check(g), EML_ERR_GRAPH_CYCLE);
	eml_graph_free(g);
	/* a name nobody defines */
	g = mlp();
	set_str(&g->nodes[3].inputs[0], "nowhere");
	assert_eml(check(g), EML_ERR_GRAPH_UNDEFINED);
	eml_graph_free(g);
	/* a graph output nobody produces */
	g = mlp();
	set_str(&g->outputs[0].name, "nothing");
	assert_eml(check(g), EML_ERR_GRAPH_UNDEFINED);
	eml_graph_free(g);
}

static void
shapes_and_sizes(void **state)
{
	struct eml_graph *g = mlp();
	struct eml_validate_limits lim;

	(void)state;
	/* 2^32 x 2^32 x 2^32 elements: the count overflows 64 bits */
	g->inputs[0].rank = 3;
	for (int i = 0; i < 3; i++)
		g->inputs[0].dims[i].value = INT64_C(1) << 32;
	assert_eml(check(g), EML_ERR_GRAPH_OVERFLOW);
	/* 2^40 elements: counted fine, above the per-tensor bound */
	g->inputs[0].rank = 2;
	g->inputs[0].dims[0].value = INT64_C(1) << 20;
	g->inputs[0].dims[1].value = INT64_C(1) << 20;
	assert_eml(check(g), EML_ERR_GRAPH_TOO_LARGE);
	/* a symbolic dimension does not hide a large fixed one */
	g->inputs[0].dims[0].value = -1;
	g->inputs[0].dims[1].value = INT64_C(1) << 40;
	assert_eml(check(g), EML_ERR_GRAPH_TOO_LARGE);
	g->inputs[0].dims[1].value = -7;
	assert_eml(check(g), EML_ERR_GRAPH_DIM);
	g->inputs[0].dims[1].value = 4;
	g->inputs[0].dtype = EML_DT_STRING;
	assert_eml(check(g), EML_ERR_INFER_DTYPE);
	g->inputs[0].dtype = EML_DT_FLOAT;
	assert_eml_ok(check(g));
	/* the total of static tensors is bounded too: W1 is 4x8 floats */
	eml_validate_limits_default(&lim);
	lim.max_static_bytes = 64;
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_GRAPH_TOO_LARGE);
	lim.max_static_bytes = 0; /* the default */
	lim.max_tensor_bytes = 4 * 8 * 4 - 1;
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_GRAPH_TOO_LARGE);
	lim.max_tensor_bytes = 4 * 8 * 4;
	assert_eml_ok(eml_graph_validate(g, &lim));
	lim.max_nodes = 5;
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_GRAPH_LIMIT);
	eml_graph_free(g);
}

static void
weight_references(void **state)
{
	struct eml_graph *g = mlp();
	struct eml_validate_limits lim;
	size_t nb = g->initializers[0].nbytes;

	(void)state;
	eml_validate_limits_default(&lim);
	g->initializers[0].in_blob = true;
	g->initializers[0].blob_offset = 64;
	lim.weight_bytes = 64 + nb;
	assert_eml_ok(eml_graph_validate(g, &lim));
	lim.weight_bytes = 64 + nb - 1;
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_TOPO_REF);
	g->initializers[0].blob_offset = UINT64_MAX - 3; /* wraps */
	lim.weight_bytes = UINT64_MAX;
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_TOPO_REF);
	g->initializers[0].in_blob = false;
	g->initializers[0].blob_offset = 0;
	g->initializers[0].nbytes = nb + 4; /* size disagrees with the shape */
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_TOPO);
	g->initializers[0].nbytes = nb;
	eml_graph_free(g);
}

static void
operator_lists(void **state)
{
	struct eml_graph *g = mlp();
	struct eml_validate_limits lim;
	static const char *const all[] = { "Constant", "MatMul", "Add", "Relu" };
	static const char *const no_relu[] = { "Constant", "MatMul", "Add" };

	(void)state;
	eml_validate_limits_default(&lim);
	lim.check_node = eml_engine_check_node;
	lim.ops = all;
	lim.n_ops = 4;
	assert_eml_ok(eml_graph_validate(g, &lim));
	lim.ops = no_relu;
	lim.n_ops = 3;
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_POLICY_OP);
	assert_non_null(strstr(eml_err_detail(), "Relu"));
	/* an operator the engine does not run keeps the engine's code */
	lim.ops = NULL;
	lim.n_ops = 0;
	set_str(&g->nodes[3].op_type, "NoSuchOp");
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_INFER_OP);
	eml_graph_free(g);
}

/* x as the MLP's [1, 4] float input. */
static struct eml_tensor
mlp_input(float x[4])
{
	struct eml_tensor in;

	memset(&in, 0, sizeof(in));
	in.dtype = EML_DT_FLOAT;
	in.rank = 2;
	in.dims[0] = 1;
	in.dims[1] = 4;
	in.data = x;
	in.nbytes = 4 * sizeof(float);
	return in;
}

/*
 * The crash of issue 11 without the validator: Cast(x) -> y and
 * Shape(x) -> y. The engine used to hand Cast the 32-byte folded Shape
 * buffer and write the whole cast into it.
 */
static void
engine_refuses_duplicate_without_validator(void **state)
{
	struct eml_graph *g = mlp();
	struct eml_model *m = NULL;
	struct eml_plan *p = NULL;
	struct eml_plan_opts o;
	struct eml_tensor in;
	float x[4] = { 1, 2, 3, 4 };

	(void)state;
	set_str(&g->nodes[3].outputs[0], "h1");
	set_str(&g->nodes[4].inputs[0], "h1");
	assert_eml_ok(eml_model_new(g, &m));
	memset(&o, 0, sizeof(o));
	o.nthreads = 1;
	in = mlp_input(x);
	assert_eml(eml_plan_new(m, &in, 1, &o, &p), EML_ERR_GRAPH_DUP_VALUE);
	assert_null(p);
	eml_model_free(m);
}

/* The then branch of eml_test_graph_if at nesting level `level`. */
static struct eml_graph *
then_at(struct eml_graph *g, int level)
{
	for (int l = 0; l < level; l++)
		g = g->nodes[0].attrs[0].g;
	return g;
}

/* Subgraphs are walked like the main graph: names resolve to their own
 * values or to outer values visible at the node holding them, the
 * operator list applies inside, nesting and totals are bounded. */
static void
subgraphs(void **state)
{
	struct eml_graph *g = eml_test_graph_if(2);
	struct eml_validate_limits lim;
	static const char *const no_mul[] = { "If", "Add" };
	static const char *const all[] = { "If", "Add", "Mul" };

	(void)state;
	assert_eml_ok(check(g));
	/* an outer name that exists nowhere */
	set_str(&then_at(g, 2)->nodes[0].inputs[0], "nowhere");
	assert_eml(check(g), EML_ERR_GRAPH_UNDEFINED);
	/* the holder's own output is not visible inside it */
	set_str(&then_at(g, 2)->nodes[0].inputs[0], "o");
	assert_eml(check(g), EML_ERR_GRAPH_ORDER);
	/* a value of a sibling branch is not an outer value */
	set_str(&then_at(g, 2)->nodes[0].inputs[0], "eo");
	assert_eml(check(g), EML_ERR_GRAPH_UNDEFINED);
	set_str(&then_at(g, 2)->nodes[0].inputs[0], "x");
	assert_eml_ok(check(g));
	/* the allow-list applies inside (Mul is only in the else branches) */
	eml_validate_limits_default(&lim);
	lim.ops = no_mul;
	lim.n_ops = 2;
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_POLICY_OP);
	lim.ops = all;
	lim.n_ops = 3;
	assert_eml_ok(eml_graph_validate(g, &lim));
	/* the engine's check too */
	set_str(&then_at(g, 2)->nodes[0].op_type, "NoSuchOp");
	assert_eml(check(g), EML_ERR_INFER_OP);
	set_str(&then_at(g, 2)->nodes[0].op_type, "Add");
	/* nodes counted over all graphs: 1 + 2 + 2 = 5 */
	lim.ops = NULL;
	lim.max_nodes = 5;
	assert_eml_ok(eml_graph_validate(g, &lim));
	lim.max_nodes = 4;
	assert_eml(eml_graph_validate(g, &lim), EML_ERR_GRAPH_LIMIT);
	/* a subgraph value defined twice */
	set_str(&then_at(g, 2)->initializers[0].name, "tto");
	assert_eml(check(g), EML_ERR_GRAPH_DUP_VALUE);
	eml_graph_free(g);
	/* nesting */
	g = eml_test_graph_if(EML_GRAPH_MAX_DEPTH);
	assert_eml_ok(check(g));
	eml_graph_free(g);
	g = eml_test_graph_if(EML_GRAPH_MAX_DEPTH + 1);
	assert_eml(check(g), EML_ERR_GRAPH_LIMIT);
	eml_graph_free(g);
}

/* y of the model for x = 0.25, 0.5, ... (an MLP of k = 4 inputs, n = 2
 * outputs). */
static void
run_mlp(const struct eml_model *m, float y[2])
{
	float x[4] = { 0.25f, -0.5f, 0.75f, 1.0f };
	struct eml_tensor in;
	struct eml_plan *p = NULL;
	struct eml_plan_opts o = { .nthreads = 1 };

	in = mlp_input(x);
	assert_eml_ok(eml_plan_new(m, &in, 1, &o, &p));
	assert_eml_ok(eml_plan_run(p, &in, 1));
	assert_int_equal(eml_plan_output(p, 0)->nbytes, 2 * sizeof(float));
	memcpy(y, eml_plan_output(p, 0)->data, 2 * sizeof(float));
	eml_plan_free(p);
}

static eml_err
check_keep(const struct eml_graph *g, struct eml_node_checks *chk)
{
	struct eml_validate_limits lim;

	eml_validate_limits_default(&lim);
	lim.check_node_at = eml_engine_check_node_keep;
	lim.check_arg = chk;
	return eml_graph_validate(g, &lim);
}

/* The engine's node checks made during validation are the model's: the
 * model takes them (same outputs as a model that checked its nodes
 * itself) only when they cover every node of that same graph; after a
 * refusal part way, or for another graph, the model checks again. */
static void
checks_kept_for_the_model(void **state)
{
	struct eml_graph *g = mlp(), *g2 = mlp(), *g3 = mlp();
	struct eml_node_checks *chk = NULL, *chk3 = NULL;
	struct eml_model *m = NULL, *m2 = NULL;
	float y[2], y2[2];

	(void)state;
	assert_eml_ok(eml_node_checks_new(g, &chk));
	assert_eml_ok(check_keep(g, chk));
	assert_int_equal(eml_node_checks_count(chk), g->n_nodes);
	/* the checks of g are not g2's */
	assert_eml_ok(check_keep(g2, chk));
	assert_eml_ok(eml_model_new_checked(g2, chk, &m2));
	assert_int_equal(eml_node_checks_count(chk), 6);
	assert_eml_ok(eml_model_new_checked(g, chk, &m));
	assert_int_equal(eml_node_checks_count(chk), 0);
	run_mlp(m, y);
	run_mlp(m2, y2);
	assert_memory_equal(y, y2, sizeof(y));
	eml_model_free(m);
	eml_model_free(m2);
	eml_node_checks_free(chk);
	/* refused at node 3: three nodes kept, the model refuses too */
	set_str(&g3->nodes[3].op_type, "NoSuchOp");
	assert_eml_ok(eml_node_checks_new(g3, &chk3));
	assert_eml(check_keep(g3, chk3), EML_ERR_INFER_OP);
	assert_non_null(strstr(eml_err_detail(), "NoSuchOp"));
	assert_int_equal(eml_node_checks_count(chk3), 3);
	assert_eml(eml_model_new_checked(g3, chk3, &m), EML_ERR_INFER_OP);
	assert_null(m);
	eml_node_checks_free(chk3);
	/* subgraph nodes are checked, only the top graph's kept */
	g = eml_test_graph_if(2);
	assert_eml_ok(eml_node_checks_new(g, &chk));
	assert_eml_ok(check_keep(g, chk));
	assert_int_equal(eml_node_checks_count(chk), g->n_nodes);
	set_str(&then_at(g, 2)->nodes[0].op_type, "NoSuchOp");
	assert_eml(check_keep(g, chk), EML_ERR_INFER_OP);
	set_str(&then_at(g, 2)->nodes[0].op_type, "Add");
	assert_eml_ok(eml_model_new_checked(g, chk, &m));
	eml_model_free(m);
	eml_node_checks_free(chk);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(valid_graph_passes),
		cmocka_unit_test(duplicate_value),
		cmocka_unit_test(order_and_cycles),
		cmocka_unit_test(shapes_and_sizes),
		cmocka_unit_test(weight_references),
		cmocka_unit_test(operator_lists),
		cmocka_unit_test(engine_refuses_duplicate_without_validator),
		cmocka_unit_test(subgraphs),
		cmocka_unit_test(checks_kept_for_the_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
