/*
 * The structural validator for model graphs (docs/TOPOLOGY.md, "Graph
 * validation"). The agent runs it on every decoded topology key before it
 * fetches a blob byte, plans or allocates for the model; the owner's split
 * runs the same function, so a model that splits cleanly is never refused
 * by an agent with the same limits, and one it would refuse is refused at
 * split time with the same code and message.
 *
 * What it proves, in this order, each with its own stable code:
 * - counts: nodes (all graphs together), graph inputs and outputs, inputs/outputs/attributes per
 *   node (EML_ERR_GRAPH_LIMIT);
 * - every value (graph input, initializer, node output) defined exactly
 *   once, with a non-empty name (EML_ERR_GRAPH_DUP_VALUE, EML_ERR_ONNX_NAME);
 * - every operator in the allow-list when one is given (EML_ERR_POLICY_OP)
 *   and accepted by check_node (the engine: operator set, arity, attribute
 *   names, types and values; its codes);
 * - every node input defined by an earlier node, an initializer or a graph
 *   input (EML_ERR_GRAPH_UNDEFINED; EML_ERR_GRAPH_CYCLE when the graph has
 *   a cycle, EML_ERR_GRAPH_ORDER when it is only out of order);
 * - every graph output produced (EML_ERR_GRAPH_UNDEFINED);
 * - dtypes of graph inputs and outputs with a size (EML_ERR_INFER_DTYPE),
 *   ranks <= 8, dims >= -1 (EML_ERR_GRAPH_DIM);
 * - every static shape (initializers, tensor attributes, the fixed part of
 *   declared values) counted with overflow checks (EML_ERR_GRAPH_OVERFLOW)
 *   and bounded in elements and bytes per tensor and in total
 *   (EML_ERR_GRAPH_TOO_LARGE);
 * - every weight reference inside the blob's plaintext (EML_ERR_TOPO_REF);
 * - every subgraph (If, Loop, Scan) checked the same way, nested at most
 *   EML_GRAPH_MAX_DEPTH deep, with max_nodes and EML_VALIDATE_MAX_VALUES
 *   counted over all graphs together (EML_ERR_GRAPH_LIMIT) and the same
 *   static byte total; a name a subgraph does not define must be an outer
 *   value visible at the node holding it: an input or initializer of an
 *   enclosing graph or the output of a node before it
 *   (EML_ERR_GRAPH_UNDEFINED, EML_ERR_GRAPH_ORDER).
 *
 * Shapes that depend on the inputs are bounded again when planned (the
 * engine's max_tensor_bytes / max_arena_bytes).
 */
#ifndef EML_VALIDATE_H
#define EML_VALIDATE_H

#include <stddef.h>
#include <stdint.h>

#include "eml_graph.h"

/* Defaults for a zero field of struct eml_validate_limits. */
#define EML_VALIDATE_MAX_NODES 100000u
#define EML_VALIDATE_MAX_GRAPH_IO 64u    /* graph inputs, graph outputs */
#define EML_VALIDATE_MAX_NODE_IO 4096u   /* inputs or outputs of one node */
#define EML_VALIDATE_MAX_NODE_ATTRS 64u
/* Values (inputs, initializers, node outputs) over a graph and all its
 * subgraphs. */
#define EML_VALIDATE_MAX_VALUES (1u << 20)
#define EML_VALIDATE_MAX_TENSOR_ELEMS ((uint64_t)1 << 30)
/* The agent's default policy uses these too (1 GiB per tensor; 2 GiB of
 * arena plus 2 GiB of weights), so the split refuses what it would. */
#define EML_VALIDATE_MAX_TENSOR_BYTES ((uint64_t)1 << 30)
#define EML_VALIDATE_MAX_STATIC_BYTES ((uint64_t)1 << 32)

typedef eml_err (*eml_validate_node_fn)(const struct eml_node *n, int64_t opset, char *why,
    size_t why_len);
/* The same with the caller's context: node i of graph g (g is the
 * subgraph for a subgraph's nodes). */
typedef eml_err (*eml_validate_node_at_fn)(void *arg, const struct eml_graph *g, size_t i,
    char *why, size_t why_len);

struct eml_validate_limits {
	uint64_t max_nodes;
	uint64_t max_tensor_elems;
	uint64_t max_tensor_bytes;
	/* Sum of every static tensor and fixed declared value. */
	uint64_t max_static_bytes;
	/* Weight references must end at or before this (the blob plaintext
	 * length); UINT64_MAX when the graph has no blob yet. */
	uint64_t weight_bytes;
	/* Operator allow-list (exact op_type names); NULL: any operator
	 * check_node accepts. */
	const char *const *ops;
	size_t n_ops;
	/* Per-operator checks (eml_engine_check_node); NULL: none. */
	eml_validate_node_fn check_node;
	/* Instead of check_node when set, with check_arg
	 * (eml_engine_check_node_keep and its struct eml_node_checks). */
	eml_validate_node_at_fn check_node_at;
	void *check_arg;
};

/* Limits with every default and weight_bytes = UINT64_MAX. */
void eml_validate_limits_default(struct eml_validate_limits *lim);

/*
 * Validate g (see the list above). eml_err_detail() names the node or
 * value. lim NULL: the defaults, no allow-list, no node check.
 */
eml_err eml_graph_validate(const struct eml_graph *g, const struct eml_validate_limits *lim)
    EML_MUST_USE;

#endif
