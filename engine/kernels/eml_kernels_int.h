/*
 * Kernels, internal: the per-ISA entry points the dispatch tables are built
 * from, and the blocked GEMM driver shared by the SIMD variants. Not for
 * the engine: it uses eml_kernels.h only.
 */
#ifndef EML_KERNELS_INT_H
#define EML_KERNELS_INT_H

#include "engine/kernels/eml_kernels.h"

/* Whether the x86 SIMD kernels are built (the Makefile drops avx2.c and
 * avx512.c elsewhere). EML_NO_X86_KERNELS checks the portable build on
 * x86 (the ref-only configuration other architectures get). */
/* Kernel-local arrays written in full before they are read (vector
 * register blocks the compiler may keep in memory): exempt from the
 * build's -ftrivial-auto-var-init=zero, which otherwise clears them with
 * a rep stos on every loop iteration (21 % of the Winograd output
 * transform). Only for arrays whose every element is stored first. */
#if defined(__GNUC__) && (__GNUC__ >= 12 || defined(__clang__))
#define EML_NOINIT __attribute__((uninitialized))
#else
#define EML_NOINIT
#endif

#if (defined(__x86_64__) || defined(__i386__)) && !defined(EML_NO_X86_KERNELS)
#define EML_X86_KERNELS 1
#else
#define EML_X86_KERNELS 0
#endif

/* ------------------------------------------------ per-ISA small kernels */

#define EML_KERNEL_DECLS(isa)                                                  \
	void eml_unary_##isa(enum eml_unary op, size_t n, const float *x,      \
	    float *y, float p0, float p1);                                     \
	void eml_binary_##isa(enum eml_binary op, size_t n, const float *a,    \
	    const float *b, float *y);                                         \
	void eml_binary_scalar_##isa(enum eml_binary op, size_t n,             \
	    const float *a, float s, bool scalar_first, float *y);             \
	void eml_softmax_##isa(size_t rows, size_t n, const float *x, float *y, \
	    bool log_softmax);                                                 \
	void eml_reduce_sum_##isa(size_t rows, size_t n, const float *x,       \
	    float *y);                                                         \
	void eml_reduce_max_##isa(size_t rows, size_t n, const float *x,       \
	    float *y);                                                         \
	void eml_global_pool_##isa(bool is_max, size_t NC, size_t HW,          \
	    const float *x, float *y);                                         \
	void eml_channel_affine_##isa(size_t N, size_t C, size_t HW,           \
	    const float *x, const float *scale, const float *shift, float *y); \
	void eml_layernorm_##isa(size_t rows, size_t n, const float *x,        \
	    const float *g, const float *b, float eps, float *y);              \
	void eml_pool2d_##isa(bool is_max, size_t NC, size_t H, size_t W,      \
	    size_t kh, size_t kw, size_t sh, size_t sw, size_t dh, size_t dw,  \
	    size_t pt, size_t pl, size_t OH, size_t OW, bool count_include_pad, \
	    const float *x, float *y)

EML_KERNEL_DECLS(ref);
EML_KERNEL_DECLS(avx2);
EML_KERNEL_DECLS(avx512);

/* Scalar activation, the definition every ISA's epilogue must match. */
float eml_act_ref(enum eml_act act, float a, float b, float x);

/* ------------------------------------------------ GEMM */

/* The reference GEMM (the oracle): plain loops, no packing beyond a
 * row-major copy of B. */
size_t eml_sgemm_packed_b_size_ref(size_t K, size_t N);
void eml_sgemm_pack_b_ref(size_t K, size_t N, const float *B, size_t ldb, bool trans_b,
    float *packed);
size_t eml_sgemm_workspace_size_ref(const struct eml_sgemm_args *a, int nthreads);
void eml_sgemm_ref(const struct eml_sgemm_args *a, float *workspace, struct eml_pool *pool);

