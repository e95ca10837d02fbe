/* Topology key: encode/decode round trip, the inline rule, and the
 * decoder's checks on hostile input. */
#include "eml_test.h"

#include <sodium.h>
#include <string.h>

#include "eml_buf.h"
#include "eml_mem.h"
#include "eml_test_graph.h"
#include "model/eml_topo.h"
#include "proto/topo.pb-c.h"

/* Give every non-inline tensor a blob reference at a 64-byte boundary;
 * returns the flat length. */
struct refs {
	uint64_t end;
};

static void
give_ref(const struct eml_tensor *ct, void *arg)
{
	struct refs *r = arg;
	struct eml_tensor *t = (struct eml_tensor *)(uintptr_t)ct;

	if (eml_topo_inline_ok(t))
		return;
	t->in_blob = true;
	t->blob_offset = (r->end + 63) & ~(uint64_t)63;
	r->end = t->blob_offset + t->nbytes;
}

static void
blob_params(struct eml_topo_blob *b, uint64_t plen)
{
	memset(b, 0, sizeof(*b));
	for (int i = 0; i < 32; i++) {
		b->content_id[i] = (uint8_t)(i * 7);
		b->key[i] = (uint8_t)(0xc0 ^ i);
	}
	b->cipher = EML_BLOB_CIPHER_XCHACHA20POLY1305;
	b->chunk_size = 4096;
	b->plaintext_length = plen;
	assert_eml_ok(eml_blob_file_size(plen, 4096, &b->file_size));
}

/* Encode g (with refs) into buf; returns the flat length. */
static uint64_t
encode(struct eml_graph *g, struct eml_buf *buf)
{
	struct refs r = { 0 };
	struct eml_topo_blob b;

	eml_test_graph_each_tensor(g, give_ref, &r);
	blob_params(&b, r.end);
	eml_buf_init_secure(buf, EML_TOPO_MAX_LEN);
	assert_eml_ok(eml_topo_encode(g, &b, buf));
	return r.end;
}

static void
inline_rule(void **state)
{
	struct eml_tensor t;

	(void)state;
	memset(&t, 0, sizeof(t));
	t.dtype = EML_DT_INT64;
	t.nbytes = 64;
	assert_true(eml_topo_inline_ok(&t));
	t.nbytes = 72;
	assert_false(eml_topo_inline_ok(&t));
	t.dtype = EML_DT_INT32;
	t.nbytes = 64;
	assert_true(eml_topo_inline_ok(&t));
	t.dtype = EML_DT_FLOAT;
	t.nbytes = 4;
	assert_false(eml_topo_inline_ok(&t)); /* even a float scalar is a weight */
	t.dtype = EML_DT_UINT8;
	t.nbytes = 1;
	assert_false(eml_topo_inline_ok(&t));
	t.nbytes = 0;
	assert_true(eml_topo_inline_ok(&t));
	assert_false(eml_topo_inline_ok(NULL));
}

/* Put the decoded graph's weights back from the original, then the two
 * graphs must be identical. */
struct pair {
	const struct eml_graph *orig;
	struct eml_graph *dec;
	size_t i;
};

static void
check_refs(const struct eml_tensor *a, const struct eml_tensor *b)
{
	assert_int_equal(a->in_blob, b->in_blob);
	if (a->in_blob) {
		assert_int_equal(a->blob_offset, b->blob_offset);
		assert_null(b->data);
	}
}

