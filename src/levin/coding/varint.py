"""Unsigned LEB128 varints: the integer field of every levin coding table.

Byte format: a value v < 2^32 is written in 7-bit groups, least significant group first; each
byte carries one group in bits 0..6 and sets bit 7 when another byte follows. So 0..127 take one
byte, 128..16383 two, and 2^32-1 five. Only the shortest form is valid (a last byte of 0x00 after
a continuation is rejected), so every value has exactly one encoding and encoded sizes are exact.

A C decoder::

    uint32_t v = 0; int shift = 0;
    do { if (p == end || shift > 28) return ERROR; b = *p++; v |= (uint32_t)(b & 0x7f) << shift;
         shift += 7; } while (b & 0x80);

(plus the checks below on the fifth byte and on overlong forms).
"""

from __future__ import annotations

from collections.abc import Iterable

from levin.errors import LevinFormatError

MAX_VARINT = (1 << 32) - 1


def encode_varint(value: int) -> bytes:
    """Return the LEB128 bytes of one unsigned integer in 0..2^32-1."""
    value = int(value)
    if not 0 <= value <= MAX_VARINT:
        raise ValueError(f"varint value {value} outside 0..{MAX_VARINT}")
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_varints(values: Iterable[int]) -> bytes:
    """Return the concatenated LEB128 bytes of several unsigned integers."""
    return b"".join(encode_varint(v) for v in values)


def varint_size(value: int) -> int:
    """Return the number of bytes `encode_varint(value)` takes."""
    return len(encode_varint(value))


def read_varint(buf: bytes, pos: int, what: str) -> tuple[int, int]:
    """Read one varint from `buf` at `pos`.

    Args:
        buf: the bytes to read from.
        pos: offset of the first byte.
        what: the name of the field, used in error messages.

    Returns:
        (value, position after the varint).

    Raises:
        LevinFormatError: the bytes end inside the varint, it is longer than 5 bytes, its value
            exceeds 2^32-1, or it is not in its shortest form.
    """
    value = 0
    shift = 0
    start = pos
    while True:
        if pos >= len(buf):
            raise LevinFormatError(f"{what}: truncated varint at byte {start} (data ends at {len(buf)})")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 28:
            raise LevinFormatError(f"{what}: varint at byte {start} is longer than 5 bytes")
    if value > MAX_VARINT:
        raise LevinFormatError(f"{what}: varint at byte {start} exceeds 2^32-1")
    if byte == 0 and pos - start > 1:
        raise LevinFormatError(f"{what}: varint at byte {start} is not in shortest form")
    return value, pos
