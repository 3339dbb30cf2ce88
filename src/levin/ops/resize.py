"""Resizing a feature map: ResizeNearest and ResizeBilinear. TFLite: RESIZE_NEAREST_NEIGHBOR,
RESIZE_BILINEAR.

ResizeNearest: output pixel (y, x) is input pixel (ys[y], xs[x]), the source indices computed as TFLite's
`GetNearestNeighbor` computes them, in float32: scale = in / out (align_corners: (in - 1) / (out - 1)),
src = floor((dst + offset) * scale) (align_corners: rounded half away from zero), offset 0.5 with
half_pixel_centers, clamped to the input. Any output size, not only integer factors: the indices
are made at generation time and the C kernel (`levin_resize_nearest_s8`, levin_resize.c) reads
them from two const tables. int8: codes and parameters unchanged (`output_quant="input"`).
torch `mode="nearest"` is align_corners=False, half_pixel_centers=False; "nearest-exact" is
half_pixel_centers=True.

ResizeBilinear interpolates the int8 codes themselves (same parameters in and out), in TFLite's
fixed point (reference `ResizeBilinear` for int8): scale in 1/1024 steps, rounded; source
position p = dst * scale (half_pixel_centers: + scale / 2 - 512), lower index max(p / 1024, 0),
upper min(ceil(p / 1024), in - 1), C division truncating; the four products of codes and
1/1024 weights summed and divided by 2^20, rounding half away from zero. The C kernel
(`levin_resize_bilinear_s8`) reads the per-row and per-column (lower, upper, p) from const tables
and sums in int64 as TFLite does. torch `mode="bilinear"`: align_corners=False is
half_pixel_centers=True (torch clamps a negative source position to 0, which TFLite's
extrapolation between two equal pixels also gives).
"""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin.ops import qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import ints, rank


def source_index(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool) -> np.ndarray:
    """The input index each output index reads, as TFLite's reference `GetNearestNeighbor`."""
    f = np.float32
    scale = (f(in_size - 1) / f(out_size - 1) if align_corners and out_size > 1
             else f(in_size) / f(out_size))
    v = (np.arange(out_size).astype(f) + f(0.5 if half_pixel_centers else 0.0)) * scale
    idx = (np.sign(v) * np.floor(np.abs(v) + f(0.5)) if align_corners else np.floor(v)).astype(np.int64)
    idx = np.minimum(idx, in_size - 1)
    return np.maximum(idx, 0) if half_pixel_centers else idx


def nearest_shape(where, inputs, a):
    x = inputs[0]
    rank(x, 4, where)
    if a["size"] is None:
        raise GraphError(f"{where}: attribute 'size' (output height, width) is required")
    a["size"] = ints(a["size"], 2, "size", where, 1)
    a["align_corners"], a["half_pixel_centers"] = bool(a["align_corners"]), bool(a["half_pixel_centers"])
    if a["align_corners"] and a["half_pixel_centers"]:
        raise GraphError(f"{where}: align_corners and half_pixel_centers cannot both be set (as in TFLite)")
    n, _, _, c = x.shape
    return a, (n, *a["size"], c)


def _indices(shape, a):
    _, h, w, _ = shape
    (oh, ow), ac, hp = a["size"], a["align_corners"], a["half_pixel_centers"]
    return source_index(oh, h, ac, hp), source_index(ow, w, ac, hp)


def nearest_evaluate(x, *, size, align_corners, half_pixel_centers):
    ys, xs = _indices(x.shape, dict(size=size, align_corners=align_corners, half_pixel_centers=half_pixel_centers))
    return x[:, ys][:, :, xs]


def nearest_torch(x, *, size, align_corners, half_pixel_centers):
    import torch

    ys, xs = _indices(tuple(x.shape), dict(size=size, align_corners=align_corners,
                                           half_pixel_centers=half_pixel_centers))
    return x[:, torch.from_numpy(ys)][:, :, torch.from_numpy(xs)]


def nearest_reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    return np.ascontiguousarray(nearest_evaluate(args[0], **node.attrs))


