/*
 * Quantized operators (issue 19): QuantizeLinear, DequantizeLinear (per
 * tensor and per axis, uint8/int8, int32 for Dequantize), DynamicQuantizeLinear,
 * MatMulInteger, QLinearMatMul, ConvInteger and QLinearConv.
 *
 * The products run on the int8 GEMM of the kernels (eml_qgemm: exact
 * int32 sums of (a - za)(b - zb)); the float steps follow ONNX Runtime's
 * CPU provider: quantize is saturate(nearbyint(x / scale) + zp),
 * dequantize (x - zp) * scale, and the QLinear outputs are
 * saturate(nearbyint((acc + bias) * (a_scale * b_scale / y_scale)) + zp)
 * with the multiplier formed in float in that order. Constant weights (B,
 * W) are packed once at plan time; they stay int8 in the graph and blob.
 */
#include <math.h>
#include <string.h>

#include "eml_mem.h"
#include "engine_int.h"
#include "ops.h"

#define DTM_Q (DTM(EML_DT_UINT8) | DTM(EML_DT_INT8))

static size_t
up64(size_t n)
{
	return (n + 63) & ~(size_t)63;
}

static int32_t
q_at(const struct val *v, size_t i)
{
	switch (v->dt) {
	case EML_DT_UINT8:
		return ((const uint8_t *)v->data)[i];
	case EML_DT_INT8:
		return ((const int8_t *)v->data)[i];
	default: {
		int32_t x;
		EML_MEMCPY(&x, (const uint8_t *)v->data + 4 * i, 4);
		return x;
	}
	}
}

/* Zero point i (one value: broadcast), 0 when omitted. */
static int32_t
zp_at(const struct val *z, size_t i)
{
	return z == NULL ? 0 : q_at(z, z->numel == 1 ? 0 : i);
}

static float
sc_at(const struct val *s, size_t i)
{
	return vf(s)[s->numel == 1 ? 0 : i];
}

static void
q_range(enum eml_dtype dt, float *lo, float *hi)
{
	*lo = dt == EML_DT_INT8 ? -128.0f : 0.0f;
	*hi = dt == EML_DT_INT8 ? 127.0f : 255.0f;
}

/* nearbyint for the requantization's hot loop without a libm call: adding
 * and subtracting 1.5 * 2^23 rounds to nearest even (the default mode) any
 * |v| < 2^22; larger values saturate anyway, so they are clamped first.
 * NaN stays NaN. */
static inline float
rne(float v)
{
	const float magic = 12582912.0f;

	if (!(v > -4194304.0f && v < 4194304.0f))
		return v != v ? v : v < 0 ? -4194304.0f : 4194304.0f;
	return (v + magic) - magic;
}

/* saturate(v) into y[i] (uint8/int8); NaN gives the zero point. */
static void
q_put(void *y, enum eml_dtype dt, size_t i, float v, int32_t zp)
{
	float lo, hi;

	q_range(dt, &lo, &hi);
	if (v != v)
		v = (float)zp;
	v = v < lo ? lo : v > hi ? hi : v;
	if (dt == EML_DT_INT8)
		((int8_t *)y)[i] = (int8_t)v;
	else
		((uint8_t *)y)[i] = (uint8_t)v;
}

/* A scale and its zero point: one value, or a 1-D run of n. */
static eml_err
check_qparam(struct pnode *pn, const struct val *s, const struct val *z, size_t n,
    const char *what)
{
	if (s != NULL && s->dt != EML_DT_FLOAT)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s scale: %s not supported", what,
		    eml_dtype_name(s->dt));
	if (s != NULL && s->numel != 1 && (s->rank != 1 || s->numel != n))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "%s scale: %zu values, want 1 or %zu",
		    what, s->numel, n);
	if (z != NULL && z->numel != 1 && (z->rank != 1 || z->numel != n))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
		    "%s zero point: %zu values, want 1 or %zu", what, z->numel, n);
	if (s != NULL && z != NULL && s->numel != z->numel)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "%s scale and zero point differ",
		    what);
	return EML_OK;
}

/* ---------------------------------------------------------------- Q / DQ */

/* x as [outer][nch][inner] for per-axis parameters (nch = 1: per tensor). */
static eml_err
quant_layout(struct pnode *pn, const struct val *x, const struct val *s, const struct val *z)
{
	struct quant_par *q = &pn->par.quant;
	int ax = 0;

	q->outer = 1;
	q->nch = 1;
	q->inner = x->numel;
	if (s->numel == 1 && (z == NULL || z->numel == 1))
		return check_qparam(pn, s, z, 1, "per-tensor");
	EML_GUARD(eml_axis(pn->n, q->axis, x->rank, 0, &ax));
	EML_GUARD(check_qparam(pn, s, z, (size_t)x->dims[ax], "per-axis"));
	q->nch = (size_t)x->dims[ax];
	q->inner = 1;
	for (int i = 0; i < ax; i++)
		q->outer *= (size_t)x->dims[i];
	for (int i = ax + 1; i < x->rank; i++)
		q->inner *= (size_t)x->dims[i];
	return EML_OK;
}

static eml_err
quantize_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *s = eml_pn_in(p, pn, 1), *z = eml_pn_in(p, pn, 2);

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	if (z != NULL)
		EML_GUARD(eml_pn_need_dtype(p, pn, 2, DTM_Q));
	EML_GUARD(quant_layout(pn, x, s, z));
	return eml_pn_set_out(p, pn, 0, z != NULL ? z->dt : EML_DT_UINT8, x->rank, x->dims);
}

static void
quantize_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *s = eml_pn_in(p, pn, 1), *z = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	const struct quant_par *q = &pn->par.quant;
	const float *xf = vf(x);
	size_t i = 0;
	float lo, hi;

	q_range(y->dt, &lo, &hi);
	for (size_t o = 0; o < q->outer; o++)
		for (size_t c = 0; c < q->nch; c++, i += q->inner)
			eml_quantize_f32(q->inner, xf + i, sc_at(s, c), zp_at(z, c), (int32_t)lo,
			    (int32_t)hi, y->dt == EML_DT_INT8, (uint8_t *)y->data + i);
}

