"""verify_attestation on real AWS Nitro documents (testdata/attestation)."""
import json
from datetime import datetime, timezone

import pytest

import ephemeralml as eml


def doc(testdata, n):
    return (testdata / "attestation" / f"{n}.cbor").read_bytes()


def root(testdata):
    return testdata / "attestation" / "aws_nitro_root_g1.pem"


def test_real_document_at_its_own_time(testdata):
    meta = json.loads((testdata / "attestation" / "doc01.json").read_text())
    a = eml.verify_attestation(doc(testdata, "doc01"), root=root(testdata), at="doc")
    assert a["module_id"] == meta["module_id"]
    assert a["timestamp_ms"] == meta["timestamp_ms"]
    assert a["producer"] == "nsm"
    assert a["root"] == "aws.nitro-enclaves"
    pcrs = meta["pcrs_hex (0,1,2,8 and every non-zero)"]
    for k, v in pcrs.items():
        assert a["pcrs"][int(k)] == v
    assert len(a["pcrs"]) == meta["pcr_count"]
    # The root as bytes and the instant as a datetime agree.
    at = datetime.fromtimestamp(meta["timestamp_ms"] / 1000, timezone.utc)
    b = eml.verify_attestation(doc(testdata, "doc01"), root=root(testdata).read_bytes(), at=at)
    assert b == a


def test_expired_now(testdata):
    with pytest.raises(eml.AttestationError) as ei:
        eml.verify_attestation(doc(testdata, "doc01"), root=root(testdata))
    assert ei.value.name == "EML_ERR_ATTEST_CHAIN_EXPIRED"


def test_altered_byte_is_refused(testdata):
    d = bytearray(doc(testdata, "doc03"))
    d[len(d) // 2] ^= 1
    with pytest.raises(eml.AttestationError):
        eml.verify_attestation(bytes(d), root=root(testdata), at="doc")


def test_debug_enclave_and_tpm_documents_are_refused(testdata):
    with pytest.raises(eml.AttestationError) as ei:
        eml.verify_attestation(doc(testdata, "doc02"), root=root(testdata), at="doc")
    assert ei.value.name == "EML_ERR_ATTEST_DEBUG"
    with pytest.raises(eml.AttestationError) as ei:
        eml.verify_attestation(doc(testdata, "doc16"), root=root(testdata), at="doc")
    assert ei.value.name == "EML_ERR_ATTEST_NITROTPM"


def test_found_negatives(testdata):
    for f in sorted((testdata / "attestation").glob("found_neg_*.cbor")):
        with pytest.raises(eml.AttestationError):
            eml.verify_attestation(f.read_bytes(), root=root(testdata), at="doc")


def test_bad_arguments(testdata):
    with pytest.raises(eml.UsageError):
        eml.verify_attestation("text", root=root(testdata))
    with pytest.raises(eml.UsageError):
        eml.verify_attestation(doc(testdata, "doc01"), root=root(testdata), at=-5)
    with pytest.raises(eml.AttestationError):
        eml.verify_attestation(doc(testdata, "doc01"), root=b"not a pem", at="doc")
