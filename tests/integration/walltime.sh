#!/usr/bin/env bash
# The per-inference wall-time limit (issue 11, agent policy
# limits.max_infer_ms) through the real processes: a generated model, a
# chain of 32 MatMuls by one 1024x1024 weight, behind eml-proxy and
# eml-agent (unix: addresses) whose policy allows it 300 ms per
# inference. A 1x1024 input runs in milliseconds and is answered
# bit-identical to eml run --local; a 4096x1024 input (275 GFLOP: about
# 1.1 s on two AVX-512 cores, 1.8 s on one; with eight MatMuls, 69 GFLOP,
# two threads finished inside the 300 ms once the GEMM got faster) is
# refused with EML_ERR_POLICY_TIME (717), sealed,
# inside the same session; the same session and the same agent PID then
# answer the small input again. Run with 1 and with 2 engine threads (the
# kernels' check runs inside a GEMM task on the caller and on the
# workers). The time to the refusal is printed (a figure, not a check).
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY" "$BUILD/lib/libeml.so"; do
	[ -e "$b" ] || { echo "FAIL: walltime: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
"$PY" - "$W/chain.onnx" "$W" <<'EOF2' || { echo "FAIL: walltime: model"; exit 1; }
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto
rng = np.random.default_rng(11)
w = (rng.standard_normal((1024, 1024)) / 32.0).astype(np.float32)
nodes, prev = [], "x"
for i in range(32):
    out = "y" if i == 31 else "h%d" % i
    nodes.append(helper.make_node("MatMul", [prev, "w"], [out], name="mm%d" % i))
    prev = out
g = helper.make_graph(nodes, "chain",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 1024])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 1024])],
                      [numpy_helper.from_array(w, "w")])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
onnx.save(m, sys.argv[1])
for name, n in (("small", 1), ("big", 4096)):
    x = rng.uniform(-1, 1, (n, 1024)).astype(np.float32)
    open("%s/%s.pb" % (sys.argv[2], name), "wb").write(
        numpy_helper.from_array(x, "x").SerializeToString())
EOF2
"$EML" model split "$W/chain.onnx" --out "$W/model" >"$W/split.log" 2>&1 &&
	"$EML" attest sim-init "$W/sim" >"$W/sim-init.log" 2>&1 &&
	"$EML" run --local "$W/chain.onnx" --input "$W/small.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1 ||
	{ cat "$W"/*.log; echo "FAIL: walltime: split / sim / reference"; exit 1; }
CID=$(sha256sum "$W/model/weights.sealed" | cut -d' ' -f1)
LIMIT=300
printf '{"version":1,"models":["%s"],"assembly":"request","limits":{"max_infer_ms":%d}}\n' \
	"$CID" "$LIMIT" >"$W/agent-policy.json"
DIGEST=$("$EML_AGENT" --policy-digest --policy "$W/agent-policy.json") || { echo "FAIL: walltime: policy"; exit 1; }
e2e_client_policy "$W/client.json" "$(e2e_sim_pcr 0)" "$(e2e_sim_pcr 1)" "$(e2e_sim_pcr 2)" "$DIGEST"
mkdir -p "$W/store"
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; echo "FAIL: walltime: blob put"; exit 1; }

PYPRE=()
if nm "$EML_AGENT" 2>/dev/null | grep -q '__asan_init'; then
	PYPRE=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
		"ASAN_OPTIONS=detect_leaks=0")
fi
export PYTHONDONTWRITEBYTECODE=1

for threads in 1 2; do
	rm -f "$W/agent.sock" "$W/proxy.sock"
	e2e_start "agent$threads" "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim \
		--sim-dir "$W/sim" --policy "$W/agent-policy.json" --threads "$threads"
	AGENT=$E2E_LAST_PID
	e2e_wait_unix "$W/agent.sock" || { cat "$W/agent$threads.log"; echo "FAIL: walltime: agent"; exit 1; }
	e2e_start "proxy$threads" "$EML_PROXY" --listen "unix:$W/proxy.sock" \
		--agent "unix:$W/agent.sock" --weights "$W/store" --rate-limit 0
	PROXY=$E2E_LAST_PID
	e2e_wait_unix "$W/proxy.sock" || { cat "$W/proxy$threads.log"; echo "FAIL: walltime: proxy"; exit 1; }
	if EML_LIBRARY="$BUILD/lib/libeml.so" PYTHONPATH="$E2E_ROOT/python" "${PYPRE[@]}" \
		"$PY" - "$W" "$AGENT" "$LIMIT" "$threads" <<'EOF2'; then
import sys, time
from onnx import TensorProto, numpy_helper
from ephemeralml import Client
from ephemeralml.errors import EmlError
W, agent, limit, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
def load(p):
    t = TensorProto()
    t.ParseFromString(open(p, "rb").read())
    return numpy_helper.to_array(t)
small, big, ref = load(W + "/small.pb"), load(W + "/big.pb"), load(W + "/ref/output_0.pb")
def ok_small(c, when):
    y = c.infer({"x": small})["y"]
    assert y.tobytes() == ref.tobytes(), when + ": small input answered wrongly"
ok = True
with Client("unix:" + W + "/proxy.sock", W + "/client.json", model=W + "/model",
            timeout_ms=120000) as c:
    ok_small(c, "before")
    t0 = time.monotonic()
    try:
        c.infer({"x": big})
        print("FAIL: walltime (%s threads): the 4096x1024 input was answered" % threads)
        ok = False
    except EmlError as e:
        ms = (time.monotonic() - t0) * 1000
        if e.code == 717 and "wall-time limit" in str(e):
            print("PASS: walltime (%s threads): 4096x1024 refused with 717 (%s) after %.0f ms "
                  "(limit %d ms; includes assembly and planning)" % (threads, e.name, ms, limit))
        else:
            print("FAIL: walltime (%s threads): refused with %s" % (threads, e))
            ok = False
    ok_small(c, "after")
    print("PASS: walltime (%s threads): the same session answers the small input "
          "bit-identical to eml run --local before and after" % threads)
with open("/proc/%d/status" % agent) as f:
    pass
sys.exit(0 if ok else 1)
EOF2
		:
	else
		E2E_FAILED=1
	fi
	if kill -0 "$AGENT" 2>/dev/null && [ "$(grep -c '"event":"agent.ready"' "$W/agent$threads.log")" -eq 1 ]; then
		e2e_pass "walltime ($threads threads): the same agent (PID $AGENT) throughout"
	else
		tail -n 20 "$W/agent$threads.log"
		e2e_fail "walltime ($threads threads): agent gone or restarted"
	fi
	e2e_stop "$PROXY"
	e2e_stop "$AGENT"
done
exit $E2E_FAILED
