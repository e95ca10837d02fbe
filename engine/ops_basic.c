/*
 * Element-wise, type and layout operators: the ONNX semantics (attribute
 * forms per opset, broadcasting, shape inference) with the arithmetic in
 * the kernels where they have it.
 */
#include <math.h>
#include <string.h>

#include "engine_int.h"
#include "eml_mem.h"
#include "ops.h"

/* ---------------------------------------------------------------- helpers */

void
eml_dense_strides(int rank, const int64_t *dims, int64_t *strides)
{
	int64_t s = 1;

	for (int i = rank - 1; i >= 0; i--) {
		strides[i] = s;
		s *= dims[i];
	}
}

static void
copy_row(uint8_t *d, const uint8_t *s, size_t esz, int64_t n, int64_t st)
{
	if (st == 1) {
		EML_MEMCPY(d, s, (size_t)n * esz);
		return;
	}
	switch (esz) {
	case 4:
		for (int64_t i = 0; i < n; i++)
			EML_MEMCPY(d + 4 * i, s + 4 * i * st, 4);
		break;
	case 8:
		for (int64_t i = 0; i < n; i++)
			EML_MEMCPY(d + 8 * i, s + 8 * i * st, 8);
		break;
	default:
		for (int64_t i = 0; i < n; i++)
			EML_MEMCPY(d + (size_t)i * esz, s + (ptrdiff_t)(i * st) * (ptrdiff_t)esz,
			    esz);
		break;
	}
}

void
eml_copy_strided(void *dst, const void *src, size_t esz, int rank, const int64_t *dims,
    const int64_t *sstrides)
{
	int64_t idx[EML_MAX_RANK] = { 0 };
	uint8_t *d = dst;
	const uint8_t *s = src;
	int64_t inner, outer = 1, off = 0;

	if (rank == 0) {
		EML_MEMCPY(d, s, esz);
		return;
	}
	for (int i = 0; i < rank; i++)
		if (dims[i] == 0)
			return;
	inner = dims[rank - 1];
	for (int i = 0; i < rank - 1; i++)
		outer *= dims[i];
	for (int64_t o = 0; o < outer; o++) {
		copy_row(d, s + off * (int64_t)esz, esz, inner, sstrides[rank - 1]);
		d += (size_t)inner * esz;
		for (int i = rank - 2; i >= 0; i--) {
			idx[i]++;
			off += sstrides[i];
			if (idx[i] < dims[i])
				break;
			off -= sstrides[i] * dims[i];
			idx[i] = 0;
		}
	}
}

/* Same-shape output of input 0 with a given dtype. */
static eml_err
same_shape(struct eml_plan *p, struct pnode *pn, enum eml_dtype dt)
{
	struct val *x = eml_pn_in(p, pn, 0);
	return eml_pn_set_out(p, pn, 0, dt, x->rank, x->dims);
}

/* ---------------------------------------------------------------- unary */

static eml_err
unary_plan(struct eml_plan *p, struct pnode *pn)
{
	struct unary_par *u = &pn->par.unary;
	struct val *x = eml_pn_in(p, pn, 0);
	bool int_ok = u->op == EML_UNARY_ABS || u->op == EML_UNARY_NEG;

	if (u->op == EML_UNARY_CLIP && x->dt != EML_DT_FLOAT) {
		EML_GUARD(eml_clip_generic_plan(p, pn));
		return same_shape(p, pn, x->dt);
	}
	if (x->dt != EML_DT_FLOAT && !(int_ok && (x->dt == EML_DT_INT64 || x->dt == EML_DT_INT32)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s input not supported",
		    eml_dtype_name(x->dt));
	if (u->op == EML_UNARY_CLIP) {
		/* Clip-11+: the bounds are optional constant inputs. */
		if (eml_pn_in(p, pn, 1) != NULL)
			EML_GUARD(eml_pn_const_float(p, pn, 1, &u->min));
		if (eml_pn_in(p, pn, 2) != NULL)
			EML_GUARD(eml_pn_const_float(p, pn, 2, &u->max));
	}
	return same_shape(p, pn, x->dt);
}

/* int32/int64 element i of v, widened to int64 (and narrowed back on store,
 * wrapping). */
static int64_t
ld_int(const struct val *v, size_t i)
{
	if (v->dt == EML_DT_INT64) {
		int64_t x = 0;
		EML_MEMCPY(&x, (const uint8_t *)v->data + 8 * i, 8);
		return x;
	} else {
		int32_t x = 0;
		EML_MEMCPY(&x, (const uint8_t *)v->data + 4 * i, 4);
		return x;
	}
}

static void
st_int(const struct val *v, size_t i, int64_t x)
{
	if (v->dt == EML_DT_INT64) {
		EML_MEMCPY((uint8_t *)v->data + 8 * i, &x, 8);
	} else {
		int32_t w = (int32_t)(uint32_t)(uint64_t)x;
		EML_MEMCPY((uint8_t *)v->data + 4 * i, &w, 4);
	}
}

#define UNARY_CHUNK 64 /* floats: ranges of whole cache lines */

struct unary_job {
	struct eml_plan *p;
	enum eml_unary op;
	const float *x;
	float *y;
	float p0, p1;
	size_t n;
};

/* Chunks [c0, c1) of UNARY_CHUNK elements (the last one ragged). */
static void
unary_chunks(void *arg, size_t c0, size_t c1, int thread)
{
	const struct unary_job *j = arg;
	size_t i0 = c0 * UNARY_CHUNK, i1 = c1 * UNARY_CHUNK < j->n ? c1 * UNARY_CHUNK : j->n;

	(void)thread;
	j->p->k->unary(j->op, i1 - i0, j->x + i0, j->y + i0, j->p0, j->p1);
}

/* Flop-equivalents an element (eml_pool_for): a read and a write, and
 * for the transcendental ones a polynomial and a division or two (Erf
 * over 128 x 1536 took ~70 us on one thread). */
static double
unary_cost(enum eml_unary op)
{
	switch (op) {
	case EML_UNARY_SIGMOID:
	case EML_UNARY_TANH:
	case EML_UNARY_EXP:
	case EML_UNARY_LOG:
	case EML_UNARY_ERF:
	case EML_UNARY_GELU:
		return 40.0;
	default:
		return 8.0;
	}
}

static void
unary_run(struct eml_plan *p, struct pnode *pn)
{
	const struct unary_par *u = &pn->par.unary;
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);

	if (u->generic) {
		eml_clip_generic_run(p, pn);
		return;
	}
	if (x->dt == EML_DT_FLOAT) {
		/* The kernel's two parameters: Clip's bounds, or alpha and beta. */
		struct unary_job j = { p, u->op, vf(x), vf(y), u->alpha, u->beta, x->numel };
		if (u->op == EML_UNARY_CLIP) {
			j.p0 = u->min;
			j.p1 = u->max;
		}
		eml_pool_run_range(eml_pool_for(p->pool, unary_cost(u->op) * (double)x->numel),
		    (x->numel + UNARY_CHUNK - 1) / UNARY_CHUNK, unary_chunks, &j);
		return;
	}
	for (size_t i = 0; i < x->numel; i++) {
		int64_t v = ld_int(x, i);

		/* Wrapping negation: INT64_MIN stays INT64_MIN, as in C++. */
		if (u->op == EML_UNARY_NEG || v < 0)
			v = (int64_t)(0 - (uint64_t)v);
		st_int(y, i, v);
	}
}

