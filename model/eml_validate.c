#include "eml_validate.h"

#include <string.h>

#include "eml_mem.h"
#include "eml_names.h"

#define SRC ((size_t)-1) /* defined by a graph input or an initializer */
#define WHY_LEN 256

void
eml_validate_limits_default(struct eml_validate_limits *lim)
{
	if (lim == NULL)
		return;
	memset(lim, 0, sizeof(*lim));
	lim->max_nodes = EML_VALIDATE_MAX_NODES;
	lim->max_tensor_elems = EML_VALIDATE_MAX_TENSOR_ELEMS;
	lim->max_tensor_bytes = EML_VALIDATE_MAX_TENSOR_BYTES;
	lim->max_static_bytes = EML_VALIDATE_MAX_STATIC_BYTES;
	lim->weight_bytes = UINT64_MAX;
}

/* What all graphs of one model share: limits and running totals. */
struct vtotal {
	struct eml_validate_limits lim;
	uint64_t static_bytes;
	uint64_t nodes;  /* over the graph and all its subgraphs */
	uint64_t values; /* inputs, initializers and node outputs, all graphs */
};

/* One graph being checked; a subgraph's parent is the graph holding it, at
 * node `at` (the outer values it sees are those defined before that node). */
struct vctx {
	const struct eml_graph *g;
	struct eml_validate_limits lim;
	struct eml_names defs; /* value name -> producer node, or SRC */
	struct vtotal *tot;
	const struct vctx *parent;
	size_t at;
	int depth;
};

static const char *
nz(const char *s)
{
	return s != NULL ? s : "";
}

/* ---------------------------------------------------------------- shapes */

/*
 * Elements and bytes of one shape, overflow-checked and bounded. With
 * symbolic_ok a dimension of -1 (unknown until the inputs are seen) is
 * skipped: the fixed dimensions alone must already be in bounds.
 */
static eml_err
shape_size(const struct vctx *c, const char *name, enum eml_dtype dt, int rank,
    const int64_t *dims, bool symbolic_ok, uint64_t *bytes)
{
	uint64_t n = 1, b;

	if (rank < 0 || rank > EML_MAX_RANK) {
		eml_err_set_detail("value %s: rank %d", name, rank);
		EML_BAIL(EML_ERR_GRAPH_DIM);
	}
	for (int i = 0; i < rank; i++) {
		if (dims[i] == -1 && symbolic_ok)
			continue;
		if (dims[i] < 0) {
			eml_err_set_detail("value %s: dimension %d is %lld", name, i,
			    (long long)dims[i]);
			EML_BAIL(EML_ERR_GRAPH_DIM);
		}
		if (eml_mul_overflow(n, (uint64_t)dims[i], &n)) {
			eml_err_set_detail("value %s: element count overflows", name);
			EML_BAIL(EML_ERR_GRAPH_OVERFLOW);
		}
	}
	if (eml_mul_overflow(n, (uint64_t)eml_dtype_size(dt), &b)) {
		eml_err_set_detail("value %s: byte size overflows", name);
		EML_BAIL(EML_ERR_GRAPH_OVERFLOW);
	}
	if (n > c->lim.max_tensor_elems || b > c->lim.max_tensor_bytes) {
		eml_err_set_detail("value %s: %llu elements, %llu bytes (limits %llu, %llu)", name,
		    (unsigned long long)n, (unsigned long long)b,
		    (unsigned long long)c->lim.max_tensor_elems,
		    (unsigned long long)c->lim.max_tensor_bytes);
		EML_BAIL(EML_ERR_GRAPH_TOO_LARGE);
	}
	*bytes = b;
	return EML_OK;
}

static eml_err
add_static(struct vctx *c, const char *name, uint64_t bytes)
{
	uint64_t *sum = &c->tot->static_bytes;

	if (eml_add_overflow(*sum, bytes, sum) || *sum > c->lim.max_static_bytes) {
		eml_err_set_detail("static tensors above %llu bytes in total (at %s)",
		    (unsigned long long)c->lim.max_static_bytes, name);
		EML_BAIL(EML_ERR_GRAPH_TOO_LARGE);
	}
	return EML_OK;
}

