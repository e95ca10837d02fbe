/*
 * The eml command: one function per top-level command, each taking the
 * arguments after its name. Exit codes follow DESIGN §9: 0 success,
 * 1 verification or policy failure, 2 usage error, 3 I/O or peer failure.
 */
#ifndef EML_CLI_H
#define EML_CLI_H

#include "eml_err.h"

int eml_cmd_attest(int argc, char **argv);
int eml_cmd_model(int argc, char **argv);
/* `eml model split ...` (argv after "split"), called by eml_cmd_model. */
int eml_cmd_model_split(int argc, char **argv);
int eml_cmd_run(int argc, char **argv);
int eml_cmd_infer(int argc, char **argv);
int eml_cmd_keys(int argc, char **argv);
int eml_cmd_evidence(int argc, char **argv);
int eml_cmd_image(int argc, char **argv);
int eml_cmd_job(int argc, char **argv);
int eml_cmd_policy(int argc, char **argv);

/* Print "eml: <what>: <message> [detail]" for err on stderr and return its
 * exit code. */
int eml_cli_fail(const char *what, eml_err err);

#endif
