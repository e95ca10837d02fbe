"""Confidential inference from Python: Client, Model, verify_attestation."""
from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any, Dict, Mapping, Optional, Union

import numpy as np

from ._ffi import LIBRARY_PATH, cstr, ffi, lib
from .errors import USAGE, EmlError, UsageError, error_class, raise_for

PathLike = Union[str, "os.PathLike[str]"]

# ONNX TensorProto.DataType numbers (enum eml_client_dtype) <-> numpy.
_DTYPES: Dict[int, np.dtype] = {
    1: np.dtype("<f4"),
    2: np.dtype("u1"),
    3: np.dtype("i1"),
    4: np.dtype("<u2"),
    5: np.dtype("<i2"),
    6: np.dtype("<i4"),
    7: np.dtype("<i8"),
    9: np.dtype("?"),
    10: np.dtype("<f2"),
    11: np.dtype("<f8"),
    12: np.dtype("<u4"),
    13: np.dtype("<u8"),
}
_CODES: Dict[tuple, int] = {(d.kind, d.itemsize): c for c, d in _DTYPES.items()}
_MAX_RANK = 8


def _check(rc: int, handle: Any = None) -> None:
    if rc != 0:
        raise_for(rc, cstr(lib.eml_client_detail(handle if handle is not None else ffi.NULL)))


def _usage(msg: str) -> UsageError:
    return UsageError(USAGE, msg)


def _summary_dict(s: Any, with_session: bool = True) -> Dict[str, Any]:
    d: Dict[str, Any] = {
        "module_id": cstr(s.module_id),
        "timestamp_ms": int(s.timestamp_ms),
        "pcrs": {int(s.pcrs[i].index): bytes(ffi.buffer(s.pcrs[i].value, 48)).hex()
                 for i in range(s.n_pcrs)},
        "policy_digest": bytes(ffi.buffer(s.policy_digest, s.policy_digest_len)).hex(),
        "producer": cstr(s.producer),
        "root": cstr(s.root),
    }
    if with_session:
        d["session_id"] = bytes(ffi.buffer(s.session_id, 16)).hex()
    return d


def _to_tensor(name: str, value: Any, slot: Any, keep: list) -> None:
    if not isinstance(name, str) or not name:
        raise _usage("input names must be non-empty strings")
    arr = np.asarray(value)
    if arr.dtype.kind not in "fuib" or (arr.dtype.kind, arr.dtype.itemsize) not in _CODES:
        raise _usage(f"input {name!r}: dtype {arr.dtype} has no ONNX tensor type here")
    if arr.ndim > _MAX_RANK:
        raise _usage(f"input {name!r}: rank {arr.ndim} above {_MAX_RANK}")
    # libeml reads little-endian, row-major: only copy when the array is not.
    arr = np.ascontiguousarray(arr, dtype=arr.dtype.newbyteorder("<")
                               if arr.dtype.itemsize > 1 else arr.dtype)
    cname = ffi.new("char[]", name.encode("utf-8"))
    buf = ffi.from_buffer(arr)
    keep += [arr, cname, buf]
    slot.name = cname
    slot.dtype = _CODES[(arr.dtype.kind, arr.dtype.itemsize)]
    slot.rank = arr.ndim
    for i, d in enumerate(arr.shape):
        slot.dims[i] = d
    slot.data = buf
    slot.nbytes = arr.nbytes


def _from_tensor(t: Any) -> "tuple[str, np.ndarray]":
    dt = _DTYPES.get(int(t.dtype))
    if dt is None:
        raise EmlError(208, f"output dtype {int(t.dtype)} unknown to this package")
    shape = tuple(int(t.dims[i]) for i in range(t.rank))
    raw = ffi.buffer(t.data, t.nbytes) if t.nbytes else b""
    arr = np.frombuffer(raw, dtype=dt).reshape(shape).copy()
    return cstr(t.name), arr


class Model:
    """A split model's topology key (DIR/model.topo), held in locked memory.

    The sealed weights stay on the host; the enclave fetches them. Close it
    (or use ``with``) to wipe the key; a Model may be shared by Clients.
    """

    def __init__(self, directory: PathLike) -> None:
        out = ffi.new("struct eml_client_model **")
        _check(lib.eml_client_model_open(os.fsencode(directory), out))
        self._m = out[0]

    def close(self) -> None:
        """Wipe and release the topology key. Idempotent."""
        if getattr(self, "_m", None) is not None:
            lib.eml_client_model_close(self._m)
            self._m = None

    def __enter__(self) -> "Model":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


