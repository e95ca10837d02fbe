#!/usr/bin/env bash
# make bench: runs every benchmark binary in $BUILD/bench/, then every
# scripts/bench-*.sh section (engine vs ONNX Runtime, end to end, ...).
# Figures only: nothing here asserts a timing.
set -u
BUILD=${BUILD:-build}
export BUILD
status=0
for b in "$BUILD"/bench/*; do
	[ -x "$b" ] || continue
	echo "=== bench: $(basename "$b")"
	"$b" || status=1
done
for s in scripts/bench-*.sh; do
	[ -e "$s" ] || continue
	echo "=== bench: $(basename "$s" .sh)"
	# A/B of two builds the caller names: a tool, not a section.
	if [ "$(basename "$s")" = bench-engine-ab.sh ]; then
		echo "SKIP: bench-engine-ab needs two builds (scripts/bench-engine-ab.sh EML_A EML_B)"
		continue
	fi
	bash "$s" || status=1
done
exit $status
