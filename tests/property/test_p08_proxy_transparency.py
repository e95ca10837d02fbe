"""Feature: ephemeral-inference, Property 8: Proxy transparency -- the proxy
forwards sealed payloads without modification or storage.

Each case: a session of 1-3 requests on generated models and inputs through
the real eml-proxy, with a recording relay on each side of it (client ->
relay -> proxy -> relay -> agent). Every frame the client sent must reach
the agent byte for byte and in order, and every frame the agent sent for
the client must reach the client the same way (the host-served blob
requests and answers, which carry no secret, are the proxy's own traffic
and are left out). The proxy's working directory and its weight store hold
nothing but the blobs put there.
"""
import os

import numpy as np
import pytest
from hypothesis import given, strategies as st

import gen
import hostview
from conftest import prop
from world import Client, World, errors, wait_for

HOST_SERVED = {8, 9, 10, 11}  # blob request/response, ping/pong


@pytest.fixture(scope="module")
def world():
    w = World("p8", relay_client=True, relay_agent=True)
    yield w
    w.stop()


def listing(w):
    out = set()
    for sub in ("store", "work"):
        for root, _, files in os.walk(w.dir / sub):
            for f in files:
                out.add(os.path.join(root, f))
    return out


@prop(8)
@given(ms=st.lists(gen.models(unsupported=False, max_depth=3), min_size=1, max_size=3),
       xseed=gen.input_seeds)
def test_property_8_proxy_transparency(world, ms, xseed, counter):
    """Feature: ephemeral-inference, Property 8: Proxy transparency -- the
    proxy forwards sealed payloads without modification or storage."""
    w = world
    dirs = [w.split(m) for m in ms]
    before = listing(w)
    for attempt in range(3):
        w.client_relay.reset()
        w.agent_relay.reset()
        try:
            with Client(w.addr, str(w.policy)) as c:
                for m, d in zip(ms, dirs):
                    x = m.input(xseed)
                    y = c.infer({"x": x}, model=str(d))["y"]
                    np.testing.assert_allclose(y, m.reference(x), rtol=2e-4, atol=2e-5)
            break
        except errors.EmlError as e:
            # A session cut short (EOF, agent lost): seen rarely on this
            # shared machine with the test relays in the loop, not yet
            # explained; it is not a changed frame. Try again (twice).
            if e.code not in (101, 751) or attempt == 2:
                raise
            counter("retried")
            counter.n -= 1
    counter(f"{len(ms)} requests")
    cc = w.client_relay.conns[0]
    assert wait_for(cc.done.is_set, 5)
    hello = cc.frames["up"][0]
    peers = [a for a in w.agent_relay.conns if a.frames["up"][:1] == [hello]]
    assert len(peers) == 1, f"{len(peers)} agent connections carry the client's hello"
    ac = peers[0]
    assert wait_for(ac.done.is_set, 5)
    up = [f for f in ac.frames["up"] if hostview.frame_type(f) not in HOST_SERVED]
    down = [f for f in ac.frames["down"] if hostview.frame_type(f) not in HOST_SERVED]
    assert up == cc.frames["up"], "frames from the client reached the agent changed"
    assert down == cc.frames["down"], "frames from the agent reached the client changed"
    after = listing(w)
    assert after == before, f"the proxy stored {sorted(after - before)}"
