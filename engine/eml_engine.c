#include "engine_int.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "eml_mem.h"

#define ALIGN 64

/* ---------------------------------------------------------------- helpers */

eml_err
eml_pn_fail(const struct eml_node *n, eml_err err, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	(void)vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	eml_err_set_detail("node %s (%s): %s", n->name, n->op_type, msg);
	return err;
}

struct val *
eml_pn_in(struct eml_plan *p, const struct pnode *pn, size_t k)
{
	if (k >= pn->n_in || pn->in[k] < 0)
		return NULL;
	return &p->v[pn->in[k]];
}

/* Whether a is inside the plan's one list of node inputs and outputs. */
static bool
in_io(const struct eml_plan *p, const int *a)
{
	uintptr_t x = (uintptr_t)a, lo = (uintptr_t)p->io;

	return p->io != NULL && x >= lo && x < lo + p->n_io * sizeof(int);
}

void
eml_pn_free_in(struct eml_plan *p, struct pnode *pn)
{
	if (!in_io(p, pn->in))
		eml_free(pn->in);
	pn->in = NULL;
}

struct val *
eml_pn_out(struct eml_plan *p, const struct pnode *pn, size_t k)
{
	if (k >= pn->n_out || pn->out[k] < 0)
		return NULL;
	return &p->v[pn->out[k]];
}

static eml_err
shape_bytes(enum eml_dtype dt, int rank, const int64_t *dims, size_t *numel, size_t *nbytes)
{
	size_t n = 1;

	EML_ENSURE(rank >= 0 && rank <= EML_MAX_RANK, EML_ERR_INFER_SHAPE);
	for (int i = 0; i < rank; i++) {
		EML_ENSURE(dims[i] >= 0, EML_ERR_INFER_SHAPE);
		EML_ENSURE(!eml_mul_overflow(n, (size_t)dims[i], &n), EML_ERR_INFER_TOO_LARGE);
	}
	EML_ENSURE(!eml_mul_overflow(n, eml_dtype_size(dt), nbytes), EML_ERR_INFER_TOO_LARGE);
	EML_ENSURE(*nbytes <= EML_ENGINE_MAX_TENSOR_BYTES, EML_ERR_INFER_TOO_LARGE);
	*numel = n;
	return EML_OK;
}

/*
 * float16: a value the graph types float16 is held as float32 (ONNX
 * Runtime's CPU provider computes these operators in float32 between
 * casts) and rounded to float16 after every step that writes it, so it
 * only ever holds float16 values. A float output is float16 when the
 * operator's inputs are (ONNX type constraints make all of them the same
 * type), except where the output type is an attribute or another input's.
 * bfloat16 is held the same way. Returns the narrow type a float output
 * inherits, or EML_DT_UNDEFINED.
 */
enum eml_dtype
eml_f16_inherits(struct eml_plan *p, const struct pnode *pn)
{
	if (strcmp(pn->op->name, "Cast") == 0)
		return EML_DT_UNDEFINED;
	if (strcmp(pn->op->name, "CastLike") == 0) {
		const struct val *t = eml_pn_in(p, pn, 1);
		return t != NULL && t->f16 ? eml_narrow_dt(t) : EML_DT_UNDEFINED;
	}
	for (size_t k = 0; k < pn->n_in; k++) {
		const struct val *x = eml_pn_in(p, pn, k);
		if (x != NULL && x->f16 && x->dt == EML_DT_FLOAT)
			return eml_narrow_dt(x);
	}
	return EML_DT_UNDEFINED;
}

/* The graph's type of v (float16/bfloat16 for a narrow float held wide). */
enum eml_dtype
eml_narrow_dt(const struct val *v)
{
	if (!v->f16)
		return v->dt;
	return v->bf16 ? EML_DT_BFLOAT16 : EML_DT_FLOAT16;
}

/* numel of v's narrow type at x, widened into y. */
void
eml_narrow_widen(const struct val *v, const void *x, float *y)
{
	if (v->bf16)
		eml_bf16_to_f32(v->numel, x, y);
	else
		eml_f16_to_f32(v->numel, x, y);
}

static void
narrow_round(const struct val *v)
{
	if (v->bf16)
		eml_f32_round_bf16(v->numel, v->data, v->data);
	else
		eml_f32_round_f16(v->numel, v->data, v->data);
}

static bool
is_narrow(enum eml_dtype dt)
{
	return dt == EML_DT_FLOAT16 || dt == EML_DT_BFLOAT16;
}

/* Rounds pn's float16 outputs (not aliases: their input already is). */
static void
round_f16_outputs(struct eml_plan *p, const struct pnode *pn)
{
	if ((pn->op->flags & OPF_ALIAS) != 0 || pn->rounded)
		return;
	for (size_t k = 0; k < pn->n_out; k++) {
		struct val *o = eml_pn_out(p, pn, k);
		if (o != NULL && o->f16 && o->data != NULL)
			narrow_round(o);
	}
}

eml_err
eml_pn_set_out(struct eml_plan *p, struct pnode *pn, size_t k, enum eml_dtype dt, int rank,
    const int64_t *dims)
{
	struct val *v = eml_pn_out(p, pn, k);
	eml_err rc;

	if (v == NULL)
		return EML_OK;
	if (rank < 0 || rank > EML_MAX_RANK)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "output rank %d", rank);
	for (int i = 0; i < rank; i++)
		if (dims[i] < 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "negative output dimension %lld", (long long)dims[i]);
	rc = shape_bytes(dt, rank, dims, &v->numel, &v->nbytes);
	if (rc == EML_OK && p->opts.max_tensor_bytes != 0 && v->nbytes > p->opts.max_tensor_bytes)
		rc = EML_ERR_INFER_TOO_LARGE;
	if (rc != EML_OK)
		return eml_pn_fail(pn->n, rc, "output too large");
	if (dt == EML_DT_FLOAT) {
		enum eml_dtype nd = eml_f16_inherits(p, pn);
		if (nd != EML_DT_UNDEFINED)
			dt = nd;
	}
	v->f16 = is_narrow(dt);
	v->bf16 = dt == EML_DT_BFLOAT16;
	if (v->f16) {
		dt = EML_DT_FLOAT;
		v->nbytes *= 2;
	}
	v->dt = dt;
	v->rank = rank;
	for (int i = 0; i < rank; i++)
		v->dims[i] = dims[i];
	v->kind = VK_ACT;
	return EML_OK;
}

eml_err
eml_pn_const_ints(struct eml_plan *p, struct pnode *pn, size_t k, int64_t *out, size_t max,
    size_t *n)
{
	struct val *v = eml_pn_in(p, pn, k);

	if (v == NULL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "input %zu missing", k);
	if (v->kind != VK_CONST)
		return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
		    "input %s must be constant (data-dependent shapes are not supported)",
		    v->name);
	if (v->dt != EML_DT_INT64 && v->dt != EML_DT_INT32)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "input %s must be int64", v->name);
	if (v->numel > max || v->rank > 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input %s: bad shape", v->name);
	for (size_t i = 0; i < v->numel; i++) {
		if (v->dt == EML_DT_INT64) {
			int64_t x = 0;
			EML_MEMCPY(&x, (const uint8_t *)v->data + 8 * i, 8);
			out[i] = x;
		} else {
			int32_t x = 0;
			EML_MEMCPY(&x, (const uint8_t *)v->data + 4 * i, 4);
			out[i] = x;
		}
	}
	*n = v->numel;
	return EML_OK;
}

eml_err
eml_pn_const_float(struct eml_plan *p, struct pnode *pn, size_t k, float *out)
{
	struct val *v = eml_pn_in(p, pn, k);

	if (v == NULL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "input %zu missing", k);
	if (v->kind != VK_CONST)
		return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST, "input %s must be constant",
		    v->name);
	if (v->dt != EML_DT_FLOAT || v->numel != 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE,
		    "input %s must be a float32 scalar", v->name);
	*out = vf(v)[0];
	return EML_OK;
}

eml_err
eml_pn_need_dtype(struct eml_plan *p, struct pnode *pn, size_t k, unsigned mask)
{
	struct val *v = eml_pn_in(p, pn, k);

	if (v == NULL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "input %zu missing", k);
	if ((unsigned)v->dt >= 16 || (mask & DTM(v->dt)) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "input %s: %s not supported",
		    v->name, eml_dtype_name(v->dt));
	return EML_OK;
}

eml_err
eml_axis(const struct eml_node *n, int64_t axis, int rank, int extra, int *out)
{
	int64_t r = rank + extra;

	/* Negative axes count from the end of the rank r the axis refers
	 * to (Flatten's axis may equal rank: extra = 1, -1 means rank-1). */
	if (axis < -r + extra || axis >= r)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "axis %lld out of range for rank %d",
		    (long long)axis, rank);
	*out = (int)(axis < 0 ? axis + rank : axis);
	return EML_OK;
}

eml_err
eml_bcast(const struct eml_node *n, const struct val *a, const struct val *b, int *rank,
    int64_t *dims)
{
	int r = a->rank > b->rank ? a->rank : b->rank;

	for (int i = 0; i < r; i++) {
		int ia = i - (r - a->rank), ib = i - (r - b->rank);
		int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
		if (da == db || db == 1)
			dims[i] = da;
		else if (da == 1)
			dims[i] = db;
		else
			return eml_pn_fail(n, EML_ERR_INFER_SHAPE,
			    "cannot broadcast %s and %s (dim %d: %lld vs %lld)", a->name, b->name,
			    i, (long long)da, (long long)db);
	}
	*rank = r;
	return EML_OK;
}

void
eml_bcast_strides(const struct val *v, int rank, const int64_t *dims, size_t *strides)
{
	size_t s = 1;

	for (int i = rank - 1; i >= 0; i--) {
		int iv = i - (rank - v->rank);
		int64_t d = iv >= 0 ? v->dims[iv] : 1;
		strides[i] = (d == 1 && dims[i] != 1) ? 0 : s;
		if (d == 1 && dims[i] != 1)
			strides[i] = 0;
		s *= (size_t)d;
	}
}

/* ---------------------------------------------------------------- check */

/* Whether node n can run at this opset; its parameters into *par, its
 * operator into *opp. */
