#!/usr/bin/env python3
"""Bench models for `make bench` (engine vs ONNX Runtime), built with python3-onnx.

    bench_models.py gen OUTDIR [--only NAME...]   write OUTDIR/<name>/{model.onnx,input_0.pb}
    bench_models.py input NAME FILE               write only the input tensor of NAME
    bench_models.py shapes MODEL.onnx             print the GEMM shapes of a model
    bench_models.py compare REFDIR GOTDIR         compare output_*.pb (ours vs reference)
    bench_models.py check MODEL IN.pb OUT.pb      evaluate MODEL in float64 numpy, compare

Everything is deterministic: weights and inputs come from numpy's legacy
RandomState (its stream is frozen by numpy's compatibility policy) with fixed
seeds, and the model files carry fixed producer fields, so the same onnx
version writes the same bytes. The models are never committed: they are
rebuilt at bench time into $BUILD/bench-models/.

The shapes are the ones real models use, and the graphs look like exporter
output (explicit BatchNormalization after every Conv, weights as
initializers, MatMul + Add projections, Erf GELU), not like a pre-fused graph:
the engine has to do its own folding, as it will on users' models.
"""

import argparse
import hashlib
import math
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PRODUCER = "ephemeralml-bench"
PRODUCER_VERSION = "1"
IR_VERSION = 8  # what onnx 1.12 writes; every ORT release since 1.11 reads it

TEXTCLS_SHAPE = (1, 3, 48, 192)


def shared_dir():
    return os.environ.get("EML_TESTDATA") or os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "testdata")


class Builder:
    """Collects nodes and initializers with unique, exporter-like names."""

    def __init__(self, seed):
        self.rng = np.random.RandomState(seed)
        self.nodes = []
        self.inits = []
        self.count = {}

    def name(self, base):
        n = self.count.get(base, 0)
        self.count[base] = n + 1
        return "%s_%d" % (base, n)

    def init(self, base, arr):
        nm = self.name(base)
        self.inits.append(numpy_helper.from_array(arr, nm))
        return nm

    def node(self, op, inputs, nout=1, **attrs):
        nm = self.name(op)
        outs = ["%s_out%d" % (nm, i) for i in range(nout)]
        self.nodes.append(helper.make_node(op, inputs, outs, name=nm, **attrs))
        return outs[0] if nout == 1 else outs

    def uniform(self, shape, lo, hi):
        return self.rng.uniform(lo, hi, size=shape).astype(np.float32)

    def normal(self, shape, std):
        return (self.rng.standard_normal(size=shape) * std).astype(np.float32)


# ------------------------------------------------------------------ resnet

def conv_bn(b, x, cin, cout, k, stride, relu, gamma=(0.5, 1.0)):
    """Conv (no bias, as exporters write it before a BN) + BatchNormalization [+ Relu]."""
    w = b.init("conv_w", b.normal((cout, cin, k, k), math.sqrt(2.0 / (cin * k * k))))
    p = k // 2
    y = b.node("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
               pads=[p, p, p, p], dilations=[1, 1], group=1)
    scale = b.init("bn_scale", b.uniform((cout,), *gamma))
    bias = b.init("bn_bias", b.uniform((cout,), -0.1, 0.1))
    mean = b.init("bn_mean", b.uniform((cout,), -0.1, 0.1))
    var = b.init("bn_var", b.uniform((cout,), 0.5, 1.5))
    y = b.node("BatchNormalization", [y, scale, bias, mean, var], epsilon=1e-5, momentum=0.9)
    if relu:
        y = b.node("Relu", [y])
    return y


def basic_block(b, x, cin, cout, stride):
    y = conv_bn(b, x, cin, cout, 3, stride, True)
    # A small last gamma keeps the residual sum from growing block after block,
    # as trained ResNets do, so outputs stay in a range where a relative
    # tolerance means something.
    y = conv_bn(b, y, cout, cout, 3, 1, False, gamma=(0.2, 0.5))
    if stride != 1 or cin != cout:
        x = conv_bn(b, x, cin, cout, 1, stride, False)
    return b.node("Relu", [b.node("Add", [y, x])])


def make_resnet():
    """ResNet-18 at 224x224: 1.8 GFLOP-class conv stack, opset 13."""
    b = Builder(seed=18)
    x = conv_bn(b, "input", 3, 64, 7, 2, True)
    x = b.node("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        x = basic_block(b, x, cin, cout, stride)
        x = basic_block(b, x, cout, cout, 1)
        cin = cout
    x = b.node("GlobalAveragePool", [x])
    x = b.node("Flatten", [x], axis=1)
    w = b.init("fc_w", b.normal((1000, 512), math.sqrt(1.0 / 512)))
    bias = b.init("fc_b", b.uniform((1000,), -0.1, 0.1))
    b.nodes.append(helper.make_node("Gemm", [x, w, bias], ["logits"], name="fc",
                                    alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(
        b.nodes, "resnet18",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 224, 224])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1000])],
        initializer=b.inits)
    inp = np.random.RandomState(1018).uniform(-1.0, 1.0, (1, 3, 224, 224)).astype(np.float32)
    return finish(graph, 13), {"input": inp}


# ------------------------------------------------------------- transformer

TF_SEQ = 128
TF_D = 384
TF_HEADS = 6
TF_FFN = 4 * TF_D
TF_LAYERS = 6


def linear(b, x, din, dout):
    """x @ W + b as torch.onnx writes nn.Linear on a 3-D input: MatMul then Add."""
    w = b.init("linear_w", b.normal((din, dout), math.sqrt(1.0 / din)))
    bias = b.init("linear_b", b.uniform((dout,), -0.05, 0.05))
    return b.node("Add", [b.node("MatMul", [x, w]), bias])


