/*
 * Recurrent layers: RNN, GRU and LSTM (forward, reverse, bidirectional;
 * sequence_lens; initial states; peepholes; clip; ONNX's activation list;
 * layout 0 and 1). The input projection of every time step is one GEMM per
 * direction; each step's recurrent product is one GEMM over the batch; the
 * gate activations go through the kernels' unary (SIMD) where the function
 * is one of theirs. float32.
 */
#include <math.h>
#include <string.h>

#include "engine_int.h"
#include "ops.h"

/* Workspace pieces, in floats. */
struct rnn_ws {
	float *xp;   /* [seq * batch, G*H]: X * W^T + bias, rows as X's */
	float *s;    /* [batch, G*H]: H * R^T of the step */
	float *h, *c; /* [batch, H]: the states */
	float *t, *u; /* [batch, H]: GRU scratch */
	float *zc;    /* [batch, H]: GRU's 1 - z */
	float *bias;  /* [G*H]: Wb + Rb (GRU: Wbh only for h) */
	float *rbh;   /* [H]: GRU's Rbh */
	float *gemm;
	size_t *len; /* [batch]: sequence lengths */
	bool *live;  /* [batch]: rows running at this step */
};

static size_t
rnn_gates(enum rnn_cell c)
{
	return c == RNN_CELL_LSTM ? 4 : c == RNN_CELL_GRU ? 3 : 1;
}

/* ---------------------------------------------------------------- plan */

/* Input k, when given: float32 of exactly the shape d0 x d1 x d2 (rank 3)
 * or d0 x d1 (d2 == 0). */
static eml_err
rnn_in_shape(struct eml_plan *p, struct pnode *pn, size_t k, int64_t d0, int64_t d1, int64_t d2)
{
	struct val *v = eml_pn_in(p, pn, k);
	int rank = d2 == 0 ? 2 : 3;

	if (v == NULL)
		return EML_OK;
	EML_GUARD(eml_pn_need_dtype(p, pn, k, DTM_FLOAT));
	if (v->rank != rank || v->dims[0] != d0 || v->dims[1] != d1 || (rank == 3 && v->dims[2] != d2))
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "input %s has the wrong shape",
		    v->name);
	return EML_OK;
}

static size_t
gemm_ws(size_t M, size_t N, size_t K, int nthreads)
{
	struct eml_sgemm_args ga;

	memset(&ga, 0, sizeof(ga));
	ga.M = M;
	ga.N = N;
	ga.K = K;
	ga.trans_b = true;
	ga.alpha = 1.0f;
	return eml_sgemm_workspace_size(&ga, nthreads);
}

