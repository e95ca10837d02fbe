/*
 * Audio front-end operators (issue 19): DFT (opsets 17 and 20), STFT and
 * MelWeightMatrix, in plain loops with float64 accumulation. A transform
 * of length L costs L times the samples it reads per signal, O(L^2): the
 * frames of speech front ends (a few hundred samples) are cheap, a DFT
 * over a whole long signal is slow (no FFT yet). Every length comes from
 * a constant input, and the output it implies is bounded by the plan's
 * tensor limit (eml_pn_set_out) before the workspace is sized from it.
 */
#include <math.h>
#include <string.h>

#include "engine_int.h"
#include "ops.h"

/* Largest transform length taken from an input (frame or dft_length);
 * the output's tensor limit is the tighter bound in practice. */
#define DFT_MAX_LEN ((int64_t)1 << 24)

/* A constant scalar integer input k (absent: def, unless required). */
static eml_err
const_scalar(struct eml_plan *p, struct pnode *pn, size_t k, bool required, int64_t def,
    int64_t *out)
{
	struct val *v = eml_pn_in(p, pn, k);
	size_t n = 0;

	if (v == NULL || v->numel == 0) {
		if (required)
			return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "input %zu missing", k);
		*out = def;
		return EML_OK;
	}
	EML_GUARD(eml_pn_const_ints(p, pn, k, out, 1, &n));
	if (n != 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input %s must be a scalar",
		    v->name);
	return EML_OK;
}

/* Twiddles e^(-2 pi i m / len) for m < len, as (cos, sin) pairs. */
static void
dft_twiddles(size_t len, double *tw)
{
	for (size_t m = 0; m < len; m++) {
		double a = 2.0 * M_PI * (double)m / (double)len;
		tw[2 * m] = cos(a);
		tw[2 * m + 1] = -sin(a);
	}
}

/* out[k] = sum_j s[j] w^(jk) for k < bins over the n samples s holds (the
 * rest of len is zero padding); inverse conjugates w and divides by len. */
static void
dft1(const double *s, size_t n, size_t len, size_t bins, bool inverse, const double *tw,
    double *out)
{
	for (size_t k = 0; k < bins; k++) {
		double re = 0, im = 0;
		for (size_t j = 0; j < n; j++) {
			size_t m = (j * k) % len;
			double c = tw[2 * m], sn = inverse ? -tw[2 * m + 1] : tw[2 * m + 1];
			re += s[2 * j] * c - s[2 * j + 1] * sn;
			im += s[2 * j] * sn + s[2 * j + 1] * c;
		}
		out[2 * k] = inverse ? re / (double)len : re;
		out[2 * k + 1] = inverse ? im / (double)len : im;
	}
}

/* ---------------------------------------------------------------- DFT */

/* x [..., n on the axis, ..., 1 or 2] -> y [..., bins, ..., 2]. */
static eml_err
dft_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0);
	struct dft_par *d = &pn->par.dft;
	int64_t axis = d->axis, len = 0, dims[EML_MAX_RANK];
	int ax = 0;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	if (x->rank < 2 || (x->dims[x->rank - 1] != 1 && x->dims[x->rank - 1] != 2))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "last dimension must be 1 or 2");
	/* DFT-20: the axis is input 2 (default -2, the last signal axis). */
	if (p->m->g->opset >= 20)
		EML_GUARD(const_scalar(p, pn, 2, false, -2, &axis));
	EML_GUARD(eml_axis(pn->n, axis, x->rank, 0, &ax));
	if (ax == x->rank - 1)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "axis is the complex dimension");
	EML_GUARD(const_scalar(p, pn, 1, false, x->dims[ax], &len));
	if (len < 1 || len > DFT_MAX_LEN)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "dft_length %lld", (long long)len);
	d->cplx = x->dims[x->rank - 1] == 2;
	d->len = (size_t)len;
	d->bins = d->onesided ? d->len / 2 + 1 : d->len;
	d->n = (size_t)x->dims[ax];
	d->outer = 1;
	d->inner = 1;
	for (int i = 0; i < ax; i++)
		d->outer *= (size_t)x->dims[i];
	for (int i = ax + 1; i < x->rank - 1; i++)
		d->inner *= (size_t)x->dims[i];
	for (int i = 0; i < x->rank; i++)
		dims[i] = x->dims[i];
	dims[ax] = (int64_t)d->bins;
	dims[x->rank - 1] = 2;
	EML_GUARD(eml_pn_set_out(p, pn, 0, x->dt, x->rank, dims));
	/* Twiddles, one signal, one transform: all bounded by the output. */
	pn->ws = (2 * d->len + 2 * d->len + 2 * d->bins) * sizeof(double);
	return EML_OK;
}

