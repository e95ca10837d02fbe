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

#include <jansson.h>

#include "cli.h"
#include "client/owner/split.h"
#include "eml_buf.h"
#include "eml_num.h"

static void
print_json(const char *dir, const char *id, const struct eml_split_info *info, bool sig)
{
	json_t *o = json_object(), *files = json_object();
	char path[4200];

	json_object_set_new(o, "content_id", json_string(id));
	json_object_set_new(o, "weight_bytes", json_integer((json_int_t)info->weight_bytes));
	json_object_set_new(o, "blob_bytes", json_integer((json_int_t)info->blob_bytes));
	json_object_set_new(o, "topo_bytes", json_integer((json_int_t)info->topo_bytes));
	json_object_set_new(o, "blob_tensors", json_integer((json_int_t)info->n_blob_tensors));
	json_object_set_new(o, "inline_tensors", json_integer((json_int_t)info->n_inline_tensors));
	json_object_set_new(o, "signed", json_boolean(sig));
	(void)snprintf(path, sizeof(path), "%s/%s", dir, EML_SPLIT_TOPO_FILE);
	json_object_set_new(files, "topology", json_string(path));
	(void)snprintf(path, sizeof(path), "%s/%s", dir, EML_SPLIT_BLOB_FILE);
	json_object_set_new(files, "blob", json_string(path));
	(void)snprintf(path, sizeof(path), "%s/%s", dir, EML_SPLIT_SIG_FILE);
	if (sig)
		json_object_set_new(files, "signature", json_string(path));
	json_object_set_new(o, "files", files);
	(void)json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', stdout);
	json_decref(o);
}

static int
split_model(const struct eml_args *a)
{
	const char *model = a->pos[0];
	const char *out = eml_args_str(a, "out");
	const char *key = eml_args_str(a, "sign");
	struct eml_split_opts opts = { 0, false };
	struct eml_split_info info;
	struct eml_buf report;
	char id[2 * EML_BLOB_ID_LEN + 1];
	eml_err rc;

	opts.chunk_size = (uint32_t)eml_args_u64(a, "chunk-size", 0);
	opts.force = eml_args_has(a, "force");
	if (opts.chunk_size != 0 && !eml_blob_chunk_size_ok(opts.chunk_size))
		return eml_args_usage(a, "--chunk-size: %u is not a multiple of 64",
		    (unsigned)opts.chunk_size);
	eml_buf_init(&report, 1u << 20);
	rc = eml_split_file(model, out, &opts, key, &report, &info);
	if (rc == EML_ERR_SPLIT_UNSUPPORTED && report.len > 0) {
		fprintf(stderr, "eml model split: unsupported nodes:\n");
		fwrite(report.data, 1, report.len, stderr);
	}
	eml_buf_free(&report);
	if (rc != EML_OK) /* a model refused: name the model */
		return eml_cli_fail(eml_err_category(rc) == 600 ? model : "model split", rc);
	eml_hex_encode(id, info.content_id, sizeof(info.content_id));
	if (eml_args_has(a, "json")) {
		print_json(out, id, &info, key != NULL);
		return 0;
	}
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

static int
split(const struct eml_args *a)
{
	return eml_cli_in_arena(split_model, a);
}

static const struct eml_opt split_opts[] = {
	{ "out", 'o', EML_OPT_DIR, "DIR",
	    "directory for model.topo (secret, 0600), weights.sealed and model.sig", 0, 0, NULL,
	    EML_OPT_REQUIRED },
	{ "sign", 0, EML_OPT_FILE, "KEY.pem", "sign with this publisher private key", 0, 0, NULL,
	    0 },
	{ "chunk-size", 0, EML_OPT_U64, "BYTES",
	    "sealed blob chunk size, a multiple of 64 (default 1048576)", EML_BLOB_CHUNK_MIN,
	    EML_BLOB_CHUNK_MAX, NULL, 0 },
	{ "force", 'f', EML_OPT_FLAG, NULL,
	    "replace model.topo, weights.sealed and model.sig if DIR holds them", 0, 0, NULL, 0 },
	{ "json", 0, EML_OPT_FLAG, NULL, "one JSON document on stdout (docs/CLI.md)", 0, 0, NULL,
	    0 },
};

const struct eml_cmd eml_cli_model_split = { .name = "split", .args = "MODEL.onnx",
	.summary = "split a model into a secret topology key and a sealed weight blob",
	.text = "Writes DIR/model.topo (the topology key: secret, mode 0600; keep it with the "
		"client), DIR/weights.sealed (for the host's weight store: eml-proxy blob put) "
		"and, with --sign, DIR/model.sig. Files already in DIR are not replaced without "
		"--force: a model.topo is the only key to the blob it was split with. Lists every "
		"unsupported node and exits 1 when the engine cannot run the model.",
	.opts = split_opts, .n_opts = EML_OPT_N(split_opts), .min_pos = 1, .max_pos = 1,
	.run = split };