class Client:
    """One attested session with an enclave behind an eml-proxy.

    Connecting verifies the enclave's attestation against ``policy`` (a
    client policy file: trust root, pinned PCRs, policy digest) before any
    secret leaves the process; a mismatch raises
    :class:`~ephemeralml.errors.AttestationError` (a PCR mismatch
    :class:`~ephemeralml.errors.PcrMismatchError`) and the connection is
    closed.

    >>> with Client(proxy="127.0.0.1:7400", policy="client.json", model="model") as c:
    ...     out = c.infer({"x": x})

    Args:
        proxy: ``HOST:PORT`` of the eml-proxy.
        policy: path of the client policy file.
        model: a split model directory (or :class:`Model`) used by :meth:`infer`
            when none is passed there.
        api_key: the operator's API key for the proxy ("emlk1.ID.HEX"); without
            it libeml uses the environment variable EML_API_KEY when set.
        tls_ca: PEM CA file: talk TLS to a proxy started with --tls-cert, whose
            certificate must chain to it and name ``tls_name`` (default: the
            host in ``proxy``).
        timeout_ms: per network wait; 0 keeps the library default (60 s).
        jobs: ``HOST:PORT`` of the proxy's job API (default: the proxy's
            host, port + 1).

    A Client is used by one thread at a time; use one Client per thread.
    """

    def __init__(self, proxy: str, policy: PathLike, *, model: Union[None, PathLike, Model] = None,
                 api_key: Optional[str] = None, tls_ca: Optional[PathLike] = None,
                 timeout_ms: int = 0, jobs: Optional[str] = None,
                 tls_name: Optional[str] = None) -> None:
        self._c: Any = None
        self._jobs_api: Optional[str] = jobs
        self._tickets: Dict[str, "tuple[bytes, bytes]"] = {}
        self._own_model = False
        self._model: Optional[Model] = None
        if not isinstance(proxy, str):
            raise _usage("proxy must be a 'HOST:PORT' string")
        self._proxy = proxy
        out = ffi.new("struct eml_client **")
        _check(lib.eml_client_connect(proxy.encode(), out))
        self._c = out[0]
        try:
            if tls_ca is not None:
                _check(lib.eml_client_set_tls(self._c, os.fsencode(tls_ca),
                                              tls_name.encode() if tls_name else ffi.NULL),
                       self._c)
            if api_key is not None:
                _check(lib.eml_client_set_api_key(self._c, api_key.encode()), self._c)
            if timeout_ms:
                _check(lib.eml_client_set_timeout(self._c, int(timeout_ms)), self._c)
            _check(lib.eml_client_attest(self._c, os.fsencode(policy)), self._c)
            if isinstance(model, Model):
                self._model = model
            elif model is not None:
                self._model = Model(model)
                self._own_model = True
        except BaseException:
            self.close()
            raise

    @property
    def attestation(self) -> Dict[str, Any]:
        """The verified attestation: module_id, timestamp_ms, pcrs (index ->
        hex, the PCRs the policy pinned), policy_digest (hex), producer
        ("nsm" or "sim"), root (trust root subject), session_id (hex)."""
        self._alive()
        s = ffi.new("struct eml_client_summary *")
        _check(lib.eml_client_summary(self._c, s), self._c)
        return _summary_dict(s)

    def infer(self, inputs: Mapping[str, Any], model: Union[None, PathLike, Model] = None
              ) -> Dict[str, np.ndarray]:
        """Run one confidential inference.

        ``inputs`` maps input names to numpy arrays (any ONNX element type
        numpy has); their memory goes straight into libeml's tensors, no
        files. Returns the outputs by name. Agent refusals (bad input shape,
        model not allowed) raise and leave the session usable; crypto, I/O
        and protocol failures end it.
        """
        self._alive()
        if not isinstance(inputs, Mapping) or not inputs:
            raise _usage("inputs must be a non-empty mapping of name -> numpy array")
        m = model if isinstance(model, Model) else None
        tmp: Optional[Model] = None
        if m is None and model is not None:
            m = tmp = Model(model)
        if m is None:
            m = self._model
        if m is None or m._m is None:
            raise _usage("no model: pass model= to Client or to infer")
        try:
            keep: list = []
            arr = ffi.new("struct eml_client_tensor[]", len(inputs))
            for i, (k, v) in enumerate(inputs.items()):
                _to_tensor(k, v, arr[i], keep)
            outs = ffi.new("struct eml_client_tensor **")
            n_outs = ffi.new("size_t *")
            _check(lib.eml_client_infer(self._c, m._m, arr, len(inputs), outs, n_outs), self._c)
            try:
                return dict(_from_tensor(outs[0][i]) for i in range(n_outs[0]))
            finally:
                lib.eml_client_tensors_free(outs[0], n_outs[0])
        finally:
            if tmp is not None:
                tmp.close()

    # ------------------------------------------------------------ jobs

    def _api(self) -> str:
        if self._jobs_api is None:
            host, _, port = self._proxy.rpartition(":")
            self._jobs_api = f"{host}:{int(port) + 1}"
        return self._jobs_api

    def submit(self, inputs: Mapping[str, Any], model: Union[None, PathLike, Model] = None,
               job_id: Optional[str] = None) -> str:
        """Seal a job (topology key, inputs, a fresh reply key) to the
        enclave's attested job key and queue it at the proxy's job API.

        Returns the job id (32 hex digits; ``job_id`` chooses it). The
        ticket that opens the result stays in this Client (see
        :meth:`ticket` to keep it elsewhere). Submitting the same id again
        through :meth:`resubmit` sends the same bytes: the same job.
        """
        self._alive()
        if not isinstance(inputs, Mapping) or not inputs:
            raise _usage("inputs must be a non-empty mapping of name -> numpy array")
        jid = ffi.new("uint8_t[16]")
        if job_id is not None:
            try:
                raw = bytes.fromhex(job_id)
            except ValueError:
                raw = b""
            if len(raw) != 16:
                raise _usage("job_id must be 32 hex digits")
            ffi.memmove(jid, raw, 16)
        m = model if isinstance(model, Model) else None
        tmp = Model(model) if m is None and model is not None else None
        m = m or tmp or self._model
        if m is None or m._m is None:
            raise _usage("no model: pass model= to Client or to submit")
        try:
            keep: list = []
            arr = ffi.new("struct eml_client_tensor[]", len(inputs))
            for i, (k, v) in enumerate(inputs.items()):
                _to_tensor(k, v, arr[i], keep)
            ticket = ffi.new("uint8_t[84]")
            sealed = ffi.new("uint8_t **")
            n = ffi.new("size_t *")
            _check(lib.eml_client_job_seal(self._c, m._m, arr, len(inputs), jid, ticket,
                                           sealed, n), self._c)
            try:
                body = bytes(ffi.buffer(sealed[0], n[0]))
            finally:
                lib.eml_client_free(sealed[0])
        finally:
            if tmp is not None:
                tmp.close()
        hexid = bytes(ffi.buffer(jid, 16)).hex()
        self._tickets[hexid] = (bytes(ffi.buffer(ticket, 84)), body)
        ffi.memmove(ticket, b"\0" * 84, 84)
        self._post(body)
        return hexid

    def resubmit(self, job_id: str) -> str:
        """Send the very same sealed bytes of an earlier :meth:`submit`
        again (after a network failure): the proxy treats it as the same job."""
        if job_id not in self._tickets:
            raise _usage(f"no job {job_id} submitted from this client")
        return self._post(self._tickets[job_id][1])

    def _post(self, body: bytes) -> str:
        st = ffi.new("char[16]")
        _check(lib.eml_client_job_submit(self._api().encode(), body, len(body), st))
        return cstr(st)

    def ticket(self, job_id: str) -> bytes:
        """The secret that opens a job's result (84 bytes): keep it like a key."""
        if job_id not in self._tickets:
            raise _usage(f"no job {job_id} submitted from this client")
        return self._tickets[job_id][0]

    def status(self, job_id: str) -> str:
        """"queued", "running", "done" or "failed"."""
        st, _, _ = job_poll(self._api(), job_id)
        return st

    def result(self, job_id: str, wait: bool = True, timeout: float = 600.0,
               ticket: Optional[bytes] = None) -> Dict[str, np.ndarray]:
        """The outputs of a job, opened with its ticket (this Client's, or
        ``ticket``). With ``wait``, polls until the job is done or failed
        (at most ``timeout`` seconds). A failed job raises the typed error
        of its code; a job not done yet raises SessionError
        (EML_ERR_JOB_PENDING)."""
        t = ticket if ticket is not None else self._tickets.get(job_id, (None, b""))[0]
        if t is None:
            raise _usage(f"no ticket for job {job_id}")
        return fetch_result(self._api(), job_id, t, wait=wait, timeout=timeout)

    def evidence(self, final: bool = False) -> bytes:
        """The signed evidence artifact of this session so far
        (docs/EVIDENCE.md): JSON bytes, signed inside the enclave, already
        checked by libeml against this session and the policy. With
        ``final`` the enclave ends the session after answering (the Client
        can then only be closed)."""
        self._alive()
        out = ffi.new("uint8_t **")
        n = ffi.new("size_t *")
        _check(lib.eml_client_evidence(self._c, 1 if final else 0, out, n), self._c)
        try:
            return bytes(ffi.buffer(out[0], n[0]))
        finally:
            lib.eml_client_evidence_free(out[0], n[0])

    def _alive(self) -> None:
        if self._c is None:
            raise _usage("the client is closed")

    def close(self) -> None:
        """End the session (a sealed Close), wipe keys, close the connection."""
        if self._c is not None:
            lib.eml_client_close(self._c)
            self._c = None
        if self._own_model and self._model is not None:
            self._model.close()
        self._model = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        self.close()


