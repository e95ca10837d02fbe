#!/usr/bin/env bash
# The enclave image path (issue 12), with a stand-in kernel (no Nitro
# kernel here): eif-build/make-eif.sh, eml image measure|policy, the real
# eml-agent (sim producer reporting the image's PCRs) behind the real
# eml-proxy, and eml infer.
#
#   1 two builds of the same inputs: identical EIF bytes; another
#     SOURCE_DATE_EPOCH changes the bytes (metadata) but no PCR
#   2 `eml image measure` on the file equals the prediction written
#     before the image existed (measurements.json)
#   3 the ramdisks are cpio archives GNU cpio reads, the agent inside is
#     byte-identical, and (as root) it runs chrooted in the extracted
#     tree with nothing from the host: no missing loader or library
#   4 an agent one byte different: PCR0 and PCR2 change, PCR1 does not
#  3b the image boots as far as it can here: its /init as PID 1 in a
#     namespace starts the agent with the image's arguments, which stops
#     at the missing NSM; the init then powers off
#  4b a signed image (eml image build --signing-cert/--signing-key): PCR8
#   5 `eml image policy` pins PCR0-2: a client with it completes an
#     inference against a simulator reporting the image's PCRs, outputs
#     bit-identical to eml run --local
#   6 the same client refuses the image built from the one-byte-different
#     agent: exit 1, PCR mismatch, no output written
#   7 `make eif` twice (default build only): identical bytes
#  5b eml-agent --sim-pcrs refuses malformed PCRs and --attest nsm
#   8 vsock: agent on vsock:ANY, proxy to vsock:1 (skips, saying so, where
#     the kernel has no vsock loopback)
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: eif: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
export EML_LOG_LEVEL=warn

# Stand-in inputs: 300 KiB of fixed bytes for the kernel; eml-init built
# static as make eif builds it; the agent of this build, stripped.
"$PY" -c 'import sys; sys.stdout.buffer.write(bytes((i * 7 + 3) & 0xff for i in range(300 * 1024)))' \
	>"$W/kernel"
cc -std=c11 -D_GNU_SOURCE -O2 -static -Wl,--build-id=none -o "$W/eml-init" \
	eif-build/init/eml_init.c 2>"$W/init-cc.log" || { cat "$W/init-cc.log"; echo "FAIL: eif: eml-init"; exit 1; }
strip --strip-all -o "$W/agentA" "$EML_AGENT"
cp "$W/agentA" "$W/agentB"
# Agent B: the last byte flipped.
"$PY" - "$W/agentB" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[-1] ^= 0x01
open(p, "wb").write(b)
EOF

