#include "onnx_import.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/eml_names.h"
#include "eml_file.h"
#include "eml_mem.h"
#include "model/eml_onnx_tensor.h"
#include "proto/onnx.pb-c.h"

/* ---------------------------------------------------------------- graph */

/*
 * The graph is built in one region (eml_graph.h) that it owns: its
 * structs, arrays and strings come from heap blocks by a bump pointer and
 * go, wiped, at once with the graph (tensor data stays eml_secure_alloc'ed).
 * The demo model's graph was ~4,800 allocations, each wiped and freed
 * alone (issue 16).
 */
static eml_err
dup_str(struct eml_region *r, const char *s, char **out)
{
	size_t n;

	if (s == NULL)
		s = "";
	n = strlen(s) + 1;
	*out = eml_region_alloc(r, n);
	EML_ENSURE(*out != NULL, EML_ERR_NOMEM);
	EML_MEMCPY(*out, s, n);
	return EML_OK;
}

static eml_err
conv_value_info(struct eml_region *r, const Emlonnx__ValueInfoProto *vp, struct eml_value_info *v)
{
	const Emlonnx__TypeProto__Tensor *tt;

	EML_GUARD(eml_onnx_check_name(vp->name, false, "value info"));
	EML_GUARD(dup_str(r, vp->name, &v->name));
	v->rank = -1;
	v->dtype = EML_DT_UNDEFINED;
	if (vp->type == NULL || vp->type->value_case == EMLONNX__TYPE_PROTO__VALUE__NOT_SET)
		return EML_OK; /* no type: left unknown */
	if (vp->type->value_case != EMLONNX__TYPE_PROTO__VALUE_TENSOR_TYPE) {
		eml_err_set_detail("value %s: sequence, map, optional or sparse type", vp->name);
		EML_BAIL(EML_ERR_ONNX_DTYPE);
	}
	tt = vp->type->tensor_type;
	if (tt->has_elem_type) {
		if (tt->elem_type != 0 && tt->elem_type != EML_DT_STRING &&
		    !eml_onnx_dtype_storable(tt->elem_type)) {
			eml_err_set_detail("value %s: data type %d", vp->name, tt->elem_type);
			EML_BAIL(EML_ERR_ONNX_DTYPE);
		}
		v->dtype = (enum eml_dtype)tt->elem_type;
	}
	if (tt->shape == NULL)
		return EML_OK;
	if (tt->shape->n_dim > EML_MAX_RANK) {
		eml_err_set_detail("value %s: rank %zu above %d", vp->name, tt->shape->n_dim,
		    EML_MAX_RANK);
		EML_BAIL(EML_ERR_ONNX_DIMS);
	}
	v->rank = (int)tt->shape->n_dim;
	for (size_t i = 0; i < tt->shape->n_dim; i++) {
		const Emlonnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
		v->dims[i].value = -1;
		if (d->value_case == EMLONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE) {
			if (d->dim_value < 0 || d->dim_value > EML_ONNX_MAX_DIM) {
				eml_err_set_detail("value %s: dimension %zu is %lld", vp->name, i,
				    (long long)d->dim_value);
				EML_BAIL(EML_ERR_ONNX_DIMS);
			}
			v->dims[i].value = d->dim_value;
		} else if (d->value_case ==
		    EMLONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM) {
			EML_GUARD(eml_onnx_check_name(d->dim_param, true, "dim_param"));
			EML_GUARD(dup_str(r, d->dim_param, &v->dims[i].symbol));
		}
	}
	return EML_OK;
}

static eml_err
conv_value_infos(struct eml_region *r, Emlonnx__ValueInfoProto **vp, size_t n,
    struct eml_value_info **out, size_t *nout, const bool *skip)
{
	size_t k = 0;

