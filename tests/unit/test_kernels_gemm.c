/*
 * GEMM: every SIMD variant against the reference on random shapes with
 * ragged edges (sizes below, at and above the register tile and the cache
 * blocks), transposes, odd leading dimensions, alpha/beta, bias, fused
 * activations, pre-packed B, 1..3 threads; canaries around C and inputs
 * that end at a PROT_NONE page.
 *
 * Tolerance: the blocked kernels sum over k in a different order and with
 * FMA, so they differ from the reference by rounding only. The textbook
 * bound for a K-term dot product is |err| <= gamma_K * sum |a_k b_k| with
 * gamma_K ~ K * eps; we allow 2 (K + 4) eps * S, S = |alpha| sum|a||b| +
 * |beta c| + |bias| (the +4 for alpha, beta, bias and the epilogue), plus
 * 8 ULP of the result for sigmoid/tanh (vmath.h's bound).
 */
#include <stdlib.h>

#include "kernels_util.h"

#include "engine/kernels/eml_kernels.h"

static const enum eml_act acts[] = { EML_ACT_NONE, EML_ACT_RELU, EML_ACT_LEAKY_RELU,
	EML_ACT_CLIP, EML_ACT_HARDSIGMOID, EML_ACT_HARDSWISH, EML_ACT_SIGMOID, EML_ACT_TANH };

struct gcase {
	size_t M, N, K;
	bool ta, tb, prepack;
	size_t pad_a, pad_b, pad_c; /* extra leading dimension */
	float alpha, beta;
	enum eml_bias_kind bias;
	enum eml_act act;
	int threads;
	bool edge; /* A and B end at a PROT_NONE page */
};

