/*
 * The blocked GEMM driver shared by the SIMD variants (the Goto/BLIS loop
 * nest). Built for the baseline ISA: it only loops and calls the ISA's
 * pack and micro-kernel functions through struct eml_gemm_impl.
 *
 *   for nb over N in nc        (B block kc x nc: L2/L3)
 *     for kb over K in kc      (pack B block unless pre-packed)
 *       for mb over M in mc    (pack A block mc x kc: L2, unless pre-packed)
 *         for jr over nc in nr (B micro-panel kc x nr: L1)
 *           for ir over mc in mr: micro-kernel mr x nr, registers
 *
 * Pre-packed operands hold the whole matrix as consecutive kc-row blocks:
 * block kb starts at kb * Np (Np = N rounded up to nr) and is
 * ceil(N/nr) panels of kc_eff x nr. Packed A is the same with M and mr.
 *
 * Threads: C is cut into a grid of tasks (row ranges a multiple of mr,
 * column ranges a multiple of nr), each task running the whole loop nest
 * on its own rectangle with its own slice of the workspace. The split
 * prefers columns (B traffic is then not duplicated when B is packed per
 * call) and only cuts rows when there are too few column panels.
 */
#include <string.h>

#include "engine/kernels/eml_kernels_int.h"

#define WS_ALIGN 16 /* floats: 64 bytes */

static size_t
round_up(size_t x, size_t m)
{
	return (x + m - 1) / m * m;
}

static size_t
min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

/*
 * The K block actually used: K split into equal blocks of at most kc
 * (576 = 3 x 192 rather than 256 + 256 + 64: a short last block pays the
 * C load/store of a whole pass for a few k steps). Packing and running
 * both use this, so pre-packed operands agree with the run.
 */
static size_t
kc_for(const struct eml_gemm_impl *g, size_t K)
{
	size_t nblk = (K + g->kc - 1) / g->kc;

	return nblk <= 1 ? g->kc : (K + nblk - 1) / nblk;
}

size_t
eml_sgemm_blk_kc(const struct eml_gemm_impl *g, size_t K)
{
	return kc_for(g, K);
}

size_t
eml_sgemm_blk_packed_b_size(const struct eml_gemm_impl *g, size_t K, size_t N)
{
	return K * round_up(N, g->nr);
}

size_t
eml_sgemm_blk_packed_a_size(const struct eml_gemm_impl *g, size_t M, size_t K)
{
	return K * round_up(M, g->mr);
}

void
eml_sgemm_blk_pack_b(const struct eml_gemm_impl *g, size_t K, size_t N, const float *B,
    size_t ldb, bool trans_b, float *packed)
{
	size_t Np = round_up(N, g->nr), kb;

	for (kb = 0; kb < K; kb += kc_for(g, K)) {
		size_t kk = min_sz(kc_for(g, K), K - kb);
		const float *src = trans_b ? B + kb : B + kb * ldb;

		g->pack_b(kk, N, src, ldb, trans_b, packed + kb * Np);
	}
}

void
eml_sgemm_blk_pack_a(const struct eml_gemm_impl *g, size_t M, size_t K, const float *A,
    size_t lda, bool trans_a, float *packed)
{
	size_t Mp = round_up(M, g->mr), kb;

	for (kb = 0; kb < K; kb += kc_for(g, K)) {
		size_t kk = min_sz(kc_for(g, K), K - kb);
		const float *src = trans_a ? A + kb * lda : A + kb;

		g->pack_a(M, kk, src, lda, trans_a, packed + kb * Mp);
	}
}

struct gemm_split {
	size_t tm, tn;       /* task grid */
	size_t mstep, nstep; /* rows / columns per task (multiples of mr / nr) */
};

/* Column tasks per thread when A is pre-packed: a task then packs only
 * its own B columns, so narrower tasks cost nothing extra, and a thread
 * that joins late (or is preempted) holds up the run by one task, not by
 * half of the GEMM. With A packed per task, every task repacks A. */
#define GEMM_COL_TASKS_PER_THREAD 4