static eml_err
check_node(const struct eml_node *n, int64_t opset, struct op_par *par, const struct op **opp)
{
	const struct op *op;

	if (n->domain != NULL && n->domain[0] != '\0' && strcmp(n->domain, "ai.onnx") != 0)
		return eml_pn_fail(n, EML_ERR_INFER_OP, "domain %s not supported", n->domain);
	op = eml_ops_find(n->op_type);
	if (op == NULL)
		return eml_pn_fail(n, EML_ERR_INFER_OP, "operator %s not supported", n->op_type);
	*opp = op;
	if ((int64_t)n->n_inputs < op->min_in || (int64_t)n->n_inputs > op->max_in ||
	    (int64_t)n->n_outputs < op->min_out || (int64_t)n->n_outputs > op->max_out)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%zu inputs / %zu outputs not supported",
		    n->n_inputs, n->n_outputs);
	if (n->n_outputs > 0 && n->outputs[0][0] == '\0' && (op->flags & OPF_OUT0_OPTIONAL) == 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "first output has no name");
	return eml_op_parse(op, n, opset, par);
}

eml_err
eml_engine_check_node(const struct eml_node *n, int64_t opset, char *why, size_t why_len)
{
	struct op_par par;
	const struct op *op;
	eml_err rc;

	EML_ENSURE(n != NULL, EML_ERR_NULL);
	eml_err_clear_detail();
	rc = check_node(n, opset, &par, &op);
	if (rc != EML_OK && why != NULL && why_len > 0)
		(void)snprintf(why, why_len, "%s", eml_err_detail());
	return rc;
}

/* What checking the nodes of one graph found, kept for its model. */
struct eml_node_checks {
	const struct eml_graph *g;
	const struct op **ops;
	struct op_par *par;
	size_t n_par; /* entries of par, for the wipe */
	size_t n_ok;  /* nodes 0 .. n_ok - 1 checked, in order */
};

eml_err
eml_node_checks_new(const struct eml_graph *g, struct eml_node_checks **out)
{
	struct eml_node_checks *c;

	EML_ENSURE(g != NULL && out != NULL, EML_ERR_NULL);
	*out = NULL;
	c = eml_calloc(1, sizeof(*c));
	EML_ENSURE(c != NULL, EML_ERR_NOMEM);
	c->g = g;
	c->ops = eml_calloc(g->n_nodes + 1, sizeof(*c->ops));
	c->par = eml_calloc(g->n_nodes + 1, sizeof(*c->par));
	c->n_par = g->n_nodes + 1;
	if (c->ops == NULL || c->par == NULL) {
		eml_node_checks_free(c);
		EML_BAIL(EML_ERR_NOMEM);
	}
	*out = c;
	return EML_OK;
}

void
eml_node_checks_free(struct eml_node_checks *c)
{
	if (c == NULL)
		return;
	eml_free(c->ops);
	/* Parameters are attributes of the secret topology. */
	eml_free_wipe(c->par, c->par == NULL ? 0 : c->n_par * sizeof(*c->par));
	eml_free(c);
}

size_t
eml_node_checks_count(const struct eml_node_checks *c)
{
	return c != NULL && c->ops != NULL ? c->n_ok : 0;
}

eml_err
eml_engine_check_node_keep(void *arg, const struct eml_graph *g, size_t i, char *why,
    size_t why_len)
{
	struct eml_node_checks *c = arg;
	struct op_par par;
	const struct op *op;
	bool keep;
	eml_err rc;

	EML_ENSURE(c != NULL && g != NULL, EML_ERR_NULL);
	EML_ENSURE(i < g->n_nodes, EML_ERR_INTERNAL);
	/* a subgraph's nodes are checked, not kept: their models are
	 * made from a wrapper graph (eml_model_new_sub) */
	keep = g == c->g && c->ops != NULL;
	eml_err_clear_detail();
	rc = check_node(&g->nodes[i], g->opset, keep ? &c->par[i] : &par, keep ? &c->ops[i] : &op);
	if (rc != EML_OK) {
		if (why != NULL && why_len > 0)
			(void)snprintf(why, why_len, "%s", eml_err_detail());
		return rc;
	}
	if (keep && i == c->n_ok)
		c->n_ok++;
	return EML_OK;
}

/* ---------------------------------------------------------------- model */

/* Operators, parameters and (for If, Loop, Scan) sub-models of m->g; the
 * operators and parameters taken from chk when it holds every node of
 * m->g (validation checked them: parsing them again cost a pass over
 * the graph on every per-request assembly). */
static eml_err
model_init(struct eml_model *m, struct eml_node_checks *chk)
{
	bool kept = chk != NULL && chk->g == m->g && chk->ops != NULL &&
	    chk->n_ok == m->g->n_nodes;

	if (kept) {
		m->ops = chk->ops;
		m->par = chk->par;
		chk->ops = NULL;
		chk->par = NULL;
	} else {
		m->ops = eml_calloc(m->g->n_nodes + 1, sizeof(*m->ops));
		m->par = eml_calloc(m->g->n_nodes + 1, sizeof(*m->par));
		EML_ENSURE(m->ops != NULL && m->par != NULL, EML_ERR_NOMEM);
	}
	for (size_t i = 0; i < m->g->n_nodes; i++) {
		if (!kept)
			EML_GUARD(check_node(&m->g->nodes[i], m->g->opset, &m->par[i],
			    &m->ops[i]));
		if (eml_node_has_subgraph(&m->g->nodes[i]))
			EML_GUARD(eml_cf_model_node(m, i));
	}
	return EML_OK;
}

eml_err
eml_model_new(struct eml_graph *g, struct eml_model **out)
{
	return eml_model_new_checked(g, NULL, out);
}