/* A tensor with a value: shape, size agreeing with it, and its bytes
 * either present or referenced inside the blob. */
static eml_err
check_tensor(struct vctx *c, const struct eml_tensor *t)
{
	const char *name = nz(t->name);
	uint64_t bytes, end;

	if (eml_dtype_size(t->dtype) == 0) {
		eml_err_set_detail("tensor %s: dtype %d has no size", name, (int)t->dtype);
		EML_BAIL(EML_ERR_INFER_DTYPE);
	}
	EML_GUARD(shape_size(c, name, t->dtype, t->rank, t->dims, false, &bytes));
	if (bytes != t->nbytes) {
		eml_err_set_detail("tensor %s: %zu bytes for a shape of %llu", name, t->nbytes,
		    (unsigned long long)bytes);
		EML_BAIL(EML_ERR_TOPO);
	}
	if (t->in_blob) {
		if (eml_add_overflow(t->blob_offset, bytes, &end) || end > c->lim.weight_bytes) {
			eml_err_set_detail("tensor %s: reference [%llu, +%llu) of a %llu-byte blob",
			    name, (unsigned long long)t->blob_offset, (unsigned long long)bytes,
			    (unsigned long long)c->lim.weight_bytes);
			EML_BAIL(EML_ERR_TOPO_REF);
		}
	} else if (bytes != 0 && t->data == NULL) {
		eml_err_set_detail("tensor %s has no value", name);
		EML_BAIL(EML_ERR_TOPO);
	}
	return add_static(c, name, bytes);
}

static eml_err
check_vinfos(struct vctx *c, const struct eml_value_info *v, size_t n, bool graph_in,
    bool graph_out)
{
	for (size_t i = 0; i < n; i++) {
		int64_t dims[EML_MAX_RANK];
		uint64_t bytes;
		size_t esz = eml_dtype_size(v[i].dtype);
		const char *name = nz(v[i].name);

		if ((graph_in && esz == 0) || (graph_out && esz == 0 && v[i].dtype != EML_DT_UNDEFINED)) {
			eml_err_set_detail("value %s: dtype %d not supported", name, (int)v[i].dtype);
			EML_BAIL(EML_ERR_INFER_DTYPE);
		}
		if (v[i].rank == -1)
			continue;
		if (v[i].rank < -1 || v[i].rank > EML_MAX_RANK) {
			eml_err_set_detail("value %s: rank %d", name, v[i].rank);
			EML_BAIL(EML_ERR_GRAPH_DIM);
		}
		for (int d = 0; d < v[i].rank; d++)
			dims[d] = v[i].dims[d].value;
		EML_GUARD(shape_size(c, name, v[i].dtype, v[i].rank, dims, true, &bytes));
		EML_GUARD(add_static(c, name, bytes));
	}
	return EML_OK;
}

/* ---------------------------------------------------------------- names */

static eml_err
define(struct vctx *c, const char *name, size_t producer, const char *what)
{
	size_t old;
	eml_err rc;

	if (name == NULL || name[0] == '\0') {
		eml_err_set_detail("%s without a name", what);
		EML_BAIL(EML_ERR_ONNX_NAME);
	}
	rc = eml_names_put(&c->defs, name, producer, &old);
	if (rc == EML_ERR_INTERNAL) {
		eml_err_set_detail("value %s defined twice (%s)", name, what);
		EML_BAIL(EML_ERR_GRAPH_DUP_VALUE);
	}
	return rc == EML_OK ? EML_OK : eml_err_record(rc, __FILE__, __LINE__, __func__);
}

