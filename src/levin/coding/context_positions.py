"""Positions of the nonzeros as bits under an adaptive context model, binary rANS (positions method 3).

Read me first. A pruned layer's nonzeros are not spread evenly: some output channels keep many
weights, some input channels (or kernel taps) are almost never used. Order-0 codes (`sparse.py`)
pay the average density everywhere; this method predicts each position's bit from what was decoded
before it, and adapts, so no table or per-channel rate is sent.

The tensor (n elements, `rows` output channels of `per` = n / rows elements, flat C order) is
coded bit by bit, bit i = 1 where element i is nonzero. Element i = r * per + c has

- its *group* k = c mod g: g (1..64, sent in the blob) is the period of the input channels in a
  row (the last dimension of an OHWI conv weight; for a Linear after a flatten of NHWC maps, the
  channel count), so group k's state learns how much input channel k is used;
- its *row density*: the ones so far in this row, against c.

Every adaptive estimate is a counter of `adaptive_bits.py` (a 16-bit probability and a count;
the coding of each bit is described there too), started at p = p0 << 8.

Context of bit i: ctx = 6 * G + R with
    G = 0 if group k's counter has m = 0, else 1 + #{t in (328, 983, 2621, 6554, 16384) : p_k >= t}
        (group rate buckets at about 0.5%, 1.5%, 4%, 10%, 25%);
    R = 0 if c = 0, else 1 + #{s in (6, 4, 3, 2) : (ones so far in the row << s) >= c}
        (row rate buckets at 1/64, 1/16, 1/8, 1/4),
42 contexts, each its own counter. The bit is coded with the context counter's q (`adaptive_bits`:
P(1) = q / 4096, binary rANS); then the context's counter and the group's counter are both
updated with the bit.

Blob of `encode` (`sparse.py` puts the positions byte 0x03 and varint rows before it):
    u8      g, the group period (1..64, and per must be a multiple of g)
    u8      p0 (1..255): every counter starts at p = p0 << 8 (the tensor's density, 1/256ths)
    rest    the rANS payload of the n bits

Speed: pure Python, about 2-3 us per position each way, so the writer tries it on masks of at
most 2^19 positions (`sparse.CONTEXT_MAX_ELEMENTS`) with two group periods (`likely_groups`).
"""

from __future__ import annotations

import numpy as np

from levin.coding import adaptive_bits
from levin.coding.adaptive_bits import q_of, update
from levin.errors import LevinFormatError

MAX_GROUPS = 64                # g: group counters live in the C reader struct (64 x 4 bytes)
GROUP_THRESHOLDS = (328, 983, 2621, 6554, 16384)
ROW_SHIFTS = (6, 4, 3, 2)
N_CONTEXTS = 7 * 6


def initial_p(mask: np.ndarray) -> int:
    """The byte p0 that starts every counter at p = p0 << 8: the tensor's density, 1..255."""
    m = np.asarray(mask).reshape(-1)
    return int(min(max(round(256 * np.count_nonzero(m) / max(m.size, 1)), 1), 255))


def probabilities(mask: np.ndarray, rows: int, groups: int, p0: int) -> list[int]:
    """q (P(1) in 1/4096) of every bit of the flat `mask`, front to back (module docstring)."""
    bits = np.asarray(mask, dtype=bool).reshape(-1).tolist()
    per = len(bits) // rows
    gp, gm = [p0 << 8] * groups, [0] * groups
    cp, cm = [p0 << 8] * N_CONTEXTS, [0] * N_CONTEXTS
    out = [0] * len(bits)
    i = 0
    for _ in range(rows):
        ones = 0
        for c in range(per):
            k = c % groups
            ctx = _context(gp[k], gm[k], ones, c)
            out[i] = q_of(cp[ctx])
            b = bits[i]
            cp[ctx], cm[ctx] = update(cp[ctx], cm[ctx], b)
            gp[k], gm[k] = update(gp[k], gm[k], b)
            ones += b
            i += 1
    return out


def _context(gp: int, gm: int, ones: int, c: int) -> int:
    g = 0 if gm == 0 else 1 + sum(gp >= t for t in GROUP_THRESHOLDS)
    r = 0 if c == 0 else 1 + sum((ones << s) >= c for s in ROW_SHIFTS)
    return 6 * g + r


def encode(mask: np.ndarray, rows: int, groups: int) -> bytes:
    """The blob (g, then the rANS payload) of a flat mask of `rows` equal rows."""
    bits = np.asarray(mask, dtype=bool).reshape(-1)
    p0 = initial_p(bits)
    check_head(bits.size, rows, groups, p0)
    qs = probabilities(bits, rows, groups, p0)
    return bytes([groups, p0]) + adaptive_bits.encode(bits.tolist(), qs)