eml_err
eml_model_new_checked(struct eml_graph *g, struct eml_node_checks *chk, struct eml_model **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_model *m = NULL;

	if (out == NULL || g == NULL) {
		eml_graph_free(g);
		EML_BAIL(EML_ERR_NULL);
	}
	*out = NULL;
	m = eml_calloc(1, sizeof(*m));
	if (m == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	m->g = g;
	g = NULL; /* transferred */
	eml_err_clear_detail();
	if ((rc = model_init(m, chk)) != EML_OK)
		goto out;
	*out = m;
	m = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_graph_free(g);
	eml_model_free(m);
	return rc;
}

/* Names a subgraph reads from outside, each once, in first-use order. */
struct cap_list {
	struct eml_names seen;
	const char **v;
	size_t n, cap;
};

static eml_err
cap_add(const char *name, void *arg)
{
	struct cap_list *c = arg;

	if (eml_names_get(&c->seen, name, NULL))
		return EML_OK;
	if (c->n == c->cap) {
		size_t nc = c->cap == 0 ? 8 : c->cap * 2;
		const char **nv = eml_calloc(nc, sizeof(*nv));
		EML_ENSURE(nv != NULL, EML_ERR_NOMEM);
		if (c->n > 0)
			EML_MEMCPY(nv, c->v, c->n * sizeof(*nv));
		eml_free(c->v);
		c->v = nv;
		c->cap = nc;
	}
	EML_GUARD(eml_names_put(&c->seen, name, c->n, NULL));
	c->v[c->n++] = name;
	return EML_OK;
}

/* The captures of one subgraph, through a one-attribute node view. */
static eml_err
sub_captures(const struct eml_graph *sub, struct cap_list *c)
{
	struct eml_attr a;
	struct eml_node n;

	memset(&a, 0, sizeof(a));
	memset(&n, 0, sizeof(n));
	a.type = EML_ATTR_GRAPH;
	a.g = (struct eml_graph *)(uintptr_t)sub;
	n.attrs = &a;
	n.n_attrs = 1;
	return eml_node_captures(&n, cap_add, c);
}

static eml_err
wrap_subgraph(const struct eml_graph *sub, const struct cap_list *c, struct eml_model *m)
{
	struct eml_graph *w = eml_calloc(1, sizeof(*w));
	size_t n = sub->n_inputs + c->n;

	EML_ENSURE(w != NULL, EML_ERR_NOMEM);
	*w = *sub;
	m->g = w;
	m->borrowed = true;
	m->n_declared = sub->n_inputs;
	w->inputs = eml_calloc(n + 1, sizeof(*w->inputs));
	EML_ENSURE(w->inputs != NULL, EML_ERR_NOMEM);
	w->n_inputs = n;
	/* dtype undefined, rank unknown: the plan gives both */
	for (size_t i = 0; i < n; i++) {
		w->inputs[i].name = i < sub->n_inputs ? sub->inputs[i].name : (char *)(uintptr_t)
		    c->v[i - sub->n_inputs];
		w->inputs[i].rank = -1;
	}
	return EML_OK;
}

eml_err
eml_model_new_sub(const struct eml_graph *sub, struct eml_model **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_model *m = NULL;
	struct cap_list c;

	memset(&c, 0, sizeof(c));
	*out = NULL;
	if ((rc = eml_names_init(&c.seen, 64)) != EML_OK)
		goto out;
	if ((rc = sub_captures(sub, &c)) != EML_OK)
		goto out;
	m = eml_calloc(1, sizeof(*m));
	if (m == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	if ((rc = wrap_subgraph(sub, &c, m)) != EML_OK || (rc = model_init(m, NULL)) != EML_OK)
		goto out;
	*out = m;
	m = NULL;
	rc = EML_OK;
out:
	eml_names_free(&c.seen);
	eml_free(c.v);
	eml_model_free(m);
	return rc;
}

/* Which model slot a subgraph attribute fills. */
static int
sub_slot(const char *attr)
{
	if (strcmp(attr, "then_branch") == 0 || strcmp(attr, "body") == 0)
		return 0;
	if (strcmp(attr, "else_branch") == 0)
		return 1;
	return -1;
}

eml_err
eml_cf_model_node(struct eml_model *m, size_t i)
{
	const struct eml_node *n = &m->g->nodes[i];
	struct cap_list c;
	eml_err rc = EML_ERR_INTERNAL;

	if (m->sub == NULL) {
		m->sub = eml_calloc(m->g->n_nodes * CF_SUBS + 1, sizeof(*m->sub));
		m->caps = eml_calloc(m->g->n_nodes + 1, sizeof(*m->caps));
		m->n_caps = eml_calloc(m->g->n_nodes + 1, sizeof(*m->n_caps));
		EML_ENSURE(m->sub != NULL && m->caps != NULL && m->n_caps != NULL, EML_ERR_NOMEM);
	}
	for (size_t j = 0; j < n->n_attrs; j++) {
		int slot = sub_slot(n->attrs[j].name);
		if (n->attrs[j].type != EML_ATTR_GRAPH || n->attrs[j].g == NULL)
			continue;
		if (slot < 0 || m->sub[i * CF_SUBS + (size_t)slot] != NULL)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "subgraph %s not supported",
			    n->attrs[j].name);
		EML_GUARD(eml_model_new_sub(n->attrs[j].g, &m->sub[i * CF_SUBS + (size_t)slot]));
	}
	memset(&c, 0, sizeof(c));
	if ((rc = eml_names_init(&c.seen, 64)) == EML_OK &&
	    (rc = eml_node_captures(n, cap_add, &c)) == EML_OK) {
		m->caps[i] = c.v;
		m->n_caps[i] = c.n;
		c.v = NULL;
	}
	eml_names_free(&c.seen);
	eml_free(c.v);
	return rc;
}

void
eml_model_free(struct eml_model *m)
{
	if (m == NULL)
		return;
	if (m->sub != NULL)
		for (size_t i = 0; i < m->g->n_nodes * CF_SUBS; i++)
			eml_model_free(m->sub[i]);
	if (m->caps != NULL)
		for (size_t i = 0; i < m->g->n_nodes; i++)
			eml_free(m->caps[i]);
	eml_free(m->sub);
	eml_free(m->caps);
	eml_free(m->n_caps);
	/* Parameters are attributes of the secret topology: wiped like the graph. */
	if (m->g != NULL)
		eml_free_wipe(m->par, (m->g->n_nodes + 1) * sizeof(*m->par));
	else
		eml_free(m->par);
	if (m->borrowed) {
		if (m->g != NULL) {
			eml_free_wipe(m->g->inputs, m->g->n_inputs * sizeof(*m->g->inputs));
			eml_free_wipe(m->g, sizeof(*m->g));
		}
	} else {
		eml_graph_free(m->g);
	}
	eml_free(m->ops);
	eml_free(m);
}

const struct eml_graph *
eml_model_graph(const struct eml_model *m)
{
	return m == NULL ? NULL : m->g;
}

/* ---------------------------------------------------------------- plan */

static eml_err
add_val(struct eml_plan *p, const char *name, int *idx)
{
	size_t k;

	/* Every value is defined once (initializer, graph input or node
	 * output): a second definition would make two writers share one
	 * buffer sized for the first. Refused even when no validator ran. */
	if (eml_names_get(&p->names, name, &k)) {
		eml_err_set_detail("value %s defined twice", name);
		EML_BAIL(EML_ERR_GRAPH_DUP_VALUE);
	}
	k = p->nv++;
	p->v[k].name = name;
	p->v[k].alias = -1;
	p->v[k].block = -1;
	EML_GUARD(eml_names_put(&p->names, name, k, NULL));
	*idx = (int)k;
	return EML_OK;
}

static eml_err
check_input(const struct eml_value_info *vi, const struct eml_tensor *t)
{
	/* A sub-model's wrapper input: dtype and shape are the plan's. */
	if (vi->dtype == EML_DT_UNDEFINED && vi->rank < 0)
		return EML_OK;
	if (t->dtype != vi->dtype) {
		eml_err_set_detail("input %s: dtype %s, model wants %s", vi->name,
		    eml_dtype_name(t->dtype), eml_dtype_name(vi->dtype));
		EML_BAIL(EML_ERR_INFER_INPUT);
	}
	if (vi->rank >= 0) {
		if (t->rank != vi->rank) {
			eml_err_set_detail("input %s: rank %d, model wants %d", vi->name, t->rank,
			    vi->rank);
			EML_BAIL(EML_ERR_INFER_INPUT);
		}
		for (int i = 0; i < t->rank; i++)
			if (vi->dims[i].value >= 0 && vi->dims[i].value != t->dims[i]) {
				eml_err_set_detail("input %s: dim %d is %lld, model wants %lld",
				    vi->name, i, (long long)t->dims[i],
				    (long long)vi->dims[i].value);
				EML_BAIL(EML_ERR_INFER_INPUT);
			}
	}
	return EML_OK;
}

static eml_err
fold_node(struct eml_plan *p, struct pnode *pn)
{
	eml_err rc = EML_ERR_INTERNAL;
	void *ws = NULL;

	for (size_t k = 0; k < pn->n_out; k++) {
		struct val *o = eml_pn_out(p, pn, k);
		if (o == NULL)
			continue;
		o->data = eml_secure_alloc(o->nbytes == 0 ? 1 : o->nbytes);
		if (o->data == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
		o->owned = true;
		o->kind = VK_CONST;
	}
	if (pn->op->prepare != NULL && (rc = pn->op->prepare(p, pn)) != EML_OK)
		goto out;
	if (pn->ws > 0) {
		ws = eml_secure_alloc(pn->ws);
		if (ws == NULL)
			EML_FAIL(rc, EML_ERR_NOMEM);
	}
	pn->wsp = ws;
	pn->op->run(p, pn);
	round_f16_outputs(p, pn);
	pn->dead = true;
	p->st.n_folded++;
	rc = EML_OK;
out:
	pn->wsp = NULL;
	if (ws != NULL)
		eml_secure_free(ws);
	return rc;
}

static bool
bindable(const struct val *v)
{
	switch (v->dt) {
	case EML_DT_INT64:
	case EML_DT_INT32:
	case EML_DT_BOOL:
		return v->numel <= 64;
	case EML_DT_FLOAT:
		return v->numel <= 8 && v->rank <= 1;
	default:
		return false;
	}
}

/* A value per initializer: constants, pointing into the graph. */
static eml_err
add_initializers(struct eml_plan *p)
{
	const struct eml_graph *g = p->m->g;

	for (size_t i = 0; i < g->n_initializers; i++) {
		const struct eml_tensor *t = &g->initializers[i];
		struct val *v;
		int idx;
		EML_GUARD(add_val(p, t->name, &idx));
		v = &p->v[idx];
		v->kind = VK_CONST;
		v->dt = t->dtype;
		v->rank = t->rank;
		EML_MEMCPY(v->dims, t->dims, sizeof(v->dims));
		EML_GUARD(shape_bytes(t->dtype, t->rank, t->dims, &v->numel, &v->nbytes));
		EML_ENSURE(v->nbytes == t->nbytes, EML_ERR_INTERNAL);
		v->data = t->data;
		if (is_narrow(t->dtype)) {
			/* Stored as float16 (blob, graph); widened once here. */
			v->dt = EML_DT_FLOAT;
			v->f16 = true;
			v->bf16 = t->dtype == EML_DT_BFLOAT16;
			v->nbytes = v->numel * 4;
			v->data = eml_secure_alloc(v->nbytes == 0 ? 1 : v->nbytes);
			EML_ENSURE(v->data != NULL, EML_ERR_NOMEM);
			v->owned = true;
			eml_narrow_widen(v, t->data, v->data);
		}
	}
	return EML_OK;
}

/* A value per graph input with the shape of this call; small ones bound
 * as constants when asked. */
static eml_err
add_inputs(struct eml_plan *p, const struct eml_tensor *inputs, size_t n_inputs)
{
	const struct eml_graph *g = p->m->g;

	if (n_inputs != g->n_inputs) {
		eml_err_set_detail("%zu inputs given, the model has %zu", n_inputs, g->n_inputs);
		EML_BAIL(EML_ERR_INFER_INPUT);
	}
	p->in_idx = eml_calloc(g->n_inputs + 1, sizeof(int));
	p->in_bound = eml_calloc(g->n_inputs + 1, sizeof(bool));
	EML_ENSURE(p->in_bound != NULL, EML_ERR_NOMEM);
	p->out_idx = eml_calloc(g->n_outputs + 1, sizeof(int));
	EML_ENSURE(p->in_idx != NULL && p->out_idx != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < g->n_inputs; i++) {
		struct val *v;
		int idx;
		EML_GUARD(check_input(&g->inputs[i], &inputs[i]));
		EML_GUARD(add_val(p, g->inputs[i].name, &idx));
		v = &p->v[idx];
		v->kind = VK_INPUT;
		v->dt = inputs[i].dtype;
		v->rank = inputs[i].rank;
		EML_MEMCPY(v->dims, inputs[i].dims, sizeof(v->dims));
		EML_GUARD(shape_bytes(v->dt, v->rank, v->dims, &v->numel, &v->nbytes));
		EML_ENSURE(inputs[i].nbytes == v->nbytes, EML_ERR_INFER_INPUT);
		p->in_idx[i] = idx;
		if (is_narrow(v->dt)) {
			/* widened as it is copied in (eml_plan_run) */
			v->bf16 = v->dt == EML_DT_BFLOAT16;
			v->dt = EML_DT_FLOAT;
			v->f16 = true;
			v->nbytes = v->numel * 4;
			continue;
		}
		if (p->sub_const != NULL && p->sub_const[i]) {
			/* an outer constant: borrowed, it outlives the sub-plan */
			v->data = inputs[i].data;
			v->kind = VK_CONST;
			p->in_bound[i] = true;
			continue;
		}
		if (p->opts.bind_small_inputs && inputs[i].data != NULL && bindable(v)) {
			v->data = eml_secure_alloc(v->nbytes == 0 ? 1 : v->nbytes);
			EML_ENSURE(v->data != NULL, EML_ERR_NOMEM);
			EML_MEMCPY(v->data, inputs[i].data, v->nbytes);
			v->owned = true;
			v->kind = VK_CONST;
			p->in_bound[i] = true;
		}
	}
	return EML_OK;
}

/* Node i's inputs and outputs as values, their lists the next slices of
 * p->io from *at; *all_const when every input is known at planning time. */
static eml_err
connect_node(struct eml_plan *p, size_t i, size_t *at, bool *all_const)
{
	const struct eml_node *n = &p->m->g->nodes[i];
	struct pnode *pn = &p->pn[i];

	size_t n_caps = p->m->n_caps != NULL ? p->m->n_caps[i] : 0;

	pn->n = n;
	pn->op = p->m->ops[i];
	pn->par = p->m->par[i];
	pn->bias_val = -1;
	EML_ENSURE(p->n_io - *at >= n->n_inputs + n_caps + n->n_outputs + 2, EML_ERR_INTERNAL);
	pn->in = p->io + *at;
	*at += n->n_inputs + n_caps + 1;
	pn->out = p->io + *at;
	*at += n->n_outputs + 1;
	pn->n_in = n->n_inputs + n_caps;
	pn->n_out = n->n_outputs;
	*all_const = true;
	for (size_t k = 0; k < n->n_inputs; k++) {
		size_t idx;
		pn->in[k] = -1;
		if (n->inputs[k][0] == '\0')
			continue;
		if (!eml_names_get(&p->names, n->inputs[k], &idx))
			return eml_pn_fail(n, EML_ERR_INFER_INPUT, "input %s undefined",
			    n->inputs[k]);
		pn->in[k] = (int)idx;
		if (p->v[idx].kind != VK_CONST)
			*all_const = false;
	}
	/* The outer values its subgraphs read: inputs too, for liveness. */
	for (size_t k = 0; k < n_caps; k++) {
		size_t idx;
		const char *c = p->m->caps[i][k];
		if (!eml_names_get(&p->names, c, &idx))
			return eml_pn_fail(n, EML_ERR_INFER_INPUT, "outer value %s undefined", c);
		pn->in[n->n_inputs + k] = (int)idx;
		if (p->v[idx].kind != VK_CONST)
			*all_const = false;
	}
	for (size_t k = 0; k < n->n_outputs; k++) {
		int idx;
		pn->out[k] = -1;
		if (n->outputs[k][0] == '\0')
			continue;
		EML_GUARD(add_val(p, n->outputs[k], &idx));
		pn->out[k] = idx;
	}
	for (size_t k = 0; k < n->n_inputs && (int64_t)k < pn->op->min_in; k++)
		if (pn->in[k] < 0)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "required input %zu omitted", k);
	return EML_OK;
}

static eml_err
mark_graph_outputs(struct eml_plan *p)
{
	const struct eml_graph *g = p->m->g;

	for (size_t i = 0; i < g->n_outputs; i++) {
		size_t idx;
		if (!eml_names_get(&p->names, g->outputs[i].name, &idx)) {
			eml_err_set_detail("graph output %s undefined", g->outputs[i].name);
			EML_BAIL(EML_ERR_INFER_INPUT);
		}
		p->out_idx[i] = (int)idx;
		p->v[idx].graph_out = true;
	}
	return EML_OK;
}

/* An output whose rows are known only at run (OPF_RUNTIME_ROWS, a Loop's
 * scan outputs) must be a graph output that no node reads: every shape
 * after it was planned for the plan's size, so a reader would see rows
 * that were never written. */
static eml_err
check_runtime_rows(struct eml_plan *p)
{
	for (size_t i = 0; i < p->npn; i++) {
		const struct pnode *pn = &p->pn[i];
		/* Output 0 of a OPF_RUNTIME_ROWS operator, and any other output
		 * the plan marked (Unique; a Loop's scan outputs). */
		for (size_t o = 0; o < pn->n_out; o++) {
			int vi = pn->out[o];
			if (vi < 0 || p->v[vi].kind == VK_CONST)
				continue;
			if (!p->v[vi].rt_len && (o > 0 || (pn->op->flags & OPF_RUNTIME_ROWS) == 0))
				continue;
			if (!p->v[vi].graph_out)
				return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
				    "output %s has a data-dependent length: only a graph output",
				    p->v[vi].name);
			for (size_t j = 0; j < p->npn; j++)
				for (size_t k = 0; k < p->pn[j].n_in; k++)
					if (p->pn[j].in[k] == vi)
						return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
						    "output %s has a data-dependent length: node %s "
						    "may not read it", p->v[vi].name,
						    p->pn[j].n->name);
		}
	}
	return EML_OK;
}

