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
usage(FILE *f)
{
	fprintf(f, "usage: eml model inspect MODEL.onnx\n"
		   "       eml model split MODEL.onnx --out DIR\n");
}

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
inspect(const char *path)
{
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
		for (size_t a = 0; a < n->n_attrs; a++)
			if (n->attrs[a].type == EML_ATTR_TENSOR && n->attrs[a].t != NULL)
				cbytes += n->attrs[a].t->nbytes;
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

int
eml_cmd_model(int argc, char **argv)
{
	if (argc < 1 || strcmp(argv[0], "-h") == 0 || strcmp(argv[0], "--help") == 0) {
		usage(argc < 1 ? stderr : stdout);
		return argc < 1 ? 2 : 0;
	}
	if (strcmp(argv[0], "split") == 0)
		return eml_cmd_model_split(argc - 1, argv + 1);
	if (strcmp(argv[0], "inspect") == 0) {
		if (argc != 2 || argv[1][0] == '-') {
			usage(stderr);
			return 2;
		}
		return inspect(argv[1]);
	}
	fprintf(stderr, "eml model: unknown subcommand '%s'\n", argv[0]);
	usage(stderr);
	return 2;
}
