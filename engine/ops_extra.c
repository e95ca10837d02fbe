/*
 * Less common operators, in plain loops (no kernel): variadic Sum/Mean/
 * Max/Min, comparisons and logic, more unary math, PRelu, ArgMax/ArgMin,
 * Size and Range. Correctness first; none of these is hot in the models
 * the engine targets.
 */
#include <math.h>
#include <string.h>

#include "engine_int.h"
#include "ops.h"

/* ---------------------------------------------------------------- helpers */

static int64_t
ld_i64(const struct val *v, size_t i)
{
	const uint8_t *p = v->data;

	switch (v->dt) {
	case EML_DT_INT64: {
		int64_t x = 0;
		EML_MEMCPY(&x, p + 8 * i, 8);
		return x;
	}
	case EML_DT_INT32: {
		int32_t x = 0;
		EML_MEMCPY(&x, p + 4 * i, 4);
		return x;
	}
	case EML_DT_UINT32: {
		uint32_t x = 0;
		EML_MEMCPY(&x, p + 4 * i, 4);
		return x;
	}
	case EML_DT_UINT64: {
		uint64_t x = 0;
		EML_MEMCPY(&x, p + 8 * i, 8);
		return (int64_t)x; /* the bits; compared unsigned where it matters */
	}
	case EML_DT_INT16: {
		int16_t x = 0;
		EML_MEMCPY(&x, p + 2 * i, 2);
		return x;
	}
	case EML_DT_UINT16: {
		uint16_t x = 0;
		EML_MEMCPY(&x, p + 2 * i, 2);
		return x;
	}
	case EML_DT_INT8:
		return (int8_t)p[i];
	default:
		return p[i];
	}
}

/* Integer and byte dtypes load through ld_i64: an int32 or a byte widened
 * to int64 converts to the same double as it would directly. */
static double
ld_f64(const struct val *v, size_t i)
{
	const uint8_t *p = v->data;

	switch (v->dt) {
	case EML_DT_FLOAT: {
		float f = 0;
		EML_MEMCPY(&f, p + 4 * i, 4);
		return f;
	}
	case EML_DT_DOUBLE: {
		double d = 0;
		EML_MEMCPY(&d, p + 8 * i, 8);
		return d;
	}
	case EML_DT_UINT64:
		return (double)(uint64_t)ld_i64(v, i);
	default:
		return (double)ld_i64(v, i);
	}
}

static bool
is_int(enum eml_dtype dt)
{
	switch (dt) {
	case EML_DT_INT64:
	case EML_DT_INT32:
	case EML_DT_INT16:
	case EML_DT_INT8:
	case EML_DT_UINT64:
	case EML_DT_UINT32:
	case EML_DT_UINT16:
	case EML_DT_UINT8:
	case EML_DT_BOOL:
		return true;
	default:
		return false;
	}
}

/* Integer types other than bool (what integer arithmetic accepts). */
static bool
is_arith_int(enum eml_dtype dt)
{
	return is_int(dt) && dt != EML_DT_BOOL;
}

/* a < b in v's integer type (uint64 compares unsigned). */
static bool
int_lt(enum eml_dtype dt, int64_t a, int64_t b)
{
	return dt == EML_DT_UINT64 ? (uint64_t)a < (uint64_t)b : a < b;
}

static void
st_num(const struct val *v, size_t i, double d, int64_t k)
{
	uint8_t *p = v->data;

	switch (v->dt) {
	case EML_DT_FLOAT: {
		float f = (float)d;
		EML_MEMCPY(p + 4 * i, &f, 4);
		break;
	}
	case EML_DT_DOUBLE:
		EML_MEMCPY(p + 8 * i, &d, 8);
		break;
	case EML_DT_INT64:
		EML_MEMCPY(p + 8 * i, &k, 8);
		break;
	case EML_DT_INT32:
	case EML_DT_UINT32: {
		uint32_t x = (uint32_t)(uint64_t)k;
		EML_MEMCPY(p + 4 * i, &x, 4);
		break;
	}
	case EML_DT_UINT64:
		EML_MEMCPY(p + 8 * i, &k, 8);
		break;
	case EML_DT_INT16:
	case EML_DT_UINT16: {
		uint16_t x = (uint16_t)(uint64_t)k;
		EML_MEMCPY(p + 2 * i, &x, 2);
		break;
	}
	default:
		p[i] = (uint8_t)k;
		break;
	}
}

