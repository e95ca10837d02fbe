/*
 * Neural-network operators: convolutions, GEMM/MatMul, normalisation,
 * pooling, softmax, reductions and resize. Heavy loops are the kernels';
 * this file resolves ONNX attributes, shapes and layouts.
 */
#include <math.h>
#include <string.h>

#include "engine_int.h"
#include "eml_mem.h"
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
	int64_t k[2], s[2], d[2], pb[2], pe[2]; /* kernel, stride, dilation, pads */
};

static eml_err
auto_pad_check(const struct eml_node *n)
{
	const char *ap = eml_attr_s(n, "auto_pad", "NOTSET");

	if (strcmp(ap, "NOTSET") != 0 && strcmp(ap, "SAME_UPPER") != 0 &&
	    strcmp(ap, "SAME_LOWER") != 0 && strcmp(ap, "VALID") != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "auto_pad=%s not supported", ap);
	return EML_OK;
}

/* An optional per-spatial-axis INTS attribute (strides, dilations): when
 * present it must have exactly nsp values, which replace the defaults in dst. */
static eml_err
win_ints(const struct eml_node *n, const char *name, int nsp, int64_t *dst)
{
	size_t cnt;
	const int64_t *a = eml_attr_ints(n, name, &cnt);

	if (a == NULL)
		return EML_OK;
	if (cnt != (size_t)nsp)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "%s length %zu", name, cnt);
	for (int i = 0; i < nsp; i++)
		dst[i] = a[i];
	return EML_OK;
}

/* Read kernel_shape (or kernel dims), strides, dilations and pads. */
static eml_err
win_read(const struct eml_node *n, int nsp, const int64_t *kdims, struct win *w)
{
	size_t cnt;
	const int64_t *a;

	w->nsp = nsp;
	for (int i = 0; i < 2; i++) {
		w->k[i] = 1;
		w->s[i] = 1;
		w->d[i] = 1;
		w->pb[i] = w->pe[i] = 0;
	}
	a = eml_attr_ints(n, "kernel_shape", &cnt);
	if (a != NULL) {
		if (cnt != (size_t)nsp)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "kernel_shape length %zu", cnt);
		for (int i = 0; i < nsp; i++) {
			if (kdims != NULL && a[i] != kdims[i])
				return eml_pn_fail(n, EML_ERR_INFER_ATTR,
				    "kernel_shape differs from the weights");
			w->k[i] = a[i];
		}
	} else if (kdims != NULL) {
		for (int i = 0; i < nsp; i++)
			w->k[i] = kdims[i];
	} else {
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "kernel_shape missing");
	}
	EML_GUARD(win_ints(n, "strides", nsp, w->s));
	EML_GUARD(win_ints(n, "dilations", nsp, w->d));
	a = eml_attr_ints(n, "pads", &cnt);
	if (a != NULL) {
		if (cnt != 2 * (size_t)nsp)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR, "pads length %zu", cnt);
		for (int i = 0; i < nsp; i++) {
			w->pb[i] = a[i];
			w->pe[i] = a[nsp + i];
		}
	}
	for (int i = 0; i < nsp; i++) {
		if (w->k[i] < 1 || w->s[i] < 1 || w->d[i] < 1 || w->pb[i] < 0 || w->pe[i] < 0 ||
		    w->k[i] > 65536 || w->s[i] > 65536 || w->d[i] > 65536 ||
		    w->pb[i] > 65536 || w->pe[i] > 65536)
			return eml_pn_fail(n, EML_ERR_INFER_ATTR,
			    "kernel, stride, dilation or pad out of range");
	}
	return EML_OK;
}

/* Output size of a window op for input length in (floor or ceil), after
 * resolving auto_pad into explicit pads. */
static eml_err
win_out(const struct eml_node *n, struct win *w, const int64_t *in, bool ceil_mode,
    int64_t *out)
{
	const char *ap = eml_attr_s(n, "auto_pad", "NOTSET");

	for (int i = 0; i < w->nsp; i++) {
		int64_t ext = (w->k[i] - 1) * w->d[i] + 1, o;
		if (strcmp(ap, "VALID") == 0) {
			w->pb[i] = w->pe[i] = 0;
		} else if (strncmp(ap, "SAME", 4) == 0) {
			/* ONNX: output = ceil(in / stride); the total padding is
			 * split evenly, the odd one at the end (UPPER) or at the
			 * beginning (LOWER). */
			int64_t outl = (in[i] + w->s[i] - 1) / w->s[i];
			int64_t tot = (outl - 1) * w->s[i] + ext - in[i];
			if (tot < 0)
				tot = 0;
			w->pb[i] = strcmp(ap, "SAME_UPPER") == 0 ? tot / 2 : tot - tot / 2;
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

/* ip layout for Conv: [0] nsp, [1] N, [2] C, [3] H, [4] W, [5] M,
 * [6] kh, [7] kw, [8] sh, [9] sw, [10] dh, [11] dw, [12] pt, [13] pl,
 * [14] pb, [15] pr, [16] group, [17] OH, [18] OW, [19] const weights. */
static void
conv_params(const struct pnode *pn, struct eml_conv2d_params *cp)
{
	memset(cp, 0, sizeof(*cp));
	cp->N = (size_t)pn->ip[1];
	cp->C = (size_t)pn->ip[2];
	cp->H = (size_t)pn->ip[3];
	cp->W = (size_t)pn->ip[4];
	cp->M = (size_t)pn->ip[5];
	cp->kh = (size_t)pn->ip[6];
	cp->kw = (size_t)pn->ip[7];
	cp->stride_h = (size_t)pn->ip[8];
	cp->stride_w = (size_t)pn->ip[9];
	cp->dil_h = (size_t)pn->ip[10];
	cp->dil_w = (size_t)pn->ip[11];
	cp->pad_top = (size_t)pn->ip[12];
	cp->pad_left = (size_t)pn->ip[13];
	cp->pad_bottom = (size_t)pn->ip[14];
	cp->pad_right = (size_t)pn->ip[15];
	cp->group = (size_t)pn->ip[16];
	cp->ep = pn->ep;
}

static eml_err
conv_check(const struct eml_node *n, int64_t opset)
{
	(void)opset;
	EML_GUARD(auto_pad_check(n));
	if (eml_attr_i(n, "group", 1) < 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "group < 1");
	return EML_OK;
}

static eml_err
conv_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct win win;
	int64_t in[2], out[2], dims[4], group = eml_attr_i(pn->n, "group", 1), kd[2];
	int nsp;

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(need_float(p, pn, 1));
	if (x->rank != 3 && x->rank != 4)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%d-D convolution not supported",
		    x->rank - 2);
	nsp = x->rank - 2;
	if (w->rank != x->rank)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "weight rank %d", w->rank);
	if (x->dims[1] != w->dims[1] * group || w->dims[0] % group != 0 || w->dims[0] == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "channels %lld, weights %lld x %lld "
		    "groups", (long long)x->dims[1], (long long)w->dims[1], (long long)group);
	if (b != NULL && (b->dt != EML_DT_FLOAT || b->numel != (size_t)w->dims[0]))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "bias shape");
	for (int i = 0; i < nsp; i++) {
		in[i] = x->dims[2 + i];
		kd[i] = w->dims[2 + i];
	}
	EML_GUARD(win_read(pn->n, nsp, kd, &win));
	EML_GUARD(win_out(pn->n, &win, in, false, out));
	dims[0] = x->dims[0];
	dims[1] = w->dims[0];
	for (int i = 0; i < nsp; i++)
		dims[2 + i] = out[i];
	/* 1-D runs as 2-D with H = 1. */
	pn->ip[0] = nsp;
	pn->ip[1] = x->dims[0];
	pn->ip[2] = x->dims[1];
	pn->ip[3] = nsp == 2 ? in[0] : 1;
	pn->ip[4] = nsp == 2 ? in[1] : in[0];
	pn->ip[5] = w->dims[0];
	pn->ip[6] = nsp == 2 ? win.k[0] : 1;
	pn->ip[7] = nsp == 2 ? win.k[1] : win.k[0];
	pn->ip[8] = nsp == 2 ? win.s[0] : 1;
	pn->ip[9] = nsp == 2 ? win.s[1] : win.s[0];
	pn->ip[10] = nsp == 2 ? win.d[0] : 1;
	pn->ip[11] = nsp == 2 ? win.d[1] : win.d[0];
	pn->ip[12] = nsp == 2 ? win.pb[0] : 0;
	pn->ip[13] = nsp == 2 ? win.pb[1] : win.pb[0];
	pn->ip[14] = nsp == 2 ? win.pe[0] : 0;
	pn->ip[15] = nsp == 2 ? win.pe[1] : win.pe[0];
	pn->ip[16] = group;
	pn->ip[17] = nsp == 2 ? out[0] : 1;
	pn->ip[18] = nsp == 2 ? out[1] : out[0];
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

