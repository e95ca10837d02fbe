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
	# bench-*-ab.sh: an A/B of two builds the caller names, a tool and not
	# a section (bench-relay-ab.sh run bare exited 1 and failed make bench).
	case $(basename "$s") in
	*-ab.sh)
		echo "SKIP: $(basename "$s") compares two builds the caller names (see its header)"
		continue
		;;
	esac
	bash "$s" || status=1
done
exit $status
