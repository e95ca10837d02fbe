"""Feature: ephemeral-inference, Property 11: Secure failure -- every error
(attestation, allocation, validation, transport) ends cleanly with
boundaries intact and everything wiped.

Each case: a failing request of a drawn kind through the real system
(validation: wrong input shape, dtype or name; allocation: an input above
the agent's max_input_bytes; host: another model's blob or none; transport:
the connection cut before the request reaches the agent or before the
answer returns; attestation: a policy the document does not meet). The
client must get the typed error of that kind (never an answer, never a
crash), the agent and the proxy must stay up and serve the next request
correctly on a new connection, nothing the host holds may hold the input
or the topology, and the agent's memory after the session must hold none of
the request's secrets.
"""
import json

import numpy as np
import pytest
from hypothesis import given, strategies as st

import failures
import gen
import hostview
import memscan
from conftest import prop
from world import World, errors

KINDS = failures.KINDS + ("too_big",)
# The error class each kind must raise.
EXPECT = {
    "bad_shape": errors.InferenceError, "bad_dtype": errors.InferenceError,
    "bad_name": errors.InferenceError, "other_blob": errors.EmlError,
    "missing_blob": errors.EmlError, "cut_response": errors.EmlIOError,
    "cut_request": errors.EmlIOError, "bad_policy": errors.PcrMismatchError,
    "too_big": errors.EmlError,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    pol = tmp_path_factory.mktemp("p11") / "agent-policy.json"
    pol.write_text(json.dumps({"version": 1, "models": [], "assembly": "request",
                               "limits": {"max_input_bytes": 4096}}))
    w = World("p11", relay_client=True, agent_args=["--policy", str(pol)])
    w.digest = w.run([w_agent(), "--policy-digest", "--policy", str(pol)]).strip()
    w.write_policy(w.policy)
    yield w
    w.stop()


def w_agent():
    from world import AGENT
    return AGENT


@prop(11)
@given(model=gen.models(unsupported=False, max_depth=3), other=gen.models(unsupported=False,
       max_depth=1), xseed=gen.input_seeds, kind=st.integers(0, len(KINDS) - 1))
def test_property_11_secure_failure(world, model, other, xseed, kind, counter):
    """Feature: ephemeral-inference, Property 11: Secure failure -- every
    error ends cleanly with boundaries intact and everything wiped."""
    w = world
    kind = KINDS[kind]
    mdir, odir = w.split(model), w.split(other)
    x = model.input(xseed)
    if kind == "too_big":
        big = np.repeat(x, 2048 // x.size + 1, axis=0)
        err = failures.provoke(w, "bad_shape", mdir, big, odir)
    else:
        err = failures.provoke(w, kind, mdir, x, odir)
    counter(kind)
    assert err is not None, f"{kind}: answered"
    assert isinstance(err, EXPECT[kind]), f"{kind}: {type(err).__name__} {err}"
    assert w.alive("agent") and w.alive("proxy"), f"{kind}: a process died"
    w.settle()
    y = w.infer(mdir, x)
    np.testing.assert_allclose(y, model.reference(x), rtol=2e-4, atol=2e-5)
    found = memscan.secrets(model, mdir, [x])
    host = {"input": found["tensor0"], "topology": found["topology"]}
    hit = hostview.find(hostview.view(w, memory=False), host)
    assert hit is None, f"{kind}: the host holds {hit}"
    w.settle()
    hit = memscan.search_settled(w.agent_pid, found)
    assert hit is None, f"{kind}: the agent's memory holds {hit}"