static eml_err
conv_prepare(struct eml_plan *p, struct pnode *pn)
{
	struct val *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct eml_conv2d_params cp;
	struct eml_sgemm_args ga;
	size_t ckk, ohw;
	eml_err rc;

	conv_params(pn, &cp);
	pn->ip[19] = w->kind == VK_CONST && (b == NULL || b->kind == VK_CONST);
	if (pn->ip[19]) {
		const float *wd = pn->w != NULL ? pn->w : vf(w);
		const float *bd = pn->b != NULL ? pn->b : (b != NULL ? vf(b) : NULL);
		rc = eml_conv2d_plan_new(&cp, wd, bd, p->opts.nthreads, &pn->conv);
		if (rc != EML_OK)
			return eml_pn_fail(pn->n, rc, "kernel refused the convolution");
		pn->ws = eml_conv2d_workspace_size(pn->conv) * sizeof(float);
		return EML_OK;
	}
	/* Weights computed at run time: im2col + GEMM per group. */
	ckk = cp.C / cp.group * cp.kh * cp.kw;
	ohw = (size_t)pn->ip[17] * (size_t)pn->ip[18];
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
	struct eml_conv2d_params cp;
	size_t OH = (size_t)pn->ip[17], OW = (size_t)pn->ip[18], ckk, mg, cg;
	float *col = pn->wsp;

	if (pn->conv != NULL) {
		eml_conv2d_run(pn->conv, vf(x), vf(y), pn->wsp, p->pool);
		return;
	}
	conv_params(pn, &cp);
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

static eml_err
convt_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct win win;
	int64_t group = eml_attr_i(pn->n, "group", 1), kd[2], dims[4], opad[2] = { 0, 0 };
	const int64_t *a;
	size_t cnt, ckk, hw;
	int nsp;
	const char *ap = eml_attr_s(pn->n, "auto_pad", "NOTSET");
	struct eml_sgemm_args ga;

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(need_float(p, pn, 1));
	if (x->rank != 3 && x->rank != 4)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%d-D not supported", x->rank - 2);
	nsp = x->rank - 2;
	if (w->rank != x->rank || w->dims[0] != x->dims[1] || x->dims[1] % group != 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "weight shape");
	if (b != NULL && (b->dt != EML_DT_FLOAT || b->numel != (size_t)(w->dims[1] * group)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "bias shape");
	for (int i = 0; i < nsp; i++)
		kd[i] = w->dims[2 + i];
	EML_GUARD(win_read(pn->n, nsp, kd, &win));
	a = eml_attr_ints(pn->n, "output_padding", &cnt);
	if (a != NULL) {
		if (cnt != (size_t)nsp)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "output_padding length");
		for (int i = 0; i < nsp; i++)
			opad[i] = a[i];
	}
	a = eml_attr_ints(pn->n, "output_shape", &cnt);
	dims[0] = x->dims[0];
	dims[1] = w->dims[1] * group;
	for (int i = 0; i < nsp; i++) {
		int64_t in = x->dims[2 + i], ext = (w->dims[2 + i] - 1) * win.d[i] + 1;
		int64_t full = win.s[i] * (in - 1) + opad[i] + ext, o;
		if (opad[i] < 0 || opad[i] >= win.s[i])
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "output_padding out of range");
		if (a != NULL || strncmp(ap, "SAME", 4) == 0) {
			/* ONNX ConvTranspose: total_padding = full - output_shape;
			 * SAME_UPPER puts the extra at the end (pads begin =
			 * total/2), otherwise at the beginning. */
			int64_t tot;
			if (a != NULL) {
				if (cnt != (size_t)nsp && cnt != (size_t)x->rank)
					return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
					    "output_shape length");
				o = a[cnt - (size_t)nsp + (size_t)i];
			} else {
				o = in * win.s[i];
			}
			tot = full - o;
			if (tot < 0)
				return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
				    "output_shape larger than the full output");
			if (strcmp(ap, "SAME_LOWER") == 0) {
				win.pb[i] = tot - tot / 2;
				win.pe[i] = tot / 2;
			} else {
				win.pb[i] = tot / 2;
				win.pe[i] = tot - tot / 2;
			}
		} else if (strcmp(ap, "VALID") == 0) {
			win.pb[i] = win.pe[i] = 0;
		}
		o = full - win.pb[i] - win.pe[i];
		if (o <= 0)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "empty output");
		dims[2 + i] = o;
	}
	pn->ip[0] = nsp;
	pn->ip[1] = x->dims[0];
	pn->ip[2] = x->dims[1];
	pn->ip[3] = nsp == 2 ? x->dims[2] : 1;
	pn->ip[4] = x->dims[x->rank - 1];
	pn->ip[5] = dims[1];
	pn->ip[6] = nsp == 2 ? win.k[0] : 1;
	pn->ip[7] = win.k[nsp - 1];
	pn->ip[8] = nsp == 2 ? win.s[0] : 1;
	pn->ip[9] = win.s[nsp - 1];
	pn->ip[10] = nsp == 2 ? win.d[0] : 1;
	pn->ip[11] = win.d[nsp - 1];
	pn->ip[12] = nsp == 2 ? win.pb[0] : 0;
	pn->ip[13] = win.pb[nsp - 1];
	pn->ip[16] = group;
	pn->ip[17] = nsp == 2 ? dims[2] : 1;
	pn->ip[18] = dims[x->rank - 1];
	ckk = (size_t)(dims[1] / group * pn->ip[6] * pn->ip[7]);
	hw = (size_t)(pn->ip[3] * pn->ip[4]);
	memset(&ga, 0, sizeof(ga));
	ga.M = ckk;
	ga.N = hw;
	ga.K = (size_t)(x->dims[1] / group);
	ga.lda = ckk;
	ga.trans_a = true;
	ga.ldb = hw;
	ga.ldc = hw;
	ga.alpha = 1.0f;
	pn->ws = (ckk * hw + eml_sgemm_workspace_size(&ga, p->opts.nthreads)) * sizeof(float);
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

