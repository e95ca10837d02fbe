"""Feature: ephemeral-inference, Property 1: Decomposition separation -- for
any model, the sealed blob holds no architecture and the topology key no
weight values.

Each case: a generated model split by the real `eml model split`; the
sealed blob is searched for every node, tensor and graph name, the
operator names, windows of the plaintext weights and windows of the
topology key; the topology key for windows of every weight (16 bytes, at
every 4-byte offset, so a single stored weight row is found).
"""
import subprocess
import tempfile
from pathlib import Path

from hypothesis import given

import gen
from conftest import prop
from world import EML, windows


def split(model, d: Path):
    (d / "model.onnx").write_bytes(model.onnx_bytes)
    r = subprocess.run([EML, "model", "split", str(d / "model.onnx"), "--out", str(d / "m")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return (d / "m" / "weights.sealed").read_bytes(), (d / "m" / "model.topo").read_bytes()


@prop(1)
@given(model=gen.models(unsupported=False))
def test_property_1_decomposition_separation(model, counter):
    """Feature: ephemeral-inference, Property 1: Decomposition separation --
    the sealed blob holds no architecture and the topology key no weight
    values."""
    with tempfile.TemporaryDirectory(prefix="eml-p1.") as t:
        blob, topo = split(model, Path(t))
    counter(f"depth{len(model.layers)}")
    # The blob: no name, no operator, no plaintext weight, nothing of the key.
    for name in model.names:
        assert name.encode() not in blob, f"blob holds the name {name}"
    for ly in model.layers:
        assert ly.op.encode() not in blob, f"blob holds the operator {ly.op}"
    for w in windows(model.weight_bytes, 16, 4, limit=256, min_distinct=6):
        assert w not in blob, f"blob holds plaintext weights {w.hex()}"
    for w in windows(topo, 16, 16, limit=256, min_distinct=6):
        assert w not in blob, f"blob holds topology bytes {w.hex()}"
    # The key: no window of any weight tensor.
    for arr in model.weights:
        for w in windows(arr.tobytes(), 16, 4, limit=256, min_distinct=6):
            assert w not in topo, f"topology key holds weight bytes {w.hex()}"
