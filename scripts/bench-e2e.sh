#!/usr/bin/env bash
# make bench, end-to-end section (issue 6): eml-agent (sim) + eml-proxy on
# local sockets, measured by $BUILD/bench/bench_e2e through libeml:
#   - handshake latency (connect + attestation + verify + keys)
#   - per-request time of eml infer on a warm session vs the engine alone,
#     for the demo model and a bench model (ResNet-18-style), with
#     per-request and per-session assembly
#   - relay throughput (one large sealed request through the proxy)
#   - requests per second at 1, 8 and 32 clients
# Figures only, never thresholds. Short runs: the machine is shared.
set -u
cd "$(dirname "$0")/.."
source tests/integration/lib/e2e.bash
B="$BUILD/bench/bench_e2e"
for b in "$EML" "$EML_AGENT" "$EML_PROXY" "$B"; do
	[ -x "$b" ] || { echo "bench-e2e: $b not built; skipped"; exit 0; }
done
if "$EML_PROXY" --help 2>&1 | grep -q 'not implemented'; then
	echo "bench-e2e: eml-proxy is a stub in this build; skipped"
	exit 0
fi
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=warn
N=${BENCH_E2E_N:-10}
SECS=${BENCH_E2E_SECONDS:-2}

e2e_world request >/dev/null 2>&1 || { echo "bench-e2e: setup failed"; exit 1; }
MODEL=$E2E_MODEL
INPUT=tests/vectors/text-direction-cls/input_0.pb
[ -f "$INPUT" ] || { INPUT="$W/in.pb"; e2e_make_input "$INPUT" 1; }

# The bench model: the copy bench-engine keeps, or generate it.
RES_DIR="$BUILD/bench-models/resnet"
if [ ! -s "$RES_DIR/model.onnx" ]; then
	mkdir -p "$BUILD/bench-models"
	"$PY" tests/bench/models/bench_models.py gen "$BUILD/bench-models" --only resnet >/dev/null 2>&1 ||
		echo "bench-e2e: cannot generate the resnet bench model; demo model only"
fi

# start_pair NAME POLICYJSON -> PORT_<NAME>: an agent and its proxy
# (e2e_bench_pair). BENCH_E2E_PHASES=1: the agents log infer.phases
# (debug), summed up below.
start_pair() {
	local level=warn
	[ -n "${BENCH_E2E_PHASES:-}" ] && level=debug
	e2e_bench_pair "$1" "$2" "$BUILD/bin" "$level"
}

start_pair req '{"version":1,"assembly":"request"}' || { echo "bench-e2e: start failed"; exit 1; }
start_pair ses '{"version":1,"assembly":"session"}' || { echo "bench-e2e: start failed"; exit 1; }
start_pair rel '{"version":1,"limits":{"max_input_bytes":1048576}}' ||
	{ echo "bench-e2e: start failed"; exit 1; }
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >/dev/null 2>&1 ||
	{ echo "bench-e2e: blob put failed"; exit 1; }

run() { # LABEL PORT POLICY MODELDIR INPUT ONNX [extra]
	local label=$1 port=$2 pol=$3 mdir=$4 in=$5 onnx=$6
	shift 6
	"$B" --label "$label" --proxy "127.0.0.1:$port" --policy "$pol" --model "$mdir" \
		--input "$in" --onnx "$onnx" --n "$N" --seconds "$SECS" "$@"
}

