/*
 * The eml command: one function per top-level command, each taking the
 * arguments after its name. Exit codes follow DESIGN §9: 0 success,
 * 1 verification or policy failure, 2 usage error, 3 I/O or peer failure.
 */
#ifndef EML_CLI_H
#define EML_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "eml_err.h"
#include "eml_opt.h"

#define EML_CLI_VERSION "0.1.0"
/* The exit-code contract, for every --help and man page. */
#define EML_CLI_EXIT_TEXT \
	"0 success. 1 verification or policy failure: a document, signature, " \
	"blob or evidence that does not verify, a policy that refuses, a model " \
	"or input the engine refuses. 2 usage: unknown option, missing or bad " \
	"value, an unusable policy or configuration file, a file that exists " \
	"and is not replaced without --force. 3 I/O or peer: a file that cannot " \
	"be read or written, a proxy or enclave that does not answer or fails."

extern const struct eml_prog eml_cli_prog;
extern const struct eml_cmd eml_cli_model;
extern const struct eml_cmd eml_cli_keys;
extern const struct eml_cmd eml_cli_attest;
extern const struct eml_cmd eml_cli_tensor;
extern const struct eml_cmd eml_cli_image;
extern const struct eml_cmd eml_cli_job;
extern const struct eml_cmd eml_cli_evidence;
extern const struct eml_cmd eml_cli_run;
extern const struct eml_cmd eml_cli_infer;
extern const struct eml_cmd eml_cli_policy;

struct eml_tensor;
struct eml_value_info;
/* A tensor of vi's declared shape and type (symbolic dimensions 1, said in
 * *symbolic), no data yet. */
eml_err eml_cli_tensor_from_input(
    const struct eml_value_info *vi, struct eml_tensor *t, bool *symbolic);
/* Owned data for t's shape and type: zeros, or uniform values from seed. */
eml_err eml_cli_tensor_fill(struct eml_tensor *t, bool random, uint64_t seed);

struct eml_attest_policy;
/* The one client-policy loader of attest verify, evidence verify and
 * infer: the file through eml_file_read ("-" is stdin), parsed into pol;
 * the trust_root it names (relative to the file) into root when root is
 * not NULL. 0, or the exit status after a message naming what (2 for a
 * malformed policy, 3 for an unreadable file). */
int eml_cli_policy_load(
    const char *what, const char *path, struct eml_attest_policy *pol, char *root, size_t rootn);

/* --at values: epoch seconds or RFC 3339 into Unix seconds. */
bool eml_cli_parse_time(const char *s, int64_t *out);
extern const struct eml_cmd eml_cli_model_split;

/* Print "eml: <what>: <message> [detail]" for err on stderr and return its
 * exit code. */
int eml_cli_fail(const char *what, eml_err err);

/* fn(a) with every secure allocation of the calling thread in one locked
 * arena (eml_arena_use), released after: a model's hundreds of weight
 * tensors cost a few mappings instead of a guarded mapping each. */
int eml_cli_in_arena(int (*fn)(const struct eml_args *a), const struct eml_args *a);

struct eml_client;
struct eml_client_model;
struct eml_client_tensor;
/* For the libeml commands (infer, job): print "<cmd>: <what>: <message>
 * (<name>)[: detail]" for rc (the detail of c, or of the thread for NULL;
 * the cause once when the detail names what) and return its exit code. */
int eml_cli_client_fail(const char *cmd, const char *what, int rc, const struct eml_client *c);
/* The local files of a request, loaded before connecting (a typo costs no
 * connection): paths[0..n) into in[i] (owned; the caller frees each with
 * eml_client_tensors_free(in[i], 1), in[] zeroed beforehand) and flat[i]
 * (shallow copies, for eml_client_infer and eml_client_job_seal), then
 * the model directory into *m. 0, else the exit code after the message. */
int eml_cli_request_load(const char *cmd, const char *const *paths, size_t n,
    struct eml_client_tensor **in, struct eml_client_tensor *flat, const char *model_dir,
    struct eml_client_model **m);

#endif