static void
round_trip(void **state)
{
	uint64_t rng = eml_test_seed();
	struct eml_graph *g = eml_test_graph_synth(&rng, 12, 300);
	struct eml_buf buf;
	struct eml_topo *t = NULL;
	uint64_t plen;

	(void)state;
	plen = encode(g, &buf);
	assert_eml_ok(eml_topo_decode(buf.data, buf.len, &t));
	assert_int_equal(t->blob->plaintext_length, plen);
	assert_int_equal(t->blob->chunk_size, 4096);
	assert_int_equal(t->blob->key[5], 0xc0 ^ 5);
	assert_int_equal(t->blob->content_id[3], 21);
	for (size_t i = 0; i < g->n_initializers; i++)
		check_refs(&g->initializers[i], &t->graph->initializers[i]);
	check_refs(g->nodes[0].attrs[0].t, t->graph->nodes[0].attrs[0].t);
	assert_true(t->graph->nodes[0].attrs[0].t->in_blob);   /* big float Constant */
	assert_false(t->graph->nodes[1].attrs[0].t->in_blob);  /* small shape: inline */
	/* point the decoded refs at the original bytes and compare all */
	for (size_t i = 0; i < g->n_initializers; i++)
		if (t->graph->initializers[i].in_blob)
			t->graph->initializers[i].data = g->initializers[i].data;
	t->graph->nodes[0].attrs[0].t->data = g->nodes[0].attrs[0].t->data;
	eml_test_graph_assert_equal(g, t->graph);
	for (size_t i = 0; i < g->n_initializers; i++)
		t->graph->initializers[i].data = t->graph->initializers[i].in_blob ? NULL :
		    t->graph->initializers[i].data;
	t->graph->nodes[0].attrs[0].t->data = NULL;
	eml_topo_free(t);
	eml_buf_free(&buf);
	eml_graph_free(g);
}

struct windows {
	const struct eml_buf *topo;
	size_t checked;
};

/* Separation: no 16-byte window of any blob-bound weight in the key. */
static void
no_window(const struct eml_tensor *t, void *arg)
{
	struct windows *w = arg;
	const uint8_t *p = t->data;

	if (!t->in_blob)
		return;
	for (size_t i = 0; i + 16 <= t->nbytes; i++) {
		assert_null(memmem(w->topo->data, w->topo->len, p + i, 16));
		w->checked++;
	}
}

static void
topology_holds_no_weights(void **state)
{
	uint64_t rng = eml_test_seed();
	struct eml_graph *g = eml_test_graph_synth(&rng, 20, 500);
	struct eml_buf buf;
	struct windows w = { &buf, 0 };

	(void)state;
	(void)encode(g, &buf);
	eml_test_graph_each_tensor(g, no_window, &w);
	assert_true(w.checked > 1000);
	eml_buf_free(&buf);
	eml_graph_free(g);
}

static void
encoder_refuses_weights(void **state)
{
	uint64_t rng = eml_test_seed();
	struct eml_graph *g = eml_test_graph_synth(&rng, 3, 50);
	struct eml_topo_blob b;
	struct eml_buf buf;

	(void)state;
	blob_params(&b, 1 << 20);
	eml_buf_init_secure(&buf, EML_TOPO_MAX_LEN);
	/* nothing marked in_blob: the float weights must not be inlined */
	assert_eml(eml_topo_encode(g, &b, &buf), EML_ERR_TOPO);
	/* a subgraph attribute */
	{
		struct refs r = { 0 };

		eml_test_graph_each_tensor(g, give_ref, &r);
		g->nodes[2].attrs[0].type = EML_ATTR_GRAPH; /* without a graph */
		buf.len = 0;
		assert_eml(eml_topo_encode(g, &b, &buf), EML_ERR_TOPO);
		g->nodes[2].attrs[0].type = EML_ATTR_FLOAT;
		buf.len = 0;
		assert_eml_ok(eml_topo_encode(g, &b, &buf));
	}
	/* nbytes that disagrees with dims */
	g->initializers[0].nbytes += 1;
	buf.len = 0;
	assert_eml(eml_topo_encode(g, &b, &buf), EML_ERR_TOPO);
	g->initializers[0].nbytes -= 1;
	eml_buf_free(&buf);
	eml_graph_free(g);
}

/* Every strict prefix of a topology key fails to decode (the blob section
 * is last on the wire, so a cut always loses or damages it). */