static eml_err
dequantize_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *s = eml_pn_in(p, pn, 1), *z = eml_pn_in(p, pn, 2);

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_Q | DTM(EML_DT_INT32)));
	if (z != NULL && z->dt != x->dt)
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "zero point %s, x %s",
		    eml_dtype_name(z->dt), eml_dtype_name(x->dt));
	EML_GUARD(quant_layout(pn, x, s, z));
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, x->dims);
}

static void
dequantize_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *s = eml_pn_in(p, pn, 1), *z = eml_pn_in(p, pn, 2);
	float *y = vf(eml_pn_out(p, pn, 0));
	const struct quant_par *q = &pn->par.quant;
	size_t i = 0;

	for (size_t o = 0; o < q->outer; o++)
		for (size_t c = 0; c < q->nch; c++) {
			float sc = sc_at(s, c);
			int32_t zp = zp_at(z, c);
			if (x->dt != EML_DT_INT32) {
				eml_dequantize_q8(q->inner, (const uint8_t *)x->data + i,
				    x->dt == EML_DT_INT8, zp, sc, y + i);
				i += q->inner;
				continue;
			}
			for (size_t k = 0; k < q->inner; k++, i++)
				y[i] = (float)(q_at(x, i) - zp) * sc;
		}
}

static eml_err
dynq_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	EML_GUARD(eml_pn_set_out(p, pn, 0, EML_DT_UINT8, x->rank, x->dims));
	EML_GUARD(eml_pn_set_out(p, pn, 1, EML_DT_FLOAT, 0, NULL));
	return eml_pn_set_out(p, pn, 2, EML_DT_UINT8, 0, NULL);
}

/* Scale and zero point from the range of x and 0 (uint8). */
static void
dynq_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	struct val *ys = eml_pn_out(p, pn, 1), *yz = eml_pn_out(p, pn, 2);
	const float *xf = vf(x);
	float lo = 0, hi = 0, scale, z0;
	int32_t zp;

	for (size_t i = 0; i < x->numel; i++) {
		lo = xf[i] < lo ? xf[i] : lo;
		hi = xf[i] > hi ? xf[i] : hi;
	}
	scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
	z0 = 0.0f - lo / scale;
	z0 = z0 < 0.0f ? 0.0f : z0 > 255.0f ? 255.0f : z0;
	zp = (int32_t)nearbyintf(z0);
	for (size_t i = 0; i < x->numel; i++)
		q_put(y->data, EML_DT_UINT8, i, nearbyintf(xf[i] / scale) + (float)zp, zp);
	if (ys != NULL)
		vf(ys)[0] = scale;
	if (yz != NULL)
		((uint8_t *)yz->data)[0] = (uint8_t)zp;
}

/* ---------------------------------------------------------------- MatMul */

/* Input positions of the two MatMul forms. */
struct qmm_io {
	int a, b, za, zb, sa, sb, sy, zy; /* -1: not an input of this form */
};

static const struct qmm_io MMI = { 0, 1, 2, 3, -1, -1, -1, -1 };
static const struct qmm_io QLMM = { 0, 3, 2, 5, 1, 4, 6, 7 };

static const struct qmm_io *
mm_io(const struct pnode *pn)
{
	return strcmp(pn->op->name, "MatMulInteger") == 0 ? &MMI : &QLMM;
}

static struct val *
in_at(struct eml_plan *p, const struct pnode *pn, int k)
{
	return k < 0 ? NULL : eml_pn_in(p, pn, (size_t)k);
}

static bool
is_q(const struct val *v)
{
	return v->dt == EML_DT_UINT8 || v->dt == EML_DT_INT8;
}

static eml_err
qmm_shape(struct pnode *pn, const struct val *a, const struct val *b, int64_t *dims, int *rank)
{
	struct matmul_par *m = &pn->par.matmul;

	if (a->rank < 2 || b->rank < 2)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "1-D operands not supported");
	m->K = (size_t)a->dims[a->rank - 1];
	m->N = (size_t)b->dims[b->rank - 1];
	if ((int64_t)m->K != b->dims[b->rank - 2] || m->K == 0 || m->N == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "inner dimensions %lld and %lld",
		    (long long)a->dims[a->rank - 1], (long long)b->dims[b->rank - 2]);
	*rank = a->rank;
	EML_MEMCPY(dims, a->dims, sizeof(int64_t) * (size_t)a->rank);
	dims[a->rank - 1] = (int64_t)m->N;
	if (b->rank == 2) {
		m->n_batch = 1;
		m->M = a->numel / m->K;
		return EML_OK;
	}
	if (a->rank != b->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "batched B of another rank");
	for (int i = 0; i < a->rank - 2; i++)
		if (a->dims[i] != b->dims[i])
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
			    "broadcast batch dimensions not supported");
	m->M = (size_t)a->dims[a->rank - 2];
	m->n_batch = a->numel / (m->M * m->K == 0 ? 1 : m->M * m->K);
	return EML_OK;
}

static eml_err
qmm_plan(struct eml_plan *p, struct pnode *pn)
{
	const struct qmm_io *io = mm_io(pn);
	struct val *a = in_at(p, pn, io->a), *b = in_at(p, pn, io->b);
	struct val *za = in_at(p, pn, io->za), *zb = in_at(p, pn, io->zb);
	struct val *zy = in_at(p, pn, io->zy);
	struct matmul_par *m = &pn->par.matmul;
	int64_t dims[EML_MAX_RANK];
	int rank = 0;

	if (!is_q(a) || !is_q(b))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s x %s not supported",
		    eml_dtype_name(a->dt), eml_dtype_name(b->dt));
	if ((za != NULL && za->dt != a->dt) || (zb != NULL && zb->dt != b->dt) ||
	    (zy != NULL && !is_q(zy)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "zero point types");
	EML_GUARD(qmm_shape(pn, a, b, dims, &rank));
	/* a's zero point: one, or one per row of a 2-D A (MatMulInteger) */
	EML_GUARD(check_qparam(pn, in_at(p, pn, io->sa), za,
	    a->rank == 2 && io == &MMI ? m->M : 1, "a"));
	EML_GUARD(check_qparam(pn, in_at(p, pn, io->sb), zb, m->N, "b"));
	EML_GUARD(check_qparam(pn, in_at(p, pn, io->sy), zy, 1, "y"));
	m->packed_b = b->kind == VK_CONST && (zb == NULL || zb->kind == VK_CONST) &&
	    m->n_batch == 1;
	pn->ws = (m->packed_b ? 0 : up64(eml_qgemm_packed_size(eml_qisa_get(), m->K, m->N))) +
	    (io == &MMI ? 0 : up64(m->M * m->N * 4));
	return eml_pn_set_out(p, pn, 0, io == &MMI ? EML_DT_INT32 : zy->dt, rank, dims);
}

