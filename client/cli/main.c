/* eml: the EphemeralML command-line client. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eml_mem.h"

struct command {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "attest", eml_cmd_attest, "verify attestation documents" },
	{ "model", eml_cmd_model, "inspect or split ONNX models" },
	{ "run", eml_cmd_run, "run a model locally (--local)" },
	{ "infer", eml_cmd_infer, "confidential inference through a proxy" },
	{ "keys", eml_cmd_keys, "publisher signing keys" },
	{ "evidence", eml_cmd_evidence, "verify session evidence" },
	{ "image", eml_cmd_image, "enclave images: measure, policy, build, ramdisk" },
	{ "job", eml_cmd_job, "asynchronous jobs: submit, status, fetch" },
	{ "policy", eml_cmd_policy, "agent policy manifests: show (rules and digest)" },
};

static void
usage(FILE *f)
{
	fprintf(f, "usage: eml <command> [args]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int
eml_cli_fail(const char *what, eml_err err)
{
	const char *detail = eml_err_detail();

	fprintf(stderr, "eml: %s: %s (%s)%s%s\n", what, eml_strerror(err), eml_err_name(err),
	    detail[0] != '\0' ? ": " : "", detail);
	return eml_err_exit_code(err);
}

int
main(int argc, char **argv)
{
	if (eml_mem_init() != EML_OK) {
		fprintf(stderr, "eml: cannot initialise libsodium\n");
		return 3;
	}
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0)
			return commands[i].run(argc - 2, argv + 2);
	}
	fprintf(stderr, "eml: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
