/*
 * Operators that move values by index, in plain loops (issue 19):
 * MaxPool with its Indices output (and on int8/uint8/float64), MaxUnpool,
 * RoiAlign and Unique. Every size that comes from an attribute or a
 * constant input reaches memory only through eml_pn_set_out, which bounds
 * it by the plan's tensor limit; an index that only the data can put out
 * of range is a run error (p->run_err), never a read or write outside a
 * tensor.
 */
#include <math.h>
#include <string.h>

#include "common/eml_sort.h"
#include "engine_int.h"
#include "ops.h"

static void
bad_index(struct eml_plan *p, const struct pnode *pn, const char *what)
{
	p->run_err = EML_ERR_INFER_SHAPE;
	eml_err_set_detail("node %s: %s out of range", pn->n->name, what);
}

/* ---------------------------------------------------------------- MaxPool */

/* The first maximum of each window (ONNX Runtime's order: rows, then
 * columns); Indices are flat over the whole input, within a plane
 * row-major or, with storage_order=1, column-major. */
void
eml_maxpool_generic_run(struct eml_plan *p, struct pnode *pn)
{
	const struct pool_par *q = &pn->par.pool;
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0), *ix = eml_pn_out(p, pn, 1);
	int64_t H = (int64_t)q->H, W = (int64_t)q->W;
	size_t o = 0;

	for (size_t nc = 0; nc < q->NC; nc++)
		for (int64_t oh = 0; oh < (int64_t)q->out_h; oh++)
			for (int64_t ow = 0; ow < (int64_t)q->out_w; ow++, o++) {
				double best = -INFINITY;
				int64_t bi = -1;
				for (int64_t a = 0; a < (int64_t)q->kh; a++) {
					int64_t ih = oh * (int64_t)q->stride_h +
					    a * (int64_t)q->dil_h - (int64_t)q->pad_top;
					if (ih < 0 || ih >= H)
						continue;
					for (int64_t b = 0; b < (int64_t)q->kw; b++) {
						int64_t iw = ow * (int64_t)q->stride_w +
						    b * (int64_t)q->dil_w - (int64_t)q->pad_left;
						double v;
						if (iw < 0 || iw >= W)
							continue;
						v = eml_val_ld(x, nc * (size_t)(H * W) +
						    (size_t)(ih * W + iw));
						if (bi < 0 || v > best) {
							best = v;
							bi = q->col_major ? iw * H + ih : ih * W + iw;
						}
					}
				}
				/* The plan refuses windows wholly in the padding. */
				eml_val_st(y, o, best);
				if (ix != NULL)
					((int64_t *)ix->data)[o] = (int64_t)nc * H * W + bi;
			}
}

/* ---------------------------------------------------------------- MaxUnpool */

/* Y is zeros with Y[I[k]] = X[k], I flat over the default shape ((in -
 * 1) * stride + kernel - pads per spatial axis). A constant output_shape
 * input at least as large on every axis gives Y that shape, the default
 * block in its low corner (as the ONNX reference does). The default
 * shape is kept in pn->par.pool.udims. */
