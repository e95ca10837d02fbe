/* Target: eml_onnx_import and eml_onnx_tensor_read (client/owner/onnx_import.c),
 * the readers of untrusted ONNX model and TensorProto bytes, and the
 * engine's load-time checks, planning and run (eml_model_new,
 * eml_plan_new, eml_plan_run) on whatever graph comes out.
 * Invariants: no crash, leak or over-read for any input; a tensor that
 * reads has exactly numel * element-size bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/owner/onnx_import.h"
#include "eml_mem.h"
#include "engine/eml_engine.h"
#include "tests/fuzz/eml_fuzz.h"

/* Plan and run with zero inputs when every input has a small fixed
 * shape: the engine must refuse or run any graph, never crash. */
static void
plan_and_run(const struct eml_model *m)
{
	const struct eml_graph *g = eml_model_graph(m);
	struct eml_tensor in[8];
	struct eml_plan_opts o = { .nthreads = 1, .max_tensor_bytes = 1 << 20 };
	struct eml_plan *p = NULL;
	static uint8_t zeros[1 << 16];
	size_t n = g->n_inputs;

	if (n > 8)
		return;
	memset(in, 0, sizeof(in));
	for (size_t i = 0; i < n; i++) {
		size_t numel = 1;
		const struct eml_value_info *v = &g->inputs[i];
		if (v->rank < 0 || eml_dtype_size(v->dtype) == 0)
			return;
		in[i].dtype = v->dtype;
		in[i].rank = v->rank;
		for (int d = 0; d < v->rank; d++) {
			if (v->dims[d].value < 0 || v->dims[d].value > 64)
				return;
			in[i].dims[d] = v->dims[d].value;
			numel *= (size_t)v->dims[d].value;
		}
		in[i].nbytes = numel * eml_dtype_size(v->dtype);
		if (in[i].nbytes > sizeof(zeros))
			return;
		in[i].data = zeros;
	}
	if (eml_plan_new(m, in, n, &o, &p) == EML_OK) {
		(void)eml_plan_run(p, in, n);
		eml_plan_free(p);
	}
}

EML_FUZZ_TARGET(NULL)
{
	struct eml_graph *g = NULL;
	struct eml_model *m = NULL;
	struct eml_tensor t;

	if (eml_onnx_import(data, size, &g) == EML_OK) {
		if (eml_model_new(g, &m) == EML_OK) {
			plan_and_run(m);
			eml_model_free(m);
		}
	}
	if (eml_onnx_tensor_read(data, size, &t) == EML_OK) {
		size_t n = 0;
		if (eml_tensor_numel(&t, &n) != EML_OK || n * eml_dtype_size(t.dtype) != t.nbytes)
			abort();
		eml_tensor_clear(&t);
	}
	return 0;
}
