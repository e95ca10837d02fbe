/*
 * Compute kernels: the contract between the engine (operators, planning)
 * and the hand-written kernels (kernels/<family>/{ref,avx2,avx512,neon}.c).
 *
 * Kernels never allocate and never fail: callers validate shapes first and
 * pass every buffer, including workspaces sized by the *_size functions.
 * Sizes are in elements unless a name says bytes. All tensors are float32,
 * row-major (NCHW for images). No kernel reads or writes past the ranges
 * described here.
 *
 * Dispatch: eml_kernels_get() returns one read-only table chosen once from
 * CPUID and XCR0 (best ISA first, portable ref always available). The
 * environment variable EML_ISA=ref|avx2|avx512|neon can only lower the
 * choice; it exists for tests and benchmarks.
 */
#ifndef EML_KERNELS_H
#define EML_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

/* ---------------------------------------------------------------- threads */

/* A fixed pool of worker threads; the calling thread also works. */
struct eml_pool;
/* nthreads >= 1 (1 = run everything on the caller). */
eml_err eml_pool_new(int nthreads, struct eml_pool **out) EML_MUST_USE;
void eml_pool_free(struct eml_pool *p);
int eml_pool_size(const struct eml_pool *p); /* 1 for a NULL pool */
/* Run fn(arg, task, thread) for task in [0, ntasks) and wait. thread is in
 * [0, eml_pool_size) so callers can index per-thread scratch. A NULL pool
 * runs the tasks in order on the caller. */
typedef void (*eml_pool_fn)(void *arg, size_t task, int thread);
void eml_pool_run(struct eml_pool *p, size_t ntasks, eml_pool_fn fn, void *arg);
/*
 * Items [0, n) in contiguous ranges: fn(arg, i0, i1, thread) over at most
 * EML_POOL_RANGES_PER_THREAD ranges per thread (one range [0, n) on a
 * NULL or one-thread pool). For items whose outputs are small and
 * adjacent (a Winograd channel's 16 x tiles values, a depthwise plane):
 * one task per item would have two threads write the same cache lines at
 * every item boundary and pay one shared atomic per item.
 */
#define EML_POOL_RANGES_PER_THREAD 4
typedef void (*eml_pool_range_fn)(void *arg, size_t i0, size_t i1, int thread);
void eml_pool_run_range(struct eml_pool *p, size_t n, eml_pool_range_fn fn, void *arg);
/*
 * The cost model: p when a step of this much work is worth splitting,
 * NULL (run on the caller alone) otherwise. work is the step's whole cost
 * in flop-equivalents (a GEMM's 2 M N K; a memory-bound pass about 4 per
 * float it reads or writes). Below EML_POOL_MIN_WORK (about 20 us on one
 * thread), feeding and waiting for a worker (a few microseconds even when
 * it spins, a futex wake-up when it sleeps), moving the step's operands
 * to the other core's cache and back, and on a shared machine waiting for
 * a worker preempted inside its task cost more than the split saves:
 * at 0.4 M the ~25 operators of 0.4-2.5 M of a 0.5 ms classifier were
 * split and two threads ran it slower than one. The
 * environment variable EML_POOL_MIN_WORK (read when a pool is made)
 * overrides the threshold for measurements; 0 splits everything. A pool
 * of one thread is returned as is (its runs stay on the caller), so long
 * kernels still see the cancellation check below.
 */
#define EML_POOL_MIN_WORK 3000000u
struct eml_pool *eml_pool_for(struct eml_pool *p, double work);
/*
 * Cancellation (the per-inference wall-time limit): a deadline on
 * CLOCK_MONOTONIC in ns, 0 = none, set by the engine around a graph run.
 * eml_pool_cancelled is the one check: false for a NULL pool or no
 * deadline, else one clock read until the deadline passes, then sticky
 * until the next eml_pool_set_deadline. The pool skips the tasks left once
 * it is true; a long kernel may call it at chunk granularity (a GEMM row
 * block) and return early: its output is then garbage, and the engine
 * refuses the run.
 */
