#!/usr/bin/env bash
# Inputs without Python (issue 15 items 5 and 6), through the real binary:
# `eml tensor make` from .npy, JSON, raw bytes, random and zeros, checked
# against what NumPy and onnx read back (an oracle that is not our code);
# refusals of malformed .npy files (exit 1, nothing written); `eml tensor
# show`; `eml run --local` with an input made from the model's declared
# shape, and with none at all.
set -u
BUILD=${BUILD:-build}
E="$BUILD/bin/eml"
SHARED=${EML_TESTDATA:-$(pwd)/testdata}
MODEL="$SHARED/models/text-direction-cls.onnx"
CORPUS=tests/fuzz/corpus/npy
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

# read FILE.pb -> "name dtype shape values" through onnx.numpy_helper
oracle() {
	"$PY" - "$1" <<'PY'
import sys
import onnx
from onnx import numpy_helper
t = onnx.TensorProto()
t.ParseFromString(open(sys.argv[1], "rb").read())
a = numpy_helper.to_array(t)
print(t.name, a.dtype, list(a.shape), [float(x) for x in a.flatten()[:8]])
PY
}

"$PY" -c 'import numpy as np; np.save("'"$T"'/a.npy", np.arange(12, dtype=np.float32).reshape(3, 4) / 4)'
"$E" tensor make --from "$T/a.npy" --name x -o "$T/a.pb" >/dev/null || bad "make from .npy"
[ "$(oracle "$T/a.pb")" = "x float32 [3, 4] [0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75]" ] &&
	ok "from .npy: name, type, shape, values" || bad "from .npy: $(oracle "$T/a.pb")"
"$E" tensor make --from "$T/a.npy" --shape 4,3 -o "$T/x.pb" >/dev/null 2>&1
[ $? -eq 1 ] && [ ! -e "$T/x.pb" ] && ok "a .npy whose shape is not --shape: exit 1" ||
	bad "npy/--shape disagreement accepted"
for f in fortran big_endian cut trailing; do
	cp "$CORPUS/$f" "$T/$f.npy"
	"$E" tensor make --from "$T/$f.npy" -o "$T/$f.pb" >/dev/null 2>"$T/err"
	st=$?
	[ "$st" -eq 1 ] && [ ! -e "$T/$f.pb" ] && ok "malformed .npy ($f): exit 1, nothing written" ||
		bad "malformed .npy ($f): exit $st: $(head -1 "$T/err")"
done

echo '[[1, 2, 3], [4, 5, 6]]' >"$T/b.json"
"$E" tensor make --from "$T/b.json" --dtype int64 -o "$T/b.pb" >/dev/null || bad "make from json"
[ "$(oracle "$T/b.pb")" = "input int64 [2, 3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]" ] &&
	ok "from JSON: nesting gives the shape" || bad "from JSON: $(oracle "$T/b.pb")"
echo '[1, 2, 3]' >"$T/c.json"
"$E" tensor make --from "$T/c.json" --shape 2,2 -o "$T/c.pb" >/dev/null 2>&1
[ $? -eq 1 ] && ok "JSON with fewer numbers than the shape: exit 1" || bad "short JSON accepted"
echo '[[1, 2], [3]]' >"$T/d.json"
"$E" tensor make --from "$T/d.json" -o "$T/d.pb" >/dev/null 2>&1
[ $? -eq 1 ] && ok "ragged JSON: exit 1" || bad "ragged JSON accepted"

"$PY" -c 'import numpy as np; open("'"$T"'/r.bin", "wb").write(np.array([1.5, -2, 3, 4], dtype="<f4").tobytes())'
"$E" tensor make --from "$T/r.bin" --shape 2,2 --dtype float32 -o "$T/r.pb" >/dev/null ||
	bad "make from raw"
[ "$(oracle "$T/r.pb")" = "input float32 [2, 2] [1.5, -2.0, 3.0, 4.0]" ] && ok "from raw bytes" ||
	bad "from raw: $(oracle "$T/r.pb")"
"$E" tensor make --from "$T/r.bin" --shape 3,2 -o "$T/r2.pb" >/dev/null 2>&1
[ $? -eq 1 ] && ok "raw bytes of the wrong size: exit 1" || bad "raw size mismatch accepted"

"$E" tensor make --from zeros --shape 1,2 --dtype float16 -o "$T/z.pb" >/dev/null
[ "$(oracle "$T/z.pb")" = "input float16 [1, 2] [0.0, 0.0]" ] && ok "zeros, float16" ||
	bad "zeros: $(oracle "$T/z.pb")"
"$E" tensor make --from random --seed 7 --shape 64 -o "$T/s1.pb" >/dev/null
"$E" tensor make --from random --seed 7 --shape 64 -o "$T/s2.pb" >/dev/null
"$E" tensor make --from random --seed 8 --shape 64 -o "$T/s3.pb" >/dev/null
cmp -s "$T/s1.pb" "$T/s2.pb" && ! cmp -s "$T/s1.pb" "$T/s3.pb" && ok "random: same seed, same bytes" ||
	bad "random is not reproducible by seed"
"$PY" - "$T/s1.pb" <<'PY' && ok "random floats in [-1, 1)" || bad "random floats out of range"
import sys, onnx
from onnx import numpy_helper
t = onnx.TensorProto(); t.ParseFromString(open(sys.argv[1], "rb").read())
a = numpy_helper.to_array(t)
sys.exit(0 if a.min() >= -1 and a.max() < 1 and a.std() > 0.1 else 1)
PY
"$E" tensor make --from random -o "$T/n.pb" >/dev/null 2>&1
[ $? -eq 2 ] && ok "random without a shape: usage (2)" || bad "random without a shape accepted"

"$E" tensor show "$T/a.pb" >"$T/show" || bad "tensor show"
grep -q "^x  float32 \[3,4\]  12 elements, 48 bytes" "$T/show" && grep -q "max 2.75" "$T/show" &&
	ok "tensor show" || bad "tensor show: $(cat "$T/show")"

# an input from the model's declared shape, then run
"$E" tensor make --model "$MODEL" --from random -o "$T/in.pb" >/dev/null 2>"$T/err" ||
	bad "make --model"
[ "$(oracle "$T/in.pb" | cut -d' ' -f1-6)" = "x float32 [1, 3, 224, 224]" ] &&
	ok "--model: name, type and shape of the declared input" || bad "--model: $(oracle "$T/in.pb")"
"$E" run --local "$MODEL" --input "$T/in.pb" >"$T/run" 2>&1 && grep -q "float32 \[1,2\]" "$T/run" &&
	ok "run --local on the made input" || bad "run on the made input: $(tail -2 "$T/run")"
"$E" run --local "$MODEL" --bench 2 --warmup 1 >"$T/bench" 2>"$T/err" &&
	grep -q "random values of its declared shape" "$T/err" &&
	grep -Eq '^median_ms=[0-9.]+ .* p99_ms=[0-9.]+ max_ms=[0-9.]+ throughput_per_s=[0-9.]+$' "$T/bench" &&
	ok "run --bench with no input: generated from the declared shape" ||
	bad "run without input: $(tail -2 "$T/err")"
exit $fail