static struct gemm_split
split_for(const struct eml_gemm_impl *g, size_t M, size_t N, int nthreads, bool a_packed,
    bool rows)
{
	struct gemm_split s;
	size_t t = nthreads < 1 ? 1 : (size_t)nthreads;
	size_t npanels = (N + g->nr - 1) / g->nr;
	size_t mpanels = (M + g->mr - 1) / g->mr;

	s.tm = 1;
	s.tn = 1;
	if (t > 1 && rows && mpanels >= t) {
		/* A is packed per task from a source (a convolution's image):
		 * cutting columns would make every task pack all of it. */
		s.tm = t;
	} else if (t > 1) {
		/* Enough column panels: split columns only; else add rows. */
		if (npanels >= 2 * t) {
			s.tn = a_packed ? min_sz(npanels, GEMM_COL_TASKS_PER_THREAD * t) : t;
		} else {
			s.tn = npanels < t ? (npanels == 0 ? 1 : npanels) : t;
			s.tm = min_sz((t + s.tn - 1) / s.tn * 2, mpanels == 0 ? 1 : mpanels);
		}
	}
	s.nstep = round_up((N + s.tn - 1) / s.tn, g->nr);
	s.mstep = round_up((M + s.tm - 1) / s.tm, g->mr);
	if (s.nstep == 0)
		s.nstep = g->nr;
	if (s.mstep == 0)
		s.mstep = g->mr;
	s.tn = (N + s.nstep - 1) / s.nstep;
	s.tm = (M + s.mstep - 1) / s.mstep;
	return s;
}

static size_t
per_thread_ws(const struct eml_gemm_impl *g, bool a_packed, bool b_packed)
{
	size_t n = 0;

	if (!a_packed)
		n += round_up(g->mc * g->kc, WS_ALIGN);
	if (!b_packed)
		n += round_up(g->kc * g->nc, WS_ALIGN);
	return n;
}

size_t
eml_sgemm_blk_workspace_size(const struct eml_gemm_impl *g, size_t M, size_t N, size_t K,
    bool a_packed, bool b_packed, int nthreads)
{
	size_t t = nthreads < 1 ? 1 : (size_t)nthreads;

	(void)M;
	(void)N;
	(void)K;
	/* + WS_ALIGN so the first slice can be aligned to 64 bytes. */
	return t * per_thread_ws(g, a_packed, b_packed) + WS_ALIGN;
}

struct gemm_job {
	const struct eml_gemm_impl *g;
	const struct eml_sgemm_args *a;
	const float *a_packed;
	const struct eml_gemm_bsrc *asrc;
	const struct eml_gemm_bsrc *bsrc;
	float *ws; /* aligned */
	size_t ws_per_thread;
	struct gemm_split s;
	struct eml_pool *pool; /* for the cancellation check */
};

static void
gemm_rect(const struct gemm_job *job, size_t m0, size_t m1, size_t n0, size_t n1, float *ws)
{
	const struct eml_gemm_impl *g = job->g;
	const struct eml_sgemm_args *a = job->a;
	size_t mr = g->mr, nr = g->nr, K = a->K;
	size_t Np = round_up(a->N, nr), Mp = round_up(a->M, mr);
	float *wa = ws;
	float *wb = ws + (job->a_packed == NULL ? round_up(g->mc * g->kc, WS_ALIGN) : 0);
	size_t kcb = kc_for(g, K);
	struct eml_gemm_ep ep;
	size_t nb, kb, mb, jr, ir;

	ep.alpha = a->alpha;
	ep.act = a->ep.act;
	ep.a = a->ep.a;
	ep.b = a->ep.b;
	for (nb = n0; nb < n1; nb += g->nc) {
		size_t nn = min_sz(g->nc, n1 - nb);

		/* K == 0: C = beta * C + bias, act; one pass with a zero-length
		 * product (the kernel then never reads pa or pb). */
		for (kb = 0; kb < K || (K == 0 && kb == 0); kb += kcb) {
			size_t kk = min_sz(kcb, K - kb);
			const float *pb;

			ep.beta = kb == 0 ? a->beta : 1.0f;
			ep.last = kb + kk >= K;
			if (a->b_packed != NULL) {
				pb = a->b_packed + kb * Np + (nb / nr) * nr * kk;
			} else {
				const float *src = a->trans_b ? a->B + nb * a->ldb + kb :
								a->B + kb * a->ldb + nb;

				if (kk > 0 && job->bsrc != NULL)
					job->bsrc->pack(job->bsrc->ctx, kb, kk, nb, nn, nr, wb);
				else if (kk > 0)
					g->pack_b(kk, nn, src, a->ldb, a->trans_b, wb);
				pb = wb;
			}
			for (mb = m0; mb < m1; mb += g->mc) {
				size_t mm = min_sz(g->mc, m1 - mb);
				const float *pa;

				/* Past the run's deadline: stop (the engine
				 * refuses the run; C is garbage). */
				if (eml_pool_cancelled(job->pool))
					return;

				if (job->a_packed != NULL) {
					pa = job->a_packed + kb * Mp + (mb / mr) * mr * kk;
				} else {
					const float *src = a->trans_a ? a->A + kb * a->lda + mb :
									a->A + mb * a->lda + kb;

					/* An A source packs rows as the B source packs
					 * columns: panels of mr, k-major (the same
					 * layout with nr := mr). */
					if (kk > 0 && job->asrc != NULL)
						job->asrc->pack(job->asrc->ctx, kb, kk, mb, mm, mr, wa);
					else if (kk > 0)
						g->pack_a(mm, kk, src, a->lda, a->trans_a, wa);
					pa = wa;
				}
				for (jr = 0; jr < nn; jr += nr) {
					size_t n = min_sz(nr, nn - jr);

					ep.bias_col = a->bias_kind == EML_BIAS_COL && a->bias != NULL ?
					    a->bias + nb + jr :
					    NULL;
					for (ir = 0; ir < mm; ir += mr) {
						size_t m = min_sz(mr, mm - ir);

						ep.bias_row = a->bias_kind == EML_BIAS_ROW && a->bias != NULL ?
						    a->bias + mb + ir :
						    NULL;
						g->kernel(kk, pa + (ir / mr) * mr * kk,
						    pb + (jr / nr) * nr * kk,
						    a->C + (mb + ir) * a->ldc + nb + jr, a->ldc, m, n,
						    &ep);
					}
				}
			}
			if (K == 0)
				break;
		}
	}
}

