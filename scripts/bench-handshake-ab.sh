#!/usr/bin/env bash
# A/B the handshake row of bench-e2e.sh (connect + attestation document +
# verify + keys, per-step medians): two build directories, each with its
# own eml-agent (sim) + eml-proxy + bench_e2e, alternated ROUNDS times;
# prints each run's total and steps, then per build the minimum and the
# median over runs of each step's median. Figures only.
#   scripts/bench-handshake-ab.sh BUILD_A BUILD_B [ROUNDS] [N]
set -u
cd "$(dirname "$0")/.."
A=$1 B2=$2 ROUNDS=${3:-5} N=${4:-20}
source tests/integration/lib/e2e.bash
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=${EML_LOG_LEVEL:-warn}
e2e_world request >/dev/null 2>&1 || { echo "bench-handshake-ab: setup failed"; exit 1; }
# TAG BUILDDIR: an agent and its proxy from that build (e2e_bench_pair);
# info: session.established carries hello_us and attest_us (newer builds)
start() {
	e2e_bench_pair "$1" '{"version":1,"assembly":"request"}' "$2/bin" info
}
start a "$A" && start b "$B2" || { echo "bench-handshake-ab: start failed"; exit 1; }
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >/dev/null 2>&1 ||
	{ echo "bench-handshake-ab: blob put failed"; exit 1; }
INPUT=tests/vectors/text-direction-cls/input_0.pb
[ -f "$INPUT" ] || { INPUT="$W/in.pb"; e2e_make_input "$INPUT" 1; }
for i in $(seq 1 "$ROUNDS"); do
	for t in a b; do
		bd=$A; [ $t = b ] && bd=$B2
		eval "port=\$PORT_$t"
		"$bd/bench/bench_e2e" --label "$t" --proxy "127.0.0.1:$port" --policy "$W/client-$t.json" \
			--model "$W/model" --input "$INPUT" --n "$N" --seconds 0.1 |
			sed -n '/handshake_ms/p; /^  /p' | sed "s/^/$t /"
	done
done | tee "$W/out" | awk '
	$2 == "e2e" { next }
	{ t = $1; line = substr($0, length(t) + 2); sub(/^ +/, "", line)
	  n = split(line, f, "  +"); if (n < 3) next
	  k = t " " f[1]; v = f[2] + 0; mn = f[n] + 0
	  cnt[k]++; val[k, cnt[k]] = v; if (!(k in lo) || mn < lo[k]) lo[k] = mn; order[k] = ++o }
	END {
	  for (k in cnt) { m = cnt[k]; for (i = 1; i <= m; i++) s[i] = val[k, i]
	    for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (s[j] < s[i]) { x = s[i]; s[i] = s[j]; s[j] = x }
	    printf "summary %-50s median-of-medians %8.1f  min %8.1f (runs %d)\n", k, s[int((m + 1) / 2)], lo[k], m }
	}' | sort -k2,2 -s
for t in a b; do
	for k in hello_us attest_us; do
		grep -ho "\"$k\": *[0-9]*" "$W/agent-$t.log" | grep -o '[0-9]*$' | sort -n |
			awk -v t=$t -v k=$k 'NR == 1 { m = $1 } { s[NR] = $1 } END { if (NR) printf "agent %s %s min %d median %d (n=%d)\n", t, k, m, s[int((NR + 1) / 2)], NR }'
	done
done
