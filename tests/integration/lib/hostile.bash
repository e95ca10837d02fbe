# The world of the hostile tests (hostile_topo.sh, soak_hostile.sh):
# sourced after e2e.bash, run after e2e_world. hostile_world writes a
# tight agent policy ($W/agent-policy.json: this model only, its
# operators only (and Not), limits just above what it needs), the client
# policy for it ($W/client.json), the hand-written hostile topology keys
# ($W/hostile/NAME/model.topo, $W/cases.txt: NAME WANTED_CODE), the good
# input $W/in.pb, the oversized one $W/in-big.pb and the reference output
# of eml run --local ($W/ref/output_0.pb). A 2 s wall-time limit ends the
# Loop of 2^62 iterations. Sets MAX_TOPO MAX_NODES
# MAX_TENSOR MAX_ARENA MAX_INPUT WEIGHT. Returns non-zero on failure.

hostile_world() {
	local W=$E2E_DIR NODES OPS TOPO DIGEST p0 p1 p2
	read -r NODES OPS < <("$PY" - "$E2E_MODEL" <<'EOP'
import sys, json, onnx
m = onnx.load(sys.argv[1])
# Not is allowed too: the wrong-dtype case must get past the list; so are
# the operators of the cases that take sizes from their inputs.
extra = {"Not", "Constant", "MaxPool", "MaxUnpool", "Unsqueeze", "RoiAlign", "Unique", "Relu",
         "DFT", "If", "Loop", "Identity"}
print(len(m.graph.node), json.dumps(sorted({n.op_type for n in m.graph.node} | extra), separators=(",", ":")))
EOP
	)
	TOPO=$(stat -c %s "$W/model/model.topo")
	MAX_TOPO=$((TOPO + 65536))
	MAX_NODES=$((NODES + 8))
	MAX_TENSOR=$((16 << 20))
	MAX_ARENA=$((64 << 20))
	MAX_INPUT=$((3 * 48 * 192 * 4))
	WEIGHT=$("$PY" - "$W/model/model.topo" <<'EOP'
import sys
sys.path.insert(0, "tests/integration/lib")
import hostile_topo as h
blob = [v for f, w, v in h.fields(open(sys.argv[1], "rb").read()) if f == 3][0]
print({f: v for f, w, v in h.fields(blob)}[5])
EOP
	) || return 1
	cat >"$W/agent-policy.json" <<EOP
{"version":1,"models":["$E2E_CID"],"assembly":"request","ops":$OPS,
 "limits":{"max_topology_bytes":$MAX_TOPO,"max_nodes":$MAX_NODES,"max_tensor_bytes":$MAX_TENSOR,
 "max_arena_bytes":$MAX_ARENA,"max_input_bytes":$MAX_INPUT,"max_weight_bytes":$WEIGHT,
 "max_infer_ms":2000}}
EOP
	DIGEST=$("$EML_AGENT" --policy-digest --policy "$W/agent-policy.json") || return 1
	p0=$(e2e_sim_pcr 0)
	p1=$(e2e_sim_pcr 1)
	p2=$(e2e_sim_pcr 2)
	e2e_client_policy "$W/client.json" "$p0" "$p1" "$p2" "$DIGEST"
	"$PY" tests/integration/lib/hostile_topo.py "$W/model/model.topo" "$W/hostile" \
		"$MAX_TOPO" "$MAX_NODES" "$MAX_TENSOR" "$WEIGHT" >"$W/cases.txt" || return 1
	e2e_make_input "$W/in.pb" 7 || return 1
	e2e_make_input "$W/in-big.pb" 8 2 || return 1
	"$EML" run --local "$E2E_MODEL" --input "$W/in.pb" --output-dir "$W/ref" >"$W/ref.log" 2>&1
}
