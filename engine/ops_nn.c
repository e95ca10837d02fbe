/*
 * Neural-network operators: convolutions, GEMM/MatMul, normalisation,
 * pooling, softmax, reductions and resize. Heavy loops are the kernels';
 * this file resolves ONNX attributes, shapes and layouts.
 */
#include <math.h>
#include <pthread.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "engine_int.h"
#include "eml_mem.h"
#include "eml_sort.h"
#include "ops.h"

static eml_err
need_float(struct eml_plan *p, struct pnode *pn, size_t k)
{
	return eml_pn_need_dtype(p, pn, k, DTM_FLOAT);
}

static int64_t
prod(const int64_t *d, int from, int to)
{
	int64_t n = 1;

	for (int i = from; i < to; i++)
		n *= d[i];
	return n;
}

/* ---------------------------------------------------------------- windows */

/*
 * Spatial parameters shared by Conv, ConvTranspose and the pools, for 1 or
 * 2 spatial dims (1-D is run as 2-D with H = 1).
 */
struct win {
	int nsp;
	int64_t k[3], s[3], d[3], pb[3], pe[3]; /* kernel, stride, dilation, pads */
};

/* An optional per-spatial-axis attribute (strides, dilations): when present
 * it must have exactly nsp values, which replace the defaults in dst. */
static eml_err
win_ints(const struct eml_node *n, const char *name, size_t cnt, const int64_t *a, int nsp,
    int64_t *dst)
{
	if (cnt == 0)
		return EML_OK;
	if (cnt != (size_t)nsp)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%s length %zu", name, cnt);
	for (int i = 0; i < nsp; i++)
		dst[i] = a[i];
	return EML_OK;
}

/* The window for nsp spatial axes from its attributes (values range-checked
 * at load) and, for a convolution, the kernel dims of the weights. */
static eml_err
win_read(const struct eml_node *n, const struct win_attrs *a, int nsp, const int64_t *kdims,
    struct win *w)
{
	w->nsp = nsp;
	for (int i = 0; i < 3; i++) {
		w->k[i] = 1;
		w->s[i] = 1;
		w->d[i] = 1;
		w->pb[i] = w->pe[i] = 0;
	}
	if (a->n_kernel != 0) {
		if (a->n_kernel != (size_t)nsp)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "kernel_shape length %zu",
			    a->n_kernel);
		for (int i = 0; i < nsp; i++) {
			if (kdims != NULL && a->kernel[i] != kdims[i])
				return eml_pn_fail(n, EML_ERR_INFER_ATTR,
				    "kernel_shape differs from the weights");
			w->k[i] = a->kernel[i];
		}
	} else if (kdims != NULL) {
		for (int i = 0; i < nsp; i++) {
			/* Weights dims are not attributes: same bound. */
			if (kdims[i] < 1 || kdims[i] > PAR_MAX_WINDOW)
				return eml_pn_fail(n, EML_ERR_INFER_ATTR,
				    "kernel, stride, dilation or pad out of range");
			w->k[i] = kdims[i];
		}
	} else {
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "kernel_shape missing");
	}
	EML_GUARD(win_ints(n, "strides", a->n_strides, a->strides, nsp, w->s));
	EML_GUARD(win_ints(n, "dilations", a->n_dilations, a->dilations, nsp, w->d));
	if (a->n_pads != 0) {
		if (a->n_pads != 2 * (size_t)nsp)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "pads length %zu", a->n_pads);
		for (int i = 0; i < nsp; i++) {
			w->pb[i] = a->pads[i];
			w->pe[i] = a->pads[nsp + i];
		}
	}
	return EML_OK;
}

/* Output size of a window op for input length in (floor or ceil), after
 * resolving auto_pad into explicit pads. */
static eml_err
win_out(const struct eml_node *n, enum auto_pad ap, struct win *w, const int64_t *in,
    bool ceil_mode, int64_t *out)
{
	for (int i = 0; i < w->nsp; i++) {
		int64_t ext = (w->k[i] - 1) * w->d[i] + 1, o;
		if (ap == AUTO_PAD_VALID) {
			w->pb[i] = w->pe[i] = 0;
		} else if (ap == AUTO_PAD_SAME_UPPER || ap == AUTO_PAD_SAME_LOWER) {
			/* ONNX: output = ceil(in / stride); the total padding is
			 * split evenly, the odd one at the end (UPPER) or at the
			 * beginning (LOWER). */
			int64_t outl = (in[i] + w->s[i] - 1) / w->s[i];
			int64_t tot = (outl - 1) * w->s[i] + ext - in[i];
			if (tot < 0)
				tot = 0;
			w->pb[i] = ap == AUTO_PAD_SAME_UPPER ? tot / 2 : tot - tot / 2;
			w->pe[i] = tot - w->pb[i];
		}
		if (in[i] + w->pb[i] + w->pe[i] < ext)
			return eml_pn_fail(n, EML_ERR_INFER_SHAPE, "window larger than the input");
		o = in[i] + w->pb[i] + w->pe[i] - ext;
		if (ceil_mode) {
			o = (o + w->s[i] - 1) / w->s[i] + 1;
			/* A last window starting in the end padding is dropped
			 * (as PyTorch and ONNX Runtime do). */
			if ((o - 1) * w->s[i] >= in[i] + w->pb[i])
				o--;
		} else {
			o = o / w->s[i] + 1;
		}
		out[i] = o;
	}
	return EML_OK;
}

/* ---------------------------------------------------------------- Conv */

/* The 2-D geometry of a convolution over x (N, C, spatial...) with M
 * output channels: 1-D runs as 2-D with H = 1. out: the nsp output
 * lengths. */
static void
set_geometry(struct conv_par *c, const struct val *x, int64_t M, const struct win *win,
    const int64_t *out)
{
	struct eml_conv2d_params *g = &c->geo;
	int nsp = win->nsp, l = nsp - 1;

	memset(g, 0, sizeof(*g));
	g->N = (size_t)x->dims[0];
	g->C = (size_t)x->dims[1];
	g->H = (size_t)(nsp == 2 ? x->dims[2] : 1);
	g->W = (size_t)x->dims[x->rank - 1];
	g->M = (size_t)M;
	g->kh = (size_t)(nsp == 2 ? win->k[0] : 1);
	g->kw = (size_t)win->k[l];
	g->stride_h = (size_t)(nsp == 2 ? win->s[0] : 1);
	g->stride_w = (size_t)win->s[l];
	g->dil_h = (size_t)(nsp == 2 ? win->d[0] : 1);
	g->dil_w = (size_t)win->d[l];
	g->pad_top = (size_t)(nsp == 2 ? win->pb[0] : 0);
	g->pad_left = (size_t)win->pb[l];
	g->pad_bottom = (size_t)(nsp == 2 ? win->pe[0] : 0);
	g->pad_right = (size_t)win->pe[l];
	g->group = (size_t)c->group;
	c->out_h = (size_t)(nsp == 2 ? out[0] : 1);
	c->out_w = (size_t)out[l];
}

static bool
is_op_name(const struct pnode *pn, const char *name)
{
	return strcmp(pn->n->op_type, name) == 0;
}

/* The 3-D window of Conv or a pool on a 5-D input (kdims: the weights'
 * kernel dims, or NULL), outputs in w3; out_dims gets the output's five. */
static eml_err
win3_plan(struct pnode *pn, const struct win_attrs *a, const struct val *x,
    const int64_t *kdims, bool ceil_mode, struct win3 *w3)
{
	struct win w;

	for (int i = 0; i < 3; i++)
		w3->in[i] = x->dims[2 + i];
	EML_GUARD(win_read(pn->n, a, 3, kdims, &w));
	EML_GUARD(win_out(pn->n, a->auto_pad, &w, w3->in, ceil_mode, w3->out));
	for (int i = 0; i < 3; i++) {
		w3->k[i] = w.k[i];
		w3->s[i] = w.s[i];
		w3->d[i] = w.d[i];
		w3->pb[i] = w.pb[i];
	}
	return EML_OK;
}

static eml_err
conv3d_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct conv_par *c = &pn->par.conv;
	int64_t dims[5], group = c->group;

	if (w->rank != 5)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "weight rank %d", w->rank);
	if (x->dims[1] != w->dims[1] * group || w->dims[0] % group != 0 || w->dims[0] == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "channels and groups do not match");
	if (b != NULL && (b->dt != EML_DT_FLOAT || b->numel != (size_t)w->dims[0]))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "bias shape");
	EML_GUARD(win3_plan(pn, &c->win, x, w->dims + 2, false, &c->w3));
	c->is3d = true;
	dims[0] = x->dims[0];
	dims[1] = w->dims[0];
	for (int i = 0; i < 3; i++)
		dims[2 + i] = c->w3.out[i];
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 5, dims);
}

static eml_err
conv3d_prepare(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	struct eml_sgemm_args ga;
	const struct win3 *w3 = &pn->par.conv.w3;
	size_t cg = (size_t)x->dims[1] / (size_t)pn->par.conv.group;
	size_t ckk = cg * (size_t)(w3->k[0] * w3->k[1] * w3->k[2]);
	size_t ovol = (size_t)(w3->out[0] * w3->out[1] * w3->out[2]), m;

	m = (size_t)y->dims[1] / (size_t)pn->par.conv.group;
	memset(&ga, 0, sizeof(ga));
	ga.M = m;
	ga.N = ovol;
	ga.K = ckk;
	ga.lda = ckk;
	ga.ldb = ovol;
	ga.ldc = ovol;
	ga.alpha = 1.0f;
	pn->ws = (ckk * ovol + eml_sgemm_workspace_size(&ga, p->opts.nthreads)) * sizeof(float);
	return EML_OK;
}

/* Columns of one group of one image: row (c, kd, kh, kw), column (od, oh,
 * ow); zeros in the padding. */
static void
im2col3d(const struct win3 *w, size_t cg, const float *x, float *col)
{
	size_t ovol = (size_t)(w->out[0] * w->out[1] * w->out[2]), r = 0;

	for (size_t c = 0; c < cg; c++)
		for (int64_t a = 0; a < w->k[0]; a++)
			for (int64_t bb = 0; bb < w->k[1]; bb++)
				for (int64_t e = 0; e < w->k[2]; e++, r++) {
					float *row = col + r * ovol;
					size_t o = 0;
					for (int64_t od = 0; od < w->out[0]; od++)
						for (int64_t oh = 0; oh < w->out[1]; oh++)
							for (int64_t ow = 0; ow < w->out[2]; ow++, o++) {
								int64_t id = od * w->s[0] + a * w->d[0] - w->pb[0];
								int64_t ih = oh * w->s[1] + bb * w->d[1] - w->pb[1];
								int64_t iw = ow * w->s[2] + e * w->d[2] - w->pb[2];
								bool in = id >= 0 && id < w->in[0] && ih >= 0 &&
								    ih < w->in[1] && iw >= 0 && iw < w->in[2];
								row[o] = in ? x[(((int64_t)c * w->in[0] + id) *
								    w->in[1] + ih) * w->in[2] + iw] : 0.0f;
							}
				}
}

