#include "eml_test_graph.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eml_mem.h"
#include "eml_test.h"

static char *
xstrdup(const char *s)
{
	char *d = eml_strdup(s);

	assert_non_null(d);
	return d;
}

static void
tensor_make(struct eml_tensor *t, const char *name, enum eml_dtype dt, int rank,
    const int64_t *dims, uint64_t *rng)
{
	size_t n = eml_dtype_size(dt);

	memset(t, 0, sizeof(*t));
	t->name = xstrdup(name);
	t->dtype = dt;
	t->rank = rank;
	for (int i = 0; i < rank; i++) {
		t->dims[i] = dims[i];
		n *= (size_t)dims[i];
	}
	t->nbytes = n;
	if (n == 0)
		return;
	t->data = eml_secure_alloc(n);
	assert_non_null(t->data);
	t->owned = true;
	if (dt == EML_DT_FLOAT) {
		/* finite values in [-1, 1) so arithmetic tests stay tame */
		float *f = t->data;

		for (size_t i = 0; i < n / 4; i++)
			f[i] = (float)((double)(eml_test_rand(rng) >> 11) / 4503599627370496.0 - 1.0);
	} else {
		eml_test_fill(rng, t->data, n);
	}
}

static char **
strv(size_t n, const char *const *s)
{
	char **v = eml_calloc(n, sizeof(char *));

	assert_non_null(v);
	for (size_t i = 0; i < n; i++)
		v[i] = xstrdup(s[i]);
	return v;
}

static void
node_make(struct eml_node *nd, const char *name, const char *op, size_t n_in,
    const char *const *in, size_t n_out, const char *const *out, size_t n_attrs)
{
	memset(nd, 0, sizeof(*nd));
	nd->name = xstrdup(name);
	nd->op_type = xstrdup(op);
	nd->domain = xstrdup("");
	nd->inputs = n_in ? strv(n_in, in) : NULL;
	nd->n_inputs = n_in;
	nd->outputs = strv(n_out, out);
	nd->n_outputs = n_out;
	if (n_attrs > 0) {
		nd->attrs = eml_calloc(n_attrs, sizeof(*nd->attrs));
		assert_non_null(nd->attrs);
		nd->n_attrs = n_attrs;
	}
}

static void
vinfo(struct eml_value_info *v, const char *name, enum eml_dtype dt, int rank,
    const int64_t *dims, const char *sym0)
{
	memset(v, 0, sizeof(*v));
	v->name = xstrdup(name);
	v->dtype = dt;
	v->rank = rank;
	for (int i = 0; i < rank; i++)
		v->dims[i].value = dims[i];
	if (sym0 != NULL && rank > 0) {
		v->dims[0].value = -1;
		v->dims[0].symbol = xstrdup(sym0);
	}
}

static void
const_attr(struct eml_attr *a, struct eml_tensor *t)
{
	a->name = xstrdup("value");
	a->type = EML_ATTR_TENSOR;
	a->t = eml_calloc(1, sizeof(*a->t));
	assert_non_null(a->t);
	*a->t = *t;
}

