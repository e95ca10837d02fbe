/*
 * Control flow: If, Loop and Scan (docs/internals/engine.md, "Control
 * flow"). Each subgraph is a model of its own (eml_model_new_sub: the
 * subgraph's declared inputs, then the outer values it reads); at plan
 * time the node plans it once as a sub-plan on the parent's pool, with
 * the outer values that are constants planned as constants, and at run
 * copies the outer values in, runs the sub-plan's steps and copies the
 * results out. Nothing is allocated at run.
 */
#include <string.h>

#include "eml_mem.h"
#include "engine_int.h"
#include "ops.h"

/* Most values through one Loop or Scan (and outputs of an If). */
#define CF_MAX_IO 64

/* One planned subgraph: where each of its inputs comes from. */
struct cf_sub {
	struct eml_plan *plan;
	int *src;      /* per sub-plan input: the parent value, or -1 (set by the op) */
	bool *is_const;
	struct eml_tensor *tin;
	size_t n;
};

struct cf_state {
	struct cf_sub s[CF_SUBS];
	int taken;         /* If: the branch of a constant condition, or -1 */
	int64_t max_iters; /* Loop: iterations the scan outputs were sized for */
	/* Loop, Scan: the carried values between two iterations. A body's
	 * output may share bytes with another carried input (Identity
	 * aliases), so all are copied out before any is copied back. */
	uint8_t *stage;
	size_t stage_bytes;
	/* Loop unrolled: one body plan per iteration, its number bound. */
	struct cf_sub *unrolled;
	int64_t *iter_no;
	size_t n_unrolled;
};

static void
eml_cf_free_sub(struct cf_sub *s)
{
	eml_plan_free(s->plan);
	eml_free(s->src);
	eml_free(s->is_const);
	eml_free(s->tin);
	memset(s, 0, sizeof(*s));
}

void
eml_cf_free(struct cf_state *cf)
{
	if (cf == NULL)
		return;
	for (int b = 0; b < CF_SUBS; b++)
		eml_cf_free_sub(&cf->s[b]);
	if (cf->stage != NULL)
		eml_secure_free(cf->stage);
	for (size_t i = 0; i < cf->n_unrolled; i++)
		eml_cf_free_sub(&cf->unrolled[i]);
	eml_free(cf->unrolled);
	eml_free(cf->iter_no);
	eml_free_wipe(cf, sizeof(*cf));
}

static eml_err
cf_state(struct pnode *pn)
{
	if (pn->cf == NULL) {
		pn->cf = eml_calloc(1, sizeof(*pn->cf));
		EML_ENSURE(pn->cf != NULL, EML_ERR_NOMEM);
		pn->cf->taken = -1;
	}
	return EML_OK;
}

static const struct eml_model *
sub_model(struct eml_plan *p, const struct pnode *pn, int slot)
{
	size_t i = (size_t)(pn - p->pn);

	return p->m->sub == NULL ? NULL : p->m->sub[i * CF_SUBS + (size_t)slot];
}

static void
tensor_of(const struct val *v, struct eml_tensor *t)
{
	memset(t, 0, sizeof(*t));
	t->dtype = v->dt;
	t->rank = v->rank;
	EML_MEMCPY(t->dims, v->dims, sizeof(t->dims));
	t->nbytes = v->nbytes;
	t->data = v->kind == VK_CONST ? v->data : NULL;
}

/*
 * Plan model m into s. The first n_own inputs (the subgraph's own: Loop's
 * iteration, condition and carried values, Scan's states and slices) are
 * described by own[] (constants where data is set, borrowed); the rest are
 * outer values, found by name among the parent's values (connect_node
 * made them inputs of pn).
 */
static eml_err
plan_into(struct eml_plan *p, struct pnode *pn, const struct eml_model *m, struct cf_sub *s,
    const struct eml_tensor *own, size_t n_own)
{
	if (m == NULL || m->n_declared != n_own)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
		    "subgraph has %zu inputs, the operator gives %zu",
		    m == NULL ? (size_t)0 : m->n_declared, n_own);
	s->n = m->g->n_inputs;
	s->src = eml_calloc(s->n + 1, sizeof(int));
	s->is_const = eml_calloc(s->n + 1, sizeof(bool));
	s->tin = eml_calloc(s->n + 1, sizeof(*s->tin));
	EML_ENSURE(s->src != NULL && s->is_const != NULL && s->tin != NULL, EML_ERR_NOMEM);
	for (size_t k = 0; k < s->n; k++) {
		size_t idx;

		s->src[k] = -1;
		if (k < n_own) {
			s->tin[k] = own[k];
			s->is_const[k] = own[k].data != NULL;
			continue;
		}
		if (!eml_names_get(&p->names, m->g->inputs[k].name, &idx))
			return eml_pn_fail(pn->n, EML_ERR_INFER_INPUT, "outer value %s undefined",
			    m->g->inputs[k].name);
		s->src[k] = (int)idx;
		tensor_of(&p->v[idx], &s->tin[k]);
		s->is_const[k] = p->v[idx].kind == VK_CONST;
	}
	EML_GUARD(eml_plan_new_sub(p, m, s->tin, s->n, s->is_const, &s->plan));
	if (s->plan->m->g->n_outputs < 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "subgraph without outputs");
	return EML_OK;
}

