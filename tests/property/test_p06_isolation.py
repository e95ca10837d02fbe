"""Feature: ephemeral-inference, Property 6: Inference isolation -- no
intermediate result, structure or input reaches the host.

Each case: a generated model and input through the real system (relays on
both legs record every frame). Afterwards everything the host holds (store,
capture, audit log, the proxy's and the agent's logs, every relayed frame,
the proxy's live memory) is searched for windows of the input and of the
intermediate results (those the numpy oracle computes bit-exactly: the
chain up to the first layer whose rounding may differ), raw and as hex, and
for every node, tensor and graph name of the model (its structure).
"""
import numpy as np
import pytest
from hypothesis import given

import gen
import hostview
from conftest import prop
from world import World

EXACT = ("unary", "scale", "shift")


@pytest.fixture(scope="module")
def world():
    w = World("p6", relay_client=True, relay_agent=True)
    yield w
    w.stop()


@prop(6)
@given(model=gen.models(unsupported=False, max_depth=4), xseed=gen.input_seeds)
def test_property_6_inference_isolation(world, model, xseed, counter):
    """Feature: ephemeral-inference, Property 6: Inference isolation -- no
    intermediate result, structure or input reaches the host."""
    w = world
    mdir = w.split(model)
    x = model.input(xseed)
    y = w.session_infer(mdir, x)
    np.testing.assert_allclose(y, model.reference(x), rtol=2e-4, atol=2e-5)
    inter = []
    for ly, h in zip(model.layers[:-1], model.intermediates(x)):
        if ly.kind not in EXACT or (ly.kind == "unary" and ly.op not in ("Relu", "LeakyRelu")):
            break
        inter.append(h)
    counter(f"{len(inter)} exact intermediates")
    secret = {"input": hostview.tensor_windows([x]),
              "intermediate": hostview.tensor_windows(inter)}
    hit = hostview.find(hostview.view(w), secret, model.names)
    assert hit is None, f"the host holds {hit}"