static void
conv3d_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	const struct win3 *w3 = &pn->par.conv.w3;
	size_t G = (size_t)pn->par.conv.group, C = (size_t)x->dims[1], M = (size_t)y->dims[1];
	size_t cg = C / G, mg = M / G, ivol = (size_t)(w3->in[0] * w3->in[1] * w3->in[2]);
	size_t ovol = (size_t)(w3->out[0] * w3->out[1] * w3->out[2]);
	size_t ckk = cg * (size_t)(w3->k[0] * w3->k[1] * w3->k[2]);
	const float *wd = pn->w != NULL ? pn->w : vf(w);
	const float *bd = pn->b != NULL ? pn->b : (b != NULL ? vf(b) : NULL);
	float *col = pn->wsp;

	for (size_t n = 0; n < (size_t)x->dims[0]; n++)
		for (size_t g = 0; g < G; g++) {
			struct eml_sgemm_args ga;
			im2col3d(w3, cg, vf(x) + (n * C + g * cg) * ivol, col);
			memset(&ga, 0, sizeof(ga));
			ga.M = mg;
			ga.N = ovol;
			ga.K = ckk;
			ga.A = wd + g * mg * ckk;
			ga.lda = ckk;
			ga.B = col;
			ga.ldb = ovol;
			ga.C = vf(y) + (n * M + g * mg) * ovol;
			ga.ldc = ovol;
			ga.alpha = 1.0f;
			ga.bias = bd != NULL ? bd + g * mg : NULL;
			ga.bias_kind = bd != NULL ? EML_BIAS_ROW : EML_BIAS_NONE;
			ga.ep = pn->ep;
			eml_sgemm(&ga, col + ckk * ovol, p->pool);
		}
}

static eml_err
conv_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	int64_t dims[4];

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(need_float(p, pn, 1));
	if (x->rank == 5 && is_op_name(pn, "Conv"))
		return conv3d_plan(p, pn);
	if (b != NULL && (b->dt != EML_DT_FLOAT || b->numel != (size_t)w->dims[0]))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "bias shape");
	EML_GUARD(eml_conv_shape(pn, x, w, dims));
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

eml_err
eml_conv_shape(struct pnode *pn, const struct val *x, const struct val *w, int64_t *dims)
{
	struct conv_par *c = &pn->par.conv;
	struct win win;
	int64_t in[2], out[2], group = c->group, kd[2];
	int nsp;

	if (x->rank != 3 && x->rank != 4)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%d-D convolution not supported",
		    x->rank - 2);
	nsp = x->rank - 2;
	if (w->rank != x->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "weight rank %d", w->rank);
	if (x->dims[1] != w->dims[1] * group || w->dims[0] % group != 0 || w->dims[0] == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "channels %lld, weights %lld x %lld "
		    "groups", (long long)x->dims[1], (long long)w->dims[1], (long long)group);
	for (int i = 0; i < nsp; i++) {
		in[i] = x->dims[2 + i];
		kd[i] = w->dims[2 + i];
	}
	EML_GUARD(win_read(pn->n, &c->win, nsp, kd, &win));
	EML_GUARD(win_out(pn->n, c->win.auto_pad, &win, in, false, out));
	dims[0] = x->dims[0];
	dims[1] = w->dims[0];
	for (int i = 0; i < nsp; i++)
		dims[2 + i] = out[i];
	set_geometry(c, x, w->dims[0], &win, out);
	return EML_OK;
}

static eml_err
conv_prepare(struct eml_plan *p, struct pnode *pn)
{
	struct val *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2), *y = eml_pn_out(p, pn, 0);
	struct conv_par *c = &pn->par.conv;
	struct eml_conv2d_params cp = c->geo;
	struct eml_sgemm_args ga;
	size_t ckk, ohw;
	eml_err rc;

	if (c->is3d)
		return conv3d_prepare(p, pn);
	cp.ep = pn->ep;
	c->const_weights = w->kind == VK_CONST && (b == NULL || b->kind == VK_CONST);
	if (c->const_weights) {
		const float *wd = pn->w != NULL ? pn->w : vf(w);
		const float *bd = pn->b != NULL ? pn->b : (b != NULL ? vf(b) : NULL);
		rc = eml_conv2d_plan_new_scaled(&cp, wd, pn->wscale, bd, p->opts.nthreads,
		    &pn->conv);
		if (rc != EML_OK)
			return eml_pn_fail(pn->n, rc, "kernel refused the convolution");
		pn->ws = eml_conv2d_workspace_size(pn->conv) * sizeof(float);
		/* float16: rounded by the kernel's tasks as they write (the
		 * same bits as the pass after the step, without that serial
		 * sweep over the output). */
		if (y->f16 && !y->bf16) {
			eml_conv2d_plan_round_f16(pn->conv);
			pn->rounded = true;
		}
		return EML_OK;
	}
	/* Weights computed at run time: im2col + GEMM per group. */
	ckk = cp.C / cp.group * cp.kh * cp.kw;
	ohw = c->out_h * c->out_w;
	memset(&ga, 0, sizeof(ga));
	ga.M = cp.M / cp.group;
	ga.N = ohw;
	ga.K = ckk;
	ga.lda = ckk;
	ga.ldb = ohw;
	ga.ldc = ohw;
	ga.alpha = 1.0f;
	pn->ws = (ckk * ohw + eml_sgemm_workspace_size(&ga, p->opts.nthreads)) * sizeof(float);
	return EML_OK;
}

static void
im2col(const struct eml_conv2d_params *cp, size_t OH, size_t OW, const float *x, float *col)
{
	size_t cg = cp->C / cp->group;

	for (size_t c = 0; c < cg; c++)
		for (size_t i = 0; i < cp->kh; i++)
			for (size_t j = 0; j < cp->kw; j++) {
				float *row = col + ((c * cp->kh + i) * cp->kw + j) * OH * OW;
				for (size_t oh = 0; oh < OH; oh++) {
					size_t ih = oh * cp->stride_h + i * cp->dil_h;
					for (size_t ow = 0; ow < OW; ow++) {
						size_t iw = ow * cp->stride_w + j * cp->dil_w;
						float v = 0.0f;
						if (ih >= cp->pad_top && ih - cp->pad_top < cp->H &&
						    iw >= cp->pad_left && iw - cp->pad_left < cp->W)
							v = x[(c * cp->H + ih - cp->pad_top) * cp->W +
							    iw - cp->pad_left];
						row[oh * OW + ow] = v;
					}
				}
			}
}

static void
conv_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	size_t OH = pn->par.conv.out_h, OW = pn->par.conv.out_w, ckk, mg, cg;
	float *col = pn->wsp;
	struct eml_conv2d_params cp;

	if (pn->par.conv.is3d) {
		conv3d_run(p, pn);
		return;
	}
	if (pn->conv != NULL) {
		eml_conv2d_run(pn->conv, vf(x), vf(y), pn->wsp, p->pool);
		return;
	}
	cp = pn->par.conv.geo;
	cp.ep = pn->ep;
	cg = cp.C / cp.group;
	mg = cp.M / cp.group;
	ckk = cg * cp.kh * cp.kw;
	for (size_t n = 0; n < cp.N; n++)
		for (size_t g = 0; g < cp.group; g++) {
			struct eml_sgemm_args ga;
			memset(&ga, 0, sizeof(ga));
			im2col(&cp, OH, OW, vf(x) + (n * cp.C + g * cg) * cp.H * cp.W, col);
			ga.M = mg;
			ga.N = OH * OW;
			ga.K = ckk;
			ga.A = vf(w) + g * mg * ckk;
			ga.lda = ckk;
			ga.B = col;
			ga.ldb = OH * OW;
			ga.C = vf(y) + (n * cp.M + g * mg) * OH * OW;
			ga.ldc = OH * OW;
			ga.alpha = 1.0f;
			ga.bias = b != NULL ? vf(b) + g * mg : NULL;
			ga.bias_kind = b != NULL ? EML_BIAS_ROW : EML_BIAS_NONE;
			ga.ep = pn->ep;
			eml_sgemm(&ga, col + ckk * OH * OW, p->pool);
		}
}

/* ---------------------------------------------------------------- ConvTranspose */

/* One spatial axis of a ConvTranspose: input length in, kernel extent
 * ext, output padding opad. The full output is stride * (in - 1) + opad +
 * ext; an output_shape (want >= 0) or SAME auto_pad fixes the output and
 * the total padding is the difference, SAME_LOWER putting the extra at
 * the beginning. Pads in win, the output length in *out. */
static eml_err
convt_axis(const struct pnode *pn, struct win *win, int i, int64_t in, int64_t ext,
    int64_t opad, int64_t want, int64_t *out)
{
	enum auto_pad ap = pn->par.conv.win.auto_pad;
	int64_t full = win->s[i] * (in - 1) + opad + ext, tot;

	if (opad < 0 || opad >= win->s[i])
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "output_padding out of range");
	if (want >= 0 || ap == AUTO_PAD_SAME_UPPER || ap == AUTO_PAD_SAME_LOWER) {
		tot = full - (want >= 0 ? want : in * win->s[i]);
		if (tot < 0) {
			/* An output_shape past the full output: the full output,
			 * then bias alone at the end (what ONNX Runtime does,
			 * no padding taken off). */
			*out = want >= 0 ? want : in * win->s[i];
			win->pb[i] = win->pe[i] = 0;
			return EML_OK;
		}
		win->pb[i] = ap == AUTO_PAD_SAME_LOWER ? tot - tot / 2 : tot / 2;
		win->pe[i] = tot - win->pb[i];
	} else if (ap == AUTO_PAD_VALID) {
		win->pb[i] = win->pe[i] = 0;
	}
	*out = full - win->pb[i] - win->pe[i];
	if (*out <= 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "empty output");
	return EML_OK;
}

/* Weights [C, M / group, k...], bias [M]. */
static eml_err
convt_check_shapes(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	int64_t group = pn->par.conv.group;

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(need_float(p, pn, 1));
	if (x->rank < 3 || x->rank > 5)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%d-D not supported", x->rank - 2);
	if (w->rank != x->rank || w->dims[0] != x->dims[1] || x->dims[1] % group != 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "weight shape");
	if (b != NULL && (b->dt != EML_DT_FLOAT || b->numel != (size_t)(w->dims[1] * group)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "bias shape");
	return EML_OK;
}

/* Workspace of convt_run: the GEMM's columns and its own scratch. */
static size_t
convt_workspace(const struct eml_plan *p, const struct conv_par *c)
{
	const struct eml_conv2d_params *g = &c->geo;
	size_t ckk = g->M / g->group * g->kh * g->kw, hw = g->H * g->W;
	struct eml_sgemm_args ga;

	memset(&ga, 0, sizeof(ga));
	ga.M = ckk;
	ga.N = hw;
	ga.K = g->C / g->group;
	ga.lda = ckk;
	ga.trans_a = true;
	ga.ldb = hw;
	ga.ldc = hw;
	ga.alpha = 1.0f;
	return (ckk * hw + eml_sgemm_workspace_size(&ga, p->opts.nthreads)) * sizeof(float);
}

static eml_err
convt_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1);
	struct conv_par *c = &pn->par.conv;
	struct win win;
	int64_t kd[3], dims[5], out[3];
	size_t nsh = c->n_output_shape;
	int nsp;

	EML_GUARD(convt_check_shapes(p, pn));
	nsp = x->rank - 2;
	for (int i = 0; i < nsp; i++)
		kd[i] = w->dims[2 + i];
	EML_GUARD(win_read(pn->n, &c->win, nsp, kd, &win));
	if (c->n_output_padding != 0 && c->n_output_padding != (size_t)nsp)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "output_padding length");
	if (nsh != 0 && nsh != (size_t)nsp && nsh != (size_t)x->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "output_shape length");
	dims[0] = x->dims[0];
	dims[1] = w->dims[1] * c->group;
	for (int i = 0; i < nsp; i++) {
		int64_t ext = (w->dims[2 + i] - 1) * win.d[i] + 1;
		int64_t opad = c->n_output_padding != 0 ? c->output_padding[i] : 0;
		int64_t want = nsh != 0 ? c->output_shape[nsh - (size_t)nsp + (size_t)i] : -1;
		EML_GUARD(convt_axis(pn, &win, i, x->dims[2 + i], ext, opad, want, &out[i]));
		dims[2 + i] = out[i];
	}
	if (nsp == 3) {
		/* 3-D: a plain scatter loop (convt3d_run), no workspace. */
		c->is3d = true;
		for (int i = 0; i < 3; i++) {
			c->w3.in[i] = x->dims[2 + i];
			c->w3.out[i] = out[i];
			c->w3.k[i] = win.k[i];
			c->w3.s[i] = win.s[i];
			c->w3.d[i] = win.d[i];
			c->w3.pb[i] = win.pb[i];
		}
		pn->ws = 0;
		return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
	}
	set_geometry(c, x, dims[1], &win, out);
	pn->ws = convt_workspace(p, c);
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