/* ---------------------------------------------------------------- binary */

static eml_err
binary_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1);
	enum eml_binary k = pn->par.binary.op;
	int64_t dims[EML_MAX_RANK];
	int rank;

	if (pn->n_in != 2)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%zu inputs (variadic form) not "
		    "supported", pn->n_in);
	/* float32 and int32/int64 in the kernels and rows below; other
	 * types and Pow's mixed types in ops_more.c. */
	pn->par.binary.generic = !(a->dt == b->dt && (a->dt == EML_DT_FLOAT ||
	    ((a->dt == EML_DT_INT64 || a->dt == EML_DT_INT32) && k != EML_BINARY_POW)));
	if (pn->par.binary.has_axis)
		return eml_binary_legacy_axis_plan(p, pn);
	if (pn->par.binary.generic)
		EML_GUARD(eml_binary_generic_check(p, pn));
	EML_GUARD(eml_bcast(pn->n, a, b, &rank, dims));
	if (pn->par.binary.legacy && (rank != a->rank || b->rank > a->rank ||
	    (!pn->par.binary.legacy_bcast && a->numel != b->numel)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
		    "opset < 7: B must match A (or broadcast=1 and B a suffix of A)");
	for (int d = 0; pn->par.binary.legacy && d < rank; d++)
		if (dims[d] != a->dims[d])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "opset < 7: B broadcasts to A, never the reverse");
	return eml_pn_set_out(p, pn, 0, a->dt, rank, dims);
}

static int64_t
int_op(enum eml_binary k, int64_t a, int64_t b)
{
	uint64_t ua = (uint64_t)a, ub = (uint64_t)b;

	switch (k) {
	case EML_BINARY_ADD:
		return (int64_t)(ua + ub);
	case EML_BINARY_SUB:
		return (int64_t)(ua - ub);
	case EML_BINARY_MUL:
		return (int64_t)(ua * ub);
	case EML_BINARY_DIV:
		/* Integer division truncates (C semantics, as ONNX Runtime);
		 * division by zero and INT64_MIN / -1 give 0 instead of a trap. */
		if (b == 0 || (a == INT64_MIN && b == -1))
			return 0;
		return a / b;
	case EML_BINARY_MAX:
		return a > b ? a : b;
	case EML_BINARY_MIN:
		return a < b ? a : b;
	default:
		return 0;
	}
}

/* Merge adjacent output dims where both inputs step uniformly, so rows
 * are as long as possible. */
static int
merge_dims(int rank, int64_t *dims, size_t *sa, size_t *sb)
{
	int r = 0;

	for (int i = 0; i < rank; i++) {
		if (r > 0) {
			int j = r - 1;
			bool oka = (sa[j] == 0 && sa[i] == 0) ||
			    (sa[i] != 0 && sa[j] == sa[i] * (size_t)dims[i]);
			bool okb = (sb[j] == 0 && sb[i] == 0) ||
			    (sb[i] != 0 && sb[j] == sb[i] * (size_t)dims[i]);
			if (dims[i] == 1)
				continue;
			if (dims[j] == 1) {
				dims[j] = dims[i];
				sa[j] = sa[i];
				sb[j] = sb[i];
				continue;
			}
			if (oka && okb) {
				dims[j] *= dims[i];
				sa[j] = sa[i];
				sb[j] = sb[i];
				continue;
			}
		}
		dims[r] = dims[i];
		sa[r] = sa[i];
		sb[r] = sb[i];
		r++;
	}
	if (r == 0) {
		dims[0] = 1;
		sa[0] = sb[0] = 0;
		r = 1;
	}
	return r;
}

/* Float operands of the output's size or scalars: one kernel call. */
static bool
binary_flat(struct eml_plan *p, enum eml_binary k, const struct val *a, const struct val *b,
    const struct val *y)
{
	if (a->dt != EML_DT_FLOAT)
		return false;
	if (a->numel == y->numel && b->numel == y->numel)
		p->k->binary(k, y->numel, vf(a), vf(b), vf(y));
	else if (b->numel == 1 && a->numel == y->numel)
		p->k->binary_scalar(k, y->numel, vf(a), vf(b)[0], false, vf(y));
	else if (a->numel == 1 && b->numel == y->numel)
		p->k->binary_scalar(k, y->numel, vf(b), vf(a)[0], true, vf(y));
	else
		return false;
	return true;
}

/* One output row of inner elements: a from element oa with stride sa,
 * b from ob with stride sb (0 when broadcast). */
static void
binary_row(struct eml_plan *p, enum eml_binary k, const struct val *a, const struct val *b,
    const struct val *y, size_t yi, size_t inner, size_t oa, size_t sa, size_t ob, size_t sb)
{
	if (a->dt != EML_DT_FLOAT) {
		for (size_t i = 0; i < inner; i++)
			st_int(y, yi + i, int_op(k, ld_int(a, oa + i * sa), ld_int(b, ob + i * sb)));
		return;
	}
	if (sa == 1 && sb == 1)
		p->k->binary(k, inner, vf(a) + oa, vf(b) + ob, vf(y) + yi);
	else if (sb == 0 && sa == 1)
		p->k->binary_scalar(k, inner, vf(a) + oa, vf(b)[ob], false, vf(y) + yi);
	else if (sa == 0 && sb == 1)
		p->k->binary_scalar(k, inner, vf(b) + ob, vf(a)[oa], true, vf(y) + yi);
	else
		p->k->binary(k, 1, vf(a) + oa, vf(b) + ob, vf(y) + yi); /* inner == 1 */
}

static void
binary_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	enum eml_binary k = pn->par.binary.op;
	size_t sa[EML_MAX_RANK], sb[EML_MAX_RANK], oa = 0, ob = 0;
	int64_t dims[EML_MAX_RANK], idx[EML_MAX_RANK] = { 0 };
	int rank = y->rank;
	size_t inner, outer = 1;

	if (pn->par.binary.generic) {
		eml_binary_generic_run(p, pn);
		return;
	}
	if (y->numel == 0 || binary_flat(p, k, a, b, y))
		return;
	EML_MEMCPY(dims, y->dims, sizeof(dims));
	eml_bcast_strides(a, rank, y->dims, sa);
	eml_bcast_strides(b, rank, y->dims, sb);
	if (rank == 0) {
		dims[0] = 1;
		sa[0] = sb[0] = 0;
		rank = 1;
	}
	rank = merge_dims(rank, dims, sa, sb);
	inner = (size_t)dims[rank - 1];
	for (int i = 0; i < rank - 1; i++)
		outer *= (size_t)dims[i];
	for (size_t o = 0; o < outer; o++) {
		binary_row(p, k, a, b, y, o * inner, inner, oa, sa[rank - 1], ob, sb[rank - 1]);
		for (int i = rank - 2; i >= 0; i--) {
			idx[i]++;
			oa += sa[i];
			ob += sb[i];
			if (idx[i] < dims[i])
				break;
			oa -= sa[i] * (size_t)dims[i];
			ob -= sb[i] * (size_t)dims[i];
			idx[i] = 0;
		}
	}
}