static eml_err
define_all(struct vctx *c)
{
	const struct eml_graph *g = c->g;
	size_t total;

	total = g->n_inputs + g->n_initializers; /* both bounded below */
	for (size_t i = 0; i < g->n_nodes; i++)
		total += g->nodes[i].n_outputs;
	c->tot->values += total;
	if (c->tot->values > EML_VALIDATE_MAX_VALUES) {
		eml_err_set_detail("more than %u values over the graph and its subgraphs",
		    EML_VALIDATE_MAX_VALUES);
		EML_BAIL(EML_ERR_GRAPH_LIMIT);
	}
	EML_GUARD(eml_names_init(&c->defs, total + 1));
	for (size_t i = 0; i < g->n_inputs; i++)
		EML_GUARD(define(c, g->inputs[i].name, SRC, "graph input"));
	for (size_t i = 0; i < g->n_initializers; i++)
		EML_GUARD(define(c, g->initializers[i].name, SRC, "initializer"));
	for (size_t i = 0; i < g->n_nodes; i++)
		for (size_t k = 0; k < g->nodes[i].n_outputs; k++) {
			const char *o = g->nodes[i].outputs[k];

			if (o == NULL || o[0] == '\0')
				continue; /* an omitted optional output */
			EML_GUARD(define(c, o, i, "node output"));
		}
	return EML_OK;
}

/* ---------------------------------------------------------------- order */

/*
 * Kahn's algorithm over producer -> consumer edges: true when some nodes
 * can never run (a cycle). Called only once an input is found used before
 * its definition, to tell a cycle from a graph that is merely unsorted.
 */
