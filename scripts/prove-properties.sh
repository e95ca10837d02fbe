#!/usr/bin/env bash
# make prove-properties (issue 20): each property test shown able to fail.
# Builds the fault-injection variant (BUILD=build-fault, -DEML_FAULT_INJECTION:
# named fault points, common/eml_fault.h, never in release binaries), then
# runs each property's test with its fault switched on (EML_FAULT=NAME) and
# expects it to FAIL; prints one line per property with the failing
# assertion. Exit 1 when any test passed under its fault.
#   PROVE_CASES   cases per run (default 100; the run stops at the first
#                 failing case, shrinking is off)
#   PROVE_ONLY    space-separated property numbers (default: all 14)
#   PROVE_BASELINE=1  also run every test on the fault build with no fault
#                 (they must pass: the points are off unless named)
set -u
cd "$(dirname "$0")/.."
FB=${FAULT_BUILD:-build-fault}
faults=(
	[1]=split_plain_blob [2]=split_skip_op_check [3]=verify_skip_pcr [4]=verify_skip_root
	[5]=assembly_no_wipe [6]=agent_log_input [7]=agent_log_output [8]=proxy_modify_request
	[9]=agent_log_weights [10]=mem_no_wipe [11]=agent_abort_on_refusal [12]=agent_error_names
	[13]=audit_no_chain [14]=agent_write_output
)
nice make --no-print-directory BUILD="$FB" EXTRA_CFLAGS=-DEML_FAULT_INJECTION -j2 all >/dev/null ||
	{ echo "prove-properties: the fault build failed"; exit 1; }
log=$(mktemp -d)
trap 'rm -rf "$log"' EXIT
bad=0
if [ -n "${PROVE_BASELINE:-}" ]; then
	if BUILD="$FB" EML_PROP_CASES=${PROVE_CASES:-100} bash tests/integration/properties.sh \
		>"$log/baseline" 2>&1; then
		echo "baseline: every property passes on the fault build with no fault named"
	else
		tail -5 "$log/baseline"
		echo "baseline: FAILED on the fault build with no fault named"
		bad=1
	fi
fi
for n in ${PROVE_ONLY:-$(seq 1 14)}; do
	f=${faults[$n]}
	start=$(date +%s)
	if EML_FAULT=$f EML_PROP_NOSHRINK=1 EML_PROP_ONLY="property_${n}_" BUILD="$FB" \
		EML_PROP_CASES=${PROVE_CASES:-100} bash tests/integration/properties.sh >"$log/$n" 2>&1; then
		echo "property $n: PASSED under fault $f (the test cannot see it)"
		bad=1
		continue
	fi
	# The property's own assertion (not the case count at teardown).
	why=$(grep -E '^E +(AssertionError|[A-Za-z.]+Error):' "$log/$n" | grep -v 'cases ran, want' |
		head -1 | sed -E 's/^E +//' | cut -c1-200)
	case=$(grep -m1 -oE 'test_property_[0-9]+_[a-z_]+: [0-9]+ cases' "$log/$n")
	echo "property $n: FAILS under fault $f ($((
		$(date +%s) - start)) s; ${case:-?}): ${why:-see log}"
done
exit $bad
