#!/usr/bin/env bash
# The command line's help, from the option tables (issue 15 item 2), for
# every command and subcommand of eml, eml-proxy and eml-agent (the list
# comes from the tables themselves: `<program> --commands`):
#  - `<command> --help` and `-h` exit 0 and print that command's usage on
#    stdout, nothing on stderr; `--version` exits 0 everywhere;
#  - an unknown option is named as unknown (exit 2), also at the end of the
#    line where it used to be taken for an option missing its value;
#  - an unknown subcommand is named as an unknown command;
#  - `make install PREFIX=...` installs man pages that `man` finds, and a
#    bash completion that completes subcommands and option names.
set -u
BUILD=${BUILD:-build}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
n=0
bad() { echo "FAIL: cli_help: $*"; fail=1; }

for prog in eml eml-proxy eml-agent; do
	bin="$BUILD/bin/$prog"
	"$bin" --commands >"$T/cmds" || bad "$prog --commands"
	[ -s "$T/cmds" ] || bad "$prog --commands lists nothing"
	while read -r -a words; do
		path="${words[*]}"
		args=("${words[@]:1}")
		for h in --help -h; do
			"$bin" "${args[@]}" "$h" >"$T/out" 2>"$T/err"
			st=$?
			[ "$st" -eq 0 ] || bad "'$path $h' exits $st"
			head -1 "$T/out" | grep -qF "usage: $path" ||
				bad "'$path $h' does not print its own usage: $(head -1 "$T/out")"
			[ -s "$T/err" ] && bad "'$path $h' writes to stderr: $(head -1 "$T/err")"
		done
		"$bin" "${args[@]}" --version >"$T/out" 2>&1 || bad "'$path --version' fails"
		grep -qx "$prog [0-9.]*" "$T/out" || bad "'$path --version' prints $(cat "$T/out")"
		# unknown option, last on the line
		"$bin" "${args[@]}" --no-such-option >"$T/out" 2>"$T/err"
		st=$?
		[ "$st" -eq 2 ] || bad "'$path --no-such-option' exits $st, want 2"
		[ "$(grep -c "unknown option '--no-such-option'" "$T/err")" = 1 ] ||
			bad "'$path --no-such-option' does not say unknown option once: $(head -2 "$T/err")"
		grep -q "needs a value" "$T/err" && bad "'$path --no-such-option' says needs a value"
		n=$((n + 1))
	done <"$T/cmds"
done
echo "ok   cli_help: --help, -h, --version and an unknown option on $n commands"

# unknown subcommands are unknown commands, never unknown options
for line in "eml keys frob" "eml model frob" "eml frob" "eml-proxy blob frob" "eml-proxy keys frob"; do
	read -r -a w <<<"$line"
	"$BUILD/bin/${w[0]}" "${w[@]:1}" >"$T/out" 2>"$T/err"
	st=$?
	[ "$st" -eq 2 ] && grep -q "unknown command 'frob'" "$T/err" ||
		bad "'$line': exit $st, $(head -1 "$T/err")"
done
# a value that is out of range names the range
"$BUILD/bin/eml-proxy" --listen unix:/x --agent unix:/y --weights /tmp --max-clients 0 \
	>"$T/out" 2>"$T/err"
[ $? -eq 2 ] && grep -q -- "--max-clients: '0' is not a whole number in 1..100000" "$T/err" ||
	bad "--max-clients 0: $(head -1 "$T/err")"
grep -q -- "--max-frame" "$T/err" && bad "--max-clients 0 names --max-frame"
echo "ok   cli_help: unknown commands and out-of-range values"

# man pages and completion, installed
make -s install PREFIX="$T/p" BUILD="$BUILD" >"$T/install.log" 2>&1 || {
	bad "make install"
	cat "$T/install.log"
}
for prog in eml eml-proxy eml-agent; do
	page=$(MANPATH="$T/p/share/man" man -w "$prog" 2>/dev/null)
	[ "$page" = "$T/p/share/man/man1/$prog.1" ] || bad "man -w $prog: '$page'"
	MANPATH="$T/p/share/man" MANPAGER=cat MANWIDTH=100 man "$prog" >"$T/man" 2>/dev/null ||
		bad "man $prog"
	grep -q "EXIT STATUS" "$T/man" || bad "man $prog has no EXIT STATUS"
done
MANPATH="$T/p/share/man" MANPAGER=cat MANWIDTH=100 man eml 2>/dev/null | grep -q -- "--chunk-size BYTES" ||
	bad "man eml lacks eml model split --chunk-size"
echo "ok   cli_help: man eml, eml-proxy, eml-agent after make install"

# bash completion from the same tables
comp() { # comp PROG WORDS... -> the completions of the last word
	local prog=$1
	shift
	bash -c '. "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1));
		"_$(echo "${COMP_WORDS[0]}" | tr - _)_complete"; printf "%s\n" "${COMPREPLY[@]}"' \
		_ "$T/p/share/bash-completion/completions/$prog" "$prog" "$@"
}
comp eml model sp | grep -qx split || bad "completion: eml model sp -> split"
comp eml model split --ch | grep -qx -- --chunk-size || bad "completion: --ch -> --chunk-size"
comp eml-proxy --audit-f | grep -qx -- --audit-failure || bad "completion: --audit-f"
comp eml-proxy --audit-failure "" | grep -qx serve || bad "completion: --audit-failure values"
comp eml-proxy --tamp | grep -q . && bad "completion offers a hidden option"
echo "ok   cli_help: bash completion"

exit $fail
