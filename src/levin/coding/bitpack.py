"""Fixed-width bit packing of 1..8-bit values: the uncoded baseline and the simplest C decoder.

Byte format (little-endian bit order, as every levin bit stream, see `bitstream.py`): value i
occupies stream bits [i*b, (i+1)*b), least significant bit first, where stream bit p is bit
(p mod 8) of byte (p div 8). n values take exactly ceil(n*b / 8) bytes; the padding bits of the
last byte are zero. Signed values are stored as b-bit two's complement, so they lie in
-2^(b-1) .. 2^(b-1)-1 and sign-extend on unpacking.

A C decoder for value i (b <= 8, so a value spans at most two bytes):

    uint32_t p = i * b;
    uint32_t w = data[p >> 3];
    if ((p & 7) + b > 8) w |= (uint32_t)data[(p >> 3) + 1] << 8;
    uint8_t u = (w >> (p & 7)) & ((1u << b) - 1);
    int v = (int)u - (int)((u >> (b - 1)) << b);           /* signed: sign-extend */

Example: pack_unsigned([1, 2, 3], 2) == bytes([1 | 2 << 2 | 3 << 4]) == b"\\x39".
"""

from __future__ import annotations

import numpy as np

from levin.errors import LevinFormatError


def _check_bits(bits: int) -> None:
    if not 1 <= bits <= 8:
        raise ValueError(f"bit width must be in 1..8, got {bits}")


def packed_size(count: int, bits: int) -> int:
    """Return the exact byte size of `count` packed `bits`-bit values."""
    _check_bits(bits)
    return (count * bits + 7) // 8


def pack_unsigned(values: np.ndarray, bits: int) -> bytes:
    """Pack unsigned values in 0..2^bits-1 into ceil(n*bits/8) bytes."""
    _check_bits(bits)
    v = np.asarray(values).reshape(-1).astype(np.int64)
    if v.size and (v.min() < 0 or v.max() >= 1 << bits):
        raise ValueError(f"unsigned {bits}-bit values must lie in 0..{(1 << bits) - 1}")
    planes = (v[:, None] >> np.arange(bits)) & 1  # row i: the bits of value i, LSB first
    return np.packbits(planes.astype(np.uint8).reshape(-1), bitorder="little").tobytes()


def pack_signed(values: np.ndarray, bits: int) -> bytes:
    """Pack signed values in -2^(bits-1)..2^(bits-1)-1 as two's complement."""
    _check_bits(bits)
    v = np.asarray(values).reshape(-1).astype(np.int64)
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if v.size and (v.min() < lo or v.max() > hi):
        raise ValueError(f"signed {bits}-bit values must lie in {lo}..{hi}")
    return pack_unsigned(v & ((1 << bits) - 1), bits)


def unpack_unsigned(data: bytes, bits: int, count: int) -> np.ndarray:
    """Unpack `count` unsigned values (int64 array).

    Raises:
        LevinFormatError: `data` is not exactly ceil(count*bits/8) bytes, or padding bits are set.
    """
    _check_bits(bits)
    if count < 0:
        raise LevinFormatError(f"packed {bits}-bit values: negative count {count}")
    need = packed_size(count, bits)
    if len(data) != need:
        raise LevinFormatError(f"packed {bits}-bit values: {count} values need {need} bytes, got {len(data)}")
    stream = np.unpackbits(np.frombuffer(data, dtype=np.uint8), bitorder="little")
    if stream[count * bits :].any():
        raise LevinFormatError(f"packed {bits}-bit values: nonzero padding bits after {count} values")
    planes = stream[: count * bits].reshape(count, bits).astype(np.int64)
    return planes @ (np.int64(1) << np.arange(bits, dtype=np.int64))


def unpack_signed(data: bytes, bits: int, count: int) -> np.ndarray:
    """Unpack `count` two's complement values, sign-extended (int64 array)."""
    u = unpack_unsigned(data, bits, count)
    return np.where(u >= 1 << (bits - 1), u - (1 << bits), u)
