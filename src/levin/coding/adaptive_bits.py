"""Bits under adaptive probabilities, coded by a binary rANS: the engine shared by positions
method 3 (`context_positions.py`) and the adaptive value coder (`adaptive_values.py`).

Read me first. A model predicts each bit from what was decoded before it and learns as it goes,
so no table is sent. Every adaptive estimate is a *counter*: a 16-bit probability p of a 1 (in
1/65536) and a count m (0..255). After a bit b: with r = min(1 + bit_length(m), 7)
(bit_length(0) = 0; about the 1/(m + 2) step of counting, until 1/128),
p += (65536 - p) >> r if b else p -= p >> r; then m += 1 (up to 255). A new counter has m = 0
and the p its user gives it (32768 unless said). Integer only, so Python and any other reader
agree to the bit.

A bit is coded with q = clamp(p >> 4, 1, 4095) as P(1) = q / 4096: symbol 0 takes slots
[0, 4096 - q), symbol 1 slots [4096 - q, 4096). The coder is levin's byte-wise rANS (`rans.py`:
one state, L = 2^23, precision 12): payload = the initial state (u32 LE), then the
renormalization bytes; after the last bit the state must be 2^23 and every byte read. The
encoder takes every bit's q front to back (the model runs forwards), then codes back to front
(rANS is last in, first out).
"""

from __future__ import annotations

from levin.coding.rans import RANS_L
from levin.errors import LevinFormatError

PREC = 12                      # the coder's probability precision
RATE_LIMIT = 7
RATE_START = 1
HALF = 32768


def update(p: int, m: int, bit: int) -> tuple[int, int]:
    """The counter (p, m) after seeing `bit`."""
    r = min(RATE_START + m.bit_length(), RATE_LIMIT)
    p = p + ((65536 - p) >> r) if bit else p - (p >> r)
    return p, min(m + 1, 255)


def q_of(p: int) -> int:
    """The 12-bit P(1) a counter's p codes with."""
    return min(max(p >> 4, 1), 4095)


def encode(bits: list[int], qs: list[int]) -> bytes:
    """The rANS payload of `bits`, bit i with P(1) = qs[i] / 4096."""
    x = RANS_L
    out = bytearray()
    top = 1 << PREC
    for i in range(len(bits) - 1, -1, -1):
        q = qs[i]
        f, cum = (q, top - q) if bits[i] else (top - q, 0)
        xmax = ((RANS_L >> PREC) << 8) * f
        while x >= xmax:
            out.append(x & 0xFF)
            x >>= 8
        x = ((x // f) << PREC) + (x % f) + cum
    out += x.to_bytes(4, "big")
    out.reverse()
    return bytes(out)


class Decoder:
    """Reads the `total` bits of one payload in order: `bit(q)` each, then `finish()`.

    Errors name `what` (e.g. "sparse context") and, for a short payload, the bit it ends at.
    """

    def __init__(self, data: bytes, what: str, total: int):
        self.what, self.total, self.done = what, total, 0
        if len(data) < 4:
            raise LevinFormatError(f"{what}: payload shorter than its 4-byte rANS state")
        self.x = int.from_bytes(data[:4], "little")
        if not RANS_L <= self.x < 1 << 31:
            raise LevinFormatError(f"{what}: initial rANS state {self.x:#x} outside [2^23, 2^31)")
        self.data, self.pos = data, 4

    def bit(self, q: int) -> int:
        slot = self.x & ((1 << PREC) - 1)
        f0 = (1 << PREC) - q
        if slot >= f0:
            b, x = 1, q * (self.x >> PREC) + slot - f0
        else:
            b, x = 0, f0 * (self.x >> PREC) + slot
        while x < RANS_L:
            if self.pos >= len(self.data):
                raise LevinFormatError(f"{self.what}: payload ends at bit {self.done} of {self.total}")
            x = (x << 8) | self.data[self.pos]
            self.pos += 1
        self.x = x
        self.done += 1
        return b

    def finish(self) -> None:
        """Raises unless the payload ended exactly where the last bit did."""
        if self.x != RANS_L or self.pos != len(self.data):
            raise LevinFormatError(f"{self.what}: the payload does not end where its {self.total} bits do "
                                   f"(final state {self.x:#x}, {len(self.data) - self.pos} bytes left)")