void eml_pool_set_deadline(struct eml_pool *p, uint64_t deadline_ns);
bool eml_pool_cancelled(struct eml_pool *p);
uint64_t eml_pool_now_ns(void);
/*
 * One step of a busy wait on the pool's threads (the caller waiting for
 * the workers, a worker for the next run, a task for other tasks): a
 * pause, and every EML_POOL_YIELD_POLLS steps (~18 us) a sched_yield
 * instead (then true). When the other CPU is taken by another process,
 * both of the pool's threads share one: a thread that only spins holds
 * it for its whole time slice while the thread it waits for sits queued
 * behind it. *polls starts at 0.
 */
#define EML_POOL_YIELD_POLLS 1024u
bool eml_pool_wait_step(unsigned *polls);

/* ---------------------------------------------------------------- dispatch */

enum eml_isa {
	EML_ISA_REF = 0,
	EML_ISA_NEON = 1,
	EML_ISA_AVX2 = 2,   /* AVX2 + FMA */
	EML_ISA_AVX512 = 3, /* AVX-512 F/BW/DQ/VL */
};

const char *eml_isa_name(enum eml_isa isa);
/* Best ISA this CPU and OS support (CPUID and XCR0), ignoring EML_ISA. */
enum eml_isa eml_cpu_best_isa(void);

/* Fused epilogue for GEMM and convolution outputs, applied after bias. */
enum eml_act {
	EML_ACT_NONE = 0,
	EML_ACT_RELU,
	EML_ACT_LEAKY_RELU,  /* a = alpha */
	EML_ACT_CLIP,        /* a = min, b = max */
	EML_ACT_HARDSIGMOID, /* a = alpha, b = beta */
	EML_ACT_HARDSWISH,
	EML_ACT_SIGMOID,
	EML_ACT_TANH,
};

struct eml_epilogue {
	enum eml_act act;
	float a, b;
};

/* Element-wise unary operations (in place allowed: x == y). */
enum eml_unary {
	EML_UNARY_RELU = 0,
	EML_UNARY_LEAKY_RELU, /* p0 = alpha */
	EML_UNARY_CLIP,       /* p0 = min, p1 = max */
	EML_UNARY_HARDSIGMOID, /* p0 = alpha, p1 = beta */
	EML_UNARY_HARDSWISH,
	EML_UNARY_SIGMOID,
	EML_UNARY_TANH,
	EML_UNARY_EXP,
	EML_UNARY_LOG,
	EML_UNARY_SQRT,
	EML_UNARY_ABS,
	EML_UNARY_NEG,
	EML_UNARY_RECIPROCAL,
	EML_UNARY_ERF,
	EML_UNARY_GELU,
	EML_UNARY_COUNT
};

/* Element-wise binary operations. */
enum eml_binary {
	EML_BINARY_ADD = 0,
	EML_BINARY_SUB,
	EML_BINARY_MUL,
	EML_BINARY_DIV,
	EML_BINARY_POW,
	EML_BINARY_MAX,
	EML_BINARY_MIN,
	EML_BINARY_COUNT
};

/* ---------------------------------------------------------------- GEMM */

/*
 * C[M,N] = alpha * op(A)[M,K] * op(B)[K,N] + beta * C + bias, then the
 * epilogue. op(X) is X or X^T. bias is NULL, per column (length N) or per
 * row (length M). beta == 0 means C is not read (it may hold garbage).
 *
 * For constant B (weights), pack it once at plan time with
 * eml_sgemm_pack_b into eml_sgemm_packed_b_size(K, N) floats and pass it as
 * b_packed (then B, ldb and trans_b are ignored).
 */
enum eml_bias_kind { EML_BIAS_NONE = 0, EML_BIAS_COL, EML_BIAS_ROW };

