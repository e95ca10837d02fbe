"""The demo model through the real eml-proxy and eml-agent, from Python."""
import json

import numpy as np
import pytest

import ephemeralml as eml
from conftest import demo_input, local_run


def test_infer_equals_eml_run_local(world):
    with eml.Client(proxy=world["proxy"], policy=world["policy"], model=world["model"]) as c:
        for seed, n in ((1, 1), (2, 3)):
            x = demo_input(seed, n)
            got = c.infer({"x": x})
            want = local_run(world, x, f"ref{seed}")
            assert set(got) == set(want)
            for k in want:
                assert got[k].dtype == want[k].dtype
                assert got[k].shape == want[k].shape
                assert np.array_equal(got[k], want[k]), k


def test_layouts_are_normalised_without_changing_values(world):
    """A non-contiguous view and a big-endian array give the answer of the
    plain array: libeml gets little-endian row-major bytes either way."""
    x = demo_input(7, 2)
    wide = np.zeros((2, 3, 48, 384), np.float32)
    wide[..., ::2] = x
    view = wide[..., ::2]
    assert not view.flags["C_CONTIGUOUS"]
    with eml.Client(proxy=world["proxy"], policy=world["policy"], model=world["model"]) as c:
        plain = c.infer({"x": x})
        strided = c.infer({"x": view})
        big = c.infer({"x": x.astype(">f4")})
    for k in plain:
        assert np.array_equal(plain[k], strided[k])
        assert np.array_equal(plain[k], big[k])


def test_attestation_dict_matches_the_policy(world):
    pol = json.load(open(world["policy"]))
    with eml.Client(proxy=world["proxy"], policy=world["policy"]) as c:
        a = c.attestation
    assert a["producer"] == "sim"
    assert a["pcrs"] == {int(k): v for k, v in pol["pcrs"].items()}
    assert a["policy_digest"] == pol["policy_digest"]
    assert len(a["session_id"]) == 32 and a["session_id"] != "0" * 32
    assert a["module_id"]
    assert a["timestamp_ms"] > 1_600_000_000_000


def test_pcr_mismatch_raises(world):
    with pytest.raises(eml.PcrMismatchError) as ei:
        eml.Client(proxy=world["proxy"], policy=world["bad_pcr"], model=world["model"])
    e = ei.value
    assert isinstance(e, eml.AttestationError)
    assert e.code == 331 and e.name == "EML_ERR_ATTEST_PCR_MISMATCH"
    assert e.category == 300


def test_policy_digest_mismatch_raises(world):
    with pytest.raises(eml.AttestationError) as ei:
        eml.Client(proxy=world["proxy"], policy=world["bad_digest"])
    assert not isinstance(ei.value, eml.PcrMismatchError)
    assert ei.value.name == "EML_ERR_ATTEST_USER_DATA"


def test_refusals_leave_the_session_usable(world):
    with eml.Client(proxy=world["proxy"], policy=world["policy"], model=world["model"]) as c:
        with pytest.raises(eml.EmlError) as ei:
            c.infer({"x": np.zeros((1, 3, 7, 5), np.float32)})  # wrong shape
        assert ei.value.category in (500, 600, 700)
        with pytest.raises(eml.EmlError):
            c.infer({"y": demo_input(3)})  # wrong name
        x = demo_input(4)
        want = local_run(world, x, "ref-after-refusal")
        got = c.infer({"x": x})
        for k in want:
            assert np.array_equal(got[k], want[k])


def test_bad_python_arguments_raise_usage_before_sending(world):
    with eml.Client(proxy=world["proxy"], policy=world["policy"], model=world["model"]) as c:
        with pytest.raises(eml.UsageError):
            c.infer({"x": np.zeros((1, 2), np.complex64)})
        with pytest.raises(eml.UsageError):
            c.infer({})
        with pytest.raises(eml.UsageError):
            c.infer({"x": np.zeros((1,) * 9, np.float32)})
        # Still fine: nothing was sent.
        assert c.infer({"x": demo_input(5)})
    with pytest.raises(eml.UsageError):
        c.infer({"x": demo_input(5)})  # closed


def test_no_model_is_a_usage_error(world):
    with eml.Client(proxy=world["proxy"], policy=world["policy"]) as c:
        with pytest.raises(eml.UsageError):
            c.infer({"x": demo_input(1)})
        got = c.infer({"x": demo_input(1)}, model=world["model"])
        assert got


def test_unreachable_proxy_is_an_io_error(world):
    with pytest.raises(eml.EmlIOError) as ei:
        eml.Client(proxy="127.0.0.1:1", policy=world["policy"])
    assert ei.value.category == 100


def test_missing_policy_file(world):
    with pytest.raises(eml.EmlError) as ei:
        eml.Client(proxy=world["proxy"], policy=str(world["scratch"] / "nope.json"))
    assert ei.value.code == 108  # EML_ERR_FILE


def test_evidence_of_the_session(world):
    import json as _json

    with eml.Client(proxy=world["proxy"], policy=world["policy"], model=world["model"]) as c:
        c.infer({"x": demo_input(31)})
        c.infer({"x": demo_input(32)})
        art = _json.loads(c.evidence())
        assert art["session"]["request_count"] == 2
        assert art["session"]["final"] is False
        last = _json.loads(c.evidence(final=True))
        assert last["session"]["final"] is True
        # The enclave ended the session after the final artifact.
        with pytest.raises(eml.EmlError):
            c.infer({"x": demo_input(33)})