	*out = NULL;
	*nout = 0;
	EML_ENSURE(n <= EML_ONNX_MAX_NODES, EML_ERR_ONNX_LIMIT);
	if (n == 0)
		return EML_OK;
	*out = eml_region_calloc(r, n, sizeof(**out));
	EML_ENSURE(*out != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < n; i++) {
		if (skip != NULL && skip[i])
			continue;
		*nout = k + 1;
		EML_GUARD(conv_value_info(r, vp[i], &(*out)[k]));
		k++;
	}
	*nout = k;
	return EML_OK;
}

/* Where a graph sits: its opset (a subgraph's is its holder's), how
 * deeply it is nested, and the root graph's region (subgraphs too). */
struct scope {
	int64_t opset;
	int depth;
	struct eml_region *r;
};

static eml_err build_body(const Emlonnx__GraphProto *gp, struct eml_graph *g,
    const struct scope *sc);

static eml_err
conv_subgraph(const Emlonnx__AttributeProto *ap, struct eml_attr *a, const char *node,
    const struct scope *sc)
{
	struct scope inner = { sc->opset, sc->depth + 1, sc->r };

	if (ap->g == NULL) {
		eml_err_set_detail("node %s: attribute %s: no graph", node, ap->name);
		EML_BAIL(EML_ERR_ONNX_ATTR);
	}
	if (inner.depth > EML_GRAPH_MAX_DEPTH) {
		eml_err_set_detail("node %s: subgraphs nested deeper than %d", node,
		    EML_GRAPH_MAX_DEPTH);
		EML_BAIL(EML_ERR_ONNX_LIMIT);
	}
	a->g = eml_region_calloc(sc->r, 1, sizeof(*a->g)); /* its region: the root's */
	EML_ENSURE(a->g != NULL, EML_ERR_NOMEM);
	a->g->opset = sc->opset;
	return build_body(ap->g, a->g, &inner);
}

