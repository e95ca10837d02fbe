/*
 * Convolution throughput per method at the shapes of the bench models
 * (ResNet-style 224x224 stack; the mobile OCR classifier's depthwise and
 * pointwise convolutions at 48x192 input), 1 and 2 threads, the ISA chosen
 * by dispatch (EML_ISA lowers it). Figures only.
 *
 *   build-x/bench/bench_conv [seconds-per-shape [name-filter]]   (default 0.2, all)
 *
 * "1 thr cpu" is the 1-thread run timed with the thread's CPU clock (wall
 * time on a shared machine also counts preemption); "2 thr cpu" is the
 * 2-thread run's process CPU time (both threads: half of it is the quiet
 * machine's wall time when the split is even; above the 1-thread CPU by
 * the work done twice and the time a thread spun waiting for the other).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eml_mem.h"
#include "eml_test.h"
#include "engine/kernels/eml_kernels.h"


/* Thread CPU time: on a shared machine a run is often preempted, which
 * wall time counts and CPU time does not. Meaningful for 1 thread only. */
static double
cpu_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Process CPU time (every thread): for 2 threads, the work, the spinning
 * of a thread that waits for the other and any work done twice, without
 * the preemption wall time counts. Half of it is the quiet-machine wall
 * time when the split is even. */
