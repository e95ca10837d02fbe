"""Feature: ephemeral-inference, Property 4: Binding to enclave identity --
what the client encrypts opens only in an enclave whose attested identity
(and key) matches.

Each case: a generated model and input, and a host that routes the client
(through the relay it controls) to one of: the genuine enclave; an
impostor enclave on other hardware (another simulator CA, so another
root); an impostor image on the same hardware (same CA, other PCRs); or the
genuine enclave with the client's sealed request replaced by one recorded
from an earlier session (another session key). Only the genuine route may
answer, and correctly. To an impostor the client must send no sealed frame
at all (the relay sees only the hello); a request sealed for another
session must not open (a crypto error, no answer).
"""
import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

import gen
import hostview
from conftest import prop
from world import World, errors

ROUTES = ("genuine", "other_root", "other_pcrs", "replayed_request")


@pytest.fixture(scope="module")
def worlds():
    g = World("p4", relay_client=True)
    other_root = World("p4root")
    pcrs = g.dir / "other-pcrs.json"
    pcrs.write_text(json.dumps({f"PCR{i}": f"{i + 1:02x}" * 48 for i in range(3)}))
    other_pcrs = World("p4pcr", sim_from=g.dir / "sim", agent_args=["--sim-pcrs", str(pcrs)])
    g.routes = {"other_root": other_root, "other_pcrs": other_pcrs}
    m = gen.build([gen.Layer("dense", "MatMul", width=8, bias=True)], 1, 8, 5, "normal")
    g.first = g.split(m)
    g.infer(g.first, m.input(2))
    conn = g.client_relay.conns[-1]
    g.recorded = [f for f in conn.frames["up"] if hostview.frame_type(f) == 3][0]
    yield g
    for w in (g, other_root, other_pcrs):
        w.stop()


@prop(4)
@given(model=gen.models(unsupported=False, max_depth=3), xseed=gen.input_seeds,
       route=st.integers(0, len(ROUTES) - 1))
def test_property_4_binding_to_enclave_identity(worlds, model, xseed, route, counter):
    """Feature: ephemeral-inference, Property 4: Binding to enclave identity --
    what the client encrypts opens only in an enclave whose attested
    identity (and key) matches."""
    g = worlds
    kind = ROUTES[route]
    mdir = g.split(model)
    x = model.input(xseed)
    target = g.client_relay.target
    if kind in g.routes:
        imp = g.routes[kind]
        # The impostor's host holds this model's sealed blob too: only
        # attestation stands between the client's key and the impostor.
        blob = (mdir / "weights.sealed").read_bytes()
        (imp.dir / "store" / hashlib.sha256(blob).hexdigest()).write_bytes(blob)
        g.client_relay.target = f"tcp:{imp.addr}"
    elif kind == "replayed_request":
        g.client_relay.behaviour = {"action": "substitute", "direction": "up", "frame": 1,
                                    "data": g.recorded}
    try:
        for attempt in range(3):
            g.client_relay.reset()
            try:
                y = g.infer(mdir, x, timeout_ms=3000)
                outcome = "answered"
            except errors.EmlIOError as e:
                # A connection cut short (seen about once in a few hundred
                # cases when other modules ran before in the same process;
                # the agent answered and the proxy forwarded, the client saw
                # EOF: suspected in the test relay, not yet explained) says
                # nothing about binding: try again, up to three times.
                y, outcome = None, e
                continue
            except errors.EmlError as e:
                y, outcome = None, e
            break
    finally:
        g.client_relay.target = target
        g.client_relay.behaviour = None
    counter(kind)
    if kind == "genuine":
        assert y is not None, f"genuine enclave refused: {outcome} {g.client_relay.errors[-3:]}"
        np.testing.assert_allclose(y, model.reference(x), rtol=2e-4, atol=2e-5)
        return
    assert y is None, f"{kind}: the request was answered"
    sent = [hostview.frame_type(f) for c in g.client_relay.conns for f in c.frames["up"]]
    if kind in g.routes:
        assert isinstance(outcome, errors.AttestationError), \
            f"{outcome} {[len(c.frames['down']) for c in g.client_relay.conns]}"
        assert sent == [1], f"{kind}: the client sent frame types {sent} to an impostor"
    else:
        assert isinstance(outcome, errors.EmlError), str(outcome)