/*
 * The epilogue a micro-kernel applies to its mr x nr tile:
 *   v = alpha * acc + (beta != 0 ? beta * C : 0)
 *   on the last K block: v += bias; v = act(v)
 * bias_row points at the tile's first row's bias (length m) or is NULL;
 * bias_col at the tile's first column's bias (length n) or is NULL.
 */
struct eml_gemm_ep {
	float alpha, beta;
	bool last;
	const float *bias_row;
	const float *bias_col;
	enum eml_act act;
	float a, b;
};

/*
 * One ISA's GEMM pieces. Packed A: panels of mr rows, k-major
 * (pa[k * mr + i]); packed B: panels of nr columns, k-major
 * (pb[k * nr + j]); rows/columns past the matrix are zero. The kernel
 * computes an m x n tile (m <= mr, n <= nr) and touches nothing outside it.
 */
struct eml_gemm_impl {
	size_t mr, nr;
	size_t mc, kc, nc; /* cache blocking: mc % mr == 0, nc % nr == 0 */
	void (*pack_a)(size_t m, size_t k, const float *A, size_t lda, bool trans,
	    float *dst);
	void (*pack_b)(size_t k, size_t n, const float *B, size_t ldb, bool trans,
	    float *dst);
	void (*kernel)(size_t k, const float *pa, const float *pb, float *c, size_t ldc,
	    size_t m, size_t n, const struct eml_gemm_ep *ep);
	/* kernel with A in place: row i at step p is a[koff[p] + i] (NULL:
	 * not written for this impl; the indirect convolution in conv.c). */
	void (*kernel_ind)(size_t k, const float *a, const uint32_t *koff, const float *pb,
	    float *c, size_t ldc, size_t m, size_t n, const struct eml_gemm_ep *ep);
};

extern const struct eml_gemm_impl eml_gemm_avx2;
extern const struct eml_gemm_impl eml_gemm_avx512;      /* 14 x 32 */
extern const struct eml_gemm_impl eml_gemm_avx512_8x48;
/* The AVX-512 impl that pads an M x N grid of tiles least (ties: 14x32). */
const struct eml_gemm_impl *eml_gemm_avx512_pick(size_t M, size_t N);

/* The blocked driver (gemm/gemm.c) over one impl. Pre-packed operands
 * are cut into K blocks of eml_sgemm_blk_kc(g, K) rows (the last one
 * shorter). */
size_t eml_sgemm_blk_kc(const struct eml_gemm_impl *g, size_t K);
size_t eml_sgemm_blk_packed_b_size(const struct eml_gemm_impl *g, size_t K, size_t N);
void eml_sgemm_blk_pack_b(const struct eml_gemm_impl *g, size_t K, size_t N,
    const float *B, size_t ldb, bool trans_b, float *packed);
size_t eml_sgemm_blk_packed_a_size(const struct eml_gemm_impl *g, size_t M, size_t K);
void eml_sgemm_blk_pack_a(const struct eml_gemm_impl *g, size_t M, size_t K,
    const float *A, size_t lda, bool trans_a, float *packed);
size_t eml_sgemm_blk_workspace_size(const struct eml_gemm_impl *g, size_t M, size_t N,
    size_t K, bool a_packed, bool b_packed, int nthreads);
/* a_packed (from eml_sgemm_blk_pack_a) replaces A when not NULL. */
void eml_sgemm_blk(const struct eml_gemm_impl *g, const struct eml_sgemm_args *a,
    const float *a_packed, float *workspace, struct eml_pool *pool);
/* A B operand produced on the fly (implicit im2col): pack rows
 * [k0, k0 + kk) and columns [n0, n0 + nn) of the virtual B into panels of
 * nr columns, k-major, zero past nn, exactly like pack_b. */
struct eml_gemm_bsrc {
	void (*pack)(const void *ctx, size_t k0, size_t kk, size_t n0, size_t nn, size_t nr,
	    float *dst);
	const void *ctx;
};
/* asrc likewise produces A on the fly: rows [n0, n0 + nn) of A^T's
 * columns, i.e. panels of mr rows, k-major (called with nr := mr). */
