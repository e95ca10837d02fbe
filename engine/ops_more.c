/*
 * Operators that models pass through or end with, in plain loops (issue
 * 19): the losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss),
 * Tile, OneHot, DepthToSpace/SpaceToDepth, GatherND, ScatterND,
 * ScatterElements/Scatter, TopK, IsInf, Shrink, EyeLike and
 * InstanceNormalization. Shapes and dtypes are checked by each plan; an
 * index that only the data can put out of range is a run error
 * (p->run_err), never a read outside a tensor.
 */
#include <math.h>
#include <string.h>

#include "common/eml_sort.h"
#include "engine_int.h"
#include "ops.h"

/* ---------------------------------------------------------------- elements */

static bool
is_float_dt(enum eml_dtype dt)
{
	return dt == EML_DT_FLOAT || dt == EML_DT_DOUBLE;
}

static int64_t
ldi(const struct val *v, size_t i)
{
	const uint8_t *p = (const uint8_t *)v->data + i * eml_dtype_size(v->dt);
	union {
		int64_t i64;
		int32_t i32;
		int16_t i16;
		int8_t i8;
		uint64_t u64;
		uint32_t u32;
		uint16_t u16;
		uint8_t u8;
		float f;
		double d;
	} u;

	memset(&u, 0, sizeof(u));
	EML_MEMCPY(&u, p, eml_dtype_size(v->dt));
	switch (v->dt) {
	case EML_DT_INT64: return u.i64;
	case EML_DT_INT32: return u.i32;
	case EML_DT_INT16: return u.i16;
	case EML_DT_INT8: return u.i8;
	case EML_DT_UINT64: return (int64_t)u.u64;
	case EML_DT_UINT32: return u.u32;
	case EML_DT_UINT16: return u.u16;
	case EML_DT_FLOAT: return isfinite(u.f) && fabsf(u.f) < 9.2e18f ? (int64_t)u.f : 0;
	case EML_DT_DOUBLE: return isfinite(u.d) && fabs(u.d) < 9.2e18 ? (int64_t)u.d : 0;
	default: return u.u8;
	}
}

static double
ldd(const struct val *v, size_t i)
{
	if (v->dt == EML_DT_FLOAT)
		return (double)((const float *)v->data)[i];
	if (v->dt == EML_DT_DOUBLE)
		return ((const double *)v->data)[i];
	if (v->dt == EML_DT_UINT64)
		return (double)(uint64_t)ldi(v, i);
	return (double)ldi(v, i);
}

/* Store element i of v: d for float types, k for the others. */
static void
stn(const struct val *v, size_t i, double d, int64_t k)
{
	size_t esz = eml_dtype_size(v->dt);
	uint8_t *p = (uint8_t *)v->data + i * esz;
	uint64_t u = (uint64_t)k;

	if (v->dt == EML_DT_FLOAT) {
		float f = (float)d;
		EML_MEMCPY(p, &f, 4);
	} else if (v->dt == EML_DT_DOUBLE) {
		EML_MEMCPY(p, &d, 8);
	} else if (v->dt == EML_DT_BOOL) {
		*p = k != 0;
	} else {
		/* Little-endian: the low bytes are the truncated value. */
		for (size_t b = 0; b < esz; b++)
			p[b] = (uint8_t)(u >> (8 * b));
	}
}

double
eml_val_ld(const struct val *v, size_t i)
{
	return ldd(v, i);
}

int64_t
eml_val_ldi(const struct val *v, size_t i)
{
	return ldi(v, i);
}

void
eml_val_st(const struct val *v, size_t i, double d)
{
	stn(v, i, d, isfinite(d) && fabs(d) < 9.2e18 ? (int64_t)d : 0);
}

/* A numeric type (what the arithmetic of these operators reads). */
static bool
is_num_dt(enum eml_dtype dt)
{
	switch (dt) {
	case EML_DT_FLOAT:
	case EML_DT_DOUBLE:
	case EML_DT_INT64:
	case EML_DT_INT32:
	case EML_DT_INT16:
	case EML_DT_INT8:
	case EML_DT_UINT64:
	case EML_DT_UINT32:
	case EML_DT_UINT16:
	case EML_DT_UINT8:
		return true;
	default:
		return false;
	}
}

static bool
same_shape(const struct val *a, const struct val *b)
{
	if (a->rank != b->rank)
		return false;
	for (int d = 0; d < a->rank; d++)
		if (a->dims[d] != b->dims[d])
			return false;
	return true;
}

static void
bad_index(struct eml_plan *p, const struct pnode *pn)
{
	p->run_err = EML_ERR_INFER_SHAPE;
	eml_err_set_detail("node %s: index out of range", pn->n->name);
}

/* Normalise a data-given index against n: false when out of range. */
static bool
norm_index(int64_t *k, int64_t n)
{
	if (*k < 0)
		*k += n;
	return *k >= 0 && *k < n;
}

static void
odo_next(int rank, const int64_t *dims, int64_t *idx)
{
	for (int d = rank - 1; d >= 0; d--) {
		if (++idx[d] < dims[d])
			return;
		idx[d] = 0;
	}
}

/* ---------------------------------------------------------------- losses */

/* scores [N, C, d...] float, targets [N, d...] int, weights [C]. */
static eml_err
loss_plan_common(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *t = eml_pn_in(p, pn, 1), *w = eml_pn_in(p, pn, 2);
	struct loss_par *l = &pn->par.loss;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_INTS));
	if (x->rank < 2 || t->rank != x->rank - 1 || t->dims[0] != x->dims[0])
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scores and targets do not match");
	for (int d = 2; d < x->rank; d++)
		if (t->dims[d - 1] != x->dims[d])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "scores and targets do not match");
	if (w != NULL && (w->dt != x->dt || w->rank != 1 || w->dims[0] != x->dims[1]))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "weights must be [C] of the scores' type");
	l->N = (size_t)x->dims[0];
	l->C = (size_t)x->dims[1];
	l->D = l->N == 0 || l->C == 0 ? 0 : x->numel / (l->N * l->C);
	if (l->reduction == LOSS_NONE)
		return eml_pn_set_out(p, pn, 0, x->dt, t->rank, t->dims);
	return eml_pn_set_out(p, pn, 0, x->dt, 0, NULL);
}

static eml_err
sce_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	EML_GUARD(loss_plan_common(p, pn));
	return eml_pn_set_out(p, pn, 1, x->dt, x->rank, x->dims);
}

/* log softmax of scores x at (n, ., d) over C, the class c's value. */
static double
log_prob_at(const struct val *x, const struct loss_par *l, size_t n, size_t d, size_t c)
{
	double mx = -INFINITY, s = 0;

	for (size_t j = 0; j < l->C; j++) {
		double v = ldd(x, (n * l->C + j) * l->D + d);
		if (v > mx)
			mx = v;
	}
	for (size_t j = 0; j < l->C; j++)
		s += exp(ldd(x, (n * l->C + j) * l->D + d) - mx);
	return ldd(x, (n * l->C + c) * l->D + d) - mx - log(s);
}

/* NLL over log-probabilities (softmax = false) or SCE over scores. */
static void
loss_run_common(struct eml_plan *p, struct pnode *pn, bool softmax)
{
	struct val *x = eml_pn_in(p, pn, 0), *t = eml_pn_in(p, pn, 1), *w = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	const struct loss_par *l = &pn->par.loss;
	double sum = 0, wsum = 0;

	for (size_t n = 0; n < l->N; n++)
		for (size_t d = 0; d < l->D; d++) {
			size_t e = n * l->D + d;
			int64_t c = ldi(t, e);
			double loss = 0, wt = 0;
			if (!(l->has_ignore && c == l->ignore_index)) {
				if (c < 0 || c >= (int64_t)l->C) {
					bad_index(p, pn);
					c = 0;
				}
				wt = w != NULL ? ldd(w, (size_t)c) : 1.0;
				loss = -wt * (softmax ? log_prob_at(x, l, n, d, (size_t)c) :
				    ldd(x, (n * l->C + (size_t)c) * l->D + d));
			}
			sum += loss;
			wsum += wt;
			if (l->reduction == LOSS_NONE)
				stn(y, e, loss, 0);
		}
	if (l->reduction == LOSS_SUM)
		stn(y, 0, sum, 0);
	else if (l->reduction == LOSS_MEAN)
		stn(y, 0, sum / wsum, 0);
}

static void
nll_run(struct eml_plan *p, struct pnode *pn)
{
	loss_run_common(p, pn, false);
}

static void
sce_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *lp = eml_pn_out(p, pn, 1);
	const struct loss_par *l = &pn->par.loss;

	loss_run_common(p, pn, true);
	if (lp == NULL)
		return;
	for (size_t n = 0; n < l->N; n++)
		for (size_t d = 0; d < l->D; d++)
			for (size_t c = 0; c < l->C; c++)
				stn(lp, (n * l->C + c) * l->D + d, log_prob_at(x, l, n, d, c), 0);
}

/* ---------------------------------------------------------------- Tile */