struct eml_graph *
eml_test_graph_synth(uint64_t *rng, size_t n_init, size_t max_elems)
{
	struct eml_graph *g = eml_graph_new();
	static const enum eml_dtype dts[] = { EML_DT_FLOAT, EML_DT_INT8, EML_DT_FLOAT16,
		EML_DT_INT64, EML_DT_DOUBLE, EML_DT_UINT8, EML_DT_INT32 };
	struct eml_tensor t;
	char name[64];

	assert_non_null(g);
	g->name = xstrdup("synth");
	g->opset = 13;
	g->initializers = eml_calloc(n_init, sizeof(*g->initializers));
	assert_non_null(g->initializers);
	g->n_initializers = n_init;
	for (size_t i = 0; i < n_init; i++) {
		int64_t dims[3];
		int rank = 1 + (int)(eml_test_rand(rng) % 3);
		size_t left = max_elems;

		for (int d = 0; d < rank; d++) {
			dims[d] = 1 + (int64_t)(eml_test_rand(rng) % (left > 1 ? left : 1));
			left = left / (size_t)dims[d];
			if (left == 0)
				left = 1;
		}
		(void)snprintf(name, sizeof(name), "w%zu", i);
		tensor_make(&g->initializers[i], name, dts[i % (sizeof(dts) / sizeof(dts[0]))], rank,
		    dims, rng);
	}
	g->nodes = eml_calloc(3, sizeof(*g->nodes));
	assert_non_null(g->nodes);
	g->n_nodes = 3;
	{
		static const char *const out0[] = { "big_const" };
		static const int64_t d[] = { 7, 33 };

		node_make(&g->nodes[0], "const_big", "Constant", 0, NULL, 1, out0, 1);
		tensor_make(&t, "big_const_value", EML_DT_FLOAT, 2, d, rng);
		const_attr(&g->nodes[0].attrs[0], &t);
	}
	{
		static const char *const out1[] = { "shape" };
		static const int64_t d[] = { 3 };
		int64_t *v;

		node_make(&g->nodes[1], "const_shape", "Constant", 0, NULL, 1, out1, 1);
		tensor_make(&t, "", EML_DT_INT64, 1, d, rng);
		v = t.data;
		v[0] = 1;
		v[1] = -1;
		v[2] = 42;
		const_attr(&g->nodes[1].attrs[0], &t);
	}
	{
		static const char *const in2[] = { "x", "w0", "", "big_const" };
		static const char *const out2[] = { "y", "aux" };
		static const char *const strs[] = { "alpha", "", "gamma" };
		struct eml_node *nd = &g->nodes[2];

		node_make(nd, "mix", "Custom", 4, in2, 2, out2, 6);
		nd->attrs[0].name = xstrdup("f");
		nd->attrs[0].type = EML_ATTR_FLOAT;
		nd->attrs[0].f = -0.375f;
		nd->attrs[1].name = xstrdup("i");
		nd->attrs[1].type = EML_ATTR_INT;
		nd->attrs[1].i = -123456789012LL;
		nd->attrs[2].name = xstrdup("s");
		nd->attrs[2].type = EML_ATTR_STRING;
		nd->attrs[2].s = xstrdup("NOTSET");
		nd->attrs[2].s_len = 6;
		nd->attrs[3].name = xstrdup("fs");
		nd->attrs[3].type = EML_ATTR_FLOATS;
		nd->attrs[3].floats = eml_calloc(2, sizeof(float));
		assert_non_null(nd->attrs[3].floats);
		nd->attrs[3].floats[0] = 1.5f;
		nd->attrs[3].floats[1] = -2.25f;
		nd->attrs[3].n = 2;
		nd->attrs[4].name = xstrdup("is");
		nd->attrs[4].type = EML_ATTR_INTS;
		nd->attrs[4].ints = eml_calloc(3, sizeof(int64_t));
		assert_non_null(nd->attrs[4].ints);
		nd->attrs[4].ints[0] = 3;
		nd->attrs[4].ints[2] = -9;
		nd->attrs[4].n = 3;
		nd->attrs[5].name = xstrdup("ss");
		nd->attrs[5].type = EML_ATTR_STRINGS;
		nd->attrs[5].strings = strv(3, strs);
		nd->attrs[5].n = 3;
	}
	{
		static const int64_t dx[] = { 0, 16 };
		static const int64_t dy[] = { 4, 5, 6 };

		g->inputs = eml_calloc(1, sizeof(*g->inputs));
		g->outputs = eml_calloc(2, sizeof(*g->outputs));
		g->value_infos = eml_calloc(1, sizeof(*g->value_infos));
		assert_non_null(g->inputs);
		assert_non_null(g->outputs);
		assert_non_null(g->value_infos);
		vinfo(&g->inputs[0], "x", EML_DT_FLOAT, 2, dx, "N");
		g->n_inputs = 1;
		vinfo(&g->outputs[0], "y", EML_DT_FLOAT, 3, dy, NULL);
		vinfo(&g->outputs[1], "aux", EML_DT_INT64, -1, NULL, NULL);
		g->n_outputs = 2;
		vinfo(&g->value_infos[0], "big_const", EML_DT_FLOAT, 0, NULL, NULL);
		g->n_value_infos = 1;
	}
	return g;
}