/* The epilogue as the kernels' unary operation (false: none). */
static bool
ep_unary(const struct eml_epilogue *ep, enum eml_unary *op)
{
	switch (ep->act) {
	case EML_ACT_RELU: *op = EML_UNARY_RELU; return true;
	case EML_ACT_LEAKY_RELU: *op = EML_UNARY_LEAKY_RELU; return true;
	case EML_ACT_CLIP: *op = EML_UNARY_CLIP; return true;
	case EML_ACT_HARDSIGMOID: *op = EML_UNARY_HARDSIGMOID; return true;
	case EML_ACT_HARDSWISH: *op = EML_UNARY_HARDSWISH; return true;
	case EML_ACT_SIGMOID: *op = EML_UNARY_SIGMOID; return true;
	case EML_ACT_TANH: *op = EML_UNARY_TANH; return true;
	default: return false;
	}
}

struct convt_job {
	struct eml_plan *p;
	const struct pnode *pn;
	const float *col;  /* [mg * kh * kw][H * W] of this image and group */
	const float *bias; /* of this group, or NULL */
	float *yg;         /* [mg][OH][OW] */
	size_t rows, bands; /* output rows per task, tasks per channel */
};

/* Kernel = stride, no dilation or pads (the 2x2/2 upsampling of decoder
 * heads): every output pixel below H kh x W kw gets exactly one tap, so
 * input row ih and tap row i make output row ih kh + i, the kw taps
 * interleaved; one pass over the rows instead of kh kw strided passes.
 * Each sum is still bias + that one value (output_padding rows and
 * columns keep the bias alone). */
static bool
convt_tiles(const struct eml_conv2d_params *geo)
{
	return geo->kh == geo->stride_h && geo->kw == geo->stride_w && geo->dil_h == 1 &&
	    geo->dil_w == 1 && geo->pad_top == 0 && geo->pad_left == 0;
}

/* yr[2 iw + t] = bv + x_t[iw]: the 2-wide interleave, four at a time. */
static void
convt_interleave2(size_t W, const float *x0, const float *x1, float bv, float *yr)
{
	size_t iw = 0;
#if defined(__SSE2__)
	__m128 vb = _mm_set1_ps(bv);

	for (; iw + 4 <= W; iw += 4) {
		__m128 a = _mm_add_ps(vb, _mm_loadu_ps(x0 + iw));
		__m128 b = _mm_add_ps(vb, _mm_loadu_ps(x1 + iw));

		_mm_storeu_ps(yr + 2 * iw, _mm_unpacklo_ps(a, b));
		_mm_storeu_ps(yr + 2 * iw + 4, _mm_unpackhi_ps(a, b));
	}
#endif
	for (; iw < W; iw++) {
		yr[2 * iw] = bv + x0[iw];
		yr[2 * iw + 1] = bv + x1[iw];
	}
}

/* Rows [oh0, oh1) of channel m when kernel = stride: bias + the one tap,
 * written once; output_padding rows and columns get the bias alone. */
static void
convt_tile_rows(const struct convt_job *j, size_t m, size_t oh0, size_t oh1, float bv,
    float *ym)
{
	const struct eml_conv2d_params *geo = &j->pn->par.conv.geo;
	size_t H = geo->H, W = geo->W, kh = geo->kh, kw = geo->kw;
	size_t OW = j->pn->par.conv.out_w;

	for (size_t oh = oh0; oh < oh1; oh++) {
		size_t ih = oh / kh, i = oh % kh;
		float *yr = ym + oh * OW;
		const float *xr = j->col + (m * kh + i) * kw * H * W + ih * W;

		if (oh >= H * kh) {
			for (size_t c = 0; c < OW; c++)
				yr[c] = bv;
			continue;
		}
		if (kw == 2) {
			convt_interleave2(W, xr, xr + H * W, bv, yr);
		} else {
			for (size_t iw = 0; iw < W; iw++)
				for (size_t jj = 0; jj < kw; jj++)
					yr[iw * kw + jj] = bv + xr[jj * H * W + iw];
		}
		for (size_t c = W * kw; c < OW; c++)
			yr[c] = bv;
	}
}

/* Output rows [oh0, oh1) of channel m: every tap's in-image columns added
 * where they land, in the order (i, j, ih, iw) of the plain loop. */
static void
convt_scatter_rows(const struct convt_job *j, size_t m, size_t oh0, size_t oh1, float *ym)
{
	const struct eml_conv2d_params *geo = &j->pn->par.conv.geo;
	size_t H = geo->H, W = geo->W, kh = geo->kh, kw = geo->kw;
	size_t OW = j->pn->par.conv.out_w;
	int64_t sh = (int64_t)geo->stride_h, sw = (int64_t)geo->stride_w,
		dh = (int64_t)geo->dil_h, dw = (int64_t)geo->dil_w, pt = (int64_t)geo->pad_top,
		pl = (int64_t)geo->pad_left;

	for (size_t i = 0; i < kh; i++)
		for (size_t jj = 0; jj < kw; jj++) {
			const float *row = j->col + ((m * kh + i) * kw + jj) * H * W;
			int64_t off = (int64_t)jj * dw - pl;
			/* iw * sw + off in [0, OW) */
			int64_t lo = off >= 0 ? 0 : (-off + sw - 1) / sw;
			int64_t hi = (int64_t)OW - 1 - off < 0 ? -1 : ((int64_t)OW - 1 - off) / sw;

			if (hi > (int64_t)W - 1)
				hi = (int64_t)W - 1;
			for (size_t ih = 0; ih < H; ih++) {
				int64_t oh = (int64_t)ih * sh - pt + (int64_t)i * dh;
				float *yr;
				const float *xr = row + ih * W;

				if (oh < (int64_t)oh0 || oh >= (int64_t)oh1)
					continue;
				yr = ym + (size_t)oh * OW;
				for (int64_t iw = lo; iw <= hi; iw++)
					yr[iw * sw + off] += xr[iw];
			}
		}
}

/*
 * col2im for a band of output rows of output channel m of a group (task
 * = m x bands + band: the last layer of a decoder has one channel, so
 * channels alone would leave a thread idle): the bias, then every column
 * added where it lands, then the fused activation. Per tap (i, j) the
 * input columns whose output falls inside the image are one range, so the
 * inner loop has no test; the bands do not change any output's sum.
 */
static void
convt_task(void *arg, size_t task, int thread)
{
	const struct convt_job *j = arg;
	const struct eml_conv2d_params *geo = &j->pn->par.conv.geo;
	size_t OH = j->pn->par.conv.out_h, OW = j->pn->par.conv.out_w;
	size_t m = task / j->bands, oh0 = task % j->bands * j->rows;
	size_t oh1 = oh0 + j->rows < OH ? oh0 + j->rows : OH;
	float *ym = j->yg + m * OH * OW, bv = j->bias != NULL ? j->bias[m] : 0.0f;
	enum eml_unary op;

	(void)thread;
	if (convt_tiles(geo)) {
		convt_tile_rows(j, m, oh0, oh1, bv, ym);
	} else {
		for (size_t i = oh0 * OW; i < oh1 * OW; i++)
			ym[i] = bv;
		convt_scatter_rows(j, m, oh0, oh1, ym);
	}
	if (ep_unary(&j->pn->ep, &op))
		j->p->k->unary(op, (oh1 - oh0) * OW, ym + oh0 * OW, ym + oh0 * OW, j->pn->ep.a,
		    j->pn->ep.b);
}

/* 3-D ConvTranspose: every input element times every tap added where
 * it lands (bias first, the fused activation last). Plain loops: 3-D
 * transposed convolutions are rare and small in inference models. */
static void
convt3d_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	const struct win3 *q = &pn->par.conv.w3;
	size_t G = (size_t)pn->par.conv.group, C = (size_t)x->dims[1], M = (size_t)y->dims[1];
	size_t cg = C / G, mg = M / G, ivol = (size_t)(q->in[0] * q->in[1] * q->in[2]);
	size_t ovol = (size_t)(q->out[0] * q->out[1] * q->out[2]);
	size_t kvol = (size_t)(q->k[0] * q->k[1] * q->k[2]);
	enum eml_unary op;

	for (size_t n = 0; n < (size_t)x->dims[0]; n++)
		for (size_t m = 0; m < M && !eml_pn_stopped(p); m++) {
			float *ym = vf(y) + (n * M + m) * ovol;
			size_t g = m / mg;
			for (size_t e = 0; e < ovol; e++)
				ym[e] = b != NULL ? vf(b)[m] : 0.0f;
			for (size_t c = g * cg; c < (g + 1) * cg; c++) {
				const float *xc = vf(x) + (n * C + c) * ivol;
				const float *wk = vf(w) + (c * mg + m % mg) * kvol;
				for (size_t t = 0; t < kvol; t++) {
					int64_t kk[3] = { (int64_t)(t / (size_t)(q->k[1] * q->k[2])),
						(int64_t)(t / (size_t)q->k[2]) % q->k[1],
						(int64_t)t % q->k[2] };
					for (size_t e = 0; e < ivol; e++) {
						int64_t ii[3] = { (int64_t)e / (q->in[1] * q->in[2]),
							((int64_t)e / q->in[2]) % q->in[1],
							(int64_t)e % q->in[2] }, o = 0;
						int d;
						for (d = 0; d < 3; d++) {
							int64_t od = ii[d] * q->s[d] + kk[d] * q->d[d] -
							    q->pb[d];
							if (od < 0 || od >= q->out[d])
								break;
							o = o * q->out[d] + od;
						}
						if (d == 3)
							ym[o] += xc[e] * wk[t];
					}
				}
			}
			if (ep_unary(&pn->ep, &op))
				p->k->unary(op, ovol, ym, ym, pn->ep.a, pn->ep.b);
		}
}

static void
convt2d_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	const struct eml_conv2d_params *geo = &pn->par.conv.geo;
	size_t N = geo->N, C = geo->C, H = geo->H, W = geo->W, M = geo->M, kh = geo->kh,
	       kw = geo->kw, G = geo->group, OH = pn->par.conv.out_h, OW = pn->par.conv.out_w;
	size_t cg = C / G, mg = M / G, ckk = mg * kh * kw;
	float *col = pn->wsp;
	struct convt_job j = { p, pn, col, NULL, NULL, OH, 1 };
	struct eml_pool *pool;

	pool = eml_pool_for(p->pool, 4.0 * (double)(mg * OH * OW) + 2.0 * (double)(ckk * H * W));
	if (eml_pool_size(pool) > 1 && mg < 4 * (size_t)eml_pool_size(pool)) {
		/* Few channels: bands of rows too, about four tasks a thread. */
		size_t want = (4 * (size_t)eml_pool_size(pool) + mg - 1) / mg;

		j.rows = (OH + want - 1) / want;
		j.bands = (OH + j.rows - 1) / j.rows;
	}
	for (size_t n = 0; n < N; n++)
		for (size_t g = 0; g < G; g++) {
			struct eml_sgemm_args ga;
			memset(&ga, 0, sizeof(ga));
			ga.M = ckk;
			ga.N = H * W;
			ga.K = cg;
			ga.A = vf(w) + g * cg * ckk;
			ga.lda = ckk;
			ga.trans_a = true;
			ga.B = vf(x) + (n * C + g * cg) * H * W;
			ga.ldb = H * W;
			ga.C = col;
			ga.ldc = H * W;
			ga.alpha = 1.0f;
			eml_sgemm(&ga, col + ckk * H * W, p->pool);
			j.bias = b != NULL ? vf(b) + g * mg : NULL;
			j.yg = vf(y) + (n * M + g * mg) * OH * OW;
			eml_pool_run(pool, mg * j.bands, convt_task, &j);
		}
}