e2e_world request || { cat "$W"/*.log; echo "FAIL: eif: setup"; exit 1; }

build() { # OUT AGENT [EPOCH]
	mkdir -p "$1"
	cp "$W/eml-init" "$1/eml-init"
	EML="$EML" OUT="$1" KERNEL="$W/kernel" AGENT="$2" AGENT_POLICY="$W/agent-policy.json" \
		SOURCE_DATE_EPOCH="${3:-1700000000}" eif-build/make-eif.sh >"$1.log" 2>&1
}
pcrs_of() { # MEASUREMENTS.json -> "PCR0 PCR1 PCR2"
	"$PY" -c 'import json,sys; m=json.load(open(sys.argv[1]))["Measurements"]; print(m["PCR0"], m["PCR1"], m["PCR2"])' "$1"
}

build "$W/a1" "$W/agentA" || { cat "$W/a1.log"; echo "FAIL: eif: make-eif.sh"; exit 1; }
build "$W/a2" "$W/agentA" || { cat "$W/a2.log"; echo "FAIL: eif: make-eif.sh (2)"; exit 1; }
build "$W/a3" "$W/agentA" 1800000000 || { cat "$W/a3.log"; echo "FAIL: eif: make-eif.sh (3)"; exit 1; }
build "$W/b" "$W/agentB" || { cat "$W/b.log"; echo "FAIL: eif: make-eif.sh (B)"; exit 1; }

# ---------------------------------------------------------------- 1
if cmp -s "$W/a1/eml-agent.eif" "$W/a2/eml-agent.eif" &&
	! cmp -s "$W/a1/eml-agent.eif" "$W/a3/eml-agent.eif" &&
	[ "$(pcrs_of "$W/a1/measurements.json")" = "$(pcrs_of "$W/a3/measurements.json")" ]; then
	e2e_pass "same inputs, same EIF bytes ($(stat -c %s "$W/a1/eml-agent.eif") bytes); build time moves bytes, not PCRs"
else
	e2e_fail "reproducible build"
fi

# ---------------------------------------------------------------- 2
"$EML" image measure "$W/a1/eml-agent.eif" --json >"$W/described.json" 2>"$W/described.err"
if [ "$(pcrs_of "$W/described.json")" = "$(pcrs_of "$W/a1/measurements.json")" ] &&
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["EifVersion"]==4 and d["CheckCRC"] and not d["IsSigned"] and d["Metadata"]["BuildTime"]=="2023-11-14T22:13:20Z" else 1)' "$W/described.json"; then
	e2e_pass "eml image measure equals the PCRs predicted before the build"
else
	cat "$W/described.err"
	e2e_fail "measured PCRs differ from the prediction"
fi

# ---------------------------------------------------------------- 3
mkdir -p "$W/root"
(cd "$W/root" && cpio -idm --quiet <"$W/a1/stage/bootstrap.cpio" 2>/dev/null &&
	cpio -idm --quiet <"$W/a1/stage/app.cpio")
if cmp -s "$W/root/eml-agent" "$W/agentA" && cmp -s "$W/root/init" "$W/eml-init" &&
	[ "$(sed -n 1p "$W/root/etc/eml/agent.cmd")" = /eml-agent ] &&
	cmp -s "$W/root/etc/eml/agent-policy.json" "$W/agent-policy.json"; then
	e2e_pass "ramdisks are cpio archives GNU cpio extracts; agent, init and policy byte-identical"
else
	e2e_fail "ramdisk contents"
fi
if [ -n "${EML_SANFLAGS:-}" ]; then
	# A sanitizer runtime wants /proc, which the bare tree lacks.
	echo "SKIP: chroot check under a sanitizer build"
elif [ "$(id -u)" -eq 0 ] && command -v chroot >/dev/null; then
	got=$(chroot "$W/root" /eml-agent --policy-digest --policy /etc/eml/agent-policy.json 2>&1)
	if [ "$got" = "$E2E_DIGEST" ]; then
		e2e_pass "the image's agent runs from the image's files alone (chroot): policy digest $got"
	else
		echo "$got"
		e2e_fail "agent does not run inside the extracted image"
	fi
else
	echo "SKIP: chroot check needs root"
fi

# ---------------------------------------------------------------- 4
read -r a0 a1 a2 <<<"$(pcrs_of "$W/a1/measurements.json")"
read -r b0 b1 b2 <<<"$(pcrs_of "$W/b/measurements.json")"
if [ "$a0" != "$b0" ] && [ "$a2" != "$b2" ] && [ "$a1" = "$b1" ]; then
	e2e_pass "one agent byte: PCR0 and PCR2 change, PCR1 (kernel, cmdline, init) does not"
else
	e2e_fail "PCRs of the one-byte-different agent"
fi

# ---------------------------------------------------------------- 3b
# The boot sequence: the image's own /init as PID 1 of a new PID, mount
# and user namespace, chrooted into the extracted ramdisks, with
# dev/console a plain file so what the enclave console would show can be
# read. The agent starts with the image's arguments and stops at the NSM
# (none here); the init then powers off, which ends the namespace.
rm -f "$W/root/dev/console"
: >"$W/root/dev/console"
if [ -n "${EML_SANFLAGS:-}" ]; then
	echo "SKIP: boot under a sanitizer build"
elif unshare --user --map-root-user --pid --fork --mount true 2>/dev/null; then
	timeout 20 unshare --user --map-root-user --pid --fork --mount chroot "$W/root" /init \
		>"$W/boot.out" 2>&1
	rc=$?
	if [ $rc -eq 129 ] && grep -q 'eml-init: agent started: /eml-agent' "$W/root/dev/console" &&
		grep -q 'ATTEST_NSM_DEVICE.*/dev/nsm' "$W/root/dev/console" &&
		grep -q 'eml-init: stopping the enclave: agent failed' "$W/root/dev/console" &&
		! grep -q 'needs a value\|usage:' "$W/root/dev/console"; then
		e2e_pass "boot: /init as PID 1 starts the agent with the image's arguments; no NSM here, so it powers off"
	else
		cat "$W/boot.out" "$W/root/dev/console"
		e2e_fail "boot sequence (exit $rc)"
	fi
else
	echo "SKIP: boot: no unprivileged user namespaces here"
fi

# ---------------------------------------------------------------- 4b
# A signed image through the CLI: PCR8 is the extend of the signing
# certificate's DER (computed here with openssl and Python), PCR0-2 are
# the unsigned image's, and the image policy pins PCR8 too.
openssl ecparam -name secp384r1 -genkey -noout -out "$W/signer.key" 2>/dev/null &&
	openssl req -new -x509 -key "$W/signer.key" -subj /CN=eml-test-signer -days 2 \
		-out "$W/signer.pem" 2>/dev/null &&
	openssl x509 -in "$W/signer.pem" -outform DER -out "$W/signer.der"
want8=$("$PY" -c 'import hashlib,sys; d=open(sys.argv[1],"rb").read(); print(hashlib.sha384(b"\0"*48+hashlib.sha384(d).digest()).hexdigest())' "$W/signer.der")
"$EML" image build --kernel "$W/kernel" --cmdline "console=ttyS0" \
	--ramdisk "$W/a1/stage/bootstrap.cpio" --ramdisk "$W/a1/stage/app.cpio" \
	--signing-cert "$W/signer.pem" --signing-key "$W/signer.key" --out "$W/signed.eif" \
	>"$W/signed.json" 2>&1
"$EML" image measure "$W/signed.eif" --json >"$W/signed-desc.json" 2>&1
"$EML" image measure --kernel "$W/kernel" --cmdline "console=ttyS0" \
	--ramdisk "$W/a1/stage/bootstrap.cpio" --ramdisk "$W/a1/stage/app.cpio" --json >"$W/unsigned.json"
"$EML" image policy "$W/signed.eif" --root "$W/sim/root.pem" >"$W/signed-policy.json" 2>&1
if "$PY" - "$W/signed-desc.json" "$W/unsigned.json" "$W/signed-policy.json" "$want8" <<'EOF2'
import json, sys
d = json.load(open(sys.argv[1]))
u = json.load(open(sys.argv[2]))["Measurements"]
p = json.load(open(sys.argv[3]))
m = d["Measurements"]
ok = (d["IsSigned"] and m["PCR8"] == sys.argv[4] and p["pcrs"]["8"] == sys.argv[4]
      and all(m[k] == u[k] for k in ("PCR0", "PCR1", "PCR2")))
# What run-enclave checks: the COSE_Sign1 verifies under the certificate's
# key, and its payload is {register_index: 0, register_value: PCR0}.
import struct, cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
img = open(sys.argv[1].replace("signed-desc.json", "signed.eif"), "rb").read()
at, sect = 548, None
while at < len(img):
    t, _, n = struct.unpack(">HHQ", img[at:at + 12])
    if t == 4:
        sect = img[at + 12:at + 12 + n]
    at += 12 + n
entry = cbor2.loads(sect)[0]
cert = x509.load_pem_x509_certificate(bytes(entry["signing_certificate"]))
cose = cbor2.loads(bytes(entry["signature"]))
prot, unprot, payload, sig = cose.value if isinstance(cose, cbor2.CBORTag) else cose
tbs = cbor2.dumps(["Signature1", prot, b"", payload])
der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
cert.public_key().verify(der, tbs, ec.ECDSA(hashes.SHA384()))
info = cbor2.loads(payload)
ok = ok and cbor2.loads(prot) == {1: -35} and info["register_index"] == 0 \
    and bytes(info["register_value"]).hex() == m["PCR0"]
sys.exit(0 if ok else 1)
EOF2
then
	e2e_pass "signed image: PCR8 = extend(SHA-384(cert DER)), COSE ES384 over PCR0 verifies (Python), PCR0-2 unchanged, policy pins PCR8"
else
	cat "$W/signed.json" "$W/signed-desc.json" "$W/signed-policy.json"
	e2e_fail "signed image"
fi

# ---------------------------------------------------------------- 5, 6
"$EML" image policy "$W/a1/eml-agent.eif" --root "$W/sim/root.pem" --policy-digest "$E2E_DIGEST" \
	>"$W/client-image.json" 2>"$W/policy.err" || { cat "$W/policy.err"; e2e_fail "eml image policy"; }
e2e_make_input "$W/in.pb" 7
"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W/ref.log"; echo "FAIL: eif: eml run --local"; exit 1; }