/* Packs B (batch i) with its zero points into dst. */
static eml_err
qmm_pack(struct eml_plan *p, const struct pnode *pn, size_t batch, void *dst)
{
	const struct qmm_io *io = mm_io(pn);
	const struct matmul_par *m = &pn->par.matmul;
	struct val *b = in_at(p, pn, io->b), *zb = in_at(p, pn, io->zb);

	eml_qgemm_pack(eml_qisa_get(), m->K, m->N, (const uint8_t *)b->data + batch * m->K * m->N,
	    m->N, false, b->dt == EML_DT_INT8, zb != NULL ? zb->data : NULL,
	    zb != NULL ? zb->numel : 1, dst);
	return EML_OK;
}

static eml_err
qmm_prepare(struct eml_plan *p, struct pnode *pn)
{
	const struct matmul_par *m = &pn->par.matmul;
	size_t sz;

	if (!m->packed_b)
		return EML_OK;
	sz = eml_qgemm_packed_size(eml_qisa_get(), m->K, m->N);
	pn->w = eml_secure_alloc(sz);
	EML_ENSURE(pn->w != NULL, EML_ERR_NOMEM);
	pn->w_n = sz / sizeof(float);
	return qmm_pack(p, pn, 0, pn->w);
}

/* QLinearMatMul's output from the int32 rows of batch bi:
 * saturate(nearbyint(acc * (a_scale * b_scale[j] / y_scale)) + y_zp),
 * ONNX Runtime's requantization (the multiplier formed in float in that
 * order). */
static void
qmm_requant(struct eml_plan *p, const struct pnode *pn, const int32_t *C, size_t bi)
{
	const struct qmm_io *io = mm_io(pn);
	const struct matmul_par *m = &pn->par.matmul;
	struct val *sa = in_at(p, pn, io->sa), *sb = in_at(p, pn, io->sb);
	struct val *sy = in_at(p, pn, io->sy), *zy = in_at(p, pn, io->zy);
	struct val *y = eml_pn_out(p, pn, 0);
	int32_t zp = zp_at(zy, 0);

	for (size_t r = 0; r < m->M; r++)
		for (size_t j = 0; j < m->N; j++) {
			float mult = sc_at(sa, 0) * sc_at(sb, j) / sc_at(sy, 0);
			q_put(y->data, y->dt, (bi * m->M + r) * m->N + j,
			    nearbyintf((float)C[r * m->N + j] * mult) + (float)zp, zp);
		}
}

static void
qmm_run(struct eml_plan *p, struct pnode *pn)
{
	const struct qmm_io *io = mm_io(pn);
	const struct matmul_par *m = &pn->par.matmul;
	struct val *a = in_at(p, pn, io->a), *za = in_at(p, pn, io->za);
	struct val *y = eml_pn_out(p, pn, 0);
	uint8_t *ws = pn->wsp;
	void *packed = m->packed_b ? (void *)pn->w : ws;
	size_t psz = m->packed_b ? 0 : up64(eml_qgemm_packed_size(eml_qisa_get(), m->K, m->N));
	int32_t *C = io == &MMI ? NULL : (int32_t *)(void *)(ws + psz);
	int32_t zal[1] = { zp_at(za, 0) };
	struct eml_qgemm_args ga;

	memset(&ga, 0, sizeof(ga));
	ga.M = m->M;
	ga.lda = m->K;
	ga.a_signed = a->dt == EML_DT_INT8;
	ga.za = zal;
	ga.n_za = 1;
	ga.ldc = m->N;
	for (size_t bi = 0; bi < m->n_batch; bi++) {
		if (!m->packed_b && qmm_pack(p, pn, bi, packed) != EML_OK) {
			p->run_err = EML_ERR_NOMEM;
			return;
		}
		ga.A = (const uint8_t *)a->data + bi * m->M * m->K;
		ga.C = C != NULL ? C : (int32_t *)y->data + bi * m->M * m->N;
		if (za != NULL && za->numel > 1) {
			/* per-row zero points: one row at a time */
			for (size_t r = 0; r < m->M; r++) {
				struct eml_qgemm_args gr = ga;
				int32_t z1 = zp_at(za, r);
				gr.M = 1;
				gr.A = (const uint8_t *)ga.A + r * m->K;
				gr.C = ga.C + r * m->N;
				gr.za = &z1;
				eml_qgemm(packed, &gr, p->pool);
			}
		} else {
			eml_qgemm(packed, &ga, p->pool);
		}
		if (C != NULL)
			qmm_requant(p, pn, C, bi);
	}
}

/* ---------------------------------------------------------------- Conv */

struct qconv_io {
	int x, w, xz, wz, xs, ws, ys, yz, b;
};

static const struct qconv_io CVI = { 0, 1, 2, 3, -1, -1, -1, -1, -1 };
static const struct qconv_io QLCV = { 0, 3, 2, 5, 1, 4, 6, 7, 8 };

static const struct qconv_io *
cv_io(const struct pnode *pn)
{
	return strcmp(pn->op->name, "ConvInteger") == 0 ? &CVI : &QLCV;
}

/* Channels per group in the HWC image and the GEMM's K: C/group, or, for
 * 3 (an RGB input's first conv), 5-7, 9-11, ... rounded up to a multiple
 * of 4 so that each tap is whole 4-byte quads and the GEMM reads the
 * image indirectly instead of through im2col (the extra channels hold
 * the input's zero point and their weights are 0: they add nothing).
 * Not for 1 and 2 (grouped, depthwise-like: 2-4x the multiplies). */
static size_t
qconv_cgp(const struct conv_par *c)
{
	size_t Cg = c->geo.C / c->geo.group;

	return Cg % 4 != 0 && Cg >= 3 ? (Cg + 3) & ~(size_t)3 : Cg;
}

/* Per group: K = qconv_cgp * kh * kw, N = M/group. */
static void
qconv_dims(const struct conv_par *c, size_t *Kg, size_t *Mg, size_t *OHW)
{
	*Kg = qconv_cgp(c) * c->geo.kh * c->geo.kw;
	*Mg = c->geo.M / c->geo.group;
	*OHW = c->out_h * c->out_w;
}