static eml_err
plan_sub(struct eml_plan *p, struct pnode *pn, int slot, const struct eml_tensor *own,
    size_t n_own)
{
	EML_GUARD(cf_state(pn));
	return plan_into(p, pn, sub_model(p, pn, slot), &pn->cf->s[slot], own, n_own);
}

/* Copy the outer values into a sub-plan's inputs (constants were bound). */
static void
feed_outer(struct eml_plan *p, struct cf_sub *s)
{
	for (size_t k = 0; k < s->n; k++) {
		struct val *dst = eml_sub_in(s->plan, k);

		if (s->src[k] < 0 || s->is_const[k] || dst->nbytes == 0)
			continue;
		memmove(dst->data, p->v[s->src[k]].data, dst->nbytes);
	}
}

static bool
same_shape(const struct val *a, const struct val *b)
{
	if (a->dt != b->dt || a->rank != b->rank)
		return false;
	for (int d = 0; d < a->rank; d++)
		if (a->dims[d] != b->dims[d])
			return false;
	return true;
}

/* Output k of pn takes the dtype and shape of v. */
static eml_err
out_like(struct eml_plan *p, struct pnode *pn, size_t k, const struct val *v)
{
	struct val *o = eml_pn_out(p, pn, k);

	if (o == NULL)
		return EML_OK;
	EML_GUARD(eml_pn_set_out(p, pn, k, v->dt, v->rank, v->dims));
	o->f16 = v->f16;
	o->bf16 = v->bf16;
	return EML_OK;
}

/* Room for n carried values of the dtypes and shapes of pn's inputs
 * first.. (a body keeps them: checked at plan). */
static eml_err
stage_alloc(struct eml_plan *p, struct pnode *pn, size_t first, size_t n)
{
	size_t total = 0;

	for (size_t k = 0; k < n; k++)
		EML_ENSURE(!eml_add_overflow(total, eml_pn_in(p, pn, first + k)->nbytes, &total),
		    EML_ERR_INFER_TOO_LARGE);
	pn->cf->stage = eml_secure_alloc(total == 0 ? 1 : total);
	EML_ENSURE(pn->cf->stage != NULL, EML_ERR_NOMEM);
	pn->cf->stage_bytes = total;
	return EML_OK;
}

/* n values between the stage and a sub-plan's inputs or outputs from
 * first on (to_stage: outputs into the stage). */
static void
stage_move(struct cf_state *cf, struct eml_plan *sub, size_t first, size_t n, bool to_stage)
{
	size_t off = 0;

	for (size_t k = 0; k < n; k++) {
		struct val *v = to_stage ? eml_sub_out(sub, first + k) : eml_sub_in(sub, first + k);

		if (v->nbytes > 0 && to_stage)
			memcpy(cf->stage + off, v->data, v->nbytes);
		else if (v->nbytes > 0)
			memcpy(v->data, cf->stage + off, v->nbytes);
		off += v->nbytes;
	}
}

/* pn's inputs in_first.. into the stage (to_stage), or the stage into its
 * outputs out_first.. (an omitted output skipped; sizes are the inputs'). */
static void
stage_node(struct eml_plan *p, struct pnode *pn, size_t in_first, size_t out_first, size_t n,
    bool to_stage)
{
	size_t off = 0;

	for (size_t k = 0; k < n; k++) {
		const struct val *in = eml_pn_in(p, pn, in_first + k);
		struct val *o = eml_pn_out(p, pn, out_first + k);

		if (in->nbytes > 0 && to_stage)
			memcpy(pn->cf->stage + off, in->data, in->nbytes);
		else if (in->nbytes > 0 && o != NULL)
			memcpy(o->data, pn->cf->stage + off, in->nbytes);
		off += in->nbytes;
	}
}

/* ---------------------------------------------------------------- If */

