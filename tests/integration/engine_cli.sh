#!/usr/bin/env bash
# eml model inspect and eml run --local: exit codes (DESIGN §9), output
# files, the --bench line the benchmark parses, and the real model's answer
# against ONNX Runtime's (tests/vectors/text-direction-cls).
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1
BUILD=${BUILD:-build}
EML=$BUILD/bin/eml
export EML_TESTDATA=${EML_TESTDATA:-$(pwd)/testdata}
MODEL=$EML_TESTDATA/models/text-direction-cls.onnx
VEC=tests/vectors/text-direction-cls
TD=/usr/share/libonnx-testdata/data/node
T=$(mktemp -d "${TMPDIR:-/tmp}/eml-engine-cli.XXXXXX")
trap 'rm -rf "$T"' EXIT
pass=0
fail=0
# shellcheck source=lib/tally.bash
source tests/integration/lib/tally.bash

[ -x "$EML" ] || { echo "engine_cli: SKIP: $EML not built"; exit 0; }

expect 2 "model: no subcommand" "$EML" model
expect 2 "model inspect: no file" "$EML" model inspect
expect 3 "model inspect: missing file" "$EML" model inspect "$T/missing.onnx"
printf 'not a model' >"$T/bad.onnx"
expect 1 "model inspect: garbage is an invalid model" "$EML" model inspect "$T/bad.onnx"
if [ -f "$TD/test_bernoulli/model.onnx" ]; then
	expect 1 "model inspect: unsupported node (Bernoulli) exits 1" "$EML" model inspect "$TD/test_bernoulli/model.onnx"
	grep -q "Bernoulli .*UNSUPPORTED" "$T/out" && grep -q "^  Bernoulli: 1 node" "$T/out" &&
		ok "inspect names the unsupported op" || bad "inspect names the unsupported op"
fi
expect 2 "run: without --local" "$EML" run "$MODEL" --input "$VEC/input_0.pb"
expect 2 "run: bad --threads" "$EML" run --local "$MODEL" --input "$VEC/input_0.pb" --threads 0
head -c 50 "$VEC/input_0.pb" >"$T/trunc.pb"
# a malformed input is data refused (docs/CLI.md): 1, as from eml infer
expect 1 "run: a truncated input file is refused" "$EML" run --local "$MODEL" --input "$T/trunc.pb"
expect 3 "run: a missing input file is an I/O error" "$EML" run --local "$MODEL" --input "$T/none.pb"
expect 3 "run: missing input file" "$EML" run --local "$MODEL" --input "$T/none.pb"

if [ -f "$MODEL" ] && [ -f "$VEC/input_0.pb" ]; then
	expect 0 "model inspect: real model fully supported" "$EML" model inspect "$MODEL"
	grep -q "supported: yes, all 372 nodes" "$T/out" && grep -q "^  Conv  *53  ok" "$T/out" &&
		ok "inspect counts nodes" || bad "inspect counts nodes"
	grep -q "x  float32 \[p2o.DynamicDimension.0,3," "$T/out" && ok "inspect shows symbolic dims" ||
		bad "inspect shows symbolic dims"
	expect 0 "run: summary" "$EML" run --local "$MODEL" --input "$VEC/input_0.pb"
	grep -q "^softmax_0.tmp_0: float32 \[1,2\]" "$T/out" && ok "run: summary line" || bad "run: summary line"
	# --profile: the phases line and the page-fault line on stderr, the
	# summary on stdout as without it
	expect 0 "run: --profile" "$EML" run --local "$MODEL" --input "$VEC/input_0.pb" --profile
	grep -Eq '^eml run: phases \(ms, wall/cpu\): import=[0-9.]+/[0-9.]+ .* total=[0-9.]+/[0-9.]+$' "$T/out" &&
		grep -Eq '^eml run: page faults: before=[0-9]+ import=[0-9]+ inputs=[0-9]+ split=[0-9]+ model=[0-9]+ plan=[0-9]+ run=[0-9]+ output=[0-9]+ free=[0-9]+$' "$T/out" &&
		grep -q "^softmax_0.tmp_0: float32 \[1,2\]" "$T/out" && ok "run: --profile lines" ||
		bad "run: --profile lines"
	expect 0 "run: --output-dir" "$EML" run --local "$MODEL" --input "$VEC/input_0.pb" --output-dir "$T/o"
	[ -s "$T/o/output_0.pb" ] && ok "run: output_0.pb written" || bad "run: output_0.pb written"
	expect 0 "run: --bench" "$EML" run --local "$MODEL" --input "$VEC/input_0.pb" --bench 3 --threads 2
	grep -Eq '^median_ms=[0-9.]+ min_ms=[0-9.]+ p50_ms=[0-9.]+ p90_ms=[0-9.]+ p99_ms=[0-9.]+ max_ms=[0-9.]+ throughput_per_s=[0-9.]+$' "$T/out" && ok "run: bench line format" ||
		bad "run: bench line format"
	# Our output against ORT's (outputs are 2 floats: compare the raw_data).
	if command -v python3 >/dev/null; then
		if python3 - "$T/o/output_0.pb" "$VEC/output_0.pb" <<'PY'
import struct, sys
def floats(p):
    b = open(p, 'rb').read()
    return struct.unpack('<2f', b[-8:])
a, b = floats(sys.argv[1]), floats(sys.argv[2])
m = max(abs(x) for x in b)
sys.exit(0 if max(abs(x - y) for x, y in zip(a, b)) <= 1e-4 * m else 1)
PY
		then ok "run: matches ONNX Runtime within 1e-4"; else bad "run: matches ONNX Runtime within 1e-4"; fi
	fi
	# Wrong input shape for the model: a usage error, not a crash.
	if [ -f "$TD/test_add/test_data_set_0/input_0.pb" ]; then
		expect 1 "run: input of the wrong rank" "$EML" run --local "$MODEL" \
			--input "$TD/test_add/test_data_set_0/input_0.pb"
	fi
fi

# Weights inside subgraphs (If branches, a Loop body): eml run --local
# points the decoded graph at the imported tensors, subgraphs' included;
# the outputs are the test data's, byte for byte.
for m in test_if test_loop11; do
	[ -f "$TD/$m/model.onnx" ] || continue
	ins=()
	for f in "$TD/$m"/test_data_set_0/input_*.pb; do ins+=(--input "$f"); done
	rm -rf "$T/sub"
	if "$EML" run --local "$TD/$m/model.onnx" "${ins[@]}" --output-dir "$T/sub" >"$T/out" 2>&1 &&
		cmp -s "$T/sub/output_0.pb" "$TD/$m/test_data_set_0/output_0.pb"; then
		ok "run: $m, weights in subgraphs"
	else
		bad "run: $m, weights in subgraphs ($(head -1 "$T/out"))"
	fi
done

echo "engine_cli: $pass passed, $fail failed"
[ "$fail" = 0 ]
