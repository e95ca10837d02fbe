/* The topology key writer (the model owner's side, `eml model split`):
 * graph -> protobuf TopologyKey. Kept apart from the reader in eml_topo.c so
 * that the agent, which only ever decodes keys, links no writer. */
#include "eml_topo.h"

#include <string.h>

#include "eml_mem.h"
#include "model/eml_topo_int.h"
#include "proto/topo.pb-c.h"

/* ---------------------------------------------------------------- memory */

/* The messages to pack come from one region (eml_graph.h): a key's
 * messages are a few thousand small structs and arrays, and one calloc
 * each was ~2000 allocations, wipes and frees for the demo model (issue
 * 16). The region wipes every byte it handed out when it goes. */
#define POOL_FIRST_BLOCK ((size_t)16 << 10)

struct pool {
	struct eml_region *r;
	size_t n_sub; /* subgraphs written: the key's version */
};

/* Zeroed; NULL on overflow or out of memory. */
static void *
pool_alloc(struct pool *pl, size_t nmemb, size_t size)
{
	return eml_region_calloc(pl->r, nmemb, size);
}

static char empty_str[1] = "";

static char *
str_or_empty(char *s)
{
	return s != NULL ? s : empty_str;
}

/* ---------------------------------------------------------------- encode */

static eml_err
enc_tensor(struct pool *pl, const struct eml_tensor *t, Eml__Topo__Tensor **out)
{
	Eml__Topo__Tensor *m;
	size_t nbytes;

	EML_ENSURE(t->rank >= 0 && t->rank <= EML_MAX_RANK, EML_ERR_TOPO);
	if (eml_topo_tensor_nbytes(t->dtype, t->rank, t->dims, &nbytes) != EML_OK || nbytes != t->nbytes) {
		eml_err_set_detail("tensor '%s': dtype, dims and size disagree", str_or_empty(t->name));
		EML_BAIL(EML_ERR_TOPO);
	}
	m = pool_alloc(pl, 1, sizeof(*m));
	EML_ENSURE(m != NULL, EML_ERR_NOMEM);
	eml__topo__tensor__init(m);
	m->name = str_or_empty(t->name);
	m->dtype = (int32_t)t->dtype;
	if (t->rank > 0) {
		m->dims = pool_alloc(pl, (size_t)t->rank, sizeof(int64_t));
		EML_ENSURE(m->dims != NULL, EML_ERR_NOMEM);
		memcpy(m->dims, t->dims, (size_t)t->rank * sizeof(int64_t));
		m->n_dims = (size_t)t->rank;
	}
	if (t->in_blob) {
		m->in_blob = 1;
		m->offset = t->blob_offset;
		m->length = t->nbytes;
	} else if (eml_topo_inline_ok(t)) {
		EML_ENSURE(t->nbytes == 0 || t->data != NULL, EML_ERR_TOPO);
		m->inline_data.len = t->nbytes;
		m->inline_data.data = t->data;
	} else {
		/* The one rule that keeps weights out of the topology key. */
		eml_err_set_detail("tensor '%s' carries weight bytes but has no blob reference",
		    str_or_empty(t->name));
		EML_BAIL(EML_ERR_TOPO);
	}
	*out = m;
	return EML_OK;
}

static eml_err enc_graph(struct pool *pl, const struct eml_graph *g, Eml__Topo__Graph **out,
    int depth);

static eml_err
enc_attr(struct pool *pl, const struct eml_attr *a, Eml__Topo__Attr *m, int depth)
{
	eml__topo__attr__init(m);
	m->name = str_or_empty(a->name);
	m->type = (int32_t)a->type;
	switch (a->type) {
	case EML_ATTR_FLOAT:
		m->f = a->f;
		break;
	case EML_ATTR_INT:
		m->i = a->i;
		break;
	case EML_ATTR_STRING:
		m->s.data = (uint8_t *)a->s;
		m->s.len = a->s != NULL ? a->s_len : 0;
		break;
	case EML_ATTR_TENSOR:
		EML_ENSURE(a->t != NULL, EML_ERR_TOPO);
		EML_GUARD(enc_tensor(pl, a->t, &m->t));
		break;
	case EML_ATTR_FLOATS:
		m->floats = a->floats;
		m->n_floats = a->floats != NULL ? a->n : 0;
		break;
	case EML_ATTR_INTS:
		m->ints = a->ints;
		m->n_ints = a->ints != NULL ? a->n : 0;
		break;
	case EML_ATTR_STRINGS:
		if (a->n > 0) {
			EML_ENSURE(a->strings != NULL, EML_ERR_TOPO);
			m->strings = pool_alloc(pl, a->n, sizeof(*m->strings));
			EML_ENSURE(m->strings != NULL, EML_ERR_NOMEM);
			for (size_t i = 0; i < a->n; i++) {
				char *s = str_or_empty(a->strings[i]);

				m->strings[i].data = (uint8_t *)s;
				m->strings[i].len = strlen(s);
			}
			m->n_strings = a->n;
		}
		break;
	case EML_ATTR_GRAPH:
		if (a->g == NULL) {
			eml_err_set_detail("attribute '%s' has no subgraph", str_or_empty(a->name));
			EML_BAIL(EML_ERR_TOPO);
		}
		pl->n_sub++;
		EML_GUARD(enc_graph(pl, a->g, &m->g, depth + 1));
		break;
	case EML_ATTR_UNDEFINED:
	default:
		eml_err_set_detail("attribute '%s' has no type", str_or_empty(a->name));
		EML_BAIL(EML_ERR_TOPO);
	}
	return EML_OK;
}