struct eml_sgemm_args {
	size_t M, N, K;
	const float *A;
	size_t lda;
	bool trans_a;
	const float *B;
	size_t ldb;
	bool trans_b;
	const float *b_packed;
	float *C;
	size_t ldc;
	float alpha, beta;
	const float *bias;
	enum eml_bias_kind bias_kind;
	struct eml_epilogue ep;
};

size_t eml_sgemm_packed_b_size(size_t K, size_t N);
void eml_sgemm_pack_b(size_t K, size_t N, const float *B, size_t ldb, bool trans_b,
    float *packed);
/* Scratch the GEMM needs per call, in floats (callers give it from the
 * arena; the pool's threads share it by partition, so the pool passed to
 * eml_sgemm must have at most nthreads threads). */
size_t eml_sgemm_workspace_size(const struct eml_sgemm_args *a, int nthreads);
void eml_sgemm(const struct eml_sgemm_args *a, float *workspace, struct eml_pool *pool);

/* ---------------------------------------------------------------- conv */

/* 2-D convolution, NCHW, weights [M, C/group, kh, kw], optional bias [M].
 * Pads are explicit (the engine resolves auto_pad). */
struct eml_conv2d_params {
	size_t N, C, H, W; /* input */
	size_t M;          /* output channels */
	size_t kh, kw;
	size_t stride_h, stride_w;
	size_t dil_h, dil_w;
	size_t pad_top, pad_left, pad_bottom, pad_right;
	size_t group;
	struct eml_epilogue ep;
};

/* Output spatial size, or 0 when the parameters make no output. */
size_t eml_conv2d_out_h(const struct eml_conv2d_params *p);
size_t eml_conv2d_out_w(const struct eml_conv2d_params *p);

/* A convolution prepared once per shape: the method (direct, im2col+GEMM,
 * Winograd, depthwise) is chosen and the weights are packed into memory the
 * plan owns (eml_secure_alloc: weights are secret). */
struct eml_conv2d_plan;
eml_err eml_conv2d_plan_new(const struct eml_conv2d_params *p, const float *weights,
    const float *bias, int nthreads, struct eml_conv2d_plan **out) EML_MUST_USE;
/* Per-run scratch in floats, for the nthreads given to the plan (a bigger
 * pool at run time is not used: the run falls back to one thread). */
size_t eml_conv2d_workspace_size(const struct eml_conv2d_plan *plan);
void eml_conv2d_run(const struct eml_conv2d_plan *plan, const float *x, float *y,
    float *workspace, struct eml_pool *pool);
const char *eml_conv2d_method(const struct eml_conv2d_plan *plan);
/* Every later run of plan leaves y holding float16 values (each output
 * as eml_f32_round_f16 rounds it: the same bits as that pass over y
 * after the run), rounded by the task that wrote it while it is in cache
 * (direct, indirect, Winograd but its transposed form; the other methods
 * by a pass shared out over the pool). For a float16 graph (the engine holds float16 as
 * float32 rounded after every step). */
void eml_conv2d_plan_round_f16(struct eml_conv2d_plan *plan);
/* Like eml_conv2d_plan_new but with the kernels of one ISA (tests and
 * benchmarks). EML_ERR_UNSUPPORTED when this CPU or build lacks it;
 * EML_ERR_KERNEL_PARAMS for bad parameters. */
eml_err eml_conv2d_plan_new_isa(enum eml_isa isa, const struct eml_conv2d_params *p,
    const float *weights, const float *bias, int nthreads,
    struct eml_conv2d_plan **out) EML_MUST_USE;
/* With weights[m][...] scaled by wscale[m] (a folded batch norm): the
 * same products as a scaled copy passed to eml_conv2d_plan_new, bit for
 * bit, but Winograd plans take them in the filter transform and the
 * other methods free their copy once packed. */
eml_err eml_conv2d_plan_new_scaled(const struct eml_conv2d_params *p, const float *weights,
    const float *wscale, const float *bias, int nthreads,
    struct eml_conv2d_plan **out) EML_MUST_USE;
