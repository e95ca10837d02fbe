#!/usr/bin/env bash
# Evidence artifacts (issue 14, docs/EVIDENCE.md) through the real
# processes: eml-agent (sim) on a Unix socket, eml-proxy on 127.0.0.1,
# eml infer --evidence as the client; then two independent verifiers,
# `eml evidence verify` (C) and tools/eml_evidence_verify.py (Python,
# cryptography + cbor2), over the same files.
#
#   1 round trip: the artifact verifies under the simulator's root at the
#     document's time, with and without --policy; both verifiers agree
#   2 re-indented and re-ordered (not re-canonicalized): still valid
#   3 tampering, each refused by both with its own message naming the
#     field: every field changed, a field added or removed, another
#     enclave's key, a document from another session, PCRs that differ
#     from --policy, a truncated file, non-UTF-8, duplicate keys
#   4 archived evidence: an artifact whose document's chain has since
#     expired (the agent's evidence clock set back a day) verifies with
#     --at doc and fails with --at now
#   5 published operator keys: eml evidence cosign; --keys accepts a
#     co-signature made inside the key's window and refuses one outside
#     it, by an unpublished key, altered, or missing
#
# One PASS/FAIL line per case; exit status 1 when any failed.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: evidence: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
PYV=tools/eml_evidence_verify.py
"$PY" -c 'import cryptography, cbor2' 2>/dev/null ||
	{ echo "FAIL: evidence: python3-cryptography and python3-cbor2 are required"; exit 1; }

