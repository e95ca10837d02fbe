#!/usr/bin/env bash
# make soak: the fault drills of issue 18 at the limits, for minutes (not
# in make test or .ci/run). The real eml-agent (sim, per-session assembly),
# eml-proxy and eml infer:
#
#   load     SOAK_CLIENTS (64) clients, each running `eml infer --repeat 100`
#            in a loop for SOAK_SECONDS (600); every run's exit status and
#            time are recorded; the proxy's audit log gives each request's
#            latency; RSS of proxy and agent and the agent's mappings are
#            sampled every 10 s
#   drills   (each outcome asserted; recovery times measured)
#     stop   agent SIGSTOP for 2 s, then SIGCONT: no run fails
#     churn  1,800 connect-and-close from 127.0.0.2: no run fails
#     idle   32 idle sockets (127.0.0.3) and 8 trickling ones (127.0.0.4,
#            a byte a second): all cut at --handshake-ms, no run fails
#     audit  a second proxy on the same agent with its audit log on a full
#            tmpfs: refused with EML_ERR_AUDIT_DOWN, resumes when space
#            returns (time measured), audit verify passes
#     output eml infer onto a full tmpfs: non-zero exit, no file left
#     kill   agent SIGKILL, restarted 1 s later: clients in flight fail with
#            a code, the proxy stays up, service resumes (time to the first
#            answered request after the restart, from the audit log)
#   the drills come in the last 180 s, the kill last; before them the load
#   is steady. At the end: no run failed outside the kill window; memory
#   flat (peak RSS of the last minute before the drills within 5% of the
#   peak of minute one, both processes: an instant's RSS depends on the
#   sessions live then); the
#   audit log verifies; figures printed (requests/s, p50/p99 latency).
#
# Environment: SOAK_SECONDS (600), SOAK_CLIENTS (64), BUILD, E2E_KEEP=1.
set -u
cd "$(dirname "$0")/.."
# shellcheck source=../tests/integration/lib/e2e.bash
source tests/integration/lib/e2e.bash

SECS=${SOAK_SECONDS:-600}
NCLI=${SOAK_CLIENTS:-64}
# Steady load first (memory flatness is judged there: peak of minute one
# against peak of the last minute before the drills), then the drills in
# the last 180 s, the agent SIGKILL last.
[ "$SECS" -ge 240 ] || { echo "soak: SOAK_SECONDS must be at least 240"; exit 2; }
D0=$((SECS - 180))
D_STOP=$D0 D_CHURN=$((D0 + 20)) D_IDLE=$((D0 + 40)) D_AUDIT=$((D0 + 75)) D_KILL=$((D0 + 115))
for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "soak: $b missing (make all)"; exit 1; }
done
e2e_init
W=$E2E_DIR
MOUNTS=()
soak_cleanup() {
	local rc=$? m
	touch "$W/stop" 2>/dev/null
	for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null; done
	e2e_cleanup
	return $rc
}
trap soak_cleanup EXIT
export EML_LOG_LEVEL=warn
FAILED=0
ok() { echo "PASS: $*"; }
bad() { echo "FAIL: $*"; FAILED=1; }
now_ms() { date +%s%3N; }

