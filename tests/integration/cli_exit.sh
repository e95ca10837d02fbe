#!/usr/bin/env bash
# The exit-code contract (issue 15 item 3; docs/CLI.md): each failure
# class through each command that meets it, through the real binaries.
#   missing  a file that does not exist             -> 3 (I/O)
#   text     a text file where data is expected     -> 1 (refused)
#   policy   a text file where a policy is expected -> 2 (usage/configuration)
#   option   an option no command has               -> 2 (usage)
#   ca       a simulator CA directory that is missing -> 3 (I/O)
# and every message names its cause once: the file at most once (exactly
# once when it is missing), one short message, no usage dump.
set -u
BUILD=${BUILD:-build}
SHARED=${EML_TESTDATA:-$(pwd)/testdata}
E="$BUILD/bin/eml"
P="$BUILD/bin/eml-proxy"
A="$BUILD/bin/eml-agent"
MODEL="$SHARED/models/text-direction-cls.onnx"
INPUT=tests/vectors/text-direction-cls/input_0.pb
DOC="$SHARED/attestation/doc01.cbor"
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
n=0

echo "hello, not the bytes you want" >"$T/text.txt"
mkdir "$T/store" "$T/model"
cp "$SHARED/attestation/aws_nitro_root_g1.pem" "$T/root.pem"
h=$(printf 'ab%.0s' $(seq 48))
printf '{"version": 1, "trust_root": "root.pem", "pcrs": {"0": "%s", "1": "%s", "2": "%s"}}\n' \
	"$h" "$h" "$h" >"$T/client.json"

# CLASS CODE command... ; @F is the class's file
rows=(
	"missing 3 $E model inspect @F"
	"missing 3 $E model split @F --out $T/o"
	"missing 3 $E run --local @F"
	"missing 3 $E run --local $MODEL --input @F"
	"missing 3 $E infer --proxy 127.0.0.1:9 --model $T/model --policy $T/client.json --input @F"
	"missing 3 $E attest verify @F"
	"missing 3 $E evidence show @F"
	"missing 3 $E evidence verify $T/text.txt --policy @F"
	"missing 3 $E attest verify $DOC --policy @F"
	"missing 3 $E keys id @F"
	"missing 3 $E image measure @F"
	"missing 3 $E policy show @F"
	"missing 3 $P blob put @F --weights $T/store"
	"missing 3 $P audit verify @F"
	"text 1 $E model inspect @F"
	"text 1 $E model split @F --out $T/o"
	"text 1 $E run --local @F"
	"text 1 $E run --local $MODEL --input @F"
	"text 1 $E infer --proxy 127.0.0.1:9 --model $T/model --policy $T/client.json --input @F"
	"text 1 $E attest verify @F"
	"text 1 $E evidence show @F"
	"text 1 $E keys id @F"
	"text 1 $E image measure @F"
	"text 1 $P blob put @F --weights $T/store"
	"text 1 $P audit verify @F"
	"policy 2 $E attest verify $DOC --policy @F"
	"policy 2 $E evidence verify $T/text.txt --policy @F"
	"policy 2 $E infer --proxy 127.0.0.1:9 --model $T/model --policy @F --input $INPUT"
	"policy 2 $E policy show @F"
	"policy 2 $A --listen unix:$T/a.sock --attest sim --sim-dir $T/noca --policy @F"
	"option 2 $E model inspect $MODEL @F"
	"option 2 $E infer @F"
	"option 2 $E attest verify $DOC @F"
	"option 2 $P blob put $T/text.txt @F"
	"option 2 $A @F"
	"ca 3 $E attest sim-doc @F"
	"ca 3 $A --listen unix:$T/a.sock --attest sim --sim-dir @F --insecure-any-model"
)

for row in "${rows[@]}"; do
	read -r class want rest <<<"$row"
	case $class in
	missing) f="$T/missing.file" ;;
	text | policy) f="$T/text.txt" ;;
	option) f="--no-such-option" ;;
	ca) f="$T/noca" ;;
	esac
	cmd=${rest//@F/$f}
	# shellcheck disable=SC2086
	timeout 20 $cmd >"$T/out" 2>"$T/err"
	got=$?
	n=$((n + 1))
	short=${cmd//$BUILD\/bin\//}
	if [ "$got" -ne "$want" ]; then
		echo "FAIL: [$class] exit $got, want $want: $short"
		sed 's/^/    /' "$T/err" | head -3
		fail=1
		continue
	fi
	times=$(grep -oF -- "$f" "$T/err" | wc -l)
	lines=$(grep -vc '^Try ' "$T/err")
	if [ "$class" = missing ] && [ "$times" -ne 1 ]; then
		echo "FAIL: [$class] the missing file named $times times: $short"
		sed 's/^/    /' "$T/err" | head -3
		fail=1
	elif [ "$times" -gt 1 ] || [ "$lines" -gt 2 ] || [ "$lines" -lt 1 ]; then
		echo "FAIL: [$class] message not one cause ($times mentions, $lines lines): $short"
		sed 's/^/    /' "$T/err" | head -4
		fail=1
	else
		echo "ok   [$class] exit $got: $short"
	fi
done
[ -e "$T/store/.tmp" ] || [ -z "$(ls -A "$T/store")" ] || { echo "FAIL: the store was written"; fail=1; }
echo "cli_exit: $n cases"
exit $fail