eml_err eml_conv2d_plan_new_isa_scaled(enum eml_isa isa, const struct eml_conv2d_params *p,
    const float *weights, const float *wscale, const float *bias, int nthreads,
    struct eml_conv2d_plan **out) EML_MUST_USE;
/* Wipes and frees the packed weights. NULL is a no-op. */
void eml_conv2d_plan_free(struct eml_conv2d_plan *plan);

/* ---------------------------------------------------------------- resize */

/*
 * Resize of NCHW planes H x W -> OH x OW from tables the caller computes:
 * output row oh reads input rows ih0[oh], ih1[oh] (equal when the row
 * falls on one input) with weight wh[oh] on the second, columns likewise
 * (iw0, iw1, ww). Nearest (linear false) reads ih0/iw0 only. Every index
 * must be inside the plane; the weight must be 0 where the two indices are
 * equal. y must not overlap x.
 */
struct eml_resize2d {
	size_t H, W, OH, OW;
	const int64_t *ih0, *ih1, *iw0, *iw1;
	const float *wh, *ww;
	bool linear;
};
void eml_resize2d_planes(const struct eml_resize2d *r, size_t planes, const float *x,
    float *y);

/* ---------------------------------------------------------------- others */

/*
 * The table of small kernels. Each entry exists for every ISA (the ref
 * version where no faster one is written).
 */
struct eml_kernels {
	enum eml_isa isa;
	/* y[i] = op(x[i]); in place allowed. */
	void (*unary)(enum eml_unary op, size_t n, const float *x, float *y, float p0, float p1);
	/* y[i] = a[i] op b[i]; in place allowed (y == a or y == b). */
	void (*binary)(enum eml_binary op, size_t n, const float *a, const float *b, float *y);
	/* y[i] = a[i] op s (scalar_first: s op a[i]). */
	void (*binary_scalar)(enum eml_binary op, size_t n, const float *a, float s,
	    bool scalar_first, float *y);
	/* Softmax over rows of length n: y = exp(x - max) / sum; rows * n floats. */
	void (*softmax)(size_t rows, size_t n, const float *x, float *y, bool log_softmax);
	/* Reductions over the inner dimension: y[r] = reduce(x[r*n .. r*n+n)). */
	void (*reduce_sum)(size_t rows, size_t n, const float *x, float *y);
	void (*reduce_max)(size_t rows, size_t n, const float *x, float *y);
	/* Max/average pooling, NCHW, explicit pads. count_include_pad only for
	 * average: with it the divisor is kh * kw, without it the number of
	 * window positions inside the input (0 gives 0). Padded positions
	 * never win a max (a window with no input gives -inf); NaN propagates.
	 * Windows past the bottom/right pads (ceil_mode) are the caller's. */
	void (*pool2d)(bool is_max, size_t NC, size_t H, size_t W, size_t kh, size_t kw,
	    size_t sh, size_t sw, size_t dh, size_t dw, size_t pt, size_t pl, size_t OH,
	    size_t OW, bool count_include_pad, const float *x, float *y);
	/* Global average / max over H*W per (n, c) plane. */
	void (*global_pool)(bool is_max, size_t NC, size_t HW, const float *x, float *y);
	/* y = x * scale[c] + shift[c] over NC planes of HW (batch norm folded). */
	void (*channel_affine)(size_t N, size_t C, size_t HW, const float *x,
	    const float *scale, const float *shift, float *y);
	/* Layer normalization over rows of n: y = (x-mean)/sqrt(var+eps)*g + b;
	 * g and b may be NULL. */
	void (*layernorm)(size_t rows, size_t n, const float *x, const float *g,
	    const float *b, float eps, float *y);