def verify_attestation(document: bytes, root: Union[bytes, PathLike],
                       at: Union[None, str, int, float, datetime] = None) -> Dict[str, Any]:
    """Verify an attestation document on its own (archived evidence).

    Checks the COSE signature and the chain to ``root`` (PEM bytes, or a
    path to a PEM file) at instant ``at``: None or "now" for the current
    time, "doc" for the document's own timestamp, a datetime, or seconds
    since the epoch. Debug enclaves are refused. Returns the fields (all
    PCRs the document carries, index -> hex) for the caller to compare;
    raises :class:`~ephemeralml.errors.AttestationError` on failure.
    """
    if not isinstance(document, (bytes, bytearray, memoryview)):
        raise _usage("document must be bytes")
    if isinstance(root, (bytes, bytearray)):
        pem = bytes(root)
    else:
        with open(root, "rb") as f:
            pem = f.read()
    if at is None or at == "now":
        at_s = 0
    elif at == "doc":
        at_s = -1
    elif isinstance(at, datetime):
        at_s = int(at.timestamp())
    elif isinstance(at, (int, float)) and not isinstance(at, bool):
        at_s = int(at)
        if at_s <= 0:
            raise _usage("at: seconds since the epoch must be positive")
    else:
        raise _usage("at must be None, 'now', 'doc', a datetime or epoch seconds")
    doc = bytes(document)
    s = ffi.new("struct eml_client_summary *")
    _check(lib.eml_client_attestation_verify(doc, len(doc), pem, len(pem), at_s, s))
    return _summary_dict(s, with_session=False)