/* x seen as [outer, n, inner] around axis: outer = product of the dims
 * before it, n = its length, inner = product of the dims after it. */
static void
axis_split(const struct val *x, int axis, size_t *outer, size_t *n, size_t *inner)
{
	*outer = 1;
	*inner = 1;
	for (int d = 0; d < x->rank; d++) {
		if (d < axis)
			*outer *= (size_t)x->dims[d];
		if (d > axis)
			*inner *= (size_t)x->dims[d];
	}
	*n = (size_t)x->dims[axis];
}

/* Output shape of several broadcast inputs. */
static eml_err
bcast_all(struct eml_plan *p, struct pnode *pn, int *rank, int64_t *dims)
{
	struct val acc;

	memset(&acc, 0, sizeof(acc));
	acc.name = "broadcast";
	for (size_t k = 0; k < pn->n_in; k++) {
		struct val *x = eml_pn_in(p, pn, k);
		if (x == NULL)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "input %zu missing", k);
		EML_GUARD(eml_bcast(pn->n, &acc, x, &acc.rank, acc.dims));
	}
	*rank = acc.rank;
	EML_MEMCPY(dims, acc.dims, sizeof(acc.dims));
	return EML_OK;
}

/* Visit every output element with the element index of each input. */
struct bc_iter {
	int rank;
	int64_t dims[EML_MAX_RANK], idx[EML_MAX_RANK];
	size_t st[3][EML_MAX_RANK], off[3];
	int n;
};

static void
bc_init(struct bc_iter *it, const struct val *out, const struct val *const *in, int n)
{
	memset(it, 0, sizeof(*it));
	it->rank = out->rank;
	it->n = n;
	EML_MEMCPY(it->dims, out->dims, sizeof(it->dims));
	for (int k = 0; k < n; k++)
		eml_bcast_strides(in[k], out->rank, out->dims, it->st[k]);
}

static void
bc_next(struct bc_iter *it)
{
	for (int d = it->rank - 1; d >= 0; d--) {
		it->idx[d]++;
		for (int k = 0; k < it->n; k++)
			it->off[k] += it->st[k][d];
		if (it->idx[d] < it->dims[d])
			return;
		for (int k = 0; k < it->n; k++)
			it->off[k] -= it->st[k][d] * (size_t)it->dims[d];
		it->idx[d] = 0;
	}
}

/* ---------------------------------------------------------------- variadic */

static eml_err
var_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x0 = eml_pn_in(p, pn, 0);
	int64_t dims[EML_MAX_RANK];
	int rank;

	EML_GUARD(bcast_all(p, pn, &rank, dims));
	for (size_t k = 0; k < pn->n_in; k++) {
		struct val *x = eml_pn_in(p, pn, k);
		if (x->dt != x0->dt || !(x->dt == EML_DT_FLOAT || x->dt == EML_DT_DOUBLE ||
		    is_arith_int(x->dt)))
			return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s inputs not supported",
			    eml_dtype_name(x->dt));
	}
	if (pn->par.variadic.kind == VAR_MEAN && is_int(x0->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "integer Mean not supported");
	return eml_pn_set_out(p, pn, 0, x0->dt, rank, dims);
}

static void
var_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *y = eml_pn_out(p, pn, 0);
	enum variadic_kind kind = pn->par.variadic.kind;
	bool ints = is_int(y->dt);

	/* Accumulate input by input into y, which every step reads back at
	 * the same index before writing it. */
	for (size_t k = 0; k < pn->n_in; k++) {
		const struct val *x = eml_pn_in(p, pn, k);
		const struct val *ins[1] = { x };
		struct bc_iter it;
		bc_init(&it, y, ins, 1);
		for (size_t i = 0; i < y->numel; i++, bc_next(&it)) {
			if (ints) {
				int64_t a = ld_i64(x, it.off[0]), c = k == 0 ? a : ld_i64(y, i);
				if (k > 0)
					c = kind == VAR_SUM ? (int64_t)((uint64_t)c + (uint64_t)a) :
					    kind == VAR_MAX ? (int_lt(y->dt, c, a) ? a : c) :
					    (int_lt(y->dt, a, c) ? a : c);
				st_num(y, i, 0, c);
			} else {
				double a = ld_f64(x, it.off[0]), c = k == 0 ? a : ld_f64(y, i);
				if (k > 0) {
					if (kind == VAR_SUM || kind == VAR_MEAN)
						c += a;
					else if (a != a || c != c)
						c = NAN;
					else
						c = kind == VAR_MAX ? fmax(a, c) : fmin(a, c);
				}
				if (k + 1 == pn->n_in && kind == VAR_MEAN)
					c /= (double)pn->n_in;
				st_num(y, i, c, 0);
			}
		}
	}
	(void)p;
}