static eml_err
rnn_plan(struct eml_plan *p, struct pnode *pn)
{
	struct rnn_par *r = &pn->par.rnn;
	struct val *x = eml_pn_in(p, pn, 0), *sl = eml_pn_in(p, pn, 4);
	int64_t H = r->hidden, D = r->dirs, G, seq, batch, in, dims[4];
	size_t ws = 0, g1, g2, g3;
	bool lstm = r->cell == RNN_CELL_LSTM;

	EML_GUARD(eml_pn_need_dtype(p, pn, 0, DTM_FLOAT));
	if (x->rank != 3)
		return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "X must be 3-D");
	G = (int64_t)rnn_gates(r->cell);
	seq = x->dims[r->layout_batch ? 1 : 0];
	batch = x->dims[r->layout_batch ? 0 : 1];
	in = x->dims[2];
	EML_GUARD(rnn_in_shape(p, pn, 1, D, G * H, in));
	EML_GUARD(rnn_in_shape(p, pn, 2, D, G * H, H));
	EML_GUARD(rnn_in_shape(p, pn, 3, D, 2 * G * H, 0));
	if (sl != NULL) {
		EML_GUARD(eml_pn_need_dtype(p, pn, 4, DTM_INTS));
		if (sl->rank != 1 || sl->dims[0] != batch)
			return eml_pn_fail(pn->n, EML_ERR_INFER_SHAPE, "sequence_lens must be [batch]");
	}
	for (size_t k = 5; k <= (lstm ? 6u : 5u); k++)
		EML_GUARD(rnn_in_shape(p, pn, k, r->layout_batch ? batch : D,
		    r->layout_batch ? D : batch, H));
	if (!lstm && pn->n_in > 6)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "too many inputs");
	if (lstm)
		EML_GUARD(rnn_in_shape(p, pn, 7, D, 3 * H, 0));
	if (eml_pn_in(p, pn, 1) == NULL || eml_pn_in(p, pn, 2) == NULL)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "W and R are required");
	r->seq = (size_t)seq;
	r->batch = (size_t)batch;
	r->in = (size_t)in;
	r->gates = (size_t)G;
	/* Workspace: overflow-checked in 64 bits on sizes already bounded by
	 * the input tensors (seq * batch * G*H <= the X rows times W rows). */
	{
		uint64_t f = 0, gh = (uint64_t)(G * H), sb = (uint64_t)seq * (uint64_t)batch;
		if (eml_mul_overflow(sb, gh, &f) || f > ((uint64_t)1 << 34))
			return eml_pn_fail(pn->n, EML_ERR_INFER_TOO_LARGE, "workspace too large");
		f += (uint64_t)batch * gh + 5 * (uint64_t)batch * (uint64_t)H + gh + (uint64_t)H;
		g1 = gemm_ws((size_t)sb, (size_t)gh, (size_t)in, p->opts.nthreads);
		g2 = gemm_ws((size_t)batch, (size_t)gh, (size_t)H, p->opts.nthreads);
		g3 = gemm_ws((size_t)batch, (size_t)H, (size_t)H, p->opts.nthreads);
		r->ws_gemm = g1 > g2 ? (g1 > g3 ? g1 : g3) : (g2 > g3 ? g2 : g3);
		ws = ((size_t)f + r->ws_gemm + 32) * sizeof(float) +
		    (size_t)batch * (sizeof(size_t) + sizeof(bool)) + 64;
	}
	pn->ws = ws;
	if (r->layout_batch) {
		dims[0] = batch;
		dims[1] = seq;
		dims[2] = D;
	} else {
		dims[0] = seq;
		dims[1] = D;
		dims[2] = batch;
	}
	dims[3] = H;
	EML_GUARD(eml_pn_set_out(p, pn, 0, EML_DT_FLOAT, 4, dims));
	dims[0] = r->layout_batch ? batch : D;
	dims[1] = r->layout_batch ? D : batch;
	dims[2] = H;
	EML_GUARD(eml_pn_set_out(p, pn, 1, EML_DT_FLOAT, 3, dims));
	if (!lstm && pn->n_out > 2)
		return eml_pn_fail(pn->n, EML_ERR_INFER_ATTR, "too many outputs");
	return lstm ? eml_pn_set_out(p, pn, 2, EML_DT_FLOAT, 3, dims) : EML_OK;
}

/* ---------------------------------------------------------------- run */

static void
act_apply(struct eml_plan *p, const struct rnn_act *a, float *v, size_t n)
{
	switch (a->kind) {
	case RA_RELU: p->k->unary(EML_UNARY_RELU, n, v, v, 0, 0); return;
	case RA_TANH: p->k->unary(EML_UNARY_TANH, n, v, v, 0, 0); return;
	case RA_SIGMOID: p->k->unary(EML_UNARY_SIGMOID, n, v, v, 0, 0); return;
	case RA_LEAKY_RELU: p->k->unary(EML_UNARY_LEAKY_RELU, n, v, v, a->alpha, 0); return;
	case RA_HARD_SIGMOID:
		p->k->unary(EML_UNARY_HARDSIGMOID, n, v, v, a->alpha, a->beta);
		return;
	default:
		break;
	}
	for (size_t i = 0; i < n; i++) {
		float x = v[i];
		switch (a->kind) {
		case RA_AFFINE: x = a->alpha * x + a->beta; break;
		case RA_THRESHOLDED_RELU: x = x > a->alpha ? x : 0.0f; break;
		case RA_SCALED_TANH: x = a->alpha * tanhf(a->beta * x); break;
		case RA_ELU: x = x >= 0 ? x : a->alpha * (expf(x) - 1.0f); break;
		case RA_SOFTSIGN: x = x / (1.0f + fabsf(x)); break;
		default: x = x > 20.0f ? x : log1pf(expf(x)); break; /* Softplus */
		}
		v[i] = x;
	}
}

