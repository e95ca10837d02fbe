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
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "cli.h"
#include "client/owner/onnx_import.h"
#include "client/owner/split.h"
#include "eml_mem.h"
#include "eml_num.h"
#include "eml_sort.h"
#include "engine/eml_engine.h"
#include "model/eml_topo.h"

#define MAX_INPUTS 64
#define MAX_BENCH 100000

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double
cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
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

/* Every weight tensor of g in split's order, subgraphs' included. */
static eml_err
each_weight(struct eml_graph *g, eml_tensor_fn fn, void *arg)
{
	return eml_graph_each_tensor(g, fn, arg);
}

/* The imported blob tensors, in increasing blob offsets (split lays them
 * out in walk order). */
struct weight_map {
	struct eml_tensor **t;
	size_t n;
	size_t cap;
	size_t attached;
};

static eml_err
map_add(struct eml_tensor *t, void *arg)
{
	struct weight_map *m = arg;

	if (!t->in_blob)
		return EML_OK;
	EML_ENSURE(m->n < m->cap && (m->n == 0 || m->t[m->n - 1]->blob_offset < t->blob_offset),
	    EML_ERR_INTERNAL);
	m->t[m->n++] = t;
	return EML_OK;
}

static eml_err
map_count(struct eml_tensor *t, void *arg)
{
	((struct weight_map *)arg)->cap += 1;
	(void)t;
	return EML_OK;
}

/* Point a decoded blob reference at the imported tensor at its offset. */
static eml_err
map_attach(struct eml_tensor *t, void *arg)
{
	struct weight_map *m = arg;
	size_t lo = 0, hi = m->n;

	if (!t->in_blob)
		return EML_OK;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->t[mid]->blob_offset < t->blob_offset)
			lo = mid + 1;
		else
			hi = mid;
	}
	EML_ENSURE(lo < m->n && m->t[lo]->blob_offset == t->blob_offset &&
		m->t[lo]->nbytes == t->nbytes && m->t[lo]->dtype == t->dtype,
	    EML_ERR_INTERNAL);
	t->data = m->t[lo]->data;
	t->owned = false;
	t->in_blob = false;
	t->blob_offset = 0;
	m->attached++;
	return EML_OK;
}

/*
 * DESIGN §6: run exactly what the enclave runs. The imported graph gives
 * its topology key (eml_split_topology: the split's layout, checks and
 * encoding, but no sealed blob), which is decoded as the agent decodes it;
 * the decoded graph's weight references point at the imported tensors,
 * the bytes the agent would decrypt at the same offsets. Sealing 45 MB to
 * open it again at once was most of the command (issue 16). On success
 * *g is the decoded graph for the engine and *weights the imported one,
 * which owns the weights and must outlive the engine model.
 */
