/*
 * eml model inspect MODEL.onnx [--nodes] [--json]
 *                                a summary: parameters, inputs and outputs
 *                                with shapes, operators by count and whether
 *                                the engine runs them; refused operators with
 *                                their nodes and a remedy. Exit 1 when any
 *                                node is unsupported.
 * eml model split ...            see cmd_model_split.c
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "client/owner/onnx_import.h"
#include "eml_mem.h"
#include "engine/eml_engine.h"

static void
print_vi(const struct eml_value_info *v)
{
	printf("  %s  %s ", v->name, eml_dtype_name(v->dtype));
	if (v->rank < 0) {
		printf("(shape unknown)\n");
		return;
	}
	printf("[");
	for (int d = 0; d < v->rank; d++) {
		if (d > 0)
			printf(",");
		if (v->dims[d].value >= 0)
			printf("%lld", (long long)v->dims[d].value);
		else if (v->dims[d].symbol != NULL && v->dims[d].symbol[0] != '\0')
			printf("%s", v->dims[d].symbol);
		else
			printf("?");
	}
	printf("]\n");
}

/* One operator type of the model: how many nodes, how many of them the
 * engine refuses, the first refusal's class and reason. */
struct opcount {
	const char *op;
	size_t n;
	size_t bad;
	eml_err rc;
	char why[256];
};

/* What would make a refused node supported, by the class of refusal. */
static const char *
remedy(eml_err rc)
{
	switch (rc) {
	case EML_ERR_INFER_OP:
		return "the engine has no kernel for this operator: export the model without it "
		       "(another opset, or the exporter's decomposition into supported operators)";
	case EML_ERR_INFER_ATTR:
		return "an attribute value the engine does not implement (see the reason): export "
		       "with the default or a supported value";
	case EML_ERR_INFER_DTYPE:
		return "a tensor type this operator does not run here: convert the model to "
		       "float32 or another supported type";
	case EML_ERR_INFER_NOT_CONST:
		return "an input the engine needs constant when planning: fold constants before "
		       "export (e.g. onnx-simplifier)";
	default:
		return "see the reason";
	}
}

struct inspect {
	const char *path;
	struct eml_graph *g;
	struct opcount *ops;
	size_t nops, unsupported;
	uint64_t params, wbytes, cbytes;
	bool nodes, json;
};

static uint64_t
elements(const struct eml_tensor *t)
{
	uint64_t n = 1;

	for (int d = 0; d < t->rank; d++)
		n *= t->dims[d] > 0 ? (uint64_t)t->dims[d] : 0;
	return n;
}

/* Count operators and check every node. */
static eml_err
survey(struct inspect *in)
{
	const struct eml_graph *g = in->g;

	in->ops = eml_calloc(g->n_nodes + 1, sizeof(*in->ops));
	if (in->ops == NULL)
		return EML_ERR_NOMEM;
	for (size_t i = 0; i < g->n_initializers; i++) {
		in->wbytes += g->initializers[i].nbytes;
		in->params += elements(&g->initializers[i]);
	}
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct eml_node *n = &g->nodes[i];
		char why[256];
		eml_err rc;
		size_t k;

		for (k = 0; k < in->nops; k++)
			if (strcmp(in->ops[k].op, n->op_type) == 0)
				break;
		if (k == in->nops)
			in->ops[in->nops++].op = n->op_type;
		in->ops[k].n++;
		for (size_t j = 0; j < n->n_attrs; j++)
			if (n->attrs[j].type == EML_ATTR_TENSOR && n->attrs[j].t != NULL)
				in->cbytes += n->attrs[j].t->nbytes;
		rc = eml_engine_check_node(n, g->opset, why, sizeof(why));
		if (rc != EML_OK) {
			if (in->ops[k].bad++ == 0) {
				in->ops[k].rc = rc;
				(void)snprintf(in->ops[k].why, sizeof(in->ops[k].why), "%s", why);
			}
			in->unsupported++;
		}
	}
	return EML_OK;
}

static json_t *
vi_json(const struct eml_value_info *v)
{
	json_t *o = json_object(), *shape = json_array();

	json_object_set_new(o, "name", json_string(v->name));
	json_object_set_new(o, "dtype", json_string(eml_dtype_name(v->dtype)));
	for (int d = 0; d < v->rank; d++) {
		if (v->dims[d].value >= 0)
			json_array_append_new(shape, json_integer((json_int_t)v->dims[d].value));
		else if (v->dims[d].symbol != NULL && v->dims[d].symbol[0] != '\0')
			json_array_append_new(shape, json_string(v->dims[d].symbol));
		else
			json_array_append_new(shape, json_null());
	}
	json_object_set_new(o, "shape", v->rank < 0 ? json_null() : shape);
	if (v->rank < 0)
		json_decref(shape);
	return o;
}

