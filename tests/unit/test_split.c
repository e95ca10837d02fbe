/*
 * Model split end to end with the real importer and engine:
 * - split -> assemble -> run is bit-identical to running the imported ONNX
 *   graph directly, for the real model in testdata/models, a small MLP,
 *   and every bench model found in $EML_BENCH_MODELS (default
 *   $BUILD/bench-models, written by `make bench`; skipped with a note when
 *   absent);
 * - the engine check lists every unsupported node;
 * - eml_split_file writes the three files (topology key mode 0600) and they
 *   assemble with the signature in strict mode.
 */
#include "eml_test.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/owner/onnx_import.h"
#include "client/owner/split.h"
#include "eml_buf.h"
#include "eml_mem.h"
#include "eml_test_graph.h"
#include "model/eml_assemble.h"
#include "engine/eml_engine.h"
#include "model/eml_sign.h"
#include "model/eml_topo.h"
#include "proto/onnx.pb-c.h"

static const struct eml_assemble_opts lax = { false, NULL, NULL, 0, false, NULL };


/* Run g (ownership taken) on one input; return output 0 as a copy. */
static void
run_graph(struct eml_graph *g, const struct eml_tensor *in, uint8_t **out, size_t *out_len)
{
	struct eml_model *m = NULL;
	struct eml_plan *p = NULL;
	struct eml_plan_opts o;
	const struct eml_tensor *y;

	memset(&o, 0, sizeof(o));
	o.nthreads = 1;

	assert_eml_ok(eml_model_new(g, &m));
	assert_eml_ok(eml_plan_new(m, in, 1, &o, &p));
	assert_eml_ok(eml_plan_run(p, in, 1));
	assert_true(eml_plan_n_outputs(p) >= 1);
	y = eml_plan_output(p, 0);
	assert_non_null(y);
	assert_true(y->nbytes > 0);
	*out = eml_alloc(y->nbytes);
	assert_non_null(*out);
	memcpy(*out, y->data, y->nbytes);
	*out_len = y->nbytes;
	eml_plan_free(p);
	eml_model_free(m);
}

struct wcollect {
	struct eml_test_windows *sample;
	size_t stride;
	const struct eml_test_windows *topo;
};

static void
collect_windows(const struct eml_tensor *t, void *arg)
{
	struct wcollect *c = arg;
	const uint8_t *p = t->data;

	if (!t->in_blob)
		return;
	/* every window against the topology key; sampled ones kept for the
	 * blob scan */
	for (size_t i = 0; i + 16 <= t->nbytes; i++) {
		assert_false(eml_test_windows_has(c->topo, p + i));
		if (i % c->stride == 0)
			eml_test_windows_add(c->sample, p + i);
	}
}

/*
 * Separation property on a real split: the topology key contains no
 * 16-byte window of any weight (all windows checked), and the sealed blob
 * contains no 16-byte window of the topology key (all) nor of the weights
 * (windows taken every `stride` bytes; 1 = all of them).
 */
static void
check_separation(const struct eml_graph *g, const struct eml_buf *topo,
    const struct eml_buf *blob, size_t stride)
{
	struct eml_test_windows tw;
	struct eml_test_windows ww;
	struct wcollect c;

	eml_test_windows_of(&tw, topo->data, topo->len);
	eml_test_windows_init(&ww, blob->len / stride + 1024);
	c.sample = &ww;
	c.stride = stride;
	c.topo = &tw;
	eml_test_graph_each_tensor(g, collect_windows, &c);
	/* positive controls: the sets do find what they hold */
	assert_true(ww.n > 0);
	assert_true(eml_test_windows_has(&ww, ww.keys + 16 * (ww.n - 1)));
	assert_true(topo->len < 16 || eml_test_windows_has(&tw, topo->data + topo->len - 16));
	for (size_t i = 0; i + 16 <= blob->len; i++) {
		assert_false(eml_test_windows_has(&ww, blob->data + i));
		assert_false(eml_test_windows_has(&tw, blob->data + i));
	}
	eml_test_windows_free(&tw);
	eml_test_windows_free(&ww);
}

