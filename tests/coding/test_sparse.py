"""Sparse positions: gap symbols, every candidate round trips, the smallest is chosen."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.coding import sparse
from levin.coding.sparse import SparseConfig
from levin.errors import LevinFormatError

GOLDEN_MASK = np.zeros(40, dtype=bool)
GOLDEN_MASK[[0, 1, 5, 17, 18, 39]] = True


def random_mask(seed: int, n: int, density: float, clustered: bool) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if not clustered:
        return rng.random(n) < density
    rows = rng.random((max(1, n // 16), 1)) < density  # whole runs of 16 kept or pruned
    return np.repeat(rows, 16, axis=1).reshape(-1)[:n]


@settings(derandomize=True, max_examples=60, deadline=None)
@given(st.integers(0, 3000), st.sampled_from([0.0, 0.01, 0.1, 0.5, 0.9, 1.0]), st.booleans(),
       st.integers(0, 2**32 - 1), st.integers(1, 3))
def test_every_candidate_round_trips(n, density, clustered, seed, n_states):
    mask = random_mask(seed, n, density, clustered)
    config = SparseConfig(gap_bits=(1, 3, 8), n_states=n_states)
    blobs = sparse.encode_candidates(mask, config)
    assert set(blobs) == {"packed", "bitmask", "gaps1", "gaps3", "gaps8"}
    for name, blob in blobs.items():
        np.testing.assert_array_equal(sparse.decode_positions(blob, mask.size), mask, err_msg=name)
    result = sparse.encode_positions(mask, config)
    assert len(result.blob) == min(len(b) for b in blobs.values()) == result.sizes[result.method]
    assert result.nnz == int(mask.sum())


def test_gap_symbols_with_escapes():
    # gaps 0, 0, 3, 11, 0, 20 with escape E = 7: 11 = E + 4, 20 = E + E + 6
    assert sparse.gap_symbols(GOLDEN_MASK, 3).tolist() == [0, 0, 3, 7, 4, 0, 7, 7, 6]
    back = sparse.positions_from_gaps(np.array([0, 0, 3, 7, 4, 0, 7, 7, 6]), 3, 40, 6)
    np.testing.assert_array_equal(back, GOLDEN_MASK)


def test_golden_bytes():
    blobs = sparse.encode_candidates(GOLDEN_MASK, SparseConfig(gap_bits=(3,)))
    assert blobs["packed"].hex() == "022300060080"
    assert blobs["bitmask"].hex() == "015402c07641614c2fa800326398"
    assert blobs["gaps3"].hex() == "000306099408ae16801e7f3c808fbb2a86e20d049450"
    assert sparse.encode_positions(GOLDEN_MASK, SparseConfig(gap_bits=(3,))).method == "packed"


def test_choice_follows_the_structure():
    rng = np.random.default_rng(0)
    very_sparse = rng.random(50_000) < 0.02
    result = sparse.encode_positions(very_sparse)
    assert result.method.startswith("gaps") or result.method == "bitmask"
    assert result.sizes[result.method] < 0.5 * result.sizes["packed"]
    dense = sparse.encode_positions(np.ones(50_000, dtype=bool))
    assert len(dense.blob) < 20 and dense.method != "packed"


def test_split_nonzero_keeps_flat_order():
    w = np.array([[0, 3, 0], [-2, 0, 5]], dtype=np.int8)
    mask, values = sparse.split_nonzero(w)
    assert mask.tolist() == [False, True, False, True, False, True] and values.tolist() == [3, -2, 5]


def test_corrupt_blobs_raise_format_errors():
    rng = np.random.default_rng(1)
    mask = rng.random(2000) < 0.1
    for name, blob in sparse.encode_candidates(mask).items():
        for n in range(len(blob)):
            with pytest.raises(LevinFormatError):
                sparse.decode_positions(blob[:n], mask.size)
        for i in range(len(blob)):
            bad = bytearray(blob)
            bad[i] ^= 0x3C
            try:
                got = sparse.decode_positions(bytes(bad), mask.size)
            except LevinFormatError:
                continue
            assert got.shape == mask.shape, name  # undetected corruption still decodes to a mask
    with pytest.raises(LevinFormatError, match="unknown method 5"):
        sparse.decode_positions(b"\x05", 10)
    with pytest.raises(LevinFormatError, match="impossible"):
        sparse.decode_positions(bytes([0, 3, 50, 0]), 10)
