/*
 * Engine internals shared by the planner (eml_engine.c) and the operator
 * files (ops_*.c). Not a public interface.
 */
#ifndef EML_ENGINE_INT_H
#define EML_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_engine.h"
#include "common/eml_names.h"
#include "engine/kernels/eml_kernels.h"
#include "op_params.h"

enum vkind {
	VK_NONE = 0, /* not produced yet (or unused) */
	VK_CONST,    /* known at planning time */
	VK_INPUT,    /* model input, copied into the arena at run */
	VK_ACT,      /* computed at run time, lives in the arena */
};

/* One tensor name of the graph, specialised to the plan's shapes. */
struct val {
	const char *name; /* borrowed from the graph */
	enum eml_dtype dt;
	int rank;
	int64_t dims[EML_MAX_RANK];
	size_t numel, nbytes;
	enum vkind kind;
	void *data;      /* CONST: the bytes; ACT/INPUT: set after layout */
	bool owned;      /* data is eml_secure_alloc'ed by the plan */
	int alias;       /* ACT sharing the buffer of this value, or -1 */
	int last;        /* last step reading it (INT32_MAX for outputs) */
	int nuses;       /* readers among live nodes, + 1 per graph output */
	bool graph_out;
	bool rt_len;     /* length known only at run (OPF_RUNTIME_ROWS; Unique,
			  * a Loop's scan outputs) */
	bool f16;        /* ONNX float16 or bfloat16 (bf16), held as float32
			  * (dt FLOAT) rounded to that type after every step
			  * that writes it */
	bool bf16;       /* with f16: the narrow type is bfloat16 */
	size_t off;      /* arena offset of ACT/INPUT */
	int block;       /* arena block, during layout */
};

struct pnode;
struct eml_plan;

/*
 * An operator. Its attributes are read once per model into the op_par
 * member its kind names (eml_op_parse, op_params.c); plan infers
 * output dtypes and shapes from the inputs (with the values of constant
 * inputs) and adds the shape-dependent parameters to that member of the
 * pnode's copy; prepare (optional) does
 * the heavy, shape-specific work (weight packing, kernel plans) after
 * fusion; run computes. run never fails: everything was checked before.
 */
struct op {
	const char *name;
	const char *attrs; /* "name:t ..." with t in i f s I F S T G (op_params.c) */
	enum par_kind kind; /* its parameter family */
	int min_in, max_in, min_out, max_out;
	eml_err (*plan)(struct eml_plan *p, struct pnode *pn);
	eml_err (*prepare)(struct eml_plan *p, struct pnode *pn);
	void (*run)(struct eml_plan *p, struct pnode *pn);
	unsigned flags;
};

#define OPF_ALIAS 1u      /* output 0 is input 0's bytes reinterpreted */
#define OPF_INPLACE 2u    /* output 0 may overwrite input 0 or 1 (same size) */
#define OPF_SHAPE_ONLY 4u /* needs only its input's shape: always folded */
#define OPF_OUT0_OPTIONAL 8u /* output 0 may be omitted (RNN, GRU, LSTM's Y) */
/* Output 0's first dimension is known only at run (NonMaxSuppression): the
 * plan sizes it for the most rows, run sets the rows it wrote. Allowed only
 * when that output is a graph output no node reads. */
#define OPF_RUNTIME_ROWS 16u
/* Never run at plan time even when every input is a constant (If, Loop,
 * Scan): their cost is not bounded by their tensors' sizes, and only a
 * run has the wall-time limit (a Loop of 2^62 iterations over constants). */
#define OPF_NO_FOLD 32u

struct pnode {
	const struct eml_node *n;
	const struct op *op;
	int *in;  /* value index per input, -1 when omitted */
	size_t n_in;
	int *out; /* value index per output, -1 when omitted */
	size_t n_out;
	bool dead;  /* folded or fused away */
	bool fused_bn;
	bool rounded; /* the kernel leaves its float16 output rounded: no
		       * rounding pass after the step */
	struct eml_epilogue ep; /* fused activation (Conv, Gemm, MatMul) */
	int bias_val;           /* fused bias (MatMul + Add), or -1 */
	struct op_par par;      /* the model's parsed attributes + plan parameters */
	struct eml_conv2d_plan *conv;
	float *w;   /* plan-owned weights (packed, folded), eml_secure_alloc */
	size_t w_n; /* floats */
	float *wscale; /* Conv + BatchNormalization, 2-D: the per-channel scale
			* the conv plan folds into its packed weights (no
			* scaled copy in w) */
	float *b;   /* plan-owned bias */
	size_t b_n;
	size_t ws;  /* workspace bytes for run */
	void *wsp;  /* workspace pointer, set before run */
	struct cf_state *cf; /* If, Loop, Scan: their sub-plans (ops_cf.c) */
};

/* Subgraphs per node with a GRAPH attribute: If's then/else, the body. */
#define CF_SUBS 2

