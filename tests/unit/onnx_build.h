/*
 * Test helper: ONNX model bytes written field by field (protobuf wire
 * format, ONNX field numbers), so tests can build both valid models and
 * hostile ones (negative dims, wrong raw_data lengths, cycles...) that no
 * exporter would produce. Header-only; every function is static.
 */
#ifndef EML_TEST_ONNX_BUILD_H
#define EML_TEST_ONNX_BUILD_H

#include <stdint.h>
#include <string.h>

#include "eml_err.h"
#include "eml_mem.h"

#define PB_MAX (1 << 18)

struct pb {
	uint8_t b[PB_MAX];
	size_t n;
};

#define PB_UNUSED __attribute__((unused))

/* The scratch messages a test builds a model in (graph, model, node,
 * tensor, value info), large enough for PB_MAX bytes each; a suite's
 * cmocka setup/teardown allocates and frees them. */
static struct pb *G PB_UNUSED, *M PB_UNUSED, *N PB_UNUSED, *T PB_UNUSED, *V PB_UNUSED;

static PB_UNUSED int
setup(void **state)
{
	(void)state;
	G = eml_calloc(1, sizeof(*G));
	M = eml_calloc(1, sizeof(*M));
	N = eml_calloc(1, sizeof(*N));
	T = eml_calloc(1, sizeof(*T));
	V = eml_calloc(1, sizeof(*V));
	return G && M && N && T && V ? 0 : -1;
}

static PB_UNUSED int
teardown(void **state)
{
	(void)state;
	eml_free(G);
	eml_free(M);
	eml_free(N);
	eml_free(T);
	eml_free(V);
	return 0;
}

