/*
 * eml run --local MODEL.onnx --input FILE... [--output-dir DIR]
 *         [--threads N] [--bench N] [--profile]
 *
 * Runs a model on this machine with the same engine the enclave runs, on
 * the same input: the model is split in memory and assembled back first.
 * FILEs are ONNX TensorProto .pb files (the ONNX test-data format). They
 * are matched to the graph inputs by the name stored in the file when
 * every file names a distinct graph input, otherwise in order.
 *
 * Output: with --output-dir, DIR/output_0.pb, output_1.pb, ... (TensorProto,
 * named after the graph outputs); otherwise a short summary per output
 * (name, dtype, shape, first values) on stdout.
 *
 * --bench N: after the first run (the warm-up, whose outputs are the ones
 * written or summarised), N more timed runs, then exactly one line on
 * stdout:
 *     median_ms=<float> min_ms=<float>
 * (milliseconds with three decimals, wall clock of eml_plan_run alone:
 * planning and file I/O excluded). Details go to stderr.
 *
 * --profile: with --bench, time per operator type and the slowest nodes
 * on stderr.
 *
 * Exit codes (DESIGN §9): 0 success, 1 invalid or unsupported model,
 * 2 usage, 3 I/O or engine failure.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "client/owner/onnx_import.h"
#include "client/owner/split.h"
#include "eml_mem.h"
#include "eml_num.h"
#include "model/eml_assemble.h"
#include "engine/eml_engine.h"
#include "model/eml_topo.h"

#define MAX_INPUTS 64
#define MAX_BENCH 100000

static void
usage(FILE *f)
{
	fprintf(f, "usage: eml run --local MODEL.onnx --input FILE... [--output-dir DIR]\n"
		   "               [--threads N] [--bench N]\n");
}

static int
parse_count(const char *s, long max, long *out)
{
	uint64_t v;

	if (eml_num_u64(s, 1, (uint64_t)max, &v) != EML_OK)
		return -1;
	*out = (long)v;
	return 0;
}

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Reorder the input files to the graph's input order by their names,
 * when every file names a distinct graph input. */
static void
match_by_name(const struct eml_graph *g, struct eml_tensor *in, size_t n)
{
	struct eml_tensor tmp[MAX_INPUTS];
	bool used[MAX_INPUTS] = { false };

	if (n != g->n_inputs)
		return;
	for (size_t i = 0; i < n; i++) {
		size_t k;
		for (k = 0; k < n; k++)
			if (!used[k] && in[k].name != NULL && strcmp(in[k].name, g->inputs[i].name) == 0)
				break;
		if (k == n)
			return; /* not all named: keep the order given */
		used[k] = true;
		tmp[i] = in[k];
	}
	EML_MEMCPY(in, tmp, n * sizeof(*in));
}

/*
 * DESIGN §6: run exactly what the enclave runs. The imported graph is split
 * in memory (topology key + sealed blob), freed, and assembled back: the
 * engine then sees the graph the agent would see, weights in one locked
 * region. *g is replaced by the assembled graph; *am keeps the weights and
 * must outlive the engine model.
 */
static eml_err
split_assemble(struct eml_graph **g, struct eml_assembly **am)
{
	static const struct eml_assemble_opts opts = { false, NULL, NULL, 0 };
	struct eml_buf topo;
	struct eml_buf blob;
	eml_err rc;

	eml_buf_init_secure(&topo, EML_TOPO_MAX_LEN);
	eml_buf_init(&blob, (size_t)EML_BLOB_PLAINTEXT_MAX);
	rc = eml_split_graph_mem(*g, NULL, &topo, &blob, NULL);
	if (rc == EML_OK) {
		eml_graph_free(*g);
		*g = NULL;
		rc = eml_assemble_mem(topo.data, topo.len, blob.data, blob.len, &opts, am);
	}
	if (rc == EML_OK) {
		*g = (*am)->graph;
		(*am)->graph = NULL; /* the engine takes it; weights stay in *am */
	}
	eml_buf_free(&topo);
	eml_buf_free_nowipe(&blob); /* ciphertext */
	return rc;
}

static void
summary(const char *name, const struct eml_tensor *t)
{
	size_t n = 0;

	printf("%s: %s [", name, eml_dtype_name(t->dtype));
	for (int d = 0; d < t->rank; d++)
		printf("%s%lld", d > 0 ? "," : "", (long long)t->dims[d]);
	printf("]");
	if (eml_tensor_numel(t, &n) != EML_OK)
		n = 0;
	for (size_t i = 0; i < n && i < 8; i++) {
		const uint8_t *p = t->data;
		switch (t->dtype) {
		case EML_DT_FLOAT: {
			float f = 0;
			EML_MEMCPY(&f, p + 4 * i, 4);
			printf(" %.6g", (double)f);
			break;
		}
		case EML_DT_INT64: {
			int64_t v = 0;
			EML_MEMCPY(&v, p + 8 * i, 8);
			printf(" %lld", (long long)v);
			break;
		}
		case EML_DT_INT32: {
			int32_t v = 0;
			EML_MEMCPY(&v, p + 4 * i, 4);
			printf(" %d", v);
			break;
		}
		case EML_DT_BOOL:
			printf(" %s", p[i] ? "true" : "false");
			break;
		default:
			break;
		}
	}
	printf("%s\n", n > 8 ? " ..." : "");
}

