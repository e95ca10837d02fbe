"""Typed exceptions for libeml's stable error codes.

Every failure of the library raises an :class:`EmlError` subclass chosen by
the code's category (the hundreds digit, include/eml/eml.h). The exception
carries the stable numeric ``code``, its symbolic ``name`` (for example
``"EML_ERR_ATTEST_PCR_MISMATCH"``) and the library's human ``detail``, which
never holds key material or tensor bytes.
"""
from __future__ import annotations

from typing import Dict, Type

from ._ffi import cstr, lib


class EmlError(Exception):
    """A libeml failure with its stable code."""

    code: int
    name: str
    detail: str

    def __init__(self, code: int, detail: str = "") -> None:
        self.code = int(code)
        self.name = cstr(lib.eml_client_error_name(self.code))
        self.detail = detail
        msg = cstr(lib.eml_client_strerror(self.code))
        text = f"{self.name} ({self.code}): {msg}"
        if detail:
            text += f": {detail}"
        super().__init__(text)

    @property
    def category(self) -> int:
        """The code's category: 100 I/O, 200 protocol, 300 attestation, ..."""
        return self.code // 100 * 100


class EmlIOError(EmlError):
    """Connection, timeout or file failure (1xx)."""


class ProtocolError(EmlError):
    """Malformed or unexpected message (2xx)."""


class AttestationError(EmlError):
    """The enclave's attestation did not verify (3xx)."""


class PcrMismatchError(AttestationError):
    """A PCR differs from the value the policy pins (EML_ERR_ATTEST_PCR_MISMATCH)."""


class CryptoError(EmlError):
    """A frame was altered, replayed or reordered, or a key is invalid (4xx)."""


class InferenceError(EmlError):
    """The engine refused or failed the model or its inputs (5xx)."""


class ModelError(EmlError):
    """Topology key, sealed blob or signature problem (6xx)."""


class SessionError(EmlError):
    """Session state, agent policy, busy, proxy limits (7xx)."""


class UsageError(EmlError):
    """Bad arguments (8xx), also raised by this package for wrong Python types."""


class InternalError(EmlError):
    """A bug or resource exhaustion inside libeml (9xx)."""


_BY_CATEGORY: Dict[int, Type[EmlError]] = {
    100: EmlIOError,
    200: ProtocolError,
    300: AttestationError,
    400: CryptoError,
    500: InferenceError,
    600: ModelError,
    700: SessionError,
    800: UsageError,
    900: InternalError,
}

#: Stable codes this package refers to by name.
PCR_MISMATCH = 331
USAGE = 800


def error_class(code: int) -> Type[EmlError]:
    """The exception class for a libeml code."""
    if code == PCR_MISMATCH:
        return PcrMismatchError
    return _BY_CATEGORY.get(code // 100 * 100, EmlError)


def raise_for(code: int, detail: str = "") -> None:
    """Raise the typed exception for a non-zero libeml return code."""
    if code != 0:
        raise error_class(code)(code, detail)
