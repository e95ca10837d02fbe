#!/usr/bin/env bash
# Memory mappings per agent session (issue 18): N clients (default 16)
# each holding one session of R requests (default 300) through the real
# proxy to a per-session-assembly agent; the agent's /proc/PID/maps is
# sampled every 0.1 s with the sessions live then (established minus
# ended, from the agent's log). Prints the idle count, the count at the
# sample with the most live sessions, and the mappings per live session. BUILD selects the binaries (another build's
# directory measures "before").
#   BUILD=build bash scripts/bench-mappings.sh [N] [R]
set -u
cd "$(dirname "$0")/.."
# shellcheck source=../tests/integration/lib/e2e.bash
source tests/integration/lib/e2e.bash
N=${1:-16}
R=${2:-300}
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=info
e2e_world session >/dev/null 2>&1 || { echo "setup failed"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null 2>&1
e2e_make_input "$W/in.pb" 3
e2e_start agent "$EML_AGENT" --listen "unix:$W/a.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
A=$E2E_LAST_PID
e2e_wait_unix "$W/a.sock" || exit 1
PORT=$(e2e_free_port)
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/a.sock" \
	--weights "$W/store"
e2e_wait_tcp "$PORT" || exit 1
sleep 0.5
base=$(wc -l <"/proc/$A/maps")
pids=()
for c in $(seq 1 "$N"); do
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client.json" \
		--input "$W/in.pb" --output-dir "$W/o$c" --repeat "$R" --quiet --timeout 120000 \
		>/dev/null 2>&1 &
	pids+=($!)
done
# A client that exited stays a zombie until waited for (kill -0 still
# finds it): look at its state.
clients_running() {
	local p st
	for p in "${pids[@]}"; do
		st=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)
		[ -n "$st" ] && [ "$st" != Z ] && return 0
	done
	return 1
}
peak=$base
live_at_peak=0
while clients_running; do
	m=$(wc -l <"/proc/$A/maps")
	est=$(grep -c '"session.established"' "$W/agent.log")
	end=$(grep -c '"session.end"' "$W/agent.log")
	live=$((est - end))
	# the sample with the most live sessions (then the most mappings)
	if [ $live -gt $live_at_peak ] || { [ $live -eq $live_at_peak ] && [ "$m" -gt "$peak" ]; }; then
		peak=$m
		live_at_peak=$live
	fi
	sleep 0.1
done
wait "${pids[@]}"
echo "agent mappings: idle $base, peak $peak with $live_at_peak live sessions" \
	"($N clients x $R requests): $(( (peak - base) / (live_at_peak > 0 ? live_at_peak : 1) )) per session"
