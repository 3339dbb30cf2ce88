"""The chain estimate (entropies + exact tables) agrees with the bytes the coder writes."""

import numpy as np
import pytest

from levin.coding.estimate import estimate_tensor
from levin.coding.weights import encode_tensor


def sparse_codes(shape, density, seed=0, dead_rows=0.0, dead_cols=0.0):
    """int8 codes on 7 values, zeros i.i.d. plus whole dead rows/columns (structured sparsity)."""
    rng = np.random.default_rng(seed)
    mask = rng.random(shape) < density
    mask[rng.random(shape[0]) < dead_rows] = False
    mask[:, rng.random(shape[1]) < dead_cols] = False
    vals = rng.choice([-100, -41, -9, 12, 37, 80, 127], size=shape, p=[.1, .2, .2, .2, .15, .1, .05])
    return np.where(mask, vals, 0).astype(np.int8)


@pytest.mark.parametrize("shape,density,rows,cols", [
    ((300, 784), 0.03, 0.0, 0.0),       # i.i.d. zeros: the dense chain wins
    ((300, 784), 0.08, 0.2, 0.4),       # dead rows and input pixels: the gap coder wins
    ((100, 300), 0.3, 0.1, 0.0),
    ((10, 100), 0.5, 0.0, 0.0),
])
def test_estimate_is_within_2_percent_of_the_coded_body_and_names_its_chain(shape, density, rows, cols):
    codes = sparse_codes(shape, density, dead_rows=rows, dead_cols=cols)
    e = estimate_tensor(codes)
    coded = encode_tensor(codes)
    assert abs(e.nbytes / len(coded.body) - 1) < 0.02, (e, coded.chain, len(coded.body))
    assert e.entropy_bits / 8 < e.nbytes
    if coded.chain.endswith("+rans") and len(coded.body) > 1000:
        assert e.chain.split("+")[0] == coded.chain.split("+")[0]


def test_all_zero_and_dense_tensors_and_empty_input():
    assert estimate_tensor(np.zeros((4, 4), np.int8)).chain == "codebook1+rans"
    full = np.arange(1, 17, dtype=np.int8).reshape(4, 4)
    assert estimate_tensor(full).chain == "codebook16+rans"
    with pytest.raises(ValueError, match="empty"):
        estimate_tensor(np.zeros((0,), np.int8))
