#!/usr/bin/env bash
# The attested policy manifest (issue 13) through the real eml, eml-proxy
# and eml-agent:
#   1 `eml policy show` prints the manifest's digest, equal to the agent's
#     (eml-agent --policy-digest) and to SHA-256 of the domain string and
#     the --json manifest recomputed here with Python's own JSON writer
#   2 a client pinned to manifest A is served by an agent running A
#   3 the same client refuses an agent whose manifest differs in one field
#     (exit 1, EML_ERR_ATTEST_USER_DATA, the message says it is the policy
#     manifest), and a client pinned to the new digest is served
#   4 every new manifest rule is enforced by the agent:
#     max_requests_per_minute (the third request in a minute refused, 716),
#     max_response_bytes (720), output_schema (a different shape: 720; the
#     right one: served, equal to eml run --local), ops (715)
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: manifest: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
e2e_world request || { cat "$W"/*.log; echo "FAIL: manifest: setup"; exit 1; }
e2e_make_input "$W/in.pb" 9
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W/ref.log"; echo "FAIL: manifest: eml run --local"; exit 1; }
p0=$(e2e_sim_pcr 0)
p1=$(e2e_sim_pcr 1)
p2=$(e2e_sim_pcr 2)

manifest() { # FILE PER_MINUTE RESPONSE_BYTES SCHEMA_SHAPE OPS_JSON
	printf '{"version":1,"models":["%s"],"limits":{"max_requests_per_minute":%s,"max_response_bytes":%s},"ops":%s,"output":"declared","output_schema":[{"dtype":"float32","shape":%s}]}\n' \
		"$E2E_CID" "$2" "$3" "$5" "$4" >"$1"
}
pin() { # MANIFEST CLIENT_POLICY
	e2e_client_policy "$2" "$p0" "$p1" "$p2" "$("$EML_AGENT" --policy-digest --policy "$1")"
}
AGENT=
start_agent() { # MANIFEST
	[ -z "$AGENT" ] || e2e_stop "$AGENT"
	rm -f "$W/agent.sock"
	e2e_start "agent-$(basename "$1" .json)" "$EML_AGENT" --listen "unix:$W/agent.sock" \
		--attest sim --sim-dir "$W/sim" --policy "$1"
	AGENT=$E2E_LAST_PID
	e2e_wait_unix "$W/agent.sock"
}
infer() { # CLIENT_POLICY OUTDIR [ARGS...]
	local pol=$1 out=$2
	shift 2
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$pol" \
		--input "$W/in.pb" --output-dir "$out" --timeout 30000 --quiet "$@"
}
# expect_refused NAME WANT_EXIT GREP OUTDIR CMD...: the exit code, the
# message, no output written
expect_refused() {
	local name=$1 want=$2 pat=$3 out=$4 rc
	shift 4
	"$@" >"$W/$name.out" 2>&1
	rc=$?
	if [ "$rc" -eq "$want" ] && grep -q -- "$pat" "$W/$name.out" && [ ! -e "$out" ]; then
		e2e_pass "manifest: $name (exit $rc, $pat)"
	else
		cat "$W/$name.out"
		e2e_fail "manifest: $name: exit $rc, want $want and '$pat'"
	fi
}
served() { # NAME OUTDIR CMD...
	local name=$1 out=$2
	shift 2
	if "$@" >"$W/$name.out" 2>&1 && cmp -s "$W/ref/output_0.pb" "$out/output_0.pb"; then
		e2e_pass "manifest: $name: served, same output as eml run --local"
	else
		cat "$W/$name.out"
		e2e_fail "manifest: $name: not served"
	fi
}

ALL_OPS=$("$EML" model inspect "$E2E_MODEL" --json |
	"$PY" -c 'import json,sys; print(json.dumps(sorted({o["op"] for o in json.load(sys.stdin)["operators"]})))')
NO_CONV=$("$PY" -c 'import json,sys; print(json.dumps([o for o in json.loads(sys.argv[1]) if o != "Conv"]))' "$ALL_OPS")
case "$ALL_OPS" in *'"Conv"'*) ;; *) echo "FAIL: manifest: no operator list ($ALL_OPS)"; exit 1 ;; esac

manifest "$W/a.json" 2 1048576 '[1,2]' "$ALL_OPS"
manifest "$W/a2.json" 3 1048576 '[1,2]' "$ALL_OPS"       # one field changed
manifest "$W/resp.json" 2 16 '[1,2]' "$ALL_OPS"
manifest "$W/shape.json" 2 1048576 '[1,3]' "$ALL_OPS"
manifest "$W/ops.json" 2 1048576 '[1,2]' "$NO_CONV"
pin "$W/a.json" "$W/pin-a.json"
pin "$W/a2.json" "$W/pin-a2.json"

# ---------------------------------------------------------------- 1
show=$("$EML" policy show "$W/a.json" | awk '$1 == "digest" {print $2}')
agent=$("$EML_AGENT" --policy-digest --policy "$W/a.json")
"$EML" policy show "$W/a.json" --json >"$W/show.json"
py=$("$PY" -c '
import hashlib, json, sys
j = json.load(open(sys.argv[1]))
m = json.dumps(j["manifest"], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
print(hashlib.sha256(b"EphemeralML policy manifest v2\0" + m.encode()).hexdigest(), j["digest"])
' "$W/show.json")
if [ ${#show} -eq 64 ] && [ "$show" = "$agent" ] && [ "$py" = "$agent $agent" ]; then
	e2e_pass "manifest: eml policy show digest = eml-agent --policy-digest = recomputed"
else
	e2e_fail "manifest: digests differ: show=$show agent=$agent python=$py"
fi
[ "$agent" != "$("$EML_AGENT" --policy-digest --policy "$W/a2.json")" ] &&
	e2e_pass "manifest: one field changed, digest changed" ||
	e2e_fail "manifest: max_requests_per_minute 2 -> 3 kept the digest"

# ---------------------------------------------------------------- 2, 3
start_agent "$W/a.json" || { echo "FAIL: manifest: agent"; exit 1; }
PORT=$(e2e_free_port)
mkdir -p "$W/store"
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --rate-limit 0
PROXY=$E2E_LAST_PID
e2e_wait_tcp "$PORT" || { echo "FAIL: manifest: proxy"; exit 1; }
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >/dev/null 2>&1
served "pinned A, agent A" "$W/out-a" infer "$W/pin-a.json" "$W/out-a" --repeat 2
# 4: the per-minute rate, in one session
expect_refused "third request in a minute" 1 'peer error 716:' "$W/out-rate" \
	infer "$W/pin-a.json" "$W/out-rate" --repeat 3
agent_a=$AGENT
start_agent "$W/a2.json" || { echo "FAIL: manifest: agent a2"; exit 1; }
expect_refused "pinned A, agent A'" 1 'EML_ERR_ATTEST_USER_DATA.*policy manifest digest' \
	"$W/out-stale" infer "$W/pin-a.json" "$W/out-stale"
served "pinned A', agent A'" "$W/out-a2" infer "$W/pin-a2.json" "$W/out-a2" --repeat 3
[ "$agent_a" != "$AGENT" ] || e2e_fail "manifest: the agent was not replaced"

# ---------------------------------------------------------------- 4
start_agent "$W/resp.json" || { echo "FAIL: manifest: agent resp"; exit 1; }
pin "$W/resp.json" "$W/pin.json"
expect_refused "max_response_bytes 16" 1 'peer error 720:.*max_response_bytes' "$W/out-resp" \
	infer "$W/pin.json" "$W/out-resp"
start_agent "$W/shape.json" || { echo "FAIL: manifest: agent shape"; exit 1; }
pin "$W/shape.json" "$W/pin.json"
expect_refused "output_schema [1,3]" 1 'peer error 720:.*output_schema' "$W/out-shape" \
	infer "$W/pin.json" "$W/out-shape"
start_agent "$W/ops.json" || { echo "FAIL: manifest: agent ops"; exit 1; }
pin "$W/ops.json" "$W/pin.json"
expect_refused "ops without Conv" 1 'peer error 715:' "$W/out-ops" \
	infer "$W/pin.json" "$W/out-ops"
kill -0 "$AGENT" 2>/dev/null && kill -0 "$PROXY" 2>/dev/null &&
	e2e_pass "manifest: agent and proxy up after the refusals" ||
	e2e_fail "manifest: a process died"
exit $E2E_FAILED