int
eml_cmd_run(int argc, char **argv)
{
	const char *model_path = NULL, *out_dir = NULL;
	const char *files[MAX_INPUTS];
	size_t nfiles = 0;
	long threads = 1, bench = 0;
	bool local = false, profile = false;
	struct eml_graph *g = NULL;
	struct eml_model *m = NULL;
	struct eml_assembly *am = NULL;
	struct eml_plan *plan = NULL;
	struct eml_tensor in[MAX_INPUTS];
	size_t nin = 0;
	double *times = NULL;
	int status = 3;
	eml_err rc;

	memset(in, 0, sizeof(in));
	for (int i = 0; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (strcmp(a, "--local") == 0) {
			local = true;
		} else if (strcmp(a, "--profile") == 0) {
			profile = true;
		} else if (strcmp(a, "--input") == 0) {
			while (i + 1 < argc && strncmp(argv[i + 1], "--", 2) != 0) {
				if (nfiles == MAX_INPUTS) {
					fprintf(stderr, "eml run: at most %d inputs\n", MAX_INPUTS);
					return 2;
				}
				files[nfiles++] = argv[++i];
			}
		} else if (strcmp(a, "--output-dir") == 0 && i + 1 < argc) {
			out_dir = argv[++i];
		} else if (strcmp(a, "--threads") == 0 && i + 1 < argc) {
			if (parse_count(argv[++i], 256, &threads) != 0) {
				fprintf(stderr, "eml run: --threads wants 1..256\n");
				return 2;
			}
		} else if (strcmp(a, "--bench") == 0 && i + 1 < argc) {
			if (parse_count(argv[++i], MAX_BENCH, &bench) != 0) {
				fprintf(stderr, "eml run: --bench wants 1..%d\n", MAX_BENCH);
				return 2;
			}
		} else if (a[0] != '-' && model_path == NULL) {
			model_path = a;
		} else {
			fprintf(stderr, "eml run: unexpected argument '%s'\n", a);
			usage(stderr);
			return 2;
		}
	}
	if (!local) {
		fprintf(stderr, "eml run: only --local is supported (use eml infer for the "
				"enclave)\n");
		usage(stderr);
		return 2;
	}
	if (model_path == NULL) {
		usage(stderr);
		return 2;
	}

	rc = eml_onnx_import_file(model_path, &g);
	if (rc != EML_OK)
		return eml_cli_fail(model_path, rc);
	for (size_t i = 0; i < nfiles; i++) {
		rc = eml_onnx_tensor_read_file(files[i], &in[i]);
		if (rc != EML_OK) {
			status = eml_cli_fail(files[i], rc);
			/* A malformed input file is the caller's mistake (usage),
			 * not a failed verification; unreadable stays I/O. */
			if (eml_err_category(rc) == 600)
				status = 2;
			goto out;
		}
		nin = i + 1;
	}
	match_by_name(g, in, nin);
	rc = split_assemble(&g, &am);
	if (rc != EML_OK) {
		status = eml_cli_fail("split and assemble", rc);
		goto out;
	}
	rc = eml_model_new(g, &m);
	g = NULL; /* transferred, also on failure */
	if (rc != EML_OK) {
		(void)eml_cli_fail("model", rc);
		status = 1;
		goto out;
	}
	{
		struct eml_plan_opts opts = { .nthreads = (int)threads,
			.bind_small_inputs = true, .profile = profile };
		rc = eml_plan_new(m, in, nin, &opts, &plan);
	}
	if (rc != EML_OK) {
		status = eml_cli_fail("plan", rc);
		/* The inputs do not fit the model: usage. The model cannot be
		 * run by this engine: an unsupported model, like at load. */
		if (rc == EML_ERR_INFER_INPUT)
			status = 2;
		else if (eml_err_category(rc) == 500)
			status = 1;
		goto out;
	}
	rc = eml_plan_run(plan, in, nin);
	if (rc != EML_OK) {
		status = eml_cli_fail("run", rc);
		goto out;
	}
	if (out_dir != NULL) {
		if (mkdir(out_dir, 0700) != 0 && errno != EEXIST) {
			fprintf(stderr, "eml run: cannot create %s: %s\n", out_dir, strerror(errno));
			goto out;
		}
		for (size_t k = 0; k < eml_plan_n_outputs(plan); k++) {
			char path[4096];
			struct eml_tensor t = *eml_plan_output(plan, k);
			t.name = eml_model_graph(m)->outputs[k].name;
			(void)snprintf(path, sizeof(path), "%s/output_%zu.pb", out_dir, k);
			rc = eml_onnx_tensor_write_file(&t, path);
			if (rc != EML_OK) {
				status = eml_cli_fail(path, rc);
				goto out;
			}
		}
	} else if (bench == 0) {
		for (size_t k = 0; k < eml_plan_n_outputs(plan); k++)
			summary(eml_model_graph(m)->outputs[k].name, eml_plan_output(plan, k));
	}
	if (bench > 0) {
		times = eml_calloc((size_t)bench, sizeof(double));
		if (times == NULL) {
			status = eml_cli_fail("bench", EML_ERR_NOMEM);
			goto out;
		}
		for (long r = 0; r < bench; r++) {
			double t0 = now_ms();
			rc = eml_plan_run(plan, in, nin);
			times[r] = now_ms() - t0;
			if (rc != EML_OK) {
				status = eml_cli_fail("run", rc);
				goto out;
			}
		}
		qsort(times, (size_t)bench, sizeof(double), cmp_double);
		fprintf(stderr, "eml run: %ld timed runs, %ld threads\n", bench, threads);
		eml_plan_print_profile(plan, stderr);
		printf("median_ms=%.3f min_ms=%.3f\n",
		    bench % 2 ? times[bench / 2] : (times[bench / 2 - 1] + times[bench / 2]) / 2,
		    times[0]);
	}
	status = 0;
out:
	eml_free(times);
	eml_plan_free(plan);
	eml_model_free(m);
	eml_graph_free(g);
	eml_assembly_destroy(am); /* after the model: its weights live here */
	for (size_t i = 0; i < nin; i++)
		eml_tensor_clear(&in[i]);
	return status;
}
