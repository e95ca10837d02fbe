"""Feature: ephemeral-inference, Property 12: Diagnostics -- no log line,
error message or status field reveals structure, weights, topology or
input.

Each case: a generated model (every node, tensor, initializer and graph
name a distinctive random string) and a request that succeeds or fails in a
drawn way, through the real system with the agent logging at debug level.
Then the agent's and the proxy's logs, the audit log, the admin endpoint's
/status and /metrics, and the error message the client got are searched
for every name of the model, for the operator names, and for windows of
the weights, the topology key and the input (raw and as hex).
"""
import urllib.request

import pytest
from hypothesis import given, strategies as st

import failures
import gen
import hostview
import memscan
from conftest import prop
from world import World, errors

KINDS = ("ok",) + failures.KINDS


@pytest.fixture(scope="module")
def world():
    w = World("p12", relay_client=True, admin=True, agent_env={"EML_LOG_LEVEL": "debug"})
    yield w
    w.stop()


def admin(w, path):
    return urllib.request.urlopen(f"http://127.0.0.1:{w.admin_port}{path}", timeout=5).read()


@prop(12)
@given(model=gen.models(unsupported=False, max_depth=4), other=gen.models(unsupported=False,
       max_depth=1), xseed=gen.input_seeds, kind=st.integers(0, len(KINDS) - 1))
def test_property_12_diagnostics(world, model, other, xseed, kind, counter):
    """Feature: ephemeral-inference, Property 12: Diagnostics -- no log line,
    error message or status field reveals structure, weights, topology or
    input."""
    w = world
    kind = KINDS[kind]
    mdir, odir = w.split(model), w.split(other)
    x = model.input(xseed)
    said = []
    if kind == "ok":
        for attempt in range(3):
            try:
                w.infer(mdir, x)
                break
            except errors.EmlError as e:
                # A connection cut short (EOF, agent lost) with the test
                # relay in the loop: seen rarely, not yet explained (as in 4
                # and 8); retry, twice at most.
                if e.code not in (101, 751) or attempt == 2:
                    raise
    else:
        err = failures.provoke(w, kind, mdir, x, odir)
        assert err is not None, f"{kind}: answered"
        said.append(str(err).encode())
    counter(kind)
    texts = [w.log("agent").encode(), w.log("proxy").encode(),
             (w.dir / "audit.log").read_bytes(), admin(w, "/status"), admin(w, "/metrics")]
    found = memscan.secrets(model, mdir, [x])
    secret = {"weights": found["weights"], "topology": found["topology"],
              "input": found["tensor0"]}
    names = model.names + other.names
    ops = sorted({ly.op for ly in model.layers} - {"Add", "Mul"})
    hit = hostview.find(texts + said, secret, names + [f'"{o}"' for o in ops])
    assert hit is None, f"{kind}: a log, status field or error message holds {hit}"
