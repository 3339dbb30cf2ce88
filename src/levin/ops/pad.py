"""Pad height and width (top, bottom, left, right): with a constant (Pad; TFLite PAD / PADV2:
the integer kernel fills with the quantized pad value) or with the map's own mirror image
(MirrorPad; TFLite MIRROR_PAD: "reflect" leaves the edge out of the mirror, torch's and ONNX's
reflect, "symmetric" repeats it). Codes and parameters are otherwise unchanged. C:
`levin_pad_s8`, `levin_mirror_pad_s8` (levin_elementwise.c)."""

from __future__ import annotations

import numpy as np

from levin import intmath as im
from levin.errors import GraphError
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


MIRROR_MODES = ("reflect", "symmetric")


def mirror_shape(where, inputs, a):
    a, out = shape(where, inputs, {**a, "value": 0.0})
    del a["value"]
    if a["mode"] not in MIRROR_MODES:
        raise GraphError(f"{where}: mode {a['mode']!r}; one of {MIRROR_MODES}")
    _, h, w, _ = inputs[0].shape
    edge = 1 if a["mode"] == "reflect" else 0       # reflect cannot mirror past the far edge
    pt, pb, pl, pr = a["pads"]
    if max(pt, pb) > h - edge or max(pl, pr) > w - edge:
        raise GraphError(f"{where}: {a['mode']} padding {a['pads']} is larger than the "
                         f"{h}x{w} map{' minus its edge' if edge else ''}")
    return a, out


def mirror_index(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """The source index of each of the n + before + after padded positions."""
    i = np.arange(-before, n + after)
    edge = 0 if mode == "reflect" else 1
    i = np.where(i < 0, -i - edge, i)
    return np.where(i >= n, 2 * n - 2 + edge - i, i)


def mirror_pad(x, pads, mode):
    pt, pb, pl, pr = pads
    return x[:, mirror_index(x.shape[1], pt, pb, mode)][:, :, mirror_index(x.shape[2], pl, pr, mode)]


def mirror_pad_torch(x, pads, mode):
    import torch

    pt, pb, pl, pr = pads
    rows = torch.from_numpy(mirror_index(x.shape[1], pt, pb, mode))
    cols = torch.from_numpy(mirror_index(x.shape[2], pl, pr, mode))
    return x.index_select(1, rows).index_select(2, cols)


def mirror_reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    return mirror_pad(args[0], node.attrs["pads"], node.attrs["mode"])


def mirror_prepare(ctx, node, k: int) -> dict:
    _, h, w, c = ctx.graph.tensors[node.inputs[0]].shape
    return {"in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output), "h": h, "w": w, "c": c,
            "pads": node.attrs["pads"], "symmetric": int(node.attrs["mode"] == "symmetric")}


MIRROR_PAD = register(Op(
    "MirrorPad", (1, 1), {"pads": 0, "mode": "reflect"}, mirror_shape, mirror_pad, mirror_pad_torch,
    mirror_reference, CBinding("op_mirror_pad.c.j2", mirror_prepare, ("levin_elementwise.c",)),
    code_bytes=160, output_quant="input", requantizes=False))
