#!/usr/bin/env bash
# A/B the relay row of bench-e2e.sh (one 32 MiB sealed request through
# eml-proxy, then four more on the session): two build directories, each
# with its own eml-agent + eml-proxy + bench_e2e, alternated ROUNDS times;
# prints every run and the best per build (relay_ceiling_MBps: the CPU
# bound bench_e2e measures in-process in the same run). Figures only.
#   scripts/bench-relay-ab.sh BUILD_A BUILD_B [ROUNDS]
set -u
cd "$(dirname "$0")/.."
A=$1 B2=$2 ROUNDS=${3:-5}
source tests/integration/lib/e2e.bash
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=warn
e2e_world request >/dev/null 2>&1 || { echo "bench-relay-ab: setup failed"; exit 1; }
# BENCH_PERF=DIR: agents, proxies and clients run under perf record -g
# (DIR/{agent,proxy,client}-{a,b}.data); their CPU figures then include
# perf's own overhead.
P=()
[ -n "${BENCH_PERF:-}" ] && mkdir -p "$BENCH_PERF"
perfw() { # WHAT TAG
	[ -n "${BENCH_PERF:-}" ] && echo perf record -q -g -o "$BENCH_PERF/$1-$2.data" --
}
# TAG BUILDDIR: an agent and its proxy from that build (e2e_bench_pair);
# debug: the agents' infer.phases lines (open_us: hash + decrypt)
start() {
	E2E_BENCH_WRAP=perfw e2e_bench_pair "$1" '{"version":1,"limits":{"max_input_bytes":1048576}}' \
		"$2/bin" debug
}
start a "$A" && start b "$B2" || { echo "bench-relay-ab: start failed"; exit 1; }
# CPU ms (user + system) a process has used so far
[ -n "${BENCH_PIDS:-}" ] && echo "pids agent-a $APID_a proxy-a $PPID_a agent-b $APID_b proxy-b $PPID_b" >"$BENCH_PIDS"
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) * 1000 / hz }' "/proc/$1/stat"; }
for i in $(seq 1 "$ROUNDS"); do
	for t in a b; do
		bd=$A; [ $t = b ] && bd=$B2
		eval "port=\$PORT_$t apid=\$APID_$t ppid=\$PPID_$t"
		a0=$(cpu_ms "$apid") p0=$(cpu_ms "$ppid")
		/usr/bin/time -f "$t cpu client_ms=%U+%S" $(perfw client "$t") "$bd/bench/bench_e2e" --proxy "127.0.0.1:$port" \
			--policy "$W/client-$t.json" --model "$W/model" --relay-mb 32 2>&1 |
			grep 'relay\|cpu' | sed "s/^e2e/$t e2e/"
		echo "$t cpu agent_ms=$(($(cpu_ms "$apid" | cut -d. -f1) - ${a0%.*})) proxy_ms=$(($(cpu_ms "$ppid" | cut -d. -f1) - ${p0%.*}))"
	done
done | tee "$W/out" | awk '
	{ for (i = 1; i <= NF; i++) if ($i ~ /^relay(_warm|_ceiling)?_MBps=/) { split($i, kv, "="); k = $1 " " kv[1]
	  if (!(k in best) || kv[2] + 0 > best[k]) best[k] = kv[2] + 0 } print }
	END { for (k in best) printf "best %s %.1f\n", k, best[k] }'
for t in a b; do
	grep -ho '"open_us": *[0-9]*\|open_us=[0-9]*' "$W/agent-$t.log" | grep -o '[0-9]*$' | sort -n |
		awk -v t=$t 'NR == 1 { m = $1 } { s[NR] = $1 } END { if (NR) printf "agent %s open_us min %d median %d (n=%d)\n", t, m, s[int((NR + 1) / 2)], NR }'
done
