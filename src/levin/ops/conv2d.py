"""Conv2d: 2-D convolution, NHWC input, OHWI weights [O, KH, KW, I/groups], optional int32 bias;
grouped and depthwise (groups == input channels) included. TFLite: CONV_2D / DEPTHWISE_CONV_2D.
Integer kernel: TFLite reference `integer_ops::ConvPerChannel` / `DepthwiseConvPerChannel`; C:
`levin_conv2d_s8` (levin_conv.c), which streams pixel by pixel when its weights are read in place."""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin.ops import cparams, qparams
from levin.ops.nhwc import nchw, pad, pad_torch, to_nhwc, windows
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import ints, rank, window


def shape(where, inputs, a):
    x, w = inputs[0], inputs[1]
    rank(x, 4, where)
    rank(w, 4, where, "weight")
    a["stride"] = ints(a["stride"], 2, "stride", where, 1)
    a["dilation"] = ints(a["dilation"], 2, "dilation", where, 1)
    a["padding"] = ints(a["padding"], 4, "padding", where, 0)
    g = a["groups"]
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    if not isinstance(g, (int, np.integer)) or g < 1 or c % g or o % g:
        raise GraphError(f"{where}: groups={g} must divide input channels {c} and output channels {o}")
    if cg * g != c:
        raise GraphError(f"{where}: weight {w.shape} (OHWI) expects {cg * g} input channels, "
                         f"input has {c}")
    if len(inputs) == 3 and inputs[2].shape != (o,):
        raise GraphError(f"{where}: bias shape {inputs[2].shape} must be ({o},)")
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = a["stride"], a["dilation"], a["padding"]
    ho = window(where, h, kh, sh, dh, pt, pb, "height")
    wo = window(where, wd, kw, sw, dw, pl, pr, "width")
    a["groups"] = int(g)
    return a, (n, ho, wo, o)


