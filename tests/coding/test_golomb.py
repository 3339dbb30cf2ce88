"""The golomb value coder (int32 biases): exact round trips, frozen bytes, shortest parameters,
clear errors on corrupt payloads."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import golomb, weights
from levin.coding.fields import ByteReader
from levin.config.code import WeightCodecConfig
from levin.errors import LevinFormatError


@settings(derandomize=True, max_examples=200, deadline=None)
@given(st.lists(st.integers(-(1 << 31), (1 << 31) - 1), max_size=60), st.sampled_from(list(golomb.MODES)),
       st.integers(0, 12), st.integers(-1000, 1000))
def test_decode_inverts_encode_for_any_mode_order_and_center(values, mode, k, center):
    v = np.asarray(values, dtype=np.int64)
    u = golomb._zigzag(v - center)
    if mode == golomb.RICE and int((u >> k).sum()) > 1 << 16:
        return                                       # a unary run of megabits: never chosen
    p = golomb.GolombParams(mode, k, center, golomb.code_bits(u, mode, k))
    payload = golomb.encode(v, p)
    assert len(payload) == p.payload_bytes
    np.testing.assert_array_equal(golomb.decode(payload, v.size, mode, k) + center, v)


def test_frozen_bytes_of_a_small_stream():
    """zigzag(0, -1, 1, -4) = 0 1 2 7. Exp-Golomb order 1: 10 11 0100 001001; Rice order 1:
    10 11 010 00011 (codes MSB first, bytes filled from their least significant bit)."""
    v = np.array([0, -1, 1, -4])
    eg = golomb.GolombParams(golomb.EXP_GOLOMB, 1, 0, 14)
    assert golomb.encode(v, eg) == bytes([0x2D, 0x24])
    rice = golomb.GolombParams(golomb.RICE, 1, 0, 12)
    assert golomb.encode(v, rice) == bytes([0x2D, 0x0C])
    assert golomb.decode(bytes([0x2D, 0x0C]), 4, golomb.RICE, 1).tolist() == [0, -1, 1, -4]
    assert golomb.decode(bytes([0x2D, 0x24]), 4, golomb.EXP_GOLOMB, 1).tolist() == [0, -1, 1, -4]


def test_best_is_the_shortest_of_what_it_tries():
    rng = np.random.default_rng(0)
    v = np.round(rng.laplace(300, 200, 500)).astype(np.int64)
    p = golomb.best(v)
    for center in (0, int(np.median(v))):
        u = golomb._zigzag(v - center)
        for mode in golomb.MODES:
            for k in range(20):
                assert p.bits <= golomb.code_bits(u, mode, k)
    assert p.center == int(np.median(v)) and p.mode == golomb.RICE   # Laplacian off zero


def test_biases_take_the_golomb_coder_and_round_trip_exactly():
    rng = np.random.default_rng(1)
    bias = np.round(rng.normal(0, 400, 129)).astype(np.int32)
    enc = weights.encode_tensor(bias)
    assert enc.chain == "golomb" and len(enc.body) < enc.candidates["varint"]
    dec = weights.decode_tensor(ByteReader(enc.body, 0, len(enc.body), "b"), bias.shape, bias.dtype)
    assert dec.data.dtype == np.int32
    np.testing.assert_array_equal(dec.data, bias)
    forced = weights.encode_tensor(bias, WeightCodecConfig(coders=("varint",)))
    assert forced.chain == "varint"                   # the config still restricts the coders


@pytest.mark.parametrize("payload, count, mode, k, message", [
    (b"", 1, 0, 0, "cannot fit"),
    (b"\x00", 1, 0, 0, "truncated"),
    (b"\x01", 2, 0, 3, "truncated"),                 # one value, then no second code
    (b"\x03", 1, 0, 0, "padding"),                   # EG_0(0) = 1, then a stray 1 bit
    (b"\x01\x00", 1, 0, 0, "bytes or nonzero padding"),
    (b"\x00\x00\x00\x00\x00\x01" + bytes(5), 1, 0, 0, "leading zeros"),
    (b"\xff\xff\xff\xff\x0f", 1, 0, 35, ">= 2\\^34"),  # EG_35: u = 2^35 - 1
    (b"\x01", 1, 2, 0, "unknown mode"),
])
def test_corrupt_payloads_are_clear_errors(payload, count, mode, k, message):
    with pytest.raises(LevinFormatError, match=message):
        golomb.decode(payload, count, mode, k)


def test_a_golomb_stream_of_codebook_indices_is_refused():
    from levin.coding.symbols import decode_stream
    body = bytes([5, 0, 0]) + b"\x01"
    with pytest.raises(LevinFormatError, match="codebook indices"):
        decode_stream(ByteReader(body, 0, len(body), "s"), 1, np.dtype(np.int8), indices=True)


def test_biases_that_share_a_power_of_two_are_coded_scaled_and_round_trip():
    rng = np.random.default_rng(2)
    bias = (np.round(rng.normal(0, 40, 129)).astype(np.int32) << 7)
    p = golomb.best(bias.astype(np.int64))
    assert p.shift == golomb.common_shift(bias) >= 7
    scaled = weights.encode_tensor(bias)
    odd = bias + 1 - (bias & 1)                                   # odd: no shift to take
    exact = weights.encode_tensor(odd, WeightCodecConfig(coders=("golomb",)))
    assert scaled.chain == "golomb" and len(scaled.body) <= len(exact.body) - 129 * 7 // 8 + 2
    dec = weights.decode_tensor(ByteReader(scaled.body, 0, len(scaled.body), "b"), bias.shape, bias.dtype)
    np.testing.assert_array_equal(dec.data, bias)


@pytest.mark.parametrize("values, shift", [([0, 0], 0), ([], 0), ([3, 4], 0), ([4, -8], 2), ([1 << 40], 31)])
def test_common_shift(values, shift):
    assert golomb.common_shift(np.asarray(values, dtype=np.int64)) == shift


def test_a_scaled_stream_past_the_dtype_is_a_clear_error():
    from levin.coding.symbols import decode_stream
    # golomb, EG, scaled; center 1 (svarint 2), order 0, shift 31: 1 << 31 does not fit int32
    body = bytes([5 | 2 << 4, 2, 0, 31, 0x01])
    with pytest.raises(LevinFormatError, match="outside int32"):
        decode_stream(ByteReader(body, 0, len(body), "s"), 1, np.dtype(np.int32))
    with pytest.raises(LevinFormatError, match="shift 32"):
        decode_stream(ByteReader(body[:3] + b"\x20\x01", 0, 5, "s"), 1, np.dtype(np.int32))
