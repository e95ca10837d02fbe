#!/usr/bin/env bash
# The int8 and float16 models of issue 19 through the confidential path:
# `eml model split` -> sealed blob in the proxy's store -> eml-agent (sim
# attestation) -> `eml infer`, compared with ONNX Runtime's committed
# outputs (tests/vectors/{qdq-cnn,f16-cnn}).
#
#   1 both models regenerate to the exact bytes the vectors are for
#   2 the sealed blobs hold the weights at their ONNX width: int8 weights
#     one byte each, float16 two (plaintext length = the 64-aligned sum of
#     the initializers' bytes), not float32
#   3 the QDQ int8 CNN through the agent = ONNX Runtime within 1e-3 of the
#     largest output; the float16 CNN within 2e-3, and its output is float16
#   4 the same with the agent on the scalar kernels (EML_ISA=ref)
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

GEN=tests/bench/models/bench_models.py
VEC=tests/vectors
MODELS="qdq-cnn f16-cnn"
if ! "$PY" -c 'import onnx, numpy' 2>/dev/null; then
	echo "quant_models: SKIP: no python3 with onnx and numpy"
	exit 0
fi
for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: quant_models: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR

tol_of() { [ "$1" = qdq-cnn ] && echo 1e-3 || echo 2e-3; }

"$PY" "$GEN" gen "$W/gen" --only $MODELS >/dev/null || e2e_die "model generation failed"
cids=""
for m in $MODELS; do
	want=$(cut -d' ' -f1 "$VEC/$m/model.sha256")
	have=$(sha256sum "$W/gen/$m/model.onnx" | cut -d' ' -f1)
	if [ "$want" = "$have" ]; then e2e_pass "$m: model.onnx matches model.sha256"
	else e2e_fail "$m: regenerated model.onnx is not the one the vectors are for"; fi
	"$EML" model split "$W/gen/$m/model.onnx" --out "$W/$m" >"$W/split-$m.log" 2>&1 ||
		{ cat "$W/split-$m.log"; e2e_die "split $m"; }
	mkdir -p "$W/store"
	"$EML_PROXY" blob put --weights "$W/store" "$W/$m/weights.sealed" >"$W/put-$m.log" 2>&1 ||
		{ cat "$W/put-$m.log"; e2e_die "blob put $m"; }
	cid=$(sha256sum "$W/$m/weights.sealed" | cut -d' ' -f1)
	cids="$cids${cids:+,}\"$cid\""
	# 2: the blob's plaintext is the initializers at their own width.
	if "$PY" - "$W/gen/$m/model.onnx" "$W/$m/weights.sealed" <<'PYEOF'
import struct, sys
import onnx
m = onnx.load(sys.argv[1])
plain = f32 = 0
for t in m.graph.initializer:
    n = 1
    for d in t.dims:
        n *= d
    size = {1: 4, 2: 1, 3: 1, 6: 4, 7: 8, 10: 2}[t.data_type]
    plain = (plain + 63) // 64 * 64 + n * size
    f32 += n * 4
hdr = open(sys.argv[2], "rb").read(48)
length = struct.unpack(">Q", hdr[24:32])[0]
print("  blob plaintext %d bytes, expected %d (as float32: %d)" % (length, plain, f32))
sys.exit(0 if length == plain and length < f32 * 0.6 else 1)
PYEOF
	then e2e_pass "$m: weights sealed at their ONNX width"
	else e2e_fail "$m: blob plaintext length"; fi
done

"$EML" attest sim-init "$W/sim" >"$W/sim-init.log" 2>&1 || e2e_die "sim-init"
printf '{"version":1,"models":[%s],"assembly":"request"}\n' "$cids" >"$W/agent-policy.json"
DIGEST=$("$EML_AGENT" --policy-digest --policy "$W/agent-policy.json") || e2e_die "policy digest"
e2e_client_policy "$W/client.json" "$(e2e_sim_pcr 0)" "$(e2e_sim_pcr 1)" "$(e2e_sim_pcr 2)" "$DIGEST"

run_world() { # LABEL [env for the agent]
	local label=$1 port agent proxy m out
	shift
	rm -f "$W/agent.sock"
	e2e_start "agent-$label" env "$@" "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim \
		--sim-dir "$W/sim" --policy "$W/agent-policy.json"
	agent=$E2E_LAST_PID
	e2e_wait_unix "$W/agent.sock" || { cat "$W/agent-$label.log"; e2e_die "agent"; }
	port=$(e2e_free_port)
	e2e_start "proxy-$label" "$EML_PROXY" --listen "tcp:127.0.0.1:$port" \
		--agent "unix:$W/agent.sock" --weights "$W/store" --rate-limit 0
	proxy=$E2E_LAST_PID
	e2e_wait_tcp "$port" || { cat "$W/proxy-$label.log"; e2e_die "proxy"; }
	for m in $MODELS; do
		out="$W/out-$label-$m"
		mkdir -p "$out" "$W/want-$m"
		cp "$VEC/$m/output_0.pb" "$W/want-$m/output_0.pb"
		if ! "$EML" infer --proxy "127.0.0.1:$port" --model "$W/$m" --policy "$W/client.json" \
			--input "$VEC/$m/input_0.pb" --output-dir "$out" --timeout 60000 \
			>"$W/infer-$label-$m.log" 2>&1; then
			e2e_fail "$m ($label): eml infer: $(grep -v '^$' "$W/infer-$label-$m.log" | tail -1)"
			continue
		fi
		if "$PY" "$GEN" compare "$W/want-$m" "$out" --tol "$(tol_of "$m")" >"$W/cmp.log" 2>&1 &&
			"$PY" - "$VEC/$m/output_0.pb" "$out" <<'PYEOF'
import os, sys
from onnx import TensorProto
def dt(p):
    t = TensorProto()
    t.ParseFromString(open(p, "rb").read())
    return t.data_type
got = [os.path.join(sys.argv[2], f) for f in os.listdir(sys.argv[2]) if f.endswith(".pb")]
sys.exit(0 if len(got) == 1 and dt(got[0]) == dt(sys.argv[1]) else 1)
PYEOF
		then e2e_pass "$m ($label) through the agent = ORT: $(cat "$W/cmp.log")"
		else e2e_fail "$m ($label): $(cat "$W/cmp.log") (or the output dtype differs)"; fi
	done
	e2e_stop "$proxy"
	e2e_stop "$agent"
}

run_world best EML_LOG_LEVEL=info
run_world ref EML_ISA=ref

[ "$E2E_FAILED" = 0 ] && echo "quant_models: all passed"
exit "$E2E_FAILED"
