#!/usr/bin/env bash
# Weights grow with authenticated bytes only (issue 11): a client with its
# own key sends a topology key whose blob claims 256 MiB of weights; the
# blob the host serves has a genuine first chunk (it authenticates) and
# zeros after it (tests/integration/lib/lying_blob.py). Through the real
# eml infer -> eml-proxy -> eml-agent, with a 64 MiB memory budget: the
# agent refuses it with EML_ERR_BLOB_AUTH (656, chunk 1 fails) -- not
# BUSY, which is what committing the claimed size after chunk 0 gave --
# its peak RSS stays far below the claim, and the same agent then serves
# the demo model correctly.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: weights_claim: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
e2e_world request || { cat "$W"/*.log; echo "FAIL: weights_claim: setup"; exit 1; }
CLAIM=$((256 << 20))
BUDGET=$((64 << 20))
LIE=$("$PY" tests/integration/lib/lying_blob.py "$W/model/model.topo" "$W/lie" "$CLAIM" 65536) ||
	{ echo "FAIL: weights_claim: lying blob"; exit 1; }
cat >"$W/agent-policy.json" <<EOP
{"version":1,"models":["$E2E_CID","$LIE"],"limits":{"memory_budget_bytes":$BUDGET}}
EOP
DIGEST=$("$EML_AGENT" --policy-digest --policy "$W/agent-policy.json") || { echo "FAIL: weights_claim: policy"; exit 1; }
e2e_client_policy "$W/client.json" "$(e2e_sim_pcr 0)" "$(e2e_sim_pcr 1)" "$(e2e_sim_pcr 2)" "$DIGEST"
e2e_make_input "$W/in.pb" 5
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W/ref.log"; echo "FAIL: weights_claim: eml run --local"; exit 1; }
mkdir -p "$W/store"
for f in "$W/model/weights.sealed" "$W/lie/weights.sealed"; do
	"$EML_PROXY" blob put --weights "$W/store" "$f" >>"$W/put.log" 2>&1 ||
		{ cat "$W/put.log"; echo "FAIL: weights_claim: blob put"; exit 1; }
done
rm -f "$W/lie/weights.sealed" # the store has it (sparse or not)
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
AGENT=$E2E_LAST_PID
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: weights_claim: agent"; exit 1; }
e2e_start proxy "$EML_PROXY" --listen "unix:$W/proxy.sock" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --rate-limit 0
e2e_wait_unix "$W/proxy.sock" || { cat "$W/proxy.log"; echo "FAIL: weights_claim: proxy"; exit 1; }
hwm0=$(awk '/^VmHWM/ {print $2 * 1024}' "/proc/$AGENT/status")

infer() { # MODELDIR OUTDIR
	"$EML" infer --proxy "unix:$W/proxy.sock" --model "$1" --policy "$W/client.json" \
		--input "$W/in.pb" --output-dir "$2" --timeout 60000
}
infer "$W/lie/model" "$W/out-lie" >"$W/lie.out" 2>&1
rc=$?
hwm=$(awk '/^VmHWM/ {print $2 * 1024}' "/proc/$AGENT/status")
if [ $rc -ne 0 ] && grep -q "peer error 656:" "$W/lie.out" && [ ! -e "$W/out-lie" ]; then
	e2e_pass "a blob claiming $((CLAIM >> 20)) MiB with one genuine chunk: refused with 656 (EML_ERR_BLOB_AUTH), not BUSY"
else
	cat "$W/lie.out"
	e2e_fail "lying blob: rc=$rc, wanted peer error 656"
fi
# The claim would be 256 MiB of locked memory; the agent's peak grew by
# far less than the 64 MiB budget (a chunk or a few, plus its buffers).
if [ -n "$hwm" ] && [ $((hwm - hwm0)) -lt $BUDGET ]; then
	e2e_pass "agent peak RSS $((hwm0 >> 20)) -> $((hwm >> 20)) MiB for a $((CLAIM >> 20)) MiB claim"
else
	e2e_fail "agent peak RSS ${hwm0:-?} -> ${hwm:-?} bytes for a $CLAIM-byte claim"
fi
if infer "$W/model" "$W/out-good" >"$W/good.out" 2>&1 &&
	cmp -s "$W/ref/output_0.pb" "$W/out-good/output_0.pb" && kill -0 "$AGENT" 2>/dev/null; then
	e2e_pass "the same agent (PID $AGENT) then serves the demo model bit-identical to eml run --local"
else
	cat "$W/good.out"
	e2e_fail "good request after the lying blob"
fi
exit $E2E_FAILED
