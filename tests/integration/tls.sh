#!/usr/bin/env bash
# TLS on the proxy's client listener (issue 13), real eml-proxy and
# eml-agent, certificates made with the openssl command:
#
#   1 a certificate for 127.0.0.1 from the client's CA: served over TLS
#   2 a certificate for another name, from the same CA: the client refuses
#     it (exit 1, TLS code 763) and sends no hello
#   3 a certificate from another CA: refused the same way
#   4 a plain client against the TLS listener: fails cleanly, proxy stays up
#   5 a capture of the client leg (a recording TCP forwarder between
#     client and proxy) holds no byte of the API key over TLS, and does
#     hold it without TLS (the check can fail)
#
# One PASS/FAIL line per case; exit status 1 when any failed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: tls: $b missing"; exit 1; }
done
command -v openssl >/dev/null || { echo "FAIL: tls: no openssl command"; exit 1; }
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=info
unset EML_API_KEY

e2e_world request || { cat "$W"/*.log; echo "FAIL: tls: setup"; exit 1; }
e2e_make_input "$W/in.pb" 11

# CA, a server certificate for 127.0.0.1, one for another name, and one
# from a CA the client does not know.
mkcert() { # NAME SAN CA
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$1" \
		-keyout "$W/$1.key" -out "$W/$1.csr" 2>/dev/null &&
		printf 'subjectAltName=%s\n' "$2" >"$W/$1.ext" &&
		openssl x509 -req -in "$W/$1.csr" -CA "$W/$3.pem" -CAkey "$W/$3.key" \
			-CAcreateserial -days 2 -extfile "$W/$1.ext" -out "$W/$1.pem" 2>/dev/null
}
mkca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
		-subj "/CN=$1" -keyout "$W/$1.key" -out "$W/$1.pem" 2>/dev/null
}
mkca ca && mkca otherca && mkcert good "IP:127.0.0.1" ca && mkcert wrong "DNS:wrong.example" ca &&
	mkcert foreign "IP:127.0.0.1" otherca || { echo "FAIL: tls: openssl could not make certificates"; exit 1; }

rm -f "$W/agent.sock"
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: tls: agent"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null
KEY=$("$EML_PROXY" keys add --keys "$W/keys.json" --id tls-client --rate 100000 | tail -n 1)
printf '%s\n' "$KEY" >"$W/client.key"

start_proxy() { # NAME CERT|plain
	local name=$1 cert=$2
	PORT=$(e2e_free_port)
	local tls=()
	[ "$cert" = plain ] || tls=(--tls-cert "$W/$cert.pem" --tls-key "$W/$cert.key")
	e2e_start "$name" "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
		--weights "$W/store" --api-keys "$W/keys.json" --audit "$W/$name.audit" "${tls[@]}"
	PROXY_PID=$E2E_LAST_PID
	e2e_wait_tcp "$PORT" || { cat "$W/$name.log"; echo "FAIL: tls: $name did not start"; exit 1; }
}
infer() { # NAME PORT [extra]
	local name=$1 port=$2
	shift 2
	"$EML" infer --proxy "127.0.0.1:$port" --model "$W/model" --policy "$W/client.json" \
		--input "$W/in.pb" --timeout 20000 --quiet --api-key-file "$W/client.key" "$@" \
		>"$W/$name.out" 2>&1
}
requests() { grep -c '"type":"INFER_REQUEST"' "$1" 2>/dev/null; }

# A TCP forwarder that records every byte of the client leg.
forwarder() { # LISTEN_PORT TARGET_PORT FILE
	"$PY" - "$@" <<'EOF' &
import socket, sys, threading
lp, tp, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
out = open(path, "ab")
lock = threading.Lock()
ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lp))
ls.listen(8)
def pipe(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            with lock:
                out.write(d)
                out.flush()
            b.sendall(d)
    except OSError:
        pass
    for s in (a, b):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
while True:
    c, _ = ls.accept()
    u = socket.create_connection(("127.0.0.1", tp))
    threading.Thread(target=pipe, args=(c, u), daemon=True).start()
    threading.Thread(target=pipe, args=(u, c), daemon=True).start()
EOF
	E2E_PIDS+=("$!")
	e2e_wait_tcp "$1" || { echo "FAIL: tls: forwarder"; exit 1; }
}

# ---- 1 the right certificate
start_proxy proxy-good good
GOOD_PORT=$PORT
infer good "$PORT" --tls-ca "$W/ca.pem" --output-dir "$W/out-good"
st=$?
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >/dev/null 2>&1
if [ $st -eq 0 ] && cmp -s "$W/out-good/output_0.pb" "$W/ref/output_0.pb" &&
	grep -q '"key":"tls-client"' "$W/proxy-good.audit"; then
	e2e_pass "tls: served over TLS with a certificate for 127.0.0.1, key checked"
else
	e2e_fail "tls: TLS client not served (exit $st)"
	tail -3 "$W/good.out"
fi

# ---- 4 a plain client on the TLS listener
infer plain-on-tls "$PORT"
st=$?
if [ $st -ne 0 ] && kill -0 "$PROXY_PID" 2>/dev/null; then
	e2e_pass "tls: a plain client against the TLS listener fails (exit $st), proxy stays up"
else
	e2e_fail "tls: plain client on the TLS listener (exit $st)"
fi

# ---- 2 and 3 certificates the client must refuse
for c in wrong foreign; do
	start_proxy "proxy-$c" "$c"
	infer "$c" "$PORT" --tls-ca "$W/ca.pem"
	st=$?
	if [ $st -eq 1 ] && grep -q "EML_ERR_TLS" "$W/$c.out" && grep -q "does not verify" "$W/$c.out" &&
		[ "$(requests "$W/proxy-$c.audit")" -eq 0 ]; then
		e2e_pass "tls: the client refuses a certificate ($c) and sends no request"
	else
		e2e_fail "tls: certificate $c accepted or wrong error (exit $st)"
		tail -2 "$W/$c.out"
	fi
	e2e_stop "$PROXY_PID"
done

# ---- 5 what crosses the network on the client leg
start_proxy proxy-plain plain
PLAIN_PORT=$PORT
F1=$(e2e_free_port)
F2=$(e2e_free_port)
forwarder "$F1" "$GOOD_PORT" "$W/leg-tls.bin"
forwarder "$F2" "$PLAIN_PORT" "$W/leg-plain.bin"
infer leg-tls "$F1" --tls-ca "$W/ca.pem"
st1=$?
infer leg-plain "$F2"
st2=$?
secret=${KEY##*.}
if [ $st1 -eq 0 ] && [ $st2 -eq 0 ] && [ -s "$W/leg-tls.bin" ] &&
	! grep -aqF "${secret:0:16}" "$W/leg-tls.bin" && ! grep -aqF "tls-client" "$W/leg-tls.bin" &&
	grep -aqF "$secret" "$W/leg-plain.bin"; then
	e2e_pass "tls: the client leg over TLS holds no API key byte (in clear without TLS)"
else
	e2e_fail "tls: client-leg capture ($st1/$st2)"
fi

exit $E2E_FAILED
