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

/* ---------------------------------------------------------------- table */

const struct op eml_ops_index[] = {
	{ "MaxUnpool", "kernel_shape:I pads:I strides:I", PK_POOL, 2, 3, 1, 1, unpool_plan, NULL,
	    unpool_run, 0 },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