static void
run_case(const struct eml_kernels *kt, const struct gcase *gc, uint64_t *st)
{
	const struct eml_kernels *kr = eml_kernels_for(EML_ISA_REF);
	size_t M = gc->M, N = gc->N, K = gc->K;
	size_t arows = gc->ta ? K : M, acols = gc->ta ? M : K;
	size_t brows = gc->tb ? N : K, bcols = gc->tb ? K : N;
	size_t lda = acols + gc->pad_a, ldb = bcols + gc->pad_b, ldc = N + gc->pad_c;
	size_t an = arows == 0 ? 0 : (arows - 1) * lda + acols;
	size_t bn = brows == 0 ? 0 : (brows - 1) * ldb + bcols;
	size_t cn = (M - 1) * ldc + N;
	struct kt_edge ea = { 0 }, eb = { 0 };
	float *A, *B, *C, *Cref, *bias = NULL, *packed = NULL, *ws = NULL;
	struct eml_pool *pool = NULL;
	struct eml_sgemm_args a;
	size_t i, j, k, wsn;

	A = gc->edge ? kt_edge_alloc(&ea, an) : kt_alloc(an);
	B = gc->edge ? kt_edge_alloc(&eb, bn) : kt_alloc(bn);
	C = kt_alloc(cn);
	Cref = kt_alloc(cn);
	kt_fill(st, A, an, -1.0f, 1.0f);
	kt_fill(st, B, bn, -1.0f, 1.0f);
	kt_fill(st, C, cn, -1.0f, 1.0f);
	EML_MEMCPY(Cref, C, cn * sizeof(float));
	if (gc->bias != EML_BIAS_NONE) {
		size_t nb = gc->bias == EML_BIAS_COL ? N : M;

		bias = kt_alloc(nb);
		kt_fill(st, bias, nb, -1.0f, 1.0f);
	}
	memset(&a, 0, sizeof(a));
	a.M = M;
	a.N = N;
	a.K = K;
	a.A = A;
	a.lda = lda;
	a.trans_a = gc->ta;
	a.B = B;
	a.ldb = ldb;
	a.trans_b = gc->tb;
	a.ldc = ldc;
	a.alpha = gc->alpha;
	a.beta = gc->beta;
	a.bias = bias;
	a.bias_kind = gc->bias;
	a.ep.act = gc->act;
	a.ep.a = gc->act == EML_ACT_CLIP ? -0.5f : 0.2f;
	a.ep.b = gc->act == EML_ACT_CLIP ? 0.7f : 0.5f;

	/* Reference first, on its own copy of C. */
	a.C = Cref;
	kr->sgemm(&a, NULL, NULL);

	if (gc->prepack) {
		size_t pn = kt->sgemm_packed_b_size(K, N);

		packed = kt_alloc(pn);
		kt->sgemm_pack_b(K, N, B, ldb, gc->tb, packed);
		kt_check_canaries(packed, pn, "packed B");
		a.b_packed = packed;
	}
	if (gc->threads > 1)
		assert_eml_ok(eml_pool_new(gc->threads, &pool));
	wsn = kt->sgemm_workspace_size(&a, eml_pool_size(pool));
	ws = kt_alloc(wsn);
	a.C = C;
	kt->sgemm(&a, ws, pool);
	kt_check_canaries(ws, wsn, "workspace");

	for (i = 0; i < M; i++) {
		for (j = 0; j < N; j++) {
			double s = 0.0, tol;
			float got = C[i * ldc + j], want = Cref[i * ldc + j];

			for (k = 0; k < K; k++) {
				float av = gc->ta ? A[k * lda + i] : A[i * lda + k];
				float bv = gc->tb ? B[j * ldb + k] : B[k * ldb + j];

				s += fabs((double)av * bv);
			}
			s = fabs(gc->alpha) * s + 2.0; /* |beta c| <= 1, |bias| <= 1 */
			tol = 2.0 * (double)(K + 4) * FLT_EPSILON * s;
			if (gc->act == EML_ACT_SIGMOID || gc->act == EML_ACT_TANH)
				tol += 8.0 * FLT_EPSILON * fabs(want);
			if (!(fabs((double)got - want) <= tol))
				fail_msg("%s M=%zu N=%zu K=%zu ta=%d tb=%d pre=%d ld=%zu/%zu/%zu "
					 "alpha=%g beta=%g bias=%d act=%d thr=%d: C[%zu,%zu] = %.9g, "
					 "ref %.9g (tol %.3g)",
				    eml_isa_name(kt->isa), M, N, K, gc->ta, gc->tb, gc->prepack, lda,
				    ldb, ldc, (double)gc->alpha, (double)gc->beta, gc->bias, gc->act,
				    gc->threads, i, j, (double)got, (double)want, tol);
		}
		/* The padding between rows of C is not part of C: untouched. */
		for (j = N; j < ldc && i + 1 < M; j++)
			if (memcmp(&C[i * ldc + j], &Cref[i * ldc + j], sizeof(float)) != 0)
				fail_msg("%s: wrote C padding at row %zu col %zu",
				    eml_isa_name(kt->isa), i, j);
	}
	kt_free(ws, wsn, "workspace");
	eml_pool_free(pool);
	if (packed != NULL)
		kt_free(packed, kt->sgemm_packed_b_size(K, N), "packed B");
	if (bias != NULL)
		kt_free(bias, gc->bias == EML_BIAS_COL ? N : M, "bias");
	kt_free(Cref, cn, "C (ref)");
	kt_free(C, cn, "C");
	if (gc->edge) {
		kt_edge_free(&ea);
		kt_edge_free(&eb);
	} else {
		kt_free(A, an, "A");
		kt_free(B, bn, "B");
	}
}

/* Sizes around the tiles (6, 14 rows; 16, 32 columns) and blocks (kc 256,
 * mc 144/168). */
static const size_t edge_sizes[] = { 1, 2, 5, 6, 7, 13, 14, 15, 16, 17, 31, 32, 33, 47, 48,
	49, 64, 100, 143, 168, 169 };

