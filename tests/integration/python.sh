#!/usr/bin/env bash
# The ephemeralml Python package (python/), issue 17:
#   1 pytest python/tests against a real eml-agent (sim) and eml-proxy:
#     the demo model from Python equals `eml run --local`, a PCR mismatch
#     raises PcrMismatchError, errors are typed, verify_attestation on the
#     real AWS documents
#   2 the package installed offline into a fresh venv
#     (--system-site-packages, pip --no-build-isolation --no-index) finds
#     the libeml of `make install PREFIX=...` through the eml on PATH and
#     runs the demo model from outside the source tree
set -u
cd "$(dirname "$0")/../.."
# shellcheck source=lib/e2e.bash
source tests/integration/lib/e2e.bash

for b in "$EML" "$EML_AGENT" "$EML_PROXY"; do
	[ -x "$b" ] || { echo "FAIL: python: $b missing"; exit 1; }
done
e2e_init
W=$E2E_DIR
e2e_world request || { cat "$W"/*.log; echo "FAIL: python: setup"; exit 1; }

head -c 32 /dev/urandom >"$W/job.key"
chmod 600 "$W/job.key"
e2e_start agent "$EML_AGENT" --listen "unix:$W/agent.sock" --attest sim \
	--sim-dir "$W/sim" --policy "$W/agent-policy.json" --job-key "$W/job.key"
e2e_wait_unix "$W/agent.sock" || { cat "$W/agent.log"; echo "FAIL: python: agent"; exit 1; }
PORT=$(e2e_free_port)
mkdir -p "$W/store"
"$EML_PROXY" blob put --weights "$W/store" "$W/model/weights.sealed" >"$W/put.log" 2>&1 ||
	{ cat "$W/put.log"; echo "FAIL: python: blob put"; exit 1; }
JAPI=$(e2e_free_port)
e2e_start proxy "$EML_PROXY" --listen "tcp:127.0.0.1:$PORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --jobs "sqlite:$W/queue.db" --jobs-listen "tcp:127.0.0.1:$JAPI"
e2e_wait_tcp "$PORT" && e2e_wait_tcp "$JAPI" || { cat "$W/proxy.log"; echo "FAIL: python: proxy"; exit 1; }

# A second proxy with the operator controls: API keys and TLS.
K="$W/keys.json"
"$EML_PROXY" keys add --keys "$K" --id py --rate 100000 2>/dev/null | tail -n 1 >"$W/py.key"
openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
	-subj "/CN=ca" -keyout "$W/ca.key" -out "$W/ca.pem" 2>/dev/null
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=px" \
	-keyout "$W/px.key" -out "$W/px.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\n' >"$W/px.ext"
openssl x509 -req -in "$W/px.csr" -CA "$W/ca.pem" -CAkey "$W/ca.key" -CAcreateserial \
	-days 2 -extfile "$W/px.ext" -out "$W/px.pem" 2>/dev/null
OPORT=$(e2e_free_port)
e2e_start proxy-op "$EML_PROXY" --listen "tcp:127.0.0.1:$OPORT" --agent "unix:$W/agent.sock" \
	--weights "$W/store" --api-keys "$K" --tls-cert "$W/px.pem" --tls-key "$W/px.key"
e2e_wait_tcp "$OPORT" || { cat "$W/proxy-op.log"; echo "FAIL: python: operator proxy"; exit 1; }
export EML_PY_OP_PROXY="127.0.0.1:$OPORT" EML_PY_OP_KEY="$(cat "$W/py.key")" \
	EML_PY_OP_CA="$W/ca.pem"

export EML_PY_PROXY="127.0.0.1:$PORT" EML_PY_POLICY="$W/client.json" \
	EML_PY_BAD_PCR="$W/bad-pcr.json" EML_PY_BAD_DIGEST="$W/bad-digest.json" \
	EML_PY_MODEL="$W/model" EML_PY_ONNX="$E2E_MODEL" EML_PY_EML="$EML" \
	EML_PY_SCRATCH="$W/scratch" EML_PY_JOBS="127.0.0.1:$JAPI"
mkdir -p "$W/scratch"
export PYTHONDONTWRITEBYTECODE=1
# A sanitizer build's libeml needs its runtimes loaded first in python.
PYPRE=()
if [ -n "${EML_SANFLAGS:-}" ]; then
	PYPRE=(env "LD_PRELOAD=$(cc -print-file-name=libasan.so) $(cc -print-file-name=libubsan.so)"
		"ASAN_OPTIONS=detect_leaks=0")
fi

# 1. The package from the source tree, libeml from this build.
if EML_LIBRARY="$BUILD/lib/libeml.so" PYTHONPATH="$E2E_ROOT/python" \
	"${PYPRE[@]}" "$PY" -m pytest -q -p no:cacheprovider "$E2E_ROOT/python/tests" >"$W/pytest.log" 2>&1; then
	e2e_pass "python: pytest python/tests ($(tail -1 "$W/pytest.log"))"
else
	cat "$W/pytest.log"
	e2e_fail "python: pytest python/tests"
fi

# 2. Installed: make install PREFIX, a fresh venv, pip offline.
P="$W/prefix"
if ! make -s -o all BUILD="$BUILD" install PREFIX="$P" >"$W/install.log" 2>&1; then
	cat "$W/install.log"
	e2e_fail "python: make install PREFIX"
elif ! "$PY" -m venv --system-site-packages "$W/venv" >"$W/venv.log" 2>&1; then
	cat "$W/venv.log"
	e2e_fail "python: venv"
else
	# pip builds in the source directory: give it a copy.
	cp -r "$E2E_ROOT/python" "$W/pysrc"
	rm -rf "$W/pysrc/tests"
	if ! "$W/venv/bin/pip" install -q --no-build-isolation --no-index "$W/pysrc" \
		>"$W/pip.log" 2>&1; then
		cat "$W/pip.log"
		e2e_fail "python: pip install --no-build-isolation --no-index ./python"
	else
		e2e_make_input "$W/scratch/venv-in.pb" 42
		"$EML" run --local "$E2E_MODEL" --input "$W/scratch/venv-in.pb" \
			--output-dir "$W/scratch/venv-ref" >/dev/null 2>&1
		# From outside the tree, with no EML_LIBRARY: found via the eml on PATH.
		if (cd "$W/scratch" && env -u EML_LIBRARY -u PYTHONPATH PATH="$P/bin:/usr/bin:/bin" \
			"${PYPRE[@]}" "$W/venv/bin/python" - "$P" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import numpy_helper
import ephemeralml as eml
prefix = sys.argv[1]
assert eml.__file__.startswith(sys.prefix), eml.__file__
assert eml.LIBRARY_PATH.startswith(prefix), eml.LIBRARY_PATH
import os
t = onnx.TensorProto(); t.ParseFromString(open("venv-in.pb", "rb").read())
x = numpy_helper.to_array(t)
r = onnx.TensorProto(); r.ParseFromString(open("venv-ref/output_0.pb", "rb").read())
with eml.Client(proxy=os.environ["EML_PY_PROXY"], policy=os.environ["EML_PY_POLICY"],
                model=os.environ["EML_PY_MODEL"]) as c:
    out = c.infer({"x": x})
assert np.array_equal(out[r.name], numpy_helper.to_array(r)), "differs from eml run --local"
print("venv ok", eml.LIBRARY_PATH)
PYEOF
		) >"$W/venv-run.log" 2>&1; then
			e2e_pass "python: installed into a fresh venv, libeml from make install PREFIX, result equals eml run --local"
		else
			cat "$W/venv-run.log"
			e2e_fail "python: venv run"
		fi
	fi
fi
exit $E2E_FAILED