static eml_err
tile_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t rep[EML_MAX_RANK], dims[EML_MAX_RANK];
	size_t n = 0;

	if (eml_dtype_size(x->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s not supported",
		    eml_dtype_name(x->dt));
	EML_GUARD(eml_pn_const_ints(p, pn, 1, rep, EML_MAX_RANK, &n));
	if ((int)n != x->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "repeats has %zu values, rank %d", n,
		    x->rank);
	for (int d = 0; d < x->rank; d++) {
		if (rep[d] < 0 || rep[d] > PAR_MAX_PAD)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "repeats[%d]=%lld", d,
			    (long long)rep[d]);
		if (eml_mul_overflow(x->dims[d], rep[d], &dims[d]))
			return eml_pn_fail(pn->n, EML_ERR_INFER_TOO_LARGE, "output too large");
	}
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims);
}

static void
tile_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	size_t esz = eml_dtype_size(x->dt);
	int64_t idx[EML_MAX_RANK] = { 0 }, xs[EML_MAX_RANK];

	(void)p;
	eml_dense_strides(x->rank, x->dims, xs);
	for (size_t i = 0; i < y->numel; i++) {
		int64_t off = 0;
		for (int d = 0; d < x->rank; d++)
			off += (idx[d] % x->dims[d]) * xs[d];
		EML_MEMCPY((uint8_t *)y->data + i * esz, (const uint8_t *)x->data + (size_t)off * esz,
		    esz);
		odo_next(y->rank, y->dims, idx);
	}
}

/* ---------------------------------------------------------------- OneHot */

static eml_err
onehot_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *ind = eml_pn_in(p, pn, 0), *dep = eml_pn_in(p, pn, 1), *vals = eml_pn_in(p, pn, 2);
	int64_t dims[EML_MAX_RANK], depth;
	int axis;

	if (!is_num_dt(ind->dt) || !is_num_dt(dep->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "indices and depth must be numbers");
	if (dep->kind != VK_CONST)
		return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST, "depth must be constant");
	if (dep->numel != 1 || vals->numel != 2 || eml_dtype_size(vals->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "depth scalar, values [off, on]");
	depth = dep->dt == EML_DT_FLOAT || dep->dt == EML_DT_DOUBLE ?
	    (ldd(dep, 0) >= 1 && ldd(dep, 0) <= 1e12 ? (int64_t)ldd(dep, 0) : 0) : ldi(dep, 0);
	if (depth < 1 || depth > PAR_MAX_PAD)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "depth %lld", (long long)depth);
	if (ind->rank + 1 > EML_MAX_RANK)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "rank %d", ind->rank);
	EML_GUARD(eml_axis(pn->n, pn->par.axis.axis, ind->rank, 1, &axis));
	if (pn->par.axis.axis < 0)
		axis = (int)(pn->par.axis.axis + ind->rank + 1);
	for (int d = 0, s = 0; d <= ind->rank; d++)
		dims[d] = d == axis ? depth : ind->dims[s++];
	pn->par.axis.ax = axis;
	return eml_pn_set_out(p, pn, 0, vals->dt, ind->rank + 1, dims);
}

static void
onehot_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *ind = eml_pn_in(p, pn, 0), *vals = eml_pn_in(p, pn, 2), *y = eml_pn_out(p, pn, 0);
	int axis = pn->par.axis.ax;
	size_t esz = eml_dtype_size(y->dt), outer = 1, inner = 1, depth = (size_t)y->dims[axis];

	(void)p;
	for (int d = 0; d < y->rank; d++) {
		if (d < axis)
			outer *= (size_t)y->dims[d];
		if (d > axis)
			inner *= (size_t)y->dims[d];
	}
	for (size_t o = 0; o < outer; o++)
		for (size_t j = 0; j < depth; j++)
			for (size_t i = 0; i < inner; i++) {
				int64_t k = ldi(ind, o * inner + i);
				bool on = norm_index(&k, (int64_t)depth) && (size_t)k == j;
				EML_MEMCPY((uint8_t *)y->data + ((o * depth + j) * inner + i) * esz,
				    (const uint8_t *)vals->data + (on ? esz : 0), esz);
			}
}

/* ---------------------------------------------------------------- DepthToSpace */

static eml_err
d2s_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t b = pn->par.d2s.blocksize, dims[4];
	bool to_space = strcmp(pn->n->op_type, "DepthToSpace") == 0;

	if (x->rank != 4 || eml_dtype_size(x->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input must be 4-D");
	dims[0] = x->dims[0];
	if (to_space) {
		if (x->dims[1] % (b * b) != 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "channels not a multiple of %lld",
			    (long long)(b * b));
		dims[1] = x->dims[1] / (b * b);
		dims[2] = x->dims[2] * b;
		dims[3] = x->dims[3] * b;
	} else {
		if (x->dims[2] % b != 0 || x->dims[3] % b != 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "H, W not multiples of %lld",
			    (long long)b);
		if (eml_mul_overflow(x->dims[1], b * b, &dims[1]))
			return eml_pn_fail(pn->n, EML_ERR_INFER_TOO_LARGE, "too many channels");
		dims[2] = x->dims[2] / b;
		dims[3] = x->dims[3] / b;
	}
	return eml_pn_set_out(p, pn, 0, x->dt, 4, dims);
}

static void
d2s_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	bool to_space = strcmp(pn->n->op_type, "DepthToSpace") == 0;
	const struct val *sp = to_space ? y : x; /* the spatial (large) side */
	const struct val *dp = to_space ? x : y; /* the depth side */
	size_t esz = eml_dtype_size(x->dt), b = (size_t)pn->par.d2s.blocksize;
	size_t N = (size_t)sp->dims[0], C = (size_t)sp->dims[1];
	size_t H = (size_t)dp->dims[2], W = (size_t)dp->dims[3], DC = (size_t)dp->dims[1];

	(void)p;
	for (size_t n = 0; n < N; n++)
		for (size_t c = 0; c < C; c++)
			for (size_t h = 0; h < H * b; h++)
				for (size_t w = 0; w < W * b; w++) {
					size_t i = h % b, j = w % b;
					size_t dc = pn->par.d2s.crd && to_space ? (c * b + i) * b + j :
					    (i * b + j) * C + c;
					size_t so = ((n * C + c) * H * b + h) * W * b + w;
					size_t dofs = ((n * DC + dc) * H + h / b) * W + w / b;
					size_t src = to_space ? dofs : so, dst = to_space ? so : dofs;
					EML_MEMCPY((uint8_t *)y->data + dst * esz,
					    (const uint8_t *)x->data + src * esz, esz);
				}
}

/* ---------------------------------------------------------------- GatherND */

static eml_err
gathernd_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1);
	struct gathernd_par *g = &pn->par.gathernd;
	int b = (int)g->batch_dims, r = x->rank, q = ind->rank, rank = 0;
	int64_t k, dims[2 * EML_MAX_RANK];

	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM(EML_DT_INT64)));
	if (eml_dtype_size(x->dt) == 0 || q < 1 || r < 1 || b >= q || b >= r)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "ranks %d, %d, batch_dims %d", r, q, b);
	k = ind->dims[q - 1];
	if (k < 1 || k > r - b)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "index tuples of %lld", (long long)k);
	g->batch = 1;
	g->n_idx = 1;
	g->slice = 1;
	for (int d = 0; d < b; d++) {
		if (ind->dims[d] != x->dims[d])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "batch dimensions differ");
		g->batch *= (size_t)x->dims[d];
	}
	for (int d = 0; d < q - 1; d++) {
		dims[rank++] = ind->dims[d];
		if (d >= b)
			g->n_idx *= (size_t)ind->dims[d];
	}
	for (int d = b + (int)k; d < r; d++) {
		dims[rank++] = x->dims[d];
		g->slice *= (size_t)x->dims[d];
	}
	if (rank > EML_MAX_RANK)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "output rank %d", rank);
	g->q = (size_t)k;
	return eml_pn_set_out(p, pn, 0, x->dt, rank, dims);
}

static void
gathernd_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	const struct gathernd_par *g = &pn->par.gathernd;
	size_t esz = eml_dtype_size(x->dt), b = (size_t)g->batch_dims;
	size_t per_batch = g->batch == 0 ? 0 : x->numel / g->batch;
	int64_t xs[EML_MAX_RANK];

	eml_dense_strides(x->rank, x->dims, xs);
	for (size_t bi = 0; bi < g->batch; bi++)
		for (size_t t = 0; t < g->n_idx; t++) {
			size_t e = bi * g->n_idx + t, off = bi * per_batch;
			bool ok = true;
			for (size_t j = 0; j < g->q; j++) {
				int64_t k = ldi(ind, e * g->q + j);
				ok = ok && norm_index(&k, x->dims[b + j]);
				off += ok ? (size_t)k * (size_t)xs[b + j] : 0;
			}
			if (!ok) {
				bad_index(p, pn);
				off = 0;
			}
			EML_MEMCPY((uint8_t *)y->data + e * g->slice * esz,
			    (const uint8_t *)x->data + off * esz, g->slice * esz);
		}
}

/* ---------------------------------------------------------------- Scatter */

static void
scatter_one(const struct val *y, size_t dst, const struct val *u, size_t src,
    enum scatter_reduction red)
{
	size_t esz = eml_dtype_size(y->dt);

