#!/usr/bin/env bash
# Every --json document of the command line against its schema in
# docs/schemas/ (issue 15 item 4; docs/CLI.md), through the real binaries:
# attest verify (verified and refused), evidence verify (refused), image
# measure (prediction), model inspect (supported, refused with the remedy,
# --nodes), model split, run (plain and --bench), policy show, and infer
# through a simulated enclave and a proxy.
set -u
source tests/integration/lib/e2e.bash
SCHEMAS="$E2E_ROOT/docs/schemas"
e2e_init
W=$E2E_DIR
fail=0

validate() { # NAME SCHEMA FILE [python assertion on j]
	if "$PY" - "$SCHEMAS" "$2" "$3" "${4:-True}" <<'PY'; then
import json, os, sys
import jsonschema
d, name, path, extra = sys.argv[1:5]
def load(n):
    with open(os.path.join(d, n)) as f:
        return json.load(f)
def inline(s):
    # the shared pieces ("$ref": "shape.json") inlined: no resolver needed,
    # whatever the jsonschema version
    if isinstance(s, dict):
        if set(s) == {"$ref"}:
            return inline(load(s["$ref"]))
        return {k: inline(v) for k, v in s.items()}
    if isinstance(s, list):
        return [inline(v) for v in s]
    return s
schema = inline(load(name))
with open(path) as f:
    text = f.read()
j = json.loads(text)  # exactly one document: trailing text fails here
jsonschema.validate(j, schema, cls=jsonschema.Draft202012Validator)
assert eval(extra), extra
PY
		echo "PASS: json: $1"
	else
		echo "FAIL: json: $1"
		head -c 600 "$3" | sed 's/^/    /'
		fail=1
	fi
}

MODEL=$(e2e_demo_model)
INPUT="$E2E_ROOT/tests/vectors/text-direction-cls/input_0.pb"
DOC="$EML_TESTDATA/attestation/doc01.cbor"

"$EML" attest verify "$DOC" --at doc --json >"$W/av.json"
validate "attest verify (verified)" attest-verify.json "$W/av.json" 'j["ok"] and len(j["pcrs"]) == 16'
"$EML" attest verify "$DOC" --at doc --nonce 00 --json >"$W/av2.json"
validate "attest verify (refused)" attest-verify.json "$W/av2.json" \
	'not j["ok"] and j["error"]["name"] == "EML_ERR_ATTEST_NONCE"'

# "-" is standard input; --at takes epoch seconds (the document is from
# 2021-03-17T22:01:55Z); a policy may pin PCRs with nitro-cli's spelling or
# its whole "Measurements" object
"$EML" attest verify - --at doc --json <"$DOC" >"$W/av3.json"
validate "attest verify - (stdin)" attest-verify.json "$W/av3.json" 'j["ok"]'
"$EML" attest verify "$DOC" --at 1616018516 --json >"$W/av4.json"
validate "attest verify --at epoch seconds" attest-verify.json "$W/av4.json" \
	'j["ok"] and j["verified_at"] == "1616018516"'
"$PY" - "$W/av.json" "$W/nitro.json" "$W/nitro-bad.json" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
m = {"HashAlgorithm": "Sha384 { ... }"}
m.update({"PCR%s" % k: j["pcrs"][k] for k in ("0", "1", "2")})
json.dump({"version": 1, "Measurements": m}, open(sys.argv[2], "w"))
m["PCR2"] = "00" * 48
json.dump({"version": 1, "Measurements": m}, open(sys.argv[3], "w"))
PY
"$EML" attest verify "$DOC" --at doc --policy "$W/nitro.json" --json >"$W/av5.json"
validate "policy with nitro-cli Measurements (match)" attest-verify.json "$W/av5.json" 'j["ok"]'
"$EML" attest verify "$DOC" --at doc --policy "$W/nitro-bad.json" --json >"$W/av6.json"
validate "policy with nitro-cli Measurements (PCR2 differs)" attest-verify.json "$W/av6.json" \
	'not j["ok"] and j["error"]["name"] == "EML_ERR_ATTEST_PCR_MISMATCH"'

echo "not evidence" >"$W/text.txt"
"$EML" evidence verify "$W/text.txt" --root "$EML_TESTDATA/attestation/aws_nitro_root_g1.pem" \
	--json >"$W/ev.json"
validate "evidence verify (refused)" evidence-verify.json "$W/ev.json" 'not j["verified"]'

"$EML" image measure --kernel "$W/text.txt" --cmdline "console=ttyS0" --ramdisk "$W/text.txt" \
	--json >"$W/im.json"