serve() { # NAME MEASUREMENTS: agent reporting those PCRs + proxy; sets PORT
	rm -f "$W/agent.sock"
	e2e_start "$1-agent" "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim \
		--sim-dir "$W/sim" --sim-pcrs "$2" --policy "$W/agent-policy.json"
	e2e_wait_unix "$W/agent.sock" || { cat "$W/$1-agent.log"; return 1; }
	PORT=$(e2e_free_port)
	mkdir -p "$W/store"
	e2e_start "$1-proxy" "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" \
		--agent "unix:$W/agent.sock" --weights "$W/store"
	e2e_wait_tcp "$PORT" || { cat "$W/$1-proxy.log"; return 1; }
	"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >/dev/null 2>&1
}
infer() { # OUTDIR
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client-image.json" \
		--input "$W/in.pb" --output-dir "$1" --timeout 30000
}
same_outputs() { # REFDIR OUTDIR
	local f n=0
	for f in "$1"/*.pb; do
		cmp -s "$f" "$2/$(basename "$f")" || return 1
		n=$((n + 1))
	done
	[ $n -gt 0 ]
}

# --sim-pcrs refuses what is not an image's PCRs, and goes with sim only.
printf '{"Measurements":{"PCR0":"00"}}' >"$W/bad-pcrs.json"
"$EML_AGENT" --listen "unix:$W/x.sock" --attest sim --sim-dir "$W/sim" \
	--sim-pcrs "$W/bad-pcrs.json" >"$W/bad-pcrs.out" 2>&1
rc1=$?
"$EML_AGENT" --listen "unix:$W/x.sock" --attest nsm --sim-pcrs "$W/a1/measurements.json" \
	>"$W/nsm-pcrs.out" 2>&1
rc2=$?
if [ $rc1 -eq 2 ] && grep -q 'PCR0: want PCR0..PCR15' "$W/bad-pcrs.out" && [ $rc2 -eq 2 ] &&
	grep -q 'goes with --attest sim' "$W/nsm-pcrs.out"; then
	e2e_pass "eml-agent --sim-pcrs: a short PCR refused (exit 2), and refused with --attest nsm"
else
	cat "$W/bad-pcrs.out" "$W/nsm-pcrs.out"
	e2e_fail "--sim-pcrs checks (exit $rc1, $rc2)"
fi

serve imageA "$W/a1/measurements.json" || { echo "FAIL: eif: agent/proxy A"; exit 1; }
if infer "$W/outA" >"$W/inferA.out" 2>&1 && grep -q '^attestation: verified' "$W/inferA.out" &&
	same_outputs "$W/ref" "$W/outA"; then
	e2e_pass "client pinned by eml image policy completes an inference on the image's PCRs"
else
	cat "$W/inferA.out" "$W/imageA-agent.log"
	e2e_fail "inference with the image policy"
fi
for p in "${E2E_PIDS[@]}"; do e2e_stop "$p"; done
E2E_PIDS=()

serve imageB "$W/b/measurements.json" || { echo "FAIL: eif: agent/proxy B"; exit 1; }
infer "$W/outB" >"$W/inferB.out" 2>&1
rc=$?
if [ $rc -eq 1 ] && grep -q 'PCR_MISMATCH' "$W/inferB.out" && [ ! -e "$W/outB/$(ls "$W/ref" | head -1)" ]; then
	e2e_pass "same client refuses the image of the one-byte-different agent (exit 1, PCR mismatch, no output)"
else
	cat "$W/inferB.out"
	e2e_fail "one-byte-different agent accepted or wrong refusal (exit $rc)"
fi
for p in "${E2E_PIDS[@]}"; do e2e_stop "$p"; done
E2E_PIDS=()

# ---------------------------------------------------------------- 7
case "$BUILD" in
*/build)
	if [ -z "${EML_SANFLAGS:-}" ] &&
		make -s eif KERNEL="$W/kernel" >"$W/make1.log" 2>&1 && cp build/eif/eml-agent.eif "$W/m1.eif" &&
		make -s eif KERNEL="$W/kernel" >"$W/make2.log" 2>&1 &&
		cmp -s build/eif/eml-agent.eif "$W/m1.eif"; then
		e2e_pass "make eif KERNEL=<stand-in> twice: identical bytes"
	elif [ -n "${EML_SANFLAGS:-}" ]; then
		echo "SKIP: make eif under a sanitizer build"
	else
		cat "$W/make1.log" "$W/make2.log"
		e2e_fail "make eif twice"
	fi
	;;
