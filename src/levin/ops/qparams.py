"""Quantization parameters as the integer kernels read them, and the requantization they share
(TFLite int8 conventions; the arithmetic itself is `levin.intmath`)."""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin import intmath as im

INT32 = (-(1 << 31), (1 << 31) - 1)


def sz(t) -> tuple[float, int]:
    """(scale, zero point) of a per-tensor quantized tensor."""
    if t.quant is None or t.quant.scale.size != 1:
        raise GraphError(f"tensor {t.name!r} needs per-tensor quantization parameters here")
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


def same_params(a, b, node) -> None:
    """Kernels that move codes unchanged need the same parameters on input and output."""
    if sz(a) != sz(b):
        raise GraphError(f"node {node.name!r} ({node.op}): int8 kernel needs the same scale and zero "
                         f"point on input {a.name!r} {sz(a)} and output {b.name!r} {sz(b)}")


def symmetric(node, w) -> None:
    """TFLite int8 weights are symmetric; the kernels (here and in C) never subtract a weight zero point."""
    if w.quant is not None and np.any(w.quant.zero_point != 0):
        raise GraphError(f"node {node.name!r}: weight {w.name!r} has a nonzero zero point; int8 weights "
                         f"must be symmetric (zero point 0), as in TFLite")


def accumulate(acc: np.ndarray, node, bias: np.ndarray | None = None) -> np.ndarray:
    """The int32 accumulators from float64 sums of integer products (exact): products, then
    products plus bias, each checked to fit int32 (C would overflow; TFLite assumes they fit)."""
    def check(acc: np.ndarray, what: str) -> np.ndarray:
        if acc.size and (acc.min() < INT32[0] or acc.max() > INT32[1]):
            raise GraphError(f"node {node.name!r} ({node.op}): an int32 accumulator{what} overflows "
                             f"(reaches {acc.min() if acc.min() < INT32[0] else acc.max()})")
        return acc

    acc = check(np.rint(acc).astype(np.int64), "")
    return acc if bias is None else check(acc + bias.astype(np.int64), " plus the bias")


def shift_ok(shift, ratio, node) -> None:
    """TFLite's kernels take requantization shifts in -31..30 (C shifts are undefined beyond)."""
    shift = np.atleast_1d(shift)
    if shift.size and shift.max() > 30:
        raise GraphError(f"node {node.name!r} ({node.op}): requantization shift {int(shift.max())} "
                         f"outside -31..30 (scale ratio {float(np.max(ratio)):.3g}: the scales are too "
                         f"far apart for TFLite's int8 kernels)")


def requantize(acc, node, x, w, out, *, float_product=False, single_round=False):
    """int32 accumulators of a conv / fully connected -> int8 output codes."""
    s_out, zp_out = sz(out)
    reals = im.effective_scale(sz(x)[0], w.quant.scale, s_out, float_product=float_product)
    m, shift = im.quantize_multipliers(np.atleast_1d(reals), single_round=single_round)
    shift_ok(shift, reals, node)
    if m.size == 1:
        m, shift = m[0], shift[0]
    return im.requantize(acc, m, shift, zp_out, axis=-1, single_round=single_round)


def rescale(x, t_in, t_out, lo: int, hi: int, single_round=False, float_ratio=False, node=None):
    """zp_out + (x - zp_in) * s_in / s_out, clamped: TFLite `ReluX` (which divides the scales in
    float32, `float_ratio`) and int8 -> int8 `Requantize` (in double)."""
    (s_in, zp_in), (s_out, zp_out) = sz(t_in), sz(t_out)
    diff = x.astype(np.int64) - zp_in
    if (s_in, zp_in) != (s_out, zp_out):
        ratio = rescale_ratio(s_in, s_out, float_ratio)
        where = f"node {node.name!r} ({node.op})" if node is not None else f"tensor {t_out.name!r}"
        if not np.isfinite(ratio):
            raise GraphError(f"{where}: scale ratio {s_in:.3g} / {s_out:.3g} overflows float32 "
                             f"(TFLite divides the scales in float32 here)")
        m, shift = im.quantize_multiplier(ratio, single_round=single_round)
        if node is not None:
            shift_ok(shift, ratio, node)
        diff = im.multiply_by_quantized_multiplier(diff, m, shift, single_round=single_round)
    return np.clip(np.asarray(diff, np.int64) + zp_out, lo, hi).astype(np.int8)


def rescale_ratio(s_in: float, s_out: float, float_ratio: bool) -> float:
    """s_in / s_out as TFLite computes it: in float32 (ReluX) or in double from float32 scales."""
    with np.errstate(over="ignore"):
        return float(np.float32(s_in) / np.float32(s_out) if float_ratio
                     else np.float64(np.float32(s_in)) / np.float64(np.float32(s_out)))