static void
convt_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	struct val *y = eml_pn_out(p, pn, 0);
	size_t N = (size_t)pn->ip[1], C = (size_t)pn->ip[2], H = (size_t)pn->ip[3],
	       W = (size_t)pn->ip[4], M = (size_t)pn->ip[5], kh = (size_t)pn->ip[6],
	       kw = (size_t)pn->ip[7], G = (size_t)pn->ip[16], OH = (size_t)pn->ip[17],
	       OW = (size_t)pn->ip[18];
	int64_t sh = pn->ip[8], sw = pn->ip[9], dh = pn->ip[10], dw = pn->ip[11],
		pt = pn->ip[12], pl = pn->ip[13];
	size_t cg = C / G, mg = M / G, ckk = mg * kh * kw;
	float *col = pn->wsp;

	for (size_t n = 0; n < N; n++)
		for (size_t g = 0; g < G; g++) {
			struct eml_sgemm_args ga;
			float *yg = vf(y) + (n * M + g * mg) * OH * OW;
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
			for (size_t m = 0; m < mg; m++) {
				float bv = b != NULL ? vf(b)[g * mg + m] : 0.0f;
				for (size_t i = 0; i < OH * OW; i++)
					yg[m * OH * OW + i] = bv;
			}
			/* col2im: scatter-add every column into the output. */
			for (size_t m = 0; m < mg; m++)
				for (size_t i = 0; i < kh; i++)
					for (size_t j = 0; j < kw; j++) {
						const float *row = col + ((m * kh + i) * kw + j) * H * W;
						for (size_t ih = 0; ih < H; ih++) {
							int64_t oh = (int64_t)ih * sh - pt + (int64_t)i * dh;
							if (oh < 0 || oh >= (int64_t)OH)
								continue;
							for (size_t iw = 0; iw < W; iw++) {
								int64_t ow = (int64_t)iw * sw - pl +
								    (int64_t)j * dw;
								if (ow < 0 || ow >= (int64_t)OW)
									continue;
								yg[(m * OH + (size_t)oh) * OW + (size_t)ow] +=
								    row[ih * W + iw];
							}
						}
					}
		}
}

/* ---------------------------------------------------------------- Gemm */

/* ip: [0] M, [1] N, [2] K, [3] transA, [4] transB, [5] C mode
 * (0 none, 1 column bias, 2 row bias, 3 full broadcast copy);
 * fp: [0] alpha, [1] beta. */
static eml_err
gemm_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *c = eml_pn_in(p, pn, 2);
	int64_t ta = eml_attr_i(pn->n, "transA", 0), tb = eml_attr_i(pn->n, "transB", 0);
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
	pn->ip[0] = M;
	pn->ip[1] = N;
	pn->ip[2] = K;
	pn->ip[3] = ta != 0;
	pn->ip[4] = tb != 0;
	pn->fp[0] = eml_attr_f(pn->n, "alpha", 1.0f);
	pn->fp[1] = eml_attr_f(pn->n, "beta", 1.0f);
	pn->ip[5] = 0;
	if (c != NULL) {
		struct val o;
		int r;
		int64_t bd[EML_MAX_RANK];
		EML_GUARD(need_float(p, pn, 2));
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
			pn->ip[5] = 1;
		else if (c->kind == VK_CONST && c->rank == 2 && c->dims[1] == 1 && c->dims[0] == M)
			pn->ip[5] = 2;
		else
			pn->ip[5] = 3;
	}
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 2, dims);
}

static void
gemm_args(struct eml_plan *p, struct pnode *pn, struct eml_sgemm_args *ga)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);

	memset(ga, 0, sizeof(*ga));
	ga->M = (size_t)pn->ip[0];
	ga->N = (size_t)pn->ip[1];
	ga->K = (size_t)pn->ip[2];
	ga->A = a != NULL ? vf(a) : NULL;
	ga->lda = (size_t)a->dims[1];
	ga->trans_a = pn->ip[3] != 0;
	ga->B = b != NULL ? vf(b) : NULL;
	ga->ldb = (size_t)b->dims[1];
	ga->trans_b = pn->ip[4] != 0;
	ga->b_packed = pn->w;
	ga->C = y != NULL && y->data != NULL ? vf(y) : NULL;
	ga->ldc = ga->N;
	ga->alpha = pn->fp[0];
	ga->beta = pn->ip[5] == 3 ? pn->fp[1] : 0.0f;
	ga->bias = pn->b;
	ga->bias_kind = pn->ip[5] == 1 ? EML_BIAS_COL : pn->ip[5] == 2 ? EML_BIAS_ROW :
	    EML_BIAS_NONE;
	ga->ep = pn->ep;
}

