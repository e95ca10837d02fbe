#!/usr/bin/env python3
"""Tampered copies of an evidence artifact for tests/integration/evidence.sh.

usage: evidence_mutate.py IN OUT OP [ARGS...]
  relayout                 indent 2, every object's members reversed
  change PATH              one field changed, keeping its type and form
  add PATH NAME            a new member NAME in the object at PATH ("" = top)
  remove PATH              the member at PATH removed
  graft OTHER FIELD...     top-level FIELDs taken from artifact OTHER
  resign                   signed again with a fresh Ed25519 key; pubkey_id set to it
  nonutf8                  a byte 0xff inside the module_id string
  duplicate                "version" repeated at the top

PATH is dotted: session.models.0.content_id, tee.pcrs.0.
"""

import base64
import hashlib
import json
import os
import sys

from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "tools"))
from eml_evidence_verify import canonical  # noqa: E402


def walk(obj, path):
    parts = [p for p in path.split(".") if p]
    for p in parts[:-1]:
        obj = obj[int(p)] if isinstance(obj, list) else obj[p]
    return obj, (parts[-1] if parts else None)


def flip_hex(s):
    return s[:-1] + ("0" if s[-1] != "0" else "1")


def changed(v):
    if isinstance(v, bool):
        return not v
    if isinstance(v, int):
        return v + 1
    if isinstance(v, str):
        if v.endswith("Z") and "T" in v:  # a time: one millisecond earlier or later
            ms = int(v[20:23])
            return v[:20] + "%03d" % (ms + 1 if ms < 999 else ms - 1) + "Z"
        if v in ("sim", "nsm"):
            return "nsm" if v == "sim" else "sim"
        if v == "aws-nitro":
            return "aws-nitro2"
        try:
            raw = base64.b64decode(v, validate=True)
            if len(raw) > 64 and not all(c in "0123456789abcdef" for c in v):
                b = bytearray(raw)
                b[len(b) // 2] ^= 1
                return base64.b64encode(bytes(b)).decode()
        except ValueError:
            pass
        if all(c in "0123456789abcdef" for c in v):
            return flip_hex(v)
        if len(v) == 88:  # the base64 signature
            b = bytearray(base64.b64decode(v))
            b[0] ^= 1
            return base64.b64encode(bytes(b)).decode()
        return v + "x"
    raise SystemExit(f"cannot change {v!r}")


def main():
    src, dst, op, *args = sys.argv[1:]
    raw = open(src, "rb").read()
    art = json.loads(raw)
    out = None
    if op == "relayout":
        def rev(x):
            if isinstance(x, dict):
                return {k: rev(x[k]) for k in reversed(list(x))}
            if isinstance(x, list):
                return [rev(y) for y in x]
            return x
        out = json.dumps(rev(art), indent=2).encode() + b"\n"
    elif op == "change":
        parent, key = walk(art, args[0])
        if isinstance(parent, list):
            parent[int(key)] = changed(parent[int(key)])
        else:
            parent[key] = changed(parent[key])
    elif op == "add":
        parent, key = walk(art, args[0] + ".x" if args[0] else "x")
        parent[args[1]] = 1
    elif op == "remove":
        parent, key = walk(art, args[0])
        del parent[key]
    elif op == "graft":
        other = json.loads(open(args[0], "rb").read())
        for f in args[1:]:
            art[f] = other[f]
    elif op == "resign":
        sk = ed25519.Ed25519PrivateKey.generate()
        pk = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        art["pubkey_id"] = hashlib.sha256(pk).hexdigest()
        del art["signature"]
        sig = sk.sign(canonical(art).encode())
        art["signature"] = base64.b64encode(sig).decode()
    elif op == "nonutf8":
        mid = art["tee"]["module_id"]
        out = raw.replace(mid.encode(), mid.encode()[:4] + b"\xff" + mid.encode()[5:], 1)
    elif op == "duplicate":
        out = b'{"version":1,' + raw[1:]
    else:
        raise SystemExit(f"unknown op {op}")
    if out is None:
        out = json.dumps(art, separators=(",", ":"), ensure_ascii=False).encode()
    open(dst, "wb").write(out)


if __name__ == "__main__":
    main()
