#!/usr/bin/env bash
# Issue 19's generated models through the confidential path (split ->
# eml-agent (sim) -> eml-proxy -> eml infer), compared with ONNX Runtime's
# outputs stored at generation time (tests/vectors/<model>/output_*.pb, made
# by scripts/make-vectors.sh; ORT is not needed here):
#
#   lstm-gru-bidi   bidirectional LSTM then bidirectional GRU, sequence_lens
#                   6/4/1, initial states (two inputs, two outputs)
#   detector-head   projection, TopK over anchors, Gather, NonMaxSuppression
#                   (selected_indices has a data-dependent number of rows)
#   if-loop         a Loop of n (int64 input) iterations and an If, both
#                   reading outer-scope values (an activation, initializers);
#                   branches with their own weights; a scan output
#   vad-if-lstm     voice-activity shape: an If on an int64 scalar sample
#                   rate whose branches hold LSTM layers
#
# Each model is rebuilt by tests/bench/models/bench_models.py and must have
# the SHA-256 its vectors were made for. Float outputs within 1e-4 of the
# largest reference value, integer outputs (the NMS indices) exactly and of
# the same shape. One PASS/FAIL line per case; exit 1 when any failed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

MODELS="lstm-gru-bidi detector-head if-loop vad-if-lstm"
GEN=tests/bench/models/bench_models.py
VEC=tests/vectors

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: models_e2e: $b missing"; exit 1; }
done
if ! "$PY" -c 'import onnx, numpy' 2>/dev/null; then
	echo "models_e2e: SKIP: no python3 with onnx and numpy"
	exit 0
fi
e2e_init
W=$E2E_DIR

# Models, checked against the digests of the vectors; split each.
"$PY" "$GEN" gen "$W/gen" --only $MODELS >"$W/gen.log" 2>&1 ||
	{ cat "$W/gen.log"; echo "FAIL: models_e2e: generator"; exit 1; }
cids=()
for m in $MODELS; do
	want=$(cut -d' ' -f1 "$VEC/$m/model.sha256")
	got=$(sha256sum "$W/gen/$m/model.onnx" | cut -d' ' -f1)
	if [ "$want" != "$got" ]; then
		e2e_fail "$m: rebuilt model is $got, the vectors are for $want (scripts/make-vectors.sh $m)"
		continue
	fi
	"$EML" model split "$W/gen/$m/model.onnx" --out "$W/$m" >"$W/split-$m.log" 2>&1 ||
		{ cat "$W/split-$m.log"; e2e_fail "$m: split"; continue; }
	cids+=("$(sha256sum "$W/$m/weights.sealed" | cut -d' ' -f1)")
done
[ "$E2E_FAILED" -eq 0 ] || exit 1

"$EML" attest sim-init "$W/sim" >"$W/sim-init.log" 2>&1 || { echo "FAIL: models_e2e: sim-init"; exit 1; }
printf '{"version":1,"models":[%s],"assembly":"request"}\n' \
	"$(printf '"%s",' "${cids[@]}" | sed 's/,$//')" >"$W/agent-policy.json"
DIGEST=$("$EML_AGENT" --policy-digest --policy "$W/agent-policy.json") ||
	{ echo "FAIL: models_e2e: policy digest"; exit 1; }
e2e_client_policy "$W/client.json" "$(e2e_sim_pcr 0)" "$(e2e_sim_pcr 1)" "$(e2e_sim_pcr 2)" "$DIGEST"

e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: models_e2e: agent"; exit 1; }
PORT=$(e2e_free_port)
mkdir -p "$W/store"
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --rate-limit 0
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; echo "FAIL: models_e2e: proxy"; exit 1; }

for m in $MODELS; do
	"$EML_PROXY" blob put --weights "$W/store" "$W/$m/weights.sealed" >"$W/put-$m.log" 2>&1 ||
		{ cat "$W/put-$m.log"; e2e_fail "$m: blob put"; continue; }
	# The stored inputs, in the model's input order.
	if ! "$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/$m" --policy "$W/client.json" \
		--input "$VEC/$m"/input_*.pb --output-dir "$W/out-$m" --timeout 30000 \
		>"$W/infer-$m.log" 2>&1; then
		cat "$W/infer-$m.log"
		e2e_fail "$m: eml infer"
		continue
	fi
	if ! grep -q '^attestation: verified' "$W/infer-$m.log"; then
		e2e_fail "$m: no verified attestation"
		continue
	fi
	if cmp_out=$("$PY" "$GEN" compare "$VEC/$m" "$W/out-$m" --tol 1e-4 2>&1); then
		e2e_pass "$m: confidential path matches ONNX Runtime ($cmp_out)"
	else
		e2e_fail "$m: outputs differ from ONNX Runtime: $cmp_out"
	fi
done

# The comparison can fail: a wrong answer (one value moved) is refused.
m=detector-head
if [ -d "$W/out-$m" ]; then
	mkdir -p "$W/wrong"
	cp "$W/out-$m"/*.pb "$W/wrong/"
	"$PY" - "$W/wrong/output_0.pb" <<'EOF'
import sys
import numpy as np
from onnx import TensorProto, numpy_helper
t = TensorProto()
t.ParseFromString(open(sys.argv[1], "rb").read())
a = numpy_helper.to_array(t).copy()
a.flat[-1] += 1
open(sys.argv[1], "wb").write(numpy_helper.from_array(a, t.name).SerializeToString())
EOF
	if "$PY" "$GEN" compare "$VEC/$m" "$W/wrong" --tol 1e-4 >/dev/null 2>&1; then
		e2e_fail "compare accepted a wrong NMS index"
	else
		e2e_pass "compare refuses a wrong NMS index"
	fi
fi
exit "$E2E_FAILED"
