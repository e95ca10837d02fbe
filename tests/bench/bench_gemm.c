/*
 * GEMM throughput: GFLOP/s of eml_sgemm per ISA at 256/512/1024 square and
 * at the GEMM shapes of the bench models, with 1 and 2 threads, against the
 * peak this machine delivers as measured here (a tight loop of independent
 * FMAs per ISA). Figures only, no thresholds.
 *
 *   build-x/bench/bench_gemm [seconds-per-shape]   (default 0.3)
 *   EML_ISA=avx2 limits the ISAs measured (as for the engine).
 *
 * "1 thr cpu" is the same run timed with the thread's CPU clock: on a
 * shared machine wall time also counts the time the run was preempted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eml_mem.h"
#include "eml_test.h"
#include "engine/kernels/eml_kernels_int.h"


/* Thread CPU time: on a shared machine a run is often preempted, which
 * wall time counts and CPU time does not. Meaningful for 1 thread only. */
static double
cpu_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct shape {
	const char *what;
	size_t M, N, K;
	bool prepack; /* B is a constant weight: packed once, outside the timing */
};

static const struct shape shapes[] = {
	{ "square 256", 256, 256, 256, false },
	{ "square 512", 512, 512, 512, false },
	{ "square 1024", 1024, 1024, 1024, false },
	{ "square 1000", 1000, 1000, 1000, false },
	/* The ResNet-18 bench model at 224x224 (docs/internals/bench-models.md),
	 * NCHW conv as GEMM: M = out channels, N = OH*OW, K = C*kh*kw
	 * (A = weights, B = im2col of the input). */
	{ "r18 stem 7x7/2 3->64", 64, 12544, 147, false },
	{ "r18 3x3 64->64 @56", 64, 3136, 576, false },
	{ "r18 3x3 128->128 @28", 128, 784, 1152, false },
	{ "r18 3x3 256->256 @14", 256, 196, 2304, false },
	{ "r18 3x3 512->512 @7", 512, 49, 4608, false },
	{ "r18 3x3/2 64->128 @56", 128, 784, 576, false },
	/* The transformer bench model: seq 128, d 384, 6 heads of 64, FFN
	 * 1536; weights are B, packed once; attention per head. */
	{ "tfm qkv/out 128x384x384", 128, 384, 384, true },
	{ "tfm ffn up 128x1536x384", 128, 1536, 384, true },
	{ "tfm ffn down 128x384x1536", 128, 384, 1536, true },
	{ "tfm scores 128x128x64", 128, 128, 64, false },
	{ "tfm context 128x64x128", 128, 64, 128, false },
};

#if EML_X86_KERNELS
/* Best of 10 short runs: on a shared machine one long run would measure
 * the other tenants as much as the FMA units. */
static double
peak_gflops(enum eml_isa isa)
{
	size_t iters = 2000000;
	double lanes = isa == EML_ISA_AVX512 ? 16.0 : 8.0, best = 1e30;
	volatile float sink;
	int r;

	if (isa != EML_ISA_AVX512 && isa != EML_ISA_AVX2)
		return 0.0;
	for (r = 0; r < 10; r++) {
		double t0 = eml_test_now(), dt;

		sink = isa == EML_ISA_AVX512 ? eml_fma_peak_avx512(iters) : eml_fma_peak_avx2(iters);
		dt = eml_test_now() - t0;
		best = dt < best ? dt : best;
	}
	(void)sink;
	return (double)iters * 12.0 * lanes * 2.0 / best / 1e9;
}
#else
static double
peak_gflops(enum eml_isa isa)
{
	(void)isa;
	return 0.0; /* no SIMD kernels built for this architecture */
}
#endif