def evaluate(x, w, b=None, *, stride, padding, dilation, groups):
    o, kh, kw, cg = w.shape
    win = windows(pad(x, padding), (kh, kw), stride, dilation)          # N Ho Wo C KH KW
    n, ho, wo = win.shape[:3]
    win = win.reshape(n, ho, wo, groups, cg, kh, kw)
    wg = w.reshape(groups, o // groups, kh, kw, cg)
    y = np.einsum("nhwgcij,goijc->nhwgo", win, wg, optimize=True).reshape(n, ho, wo, o)
    return y if b is None else y + b


def evaluate_torch(x, w, b=None, *, stride, padding, dilation, groups):
    import torch.nn.functional as F

    x = nchw(pad_torch(x, padding))
    return to_nhwc(F.conv2d(x, w.permute(0, 3, 1, 2), b, stride, 0, dilation, groups)).contiguous()


def reference(node, args, ins, out, single_round=False):
    x, w, *b = args
    qparams.symmetric(node, ins[1])
    _, zp = qparams.sz(ins[0])
    a = node.attrs
    o, kh, kw, cg = w.shape
    g = a["groups"]
    xp = pad(x, a["padding"], zp).astype(np.float64) - zp
    win = windows(xp, (kh, kw), a["stride"], a["dilation"])            # N Ho Wo C KH KW
    n, ho, wo = win.shape[:3]
    if g == 1:
        cols = win.transpose(0, 1, 2, 4, 5, 3).reshape(n * ho * wo, kh * kw * cg)
        acc = (cols @ w.reshape(o, -1).T.astype(np.float64)).reshape(n, ho, wo, o)
    else:
        win = win.reshape(n, ho, wo, g, cg, kh, kw)
        wg = w.reshape(g, o // g, kh, kw, cg).astype(np.float64)
        acc = np.einsum("nhwgcij,goijc->nhwgo", win, wg, optimize=True).reshape(n, ho, wo, o)
    acc = qparams.accumulate(acc, node, b[0] if b else None)
    return qparams.requantize(acc, node, ins[0], ins[1], out, single_round=single_round)


def prepare(ctx, node, k: int) -> dict:
    a = node.attrs
    (n, h, w, c), (_, ho, wo, o), (kh, kw) = cparams.conv_geometry(ctx, node)
    weights = ctx.graph.tensors[node.inputs[1]]
    # Coded dense weights: decoded whole when small (levin_conv_coded.c), else two channels, or
    # a 1x1 conv's four widened to int16 (eight channels' bytes).
    wide = _wide_weights(ctx.graph, node)
    d = cparams.weighted(ctx, node, k, 5, o if weights.size <= cparams.WHOLE_MAX else 8 if wide else 2)
    d["params"] = dict(in_h=h, in_w=w, in_c=c, out_h=ho, out_w=wo, out_c=o, kernel_h=kh, kernel_w=kw,
                       stride_h=a["stride"][0], stride_w=a["stride"][1], dilation_h=a["dilation"][0],
                       dilation_w=a["dilation"][1], pad_top=a["padding"][0], pad_left=a["padding"][2],
                       groups=a["groups"], in_zp=d["in_zp"], out_zp=d["out_zp"], **d["act"],
                       pairs=_pairs(ctx, node), scratch_use=0)
    scratch = ctx.planned_scratch(node)
    if scratch is not None and _apart_with_wide_rows(ctx, node):
        d["params"]["scratch_use"], d["scratch"] = SCRATCH_WIDE_WEIGHTS, scratch
    elif scratch is not None:
        size, use = _scratch(ctx.graph, node)
        if _widens_pairs(ctx.graph, node, use) and ctx.planned_scratch_bytes(node) >= 2 * size:
            use = SCRATCH_WIDEN_PAIRS
        d["params"]["scratch_use"], d["scratch"] = use, scratch
    elif wide and cparams.coded_dense(d["weights"]):
        d["params"]["scratch_use"] = SCRATCH_WIDE_WEIGHTS
    elif _decoded_whole(ctx.graph, node, d["weights"]):
        # Coded weights decoded whole run the in-flash kernel over the decoded bytes
        # (levin_conv_coded.c conv_whole): its buffer follows them in the decoding scratch.
        size, use = _scratch(ctx.graph, node)
        if use:
            d["params"]["scratch_use"] = use
            ctx.scratch = max(ctx.scratch, _whole_bytes(ctx.graph, node) + size)
    return d


def kernel_paths(d: dict) -> set[str]:
    """The optional paths of levin_conv2d_s8 this call runs (its dispatch in levin_conv.c and
    levin_conv_coded.c); where unsure, one more: that costs flash, never speed."""
    w, p = d["weights"], d["params"]
    paths = {"REQUANT_WIDE"} if d["requant_wide"] else set()
    paths |= {"LEFT_SHIFT"} if d["left_shift"] else set()
    if cparams.sparse(w):
        return paths | {"CODED_CONV", "SPARSE"}
    paths |= {"CODED_CONV"} if cparams.coded_dense(w) else set()
    g, use = p["groups"], p["scratch_use"]
    if g == 1:
        paths |= {SCRATCH_GATHER: {"IM2COL"}, SCRATCH_WIDEN: {"WIDENED"},
                  SCRATCH_WIDEN_PAIRS: {"WIDENED_PAIRS"}}.get(use, set())
    if not (g == 1 and p["dilation_w"] == 1):   # neither conv_rows nor dense_rows
        paths.add("DEPTHWISE" if g == p["in_c"] == p["out_c"] else "TAPS")
    if use == SCRATCH_WIDE_WEIGHTS:   # raw weights: without DSP the widened input instead
        paths |= {"WIDE_WEIGHTS"} if "CODED_CONV" in paths else {"WIDE_WEIGHTS", "WIDENED"}
    return paths


def _decoded_whole(graph, node, w: dict) -> bool:
    """Dense coded weights small enough to be decoded whole (levin_weights.h WHOLE_MAX)."""
    return cparams.coded_dense(w) and graph.tensors[node.inputs[1]].size <= cparams.WHOLE_MAX


def _whole_bytes(graph, node) -> int:
    """Where the kernel's buffer starts after the decoded tensor: 16-aligned (levin_conv_coded.c)."""
    return -(-graph.tensors[node.inputs[1]].size // 16) * 16


# A gather pays off when window rows are short (the loop over rows costs more than their MACs)
# and enough output channels share each gathered window (M4 -Os, benchmarks/kernels.py: KWS's
# 10x4 first conv over 1 channel into 64 gained 1.1M instructions; VWW's 3x3 over 3 channels
# into 8 lost 0.5M).
IM2COL_ROW_BYTES = 16
IM2COL_MIN_OUT_CHANNELS = 16


SCRATCH_GATHER, SCRATCH_WIDEN, SCRATCH_WIDE_WEIGHTS, SCRATCH_WIDEN_PAIRS = 1, 2, 3, 4  # levin_kernels.h


def _planned_scratch(graph, node) -> int | tuple[int, ...]:
    """The arena the kernel can use (`_scratch`); a 1x1 conv over input channels a multiple of 4
    asks first for twice its widened pixel: two pixels widened at a time, each weight word then
    serves both (levin_conv.c conv_widened_pairs)."""
    size, use = _scratch(graph, node)
    return (2 * size, size) if _widens_pairs(graph, node, use) else size


def _widens_pairs(graph, node, use: int) -> bool:
    return use == SCRATCH_WIDEN and graph.tensors[node.inputs[1]].shape[3] % 4 == 0


def _wide_weights(graph, node) -> bool:
    """A 1x1 conv whose coded dense weights the kernel decodes four output channels at a time,
    widened to int16 (levin_conv_coded.c dense_wide4): groups 1, no padding, input channels a
    multiple of 4, at least four output channels, more weights than are decoded whole."""
    o, kh, kw, cg = graph.tensors[node.inputs[1]].shape
    a = node.attrs
    return (kh, kw) == (1, 1) and a["groups"] == 1 and cg % 4 == 0 and o >= 4 and not any(a["padding"]) \
        and graph.tensors[node.inputs[1]].size > cparams.WHOLE_MAX


def _unstreamed_scratch(graph, node) -> int:
    """Bytes of four weight rows widened to int16 (levin_conv_coded.c levin_conv1x1_wide4): a 1x1
    conv over weights in flash runs four output channels at a time over every pixel, which only
    an output apart from its input allows (groups 1, no padding, input channels a multiple of 4)."""
    o, kh, kw, cg = graph.tensors[node.inputs[1]].shape
    a = node.attrs
    ok = (kh, kw) == (1, 1) and a["groups"] == 1 and cg % 4 == 0 and o >= 4 and not any(a["padding"])
    return 8 * cg if ok else 0


def _apart_with_wide_rows(ctx, node) -> bool:
    """The plan took `node` out of the streams and gave it the widened rows' scratch."""
    wide = _unstreamed_scratch(ctx.graph, node)
    return bool(wide) and ctx.planned_scratch_bytes(node) >= wide and not ctx.streamed(node)


def _scratch(graph, node) -> tuple[int, int]:
    """(bytes, use) of arena the kernel can use (levin_conv.c), granted by the planner only where
    the arena does not grow: two pixels' windows gathered with zero-point padding for a conv over
    short rows, as first layers have (a 10x4 kernel over one channel: rows of 4 bytes); one
    border window for a 3x3 depthwise conv, which then runs as an interior one; a 1x1 conv's
    input pixel widened to int16, so that each input word serves four output channels."""
    o, kh, kw, cg = graph.tensors[node.inputs[1]].shape
    c = graph.tensors[node.inputs[0]].shape[-1]
    if node.attrs["groups"] == c == o:
        return (kh * kw * c, SCRATCH_GATHER) if (kh, kw) == (3, 3) else (0, 0)
    if node.attrs["groups"] != 1:
        return 0, 0
    if kh * kw == 1:
        return (2 * cg, SCRATCH_WIDEN) if o >= 4 else (0, 0)
    if kw * cg < IM2COL_ROW_BYTES and o >= IM2COL_MIN_OUT_CHANNELS:
        return 2 * kh * kw * cg, SCRATCH_GATHER
    return 0, 0


def gathers_windows(graph, node) -> bool:
    """True for a conv over short window rows whose kernel gathers each window into one run
    (where the planner grants the scratch, as it does when the arena has room)."""
    return node.attrs["groups"] == 1 and _scratch(graph, node)[1] == SCRATCH_GATHER


def _pairs(ctx, node) -> int:
    """1 when the kernel may compute pixels in pairs: its output does not stream over its input,
    or the planner left the lead a pair needs (`stream_ahead`)."""
    return int(not ctx.streamed(node) or ctx.plan.tensors[node.output].ahead >= 1)


def _window(graph, node):
    kh, kw = graph.tensors[node.inputs[1]].shape[1:3]
    return (kh, kw), node.attrs["dilation"]


def _macs(graph, node) -> int:
    _, kh, kw, cg = graph.tensors[node.inputs[1]].shape
    return graph.tensors[node.output].size * cg * kh * kw


def _bias_adds(graph, node) -> int:
    return graph.tensors[node.output].size if len(node.inputs) == 3 else 0


def _variant(graph, node) -> tuple[str, int]:
    """Depthwise convs run their own C kernel loop (a smaller one)."""
    if 1 < node.attrs["groups"] == graph.tensors[node.inputs[0]].shape[-1]:
        return "DepthwiseConv2d", 2048
    return "Conv2d", 3072


CONV2D = register(Op(
    "Conv2d", (2, 3), {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}, shape,
    evaluate, evaluate_torch, reference,
    CBinding("op_conv2d.c.j2", prepare, ("levin_conv.c", "levin_conv_coded.c"), kernel_paths),
    window=_window, streams="weights_in_flash", stream_ahead=1,
    planned_scratch=_planned_scratch, unstreamed_scratch=_unstreamed_scratch,
    macs=_macs, element_ops=_bias_adds,
    code_bytes=3072, variant=_variant, weighted=True, fuses_activation=True))
