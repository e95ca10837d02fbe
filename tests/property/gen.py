"""Generators for the property tests (issue 20): random valid models, inputs,
attestation scenarios and host behaviours, as Hypothesis strategies.

Models are small chains over operators the engine supports (MatMul, Add,
Mul, Relu, Sigmoid, Tanh, LeakyRelu, Softmax, Gemm): depth, widths, batch,
weight distribution and every name are drawn; the values come from a numpy
generator seeded by a drawn integer (cheap, and a failing case still shrinks
to fewer, narrower layers and a smaller seed). ``reference`` evaluates the
same chain in numpy, the oracle for "it runs and answers right".
"""
from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

import numpy as np
from hypothesis import strategies as st

import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 13
UNARY = ("Relu", "Sigmoid", "Tanh", "LeakyRelu")
# Operators the engine does not implement: real ONNX ones on strings and
# sequences (the engine holds numeric tensors only) and one that is not ONNX
# at all (Det, then TfIdfVectorizer, STFT and MelWeightMatrix were here until
# the engine gained them: keep this list to operators nobody is adding).
UNSUPPORTED = ("StringNormalizer", "StringConcat", "SplitToSequence", "SequenceConstruct",
               "EmlNoSuchOperator")
DISTRIBUTIONS = ("normal", "uniform", "wide", "sparse", "tiny")

_NAME_ALPHABET = string.ascii_letters + string.digits


@dataclass
class Layer:
    kind: str          # dense, gemm, unary, scale, shift, softmax, unsupported
    op: str            # the ONNX operator
    width: int = 0     # output width (dense, gemm)
    alpha: float = 0.0  # LeakyRelu
    bias: bool = False
    node: str = ""    # its (first) node's name, set by build


@dataclass
class GenModel:
    """A generated model: ONNX bytes plus what the tests need to know."""
    onnx_bytes: bytes
    layers: List[Layer]
    batch: int
    width: int
    weights: List[np.ndarray]              # every initializer, in order
    names: List[str]                       # node, tensor and initializer names
    supported: bool
    seed: int
    inits: Dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def weight_bytes(self) -> bytes:
        return b"".join(w.tobytes() for w in self.weights)

    def input(self, seed: int, scale: float = 1.0) -> np.ndarray:
        rng = np.random.default_rng(seed)
        return (rng.standard_normal((self.batch, self.width)) * scale).astype(np.float32)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return reference(self, x)

    def intermediates(self, x: np.ndarray) -> List[np.ndarray]:
        return reference(self, x, keep=True)


def _values(rng: np.random.Generator, dist: str, shape: Tuple[int, ...]) -> np.ndarray:
    if dist == "normal":
        v = rng.standard_normal(shape) * 0.5
    elif dist == "uniform":
        v = rng.uniform(-1.0, 1.0, shape)
    elif dist == "wide":
        v = rng.standard_normal(shape) * rng.choice([1e-3, 1.0, 50.0], size=shape)
    elif dist == "sparse":
        v = rng.standard_normal(shape) * (rng.random(shape) < 0.3)
    else:  # tiny
        v = rng.standard_normal(shape) * 1e-4
    return v.astype(np.float32)


def _name(rng: np.random.Generator, prefix: str) -> str:
    # Distinctive names (12 random characters): a name seen by the host is
    # found by a plain substring search.
    tail = "".join(rng.choice(list(_NAME_ALPHABET), size=12))
    return f"{prefix}_{tail}"


def build(layers: List[Layer], batch: int, width: int, seed: int, dist: str) -> GenModel:
    rng = np.random.default_rng(seed)
    nodes, inits, names, weights = [], [], [], []
    init_map: Dict[str, np.ndarray] = {}
    cur, d = "x", width
    supported = True

    def init(prefix: str, arr: np.ndarray) -> str:
        n = _name(rng, prefix)
        inits.append(numpy_helper.from_array(arr, name=n))
        weights.append(arr)
        init_map[n] = arr
        names.append(n)
        return n

    for i, ly in enumerate(layers):
        out = "y" if i == len(layers) - 1 else _name(rng, f"t{i}")
        if out != "y":
            names.append(out)
        nn = _name(rng, f"n{i}")
        names.append(nn)
        ly.node = nn
        if ly.kind == "dense":
            w = init("W", _values(rng, dist, (d, ly.width)))
            if ly.bias:
                mid = _name(rng, f"m{i}")
                names.append(mid)
                nodes.append(helper.make_node("MatMul", [cur, w], [mid], name=nn))
                b = init("B", _values(rng, dist, (ly.width,)))
                nb = _name(rng, f"nb{i}")
                names.append(nb)
                nodes.append(helper.make_node("Add", [mid, b], [out], name=nb))
            else:
                nodes.append(helper.make_node("MatMul", [cur, w], [out], name=nn))
            d = ly.width
        elif ly.kind == "gemm":
            w = init("G", _values(rng, dist, (ly.width, d)))
            b = init("C", _values(rng, dist, (ly.width,)))
            nodes.append(helper.make_node("Gemm", [cur, w, b], [out], name=nn, transB=1))
            d = ly.width
        elif ly.kind == "unary":
            attrs = {"alpha": ly.alpha} if ly.op == "LeakyRelu" else {}
            nodes.append(helper.make_node(ly.op, [cur], [out], name=nn, **attrs))
        elif ly.kind in ("scale", "shift"):
            c = init("S" if ly.kind == "scale" else "A", _values(rng, dist, (d,)))
            nodes.append(helper.make_node(ly.op, [cur, c], [out], name=nn))
        elif ly.kind == "softmax":
            nodes.append(helper.make_node("Softmax", [cur], [out], name=nn, axis=-1))
        else:  # unsupported: shape-preserving as far as ONNX goes
            supported = False
            nodes.append(helper.make_node(ly.op, [cur], [out], name=nn))
        cur = out
    graph = helper.make_graph(
        nodes, _name(rng, "g"),
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, width])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, d])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="eml-property-gen")
    model.ir_version = 8
    return GenModel(model.SerializeToString(), layers, batch, width, weights, names,
                    supported, seed, init_map)


