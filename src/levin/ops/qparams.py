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


def accumulate(acc: np.ndarray, node) -> np.ndarray:
    """float64 sums of integer products (exact) -> int64, which must fit int32 as in C."""
    acc = np.rint(acc).astype(np.int64)
    if acc.size and (acc.min() < INT32[0] or acc.max() > INT32[1]):
        raise GraphError(f"node {node.name!r} ({node.op}): an int32 accumulator overflows")
    return acc


def requantize(acc, node, x, w, out, *, float_product=False, single_round=False):
    """int32 accumulators of a conv / fully connected -> int8 output codes."""
    s_out, zp_out = sz(out)
    reals = im.effective_scale(sz(x)[0], w.quant.scale, s_out, float_product=float_product)
    m, shift = im.quantize_multipliers(np.atleast_1d(reals), single_round=single_round)
    if m.size == 1:
        m, shift = m[0], shift[0]
    return im.requantize(acc, m, shift, zp_out, axis=-1, single_round=single_round)


def rescale(x, t_in, t_out, lo: int, hi: int, single_round=False, float_ratio=False):
    """zp_out + (x - zp_in) * s_in / s_out, clamped: TFLite `ReluX` (which divides the scales in
    float32, `float_ratio`) and int8 -> int8 `Requantize` (in double)."""
    (s_in, zp_in), (s_out, zp_out) = sz(t_in), sz(t_out)
    diff = x.astype(np.int64) - zp_in
    if (s_in, zp_in) != (s_out, zp_out):
        m, shift = im.quantize_multiplier(rescale_ratio(s_in, s_out, float_ratio), single_round=single_round)
        diff = im.multiply_by_quantized_multiplier(diff, m, shift, single_round=single_round)
    return np.clip(np.asarray(diff, np.int64) + zp_out, lo, hi).astype(np.int8)


def rescale_ratio(s_in: float, s_out: float, float_ratio: bool) -> float:
    return float(np.float32(s_in) / np.float32(s_out) if float_ratio
                 else np.float64(np.float32(s_in)) / np.float64(np.float32(s_out)))
