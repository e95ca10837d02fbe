#!/usr/bin/env python3
"""Writes the EIF test vectors from the format's definition, independently
of the C code (hashlib, zlib, struct only): run it to regenerate, and the
unit test (tests/unit/test_eif.c) compares the C writer and reader with
what it wrote.

  synthetic.eif   kernel b"kernel", cmdline b"console=ttyS0", metadata
                  b"null", ramdisks b"boot" and b"app", in the builder's
                  order K, C, M, R0, R1; version 4, flags 0, default_mem
                  2^30, default_cpus 2
  synthetic.json  its length, offsets, sizes, CRC, SHA-256 and PCR0-2
"""
import hashlib
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KERNEL, CMDLINE, METADATA, RAMDISK, SIGNATURE = 1, 2, 5, 3, 4


def eif(sections, version=4, flags=0, mem=1 << 30, cpus=2):
    offsets, sizes, at = [], [], 548
    for _, data in sections:
        offsets.append(at)
        sizes.append(len(data))
        at += 12 + len(data)
    hdr = b".eif" + struct.pack(">HHQQHH", version, flags, mem, cpus, 0, len(sections))
    hdr += struct.pack(">32Q", *(offsets + [0] * (32 - len(offsets))))
    hdr += struct.pack(">32Q", *(sizes + [0] * (32 - len(sizes))))
    hdr += struct.pack(">I", 0)
    body = b"".join(struct.pack(">HHQ", t, 0, len(d)) + d for t, d in sections)
    crc = zlib.crc32(body, zlib.crc32(hdr)) & 0xFFFFFFFF
    return hdr + struct.pack(">I", crc) + body, offsets, sizes, crc


def pcr(content):
    return hashlib.sha384(b"\0" * 48 + hashlib.sha384(content).digest()).hexdigest()


def main():
    secs = [(KERNEL, b"kernel"), (CMDLINE, b"console=ttyS0"), (METADATA, b"null"),
            (RAMDISK, b"boot"), (RAMDISK, b"app")]
    data, offsets, sizes, crc = eif(secs)
    with open(os.path.join(HERE, "synthetic.eif"), "wb") as f:
        f.write(data)
    facts = {
        "length": len(data), "offsets": offsets, "sizes": sizes, "crc32": "%08x" % crc,
        "sha256": hashlib.sha256(data).hexdigest(),
        "PCR0": pcr(b"kernel" b"console=ttyS0" b"boot" b"app"),
        "PCR1": pcr(b"kernel" b"console=ttyS0" b"boot"),
        "PCR2": pcr(b"app"),
        "PCR_EMPTY": pcr(b""),
        # PCR3 extends with the ARN bytes themselves, not with their digest.
        "PCR3_ARN": hashlib.sha384(
            b"\0" * 48 + b"arn:aws:iam::123456789012:role/Webserver").hexdigest(),
    }
    with open(os.path.join(HERE, "synthetic.json"), "w") as f:
        json.dump(facts, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