static void
clip_apply(struct eml_plan *p, const struct rnn_par *r, float *v, size_t n)
{
	if (r->has_clip)
		p->k->unary(EML_UNARY_CLIP, n, v, v, -r->clip, r->clip);
}

/* C = A[M,K] * B[N,K]^T (+ column bias). */
static void
gemm_nt(struct eml_plan *p, float *ws, size_t M, size_t N, size_t K, const float *A,
    const float *B, const float *bias, float *C, size_t ldc)
{
	struct eml_sgemm_args ga;

	memset(&ga, 0, sizeof(ga));
	ga.M = M;
	ga.N = N;
	ga.K = K;
	ga.A = A;
	ga.lda = K;
	ga.B = B;
	ga.ldb = K;
	ga.trans_b = true;
	ga.C = C;
	ga.ldc = ldc;
	ga.alpha = 1.0f;
	ga.bias = bias;
	ga.bias_kind = bias != NULL ? EML_BIAS_COL : EML_BIAS_NONE;
	eml_sgemm(&ga, ws, p->pool);
}

struct rnn_ctx {
	struct eml_plan *p;
	struct pnode *pn;
	const struct rnn_par *r;
	struct rnn_ws w;
	size_t H, GH, d;
	const float *R;   /* this direction's [G*H, H] */
	const float *P;   /* this direction's peepholes [3H], or NULL */
	const struct rnn_act *act; /* this direction's */
};

/* Row of XP for time t, batch b (X's own row order). */
static size_t
xrow(const struct rnn_par *r, size_t t, size_t b)
{
	return r->layout_batch ? b * r->seq + t : t * r->batch + b;
}

static void
lstm_row(struct rnn_ctx *c, float *g, float *h, float *cs)
{
	size_t H = c->H;
	float *gi = g, *go = g + H, *gf = g + 2 * H, *gc = g + 3 * H;

	if (c->P != NULL)
		for (size_t j = 0; j < H; j++) {
			gi[j] += c->P[j] * cs[j];
			gf[j] += c->P[2 * H + j] * cs[j];
		}
	clip_apply(c->p, c->r, gi, H);
	clip_apply(c->p, c->r, gf, H);
	clip_apply(c->p, c->r, gc, H);
	act_apply(c->p, &c->act[0], gi, H);
	act_apply(c->p, &c->act[0], gf, H);
	act_apply(c->p, &c->act[1], gc, H);
	for (size_t j = 0; j < H; j++) {
		cs[j] = gf[j] * cs[j] + gi[j] * gc[j];
		if (c->P != NULL)
			go[j] += c->P[H + j] * cs[j];
		h[j] = cs[j];
	}
	clip_apply(c->p, c->r, go, H);
	act_apply(c->p, &c->act[0], go, H);
	act_apply(c->p, &c->act[2], h, H);
	for (size_t j = 0; j < H; j++)
		h[j] *= go[j];
}