static eml_err
has_cycle(const struct vctx *c, bool *cycle)
{
	eml_err rc = EML_ERR_INTERNAL;
	const struct eml_graph *g = c->g;
	size_t nn = g->n_nodes, n_edges = 0, qh = 0, qt = 0, done = 0;
	size_t *indeg = NULL, *start = NULL, *edges = NULL, *fill = NULL, *queue = NULL;

	for (size_t i = 0; i < nn; i++)
		n_edges += g->nodes[i].n_inputs;
	indeg = eml_calloc(nn + 1, sizeof(size_t));
	start = eml_calloc(nn + 2, sizeof(size_t));
	fill = eml_calloc(nn + 1, sizeof(size_t));
	queue = eml_calloc(nn + 1, sizeof(size_t));
	edges = eml_calloc(n_edges + 1, sizeof(size_t));
	if (indeg == NULL || start == NULL || fill == NULL || queue == NULL || edges == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	for (size_t i = 0; i < nn; i++)
		for (size_t k = 0; k < g->nodes[i].n_inputs; k++) {
			size_t p;

			if (!eml_names_get(&c->defs, nz(g->nodes[i].inputs[k]), &p) || p == SRC)
				continue;
			start[p + 1]++;
			indeg[i]++;
		}
	for (size_t i = 0; i < nn; i++) {
		start[i + 1] += start[i];
		fill[i] = start[i];
	}
	for (size_t i = 0; i < nn; i++)
		for (size_t k = 0; k < g->nodes[i].n_inputs; k++) {
			size_t p;

			if (!eml_names_get(&c->defs, nz(g->nodes[i].inputs[k]), &p) || p == SRC)
				continue;
			edges[fill[p]++] = i;
		}
	for (size_t i = 0; i < nn; i++)
		if (indeg[i] == 0)
			queue[qt++] = i;
	while (qh < qt) {
		size_t u = queue[qh++];

		done++;
		for (size_t e = start[u]; e < start[u + 1]; e++)
			if (--indeg[edges[e]] == 0)
				queue[qt++] = edges[e];
	}
	*cycle = done != nn;
	rc = EML_OK;
out:
	eml_free(indeg);
	eml_free(start);
	eml_free(fill);
	eml_free(queue);
	eml_free(edges);
	return rc;
}

/*
 * A name a subgraph does not define: an outer-scope value visible where the
 * subgraph sits, i.e. defined in an enclosing graph by an input, an
 * initializer or a node before the one holding the subgraph.
 */
static eml_err
resolve_outer(const struct vctx *c, const char *node, const char *in)
{
	size_t at = c->at;

	for (const struct vctx *q = c->parent; q != NULL; at = q->at, q = q->parent) {
		size_t p;

		if (!eml_names_get(&q->defs, in, &p))
			continue;
		if (p == SRC || p < at)
			return EML_OK;
		eml_err_set_detail("node %s: outer value %s comes from a node at or after the "
		    "subgraph's node", node, in);
		EML_BAIL(EML_ERR_GRAPH_ORDER);
	}
	eml_err_set_detail("node %s: input %s is defined nowhere", node, in);
	EML_BAIL(EML_ERR_GRAPH_UNDEFINED);
}

static eml_err validate(struct vctx *c);

/* A subgraph of node i, checked like a graph with c as its outer scope;
 * the limits and totals are the model's. */
static eml_err
validate_sub(const struct vctx *c, size_t i, const struct eml_graph *sub)
{
	struct vctx s;
	eml_err rc;

	if (c->depth + 1 > EML_GRAPH_MAX_DEPTH) {
		eml_err_set_detail("node %s: subgraphs nested deeper than %d",
		    nz(c->g->nodes[i].name), EML_GRAPH_MAX_DEPTH);
		EML_BAIL(EML_ERR_GRAPH_LIMIT);
	}
	memset(&s, 0, sizeof(s));
	s.g = sub;
	s.lim = c->lim;
	s.tot = c->tot;
	s.parent = c;
	s.at = i;
	s.depth = c->depth + 1;
	rc = validate(&s);
	eml_names_free(&s.defs);
	return rc;
}

static bool
op_allowed(const struct vctx *c, const char *op)
{
	if (c->lim.ops == NULL)
		return true;
	for (size_t i = 0; i < c->lim.n_ops; i++)
		if (c->lim.ops[i] != NULL && strcmp(c->lim.ops[i], op) == 0)
			return true;
	return false;
}

static eml_err
check_node(struct vctx *c, size_t i)
{
	const struct eml_node *n = &c->g->nodes[i];
	char why[WHY_LEN];

	if (n->n_attrs > EML_VALIDATE_MAX_NODE_ATTRS) {
		eml_err_set_detail("node %s: %zu attributes", nz(n->name), n->n_attrs);
		EML_BAIL(EML_ERR_GRAPH_LIMIT);
	}
	if (!op_allowed(c, nz(n->op_type))) {
		eml_err_set_detail("node %s: operator %s not in the policy's list", nz(n->name),
		    nz(n->op_type));
		EML_BAIL(EML_ERR_POLICY_OP);
	}
	if (c->lim.check_node_at != NULL || c->lim.check_node != NULL) {
		eml_err rc = c->lim.check_node_at != NULL ?
		    c->lim.check_node_at(c->lim.check_arg, c->g, i, why, sizeof(why)) :
		    c->lim.check_node(n, c->g->opset, why, sizeof(why));

		if (rc != EML_OK) {
			/* Keep the engine's code; the detail names the node. */
			eml_err_set_detail("%s", why);
			return eml_err_record(rc, __FILE__, __LINE__, __func__);
		}
	}
	for (size_t k = 0; k < n->n_attrs; k++)
		if (n->attrs[k].type == EML_ATTR_TENSOR && n->attrs[k].t != NULL)
			EML_GUARD(check_tensor(c, n->attrs[k].t));
		else if (n->attrs[k].type == EML_ATTR_GRAPH && n->attrs[k].g != NULL)
			EML_GUARD(validate_sub(c, i, n->attrs[k].g));
	for (size_t k = 0; k < n->n_inputs; k++) {
		const char *in = nz(n->inputs[k]);
		size_t p;
		bool cycle = false;

		if (in[0] == '\0')
			continue; /* an omitted optional input */
		if (!eml_names_get(&c->defs, in, &p)) {
			EML_GUARD(resolve_outer(c, nz(n->name), in));
			continue;
		}
		if (p == SRC || p < i)
			continue;
		EML_GUARD(has_cycle(c, &cycle));
		eml_err_set_detail("node %s: input %s comes from a node at or after it%s",
		    nz(n->name), in, cycle ? " (the graph has a cycle)" : "");
		EML_BAIL(cycle ? EML_ERR_GRAPH_CYCLE : EML_ERR_GRAPH_ORDER);
	}
	return EML_OK;
}

/* ---------------------------------------------------------------- graph */

static eml_err
check_counts(struct vctx *c)
{
	const struct eml_graph *g = c->g;

	c->tot->nodes += g->n_nodes;
	if (c->tot->nodes > c->lim.max_nodes || g->n_inputs > EML_VALIDATE_MAX_GRAPH_IO ||
	    g->n_outputs > EML_VALIDATE_MAX_GRAPH_IO ||
	    g->n_initializers > c->lim.max_nodes || g->n_value_infos > c->lim.max_nodes) {
		eml_err_set_detail("%zu nodes, %zu inputs, %zu outputs, %zu initializers "
		    "(limits %llu nodes, %u outputs, %u inputs)", g->n_nodes, g->n_inputs,
		    g->n_outputs, g->n_initializers, (unsigned long long)c->lim.max_nodes,
		    EML_VALIDATE_MAX_GRAPH_IO, EML_VALIDATE_MAX_GRAPH_IO);
		EML_BAIL(EML_ERR_GRAPH_LIMIT);
	}
	for (size_t i = 0; i < g->n_nodes; i++)
		if (g->nodes[i].n_inputs > EML_VALIDATE_MAX_NODE_IO ||
		    g->nodes[i].n_outputs > EML_VALIDATE_MAX_NODE_IO) {
			eml_err_set_detail("node %s: %zu inputs, %zu outputs", nz(g->nodes[i].name),
			    g->nodes[i].n_inputs, g->nodes[i].n_outputs);
			EML_BAIL(EML_ERR_GRAPH_LIMIT);
		}
	return EML_OK;
}

static eml_err
check_outputs(const struct vctx *c)
{
	const struct eml_graph *g = c->g;

	for (size_t i = 0; i < g->n_outputs; i++) {
		const char *o = nz(g->outputs[i].name);

		if (!eml_names_get(&c->defs, o, NULL)) {
			if (c->parent != NULL) {
				/* a subgraph may pass an outer value on as is */
				EML_GUARD(resolve_outer(c, "(subgraph output)", o));
				continue;
			}
			eml_err_set_detail("graph output %s is produced by no node", o);
			EML_BAIL(EML_ERR_GRAPH_UNDEFINED);
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(o, nz(g->outputs[j].name)) == 0) {
				eml_err_set_detail("graph output %s listed twice", o);
				EML_BAIL(EML_ERR_GRAPH_DUP_VALUE);
			}
	}
	return EML_OK;
}

static eml_err
validate(struct vctx *c)
{
	const struct eml_graph *g = c->g;

	EML_GUARD(check_counts(c));
	EML_GUARD(define_all(c));
	EML_GUARD(check_vinfos(c, g->inputs, g->n_inputs, true, false));
	EML_GUARD(check_vinfos(c, g->outputs, g->n_outputs, false, true));
	EML_GUARD(check_vinfos(c, g->value_infos, g->n_value_infos, false, false));
	for (size_t i = 0; i < g->n_initializers; i++)
		EML_GUARD(check_tensor(c, &g->initializers[i]));
	for (size_t i = 0; i < g->n_nodes; i++)
		EML_GUARD(check_node(c, i));
	return check_outputs(c);
}

eml_err
eml_graph_validate(const struct eml_graph *g, const struct eml_validate_limits *lim)
{
	struct vctx c;
	struct vtotal tot;
	struct eml_validate_limits def;
	eml_err rc;

	EML_ENSURE_REF(g);
	eml_validate_limits_default(&def);
	memset(&c, 0, sizeof(c));
	memset(&tot, 0, sizeof(tot));
	c.tot = &tot;
	c.g = g;
	c.lim = lim != NULL ? *lim : def;
	/* A zero limit means the default. */
	if (c.lim.max_nodes == 0)
		c.lim.max_nodes = def.max_nodes;
	if (c.lim.max_tensor_elems == 0)
		c.lim.max_tensor_elems = def.max_tensor_elems;
	if (c.lim.max_tensor_bytes == 0)
		c.lim.max_tensor_bytes = def.max_tensor_bytes;
	if (c.lim.max_static_bytes == 0)
		c.lim.max_static_bytes = def.max_static_bytes;
	tot.lim = c.lim;
	rc = validate(&c);
	eml_names_free(&c.defs);
	return rc;
}