def reference(m: GenModel, x: np.ndarray, keep: bool = False):
    """The chain in numpy (float32 in, float64 arithmetic, float32 out)."""
    it = iter(m.weights)
    h = x.astype(np.float64)
    seen = []
    for ly in m.layers:
        if ly.kind == "dense":
            h = h @ next(it).astype(np.float64)
            if ly.bias:
                h = h + next(it)
        elif ly.kind == "gemm":
            w = next(it).astype(np.float64)
            h = h @ w.T + next(it)
        elif ly.kind == "unary":
            if ly.op == "Relu":
                h = np.maximum(h, 0.0)
            elif ly.op == "Sigmoid":
                h = 1.0 / (1.0 + np.exp(-h))
            elif ly.op == "Tanh":
                h = np.tanh(h)
            else:
                h = np.where(h >= 0.0, h, h * np.float32(ly.alpha))
        elif ly.kind == "scale":
            h = h * next(it)
        elif ly.kind == "shift":
            h = h + next(it)
        elif ly.kind == "softmax":
            e = np.exp(h - h.max(axis=-1, keepdims=True))
            h = e / e.sum(axis=-1, keepdims=True)
        else:
            raise ValueError(f"no reference for {ly.op}")
        h = h.astype(np.float32).astype(np.float64)
        seen.append(h.astype(np.float32))
    return seen if keep else h.astype(np.float32)


@st.composite
def layer_lists(draw, max_depth: int = 5, max_width: int = 24, unsupported: bool = False):
    depth = draw(st.integers(1, max_depth))
    out = []
    for _ in range(depth):
        kind = draw(st.sampled_from(("dense", "dense", "gemm", "unary", "scale", "shift",
                                     "softmax")))
        if kind == "dense":
            out.append(Layer("dense", "MatMul", width=draw(st.integers(1, max_width)),
                             bias=draw(st.booleans())))
        elif kind == "gemm":
            out.append(Layer("gemm", "Gemm", width=draw(st.integers(1, max_width))))
        elif kind == "unary":
            op = draw(st.sampled_from(UNARY))
            alpha = draw(st.sampled_from((0.01, 0.1, 0.2))) if op == "LeakyRelu" else 0.0
            out.append(Layer("unary", op, alpha=alpha))
        elif kind == "scale":
            out.append(Layer("scale", "Mul"))
        elif kind == "shift":
            out.append(Layer("shift", "Add"))
        else:
            out.append(Layer("softmax", "Softmax"))
    if unsupported:
        n = draw(st.integers(1, 2))
        for _ in range(n):
            pos = draw(st.integers(0, len(out)))
            out.insert(pos, Layer("unsupported", draw(st.sampled_from(UNSUPPORTED))))
    # At least one weight of 32 bytes or more, so the memory and
    # confidentiality scans always have a window to look for.
    if not any(ly.kind in ("dense", "gemm") for ly in out):
        out.insert(0, Layer("dense", "MatMul", width=draw(st.integers(8, max_width))))
    return out


@st.composite
def models(draw, max_depth: int = 5, max_width: int = 24, unsupported=None,
           min_width: int = 8):
    """A random model. unsupported: None (either), True or False."""
    bad = draw(st.booleans()) if unsupported is None else unsupported
    layers = draw(layer_lists(max_depth, max_width, bad))
    batch = draw(st.integers(1, 3))
    width = draw(st.integers(min_width, max_width))
    seed = draw(st.integers(0, 2**31 - 1))
    dist = draw(st.sampled_from(DISTRIBUTIONS))
    return build(layers, batch, width, seed, dist)


input_seeds = st.integers(0, 2**31 - 1)

# Attestation scenarios: what is wrong with the document or the client's
# expectation. "valid" must connect; every other one must not.
ATTEST_SCENARIOS = ("valid", "expired", "future", "wrong_pcr", "wrong_root", "tampered",
                    "wrong_nonce", "wrong_user_data", "truncated")


@st.composite
def attest_scenarios(draw):
    kind = ATTEST_SCENARIOS[draw(st.integers(0, len(ATTEST_SCENARIOS) - 1))]
    return {
        "kind": kind,
        "pcr": draw(st.integers(0, 2)),               # which PCR is wrong
        "bit": draw(st.integers(0, 383)),             # which bit of it
        "offset": draw(st.floats(0.0, 1.0)),          # where a byte is flipped / cut
        "xor": draw(st.integers(1, 255)),
        "age": draw(st.integers(301, 10**6)),          # seconds too old / in the future
    }


# Host behaviours: what a hostile relay does to one frame of a session.
HOST_ACTIONS = ("pass", "drop", "delay", "reorder", "replay", "flip", "truncate",
                "other_blob", "close")


@st.composite
def host_behaviours(draw):
    return {
        "action": HOST_ACTIONS[draw(st.integers(0, len(HOST_ACTIONS) - 1))],
        "direction": draw(st.sampled_from(("up", "down"))),   # client->agent or back
        "frame": draw(st.integers(0, 6)),                     # which frame of the session
        "offset": draw(st.floats(0.0, 1.0)),
        "xor": draw(st.integers(1, 255)),
        "delay_ms": draw(st.integers(1, 40)),
    }