/* Forward pass: values, shapes, folding. */
static eml_err
infer_all(struct eml_plan *p, const struct eml_tensor *inputs, size_t n_inputs)
{
	const struct eml_graph *g = p->m->g;
	size_t total = g->n_initializers + g->n_inputs;

	for (size_t i = 0; i < g->n_nodes; i++)
		total += g->nodes[i].n_outputs + g->nodes[i].n_inputs;
	p->v = eml_calloc(total + 1, sizeof(*p->v));
	EML_ENSURE(p->v != NULL, EML_ERR_NOMEM);
	EML_GUARD(eml_names_init(&p->names, total + 1));
	EML_GUARD(add_initializers(p));
	EML_GUARD(add_inputs(p, inputs, n_inputs));
	p->pn = eml_calloc(g->n_nodes + 1, sizeof(*p->pn));
	EML_ENSURE(p->pn != NULL, EML_ERR_NOMEM);
	p->npn = g->n_nodes;
	/* One list for every node's inputs (with captured outer values) and
	 * outputs, each list one longer: two allocations per node were a
	 * fifth of inferring shapes on every per-request plan. */
	p->n_io = 1;
	for (size_t i = 0; i < g->n_nodes; i++)
		p->n_io += g->nodes[i].n_inputs + g->nodes[i].n_outputs + 2 +
		    (p->m->n_caps != NULL ? p->m->n_caps[i] : 0);
	p->io = eml_calloc(p->n_io, sizeof(int));
	EML_ENSURE(p->io != NULL, EML_ERR_NOMEM);
	for (size_t i = 0, at = 0; i < g->n_nodes; i++) {
		struct pnode *pn = &p->pn[i];
		bool all_const = false;

		EML_GUARD(connect_node(p, i, &at, &all_const));
		EML_GUARD(pn->op->plan(p, pn));
		if ((all_const && (pn->op->flags & OPF_NO_FOLD) == 0) ||
		    (pn->op->flags & OPF_SHAPE_ONLY) != 0)
			EML_GUARD(fold_node(p, pn));
	}
	EML_GUARD(mark_graph_outputs(p));
	return check_runtime_rows(p);
}

static void
count_uses(struct eml_plan *p)
{
	for (size_t i = 0; i < p->nv; i++) {
		p->v[i].nuses = p->v[i].graph_out ? 1 : 0;
		p->v[i].last = p->v[i].graph_out ? INT32_MAX : -1;
	}
	for (size_t s = 0; s < p->n_order; s++) {
		const struct pnode *pn = &p->pn[p->order[s]];
		for (size_t k = 0; k < pn->n_in; k++)
			if (pn->in[k] >= 0) {
				struct val *v = &p->v[pn->in[k]];
				v->nuses++;
				if (v->last < (int)s)
					v->last = (int)s;
			}
		if (pn->bias_val >= 0)
			p->v[pn->bias_val].nuses++;
	}
	/* A sub-plan's inputs are rewritten between its runs (Loop, Scan
	 * carry values back into them): no step may reuse their bytes. */
	if (p->pool_borrowed)
		for (size_t i = 0; i < p->m->g->n_inputs; i++) {
			p->v[p->in_idx[i]].nuses++;
			p->v[p->in_idx[i]].last = INT32_MAX;
		}
}

static void
build_order(struct eml_plan *p)
{
	p->n_order = 0;
	for (size_t i = 0; i < p->npn; i++)
		if (!p->pn[i].dead)
			p->order[p->n_order++] = i;
}

/* The single consumer of value vi among live nodes, or NULL: the last
 * live reader in step order, from the readers index (build_readers). */
static struct pnode *
sole_consumer(struct eml_plan *p, int vi)
{
	struct pnode *c = NULL;

	if (p->v[vi].graph_out || p->v[vi].nuses != 1)
		return NULL;
	for (size_t j = p->rd_at[vi]; j < p->rd_at[vi + 1]; j++)
		if (!p->pn[p->rd[j]].dead)
			c = &p->pn[p->rd[j]];
	return c;
}

/* The readers of every value, once per input slot, in step order:
 * value vi's are rd[rd_at[vi] .. rd_at[vi + 1]). Built once for fuse,
 * which changes no node's inputs (only outputs and dead flags): scanning
 * every node for each candidate made fusion quadratic in the nodes. */
static eml_err
build_readers(struct eml_plan *p)
{
	size_t n = 0;

	p->rd_at = eml_calloc(p->nv + 2, sizeof(size_t));
	EML_ENSURE(p->rd_at != NULL, EML_ERR_NOMEM);
	for (size_t s = 0; s < p->n_order; s++) {
		const struct pnode *pn = &p->pn[p->order[s]];
		for (size_t k = 0; !pn->dead && k < pn->n_in; k++)
			if (pn->in[k] >= 0) {
				p->rd_at[pn->in[k] + 2]++;
				n++;
			}
	}
	p->rd = eml_calloc(n + 1, sizeof(size_t));
	EML_ENSURE(p->rd != NULL, EML_ERR_NOMEM);
	/* rd_at[vi + 2] counted vi's readers; as offsets, rd_at[vi + 1] is
	 * where vi's go and advances while they are placed, ending at
	 * rd_at[vi + 2]'s offset, the start of vi + 1. */
	for (size_t i = 2; i < p->nv + 2; i++)
		p->rd_at[i] += p->rd_at[i - 1];
	for (size_t s = 0; s < p->n_order; s++) {
		const struct pnode *pn = &p->pn[p->order[s]];
		for (size_t k = 0; !pn->dead && k < pn->n_in; k++)
			if (pn->in[k] >= 0)
				p->rd[p->rd_at[pn->in[k] + 1]++] = p->order[s];
	}
	return EML_OK;
}

static void
free_readers(struct eml_plan *p)
{
	eml_free(p->rd_at);
	eml_free(p->rd);
	p->rd_at = NULL;
	p->rd = NULL;
}

static bool
is_op(const struct pnode *pn, const char *name)
{
	return strcmp(pn->op->name, name) == 0;
}

/* An activation node fusable into an epilogue; fills ep. */
static bool
act_of(struct eml_plan *p, struct pnode *c, struct eml_epilogue *ep)
{
	memset(ep, 0, sizeof(*ep));
	if (c->n_out != 1 || eml_pn_in(p, c, 0) == NULL || eml_pn_in(p, c, 0)->dt != EML_DT_FLOAT)
		return false;
	if (is_op(c, "Relu")) {
		ep->act = EML_ACT_RELU;
	} else if (is_op(c, "LeakyRelu")) {
		ep->act = EML_ACT_LEAKY_RELU;
		ep->a = c->par.unary.alpha;
	} else if (is_op(c, "Clip")) {
		ep->act = EML_ACT_CLIP;
		ep->a = c->par.unary.min;
		ep->b = c->par.unary.max;
	} else if (is_op(c, "HardSigmoid")) {
		ep->act = EML_ACT_HARDSIGMOID;
		ep->a = c->par.unary.alpha;
		ep->b = c->par.unary.beta;
	} else if (is_op(c, "HardSwish")) {
		ep->act = EML_ACT_HARDSWISH;
	} else if (is_op(c, "Sigmoid")) {
		ep->act = EML_ACT_SIGMOID;
	} else if (is_op(c, "Tanh")) {
		ep->act = EML_ACT_TANH;
	} else {
		return false;
	}
	return true;
}

/* dst = src * s over distinct buffers, in fixed blocks of 8 the compiler
 * vectorizes at -O2 (the same products, one rounding each): per-request assembly folds every
 * batch norm of the model on every request. */
static void
scale_row(float *restrict dst, const float *restrict src, size_t n, float s)
{
	size_t j = 0;

	for (; j + 8 <= n; j += 8)
		for (size_t k = 0; k < 8; k++)
			dst[j + k] = src[j + k] * s;
	for (; j < n; j++)
		dst[j] = src[j] * s;
}

