#!/usr/bin/env bash
# eml attest: exit codes (DESIGN §9) and the simulator round trip through
# the command line. Uses the real AWS documents from testdata/attestation.
set -u
BUILD=${BUILD:-build}
EML="$BUILD/bin/eml"
SHARED=${EML_TESTDATA:-$(pwd)/testdata}
D="$SHARED/attestation"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# shellcheck source=lib/exit_codes.bash
source "$(dirname "$0")/lib/exit_codes.bash"

expect 0 "$EML" attest verify "$D/doc01.cbor" --at doc
expect 0 "$EML" attest verify "$D/doc15.cbor" --at doc --root attestation/roots/aws_nitro_root_g1.pem
expect 1 "$EML" attest verify "$D/doc01.cbor"
expect 1 "$EML" attest verify "$D/doc01.cbor" --at now
expect 1 "$EML" attest verify "$D/doc02.cbor" --at doc
expect 0 "$EML" attest verify "$D/doc02.cbor" --at doc --allow-debug
expect 1 "$EML" attest verify "$D/doc16.cbor" --at doc
expect 1 "$EML" attest verify "$D/found_neg_eternis_invalid_attestation.cbor" --at doc
expect 0 "$EML" attest verify "$D/doc01.cbor" --at 2021-03-17T22:30:00Z \
	--pcr 0=2d151586641b790f3b1b92b8f89678c3aa86e73dd97969c892124be9d2b7fdc62b58a55cd9ee8216f6f5689cebf590ad
expect 1 "$EML" attest verify "$D/doc01.cbor" --at 2021-03-17T22:30:00+00:00 \
	--pcr 0=2d151586641b790f3b1b92b8f89678c3aa86e73dd97969c892124be9d2b7fdc62b58a55cd9ee8216f6f5689cebf590ae
expect 1 "$EML" attest verify "$D/doc01.cbor" --at 2021-03-18T02:00:00Z
expect 2 "$EML" attest verify "$D/doc01.cbor" --at yesterday
expect 2 "$EML" attest verify "$D/doc01.cbor" --pcr 40=00
expect 2 "$EML" attest verify "$D/doc01.cbor" --nonce xyz
expect 2 "$EML" attest verify
expect 2 "$EML" attest frobnicate
expect 3 "$EML" attest verify "$tmp/missing.cbor" --at doc
expect 3 "$EML" attest verify "$D/doc01.cbor" --root "$tmp/missing.pem"

# --json carries every field, also on failure.
"$EML" attest verify "$D/doc10.cbor" --at doc --json >"$tmp/j.json"
python3 - "$tmp/j.json" <<'PY' || fail=1
import json, sys
j = json.load(open(sys.argv[1]))
for k in ("ok", "module_id", "digest", "timestamp_ms", "pcrs", "certificate", "cabundle",
          "public_key", "user_data", "nonce", "signature", "root_sha256"):
    assert k in j, k
assert j["ok"] is True and len(j["nonce"]) == 2048 and len(j["cabundle"]) == 4
print("ok   --json fields")
PY
"$EML" attest verify "$D/doc10.cbor" --json >"$tmp/j.json" 2>/dev/null
python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); assert j["ok"] is False and j["error"]["name"]=="EML_ERR_ATTEST_CHAIN_EXPIRED"; print("ok   --json failure")' "$tmp/j.json" || fail=1

# Simulator CA: create, produce, verify under its root and not under AWS's.
expect 0 "$EML" attest sim-init "$tmp/ca"
# an existing CA is refused (exit 2: the files exist), and said so
expect 2 "$EML" attest sim-init "$tmp/ca"
grep -q "EML_ERR_FILE_EXISTS" "$tmp/err" && ! grep -q "missing or invalid" "$tmp/err" ||
	{ echo "FAIL sim-init on an existing CA names the existing file"; fail=1; }
expect 0 "$EML" attest sim-doc "$tmp/ca" --nonce 00112233 --out "$tmp/sim.cbor"
expect 0 "$EML" attest verify "$tmp/sim.cbor" --root "$tmp/ca/root.pem" --nonce 00112233
expect 1 "$EML" attest verify "$tmp/sim.cbor" --root "$tmp/ca/root.pem" --nonce 00112234
expect 1 "$EML" attest verify "$tmp/sim.cbor"
cat >"$tmp/policy.json" <<JSON
{"version": 1, "trust_root": "ca/root.pem", "max_age_seconds": 600, "allow_debug": false}
JSON
expect 0 "$EML" attest verify "$tmp/sim.cbor" --policy "$tmp/policy.json"
echo '{"version": 1, "max_age_secs": 600}' >"$tmp/bad.json"
expect 2 "$EML" attest verify "$tmp/sim.cbor" --policy "$tmp/bad.json"

# Policy digest: the known answer computed with Python hashlib (see
# test_attest_policy.c), whatever the spelling of the manifest.
printf '{ "c": "\\u00e9", "b": 1,\n "a": [true, null, "x"] }' >"$tmp/manifest.json"
got=$("$EML" attest digest "$tmp/manifest.json")
if [ "$got" = 2e7052a34daa9885ac5c900383d272f7cbc9d306e552a447747130097f16666d ]; then
	echo "ok   digest"
else
	echo "FAIL digest: $got"
	fail=1
fi
echo '{"a": 1.5, "b": 1}' >"$tmp/real.json"
expect 0 "$EML" attest digest "$tmp/real.json"
echo '{"a": 1.5, "a": 1}' >"$tmp/dup.json"
expect 2 "$EML" attest digest "$tmp/dup.json"

exit $fail
