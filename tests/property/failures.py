"""Failing requests the tests provoke, each through the real system."""
from __future__ import annotations

import hashlib

import numpy as np

import gen

from world import Client, World, errors, sim_pcr

KINDS = ("bad_shape", "bad_dtype", "bad_name", "other_blob", "missing_blob", "cut_response",
         "cut_request", "bad_policy")


def provoke(w: World, kind: str, mdir, x: np.ndarray, other_mdir, client=None):
    """Run one request that must fail with `kind`; returns the EmlError (or
    None when it answered, which the caller treats as a failure of the
    property). client: an open Client to use (a fresh one otherwise)."""
    if other_mdir == mdir:
        # The generator drew the same model twice: another blob is needed.
        other_mdir = w.split(gen.build([gen.Layer("dense", "MatMul", width=5)], 1, 5, 7,
                                       "uniform"))
    store = w.dir / "store" / hashlib.sha256((mdir / "weights.sealed").read_bytes()).hexdigest()
    saved = None
    inputs = {"x": x}
    policy = w.policy
    if kind == "bad_shape":
        inputs = {"x": np.concatenate([x, x[:, :1]], axis=1)}
    elif kind == "bad_dtype":
        inputs = {"x": x.astype(np.float64)}
    elif kind == "bad_name":
        inputs = {"x_" + "q" * 5: x}
    elif kind in ("other_blob", "missing_blob"):
        saved = store.read_bytes()
        if kind == "other_blob":
            store.write_bytes((other_mdir / "weights.sealed").read_bytes())
        else:
            store.unlink()
    elif kind in ("cut_response", "cut_request"):
        w.client_relay.behaviour = {"action": "close", "frame": 1,
                                    "direction": "down" if kind == "cut_response" else "up"}
        client = None
    elif kind == "bad_policy":
        pcrs = {i: sim_pcr(i) for i in range(3)}
        pcrs[0] = "00" * 48
        policy = w.write_policy(w.dir / "bad.json", pcrs=pcrs)
        client = None
    try:
        if client is not None:
            client.infer(inputs, model=str(mdir))
        else:
            with Client(w.addr, str(policy), timeout_ms=3000) as c:
                c.infer(inputs, model=str(mdir))
        return None
    except errors.EmlError as e:
        return e
    finally:
        if saved is not None:
            store.write_bytes(saved)
        if getattr(w, "client_relay", None) is not None:
            w.client_relay.behaviour = None
