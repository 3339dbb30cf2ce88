"""levin's global magnitude masks against the peer, torch.nn.utils.prune.global_unstructured.

Both prune round(amount * n) weights of smallest |w| from the pooled layers. They differ only in
how ties at the threshold are broken: levin prunes the earlier position (a stable sort, so a
rerun is reproducible on any backend); torch takes whatever torch.topk returns, which is
unspecified for equal values (on CPU it picks the later ones). So masks must be identical on
tie-free weights, and on weights with ties they may differ only among weights equal to the
threshold, with the same count pruned.
"""

import copy

import pytest
import torch
from torch import nn
from torch.nn.utils import prune as torch_prune

from levin import zoo
from levin.prune.magnitude import magnitude_masks
from levin.prune.masks import select_layers


def torch_masks(model: nn.Module, amount) -> dict[str, torch.Tensor]:
    theirs = copy.deepcopy(model)
    layers = select_layers(theirs)
    torch_prune.global_unstructured([(m, "weight") for m in layers.values()],
                                    pruning_method=torch_prune.L1Unstructured, amount=amount)
    return {name: m.weight_mask.bool() for name, m in layers.items()}


def pooled(model: nn.Module) -> torch.Tensor:
    return torch.cat([m.weight.detach().abs().reshape(-1) for m in select_layers(model).values()])


def tie_free(model: nn.Module, seed: int) -> nn.Module:
    """The model with its weights replaced by distinct magnitudes (a random permutation of
    1..n, random signs): no two |w| are equal anywhere in the pool."""
    layers = select_layers(model)
    n = sum(m.weight.numel() for m in layers.values())
    g = torch.Generator().manual_seed(seed)
    values = (torch.randperm(n, generator=g).double() + 1) / n
    values *= torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).double()
    sizes = [m.weight.numel() for m in layers.values()]
    with torch.no_grad():
        for m, part in zip(layers.values(), torch.split(values, sizes)):
            m.weight.copy_(part.reshape(m.weight.shape).float())
    assert torch.unique(pooled(model)).numel() == n
    return model


@pytest.mark.parametrize("name", ["lenet300", "lenet5"])
@pytest.mark.parametrize("sparsity", [0.3, 0.5, 0.9, 0.925, 0.98])
def test_zoo_models_get_the_same_masks_as_torch_when_no_tie_is_at_the_threshold(name, sparsity):
    torch.manual_seed(0)
    model = zoo.create(name)
    ranked = torch.sort(pooled(model)).values
    k = round(sparsity * ranked.numel())
    # Kaiming-initialised float32 weights repeat some |w| (lenet5: 420,560 distinct of 430,500),
    # but none straddle these thresholds; if one did, the next test's rule would apply.
    assert ranked[k - 1] != ranked[k]
    ours = magnitude_masks(model, sparsity, "global")
    theirs = torch_masks(model, sparsity)          # a fraction: torch rounds it as levin does
    for layer in ours:
        assert torch.equal(ours[layer].bool(), theirs[layer]), layer


@pytest.mark.parametrize("name", ["lenet300", "lenet5"])
def test_tie_free_weights_give_identical_masks_at_any_count(name):
    torch.manual_seed(1)
    model = tie_free(zoo.create(name), seed=1)
    n = pooled(model).numel()
    for amount in (1, n // 7, n // 2, n - 1):
        ours = magnitude_masks(model, amount / n, "global")
        theirs = torch_masks(model, amount)
        assert sum(int((~m.bool()).sum()) for m in ours.values()) == amount
        assert all(torch.equal(ours[layer].bool(), theirs[layer]) for layer in ours), amount


def test_ties_at_the_threshold_are_the_only_difference():
    torch.manual_seed(0)
    model = zoo.create("lenet300")
    with torch.no_grad():                     # quantize |w| coarsely: thousands of ties
        for m in select_layers(model).values():
            m.weight.copy_(torch.round(m.weight * 200) / 200)
    sparsity = 0.5
    ranked = torch.sort(pooled(model)).values
    k = round(sparsity * ranked.numel())
    threshold = ranked[k - 1]
    assert ranked[k] == threshold                      # the threshold falls inside a tie
    ours = magnitude_masks(model, sparsity, "global")
    theirs = torch_masks(model, sparsity)
    differ = 0
    for name, module in select_layers(model).items():
        a, b = ours[name].bool(), theirs[name]
        off = a != b                          # may differ only where |w| is the tied value
        assert bool((module.weight.detach().abs()[off] == threshold).all()), name
        differ += int(off.sum())
    assert sum(int((~m.bool()).sum()) for m in ours.values()) == \
        sum(int((~m).sum()) for m in theirs.values()) == k
    assert differ > 0           # the tie really is broken differently, so the check has teeth


def test_levin_breaks_ties_by_position_the_earlier_weight_goes():
    layer = nn.Linear(8, 1, bias=False)
    nn.init.constant_(layer.weight, 0.5)
    masks = magnitude_masks(nn.Sequential(layer), 0.5, "global")
    assert masks["0"].tolist() == [[0, 0, 0, 0, 1, 1, 1, 1]]