static void
dft_run(struct eml_plan *p, struct pnode *pn)
{
	const struct dft_par *d = &pn->par.dft;
	struct val *x = eml_pn_in(p, pn, 0), *y = eml_pn_out(p, pn, 0);
	double *tw = pn->wsp, *s = tw + 2 * d->len, *out = s + 2 * d->len;
	size_t n = d->n < d->len ? d->n : d->len, c = d->cplx ? 2 : 1;

	dft_twiddles(d->len, tw);
	for (size_t o = 0; o < d->outer && !eml_pn_stopped(p); o++)
		for (size_t i = 0; i < d->inner; i++) {
			for (size_t j = 0; j < n; j++) {
				size_t e = ((o * d->n + j) * d->inner + i) * c;
				s[2 * j] = eml_val_ld(x, e);
				s[2 * j + 1] = d->cplx ? eml_val_ld(x, e + 1) : 0.0;
			}
			dft1(s, n, d->len, d->bins, d->inverse, tw, out);
			for (size_t k = 0; k < d->bins; k++) {
				size_t e = ((o * d->bins + k) * d->inner + i) * 2;
				eml_val_st(y, e, out[2 * k]);
				eml_val_st(y, e + 1, out[2 * k + 1]);
			}
		}
}

/* ---------------------------------------------------------------- STFT */

/* signal [B, L, 1 or 2], frame_step, window [W] (optional), frame_length
 * (optional; W when a window is given) -> [B, frames, bins, 2]. */
static eml_err
stft_plan(struct eml_plan *p, struct pnode *pn)
{
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 2);
	struct dft_par *d = &pn->par.dft;
	int64_t step = 0, fl = -1, dims[4];

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT | DTM(EML_DT_DOUBLE)));
	if (x->rank != 3 || (x->dims[2] != 1 && x->dims[2] != 2))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "signal must be [B, L, 1 or 2]");
	EML_GUARD(const_scalar(p, pn, 1, true, 0, &step));
	if (w != NULL && w->numel > 0) {
		EML_GUARD(eml_pn_need_dtype(p, pn, 2, DTM(x->dt)));
		if (w->rank != 1)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "window must be 1-D");
		fl = w->dims[0];
	} else {
		w = NULL;
	}
	EML_GUARD(const_scalar(p, pn, 3, w == NULL, fl, &fl));
	if (w != NULL && fl != w->dims[0])
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "frame_length differs from the window");
	if (step < 1 || step > DFT_MAX_LEN || fl < 1 || fl > x->dims[1])
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
		    "frame_step %lld, frame_length %lld for a signal of %lld", (long long)step,
		    (long long)fl, (long long)x->dims[1]);
	d->cplx = x->dims[2] == 2;
	d->len = (size_t)fl;
	d->n = (size_t)x->dims[1];
	d->step = (size_t)step;
	d->frames = (d->n - d->len) / d->step + 1;
	d->bins = d->onesided ? d->len / 2 + 1 : d->len;
	dims[0] = x->dims[0];
	dims[1] = (int64_t)d->frames;
	dims[2] = (int64_t)d->bins;
	dims[3] = 2;
	EML_GUARD(eml_pn_set_out(p, pn, 0, x->dt, 4, dims));
	pn->ws = (2 * d->len + 2 * d->len + 2 * d->bins) * sizeof(double);
	return EML_OK;
}

static void
stft_run(struct eml_plan *p, struct pnode *pn)
{
	const struct dft_par *d = &pn->par.dft;
	struct val *x = eml_pn_in(p, pn, 0), *w = eml_pn_in(p, pn, 2), *y = eml_pn_out(p, pn, 0);
	double *tw = pn->wsp, *s = tw + 2 * d->len, *out = s + 2 * d->len;
	size_t c = d->cplx ? 2 : 1, B = (size_t)x->dims[0], o = 0;

	if (w != NULL && w->numel == 0)
		w = NULL;
	dft_twiddles(d->len, tw);
	for (size_t b = 0; b < B; b++)
		for (size_t f = 0; f < d->frames && !eml_pn_stopped(p); f++) {
			for (size_t j = 0; j < d->len; j++) {
				size_t e = (b * d->n + f * d->step + j) * c;
				double wv = w != NULL ? eml_val_ld(w, j) : 1.0;
				s[2 * j] = eml_val_ld(x, e) * wv;
				s[2 * j + 1] = d->cplx ? eml_val_ld(x, e + 1) * wv : 0.0;
			}
			dft1(s, d->len, d->len, d->bins, false, tw, out);
			for (size_t k = 0; k < 2 * d->bins; k++)
				eml_val_st(y, o++, out[k]);
		}
}

/* ---------------------------------------------------------------- MelWeightMatrix */

/* Constant inputs: num_mel_bins, dft_length, sample_rate (integers),
 * lower_edge_hertz, upper_edge_hertz (floats) -> [dft_length / 2 + 1,
 * num_mel_bins]. */
