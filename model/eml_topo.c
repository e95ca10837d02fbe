#include "eml_topo.h"

#include <string.h>

#include "eml_mem.h"
#include "model/eml_topo_int.h"
#include "proto/topo.pb-c.h"

/* ---------------------------------------------------------------- memory */

/* protobuf-c allocator: the unpacked key and the graph built from it live
 * in one region (eml_graph.h), which the graph owns: blocks taken from the
 * heap, nothing freed one by one (protobuf-c's frees are no-ops and
 * free_unpacked is not called), every used byte wiped once when the graph
 * is freed. The graph's strings and arrays are the unpacked message's own
 * where they can be (no copy), so the decode allocates little beyond the
 * unpack (issue 16: a 42 KB key made ~1500 allocations, each wiped and
 * freed alone, and its graph as many again). */
static void *
pb_alloc(void *data, size_t n)
{
	return eml_region_alloc(data, n);
}

static void
pb_free(void *data, void *p)
{
	(void)data;
	(void)p; /* the region goes whole, with the graph */
}

/* ---------------------------------------------------------------- rules */

bool
eml_topo_inline_ok(const struct eml_tensor *t)
{
	if (t == NULL)
		return false;
	if (t->nbytes == 0)
		return true;
	return (t->dtype == EML_DT_INT64 || t->dtype == EML_DT_INT32) &&
	    t->nbytes <= EML_TOPO_INLINE_MAX;
}

eml_err
eml_topo_tensor_nbytes(enum eml_dtype dt, int rank, const int64_t *dims, size_t *out)
{
	size_t esz = eml_dtype_size(dt);
	size_t n = esz;

	EML_ENSURE(esz != 0, EML_ERR_TOPO);
	EML_ENSURE(rank >= 0 && rank <= EML_MAX_RANK, EML_ERR_TOPO);
	for (int i = 0; i < rank; i++) {
		EML_ENSURE(dims[i] >= 0, EML_ERR_TOPO);
		EML_ENSURE(!eml_mul_overflow(n, (size_t)dims[i], &n), EML_ERR_TOPO);
	}
	*out = n;
	return EML_OK;
}

/* ---------------------------------------------------------------- decode */

#define TOPO_FAIL(rc, err, ...)                                                \
	do {                                                                   \
		eml_err_set_detail(__VA_ARGS__);                               \
		EML_FAIL(rc, err);                                             \
	} while (0)

/* The unpacked message's string itself: it lives in the graph's region.
 * "" for a missing one (protobuf-c's own empty string, never written). */
static char *
msg_str(char *s)
{
	return s != NULL ? s : (char *)(uintptr_t)"";
}

/* NULL for "" (the graph uses NULL for an absent symbol). */
static char *
msg_str_opt(char *s)
{
	return s == NULL || s[0] == '\0' ? NULL : s;
}

/* bytes fields are not NUL-terminated: a copy in the region. */
static eml_err
dup_bytes_str(struct eml_region *r, const ProtobufCBinaryData *b, char **out)
{
	char *s;

	EML_ENSURE(b->len < SIZE_MAX, EML_ERR_OVERFLOW);
	s = eml_region_alloc(r, b->len + 1);
	EML_ENSURE(s != NULL, EML_ERR_NOMEM);
	if (b->len > 0)
		EML_MEMCPY(s, b->data, b->len);
	s[b->len] = '\0';
	*out = s;
	return EML_OK;
}

static bool
dtype_known(int32_t dt)
{
	return (dt >= EML_DT_UNDEFINED && dt <= EML_DT_UINT64) || dt == EML_DT_BFLOAT16;
}

