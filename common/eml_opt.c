#include "eml_opt.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "eml_mem.h"
#include "eml_num.h"

/* ---------------------------------------------------------------- lookup */

static size_t
opt_index(const struct eml_cmd *c, const char *name)
{
	for (size_t k = 0; k < c->n_opts; k++)
		if (strcmp(c->opts[k].name, name) == 0)
			return k;
	/* A getter asked for an option its command does not have: a
	 * programming error, caught by the first test that runs it. */
	(void)fprintf(stderr, "eml_opt: option --%s is not in the table of '%s'\n", name,
	    c->name);
	abort();
}

bool
eml_args_known(const struct eml_args *a, const char *name)
{
	for (size_t k = 0; k < a->cmd->n_opts; k++)
		if (strcmp(a->cmd->opts[k].name, name) == 0)
			return true;
	return false;
}

bool
eml_args_has(const struct eml_args *a, const char *name)
{
	return eml_args_count(a, name) > 0;
}

size_t
eml_args_count(const struct eml_args *a, const char *name)
{
	size_t k = opt_index(a->cmd, name), n = 0;

	for (size_t i = 0; i < a->n_ent; i++)
		n += a->ent[i].opt == k;
	return n;
}

const char *
eml_args_nth(const struct eml_args *a, const char *name, size_t nth)
{
	size_t k = opt_index(a->cmd, name);

	for (size_t i = 0; i < a->n_ent; i++)
		if (a->ent[i].opt == k && nth-- == 0)
			return a->ent[i].val;
	return NULL;
}

const char *
eml_args_str(const struct eml_args *a, const char *name)
{
	size_t k = opt_index(a->cmd, name);
	const char *v = NULL;

	for (size_t i = 0; i < a->n_ent; i++)
		if (a->ent[i].opt == k)
			v = a->ent[i].val;
	return v;
}

uint64_t
eml_args_u64(const struct eml_args *a, const char *name, uint64_t dflt)
{
	const char *v = eml_args_str(a, name);
	uint64_t n = dflt;

	if (v != NULL && eml_num_u64(v, 0, UINT64_MAX, &n) != EML_OK)
		return dflt; /* not reached: the parser checked it */
	return n;
}

static eml_err
parse_i64(const char *v, int64_t lo, int64_t hi, int64_t *out)
{
	uint64_t m;
	bool neg = v[0] == '-';

	EML_GUARD(eml_num_u64(neg ? v + 1 : v, 0, (uint64_t)INT64_MAX, &m));
	*out = neg ? -(int64_t)m : (int64_t)m;
	EML_ENSURE(*out >= lo && *out <= hi, EML_ERR_USAGE);
	return EML_OK;
}

int64_t
eml_args_i64(const struct eml_args *a, const char *name, int64_t dflt)
{
	const char *v = eml_args_str(a, name);
	int64_t n = dflt;

	if (v != NULL && parse_i64(v, INT64_MIN + 1, INT64_MAX, &n) != EML_OK)
		return dflt;
	return n;
}

/* Index of v in "a|b|c", or -1. */
static int
choice_index(const char *choices, const char *v)
{
	size_t vl = strlen(v);
	int k = 0;

	for (const char *p = choices; p != NULL && *p != '\0'; k++) {
		const char *bar = strchr(p, '|');
		size_t n = bar != NULL ? (size_t)(bar - p) : strlen(p);

		if (n == vl && strncmp(p, v, n) == 0)
			return k;
		p = bar != NULL ? bar + 1 : NULL;
	}
	return -1;
}

int
eml_args_choice(const struct eml_args *a, const char *name, int dflt)
{
	const char *v = eml_args_str(a, name);
	int k;

	if (v == NULL)
		return dflt;
	k = choice_index(a->cmd->opts[opt_index(a->cmd, name)].choices, v);
	return k < 0 ? dflt : k;
}

int
eml_args_usage(const struct eml_args *a, const char *fmt, ...)
{
	va_list ap;

	(void)fprintf(stderr, "%s: ", a->path);
	va_start(ap, fmt);
	(void)vfprintf(stderr, fmt, ap);
	va_end(ap);
	(void)fprintf(stderr, "\nTry '%s --help'.\n", a->path);
	return 2;
}

/* ---------------------------------------------------------------- help */

static bool
takes_value(const struct eml_opt *o)
{
	return o->kind != EML_OPT_FLAG;
}

