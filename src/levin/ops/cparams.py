"""Kernel parameters for the C export, derived exactly as the integer reference derives them at
run time (`levin.ops.qparams`, `levin.intmath`), so C and reference agree bit for bit.

The op modules' `prepare` functions use these; `ctx` is the code generator's context
(`levin.codegen`): `ctx.graph`, `ctx.ptr(tensor)` (its arena address as C), `ctx.weights(...)`.
"""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin import intmath as im
from levin.ops.qparams import rescale_ratio, sz

# The C weight reader's constants (levin_weights.h), also used by levin.codegen.weight_fields.
POS_DENSE = 255                 # LEVIN_POS_DENSE: no positions; the C ids of the others are coding.sparse's
WHOLE_MAX = 4096                # LEVIN_WEIGHTS_WHOLE_MAX: coded dense conv weights decoded whole
CODER_PACK = 1                  # LEVIN_CODER_PACK

# The kernels' optional paths (levin_conv_window.h): a package whose models run none of a path
# defines LEVIN_NO_<PATH> in levin_config.h and the linker leaves its code out. Each op's
# `CBinding.kernel_paths` says which its call runs; a speed path it leaves out is only slower
# (the general one takes over), a format path (CODED_*, SPARSE, TAPS) is LEVIN_ERR_UNSUPPORTED.
# REQUANT_WIDE is the output stage's full 64-bit sum, which a conv or fully connected call needs
# when an accumulator may reach 2^30 (`requant_wide`): left out, the shorter one runs, and only
# correct within that bound. LEFT_SHIFT likewise: the output stage's left shift, which a call
# needs when a channel's shift is 0 or more (`weighted`'s "left_shift"). PACKED8_CHECK: the
# packed 8-bit fully connected kernel's pass that checks its symbols stay within int8, which a
# call needs only when one does not (a corrupt tensor: `levin.ops.linear`).
KERNEL_PATHS = ("CODED_CONV", "CODED_LINEAR", "SPARSE", "TAPS", "DEPTHWISE", "IM2COL", "WIDENED", "WIDENED_PAIRS",
                "WIDE_WEIGHTS", "LINEAR_PACKED8", "LINEAR_BOOK8", "REQUANT_WIDE", "LEFT_SHIFT", "PACKED8_CHECK")


def coded_dense(w: dict) -> bool:
    """Dense weights the kernel decodes (packed, codebook, rANS) rather than reads in place."""
    return w["pos_method"] == POS_DENSE and not (w["coder"] == 0 and w["codebook"] is None)


def sparse(w: dict) -> bool:
    return w["pos_method"] != POS_DENSE


def shifts_ok(shift: np.ndarray, node) -> None:
    if shift.size and (shift.min() < -31 or shift.max() > 30):
        raise GraphError(f"node {node.name!r} ({node.op}): a requantization shift falls outside "
                         f"-31..30 (scales too far apart for TFLite's int8 kernels)")


def rescale(t_in, t_out, lo: int, hi: int, float_ratio: bool) -> dict[str, int]:
    """The parameters of `qparams.rescale` (ReluX with float32 ratio, Requantize in double)."""
    (s_in, zp_in), (s_out, zp_out) = sz(t_in), sz(t_out)
    m = shift = 0
    same = (s_in, zp_in) == (s_out, zp_out)
    if not same:
        m, shift = im.quantize_multiplier(rescale_ratio(s_in, s_out, float_ratio))
    return {"in_zp": zp_in, "out_zp": zp_out, "multiplier": m, "shift": shift, "act_min": lo,
            "act_max": hi, "rescale": int(not same)}


def conv_geometry(ctx, node) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, int]]:
    """(input NHWC, output NHWC, (kh, kw)) of a conv-like node whose weights are [O, KH, KW, I];
    the C kernels keep tap coordinates in bytes, so kernels are at most 255 wide."""
    g = ctx.graph
    kh, kw = g.tensors[node.inputs[1]].shape[1:3]
    if max(kh, kw) > 255:
        raise GraphError(f"node {node.name!r}: kernels up to 255 wide are supported, got {kh}x{kw}")
    return g.tensors[node.inputs[0]].shape, g.tensors[node.output].shape, (kh, kw)


