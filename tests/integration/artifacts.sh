#!/usr/bin/env bash
# Fail-closed artifacts (issue 13) over the real eml, eml-proxy and
# eml-agent, with an agent policy that allows signers and pins no content
# id. Keys and signatures are made with the openssl command the way AWS
# KMS makes them (RSASSA-PKCS1-v1_5-SHA-256 and ECDSA-P-384-SHA-384 over
# the raw 64-byte message, DER public keys) and wrapped with `eml keys
# wrap`:
#
#   1 an unsigned model is refused (660), before anything is assembled
#   2 a model signed by a key the policy does not name: 659
#   3 a signature with one flipped byte: 658
#   4 a KMS-format RSA signature verifies: served, output correct
#   5 a KMS-format ECDSA P-384 signature verifies: served, output correct
#   6 a blob with one flipped byte in the store, validly signed otherwise:
#     refused by the agent's chunk authentication, its own code, no output
#   7 after all of it the same agent process serves (same PID)
#   8 the proxy with --strict-artifacts --signers (the RSA and EC key ids):
#     a blob without a signature file beside it is refused by the proxy
#     (764, audited); the same blob with the RSA model.sig beside it (blob
#     put --sig) is served; beside it the model.sig of a signer not in
#     --signers: refused (764); /status lists the blob's content id, size
#     and signature state (unsigned, signed with its signer's key id, bad)
#     and signature_verification_required; blob put refuses a --sig that is
#     not a model.sig
#
# One PASS/FAIL line per case; exit status 1 when any failed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: artifacts: $b missing"; exit 1; }
done
command -v openssl >/dev/null || { echo "FAIL: artifacts: no openssl command"; exit 1; }
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=info