static double
proc_cpu_now(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

struct cshape {
	const char *what;
	size_t C, H, W, M, k, stride, pad, group;
	enum eml_act act;
};

static const struct cshape shapes[] = {
	{ "resnet stem 7x7/2 3->64", 3, 224, 224, 64, 7, 2, 3, 1, EML_ACT_RELU },
	{ "resnet 3x3 64->64 @56", 64, 56, 56, 64, 3, 1, 1, 1, EML_ACT_RELU },
	{ "resnet 1x1 64->256 @56", 64, 56, 56, 256, 1, 1, 0, 1, EML_ACT_NONE },
	{ "resnet 1x1 256->64 @56", 256, 56, 56, 64, 1, 1, 0, 1, EML_ACT_RELU },
	{ "resnet 3x3/2 128->128 @56", 128, 56, 56, 128, 3, 2, 1, 1, EML_ACT_RELU },
	{ "resnet 3x3 128->128 @28", 128, 28, 28, 128, 3, 1, 1, 1, EML_ACT_RELU },
	{ "resnet 3x3 256->256 @14", 256, 14, 14, 256, 3, 1, 1, 1, EML_ACT_RELU },
	{ "resnet 3x3 512->512 @7", 512, 7, 7, 512, 3, 1, 1, 1, EML_ACT_RELU },
	{ "resnet 3x3/2 64->128 @56", 64, 56, 56, 128, 3, 2, 1, 1, EML_ACT_RELU },
	{ "resnet 1x1/2 64->128 @56", 64, 56, 56, 128, 1, 2, 0, 1, EML_ACT_NONE },
	{ "resnet 3x3/2 128->256 @28", 128, 28, 28, 256, 3, 2, 1, 1, EML_ACT_RELU },
	{ "resnet 3x3/2 256->512 @14", 256, 14, 14, 512, 3, 2, 1, 1, EML_ACT_RELU },
	{ "resnet 1x1/2 256->512 @14", 256, 14, 14, 512, 1, 2, 0, 1, EML_ACT_NONE },
	{ "cnn 3x3/2 3->32 @112", 3, 112, 112, 32, 3, 2, 1, 1, EML_ACT_RELU },
	{ "cnn 3x3 32->64 @56", 32, 56, 56, 64, 3, 1, 1, 1, EML_ACT_RELU },
	{ "cnn 3x3/2 64->64 @56", 64, 56, 56, 64, 3, 2, 1, 1, EML_ACT_RELU },
	{ "cnn 3x3 64->128 @28", 64, 28, 28, 128, 3, 1, 1, 1, EML_ACT_RELU },
	{ "cnn 3x3/2 128->128 @28", 128, 28, 28, 128, 3, 2, 1, 1, EML_ACT_RELU },
	{ "ocr stem 3x3/2 3->16 @48x192", 3, 48, 192, 16, 3, 2, 1, 1, EML_ACT_HARDSWISH },
	{ "ocr dw 3x3 16 @24x96", 16, 24, 96, 16, 3, 1, 1, 16, EML_ACT_RELU },
	{ "ocr dw 3x3/2 64 @24x96", 64, 24, 96, 64, 3, 2, 1, 64, EML_ACT_RELU },
	{ "ocr dw 5x5 96 @6x24", 96, 6, 24, 96, 5, 1, 2, 96, EML_ACT_HARDSWISH },
	{ "ocr pw 1x1 16->64 @24x96", 16, 24, 96, 64, 1, 1, 0, 1, EML_ACT_RELU },
	{ "ocr pw 1x1 96->576 @3x24", 96, 3, 24, 576, 1, 1, 0, 1, EML_ACT_HARDSWISH },
	{ "mobilenet dw 3x3 64 @56", 64, 56, 56, 64, 3, 1, 1, 64, EML_ACT_CLIP },
	{ "mobilenet dw 3x3/2 128 @56", 128, 56, 56, 128, 3, 2, 1, 128, EML_ACT_CLIP },
	{ "det fpn 3x3 48->12 @80", 48, 80, 80, 12, 3, 1, 1, 1, EML_ACT_NONE },
	{ "det head 3x3 48->12 @80", 48, 80, 80, 12, 3, 1, 1, 1, EML_ACT_RELU },
	{ "det stem 3x3/2 3->8 @320", 3, 320, 320, 8, 3, 2, 1, 1, EML_ACT_HARDSWISH },
	{ "det dw 3x3 8 @160", 8, 160, 160, 8, 3, 1, 1, 8, EML_ACT_RELU },
	{ "det pw 1x1 8->32 @160", 8, 160, 160, 32, 1, 1, 0, 1, EML_ACT_RELU },
	{ "det pw 1x1 56->336 @20", 56, 20, 20, 336, 1, 1, 0, 1, EML_ACT_HARDSWISH },
	{ "det pw 1x1 480->80 @10", 480, 10, 10, 80, 1, 1, 0, 1, EML_ACT_NONE },
	{ "det dw 5x5 480 @10", 480, 10, 10, 480, 5, 1, 2, 480, EML_ACT_HARDSWISH },
};

/* EML_BENCH_COLD_MB (0: off): a buffer of that many MiB is written
 * before every run (not timed), evicting the weights from L3. */
static size_t cold_mb, cold_n;
static float *cold_buf;
static volatile float pool_spin_off;

static void
bench_one(const struct cshape *s, struct eml_pool *pool, double seconds, double *us,
    double *gflops, double *us_cpu, const char **method)
{
	struct eml_conv2d_params p;
	struct eml_conv2d_plan *plan = NULL;
	float *x, *w, *b, *y, *ws;
	size_t OH, OW, xn, wn, yn, wsn, i, reps = 0;
	double best = 1e30, best_cpu = 1e30, t_end, flops;

	memset(&p, 0, sizeof(p));
	p.N = 1;
	p.C = s->C;
	p.H = s->H;
	p.W = s->W;
	p.M = s->M;
	p.kh = p.kw = s->k;
	p.stride_h = p.stride_w = s->stride;
	p.dil_h = p.dil_w = 1;
	p.pad_top = p.pad_left = p.pad_bottom = p.pad_right = s->pad;
	p.group = s->group;
	p.ep.act = s->act;
	p.ep.a = 0.0f;
	p.ep.b = 6.0f;
	OH = eml_conv2d_out_h(&p);
	OW = eml_conv2d_out_w(&p);
	xn = p.C * p.H * p.W;
	wn = p.M * (p.C / p.group) * p.kh * p.kw;
	yn = p.M * OH * OW;
	x = eml_alloc(xn * sizeof(float));
	w = eml_alloc(wn * sizeof(float));
	b = eml_alloc(p.M * sizeof(float));
	y = eml_alloc(yn * sizeof(float));
	if (x == NULL || w == NULL || b == NULL || y == NULL)
		abort();
	for (i = 0; i < xn; i++)
		x[i] = (float)(i % 19) * 0.05f - 0.4f;
	for (i = 0; i < wn; i++)
		w[i] = (float)(i % 7) * 0.01f - 0.03f;
	for (i = 0; i < p.M; i++)
		b[i] = 0.1f;
	if (eml_conv2d_plan_new(&p, w, b, eml_pool_size(pool), &plan) != EML_OK)
		abort();
	wsn = eml_conv2d_workspace_size(plan);
	ws = eml_alloc((wsn + 1) * sizeof(float));
	if (ws == NULL)
		abort();
	eml_conv2d_run(plan, x, y, ws, pool);
	t_end = eml_test_now() + seconds;
	/* Wall: the best single run. CPU: 1 thread, the best single run
	 * (its own thread clock); 2 threads, the best mean over a batch of
	 * about 40 ms (the process clock sees the other thread's time only
	 * up to its last tick). */
	while (eml_test_now() < t_end || reps < 3) {
		double b0 = eml_test_now(), c0 = pool != NULL ? proc_cpu_now() : cpu_now(), dc;
		size_t nb = 0;

		do {
			double t0, u0, dt;

			if (cold_mb > 0) {
				/* Weights and image out of the caches, as in a
				 * model whose other layers ran in between. */
				for (i = 0; i < cold_n; i++)
					cold_buf[i] += 1.0f;
				pool_spin_off = cold_buf[cold_n / 2];
			}
			t0 = eml_test_now();
			u0 = cpu_now();

			eml_conv2d_run(plan, x, y, ws, pool);
			dt = eml_test_now() - t0;
			best = dt < best ? dt : best;
			if (pool == NULL) {
				dc = cpu_now() - u0;
				best_cpu = dc < best_cpu ? dc : best_cpu;
			}
			reps++;
			nb++;
		} while (pool != NULL && eml_test_now() - b0 < 0.04);
		dc = (proc_cpu_now() - c0) / (double)nb;
		if (pool != NULL)
			best_cpu = dc < best_cpu ? dc : best_cpu;
	}
	flops = 2.0 * (double)p.M * (double)(p.C / p.group) * (double)(p.kh * p.kw) *
	    (double)(OH * OW);
	*us = best * 1e6;
	*us_cpu = best_cpu * 1e6;
	*gflops = flops / best / 1e9;
	*method = eml_conv2d_method(plan);
	eml_free(ws);
	eml_conv2d_plan_free(plan);
	eml_free(y);
	eml_free(b);
	eml_free(w);
	eml_free(x);
}

int
main(int argc, char **argv)
{
	double seconds = argc > 1 ? atof(argv[1]) : 0.2;
	const char *only = argc > 2 ? argv[2] : NULL; /* shapes whose name contains it */
	struct eml_pool *pool2 = NULL;
	size_t s;

	if (eml_mem_init() != EML_OK || eml_pool_new(2, &pool2) != EML_OK)
		return 1;
	if (getenv("EML_BENCH_COLD_MB") != NULL)
		cold_mb = (size_t)atol(getenv("EML_BENCH_COLD_MB"));
	if (cold_mb > 0) {
		cold_n = cold_mb * 1024 * 1024 / sizeof(float);
		cold_buf = eml_alloc(cold_n * sizeof(float));
		if (cold_buf == NULL)
			return 1;
		memset(cold_buf, 0, cold_n * sizeof(float));
	}
	printf("conv2d, ISA %s, best of repeated runs (%.2f s per shape)\n",
	    eml_isa_name(eml_kernels_get()->isa), seconds);
	printf("  %-30s %-17s %10s %8s %10s %10s %8s %10s\n", "shape", "method", "1 thr us",
	    "GFLOP/s", "1 thr cpu", "2 thr us", "GFLOP/s", "2 thr cpu");
	for (s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
		double us1, g1, c1, us2, g2, c2;
		const char *m;

		if (only != NULL && strstr(shapes[s].what, only) == NULL)
			continue;
		bench_one(&shapes[s], NULL, seconds, &us1, &g1, &c1, &m);
		bench_one(&shapes[s], pool2, seconds, &us2, &g2, &c2, &m);
		printf("  %-30s %-17s %10.1f %8.1f %10.1f %10.1f %8.1f %10.1f\n", shapes[s].what, m,
		    us1, g1, c1, us2, g2, c2);
		fflush(stdout);
	}
	eml_pool_free(pool2);
	return 0;
}