static eml_err
split_assemble(struct eml_graph **g, struct eml_graph **weights)
{
	struct eml_buf topo;
	struct eml_topo *t = NULL;
	struct weight_map m = { NULL, 0, 0, 0 };
	eml_err rc;

	eml_buf_init_secure(&topo, EML_TOPO_MAX_LEN);
	rc = eml_split_topology(*g, &topo);
	if (rc == EML_OK)
		rc = eml_topo_decode(topo.data, topo.len, &t);
	if (rc == EML_OK)
		rc = each_weight(*g, map_count, &m);
	if (rc == EML_OK && (m.t = eml_calloc(m.cap + 1, sizeof(*m.t))) == NULL)
		rc = EML_ERR_NOMEM;
	if (rc == EML_OK)
		rc = each_weight(*g, map_add, &m);
	if (rc == EML_OK)
		rc = each_weight(t->graph, map_attach, &m);
	if (rc == EML_OK && m.attached != m.n)
		rc = EML_ERR_INTERNAL;
	if (rc == EML_OK) {
		*weights = *g;
		*g = t->graph;
		t->graph = NULL; /* the engine takes it */
	}
	eml_free(m.t);
	eml_topo_free(t);
	eml_buf_free(&topo);
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

/* The command's phases, timed for --profile (stderr). */
enum { PH_IMPORT, PH_INPUTS, PH_SPLIT, PH_MODEL, PH_PLAN, PH_RUN, PH_OUTPUT, PH_FREE, PH_N };
static const char *const phase_name[PH_N] = { "import", "inputs", "split", "model", "plan",
	"run", "output", "free" };

/* What the command line asked for. */
struct run_args {
	const char *model_path;
	const char *out_dir;
	const char *files[MAX_INPUTS];
	size_t nfiles;
	long threads;
	long bench;
	long warmup;
	bool local;
	bool profile;
};

/* Everything a run holds, released by run_state_free. */
struct run_state {
	struct eml_graph *g;
	struct eml_model *m;
	struct eml_graph *weights; /* the imported graph: owns the weights */
	struct eml_plan *plan;
	struct eml_tensor in[MAX_INPUTS];
	size_t nin;
	json_t *doc; /* --json */
	/* --profile: wall clock and process CPU time at the start of each
	 * phase, and the --bench runs' (not a phase) */
	double t[PH_N + 1], cpu[PH_N + 1];
	long flt[PH_N + 1]; /* minor page faults so far */
	double bench_ms, bench_cpu;
	bool profile; /* --profile: mark() takes the times */
};

static long
minor_faults(void)
{
	struct rusage ru;

	return getrusage(RUSAGE_SELF, &ru) == 0 ? ru.ru_minflt : 0;
}

/* The start of phase ph (PH_N: the end), --bench runs left out. Only with
 * --profile: the process CPU clock and getrusage are system calls (2-5 us
 * each on the VMs eml runs on, twenty of them per command). */
static void
mark(struct run_state *s, int ph)
{
	if (!s->profile)
		return;
	s->t[ph] = now_ms() - s->bench_ms;
	s->cpu[ph] = cpu_ms() - s->bench_cpu;
	s->flt[ph] = minor_faults();
}

/* --profile: one line on stderr, milliseconds of wall clock and of CPU
 * time (all threads) per phase of the command; the loader and eml's own
 * start-up before import are not in it. */
static void
print_phases(const struct run_state *s)
{
	fprintf(stderr, "eml run: phases (ms, wall/cpu):");
	for (int i = 0; i < PH_N; i++)
		fprintf(stderr, " %s=%.3f/%.3f", phase_name[i], s->t[i + 1] - s->t[i],
		    s->cpu[i + 1] - s->cpu[i]);
	fprintf(stderr, " total=%.3f/%.3f\n", s->t[PH_N] - s->t[PH_IMPORT],
	    s->cpu[PH_N] - s->cpu[PH_IMPORT]);
	fprintf(stderr, "eml run: page faults: before=%ld", s->flt[PH_IMPORT]);
	for (int i = 0; i < PH_N; i++)
		fprintf(stderr, " %s=%ld", phase_name[i], s->flt[i + 1] - s->flt[i]);
	fprintf(stderr, "\n");
}

/* Fill *a from the parsed options. Returns -1 to go on, otherwise the exit
 * status. */
static int
parse_run_args(const struct eml_args *ar, struct run_args *a)
{
	memset(a, 0, sizeof(*a));
	a->model_path = ar->pos[0];
	a->local = eml_args_has(ar, "local");
	a->profile = eml_args_has(ar, "profile");
	a->out_dir = eml_args_str(ar, "output-dir");
	a->threads = (long)eml_args_u64(ar, "threads", 1);
	a->bench = (long)eml_args_u64(ar, "bench", 0);
	a->warmup = (long)eml_args_u64(ar, "warmup", 0);
	a->nfiles = eml_args_count(ar, "input");
	if (a->nfiles > MAX_INPUTS)
		return eml_args_usage(ar, "at most %d inputs", MAX_INPUTS);
	for (size_t i = 0; i < a->nfiles; i++)
		a->files[i] = eml_args_nth(ar, "input", i);
	if (!a->local)
		return eml_args_usage(ar, "only --local is supported (use eml infer for the "
					  "enclave)");
	return -1;
}

/* The input files into s->in, in the graph's input order when they name
 * its inputs. Returns -1 to go on, otherwise the exit status. */
static int
load_inputs(const struct run_args *a, struct run_state *s)
{
	if (a->nfiles == 0) {
		/* none given: random values of each declared input's shape
		 * (eml tensor make --model M --from random writes the same) */
		if (s->g->n_inputs > MAX_INPUTS)
			return eml_cli_fail("inputs", EML_ERR_ONNX_LIMIT);
		for (size_t i = 0; i < s->g->n_inputs; i++) {
			bool symbolic = false;
			eml_err rc = eml_cli_tensor_from_input(&s->g->inputs[i], &s->in[i], &symbolic);

			if (rc == EML_OK)
				rc = eml_cli_tensor_fill(&s->in[i], true, 1 + i);
			if (rc != EML_OK)
				return eml_cli_fail(s->g->inputs[i].name, rc);
			s->nin = i + 1;
			fprintf(stderr, "eml run: input %s: random values of its declared shape%s\n",
			    s->g->inputs[i].name, symbolic ? " (symbolic dimensions set to 1, 224 for the height and width of an image)" : "");
		}
		return -1;
	}
	for (size_t i = 0; i < a->nfiles; i++) {
		eml_err rc = eml_onnx_tensor_read_file(a->files[i], &s->in[i]);

		if (rc != EML_OK)
			return eml_cli_fail(a->files[i], rc);
		s->nin = i + 1;
	}
	match_by_name(s->g, s->in, s->nin);
	return -1;
}

/* Import, split and assemble back, load into the engine and plan for the
 * inputs. Returns -1 to go on, otherwise the exit status. */
static int
prepare(const struct run_args *a, struct run_state *s)
{
	struct eml_plan_opts opts = { .nthreads = (int)a->threads,
		.bind_small_inputs = true, .profile = a->profile };
	eml_err rc;
	int status;

	mark(s, PH_IMPORT);
	if ((rc = eml_onnx_import_file(a->model_path, &s->g)) != EML_OK)
		return eml_cli_fail(a->model_path, rc);
	mark(s, PH_INPUTS);
	if ((status = load_inputs(a, s)) >= 0)
		return status;
	mark(s, PH_SPLIT);
	if ((rc = split_assemble(&s->g, &s->weights)) != EML_OK)
		return eml_cli_fail("split and assemble", rc);
	mark(s, PH_MODEL);
	rc = eml_model_new(s->g, &s->m);
	s->g = NULL; /* transferred, also on failure */
	if (rc != EML_OK)
		return eml_cli_fail("model", rc);
	/* inputs that do not fit the model, a model this engine cannot run:
	 * refusals (1), like at load */
	mark(s, PH_PLAN);
	if ((rc = eml_plan_new(s->m, s->in, s->nin, &opts, &s->plan)) != EML_OK)
		return eml_cli_fail("plan", rc);
	return -1;
}

/* DIR/output_K.pb for every output, named after the graph's outputs.
 * Returns -1 to go on, otherwise the exit status. */
static int
write_outputs(const char *out_dir, const struct run_state *s)
{
	if (mkdir(out_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "eml run: cannot create %s: %s\n", out_dir, strerror(errno));
		return 3;
	}
	for (size_t k = 0; k < eml_plan_n_outputs(s->plan); k++) {
		char path[4096];
		struct eml_tensor t = *eml_plan_output(s->plan, k);
		eml_err rc;

		t.name = eml_model_graph(s->m)->outputs[k].name;
		(void)snprintf(path, sizeof(path), "%s/output_%zu.pb", out_dir, k);
		if ((rc = eml_onnx_tensor_write_file(&t, path)) != EML_OK)
			return eml_cli_fail(path, rc);
	}
	return -1;
}

/* The p-th percentile of n sorted times, nearest rank (p99 of 10 runs is
 * the slowest). */
static double
rank(const double *t, long n, int p)
{
	long k = ((long)p * n + 99) / 100;

	return t[k < 1 ? 0 : k - 1];
}

/* a->bench timed runs after the first; the one stdout line of --bench.
 * Returns -1 to go on, otherwise the exit status. */
static int
bench_runs(const struct run_args *a, struct run_state *s)
{
	long n = a->bench;
	double *times = eml_calloc((size_t)n, sizeof(double));
	int status = -1;

	if (times == NULL)
		return eml_cli_fail("bench", EML_ERR_NOMEM);
	for (long r = 0; r < a->warmup && status < 0; r++)
		if (eml_plan_run(s->plan, s->in, s->nin) != EML_OK)
			status = eml_cli_fail("warm-up run", EML_ERR_INFER);
	for (long r = 0; r < n && status < 0; r++) {
		double t0 = now_ms();
		eml_err rc = eml_plan_run(s->plan, s->in, s->nin);

		times[r] = now_ms() - t0;
		if (rc != EML_OK)
			status = eml_cli_fail("run", rc);
	}
	if (status < 0) {
		double sum = 0;

		eml_sort(times, (size_t)n, sizeof(double), cmp_double);
		fprintf(stderr, "eml run: %ld timed runs, %ld threads\n", n, a->threads);
		eml_plan_print_profile(s->plan, stderr);
		for (long r = 0; r < n; r++)
			sum += times[r];
		if (s->doc != NULL) {
			json_t *b = json_object();

			json_object_set_new(b, "runs", json_integer(n));
			json_object_set_new(b, "warmup", json_integer(a->warmup));
			json_object_set_new(b, "threads", json_integer(a->threads));
			json_object_set_new(b, "median_ms",
			    json_real(n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2));
			json_object_set_new(b, "min_ms", json_real(times[0]));
			json_object_set_new(b, "p50_ms", json_real(rank(times, n, 50)));
			json_object_set_new(b, "p90_ms", json_real(rank(times, n, 90)));
			json_object_set_new(b, "p99_ms", json_real(rank(times, n, 99)));
			json_object_set_new(b, "max_ms", json_real(times[n - 1]));
			json_object_set_new(b, "throughput_per_s",
			    json_real(sum > 0 ? (double)n * 1000.0 / sum : 0.0));
			json_object_set_new(s->doc, "bench", b);
		} else
			printf("median_ms=%.3f min_ms=%.3f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f max_ms=%.3f "
		       "throughput_per_s=%.2f\n",
		    n % 2 ? times[n / 2] : (times[n / 2 - 1] + times[n / 2]) / 2, times[0],
		    rank(times, n, 50), rank(times, n, 90), rank(times, n, 99), times[n - 1],
		    sum > 0 ? (double)n * 1000.0 / sum : 0.0);
	}
	eml_free(times);
	return status;
}

static void
run_state_free(struct run_state *s)
{
	eml_plan_free(s->plan);
	eml_model_free(s->m);
	eml_graph_free(s->g);
	eml_graph_free(s->weights); /* after the model: its weights live here */
	for (size_t i = 0; i < s->nin; i++)
		eml_tensor_clear(&s->in[i]);
	json_decref(s->doc);
}

/* An output as JSON: name, dtype, shape and the first values. */
static json_t *
output_json(const char *name, const struct eml_tensor *t)
{
	json_t *o = json_object(), *shape = json_array(), *first = json_array();
	size_t n = eml_dtype_size(t->dtype) > 0 ? t->nbytes / eml_dtype_size(t->dtype) : 0;
	const uint8_t *p = t->data;

	json_object_set_new(o, "name", json_string(name));
	json_object_set_new(o, "dtype", json_string(eml_dtype_name(t->dtype)));
	for (int d = 0; d < t->rank; d++)
		json_array_append_new(shape, json_integer((json_int_t)t->dims[d]));
	json_object_set_new(o, "shape", shape);
	for (size_t i = 0; i < n && i < 8; i++) {
		if (t->dtype == EML_DT_FLOAT) {
			float v = 0;

			EML_MEMCPY(&v, p + 4 * i, 4);
			json_array_append_new(first, json_real((double)v));
		} else if (t->dtype == EML_DT_INT64) {
			int64_t v = 0;

			EML_MEMCPY(&v, p + 8 * i, 8);
			json_array_append_new(first, json_integer((json_int_t)v));
		}
	}
	json_object_set_new(o, "first", first);
	return o;
}

/* Steps in order; each returns -1 to go on or the exit status. */
static int
run_local(const struct run_args *a, struct run_state *s)
{
	eml_err rc;
	int status;

	if ((status = prepare(a, s)) >= 0)
		return status;
	mark(s, PH_RUN);
	if ((rc = eml_plan_run(s->plan, s->in, s->nin)) != EML_OK)
		return eml_cli_fail("run", rc);
	mark(s, PH_OUTPUT);
	if (a->out_dir != NULL) {
		if ((status = write_outputs(a->out_dir, s)) >= 0)
			return status;
	} else if (a->bench == 0 && s->doc == NULL) {
		for (size_t k = 0; k < eml_plan_n_outputs(s->plan); k++)
			summary(eml_model_graph(s->m)->outputs[k].name, eml_plan_output(s->plan, k));
	}
	if (s->doc != NULL) {
		json_t *outs = json_array();

		json_object_set_new(s->doc, "model", json_string(a->model_path));
		for (size_t k = 0; k < eml_plan_n_outputs(s->plan); k++)
			json_array_append_new(outs, output_json(eml_model_graph(s->m)->outputs[k].name,
							eml_plan_output(s->plan, k)));
		json_object_set_new(s->doc, "outputs", outs);
	}
	if (a->bench > 0) {
		double t0 = now_ms(), c0 = cpu_ms();

		if ((status = bench_runs(a, s)) >= 0)
			return status;
		s->bench_ms = now_ms() - t0;
		s->bench_cpu = cpu_ms() - c0;
	}
	if (s->doc != NULL) {
		(void)json_dumpf(s->doc, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		fputc('\n', stdout);
	}
	return 0;
}

static int
cmd_run(const struct eml_args *ar)
{
	struct run_args a;
	struct run_state s;
	int status;
	struct eml_arena *arena = NULL, *prev;
	eml_err rc;

	if ((status = parse_run_args(ar, &a)) >= 0)
		return status;
	/* Every secret buffer of the run (packed weights, activations) in one
	 * locked arena: a few mappings instead of three per allocation, which
	 * was most of the command's start-up (issue 16). */
	if ((rc = eml_arena_new(0, &arena)) != EML_OK)
		return eml_cli_fail("memory", rc);
	prev = eml_arena_use(arena);
	memset(&s, 0, sizeof(s));
	s.profile = a.profile;
	if (eml_args_has(ar, "json") && (s.doc = json_object()) == NULL)
		status = eml_cli_fail("run", EML_ERR_NOMEM);
	else
		status = run_local(&a, &s);
	mark(&s, PH_FREE);
	run_state_free(&s);
	(void)eml_arena_use(prev);
	eml_arena_free(arena);
	if (status == 0 && a.profile) {
		mark(&s, PH_N);
		print_phases(&s);
	}
	return status;
}

static const struct eml_opt run_opts[] = {
	{ "local", 0, EML_OPT_FLAG, NULL, "run on this machine (the only mode)", 0, 0, NULL, 0 },
	{ "input", 'i', EML_OPT_FILE, "FILE...", "input tensors (.pb), in graph order or by name",
	    0, 0, NULL, EML_OPT_MULTI },
	{ "output-dir", 'o', EML_OPT_DIR, "DIR", "write output_<i>.pb here", 0, 0, NULL, 0 },
	{ "threads", 't', EML_OPT_U64, "N", "engine threads", 1, 256, NULL, 0 },
	{ "bench", 0, EML_OPT_U64, "N",
	    "N timed runs after the first; one line on stdout: median_ms min_ms p50_ms p90_ms "
	    "p99_ms max_ms throughput_per_s",
	    1, MAX_BENCH, NULL, 0 },
	{ "warmup", 0, EML_OPT_U64, "N", "untimed runs before the timed ones (default 0; the "
	    "first run is always untimed)", 0, MAX_BENCH, NULL, 0 },
	{ "json", 0, EML_OPT_FLAG, NULL,
	    "one JSON document on stdout: outputs and the --bench figures (docs/CLI.md)", 0, 0,
	    NULL, 0 },
	{ "profile", 0, EML_OPT_FLAG, NULL,
	    "time per phase of the command on stderr; with --bench also per operator type and "
	    "the slowest nodes", 0, 0, NULL, 0 },
};

const struct eml_cmd eml_cli_run = { .name = "run", .args = "--local MODEL.onnx",
	.summary = "run a model on this machine with the engine the enclave runs",
	.text = "The model is split in memory and assembled back first, as in the enclave. "
		"Inputs are ONNX TensorProto .pb files, matched to the graph inputs by the name "
		"stored in the file when every file names a distinct input, otherwise in order. "
		"Without --output-dir a short summary per output goes to stdout.",
	.opts = run_opts, .n_opts = EML_OPT_N(run_opts), .min_pos = 1, .max_pos = 1,
	.run = cmd_run };