/* ---------------------------------------------------------------- compare */

static eml_err
cmp_plan(struct eml_plan *p, struct pnode *pn)
{
	enum compare_kind kind = pn->par.compare.kind;
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1);
	int64_t dims[EML_MAX_RANK];
	int rank;

	if (a->dt != b->dt)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "mixed types");
	if (kind >= CMP_AND ? a->dt != EML_DT_BOOL :
	    !(a->dt == EML_DT_FLOAT || a->dt == EML_DT_DOUBLE || a->dt == EML_DT_INT64 ||
	    a->dt == EML_DT_INT32 || (a->dt == EML_DT_BOOL && kind == CMP_EQ)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s not supported",
		    eml_dtype_name(a->dt));
	EML_GUARD(eml_bcast(pn->n, a, b, &rank, dims));
	return eml_pn_set_out(p, pn, 0, EML_DT_BOOL, rank, dims);
}

static void
cmp_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	const struct val *ins[2] = { a, b };
	struct bc_iter it;
	bool ints = is_int(a->dt);
	enum compare_kind kind = pn->par.compare.kind;

	(void)p;
	bc_init(&it, y, ins, 2);
	for (size_t i = 0; i < y->numel; i++, bc_next(&it)) {
		bool r;
		if (ints) {
			int64_t x = ld_i64(a, it.off[0]), z = ld_i64(b, it.off[1]);
			switch (kind) {
			case CMP_EQ: r = x == z; break;
			case CMP_LT: r = x < z; break;
			case CMP_GT: r = x > z; break;
			case CMP_LE: r = x <= z; break;
			case CMP_GE: r = x >= z; break;
			case CMP_AND: r = x && z; break;
			case CMP_OR: r = x || z; break;
			default: r = (x != 0) != (z != 0); break;
			}
		} else {
			double x = ld_f64(a, it.off[0]), z = ld_f64(b, it.off[1]);
			switch (kind) {
			case CMP_EQ: r = x == z; break;
			case CMP_LT: r = x < z; break;
			case CMP_GT: r = x > z; break;
			case CMP_LE: r = x <= z; break;
			default: r = x >= z; break;
			}
		}
		((uint8_t *)y->data)[i] = r;
	}
}

static eml_err
not_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	if (x->dt != EML_DT_BOOL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "Not wants bool");
	return eml_pn_set_out(p, pn, 0, EML_DT_BOOL, x->rank, x->dims);
}

static void
not_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);

	(void)p;
	for (size_t i = 0; i < x->numel; i++)
		((uint8_t *)y->data)[i] = !((const uint8_t *)x->data)[i];
}

/* ---------------------------------------------------------------- math */

static eml_err
math_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	if (x->dt != EML_DT_FLOAT)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s not supported",
		    eml_dtype_name(x->dt));
	return eml_pn_set_out(p, pn, 0, pn->par.math.kind == M_ISNAN ? EML_DT_BOOL : EML_DT_FLOAT,
	    x->rank, x->dims);
}

static float
math_one(enum math_kind op, float x, float a, float g)
{
	switch (op) {
	case M_FLOOR: return floorf(x);
	case M_CEIL: return ceilf(x);
	case M_ROUND: return nearbyintf(x); /* half to even, as ONNX */
	case M_SIGN: return x > 0 ? 1.0f : x < 0 ? -1.0f : x;
	case M_SIN: return sinf(x);
	case M_COS: return cosf(x);
	case M_TAN: return tanf(x);
	case M_ASIN: return asinf(x);
	case M_ACOS: return acosf(x);
	case M_ATAN: return atanf(x);
	case M_SINH: return sinhf(x);
	case M_COSH: return coshf(x);
	case M_ASINH: return asinhf(x);
	case M_ACOSH: return acoshf(x);
	case M_ATANH: return atanhf(x);
	case M_SOFTSIGN: return x / (1.0f + fabsf(x));
	case M_SOFTPLUS: return x > 20.0f ? x : log1pf(expf(x));
	case M_ELU: return x >= 0 ? x : a * (expf(x) - 1.0f);
	case M_SELU: return x > 0 ? g * x : g * (a * expf(x) - a);
	case M_CELU: return fmaxf(0.0f, x) + fminf(0.0f, a * (expf(x / a) - 1.0f));
	case M_THRELU: return x > a ? x : 0.0f;
	default: return x;
	}
}

