"""Bit streams shared by the coding tables and Huffman: bit order and Exp-Golomb codes.

Bit order (the same in every levin bit stream): stream bit p is bit (p mod 8) of byte p div 8,
i.e. bytes fill from their least significant bit. Two ways to put an n-bit value in the stream:

- a *field* (`write_bits`/`read_bits`) goes least significant bit first, so a little-endian C
  reader can take `(word >> p) & mask`;
- a *code* (`write_code`/`read_code`: Huffman codes, Exp-Golomb) goes most significant bit first,
  so a decoder that reads one bit at a time can walk the code from its first bit (as deflate does).

Exp-Golomb of order k for v >= 0: let w = v + 2^k and n = bit_length(w); write n-1-k zero bits,
then w as an n-bit code. So v = 0 with k = 0 is the single bit 1. A stream ends at a byte boundary
with zero padding bits; readers reject nonzero padding, so every value has one encoding.
"""

from __future__ import annotations

from levin.errors import LevinFormatError

MAX_EXP_GOLOMB_ZEROS = 32  # values are < 2^32: more leading zeros than this is corrupt data


class BitWriter:
    """Appends bits to a byte buffer in levin's bit order."""

    def __init__(self) -> None:
        self._out = bytearray()
        self._acc = 0
        self._n = 0

    def write_bits(self, value: int, n: int) -> None:
        """Append the low `n` bits of `value`, least significant first."""
        self._acc |= (value & ((1 << n) - 1)) << self._n
        self._n += n
        while self._n >= 8:
            self._out.append(self._acc & 0xFF)
            self._acc >>= 8
            self._n -= 8

    def write_code(self, code: int, n: int) -> None:
        """Append an `n`-bit code, most significant bit first."""
        rev = int(format(code, f"0{n}b")[::-1], 2) if n else 0
        self.write_bits(rev, n)

    def write_exp_golomb(self, value: int, k: int) -> None:
        """Append `value` >= 0 as an order-k Exp-Golomb code."""
        w = value + (1 << k)
        n = w.bit_length()
        self.write_bits(0, n - 1 - k)
        self.write_code(w, n)

    @property
    def bit_count(self) -> int:
        return 8 * len(self._out) + self._n

    def to_bytes(self) -> bytes:
        """Return the bytes written so far, the last one zero-padded."""
        tail = bytes([self._acc]) if self._n else b""
        return bytes(self._out) + tail


class BitReader:
    """Reads bits from `buf[pos:end]` in levin's bit order; running past `end` is an error."""

    def __init__(self, buf: bytes, pos: int, end: int, what: str):
        self._buf = buf
        self._bit = 8 * pos
        self._end_bit = 8 * end
        self.what = what

    def read_bit(self) -> int:
        if self._bit >= self._end_bit:
            raise LevinFormatError(f"{self.what}: truncated (bit stream ends at byte {self._end_bit // 8})")
        b = (self._buf[self._bit >> 3] >> (self._bit & 7)) & 1
        self._bit += 1
        return b

    def read_bits(self, n: int) -> int:
        """Read an `n`-bit field, least significant bit first."""
        v = 0
        for i in range(n):
            v |= self.read_bit() << i
        return v

    def read_code(self, n: int) -> int:
        """Read an `n`-bit code, most significant bit first."""
        v = 0
        for _ in range(n):
            v = (v << 1) | self.read_bit()
        return v

    def read_exp_golomb(self, k: int) -> int:
        zeros = 0
        while self.read_bit() == 0:
            zeros += 1
            if zeros > MAX_EXP_GOLOMB_ZEROS:
                raise LevinFormatError(
                    f"{self.what}: Exp-Golomb code with more than {MAX_EXP_GOLOMB_ZEROS} leading zeros"
                )
        return ((1 << (zeros + k)) | self.read_code(zeros + k)) - (1 << k)

    def finish(self) -> int:
        """Skip the zero padding to the next byte boundary; return the byte position after it."""
        while self._bit & 7:
            if self.read_bit():
                raise LevinFormatError(f"{self.what}: nonzero padding bits at byte {(self._bit - 1) >> 3}")
        return self._bit >> 3