/* Split g in memory, check separation, assemble, run; g is consumed. */
static void
run_split(struct eml_graph *g, const struct eml_tensor *in, uint32_t cs, size_t stride,
    uint8_t **out, size_t *out_len)
{
	struct eml_split_opts so = { cs, false };
	struct eml_buf topo;
	struct eml_buf blob;
	struct eml_assembly *a = NULL;
	struct eml_graph *ag;

	eml_buf_init_secure(&topo, EML_TOPO_MAX_LEN);
	eml_buf_init(&blob, (size_t)1 << 32);
	assert_eml_ok(eml_split_graph_mem(g, &so, &topo, &blob, NULL));
	check_separation(g, &topo, &blob, stride);
	eml_graph_free(g);
	assert_eml_ok(eml_assemble_mem(topo.data, topo.len, blob.data, blob.len, &lax, &a));
	ag = a->graph;
	a->graph = NULL; /* the engine takes the graph; weights stay with a */
	run_graph(ag, in, out, out_len);
	eml_assembly_destroy(a);
	eml_buf_free(&topo);
	eml_buf_free_nowipe(&blob);
}

static void
random_input(struct eml_tensor *t, const struct eml_value_info *vi, uint64_t *rng)
{
	float *f;
	size_t n = 1;

	memset(t, 0, sizeof(*t));
	t->dtype = EML_DT_FLOAT;
	t->rank = vi->rank;
	for (int i = 0; i < vi->rank; i++) {
		t->dims[i] = vi->dims[i].value > 0 ? vi->dims[i].value : 1;
		n *= (size_t)t->dims[i];
	}
	t->nbytes = n * 4;
	t->data = eml_secure_alloc(t->nbytes);
	assert_non_null(t->data);
	t->owned = true;
	f = t->data;
	for (size_t i = 0; i < n; i++)
		f[i] = (float)((double)(eml_test_rand(rng) >> 11) / 4503599627370496.0 * 2.0 - 1.0);
}

static void
compare_model(const char *model, const char *input, uint32_t cs, size_t stride)
{
	struct eml_graph *g1 = NULL;
	struct eml_graph *g2 = NULL;
	struct eml_tensor in;
	uint8_t *y1 = NULL;
	uint8_t *y2 = NULL;
	size_t n1 = 0;
	size_t n2 = 0;
	double t0 = eml_test_now();

	assert_eml_ok(eml_onnx_import_file(model, &g1));
	assert_eml_ok(eml_onnx_import_file(model, &g2));
	assert_eml_ok(eml_onnx_tensor_read_file(input, &in));
	run_graph(g1, &in, &y1, &n1);
	run_split(g2, &in, cs, stride, &y2, &n2);
	assert_int_equal(n1, n2);
	assert_memory_equal(y1, y2, n1);
	fprintf(stderr, "  split round trip bit-identical, separation checked: %s "
			"(%zu output bytes, %.1f s)\n", model, n1, eml_test_now() - t0);
	eml_free(y1);
	eml_free(y2);
	eml_tensor_clear(&in);
}

static const char *
vectors_input(const char *name)
{
	static char path[4096];

	(void)snprintf(path, sizeof(path), "tests/vectors/%s/input_0.pb", name);
	return path;
}

static void
real_model_round_trip(void **state)
{
	(void)state;
	compare_model(eml_test_data("models/text-direction-cls.onnx"),
	    vectors_input("text-direction-cls"), 4096, 1);
}

struct refs {
	uint64_t off[1024];
	size_t len[1024];
	size_t n;
};

static void
collect_refs(const struct eml_tensor *t, void *arg)
{
	struct refs *r = arg;

	assert_true(r->n < 1024);
	r->off[r->n] = t->in_blob ? t->blob_offset : UINT64_MAX;
	r->len[r->n++] = t->nbytes;
}

