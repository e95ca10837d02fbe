"""The real system for the property tests: a simulator CA, an eml-agent
(sim attestation), an eml-proxy with its store, audit log and relay capture,
optionally a recording / hostile relay on either leg, and the ephemeralml
package (libeml) as the client. One World per test module: started once,
every generated case goes through it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
from onnx import TensorProto, numpy_helper

REPO = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("BUILD", "build"))
if not BUILD.is_absolute():
    BUILD = REPO / BUILD
EML = str(BUILD / "bin" / "eml")
AGENT = str(BUILD / "bin" / "eml-agent")
PROXY = str(BUILD / "bin" / "eml-proxy")
os.environ.setdefault("EML_LIBRARY", str(BUILD / "lib" / "libeml.so"))

import sys  # noqa: E402

sys.path.insert(0, str(REPO / "python"))
import ephemeralml  # noqa: E402,F401
from ephemeralml import Client, Model, errors  # noqa: E402,F401

from relay import Relay  # noqa: E402


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def children(pid: int) -> List[int]:
    out: List[int] = []
    try:
        for t in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{t}/children") as f:
                out += [int(v) for v in f.read().split()]
    except OSError:
        pass
    return out


def sim_pcr(n: int) -> str:
    return hashlib.sha384(f"EphemeralML simulator PCR{n}".encode()).hexdigest()


def wait_for(pred, seconds: float = 10.0) -> bool:
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.02)
    return False


def tcp_up(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class World:
    """Agent + proxy (+ relays) in one temporary directory."""

    def __init__(self, name: str, *, relay_client: bool = False, relay_agent: bool = False,
                 admin: bool = False, extra_proxy: Optional[List[str]] = None,
                 agent_env: Optional[Dict[str, str]] = None,
                 agent_args: Optional[List[str]] = None, sim_from: Optional[Path] = None,
                 wrap: Optional[Dict[str, List[str]]] = None,
                 base: Optional[str] = None) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"eml-prop-{name}.", dir=base))
        self.procs: Dict[str, subprocess.Popen] = {}
        self.relays: List[Relay] = []
        self.models: Dict[str, Path] = {}
        self.agent_env = agent_env or {}
        self.agent_args = agent_args or []
        self.wrap = wrap or {}
        d = self.dir
        if sim_from is not None:
            shutil.copytree(sim_from, d / "sim")
        else:
            self.run([EML, "attest", "sim-init", str(d / "sim")])
        self.digest = self.run([AGENT, "--policy-digest"]).strip()
        self.policy = d / "client.json"
        self.write_policy(self.policy)
        (d / "store").mkdir()
        (d / "work").mkdir()
        self.agent_sock = d / "agent.sock"
        self.start_agent()
        self.proxy_agent = self.agent_sock
        if relay_agent:
            r = Relay(f"unix:{d / 'relay.sock'}", f"unix:{self.agent_sock}")
            self.relays.append(r)
            self.agent_relay = r
            self.proxy_agent = d / "relay.sock"
        self.port = free_port()
        self.admin_port = free_port() if admin else 0
        args = [PROXY, "--listen", f"tcp:127.0.0.1:{self.port}",
                "--agent", f"unix:{self.proxy_agent}", "--weights", str(d / "store"),
                "--rate-limit", "0", "--audit", str(d / "audit.log"),
                "--capture", str(d / "capture.bin"), "--health", "connect"]
        if admin:
            args += ["--admin", f"tcp:127.0.0.1:{self.admin_port}"]
        args += extra_proxy or []
        self.start("proxy", args)
        if not wait_for(lambda: tcp_up(self.port)):
            raise RuntimeError("proxy did not start:\n" + self.log("proxy"))
        self.addr = f"127.0.0.1:{self.port}"
        if relay_client:
            self.client_relay = Relay("tcp:127.0.0.1:0", f"tcp:{self.addr}")
            self.relays.append(self.client_relay)
            self.addr = self.client_relay.listen_addr

    # ------------------------------------------------------------ processes

    def run(self, argv: List[str], check: bool = True, **kw) -> str:
        r = subprocess.run(argv, capture_output=True, text=True, **kw)
        if check and r.returncode != 0:
            raise RuntimeError(f"{argv[:3]} exit {r.returncode}: {r.stderr[-2000:]}")
        return r.stdout

    def start(self, name: str, argv: List[str], env: Optional[Dict[str, str]] = None) -> None:
        log = open(self.dir / f"{name}.log", "ab")
        e = dict(os.environ)
        e.update(env or {})
        argv = [a.replace("@DIR@", str(self.dir)) for a in self.wrap.get(name, [])] + argv
        self.procs[name] = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=e,
                                            cwd=str(self.dir / "work"))
        log.close()

    def start_agent(self) -> None:
        try:
            self.agent_sock.unlink()
        except FileNotFoundError:
            pass
        self.start("agent", [AGENT, "--listen", f"unix:{self.agent_sock}", "--attest", "sim",
                             "--sim-dir", str(self.dir / "sim"), "--insecure-any-model"] +
                   self.agent_args,
                   env=self.agent_env)
        if not wait_for(self.agent_sock.exists):
            raise RuntimeError("agent did not start:\n" + self.log("agent"))
        time.sleep(0.05)
        self._idle_threads = self.threads("agent")

    def restart_agent(self) -> None:
        p = self.procs.get("agent")
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        self.start_agent()

    def settle(self, seconds: float = 2.0) -> None:
        """Wait until the agent has no session thread left (it ends a
        session after its client closed): its thread count drops back to
        the idle one, or the time runs out."""
        idle = getattr(self, "_idle_threads", None)
        if idle is None:
            return
        wait_for(lambda: self.threads("agent") <= idle, seconds)

    def threads(self, name: str) -> int:
        try:
            with open(f"/proc/{self.procs[name].pid}/status") as f:
                for line in f:
                    if line.startswith("Threads:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    @property
    def agent_pid(self) -> int:
        return self.procs["agent"].pid

    @property
    def proxy_pid(self) -> int:
        return self.procs["proxy"].pid

    def alive(self, name: str) -> bool:
        return self.procs[name].poll() is None

    def log(self, name: str) -> str:
        try:
            return (self.dir / f"{name}.log").read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        self.close_session()
        for r in self.relays:
            r.close()
        for name, p in self.procs.items():
            if p.poll() is None and name in self.wrap:
                # A wrapper (strace) detaches on SIGTERM and leaves its
                # child running: stop the child first.
                for kid in children(p.pid):
                    try:
                        os.kill(kid, signal.SIGTERM)
                    except ProcessLookupError:
                        pass
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        if not os.environ.get("EML_PROP_KEEP"):
            shutil.rmtree(self.dir, ignore_errors=True)

    # ------------------------------------------------------------ policies

    def write_policy(self, path: Path, pcrs: Optional[Dict[int, str]] = None,
                     root: Optional[str] = None, digest: Optional[str] = None,
                     max_age: int = 300) -> Path:
        p = {"version": 1, "trust_root": root or str(self.dir / "sim" / "root.pem"),
             "pcrs": {str(i): v for i, v in (pcrs or {i: sim_pcr(i) for i in range(3)}).items()},
             "policy_digest": digest or self.digest, "max_age_seconds": max_age}
        path.write_text(json.dumps(p))
        return path

    # ------------------------------------------------------------ models

    def split(self, model) -> Path:
        """Split a generated model (cached by its bytes) and put its blob in
        the store; returns the model directory."""
        key = hashlib.sha256(model.onnx_bytes).hexdigest()[:24]
        if key in self.models:
            return self.models[key]
        d = self.dir / "models" / key
        d.mkdir(parents=True, exist_ok=True)
        (d / "model.onnx").write_bytes(model.onnx_bytes)
        self.run([EML, "model", "split", str(d / "model.onnx"), "--out", str(d / "m")])
        # What `eml-proxy blob put` does (a file named by the SHA-256 of its
        # content), without a process per case.
        blob = (d / "m" / "weights.sealed").read_bytes()
        dst = self.dir / "store" / hashlib.sha256(blob).hexdigest()
        tmp = dst.with_name(".put-" + dst.name)
        tmp.write_bytes(blob)
        tmp.rename(dst)
        self.models[key] = d / "m"
        return d / "m"

    def session_infer(self, mdir: Path, x: np.ndarray) -> np.ndarray:
        """Infer through the module's long-lived session (a new session every
        12 distinct models: the agent allows 16 per session)."""
        c = getattr(self, "client", None)
        if c is None or self.client_models >= 12:
            if c is not None:
                c.close()
            self.client = Client(self.addr, str(self.policy))
            self.client_models = 0
        self.client_models += 1
        try:
            return self.client.infer({"x": x}, model=str(mdir))["y"]
        except errors.EmlError as e:
            # A session cut short (EOF, agent lost) with the test relays in
            # the loop: seen rarely, not yet explained; one fresh session.
            if e.code not in (101, 751):
                raise
            self.client.close()
            self.client = Client(self.addr, str(self.policy))
            self.client_models = 1
            return self.client.infer({"x": x}, model=str(mdir))["y"]

    def close_session(self) -> None:
        c = getattr(self, "client", None)
        if c is not None:
            c.close()
            self.client = None

    def connect(self, policy: Optional[Path] = None, model: Optional[Path] = None,
                timeout_ms: int = 0) -> Client:
        """A fresh client, connected and attested. A handshake cut short
        (EOF 101, agent lost 751) is tried again, twice at most: seen rarely
        under heavy load with the test relays in the loop and not yet
        explained (docs/TESTING.md); no property is about the handshake
        being served the first time, and each retry is counted and printed
        so that it stays visible."""
        for attempt in range(3):
            try:
                return Client(self.addr, str(policy or self.policy),
                              model=str(model) if model is not None else None,
                              timeout_ms=timeout_ms)
            except errors.EmlError as e:
                if e.code not in (101, 751) or attempt == 2:
                    raise
                self.handshake_retries = getattr(self, "handshake_retries", 0) + 1
                sys.stderr.write(f"world {self.dir.name}: handshake cut short ({e.code}), "
                                 f"retry {self.handshake_retries}\n")
                time.sleep(0.2)
        raise AssertionError("unreachable")

    def infer(self, mdir: Path, x: np.ndarray, policy: Optional[Path] = None,
              timeout_ms: int = 0) -> np.ndarray:
        with self.connect(policy, mdir, timeout_ms) as c:
            return c.infer({"x": x})["y"]

    # ------------------------------------------------------------ what the host holds

    def host_files(self) -> List[Path]:
        """Everything the host side wrote: store, audit log, capture, the
        proxy's log and the agent's log (as it would be forwarded)."""
        out = []
        for p in sorted(self.dir.rglob("*")):
            if p.is_file() and not p.is_socket() and "models" not in p.parts and \
                    p.parent.name != "sim":
                out.append(p)
        return out


def tensor_file(path: Path, x: np.ndarray, name: str = "x") -> Path:
    path.write_bytes(numpy_helper.from_array(x, name=name).SerializeToString())
    return path


def read_tensor(path: Path) -> np.ndarray:
    t = TensorProto()
    t.ParseFromString(path.read_bytes())
    return numpy_helper.to_array(t)


def windows(data: bytes, size: int = 32, step: int = 0, limit: int = 64,
            min_distinct: int = 8) -> List[bytes]:
    """Distinctive windows of a secret: enough distinct byte values that
    they do not occur by chance (runs of zeros and repeated floats skipped)."""
    out = []
    step = step or size
    for i in range(0, max(0, len(data) - size + 1), step):
        w = data[i:i + size]
        if len(set(w)) >= min_distinct:
            out.append(w)
            if len(out) >= limit:
                break
    return out


def found_in(secret_windows: List[bytes], blobs: List[bytes]) -> Optional[bytes]:
    for w in secret_windows:
        for b in blobs:
            if w in b:
                return w
    return None


MAX_REGION = 1 << 32


def read_memory(pid: int) -> List[bytes]:
    """Every readable mapping of a live process, through /proc/PID/mem
    (maps-guided; regions the kernel refuses, such as guard pages and
    [vvar], are skipped)."""
    out = []
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read().splitlines()
    with open(f"/proc/{pid}/mem", "rb", buffering=0) as mem:
        for line in maps:
            parts = line.split()
            lo, hi = (int(v, 16) for v in parts[0].split("-"))
            perms = parts[1]
            name = parts[5] if len(parts) > 5 else ""
            if "r" not in perms or name in ("[vvar]", "[vsyscall]", "[vdso]"):
                continue
            # File-backed, read-only mappings are the program and libraries.
            if "w" not in perms and name.startswith("/"):
                continue
            # A sanitizer's shadow memory (terabytes reserved, never ours):
            # nothing the program allocates is a single mapping this large.
            if hi - lo > MAX_REGION:
                continue
            try:
                mem.seek(lo)
                out.append(mem.read(hi - lo))
            except OSError:
                continue
    return out
