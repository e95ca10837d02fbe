/* eml: the EphemeralML command-line client. The command tree and every
 * option live in tables (common/eml_opt.h): parsing, --help, the man page
 * (`eml --man`, run by make) and the bash completion come from them. */
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

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

/*
 * The heap on transparent huge pages (issue 16). On the virtual machines
 * eml runs on, the first touch of a fresh 4 KiB page costs ~11 us of CPU
 * (~5 us even when populated in advance), and `eml run --local` on the
 * demo model touched ~450 fresh heap pages (the ONNX message, the graph,
 * the engine's per-node tables): about 5 ms of its ~9 ms. A 2 MiB huge
 * page costs ~0.2 ms once. So before the first malloc: the break moves
 * up to a huge-page boundary (the skipped part is address space only),
 * malloc grows the heap 8 MiB at a time and keeps what it has (a CLI
 * command is short-lived), blocks below 4 MiB come from the heap, not
 * from fresh mappings of their own (larger ones still do, and get huge
 * pages there: eml_alloc), and the heap is advised MADV_HUGEPAGE. Address
 * space only until touched; every step is best effort (malloc works the
 * same without it).
 */
#define HEAP_HUGE ((uintptr_t)2 << 20)
#define HEAP_PAD ((int)8 << 20)
#define HEAP_MMAP_MIN ((int)4 << 20)

static void
heap_init(void)
{
#if defined(__linux__) && defined(M_TOP_PAD) && defined(MADV_HUGEPAGE)
	long pg = sysconf(_SC_PAGESIZE);
	void *cur = sbrk(0), *end, *volatile p;
	uintptr_t lo, start;

	if (cur == (void *)-1 || pg <= 0)
		return;
	/* The heap starts one page below a huge-page boundary: malloc's first
	 * write (its top chunk's header) faults that one small page only, and
	 * everything above, untouched when advised, faults as huge pages (a
	 * range touched before the advice keeps its small pages). */
	lo = ((uintptr_t)cur + (uintptr_t)pg + HEAP_HUGE - 1) & ~(HEAP_HUGE - 1);
	start = lo - (uintptr_t)pg;
	if (start != (uintptr_t)cur && sbrk((intptr_t)(start - (uintptr_t)cur)) == (void *)-1)
		return;
	(void)mallopt(M_TOP_PAD, HEAP_PAD);
	(void)mallopt(M_TRIM_THRESHOLD, 4 * HEAP_PAD);
	(void)mallopt(M_MMAP_THRESHOLD, HEAP_MMAP_MIN);
	if ((p = eml_alloc(1)) == NULL)
		return;
	eml_free(p);
	end = sbrk(0);
	if (end != (void *)-1 && ((uintptr_t)end & ~(HEAP_HUGE - 1)) > lo)
		(void)madvise((void *)lo, ((uintptr_t)end & ~(HEAP_HUGE - 1)) - lo, MADV_HUGEPAGE);
#endif
}

int
main(int argc, char **argv)
{
	heap_init();
	if (eml_mem_init() != EML_OK) {
		fprintf(stderr, "eml: cannot initialise libsodium\n");
		return 3;
	}
	return eml_opt_main(&eml_cli_prog, argc, argv);
}
