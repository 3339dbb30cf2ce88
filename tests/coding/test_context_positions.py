"""Positions under the adaptive context model (positions method 3): exact round trips, frozen
bytes, clear errors, and the line between the Python reader (reads it) and the C export (refuses)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import channels, context_positions, sparse, weights
from levin.coding.fields import ByteReader
from levin.config.code import WeightCodecConfig
from levin.errors import LevinFormatError


@st.composite
def masks(draw):
    rows = draw(st.integers(1, 6))
    groups = draw(st.sampled_from([1, 2, 3, 4]))
    per = groups * draw(st.integers(1, 8))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    col_rate = rng.uniform(0, draw(st.sampled_from([0.05, 0.3, 1.0])), per)
    return rng.random((rows, per)) < col_rate, groups


@settings(derandomize=True, max_examples=120, deadline=None)
@given(masks())
def test_decode_inverts_encode(case):
    mask, groups = case
    blob = context_positions.encode(mask.reshape(-1), mask.shape[0], groups)
    back = context_positions.decode(blob, mask.size, mask.shape[0])
    np.testing.assert_array_equal(back, mask.reshape(-1))


def structured(seed=0, rows=24, per=60, groups=12) -> np.ndarray:
    """A pruned-looking weight: a few input channels carry most nonzeros."""
    rng = np.random.default_rng(seed)
    rate = np.tile(np.where(rng.random(groups) < 0.25, 0.5, 0.01), per // groups)
    w = rng.integers(-60, 61, (rows, per)) * (rng.random((rows, per)) < rate)
    return w.astype(np.int8).reshape(rows, per // groups, 1, groups)


def test_frozen_bytes_of_a_small_mask():
    mask = np.array([1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0, 1], bool)
    blob = context_positions.encode(mask, 3, 2)
    assert blob.hex() == FROZEN
    np.testing.assert_array_equal(context_positions.decode(blob, 12, 3), mask)


FROZEN = "026bcb2d29293f"   # g = 2, p0 = 107, then the rANS payload


def test_the_writer_takes_context_positions_where_they_are_shortest_and_reads_them_back():
    data = structured()
    enc = weights.encode_tensor(data, WeightCodecConfig(), "w", context=True)
    assert enc.chain.startswith("sparse:context12"), enc.candidates
    plain = weights.encode_tensor(data, WeightCodecConfig(), "w")
    assert len(enc.body) < len(plain.body)
    dec = weights.decode_tensor(ByteReader(enc.body, 0, len(enc.body), "w"), data.shape, data.dtype, stats=True)
    np.testing.assert_array_equal(dec.data, data)
    chans = list(channels.iter_channels(enc.body, data.shape, data.dtype))
    np.testing.assert_array_equal(np.stack(chans).reshape(data.shape), data)
    off = weights.encode_tensor(data, WeightCodecConfig(context_positions=False), "w", context=True)
    assert off.body == plain.body                       # the config can turn it off


def test_the_c_side_header_reader_refuses_context_positions():
    """codegen reads positions with `read_head(blob, n)`: a LevinFormatError makes it code the
    tensor again in a form the C runtime reads."""
    mask = structured().reshape(-1) != 0
    blob = sparse.encode_positions(mask, sparse.SparseConfig(context=True), (24, 5, 1, 12)).blob
    assert blob[0] == sparse.CONTEXT
    with pytest.raises(LevinFormatError, match="no C reader"):
        sparse.read_head(blob, mask.size)
    assert sparse.read_head(blob, mask.size, context=True).name == "context12"


def test_codegen_recodes_a_tensor_with_context_positions():
    from levin.codegen.weight_fields import _c_readable
    from levin.ir.graph import Graph, QuantParams

    data = structured()
    g = Graph("g")
    g.add_constant("w", data, QuantParams(np.full(24, 0.01, np.float32), np.zeros(24, np.int32), 0))
    body = weights.encode_tensor(data, WeightCodecConfig(), "w", context=True).body
    assert not _c_readable(body, g.tensors["w"])
    assert _c_readable(weights.encode_tensor(data).body, g.tensors["w"])


@pytest.mark.parametrize("mutate, message", [
    (lambda b: b[:2] + b[2:5], "shorter than its 4-byte"),
    (lambda b: b[:-1], "payload ends|does not end"),
    (lambda b: b + b"\x00", "does not end"),
    (lambda b: bytes([7]) + b[1:], "group period 7"),
    (lambda b: b[:1] + bytes([0]) + b[2:], "initial probability 0"),
])
def test_corrupt_blobs_are_clear_errors(mutate, message):
    mask = structured().reshape(-1) != 0
    blob = context_positions.encode(mask, 24, 12)
    with pytest.raises(LevinFormatError, match=message):
        context_positions.decode(mutate(blob), mask.size, 24)


def test_a_context_blob_for_too_many_positions_is_refused_before_decoding():
    blob = bytes([sparse.CONTEXT, 1, 1, 128]) + bytes(8)
    with pytest.raises(LevinFormatError, match="more than"):
        sparse.read_head(blob, sparse.CONTEXT_MAX_ELEMENTS + 1, context=True)


def test_a_row_count_other_than_the_tensors_is_refused():
    data = structured()
    enc = weights.encode_tensor(data, WeightCodecConfig(), "w", context=True)
    with pytest.raises(LevinFormatError, match="output channels"):
        weights.decode_tensor(ByteReader(enc.body, 0, len(enc.body), "w"), (12, 120), data.dtype)


def test_the_context_model_runs_only_where_rates_differ():
    """Big masks pruned at random (one rate everywhere) skip the slow coder; structured ones and
    small ones do not."""
    rng = np.random.default_rng(3)
    uniform = rng.random((64, 1024)) < 0.05
    assert not context_positions.promising(uniform.reshape(-1), 64, 1024)
    assert context_positions.promising(uniform[:2, :64].reshape(-1), 2, 64)           # small
    rows = np.repeat(rng.choice([0.005, 0.2], 64), 1024).reshape(64, 1024)
    assert context_positions.promising((rng.random((64, 1024)) < rows).reshape(-1), 64, 1024)
    data = np.where(uniform, 7, 0).astype(np.int8)
    enc = weights.encode_tensor(data, WeightCodecConfig(), "w", context=True)
    assert "context" not in enc.chain
