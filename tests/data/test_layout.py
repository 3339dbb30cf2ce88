import numpy as np
import pytest

from levin.data.layout import to_channels_first
from levin.errors import DatasetError


@pytest.mark.parametrize("shape, stated, model, want, says", [
    ((5, 8, 8, 3), None, None, (5, 3, 8, 8), "NHWC (inferred: last axis has 3 channels)"),
    ((5, 3, 8, 8), None, None, (5, 3, 8, 8), "NCHW (inferred: axis 1 has 3 channels)"),
    ((5, 3, 8, 3), None, None, (5, 3, 8, 3), "ambiguous, assumed; pass --layout"),
    ((5, 3, 8, 3), None, (3, 3, 8), (5, 3, 3, 8), "NHWC (inferred from the model's input)"),
    ((5, 3, 8, 3), "nhwc", None, (5, 3, 3, 8), "NHWC (as stated)"),
    ((5, 2, 100), None, None, (5, 2, 100), "NCL"),
    ((5, 100, 3), None, None, (5, 3, 100), "NLC (inferred: last axis has 3 channels)"),
    ((5, 28, 28), None, (1, 28, 28), (5, 1, 28, 28), "NHW (inferred from the model's input)"),
    ((5, 7), None, None, (5, 7), "NF"),
])
def test_layout_is_moved_to_channels_first_and_said(shape, stated, model, want, says):
    x = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    out, note = to_channels_first(x, stated, model, "x.npz")
    assert out.shape == want and says in note
    if note.startswith("layout NHWC"):
        np.testing.assert_array_equal(out, x.transpose(0, 3, 1, 2))


def test_stated_layout_of_the_wrong_rank_is_refused():
    with pytest.raises(DatasetError, match="--layout NCHW needs 4-D inputs, got shape \\[5, 7\\]"):
        to_channels_first(np.zeros((5, 7), np.float32), "nchw", None, "x.npz")
