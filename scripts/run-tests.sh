#!/usr/bin/env bash
# Runs the unit tests (cmocka), then the integration tests and the ONNX
# conformance run, and fails if any of them failed. Usage:
#   run-tests.sh [test_name...]     (names from build/tests/)
# Environment: BUILD (default build), EML_SKIP_INTEGRATION=1,
# EML_SKIP_CONFORMANCE=1.
set -u
BUILD=${BUILD:-build}
export EML_TESTDATA=${EML_TESTDATA:-$(pwd)/testdata}
failed=()
ran=0
timings=()

# Seconds since the epoch, for the per-suite durations printed at the end
# (CI's time budget is watched through them).
now() { date +%s; }
timed() {
	local name=$1 t0 rc
	shift
	t0=$(now)
	"$@"
	rc=$?
	timings+=("$(($(now) - t0)) $name")
	return $rc
}

for t in "$@"; do
	bin="$BUILD/tests/$t"
	[ -x "$bin" ] || { echo "run-tests: no such test: $t" >&2; failed+=("$t"); continue; }
	echo "=== $t"
	ran=$((ran + 1))
	if ! timed "$t" "$bin"; then
		failed+=("$t")
	fi
done

# Every fuzz target over its corpus (seeds and kept findings), without
# libFuzzer: a regression aborts the replay.
if [ -z "${EML_SKIP_INTEGRATION:-}" ] && [ -d "$BUILD/replay" ]; then
	for bin in "$BUILD"/replay/*_fuzz; do
		[ -x "$bin" ] || continue
		name=$(basename "$bin")
		corpus="tests/fuzz/corpus/${name%_fuzz}"
		[ -d "$corpus" ] || continue
		echo "=== fuzz replay: $name"
		ran=$((ran + 1))
		if ! EML_LOG_LEVEL=off timed "replay:$name" "$bin" "$corpus"; then
			failed+=("replay:$name")
		fi
	done
fi

if [ -z "${EML_SKIP_INTEGRATION:-}" ]; then
	for s in tests/integration/*.sh; do
		[ -e "$s" ] || continue
		echo "=== integration: $(basename "$s")"
		ran=$((ran + 1))
		if ! BUILD="$BUILD" timed "$(basename "$s")" bash "$s"; then
			failed+=("$(basename "$s")")
		fi
	done
fi

if [ -z "${EML_SKIP_CONFORMANCE:-}" ] && [ -x "$BUILD/tests/conformance" ]; then
	echo "=== conformance"
	ran=$((ran + 1))
	if ! timed conformance "$BUILD/tests/conformance"; then
		failed+=("conformance")
	fi
fi

echo
echo "run-tests: slowest suites (seconds):"
printf '%s\n' "${timings[@]}" | sort -rn | head -12 | sed 's/^/  /'
if [ "${#failed[@]}" -ne 0 ]; then
	echo "run-tests: ${#failed[@]} of $ran suites FAILED: ${failed[*]}"
	exit 1
fi
echo "run-tests: all $ran suites passed"
