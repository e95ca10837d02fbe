/*
 * Graph fixtures for the model-split tests and benchmarks: graphs built
 * directly as struct eml_graph (no ONNX), with random weights.
 */
#ifndef EML_TEST_GRAPH_H
#define EML_TEST_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "enclave-agent/engine/eml_graph.h"

/*
 * A graph that exercises every field the topology key carries: float and
 * int initializers of random shapes (n_init of them, up to max_elems
 * elements each), a Constant with a large float value, a Constant with a
 * small int64 shape value, attributes of every type, symbolic and fixed
 * dims. Not meant to run. Weights are random from *rng.
 */
struct eml_graph *eml_test_graph_synth(uint64_t *rng, size_t n_init, size_t max_elems);

/*
 * A runnable MLP: y = Relu(x[1,k] MatMul W1[k,h] + b1) MatMul W2[h,n] + b2,
 * where b2 is a Constant node (so a Constant value goes to the blob).
 */
struct eml_graph *eml_test_graph_mlp(uint64_t *rng, int64_t k, int64_t h, int64_t n);

/* Assert that two graphs are identical: structure, attributes and every
 * tensor value byte for byte (wherever each graph keeps it). */
void eml_test_graph_assert_equal(const struct eml_graph *a, const struct eml_graph *b);

/* Call fn on every tensor with a value (initializers, tensor attributes). */
void eml_test_graph_each_tensor(const struct eml_graph *g,
    void (*fn)(const struct eml_tensor *t, void *arg), void *arg);

#endif