static eml_err
gemm_prepare(struct eml_plan *p, struct pnode *pn)
{
	struct val *b = eml_pn_in(p, pn, 1), *c = eml_pn_in(p, pn, 2);
	struct eml_sgemm_args ga;
	size_t K = (size_t)pn->ip[2], N = (size_t)pn->ip[1], M = (size_t)pn->ip[0];

	if (b->kind == VK_CONST) {
		pn->w_n = eml_sgemm_packed_b_size(K, N);
		pn->w = eml_secure_alloc((pn->w_n == 0 ? 1 : pn->w_n) * sizeof(float));
		if (pn->w == NULL)
			return eml_pn_fail(pn->n, EML_ERR_NOMEM, "packing B");
		eml_sgemm_pack_b(K, N, vf(b), (size_t)b->dims[1], pn->ip[4] != 0, pn->w);
	}
	if (pn->ip[5] == 1 || pn->ip[5] == 2) {
		size_t n = pn->ip[5] == 1 ? N : M;
		pn->b_n = n;
		pn->b = eml_secure_alloc((n == 0 ? 1 : n) * sizeof(float));
		if (pn->b == NULL)
			return eml_pn_fail(pn->n, EML_ERR_NOMEM, "bias");
		for (size_t i = 0; i < n; i++)
			pn->b[i] = pn->fp[1] * vf(c)[c->numel == 1 ? 0 : i];
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

	if (pn->ip[5] == 3) {
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

static eml_err
gemm_check(const struct eml_node *n, int64_t opset)
{
	if (opset < 7)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "Gemm before opset 7 not supported");
	return EML_OK;
}

/* ---------------------------------------------------------------- MatMul */

/* ip: [0] M, [1] N, [2] K, [3] batch count, [4] batch rank,
 * [10] constant 2-D B packed (one GEMM over all rows),
 * [16..] batch dims, [24..] A batch strides, [32..] B batch strides
 * (in matrices). */
static eml_err
matmul_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1);
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
	pn->ip[0] = M;
	pn->ip[1] = N;
	pn->ip[2] = K;
	pn->ip[3] = prod(bdims, 0, br);
	pn->ip[4] = br;
	eml_bcast_strides(&ab, br, bdims, sa);
	eml_bcast_strides(&bb, br, bdims, sbs);
	for (int i = 0; i < br; i++) {
		pn->ip[16 + i] = bdims[i];
		pn->ip[24 + i] = (int64_t)sa[i];
		pn->ip[32 + i] = (int64_t)sbs[i];
	}
	pn->fp[2] = 1.0f; /* alpha, set by a fused scalar Div/Mul */
	/* B constant without batch dims: pack once; A's batch folds into M. */
	pn->ip[10] = b->kind == VK_CONST && rb <= 2;
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, r, dims);
}

static void
matmul_args(struct eml_plan *p, struct pnode *pn, struct eml_sgemm_args *ga)
{
	memset(ga, 0, sizeof(*ga));
	ga->M = (size_t)pn->ip[0];
	ga->N = (size_t)pn->ip[1];
	ga->K = (size_t)pn->ip[2];
	ga->lda = ga->K;
	ga->ldb = ga->N;
	ga->ldc = ga->N;
	ga->alpha = pn->fp[2];
	ga->ep = pn->ep;
	if (pn->bias_val >= 0) {
		ga->bias = vf(&p->v[pn->bias_val]);
		ga->bias_kind = EML_BIAS_COL;
	}
	if (pn->ip[10]) {
		ga->M *= (size_t)pn->ip[3];
		ga->b_packed = pn->w;
	}
}

static eml_err
matmul_prepare(struct eml_plan *p, struct pnode *pn)
{
	struct val *b = eml_pn_in(p, pn, 1);
	struct eml_sgemm_args ga;
	size_t K = (size_t)pn->ip[2], N = (size_t)pn->ip[1];

	if (pn->ip[10]) {
		pn->w_n = eml_sgemm_packed_b_size(K, N);
		pn->w = eml_secure_alloc((pn->w_n == 0 ? 1 : pn->w_n) * sizeof(float));
		if (pn->w == NULL)
			return eml_pn_fail(pn->n, EML_ERR_NOMEM, "packing B");
		eml_sgemm_pack_b(K, N, vf(b), N, false, pn->w);
	}
	matmul_args(p, pn, &ga);
	pn->ws = eml_sgemm_workspace_size(&ga, p->opts.nthreads) * sizeof(float);
	return EML_OK;
}

static void
matmul_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *a = eml_pn_in(p, pn, 0), *b = eml_pn_in(p, pn, 1), *y = eml_pn_out(p, pn, 0);
	struct eml_sgemm_args ga;
	size_t M = (size_t)pn->ip[0], N = (size_t)pn->ip[1], K = (size_t)pn->ip[2];
	size_t nb = (size_t)pn->ip[3], oa = 0, ob = 0;
	int br = (int)pn->ip[4];
	int64_t idx[EML_MAX_RANK] = { 0 };

	matmul_args(p, pn, &ga);
	if (y->numel == 0)
		return;
	if (pn->ip[10]) {
		ga.A = vf(a);
		ga.C = vf(y);
		eml_sgemm(&ga, pn->wsp, p->pool);
		return;
	}
	for (size_t i = 0; i < nb; i++) {
		ga.A = vf(a) + oa * M * K;
		ga.B = vf(b) + ob * K * N;
		ga.C = vf(y) + i * M * N;
		eml_sgemm(&ga, pn->wsp, p->pool);
		for (int d = br - 1; d >= 0; d--) {
			idx[d]++;
			oa += (size_t)pn->ip[24 + d];
			ob += (size_t)pn->ip[32 + d];
			if (idx[d] < pn->ip[16 + d])
				break;
			oa -= (size_t)(pn->ip[24 + d] * pn->ip[16 + d]);
			ob -= (size_t)(pn->ip[32 + d] * pn->ip[16 + d]);
			idx[d] = 0;
		}
	}
}

/* ---------------------------------------------------------------- BatchNorm */

static eml_err
bn_check(const struct eml_node *n, int64_t opset)
{
	(void)opset;
	if (eml_attr_i(n, "spatial", 1) != 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "spatial=0 not supported");
	if (eml_attr_i(n, "training_mode", 0) != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "training_mode=1 not supported");
	if (n->n_outputs > 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "training outputs not supported");
	if (eml_node_attr(n, "is_test") != NULL && eml_attr_i(n, "is_test", 0) == 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "is_test=0 not supported");
	return EML_OK;
}

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
	pn->fp[0] = eml_attr_f(pn->n, "epsilon", 1e-5f);
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
		s[c] = sc[c] / sqrtf(var[c] + pn->fp[0]);
		t[c] = sh[c] - mean[c] * s[c];
	}
	p->k->channel_affine((size_t)x->dims[0], C, (size_t)prod(x->dims, 2, x->rank), vf(x), s,
	    t, vf(y));
}