	if (red == SCAT_NONE) {
		EML_MEMCPY((uint8_t *)y->data + dst * esz, (const uint8_t *)u->data + src * esz, esz);
	} else if (is_float_dt(y->dt)) {
		double a = ldd(y, dst), v = ldd(u, src);
		a = red == SCAT_ADD ? a + v : red == SCAT_MUL ? a * v : red == SCAT_MAX ?
		    fmax(a, v) : fmin(a, v);
		stn(y, dst, a, 0);
	} else {
		int64_t a = ldi(y, dst), v = ldi(u, src);
		a = red == SCAT_ADD ? (int64_t)((uint64_t)a + (uint64_t)v) :
		    red == SCAT_MUL ? (int64_t)((uint64_t)a * (uint64_t)v) :
		    red == SCAT_MAX ? (a > v ? a : v) : (a < v ? a : v);
		stn(y, dst, 0, a);
	}
}

static eml_err
scatter_dtypes(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *u = eml_pn_in(p, pn, 2);

	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_INTS));
	if (u->dt != x->dt || eml_dtype_size(x->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "updates must have the data's type");
	if (pn->par.scatter.reduction != SCAT_NONE && !is_num_dt(x->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "reduction on %s",
		    eml_dtype_name(x->dt));
	return EML_OK;
}

static eml_err
scatternd_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1), *u = eml_pn_in(p, pn, 2);
	int q = ind->rank;
	int64_t k;

	EML_GUARD(scatter_dtypes(p, pn));
	if (q < 1 || x->rank < 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scalar data or indices");
	k = ind->dims[q - 1];
	if (k < 1 || k > x->rank || u->rank != q - 1 + x->rank - (int)k)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "updates shape does not match");
	for (int d = 0; d < u->rank; d++)
		if (u->dims[d] != (d < q - 1 ? ind->dims[d] : x->dims[d - (q - 1) + k]))
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "updates shape does not match");
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

static void
scatternd_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1), *u = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	size_t k = (size_t)ind->dims[ind->rank - 1], slice = 1, tuples;
	int64_t xs[EML_MAX_RANK];

	if (y->data != x->data)
		EML_MEMCPY(y->data, x->data, x->nbytes);
	eml_dense_strides(x->rank, x->dims, xs);
	for (int d = (int)k; d < x->rank; d++)
		slice *= (size_t)x->dims[d];
	tuples = k == 0 ? 0 : ind->numel / k;
	for (size_t t = 0; t < tuples; t++) {
		size_t off = 0;
		bool ok = true;
		for (size_t j = 0; j < k; j++) {
			int64_t v = ldi(ind, t * k + j);
			ok = ok && norm_index(&v, x->dims[j]);
			off += ok ? (size_t)v * (size_t)xs[j] : 0;
		}
		if (!ok) {
			bad_index(p, pn);
			continue;
		}
		for (size_t e = 0; e < slice; e++)
			scatter_one(y, off + e, u, t * slice + e, pn->par.scatter.reduction);
	}
}

static eml_err
scatterel_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1), *u = eml_pn_in(p, pn, 2);
	int axis;

	EML_GUARD(scatter_dtypes(p, pn));
	if (x->rank < 1 || ind->rank != x->rank || !same_shape(ind, u))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "indices and updates do not match");
	EML_GUARD(eml_axis(pn->n, pn->par.scatter.axis, x->rank, 0, &axis));
	for (int d = 0; d < x->rank; d++)
		if (d != axis && ind->dims[d] > x->dims[d])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "indices larger than data");
	pn->par.scatter.ax = axis;
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

static void
scatterel_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1), *u = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	int axis = pn->par.scatter.ax;
	int64_t xs[EML_MAX_RANK], idx[EML_MAX_RANK] = { 0 };

	if (y->data != x->data)
		EML_MEMCPY(y->data, x->data, x->nbytes);
	eml_dense_strides(x->rank, x->dims, xs);
	for (size_t i = 0; i < ind->numel; i++) {
		int64_t k = ldi(ind, i), off = 0;
		if (!norm_index(&k, x->dims[axis])) {
			bad_index(p, pn);
		} else {
			for (int d = 0; d < x->rank; d++)
				off += (d == axis ? k : idx[d]) * xs[d];
			scatter_one(y, (size_t)off, u, i, pn->par.scatter.reduction);
		}
		odo_next(ind->rank, ind->dims, idx);
	}
}

/* ---------------------------------------------------------------- TopK */

/* Sorted with eml_sort (never qsort: see common/eml_sort.h); the
 * comparators are a total order, ties broken by index, so the unstable
 * sort gives the one order ONNX asks for. */
struct topk_ent {
	double v;
	int64_t i;
};

static int
topk_cmp_largest(const void *a, const void *b)
{
	const struct topk_ent *x = a, *y = b;

	if (x->v != y->v)
		return x->v > y->v ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static int
topk_cmp_smallest(const void *a, const void *b)
{
	const struct topk_ent *x = a, *y = b;

	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

static eml_err
topk_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct topk_par *t = &pn->par.topk;
	int64_t k, dims[EML_MAX_RANK];
	size_t n = 0;
	int axis;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_NUM));
	EML_GUARD(eml_pn_const_ints(p, pn, 1, &k, 1, &n));
	if (n != 1 || x->rank < 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "K must hold one value");
	EML_GUARD(eml_axis(pn->n, t->axis, x->rank, 0, &axis));
	if (k < 0 || k > x->dims[axis])
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "K=%lld for an axis of %lld",
		    (long long)k, (long long)x->dims[axis]);
	t->k = k;
	t->outer = 1;
	t->inner = 1;
	for (int d = 0; d < x->rank; d++) {
		dims[d] = d == axis ? k : x->dims[d];
		if (d < axis)
			t->outer *= (size_t)x->dims[d];
		if (d > axis)
			t->inner *= (size_t)x->dims[d];
	}
	t->n = (size_t)x->dims[axis];
	pn->ws = t->n * sizeof(struct topk_ent);
	EML_GUARD(eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims));
	return eml_pn_set_out(p, pn, 1, EML_DT_INT64, x->rank, dims);
}

static void
topk_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0), *yi = eml_pn_out(p, pn, 1);
	const struct topk_par *t = &pn->par.topk;
	struct topk_ent *ent = pn->wsp;
	size_t k = (size_t)t->k, esz = eml_dtype_size(x->dt);

	(void)p;
	for (size_t o = 0; o < t->outer; o++)
		for (size_t i = 0; i < t->inner; i++) {
			for (size_t j = 0; j < t->n; j++) {
				ent[j].v = ldd(x, (o * t->n + j) * t->inner + i);
				ent[j].i = (int64_t)j;
			}
			/* Ties: the lower index first (ONNX); sorted=0 allows
			 * any order, sorted output is one of them. */
			eml_sort(ent, t->n, sizeof(*ent), t->largest ? topk_cmp_largest : topk_cmp_smallest);
			for (size_t j = 0; j < k; j++) {
				size_t e = (o * k + j) * t->inner + i;
				if (y != NULL)
					EML_MEMCPY((uint8_t *)y->data + e * esz, (const uint8_t *)x->data +
					    ((o * t->n + (size_t)ent[j].i) * t->inner + i) * esz, esz);
				if (yi != NULL)
					EML_MEMCPY((uint8_t *)yi->data + e * 8, &ent[j].i, 8);
			}
		}
}

/* ---------------------------------------------------------------- small ones */

static eml_err
isinf_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	return eml_pn_set_out(p, pn, 0, EML_DT_BOOL, x->rank, x->dims);
}

static void
isinf_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);

	(void)p;
	for (size_t i = 0; i < x->numel; i++) {
		double v = ldd(x, i);
		((uint8_t *)y->data)[i] = isinf(v) &&
		    (v > 0 ? pn->par.isinf.positive : pn->par.isinf.negative);
	}
}

static eml_err
shrink_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	if (!is_num_dt(x->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s not supported",
		    eml_dtype_name(x->dt));
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

static void
shrink_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	double b = pn->par.shrink.bias, l = pn->par.shrink.lambd;

	(void)p;
	for (size_t i = 0; i < x->numel; i++) {
		double v = ldd(x, i), r = v < -l ? v + b : v > l ? v - b : 0.0;
		stn(y, i, r, (int64_t)r);
	}
}

static eml_err
eyelike_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	const struct eyelike_par *e = &pn->par.eyelike;
	enum eml_dtype dt = e->has_dtype ? e->dtype : x->dt;

	if (x->rank != 2 || !eml_cast_dtype_ok(dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input must be 2-D");
	return eml_pn_set_out(p, pn, 0, dt, 2, x->dims);
}

static void
eyelike_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *y = eml_pn_out(p, pn, 0);
	int64_t R = y->dims[0], C = y->dims[1];

	(void)p;
	for (int64_t i = 0; i < R; i++)
		for (int64_t j = 0; j < C; j++)
			stn(y, (size_t)(i * C + j), j - i == pn->par.eyelike.k ? 1.0 : 0.0,
			    j - i == pn->par.eyelike.k);
}

