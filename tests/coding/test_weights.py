"""The per-tensor codec chain: exact round trips, exact sizes, the smallest candidate wins."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import channels, huffman, sparse, weights
from levin.coding.fields import ByteReader
from levin.coding.symbols import Stream, huffman_size
from levin.config.code import CODERS, CodeConfig, WeightCodecConfig
from levin.errors import LevinError, LevinFormatError

INT_DTYPES = [np.int8, np.uint8, np.int16, np.int32]


def decode(body: bytes, shape, dtype, stats=False) -> weights.DecodedTensor:
    return weights.decode_tensor(ByteReader(body, 0, len(body), "test"), shape, np.dtype(dtype), stats)


@st.composite
def int_tensors(draw):
    """An integer tensor: random dtype, shape, bit width, sparsity, optionally few shared levels."""
    dtype = np.dtype(draw(st.sampled_from(INT_DTYPES)))
    shape = tuple(draw(st.lists(st.integers(1, 9), min_size=1, max_size=4)))
    bits = draw(st.integers(1, min(8 * dtype.itemsize, 20)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    info = np.iinfo(dtype)
    lo = 0 if dtype.kind == "u" else max(info.min, -(1 << (bits - 1)))
    hi = min(info.max, lo + (1 << bits) - 1)
    data = rng.integers(lo, hi + 1, size=shape, dtype=np.int64)
    levels = draw(st.sampled_from([None, 1, 2, 5, 16]))
    if levels:
        data = rng.choice(np.unique(rng.integers(lo, hi + 1, levels)), size=shape)
    sparsity = draw(st.sampled_from([0.0, 0.5, 0.9, 0.99, 1.0]))
    data[rng.random(shape) < sparsity] = 0
    return data.astype(dtype)


@st.composite
def configs(draw):
    coders = draw(st.lists(st.sampled_from(CODERS), min_size=1, max_size=5, unique=True))
    return WeightCodecConfig(
        coders=tuple(coders), sparse=draw(st.sampled_from(["auto", "always", "never"])),
        codebook=draw(st.sampled_from(["auto", "always", "never"])), n_states=draw(st.integers(1, 4)),
        precision_bits=draw(st.sampled_from([None, 12, 15])), gap_bits=(draw(st.integers(1, 8)), 4))


@settings(derandomize=True, max_examples=150, deadline=None)
@given(int_tensors(), configs())
def test_round_trip_is_exact_and_the_chosen_candidate_is_the_smallest(data, config):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        enc = weights.encode_tensor(data, config)
    dec = decode(enc.body, data.shape, data.dtype)
    assert dec.data.dtype == data.dtype and dec.data.shape == data.shape
    np.testing.assert_array_equal(dec.data, data)
    assert dec.chain == enc.chain
    assert len(enc.body) == enc.candidates[enc.chain] == min(enc.candidates.values())
    # Per-channel decoding, front to back, gives the same tensor.
    chans = list(channels.iter_channels(enc.body, data.shape, data.dtype))
    np.testing.assert_array_equal(np.stack(chans).reshape(data.shape), data)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(int_tensors(), st.sampled_from(CODERS), st.booleans())
def test_every_candidate_size_is_exact(data, coder, indices):
    """The sizes `auto` compares are the sizes of the bytes it would write."""
    values = data.reshape(-1).astype(np.int64)
    if indices:
        values = np.unique(values, return_inverse=True)[1].reshape(-1)
    stream = Stream(values, data.dtype, WeightCodecConfig(coders=(coder,)), indices=indices)
    for c in stream.applicable():
        assert stream.size(c) == len(stream.encode(c)), c


@settings(derandomize=True, max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2000), min_size=1, max_size=300))
def test_huffman_size_matches_a_built_code(counts):
    counts = np.asarray(counts, dtype=np.int64)
    code = huffman.build_code(counts)
    assert huffman_size(counts) == len(code.to_bytes()) + (int((code.lengths * counts).sum()) + 7) // 8


def test_deep_huffman_trees_fall_back_to_the_length_limited_code():
    counts = (1.7 ** np.arange(30)).astype(np.int64)  # an unrestricted tree 29 levels deep
    code = huffman.build_code(counts)
    assert code.lengths.max() == 15
    assert huffman_size(counts) == len(code.to_bytes()) + (int((code.lengths * counts).sum()) + 7) // 8


@pytest.mark.parametrize("bits", range(1, 8))
def test_low_bit_values_pack_to_their_width(bits):
    rng = np.random.default_rng(bits)
    q = (1 << (bits - 1)) - 1 if bits > 1 else 0
    data = rng.integers(-q - (bits == 1), q + 1, (16, 50)).astype(np.int8)
    enc = weights.encode_tensor(data, WeightCodecConfig(coders=("pack",), sparse="never", codebook="never"))
    need = max(1, int(data.max() - data.min()).bit_length())
    assert enc.chain == f"pack{need}"
    assert len(enc.body) == 1 + 1 + 1 + (data.size * need + 7) // 8  # chain, coder, offset, bits
    np.testing.assert_array_equal(decode(enc.body, data.shape, np.int8).data, data)


def test_explicit_bits_widen_and_too_narrow_bits_fall_back_to_raw_with_a_warning():
    data = np.array([[-3, 0, 3, 1]], dtype=np.int8)
    enc = weights.encode_tensor(data, WeightCodecConfig(coders=("pack",), bits=5, codebook="never"))
    assert enc.chain == "pack5"
    with pytest.warns(UserWarning, match="stored raw"):
        enc = weights.encode_tensor(data, WeightCodecConfig(coders=("pack",), bits=2, codebook="never"), "t")
    assert enc.chain == "raw"


def test_shared_weights_are_coded_as_codebook_and_indices_when_smaller():
    rng = np.random.default_rng(0)
    levels = np.array([-120, -77, -31, -5, 0, 8, 40, 99], dtype=np.int8)  # k-means: 8 levels, 3 bits
    data = rng.choice(levels, size=(64, 64))
    enc = weights.encode_tensor(data, WeightCodecConfig(coders=("pack",), sparse="never"))
    assert enc.chain == "codebook8+pack3"
    assert enc.candidates["codebook8+pack3"] < enc.candidates["pack8"]
    dec = decode(enc.body, data.shape, np.int8, stats=True)
    np.testing.assert_array_equal(dec.data, data)
    assert [s.role for s in dec.streams] == ["codebook", "indices"]


def test_pruned_weights_are_coded_sparse_when_smaller():
    rng = np.random.default_rng(1)
    data = np.zeros((100, 100), dtype=np.int8)
    data[:, :5] = rng.integers(1, 100, (100, 5))  # 5% nonzero, in regular runs
    enc = weights.encode_tensor(data)
    assert enc.chain.startswith("sparse:")
    assert enc.candidates[enc.chain] < min(v for k, v in enc.candidates.items() if not k.startswith("sparse"))
    dec = decode(enc.body, data.shape, np.int8, stats=True)
    assert dec.streams[0].role == "positions" and dec.streams[-1].count == 500


@pytest.mark.parametrize("method", ["packed", "bitmask", "gaps3"])
def test_every_position_method_decodes_whole_and_per_channel(method):
    rng = np.random.default_rng(2)
    data = np.where(rng.random((7, 33)) < 0.3, rng.integers(-9, 9, (7, 33)), 0).astype(np.int8)
    mask = data.reshape(-1) != 0
    blob = sparse.encode_candidates(mask, sparse.SparseConfig(gap_bits=(3,)))[method]
    stream = Stream(data.reshape(-1)[mask].astype(np.int64), np.int8, WeightCodecConfig())
    body = bytes([weights.SPARSE]) + bytes([len(blob)]) + blob + stream.encode("rans")
    assert len(blob) < 128
    np.testing.assert_array_equal(decode(body, data.shape, np.int8).data, data)
    np.testing.assert_array_equal(np.stack(list(channels.iter_channels(body, data.shape, np.int8))), data)


def test_float_tensors_keep_every_bit():
    data = np.array([0.0, -0.0, np.nan, -np.inf, 1e-45, 3.5, 0.0, 0.0], dtype=np.float32)
    data[2] = np.frombuffer(b"\x01\x00\xc0\x7f", dtype=np.float32)[0]  # a NaN with a payload
    for mode in ("never", "always"):
        enc = weights.encode_tensor(data, WeightCodecConfig(sparse=mode))
        out = decode(enc.body, data.shape, np.float32).data
        assert out.tobytes() == data.tobytes(), mode


def test_wide_int32_ranges_use_varint_or_raw_without_huge_tables():
    data = np.array([-(2**31), 2**31 - 1, 0, 5], dtype=np.int32)
    enc = weights.encode_tensor(data)
    assert enc.chain.split("+")[-1] in ("raw", "varint")
    np.testing.assert_array_equal(decode(enc.body, data.shape, np.int32).data, data)


@pytest.mark.parametrize("body, message", [
    (b"\x08", "unknown chain flags"),      # 4 is generated (test_generated.py)
    (b"\x00\x0f", "unknown coder 15"),
    (b"\x00\x12\x00\x00", "bad parameter"),
    (b"\x00\x71\x00\xc8\x00", "outside int8"),             # pack8, offset 0, value 200
    (b"\x02\x02\x00\x02\x01\x02\x03", "codebook index"),  # K=2; pack1, offset 1: index 2
    (b"\x02\x01\x90\x03", "codebook values"),               # one entry, 200
    (b"\x02\x01\x00\x00", "raw coder cannot hold codebook indices"),
    (b"\x00\x04\x00\x00", "value stream: frequency table"),
])
def test_corrupt_bodies_raise_format_errors_naming_the_part(body, message):
    with pytest.raises(LevinFormatError, match=message):
        decode(body, (2,), np.int8)


def test_code_config_round_trips_and_rejects_bad_fields():
    config = CodeConfig.from_dict({"default": {"coders": ["raw", "pack"]},
                                   "tensors": {"fc1.weight": {"coders": "rans", "n_states": 2}}})
    assert config.for_tensor("fc1.weight").coders == ("rans",)
    assert config.for_tensor("fc1.weight").n_states == 2
    assert config.for_tensor("other").coders == ("raw", "pack")
    assert CodeConfig.from_dict(config.to_dict()) == config
    assert WeightCodecConfig(coders="auto").coders == CODERS
    for bad in ({"coders": ("zstd",)}, {"sparse": "maybe"}, {"bits": 9}, {"n_states": 0},
                {"precision_bits": 7}, {"gap_bits": (0,)}):
        with pytest.raises(LevinError):
            WeightCodecConfig(**bad)
    with pytest.raises(LevinError, match="unknown field"):
        CodeConfig.from_dict({"defaults": {}})


def test_code_config_docstring_example_runs():
    import doctest

    import levin.config.code as module

    assert doctest.testmod(module).failed == 0


def test_a_forced_coder_that_makes_a_tensor_larger_warns():
    data = np.arange(-5, 5, dtype=np.int8)
    with pytest.warns(UserWarning, match="larger than its 10 raw bytes"):
        weights.encode_tensor(data, WeightCodecConfig(coders=("rans",), codebook="never", sparse="never"), "t")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        weights.encode_tensor(data)  # auto has raw among its candidates: never larger
