/*
 * Model split and assembly: throughput of the split (layout, XChaCha20-
 * Poly1305 sealing, SHA-256 content id, topology encoding), of the
 * assembly (topology decode, chunked opening straight into locked memory,
 * content id check), and the cost of wiping on destroy, on a synthetic
 * model with a large weight array and on the real model. In memory: no
 * disk or network in the figures. Best of REPS runs. Figures only.
 *
 * Then the agent's per-request cycle on the real model (and on MODEL.onnx
 * with INPUT.pb when given), phase by phase, inside a session arena as
 * the agent runs it: validate (topology decode, graph validation with
 * the engine's node check kept for the model, as the agent's precheck), assemble (key SHA-256,
 * blob open into locked memory), engine model, plan, run, destroy (wipe).
 * Best of CYCLES (EML_BENCH_CYCLES overrides it, e.g. for perf record).
 *
 *   build-x/bench/bench_split [MiB [MODEL.onnx INPUT.pb]]
 *       (synthetic weights, default 128)
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "client/owner/onnx_import.h"
#include "client/owner/split.h"
#include "eml_buf.h"
#include "eml_mem.h"
#include "eml_test.h"
#include "eml_test_graph.h"
#include "engine/eml_engine.h"
#include "model/eml_assemble.h"
#include "model/eml_onnx_tensor.h"
#include "model/eml_topo.h"
#include "model/eml_validate.h"

#define REPS 3
#define CYCLES 20

static const struct eml_assemble_opts lax = { false, NULL, NULL, 0, false, NULL };

static void
die(const char *what, eml_err rc)
{
	fprintf(stderr, "bench_split: %s: %s %s\n", what, eml_err_name(rc), eml_err_detail());
	exit(1);
}

static double
mbps(uint64_t bytes, double s)
{
	return s > 0 ? (double)bytes / 1e6 / s : 0;
}

static void
measure(const char *name, struct eml_graph *g)
{
	double best_split = 1e9;
	double best_asm = 1e9;
	double best_wipe = 1e9;
	struct eml_split_info info;
	bool locked = false;

	for (int r = 0; r < REPS; r++) {
		struct eml_buf topo;
		struct eml_buf blob;
		struct eml_assembly *a = NULL;
		double t0;
		double t1;
		eml_err rc;

		eml_buf_init_secure(&topo, EML_TOPO_MAX_LEN);
		eml_buf_init(&blob, (size_t)EML_BLOB_PLAINTEXT_MAX);
		t0 = eml_test_now();
		rc = eml_split_graph_mem(g, NULL, &topo, &blob, &info);
		t1 = eml_test_now();
		if (rc != EML_OK)
			die("split", rc);
		if (t1 - t0 < best_split)
			best_split = t1 - t0;
		t0 = eml_test_now();
		rc = eml_assemble_mem(topo.data, topo.len, blob.data, blob.len, &lax, &a);
		t1 = eml_test_now();
		if (rc != EML_OK)
			die("assemble", rc);
		locked = eml_secure_locked();
		if (t1 - t0 < best_asm)
			best_asm = t1 - t0;
		t0 = eml_test_now();
		eml_assembly_destroy(a);
		t1 = eml_test_now();
		if (t1 - t0 < best_wipe)
			best_wipe = t1 - t0;
		eml_buf_free(&topo);
		eml_buf_free_nowipe(&blob);
	}
	printf("%-22s weights %9.1f MiB in %5zu tensors, topology key %7zu B, blob %9.1f MiB\n",
	    name, (double)info.weight_bytes / 1048576.0, info.n_blob_tensors, info.topo_bytes,
	    (double)info.blob_bytes / 1048576.0);
	printf("  split     %8.1f MB/s  (%.3f s)\n", mbps(info.weight_bytes, best_split), best_split);
	printf("  assemble  %8.1f MB/s  (%.3f s, weights %slocked)\n",
	    mbps(info.weight_bytes, best_asm), best_asm, locked ? "" : "NOT ");
	printf("  destroy   %8.1f MB/s  (%.3f s: wipe + unlock + release)\n",
	    mbps(info.weight_bytes, best_wipe), best_wipe);
}

/* One per-request cycle as eml-agent runs it, best time per phase. */
static void
cycle(const char *name, struct eml_graph *g, const struct eml_tensor *in)
{
	enum { VAL, ASM, MODEL, PLAN, RUN, WIPE, NPH };
	static const char *const phase[NPH] = { "validate", "assemble", "model", "plan", "run",
		"destroy" };
	double best[NPH], tot = 1e9;
	const char *env = getenv("EML_BENCH_CYCLES");
	long cycles = env != NULL ? strtol(env, NULL, 10) : CYCLES;
	struct eml_buf topo, blob;
	struct eml_split_info info;
	struct eml_arena *arena = NULL;
	struct eml_plan_opts o;
	struct eml_validate_limits lim;
	eml_err rc;

	for (int k = 0; k < NPH; k++)
		best[k] = 1e9;
	eml_buf_init_secure(&topo, EML_TOPO_MAX_LEN);
	eml_buf_init(&blob, (size_t)EML_BLOB_PLAINTEXT_MAX);
	if ((rc = eml_split_graph_mem(g, NULL, &topo, &blob, &info)) != EML_OK)
		die("split", rc);
	if ((rc = eml_arena_new(0, &arena)) != EML_OK)
		die("arena", rc);
	(void)eml_arena_use(arena);
	memset(&o, 0, sizeof(o));
	o.nthreads = 1;
	o.bind_small_inputs = true;
	eml_validate_limits_default(&lim);
	lim.weight_bytes = blob.len;
	lim.check_node_at = eml_engine_check_node_keep;
	for (long r = 0; r < cycles; r++) {
		struct eml_assembly *a = NULL;
		struct eml_model *m = NULL;
		struct eml_plan *p = NULL;
		struct eml_topo *tk = NULL;
		struct eml_node_checks *chk = NULL;
		struct eml_blob_mem mem;
		struct eml_blob_source src;
		uint8_t digest[32];
		double t[NPH + 1];

		t[0] = eml_test_now();
		if ((rc = eml_topo_decode(topo.data, topo.len, &tk)) != EML_OK ||
		    (rc = eml_node_checks_new(tk->graph, &chk)) != EML_OK)
			die("validate", rc);
		lim.check_arg = chk;
		if ((rc = eml_graph_validate(tk->graph, &lim)) != EML_OK)
			die("validate", rc);
		t[1] = eml_test_now();
		eml_blob_source_mem(&src, &mem, blob.data, blob.len);
		if ((rc = eml_sha256(topo.data, topo.len, digest)) != EML_OK ||
		    (rc = eml_assemble_topo(tk, digest, &src, &lax, &a)) != EML_OK)
			die("assemble", rc);
		t[2] = eml_test_now();
		rc = eml_model_new_checked(a->graph, chk, &m);
		a->graph = NULL;
		eml_node_checks_free(chk);
		if (rc != EML_OK)
			die("model", rc);
		t[3] = eml_test_now();
		if ((rc = eml_plan_new(m, in, 1, &o, &p)) != EML_OK)
			die("plan", rc);
		t[4] = eml_test_now();
		if ((rc = eml_plan_run(p, in, 1)) != EML_OK)
			die("run", rc);
		t[5] = eml_test_now();
		eml_plan_free(p);
		eml_model_free(m);
		eml_assembly_destroy(a);
		t[6] = eml_test_now();
		for (int k = 0; k < NPH; k++)
			if (t[k + 1] - t[k] < best[k])
				best[k] = t[k + 1] - t[k];
		if (t[NPH] - t[0] < tot)
			tot = t[NPH] - t[0];
	}
	(void)eml_arena_use(NULL);
	eml_arena_free(arena);
	printf("%-22s per-request cycle in a session arena, best of %ld, ms:", name, cycles);
	for (int k = 0; k < NPH; k++)
		printf(" %s %.3f", phase[k], best[k] * 1e3);
	printf("  total %.3f\n", tot * 1e3);
	eml_buf_free(&topo);
	eml_buf_free_nowipe(&blob);
}

