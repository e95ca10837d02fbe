"""Feature: ephemeral-inference, Property 14: No persistence -- nothing
assembled or decrypted is ever written to storage.

The agent and the proxy run under strace (-f, successful file system calls
only): every open for writing, create, rename, link, mkdir, truncate and
symlink either of them makes is recorded with its path. Each case: a
generated model and a request that succeeds or fails in a drawn way. After
it, every path written must be one the design declares: the proxy's audit
log and its relay capture (a test option), the weight store (the proxy only
reads it here), /dev/null, and /dev/urandom (the agent mixes entropy into
it). The processes' working directory must stay empty, and the test's own
directory hold only what the test and those declared paths put there.
"""
import os
import re
import shutil

import pytest
from hypothesis import given, strategies as st

import failures
import gen
from conftest import prop
from world import World

KINDS = ("ok", "ok") + failures.KINDS
TRACE = ["strace", "-f", "-qq", "-e", "status=successful", "-e",
         "trace=open,openat,openat2,creat,rename,renameat,renameat2,link,linkat,mkdir,"
         "mkdirat,truncate,symlink,symlinkat,mknod,mknodat"]
WRITE_FLAGS = re.compile(r"O_WRONLY|O_RDWR|O_CREAT|O_TRUNC|O_APPEND")
PATH = re.compile(r'"((?:[^"\\]|\\.)*)"')


@pytest.fixture(scope="module")
def world():
    if shutil.which("strace") is None:
        pytest.skip("no strace here")
    w = World("p14", relay_client=True, wrap={
        "agent": TRACE + ["-o", "@DIR@/trace-agent.txt"],
        "proxy": TRACE + ["-o", "@DIR@/trace-proxy.txt"]})
    w.seen = {"agent": 0, "proxy": 0}
    # The trace sees writes: the proxy opened its audit log for appending.
    first = written(w, "proxy")
    assert any(p == f"{w.dir}/audit.log" for _, p in first), \
        f"strace recorded no write of the audit log: {first[:5]}"
    written(w, "agent")
    yield w
    w.stop()


def written(w, name):
    """Paths the process wrote since the last call."""
    p = w.dir / f"trace-{name}.txt"
    data = p.read_text(errors="replace").splitlines()
    new, w.seen[name] = data[w.seen[name]:], len(data)
    out = []
    for line in new:
        m = re.search(r"\b(open|openat|openat2|creat|rename\w*|link\w*|mkdir\w*|truncate|"
                      r"symlink\w*|mknod\w*)\(", line)
        if not m:
            continue
        call = m.group(1)
        if call.startswith("open") and not WRITE_FLAGS.search(line):
            continue
        out += [(call, q) for q in PATH.findall(line)]
    return out


def allowed(w, path):
    d = str(w.dir)
    if path in ("/dev/null", "/dev/urandom"):
        return True
    if path in (f"{d}/audit.log", f"{d}/capture.bin"):
        return True
    # Relative names the proxy opens under its store's directory fd.
    return path.startswith(f"{d}/store/")


@prop(14)
@given(model=gen.models(unsupported=False, max_depth=3), xseed=gen.input_seeds,
       kind=st.integers(0, len(KINDS) - 1))
def test_property_14_no_persistence(world, model, xseed, kind, counter):
    """Feature: ephemeral-inference, Property 14: No persistence -- nothing
    assembled or decrypted is ever written to storage."""
    w = world
    kind = KINDS[kind]
    mdir = w.split(model)
    other = w.split(gen.build([gen.Layer("dense", "MatMul", width=4)], 1, 4, 13, "normal"))
    x = model.input(xseed)
    if kind == "ok":
        w.infer(mdir, x)
    else:
        assert failures.provoke(w, kind, mdir, x, other) is not None, kind
    w.settle()
    counter(kind)
    for name in ("agent", "proxy"):
        bad = [(c, p) for c, p in written(w, name) if not allowed(w, p)]
        assert not bad, f"{kind}: the {name} wrote {bad[:5]}"
    left = os.listdir(w.dir / "work")
    assert left == [], f"{kind}: the working directory holds {left}"
    top = {p.name for p in w.dir.iterdir()}
    extra = top - {"agent.log", "proxy.log", "audit.log", "capture.bin", "client.json",
                   "bad.json", "store", "work", "models", "sim", "agent.sock",
                   "trace-agent.txt", "trace-proxy.txt"}
    assert not extra, f"{kind}: new files {sorted(extra)}"