/* ---------------------------------------------------------------- Cast */

bool
eml_cast_dtype_ok(int64_t dt)
{
	switch (dt) {
	case EML_DT_FLOAT:
	case EML_DT_DOUBLE:
	case EML_DT_INT64:
	case EML_DT_INT32:
	case EML_DT_INT16:
	case EML_DT_INT8:
	case EML_DT_UINT8:
	case EML_DT_UINT16:
	case EML_DT_UINT32:
	case EML_DT_UINT64:
	case EML_DT_BOOL:
	case EML_DT_FLOAT16: /* held as float32 (eml_f16_inherits) */
	case EML_DT_BFLOAT16:
		return true;
	default:
		return false;
	}
}

static eml_err
cast_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	if (!eml_cast_dtype_ok(x->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "cast from %s not supported",
		    eml_dtype_name(x->dt));
	return same_shape(p, pn, pn->par.cast.to);
}

static bool
is_float_dt(enum eml_dtype dt)
{
	return dt == EML_DT_FLOAT || dt == EML_DT_DOUBLE;
}

static double
ld_d(const uint8_t *s, enum eml_dtype dt, size_t i)
{
	if (dt == EML_DT_FLOAT) {
		float f = 0;
		EML_MEMCPY(&f, s + 4 * i, 4);
		return f;
	}
	{
		double d = 0;
		EML_MEMCPY(&d, s + 8 * i, 8);
		return d;
	}
}

static int64_t
ld_i(const uint8_t *s, enum eml_dtype dt, size_t i, uint64_t *u)
{
	union {
		int8_t i8;
		uint8_t u8;
		int16_t i16;
		uint16_t u16;
		int32_t i32;
		uint32_t u32;
		int64_t i64;
		uint64_t u64;
	} x;
	size_t esz = eml_dtype_size(dt);

	EML_MEMCPY(&x, s + esz * i, esz);
	*u = 0;
	switch (dt) {
	case EML_DT_INT8:
		return x.i8;
	case EML_DT_UINT8:
	case EML_DT_BOOL:
		return x.u8;
	case EML_DT_INT16:
		return x.i16;
	case EML_DT_UINT16:
		return x.u16;
	case EML_DT_INT32:
		return x.i32;
	case EML_DT_UINT32:
		return x.u32;
	case EML_DT_UINT64:
		*u = x.u64;
		return (int64_t)x.u64;
	default:
		return x.i64;
	}
}

static void
st_i(uint8_t *d, enum eml_dtype dt, size_t i, int64_t v)
{
	size_t esz = eml_dtype_size(dt);
	uint64_t u = (uint64_t)v;

	if (dt == EML_DT_BOOL)
		u = v != 0;
	switch (esz) {
	case 1: {
		uint8_t b = (uint8_t)u;
		d[i] = b;
		break;
	}
	case 2: {
		uint16_t h = (uint16_t)u;
		EML_MEMCPY(d + 2 * i, &h, 2);
		break;
	}
	case 4: {
		uint32_t w = (uint32_t)u;
		EML_MEMCPY(d + 4 * i, &w, 4);
		break;
	}
	default:
		EML_MEMCPY(d + 8 * i, &u, 8);
		break;
	}
}

/* A float to an integer: truncation toward zero; NaN gives 0 and values
 * out of the int64 range saturate (C leaves both undefined). */
static int64_t
d_to_i(double d)
{
	if (d != d)
		return 0;
	if (d >= 9.2233720368547758e18)
		return INT64_MAX;
	if (d <= -9.2233720368547758e18)
		return INT64_MIN;
	return (int64_t)d;
}

static void
cast_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const uint8_t *s = x->data;
	uint8_t *d = y->data;

	(void)p;
	if (x->dt == y->dt) {
		EML_MEMCPY(d, s, y->nbytes);
		return;
	}
	for (size_t i = 0; i < x->numel; i++) {
		if (is_float_dt(x->dt)) {
			double v = ld_d(s, x->dt, i);
			if (y->dt == EML_DT_FLOAT) {
				float f = (float)v;
				EML_MEMCPY(d + 4 * i, &f, 4);
			} else if (y->dt == EML_DT_DOUBLE) {
				EML_MEMCPY(d + 8 * i, &v, 8);
			} else if (y->dt == EML_DT_BOOL) {
				d[i] = v != 0.0;
			} else {
				st_i(d, y->dt, i, d_to_i(v));
			}
		} else {
			uint64_t u;
			int64_t v = ld_i(s, x->dt, i, &u);
			if (y->dt == EML_DT_FLOAT) {
				float f = x->dt == EML_DT_UINT64 ? (float)u : (float)v;
				EML_MEMCPY(d + 4 * i, &f, 4);
			} else if (y->dt == EML_DT_DOUBLE) {
				double f = x->dt == EML_DT_UINT64 ? (double)u : (double)v;
				EML_MEMCPY(d + 8 * i, &f, 8);
			} else {
				st_i(d, y->dt, i, v);
			}
		}
	}
}

static eml_err
castlike_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *t = eml_pn_in(p, pn, 1);

	if (!eml_cast_dtype_ok(x->dt) || !eml_cast_dtype_ok(t->dt))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "cast %s to %s not supported",
		    eml_dtype_name(x->dt), eml_dtype_name(t->dt));
	return same_shape(p, pn, t->dt);
}

/* ---------------------------------------------------------------- Where */

static eml_err
where_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *c = eml_pn_in(p, pn, 0), *x = eml_pn_in(p, pn, 1), *y = eml_pn_in(p, pn, 2);
	struct val tmp;
	int rank;
	int64_t dims[EML_MAX_RANK];

	if (c->dt != EML_DT_BOOL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "condition must be bool");
	if (x->dt != y->dt || eml_dtype_size(x->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "X and Y types differ");
	EML_GUARD(eml_bcast(pn->n, c, x, &rank, dims));
	memset(&tmp, 0, sizeof(tmp));
	tmp.name = "broadcast";
	tmp.rank = rank;
	EML_MEMCPY(tmp.dims, dims, sizeof(dims));
	EML_GUARD(eml_bcast(pn->n, &tmp, y, &rank, dims));
	return eml_pn_set_out(p, pn, 0, x->dt, rank, dims);
}