/* Conv -> BatchNormalization: scale the conv weights per output channel
 * and fold the shift into its bias (the caller absorbs bn). A 2-D conv
 * keeps the scale only (wscale): its plan multiplies the weights as it
 * packs them, the same products without a scaled copy of the weights
 * written, kept until the plan is freed and wiped (issue 16: a second
 * copy of every conv weight on each per-request assembly). */
static eml_err
fuse_bn(struct eml_plan *p, struct pnode *conv, struct pnode *bn)
{
	struct val *w = eml_pn_in(p, conv, 1), *bias = eml_pn_in(p, conv, 2);
	struct val *sc = eml_pn_in(p, bn, 1), *sh = eml_pn_in(p, bn, 2);
	struct val *mean = eml_pn_in(p, bn, 3), *var = eml_pn_in(p, bn, 4);
	size_t M = (size_t)w->dims[0], per = w->numel / M;
	float eps = bn->par.batchnorm.epsilon;

	bool copy = conv->par.conv.is3d;

	if (copy) {
		conv->w = eml_secure_alloc(w->nbytes);
		EML_ENSURE(conv->w != NULL, EML_ERR_NOMEM);
		conv->w_n = w->numel;
	} else {
		conv->wscale = eml_secure_alloc(M * sizeof(float));
		EML_ENSURE(conv->wscale != NULL, EML_ERR_NOMEM);
	}
	conv->b = eml_secure_alloc(M * sizeof(float));
	EML_ENSURE(conv->b != NULL, EML_ERR_NOMEM);
	conv->b_n = M;
	for (size_t m = 0; m < M; m++) {
		float s = vf(sc)[m] / sqrtf(vf(var)[m] + eps);
		float b0 = bias != NULL ? vf(bias)[m] : 0.0f;

		if (copy)
			scale_row(conv->w + m * per, vf(w) + m * per, per, s);
		else
			conv->wscale[m] = s;
		conv->b[m] = (b0 - vf(mean)[m]) * s + vf(sh)[m];
	}
	conv->fused_bn = true;
	return EML_OK;
}

static bool
all_const(struct eml_plan *p, struct pnode *pn, size_t from, size_t to)
{
	for (size_t k = from; k < to; k++) {
		struct val *v = eml_pn_in(p, pn, k);
		if (v == NULL || v->kind != VK_CONST)
			return false;
	}
	return true;
}

/* ------------------------------------------------ pattern rewrites */

/* The live node producing value vi, or NULL. */
static struct pnode *
producer(struct eml_plan *p, int vi)
{
	struct pnode *pn;

	if (vi < 0 || p->prod_of == NULL || p->prod_of[vi] == 0)
		return NULL;
	pn = &p->pn[p->prod_of[vi] - 1];
	return pn->dead ? NULL : pn;
}

static size_t
index_in_order(const struct eml_plan *p, const struct pnode *pn)
{
	for (size_t s = 0; s < p->n_order; s++)
		if (&p->pn[p->order[s]] == pn)
			return s;
	return 0;
}

static bool
const_scalar(const struct eml_plan *p, int vi, float want)
{
	const struct val *v;

	if (vi < 0)
		return false;
	v = &p->v[vi];
	return v->kind == VK_CONST && v->dt == EML_DT_FLOAT && v->numel == 1 &&
	    fabsf(vf(v)[0] - want) <= 1e-6f * fabsf(want);
}

/* A single-use live node of this op type producing vi. */
static struct pnode *
sole(struct eml_plan *p, int vi, const char *op)
{
	struct pnode *pn = producer(p, vi);

	if (pn == NULL || strcmp(pn->op->name, op) != 0 || p->v[vi].graph_out ||
	    p->v[vi].nuses != 1 || pn->n_out != 1)
		return NULL;
	return pn;
}

/* For a binary node, the operand that is not `other`; -1 if neither. */
static int
other_operand(const struct pnode *pn, int other)
{
	if (pn->n_in != 2)
		return -1;
	if (pn->in[0] == other)
		return pn->in[1];
	if (pn->in[1] == other)
		return pn->in[0];
	return -1;
}

/* What node pn reads counted once more (d = 1) or once less (d = -1) in
 * the use counts, as count_uses counts a live node. */
static void
count_reads(struct eml_plan *p, const struct pnode *pn, int d)
{
	for (size_t k = 0; k < pn->n_in; k++)
		if (pn->in[k] >= 0)
			p->v[pn->in[k]].nuses += d;
	if (pn->bias_val >= 0)
		p->v[pn->bias_val].nuses += d;
}

/* A node dies in a rewrite: the use counts follow, and it stays in the
 * order, skipped, until the order is rebuilt. */
static void
kill_node(struct eml_plan *p, struct pnode *pn)
{
	count_reads(p, pn, -1);
	pn->dead = true;
}

/* Turn node top into a unary op over x (use counts kept exact); the
 * caller kills the nodes it replaces. */
static void
make_unary(struct eml_plan *p, struct pnode *top, const char *op, enum eml_unary u, int x)
{
	count_reads(p, top, -1);
	top->op = eml_ops_find(op);
	top->in[0] = x;
	top->n_in = 1;
	memset(&top->par, 0, sizeof(top->par));
	top->par.kind = PK_UNARY;
	top->par.unary.op = u;
	count_reads(p, top, 1);
	p->st.n_fused++;
}

/* Order and use counts again after nodes died or changed inputs. */
static void
refresh(struct eml_plan *p)
{
	build_order(p);
	count_uses(p);
}

/* Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6) -> HardSwish(x). */
static bool
rewrite_hardswish_div(struct eml_plan *p, struct pnode *top)
{
	struct pnode *mul, *clip, *add;

	if (!is_op(top, "Div") || !const_scalar(p, top->in[1], 6.0f) ||
	    (mul = sole(p, top->in[0], "Mul")) == NULL)
		return false;
	for (int k = 0; k < 2; k++) {
		int x = mul->in[1 - k];
		clip = sole(p, mul->in[k], "Clip");
		if (clip == NULL || clip->par.unary.min != 0.0f || clip->par.unary.max != 6.0f ||
		    (add = sole(p, clip->in[0], "Add")) == NULL || other_operand(add, x) < 0 ||
		    !const_scalar(p, other_operand(add, x), 3.0f) ||
		    p->v[x].numel != p->v[top->out[0]].numel)
			continue;
		make_unary(p, top, "HardSwish", EML_UNARY_HARDSWISH, x);
		kill_node(p, mul);
		kill_node(p, clip);
		kill_node(p, add);
		p->st.n_fused += 2;
		return true;
	}
	return false;
}

/* Mul(x, HardSigmoid(x)) with alpha = 1/6, beta = 0.5 -> HardSwish(x). */
static bool
rewrite_hardswish_mul(struct eml_plan *p, struct pnode *top)
{
	if (!is_op(top, "Mul"))
		return false;
	for (int k = 0; k < 2; k++) {
		struct pnode *hs = sole(p, top->in[k], "HardSigmoid");
		int x = top->in[1 - k];
		if (hs == NULL || hs->in[0] != x ||
		    fabsf(hs->par.unary.alpha - 1.0f / 6.0f) > 1e-6f || hs->par.unary.beta != 0.5f ||
		    p->v[x].numel != p->v[top->out[0]].numel)
			continue;
		make_unary(p, top, "HardSwish", EML_UNARY_HARDSWISH, x);
		kill_node(p, hs);
		return true;
	}
	return false;
}

/* The inner part of exact GELU: Mul(x, Add(Erf(Div(x, sqrt 2)), 1)) as
 * node mul; x in *xo. */
static bool
gelu_body(struct eml_plan *p, struct pnode *mul, int out_vi, int *xo, struct pnode **dead)
{
	for (int j = 0; j < 2; j++) {
		int x = mul->in[1 - j];
		struct pnode *add = sole(p, mul->in[j], "Add"), *erf, *div;
		if (add == NULL)
			continue;
		for (int i = 0; i < 2; i++) {
			if (!const_scalar(p, add->in[1 - i], 1.0f) ||
			    (erf = sole(p, add->in[i], "Erf")) == NULL ||
			    (div = sole(p, erf->in[0], "Div")) == NULL || div->in[0] != x ||
			    !const_scalar(p, div->in[1], 1.41421356f) ||
			    p->v[x].numel != p->v[out_vi].numel)
				continue;
			dead[0] = add;
			dead[1] = erf;
			dead[2] = div;
			*xo = x;
			return true;
		}
	}
	return false;
}

/* Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5) -> GELU(x) (as PyTorch
 * exports exact GELU). */
static bool
rewrite_gelu(struct eml_plan *p, struct pnode *top)
{
	if (!is_op(top, "Mul"))
		return false;
	for (int k = 0; k < 2; k++) {
		struct pnode *mul, *dead[3];
		int x;
		if (!const_scalar(p, top->in[1 - k], 0.5f) ||
		    (mul = sole(p, top->in[k], "Mul")) == NULL ||
		    !gelu_body(p, mul, top->out[0], &x, dead))
			continue;
		make_unary(p, top, "Erf", EML_UNARY_GELU, x);
		kill_node(p, mul);
		for (int j = 0; j < 3; j++)
			kill_node(p, dead[j]);
		p->st.n_fused += 3;
		return true;
	}
	return false;
}

/*
 * HardSwish as exporters write it: Div(Mul(x, Clip(Add(x, 3), 0, 6)), 6)
 * (PaddlePaddle, older PyTorch), or Mul(x, HardSigmoid(x)) with
 * alpha = 1/6, beta = 0.5; and exact GELU as PyTorch writes it:
 * Mul(Mul(x, Add(Erf(Div(x, sqrt 2)), 1)), 0.5). Both become one unary
 * node, which a preceding Conv/Gemm/MatMul can then take as epilogue.
 */
/* The producer of vi, live or folded (a folded DequantizeLinear still
 * names the int8 weights it was computed from). */
static struct pnode *
any_producer(struct eml_plan *p, int vi)
{
	if (vi < 0 || p->prod_of == NULL || p->prod_of[vi] == 0)
		return NULL;
	return &p->pn[p->prod_of[vi] - 1];
}

/* QDQ convolution, as quantizers write it:
 *   DequantizeLinear(x_q) -> Conv(., DQ(w_q), DQ(b_q)) [-> Relu] -> QuantizeLinear
 * becomes one QLinearConv on x_q and the int8 weights (ops_quant.c checks
 * the scales and zero points and does the rewrite). */
