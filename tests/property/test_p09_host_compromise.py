"""Feature: ephemeral-inference, Property 9: Host compromise resilience --
whatever the host holds, it holds no model, key or plaintext.

Each case: a generated model and input, and a hostile host: on the client
leg or the proxy-agent leg the relay drops, delays, reorders, replays,
flips a byte of, truncates or cuts one frame, or the store serves another
model's sealed blob under this one's content id. The request must either
answer correctly or fail with a typed error (never a wrong answer), the
proxy must stay up, and afterwards nothing the host holds (store, capture,
audit log, logs, every relayed frame, the proxy's live memory) may hold a
window of the plaintext weights, the topology key, the input or the
output, raw or as hex.
"""
import hashlib

import numpy as np
import pytest
from hypothesis import given, strategies as st

import gen
import hostview
import memscan
from conftest import prop
from world import World, errors


@pytest.fixture(scope="module")
def world():
    w = World("p9", relay_client=True, relay_agent=True)
    w.other = w.split(gen.build([gen.Layer("dense", "MatMul", width=8)], 1, 8, 99, "normal"))
    yield w
    w.stop()


@prop(9)
@given(model=gen.models(unsupported=False, max_depth=3), xseed=gen.input_seeds,
       host=gen.host_behaviours(), leg=st.sampled_from(("client", "agent")))
def test_property_9_host_compromise_resilience(world, model, xseed, host, leg, counter):
    """Feature: ephemeral-inference, Property 9: Host compromise resilience --
    whatever the host holds, it holds no model, key or plaintext."""
    w = world
    mdir = w.split(model)
    x = model.input(xseed)
    act = host["action"]
    store_file = w.dir / "store" / hashlib.sha256((mdir / "weights.sealed").read_bytes()).hexdigest()
    saved = None
    if act == "other_blob":
        saved = store_file.read_bytes()
        store_file.write_bytes((w.other / "weights.sealed").read_bytes())
    elif act != "pass":
        (w.client_relay if leg == "client" else w.agent_relay).behaviour = dict(host)
    y = None
    try:
        y = w.infer(mdir, x, timeout_ms=1000)
        outcome = "answered"
    except errors.EmlError as e:
        outcome = f"error {e.category}"
    finally:
        w.client_relay.behaviour = w.agent_relay.behaviour = None
        if saved is not None:
            store_file.write_bytes(saved)
    counter(f"{act} {outcome}")
    if y is not None:
        np.testing.assert_allclose(y, model.reference(x), rtol=2e-4, atol=2e-5,
                                   err_msg=f"{act}: a wrong answer")
    else:
        y = model.reference(x)
    assert w.alive("proxy")
    found = memscan.secrets(model, mdir, [x, y])
    hit = hostview.find(hostview.view(w), found)
    assert hit is None, f"after {act} on the {leg} leg the host holds {hit}"
