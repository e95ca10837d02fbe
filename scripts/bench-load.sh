#!/usr/bin/env bash
# Mixed load (issue 17): LOAD_USERS (50) concurrent users for LOAD_SECONDS
# (20; `make soak` runs 600), half interactive, half jobs, through two
# eml-proxy processes sharing one SQLite job queue (LOAD_QUEUE=redis: one
# redis-server) in front of two eml-agent processes sharing one job key.
# At 1/3 of the run proxy A is SIGKILLed and restarted, at 2/3 agent 1.
# Prints latency percentiles per traffic kind, jobs per second, peak RSS
# of the proxies and agents (VmHWM, sampled), and what was lost or run
# twice to completion. Figures only; exits non-zero only when a job was
# lost, completed twice, or answered wrongly.
set -u
cd "$(dirname "$0")/.."
# shellcheck source=../tests/integration/lib/e2e.bash
source tests/integration/lib/e2e.bash
SECONDS_RUN=${LOAD_SECONDS:-20}
USERS=${LOAD_USERS:-50}
QUEUE=${LOAD_QUEUE:-sqlite}
export E2E_QUIET=1 EML_LOG_LEVEL=info
e2e_init
W=$E2E_DIR
e2e_world request >/dev/null 2>&1 || e2e_die "setup"
head -c 32 /dev/urandom >"$W/job.key"
chmod 600 "$W/job.key"
mkdir -p "$W/store"
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >/dev/null 2>&1 || e2e_die "blob put"

if [ "$QUEUE" = redis ]; then
	RPORT=$(e2e_free_port)
	mkdir -p "$W/redis"
	e2e_start redis redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$W/redis" \
		--appendonly yes --appendfsync always --save "" --daemonize no
	e2e_wait_tcp "$RPORT" || e2e_die "redis-server"
	URL="redis://127.0.0.1:$RPORT"
else
	URL="sqlite:$W/queue.db"
fi

declare -A PID
start_agent() { # N
	rm -f "$W/agent$1.sock"
	e2e_start "agent$1-$RANDOM" "$EML_AGENT" --listen "unix:$W/agent$1.sock" --attest sim \
		--sim-dir "$W/sim" --policy "$W/agent-policy.json" --job-key "$W/job.key" \
		--max-sessions 128
	PID[agent$1]=$E2E_LAST_PID
	e2e_wait_unix "$W/agent$1.sock" || e2e_die "agent $1"
}
PPORT=( "$(e2e_free_port)" "$(e2e_free_port)" )
APORT=( "$(e2e_free_port)" "$(e2e_free_port)" )
start_proxy() { # N
	e2e_start "proxy$1-$RANDOM" "$EML_PROXY" --listen "tcp:127.0.0.1:${PPORT[$1]}" \
		--agent "unix:$W/agent0.sock" --agent "unix:$W/agent1.sock" --weights "$W/store" \
		--jobs "$URL" --jobs-listen "tcp:127.0.0.1:${APORT[$1]}" --job-workers 2 \
		--job-run-ms 5000 --job-backoff-ms 200 --health-ms 200 --max-clients 256 \
		--proxy-name "proxy$1" --rate-limit 0
	PID[proxy$1]=$E2E_LAST_PID
	for _ in $(seq 1 100); do
		e2e_wait_tcp "${APORT[$1]}" 1 && e2e_wait_tcp "${PPORT[$1]}" 1 && return 0
	done
	e2e_die "proxy $1"
}
start_agent 0
start_agent 1
start_proxy 0
start_proxy 1

peak() { # PID: VmHWM in kB
	awk '/VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0
}
declare -A HWM=( [proxy]=0 [agent]=0 )
sample() {
	local k v
	for k in proxy0 proxy1; do
		v=$(peak "${PID[$k]}"); [ "${v:-0}" -gt "${HWM[proxy]}" ] && HWM[proxy]=$v
	done
	for k in agent0 agent1; do
		v=$(peak "${PID[$k]}"); [ "${v:-0}" -gt "${HWM[agent]}" ] && HWM[agent]=$v
	done
}

cat >"$W/world.json" <<EOJ
{"dir": "$W", "policy": "$W/client.json", "model": "$W/model",
 "proxies": ["127.0.0.1:${PPORT[0]}", "127.0.0.1:${PPORT[1]}"],
 "apis": ["127.0.0.1:${APORT[0]}", "127.0.0.1:${APORT[1]}"]}
EOJ
PYTHONPATH="$E2E_ROOT/python" EML_LIBRARY="$BUILD/lib/libeml.so" PYTHONDONTWRITEBYTECODE=1 \
	"$PY" tests/bench/load_mixed.py "$W/world.json" "$SECONDS_RUN" "$USERS" \
	>"$W/load.json" 2>"$W/load.err" &
LOADPID=$!
events=()
while kill -0 "$LOADPID" 2>/dev/null; do
	sample
	if [ -e "$W/kill-proxy" ]; then
		rm -f "$W/kill-proxy"
		kill -9 "${PID[proxy0]}"; wait "${PID[proxy0]}" 2>/dev/null
		events+=("proxy0 SIGKILL at $(date +%T)")
		start_proxy 0
	fi
	if [ -e "$W/kill-agent" ]; then
		rm -f "$W/kill-agent"
		kill -9 "${PID[agent1]}"; wait "${PID[agent1]}" 2>/dev/null
		events+=("agent1 SIGKILL at $(date +%T)")
		start_agent 1
	fi
	sleep 0.25
done
wait "$LOADPID"
sample
[ -s "$W/load.json" ] || { cat "$W/load.err"; e2e_die "load driver failed"; }

# Completions per job across every proxy that ever ran.
"$PY" - "$W/load.json" "${HWM[proxy]}" "${HWM[agent]}" "$QUEUE" "${events[*]}" "$W"/proxy*.log <<'EOF'
import collections, json, re, sys
r = json.load(open(sys.argv[1]))
hwm_p, hwm_a, queue, events = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
done = collections.Counter()
for f in sys.argv[6:]:
    for line in open(f, errors="replace"):
        m = re.search(r'"event":"job.completed","cid":"([0-9a-f]{32})"', line)
        if m:
            done[m.group(1)] += 1
twice = [j for j, n in done.items() if n > 1]
never = [j for j in r["job_ids"] if done[j] == 0]
i, j = r["interactive"], r["jobs"]
print(f"load: {r['users']} users ({r['users'] // 2} interactive, {r['users'] - r['users'] // 2} jobs), "
      f"{r['seconds']} s, queue {queue}, chaos: {events}")
print(f"  interactive  n={i['n']:6d}  p50 {i['p50_ms']} ms  p95 {i['p95_ms']} ms  p99 {i['p99_ms']} ms  "
      f"errors {i['errors']} {i['error_kinds']}")
print(f"  jobs         n={j['collected']:6d}  p50 {j['p50_ms']} ms  p95 {j['p95_ms']} ms  p99 {j['p99_ms']} ms  "
      f"{j['per_second']} jobs/s  submit/collect errors {j['errors']} {j['error_kinds']}")
print(f"  acknowledged {j['submitted']}, collected {j['collected']} ({j['collected_after_stop']} after the stop), "
      f"lost {len(r['lost'])}, completed twice {len(twice)}, never completed {len(never)}, wrong answers {len(r['wrong'])}")
print(f"  peak RSS (VmHWM): proxy {hwm_p / 1024:.1f} MiB, agent {hwm_a / 1024:.1f} MiB")
sys.exit(1 if r["lost"] or twice or never or r["wrong"] else 0)
EOF