/* "-o, --out DIR" into buf. */
static void
opt_label(const struct eml_opt *o, char *buf, size_t n)
{
	char sh[8] = "    ";

	if (o->short_name != 0)
		(void)snprintf(sh, sizeof(sh), "-%c, ", o->short_name);
	(void)snprintf(buf, n, "%s--%s%s%s", sh, o->name, takes_value(o) ? " " : "",
	    takes_value(o) ? (o->arg != NULL ? o->arg : "VALUE") : "");
}

/* The range or choices of an option, for help and man: "" when none. */
static void
opt_range(const struct eml_opt *o, char *buf, size_t n)
{
	buf[0] = '\0';
	if (o->kind == EML_OPT_U64)
		(void)snprintf(buf, n, "%llu..%llu", (unsigned long long)o->lo,
		    (unsigned long long)o->hi);
	else if (o->kind == EML_OPT_I64)
		(void)snprintf(buf, n, "%lld..%lld", (long long)(int64_t)o->lo,
		    (long long)(int64_t)o->hi);
	else if (o->kind == EML_OPT_CHOICE)
		(void)snprintf(buf, n, "%s", o->choices);
}

/* Words of s from column col, wrapped at 79 with later lines indented. */
static void
wrap(FILE *f, const char *s, size_t col, size_t indent)
{
	while (*s != '\0') {
		size_t w = strcspn(s, " \n");

		if (col > indent && col + 1 + w > 79) {
			(void)fprintf(f, "\n%*s", (int)indent, "");
			col = indent;
		} else if (col > indent) {
			(void)fputc(' ', f);
			col++;
		}
		(void)fprintf(f, "%.*s", (int)w, s);
		col += w;
		s += w;
		while (*s == ' ' || *s == '\n')
			s++;
	}
	(void)fputc('\n', f);
}

static void
print_synopsis(FILE *f, const struct eml_cmd *c, const char *path)
{
	bool any_opt = false;

	for (size_t k = 0; k < c->n_opts; k++)
		any_opt |= (c->opts[k].flags & (EML_OPT_HIDDEN | EML_OPT_REQUIRED)) == 0;
	if (c->n_subs > 0) {
		(void)fprintf(f, "usage: %s <command> [args]\n", path);
		if (c->run != NULL)
			(void)fprintf(f, "       %s%s%s%s\n", path, c->args != NULL ? " " : "",
			    c->args != NULL ? c->args : "", any_opt ? " [options]" : "");
		return;
	}
	(void)fprintf(f, "usage: %s%s%s", path, c->args != NULL ? " " : "",
	    c->args != NULL ? c->args : "");
	for (size_t k = 0; k < c->n_opts; k++) {
		const struct eml_opt *o = &c->opts[k];

		if ((o->flags & EML_OPT_REQUIRED) != 0)
			(void)fprintf(f, " --%s %s", o->name, o->arg != NULL ? o->arg : "VALUE");
	}
	(void)fprintf(f, "%s\n", any_opt ? " [options]" : "");
}

void
eml_opt_help(FILE *f, const struct eml_prog *p, const struct eml_cmd *c, const char *path)
{
	(void)p;
	print_synopsis(f, c, path);
	if (c->summary != NULL) {
		(void)fputc('\n', f);
		wrap(f, c->summary, 0, 0);
	}
	if (c->text != NULL) {
		(void)fputc('\n', f);
		wrap(f, c->text, 0, 0);
	}
	if (c->n_subs > 0) {
		(void)fprintf(f, "\ncommands:\n");
		for (size_t k = 0; k < c->n_subs; k++)
			(void)fprintf(f, "  %-12s %s\n", c->subs[k]->name, c->subs[k]->summary);
	}
	(void)fprintf(f, "\noptions:\n");
	for (size_t k = 0; k < c->n_opts; k++) {
		const struct eml_opt *o = &c->opts[k];
		char label[96], range[160], line[1024];

		if ((o->flags & EML_OPT_HIDDEN) != 0)
			continue;
		opt_label(o, label, sizeof(label));
		opt_range(o, range, sizeof(range));
		(void)snprintf(line, sizeof(line), "%s%s%s%s%s", o->help,
		    range[0] != '\0' ? " [" : "", range, range[0] != '\0' ? "]" : "",
		    (o->flags & EML_OPT_REQUIRED) != 0 ? " (required)" :
		    (o->flags & (EML_OPT_REPEAT | EML_OPT_MULTI)) != 0 ? " (repeatable)" : "");
		if (strlen(label) > 28) {
			(void)fprintf(f, "  %s\n%*s", label, 31, "");
		} else {
			(void)fprintf(f, "  %-28s ", label);
		}
		wrap(f, line, 31, 31);
	}
	(void)fprintf(f, "  %-28s %s\n", "-h, --help", "this help");
	(void)fprintf(f, "  %-28s %s\n", "    --version", "print the version");
	if (c->n_subs > 0)
		(void)fprintf(f, "\n'%s <command> --help' describes each command.\n", path);
}