void eml_sgemm_blk_ex(const struct eml_gemm_impl *g, const struct eml_sgemm_args *a,
    const float *a_packed, const struct eml_gemm_bsrc *asrc, const struct eml_gemm_bsrc *bsrc,
    float *workspace, struct eml_pool *pool);

/* One rectangle [m0, m1) x [n0, n1) of C (m0 a multiple of mr, n0 of
 * nr), single-threaded, with B pre-packed (a->b_packed) and A pre-packed
 * (a_packed), made by asrc, or packed from a->A: the same values as the
 * whole product gives there. workspace: eml_sgemm_blk_part_ws floats
 * (aligned here: slices of a workspace sized by
 * eml_sgemm_blk_workspace_size for t threads, t * part_ws apart, fit). */
size_t eml_sgemm_blk_part_ws(const struct eml_gemm_impl *g, bool a_packed, bool b_packed);
void eml_sgemm_blk_part(const struct eml_gemm_impl *g, const struct eml_sgemm_args *a,
    const float *a_packed, const struct eml_gemm_bsrc *asrc, size_t m0, size_t m1, size_t n0,
    size_t n1, float *workspace);

#define EML_GEMM_ISA_DECLS(isa)                                                \
	size_t eml_sgemm_packed_b_size_##isa(size_t K, size_t N);              \
	void eml_sgemm_pack_b_##isa(size_t K, size_t N, const float *B,        \
	    size_t ldb, bool trans_b, float *packed);                          \
	size_t eml_sgemm_workspace_size_##isa(const struct eml_sgemm_args *a,  \
	    int nthreads);                                                     \
	void eml_sgemm_##isa(const struct eml_sgemm_args *a, float *workspace, \
	    struct eml_pool *pool)
EML_GEMM_ISA_DECLS(avx2);
EML_GEMM_ISA_DECLS(avx512);

/* Benchmarks: iters x 12 independent FMAs of one vector (peak GFLOP/s as
 * the machine delivers it). Only call when the ISA is available. */
float eml_fma_peak_avx2(size_t iters);
float eml_fma_peak_avx512(size_t iters);

/* ------------------------------------------------ convolution */

/* Direct convolution, the oracle: y = act(conv(x, w) + bias). */
void eml_conv2d_ref(const struct eml_conv2d_params *p, const float *x, const float *w,
    const float *bias, float *y);

/* Depthwise (group == C == M) direct kernel for one channel plane:
 * x is H x W, w is kh x kw, y is OH x OW; scratch holds
 * eml_dwconv_scratch_size floats (the zero-padded plane). */
typedef void (*eml_dwconv_fn)(const struct eml_conv2d_params *p, size_t OH, size_t OW,
    const float *x, const float *w, float bias, float *y, float *scratch);
void eml_dwconv_avx2(const struct eml_conv2d_params *p, size_t OH, size_t OW,
    const float *x, const float *w, float bias, float *y, float *scratch);
void eml_dwconv_avx512(const struct eml_conv2d_params *p, size_t OH, size_t OW,
    const float *x, const float *w, float bias, float *y, float *scratch);
/* The padded plane: PH rows of PW floats, covering every input position a
 * full-vector (even stride-2) load of any output vector touches. */
void eml_dwconv_geometry(const struct eml_conv2d_params *p, size_t OH, size_t OW, size_t *PH,
    size_t *PW);
size_t eml_dwconv_scratch_size(const struct eml_conv2d_params *p, size_t OH, size_t OW);
/* A depthwise step's cost for eml_pool_for (flop-equivalents). */
double eml_dwconv_work(const struct eml_conv2d_params *p, size_t OH, size_t OW);

/* Direct convolution for few output channels (conv/direct_tmpl.h): pad
 * copies planes [c0, c1) of one image into s (C planes of PH x PW, then
 * EML_DCONV_SLACK floats); run makes output rows [oh0, oh1) of every
 * channel from s and the weights repacked as wt [C][kh][kw][M]. With
 * stride_w 2 each padded row is stored as its even columns then its odd
 * ones (PW / 2 each). */