static void
real_model(const char *name, const char *onnx, const char *input)
{
	struct eml_graph *g = NULL;
	struct eml_tensor in;
	eml_err rc;

	rc = eml_onnx_import_file(onnx, &g);
	if (rc != EML_OK) {
		fprintf(stderr, "bench_split: %s not available (%s): skipped\n", name,
		    eml_err_name(rc));
		return;
	}
	measure(name, g);
	memset(&in, 0, sizeof(in));
	if (input != NULL && eml_onnx_tensor_read_file(input, &in) == EML_OK) {
		in.name = NULL;
		cycle(name, g, &in);
		eml_tensor_clear(&in);
	}
	eml_graph_free(g);
}

int
main(int argc, char **argv)
{
	long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 128;
	uint64_t rng = 1;
	struct eml_graph *g;

	/* The heap as eml-agent sets it (enclave-agent/main.c): freed memory
	 * kept, not unmapped and faulted in again on the next cycle. Without
	 * it the cycle's figures moved with whichever large temporary last
	 * raised glibc's dynamic mmap threshold (the assembly's chunk
	 * buffers were faulted in afresh on every cycle once the Winograd
	 * temporary was gone). */
	(void)mallopt(M_MMAP_THRESHOLD, 32 << 20);
	(void)mallopt(M_TRIM_THRESHOLD, 128 << 20);
	if (eml_mem_init() != EML_OK || mib < 1 || mib > 4096)
		return 2;
	/* W1 is [4096, h] floats: h = mib * 64 gives mib MiB */
	g = eml_test_graph_mlp(&rng, 4096, (int64_t)mib * 64, 16);
	{
		char name[64];

		(void)snprintf(name, sizeof(name), "synthetic %ld MiB", mib);
		measure(name, g);
	}
	eml_graph_free(g);
	g = NULL;
	real_model("text-direction-cls", eml_test_data("models/text-direction-cls.onnx"),
	    "tests/vectors/text-direction-cls/input_0.pb");
	if (argc > 3)
		real_model(argv[2], argv[2], argv[3]);
	return 0;
}