static eml_err
dec_tensor(const Eml__Topo__Tensor *m, const struct eml_topo_blob *b, struct eml_tensor *t)
{
	size_t nbytes;
	uint64_t end;

	t->name = msg_str(m->name);
	if (!dtype_known(m->dtype) || eml_dtype_size((enum eml_dtype)m->dtype) == 0) {
		eml_err_set_detail("tensor '%s': dtype %d", t->name, (int)m->dtype);
		EML_BAIL(EML_ERR_TOPO);
	}
	t->dtype = (enum eml_dtype)m->dtype;
	if (m->n_dims > EML_MAX_RANK) {
		eml_err_set_detail("tensor '%s': rank above %d", t->name, EML_MAX_RANK);
		EML_BAIL(EML_ERR_TOPO);
	}
	t->rank = (int)m->n_dims;
	EML_MEMCPY(t->dims, m->dims, m->n_dims * sizeof(int64_t));
	for (int i = 0; i < t->rank; i++)
		if (t->dims[i] < 0) {
			eml_err_set_detail("tensor '%s': dimension %d is %lld", t->name, i,
			    (long long)t->dims[i]);
			EML_BAIL(EML_ERR_GRAPH_DIM);
		}
	if (eml_topo_tensor_nbytes(t->dtype, t->rank, t->dims, &nbytes) != EML_OK) {
		eml_err_set_detail("tensor '%s': size overflows", t->name);
		EML_BAIL(EML_ERR_GRAPH_OVERFLOW);
	}
	t->nbytes = nbytes;
	if (m->in_blob) {
		/* A reference must name exactly the tensor's bytes, aligned,
		 * inside the flat array the blob decrypts to. */
		if (m->inline_data.len != 0 || m->length != nbytes || m->offset % EML_BLOB_ALIGN != 0 ||
		    eml_add_overflow(m->offset, m->length, &end) || end > b->plaintext_length) {
			eml_err_set_detail("tensor '%s': reference [%llu, +%llu) of a %llu-byte blob",
			    t->name, (unsigned long long)m->offset, (unsigned long long)m->length,
			    (unsigned long long)b->plaintext_length);
			EML_BAIL(EML_ERR_TOPO_REF);
		}
		t->in_blob = true;
		t->blob_offset = m->offset;
		return EML_OK;
	}
	if (m->offset != 0 || m->length != 0 || m->inline_data.len != nbytes || !eml_topo_inline_ok(t)) {
		eml_err_set_detail("tensor '%s': inline value not allowed or of the wrong size", t->name);
		EML_BAIL(EML_ERR_TOPO);
	}
	if (nbytes == 0)
		return EML_OK;
	t->data = eml_secure_alloc(nbytes);
	EML_ENSURE(t->data != NULL, EML_ERR_NOMEM);
	t->owned = true;
	memcpy(t->data, m->inline_data.data, nbytes);
	return EML_OK;
}

static eml_err dec_graph(const Eml__Topo__Graph *m, const struct eml_topo_blob *b,
    struct eml_region *r, struct eml_graph *g);

static eml_err
dec_attr(const Eml__Topo__Attr *m, const struct eml_topo_blob *b, struct eml_region *r,
    struct eml_attr *a)
{
	a->name = msg_str(m->name);
	/* Only the field of the declared type may be set. */
	if (m->type < EML_ATTR_FLOAT || m->type > EML_ATTR_STRINGS ||
	    (m->t != NULL && m->type != EML_ATTR_TENSOR) ||
	    (m->g != NULL && m->type != EML_ATTR_GRAPH) ||
	    (m->n_floats != 0 && m->type != EML_ATTR_FLOATS) ||
	    (m->n_ints != 0 && m->type != EML_ATTR_INTS) ||
	    (m->n_strings != 0 && m->type != EML_ATTR_STRINGS) ||
	    (m->s.len != 0 && m->type != EML_ATTR_STRING)) {
		eml_err_set_detail("attribute '%s': type %d", a->name, (int)m->type);
		EML_BAIL(EML_ERR_TOPO);
	}
	a->type = (enum eml_attr_type)m->type;
	switch (a->type) {
	case EML_ATTR_FLOAT:
		a->f = m->f;
		break;
	case EML_ATTR_INT:
		a->i = m->i;
		break;
	case EML_ATTR_STRING:
		EML_GUARD(dup_bytes_str(r, &m->s, &a->s));
		a->s_len = m->s.len;
		break;
	case EML_ATTR_TENSOR:
		if (m->t == NULL) {
			eml_err_set_detail("attribute '%s': tensor missing", a->name);
			EML_BAIL(EML_ERR_TOPO);
		}
		a->t = eml_region_calloc(r, 1, sizeof(*a->t));
		EML_ENSURE(a->t != NULL, EML_ERR_NOMEM);
		EML_GUARD(dec_tensor(m->t, b, a->t));
		break;
	case EML_ATTR_FLOATS:
		a->floats = m->floats; /* in the region */
		a->n = m->n_floats;
		break;
	case EML_ATTR_INTS:
		a->ints = m->ints; /* in the region */
		a->n = m->n_ints;
		break;
	case EML_ATTR_STRINGS:
		a->strings = eml_region_calloc(r, m->n_strings, sizeof(char *));
		EML_ENSURE(a->strings != NULL, EML_ERR_NOMEM);
		a->n = m->n_strings;
		for (size_t i = 0; i < m->n_strings; i++)
			EML_GUARD(dup_bytes_str(r, &m->strings[i], &a->strings[i]));
		break;
	case EML_ATTR_GRAPH:
		/* Nesting was bounded before unpacking (scan_depth). */
		if (m->g == NULL) {
			eml_err_set_detail("attribute '%s': subgraph missing", a->name);
			EML_BAIL(EML_ERR_TOPO);
		}
		a->g = eml_region_calloc(r, 1, sizeof(*a->g)); /* its region: the root's */
		EML_ENSURE(a->g != NULL, EML_ERR_NOMEM);
		EML_GUARD(dec_graph(m->g, b, r, a->g));
		break;
	case EML_ATTR_UNDEFINED:
	default:
		EML_BAIL(EML_ERR_TOPO);
	}
	return EML_OK;
}