/* The topology key of `eml run --local` (eml_split_topology) references
 * the weights exactly where the sealed split puts them, and carries no
 * key: nothing is sealed under it. */
static void
topology_only_matches_split(void **state)
{
	static const uint8_t zero[EML_BLOB_KEY_LEN];
	const char *model = eml_test_data("models/text-direction-cls.onnx");
	struct eml_graph *g1 = NULL, *g2 = NULL;
	struct eml_buf topo1, topo2, blob;
	struct eml_topo *t1 = NULL, *t2 = NULL;
	struct refs *r1 = eml_calloc(1, sizeof(*r1)), *r2 = eml_calloc(1, sizeof(*r2));

	(void)state;
	assert_non_null(r1);
	assert_non_null(r2);
	eml_buf_init_secure(&topo1, EML_TOPO_MAX_LEN);
	eml_buf_init_secure(&topo2, EML_TOPO_MAX_LEN);
	eml_buf_init(&blob, (size_t)1 << 32);
	assert_eml_ok(eml_onnx_import_file(model, &g1));
	assert_eml_ok(eml_onnx_import_file(model, &g2));
	assert_eml_ok(eml_split_graph_mem(g1, NULL, &topo1, &blob, NULL));
	assert_eml_ok(eml_split_topology(g2, &topo2));
	assert_eml_ok(eml_topo_decode(topo1.data, topo1.len, &t1));
	assert_eml_ok(eml_topo_decode(topo2.data, topo2.len, &t2));
	assert_int_equal(t1->blob->plaintext_length, t2->blob->plaintext_length);
	assert_int_equal(t1->blob->file_size, t2->blob->file_size);
	assert_memory_equal(t2->blob->key, zero, sizeof(zero));
	eml_test_graph_each_tensor(t1->graph, collect_refs, r1);
	eml_test_graph_each_tensor(t2->graph, collect_refs, r2);
	assert_true(r1->n > 100);
	assert_int_equal(r1->n, r2->n);
	assert_memory_equal(r1->off, r2->off, r1->n * sizeof(r1->off[0]));
	assert_memory_equal(r1->len, r2->len, r1->n * sizeof(r1->len[0]));
	eml_topo_free(t1);
	eml_topo_free(t2);
	eml_graph_free(g1);
	eml_graph_free(g2);
	eml_buf_free(&topo1);
	eml_buf_free(&topo2);
	eml_buf_free_nowipe(&blob);
	eml_free(r1);
	eml_free(r2);
}

static void
mlp_round_trip(void **state)
{
	uint64_t rng = eml_test_seed();
	uint64_t r1 = rng;
	struct eml_graph *g1 = eml_test_graph_mlp(&r1, 37, 64, 11);
	struct eml_graph *g2;
	struct eml_tensor in;
	uint8_t *y1 = NULL;
	uint8_t *y2 = NULL;
	size_t n1 = 0;
	size_t n2 = 0;

	(void)state;
	r1 = rng;
	g2 = eml_test_graph_mlp(&r1, 37, 64, 11); /* same seed: same weights */
	random_input(&in, &g1->inputs[0], &r1);
	run_graph(g1, &in, &y1, &n1);
	run_split(g2, &in, 64, 1, &y2, &n2);
	assert_int_equal(n1, 11 * 4);
	assert_int_equal(n1, n2);
	assert_memory_equal(y1, y2, n1);
	eml_free(y1);
	eml_free(y2);
	eml_tensor_clear(&in);
}

