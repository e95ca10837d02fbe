/*
 * ONNX import (client side only, DESIGN §6): ONNX model bytes -> struct
 * eml_graph, and the ONNX TensorProto .pb format (the ONNX test-data
 * format) for model inputs and outputs.
 *
 * The bytes are untrusted. They are size-capped, unpacked by protobuf-c
 * with the project's schema (proto/onnx.proto), then every field the
 * engine will rely on is validated before a graph exists: data types,
 * dimensions (non-negative, rank <= EML_MAX_RANK, byte size bounded),
 * raw_data length == numel * element size, typed-field counts, names,
 * attribute types, counts, and the graph structure (every input defined,
 * no output defined twice, no cycle). Nodes come out topologically sorted.
 *
 * Constant nodes: a Constant whose `value` tensor has more than
 * EML_ONNX_CONST_INLINE_MAX elements becomes an initializer (so the model
 * split moves it into the weight blob); smaller ones (shape constants,
 * scalars) stay Constant nodes.
 */
#ifndef EML_ONNX_IMPORT_H
#define EML_ONNX_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "eml_buf.h"
#include "eml_err.h"
#include "enclave-agent/engine/eml_graph.h"

#define EML_ONNX_MAX_BYTES ((size_t)1 << 31)     /* whole model file */
#define EML_ONNX_TENSOR_MAX_BYTES ((size_t)1 << 31)
#define EML_ONNX_MAX_NODES ((size_t)1 << 20)
#define EML_ONNX_MAX_INITIALIZERS ((size_t)1 << 20)
#define EML_ONNX_MAX_NODE_IO 4096 /* inputs or outputs of one node */
#define EML_ONNX_MAX_ATTRS 256    /* attributes of one node */
#define EML_ONNX_MAX_ATTR_ITEMS ((size_t)1 << 20)
#define EML_ONNX_MAX_NAME 4096 /* bytes in any name or string attribute */
#define EML_ONNX_MAX_DIM ((int64_t)1 << 40)
#define EML_ONNX_CONST_INLINE_MAX 64

/*
 * Parse and validate an ONNX model. On success *out is a new graph the
 * caller frees with eml_graph_free. Errors: EML_ERR_ONNX_TOO_LARGE,
 * EML_ERR_ONNX_DECODE, EML_ERR_ONNX_DTYPE, EML_ERR_ONNX_DIMS,
 * EML_ERR_ONNX_DATA, EML_ERR_ONNX_EXTERNAL, EML_ERR_ONNX_GRAPH,
 * EML_ERR_ONNX_ATTR, EML_ERR_ONNX_LIMIT, EML_ERR_ONNX_OPSET,
 * EML_ERR_ONNX_NAME, EML_ERR_NOMEM; eml_err_detail() names the culprit.
 */
eml_err eml_onnx_import(const uint8_t *bytes, size_t len, struct eml_graph **out)
    EML_MUST_USE;
/* The same from a file (EML_ERR_FILE when it cannot be read). */
eml_err eml_onnx_import_file(const char *path, struct eml_graph **out) EML_MUST_USE;

/*
 * One TensorProto (.pb test-data file) -> *out, which the caller clears
 * with eml_tensor_clear. Data is in eml_secure_alloc memory. Same errors as
 * above for the tensor itself.
 */
eml_err eml_onnx_tensor_read(const uint8_t *bytes, size_t len, struct eml_tensor *out)
    EML_MUST_USE;
eml_err eml_onnx_tensor_read_file(const char *path, struct eml_tensor *out) EML_MUST_USE;
/* Serialize t (dims, data_type, name, raw_data) appended to out. */
eml_err eml_onnx_tensor_write(const struct eml_tensor *t, struct eml_buf *out) EML_MUST_USE;
eml_err eml_onnx_tensor_write_file(const struct eml_tensor *t, const char *path)
    EML_MUST_USE;

/* Read a whole file of at most max bytes into eml_alloc'ed memory; the
 * caller frees it with eml_free_wipe(*data, *len). EML_ERR_FILE,
 * EML_ERR_ONNX_TOO_LARGE, EML_ERR_NOMEM. */
eml_err eml_onnx_read_file(const char *path, size_t max, uint8_t **data, size_t *len)
    EML_MUST_USE;

#endif
