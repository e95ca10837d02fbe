"""Operator controls from Python: API key and TLS to the proxy (issue 13's
libeml calls), through a real eml-proxy started with --api-keys and
--tls-cert."""
import os

import numpy as np
import pytest

import ephemeralml as eml
from conftest import demo_input, local_run


@pytest.fixture(scope="module")
def op():
    for k in ("EML_PY_OP_PROXY", "EML_PY_OP_KEY", "EML_PY_OP_CA"):
        if not os.environ.get(k):
            pytest.skip(f"{k} not set (run through tests/integration/python.sh)")
    return os.environ["EML_PY_OP_PROXY"], os.environ["EML_PY_OP_KEY"], os.environ["EML_PY_OP_CA"]


def test_key_and_tls(world, op):
    proxy, key, ca = op
    assert key.startswith("emlk1.")
    x = demo_input(41)
    with eml.Client(proxy=proxy, policy=world["policy"], model=world["model"], api_key=key,
                    tls_ca=ca) as c:
        got = c.infer({"x": x})
    want = local_run(world, x, "op-ref")
    for k in want:
        assert np.array_equal(got[k], want[k])


def test_refused_without_key_or_with_a_wrong_one(world, op, monkeypatch):
    proxy, key, ca = op
    monkeypatch.delenv("EML_API_KEY", raising=False)
    with pytest.raises(eml.EmlError):
        eml.Client(proxy=proxy, policy=world["policy"], tls_ca=ca)
    bad = key[:-4] + ("0000" if not key.endswith("0000") else "1111")
    with pytest.raises(eml.EmlError):
        eml.Client(proxy=proxy, policy=world["policy"], api_key=bad, tls_ca=ca)


def test_tls_refuses_a_certificate_for_another_name(world, op):
    proxy, key, ca = op
    with pytest.raises(eml.EmlError):
        eml.Client(proxy=proxy, policy=world["policy"], api_key=key, tls_ca=ca,
                   tls_name="other.example")