static void
bench_models_round_trip(void **state)
{
	const char *dir = getenv("EML_BENCH_MODELS");
	char def[4096];
	DIR *d;
	struct dirent *e;
	int n = 0;

	(void)state;
	if (dir == NULL) {
		const char *b = getenv("BUILD");

		(void)snprintf(def, sizeof(def), "%s/bench-models", b != NULL ? b : "build");
		dir = def;
	}
	d = opendir(dir);
	if (d == NULL) {
		fprintf(stderr, "  no bench models in %s (run make bench first): skipped\n", dir);
		skip();
	}
	while ((e = readdir(d)) != NULL) {
		char model[4400];
		char input[4400];

		if (e->d_name[0] == '.')
			continue;
		(void)snprintf(model, sizeof(model), "%s/%s/model.onnx", dir, e->d_name);
		(void)snprintf(input, sizeof(input), "%s/%s/input_0.pb", dir, e->d_name);
		if (access(model, R_OK) != 0 || access(input, R_OK) != 0)
			continue;
		/* weight windows sampled every 64 bytes against the blob: the
		 * bench models have 40+ MB of weights */
		compare_model(model, input, EML_BLOB_CHUNK_DEFAULT, 64);
		n++;
	}
	closedir(d);
	assert_true(n > 0);
}

static void
unsupported_nodes_listed(void **state)
{
	uint64_t rng = eml_test_seed();
	struct eml_graph *g = eml_test_graph_mlp(&rng, 4, 4, 4);
	struct eml_buf report;
	char *r;

	(void)state;
	/* two nodes the engine cannot run */
	eml_free_wipe(g->nodes[3].op_type, strlen(g->nodes[3].op_type));
	g->nodes[3].op_type = eml_strdup("FancyActivation");
	eml_free_wipe(g->nodes[5].domain, strlen(g->nodes[5].domain));
	g->nodes[5].domain = eml_strdup("com.example");
	eml_buf_init(&report, 1 << 16);
	assert_eml(eml_split_check(g, &report), EML_ERR_SPLIT_UNSUPPORTED);
	assert_eml_ok(eml_buf_append_u8(&report, 0));
	r = (char *)report.data;
	assert_non_null(strstr(r, "relu"));
	assert_non_null(strstr(r, "FancyActivation"));
	assert_non_null(strstr(r, "add2"));
	assert_null(strstr(r, "mm1"));
	{
		size_t lines = 0;

		for (char *p = r; *p != '\0'; p++)
			lines += *p == '\n';
		assert_int_equal(lines, 2);
	}
	eml_buf_free(&report);
	eml_graph_free(g);
}

/* A tiny ONNX file written with protobuf-c: x -> Relu -> FancyOp ->
 * Sigmoid -> (com.example) Mystery -> y, float [1,4]. */