static void
math_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct math_par *m = &pn->par.math;

	(void)p;
	for (size_t i = 0; i < x->numel; i++) {
		if (m->kind == M_ISNAN)
			((uint8_t *)y->data)[i] = vf(x)[i] != vf(x)[i];
		else
			vf(y)[i] = math_one(m->kind, vf(x)[i], m->alpha, m->gamma);
	}
}

/* ---------------------------------------------------------------- PRelu */

static eml_err
prelu_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *s = eml_pn_in(p, pn, 1);
	int64_t dims[EML_MAX_RANK];
	int rank;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_FLOAT));
	/* PRelu-6: one slope for all, or one per channel (axis 1); numpy
	 * broadcasting agrees when there is one value, or when X is 2-D. */
	if (pn->par.prelu.legacy && s->rank == 1 && x->rank > 2 && s->numel > 1) {
		if (s->dims[0] != x->dims[1])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "slope must be [C]");
		pn->par.prelu.chan = true;
		pn->par.prelu.C = (size_t)x->dims[1];
		pn->par.prelu.inner = x->numel / (size_t)(x->dims[0] * x->dims[1]);
		return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, x->dims);
	}
	if (pn->par.prelu.legacy && !(s->numel == 1 || (x->rank == 2 && s->rank == 1)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "opset 6 slope layout not supported");
	/* Unidirectional: the slope broadcasts to X, never the reverse. */
	EML_GUARD(eml_bcast(pn->n, x, s, &rank, dims));
	bool same = rank == x->rank;
	for (int d = 0; same && d < rank; d++)
		same = dims[d] == x->dims[d];
	if (!same)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "slope does not broadcast to X");
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, x->dims);
}

static void
prelu_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *s = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	const struct val *ins[1] = { s };
	struct bc_iter it;

	(void)p;
	if (pn->par.prelu.chan) {
		const struct prelu_par *pp = &pn->par.prelu;
		for (size_t i = 0; i < y->numel; i++) {
			float v = vf(x)[i];
			vf(y)[i] = v < 0 ? v * vf(s)[(i / pp->inner) % pp->C] : v;
		}
		return;
	}
	bc_init(&it, y, ins, 1);
	for (size_t i = 0; i < y->numel; i++, bc_next(&it)) {
		float v = vf(x)[i];
		vf(y)[i] = v < 0 ? v * vf(s)[it.off[0]] : v;
	}
}

/* ---------------------------------------------------------------- ArgMax */

static eml_err
arg_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t dims[EML_MAX_RANK];
	int axis, r = 0;
	struct arg_par *ap = &pn->par.arg;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM_INTS));
	EML_GUARD(eml_axis(pn->n, ap->axis, x->rank, 0, &axis));
	if (x->dims[axis] == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "empty axis");
	axis_split(x, axis, &ap->outer, &ap->n, &ap->inner);
	for (int d = 0; d < x->rank; d++) {
		if (d != axis)
			dims[r++] = x->dims[d];
		else if (ap->keepdims)
			dims[r++] = 1;
	}
	return eml_pn_set_out(p, pn, 0, EML_DT_INT64, r, dims);
}

static void
arg_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct arg_par *ap = &pn->par.arg;
	size_t outer = ap->outer, n = ap->n, inner = ap->inner;

	(void)p;
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++) {
			size_t best = 0;
			double bv = ld_f64(x, o * n * inner + i);
			for (size_t j = 1; j < n; j++) {
				double v = ld_f64(x, (o * n + j) * inner + i);
				bool tie = ap->select_last_index && v == bv;
				bool better = ap->is_max ? v > bv || tie : v < bv || tie;
				if (better) {
					best = j;
					bv = v;
				}
			}
			st_num(y, o * inner + i, 0, (int64_t)best);
		}
}

/* ---------------------------------------------------------------- Size, Range */

static eml_err
size_plan(struct eml_plan *p, struct pnode *pn)
{
	return eml_pn_set_out(p, pn, 0, EML_DT_INT64, 0, NULL);
}

