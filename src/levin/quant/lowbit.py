"""Symmetric per-channel weight quantization at 2..8 bits.

Read me first. Weights are quantized symmetrically (zero point 0) to the narrow range
-(2^(b-1)-1) .. 2^(b-1)-1, as TFLite quantizes int8 weights (-127..127): the grid is symmetric
about 0, which keeps every product unbiased and lets a b-bit weight be stored as b-bit two's
complement without ever using its lowest code. At 2 bits that is the ternary set {-1, 0, 1};
full range would add -2, a grid that is no longer symmetric. In compute, every width is held
in int8; in storage, b bits per value (`pack`, with levin.coding.bitpack's format). The Graph
records the width in the weight tensor's `QuantParams.bits`.

Scales are per output channel (axis 0 of OHWI conv weights and [out, in] linear weights) or
one per tensor. Observers: "minmax" (max |w| / qmax, TFLite's choice) and "mse" (the clipping of
max |w| that minimises the squared error, which matters below 8 bits).
"""

from __future__ import annotations

import numpy as np

from levin.coding import bitpack
from levin.intmath import round_half_away

_CLIP_RATIOS = np.linspace(0.3, 1.0, 71)


def qmax(bits: int) -> int:
    """Largest code of a `bits`-bit narrow-range symmetric grid: 2^(bits-1) - 1 (127 at 8 bits)."""
    if not 2 <= bits <= 8:
        raise ValueError(f"weight bits must be in 2..8, got {bits}")
    return (1 << (bits - 1)) - 1


def _rows(w: np.ndarray, per_channel: bool) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    return w.reshape(w.shape[0], -1) if per_channel else w.reshape(1, -1)


def weight_scales(w: np.ndarray, bits: int = 8, *, per_channel: bool = True,
                  method: str = "minmax") -> np.ndarray:
    """float32 scales, one per output channel (or a 1-element array): max|w| / qmax, or with
    method="mse" the clipped max|w| * r (r in 0.3..1) with the least squared error per channel.
    An all-zero channel gets scale 1.0."""
    rows = _rows(w, per_channel)
    q = qmax(bits)
    top = np.abs(rows).max(axis=1)
    if method == "minmax":
        best = top
    elif method == "mse":
        errors = []
        for r in _CLIP_RATIOS:
            s = np.maximum(top * r / q, np.finfo(np.float64).tiny)[:, None]
            deq = np.clip(round_half_away(rows / s), -q, q) * s
            errors.append(((rows - deq) ** 2).sum(axis=1))
        best = top * _CLIP_RATIOS[np.argmin(np.stack(errors), axis=0)]
    else:
        raise ValueError(f"weight observer {method!r} is not one of minmax, mse")
    return np.where(best < np.finfo(np.float32).tiny, 1.0, best / q).astype(np.float32)


def quantize_weights(w: np.ndarray, scales: np.ndarray, bits: int = 8) -> np.ndarray:
    """int8 codes clamp(round_half_away(w / scale), -qmax, qmax), scales along axis 0 (or one).

    The division is float64 of the float32 scale, exactly as the fake-quant model computes it in
    float64, so the two give the same codes."""
    w = np.asarray(w, dtype=np.float64)
    s = np.asarray(scales, dtype=np.float32).astype(np.float64)
    s = s.reshape((-1,) + (1,) * (w.ndim - 1)) if s.size > 1 else s.reshape(())
    q = qmax(bits)
    return np.clip(round_half_away(w / s), -q, q).astype(np.int8)


def quantize_bias(b: np.ndarray, input_scale: float, weight_scales: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(int32 codes, float32 scales) of a bias: scale input_scale * weight_scale per channel (the
    product of the float32 scales in double, rounded to float32 as a .tflite stores it), codes
    round_half_away(b / scale) clamped to int32."""
    scale = (np.float64(np.float32(input_scale))
             * np.asarray(weight_scales, dtype=np.float32).astype(np.float64))
    scale = np.broadcast_to(scale.astype(np.float32), np.shape(b))
    q = round_half_away(np.asarray(b, dtype=np.float64) / scale.astype(np.float64))
    return np.clip(q, -(2 ** 31), 2 ** 31 - 1).astype(np.int32), scale.astype(np.float32)


def pack(q: np.ndarray, bits: int) -> bytes:
    """Codes of a `bits`-bit weight tensor as stored: b-bit two's complement, C order."""
    return bitpack.pack_signed(np.asarray(q).ravel().astype(np.int64), bits)


def unpack(data: bytes, count: int, bits: int) -> np.ndarray:
    return bitpack.unpack_signed(data, bits, count).astype(np.int8)


def packed_nbytes(count: int, bits: int) -> int:
    return bitpack.packed_size(count, bits)
