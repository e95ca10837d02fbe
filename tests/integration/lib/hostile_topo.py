#!/usr/bin/env python3
"""Hostile topology keys, written by hand as an attacker would (no
importer, no validator): each case is a directory holding one model.topo.

  hostile_topo.py GOOD_TOPO OUTDIR MAX_TOPO MAX_NODES MAX_TENSOR MAX_WEIGHT

The blob reference of the honest key is reused verbatim (so the content
id is the one the agent's policy allows and the refusal comes from the
graph), except for the weight-limit case. Prints one line per case:
NAME WANTED_CODE.
"""
import os
import struct
import sys

DT_FLOAT, DT_INT64, DT_BOOL = 1, 7, 9  # ONNX TensorProto.DataType


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fv(field, n):
    return varint(field << 3) + varint(n)


def fb(field, b):
    if isinstance(b, str):
        b = b.encode()
    return varint(field << 3 | 2) + varint(len(b)) + b


def fields(buf):
    """Top-level (field, wire type, raw value bytes or int) of a message."""
    i, out = 0, []
    while i < len(buf):
        key, i = _rd(buf, i)
        f, w = key >> 3, key & 7
        if w == 0:
            v, i = _rd(buf, i)
            out.append((f, w, v))
        elif w == 2:
            n, i = _rd(buf, i)
            out.append((f, w, buf[i:i + n]))
            i += n
        else:
            raise SystemExit("unexpected wire type %d" % w)
    return out


def _rd(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7F) << s
        s += 7
        if not c & 0x80:
            return v, i


def dim(v):
    return fv(1, v)


def vinfo(name, dtype, dims):
    m = fb(1, name) + fv(2, dtype)
    if dims is None:
        return m + fv(3, -1)
    m += fv(3, len(dims))
    for d in dims:
        m += fb(4, dim(d))
    return m


def node(name, op, ins, outs, attrs=b""):
    m = fb(1, name) + fb(2, op)
    for s in ins:
        m += fb(4, s)
    for s in outs:
        m += fb(5, s)
    return m + attrs


def attr_int(name, v):
    return fb(6, fb(1, name) + fv(2, 2) + fv(4, v))


def attr_float(name, v):
    return fb(6, fb(1, name) + fv(2, 1) + varint(3 << 3 | 5) + struct.pack("<f", v))


def attr_ints(name, vs):
    return fb(6, fb(1, name) + fv(2, 7) + b"".join(fv(8, v) for v in vs))


def attr_floats(name, vs):
    return fb(6, fb(1, name) + fv(2, 6) + b"".join(varint(7 << 3 | 5) + struct.pack("<f", v)
                                                    for v in vs))


def attr_graph(name, g):
    return fb(6, fb(1, name) + fv(2, 5) + fb(10, g))


def tensor(name, dtype, dims, offset, length):
    m = fb(1, name) + fv(2, dtype)
    for d in dims:
        m += fv(3, d)
    return m + fv(4, 1) + fv(5, offset) + fv(6, length)


def graph(nodes, inputs, outputs, inits=(), name="g", opset=13):
    m = fb(1, name) + fv(2, opset)
    for n in nodes:
        m += fb(3, n)
    for t in inits:
        m += fb(4, t)
    for v in inputs:
        m += fb(5, v)
    for v in outputs:
        m += fb(6, v)
    return m


def key(g, blob, version=1):
    return fv(1, version) + fb(2, g) + fb(3, blob)


def if_node(name, cond, out, then_g, else_g):
    return node(name, "If", [cond], [out], attr_graph("then_branch", then_g) +
                attr_graph("else_branch", else_g))


