"""Pad height and width (top, bottom, left, right) with a constant. TFLite: PAD / PADV2. The
integer kernel fills with the quantized pad value; codes and parameters otherwise unchanged.
C: `levin_pad_s8` (levin_elementwise.c)."""

from __future__ import annotations

from levin import intmath as im
from levin.ops import qparams
from levin.ops.nhwc import pad, pad_torch
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import ints, rank


def shape(where, inputs, a):
    x = inputs[0]
    rank(x, 4, where)
    a["pads"] = ints(a["pads"], 4, "pads (top, bottom, left, right)", where, 0)
    a["value"] = float(a["value"])
    pt, pb, pl, pr = a["pads"]
    n, h, w, c = x.shape
    return a, (n, h + pt + pb, w + pl + pr, c)


def _pad_code(node, t) -> int:
    s, zp = qparams.sz(t)
    return int(im.quantize(node.attrs["value"], s, zp))


def reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    return pad(args[0], node.attrs["pads"], _pad_code(node, ins[0]))


def prepare(ctx, node, k: int) -> dict:
    t_in = ctx.graph.tensors[node.inputs[0]]
    _, h, w, c = t_in.shape
    return {"in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output), "h": h, "w": w, "c": c,
            "pads": node.attrs["pads"], "value": _pad_code(node, t_in)}


PAD = register(Op(
    "Pad", (1, 1), {"pads": 0, "value": 0.0}, shape, lambda x, pads, value: pad(x, pads, value),
    lambda x, pads, value: pad_torch(x, pads, value), reference,
    CBinding("op_pad.c.j2", prepare, ("levin_elementwise.c",)), code_bytes=384, output_quant="input"))
