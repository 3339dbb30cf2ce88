"""MDL pruning removes the weights whose code costs more bits than the data they save."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from levin.config.mdl import MDLConfig
from levin.errors import LevinError
from levin.mdl.prior import MixturePrior
from levin.mdl.saliency import code_saving_bits, fisher_diag, mdl_prune
from levin.train.data import Dataset


def logistic_task(n=4000, d=40, useful=5, seed=0):
    """Two classes that only the first `useful` of `d` features separate, and a linear model
    fitted to them whose other weights are small noise."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d)).astype(np.float32)
    y = (x[:, :useful].sum(1) > 0).astype(np.int64)
    data = Dataset("toy", x, y, x[:500], y[:500], ("a", "b"))
    model = nn.Sequential(nn.Linear(d, 2))
    with torch.no_grad():
        w = np.zeros((2, d), np.float32)
        w[1, :useful], w[0, :useful] = 2.0, -2.0
        w[:, useful:useful + 10] = rng.choice([-0.1, 0.1], size=(2, 10))   # the rest stay 0
        model[0].weight.copy_(torch.from_numpy(w))
        model[0].bias.zero_()
    prior = MixturePrior(model[0].weight, components=4)
    with torch.no_grad():                          # components at +-2 (useful) and +-0.1 (noise)
        prior.means.copy_(torch.tensor([-2.0, -0.1, 0.1, 2.0]))
        prior.log_var.fill_(2 * math.log(0.02))
        prior.logits.copy_(torch.log(torch.tensor([0.9, 0.025, 0.025, 0.025, 0.025])))
    return model, prior, data


def test_mdl_prune_removes_the_useless_weights_and_keeps_the_useful_ones():
    model, prior, data = logistic_task()
    fisher = fisher_diag(model, ["0"], data, batches=8, batch_size=256)
    mask = {"0": torch.ones_like(model[0].weight)}
    removed = mdl_prune(model, {"0": prior}, mask, fisher, lam=3.0, max_fraction=1.0)
    w = model[0].weight.detach()
    assert removed["0"] == 20 and not w[:, 5:].any() and (w[:, :5].abs() == 2).all()
    assert not mask["0"][:, 5:15].any() and mask["0"][:, :5].all() and mask["0"][:, 15:].all()


def test_lambda_zero_prunes_nothing_and_the_cap_limits_one_event():
    model, prior, data = logistic_task()
    fisher = fisher_diag(model, ["0"], data, batches=4, batch_size=256)
    mask = {"0": torch.ones_like(model[0].weight)}
    assert mdl_prune(model, {"0": prior}, mask, fisher, lam=0.0, max_fraction=1.0) == {"0": 0}
    assert mdl_prune(model, {"0": prior}, mask, fisher, lam=3.0, max_fraction=0.25) == {"0": 7}   # 25% of 30


def test_code_saving_is_zero_for_weights_the_zero_component_holds():
    layer = nn.Linear(8, 1, bias=False)
    with torch.no_grad():                      # 4 zeros, 2 x 0.5, 2 x -0.5: pi = 1/2, 1/4, 1/4
        layer.weight.copy_(torch.tensor([[0.0, 0.5, -0.5, 0.001, 0.0, 0.5, -0.5, -0.002]]))
    prior = MixturePrior(layer.weight, components=2)
    with torch.no_grad():
        prior.means.copy_(torch.tensor([-0.5, 0.5]))
        prior.log_var.fill_(2 * math.log(0.01))
    saving = code_saving_bits(prior, layer.weight).reshape(-1).tolist()
    one = math.log2(4.5 / 2.5)                 # KT-smoothed counts (4 + 1/2) / (2 + 1/2)
    assert saving == pytest.approx([0.0, one, one, 0.0, 0.0, one, one, 0.0])


def test_prune_settings_are_checked():
    with pytest.raises(LevinError, match="prune_at"):
        MDLConfig(prune_at=(0.5, 1.0))
    with pytest.raises(LevinError, match="prune_max_fraction"):
        MDLConfig(prune_max_fraction=0.0)
    assert MDLConfig(prune_at=[0.1, 0.2]).prune_at == (0.1, 0.2)