/* ---------------------------------------------------------------- pools */

static eml_err
pool_check(const struct eml_node *n, int64_t opset)
{
	(void)opset;
	EML_GUARD(auto_pad_check(n));
	if (n->n_outputs > 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "Indices output not supported");
	if (eml_attr_i(n, "storage_order", 0) != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "storage_order=1 not supported");
	return EML_OK;
}

/* ip: [0] NC, [1] H, [2] W, [3] kh, [4] kw, [5] sh, [6] sw, [7] dh, [8] dw,
 * [9] pt, [10] pl, [11] OH, [12] OW, [13] count_include_pad, [14] max. */
static eml_err
pool_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct win w;
	int64_t in[2], out[2], dims[4];
	bool ceil_mode = eml_attr_i(pn->n, "ceil_mode", 0) != 0;
	bool is_max = strcmp(pn->op->name, "MaxPool") == 0;
	int nsp;

	EML_GUARD(need_float(p, pn, 0));
	if (x->rank != 3 && x->rank != 4)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "%d-D pooling not supported",
		    x->rank - 2);
	nsp = x->rank - 2;
	for (int i = 0; i < nsp; i++)
		in[i] = x->dims[2 + i];
	EML_GUARD(win_read(pn->n, nsp, NULL, &w));
	EML_GUARD(win_out(pn->n, &w, in, ceil_mode, out));
	pn->ip[13] = !is_max && eml_attr_i(pn->n, "count_include_pad", 0) != 0;
	for (int i = 0; i < nsp; i++) {
		int64_t ext = (w.k[i] - 1) * w.d[i] + 1;
		/* The kernel divides by kh*kw with count_include_pad, which is
		 * wrong for a ceil-mode window past the end padding. */
		if (pn->ip[13] && (out[i] - 1) * w.s[i] + ext > in[i] + w.pb[i] + w.pe[i])
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
	pn->ip[0] = x->dims[0] * x->dims[1];
	pn->ip[1] = nsp == 2 ? in[0] : 1;
	pn->ip[2] = in[nsp - 1];
	pn->ip[3] = nsp == 2 ? w.k[0] : 1;
	pn->ip[4] = w.k[nsp - 1];
	pn->ip[5] = nsp == 2 ? w.s[0] : 1;
	pn->ip[6] = w.s[nsp - 1];
	pn->ip[7] = nsp == 2 ? w.d[0] : 1;
	pn->ip[8] = w.d[nsp - 1];
	pn->ip[9] = nsp == 2 ? w.pb[0] : 0;
	pn->ip[10] = w.pb[nsp - 1];
	pn->ip[11] = nsp == 2 ? out[0] : 1;
	pn->ip[12] = out[nsp - 1];
	pn->ip[14] = is_max;
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

static void
pool_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	const int64_t *q = pn->ip;

	p->k->pool2d(q[14] != 0, (size_t)q[0], (size_t)q[1], (size_t)q[2], (size_t)q[3],
	    (size_t)q[4], (size_t)q[5], (size_t)q[6], (size_t)q[7], (size_t)q[8], (size_t)q[9],
	    (size_t)q[10], (size_t)q[11], (size_t)q[12], q[13] != 0, vf(x), vf(y));
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
	pn->ip[0] = strcmp(pn->op->name, "GlobalMaxPool") == 0;
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

static void
gpool_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);

	p->k->global_pool(pn->ip[0] != 0, (size_t)(x->dims[0] * x->dims[1]),
	    (size_t)prod(x->dims, 2, x->rank), vf(x), vf(y));
}

/* ---------------------------------------------------------------- Softmax */

/* ip: [0] outer, [1] n (softmax length), [2] inner stride (1 when the
 * axis is last or for the coerced 2-D form), [3] log. */
static eml_err
softmax_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t opset = p->m->g->opset;
	int axis;

	EML_GUARD(need_float(p, pn, 0));
	if (x->rank == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "scalar input");
	EML_GUARD(eml_axis(pn->n, eml_attr_i(pn->n, "axis", opset >= 13 ? -1 : 1), x->rank, 0,
	    &axis));
	pn->ip[3] = strcmp(pn->op->name, "LogSoftmax") == 0;
	if (opset < 13) {
		/* Softmax-1/11: the input is coerced to 2-D at axis. */
		pn->ip[0] = prod(x->dims, 0, axis);
		pn->ip[1] = prod(x->dims, axis, x->rank);
		pn->ip[2] = 1;
	} else {
		pn->ip[0] = prod(x->dims, 0, axis);
		pn->ip[1] = x->dims[axis];
		pn->ip[2] = prod(x->dims, axis + 1, x->rank);
	}
	pn->ws = pn->ip[2] == 1 ? 0 : 2 * x->numel * sizeof(float);
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, x->dims);
}

static void
softmax_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	size_t outer = (size_t)pn->ip[0], n = (size_t)pn->ip[1], inner = (size_t)pn->ip[2];
	float *t, *u;

	if (x->numel == 0)
		return;
	if (inner == 1) {
		p->k->softmax(outer, n, vf(x), vf(y), pn->ip[3] != 0);
		return;
	}
	/* Axis in the middle: gather each line into a row, softmax, scatter. */
	t = pn->wsp;
	u = t + x->numel;
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++)
			for (size_t j = 0; j < n; j++)
				t[(o * inner + i) * n + j] = vf(x)[(o * n + j) * inner + i];
	p->k->softmax(outer * inner, n, t, u, pn->ip[3] != 0);
	for (size_t o = 0; o < outer; o++)
		for (size_t i = 0; i < inner; i++)
			for (size_t j = 0; j < n; j++)
				vf(y)[(o * n + j) * inner + i] = u[(o * inner + i) * n + j];
}

/* ---------------------------------------------------------------- Reduce */

/* ip: [0] kind (0 sum, 1 mean, 2 max), [1] rows, [2] n (reduced count),
 * [3] needs transpose, [8..15] gather strides of the permuted input,
 * [16..23] permuted dims, [4] rank. */