static void
truncation_fails(void **state)
{
	uint64_t rng = eml_test_seed();
	struct eml_graph *g = eml_test_graph_synth(&rng, 4, 40);
	struct eml_buf buf;
	struct eml_topo *t = NULL;

	(void)state;
	(void)encode(g, &buf);
	for (size_t n = 0; n < buf.len; n++) {
		eml_err rc = eml_topo_decode(buf.data, n, &t);

		assert_true(rc == EML_ERR_TOPO || rc == EML_ERR_TOPO_VERSION);
		assert_null(t);
	}
	assert_eml(eml_topo_decode(buf.data, (size_t)EML_TOPO_MAX_LEN + 1, &t),
	    EML_ERR_PROTO_TOO_LARGE);
	eml_buf_free(&buf);
	eml_graph_free(g);
}

/* Hand-made messages with one bad field each, built with protobuf-c
 * directly (not with the encoder under test). */
struct hand {
	Eml__Topo__TopologyKey key;
	Eml__Topo__Graph graph;
	Eml__Topo__BlobRef blob;
	Eml__Topo__Tensor tensor;
	Eml__Topo__Tensor *tensors[1];
	int64_t dims[9];
	uint8_t id[32];
	uint8_t k[32];
	uint8_t data[128];
};

static void
hand_init(struct hand *h)
{
	memset(h, 0, sizeof(*h));
	eml__topo__topology_key__init(&h->key);
	eml__topo__graph__init(&h->graph);
	eml__topo__blob_ref__init(&h->blob);
	eml__topo__tensor__init(&h->tensor);
	h->key.version = 1;
	h->key.graph = &h->graph;
	h->key.blob = &h->blob;
	h->blob.content_id.data = h->id;
	h->blob.content_id.len = 32;
	h->blob.key.data = h->k;
	h->blob.key.len = 32;
	h->blob.cipher = 1;
	h->blob.chunk_size = 4096;
	h->blob.plaintext_length = 1024;
	h->blob.file_size = 48 + 1024 + 16;
	h->tensors[0] = &h->tensor;
	h->graph.initializers = h->tensors;
	h->graph.n_initializers = 1;
	h->tensor.name = (char *)(uintptr_t)"w";
	h->tensor.dtype = EML_DT_FLOAT;
	h->dims[0] = 4;
	h->dims[1] = 8;
	h->tensor.dims = h->dims;
	h->tensor.n_dims = 2;
	h->tensor.in_blob = 1;
	h->tensor.offset = 128;
	h->tensor.length = 128;
}

static eml_err
hand_decode(struct hand *h)
{
	uint8_t buf[4096];
	size_t n = eml__topo__topology_key__get_packed_size(&h->key);
	struct eml_topo *t = NULL;
	eml_err rc;

	assert_true(n <= sizeof(buf));
	assert_int_equal(eml__topo__topology_key__pack(&h->key, buf), n);
	rc = eml_topo_decode(buf, n, &t);
	if (rc == EML_OK) {
		assert_non_null(t);
		eml_topo_free(t);
	} else {
		assert_null(t);
	}
	return rc;
}