struct eml_graph *
eml_test_graph_mlp(uint64_t *rng, int64_t k, int64_t h, int64_t n)
{
	struct eml_graph *g = eml_graph_new();
	struct eml_tensor t;

	assert_non_null(g);
	g->name = xstrdup("mlp");
	g->opset = 13;
	g->initializers = eml_calloc(3, sizeof(*g->initializers));
	assert_non_null(g->initializers);
	g->n_initializers = 3;
	{
		int64_t d1[] = { k, h };
		int64_t db[] = { h };
		int64_t d2[] = { h, n };

		tensor_make(&g->initializers[0], "W1", EML_DT_FLOAT, 2, d1, rng);
		tensor_make(&g->initializers[1], "b1", EML_DT_FLOAT, 1, db, rng);
		tensor_make(&g->initializers[2], "W2", EML_DT_FLOAT, 2, d2, rng);
	}
	g->nodes = eml_calloc(6, sizeof(*g->nodes));
	assert_non_null(g->nodes);
	g->n_nodes = 6;
	{
		static const char *const o0[] = { "b2" };
		static const char *const i1[] = { "x", "W1" };
		static const char *const o1[] = { "h0" };
		static const char *const i2[] = { "h0", "b1" };
		static const char *const o2[] = { "h1" };
		static const char *const i3[] = { "h1" };
		static const char *const o3[] = { "h2" };
		static const char *const i4[] = { "h2", "W2" };
		static const char *const o4[] = { "h3" };
		static const char *const i5[] = { "h3", "b2" };
		static const char *const o5[] = { "y" };
		int64_t dn[] = { n };

		node_make(&g->nodes[0], "b2_const", "Constant", 0, NULL, 1, o0, 1);
		tensor_make(&t, "", EML_DT_FLOAT, 1, dn, rng);
		const_attr(&g->nodes[0].attrs[0], &t);
		node_make(&g->nodes[1], "mm1", "MatMul", 2, i1, 1, o1, 0);
		node_make(&g->nodes[2], "add1", "Add", 2, i2, 1, o2, 0);
		node_make(&g->nodes[3], "relu", "Relu", 1, i3, 1, o3, 0);
		node_make(&g->nodes[4], "mm2", "MatMul", 2, i4, 1, o4, 0);
		node_make(&g->nodes[5], "add2", "Add", 2, i5, 1, o5, 0);
	}
	{
		int64_t dx[] = { 1, k };
		int64_t dy[] = { 1, n };

		g->inputs = eml_calloc(1, sizeof(*g->inputs));
		g->outputs = eml_calloc(1, sizeof(*g->outputs));
		assert_non_null(g->inputs);
		assert_non_null(g->outputs);
		vinfo(&g->inputs[0], "x", EML_DT_FLOAT, 2, dx, NULL);
		g->n_inputs = 1;
		vinfo(&g->outputs[0], "y", EML_DT_FLOAT, 2, dy, NULL);
		g->n_outputs = 1;
	}
	return g;
}

static void
str_equal(const char *a, const char *b)
{
	/* NULL and "" are the same absent name */
	assert_string_equal(a != NULL ? a : "", b != NULL ? b : "");
}

static void
tensor_equal(const struct eml_tensor *a, const struct eml_tensor *b)
{
	str_equal(a->name, b->name);
	assert_int_equal(a->dtype, b->dtype);
	assert_int_equal(a->rank, b->rank);
	for (int i = 0; i < a->rank; i++)
		assert_int_equal(a->dims[i], b->dims[i]);
	assert_int_equal(a->nbytes, b->nbytes);
	if (a->nbytes > 0) {
		assert_non_null(a->data);
		assert_non_null(b->data);
		assert_memory_equal(a->data, b->data, a->nbytes);
	}
}

static void
vinfos_equal(const struct eml_value_info *a, const struct eml_value_info *b, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		str_equal(a[i].name, b[i].name);
		assert_int_equal(a[i].dtype, b[i].dtype);
		assert_int_equal(a[i].rank, b[i].rank);
		for (int d = 0; d < a[i].rank; d++) {
			assert_int_equal(a[i].dims[d].value, b[i].dims[d].value);
			str_equal(a[i].dims[d].symbol, b[i].dims[d].symbol);
		}
	}
}