static eml_err
enc_node(struct pool *pl, const struct eml_node *n, Eml__Topo__Node **out, int depth)
{
	Eml__Topo__Node *m = pool_alloc(pl, 1, sizeof(*m));

	EML_ENSURE(m != NULL, EML_ERR_NOMEM);
	eml__topo__node__init(m);
	m->name = str_or_empty(n->name);
	m->op_type = str_or_empty(n->op_type);
	m->domain = str_or_empty(n->domain);
	if (n->n_inputs > 0) {
		m->inputs = pool_alloc(pl, n->n_inputs, sizeof(char *));
		EML_ENSURE(m->inputs != NULL, EML_ERR_NOMEM);
		for (size_t i = 0; i < n->n_inputs; i++)
			m->inputs[i] = str_or_empty(n->inputs[i]);
		m->n_inputs = n->n_inputs;
	}
	if (n->n_outputs > 0) {
		m->outputs = pool_alloc(pl, n->n_outputs, sizeof(char *));
		EML_ENSURE(m->outputs != NULL, EML_ERR_NOMEM);
		for (size_t i = 0; i < n->n_outputs; i++)
			m->outputs[i] = str_or_empty(n->outputs[i]);
		m->n_outputs = n->n_outputs;
	}
	if (n->n_attrs > 0) {
		Eml__Topo__Attr *attrs = pool_alloc(pl, n->n_attrs, sizeof(*attrs));

		m->attrs = pool_alloc(pl, n->n_attrs, sizeof(*m->attrs));
		EML_ENSURE(attrs != NULL && m->attrs != NULL, EML_ERR_NOMEM);
		for (size_t i = 0; i < n->n_attrs; i++) {
			EML_GUARD(enc_attr(pl, &n->attrs[i], &attrs[i], depth));
			m->attrs[i] = &attrs[i];
		}
		m->n_attrs = n->n_attrs;
	}
	*out = m;
	return EML_OK;
}

static eml_err
enc_vinfos(struct pool *pl, const struct eml_value_info *v, size_t n, Eml__Topo__ValueInfo ***out,
    size_t *n_out)
{
	Eml__Topo__ValueInfo **arr;
	Eml__Topo__ValueInfo *ms;

	*n_out = 0;
	if (n == 0)
		return EML_OK;
	arr = pool_alloc(pl, n, sizeof(*arr));
	ms = pool_alloc(pl, n, sizeof(*ms));
	EML_ENSURE(arr != NULL && ms != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < n; i++) {
		Eml__Topo__ValueInfo *m = &ms[i];

		eml__topo__value_info__init(m);
		m->name = str_or_empty(v[i].name);
		m->dtype = (int32_t)v[i].dtype;
		m->rank = v[i].rank;
		EML_ENSURE(v[i].rank >= -1 && v[i].rank <= EML_MAX_RANK, EML_ERR_TOPO);
		if (v[i].rank > 0) {
			Eml__Topo__Dim **dp = pool_alloc(pl, (size_t)v[i].rank, sizeof(*dp));
			Eml__Topo__Dim *ds = pool_alloc(pl, (size_t)v[i].rank, sizeof(*ds));

			EML_ENSURE(dp != NULL && ds != NULL, EML_ERR_NOMEM);
			for (int d = 0; d < v[i].rank; d++) {
				eml__topo__dim__init(&ds[d]);
				ds[d].value = v[i].dims[d].value;
				ds[d].symbol = str_or_empty(v[i].dims[d].symbol);
				dp[d] = &ds[d];
			}
			m->dims = dp;
			m->n_dims = (size_t)v[i].rank;
		}
		arr[i] = m;
	}
	*out = arr;
	*n_out = n;
	return EML_OK;
}