validate "image measure (prediction)" image-measure.json "$W/im.json"

"$EML" model inspect "$MODEL" --json >"$W/mi.json"
validate "model inspect" model-inspect.json "$W/mi.json" \
	'j["supported"] and j["unsupported"] == [] and j["parameters"] > 0 and "node_list" not in j'
"$EML" model inspect "$MODEL" --json --nodes >"$W/mi2.json"
validate "model inspect --nodes" model-inspect.json "$W/mi2.json" \
	'len(j["node_list"]) == j["nodes"] and sum(o["count"] for o in j["operators"]) == j["nodes"]'
# a model the engine refuses: every unsupported operator with its nodes
"$PY" - "$W/bad.onnx" <<'PY'
import sys
from onnx import TensorProto, helper
x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])
nodes = [helper.make_node("Relu", ["x"], ["a"], name="relu0"),
         helper.make_node("NoSuchOperator", ["a"], ["b"], name="odd0"),
         helper.make_node("NoSuchOperator", ["b"], ["y"], name="odd1")]
g = helper.make_graph(nodes, "bad", [x], [y])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
open(sys.argv[1], "wb").write(m.SerializeToString())
PY
"$EML" model inspect "$W/bad.onnx" --json >"$W/mi3.json"
st=$?
[ "$st" -eq 1 ] || { echo "FAIL: json: inspect of a refused model exits $st, want 1"; fail=1; }
validate "model inspect (refused)" model-inspect.json "$W/mi3.json" \
	'not j["supported"] and j["unsupported"][0]["op"] == "NoSuchOperator" and j["unsupported"][0]["nodes"] == ["odd0", "odd1"] and j["unsupported"][0]["error"] == "EML_ERR_INFER_OP"'
"$EML" model inspect "$W/bad.onnx" >"$W/mi3.txt"
grep -q "NoSuchOperator: 2 nodes: odd0 odd1" "$W/mi3.txt" && grep -q "to support it:" "$W/mi3.txt" ||
	{ echo "FAIL: inspect text names the refused operator, its nodes and a remedy"; fail=1; }

"$EML" model split "$MODEL" --out "$W/m" --json >"$W/ms.json"
validate "model split" model-split.json "$W/ms.json" \
	'j["content_id"] == __import__("hashlib").sha256(open(j["files"]["blob"], "rb").read()).hexdigest()'

"$EML" run --local "$MODEL" --input "$INPUT" --json >"$W/run.json"
validate "run" run.json "$W/run.json" 'j["outputs"][0]["shape"] == [1, 2] and "bench" not in j'
"$EML" run --local "$MODEL" --input "$INPUT" --json --bench 3 --warmup 1 >"$W/run2.json" 2>/dev/null
validate "run --bench" run.json "$W/run2.json" \
	'j["bench"]["runs"] == 3 and j["bench"]["min_ms"] <= j["bench"]["p50_ms"] <= j["bench"]["p90_ms"] <= j["bench"]["p99_ms"] <= j["bench"]["max_ms"]'

# infer, through a simulated enclave and a proxy
e2e_world request || { cat "$W"/*.log; echo "FAIL: json: setup"; exit 1; }
"$EML" policy show "$W/agent-policy.json" --json >"$W/ps.json"
validate "policy show" policy-show.json "$W/ps.json" "j[\"digest\"] == \"$E2E_DIGEST\""
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim --sim-dir "$W/sim" \
	--policy "$W/agent-policy.json"
e2e_wait_unix "$W/agent.sock" || { echo "FAIL: json: agent"; exit 1; }
PORT=$(e2e_free_port)
mkdir -p "$W/store"
"$EML_PROXY" blob put "$W/model/weights.sealed" --weights "$W/store" >/dev/null
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --rate-limit 0
e2e_wait_tcp "$PORT" || { echo "FAIL: json: proxy"; exit 1; }
"$EML" infer --proxy "127.0.0.1:$PORT" --model "$W/model" --policy "$W/client.json" \
	--input "$INPUT" --repeat 2 --json --timeout 30000 >"$W/inf.json" 2>"$W/inf.err" ||
	{ echo "FAIL: json: infer exits $?"; cat "$W/inf.err"; fail=1; }
validate "infer" infer.json "$W/inf.json" \
	'j["attestation"]["producer"] == "sim" and len(j["attestation"]["pcrs"]) == 3 and j["repeat"] == 2 and j["outputs"][0]["shape"] == [1, 2]'
exit $fail