static void
random_cases(enum eml_isa isa, int count)
{
	const struct eml_kernels *kt = kt_need(isa);
	uint64_t st = eml_test_seed() ^ (uint64_t)isa;
	int t;

	for (t = 0; t < count; t++) {
		struct gcase gc;
		size_t ne = sizeof(edge_sizes) / sizeof(edge_sizes[0]);

		memset(&gc, 0, sizeof(gc));
		gc.M = edge_sizes[kt_randz(&st, 0, ne - 1)];
		gc.N = edge_sizes[kt_randz(&st, 0, ne - 1)];
		gc.K = t % 7 == 0 ? kt_randz(&st, 250, 600) : edge_sizes[kt_randz(&st, 0, ne - 1)];
		gc.ta = (eml_test_rand(&st) & 1) != 0;
		gc.tb = (eml_test_rand(&st) & 1) != 0;
		gc.prepack = (eml_test_rand(&st) & 3) == 0;
		gc.pad_a = (eml_test_rand(&st) & 1) ? kt_randz(&st, 1, 9) : 0;
		gc.pad_b = (eml_test_rand(&st) & 1) ? kt_randz(&st, 1, 9) : 0;
		gc.pad_c = (eml_test_rand(&st) & 1) ? kt_randz(&st, 1, 9) : 0;
		gc.alpha = (eml_test_rand(&st) & 1) ? 1.0f : kt_randf(&st, -2.0f, 2.0f);
		gc.beta = (eml_test_rand(&st) & 1) ? 0.0f : kt_randf(&st, -1.0f, 1.0f);
		gc.bias = (enum eml_bias_kind)kt_randz(&st, 0, 2);
		gc.act = acts[kt_randz(&st, 0, sizeof(acts) / sizeof(acts[0]) - 1)];
		gc.threads = (int)kt_randz(&st, 1, 3);
		gc.edge = (eml_test_rand(&st) & 3) == 0;
		run_case(kt, &gc, &st);
	}
}

static void
gemm_avx2_random_shapes(void **state)
{
	(void)state;
	random_cases(EML_ISA_AVX2, 400);
}

static void
gemm_avx512_random_shapes(void **state)
{
	(void)state;
	random_cases(EML_ISA_AVX512, 400);
}

/* Large enough for several kc, mc and nc blocks, both ISAs, threads. */
static void
blocked_sizes(enum eml_isa isa)
{
	const struct eml_kernels *kt = kt_need(isa);
	uint64_t st = eml_test_seed() + 7;
	struct gcase gc;

	memset(&gc, 0, sizeof(gc));
	gc.M = 301;
	gc.N = 1100;
	gc.K = 530;
	gc.alpha = 1.0f;
	gc.bias = EML_BIAS_ROW;
	gc.act = EML_ACT_RELU;
	gc.threads = 2;
	run_case(kt, &gc, &st);
	gc.prepack = true;
	gc.tb = true;
	gc.beta = 0.5f;
	gc.bias = EML_BIAS_COL;
	gc.threads = 1;
	run_case(kt, &gc, &st);
}

static void
gemm_avx2_blocked(void **state)
{
	(void)state;
	blocked_sizes(EML_ISA_AVX2);
}

static void
gemm_avx512_blocked(void **state)
{
	(void)state;
	blocked_sizes(EML_ISA_AVX512);
}

/* beta == 0 means C is not read: NaN garbage in C must not leak out. */
static void
gemm_beta_zero_ignores_c(void **state)
{
	static const enum eml_isa isas[] = { EML_ISA_REF, EML_ISA_AVX2, EML_ISA_AVX512 };
	float A[3 * 2] = { 1, 2, 3, 4, 5, 6 }, B[2 * 2] = { 1, 0, 0, 1 };
	size_t i, j;

	(void)state;
	for (i = 0; i < 3; i++) {
		const struct eml_kernels *k = eml_kernels_for(isas[i]);
		float C[3 * 2];
		struct eml_sgemm_args a;
		float *ws;
		size_t wsn;

		if (!isa_expected(isas[i], k))
			continue;
		for (j = 0; j < 6; j++)
			C[j] = NAN;
		memset(&a, 0, sizeof(a));
		a.M = 3;
		a.N = 2;
		a.K = 2;
		a.A = A;
		a.lda = 2;
		a.B = B;
		a.ldb = 2;
		a.C = C;
		a.ldc = 2;
		a.alpha = 1.0f;
		wsn = k->sgemm_workspace_size(&a, 1);
		ws = kt_alloc(wsn);
		k->sgemm(&a, ws, NULL);
		kt_free(ws, wsn, "workspace");
		/* Known answer: B is the identity. */
		for (j = 0; j < 6; j++)
			assert_true(C[j] == A[j]);
	}
}