static eml_err
mel_inputs(struct eml_plan *p, struct pnode *pn, int64_t *iv, double *lo, double *hi)
{
	float f[2];

	for (size_t k = 0; k < 3; k++)
		EML_GUARD(const_scalar(p, pn, k, true, 0, &iv[k]));
	for (size_t k = 3; k < 5; k++) {
		struct val *v = eml_pn_in(p, pn, k);
		if (v == NULL || v->kind != VK_CONST || v->numel != 1 ||
		    (v->dt != EML_DT_FLOAT && v->dt != EML_DT_DOUBLE))
			return eml_pn_fail(pn->n, EML_ERR_INFER_NOT_CONST,
			    "edge frequencies must be constant float scalars");
		f[k - 3] = (float)eml_val_ld(v, 0);
	}
	*lo = f[0];
	*hi = f[1];
	if (iv[0] < 1 || iv[0] > DFT_MAX_LEN || iv[1] < 1 || iv[1] > DFT_MAX_LEN || iv[2] < 1 ||
	    !(*lo >= 0) || !(*hi > *lo) || !(*hi <= (double)iv[2] / 2.0))
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR,
		    "need num_mel_bins, dft_length, sample_rate >= 1 and "
		    "0 <= lower < upper <= sample_rate / 2");
	return EML_OK;
}

static eml_err
mel_plan(struct eml_plan *p, struct pnode *pn)
{
	int64_t iv[3], dims[2];
	double lo, hi;

	EML_GUARD(mel_inputs(p, pn, iv, &lo, &hi));
	dims[0] = iv[1] / 2 + 1;
	dims[1] = iv[0];
	/* Each output row is one spectrogram bin, the triangles below index
	 * them by (dft_length + 1) * f / sample_rate with f <= sample_rate
	 * / 2: at most dft_length / 2. */
	return eml_pn_set_out(p, pn, 0, pn->par.window.dtype, 2, dims);
}

/* The triangular filters of the ONNX definition: num_mel_bins + 2 points
 * in mel (2595 log10(1 + f / 700)) from the lower edge by (upper - lower)
 * / (num_mel_bins + 2) (so the last point is short of the upper edge, as
 * the ONNX reference computes it), mapped back to hertz
 * and to spectrogram bins floor((dft_length + 1) f / sample_rate);
 * filter i rises from point i to i + 1 and falls to i + 2. */
static void
mel_run(struct eml_plan *p, struct pnode *pn)
{
	struct val *y = eml_pn_out(p, pn, 0);
	int64_t iv[3], M, bins;
	double lo, hi, mlo, mhi;

	if (mel_inputs(p, pn, iv, &lo, &hi) != EML_OK)
		return; /* checked by the plan */
	M = iv[0];
	bins = iv[1] / 2 + 1;
	mlo = 2595.0 * log10(1.0 + lo / 700.0);
	mhi = 2595.0 * log10(1.0 + hi / 700.0);
	memset(y->data, 0, y->nbytes);
	for (int64_t i = 0; i < M; i++) {
		int64_t pt[3];
		for (int t = 0; t < 3; t++) {
			double mel = (double)(i + t) * (mhi - mlo) / (double)(M + 2) + mlo;
			double hz = 700.0 * (pow(10.0, mel / 2595.0) - 1.0);
			pt[t] = (int64_t)floor((double)(iv[1] + 1) * hz / (double)iv[2]);
			/* Rounding at the top edge must not leave the rows. */
			pt[t] = pt[t] < 0 ? 0 : pt[t] >= bins ? bins - 1 : pt[t];
		}
		if (pt[1] == pt[0])
			eml_val_st(y, (size_t)(pt[1] * M + i), 1.0);
		else
			for (int64_t j = pt[0]; j <= pt[1]; j++)
				eml_val_st(y, (size_t)(j * M + i),
				    (double)(j - pt[0]) / (double)(pt[1] - pt[0]));
		for (int64_t j = pt[1]; j < pt[2]; j++)
			eml_val_st(y, (size_t)(j * M + i), (double)(pt[2] - j) / (double)(pt[2] - pt[1]));
	}
	(void)p;
}

/* ---------------------------------------------------------------- table */

const struct op eml_ops_signal[] = {
	{ "DFT", "axis:i inverse:i onesided:i", PK_DFT, 1, 3, 1, 1, dft_plan, NULL, dft_run, 0 },
	{ "STFT", "onesided:i", PK_DFT, 2, 4, 1, 1, stft_plan, NULL, stft_run, 0 },
	{ "MelWeightMatrix", "output_datatype:i", PK_WINDOW, 5, 5, 1, 1, mel_plan, NULL, mel_run,
	    0 },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