/* 3-D has no 2-D geometry (pn->par.conv.geo is unset). */
static void
convt_run(struct eml_plan *p, struct pnode *pn)
{
	if (pn->par.conv.is3d)
		convt3d_run(p, pn);
	else
		convt2d_run(p, pn);
}

/* ---------------------------------------------------------------- Gemm */

static eml_err
gemm_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *c = eml_pn_in(p, pn, 2);
	struct gemm_par *gp = &pn->par.gemm;
	bool ta = gp->trans_a, tb = gp->trans_b;
	int64_t M, N, K, dims[2];

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(need_float(p, pn, 1));
	if (a->rank != 2 || b->rank != 2)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "A and B must be 2-D");
	M = ta ? a->dims[1] : a->dims[0];
	K = ta ? a->dims[0] : a->dims[1];
	N = tb ? b->dims[0] : b->dims[1];
	if ((tb ? b->dims[1] : b->dims[0]) != K)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "inner dimensions differ");
	dims[0] = M;
	dims[1] = N;
	gp->M = (size_t)M;
	gp->N = (size_t)N;
	gp->K = (size_t)K;
	gp->c_mode = GEMM_C_NONE;
	if (c != NULL) {
		struct val o;
		int r;
		int64_t bd[EML_MAX_RANK];
		EML_GUARD(need_float(p, pn, 2));
		if (gp->c_exact && (c->rank != 2 || c->dims[0] != M || c->dims[1] != N))
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
			    "C must be [M, N] without broadcast=1 (opset < 7)");
		memset(&o, 0, sizeof(o));
		o.name = "Y";
		o.rank = 2;
		o.dims[0] = M;
		o.dims[1] = N;
		EML_GUARD(eml_bcast(pn->n, &o, c, &r, bd));
		if (r != 2 || bd[0] != M || bd[1] != N)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "C does not broadcast");
		if (c->kind == VK_CONST && (c->numel == 1 || (c->numel == (size_t)N &&
		    c->dims[c->rank - 1] == N)))
			gp->c_mode = GEMM_C_COL_BIAS;
		else if (c->kind == VK_CONST && c->rank == 2 && c->dims[1] == 1 && c->dims[0] == M)
			gp->c_mode = GEMM_C_ROW_BIAS;
		else
			gp->c_mode = GEMM_C_FULL;
	}
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 2, dims);
}

static void
gemm_args(struct eml_plan *p, struct pnode *pn, struct eml_sgemm_args *ga)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	const struct gemm_par *gp = &pn->par.gemm;

	memset(ga, 0, sizeof(*ga));
	ga->M = gp->M;
	ga->N = gp->N;
	ga->K = gp->K;
	ga->A = a != NULL ? vf(a) : NULL;
	ga->lda = (size_t)a->dims[1];
	ga->trans_a = gp->trans_a;
	ga->B = b != NULL ? vf(b) : NULL;
	ga->ldb = (size_t)b->dims[1];
	ga->trans_b = gp->trans_b;
	ga->b_packed = pn->w;
	ga->C = y != NULL && y->data != NULL ? vf(y) : NULL;
	ga->ldc = ga->N;
	ga->alpha = gp->alpha;
	ga->beta = gp->c_mode == GEMM_C_FULL ? gp->beta : 0.0f;
	ga->bias = pn->b;
	ga->bias_kind = gp->c_mode == GEMM_C_COL_BIAS ? EML_BIAS_COL :
	    gp->c_mode == GEMM_C_ROW_BIAS ? EML_BIAS_ROW : EML_BIAS_NONE;
	ga->ep = pn->ep;
}

static eml_err
gemm_prepare(struct eml_plan *p, struct pnode *pn)
{
	struct val *b = eml_pn_in(p, pn, 1), *c = eml_pn_in(p, pn, 2);
	struct eml_sgemm_args ga;
	const struct gemm_par *gp = &pn->par.gemm;
	size_t K = gp->K, N = gp->N, M = gp->M;

	if (b->kind == VK_CONST) {
		pn->w_n = eml_sgemm_packed_b_size(K, N);
		pn->w = eml_secure_alloc((pn->w_n == 0 ? 1 : pn->w_n) * sizeof(float));
		if (pn->w == NULL)
			return eml_pn_fail(pn->n, EML_ERR_NOMEM, "packing B");
		eml_sgemm_pack_b(K, N, vf(b), (size_t)b->dims[1], gp->trans_b, pn->w);
	}
	if (gp->c_mode == GEMM_C_COL_BIAS || gp->c_mode == GEMM_C_ROW_BIAS) {
		size_t n = gp->c_mode == GEMM_C_COL_BIAS ? N : M;
		pn->b_n = n;
		pn->b = eml_secure_alloc((n == 0 ? 1 : n) * sizeof(float));
		if (pn->b == NULL)
			return eml_pn_fail(pn->n, EML_ERR_NOMEM, "bias");
		for (size_t i = 0; i < n; i++)
			pn->b[i] = gp->beta * vf(c)[c->numel == 1 ? 0 : i];
	}
	gemm_args(p, pn, &ga);
	pn->ws = eml_sgemm_workspace_size(&ga, p->opts.nthreads) * sizeof(float);
	return EML_OK;
}

static void
gemm_run(struct eml_plan *p, struct pnode *pn)
{
	struct eml_sgemm_args ga;
	struct val *c = eml_pn_in(p, pn, 2), *y = eml_pn_out(p, pn, 0);

	if (pn->par.gemm.c_mode == GEMM_C_FULL) {
		size_t s[EML_MAX_RANK];
		int64_t ss[EML_MAX_RANK];
		eml_bcast_strides(c, 2, y->dims, s);
		ss[0] = (int64_t)s[0];
		ss[1] = (int64_t)s[1];
		eml_copy_strided(y->data, c->data, 4, 2, y->dims, ss);
	}
	gemm_args(p, pn, &ga);
	eml_sgemm(&ga, pn->wsp, p->pool);
}

/* ---------------------------------------------------------------- MatMul */

static eml_err
matmul_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1);
	struct matmul_par *mp = &pn->par.matmul;
	struct val ab, bb;
	int64_t M, N, K, dims[EML_MAX_RANK], bdims[EML_MAX_RANK];
	int ra, rb, r = 0, br;
	size_t sa[EML_MAX_RANK], sbs[EML_MAX_RANK];

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(need_float(p, pn, 1));
	if (a->rank < 1 || b->rank < 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scalar operand");
	ra = a->rank;
	rb = b->rank;
	M = ra == 1 ? 1 : a->dims[ra - 2];
	K = a->dims[ra - 1];
	N = rb == 1 ? 1 : b->dims[rb - 1];
	if ((rb == 1 ? b->dims[0] : b->dims[rb - 2]) != K)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "inner dimensions %lld and %lld",
		    (long long)K, (long long)(rb == 1 ? b->dims[0] : b->dims[rb - 2]));
	memset(&ab, 0, sizeof(ab));
	memset(&bb, 0, sizeof(bb));
	ab.name = a->name;
	bb.name = b->name;
	ab.rank = ra > 2 ? ra - 2 : 0;
	bb.rank = rb > 2 ? rb - 2 : 0;
	EML_MEMCPY(ab.dims, a->dims, (size_t)ab.rank * sizeof(int64_t));
	EML_MEMCPY(bb.dims, b->dims, (size_t)bb.rank * sizeof(int64_t));
	EML_GUARD(eml_bcast(pn->n, &ab, &bb, &br, bdims));
	for (int i = 0; i < br; i++)
		dims[r++] = bdims[i];
	if (ra > 1)
		dims[r++] = M;
	if (rb > 1)
		dims[r++] = N;
	mp->M = (size_t)M;
	mp->N = (size_t)N;
	mp->K = (size_t)K;
	mp->n_batch = (size_t)prod(bdims, 0, br);
	mp->batch_rank = br;
	eml_bcast_strides(&ab, br, bdims, sa);
	eml_bcast_strides(&bb, br, bdims, sbs);
	for (int i = 0; i < br; i++) {
		mp->batch_dims[i] = bdims[i];
		mp->a_stride[i] = (int64_t)sa[i];
		mp->b_stride[i] = (int64_t)sbs[i];
	}
	mp->alpha = 1.0f; /* a fused scalar Div/Mul changes it */
	/* B constant without batch dims: pack once; A's batch folds into M. */
	mp->packed_b = b->kind == VK_CONST && rb <= 2;
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, r, dims);
}

static void
matmul_args(struct eml_plan *p, struct pnode *pn, struct eml_sgemm_args *ga)
{
	const struct matmul_par *mp = &pn->par.matmul;

	memset(ga, 0, sizeof(*ga));
	ga->M = mp->M;
	ga->N = mp->N;
	ga->K = mp->K;
	ga->lda = ga->K;
	ga->ldb = ga->N;
	ga->ldc = ga->N;
	ga->alpha = mp->alpha;
	ga->ep = pn->ep;
	if (pn->bias_val >= 0) {
		ga->bias = vf(&p->v[pn->bias_val]);
		ga->bias_kind = EML_BIAS_COL;
	}
	if (mp->packed_b) {
		ga->M *= mp->n_batch;
		ga->b_packed = pn->w;
	}
}

static eml_err
matmul_prepare(struct eml_plan *p, struct pnode *pn)
{
	struct val *b = eml_pn_in(p, pn, 1);
	struct eml_sgemm_args ga;
	size_t K = pn->par.matmul.K, N = pn->par.matmul.N;

	if (pn->par.matmul.packed_b) {
		pn->w_n = eml_sgemm_packed_b_size(K, N);
		pn->w = eml_secure_alloc((pn->w_n == 0 ? 1 : pn->w_n) * sizeof(float));
		if (pn->w == NULL)
			return eml_pn_fail(pn->n, EML_ERR_NOMEM, "packing B");
		eml_sgemm_pack_b(K, N, vf(b), N, false, pn->w);
	}
	matmul_args(p, pn, &ga);
	pn->ws = eml_sgemm_workspace_size(&ga, p->opts.nthreads) * sizeof(float);
	/* matmul_run's split over the batch: one single-thread workspace
	 * per thread */
	if (!pn->par.matmul.packed_b && pn->par.matmul.n_batch > 1) {
		size_t one = eml_sgemm_workspace_size(&ga, 1) * sizeof(float);
		size_t all = one * (size_t)(p->opts.nthreads > 1 ? p->opts.nthreads : 1);
		pn->ws = all > pn->ws ? all : pn->ws;
	}
	return EML_OK;
}

static bool
batch_split(struct eml_plan *p, size_t nb, double item_work)
{
	size_t t = (size_t)eml_pool_size(p->pool);

	if (t < 2 || nb < 2 * t || eml_pool_for(p->pool, (double)nb * item_work) == NULL)
		return false;
	return nb % t == 0 || nb >= 8 * t || eml_pool_for(p->pool, item_work) == NULL;
}

struct matmul_batch_job {
	struct eml_plan *p;
	const struct pnode *pn;
	struct eml_sgemm_args ga;
	size_t ws_one; /* floats of one thread's workspace */
};

/* Batch items [i0, i1) on one thread, each a whole single-thread GEMM:
 * item i's A and B offsets from its batch index (broadcast strides). */