def main():
    good, out = sys.argv[1], sys.argv[2]
    max_topo, max_nodes, max_tensor, max_weight = (int(a) for a in sys.argv[3:7])
    blob = [v for f, w, v in fields(open(good, "rb").read()) if f == 3][0]
    bf = {f: v for f, w, v in fields(blob)}
    plain = bf[5]
    x = vinfo("x", DT_FLOAT, None)
    y = vinfo("y", DT_FLOAT, None)
    relu = lambda n, i, o: node(n, "Relu", [i], [o])
    cases = {}
    # Cast(x) -> y and Shape(x) -> y: the heap overflow of issue 11.
    cases["dup_value"] = (key(graph([node("c", "Cast", ["x"], ["y"], attr_int("to", DT_INT64)),
                                     node("s", "Shape", ["x"], ["y"])], [x], [y]), blob), 663)
    cases["cycle"] = (key(graph([relu("a", "b", "a"), relu("b", "a", "b"),
                                 relu("o", "b", "y")], [x], [y]), blob), 664)
    cases["use_before_def"] = (key(graph([relu("b", "a", "y"), relu("a", "x", "a")], [x], [y]),
                                   blob), 665)
    # A weight reference just past the end of the blob's plaintext
    # (aligned, of the right length).
    off = (plain + 63) // 64 * 64
    w = tensor("w", DT_FLOAT, [16], off, 64)
    cases["weight_offset"] = (key(graph([node("a", "Add", ["x", "w"], ["y"])], [x], [y], [w]),
                                  blob), 652)
    big = lambda dims: vinfo("x", DT_FLOAT, dims)
    cases["numel_overflow"] = (key(graph([relu("r", "x", "y")], [big([1 << 32] * 3)], [y]),
                                   blob), 668)
    cases["tensor_2p40"] = (key(graph([relu("r", "x", "y")], [big([1 << 20, 1 << 20])], [y]),
                                blob), 669)
    cases["negative_dim"] = (key(graph([relu("r", "x", "y")], [big([1, -5])], [y]), blob), 667)
    # Not wants bool; x is float: refused when planned, after assembly.
    cases["wrong_dtype"] = (key(graph([node("n", "Not", ["x"], ["y"])], [x], [y]), blob), 503)
    # Not in the test policy's "ops" (the demo model has no Sigmoid).
    # Attribute values out of range (engine part of issue 10), refused when
    # the engine checks the node, before any plan. All but the first ran
    # before (an infinite alpha gave inf/NaN outputs, the first of two axis
    # attributes counted, ceil_mode 2 was read as 1).
    cases["attr_axis_range"] = (key(graph([node("s", "Softmax", ["x"], ["y"],
                                                attr_int("axis", 100))], [x], [y]), blob), 502)
    cases["attr_float_range"] = (key(graph([node("h", "HardSigmoid", ["x"], ["y"],
                                                 attr_float("alpha", float("inf")))],
                                           [x], [y]), blob), 502)
    cases["attr_twice"] = (key(graph([node("s", "Softmax", ["x"], ["y"],
                                           attr_int("axis", -1) + attr_int("axis", 1))],
                                     [x], [y]), blob), 502)
    cases["attr_flag_range"] = (key(graph([node("m", "MaxPool", ["x"], ["y"],
                                                attr_ints("kernel_shape", [1, 1]) +
                                                attr_int("ceil_mode", 2))], [x], [y]), blob), 502)
    # Sizes an operator takes from a constant input (issue 19): refused by
    # the plan's tensor limit before anything is allocated.
    cases["maxunpool_output_shape"] = (key(graph([
        node("c", "Constant", [], ["s"], attr_ints("value_ints", [1, 3, 4096, 4096])),
        node("m", "MaxPool", ["x"], ["p", "i"], attr_ints("kernel_shape", [1, 1])),
        node("u", "MaxUnpool", ["p", "i", "s"], ["y"], attr_ints("kernel_shape", [1, 1]))],
        [x], [y]), blob), 507)
    # RoiAlign's output bins are attributes: 65536 x 65536 per roi and
    # channel is refused before any allocation.
    cases["roialign_output_size"] = (key(graph([
        node("r", "Constant", [], ["r1"], attr_floats("value_floats", [0, 0, 4, 4])),
        node("a", "Constant", [], ["ax"], attr_ints("value_ints", [0])),
        node("u", "Unsqueeze", ["r1", "ax"], ["rois"]),
        node("b", "Constant", [], ["bi"], attr_ints("value_ints", [0])),
        node("ra", "RoiAlign", ["x", "rois", "bi"], ["y"],
             attr_int("output_height", 65536) + attr_int("output_width", 65536))],
        [x], [y]), blob), 507)
    # Unique's length is the data's: a node reading it would have been
    # planned for a length the run does not write.
    cases["unique_output_read"] = (key(graph([
        node("q", "Unique", ["x"], ["t"]), relu("r", "t", "y")], [x], [y]), blob), 506)
    # A DFT length from a constant input: its output (x as [..., 192, 1]
    # transformed over 2^24 points) is refused at plan time.
    cases["dft_length"] = (key(graph([
        node("a", "Constant", [], ["ax"], attr_ints("value_ints", [4])),
        node("u", "Unsqueeze", ["x", "ax"], ["x1"]),
        node("l", "Constant", [], ["len"], attr_int("value_int", 1 << 24)),
        node("d", "DFT", ["x1", "len"], ["y"], attr_int("axis", 3))],
        [x], [y], opset=17), blob), 507)
    cases["op_not_allowed"] = (key(graph([node("s", "Sigmoid", ["x"], ["y"])], [x], [y]), blob),
                               715)
    # Subgraphs (issue 19): version 2 keys with If / Loop.
    def branch(name, src="x", op="Relu", out=None):
        o = out or name + "_o"
        return graph([node(name + "_n", op, [src], [o])], [], [vinfo(o, DT_FLOAT, None)],
                     name=name)

    def nested(depth):
        if depth == 0:
            return branch("leaf")
        return graph([if_node("if%d" % depth, "x", "n%d" % depth, nested(depth - 1),
                              branch("e%d" % depth))], [], [vinfo("n%d" % depth, DT_FLOAT, None)],
                     name="lvl%d" % depth)
    # Five levels of subgraphs: refused before the key is unpacked.
    cases["subgraph_too_deep"] = (key(graph([if_node("top", "x", "y", nested(4), branch("e"))],
                                            [x], [y]), blob, 2), 670)
    # A branch reading an outer value that exists nowhere.
    cases["subgraph_undefined_outer"] = (key(graph([if_node("i", "x", "y",
                                                            branch("t", src="nowhere"),
                                                            branch("e"))], [x], [y]), blob, 2), 666)
    # A branch holding an operator outside the policy's list.
    cases["subgraph_op_not_allowed"] = (key(graph([if_node("i", "x", "y",
                                                           branch("t", op="Sigmoid"),
                                                           branch("e"))], [x], [y]), blob, 2), 715)
    # A Loop of 2^62 iterations over a Relu: only the wall-time limit ends it.
    body = graph([node("bc", "Identity", ["cond_in"], ["cond_out"]),
                  node("br", "Relu", ["v_in"], ["v_out"])],
                 [vinfo("it", DT_INT64, []), vinfo("cond_in", DT_BOOL, []),
                  vinfo("v_in", DT_FLOAT, None)],
                 [vinfo("cond_out", DT_BOOL, []), vinfo("v_out", DT_FLOAT, None)], name="body")
    cases["loop_2p62"] = (key(graph([node("m", "Constant", [], ["trips"],
                                          attr_int("value_int", 1 << 62)),
                                     node("l", "Loop", ["trips", "", "x"], ["y"],
                                          attr_graph("body", body))], [x], [y]), blob, 2), 717)
    # Each size limit, just over.
    k = key(graph([relu("r", "x", "y")], [x], [y]), blob)
    pad = max_topo + 1 - len(k)
    # name field: tag + length varint + bytes; find the name length that
    # makes the whole key exactly max_topo + 1 bytes.
    for n in range(max(0, pad - 16), pad + 1):
        k2 = key(graph([relu("r", "x", "y")], [x], [y], name="p" * n), blob)
        if len(k2) == max_topo + 1:
            break
    assert len(k2) == max_topo + 1, (len(k2), max_topo)
    cases["over_topology_bytes"] = (k2, 714)
    chain = [relu("r0", "x", "t0")] + [relu("r%d" % i, "t%d" % (i - 1), "t%d" % i)
                                       for i in range(1, max_nodes)]
    chain.append(relu("last", "t%d" % (max_nodes - 1), "y"))
    cases["over_nodes"] = (key(graph(chain, [x], [y]), blob), 714)
    cases["over_tensor_bytes"] = (key(graph([relu("r", "x", "y")],
                                            [big([1, max_tensor // 4 + 1])], [y]), blob), 669)
    # A blob reference claiming one byte more than the weight limit (with
    # the matching file size, so only the limit refuses it).
    chunk = bf[4]
    pl = max_weight + 1
    fsize = 48 + pl + 16 * ((pl + chunk - 1) // chunk)
    blob2 = fb(1, bf[1]) + fb(2, bf[2]) + fv(3, bf[3]) + fv(4, chunk) + fv(5, pl) + fv(6, fsize)
    cases["over_weight_bytes"] = (key(graph([relu("r", "x", "y")], [x], [y]), blob2), 714)
    for name, (data, code) in cases.items():
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "model.topo"), "wb") as f:
            f.write(data)
        print(name, code)


if __name__ == "__main__":
    main()
