#!/usr/bin/env bash
# The command line's safety rails (issue 15 item 1), through the real
# binaries:
#  - `eml-proxy blob put` takes only a sealed blob: the topology key (the
#    secret beside weights.sealed), a plaintext ONNX model and a renamed
#    copy of either are refused by content, exit 1, nothing in the store;
#  - every command writing key material or a topology refuses to replace a
#    file without --force (exit 2, the file unchanged), writes secrets mode
#    0600, and leaves no temporary file behind; with --force it replaces.
set -u
BUILD=${BUILD:-build}
EML="$BUILD/bin/eml"
PROXY="$BUILD/bin/eml-proxy"
SHARED=${EML_TESTDATA:-$(pwd)/testdata}
MODEL="$SHARED/models/text-direction-cls.onnx"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0

expect() { # expect CODE cmd...
	local want=$1
	shift
	"$@" >"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" -ne "$want" ]; then
		echo "FAIL (exit $got, want $want): $*"
		sed 's/^/    /' "$T/err" | head -5
		fail=1
	else
		echo "ok   (exit $got): $*"
	fi
}
check() { # check DESCRIPTION test-args...
	local what=$1
	shift
	if "$@"; then echo "ok   $what"; else echo "FAIL $what"; fail=1; fi
}
differ() { ! cmp -s "$1" "$2"; }
empty_store() { [ -z "$(ls -A "$T/store")" ]; }
no_tmp() { [ -z "$(find "$1" -name '*.tmp*')" ]; }

"$EML" model split "$MODEL" --out "$T/m" >/dev/null 2>&1 || { echo "FAIL split"; exit 1; }
mkdir "$T/store"

# blob put: by content, whatever the name
expect 1 "$PROXY" blob put "$T/m/model.topo" --weights "$T/store"
check "topology key refused as a topology key" grep -q "topology key" "$T/err"
check "nothing in the store (topology key)" empty_store
expect 1 "$PROXY" blob put "$MODEL" --weights "$T/store"
check "ONNX refused as ONNX" grep -q "ONNX" "$T/err"
check "nothing in the store (ONNX)" empty_store
cp "$T/m/model.topo" "$T/innocent.bin"
expect 1 "$PROXY" blob put "$T/innocent.bin" --weights "$T/store"
check "renamed topology key refused by content" grep -q "EML_ERR_BLOB_HEADER" "$T/err"
cp "$MODEL" "$T/weights.sealed"
expect 1 "$PROXY" blob put "$T/weights.sealed" --weights "$T/store"
check "ONNX named weights.sealed refused" empty_store
# a sealed blob cut short or extended does not pass either
head -c 1000 "$T/m/weights.sealed" >"$T/cut.sealed"
expect 1 "$PROXY" blob put "$T/cut.sealed" --weights "$T/store"
check "cut blob refused for its size" grep -q "its header says" "$T/err"
check "nothing in the store (cut blob)" empty_store
expect 0 "$PROXY" blob put "$T/m/weights.sealed" --weights "$T/store"
check "the real blob is stored under its content id" \
	[ -f "$T/store/$(sha256sum "$T/m/weights.sealed" | cut -d' ' -f1)" ]

# keys gen: no silent replacement of a publisher key
expect 0 "$EML" keys gen --out "$T/k"
check "publisher.key 0600" [ "$(stat -c %a "$T/k/publisher.key")" = 600 ]
cp "$T/k/publisher.key" "$T/key.before"
expect 2 "$EML" keys gen --out "$T/k"
check "second keys gen names EML_ERR_FILE_EXISTS" grep -q EML_ERR_FILE_EXISTS "$T/err"
check "publisher.key unchanged" cmp -s "$T/k/publisher.key" "$T/key.before"
expect 0 "$EML" keys gen --out "$T/k" --force
check "--force replaces the key" differ "$T/k/publisher.key" "$T/key.before"
check "replaced publisher.key 0600" [ "$(stat -c %a "$T/k/publisher.key")" = 600 ]
check "no temporary file in the key directory" no_tmp "$T/k"

# model split: the topology key is not replaced without --force
cp "$T/m/model.topo" "$T/topo.before"
expect 2 "$EML" model split "$MODEL" --out "$T/m"
check "model.topo unchanged" cmp -s "$T/m/model.topo" "$T/topo.before"
expect 0 "$EML" model split "$MODEL" --out "$T/m" --force
check "--force replaces model.topo" differ "$T/m/model.topo" "$T/topo.before"
check "model.topo 0600" [ "$(stat -c %a "$T/m/model.topo")" = 600 ]
check "no temporary file in the model directory" no_tmp "$T/m"
# a failing split (unsupported input) leaves nothing half-written
expect 1 "$EML" model split "$SHARED/models/README.md" --out "$T/bad"
check "failed split wrote no topology key" [ ! -e "$T/bad/model.topo" ]

# keys message: not a secret, but still not replaced silently
expect 0 "$EML" keys message "$T/m" --out "$T/msg.bin"
expect 2 "$EML" keys message "$T/m" --out "$T/msg.bin"
expect 0 "$EML" keys message "$T/m" --out "$T/msg.bin" --force

# attest sim-init: the CA key is 0600 and never replaced
expect 0 "$EML" attest sim-init "$T/ca"
check "root.key 0600" [ "$(stat -c %a "$T/ca/root.key")" = 600 ]
cp "$T/ca/root.key" "$T/ca.before"
expect 2 "$EML" attest sim-init "$T/ca"
check "root.key unchanged" cmp -s "$T/ca/root.key" "$T/ca.before"

exit $fail
