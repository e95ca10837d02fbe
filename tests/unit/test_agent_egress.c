/* The egress guard: only declared outputs, declared dtypes, under a cap. */
#include "eml_test.h"

#include <stdio.h>
#include <string.h>

#include "enclave-agent/eml_agent_egress.h"
#include "eml_envelope.h"
#include "eml_mem.h"

/* A graph with two declared outputs: "prob" float [N, 2] (N symbolic) and
 * "label" int64 [1]. */
static struct eml_graph *
make_graph(void)
{
	struct eml_graph *g = eml_graph_new();

	assert_non_null(g);
	g->outputs = eml_calloc(2, sizeof(*g->outputs));
	assert_non_null(g->outputs);
	g->n_outputs = 2;
	g->outputs[0].name = eml_strdup("prob");
	g->outputs[0].dtype = EML_DT_FLOAT;
	g->outputs[0].rank = 2;
	g->outputs[0].dims[0].value = -1;
	g->outputs[0].dims[0].symbol = eml_strdup("N");
	g->outputs[0].dims[1].value = 2;
	g->outputs[1].name = eml_strdup("label");
	g->outputs[1].dtype = EML_DT_INT64;
	g->outputs[1].rank = 1;
	g->outputs[1].dims[0].value = 1;
	return g;
}

struct outs {
	float prob[6];
	int64_t label;
	char n0[8], n1[8];
	struct eml_tensor t[3];
};

static void
make_outputs(struct outs *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 0; i < 6; i++)
		o->prob[i] = (float)i * 0.25f;
	o->label = 1;
	snprintf(o->n0, sizeof(o->n0), "label");
	snprintf(o->n1, sizeof(o->n1), "prob");
	/* Deliberately not in declared order. */
	o->t[0].name = o->n0;
	o->t[0].dtype = EML_DT_INT64;
	o->t[0].rank = 1;
	o->t[0].dims[0] = 1;
	o->t[0].data = &o->label;
	o->t[0].nbytes = 8;
	o->t[1].name = o->n1;
	o->t[1].dtype = EML_DT_FLOAT;
	o->t[1].rank = 2;
	o->t[1].dims[0] = 3;
	o->t[1].dims[1] = 2;
	o->t[1].data = o->prob;
	o->t[1].nbytes = sizeof(o->prob);
}

static void
accepts_declared_outputs_and_encodes_in_declared_order(void **state)
{
	struct eml_graph *g = make_graph();
	struct outs o;
	struct eml_buf b;
	ProtobufCMessage *m = NULL;
	Eml__V1__InferResponse *r;

	(void)state;
	make_outputs(&o);
	assert_eml_ok(eml_egress_check(g, o.t, 2, 1024));
	eml_buf_init_secure(&b, 1 << 20);
	assert_eml_ok(eml_egress_encode(g, o.t, 2, 1024, &b));
	assert_eml_ok(eml_msg_unpack(&eml__v1__infer_response__descriptor, b.data, b.len,
	    b.len, &m));
	r = (Eml__V1__InferResponse *)m;
	assert_int_equal(r->n_outputs, 2);
	assert_string_equal(r->outputs[0]->name, "prob");
	assert_int_equal(r->outputs[0]->dtype, 1);
	assert_int_equal(r->outputs[0]->n_dims, 2);
	assert_int_equal(r->outputs[0]->dims[0], 3);
	assert_int_equal(r->outputs[0]->dims[1], 2);
	assert_int_equal(r->outputs[0]->data.len, 24);
	assert_memory_equal(r->outputs[0]->data.data, o.prob, 24);
	assert_string_equal(r->outputs[1]->name, "label");
	assert_int_equal(r->outputs[1]->dtype, 7);
	assert_memory_equal(r->outputs[1]->data.data, &o.label, 8);
	eml_msg_free(m);
	eml_buf_free(&b);
	eml_graph_free(g);
}

static void
refuses_everything_else(void **state)
{
	struct eml_graph *g = make_graph();
	struct outs o;
	char other[8] = "conv_1";
	struct eml_buf b;

	(void)state;
	eml_buf_init_secure(&b, 1 << 20);

	/* Missing output. */
	make_outputs(&o);
	assert_eml(eml_egress_check(g, o.t, 1, 1024), EML_ERR_EGRESS);
	/* Extra output (an intermediate activation). */
	make_outputs(&o);
	o.t[2] = o.t[1];
	o.t[2].name = other;
	assert_eml(eml_egress_check(g, o.t, 3, 1024), EML_ERR_EGRESS);
	/* Undeclared name in place of a declared one. */
	make_outputs(&o);
	o.t[1].name = other;
	assert_eml(eml_egress_check(g, o.t, 2, 1024), EML_ERR_EGRESS);
	/* The same declared output twice. */
	make_outputs(&o);
	o.t[0] = o.t[1];
	assert_eml(eml_egress_check(g, o.t, 2, 1024), EML_ERR_EGRESS);
	/* Wrong dtype (float bytes relabelled as int32). */
	make_outputs(&o);
	o.t[1].dtype = EML_DT_INT32;
	assert_eml(eml_egress_check(g, o.t, 2, 1024), EML_ERR_EGRESS);
	/* Fixed dimension differs. */
	make_outputs(&o);
	o.t[1].dims[0] = 2;
	o.t[1].dims[1] = 3;
	assert_eml(eml_egress_check(g, o.t, 2, 1024), EML_ERR_EGRESS);
	/* Rank differs. */
	make_outputs(&o);
	o.t[1].rank = 1;
	o.t[1].dims[0] = 6;
	assert_eml(eml_egress_check(g, o.t, 2, 1024), EML_ERR_EGRESS);
	/* Byte length longer than the shape says (would leak memory past it). */
	make_outputs(&o);
	o.t[1].nbytes = 28;
	assert_eml(eml_egress_check(g, o.t, 2, 1024), EML_ERR_EGRESS);
	/* Negative dimension. */
	make_outputs(&o);
	o.t[1].dims[0] = -3;
	assert_eml(eml_egress_check(g, o.t, 2, 1024), EML_ERR_EGRESS);
	/* Above the cap: 24 + 8 = 32 bytes. */
	make_outputs(&o);
	assert_eml_ok(eml_egress_check(g, o.t, 2, 32));
	assert_eml(eml_egress_check(g, o.t, 2, 31), EML_ERR_EGRESS);
	/* Encode refuses too and writes nothing. */
	assert_eml(eml_egress_encode(g, o.t, 2, 31, &b), EML_ERR_EGRESS);
	assert_int_equal(b.len, 0);
	assert_eml(eml_egress_check(NULL, o.t, 2, 32), EML_ERR_NULL);
	assert_eml(eml_egress_check(g, NULL, 2, 32), EML_ERR_NULL);

	eml_buf_free(&b);
	eml_graph_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(accepts_declared_outputs_and_encodes_in_declared_order),
		cmocka_unit_test(refuses_everything_else),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
