/*
 * Writes the seed corpora of topo_fuzz and blob_header_fuzz:
 *   tests/fuzz/corpus/topo/         topology keys (synthetic graphs, an MLP,
 *                                   the real model when $EML_TESTDATA has it)
 *   tests/fuzz/corpus/blob_header/  whole sealed blobs under the fixed fuzz
 *                                   key of blob_header_fuzz.c
 * Not built by make; from the repository root, after `make BUILD=b`:
 *   cc -std=c11 -D_GNU_SOURCE -I. -Icommon -Itests/lib -Ib/gen \
 *     tests/fuzz/make_split_corpus.c b/obj/tests/lib/*.o \
 *     -Wl,--start-group b/lib/libeml_*.a -Wl,--end-group \
 *     $(pkg-config --libs libcrypto libssl libprotobuf-c libsodium \
 *       libcap-ng jansson cmocka) -lm -o /tmp/mksc && /tmp/mksc
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/owner/onnx_import.h"
#include "client/owner/split.h"
#include "eml_buf.h"
#include "eml_mem.h"
#include "eml_test.h"
#include "eml_test_graph.h"
#include "model/eml_topo.h"

static const uint8_t fuzz_key[EML_BLOB_KEY_LEN] = { 0x42 };

static void
put(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[512];

	(void)snprintf(path, sizeof(path), "tests/fuzz/corpus/%s/%s", dir, name);
	if (eml_split_write_file(path, p, n, 0644) != EML_OK) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
	printf("%s: %zu bytes\n", path, n);
}

static void
topo_of(struct eml_graph *g, const char *name)
{
	struct eml_buf topo;
	struct eml_buf blob;
	struct eml_split_opts o = { 64, false };

	eml_buf_init(&topo, EML_TOPO_MAX_LEN);
	eml_buf_init(&blob, (size_t)1 << 30);
	if (eml_split_graph_mem(g, &o, &topo, &blob, NULL) != EML_OK)
		exit(1);
	put("topo", name, topo.data, topo.len);
	eml_buf_free(&topo);
	eml_buf_free_nowipe(&blob);
	eml_graph_free(g);
}

static eml_err
sink(void *ctx, const void *p, size_t n)
{
	return eml_buf_append(ctx, p, n);
}

static void
blob_of(size_t plen, uint32_t cs, const char *name)
{
	struct eml_buf file;
	struct eml_blob_writer *w = NULL;
	uint8_t id[32];
	uint8_t *plain = eml_calloc(1, plen + 1);

	eml_buf_init(&file, (size_t)1 << 24);
	for (size_t i = 0; i < plen; i++)
		plain[i] = (uint8_t)(i * 31);
	if (eml_blob_writer_new(fuzz_key, cs, plen, sink, &file, &w) != EML_OK ||
	    eml_blob_writer_put(w, plain, plen) != EML_OK || eml_blob_writer_finish(w, id) != EML_OK)
		exit(1);
	put("blob_header", name, file.data, file.len);
	eml_blob_writer_free(w);
	eml_buf_free_nowipe(&file);
	eml_free(plain);
}

int
main(void)
{
	uint64_t rng = 12345;
	struct eml_graph *g = NULL;

	if (eml_mem_init() != EML_OK)
		return 1;
	topo_of(eml_test_graph_synth(&rng, 3, 20), "synth_small");
	topo_of(eml_test_graph_synth(&rng, 10, 200), "synth_mixed");
	topo_of(eml_test_graph_mlp(&rng, 8, 16, 4), "mlp");
	if (eml_onnx_import_file(eml_test_data("models/text-direction-cls.onnx"), &g) == EML_OK)
		topo_of(g, "text_direction_cls");
	blob_of(0, 64, "empty");
	blob_of(100, 64, "two_chunks");
	blob_of(1000, 128, "eight_chunks");
	blob_of(4096, 4096, "one_full_chunk");
	return 0;
}
