"""Bounded readers and writers of the container's fixed fields: u8, u32, float32/64, varints, strings.

Every multi-byte field is little-endian. Varints are LEB128 (`varint.py`); a *signed* varint is
the zigzag map s -> 2s for s >= 0, -2s - 1 for s < 0, then LEB128 (so -1 -> 1, 1 -> 2), for
values in -2^31..2^31-1. `ByteReader` never reads past its `end` and checks every declared count
against the bytes left before anything is allocated; each error names the field.
"""

from __future__ import annotations

import struct

import numpy as np

from levin.coding.limits import LIMITS, exceeds
from levin.coding.varint import encode_varint, read_varint
from levin.errors import LevinFormatError

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1


def zigzag(value: int) -> int:
    """Map a signed int32 to an unsigned one: 0, -1, 1, -2 ... -> 0, 1, 2, 3 ..."""
    value = int(value)
    if not INT32_MIN <= value <= INT32_MAX:
        raise ValueError(f"signed varint {value} outside int32 range")
    return 2 * value if value >= 0 else -2 * value - 1


def unzigzag(u: int) -> int:
    return u >> 1 if not u & 1 else -((u + 1) >> 1)


class ByteWriter:
    """Appends fields to a bytearray."""

    def __init__(self) -> None:
        self.out = bytearray()

    def u8(self, v: int) -> None:
        self.out.append(v)

    def u32(self, v: int) -> None:
        self.out += struct.pack("<I", v)

    def f64(self, v: float) -> None:
        self.out += struct.pack("<d", v)

    def varint(self, v: int) -> None:
        self.out += encode_varint(v)

    def svarint(self, v: int) -> None:
        self.out += encode_varint(zigzag(v))

    def raw(self, b: bytes) -> None:
        self.out += b

    def blob(self, b: bytes) -> None:
        """A varint byte length, then the bytes."""
        self.varint(len(b))
        self.out += b

    def __len__(self) -> int:
        return len(self.out)


class ByteReader:
    """Reads fields from buf[pos:end]; `what` prefixes every error ("tensor section 3: ...")."""

    def __init__(self, buf: bytes, pos: int, end: int, what: str):
        self.buf, self.pos, self.end, self.what = buf, pos, end, what
        self._view = memoryview(buf)[:end]  # varints must not read past `end`; slicing is free

    @property
    def left(self) -> int:
        return self.end - self.pos

    def fail(self, message: str) -> LevinFormatError:
        return LevinFormatError(f"{self.what}: {message}")

    def take(self, n: int, field: str) -> bytes:
        if n < 0 or n > self.left:
            raise self.fail(f"{field}: needs {n} bytes at offset {self.pos}, {self.left} left (truncated?)")
        out = self.buf[self.pos : self.pos + n]
        self.pos += n
        return out

    def u8(self, field: str) -> int:
        return self.take(1, field)[0]

    def u32(self, field: str) -> int:
        return struct.unpack("<I", self.take(4, field))[0]

    def f64(self, field: str) -> float:
        return struct.unpack("<d", self.take(8, field))[0]

    def f32_array(self, n: int, field: str) -> np.ndarray:
        return np.frombuffer(self.take(4 * n, field), dtype="<f4").astype(np.float32)

    def varint(self, field: str) -> int:
        try:
            value, pos = read_varint(self._view, self.pos, field)
        except LevinFormatError as e:
            raise self.fail(str(e)) from None
        self.pos = pos
        return value

    def svarint(self, field: str) -> int:
        u = self.varint(field)
        if u > 0xFFFFFFFF:
            raise self.fail(f"{field}: signed varint out of range")
        return unzigzag(u)

    def count(self, field: str, min_bytes_each: int = 1, limit: str | None = None) -> int:
        """A varint count of items that take at least `min_bytes_each` bytes each: checked first,
        against the bytes left and against `limit`, the name of one of `LIMITS` (limits.py)."""
        n = self.varint(field)
        if limit is not None and n > getattr(LIMITS, limit):
            raise self.fail(f"{field} = {exceeds(limit, n)} (corrupt, or a hostile file)")
        if n * min_bytes_each > self.left:
            raise self.fail(f"{field} = {n} is impossible with {self.left} bytes left (corrupt or truncated)")
        return n

    def blob(self, field: str, limit: str | None = None) -> bytes:
        """A varint byte length, then the bytes; the length checked against `limit` (a LIMITS name)."""
        n = self.varint(field + " length")
        if limit is not None and n > getattr(LIMITS, limit):
            raise self.fail(f"{field} length = {exceeds(limit, n)} (corrupt, or a hostile file)")
        return self.take(n, field)

    def expect_end(self) -> None:
        if self.pos != self.end:
            raise self.fail(f"{self.end - self.pos} bytes left over at offset {self.pos}, corrupt")
