#!/usr/bin/env bash
# eml-agent's command line: usage errors (exit 2), policy file errors,
# the policy digest (stable under layout, sensitive to content), start-up
# on a Unix socket and a clean SIGTERM (exit 0, socket removed).
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
A="$BUILD/bin/eml-agent"
E="$BUILD/bin/eml"
T=$(mktemp -d "${TMPDIR:-/tmp}/eml-agent-cli.XXXXXX")
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$T"' EXIT
fail=0
pass() { echo "PASS: agent_cli: $*"; }
bad() { echo "FAIL: agent_cli: $*"; fail=1; }

expect_rc() { # WANT DESC CMD...
	local want=$1 desc=$2
	shift 2
	"$@" >"$T/out" 2>&1
	local rc=$?
	if [ "$rc" -eq "$want" ]; then pass "$desc (exit $rc)"; else cat "$T/out"; bad "$desc: exit $rc, want $want"; fi
}

expect_rc 2 "no arguments" "$A"
expect_rc 2 "--listen on TCP refused" "$A" --listen tcp:127.0.0.1:7000 --attest sim --sim-dir "$T"
expect_rc 2 "--attest sim without --sim-dir" "$A" --listen "unix:$T/a.sock" --attest sim
expect_rc 2 "unknown --attest" "$A" --listen "unix:$T/a.sock" --attest tpm
expect_rc 2 "bad --threads" "$A" --listen "unix:$T/a.sock" --attest nsm --threads 0
printf '{"version":1,"stirct":true}' >"$T/typo.json"
expect_rc 2 "policy with an unknown key" "$A" --policy-digest --policy "$T/typo.json"
grep -q 'stirct' "$T/out" && pass "the error names the unknown key" || bad "error does not name the key"
expect_rc 3 "missing policy file (I/O)" "$A" --policy-digest --policy "$T/none.json"

printf '{"version":1,"assembly":"session"}' >"$T/p1.json"
printf '{\n  "assembly": "session",\n  "version": 1\n}\n' >"$T/p2.json"
printf '{"version":1,"assembly":"request"}' >"$T/p3.json"
d1=$("$A" --policy-digest --policy "$T/p1.json")
d2=$("$A" --policy-digest --policy "$T/p2.json")
d3=$("$A" --policy-digest --policy "$T/p3.json")
d0=$("$A" --policy-digest)
if [ ${#d1} -eq 64 ] && [ "$d1" = "$d2" ] && [ "$d1" != "$d3" ] && [ "$d0" != "$d1" ]; then
	pass "policy digest: 32 bytes, same across layout and key order, differs with content"
else
	bad "policy digest: d1=$d1 d2=$d2 d3=$d3 d0=$d0"
fi

"$E" attest sim-init "$T/sim" >/dev/null 2>&1 || bad "sim-init"
# p1 pins no model and names no publisher: refused unless the development
# flag says so, loudly
expect_rc 2 "a policy that pins nothing is refused at start" "$A" --listen "unix:$T/a.sock" \
	--attest sim --sim-dir "$T/sim" --policy "$T/p1.json"
grep -q 'pins no model' "$T/out" && pass "the refusal says what to pin" || bad "no pin message"
"$A" --listen "unix:$T/a.sock" --attest sim --sim-dir "$T/sim" --policy "$T/p1.json" \
	--insecure-any-model 2>"$T/agent.log" &
pid=$!
# The socket appears before the ready line is logged: wait for both.
for _ in $(seq 1 100); do
	[ -S "$T/a.sock" ] && grep -q '"event":"agent.ready"' "$T/agent.log" && break
	sleep 0.05
done
if [ -S "$T/a.sock" ] && grep -q '"event":"agent.ready"' "$T/agent.log" &&
	grep -q '"assembly":"session"' "$T/agent.log" && grep -q 'DEVELOPMENT ONLY' "$T/agent.log"; then
	pass "starts on a Unix socket and logs its settings"
else
	cat "$T/agent.log"
	bad "did not start"
fi
kill -TERM "$pid"
wait "$pid"
rc=$?
pid=""
if [ $rc -eq 0 ] && [ ! -e "$T/a.sock" ] && grep -q '"event":"agent.stop"' "$T/agent.log"; then
	pass "SIGTERM: exit 0, socket removed"
else
	bad "SIGTERM: exit $rc"
fi
exit $fail