struct eml_model {
	struct eml_graph *g;
	const struct op **ops; /* per node */
	struct op_par *par;    /* per node: attributes, parsed and checked */
	/* Per node with subgraphs (NULL otherwise): CF_SUBS models of its
	 * subgraphs, and the outer values they read (names borrowed), which
	 * the plan appends to the node's inputs so they live until it runs. */
	struct eml_model **sub;
	const char ***caps;
	size_t *n_caps;
	/* A subgraph's model: g is a wrapper whose inputs are the
	 * subgraph's declared inputs then its captured outer values (dtype
	 * and shape from the plan); everything else is borrowed. */
	bool borrowed;
	size_t n_declared; /* the subgraph's own inputs, first in g->inputs */
};

struct eml_plan {
	const struct eml_model *m;
	struct eml_plan_opts opts;
	struct val *v;
	size_t nv;
	struct eml_names names;
	struct pnode *pn;
	size_t npn;
	int *in_idx;  /* per graph input */
	bool *in_bound; /* per graph input: planned as a constant */
	int *out_idx; /* per graph output */
	struct eml_tensor *outs;
	uint16_t **out16; /* per graph output: its float16 bytes, or NULL */
	uint8_t *arena;
	size_t arena_bytes;
	size_t ws_off;
	struct eml_pool *pool;
	const struct eml_kernels *k;
	struct eml_plan_stats st;
	eml_err run_err; /* set by an operator that met bad data at run */
	size_t *order; /* live pnode indices in run order */
	double *prof;  /* seconds per step (opts.profile) */
	size_t *prod_of; /* during pattern rewrites: producer pnode + 1 per value */
	size_t *rd_at, *rd; /* during fuse: each value's readers (build_readers) */
	int *io;            /* every pnode's in and out lists, one allocation */
	size_t n_io;
	size_t prof_runs;
	size_t n_order;
	uint64_t time_limit_ms; /* per run, 0 = none (eml_plan_set_time_limit) */
	bool pool_borrowed; /* a sub-plan runs on its parent's pool */
	const bool *sub_const; /* while a sub-plan is made: inputs bound as constants */
	size_t sub_bytes;   /* arenas of the sub-plans, nested ones included */
};

/* The operator table (ops_*.c). */
const struct op *eml_ops_find(const char *name);

/* ---------------------------------------------------------- control flow */

/* A model for a subgraph (eml_model_new's checks, recursively); *out
 * borrows sub, which must outlive it. */
eml_err eml_model_new_sub(const struct eml_graph *sub, struct eml_model **out) EML_MUST_USE;
/* ops_cf.c: the sub-models and captured names of node i of m. */
eml_err eml_cf_model_node(struct eml_model *m, size_t i) EML_MUST_USE;
void eml_cf_free(struct cf_state *cf);
/*
 * A plan of sub-model m inside parent (its pool, limits and options):
 * inputs as for eml_plan_new; inputs with is_const[i] are planned as the
 * constants they are (data borrowed: it must outlive the plan). Its arena
 * counts against the parent's arena limit.
 */
eml_err eml_plan_new_sub(struct eml_plan *parent, const struct eml_model *m,
    const struct eml_tensor *inputs, size_t n, const bool *is_const, struct eml_plan **out)
    EML_MUST_USE;
/* The value of a sub-plan's graph input i / output i. */
struct val *eml_sub_in(struct eml_plan *sub, size_t i);
struct val *eml_sub_out(struct eml_plan *sub, size_t i);
/* Run a sub-plan's steps (its inputs already written); the wall-time
 * limit is the parent's (shared pool). An operator's run error returned. */
eml_err eml_sub_run(struct eml_plan *sub);

/* ---------------------------------------------------------- helpers */

/* Input/output k of a node as a value, or NULL when omitted. */
struct val *eml_pn_in(struct eml_plan *p, const struct pnode *pn, size_t k);
/* Free pn's input list (a rewrite gives it another): not when it is a
 * slice of the plan's one list of all nodes' inputs and outputs. */
void eml_pn_free_in(struct eml_plan *p, struct pnode *pn);

/* The run met its wall-time limit: kernels written as plain loops whose
 * cost is not bounded by their tensors' sizes (Einsum, NMS, Det, 3-D
 * pooling) ask this every few thousand steps and stop; eml_plan_run then
 * refuses the whole run (EML_ERR_POLICY_TIME). */
static inline bool
eml_pn_stopped(struct eml_plan *p)
{
	return eml_pool_cancelled(p->pool);
}
struct val *eml_pn_out(struct eml_plan *p, const struct pnode *pn, size_t k);
/* Record "node NAME: <fmt>" as the error detail and return err. */
eml_err eml_pn_fail(const struct eml_node *n, eml_err err, const char *fmt, ...)
    EML_PRINTF(3, 4);
/* Set output k's dtype and shape (numel and bytes checked). */
eml_err eml_pn_set_out(struct eml_plan *p, struct pnode *pn, size_t k, enum eml_dtype dt,
    int rank, const int64_t *dims) EML_MUST_USE;
/* Read constant integer input k (int64 or int32) into out[0..*n). */
eml_err eml_pn_const_ints(struct eml_plan *p, struct pnode *pn, size_t k, int64_t *out,
    size_t max, size_t *n) EML_MUST_USE;
