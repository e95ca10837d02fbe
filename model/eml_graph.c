#include "eml_graph.h"

#include <string.h>

#include "eml_mem.h"
#include "eml_names.h"

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
	case EML_DT_BFLOAT16:
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
	case EML_DT_BFLOAT16:
		return "bfloat16";
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

/* ---------------------------------------------------------------- region */

#define REGION_ALIGN 16
#define REGION_BLOCK_MIN ((size_t)4 << 10)
#define REGION_BLOCK_MAX ((size_t)1 << 20)

struct region_blk {
	struct region_blk *next;
	size_t cap, used;
	_Alignas(REGION_ALIGN) unsigned char data[];
};

struct eml_region {
	struct region_blk *head; /* the block small allocations come from */
	size_t next_cap;
	size_t used;
};

struct eml_region *
eml_region_new(size_t first)
{
	struct eml_region *r = eml_alloc(sizeof(*r));

	if (r == NULL)
		return NULL;
	r->head = NULL;
	r->used = 0;
	r->next_cap = first;
	if (r->next_cap < REGION_BLOCK_MIN)
		r->next_cap = REGION_BLOCK_MIN;
	if (r->next_cap > REGION_BLOCK_MAX)
		r->next_cap = REGION_BLOCK_MAX;
	return r;
}

void *
eml_region_alloc(struct eml_region *r, size_t n)
{
	struct region_blk *b;
	size_t need, cap, total;

	if (r == NULL || eml_add_overflow(n == 0 ? 1 : n, (size_t)REGION_ALIGN - 1, &need))
		return NULL;
	need &= ~(size_t)(REGION_ALIGN - 1);
	b = r->head;
	if (b != NULL && b->cap - b->used >= need) {
		b->used += need;
		r->used += need;
		return b->data + b->used - need;
	}
	cap = need > r->next_cap ? need : r->next_cap;
	if (eml_add_overflow(cap, sizeof(*b), &total))
		return NULL;
	b = eml_alloc(total);
	if (b == NULL)
		return NULL;
	b->cap = cap;
	b->used = need;
	r->used += need;
	if (need > r->next_cap / 2 && r->head != NULL) {
		/* a large one alone: the current block keeps serving */
		b->next = r->head->next;
		r->head->next = b;
	} else {
		b->next = r->head;
		r->head = b;
		if (r->next_cap < REGION_BLOCK_MAX)
			r->next_cap *= 2;
	}
	return b->data;
}

void *
eml_region_calloc(struct eml_region *r, size_t nmemb, size_t size)
{
	size_t n;
	void *p;

	if (eml_mul_overflow(nmemb, size, &n))
		return NULL;
	p = eml_region_alloc(r, n);
	if (p != NULL)
		memset(p, 0, n);
	return p;
}

size_t
eml_region_used(const struct eml_region *r)
{
	return r == NULL ? 0 : r->used;
}

void
eml_region_free(struct eml_region *r)
{
	if (r == NULL)
		return;
	while (r->head != NULL) {
		struct region_blk *b = r->head;

		r->head = b->next;
		eml_wipe(b->data, b->used);
		eml_free(b);
	}
	eml_free_wipe(r, sizeof(*r));
}

/* ---------------------------------------------------------------- free */

/* In a region graph (r) nothing is freed one by one: the region is wiped
 * and freed whole by the graph that owns it. Owned tensor data is not in
 * the region (eml_secure_alloc) and is freed either way. */
static void
free_str(char *s, bool r)
{
	if (s != NULL && !r)
		eml_free_wipe(s, strlen(s));
}

static void
free_block(void *p, size_t n, bool r)
{
	if (!r)
		eml_free_wipe(p, n);
}

static void
tensor_clear(struct eml_tensor *t, bool r)
{
	free_str(t->name, r);
	if (t->owned)
		eml_secure_free(t->data);
	memset(t, 0, sizeof(*t));
}

