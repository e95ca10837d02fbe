#!/usr/bin/env bash
# Regenerates the committed reference vectors in tests/vectors/ with ONNX
# Runtime (tests/bench/ort/run.js, single-threaded):
#
#   tests/vectors/<model>/input_0.pb    deterministic input (fixed seed)
#   tests/vectors/<model>/output_0.pb   ONNX Runtime's output for it
#   tests/vectors/<model>/model.sha256  SHA-256 of the model the output is for
#
# for text-direction-cls (testdata/models), the two generated bench models
# (resnet, transformer) and issue 19's generated models (lstm-gru-bidi,
# detector-head: several inputs and outputs, input_<i>.pb / output_<i>.pb),
# all rebuilt by tests/bench/models/bench_models.py (the SHA-256 says
# whether a rebuilt model is the same one). Usage:
#   scripts/make-vectors.sh [model...]
# Then review `git diff --stat tests/vectors` and commit.
set -eu

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
GEN=tests/bench/models/bench_models.py
OUT=tests/vectors
MODELS=${*:-"text-direction-cls resnet transformer lstm-gru-bidi detector-head if-loop vad-if-lstm"}
export EML_TESTDATA=${EML_TESTDATA:-$(pwd)/testdata}

PY=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import onnx, numpy' 2>/dev/null; then
		PY=$p
		break
	fi
done
[ -n "$PY" ] || { echo "make-vectors: need python3 with onnx and numpy (python3-onnx)" >&2; exit 1; }
tests/bench/ort/install.sh || exit 1
ORT_VERSION=$(node tests/bench/ort/run.js version)

WORK=$(mktemp -d "${TMPDIR:-/tmp}/eml-vectors.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

for m in $MODELS; do
	"$PY" "$GEN" gen "$WORK" --only "$m" >/dev/null
	mkdir -p "$OUT/$m"
	rm -f "$OUT/$m"/input_*.pb "$OUT/$m"/output_*.pb
	# Every input (the issue-19 models have two) and every output.
	cp "$WORK/$m"/input_*.pb "$OUT/$m/"
	node tests/bench/ort/run.js run "$WORK/$m/model.onnx" --input "$OUT/$m"/input_*.pb \
		--threads 1 --output-dir "$WORK/$m/out"
	cp "$WORK/$m/out"/output_*.pb "$OUT/$m/"
	(cd "$WORK/$m" && sha256sum model.onnx) >"$OUT/$m/model.sha256"
	echo "make-vectors: $OUT/$m ($ORT_VERSION): $(cd "$OUT/$m" && du -b input_*.pb output_*.pb | tr '\t\n' '  ')"
done