static PB_UNUSED void
pb_varint(struct pb *p, uint64_t v)
{
	while (v >= 0x80) {
		p->b[p->n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p->b[p->n++] = (uint8_t)v;
}

static PB_UNUSED void
pb_int(struct pb *p, unsigned field, int64_t v)
{
	pb_varint(p, (uint64_t)field << 3);
	pb_varint(p, (uint64_t)v);
}

static PB_UNUSED void
pb_bytes(struct pb *p, unsigned field, const void *d, size_t n)
{
	pb_varint(p, ((uint64_t)field << 3) | 2);
	pb_varint(p, n);
	EML_MEMCPY(p->b + p->n, d, n);
	p->n += n;
}

static PB_UNUSED void
pb_str(struct pb *p, unsigned field, const char *s)
{
	pb_bytes(p, field, s, strlen(s));
}

static PB_UNUSED void
pb_msg(struct pb *p, unsigned field, const struct pb *m)
{
	pb_bytes(p, field, m->b, m->n);
}

static PB_UNUSED void
pb_float(struct pb *p, unsigned field, float f)
{
	pb_varint(p, ((uint64_t)field << 3) | 5);
	EML_MEMCPY(p->b + p->n, &f, 4);
	p->n += 4;
}

/* TensorProto with raw_data (raw may be NULL for an absent raw_data). */
static PB_UNUSED void
onnx_tensor(struct pb *t, const char *name, int dtype, const int64_t *dims, int nd,
    const void *raw, size_t rawlen)
{
	t->n = 0;
	for (int i = 0; i < nd; i++)
		pb_int(t, 1, dims[i]);
	pb_int(t, 2, dtype);
	if (name != NULL)
		pb_str(t, 8, name);
	if (raw != NULL)
		pb_bytes(t, 9, raw, rawlen);
}

/* ValueInfoProto; nd < 0 for no shape; dims < 0 become dim_param "N". */
static PB_UNUSED void
onnx_value_info(struct pb *v, const char *name, int dtype, const int64_t *dims, int nd)
{
	static struct pb tt, ty, sh, dm;

	v->n = tt.n = ty.n = sh.n = 0;
	pb_int(&tt, 1, dtype);
	for (int i = 0; i < nd; i++) {
		dm.n = 0;
		if (dims[i] >= 0)
			pb_int(&dm, 1, dims[i]);
		else
			pb_str(&dm, 2, "N");
		pb_msg(&sh, 1, &dm);
	}
	if (nd >= 0)
		pb_msg(&tt, 2, &sh);
	pb_msg(&ty, 1, &tt);
	pb_str(v, 1, name);
	pb_msg(v, 2, &ty);
}

/* Attributes: AttributeProto appended to a node under construction. */
static PB_UNUSED void
onnx_attr_int(struct pb *node, const char *name, int64_t v)
{
	struct pb *a = eml_calloc(1, sizeof(*a));
	pb_str(a, 1, name);
	pb_int(a, 3, v);
	pb_int(a, 20, 2);
	pb_msg(node, 5, a);
	eml_free(a);
}

static PB_UNUSED void
onnx_attr_float(struct pb *node, const char *name, float v)
{
	struct pb *a = eml_calloc(1, sizeof(*a));
	pb_str(a, 1, name);
	pb_float(a, 2, v);
	pb_int(a, 20, 1);
	pb_msg(node, 5, a);
	eml_free(a);
}

static PB_UNUSED void
onnx_attr_str(struct pb *node, const char *name, const char *v)
{
	struct pb *a = eml_calloc(1, sizeof(*a));
	pb_str(a, 1, name);
	pb_str(a, 4, v);
	pb_int(a, 20, 3);
	pb_msg(node, 5, a);
	eml_free(a);
}

static PB_UNUSED void
onnx_attr_ints(struct pb *node, const char *name, const int64_t *v, size_t n)
{
	struct pb *a = eml_calloc(1, sizeof(*a));
	pb_str(a, 1, name);
	for (size_t i = 0; i < n; i++)
		pb_int(a, 8, v[i]);
	pb_int(a, 20, 7);
	pb_msg(node, 5, a);
	eml_free(a);
}

static PB_UNUSED void
onnx_attr_floats(struct pb *node, const char *name, const float *v, size_t n)
{
	struct pb *a = eml_calloc(1, sizeof(*a));
	pb_str(a, 1, name);
	for (size_t i = 0; i < n; i++)
		pb_float(a, 7, v[i]);
	pb_int(a, 20, 6);
	pb_msg(node, 5, a);
	eml_free(a);
}

static PB_UNUSED void
onnx_attr_tensor(struct pb *node, const char *name, const struct pb *t)
{
	struct pb *a = eml_calloc(1, sizeof(*a));
	pb_str(a, 1, name);
	pb_msg(a, 5, t);
	pb_int(a, 20, 4);
	pb_msg(node, 5, a);
	eml_free(a);
}

static PB_UNUSED void
onnx_attr_graph(struct pb *node, const char *name, const struct pb *g)
{
	struct pb *a = eml_calloc(1, sizeof(*a));
	pb_str(a, 1, name);
	pb_msg(a, 6, g);
	pb_int(a, 20, 5);
	pb_msg(node, 5, a);
	eml_free(a);
}

/* Start a NodeProto: inputs and outputs as NULL-terminated lists. */
static PB_UNUSED void
onnx_node(struct pb *node, const char *op, const char *name, const char *const *ins,
    const char *const *outs)
{
	node->n = 0;
	for (; ins != NULL && *ins != NULL; ins++)
		pb_str(node, 1, *ins);
	for (; outs != NULL && *outs != NULL; outs++)
		pb_str(node, 2, *outs);
	if (name != NULL)
		pb_str(node, 3, name);
	pb_str(node, 4, op);
}

/* ModelProto around a GraphProto (opset < 0: no opset_import). */
static PB_UNUSED void
onnx_model(struct pb *m, const struct pb *graph, int64_t opset)
{
	static struct pb op;

	m->n = 0;
	op.n = 0;
	pb_int(m, 1, 8);
	if (opset >= 0) {
		pb_str(&op, 1, "");
		pb_int(&op, 2, opset);
		pb_msg(m, 8, &op);
	}
	pb_msg(m, 7, graph);
}

#endif
