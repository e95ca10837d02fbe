#!/usr/bin/env bash
# Installs the dev-only ONNX Runtime runner's dependencies into
# tests/bench/ort/node_modules (git-ignored), once. Exits 0 when run.js can
# load onnxruntime-node afterwards; otherwise prints why on stderr and exits 1.
#
# --ignore-scripts is enough: the npm tarball of onnxruntime-node carries the
# prebuilt CPU binding (bin/napi-v6/<os>/<arch>/onnxruntime_binding.node and
# libonnxruntime.so.1); its install script only downloads optional GPU
# libraries from outside the npm registry, which we never want.
set -u
DIR=$(cd "$(dirname "$0")" && pwd)

if ! command -v node >/dev/null 2>&1; then
	echo "ort/install.sh: node is not installed (apt install nodejs npm)" >&2
	exit 1
fi
if [ ! -d "$DIR/node_modules/onnxruntime-node" ]; then
	if ! command -v npm >/dev/null 2>&1; then
		echo "ort/install.sh: npm is not installed (apt install npm)" >&2
		exit 1
	fi
	echo "ort/install.sh: npm ci --ignore-scripts in $DIR" >&2
	log=$(mktemp)
	if ! (cd "$DIR" && npm ci --ignore-scripts --no-audit --no-fund >"$log" 2>&1); then
		echo "ort/install.sh: npm ci failed (is the npm registry reachable?):" >&2
		tail -5 "$log" >&2
		rm -f "$log"
		exit 1
	fi
	rm -f "$log"
fi
if ! node "$DIR/run.js" version >/dev/null 2>&1; then
	echo "ort/install.sh: onnxruntime-node is installed but does not load:" >&2
	node "$DIR/run.js" version 2>&1 | head -3 >&2
	exit 1
fi
exit 0