e2e_world session || { cat "$W"/*.log; echo "soak: setup failed"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null 2>&1 ||
	{ echo "soak: blob put failed"; exit 1; }
e2e_make_input "$W/in.pb" 5
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >/dev/null 2>&1 ||
	{ echo "soak: eml run --local failed"; exit 1; }

start_agent() {
	rm -f "$W/agent.sock"
	# two sessions beyond the clients' for the drills' own clients
	e2e_start "agent-$(now_ms)" "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim \
		--sim-dir "$W/sim" --policy "$W/agent-policy.json" --max-sessions $((NCLI + 2))
	AGENT_PID=$E2E_LAST_PID
	echo "$AGENT_PID" >"$W/agent.pid"
	e2e_wait_unix "$W/agent.sock"
}
start_agent || { echo "soak: agent did not start"; exit 1; }
PORT=$(e2e_free_port)
# --max-clients twice the agent's sessions: the drills add connections
# (churn, idle, trickling) beside the 64 clients, and with the house
# exactly full a client reconnecting between two runs would race them.
# --rate-limit 0: the 64 clients share one address, and the per-address
# rate limit (60 a minute by default) is not what this run measures.
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --audit "$W/audit.log" --max-clients $((2 * NCLI)) --rate-limit 0
PROXY_PID=$E2E_LAST_PID
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; exit 1; }

infer() { # PORT OUTDIR [extra]
	local port=$1 out=$2
	shift 2
	"$EML" infer --proxy "127.0.0.1:$port" --model "$W/model" --policy "$W/client.json" \
		--input "$W/in.pb" --output-dir "$out" --timeout 60000 --quiet "$@"
}

# ---------------------------------------------------------------- load
worker() { # N: runs until $W/stop exists; one line per run: end_ms rc
	local n=$1 rc
	while [ ! -e "$W/stop" ]; do
		infer "$PORT" "$W/w$n" --repeat 100 >"$W/w$n.last" 2>&1
		rc=$?
		echo "$(now_ms) $rc" >>"$W/w$n.runs"
		[ $rc -ne 0 ] && cat "$W/w$n.last" >>"$W/w$n.errors"
	done
}
T0=$(now_ms)
for n in $(seq 1 "$NCLI"); do
	worker "$n" &
	E2E_PIDS+=($!)
done

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
sampler() {
	while [ ! -e "$W/stop" ]; do
		local a
		a=$(cat "$W/agent.pid")
		echo "$(( ($(now_ms) - T0) / 1000 )) $(rss_kb "$PROXY_PID") $(rss_kb "$a") $(wc -l <"/proc/$a/maps" 2>/dev/null || echo 0)" >>"$W/mem.txt"
		sleep 10
	done
}
sampler &
E2E_PIDS+=($!)

# Time of the first run that ended OK after T (ms), or empty.
first_ok_after() {
	cat "$W"/w*.runs 2>/dev/null | awk -v t="$1" '$1 > t && $2 == 0 {print $1}' | sort -n | head -1
}
# Time (ms) of the first request answered after T according to the proxy's
# audit log (a run is 100 requests; this is the first request).
first_request_after() {
	"$PY" - "$W/audit.log" "$1" <<'EOF'
import datetime, json, sys
t = int(sys.argv[2])
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("kind") != "request" or o.get("err") != 0:
        continue
    ms = int(datetime.datetime.strptime(o["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
             .replace(tzinfo=datetime.timezone.utc).timestamp() * 1000)
    if ms > t:
        print(ms)
        break
EOF
}
# Runs that failed in [A, B] (ms).
fails_between() {
	cat "$W"/w*.runs 2>/dev/null | awk -v a="$1" -v b="$2" '$1 >= a && $1 <= b && $2 != 0' | wc -l
}
at() { # SECONDS: sleep until T0 + SECONDS
	local left=$(( T0 + $1 * 1000 - $(now_ms) ))
	[ $left -gt 0 ] && sleep "$(awk -v l="$left" 'BEGIN {print l / 1000}')"
	return 0
}

WINDOWS=() # "start end" of windows where failures are expected (ms)

# ---------------------------------------------------------------- stop
at $D_STOP
S0=$(now_ms)
kill -STOP "$(cat "$W/agent.pid")"
sleep 2
kill -CONT "$(cat "$W/agent.pid")"
S1=$(now_ms)
sleep 8
sfirst=$(first_request_after "$S1")
sfail=$(fails_between "$S0" "$(now_ms)")
if [ "$sfail" -eq 0 ] && [ -n "$sfirst" ]; then
	ok "stop: agent SIGSTOP 2 s / SIGCONT: 0 runs failed; first request answered $((sfirst - S1)) ms after SIGCONT"
else
	bad "stop: $sfail run(s) failed"
fi

# ---------------------------------------------------------------- churn
at $D_CHURN
C0=$(now_ms)
"$PY" - "$PORT" >"$W/churn.out" 2>&1 <<'EOF'
import socket, sys, time
port, done = int(sys.argv[1]), 0
for burst in range(6):
    socks = []
    for _ in range(300):
        s = socket.socket()
        s.bind(("127.0.0.2", 0))
        try:
            s.connect(("127.0.0.1", port)); done += 1
        except OSError:
            pass
        socks.append(s)
    for s in socks:
        s.close()
    time.sleep(0.2)
print(done)
EOF
sleep 5
cfail=$(fails_between "$C0" "$(now_ms)")
if [ "$cfail" -eq 0 ] && [ "$(cat "$W/churn.out")" = 1800 ]; then
	ok "churn: 1800 connect-and-close, 0 runs failed"
else
	bad "churn: $(cat "$W/churn.out") churned, $cfail run(s) failed"
fi

# ---------------------------------------------------------------- idle
at $D_IDLE
I0=$(now_ms)
"$PY" - "$PORT" >"$W/idle.out" 2>&1 <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
idle, drip = [], []
for _ in range(32):
    s = socket.socket(); s.bind(("127.0.0.3", 0)); s.connect(("127.0.0.1", port)); idle.append(s)
for _ in range(8):
    s = socket.socket(); s.bind(("127.0.0.4", 0)); s.connect(("127.0.0.1", port)); drip.append(s)
t0 = time.time()
cut = {}
while time.time() - t0 < 20 and len(cut) < 40:
    for i, s in enumerate(drip):
        if ("d", i) in cut:
            continue
        try:
            s.send(b"\x00")
        except OSError:
            cut[("d", i)] = time.time() - t0
    for i, s in enumerate(idle + drip):
        key = ("i", i) if i < 32 else ("d", i - 32)
        if key in cut:
            continue
        s.setblocking(False)
        try:
            if s.recv(4096) == b"":
                cut[key] = time.time() - t0
            else:
                cut[key] = time.time() - t0
        except BlockingIOError:
            pass
        except OSError:
            cut[key] = time.time() - t0
    time.sleep(1)
print(len(cut), "%.1f" % max(cut.values() or [0]))
EOF
ifail=$(fails_between "$I0" "$(now_ms)")
read -r icut imax <"$W/idle.out"
if [ "${icut:-0}" -eq 40 ] && [ "$ifail" -eq 0 ]; then
	ok "idle/trickle: 32 idle + 8 trickling sockets all cut (last after ${imax} s; --handshake-ms 10000), 0 runs failed"
else
	bad "idle/trickle: ${icut:-?}/40 cut, $ifail run(s) failed"
fi

# ---------------------------------------------------------------- audit
at $D_AUDIT
mkdir -p "$W/auditfs"
if mount -t tmpfs -o size=256k tmpfs "$W/auditfs" 2>/dev/null; then
	MOUNTS+=("$W/auditfs")
	P2=$(e2e_free_port)
	e2e_start proxy-audit "$EML_PROXY" --listen "tcp:127.0.0.1:$P2" --agent "unix:$W/agent.sock" \
		--weights "$W/store" --audit "$W/auditfs/audit.log" --health-ms 200 --rate-limit 0
	P2PID=$E2E_LAST_PID
	e2e_wait_tcp "$P2"
	infer "$P2" "$W/a0" >/dev/null 2>&1
	a0=$?
	dd if=/dev/zero of="$W/auditfs/fill" bs=4096 >/dev/null 2>&1
	arc=0
	for _ in $(seq 1 40); do
		infer "$P2" "$W/a1" >"$W/a1.out" 2>&1
		arc=$?
		[ $arc -ne 0 ] && break
	done
	rm -f "$W/auditfs/fill"
	A1=$(now_ms)
	back=""
	for _ in $(seq 1 100); do
		if infer "$P2" "$W/a2" >/dev/null 2>&1; then back=$(now_ms); break; fi
		sleep 0.05
	done
	e2e_stop "$P2PID"
	if [ $a0 -eq 0 ] && [ $arc -eq 3 ] && grep -q EML_ERR_AUDIT_DOWN "$W/a1.out" && [ -n "$back" ] &&
		"$EML_PROXY" audit verify "$W/auditfs/audit.log" >/dev/null 2>&1; then
		ok "audit disk full (tmpfs): refused with EML_ERR_AUDIT_DOWN; served again $((back - A1)) ms after space returned; audit verify passes"
	else
		bad "audit disk full: first=$a0 refused=$arc back=${back:-never}"
	fi
else
	echo "SKIP: audit disk full: cannot mount a tmpfs"
fi

# ---------------------------------------------------------------- output
mkdir -p "$W/outfs"
if mount -t tmpfs -o size=64k tmpfs "$W/outfs" 2>/dev/null; then
	MOUNTS+=("$W/outfs")
	mkdir -p "$W/outfs/o"
	dd if=/dev/zero of="$W/outfs/fill" bs=4096 >/dev/null 2>&1
	infer "$PORT" "$W/outfs/o" >"$W/o.out" 2>&1
	orc=$?
	left=$(find "$W/outfs/o" -type f | wc -l)
	if [ $orc -ne 0 ] && [ "$left" -eq 0 ]; then
		ok "output disk full: eml infer exit $orc, no file left"
	else
		bad "output disk full: exit $orc, $left file(s) left"
	fi
else
	echo "SKIP: output disk full: cannot mount a tmpfs"
fi

# ---------------------------------------------------------------- kill
at $D_KILL
K0=$(now_ms)
kill -9 "$(cat "$W/agent.pid")"
sleep 1
start_agent || bad "kill: the agent did not restart"
K1=$(now_ms)
sleep 20
kfirst=$(first_request_after "$K1")
kfail=$(fails_between "$K0" "$(now_ms)")
WINDOWS+=("$K0 $(now_ms)")
kcodes=$(cat "$W"/w*.errors 2>/dev/null | grep -o 'EML_ERR_[A-Z_]*' | sort | uniq -c | tr '\n' ' ')
if kill -0 "$PROXY_PID" 2>/dev/null && [ -n "$kfirst" ]; then
	ok "kill: agent SIGKILL; $kfail run(s) failed with a code ($kcodes); proxy up; first request answered $((kfirst - K1)) ms after the restart"
else
	bad "kill: proxy up? $(kill -0 "$PROXY_PID" 2>/dev/null && echo yes || echo no); no answer after restart"
fi

# ---------------------------------------------------------------- end
at "$SECS"
T1=$(now_ms)
touch "$W/stop"
wait_workers=0
for _ in $(seq 1 600); do
	pgrep -f "$W/model" >/dev/null || break
	sleep 0.1
	wait_workers=$((wait_workers + 1))
done
outside=0
while read -r t rc; do
	[ "$rc" -eq 0 ] && continue
	in=0
	for w in "${WINDOWS[@]}"; do
		set -- $w
		[ "$t" -ge "$1" ] && [ "$t" -le "$2" ] && in=1
	done
	[ $in -eq 0 ] && outside=$((outside + 1))
done < <(cat "$W"/w*.runs)
# outputs are written atomically: no temporary file survives, whatever
# was killed when
left=$(find "$W" -name '*.tmp-*' | wc -l)
[ "$left" -eq 0 ] && ok "outputs: no temporary output file left behind" ||
	bad "outputs: $left temporary output file(s) left behind"
runs=$(cat "$W"/w*.runs | wc -l)
okruns=$(cat "$W"/w*.runs | awk '$2 == 0' | wc -l)
[ "$outside" -eq 0 ] && ok "runs: $okruns/$runs ok; 0 failures outside the kill window" ||
	{ bad "runs: $outside failure(s) outside the kill window"; cat "$W"/w*.errors | sort | uniq -c | head; }

e2e_stop "$PROXY_PID"
"$EML_PROXY" audit verify "$W/audit.log" >"$W/verify.out" 2>&1 && ok "audit log: $(head -1 "$W/verify.out")" ||
	bad "audit log: $(cat "$W/verify.out")"
"$PY" - "$W/audit.log" "$T0" "$T1" <<'EOF'
import json, sys
lat = []
for line in open(sys.argv[1]):
    o = json.loads(line)
    if o.get("kind") == "request" and o.get("err") == 0:
        lat.append(o["latency_ms"])
lat.sort()
secs = (int(sys.argv[3]) - int(sys.argv[2])) / 1000
pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")
print("figures: %d requests in %.0f s = %.1f requests/s; latency p50 %.1f ms, p99 %.1f ms (proxy audit latency_ms)"
      % (len(lat), secs, len(lat) / secs, pct(0.50), pct(0.99)))
EOF
echo "memory (s, proxy RSS KiB, agent RSS KiB, agent mappings):"
cat "$W/mem.txt"
# An instant's RSS depends on how many sessions happen to be live (each
# holds its arena until it ends), so "flat" compares peaks over a minute:
# minute one against the last minute before the drills (at D0).
awk -v d0="$D0" '
	{ t[NR] = $1; p[NR] = $2; a[NR] = $3; n = NR }
	END {
		for (i = 1; i <= n; i++) {
			if (t[i] >= 60 && t[i] < 120) { if (p[i] > p1) p1 = p[i]; if (a[i] > a1) a1 = a[i] }
			if (t[i] > d0 - 60 && t[i] <= d0) { if (p[i] > pl) pl = p[i]; if (a[i] > al) al = a[i] }
		}
		if (p1 == 0 || a1 == 0) { print "FAIL: memory: no sample in minute one"; exit 1 }
		dp = (pl - p1) / p1 * 100; da = (al - a1) / a1 * 100
		printf "memory: peak in minute one: proxy %d KiB, agent %d KiB; peak in the last minute before the drills (%d s): proxy %d KiB (%+.1f%%), agent %d KiB (%+.1f%%)\n", p1, a1, d0, pl, dp, al, da
		if (dp > 5 || da > 5) { print "FAIL: memory grew more than 5%"; exit 1 }
		print "PASS: memory flat (last minute before the drills within 5% of minute one)"
	}' "$W/mem.txt" || FAILED=1
exit $FAILED