static eml_err
conv_attr(const Emlonnx__AttributeProto *ap, struct eml_attr *a, const char *node,
    const struct scope *sc)
{
	int32_t type;

	EML_GUARD(eml_onnx_check_name(ap->name, false, "attribute"));
	EML_GUARD(dup_str(sc->r, ap->name, &a->name));
	if (ap->ref_attr_name != NULL && ap->ref_attr_name[0] != '\0') {
		eml_err_set_detail("node %s: attribute %s references a function attribute", node,
		    ap->name);
		EML_BAIL(EML_ERR_ONNX_ATTR);
	}
	type = ap->has_type ? ap->type : 0;
	if (type == 0) {
		/* IR < 0.0.2 files omit the type: infer it from the field set. */
		if (ap->n_floats)
			type = EML_ATTR_FLOATS;
		else if (ap->n_ints)
			type = EML_ATTR_INTS;
		else if (ap->n_strings)
			type = EML_ATTR_STRINGS;
		else if (ap->t != NULL)
			type = EML_ATTR_TENSOR;
		else if (ap->g != NULL)
			type = EML_ATTR_GRAPH;
		else if (ap->has_s)
			type = EML_ATTR_STRING;
		else if (ap->has_i)
			type = EML_ATTR_INT;
		else if (ap->has_f)
			type = EML_ATTR_FLOAT;
	}
	switch (type) {
	case EML_ATTR_FLOAT:
		a->f = ap->f;
		break;
	case EML_ATTR_INT:
		a->i = ap->i;
		break;
	case EML_ATTR_STRING:
		if (ap->s.len > EML_ONNX_MAX_NAME || (ap->s.len > 0 && memchr(ap->s.data, 0,
		    ap->s.len) != NULL)) {
			eml_err_set_detail("node %s: attribute %s: bad string", node, ap->name);
			EML_BAIL(EML_ERR_ONNX_ATTR);
		}
		a->s = eml_region_calloc(sc->r, 1, ap->s.len + 1);
		EML_ENSURE(a->s != NULL, EML_ERR_NOMEM);
		EML_MEMCPY(a->s, ap->s.data, ap->s.len);
		a->s_len = ap->s.len;
		break;
	case EML_ATTR_TENSOR: {
		char what[EML_ONNX_MAX_NAME + 64];
		if (ap->t == NULL) {
			eml_err_set_detail("node %s: attribute %s: no tensor", node, ap->name);
			EML_BAIL(EML_ERR_ONNX_ATTR);
		}
		a->t = eml_region_calloc(sc->r, 1, sizeof(*a->t));
		EML_ENSURE(a->t != NULL, EML_ERR_NOMEM);
		(void)snprintf(what, sizeof(what), "node %s: attribute %s", node, ap->name);
		EML_GUARD(eml_onnx_tensor_from_proto_in(ap->t, a->t, what, sc->r));
		break;
	}
	case EML_ATTR_FLOATS:
		EML_ENSURE(ap->n_floats <= EML_ONNX_MAX_ATTR_ITEMS, EML_ERR_ONNX_LIMIT);
		a->n = ap->n_floats;
		a->floats = eml_region_calloc(sc->r, a->n + 1, sizeof(float));
		EML_ENSURE(a->floats != NULL, EML_ERR_NOMEM);
		EML_MEMCPY(a->floats, ap->floats, a->n * sizeof(float));
		break;
	case EML_ATTR_INTS:
		EML_ENSURE(ap->n_ints <= EML_ONNX_MAX_ATTR_ITEMS, EML_ERR_ONNX_LIMIT);
		a->n = ap->n_ints;
		a->ints = eml_region_calloc(sc->r, a->n + 1, sizeof(int64_t));
		EML_ENSURE(a->ints != NULL, EML_ERR_NOMEM);
		EML_MEMCPY(a->ints, ap->ints, a->n * sizeof(int64_t));
		break;
	case EML_ATTR_STRINGS:
		EML_ENSURE(ap->n_strings <= EML_ONNX_MAX_ATTR_ITEMS, EML_ERR_ONNX_LIMIT);
		a->strings = eml_region_calloc(sc->r, ap->n_strings + 1, sizeof(char *));
		EML_ENSURE(a->strings != NULL, EML_ERR_NOMEM);
		for (size_t i = 0; i < ap->n_strings; i++) {
			const ProtobufCBinaryData *b = &ap->strings[i];
			if (b->len > EML_ONNX_MAX_NAME ||
			    (b->len > 0 && memchr(b->data, 0, b->len) != NULL)) {
				eml_err_set_detail("node %s: attribute %s: bad string", node,
				    ap->name);
				EML_BAIL(EML_ERR_ONNX_ATTR);
			}
			a->strings[i] = eml_region_calloc(sc->r, 1, b->len + 1);
			EML_ENSURE(a->strings[i] != NULL, EML_ERR_NOMEM);
			a->n = i + 1;
			EML_MEMCPY(a->strings[i], b->data, b->len);
		}
		a->n = ap->n_strings;
		break;
	case EML_ATTR_GRAPH:
		EML_GUARD(conv_subgraph(ap, a, node, sc));
		break;
	default:
		/* Sparse tensors, type protos, lists of tensors or graphs: the
		 * operators using them are unsupported; keep the name only. */
		type = EML_ATTR_UNDEFINED;
		break;
	}
	a->type = (enum eml_attr_type)type;
	return EML_OK;
}

