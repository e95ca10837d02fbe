/*
 * Model split and assembly: throughput of the split (layout, XChaCha20-
 * Poly1305 sealing, SHA-256 content id, topology encoding), of the
 * assembly (topology decode, chunked opening straight into locked memory,
 * content id check), and the cost of wiping on destroy, on a synthetic
 * model with a large weight array and on the real model. In memory: no
 * disk or network in the figures. Best of REPS runs. Figures only.
 *
 *   build-x/bench/bench_split [MiB]   (synthetic weights, default 128)
 */
#include <stdio.h>
#include <stdlib.h>

#include "client/owner/onnx_import.h"
#include "client/owner/split.h"
#include "eml_buf.h"
#include "eml_mem.h"
#include "eml_test.h"
#include "eml_test_graph.h"
#include "model/eml_assemble.h"
#include "model/eml_topo.h"

#define REPS 3

static const struct eml_assemble_opts lax = { false, NULL, NULL, 0 };

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

int
main(int argc, char **argv)
{
	long mib = argc > 1 ? strtol(argv[1], NULL, 10) : 128;
	uint64_t rng = 1;
	struct eml_graph *g;
	eml_err rc;

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
	rc = eml_onnx_import_file(eml_test_data("models/text-direction-cls.onnx"), &g);
	if (rc != EML_OK) {
		fprintf(stderr, "bench_split: real model not available (%s): skipped\n",
		    eml_err_name(rc));
		return 0;
	}
	measure("text-direction-cls", g);
	eml_graph_free(g);
	return 0;
}