static eml_err
if_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *c = eml_pn_in(p, pn, 0);
	size_t nout = pn->n->n_outputs;

	EML_GUARD(cf_state(pn));
	if (c->dt != EML_DT_BOOL || c->numel != 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "condition is not one bool");
	/* A condition known after shape folding: only the taken branch is
	 * planned, and runs as the If's step with no test. (Never folded at
	 * plan time, even over constants: a branch may hold a Loop.) */
	if (c->kind == VK_CONST)
		pn->cf->taken = ((const uint8_t *)c->data)[0] != 0 ? 0 : 1;
	for (int b = 0; b < CF_SUBS; b++)
		if (pn->cf->taken < 0 || pn->cf->taken == b) {
			EML_GUARD(plan_sub(p, pn, b, NULL, 0));
			if (pn->cf->s[b].plan->m->g->n_outputs != nout)
				return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
				    "branch has %zu outputs, the node %zu",
				    pn->cf->s[b].plan->m->g->n_outputs, nout);
		}
	for (size_t k = 0; k < nout; k++) {
		const struct val *v0 = pn->cf->s[0].plan != NULL ? eml_sub_out(pn->cf->s[0].plan, k) :
		    NULL;
		const struct val *v1 = pn->cf->s[1].plan != NULL ? eml_sub_out(pn->cf->s[1].plan, k) :
		    NULL;

		if (v0 != NULL && v1 != NULL && !same_shape(v0, v1))
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "output %zu: the branches give different dtypes or shapes and the "
			    "condition is not a constant", k);
		EML_GUARD(out_like(p, pn, k, v0 != NULL ? v0 : v1));
	}
	return EML_OK;
}

static void
if_run(struct eml_plan *p, struct pnode *pn)
{
	int b = pn->cf->taken;
	struct cf_sub *s;
	eml_err rc;

	if (b < 0)
		b = ((const uint8_t *)eml_pn_in(p, pn, 0)->data)[0] != 0 ? 0 : 1;
	s = &pn->cf->s[b];
	feed_outer(p, s);
	rc = eml_sub_run(s->plan);
	if (rc != EML_OK) {
		p->run_err = rc;
		return;
	}
	for (size_t k = 0; k < pn->n_out; k++) {
		struct val *o = eml_pn_out(p, pn, k);
		const struct val *v = eml_sub_out(s->plan, k);

		if (o == NULL || o->nbytes == 0)
			continue;
		if (v->nbytes != o->nbytes) { /* rows known only at run in the branch */
			p->run_err = eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "branch output %zu changed size at run", k);
			return;
		}
		memmove(o->data, v->data, o->nbytes);
	}
}

/* ---------------------------------------------------------------- Loop */

/* Bodies planned one per iteration at most (when the body needs its
 * iteration number as a constant, e.g. to Slice with it). */
#define LOOP_UNROLL_MAX 64

static const uint8_t loop_true = 1;

/* The body's own inputs: iteration, condition, carried values (as the
 * Loop's inputs 2..). With it >= 0 the iteration and condition are
 * constants (it and true). */
static void
loop_own(struct eml_plan *p, struct pnode *pn, size_t n_carry, const int64_t *it,
    struct eml_tensor *own)
{
	memset(own, 0, (n_carry + 2) * sizeof(*own));
	own[0].dtype = EML_DT_INT64;
	own[0].nbytes = 8;
	own[0].data = (void *)(uintptr_t)it;
	own[1].dtype = EML_DT_BOOL;
	own[1].nbytes = 1;
	own[1].data = it != NULL ? (void *)(uintptr_t)&loop_true : NULL;
	for (size_t k = 0; k < n_carry; k++) {
		tensor_of(eml_pn_in(p, pn, 2 + k), &own[2 + k]);
		own[2 + k].data = NULL; /* changes every iteration */
	}
}

/* A planned body: condition one bool, carried values keeping their dtype
 * and shape, scan outputs of the first body's shapes. */
/* The body plan the Loop's shapes come from (the first unrolled one). */
static struct eml_plan *
loop_ref(const struct cf_state *cf)
{
	return cf->n_unrolled > 0 ? cf->unrolled[0].plan : cf->s[0].plan;
}

static eml_err
loop_check_body(struct eml_plan *p, struct pnode *pn, const struct eml_plan *body,
    size_t n_carry)
{
	size_t n_scan = pn->n->n_outputs - n_carry;
	const struct val *co;

	if (body->m->g->n_outputs != 1 + n_carry + n_scan)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "body has %zu outputs, the loop %zu",
		    body->m->g->n_outputs, 1 + n_carry + n_scan);
	co = eml_sub_out((struct eml_plan *)(uintptr_t)body, 0);
	if (co->dt != EML_DT_BOOL || co->numel != 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "body condition is not one bool");
	for (size_t k = 0; k < n_carry; k++)
		if (!same_shape(eml_pn_in(p, pn, 2 + k),
		    eml_sub_out((struct eml_plan *)(uintptr_t)body, 1 + k)))
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "loop-carried value %zu changes dtype or shape", k);
	for (size_t k = 0; loop_ref(pn->cf) != NULL && k < n_scan; k++)
		if (!same_shape(eml_sub_out(loop_ref(pn->cf), 1 + n_carry + k),
		    eml_sub_out((struct eml_plan *)(uintptr_t)body, 1 + n_carry + k)))
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "scan output %zu changes shape between iterations", k);
	return EML_OK;
}

