"""Loading libeml in cffi ABI mode (no compiler needed at install time).

The declarations below mirror include/eml/eml.h; the struct layouts must
stay byte-identical to the header (tests/test_abi.py checks the sizes the
library reports against these).
"""
from __future__ import annotations

import ctypes.util
import os
import shutil
from pathlib import Path
from typing import Any, List, Optional

import cffi

CDEF = """
const char *eml_version(void);
const char *eml_client_strerror(int code);
const char *eml_client_error_name(int code);

struct eml_client_tensor {
    const char *name;
    int dtype;
    size_t rank;
    uint64_t dims[8];
    const void *data;
    size_t nbytes;
};

struct eml_py_pcr {
    unsigned index;
    uint8_t value[48];
};

struct eml_client_summary {
    char module_id[128];
    uint64_t timestamp_ms;
    size_t n_pcrs;
    struct eml_py_pcr pcrs[32];
    uint8_t policy_digest[64];
    size_t policy_digest_len;
    char producer[16];
    char root[128];
    uint8_t session_id[16];
};

struct eml_client;
struct eml_client_model;

int eml_client_connect(const char *addr, struct eml_client **out);
int eml_client_set_timeout(struct eml_client *c, unsigned ms);
int eml_client_set_tls(struct eml_client *c, const char *ca_file, const char *name);
int eml_client_set_api_key(struct eml_client *c, const char *key);
int eml_client_attest(struct eml_client *c, const char *policy_path);
int eml_client_summary(const struct eml_client *c, struct eml_client_summary *out);
int eml_client_model_open(const char *dir, struct eml_client_model **out);
void eml_client_model_close(struct eml_client_model *m);
int eml_client_infer(struct eml_client *c, const struct eml_client_model *m,
    const struct eml_client_tensor *inputs, size_t n_inputs,
    struct eml_client_tensor **outs, size_t *n_outs);
void eml_client_tensors_free(struct eml_client_tensor *t, size_t n);
int eml_client_tensor_load(const char *path, struct eml_client_tensor **out);
int eml_client_tensor_save(const char *path, const struct eml_client_tensor *t);
int eml_client_attestation_verify(const uint8_t *doc, size_t doc_len,
    const uint8_t *root_pem, size_t root_len, int64_t at_s,
    struct eml_client_summary *out);
int eml_client_job_seal(struct eml_client *c, const struct eml_client_model *m,
    const struct eml_client_tensor *inputs, size_t n_inputs,
    uint8_t job_id[16], uint8_t ticket[84], uint8_t **sealed, size_t *sealed_len);
int eml_client_job_submit(const char *jobs_addr, const uint8_t *sealed, size_t n,
    char status[16]);
int eml_client_job_status(const char *jobs_addr, const uint8_t job_id[16], char status[16],
    int *job_code, uint8_t **result, size_t *result_len);
int eml_client_job_open(const uint8_t ticket[84], const uint8_t *result, size_t n,
    struct eml_client_tensor **outs, size_t *n_outs);
void eml_client_free(void *p);
int eml_client_evidence(struct eml_client *c, int final, uint8_t **out, size_t *len);
void eml_client_evidence_free(uint8_t *p, size_t len);
const char *eml_client_detail(const struct eml_client *c);
void eml_client_close(struct eml_client *c);
"""

ffi = cffi.FFI()
ffi.cdef(CDEF)

_SONAMES = ("libeml.so.0", "libeml.so")


def _candidates() -> List[Path]:
    """Where libeml may be, in the order it is looked for."""
    out: List[Path] = []
    env = os.environ.get("EML_LIBRARY")
    if env:
        return [Path(env)]
    prefix = os.environ.get("EML_PREFIX")
    if prefix:
        out += [Path(prefix) / "lib" / n for n in _SONAMES]
    # A source checkout: python/ephemeralml/ -> <repo>/build/lib.
    here = Path(__file__).resolve().parent
    for build in ("build", "build-asan"):
        out.append(here.parent.parent / build / "lib" / "libeml.so")
    # An installed prefix: the `eml` on PATH sits in <prefix>/bin.
    eml = shutil.which("eml")
    if eml:
        out += [Path(eml).resolve().parent.parent / "lib" / n for n in _SONAMES]
    for p in ("/usr/local/lib", "/usr/lib"):
        out += [Path(p) / n for n in _SONAMES]
    found = ctypes.util.find_library("eml")
    if found:
        out.append(Path(found))
    return out


def _open() -> Any:
    tried = []
    for p in _candidates():
        if not p.is_absolute() and "/" not in str(p):
            # A bare soname from find_library: let the loader search.
            try:
                return ffi.dlopen(str(p)), str(p)
            except OSError as e:
                tried.append(f"{p}: {e}")
                continue
        if not p.exists():
            tried.append(f"{p}: absent")
            continue
        try:
            return ffi.dlopen(str(p)), str(p)
        except OSError as e:
            tried.append(f"{p}: {e}")
    raise ImportError(
        "ephemeralml: libeml.so not found; set EML_LIBRARY to its path or EML_PREFIX "
        "to the `make install` prefix. Tried:\n  " + "\n  ".join(tried))


lib, LIBRARY_PATH = _open()


def optional(name: str) -> Optional[Any]:
    """A libeml function that newer libraries export, or None."""
    try:
        return getattr(lib, name)
    except AttributeError:
        return None


def cstr(p: Any) -> str:
    return "" if p == ffi.NULL else ffi.string(p).decode("utf-8", "replace")
