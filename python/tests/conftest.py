"""Fixtures for the ephemeralml tests.

tests/integration/python.sh starts a real eml-agent (sim) and eml-proxy and
passes their world through the environment; the unit-level tests (errors,
verify_attestation) need only libeml and testdata/.
"""
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(name):
    v = os.environ.get(name)
    if not v:
        pytest.skip(f"{name} not set (run through tests/integration/python.sh)")
    return v


@pytest.fixture(scope="session")
def world():
    """proxy address, policies, model dir, original ONNX model, eml binary, scratch dir."""
    return {
        "proxy": _env("EML_PY_PROXY"),
        "policy": _env("EML_PY_POLICY"),
        "bad_pcr": _env("EML_PY_BAD_PCR"),
        "bad_digest": _env("EML_PY_BAD_DIGEST"),
        "model": _env("EML_PY_MODEL"),
        "onnx": _env("EML_PY_ONNX"),
        "eml": _env("EML_PY_EML"),
        "scratch": Path(_env("EML_PY_SCRATCH")),
        "jobs": _env("EML_PY_JOBS"),
    }


@pytest.fixture(scope="session")
def testdata():
    return Path(os.environ.get("EML_TESTDATA", REPO / "testdata"))


def local_run(world, x, tag):
    """`eml run --local` on the original ONNX model: the reference outputs."""
    from onnx import TensorProto, numpy_helper

    d = world["scratch"] / tag
    d.mkdir(parents=True, exist_ok=True)
    inp = d / "x.pb"
    inp.write_bytes(numpy_helper.from_array(x, name="x").SerializeToString())
    subprocess.run([world["eml"], "run", "--local", world["onnx"], "--input", str(inp),
                    "--output-dir", str(d / "out")], check=True, capture_output=True)
    outs = {}
    for f in sorted((d / "out").glob("*.pb")):
        t = TensorProto()
        t.ParseFromString(f.read_bytes())
        outs[t.name] = numpy_helper.to_array(t)
    assert outs, "eml run --local wrote no outputs"
    return outs


def demo_input(seed, n=1):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 3, 48, 192), dtype=np.float32) * 2.0 - 1.0).astype(np.float32)