def layernorm(b, x, d, decomposed):
    gamma = b.init("ln_g", b.uniform((d,), 0.8, 1.2))
    beta = b.init("ln_b", b.uniform((d,), -0.1, 0.1))
    if not decomposed:
        return b.node("LayerNormalization", [x, gamma, beta], axis=-1, epsilon=1e-12)
    # The form opset < 17 exporters write.
    mean = b.node("ReduceMean", [x], axes=[-1], keepdims=1)
    xc = b.node("Sub", [x, mean])
    two = b.init("two", np.array(2.0, dtype=np.float32))
    var = b.node("ReduceMean", [b.node("Pow", [xc, two])], axes=[-1], keepdims=1)
    eps = b.init("eps", np.array(1e-12, dtype=np.float32))
    y = b.node("Div", [xc, b.node("Sqrt", [b.node("Add", [var, eps])])])
    return b.node("Add", [b.node("Mul", [y, gamma]), beta])


def gelu(b, x):
    """Exact GELU as torch exports it: x * 0.5 * (1 + erf(x / sqrt(2)))."""
    r2 = b.init("sqrt2", np.array(math.sqrt(2.0), dtype=np.float32))
    one = b.init("one", np.array(1.0, dtype=np.float32))
    half = b.init("half", np.array(0.5, dtype=np.float32))
    e = b.node("Add", [b.node("Erf", [b.node("Div", [x, r2])]), one])
    return b.node("Mul", [b.node("Mul", [x, e]), half])


def encoder_layer(b, x, decomposed):
    d, h = TF_D, TF_HEADS
    dh = d // h
    split = b.init("heads_shape", np.array([1, -1, h, dh], dtype=np.int64))
    merge = b.init("merge_shape", np.array([1, -1, d], dtype=np.int64))
    q = b.node("Transpose", [b.node("Reshape", [linear(b, x, d, d), split])], perm=[0, 2, 1, 3])
    k = b.node("Transpose", [b.node("Reshape", [linear(b, x, d, d), split])], perm=[0, 2, 3, 1])
    v = b.node("Transpose", [b.node("Reshape", [linear(b, x, d, d), split])], perm=[0, 2, 1, 3])
    scale = b.init("attn_scale", np.array(math.sqrt(dh), dtype=np.float32))
    s = b.node("Div", [b.node("MatMul", [q, k]), scale])
    p = b.node("Softmax", [s], axis=-1)
    ctx = b.node("Transpose", [b.node("MatMul", [p, v])], perm=[0, 2, 1, 3])
    ctx = b.node("Reshape", [ctx, merge])
    x = layernorm(b, b.node("Add", [linear(b, ctx, d, d), x]), d, decomposed)
    f = linear(b, gelu(b, linear(b, x, d, TF_FFN)), TF_FFN, d)
    return layernorm(b, b.node("Add", [f, x]), d, decomposed)


def make_transformer(decomposed=False):
    """BERT-style post-LN encoder on [1, 128, 384] embeddings, 6 layers, 6 heads, opset 17."""
    b = Builder(seed=128 + (1 if decomposed else 0))
    x = "embeddings"
    for _ in range(TF_LAYERS):
        x = encoder_layer(b, x, decomposed)
    b.nodes.append(helper.make_node("Identity", [x], ["last_hidden_state"], name="output"))
    graph = helper.make_graph(
        b.nodes, "encoder",
        [helper.make_tensor_value_info("embeddings", TensorProto.FLOAT, [1, TF_SEQ, TF_D])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [1, TF_SEQ, TF_D])],
        initializer=b.inits)
    inp = np.random.RandomState(2128).standard_normal((1, TF_SEQ, TF_D)).astype(np.float32)
    return finish(graph, 17), {"embeddings": inp}


# -------------------------------------------------------- mobile detector

MOBILE_SIZE = 320

# MobileNetV3-large at width 0.5 as text detectors use it as a backbone:
# (kernel, expanded channels, output channels, squeeze-excite, hard-swish, stride).
MOBILE_BLOCKS = (
    (3, 8, 8, False, False, 1),
    (3, 32, 16, False, False, 2),
    (3, 40, 16, False, False, 1),
    (5, 40, 24, True, False, 2),
    (5, 64, 24, True, False, 1),
    (5, 64, 24, True, False, 1),
    (3, 120, 40, False, True, 2),
    (3, 104, 40, False, True, 1),
    (3, 96, 40, False, True, 1),
    (3, 96, 40, False, True, 1),
    (3, 240, 56, True, True, 1),
    (3, 336, 56, True, True, 1),
    (5, 336, 80, True, True, 2),
    (5, 480, 80, True, True, 1),
    (5, 480, 80, True, True, 1),
)


