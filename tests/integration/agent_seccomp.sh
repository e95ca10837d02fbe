#!/usr/bin/env bash
# eml-agent's seccomp allow-list (issue 11): once listening, a new socket
# or an exec kills the agent with SIGSYS, and a file open is refused. (Every other
# integration test runs the agent under the same filter, so what it allows
# is exercised by all of them.)
set -u
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
A="$BUILD/bin/eml-agent"
E="$BUILD/bin/eml"
T=$(mktemp -d "${TMPDIR:-/tmp}/eml-agent-seccomp.XXXXXX")
trap 'rm -rf "$T"' EXIT
fail=0
# Sanitizer builds run without the filter (their runtimes need more calls).
if nm "$A" 2>/dev/null | grep -q '__asan_init'; then
	echo "PASS: agent_seccomp: sanitizer build, filter not installed (skipped)"
	exit 0
fi
"$E" attest sim-init "$T/sim" >/dev/null 2>&1 || { echo "FAIL: agent_seccomp: sim-init"; exit 1; }
# A file open is refused (EACCES) without a kill: glibc may try one from
# a new thread (see eml_agent_seccomp.c); the agent then serves on.
rm -f "$T/a.sock"
timeout 20 "$A" --listen "unix:$T/a.sock" --attest sim --sim-dir "$T/sim" \
	--insecure-any-model --seccomp-selftest open >"$T/open.log" 2>&1 &
apid=$!
for _ in $(seq 1 100); do grep -q 'refused (EACCES)' "$T/open.log" && break; sleep 0.05; done
if grep -q 'refused (EACCES)' "$T/open.log" && kill -0 "$apid" 2>/dev/null; then
	echo "PASS: agent_seccomp: open after start-up fails with EACCES, the agent stays up"
else
	cat "$T/open.log"
	echo "FAIL: agent_seccomp: open after start-up was not refused"
	fail=1
fi
# Every thread of the running agent is under the filter (Seccomp: 2 in
# /proc), the simulator's background signing thread included: a thread
# made before the filter is installed would not inherit it. One
# connection first (connect, close): its session thread then waits for
# the next connection (idle, EML_AGENT_IDLE_MS) and is counted too.
/usr/bin/python3 -c 'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.close()' \
	"$T/a.sock" 2>/dev/null
sleep 0.3
nt=0
bad=""
agent_pid=$(pgrep -P "$apid" | head -1) # the agent, under timeout
for st in /proc/"${agent_pid:-0}"/task/*/status; do
	nt=$((nt + 1))
	grep -q '^Seccomp:[[:space:]]*2' "$st" || bad="$bad $(basename "$(dirname "$st")")"
done
if [ -z "$bad" ] && [ "$nt" -ge 3 ]; then
	echo "PASS: agent_seccomp: all $nt threads of the agent run under the filter"
else
	echo "FAIL: agent_seccomp: threads without the filter:${bad:- none} ($nt threads)"
	fail=1
fi
kill "$apid" 2>/dev/null
wait "$apid" 2>/dev/null
for call in socket exec; do
	rm -f "$T/a.sock"
	timeout 20 "$A" --listen "unix:$T/a.sock" --attest sim --sim-dir "$T/sim" \
		--insecure-any-model --seccomp-selftest "$call" >"$T/$call.log" 2>&1
	rc=$?
	# 128 + SIGSYS (31): killed by the filter, not an exit of its own
	if [ $rc -eq 159 ] && grep -q '"seccomp":true' "$T/$call.log" &&
		! grep -q 'the call was allowed' "$T/$call.log"; then
		echo "PASS: agent_seccomp: $call after start-up kills the agent (SIGSYS)"
	else
		cat "$T/$call.log"
		echo "FAIL: agent_seccomp: $call: exit $rc, want 159 (SIGSYS)"
		fail=1
	fi
done
exit $fail
