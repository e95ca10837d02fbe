#!/usr/bin/env bash
# Load at the rate limit's edge (issue 13): CLIENTS clients (default 64),
# each with its own API key of RATE requests per minute (default 10),
# asking as fast as the proxy admits them for SECONDS (default 15) through
# the real eml-proxy and eml-agent. A refused client waits the retry-after
# hint and starts a new session.
#
# Checks:
#   - no good request lost: every answer correct, no error but 759, and the
#     clients' answer count equals the proxy's admitted count (audit log);
#   - refusals exact to the bucket: per key, from the audit log, no
#     admission beyond R + R*t/60 and no refusal before the bucket could
#     be empty (slack of one token either way for the audit timestamps);
#   - proxy memory flat: VmRSS at three quarters of the run within 10%
#     (+256 KiB) of the sample at the first quarter, both under load.
# Prints the figures (requests/s, refusals, RSS samples).
#
#   tests/soak/operator_load.sh [SECONDS] [CLIENTS] [RATE]
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=../integration/lib/e2e.bash
source tests/integration/lib/e2e.bash

SECONDS_RUN=${1:-15}
CLIENTS=${2:-64}
RATE=${3:-10}
for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: load: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=warn

e2e_world request || { cat "$W"/*.log; echo "FAIL: load: setup"; exit 1; }
e2e_make_input "$W/in.pb" 5
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >/dev/null 2>&1 ||
	{ echo "FAIL: load: eml run --local"; exit 1; }

LC="$W/load_client"
# shellcheck disable=SC2046,SC2086
cc -std=c11 -O2 ${EML_SANFLAGS:-} -I"$E2E_ROOT/include" "$E2E_ROOT/tests/integration/sdk/load_client.c" \
	"$BUILD/lib/libeml.a" $(pkg-config --libs libcrypto libssl libprotobuf-c libsodium jansson) \
	-lm -pthread -o "$LC" 2>"$W/cc.log" || { cat "$W/cc.log"; echo "FAIL: load: cannot build the client"; exit 1; }

rm -f "$W/agent.sock"
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json" --max-sessions 128
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: load: agent"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null
for i in $(seq 1 "$CLIENTS"); do
	"$EML_PROXY" keys add --keys "$W/keys.json" --id "c$i" --rate "$RATE" | tail -n 1 >"$W/c$i.key"
done
PORT=$(e2e_free_port)
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --api-keys "$W/keys.json" --rate-limit 0 --audit "$W/audit.log" \
	--max-clients 256 --health-fall 3
PROXY_PID=$E2E_LAST_PID
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; echo "FAIL: load: proxy"; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$PROXY_PID/status"; }
t0=$(date +%s%N)
pids=()
for i in $(seq 1 "$CLIENTS"); do
	"$LC" "127.0.0.1:$PORT" "$W/model" "$W/client.json" "$W/in.pb" "$W/ref/output_0.pb" \
		"$(cat "$W/c$i.key")" "$SECONDS_RUN" >"$W/c$i.out" 2>"$W/c$i.err" &
	pids+=($!)
done
samples=()
q=$((SECONDS_RUN * 10 / 4))
for k in $(seq 1 $((SECONDS_RUN * 10))); do
	sleep 0.1
	if [ $((k % 10)) -eq 0 ] || [ "$k" -eq "$q" ]; then samples+=("$(rss)"); fi
	[ "$k" -eq "$q" ] && rss_q=$(rss)
	[ "$k" -eq $((3 * q)) ] && rss_end=$(rss)
done
fail=0
for p in "${pids[@]}"; do wait "$p" || fail=1; done
t1=$(date +%s%N)

tot() { cat "$W"/c*.out | grep -o "$1=[0-9]*" | cut -d= -f2 | awk '{s += $1} END {print s + 0}'; }
ok=$(tot ok)
refused=$(tot refused)
wrong=$(tot wrong)
errors=$(tot errors)
sessions=$(tot sessions)
e2e_stop "$PROXY_PID"

# Per-key bucket check on the audit log.
check=$("$PY" - "$W/audit.log" "$RATE" <<'EOF'
import json, sys, collections, datetime
path, rate = sys.argv[1], int(sys.argv[2])
served = collections.defaultdict(list)
refused = collections.defaultdict(list)
def ms(ts):
    d = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ")
    return d.timestamp() * 1000.0
for line in open(path):
    o = json.loads(line)
    if o.get("kind") != "request" or o.get("type") != "INFER_REQUEST" or "key" not in o:
        continue
    if o.get("refused") == "rate_key":
        refused[o["key"]].append(ms(o["ts"]))
    elif o.get("err") == 0:
        served[o["key"]].append(ms(o["ts"]) - o.get("latency_ms", 0.0))
bad = []
total = 0
for k in set(served) | set(refused):
    s = sorted(served[k])
    total += len(s)
    if not s:
        bad.append("%s: nothing served" % k)
        continue
    t0 = s[0]
    for i, t in enumerate(s):
        allow = rate + int(rate * (t - t0) / 60000.0) + 1
        if i + 1 > allow:
            bad.append("%s: %d admitted by %.0f ms, bucket allows %d" % (k, i + 1, t - t0, allow))
            break
    for t in refused[k]:
        before = sum(1 for x in s if x <= t)
        need = rate + int(rate * (t - t0) / 60000.0) - 1
        if before < need:
            bad.append("%s: refused at %.0f ms with only %d admitted (bucket %d)" % (k, t - t0, before, need))
            break
print("served=%d keys=%d bad=%d %s" % (total, len(set(served) | set(refused)), len(bad), "; ".join(bad[:3])))
EOF
)
audit_served=$(echo "$check" | sed -n 's/^served=\([0-9]*\).*/\1/p')
dt=$(((t1 - t0) / 1000000))
echo "load: $CLIENTS clients x ${SECONDS_RUN}s, $RATE/min per key: ok=$ok refused=$refused" \
	"wrong=$wrong errors=$errors sessions=$sessions in ${dt} ms" \
	"($(awk -v a="$ok" -v d="$dt" 'BEGIN {printf "%.1f", a * 1000 / d}') answers/s)"
echo "load: proxy VmRSS kB samples: ${samples[*]} (quarter $rss_q, three quarters $rss_end)"
echo "load: audit: $check"

if [ $fail -eq 0 ] && [ "$wrong" -eq 0 ] && [ "$errors" -eq 0 ] && [ "$ok" -gt 0 ] &&
	[ "$ok" = "$audit_served" ]; then
	e2e_pass "load: no good request lost ($ok answers, all correct, = the proxy's admitted count)"
else
	e2e_fail "load: requests lost or wrong (ok $ok, audit $audit_served, wrong $wrong, errors $errors)"
	cat "$W"/c*.err | sort | uniq -c | head -5
fi
if echo "$check" | grep -q " bad=0 " && [ "$refused" -gt 0 ]; then
	e2e_pass "load: refusals exact to the bucket for all $CLIENTS keys ($refused refusals)"
else
	e2e_fail "load: bucket check: $check (refused $refused)"
fi
if [ "$rss_end" -le $((rss_q + rss_q / 10 + 256)) ]; then
	e2e_pass "load: proxy memory flat under load (${rss_q} kB at a quarter, ${rss_end} kB at three quarters)"
else
	e2e_fail "load: proxy memory grew (${rss_q} kB -> ${rss_end} kB)"
fi
exit $E2E_FAILED