/* One body plan per iteration 0 .. iters-1, each with its number bound. */
static eml_err
loop_unroll(struct eml_plan *p, struct pnode *pn, size_t n_carry, int64_t iters,
    struct eml_tensor *own)
{
	struct cf_state *cf = pn->cf;

	cf->unrolled = eml_calloc((size_t)iters + 1, sizeof(*cf->unrolled));
	cf->iter_no = eml_calloc((size_t)iters + 1, sizeof(int64_t));
	EML_ENSURE(cf->unrolled != NULL && cf->iter_no != NULL, EML_ERR_NOMEM);
	for (int64_t i = 0; i < iters; i++) {
		cf->iter_no[i] = i;
		loop_own(p, pn, n_carry, &cf->iter_no[i], own);
		cf->n_unrolled = (size_t)i + 1;
		EML_GUARD(plan_into(p, pn, sub_model(p, pn, 0), &cf->unrolled[i], own, n_carry + 2));
		/* every body held to the first one's shapes */
		EML_GUARD(loop_check_body(p, pn, cf->unrolled[i].plan, n_carry));
	}
	return EML_OK;
}

/* Loop inputs: M, cond, carried...; body: iter, cond, carried... ->
 * cond, carried..., scan outputs... */
static eml_err
loop_plan(struct eml_plan *p, struct pnode *pn)
{
	const struct val *mv = eml_pn_in(p, pn, 0), *cv = eml_pn_in(p, pn, 1);
	size_t n_carry, n_scan;
	struct eml_tensor own[CF_MAX_IO + 2];
	int64_t iters = -1;
	eml_err rc;

	EML_GUARD(cf_state(pn));
	if (pn->n->n_inputs < 2)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "Loop without M and cond slots");
	n_carry = pn->n->n_inputs - 2;
	if (n_carry > CF_MAX_IO || pn->n->n_outputs < n_carry)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%zu loop-carried values, %zu outputs",
		    n_carry, pn->n->n_outputs);
	n_scan = pn->n->n_outputs - n_carry;
	if (mv != NULL && ((mv->dt != EML_DT_INT64) || mv->numel != 1))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "trip count is not one int64");
	if (cv != NULL && (cv->dt != EML_DT_BOOL || cv->numel != 1))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "condition is not one bool");
	if (mv != NULL && mv->kind == VK_CONST)
		iters = ((const int64_t *)mv->data)[0] < 0 ? 0 : ((const int64_t *)mv->data)[0];
	if (cv != NULL && cv->kind == VK_CONST && ((const uint8_t *)cv->data)[0] == 0)
		iters = 0;
	if (n_scan > 0 && iters < 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
		    "scan outputs need a constant trip count");
	pn->cf->max_iters = iters;
	loop_own(p, pn, n_carry, NULL, own);
	rc = plan_sub(p, pn, 0, own, n_carry + 2);
	if (rc == EML_ERR_INFER_NOT_CONST && iters >= 0 && iters <= LOOP_UNROLL_MAX) {
		/* the body needs its iteration number as a constant */
		eml_cf_free_sub(&pn->cf->s[0]);
		EML_GUARD(loop_unroll(p, pn, n_carry, iters, own));
	} else if (rc != EML_OK) {
		return rc;
	} else {
		EML_GUARD(loop_check_body(p, pn, pn->cf->s[0].plan, n_carry));
	}
	for (size_t k = 0; k < n_carry; k++)
		EML_GUARD(out_like(p, pn, k, eml_pn_in(p, pn, 2 + k)));
	EML_GUARD(stage_alloc(p, pn, 2, n_carry));
	for (size_t k = 0; k < n_scan; k++) {
		const struct val *o;
		int64_t dims[EML_MAX_RANK];
		struct val *out;

		if (loop_ref(pn->cf) == NULL) { /* unrolled zero times: nothing to size */
			int64_t zero = 0;
			EML_GUARD(eml_pn_set_out(p, pn, n_carry + k, EML_DT_FLOAT, 1, &zero));
			continue;
		}
		o = eml_sub_out(loop_ref(pn->cf), 1 + n_carry + k);
		if (o->rank >= EML_MAX_RANK)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scan output of rank %d",
			    o->rank);
		dims[0] = iters;
		EML_MEMCPY(dims + 1, o->dims, (size_t)o->rank * sizeof(int64_t));
		EML_GUARD(eml_pn_set_out(p, pn, n_carry + k, o->dt, o->rank + 1, dims));
		out = eml_pn_out(p, pn, n_carry + k);
		if (out != NULL)
			out->rt_len = true; /* the body may stop early */
	}
	return EML_OK;
}

