#!/usr/bin/env bash
# Operator controls over the real eml-proxy and eml-agent (issue 13):
#
#   1 no key, an unknown key, a revoked key and an expired key: refused
#     the same way (same exit status, byte-identical message, code 758);
#     the audit log says which was which, for the operator only
#   2 a valid key (file or EML_API_KEY): served, correct output, its id in
#     the audit lines; the secret appears in no log, no audit line and no
#     byte the proxy relayed to the agent
#   3 SIGHUP reloads the key file: a session running through it is not
#     dropped, a key revoked in the file is refused afterwards, same PID
#   4 per-key rate limit: refusals exact to the bucket, code 759 with a
#     retry-after hint
#   5 kill switch through the admin endpoint: a POST without the token is
#     401 and changes nothing; with it, /status shows the change and the
#     next request is refused (760); off restores service; same PIDs
#   6 baseline-only: a model outside the allowlist is refused (761);
#     listed, it is served
#   7 per-address rate limit (--rate-limit 60): the request past the
#     bucket is refused with 759 and a retry-after hint, served again
#     after that wait; counted in /metrics
#   8 start flags: --kill-switch and --allow-model take effect at start
#
# One PASS/FAIL line per case; exit status 1 when any failed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: operator: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=info
unset EML_API_KEY

e2e_world request || { cat "$W"/*.log; echo "FAIL: operator: setup"; exit 1; }
e2e_make_input "$W/in.pb" 7
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W/ref.log"; echo "FAIL: operator: eml run --local"; exit 1; }

rm -f "$W/agent.sock"
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
AGENT_PID=$E2E_LAST_PID
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: operator: agent"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null ||
	{ echo "FAIL: operator: blob put"; exit 1; }

# Keys: good, good2 (revoked later), revoked, expired, slow (3/min).
K=$W/keys.json
key() { "$EML_PROXY" keys add --keys "$K" "$@" | tail -n 1; }
GOOD=$(key --id good --partner acme --rate 100000)
GOOD2=$(key --id good2 --partner acme --rate 100000)
REVOKED=$(key --id gone --rate 100000)
"$EML_PROXY" keys revoke --keys "$K" --id gone >/dev/null
EXPIRED=$(key --id old --rate 100000 --not-after 1000000000)
SLOW=$(key --id slow --partner beta --rate 3)
UNKNOWN="emlk1.nobody.$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
for v in GOOD GOOD2 REVOKED EXPIRED SLOW; do
	case "${!v}" in emlk1.*) ;; *) echo "FAIL: operator: keys add printed no key for $v"; exit 1 ;; esac
done
printf '%s\n' "$GOOD" >"$W/good.key"
printf '%s\n' "$GOOD2" >"$W/good2.key"
printf '%s\n' "$SLOW" >"$W/slow.key"
printf '%s\n' "$REVOKED" >"$W/revoked.key"
printf '%s\n' "$EXPIRED" >"$W/expired.key"
printf '%s\n' "$UNKNOWN" >"$W/unknown.key"
"$EML_PROXY" keys list --keys "$K" >"$W/keys-list.txt"
if grep -q "^gone .* revoked$" "$W/keys-list.txt" && ! grep -q "${GOOD##*.}" "$K"; then
	e2e_pass "operator: key file keeps hashes only; list shows the revoked key"
else
	e2e_fail "operator: key file or list"
fi

TOKEN=tok-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s\n' "$TOKEN" >"$W/admin.token"
PORT=$(e2e_free_port)
ADMIN=$(e2e_free_port)
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --audit "$W/audit.log" --api-keys "$K" --rate-limit 100000 \
	--admin "tcp:127.0.0.1:$ADMIN" --admin-token-file "$W/admin.token" --capture "$W/capture.bin"
PROXY_PID=$E2E_LAST_PID
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; echo "FAIL: operator: proxy"; exit 1; }

infer() { # NAME [extra]: exit status in $?, stdout+stderr in $W/NAME.out
	local name=$1
	shift
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client.json" \
		--input "$W/in.pb" --timeout 30000 --quiet "$@" >"$W/$name.out" 2>&1
}

# admin METHOD PATH [TOKEN] [BODY]: prints "CODE BODY"
admin() {
	"$PY" - "$ADMIN" "$@" <<'EOF'
import http.client, sys
port, method, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
tok = sys.argv[4] if len(sys.argv) > 4 else ""
body = sys.argv[5] if len(sys.argv) > 5 else None
h = {"Content-Type": "application/json"}
if tok:
    h["Authorization"] = "Bearer " + tok
c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
c.request(method, path, body=body, headers=h)
r = c.getresponse()
print(r.status, r.read().decode())
EOF
}
# status_field SECTION KEY: the value from GET /status
status_field() {
	admin GET /status | cut -d' ' -f2- |
		"$PY" -c 'import json,sys; d=json.load(sys.stdin); print(json.dumps(d[sys.argv[1]][sys.argv[2]]))' "$1" "$2"
}
same_pids() { kill -0 "$PROXY_PID" 2>/dev/null && kill -0 "$AGENT_PID" 2>/dev/null; }

# ---- 1 refusals that look the same
st_all=""
for k in none unknown revoked expired; do
	if [ "$k" = none ]; then infer "auth-$k"; else infer "auth-$k" --api-key-file "$W/$k.key"; fi
	st_all="$st_all $?"
done
if [ "$st_all" = " 1 1 1 1" ] && grep -q "peer error 758" "$W/auth-none.out" &&
	cmp -s "$W/auth-none.out" "$W/auth-unknown.out" &&
	cmp -s "$W/auth-none.out" "$W/auth-revoked.out" &&
	cmp -s "$W/auth-none.out" "$W/auth-expired.out"; then
	e2e_pass "operator: no, unknown, revoked and expired keys refused identically (758, exit 1)"
else
	e2e_fail "operator: key refusals differ (exits:$st_all)"
	head -3 "$W"/auth-*.out
fi
whys=$(grep '"reason":"auth"' "$W/audit.log" | grep -o '"why":"[a-z_]*"' | sort | tr '\n' ' ')
if [ "$whys" = '"why":"expired" "why":"missing" "why":"revoked" "why":"unknown" ' ]; then
	e2e_pass "operator: the audit log tells the operator why each was refused"
else
	e2e_fail "operator: audit refusal reasons: $whys"
fi

# ---- 2 a valid key
infer good --api-key-file "$W/good.key" --output-dir "$W/out-good"
st=$?
EML_API_KEY=$GOOD infer good-env --output-dir "$W/out-env"
st_env=$?
if [ $st -eq 0 ] && [ $st_env -eq 0 ] && cmp -s "$W/out-good/output_0.pb" "$W/ref/output_0.pb" &&
	cmp -s "$W/out-env/output_0.pb" "$W/ref/output_0.pb"; then
	e2e_pass "operator: a valid key (file or EML_API_KEY) is served, output correct"
else
	e2e_fail "operator: valid key not served ($st/$st_env)"
	cat "$W/good.out" "$W/good-env.out"
fi
if grep '"kind":"request"' "$W/audit.log" | grep '"type":"INFER_REQUEST"' | grep -q '"key":"good"' &&
	grep '"kind":"conn"' "$W/audit.log" | grep '"key":"good"' | grep -q '"partner":"acme"'; then
	e2e_pass "operator: the key id (and partner) is in the audit lines"
else
	e2e_fail "operator: key id missing from the audit log"
fi
leak=0
for s in "$GOOD" "$UNKNOWN" "$REVOKED"; do
	hex=${s##*.}
	for f in "$W/audit.log" "$W/proxy.log" "$W/agent.log" "$W/capture.bin" "$K"; do
		if grep -aqF "$hex" "$f" || grep -aqF "${hex:0:16}" "$f"; then
			leak=1
			echo "secret bytes in $f"
		fi
	done
done
if [ $leak -eq 0 ]; then
	e2e_pass "operator: no key secret in logs, audit, key file or anything relayed to the agent"
else
	e2e_fail "operator: a key secret leaked"
fi

# ---- 3 SIGHUP reload without dropping a session
infer long --api-key-file "$W/good.key" --repeat 400 &
LONG=$!
sleep 0.3
"$EML_PROXY" keys revoke --keys "$K" --id good2 >/dev/null
kill -HUP "$PROXY_PID"
for _ in $(seq 50); do
	grep -q '"control":"keys_reload"' "$W/audit.log" && break
	sleep 0.1
done
infer after-hup --api-key-file "$W/good2.key"
st_rev=$?
wait $LONG
st_long=$?
if [ $st_long -eq 0 ] && [ $st_rev -eq 1 ] && grep -q "peer error 758" "$W/after-hup.out" && same_pids; then
	e2e_pass "operator: SIGHUP reload: running session kept, revoked key refused, same PIDs"
else
	e2e_fail "operator: SIGHUP reload (long $st_long, revoked $st_rev)"
	tail -3 "$W/long.out" "$W/after-hup.out"
fi

# ---- 4 per-key bucket (3 per minute)
t0=$(date +%s%N)
infer slow --api-key-file "$W/slow.key" --repeat 10
st=$?
t1=$(date +%s%N)
served=$(grep '"kind":"request"' "$W/audit.log" | grep '"type":"INFER_REQUEST"' |
	grep '"key":"slow"' | grep -c '"err":0,')
refused=$(grep '"refused":"rate_key"' "$W/audit.log" | grep -c '"key":"slow"')
# 3 at once, plus one per 20 s of the run
maxs=$((3 + (t1 - t0) / 20000000000))
if [ $st -eq 3 ] && grep -q "peer error 759" "$W/slow.out" && grep -q "retry_after_ms=" "$W/slow.out" &&
	[ "$served" -ge 3 ] && [ "$served" -le $maxs ] && [ "$refused" -eq 1 ]; then
	e2e_pass "operator: per-key bucket: $served served, then 759 with a retry-after hint"
else
	e2e_fail "operator: per-key bucket (exit $st, served $served, refused $refused)"
	tail -2 "$W/slow.out"
fi

# ---- 5a the attestation producer the agent announces (its Pong), in /status
prod=""
for _ in $(seq 1 100); do
	prod=$(status_field security attestation_producer)
	[ "$prod" = '"unknown"' ] || break
	sleep 0.1
done
aprod=$(admin GET /status | cut -d' ' -f2- |
	"$PY" -c 'import json,sys; print(json.load(sys.stdin)["agents"][0]["producer"])')
if [ "$prod" = '"sim"' ] && [ "$aprod" = sim ]; then
	e2e_pass "operator: /status security.attestation_producer is the agent's announced producer (sim)"
else
	e2e_fail "operator: attestation_producer $prod, agent $aprod (want sim)"
fi

# ---- 5 kill switch
r=$(admin POST /admin/kill-switch "" '{"enabled":true}')
r2=$(admin POST /admin/kill-switch "wrong-token-wrong-token" '{"enabled":true}')
if [ "${r%% *}" = 401 ] && [ "${r2%% *}" = 401 ] && [ "$(status_field configuration kill_switch)" = false ]; then
	e2e_pass "operator: admin POST without the right token is 401 and changes nothing"
else
	e2e_fail "operator: unauthenticated POST: $r / $r2"
fi
r=$(admin POST /admin/kill-switch "$TOKEN" '{"enabled":true}')
ks=$(status_field configuration kill_switch)
infer killed --api-key-file "$W/good.key"
st=$?
if [ "${r%% *}" = 200 ] && [ "$ks" = true ] && [ $st -eq 3 ] && grep -q "peer error 760" "$W/killed.out"; then
	e2e_pass "operator: kill switch on: /status shows it, the next request is refused (760)"
else
	e2e_fail "operator: kill switch on ($r, status $ks, exit $st)"
	tail -2 "$W/killed.out"
fi
r=$(admin POST /admin/kill-switch "$TOKEN" '{"enabled":false}')
infer unkilled --api-key-file "$W/good.key"
st=$?
if [ "${r%% *}" = 200 ] && [ "$(status_field configuration kill_switch)" = false ] && [ $st -eq 0 ] &&
	same_pids && [ "$(grep -c '"control":"kill_switch"' "$W/audit.log")" -eq 2 ]; then
	e2e_pass "operator: kill switch off: served again, no restart, both changes audited"
else
	e2e_fail "operator: kill switch off ($r, exit $st)"
fi

# ---- 6 baseline-only
OTHER=$(printf 'not this model' | sha256sum | cut -d' ' -f1)
r=$(admin POST /admin/baseline-only "$TOKEN" "{\"enabled\":true,\"models\":[\"$OTHER\"]}")
models=$(status_field configuration allowed_models)
infer blocked --api-key-file "$W/good.key"
st=$?
if [ "${r%% *}" = 200 ] && [ "$models" = "[\"$OTHER\"]" ] && [ $st -eq 1 ] &&
	grep -q "peer error 761" "$W/blocked.out" &&
	grep '"refused":"baseline_only"' "$W/audit.log" | grep -q "\"model\":\"$E2E_CID\""; then
	e2e_pass "operator: baseline-only refuses a model outside the allowlist (761), audited"
else
	e2e_fail "operator: baseline-only refusal ($r, models $models, exit $st)"
	tail -2 "$W/blocked.out"
fi
r=$(admin POST /admin/baseline-only "$TOKEN" "{\"enabled\":true,\"models\":[\"$OTHER\",\"$E2E_CID\"]}")
infer listed --api-key-file "$W/good.key"
st=$?
r2=$(admin POST /admin/baseline-only "$TOKEN" '{"enabled":false}')
if [ "${r%% *}" = 200 ] && [ $st -eq 0 ] && [ "${r2%% *}" = 200 ] &&
	[ "$(status_field configuration baseline_only)" = false ] && same_pids; then
	e2e_pass "operator: an allowlisted model is served; baseline-only off again"
else
	e2e_fail "operator: baseline-only allowlisted ($r, exit $st, $r2)"
fi
e2e_stop "$PROXY_PID"

# ---- 7 per-address bucket, default kind of limit (60 per minute)
PORT=$(e2e_free_port)
ADMIN=$(e2e_free_port)
e2e_start proxy-rate "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --audit "$W/audit-rate.log" --rate-limit 60 --admin "tcp:127.0.0.1:$ADMIN"
PROXY_PID=$E2E_LAST_PID
e2e_wait_tcp "$PORT" || { cat "$W/proxy-rate.log"; echo "FAIL: operator: proxy-rate"; exit 1; }
t0=$(date +%s%N)
infer rate --repeat 200
st=$?
t1=$(date +%s%N)
served=$(grep '"kind":"request"' "$W/audit-rate.log" | grep '"type":"INFER_REQUEST"' | grep -c '"err":0,')
maxs=$((60 + (t1 - t0) / 1000000000 + 1))
retry=$(grep -o 'retry_after_ms=[0-9]*' "$W/rate.out" | head -1 | cut -d= -f2)
if [ $st -eq 3 ] && grep -q "peer error 759" "$W/rate.out" && [ "$served" -ge 60 ] &&
	[ "$served" -le $maxs ] && [ -n "$retry" ] && [ "$retry" -ge 1 ] && [ "$retry" -le 1000 ]; then
	e2e_pass "operator: --rate-limit 60: $served served (60 + refill), then 759, retry after ${retry} ms"
else
	e2e_fail "operator: per-address bucket (exit $st, served $served, max $maxs, retry '$retry')"
	tail -2 "$W/rate.out"
fi
sleep "$(printf '0.%03d' "$retry")"
infer rate-again
st=$?
m=$(admin GET /metrics)
if [ $st -eq 0 ] && echo "$m" | grep -q '^eml_proxy_requests_refused_total{reason="rate_addr"} 1$'; then
	e2e_pass "operator: served again after the retry-after wait; the refusal is in /metrics"
else
	e2e_fail "operator: after the wait (exit $st)"
	echo "$m" | grep refused
fi
e2e_stop "$PROXY_PID"

# ---- 8 start flags
PORT=$(e2e_free_port)
ADMIN=$(e2e_free_port)
e2e_start proxy-flags "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --audit "$W/audit-flags.log" --kill-switch --allow-model "$OTHER" \
	--admin "tcp:127.0.0.1:$ADMIN" --admin-token-file "$W/admin.token"
PROXY_PID=$E2E_LAST_PID
e2e_wait_tcp "$PORT" || { cat "$W/proxy-flags.log"; echo "FAIL: operator: proxy-flags"; exit 1; }
infer flag-killed
st1=$?
admin POST /admin/kill-switch "$TOKEN" '{"enabled":false}' >/dev/null
infer flag-blocked
st2=$?
if [ $st1 -eq 3 ] && grep -q "peer error 760" "$W/flag-killed.out" && [ $st2 -eq 1 ] &&
	grep -q "peer error 761" "$W/flag-blocked.out" &&
	[ "$(grep -c '"by":"start"' "$W/audit-flags.log")" -eq 2 ] &&
	[ "$(status_field security api_keys_required)" = false ] &&
	{ [ "$(status_field security seccomp)" = true ] || [ -n "${EML_SANFLAGS:-}" ]; }; then
	e2e_pass "operator: --kill-switch and --allow-model apply from start, audited as such"
else
	e2e_fail "operator: start flags ($st1, $st2)"
fi
"$EML_PROXY" audit verify "$W/audit.log" >/dev/null &&
	"$EML_PROXY" audit verify "$W/audit-rate.log" >/dev/null ||
	e2e_fail "operator: audit chains"

exit $E2E_FAILED
