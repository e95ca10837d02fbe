/*
 * eml model inspect MODEL.onnx   operators with counts, inputs and outputs
 *                                with their shapes (symbolic dims by name),
 *                                weight bytes, and every node supported or
 *                                not with the reason. Exit 1 when any node
 *                                is unsupported.
 * eml model split ...            see cmd_model_split.c
 */
#include <stdio.h>
#include <string.h>

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

struct opcount {
	const char *op;
	size_t n;
};

static int
inspect(const struct eml_args *a)
{
	const char *path = a->pos[0];
	struct eml_graph *g = NULL;
	struct opcount *ops = NULL;
	size_t nops = 0, unsupported = 0, wbytes = 0, cbytes = 0;
	eml_err rc;
	int status = 3;

	rc = eml_onnx_import_file(path, &g);
	if (rc != EML_OK)
		return eml_cli_fail(path, rc);
	ops = eml_calloc(g->n_nodes + 1, sizeof(*ops));
	if (ops == NULL) {
		status = eml_cli_fail("inspect", EML_ERR_NOMEM);
		goto out;
	}
	for (size_t i = 0; i < g->n_initializers; i++)
		wbytes += g->initializers[i].nbytes;
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct eml_node *n = &g->nodes[i];
		size_t k;
		for (k = 0; k < nops; k++)
			if (strcmp(ops[k].op, n->op_type) == 0)
				break;
		if (k == nops)
			ops[nops++].op = n->op_type;
		ops[k].n++;
		for (size_t j = 0; j < n->n_attrs; j++)
			if (n->attrs[j].type == EML_ATTR_TENSOR && n->attrs[j].t != NULL)
				cbytes += n->attrs[j].t->nbytes;
	}
	printf("model: %s\n", path);
	printf("graph: %s, opset %lld, %zu nodes, %zu initializers\n",
	    g->name != NULL && g->name[0] != '\0' ? g->name : "(unnamed)", (long long)g->opset,
	    g->n_nodes, g->n_initializers);
	printf("weights: %zu bytes in initializers (Constant nodes above %d elements "
	       "included), %zu bytes in small Constant nodes\n",
	    wbytes, EML_ONNX_CONST_INLINE_MAX, cbytes);
	printf("inputs:\n");
	for (size_t i = 0; i < g->n_inputs; i++)
		print_vi(&g->inputs[i]);
	printf("outputs:\n");
	for (size_t i = 0; i < g->n_outputs; i++)
		print_vi(&g->outputs[i]);
	printf("operators:\n");
	for (size_t k = 0; k < nops; k++)
		printf("  %-24s %zu\n", ops[k].op, ops[k].n);
	printf("nodes:\n");
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct eml_node *n = &g->nodes[i];
		char why[512];
		if (eml_engine_check_node(n, g->opset, why, sizeof(why)) == EML_OK) {
			printf("  ok           %s (%s)\n", n->name, n->op_type);
		} else {
			printf("  UNSUPPORTED  %s\n", why);
			unsupported++;
		}
	}
	if (unsupported > 0) {
		printf("%zu of %zu nodes unsupported\n", unsupported, g->n_nodes);
		status = 1;
	} else {
		printf("all %zu nodes supported\n", g->n_nodes);
		status = 0;
	}
out:
	eml_free(ops);
	eml_graph_free(g);
	return status;
}

static const struct eml_cmd inspect_cmd = { .name = "inspect", .args = "MODEL.onnx",
	.summary = "what a model is made of and whether the engine runs it",
	.text = "Operators with counts, inputs and outputs with their shapes (symbolic "
		"dimensions by name), weight bytes, and every node supported or not with the "
		"reason. Exit 1 when any node is unsupported.",
	.min_pos = 1, .max_pos = 1, .run = inspect };
static const struct eml_cmd *const model_subs[] = { &inspect_cmd, &eml_cli_model_split };

const struct eml_cmd eml_cli_model = { .name = "model", .summary = "inspect or split ONNX models",
	.subs = model_subs, .n_subs = EML_OPT_N(model_subs) };
