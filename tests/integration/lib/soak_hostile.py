#!/usr/bin/env python3
"""Half-hostile soak driver (issue 11): NCLIENTS threads against a real
eml-proxy -> eml-agent for SECONDS, half of them hostile.

  soak_hostile.py CONFIG.json

CONFIG names the proxy address (unix:PATH), the client policy, the good
model directory, the directory of hand-written hostile topology keys and
their wanted codes (hostile_topo.py's cases.txt), the good and the
oversized input (TensorProto files), the reference output of
`eml run --local`, the agent's and the proxy's PIDs, the run time, the
early instant of the memory rule and a scratch directory.

Good clients open a session (the ephemeralml package over libeml), run
1..4 inferences on it and compare each output bit for bit with the
reference. Hostile clients take turns through:
  topo      a hostile topology key: refused with its own code (exact)
  bigin     an input over max_input_bytes: refused with 714 (exact)
  trunc     a frame cut short (length prefix only, or half the body),
            then the socket closed
  oversize  a frame length over the frame limit: the proxy closes
  garbage   a real session through a relay that, after the handshake,
            replaces the sealed INFER_REQUEST (tampered ciphertext, a
            garbage envelope, or bytes without framing): the session ends
            with an error, never an answer
The agent's VmRSS/VmHWM are sampled every 0.25 s. Prints a JSON summary;
exits 1 on any wrong answer, unexpected outcome or unexpected exception.
"""
import json
import os
import random
import socket
import struct
import sys
import threading
import time
import traceback

import numpy as np
from onnx import TensorProto, numpy_helper

from ephemeralml import Client, Model
from ephemeralml.errors import EmlError

CFG = json.load(open(sys.argv[1]))
LOCK = threading.Lock()
STATS = {"good_ok": 0, "good_sessions": 0, "bad_answer": 0, "refused": {}, "hostile": {},
         "unexpected": []}
STOP = threading.Event()
# The idle check of short runs: clients park between two items while
# PAUSE is set; the main thread then reads the agent's RSS with no session
# open.
PAUSE = threading.Event()
PARKED = threading.Semaphore(0)
RESUME = threading.Event()


def park():
    """Between two items: wait here while the main thread measures."""
    if PAUSE.is_set() and not STOP.is_set():
        PARKED.release()
        RESUME.wait()


def load_tensor(path):
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


X = load_tensor(CFG["input"])
XBIG = load_tensor(CFG["input_big"])
REF = load_tensor(CFG["reference"])
CASES = [tuple(line.split()) for line in open(CFG["cases"]) if line.strip()]
TIMEOUT_MS = 120000


def note(kind, key, n=1):
    with LOCK:
        d = STATS[kind]
        d[key] = d.get(key, 0) + n


def unexpected(what):
    with LOCK:
        if len(STATS["unexpected"]) < 40:
            STATS["unexpected"].append(what)
        else:
            STATS["unexpected"][-1] = "... and more"


def good(idx, model):
    rng = random.Random(1000 + idx)
    while not STOP.is_set():
        park()
        try:
            with Client(CFG["proxy"], CFG["policy"], model=model, timeout_ms=TIMEOUT_MS) as c:
                with LOCK:
                    STATS["good_sessions"] += 1
                for _ in range(rng.randint(1, 4)):
                    out = c.infer({"x": X})
                    y = next(iter(out.values())) if len(out) == 1 else None
                    if y is None or y.dtype != REF.dtype or y.shape != REF.shape or \
                            y.tobytes() != REF.tobytes():
                        with LOCK:
                            STATS["bad_answer"] += 1
                        unexpected("good client %d: wrong answer" % idx)
                    else:
                        with LOCK:
                            STATS["good_ok"] += 1
                    if STOP.is_set():
                        break
        except EmlError as e:
            unexpected("good client %d: %s" % (idx, e))
            time.sleep(0.2)


def expect_refusal(kind, want, fn):
    try:
        fn()
    except EmlError as e:
        note("refused", str(e.code))
        if e.code != want:
            unexpected("%s: code %d, wanted %d (%s)" % (kind, e.code, want, e))
        return
    unexpected("%s: answered, wanted refusal %d" % (kind, want))


def hostile_topo(rng, models):
    name, want = rng.choice(CASES)
    note("hostile", "topo")

    def run():
        with Client(CFG["proxy"], CFG["policy"], timeout_ms=TIMEOUT_MS) as c:
            c.infer({"x": X}, model=models[name])
    expect_refusal("topo " + name, int(want), run)


def hostile_bigin(rng, model):
    note("hostile", "bigin")

    def run():
        with Client(CFG["proxy"], CFG["policy"], model=model, timeout_ms=TIMEOUT_MS) as c:
            c.infer({"x": XBIG})
    expect_refusal("bigin", 714, run)


def unix_connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(30)
    s.connect(path)
    return s


def proxy_path():
    return CFG["proxy"][len("unix:"):]


