#!/usr/bin/env bash
# The committed reference vectors (tests/vectors/) and the tools that make
# them: the inputs and bench models are reproducible bit for bit, ORT's
# outputs agree with an independent float64 numpy evaluation, and the output
# comparison used by `make bench` rejects wrong answers. When the dev-only
# ORT runner is installed (tests/bench/ort/node_modules) it is checked too;
# this test never installs it. Where $BUILD/bin/eml is built, our engine's
# outputs on the three models are compared with the vectors.
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
GEN=tests/bench/models/bench_models.py
VEC=tests/vectors
export EML_TESTDATA=${EML_TESTDATA:-$(pwd)/testdata}

PY=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import onnx, numpy' 2>/dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	echo "bench_vectors: SKIP: no python3 with onnx and numpy"
	exit 0
fi

T=$(mktemp -d "${TMPDIR:-/tmp}/eml-bench-vectors.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
# shellcheck source=lib/tally.bash
source tests/integration/lib/tally.bash

# 1. Inputs and models are deterministic: regenerating gives the committed bytes.
for m in text-direction-cls resnet transformer; do
	"$PY" "$GEN" input "$m" "$T/$m-input.pb"
	expect 0 "$m input_0.pb reproducible" cmp "$T/$m-input.pb" "$VEC/$m/input_0.pb"
done
"$PY" "$GEN" gen "$T/models" --only resnet transformer >/dev/null
for m in resnet transformer; do
	want=$(cut -d' ' -f1 "$VEC/$m/model.sha256")
	have=$(sha256sum "$T/models/$m/model.onnx" | cut -d' ' -f1)
	expect 0 "$m model.onnx matches model.sha256" test "$want" = "$have"
done
if [ -f "$EML_TESTDATA/models/text-direction-cls.onnx" ]; then
	want=$(cut -d' ' -f1 "$VEC/text-direction-cls/model.sha256")
	have=$(sha256sum "$EML_TESTDATA/models/text-direction-cls.onnx" | cut -d' ' -f1)
	expect 0 "text-direction-cls.onnx matches model.sha256" test "$want" = "$have"
fi

# 2. ORT's outputs agree with a second implementation (float64 numpy).
for m in resnet transformer; do
	expect 0 "$m output_0.pb = numpy oracle within 1e-5" \
		"$PY" "$GEN" check "$T/models/$m/model.onnx" "$VEC/$m/input_0.pb" "$VEC/$m/output_0.pb"
done
# ...and the oracle can fail: a perturbed output is caught.
"$PY" - "$VEC/transformer/output_0.pb" "$T/perturbed.pb" <<'EOF'
import sys
import numpy as np
from onnx import TensorProto, numpy_helper
t = TensorProto()
t.ParseFromString(open(sys.argv[1], "rb").read())
a = numpy_helper.to_array(t).copy()
a.flat[777] += 1e-3 * np.abs(a).max()
open(sys.argv[2], "wb").write(numpy_helper.from_array(a, t.name).SerializeToString())
EOF
expect 1 "numpy oracle rejects a 1e-3 perturbation" \
	"$PY" "$GEN" check "$T/models/transformer/model.onnx" "$VEC/transformer/input_0.pb" "$T/perturbed.pb"

# 3. compare (used by make bench) accepts equal outputs and rejects wrong ones.
mk() { mkdir -p "$T/$1" && cp "$2" "$T/$1/output_0.pb"; }
mk ref "$VEC/transformer/output_0.pb"
mk same "$VEC/transformer/output_0.pb"
mk off "$T/perturbed.pb"
mk shape "$VEC/resnet/output_0.pb"
mkdir -p "$T/none"
"$PY" - "$VEC/transformer/output_0.pb" "$T/nan/output_0.pb" <<'EOF'
import os, sys
import numpy as np
from onnx import TensorProto, numpy_helper
t = TensorProto()
t.ParseFromString(open(sys.argv[1], "rb").read())
a = numpy_helper.to_array(t).copy()
a.flat[5] = np.nan
os.makedirs(os.path.dirname(sys.argv[2]), exist_ok=True)
open(sys.argv[2], "wb").write(numpy_helper.from_array(a, t.name).SerializeToString())
EOF
expect 0 "compare: identical outputs pass" "$PY" "$GEN" compare "$T/ref" "$T/same"
mkdir -p "$T/byname" && cp "$VEC/transformer/output_0.pb" "$T/byname/last_hidden_state.pb"
expect 0 "compare: output found by tensor name" "$PY" "$GEN" compare "$T/ref" "$T/byname"
expect 1 "compare: 1e-3 relative error fails at 1e-4" "$PY" "$GEN" compare "$T/ref" "$T/off"
expect 0 "compare: 1e-3 relative error passes at 1e-2" "$PY" "$GEN" compare "$T/ref" "$T/off" --tol 1e-2
expect 1 "compare: shape mismatch fails" "$PY" "$GEN" compare "$T/ref" "$T/shape"
expect 1 "compare: NaN fails" "$PY" "$GEN" compare "$T/ref" "$T/nan"
expect 1 "compare: missing output fails" "$PY" "$GEN" compare "$T/ref" "$T/none"
expect 1 "compare: empty reference dir fails" "$PY" "$GEN" compare "$T/none" "$T/ref"

# 4. The ORT runner, only where it is already installed.
RUN=tests/bench/ort/run.js
if command -v node >/dev/null 2>&1 && [ -d tests/bench/ort/node_modules/onnxruntime-node ]; then
	for m in text-direction-cls transformer; do
		if [ $m = text-direction-cls ]; then model="$EML_TESTDATA/models/text-direction-cls.onnx"
		else model="$T/models/$m/model.onnx"; fi
		[ -f "$model" ] || continue
		node "$RUN" run "$model" --input "$VEC/$m/input_0.pb" --output-dir "$T/ort-$m" >/dev/null 2>&1
		mk "vec-$m" "$VEC/$m/output_0.pb"
		expect 0 "run.js reproduces $m output_0.pb" \
			"$PY" "$GEN" compare "$T/vec-$m" "$T/ort-$m" --tol 1e-5
	done
	head -c 1000 "$VEC/transformer/input_0.pb" >"$T/trunc.pb"
	expect 2 "run.js rejects a truncated input" \
		node "$RUN" run "$T/models/transformer/model.onnx" --input "$T/trunc.pb" --output-dir "$T/x"
	expect 2 "run.js rejects an input of the wrong shape" \
		node "$RUN" run "$T/models/transformer/model.onnx" --input "$VEC/resnet/input_0.pb" --output-dir "$T/x"
	expect 2 "run.js rejects an unknown option" node "$RUN" bench "$T/models/transformer/model.onnx" --bogus
	expect 2 "run.js rejects --iters 0" \
		node "$RUN" bench "$T/models/transformer/model.onnx" --input "$VEC/transformer/input_0.pb" --iters 0
	expect 0 "run.js bench prints median_ms and min_ms" bash -c \
		"node $RUN bench '$T/models/transformer/model.onnx' --input '$VEC/transformer/input_0.pb' --iters 2 --warmup 0 | grep -Eq '^median_ms=[0-9.]+ min_ms=[0-9.]+$'"
else
	echo "  skip run.js checks: tests/bench/ort/node_modules not installed (tests/bench/ort/install.sh)"
fi

# 5. Our engine, end to end through the CLI (`eml run --local`, .pb in and
# out), against ONNX Runtime's vectors: 1e-4 relative to the largest output.
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
EML="$BUILD/bin/eml"
if [ -x "$EML" ]; then
	for m in text-direction-cls resnet transformer; do
		if [ $m = text-direction-cls ]; then model="$EML_TESTDATA/models/text-direction-cls.onnx"
		else model="$T/models/$m/model.onnx"; fi
		[ -f "$model" ] || continue
		mk "want-$m" "$VEC/$m/output_0.pb"
		for t in 1 2; do
			rm -rf "$T/eml-$m"
			mkdir -p "$T/eml-$m"
			if "$EML" run --local "$model" --input "$VEC/$m/input_0.pb" --threads $t \
				--output-dir "$T/eml-$m" >"$T/eml.log" 2>&1; then
				expect 0 "eml run --local $m --threads $t = ORT within 1e-4" \
					"$PY" "$GEN" compare "$T/want-$m" "$T/eml-$m" --tol 1e-4
			else
				bad "eml run --local $m --threads $t: $(grep -v '^$' "$T/eml.log" | tail -1)"
			fi
		done
	done
else
	echo "  skip eml checks: $EML not built"
fi

echo "bench_vectors: $pass passed, $fail failed"
[ "$fail" = 0 ]