static eml_err
instnorm_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *s = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);

	for (size_t k = 0; k < 3; k++)
		EML_GUARD(eml_pn_need_dtype(p, pn, k, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	if (x->rank < 3 || s->dt != x->dt || b->dt != x->dt || s->numel != (size_t)x->dims[1] ||
	    b->numel != (size_t)x->dims[1])
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scale and B must be [C]");
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

static void
instnorm_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *s = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	size_t N = (size_t)x->dims[0], C = (size_t)x->dims[1];
	size_t hw = N * C == 0 ? 0 : x->numel / (N * C);
	double eps = pn->par.batchnorm.epsilon;

	(void)p;
	for (size_t nc = 0; nc < N * C; nc++) {
		double mean = 0, var = 0, sc, sh;
		for (size_t i = 0; i < hw; i++)
			mean += ldd(x, nc * hw + i);
		mean /= (double)hw;
		for (size_t i = 0; i < hw; i++) {
			double d = ldd(x, nc * hw + i) - mean;
			var += d * d;
		}
		var /= (double)hw;
		sc = ldd(s, nc % C) / sqrt(var + eps);
		sh = ldd(b, nc % C);
		for (size_t i = 0; i < hw; i++)
			stn(y, nc * hw + i, (ldd(x, nc * hw + i) - mean) * sc + sh, 0);
	}
}

/* ---------------------------------------------------------------- element-wise */

/* Visit the output of a two-input broadcast with each input's offset. */
struct bc2 {
	int rank;
	int64_t dims[EML_MAX_RANK], idx[EML_MAX_RANK];
	size_t sa[EML_MAX_RANK], sb[EML_MAX_RANK], oa, ob;
};

static void
bc2_init(struct bc2 *it, const struct val *y, const struct val *a, const struct val *b)
{
	memset(it, 0, sizeof(*it));
	it->rank = y->rank;
	EML_MEMCPY(it->dims, y->dims, sizeof(it->dims));
	eml_bcast_strides(a, y->rank, y->dims, it->sa);
	eml_bcast_strides(b, y->rank, y->dims, it->sb);
}

static void
bc2_next(struct bc2 *it)
{
	for (int d = it->rank - 1; d >= 0; d--) {
		it->idx[d]++;
		it->oa += it->sa[d];
		it->ob += it->sb[d];
		if (it->idx[d] < it->dims[d])
			return;
		it->oa -= it->sa[d] * (size_t)it->dims[d];
		it->ob -= it->sb[d] * (size_t)it->dims[d];
		it->idx[d] = 0;
	}
}

eml_err
eml_binary_generic_check(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1);

	if (pn->par.binary.op == EML_BINARY_POW) {
		if (!is_num_dt(a->dt) || !is_num_dt(b->dt))
			return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "Pow of %s by %s",
			    eml_dtype_name(a->dt), eml_dtype_name(b->dt));
		return EML_OK;
	}
	if (a->dt != b->dt)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "mixed %s and %s",
		    eml_dtype_name(a->dt), eml_dtype_name(b->dt));
	if (!is_num_dt(a->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s not supported",
		    eml_dtype_name(a->dt));
	return EML_OK;
}

/* Integer power with wrapping, as C++ integer arithmetic in ONNX Runtime;
 * a negative exponent gives 0 unless the base is 1 or -1. */
static int64_t
ipow(int64_t base, int64_t e)
{
	uint64_t r = 1, b = (uint64_t)base;

	if (e < 0)
		return base == 1 ? 1 : base == -1 ? ((e & 1) != 0 ? -1 : 1) : 0;
	while (e > 0) {
		if ((e & 1) != 0)
			r *= b;
		b *= b;
		e >>= 1;
	}
	return (int64_t)r;
}

static int64_t
int_arith(enum eml_binary k, enum eml_dtype dt, int64_t a, int64_t b)
{
	uint64_t ua = (uint64_t)a, ub = (uint64_t)b;

	switch (k) {
	case EML_BINARY_ADD: return (int64_t)(ua + ub);
	case EML_BINARY_SUB: return (int64_t)(ua - ub);
	case EML_BINARY_MUL: return (int64_t)(ua * ub);
	case EML_BINARY_DIV:
		/* Truncating; 0 where C would trap. */
		if (b == 0)
			return 0;
		if (dt == EML_DT_UINT64)
			return (int64_t)(ua / ub);
		return a == INT64_MIN && b == -1 ? a : a / b;
	default: return ipow(a, b);
	}
}

eml_err
eml_binary_legacy_axis_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1);
	struct binary_par *bp = &pn->par.binary;
	int axis;

	if (bp->op == EML_BINARY_POW ? !is_num_dt(a->dt) || !is_num_dt(b->dt) :
	    a->dt != b->dt || !is_num_dt(a->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s and %s not supported",
		    eml_dtype_name(a->dt), eml_dtype_name(b->dt));
	EML_GUARD(eml_axis(pn->n, bp->axis, a->rank, 0, &axis));
	if (axis + b->rank > a->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "B does not fit A at axis %d", axis);
	for (int d = 0; d < a->rank; d++) {
		bool in_b = d >= axis && d < axis + b->rank;
		bp->bview[d] = in_b ? b->dims[d - axis] : 1;
		if (bp->bview[d] != 1 && bp->bview[d] != a->dims[d])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "B does not match A at axis %d",
			    axis);
	}
	bp->view = true;
	bp->generic = true;
	return eml_pn_set_out(p, pn, 0, a->dt, a->rank, a->dims);
}

void
eml_binary_generic_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	enum eml_binary k = pn->par.binary.op;
	struct bc2 it;
	struct val bv;

	(void)p;
	if (pn->par.binary.view) {
		bv = *b;
		bv.rank = a->rank;
		EML_MEMCPY(bv.dims, pn->par.binary.bview, sizeof(bv.dims));
		b = &bv;
	}
	bc2_init(&it, y, a, b);
	for (size_t i = 0; i < y->numel; i++, bc2_next(&it)) {
		if (is_float_dt(y->dt)) {
			double x = ldd(a, it.oa), z = ldd(b, it.ob), r;
			r = k == EML_BINARY_ADD ? x + z : k == EML_BINARY_SUB ? x - z :
			    k == EML_BINARY_MUL ? x * z : k == EML_BINARY_DIV ? x / z : pow(x, z);
			stn(y, i, r, 0);
		} else if (is_float_dt(b->dt)) {
			/* Pow: integer base, float exponent, truncated back. */
			double r = pow(ldd(a, it.oa), ldd(b, it.ob));
			stn(y, i, 0, isfinite(r) && fabs(r) < 9.2e18 ? (int64_t)r : 0);
		} else {
			stn(y, i, 0, int_arith(k, y->dt, ldi(a, it.oa), ldi(b, it.ob)));
		}
	}
}

/* Clip bound k (input 1 or 2) of x's type, when given. */
static eml_err
clip_bound(struct eml_plan *p, struct pnode *pn, size_t k, double *d, int64_t *i)
{
	struct val *x = eml_pn_in(p, pn, 0), *v = eml_pn_in(p, pn, k);

	if (v == NULL)
		return EML_OK;
	if (v->dt != x->dt || v->numel != 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "Clip bound must be a %s scalar",
		    eml_dtype_name(x->dt));
	if (v->kind != VK_CONST) {
		/* Read at run time. */
		if (k == 1)
			pn->par.unary.rt_min = true;
		else
			pn->par.unary.rt_max = true;
		return EML_OK;
	}
	*d = ldd(v, 0);
	*i = ldi(v, 0);
	return EML_OK;
}

eml_err
eml_clip_generic_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct unary_par *u = &pn->par.unary;

	if (!is_num_dt(x->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "Clip of %s not supported",
		    eml_dtype_name(x->dt));
	if (x->dt == EML_DT_UINT64)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "Clip of uint64 not supported");
	u->generic = true;
	u->dmin = u->min;
	u->dmax = u->max;
	u->imin = INT64_MIN;
	u->imax = INT64_MAX;
	EML_GUARD(clip_bound(p, pn, 1, &u->dmin, &u->imin));
	return clip_bound(p, pn, 2, &u->dmax, &u->imax);
}

void
eml_clip_generic_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	struct unary_par u = pn->par.unary;

	if (u.rt_min) {
		u.dmin = ldd(eml_pn_in(p, pn, 1), 0);
		u.imin = ldi(eml_pn_in(p, pn, 1), 0);
	}
	if (u.rt_max) {
		u.dmax = ldd(eml_pn_in(p, pn, 2), 0);
		u.imax = ldi(eml_pn_in(p, pn, 2), 0);
	}
	for (size_t i = 0; i < x->numel; i++) {
		if (is_float_dt(x->dt)) {
			double v = ldd(x, i);
			v = v < u.dmin ? u.dmin : v > u.dmax ? u.dmax : v;
			stn(y, i, v, 0);
		} else {
			int64_t v = ldi(x, i);
			v = v < u.imin ? u.imin : v > u.imax ? u.imax : v;
			stn(y, i, 0, v);
		}
	}
}