static void
decoder_checks_fields(void **state)
{
	struct hand h;

	(void)state;
	hand_init(&h);
	assert_eml_ok(hand_decode(&h));
	h.key.version = 2;
	assert_eml(hand_decode(&h), EML_ERR_TOPO_VERSION);
	hand_init(&h);
	h.key.graph = NULL;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.key.blob = NULL;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.blob.key.len = 31;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.blob.content_id.len = 33;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.blob.cipher = 2;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.blob.chunk_size = 100;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.blob.file_size += 1;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	/* references */
	hand_init(&h);
	h.tensor.offset = 960; /* 960 + 128 > 1024 */
	assert_eml(hand_decode(&h), EML_ERR_TOPO_REF);
	hand_init(&h);
	h.tensor.offset = 896; /* ends exactly at 1024: fine */
	assert_eml_ok(hand_decode(&h));
	hand_init(&h);
	h.tensor.offset = 130; /* misaligned */
	assert_eml(hand_decode(&h), EML_ERR_TOPO_REF);
	hand_init(&h);
	h.tensor.length = 124; /* not the tensor's size */
	assert_eml(hand_decode(&h), EML_ERR_TOPO_REF);
	hand_init(&h);
	h.tensor.offset = UINT64_MAX - 63; /* aligned, offset + length wraps */
	assert_eml(hand_decode(&h), EML_ERR_TOPO_REF);
	hand_init(&h);
	h.tensor.inline_data.data = h.data;
	h.tensor.inline_data.len = 128; /* both a reference and inline bytes */
	assert_eml(hand_decode(&h), EML_ERR_TOPO_REF);
	/* inline values */
	hand_init(&h);
	h.tensor.in_blob = 0;
	h.tensor.offset = 0;
	h.tensor.length = 0;
	h.tensor.inline_data.data = h.data;
	h.tensor.inline_data.len = 128;
	assert_eml(hand_decode(&h), EML_ERR_TOPO); /* float weights inline */
	h.tensor.dtype = EML_DT_INT64;
	h.dims[0] = 2;
	h.dims[1] = 4;
	h.tensor.inline_data.len = 64;
	assert_eml_ok(hand_decode(&h)); /* 8 int64: a shape constant */
	h.tensor.inline_data.len = 63;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	h.dims[1] = 5;
	h.tensor.inline_data.len = 80;
	assert_eml(hand_decode(&h), EML_ERR_TOPO); /* 10 int64: too big */
	/* dtype and dims */
	hand_init(&h);
	h.tensor.dtype = EML_DT_STRING;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.tensor.dtype = 99;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.dims[0] = -4;
	assert_eml(hand_decode(&h), EML_ERR_GRAPH_DIM);
	hand_init(&h);
	h.tensor.n_dims = 9;
	for (int i = 0; i < 9; i++)
		h.dims[i] = 1;
	h.tensor.length = 4;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	hand_init(&h);
	h.dims[0] = INT64_C(1) << 40;
	h.dims[1] = INT64_C(1) << 40; /* numel overflows */
	assert_eml(hand_decode(&h), EML_ERR_GRAPH_OVERFLOW);
}

static void
decoder_checks_nodes(void **state)
{
	struct hand h;
	Eml__Topo__Node node = EML__TOPO__NODE__INIT;
	Eml__Topo__Node *nodes[1] = { &node };
	Eml__Topo__Attr attr = EML__TOPO__ATTR__INIT;
	Eml__Topo__Attr *attrs[1] = { &attr };
	Eml__Topo__ValueInfo vi = EML__TOPO__VALUE_INFO__INIT;
	Eml__Topo__ValueInfo *vis[1] = { &vi };
	float fl[2] = { 1.0f, 2.0f };

	(void)state;
	hand_init(&h);
	h.graph.nodes = nodes;
	h.graph.n_nodes = 1;
	node.op_type = (char *)(uintptr_t)"Relu";
	assert_eml_ok(hand_decode(&h));
	node.op_type = (char *)(uintptr_t)"";
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	node.op_type = (char *)(uintptr_t)"Relu";
	node.attrs = attrs;
	node.n_attrs = 1;
	attr.type = EML_ATTR_FLOAT;
	assert_eml_ok(hand_decode(&h));
	attr.type = EML_ATTR_GRAPH;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	attr.type = 0;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	attr.type = 42;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	attr.type = EML_ATTR_TENSOR; /* without a tensor */
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	attr.type = EML_ATTR_INT; /* with floats set */
	attr.floats = fl;
	attr.n_floats = 2;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	attr.type = EML_ATTR_FLOATS;
	assert_eml_ok(hand_decode(&h));
	/* value infos */
	hand_init(&h);
	h.graph.inputs = vis;
	h.graph.n_inputs = 1;
	vi.dtype = EML_DT_FLOAT;
	vi.rank = -1;
	assert_eml_ok(hand_decode(&h));
	vi.rank = 9;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	vi.rank = 2; /* but no dims */
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	vi.rank = -2;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	vi.rank = 0;
	vi.dtype = 14;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
}