static eml_err
unpool_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *iv = eml_pn_in(p, pn, 1), *sv = eml_pn_in(p, pn, 2);
	const struct win_attrs *w = &pn->par.pool.win;
	int nsp = x->rank - 2;
	int64_t dims[EML_MAX_RANK];
	size_t ns = 0;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM(EML_DT_INT64)));
	if (nsp < 1 || nsp > 3 || iv->rank != x->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "X of rank 3 to 5, I of X's rank");
	for (int d = 0; d < x->rank; d++)
		if (iv->dims[d] != x->dims[d])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "I's shape differs from X's");
	if (w->n_kernel != (size_t)nsp || (w->n_strides != 0 && w->n_strides != (size_t)nsp) ||
	    (w->n_pads != 0 && w->n_pads != 2 * (size_t)nsp))
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
		    "kernel_shape (and strides, pads) for %d spatial axes", nsp);
	dims[0] = x->dims[0];
	dims[1] = x->dims[1];
	for (int i = 0; i < nsp; i++) {
		int64_t s = w->n_strides != 0 ? w->strides[i] : 1;
		int64_t pads = w->n_pads != 0 ? w->pads[i] + w->pads[nsp + i] : 0;
		/* Attributes are within [0, 65536] (parse_win): no overflow. */
		dims[2 + i] = (x->dims[2 + i] - 1) * s + w->kernel[i] - pads;
		if (s < 1 || dims[2 + i] < 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "window gives no output");
	}
	for (int d = 0; d < x->rank; d++)
		pn->par.pool.udims[d] = dims[d];
	if (sv != NULL && sv->numel > 0) {
		EML_GUARD(eml_pn_const_ints(p, pn, 2, dims, EML_MAX_RANK, &ns));
		if (ns != (size_t)x->rank)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "output_shape of %zu values "
			    "for rank %d", ns, x->rank);
		for (int d = 0; d < x->rank; d++)
			if (dims[d] < pn->par.pool.udims[d] || (d < 2 && dims[d] != x->dims[d]))
				return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
				    "output_shape smaller than the unpooled shape");
	}
	/* Negative or too large (the tensor limit) is refused here. */
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims);
}

static void
unpool_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *iv = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	const int64_t *ix = iv->data, *ud = pn->par.pool.udims;
	int64_t n = 1;

	for (int d = 0; d < y->rank; d++)
		n *= ud[d];
	memset(y->data, 0, y->nbytes);
	for (size_t k = 0; k < x->numel; k++) {
		int64_t r = ix[k], off = 0, stride = 1;
		if (r < 0 || r >= n) {
			bad_index(p, pn, "index");
			return;
		}
		/* The index's coordinates in the default shape, placed in Y. */
		for (int d = y->rank - 1; d >= 0; d--) {
			off += (r % ud[d]) * stride;
			r /= ud[d];
			stride *= y->dims[d];
		}
		eml_val_st(y, (size_t)off, eml_val_ld(x, k));
	}
}

/* ---------------------------------------------------------------- RoiAlign */

/* Bilinear weights of the four neighbours of (y, x) as ONNX Runtime
 * computes them: a point more than one pixel outside weighs nothing, a
 * point just outside is clamped to the edge. false: outside. */
static bool
roi_bilinear(float y, float x, int64_t H, int64_t W, int64_t *pos, float *w)
{
	int64_t yl, xl, yh, xh;
	float ly, lx;

	if (y < -1.0f || y > (float)H || x < -1.0f || x > (float)W)
		return false;
	y = y <= 0 ? 0 : y;
	x = x <= 0 ? 0 : x;
	yl = (int64_t)y;
	xl = (int64_t)x;
	if (yl >= H - 1) {
		yh = yl = H - 1;
		y = (float)yl;
	} else {
		yh = yl + 1;
	}
	if (xl >= W - 1) {
		xh = xl = W - 1;
		x = (float)xl;
	} else {
		xh = xl + 1;
	}
	ly = y - (float)yl;
	lx = x - (float)xl;
	pos[0] = yl * W + xl;
	pos[1] = yl * W + xh;
	pos[2] = yh * W + xl;
	pos[3] = yh * W + xh;
	w[0] = (1 - ly) * (1 - lx);
	w[1] = (1 - ly) * lx;
	w[2] = ly * (1 - lx);
	w[3] = ly * lx;
	return true;
}

/* X [N, C, H, W], rois [R, 4] (x1, y1, x2, y2), batch_indices [R]:
 * Y [R, C, output_height, output_width]. */
