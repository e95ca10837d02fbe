#!/usr/bin/env bash
# Hostile frame sizes against the real eml-agent (sim), from the host's
# side of its socket (the untrusted position: the proxy and whatever the
# host runs). The agent reads a frame into room reserved once for the
# announced length (common/eml_frame.c): address space, made resident only
# as bytes arrive. Cases:
#   1 a header announcing 2 GiB: refused (Error frame, closed) before any
#     allocation: the agent's resident memory does not move
#   2 slow-loris: 8 connections each announce a 60 MiB frame (below the
#     64 MiB limit) and send 1 KiB of it, then hold: the agent's resident
#     memory grows by far less than the announced 480 MiB (bound: 48 MiB)
#   3 after both, the same agent serves a request through eml-proxy
# One PASS/FAIL line per case; exit status 1 when any failed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: frame-bounds: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
e2e_world session || { echo "FAIL: frame-bounds: setup"; exit 1; }
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
AGENT=$E2E_LAST_PID
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: frame-bounds: agent"; exit 1; }

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$AGENT/status"; }
# ASan maps shadow memory for every allocation: the resident figures are
# printed there but not judged.
SAN=0
nm "$EML_AGENT" 2>/dev/null | grep -q '__asan_init' && SAN=1

# 1: 2 GiB announced
before=$(rss_kib)
"$PY" - "$W/agent.sock" >"$W/big.out" 2>&1 <<'PYEOF'
import socket, struct, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
s.sendall(struct.pack(">I", 2 << 30))
s.settimeout(5)
got = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        got += d
except socket.timeout:
    print("timeout")
print("answered", len(got), "closed")
PYEOF
after=$(rss_kib)
if grep -q "closed" "$W/big.out" && ! grep -q timeout "$W/big.out" &&
	{ [ $SAN = 1 ] || [ $((after - before)) -lt 4096 ]; }; then
	e2e_pass "frame-bounds: a 2 GiB header is refused and closed; agent RSS ${before} -> ${after} KiB"
else
	cat "$W/big.out"
	e2e_fail "frame-bounds: 2 GiB header (RSS ${before} -> ${after} KiB)"
fi

# 2: slow-loris, 8 x 60 MiB announced, 1 KiB sent each
before=$(rss_kib)
"$PY" - "$W/agent.sock" "$W/loris.ready" >"$W/loris.out" 2>&1 <<'PYEOF' &
import os, socket, struct, sys, time
socks = []
for _ in range(8):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(sys.argv[1])
    s.sendall(struct.pack(">I", 60 << 20) + b"\x08" * 1024)
    socks.append(s)
open(sys.argv[2], "w").close()
time.sleep(4)
PYEOF
LORIS=$!
for _ in $(seq 1 100); do [ -e "$W/loris.ready" ] && break; sleep 0.05; done
sleep 1
during=$(rss_kib)
wait "$LORIS"
if [ -e "$W/loris.ready" ] && { [ $SAN = 1 ] || [ $((during - before)) -lt $((48 * 1024)) ]; }; then
	e2e_pass "frame-bounds: 8 slow frames announcing 480 MiB pin $(((during - before) / 1024)) MiB of agent RSS (${before} -> ${during} KiB)"
else
	cat "$W/loris.out"
	e2e_fail "frame-bounds: slow-loris RSS ${before} -> ${during} KiB"
fi

# 3: still serving
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null 2>&1
PORT=$(e2e_free_port)
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --rate-limit 0
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; echo "FAIL: frame-bounds: proxy"; exit 1; }
e2e_make_input "$W/in.pb" 1
if "$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client.json" \
	--input "$W/in.pb" --quiet >"$W/infer.out" 2>&1 && kill -0 "$AGENT" 2>/dev/null; then
	e2e_pass "frame-bounds: the same agent still serves a request"
else
	cat "$W/infer.out"
	e2e_fail "frame-bounds: the agent does not serve after the hostile frames"
fi
exit $E2E_FAILED
