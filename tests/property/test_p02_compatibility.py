"""Feature: ephemeral-inference, Property 2: Compatibility -- a model is
accepted for split if and only if every operator is supported, and then it
runs.

Each case: a generated model that may contain unsupported operators (real
ONNX ones the engine lacks, and one that is not ONNX). `eml model split`
must exit 0 exactly when every operator is supported; a refusal must exit 1
and name every unsupported node. An accepted model is then run through the
real system (eml-proxy + eml-agent, sim attestation, one session for the
module) and its output compared with a numpy evaluation of the same graph.
"""
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given

import gen
from conftest import prop
from world import EML, World


@pytest.fixture(scope="module")
def world():
    w = World("p2")
    yield w
    w.stop()


@prop(2)
@given(model=gen.models(unsupported=None, max_depth=4), xseed=gen.input_seeds)
def test_property_2_compatibility(world, model, xseed, counter):
    """Feature: ephemeral-inference, Property 2: Compatibility -- accepted for
    split if and only if every operator is supported (and then it runs)."""
    with tempfile.TemporaryDirectory(prefix="eml-p2.") as t:
        d = Path(t)
        (d / "model.onnx").write_bytes(model.onnx_bytes)
        r = subprocess.run([EML, "model", "split", str(d / "model.onnx"), "--out",
                            str(d / "m")], capture_output=True, text=True)
    if not model.supported:
        counter("unsupported")
        assert r.returncode == 1, f"unsupported model accepted (exit {r.returncode})"
        assert "EML_ERR_SPLIT_UNSUPPORTED" in r.stderr, r.stderr
        for ly in model.layers:
            if ly.kind == "unsupported":
                assert f"{ly.node} ({ly.op})" in r.stderr, \
                    f"refusal does not name {ly.node} ({ly.op}): {r.stderr}"
        return
    counter("supported")
    assert r.returncode == 0, f"supported model refused: {r.stderr}"
    mdir = world.split(model)
    x = model.input(xseed)
    y = world.session_infer(mdir, x)
    ref = model.reference(x)
    assert y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=2e-4, atol=2e-5)