static eml_err
qconv_plan(struct eml_plan *p, struct pnode *pn)
{
	const struct qconv_io *io = cv_io(pn);
	struct val *x = in_at(p, pn, io->x), *w = in_at(p, pn, io->w);
	struct val *xz = in_at(p, pn, io->xz), *wz = in_at(p, pn, io->wz);
	struct val *yz = in_at(p, pn, io->yz), *b = in_at(p, pn, io->b);
	struct conv_par *c = &pn->par.conv;
	int64_t dims[4];
	size_t Kg, Mg, OHW, psz;

	if (!is_q(x) || !is_q(w))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "%s x %s not supported",
		    eml_dtype_name(x->dt), eml_dtype_name(w->dt));
	if ((xz != NULL && xz->dt != x->dt) || (wz != NULL && wz->dt != w->dt) ||
	    (yz != NULL && !is_q(yz)) || (b != NULL && b->dt != EML_DT_INT32))
		return eml_pn_fail(pn->n, EML_ERR_INFER_DTYPE, "zero point or bias types");
	EML_GUARD(eml_conv_shape(pn, x, w, dims));
	EML_GUARD(check_qparam(pn, in_at(p, pn, io->xs), xz, 1, "x"));
	EML_GUARD(check_qparam(pn, in_at(p, pn, io->ws), wz, c->geo.M, "w"));
	EML_GUARD(check_qparam(pn, in_at(p, pn, io->ys), yz, 1, "y"));
	if (b != NULL && b->numel != c->geo.M)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "bias shape");
	qconv_dims(c, &Kg, &Mg, &OHW);
	c->const_weights = w->kind == VK_CONST && (wz == NULL || wz->kind == VK_CONST);
	psz = up64(eml_qgemm_packed_size(eml_qisa_get(), Kg, Mg));
	pn->ws = (c->const_weights ? 0 : psz * c->geo.group + up64(Mg * Kg)) +
	    up64(c->geo.H * c->geo.W * qconv_cgp(c)) + up64(OHW * Kg) + up64(OHW * Mg * 4) +
	    up64(c->geo.M * sizeof(float)) + up64(qconv_cgp(c));
	return eml_pn_set_out(p, pn, 0, io == &CVI ? EML_DT_INT32 : yz->dt, x->rank, dims);
}

/* Packs W of every group as B [K = Kg, N = Mg] (W_g transposed), with K in
 * the patches' order (ki, kj, channel), channels past C/group (qconv_cgp)
 * weighing 0; scratch holds Mg * Kg bytes. */
static void
qconv_pack(struct eml_plan *p, const struct pnode *pn, uint8_t *dst, uint8_t *scratch)
{
	const struct qconv_io *io = cv_io(pn);
	const struct conv_par *c = &pn->par.conv;
	struct val *w = in_at(p, pn, io->w), *wz = in_at(p, pn, io->wz);
	size_t Kg, Mg, OHW, psz, Cg = c->geo.C / c->geo.group, kk = c->geo.kh * c->geo.kw;
	size_t Cgp = qconv_cgp(c);
	uint8_t wzero;

	qconv_dims(c, &Kg, &Mg, &OHW);
	psz = up64(eml_qgemm_packed_size(eml_qisa_get(), Kg, Mg));
	for (size_t g = 0; g < c->geo.group; g++) {
		const uint8_t *z = wz == NULL ? NULL :
		    (const uint8_t *)wz->data + (wz->numel == 1 ? 0 : g * Mg);
		const uint8_t *wg = (const uint8_t *)w->data + g * Mg * Cg * kk;
		for (size_t m = 0; m < Mg; m++) {
			/* the padding channels: weight = its zero point (their
			 * input is the input's zero point as well) */
			wzero = z == NULL ? 0 : z[wz->numel == 1 ? 0 : m];
			memset(scratch + m * Kg, wzero, Kg);
			for (size_t ch = 0; ch < Cg; ch++)
				for (size_t t = 0; t < kk; t++)
					scratch[m * Kg + t * Cgp + ch] = wg[(m * Cg + ch) * kk + t];
		}
		eml_qgemm_pack(eml_qisa_get(), Kg, Mg, scratch, Kg, true, w->dt == EML_DT_INT8, z,
		    wz == NULL || wz->numel == 1 ? 1 : Mg, dst + g * psz);
	}
}

/* Output pixels rounded up to the indirect table's blocks. */
static size_t
qconv_ind_rows(const struct conv_par *c)
{
	size_t OHW = c->out_h * c->out_w;

	return (OHW + EML_QIND_ROWS - 1) / EML_QIND_ROWS * EML_QIND_ROWS;
}

/* For the GEMM's indirect A: per output pixel and kernel tap, the offset of
 * its run of C/group bytes in the HWC image, -1 in the padding and for the
 * pixels past the last (eml_qind_at's blocks). */
static void
qconv_offsets(const struct conv_par *c, int32_t *offs)
{
	const struct eml_conv2d_params *q = &c->geo;
	size_t Cg = qconv_cgp(c), taps = q->kh * q->kw, rows = qconv_ind_rows(c);

	for (size_t i = c->out_h * c->out_w; i < rows; i++)
		for (size_t t = 0; t < taps; t++)
			offs[eml_qind_at(i, t, taps)] = -1;
	for (size_t oh = 0; oh < c->out_h; oh++)
		for (size_t ow = 0; ow < c->out_w; ow++)
			for (size_t ki = 0; ki < q->kh; ki++)
				for (size_t kj = 0; kj < q->kw; kj++) {
					int64_t ih = (int64_t)(oh * q->stride_h + ki * q->dil_h) -
					    (int64_t)q->pad_top;
					int64_t iw = (int64_t)(ow * q->stride_w + kj * q->dil_w) -
					    (int64_t)q->pad_left;
					bool in = ih >= 0 && ih < (int64_t)q->H && iw >= 0 &&
					    iw < (int64_t)q->W;
					offs[eml_qind_at(oh * c->out_w + ow, ki * q->kw + kj, taps)] =
					    in ? (int32_t)(((size_t)ih * q->W + (size_t)iw) * Cg) : -1;
				}
}

/* Where the offsets table follows the packed weights (NULL: none, the
 * im2col path). */