static void
size_run(struct eml_plan *p, struct pnode *pn)
{
	int64_t n = (int64_t)eml_pn_in(p, pn, 0)->numel;

	EML_MEMCPY(eml_pn_out(p, pn, 0)->data, &n, 8);
}

static eml_err
range_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *v[3];
	double s, l, d, cnt;

	for (size_t k = 0; k < 3; k++) {
		v[k] = eml_pn_in(p, pn, k);
		if (v[k]->kind != VK_CONST)
			return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
			    "start, limit and delta must be constants");
		if (v[k]->numel != 1 || v[k]->dt != v[0]->dt ||
		    !(v[k]->dt == EML_DT_FLOAT || is_int(v[k]->dt)) || v[k]->dt == EML_DT_BOOL)
			return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "scalar inputs of one type");
	}
	s = ld_f64(v[0], 0);
	l = ld_f64(v[1], 0);
	d = ld_f64(v[2], 0);
	if (d == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "delta 0");
	/* ONNX: number_of_elements = max(ceil((limit - start) / delta), 0) */
	cnt = ceil((l - s) / d);
	if (!(cnt >= 0))
		cnt = 0;
	if (cnt > 1e9)
		return eml_pn_fail(pn->n, EML_ERR_INFER_TOO_LARGE, "range too long");
	{
		int64_t n = (int64_t)cnt;
		return eml_pn_set_out(p, pn, 0, v[0]->dt, 1, &n);
	}
}

static void
range_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *s = eml_pn_in(p, pn, 0), *d = eml_pn_in(p, pn, 2), *y = eml_pn_out(p, pn, 0);

	for (size_t i = 0; i < y->numel; i++) {
		if (is_int(y->dt))
			st_num(y, i, 0, (int64_t)((uint64_t)ld_i64(s, 0) +
			    (uint64_t)i * (uint64_t)ld_i64(d, 0)));
		else
			st_num(y, i, (double)(vf(s)[0] + (float)i * vf(d)[0]), 0);
	}
	(void)p;
}

/* ---------------------------------------------------------------- Mod */

static eml_err
mod_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1);
	int64_t dims[EML_MAX_RANK];
	int rank;

	if (a->dt != b->dt || !(a->dt == EML_DT_FLOAT || a->dt == EML_DT_DOUBLE ||
	    is_arith_int(a->dt)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s/%s not supported",
		    eml_dtype_name(a->dt), eml_dtype_name(b->dt));
	if ((a->dt == EML_DT_FLOAT || a->dt == EML_DT_DOUBLE) && !pn->par.mod.fmod)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "float Mod needs fmod=1");
	EML_GUARD(eml_bcast(pn->n, a, b, &rank, dims));
	return eml_pn_set_out(p, pn, 0, a->dt, rank, dims);
}

static void
mod_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	const struct val *ins[2] = { a, b };
	struct bc_iter it;

	(void)p;
	bc_init(&it, y, ins, 2);
	for (size_t i = 0; i < y->numel; i++, bc_next(&it)) {
		if (y->dt == EML_DT_FLOAT) {
			vf(y)[i] = fmodf(vf(a)[it.off[0]], vf(b)[it.off[1]]);
		} else if (y->dt == EML_DT_DOUBLE) {
			st_num(y, i, fmod(ld_f64(a, it.off[0]), ld_f64(b, it.off[1])), 0);
		} else if (y->dt == EML_DT_UINT64) {
			uint64_t x = (uint64_t)ld_i64(a, it.off[0]), d = (uint64_t)ld_i64(b, it.off[1]);
			st_num(y, i, 0, (int64_t)(d == 0 ? 0 : x % d));
		} else {
			int64_t x = ld_i64(a, it.off[0]), d = ld_i64(b, it.off[1]), r;
			if (d == 0 || (d == -1 && x == INT64_MIN)) {
				r = 0;
			} else {
				r = x % d;
				/* fmod=0: the sign of the divisor, as Python. */
				if (!pn->par.mod.fmod && r != 0 && ((r < 0) != (d < 0)))
					r += d;
			}
			st_num(y, i, 0, r);
		}
	}
}

/* ---------------------------------------------------------------- Trilu */