def check_head(n: int, rows: int, groups: int, p0: int) -> None:
    """Raises LevinFormatError unless `rows` divides n, g is in 1..64 and divides a row, p0 >= 1."""
    if rows < 1 or n % rows or not 1 <= groups <= MAX_GROUPS or (n // rows) % groups:
        raise LevinFormatError(f"sparse context: group period {groups} does not divide a row of "
                               f"{n // max(rows, 1)} (or is outside 1..{MAX_GROUPS})")
    if not 1 <= p0 <= 255:
        raise LevinFormatError(f"sparse context: initial probability {p0} outside 1..255")


def decode(blob: bytes, n: int, rows: int) -> np.ndarray:
    """The flat boolean mask of `n` positions in `rows` rows coded in `blob` (g, then the payload).

    Raises:
        LevinFormatError: a bad group period, a truncated payload, a final state other than 2^23,
            or bytes left over.
    """
    if len(blob) < 2:
        raise LevinFormatError("sparse context: missing group period or initial probability")
    groups, p0 = blob[0], blob[1]
    check_head(n, rows, groups, p0)
    dec = adaptive_bits.Decoder(blob[2:], "sparse context", n)
    per = n // rows
    gp, gm = [p0 << 8] * groups, [0] * groups
    cp, cm = [p0 << 8] * N_CONTEXTS, [0] * N_CONTEXTS
    out = np.zeros(n, dtype=bool)
    i = 0
    for _ in range(rows):
        ones = 0
        for c in range(per):
            k = c % groups
            ctx = _context(gp[k], gm[k], ones, c)
            b = dec.bit(q_of(cp[ctx]))
            cp[ctx], cm[ctx] = update(cp[ctx], cm[ctx], b)
            gp[k], gm[k] = update(gp[k], gm[k], b)
            ones += b
            out[i] = b
            i += 1
    dec.finish()
    return out


def candidate_groups(per: int, last_dim: int | None = None) -> list[int]:
    """Group periods worth trying for rows of `per` elements: 1, the tensor's last dimension, and
    the divisors of per up to 64 that are at least 8 (channel counts)."""
    gs = {1} | {g for g in range(8, MAX_GROUPS + 1) if per % g == 0}
    if last_dim is not None and 1 <= last_dim <= MAX_GROUPS and per % last_dim == 0:
        gs.add(last_dim)
    return sorted(gs)


def _two_part_bits(ones: np.ndarray, n: np.ndarray) -> float:
    """Static cost of bits in classes of n with `ones` ones: n H(p) + log2(n + 1) / 2 per class
    (the price of learning its rate)."""
    p = np.clip(ones / np.maximum(n, 1), 1e-12, 1 - 1e-12)
    return float(-(ones * np.log2(p) + (n - ones) * np.log2(1 - p)).sum() + 0.5 * np.log2(n + 1).sum())


def _group_bits(m: np.ndarray, g: int) -> float:
    rows, per = m.shape
    col = np.arange(per) % g
    return _two_part_bits(np.bincount(col, weights=m.sum(axis=0), minlength=g),
                          np.bincount(col, minlength=g) * rows)


def likely_groups(mask: np.ndarray, rows: int, last_dim: int | None = None, keep: int = 1) -> list[int]:
    """1 and the `keep` candidate periods whose groups best predict the bits by `_two_part_bits`,
    so the slow adaptive coder runs twice, not once per divisor. On LeNet-5 (MDL, AGP), ResNet-8
    and DS-CNN (pruned) the better of the two codes within a byte of the best of all."""
    m = np.asarray(mask, dtype=bool).reshape(rows, -1)
    others = sorted((g for g in candidate_groups(m.shape[1], last_dim) if g != 1),
                    key=lambda g: (_group_bits(m, g), g))
    return [1] + sorted(others[:keep])


SMALL = 4096       # positions: below this the coder is cheap, and no table can win it a few bytes


def promising(mask: np.ndarray, rows: int, last_dim: int | None = None) -> bool:
    """Whether the context model is worth running: a small mask, or per-row or per-group rates
    that beat one rate by 1% (static costs). Masks pruned at random (one threshold per tensor)
    have neither, and there the context model never won (benchmarks/lvn_sections.py, zoo)."""
    m = np.asarray(mask, dtype=bool).reshape(rows, -1)
    if m.size <= SMALL:
        return True
    one = _two_part_bits(np.array([m.sum()]), np.array([m.size]))
    by_row = _two_part_bits(m.sum(axis=1), np.full(rows, m.shape[1]))
    by_group = min(_group_bits(m, g) for g in likely_groups(m, rows, last_dim)[1:] or [1])
    return min(by_row, by_group) < 0.99 * one