static eml_err
conv_node(const Emlonnx__NodeProto *np, struct eml_node *n, size_t idx, const struct scope *sc)
{
	char genname[64];
	const char *nm;

	EML_GUARD(eml_onnx_check_name(np->op_type, false, "node op_type"));
	EML_GUARD(eml_onnx_check_name(np->name, true, "node"));
	EML_GUARD(eml_onnx_check_name(np->domain, true, "node domain"));
	if (np->n_input > EML_ONNX_MAX_NODE_IO || np->n_output > EML_ONNX_MAX_NODE_IO ||
	    np->n_attribute > EML_ONNX_MAX_ATTRS) {
		eml_err_set_detail("node %zu: too many inputs, outputs or attributes", idx);
		EML_BAIL(EML_ERR_ONNX_LIMIT);
	}
	/* Unnamed nodes get "<op>_<index>" so that errors can name them. */
	if (np->name == NULL || np->name[0] == '\0') {
		(void)snprintf(genname, sizeof(genname), "%.40s_%zu", np->op_type, idx);
		nm = genname;
	} else {
		nm = np->name;
	}
	EML_GUARD(dup_str(sc->r, nm, &n->name));
	EML_GUARD(dup_str(sc->r, np->op_type, &n->op_type));
	EML_GUARD(dup_str(sc->r, np->domain, &n->domain));
	n->inputs = eml_region_calloc(sc->r, np->n_input + 1, sizeof(char *));
	n->outputs = eml_region_calloc(sc->r, np->n_output + 1, sizeof(char *));
	n->attrs = eml_region_calloc(sc->r, np->n_attribute + 1, sizeof(*n->attrs));
	EML_ENSURE(n->inputs != NULL && n->outputs != NULL && n->attrs != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < np->n_input; i++) {
		EML_GUARD(eml_onnx_check_name(np->input[i], true, n->name));
		n->n_inputs = i + 1;
		EML_GUARD(dup_str(sc->r, np->input[i], &n->inputs[i]));
	}
	for (size_t i = 0; i < np->n_output; i++) {
		EML_GUARD(eml_onnx_check_name(np->output[i], true, n->name));
		n->n_outputs = i + 1;
		EML_GUARD(dup_str(sc->r, np->output[i], &n->outputs[i]));
	}
	for (size_t i = 0; i < np->n_attribute; i++) {
		n->n_attrs = i + 1;
		EML_GUARD(conv_attr(np->attribute[i], &n->attrs[i], n->name, sc));
		for (size_t j = 0; j < i; j++)
			if (strcmp(n->attrs[j].name, n->attrs[i].name) == 0) {
				eml_err_set_detail("node %s: attribute %s twice", n->name,
				    n->attrs[i].name);
				EML_BAIL(EML_ERR_ONNX_ATTR);
			}
	}
	return EML_OK;
}

static bool
is_default_domain(const char *d)
{
	return d == NULL || d[0] == '\0' || strcmp(d, "ai.onnx") == 0;
}

/* A Constant node whose `value` is a tensor above the inline limit. */
static bool
is_big_constant(const struct eml_node *n)
{
	size_t numel = 0;

	if (strcmp(n->op_type, "Constant") != 0 || !is_default_domain(n->domain) ||
	    n->n_attrs != 1 || n->n_outputs != 1 || n->n_inputs != 0 ||
	    n->outputs[0][0] == '\0')
		return false;
	if (strcmp(n->attrs[0].name, "value") != 0 || n->attrs[0].type != EML_ATTR_TENSOR)
		return false;
	if (eml_tensor_numel(n->attrs[0].t, &numel) != EML_OK)
		return false;
	return numel > EML_ONNX_CONST_INLINE_MAX;
}

/*
 * Move big Constant values into initializers (named after the node's
 * output) and drop those nodes. The initializer array was sized for it.
 * In the region nothing is freed: the initializer takes the node's output
 * name, and the dropped node holds nothing else of its own (one attribute,
 * whose tensor moved).
 */
static eml_err
hoist_constants(struct eml_graph *g)
{
	size_t k = 0;

	for (size_t i = 0; i < g->n_nodes; i++) {
		struct eml_node *n = &g->nodes[i];
		if (is_big_constant(n)) {
			struct eml_tensor *dst = &g->initializers[g->n_initializers];

			*dst = *n->attrs[0].t;
			dst->name = n->outputs[0];
			memset(n->attrs[0].t, 0, sizeof(*n->attrs[0].t)); /* transferred */
			g->n_initializers++;
			continue;
		}
		if (k != i)
			g->nodes[k] = g->nodes[i];
		k++;
	}
	for (size_t i = k; i < g->n_nodes; i++)
		memset(&g->nodes[i], 0, sizeof(g->nodes[i]));
	g->n_nodes = k;
	return EML_OK;
}