static void
where_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *c = eml_pn_in(p, pn, 0), *x = eml_pn_in(p, pn, 1), *yv = eml_pn_in(p, pn, 2);
	struct val *o = eml_pn_out(p, pn, 0);
	size_t sc[EML_MAX_RANK], sx[EML_MAX_RANK], sy[EML_MAX_RANK];
	size_t esz = eml_dtype_size(o->dt);
	int64_t idx[EML_MAX_RANK] = { 0 };
	int rank = o->rank;

	(void)p;
	eml_bcast_strides(c, rank, o->dims, sc);
	eml_bcast_strides(x, rank, o->dims, sx);
	eml_bcast_strides(yv, rank, o->dims, sy);
	for (size_t i = 0; i < o->numel; i++) {
		size_t ic = 0, ix = 0, iy = 0;
		for (int d = 0; d < rank; d++) {
			ic += (size_t)idx[d] * sc[d];
			ix += (size_t)idx[d] * sx[d];
			iy += (size_t)idx[d] * sy[d];
		}
		if (((const uint8_t *)c->data)[ic])
			EML_MEMCPY((uint8_t *)o->data + i * esz, (const uint8_t *)x->data + ix * esz,
			    esz);
		else
			EML_MEMCPY((uint8_t *)o->data + i * esz,
			    (const uint8_t *)yv->data + iy * esz, esz);
		for (int d = rank - 1; d >= 0; d--) {
			if (++idx[d] < o->dims[d])
				break;
			idx[d] = 0;
		}
	}
}

/* ---------------------------------------------------------------- aliases */

static void
alias_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);

	(void)p;
	/* Shares the buffer in the arena; a copy only when folded or when
	 * the layout could not alias (e.g. a constant input). */
	if (y->data != x->data)
		memmove(y->data, x->data, y->nbytes);
}

static eml_err
identity_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	if (eml_dtype_size(x->dt) == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s", eml_dtype_name(x->dt));
	return same_shape(p, pn, x->dt);
}

static eml_err
dropout_plan(struct eml_plan *p, struct pnode *pn)
{
	size_t n = 0;
	int64_t tm = 0;

	if (pn->n_out > 1 && pn->out[1] >= 0 && p->m->g->opset < 12)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "mask output before opset 12");
	/* Dropout-12: training_mode (input 2) must be a constant false. */
	if (eml_pn_in(p, pn, 2) != NULL) {
		struct val *t = eml_pn_in(p, pn, 2);
		if (t->kind != VK_CONST || t->dt != EML_DT_BOOL || t->numel != 1)
			return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
			    "training_mode must be a constant");
		tm = ((const uint8_t *)t->data)[0];
	}
	(void)n;
	if (tm != 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "training mode not supported");
	if (pn->n_out > 1 && pn->out[1] >= 0) {
		struct val *x = eml_pn_in(p, pn, 0);
		EML_GUARD(eml_pn_set_out(p, pn, 1, EML_DT_BOOL, x->rank, x->dims));
	}
	return identity_plan(p, pn);
}

static void
dropout_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *mask = eml_pn_out(p, pn, 1);

	alias_run(p, pn);
	/* Inference: nothing is dropped, the mask is all true. */
	if (mask != NULL)
		memset(mask->data, 1, mask->nbytes);
}

static eml_err
reshape_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t shape[EML_MAX_RANK + 1], known = 1;
	size_t n;
	int neg = -1;
	bool allowzero = pn->par.reshape.allowzero;

	EML_GUARD(eml_pn_const_ints(p, pn, 1, shape, EML_MAX_RANK, &n));
	for (size_t i = 0; i < n; i++) {
		if (shape[i] == 0 && !allowzero) {
			if ((int)i >= x->rank)
				return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "0 past input rank");
			shape[i] = x->dims[i];
		}
		if (shape[i] == -1) {
			if (neg >= 0)
				return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "two -1 in shape");
			neg = (int)i;
			continue;
		}
		if (shape[i] < 0 || eml_mul_overflow(known, shape[i], &known))
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "shape value %lld",
			    (long long)shape[i]);
	}
	if (neg >= 0) {
		if (known == 0 || (int64_t)x->numel % known != 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "cannot infer -1");
		shape[neg] = (int64_t)x->numel / known;
		known = (int64_t)x->numel;
	}
	if (known != (int64_t)x->numel)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "%lld elements into %lld",
		    (long long)x->numel, (long long)known);
	return eml_pn_set_out(p, pn, 0, x->dt, (int)n, shape);
}

static eml_err
flatten_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int axis;
	int64_t dims[2] = { 1, 1 };

	EML_GUARD(eml_axis(pn->n, pn->par.axis.axis, x->rank, 1, &axis));
	for (int i = 0; i < x->rank; i++)
		dims[i < axis ? 0 : 1] *= x->dims[i];
	return eml_pn_set_out(p, pn, 0, x->dt, 2, dims);
}

/* Axes of Squeeze/Unsqueeze/Reduce*: attribute before the opset that made
 * them an input. */
static eml_err
axes_of(struct eml_plan *p, struct pnode *pn, size_t input, int64_t *axes, size_t *n)
{
	const struct axes_par *a = &pn->par.axes;

	*n = 0;
	if (eml_pn_in(p, pn, input) != NULL)
		return eml_pn_const_ints(p, pn, input, axes, EML_MAX_RANK, n);
	EML_MEMCPY(axes, a->axes, a->n_axes * sizeof(int64_t));
	*n = a->n_axes;
	return EML_OK;
}

static eml_err
squeeze_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t axes[EML_MAX_RANK], dims[EML_MAX_RANK];
	bool drop[EML_MAX_RANK] = { false };
	size_t n;
	int r = 0;

	EML_GUARD(axes_of(p, pn, 1, axes, &n));
	for (size_t i = 0; i < n; i++) {
		int ax;
		EML_GUARD(eml_axis(pn->n, axes[i], x->rank, 0, &ax));
		if (x->dims[ax] != 1)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "axis %d is not 1", ax);
		drop[ax] = true;
	}
	for (int i = 0; i < x->rank; i++)
		if (!(n == 0 ? x->dims[i] == 1 : drop[i]))
			dims[r++] = x->dims[i];
	return eml_pn_set_out(p, pn, 0, x->dt, r, dims);
}

static eml_err
unsqueeze_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t axes[EML_MAX_RANK], dims[EML_MAX_RANK];
	bool ins[EML_MAX_RANK] = { false };
	size_t n;
	int r, j = 0;

	EML_GUARD(axes_of(p, pn, 1, axes, &n));
	r = x->rank + (int)n;
	if (n == 0 || r > EML_MAX_RANK)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "bad axes");
	for (size_t i = 0; i < n; i++) {
		int ax;
		EML_GUARD(eml_axis(pn->n, axes[i], r, 0, &ax));
		if (ins[ax])
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "repeated axis");
		ins[ax] = true;
	}
	for (int i = 0; i < r; i++)
		dims[i] = ins[i] ? 1 : x->dims[j++];
	return eml_pn_set_out(p, pn, 0, x->dt, r, dims);
}