static const int32_t *
qconv_offs(const struct pnode *pn)
{
	const struct conv_par *c = &pn->par.conv;
	size_t Kg, Mg, OHW, sz;

	qconv_dims(c, &Kg, &Mg, &OHW);
	sz = up64(eml_qgemm_packed_size(eml_qisa_get(), Kg, Mg)) * c->geo.group;
	if (!c->const_weights || pn->w_n * sizeof(float) <= sz)
		return NULL;
	return (const int32_t *)(const void *)((const uint8_t *)pn->w + sz);
}

static eml_err
qconv_prepare(struct eml_plan *p, struct pnode *pn)
{
	const struct conv_par *c = &pn->par.conv;
	size_t Kg, Mg, OHW, sz, taps = c->geo.kh * c->geo.kw, osz;
	uint8_t *scratch;

	if (!c->const_weights)
		return EML_OK;
	qconv_dims(c, &Kg, &Mg, &OHW);
	sz = up64(eml_qgemm_packed_size(eml_qisa_get(), Kg, Mg)) * c->geo.group;
	/* offsets fit int32: the image is at most 2^31 bytes */
	osz = c->geo.H * c->geo.W * qconv_cgp(c) < ((size_t)1 << 31) ?
	    up64(qconv_ind_rows(c) * taps * sizeof(int32_t)) : 0;
	pn->w = eml_secure_alloc(sz + osz);
	EML_ENSURE(pn->w != NULL, EML_ERR_NOMEM);
	pn->w_n = (sz + osz) / sizeof(float);
	scratch = eml_secure_alloc(Mg * Kg);
	EML_ENSURE(scratch != NULL, EML_ERR_NOMEM);
	qconv_pack(p, pn, (uint8_t *)pn->w, scratch);
	eml_secure_free(scratch);
	/* the indirect A only where the GEMM takes it */
	if (osz != 0 && !eml_qgemm_indirect_ok(pn->w, taps))
		pn->w_n = sz / sizeof(float);
	else if (osz != 0)
		qconv_offsets(c, (int32_t *)(void *)((uint8_t *)pn->w + sz));
	return EML_OK;
}

struct im2col_job {
	const struct conv_par *c;
	const uint8_t *xt; /* one image and group, H x W x C/group */
	uint8_t pad;
	uint8_t *cols;
};

/* Rows of patches of output row oh: cols[pixel][ki, kj, channel], each
 * (ki, kj) one run of C/group bytes of the HWC input; positions in the
 * padding take the input's zero point (they then contribute 0). */
static void
qconv_im2col_row(void *arg, size_t oh, int thread)
{
	const struct im2col_job *j = arg;
	const struct conv_par *c = j->c;
	const struct eml_conv2d_params *q = &c->geo;
	size_t Cg = qconv_cgp(c), Kg = Cg * q->kh * q->kw;

	(void)thread;
	for (size_t ow = 0; ow < c->out_w; ow++) {
		uint8_t *row = j->cols + (oh * c->out_w + ow) * Kg;
		int64_t iw0 = (int64_t)(ow * q->stride_w) - (int64_t)q->pad_left;
		for (size_t ki = 0; ki < q->kh; ki++) {
			int64_t ih = (int64_t)(oh * q->stride_h + ki * q->dil_h) - (int64_t)q->pad_top;
			if (ih < 0 || ih >= (int64_t)q->H) {
				memset(row, j->pad, q->kw * Cg);
				row += q->kw * Cg;
				continue;
			}
			if (q->dil_w == 1 && iw0 >= 0 && iw0 + (int64_t)q->kw <= (int64_t)q->W) {
				/* the window's row inside: one run of kw * Cg bytes */
				memcpy(row, j->xt + ((size_t)ih * q->W + (size_t)iw0) * Cg, q->kw * Cg);
				row += q->kw * Cg;
				continue;
			}
			for (size_t kj = 0; kj < q->kw; kj++, row += Cg) {
				int64_t iw = iw0 + (int64_t)(kj * q->dil_w);
				if (iw < 0 || iw >= (int64_t)q->W)
					memset(row, j->pad, Cg);
				else
					memcpy(row, j->xt + ((size_t)ih * q->W + (size_t)iw) * Cg, Cg);
			}
		}
	}
}

#define HWC_CHUNK 1024 /* pixels per task of the NCHW -> HWC transpose */

struct hwc_job {
	const uint8_t *src; /* Cg planes of HW bytes */
	size_t Cg, HW;
	uint8_t *xt;
	size_t Cgp; /* xt's pixel stride: Cg, and Cgp - Cg channels of pad */
	uint8_t pad;
};

static void
qconv_hwc_task(void *arg, size_t t, int thread)
{
	const struct hwc_job *j = arg;
	size_t p0 = t * HWC_CHUNK, n = j->HW - p0 < HWC_CHUNK ? j->HW - p0 : HWC_CHUNK;

	(void)thread;
	if (j->Cg == 3 && j->Cgp == 4) {
		/* an RGB image: one 32-bit pixel each, the fourth byte pad */
		const uint8_t *r = j->src + p0, *gr = r + j->HW, *bl = gr + j->HW;
		uint8_t *o = j->xt + p0 * 4;
		for (size_t i = 0; i < n; i++) {
			o[4 * i] = r[i];
			o[4 * i + 1] = gr[i];
			o[4 * i + 2] = bl[i];
			o[4 * i + 3] = j->pad;
		}
		return;
	}
	if (j->Cgp != j->Cg)
		memset(j->xt + p0 * j->Cgp, j->pad, n * j->Cgp);
	eml_u8_transpose(j->Cg, n, j->src + p0, j->HW, j->xt + p0 * j->Cgp, j->Cgp);
}

/* Image b, group g of x (NCHW) as HWC into xt, then its patches (none
 * when cols is NULL: the GEMM reads xt indirectly). */