static void
gemm_task(void *arg, size_t task, int thread)
{
	const struct gemm_job *job = arg;
	size_t ti = task / job->s.tn, tj = task % job->s.tn;
	size_t m0 = ti * job->s.mstep, n0 = tj * job->s.nstep;
	size_t m1 = min_sz(m0 + job->s.mstep, job->a->M);
	size_t n1 = min_sz(n0 + job->s.nstep, job->a->N);

	if (m0 >= m1 || n0 >= n1)
		return;
	gemm_rect(job, m0, m1, n0, n1, job->ws + (size_t)thread * job->ws_per_thread);
}

void
eml_sgemm_blk(const struct eml_gemm_impl *g, const struct eml_sgemm_args *a,
    const float *a_packed, float *workspace, struct eml_pool *pool)
{
	eml_sgemm_blk_ex(g, a, a_packed, NULL, NULL, workspace, pool);
}

void
eml_sgemm_blk_ex(const struct eml_gemm_impl *g, const struct eml_sgemm_args *a,
    const float *a_packed, const struct eml_gemm_bsrc *asrc, const struct eml_gemm_bsrc *bsrc,
    float *workspace, struct eml_pool *pool)
{
	struct gemm_job job;
	uintptr_t mis;

	if (a->M == 0 || a->N == 0)
		return;
	job.g = g;
	job.a = a;
	job.a_packed = a_packed;
	job.asrc = asrc;
	job.bsrc = bsrc;
	pool = eml_pool_for(pool, 2.0 * (double)a->M * (double)a->N * (double)(a->K + 1));
	/* A made per task by a source (transposed convolutions: the image)
	 * while B is pre-packed: a column split would repeat the whole A pack
	 * in every task, a row split reads B once per task instead. Rows
	 * when packing A (a gather, several times the cost of streaming a
	 * float of B) is the larger share: 3 M > N. */
	job.s = split_for(g, a->M, a->N, eml_pool_size(pool), a_packed != NULL,
	    asrc != NULL && a->b_packed != NULL && 3 * a->M > a->N);
	job.pool = pool;
	job.ws_per_thread = per_thread_ws(g, a_packed != NULL, a->b_packed != NULL);
	/* Align the workspace to 64 bytes (the size includes the slack). */
	mis = ((uintptr_t)workspace / sizeof(float)) % WS_ALIGN;
	job.ws = workspace == NULL ? NULL : workspace + (mis == 0 ? 0 : WS_ALIGN - mis);
	eml_pool_run(pool, job.s.tm * job.s.tn, gemm_task, &job);
}

size_t
eml_sgemm_blk_part_ws(const struct eml_gemm_impl *g, bool a_packed, bool b_packed)
{
	return per_thread_ws(g, a_packed, b_packed);
}