static void
attr_equal(const struct eml_attr *a, const struct eml_attr *b)
{
	str_equal(a->name, b->name);
	assert_int_equal(a->type, b->type);
	switch (a->type) {
	case EML_ATTR_FLOAT:
		assert_memory_equal(&a->f, &b->f, sizeof(float));
		break;
	case EML_ATTR_INT:
		assert_int_equal(a->i, b->i);
		break;
	case EML_ATTR_STRING:
		assert_int_equal(a->s_len, b->s_len);
		assert_memory_equal(a->s, b->s, a->s_len);
		break;
	case EML_ATTR_TENSOR:
		tensor_equal(a->t, b->t);
		break;
	case EML_ATTR_FLOATS:
		assert_int_equal(a->n, b->n);
		assert_memory_equal(a->floats, b->floats, a->n * sizeof(float));
		break;
	case EML_ATTR_INTS:
		assert_int_equal(a->n, b->n);
		assert_memory_equal(a->ints, b->ints, a->n * sizeof(int64_t));
		break;
	case EML_ATTR_STRINGS:
		assert_int_equal(a->n, b->n);
		for (size_t i = 0; i < a->n; i++)
			str_equal(a->strings[i], b->strings[i]);
		break;
	case EML_ATTR_GRAPH:
		assert_non_null(a->g);
		assert_non_null(b->g);
		eml_test_graph_assert_equal(a->g, b->g);
		break;
	case EML_ATTR_UNDEFINED:
	default:
		fail_msg("unexpected attribute type %d", (int)a->type);
	}
}

void
eml_test_graph_assert_equal(const struct eml_graph *a, const struct eml_graph *b)
{
	str_equal(a->name, b->name);
	assert_int_equal(a->opset, b->opset);
	assert_int_equal(a->n_nodes, b->n_nodes);
	for (size_t i = 0; i < a->n_nodes; i++) {
		const struct eml_node *x = &a->nodes[i];
		const struct eml_node *y = &b->nodes[i];

		str_equal(x->name, y->name);
		str_equal(x->op_type, y->op_type);
		str_equal(x->domain, y->domain);
		assert_int_equal(x->n_inputs, y->n_inputs);
		for (size_t j = 0; j < x->n_inputs; j++)
			str_equal(x->inputs[j], y->inputs[j]);
		assert_int_equal(x->n_outputs, y->n_outputs);
		for (size_t j = 0; j < x->n_outputs; j++)
			str_equal(x->outputs[j], y->outputs[j]);
		assert_int_equal(x->n_attrs, y->n_attrs);
		for (size_t j = 0; j < x->n_attrs; j++)
			attr_equal(&x->attrs[j], &y->attrs[j]);
	}
	assert_int_equal(a->n_initializers, b->n_initializers);
	for (size_t i = 0; i < a->n_initializers; i++)
		tensor_equal(&a->initializers[i], &b->initializers[i]);
	assert_int_equal(a->n_inputs, b->n_inputs);
	vinfos_equal(a->inputs, b->inputs, a->n_inputs);
	assert_int_equal(a->n_outputs, b->n_outputs);
	vinfos_equal(a->outputs, b->outputs, a->n_outputs);
	assert_int_equal(a->n_value_infos, b->n_value_infos);
	vinfos_equal(a->value_infos, b->value_infos, a->n_value_infos);
}

void
eml_test_graph_each_tensor(const struct eml_graph *g,
    void (*fn)(const struct eml_tensor *t, void *arg), void *arg)
{
	for (size_t i = 0; i < g->n_initializers; i++)
		fn(&g->initializers[i], arg);
	for (size_t i = 0; i < g->n_nodes; i++)
		for (size_t j = 0; j < g->nodes[i].n_attrs; j++)
			if (g->nodes[i].attrs[j].type == EML_ATTR_TENSOR && g->nodes[i].attrs[j].t != NULL)
				fn(g->nodes[i].attrs[j].t, arg);
			else if (g->nodes[i].attrs[j].type == EML_ATTR_GRAPH &&
			    g->nodes[i].attrs[j].g != NULL)
				eml_test_graph_each_tensor(g->nodes[i].attrs[j].g, fn, arg);
}

/* A branch: `<pfx>o = op(x, <pfx>w)` with <pfx>w = {2, 3} an initializer
 * of the branch; or, with levels left, an If on c over two branches. */
