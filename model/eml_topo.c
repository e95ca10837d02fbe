#include "eml_topo.h"

#include <string.h>

#include "eml_mem.h"
#include "proto/topo.pb-c.h"

/* ---------------------------------------------------------------- memory */

/* protobuf-c allocator: everything an unpacked topology key holds is
 * secret, so each block remembers its size and is wiped when freed. */
#define PB_HDR 16

static void *
pb_alloc(void *data, size_t n)
{
	uint8_t *b;
	size_t total;

	(void)data;
	if (eml_add_overflow(n, (size_t)PB_HDR, &total))
		return NULL;
	b = eml_alloc(total);
	if (b == NULL)
		return NULL;
	memcpy(b, &n, sizeof(n));
	return b + PB_HDR;
}

static void
pb_free(void *data, void *p)
{
	uint8_t *b;
	size_t n;

	(void)data;
	if (p == NULL)
		return;
	b = (uint8_t *)p - PB_HDR;
	memcpy(&n, b, sizeof(n));
	eml_free_wipe(b, n + PB_HDR);
}

static ProtobufCAllocator pb_allocator = { pb_alloc, pb_free, NULL };

/* A list of blocks for building messages to pack; freed (wiped) at once. */
struct pool_blk {
	struct pool_blk *next;
	size_t n;
};

struct pool {
	struct pool_blk *head;
};

static void *
pool_alloc(struct pool *pl, size_t nmemb, size_t size)
{
	struct pool_blk *b;
	size_t n;
	size_t total;

	if (eml_mul_overflow(nmemb, size, &n) ||
	    eml_add_overflow(n, sizeof(struct pool_blk) + 15, &total))
		return NULL;
	b = eml_calloc(1, total & ~(size_t)15);
	if (b == NULL)
		return NULL;
	b->n = total & ~(size_t)15;
	b->next = pl->head;
	pl->head = b;
	/* struct pool_blk is 16 bytes on LP64: the payload stays aligned. */
	return (uint8_t *)b + ((sizeof(struct pool_blk) + 15) & ~(size_t)15);
}

static void
pool_free(struct pool *pl)
{
	while (pl->head != NULL) {
		struct pool_blk *b = pl->head;

		pl->head = b->next;
		eml_free_wipe(b, b->n);
	}
}

static char empty_str[1] = "";

