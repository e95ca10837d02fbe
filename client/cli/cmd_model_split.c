/*
 * eml model split MODEL.onnx --out DIR [--sign KEY.pem] [--chunk-size N]
 *
 * Writes DIR/model.topo (the topology key: secret, mode 0600),
 * DIR/weights.sealed (for the host's weight store) and, with --sign,
 * DIR/model.sig. Lists every unsupported node and exits 1 when the engine
 * cannot run the model.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client/owner/split.h"
#include "eml_buf.h"
#include "eml_num.h"

static int
usage(void)
{
	fprintf(stderr, "usage: eml model split MODEL.onnx --out DIR [--sign KEY.pem] "
			"[--chunk-size BYTES]\n"
			"  --chunk-size  a multiple of 64 in [64, 67108864] (default 1048576)\n");
	return 2;
}

static int
parse_chunk(const char *s, uint32_t *out)
{
	uint64_t v;

	if (eml_num_u64(s, 0, UINT32_MAX, &v) != EML_OK || !eml_blob_chunk_size_ok(v))
		return -1;
	*out = (uint32_t)v;
	return 0;
}

int
eml_cmd_model_split(int argc, char **argv)
{
	const char *model = NULL;
	const char *out = NULL;
	const char *key = NULL;
	struct eml_split_opts opts = { 0, false };
	struct eml_split_info info;
	struct eml_buf report;
	char id[2 * EML_BLOB_ID_LEN + 1];
	eml_err rc;

	for (int i = 0; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out = argv[++i];
		} else if (strcmp(argv[i], "--force") == 0) {
			opts.force = true;
		} else if (strcmp(argv[i], "--sign") == 0 && i + 1 < argc) {
			key = argv[++i];
		} else if (strcmp(argv[i], "--chunk-size") == 0 && i + 1 < argc) {
			if (parse_chunk(argv[++i], &opts.chunk_size) != 0) {
				fprintf(stderr, "eml model split: bad --chunk-size '%s'\n", argv[i]);
				return usage();
			}
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			(void)usage();
			return 0;
		} else if (argv[i][0] != '-' && model == NULL) {
			model = argv[i];
		} else {
			fprintf(stderr, "eml model split: unexpected argument '%s'\n", argv[i]);
			return usage();
		}
	}
	if (model == NULL || out == NULL)
		return usage();
	eml_buf_init(&report, 1u << 20);
	rc = eml_split_file(model, out, &opts, key, &report, &info);
	if (rc == EML_ERR_SPLIT_UNSUPPORTED && report.len > 0) {
		fprintf(stderr, "eml model split: unsupported nodes:\n");
		fwrite(report.data, 1, report.len, stderr);
	}
	eml_buf_free(&report);
	if (rc != EML_OK)
		return eml_cli_fail("model split", rc);
	eml_hex_encode(id, info.content_id, sizeof(info.content_id));
	printf("content id      %s\n", id);
	printf("weights         %llu bytes in %zu tensors (%zu small shape constants inline)\n",
	    (unsigned long long)info.weight_bytes, info.n_blob_tensors, info.n_inline_tensors);
	printf("%-15s %llu bytes\n", EML_SPLIT_BLOB_FILE, (unsigned long long)info.blob_bytes);
	printf("%-15s %zu bytes (secret: keep it with the client)\n", EML_SPLIT_TOPO_FILE,
	    info.topo_bytes);
	if (key != NULL)
		printf("%-15s signed\n", EML_SPLIT_SIG_FILE);
	return 0;
}