static eml_err
reduce_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	int64_t axes[EML_MAX_RANK], dims[EML_MAX_RANK], xs[EML_MAX_RANK];
	bool red[EML_MAX_RANK] = { false };
	size_t n = 0;
	int r = 0, perm[EML_MAX_RANK], np = 0;
	bool keep = eml_attr_i(pn->n, "keepdims", 1) != 0;
	bool noop = eml_attr_i(pn->n, "noop_with_empty_axes", 0) != 0;
	int64_t rows = 1, cnt = 1;
	bool trailing = true;

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	if (eml_pn_in(p, pn, 1) != NULL)
		EML_GUARD(eml_pn_const_ints(p, pn, 1, axes, EML_MAX_RANK, &n));
	else {
		const int64_t *a = eml_attr_ints(pn->n, "axes", &n);
		if (n > EML_MAX_RANK)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "too many axes");
		for (size_t i = 0; i < n; i++)
			axes[i] = a[i];
	}
	if (n == 0 && noop)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
		    "noop_with_empty_axes with empty axes not supported");
	for (size_t i = 0; i < n; i++) {
		int ax;
		EML_GUARD(eml_axis(pn->n, axes[i], x->rank, 0, &ax));
		red[ax] = true;
	}
	if (n == 0)
		for (int i = 0; i < x->rank; i++)
			red[i] = true;
	for (int i = 0; i < x->rank; i++) {
		if (red[i]) {
			cnt *= x->dims[i];
			if (keep)
				dims[r++] = 1;
		} else {
			rows *= x->dims[i];
			dims[r++] = x->dims[i];
		}
	}
	/* Kept axes first, reduced axes last: a row per output element. */
	for (int i = 0; i < x->rank; i++)
		if (!red[i])
			perm[np++] = i;
	for (int i = 0; i < x->rank; i++)
		if (red[i])
			perm[np++] = i;
	for (int i = 0; i < x->rank; i++)
		if (perm[i] != i)
			trailing = false;
	eml_dense_strides(x->rank, x->dims, xs);
	for (int i = 0; i < x->rank; i++) {
		pn->ip[8 + i] = xs[perm[i]];
		pn->ip[16 + i] = x->dims[perm[i]];
	}
	{
		static const char *const kinds[] = { "ReduceSum", "ReduceMean", "ReduceMax",
			"ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
			"ReduceLogSumExp", "ReduceLogSum" };
		pn->ip[0] = 0;
		for (int k = 0; k < 10; k++)
			if (strcmp(pn->op->name, kinds[k]) == 0)
				pn->ip[0] = k;
	}
	if ((pn->ip[0] == 2 || pn->ip[0] == 3) && cnt == 0)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "max over an empty axis");
	pn->ip[1] = rows;
	pn->ip[2] = cnt;
	pn->ip[3] = !trailing;
	pn->ip[4] = x->rank;
	pn->ws = trailing ? 0 : x->numel * sizeof(float);
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, r, dims);
}

static void
reduce_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	size_t rows = (size_t)pn->ip[1], n = (size_t)pn->ip[2];
	const float *src = vf(x);

	if (pn->ip[3]) {
		eml_copy_strided(pn->wsp, vf(x), 4, (int)pn->ip[4], &pn->ip[16], &pn->ip[8]);
		src = pn->wsp;
	}
	if (pn->ip[0] >= 3) {
		/* The less common reductions, in plain loops. */
		for (size_t r = 0; r < rows; r++) {
			const float *xr = src + r * n;
			double acc = pn->ip[0] == 4 ? 1.0 : 0.0;
			float m = INFINITY;
			if (pn->ip[0] == 8) {
				m = -INFINITY;
				for (size_t i = 0; i < n; i++)
					m = xr[i] > m ? xr[i] : m;
			}
			for (size_t i = 0; i < n; i++) {
				switch (pn->ip[0]) {
				case 3:
					m = xr[i] < m || xr[i] != xr[i] ? xr[i] : m;
					break;
				case 4:
					acc *= xr[i];
					break;
				case 5:
					acc += fabs((double)xr[i]);
					break;
				case 8:
					acc += exp((double)xr[i] - (double)m);
					break;
				case 9:
					acc += (double)xr[i];
					break;
				default:
					acc += (double)xr[i] * (double)xr[i];
					break;
				}
			}
			vf(y)[r] = pn->ip[0] == 3 ? m : pn->ip[0] == 6 ? (float)sqrt(acc) :
			    pn->ip[0] == 8 ? (float)(log(acc) + (double)m) :
			    pn->ip[0] == 9 ? (float)log(acc) : (float)acc;
		}
		return;
	}
	if (n == 0) {
		for (size_t i = 0; i < rows; i++)
			vf(y)[i] = pn->ip[0] == 1 ? NAN : 0.0f;
		return;
	}
	if (pn->ip[0] == 2)
		p->k->reduce_max(rows, n, src, vf(y));
	else
		p->k->reduce_sum(rows, n, src, vf(y));
	if (pn->ip[0] == 1)
		p->k->binary_scalar(EML_BINARY_DIV, rows, vf(y), (float)n, false, vf(y));
}

static eml_err
reduce_check(const struct eml_node *n, int64_t opset)
{
	(void)opset;
	(void)n;
	return EML_OK;
}

/* ---------------------------------------------------------------- LayerNorm */

static eml_err
ln_check(const struct eml_node *n, int64_t opset)
{
	(void)opset;
	if (eml_attr_i(n, "stash_type", 1) != 1)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "stash_type not supported");
	return EML_OK;
}

static eml_err
ln_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *g = eml_pn_in(p, pn, 1), *b = eml_pn_in(p, pn, 2);
	int axis;
	int64_t inner;

	EML_GUARD(need_float(p, pn, 0));
	EML_GUARD(need_float(p, pn, 1));
	EML_GUARD(eml_axis(pn->n, eml_attr_i(pn->n, "axis", -1), x->rank, 0, &axis));
	inner = prod(x->dims, axis, x->rank);
	if (g->numel != (size_t)inner || (b != NULL && (b->dt != EML_DT_FLOAT ||
	    b->numel != (size_t)inner)))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE,
		    "scale/bias must cover the normalised shape");
	pn->ip[0] = prod(x->dims, 0, axis);
	pn->ip[1] = inner;
	pn->fp[0] = eml_attr_f(pn->n, "epsilon", 1e-5f);
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

	if (pn->ip[1] == 0)
		return;
	if (mo != NULL || so != NULL) {
		size_t rows = (size_t)pn->ip[0], n = (size_t)pn->ip[1];
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
				vf(so)[r] = 1.0f / sqrtf(var + pn->fp[0]);
		}
	}
	p->k->layernorm((size_t)pn->ip[0], (size_t)pn->ip[1], vf(x), vf(g),
	    b != NULL ? vf(b) : NULL, pn->fp[0], vf(y));
}