*) echo "SKIP: make eif twice runs for the default build folder only" ;;
esac

# ---------------------------------------------------------------- 8
VPORT=$((20000 + RANDOM % 20000))
e2e_start vsock-agent "$EML_AGENT" --listen "vsock:4294967295:$VPORT" --attest sim \
	--sim-dir "$W/sim" --sim-pcrs "$W/a1/measurements.json" --policy "$W/agent-policy.json"
VAGENT=$E2E_LAST_PID
sleep 0.3
if ! kill -0 "$VAGENT" 2>/dev/null; then
	echo "SKIP: vsock: the agent cannot listen on vsock here: $(tail -1 "$W/vsock-agent.log")"
elif ! "$PY" -c '
import socket, sys
s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
s.settimeout(2)
s.connect((1, int(sys.argv[1])))
' "$VPORT" 2>/dev/null; then
	echo "SKIP: vsock: no vsock loopback on this kernel (CONFIG_VSOCKETS_LOOPBACK; CID 1 unreachable)"
else
	PORT=$(e2e_free_port)
	e2e_start vsock-proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" \
		--agent "vsock:1:$VPORT" --weights "$W/store"
	e2e_wait_tcp "$PORT" || { cat "$W/vsock-proxy.log"; e2e_fail "vsock proxy"; }
	if infer "$W/outV" >"$W/inferV.out" 2>&1 && same_outputs "$W/ref" "$W/outV"; then
		e2e_pass "vsock: proxy -> vsock:1:$VPORT -> agent on vsock:ANY, inference correct"
	else
		cat "$W/inferV.out"
		e2e_fail "inference over vsock loopback"
	fi
fi

exit $E2E_FAILED
