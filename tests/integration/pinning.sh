#!/usr/bin/env bash
# The client refuses to trust an unpinned image (issue 11), through the
# real eml, eml-proxy and eml-agent:
#   1 a policy without PCRs: exit 1 naming PCR0 PCR1 PCR2, and the proxy
#     relayed nothing (refused before the hello)
#   2 a policy pinning only PCR0: exit 1 naming PCR1 PCR2
#   3 the same with --insecure-any-image: served, the warning on stderr
#     and "NOT PINNED" in the output
#   4 a debug-mode image (PCR0-2 zero) pinned as such: exit 1
#     (EML_ERR_ATTEST_DEBUG) unless the policy sets allow_debug
#   5 a signed image (PCR8 set): exit 1 naming PCR8 unless PCR8 is pinned
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: pinning: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
e2e_world request || { cat "$W"/*.log; echo "FAIL: pinning: setup"; exit 1; }
e2e_make_input "$W/in.pb" 5
p0=$(e2e_sim_pcr 0)
p1=$(e2e_sim_pcr 1)
p2=$(e2e_sim_pcr 2)
zero=$(printf '0%.0s' $(seq 1 96))
p8=$(printf '5a%.0s' $(seq 1 48))

policy() { # FILE PCRS_JSON [EXTRA_JSON]
	printf '{"version":1,"trust_root":"sim/root.pem","pcrs":%s,"policy_digest":"%s"%s}\n' \
		"$2" "$E2E_DIGEST" "${3:-}" >"$1"
}
policy "$W/none.json" '{}'
policy "$W/only0.json" "{\"0\":\"$p0\"}"
policy "$W/debug.json" "{\"0\":\"$zero\",\"1\":\"$zero\",\"2\":\"$zero\"}"
policy "$W/debug-ok.json" "{\"0\":\"$zero\",\"1\":\"$zero\",\"2\":\"$zero\"}" ',"allow_debug":true'
policy "$W/signed.json" "{\"0\":\"$p0\",\"1\":\"$p1\",\"2\":\"$p2\"}"
policy "$W/signed-ok.json" "{\"0\":\"$p0\",\"1\":\"$p1\",\"2\":\"$p2\",\"8\":\"$p8\"}"

# The simulator stands in for a debug-mode image (PCR0-2 zero) and for a
# signed one (PCR8 set) through --sim-pcrs.
printf '{"PCR0":"%s","PCR1":"%s","PCR2":"%s"}\n' "$p0" "$p1" "$p2" >"$W/pcrs-normal.json"
printf '{"PCR0":"%s","PCR1":"%s","PCR2":"%s"}\n' "$zero" "$zero" "$zero" >"$W/pcrs-debug.json"
printf '{"PCR0":"%s","PCR1":"%s","PCR2":"%s","PCR8":"%s"}\n' "$p0" "$p1" "$p2" "$p8" \
	>"$W/pcrs-signed.json"

start() { # IMAGE
	rm -f "$W/agent.sock" "$W/capture.bin"
	e2e_start "agent-$1" "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim \
		--sim-dir "$W/sim" --policy "$W/agent-policy.json" --sim-pcrs "$W/pcrs-$1.json"
	AGENT=$E2E_LAST_PID
	e2e_wait_unix "$W/agent.sock" || return 1
	PORT=$(e2e_free_port)
	mkdir -p "$W/store"
	e2e_start "proxy-$1" "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" \
		--agent "unix:$W/agent.sock" --weights "$W/store" --capture "$W/capture.bin"
	PROXY=$E2E_LAST_PID
	e2e_wait_tcp "$PORT" || return 1
	"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >/dev/null 2>&1
}
stop() { e2e_stop "$PROXY"; e2e_stop "$AGENT"; }
infer() { # NAME POLICY [extra]
	local name=$1 pol=$2
	shift 2
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$pol" \
		--input "$W/in.pb" --output-dir "$W/out-$name" --timeout 30000 "$@" \
		>"$W/$name.out" 2>"$W/$name.err"
}

start normal || { echo "FAIL: pinning: start"; exit 1; }
infer none "$W/none.json"
rc=$?
e2e_stop "$PROXY"
if [ $rc -eq 1 ] && grep -q 'EML_ERR_ATTEST_UNPINNED' "$W/none.err" &&
	grep -q 'does not pin PCR0 PCR1 PCR2' "$W/none.err" && [ ! -e "$W/out-none" ] &&
	[ "$(e2e_capture_types "$W/capture.bin" | wc -l)" -eq 0 ]; then
	e2e_pass "PCR-less policy: exit 1, names PCR0 PCR1 PCR2, nothing relayed"
else
	cat "$W/none.err"
	e2e_fail "PCR-less policy: rc=$rc"
fi
stop
start normal || e2e_fail "restart"
infer only0 "$W/only0.json"
rc=$?
if [ $rc -eq 1 ] && grep -q 'does not pin PCR1 PCR2' "$W/only0.err"; then
	e2e_pass "PCR0 only: exit 1, names PCR1 PCR2"
else
	cat "$W/only0.err"
	e2e_fail "PCR0 only: rc=$rc"
fi
infer insecure "$W/none.json" --insecure-any-image
rc=$?
if [ $rc -eq 0 ] && grep -q 'WARNING: --insecure-any-image' "$W/insecure.err" &&
	grep -q 'NOT PINNED (--insecure-any-image)' "$W/insecure.out" &&
	[ -e "$W/out-insecure/output_0.pb" ]; then
	e2e_pass "--insecure-any-image: served, warned on stderr, recorded in the output"
else
	cat "$W/insecure.out" "$W/insecure.err"
	e2e_fail "--insecure-any-image: rc=$rc"
fi
stop

start debug || e2e_fail "debug start"
infer debug "$W/debug.json"
rc=$?
infer debug-any "$W/debug.json" --insecure-any-image
rc2=$?
infer debug-ok "$W/debug-ok.json"
rc3=$?
if [ $rc -eq 1 ] && grep -q 'EML_ERR_ATTEST_DEBUG' "$W/debug.err" && [ $rc2 -eq 1 ] &&
	grep -q 'EML_ERR_ATTEST_DEBUG' "$W/debug-any.err" && [ $rc3 -eq 0 ]; then
	e2e_pass "debug-mode image: exit 1 (also with --insecure-any-image), served only with allow_debug"
else
	cat "$W/debug.err" "$W/debug-any.err" "$W/debug-ok.err"
	e2e_fail "debug-mode image: rc=$rc/$rc2/$rc3"
fi
stop

start signed || e2e_fail "signed start"
infer signed "$W/signed.json"
rc=$?
infer signed-ok "$W/signed-ok.json"
rc2=$?
if [ $rc -eq 1 ] && grep -q 'EML_ERR_ATTEST_UNPINNED' "$W/signed.err" &&
	grep -q 'PCR8' "$W/signed.err" && [ ! -e "$W/out-signed" ] && [ $rc2 -eq 0 ]; then
	e2e_pass "signed image: exit 1 naming PCR8 until PCR8 is pinned, then served"
else
	cat "$W/signed.err" "$W/signed-ok.err"
	e2e_fail "signed image: rc=$rc/$rc2"
fi
stop
exit $E2E_FAILED