def weighted(ctx, node, k: int, sparse_factor: int, dense_channels: int) -> dict:
    """What a conv's or fully connected's template needs: weights (as the C reader reads them),
    per-channel multipliers and shifts, bias, buffers, zero points and the output clamp. The
    kernel decodes `dense_channels` output channels of coded dense weights at a time, or a
    channel of sparse ones into `sparse_factor` bytes per weight (the scratch it needs)."""
    g = ctx.graph
    x, w_t = g.tensors[node.inputs[0]], g.tensors[node.inputs[1]]
    out = g.tensors[node.output]
    # As the oracle: in_scale * w_scale in double for conv and fully connected alike (TFLite Micro).
    reals = im.effective_scale(sz(x)[0], w_t.quant.scale, sz(out)[0])
    m, shift = im.quantize_multipliers(np.atleast_1d(reals))
    channels = w_t.shape[0]
    m, shift = np.broadcast_to(m, (channels,)), np.broadcast_to(shift, (channels,))
    shifts_ok(shift, node)
    # A zero multiplier gives code zp whatever the shift: -1 keeps the output stage's short form.
    shift = np.where(m == 0, np.minimum(shift, -1), shift)
    cname = f"n{k}"
    w, arrays = ctx.weights(w_t, cname, sparse_factor, dense_channels)
    arrays[cname + "_mult"] = m.astype(np.int32)
    arrays[cname + "_shift"] = shift.astype(np.int32)
    bias = b = None
    act_min, act_max = ctx.act_range(node)
    if len(node.inputs) > 2:
        b = constant_channel_biases(w_t.data, g.tensors[node.inputs[2]].data, m, shift, sz(out)[1],
                                    act_min, act_max)
        arrays[cname + "_bias"] = b.astype(np.int32)
        bias = cname + "_bias"
    return {"weights": w, "arrays": arrays, "bias": bias, "in": ctx.ptr(node.inputs[0]),
            "out": ctx.ptr(node.output), "in_zp": sz(x)[1], "out_zp": sz(out)[1],
            "act": {"act_min": act_min, "act_max": act_max},
            "requant_wide": requant_wide(w_t.data, b, sz(x)[1], shift),
            "left_shift": bool(np.any(shift >= 0))}


def constant_channel_biases(weights: np.ndarray, bias: np.ndarray, multiplier: np.ndarray, shift: np.ndarray,
                            out_zp: int, act_min: int, act_max: int) -> np.ndarray:
    """bias, where an output channel whose weights are all zero (its accumulator is its bias at
    every pixel, padding included) has a bias that `requant_wide` would count as reaching 2^30,
    replaced by one below that bound with the same output code: the kernels compute the same
    codes, and the model keeps the shorter output stage. (VWW's MobileNet has such channels in
    its last 1x1 convs, bias +-2^30: the float model's dead channels, weight scales raised until
    their bias fitted int32.)"""
    b = np.array(bias, np.int64).reshape(-1)
    w = np.asarray(weights).reshape(len(b), -1)
    m = np.broadcast_to(np.asarray(multiplier, np.int64), b.shape)
    s = np.broadcast_to(np.asarray(shift, np.int64), b.shape)
    lim = (1 << 30) >> np.maximum(s, 0)          # |bias| < lim: within the short stage's bound

    def code(o: int, acc: int) -> int:
        return int(im.requantize(np.array([acc]), m[o:o + 1], s[o:o + 1], out_zp, act_min, act_max)[0])

    for o in np.nonzero(~w.any(axis=1) & (np.abs(b) >= lim))[0]:
        want, sign = code(o, int(b[o])), 1 if b[o] > 0 else -1
        for cand in (0, sign * (int(lim[o]) - 1)):
            if code(o, cand) == want:
                b[o] = cand
                break
    return b


def requant_wide(weights: np.ndarray, bias: np.ndarray | None, in_zp: int, shift: np.ndarray) -> bool:
    """True when an accumulator of an output channel o (weights[o] against int8 inputs less
    in_zp, plus bias[o]), times 2^shift[o] where shift[o] > 0, may reach 2^30 in magnitude: its
    output stage then needs the full 64-bit sum (levin_conv_window.h, LEVIN_NO_REQUANT_WIDE).
    Padding adds (zp - zp) * w = 0; coded weights decode to the same values."""
    w = np.abs(np.asarray(weights, np.int64)).reshape(len(shift), -1).sum(axis=1)
    b = np.zeros(len(shift), np.int64) if bias is None else np.abs(np.asarray(bias, np.int64))
    bound = b + max(127 - in_zp, in_zp + 128) * w
    return bool(np.any(bound * 2.0 ** np.maximum(np.asarray(shift, np.int64), 0) >= 2.0 ** 30))