/* One time step of one direction over the batch rows still running. */
static void
rnn_step(struct rnn_ctx *c, size_t t, const bool *live)
{
	const struct rnn_par *r = c->r;
	size_t H = c->H, GH = c->GH, B = r->batch;
	struct rnn_ws *w = &c->w;
	bool gru = r->cell == RNN_CELL_GRU;

	/* Recurrent products: all gates (GRU: z and r only). */
	gemm_nt(c->p, w->gemm, B, gru ? 2 * H : GH, H, w->h, c->R, NULL, w->s, GH);
	for (size_t b = 0; b < B; b++) {
		float *g = w->s + b * GH;
		const float *xp = w->xp + xrow(r, t, b) * GH;
		if (!live[b])
			continue;
		for (size_t j = 0; j < (gru ? 2 * H : GH); j++)
			g[j] += xp[j];
		if (r->cell == RNN_CELL_LSTM) {
			lstm_row(c, g, w->h + b * H, w->c + b * H);
		} else if (gru) {
			float *zc = w->zc + b * H;
			clip_apply(c->p, r, g, 2 * H);
			/* 1 - z: with the sigmoid, as sigmoid(-a), which keeps its
			 * digits where z is close to 1. */
			for (size_t j = 0; j < H; j++)
				zc[j] = -g[j];
			if (c->act[0].kind == RA_SIGMOID)
				act_apply(c->p, &c->act[0], zc, H);
			act_apply(c->p, &c->act[0], g, 2 * H); /* z, r */
			if (c->act[0].kind != RA_SIGMOID)
				for (size_t j = 0; j < H; j++)
					zc[j] = 1.0f - g[j];
			for (size_t j = 0; j < H; j++)
				w->t[b * H + j] = g[H + j] * w->h[b * H + j];
		} else {
			clip_apply(c->p, r, g, H);
			act_apply(c->p, &c->act[0], g, H);
			EML_MEMCPY(w->h + b * H, g, H * sizeof(float));
		}
	}
	if (!gru)
		return;
	/* h gate: (r . H) R_h^T + Rb_h, or r . (H R_h^T + Rb_h). */
	gemm_nt(c->p, w->gemm, B, H, H, r->linear_before_reset ? w->h : w->t, c->R + 2 * H * H,
	    w->rbh, w->u, H);
	for (size_t b = 0; b < B; b++) {
		float *g = w->s + b * GH, *hh = g + 2 * H, *u = w->u + b * H, *h = w->h + b * H;
		const float *xp = w->xp + xrow(r, t, b) * GH + 2 * H;
		if (!live[b])
			continue;
		for (size_t j = 0; j < H; j++)
			hh[j] = xp[j] + (r->linear_before_reset ? g[H + j] * u[j] : u[j]);
		clip_apply(c->p, r, hh, H);
		act_apply(c->p, &c->act[1], hh, H);
		for (size_t j = 0; j < H; j++)
			h[j] = w->zc[b * H + j] * hh[j] + g[j] * h[j];
	}
}

static size_t
state_off(const struct rnn_par *r, size_t d, size_t b)
{
	return (r->layout_batch ? b * (size_t)r->dirs + d : d * r->batch + b) * (size_t)r->hidden;
}

static size_t
y_off(const struct rnn_par *r, size_t t, size_t d, size_t b)
{
	size_t D = (size_t)r->dirs;

	return (r->layout_batch ? (b * r->seq + t) * D + d : (t * D + d) * r->batch + b) *
	    (size_t)r->hidden;
}

static void
rnn_carve(struct rnn_ctx *c, float *base)
{
	const struct rnn_par *r = c->r;
	size_t B = r->batch, H = c->H, GH = c->GH;
	uintptr_t a;

	c->w.xp = base;
	c->w.s = c->w.xp + r->seq * B * GH;
	c->w.h = c->w.s + B * GH;
	c->w.c = c->w.h + B * H;
	c->w.t = c->w.c + B * H;
	c->w.u = c->w.t + B * H;
	c->w.zc = c->w.u + B * H;
	c->w.bias = c->w.zc + B * H;
	c->w.rbh = c->w.bias + GH;
	a = (uintptr_t)(c->w.rbh + H);
	c->w.gemm = (float *)((a + 63) & ~(uintptr_t)63);
	a = (uintptr_t)(c->w.gemm + r->ws_gemm);
	c->w.len = (size_t *)((a + 63) & ~(uintptr_t)63);
	c->w.live = (bool *)(c->w.len + B);
}

/* The biases of direction d: Wb + Rb per gate, except GRU's Rb_h which
 * goes inside the reset (rbh). */
static void
rnn_bias(struct rnn_ctx *c, const struct val *bv)
{
	size_t GH = c->GH, H = c->H;
	bool gru = c->r->cell == RNN_CELL_GRU;

	memset(c->w.bias, 0, GH * sizeof(float));
	memset(c->w.rbh, 0, H * sizeof(float));
	if (bv == NULL)
		return;
	for (size_t j = 0; j < GH; j++) {
		const float *bb = vf(bv) + c->d * 2 * GH;
		c->w.bias[j] = bb[j] + (gru && j >= 2 * H ? 0.0f : bb[GH + j]);
		if (gru && j >= 2 * H)
			c->w.rbh[j - 2 * H] = bb[GH + j];
	}
}

