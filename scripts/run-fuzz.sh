#!/usr/bin/env bash
# Runs libFuzzer targets, each for FUZZ_SECONDS on a scratch copy of its
# seed corpus (tests/fuzz/corpus/<name without _fuzz>/), and fails if any
# target finds a crash, leak, timeout or out-of-memory. Usage:
#   FUZZ_BUILD=build-fuzz FUZZ_SECONDS=60 scripts/run-fuzz.sh frame_envelope_fuzz ...
# Findings are kept in $FUZZ_BUILD/fuzz-artifacts/.
set -u
FUZZ_BUILD=${FUZZ_BUILD:-build-fuzz}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
export EML_TESTDATA=${EML_TESTDATA:-$(pwd)/testdata}
EML_LOG_LEVEL=${EML_LOG_LEVEL:-off}
export EML_LOG_LEVEL

[ "$#" -gt 0 ] || { echo "run-fuzz: no targets" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/eml-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT
art="$FUZZ_BUILD/fuzz-artifacts"
mkdir -p "$art"
failed=()

for name in "$@"; do
	bin="$FUZZ_BUILD/fuzz/$name"
	if [ ! -x "$bin" ]; then
		echo "run-fuzz: $bin not built" >&2
		failed+=("$name")
		continue
	fi
	seeds="tests/fuzz/corpus/${name%_fuzz}"
	corpus="$work/$name"
	mkdir -p "$corpus"
	if [ -d "$seeds" ]; then
		cp -R "$seeds/." "$corpus/"
	else
		echo "run-fuzz: $name has no seed corpus ($seeds)" >&2
	fi
	echo "=== fuzz $name for ${FUZZ_SECONDS}s ($(find "$corpus" -type f | wc -l) seeds)"
	if ! "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=25 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$art/$name-" "$corpus" \
		>"$work/$name.log" 2>&1; then
		tail -n 60 "$work/$name.log"
		echo "run-fuzz: $name FAILED (artifacts in $art/)"
		failed+=("$name")
		continue
	fi
	grep -E "^(stat::number_of_executed_units|stat::peak_rss_mb|#[0-9]+ +DONE)" \
		"$work/$name.log" | sed "s/^/  $name: /"
	echo "  $name: $(find "$corpus" -type f | wc -l) corpus entries, no findings"
done

if [ "${#failed[@]}" -ne 0 ]; then
	echo "run-fuzz: FAILED: ${failed[*]}"
	exit 1
fi
echo "run-fuzz: all $# targets ran ${FUZZ_SECONDS}s without a finding"
