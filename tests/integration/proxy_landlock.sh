#!/usr/bin/env bash
# The proxy's sandbox narrowed (issue 11): seccomp cannot tell paths apart,
# so after start-up Landlock confines what the proxy may open (the store
# read-only, the audit log's directory, glibc's overcommit file). Through
# the real eml-proxy: the start log and /status say which Landlock ABI is
# enforced; the test hook EML_PROXY_SELFTEST_OPEN makes the running proxy
# try one open after confinement: a file outside its paths is refused by
# the kernel (EACCES) while a blob in its store opens; and serving goes
# on: eml infer through that proxy is answered bit-identical to eml run
# --local, with the audit log written. On a kernel without Landlock the
# proxy says so (landlock 0) and the refusal check is skipped, not passed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: proxy_landlock: $b missing"; exit 1; }
done
if nm "$EML_PROXY" 2>/dev/null | grep -q '__asan_init'; then
	echo "PASS: proxy_landlock: sanitizer build, sandbox not installed (skipped)"
	exit 0
fi
e2e_init
W=$E2E_DIR
e2e_world request || { cat "$W"/*.log; echo "FAIL: proxy_landlock: setup"; exit 1; }
ABI=$("$PY" -c 'import ctypes; l = ctypes.CDLL(None); r = l.syscall(444, None, 0, 1); print(r if r > 0 else 0)')
e2e_make_input "$W/in.pb" 3
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W/ref.log"; echo "FAIL: proxy_landlock: eml run --local"; exit 1; }
mkdir -p "$W/store" "$W/audit"
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; echo "FAIL: proxy_landlock: blob put"; exit 1; }
# A file the proxy could read without the sandbox (world-readable).
echo "not for the proxy" >"$W/outside.txt"
chmod 644 "$W/outside.txt"
chmod 755 "$W"
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: proxy_landlock: agent"; exit 1; }

start_proxy() { # NAME SELFTEST_PATH
	local port admin
	port=$(e2e_free_port)
	admin=$(e2e_free_port)
	rm -f "$W/$1.sock"
	EML_PROXY_SELFTEST_OPEN=$2 e2e_start "$1" "$EML_PROXY" --listen "tcp:127.0.0.1:$port" \
		--agent "unix:$W/agent.sock" --weights "$W/store" --audit "$W/audit/$1.log" \
		--admin "tcp:127.0.0.1:$admin" --rate-limit 0
	e2e_wait_tcp "$port" || { cat "$W/$1.log"; echo "FAIL: proxy_landlock: $1"; exit 1; }
	PORT=$port ADMIN=$admin
}
selftest() { # NAME: the result the proxy logged
	grep '"event":"sandbox.selftest"' "$W/$1.log" | grep -o '"errno":[0-9]*' | cut -d: -f2
}

# 1. Outside: refused by the kernel, and the proxy still serves.
start_proxy outside "$W/outside.txt"
for _ in $(seq 1 50); do [ -n "$(selftest outside)" ] && break; sleep 0.1; done
got=$(selftest outside)
logged=$(grep -o '"event":"landlock\.[a-z]*"[^}]*"abi":[0-9]*' "$W/outside.log" | grep -o '[0-9]*$')
if [ "$ABI" -gt 0 ]; then
	if [ "$got" = 13 ] && [ "$logged" = "$ABI" ]; then
		e2e_pass "proxy_landlock: Landlock ABI $ABI installed; opening $W/outside.txt after start: EACCES from the kernel"
	else
		grep -E 'landlock|sandbox' "$W/outside.log"
		e2e_fail "proxy_landlock: outside open errno '${got:-none}', landlock abi '${logged:-none}' (kernel $ABI)"
	fi
else
	grep -q '"event":"landlock.unavailable"' "$W/outside.log" &&
		echo "SKIP: proxy_landlock: kernel without Landlock (logged as such); open errno ${got:-?}"
fi
st=$("$PY" - "$ADMIN" <<'EOP'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/status" % sys.argv[1], timeout=10))
print(s["security"]["landlock"], s["security"]["seccomp"])
EOP
)
if [ "$st" = "$ABI True" ]; then
	e2e_pass "proxy_landlock: /status security.landlock = $ABI, seccomp true"
else
	e2e_fail "proxy_landlock: /status says '$st', kernel ABI $ABI"
fi
if "$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client.json" \
	--input "$W/in.pb" --output-dir "$W/out" --timeout 30000 >"$W/infer.out" 2>&1 &&
	cmp -s "$W/ref/output_0.pb" "$W/out/output_0.pb" && [ -s "$W/audit/outside.log" ]; then
	e2e_pass "proxy_landlock: the confined proxy serves (bit-identical to eml run --local; audit log written)"
else
	cat "$W/infer.out"
	tail -n 5 "$W/outside.log"
	e2e_fail "proxy_landlock: serving through the confined proxy"
fi

# 2. Inside the store: the same hook opens a blob.
blob=$(find "$W/store" -maxdepth 1 -type f | head -n 1)
start_proxy inside "$blob"
for _ in $(seq 1 50); do [ -n "$(selftest inside)" ] && break; sleep 0.1; done
if [ "$(selftest inside)" = 0 ]; then
	e2e_pass "proxy_landlock: a blob in the store still opens after confinement"
else
	grep -E 'landlock|sandbox' "$W/inside.log"
	e2e_fail "proxy_landlock: store blob open errno '$(selftest inside)'"
fi
exit $E2E_FAILED