e2e_world request || { cat "$W"/*.log; echo "FAIL: artifacts: setup"; exit 1; }
e2e_make_input "$W/in.pb" 21
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >/dev/null 2>&1 ||
	{ echo "FAIL: artifacts: eml run --local"; exit 1; }

# Publisher keys: RSA-2048 and EC P-384 named by the policy, another RSA
# key that is not.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/rsa.pem" 2>/dev/null &&
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$W/ec.pem" 2>/dev/null &&
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/other.pem" 2>/dev/null ||
	{ echo "FAIL: artifacts: openssl genpkey"; exit 1; }
for k in rsa ec other; do
	openssl pkey -in "$W/$k.pem" -pubout -out "$W/$k.pub.pem" 2>/dev/null &&
		openssl pkey -in "$W/$k.pem" -pubout -outform DER -out "$W/$k.pub.der" 2>/dev/null ||
		{ echo "FAIL: artifacts: openssl pkey $k"; exit 1; }
done
"$PY" - "$W/rsa.pub.pem" "$W/ec.pub.pem" "$W/signed-policy.json" <<'EOF'
import json, sys
pubs = [open(p).read() for p in sys.argv[1:3]]
json.dump({"version": 1, "publishers": pubs, "assembly": "request"}, open(sys.argv[3], "w"))
EOF
DIGEST=$("$EML_AGENT" --policy-digest --policy "$W/signed-policy.json") ||
	{ echo "FAIL: artifacts: policy digest"; exit 1; }
p0=$(printf 'EphemeralML simulator PCR0' | sha384sum | cut -d' ' -f1)
p1=$(printf 'EphemeralML simulator PCR1' | sha384sum | cut -d' ' -f1)
p2=$(printf 'EphemeralML simulator PCR2' | sha384sum | cut -d' ' -f1)
e2e_client_policy "$W/signed-client.json" "$p0" "$p1" "$p2" "$DIGEST"

# The message, signed as KMS signs it, wrapped into model.sig.
"$EML" keys message "$W/model" --out "$W/M.bin" || { echo "FAIL: artifacts: keys message"; exit 1; }
openssl dgst -sha256 -sign "$W/rsa.pem" -out "$W/rsa.sig" "$W/M.bin" &&
	openssl dgst -sha384 -sign "$W/ec.pem" -out "$W/ec.sig" "$W/M.bin" &&
	openssl dgst -sha256 -sign "$W/other.pem" -out "$W/other.sig" "$W/M.bin" ||
	{ echo "FAIL: artifacts: openssl dgst -sign"; exit 1; }
variant() { # NAME ALG KEY
	mkdir -p "$W/m-$1"
	cp "$W/model/model.topo" "$W/model/weights.sealed" "$W/m-$1/"
	[ -z "$2" ] || "$EML" keys wrap --alg "$2" --public-key "$W/$3.pub.der" \
		--signature "$W/$3.sig" --out "$W/m-$1/model.sig"
}
variant unsigned "" "" && variant rsa rsa-pkcs1-sha256 rsa && variant ec ecdsa-p384-sha384 ec &&
	variant unknown rsa-pkcs1-sha256 other && variant badsig rsa-pkcs1-sha256 rsa ||
	{ echo "FAIL: artifacts: eml keys wrap"; exit 1; }
# one flipped byte in the signature itself (the last byte of the file)
"$PY" - "$W/m-badsig/model.sig" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-1] ^= 1
open(sys.argv[1], "wb").write(bytes(b))
EOF

rm -f "$W/agent.sock"
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/signed-policy.json"
AGENT_PID=$E2E_LAST_PID
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: artifacts: agent"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null
PORT=$(e2e_free_port)
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --audit "$W/audit.log"
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; echo "FAIL: artifacts: proxy"; exit 1; }

infer() { # VARIANT
	rm -rf "$W/out-$1"
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/m-$1" --policy "$W/signed-client.json" \
		--input "$W/in.pb" --output-dir "$W/out-$1" --timeout 30000 --quiet >"$W/$1.out" 2>&1
}
refused() { # VARIANT CODE WHAT
	infer "$1"
	local st=$?
	if [ $st -ne 0 ] && grep -q "peer error $2" "$W/$1.out" && [ ! -e "$W/out-$1/output_0.pb" ]; then
		e2e_pass "artifacts: $3 refused ($2)"
	else
		e2e_fail "artifacts: $3 (exit $st)"
		tail -2 "$W/$1.out"
	fi
}
served() { # VARIANT WHAT
	infer "$1"
	local st=$?
	if [ $st -eq 0 ] && cmp -s "$W/out-$1/output_0.pb" "$W/ref/output_0.pb"; then
		e2e_pass "artifacts: $2 verifies, served, output correct"
	else
		e2e_fail "artifacts: $2 (exit $st)"
		tail -2 "$W/$1.out"
	fi
}

refused unsigned 660 "an unsigned model"
refused unknown 659 "a model signed by a key the policy does not name"
refused badsig 658 "a signature with one flipped byte"
served rsa "a KMS-format RSASSA-PKCS1-v1_5-SHA-256 signature"
served ec "a KMS-format ECDSA-P-384 signature"
# nothing was fetched for the refused ones: they were refused before assembly
if [ "$(grep '"kind":"request"' "$W/audit.log" | grep -c '"blob_requests":[1-9]')" -eq 2 ]; then
	e2e_pass "artifacts: blobs were fetched only for the two signed models"
else
	e2e_fail "artifacts: blob fetches for refused models"
fi

# ---- 8 the proxy's --strict-artifacts
"$EML" keys id "$W/rsa.pub.pem" >"$W/signers" && "$EML" keys id "$W/ec.pub.pem" >>"$W/signers" ||
	{ echo "FAIL: artifacts: eml keys id"; exit 1; }
RSA_ID=$(head -1 "$W/signers" | awk '{print $NF}')
strict_proxy() { # NAME SIG_VARIANT (empty: no signature file)
	mkdir -p "$W/store-$1"
	if [ -n "$2" ]; then
		"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store-$1" \
			--sig "$W/m-$2/model.sig" >/dev/null || return 1
	else
		"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store-$1" >/dev/null ||
			return 1
	fi
	SPORT=$(e2e_free_port)
	SADMIN=$(e2e_free_port)
	e2e_start "proxy-$1" "$EML_PROXY" --listen "tcp:127.0.0.1:$SPORT" \
		--agent "unix:$W/agent.sock" --weights "$W/store-$1" --audit "$W/audit-$1.log" \
		--admin "tcp:127.0.0.1:$SADMIN" --strict-artifacts --signers "$W/signers"
	SPID=$E2E_LAST_PID
	e2e_wait_tcp "$SPORT" && e2e_wait_tcp "$SADMIN"
}
strict_infer() { # NAME VARIANT
	rm -rf "$W/out-s$1"
	"$EML" infer --proxy "127.0.0.1:$SPORT" --model "$W/m-$2" --policy "$W/signed-client.json" \
		--input "$W/in.pb" --output-dir "$W/out-s$1" --timeout 30000 --quiet >"$W/s$1.out" 2>&1
}
# artifact FIELD: the one blob's FIELD in the proxy's GET /status
# ("security": signature_verification_required, strict_artifacts_only, signers)
artifact() {
	"$PY" -c '
import json, sys, urllib.request
d = json.load(urllib.request.urlopen("http://127.0.0.1:%s/status" % sys.argv[1], timeout=10))
a = d["artifacts"]
assert len(a) == 1, a
if sys.argv[2] == "security":
    print(d["security"]["signature_verification_required"],
          d["configuration"]["strict_artifacts_only"], d["configuration"]["signers"])
else:
    print(a[0][sys.argv[2]])
' "$SADMIN" "$1"
}
strict_proxy unsigned "" || { echo "FAIL: artifacts: strict proxy"; exit 1; }
strict_infer unsigned rsa
st=$?
if [ $st -eq 1 ] && grep -q "EML_ERR_BLOB_UNSIGNED" "$W/sunsigned.out" &&
	[ ! -e "$W/out-sunsigned/output_0.pb" ] &&
	grep -q '"refused":"strict_artifacts"' "$W/audit-unsigned.log" &&
	[ "$(artifact signature)" = unsigned ] && [ "$(artifact signer_key_id)" = None ] &&
	[ "$(artifact size)" = "$(stat -c %s "$W/model/weights.sealed")" ] &&
	[ "$(artifact content_id)" = "$E2E_CID" ] && [ "$(artifact security)" = "True True 2" ]; then
	e2e_pass "artifacts: --strict-artifacts refuses the unsigned blob (764, audited); /status: unsigned"
else
	e2e_fail "artifacts: --strict-artifacts unsigned blob (exit $st)"
	tail -2 "$W/sunsigned.out"
fi
e2e_stop "$SPID"
strict_proxy signed rsa || { echo "FAIL: artifacts: strict proxy"; exit 1; }
strict_infer signed rsa
st=$?
if [ $st -eq 0 ] && cmp -s "$W/out-ssigned/output_0.pb" "$W/ref/output_0.pb" &&
	[ "$(artifact signature)" = signed ] && [ "$(artifact signer_key_id)" = "$RSA_ID" ] &&
	[ "$(artifact served)" = True ]; then
	e2e_pass "artifacts: --strict-artifacts serves the blob with its model.sig; /status: signed"
else
	e2e_fail "artifacts: --strict-artifacts signed blob (exit $st)"
	tail -2 "$W/ssigned.out"
fi
e2e_stop "$SPID"
strict_proxy other unknown || { echo "FAIL: artifacts: strict proxy"; exit 1; }
strict_infer other rsa
st=$?
if [ $st -eq 1 ] && grep -q "EML_ERR_BLOB_UNSIGNED" "$W/sother.out" &&
	[ "$(artifact signature)" = bad ] && [ "$(artifact served)" = False ]; then
	e2e_pass "artifacts: --strict-artifacts refuses a blob signed by a key not in --signers; /status: bad"
else
	e2e_fail "artifacts: --strict-artifacts other signer (exit $st)"
	tail -2 "$W/sother.out"
fi
e2e_stop "$SPID"
head -c 100 /dev/urandom >"$W/junk.sig"
if ! "$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store-other" \
	--sig "$W/junk.sig" >"$W/junk.out" 2>&1 && grep -q EML_ERR_SIG_FORMAT "$W/junk.out"; then
	e2e_pass "artifacts: blob put --sig refuses a file that is not a model.sig"
else
	e2e_fail "artifacts: blob put --sig accepted junk"
	cat "$W/junk.out"
fi

# ---- a flipped byte in the stored blob (the operator's disk)
blob="$W/store/$E2E_CID"
chmod u+w "$blob"
"$PY" - "$blob" <<'EOF'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[len(b) // 2] ^= 1
open(sys.argv[1], "wb").write(bytes(b))
EOF
infer rsa
st=$?
code=$(grep -o 'peer error [0-9]*' "$W/rsa.out" | head -1)
if [ $st -ne 0 ] && [ -n "$code" ] && ! echo "$code" | grep -qE ' (658|659|660)$' &&
	[ ! -e "$W/out-rsa/output_0.pb" ]; then
	e2e_pass "artifacts: a blob with one flipped byte is refused ($code), no output"
else
	e2e_fail "artifacts: flipped blob byte (exit $st, $code)"
	tail -2 "$W/rsa.out"
fi
if kill -0 "$AGENT_PID" 2>/dev/null; then
	e2e_pass "artifacts: the same agent process (PID $AGENT_PID) is still serving"
else
	e2e_fail "artifacts: the agent died"
fi
exit $E2E_FAILED