static struct eml_graph *
if_branch(const char *pfx, const char *op, int levels)
{
	struct eml_graph *g = eml_graph_new();
	char w[32], o[32], t[32], e[32];
	int64_t d2[] = { 2 };

	assert_non_null(g);
	(void)snprintf(w, sizeof(w), "%sw", pfx);
	(void)snprintf(o, sizeof(o), "%so", pfx);
	(void)snprintf(t, sizeof(t), "%st", pfx);
	(void)snprintf(e, sizeof(e), "%se", pfx);
	g->name = xstrdup(pfx);
	g->opset = 13;
	g->nodes = eml_calloc(1, sizeof(*g->nodes));
	g->outputs = eml_calloc(1, sizeof(*g->outputs));
	assert_non_null(g->nodes);
	assert_non_null(g->outputs);
	g->n_nodes = 1;
	vinfo(&g->outputs[0], o, EML_DT_FLOAT, 1, d2, NULL);
	g->n_outputs = 1;
	if (levels > 0) {
		const char *in[] = { "c" }, *out[] = { o };

		node_make(&g->nodes[0], o, "If", 1, in, 1, out, 2);
		g->nodes[0].attrs[0].name = xstrdup("then_branch");
		g->nodes[0].attrs[0].type = EML_ATTR_GRAPH;
		g->nodes[0].attrs[0].g = if_branch(t, "Add", levels - 1);
		g->nodes[0].attrs[1].name = xstrdup("else_branch");
		g->nodes[0].attrs[1].type = EML_ATTR_GRAPH;
		g->nodes[0].attrs[1].g = if_branch(e, "Mul", 0);
		return g;
	}
	{
		const char *in[] = { "x", w }, *out[] = { o };
		uint64_t rng = 1;
		float *f;

		node_make(&g->nodes[0], o, op, 2, in, 1, out, 0);
		g->initializers = eml_calloc(1, sizeof(*g->initializers));
		assert_non_null(g->initializers);
		tensor_make(&g->initializers[0], w, EML_DT_FLOAT, 1, d2, &rng);
		g->n_initializers = 1;
		f = g->initializers[0].data;
		f[0] = 2.0f;
		f[1] = 3.0f;
	}
	return g;
}

struct eml_graph *
eml_test_graph_if(int depth)
{
	struct eml_graph *g = if_branch("", "Add", depth);
	int64_t d2[] = { 2 };

	eml_free_wipe(g->name, strlen(g->name));
	g->name = xstrdup("if");
	g->inputs = eml_calloc(2, sizeof(*g->inputs));
	assert_non_null(g->inputs);
	vinfo(&g->inputs[0], "c", EML_DT_BOOL, 0, NULL, NULL);
	vinfo(&g->inputs[1], "x", EML_DT_FLOAT, 1, d2, NULL);
	g->n_inputs = 2;
	return g;
}

static size_t
hash16(const uint8_t *p)
{
	uint64_t a;
	uint64_t b;

	memcpy(&a, p, 8);
	memcpy(&b, p + 8, 8);
	a ^= b * 0x9e3779b97f4a7c15ULL;
	a ^= a >> 29;
	a *= 0xbf58476d1ce4e5b9ULL;
	return (size_t)(a ^ (a >> 32));
}

void
eml_test_windows_init(struct eml_test_windows *w, size_t cap)
{
	size_t slots = 16;

	while (slots < 2 * cap + 1)
		slots *= 2;
	assert_true(cap < UINT32_MAX);
	w->keys = eml_alloc(cap * 16 + 1);
	w->slots = eml_calloc(slots, sizeof(uint32_t));
	assert_non_null(w->keys);
	assert_non_null(w->slots);
	w->n = 0;
	w->cap = cap;
	w->mask = slots - 1;
}

void
eml_test_windows_add(struct eml_test_windows *w, const uint8_t *p16)
{
	size_t h = hash16(p16) & w->mask;

	assert_true(w->n < w->cap);
	while (w->slots[h] != 0) {
		if (memcmp(w->keys + 16 * (w->slots[h] - 1), p16, 16) == 0)
			return;
		h = (h + 1) & w->mask;
	}
	memcpy(w->keys + 16 * w->n, p16, 16);
	w->slots[h] = (uint32_t)(++w->n);
}

void
eml_test_windows_of(struct eml_test_windows *w, const uint8_t *hay, size_t len)
{
	eml_test_windows_init(w, len >= 16 ? len - 15 : 0);
	for (size_t i = 0; i + 16 <= len; i++)
		eml_test_windows_add(w, hay + i);
}

bool
eml_test_windows_has(const struct eml_test_windows *w, const uint8_t *p16)
{
	size_t h = hash16(p16) & w->mask;

	while (w->slots[h] != 0) {
		if (memcmp(w->keys + 16 * (w->slots[h] - 1), p16, 16) == 0)
			return true;
		h = (h + 1) & w->mask;
	}
	return false;
}

void
eml_test_windows_free(struct eml_test_windows *w)
{
	eml_free(w->keys);
	eml_free(w->slots);
	memset(w, 0, sizeof(*w));
}
