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
	bash "$s" || status=1
done
exit $status
