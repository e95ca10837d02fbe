/*
 * ONNX import (client side only, DESIGN §6): ONNX model bytes -> struct
 * eml_graph. Tensors inside the model go through model/eml_onnx_tensor.h.
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
#include "model/eml_graph.h"
#include "model/eml_onnx_tensor.h"

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

#endif
