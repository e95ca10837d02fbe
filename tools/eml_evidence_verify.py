#!/usr/bin/env python3
"""Verify an EphemeralML evidence artifact without any of the project's C
code: a second implementation of docs/EVIDENCE.md, using only Python's
standard library, `cryptography` and `cbor2` (Debian: python3-cryptography,
python3-cbor2).

usage: eml_evidence_verify.py FILE [--root PEM] [--at doc|now|RFC3339]
                              [--policy FILE] [--keys FILE]

The trust root is --root, or the policy's trust_root (a path relative to
the policy file, or trust_root_pem).

Exit codes as `eml evidence verify`: 0 verified, 1 not verified, 2 usage,
3 the file cannot be read. A failure prints one line naming the field.
"""

import argparse
import base64
import datetime
import hashlib
import json
import math
import os
import re
import sys

import cbor2
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

SKEW_MS = 5 * 60 * 1000
MAX_BYTES = 1 << 20


class Refused(Exception):
    pass


def refuse(field, what):
    raise Refused(f"{field}: {what}")


# ------------------------------------------------------------ RFC 8785


def _no_dups(pairs):
    seen = {}
    for k, v in pairs:
        if k in seen:
            refuse("artifact", f'JSON: duplicate member name "{k[:64]}"')
        seen[k] = v
    return seen


def _no_constant(name):
    refuse("artifact", f"JSON: {name} is not JSON")


def _utf16_key(s):
    return s.encode("utf-16-be", "surrogatepass")


def _es_number(v):
    """ECMAScript Number.prototype.toString for a finite double."""
    if isinstance(v, bool):
        raise TypeError
    if isinstance(v, int):
        v = float(v)
    if v != v or v in (float("inf"), float("-inf")):
        refuse("artifact", "JSON: number out of range")
    if v == 0:
        return "0"
    sign = "-" if v < 0 else ""
    r = repr(abs(v))  # shortest round-trip digits
    m = re.fullmatch(r"(\d+)(?:\.(\d+))?(?:e([+-]\d+))?", r)
    intpart, frac, exp = m.group(1), m.group(2) or "", int(m.group(3) or 0)
    digits = (intpart + frac).lstrip("0")
    lead_zeros = len(intpart + frac) - len((intpart + frac).lstrip("0"))
    n = len(intpart) + exp - lead_zeros  # value = 0.digits x 10^n
    digits = digits.rstrip("0") or "0"
    k = len(digits)
    if k <= n <= 21:
        out = digits + "0" * (n - k)
    elif 0 < n <= 21:
        out = digits[:n] + "." + digits[n:]
    elif -6 < n <= 0:
        out = "0." + "0" * (-n) + digits
    else:
        e = n - 1
        out = digits[0] + ("." + digits[1:] if k > 1 else "") + ("e+" if e >= 0 else "e-") + str(abs(e))
    return sign + out


