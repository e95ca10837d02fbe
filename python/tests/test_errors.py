"""Codes, names and exception classes agree with libeml's error table."""
import re
from pathlib import Path

import pytest

import ephemeralml as eml
from ephemeralml.errors import error_class

DEF = Path(__file__).resolve().parents[2] / "common" / "eml_err.def"


def table():
    rows = re.findall(r'EML_ERR\((\w+), (\d+), "', DEF.read_text())
    assert len(rows) > 50
    return [(n, int(c)) for n, c in rows if int(c) != 0]


def test_every_code_has_its_category_class_and_name():
    for name, code in table():
        e = error_class(code)(code, "d")
        assert e.name == name
        assert e.code == code and e.detail == "d"
        assert isinstance(e, eml.EmlError)
        assert e.category == code // 100 * 100
        expect = {100: eml.EmlIOError, 200: eml.ProtocolError, 300: eml.AttestationError,
                  400: eml.CryptoError, 500: eml.InferenceError, 600: eml.ModelError,
                  700: eml.SessionError, 800: eml.UsageError, 900: eml.InternalError}
        assert isinstance(e, expect[e.category]), name
    assert error_class(331) is eml.PcrMismatchError


def test_model_dir_missing(tmp_path):
    with pytest.raises(eml.EmlError) as ei:
        eml.Model(tmp_path / "none")
    assert ei.value.category in (100, 600)


def test_version():
    assert re.fullmatch(r"\d+\.\d+\.\d+", eml.version())
