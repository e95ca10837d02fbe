#!/usr/bin/env bash
# make demo: one confidential inference end to end, in local simulation.
#
#   model owner   splits the ONNX model: secret topology key + sealed blob
#   host          eml-proxy on 127.0.0.1, stores the sealed blob
#   enclave       eml-agent with the simulated NSM, on a Unix socket
#   client        eml infer: verifies the attestation, then sends the
#                 topology key and the input, sealed; gets the result
#
# and checks the result is bit-identical to `eml run --local` on the
# original ONNX model. Everything runs in a temporary directory and every
# process started here is stopped on exit, also on failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=../tests/integration/lib/e2e.bash
source tests/integration/lib/e2e.bash

step() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || e2e_die "$b is missing: run make first"
done
e2e_init
W=$E2E_DIR

step "1. The model (owner side)"
MODEL=$(e2e_demo_model)
note "ONNX model: $MODEL"
note "SHA-256 $(sha256sum "$MODEL" | cut -d' ' -f1)"

step "2. Split it: a secret topology key for the client, a sealed blob for the host"
"$EML" model split "$MODEL" --out "$W/model" >"$W/split.log" 2>&1 ||
	{ cat "$W/split.log"; e2e_die "eml model split failed"; }
note "$(stat -c '%s' "$W/model/model.topo") bytes  model.topo      (stays with the client)"
note "$(stat -c '%s' "$W/model/weights.sealed") bytes  weights.sealed  (goes to the host, encrypted)"

step "3. Simulated Nitro attestation: a private CA, the agent's policy, the client's policy"
"$EML" attest sim-init "$W/sim" >"$W/sim-init.log" 2>&1 ||
	{ cat "$W/sim-init.log"; e2e_die "eml attest sim-init failed"; }
CID=$(sha256sum "$W/model/weights.sealed" | cut -d' ' -f1)
printf '{"version":1,"models":["%s"],"assembly":"request"}\n' "$CID" >"$W/agent-policy.json"
DIGEST=$("$EML_AGENT" --policy-digest --policy "$W/agent-policy.json")
PCR0=$(printf 'EphemeralML simulator PCR0' | sha384sum | cut -d' ' -f1)
PCR1=$(printf 'EphemeralML simulator PCR1' | sha384sum | cut -d' ' -f1)
PCR2=$(printf 'EphemeralML simulator PCR2' | sha384sum | cut -d' ' -f1)
cat >"$W/client-policy.json" <<EOF
{
  "version": 1,
  "trust_root": "sim/root.pem",
  "pcrs": { "0": "$PCR0", "1": "$PCR1", "2": "$PCR2" },
  "policy_digest": "$DIGEST",
  "max_age_seconds": 300
}
EOF
note "agent policy: only the model with content id ${CID:0:16}..., per-request assembly"
note "client policy: simulator root, PCR0-2, agent policy digest ${DIGEST:0:16}..."

step "4. Start the enclave agent (simulated NSM) and the host proxy"
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
AGENT_PID=$E2E_LAST_PID
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; e2e_die "eml-agent did not start"; }
PORT=$(e2e_free_port)
mkdir -p "$W/store"
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store"
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; e2e_die "eml-proxy did not start"; }
note "eml-agent pid $AGENT_PID on unix:$W/agent.sock"
note "eml-proxy pid $E2E_LAST_PID on tcp:127.0.0.1:$PORT"

step "5. Publish the sealed blob on the host"
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; e2e_die "eml-proxy blob put failed"; }
note "stored as $CID"

step "6. Confidential inference: eml infer"
INPUT=tests/vectors/text-direction-cls/input_0.pb
if [ ! -f "$INPUT" ]; then
	INPUT="$W/input_0.pb"
	e2e_make_input "$INPUT" 42
	note "input: a generated [1, 3, 48, 192] image tensor"
else
	note "input: $INPUT"
fi
"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client-policy.json" \
	--input "$INPUT" --output-dir "$W/out-enclave" --evidence "$W/evidence.json" ||
	{ tail -5 "$W/agent.log" "$W/proxy.log"; e2e_die "eml infer failed"; }

step "7. Same input, plain local run of the original ONNX model: eml run --local"
"$EML" run --local "$MODEL" --input "$INPUT" --output-dir "$W/out-local" >"$W/local.log" 2>&1 ||
	{ cat "$W/local.log"; e2e_die "eml run --local failed"; }
same=1
for f in "$W"/out-local/*.pb; do
	g="$W/out-enclave/$(basename "$f")"
	if cmp -s "$f" "$g"; then
		note "$(basename "$f"): identical ($(stat -c %s "$f") bytes)"
	else
		note "$(basename "$f"): DIFFERENT"
		same=0
	fi
done
[ -e "$W/out-local/output_0.pb" ] || same=0
if [ $same -ne 1 ]; then
	e2e_die "the confidential result differs from the local run"
fi

step "8. The session's signed evidence, checked offline: eml evidence verify"
"$EML" evidence verify "$W/evidence.json" --root "$W/sim/root.pem" --at doc ||
	e2e_die "the session's evidence did not verify"

printf '\nDemo OK: the enclave result is bit-identical to the local run.\n'
printf 'The host saw only the sealed blob, ciphertext frames and metadata.\n'
