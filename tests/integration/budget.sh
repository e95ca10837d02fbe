#!/usr/bin/env bash
# Admission control through the real processes (issue 11): the agent's
# policy caps the locked memory of all sessions (limits.memory_budget_bytes).
#   1 a budget too small for the model: the request is answered BUSY (701,
#     sealed), the agent stays up
#   2 a budget for about one request and 8 clients at once: every client
#     gets either its correct answer or BUSY, never anything else; the
#     agent never dies and serves a request afterwards
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: budget: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
e2e_world request || { cat "$W"/*.log; echo "FAIL: budget: setup"; exit 1; }
e2e_make_input "$W/in.pb" 9
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W/ref.log"; echo "FAIL: budget: eml run --local"; exit 1; }
p0=$(printf 'EphemeralML simulator PCR0' | sha384sum | cut -d' ' -f1)
p1=$(printf 'EphemeralML simulator PCR1' | sha384sum | cut -d' ' -f1)
p2=$(printf 'EphemeralML simulator PCR2' | sha384sum | cut -d' ' -f1)

start() { # BUDGET
	printf '{"version":1,"models":["%s"],"limits":{"memory_budget_bytes":%s}}\n' \
		"$E2E_CID" "$1" >"$W/agent-policy.json"
	e2e_client_policy "$W/client.json" "$p0" "$p1" "$p2" \
		"$("$EML_AGENT" --policy-digest --policy "$W/agent-policy.json")"
	rm -f "$W/agent.sock"
	e2e_start "agent-$1" "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim \
		--sim-dir "$W/sim" --policy "$W/agent-policy.json"
	AGENT=$E2E_LAST_PID
	e2e_wait_unix "$W/agent.sock" || return 1
	PORT=$(e2e_free_port)
	mkdir -p "$W/store"
	e2e_start "proxy-$1" "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" \
		--agent "unix:$W/agent.sock" --weights "$W/store"
	PROXY=$E2E_LAST_PID
	e2e_wait_tcp "$PORT" || return 1
	"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >/dev/null 2>&1
}
infer() { # OUTDIR
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client.json" \
		--input "$W/in.pb" --output-dir "$1" --timeout 30000 --quiet
}

# ---------------------------------------------------------------- 1
start $((1 << 20)) || { echo "FAIL: budget: start"; exit 1; }
infer "$W/out-tiny" >"$W/tiny.out" 2>&1
rc=$?
if [ $rc -eq 3 ] && grep -q 'peer error 701:' "$W/tiny.out" && [ ! -e "$W/out-tiny" ] &&
	kill -0 "$AGENT" 2>/dev/null; then
	e2e_pass "budget below one request: BUSY (701, exit 3), agent up"
else
	cat "$W/tiny.out"
	e2e_fail "budget below one request: rc=$rc"
fi
e2e_stop "$PROXY"
e2e_stop "$AGENT"

# ---------------------------------------------------------------- 2
start $((6 << 20)) || { echo "FAIL: budget: start"; exit 1; }
pids=()
for c in $(seq 1 8); do
	infer "$W/out-c$c" >"$W/c$c.out" 2>&1 &
	pids+=($!)
done
ok=0 busy=0 other=0
for c in $(seq 1 8); do
	wait "${pids[$((c - 1))]}"
	rc=$?
	if [ $rc -eq 0 ] && cmp -s "$W/ref/output_0.pb" "$W/out-c$c/output_0.pb"; then
		ok=$((ok + 1))
	elif [ $rc -eq 3 ] && grep -q 'EML_ERR_BUSY' "$W/c$c.out" && [ ! -e "$W/out-c$c" ]; then
		busy=$((busy + 1))
	else
		other=$((other + 1))
		cat "$W/c$c.out"
	fi
done
infer "$W/out-after" >"$W/after.out" 2>&1
arc=$?
# How many of the eight get through depends on how their handshakes
# interleave (under load all eight may hold the budget at once and all be
# BUSY); what must hold is that each is correct or BUSY, and that the
# budget is given back: the request after them is served.
if [ $other -eq 0 ] && [ $((ok + busy)) -eq 8 ] && kill -0 "$AGENT" 2>/dev/null && [ $arc -eq 0 ] &&
	cmp -s "$W/ref/output_0.pb" "$W/out-after/output_0.pb"; then
	e2e_pass "8 clients on a 6 MiB budget: $ok correct, $busy BUSY, nothing else; agent up and serving after"
else
	cat "$W/after.out"
	e2e_fail "8 clients on a 6 MiB budget: ok=$ok busy=$busy other=$other after=$arc"
fi
exit $E2E_FAILED
