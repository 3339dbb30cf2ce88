"""Golomb-family codes for wide, roughly symmetric integer streams (int32 biases, issue 22).

Read me first. A bias is a fine-grained integer (float bias / (input scale x weight scale)), so
its values are nearly all distinct: a codebook or a frequency table costs more than it saves,
and a varint spends whole bytes. These codes need no table, only a center c and an order k:

    r = v - c                  residual around the center (0 or the median, whichever is shorter)
    u = zigzag(r)              0, -1, 1, -2 ... -> 0, 1, 2, 3 ...
    Exp-Golomb (mode 0):       order-k Exp-Golomb code of u (`bitstream.py`): for values whose
                               magnitudes spread over many octaves (Gaussian-like, outliers)
    Rice (mode 1):             q = u >> k as q zero bits and a one bit, then the k low bits of u
                               MSB first: the optimal prefix code for Laplacian values

Bits follow levin's bit order (bitstream.py: bytes fill from the least significant bit, codes go
MSB first); the stream ends zero-padded to a byte. On LeNet-5's biases this is 0.3-0.5 bits per
value above the order-0 entropy of a fitted distribution, with one byte of parameters.

Scaled values: when every value is a multiple of 2^s (biases rounded to the resolution the
outputs need, `levin.quant.bias_precision`), the codes are of v >> s and the stream stores s:
s bits per value saved for one byte.

`best` tries both modes, both centers and the orders around log2 of the mean magnitude (the
cost is convex in k), each costed in closed form, with and without the values' common power of
two; `encode` and `decode` are vectorized where they can be (a Python pass over a '0'/'1'
string, no per-bit loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from levin.errors import LevinFormatError

EXP_GOLOMB, RICE = 0, 1
MODES = {EXP_GOLOMB: "exp-golomb", RICE: "rice"}
MAX_K = 40                       # u < 2^34 for int32 values around an int32 center
MAX_U = 1 << 34
MAX_SHIFT = 31                   # values are multiples of 2^shift, shift <= 31 (int32)
_POWERS = 1 << np.arange(63, dtype=np.int64)


@dataclass(frozen=True)
class GolombParams:
    mode: int
    k: int
    center: int                  # of the scaled values v >> shift
    bits: int                    # payload bits, before padding
    shift: int = 0               # every value is a multiple of 2^shift

    @property
    def payload_bytes(self) -> int:
        return (self.bits + 7) // 8


def _zigzag(r: np.ndarray) -> np.ndarray:
    return np.where(r >= 0, 2 * r, -2 * r - 1)


def _bit_length(w: np.ndarray) -> np.ndarray:
    """Exact bit lengths of nonnegative int64 values (no float rounding near powers of two)."""
    return np.searchsorted(_POWERS, w, side="right")


def code_bits(u: np.ndarray, mode: int, k: int) -> int:
    """Total bits of the codes of the zigzagged residuals `u` (int64 >= 0)."""
    if mode == EXP_GOLOMB:
        return int((2 * _bit_length(u + (1 << k)) - 1 - k).sum())
    return int(((u >> k) + 1 + k).sum())


def common_shift(values: np.ndarray) -> int:
    """The largest s <= MAX_SHIFT with every value a multiple of 2^s (0 for none or all zero)."""
    bits = int(np.bitwise_or.reduce(np.asarray(values, dtype=np.int64))) if np.size(values) else 0
    if bits == 0:
        return 0
    return min(MAX_SHIFT, (bits & -bits).bit_length() - 1)


def best(values: np.ndarray) -> GolombParams:
    """The shortest (mode, k, center, shift) for int64 `values`; ties keep EG, low k, center 0,
    no shift (a shift costs its byte, so it is kept only where it saves more)."""
    values = np.asarray(values, dtype=np.int64)
    out = _best_unscaled(values)
    shift = common_shift(values)
    if shift:
        scaled = _best_unscaled(values >> shift)
        if scaled.payload_bytes + 1 < out.payload_bytes:
            return GolombParams(scaled.mode, scaled.k, scaled.center, scaled.bits, shift)
    return out


def _best_unscaled(values: np.ndarray) -> GolombParams:
    centers = [0] if not values.size else sorted({0, int(np.median(values))}, key=lambda c: (c != 0, c))
    out: GolombParams | None = None
    for center in centers:
        u = _zigzag(values - center)
        k0 = int(np.log2(u.mean() + 1)) if u.size else 0
        for mode in MODES:
            for k in range(max(0, k0 - 3), min(MAX_K, k0 + 3) + 1):
                p = GolombParams(mode, k, center, code_bits(u, mode, k))
                if out is None or p.bits < out.bits:
                    out = p
    return out


def encode(values: np.ndarray, p: GolombParams) -> bytes:
    """The payload of `values` coded with `p` (module docstring), zero-padded to a byte."""
    u = _zigzag((np.asarray(values, dtype=np.int64) >> p.shift) - p.center).tolist()
    k = p.k
    if p.mode == EXP_GOLOMB:
        parts = []
        for x in u:
            w = format(x + (1 << k), "b")
            parts.append("0" * (len(w) - 1 - k) + w)
    else:
        low = (1 << k) - 1
        parts = ["0" * (x >> k) + "1" + (format(x & low, f"0{k}b") if k else "") for x in u]
    s = "".join(parts)
    s += "0" * (-len(s) % 8)
    bits = np.frombuffer(s.encode("ascii"), np.uint8) - ord("0")
    return np.packbits(bits, bitorder="little").tobytes()


def decode(payload: bytes, count: int, mode: int, k: int) -> np.ndarray:
    """The `count` residuals (int64, center not added, not shifted back) coded in `payload`.

    Raises:
        LevinFormatError: unknown mode, order too large, truncated codes, a value past 2^34,
            nonzero padding or whole bytes after the last code.
    """
    if mode not in MODES or k > MAX_K:
        raise LevinFormatError(f"golomb stream: unknown mode {mode} or order {k} > {MAX_K}")
    if count > 8 * len(payload):     # every code takes at least one bit
        raise LevinFormatError(f"golomb stream: {count} codes cannot fit in {len(payload)} bytes")
    bits = np.unpackbits(np.frombuffer(payload, np.uint8), bitorder="little")
    s = (bits + ord("0")).tobytes().decode("ascii")
    out, i, n = [], 0, len(s)
    for _ in range(count):
        j = s.find("1", i)
        if j < 0:
            raise LevinFormatError(f"golomb stream: truncated after {len(out)} of {count} values")
        z = j - i
        if mode == EXP_GOLOMB:
            if z + k > 36:
                raise LevinFormatError(f"golomb stream: value {len(out)} has {z} leading zeros (corrupt)")
            end = j + 1 + z + k
            u = int(s[j:end], 2) - (1 << k) if end <= n else -1
        else:
            end = j + 1 + k
            u = (z << k) | (int(s[j + 1:end], 2) if k else 0) if end <= n else -1
        if u < 0:
            raise LevinFormatError(f"golomb stream: truncated in value {len(out)} of {count}")
        if u >= MAX_U:
            raise LevinFormatError(f"golomb stream: value {len(out)} is {u} >= 2^34 (corrupt)")
        out.append(u)
        i = end
    if n - i >= 8 or "1" in s[i:]:
        raise LevinFormatError("golomb stream: bytes or nonzero padding bits after the last value")
    u = np.asarray(out, dtype=np.int64)
    return np.where(u & 1, -((u + 1) >> 1), u >> 1)