#define EML_DCONV_SLACK 96
#define EML_DCONV_DECLS(isa)                                                   \
	void eml_dconv_pad_##isa(const struct eml_conv2d_params *p, size_t PH, \
	    size_t PW, size_t c0, size_t c1, const float *x, float *s);        \
	void eml_dconv_##isa(const struct eml_conv2d_params *p, size_t OH,     \
	    size_t OW, size_t PH, size_t PW, const float *s, const float *wt,  \
	    const float *bias, size_t oh0, size_t oh1, float *y)
EML_DCONV_DECLS(avx2);
EML_DCONV_DECLS(avx512);

/* Implicit im2col (conv.c): the context of an eml_gemm_bsrc that packs the
 * column matrix of one image and group (x: its C/group planes). */
struct eml_im2col {
	const struct eml_conv2d_params *p;
	size_t OW;
	const float *x;
};
void eml_im2col_pack_avx2(const void *ctx, size_t k0, size_t kk, size_t n0, size_t nn,
    size_t nr, float *dst);
void eml_im2col_pack_avx512(const void *ctx, size_t k0, size_t kk, size_t n0, size_t nn,
    size_t nr, float *dst);

/* Winograd F(2x2, 3x3) filter transform (conv.c): U = G g G^T of n 3x3
 * filters g [n][9], value xi of filter i at u[xi * ustride + i]. */
void eml_wino_filter(const float *weights, size_t n, float *u, size_t ustride);
/* The same for the M x C filters [M][C][9] of one conv, straight into the
 * 16 packed GEMM operands at out + xi * xs: U_xi [M, C] packed as A with
 * r = mr, or U_xi^T [C, M] packed as B with r = nr, in K blocks of kcb
 * (eml_sgemm_blk_kc): bit for bit eml_wino_filter then pack_a / pack_b.
 * wscale: filter m's taps times wscale[m] first, or NULL. */
void eml_wino_filter_packed(const float *weights, const float *wscale, size_t M, size_t C,
    size_t r, size_t kcb, float *out, size_t xs);

/* Winograd F(2x2, 3x3) transforms (conv/wino_tmpl.h; conv.c runs the 16
 * GEMMs between them). in and out take the tiles [t0, t1) of TW per tile
 * row (t = th * TW + tw, ranges may start and end inside a row). in: one
 * input channel plane into v[xi * vstride + (r / nr) * pstride + r % nr],
 * r = t - t0 (panels of nr tiles; nr >= t1 - t0: one run), scratch 8 TW
 * + 144 floats. out: one output channel's 16 GEMM results at
 * mb[xi * mstride + t - t0] into the plane y with bias and p->ep (scratch
 * unused), rounded to float16 values with round16 (eml_f32_round_f16's
 * bits: AVX-512 in registers before the store). out_t: the transposed form, results ct[xi * xs + t * M + m],
 * tile row th of the output channels [m0, m1) of y [M][OH][OW]. */
#define EML_WINO_DECLS(isa)                                                    \
	void eml_wino_in_##isa(const struct eml_conv2d_params *p, size_t TW,   \
	    size_t t0, size_t t1, const float *x, float *v, size_t vstride,    \
	    size_t nr, size_t pstride, float *scratch);                        \
	void eml_wino_out_##isa(const struct eml_conv2d_params *p, size_t OH,  \
	    size_t OW, size_t TW, size_t t0, size_t t1, const float *mb,       \
	    size_t mstride, float bias, float *y, float *scratch, bool round16);  \
	void eml_wino_out_t_##isa(const struct eml_conv2d_params *p, size_t OH, \
	    size_t OW, size_t TW, size_t th0, size_t th, const float *ct,      \
	    size_t xs, const float *bias, size_t m0, size_t m1, float *y)
EML_WINO_DECLS(avx2);
EML_WINO_DECLS(avx512);

#endif
