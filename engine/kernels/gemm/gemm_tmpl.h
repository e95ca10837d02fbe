/*
 * GEMM packing and micro-kernel, written once over the vf_* wrappers and
 * instantiated per ISA (gemm/avx2.c, gemm/avx512.c) with:
 *   GEMM_MR  rows of the register tile
 *   GEMM_NV  vectors per row (GEMM_NR = GEMM_NV * VF_N columns)
 * The accumulators (GEMM_MR * GEMM_NV vectors) stay in registers: the
 * constant-bound loops are fully unrolled by the compiler (#pragma).
 */
#if !defined(GEMM_MR) || !defined(GEMM_NV) || !defined(GEMM_TAG)
#error "define GEMM_MR, GEMM_NV and GEMM_TAG before including gemm_tmpl.h"
#endif

#define GEMM_NR (GEMM_NV * VF_N)
#define GT_CAT2(a, b) a##_##b
#define GT_CAT(a, b) GT_CAT2(a, b)
#define GT(n) GT_CAT(n, GEMM_TAG)

static size_t
GT(gemm_min)(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* m rows x k of A (or of A^T when trans) into panels of GEMM_MR rows,
 * k-major; rows past m are zero. */
static void
GT(gemm_pack_a)(size_t m, size_t k, const float *A, size_t lda, bool trans, float *dst)
{
	size_t i0, i, p;

	for (i0 = 0; i0 < m; i0 += GEMM_MR) {
		size_t mi = GT(gemm_min)(GEMM_MR, m - i0);

		if (trans) {
			for (p = 0; p < k; p++) {
				const float *src = A + p * lda + i0;

				for (i = 0; i < mi; i++)
					dst[p * GEMM_MR + i] = src[i];
				for (; i < GEMM_MR; i++)
					dst[p * GEMM_MR + i] = 0.0f;
			}
		} else if (mi == GEMM_MR) {
			/* MR read streams, one sequential write stream. */
			for (p = 0; p < k; p++)
#pragma GCC unroll 32
				for (i = 0; i < GEMM_MR; i++)
					dst[p * GEMM_MR + i] = A[(i0 + i) * lda + p];
		} else {
			for (p = 0; p < k; p++) {
				for (i = 0; i < mi; i++)
					dst[p * GEMM_MR + i] = A[(i0 + i) * lda + p];
				for (; i < GEMM_MR; i++)
					dst[p * GEMM_MR + i] = 0.0f;
			}
		}
		dst += GEMM_MR * k;
	}
}

/* k x n of B (or of B^T when trans) into panels of GEMM_NR columns,
 * k-major; columns past n are zero. Masked loads: nothing past n read. */
static void
GT(gemm_pack_b)(size_t k, size_t n, const float *B, size_t ldb, bool trans, float *dst)
{
	size_t j0, j, p, v;

	for (j0 = 0; j0 < n; j0 += GEMM_NR) {
		size_t nj = GT(gemm_min)(GEMM_NR, n - j0);

		if (trans) {
			for (j = 0; j < nj; j++) {
				const float *src = B + (j0 + j) * ldb;

				for (p = 0; p < k; p++)
					dst[p * GEMM_NR + j] = src[p];
			}
			for (; j < GEMM_NR; j++)
				for (p = 0; p < k; p++)
					dst[p * GEMM_NR + j] = 0.0f;
		} else if (nj == GEMM_NR) {
			for (p = 0; p < k; p++)
				for (v = 0; v < GEMM_NV; v++)
					vf_store(dst + p * GEMM_NR + v * VF_N,
					    vf_load(B + p * ldb + j0 + v * VF_N));
		} else {
			for (p = 0; p < k; p++) {
				for (v = 0; v < GEMM_NV; v++) {
					size_t off = v * VF_N;
					size_t cnt = nj > off ? GT(gemm_min)(VF_N, nj - off) : 0;

					vf_store(dst + p * GEMM_NR + off,
					    cnt == 0 ? vf_zero() : vf_loadn(B + p * ldb + j0 + off, cnt));
				}
			}
		}
		dst += GEMM_NR * k;
	}
}

static void
GT(gemm_kernel)(size_t k, const float *pa, const float *pb, float *c, size_t ldc, size_t m,
    size_t n, const struct eml_gemm_ep *ep)
{
	vf acc[GEMM_MR][GEMM_NV];
	size_t cnt[GEMM_NV];
	size_t p;
	int i, v;
	vf va, vb, alpha, beta;

#pragma GCC unroll 32
	for (i = 0; i < GEMM_MR; i++)
#pragma GCC unroll 4
		for (v = 0; v < GEMM_NV; v++)
			acc[i][v] = vf_zero();
	for (p = 0; p < k; p++) {
		vf b[GEMM_NV];

		/* The next B micro-panel (k x GEMM_NR further on) into L2
		 * while this one runs: a panel streamed from memory for few
		 * row tiles (ResNet's 7x7 stage: 16 MB of weights for 16 rows)
		 * otherwise stalls on every line. A prefetch never faults, so
		 * past the last panel it is harmless; it changes no result. */
#pragma GCC unroll 4
		for (v = 0; v < GEMM_NV; v++)
			__builtin_prefetch(pb + k * GEMM_NR + v * VF_N, 0, 2);
#pragma GCC unroll 4
		for (v = 0; v < GEMM_NV; v++)
			b[v] = vf_load(pb + v * VF_N);
#pragma GCC unroll 32
		for (i = 0; i < GEMM_MR; i++) {
			vf a = vf_set1(pa[i]);

#pragma GCC unroll 4
			for (v = 0; v < GEMM_NV; v++)
				acc[i][v] = vf_fma(a, b[v], acc[i][v]);
		}
		pa += GEMM_MR;
		pb += GEMM_NR;
	}

	/* Epilogue constants only now: set before the loop they would take
	 * registers from the accumulators (AVX2 has only 16). */
	va = vf_set1(ep->a);
	vb = vf_set1(ep->b);
	alpha = vf_set1(ep->alpha);
	beta = vf_set1(ep->beta);
#pragma GCC unroll 4
	for (v = 0; v < GEMM_NV; v++) {
		size_t off = (size_t)v * VF_N;

		cnt[v] = n > off ? GT(gemm_min)(VF_N, n - off) : 0;
	}
#pragma GCC unroll 32
	for (i = 0; i < GEMM_MR; i++) {
		float *cr = c + (size_t)i * ldc;

		if ((size_t)i >= m)
			break;
#pragma GCC unroll 4
		for (v = 0; v < GEMM_NV; v++) {
			size_t off = (size_t)v * VF_N;
			vf x = vf_mul(acc[i][v], alpha);

			if (cnt[v] == 0)
				break;
			if (ep->beta != 0.0f)
				x = vf_fma(beta, cnt[v] == VF_N ? vf_load(cr + off) :
								  vf_loadn(cr + off, cnt[v]),
				    x);
			if (ep->last) {
				if (ep->bias_row != NULL)
					x = vf_add(x, vf_set1(ep->bias_row[i]));
				if (ep->bias_col != NULL)
					x = vf_add(x, cnt[v] == VF_N ?
						    vf_load(ep->bias_col + off) :
						    vf_loadn(ep->bias_col + off, cnt[v]));
				x = vf_act(ep->act, x, va, vb);
			}
			if (cnt[v] == VF_N)
				vf_store(cr + off, x);
			else
				vf_storen(cr + off, x, cnt[v]);
		}
	}
}

#ifdef GEMM_IND
/*
 * The micro-kernel with A read in place instead of packed: row i of A at
 * step p is a[koff[p] + i] (the indirect convolution: A is an image padded
 * and deinterleaved so that a tap of GEMM_MR adjacent output pixels is
 * GEMM_MR adjacent floats; koff the tap offsets, conv.c). Rows past m
 * read floats the caller keeps inside its buffer and are never stored.
 * The k loop and the epilogue are gemm_kernel's, so with the values a
 * packed A would hold it gives the same bits.
 */
static void
GT(gemm_kernel_ind)(size_t k, const float *a, const uint32_t *koff, const float *pb, float *c,
    size_t ldc, size_t m, size_t n, const struct eml_gemm_ep *ep)
{
	vf acc[GEMM_MR][GEMM_NV];
	size_t cnt[GEMM_NV];
	size_t p;
	int i, v;
	vf va, vb, alpha, beta;

#pragma GCC unroll 32
	for (i = 0; i < GEMM_MR; i++)
#pragma GCC unroll 4
		for (v = 0; v < GEMM_NV; v++)
			acc[i][v] = vf_zero();
	for (p = 0; p < k; p++) {
		const float *pa = a + koff[p];
		vf b[GEMM_NV];

#pragma GCC unroll 4
		for (v = 0; v < GEMM_NV; v++)
			__builtin_prefetch(pb + k * GEMM_NR + v * VF_N, 0, 2);
#pragma GCC unroll 4
		for (v = 0; v < GEMM_NV; v++)
			b[v] = vf_load(pb + v * VF_N);
#pragma GCC unroll 32
		for (i = 0; i < GEMM_MR; i++) {
			vf av = vf_set1(pa[i]);

#pragma GCC unroll 4
			for (v = 0; v < GEMM_NV; v++)
				acc[i][v] = vf_fma(av, b[v], acc[i][v]);
		}
		pb += GEMM_NR;
	}

	va = vf_set1(ep->a);
	vb = vf_set1(ep->b);
	alpha = vf_set1(ep->alpha);
	beta = vf_set1(ep->beta);
#pragma GCC unroll 4
	for (v = 0; v < GEMM_NV; v++) {
		size_t off = (size_t)v * VF_N;

		cnt[v] = n > off ? GT(gemm_min)(VF_N, n - off) : 0;
	}
#pragma GCC unroll 32
	for (i = 0; i < GEMM_MR; i++) {
		float *cr = c + (size_t)i * ldc;

		if ((size_t)i >= m)
			break;
#pragma GCC unroll 4
		for (v = 0; v < GEMM_NV; v++) {
			size_t off = (size_t)v * VF_N;
			vf x = vf_mul(acc[i][v], alpha);

			if (cnt[v] == 0)
				break;
			if (ep->beta != 0.0f)
				x = vf_fma(beta, cnt[v] == VF_N ? vf_load(cr + off) :
								  vf_loadn(cr + off, cnt[v]),
				    x);
			if (ep->last) {
				if (ep->bias_row != NULL)
					x = vf_add(x, vf_set1(ep->bias_row[i]));
				if (ep->bias_col != NULL)
					x = vf_add(x, cnt[v] == VF_N ?
						    vf_load(ep->bias_col + off) :
						    vf_loadn(ep->bias_col + off, cnt[v]));
				x = vf_act(ep->act, x, va, vb);
			}
			if (cnt[v] == VF_N)
				vf_store(cr + off, x);
			else
				vf_storen(cr + off, x, cnt[v]);
		}
	}
}
#endif