/* ---------------------------------------------------------------- man */

/* Text with roff's special characters escaped. */
static void
roff(FILE *f, const char *s)
{
	bool bol = true;

	for (; *s != '\0'; s++) {
		if (bol && (*s == '.' || *s == '\''))
			(void)fputs("\\&", f);
		bol = *s == '\n';
		if (*s == '\\')
			(void)fputs("\\e", f);
		else if (*s == '-')
			(void)fputs("\\-", f);
		else
			(void)fputc(*s, f);
	}
}

static void
man_cmd(FILE *f, const struct eml_cmd *c, const char *path, bool top)
{
	char sub[160];

	if (!top || c->run != NULL) {
		(void)fprintf(f, ".SS \"");
		roff(f, path);
		if (c->args != NULL) {
			(void)fputc(' ', f);
			roff(f, c->args);
		}
		(void)fprintf(f, "\"\n");
		if (c->summary != NULL) {
			roff(f, c->summary);
			(void)fputc('\n', f);
		}
		if (c->text != NULL) {
			(void)fprintf(f, ".PP\n");
			roff(f, c->text);
			(void)fputc('\n', f);
		}
		for (size_t k = 0; k < c->n_opts; k++) {
			const struct eml_opt *o = &c->opts[k];
			char range[160];

			if ((o->flags & EML_OPT_HIDDEN) != 0)
				continue;
			(void)fprintf(f, ".TP\n");
			if (o->short_name != 0)
				(void)fprintf(f, "\\fB\\-%c\\fR, ", o->short_name);
			(void)fprintf(f, "\\fB\\-\\-");
			roff(f, o->name);
			(void)fprintf(f, "\\fR");
			if (takes_value(o)) {
				(void)fprintf(f, " \\fI");
				roff(f, o->arg != NULL ? o->arg : "VALUE");
				(void)fprintf(f, "\\fR");
			}
			(void)fputc('\n', f);
			roff(f, o->help);
			opt_range(o, range, sizeof(range));
			if (range[0] != '\0') {
				(void)fprintf(f, " [");
				roff(f, range);
				(void)fprintf(f, "]");
			}
			if ((o->flags & EML_OPT_REQUIRED) != 0)
				(void)fprintf(f, " (required)");
			if ((o->flags & EML_OPT_REPEAT) != 0)
				(void)fprintf(f, " (repeatable)");
			(void)fputc('\n', f);
		}
	}
	for (size_t k = 0; k < c->n_subs; k++) {
		(void)snprintf(sub, sizeof(sub), "%s %s", path, c->subs[k]->name);
		man_cmd(f, c->subs[k], sub, false);
	}
}

static int
man_page(const struct eml_prog *p)
{
	FILE *f = stdout;

	(void)fprintf(f, ".TH \"");
	for (const char *s = p->name; *s != '\0'; s++)
		(void)fputc(*s >= 'a' && *s <= 'z' ? *s - 'a' + 'A' : *s, f);
	(void)fprintf(f, "\" 1 \"\" \"%s %s\" \"EphemeralML\"\n.SH NAME\n", p->name, p->version);
	roff(f, p->name);
	(void)fprintf(f, " \\- ");
	roff(f, p->summary);
	(void)fprintf(f, "\n.SH SYNOPSIS\n.B ");
	roff(f, p->name);
	(void)fprintf(f, "\n%s\n", p->root->n_subs > 0 ? "\\fIcommand\\fR [\\fIoptions\\fR]"
						       : "[\\fIoptions\\fR]");
	(void)fprintf(f, ".SH DESCRIPTION\n");
	roff(f, p->text != NULL ? p->text : p->summary);
	(void)fprintf(f, "\n.PP\nEvery command takes \\fB\\-h\\fR, \\fB\\-\\-help\\fR (its own "
			 "usage) and \\fB\\-\\-version\\fR.\n");
	(void)fprintf(f, ".SH %s\n", p->root->n_subs > 0 ? "COMMANDS" : "OPTIONS");
	man_cmd(f, p->root, p->name, true);
	if (p->exit_text != NULL) {
		(void)fprintf(f, ".SH EXIT STATUS\n");
		roff(f, p->exit_text);
		(void)fputc('\n', f);
	}
	return ferror(f) ? 3 : 0;
}

