"""A frame-aware relay the tests put between two parties (client and proxy,
or proxy and agent). It records every frame of every connection in both
directions and, when told, misbehaves like a hostile host on one frame of
the next connection: drop, delay, reorder, replay, flip a byte, truncate,
close. Frames are the wire's: a 4-byte big-endian length, then the body.
"""
from __future__ import annotations

import os
import socket
import threading
import time
from typing import Dict, List, Optional


def _addr(spec: str):
    kind, _, rest = spec.partition(":")
    if kind == "unix":
        return socket.AF_UNIX, rest
    host, _, port = rest.rpartition(":")
    return socket.AF_INET, (host, int(port))


def _recv_exact(s: socket.socket, n: int) -> Optional[bytes]:
    buf = bytearray()
    while len(buf) < n:
        try:
            b = s.recv(n - len(buf))
        except OSError:
            return None
        if not b:
            return None
        buf += b
    return bytes(buf)


class Conn:
    def __init__(self, index: int) -> None:
        self.index = index
        self.frames: Dict[str, List[bytes]] = {"up": [], "down": []}
        self.done = threading.Event()
        self.beh: Optional[dict] = None
        self.claimed = False


class Relay:
    def __init__(self, listen: str, target: str) -> None:
        self.target = target
        fam, addr = _addr(listen)
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        if fam == socket.AF_UNIX:
            try:
                os.unlink(addr)
            except FileNotFoundError:
                pass
        else:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(addr)
        self.sock.listen(64)
        if fam == socket.AF_INET:
            self.listen_addr = f"127.0.0.1:{self.sock.getsockname()[1]}"
        else:
            self.listen_addr = listen
        self.conns: List[Conn] = []
        self.behaviour: Optional[dict] = None   # applies to the next connection
        self.lock = threading.Lock()
        self.closed = False
        self.applied: List[str] = []
        self.errors: List[str] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self.closed = True
        try:
            self.sock.close()
        except OSError:
            pass

    def reset(self) -> None:
        with self.lock:
            self.conns = []
            self.applied = []

    def _accept(self) -> None:
        while not self.closed:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            fam, addr = _addr(self.target)
            u = socket.socket(fam, socket.SOCK_STREAM)
            try:
                u.connect(addr)
            except OSError as e:
                self.errors.append(f"connect {self.target}: {e}")
                c.close()
                continue
            with self.lock:
                conn = Conn(len(self.conns))
                self.conns.append(conn)
            state = {"open": 2}
            for direction, src, dst in (("up", c, u), ("down", u, c)):
                threading.Thread(target=self._pump, args=(conn, direction, src, dst, state),
                                 daemon=True).start()

    def _claim(self, conn: Conn) -> Optional[dict]:
        # The behaviour goes to the first connection that carries a frame
        # (a health check's bare connect does not take it).
        with self.lock:
            if not conn.claimed:
                conn.claimed = True
                conn.beh, self.behaviour = self.behaviour, None
            return conn.beh

    def _pump(self, conn: Conn, direction: str, src, dst, state) -> None:
        n = 0
        held: Optional[bytes] = None
        try:
            while True:
                hdr = _recv_exact(src, 4)
                if hdr is None:
                    break
                ln = int.from_bytes(hdr, "big")
                body = _recv_exact(src, ln) if ln else b""
                if body is None:
                    break
                conn.frames[direction].append(body)
                beh = self._claim(conn)
                wire = hdr + body
                act = None
                if beh is not None and beh["direction"] == direction and beh["frame"] == n:
                    act = beh["action"]
                    self.applied.append(act)
                n += 1
                if act == "drop":
                    continue
                if act == "delay":
                    time.sleep(beh["delay_ms"] / 1000.0)
                elif act == "replay":
                    dst.sendall(wire)
                elif act == "flip" and ln:
                    i = 4 + min(ln - 1, int(beh["offset"] * ln))
                    b = bytearray(wire)
                    b[i] ^= beh["xor"]
                    wire = bytes(b)
                elif act == "substitute":
                    wire = len(beh["data"]).to_bytes(4, "big") + beh["data"]
                elif act == "truncate":
                    dst.sendall(wire[:4 + int(beh["offset"] * ln)])
                    break
                elif act == "close":
                    break
                elif act == "reorder":
                    held = wire
                    continue
                dst.sendall(wire)
                if held is not None:
                    dst.sendall(held)
                    held = None
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            with self.lock:
                state["open"] -= 1
                if state["open"] == 0:
                    src.close()
                    dst.close()
                    conn.done.set()