/* The message's own array of strings (in the region). */
static void
dec_strv(char **src, size_t n, char ***dst, size_t *n_dst)
{
	if (n == 0)
		return;
	for (size_t i = 0; i < n; i++)
		src[i] = msg_str(src[i]);
	*dst = src;
	*n_dst = n;
}

static eml_err
dec_node(const Eml__Topo__Node *m, const struct eml_topo_blob *b, struct eml_region *r,
    struct eml_node *n)
{
	n->name = msg_str(m->name);
	if (m->op_type == NULL || m->op_type[0] == '\0') {
		eml_err_set_detail("node '%s' has no operator", n->name);
		EML_BAIL(EML_ERR_TOPO);
	}
	n->op_type = m->op_type;
	n->domain = msg_str(m->domain);
	dec_strv(m->inputs, m->n_inputs, &n->inputs, &n->n_inputs);
	dec_strv(m->outputs, m->n_outputs, &n->outputs, &n->n_outputs);
	if (m->n_attrs == 0)
		return EML_OK;
	n->attrs = eml_region_calloc(r, m->n_attrs, sizeof(*n->attrs));
	EML_ENSURE(n->attrs != NULL, EML_ERR_NOMEM);
	n->n_attrs = m->n_attrs;
	for (size_t i = 0; i < m->n_attrs; i++)
		EML_GUARD(dec_attr(m->attrs[i], b, r, &n->attrs[i]));
	return EML_OK;
}

static eml_err
dec_vinfos(struct eml_region *r, Eml__Topo__ValueInfo *const *src, size_t n,
    struct eml_value_info **dst, size_t *n_dst)
{
	if (n == 0)
		return EML_OK;
	*dst = eml_region_calloc(r, n, sizeof(**dst));
	EML_ENSURE(*dst != NULL, EML_ERR_NOMEM);
	*n_dst = n;
	for (size_t i = 0; i < n; i++) {
		const Eml__Topo__ValueInfo *m = src[i];
		struct eml_value_info *v = &(*dst)[i];

		v->name = msg_str(m->name);
		if (!dtype_known(m->dtype) || m->rank < -1 || m->rank > EML_MAX_RANK ||
		    m->n_dims != (m->rank < 0 ? 0 : (size_t)m->rank)) {
			eml_err_set_detail("value '%s': dtype %d rank %d", v->name, (int)m->dtype,
			    (int)m->rank);
			EML_BAIL(EML_ERR_TOPO);
		}
		v->dtype = (enum eml_dtype)m->dtype;
		v->rank = m->rank;
		for (size_t d = 0; d < m->n_dims; d++) {
			if (m->dims[d] == NULL || m->dims[d]->value < -1) {
				eml_err_set_detail("value '%s': dim %lld", v->name,
				    m->dims[d] == NULL ? 0LL : (long long)m->dims[d]->value);
				EML_BAIL(EML_ERR_GRAPH_DIM);
			}
			v->dims[d].value = m->dims[d]->value;
			v->dims[d].symbol = msg_str_opt(m->dims[d]->symbol);
		}
	}
	return EML_OK;
}