static void
write_onnx_unsupported(const char *path)
{
	Emlonnx__ModelProto model = EMLONNX__MODEL_PROTO__INIT;
	Emlonnx__GraphProto graph = EMLONNX__GRAPH_PROTO__INIT;
	Emlonnx__OperatorSetIdProto opset = EMLONNX__OPERATOR_SET_ID_PROTO__INIT;
	Emlonnx__OperatorSetIdProto *opsets[1] = { &opset };
	Emlonnx__NodeProto nodes[4];
	Emlonnx__NodeProto *np[4];
	Emlonnx__ValueInfoProto vin = EMLONNX__VALUE_INFO_PROTO__INIT;
	Emlonnx__ValueInfoProto vout = EMLONNX__VALUE_INFO_PROTO__INIT;
	Emlonnx__ValueInfoProto *vins[1] = { &vin };
	Emlonnx__ValueInfoProto *vouts[1] = { &vout };
	Emlonnx__TypeProto ty = EMLONNX__TYPE_PROTO__INIT;
	Emlonnx__TypeProto__Tensor tt = EMLONNX__TYPE_PROTO__TENSOR__INIT;
	Emlonnx__TensorShapeProto shape = EMLONNX__TENSOR_SHAPE_PROTO__INIT;
	Emlonnx__TensorShapeProto__Dimension d0 = EMLONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
	Emlonnx__TensorShapeProto__Dimension d1 = EMLONNX__TENSOR_SHAPE_PROTO__DIMENSION__INIT;
	Emlonnx__TensorShapeProto__Dimension *dims[2] = { &d0, &d1 };
#define S(lit) ((char *)(uintptr_t)(lit)) /* protobuf-c fields are not const */
	char *names[] = { S("x"), S("a"), S("b"), S("c"), S("y") };
	char *ops[] = { S("Relu"), S("FancyOp"), S("Sigmoid"), S("Mystery") };
	char *nnames[] = { S("n_relu"), S("n_fancy"), S("n_sigmoid"), S("n_mystery") };
	char *domain_x = S("com.example");
	char *empty = S("");
	char *gname = S("g");
#undef S
	uint8_t buf[2048];
	size_t n;

	for (int i = 0; i < 4; i++) {
		emlonnx__node_proto__init(&nodes[i]);
		nodes[i].n_input = 1;
		nodes[i].input = &names[i];
		nodes[i].n_output = 1;
		nodes[i].output = &names[i + 1];
		nodes[i].name = nnames[i];
		nodes[i].op_type = ops[i];
		nodes[i].domain = i == 3 ? domain_x : empty;
		np[i] = &nodes[i];
	}
	d0.value_case = EMLONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	d0.dim_value = 1;
	d1.value_case = EMLONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
	d1.dim_value = 4;
	shape.n_dim = 2;
	shape.dim = dims;
	tt.has_elem_type = 1;
	tt.elem_type = 1;
	tt.shape = &shape;
	ty.value_case = EMLONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	ty.tensor_type = &tt;
	vin.name = names[0];
	vin.type = &ty;
	vout.name = names[4];
	vout.type = &ty;
	graph.n_node = 4;
	graph.node = np;
	graph.name = gname;
	graph.n_input = 1;
	graph.input = vins;
	graph.n_output = 1;
	graph.output = vouts;
	opset.domain = empty;
	opset.has_version = 1;
	opset.version = 13;
	model.has_ir_version = 1;
	model.ir_version = 8;
	model.graph = &graph;
	model.n_opset_import = 1;
	model.opset_import = opsets;
	n = emlonnx__model_proto__get_packed_size(&model);
	assert_true(n <= sizeof(buf));
	assert_int_equal(emlonnx__model_proto__pack(&model, buf), n);
	assert_eml_ok(eml_split_write_file(path, buf, n, 0644));
}