	/* GEMM of this ISA (added by kernels; eml_sgemm* above call the chosen
	 * table's). The packed-B layout is ISA-specific: a buffer packed by
	 * one table is only valid with the same table. */
	size_t (*sgemm_packed_b_size)(size_t K, size_t N);
	void (*sgemm_pack_b)(size_t K, size_t N, const float *B, size_t ldb, bool trans_b,
	    float *packed);
	size_t (*sgemm_workspace_size)(const struct eml_sgemm_args *a, int nthreads);
	void (*sgemm)(const struct eml_sgemm_args *a, float *workspace, struct eml_pool *pool);
};

/* The table for the chosen ISA; never NULL. Thread-safe; chosen once. */
const struct eml_kernels *eml_kernels_get(void);
/* The table for one ISA, or NULL when this CPU or build lacks it (tests). */
const struct eml_kernels *eml_kernels_for(enum eml_isa isa);

/* ---------------------------------------------------------------- float16 */

/* IEEE binary16 <-> float32, round to nearest even (F16C where the CPU has
 * it, the scalar conversion otherwise; both give the same bits). */
void eml_f16_to_f32(size_t n, const uint16_t *x, float *y);
void eml_f32_to_f16(size_t n, const float *x, uint16_t *y);
/* y = float(half(x)): what a float16 tensor can hold; in place allowed. */
void eml_f32_round_f16(size_t n, const float *x, float *y);

/* bfloat16 <-> float32: widening exact, narrowing to nearest even, NaN kept
 * (scalar; the compiler vectorizes the loops). */
void eml_bf16_to_f32(size_t n, const uint16_t *x, float *y);
void eml_f32_to_bf16(size_t n, const float *x, uint16_t *y);
void eml_f32_round_bf16(size_t n, const float *x, float *y);

/* ---------------------------------------------------------------- int8 GEMM */

/*
 * C[M,N] (int32) = sum_k (A[m,k] - za) * (B[k,n] - zb[n]), exactly, with
 * A and B int8 or uint8 (ONNX MatMulInteger / ConvInteger semantics; the
 * sum wraps modulo 2^32 like every variant's 32-bit accumulators).
 *
 * B is constant: packed once (eml_qgemm_pack) into
 * eml_qgemm_packed_size(K, N) bytes (64-byte aligned memory), which also
 * records its zero points and column sums and which kernel runs it: with
 * AVX2 the vpmaddubsw kernel when no pair of B values can saturate its
 * int16 sums for any uint8 A (|sum of the positive| and |sum of the
 * negative| of each pair <= 128), the exact vpmaddwd kernel otherwise;
 * with AVX-VNNI / AVX-512 VNNI vpdpbusd (exact). The packed buffer is only
 * valid for the ISA that packed it.
 */
enum eml_qisa {
	EML_QISA_REF = 0,
	EML_QISA_AVX2 = 1,       /* vpmaddubsw / vpmaddwd */
	EML_QISA_AVXVNNI = 2,    /* AVX-VNNI vpdpbusd on ymm */
	EML_QISA_AVX512VNNI = 3, /* AVX-512 VNNI vpdpbusd on zmm */
};
const char *eml_qisa_name(enum eml_qisa isa);
/* The int8 ISA chosen with the kernel table (EML_ISA=ref|avx2 lowers it). */
enum eml_qisa eml_qisa_get(void);
/* Whether this CPU and build run isa (tests). */
bool eml_qisa_available(enum eml_qisa isa);

size_t eml_qgemm_packed_size(enum eml_qisa isa, size_t K, size_t N);
/* B is K x N (trans_b: N x K) with row stride ldb, int8 when b_signed else
 * uint8; zb holds n_zb zero points (1 or N) in B's type (NULL: 0). K, N >= 1. */
void eml_qgemm_pack(enum eml_qisa isa, size_t K, size_t N, const void *B, size_t ldb,
    bool trans_b, bool b_signed, const void *zb, size_t n_zb, void *packed);
/* The kernel a packed B runs with ("avx2-maddubs", ...). */
const char *eml_qgemm_kernel_name(const void *packed);