static char *
str_or_empty(char *s)
{
	return s != NULL ? s : empty_str;
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

static eml_err
tensor_nbytes(enum eml_dtype dt, int rank, const int64_t *dims, size_t *out)
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

/* ---------------------------------------------------------------- encode */

static eml_err
enc_tensor(struct pool *pl, const struct eml_tensor *t, Eml__Topo__Tensor **out)
{
	Eml__Topo__Tensor *m;
	size_t nbytes;

	EML_ENSURE(t->rank >= 0 && t->rank <= EML_MAX_RANK, EML_ERR_TOPO);
	if (tensor_nbytes(t->dtype, t->rank, t->dims, &nbytes) != EML_OK || nbytes != t->nbytes) {
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

static eml_err
enc_attr(struct pool *pl, const struct eml_attr *a, Eml__Topo__Attr *m)
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
		eml_err_set_detail("attribute '%s': subgraphs are not supported",
		    str_or_empty(a->name));
		EML_BAIL(EML_ERR_UNSUPPORTED);
	case EML_ATTR_UNDEFINED:
	default:
		eml_err_set_detail("attribute '%s' has no type", str_or_empty(a->name));
		EML_BAIL(EML_ERR_TOPO);
	}
	return EML_OK;
}

static eml_err
enc_node(struct pool *pl, const struct eml_node *n, Eml__Topo__Node **out)
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
			EML_GUARD(enc_attr(pl, &n->attrs[i], &attrs[i]));
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
enc_all(struct pool *pl, const struct eml_graph *g, const struct eml_topo_blob *b,
    Eml__Topo__TopologyKey *key)
{
	Eml__Topo__Graph *mg = pool_alloc(pl, 1, sizeof(*mg));
	Eml__Topo__BlobRef *mb = pool_alloc(pl, 1, sizeof(*mb));

	EML_ENSURE(mg != NULL && mb != NULL, EML_ERR_NOMEM);
	eml__topo__graph__init(mg);
	eml__topo__blob_ref__init(mb);
	mg->name = str_or_empty(g->name);
	mg->opset = g->opset;
	if (g->n_nodes > 0) {
		mg->nodes = pool_alloc(pl, g->n_nodes, sizeof(*mg->nodes));
		EML_ENSURE(mg->nodes != NULL, EML_ERR_NOMEM);
		for (size_t i = 0; i < g->n_nodes; i++)
			EML_GUARD(enc_node(pl, &g->nodes[i], &mg->nodes[i]));
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
	mb->content_id.data = (uint8_t *)(uintptr_t)b->content_id;
	mb->content_id.len = sizeof(b->content_id);
	mb->key.data = (uint8_t *)(uintptr_t)b->key;
	mb->key.len = sizeof(b->key);
	mb->cipher = b->cipher;
	mb->chunk_size = b->chunk_size;
	mb->plaintext_length = b->plaintext_length;
	mb->file_size = b->file_size;
	key->version = EML_TOPO_VERSION;
	key->graph = mg;
	key->blob = mb;
	return EML_OK;
}

eml_err
eml_topo_encode(const struct eml_graph *g, const struct eml_topo_blob *b, struct eml_buf *out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__Topo__TopologyKey key = EML__TOPO__TOPOLOGY_KEY__INIT;
	struct pool pl = { NULL };
	uint8_t *where;
	size_t n;

	if (g == NULL || b == NULL || out == NULL)
		EML_FAIL(rc, EML_ERR_NULL);
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
	pool_free(&pl);
	return rc;
}

/* ---------------------------------------------------------------- decode */

#define TOPO_FAIL(rc, err, ...)                                                \
	do {                                                                   \
		eml_err_set_detail(__VA_ARGS__);                               \
		EML_FAIL(rc, err);                                             \
	} while (0)

static eml_err
dup_str(const char *s, char **out)
{
	*out = eml_strdup(s != NULL ? s : "");
	EML_ENSURE(*out != NULL, EML_ERR_NOMEM);
	return EML_OK;
}

/* NULL for "" (the graph uses NULL for an absent symbol). */
static eml_err
dup_str_opt(const char *s, char **out)
{
	*out = NULL;
	if (s == NULL || s[0] == '\0')
		return EML_OK;
	return dup_str(s, out);
}

static eml_err
dup_bytes_str(const ProtobufCBinaryData *b, char **out)
{
	char *s;

	EML_ENSURE(b->len < SIZE_MAX, EML_ERR_OVERFLOW);
	s = eml_alloc(b->len + 1);
	EML_ENSURE(s != NULL, EML_ERR_NOMEM);
	EML_MEMCPY(s, b->data, b->len);
	s[b->len] = '\0';
	*out = s;
	return EML_OK;
}

static bool
dtype_known(int32_t dt)
{
	return dt >= EML_DT_UNDEFINED && dt <= EML_DT_UINT64;
}

static eml_err
dec_tensor(const Eml__Topo__Tensor *m, const struct eml_topo_blob *b, struct eml_tensor *t)
{
	size_t nbytes;
	uint64_t end;

	EML_GUARD(dup_str(m->name, &t->name));
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
	if (tensor_nbytes(t->dtype, t->rank, t->dims, &nbytes) != EML_OK) {
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

static eml_err
dec_attr(const Eml__Topo__Attr *m, const struct eml_topo_blob *b, struct eml_attr *a)
{
	EML_GUARD(dup_str(m->name, &a->name));
	/* Only the field of the declared type may be set. */
	if (m->type < EML_ATTR_FLOAT || m->type > EML_ATTR_STRINGS || m->type == EML_ATTR_GRAPH ||
	    (m->t != NULL && m->type != EML_ATTR_TENSOR) ||
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
		EML_GUARD(dup_bytes_str(&m->s, &a->s));
		a->s_len = m->s.len;
		break;
	case EML_ATTR_TENSOR:
		if (m->t == NULL) {
			eml_err_set_detail("attribute '%s': tensor missing", a->name);
			EML_BAIL(EML_ERR_TOPO);
		}
		a->t = eml_calloc(1, sizeof(*a->t));
		EML_ENSURE(a->t != NULL, EML_ERR_NOMEM);
		EML_GUARD(dec_tensor(m->t, b, a->t));
		break;
	case EML_ATTR_FLOATS:
		a->floats = eml_calloc(m->n_floats, sizeof(float));
		EML_ENSURE(a->floats != NULL, EML_ERR_NOMEM);
		a->n = m->n_floats;
		EML_MEMCPY(a->floats, m->floats, m->n_floats * sizeof(float));
		break;
	case EML_ATTR_INTS:
		a->ints = eml_calloc(m->n_ints, sizeof(int64_t));
		EML_ENSURE(a->ints != NULL, EML_ERR_NOMEM);
		a->n = m->n_ints;
		EML_MEMCPY(a->ints, m->ints, m->n_ints * sizeof(int64_t));
		break;
	case EML_ATTR_STRINGS:
		a->strings = eml_calloc(m->n_strings, sizeof(char *));
		EML_ENSURE(a->strings != NULL, EML_ERR_NOMEM);
		a->n = m->n_strings;
		for (size_t i = 0; i < m->n_strings; i++)
			EML_GUARD(dup_bytes_str(&m->strings[i], &a->strings[i]));
		break;
	case EML_ATTR_GRAPH:
	case EML_ATTR_UNDEFINED:
	default:
		EML_BAIL(EML_ERR_TOPO);
	}
	return EML_OK;
}

static eml_err
dec_strv(char *const *src, size_t n, char ***dst, size_t *n_dst)
{
	if (n == 0)
		return EML_OK;
	*dst = eml_calloc(n, sizeof(char *));
	EML_ENSURE(*dst != NULL, EML_ERR_NOMEM);
	*n_dst = n;
	for (size_t i = 0; i < n; i++)
		EML_GUARD(dup_str(src[i], &(*dst)[i]));
	return EML_OK;
}

static eml_err
dec_node(const Eml__Topo__Node *m, const struct eml_topo_blob *b, struct eml_node *n)
{
	EML_GUARD(dup_str(m->name, &n->name));
	if (m->op_type == NULL || m->op_type[0] == '\0') {
		eml_err_set_detail("node '%s' has no operator", n->name);
		EML_BAIL(EML_ERR_TOPO);
	}
	EML_GUARD(dup_str(m->op_type, &n->op_type));
	EML_GUARD(dup_str(m->domain, &n->domain));
	EML_GUARD(dec_strv(m->inputs, m->n_inputs, &n->inputs, &n->n_inputs));
	EML_GUARD(dec_strv(m->outputs, m->n_outputs, &n->outputs, &n->n_outputs));
	if (m->n_attrs == 0)
		return EML_OK;
	n->attrs = eml_calloc(m->n_attrs, sizeof(*n->attrs));
	EML_ENSURE(n->attrs != NULL, EML_ERR_NOMEM);
	n->n_attrs = m->n_attrs;
	for (size_t i = 0; i < m->n_attrs; i++)
		EML_GUARD(dec_attr(m->attrs[i], b, &n->attrs[i]));
	return EML_OK;
}

static eml_err
dec_vinfos(Eml__Topo__ValueInfo *const *src, size_t n, struct eml_value_info **dst, size_t *n_dst)
{
	if (n == 0)
		return EML_OK;
	*dst = eml_calloc(n, sizeof(**dst));
	EML_ENSURE(*dst != NULL, EML_ERR_NOMEM);
	*n_dst = n;
	for (size_t i = 0; i < n; i++) {
		const Eml__Topo__ValueInfo *m = src[i];
		struct eml_value_info *v = &(*dst)[i];

		EML_GUARD(dup_str(m->name, &v->name));
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
			EML_GUARD(dup_str_opt(m->dims[d]->symbol, &v->dims[d].symbol));
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

static eml_err
dec_graph(const Eml__Topo__Graph *m, const struct eml_topo_blob *b, struct eml_graph *g)
{
	EML_GUARD(dup_str(m->name, &g->name));
	g->opset = m->opset;
	if (m->n_nodes > 0) {
		g->nodes = eml_calloc(m->n_nodes, sizeof(*g->nodes));
		EML_ENSURE(g->nodes != NULL, EML_ERR_NOMEM);
		g->n_nodes = m->n_nodes;
		for (size_t i = 0; i < m->n_nodes; i++)
			EML_GUARD(dec_node(m->nodes[i], b, &g->nodes[i]));
	}
	if (m->n_initializers > 0) {
		g->initializers = eml_calloc(m->n_initializers, sizeof(*g->initializers));
		EML_ENSURE(g->initializers != NULL, EML_ERR_NOMEM);
		g->n_initializers = m->n_initializers;
		for (size_t i = 0; i < m->n_initializers; i++)
			EML_GUARD(dec_tensor(m->initializers[i], b, &g->initializers[i]));
	}
	EML_GUARD(dec_vinfos(m->inputs, m->n_inputs, &g->inputs, &g->n_inputs));
	EML_GUARD(dec_vinfos(m->outputs, m->n_outputs, &g->outputs, &g->n_outputs));
	EML_GUARD(dec_vinfos(m->value_infos, m->n_value_infos, &g->value_infos, &g->n_value_infos));
	return EML_OK;
}

eml_err
eml_topo_decode(const uint8_t *p, size_t n, struct eml_topo **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	Eml__Topo__TopologyKey *m = NULL;
	struct eml_topo *t = NULL;

	if (out == NULL || (p == NULL && n != 0))
		EML_FAIL(rc, EML_ERR_NULL);
	*out = NULL;
	if (n > EML_TOPO_MAX_LEN)
		EML_FAIL(rc, EML_ERR_PROTO_TOO_LARGE);
	rc = eml_mem_init();
	if (rc != EML_OK)
		goto out;
	m = eml__topo__topology_key__unpack(&pb_allocator, n, p);
	if (m == NULL)
		TOPO_FAIL(rc, EML_ERR_TOPO, "topology key does not decode");
	if (m->version != EML_TOPO_VERSION)
		TOPO_FAIL(rc, EML_ERR_TOPO_VERSION, "version %u", (unsigned)m->version);
	if (m->graph == NULL)
		TOPO_FAIL(rc, EML_ERR_TOPO, "graph missing");
	t = eml_calloc(1, sizeof(*t));
	if (t == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	t->blob = eml_secure_alloc(sizeof(*t->blob));
	t->graph = eml_graph_new();
	if (t->blob == NULL || t->graph == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	rc = dec_blob(m->blob, t->blob);
	if (rc != EML_OK)
		goto out;
	rc = dec_graph(m->graph, t->blob, t->graph);
	if (rc != EML_OK)
		goto out;
	*out = t;
	t = NULL; /* transferred */
	rc = EML_OK;
out:
	if (m != NULL)
		eml__topo__topology_key__free_unpacked(m, &pb_allocator);
	eml_topo_free(t);
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