/* The names of the nodes of op the engine refuses. */
static json_t *
bad_nodes_json(const struct eml_graph *g, const char *op)
{
	json_t *a = json_array();

	for (size_t i = 0; i < g->n_nodes; i++)
		if (strcmp(g->nodes[i].op_type, op) == 0 &&
		    eml_engine_check_node(&g->nodes[i], g->opset, NULL, 0) != EML_OK)
			json_array_append_new(a, json_string(g->nodes[i].name));
	return a;
}

static void
print_json(const struct inspect *in)
{
	const struct eml_graph *g = in->g;
	json_t *o = json_object(), *ins = json_array(), *outs = json_array();
	json_t *ops = json_array(), *bad = json_array();

	json_object_set_new(o, "model", json_string(in->path));
	json_object_set_new(o, "graph", json_string(g->name != NULL ? g->name : ""));
	json_object_set_new(o, "opset", json_integer((json_int_t)g->opset));
	json_object_set_new(o, "nodes", json_integer((json_int_t)g->n_nodes));
	json_object_set_new(o, "initializers", json_integer((json_int_t)g->n_initializers));
	json_object_set_new(o, "parameters", json_integer((json_int_t)in->params));
	json_object_set_new(o, "weight_bytes", json_integer((json_int_t)in->wbytes));
	for (size_t i = 0; i < g->n_inputs; i++)
		json_array_append_new(ins, vi_json(&g->inputs[i]));
	for (size_t i = 0; i < g->n_outputs; i++)
		json_array_append_new(outs, vi_json(&g->outputs[i]));
	json_object_set_new(o, "inputs", ins);
	json_object_set_new(o, "outputs", outs);
	for (size_t k = 0; k < in->nops; k++) {
		json_t *e = json_object();

		json_object_set_new(e, "op", json_string(in->ops[k].op));
		json_object_set_new(e, "count", json_integer((json_int_t)in->ops[k].n));
		json_object_set_new(e, "supported", json_boolean(in->ops[k].bad == 0));
		json_array_append_new(ops, e);
		if (in->ops[k].bad == 0)
			continue;
		e = json_object();
		json_object_set_new(e, "op", json_string(in->ops[k].op));
		json_object_set_new(e, "nodes", bad_nodes_json(g, in->ops[k].op));
		json_object_set_new(e, "error", json_string(eml_err_name(in->ops[k].rc)));
		json_object_set_new(e, "reason", json_string(in->ops[k].why));
		json_object_set_new(e, "remedy", json_string(remedy(in->ops[k].rc)));
		json_array_append_new(bad, e);
	}
	json_object_set_new(o, "operators", ops);
	json_object_set_new(o, "supported", json_boolean(in->unsupported == 0));
	json_object_set_new(o, "unsupported", bad);
	if (in->nodes) {
		json_t *list = json_array();

		for (size_t i = 0; i < g->n_nodes; i++) {
			json_t *e = json_object();
			char why[256];
			bool ok = eml_engine_check_node(&g->nodes[i], g->opset, why, sizeof(why)) ==
			    EML_OK;

			json_object_set_new(e, "name", json_string(g->nodes[i].name));
			json_object_set_new(e, "op", json_string(g->nodes[i].op_type));
			json_object_set_new(e, "supported", json_boolean(ok));
			if (!ok)
				json_object_set_new(e, "reason", json_string(why));
			json_array_append_new(list, e);
		}
		json_object_set_new(o, "node_list", list);
	}
	(void)json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
}

