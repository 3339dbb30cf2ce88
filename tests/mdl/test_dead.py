"""Dead units: constant channels fold into biases, unread ones are cut, and the outputs do not change."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from levin.errors import LevinError
from levin.mdl.dead import remove_dead_units
from levin.mdl.snap import SnappedLayer, rebase
from levin.zoo.lenet import LeNet5


def sparse_lenet5(seed=0):
    torch.manual_seed(seed)
    model = LeNet5().eval()
    with torch.no_grad():
        for m in (model.conv1, model.conv2, model.fc1, model.fc2):
            m.weight.mul_((torch.rand_like(m.weight) < 0.5).float())
            m.bias.uniform_(-0.2, 0.5)                      # some relu(bias) > 0: folds matter
        model.conv2.weight[[3, 7, 11]] = 0                    # constant channels -> fc1 biases
        model.fc1.weight[:, 16 * 5:16 * 6] = 0                # channel 5 unread by fc1 -> cut
        model.fc1.weight[10:400] = 0                          # 390 constant neurons -> fc2 bias
        model.fc2.weight[:, 450:] = 0                         # 50 unread neurons -> cut
        model.conv1.weight[2] = 0                             # a constant conv1 channel: conv2 has
    return model                                              # no padding, so it folds too


def test_dead_units_are_removed_and_the_outputs_do_not_change():
    model = sparse_lenet5()
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():
        before = model(x)
    rounds = remove_dead_units(model, x[:2])
    with torch.no_grad():
        after = model(x)
    assert torch.allclose(before, after, atol=1e-5), float((before - after).abs().max())
    assert model.conv1.out_channels == 19
    assert model.conv2.out_channels == 46                     # 3 constant + 1 unread
    assert model.fc1.in_features == 46 * 16
    # 390 constant (folded) + 50 unread; neurons 400..449 stay
    assert model.fc1.out_features == 500 - 390 - 50
    assert model.fc2.in_features == model.fc1.out_features
    # constant units fold unless a random mask left them unread too (then they are just cut)
    assert 390 <= sum(r["folded"] for r in rounds) <= 1 + 3 + 390
    assert remove_dead_units(model, x[:2]) == []              # nothing left to do


def test_a_model_with_no_dead_unit_is_left_alone():
    torch.manual_seed(1)
    model = LeNet5().eval()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    assert remove_dead_units(model, torch.rand(2, 1, 28, 28)) == []
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())


def test_a_padded_conv_consumer_is_not_folded_but_unread_channels_still_go():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 3, 3, padding=1), nn.ReLU(),
                          nn.Flatten(), nn.Linear(3 * 4 * 4, 2)).eval()
    with torch.no_grad():
        model[0].weight[1] = 0                        # constant, but the reader pads: kept
        model[2].weight[:, 3] = 0                     # unread: cut
        model[0].bias[1] = 0.3
    x = torch.rand(8, 1, 6, 6)
    with torch.no_grad():
        before = model(x)
    remove_dead_units(model, x[:2])
    with torch.no_grad():
        assert torch.allclose(before, model(x), atol=1e-6)
    assert model[0].out_channels == 3 and model[2].in_channels == 3


def test_rebase_reads_codes_back_after_a_cut_and_refuses_a_weight_off_the_grid():
    layer = nn.Linear(4, 3, bias=False)
    codes = np.array([[0, 5, -3, 5], [2, 0, 0, -3], [5, 5, 0, 2]], dtype=np.int8)
    comps = np.where(codes == 0, 0, np.select([codes == 5, codes == -3, codes == 2], [1, 2, 3]))
    s = SnappedLayer(np.float32(0.01), codes, comps)
    small = nn.Linear(3, 2, bias=False)
    with torch.no_grad():
        small.weight.copy_(torch.from_numpy(np.float32(0.01) * codes[:2, :3].astype(np.float32)))
        small.weight[1, 0] = 0                        # a fold zeroed this weight
    r = rebase(small, s)
    assert r.codes.tolist() == [[0, 5, -3], [0, 0, 0]] and r.components.tolist() == [[0, 1, 2], [0, 0, 0]]
    with torch.no_grad():
        small.weight[0, 0] = 0.07                     # code 7: the codebook has no such value
    with pytest.raises(LevinError, match="codes"):
        rebase(small, s)
    assert math.isclose(float(r.scale), 0.01, rel_tol=1e-6) and layer.weight.shape == (3, 4)
