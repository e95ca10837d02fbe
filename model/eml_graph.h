/*
 * The in-memory model graph: what ONNX import produces on the client, what
 * the topology key serializes (with weights replaced by blob references),
 * and what the engine plans and runs. Numbering of dtypes and attribute
 * types follows ONNX (onnx.proto TensorProto.DataType, AttributeProto.
 * AttributeType) so conversions are the identity.
 *
 * Ownership: a graph owns every string, array and tensor it points to.
 * Everything is allocated with eml_alloc, except tensor data, which is in
 * eml_secure_alloc memory (weights are secret). eml_graph_free wipes it all:
 * the topology is a secret too. A graph a decoder built in one region
 * (g->region, eml_topo_decode) holds its structs, arrays and strings there
 * (tensor data still eml_secure_alloc'ed): nothing of it is freed or
 * replaced one by one, and eml_graph_free wipes the region's used bytes
 * once and frees its blocks.
 */
#ifndef EML_GRAPH_H
#define EML_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "eml_err.h"

#define EML_MAX_RANK 8
/* Deepest nesting of subgraphs (If inside Loop inside If ...) any reader
 * accepts: the decoder checks it before it unpacks (protobuf-c recurses
 * per level), the importer and the validator again. */
#define EML_GRAPH_MAX_DEPTH 4

enum eml_dtype {
	EML_DT_UNDEFINED = 0,
	EML_DT_FLOAT = 1,
	EML_DT_UINT8 = 2,
	EML_DT_INT8 = 3,
	EML_DT_UINT16 = 4,
	EML_DT_INT16 = 5,
	EML_DT_INT32 = 6,
	EML_DT_INT64 = 7,
	EML_DT_STRING = 8,
	EML_DT_BOOL = 9,
	EML_DT_FLOAT16 = 10,
	EML_DT_DOUBLE = 11,
	EML_DT_UINT32 = 12,
	EML_DT_UINT64 = 13,
	EML_DT_BFLOAT16 = 16,
};

/* Bytes per element; 0 for UNDEFINED, STRING and unknown values. */
size_t eml_dtype_size(enum eml_dtype dt);
const char *eml_dtype_name(enum eml_dtype dt);

/* A tensor with a value: an initializer, a Constant's value, a model input
 * or output at run time. */
struct eml_tensor {
	char *name;
	enum eml_dtype dtype;
	int rank;
	int64_t dims[EML_MAX_RANK];
	void *data;    /* nbytes; eml_secure_alloc'ed when owned */
	size_t nbytes; /* = product(dims) * eml_dtype_size(dtype) */
	bool owned;    /* data is freed (and wiped) with the tensor */
	/* Set by the model split: where the bytes live in the flat weight
	 * array. A topology key carries the reference, never the bytes. */
	bool in_blob;
	uint64_t blob_offset;
};

/* A dimension of a declared graph input/output: fixed or symbolic. */
struct eml_dim {
	int64_t value; /* >= 0 when fixed, -1 when symbolic or unknown */
	char *symbol;  /* dim_param, or NULL */
};

struct eml_value_info {
	char *name;
	enum eml_dtype dtype;
	int rank; /* -1 when the shape is unknown */
	struct eml_dim dims[EML_MAX_RANK];
};

enum eml_attr_type {
	EML_ATTR_UNDEFINED = 0,
	EML_ATTR_FLOAT = 1,
	EML_ATTR_INT = 2,
	EML_ATTR_STRING = 3,
	EML_ATTR_TENSOR = 4,
	EML_ATTR_GRAPH = 5,
	EML_ATTR_FLOATS = 6,
	EML_ATTR_INTS = 7,
	EML_ATTR_STRINGS = 8,
};

struct eml_attr {
	char *name;
	enum eml_attr_type type;
	float f;
	int64_t i;
	char *s; /* NUL-terminated; s_len excludes the NUL */
	size_t s_len;
	struct eml_tensor *t;
	float *floats;
	int64_t *ints;
	char **strings;
	size_t n; /* count for floats, ints or strings */
	struct eml_graph *g; /* GRAPH: the subgraph (If, Loop, Scan), owned */
};

