"""Feature: ephemeral-inference, Property 3: Attestation integrity -- a
channel is established if and only if the document is valid, the PCRs
match, and the chain reaches the trust root.

Each case draws a scenario. Through the real system (libeml client ->
hostile relay -> eml-proxy -> eml-agent with sim attestation): valid; a
policy with one PCR bit flipped; a policy naming another simulator CA as
root; a policy expecting another policy digest (user_data); the attestation
frame with a byte flipped, cut short, or replaced by one recorded from an
earlier session (another nonce and key). Through `eml attest verify` on a
fresh simulator document: checked at an instant after its maximum age
(expired) or before it was made (future). "Established" means an
inference answers; it must happen exactly in the valid scenario, and the
refusals must be the attestation errors they are about.
"""
import subprocess
import time

import numpy as np
import pytest
from hypothesis import example, given

import gen
from conftest import prop
from world import EML, Client, World, errors, sim_pcr

PROTO_CATS = (100, 200, 300, 400)


@pytest.fixture(scope="module")
def world():
    w = World("p3", relay_client=True)
    w.run([EML, "attest", "sim-init", str(w.dir / "other")])
    w.model = gen.build([gen.Layer("dense", "MatMul", width=8, bias=True)], 1, 8, 3, "normal")
    w.mdir = w.split(w.model)
    w.x = w.model.input(1)
    w.infer(w.mdir, w.x)
    w.recorded = w.client_relay.conns[-1].frames["down"][0]
    yield w
    w.stop()


def doc_verify(w, kind, age):
    doc = w.dir / "doc.cbor"
    w.run([EML, "attest", "sim-doc", str(w.dir / "sim"), "--nonce", "00" * 32, "--out", str(doc)])
    now = time.time()
    at = now + 300 + age if kind == "expired" else now - age
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
    r = subprocess.run([EML, "attest", "verify", str(doc), "--root", str(w.dir / "sim" / "root.pem"),
                        "--at", stamp, "--max-age", "300", "--nonce", "00" * 32],
                       capture_output=True, text=True)
    return r


def _ex(kind):
    return example(sc={"kind": kind, "pcr": 1, "bit": 7, "offset": 0.5, "xor": 1, "age": 301})


@prop(3)
@given(sc=gen.attest_scenarios())
@_ex("valid")
@_ex("expired")
@_ex("future")
@_ex("wrong_pcr")
@_ex("wrong_root")
@_ex("tampered")
@_ex("wrong_nonce")
@_ex("wrong_user_data")
@_ex("truncated")
def test_property_3_attestation_integrity(world, sc, counter):
    """Feature: ephemeral-inference, Property 3: Attestation integrity -- a
    channel is established if and only if the document is valid, the PCRs
    match, and the chain reaches the trust root."""
    w, kind = world, sc["kind"]
    counter(kind)
    if kind in ("expired", "future"):
        r = doc_verify(w, kind, sc["age"])
        assert r.returncode == 1, f"{kind} document: exit {r.returncode} {r.stderr}"
        assert "EML_ERR_ATTEST" in r.stderr, r.stderr
        return
    policy = w.policy
    pcrs = {i: sim_pcr(i) for i in range(3)}
    if kind == "wrong_pcr":
        v = bytearray(bytes.fromhex(pcrs[sc["pcr"]]))
        v[sc["bit"] // 8] ^= 1 << (sc["bit"] % 8)
        pcrs[sc["pcr"]] = v.hex()
        policy = w.write_policy(w.dir / "p.json", pcrs=pcrs)
    elif kind == "wrong_root":
        policy = w.write_policy(w.dir / "p.json", root=str(w.dir / "other" / "root.pem"))
    elif kind == "wrong_user_data":
        policy = w.write_policy(w.dir / "p.json", digest=bytes(
            b ^ (sc["xor"] if i == sc["pcr"] else 0)
            for i, b in enumerate(bytes.fromhex(w.digest))).hex())
    elif kind == "tampered":
        w.client_relay.behaviour = {"action": "flip", "direction": "down", "frame": 0,
                                    "offset": sc["offset"], "xor": sc["xor"]}
    elif kind == "truncated":
        w.client_relay.behaviour = {"action": "truncate", "direction": "down", "frame": 0,
                                    "offset": sc["offset"] * 0.99}
    elif kind == "wrong_nonce":
        w.client_relay.behaviour = {"action": "substitute", "direction": "down", "frame": 0,
                                    "data": w.recorded}
    try:
        y = w.infer(w.mdir, w.x, policy=policy, timeout_ms=5000)
    except errors.EmlError as e:
        assert kind != "valid", f"valid attestation refused: {e}"
        if kind in ("wrong_pcr",):
            assert isinstance(e, errors.PcrMismatchError), str(e)
        elif kind in ("wrong_root", "wrong_user_data", "wrong_nonce"):
            assert isinstance(e, errors.AttestationError), str(e)
        else:
            assert e.category in PROTO_CATS, str(e)
        return
    finally:
        w.client_relay.behaviour = None
    assert kind == "valid", f"{kind}: the channel was established and answered"
    np.testing.assert_allclose(y, w.model.reference(w.x), rtol=2e-4, atol=2e-5)
