"""Varints and bit streams: round trips, frozen bytes, hostile input."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding.bitstream import BitReader, BitWriter
from levin.coding.varint import MAX_VARINT, encode_varint, encode_varints, read_varint
from levin.errors import LevinFormatError


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.lists(st.integers(0, MAX_VARINT), max_size=20))
def test_varint_round_trip(values):
    buf = encode_varints(values)
    pos, out = 0, []
    for _ in values:
        v, pos = read_varint(buf, pos, "test")
        out.append(v)
    assert out == values and pos == len(buf)


def test_varint_golden_bytes():
    assert encode_varints([0, 1, 127, 128, 300, MAX_VARINT]).hex() == "00017f8001ac02ffffffff0f"


@pytest.mark.parametrize(
    "buf, message",
    [(b"", "truncated"), (b"\x80", "truncated"), (b"\xff" * 6, "longer than 5"),
     (b"\xff\xff\xff\xff\x7f", "exceeds"), (b"\x80\x00", "shortest form")],
)
def test_varint_rejects_bad_bytes(buf, message):
    with pytest.raises(LevinFormatError, match=message):
        read_varint(buf, 0, "field")


def test_varint_rejects_out_of_range():
    with pytest.raises(ValueError):
        encode_varint(-1)
    with pytest.raises(ValueError):
        encode_varint(MAX_VARINT + 1)


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 2**20), st.integers(0, 6)), max_size=30))
def test_bitstream_round_trip(items):
    w = BitWriter()
    for v, k in items:
        w.write_exp_golomb(v, k)
        w.write_bits(v, 21)
        w.write_code(v & 0x1F, 5)
    buf = w.to_bytes()
    assert len(buf) == (w.bit_count + 7) // 8
    r = BitReader(buf, 0, len(buf), "test")
    for v, k in items:
        assert r.read_exp_golomb(k) == v
        assert r.read_bits(21) == v
        assert r.read_code(5) == v & 0x1F
    assert r.finish() == len(buf)


def test_bitstream_golden_bytes():
    w = BitWriter()
    w.write_exp_golomb(0, 0)  # "1"
    w.write_exp_golomb(3, 0)  # w = 4: "00" + "100"
    w.write_code(0b110, 3)  # "110"
    w.write_bits(0b110, 3)  # "011" (LSB first)
    # stream bits 1 00100 110 011 -> byte 0 = bits 0..7 = 1,0,0,1,0,0,1,1 ; byte 1 = 0,0,1,1
    assert w.to_bytes() == bytes([0b11001001, 0b00001100])


def test_bitstream_rejects_truncation_padding_and_long_codes():
    with pytest.raises(LevinFormatError, match="truncated"):
        BitReader(b"\x00", 0, 1, "t").read_bits(9)
    r = BitReader(b"\x03", 0, 1, "t")
    r.read_bit()
    with pytest.raises(LevinFormatError, match="padding"):
        r.finish()
    with pytest.raises(LevinFormatError, match="leading zeros"):
        BitReader(b"\x00" * 8, 0, 8, "t").read_exp_golomb(0)