static void
matmul_batch_task(void *arg, size_t i0, size_t i1, int thread)
{
	const struct matmul_batch_job *j = arg;
	const struct matmul_par *mp = &j->pn->par.matmul;
	struct val *a = eml_pn_in(j->p, j->pn, 0), *b = eml_pn_in(j->p, j->pn, 1);
	struct val *y = eml_pn_out(j->p, j->pn, 0);
	struct eml_sgemm_args ga = j->ga;
	size_t M = mp->M, N = mp->N, K = mp->K;

	for (size_t i = i0; i < i1; i++) {
		size_t oa = 0, ob = 0, r = i;
		for (int d = mp->batch_rank - 1; d >= 0; d--) {
			size_t id = r % (size_t)mp->batch_dims[d];
			r /= (size_t)mp->batch_dims[d];
			oa += id * (size_t)mp->a_stride[d];
			ob += id * (size_t)mp->b_stride[d];
		}
		ga.A = vf(a) + oa * M * K;
		ga.B = vf(b) + ob * K * N;
		ga.C = vf(y) + i * M * N;
		eml_sgemm(&ga, (float *)j->pn->wsp + (size_t)thread * j->ws_one, NULL);
	}
}

static void
matmul_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	struct eml_sgemm_args ga;
	const struct matmul_par *mp = &pn->par.matmul;
	size_t M = mp->M, N = mp->N, K = mp->K, nb = mp->n_batch, oa = 0, ob = 0;
	int br = mp->batch_rank;
	int64_t idx[EML_MAX_RANK] = { 0 };

	matmul_args(p, pn, &ga);
	if (y->numel == 0)
		return;
	if (mp->packed_b) {
		ga.A = vf(a);
		ga.C = vf(y);
		eml_sgemm(&ga, pn->wsp, p->pool);
		return;
	}
	/* Split the batch, each item a whole GEMM on one thread (no
	 * synchronisation per item; attention's per-head products, 128 x 128
	 * x 64 = 2 MFLOP, are each below the cost model's threshold and ran
	 * on one thread) when the items share out evenly: at least two per
	 * thread and a multiple of the threads, or items too small to split,
	 * or many. Otherwise each item is split inside. */
	if (batch_split(p, nb, 2.0 * (double)(M * N) * (double)(K + 1))) {
		struct matmul_batch_job j = { p, pn, ga, eml_sgemm_workspace_size(&ga, 1) };
		eml_pool_run_range(p->pool, nb, matmul_batch_task, &j);
		return;
	}
	for (size_t i = 0; i < nb; i++) {
		ga.A = vf(a) + oa * M * K;
		ga.B = vf(b) + ob * K * N;
		ga.C = vf(y) + i * M * N;
		eml_sgemm(&ga, pn->wsp, p->pool);
		for (int d = br - 1; d >= 0; d--) {
			idx[d]++;
			oa += (size_t)mp->a_stride[d];
			ob += (size_t)mp->b_stride[d];
			if (idx[d] < mp->batch_dims[d])
				break;
			oa -= (size_t)(mp->a_stride[d] * mp->batch_dims[d]);
			ob -= (size_t)(mp->b_stride[d] * mp->batch_dims[d]);
			idx[d] = 0;
		}
	}
}

/* ---------------------------------------------------------------- BatchNorm */

static eml_err
bn_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);

	for (size_t k = 0; k < 5; k++)
		EML_GUARD(need_float(p, pn, k));
	if (x->rank < 2)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "rank %d", x->rank);
	for (size_t k = 1; k < 5; k++)
		if (eml_pn_in(p, pn, k)->numel != (size_t)x->dims[1])
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "parameter %zu length", k);
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, x->dims);
}

static eml_err
bn_prepare(struct eml_plan *p, struct pnode *pn)
{
	size_t C = (size_t)eml_pn_in(p, pn, 0)->dims[1];

	pn->w_n = 2 * C;
	pn->w = eml_secure_alloc((2 * C + 1) * sizeof(float));
	if (pn->w == NULL)
		return eml_pn_fail(pn->n, EML_ERR_NOMEM, "scale");
	return EML_OK;
}

static void
bn_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const float *sc = vf(eml_pn_in(p, pn, 1)), *sh = vf(eml_pn_in(p, pn, 2)),
		    *mean = vf(eml_pn_in(p, pn, 3)), *var = vf(eml_pn_in(p, pn, 4));
	size_t C = (size_t)x->dims[1];
	float *s = pn->w, *t = pn->w + C;

	for (size_t c = 0; c < C; c++) {
		s[c] = sc[c] / sqrtf(var[c] + pn->par.batchnorm.epsilon);
		t[c] = sh[c] - mean[c] * s[c];
	}
	p->k->channel_affine((size_t)x->dims[0], C, (size_t)prod(x->dims, 2, x->rank), vf(x), s,
	    t, vf(y));
}

/* ---------------------------------------------------------------- pools */

/* One output element of a 3-D pool: max, or the average over the window's
 * elements inside the input (with count_include_pad: inside the padded
 * input, clipped at its end as ONNX Runtime does). */
static float
pool3d_one(const struct pool_par *q, const float *x, int64_t od, int64_t oh, int64_t ow)
{
	const struct win3 *w = &q->w3;
	double acc = 0;
	float mx = -INFINITY;
	int64_t cnt = 0, padded = 1;

	for (int i = 0; i < 3; i++) {
		int64_t st = (i == 0 ? od : i == 1 ? oh : ow) * w->s[i] - w->pb[i];
		int64_t en = st + (w->k[i] - 1) * w->d[i] + 1, lim = w->in[i] + w->pb[i];
		padded *= ((en < lim ? en : lim) - st + w->d[i] - 1) / w->d[i];
	}
	for (int64_t a = 0; a < w->k[0]; a++)
		for (int64_t b = 0; b < w->k[1]; b++)
			for (int64_t c = 0; c < w->k[2]; c++) {
				int64_t id = od * w->s[0] + a * w->d[0] - w->pb[0];
				int64_t ih = oh * w->s[1] + b * w->d[1] - w->pb[1];
				int64_t iw = ow * w->s[2] + c * w->d[2] - w->pb[2];
				float v;
				if (id < 0 || id >= w->in[0] || ih < 0 || ih >= w->in[1] || iw < 0 ||
				    iw >= w->in[2])
					continue;
				v = x[(id * w->in[1] + ih) * w->in[2] + iw];
				mx = v > mx ? v : mx;
				acc += v;
				cnt++;
			}
	if (q->is_max)
		return mx;
	return (float)(acc / (double)(q->count_include_pad ? padded : cnt));
}

static void
pool3d_run(struct eml_plan *p, const struct pool_par *q, size_t NC, const float *x, float *y)
{
	const struct win3 *w = &q->w3;
	size_t ivol = (size_t)(w->in[0] * w->in[1] * w->in[2]), o = 0;

	for (size_t nc = 0; nc < NC; nc++)
		for (int64_t od = 0; od < w->out[0]; od++)
			for (int64_t oh = 0; oh < w->out[1] && !eml_pn_stopped(p); oh++)
				for (int64_t ow = 0; ow < w->out[2]; ow++)
					y[o++] = pool3d_one(q, x + nc * ivol, od, oh, ow);
}

static eml_err
pool_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct pool_par *pl = &pn->par.pool;
	struct win w;
	int64_t in[2], out[2], dims[4];
	int nsp;

	/* MaxPool takes the integer image types and float64 (and gives
	 * Indices) through a plain loop; the kernels take float. */
	EML_GUARD(eml_pn_need_dtype(p, pn, 0, pl->is_max ? DTM_FLOAT | DTM(EML_DT_DOUBLE) |
	    DTM(EML_DT_INT8) | DTM(EML_DT_UINT8) : DTM_FLOAT));
	pl->generic = pl->is_max && (x->dt != EML_DT_FLOAT || eml_pn_out(p, pn, 1) != NULL);
	if (x->rank == 5 && pl->generic)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
		    "3-D MaxPool with Indices or of %s not supported", eml_dtype_name(x->dt));
	if (x->rank == 5) {
		int64_t d5[5];
		EML_GUARD(win3_plan(pn, &pl->win, x, NULL, pl->ceil_mode, &pl->w3));
		for (int i = 0; i < 3; i++)
			if (pl->w3.pb[i] >= (pl->w3.k[i] - 1) * pl->w3.d[i] + 1)
				return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
				    "pads larger than the window");
		pl->is3d = true;
		d5[0] = x->dims[0];
		d5[1] = x->dims[1];
		for (int i = 0; i < 3; i++)
			d5[2 + i] = pl->w3.out[i];
		return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 5, d5);
	}
	if (x->rank != 3 && x->rank != 4)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%d-D pooling not supported",
		    x->rank - 2);
	nsp = x->rank - 2;
	for (int i = 0; i < nsp; i++)
		in[i] = x->dims[2 + i];
	EML_GUARD(win_read(pn->n, &pl->win, nsp, NULL, &w));
	EML_GUARD(win_out(pn->n, pl->win.auto_pad, &w, in, pl->ceil_mode, out));
	for (int i = 0; i < nsp; i++) {
		int64_t ext = (w.k[i] - 1) * w.d[i] + 1;
		/* The kernel divides by kh*kw with count_include_pad, which is
		 * wrong for a ceil-mode window past the end padding. */
		if (pl->count_include_pad && (out[i] - 1) * w.s[i] + ext > in[i] + w.pb[i] + w.pe[i])
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
			    "ceil_mode with count_include_pad past the padding not supported");
		/* Windows entirely in the padding average nothing. */
		if (w.pb[i] >= ext || w.pe[i] >= ext)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "pads larger than the window");
	}
	dims[0] = x->dims[0];
	dims[1] = x->dims[1];
	for (int i = 0; i < nsp; i++)
		dims[2 + i] = out[i];
	pl->NC = (size_t)(x->dims[0] * x->dims[1]);
	pl->H = (size_t)(nsp == 2 ? in[0] : 1);
	pl->W = (size_t)in[nsp - 1];
	pl->kh = (size_t)(nsp == 2 ? w.k[0] : 1);
	pl->kw = (size_t)w.k[nsp - 1];
	pl->stride_h = (size_t)(nsp == 2 ? w.s[0] : 1);
	pl->stride_w = (size_t)w.s[nsp - 1];
	pl->dil_h = (size_t)(nsp == 2 ? w.d[0] : 1);
	pl->dil_w = (size_t)w.d[nsp - 1];
	pl->pad_top = (size_t)(nsp == 2 ? w.pb[0] : 0);
	pl->pad_left = (size_t)w.pb[nsp - 1];
	pl->out_h = (size_t)(nsp == 2 ? out[0] : 1);
	pl->out_w = (size_t)out[nsp - 1];
	EML_GUARD(eml_pn_set_out(p, pn, 1, EML_DT_INT64, x->rank, dims));
	return eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims);
}

struct pool2d_job {
	const struct eml_plan *p;
	const struct pool_par *q;
	const float *x;
	float *y;
};

/* Planes [c0, c1): every plane is pooled alone, so a split over planes
 * gives the same outputs. */
static void
pool2d_task(void *arg, size_t c0, size_t c1, int thread)
{
	const struct pool2d_job *j = arg;
	const struct pool_par *q = j->q;

	(void)thread;
	j->p->k->pool2d(q->is_max, c1 - c0, q->H, q->W, q->kh, q->kw, q->stride_h, q->stride_w,
	    q->dil_h, q->dil_w, q->pad_top, q->pad_left, q->out_h, q->out_w,
	    q->count_include_pad, j->x + c0 * q->H * q->W, j->y + c0 * q->out_h * q->out_w);
}

static void
pool_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct pool_par *q = &pn->par.pool;
	struct pool2d_job j = { p, q, vf(x), vf(y) };

	if (q->is3d) {
		pool3d_run(p, q, (size_t)(x->dims[0] * x->dims[1]), vf(x), vf(y));
		return;
	}
	if (q->generic) {
		eml_maxpool_generic_run(p, pn);
		return;
	}
	/* A memory pass: ~4 per float read, plus the window per output. */
	eml_pool_run_range(eml_pool_for(p->pool,
			       (double)q->NC * (4.0 * (double)(q->H * q->W) +
						   (double)(q->out_h * q->out_w * (q->kh * q->kw + 4)))),
	    q->NC, pool2d_task, &j);
}