static void
garbage_fails(void **state)
{
	uint64_t rng = eml_test_seed();
	uint8_t buf[512];
	struct eml_topo *t = NULL;

	(void)state;
	for (int i = 0; i < 2000; i++) {
		size_t n = (size_t)(eml_test_rand(&rng) % sizeof(buf));
		eml_err rc;

		eml_test_fill(&rng, buf, n);
		/* A key of field number 0 is never valid protobuf: whatever
		 * follows, the bytes do not decode. */
		if (n > 0)
			buf[0] = (uint8_t)(buf[0] & 0x07);
		rc = eml_topo_decode(buf, n, &t);
		if (n == 0) {
			/* Empty bytes decode to an empty message: version 0. */
			assert_int_equal(rc, EML_ERR_TOPO_VERSION);
		} else {
			assert_int_equal(rc, EML_ERR_TOPO);
			assert_string_equal(eml_err_detail(), "topology key does not decode");
		}
		assert_null(t);
	}
}

/* Every allocation failure on the decode path fails cleanly (ASan sees
 * any leak). */
static void
decode_survives_allocation_failures(void **state)
{
	uint64_t rng = eml_test_seed();
	struct eml_graph *g = eml_test_graph_synth(&rng, 3, 20);
	struct eml_buf buf;
	struct eml_topo *t = NULL;
	long k;

	(void)state;
	(void)encode(g, &buf);
	for (k = 1; k < 10000; k++) {
		eml_err rc;

		eml_mem_fail_after(k);
		rc = eml_topo_decode(buf.data, buf.len, &t);
		eml_mem_fail_after(0);
		if (rc == EML_OK)
			break;
		assert_true(rc == EML_ERR_NOMEM || rc == EML_ERR_TOPO);
		assert_null(t);
	}
	assert_non_null(t);
	/* the region (its struct, its blocks), the key, the blob section:
	 * a handful since the graph lives in one region */
	fprintf(stderr, "  decode succeeded at allocation %ld\n", k);
	assert_true(k > 3);
	eml_topo_free(t);
	eml_buf_free(&buf);
	eml_graph_free(g);
}

/* Subgraphs: written in place, version 2 only when present, every
 * tensor of every subgraph a blob reference, read back identical. */
static void
subgraphs_round_trip(void **state)
{
	struct eml_graph *g = eml_test_graph_if(2);
	struct eml_graph *plain;
	struct eml_topo *t = NULL;
	struct eml_topo_blob b;
	struct eml_buf buf;
	uint64_t rng = 5;

	(void)state;
	encode(g, &buf);
	assert_true(buf.len > 2);
	assert_int_equal(buf.data[0], 0x08); /* field 1, varint: the version */
	assert_int_equal(buf.data[1], EML_TOPO_VERSION_SUBGRAPHS);
	assert_eml_ok(eml_topo_decode(buf.data, buf.len, &t));
	assert_int_equal(eml_graph_n_subgraphs(t->graph), 4);
	/* the else branch's weight is a reference, not bytes */
	assert_true(t->graph->nodes[0].attrs[1].g->initializers[0].in_blob);
	assert_null(t->graph->nodes[0].attrs[1].g->initializers[0].data);
	assert_int_equal(t->graph->nodes[0].attrs[0].g->opset, 13);
	eml_topo_free(t);
	eml_buf_free(&buf);
	/* a graph without subgraphs stays version 1 */
	plain = eml_test_graph_mlp(&rng, 4, 8, 2);
	encode(plain, &buf);
	assert_int_equal(buf.data[1], EML_TOPO_VERSION);
	eml_buf_free(&buf);
	eml_graph_free(plain);
	eml_graph_free(g);
	/* nested beyond the bound: the writer refuses too */
	g = eml_test_graph_if(EML_GRAPH_MAX_DEPTH + 1);
	blob_params(&b, 1 << 20);
	eml_buf_init_secure(&buf, EML_TOPO_MAX_LEN);
	assert_eml(eml_topo_encode(g, &b, &buf), EML_ERR_GRAPH_LIMIT);
	eml_buf_free(&buf);
	eml_graph_free(g);
}