static bool
rewrite_qdq_conv(struct eml_plan *p, struct pnode *q)
{
	struct pnode *relu, *conv, *dqx;
	int y;

	if (!is_op(q, "QuantizeLinear") || q->in[0] < 0)
		return false;
	y = q->in[0];
	relu = sole(p, y, "Relu");
	conv = sole(p, relu != NULL ? relu->in[0] : y, "Conv");
	if (conv == NULL || conv->n_in < 2)
		return false;
	dqx = producer(p, conv->in[0]);
	if (dqx == NULL || !is_op(dqx, "DequantizeLinear"))
		return false;
	return eml_qdq_conv_fuse(p, q, relu, conv, dqx, any_producer(p, conv->in[1]),
	    p->v[dqx->out[0]].nuses == 1 && !p->v[dqx->out[0]].graph_out);
}

/* The float rewrites keep the use counts exact as they go and leave the
 * nodes they kill in the order (skipped; the caller rebuilds it once):
 * an order and count rebuild after each rewrite cost a pass over the
 * graph per HardSwish. The QDQ rewrite changes more and rebuilds both. */
static eml_err
rewrite_patterns(struct eml_plan *p)
{
	p->prod_of = eml_calloc(p->nv + 1, sizeof(size_t));
	EML_ENSURE(p->prod_of != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < p->npn; i++)
		for (size_t k = 0; k < p->pn[i].n_out; k++)
			if (p->pn[i].out[k] >= 0)
				p->prod_of[p->pn[i].out[k]] = i + 1;
	for (size_t s = 0; s < p->n_order; s++) {
		struct pnode *top = &p->pn[p->order[s]];

		if (!top->dead && rewrite_qdq_conv(p, top)) {
			refresh(p);
			s = index_in_order(p, top);
			continue;
		}
		if (top->dead || top->n_in != 2 || top->out[0] < 0 ||
		    p->v[top->out[0]].dt != EML_DT_FLOAT)
			continue;
		if (!rewrite_hardswish_div(p, top) && !rewrite_hardswish_mul(p, top))
			(void)rewrite_gelu(p, top);
	}
	eml_free(p->prod_of);
	p->prod_of = NULL;
	return EML_OK;
}

/* Consumer c merged into pn, which now writes c's output; the next
 * candidate is the sole consumer of that output. The order and the use
 * counts are brought up to date once, after fuse (refresh after every
 * merge made planning quadratic in the nodes): in between, c stays in
 * the order, dead, and the counts it held are stale only for what c
 * read, pn's old output and constants, which no fusion asks about. */
static struct pnode *
absorb(struct eml_plan *p, struct pnode *pn, struct pnode *c)
{
	pn->out[0] = c->out[0];
	c->dead = true;
	p->st.n_fused++;
	return sole_consumer(p, pn->out[0]);
}

/* Conv with constant weights followed by a BatchNormalization of
 * constant parameters. */
static bool
bn_fusable(struct eml_plan *p, struct pnode *pn, struct pnode *c)
{
	return is_op(pn, "Conv") && is_op(c, "BatchNormalization") &&
	    all_const(p, pn, 1, pn->n_in) && all_const(p, c, 1, 5) && c->n_out == 1;
}

/* MatMul with constant 2-D B followed by Add of a constant [N] bias: the
 * bias value in *bias. */
static bool
matmul_bias(struct eml_plan *p, struct pnode *pn, struct pnode *c, int *bias)
{
	struct val *o = eml_pn_out(p, pn, 0), *co, *bv;
	int other;

	if (!is_op(pn, "MatMul") || !is_op(c, "Add") || !pn->par.matmul.packed_b)
		return false;
	other = c->in[0] == pn->out[0] ? c->in[1] : c->in[0];
	bv = other >= 0 ? &p->v[other] : NULL;
	co = eml_pn_out(p, c, 0);
	if (bv == NULL || bv->kind != VK_CONST || bv->dt != EML_DT_FLOAT ||
	    bv->numel != (size_t)o->dims[o->rank - 1] || co->rank != o->rank ||
	    bv->dims[bv->rank > 0 ? bv->rank - 1 : 0] != o->dims[o->rank - 1] ||
	    co->numel != o->numel || c->in[0] == c->in[1])
		return false;
	*bias = other;
	return true;
}

/* MatMul followed by Div or Mul by a constant scalar (attention's
 * 1/sqrt(d)): the GEMM's alpha in *alpha. Not with a fused bias, which
 * alpha would not scale. */
static bool
matmul_scale(struct eml_plan *p, struct pnode *pn, struct pnode *c, float *alpha)
{
	bool div = is_op(c, "Div");
	int other;
	struct val *sv;

	if (!is_op(pn, "MatMul") || pn->bias_val >= 0 || c->n_in != 2 ||
	    !(div || is_op(c, "Mul")))
		return false;
	other = c->in[0] == pn->out[0] ? c->in[1] : c->in[0];
	sv = other >= 0 ? &p->v[other] : NULL;
	if (sv == NULL || sv->kind != VK_CONST || sv->dt != EML_DT_FLOAT || sv->numel != 1 ||
	    !isfinite(vf(sv)[0]) || vf(sv)[0] == 0.0f || c->in[0] == c->in[1] ||
	    (div && c->in[0] != pn->out[0]) ||
	    p->v[c->out[0]].numel != p->v[pn->out[0]].numel)
		return false;
	*alpha = div ? 1.0f / vf(sv)[0] : vf(sv)[0];
	return true;
}

/* A float Conv, ConvTranspose, MatMul or Gemm: it can take what follows
 * into its output stage (ConvTranspose only an activation). */
static bool
takes_epilogue(const struct eml_plan *p, const struct pnode *pn)
{
	return !pn->dead &&
	    (is_op(pn, "Conv") || is_op(pn, "ConvTranspose") || is_op(pn, "MatMul") ||
		is_op(pn, "Gemm")) &&
	    pn->out[0] >= 0 && p->v[pn->out[0]].dt == EML_DT_FLOAT;
}

/* Merge into pn, in this order, what follows it alone: a BatchNormalization,
 * a bias, a scale, an activation. */
static eml_err
fuse_consumers(struct eml_plan *p, struct pnode *pn)
{
	struct pnode *c = sole_consumer(p, pn->out[0]);
	struct eml_epilogue ep;
	float alpha;
	int bias;

	if (c != NULL && bn_fusable(p, pn, c)) {
		EML_GUARD(fuse_bn(p, pn, c));
		c = absorb(p, pn, c);
	}
	if (c != NULL && matmul_bias(p, pn, c, &bias)) {
		pn->bias_val = bias;
		c = absorb(p, pn, c);
	}
	if (c != NULL && matmul_scale(p, pn, c, &alpha)) {
		pn->par.matmul.alpha = alpha;
		c = absorb(p, pn, c);
	}
	if (c != NULL && act_of(p, c, &ep) && pn->ep.act == EML_ACT_NONE) {
		pn->ep = ep;
		(void)absorb(p, pn, c);
	}
	return EML_OK;
}

/* Fusions into each Conv, ConvTranspose, MatMul and Gemm; the caller
 * rebuilds order and use counts. */
static eml_err
fuse(struct eml_plan *p)
{
	eml_err rc = build_readers(p);

	for (size_t s = 0; rc == EML_OK && s < p->n_order; s++) {
		struct pnode *pn = &p->pn[p->order[s]];
		if (takes_epilogue(p, pn))
			rc = fuse_consumers(p, pn);
	}
	free_readers(p);
	return rc;
}

struct block {
	size_t off, size;
	int end; /* last step using it */
	bool live;
};

