#!/usr/bin/env bash
# The design's fourteen properties as property-based tests (issue 20,
# tests/property/, docs/TESTING.md): Hypothesis over generated models,
# inputs, attestation scenarios and host behaviours, against the real
# eml-agent (sim), eml-proxy and libeml (the ephemeralml package).
#   EML_PROP_CASES  cases per property (100 here; make soak: 1000)
#   EML_PROP_SEED   fixed here (20020); make soak passes "random" (printed)
#   EML_PROP_ONLY   a pytest -k expression to run some of them
# Under make test-asan (EML_SANFLAGS set) they are skipped unless
# EML_PROP_ASAN=1 (then 25 cases each): 25 cases took 14 minutes here in
# the sanitizer build, beyond CI's budget; under it property 5 also found
# weights in the agent's memory after a request and the core-dump check
# sees ASan's own SIGSEGV handler (open, docs/TESTING.md).
# Also checked: a release build's binaries carry no fault point (the string
# EML_FAULT, which only the fault-injection build of make prove-properties
# has).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$(pwd)/$BUILD" ;; esac
if [ -n "${EML_SANFLAGS:-}" ]; then
	if [ -z "${EML_PROP_ASAN:-}" ]; then
		echo "SKIP: properties: not run in the sanitizer build (EML_PROP_ASAN=1 runs 25 cases each; about 14 min here)"
		exit 0
	fi
	EML_PROP_CASES=${EML_PROP_CASES:-25}
fi
export BUILD EML_PROP_CASES=${EML_PROP_CASES:-100} EML_PROP_SEED=${EML_PROP_SEED:-20020}
if [ -z "${EML_FAULT:-}" ] && ! grep -q -- '-DEML_FAULT_INJECTION' <<<"${EXTRA_CFLAGS:-}"; then
	case "$(basename "$BUILD")" in
	build-fault*) ;;
	*)
		if grep -l -a -F 'EML_FAULT' "$BUILD"/bin/eml "$BUILD"/bin/eml-agent "$BUILD"/bin/eml-proxy \
			"$BUILD"/lib/libeml.so 2>/dev/null; then
			echo "FAIL: properties: a release binary above carries fault points (EML_FAULT)"
			exit 1
		fi
		echo "PASS: properties: no fault point in the release binaries (eml, eml-agent, eml-proxy, libeml.so)"
		;;
	esac
fi
export EML_LIBRARY="$BUILD/lib/libeml.so" PYTHONDONTWRITEBYTECODE=1 EML_LOG_LEVEL=${EML_LOG_LEVEL:-info}
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi
PYPRE=()
if [ -n "${EML_SANFLAGS:-}" ]; then
	# A sanitizer build's libeml needs its runtimes loaded first in python.
	PYPRE=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
		"ASAN_OPTIONS=detect_leaks=0")
fi
args=(-q -p no:cacheprovider -rfE --durations=20 --durations-min=1 tests/property)
[ -n "${EML_PROP_ONLY:-}" ] && args+=(-k "$EML_PROP_ONLY")
report=$(mktemp)
trap 'rm -f "$report"' EXIT
start=$(date +%s)
EML_PROP_REPORT=$report "${PYPRE[@]}" "$PY" -m pytest "${args[@]}"
rc=$?
sed 's/^/  /' "$report"
if [ $rc -eq 0 ]; then
	echo "PASS: properties: $(wc -l <"$report") property tests, $EML_PROP_CASES cases each, seed $EML_PROP_SEED, $(($(date +%s) - start)) s"
else
	echo "FAIL: properties (seed $EML_PROP_SEED: replay with EML_PROP_SEED=$EML_PROP_SEED)"
fi
exit $rc