/* ---------------------------------------------------------------- Shape */

static eml_err
shape_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct shape_par *sp = &pn->par.shape;
	int64_t start = sp->start, end = sp->has_end ? sp->end : x->rank;
	int64_t d;

	/* Shape-15: start/end are clamped to [0, rank] after adding rank. */
	if (start < 0)
		start += x->rank;
	if (end < 0)
		end += x->rank;
	start = start < 0 ? 0 : (start > x->rank ? x->rank : start);
	end = end < 0 ? 0 : (end > x->rank ? x->rank : end);
	d = end > start ? end - start : 0;
	sp->first = start;
	return eml_pn_set_out(p, pn, 0, EML_DT_INT64, 1, &d);
}

static void
shape_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);

	(void)p;
	EML_MEMCPY(y->data, &x->dims[pn->par.shape.first], y->nbytes);
}

/* ---------------------------------------------------------------- Constant */

static eml_err
constant_plan(struct eml_plan *p, struct pnode *pn)
{
	const struct eml_attr *a = pn->par.constant.value;
	int64_t d = (int64_t)a->n;

	switch (a->type) {
	case EML_ATTR_TENSOR:
		return eml_pn_set_out(p, pn, 0, a->t->dtype, a->t->rank, a->t->dims);
	case EML_ATTR_FLOAT:
		return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 0, NULL);
	case EML_ATTR_INT:
		return eml_pn_set_out(p, pn, 0, EML_DT_INT64, 0, NULL);
	case EML_ATTR_FLOATS:
		return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 1, &d);
	case EML_ATTR_INTS:
		return eml_pn_set_out(p, pn, 0, EML_DT_INT64, 1, &d);
	default:
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "value kind not supported");
	}
}

static void
constant_run(struct eml_plan *p, struct pnode *pn)
{
	const struct eml_attr *a = pn->par.constant.value;
	struct val *y = eml_pn_out(p, pn, 0);

	switch (a->type) {
	case EML_ATTR_TENSOR:
		if (a->t->dtype == EML_DT_FLOAT16)
			eml_f16_to_f32(y->numel, a->t->data, y->data);
		else if (a->t->dtype == EML_DT_BFLOAT16)
			eml_bf16_to_f32(y->numel, a->t->data, y->data);
		else
			EML_MEMCPY(y->data, a->t->data, y->nbytes);
		break;
	case EML_ATTR_FLOAT:
		EML_MEMCPY(y->data, &a->f, 4);
		break;
	case EML_ATTR_INT:
		EML_MEMCPY(y->data, &a->i, 8);
		break;
	case EML_ATTR_FLOATS:
		EML_MEMCPY(y->data, a->floats, y->nbytes);
		break;
	default:
		EML_MEMCPY(y->data, a->ints, y->nbytes);
		break;
	}
}

static eml_err
cos_plan(struct eml_plan *p, struct pnode *pn)
{
	int64_t shape[EML_MAX_RANK];
	size_t n;
	const struct eml_tensor *v = pn->par.const_of_shape.value;
	enum eml_dtype dt = v != NULL ? v->dtype : EML_DT_FLOAT;

	EML_GUARD(eml_pn_const_ints(p, pn, 0, shape, EML_MAX_RANK, &n));

	return eml_pn_set_out(p, pn, 0, dt, (int)n, shape);
}

static void
cos_run(struct eml_plan *p, struct pnode *pn)
{
	const struct eml_tensor *v = pn->par.const_of_shape.value;
	struct val *y = eml_pn_out(p, pn, 0);
	size_t esz = eml_dtype_size(y->dt);
	float h = 0;
	const void *one = v != NULL ? v->data : NULL;

	(void)p;
	if (v != NULL && v->dtype == EML_DT_FLOAT16) {
		eml_f16_to_f32(1, v->data, &h);
		one = &h;
	} else if (v != NULL && v->dtype == EML_DT_BFLOAT16) {
		eml_bf16_to_f32(1, v->data, &h);
		one = &h;
	}
	for (size_t i = 0; i < y->numel; i++) {
		if (one != NULL)
			EML_MEMCPY((uint8_t *)y->data + i * esz, one, esz);
		else
			memset((uint8_t *)y->data + i * esz, 0, esz);
	}
}

/* ---------------------------------------------------------------- Concat */

static eml_err
concat_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x0 = eml_pn_in(p, pn, 0);
	int64_t dims[EML_MAX_RANK];
	int axis;

	if (x0 == NULL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "input 0 missing");
	EML_GUARD(eml_axis(pn->n, pn->par.axis.axis, x0->rank, 0, &axis));
	EML_MEMCPY(dims, x0->dims, sizeof(dims));
	dims[axis] = 0;
	for (size_t k = 0; k < pn->n_in; k++) {
		struct val *x = eml_pn_in(p, pn, k);
		if (x == NULL || x->dt != x0->dt || x->rank != x0->rank)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input %zu differs", k);
		for (int d = 0; d < x->rank; d++)
			if (d != axis && x->dims[d] != x0->dims[d])
				return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
				    "input %zu: dim %d differs", k, d);
		dims[axis] += x->dims[axis];
	}
	pn->par.axis.ax = axis;
	return eml_pn_set_out(p, pn, 0, x0->dt, x0->rank, dims);
}

static void
concat_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *y = eml_pn_out(p, pn, 0);
	int axis = pn->par.axis.ax;
	size_t esz = eml_dtype_size(y->dt), outer = 1, inner = esz, off = 0;

	for (int d = 0; d < axis; d++)
		outer *= (size_t)y->dims[d];
	for (int d = axis + 1; d < y->rank; d++)
		inner *= (size_t)y->dims[d];
	for (size_t k = 0; k < pn->n_in; k++) {
		struct val *x = eml_pn_in(p, pn, k);
		size_t row = inner * (size_t)x->dims[axis];
		size_t yrow = inner * (size_t)y->dims[axis];
		for (size_t o = 0; o < outer; o++)
			EML_MEMCPY((uint8_t *)y->data + o * yrow + off,
			    (const uint8_t *)x->data + o * row, row);
		off += row;
	}
}

/* ---------------------------------------------------------------- Split */

