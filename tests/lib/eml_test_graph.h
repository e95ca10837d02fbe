/*
 * Graph fixtures for the model-split tests and benchmarks: graphs built
 * directly as struct eml_graph (no ONNX), with random weights.
 */
#ifndef EML_TEST_GRAPH_H
#define EML_TEST_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "model/eml_graph.h"

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

/*
 * A runnable graph with subgraphs: inputs c (bool scalar) and x (float
 * [2]); y = c ? then : x * {2, 3}, where then is x + {2, 3} at depth 1
 * and, deeper, the same If again one level down (depth levels of
 * subgraphs). Each branch holds its weight as its own initializer; c and
 * x are outer values of every branch. The output is named "o".
 */
struct eml_graph *eml_test_graph_if(int depth);

/* Assert that two graphs are identical: structure, attributes and every
 * tensor value byte for byte (wherever each graph keeps it). */
void eml_test_graph_assert_equal(const struct eml_graph *a, const struct eml_graph *b);

/* Call fn on every tensor with a value (initializers, tensor attributes,
 * subgraphs'). */
void eml_test_graph_each_tensor(const struct eml_graph *g,
    void (*fn)(const struct eml_tensor *t, void *arg), void *arg);

/*
 * A set of 16-byte windows (hash table), for the separation tests: "does
 * any 16-byte window of A occur in B" over megabytes needs O(1) lookups.
 */
struct eml_test_windows {
	uint8_t *keys;   /* cap * 16 bytes */
	uint32_t *slots; /* mask + 1 entries: 1 + index into keys, 0 = empty */
	size_t n;
	size_t cap;
	size_t mask;
};
/* Room for cap windows. */
void eml_test_windows_init(struct eml_test_windows *w, size_t cap);
void eml_test_windows_add(struct eml_test_windows *w, const uint8_t *p16);
/* Every window of hay[0..len) (init included). */
void eml_test_windows_of(struct eml_test_windows *w, const uint8_t *hay, size_t len);
bool eml_test_windows_has(const struct eml_test_windows *w, const uint8_t *p16);
void eml_test_windows_free(struct eml_test_windows *w);

#endif
