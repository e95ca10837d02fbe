#!/usr/bin/env python3
"""A sealed blob that lies about its size, written as an attacker with its
own key would (docs/SEALED_BLOB.md): the header claims PLAIN bytes, chunk
0 is genuinely sealed under the key (so it authenticates), the rest of the
file is zeros (a sparse file of the claimed size). And the topology key
that points at it (the graph y = Relu(x), as hostile_topo.py writes it).

  lying_blob.py GOOD_TOPO OUTDIR PLAIN CHUNK

Writes OUTDIR/weights.sealed and OUTDIR/model/model.topo; prints the
content id (hex).
"""
import ctypes
import ctypes.util
import hashlib
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile_topo as h  # noqa: E402


def main():
    good, out, plain, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    na = ctypes.CDLL(ctypes.util.find_library("sodium"))
    assert na.sodium_init() >= 0
    key, prefix = os.urandom(32), os.urandom(16)
    count = max(1, -(-plain // chunk))
    hdr = b"EMLBLOB\0" + struct.pack(">HHIQQ", 1, 1, chunk, count, plain) + prefix
    assert len(hdr) == 48
    pt = os.urandom(chunk)
    ad = hdr + struct.pack(">Q", 0) + bytes([1 if count == 1 else 0])
    nonce = prefix + struct.pack(">Q", 0)
    ct = ctypes.create_string_buffer(chunk + 16)
    clen = ctypes.c_ulonglong(0)
    rc = na.crypto_aead_xchacha20poly1305_ietf_encrypt(
        ct, ctypes.byref(clen), pt, ctypes.c_ulonglong(chunk), ad, ctypes.c_ulonglong(len(ad)),
        None, nonce, key)
    assert rc == 0 and clen.value == chunk + 16
    fsize = 48 + plain + 16 * count
    os.makedirs(os.path.join(out, "model"), exist_ok=True)
    path = os.path.join(out, "weights.sealed")
    with open(path, "wb") as f:
        f.write(hdr + ct.raw)
        f.truncate(fsize)
    sha = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(1 << 22)
            if not b:
                break
            sha.update(b)
    cid = sha.digest()
    ref = h.fb(1, cid) + h.fb(2, key) + h.fv(3, 1) + h.fv(4, chunk) + h.fv(5, plain) + \
        h.fv(6, fsize)
    x = h.vinfo("x", h.DT_FLOAT, None)
    y = h.vinfo("y", h.DT_FLOAT, None)
    topo = h.key(h.graph([h.node("r", "Relu", ["x"], ["y"])], [x], [y]), ref)
    with open(os.path.join(out, "model", "model.topo"), "wb") as f:
        f.write(topo)
    print(cid.hex())


if __name__ == "__main__":
    main()