static eml_err
split_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct split_par *sp = &pn->par.split;
	int64_t sizes[PAR_MAX_SPLIT], dims[EML_MAX_RANK], sum = 0;
	size_t n = 0;
	int axis;

	EML_GUARD(eml_axis(pn->n, sp->axis, x->rank, 0, &axis));
	if (pn->n_out > PAR_MAX_SPLIT)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "more than 64 outputs");
	if (sp->split != NULL) {
		n = sp->n_split;
		EML_MEMCPY(sizes, sp->split, n * sizeof(int64_t));
	} else if (eml_pn_in(p, pn, 1) != NULL) {
		EML_GUARD(eml_pn_const_ints(p, pn, 1, sizes, PAR_MAX_SPLIT, &n));
	} else {
		/* Equal parts; Split-18 num_outputs: the last part smaller. */
		int64_t parts = (int64_t)pn->n_out, len = x->dims[axis];
		int64_t each = (len + parts - 1) / parts;
		if (!sp->has_num_outputs && len % parts != 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "%lld not divisible by %lld",
			    (long long)len, (long long)parts);
		n = pn->n_out;
		for (size_t i = 0; i < n; i++) {
			int64_t left = len - each * (int64_t)i;
			sizes[i] = left < each ? (left < 0 ? 0 : left) : each;
		}
	}
	if (n != pn->n_out)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%zu sizes for %zu outputs", n,
		    pn->n_out);
	for (size_t i = 0; i < n; i++) {
		if (sizes[i] < 0 || sizes[i] > x->dims[axis])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "split size %lld",
			    (long long)sizes[i]);
		sum += sizes[i];
	}
	if (sum != x->dims[axis])
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "splits sum to %lld, dim is %lld",
		    (long long)sum, (long long)x->dims[axis]);
	sp->ax = axis;
	for (size_t i = 0; i < n; i++) {
		EML_MEMCPY(dims, x->dims, sizeof(dims));
		dims[axis] = sizes[i];
		EML_GUARD(eml_pn_set_out(p, pn, i, x->dt, x->rank, dims));
	}
	return EML_OK;
}

static void
split_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int axis = pn->par.split.ax;
	size_t esz = eml_dtype_size(x->dt), outer = 1, inner = esz, off = 0;
	size_t xrow;

	for (int d = 0; d < axis; d++)
		outer *= (size_t)x->dims[d];
	for (int d = axis + 1; d < x->rank; d++)
		inner *= (size_t)x->dims[d];
	xrow = inner * (size_t)x->dims[axis];
	for (size_t k = 0; k < pn->n_out; k++) {
		struct val *y = eml_pn_out(p, pn, k);
		size_t row;
		if (y == NULL) {
			/* An omitted output still takes its share. */
			continue;
		}
		row = inner * (size_t)y->dims[axis];
		for (size_t o = 0; o < outer; o++)
			EML_MEMCPY((uint8_t *)y->data + o * row,
			    (const uint8_t *)x->data + o * xrow + off, row);
		off += row;
	}
}

/* ---------------------------------------------------------------- Slice */

/* Slice's operands: Slice-1 attributes or (opset 10+) constant inputs. */
struct slice_args {
	int64_t starts[EML_MAX_RANK], ends[EML_MAX_RANK], axes[EML_MAX_RANK],
	    steps[EML_MAX_RANK];
	size_t ns, ne, na, nst; /* na, nst: 0 when absent */
};

static eml_err
slice_args(struct eml_plan *p, struct pnode *pn, struct slice_args *a)
{
	const struct slice_par *sl = &pn->par.slice;

	a->na = a->nst = 0;
	if (pn->n_in == 1) {
		a->ns = sl->n_starts;
		a->ne = sl->n_ends;
		a->na = sl->n_axes;
		EML_MEMCPY(a->starts, sl->starts, sizeof(a->starts));
		EML_MEMCPY(a->ends, sl->ends, sizeof(a->ends));
		EML_MEMCPY(a->axes, sl->axes, sizeof(a->axes));
	} else {
		EML_GUARD(eml_pn_const_ints(p, pn, 1, a->starts, EML_MAX_RANK, &a->ns));
		EML_GUARD(eml_pn_const_ints(p, pn, 2, a->ends, EML_MAX_RANK, &a->ne));
		if (eml_pn_in(p, pn, 3) != NULL)
			EML_GUARD(eml_pn_const_ints(p, pn, 3, a->axes, EML_MAX_RANK, &a->na));
		if (eml_pn_in(p, pn, 4) != NULL)
			EML_GUARD(eml_pn_const_ints(p, pn, 4, a->steps, EML_MAX_RANK, &a->nst));
	}
	if (a->ns != a->ne || a->ns > EML_MAX_RANK || (a->na != 0 && a->na != a->ns) ||
	    (a->nst != 0 && a->nst != a->ns))
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "starts/ends/axes/steps lengths");
	return EML_OK;
}

/* One axis of length len sliced from s to e by step (Slice-13): negative
 * values add len, then s and e are clamped to [0, len] for a positive
 * step, [-1, len - 1] for a negative one. The first element in *first,
 * the count in *count. */
static void
slice_range(int64_t len, int64_t s, int64_t e, int64_t step, int64_t *first, int64_t *count)
{
	/* Clamp first: starts/ends may be INT64_MIN/MAX ("to the end"). */
	s = s < -len ? -len - 1 : (s > len ? len : s);
	e = e < -len ? -len - 1 : (e > len ? len : e);
	if (s < 0)
		s += len;
	if (e < 0)
		e += len;
	if (step > 0) {
		s = s < 0 ? 0 : (s > len ? len : s);
		e = e < 0 ? 0 : (e > len ? len : e);
		*count = e > s ? (e - s - 1) / step + 1 : 0;
	} else {
		s = s < 0 ? -1 : (s > len - 1 ? len - 1 : s);
		e = e < -1 ? -1 : (e > len - 1 ? len - 1 : e);
		*count = s > e ? (s - e - 1) / (-step) + 1 : 0;
	}
	*first = *count > 0 ? s : 0;
}

static eml_err
slice_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct slice_par *sl = &pn->par.slice;
	struct slice_args a;
	int64_t dims[EML_MAX_RANK];
	bool seen[EML_MAX_RANK] = { false };

	EML_GUARD(slice_args(p, pn, &a));
	for (int d = 0; d < x->rank; d++) {
		sl->start[d] = 0;
		sl->step[d] = 1;
		dims[d] = x->dims[d];
	}
	for (size_t i = 0; i < a.ns; i++) {
		int ax;
		int64_t step = a.nst ? a.steps[i] : 1;
		EML_GUARD(eml_axis(pn->n, a.na ? a.axes[i] : (int64_t)i, x->rank, 0, &ax));
		if (seen[ax])
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "repeated axis");
		seen[ax] = true;
		if (step == 0 || step == INT64_MIN)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "step %lld", (long long)step);
		slice_range(x->dims[ax], a.starts[i], a.ends[i], step, &sl->start[ax], &dims[ax]);
		sl->step[ax] = step;
	}
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims);
}

static void
slice_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	int64_t xs[EML_MAX_RANK], ss[EML_MAX_RANK], off = 0;
	size_t esz = eml_dtype_size(x->dt);

	(void)p;
	if (y->numel == 0)
		return;
	eml_dense_strides(x->rank, x->dims, xs);
	for (int d = 0; d < x->rank; d++) {
		off += pn->par.slice.start[d] * xs[d];
		ss[d] = pn->par.slice.step[d] * xs[d];
	}
	eml_copy_strided(y->data, (const uint8_t *)x->data + off * (int64_t)esz, esz, y->rank,
	    y->dims, ss);
}

/* ---------------------------------------------------------------- Transpose */

