# Named checks with a tally, for engine_cli.sh and bench_vectors.sh.
# Sourced, not run. The caller sets pass=0 fail=0 and a scratch directory
# $T, and ends with: echo "...: $pass passed, $fail failed"; [ "$fail" = 0 ].

ok() { echo "  ok   $1"; pass=$((pass + 1)); }
bad() { echo "  FAIL $1"; fail=$((fail + 1)); }
# expect WANT-STATUS NAME CMD...: ok when CMD exits WANT-STATUS, else FAIL
# with the status and the first line of its output ($T/out).
expect() {
	local want=$1 name=$2 got
	shift 2
	"$@" >"$T/out" 2>&1
	got=$?
	if [ "$got" = "$want" ]; then ok "$name"; else bad "$name (exit $got, want $want: $(head -1 "$T/out"))"; fi
}