static eml_err
bitshift_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1);
	int64_t dims[EML_MAX_RANK];
	int rank;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM(EML_DT_UINT8) | DTM(EML_DT_UINT16) |
	    DTM(EML_DT_UINT32) | DTM(EML_DT_UINT64)));
	if (b->dt != a->dt)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "mixed types");
	EML_GUARD(eml_bcast(pn->n, a, b, &rank, dims));
	return eml_pn_set_out(p, pn, 0, a->dt, rank, dims);
}

static void
bitshift_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	struct bc2 it;

	(void)p;
	bc2_init(&it, y, a, b);
	for (size_t i = 0; i < y->numel; i++, bc2_next(&it)) {
		uint64_t x = (uint64_t)ldi(a, it.oa), s = (uint64_t)ldi(b, it.ob);
		/* A shift by the width or more empties the value (C would be
		 * undefined). */
		x = s >= 64 ? 0 : pn->par.bitshift.left ? x << s : x >> s;
		stn(y, i, 0, (int64_t)x);
	}
}

/* ---------------------------------------------------------------- windows */

static eml_err
window_plan(struct eml_plan *p, struct pnode *pn)
{
	int64_t n = 0;
	size_t cnt = 0;

	EML_GUARD(eml_pn_const_ints(p, pn, 0, &n, 1, &cnt));
	if (cnt != 1 || n < 0 || n > PAR_MAX_PAD)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "size must be a scalar >= 0");
	return eml_pn_set_out(p, pn, 0, pn->par.window.dtype, 1, &n);
}

static void
window_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *y = eml_pn_out(p, pn, 0);
	const char *op = pn->n->op_type;
	double N = (double)y->numel - (pn->par.window.periodic ? 0.0 : 1.0);
	double w = N > 0 ? 2.0 * M_PI / N : 0.0;

	(void)p;
	for (size_t i = 0; i < y->numel; i++) {
		double c = cos(w * (double)i), v;
		if (strcmp(op, "HannWindow") == 0)
			v = 0.5 - 0.5 * c;
		else if (strcmp(op, "HammingWindow") == 0)
			v = 25.0 / 46.0 - (1.0 - 25.0 / 46.0) * c;
		else
			v = 0.42 - 0.5 * c + 0.08 * cos(2.0 * w * (double)i);
		stn(y, i, v, 0);
	}
}

/* ---------------------------------------------------------------- Det */

static eml_err
det_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	if (x->rank < 2 || x->dims[x->rank - 1] != x->dims[x->rank - 2] ||
	    x->dims[x->rank - 1] > 4096)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input must be [..., M, M]");
	pn->ws = (size_t)(x->dims[x->rank - 1] * x->dims[x->rank - 1]) * sizeof(double);
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank - 2, x->dims);
}

/* Determinant of the M x M matrix a (destroyed), by Gaussian elimination
 * with partial pivoting. */
static double
det_lu(struct eml_plan *p, double *a, size_t M)
{
	double det = 1.0;

	for (size_t k = 0; k < M; k++) {
		if (eml_pn_stopped(p))
			return 0.0;
		size_t piv = k;
		for (size_t i = k + 1; i < M; i++)
			if (fabs(a[i * M + k]) > fabs(a[piv * M + k]))
				piv = i;
		if (a[piv * M + k] == 0.0)
			return 0.0;
		if (piv != k) {
			for (size_t j = 0; j < M; j++) {
				double t = a[k * M + j];
				a[k * M + j] = a[piv * M + j];
				a[piv * M + j] = t;
			}
			det = -det;
		}
		det *= a[k * M + k];
		for (size_t i = k + 1; i < M; i++) {
			double f = a[i * M + k] / a[k * M + k];
			for (size_t j = k; j < M; j++)
				a[i * M + j] -= f * a[k * M + j];
		}
	}
	return det;
}

static void
det_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	size_t M = (size_t)x->dims[x->rank - 1];
	double *a = pn->wsp;

	for (size_t m = 0; m < y->numel && !eml_pn_stopped(p); m++) {
		for (size_t i = 0; i < M * M; i++)
			a[i] = ldd(x, m * M * M + i);
		stn(y, m, det_lu(p, a, M), 0);
	}
}

/* ---------------------------------------------------------------- LRN */

static eml_err
lrn_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	if (x->rank < 3)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input must be [N, C, ...]");
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

static void
lrn_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct lrn_par *l = &pn->par.lrn;
	int64_t C = x->dims[1], lo = (l->size - 1) / 2, hi = l->size / 2;
	size_t N = (size_t)x->dims[0], inner = C == 0 || N == 0 ? 0 : x->numel / N / (size_t)C;

	(void)p;
	for (size_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++)
			for (size_t i = 0; i < inner; i++) {
				double sq = 0;
				for (int64_t k = c - lo; k <= c + hi; k++)
					if (k >= 0 && k < C) {
						double v = ldd(x, (n * (size_t)C + (size_t)k) * inner + i);
						sq += v * v;
					}
				size_t e = (n * (size_t)C + (size_t)c) * inner + i;
				stn(y, e, ldd(x, e) / pow((double)l->bias + (double)l->alpha /
				    (double)l->size * sq, (double)l->beta), 0);
			}
}

/* ---------------------------------------------------------------- ReverseSequence */

static eml_err
revseq_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *sl = eml_pn_in(p, pn, 1);

	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_INTS));
	if (x->rank < 2 || eml_dtype_size(x->dt) == 0 || sl->rank != 1 ||
	    sl->dims[0] != x->dims[pn->par.revseq.batch_axis])
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "sequence_lens must be [batch]");
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

static void
revseq_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *sl = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	int ta = (int)pn->par.revseq.time_axis;
	size_t esz = eml_dtype_size(x->dt), inner = 1;
	size_t T = (size_t)x->dims[ta], B = (size_t)x->dims[1 - ta];

	for (int d = 2; d < x->rank; d++)
		inner *= (size_t)x->dims[d];
	for (size_t b = 0; b < B; b++) {
		int64_t L = ldi(sl, b);
		if (L < 0 || (uint64_t)L > T) {
			bad_index(p, pn);
			L = 0;
		}
		for (size_t t = 0; t < T; t++) {
			size_t src_t = t < (size_t)L ? (size_t)L - 1 - t : t;
			size_t dst = ta == 0 ? t * B + b : b * T + t;
			size_t src = ta == 0 ? src_t * B + b : b * T + src_t;
			EML_MEMCPY((uint8_t *)y->data + dst * inner * esz,
			    (const uint8_t *)x->data + src * inner * esz, inner * esz);
		}
	}
}

/* ---------------------------------------------------------------- MVN */

static eml_err
mvn_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct axes_par *a = &pn->par.axes;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	if (a->n_axes == 0) {
		/* Default: over N, H, W of a 4-D input. */
		if (x->rank != 4)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "default axes want 4-D");
		a->n_axes = 3;
		a->axes[0] = 0;
		a->axes[1] = 2;
		a->axes[2] = 3;
	}
	for (size_t i = 0; i < a->n_axes; i++) {
		int ax;
		EML_GUARD(eml_axis(pn->n, a->axes[i], x->rank, 0, &ax));
		a->axes[i] = ax;
	}
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

/* The offset in x of index i of a mixed-radix walk over the axes in ax
 * (the last one fastest). */
static size_t
mvn_offset(const struct val *x, const int64_t *xs, const int *ax, int n_ax, size_t i)
{
	size_t off = 0;

	for (int k = n_ax - 1; k >= 0; k--) {
		size_t dim = (size_t)x->dims[ax[k]];

		off += (i % dim) * (size_t)xs[ax[k]];
		i /= dim;
	}
	return off;
}

/* Each group (the kept axes fixed) is walked twice: once for E[x] and
 * E[x^2], once to write. O(numel * rank), whatever the axes: a hostile
 * shape cannot make it quadratic. */
static void
mvn_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct axes_par *a = &pn->par.axes;
	bool red[EML_MAX_RANK] = { false };
	int kept[EML_MAX_RANK], redax[EML_MAX_RANK], n_kept = 0, n_red = 0;
	int64_t xs[EML_MAX_RANK];
	size_t cnt = 1, groups = 1;

	(void)p;
	for (size_t i = 0; i < a->n_axes; i++)
		red[a->axes[i]] = true;
	for (int d = 0; d < x->rank; d++) {
		if (red[d]) {
			redax[n_red++] = d;
			cnt *= (size_t)x->dims[d];
		} else {
			kept[n_kept++] = d;
			groups *= (size_t)x->dims[d];
		}
	}
	if (x->numel == 0)
		return;
	eml_dense_strides(x->rank, x->dims, xs);
	for (size_t g = 0; g < groups; g++) {
		size_t base = mvn_offset(x, xs, kept, n_kept, g);
		double s = 0, s2 = 0, sd;

		for (size_t r = 0; r < cnt; r++) {
			double v = ldd(x, base + mvn_offset(x, xs, redax, n_red, r));
			s += v;
			s2 += v * v;
		}
		s /= (double)cnt;
		s2 /= (double)cnt;
		/* ONNX's function body: (X - EX) / (sqrt(E[X^2] - EX^2) + 1e-9). */
		sd = sqrt(fmax(s2 - s * s, 0.0)) + 1e-9;
		for (size_t r = 0; r < cnt; r++) {
			size_t e = base + mvn_offset(x, xs, redax, n_red, r);

			stn(y, e, (ldd(x, e) - s) / sd, 0);
		}
	}
}