static double
run_shape(const struct eml_kernels *k, const struct shape *s, struct eml_pool *pool,
    double seconds, double *gflops_cpu)
{
	struct eml_sgemm_args a;
	float *A, *B, *C, *ws, *packed = NULL;
	size_t wsn, i, reps = 0;
	double best = 1e30, best_cpu = 1e30, t_end;

	A = eml_alloc(s->M * s->K * sizeof(float));
	B = eml_alloc(s->K * s->N * sizeof(float));
	C = eml_alloc(s->M * s->N * sizeof(float));
	if (A == NULL || B == NULL || C == NULL)
		abort();
	for (i = 0; i < s->M * s->K; i++)
		A[i] = (float)(i % 17) * 0.01f;
	for (i = 0; i < s->K * s->N; i++)
		B[i] = (float)(i % 13) * 0.01f;
	memset(&a, 0, sizeof(a));
	a.M = s->M;
	a.N = s->N;
	a.K = s->K;
	a.A = A;
	a.lda = s->K;
	a.B = B;
	a.ldb = s->N;
	a.C = C;
	a.ldc = s->N;
	a.alpha = 1.0f;
	if (s->prepack) {
		packed = eml_alloc(k->sgemm_packed_b_size(s->K, s->N) * sizeof(float));
		if (packed == NULL)
			abort();
		k->sgemm_pack_b(s->K, s->N, B, s->N, false, packed);
		a.b_packed = packed;
	}
	wsn = k->sgemm_workspace_size(&a, eml_pool_size(pool));
	ws = eml_alloc((wsn + 1) * sizeof(float));
	if (ws == NULL)
		abort();
	k->sgemm(&a, ws, pool); /* warm up */
	t_end = eml_test_now() + seconds;
	while (eml_test_now() < t_end || reps < 3) {
		double t0 = eml_test_now(), c0 = cpu_now(), dt, dc;

		k->sgemm(&a, ws, pool);
		dt = eml_test_now() - t0;
		dc = cpu_now() - c0;
		best = dt < best ? dt : best;
		best_cpu = dc < best_cpu ? dc : best_cpu;
		reps++;
	}
	eml_free(ws);
	eml_free(packed);
	eml_free(C);
	eml_free(B);
	eml_free(A);
	*gflops_cpu = 2.0 * (double)s->M * (double)s->N * (double)s->K / best_cpu / 1e9;
	return 2.0 * (double)s->M * (double)s->N * (double)s->K / best / 1e9;
}

int
main(int argc, char **argv)
{
	static const enum eml_isa isas[] = { EML_ISA_AVX512, EML_ISA_AVX2 };
	double seconds = argc > 1 ? atof(argv[1]) : 0.3;
	enum eml_isa chosen = eml_kernels_get()->isa;
	struct eml_pool *pool2 = NULL;
	size_t i, s;

	if (eml_pool_new(2, &pool2) != EML_OK)
		return 1;
	printf("GEMM GFLOP/s (best of repeated runs, %.2f s per shape); %% = of the measured "
	       "peak per thread count\n",
	    seconds);
	for (i = 0; i < sizeof(isas) / sizeof(isas[0]); i++) {
		const struct eml_kernels *k = eml_kernels_for(isas[i]);
		double peak;

		if (k == NULL || isas[i] > chosen) {
			printf("%s: skipped (not available or lowered by EML_ISA)\n",
			    eml_isa_name(isas[i]));
			continue;
		}
		peak = peak_gflops(isas[i]);
		printf("%s: measured FMA peak %.1f GFLOP/s per thread\n", eml_isa_name(isas[i]),
		    peak);
		printf("  %-28s %6s %6s %6s %9s %6s %9s %6s %9s %6s\n", "shape", "M", "N", "K",
		    "1 thr", "%peak", "1 thr cpu", "%peak", "2 thr", "%peak");
		for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
			double c1, c2;
			double g1 = run_shape(k, &shapes[s], NULL, seconds, &c1);
			double g2 = run_shape(k, &shapes[s], pool2, seconds, &c2);

			printf("  %-28s %6zu %6zu %6zu %9.1f %5.0f%% %9.1f %5.0f%% %9.1f %5.0f%%%s\n",
			    shapes[s].what, shapes[s].M, shapes[s].N, shapes[s].K, g1,
			    100.0 * g1 / peak, c1, 100.0 * c1 / peak, g2, 100.0 * g2 / (2.0 * peak),
			    shapes[s].prepack ? "  (B pre-packed)" : "");
			fflush(stdout);
		}
	}
	eml_pool_free(pool2);
	return 0;
}
