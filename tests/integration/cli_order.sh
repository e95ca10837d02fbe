#!/usr/bin/env bash
# `eml infer` does its local work first and names what did not answer
# (issue 15 item 8), against a real listener that counts connections and
# never says a word:
#  - an output directory that cannot be made, a malformed policy, an
#    unreadable input: refused before any connection (the listener counts
#    none), exit 3, 2, 3;
#  - a peer that accepts and stays silent: the first-answer deadline (here
#    --timeout 2000) ends it in seconds, exit 3, with a message saying
#    that the peer accepted the connection but sent no answer.
set -u
BUILD=${BUILD:-build}
E="$BUILD/bin/eml"
SHARED=${EML_TESTDATA:-$(pwd)/testdata}
INPUT=tests/vectors/text-direction-cls/input_0.pb
T=$(mktemp -d)
LPID=
cleanup() {
	[ -n "$LPID" ] && kill "$LPID" 2>/dev/null && wait "$LPID" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

/usr/bin/python3 - "$T" <<'PY' &
import socket, sys, os, time
d = sys.argv[1]
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(16)
open(os.path.join(d, "port.tmp"), "w").write(str(s.getsockname()[1]))
os.rename(os.path.join(d, "port.tmp"), os.path.join(d, "port"))
held, n = [], 0
s.settimeout(0.2)
end = time.time() + 120
while time.time() < end:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    held.append(c)  # never answered
    n += 1
    open(os.path.join(d, "count"), "w").write(str(n))
PY
LPID=$!
for _ in $(seq 100); do [ -e "$T/port" ] && break; sleep 0.05; done
PORT=$(cat "$T/port")
count() { cat "$T/count" 2>/dev/null || echo 0; }

"$E" model split "$SHARED/models/text-direction-cls.onnx" --out "$T/model" >/dev/null ||
	{ echo "FAIL split"; exit 1; }
cp "$SHARED/attestation/aws_nitro_root_g1.pem" "$T/root.pem"
# nitro-cli's spelling of the PCRs (item 7): accepted as pins
h=$(printf 'ab%.0s' $(seq 48))
printf '{"version": 1, "trust_root": "root.pem", "max_age_seconds": 600, "pcrs": {"PCR0": "%s", "PCR1": "%s", "PCR2": "%s"}}\n' \
	"$h" "$h" "$h" >"$T/policy.json"
echo "not json" >"$T/bad-policy.json"

infer() { # CODE WHAT extra...
	local want=$1 what=$2
	shift 2
	"$E" infer --proxy "127.0.0.1:$PORT" --model "$T/model" --timeout 2000 "$@" \
		>"$T/out" 2>"$T/err"
	local got=$?
	if [ "$got" -ne "$want" ]; then
		bad "$what: exit $got, want $want: $(head -2 "$T/err")"
		return 1
	fi
	return 0
}

infer 3 "output dir" --policy "$T/policy.json" --input "$INPUT" --output-dir /nonexistent/x &&
	grep -q -- "--output-dir" "$T/err" && [ "$(count)" = 0 ] &&
	ok "an output directory that cannot be made: exit 3, no connection" ||
	bad "output dir: $(head -1 "$T/err"), connections $(count)"
infer 2 "bad policy" --policy "$T/bad-policy.json" --input "$INPUT" &&
	grep -q "EML_ERR_ATTEST_POLICY" "$T/err" && [ "$(count)" = 0 ] &&
	ok "a malformed policy: exit 2, no connection" ||
	bad "bad policy: $(head -1 "$T/err"), connections $(count)"
printf '{"version": 1, "trust_root": "root.pem", "max_age_seconds": 600}\n' >"$T/unpinned.json"
infer 1 "unpinned policy" --policy "$T/unpinned.json" --input "$INPUT" &&
	grep -q "EML_ERR_ATTEST_UNPINNED" "$T/err" && [ "$(count)" = 0 ] &&
	ok "a policy that pins no image: exit 1, no connection" ||
	bad "unpinned policy: $(head -1 "$T/err"), connections $(count)"
infer 3 "missing input" --policy "$T/policy.json" --input "$T/none.pb" &&
	[ "$(count)" = 0 ] && ok "a missing input: exit 3, no connection" ||
	bad "missing input: connections $(count)"

start=$(date +%s)
infer 3 "silent peer" --policy "$T/policy.json" --input "$INPUT"
took=$(($(date +%s) - start))
[ "$(count)" = 1 ] || bad "silent peer: $(count) connections, want 1"
grep -q "accepted the connection but sent no answer within 2000 ms" "$T/err" &&
	ok "a silent peer: exit 3 in ${took}s, named as accepting and not answering" ||
	bad "silent peer message: $(head -2 "$T/err")"
grep -q "fd [0-9]" "$T/err" && bad "silent peer message names a file descriptor"
exit $fail