static eml_err
transpose_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct transpose_par *t = &pn->par.transpose;
	int64_t dims[EML_MAX_RANK];
	bool seen[EML_MAX_RANK] = { false };

	if (t->n_perm != 0 && t->n_perm != (size_t)x->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "perm length %zu for rank %d",
		    t->n_perm, x->rank);
	for (int i = 0; i < x->rank; i++) {
		int64_t pi = t->n_perm != 0 ? t->perm[i] : x->rank - 1 - i;
		if (pi < 0 || pi >= x->rank || seen[pi])
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "bad perm");
		seen[pi] = true;
		t->perm[i] = pi;
		dims[i] = x->dims[pi];
	}
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims);
}

static void
transpose_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	int64_t xs[EML_MAX_RANK], ss[EML_MAX_RANK];

	(void)p;
	eml_dense_strides(x->rank, x->dims, xs);
	for (int i = 0; i < x->rank; i++)
		ss[i] = xs[pn->par.transpose.perm[i]];
	eml_copy_strided(y->data, x->data, eml_dtype_size(x->dt), y->rank, y->dims, ss);
}

/* ---------------------------------------------------------------- Expand */

static eml_err
expand_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), tmp;
	int64_t dims[EML_MAX_RANK];
	size_t n;
	int rank;

	memset(&tmp, 0, sizeof(tmp));
	tmp.name = "shape";
	EML_GUARD(eml_pn_const_ints(p, pn, 1, tmp.dims, EML_MAX_RANK, &n));
	tmp.rank = (int)n;
	for (size_t i = 0; i < n; i++)
		if (tmp.dims[i] < 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "negative shape");
	EML_GUARD(eml_bcast(pn->n, x, &tmp, &rank, dims));
	return eml_pn_set_out(p, pn, 0, x->dt, rank, dims);
}

static void
expand_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	size_t s[EML_MAX_RANK];
	int64_t ss[EML_MAX_RANK];

	(void)p;
	eml_bcast_strides(x, y->rank, y->dims, s);
	for (int i = 0; i < y->rank; i++)
		ss[i] = (int64_t)s[i];
	eml_copy_strided(y->data, x->data, eml_dtype_size(x->dt), y->rank, y->dims, ss);
}

/* ---------------------------------------------------------------- Gather */

static eml_err
gather_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1);
	int64_t dims[EML_MAX_RANK];
	int axis, r = 0;

	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_INTS));
	if (x->rank == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scalar data");
	EML_GUARD(eml_axis(pn->n, pn->par.axis.axis, x->rank, 0, &axis));
	if (x->rank - 1 + ind->rank > EML_MAX_RANK)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "rank too large");
	for (int d = 0; d < axis; d++)
		dims[r++] = x->dims[d];
	for (int d = 0; d < ind->rank; d++)
		dims[r++] = ind->dims[d];
	for (int d = axis + 1; d < x->rank; d++)
		dims[r++] = x->dims[d];
	pn->par.axis.ax = axis;
	return eml_pn_set_out(p, pn, 0, x->dt, r, dims);
}

static void
gather_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *ind = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	int axis = pn->par.axis.ax;
	size_t esz = eml_dtype_size(x->dt), outer = 1, inner = esz;
	int64_t len = x->dims[axis];

	for (int d = 0; d < axis; d++)
		outer *= (size_t)x->dims[d];
	for (int d = axis + 1; d < x->rank; d++)
		inner *= (size_t)x->dims[d];
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < ind->numel; i++) {
			int64_t k = ld_int(ind, i);
			uint8_t *dst = (uint8_t *)y->data + (o * ind->numel + i) * inner;
			if (k < 0)
				k += len;
			if (k < 0 || k >= len) {
				/* ONNX: out-of-range indices are an error. */
				memset(dst, 0, inner);
				p->run_err = EML_ERR_INFER_SHAPE;
				eml_err_set_detail("node %s: index out of range", pn->n->name);
				continue;
			}
			EML_MEMCPY(dst, (const uint8_t *)x->data + (o * (size_t)len + (size_t)k) * inner,
			    inner);
		}
}

/* ---------------------------------------------------------------- Pad */

/* Pad's pads and axes: Pad-2 attributes or (opset 11+) constant inputs;
 * the fill value into pd. */
static eml_err
pad_operands(struct eml_plan *p, struct pnode *pn, int64_t *pads, size_t *np, int64_t *axes,
    size_t *na)
{
	struct val *x = eml_pn_in(p, pn, 0), *cv = eml_pn_in(p, pn, 2);
	struct pad_par *pd = &pn->par.pad;

	*na = 0;
	if (pn->n_in == 1) {
		*np = pd->n_pads;
		EML_MEMCPY(pads, pd->pads, *np * sizeof(int64_t));
		pd->fill_f = pd->value;
		return EML_OK;
	}
	EML_GUARD(eml_pn_const_ints(p, pn, 1, pads, 2 * EML_MAX_RANK, np));
	pd->fill_f = 0.0f;
	if (cv != NULL) {
		if (cv->dt != x->dt || cv->kind != VK_CONST || cv->numel != 1)
			return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
			    "constant_value must be a constant of the input type");
		if (x->dt == EML_DT_FLOAT)
			pd->fill_f = vf(cv)[0];
		else
			pd->fill_i = ld_int(cv, 0);
	}
	if (eml_pn_in(p, pn, 3) != NULL)
		EML_GUARD(eml_pn_const_ints(p, pn, 3, axes, EML_MAX_RANK, na));
	return EML_OK;
}

/* Begin pads of every dimension in full[0..rank), end pads in
 * full[rank..2*rank), from pads given for all axes or the listed ones. */
static eml_err
pad_per_dim(const struct pnode *pn, int rank, const int64_t *pads, size_t np,
    const int64_t *axes, size_t na, int64_t *full)
{
	if (na == 0) {
		if (np != 2 * (size_t)rank)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%zu pads for rank %d", np,
			    rank);
		EML_MEMCPY(full, pads, np * sizeof(int64_t));
	} else {
		if (np != 2 * na)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "pads/axes lengths");
		for (size_t i = 0; i < na; i++) {
			int ax;
			EML_GUARD(eml_axis(pn->n, axes[i], rank, 0, &ax));
			full[ax] = pads[i];
			full[rank + ax] = pads[na + i];
		}
	}
	for (int d = 0; d < 2 * rank; d++)
		if (full[d] > PAR_MAX_PAD || full[d] < -PAR_MAX_PAD)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "pad %lld out of range",
			    (long long)full[d]);
	return EML_OK;
}

/* reflect needs pads < dim, edge needs dim > 0; neither takes negative
 * pads (a crop). */
