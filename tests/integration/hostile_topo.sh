#!/usr/bin/env bash
# Hostile topology keys through the real processes (issue 11): eml infer
# sends hand-written topology keys (tests/integration/lib/hostile_topo.py)
# through eml-proxy to eml-agent. Each is refused with its own stable code
# ("peer error N"), the agent never dies (same PID throughout), then serves
# a good inference bit-identical to eml run --local, and its peak RSS
# stays within the budget its policy implies.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash
# shellcheck source=lib/hostile.bash
source tests/integration/lib/hostile.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: hostile: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
e2e_world request || { cat "$W"/*.log; echo "FAIL: hostile: setup"; exit 1; }

hostile_world || { cat "$W"/*.log; echo "FAIL: hostile: world"; exit 1; }

e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
AGENT=$E2E_LAST_PID
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: hostile: agent"; exit 1; }
PORT=$(e2e_free_port)
mkdir -p "$W/store"
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --capture "$W/capture.bin"
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; echo "FAIL: hostile: proxy"; exit 1; }
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; echo "FAIL: hostile: blob put"; exit 1; }

infer() { # MODELDIR INPUT OUTDIR
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$1" --policy "$W/client.json" \
		--input "$2" --output-dir "$3" --timeout 30000
}

n=0
while read -r name want; do
	n=$((n + 1))
	infer "$W/hostile/$name" "$W/in.pb" "$W/out-$name" >"$W/$name.out" 2>&1
	rc=$?
	if [ $rc -ne 0 ] && grep -q "peer error $want:" "$W/$name.out" && [ ! -e "$W/out-$name" ] &&
		kill -0 "$AGENT" 2>/dev/null; then
		e2e_pass "hostile $name: refused with $want ($(grep -o 'EML_ERR_[A-Z_]*' "$W/$name.out" | head -1)), agent $AGENT alive"
	else
		cat "$W/$name.out"
		e2e_fail "hostile $name: rc=$rc, wanted peer error $want"
	fi
done <"$W/cases.txt"
[ $n -ge 13 ] || e2e_fail "hostile: only $n cases written"

# Everything the proxy relayed for those refused requests: no plain Error
# frame, and none of the refusal reasons (code names, table messages,
# details) in any byte; the refusals travelled sealed.
types=$(e2e_capture_types "$W/capture.bin" | sort -u | tr '\n' ' ')
if "$PY" - "$W/capture.bin" common/eml_err.def <<'EOF2' >"$W/leak.txt" && [ "${types#*12 }" = "$types" ]; then
import re, sys
cap = open(sys.argv[1], "rb").read()
msgs = re.findall(r'EML_ERR\((EML_ERR_\w+), (\d+), "([^"]+)"\)', open(sys.argv[2]).read())
bad = []
for name, code, msg in msgs:
    for s in (name, msg, "peer error " + code, "defined twice", "not in the policy"):
        if s.encode() in cap:
            bad.append(s)
print("\n".join(sorted(set(bad))))
sys.exit(1 if bad else 0)
EOF2
	e2e_pass "capture of the refused requests: frame types [$types], no Error frame, no refusal code or reason in $(stat -c %s "$W/capture.bin") bytes"
else
	cat "$W/leak.txt"
	e2e_fail "capture of refused requests: types [$types] or a reason in clear"
fi

# The input limit, just over: a batch of 2 is twice the limit.
infer "$W/model" "$W/in-big.pb" "$W/out-big" >"$W/big.out" 2>&1
rc=$?
if [ $rc -ne 0 ] && grep -q "peer error 714:" "$W/big.out" && [ ! -e "$W/out-big" ]; then
	e2e_pass "hostile input above max_input_bytes: refused with 714"
else
	cat "$W/big.out"
	e2e_fail "hostile input above the limit: rc=$rc"
fi

# The same process then serves a good request correctly.
if infer "$W/model" "$W/in.pb" "$W/out-good" >"$W/good.out" 2>&1 &&
	cmp -s "$W/ref/output_0.pb" "$W/out-good/output_0.pb" && kill -0 "$AGENT" 2>/dev/null &&
	[ "$(grep -c '"event":"agent.ready"' "$W/agent.log")" -eq 1 ]; then
	e2e_pass "after $n hostile keys the same agent (PID $AGENT) answers bit-identical to eml run --local"
else
	cat "$W/good.out"
	e2e_fail "good request after the hostile ones"
fi

# Peak RSS: the agent's budget is its weights, one arena, the topology
# and inputs, plus 64 MiB for code, libraries and buffers.
hwm=$(awk '/^VmHWM/ {print $2 * 1024}' "/proc/$AGENT/status")
budget=$((WEIGHT + MAX_ARENA + MAX_TOPO + MAX_INPUT + (64 << 20)))
if [ -n "$hwm" ] && [ "$hwm" -le "$budget" ]; then
	e2e_pass "agent peak RSS $((hwm >> 20)) MiB within its budget of $((budget >> 20)) MiB"
else
	e2e_fail "agent peak RSS ${hwm:-?} above $budget"
fi
exit $E2E_FAILED