/* A key nesting `depth` subgraphs, each level one If holding the next. */
#define NEST_MAX 8
struct nest {
	Eml__Topo__Graph g[NEST_MAX + 1];
	Eml__Topo__Node n[NEST_MAX];
	Eml__Topo__Node *np[NEST_MAX];
	Eml__Topo__Attr a[NEST_MAX];
	Eml__Topo__Attr *ap[NEST_MAX];
};

static eml_err
nest_decode(struct hand *h, struct nest *x, int depth, uint32_t version)
{
	hand_init(h);
	for (int l = 0; l <= depth; l++)
		eml__topo__graph__init(&x->g[l]);
	for (int l = 0; l < depth; l++) {
		eml__topo__node__init(&x->n[l]);
		eml__topo__attr__init(&x->a[l]);
		x->n[l].op_type = (char *)(uintptr_t)"If";
		x->a[l].name = (char *)(uintptr_t)"then_branch";
		x->a[l].type = EML_ATTR_GRAPH;
		x->a[l].g = &x->g[l + 1];
		x->ap[l] = &x->a[l];
		x->n[l].attrs = &x->ap[l];
		x->n[l].n_attrs = 1;
		x->np[l] = &x->n[l];
		x->g[l].nodes = &x->np[l];
		x->g[l].n_nodes = 1;
	}
	x->g[0].initializers = h->tensors;
	x->g[0].n_initializers = 1;
	h->key.graph = &x->g[0];
	h->key.version = version;
	return hand_decode(h);
}

static void
decoder_bounds_nesting(void **state)
{
	struct hand h;
	struct nest x;

	(void)state;
	assert_eml_ok(nest_decode(&h, &x, 1, 2));
	assert_eml_ok(nest_decode(&h, &x, EML_GRAPH_MAX_DEPTH, 2));
	/* refused before unpacking: protobuf-c would recurse per level */
	assert_eml(nest_decode(&h, &x, EML_GRAPH_MAX_DEPTH + 1, 2), EML_ERR_GRAPH_LIMIT);
	assert_eml(nest_decode(&h, &x, NEST_MAX, 2), EML_ERR_GRAPH_LIMIT);
	/* one version per encoding: subgraphs only in version 2 keys */
	assert_eml(nest_decode(&h, &x, 1, 1), EML_ERR_TOPO_VERSION);
	assert_eml(nest_decode(&h, &x, 0, 2), EML_ERR_TOPO_VERSION);
	assert_eml_ok(nest_decode(&h, &x, 0, 1));
	/* a graph attribute without its graph, or a graph on another type */
	assert_eml_ok(nest_decode(&h, &x, 1, 2));
	x.a[0].g = NULL;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
	x.a[0].g = &x.g[1];
	x.a[0].type = EML_ATTR_INT;
	assert_eml(hand_decode(&h), EML_ERR_TOPO);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(inline_rule),
		cmocka_unit_test(round_trip),
		cmocka_unit_test(topology_holds_no_weights),
		cmocka_unit_test(encoder_refuses_weights),
		cmocka_unit_test(truncation_fails),
		cmocka_unit_test(decoder_checks_fields),
		cmocka_unit_test(decoder_checks_nodes),
		cmocka_unit_test(garbage_fails),
		cmocka_unit_test(decode_survives_allocation_failures),
		cmocka_unit_test(subgraphs_round_trip),
		cmocka_unit_test(decoder_bounds_nesting),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