static void
qconv_im2col(const struct conv_par *c, const uint8_t *x, size_t b, size_t g, uint8_t pad,
    uint8_t *xt, uint8_t *cols, struct eml_pool *pool)
{
	const struct eml_conv2d_params *q = &c->geo;
	size_t Cg = q->C / q->group, HW = q->H * q->W, Cgp = qconv_cgp(c);
	struct im2col_job j = { c, xt, pad, cols };
	struct hwc_job h = { x + (b * q->C + g * Cg) * HW, Cg, HW, xt, Cgp, pad };
	size_t nt = (HW + HWC_CHUNK - 1) / HWC_CHUNK;

	/* byte moves, about 4 flop-equivalents a byte read and written
	 * (eml_pool_for): the bench CNN's largest, 100 KB, stays on the caller;
	 * an HWC input (q_in_hwc) is xt already */
	if (!c->q_in_hwc)
		eml_pool_run(nt > 1 ? eml_pool_for(pool, 8.0 * (double)(HW * Cgp)) : NULL, nt,
		    qconv_hwc_task, &h);
	if (cols != NULL)
		eml_pool_run(eml_pool_for(pool, 8.0 * (double)(c->out_h * c->out_w * Cgp * q->kh * q->kw)),
		    c->out_h, qconv_im2col_row, &j);
}

/* The hot requantization loop for a finite multiplier, without branches:
 * y[y0 + t] = clamp(rne((acc[t * stride] + bias) * mult) + zp) for t in
 * [t0, t1); the value is clamped to +-2^22 before the rounding trick (a
 * larger one saturates anyway), so no NaN or out-of-range conversion. */
static void
requant_run(const int32_t *acc, size_t stride, size_t t0, size_t t1, int32_t bias, float mult,
    int32_t zp, float floor_q, void *y, enum eml_dtype dt, size_t y0)
{
	const float magic = 12582912.0f;
	float lo, hi;

	q_range(dt, &lo, &hi);
	lo = floor_q > lo ? floor_q : lo;
	for (size_t t = t0; t < t1; t++) {
		float v = (float)(acc[t * stride] + bias) * mult;
		/* ternaries, not fminf/fmaxf: they compile to minss/maxss
		 * where the libm functions are calls */
		v = v > -4194304.0f ? v : -4194304.0f;
		v = v < 4194304.0f ? v : 4194304.0f;
		v = ((v + magic) - magic) + (float)zp;
		v = v > lo ? v : lo;
		v = v < hi ? v : hi;
		if (dt == EML_DT_INT8)
			((int8_t *)y)[y0 + t] = (int8_t)(int32_t)v;
		else
			((uint8_t *)y)[y0 + t] = (uint8_t)(int32_t)v;
	}
}

/* C [pixel][Mg] of group g into y [b][g * Mg + m][pixel]. */
static void
qconv_store(struct eml_plan *p, const struct pnode *pn, const int32_t *C, size_t b, size_t g)
{
	const struct qconv_io *io = cv_io(pn);
	const struct conv_par *c = &pn->par.conv;
	struct val *y = eml_pn_out(p, pn, 0);
	size_t Kg, Mg, OHW;

	qconv_dims(c, &Kg, &Mg, &OHW);
	if (io == &CVI) {
		int32_t *yo = y->data;
		for (size_t t0 = 0; t0 < OHW; t0 += 64) {
			size_t t1 = t0 + 64 < OHW ? t0 + 64 : OHW;
			for (size_t m = 0; m < Mg; m++) {
				int32_t *row = yo + (b * c->geo.M + g * Mg + m) * OHW;
				for (size_t t = t0; t < t1; t++)
					row[t] = C[t * Mg + m];
			}
		}
		return;
	}
	{
		struct val *xs = in_at(p, pn, io->xs), *wsc = in_at(p, pn, io->ws);
		struct val *ys = in_at(p, pn, io->ys), *yz = in_at(p, pn, io->yz);
		struct val *bv = in_at(p, pn, io->b);
		int32_t zp = zp_at(yz, 0);
		/* a fused Relu (QDQ rewrite): nothing below the zero point */
		float floor_q = c->geo.ep.act == EML_ACT_RELU ? (float)zp : -1e9f;
		const int32_t *fb = (const int32_t *)(const void *)pn->b; /* rewrite's bias */
		/* 64 pixels at a time: C's rows stay in cache while each
		 * channel's run of y is written */
		for (size_t t0 = 0; t0 < OHW; t0 += 64) {
			size_t t1 = t0 + 64 < OHW ? t0 + 64 : OHW;
			for (size_t m = 0; m < Mg; m++) {
				size_t oc = g * Mg + m;
				float mult = sc_at(xs, 0) * sc_at(wsc, oc) / sc_at(ys, 0);
				int32_t bias = bv != NULL ? q_at(bv, oc) : fb != NULL ? fb[oc] : 0;
				size_t y0 = (b * c->geo.M + oc) * OHW;
				if (isfinite(mult)) {
					requant_run(C + m, Mg, t0, t1, bias, mult, zp, floor_q, y->data,
					    y->dt, y0);
					continue;
				}
				for (size_t t = t0; t < t1; t++) {
					float v = rne((float)(C[t * Mg + m] + bias) * mult) + (float)zp;
					q_put(y->data, y->dt, y0 + t, v < floor_q ? floor_q : v, zp);
				}
			}
		}
	}
}

/* The requantization of one image and group: the GEMM applies it to
 * each finished block of pixels (in parallel, while the block is in cache,
 * in the kernel's registers where it can). */
struct qstore_job {
	struct eml_qrequant rq;
};

/* The SIMD store's parameters for QLinearConv: per-channel multipliers
 * into mult (M floats); false (the scalar store then) when one is not
 * finite. */
static bool
qconv_store_init(struct eml_plan *p, const struct pnode *pn, float *mult, struct qstore_job *j)
{
	const struct qconv_io *io = cv_io(pn);
	const struct conv_par *c = &pn->par.conv;
	struct val *xs = in_at(p, pn, io->xs), *wsc = in_at(p, pn, io->ws);
	struct val *ys = in_at(p, pn, io->ys), *yz = in_at(p, pn, io->yz);
	struct val *bv = in_at(p, pn, io->b), *y = eml_pn_out(p, pn, 0);
	float lo, hi;

	if (io == &CVI)
		return false;
	for (size_t oc = 0; oc < c->geo.M; oc++) {
		/* in ONNX Runtime's order */
		mult[oc] = sc_at(xs, 0) * sc_at(wsc, oc) / sc_at(ys, 0);
		if (!isfinite(mult[oc]))
			return false;
	}
	memset(j, 0, sizeof(*j));
	q_range(y->dt, &lo, &hi);
	j->rq.mult = mult;
	j->rq.bias = bv != NULL ? (const int32_t *)bv->data : (const int32_t *)(const void *)pn->b;
	j->rq.zp = zp_at(yz, 0);
	j->rq.lo = (int32_t)lo;
	/* a fused Relu (QDQ rewrite): nothing below the zero point */
	if (c->geo.ep.act == EML_ACT_RELU && j->rq.zp > j->rq.lo)
		j->rq.lo = j->rq.zp;
	j->rq.hi = (int32_t)hi;
	j->rq.y_signed = y->dt == EML_DT_INT8;
	return true;
}