/* ---------------------------------------------------------------- Resize */

enum { CT_HALF = 0, CT_PYTORCH, CT_ALIGN, CT_ASYM, CT_TF_NEAREST };
enum { NM_RPF = 0, NM_RPC, NM_FLOOR, NM_CEIL };

static eml_err
resize_check(const struct eml_node *n, int64_t opset)
{
	const char *mode = eml_attr_s(n, "mode", "nearest");
	const char *ct = eml_attr_s(n, "coordinate_transformation_mode", "half_pixel");
	const char *nm = eml_attr_s(n, "nearest_mode", "round_prefer_floor");

	if (strcmp(mode, "nearest") != 0 && strcmp(mode, "linear") != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "mode=%s not supported", mode);
	if (opset >= 11 && strcmp(ct, "half_pixel") != 0 && strcmp(ct, "pytorch_half_pixel") != 0 &&
	    strcmp(ct, "align_corners") != 0 && strcmp(ct, "asymmetric") != 0 &&
	    !(strcmp(ct, "tf_half_pixel_for_nearest") == 0 && strcmp(mode, "nearest") == 0))
		return eml_pn_fail(n, EML_ERR_INFER_ATTR,
		    "coordinate_transformation_mode=%s not supported", ct);
	if (strcmp(nm, "round_prefer_floor") != 0 && strcmp(nm, "round_prefer_ceil") != 0 &&
	    strcmp(nm, "floor") != 0 && strcmp(nm, "ceil") != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "nearest_mode=%s not supported", nm);
	if (eml_attr_i(n, "antialias", 0) != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "antialias not supported");
	if (strcmp(eml_attr_s(n, "keep_aspect_ratio_policy", "stretch"), "stretch") != 0)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "keep_aspect_ratio_policy not supported");
	if (eml_node_attr(n, "axes") != NULL)
		return eml_pn_fail(n, EML_ERR_INFER_ATTR, "axes not supported");
	return EML_OK;
}

/* ip: [0] linear, [1] coordinate mode, [2] nearest mode; fp unused;
 * pn->b holds the per-dimension scales (rank floats). */
static eml_err
resize_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *sv, *zv;
	int64_t opset = p->m->g->opset, dims[EML_MAX_RANK], sizes[EML_MAX_RANK];
	const char *ct = eml_attr_s(pn->n, "coordinate_transformation_mode", "half_pixel");
	const char *nm = eml_attr_s(pn->n, "nearest_mode", "round_prefer_floor");
	float scales[EML_MAX_RANK];
	size_t ns = 0;

	EML_GUARD(need_float(p, pn, 0));
	pn->ip[0] = strcmp(eml_attr_s(pn->n, "mode", "nearest"), "linear") == 0;
	if (opset < 11) {
		pn->ip[1] = CT_ASYM;
		pn->ip[2] = NM_FLOOR;
		sv = eml_pn_in(p, pn, 1);
		zv = NULL;
	} else {
		pn->ip[1] = strcmp(ct, "half_pixel") == 0 ? CT_HALF :
		    strcmp(ct, "pytorch_half_pixel") == 0 ? CT_PYTORCH :
		    strcmp(ct, "align_corners") == 0 ? CT_ALIGN :
		    strcmp(ct, "asymmetric") == 0 ? CT_ASYM : CT_TF_NEAREST;
		pn->ip[2] = strcmp(nm, "round_prefer_floor") == 0 ? NM_RPF :
		    strcmp(nm, "round_prefer_ceil") == 0 ? NM_RPC :
		    strcmp(nm, "floor") == 0 ? NM_FLOOR : NM_CEIL;
		sv = eml_pn_in(p, pn, 2);
		zv = eml_pn_in(p, pn, 3);
	}
	if (sv != NULL && sv->numel == 0)
		sv = NULL;
	if (zv != NULL && zv->numel == 0)
		zv = NULL;
	if ((sv == NULL) == (zv == NULL))
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "exactly one of scales/sizes needed");
	if (sv != NULL) {
		if (sv->kind != VK_CONST || sv->dt != EML_DT_FLOAT)
			return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
			    "scales must be a float constant");
		if (sv->numel != (size_t)x->rank)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "%zu scales for rank %d",
			    sv->numel, x->rank);
		for (int i = 0; i < x->rank; i++) {
			scales[i] = vf(sv)[i];
			if (!(scales[i] > 0.0f) || scales[i] > 65536.0f)
				return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "scale %g", scales[i]);
			dims[i] = (int64_t)floorf((float)x->dims[i] * scales[i]);
		}
	} else {
		EML_GUARD(eml_pn_const_ints(p, pn, opset < 11 ? 1 : 3, sizes, EML_MAX_RANK, &ns));
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
	for (int i = 0; i < x->rank; i++)
		pn->fp[i < PN_FP ? i : 0] = scales[i];
	/* Workspace: per dimension two indices (as int64) and a weight. */
	pn->ws = 0;
	for (int i = 0; i < x->rank; i++)
		pn->ws += (size_t)dims[i] * 3 * sizeof(int64_t);
	return eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, x->rank, dims);
}

