#!/usr/bin/env bash
# make bench, engine section: our engine (`eml run --local`) against ONNX
# Runtime (tests/bench/ort/run.js, onnxruntime-node from npm, dev-only) on the
# same model, the same input and the same iteration count, at 1 and 2 threads.
#
# Prints one table row per model and thread count: median latency of each,
# the ratio ours/ORT, and the largest difference between our outputs and ORT's
# relative to the largest ORT output. Figures only: no timing is asserted. The
# exit status is 1 only when an output check fails (a wrong answer), never for
# a slow one.
#
# Environment: BUILD (build dir), EML_BENCH_ONLY (model names), EML_BENCH_THREADS
# ("1 2"), EML_BENCH_ITERS (iterations per model, default per model below),
# EML_BENCH_TIMEOUT (seconds per command, default 180), EML_BENCH_TOL (1e-4),
# EML_BENCH_ROUNDS (2: each side is timed this many times, alternately, and
# its lowest median is shown).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$ROOT/$BUILD" ;; esac
EML="$BUILD/bin/eml"
MODELS_DIR="$BUILD/bench-models"
ORT_DIR="$ROOT/tests/bench/ort"
GEN="$ROOT/tests/bench/models/bench_models.py"
MODELS=${EML_BENCH_ONLY:-"text-direction-cls mobile-det resnet transformer qdq-cnn f16-cnn"}
THREADS=${EML_BENCH_THREADS:-"1 2"}
TIMEOUT=${EML_BENCH_TIMEOUT:-180}
TOL=${EML_BENCH_TOL:-1e-4}
ROUNDS=${EML_BENCH_ROUNDS:-2}
export EML_TESTDATA=${EML_TESTDATA:-$ROOT/testdata}

# The float16 model's outputs are float16 (a unit in the last place is
# about 5e-4 of the largest one); the int8 model differs from ORT only by
# a rounding of a requantized value at most (tests/integration/quant_models.sh).
tol_for() {
	if [ -n "${EML_BENCH_TOL:-}" ]; then
		echo "$TOL"
		return
	fi
	case "$1" in
	f16-cnn) echo 2e-3 ;;
	qdq-cnn) echo 1e-3 ;;
	*) echo "$TOL" ;;
	esac
}

iters_for() {
	if [ -n "${EML_BENCH_ITERS:-}" ]; then
		echo "$EML_BENCH_ITERS"
		return
	fi
	# Enough runs for a stable median; the whole section stays well under
	# five minutes on a 2-core machine even if our engine is several times
	# slower than ORT.
	case "$1" in
	text-direction-cls) echo 50 ;;
	*) echo 20 ;;
	esac
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/eml-bench-engine.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# ------------------------------------------------------------ python + models

# Debian's python3-onnx lives in /usr/bin/python3; a pyenv or venv python3
# earlier in PATH usually lacks it.
PY=""
for p in python3 /usr/bin/python3; do
	if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import onnx, numpy' 2>/dev/null; then
		PY=$p
		break
	fi
done
if [ -z "$PY" ]; then
	echo "bench-engine: no python3 with the onnx and numpy modules (apt install python3-onnx python3-numpy); skipped"
	exit 0
fi

# A model is rebuilt when missing or when the generator changed since (the
# stamp is the generator's SHA-256), so an old build dir never benches stale
# shapes.
GEN_SUM=$(sha256sum "$GEN" | cut -d' ' -f1)
for m in $MODELS; do
	d="$MODELS_DIR/$m"
	if [ ! -s "$d/model.onnx" ] || [ ! -s "$d/input_0.pb" ] ||
		[ "$(cat "$d/generator.sha256" 2>/dev/null)" != "$GEN_SUM" ]; then
		echo "bench-engine: generating $m into $d"
		"$PY" "$GEN" gen "$MODELS_DIR" --only "$m" >/dev/null || {
			echo "bench-engine: generating $m failed"
			exit 1
		}
		echo "$GEN_SUM" >"$d/generator.sha256"
	fi
done

# ---------------------------------------------------------------- ORT runner

ORT_OK=0
ORT_VERSION=""
if "$ORT_DIR/install.sh" 2>"$WORK/ort.err"; then
	ORT_OK=1
	ORT_VERSION=$(node "$ORT_DIR/run.js" version)
else
	echo "bench-engine: ONNX Runtime column skipped:"
	sed 's/^/  /' "$WORK/ort.err"
fi

# ------------------------------------------------------------------- helpers

median_of() { grep -o 'median_ms=[0-9.]*' "$1" | head -1 | cut -d= -f2; }

# The lower of two figures, either of which may be n/a or empty.
lower() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || a == "") a = ""; if (b == "n/a" || b == "") b = ""
		if (a == "" && b == "") print "n/a"; else if (a == "") print b
		else if (b == "") print a; else print (a + 0 <= b + 0) ? a : b }'
}

# Last line of a command's output (the error, after any log lines), shortened.
reason_of() {
	local r
	r=$(grep -v '^[[:space:]]*$' "$1" | tail -1 | cut -c1-70)
	echo "${r:-exit status $2}"
}

# Our engine answers a model only if `eml run --local` exists and accepts it.
OURS_WHY=""
if [ ! -x "$EML" ]; then
	OURS_WHY="$EML not built"
fi

# -------------------------------------------------------------------- table