#define TOPO_SRC ((size_t)-1) /* defined by an input or an initializer */

/* The sort's working arrays, freed by topo_work_free. */
struct topo_work {
	struct eml_names defs; /* tensor name -> producing node, or TOPO_SRC */
	size_t *indeg;         /* per node: inputs from other nodes */
	size_t *edge_start;    /* per producer: first edge (CSR), nn + 1 entries */
	size_t *edges;         /* consumers, grouped by producer */
	size_t *queue;
	size_t *order;
};

static void
topo_work_free(struct topo_work *w)
{
	eml_names_free(&w->defs);
	eml_free(w->indeg);
	eml_free(w->edge_start);
	eml_free(w->order);
	eml_free(w->queue);
	eml_free(w->edges);
}

/* Every defined name once: initializers and inputs (TOPO_SRC), then node
 * outputs (their node). */
static eml_err
topo_define(const struct eml_graph *g, struct eml_names *defs)
{
	size_t total;

	EML_ENSURE(!eml_add_overflow(g->n_inputs, g->n_initializers, &total), EML_ERR_OVERFLOW);
	for (size_t i = 0; i < g->n_nodes; i++)
		EML_ENSURE(!eml_add_overflow(total, g->nodes[i].n_outputs, &total),
		    EML_ERR_OVERFLOW);
	EML_GUARD(eml_names_init(defs, total));
	for (size_t i = 0; i < g->n_initializers; i++)
		if (eml_names_put(defs, g->initializers[i].name, TOPO_SRC, NULL) != EML_OK) {
			eml_err_set_detail("initializer %s defined twice", g->initializers[i].name);
			EML_BAIL(EML_ERR_ONNX_GRAPH);
		}
	for (size_t i = 0; i < g->n_inputs; i++)
		if (eml_names_put(defs, g->inputs[i].name, TOPO_SRC, NULL) != EML_OK) {
			eml_err_set_detail("input %s defined twice", g->inputs[i].name);
			EML_BAIL(EML_ERR_ONNX_GRAPH);
		}
	for (size_t i = 0; i < g->n_nodes; i++)
		for (size_t j = 0; j < g->nodes[i].n_outputs; j++) {
			const char *o = g->nodes[i].outputs[j];

			if (o[0] != '\0' && eml_names_put(defs, o, i, NULL) != EML_OK) {
				eml_err_set_detail("node %s: output %s is defined twice",
				    g->nodes[i].name, o);
				EML_BAIL(EML_ERR_ONNX_GRAPH);
			}
		}
	return EML_OK;
}

/* One dependency of node i on a name: counted (w->edges NULL) or filled. A
 * name a subgraph (outer_ok) does not define is an outer-scope value, left
 * to the validator. */
struct dep_ctx {
	const struct eml_graph *g;
	struct topo_work *w;
	size_t i;
	bool outer_ok;
};

static eml_err
dep_add(const char *in, void *arg)
{
	struct dep_ctx *d = arg;
	size_t p;

	if (in[0] == '\0')
		return EML_OK;
	if (!eml_names_get(&d->w->defs, in, &p)) {
		if (d->outer_ok)
			return EML_OK;
		eml_err_set_detail("node %s: input %s is not defined", d->g->nodes[d->i].name, in);
		EML_BAIL(EML_ERR_ONNX_GRAPH);
	}
	if (p == TOPO_SRC)
		return EML_OK;
	if (d->w->edges != NULL) {
		d->w->edges[d->w->queue[p]++] = d->i;
		return EML_OK;
	}
	d->w->edge_start[p + 1]++;
	d->w->indeg[d->i]++;
	return EML_OK;
}

/* Node i's inputs, then the outer values its subgraphs read: both must be
 * computed before it runs. */
