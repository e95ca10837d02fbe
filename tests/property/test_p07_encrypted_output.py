"""Feature: ephemeral-inference, Property 7: Encrypted output only -- every
result leaves the enclave sealed.

Each case: a generated model and input through the real system with a
recording relay between the proxy and the agent. Every frame the agent sent
must be of a type the protocol allows it (attestation, sealed response,
blob request, pong, error) and every result frame (INFER_RESPONSE) must
hold no window of the output; nothing the host holds (capture, logs, audit,
store, relayed frames, the proxy's memory) may hold the output, raw or as
hex.
"""
import numpy as np
import pytest
from hypothesis import given

import gen
import hostview
from conftest import prop
from world import World

AGENT_SENDS = {2, 4, 6, 8, 11, 12, 14, 16}


@pytest.fixture(scope="module")
def world():
    w = World("p7", relay_agent=True)
    yield w
    w.stop()


@prop(7)
@given(model=gen.models(unsupported=False, max_depth=3), xseed=gen.input_seeds,
       scale=gen.st.sampled_from((1.0, 10.0, 1e-3)))
def test_property_7_encrypted_output_only(world, model, xseed, scale, counter):
    """Feature: ephemeral-inference, Property 7: Encrypted output only --
    every result leaves the enclave sealed."""
    w = world
    mdir = w.split(model)
    x = model.input(xseed, scale)
    y = w.session_infer(mdir, x)
    np.testing.assert_allclose(y, model.reference(x), rtol=2e-4, atol=2e-5)
    secret = {"output": hostview.tensor_windows([y], 8)}
    if not secret["output"]:
        # Too small an output for a distinctive window: its raw bytes.
        secret["output"] = [y.tobytes()] if y.nbytes >= 12 else []
    counter("output windows" if secret["output"] else "tiny output")
    types = set()
    for c in w.agent_relay.conns:
        for f in c.frames["down"]:
            types.add(hostview.frame_type(f))
    assert types <= AGENT_SENDS, f"the agent sent frame types {sorted(types - AGENT_SENDS)}"
    hit = hostview.find(hostview.view(w), secret)
    assert hit is None, f"the host holds {hit}"