/* The scan outputs' rows: the iterations that ran. */
static void
loop_rows(struct eml_plan *p, struct pnode *pn, size_t n_carry, int64_t done)
{
	for (size_t k = n_carry; k < pn->n_out; k++) {
		struct val *o = eml_pn_out(p, pn, k);
		size_t row;

		if (o == NULL)
			continue;
		row = o->dims[0] == 0 ? 0 : o->numel / (size_t)o->dims[0];
		o->dims[0] = done;
		o->numel = row * (size_t)done;
		o->nbytes = o->numel * eml_dtype_size(o->dt);
	}
}

static void
loop_run(struct eml_plan *p, struct pnode *pn)
{
	const struct val *mv = eml_pn_in(p, pn, 0), *cv = eml_pn_in(p, pn, 1);
	struct cf_state *cf = pn->cf;
	size_t n_carry = pn->n->n_inputs - 2;
	int64_t m = mv != NULL ? ((const int64_t *)mv->data)[0] : INT64_MAX;
	bool cond = cv != NULL ? ((const uint8_t *)cv->data)[0] != 0 : true;
	int64_t it = 0;

	/* Scan outputs were sized, bodies unrolled, for max_iters: never more. */
	if ((pn->n_out > n_carry || cf->n_unrolled > 0) && m > cf->max_iters)
		m = cf->max_iters;
	stage_node(p, pn, 2, 0, n_carry, true);
	if (cf->n_unrolled == 0 && cf->s[0].plan != NULL)
		feed_outer(p, &cf->s[0]);
	/* A hostile trip count (2^62) ends at the wall-time limit. */
	for (; it < m && cond && !eml_pn_stopped(p); it++) {
		struct cf_sub *s = cf->n_unrolled > 0 ? &cf->unrolled[it] : &cf->s[0];
		eml_err rc;

		if (cf->n_unrolled > 0)
			feed_outer(p, s);
		stage_move(cf, s->plan, 2, n_carry, false);
		if (!s->is_const[0]) {
			*(int64_t *)eml_sub_in(s->plan, 0)->data = it;
			*(uint8_t *)eml_sub_in(s->plan, 1)->data = 1;
		}
		rc = eml_sub_run(s->plan);
		if (rc != EML_OK) {
			p->run_err = rc;
			return;
		}
		cond = *(const uint8_t *)eml_sub_out(s->plan, 0)->data != 0;
		for (size_t k = n_carry; k < pn->n_out; k++) {
			struct val *o = eml_pn_out(p, pn, k);
			const struct val *src = eml_sub_out(s->plan, 1 + k);

			if (o != NULL && src->nbytes > 0)
				memcpy((uint8_t *)o->data + (size_t)it * src->nbytes, src->data,
				    src->nbytes);
		}
		stage_move(cf, s->plan, 1, n_carry, true);
	}
	stage_node(p, pn, 2, 0, n_carry, false);
	loop_rows(p, pn, n_carry, it);
}

/* ---------------------------------------------------------------- Scan */

struct scan_geo {
	size_t outer, inner; /* elements before the axis, bytes after it */
	int64_t len;         /* along the axis */
	bool reverse;
};

/* Axis `a` of v split as outer x len x inner. */
static void
scan_geo_of(const struct val *v, int a, bool reverse, struct scan_geo *g)
{
	g->outer = 1;
	g->inner = eml_dtype_size(v->dt);
	for (int d = 0; d < a; d++)
		g->outer *= (size_t)v->dims[d];
	for (int d = a + 1; d < v->rank; d++)
		g->inner *= (size_t)v->dims[d];
	g->len = v->dims[a];
	g->reverse = reverse;
}

/* Slice t along the axis: to (gather) or from (scatter) a dense slice. */
static void
scan_move(uint8_t *full, uint8_t *slice, const struct scan_geo *g, int64_t t, bool gather)
{
	size_t pos = (size_t)(g->reverse ? g->len - 1 - t : t);

	for (size_t o = 0; o < g->outer; o++) {
		uint8_t *f = full + (o * (size_t)g->len + pos) * g->inner;
		uint8_t *sl = slice + o * g->inner;

		if (gather)
			memcpy(sl, f, g->inner);
		else
			memcpy(f, sl, g->inner);
	}
}

static int64_t
list_at(const struct eml_attr *a, size_t i, int64_t def)
{
	return a != NULL && a->type == EML_ATTR_INTS && i < a->n ? a->ints[i] : def;
}

