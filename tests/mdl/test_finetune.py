"""Annealing caps the prior's widths; the codebook fine-tune keeps zeros and assignments and
ends on an exact int8 grid."""

import math

import numpy as np
import torch
from torch import nn

from levin.mdl.finetune import finetune_codebooks, regrid
from levin.mdl.prior import MixturePrior
from levin.mdl.snap import snap_layer
from levin.quant.lowbit import quantize_weights
from levin.train.data import Dataset


def test_shrink_caps_every_width_at_a_fraction_of_its_initial_value():
    p = MixturePrior(torch.randn(1000) * 0.1, components=4)
    start = p.variances_log.detach().clone()
    p.shrink(0.1)
    assert torch.allclose(p.variances_log, start + 2 * math.log(0.1))
    p.shrink(1.0)
    assert torch.allclose(p.variances_log, start)


def toy():
    rng = np.random.default_rng(0)
    centres = rng.normal(0, 1, (4, 12)).astype(np.float32)
    y = rng.integers(0, 4, 400)
    x = (centres[y] + rng.normal(0, 0.5, (400, 12))).astype(np.float32)
    data = Dataset("toy", x[:300], y[:300].astype(np.int64), x[300:], y[300:].astype(np.int64), tuple("abcd"))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(12, 16), nn.ReLU(), nn.Linear(16, 4))
    return model, data


def test_finetune_trains_values_only_then_regrid_gives_exact_int8_codes():
    model, data = toy()
    layer = model[0]
    snapped = snap_layer(layer, MixturePrior(layer.weight, components=3))
    before = layer.weight.detach().clone()
    steps = finetune_codebooks(model, ["0"], data, epochs=2, lr=1e-2, batch_size=32)
    assert steps == 2 * math.ceil(300 / 32)
    after = layer.weight.detach()
    assert not torch.equal(before, after)                       # the values trained ...
    assert torch.equal(before == 0, after == 0)                 # ... the zeros stayed
    for v in torch.unique(before[before != 0]):                 # ... and so did the assignment
        assert torch.unique(after[before == v]).numel() == 1
    assert not any(isinstance(m, nn.Module) and hasattr(m, "parametrizations") for m in model.modules())
    s = regrid(layer, snapped)
    w = layer.weight.detach().numpy()
    assert np.array_equal(quantize_weights(w, np.array([s.scale])), s.codes)
    assert np.unique(s.codes[s.codes != 0]).size <= 3 and np.abs(s.codes).max() == 127
    assert np.array_equal(s.components == 0, s.codes == 0)


def test_zero_epochs_is_a_no_op():
    model, data = toy()
    w = model[0].weight.detach().clone()
    assert finetune_codebooks(model, ["0"], data, epochs=0, lr=1e-2) == 0
    assert torch.equal(model[0].weight, w)