static eml_err
dec_blob(const Eml__Topo__BlobRef *m, struct eml_topo_blob *b)
{
	uint64_t fsize;

	if (m == NULL || m->content_id.len != EML_BLOB_ID_LEN || m->key.len != EML_BLOB_KEY_LEN) {
		eml_err_set_detail("blob reference missing or of the wrong size");
		EML_BAIL(EML_ERR_TOPO);
	}
	if (m->cipher != EML_BLOB_CIPHER_XCHACHA20POLY1305 || !eml_blob_chunk_size_ok(m->chunk_size) ||
	    eml_blob_file_size(m->plaintext_length, m->chunk_size, &fsize) != EML_OK ||
	    fsize != m->file_size) {
		eml_err_set_detail("blob parameters: cipher %u chunk %u", (unsigned)m->cipher,
		    (unsigned)m->chunk_size);
		EML_BAIL(EML_ERR_TOPO);
	}
	memcpy(b->content_id, m->content_id.data, EML_BLOB_ID_LEN);
	memcpy(b->key, m->key.data, EML_BLOB_KEY_LEN);
	b->cipher = m->cipher;
	b->chunk_size = m->chunk_size;
	b->plaintext_length = m->plaintext_length;
	b->file_size = m->file_size;
	return EML_OK;
}

/* A subgraph runs at the opset of the graph holding it (ONNX has no
 * per-subgraph opset): the key's value for it is not trusted. */
static void
set_opset(struct eml_graph *g, int64_t opset)
{
	g->opset = opset;
	for (size_t i = 0; i < g->n_nodes; i++)
		for (size_t j = 0; j < g->nodes[i].n_attrs; j++)
			if (g->nodes[i].attrs[j].g != NULL)
				set_opset(g->nodes[i].attrs[j].g, opset);
}

static eml_err
dec_graph(const Eml__Topo__Graph *m, const struct eml_topo_blob *b, struct eml_region *r,
    struct eml_graph *g)
{
	g->name = msg_str(m->name);
	g->opset = m->opset;
	if (m->n_nodes > 0) {
		g->nodes = eml_region_calloc(r, m->n_nodes, sizeof(*g->nodes));
		EML_ENSURE(g->nodes != NULL, EML_ERR_NOMEM);
		g->n_nodes = m->n_nodes;
		for (size_t i = 0; i < m->n_nodes; i++)
			EML_GUARD(dec_node(m->nodes[i], b, r, &g->nodes[i]));
	}
	if (m->n_initializers > 0) {
		g->initializers = eml_region_calloc(r, m->n_initializers, sizeof(*g->initializers));
		EML_ENSURE(g->initializers != NULL, EML_ERR_NOMEM);
		g->n_initializers = m->n_initializers;
		for (size_t i = 0; i < m->n_initializers; i++)
			EML_GUARD(dec_tensor(m->initializers[i], b, &g->initializers[i]));
	}
	EML_GUARD(dec_vinfos(r, m->inputs, m->n_inputs, &g->inputs, &g->n_inputs));
	EML_GUARD(dec_vinfos(r, m->outputs, m->n_outputs, &g->outputs, &g->n_outputs));
	EML_GUARD(dec_vinfos(r, m->value_infos, m->n_value_infos, &g->value_infos, &g->n_value_infos));
	return EML_OK;
}

/* ------------------------------------------------------------ nesting */

/*
 * protobuf-c unpacks nested messages by recursion, one level per
 * Graph -> Node -> Attr -> Graph step, so a hostile key of 64 MiB could
 * nest subgraphs millions deep and exhaust the enclave's stack. Before
 * unpacking, walk the wire format along that path only (TopologyKey.graph,
 * Graph.nodes, Node.attrs, Attr.g) and refuse more than
 * EML_GRAPH_MAX_DEPTH levels of subgraphs. Other fields are skipped by
 * their wire type; malformed wire data is left to the unpacker.
 */
enum scan_msg { SCAN_KEY, SCAN_GRAPH, SCAN_NODE, SCAN_ATTR };

static bool
wire_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t c = *(*p)++;

		*v |= (uint64_t)(c & 0x7f) << shift;
		if ((c & 0x80) == 0)
			return true;
	}
	return false;
}

/* The message a length-delimited field of kind k opens on our path. */
static bool
scan_child(enum scan_msg k, uint64_t field, enum scan_msg *child)
{
	if (k == SCAN_KEY && field == 2)
		*child = SCAN_GRAPH;
	else if (k == SCAN_GRAPH && field == 3)
		*child = SCAN_NODE;
	else if (k == SCAN_NODE && field == 6)
		*child = SCAN_ATTR;
	else if (k == SCAN_ATTR && field == 10)
		*child = SCAN_GRAPH;
	else
		return false;
	return true;
}

