/* Target: what the agent does with a client's topology key before and
 * after the blob: eml_topo_decode -> eml_graph_validate (agent-like
 * limits, the engine's node check) -> weights attached (zeros standing in
 * for the decrypted blob) -> eml_model_new -> eml_plan_new on a tiny input
 * per graph input -> eml_plan_run.
 * Invariants: no crash, leak, over-read or overflow anywhere on that path
 * for any input; everything the validator accepts either plans and runs or
 * is refused with a code; a weight reference the validator accepts lies
 * inside the blob (ASan sees any byte outside). Seeds: the topology keys of
 * the test models (tests/fuzz/corpus/graph/), control-flow ones included
 * (if-loop, vad-if-lstm, the hostile subgraph keys). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "eml_mem.h"
#include "engine/eml_engine.h"
#include "model/eml_topo.h"
#include "model/eml_validate.h"
#include "tests/fuzz/eml_fuzz.h"

/* Small bounds so the fuzzer cannot spend its time allocating. */
#define FZ_WEIGHTS ((uint64_t)64 << 20)
#define FZ_TENSOR ((uint64_t)4 << 20)
#define FZ_ARENA ((size_t)32 << 20)
#define FZ_INPUT_ELEMS 32768u

/* Subgraphs' references too (eml_graph_each_tensor), as eml_assemble. */
static eml_err
attach(struct eml_tensor *t, void *arg)
{
	uint8_t *w = arg;

	if (t == NULL || !t->in_blob)
		return EML_OK;
	t->data = w + t->blob_offset;
	t->owned = false;
	t->in_blob = false;
	t->blob_offset = 0;
	return EML_OK;
}

/* One input per graph input: its dtype, fixed dims as declared, symbolic
 * ones 1; refused (skipped) when above FZ_INPUT_ELEMS elements. */
static int
make_inputs(const struct eml_graph *g, struct eml_tensor *in, uint8_t *buf, size_t buf_len)
{
	size_t used = 0;

	for (size_t i = 0; i < g->n_inputs; i++) {
		const struct eml_value_info *v = &g->inputs[i];
		size_t numel = 1, esz = eml_dtype_size(v->dtype);

		memset(&in[i], 0, sizeof(in[i]));
		in[i].dtype = v->dtype;
		in[i].rank = v->rank < 0 ? 1 : v->rank;
		for (int d = 0; d < in[i].rank; d++) {
			int64_t x = v->rank < 0 || v->dims[d].value < 0 ? 1 : v->dims[d].value;

			if (x > (int64_t)FZ_INPUT_ELEMS)
				return -1;
			in[i].dims[d] = x;
			numel *= (size_t)x;
			if (numel > FZ_INPUT_ELEMS)
				return -1;
		}
		if (esz == 0 || numel * esz > buf_len - used)
			return -1;
		in[i].data = buf + used;
		in[i].nbytes = numel * esz;
		used += numel * esz;
	}
	return 0;
}

EML_FUZZ_TARGET(NULL)
{
	struct eml_topo *t = NULL;
	struct eml_validate_limits lim;
	struct eml_model *m = NULL;
	struct eml_plan *p = NULL;
	struct eml_plan_opts o;
	struct eml_tensor in[EML_VALIDATE_MAX_GRAPH_IO];
	static uint8_t inbuf[FZ_INPUT_ELEMS * 8 * 4];
	uint8_t *w = NULL;
	struct eml_graph *g;

	if (eml_topo_decode(data, size, &t) != EML_OK)
		return 0;
	eml_validate_limits_default(&lim);
	lim.max_tensor_bytes = FZ_TENSOR;
	lim.weight_bytes = t->blob->plaintext_length;
	lim.check_node = eml_engine_check_node;
	if (t->blob->plaintext_length > FZ_WEIGHTS || eml_graph_validate(t->graph, &lim) != EML_OK)
		goto out;
	/* Exactly the blob's size: a reference past it is an ASan report. */
	w = eml_calloc(1, t->blob->plaintext_length + 1);
	if (w == NULL)
		goto out;
	g = t->graph;
	if (eml_graph_each_tensor(g, attach, w) != EML_OK)
		goto out;
	t->graph = NULL;
	if (eml_model_new(g, &m) != EML_OK) /* takes g */
		goto out;
	if (make_inputs(eml_model_graph(m), in, inbuf, sizeof(inbuf)) != 0)
		goto out;
	memset(&o, 0, sizeof(o));
	o.nthreads = 1;
	o.bind_small_inputs = true;
	o.max_tensor_bytes = FZ_TENSOR;
	o.max_arena_bytes = FZ_ARENA;
	if (eml_plan_new(m, in, eml_model_graph(m)->n_inputs, &o, &p) != EML_OK)
		goto out;
	/* As the agent's policy always does: a Loop of 2^62 iterations (or
	 * none bounded at all) ends here instead of hanging the fuzzer. */
	eml_plan_set_time_limit(p, 200);
	(void)eml_plan_run(p, in, eml_model_graph(m)->n_inputs);
out:
	eml_plan_free(p);
	eml_model_free(m);
	eml_free(w);
	eml_topo_free(t);
	return 0;
}
