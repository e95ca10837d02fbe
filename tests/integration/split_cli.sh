#!/usr/bin/env bash
# eml keys gen/id and eml model split through the command line: files,
# modes, exit codes (DESIGN §9), and that `eml run --local` (which splits in
# memory and assembles) still reproduces the committed engine output shape.
set -u
BUILD=${BUILD:-build}
EML="$BUILD/bin/eml"
SHARED=${EML_TESTDATA:-$(pwd)/testdata}
MODEL="$SHARED/models/text-direction-cls.onnx"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

# shellcheck source=lib/exit_codes.bash
source "$(dirname "$0")/lib/exit_codes.bash"
check() { # check DESCRIPTION test-args...
	local what=$1
	shift
	if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}

expect 0 "$EML" keys gen --out "$tmp/k"
id_gen=$(sed -n 's/^key id //p' "$tmp/out")
check "publisher.key is mode 600" [ "$(stat -c %a "$tmp/k/publisher.key")" = 600 ]
check "publisher.key is a PKCS#8 PEM" grep -q "BEGIN PRIVATE KEY" "$tmp/k/publisher.key"
expect 0 "$EML" keys id "$tmp/k/publisher.pub"
check "keys id matches keys gen" [ "$(sed -n 's/^key id //p' "$tmp/out")" = "$id_gen" ]
check "key id is 64 hex" [ "${#id_gen}" = 64 ]
expect 2 "$EML" keys gen
expect 2 "$EML" keys frobnicate
expect 1 "$EML" keys id "$MODEL"

expect 0 "$EML" model split "$MODEL" --out "$tmp/m" --sign "$tmp/k/publisher.key" --chunk-size 65536
check "model.topo is mode 600" [ "$(stat -c %a "$tmp/m/model.topo")" = 600 ]
check "weights.sealed starts with the magic" [ "$(head -c 7 "$tmp/m/weights.sealed")" = EMLBLOB ]
check "model.sig starts with the magic" [ "$(head -c 6 "$tmp/m/model.sig")" = EMLSIG ]
cid=$(sed -n 's/^content id *//p' "$tmp/out")
check "content id is the SHA-256 of weights.sealed" \
	[ "$cid" = "$(sha256sum "$tmp/m/weights.sealed" | cut -d' ' -f1)" ]
check "no leftover temporary file" [ -z "$(ls "$tmp/m" | grep -F .tmp)" ]
# the signature names the key that signed it (Ed25519: key id = public key)
check "signature carries the key id" \
	[ "$(od -An -tx1 -j8 -N32 "$tmp/m/model.sig" | tr -d ' \n')" = "$id_gen" ]
# a second split of the same model: fresh key, so a different blob
expect 0 "$EML" model split "$MODEL" --out "$tmp/m2"
differ() { ! cmp -s "$1" "$2"; }
check "a fresh key per split" differ "$tmp/m/weights.sealed" "$tmp/m2/weights.sealed"
check "unsigned split writes no model.sig" [ ! -e "$tmp/m2/model.sig" ]
# re-splitting into a used directory: refused without --force (the old
# model.topo is the only key to a blob that may be published), nothing
# changed; with --force: old signature gone, key stays private
cp "$tmp/m/model.topo" "$tmp/topo.before"
expect 2 "$EML" model split "$MODEL" --out "$tmp/m"
check "refused split names the file" grep -q "EML_ERR_FILE_EXISTS.*model.topo" "$tmp/err"
check "refused split leaves model.topo as it was" cmp -s "$tmp/m/model.topo" "$tmp/topo.before"
check "refused split leaves model.sig" [ -e "$tmp/m/model.sig" ]
chmod 644 "$tmp/m/model.topo"
expect 0 "$EML" model split "$MODEL" --out "$tmp/m" --force
check "a stale model.sig is removed" [ ! -e "$tmp/m/model.sig" ]
check "an existing model.topo is set back to 600" [ "$(stat -c %a "$tmp/m/model.topo")" = 600 ]

expect 2 "$EML" model split "$MODEL" --out "$tmp/x" --chunk-size 100
expect 2 "$EML" model split "$MODEL" --out "$tmp/x" --chunk-size 0
expect 2 "$EML" model split "$MODEL"
expect 2 "$EML" model split --out "$tmp/x"
expect 1 "$EML" model split "$SHARED/models/README.md" --out "$tmp/x"
expect 1 "$EML" model split "$MODEL" --out "$tmp/x" --sign "$tmp/k/publisher.pub"
check "nothing written on failure" [ ! -e "$tmp/x/model.topo" ]
expect 3 "$EML" model split "$tmp/missing.onnx" --out "$tmp/x"

if [ -e tests/vectors/text-direction-cls/input_0.pb ]; then
	expect 0 "$EML" run --local "$MODEL" --input tests/vectors/text-direction-cls/input_0.pb
	check "run --local prints the softmax output" grep -q "float32 \[1,2\]" "$tmp/out"
fi

exit $fail