void
eml_tensor_clear(struct eml_tensor *t)
{
	if (t == NULL)
		return;
	tensor_clear(t, false);
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

static void graph_free(struct eml_graph *g, bool r);

static void
free_attr(struct eml_attr *a, bool r)
{
	graph_free(a->g, r);
	free_str(a->name, r);
	free_str(a->s, r);
	if (a->t != NULL) {
		tensor_clear(a->t, r);
		if (!r)
			eml_free(a->t);
	}
	free_block(a->floats, a->n * sizeof(float), r);
	free_block(a->ints, a->n * sizeof(int64_t), r);
	if (a->strings != NULL && !r) {
		for (size_t i = 0; i < a->n; i++)
			free_str(a->strings[i], r);
		eml_free_wipe(a->strings, a->n * sizeof(char *));
	}
}

static void
free_strv(char **v, size_t n, bool r)
{
	if (v == NULL || r)
		return;
	for (size_t i = 0; i < n; i++)
		free_str(v[i], r);
	eml_free_wipe(v, n * sizeof(char *));
}

static void
free_node(struct eml_node *n, bool r)
{
	free_str(n->name, r);
	free_str(n->op_type, r);
	free_str(n->domain, r);
	free_strv(n->inputs, n->n_inputs, r);
	free_strv(n->outputs, n->n_outputs, r);
	if (n->attrs != NULL) {
		for (size_t i = 0; i < n->n_attrs; i++)
			free_attr(&n->attrs[i], r);
		free_block(n->attrs, n->n_attrs * sizeof(*n->attrs), r);
	}
}

static void
free_value_infos(struct eml_value_info *v, size_t n, bool r)
{
	if (v == NULL || r)
		return;
	for (size_t i = 0; i < n; i++) {
		free_str(v[i].name, r);
		for (int d = 0; d < EML_MAX_RANK; d++)
			free_str(v[i].dims[d].symbol, r);
	}
	eml_free_wipe(v, n * sizeof(*v));
}

struct eml_graph *
eml_graph_new(void)
{
	return eml_calloc(1, sizeof(struct eml_graph));
}

/* r: g lives in a region its root owns. A region graph's walk only frees
 * owned tensor data; the root then wipes and frees the region. */
static void
graph_free(struct eml_graph *g, bool r)
{
	struct eml_region *own;

	if (g == NULL)
		return;
	own = r ? NULL : g->region;
	r = r || own != NULL;
	free_str(g->name, r);
	if (g->nodes != NULL) {
		for (size_t i = 0; i < g->n_nodes; i++)
			free_node(&g->nodes[i], r);
		free_block(g->nodes, g->n_nodes * sizeof(*g->nodes), r);
	}
	if (g->initializers != NULL) {
		for (size_t i = 0; i < g->n_initializers; i++)
			tensor_clear(&g->initializers[i], r);
		free_block(g->initializers, g->n_initializers * sizeof(*g->initializers), r);
	}
	free_value_infos(g->inputs, g->n_inputs, r);
	free_value_infos(g->outputs, g->n_outputs, r);
	free_value_infos(g->value_infos, g->n_value_infos, r);
	if (own != NULL)
		eml_region_free(own); /* g itself may be in it */
	else if (!r)
		eml_free_wipe(g, sizeof(*g));
}

void
eml_graph_free(struct eml_graph *g)
{
	graph_free(g, false);
}

const struct eml_attr *
eml_node_attr(const struct eml_node *n, const char *name)
{
	for (size_t i = 0; i < n->n_attrs; i++)
		if (n->attrs[i].name != NULL && strcmp(n->attrs[i].name, name) == 0)
			return &n->attrs[i];
	return NULL;
}

bool
eml_node_has_subgraph(const struct eml_node *n)
{
	for (size_t i = 0; i < n->n_attrs; i++)
		if (n->attrs[i].type == EML_ATTR_GRAPH && n->attrs[i].g != NULL)
			return true;
	return false;
}

static size_t
count_subgraphs(const struct eml_graph *g, int depth)
{
	size_t n = 0;

	if (depth > EML_GRAPH_MAX_DEPTH + 1)
		return 1; /* only "some" matters past the bound */
	for (size_t i = 0; i < g->n_nodes; i++)
		for (size_t j = 0; j < g->nodes[i].n_attrs; j++)
			if (g->nodes[i].attrs[j].type == EML_ATTR_GRAPH &&
			    g->nodes[i].attrs[j].g != NULL)
				n += 1 + count_subgraphs(g->nodes[i].attrs[j].g, depth + 1);
	return n;
}

size_t
eml_graph_n_subgraphs(const struct eml_graph *g)
{
	return g == NULL ? 0 : count_subgraphs(g, 0);
}

static eml_err
each_tensor(struct eml_graph *g, eml_tensor_fn fn, void *arg, int depth)
{
	if (depth > EML_GRAPH_MAX_DEPTH) {
		eml_err_set_detail("subgraphs nested deeper than %d", EML_GRAPH_MAX_DEPTH);
		EML_BAIL(EML_ERR_GRAPH_LIMIT);
	}
	for (size_t i = 0; i < g->n_initializers; i++)
		EML_GUARD(fn(&g->initializers[i], arg));
	for (size_t i = 0; i < g->n_nodes; i++)
		for (size_t j = 0; j < g->nodes[i].n_attrs; j++) {
			struct eml_attr *a = &g->nodes[i].attrs[j];

			if (a->type == EML_ATTR_TENSOR && a->t != NULL)
				EML_GUARD(fn(a->t, arg));
			else if (a->type == EML_ATTR_GRAPH && a->g != NULL)
				EML_GUARD(each_tensor(a->g, fn, arg, depth + 1));
		}
	return EML_OK;
}

eml_err
eml_graph_each_tensor(struct eml_graph *g, eml_tensor_fn fn, void *arg)
{
	EML_ENSURE(g != NULL && fn != NULL, EML_ERR_NULL);
	return each_tensor(g, fn, arg, 0);
}

/* Names a subgraph does not define, passed on to the enclosing scope's fn. */
struct capture_scope {
	const struct eml_names *defs;
	eml_name_fn fn;
	void *arg;
};

static eml_err graph_captures(const struct eml_graph *g, eml_name_fn fn, void *arg, int depth);

static eml_err
capture_filter(const char *name, void *arg)
{
	const struct capture_scope *s = arg;

	if (eml_names_get(s->defs, name, NULL))
		return EML_OK;
	return s->fn(name, s->arg);
}

static eml_err
node_captures(const struct eml_node *n, eml_name_fn fn, void *arg, int depth)
{
	for (size_t j = 0; j < n->n_attrs; j++)
		if (n->attrs[j].type == EML_ATTR_GRAPH && n->attrs[j].g != NULL)
			EML_GUARD(graph_captures(n->attrs[j].g, fn, arg, depth + 1));
	return EML_OK;
}

/* A name defined twice is the validator's to refuse; the first stays. */
static void
define_one(struct eml_names *defs, const char *name)
{
	if (name == NULL || name[0] == '\0')
		return;
	if (eml_names_put(defs, name, 0, NULL) != EML_OK)
		return;
}

static eml_err
define_names(const struct eml_graph *g, struct eml_names *defs)
{
	size_t total = g->n_inputs + g->n_initializers;

	for (size_t i = 0; i < g->n_nodes; i++)
		EML_ENSURE(
		    !eml_add_overflow(total, g->nodes[i].n_outputs, &total), EML_ERR_OVERFLOW);
	EML_GUARD(eml_names_init(defs, total + 1));
	for (size_t i = 0; i < g->n_inputs; i++)
		define_one(defs, g->inputs[i].name);
	for (size_t i = 0; i < g->n_initializers; i++)
		define_one(defs, g->initializers[i].name);
	for (size_t i = 0; i < g->n_nodes; i++)
		for (size_t k = 0; k < g->nodes[i].n_outputs; k++)
			define_one(defs, g->nodes[i].outputs[k]);
	return EML_OK;
}

static eml_err
scan_captures(const struct eml_graph *g, struct capture_scope *s, int depth)
{
	for (size_t i = 0; i < g->n_nodes; i++) {
		const struct eml_node *n = &g->nodes[i];

		for (size_t k = 0; k < n->n_inputs; k++)
			if (n->inputs[k] != NULL && n->inputs[k][0] != '\0')
				EML_GUARD(capture_filter(n->inputs[k], s));
		EML_GUARD(node_captures(n, capture_filter, s, depth));
	}
	for (size_t i = 0; i < g->n_outputs; i++)
		if (g->outputs[i].name != NULL && g->outputs[i].name[0] != '\0')
			EML_GUARD(capture_filter(g->outputs[i].name, s));
	return EML_OK;
}

static eml_err
graph_captures(const struct eml_graph *g, eml_name_fn fn, void *arg, int depth)
{
	struct eml_names defs = { 0 };
	struct capture_scope s = { &defs, fn, arg };
	eml_err rc;

	if (depth > EML_GRAPH_MAX_DEPTH) {
		eml_err_set_detail("subgraphs nested deeper than %d", EML_GRAPH_MAX_DEPTH);
		EML_BAIL(EML_ERR_GRAPH_LIMIT);
	}
	rc = define_names(g, &defs);
	if (rc == EML_OK)
		rc = scan_captures(g, &s, depth);
	eml_names_free(&defs);
	return rc;
}

eml_err
eml_node_captures(const struct eml_node *n, eml_name_fn fn, void *arg)
{
	EML_ENSURE(n != NULL && fn != NULL, EML_ERR_NULL);
	return node_captures(n, fn, arg, 0);
}