/* ---------------------------------------------------------------- bash */

static void
comp_paths(FILE *f, const struct eml_cmd *c, const char *path)
{
	char sub[160];

	for (size_t k = 0; k < c->n_subs; k++) {
		(void)snprintf(sub, sizeof(sub), "%s/%s", path, c->subs[k]->name);
		(void)fprintf(f, "\t\t%s) path=%s ;;\n", sub, sub);
		comp_paths(f, c->subs[k], sub);
	}
}

static void
comp_values(FILE *f, const struct eml_cmd *c, const char *path)
{
	char sub[160];

	for (size_t k = 0; k < c->n_opts; k++) {
		const struct eml_opt *o = &c->opts[k];

		if ((o->flags & EML_OPT_HIDDEN) != 0 || !takes_value(o))
			continue;
		(void)fprintf(f, "\t'%s:--%s')", path, o->name);
		if (o->kind == EML_OPT_FILE)
			(void)fprintf(f, " COMPREPLY=($(compgen -f -- \"$cur\")) ;;\n");
		else if (o->kind == EML_OPT_DIR)
			(void)fprintf(f, " COMPREPLY=($(compgen -d -- \"$cur\")) ;;\n");
		else if (o->kind == EML_OPT_CHOICE) {
			(void)fprintf(f, " COMPREPLY=($(compgen -W '");
			for (const char *s = o->choices; *s != '\0'; s++)
				(void)fputc(*s == '|' ? ' ' : *s, f);
			(void)fprintf(f, "' -- \"$cur\")) ;;\n");
		} else
			(void)fprintf(f, " COMPREPLY=() ;;\n");
	}
	for (size_t k = 0; k < c->n_subs; k++) {
		(void)snprintf(sub, sizeof(sub), "%s/%s", path, c->subs[k]->name);
		comp_values(f, c->subs[k], sub);
	}
}

static void
comp_words(FILE *f, const struct eml_cmd *c, const char *path)
{
	char sub[160];

	(void)fprintf(f, "\t'%s') words='", path);
	for (size_t k = 0; k < c->n_subs; k++)
		(void)fprintf(f, "%s ", c->subs[k]->name);
	for (size_t k = 0; k < c->n_opts; k++)
		if ((c->opts[k].flags & EML_OPT_HIDDEN) == 0)
			(void)fprintf(f, "--%s ", c->opts[k].name);
	(void)fprintf(f, "--help' ;;\n");
	for (size_t k = 0; k < c->n_subs; k++) {
		(void)snprintf(sub, sizeof(sub), "%s/%s", path, c->subs[k]->name);
		comp_words(f, c->subs[k], sub);
	}
}

static int
completion(const struct eml_prog *p)
{
	FILE *f = stdout;
	char fn[64];
	size_t i;

	for (i = 0; p->name[i] != '\0' && i + 2 < sizeof(fn); i++)
		fn[i] = p->name[i] == '-' ? '_' : p->name[i];
	fn[i] = '\0';
	(void)fprintf(f, "# bash completion for %s, generated from its option tables\n", p->name);
	(void)fprintf(f, "_%s_complete()\n{\n\tlocal cur prev path= words i\n", fn);
	(void)fprintf(f, "\tcur=${COMP_WORDS[COMP_CWORD]}\n\tprev=${COMP_WORDS[COMP_CWORD-1]}\n");
	(void)fprintf(f, "\tfor ((i = 1; i < COMP_CWORD; i++)); do\n"
			 "\t\tcase \"$path/${COMP_WORDS[i]}\" in\n");
	comp_paths(f, p->root, "");
	(void)fprintf(f, "\t\tesac\n\tdone\n\tcase \"$path:$prev\" in\n");
	comp_values(f, p->root, "");
	(void)fprintf(f, "\t*)\n\t\tcase \"$path\" in\n");
	comp_words(f, p->root, "");
	(void)fprintf(f, "\t\t*) words='--help' ;;\n\t\tesac\n");
	(void)fprintf(f, "\t\tif [[ $cur == -* || -z $cur && $words != --* ]]; then\n"
			 "\t\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
			 "\t\telse\n\t\t\tCOMPREPLY=($(compgen -W \"$words\" -- \"$cur\") "
			 "$(compgen -f -- \"$cur\"))\n\t\tfi ;;\n\tesac\n}\n");
	(void)fprintf(f, "complete -F _%s_complete %s\n", fn, p->name);
	return ferror(f) ? 3 : 0;
}