static eml_err
node_deps(struct dep_ctx *d)
{
	const struct eml_node *n = &d->g->nodes[d->i];

	for (size_t j = 0; j < n->n_inputs; j++)
		EML_GUARD(dep_add(n->inputs[j], d));
	if (!eml_node_has_subgraph(n))
		return EML_OK;
	return eml_node_captures(n, dep_add, d);
}

/* Producer -> consumer edges (one per input reference) in CSR form; every
 * non-empty input must be defined (in a subgraph: or be an outer value). */
static eml_err
topo_edges(const struct eml_graph *g, struct topo_work *w, bool outer_ok)
{
	size_t nn = g->n_nodes, n_edges;
	struct dep_ctx d = { g, w, 0, outer_ok };

	for (d.i = 0; d.i < nn; d.i++)
		EML_GUARD(node_deps(&d));
	for (size_t i = 0; i < nn; i++)
		w->edge_start[i + 1] += w->edge_start[i];
	n_edges = w->edge_start[nn];
	w->edges = eml_calloc(n_edges + 1, sizeof(size_t));
	EML_ENSURE(w->edges != NULL, EML_ERR_NOMEM);
	/* The queue, unused yet, is each producer's fill cursor. */
	for (size_t i = 0; i < nn; i++)
		w->queue[i] = w->edge_start[i];
	for (d.i = 0; d.i < nn; d.i++)
		EML_GUARD(node_deps(&d));
	return EML_OK;
}

/* Kahn's order into w->order; what remains unsorted is a cycle. */
static eml_err
topo_kahn(const struct eml_graph *g, struct topo_work *w)
{
	size_t nn = g->n_nodes, qh = 0, qt = 0, k = 0;

	for (size_t i = 0; i < nn; i++)
		if (w->indeg[i] == 0)
			w->queue[qt++] = i;
	while (qh < qt) {
		size_t u = w->queue[qh++];

		w->order[k++] = u;
		for (size_t e = w->edge_start[u]; e < w->edge_start[u + 1]; e++)
			if (--w->indeg[w->edges[e]] == 0)
				w->queue[qt++] = w->edges[e];
	}
	if (k == nn)
		return EML_OK;
	for (size_t i = 0; i < nn; i++)
		if (w->indeg[i] != 0) {
			eml_err_set_detail("cycle through node %s", g->nodes[i].name);
			break;
		}
	EML_BAIL(EML_ERR_ONNX_GRAPH);
}

/* Nodes rearranged into order (the scratch copy wiped). */
static eml_err
topo_apply(struct eml_graph *g, const size_t *order)
{
	size_t nn = g->n_nodes;
	struct eml_node *sorted;

	if (nn == 0)
		return EML_OK;
	sorted = eml_calloc(nn, sizeof(*sorted));
	EML_ENSURE(sorted != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < nn; i++)
		sorted[i] = g->nodes[order[i]];
	EML_MEMCPY(g->nodes, sorted, nn * sizeof(*sorted));
	eml_free_wipe(sorted, nn * sizeof(*sorted));
	return EML_OK;
}

/*
 * Kahn's algorithm over tensor names. Defined names: graph inputs,
 * initializers and node outputs, each defined once. Every non-empty node
 * input must be defined; what remains unsorted is a cycle; every graph
 * output must be defined.
 */
static eml_err
topo_sort(struct eml_graph *g, bool outer_ok)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct topo_work w;
	size_t nn = g->n_nodes;

	memset(&w, 0, sizeof(w));
	if ((rc = topo_define(g, &w.defs)) != EML_OK)
		goto out;
	w.indeg = eml_calloc(nn + 1, sizeof(size_t));
	w.edge_start = eml_calloc(nn + 2, sizeof(size_t));
	w.order = eml_calloc(nn + 1, sizeof(size_t));
	w.queue = eml_calloc(nn + 1, sizeof(size_t));
	if (w.indeg == NULL || w.edge_start == NULL || w.order == NULL || w.queue == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = topo_edges(g, &w, outer_ok)) != EML_OK || (rc = topo_kahn(g, &w)) != EML_OK)
		goto out;
	for (size_t i = 0; i < g->n_outputs && !outer_ok; i++)
		if (!eml_names_get(&w.defs, g->outputs[i].name, NULL)) {
			eml_err_set_detail("graph output %s is not defined", g->outputs[i].name);
			EML_FAIL(rc, EML_ERR_ONNX_GRAPH);
		}
	rc = topo_apply(g, w.order);