struct eml_node {
	char *name;
	char *op_type;
	char *domain; /* "" or "ai.onnx" for the default domain */
	char **inputs; /* "" marks an omitted optional input */
	size_t n_inputs;
	char **outputs;
	size_t n_outputs;
	struct eml_attr *attrs;
	size_t n_attrs;
};

struct eml_region;

struct eml_graph {
	/* Set on a graph built in a region (its subgraphs live there too):
	 * the region goes, wiped, with the graph. NULL: each part is its own
	 * eml_alloc block. */
	struct eml_region *region;
	char *name;
	int64_t opset; /* default-domain opset version */
	struct eml_node *nodes; /* in topological order after import */
	size_t n_nodes;
	struct eml_tensor *initializers;
	size_t n_initializers;
	struct eml_value_info *inputs; /* graph inputs that are not initializers */
	size_t n_inputs;
	struct eml_value_info *outputs;
	size_t n_outputs;
	struct eml_value_info *value_infos;
	size_t n_value_infos;
};

/*
 * A region: heap blocks (eml_alloc) handed out by a bump pointer, nothing
 * freed one by one; eml_region_free wipes every byte handed out and frees
 * the blocks. first: the first block's size (it doubles per block up to
 * 1 MiB; a large request gets a block of its own). NULL when out of
 * memory. eml_region_alloc: 16-byte aligned, not zeroed, NULL on
 * overflow or out of memory; eml_region_calloc zeroes nmemb * size.
 */
struct eml_region *eml_region_new(size_t first);
void *eml_region_alloc(struct eml_region *r, size_t n);
void *eml_region_calloc(struct eml_region *r, size_t nmemb, size_t size);
/* Bytes handed out so far (what the free wipes), blocks' headers aside. */
size_t eml_region_used(const struct eml_region *r);
void eml_region_free(struct eml_region *r);

/* A new empty graph, or NULL when out of memory. */
struct eml_graph *eml_graph_new(void);
/* Wipe and free everything the graph owns; NULL is a no-op. */
void eml_graph_free(struct eml_graph *g);

/* Wipe and free what a tensor owns (not the struct itself). */
void eml_tensor_clear(struct eml_tensor *t);
/* Element count from dims; EML_ERR_OVERFLOW when it does not fit. */
eml_err eml_tensor_numel(const struct eml_tensor *t, size_t *out) EML_MUST_USE;

/*
 * Every tensor with a value, in a fixed order: initializers, then tensor
 * attributes node by node, a subgraph's tensors right after the node that
 * holds it (depth first). The split lays the blob out in this order and
 * fills it in the same one. EML_ERR_GRAPH_LIMIT past EML_GRAPH_MAX_DEPTH.
 */
typedef eml_err (*eml_tensor_fn)(struct eml_tensor *t, void *arg);
eml_err eml_graph_each_tensor(struct eml_graph *g, eml_tensor_fn fn, void *arg) EML_MUST_USE;

/*
 * The outer-scope names node n's subgraphs read: every name a subgraph
 * node reads (or a subgraph lists as an output) that the subgraph does not
 * define itself (inputs, initializers, node outputs), nested subgraphs
 * included. fn may see a name more than once. EML_ERR_GRAPH_LIMIT past
 * EML_GRAPH_MAX_DEPTH, EML_ERR_NOMEM.
 */
typedef eml_err (*eml_name_fn)(const char *name, void *arg);
eml_err eml_node_captures(const struct eml_node *n, eml_name_fn fn, void *arg) EML_MUST_USE;
/* Whether a node holds a subgraph attribute. */
bool eml_node_has_subgraph(const struct eml_node *n);
/* Subgraphs in g, nested ones included. */
size_t eml_graph_n_subgraphs(const struct eml_graph *g);

/* Attribute lookup by name on a node; NULL when absent. */
const struct eml_attr *eml_node_attr(const struct eml_node *n, const char *name);

#endif
