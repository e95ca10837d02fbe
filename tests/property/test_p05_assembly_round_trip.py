"""Feature: ephemeral-inference, Property 5: Ephemeral assembly round trip --
assembling then destroying leaves no recoverable model bytes in memory.

Each case: a generated model, split, its blob in the proxy's store; one
request through the real system in a fresh session (the agent assembles the
model for the request and destroys it after: policy assembly "request").
Then the live agent's whole memory is read through /proc/PID/mem (every
readable mapping but the program's and libraries' read-only ones) and
searched for 32-byte windows of the plaintext weights, the topology key, the
input and the output, with the session still open (after it closes is
property 10's check).
"""
import numpy as np
import pytest
from hypothesis import given

import gen
import memscan
from conftest import prop
from world import World


@pytest.fixture(scope="module")
def world():
    w = World("p5")
    yield w
    w.stop()


@prop(5)
@given(model=gen.models(unsupported=False, max_depth=4, max_width=32, min_width=8),
       xseed=gen.input_seeds)
def test_property_5_ephemeral_assembly_round_trip(world, model, xseed, counter):
    """Feature: ephemeral-inference, Property 5: Ephemeral assembly round trip
    -- assembling then destroying leaves no recoverable model bytes in
    memory."""
    w = world
    mdir = w.split(model)
    x = model.input(xseed)
    # The module's session stays open: the agent destroyed this request's
    # assembly before it read the next frame.
    y = w.session_infer(mdir, x)
    np.testing.assert_allclose(y, model.reference(x), rtol=2e-4, atol=2e-5)
    found = memscan.secrets(model, mdir, [x, y])
    assert memscan.checkable(found) > 0
    counter("session open")
    hit = memscan.search_settled(w.agent_pid, found)
    assert hit is None, f"agent memory after the request (session open) holds {hit}"
    assert w.alive("agent")