static void
qconv_run(struct eml_plan *p, struct pnode *pn)
{
	const struct qconv_io *io = cv_io(pn);
	const struct conv_par *c = &pn->par.conv;
	struct val *x = in_at(p, pn, io->x), *xz = in_at(p, pn, io->xz);
	uint8_t *ws = pn->wsp, *packed, *xt, *cols;
	size_t Kg, Mg, OHW, psz;
	int32_t *C, zx = zp_at(xz, 0);
	struct eml_qgemm_args ga;
	struct qstore_job sj;
	bool simd_store;

	qconv_dims(c, &Kg, &Mg, &OHW);
	psz = up64(eml_qgemm_packed_size(eml_qisa_get(), Kg, Mg));
	packed = c->const_weights ? (uint8_t *)pn->w : ws;
	xt = ws + (c->const_weights ? 0 : psz * c->geo.group + up64(Mg * Kg));
	cols = xt + up64(c->geo.H * c->geo.W * qconv_cgp(c));
	C = (int32_t *)(void *)(cols + up64(OHW * Kg));
	simd_store = qconv_store_init(p, pn, (float *)(void *)((uint8_t *)C + up64(OHW * Mg * 4)),
	    &sj);
	if (!c->const_weights)
		qconv_pack(p, pn, packed, ws + psz * c->geo.group);
	memset(&ga, 0, sizeof(ga));
	ga.M = OHW;
	ga.A = cols;
	ga.lda = Kg;
	ga.a_signed = x->dt == EML_DT_INT8;
	ga.za = &zx;
	ga.n_za = 1;
	ga.C = C;
	ga.ldc = Mg;
	if (simd_store) {
		ga.rq = &sj.rq;
		ga.ldy = OHW;
		ga.a_offs = qconv_offs(pn);
	}
	if (ga.a_offs != NULL) {
		/* the padding's run: the input's zero point, contributing 0 */
		uint8_t *pad = (uint8_t *)C + up64(OHW * Mg * 4) + up64(c->geo.M * sizeof(float));
		memset(pad, (uint8_t)zx, qconv_cgp(c));
		ga.a_pad = pad;
		ga.taps = c->geo.kh * c->geo.kw;
		ga.A = xt;
	}
	if (c->q_out_hwc) {
		/* [pixel][channel]: the next QLinearConv's HWC image */
		sj.rq.rows = true;
		ga.ldy = c->geo.M;
	}
	for (size_t b = 0; b < c->geo.N; b++)
		for (size_t g = 0; g < c->geo.group; g++) {
			struct val *y = eml_pn_out(p, pn, 0);
			uint8_t *xb = c->q_in_hwc ?
			    (uint8_t *)x->data + b * c->geo.H * c->geo.W * c->geo.C : xt;
			if (c->q_in_hwc && ga.a_offs != NULL)
				ga.A = xb;
			qconv_im2col(c, x->data, b, g, (uint8_t)zx, xb, ga.a_offs != NULL ? NULL : cols,
			    p->pool);
			ga.y = (uint8_t *)y->data + (c->q_out_hwc ? b * c->geo.M * OHW + g * Mg :
								     (b * c->geo.M + g * Mg) * OHW);
			if (simd_store) {
				struct eml_qrequant base = sj.rq;
				sj.rq.mult += g * Mg;
				if (sj.rq.bias != NULL)
					sj.rq.bias += g * Mg;
				eml_qgemm(packed + g * psz, &ga, p->pool);
				sj.rq = base;
				continue;
			}
			eml_qgemm(packed + g * psz, &ga, p->pool);
			qconv_store(p, pn, C, b, g);
		}
}

/* Whether pn's requantization takes the SIMD store (qconv_store_init)
 * whatever the run: QLinearConv with constant, finite multipliers. */
static bool
qconv_rq_const(struct eml_plan *p, const struct pnode *pn)
{
	const struct qconv_io *io = cv_io(pn);
	struct val *xs = in_at(p, pn, io->xs), *wsc = in_at(p, pn, io->ws);
	struct val *ys = in_at(p, pn, io->ys);

	if (io == &CVI || xs == NULL || wsc == NULL || ys == NULL || xs->kind != VK_CONST ||
	    wsc->kind != VK_CONST || ys->kind != VK_CONST)
		return false;
	for (size_t oc = 0; oc < pn->par.conv.geo.M; oc++)
		if (!isfinite(sc_at(xs, 0) * sc_at(wsc, oc) / sc_at(ys, 0)))
			return false;
	return true;
}

void
eml_qconv_chain(struct eml_plan *p)
{
	for (size_t s = 0; s < p->n_order; s++) {
		struct pnode *pn = &p->pn[p->order[s]], *c = NULL;
		int vi;
		if (pn->dead || strcmp(pn->op->name, "QLinearConv") != 0 || pn->n_out < 1 ||
		    (vi = pn->out[0]) < 0 || p->v[vi].graph_out || p->v[vi].nuses != 1 ||
		    pn->par.conv.is3d || !qconv_rq_const(p, pn))
			continue;
		/* the one reader: a QLinearConv taking it as x, one group, its
		 * HWC image unpadded (qconv_cgp == C) */
		for (size_t t = s + 1; t < p->n_order && c == NULL; t++) {
			struct pnode *q = &p->pn[p->order[t]];
			for (size_t k = 0; !q->dead && k < q->n_in; k++)
				if (q->in[k] == vi)
					c = q;
		}
		if (c == NULL || strcmp(c->op->name, "QLinearConv") != 0 || c->in[0] != vi ||
		    c->par.conv.is3d || c->par.conv.geo.group != 1 ||
		    qconv_cgp(&c->par.conv) != c->par.conv.geo.C)
			continue;
		pn->par.conv.q_out_hwc = true;
		c->par.conv.q_in_hwc = true;
	}
}

/* ---------------------------------------------------------------- QDQ */