/* Every command path, one a line: what the help test walks. */
static void
list_commands(const struct eml_cmd *c, const char *path)
{
	char sub[160];

	if (c->run != NULL)
		(void)printf("%s\n", path);
	for (size_t k = 0; k < c->n_subs; k++) {
		(void)snprintf(sub, sizeof(sub), "%s %s", path, c->subs[k]->name);
		if (c->subs[k]->run == NULL)
			(void)printf("%s\n", sub); /* a group has its own help too */
		list_commands(c->subs[k], sub);
	}
}

/* ---------------------------------------------------------------- parse */

static const struct eml_opt *
find_long(const struct eml_cmd *c, const char *s, size_t n, size_t *k)
{
	for (*k = 0; *k < c->n_opts; (*k)++)
		if (strlen(c->opts[*k].name) == n && strncmp(c->opts[*k].name, s, n) == 0)
			return &c->opts[*k];
	return NULL;
}

static const struct eml_opt *
find_short(const struct eml_cmd *c, char ch, size_t *k)
{
	for (*k = 0; *k < c->n_opts; (*k)++)
		if (c->opts[*k].short_name == ch)
			return &c->opts[*k];
	return NULL;
}

/* Check v for o; 0 or 2 after a message. */
static int
check_value(const struct eml_args *a, const struct eml_opt *o, const char *v)
{
	uint64_t u;
	int64_t s;

	switch (o->kind) {
	case EML_OPT_U64:
		if (eml_num_u64(v, o->lo, o->hi, &u) != EML_OK)
			return eml_args_usage(a, "--%s: '%s' is not a whole number in %llu..%llu",
			    o->name, v, (unsigned long long)o->lo, (unsigned long long)o->hi);
		break;
	case EML_OPT_I64:
		if (parse_i64(v, (int64_t)o->lo, (int64_t)o->hi, &s) != EML_OK)
			return eml_args_usage(a, "--%s: '%s' is not a whole number in %lld..%lld",
			    o->name, v, (long long)(int64_t)o->lo, (long long)(int64_t)o->hi);
		break;
	case EML_OPT_CHOICE:
		if (choice_index(o->choices, v) < 0)
			return eml_args_usage(a, "--%s: '%s' is not one of %s", o->name, v,
			    o->choices);
		break;
	default:
		if (v[0] == '\0')
			return eml_args_usage(a, "--%s: empty value", o->name);
		break;
	}
	return 0;
}

/* One option word at argv[*i] (and its value): 0 when recorded, -1 for
 * help or version printed, else an exit status. */
static int
parse_option(struct eml_args *a, int *i, int argc, char **argv)
{
	const struct eml_cmd *c = a->cmd;
	const char *s = argv[*i], *v = NULL, *eq = NULL;
	const struct eml_opt *o;
	size_t k = 0;
	int st;

	if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
		eml_opt_help(stdout, a->prog, c, a->path);
		return -1;
	}
	if (strcmp(s, "--version") == 0) {
		(void)printf("%s %s\n", a->prog->name, a->prog->version);
		return -1;
	}
	if (s[1] == '-') {
		eq = strchr(s + 2, '=');
		o = find_long(c, s + 2, eq != NULL ? (size_t)(eq - s - 2) : strlen(s + 2), &k);
		if (eq != NULL)
			v = eq + 1;
	} else {
		o = s[2] == '\0' ? find_short(c, s[1], &k) : NULL;
	}
	if (o == NULL)
		return eml_args_usage(a, "unknown option '%s'", s);
	if (!takes_value(o) && eq != NULL)
		return eml_args_usage(a, "--%s takes no value", o->name);
	if (takes_value(o) && v == NULL) {
		if (*i + 1 >= argc)
			return eml_args_usage(a, "--%s needs a value (%s)", o->name,
			    o->arg != NULL ? o->arg : "VALUE");
		v = argv[++*i];
	}
	if ((o->flags & (EML_OPT_REPEAT | EML_OPT_MULTI)) == 0) {
		for (size_t e = 0; e < a->n_ent; e++)
			if (a->ent[e].opt == k)
				return eml_args_usage(a, "--%s given more than once", o->name);
	}
	if (v != NULL && (st = check_value(a, o, v)) != 0)
		return st;
	a->ent[a->n_ent].opt = k;
	a->ent[a->n_ent].val = v;
	a->n_ent++;
	while ((o->flags & EML_OPT_MULTI) != 0 && *i + 1 < argc &&
	    strncmp(argv[*i + 1], "--", 2) != 0) {
		a->ent[a->n_ent].opt = k;
		a->ent[a->n_ent].val = argv[++*i];
		a->n_ent++;
	}
	return 0;
}