/* The file path: every unsupported node is listed, nothing is written. */
static void
unsupported_model_file(void **state)
{
	char dir[] = "/tmp/eml-split-unsup.XXXXXX";
	char model[128];
	char out[128];
	char topo[160];
	struct eml_buf report;
	char *r;

	(void)state;
	assert_non_null(mkdtemp(dir));
	(void)snprintf(model, sizeof(model), "%s/m.onnx", dir);
	(void)snprintf(out, sizeof(out), "%s/out", dir);
	(void)snprintf(topo, sizeof(topo), "%s/model.topo", out);
	write_onnx_unsupported(model);
	eml_buf_init(&report, 1 << 16);
	assert_eml(eml_split_file(model, out, NULL, NULL, &report, NULL),
	    EML_ERR_SPLIT_UNSUPPORTED);
	assert_eml_ok(eml_buf_append_u8(&report, 0));
	r = (char *)report.data;
	assert_non_null(strstr(r, "n_fancy"));
	assert_non_null(strstr(r, "FancyOp"));
	assert_non_null(strstr(r, "n_mystery"));
	assert_non_null(strstr(r, "com.example"));
	assert_null(strstr(r, "n_relu"));
	assert_null(strstr(r, "n_sigmoid"));
	assert_int_not_equal(access(topo, F_OK), 0);
	eml_buf_free(&report);
	{
		char cmd[256];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

static uint8_t *
slurp(const char *dir, const char *name, size_t *n)
{
	char path[4200];

	(void)snprintf(path, sizeof(path), "%s/%s", dir, name);
	return eml_test_read_file(path, n);
}

static void
split_files_signed(void **state)
{
	char dir[] = "/tmp/eml-split-test.XXXXXX";
	char path[256];
	struct eml_buf priv;
	struct eml_buf pub;
	struct eml_split_info info;
	struct eml_split_opts o = { 8192, false };
	struct eml_trust *trust = eml_trust_new();
	struct eml_assemble_opts so;
	struct eml_assembly *a = NULL;
	struct stat st;
	uint8_t *topo;
	uint8_t *blob;
	uint8_t *sig;
	size_t tn;
	size_t bn;
	size_t sn;

	(void)state;
	assert_non_null(mkdtemp(dir));
	eml_buf_init_secure(&priv, 1 << 16);
	eml_buf_init(&pub, 1 << 16);
	assert_eml_ok(eml_sign_keygen_ed25519(&priv, &pub));
	(void)snprintf(path, sizeof(path), "%s/pub.key", dir);
	assert_eml_ok(eml_split_write_file(path, priv.data, priv.len, 0600));
	(void)snprintf(path, sizeof(path), "%s/out", dir);
	assert_eml_ok(eml_split_file(eml_test_data("models/text-direction-cls.onnx"), path, &o,
	    NULL, NULL, &info));
	(void)snprintf(path, sizeof(path), "%s/pub.key", dir);
	{
		char out[128];

		(void)snprintf(out, sizeof(out), "%s/out", dir);
		/* the directory holds the first split: refused, then replaced */
		assert_eml(eml_split_file(eml_test_data("models/text-direction-cls.onnx"), out, &o,
		    path, NULL, &info), EML_ERR_FILE_EXISTS);
		o.force = true;
		assert_eml_ok(eml_split_file(eml_test_data("models/text-direction-cls.onnx"), out, &o,
		    path, NULL, &info));
		(void)snprintf(path, sizeof(path), "%s/model.topo", out);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0600);
		topo = slurp(out, "model.topo", &tn);
		blob = slurp(out, "weights.sealed", &bn);
		sig = slurp(out, "model.sig", &sn);
		/* a missing model and a bad key fail before writing */
		assert_eml(eml_split_file("/nonexistent.onnx", out, &o, NULL, NULL, NULL), EML_ERR_FILE);
		{
			/* eml_test_shared returns one static buffer: copy */
			char model[4096];

			(void)snprintf(model, sizeof(model), "%s",
			    eml_test_data("models/text-direction-cls.onnx"));
			assert_eml(eml_split_file(model, out, &o, eml_test_data("models/README.md"),
			    NULL, NULL), EML_ERR_SIG_KEY);
		}
	}
	assert_int_equal(bn, info.blob_bytes);
	assert_int_equal(tn, info.topo_bytes);
	/* all weights of this model are Constant nodes: they must be in the blob */
	assert_true(info.weight_bytes > 400000);
	assert_eml_ok(eml_trust_add_pem(trust, pub.data, pub.len));
	so.strict = true;
	so.trust = trust;
	so.sig = sig;
	so.sig_len = sn;
	assert_eml_ok(eml_assemble_mem(topo, tn, blob, bn, &so, &a));
	assert_true(a->is_signed);
	eml_assembly_destroy(a);
	eml_free(topo);
	eml_free(blob);
	eml_free(sig);
	eml_trust_free(trust);
	eml_buf_free(&priv);
	eml_buf_free(&pub);
	{
		char cmd[4200];

		(void)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(mlp_round_trip),
		cmocka_unit_test(real_model_round_trip),
		cmocka_unit_test(topology_only_matches_split),
		cmocka_unit_test(unsupported_nodes_listed),
		cmocka_unit_test(unsupported_model_file),
		cmocka_unit_test(split_files_signed),
		cmocka_unit_test(bench_models_round_trip),
	};

	if (eml_mem_init() != EML_OK)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