/* ---------------------------------------------------------------- data-dependent shapes */

/* Compress and NonZero: the output shape depends on the data, so the
 * deciding input must be a constant (then the node folds at plan time);
 * otherwise EML_ERR_INFER_NOT_CONST. */
static eml_err
compress_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *c = eml_pn_in(p, pn, 1);
	struct compress_par *cp = &pn->par.compress;
	int64_t dims[EML_MAX_RANK], kept = 0, len;
	int rank = 1;

	if (c->kind != VK_CONST)
		return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
		    "condition must be constant (data-dependent shape)");
	if (c->dt != EML_DT_BOOL || c->rank != 1 || eml_dtype_size(x->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "condition must be 1-D bool");
	if (cp->has_axis) {
		EML_GUARD(eml_axis(pn->n, cp->axis, x->rank, 0, &cp->ax));
		len = x->dims[cp->ax];
	} else {
		cp->ax = -1;
		len = (int64_t)x->numel;
	}
	if (c->dims[0] > len)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "condition longer than the axis");
	for (size_t i = 0; i < c->numel; i++)
		kept += ((const uint8_t *)c->data)[i] != 0;
	if (cp->has_axis) {
		rank = x->rank;
		EML_MEMCPY(dims, x->dims, sizeof(dims));
		dims[cp->ax] = kept;
	} else {
		dims[0] = kept;
	}
	return eml_pn_set_out(p, pn, 0, x->dt, rank, dims);
}

static void
compress_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *c = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	int ax = pn->par.compress.ax;
	size_t esz = eml_dtype_size(x->dt), outer = 1, inner = 1, n, o = 0;

	(void)p;
	if (ax < 0) {
		n = x->numel;
	} else {
		for (int d = 0; d < x->rank; d++) {
			if (d < ax)
				outer *= (size_t)x->dims[d];
			if (d > ax)
				inner *= (size_t)x->dims[d];
		}
		n = (size_t)x->dims[ax];
	}
	for (size_t a = 0; a < outer; a++)
		for (size_t j = 0; j < n && j < c->numel; j++)
			if (((const uint8_t *)c->data)[j] != 0) {
				EML_MEMCPY((uint8_t *)y->data + o * inner * esz,
				    (const uint8_t *)x->data + (a * n + j) * inner * esz, inner * esz);
				o++;
			}
}

static bool
nonzero_at(const struct val *x, size_t i)
{
	const uint8_t *b = (const uint8_t *)x->data + i * eml_dtype_size(x->dt);

	if (is_float_dt(x->dt))
		return ldd(x, i) != 0.0;
	for (size_t k = 0; k < eml_dtype_size(x->dt); k++)
		if (b[k] != 0)
			return true;
	return false;
}

static eml_err
nonzero_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t dims[2];

	if (x->kind != VK_CONST)
		return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
		    "input must be constant (data-dependent shape)");
	if (!is_num_dt(x->dt) && x->dt != EML_DT_BOOL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s not supported",
		    eml_dtype_name(x->dt));
	dims[0] = x->rank;
	dims[1] = 0;
	for (size_t i = 0; i < x->numel; i++)
		dims[1] += nonzero_at(x, i);
	return eml_pn_set_out(p, pn, 0, EML_DT_INT64, 2, dims);
}

static void
nonzero_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	int64_t idx[EML_MAX_RANK] = { 0 }, nnz = y->dims[1];
	size_t k = 0;

	(void)p;
	for (size_t i = 0; i < x->numel; i++) {
		if (nonzero_at(x, i)) {
			for (int d = 0; d < x->rank; d++)
				EML_MEMCPY((uint8_t *)y->data + ((size_t)d * (size_t)nnz + k) * 8,
				    &idx[d], 8);
			k++;
		}
		odo_next(x->rank, x->dims, idx);
	}
}

/* ---------------------------------------------------------------- NonMaxSuppression */

/* Optional scalar input k as a double, or def when omitted. */
static double
opt_scalar(struct eml_plan *p, const struct pnode *pn, size_t k, double def)
{
	struct val *v = eml_pn_in(p, pn, k);

	return v == NULL || v->numel == 0 ? def : ldd(v, 0);
}

static eml_err
nms_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *bx = eml_pn_in(p, pn, 0), *sc = eml_pn_in(p, pn, 1);
	struct val *mo = eml_pn_in(p, pn, 2);
	struct nms_par *np = &pn->par.nms;
	int64_t B, N, C, dims[2], per;
	size_t cnt = 0;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_FLOAT));
	if (bx->rank != 3 || bx->dims[2] != 4 || sc->rank != 3 || sc->dims[0] != bx->dims[0] ||
	    sc->dims[2] != bx->dims[1])
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
		    "boxes [B, N, 4] and scores [B, C, N] do not match");
	for (size_t k = 3; k < 5; k++) {
		struct val *t = eml_pn_in(p, pn, k);
		if (t != NULL && (t->dt != EML_DT_FLOAT || t->numel != 1))
			return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "thresholds: float scalars");
	}
	np->max_per_class = 0;
	if (mo != NULL) {
		EML_GUARD(eml_pn_const_ints(p, pn, 2, &np->max_per_class, 1, &cnt));
		if (cnt != 1 || np->max_per_class < 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "max_output_boxes_per_class must be one value >= 0");
	}
	B = bx->dims[0];
	N = bx->dims[1];
	C = sc->dims[1];
	per = np->max_per_class < N ? np->max_per_class : N;
	if (eml_mul_overflow(B * C, per, &dims[0]) || B * C > ((int64_t)1 << 40))
		return eml_pn_fail(pn->n, EML_ERR_INFER_TOO_LARGE, "too many boxes");
	dims[1] = 3;
	np->capacity = (size_t)dims[0];
	pn->ws = (size_t)N * (sizeof(struct topk_ent) + sizeof(size_t));
	return eml_pn_set_out(p, pn, 0, EML_DT_INT64, 2, dims);
}

/* Corners of box i of batch b: y1 x1 y2 x2 with y1 <= y2, x1 <= x2. */
static void
nms_box(const struct val *bx, bool center, size_t b, size_t i, double *c)
{
	const float *f = vf(bx) + (b * (size_t)bx->dims[1] + i) * 4;

	if (center) {
		c[0] = (double)f[1] - (double)f[3] / 2;
		c[1] = (double)f[0] - (double)f[2] / 2;
		c[2] = (double)f[1] + (double)f[3] / 2;
		c[3] = (double)f[0] + (double)f[2] / 2;
		return;
	}
	c[0] = fmin(f[0], f[2]);
	c[1] = fmin(f[1], f[3]);
	c[2] = fmax(f[0], f[2]);
	c[3] = fmax(f[1], f[3]);
}

static bool
nms_suppress(const double *a, const double *b, double thr)
{
	double ih = fmin(a[2], b[2]) - fmax(a[0], b[0]), iw = fmin(a[3], b[3]) - fmax(a[1], b[1]);
	double inter, uni;

	if (ih <= 0 || iw <= 0)
		return false;
	inter = ih * iw;
	uni = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
	return uni > 0 && inter / uni > thr;
}

static void
nms_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *bx = eml_pn_in(p, pn, 0), *sc = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	const struct nms_par *np = &pn->par.nms;
	size_t B = (size_t)bx->dims[0], N = (size_t)bx->dims[1], C = (size_t)sc->dims[1];
	double iou = opt_scalar(p, pn, 3, 0.0), sthr = opt_scalar(p, pn, 4, -INFINITY);
	struct topk_ent *ent = pn->wsp;
	size_t *sel = (size_t *)(void *)(ent + N), rows = 0;
	int64_t *out = y->data;

	for (size_t b = 0; b < B; b++)
		for (size_t c = 0; c < C; c++) {
			size_t m = 0, ns = 0;
			for (size_t i = 0; i < N; i++) {
				double s = vf(sc)[(b * C + c) * N + i];
				if (s > sthr) {
					ent[m].v = s;
					ent[m++].i = (int64_t)i;
				}
			}
			eml_sort(ent, m, sizeof(*ent), topk_cmp_largest);
			for (size_t j = 0; j < m && ns < (size_t)np->max_per_class; j++) {
				double cb[4], cs[4];
				bool keep = true;
				if ((j & 0x3ffu) == 0 && eml_pn_stopped(p))
					return;
				nms_box(bx, np->center_point_box, b, (size_t)ent[j].i, cb);
				for (size_t q = 0; q < ns && keep; q++) {
					nms_box(bx, np->center_point_box, b, sel[q], cs);
					keep = !nms_suppress(cb, cs, iou);
				}
				if (!keep)
					continue;
				sel[ns++] = (size_t)ent[j].i;
				if (rows < np->capacity) {
					out[rows * 3] = (int64_t)b;
					out[rows * 3 + 1] = (int64_t)c;
					out[rows * 3 + 2] = ent[j].i;
					rows++;
				}
			}
		}
	/* The rows this run selected (OPF_RUNTIME_ROWS). */
	y->dims[0] = (int64_t)rows;
	y->numel = rows * 3;
	y->nbytes = y->numel * 8;
}