static eml_err
gpool_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t dims[EML_MAX_RANK];

	EML_GUARD(need_float(p, pn, 0));
	if (x->rank < 3)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "rank %d", x->rank);
	for (int i = 0; i < x->rank; i++)
		dims[i] = i < 2 ? x->dims[i] : 1;
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

static void
gpool_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);

	p->k->global_pool(pn->par.global_pool.is_max, (size_t)(x->dims[0] * x->dims[1]),
	    (size_t)prod(x->dims, 2, x->rank), vf(x), vf(y));
}

/* ---------------------------------------------------------------- Softmax */

static eml_err
softmax_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct softmax_par *sm = &pn->par.softmax;
	int axis;

	EML_GUARD(need_float(p, pn, 0));
	if (x->rank == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scalar input");
	EML_GUARD(eml_axis(pn->n, sm->axis, x->rank, 0, &axis));
	sm->outer = (size_t)prod(x->dims, 0, axis);
	if (sm->coerce_2d) {
		/* Softmax-1/11: the input is coerced to 2-D at axis. */
		sm->n = (size_t)prod(x->dims, axis, x->rank);
		sm->inner = 1;
	} else {
		sm->n = (size_t)x->dims[axis];
		sm->inner = (size_t)prod(x->dims, axis + 1, x->rank);
	}
	pn->ws = sm->inner == 1 ? 0 : 2 * x->numel * sizeof(float);
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, x->dims);
}

struct softmax_job {
	struct eml_plan *p;
	const float *x;
	float *y;
	size_t n;
	bool log;
};

/* Rows [r0, r1): each row is normalised alone. */
static void
softmax_rows(void *arg, size_t r0, size_t r1, int thread)
{
	const struct softmax_job *j = arg;

	(void)thread;
	j->p->k->softmax(r1 - r0, j->n, j->x + r0 * j->n, j->y + r0 * j->n, j->log);
}

static void
softmax_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct softmax_par *sm = &pn->par.softmax;
	size_t outer = sm->outer, n = sm->n, inner = sm->inner;
	float *t, *u;

	if (x->numel == 0)
		return;
	if (inner == 1) {
		struct softmax_job j = { p, vf(x), vf(y), n, sm->log };
		/* about 40 flop-equivalents an element (an exp, the max, the
		 * sum, the scale: attention's 6 x 128 rows of 128 took ~30 us) */
		eml_pool_run_range(eml_pool_for(p->pool, 40.0 * (double)x->numel), outer,
		    softmax_rows, &j);
		return;
	}
	/* Axis in the middle: gather each line into a row, softmax, scatter. */
	t = pn->wsp;
	u = t + x->numel;
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++)
			for (size_t j = 0; j < n; j++)
				t[(o * inner + i) * n + j] = vf(x)[(o * n + j) * inner + i];
	p->k->softmax(outer * inner, n, t, u, sm->log);
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++)
			for (size_t j = 0; j < n; j++)
				vf(y)[(o * n + j) * inner + i] = u[(o * inner + i) * n + j];
}

/* ---------------------------------------------------------------- Reduce */

/* Which axes of x are reduced: the axes input or attribute, all of them
 * when empty. */
static eml_err
reduced_axes(struct eml_plan *p, struct pnode *pn, bool *red)
{
	const struct reduce_par *rd = &pn->par.reduce;
	int64_t axes[EML_MAX_RANK];
	int rank = eml_pn_in(p, pn, 0)->rank;
	size_t n;

	if (eml_pn_in(p, pn, 1) != NULL) {
		EML_GUARD(eml_pn_const_ints(p, pn, 1, axes, EML_MAX_RANK, &n));
	} else {
		n = rd->n_axes;
		EML_MEMCPY(axes, rd->axes, sizeof(axes));
	}
	if (n == 0 && rd->noop_with_empty_axes) {
		/* Nothing reduced: each element is its own row of one, which
		 * the reductions below return unchanged; the others (L2, the
		 * logs, sum of squares) would transform it. */
		if (rd->kind > RK_PROD)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
			    "noop_with_empty_axes with empty axes not supported");
		return EML_OK;
	}
	for (size_t i = 0; i < n; i++) {
		int ax;
		EML_GUARD(eml_axis(pn->n, axes[i], rank, 0, &ax));
		red[ax] = true;
	}
	if (n == 0)
		for (int i = 0; i < rank; i++)
			red[i] = true;
	return EML_OK;
}

/* Kept axes first, reduced axes last, so that each output element reads
 * one row: the permuted dims and strides, and whether the order changed. */
static bool
reduce_permute(const struct val *x, const bool *red, struct reduce_par *rd)
{
	int64_t xs[EML_MAX_RANK];
	int perm[EML_MAX_RANK], np = 0;
	bool moved = false;

	for (int i = 0; i < x->rank; i++)
		if (!red[i])
			perm[np++] = i;
	for (int i = 0; i < x->rank; i++)
		if (red[i])
			perm[np++] = i;
	eml_dense_strides(x->rank, x->dims, xs);
	for (int i = 0; i < x->rank; i++) {
		moved = moved || perm[i] != i;
		rd->perm_strides[i] = xs[perm[i]];
		rd->perm_dims[i] = x->dims[perm[i]];
	}
	return moved;
}

static eml_err
reduce_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct reduce_par *rd = &pn->par.reduce;
	int64_t dims[EML_MAX_RANK], rows = 1, cnt = 1;
	bool red[EML_MAX_RANK] = { false };
	int r = 0;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	EML_GUARD(reduced_axes(p, pn, red));
	for (int i = 0; i < x->rank; i++) {
		if (red[i]) {
			cnt *= x->dims[i];
			if (rd->keepdims)
				dims[r++] = 1;
		} else {
			rows *= x->dims[i];
			dims[r++] = x->dims[i];
		}
	}
	if ((rd->kind == RK_MAX || rd->kind == RK_MIN) && cnt == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "max over an empty axis");
	rd->transpose = reduce_permute(x, red, rd);
	rd->rows = (size_t)rows;
	rd->n = (size_t)cnt;
	rd->rank = x->rank;
	pn->ws = rd->transpose ? x->numel * eml_dtype_size(x->dt) : 0;
	return eml_pn_set_out(p, pn, 0, x->dt, r, dims);
}

/* float64: every reduction in one plain loop per row. */
static double
reduce_row_f64(enum reduce_kind kind, const double *xr, size_t n)
{
	double acc = kind == RK_PROD ? 1.0 : 0.0, m = kind == RK_MIN ? INFINITY : -INFINITY;

	for (size_t i = 0; i < n; i++)
		if ((kind == RK_MAX || kind == RK_LOG_SUM_EXP) && (xr[i] > m || xr[i] != xr[i]))
			m = xr[i];
		else if (kind == RK_MIN && (xr[i] < m || xr[i] != xr[i]))
			m = xr[i];
	for (size_t i = 0; i < n; i++) {
		switch (kind) {
		case RK_PROD: acc *= xr[i]; break;
		case RK_L1: acc += fabs(xr[i]); break;
		case RK_LOG_SUM_EXP: acc += exp(xr[i] - m); break;
		case RK_L2:
		case RK_SUM_SQUARE: acc += xr[i] * xr[i]; break;
		default: acc += xr[i]; break;
		}
	}
	switch (kind) {
	case RK_MAX:
	case RK_MIN: return m;
	case RK_MEAN: return acc / (double)n;
	case RK_L2: return sqrt(acc);
	case RK_LOG_SUM_EXP: return log(acc) + m;
	case RK_LOG_SUM: return log(acc);
	default: return acc;
	}
}

/* One row of n elements by the less common reductions, in a plain loop
 * (min, product, L1, L2, sum of squares, log-sum-exp, log-sum). */
static float
reduce_row(enum reduce_kind kind, const float *xr, size_t n)
{
	double acc = kind == RK_PROD ? 1.0 : 0.0;
	float m = INFINITY;

	if (kind == RK_LOG_SUM_EXP) {
		m = -INFINITY;
		for (size_t i = 0; i < n; i++)
			m = xr[i] > m ? xr[i] : m;
	}
	for (size_t i = 0; i < n; i++) {
		switch (kind) {
		case RK_MIN:
			m = xr[i] < m || xr[i] != xr[i] ? xr[i] : m;
			break;
		case RK_PROD:
			acc *= xr[i];
			break;
		case RK_L1:
			acc += fabs((double)xr[i]);
			break;
		case RK_LOG_SUM_EXP:
			acc += exp((double)xr[i] - (double)m);
			break;
		case RK_LOG_SUM:
			acc += (double)xr[i];
			break;
		default: /* L2, sum of squares */
			acc += (double)xr[i] * (double)xr[i];
			break;
		}
	}
	switch (kind) {
	case RK_MIN:
		return m;
	case RK_L2:
		return (float)sqrt(acc);
	case RK_LOG_SUM_EXP:
		return (float)(log(acc) + (double)m);
	case RK_LOG_SUM:
		return (float)log(acc);
	default:
		return (float)acc;
	}
}

static void
reduce_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct reduce_par *rd = &pn->par.reduce;
	size_t rows = rd->rows, n = rd->n;
	const float *src = vf(x);

	if (rd->transpose) {
		eml_copy_strided(pn->wsp, x->data, eml_dtype_size(x->dt), rd->rank, rd->perm_dims,
		    rd->perm_strides);
		src = pn->wsp;
	}
	if (x->dt == EML_DT_DOUBLE) {
		for (size_t r = 0; r < rows; r++)
			((double *)y->data)[r] = reduce_row_f64(rd->kind, (const double *)src + r * n,
			    n);
		return;
	}
	if (rd->kind >= RK_MIN) {
		for (size_t r = 0; r < rows; r++)
			vf(y)[r] = reduce_row(rd->kind, src + r * n, n);
		return;
	}
	/* Sum, mean and max in the kernels. */
	if (n == 0) {
		for (size_t i = 0; i < rows; i++)
			vf(y)[i] = rd->kind == RK_MEAN ? NAN : 0.0f;
		return;
	}
	if (rd->kind == RK_MAX)
		p->k->reduce_max(rows, n, src, vf(y));
	else
		p->k->reduce_sum(rows, n, src, vf(y));
	if (rd->kind == RK_MEAN)
		p->k->binary_scalar(EML_BINARY_DIV, rows, vf(y), (float)n, false, vf(y));
}

/* ---------------------------------------------------------------- LayerNorm */

static eml_err
ln_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *g = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	int axis;
	int64_t inner;

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(need_float(p, pn, 1));
	EML_GUARD(eml_axis(pn->n, pn->par.layernorm.axis, x->rank, 0, &axis));
	inner = prod(x->dims, axis, x->rank);
	if (g->numel != (size_t)inner || (b != NULL && (b->dt != EML_DT_FLOAT ||
	    b->numel != (size_t)inner)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
		    "scale/bias must cover the normalised shape");
	pn->par.layernorm.rows = (size_t)prod(x->dims, 0, axis);
	pn->par.layernorm.n = (size_t)inner;
	{
		/* Mean and InvStdDev: X's shape with the normalised axes 1. */
		int64_t sd[EML_MAX_RANK];
		for (int d = 0; d < x->rank; d++)
			sd[d] = d < axis ? x->dims[d] : 1;
		EML_GUARD(eml_pn_set_out(p, pn, 1, EML_DT_FLOAT, x->rank, sd));
		EML_GUARD(eml_pn_set_out(p, pn, 2, EML_DT_FLOAT, x->rank, sd));
	}
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, x->dims);
}