/*
 * Scan opset 8: sequence_lens, states..., scan inputs... -> states...,
 * scan outputs. Every value has a leading batch axis the body does not
 * see; scan inputs and outputs run along axis 1, `directions` reverses
 * inputs. Run as one opset-9 scan per batch entry. sequence_lens (shorter
 * sequences in a batch) is refused: only its omission is taken.
 */
static eml_err
scan8_own(struct pnode *pn, const struct val *v, bool scanned, int64_t *batch, int64_t *len,
    struct eml_tensor *t)
{
	int drop = scanned ? 2 : 1;
	size_t div;

	if (v == NULL || v->rank < drop)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
		    "Scan-8 input without its batch (and sequence) axis");
	if ((*batch >= 0 && v->dims[0] != *batch) || (scanned && *len >= 0 && v->dims[1] != *len))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "Scan-8 batch or sequence lengths differ");
	*batch = v->dims[0];
	if (scanned)
		*len = v->dims[1];
	tensor_of(v, t);
	t->data = NULL;
	t->rank = v->rank - drop;
	memmove(t->dims, t->dims + drop, (size_t)(v->rank - drop) * sizeof(int64_t));
	div = (size_t)*batch * (scanned ? (size_t)*len : 1);
	t->nbytes = div == 0 ? 0 : v->nbytes / div;
	return EML_OK;
}

static eml_err
scan8_plan(struct eml_plan *p, struct pnode *pn)
{
	const struct eml_attr *na = eml_node_attr(pn->n, "num_scan_inputs");
	size_t n_in = pn->n->n_inputs, n_state, n_scan_out;
	struct eml_tensor own[CF_MAX_IO];
	struct eml_plan *body;
	int64_t len = -1, batch = -1;

	if (n_in >= 1 && eml_pn_in(p, pn, 0) != NULL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_OP, "Scan-8 with sequence_lens not supported");
	if (na == NULL || na->i < 1 || n_in < 2 || (uint64_t)na->i > n_in - 1 || n_in > CF_MAX_IO)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "num_scan_inputs out of range");
	n_state = n_in - 1 - (size_t)na->i;
	if (pn->n->n_outputs < n_state)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "fewer outputs than states");
	n_scan_out = pn->n->n_outputs - n_state;
	memset(own, 0, sizeof(own));
	for (size_t k = 1; k < n_in; k++)
		EML_GUARD(scan8_own(pn, eml_pn_in(p, pn, k), k > n_state, &batch, &len, &own[k - 1]));
	EML_GUARD(plan_sub(p, pn, 0, own, n_in - 1));
	body = pn->cf->s[0].plan;
	if (body->m->g->n_outputs != n_state + n_scan_out)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "body has %zu outputs, the Scan %zu",
		    body->m->g->n_outputs, n_state + n_scan_out);
	for (size_t k = 0; k < n_state; k++) {
		const struct val *o = eml_sub_out(body, k);
		if (o->dt != own[k].dtype || o->rank != own[k].rank ||
		    memcmp(o->dims, own[k].dims, (size_t)o->rank * sizeof(int64_t)) != 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "state %zu changes shape", k);
		EML_GUARD(out_like(p, pn, k, eml_pn_in(p, pn, k + 1)));
	}
	EML_GUARD(stage_alloc(p, pn, 1, n_state));
	for (size_t k = 0; k < n_scan_out; k++) {
		const struct val *o = eml_sub_out(body, n_state + k);
		int64_t dims[EML_MAX_RANK];

		if (o->rank + 2 > EML_MAX_RANK)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scan output of rank %d",
			    o->rank);
		dims[0] = batch;
		dims[1] = len < 0 ? 0 : len;
		EML_MEMCPY(dims + 2, o->dims, (size_t)o->rank * sizeof(int64_t));
		EML_GUARD(eml_pn_set_out(p, pn, n_state + k, o->dt, o->rank + 2, dims));
	}
	return EML_OK;
}

