#!/usr/bin/env bash
# Reliable at its own limits (issue 18), with the real eml-agent (sim),
# eml-proxy and eml infer. Short versions of the drills in `make soak`.
#
#   1 64 concurrent clients at the default limits (agent --max-sessions 64,
#     proxy --max-clients 64): all succeed with the right answer, and the
#     agent's memory mappings stay within its per-session bound
#   2 health probes never take a session slot: agent --max-sessions 4,
#     two probe connections held open, the proxy probing every 10 ms,
#     4 clients x 3 rounds: none is BUSY
#   3 churn: 1,800 TCP connect-and-close on the proxy (6 bursts of 300,
#     from 127.0.0.2) while good clients run: none of them fails
#   4 one address cannot lock everyone out: 64 idle sockets from
#     127.0.0.2 fill the proxy; a client from 127.0.0.1 is served in the
#     place of the oldest of them (cut, audited as per_peer_handshake)
#   5 the sole agent marked down is retried before a client is refused
#   6 --max-sessions that the process limits cannot hold: the agent does
#     not start, and says what to raise
#
# One PASS/FAIL line per case; exit status 1 when any failed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: limits: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=info

e2e_world session || { cat "$W"/*.log; echo "FAIL: limits: setup"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; echo "FAIL: limits: blob put"; exit 1; }

start_agent() { # NAME SOCK [extra args]; sets AGENT_PID
	local name=$1 sock=$2
	shift 2
	rm -f "$sock"
	e2e_start "$name" "$EML_AGENT" --listen "unix:$sock" --attest sim \
		--sim-dir "$W/sim" --policy "$W/agent-policy.json" "$@"
	AGENT_PID=$E2E_LAST_PID
	e2e_wait_unix "$sock" || { cat "$W/$name.log"; return 1; }
}

start_proxy() { # NAME SOCK [extra args]; sets PROXY_PORT, PROXY_PID
	local name=$1 sock=$2
	shift 2
	PROXY_PORT=$(e2e_free_port)
	# --rate-limit 0: every client here shares 127.0.0.1, and these
	# drills are about the session and connection limits, not the
	# per-address request rate (tests/integration/operator.sh)
	e2e_start "$name" "$EML_PROXY" --listen "tcp:127.0.0.1:$PROXY_PORT" \
		--agent "unix:$sock" --weights "$W/store" --rate-limit 0 "$@"
	PROXY_PID=$E2E_LAST_PID
	e2e_wait_tcp "$PROXY_PORT" || { cat "$W/$name.log"; return 1; }
}

infer() { # PORT INPUT OUTDIR [extra]
	local port=$1 in=$2 out=$3
	shift 3
	"$EML" infer --proxy "127.0.0.1:$port" --model "$W/model" --policy "$W/client.json" \
		--input "$in" --output-dir "$out" --timeout 60000 --quiet "$@"
}

same_outputs() { cmp -s "$1/output_0.pb" "$2/output_0.pb"; }

maps_of() { wc -l <"/proc/$1/maps" 2>/dev/null || echo 0; }

e2e_make_input "$W/in.pb" 7
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W/ref.log"; echo "FAIL: limits: eml run --local"; exit 1; }

# ---------------------------------------------------------------- 1
start_agent agent1 "$W/a1.sock" || { echo "FAIL: limits: agent did not start"; exit 1; }
A1=$AGENT_PID
start_proxy proxy1 "$W/a1.sock" || { echo "FAIL: limits: proxy did not start"; exit 1; }
P1=$PROXY_PID
PORT1=$PROXY_PORT
base=$(maps_of "$A1")
peak=$base
pids=()
for c in $(seq 0 63); do
	infer "$PORT1" "$W/in.pb" "$W/out1-$c" --repeat 4 >"$W/c1-$c.out" 2>&1 &
	pids+=($!)
done
running=1
while [ $running -eq 1 ]; do
	running=0
	for pid in "${pids[@]}"; do
		kill -0 "$pid" 2>/dev/null && { running=1; break; }
	done
	m=$(maps_of "$A1")
	[ "$m" -gt "$peak" ] && peak=$m
	sleep 0.05
done
ok=0
for c in $(seq 0 63); do
	wait "${pids[$c]}" && same_outputs "$W/ref" "$W/out1-$c" && ok=$((ok + 1))
done
# eml_agent_mappings_per_session: 24 for the arena, 2 for the thread, 4 slack
bound=$((64 * 30))
if [ $ok -eq 64 ] && [ $((peak - base)) -le $bound ]; then
	e2e_pass "64 concurrent clients at the default limits: 64/64 correct; agent mappings $base -> peak $peak (bound +$bound)"
else
	for c in $(seq 0 63); do grep -H . "$W/c1-$c.out" | head -2; done | sort | uniq -c | head -10
	e2e_fail "64 concurrent clients: $ok/64 correct; agent mappings $base -> peak $peak (bound +$bound)"
fi

# ---------------------------------------------------------------- 2
# A probe in flight (connected to the agent, nothing sent yet) while the
# agent's sessions are all wanted: with --max-sessions 4, two held probe
# connections and the proxy probing every 10 ms, 4 clients x 3 rounds are
# all served.
start_agent agent2 "$W/a2.sock" --max-sessions 4 || { echo "FAIL: limits: agent2"; exit 1; }
A2=$AGENT_PID
start_proxy proxy2 "$W/a2.sock" --max-clients 4 --health-ms 10 || { echo "FAIL: limits: proxy2"; exit 1; }
P2=$PROXY_PID
"$PY" - "$W/a2.sock" "$W/probe.go" "$W/probe.stop" <<'EOF2' &
import os, socket, sys, time
held = []
for _ in range(2):
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    held.append(s)
open(sys.argv[2], "w").close()
for _ in range(600):
    if os.path.exists(sys.argv[3]):
        break
    time.sleep(0.05)
EOF2
holder=$!
for _ in $(seq 1 100); do [ -e "$W/probe.go" ] && break; sleep 0.05; done
ok=0
for round in 1 2 3; do
	pids=()
	for c in 0 1 2 3; do
		infer "$PROXY_PORT" "$W/in.pb" "$W/out2-$round-$c" --repeat 5 >"$W/c2-$round-$c.out" 2>&1 &
		pids+=($!)
	done
	for c in 0 1 2 3; do
		wait "${pids[$c]}" && same_outputs "$W/ref" "$W/out2-$round-$c" && ok=$((ok + 1))
	done
done
touch "$W/probe.stop"
wait "$holder"
if [ $ok -eq 12 ] && ! grep -q EML_ERR_BUSY "$W"/c2-*.out; then
	e2e_pass "probes never take a session: 2 held probe connections + probes every 10 ms, 12/12 clients at --max-sessions 4 served"
else
	grep -h . "$W"/c2-*.out | sort | uniq -c | head -5
	e2e_fail "probes take sessions: $ok/12 served"
fi
e2e_stop "$P2"
e2e_stop "$A2"

# ---------------------------------------------------------------- 3
"$PY" - "$PORT1" >"$W/churn.out" 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
done = 0
for burst in range(6):
    socks = []
    for _ in range(300):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        try:
            s.connect(("127.0.0.1", port))
            done += 1
        except OSError as e:
            print("connect failed:", e)
        socks.append(s)
    for s in socks:
        s.close()
    time.sleep(0.2)
print("churned", done)
EOF
churn=$!
good=0
total=0
while kill -0 "$churn" 2>/dev/null || [ $total -lt 16 ]; do
	pids=()
	for c in 0 1 2 3; do
		infer "$PORT1" "$W/in.pb" "$W/out3-$total-$c" >"$W/c3-$total-$c.out" 2>&1 &
		pids+=($!)
	done
	for c in 0 1 2 3; do
		wait "${pids[$c]}" && same_outputs "$W/ref" "$W/out3-$total-$c" && good=$((good + 1))
	done
	total=$((total + 4))
	[ $total -ge 400 ] && break
done
wait "$churn"
churned=$(sed -n 's/^churned //p' "$W/churn.out")
if [ "$good" -eq "$total" ] && [ "${churned:-0}" -eq 1800 ] && kill -0 "$A1" 2>/dev/null; then
	e2e_pass "churn: 1800 connect-and-close on the proxy; $good/$total good requests answered during it"
else
	grep -h . "$W"/c3-*.out | sort | uniq -c | head -5
	head -3 "$W/churn.out"
	e2e_fail "churn: ${churned:-0} churned, $good/$total good requests answered"
fi

# ---------------------------------------------------------------- 4
"$PY" - "$PORT1" "$W/idle.go" >"$W/idle.out" 2>&1 <<'EOF' &
import os, socket, sys, time
port, go = int(sys.argv[1]), sys.argv[2]
socks = []
for _ in range(64):
    s = socket.socket()
    s.bind(("127.0.0.2", 0))
    s.connect(("127.0.0.1", port))
    socks.append(s)
open(go, "w").close()
time.sleep(3)
# a refused socket has its Error frame waiting, or is closed
refused = 0
for s in socks:
    s.setblocking(False)
    try:
        b = s.recv(4096)
        refused += 1
    except BlockingIOError:
        pass
print("refused", refused)
EOF
idle=$!
for _ in $(seq 1 100); do [ -e "$W/idle.go" ] && break; sleep 0.05; done
infer "$PORT1" "$W/in.pb" "$W/out4" >"$W/c4.out" 2>&1
rc=$?
wait "$idle"
refused=$(sed -n 's/^refused //p' "$W/idle.out")
if [ $rc -eq 0 ] && same_outputs "$W/ref" "$W/out4" && [ "${refused:-0}" -eq 1 ] &&
	grep -q '"reason":"per_peer_handshake"' "$W/proxy1.log"; then
	e2e_pass "64 idle sockets from one address fill the proxy: the oldest is cut (per_peer_handshake), another address served"
else
	cat "$W/c4.out" "$W/idle.out"
	e2e_fail "idle sockets: client rc=$rc, cut=${refused:-?} (want 1)"
fi
e2e_stop "$P1"
e2e_stop "$A1"

# ---------------------------------------------------------------- 5
# The proxy starts before its only agent, probes once a minute: the
# first probe marks the agent down; the client must still be served.
rm -f "$W/a5.sock"
start_proxy proxy5 "$W/a5.sock" --health-ms 60000 || { echo "FAIL: limits: proxy5"; exit 1; }
P5=$PROXY_PID
for _ in $(seq 1 100); do grep -q '"agent.down"' "$W/proxy5.log" && break; sleep 0.05; done
start_agent agent5 "$W/a5.sock" || { echo "FAIL: limits: agent5"; exit 1; }
infer "$PROXY_PORT" "$W/in.pb" "$W/out5" >"$W/c5.out" 2>&1
rc=$?
if grep -q '"agent.down"' "$W/proxy5.log" && [ $rc -eq 0 ] && same_outputs "$W/ref" "$W/out5"; then
	e2e_pass "the sole agent, marked down, is retried before the client is refused"
else
	cat "$W/c5.out"
	e2e_fail "sole agent retry: client rc=$rc"
fi
e2e_stop "$P5"
e2e_stop "$AGENT_PID"

# ---------------------------------------------------------------- 6
# ASan reserves terabytes of shadow address space at start, so under
# sanitizers an address-space limit stops the process before main().
if [ -n "${EML_SANFLAGS:-}" ]; then
	echo "SKIP: start-up RLIMIT_AS check: sanitizer build (ASan cannot start under ulimit -v)"
	exit $E2E_FAILED
fi
(
	ulimit -v 4194304
	timeout 20 "$EML_AGENT" --listen "unix:$W/a6.sock" --attest sim --sim-dir "$W/sim" \
		--policy "$W/agent-policy.json" >"$W/agent6.log" 2>&1
)
rc=$?
if [ $rc -eq 2 ] && grep -q 'RLIMIT_AS' "$W/agent6.log" && grep -q 'ulimit -v' "$W/agent6.log" &&
	[ ! -S "$W/a6.sock" ]; then
	e2e_pass "--max-sessions 64 in 4 GiB of address space: refused at start (exit 2), says to raise ulimit -v"
else
	cat "$W/agent6.log"
	e2e_fail "start-up check: exit $rc"
fi

exit $E2E_FAILED
