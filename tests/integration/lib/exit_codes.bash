# Exit-code checks for the command-line tests (attest_cli.sh, split_cli.sh).
# Sourced, not run. Uses the caller's scratch directory $tmp, its $EML (cut
# from the front of what is printed) and its fail flag.

# expect CODE CMD...: run CMD (stdout to $tmp/out, stderr to $tmp/err);
# "ok" when it exits CODE, else FAIL, its first 5 lines of stderr, fail=1.
expect() {
	local want=$1
	shift
	"$@" >"$tmp/out" 2>"$tmp/err"
	local got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL (exit $got, want $want): $*"
		sed 's/^/    /' "$tmp/err" | head -5
		fail=1
	else
		echo "ok   (exit $got): ${*#$EML }"
	fi
}
