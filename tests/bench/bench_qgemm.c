/*
 * int8 GEMM throughput (issue 19): GOPS (2 ops per multiply-add) of
 * eml_qgemm per int8 kernel at the convolution shapes of the qdq-cnn bench
 * model and a square 1024, with 1 and 2 threads, against the peak this
 * machine delivers as measured here (independent vpmaddubsw + vpmaddwd +
 * vpaddd chains, AVX2). VNNI kernels run only where CPUID reports them; the
 * VNNI peak is printed as a theoretical figure (2 vpdpbusd per cycle at the
 * measured AVX2 loop's clock), never measured on a CPU without VNNI.
 * Figures only, no thresholds.
 *
 *   build/bench/bench_qgemm [seconds-per-shape]   (default 0.3)
 *
 * "1 thr cpu" is the single-thread run timed with the thread's CPU clock
 * (a shared machine preempts wall-clock runs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eml_mem.h"
#include "eml_test.h"
#include "engine/kernels/quant/quant_int.h"

static double
cpu_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct shape {
	const char *what;
	size_t M, N, K; /* M = output pixels, N = output channels, K = C*3*3 */
	int brange;     /* B values in [-brange, brange] */
};

static const struct shape shapes[] = {
	{ "qcnn 3x3 32->64 @56 (7-bit w)", 3136, 64, 288, 63 },
	{ "qcnn 3x3 64->128 @28 (7-bit w)", 784, 128, 576, 63 },
	{ "qcnn 3x3 128->128 @14/2 (7-bit w)", 196, 128, 1152, 63 },
	{ "square 1024 (7-bit w)", 1024, 1024, 1024, 63 },
	{ "square 1024 (8-bit w)", 1024, 1024, 1024, 127 },
};

static double
run(enum eml_qisa isa, const struct shape *s, struct eml_pool *pool, double seconds,
    double *cpu_gops, const char **kname)
{
	uint8_t *A = eml_alloc(s->M * s->K), *B = eml_alloc(s->K * s->N);
	int32_t *C = eml_alloc(s->M * s->N * 4), za = 3;
	size_t psz = eml_qgemm_packed_size(isa, s->K, s->N);
	void *packed = eml_secure_alloc(psz);
	struct eml_qgemm_args a;
	double best = 1e30, best_cpu = 1e30, t_end, ops = 2.0 * (double)s->M * (double)s->N * (double)s->K;
	size_t reps = 0;

	if (A == NULL || B == NULL || C == NULL || packed == NULL)
		abort();
	for (size_t i = 0; i < s->M * s->K; i++)
		A[i] = (uint8_t)(i * 7 % 251);
	for (size_t i = 0; i < s->K * s->N; i++)
		B[i] = (uint8_t)(int8_t)((int)(i * 13 % (size_t)(2 * s->brange + 1)) - s->brange);
	eml_qgemm_pack(isa, s->K, s->N, B, s->N, false, true, NULL, 1, packed);
	*kname = eml_qgemm_kernel_name(packed);
	memset(&a, 0, sizeof(a));
	a.M = s->M;
	a.A = A;
	a.lda = s->K;
	a.za = &za;
	a.n_za = 1;
	a.C = C;
	a.ldc = s->N;
	t_end = eml_test_now() + seconds;
	while (reps < 3 || eml_test_now() < t_end) {
		double t0 = eml_test_now(), c0 = cpu_now(), dt, dc;
		eml_qgemm(packed, &a, pool);
		dt = eml_test_now() - t0;
		dc = cpu_now() - c0;
		best = dt < best ? dt : best;
		best_cpu = dc < best_cpu ? dc : best_cpu;
		reps++;
	}
	*cpu_gops = ops / best_cpu / 1e9;
	eml_secure_free(packed);
	eml_free(A);
	eml_free(B);
	eml_free(C);
	return ops / best / 1e9;
}

int
main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0.3, peak = 0;
	struct eml_pool *pool2 = NULL;
	static const enum eml_qisa isas[] = { EML_QISA_AVX2, EML_QISA_AVXVNNI,
		EML_QISA_AVX512VNNI };

	if (eml_pool_new(2, &pool2) != EML_OK)
		return 1;
#if EML_X86_KERNELS
	if (eml_qisa_available(EML_QISA_AVX2)) {
		size_t iters = 2000000;
		double best = 1e30, ops = 0;
		volatile int32_t sink;
		for (int r = 0; r < 10; r++) {
			double c0 = cpu_now(), dt;
			sink = eml_qgemm_peak_avx2(iters, &ops);
			dt = cpu_now() - c0;
			best = dt < best ? dt : best;
		}
		(void)sink;
		peak = ops / best / 1e9;
		printf("int8 peak (AVX2 vpmaddubsw+vpmaddwd+vpaddd, measured, 1 thread): %.1f GOPS\n",
		    peak);
		/* One vpdpbusd does the work of those three instructions; two
		 * ports issue it per cycle where the three-instruction chain
		 * gets 2/3 of an issue each: 3x the AVX2 figure on ymm, 6x on
		 * zmm. Theoretical: this CPU has no VNNI. */
		printf("int8 peak AVX-VNNI (theoretical, not measured here): %.1f GOPS\n", 3 * peak);
		printf("int8 peak AVX-512 VNNI (theoretical, not measured here): %.1f GOPS\n",
		    6 * peak);
	}
#endif
	printf("%-36s %-12s %10s %10s %10s %8s\n", "shape", "kernel", "1 thr", "1 thr cpu",
	    "2 thr", "%peak");
	for (size_t q = 0; q < sizeof(isas) / sizeof(isas[0]); q++) {
		if (!eml_qisa_available(isas[q])) {
			printf("%s: not available on this CPU (skipped)\n", eml_qisa_name(isas[q]));
			continue;
		}
		for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
			const char *kn = "";
			double c1 = 0, c2 = 0;
			double g1 = run(isas[q], &shapes[i], NULL, seconds, &c1, &kn);
			double g2 = run(isas[q], &shapes[i], pool2, seconds, &c2, &kn);
			printf("%-36s %-12s %10.1f %10.1f %10.1f %7.0f%%\n", shapes[i].what, kn, g1,
			    c1, g2, peak > 0 ? 100.0 * c1 / peak : 0.0);
		}
	}
	eml_pool_free(pool2);
	return 0;
}
