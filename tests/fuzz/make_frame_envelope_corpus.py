#!/usr/bin/env python3
"""Write the seed corpus of frame_envelope_fuzz: one frame per message type
with a plausible body, a stream of several frames, and the length edge
cases. Hand-rolled protobuf encoding, so this script needs nothing but
Python. Usage: make_frame_envelope_corpus.py [DIR]"""
import os
import struct
import sys


def varint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, v):
    return varint(num << 3) + varint(v)


def field_bytes(num, b):
    return varint((num << 3) | 2) + varint(len(b)) + b


def envelope(mtype, body, version=1, rid=bytes(range(16))):
    out = field_varint(1, version) + field_varint(2, mtype) + field_bytes(3, rid)
    if body:
        out += field_bytes(4, body)
    return out


def frame(b):
    return struct.pack(">I", len(b)) + b


def tensor(name, dtype, dims, data):
    t = field_bytes(1, name.encode()) + field_varint(2, dtype)
    t += field_bytes(3, b"".join(varint(d) for d in dims))  # packed
    return t + field_bytes(4, data)


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus", "frame_envelope")
    os.makedirs(d, exist_ok=True)
    sealed = bytes((i * 37) & 0xFF for i in range(48))  # looks like ct|tag
    hello = field_bytes(1, b"\x11" * 32) + field_bytes(2, b"\x22" * 32) + field_varint(3, 1)
    att = field_bytes(1, b"\xd2\x84\x44\xa1\x01\x38\x22\xa0" + b"\x00" * 40) + field_varint(2, 1)
    infer = field_bytes(1, b"TOPO" * 4) + field_bytes(
        2, tensor("input", 1, [1, 3], struct.pack("<3f", 1.0, 2.0, 3.0)))
    outs = field_bytes(1, tensor("out", 1, [2], struct.pack("<2f", 0.5, 0.25)))
    blobreq = field_bytes(1, b"\x33" * 32) + field_varint(2, 4096) + field_varint(3, 65536)
    blobresp = field_bytes(1, b"\x44" * 64) + field_varint(2, 1 << 20) + field_varint(3, 4096)
    err = field_varint(1, 205) + field_bytes(2, b"unsupported protocol version")
    seeds = {
        "client_hello": frame(envelope(1, hello)),
        "attestation_response": frame(envelope(2, att)),
        "infer_request_sealed": frame(envelope(3, sealed)),
        "infer_request_inner": frame(envelope(3, infer)),
        "infer_response_inner": frame(envelope(4, outs)),
        "evidence_request": frame(envelope(5, field_bytes(1, b"\x55" * 32))),
        "evidence_response": frame(envelope(6, field_bytes(1, b'{"v":1}' + b"\x00" * 16))),
        "close": frame(envelope(7, field_varint(1, 0) + sealed[:16])),
        "blob_request": frame(envelope(8, blobreq)),
        "blob_response": frame(envelope(9, blobresp)),
        "ping": frame(envelope(10, field_varint(1, 7))),
        "ping_empty": frame(envelope(10, b"")),
        "pong": frame(envelope(11, field_varint(1, 7))),
        "error": frame(envelope(12, err)),
        "stream": frame(envelope(10, b"")) + frame(envelope(1, hello)) + frame(envelope(12, err)),
        "bad_version": frame(envelope(1, hello, version=2)),
        "bad_type": frame(envelope(17, hello)),
        "short_request_id": frame(envelope(1, hello, rid=b"\x01" * 15)),
        "zero_length": struct.pack(">I", 0),
        "huge_length": struct.pack(">I", 0xFFFFFFFF) + b"x",
        "truncated": frame(envelope(1, hello))[:20],
    }
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