static eml_err
roialign_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *r = eml_pn_in(p, pn, 1), *bi = eml_pn_in(p, pn, 2);
	const struct roialign_par *ra = &pn->par.roialign;
	int64_t dims[4];

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	EML_GUARD(eml_pn_need_dtype(p, pn, 1, DTM_FLOAT));
	EML_GUARD(eml_pn_need_dtype(p, pn, 2, DTM_INTS));
	if (x->rank != 4 || r->rank != 2 || r->dims[1] != 4 || bi->rank != 1 ||
	    bi->dims[0] != r->dims[0])
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
		    "X [N, C, H, W], rois [R, 4] and batch_indices [R] needed");
	dims[0] = r->dims[0];
	dims[1] = x->dims[1];
	dims[2] = ra->out_h;
	dims[3] = ra->out_w;
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 4, dims);
}

/* The sampling grid along one axis of a roi: sampling_ratio, or the
 * adaptive ceil(extent / bins), which a roi far larger than the map
 * could make unbounded; refused (0) past four times the map. */
static int64_t
roi_grid(const struct roialign_par *ra, float extent, int64_t bins, int64_t map)
{
	double g;

	if (ra->sampling_ratio > 0)
		return ra->sampling_ratio;
	g = ceil((double)extent / (double)bins);
	if (!(g <= 4.0 * (double)(map + 1)))
		return 0;
	return g < 1 ? 1 : (int64_t)g;
}

/* One output bin of one channel plane. */
static float
roi_bin(const struct roialign_par *ra, const float *xp, int64_t H, int64_t W, float y0,
    float x0, float bh, float bw, int64_t gh, int64_t gw)
{
	float acc = 0.0f;
	bool first = true;

	for (int64_t iy = 0; iy < gh; iy++) {
		float yy = y0 + ((float)iy + 0.5f) * bh / (float)gh;
		for (int64_t ix = 0; ix < gw; ix++) {
			float xx = x0 + ((float)ix + 0.5f) * bw / (float)gw, w[4] = { 0 }, v;
			int64_t pos[4] = { 0 };
			bool in = roi_bilinear(yy, xx, H, W, pos, w);
			if (!ra->is_max) {
				if (in)
					acc += w[0] * xp[pos[0]] + w[1] * xp[pos[1]] +
					    w[2] * xp[pos[2]] + w[3] * xp[pos[3]];
				continue;
			}
			v = in ? fmaxf(fmaxf(w[0] * xp[pos[0]], w[1] * xp[pos[1]]),
			    fmaxf(w[2] * xp[pos[2]], w[3] * xp[pos[3]])) : 0.0f;
			acc = first || v > acc ? v : acc;
			first = false;
		}
	}
	return ra->is_max ? acc : acc / (float)(gh * gw > 1 ? gh * gw : 1);
}

static void
roialign_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *r = eml_pn_in(p, pn, 1), *bi = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	const struct roialign_par *ra = &pn->par.roialign;
	int64_t C = x->dims[1], H = x->dims[2], W = x->dims[3], OH = ra->out_h, OW = ra->out_w;
	float off = ra->half_pixel ? 0.5f : 0.0f, *yo = vf(y);

	for (int64_t n = 0; n < r->dims[0]; n++) {
		const float *b = vf(r) + n * 4;
		int64_t bn = bi->dt == EML_DT_INT64 ? ((const int64_t *)bi->data)[n] :
		    ((const int32_t *)bi->data)[n], gh, gw;
		float x0 = b[0] * ra->spatial_scale - off, y0 = b[1] * ra->spatial_scale - off;
		float rw = b[2] * ra->spatial_scale - off - x0, rh = b[3] * ra->spatial_scale - off - y0;
		if (bn < 0 || bn >= x->dims[0] || !isfinite(x0) || !isfinite(y0) || !isfinite(rw) ||
		    !isfinite(rh)) {
			bad_index(p, pn, "roi or batch index");
			return;
		}
		if (!ra->half_pixel) {
			rw = rw > 1.0f ? rw : 1.0f;
			rh = rh > 1.0f ? rh : 1.0f;
		}
		gh = roi_grid(ra, rh, OH, H);
		gw = roi_grid(ra, rw, OW, W);
		if (gh == 0 || gw == 0) {
			bad_index(p, pn, "roi size");
			return;
		}
		for (int64_t c = 0; c < C && !eml_pn_stopped(p); c++) {
			const float *xp = vf(x) + (bn * C + c) * H * W;
			for (int64_t ph = 0; ph < OH; ph++)
				for (int64_t pw = 0; pw < OW; pw++)
					*yo++ = roi_bin(ra, xp, H, W, y0 + (float)ph * rh / (float)OH,
					    x0 + (float)pw * rw / (float)OW, rh / (float)OH,
					    rw / (float)OW, gh, gw);
		}
	}
}

