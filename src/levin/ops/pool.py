"""MaxPool2d, AvgPool2d and GlobalAvgPool (NHWC). TFLite: MAX_POOL_2D / AVERAGE_POOL_2D (a global
average pool is AVERAGE_POOL_2D over the whole map, not MEAN, whose int8 rescaling differs).
Integer kernels: max of the codes (padding never wins: it is the int8 minimum); TFLite int8
`AveragePool`, the sum of the raw codes divided by the count with rounding half away from zero,
padded positions left out (count_include_pad=False, TFLite's only mode) or counted as the zero
point. Both keep the input's parameters on the output, as TFLite. C: levin_pool.c, pixel by
pixel (the planner may stream them)."""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin import intmath as im
from levin.ops import qparams
from levin.ops.nhwc import nchw, pad, pad_torch, to_nhwc, windows
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import ints, rank, window


def shape(where, inputs, a):
    x = inputs[0]
    rank(x, 4, where)
    a["kernel"] = ints(a["kernel"], 2, "kernel", where, 1)
    a["stride"] = ints(a["kernel"] if a["stride"] is None else a["stride"], 2, "stride", where, 1)
    a["padding"] = ints(a["padding"], 4, "padding", where, 0)
    (kh, kw), (sh, sw), (pt, pb, pl, pr) = a["kernel"], a["stride"], a["padding"]
    if max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise GraphError(f"{where}: padding {a['padding']} must be smaller than the kernel {a['kernel']}")
    n, h, w, c = x.shape
    ho = window(where, h, kh, sh, 1, pt, pb, "height")
    wo = window(where, w, kw, sw, 1, pl, pr, "width")
    return a, (n, ho, wo, c)


def global_shape(where, inputs, a):
    rank(inputs[0], 4, where)
    n, _, _, c = inputs[0].shape
    return a, (n, 1, 1, c)


# --- float ------------------------------------------------------------------------------------


def max_pool(x, *, kernel, stride, padding):
    return windows(pad(x, padding, -np.inf), kernel, stride).max(axis=(-2, -1))


def avg_pool(x, *, kernel, stride, padding, count_include_pad):
    total = windows(pad(x, padding), kernel, stride).sum(axis=(-2, -1))
    if count_include_pad or not any(padding):
        return total / (kernel[0] * kernel[1])
    ones = np.ones((1,) + x.shape[1:3] + (1,))
    return total / windows(pad(ones, padding), kernel, stride).sum(axis=(-2, -1))


def max_pool_torch(x, *, kernel, stride, padding):
    import torch.nn.functional as F

    return to_nhwc(F.max_pool2d(nchw(pad_torch(x, padding, float("-inf"))), kernel, stride))


def _window_sum(x, kernel, stride):
    """Sum over pooling windows of an (already padded) NHWC tensor."""
    import torch.nn.functional as F

    return to_nhwc(F.avg_pool2d(nchw(x), kernel, stride) * (kernel[0] * kernel[1]))


def avg_pool_torch(x, *, kernel, stride, padding, count_include_pad, offset=None, rounder=None):
    """Float average pool; with `offset`/`rounder`, TFLite's int8 one in the real domain: the
    window's sum of codes (x / s + zp) divided by the count, rounded half away from zero."""
    import torch

    total = _window_sum(pad_torch(x, padding), kernel, stride)
    if count_include_pad or not any(padding):
        count = torch.tensor(float(kernel[0] * kernel[1]), dtype=x.dtype)
    else:
        ones = torch.ones((1,) + tuple(x.shape[1:3]) + (1,), dtype=x.dtype)
        count = _window_sum(pad_torch(ones, padding), kernel, stride)
    if rounder is None:
        return total / count
    scale, zp = offset
    codes = rounder(total / scale + zp * count)          # the window's sum of int8 codes
    return (rounder(codes / count) - zp) * scale


def _whole_map(x_shape) -> dict:
    hw = tuple(x_shape[1:3])
    return dict(kernel=hw, stride=hw, padding=(0, 0, 0, 0), count_include_pad=True)