static size_t
round_up(size_t n)
{
	return (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
}

/* First fit among the live blocks, which are kept sorted by offset. */
static size_t
first_fit(const struct block *b, const int *live, size_t nlive, size_t size)
{
	size_t off = 0;

	for (size_t i = 0; i < nlive; i++) {
		const struct block *x = &b[live[i]];
		if (x->off >= off + size)
			return off;
		if (x->off + x->size > off)
			off = x->off + x->size;
	}
	return off;
}

static void
live_insert(const struct block *b, int *live, size_t *nlive, int id)
{
	size_t i = *nlive;

	while (i > 0 && b[live[i - 1]].off > b[id].off) {
		live[i] = live[i - 1];
		i--;
	}
	live[i] = id;
	(*nlive)++;
}

/* The arena during layout: every block, and the live ones by offset. */
struct arena {
	struct block *b;
	int nb;
	int *live;
	size_t nlive;
	size_t top; /* end of the highest block */
};

static int
new_block(struct arena *ar, size_t size, int end)
{
	int id = ar->nb++;
	struct block *b = ar->b;

	size = round_up(size == 0 ? 1 : size);
	b[id].size = size;
	b[id].off = first_fit(b, ar->live, ar->nlive, size);
	b[id].end = end;
	b[id].live = true;
	live_insert(b, ar->live, &ar->nlive, id);
	if (b[id].off + size > ar->top)
		ar->top = b[id].off + size;
	return id;
}

/* Output o of step s reinterprets input 0's bytes (Reshape & co.). */
static bool
share_input_block(struct eml_plan *p, struct arena *ar, struct pnode *pn, struct val *o)
{
	struct val *in0 = eml_pn_in(p, pn, 0);

	if ((pn->op->flags & OPF_ALIAS) == 0 || in0 == NULL || in0->block < 0)
		return false;
	o->block = in0->block;
	o->alias = pn->in[0];
	if (ar->b[o->block].end < o->last)
		ar->b[o->block].end = o->last;
	p->st.n_alias++;
	return true;
}

/* Output o of step s written over an input of the same size whose last
 * reader is this step. Another reader of the same buffer at this step
 * (the other operand) is fine: element i is read before it is written. */
static bool
overwrite_dead_input(struct eml_plan *p, struct arena *ar, struct pnode *pn, struct val *o,
    size_t s)
{
	if ((pn->op->flags & OPF_INPLACE) == 0 || p->opts.no_inplace)
		return false;
	for (size_t j = 0; j < 2 && j < pn->n_in; j++) {
		struct val *x = eml_pn_in(p, pn, j);
		if (x == NULL || x->block < 0 || x->nbytes != o->nbytes || x->dt != o->dt ||
		    ar->b[x->block].end != (int)s || x->graph_out || !ar->b[x->block].live)
			continue;
		o->block = x->block;
		ar->b[o->block].end = o->last;
		p->st.n_inplace++;
		return true;
	}
	return false;
}

/* A block for each run-time output of step s. */
static void
place_outputs(struct eml_plan *p, struct arena *ar, struct pnode *pn, size_t s)
{
	for (size_t k = 0; k < pn->n_out; k++) {
		struct val *o = eml_pn_out(p, pn, k);
		if (o == NULL || o->kind != VK_ACT || o->block >= 0)
			continue;
		p->st.naive_bytes += o->nbytes;
		if (o->last < 0)
			o->last = (int)s; /* written, never read: free after */
		if (k == 0 && (share_input_block(p, ar, pn, o) ||
		    overwrite_dead_input(p, ar, pn, o, s)))
			continue;
		o->block = new_block(ar, o->nbytes, o->last);
	}
}

/* Release the blocks whose last reader was step s. */
static void
release_blocks(struct arena *ar, size_t s)
{
	for (size_t i = 0; i < ar->nlive;) {
		struct block *x = &ar->b[ar->live[i]];
		if (x->end <= (int)s) {
			x->live = false;
			memmove(&ar->live[i], &ar->live[i + 1], (ar->nlive - i - 1) * sizeof(int));
			ar->nlive--;
		} else {
			i++;
		}
	}
}

/* The arena: the blocks, then the largest workspace; every run-time
 * value and step pointed into it. */
static eml_err
bind_arena(struct eml_plan *p, const struct arena *ar, size_t ws)
{
	size_t total, all;
	size_t limit = p->opts.max_arena_bytes != 0 && p->opts.max_arena_bytes <
	    EML_ENGINE_MAX_ARENA_BYTES ? p->opts.max_arena_bytes : EML_ENGINE_MAX_ARENA_BYTES;

	p->ws_off = round_up(ar->top);
	/* The sub-plans' arenas (If, Loop, Scan) are live with this one. */
	if (eml_add_overflow(p->ws_off, round_up(ws), &total) ||
	    eml_add_overflow(total, p->sub_bytes, &all) || all > limit) {
		eml_err_set_detail("arena of %zu bytes above the limit", total);
		EML_BAIL(EML_ERR_INFER_TOO_LARGE);
	}
	p->arena_bytes = total == 0 ? ALIGN : total;
	/* zeroed by eml_secure_alloc: no second pass */
	p->arena = eml_secure_alloc(p->arena_bytes);
	EML_ENSURE(p->arena != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < p->nv; i++) {
		struct val *v = &p->v[i];
		if ((v->kind == VK_ACT || v->kind == VK_INPUT) && v->block >= 0) {
			v->off = ar->b[v->block].off;
			v->data = p->arena + v->off;
		}
	}
	for (size_t s = 0; s < p->n_order; s++)
		p->pn[p->order[s]].wsp = p->arena + p->ws_off;
	p->st.arena_bytes = p->arena_bytes;
	return EML_OK;
}

/* Liveness layout: each run-time value gets a block; a block is released
 * after its last reader and its bytes are reused by first fit. */
static eml_err
layout(struct eml_plan *p)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct arena ar;
	size_t ws = 0;

	memset(&ar, 0, sizeof(ar));
	ar.b = eml_calloc(p->nv + 1, sizeof(*ar.b));
	ar.live = eml_calloc(p->nv + 1, sizeof(int));
	if (ar.b == NULL || ar.live == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	for (size_t i = 0; i < p->m->g->n_inputs; i++) {
		struct val *v = &p->v[p->in_idx[i]];
		if (v->block >= 0 || v->kind != VK_INPUT)
			continue;
		v->block = new_block(&ar, v->nbytes, v->last);
		p->st.naive_bytes += v->nbytes;
	}
	for (size_t s = 0; s < p->n_order; s++) {
		struct pnode *pn = &p->pn[p->order[s]];
		if (pn->ws > ws)
			ws = pn->ws;
		place_outputs(p, &ar, pn, s);
		release_blocks(&ar, s);
	}
	rc = bind_arena(p, &ar, ws);
out:
	eml_free(ar.b);
	eml_free(ar.live);
	return rc;
}

/* The steps that run, in order: rewrites and fusions (unless disabled),
 * then each step's heavy preparation (weight packing, kernel plans). */
/* Whether every live reader of value vi is a convolution that packed its
 * weights and bias into its kernel plan (it no longer reads the value). */
static bool
only_packed_conv_reads(const struct eml_plan *p, int vi)
{
	for (size_t s = 0; s < p->n_order; s++) {
		const struct pnode *pn = &p->pn[p->order[s]];
		for (size_t k = 0; k < pn->n_in; k++)
			if (pn->in[k] == vi &&
			    (!is_op(pn, "Conv") || pn->conv == NULL || (k != 1 && k != 2)))
				return false;
	}
	return true;
}

/* A float16 weight is widened to float32 once at plan time; when only
 * packed convolutions read it, the widened copy goes once they are
 * prepared, so the enclave keeps the float16 bytes (graph) and the packed
 * weights, as for a float32 model, and no second float32 copy. */
static void
drop_widened_weights(struct eml_plan *p)
{
	for (size_t i = 0; i < p->nv; i++) {
		struct val *v = &p->v[i];
		if (!v->f16 || !v->owned || v->kind != VK_CONST || v->graph_out || v->data == NULL ||
		    !only_packed_conv_reads(p, (int)i))
			continue;
		eml_secure_free(v->data);
		v->data = NULL;
		v->owned = false;
	}
}

static eml_err
plan_steps(struct eml_plan *p)
{
	p->order = eml_calloc(p->npn + 1, sizeof(size_t));
	p->outs = eml_calloc(p->m->g->n_outputs + 1, sizeof(*p->outs));
	p->out16 = eml_calloc(p->m->g->n_outputs + 1, sizeof(*p->out16));
	EML_ENSURE(p->order != NULL && p->outs != NULL && p->out16 != NULL, EML_ERR_NOMEM);
	for (size_t i = 0; i < p->m->g->n_outputs; i++) {
		const struct val *v = &p->v[p->out_idx[i]];
		if (!v->f16)
			continue;
		p->out16[i] = eml_secure_alloc(v->numel == 0 ? 2 : v->numel * 2);
		EML_ENSURE(p->out16[i] != NULL, EML_ERR_NOMEM);
	}
	refresh(p);
	if (!p->opts.no_fusion) {
		size_t fused = p->st.n_fused;

		EML_GUARD(rewrite_patterns(p));
		EML_GUARD(fuse(p));
		/* dead nodes out of the order, counts exact again */
		if (p->st.n_fused != fused)
			refresh(p);
		eml_qconv_chain(p);
	}
	for (size_t s = 0; s < p->n_order; s++) {
		struct pnode *pn = &p->pn[p->order[s]];
		if (pn->op->prepare != NULL)
			EML_GUARD(pn->op->prepare(p, pn));
	}
	count_uses(p);
	drop_widened_weights(p);
	return EML_OK;
}

/* Plan p (model, options and pool set) for these inputs. */
static eml_err
plan_build(struct eml_plan *p, const struct eml_tensor *inputs, size_t n_inputs)
{
	EML_GUARD(infer_all(p, inputs, n_inputs));
	EML_GUARD(plan_steps(p));
	EML_GUARD(layout(p));
	if (p->opts.profile) {
		/* Per step: the sum, the lowest run and the float16 rounding. */
		p->prof = eml_calloc(3 * (p->n_order + 1), sizeof(double));
		EML_ENSURE(p->prof != NULL, EML_ERR_NOMEM);
	}
	p->st.n_nodes = p->npn;
	p->st.n_steps = p->n_order;
	return EML_OK;
}

eml_err
eml_plan_new(const struct eml_model *m, const struct eml_tensor *inputs, size_t n_inputs,
    const struct eml_plan_opts *opts, struct eml_plan **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_plan *p = NULL;
	int nthreads;

	EML_ENSURE(m != NULL && out != NULL && (inputs != NULL || n_inputs == 0), EML_ERR_NULL);
	*out = NULL;
	eml_err_clear_detail();
	p = eml_calloc(1, sizeof(*p));
	if (p == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	p->m = m;
	if (opts != NULL)
		p->opts = *opts;
	nthreads = p->opts.nthreads < 1 ? 1 : p->opts.nthreads;
	p->opts.nthreads = nthreads;
	p->k = eml_kernels_get();
	if ((rc = eml_pool_new(nthreads, &p->pool)) != EML_OK)
		goto out;
	if ((rc = plan_build(p, inputs, n_inputs)) != EML_OK)
		goto out;
	*out = p;
	p = NULL; /* transferred */
	rc = EML_OK;
out:
	eml_plan_free(p);
	return rc;
}

eml_err
eml_plan_new_sub(struct eml_plan *parent, const struct eml_model *m,
    const struct eml_tensor *inputs, size_t n, const bool *is_const, struct eml_plan **out)
{
	eml_err rc = EML_ERR_INTERNAL;
	struct eml_plan *p = NULL;
	size_t limit = parent->opts.max_arena_bytes != 0 ? parent->opts.max_arena_bytes :
	    EML_ENGINE_MAX_ARENA_BYTES;

	*out = NULL;
	p = eml_calloc(1, sizeof(*p));
	if (p == NULL)
		EML_FAIL(rc, EML_ERR_NOMEM);
	p->m = m;
	p->opts = parent->opts;
	p->opts.bind_small_inputs = false;
	p->opts.profile = false;
	p->k = parent->k;
	p->pool = parent->pool;
	p->pool_borrowed = true;
	p->sub_const = is_const;
	rc = plan_build(p, inputs, n);
	p->sub_const = NULL;
	if (rc != EML_OK)
		goto out;
	/* Every sub-plan's arena is live with its parent's: one limit. */
	if (eml_add_overflow(parent->sub_bytes, p->arena_bytes + p->sub_bytes, &parent->sub_bytes) ||
	    parent->sub_bytes > limit) {
		eml_err_set_detail("subgraph arenas above %zu bytes", limit);
		EML_FAIL(rc, EML_ERR_INFER_TOO_LARGE);
	}
	*out = p;
	p = NULL;
	rc = EML_OK;
out:
	eml_plan_free(p);
	return rc;
}

struct val *
eml_sub_in(struct eml_plan *sub, size_t i)
{
	return &sub->v[sub->in_idx[i]];
}

struct val *
eml_sub_out(struct eml_plan *sub, size_t i)
{
	return &sub->v[sub->out_idx[i]];
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Time per operator type, summed over the steps, and the plan's shape. */
static void
print_op_totals(const struct eml_plan *p, FILE *f)
{
	const char *names[64];
	double per[64], total = 0, lowest = 0;
	size_t nn = 0, runs = p->prof_runs;

	for (size_t s = 0; s < p->n_order; s++) {
		const struct pnode *pn = &p->pn[p->order[s]];
		size_t k;
		total += p->prof[s];
		lowest += p->prof[p->n_order + 1 + s];
		for (k = 0; k < nn; k++)
			if (strcmp(names[k], pn->op->name) == 0)
				break;
		if (k == nn && nn < 64) {
			names[nn] = pn->op->name;
			per[nn++] = 0;
		}
		if (k < nn)
			per[k] += p->prof[s];
	}
	fprintf(f, "profile: %zu runs, %.3f ms per run in %zu steps (the steps' lowest: %.3f ms)\n",
	    runs, total * 1e3 / (double)runs, p->n_order, lowest * 1e3);
	fprintf(f, "plan: %zu nodes, %zu folded, %zu fused, %zu aliased, %zu in place; arena %zu "
		   "bytes (%zu without reuse)\n", p->st.n_nodes, p->st.n_folded, p->st.n_fused,
	    p->st.n_alias, p->st.n_inplace, p->st.arena_bytes, p->st.naive_bytes);
	for (size_t k = 0; k < nn; k++)
		fprintf(f, "  %-20s %9.3f ms %5.1f%%\n", names[k], per[k] * 1e3 / (double)runs,
		    total > 0 ? 100.0 * per[k] / total : 0.0);
}

static void
print_step(const struct eml_plan *p, size_t s, FILE *f)
{
	const struct pnode *pn = &p->pn[p->order[s]];
	size_t k = 0;
	const struct val *o;

	while (k + 1 < pn->n_out && pn->out[k] < 0)
		k++; /* a recurrent layer may leave Y unnamed */
	if (pn->out[k] < 0)
		return;
	o = &p->v[pn->out[k]];

	const double *mn = p->prof + p->n_order + 1;

	fprintf(f, "  slowest: %-28s %-14s %8.3f ms (min %.3f", pn->n->name, pn->op->name,
	    p->prof[s] * 1e3 / (double)p->prof_runs, mn[s] * 1e3);
	if (mn[p->n_order + 1 + s] > 0)
		fprintf(f, ", f16 rounding %.3f", mn[p->n_order + 1 + s] * 1e3 / (double)p->prof_runs);
	fprintf(f, ")  out [");
	for (int d = 0; d < o->rank; d++)
		fprintf(f, "%s%lld", d ? "," : "", (long long)o->dims[d]);
	fprintf(f, "]%s%s\n", pn->conv != NULL ? " conv:" : "",
	    pn->conv != NULL ? eml_conv2d_method(pn->conv) : "");
}

/* The eight slowest steps. A printed step is marked by negating its time,
 * restored at the end. */
static void
print_slowest(const struct eml_plan *p, FILE *f)
{
	for (int top = 0; top < 8; top++) {
		size_t best = SIZE_MAX;
		for (size_t s = 0; s < p->n_order; s++) {
			if (best == SIZE_MAX || p->prof[s] > p->prof[best])
				best = s;
		}
		if (best == SIZE_MAX || p->prof[best] <= 0)
			break;
		print_step(p, best, f);
		p->prof[best] = -p->prof[best];
	}
	for (size_t s = 0; s < p->n_order; s++)
		if (p->prof[s] < 0)
			p->prof[s] = -p->prof[s];
}

void
eml_plan_print_profile(const struct eml_plan *p, FILE *f)
{
	if (p == NULL || p->prof == NULL || p->prof_runs == 0)
		return;
	print_op_totals(p, f);
	print_slowest(p, f);
}

/* Inputs of exactly the planned dtypes and shapes, and the planned values
 * for inputs bound as constants. */
static eml_err
check_run_inputs(const struct eml_plan *p, const struct eml_tensor *inputs, size_t n_inputs)
{
	if (n_inputs != p->m->g->n_inputs) {
		eml_err_set_detail("%zu inputs given, the model has %zu", n_inputs,
		    p->m->g->n_inputs);
		EML_BAIL(EML_ERR_INFER_INPUT);
	}
	for (size_t i = 0; i < n_inputs; i++) {
		const struct val *v = &p->v[p->in_idx[i]];
		enum eml_dtype dt = eml_narrow_dt(v);
		size_t nbytes = v->f16 ? v->numel * 2 : v->nbytes;
		bool same = inputs[i].dtype == dt && inputs[i].rank == v->rank &&
		    inputs[i].nbytes == nbytes && (nbytes == 0 || inputs[i].data != NULL);
		for (int d = 0; same && d < v->rank; d++)
			same = inputs[i].dims[d] == v->dims[d];
		if (!same) {
			eml_err_set_detail("input %s does not have the planned dtype and shape",
			    v->name);
			EML_BAIL(EML_ERR_INFER_INPUT);
		}
	}
	for (size_t i = 0; i < n_inputs; i++) {
		const struct val *v = &p->v[p->in_idx[i]];
		if (p->in_bound[i] && v->nbytes != 0 &&
		    memcmp(v->data, inputs[i].data, v->nbytes) != 0) {
			eml_err_set_detail("input %s was planned with another value; plan again",
			    v->name);
			EML_BAIL(EML_ERR_INFER_INPUT);
		}
	}
	return EML_OK;
}

static void
run_steps(struct eml_plan *p)
{
	for (size_t s = 0; s < p->n_order; s++) {
		struct pnode *pn = &p->pn[p->order[s]];
		/* The wall-time limit, between nodes (long kernels check too). */
		if (eml_pool_cancelled(p->pool))
			break;
		if (p->prof != NULL) {
			double t0 = now_s(), t1, t2, *mn = p->prof + p->n_order + 1;
			pn->op->run(p, pn);
			t1 = now_s();
			round_f16_outputs(p, pn);
			t2 = now_s();
			p->prof[s] += t2 - t0;
			if (p->prof_runs == 0 || t2 - t0 < mn[s])
				mn[s] = t2 - t0;
			mn[p->n_order + 1 + s] += t2 - t1;
		} else {
			pn->op->run(p, pn);
			round_f16_outputs(p, pn);
		}
	}
	if (p->prof != NULL)
		p->prof_runs++;
}

eml_err
eml_sub_run(struct eml_plan *sub)
{
	sub->run_err = EML_OK;
	run_steps(sub);
	return sub->run_err;
}

/* Views of the outputs in plan memory. */
static void
expose_outputs(struct eml_plan *p)
{
	for (size_t i = 0; i < p->m->g->n_outputs; i++) {
		const struct val *v = &p->v[p->out_idx[i]];
		struct eml_tensor *t = &p->outs[i];
		t->name = NULL;
		t->dtype = v->dt;
		t->rank = v->rank;
		EML_MEMCPY(t->dims, v->dims, sizeof(t->dims));
		t->data = v->data;
		t->nbytes = v->nbytes;
		t->owned = false;
		if (p->out16[i] != NULL) {
			if (v->bf16)
				eml_f32_to_bf16(v->numel, v->data, p->out16[i]);
			else
				eml_f32_to_f16(v->numel, v->data, p->out16[i]);
			t->dtype = eml_narrow_dt(v);
			t->data = p->out16[i];
			t->nbytes = v->numel * 2;
		}
	}
}

eml_err
eml_plan_run(struct eml_plan *p, const struct eml_tensor *inputs, size_t n_inputs)
{
	EML_ENSURE(p != NULL && (inputs != NULL || n_inputs == 0), EML_ERR_NULL);
	EML_GUARD(check_run_inputs(p, inputs, n_inputs));
	for (size_t i = 0; i < n_inputs; i++) {
		struct val *v = &p->v[p->in_idx[i]];
		if (v->f16)
			eml_narrow_widen(v, inputs[i].data, v->data);
		else if (!p->in_bound[i])
			EML_MEMCPY(v->data, inputs[i].data, v->nbytes);
	}
	p->run_err = EML_OK;
	eml_pool_set_deadline(p->pool,
	    p->time_limit_ms == 0 ? 0 : eml_pool_now_ns() + p->time_limit_ms * 1000000u);
	run_steps(p);
	/* A run that met its deadline anywhere (a kernel may have stopped
	 * early) is refused as a whole, even if the last node finished. */
	if (eml_pool_cancelled(p->pool)) {
		eml_pool_set_deadline(p->pool, 0);
		eml_err_set_detail("inference stopped at its wall-time limit of %llu ms",
		    (unsigned long long)p->time_limit_ms);
		EML_BAIL(EML_ERR_POLICY_TIME);
	}
	eml_pool_set_deadline(p->pool, 0);
	if (p->run_err != EML_OK)
		EML_BAIL(p->run_err);
	expose_outputs(p);
	return EML_OK;
}

void
eml_plan_set_time_limit(struct eml_plan *p, uint64_t ms)
{
	if (p != NULL)
		p->time_limit_ms = ms > UINT64_MAX / 2000000u ? UINT64_MAX / 2000000u : ms;
}

size_t
eml_plan_n_outputs(const struct eml_plan *p)
{
	return p == NULL ? 0 : p->m->g->n_outputs;
}

const struct eml_tensor *
eml_plan_output(const struct eml_plan *p, size_t i)
{
	if (p == NULL || i >= p->m->g->n_outputs)
		return NULL;
	return &p->outs[i];
}

void
eml_plan_get_stats(const struct eml_plan *p, struct eml_plan_stats *st)
{
	if (p == NULL || st == NULL)
		return;
	*st = p->st;
}

void
eml_plan_free(struct eml_plan *p)
{
	if (p == NULL)
		return;
	if (p->v != NULL) {
		for (size_t i = 0; i < p->nv; i++)
			if (p->v[i].owned)
				eml_secure_free(p->v[i].data);
		eml_free_wipe(p->v, p->nv * sizeof(*p->v));
	}
	if (p->pn != NULL) {
		for (size_t i = 0; i < p->npn; i++) {
			struct pnode *pn = &p->pn[i];
			eml_pn_free_in(p, pn);
			if (!in_io(p, pn->out))
				eml_free(pn->out);
			eml_cf_free(pn->cf);
			eml_conv2d_plan_free(pn->conv);
			if (pn->w != NULL)
				eml_secure_free(pn->w);
			if (pn->wscale != NULL)
				eml_secure_free(pn->wscale);
			if (pn->b != NULL)
				eml_secure_free(pn->b);
		}
		eml_free_wipe(p->pn, p->npn * sizeof(*p->pn));
	}
	if (p->arena != NULL)
		eml_secure_free(p->arena);
	eml_names_free(&p->names);
	eml_free(p->in_idx);
	eml_free(p->in_bound);
	eml_free(p->out_idx);
	eml_free(p->outs);
	if (p->out16 != NULL)
		for (size_t i = 0; i < p->m->g->n_outputs; i++)
			if (p->out16[i] != NULL)
				eml_secure_free(p->out16[i]);
	eml_free(p->out16);
	eml_free(p->order);
	eml_free(p->prof);
	eml_free(p->prod_of);
	free_readers(p);
	eml_free_wipe(p->io, p->n_io * sizeof(int)); /* the graph's wiring */
	if (!p->pool_borrowed)
		eml_pool_free(p->pool);
	eml_free_wipe(p, sizeof(*p));
}