static eml_err
trilu_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t k = 0;
	size_t n;

	if (x->rank < 2 || eml_dtype_size(x->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "rank %d", x->rank);
	if (eml_pn_in(p, pn, 1) != NULL) {
		EML_GUARD(eml_pn_const_ints(p, pn, 1, &k, 1, &n));
		if (n != 1)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "k must be a scalar");
	}
	if (k > ((int64_t)1 << 40) || k < -((int64_t)1 << 40))
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "k out of range");
	pn->par.trilu.k = k;
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

static void
trilu_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	size_t esz = eml_dtype_size(x->dt);
	int64_t R = x->dims[x->rank - 2], C = x->dims[x->rank - 1];
	size_t mats = R * C == 0 ? 0 : x->numel / (size_t)(R * C);

	(void)p;
	for (size_t m = 0; m < mats; m++)
		for (int64_t i = 0; i < R; i++)
			for (int64_t j = 0; j < C; j++) {
				size_t e = (m * (size_t)R + (size_t)i) * (size_t)C + (size_t)j;
				bool keep = pn->par.trilu.upper ? j - i >= pn->par.trilu.k :
				    j - i <= pn->par.trilu.k;
				if (keep)
					EML_MEMCPY((uint8_t *)y->data + e * esz,
					    (const uint8_t *)x->data + e * esz, esz);
				else
					memset((uint8_t *)y->data + e * esz, 0, esz);
			}
}

/* ---------------------------------------------------------------- GatherElements */

static eml_err
gel_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1);
	int axis;

	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_INTS));
	if (x->rank < 1 || ind->rank != x->rank || eml_dtype_size(x->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "ranks differ");
	EML_GUARD(eml_axis(pn->n, pn->par.axis.axis, x->rank, 0, &axis));
	for (int d = 0; d < x->rank; d++)
		if (d != axis && ind->dims[d] > x->dims[d])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "indices larger than data");
	pn->par.axis.ax = axis;
	return eml_pn_set_out(p, pn, 0, x->dt, ind->rank, ind->dims);
}

static void
gel_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	int axis = pn->par.axis.ax, r = x->rank;
	int64_t xs[EML_MAX_RANK], idx[EML_MAX_RANK] = { 0 };
	size_t esz = eml_dtype_size(x->dt);

	eml_dense_strides(r, x->dims, xs);
	for (size_t i = 0; i < y->numel; i++) {
		int64_t k = ld_i64(ind, i), off = 0;
		if (k < 0)
			k += x->dims[axis];
		if (k < 0 || k >= x->dims[axis]) {
			p->run_err = EML_ERR_INFER_SHAPE;
			eml_err_set_detail("node %s: index out of range", pn->n->name);
			memset((uint8_t *)y->data + i * esz, 0, esz);
		} else {
			for (int d = 0; d < r; d++)
				off += (d == axis ? k : idx[d]) * xs[d];
			EML_MEMCPY((uint8_t *)y->data + i * esz,
			    (const uint8_t *)x->data + (size_t)off * esz, esz);
		}
		for (int d = r - 1; d >= 0; d--) {
			if (++idx[d] < y->dims[d])
				break;
			idx[d] = 0;
		}
	}
}

/* ---------------------------------------------------------------- CumSum */

static eml_err
cumsum_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t a;
	size_t n;
	int axis;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE) | DTM_INTS));
	EML_GUARD(eml_pn_const_ints(p, pn, 1, &a, 1, &n));
	if (n != 1 || x->rank < 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "axis must be a scalar");
	EML_GUARD(eml_axis(pn->n, a, x->rank, 0, &axis));
	axis_split(x, axis, &pn->par.cumsum.outer, &pn->par.cumsum.n, &pn->par.cumsum.inner);
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, x->dims);
}

static void
cumsum_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct cumsum_par *cs = &pn->par.cumsum;
	size_t outer = cs->outer, n = cs->n, inner = cs->inner;

	(void)p;
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++) {
			double acc = 0;
			int64_t iacc = 0;
			for (size_t jj = 0; jj < n; jj++) {
				size_t j = cs->reverse ? n - 1 - jj : jj;
				size_t e = (o * n + j) * inner + i;
				if (cs->exclusive) {
					st_num(y, e, acc, iacc);
				}
				if (is_int(x->dt))
					iacc = (int64_t)((uint64_t)iacc + (uint64_t)ld_i64(x, e));
				else
					acc += ld_f64(x, e);
				if (!cs->exclusive) {
					/* float: accumulate in float, like the reference */
					st_num(y, e, acc, iacc);
				}
			}
		}
}

/* ---------------------------------------------------------------- Hardmax */

