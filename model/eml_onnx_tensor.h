/*
 * The ONNX TensorProto .pb format (the ONNX test-data format): model inputs
 * and outputs on the client, and the tensors inside an ONNX model for the
 * importer. Shared by the SDK (tensor files) and the owner's tools.
 *
 * The bytes are untrusted: size-capped, unpacked by protobuf-c with the
 * project's schema (proto/onnx.proto), then data type, dimensions and data
 * length are checked before a tensor exists.
 */
#ifndef EML_ONNX_TENSOR_H
#define EML_ONNX_TENSOR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "eml_buf.h"
#include "eml_err.h"
#include "model/eml_graph.h"
#include "proto/onnx.pb-c.h"

#define EML_ONNX_MAX_BYTES ((size_t)1 << 31)     /* whole model file */
#define EML_ONNX_TENSOR_MAX_BYTES ((size_t)1 << 31)
#define EML_ONNX_MAX_NODES ((size_t)1 << 20)
#define EML_ONNX_MAX_INITIALIZERS ((size_t)1 << 20)
#define EML_ONNX_MAX_NODE_IO 4096 /* inputs or outputs of one node */
#define EML_ONNX_MAX_ATTRS 256    /* attributes of one node */
#define EML_ONNX_MAX_ATTR_ITEMS ((size_t)1 << 20)
#define EML_ONNX_MAX_NAME 4096 /* bytes in any name or string attribute */
#define EML_ONNX_MAX_DIM ((int64_t)1 << 40)

/* protobuf-c allocator through eml_alloc that wipes on free (unpacked
 * models hold copies of the weights). */
extern ProtobufCAllocator eml_onnx_pb_allocator;

/*
 * The same for one message unpacked, used and freed at once (a model at
 * import): its small values come from a region (eml_graph.h) and are not
 * freed one by one; large values are secure blocks as with
 * eml_onnx_pb_allocator. init fills *al (wire: the message's size, for
 * the first block) and says EML_ERR_NOMEM when it has no region (release
 * is safe then too); after <msg>__free_unpacked(m, al), which frees the
 * large values not taken, eml_onnx_pb_arena_release wipes every byte the
 * arena handed out and frees its blocks. Neither *a nor *al may move
 * while in use.
 */
struct eml_onnx_pb_arena {
	struct eml_region *r; /* private */
};
eml_err eml_onnx_pb_arena_init(struct eml_onnx_pb_arena *a, ProtobufCAllocator *al, size_t wire);
void eml_onnx_pb_arena_release(struct eml_onnx_pb_arena *a);

/* A name from the model: bounded, NUL-free UTF-8 is not required, but it
 * must be non-empty unless allow_empty. EML_ERR_ONNX_NAME. */
eml_err eml_onnx_check_name(const char *s, bool allow_empty, const char *what) EML_MUST_USE;
/* The ONNX data types the engine can hold. */
bool eml_onnx_dtype_storable(int32_t dt);
/* A validated TensorProto -> t (data in eml_secure_alloc memory). */
eml_err eml_onnx_tensor_from_proto(const Emlonnx__TensorProto *tp, struct eml_tensor *t,
    const char *what) EML_MUST_USE;
/* The same for a tensor of a graph built in region r (eml_graph.h): its
 * name is in r. NULL r: as above. */
eml_err eml_onnx_tensor_from_proto_in(const Emlonnx__TensorProto *tp, struct eml_tensor *t,
    const char *what, struct eml_region *r) EML_MUST_USE;

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
/* The same into a file, atomically: a temporary file beside path, fsync,
 * rename, fsync of the directory. On failure (EML_ERR_FILE: a full disk,
 * a missing directory) path is untouched and no temporary file is left. */
eml_err eml_onnx_tensor_write_file(const struct eml_tensor *t, const char *path)
    EML_MUST_USE;

#endif