/* Required options given, positionals in range: 0 or 2 after a message. */
static int
check_complete(const struct eml_args *a)
{
	const struct eml_cmd *c = a->cmd;

	for (size_t k = 0; k < c->n_opts; k++) {
		const struct eml_opt *o = &c->opts[k];
		bool given = false;

		for (size_t e = 0; e < a->n_ent; e++)
			given |= a->ent[e].opt == k;
		if ((o->flags & EML_OPT_REQUIRED) != 0 && !given)
			return eml_args_usage(a, "--%s %s is required", o->name,
			    o->arg != NULL ? o->arg : "");
	}
	if (a->n_pos > c->max_pos)
		return eml_args_usage(a, "unexpected argument '%s'%s%s", a->pos[c->max_pos],
		    c->args != NULL ? "; arguments: " : "", c->args != NULL ? c->args : "");
	if (a->n_pos < c->min_pos)
		return eml_args_usage(a, "missing argument: %s", c->args != NULL ? c->args : "?");
	return 0;
}

/* Parse argv[i..] as the command's options and positionals into a. 0, -1
 * for help or version printed (exit 0), or an exit status. */
static int
parse_cmd(struct eml_args *a, int i, int argc, char **argv)
{
	bool only_pos = false;
	int st;

	for (; i < argc; i++) {
		const char *s = argv[i];

		if (only_pos || s[0] != '-' || s[1] == '\0') {
			a->pos[a->n_pos++] = argv[i]; /* "-" is stdin: a positional */
		} else if (strcmp(s, "--") == 0) {
			only_pos = true;
		} else if ((st = parse_option(a, &i, argc, argv)) != 0) {
			return st;
		}
	}
	return check_complete(a);
}

int
eml_opt_main(const struct eml_prog *p, int argc, char **argv)
{
	struct eml_args a;
	const struct eml_cmd *c = p->root;
	int i = 1, st;

	memset(&a, 0, sizeof(a));
	a.prog = p;
	(void)snprintf(a.path, sizeof(a.path), "%s", p->name);
	if (argc == 2 && strcmp(argv[1], "--man") == 0)
		return man_page(p);
	if (argc == 3 && strcmp(argv[1], "--completion") == 0 && strcmp(argv[2], "bash") == 0)
		return completion(p);
	if (argc == 2 && strcmp(argv[1], "--commands") == 0) {
		if (p->root->run == NULL)
			(void)printf("%s\n", p->name);
		list_commands(p->root, p->name);
		return 0;
	}
	/* Walk down to the command: a word where subcommands are expected
	 * must be one of them. */
	while (c->n_subs > 0 && i < argc && argv[i][0] != '-') {
		const struct eml_cmd *next = NULL;

		for (size_t k = 0; k < c->n_subs; k++)
			if (strcmp(argv[i], c->subs[k]->name) == 0)
				next = c->subs[k];
		if (next == NULL) {
			a.cmd = c;
			return eml_args_usage(&a, "unknown command '%s'", argv[i]);
		}
		c = next;
		(void)snprintf(a.path + strlen(a.path), sizeof(a.path) - strlen(a.path), " %s",
		    c->name);
		i++;
	}
	a.cmd = c;
	if (c->run == NULL) {
		/* a group: its help on request, else a usage error */
		if (i < argc && (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)) {
			eml_opt_help(stdout, p, c, a.path);
			return 0;
		}
		if (i < argc && strcmp(argv[i], "--version") == 0) {
			(void)printf("%s %s\n", p->name, p->version);
			return 0;
		}
		if (i < argc)
			return eml_args_usage(&a, "unknown option '%s'", argv[i]);
		eml_opt_help(stderr, p, c, a.path);
		return 2;
	}
	a.ent = eml_calloc((size_t)argc + 1, sizeof(*a.ent));
	a.pos = eml_calloc((size_t)argc + 1, sizeof(*a.pos));
	if (a.ent == NULL || a.pos == NULL) {
		(void)fprintf(stderr, "%s: out of memory\n", p->name);
		st = 3;
	} else if ((st = parse_cmd(&a, i, argc, argv)) == 0) {
		st = c->run(&a);
	} else if (st < 0) {
		st = 0;
	}
	eml_free(a.ent);
	eml_free(a.pos);
	return st;
}
