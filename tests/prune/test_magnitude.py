"""Magnitude pruning: exact sparsity, global vs per-layer, and the same masks as torch's pruning."""

import copy

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.nn.utils import prune as torch_prune

from levin import zoo
from levin.config import PruneConfig
from levin.errors import LevinError
from levin.prune.magnitude import magnitude_masks, prune
from levin.prune.masks import sparsity_report

from tests.prune.conftest import mlp

SETTINGS = settings(derandomize=True, max_examples=25, deadline=None)


@SETTINGS
@given(sizes=st.lists(st.integers(1, 20), min_size=2, max_size=4),
       sparsity=st.floats(0.0, 0.99), scope=st.sampled_from(["global", "layer"]))
def test_sparsity_is_reached_exactly_and_shapes_are_kept(sizes, sparsity, scope):
    model = mlp(sizes)
    x = torch.randn(3, sizes[0])
    shape = model(x).shape
    prune(model, PruneConfig(sparsity=sparsity, scope=scope))
    report = sparsity_report(model)
    if scope == "global":
        assert report["weights"] - report["nonzero"] == round(sparsity * report["weights"])
    else:
        for layer in report["layers"].values():
            assert layer["weights"] - layer["nonzero"] == round(sparsity * layer["weights"])
    assert model(x).shape == shape


@SETTINGS
@given(seed=st.integers(0, 2**16), sparsity=st.floats(0.05, 0.98))
def test_global_masks_equal_torch_nn_utils_prune(seed, sparsity):
    model = mlp((30, 20, 10), seed=seed)
    ours = magnitude_masks(model, sparsity, "global")
    theirs = copy.deepcopy(model)
    layers = [(m, "weight") for m in theirs.modules() if isinstance(m, nn.Linear)]
    amount = round(sparsity * sum(m.weight.numel() for m, _ in layers))
    torch_prune.global_unstructured(layers, pruning_method=torch_prune.L1Unstructured, amount=amount)
    for (name, mask), (module, _) in zip(ours.items(), layers):
        assert torch.equal(mask, module.weight_mask), name


def test_layer_scope_prunes_the_smallest_of_each_layer():
    model = nn.Linear(4, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[0.1, -3.0, 2.0, -0.2], [5.0, 0.3, -0.05, 1.0]]))
    masks = magnitude_masks(nn.Sequential(model), 0.5, "layer")
    assert masks["0"].tolist() == [[0, 1, 1, 0], [1, 0, 0, 1]]


def test_global_scope_ranks_layers_together_and_overrides_leave_the_pool():
    torch.manual_seed(0)
    model = zoo.create("lenet5")
    prune(model, PruneConfig(sparsity=0.9, scope="global", layer_sparsity={"conv1": 0.25}))
    report = sparsity_report(model)
    assert report["layers"]["conv1"]["density"] == pytest.approx(0.75, abs=1e-3)
    pooled = [v for k, v in report["layers"].items() if k != "conv1"]
    assert sum(v["weights"] - v["nonzero"] for v in pooled) == round(0.9 * sum(v["weights"] for v in pooled))
    assert len({round(v["density"], 3) for v in pooled}) == 3      # one threshold, not one ratio


def test_pruning_again_only_adds_zeros():
    torch.manual_seed(0)
    model = zoo.create("digits_cnn")
    first = prune(model, PruneConfig(sparsity=0.5))
    second = prune(model, PruneConfig(sparsity=0.8))
    assert all(bool((second[n][first[n] == 0] == 0).all()) for n in first)


def test_unknown_layer_in_layer_sparsity_is_an_error():
    with pytest.raises(LevinError, match="fc9"):
        prune(zoo.create("lenet300"), PruneConfig(layer_sparsity={"fc9": 0.5}))
