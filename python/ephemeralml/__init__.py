"""ephemeralml: confidential inference on AWS Nitro Enclaves, over libeml.

Quick start::

    import numpy as np
    from ephemeralml import Client

    with Client(proxy="127.0.0.1:7400", policy="client.json", model="model") as c:
        print(c.attestation["pcrs"])
        out = c.infer({"x": np.zeros((1, 3, 48, 192), np.float32)})

libeml.so is found through EML_LIBRARY (a path), EML_PREFIX (a `make
install` prefix), the source tree's build/lib, the prefix of the `eml` on
PATH, or the system library path.
"""
from ._ffi import LIBRARY_PATH
from .client import Client, Model, fetch_result, job_poll, verify_attestation, version
from .errors import (AttestationError, CryptoError, EmlError, EmlIOError, InferenceError,
                     InternalError, ModelError, PcrMismatchError, ProtocolError, SessionError,
                     UsageError, error_class)

__all__ = [
    "Client", "Model", "verify_attestation", "version", "LIBRARY_PATH", "fetch_result",
    "job_poll",
    "EmlError", "EmlIOError", "ProtocolError", "AttestationError", "PcrMismatchError",
    "CryptoError", "InferenceError", "ModelError", "SessionError", "UsageError",
    "InternalError", "error_class",
]
__version__ = "0.1.0"
