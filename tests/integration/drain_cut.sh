#!/usr/bin/env bash
# The kill switch's drain (issue 13) through the real eml-proxy and
# eml-agent, driven by the Python package over libeml:
#   1 a request in flight when the kill switch goes on finishes when its
#     answer comes within --drain-ms: the client gets the right output;
#     the next request is refused (760)
#   2 a request still in flight --drain-ms after the switch went on is cut
#     with its own code, EML_ERR_DRAIN_CUT (765), audited as kill_switch_cut
#   3 switch off: a new session is served; the proxy and the agent are the
#     same processes (same PIDs) throughout
# "In flight" is made certain rather than timed: the agent is stopped
# (SIGSTOP) after the handshake, the request is sent, the test waits until
# the proxy has forwarded it (its frames_client_to_agent counter moves),
# and only then turns the switch on. Case 1 resumes the agent (SIGCONT)
# at once, well inside the 5 s drain; case 2 resumes it only after the
# client has seen the cut.
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY" "$BUILD/lib/libeml.so"; do
	[ -e "$b" ] || { echo "FAIL: drain_cut: $b missing"; exit 1; }
done
"$PY" -c 'import cffi, numpy, onnx' 2>/dev/null || { echo "SKIP: drain_cut: python3 cffi/numpy/onnx missing"; exit 0; }
e2e_init
W=$E2E_DIR
e2e_world request || { cat "$W"/*.log; echo "FAIL: drain_cut: setup"; exit 1; }
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
AGENT=$E2E_LAST_PID
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: drain_cut: agent"; exit 1; }
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null || exit 1
PORT=$(e2e_free_port)
ADMIN=$(e2e_free_port)
TOKEN=drain-cut-test-token-0123456789
printf '%s\n' "$TOKEN" >"$W/admin.token"
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --audit "$W/audit.log" --rate-limit 0 --drain-ms 5000 \
	--admin "tcp:127.0.0.1:$ADMIN" --admin-token-file "$W/admin.token"
PROXY=$E2E_LAST_PID
e2e_wait_tcp "$PORT" && e2e_wait_tcp "$ADMIN" || { cat "$W/proxy.log"; echo "FAIL: drain_cut: proxy"; exit 1; }

# The SIGSTOPped agent must never be left stopped, whatever happens.
trap 'kill -CONT "$AGENT" 2>/dev/null; e2e_cleanup' EXIT

PYEXTRA=()
if [ -n "${EML_SANFLAGS:-}" ]; then
	PYEXTRA=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
		"ASAN_OPTIONS=detect_leaks=0")
fi
EML_LIBRARY="$BUILD/lib/libeml.so" PYTHONPATH="$E2E_ROOT/python" PYTHONDONTWRITEBYTECODE=1 \
	"${PYEXTRA[@]}" "$PY" - "127.0.0.1:$PORT" "127.0.0.1:$ADMIN" "$TOKEN" "$W/client.json" \
	"$W/model" "$E2E_MODEL" "$EML" "$W" "$AGENT" <<'PYEOF'
import json, os, signal, subprocess, sys, threading, time, urllib.request

import numpy as np
from onnx import TensorProto, numpy_helper

import ephemeralml as eml

proxy, admin, token, policy, model, onnx_path, eml_bin, work, agent = sys.argv[1:10]
agent = int(agent)
failed = False


def say(ok, what):
    global failed
    print(("PASS: " if ok else "FAIL: ") + "drain_cut: " + what, flush=True)
    failed = failed or not ok


def status():
    return json.load(urllib.request.urlopen(f"http://{admin}/status", timeout=10))


def switch(on):
    req = urllib.request.Request(f"http://{admin}/admin/kill-switch",
                                 data=json.dumps({"enabled": on}).encode(), method="POST",
                                 headers={"Authorization": "Bearer " + token})
    return urllib.request.urlopen(req, timeout=10).status


def frames_up():
    return status()["relay"]["frames_client_to_agent"]


x = (np.random.default_rng(7).random((1, 3, 48, 192), dtype=np.float32) * 2 - 1).astype(np.float32)
ref_dir = os.path.join(work, "ref")
os.makedirs(ref_dir, exist_ok=True)
open(os.path.join(ref_dir, "x.pb"), "wb").write(numpy_helper.from_array(x, "x").SerializeToString())
subprocess.run([eml_bin, "run", "--local", onnx_path, "--input", os.path.join(ref_dir, "x.pb"),
                "--output-dir", os.path.join(ref_dir, "out")], check=True, capture_output=True)
t = TensorProto()
t.ParseFromString(open(os.path.join(ref_dir, "out", "output_0.pb"), "rb").read())
want = numpy_helper.to_array(t)


def in_flight(c):
    """Send one request with the agent stopped; return when the proxy has
    forwarded it. The result (outputs or the exception) lands in box."""
    box = {}
    before = frames_up()
    os.kill(agent, signal.SIGSTOP)

    def run():
        try:
            box["out"] = c.infer({"x": x})
        except eml.EmlError as e:
            box["err"] = e

    th = threading.Thread(target=run)
    th.start()
    for _ in range(400):
        if frames_up() > before:
            break
        time.sleep(0.025)
    else:
        os.kill(agent, signal.SIGCONT)
        raise SystemExit("FAIL: drain_cut: the request never reached the proxy")
    return th, box


try:
    # ---- 1 finishes inside the drain
    c = eml.Client(proxy=proxy, policy=policy, model=model, timeout_ms=60000)
    th, box = in_flight(c)
    switch(True)
    on = status()["configuration"]["kill_switch"]
    os.kill(agent, signal.SIGCONT)
    th.join(60)
    out = box.get("out")
    ok = on and out is not None and any(np.array_equal(v, want) for v in out.values())
    say(ok, "a request in flight when the switch went on finished inside the drain, output correct"
        + ("" if ok else f" (switch={on} result={box})"))
    try:
        c.infer({"x": x})
        say(False, "the next request was served with the switch on")
    except eml.EmlError as e:
        say(e.code == 760, f"the next request is refused: {e.name} ({e.code})")
    c.close()
    switch(False)

    # ---- 2 cut after the drain
    c = eml.Client(proxy=proxy, policy=policy, model=model, timeout_ms=60000)
    th, box = in_flight(c)
    switch(True)
    th.join(60)  # the proxy cuts it after --drain-ms; the agent is still stopped
    os.kill(agent, signal.SIGCONT)
    err = box.get("err")
    say(err is not None and err.code == 765 and "out" not in box,
        f"a request in flight past the drain is cut with its own code: "
        f"{err.name if err else box} ({err.code if err else '-'})")
    c.close()
    switch(False)
    st = status()["configuration"]["kill_switch"]

    # ---- 3 served again
    with eml.Client(proxy=proxy, policy=policy, model=model, timeout_ms=60000) as c:
        out = c.infer({"x": x})
    say(not st and any(np.array_equal(v, want) for v in out.values()),
        "switch off: a new session is served, output correct")
finally:
    os.kill(agent, signal.SIGCONT)
sys.exit(1 if failed else 0)
PYEOF
rc=$?
[ $rc -eq 0 ] || E2E_FAILED=1
if grep '"kind":"request"' "$W/audit.log" | grep '"refused":"kill_switch_cut"' |
	grep -q '"err":765,"err_name":"EML_ERR_DRAIN_CUT"'; then
	e2e_pass "drain_cut: the cut is in the audit log (kill_switch_cut, 765)"
else
	e2e_fail "drain_cut: no kill_switch_cut audit line with 765"
	grep kill_switch "$W/audit.log" | tail -3
fi
if kill -0 "$AGENT" 2>/dev/null && kill -0 "$PROXY" 2>/dev/null; then
	e2e_pass "drain_cut: same proxy (PID $PROXY) and agent (PID $AGENT) throughout"
else
	e2e_fail "drain_cut: a process died"
fi
exit $E2E_FAILED