static bool
const_val(struct eml_plan *p, int vi)
{
	return vi < 0 || p->v[vi].kind == VK_CONST;
}

/* Frees a folded float constant nothing reads any more (the dequantized
 * weights once the int8 ones are used directly). */
static void
drop_const(struct eml_plan *p, int vi)
{
	struct val *v = &p->v[vi];

	if (v->nuses == 1 && !v->graph_out && v->owned && v->data != NULL) {
		eml_secure_free(v->data);
		v->data = NULL;
		v->owned = false;
	}
}

/* Whether the parts of a QDQ convolution fit QLinearConv: x per tensor,
 * w int8/uint8 constant, per tensor or per output channel (axis 0), y per
 * tensor, every scale and zero point constant, the bias (if any) a float
 * constant. */
static bool
qdq_conv_ok(struct eml_plan *p, struct pnode *q, struct pnode *conv, struct pnode *dqx,
    struct pnode *dqw)
{
	int64_t M;

	if (dqw == NULL || strcmp(dqw->op->name, "DequantizeLinear") != 0 || conv->in[1] < 0 ||
	    dqw->out[0] != conv->in[1])
		return false;
	M = p->v[conv->in[1]].dims[0];
	if (!is_q(&p->v[dqx->in[0]]) || dqx->par.quant.nch != 1 || q->par.quant.nch != 1 ||
	    !is_q(&p->v[dqw->in[0]]) || p->v[dqw->in[0]].kind != VK_CONST ||
	    (dqw->par.quant.nch != 1 && (dqw->par.quant.outer != 1 || (int64_t)dqw->par.quant.nch != M)))
		return false;
	for (size_t k = 1; k < 3; k++)
		if (!const_val(p, dqx->in[k]) || !const_val(p, dqw->in[k]) ||
		    !const_val(p, k < q->n_in ? q->in[k] : -1))
			return false;
	if (conv->n_in > 2 && conv->in[2] >= 0 &&
	    (p->v[conv->in[2]].kind != VK_CONST || p->v[conv->in[2]].dt != EML_DT_FLOAT))
		return false;
	return p->v[conv->in[0]].dt == EML_DT_FLOAT && !conv->fused_bn;
}

bool
eml_qdq_conv_fuse(struct eml_plan *p, struct pnode *q, struct pnode *relu, struct pnode *conv,
    struct pnode *dqx, struct pnode *dqw, bool dqx_dies)
{
	int *in;
	int32_t *bias = NULL;
	const struct op *op = eml_ops_find("QLinearConv");
	int bi = conv->n_in > 2 ? conv->in[2] : -1;
	size_t M;

	if (op == NULL || !qdq_conv_ok(p, q, conv, dqx, dqw))
		return false;
	M = (size_t)p->v[conv->in[1]].dims[0];
	in = eml_calloc(10, sizeof(int));
	if (in == NULL)
		return false;
	if (bi >= 0) {
		/* bias at the accumulator's scale x_scale * w_scale[m] */
		struct val *xs = &p->v[dqx->in[1]], *ws = &p->v[dqw->in[1]];
		bias = eml_secure_alloc(M * sizeof(int32_t));
		if (bias == NULL) {
			eml_free(in);
			return false;
		}
		for (size_t m = 0; m < M; m++) {
			/* a bias past int32 (a zero or tiny weight scale) saturates;
			 * NaN gives 0: never an out-of-range float conversion */
			float v = vf(&p->v[bi])[m] / (sc_at(xs, 0) * sc_at(ws, m));
			bias[m] = v != v ? 0 : v >= 2147483520.0f ? INT32_MAX :
			    v <= -2147483648.0f ? INT32_MIN : (int32_t)nearbyintf(v);
		}
	}
	in[0] = dqx->in[0];
	in[1] = dqx->in[1];
	in[2] = dqx->n_in > 2 ? dqx->in[2] : -1;
	in[3] = dqw->in[0];
	in[4] = dqw->in[1];
	in[5] = dqw->n_in > 2 ? dqw->in[2] : -1;
	in[6] = q->in[1];
	in[7] = q->n_in > 2 ? q->in[2] : -1;
	in[8] = -1;
	{
		/* planned on a copy: a refusal leaves q as it was */
		struct pnode t = *q;
		t.in = in;
		t.n_in = 9;
		t.op = op;
		t.par = conv->par;
		t.b = (float *)(void *)bias;
		t.b_n = bias != NULL ? M : 0;
		if (qconv_plan(p, &t) != EML_OK) {
			eml_free(in);
			if (bias != NULL)
				eml_secure_free(bias);
			return false;
		}
		t.par.conv.geo.ep.act = relu != NULL ? EML_ACT_RELU : EML_ACT_NONE;
		eml_pn_free_in(p, q);
		*q = t;
	}
	drop_const(p, conv->in[1]);
	if (bi >= 0)
		drop_const(p, bi);
	conv->dead = true;
	if (relu != NULL)
		relu->dead = true;
	if (dqx_dies)
		dqx->dead = true;
	p->st.n_fused += 2;
	return true;
}

/* ---------------------------------------------------------------- table */

#define CONVATTRS "auto_pad:s dilations:I group:i kernel_shape:I pads:I strides:I"

const struct op eml_ops_quant[] = {
	{ "QuantizeLinear", "axis:i saturate:i block_size:i output_dtype:i", PK_QUANT, 2, 3, 1,
	    1, quantize_plan, NULL, quantize_run, 0 },
	{ "DequantizeLinear", "axis:i block_size:i", PK_QUANT, 2, 3, 1, 1, dequantize_plan, NULL,
	    dequantize_run, 0 },
	{ "DynamicQuantizeLinear", "", PK_NONE, 1, 1, 3, 3, dynq_plan, NULL, dynq_run, 0 },
	{ "MatMulInteger", "", PK_MATMUL, 2, 4, 1, 1, qmm_plan, qmm_prepare, qmm_run, 0 },
	{ "QLinearMatMul", "", PK_MATMUL, 8, 8, 1, 1, qmm_plan, qmm_prepare, qmm_run, 0 },
	{ "ConvInteger", CONVATTRS, PK_CONV, 2, 4, 1, 1, qconv_plan, qconv_prepare, qconv_run,
	    0 },
	{ "QLinearConv", CONVATTRS, PK_CONV, 8, 9, 1, 1, qconv_plan, qconv_prepare, qconv_run,
	    0 },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