/* ---------------------------------------------------------------- Unique */

/* One slice of X along the axis (the whole element without an axis), for
 * the sort: its index and the plan node it belongs to. */
struct uslice {
	size_t k;
	const struct pnode *pn;
	const struct val *x;
};

/* A total order on elements: integers as integers (all 64 bits), floats
 * with NaN after everything and equal to NaN. */
static int
uelem_cmp(const struct val *x, size_t a, size_t b)
{
	if (x->dt == EML_DT_FLOAT || x->dt == EML_DT_DOUBLE) {
		double u = eml_val_ld(x, a), v = eml_val_ld(x, b);
		if (isnan(u) || isnan(v))
			return isnan(u) - isnan(v);
		return (u > v) - (u < v);
	}
	if (x->dt == EML_DT_UINT64) {
		uint64_t u = (uint64_t)eml_val_ldi(x, a), v = (uint64_t)eml_val_ldi(x, b);
		return (u > v) - (u < v);
	}
	{
		int64_t u = eml_val_ldi(x, a), v = eml_val_ldi(x, b);
		return (u > v) - (u < v);
	}
}

/* Slices compared element by element in row-major order. */
static int
uslice_cmp_vals(const struct uslice *a, const struct uslice *b)
{
	const struct unique_par *u = &a->pn->par.unique;

	for (size_t o = 0; o < u->outer; o++)
		for (size_t i = 0; i < u->inner; i++) {
			int c = uelem_cmp(a->x, (o * u->n + a->k) * u->inner + i,
			    (o * u->n + b->k) * u->inner + i);
			if (c != 0)
				return c;
		}
	return 0;
}

static int
uslice_cmp(const void *pa, const void *pb)
{
	const struct uslice *a = pa, *b = pb;
	int c = uslice_cmp_vals(a, b);

	/* Equal slices by position: the first of a run is the first seen. */
	return c != 0 ? c : (a->k > b->k) - (a->k < b->k);
}

/* Y (X with U slices on the axis, or [U]), indices [U], inverse_indices
 * [n], counts [U]: U is known only at run. The plan sizes Y, indices and
 * counts for U = n (OPF_RUNTIME_ROWS: they must be graph outputs no node
 * reads, unless X is constant and the node folds). */
static eml_err
unique_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct unique_par *u = &pn->par.unique;
	int64_t dims[EML_MAX_RANK], n;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_ANY & ~DTM(EML_DT_BOOL)));
	if (u->has_axis) {
		EML_GUARD(eml_axis(pn->n, u->axis, x->rank, 0, &u->ax));
		u->outer = 1;
		u->inner = 1;
		for (int d = 0; d < u->ax; d++)
			u->outer *= (size_t)x->dims[d];
		for (int d = u->ax + 1; d < x->rank; d++)
			u->inner *= (size_t)x->dims[d];
		u->n = (size_t)x->dims[u->ax];
		for (int d = 0; d < x->rank; d++)
			dims[d] = x->dims[d];
		EML_GUARD(eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims));
	} else {
		u->ax = 0;
		u->outer = u->inner = 1;
		u->n = x->numel;
		dims[0] = (int64_t)x->numel;
		EML_GUARD(eml_pn_set_out(p, pn, 0, x->dt, 1, dims));
	}
	n = (int64_t)u->n;
	for (size_t k = 1; k < 4; k++)
		EML_GUARD(eml_pn_set_out(p, pn, k, EML_DT_INT64, 1, &n));
	for (size_t k = 0; k < 4; k++)
		if (eml_pn_out(p, pn, k) != NULL && k != 2)
			eml_pn_out(p, pn, k)->rt_len = true;
	/* The sort entries and, per slice, its group, the group's first
	 * slice, its count and its output position. */
	pn->ws = u->n * (sizeof(struct uslice) + 4 * sizeof(int64_t));
	return EML_OK;
}