out:
	topo_work_free(&w);
	return rc;
}

static eml_err
build_graph(const Emlonnx__ModelProto *mp, struct eml_graph *g)
{
	struct scope sc = { 0, 0, g->region };

	g->opset = -1;
	for (size_t i = 0; i < mp->n_opset_import; i++) {
		const Emlonnx__OperatorSetIdProto *o = mp->opset_import[i];
		if (is_default_domain(o->domain) && o->has_version)
			g->opset = o->version;
	}
	/* IR version 1-2 files predate opset_import and mean opset 1. */
	if (g->opset < 0 && mp->n_opset_import == 0 && mp->has_ir_version && mp->ir_version < 3)
		g->opset = 1;
	if (g->opset < 1 || g->opset > 1000) {
		eml_err_set_detail("default-domain opset %lld", (long long)g->opset);
		EML_BAIL(EML_ERR_ONNX_OPSET);
	}
	sc.opset = g->opset;
	return build_body(mp->graph, g, &sc);
}

/* A graph or subgraph: nodes, initializers, values; sorted. */
static eml_err
build_body(const Emlonnx__GraphProto *gp, struct eml_graph *g, const struct scope *sc)
{
	bool *is_init = NULL;
	size_t n_big = 0;
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_names inits = { 0 };

	if (gp->n_node > EML_ONNX_MAX_NODES || gp->n_initializer > EML_ONNX_MAX_INITIALIZERS) {
		eml_err_set_detail("%zu nodes, %zu initializers", gp->n_node, gp->n_initializer);
		EML_FAIL(rc, EML_ERR_ONNX_LIMIT);
	}
	if ((rc = eml_onnx_check_name(gp->name, true, "graph")) != EML_OK)
		goto out;
	if ((rc = dup_str(sc->r, gp->name, &g->name)) != EML_OK)
		goto out;

	if (gp->n_node > 0) {
		g->nodes = eml_region_calloc(sc->r, gp->n_node, sizeof(*g->nodes));
		if (g->nodes == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
	}
	for (size_t i = 0; i < gp->n_node; i++) {
		g->n_nodes = i + 1;
		if ((rc = conv_node(gp->node[i], &g->nodes[i], i, sc)) != EML_OK)
			goto out;
		if (is_big_constant(&g->nodes[i]))
			n_big++;
	}

	g->initializers = eml_region_calloc(sc->r, gp->n_initializer + n_big + 1,
	    sizeof(*g->initializers));
	if (g->initializers == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = eml_names_init(&inits, gp->n_initializer)) != EML_OK)
		goto out;
	for (size_t i = 0; i < gp->n_initializer; i++) {
		const Emlonnx__TensorProto *tp = gp->initializer[i];
		if ((rc = eml_onnx_check_name(tp->name, false, "initializer")) != EML_OK)
			goto out;
		g->n_initializers = i + 1;
		if ((rc = eml_onnx_tensor_from_proto_in(tp, &g->initializers[i], tp->name, sc->r)) !=
		    EML_OK)
			goto out;
		if (eml_names_put(&inits, g->initializers[i].name, i, NULL) != EML_OK) {
			eml_err_set_detail("initializer %s defined twice", tp->name);
			EML_FAIL(rc, EML_ERR_ONNX_GRAPH);
		}
	}
	/* IR < 4 lists initializers among the graph inputs too: those are
	 * weights, not model inputs. */
	is_init = eml_calloc(gp->n_input + 1, sizeof(bool));
	if (is_init == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	for (size_t i = 0; i < gp->n_input; i++)
		is_init[i] = gp->input[i]->name != NULL &&
		    eml_names_get(&inits, gp->input[i]->name, NULL);
	if ((rc = conv_value_infos(sc->r, gp->input, gp->n_input, &g->inputs, &g->n_inputs,
	    is_init)) != EML_OK)
		goto out;
	if ((rc = conv_value_infos(sc->r, gp->output, gp->n_output, &g->outputs, &g->n_outputs,
	    NULL)) != EML_OK)
		goto out;
	if ((rc = conv_value_infos(sc->r, gp->value_info, gp->n_value_info, &g->value_infos,
	    &g->n_value_infos, NULL)) != EML_OK)
		goto out;
	if ((rc = hoist_constants(g)) != EML_OK)
		goto out;
	if ((rc = topo_sort(g, sc->depth > 0)) != EML_OK)
		goto out;
	rc = EML_OK;
out:
	eml_names_free(&inits);
	eml_free(is_init);
	return rc;
}

eml_err
eml_onnx_import(const uint8_t *bytes, size_t len, struct eml_graph **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Emlonnx__ModelProto *mp = NULL;
	struct eml_graph *g = NULL;
	struct eml_onnx_pb_arena arena;
	ProtobufCAllocator al;
	struct eml_region *r = NULL;

	EML_ENSURE(out != NULL && (bytes != NULL || len == 0), EML_ERR_NULL);
	*out = NULL;
	if (eml_onnx_pb_arena_init(&arena, &al, len) != EML_OK)
		EML_FAIL(rc, EML_ERR_NOMEM); /* release takes the NULL region */
	if (len > EML_ONNX_MAX_BYTES) {
		eml_err_set_detail("%zu bytes, limit %zu", len, EML_ONNX_MAX_BYTES);
		EML_FAIL(rc, EML_ERR_ONNX_TOO_LARGE);
	}
	mp = emlonnx__model_proto__unpack(&al, len, bytes);
	if (mp == NULL) {
		eml_err_set_detail("ModelProto does not decode");
		EML_FAIL(rc, EML_ERR_ONNX_DECODE);
	}
	if (mp->graph == NULL) {
		eml_err_set_detail("model has no graph");
		EML_FAIL(rc, EML_ERR_ONNX_DECODE);
	}
	/* the graph's structs and strings take about as much as the message's
	 * small values: a fifth of the file, capped */
	if ((r = eml_region_new(len / 4)) == NULL ||
	    (g = eml_region_calloc(r, 1, sizeof(*g))) == NULL) {
		eml_region_free(r);
		EML_FAIL(rc, EML_ERR_NOMEM);
	}
	g->region = r; /* from here the graph owns the region */
	if ((rc = build_graph(mp, g)) != EML_OK)
		goto out;
	*out = g;
	g = NULL; /* transferred */
	rc = EML_OK;
out:
	if (mp != NULL)
		emlonnx__model_proto__free_unpacked(mp, &al);
	eml_onnx_pb_arena_release(&arena);
	eml_graph_free(g);
	return rc;
}

eml_err
eml_onnx_import_file(const char *path, struct eml_graph **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	uint8_t *bytes = NULL;
	size_t len = 0;
	/* With an arena in use, the file is read into it: locked huge pages,
	 * and once freed its bytes hold the plan's weights and activations
	 * instead of as much fresh memory (issue 16). */
	unsigned flags = eml_arena_current() != NULL ? EML_FILE_SECRET : 0;

	rc = eml_file_read(path, EML_ONNX_MAX_BYTES, flags, &bytes, &len);
	if (rc == EML_ERR_FILE_TOO_LARGE)
		rc = EML_ERR_ONNX_TOO_LARGE;
	if (rc != EML_OK)
		goto out;
	rc = eml_onnx_import(bytes, len, out);
out:
	eml_file_free(bytes, len, flags);
	return rc;
}