static eml_err
enc_graph(struct pool *pl, const struct eml_graph *g, Eml__Topo__Graph **out, int depth)
{
	Eml__Topo__Graph *mg = pool_alloc(pl, 1, sizeof(*mg));

	EML_ENSURE(mg != NULL, EML_ERR_NOMEM);
	if (depth > EML_GRAPH_MAX_DEPTH) {
		eml_err_set_detail("subgraphs nested deeper than %d", EML_GRAPH_MAX_DEPTH);
		EML_BAIL(EML_ERR_GRAPH_LIMIT);
	}
	eml__topo__graph__init(mg);
	mg->name = str_or_empty(g->name);
	mg->opset = g->opset;
	if (g->n_nodes > 0) {
		mg->nodes = pool_alloc(pl, g->n_nodes, sizeof(*mg->nodes));
		EML_ENSURE(mg->nodes != NULL, EML_ERR_NOMEM);
		for (size_t i = 0; i < g->n_nodes; i++)
			EML_GUARD(enc_node(pl, &g->nodes[i], &mg->nodes[i], depth));
		mg->n_nodes = g->n_nodes;
	}
	if (g->n_initializers > 0) {
		mg->initializers = pool_alloc(pl, g->n_initializers, sizeof(*mg->initializers));
		EML_ENSURE(mg->initializers != NULL, EML_ERR_NOMEM);
		for (size_t i = 0; i < g->n_initializers; i++)
			EML_GUARD(enc_tensor(pl, &g->initializers[i], &mg->initializers[i]));
		mg->n_initializers = g->n_initializers;
	}
	EML_GUARD(enc_vinfos(pl, g->inputs, g->n_inputs, &mg->inputs, &mg->n_inputs));
	EML_GUARD(enc_vinfos(pl, g->outputs, g->n_outputs, &mg->outputs, &mg->n_outputs));
	EML_GUARD(enc_vinfos(pl, g->value_infos, g->n_value_infos, &mg->value_infos,
	    &mg->n_value_infos));
	*out = mg;
	return EML_OK;
}

static eml_err
enc_all(struct pool *pl, const struct eml_graph *g, const struct eml_topo_blob *b,
    Eml__Topo__TopologyKey *key)
{
	Eml__Topo__Graph *mg = NULL;
	Eml__Topo__BlobRef *mb = pool_alloc(pl, 1, sizeof(*mb));

	EML_ENSURE(mb != NULL, EML_ERR_NOMEM);
	eml__topo__blob_ref__init(mb);
	EML_GUARD(enc_graph(pl, g, &mg, 0));
	mb->content_id.data = (uint8_t *)(uintptr_t)b->content_id;
	mb->content_id.len = sizeof(b->content_id);
	mb->key.data = (uint8_t *)(uintptr_t)b->key;
	mb->key.len = sizeof(b->key);
	mb->cipher = b->cipher;
	mb->chunk_size = b->chunk_size;
	mb->plaintext_length = b->plaintext_length;
	mb->file_size = b->file_size;
	/* Version 2 only when needed: every key without subgraphs stays
	 * what version 1 writers made, byte for byte. */
	key->version = pl->n_sub > 0 ? EML_TOPO_VERSION_SUBGRAPHS : EML_TOPO_VERSION;
	key->graph = mg;
	key->blob = mb;
	return EML_OK;
}

eml_err
eml_topo_encode(const struct eml_graph *g, const struct eml_topo_blob *b, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__Topo__TopologyKey key = EML__TOPO__TOPOLOGY_KEY__INIT;
	struct pool pl = { NULL, 0 };
	uint8_t *where;
	size_t n;

	if (g == NULL || b == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
	if ((pl.r = eml_region_new(POOL_FIRST_BLOCK)) == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	rc = enc_all(&pl, g, b, &key);
	if (rc != EML_OK)
		goto out;
	n = eml__topo__topology_key__get_packed_size(&key);
	if (n > EML_TOPO_MAX_LEN)
		EML_FAIL(rc, EML_ERR_PROTO_TOO_LARGE);
	rc = eml_buf_extend(out, n, &where);
	if (rc != EML_OK)
		goto out;
	if (eml__topo__topology_key__pack(&key, where) != n)
		EML_FAIL(rc, EML_ERR_INTERNAL);
	rc = EML_OK;
out:
	eml_region_free(pl.r);
	return rc;
}
