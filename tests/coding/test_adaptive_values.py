"""The adaptive value coder (coder 6): exact round trips, frozen bytes, clear errors, where the
writer takes it, and the line between the Python readers (read it) and the C export (codes again)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import adaptive_values, channels, weights
from levin.coding.fields import ByteReader
from levin.config.code import WeightCodecConfig
from levin.errors import LevinFormatError
from tests.coding.streams import skewed_symbols


@settings(derandomize=True, max_examples=80, deadline=None)
@given(st.integers(1, 300), st.integers(0, 400), st.sampled_from([0.0, 1.0, 3.0]), st.integers(0, 2**32 - 1))
def test_decode_inverts_encode(alphabet, length, skew, seed):
    u = skewed_symbols(seed, alphabet, length, skew)
    d = adaptive_values.depth(alphabet)
    back = adaptive_values.decode(adaptive_values.encode(u, d), u.size, d)
    np.testing.assert_array_equal(back, u)


def test_frozen_bytes():
    u = np.array([0, 3, 3, 1, 3, 2, 3, 3])
    payload = adaptive_values.encode(u, 2)
    assert payload.hex() == "fec067012bd0"     # the rANS state (u32 LE), then two renormalization bytes
    assert adaptive_values.decode(payload, 8, 2).tolist() == u.tolist()


@pytest.mark.parametrize("payload, message", [
    (bytes(3), "shorter than its 4-byte"),
    (bytes([0, 0, 0, 0x80]), r"initial rANS state .* outside"),
    (bytes.fromhex("fec06701"), "payload ends at bit"),
    (bytes.fromhex("fec067012bd000"), "does not end where its 16 bits do"),
])
def test_corrupt_payloads_are_refused_clearly(payload, message):
    with pytest.raises(LevinFormatError, match=message):
        adaptive_values.decode(payload, 8, 2)


def test_a_hostile_count_is_refused_before_any_work():
    with pytest.raises(LevinFormatError, match="more than the"):
        adaptive_values.decode(bytes.fromhex("00008000"), adaptive_values.MAX_BITS, 8)


def small_layer(seed=0) -> np.ndarray:
    """900 weights over a skewed 8-value codebook, as an MDL-trained layer keeps them."""
    book = np.array([-90, -60, -40, -25, 25, 40, 60, 90], np.int8)
    return book[skewed_symbols(seed, 8, 900, 1.0)].reshape(30, 30)


def test_the_writer_takes_it_where_it_is_shortest_and_every_reader_gets_the_values_back():
    data = small_layer()
    enc = weights.encode_tensor(data, WeightCodecConfig(), "w")
    assert enc.chain.endswith("+adaptive"), enc.candidates
    without = weights.encode_tensor(data, WeightCodecConfig(coders=("pack", "huffman", "rans")), "w")
    assert len(enc.body) < len(without.body)          # 313 B against rANS's 317 and Huffman's 318
    dec = weights.decode_tensor(ByteReader(enc.body, 0, len(enc.body), "w"), data.shape, data.dtype)
    np.testing.assert_array_equal(dec.data, data)
    chans = list(channels.iter_channels(enc.body, data.shape, data.dtype))
    np.testing.assert_array_equal(np.stack(chans), data)


def test_long_streams_are_not_tried():
    rng = np.random.default_rng(1)
    data = rng.integers(-3, 4, 1 << 15).astype(np.int8)          # 32,768 symbols > the writer's limit
    candidates = weights.encode_tensor(data, WeightCodecConfig(), "w").candidates
    assert candidates and not any(label.endswith("adaptive") for label in candidates)


def test_codegen_codes_an_adaptive_stream_again_for_c():
    from levin.codegen.weight_fields import _c_readable, _code_weight
    from levin.ir.graph import Graph, QuantParams

    data = small_layer()
    g = Graph("g")
    g.add_constant("w", data, QuantParams(np.full(30, 0.01, np.float32), np.zeros(30, np.int32), 0))
    enc = weights.encode_tensor(data, WeightCodecConfig(coders=("adaptive",)), "w")
    assert enc.chain.endswith("+adaptive")
    assert not _c_readable(enc.body, g.tensors["w"])
    body = _code_weight(g.tensors["w"], "auto", enc.body, None)
    assert _c_readable(body, g.tensors["w"])
    np.testing.assert_array_equal(weights.decode_tensor(ByteReader(body, 0, len(body), "w"), data.shape,
                                                        data.dtype).data, data)