{
echo "end to end: eml-proxy + eml-agent (simulated NSM) on this machine, $(nproc) CPUs; n=$N, ${SECS}s per rps point"
run demo/per-request "$PORT_req" "$W/client-req.json" "$W/model" "$INPUT" "$MODEL" --clients 1,8,32
run demo/per-session "$PORT_ses" "$W/client-ses.json" "$W/model" "$INPUT" "$MODEL" --clients 1,8,32
if [ -s "$RES_DIR/model.onnx" ]; then
	"$EML" model split "$RES_DIR/model.onnx" --out "$W/resnet" >/dev/null 2>&1 &&
		"$EML_PROXY" blob put --weights "$W/store" "$W/resnet/weights.sealed" >/dev/null 2>&1 &&
		{
			run resnet/per-request "$PORT_req" "$W/client-req.json" "$W/resnet" \
				"$RES_DIR/input_0.pb" "$RES_DIR/model.onnx" --n 3
			run resnet/per-session "$PORT_ses" "$W/client-ses.json" "$W/resnet" \
				"$RES_DIR/input_0.pb" "$RES_DIR/model.onnx" --n 3
		}
fi
"$B" --proxy "127.0.0.1:$PORT_rel" --policy "$W/client-rel.json" --model "$W/model" --relay-mb 32

# Whole commands, as a user runs them: eml infer (connect, attest, one
# request, per-request assembly) vs eml run --local (load ONNX, plan, run).
# The clock is bash's EPOCHREALTIME (no process): t0=$(date +%s%N) forked
# and exec'd date around every command, ~3-4 ms of the harness's own in each
# figure on this VM, more than the demo model's whole run.
median_cmd_ms() { # N CMD...
	local n=$1 i t0 t1
	shift
	for i in $(seq 1 "$n"); do
		t0=${EPOCHREALTIME//[!0-9]/}
		"$@" >/dev/null 2>&1 || { echo "n/a"; return; }
		t1=${EPOCHREALTIME//[!0-9]/}
		echo $((t1 - t0))
	done | sort -n | awk '{v[NR] = $1} END {printf "%.1f", v[int((NR + 1) / 2)] / 1000}'
}
# CPU time (user + system) of one command, from bash's children times:
# on a shared machine the wall clock mostly measures the other tenants.
median_cmd_cpu_ms() { # N CMD...
	local n=$1 i
	shift
	for i in $(seq 1 "$n"); do
		(
			"$@" >/dev/null 2>&1 || exit 1
			times
		) | tail -1 | awk '{
			t = 0
			for (f = 1; f <= 2; f++) { split($f, a, /[ms]/); t += a[1] * 60 + a[2] }
			printf "%d\n", t * 1000000 }'
	done | sort -n | awk '{v[NR] = $1} END {if (NR == 0) print "n/a"; else printf "%.1f", v[int((NR + 1) / 2)] / 1000}'
}
cli() { # LABEL MODELDIR ONNX INPUT
	local infer local_ms local_cpu
	infer=$(median_cmd_ms 5 "$EML" infer --proxy "127.0.0.1:$PORT_req" --model "$2" \
		--policy "$W/client-req.json" --input "$4" --quiet)
	local_ms=$(median_cmd_ms 5 "$EML" run --local "$3" --input "$4")
	local_cpu=$(median_cmd_cpu_ms 5 "$EML" run --local "$3" --input "$4")
	echo "e2e $1 cli eml_infer_ms=$infer eml_run_local_ms=$local_ms eml_run_local_cpu_ms=$local_cpu (whole commands, median of 5)"
}
cli demo "$W/model" "$MODEL" "$INPUT"
[ -d "$W/resnet" ] && cli resnet "$W/resnet" "$RES_DIR/model.onnx" "$RES_DIR/input_0.pb"
} | tee "$W/bench-e2e.out"

# The issue 16 table, from the lines above (figures of this run).
awk '
function v(line, key,   i, n, a) {
	n = split(line, a, " ")
	for (i = 1; i <= n; i++) if (index(a[i], key "=") == 1) return substr(a[i], length(key) + 2)
	return "n/a"
}
/^e2e demo\/per-request handshake_ms/ { hs = v($0, "median") }
/^e2e demo\/per-request infer_ms/ { dreq = v($0, "median") }
/^e2e demo\/per-request local_run_ms/ { dloc = v($0, "median") }
/^e2e resnet\/per-request infer_ms/ { rreq = v($0, "median") }
/^e2e resnet\/per-request local_run_ms/ { rloc = v($0, "median") }
/^e2e demo\/per-session infer_ms/ { dses = v($0, "median") }
/^e2e demo\/per-session local_run_ms/ { dsloc = v($0, "median") }
/^e2e demo\/per-session rps clients=1 / { r1 = v($0, "rps") }
/^e2e demo\/per-session rps clients=32 / { r32 = v($0, "rps") }
/^e2e relay_MBps/ { rel = v($0, "relay_MBps") }
/^e2e relay_warm_MBps/ { relw = v($0, "relay_warm_MBps") }
/^e2e relay_ceiling_MBps/ { relc = v($0, "relay_ceiling_MBps"); relx = v($0, "crypto_only_MBps") }
/^e2e demo cli/ { dcli = v($0, "eml_run_local_ms"); dcpu = v($0, "eml_run_local_cpu_ms") }
/^e2e resnet cli/ { rcli = v($0, "eml_run_local_ms"); rcpu = v($0, "eml_run_local_cpu_ms") }
END {
	print "issue 16, first table (this run; ms unless stated):"
	printf "  %-58s %12s %10s\n", "path", "now", "local"
	printf "  %-58s %12s %10s\n", "demo model, per-request assembly, warm session", dreq, dloc
	printf "  %-58s %12s %10s\n", "ResNet-18-style, per-request assembly", rreq, rloc
	printf "  %-58s %12s %10s\n", "demo model, per-session assembly", dses, dsloc
	printf "  %-58s %12s %10s\n", "32 MiB sealed request through the proxy (MB/s)", rel, "-"
	printf "  %-58s %12s %10s\n", "  same, again on that session (MB/s, lowest of 4)", relw, "-"
	printf "  %-58s %12s %10s\n", "  ceiling, 2 cores: crypto + 2 hops / crypto alone (MB/s)", relc " / " relx, "-"
	printf "  %-58s %12s %10s\n", "handshake (connect, attestation, verify, keys)", hs, "-"
	printf "  %-58s %12s %10s\n", "per-session requests/s, 1 -> 32 clients", r1 " -> " r32, "-"
	printf "  %-58s %12s %10s\n", "eml run --local demo / ResNet-18-style, wall", dcli " / " rcli, "-"
	printf "  %-58s %12s %10s\n", "eml run --local demo / ResNet-18-style, CPU", dcpu " / " rcpu, "-"
}' "$W/bench-e2e.out"

# BENCH_E2E_PHASES=1: where a request's time went inside the agent, from its
# infer.phases debug lines (microseconds; min and median per model, by the
# size of its weights). Durations and sizes only, as the log has them.
if [ -n "${BENCH_E2E_PHASES:-}" ]; then
	for name in req ses; do
		mode=per-request
		[ "$name" = ses ] && mode=per-session
		"$PY" scripts/lib/infer_phases.py "$W/agent-$name.log" "e2e phases $mode" --by-weights
	done
fi
