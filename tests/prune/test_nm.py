"""N:M sparsity: at most N nonzeros per M consecutive weights along the input channels."""

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from levin import zoo
from levin.config import NMConfig
from levin.prune.masks import sparsity_report
from levin.prune.nm import check_nm, nm_mask, prune_nm

SETTINGS = settings(derandomize=True, max_examples=30, deadline=None)


@SETTINGS
@given(out=st.integers(1, 6), cin=st.integers(1, 13), k=st.sampled_from([1, 3]),
       nm=st.sampled_from([(2, 4), (1, 4), (1, 2), (3, 8), (4, 4), (0, 4)]), seed=st.integers(0, 999))
def test_every_group_keeps_at_most_n_and_exactly_min_n_of_nonzeros(out, cin, k, nm, seed):
    n, m = nm
    torch.manual_seed(seed)
    w = torch.randn(out, cin, k, k)
    mask = nm_mask(w, n, m)
    assert mask.shape == w.shape
    assert check_nm(w * mask, n, m)
    rows = (w * mask).permute(0, 2, 3, 1).reshape(out, -1)          # OHWI: channels innermost
    for start in range(0, rows.shape[1], m):
        group = rows[:, start:start + m]
        assert (torch.count_nonzero(group, dim=1) == min(n, group.shape[1])).all()


def test_groups_run_along_input_channels_and_keep_the_largest():
    w = torch.zeros(1, 8, 1, 2)
    w[0, :, 0, 0] = torch.tensor([1., -5., 2., 0.5, 3., 3., -3., 0.1])
    w[0, :, 0, 1] = torch.tensor([9., 8., 7., 6., 5., 4., 3., 2.])
    mask = nm_mask(w, 2, 4)
    assert mask[0, :, 0, 0].tolist() == [0, 1, 1, 0, 1, 1, 0, 0]     # ties: the earlier wins
    assert mask[0, :, 0, 1].tolist() == [1, 1, 0, 0, 1, 1, 0, 0]
    lin = nm_mask(torch.tensor([[0.1, 0.4, -0.3, 0.2, 5.0, 0.0, 0.0, -6.0]]), 1, 4)
    assert lin.tolist() == [[0, 1, 0, 0, 0, 0, 0, 1]]
    assert not check_nm(torch.ones(1, 4), 2, 4)


def test_2_4_on_lenet5_skips_the_one_channel_conv_and_halves_the_rest():
    torch.manual_seed(0)
    model = zoo.create("lenet5")
    x = torch.randn(2, 1, 28, 28)
    result = prune_nm(model, NMConfig(n=2, m=4))
    assert list(result.skipped) == ["conv1"]
    assert all(check_nm(model.get_submodule(n).weight, 2, 4) for n in result.masks)
    layers = sparsity_report(model)["layers"]
    assert layers["conv1"]["density"] == 1.0
    assert all(layers[n]["density"] == 0.5 for n in ("conv2", "fc1", "fc2"))
    assert model(x).shape == (2, 10)


def test_non_strict_cuts_the_whole_reduction_axis():
    model = nn.Sequential(nn.Conv2d(3, 2, 3))
    result = prune_nm(model, NMConfig(n=1, m=4, strict=False))
    assert not result.skipped
    assert check_nm(model[0].weight, 1, 4)
    assert int(torch.count_nonzero(model[0].weight)) == 2 * 7            # ceil(27 / 4) groups


def test_n_greater_than_m_is_refused():
    from levin.errors import LevinError
    with pytest.raises(LevinError, match="n <= m"):
        NMConfig(n=5, m=4)
