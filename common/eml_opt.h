/*
 * The one command-line parser of eml, eml-proxy and eml-agent (issue 15).
 *
 * A program is a tree of commands; each command has a table of options
 * (long name, short name, value kind, help text, allowed range, required
 * or repeatable) and a number of positional arguments. From the same
 * tables come the parsing, every --help, the man page (hidden option
 * --man, run by make) and the bash completion (hidden --completion).
 *
 * Rules, the same in every program and command:
 *   --name VALUE, --name=VALUE, -n VALUE; "--" ends the options;
 *   -h/--help anywhere prints that command's usage on stdout, exit 0;
 *   --version prints "<program> <version>", exit 0;
 *   an option not in the table is named as unknown, a value-taking option
 *   at the end as missing its value, a number outside its range with the
 *   range, a choice outside its set with the set: all exit 2 (usage).
 * Values and positionals point into argv: nothing is copied.
 * Hidden program-level options, for the build and the tests: --man (the
 * man page, roff), --completion bash, --commands (every command path, one
 * a line).
 */
#ifndef EML_OPT_H
#define EML_OPT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "eml_err.h"

enum eml_opt_kind {
	EML_OPT_FLAG = 0, /* no value */
	EML_OPT_STR,      /* any text */
	EML_OPT_FILE,     /* a file path (completion: files) */
	EML_OPT_DIR,      /* a directory (completion: directories) */
	EML_OPT_U64,      /* decimal in [lo, hi] */
	EML_OPT_I64,      /* signed decimal in [(int64_t)lo, (int64_t)hi] */
	EML_OPT_CHOICE,   /* one of choices, "a|b|c" */
};

#define EML_OPT_REQUIRED 0x1u /* must be given */
#define EML_OPT_REPEAT 0x2u   /* may be given more than once */
#define EML_OPT_HIDDEN 0x4u   /* test hooks: parsed, not in help, man or completion */
/* "--input A B C": the words after the value that do not start with "--"
 * are more values of the same option (implies repeatable). */
#define EML_OPT_MULTI 0x8u

struct eml_opt {
	const char *name; /* long name, without the dashes */
	char short_name;  /* 0: none */
	enum eml_opt_kind kind;
	const char *arg;  /* value placeholder in help ("DIR"); NULL for flags */
	const char *help;
	uint64_t lo, hi;  /* U64 and I64 */
	const char *choices;
	unsigned flags;
};

struct eml_args;

struct eml_cmd {
	const char *name;
	const char *args;    /* positional synopsis ("MODEL.onnx"), or NULL */
	const char *summary; /* one line */
	const char *text;    /* more, for --help and the man page; or NULL */
	const struct eml_opt *opts;
	size_t n_opts;
	unsigned min_pos, max_pos;
	/* a command with subcommands runs one of them */
	const struct eml_cmd *const *subs;
	size_t n_subs;
	int (*run)(const struct eml_args *a);
};

struct eml_prog {
	const char *name;
	const char *version;
	const char *summary;
	const char *text; /* DESCRIPTION of the man page */
	const struct eml_cmd *root;
	/* EXIT STATUS and any other closing text of the man page, or NULL */
	const char *exit_text;
};

struct eml_arg_ent {
	size_t opt;
	const char *val;
};

struct eml_args {
	const struct eml_prog *prog;
	const struct eml_cmd *cmd;
	char path[128]; /* "eml model split", for messages */
	struct eml_arg_ent *ent;
	size_t n_ent;
	char **pos;
	size_t n_pos;
};

#define EML_OPT_N(t) (sizeof(t) / sizeof((t)[0]))

/* Parse argv against p's tables and run the chosen command; returns the
 * exit status (0, or 2 for a usage error; the command's own otherwise). */
int eml_opt_main(const struct eml_prog *p, int argc, char **argv);

/* Getters by long name; a name not in the command's table aborts (a
 * programming error the tests would meet at once). */
bool eml_args_has(const struct eml_args *a, const char *name);
/* Whether the command's table has the option at all (for code shared by
 * commands with different tables). */
bool eml_args_known(const struct eml_args *a, const char *name);
size_t eml_args_count(const struct eml_args *a, const char *name);
/* The last value given, or NULL. */
const char *eml_args_str(const struct eml_args *a, const char *name);
/* The k-th value given (repeatable options), or NULL. */
const char *eml_args_nth(const struct eml_args *a, const char *name, size_t k);
/* Numbers and choices were range-checked by the parser. */
uint64_t eml_args_u64(const struct eml_args *a, const char *name, uint64_t dflt);
int64_t eml_args_i64(const struct eml_args *a, const char *name, int64_t dflt);
/* Index of the value in the option's choices, or dflt. */
int eml_args_choice(const struct eml_args *a, const char *name, int dflt);

/* "<path>: <message>" and a pointer to --help on stderr; returns 2. */
int eml_args_usage(const struct eml_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Help of one command, as --help prints it. */
void eml_opt_help(FILE *f, const struct eml_prog *p, const struct eml_cmd *c, const char *path);

#endif