/* Set a run-length output's length: dims[d] = U. */
static void
unique_len(struct val *v, int d, size_t per, size_t U)
{
	if (v == NULL)
		return;
	v->dims[d] = (int64_t)U;
	v->numel = per * U;
	v->nbytes = v->numel * eml_dtype_size(v->dt);
}

static void
unique_run(struct eml_plan *p, struct pnode *pn)
{
	const struct unique_par *u = &pn->par.unique;
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	struct val *oi = eml_pn_out(p, pn, 1), *oinv = eml_pn_out(p, pn, 2), *oc = eml_pn_out(p, pn, 3);
	struct uslice *e = pn->wsp;
	int64_t *grp = (int64_t *)(void *)(e + u->n), *first = grp + u->n, *cnt = first + u->n,
		*pos = cnt + u->n;
	size_t G = 0, U = 0, esz = eml_dtype_size(x->dt);

	for (size_t k = 0; k < u->n; k++) {
		e[k].k = k;
		e[k].pn = pn;
		e[k].x = x;
	}
	eml_sort(e, u->n, sizeof(*e), uslice_cmp);
	/* Runs of equal slices are the groups, in sorted order. */
	for (size_t j = 0; j < u->n; j++) {
		if (j == 0 || uslice_cmp_vals(&e[j - 1], &e[j]) != 0) {
			first[G] = (int64_t)e[j].k;
			cnt[G++] = 0;
		}
		grp[e[j].k] = (int64_t)G - 1;
		cnt[G - 1]++;
	}
	/* Output position of each group: sorted, or by first occurrence. */
	for (size_t g = 0; g < G; g++)
		pos[g] = u->sorted ? (int64_t)g : -1;
	for (size_t k = 0; k < u->n && !u->sorted; k++)
		if (pos[grp[k]] < 0)
			pos[grp[k]] = (int64_t)U++;
	for (size_t g = 0; g < G; g++) {
		size_t q = (size_t)pos[g];
		for (size_t o = 0; o < u->outer; o++)
			EML_MEMCPY((uint8_t *)y->data + ((o * G + q) * u->inner) * esz,
			    (const uint8_t *)x->data + ((o * u->n + (size_t)first[g]) * u->inner) * esz,
			    u->inner * esz);
		if (oi != NULL)
			((int64_t *)oi->data)[q] = first[g];
		if (oc != NULL)
			((int64_t *)oc->data)[q] = cnt[g];
	}
	for (size_t k = 0; k < u->n && oinv != NULL; k++)
		((int64_t *)oinv->data)[k] = pos[grp[k]];
	unique_len(y, u->ax, u->outer * u->inner, G);
	unique_len(oi, 0, 1, G);
	unique_len(oc, 0, 1, G);
	(void)p;
}

/* ---------------------------------------------------------------- TfIdfVectorizer */

/* X int32/int64 [C] or [N, C] -> float [W] or [N, W]. */
static eml_err
tfidf_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t dims[2];

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_INTS));
	if (x->rank != 1 && x->rank != 2)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "X must be [C] or [N, C]");
	dims[0] = x->dims[0];
	dims[x->rank - 1] = pn->par.tfidf.width;
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