def conv_bn_act(b, x, cin, cout, k, stride, act, group=1):
    """Conv (no bias) + BatchNormalization [+ Relu or HardSwish], exporter style."""
    w = b.init("conv_w", b.normal((cout, cin // group, k, k),
                                  math.sqrt(2.0 / (cin // group * k * k))))
    p = k // 2
    y = b.node("Conv", [x, w], kernel_shape=[k, k], strides=[stride, stride],
               pads=[p, p, p, p], dilations=[1, 1], group=group)
    scale = b.init("bn_scale", b.uniform((cout,), 0.5, 1.0))
    bias = b.init("bn_bias", b.uniform((cout,), -0.1, 0.1))
    mean = b.init("bn_mean", b.uniform((cout,), -0.1, 0.1))
    var = b.init("bn_var", b.uniform((cout,), 0.5, 1.5))
    y = b.node("BatchNormalization", [y, scale, bias, mean, var], epsilon=1e-5, momentum=0.9)
    if act == "relu":
        y = b.node("Relu", [y])
    elif act == "hswish":
        y = b.node("HardSwish", [y])
    return y


def squeeze_excite(b, x, c):
    """GlobalAveragePool, 1x1 reduce + Relu, 1x1 expand + HardSigmoid, scale."""
    r = max(8, c // 4)
    s = b.node("GlobalAveragePool", [x])
    w1 = b.init("se_w", b.normal((r, c, 1, 1), math.sqrt(2.0 / c)))
    b1 = b.init("se_b", b.uniform((r,), -0.1, 0.1))
    s = b.node("Relu", [b.node("Conv", [s, w1, b1], kernel_shape=[1, 1])])
    w2 = b.init("se_w", b.normal((c, r, 1, 1), math.sqrt(1.0 / r)))
    b2 = b.init("se_b", b.uniform((c,), -0.1, 0.1))
    s = b.node("HardSigmoid", [b.node("Conv", [s, w2, b2], kernel_shape=[1, 1])],
               alpha=0.2, beta=0.5)
    return b.node("Mul", [x, s])


def inverted_residual(b, x, cin, blk):
    k, exp, cout, se, hs, stride = blk
    act = "hswish" if hs else "relu"
    y = x
    if exp != cin:
        y = conv_bn_act(b, y, cin, exp, 1, 1, act)
    y = conv_bn_act(b, y, exp, exp, k, stride, act, group=exp)
    if se:
        y = squeeze_excite(b, y, exp)
    y = conv_bn_act(b, y, exp, cout, 1, 1, None)
    if stride == 1 and cin == cout:
        y = b.node("Add", [x, y])
    return y


def upsample(b, x, factor):
    scales = b.init("resize_scales", np.array([1, 1, factor, factor], dtype=np.float32))
    return b.node("Resize", [x, "", scales], mode="nearest",
                  coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def make_mobile_det():
    """A DB-style text detector on a 320x320 image, opset 14: MobileNetV3 backbone
    (depthwise separable blocks, hard-swish, squeeze-excite), an FPN neck with
    nearest Resize, a head with two 2x2/2 ConvTranspose and a sigmoid map."""
    b = Builder(seed=320)
    x = conv_bn_act(b, "image", 3, 8, 3, 2, "hswish")
    cin, feats = 8, []
    for i, blk in enumerate(MOBILE_BLOCKS):
        # The stride-4/8/16 features are taken before the next downsampling.
        if blk[5] == 2 and i > 1:
            feats.append((x, cin))
        x = inverted_residual(b, x, cin, blk)
        cin = blk[2]
    x = conv_bn_act(b, x, cin, 240, 1, 1, "hswish")
    feats.append((x, 240))
    inner = 48
    lat = []
    for f, c in feats:
        w = b.init("fpn_in_w", b.normal((inner, c, 1, 1), math.sqrt(1.0 / c)))
        lat.append(b.node("Conv", [f, w], kernel_shape=[1, 1]))
    # Top-down: each coarser map upsampled x2 and added to the finer one.
    for i in range(len(lat) - 1, 0, -1):
        lat[i - 1] = b.node("Add", [lat[i - 1], upsample(b, lat[i], 2.0)])
    outs = []
    for i, f in enumerate(lat):
        w = b.init("fpn_out_w", b.normal((inner // 4, inner, 3, 3), math.sqrt(1.0 / (9 * inner))))
        y = b.node("Conv", [f, w], kernel_shape=[3, 3], pads=[1, 1, 1, 1])
        if i:
            y = upsample(b, y, float(2 ** i))
        outs.append(y)
    x = b.node("Concat", outs, axis=1)
    x = conv_bn_act(b, x, inner, inner // 4, 3, 1, "relu")
    w = b.init("deconv_w", b.normal((inner // 4, inner // 4, 2, 2), math.sqrt(1.0 / inner)))
    bias = b.init("deconv_b", b.uniform((inner // 4,), -0.1, 0.1))
    x = b.node("Relu", [b.node("ConvTranspose", [x, w, bias], kernel_shape=[2, 2],
                               strides=[2, 2])])
    w = b.init("deconv_w", b.normal((inner // 4, 1, 2, 2), math.sqrt(4.0 / inner)))
    bias = b.init("deconv_b", b.uniform((1,), -0.1, 0.1))
    x = b.node("ConvTranspose", [x, w, bias], kernel_shape=[2, 2], strides=[2, 2])
    b.nodes.append(helper.make_node("Sigmoid", [x], ["maps"], name="prob"))
    s = MOBILE_SIZE
    graph = helper.make_graph(
        b.nodes, "mobile_det",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, s, s])],
        [helper.make_tensor_value_info("maps", TensorProto.FLOAT, [1, 1, s, s])],
        initializer=b.inits)
    inp = np.random.RandomState(320320).uniform(-1.0, 1.0, (1, 3, s, s)).astype(np.float32)
    return finish(graph, 14), {"image": inp}
# ------------------------------------------------- int8 and float16 CNNs

QCNN_SHAPE = (1, 3, 112, 112)
# (cout, stride) of the 3x3 conv + Relu stack, then GlobalAveragePool and a
# 10-way Gemm: about 0.35 GOP.
QCNN_LAYERS = ((32, 2), (64, 1), (64, 2), (128, 1), (128, 2))


def qcnn_input():
    return np.random.RandomState(8112).uniform(-1.0, 1.0, QCNN_SHAPE).astype(np.float32)


def qcnn_weights():
    """The float weights both CNNs share (He-scaled, small biases)."""
    rng = np.random.RandomState(19)
    cin, ws = 3, []
    for cout, stride in QCNN_LAYERS:
        w = (rng.standard_normal((cout, cin, 3, 3)) * math.sqrt(2.0 / (cin * 9))).astype(np.float32)
        bias = rng.uniform(-0.1, 0.1, (cout,)).astype(np.float32)
        ws.append((w, bias, stride))
        cin = cout
    fc_w = (rng.standard_normal((10, cin)) * math.sqrt(1.0 / cin)).astype(np.float32)
    fc_b = rng.uniform(-0.1, 0.1, (10,)).astype(np.float32)
    return ws, fc_w, fc_b


def _conv_f32(x, w, bias, stride):
    xp = _pad(x.astype(np.float32), (1, 1, 1, 1))
    win = _windows(xp, 3, 3, stride)
    return np.einsum("nchwij,ocij->nohw", win, w, optimize=True) + bias[None, :, None, None]


def _scale_u8(hi):
    """Scale of a uint8 tensor with zero point 0 covering [0, hi]."""
    return np.float32(max(float(hi), 1e-6) / 255.0)


def make_qdq_cnn():
    """The CNN in QDQ form, as ONNX Runtime's static quantizer writes it:
    int8 input and uint8 activations (per-tensor, calibrated on the bench
    input), 7-bit int8 weights with per-channel scales (symmetric), int32
    biases, each Conv
    between DequantizeLinear and QuantizeLinear; the pooling and the
    classifier stay float."""
    ws, fc_w, fc_b = qcnn_weights()
    x = qcnn_input()
    b = Builder(seed=0)
    # Calibration: the float model's ranges on the input.
    in_scale = np.float32(float(np.abs(x).max()) / 127.0)
    ranges, a = [], x
    for w, bias, stride in ws:
        a = np.maximum(_conv_f32(a, w, bias, stride), 0)
        ranges.append(float(a.max()))
    # Input: int8 symmetric (zero point 0), then dequantized.
    s_in = b.init("x_scale", np.array(in_scale, np.float32))
    z_in = b.init("x_zero_point", np.array(0, np.int8))
    q = b.node("QuantizeLinear", ["input", s_in, z_in])
    act_scale, act_zp = s_in, z_in
    act_s = float(in_scale)
    h = b.node("DequantizeLinear", [q, act_scale, act_zp])
    for (w, bias, stride), hi in zip(ws, ranges):
        cout = w.shape[0]
        # 7-bit weights (the quantizer's reduce_range): two products of a
        # uint8 activation fit vpmaddubsw's int16, so ONNX Runtime's AVX2
        # kernel is exact on them and so is ours (and takes that kernel).
        w_s = (np.abs(w).reshape(cout, -1).max(axis=1) / 63.0).astype(np.float32)
        w_q = np.clip(np.rint(w / w_s[:, None, None, None]), -63, 63).astype(np.int8)
        b_s = (np.float32(act_s) * w_s).astype(np.float32)
        b_q = np.rint(bias / b_s).astype(np.int32)
        wq = b.init("w_quantized", w_q)
        wsn = b.init("w_scale", w_s)
        wz = b.init("w_zero_point", np.zeros((cout,), np.int8))
        wf = b.node("DequantizeLinear", [wq, wsn, wz], axis=0)
        bq = b.init("b_quantized", b_q)
        bsn = b.init("b_scale", b_s)
        bz = b.init("b_zero_point", np.zeros((cout,), np.int32))
        bf = b.node("DequantizeLinear", [bq, bsn, bz], axis=0)
        y = b.node("Conv", [h, wf, bf], kernel_shape=[3, 3], strides=[stride, stride],
                   pads=[1, 1, 1, 1], dilations=[1, 1], group=1)
        y = b.node("Relu", [y])
        s_y = _scale_u8(hi)
        ysn = b.init("y_scale", np.array(s_y, np.float32))
        yz = b.init("y_zero_point", np.array(0, np.uint8))
        q = b.node("QuantizeLinear", [y, ysn, yz])
        h = b.node("DequantizeLinear", [q, ysn, yz])
        act_s = float(s_y)
    h = b.node("GlobalAveragePool", [h])
    h = b.node("Flatten", [h], axis=1)
    w = b.init("fc_w", fc_w)
    bias = b.init("fc_b", fc_b)
    b.nodes.append(helper.make_node("Gemm", [h, w, bias], ["logits"], name="fc",
                                    alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(
        b.nodes, "qdq_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, list(QCNN_SHAPE))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=b.inits)
    return finish(graph, 13), {"input": x}


def make_f16_cnn():
    """The CNN in float16: input, weights, activations and output."""
    ws, fc_w, fc_b = qcnn_weights()
    b = Builder(seed=0)
    h = "input"
    for w, bias, stride in ws:
        wn = b.init("conv_w", w.astype(np.float16))
        bn = b.init("conv_b", bias.astype(np.float16))
        h = b.node("Conv", [h, wn, bn], kernel_shape=[3, 3], strides=[stride, stride],
                   pads=[1, 1, 1, 1], dilations=[1, 1], group=1)
        h = b.node("Relu", [h])
    h = b.node("GlobalAveragePool", [h])
    h = b.node("Flatten", [h], axis=1)
    w = b.init("fc_w", fc_w.astype(np.float16))
    bias = b.init("fc_b", fc_b.astype(np.float16))
    b.nodes.append(helper.make_node("Gemm", [h, w, bias], ["logits"], name="fc",
                                    alpha=1.0, beta=1.0, transB=1))
    graph = helper.make_graph(
        b.nodes, "f16_cnn",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT16, list(QCNN_SHAPE))],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT16, [1, 10])],
        initializer=b.inits)
    return finish(graph, 13), {"input": qcnn_input().astype(np.float16)}


# ------------------------------------------------------------ text model

def textcls_input():
    # A text-line image normalised to [-1, 1], the model's input range.
    return np.random.RandomState(48192).uniform(-1.0, 1.0, TEXTCLS_SHAPE).astype(np.float32)


def finish(graph, opset):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)],
                          producer_name=PRODUCER, producer_version=PRODUCER_VERSION)
    m.ir_version = IR_VERSION
    onnx.checker.check_model(m)
    return m


# ------------------------------------------------------------ issue 19

def make_lstm_gru_bidi():
    """Bidirectional LSTM then bidirectional GRU (linear_before_reset) over a
    batch of three sequences of lengths 6, 4 and 1 (sequence_lens), with
    initial states; the rows past their length are zeros in Y and the
    states stop at each row's own last step, in both directions."""
    b = Builder(1901)
    T, B, I, H1, H2 = 6, 3, 8, 16, 8
    W1 = b.init("lstm_W", b.normal((2, 4 * H1, I), 0.3))
    R1 = b.init("lstm_R", b.normal((2, 4 * H1, H1), 0.3))
    B1 = b.init("lstm_B", b.normal((2, 8 * H1), 0.1))
    h1 = b.init("lstm_h0", b.normal((2, B, H1), 0.5))
    c1 = b.init("lstm_c0", b.normal((2, B, H1), 0.5))
    y1, yh1, _ = b.node("LSTM", ["x", W1, R1, B1, "seq_lens", h1, c1], nout=3,
                        hidden_size=H1, direction="bidirectional")
    # [T, 2, B, H1] -> [T, B, 2 * H1], the usual stacking of a bidirectional layer.
    t = b.node("Transpose", [y1], perm=[0, 2, 1, 3])
    shape = b.init("shape", np.array([T, B, 2 * H1], np.int64))
    x2 = b.node("Reshape", [t, shape])
    W2 = b.init("gru_W", b.normal((2, 3 * H2, 2 * H1), 0.3))
    R2 = b.init("gru_R", b.normal((2, 3 * H2, H2), 0.3))
    B2 = b.init("gru_B", b.normal((2, 6 * H2), 0.1))
    y2, yh2 = b.node("GRU", [x2, W2, R2, B2, "seq_lens"], nout=2, hidden_size=H2,
                     direction="bidirectional", linear_before_reset=1)
    b.nodes[-1].output[0] = "gru_y"
    b.nodes[0].output[1] = "lstm_h"
    graph = helper.make_graph(
        b.nodes, "lstm_gru_bidi",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [T, B, I]),
         helper.make_tensor_value_info("seq_lens", TensorProto.INT32, [B])],
        [helper.make_tensor_value_info("gru_y", TensorProto.FLOAT, [T, 2, B, H2]),
         helper.make_tensor_value_info("lstm_h", TensorProto.FLOAT, [2, B, H1])],
        b.inits)
    x = np.random.RandomState(1902).standard_normal((T, B, I)).astype(np.float32)
    return finish(graph, 14), {"x": x, "seq_lens": np.array([6, 4, 1], np.int32)}


def make_detector_head():
    """A detector's post-processing: per-anchor boxes and class scores from
    a projection, the top 24 anchors by best class score (TopK + Gather),
    then NonMaxSuppression per class; outputs the selected indices and the
    top-k scores."""
    b = Builder(1903)
    A, F, C, K = 64, 16, 3, 24
    W = b.init("head_W", b.normal((F, 4 + C), 0.6))
    proj = b.node("MatMul", ["feats", W])  # [1, A, 4 + C]
    split = b.init("split", np.array([4, C], np.int64))
    raw_box, raw_cls = b.node("Split", [proj, split], nout=2, axis=2)
    scale = b.init("scale", np.array(100.0, np.float32))
    boxes = b.node("Mul", [b.node("Sigmoid", [raw_box]), scale])  # corners in [0, 100]
    scores = b.node("Sigmoid", [raw_cls])  # [1, A, C]
    best = b.node("ReduceMax", [scores], axes=[2], keepdims=0)  # [1, A]
    k = b.init("k", np.array([K], np.int64))
    topv, topi = b.node("TopK", [best, k], nout=2, axis=1)
    b.nodes[-1].output[0] = "top_scores"
    idx = b.node("Squeeze", [topi, b.init("axes0", np.array([0], np.int64))])  # [K]
    kb = b.node("Gather", [boxes, idx], axis=1)  # [1, K, 4]
    ks = b.node("Gather", [scores, idx], axis=1)  # [1, K, C]
    kst = b.node("Transpose", [ks], perm=[0, 2, 1])  # [1, C, K]
    mo = b.init("max_out", np.array([5], np.int64))
    iou = b.init("iou", np.array([0.4], np.float32))
    sth = b.init("score_thr", np.array([0.3], np.float32))
    b.node("NonMaxSuppression", [kb, kst, mo, iou, sth])
    b.nodes[-1].output[0] = "selected"
    graph = helper.make_graph(
        b.nodes, "detector_head",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, [1, A, F])],
        [helper.make_tensor_value_info("selected", TensorProto.INT64, [None, 3]),
         helper.make_tensor_value_info("top_scores", TensorProto.FLOAT, [1, K])],
        b.inits)
    x = np.random.RandomState(1904).standard_normal((1, A, F)).astype(np.float32)
    return finish(graph, 13), {"feats": x}


def make_if_loop():
    """Control flow reading outer-scope values: h = Relu(x W) is computed
    once outside; a Loop of n (an int64 scalar input) iterations adds
    h * (i + 1) * w_step (w_step an outer initializer) to a carried
    accumulator and emits each step's row sums as a scan output; an If on
    whether the accumulator's sum is positive projects it with one of two
    weight matrices held by the branches themselves, each branch also
    reading h."""
    b = Builder(1905)
    N, F, H, O = 4, 8, 8, 3
    W = b.init("W", b.normal((F, H), 0.5))
    h = b.node("Relu", [b.node("MatMul", ["x", W])])  # [N, H], outer
    w_step = b.init("w_step", b.normal((1, H), 0.5))
    acc0 = b.init("acc0", np.zeros((N, H), np.float32))
    one = b.init("one", np.array(1.0, np.float32))
    axis1 = b.init("axis1", np.array([1], np.int64))
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["i_f"], to=TensorProto.FLOAT),
         helper.make_node("Add", ["i_f", one], ["k"]),
         helper.make_node("Mul", [h, "k"], ["hk"]),
         helper.make_node("Mul", ["hk", w_step], ["step"]),
         helper.make_node("Add", ["acc_in", "step"], ["acc_out"]),
         helper.make_node("ReduceSum", ["acc_out", axis1], ["rows"], keepdims=0),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "loop_body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, [N, H])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, [N, H]),
         helper.make_tensor_value_info("rows", TensorProto.FLOAT, [N])])
    b.nodes.append(helper.make_node("Loop", ["n", "", acc0], ["acc", "sums"], name="loop",
                                    body=body))
    zero = b.init("zero", np.array(0.0, np.float32))
    cond = b.node("Greater", [b.node("ReduceSum", ["acc"], keepdims=0), zero])

    def branch(name, scale):
        wb = numpy_helper.from_array(b.normal((H, O), scale), name + "_W")
        return helper.make_graph(
            [helper.make_node("Add", ["acc", h], [name + "_a"]),
             helper.make_node("MatMul", [name + "_a", name + "_W"], [name + "_y"])],
            name, [], [helper.make_tensor_value_info(name + "_y", TensorProto.FLOAT, [N, O])],
            [wb])
    b.nodes.append(helper.make_node("If", [cond], ["y"], name="if",
                                    then_branch=branch("pos", 0.4),
                                    else_branch=branch("neg", -0.4)))
    graph = helper.make_graph(
        b.nodes, "if_loop",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [N, F]),
         helper.make_tensor_value_info("n", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [N, O]),
         helper.make_tensor_value_info("sums", TensorProto.FLOAT, [None, N])],
        b.inits)
    x = np.random.RandomState(1906).standard_normal((N, F)).astype(np.float32)
    return finish(graph, 13), {"x": x, "n": np.array(3, np.int64)}


def make_vad_if_lstm():
    """Shaped like a widely used voice-activity model: an int64 scalar
    sample rate picks, through an If, one of two LSTM stacks (each branch
    holds its own weights and reads the outer features); a projection and
    a sigmoid give the speech probability."""
    b = Builder(1907)
    T, B, I, H = 10, 1, 16, 12
    feats = b.node("Tanh", ["audio"])  # [T, B, I], outer

    def branch(name, seed):
        r = np.random.RandomState(seed)
        w = numpy_helper.from_array((r.standard_normal((1, 4 * H, I)) * 0.3).astype(np.float32),
                                    name + "_W")
        rr = numpy_helper.from_array((r.standard_normal((1, 4 * H, H)) * 0.3).astype(np.float32),
                                     name + "_R")
        bb = numpy_helper.from_array((r.standard_normal((1, 8 * H)) * 0.1).astype(np.float32),
                                     name + "_B")
        return helper.make_graph(
            [helper.make_node("LSTM", [feats, name + "_W", name + "_R", name + "_B"],
                              ["", name + "_h"], hidden_size=H)],
            name, [], [helper.make_tensor_value_info(name + "_h", TensorProto.FLOAT, [1, B, H])],
            [w, rr, bb])
    is16k = b.node("Equal", ["sr", b.init("sr16k", np.array(16000, np.int64))])
    b.nodes.append(helper.make_node("If", [is16k], ["state"], name="if_sr",
                                    then_branch=branch("lstm16k", 1908),
                                    else_branch=branch("lstm8k", 1909)))
    flat = b.node("Reshape", ["state", b.init("shape", np.array([B, H], np.int64))])
    Wo = b.init("W_out", b.normal((H, 1), 0.5))
    b.node("Sigmoid", [b.node("MatMul", [flat, Wo])])
    b.nodes[-1].output[0] = "prob"
    graph = helper.make_graph(
        b.nodes, "vad_if_lstm",
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [T, B, I]),
         helper.make_tensor_value_info("sr", TensorProto.INT64, [])],
        [helper.make_tensor_value_info("prob", TensorProto.FLOAT, [B, 1])],
        b.inits)
    x = np.random.RandomState(1910).standard_normal((T, B, I)).astype(np.float32)
    return finish(graph, 14), {"audio": x, "sr": np.array(16000, np.int64)}


MODELS = {
    "if-loop": make_if_loop,
    "vad-if-lstm": make_vad_if_lstm,
    "lstm-gru-bidi": make_lstm_gru_bidi,
    "detector-head": make_detector_head,
    "resnet": make_resnet,
    "transformer": make_transformer,
    "transformer-decomposed": lambda: make_transformer(decomposed=True),
    "mobile-det": make_mobile_det,
    "qdq-cnn": make_qdq_cnn,
    "f16-cnn": make_f16_cnn,
}
DEFAULT = ["resnet", "transformer", "text-direction-cls", "mobile-det"]


def write_tensor(arr, name, path):
    with open(path, "wb") as f:
        f.write(numpy_helper.from_array(arr, name).SerializeToString())


def gen_one(name, outdir):
    d = os.path.join(outdir, name)
    os.makedirs(d, exist_ok=True)
    if name == "text-direction-cls":
        src = os.path.join(shared_dir(), "models", "text-direction-cls.onnx")
        if not os.path.exists(src):
            raise SystemExit("bench_models: %s not found (set EML_TESTDATA)" % src)
        shutil.copyfile(src, os.path.join(d, "model.onnx"))
        write_tensor(textcls_input(), "x", os.path.join(d, "input_0.pb"))
        return
    model, inputs = MODELS[name]()
    # Write to a temporary name first so an interrupted run never leaves a
    # truncated model that a later run would take as present.
    tmp = os.path.join(d, "model.onnx.tmp")
    onnx.save(model, tmp)
    for i, (iname, arr) in enumerate(inputs.items()):
        write_tensor(arr, iname, os.path.join(d, "input_%d.pb" % i))
    os.replace(tmp, os.path.join(d, "model.onnx"))
    with open(os.path.join(d, "model.onnx"), "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    print("bench_models: %s/model.onnx sha256=%s" % (d, digest))


def cmd_gen(args):
    for name in args.only or DEFAULT:
        if name not in MODELS and name != "text-direction-cls":
            raise SystemExit("bench_models: unknown model %s" % name)
        gen_one(name, args.outdir)
    return 0


def cmd_input(args):
    if args.name == "text-direction-cls":
        write_tensor(textcls_input(), "x", args.file)
        return 0
    _, inputs = MODELS[args.name]()
    iname, arr = next(iter(inputs.items()))
    write_tensor(arr, iname, args.file)
    return 0


# ------------------------------------------------------------ GEMM shapes

def cmd_shapes(args):
    """Print every Conv/MatMul/Gemm as the GEMM it becomes (M x N x K).

    Conv as im2col + GEMM per group: M = Cout/group, N = Hout*Wout, K = Cin/group*kh*kw.
    MatMul: batch x (M x K) @ (K x N). Gemm: M x N x K after transposes.
    """
    m = onnx.load(args.model)
    if args.input_shape:
        # Symbolic input dims (the text model has [N, 3, 48, W]) must be
        # pinned for shape inference to reach the Conv outputs.
        dims = [int(v) for v in args.input_shape.split(",")]
        init_names = {t.name for t in m.graph.initializer}
        real = [i for i in m.graph.input if i.name not in init_names]
        shp = real[0].type.tensor_type.shape
        if len(shp.dim) != len(dims):
            raise SystemExit("bench_models: --input-shape has %d dims, input has %d"
                             % (len(dims), len(shp.dim)))
        for d, v in zip(shp.dim, dims):
            d.dim_value = v
    m = onnx.shape_inference.infer_shapes(m)
    g = m.graph
    shapes = {}
    for vi in list(g.input) + list(g.value_info) + list(g.output):
        dims = [d.dim_value if d.HasField("dim_value") else None
                for d in vi.type.tensor_type.shape.dim]
        shapes[vi.name] = dims
    for t in g.initializer:
        shapes[t.name] = list(t.dims)
    for n in g.node:
        if n.op_type == "Constant":
            for a in n.attribute:
                if a.name == "value":
                    shapes[n.output[0]] = list(a.t.dims)
    rows = {}
    flops = 0
    for n in g.node:
        at = {a.name: helper.get_attribute_value(a) for a in n.attribute}
        row = None
        if n.op_type == "Conv":
            x, w, y = shapes.get(n.input[0]), shapes.get(n.input[1]), shapes.get(n.output[0])
            if not x or not w or not y or None in y:
                print("# %s: shape unknown" % n.name)
                continue
            grp = at.get("group", 1)
            ks = w[2:]
            kind = "depthwise" if grp > 1 and grp == x[1] else ("grouped" if grp > 1 else "")
            row = ("conv%s %dx%d/%d%s" % ("" if not kind else "-" + kind, ks[0], ks[1],
                                          at.get("strides", [1])[0],
                                          "" if grp == 1 else " g=%d" % grp),
                   grp, w[0] // grp, y[2] * y[3], w[1] * ks[0] * ks[1])
        elif n.op_type == "MatMul":
            a, bb = shapes.get(n.input[0]), shapes.get(n.input[1])
            if not a or not bb or None in a or None in bb:
                print("# %s: shape unknown" % n.name)
                continue
            batch = int(np.prod(a[:-2])) if len(a) > 2 else 1
            kind = "matmul-batched" if len(bb) > 2 else "matmul"
            row = (kind, batch, a[-2], bb[-1], a[-1])
        elif n.op_type == "Gemm":
            a, bb = shapes.get(n.input[0]), shapes.get(n.input[1])
            if not a or not bb:
                continue
            mm = a[1] if at.get("transA", 0) else a[0]
            kk = a[0] if at.get("transA", 0) else a[1]
            nn = bb[0] if at.get("transB", 0) else bb[1]
            row = ("gemm", 1, mm, nn, kk)
        if row:
            rows[row] = rows.get(row, 0) + 1
            flops += 2 * row[1] * row[2] * row[3] * row[4]
    print("%-28s %5s %6s %6s %6s %6s %9s" % ("kind", "count", "batch", "M", "N", "K", "MFLOP"))
    for r, c in sorted(rows.items(), key=lambda kv: -kv[1] * np.prod(kv[0][1:])):
        print("%-28s %5d %6d %6d %6d %6d %9.1f" % (r[0], c, r[1], r[2], r[3], r[4],
                                                  2e-6 * c * r[1] * r[2] * r[3] * r[4]))
    print("total %.1f MFLOP in GEMM-shaped ops" % (flops * 1e-6))
    return 0


# ---------------------------------------------------------------- compare

def load_pb(path):
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def cmd_compare(args):
    """Max abs difference relative to the largest reference output, per file.

    Prints one line `rel=... max_abs=... max_ref=... files=N` and exits 1 when
    a file is missing, a shape differs, a value is not finite, or rel > --tol.
    """
    refs = sorted(f for f in os.listdir(args.ref) if f.startswith("output_") and f.endswith(".pb"))
    if not refs:
        print("compare: no output_*.pb in %s" % args.ref)
        return 1
    # Outputs are matched by file name (output_<i>.pb, the ONNX test-data
    # convention), else by the tensor name stored inside the file.
    by_name = {}
    if os.path.isdir(args.got):
        for f in os.listdir(args.got):
            if f.endswith(".pb"):
                t = TensorProto()
                with open(os.path.join(args.got, f), "rb") as fh:
                    t.ParseFromString(fh.read())
                by_name.setdefault(t.name, os.path.join(args.got, f))
    worst_rel, worst_abs, worst_ref = 0.0, 0.0, 0.0
    for f in refs:
        rt = TensorProto()
        with open(os.path.join(args.ref, f), "rb") as fh:
            rt.ParseFromString(fh.read())
        gp = os.path.join(args.got, f)
        if not os.path.exists(gp):
            gp = by_name.get(rt.name) if rt.name else None
        if not gp:
            print("compare: %s (%s) missing in %s" % (f, rt.name, args.got))
            return 1
        r, g = numpy_helper.to_array(rt), load_pb(gp)
        if r.shape != g.shape:
            print("compare: %s shape %s, expected %s" % (f, list(g.shape), list(r.shape)))
            return 1
        if not np.all(np.isfinite(g)):
            print("compare: %s has non-finite values" % f)
            return 1
        if r.dtype.kind in "iub" or g.dtype.kind in "iub":
            # Integer outputs (indices): exactly, and of the same type.
            if r.dtype != g.dtype or not np.array_equal(r, g):
                print("compare: %s differs (integers must match exactly)" % f)
                return 1
            continue
        r64, g64 = r.astype(np.float64), g.astype(np.float64)
        mabs = float(np.max(np.abs(g64 - r64))) if r.size else 0.0
        mref = float(np.max(np.abs(r64))) if r.size else 0.0
        rel = mabs / mref if mref > 0 else mabs
        if rel >= worst_rel:
            worst_rel, worst_abs, worst_ref = rel, mabs, mref
    print("rel=%.3g max_abs=%.3g max_ref=%.3g files=%d" % (worst_rel, worst_abs, worst_ref, len(refs)))
    return 0 if worst_rel <= args.tol else 1


# ------------------------------------------------------ float64 oracle

def _windows(x, kh, kw, s):
    n, c, h, w = x.shape
    oh, ow = (h - kh) // s + 1, (w - kw) // s + 1
    st = x.strides
    return np.lib.stride_tricks.as_strided(
        x, (n, c, oh, ow, kh, kw), (st[0], st[1], st[2] * s, st[3] * s, st[2], st[3]),
        writeable=False)


def _pad(x, p, val=0.0):
    return np.pad(x, ((0, 0), (0, 0), (p[0], p[2]), (p[1], p[3])), constant_values=val)


def numpy_eval(model, feeds):
    """Runs the generated bench models in float64 numpy, written from the ONNX
    operator definitions and independent of ONNX Runtime, so the committed
    ORT vectors are checked by a second implementation. Covers only the
    operators and attributes the generators above emit, and says so otherwise."""
    g = model.graph
    vals = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for k, v in feeds.items():
        vals[k] = v
    vals = {k: (v.astype(np.float64) if v.dtype == np.float32 else v) for k, v in vals.items()}
    erf = np.vectorize(math.erf)
    for nd in g.node:
        a = {at.name: helper.get_attribute_value(at) for at in nd.attribute}
        x = [vals[i] for i in nd.input]
        op = nd.op_type
        if op == "Conv":
            if a.get("group", 1) != 1 or set(a.get("dilations", [1, 1])) != {1}:
                raise SystemExit("check: Conv attributes beyond the generators' set")
            kh, kw = a["kernel_shape"]
            win = _windows(_pad(x[0], a["pads"]), kh, kw, a["strides"][0])
            r = np.einsum("nchwij,ocij->nohw", win, x[1], optimize=True)
            if len(x) > 2:
                r = r + x[2][:, None, None]
        elif op == "BatchNormalization":
            sc, b, mu, var = (t[:, None, None] for t in x[1:5])
            r = (x[0] - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * sc + b
        elif op == "MaxPool":
            kh, kw = a["kernel_shape"]
            r = _windows(_pad(x[0], a["pads"], -np.inf), kh, kw, a["strides"][0]).max(axis=(4, 5))
        elif op == "GlobalAveragePool":
            r = x[0].mean(axis=(2, 3), keepdims=True)
        elif op == "Flatten":
            r = x[0].reshape(int(np.prod(x[0].shape[:a.get("axis", 1)])), -1)
        elif op == "Gemm":
            A = x[0].T if a.get("transA", 0) else x[0]
            B = x[1].T if a.get("transB", 0) else x[1]
            r = a.get("alpha", 1.0) * (A @ B) + a.get("beta", 1.0) * x[2]
        elif op == "LayerNormalization":
            mu = x[0].mean(-1, keepdims=True)
            var = ((x[0] - mu) ** 2).mean(-1, keepdims=True)
            r = (x[0] - mu) / np.sqrt(var + a.get("epsilon", 1e-5)) * x[1] + x[2]
        elif op == "Softmax":
            e = np.exp(x[0] - x[0].max(axis=a.get("axis", -1), keepdims=True))
            r = e / e.sum(axis=a.get("axis", -1), keepdims=True)
        elif op == "ReduceMean":
            r = x[0].mean(axis=tuple(a["axes"]), keepdims=bool(a.get("keepdims", 1)))
        elif op == "Reshape":
            r = x[0].reshape([int(d) for d in x[1]])
        elif op == "Transpose":
            r = x[0].transpose(a["perm"])
        elif op in ("Add", "Sub", "Mul", "Div", "Pow", "MatMul"):
            f = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
                 "Pow": np.power, "MatMul": np.matmul}[op]
            r = f(x[0], x[1])
        elif op in ("Relu", "Erf", "Sqrt", "Identity"):
            f = {"Relu": lambda v: np.maximum(v, 0.0), "Erf": erf, "Sqrt": np.sqrt,
                 "Identity": lambda v: v}[op]
            r = f(x[0])
        else:
            raise SystemExit("check: operator %s is not in the oracle" % op)
        vals[nd.output[0]] = r
    return [vals[o.name] for o in g.output]


def cmd_check(args):
    t = TensorProto()
    with open(args.input, "rb") as f:
        t.ParseFromString(f.read())
    out = numpy_eval(onnx.load(args.model), {t.name: numpy_helper.to_array(t)})[0]
    got = load_pb(args.output).astype(np.float64)
    if got.shape != out.shape:
        print("check: shape %s, numpy says %s" % (list(got.shape), list(out.shape)))
        return 1
    rel = float(np.max(np.abs(got - out)) / max(np.max(np.abs(out)), 1e-30))
    print("rel=%.3g" % rel)
    return 0 if rel <= args.tol else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("gen")
    p.add_argument("outdir")
    p.add_argument("--only", nargs="+", metavar="NAME")
    p.set_defaults(fn=cmd_gen)
    p = sub.add_parser("input")
    p.add_argument("name", choices=sorted(MODELS) + ["text-direction-cls"])
    p.add_argument("file")
    p.set_defaults(fn=cmd_input)
    p = sub.add_parser("shapes")
    p.add_argument("model")
    p.add_argument("--input-shape", metavar="D,D,..", help="pin the first input's dims")
    p.set_defaults(fn=cmd_shapes)
    p = sub.add_parser("compare")
    p.add_argument("ref")
    p.add_argument("got")
    p.add_argument("--tol", type=float, default=1e-4)
    p.set_defaults(fn=cmd_compare)
    p = sub.add_parser("check")
    p.add_argument("model")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--tol", type=float, default=1e-5)
    p.set_defaults(fn=cmd_check)
    args = ap.parse_args()
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
