/* eml: the EphemeralML command-line client. The command tree and every
 * option live in tables (common/eml_opt.h): parsing, --help, the man page
 * (`eml --man`, run by make) and the bash completion come from them. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "eml_mem.h"
#include "eml_opt.h"

static const struct eml_cmd *const commands[] = {
	&eml_cli_attest,
	&eml_cli_model,
	&eml_cli_run,
	&eml_cli_infer,
	&eml_cli_keys,
	&eml_cli_evidence,
	&eml_cli_image,
	&eml_cli_job,
	&eml_cli_policy,
	&eml_cli_tensor,
};

static const struct eml_cmd root = {
	.name = "eml",
	.summary = "the EphemeralML client: models, attestation, confidential inference",
	.subs = commands,
	.n_subs = EML_OPT_N(commands),
};

const struct eml_prog eml_cli_prog = {
	.name = "eml",
	.version = EML_CLI_VERSION,
	.summary =
	    "EphemeralML client: split models, verify attestation, run confidential inference",
	.text = "eml is the client of EphemeralML, confidential AI inference for AWS Nitro "
		"Enclaves. A model owner splits an ONNX model into a secret topology key and a "
		"sealed weight blob (eml model split), publishes the blob to the host (eml-proxy "
		"blob put) and keeps the key; a client verifies the enclave's attestation against "
		"a policy and sends inputs that only the enclave can read (eml infer). "
		"eml run --local runs the same engine on this machine.",
	.root = &root,
	.exit_text = EML_CLI_EXIT_TEXT,
};

int
eml_cli_fail(const char *what, eml_err err)
{
	const char *detail = eml_err_detail();

	/* The cause once: a detail that already names the file (or whatever
	 * what is) is not prefixed with it again. */
	if (what != NULL && detail[0] != '\0' && strstr(detail, what) != NULL)
		fprintf(stderr, "eml: %s (%s): %s\n", eml_strerror(err), eml_err_name(err), detail);
	else
		fprintf(stderr, "eml: %s: %s (%s)%s%s\n", what, eml_strerror(err),
		    eml_err_name(err), detail[0] != '\0' ? ": " : "", detail);
	return eml_err_exit_code(err);
}

int
eml_cli_in_arena(int (*fn)(const struct eml_args *a), const struct eml_args *a)
{
	struct eml_arena *arena = NULL, *prev;
	eml_err rc;
	int status;

	if ((rc = eml_arena_new(0, &arena)) != EML_OK)
		return eml_cli_fail("memory", rc);
	prev = eml_arena_use(arena);
	status = fn(a);
	(void)eml_arena_use(prev);
	eml_arena_free(arena);
	return status;
}

int
main(int argc, char **argv)
{
	if (eml_mem_init() != EML_OK) {
		fprintf(stderr, "eml: cannot initialise libsodium\n");
		return 3;
	}
	return eml_opt_main(&eml_cli_prog, argc, argv);
}