/* ---------------------------------------------------------------- Einsum */

/* One term of the equation (an input's or the output's subscripts) into
 * labels, the ellipsis expanded to ell dimensions (52 + i, right-aligned
 * to the widest ellipsis). *end is past the term. -1: malformed. */
static int
einsum_term(const char *s, const char **end, int ell, int ell_max, int8_t *labels, int max)
{
	int r = 0;
	bool seen_ell = false;

	for (; *s != '\0' && *s != ',' && *s != '-'; s++) {
		if (*s == ' ')
			continue;
		if (*s == '.') {
			if (seen_ell || s[1] != '.' || s[2] != '.')
				return -1;
			seen_ell = true;
			s += 2;
			for (int i = 0; i < ell; i++) {
				if (r == max)
					return -1;
				labels[r++] = (int8_t)(52 + (ell_max - ell) + i);
			}
			continue;
		}
		if (r == max)
			return -1;
		labels[r++] = (int8_t)(*s >= 'a' ? *s - 'a' : 26 + *s - 'A');
	}
	*end = s;
	return r;
}

/* Letters (no ellipsis) in the term starting at s. */
static int
einsum_letters(const char *s)
{
	int n = 0;

	for (; *s != '\0' && *s != ',' && *s != '-'; s++)
		n += (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z');
	return n;
}

static eml_err
einsum_label_size(struct pnode *pn, struct einsum_par *e, int lab, int64_t d)
{
	if (e->size[lab] < 0 || (lab >= 52 && e->size[lab] == 1))
		e->size[lab] = d;
	else if (d != e->size[lab] && !(lab >= 52 && d == 1))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "subscript sizes differ");
	return EML_OK;
}

static eml_err
einsum_parse_inputs(struct eml_plan *p, struct pnode *pn, int *ell_max)
{
	struct einsum_par *e = &pn->par.einsum;
	const char *s = e->equation;

	*ell_max = 0;
	for (size_t k = 0; k < pn->n_in; k++) {
		int letters = einsum_letters(s), ell = eml_pn_in(p, pn, k)->rank - letters;
		const char *t = s;
		if (ell < 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input %zu: rank too small", k);
		while (*t != '\0' && *t != ',' && *t != '-' && *t != '.')
			t++;
		if (*t != '.' && ell != 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input %zu: rank differs", k);
		if (ell > *ell_max)
			*ell_max = ell;
		while (*s != '\0' && *s != ',' && *s != '-')
			s++;
		if (k + 1 < pn->n_in && *s != ',')
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "equation has too few terms");
		if (*s == ',')
			s++;
	}
	return EML_OK;
}

static eml_err
einsum_plan(struct eml_plan *p, struct pnode *pn)
{
	struct einsum_par *e = &pn->par.einsum;
	struct val *x0 = eml_pn_in(p, pn, 0);
	const char *s = e->equation, *arrow;
	int ell_max = 0, count[EINSUM_MAX_LABELS] = { 0 };
	int64_t dims[EML_MAX_RANK];

	if (pn->n_in > EINSUM_MAX_IN)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "more than %d inputs", EINSUM_MAX_IN);
	for (size_t k = 0; k < pn->n_in; k++)
		if (eml_pn_in(p, pn, k)->dt != x0->dt || !is_num_dt(x0->dt))
			return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "inputs of one numeric type");
	EML_GUARD(einsum_parse_inputs(p, pn, &ell_max));
	for (int l = 0; l < EINSUM_MAX_LABELS; l++)
		e->size[l] = -1;
	e->n_in = (int)pn->n_in;
	for (size_t k = 0; k < pn->n_in; k++) {
		struct val *x = eml_pn_in(p, pn, k);
		int r = einsum_term(s, &s, x->rank - einsum_letters(s), ell_max, e->in_labels[k],
		    EML_MAX_RANK);
		if (r != x->rank)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "equation term %zu malformed", k);
		for (int d = 0; d < r; d++) {
			EML_GUARD(einsum_label_size(pn, e, e->in_labels[k][d], x->dims[d]));
			count[e->in_labels[k][d]]++;
		}
		if (*s == ',')
			s++;
	}
	arrow = strstr(e->equation, "->");
	if (arrow != NULL) {
		const char *end;
		int r = einsum_term(arrow + 2, &end, ell_max, ell_max, e->out_labels, EML_MAX_RANK);
		if (r < 0 || *end != '\0')
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "output term malformed");
		e->out_rank = r;
		for (int d = 0; d < r; d++)
			if (e->size[e->out_labels[d]] < 0)
				return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "output label not in inputs");
	} else {
		/* Implicit: the ellipsis, then letters seen once, in order. */
		e->out_rank = 0;
		for (int l = 52; l < 52 + ell_max; l++)
			e->out_labels[e->out_rank++] = (int8_t)l;
		for (int l = 0; l < 52 && e->out_rank < EML_MAX_RANK; l++)
			if (count[l] == 1)
				e->out_labels[e->out_rank++] = (int8_t)l;
	}
	e->n_labels = 0;
	for (int l = 0; l < EINSUM_MAX_LABELS; l++)
		if (e->size[l] >= 0)
			e->used[e->n_labels++] = (int8_t)l;
	for (int d = 0; d < e->out_rank; d++)
		dims[d] = e->size[e->out_labels[d]];
	return eml_pn_set_out(p, pn, 0, x0->dt, e->out_rank, dims);
}

/* Element stride of label lab in a tensor with these labels (a label seen
 * twice, a diagonal, adds both strides; a broadcast size 1 adds none). */
static int64_t
einsum_stride(const int8_t *labels, int rank, const int64_t *dims, int lab)
{
	int64_t st = 1, s = 0;

	for (int d = rank - 1; d >= 0; d--) {
		if (labels[d] == lab && dims[d] != 1)
			s += st;
		st *= dims[d];
	}
	return s;
}

static void
einsum_run(struct eml_plan *p, struct pnode *pn)
{
	const struct einsum_par *e = &pn->par.einsum;
	struct val *y = eml_pn_out(p, pn, 0);
	int64_t st[EINSUM_MAX_IN + 1][EINSUM_MAX_LABELS], idx[EINSUM_MAX_LABELS] = { 0 };
	int64_t off[EINSUM_MAX_IN + 1] = { 0 };
	bool fl = is_float_dt(y->dt);

	for (int k = 0; k <= e->n_in; k++) {
		const struct val *v = k < e->n_in ? eml_pn_in(p, pn, (size_t)k) : y;
		const int8_t *lab = k < e->n_in ? e->in_labels[k] : e->out_labels;
		for (int j = 0; j < e->n_labels; j++)
			st[k][j] = einsum_stride(lab, v->rank, v->dims, e->used[j]);
	}
	memset(y->data, 0, y->nbytes);
	for (int j = 0; j < e->n_labels; j++)
		if (e->size[e->used[j]] == 0)
			return;
	for (uint32_t step = 1;; step++) {
		double prod = 1.0;
		int64_t iprod = 1;
		if ((step & 0xffffu) == 0 && eml_pn_stopped(p))
			return;
		for (int k = 0; k < e->n_in; k++) {
			const struct val *v = eml_pn_in(p, pn, (size_t)k);
			if (fl)
				prod *= ldd(v, (size_t)off[k]);
			else
				iprod = (int64_t)((uint64_t)iprod * (uint64_t)ldi(v, (size_t)off[k]));
		}
		if (fl)
			stn(y, (size_t)off[e->n_in], ldd(y, (size_t)off[e->n_in]) + prod, 0);
		else
			stn(y, (size_t)off[e->n_in], 0, (int64_t)((uint64_t)ldi(y,
			    (size_t)off[e->n_in]) + (uint64_t)iprod));
		int j = e->n_labels - 1;
		for (; j >= 0; j--) {
			idx[j]++;
			for (int k = 0; k <= e->n_in; k++)
				off[k] += st[k][j];
			if (idx[j] < e->size[e->used[j]])
				break;
			for (int k = 0; k <= e->n_in; k++)
				off[k] -= st[k][j] * idx[j];
			idx[j] = 0;
		}
		if (j < 0)
			return;
	}
}

/* ---------------------------------------------------------------- GridSample */

static eml_err
gridsample_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *g = eml_pn_in(p, pn, 1);
	int64_t dims[4];

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_FLOAT));
	if (x->rank != 4 || g->rank != 4 || g->dims[0] != x->dims[0] || g->dims[3] != 2)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "X [N,C,H,W], grid [N,H',W',2]");
	dims[0] = x->dims[0];
	dims[1] = x->dims[1];
	dims[2] = g->dims[1];
	dims[3] = g->dims[2];
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 4, dims);
}

/* Reflect x into [lo, hi] (as PyTorch's grid_sample). */
static double
gs_reflect(double x, double lo, double hi)
{
	double span = hi - lo, d;
	int64_t flips;

	if (span <= 0)
		return 0;
	d = fabs(x - lo);
	flips = (int64_t)floor(d / span);
	d = fmod(d, span);
	return (flips % 2 == 0) ? lo + d : hi - d;
}