void
eml_sgemm_blk_part(const struct eml_gemm_impl *g, const struct eml_sgemm_args *a,
    const float *a_packed, const struct eml_gemm_bsrc *asrc, size_t m0, size_t m1, size_t n0,
    size_t n1, float *workspace)
{
	struct gemm_job job;
	uintptr_t mis;

	if (m1 > a->M)
		m1 = a->M;
	if (n1 > a->N)
		n1 = a->N;
	if (m0 >= m1 || n0 >= n1)
		return;
	memset(&job, 0, sizeof(job));
	job.g = g;
	job.a = a;
	job.a_packed = a_packed;
	job.asrc = asrc;
	mis = ((uintptr_t)workspace / sizeof(float)) % WS_ALIGN;
	job.ws = workspace == NULL ? NULL : workspace + (mis == 0 ? 0 : WS_ALIGN - mis);
	gemm_rect(&job, m0, m1, n0, n1, job.ws);
}

/* The public per-ISA entry points on top of the driver. Pre-packed B has
 * the layout of the ISA's main impl; unpacked calls may pick per shape. */
#define EML_GEMM_ISA_DEFS(isa)                                                 \
	size_t eml_sgemm_packed_b_size_##isa(size_t K, size_t N)               \
	{                                                                      \
		return eml_sgemm_blk_packed_b_size(&eml_gemm_##isa, K, N);     \
	}                                                                      \
	void eml_sgemm_pack_b_##isa(size_t K, size_t N, const float *B,        \
	    size_t ldb, bool trans_b, float *packed)                           \
	{                                                                      \
		eml_sgemm_blk_pack_b(&eml_gemm_##isa, K, N, B, ldb, trans_b,   \
		    packed);                                                   \
	}                                                                      \
	size_t eml_sgemm_workspace_size_##isa(const struct eml_sgemm_args *a,  \
	    int nthreads)                                                      \
	{                                                                      \
		return eml_sgemm_blk_workspace_size(&eml_gemm_##isa, a->M, a->N, \
		    a->K, false, a->b_packed != NULL, nthreads);               \
	}                                                                      \
	void eml_sgemm_##isa(const struct eml_sgemm_args *a, float *workspace, \
	    struct eml_pool *pool)                                             \
	{                                                                      \
		eml_sgemm_blk(&eml_gemm_##isa, a, NULL, workspace, pool);      \
	}

#if EML_X86_KERNELS
static double
tile_waste(const struct eml_gemm_impl *g, size_t M, size_t N)
{
	return (double)round_up(M, g->mr) * (double)round_up(N, g->nr);
}

const struct eml_gemm_impl *
eml_gemm_avx512_pick(size_t M, size_t N)
{
	/* The 8x48 tile also needs fewer loads per FMA: prefer it unless it
	 * pads the grid by more than 14x32 does. */
	return tile_waste(&eml_gemm_avx512_8x48, M, N) <= tile_waste(&eml_gemm_avx512, M, N) ?
	    &eml_gemm_avx512_8x48 :
	    &eml_gemm_avx512;
}

EML_GEMM_ISA_DEFS(avx2)

/* Pre-packed B: the panel width must follow from (K, N) alone (packing
 * happens before M is known), so the tile is chosen by N only: 48-wide
 * panels unless they pad N more than 32-wide ones (transformer widths
 * 384/1536 are multiples of 48, and M = 128 is 16 tiles of 8). */
static const struct eml_gemm_impl *
avx512_for_n(size_t N)
{
	return round_up(N, eml_gemm_avx512_8x48.nr) <= round_up(N, eml_gemm_avx512.nr) ?
	    &eml_gemm_avx512_8x48 :
	    &eml_gemm_avx512;
}

size_t
eml_sgemm_packed_b_size_avx512(size_t K, size_t N)
{
	return eml_sgemm_blk_packed_b_size(avx512_for_n(N), K, N);
}

void
eml_sgemm_pack_b_avx512(size_t K, size_t N, const float *B, size_t ldb, bool trans_b,
    float *packed)
{
	eml_sgemm_blk_pack_b(avx512_for_n(N), K, N, B, ldb, trans_b, packed);
}

static const struct eml_gemm_impl *
avx512_for(const struct eml_sgemm_args *a)
{
	return a->b_packed != NULL ? avx512_for_n(a->N) : eml_gemm_avx512_pick(a->M, a->N);
}

size_t
eml_sgemm_workspace_size_avx512(const struct eml_sgemm_args *a, int nthreads)
{
	return eml_sgemm_blk_workspace_size(avx512_for(a), a->M, a->N, a->K, false,
	    a->b_packed != NULL, nthreads);
}

void
eml_sgemm_avx512(const struct eml_sgemm_args *a, float *workspace, struct eml_pool *pool)
{
	eml_sgemm_blk(avx512_for(a), a, NULL, workspace, pool);
}
#endif