/* The output column of the n-gram of X at pos, pos + step, ... (n items,
 * all inside the row), or -1 when the pool does not hold it. */
static int64_t
tfidf_find(const struct tfidf_par *t, const struct val *x, size_t pos, size_t step, size_t n)
{
	int64_t lo, hi;
	size_t gram = 0;

	if (n > t->n_counts)
		return -1;
	/* n-grams before level n, to number this level's. */
	for (size_t l = 0; l + 1 < n; l++) {
		hi = l + 1 < t->n_counts ? t->counts[l + 1] : (int64_t)t->n_pool;
		gram += (size_t)(hi - t->counts[l]) / (l + 1);
	}
	lo = t->counts[n - 1];
	hi = n < t->n_counts ? t->counts[n] : (int64_t)t->n_pool;
	for (int64_t g = lo; g < hi; g += (int64_t)n, gram++) {
		size_t j = 0;
		while (j < n && t->pool[g + (int64_t)j] == eml_val_ldi(x, pos + j * step))
			j++;
		if (j == n)
			return t->indexes[gram];
	}
	return -1;
}

/* ONNX Runtime's counting: for every skip (0 .. max_skip_count) and
 * start, the n-grams of min..max items spaced skip + 1 apart; unigrams
 * only in the first pass (a skip does not change them). */
static void
tfidf_run(struct eml_plan *p, struct pnode *pn)
{
	const struct tfidf_par *t = &pn->par.tfidf;
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	size_t rows = x->rank == 2 ? (size_t)x->dims[0] : 1, C = (size_t)x->dims[x->rank - 1];
	size_t W = (size_t)t->width;
	float *yo = vf(y);

	memset(y->data, 0, y->nbytes);
	for (size_t r = 0; r < rows; r++) {
		int64_t first = t->min_n;
		for (int64_t s = 1; s <= t->max_skip + 1 && first <= t->max_n; s++) {
			if (eml_pn_stopped(p))
				return;
			for (size_t st = 0; st < C; st++)
				for (int64_t n = first; n <= t->max_n; n++) {
					int64_t col;
					if (st + (size_t)(n - 1) * (size_t)s >= C)
						break;
					col = tfidf_find(t, x, r * C + st, (size_t)s, (size_t)n);
					if (col >= 0)
						yo[r * W + (size_t)col] += 1.0f;
				}
			if (first == 1)
				first = 2;
		}
		for (size_t c = 0; c < W; c++) {
			float f = yo[r * W + c], w = t->weights != NULL ? t->weights[c] : 1.0f;
			if (t->mode == TFIDF_IDF)
				yo[r * W + c] = f > 0 ? w : 0.0f;
			else if (t->mode == TFIDF_TFIDF)
				yo[r * W + c] = f * w;
		}
	}
}

/* ---------------------------------------------------------------- table */

const struct op eml_ops_index[] = {
	{ "MaxUnpool", "kernel_shape:I pads:I strides:I", PK_POOL, 2, 3, 1, 1, unpool_plan, NULL,
	    unpool_run, 0 },
	{ "RoiAlign", "coordinate_transformation_mode:s mode:s output_height:i output_width:i "
	    "sampling_ratio:i spatial_scale:f", PK_ROIALIGN, 3, 3, 1, 1, roialign_plan, NULL,
	    roialign_run, 0 },
	{ "Unique", "axis:i sorted:i", PK_UNIQUE, 1, 1, 1, 4, unique_plan, NULL, unique_run,
	    OPF_RUNTIME_ROWS },
	{ "TfIdfVectorizer", "max_gram_length:i max_skip_count:i min_gram_length:i mode:s "
	    "ngram_counts:I ngram_indexes:I pool_int64s:I pool_strings:S weights:F", PK_TFIDF, 1,
	    1, 1, 1, tfidf_plan, NULL, tfidf_run, 0 },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