/* A source coordinate after the padding mode (border and reflection clip
 * or reflect the coordinate itself). */
static double
gs_coord(const struct gridsample_par *g, double x, int64_t n)
{
	if (g->pad == GS_REFLECTION) {
		x = g->align_corners ? gs_reflect(x, 0, (double)(n - 1)) :
		    gs_reflect(x, -0.5, (double)n - 0.5);
		return fmin(fmax(x, 0), (double)(n - 1));
	}
	if (g->pad == GS_BORDER)
		return fmin(fmax(x, 0), (double)(n - 1));
	return x;
}

/* Pixel (y, x) of plane img, 0 outside (zeros padding); bicubic taps go
 * through the padding mode one by one. */
static double
gs_pixel(const struct gridsample_par *g, const float *img, int64_t H, int64_t W, int64_t y,
    int64_t x, bool tap)
{
	if (tap && g->pad != GS_ZEROS) {
		y = (int64_t)gs_coord(g, (double)y, H);
		x = (int64_t)gs_coord(g, (double)x, W);
	}
	if (y < 0 || y >= H || x < 0 || x >= W)
		return 0;
	return img[y * W + x];
}

static void
gs_cubic_w(double t, double *w)
{
	const double a = -0.75;
	double x;

	x = t + 1;
	w[0] = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
	x = t;
	w[1] = ((a + 2) * x - (a + 3)) * x * x + 1;
	x = 1 - t;
	w[2] = ((a + 2) * x - (a + 3)) * x * x + 1;
	w[3] = 1 - w[0] - w[1] - w[2];
}

static float
gs_sample(const struct gridsample_par *g, const float *img, int64_t H, int64_t W, double gx,
    double gy)
{
	/* Unnormalise [-1, 1] to pixel coordinates. */
	double x = g->align_corners ? (gx + 1) / 2 * (double)(W - 1) : ((gx + 1) * (double)W - 1) / 2;
	double y = g->align_corners ? (gy + 1) / 2 * (double)(H - 1) : ((gy + 1) * (double)H - 1) / 2;

	if (g->mode == GS_BICUBIC) {
		double wx[4], wy[4], acc = 0;
		int64_t x0 = (int64_t)floor(x), y0 = (int64_t)floor(y);
		gs_cubic_w(x - (double)x0, wx);
		gs_cubic_w(y - (double)y0, wy);
		for (int i = 0; i < 4; i++)
			for (int j = 0; j < 4; j++)
				acc += wy[i] * wx[j] * gs_pixel(g, img, H, W, y0 - 1 + i, x0 - 1 + j, true);
		return (float)acc;
	}
	x = gs_coord(g, x, W);
	y = gs_coord(g, y, H);
	if (g->mode == GS_NEAREST)
		return (float)gs_pixel(g, img, H, W, (int64_t)nearbyint(y), (int64_t)nearbyint(x),
		    false);
	{
		int64_t x0 = (int64_t)floor(x), y0 = (int64_t)floor(y);
		double fx = x - (double)x0, fy = y - (double)y0;
		return (float)((1 - fy) * ((1 - fx) * gs_pixel(g, img, H, W, y0, x0, false) +
		    fx * gs_pixel(g, img, H, W, y0, x0 + 1, false)) +
		    fy * ((1 - fx) * gs_pixel(g, img, H, W, y0 + 1, x0, false) +
		    fx * gs_pixel(g, img, H, W, y0 + 1, x0 + 1, false)));
	}
}

static void
gridsample_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *g = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	int64_t N = x->dims[0], C = x->dims[1], H = x->dims[2], W = x->dims[3];
	int64_t HO = y->dims[2], WO = y->dims[3];

	(void)p;
	for (int64_t n = 0; n < N; n++)
		for (int64_t c = 0; c < C; c++)
			for (int64_t i = 0; i < HO * WO; i++) {
				const float *gp = vf(g) + (n * HO * WO + i) * 2;
				double gx = gp[0], gy = gp[1];
				float v = 0;
				if (isfinite(gx) && isfinite(gy) && fabs(gx) < 1e6 && fabs(gy) < 1e6)
					v = gs_sample(&pn->par.gridsample, vf(x) + (n * C + c) * H * W, H,
					    W, gx, gy);
				vf(y)[(n * C + c) * HO * WO + i] = v;
			}
}

/* ---------------------------------------------------------------- table */

#define LOSS_ATTRS "reduction:s ignore_index:i"

const struct op eml_ops_more[] = {
	{ "NegativeLogLikelihoodLoss", LOSS_ATTRS, PK_LOSS, 2, 3, 1, 1, loss_plan_common, NULL,
	    nll_run, 0 },
	{ "SoftmaxCrossEntropyLoss", LOSS_ATTRS, PK_LOSS, 2, 3, 1, 2, sce_plan, NULL, sce_run, 0 },
	{ "Tile", "", PK_NONE, 2, 2, 1, 1, tile_plan, NULL, tile_run, 0 },
	{ "OneHot", "axis:i", PK_AXIS, 3, 3, 1, 1, onehot_plan, NULL, onehot_run, 0 },
	{ "DepthToSpace", "blocksize:i mode:s", PK_D2S, 1, 1, 1, 1, d2s_plan, NULL, d2s_run, 0 },
	{ "SpaceToDepth", "blocksize:i", PK_D2S, 1, 1, 1, 1, d2s_plan, NULL, d2s_run, 0 },
	{ "GatherND", "batch_dims:i", PK_GATHERND, 2, 2, 1, 1, gathernd_plan, NULL, gathernd_run,
	    0 },
	{ "ScatterND", "reduction:s", PK_SCATTER, 3, 3, 1, 1, scatternd_plan, NULL, scatternd_run,
	    0 },
	{ "ScatterElements", "axis:i reduction:s", PK_SCATTER, 3, 3, 1, 1, scatterel_plan, NULL,
	    scatterel_run, 0 },
	{ "Scatter", "axis:i", PK_SCATTER, 3, 3, 1, 1, scatterel_plan, NULL, scatterel_run, 0 },
	{ "TopK", "axis:i largest:i sorted:i", PK_TOPK, 2, 2, 2, 2, topk_plan, NULL, topk_run, 0 },
	{ "IsInf", "detect_negative:i detect_positive:i", PK_ISINF, 1, 1, 1, 1, isinf_plan, NULL,
	    isinf_run, 0 },
	{ "Shrink", "bias:f lambd:f", PK_SHRINK, 1, 1, 1, 1, shrink_plan, NULL, shrink_run, 0 },
	{ "EyeLike", "dtype:i k:i", PK_EYELIKE, 1, 1, 1, 1, eyelike_plan, NULL, eyelike_run, 0 },
	{ "InstanceNormalization", "epsilon:f", PK_BATCHNORM, 3, 3, 1, 1, instnorm_plan, NULL,
	    instnorm_run, 0 },
	{ "BitShift", "direction:s", PK_BITSHIFT, 2, 2, 1, 1, bitshift_plan, NULL, bitshift_run,
	    0 },
	{ "HannWindow", "output_datatype:i periodic:i", PK_WINDOW, 1, 1, 1, 1, window_plan, NULL,
	    window_run, 0 },
	{ "HammingWindow", "output_datatype:i periodic:i", PK_WINDOW, 1, 1, 1, 1, window_plan,
	    NULL, window_run, 0 },
	{ "BlackmanWindow", "output_datatype:i periodic:i", PK_WINDOW, 1, 1, 1, 1, window_plan,
	    NULL, window_run, 0 },
	{ "Det", "", PK_NONE, 1, 1, 1, 1, det_plan, NULL, det_run, 0 },
	{ "LRN", "alpha:f beta:f bias:f size:i", PK_LRN, 1, 1, 1, 1, lrn_plan, NULL, lrn_run, 0 },
	{ "ReverseSequence", "batch_axis:i time_axis:i", PK_REVSEQ, 2, 2, 1, 1, revseq_plan, NULL,
	    revseq_run, 0 },
	{ "MeanVarianceNormalization", "axes:I", PK_AXES, 1, 1, 1, 1, mvn_plan, NULL, mvn_run, 0 },
	{ "Compress", "axis:i", PK_COMPRESS, 2, 2, 1, 1, compress_plan, NULL, compress_run, 0 },
	{ "NonZero", "", PK_NONE, 1, 1, 1, 1, nonzero_plan, NULL, nonzero_run, 0 },
	{ "NonMaxSuppression", "center_point_box:i", PK_NMS, 2, 5, 1, 1, nms_plan, NULL, nms_run,
	    OPF_RUNTIME_ROWS },
	{ "Einsum", "equation:s", PK_EINSUM, 1, EINSUM_MAX_IN, 1, 1, einsum_plan, NULL, einsum_run,
	    0 },
	{ "GridSample", "align_corners:i mode:s padding_mode:s", PK_GRIDSAMPLE, 2, 2, 1, 1,
	    gridsample_plan, NULL, gridsample_run, 0 },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