static eml_err
pad_fits_mode(const struct pnode *pn, int64_t len, int64_t begin, int64_t end)
{
	enum pad_mode mode = pn->par.pad.mode;

	if (mode == PAD_CONSTANT || (begin == 0 && end == 0))
		return EML_OK;
	if (len == 0 || (mode == PAD_REFLECT && (begin >= len || end >= len)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "pads too large for mode");
	if (begin < 0 || end < 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "negative pads with mode");
	return EML_OK;
}

static eml_err
pad_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t pads[2 * EML_MAX_RANK], axes[EML_MAX_RANK], dims[EML_MAX_RANK];
	int64_t full[2 * EML_MAX_RANK] = { 0 };
	size_t np = 0, na = 0;

	EML_GUARD(pad_operands(p, pn, pads, &np, axes, &na));
	if (x->dt != EML_DT_FLOAT && x->dt != EML_DT_INT64 && x->dt != EML_DT_INT32)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s", eml_dtype_name(x->dt));
	EML_GUARD(pad_per_dim(pn, x->rank, pads, np, axes, na, full));
	for (int d = 0; d < x->rank; d++) {
		dims[d] = x->dims[d] + full[d] + full[x->rank + d];
		if (dims[d] < 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "negative output size");
		EML_GUARD(pad_fits_mode(pn, x->dims[d], full[d], full[x->rank + d]));
		pn->par.pad.begin[d] = full[d];
	}
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims);
}

static void
pad_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	int64_t idx[EML_MAX_RANK] = { 0 }, xs[EML_MAX_RANK];
	size_t esz = eml_dtype_size(x->dt);
	const struct pad_par *pd = &pn->par.pad;

	(void)p;
	eml_dense_strides(x->rank, x->dims, xs);
	for (size_t i = 0; i < y->numel; i++) {
		int64_t off = 0;
		bool in = true;
		for (int d = 0; d < x->rank; d++) {
			int64_t j = idx[d] - pd->begin[d], len = x->dims[d];
			if (j < 0 || j >= len) {
				if (pd->mode == PAD_CONSTANT) {
					in = false;
					break;
				}
				if (pd->mode == PAD_EDGE) {
					j = j < 0 ? 0 : len - 1;
				} else {
					/* reflect without repeating the edge */
					int64_t per = 2 * (len - 1);
					if (per == 0)
						j = 0;
					else {
						j = ((j % per) + per) % per;
						if (j >= len)
							j = per - j;
					}
				}
			}
			off += j * xs[d];
		}
		if (in)
			EML_MEMCPY((uint8_t *)y->data + i * esz,
			    (const uint8_t *)x->data + (size_t)off * esz, esz);
		else if (x->dt == EML_DT_FLOAT)
			EML_MEMCPY((uint8_t *)y->data + i * esz, &pd->fill_f, 4);
		else
			st_int(y, i, pd->fill_i);
		for (int d = x->rank - 1; d >= 0; d--) {
			if (++idx[d] < y->dims[d])
				break;
			idx[d] = 0;
		}
	}
}

/* ---------------------------------------------------------------- table */

#define UNARY(nm, at) { nm, at, PK_UNARY, 1, 1, 1, 1, unary_plan, NULL, unary_run, \
	OPF_INPLACE }
#define BINARY(nm) { nm, "broadcast:i axis:i", PK_BINARY, 2, 2, 1, 1, binary_plan, NULL, binary_run, \
	OPF_INPLACE }

const struct op eml_ops_basic[] = {
	UNARY("Relu", ""),
	UNARY("LeakyRelu", "alpha:f"),
	UNARY("Sigmoid", ""),
	UNARY("HardSigmoid", "alpha:f beta:f"),
	UNARY("HardSwish", ""),
	UNARY("Tanh", ""),
	UNARY("Exp", ""),
	UNARY("Log", ""),
	UNARY("Sqrt", ""),
	UNARY("Abs", ""),
	UNARY("Neg", ""),
	UNARY("Reciprocal", ""),
	UNARY("Erf", ""),
	{ "Clip", "min:f max:f", PK_UNARY, 1, 3, 1, 1, unary_plan, NULL, unary_run,
	    OPF_INPLACE },
	BINARY("Add"),
	BINARY("Sub"),
	BINARY("Mul"),
	BINARY("Div"),
	BINARY("Pow"),
	{ "Cast", "to:i saturate:i", PK_CAST, 1, 1, 1, 1, cast_plan, NULL, cast_run, 0 },
	{ "CastLike", "saturate:i", PK_CAST, 2, 2, 1, 1, castlike_plan, NULL, cast_run, 0 },
	{ "Where", "", PK_NONE, 3, 3, 1, 1, where_plan, NULL, where_run, 0 },
	{ "Identity", "", PK_NONE, 1, 1, 1, 1, identity_plan, NULL, alias_run, OPF_ALIAS },
	{ "Dropout", "ratio:f is_test:i seed:i", PK_DROPOUT, 1, 3, 1, 2, dropout_plan, NULL,
	    dropout_run, OPF_ALIAS },
	{ "Reshape", "allowzero:i", PK_RESHAPE, 1, 2, 1, 1, reshape_plan, NULL, alias_run,
	    OPF_ALIAS },
	{ "Flatten", "axis:i", PK_AXIS, 1, 1, 1, 1, flatten_plan, NULL, alias_run, OPF_ALIAS },
	{ "Squeeze", "axes:I", PK_AXES, 1, 2, 1, 1, squeeze_plan, NULL, alias_run, OPF_ALIAS },
	{ "Unsqueeze", "axes:I", PK_AXES, 1, 2, 1, 1, unsqueeze_plan, NULL, alias_run,
	    OPF_ALIAS },
	{ "Shape", "start:i end:i", PK_SHAPE, 1, 1, 1, 1, shape_plan, NULL, shape_run,
	    OPF_SHAPE_ONLY },
	{ "Constant", "value:T value_float:f value_floats:F value_int:i value_ints:I",
	    PK_CONSTANT, 0, 0, 1, 1, constant_plan, NULL, constant_run, 0 },
	{ "ConstantOfShape", "value:T", PK_CONST_OF_SHAPE, 1, 1, 1, 1, cos_plan, NULL, cos_run,
	    0 },
	{ "Concat", "axis:i", PK_AXIS, 1, 4096, 1, 1, concat_plan, NULL, concat_run, 0 },
	{ "Split", "axis:i split:I num_outputs:i", PK_SPLIT, 1, 2, 1, PAR_MAX_SPLIT, split_plan,
	    NULL, split_run, 0 },
	{ "Slice", "starts:I ends:I axes:I", PK_SLICE, 1, 5, 1, 1, slice_plan, NULL, slice_run,
	    0 },
	{ "Transpose", "perm:I", PK_TRANSPOSE, 1, 1, 1, 1, transpose_plan, NULL, transpose_run,
	    0 },
	{ "Expand", "", PK_NONE, 2, 2, 1, 1, expand_plan, NULL, expand_run, 0 },
	{ "Gather", "axis:i", PK_AXIS, 2, 2, 1, 1, gather_plan, NULL, gather_run, 0 },
	{ "Pad", "mode:s pads:I value:f", PK_PAD, 1, 4, 1, 1, pad_plan, NULL, pad_run, 0 },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