static void
print_text(const struct inspect *in)
{
	const struct eml_graph *g = in->g;

	printf("model: %s\n", in->path);
	printf("graph: %s, opset %lld, %zu nodes, %zu initializers\n",
	    g->name != NULL && g->name[0] != '\0' ? g->name : "(unnamed)", (long long)g->opset,
	    g->n_nodes, g->n_initializers);
	printf("parameters: %llu (%llu bytes in initializers, Constant nodes above %d elements "
	       "included; %llu bytes in small Constant nodes)\n",
	    (unsigned long long)in->params, (unsigned long long)in->wbytes,
	    EML_ONNX_CONST_INLINE_MAX, (unsigned long long)in->cbytes);
	printf("inputs:\n");
	for (size_t i = 0; i < g->n_inputs; i++)
		print_vi(&g->inputs[i]);
	printf("outputs:\n");
	for (size_t i = 0; i < g->n_outputs; i++)
		print_vi(&g->outputs[i]);
	printf("operators (%zu kinds):\n", in->nops);
	for (size_t k = 0; k < in->nops; k++)
		printf("  %-24s %6zu  %s\n", in->ops[k].op, in->ops[k].n,
		    in->ops[k].bad == 0 ? "ok" : "UNSUPPORTED");
	if (in->nodes) {
		printf("nodes:\n");
		for (size_t i = 0; i < g->n_nodes; i++) {
			const struct eml_node *n = &g->nodes[i];
			char why[512];

			if (eml_engine_check_node(n, g->opset, why, sizeof(why)) == EML_OK)
				printf("  ok           %s (%s)\n", n->name, n->op_type);
			else
				printf("  UNSUPPORTED  %s\n", why);
		}
	}
	if (in->unsupported == 0) {
		printf("supported: yes, all %zu nodes\n", g->n_nodes);
		return;
	}
	printf("supported: no, %zu of %zu nodes\n", in->unsupported, g->n_nodes);
	for (size_t k = 0; k < in->nops; k++) {
		if (in->ops[k].bad == 0)
			continue;
		printf("  %s: %zu node%s:", in->ops[k].op, in->ops[k].bad,
		    in->ops[k].bad == 1 ? "" : "s");
		for (size_t i = 0, shown = 0; i < g->n_nodes && shown < 8; i++) {
			if (strcmp(g->nodes[i].op_type, in->ops[k].op) != 0 ||
			    eml_engine_check_node(&g->nodes[i], g->opset, NULL, 0) == EML_OK)
				continue;
			printf(" %s", g->nodes[i].name);
			if (++shown == 8 && in->ops[k].bad > 8)
				printf(" ...");
		}
		printf("\n    reason: %s\n    to support it: %s\n", in->ops[k].why,
		    remedy(in->ops[k].rc));
	}
}

static int
inspect_model(const struct eml_args *a)
{
	struct inspect in;
	eml_err rc;
	int status;

	memset(&in, 0, sizeof(in));
	in.path = a->pos[0];
	in.nodes = eml_args_has(a, "nodes");
	in.json = eml_args_has(a, "json");
	if ((rc = eml_onnx_import_file(in.path, &in.g)) != EML_OK)
		return eml_cli_fail(in.path, rc);
	if ((rc = survey(&in)) != EML_OK) {
		status = eml_cli_fail("inspect", rc);
	} else {
		if (in.json)
			print_json(&in);
		else
			print_text(&in);
		/* an unsupported model is a refusal (docs/CLI.md) */
		status = in.unsupported > 0 ? 1 : 0;
	}
	eml_free(in.ops);
	eml_graph_free(in.g);
	return status;
}

static int
inspect(const struct eml_args *a)
{
	return eml_cli_in_arena(inspect_model, a);
}

static const struct eml_opt inspect_opts[] = {
	{ "nodes", 0, EML_OPT_FLAG, NULL, "also list every node, supported or not", 0, 0, NULL,
	    0 },
	{ "json", 0, EML_OPT_FLAG, NULL, "one JSON document on stdout (docs/CLI.md)", 0, 0, NULL,
	    0 },
};

static const struct eml_cmd inspect_cmd = { .name = "inspect", .args = "MODEL.onnx",
	.summary = "what a model is made of and whether the engine runs it",
	.text = "A summary: parameters and weight bytes, inputs and outputs with their shapes "
		"(symbolic dimensions by name), operators by count, supported or not; for a "
		"refused model every unsupported operator with its node names, the reason and "
		"what would make it supported. --nodes adds the per-node list. Exit 1 when any "
		"node is unsupported.",
	.opts = inspect_opts, .n_opts = EML_OPT_N(inspect_opts), .min_pos = 1, .max_pos = 1,
	.run = inspect };
static const struct eml_cmd *const model_subs[] = { &inspect_cmd, &eml_cli_model_split };

const struct eml_cmd eml_cli_model = { .name = "model", .summary = "inspect or split ONNX models",
	.subs = model_subs, .n_subs = EML_OPT_N(model_subs) };