echo "engine vs ONNX Runtime (${ORT_VERSION:-ORT n/a}); $(nproc) CPUs; $(date -u +%Y-%m-%dT%H:%MZ)"
echo "ms = lowest of $ROUNDS medians of N iterations, ORT and ours alternating"
echo "check = max|ours - ORT| / max|ORT| over all outputs (tolerance $TOL; f16-cnn 2e-3, qdq-cnn 1e-3)"
printf '%-20s %3s %6s %10s %10s %7s  %s\n' model thr iters ours_ms ort_ms ratio check
status=0
notes=()
declare -A OURS ORT
for m in $MODELS; do
	dir="$MODELS_DIR/$m"
	model="$dir/model.onnx"
	inputs=("$dir"/input_*.pb)
	n=$(iters_for "$m")

	# ORT's outputs once per model, single-threaded: the reference.
	ref_ok=0
	if [ $ORT_OK = 1 ]; then
		if timeout "$TIMEOUT" node "$ORT_DIR/run.js" run "$model" --input "${inputs[@]}" \
			--output-dir "$WORK/$m/ort" >"$WORK/$m.ort-run" 2>&1; then
			ref_ok=1
		else
			notes+=("$m: ORT run failed: $(reason_of "$WORK/$m.ort-run" $?)")
		fi
	fi

	for t in $THREADS; do
		ort_ms="n/a"
		ours_ms="n/a"
		ratio="n/a"
		check="n/a"

		# Outputs first: a model we cannot run correctly gets no timing.
		why="$OURS_WHY"
		ours_ok=0
		if [ -z "$why" ]; then
			rm -rf "$WORK/$m/ours"
			mkdir -p "$WORK/$m/ours"
			if timeout "$TIMEOUT" "$EML" run --local "$model" --input "${inputs[@]}" \
				--threads "$t" --output-dir "$WORK/$m/ours" >"$WORK/e" 2>&1; then
				ours_ok=1
				if [ $ref_ok = 1 ]; then
					if c=$("$PY" "$GEN" compare "$WORK/$m/ort" "$WORK/$m/ours" --tol "$(tol_for "$m")"); then
						check="ok ${c%% *}"
					else
						check="FAIL $c"
						status=1
					fi
				fi
			else
				rc=$?
				if [ $rc = 124 ]; then why="timed out after ${TIMEOUT}s"
				else why=$(reason_of "$WORK/e" $rc); fi
			fi
		fi

		# Alternate ORT and ours, keeping each one's lowest median: on a
		# shared machine a burst of load then hits both sides, not one.
		for _ in $(seq "$ROUNDS"); do
			if [ $ORT_OK = 1 ]; then
				if timeout "$TIMEOUT" node "$ORT_DIR/run.js" bench "$model" --input "${inputs[@]}" \
					--threads "$t" --iters "$n" >"$WORK/o" 2>&1; then
					ort_ms=$(lower "$ort_ms" "$(median_of "$WORK/o")")
				else
					notes+=("$m t=$t: ORT bench failed: $(reason_of "$WORK/o" $?)")
				fi
			fi
			if [ $ours_ok = 1 ]; then
				if timeout "$TIMEOUT" "$EML" run --local "$model" --input "${inputs[@]}" \
					--threads "$t" --bench "$n" >"$WORK/e" 2>&1; then
					v=$(median_of "$WORK/e")
					[ -n "$v" ] || why="no median_ms= in eml output"
					ours_ms=$(lower "$ours_ms" "$v")
				else
					why="bench: $(reason_of "$WORK/e" $?)"
				fi
			fi
		done
		if [ "$ours_ms" != "n/a" ] && [ "$ort_ms" != "n/a" ]; then
			ratio=$(awk -v a="$ours_ms" -v b="$ort_ms" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')
		fi
		[ -n "$why" ] && [ "$ours_ms" = "n/a" ] && check="$check (ours n/a: $why)"
		OURS[$m.$t]=$ours_ms
		ORT[$m.$t]=$ort_ms
		printf '%-20s %3s %6s %10s %10s %7s  %s\n' "$m" "$t" "$n" "$ours_ms" "$ort_ms" "$ratio" "$check"
	done
done

# The issue-16 summary: each thread count against ORT at the same count, and
# our two threads against our one thread (all from the runs above).
ratio_of() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "n/a" || b == "n/a" || a == "" || b == "" || b <= 0) print "n/a"; else printf "%.2f", a / b }'
}
speedup_of() { # ours 1 thread, ours 2 threads
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (a == "n/a" || b == "n/a" || a == "" || b == "" || a <= 0 || b <= 0) print "n/a"
		else if (b <= a) printf "%.2fx faster", a / b
		else printf "%.2fx slower", b / a }'
}
echo
echo "summary: ours/ORT at the same thread count; ours 2 threads against ours 1 thread"
printf '%-20s %14s %14s %22s\n' model "ours1/ORT1" "ours2/ORT2" "ours2 vs ours1"
for m in $MODELS; do
	printf '%-20s %14s %14s %22s\n' "$m" \
		"$(ratio_of "${OURS[$m.1]:-n/a}" "${ORT[$m.1]:-n/a}")" \
		"$(ratio_of "${OURS[$m.2]:-n/a}" "${ORT[$m.2]:-n/a}")" \
		"$(speedup_of "${OURS[$m.1]:-n/a}" "${OURS[$m.2]:-n/a}")"
done
for x in "${notes[@]+"${notes[@]}"}"; do
	echo "note: $x"
done
exit $status
