#!/bin/sh
# A/B of two engine builds on the bench models: `eml run --local` of build A
# and of build B, alternately, ROUNDS times per model, one thread; prints
# every median and the lowest of each side with the ratio B/A. For checking
# that an engine change keeps its speed (a shared machine's noise shows in
# the spread of the rounds). Figures only: nothing is asserted.
#
# Usage: scripts/bench-engine-ab.sh EML_A EML_B
#   e.g. git worktree add /tmp/old HEAD~3 && make -C /tmp/old build/bin/eml
#        scripts/bench-engine-ab.sh /tmp/old/build/bin/eml build/bin/eml
# Environment: MODELS_DIR (build/bench-models, made by scripts/bench-engine.sh),
# EML_BENCH_ONLY (model names), ROUNDS (3), EML_BENCH_THREADS (1).
set -u

[ $# -eq 2 ] || { echo "usage: $0 EML_A EML_B" >&2; exit 2; }
A=$1
B=$2
MODELS_DIR=${MODELS_DIR:-build/bench-models}
MODELS=${EML_BENCH_ONLY:-"text-direction-cls resnet transformer"}
ROUNDS=${ROUNDS:-3}
THREADS=${EML_BENCH_THREADS:-1}

median() { # EML MODEL ITERS
	"$1" run --local "$MODELS_DIR/$2/model.onnx" --input "$MODELS_DIR/$2/input_0.pb" \
		--threads "$THREADS" --bench "$3" 2>&1 | sed -n 's/^median_ms=\([0-9.]*\).*/\1/p'
}

lowest() {
	echo "$@" | tr ' ' '\n' | grep . | sort -n | head -1
}

echo "A=$A B=$B; $THREADS thread(s), $ROUNDS rounds; $(nproc) CPUs, load $(cut -d' ' -f1 /proc/loadavg)"
for m in $MODELS; do
	[ -s "$MODELS_DIR/$m/model.onnx" ] ||
		{ echo "$m: no model in $MODELS_DIR (run scripts/bench-engine.sh once)"; continue; }
	case $m in text-direction-cls) n=200 ;; *) n=20 ;; esac
	ma=""
	mb=""
	for _ in $(seq "$ROUNDS"); do
		ma="$ma $(median "$A" "$m" $n)"
		mb="$mb $(median "$B" "$m" $n)"
	done
	la=$(lowest "$ma")
	lb=$(lowest "$mb")
	ratio=$(awk -v a="$la" -v b="$lb" 'BEGIN { if (a > 0) printf "%.3f", b / a; else print "n/a" }')
	echo "$m ($n iterations): A [$ma ] B [$mb ] ms; lowest A $la B $lb; B/A $ratio"
done