def canonical(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, (int, float)):
        return _es_number(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ",".join(canonical(x) for x in v) + "]"
    if isinstance(v, dict):
        keys = sorted(v.keys(), key=_utf16_key)
        return "{" + ",".join(json.dumps(k, ensure_ascii=False) + ":" + canonical(v[k]) for k in keys) + "}"
    raise TypeError(type(v))


def load_json(raw):
    try:
        text = raw.decode("utf-8", errors="strict")
    except UnicodeDecodeError as e:
        refuse("artifact", f"JSON: invalid UTF-8 at byte {e.start}")
    if text.startswith("\ufeff"):
        refuse("artifact", "JSON: byte order mark")
    try:
        v = json.loads(text, object_pairs_hook=_no_dups, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        refuse("artifact", f"JSON: {e.msg} at byte {e.pos}")
    # Lone surrogates from \u escapes are not Unicode (RFC 7493).
    def walk(x):
        if isinstance(x, float) and not math.isfinite(x):
            refuse("artifact", "JSON: number out of the range of a double")
        if isinstance(x, str):
            try:
                x.encode("utf-8")
            except UnicodeEncodeError:
                refuse("artifact", "JSON: lone surrogate")
        elif isinstance(x, list):
            for y in x:
                walk(y)
        elif isinstance(x, dict):
            for k, y in x.items():
                walk(k)
                walk(y)
    walk(v)
    return v


# ------------------------------------------------------------ fields


def members(obj, path, required, optional=()):
    if not isinstance(obj, dict):
        refuse(path or "artifact", "expected an object")
    for k in obj:
        if k not in required and k not in optional:
            refuse(f"{path}.{k}" if path else k, "unknown field")
    for k in required:
        if k not in obj:
            refuse(f"{path}.{k}" if path else k, "missing")


def hexfield(obj, key, path, n=None, max_n=None):
    v = obj.get(key)
    if not isinstance(v, str):
        refuse(path, "expected a string")
    if not re.fullmatch(r"(?:[0-9a-f]{2})*", v):
        refuse(path, "expected lower-case hex")
    b = bytes.fromhex(v)
    if (n is not None and len(b) != n) or (max_n is not None and not 1 <= len(b) <= max_n):
        refuse(path, "wrong length of hex")
    return b


def b64field(obj, key, path):
    v = obj.get(key)
    if not isinstance(v, str) or not v:
        refuse(path, "expected a string")
    try:
        b = base64.b64decode(v, validate=True)
    except ValueError:
        refuse(path, "not base64")
    if base64.b64encode(b).decode() != v:
        refuse(path, "base64 not in canonical form")
    return b


def uintfield(obj, key, path):
    v = obj.get(key)
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v <= 2**53 - 1:
        refuse(path, "expected an integer in 0..2^53-1")
    return int(v)


KEY_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
TIME_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def timefield(obj, key, path):
    v = obj.get(key)
    if not isinstance(v, str) or not TIME_RE.fullmatch(v):
        refuse(path, "expected YYYY-MM-DDTHH:MM:SS.mmmZ")
    try:
        d = datetime.datetime.strptime(v, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        refuse(path, "not a real instant")
    return int(d.timestamp()) * 1000 + d.microsecond // 1000


def parse(art):
    members(art, "", ("version", "session", "tee", "attestation", "pubkey_id", "signature"),
            ("cosignature",))
    if uintfield(art, "version", "version") != 1:
        refuse("version", "only 1 is supported")
    s = art["session"]
    members(s, "session", ("id", "transcript_hash", "started_at", "ended_at", "final",
                           "request_count", "exchange_hash", "models", "policy_digest"),
            ("client_identity", "evidence_nonce"))
    out = {
        "id": hexfield(s, "id", "session.id", 16),
        "th": hexfield(s, "transcript_hash", "session.transcript_hash", 32),
        "started": timefield(s, "started_at", "session.started_at"),
        "ended": timefield(s, "ended_at", "session.ended_at"),
        "count": uintfield(s, "request_count", "session.request_count"),
        "xh": hexfield(s, "exchange_hash", "session.exchange_hash", 32),
        "policy_digest": hexfield(s, "policy_digest", "session.policy_digest", 32),
    }
    if not isinstance(s["final"], bool):
        refuse("session.final", "expected true or false")
    if "client_identity" in s:
        hexfield(s, "client_identity", "session.client_identity", 32)
    if "evidence_nonce" in s:
        hexfield(s, "evidence_nonce", "session.evidence_nonce", max_n=64)
    models = s["models"]
    if not isinstance(models, list) or len(models) > 16:
        refuse("session.models", "expected an array of at most 16")
    for i, m in enumerate(models):
        members(m, f"session.models[{i}]", ("content_id", "topology_digest"))
        hexfield(m, "content_id", f"session.models[{i}].content_id", 32)
        hexfield(m, "topology_digest", f"session.models[{i}].topology_digest", 32)
    out["n_models"] = len(models)
    t = art["tee"]
    members(t, "tee", ("provider", "producer", "module_id", "pcrs"))
    if t["provider"] != "aws-nitro":
        refuse("tee.provider", 'expected "aws-nitro"')
    if t["producer"] not in ("nsm", "sim"):
        refuse("tee.producer", 'expected "nsm" or "sim"')
    if not isinstance(t["module_id"], str) or not t["module_id"]:
        refuse("tee.module_id", "expected a string")
    if not isinstance(t["pcrs"], dict):
        refuse("tee.pcrs", "expected an object")
    pcrs = {}
    for k in t["pcrs"]:
        if not re.fullmatch(r"0|[1-9]\d?", k) or int(k) > 31:
            refuse(f"tee.pcrs.{k}", "not a PCR index 0..31")
        v = hexfield(t["pcrs"], k, f"tee.pcrs.{k}", max_n=64)
        if len(v) not in (32, 48, 64):
            refuse(f"tee.pcrs.{k}", "expected 32, 48 or 64 bytes")
        pcrs[int(k)] = v
    out["pcrs"] = pcrs
    out["module_id"] = t["module_id"]
    out["doc"] = b64field(art, "attestation", "attestation")
    out["pubkey_id"] = hexfield(art, "pubkey_id", "pubkey_id", 32)
    out["sig"] = b64field(art, "signature", "signature")
    if len(out["sig"]) != 64:
        refuse("signature", "not 64 bytes")
    out["cosig"] = None
    if "cosignature" in art:
        c = art["cosignature"]
        members(c, "cosignature", ("key_id", "signed_at", "signature"))
        if not isinstance(c["key_id"], str) or not KEY_ID_RE.fullmatch(c["key_id"]):
            refuse("cosignature.key_id", "expected 1..64 of [A-Za-z0-9._:-]")
        out["cosig"] = {
            "key_id": c["key_id"],
            "signed_at_text": c["signed_at"],
            "signed_at": timefield(c, "signed_at", "cosignature.signed_at"),
            "sig": b64field(c, "signature", "cosignature.signature"),
        }
        if len(out["cosig"]["sig"]) != 64:
            refuse("cosignature.signature", "not 64 bytes")
    return out


# ------------------------------------------------------------ attestation


def parse_doc(raw):
    try:
        cose = cbor2.loads(raw)
    except Exception as e:  # noqa: BLE001 - any decode failure is a refusal
        refuse("attestation", f"not CBOR ({e.__class__.__name__})")
    if isinstance(cose, cbor2.CBORTag):
        if cose.tag != 18:
            refuse("attestation", "not COSE_Sign1")
        cose = cose.value
    if not isinstance(cose, list) or len(cose) != 4:
        refuse("attestation", "not COSE_Sign1")
    prot, _unprot, payload, sig = cose
    if not isinstance(prot, bytes) or cbor2.loads(prot) != {1: -35}:
        refuse("attestation", "protected header is not {1: -35} (ES384)")
    if not isinstance(payload, bytes) or not isinstance(sig, bytes) or len(sig) != 96:
        refuse("attestation", "payload or signature malformed")
    doc = cbor2.loads(payload)
    if not isinstance(doc, dict):
        refuse("attestation", "payload is not a map")
    for k in ("module_id", "digest", "timestamp", "pcrs", "certificate", "cabundle"):
        if k not in doc:
            refuse("attestation", f"{k} missing")
    return prot, payload, sig, doc


def verify_doc(raw, root_pem, at):
    prot, payload, sig, doc = parse_doc(raw)
    leaf = x509.load_der_x509_certificate(doc["certificate"])
    sig_structure = cbor2.dumps(["Signature1", prot, b"", payload])
    der = encode_dss_signature(int.from_bytes(sig[:48], "big"), int.from_bytes(sig[48:], "big"))
    try:
        leaf.public_key().verify(der, sig_structure, ec.ECDSA(hashes.SHA384()))
    except (InvalidSignature, AttributeError, TypeError):
        refuse("attestation", "COSE signature does not verify")
    root = x509.load_pem_x509_certificate(root_pem)
    bundle = [x509.load_der_x509_certificate(c) for c in doc["cabundle"]]
    if not bundle or bundle[0].public_bytes(Encoding.DER) != root.public_bytes(Encoding.DER):
        refuse("attestation", "chain does not start at the trusted root")
    if at == "doc":
        when = datetime.datetime.utcfromtimestamp(doc["timestamp"] / 1000)
    elif at == "now":
        when = datetime.datetime.utcnow()
    else:
        when = at
    chain = bundle + [leaf]
    for i, cert in enumerate(chain):
        issuer = chain[i - 1] if i > 0 else root
        if cert.issuer != issuer.subject:
            refuse("attestation", f"chain depth {i}: issuer name mismatch")
        try:
            issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                       ec.ECDSA(cert.signature_hash_algorithm))
        except InvalidSignature:
            refuse("attestation", f"chain depth {i}: signature invalid")
        if not cert.not_valid_before <= when <= cert.not_valid_after:
            refuse("attestation", f"chain depth {i}: certificate expired or not yet valid at {when:%Y-%m-%dT%H:%M:%SZ}")
        if i < len(chain) - 1:
            bc = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
            if not bc.ca:
                refuse("attestation", f"chain depth {i}: issuer is not a CA")
    return doc


# ------------------------------------------------------------ verify


def load_keys(raw):
    k = load_json(raw)
    members(k, "", ("version", "keys"))
    if k["version"] != 1:
        refuse("version", "only 1 is supported")
    if not isinstance(k["keys"], list) or not 1 <= len(k["keys"]) <= 64:
        refuse("keys", "expected an array of 1..64 keys")
    out = {}
    for i, e in enumerate(k["keys"]):
        members(e, f"keys[{i}]", ("key_id", "algorithm", "public_key", "valid_from", "valid_until"))
        if e["algorithm"] != "ed25519":
            refuse(f"keys[{i}].algorithm", 'only "ed25519"')
        out[e["key_id"]] = (hexfield(e, "public_key", f"keys[{i}].public_key", 32),
                            timefield(e, "valid_from", f"keys[{i}].valid_from"),
                            timefield(e, "valid_until", f"keys[{i}].valid_until"))
    return out


def check_cosig(art, f, keys):
    c = f["cosig"]
    if c is None:
        refuse("cosignature", "missing, yet published keys were given")
    if c["key_id"] not in keys:
        refuse("cosignature.key_id", f'"{c["key_id"]}" is not in the published keys')
    pk, vfrom, vuntil = keys[c["key_id"]]
    if not vfrom <= c["signed_at"] <= vuntil:
        refuse("cosignature.signed_at", f'outside the validity window of key "{c["key_id"]}"')
    if c["signed_at"] < f["ended"] - SKEW_MS:
        refuse("cosignature.signed_at", "before the artifact was made")
    inner = dict(art)
    del inner["cosignature"]
    msg = canonical({"artifact": inner, "key_id": c["key_id"], "signed_at": c["signed_at_text"]})
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(pk).verify(c["sig"], msg.encode("utf-8"))
    except InvalidSignature:
        refuse("cosignature.signature", f'does not verify with key "{c["key_id"]}"')


def verify(raw, root_pem, at, policy, keys=None):
    art = load_json(raw)
    f = parse(art)
    doc = verify_doc(f["doc"], root_pem, at)
    binding = hashlib.sha256(b"EphemeralML evidence v1 binding" + f["id"] + f["th"]).digest()
    if doc.get("nonce") != binding:
        refuse("attestation", "nonce does not bind session.id and session.transcript_hash "
                              "(a document from another session)")
    pk = doc.get("public_key")
    if not isinstance(pk, bytes) or len(pk) != 32:
        refuse("attestation", "public_key is not a 32-byte Ed25519 key")
    if hashlib.sha256(pk).digest() != f["pubkey_id"]:
        refuse("pubkey_id", "not the key the attestation document binds (signed by another key)")
    if f["module_id"] != doc["module_id"]:
        refuse("tee.module_id", "differs from the attestation document's")
    dpcrs = {int(k): v for k, v in doc["pcrs"].items()}
    if all(i in dpcrs and not any(dpcrs[i]) for i in (0, 1, 2)) and not (
            policy is not None and policy.get("allow_debug") is True):
        refuse("attestation", "debug-mode enclave (PCR0-2 all zero)")
    if set(dpcrs) != set(f["pcrs"]):
        refuse("tee.pcrs", "not the set of PCRs in the attestation document")
    for i, v in f["pcrs"].items():
        if dpcrs[i] != v:
            refuse(f"tee.pcrs.{i}", "differs from the attestation document's")
    if doc.get("user_data") != f["policy_digest"]:
        refuse("session.policy_digest", "not the attestation document's user_data")
    if f["ended"] < f["started"]:
        refuse("session.ended_at", "before session.started_at")
    if not f["started"] - SKEW_MS <= doc["timestamp"] <= f["ended"] + SKEW_MS:
        refuse("session.started_at/ended_at", "the attestation document's time is outside the session")
    h0 = hashlib.sha256(b"EphemeralML evidence v1 exchanges").digest()
    if f["count"] == 0 and (f["n_models"] != 0 or f["xh"] != h0):
        refuse("session.request_count", "0, yet models or exchanges are recorded")
    if f["n_models"] > f["count"]:
        refuse("session.models", "more models than requests")
    signed = dict(art)
    del signed["signature"]
    signed.pop("cosignature", None)
    try:
        ed25519.Ed25519PublicKey.from_public_bytes(pk).verify(
            f["sig"], canonical(signed).encode("utf-8"))
    except InvalidSignature:
        refuse("signature", "does not verify over the canonical form of the other fields "
                            "(a signed field was changed)")
    if keys is not None:
        check_cosig(art, f, keys)
    if policy is not None:
        for k, v in policy.get("pcrs", {}).items():
            i = int(k.replace("PCR", ""))
            if dpcrs.get(i) != bytes.fromhex(v):
                refuse("--policy", f"PCR{i} differs from the policy")
        if "policy_digest" in policy and doc.get("user_data") != bytes.fromhex(policy["policy_digest"]):
            refuse("--policy", "policy_digest differs from the policy")
    return f, doc


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("file")
    ap.add_argument("--root")
    ap.add_argument("--at", default="doc")
    ap.add_argument("--policy")
    ap.add_argument("--keys")
    a = ap.parse_args()
    at = a.at
    if at not in ("doc", "now"):
        try:
            at = datetime.datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ")
        except ValueError:
            print("eml_evidence_verify: --at: doc, now or YYYY-MM-DDTHH:MM:SSZ", file=sys.stderr)
            return 2
    try:
        policy = None
        root_pem = None
        if a.policy:
            with open(a.policy, "rb") as fh:
                policy = json.loads(fh.read())
            if "trust_root_pem" in policy:
                root_pem = policy["trust_root_pem"].encode()
            elif "trust_root" in policy:
                p = os.path.join(os.path.dirname(os.path.abspath(a.policy)), policy["trust_root"])
                with open(p, "rb") as fh:
                    root_pem = fh.read()
        if a.root:
            with open(a.root, "rb") as fh:
                root_pem = fh.read()
        keys = None
        if a.keys:
            with open(a.keys, "rb") as fh:
                keys = load_keys(fh.read())
        if root_pem is None:
            print("eml_evidence_verify: name a trust root: --root PEM or a --policy with trust_root",
                  file=sys.stderr)
            return 2
    except (OSError, ValueError, Refused) as e:
        print(f"eml_evidence_verify: {e}", file=sys.stderr)
        return 2
    try:
        with open(a.file, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
    except OSError as e:
        print(f"eml_evidence_verify: {e}", file=sys.stderr)
        return 3
    try:
        if len(raw) > MAX_BYTES:
            refuse("artifact", "larger than 1 MiB")
        f, doc = verify(raw, root_pem, at, policy, keys)
    except Refused as e:
        print(f"eml_evidence_verify: refused: {e}")
        return 1
    except Exception as e:  # noqa: BLE001 - malformed input must not escape as a traceback
        print(f"eml_evidence_verify: refused: malformed artifact or document ({e.__class__.__name__}: {e})")
        return 1
    print(f"eml_evidence_verify: verified: session {f['id'].hex()}, {f['count']} requests, "
          f"module {doc['module_id']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