def job_poll(jobs_api: str, job_id: str) -> "tuple[str, int, Optional[bytes]]":
    """Status, failure code and (when done) sealed result of a job."""
    try:
        raw = bytes.fromhex(job_id)
    except ValueError:
        raw = b""
    if len(raw) != 16:
        raise _usage("job_id must be 32 hex digits")
    st = ffi.new("char[16]")
    code = ffi.new("int *")
    res = ffi.new("uint8_t **")
    n = ffi.new("size_t *")
    _check(lib.eml_client_job_status(jobs_api.encode(), raw, st, code, res, n))
    try:
        sealed = bytes(ffi.buffer(res[0], n[0])) if res[0] != ffi.NULL else None
    finally:
        lib.eml_client_free(res[0])
    return cstr(st), int(code[0]), sealed


def fetch_result(jobs_api: str, job_id: str, ticket: bytes, wait: bool = True,
                 timeout: float = 600.0, poll: float = 0.1) -> Dict[str, np.ndarray]:
    """Collect and open a job's result with its ticket; no session needed."""
    if not isinstance(ticket, (bytes, bytearray)) or len(ticket) != 84:
        raise _usage("ticket must be the 84 bytes Client.ticket returned")
    deadline = time.monotonic() + timeout
    while True:
        st, code, sealed = job_poll(jobs_api, job_id)
        if st == "failed":
            raise error_class(code or 783)(code or 783, f"job {job_id} failed")
        if st == "done" and sealed is not None:
            break
        if not wait or time.monotonic() >= deadline:
            raise error_class(782)(782, f"job {job_id} is {st}")
        time.sleep(poll)
    outs = ffi.new("struct eml_client_tensor **")
    n_outs = ffi.new("size_t *")
    _check(lib.eml_client_job_open(bytes(ticket), sealed, len(sealed), outs, n_outs))
    try:
        return dict(_from_tensor(outs[0][i]) for i in range(n_outs[0]))
    finally:
        lib.eml_client_tensors_free(outs[0], n_outs[0])


def version() -> str:
    """The version of the loaded libeml."""
    return cstr(lib.eml_version())