static void
rnn_dir(struct rnn_ctx *c)
{
	struct eml_plan *p = c->p;
	struct pnode *pn = c->pn;
	const struct rnn_par *r = c->r;
	struct val *x = eml_pn_in(p, pn, 0), *W = eml_pn_in(p, pn, 1), *R = eml_pn_in(p, pn, 2);
	struct val *h0 = eml_pn_in(p, pn, 5), *c0 = eml_pn_in(p, pn, 6);
	struct val *y = eml_pn_out(p, pn, 0), *yh = eml_pn_out(p, pn, 1), *yc = eml_pn_out(p, pn, 2);
	size_t H = c->H, B = r->batch, d = c->d;
	bool rev = r->reverse || d == 1;
	bool lstm = r->cell == RNN_CELL_LSTM;

	c->R = vf(R) + d * c->GH * H;
	c->P = lstm && eml_pn_in(p, pn, 7) != NULL ? vf(eml_pn_in(p, pn, 7)) + d * 3 * H : NULL;
	c->act = &r->act[d * (size_t)r->n_acts];
	rnn_bias(c, eml_pn_in(p, pn, 3));
	gemm_nt(p, c->w.gemm, r->seq * B, c->GH, r->in, vf(x), vf(W) + d * c->GH * r->in,
	    c->w.bias, c->w.xp, c->GH);
	for (size_t b = 0; b < B; b++)
		for (size_t j = 0; j < H; j++) {
			c->w.h[b * H + j] = h0 != NULL ? vf(h0)[state_off(r, d, b) + j] : 0.0f;
			c->w.c[b * H + j] = lstm && c0 != NULL ? vf(c0)[state_off(r, d, b) + j] : 0.0f;
		}
	for (size_t s = 0; s < r->seq; s++) {
		/* Reverse: each row starts at its own last step. */
		size_t t = rev ? r->seq - 1 - s : s;
		for (size_t b = 0; b < B; b++)
			c->w.live[b] = t < c->w.len[b];
		rnn_step(c, t, c->w.live);
		for (size_t b = 0; b < B && y != NULL; b++)
			for (size_t j = 0; j < H; j++)
				vf(y)[y_off(r, t, d, b) + j] = c->w.live[b] ? c->w.h[b * H + j] : 0.0f;
	}
	for (size_t b = 0; b < B; b++)
		for (size_t j = 0; j < H; j++) {
			if (yh != NULL)
				vf(yh)[state_off(r, d, b) + j] = c->w.h[b * H + j];
			if (yc != NULL)
				vf(yc)[state_off(r, d, b) + j] = c->w.c[b * H + j];
		}
}

static void
rnn_run(struct eml_plan *p, struct pnode *pn)
{
	struct rnn_ctx c;
	struct val *sl = eml_pn_in(p, pn, 4);

	memset(&c, 0, sizeof(c));
	c.p = p;
	c.pn = pn;
	c.r = &pn->par.rnn;
	c.H = (size_t)c.r->hidden;
	c.GH = c.r->gates * c.H;
	rnn_carve(&c, pn->wsp);
	for (size_t b = 0; b < c.r->batch; b++) {
		int64_t v = sl == NULL ? (int64_t)c.r->seq : sl->dt == EML_DT_INT64 ?
		    ((const int64_t *)sl->data)[b] : ((const int32_t *)sl->data)[b];
		if (v < 0 || (uint64_t)v > c.r->seq) {
			p->run_err = EML_ERR_INFER_SHAPE;
			eml_err_set_detail("node %s: sequence_lens[%zu] out of range", pn->n->name, b);
			v = 0;
		}
		c.w.len[b] = (size_t)v;
	}
	for (c.d = 0; c.d < (size_t)c.r->dirs; c.d++)
		rnn_dir(&c);
}

#define RNN_ATTRS "activation_alpha:F activation_beta:F activations:S clip:f direction:s " \
	"hidden_size:i layout:i"

const struct op eml_ops_rnn[] = {
	{ "RNN", RNN_ATTRS, PK_RNN, 3, 6, 0, 2, rnn_plan, NULL, rnn_run, OPF_OUT0_OPTIONAL },
	{ "GRU", RNN_ATTRS " linear_before_reset:i", PK_RNN, 3, 6, 0, 2, rnn_plan, NULL, rnn_run,
	    OPF_OUT0_OPTIONAL },
	{ "LSTM", RNN_ATTRS " input_forget:i", PK_RNN, 3, 8, 0, 3, rnn_plan, NULL, rnn_run, OPF_OUT0_OPTIONAL },
	{ NULL, NULL, PK_NONE, 0, 0, 0, 0, NULL, NULL, NULL, 0 },
};
