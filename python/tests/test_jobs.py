"""Asynchronous jobs from Python: submit, poll, collect, through the real
proxy (SQLite queue) and agent."""
import numpy as np
import pytest

import ephemeralml as eml
from conftest import demo_input, local_run


def client(world, **kw):
    return eml.Client(proxy=world["proxy"], policy=world["policy"], model=world["model"],
                      jobs=world["jobs"], **kw)


def test_submit_result_equals_interactive_and_local(world):
    x = demo_input(21, 2)
    with client(world) as c:
        jid = c.submit({"x": x})
        assert len(jid) == 32 and int(jid, 16) >= 0
        assert c.status(jid) in ("queued", "running", "done")
        got = c.result(jid, wait=True, timeout=60)
        inter = c.infer({"x": x})
    want = local_run(world, x, "job-ref")
    for k in want:
        assert np.array_equal(got[k], want[k])
        assert np.array_equal(got[k], inter[k])


def test_chosen_id_resubmit_and_ticket_elsewhere(world):
    jid = "00112233445566778899aabbccddeeff"
    x = demo_input(22)
    with client(world) as c:
        assert c.submit({"x": x}, job_id=jid) == jid
        first = c.result(jid, timeout=60)
        assert c.resubmit(jid) == "done"  # the same bytes: the same job
        ticket = c.ticket(jid)
        # Another seal under the same id is other bytes: refused.
        with pytest.raises(eml.SessionError) as ei:
            c.submit({"x": x}, job_id=jid)
        assert ei.value.name == "EML_ERR_JOB_CONFLICT"
    # No session needed to collect: the ticket is enough.
    again = eml.fetch_result(world["jobs"], jid, ticket, wait=False)
    for k in first:
        assert np.array_equal(first[k], again[k])
    # A wrong ticket (another reply key) does not open it.
    bad = bytearray(ticket)
    bad[30] ^= 1
    with pytest.raises(eml.EmlError) as ei:
        eml.fetch_result(world["jobs"], jid, bytes(bad), wait=False)
    assert ei.value.category in (400, 700)


def test_unknown_job(world):
    with pytest.raises(eml.SessionError) as ei:
        eml.job_poll(world["jobs"], "ff" * 16)
    assert ei.value.name == "EML_ERR_JOB_NOT_FOUND"
    with pytest.raises(eml.UsageError):
        eml.job_poll(world["jobs"], "xyz")