/* Read constant float input k as a scalar. */
eml_err eml_pn_const_float(struct eml_plan *p, struct pnode *pn, size_t k, float *out)
    EML_MUST_USE;
/* Require input k's dtype to be one of the bits in mask (1u << dtype). */
eml_err eml_pn_need_dtype(struct eml_plan *p, struct pnode *pn, size_t k, unsigned mask)
    EML_MUST_USE;
#define DTM(dt) (1u << (dt))
#define DTM_FLOAT DTM(EML_DT_FLOAT)
#define DTM_INTS (DTM(EML_DT_INT64) | DTM(EML_DT_INT32))
#define DTM_NUM (DTM_FLOAT | DTM_INTS | DTM(EML_DT_DOUBLE))
#define DTM_ANY 0xffffu

/* Conv geometry (ops_nn.c): checks x [N,C,(H,)W] against w [M,C/group,k..]
 * and the window attributes, fills pn->par.conv's plan fields and the
 * output dims [N, M, out...] (x->rank of them). */
eml_err eml_conv_shape(struct pnode *pn, const struct val *x, const struct val *w,
    int64_t *dims) EML_MUST_USE;

/* The QDQ convolution rewrite (ops_quant.c): turns q (QuantizeLinear) into
 * a QLinearConv over dqx's input and dqw's int8 weights when the scales
 * and zero points allow it, marking conv, relu (may be NULL) and, when
 * dqx_dies, dqx dead. false: left unchanged (or no memory: also unchanged). */
bool eml_qdq_conv_fuse(struct eml_plan *p, struct pnode *q, struct pnode *relu,
    struct pnode *conv, struct pnode *dqx, struct pnode *dqw, bool dqx_dies);

/* QLinearConv -> QLinearConv (ops_quant.c): where the image between them
 * has no other reader, the first writes it HWC and the second reads it
 * as is (no NCHW round trip). After the fusions, before prepare. */
void eml_qconv_chain(struct eml_plan *p);

/* Whether a float output of pn is float16 (eml_engine.c). */
enum eml_dtype eml_f16_inherits(struct eml_plan *p, const struct pnode *pn);
enum eml_dtype eml_narrow_dt(const struct val *v);
void eml_narrow_widen(const struct val *v, const void *x, float *y);

/* Whether Cast supports this dtype (as source or target). */
bool eml_cast_dtype_ok(int64_t dt);

/* Normalise axis in [-rank, rank) (or [-rank-1, rank] with extra = 1). */
eml_err eml_axis(const struct eml_node *n, int64_t axis, int rank, int extra, int *out)
    EML_MUST_USE;
/* Multidirectional broadcast of two shapes (ONNX Broadcasting.md). */
eml_err eml_bcast(const struct eml_node *n, const struct val *a, const struct val *b,
    int *rank, int64_t *dims) EML_MUST_USE;
/* Element strides of v broadcast to an output of rank/dims (0 where v is
 * broadcast). */
void eml_bcast_strides(const struct val *v, int rank, const int64_t *dims, size_t *strides);

/* dst (dense, rank/dims) <- src read with element strides sstrides (may
 * be 0 for broadcast or negative for reversed slices). */
void eml_copy_strided(void *dst, const void *src, size_t esz, int rank, const int64_t *dims,
    const int64_t *sstrides);
/* Dense row-major element strides of a shape. */
void eml_dense_strides(int rank, const int64_t *dims, int64_t *strides);

/* ops_more.c: the element-wise operators on the dtypes the kernels do not
 * take (Add/Sub/Mul/Div on every integer type and float64, Pow with mixed
 * types, Clip on integers and float64). */
eml_err eml_binary_generic_check(struct eml_plan *p, struct pnode *pn) EML_MUST_USE;
void eml_binary_generic_run(struct eml_plan *p, struct pnode *pn);
/* Opset < 7 broadcast=1 with an axis: B's dims placed at axis of A's. */
eml_err eml_binary_legacy_axis_plan(struct eml_plan *p, struct pnode *pn) EML_MUST_USE;
eml_err eml_clip_generic_plan(struct eml_plan *p, struct pnode *pn) EML_MUST_USE;
void eml_clip_generic_run(struct eml_plan *p, struct pnode *pn);

/* ops_more.c: element i of a numeric value as a double (exact for
 * every type up to 32 bits and for float64), and stored from one (integer
 * types: truncated toward zero, in range by the caller). */
double eml_val_ld(const struct val *v, size_t i);
/* Element i of an integer value as int64 (uint64 bit for bit). */
int64_t eml_val_ldi(const struct val *v, size_t i);
void eml_val_st(const struct val *v, size_t i, double d);

/* ops_index.c: MaxPool on 1-D/2-D windows in a plain loop, any of its
 * dtypes, with the optional Indices output. */
void eml_maxpool_generic_run(struct eml_plan *p, struct pnode *pn);

/* Float cast helpers. */
static inline float *
vf(const struct val *v)
{
	return (float *)v->data;
}

#endif