static eml_err
scan_depth(const uint8_t *p, const uint8_t *end, enum scan_msg k, int depth)
{
	while (p < end) {
		uint64_t tag, len;
		enum scan_msg child;

		if (!wire_varint(&p, end, &tag))
			return EML_OK; /* the unpacker refuses it */
		switch (tag & 7) {
		case 0:
			if (!wire_varint(&p, end, &len))
				return EML_OK;
			break;
		case 1:
			if (end - p < 8)
				return EML_OK;
			p += 8;
			break;
		case 5:
			if (end - p < 4)
				return EML_OK;
			p += 4;
			break;
		case 2:
			if (!wire_varint(&p, end, &len) || len > (uint64_t)(end - p))
				return EML_OK;
			if (scan_child(k, tag >> 3, &child)) {
				int d = k == SCAN_ATTR ? depth + 1 : depth;

				if (d > EML_GRAPH_MAX_DEPTH) {
					eml_err_set_detail("subgraphs nested deeper than %d",
					    EML_GRAPH_MAX_DEPTH);
					EML_BAIL(EML_ERR_GRAPH_LIMIT);
				}
				EML_GUARD(scan_depth(p, p + len, child, d));
			}
			p += len;
			break;
		default:
			return EML_OK;
		}
	}
	return EML_OK;
}

eml_err
eml_topo_decode(const uint8_t *p, size_t n, struct eml_topo **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__Topo__TopologyKey *m = NULL;
	struct eml_topo *t = NULL;
	struct eml_region *r = NULL;
	struct eml_graph *g;
	ProtobufCAllocator al;

	if (out == NULL || (p == NULL && n != 0))
		EML_FAIL(rc, EML_ERR_NULL);
	*out = NULL;
	if (n > EML_TOPO_MAX_LEN)
		EML_FAIL(rc, EML_ERR_PROTO_TOO_LARGE);
	rc = eml_mem_init();
	if (rc != EML_OK)
		goto out;
	if (n > 0 && (rc = scan_depth(p, p + n, SCAN_KEY, 0)) != EML_OK)
		goto out;
	/* an unpacked key and its graph take about three times its wire
	 * size: most of it in the first block */
	r = eml_region_new(n < ((size_t)1 << 20) / 3 ? 3 * n : (size_t)1 << 20);
	if (r == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	al.alloc = pb_alloc;
	al.free = pb_free;
	al.allocator_data = r;
	m = eml__topo__topology_key__unpack(&al, n, p);
	if (m == NULL)
		TOPO_FAIL(rc, EML_ERR_TOPO, "topology key does not decode");
	if (m->version != EML_TOPO_VERSION && m->version != EML_TOPO_VERSION_SUBGRAPHS)
		TOPO_FAIL(rc, EML_ERR_TOPO_VERSION, "version %u", (unsigned)m->version);
	if (m->graph == NULL)
		TOPO_FAIL(rc, EML_ERR_TOPO, "graph missing");
	t = eml_calloc(1, sizeof(*t));
	if (t == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	t->blob = eml_secure_alloc(sizeof(*t->blob));
	g = eml_region_calloc(r, 1, sizeof(*g));
	if (t->blob == NULL || g == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	g->region = r; /* from here the graph owns the region */
	t->graph = g;
	r = NULL;
	rc = dec_blob(m->blob, t->blob);
	/* the key's one copy is t->blob's (locked): the message's, which
	 * lives on in the region, goes now */
	if (m->blob != NULL && m->blob->key.data != NULL)
		eml_wipe(m->blob->key.data, m->blob->key.len);
	if (rc != EML_OK)
		goto out;
	rc = dec_graph(m->graph, t->blob, g->region, g);
	if (rc != EML_OK)
		goto out;
	/* Subgraphs exactly in version 2 keys: one encoding per graph. */
	if ((eml_graph_n_subgraphs(t->graph) > 0) != (m->version == EML_TOPO_VERSION_SUBGRAPHS))
		TOPO_FAIL(rc, EML_ERR_TOPO_VERSION, "version %u with%s subgraphs",
		    (unsigned)m->version, m->version == EML_TOPO_VERSION ? "" : "out");
	set_opset(t->graph, t->graph->opset);
	*out = t;
	t = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_region_free(r); /* before the graph took it: m and all it holds */
	eml_topo_free(t);   /* the graph's region with it */
	return rc;
}

void
eml_topo_free(struct eml_topo *t)
{
	if (t == NULL)
		return;
	eml_graph_free(t->graph);
	eml_secure_free(t->blob);
	eml_free_wipe(t, sizeof(*t));
}