/*
 * Requantization of int32 accumulators into uint8/int8 (the QLinear
 * outputs), ONNX Runtime's float steps exactly: per column n,
 * v = float(acc + bias[n]) * mult[n], clamped to +-2^22 (larger values
 * saturate anyway), rounded to nearest even, plus zp, clamped to
 * [lo, hi] (the type's range; a fused Relu raises lo to zp). Every
 * mult[n] must be finite.
 */
struct eml_qrequant {
	const int32_t *bias; /* per column; NULL: none */
	const float *mult;   /* per column */
	int32_t zp, lo, hi;
	bool y_signed;
	/* the output's layout: false, transposed (column j of row i at
	 * y[j * ldy + i], a GEMM's [pixel][channel] into NCHW); true, as the
	 * rows are (y[i * ldy + j], [pixel][channel]: NHWC) */
	bool rows;
};
struct eml_qgemm_args {
	size_t M;
	const void *A; /* M x K, row stride lda; int8 when a_signed else uint8 */
	size_t lda;
	bool a_signed;
	const int32_t *za; /* n_za zero points (1 or M) in A's type */
	size_t n_za;
	int32_t *C; /* M x N, row stride ldc */
	size_t ldc;
	/* optional: requantized output instead of C's int32 sums, laid out
	 * as rq->rows says (like eml_qrequant_t); C is then scratch. Fused into
	 * the kernel where it has the form (symmetric B, one A zero point). */
	const struct eml_qrequant *rq;
	void *y;
	size_t ldy;
	/* optional, with rq, only where eml_qgemm_indirect_ok: A given
	 * indirectly (a convolution without im2col): row i is, for t < taps,
	 * the K / taps bytes at A + a_offs[eml_qind_at(i, t, taps)], or at
	 * a_pad where that offset is negative; lda unused. The table is in
	 * blocks of EML_QIND_ROWS rows (a block's offsets of one tap
	 * contiguous: one line for the kernel's 8 rows), for M rounded up to
	 * the block, the rows past M negative. */
	const int32_t *a_offs;
	size_t taps;
	const uint8_t *a_pad;
};
#define EML_QIND_ROWS 8
static inline size_t
eml_qind_at(size_t i, size_t t, size_t taps)
{
	return (i / EML_QIND_ROWS * taps + t) * EML_QIND_ROWS + i % EML_QIND_ROWS;
}
/* Whether a packed B runs an indirect A of taps runs (requantized output,
 * one A zero point). */
bool eml_qgemm_indirect_ok(const void *packed, size_t taps);
void eml_qgemm(const void *packed, const struct eml_qgemm_args *a, struct eml_pool *pool);

/* Rows [m][n] of C (row stride ldc) into y: column j of row i goes to
 * y[j * ldy + i] (transposed: a GEMM's [pixel][channel] into NCHW), or
 * with r->rows to y[i * ldy + j]. */
void eml_qrequant_t(const struct eml_qrequant *r, size_t m, size_t n, const int32_t *C,
    size_t ldc, void *y, size_t ldy);
/* QuantizeLinear of n floats: y = saturate(nearbyint(x / scale) + zp) into
 * [lo, hi], NaN giving zp (ONNX Runtime's order: a division, not a
 * multiplication by 1 / scale); y int8 when y_signed else uint8. */
void eml_quantize_f32(size_t n, const float *x, float scale, int32_t zp, int32_t lo, int32_t hi,
    bool y_signed, void *y);
/* DequantizeLinear of n int8 (x_signed) or uint8: y = float(x - zp) * scale. */
void eml_dequantize_q8(size_t n, const void *x, bool x_signed, int32_t zp, float scale,
    float *y);
/* dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (bytes). */
void eml_u8_transpose(size_t rows, size_t cols, const uint8_t *src, size_t lds, uint8_t *dst,
    size_t ldd);

#endif
