"""Bit packing: round trips at every width, exact sizes, frozen bytes, hostile input."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import bitpack
from levin.errors import LevinFormatError


@settings(derandomize=True, max_examples=120, deadline=None)
@given(st.integers(1, 8), st.integers(0, 2000), st.integers(0, 2**32 - 1))
def test_round_trip_unsigned_and_signed(bits, n, seed):
    rng = np.random.default_rng(seed)
    u = rng.integers(0, 1 << bits, n)
    data = bitpack.pack_unsigned(u, bits)
    assert len(data) == bitpack.packed_size(n, bits) == (n * bits + 7) // 8
    np.testing.assert_array_equal(bitpack.unpack_unsigned(data, bits, n), u)
    s = rng.integers(-(1 << (bits - 1)), 1 << (bits - 1), n)
    data = bitpack.pack_signed(s, bits)
    assert len(data) == (n * bits + 7) // 8
    np.testing.assert_array_equal(bitpack.unpack_signed(data, bits, n), s)


def test_golden_bytes():
    # the docstring's example
    assert bitpack.pack_unsigned([1, 2, 3], 2) == bytes([1 | 2 << 2 | 3 << 4]) == b"\x39"
    assert bitpack.pack_signed(np.arange(-4, 4), 3).hex() == "ac8f68"
    assert bitpack.pack_unsigned([255, 0, 170], 8).hex() == "ff00aa"
    assert bitpack.pack_signed([-1], 5) == b"\x1f"


def test_documented_c_decoder_matches():
    """The C expressions of the docstring, evaluated in Python, read back every value."""
    for bits in range(1, 9):
        v = np.arange(-(1 << (bits - 1)), 1 << (bits - 1)).repeat(3)
        data = bitpack.pack_signed(v, bits) + b"\x00"  # the C reader may touch one byte past the end
        for i, want in enumerate(v.tolist()):
            p = i * bits
            w = data[p >> 3] | ((data[(p >> 3) + 1] << 8) if (p & 7) + bits > 8 else 0)
            u = (w >> (p & 7)) & ((1 << bits) - 1)
            assert u - ((u >> (bits - 1)) << bits) == want


def test_rejects_out_of_range_values_and_widths():
    with pytest.raises(ValueError):
        bitpack.pack_unsigned([4], 2)
    with pytest.raises(ValueError):
        bitpack.pack_signed([2], 2)
    with pytest.raises(ValueError):
        bitpack.pack_unsigned([0], 9)


def test_rejects_wrong_lengths_and_padding():
    with pytest.raises(LevinFormatError, match="need 2 bytes, got 1"):
        bitpack.unpack_unsigned(b"\x00", 3, 5)
    with pytest.raises(LevinFormatError, match="padding"):
        bitpack.unpack_unsigned(b"\x00\x80", 3, 5)
    with pytest.raises(LevinFormatError, match="negative"):
        bitpack.unpack_signed(b"", 3, -1)
    with pytest.raises(LevinFormatError):
        bitpack.unpack_unsigned(b"\x00", 8, 10**12)  # a huge count fails before allocating