static void
resize_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	int rank = x->rank;
	int64_t *i0[EML_MAX_RANK], *i1[EML_MAX_RANK], idx[EML_MAX_RANK] = { 0 };
	float *wt[EML_MAX_RANK];
	int64_t xs[EML_MAX_RANK];
	uint8_t *ws = pn->wsp;
	bool linear = pn->ip[0] != 0;

	(void)p;
	if (y->numel == 0)
		return;
	for (int d = 0; d < rank; d++) {
		int64_t in = x->dims[d], out = y->dims[d];
		float s = pn->fp[d];
		/* Weights are stored as 8-byte slots so that every table
		 * stays 8-byte aligned. */
		i0[d] = (int64_t *)(void *)ws;
		ws += (size_t)out * sizeof(int64_t);
		i1[d] = (int64_t *)(void *)ws;
		ws += (size_t)out * sizeof(int64_t);
		wt[d] = (float *)(void *)ws;
		ws += (size_t)out * sizeof(int64_t);
		for (int64_t o = 0; o < out; o++) {
			float c;
			switch (pn->ip[1]) {
			case CT_HALF:
				c = ((float)o + 0.5f) / s - 0.5f;
				break;
			/* ONNX Resize: length_resized is in * scale, unrounded when
			 * scales are given (== the output size with sizes). */
			case CT_PYTORCH:
				c = (float)in * s > 1.0f ? ((float)o + 0.5f) / s - 0.5f : 0.0f;
				break;
			case CT_ALIGN:
				c = (float)in * s == 1.0f ? 0.0f :
				    (float)o * (float)(in - 1) / ((float)in * s - 1.0f);
				break;
			case CT_TF_NEAREST:
				c = ((float)o + 0.5f) / s;
				break;
			default:
				c = (float)o / s;
				break;
			}
			if (linear) {
				float f;
				if (c < 0.0f)
					c = 0.0f;
				if (c > (float)(in - 1))
					c = (float)(in - 1);
				f = floorf(c);
				i0[d][o] = (int64_t)f;
				i1[d][o] = i0[d][o] + 1 < in ? i0[d][o] + 1 : in - 1;
				wt[d][o] = c - f;
			} else {
				float r;
				int64_t k;
				switch (pn->ip[2]) {
				case NM_RPF:
					r = c - floorf(c) == 0.5f ? floorf(c) : roundf(c);
					break;
				case NM_RPC:
					r = c - floorf(c) == 0.5f ? ceilf(c) : roundf(c);
					break;
				case NM_FLOOR:
					r = floorf(c);
					break;
				default:
					r = ceilf(c);
					break;
				}
				k = (int64_t)r;
				k = k < 0 ? 0 : (k >= in ? in - 1 : k);
				i0[d][o] = i1[d][o] = k;
				wt[d][o] = 0.0f;
			}
		}
	}
	eml_dense_strides(rank, x->dims, xs);
	for (size_t e = 0; e < y->numel; e++) {
		float acc = 0.0f;
		int nlin = 0, lin[EML_MAX_RANK];
		int64_t base = 0;
		for (int d = 0; d < rank; d++) {
			if (linear && i0[d][idx[d]] != i1[d][idx[d]])
				lin[nlin++] = d;
			base += i0[d][idx[d]] * xs[d];
		}
		/* Multilinear: sum over the corners of the resized dims. */
		for (int c = 0; c < (1 << nlin); c++) {
			float wgt = 1.0f;
			int64_t off = base;
			for (int j = 0; j < nlin; j++) {
				int d = lin[j];
				float w = wt[d][idx[d]];
				if (c & (1 << j)) {
					wgt *= w;
					off += (i1[d][idx[d]] - i0[d][idx[d]]) * xs[d];
				} else {
					wgt *= 1.0f - w;
				}
			}
			acc += wgt * vf(x)[off];
		}
		vf(y)[e] = acc;
		for (int d = rank - 1; d >= 0; d--) {
			if (++idx[d] < y->dims[d])
				break;
			idx[d] = 0;
		}
	}
}

/* ---------------------------------------------------------------- table */

#define POOLATTRS "auto_pad:s ceil_mode:i dilations:I kernel_shape:I pads:I strides:I"

const struct op eml_ops_nn[] = {
	{ "Conv", "auto_pad:s dilations:I group:i kernel_shape:I pads:I strides:I", 2, 3, 1, 1,
	    conv_check, conv_plan, conv_prepare, conv_run, 0 },
	{ "ConvTranspose", "auto_pad:s dilations:I group:i kernel_shape:I output_padding:I "
	    "output_shape:I pads:I strides:I", 2, 3, 1, 1, conv_check, convt_plan, NULL,
	    convt_run, 0 },
	{ "Gemm", "alpha:f beta:f transA:i transB:i", 2, 3, 1, 1, gemm_check, gemm_plan,
	    gemm_prepare, gemm_run, 0 },
	{ "MatMul", "", 2, 2, 1, 1, NULL, matmul_plan, matmul_prepare, matmul_run, 0 },
	{ "BatchNormalization", "epsilon:f momentum:f spatial:i training_mode:i is_test:i", 5, 5,
	    1, 5, bn_check, bn_plan, bn_prepare, bn_run, 0 },
	{ "MaxPool", POOLATTRS " storage_order:i", 1, 1, 1, 2, pool_check, pool_plan, NULL,
	    pool_run, 0 },
	{ "AveragePool", POOLATTRS " count_include_pad:i", 1, 1, 1, 1, pool_check, pool_plan,
	    NULL, pool_run, 0 },
	{ "GlobalAveragePool", "", 1, 1, 1, 1, NULL, gpool_plan, NULL, gpool_run, 0 },
	{ "GlobalMaxPool", "", 1, 1, 1, 1, NULL, gpool_plan, NULL, gpool_run, 0 },
	{ "Softmax", "axis:i", 1, 1, 1, 1, NULL, softmax_plan, NULL, softmax_run, 0 },
	{ "LogSoftmax", "axis:i", 1, 1, 1, 1, NULL, softmax_plan, NULL, softmax_run, 0 },
	{ "ReduceMean", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1, reduce_check,
	    reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceSum", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1, reduce_check,
	    reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceMax", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1, reduce_check,
	    reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceMin", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1, reduce_check,
	    reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceProd", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1, reduce_check,
	    reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceL1", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1, reduce_check,
	    reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceL2", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1, reduce_check,
	    reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceSumSquare", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1,
	    reduce_check, reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceLogSumExp", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1,
	    reduce_check, reduce_plan, NULL, reduce_run, 0 },
	{ "ReduceLogSum", "axes:I keepdims:i noop_with_empty_axes:i", 1, 2, 1, 1,
	    reduce_check, reduce_plan, NULL, reduce_run, 0 },
	{ "LayerNormalization", "axis:i epsilon:f stash_type:i", 2, 3, 1, 3, ln_check, ln_plan,
	    NULL, ln_run, 0 },
	{ "Resize", "coordinate_transformation_mode:s cubic_coeff_a:f exclude_outside:i "
	    "extrapolation_value:f mode:s nearest_mode:s antialias:i axes:I "
	    "keep_aspect_ratio_policy:s", 1, 4, 1, 1, resize_check, resize_plan, NULL,
	    resize_run, 0 },
	{ NULL, NULL, 0, 0, 0, 0, NULL, NULL, NULL, NULL, 0 },
};

const struct op *
eml_ops_find(const char *name)
{
	const struct op *tables[] = { eml_ops_basic, eml_ops_nn, eml_ops_extra };

	for (size_t t = 0; t < 3; t++)
		for (const struct op *o = tables[t]; o->name != NULL; o++)
			if (strcmp(o->name, name) == 0)
				return o;
	return NULL;
}
