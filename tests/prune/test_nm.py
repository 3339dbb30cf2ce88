"""N:M sparsity: at most N nonzeros per M consecutive weights along the input channels."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from levin import zoo
from levin.config import NMConfig
from levin.errors import LevinError
from levin.prune.masks import remove_masks, sparsity_report
from levin.prune.nm import check_nm, input_orders, nm_mask, prune_nm

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
    assert all(check_nm(model.get_submodule(n).weight, 2, 4, result.orders.get(n))
               for n in result.masks)
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
    with pytest.raises(LevinError, match="n <= m"):
        NMConfig(n=5, m=4)


# -- a Linear after a Flatten: groups follow the IR's (H, W, C) column order --------------------

class FlattenAfterUnknownOp(nn.Module):
    """A channel flip before the flatten: its channel count is not stated by any module."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 6, 3)
        self.fc = nn.Linear(6 * 4 * 4, 3)

    def forward(self, x):
        y = torch.flip(self.conv(x), dims=[1])
        return self.fc(torch.relu(y.reshape(y.size(0), -1)))


def test_lenet5_fc1_groups_are_consecutive_in_the_captured_graph():
    from levin.ir.capture import capture

    torch.manual_seed(0)
    model = zoo.create("lenet5")
    result = prune_nm(model, NMConfig(n=2, m=4))
    remove_masks(model)
    graph = capture(model, torch.zeros(1, 1, 28, 28))
    ir_fc1 = torch.tensor(np.array(graph.tensors["fc1.weight"].data))
    torch_fc1 = model.fc1.weight.detach()
    order = result.orders["fc1"]
    assert torch.equal(ir_fc1, torch_fc1[:, order])                 # the IR's own permutation
    assert check_nm(ir_fc1, 2, 4)                                     # as the kernel reads it
    assert check_nm(torch_fc1, 2, 4, order)
    assert int(torch.count_nonzero(torch_fc1)) == torch_fc1.numel() // 2
    # The old grouping (torch's C, H, W order) leaves no 2:4 pattern in the deployed weight:
    dense = torch.randn(500, 800)
    old = dense * nm_mask(dense, 2, 4)
    assert check_nm(old, 2, 4) and not check_nm(old[:, order], 2, 4)
    assert "fc2" not in result.orders                                 # a plain vector input


def test_input_orders_agree_with_and_without_an_example_and_through_functional_flattens():
    for name in ("lenet5", "digits_cnn", "lenet300", "resnet8"):
        model = zoo.create(name)
        ours = input_orders(model)
        traced = input_orders(model, torch.zeros(1, *zoo.spec(name).input_shape))
        assert ours.keys() == traced.keys()
        assert all(np.array_equal(ours[k], traced[k]) for k in ours)
    assert list(input_orders(zoo.create("digits_cnn"))) == ["fc"]      # 32 x 2 x 2 map
    assert not input_orders(zoo.create("resnet8"))                     # 64 x 1 x 1: same order
    order = input_orders(zoo.create("digits_cnn"))["fc"]
    assert order[:5].tolist() == [0, 4, 8, 12, 16]                    # channels innermost
    masked = zoo.create("lenet5")                 # masks held (N:M after magnitude pruning)
    prune_nm(masked, NMConfig(n=2, m=4))
    assert list(input_orders(masked)) == ["fc1"]


def test_an_unknown_channel_count_needs_an_example_and_then_works():
    model = FlattenAfterUnknownOp()
    with pytest.raises(LevinError, match="fc: .*example input"):
        prune_nm(model, NMConfig(n=1, m=4))
    result = prune_nm(model, NMConfig(n=1, m=4), torch.zeros(1, 1, 6, 6))
    assert result.orders["fc"][:3].tolist() == [0, 16, 32]
    assert check_nm(model.fc.weight, 1, 4, result.orders["fc"])