/* K == 0: C = beta C + bias, then the activation. */
static void
gemm_k_zero(void **state)
{
	static const enum eml_isa isas[] = { EML_ISA_REF, EML_ISA_AVX2, EML_ISA_AVX512 };
	size_t i, j;

	(void)state;
	for (i = 0; i < 3; i++) {
		const struct eml_kernels *k = eml_kernels_for(isas[i]);
		float C[2 * 3] = { 1, -2, 3, -4, 5, -6 }, bias[2] = { 0.5f, -10.0f };
		float want[6] = { 1, 0, 2, 0, 0, 0 };
		struct eml_sgemm_args a;
		float *ws;
		size_t wsn;

		if (!isa_expected(isas[i], k))
			continue;
		memset(&a, 0, sizeof(a));
		a.M = 2;
		a.N = 3;
		a.K = 0;
		a.C = C;
		a.ldc = 3;
		a.alpha = 1.0f;
		a.beta = 0.5f;
		a.bias = bias;
		a.bias_kind = EML_BIAS_ROW;
		a.ep.act = EML_ACT_RELU;
		/* row 0: 0.5 c + 0.5 = {1, -0.5, 2} -> relu {1, 0, 2};
		 * row 1: 0.5 c - 10 < 0 -> 0. */
		wsn = k->sgemm_workspace_size(&a, 1);
		ws = kt_alloc(wsn);
		k->sgemm(&a, ws, NULL);
		kt_free(ws, wsn, "workspace");
		for (j = 0; j < 6; j++)
			if (C[j] != want[j])
				fail_msg("%s: C[%zu] = %g, want %g", eml_isa_name(isas[i]), j,
				    (double)C[j], (double)want[j]);
	}
}

/* 1, 2 and 3 threads give bit-identical C (each element is computed by
 * one task, in the same k order whatever the split). */
static void
gemm_threads_bit_identical(void **state)
{
	const size_t M = 157, N = 701, K = 530;
	uint64_t st = eml_test_seed() + 3;
	float *A = kt_alloc(M * K), *B = kt_alloc(K * N), *C1 = kt_alloc(M * N);
	float *C = kt_alloc(M * N);
	struct eml_sgemm_args a;
	int t;
	size_t i;

	(void)state;
	kt_fill(&st, A, M * K, -1.0f, 1.0f);
	kt_fill(&st, B, K * N, -1.0f, 1.0f);
	memset(&a, 0, sizeof(a));
	a.M = M;
	a.N = N;
	a.K = K;
	a.A = A;
	a.lda = K;
	a.B = B;
	a.ldb = N;
	a.ldc = N;
	a.alpha = 1.0f;
	for (t = 1; t <= 3; t++) {
		struct eml_pool *pool = NULL;
		size_t wsn = eml_sgemm_workspace_size(&a, t);
		float *ws = kt_alloc(wsn);

		assert_eml_ok(eml_pool_new(t, &pool));
		a.C = t == 1 ? C1 : C;
		eml_sgemm(&a, ws, pool);
		if (t > 1)
			for (i = 0; i < M * N; i++)
				if (memcmp(&C[i], &C1[i], sizeof(float)) != 0)
					fail_msg("%d threads: C[%zu] = %.9g, 1 thread %.9g", t, i,
					    (double)C[i], (double)C1[i]);
		eml_pool_free(pool);
		kt_free(ws, wsn, "ws");
	}
	kt_free(C, M * N, "C");
	kt_free(C1, M * N, "C1");
	kt_free(B, K * N, "B");
	kt_free(A, M * K, "A");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(gemm_beta_zero_ignores_c),
		cmocka_unit_test(gemm_k_zero),
		cmocka_unit_test(gemm_threads_bit_identical),
		cmocka_unit_test(gemm_avx2_random_shapes),
		cmocka_unit_test(gemm_avx512_random_shapes),
		cmocka_unit_test(gemm_avx2_blocked),
		cmocka_unit_test(gemm_avx512_blocked),
	};

	/* Every size is split across the pool's threads (the cost model would
	 * run the small test shapes on the caller alone). */
	(void)setenv("EML_POOL_MIN_WORK", "0", 1);

	return cmocka_run_group_tests(tests, NULL, NULL);
}