def global_avg_pool_torch(x):
    return x.mean(dim=(1, 2), keepdim=True)


def avg_fake_quant(x, attrs, x_shape, offset, rounder):
    """The fake-quant output of an average pool: TFLite's int8 rounding, in the real domain."""
    return avg_pool_torch(x, **attrs, offset=offset, rounder=rounder)


def global_avg_fake_quant(x, attrs, x_shape, offset, rounder):
    return avg_pool_torch(x, **_whole_map(x_shape), offset=offset, rounder=rounder)


# --- integer ----------------------------------------------------------------------------------


def max_pool_reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    a = node.attrs
    return windows(pad(args[0], a["padding"], -128), a["kernel"], a["stride"]).max(axis=(-2, -1))


def avg_pool_reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    x = args[0].astype(np.int64)
    a = _whole_map(x.shape) if node.op == "GlobalAvgPool" else node.attrs
    kernel, stride, pads, include = a["kernel"], a["stride"], a["padding"], a["count_include_pad"]
    _, zp = qparams.sz(ins[0])
    total = windows(pad(x, pads, zp if include else 0), kernel, stride).sum(axis=(-2, -1))
    if include or not any(pads):
        count = np.int64(kernel[0] * kernel[1])
    else:
        ones = np.ones((1,) + x.shape[1:3] + (1,), np.int64)
        count = windows(pad(ones, pads, 0), kernel, stride).sum(axis=(-2, -1))
    return np.clip(im.average_pool_divide(total, count), -128, 127).astype(np.int8)


def prepare(ctx, node, k: int) -> dict:
    t_in = ctx.graph.tensors[node.inputs[0]]
    _, h, w, c = t_in.shape
    _, ho, wo, _ = ctx.graph.tensors[node.output].shape
    a = _whole_map(t_in.shape) if node.op == "GlobalAvgPool" else node.attrs
    kernel, stride, pads = a["kernel"], a["stride"], a["padding"]
    include = a.get("count_include_pad", False)
    params = dict(in_h=h, in_w=w, channels=c, out_h=ho, out_w=wo, kernel_h=kernel[0], kernel_w=kernel[1],
                  stride_h=stride[0], stride_w=stride[1], pad_top=pads[0], pad_left=pads[2],
                  count_include_pad=int(bool(include)), pad_value=qparams.sz(t_in)[1])
    return {"params": params, "fn": "levin_max_pool_s8" if node.op == "MaxPool2d" else "levin_avg_pool_s8",
            "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output)}


# --- counts and registration ------------------------------------------------------------------


def _window(graph, node):
    return node.attrs["kernel"], (1, 1)


def _window_ops(graph, node) -> int:
    kh, kw = node.attrs["kernel"]
    return graph.tensors[node.output].size * kh * kw


def _input_size(graph, node) -> int:
    return graph.tensors[node.inputs[0]].size


_C = CBinding("op_pool.c.j2", prepare, ("levin_pool.c",))
MAX_POOL = register(Op(
    "MaxPool2d", (1, 1), {"kernel": None, "stride": None, "padding": 0}, shape, max_pool, max_pool_torch,
    max_pool_reference, _C, window=_window, streams="always", element_ops=_window_ops, code_bytes=512,
    output_quant="input", requantizes=False))
AVG_POOL = register(Op(
    "AvgPool2d", (1, 1), {"kernel": None, "stride": None, "padding": 0, "count_include_pad": True}, shape,
    avg_pool, avg_pool_torch, avg_pool_reference, _C, window=_window, streams="always",
    element_ops=_window_ops, code_bytes=512, output_quant="input", fake_quant_torch=avg_fake_quant))
GLOBAL_AVG_POOL = register(Op(
    "GlobalAvgPool", (1, 1), {}, global_shape, lambda x: x.mean(axis=(1, 2), keepdims=True),
    global_avg_pool_torch, avg_pool_reference, _C, element_ops=_input_size, code_bytes=384,
    output_quant="input", fake_quant_torch=global_avg_fake_quant))