static void
ln_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *g = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);

	struct val *mo = eml_pn_out(p, pn, 1), *so = eml_pn_out(p, pn, 2);
	const struct layernorm_par *ln = &pn->par.layernorm;

	if (ln->n == 0)
		return;
	if (mo != NULL || so != NULL) {
		size_t rows = ln->rows, n = ln->n;
		for (size_t r = 0; r < rows; r++) {
			const float *xr = vf(x) + r * n;
			float mean = 0.0f, var = 0.0f;
			for (size_t i = 0; i < n; i++)
				mean += xr[i];
			mean /= (float)n;
			for (size_t i = 0; i < n; i++)
				var += (xr[i] - mean) * (xr[i] - mean);
			var /= (float)n;
			if (mo != NULL)
				vf(mo)[r] = mean;
			if (so != NULL)
				vf(so)[r] = 1.0f / sqrtf(var + ln->epsilon);
		}
	}
	p->k->layernorm(ln->rows, ln->n, vf(x), vf(g), b != NULL ? vf(b) : NULL, ln->epsilon,
	    vf(y));
}

/* ---------------------------------------------------------------- Resize */

/* tf_crop_and_resize: the constant roi input, [starts..., ends...] in
 * normalised coordinates, into pn->par.resize.roi. */
static eml_err
resize_roi(struct eml_plan *p, struct pnode *pn, int rank)
{
	struct val *rv = eml_pn_in(p, pn, 1);
	float *roi = pn->par.resize.roi;

	if (rv == NULL || rv->kind != VK_CONST || rv->dt != EML_DT_FLOAT ||
	    rv->numel != 2 * (size_t)rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
		    "tf_crop_and_resize needs a constant float roi of 2 x rank values");
	for (int i = 0; i < 2 * rank; i++) {
		roi[i] = vf(rv)[i];
		/* A finite box; far outside [0, 1] is only extrapolation. */
		if (!(fabsf(roi[i]) <= 65536.0f))
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "roi %g", (double)roi[i]);
	}
	return EML_OK;
}

/* The scales (and sizes) inputs by opset: Upsample-7 has the attribute,
 * Upsample-9 and Resize-10 input 1, Resize-11+ inputs 2 and 3. */
static void
resize_inputs(struct eml_plan *p, struct pnode *pn, struct val **sv, struct val **zv,
    size_t *zk)
{
	int64_t opset = p->m->g->opset;

	*sv = *zv = NULL;
	*zk = 3;
	if (pn->par.resize.upsample || opset < 11) {
		if (!(pn->par.resize.upsample && opset < 9))
			*sv = eml_pn_in(p, pn, 1);
	} else {
		*sv = eml_pn_in(p, pn, 2);
		*zv = eml_pn_in(p, pn, 3);
	}
	if (*sv != NULL && (*sv)->numel == 0)
		*sv = NULL;
	if (*zv != NULL && (*zv)->numel == 0)
		*zv = NULL;
}

/* pn->par.resize.scales holds the per-dimension scales. */
static eml_err
resize_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *sv, *zv;
	struct resize_par *rp = &pn->par.resize;
	int64_t dims[EML_MAX_RANK], sizes[EML_MAX_RANK];
	float *scales = rp->scales;
	size_t ns = 0, zk;
	bool attr = rp->upsample && p->m->g->opset < 9;

	EML_GUARD(need_float(p, pn, 0));
	resize_inputs(p, pn, &sv, &zv, &zk);
	if (rp->coord == RC_TF_CROP_AND_RESIZE)
		EML_GUARD(resize_roi(p, pn, x->rank));
	if (!attr && (sv == NULL) == (zv == NULL))
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "exactly one of scales/sizes needed");
	if (attr && rp->n_attr_scales != (size_t)x->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "%zu scales for rank %d",
		    rp->n_attr_scales, x->rank);
	if (attr || sv != NULL) {
		if (!attr && (sv->kind != VK_CONST || sv->dt != EML_DT_FLOAT))
			return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
			    "scales must be a float constant");
		if (!attr && sv->numel != (size_t)x->rank)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "%zu scales for rank %d",
			    sv->numel, x->rank);
		for (int i = 0; i < x->rank; i++) {
			float crop = 1.0f;
			if (!attr)
				scales[i] = vf(sv)[i];
			if (!(scales[i] > 0.0f) || scales[i] > 65536.0f)
				return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "scale %g", scales[i]);
			/* tf_crop_and_resize: the output spans the box. */
			if (rp->coord == RC_TF_CROP_AND_RESIZE)
				crop = fabsf(rp->roi[x->rank + i] - rp->roi[i]);
			dims[i] = (int64_t)floorf((float)x->dims[i] * crop * scales[i]);
		}
	} else {
		EML_GUARD(eml_pn_const_ints(p, pn, zk, sizes, EML_MAX_RANK, &ns));
		if (ns != (size_t)x->rank)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "%zu sizes for rank %d", ns,
			    x->rank);
		for (int i = 0; i < x->rank; i++) {
			if (sizes[i] < 0)
				return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "negative size");
			dims[i] = sizes[i];
			scales[i] = x->dims[i] == 0 ? 1.0f : (float)sizes[i] / (float)x->dims[i];
		}
	}
	/* The output (and with it every table below) is bounded by the
	 * plan's tensor limit before anything is sized from it. */
	EML_GUARD(eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims));
	/* Workspace: per dimension two indices (as int64) and a weight; cubic:
	 * four of each. */
	pn->ws = 0;
	for (int i = 0; i < x->rank; i++)
		pn->ws += (size_t)dims[i] * (rp->cubic ? 8 : 3) * sizeof(int64_t);
	return EML_OK;
}

/* The input coordinate of output index o along an axis of input length
 * in resized by scale s (ONNX Resize: length_resized is in * s, unrounded
 * when scales are given). */
static float
resize_coord(enum resize_coord mode, int64_t o, int64_t in, float s)
{
	switch (mode) {
	case RC_HALF_PIXEL:
		return ((float)o + 0.5f) / s - 0.5f;
	case RC_PYTORCH_HALF_PIXEL:
		return (float)in * s > 1.0f ? ((float)o + 0.5f) / s - 0.5f : 0.0f;
	case RC_ALIGN_CORNERS:
		return (float)in * s == 1.0f ? 0.0f :
		    (float)o * (float)(in - 1) / ((float)in * s - 1.0f);
	case RC_TF_HALF_PIXEL_NEAREST:
		return ((float)o + 0.5f) / s;
	default:
		return (float)o / s;
	}
}

/* The nearest input index to coordinate c, clamped to [0, in). */
static int64_t
resize_nearest(enum resize_nearest mode, float c, int64_t in)
{
	float r;
	int64_t k;

	switch (mode) {
	case RN_ROUND_PREFER_FLOOR:
		r = c - floorf(c) == 0.5f ? floorf(c) : roundf(c);
		break;
	case RN_ROUND_PREFER_CEIL:
		r = c - floorf(c) == 0.5f ? ceilf(c) : roundf(c);
		break;
	case RN_FLOOR:
		r = floorf(c);
		break;
	default:
		r = ceilf(c);
		break;
	}
	k = (int64_t)r;
	return k < 0 ? 0 : (k >= in ? in - 1 : k);
}

/* Per output index along one axis: the two input indices it reads and
 * the weight of the second (equal indices, weight 0 for nearest). */
struct resize_axis {
	int64_t *i0, *i1;
	float *wt;
};

/* tf_crop_and_resize: the input coordinate of output index o of out
 * across the box [r0, r1] (normalised) of an axis of length in. */
static float
crop_coord(int64_t o, int64_t in, int64_t out, float r0, float r1)
{
	double span = (double)(in - 1);

	if (out > 1)
		return (float)((double)r0 * span + (double)o * ((double)r1 - r0) * span /
		    (double)(out - 1));
	return (float)(0.5 * ((double)r0 + r1) * span);
}

/* d is the axis (for the roi); a tf_crop_and_resize index whose
 * coordinate falls outside [0, in - 1] gets i0 = -1: extrapolated. */
static void
resize_axis_table(const struct resize_par *rs, int d, int rank, int64_t in, int64_t out,
    float s, const struct resize_axis *t)
{
	for (int64_t o = 0; o < out; o++) {
		float c, f;
		if (rs->coord == RC_TF_CROP_AND_RESIZE) {
			c = crop_coord(o, in, out, rs->roi[d], rs->roi[rank + d]);
			if (!(c >= 0.0f && c <= (float)(in - 1))) {
				t->i0[o] = t->i1[o] = -1;
				t->wt[o] = 0.0f;
				continue;
			}
		} else {
			c = resize_coord(rs->coord, o, in, s);
		}
		if (!rs->linear) {
			t->i0[o] = t->i1[o] = resize_nearest(rs->nearest, c, in);
			t->wt[o] = 0.0f;
			continue;
		}
		if (c < 0.0f)
			c = 0.0f;
		if (c > (float)(in - 1))
			c = (float)(in - 1);
		f = floorf(c);
		t->i0[o] = (int64_t)f;
		t->i1[o] = t->i0[o] + 1 < in ? t->i0[o] + 1 : in - 1;
		t->wt[o] = c - f;
	}
}

/* Output element at idx: the weighted sum over the corners of the axes
 * where it falls between two inputs (one read for nearest). */
static float
resize_point(const struct val *x, const struct resize_axis *t, const int64_t *idx,
    const int64_t *xs, bool linear, float extrapolation)
{
	float acc = 0.0f;
	int nlin = 0, lin[EML_MAX_RANK];
	int64_t base = 0;

	for (int d = 0; d < x->rank; d++) {
		if (t[d].i0[idx[d]] < 0)
			return extrapolation;
		if (linear && t[d].i0[idx[d]] != t[d].i1[idx[d]])
			lin[nlin++] = d;
		base += t[d].i0[idx[d]] * xs[d];
	}
	for (int c = 0; c < (1 << nlin); c++) {
		float wgt = 1.0f;
		int64_t off = base;
		for (int j = 0; j < nlin; j++) {
			int d = lin[j];
			float w = t[d].wt[idx[d]];
			if (c & (1 << j)) {
				wgt *= w;
				off += (t[d].i1[idx[d]] - t[d].i0[idx[d]]) * xs[d];
			} else {
				wgt *= 1.0f - w;
			}
		}
		acc += wgt * vf(x)[off];
	}
	return acc;
}

/* Whether an axis's table maps every output index to itself (the leading
 * N and C axes of an image resize). Linear tables pair index o with o + 1
 * at weight 0 there: the generic loop adds those zero terms (and so turns
 * an infinity in the next channel into NaN); the 2-D path reads only the
 * index itself, as the operator means. */
static bool
resize_axis_identity(const struct resize_axis *t, int64_t in, int64_t out)
{
	if (in != out)
		return false;
	for (int64_t o = 0; o < out; o++)
		if (t->i0[o] != o || (t->i1[o] != o && t->wt[o] != 0.0f))
			return false;
	return true;
}

struct resize_job {
	struct eml_resize2d r;
	const float *x;
	float *y;
	size_t planes, per_task;
};

static void
resize_task(void *arg, size_t task, int thread)
{
	const struct resize_job *j = arg;
	size_t p0 = task * j->per_task;
	size_t n = j->planes - p0 < j->per_task ? j->planes - p0 : j->per_task;

	(void)thread;
	eml_resize2d_planes(&j->r, n, j->x + p0 * j->r.H * j->r.W, j->y + p0 * j->r.OH * j->r.OW);
}

/* An image resize (rank 4, N and C unchanged): the kernels' table-driven
 * 2-D planes, split by planes across the pool. */
static void
resize_run_2d(struct eml_plan *p, const struct val *x, struct val *y, const struct resize_axis *t,
    bool linear)
{
	struct resize_job j;
	size_t ntasks;

	j.r.H = (size_t)x->dims[2];
	j.r.W = (size_t)x->dims[3];
	j.r.OH = (size_t)y->dims[2];
	j.r.OW = (size_t)y->dims[3];
	j.r.ih0 = t[2].i0;
	j.r.ih1 = t[2].i1;
	j.r.wh = t[2].wt;
	j.r.iw0 = t[3].i0;
	j.r.iw1 = t[3].i1;
	j.r.ww = t[3].wt;
	j.r.linear = linear;
	j.x = vf(x);
	j.y = vf(y);
	j.planes = (size_t)(x->dims[0] * x->dims[1]);
	/* About eight tasks per thread so a thread that starts late still
	 * gets a share. */
	ntasks = (size_t)eml_pool_size(p->pool) * 8;
	j.per_task = (j.planes + ntasks - 1) / ntasks;
	ntasks = (j.planes + j.per_task - 1) / j.per_task;
	eml_pool_run(eml_pool_for(p->pool, (double)y->numel * (linear ? 12.0 : 4.0)), ntasks,
	    resize_task, &j);
}