static eml_err
hardmax_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct softmax_par *sm = &pn->par.softmax;
	int axis;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	if (x->rank < 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scalar input");
	EML_GUARD(eml_axis(pn->n, sm->axis, x->rank, 0, &axis));
	axis_split(x, axis, &sm->outer, &sm->n, &sm->inner);
	if (sm->coerce_2d) { /* coerced to 2-D at axis */
		sm->n *= sm->inner;
		sm->inner = 1;
	}
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, x->dims);
}

static void
hardmax_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct softmax_par *sm = &pn->par.softmax;
	size_t outer = sm->outer, n = sm->n, inner = sm->inner;

	(void)p;
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++) {
			size_t best = 0;
			for (size_t j = 0; j < n; j++) {
				size_t e = (o * n + j) * inner + i;
				if (vf(x)[e] > vf(x)[(o * n + best) * inner + i])
					best = j;
				vf(y)[e] = 0.0f;
			}
			if (n > 0)
				vf(y)[(o * n + best) * inner + i] = 1.0f;
		}
}

/* ---------------------------------------------------------------- table */

#define MATH(nm, at) { nm, at, PK_MATH, 1, 1, 1, 1, math_plan, NULL, math_run, 0 }
#define CMP(nm) { nm, "", PK_COMPARE, 2, 2, 1, 1, cmp_plan, NULL, cmp_run, 0 }
#define VARIADIC(nm) { nm, "", PK_VARIADIC, 1, 64, 1, 1, var_plan, NULL, var_run, 0 }

const struct op eml_ops_extra[] = {
	VARIADIC("Sum"),
	VARIADIC("Mean"),
	VARIADIC("Max"),
	VARIADIC("Min"),
	CMP("Equal"),
	CMP("Less"),
	CMP("Greater"),
	CMP("LessOrEqual"),
	CMP("GreaterOrEqual"),
	CMP("And"),
	CMP("Or"),
	CMP("Xor"),
	{ "Not", "", PK_NONE, 1, 1, 1, 1, not_plan, NULL, not_run, 0 },
	MATH("Floor", ""),
	MATH("Ceil", ""),
	MATH("Round", ""),
	MATH("Sign", ""),
	MATH("Sin", ""),
	MATH("Cos", ""),
	MATH("Tan", ""),
	MATH("Asin", ""),
	MATH("Acos", ""),
	MATH("Atan", ""),
	MATH("Sinh", ""),
	MATH("Cosh", ""),
	MATH("Asinh", ""),
	MATH("Acosh", ""),
	MATH("Atanh", ""),
	MATH("Softsign", ""),
	MATH("Softplus", ""),
	MATH("Elu", "alpha:f"),
	MATH("Selu", "alpha:f gamma:f"),
	MATH("Celu", "alpha:f"),
	MATH("ThresholdedRelu", "alpha:f"),
	MATH("IsNaN", ""),
	{ "PRelu", "", PK_PRELU, 2, 2, 1, 1, prelu_plan, NULL, prelu_run, 0 },
	{ "ArgMax", "axis:i keepdims:i select_last_index:i", PK_ARG, 1, 1, 1, 1, arg_plan, NULL,
	    arg_run, 0 },
	{ "ArgMin", "axis:i keepdims:i select_last_index:i", PK_ARG, 1, 1, 1, 1, arg_plan, NULL,
	    arg_run, 0 },
	{ "Mod", "fmod:i", PK_MOD, 2, 2, 1, 1, mod_plan, NULL, mod_run, 0 },
	{ "Trilu", "upper:i", PK_TRILU, 1, 2, 1, 1, trilu_plan, NULL, trilu_run, 0 },
	{ "GatherElements", "axis:i", PK_AXIS, 2, 2, 1, 1, gel_plan, NULL, gel_run, 0 },
	{ "CumSum", "exclusive:i reverse:i", PK_CUMSUM, 2, 2, 1, 1, cumsum_plan, NULL, cumsum_run,
	    0 },
	{ "Hardmax", "axis:i", PK_SOFTMAX, 1, 1, 1, 1, hardmax_plan, NULL, hardmax_run, 0 },
	{ "Size", "", PK_NONE, 1, 1, 1, 1, size_plan, NULL, size_run, OPF_SHAPE_ONLY },
	{ "Range", "", PK_NONE, 3, 3, 1, 1, range_plan, NULL, range_run, 0 },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