def nearest_prepare(ctx, node, k: int) -> dict:
    g = ctx.graph
    t_in = g.tensors[node.inputs[0]]
    qparams.same_params(t_in, g.tensors[node.output], node)
    n, h, w, c = t_in.shape
    ys, xs = _indices(t_in.shape, node.attrs)
    return {"params": dict(batches=n, in_h=h, in_w=w, channels=c, out_h=len(ys), out_w=len(xs)),
            "arrays": {f"n{k}_ys": ys.astype(np.int32), f"n{k}_xs": xs.astype(np.int32)},
            "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output)}


# -- ResizeBilinear ----------------------------------------------------------------------------------
def _cdiv(a, b: int):
    """C integer division (truncates toward zero)."""
    q = np.abs(a) // b
    return np.where(a < 0, -q, q)


def fixed_point_taps(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool):
    """(p, lower, upper) per output index, TFLite's int8 `ComputeInterpolationValues` (p in 1/1024)."""
    if align_corners and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    else:
        scale = ((1 << 10) * in_size + out_size // 2) // out_size
    p = np.arange(out_size, dtype=np.int64) * scale
    if half_pixel_centers:
        p = p + scale // 2 - (1 << 9)
    lo = np.maximum(_cdiv(p, 1 << 10), 0)
    hi = np.minimum(_cdiv(p + (1 << 10) - 1, 1 << 10), in_size - 1)
    return p, lo, hi


def float_taps(out_size: int, in_size: int, align_corners: bool, half_pixel_centers: bool):
    """(p, lower, upper) per output index, TFLite's float `ComputeInterpolationValues`."""
    scale = ((in_size - 1) / (out_size - 1) if align_corners and out_size > 1 else in_size / out_size)
    o = np.arange(out_size, dtype=np.float64)
    p = (o + 0.5) * scale - 0.5 if half_pixel_centers else o * scale
    lo = np.maximum(np.floor(p), 0).astype(np.int64)
    return p, lo, np.minimum(np.ceil(p).astype(np.int64), in_size - 1)


def _bilinear_taps(shape, a, taps):
    _, h, w, _ = shape
    (oh, ow), ac, hp = a["size"], a["align_corners"], a["half_pixel_centers"]
    return taps(oh, h, ac, hp), taps(ow, w, ac, hp)


def bilinear_evaluate(x, *, size, align_corners, half_pixel_centers):
    a = dict(size=size, align_corners=align_corners, half_pixel_centers=half_pixel_centers)
    (py, y0, y1), (px, x0, x1) = _bilinear_taps(x.shape, a, float_taps)
    fy, fx = (py - y0)[None, :, None, None], (px - x0)[None, None, :, None]
    rows0, rows1 = x[:, y0], x[:, y1]
    return ((rows0[:, :, x0] * (1 - fx) + rows0[:, :, x1] * fx) * (1 - fy)
            + (rows1[:, :, x0] * (1 - fx) + rows1[:, :, x1] * fx) * fy)


def bilinear_torch(x, *, size, align_corners, half_pixel_centers):
    import torch

    a = dict(size=size, align_corners=align_corners, half_pixel_centers=half_pixel_centers)
    (py, y0, y1), (px, x0, x1) = _bilinear_taps(tuple(x.shape), a, float_taps)
    t = lambda v: torch.from_numpy(np.ascontiguousarray(v))
    fy = t(py - y0).to(x.dtype)[None, :, None, None]
    fx = t(px - x0).to(x.dtype)[None, None, :, None]
    rows0, rows1 = x[:, t(y0)], x[:, t(y1)]
    return ((rows0[:, :, t(x0)] * (1 - fx) + rows0[:, :, t(x1)] * fx) * (1 - fy)
            + (rows1[:, :, t(x0)] * (1 - fx) + rows1[:, :, t(x1)] * fx) * fy)


def bilinear_reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    x = args[0].astype(np.int64)
    (py, y0, y1), (px, x0, x1) = _bilinear_taps(x.shape, node.attrs, fixed_point_taps)
    one = 1 << 10
    wy1, wx1 = (py - one * y0)[None, :, None, None], (px - one * x0)[None, None, :, None]
    wy0, wx0 = one - wy1, one - wx1
    rows0, rows1 = x[:, y0], x[:, y1]
    s = (rows0[:, :, x0] * wy0 * wx0 + rows1[:, :, x0] * wy1 * wx0
         + rows0[:, :, x1] * wy0 * wx1 + rows1[:, :, x1] * wy1 * wx1)
    return _cdiv(s + np.where(s > 0, 1 << 19, -(1 << 19)), 1 << 20).astype(np.int8)


def bilinear_prepare(ctx, node, k: int) -> dict:
    g = ctx.graph
    t_in = g.tensors[node.inputs[0]]
    qparams.same_params(t_in, g.tensors[node.output], node)
    n, h, w, c = t_in.shape
    (py, y0, y1), (px, x0, x1) = _bilinear_taps(t_in.shape, node.attrs, fixed_point_taps)
    arrays = {f"n{k}_ys": np.stack([y0, y1, py], 1).astype(np.int32).ravel(),
              f"n{k}_xs": np.stack([x0, x1, px], 1).astype(np.int32).ravel()}
    return {"params": dict(batches=n, in_h=h, in_w=w, channels=c, out_h=len(py), out_w=len(px)),
            "arrays": arrays, "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output)}


def _size(graph, node) -> int:
    return graph.tensors[node.output].size


RESIZE_NEAREST = register(Op(
    "ResizeNearest", (1, 1), {"size": None, "align_corners": False, "half_pixel_centers": False},
    nearest_shape, nearest_evaluate, nearest_torch, nearest_reference,
    CBinding("op_resize_nearest.c.j2", nearest_prepare, ("levin_resize.c",)),
    element_ops=_size, code_bytes=120, output_quant="input", requantizes=False))
RESIZE_BILINEAR = register(Op(
    "ResizeBilinear", (1, 1), {"size": None, "align_corners": False, "half_pixel_centers": False},
    nearest_shape, bilinear_evaluate, bilinear_torch, bilinear_reference,
    CBinding("op_resize_bilinear.c.j2", bilinear_prepare, ("levin_resize.c",)),
    element_ops=lambda g, n: 8 * _size(g, n), code_bytes=320, output_quant="input"))
