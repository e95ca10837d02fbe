"""What the host holds after a case, and the search for secrets in it."""
from __future__ import annotations

from typing import Dict, List, Optional

import numpy as np

import memscan
from world import World, read_memory, windows


def frame_type(body: bytes) -> int:
    """The Envelope's message type (field 2) of one frame body, -1 when the
    body is not a well-formed Envelope."""
    i, t = 0, 0
    try:
        while i < len(body):
            key, i = _varint(body, i)
            f, wt = key >> 3, key & 7
            if wt == 0:
                v, i = _varint(body, i)
                if f == 2:
                    t = v
            elif wt == 2:
                n, i = _varint(body, i)
                i += n
            else:
                return -1
    except IndexError:
        return -1
    return t


def _varint(b: bytes, i: int):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def files(w: World) -> List[bytes]:
    return [p.read_bytes() for p in w.host_files()]


def relayed(w: World) -> List[bytes]:
    out = []
    for r in w.relays:
        for c in list(r.conns):
            for d in ("up", "down"):
                out.append(b"".join(c.frames[d]))
    return out


def view(w: World, memory: bool = True) -> List[bytes]:
    """Store, audit log, capture, logs (the agent's too, as forwarded),
    every relayed frame, and the proxy's live memory."""
    v = files(w) + relayed(w)
    if memory:
        v += read_memory(w.proxy_pid)
    return v


def tensor_windows(arrs: List[np.ndarray], n: int = 6) -> List[bytes]:
    out = []
    for a in arrs:
        out += memscan._spread(windows(np.ascontiguousarray(a).tobytes(), 32, 16, limit=64), n)
    return out


def find(view_blobs: List[bytes], secret: Dict[str, List[bytes]],
         names: Optional[List[str]] = None) -> Optional[str]:
    """A secret window in the view, raw or as hex (a log that prints a
    tensor prints hex), or a name; None when nothing is there."""
    hexed = {k: [w.hex().encode() for w in ws] for k, ws in secret.items()}
    blob = memscan.compact(view_blobs)
    for k, ws in list(secret.items()) + [(k + " (hex)", v) for k, v in hexed.items()]:
        for w in ws:
            if w in blob:
                return f"{k} {w[:64]!r}"
    for n in names or []:
        if n.encode() in blob:
            return f"name {n}"
    return None