/* One batch entry b of a Scan-8: the body over its len steps. */
static eml_err
scan8_entry(struct eml_plan *p, struct pnode *pn, size_t n_state, int64_t b, int64_t len)
{
	const struct eml_attr *dir = eml_node_attr(pn->n, "directions");
	struct cf_sub *s = &pn->cf->s[0];
	size_t n_in = pn->n->n_inputs;

	for (size_t k = 0; k < n_state; k++) {
		struct val *dst = eml_sub_in(s->plan, k);
		memmove(dst->data, (uint8_t *)eml_pn_in(p, pn, k + 1)->data + (size_t)b * dst->nbytes,
		    dst->nbytes);
	}
	for (int64_t t = 0; t < len && !eml_pn_stopped(p); t++) {
		eml_err rc;

		for (size_t k = n_state + 1; k < n_in; k++) {
			struct val *dst = eml_sub_in(s->plan, k - 1);
			int64_t pos = list_at(dir, k - 1 - n_state, 0) != 0 ? len - 1 - t : t;
			memcpy(dst->data,
			    (uint8_t *)eml_pn_in(p, pn, k)->data +
				((size_t)b * (size_t)len + (size_t)pos) * dst->nbytes,
			    dst->nbytes);
		}
		rc = eml_sub_run(s->plan);
		if (rc != EML_OK)
			return rc;
		for (size_t k = n_state; k < pn->n_out; k++) {
			struct val *o = eml_pn_out(p, pn, k);
			const struct val *src = eml_sub_out(s->plan, k);
			if (o != NULL)
				memcpy((uint8_t *)o->data +
					((size_t)b * (size_t)len + (size_t)t) * src->nbytes,
				    src->data, src->nbytes);
		}
		stage_move(pn->cf, s->plan, 0, n_state, true);
		stage_move(pn->cf, s->plan, 0, n_state, false);
	}
	for (size_t k = 0; k < n_state; k++) {
		struct val *o = eml_pn_out(p, pn, k);
		const struct val *st = eml_sub_in(s->plan, k);
		if (o != NULL)
			memmove((uint8_t *)o->data + (size_t)b * st->nbytes, st->data, st->nbytes);
	}
	return EML_OK;
}

static void
scan8_run(struct eml_plan *p, struct pnode *pn)
{
	const struct eml_attr *na = eml_node_attr(pn->n, "num_scan_inputs");
	size_t n_in = pn->n->n_inputs, n_state = n_in - 1 - (size_t)na->i;
	const struct val *first = eml_pn_in(p, pn, 1);
	int64_t batch = first->dims[0], len = eml_pn_in(p, pn, n_state + 1)->dims[1];

	feed_outer(p, &pn->cf->s[0]);
	for (int64_t b = 0; b < batch && !eml_pn_stopped(p); b++) {
		eml_err rc = scan8_entry(p, pn, n_state, b, len);
		if (rc != EML_OK) {
			p->run_err = rc;
			return;
		}
	}
}

/* Scan (opset 9+): states..., scan inputs... -> states..., scan outputs. */
static eml_err
scan_plan(struct eml_plan *p, struct pnode *pn)
{
	const struct eml_attr *na = eml_node_attr(pn->n, "num_scan_inputs");
	const struct eml_attr *ia = eml_node_attr(pn->n, "scan_input_axes");
	const struct eml_attr *oa = eml_node_attr(pn->n, "scan_output_axes");
	size_t n_in = pn->n->n_inputs, n_scan_in, n_state, n_scan_out;
	struct eml_tensor own[CF_MAX_IO];
	struct eml_plan *body;
	int64_t len = -1;

	EML_GUARD(cf_state(pn));
	if (p->m->g->opset < 9)
		return scan8_plan(p, pn);
	if (na == NULL || na->i < 1 || (uint64_t)na->i > n_in || n_in > CF_MAX_IO)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "num_scan_inputs out of range");
	for (size_t k = 0; k < n_in; k++)
		if (eml_pn_in(p, pn, k) == NULL)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "input %zu omitted", k);
	n_scan_in = (size_t)na->i;
	n_state = n_in - n_scan_in;
	if (pn->n->n_outputs < n_state)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "fewer outputs than states");
	n_scan_out = pn->n->n_outputs - n_state;
	memset(own, 0, sizeof(own));
	for (size_t k = 0; k < n_in; k++) {
		const struct val *v = eml_pn_in(p, pn, k);
		tensor_of(v, &own[k]);
		own[k].data = NULL;
		if (k >= n_state) {
			int a;
			EML_GUARD(eml_axis(pn->n, list_at(ia, k - n_state, 0), v->rank, 0, &a));
			if (len >= 0 && v->dims[a] != len)
				return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
				    "scan inputs of different lengths");
			len = v->dims[a];
			own[k].rank = v->rank - 1;
			memmove(own[k].dims + a, own[k].dims + a + 1,
			    (size_t)(v->rank - 1 - a) * sizeof(int64_t));
			own[k].nbytes = len == 0 ? 0 : v->nbytes / (size_t)len;
		}
	}
	EML_GUARD(plan_sub(p, pn, 0, own, n_in));
	body = pn->cf->s[0].plan;
	if (body->m->g->n_outputs != n_state + n_scan_out)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "body has %zu outputs, the Scan %zu",
		    body->m->g->n_outputs, n_state + n_scan_out);
	for (size_t k = 0; k < n_state; k++) {
		const struct val *in = eml_pn_in(p, pn, k), *o = eml_sub_out(body, k);
		if (!same_shape(in, o))
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "state %zu changes shape", k);
		EML_GUARD(out_like(p, pn, k, in));
	}
	EML_GUARD(stage_alloc(p, pn, 0, n_state));
	for (size_t k = 0; k < n_scan_out; k++) {
		const struct val *o = eml_sub_out(body, n_state + k);
		int64_t dims[EML_MAX_RANK];
		int a;

		if (o->rank >= EML_MAX_RANK)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scan output of rank %d",
			    o->rank);
		EML_GUARD(eml_axis(pn->n, list_at(oa, k, 0), o->rank, 1, &a));
		EML_MEMCPY(dims, o->dims, (size_t)a * sizeof(int64_t));
		dims[a] = len;
		EML_MEMCPY(dims + a + 1, o->dims + a, (size_t)(o->rank - a) * sizeof(int64_t));
		EML_GUARD(eml_pn_set_out(p, pn, n_state + k, o->dt, o->rank + 1, dims));
	}
	return EML_OK;
}

