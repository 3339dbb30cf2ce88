"""Masks hold pruned weights at exactly zero through any optimizer, and through train()."""

import pytest
import torch
from torch import nn

from levin import zoo
from levin.config import PruneConfig, TrainConfig
from levin.errors import LevinError
from levin.ir.capture import capture
from levin.prune.magnitude import prune
from levin.prune.masks import apply_masks, get_masks, remove_masks, select_layers, sparsity_report
from levin.train.loop import train


def zeros_where_masked(model, masks) -> bool:
    return all(bool((model.get_submodule(n).weight[m == 0] == 0).all()) for n, m in masks.items())


@pytest.mark.parametrize("make_optimizer", [
    lambda p: torch.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=1e-2),
    lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.1),
], ids=["sgd-momentum-wd", "adam-wd", "adamw"])
def test_masked_weights_stay_zero_through_optimizer_steps(make_optimizer):
    torch.manual_seed(0)
    model = zoo.create("digits_cnn")
    optimizer = make_optimizer(model.parameters())
    x, y = torch.randn(16, 1, 8, 8), torch.randint(0, 10, (16,))

    def steps(n):
        for _ in range(n):
            loss = nn.functional.cross_entropy(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()

    steps(3)                              # momentum buffers now hold nonzero values everywhere
    masks = prune(model, PruneConfig(sparsity=0.5))
    optimizer = make_optimizer(model.parameters())
    steps(5)
    assert zeros_where_masked(model, masks)
    masks = prune(model, PruneConfig(sparsity=0.8))     # masks tighten mid-run, optimizer kept
    steps(5)
    assert zeros_where_masked(model, masks)
    assert sparsity_report(model)["density"] == pytest.approx(0.2, abs=1e-3)
    kept = masks["conv2"].bool()
    assert bool((model.conv2.weight[kept] != 0).all())   # the kept weights did train


def test_a_masked_model_fine_tunes_in_the_training_loop_and_resumes(small_digits, tmp_path):
    torch.manual_seed(0)
    model = zoo.create("digits_cnn")
    masks = prune(model, PruneConfig(sparsity=0.7))
    config = TrainConfig(epochs=1, batch_size=32, lr=0.05)
    train(model, small_digits, config, tmp_path, progress=False)
    assert zeros_where_masked(model, masks)
    assert {n: m.bool() for n, m in masks.items()}.keys() == get_masks(model).keys()
    # The masks are buffers: the final checkpoint restores them into a masked model.
    torch.manual_seed(1)
    other = zoo.create("digits_cnn")
    apply_masks(other, {n: torch.ones_like(m) for n, m in masks.items()})
    from levin.train import checkpoint
    checkpoint.load(tmp_path / "model.safetensors", other)
    assert all(torch.equal(get_masks(other)[n], m.bool()) for n, m in masks.items())


def test_remove_masks_leaves_plain_modules_that_capture():
    torch.manual_seed(0)
    model = zoo.create("lenet5")
    prune(model, PruneConfig(sparsity=0.9))
    before = {n: model.get_submodule(n).weight.detach().clone() for n in select_layers(model)}
    remove_masks(model)
    assert not get_masks(model)
    assert all(type(model.get_submodule(n)) in (nn.Conv2d, nn.Linear) for n in before)
    assert all(torch.equal(model.get_submodule(n).weight, w) for n, w in before.items())
    graph = capture(model, torch.zeros(1, 1, 28, 28))
    zeros = sum(int((graph.tensors[f"{n}.weight"].data == 0).sum()) for n in before)
    assert zeros == sum(int((w == 0).sum()) for w in before.values())


def test_select_layers_patterns_and_a_misspelt_pattern():
    model = zoo.create("lenet5")
    assert list(select_layers(model, include=["fc*"])) == ["fc1", "fc2"]
    assert list(select_layers(model, exclude=["conv1", "fc2"])) == ["conv2", "fc1"]
    with pytest.raises(LevinError, match="matches no Conv2d/Linear"):
        select_layers(model, include=["fc9"])


def test_mask_of_the_wrong_shape_is_refused():
    model = zoo.create("digits_cnn")
    with pytest.raises(LevinError, match="shape"):
        apply_masks(model, {"fc": torch.ones(3, 3)})


def test_new_masks_intersect_old_ones_unless_told_otherwise():
    model = nn.Sequential(nn.Linear(4, 1, bias=False))
    apply_masks(model, {"0": torch.tensor([[1., 0., 1., 1.]])})
    apply_masks(model, {"0": torch.tensor([[1., 1., 0., 1.]])})
    assert get_masks(model)["0"].tolist() == [[True, False, False, True]]
    apply_masks(model, {"0": torch.ones(1, 4)}, intersect=False)
    assert get_masks(model)["0"].all()
    assert (model[0].weight[0, 1:3] == 0).all()       # revived weights restart from zero
