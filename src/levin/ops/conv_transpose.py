"""ConvTranspose2d: transposed 2-D convolution, NHWC input, OHWI weights [O, KH, KW, I] (TFLite's
TRANSPOSE_CONV filter layout, output channels first, as the C weight readers read a Conv2d's),
optional int32 bias, groups 1, dilation 1. TFLite: TRANSPOSE_CONV.

Input pixel (iy, ix) adds x * w[o, ky, kx] to output pixel (iy * sh - pad_top + ky, ix * sw -
pad_left + kx): `padding` (top, bottom, left, right) crops the full (in - 1) * s + k map, and
`output_padding` (as torch's) adds rows / columns at the bottom / right, which get the bias only:
out = (in - 1) * s + k - top - bottom + output_padding.
Integer kernel: TFLite Micro's reference `reference_integer_ops::TransposeConv` (scatter the
products of (x - zp) and w into int32, add the bias, per-channel requantize). C:
`levin_conv_transpose2d_s8` (levin_conv_transpose.c) gathers instead: for each output pixel the
input taps that reach it, one output channel at a time, with the conv's weight reader.
"""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin.ops import cparams, qparams
from levin.ops.nhwc import nchw, to_nhwc
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import ints, rank


def shape(where, inputs, a):
    x, w = inputs[0], inputs[1]
    rank(x, 4, where)
    rank(w, 4, where, "weight")
    a["stride"] = ints(a["stride"], 2, "stride", where, 1)
    a["padding"] = ints(a["padding"], 4, "padding", where, 0)
    a["output_padding"] = ints(a["output_padding"], 2, "output_padding", where, 0)
    n, h, wd, c = x.shape
    o, kh, kw, ci = w.shape
    if ci != c:
        raise GraphError(f"{where}: weight {w.shape} (OHWI) expects {ci} input channels, input has {c}")
    if len(inputs) == 3 and inputs[2].shape != (o,):
        raise GraphError(f"{where}: bias shape {inputs[2].shape} must be ({o},)")
    (sh, sw), (pt, pb, pl, pr), (oph, opw) = a["stride"], a["padding"], a["output_padding"]
    ho = (h - 1) * sh + kh - pt - pb + oph
    wo = (wd - 1) * sw + kw - pl - pr + opw
    if ho < 1 or wo < 1:
        raise GraphError(f"{where}: padding {a['padding']} leaves an empty output ({ho}x{wo})")
    return a, (n, ho, wo, o)


def _scatter(x, w, stride, padding, out_hw):
    """sum over taps of x * w, scattered to the output (float64 sums; exact for integer inputs)."""
    n, h, wd, _ = x.shape
    o, kh, kw, _ = w.shape
    (sh, sw), (pt, _, pl, _) = stride, padding
    ho, wo = out_hw
    full_h, full_w = max((h - 1) * sh + kh, pt + ho), max((wd - 1) * sw + kw, pl + wo)
    y = np.zeros((n, full_h, full_w, o))
    taps = np.einsum("nhwc,oijc->ijnhwo", x.astype(np.float64), w.astype(np.float64), optimize=True)
    for ky in range(kh):
        for kx in range(kw):
            y[:, ky:ky + (h - 1) * sh + 1:sh, kx:kx + (wd - 1) * sw + 1:sw] += taps[ky, kx]
    return y[:, pt:pt + ho, pl:pl + wo]


def _out_hw(x_shape, w_shape, stride, padding, output_padding):
    return tuple((x_shape[1 + k] - 1) * stride[k] + w_shape[1 + k] - padding[2 * k] - padding[2 * k + 1]
                 + output_padding[k] for k in range(2))


def evaluate(x, w, b=None, *, stride, padding, output_padding):
    y = _scatter(x, w, stride, padding, _out_hw(x.shape, w.shape, stride, padding, output_padding))
    return y if b is None else y + b


def evaluate_torch(x, w, b=None, *, stride, padding, output_padding):
    import torch.nn.functional as F

    y = F.conv_transpose2d(nchw(x), w.permute(3, 0, 1, 2), None, stride)     # OHWI -> IOHW
    ho, wo = _out_hw(tuple(x.shape), tuple(w.shape), stride, padding, output_padding)
    pt, pl = padding[0], padding[2]
    y = F.pad(y, (-pl, wo + pl - y.shape[3], -pt, ho + pt - y.shape[2]))   # negative pads crop
    y = to_nhwc(y)
    return (y if b is None else y + b).contiguous()


def reference(node, args, ins, out, single_round=False):
    x, w, *b = args
    qparams.symmetric(node, ins[1])
    _, zp = qparams.sz(ins[0])
    a = node.attrs
    out_hw = _out_hw(x.shape, w.shape, a["stride"], a["padding"], a["output_padding"])
    acc = _scatter(x.astype(np.float64) - zp, w, a["stride"], a["padding"], out_hw)
    acc = qparams.accumulate(acc, node, b[0] if b else None)
    return qparams.requantize(acc, node, ins[0], ins[1], out, single_round=single_round)


def prepare(ctx, node, k: int) -> dict:
    a = node.attrs
    (n, h, w, c), (_, ho, wo, o), (kh, kw) = cparams.conv_geometry(ctx, node)
    d = cparams.weighted(ctx, node, k, 5, 1)
    d["params"] = dict(batches=n, in_h=h, in_w=w, in_c=c, out_h=ho, out_w=wo, out_c=o, kernel_h=kh,
                       kernel_w=kw, stride_h=a["stride"][0], stride_w=a["stride"][1],
                       pad_top=a["padding"][0], pad_left=a["padding"][2], in_zp=d["in_zp"],
                       out_zp=d["out_zp"])
    return d


def _macs(graph, node) -> int:
    """One MAC per product TFLite's scatter makes: every input element times every tap and output channel."""
    o, kh, kw, ci = graph.tensors[node.inputs[1]].shape
    return graph.tensors[node.inputs[0]].size * o * kh * kw


def _bias_adds(graph, node) -> int:
    return graph.tensors[node.output].size if len(node.inputs) == 3 else 0


CONV_TRANSPOSE2D = register(Op(
    "ConvTranspose2d", (2, 3), {"stride": 1, "padding": 0, "output_padding": 0}, shape,
    evaluate, evaluate_torch, reference,
    CBinding("op_conv_transpose2d.c.j2", prepare, ("levin_conv_transpose.c",)),
    macs=_macs, element_ops=_bias_adds, code_bytes=1024, weighted=True))