static void
scan_run(struct eml_plan *p, struct pnode *pn)
{
	const struct eml_attr *na = eml_node_attr(pn->n, "num_scan_inputs");
	const struct eml_attr *ia = eml_node_attr(pn->n, "scan_input_axes");
	const struct eml_attr *id = eml_node_attr(pn->n, "scan_input_directions");
	const struct eml_attr *oa = eml_node_attr(pn->n, "scan_output_axes");
	const struct eml_attr *od = eml_node_attr(pn->n, "scan_output_directions");
	struct cf_sub *s = &pn->cf->s[0];
	size_t n_in = pn->n->n_inputs, n_state = n_in - (size_t)na->i;
	int64_t len = 0;

	if (p->m->g->opset < 9) {
		scan8_run(p, pn);
		return;
	}
	for (size_t k = 0; k < n_state; k++) {
		struct val *dst = eml_sub_in(s->plan, k);
		if (dst->nbytes > 0)
			memmove(dst->data, eml_pn_in(p, pn, k)->data, dst->nbytes);
	}
	feed_outer(p, s);
	if (n_in > n_state) {
		const struct val *v = eml_pn_in(p, pn, n_state);
		int64_t a = list_at(ia, 0, 0);
		len = v->dims[a < 0 ? a + v->rank : a];
	}
	for (int64_t t = 0; t < len && !eml_pn_stopped(p); t++) {
		eml_err rc;

		for (size_t k = n_state; k < n_in; k++) {
			struct val *v = eml_pn_in(p, pn, k);
			int64_t a = list_at(ia, k - n_state, 0);
			struct scan_geo g;

			scan_geo_of(v, (int)(a < 0 ? a + v->rank : a), list_at(id, k - n_state, 0) != 0,
			    &g);
			scan_move(v->data, eml_sub_in(s->plan, k)->data, &g, t, true);
		}
		rc = eml_sub_run(s->plan);
		if (rc != EML_OK) {
			p->run_err = rc;
			return;
		}
		for (size_t k = n_state; k < pn->n_out; k++) {
			struct val *o = eml_pn_out(p, pn, k);
			int64_t a = list_at(oa, k - n_state, 0);
			struct scan_geo g;

			if (o == NULL)
				continue;
			scan_geo_of(o, (int)(a < 0 ? a + o->rank : a), list_at(od, k - n_state, 0) != 0,
			    &g);
			scan_move(o->data, eml_sub_out(s->plan, k)->data, &g, t, false);
		}
		stage_move(pn->cf, s->plan, 0, n_state, true);
		stage_move(pn->cf, s->plan, 0, n_state, false);
	}
	for (size_t k = 0; k < n_state; k++) {
		struct val *o = eml_pn_out(p, pn, k);
		if (o != NULL && o->nbytes > 0)
			memmove(o->data, eml_sub_in(s->plan, k)->data, o->nbytes);
	}
}

/* ---------------------------------------------------------------- table */

const struct op eml_ops_cf[] = {
	{ "If", "then_branch:G else_branch:G", PK_NONE, 1, 1, 1, CF_MAX_IO, if_plan,
	    NULL, if_run, OPF_NO_FOLD },
	/* M and cond are optional ("" ): two input slots checked at plan */
	{ "Loop", "body:G", PK_NONE, 0, CF_MAX_IO, 1, CF_MAX_IO, loop_plan,
	    NULL, loop_run, OPF_NO_FOLD },
	{ "Scan",
	    "body:G num_scan_inputs:i scan_input_axes:I scan_input_directions:I "
	    "scan_output_axes:I scan_output_directions:I directions:I",
	    PK_NONE, 0, CF_MAX_IO, 1, CF_MAX_IO, scan_plan, NULL, scan_run,
	    OPF_NO_FOLD },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
