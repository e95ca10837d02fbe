#!/usr/bin/env bash
# A/B the demo model's per-request row of bench-e2e.sh (issue 16): two
# build directories, each with its own eml-agent (sim, per-request
# assembly, debug log) + eml-proxy + bench_e2e, alternated ROUNDS times.
# Per run: the client's median and the agent's CPU time per request
# (utime + stime from /proc over the run, the warm-up request counted in);
# at the end, per build, the agent's infer.phases (min/median, us) over
# all runs. Figures only; on a shared machine read the CPU column first.
#   scripts/bench-infer-ab.sh BUILD_A BUILD_B [ROUNDS] [N] [ASSEMBLY]
# ASSEMBLY: request (default) or session.
set -u
cd "$(dirname "$0")/.."
A=$1 B2=$2 ROUNDS=${3:-5} N=${4:-200} ASM=${5:-request}
for bd in "$A" "$B2"; do # each build's client and daemons; make all does not build the benches
	for b in bin/eml-agent bin/eml-proxy bin/eml bench/bench_e2e; do
		[ -x "$bd/$b" ] || { echo "bench-infer-ab: $bd/$b not built (make bench builds it)"; exit 1; }
	done
done
source tests/integration/lib/e2e.bash
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=warn
e2e_world request >/dev/null 2>&1 || { echo "bench-infer-ab: setup failed"; exit 1; }
start() { # TAG BUILDDIR
	local tag=$1 bd=$2 port digest
	printf '{"version":1,"assembly":"%s"}\n' "$ASM" >"$W/$tag-policy.json"
	EML_LOG_LEVEL=debug e2e_start "agent-$tag" "$bd/bin/eml-agent" --listen "unix:$W/$tag.sock" \
		--attest sim --sim-dir "$W/sim" --policy "$W/$tag-policy.json" --max-sessions 128 \
		--insecure-any-model
	e2e_wait_unix "$W/$tag.sock" || return 1
	port=$(e2e_free_port)
	mkdir -p "$W/store"
	e2e_start "proxy-$tag" "$bd/bin/eml-proxy" --listen "tcp:127.0.0.1:$port" \
		--agent "unix:$W/$tag.sock" --weights "$W/store" --rate-limit 0
	e2e_wait_tcp "$port" || return 1
	digest=$("$bd/bin/eml-agent" --policy-digest --policy "$W/$tag-policy.json")
	sed "s/\"policy_digest\": \"[0-9a-f]*\"/\"policy_digest\": \"$digest\"/" "$W/client.json" \
		>"$W/client-$tag.json"
	eval "PORT_$tag=$port"
}
start a "$A" && start b "$B2" || { echo "bench-infer-ab: start failed"; exit 1; }
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >/dev/null 2>&1 ||
	{ echo "bench-infer-ab: blob put failed"; exit 1; }
INPUT=tests/vectors/text-direction-cls/input_0.pb
[ -f "$INPUT" ] || { INPUT="$W/in.pb"; e2e_make_input "$INPUT" 1; }
agent_pid() { pgrep -f -- "--listen unix:$W/$1.sock" | head -1; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
PID_a=$(agent_pid a)
PID_b=$(agent_pid b)
hz=$(getconf CLK_TCK)
for i in $(seq 1 "$ROUNDS"); do
	for t in a b; do
		bd=$A
		[ $t = b ] && bd=$B2
		eval "port=\$PORT_$t pid=\$PID_$t"
		c0=$(cpu_ticks "$pid")
		line=$("$bd/bench/bench_e2e" --label "$t" --proxy "127.0.0.1:$port" \
			--policy "$W/client-$t.json" --model "$W/model" --input "$INPUT" --n "$N" \
			--handshake 0 | grep infer_ms)
		c1=$(cpu_ticks "$pid")
		echo "$t round $i ${line#e2e } agent_cpu_us_per_request=$(((c1 - c0) * 1000000 / hz / (N + 1)))"
	done
done
for t in a b; do
	"$PY" scripts/lib/infer_phases.py "$W/agent-$t.log" "$t phases"
done
