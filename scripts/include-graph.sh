#!/usr/bin/env bash
# The include edges between rooms (top-level folders; client/ counted as one
# room, include/eml/ as part of it, proto/ for the generated protobuf
# headers), with the number of #include lines behind each edge, then the
# line count of each room and the longest functions (pmccabe).
#
#   scripts/include-graph.sh            edges, line counts, 5 longest functions
#   scripts/include-graph.sh --edges    edges only ("from -> to  count")
#
# An include "x.h" resolves as the compiler does with this Makefile's flags:
# the including file's own folder first, then the repository root, common/,
# include/ and the generated build/gen/ (proto/).
set -u
cd "$(dirname "$0")/.."
ROOMS="common attestation model engine enclave-agent host-proxy client eif-build"

room_of() { # PATH -> room name
	case "$1" in
	include/*) echo client ;;
	proto/*) echo proto ;;
	*) echo "${1%%/*}" ;;
	esac
}

resolve() { # INCLUDING-FILE INCLUDED-NAME -> repository path of the header
	local dir
	dir=$(dirname "$1")
	if [ -e "$dir/$2" ]; then
		echo "$dir/$2"
	elif [ -e "$2" ]; then
		echo "$2"
	elif [ -e "common/$2" ]; then
		echo "common/$2"
	elif [ -e "include/$2" ]; then
		echo "include/$2"
	elif [ "${2#proto/}" != "$2" ]; then
		echo "$2"
	fi
}

edges() {
	local f inc to from
	# shellcheck disable=SC2086
	git ls-files $(for r in $ROOMS include; do printf '%s/*.c %s/*.h ' "$r" "$r"; done) |
		while read -r f; do
			from=$(room_of "$f")
			grep -oE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]+"' "$f" |
				sed -E 's/.*"([^"]+)"/\1/' |
				while read -r inc; do
					to=$(resolve "$f" "$inc")
					[ -n "$to" ] || continue
					to=$(room_of "$to")
					[ "$from" = "$to" ] || echo "$from -> $to"
				done
		done | sort | uniq -c | awk '{printf "%-14s -> %-14s %4d\n", $2, $4, $1}'
}

if [ "${1:-}" = "--edges" ]; then
	edges
	exit 0
fi

echo "include edges between rooms (from -> to, #include lines):"
edges
echo
echo "lines per room (.c and .h, tracked files):"
for r in $ROOMS include tests; do
	# shellcheck disable=SC2046
	n=$(cat $(git ls-files "$r/*.c" "$r/*.h") 2>/dev/null | wc -l)
	printf '  %-14s %6d\n' "$r" "$n"
done
if command -v pmccabe >/dev/null 2>&1; then
	echo
	echo "longest functions (lines, cyclomatic complexity, where):"
	# shellcheck disable=SC2046
	pmccabe $(git ls-files $(for r in $ROOMS; do printf '%s/*.c ' "$r"; done)) 2>/dev/null |
		sort -k5 -n -r | head -5 | awk '{printf "  %5d lines  cc %3d  %s %s\n", $5, $2, $6, $7}'
fi