e2e_world request || { cat "$W"/*.log; echo "FAIL: evidence: setup"; exit 1; }
e2e_make_input "$W/in0.pb" 100

start_agent() { # NAME [extra args]
	local name=$1
	shift
	rm -f "$W/agent.sock"
	e2e_start "$name" "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim \
		--sim-dir "$W/sim" --policy "$W/agent-policy.json" "$@"
	AGENT_PID=$E2E_LAST_PID
	e2e_wait_unix "$W/agent.sock" || { cat "$W/$name.log"; return 1; }
}

start_agent agentA || { echo "FAIL: evidence: agent A"; exit 1; }
PORT=$(e2e_free_port)
mkdir -p "$W/store" "$W/ev"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; echo "FAIL: evidence: blob put"; exit 1; }
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store"
e2e_wait_tcp "$PORT" || { cat "$W/proxy.log"; echo "FAIL: evidence: proxy"; exit 1; }

infer_evidence() { # OUT [extra infer args]
	local out=$1
	shift
	"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client.json" \
		--input "$W/in0.pb" --timeout 30000 --quiet --evidence "$out" "$@"
}

# Agent A: two sessions. Agent B (a new process, so a new key), with its
# evidence clock a day back: the archived artifact.
if infer_evidence "$W/ev" --repeat 2 >"$W/inferA.log" 2>&1 &&
	infer_evidence "$W/A2.json" >"$W/inferA2.log" 2>&1; then
	A=$(ls "$W"/ev/*.json)
	e2e_pass "eml infer --evidence wrote $(basename "$A") (named by session id) and A2.json"
else
	cat "$W"/inferA*.log "$W/agentA.log"
	e2e_fail "eml infer --evidence"
	exit 1
fi
A2=$W/A2.json
e2e_stop "$AGENT_PID"
start_agent agentB --sim-evidence-clock-offset -86400 || { echo "FAIL: evidence: agent B"; exit 1; }
# The proxy notices the new agent at its next health check.
for _ in $(seq 50); do
	infer_evidence "$W/old.json" >"$W/inferB.log" 2>&1 && break
	grep -q EML_ERR_NO_AGENT "$W/inferB.log" || break
	sleep 0.2
done
[ -f "$W/old.json" ] || { cat "$W/inferB.log"; e2e_fail "eml infer --evidence (agent B)"; exit 1; }
OLD=$W/old.json
e2e_stop "$AGENT_PID"

# The same evidence file is never overwritten.
if infer_evidence "$A2" >"$W/again.log" 2>&1; then
	e2e_fail "--evidence over an existing file was accepted"
elif grep -q "never overwritten" "$W/again.log"; then
	e2e_pass "--evidence refuses to overwrite an existing file, before connecting"
else
	cat "$W/again.log"
	e2e_fail "--evidence overwrite: unclear message"
fi

ROOT=$W/sim/root.pem

# check NAME FILE WANT_EXIT WANT_TEXT [verifier args]: both verifiers give
# WANT_EXIT; on a refusal both messages contain WANT_TEXT.
check() {
	local name=$1 file=$2 want=$3 text=$4
	shift 4
	local c_rc p_rc
	"$EML" evidence verify "$file" "$@" >"$W/c.out" 2>&1
	c_rc=$?
	"$PY" "$PYV" "$file" "$@" >"$W/p.out" 2>&1
	p_rc=$?
	if [ "$c_rc" != "$want" ] || [ "$p_rc" != "$want" ]; then
		e2e_fail "$name: exit C=$c_rc Python=$p_rc, want $want"
		sed 's/^/    /' "$W/c.out" "$W/p.out"
		return
	fi
	if [ -n "$text" ] && { ! grep -qF -- "$text" "$W/c.out" || ! grep -qF -- "$text" "$W/p.out"; }; then
		e2e_fail "$name: message does not name '$text'"
		sed 's/^/    /' "$W/c.out" "$W/p.out"
		return
	fi
	e2e_pass "$name (exit $want both${text:+, '$text'})"
}

# mutate IN OUT OP [ARGS]: a tampered copy (tests/integration/lib/
# evidence_mutate.py).
mutate() { "$PY" tests/integration/lib/evidence_mutate.py "$@"; }

# 1 round trip
check "round trip at doc time" "$A" 0 "" --root "$ROOT"
check "round trip with --policy (root from the policy)" "$A" 0 "" --policy "$W/client.json"
if "$EML" evidence show "$A" >"$W/show.out" 2>&1 && grep -q "requests           2" "$W/show.out" &&
	grep -q "producer sim" "$W/show.out"; then
	e2e_pass "eml evidence show prints the session (2 requests, producer sim)"
else
	cat "$W/show.out"
	e2e_fail "eml evidence show"
fi
if "$EML" evidence verify "$A" --root "$ROOT" --json >"$W/json.out" 2>&1 &&
	"$PY" -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d["verified"] is True else 1)' "$W/json.out"; then
	e2e_pass "eml evidence verify --json says verified"
else
	cat "$W/json.out"
	e2e_fail "eml evidence verify --json"
fi

# 2 canonical form: layout and member order do not matter
mutate "$A" "$W/relaid.json" relayout
if cmp -s "$A" "$W/relaid.json"; then
	e2e_fail "relayout produced the same bytes"
else
	check "re-indented, members reversed, not re-canonicalized" "$W/relaid.json" 0 "" --root "$ROOT"
fi

# 3 tampering: one field at a time
while read -r path want; do
	mutate "$A" "$W/t.json" change "$path"
	check "changed $path" "$W/t.json" 1 "$want" --root "$ROOT"
done <<'EOF'
version version
session.id nonce does not bind
session.transcript_hash nonce does not bind
session.started_at signature
session.ended_at signature
session.final signature
session.request_count signature
session.exchange_hash signature
session.models.0.content_id signature
session.models.0.topology_digest signature
session.policy_digest session.policy_digest
session.evidence_nonce signature
tee.provider tee.provider
tee.producer signature
tee.module_id tee.module_id
tee.pcrs.0 tee.pcrs.0
attestation attestation
pubkey_id pubkey_id
signature signature
EOF
mutate "$A" "$W/t.json" add "" extra
check "field added at the top" "$W/t.json" 1 "extra: unknown field" --root "$ROOT"
mutate "$A" "$W/t.json" add session extra
check "field added in session" "$W/t.json" 1 "session.extra: unknown field" --root "$ROOT"
for path in version session tee attestation pubkey_id signature session.request_count tee.pcrs; do
	mutate "$A" "$W/t.json" remove "$path"
	check "field removed: $path" "$W/t.json" 1 "$path: missing" --root "$ROOT"
done
mutate "$A" "$W/t.json" graft "$OLD" pubkey_id signature
check "signature and key id from another enclave" "$W/t.json" 1 "pubkey_id: not the key" --root "$ROOT"
mutate "$A" "$W/t.json" resign
check "re-signed with a key of the attacker's own" "$W/t.json" 1 "pubkey_id: not the key" --root "$ROOT"
mutate "$A" "$W/t.json" graft "$A2" attestation
check "attestation document from another session" "$W/t.json" 1 "nonce does not bind" --root "$ROOT"
check "PCRs differ from --policy" "$A" 1 "--policy" --policy "$W/bad-pcr.json"
check "policy digest differs from --policy" "$A" 1 "--policy" --policy "$W/bad-digest.json"
head -c "$(($(stat -c %s "$A") / 2))" "$A" >"$W/t.json"
check "truncated file" "$W/t.json" 1 "JSON" --root "$ROOT"
mutate "$A" "$W/t.json" nonutf8
check "non-UTF-8" "$W/t.json" 1 "UTF-8" --root "$ROOT"
mutate "$A" "$W/t.json" duplicate
check "duplicate key" "$W/t.json" 1 "duplicate" --root "$ROOT"
check "another root" "$A" 1 "attestation" --root "$EML_TESTDATA/attestation/aws_nitro_root_g1.pem"

# 4 archived evidence
check "archived artifact, --at doc" "$OLD" 0 "" --root "$ROOT"
check "archived artifact, --at now" "$OLD" 1 "expired" --root "$ROOT" --at now

# 5 published keys: a long-lived operator co-signature, second to the
# enclave's own
"$EML" keys gen --out "$W/opkey" >"$W/keys.log" 2>&1 || { cat "$W/keys.log"; exit 1; }
OPK=$("$EML" keys id "$W/opkey/publisher.pub" | awk '{print $3}')
"$EML" keys gen --out "$W/opkey2" >>"$W/keys.log" 2>&1 || { cat "$W/keys.log"; exit 1; }
OPK2=$("$EML" keys id "$W/opkey2/publisher.pub" | awk '{print $3}')
keys_file() { # OUT KEY_ID PUBHEX FROM UNTIL (date -d offsets)
	printf '{"version":1,"keys":[{"key_id":"%s","algorithm":"ed25519","public_key":"%s","valid_from":"%s","valid_until":"%s"}]}\n' \
		"$2" "$3" "$(date -u -d "$4" +%Y-%m-%dT%H:%M:%S.000Z)" \
		"$(date -u -d "$5" +%Y-%m-%dT%H:%M:%S.000Z)" >"$1"
}
keys_file "$W/keys-ok.json" op-2026 "$OPK" "-1 day" "+365 days"
keys_file "$W/keys-old.json" op-2026 "$OPK" "-400 days" "-35 days"
keys_file "$W/keys-other.json" op-2027 "$OPK" "-1 day" "+365 days"
keys_file "$W/keys-wrong.json" op-2026 "$OPK2" "-1 day" "+365 days"
if "$EML" evidence cosign "$A" --key "$W/opkey/publisher.key" --key-id op-2026 \
	--out "$W/cos.json" >"$W/cosign.log" 2>&1; then
	check "co-signed, published key inside its window" "$W/cos.json" 0 "" --root "$ROOT" \
		--keys "$W/keys-ok.json"
	check "co-signed artifact without --keys (enclave signature alone)" "$W/cos.json" 0 "" \
		--root "$ROOT"
	check "co-signature outside the key's window" "$W/cos.json" 1 \
		"outside the validity window" --root "$ROOT" --keys "$W/keys-old.json"
	check "co-signature by a key not published" "$W/cos.json" 1 "not in the published keys" \
		--root "$ROOT" --keys "$W/keys-other.json"
	check "co-signature under another published key" "$W/cos.json" 1 "cosignature.signature" \
		--root "$ROOT" --keys "$W/keys-wrong.json"
	mutate "$W/cos.json" "$W/t.json" change cosignature.signed_at
	check "co-signature time changed" "$W/t.json" 1 "cosignature.signature" --root "$ROOT" \
		--keys "$W/keys-ok.json"
	check "--keys but no co-signature" "$A" 1 "cosignature: missing" --root "$ROOT" \
		--keys "$W/keys-ok.json"
else
	cat "$W/cosign.log"
	e2e_fail "eml evidence cosign"
fi

[ "$E2E_FAILED" -eq 0 ]
