"""Secrets of one case and the search for them in a process's memory."""
from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from world import read_memory, windows


def _spread(ws: List[bytes], n: int) -> List[bytes]:
    """n windows spread over the list (first and last included): a buffer
    left whole is found by any of them, and each search stays cheap."""
    if len(ws) <= n:
        return ws
    return [ws[i * (len(ws) - 1) // (n - 1)] for i in range(n)]


def secrets(model, mdir: Path, tensors: List[np.ndarray]) -> Dict[str, List[bytes]]:
    """32-byte windows (8+ distinct byte values) of the weights, the
    topology key and the given tensors (inputs, outputs)."""
    # The blob's content id (SHA-256 of weights.sealed) is in the key but is
    # no secret: the host serves the blob under it. Zero it out first.
    topo = (mdir / "model.topo").read_bytes()
    cid = hashlib.sha256((mdir / "weights.sealed").read_bytes()).digest()
    topo = topo.replace(cid, bytes(len(cid)))
    out = {"weights": [], "topology": _spread(windows(topo, 32, 8, limit=256), 8)}
    allw = []
    for w in model.weights:
        allw += windows(w.tobytes(), 32, 16, limit=64)
    out["weights"] = _spread(allw, 12)
    for i, t in enumerate(tensors):
        out[f"tensor{i}"] = _spread(windows(np.ascontiguousarray(t).tobytes(), 32, 16,
                                            limit=64), 6)
    return out


def compact(mem: List[bytes], page: int = 4096) -> bytes:
    """The blobs joined with every run of all-zero pages replaced by 32 zero
    bytes (most of a thread stack or an arena is never touched). A 32-byte
    window overlaps a zero run by at most 31 bytes, so every occurrence
    survives, and none is made up."""
    out = []
    for b in mem:
        n = len(b) // page * page
        if n == 0:
            out.append(b)
            continue
        pages = np.frombuffer(b, dtype=np.uint64, count=n // 8).reshape(-1, page // 8)
        nz = pages.any(axis=1)
        i, total = 0, len(nz)
        while i < total:
            j = i
            while j < total and nz[j] == nz[i]:
                j += 1
            out.append(b[i * page:j * page] if nz[i] else bytes(32))
            i = j
        out.append(b[n:])
        out.append(b"\x01" * 32)  # mappings are not contiguous
    return b"".join(out)


def search_in(mem: List[bytes], found: Dict[str, List[bytes]]) -> Optional[str]:
    """The first secret window found in the given blobs, as 'kind
    window-hex', or None."""
    blob = compact(mem)
    for kind, ws in found.items():
        for w in ws:
            if w in blob:
                return f"{kind} {w.hex()}"
    return None


def search(pid: int, found: Dict[str, List[bytes]]) -> Optional[str]:
    """search_in over the live process's memory."""
    return search_in(read_memory(pid), found)


def search_settled(pid: int, found: Dict[str, List[bytes]], tries: int = 20) -> Optional[str]:
    """search, again for up to a second while something is found: the agent
    answers before it wipes (the output is sealed and sent, then the
    request's buffers are destroyed), so a hit right after the answer may
    be a wipe in progress; a leak stays."""
    hit = None
    for _ in range(tries):
        hit = search(pid, found)
        if hit is None:
            return None
        time.sleep(0.05)
    return hit


def checkable(found: Dict[str, List[bytes]]) -> int:
    return sum(len(v) for v in found.values())
