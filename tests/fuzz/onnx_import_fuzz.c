/* Target: eml_onnx_import and eml_onnx_tensor_read (client/onnx_import.c),
 * the readers of untrusted ONNX model and TensorProto bytes, and the
 * engine's load-time checks (eml_model_new) on whatever graph comes out.
 * Invariants: no crash, leak or over-read for any input; a tensor that
 * reads has exactly numel * element-size bytes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "client/onnx_import.h"
#include "eml_mem.h"
#include "enclave-agent/engine/eml_engine.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (eml_mem_init() != EML_OK)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct eml_graph *g = NULL;
	struct eml_model *m = NULL;
	struct eml_tensor t;

	if (eml_onnx_import(data, size, &g) == EML_OK) {
		if (eml_model_new(g, &m) == EML_OK)
			eml_model_free(m);
	}
	if (eml_onnx_tensor_read(data, size, &t) == EML_OK) {
		size_t n = 0;
		if (eml_tensor_numel(&t, &n) != EML_OK || n * eml_dtype_size(t.dtype) != t.nbytes)
			abort();
		eml_tensor_clear(&t);
	}
	return 0;
}
