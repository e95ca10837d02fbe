#include "eml_graph.h"

#include <string.h>

#include "eml_mem.h"

size_t
eml_dtype_size(enum eml_dtype dt)
{
	switch (dt) {
	case EML_DT_FLOAT:
	case EML_DT_INT32:
	case EML_DT_UINT32:
		return 4;
	case EML_DT_UINT8:
	case EML_DT_INT8:
	case EML_DT_BOOL:
		return 1;
	case EML_DT_UINT16:
	case EML_DT_INT16:
	case EML_DT_FLOAT16:
		return 2;
	case EML_DT_INT64:
	case EML_DT_DOUBLE:
	case EML_DT_UINT64:
		return 8;
	case EML_DT_UNDEFINED:
	case EML_DT_STRING:
		break;
	}
	return 0;
}

const char *
eml_dtype_name(enum eml_dtype dt)
{
	switch (dt) {
	case EML_DT_FLOAT:
		return "float32";
	case EML_DT_UINT8:
		return "uint8";
	case EML_DT_INT8:
		return "int8";
	case EML_DT_UINT16:
		return "uint16";
	case EML_DT_INT16:
		return "int16";
	case EML_DT_INT32:
		return "int32";
	case EML_DT_INT64:
		return "int64";
	case EML_DT_STRING:
		return "string";
	case EML_DT_BOOL:
		return "bool";
	case EML_DT_FLOAT16:
		return "float16";
	case EML_DT_DOUBLE:
		return "float64";
	case EML_DT_UINT32:
		return "uint32";
	case EML_DT_UINT64:
		return "uint64";
	case EML_DT_UNDEFINED:
		break;
	}
	return "undefined";
}

static void
free_str(char *s)
{
	if (s != NULL)
		eml_free_wipe(s, strlen(s));
}

void
eml_tensor_clear(struct eml_tensor *t)
{
	if (t == NULL)
		return;
	free_str(t->name);
	if (t->owned)
		eml_secure_free(t->data);
	memset(t, 0, sizeof(*t));
}

eml_err
eml_tensor_numel(const struct eml_tensor *t, size_t *out)
{
	size_t n = 1;

	EML_ENSURE(t != NULL && out != NULL, EML_ERR_NULL);
	EML_ENSURE(t->rank >= 0 && t->rank <= EML_MAX_RANK, EML_ERR_PROTO_FIELD);
	for (int i = 0; i < t->rank; i++) {
		EML_ENSURE(t->dims[i] >= 0, EML_ERR_PROTO_FIELD);
		EML_ENSURE(!eml_mul_overflow(n, (size_t)t->dims[i], &n), EML_ERR_OVERFLOW);
	}
	*out = n;
	return EML_OK;
}

static void
free_attr(struct eml_attr *a)
{
	free_str(a->name);
	free_str(a->s);
	if (a->t != NULL) {
		eml_tensor_clear(a->t);
		eml_free(a->t);
	}
	eml_free_wipe(a->floats, a->n * sizeof(float));
	eml_free_wipe(a->ints, a->n * sizeof(int64_t));
	if (a->strings != NULL) {
		for (size_t i = 0; i < a->n; i++)
			free_str(a->strings[i]);
		eml_free_wipe(a->strings, a->n * sizeof(char *));
	}
}

static void
free_strv(char **v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++)
		free_str(v[i]);
	eml_free_wipe(v, n * sizeof(char *));
}

static void
free_node(struct eml_node *n)
{
	free_str(n->name);
	free_str(n->op_type);
	free_str(n->domain);
	free_strv(n->inputs, n->n_inputs);
	free_strv(n->outputs, n->n_outputs);
	if (n->attrs != NULL) {
		for (size_t i = 0; i < n->n_attrs; i++)
			free_attr(&n->attrs[i]);
		eml_free_wipe(n->attrs, n->n_attrs * sizeof(*n->attrs));
	}
}

static void
free_value_infos(struct eml_value_info *v, size_t n)
{
	if (v == NULL)
		return;
	for (size_t i = 0; i < n; i++) {
		free_str(v[i].name);
		for (int d = 0; d < EML_MAX_RANK; d++)
			free_str(v[i].dims[d].symbol);
	}
	eml_free_wipe(v, n * sizeof(*v));
}

struct eml_graph *
eml_graph_new(void)
{
	return eml_calloc(1, sizeof(struct eml_graph));
}

void
eml_graph_free(struct eml_graph *g)
{
	if (g == NULL)
		return;
	free_str(g->name);
	if (g->nodes != NULL) {
		for (size_t i = 0; i < g->n_nodes; i++)
			free_node(&g->nodes[i]);
		eml_free_wipe(g->nodes, g->n_nodes * sizeof(*g->nodes));
	}
	if (g->initializers != NULL) {
		for (size_t i = 0; i < g->n_initializers; i++)
			eml_tensor_clear(&g->initializers[i]);
		eml_free_wipe(g->initializers, g->n_initializers * sizeof(*g->initializers));
	}
	free_value_infos(g->inputs, g->n_inputs);
	free_value_infos(g->outputs, g->n_outputs);
	free_value_infos(g->value_infos, g->n_value_infos);
	eml_free_wipe(g, sizeof(*g));
}

const struct eml_attr *
eml_node_attr(const struct eml_node *n, const char *name)
{
	for (size_t i = 0; i < n->n_attrs; i++)
		if (n->attrs[i].name != NULL && strcmp(n->attrs[i].name, name) == 0)
			return &n->attrs[i];
	return NULL;
}
