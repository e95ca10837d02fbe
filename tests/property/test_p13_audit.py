"""Feature: ephemeral-inference, Property 13: Audit -- every
security-relevant event has a tamper-evident record with a timestamp and no
sensitive data.

Each case: a drawn sequence of 1-4 events through the real eml-proxy
(a served request; an agent refusal; an attestation the client refuses;
the host cutting the connection; another blob served), each on its own
connection. The audit log must gain one "conn" record per connection and
one "request" record per request the proxy relayed, each with a parseable
timestamp, consecutive sequence numbers and the previous line's hash; it
must hold no name, weight, topology or input window; `eml-proxy audit
verify --head` (the head the proxy reports on /status) must pass; and a
drawn tampering of a copy (a byte changed, a line deleted, two lines
swapped, a line repeated, the tail cut) must make it fail.
"""
import json
import shutil
import subprocess
import time
import urllib.request
from datetime import datetime

import pytest
from hypothesis import given, strategies as st

import failures
import gen
import hostview
import memscan
from conftest import prop
from world import PROXY, World, wait_for

EVENTS = ("ok", "bad_shape", "bad_policy", "cut_response", "other_blob")
TAMPER = ("edit", "delete", "swap", "repeat", "cut")


@pytest.fixture(scope="module")
def world():
    w = World("p13", relay_client=True, admin=True)
    yield w
    w.stop()


def lines(w):
    return [json.loads(s) for s in (w.dir / "audit.log").read_text().splitlines() if s]


def head(w):
    st_ = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{w.admin_port}/status",
                                            timeout=5).read())
    return st_["audit"]["head"]


def verify(path, hd):
    return subprocess.run([PROXY, "audit", "verify", str(path), "--head", hd],
                          capture_output=True, text=True)


@prop(13)
@given(model=gen.models(unsupported=False, max_depth=2), xseed=gen.input_seeds,
       events=st.lists(st.integers(0, len(EVENTS) - 1), min_size=1, max_size=4),
       tamper=st.integers(0, len(TAMPER) - 1), where=st.floats(0.0, 1.0),
       xor=st.integers(1, 255))
def test_property_13_audit(world, model, xseed, events, tamper, where, xor, counter):
    """Feature: ephemeral-inference, Property 13: Audit -- every
    security-relevant event has a tamper-evident record with a timestamp and
    no sensitive data."""
    w = world
    mdir = w.split(model)
    other = w.split(gen.build([gen.Layer("dense", "MatMul", width=4)], 1, 4, 11, "normal"))
    x = model.input(xseed)
    before = lines(w)
    n0 = sum(1 for r in before if r.get("kind") == "conn")
    for e in events:
        ev = EVENTS[e]
        if ev == "ok":
            w.infer(mdir, x)
        else:
            assert failures.provoke(w, ev, mdir, x, other) is not None, ev
    # Connection records are written when the proxy has closed both sides.
    want = n0 + len(events)
    assert wait_for(lambda: sum(1 for r in lines(w) if r.get("kind") == "conn") >= want, 5), \
        f"{want - n0} connections, {sum(1 for r in lines(w) if r.get('kind') == 'conn') - n0} conn records"
    counter(f"{len(events)} events, {TAMPER[tamper]}")
    recs = lines(w)
    for i, r in enumerate(recs):
        assert r["seq"] == i + 1 and len(r["prev"]) == 64, r
        datetime.strptime(r["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    new = recs[len(before):]
    reqs = [r for r in new if r["kind"] == "request"]
    assert len(reqs) >= len(events), f"{len(events)} connections, {len(reqs)} request records"
    found = memscan.secrets(model, mdir, [x])
    text = (w.dir / "audit.log").read_bytes()
    hit = hostview.find([text], {"weights": found["weights"], "topology": found["topology"],
                                 "input": found["tensor0"]}, model.names)
    assert hit is None, f"the audit log holds {hit}"
    hd = head(w)
    r = verify(w.dir / "audit.log", hd)
    assert r.returncode == 0, f"audit verify of the real log: {r.stdout}{r.stderr}"
    # Tamper with a copy.
    copy = w.dir / "work" / "audit-copy.log"
    raw = (w.dir / "audit.log").read_bytes().splitlines(keepends=True)
    k = min(len(raw) - 1, int(where * len(raw)))
    t = TAMPER[tamper]
    if t == "edit":
        ln = bytearray(raw[k])
        j = min(len(ln) - 2, int(where * (len(ln) - 1)))
        ln[j] ^= xor
        raw[k] = bytes(ln)
    elif t == "delete":
        del raw[k]
    elif t == "swap":
        k = min(k, len(raw) - 2)
        raw[k], raw[k + 1] = raw[k + 1], raw[k]
    elif t == "repeat":
        raw.insert(k, raw[k])
    else:
        raw = raw[:k]
    copy.write_bytes(b"".join(raw))
    r = verify(copy, hd)
    copy.unlink()
    assert r.returncode != 0, f"audit verify passed a log with a {t} at line {k + 1}"