def hello_frame(rng):
    """A ClientHello envelope as the SDK would send it (the body random
    enough to be a fresh hello)."""
    def fb(f, b):
        return bytes([f << 3 | 2]) + _varint(len(b)) + b
    body = fb(1, rng.randbytes(32)) + fb(2, rng.randbytes(32)) + bytes([3 << 3, 1])
    env = bytes([1 << 3, 1, 2 << 3, 1]) + fb(3, rng.randbytes(16)) + fb(4, body)
    return struct.pack(">I", len(env)) + env


def _varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def drain_until_closed(s, limit=30.0):
    """Read until the peer closes; True when it did within limit."""
    s.settimeout(limit)
    try:
        while s.recv(65536):
            pass
        return True
    except ConnectionError:
        return True  # closed with our bytes unread: a reset
    except socket.timeout:
        return False


def hostile_trunc(rng):
    note("hostile", "trunc")
    f = hello_frame(rng)
    cut = rng.choice([2, 4, 4 + (len(f) - 4) // 2, len(f) - 1])
    try:
        s = unix_connect(proxy_path())
        s.sendall(f[:cut])
        time.sleep(rng.random() * 0.2)
        s.close()
    except OSError as e:
        unexpected("trunc: %s" % e)


def hostile_oversize(rng):
    note("hostile", "oversize")
    n = rng.choice([0x7FFFFFFF, 0xFFFFFFFF, (64 << 20) + 1 + rng.randrange(1 << 20)])
    try:
        s = unix_connect(proxy_path())
        s.sendall(struct.pack(">I", n) + rng.randbytes(rng.randrange(1, 4096)))
        if not drain_until_closed(s):
            unexpected("oversize %d: proxy kept the connection" % n)
        s.close()
    except OSError as e:
        if not isinstance(e, (BrokenPipeError, ConnectionResetError)):
            unexpected("oversize: %s" % e)


def read_frame(s):
    hdr = b""
    while len(hdr) < 4:
        b = s.recv(4 - len(hdr))
        if not b:
            return None
        hdr += b
    n = struct.unpack(">I", hdr)[0]
    body = bytearray()
    while len(body) < n:
        b = s.recv(min(65536, n - len(body)))
        if not b:
            return None
        body += b
    return hdr + bytes(body)


def frame_type(frame):
    body = frame[4:]
    i = 0
    while i < len(body):
        key, i = _rdv(body, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = _rdv(body, i)
            if f == 2:
                return v
        elif w == 2:
            n, i = _rdv(body, i)
            i += n
        else:
            return -1
    return 0


def _rdv(b, i):
    v = sh = 0
    while i < len(b):
        c = b[i]
        i += 1
        v |= (c & 0x7F) << sh
        sh += 7
        if not c & 0x80:
            return v, i
    return v, len(b) + 1


def relay(lsock, rng, mode, done):
    """Forward one client's frames to the proxy, replacing its first
    INFER_REQUEST (type 3) according to mode."""
    try:
        c, _ = lsock.accept()
        p = unix_connect(proxy_path())
    except OSError:
        done.set()
        return

    def back():
        try:
            while True:
                b = p.recv(65536)
                if not b:
                    break
                c.sendall(b)
        except OSError:
            pass
        try:
            c.shutdown(socket.SHUT_WR)
        except OSError:
            pass
    t = threading.Thread(target=back, daemon=True)
    t.start()
    try:
        c.settimeout(60)
        while True:
            f = read_frame(c)
            if f is None:
                break
            if frame_type(f) == 3:
                if mode == "tamper":
                    b = bytearray(f)
                    k = len(b) - 1 - rng.randrange(min(64, len(b) - 40))
                    b[k] ^= 1 << rng.randrange(8)
                    f = bytes(b)
                elif mode == "envelope":
                    # A frame whose envelope cannot decode (wire type 7).
                    g = b"\x07" + rng.randbytes(rng.randrange(0, 512))
                    f = struct.pack(">I", len(g)) + g
                else:
                    # Bytes without framing: a length prefix far above
                    # the frame limit.
                    f = b"\xff" + rng.randbytes(rng.randrange(3, 512))
                p.sendall(f)
                break
            p.sendall(f)
        # Nothing more from this client: let the proxy answer or close.
        t.join(60)
    except OSError:
        pass
    finally:
        for s in (c, p):
            try:
                s.close()
            except OSError:
                pass
        done.set()


# tamper: the agent's channel refuses the record (CRYPTO_AUTH); envelope:
# PROTO_DECODE; raw: PROTO_TOO_LARGE (from the proxy, before the agent).
GARBAGE_CODE = {"tamper": 401, "envelope": 207, "raw": 203}


def hostile_garbage(idx, rng, model):
    mode = rng.choice(["tamper", "envelope", "raw"])
    note("hostile", "garbage_" + mode)
    path = os.path.join(CFG["scratch"], "relay-%d.sock" % idx)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    ls = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    ls.bind(path)
    ls.listen(1)
    done = threading.Event()
    t = threading.Thread(target=relay, args=(ls, rng, mode, done), daemon=True)
    t.start()
    try:
        with Client("unix:" + path, CFG["policy"], model=model, timeout_ms=20000) as c:
            c.infer({"x": X})
        unexpected("garbage %s: answered" % mode)
    except EmlError as e:
        note("refused", "garbage_%s:%d" % (mode, e.code))
        if e.code != GARBAGE_CODE[mode]:
            unexpected("garbage %s: code %d, wanted %d (%s)" % (mode, e.code,
                                                              GARBAGE_CODE[mode], e))
    finally:
        t.join(90)
        ls.close()
        os.unlink(path)


def hostile(idx, model):
    rng = random.Random(idx)
    models = {name: Model(os.path.join(CFG["hostile"], name)) for name, _ in CASES}
    kinds = ["topo", "topo", "bigin", "trunc", "oversize", "garbage"]
    k = idx
    while not STOP.is_set():
        park()
        kind = kinds[k % len(kinds)]
        k += 1
        try:
            if kind == "topo":
                hostile_topo(rng, models)
            elif kind == "bigin":
                hostile_bigin(rng, model)
            elif kind == "trunc":
                hostile_trunc(rng)
            elif kind == "oversize":
                hostile_oversize(rng)
            else:
                hostile_garbage(idx, rng, model)
        except Exception:  # noqa: BLE001 - every surprise is a failure
            unexpected("hostile %s: %s" % (kind, traceback.format_exc(limit=3)))
    for m in models.values():
        m.close()


def status(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            d = {}
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmRSS", "VmHWM"):
                    d[k] = int(v.split()[0]) * 1024
            return d
    except OSError:
        return None


def settle(pid):
    """The agent's RSS once no session is open: sampled until two readings
    0.5 s apart agree within 1% (at most 10 s)."""
    last = None
    for _ in range(20):
        time.sleep(0.5)
        st = status(pid)
        if st is None:
            return None
        if last is not None and abs(st["VmRSS"] - last) <= last // 100:
            return st["VmRSS"]
        last = st["VmRSS"]
    return last


def measure_idle(pid, n):
    """Park every client between two items, read the idle RSS, resume."""
    RESUME.clear()
    PAUSE.set()
    parked = 0
    deadline = time.monotonic() + 180
    while parked < n and time.monotonic() < deadline:
        if PARKED.acquire(timeout=1):
            parked += 1
    rss = settle(pid) if parked == n else None
    if rss is None:
        unexpected("idle check: %d of %d clients parked" % (parked, n))
    PAUSE.clear()
    RESUME.set()
    return rss


def main():
    n = CFG["clients"]
    model = Model(CFG["model"])
    threads = []
    for i in range(n):
        fn = good if i % 2 == 0 else hostile
        threads.append(threading.Thread(target=fn, args=(i, model), daemon=True))
    for t in threads:
        t.start()
    t0 = time.monotonic()
    mem = {"agent": {"early_hwm": None, "early_peak": 0, "late_peak": 0},
           "proxy": {"early_hwm": None, "early_peak": 0, "late_peak": 0}}
    pids = {"agent": CFG["agent_pid"], "proxy": CFG["proxy_pid"]}
    late_from = CFG["seconds"] - CFG["early"]
    idle = {}
    mid = CFG["seconds"] / 2 if CFG.get("idle_check") else None
    while True:
        if mid is not None and time.monotonic() - t0 >= mid:
            idle["mid"] = measure_idle(pids["agent"], len(threads))
            mid = None
        el = time.monotonic() - t0
        if el >= CFG["seconds"]:
            break
        for who, pid in pids.items():
            st = status(pid)
            if st is None:
                unexpected("%s %d gone at %.1f s" % (who, pid, el))
                STOP.set()
                continue
            m = mem[who]
            if el < CFG["early"]:
                m["early_peak"] = max(m["early_peak"], st["VmRSS"])
            else:
                if m["early_hwm"] is None:
                    m["early_hwm"] = st["VmHWM"]
                if el >= late_from:
                    m["late_peak"] = max(m["late_peak"], st["VmRSS"])
        if STOP.is_set():
            break
        time.sleep(0.25)
    STOP.set()
    for t in threads:
        t.join(180)
        if t.is_alive():
            unexpected("a client thread did not finish within 180 s of the end")
    for who, pid in pids.items():
        st = status(pid)
        mem[who]["end_hwm"] = st["VmHWM"] if st else None
    if CFG.get("idle_check"):
        idle["end"] = settle(pids["agent"])
    mem["agent"]["idle"] = idle
    model.close()
    STATS["seconds"] = round(time.monotonic() - t0, 1)
    STATS["memory"] = mem
    print(json.dumps(STATS, sort_keys=True))
    return 1 if STATS["unexpected"] or STATS["bad_answer"] else 0


if __name__ == "__main__":
    sys.exit(main())
