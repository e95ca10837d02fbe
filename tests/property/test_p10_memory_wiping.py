"""Feature: ephemeral-inference, Property 10: Memory wiping -- every buffer
that held topology, weights, inputs, activations or outputs is overwritten
when the request or session ends, on success and on every error path.

Each case: a session through the real system with one good request and one
failing request of a drawn kind (wrong input shape, dtype or name; the host
serving another model's blob or none; the host cutting the connection
before the request reaches the agent or before the answer reaches the
client; an attestation the client refuses), then the session ends. The live
agent's whole memory (/proc/PID/mem, every readable mapping but the
program's and libraries' read-only ones) is searched for 32-byte windows
of both models' weights and topology keys, the inputs and the outputs.
A separate test kills an agent with SIGSEGV and looks for a core file.
"""
import os
import resource
import signal
import subprocess

import numpy as np
import pytest
from hypothesis import given, strategies as st

import failures
import gen
import memscan
from conftest import prop
from world import AGENT, World, wait_for


@pytest.fixture(scope="module")
def world():
    w = World("p10", relay_client=True)
    yield w
    w.stop()


@prop(10)
@given(model=gen.models(unsupported=False, max_depth=3, max_width=32),
       other=gen.models(unsupported=False, max_depth=2, max_width=32),
       xseed=gen.input_seeds, kind=st.integers(0, len(failures.KINDS) - 1))
def test_property_10_memory_wiping(world, model, other, xseed, kind, counter):
    """Feature: ephemeral-inference, Property 10: Memory wiping -- every
    buffer that held topology, weights, inputs, activations or outputs is
    overwritten when the request or session ends, on success and on every
    error path."""
    w = world
    kind = failures.KINDS[kind]
    mdir, odir = w.split(model), w.split(other)
    x = model.input(xseed)
    with w.connect() as c:
        y = c.infer({"x": x}, model=str(mdir))["y"]
        err = failures.provoke(w, kind, mdir, x, odir, client=c)
    assert err is not None, f"{kind}: the failing request answered"
    counter(kind)
    w.settle()
    found = memscan.secrets(model, mdir, [x, y])
    for k, v in memscan.secrets(other, odir, []).items():
        found["other " + k] = v
    hit = memscan.search_settled(w.agent_pid, found)
    assert hit is None, f"after a good and a {kind} request the agent's memory holds {hit}"
    assert w.alive("agent")


def test_property_10_no_core_dump_of_killed_agent(tmp_path):
    """Feature: ephemeral-inference, Property 10 (core dump): an agent killed
    by a signal that dumps core, with RLIMIT_CORE unlimited, leaves no core
    file (it makes itself non-dumpable at start-up, and its secure memory is
    MADV_DONTDUMP besides)."""
    with open("/proc/sys/kernel/core_pattern") as f:
        pattern = f.read().strip()
    if pattern.startswith("|"):
        pytest.skip(f"core_pattern pipes to a helper ({pattern}): no core file to look for")
    # Control: a dumpable process killed the same way in the same kind of
    # directory must leave a core here, or the check below proves nothing.
    ctl = subprocess.Popen(["sleep", "30"], cwd=tmp_path,
                           preexec_fn=lambda: resource.setrlimit(
                               resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                                      resource.RLIM_INFINITY)))
    os.kill(ctl.pid, signal.SIGSEGV)
    ctl.wait()
    if not wait_for(lambda: any(p.name.startswith("core") for p in tmp_path.iterdir()), 3):
        pytest.skip("this machine writes no core file even for a dumpable process")
    w = World("p10core")
    try:
        m = gen.build([gen.Layer("dense", "MatMul", width=16)], 1, 16, 4, "normal")
        w.infer(w.split(m), m.input(3))
        pid = w.agent_pid
        subprocess.run(["prlimit", f"--pid={pid}", "--core=unlimited"], check=True)
        os.kill(pid, signal.SIGSEGV)
        w.procs["agent"].wait(timeout=10)
        assert w.procs["agent"].returncode == -signal.SIGSEGV
        cores = [p for p in (w.dir / "work").iterdir() if p.name.startswith("core")]
        assert cores == [], f"a killed agent left {cores}"
    finally:
        w.stop()