static void
odo_step(int rank, const int64_t *dims, int64_t *idx)
{
	for (int d = rank - 1; d >= 0; d--) {
		if (++idx[d] < dims[d])
			return;
		idx[d] = 0;
	}
}

/* Cubic: per output index along an axis, four input indices (edge
 * replicated) and their weights (Keys' kernel with coefficient a; with
 * exclude_outside the taps outside the input weigh 0, the rest
 * renormalised). */
static void
cubic_axis_table(const struct resize_par *rs, int64_t in, int64_t out, float s, int64_t *idx,
    double *w)
{
	double a = rs->cubic_a;

	for (int64_t o = 0; o < out; o++) {
		double c = (double)resize_coord(rs->coord, o, in, s), f = floor(c), t = c - f, sum = 0;
		double d[4] = { 1 + t, t, 1 - t, 2 - t };
		for (int k = 0; k < 4; k++) {
			int64_t i = (int64_t)f - 1 + k;
			double x = d[k], wk = x <= 1 ? ((a + 2) * x - (a + 3)) * x * x + 1 :
			    ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;
			if (rs->exclude_outside && (i < 0 || i >= in))
				wk = 0;
			idx[o * 4 + k] = i < 0 ? 0 : i >= in ? in - 1 : i;
			w[o * 4 + k] = wk;
			sum += wk;
		}
		if (rs->exclude_outside && sum != 0)
			for (int k = 0; k < 4; k++)
				w[o * 4 + k] /= sum;
	}
}

static void
resize_run_cubic(struct pnode *pn, const struct val *x, struct val *y, uint8_t *ws)
{
	const struct resize_par *rs = &pn->par.resize;
	int64_t *ti[EML_MAX_RANK], xs[EML_MAX_RANK], idx[EML_MAX_RANK] = { 0 };
	double *tw[EML_MAX_RANK];
	int r = x->rank;

	for (int d = 0; d < r; d++) {
		size_t out = (size_t)y->dims[d];
		ti[d] = (int64_t *)(void *)ws;
		ws += out * 4 * sizeof(int64_t);
		tw[d] = (double *)(void *)ws;
		ws += out * 4 * sizeof(double);
		cubic_axis_table(rs, x->dims[d], y->dims[d], rs->scales[d], ti[d], tw[d]);
	}
	eml_dense_strides(r, x->dims, xs);
	for (size_t e = 0; e < y->numel; e++) {
		/* Every combination of the four taps of each axis, skipping
		 * zero weights (an unresized axis has one tap of weight 1). */
		int tap[EML_MAX_RANK] = { 0 };
		double acc = 0;
		for (;;) {
			double wgt = 1;
			int64_t off = 0;
			int d;
			for (d = 0; d < r && wgt != 0; d++) {
				wgt *= tw[d][idx[d] * 4 + tap[d]];
				off += ti[d][idx[d] * 4 + tap[d]] * xs[d];
			}
			if (wgt != 0)
				acc += wgt * (double)vf(x)[off];
			for (d = r - 1; d >= 0; d--) {
				if (++tap[d] < 4)
					break;
				tap[d] = 0;
			}
			if (d < 0)
				break;
		}
		vf(y)[e] = (float)acc;
		odo_step(r, y->dims, idx);
	}
}

static void
resize_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const struct resize_par *rs = &pn->par.resize;
	struct resize_axis t[EML_MAX_RANK];
	int64_t xs[EML_MAX_RANK], idx[EML_MAX_RANK] = { 0 };
	uint8_t *ws = pn->wsp;

	if (y->numel == 0)
		return;
	if (rs->cubic) {
		resize_run_cubic(pn, x, y, ws);
		return;
	}
	for (int d = 0; d < x->rank; d++) {
		size_t out = (size_t)y->dims[d];
		/* Weights are stored as 8-byte slots so that every table
		 * stays 8-byte aligned. */
		t[d].i0 = (int64_t *)(void *)ws;
		ws += out * sizeof(int64_t);
		t[d].i1 = (int64_t *)(void *)ws;
		ws += out * sizeof(int64_t);
		t[d].wt = (float *)(void *)ws;
		ws += out * sizeof(int64_t);
		resize_axis_table(rs, d, x->rank, x->dims[d], y->dims[d], rs->scales[d], &t[d]);
	}
	if (x->rank == 4 && !p->opts.no_fusion && rs->coord != RC_TF_CROP_AND_RESIZE &&
	    resize_axis_identity(&t[0], x->dims[0], y->dims[0]) &&
	    resize_axis_identity(&t[1], x->dims[1], y->dims[1])) {
		resize_run_2d(p, x, y, t, rs->linear);
		return;
	}
	eml_dense_strides(x->rank, x->dims, xs);
	for (size_t e = 0; e < y->numel; e++) {
		vf(y)[e] = resize_point(x, t, idx, xs, rs->linear, rs->extrapolation);
		for (int d = x->rank - 1; d >= 0; d--) {
			if (++idx[d] < y->dims[d])
				break;
			idx[d] = 0;
		}
	}
}

/* ---------------------------------------------------------------- table */

#define POOLATTRS "auto_pad:s ceil_mode:i dilations:I kernel_shape:I pads:I strides:I"
#define REDUCE(nm) { nm, "axes:I keepdims:i noop_with_empty_axes:i", PK_REDUCE, 1, 2, 1, 1, \
	reduce_plan, NULL, reduce_run, 0 }

const struct op eml_ops_nn[] = {
	{ "Conv", "auto_pad:s dilations:I group:i kernel_shape:I pads:I strides:I", PK_CONV, 2,
	    3, 1, 1, conv_plan, conv_prepare, conv_run, 0 },
	{ "ConvTranspose", "auto_pad:s dilations:I group:i kernel_shape:I output_padding:I "
	    "output_shape:I pads:I strides:I", PK_CONV, 2, 3, 1, 1, convt_plan, NULL, convt_run,
	    0 },
	{ "Gemm", "alpha:f beta:f transA:i transB:i broadcast:i", PK_GEMM, 2, 3, 1, 1, gemm_plan,
	    gemm_prepare, gemm_run, 0 },
	{ "MatMul", "", PK_MATMUL, 2, 2, 1, 1, matmul_plan, matmul_prepare, matmul_run, 0 },
	{ "BatchNormalization", "epsilon:f momentum:f spatial:i training_mode:i is_test:i",
	    PK_BATCHNORM, 5, 5, 1, 5, bn_plan, bn_prepare, bn_run, 0 },
	{ "MaxPool", POOLATTRS " storage_order:i", PK_POOL, 1, 1, 1, 2, pool_plan, NULL,
	    pool_run, 0 },
	{ "AveragePool", POOLATTRS " count_include_pad:i", PK_POOL, 1, 1, 1, 1, pool_plan, NULL,
	    pool_run, 0 },
	{ "GlobalAveragePool", "", PK_GLOBAL_POOL, 1, 1, 1, 1, gpool_plan, NULL, gpool_run, 0 },
	{ "GlobalMaxPool", "", PK_GLOBAL_POOL, 1, 1, 1, 1, gpool_plan, NULL, gpool_run, 0 },
	{ "Softmax", "axis:i", PK_SOFTMAX, 1, 1, 1, 1, softmax_plan, NULL, softmax_run, 0 },
	{ "LogSoftmax", "axis:i", PK_SOFTMAX, 1, 1, 1, 1, softmax_plan, NULL, softmax_run, 0 },
	REDUCE("ReduceMean"),
	REDUCE("ReduceSum"),
	REDUCE("ReduceMax"),
	REDUCE("ReduceMin"),
	REDUCE("ReduceProd"),
	REDUCE("ReduceL1"),
	REDUCE("ReduceL2"),
	REDUCE("ReduceSumSquare"),
	REDUCE("ReduceLogSumExp"),
	REDUCE("ReduceLogSum"),
	{ "LayerNormalization", "axis:i epsilon:f stash_type:i", PK_LAYERNORM, 2, 3, 1, 3,
	    ln_plan, NULL, ln_run, 0 },
	{ "Upsample", "mode:s scales:F", PK_RESIZE, 1, 2, 1, 1, resize_plan, NULL, resize_run, 0 },
	{ "Resize", "coordinate_transformation_mode:s cubic_coeff_a:f exclude_outside:i "
	    "extrapolation_value:f mode:s nearest_mode:s antialias:i axes:I "
	    "keep_aspect_ratio_policy:s", PK_RESIZE, 1, 4, 1, 1, resize_plan, NULL, resize_run,
	    0 },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};

/* Every operator by name, sorted, for a binary search: a node is looked
 * up two or three times per assembly (validation, the model, planning),
 * and a linear strcmp scan over the ~250 entries was a visible part of a
 * per-request assembly (issue 16). Built once; the first entry of a name
 * in table order wins, as the scan did. */
#define OPS_INDEX_MAX 1024

struct op_ent {
	const struct op *o;
	size_t seq;
};

static struct op_ent ops_index[OPS_INDEX_MAX];
static size_t ops_n;
static bool ops_indexed; /* false: too many for the index, scan */
static pthread_once_t ops_once = PTHREAD_ONCE_INIT;

static const struct op *const *
ops_tables(size_t *n)
{
	static const struct op *const tables[] = { eml_ops_basic, eml_ops_nn, eml_ops_extra,
		eml_ops_more, eml_ops_rnn, eml_ops_quant, eml_ops_index, eml_ops_signal,
		eml_ops_cf };

	*n = sizeof(tables) / sizeof(tables[0]);
	return tables;
}

static int
op_ent_cmp(const void *a, const void *b)
{
	const struct op_ent *x = a, *y = b;
	int c = strcmp(x->o->name, y->o->name);

	return c != 0 ? c : (x->seq > y->seq) - (x->seq < y->seq);
}

static void
ops_index_build(void)
{
	size_t nt, seq = 0, k = 0;
	const struct op *const *tables = ops_tables(&nt);

	for (size_t t = 0; t < nt; t++)
		for (const struct op *o = tables[t]; o->name != NULL; o++) {
			if (seq == OPS_INDEX_MAX)
				return; /* ops_indexed stays false */
			ops_index[seq].o = o;
			ops_index[seq].seq = seq;
			seq++;
		}
	/* eml_sort, not qsort: glibc's asks sysinfo(), which the agent's seccomp
	 * filter kills (the index is built at the first lookup, in a request) */
	eml_sort(ops_index, seq, sizeof(ops_index[0]), op_ent_cmp);
	for (size_t i = 0; i < seq; i++) /* a name once: its first entry */
		if (k == 0 || strcmp(ops_index[k - 1].o->name, ops_index[i].o->name) != 0)
			ops_index[k++] = ops_index[i];
	ops_n = k;
	ops_indexed = true;
}

const struct op *
eml_ops_find(const char *name)
{
	size_t lo = 0, hi, nt;
	const struct op *const *tables;

	(void)pthread_once(&ops_once, ops_index_build);
	if (ops_indexed) {
		hi = ops_n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(ops_index[mid].o->name, name);

			if (c == 0)
				return ops_index[mid].o;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return NULL;
	}
	tables = ops_tables(&nt);
	for (size_t t = 0; t < nt; t++)
		for (const struct op *o = tables[t]; o->name != NULL; o++)
			if (strcmp(o->name, name) == 0)
				return o;
	return NULL;
}
