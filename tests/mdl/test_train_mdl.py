"""train_mdl end to end on the digits CNN and scikit-learn's digits: a few steps, then a .lvn
that decodes to the integer graph, whose weight tensors hold only the snapped codebooks."""

import json

import numpy as np
import pytest
import torch

from levin import zoo
from levin.coding import container
from levin.config import TrainConfig
from levin.config.mdl import MDLConfig
from levin.errors import LevinError
from levin.mdl import train_mdl
from levin.quant.bias_precision import biased_layers
from levin.train import data
from levin.train.loop import train


@pytest.fixture(scope="module")
def digits():
    return data.load("digits")


@pytest.fixture(scope="module")
def result(digits, tmp_path_factory):
    torch.manual_seed(0)
    model = train(zoo.create("digits_cnn"), digits, TrainConfig(epochs=3, batch_size=64, lr=0.05),
                  progress=False).model
    out = tmp_path_factory.mktemp("mdl")
    config = MDLConfig(lam=50.0, components=8, calibration_size=200, final_sigma=0.1, finetune_epochs=0.2)
    mdl_train = TrainConfig(optimizer="adam", lr=1e-3, epochs=2, batch_size=128)
    return train_mdl(model, digits, config, mdl_train, out_dir=out, progress=False, max_steps=16), out


def test_file_decodes_to_the_integer_graph_with_at_most_k_plus_one_values(result):
    r, out = result
    graph = container.decode(r.lvn)
    assert (out / "model.lvn").read_bytes() == r.lvn
    for layer in ("conv1", "conv2", "fc"):
        w = graph.tensors[f"{layer}.weight"].data
        assert np.array_equal(w, r.graph.tensors[f"{layer}.weight"].data)
        assert np.unique(w).size <= 8 + 1
        assert r.layers[layer]["distinct"] == np.unique(w).size


def test_sizes_and_errors_are_reported_consistently(result, digits):
    r, out = result
    saved = json.loads((out / "mdl.json").read_text())
    assert saved["file_bytes"] == len(r.lvn) == r.cost.bits // 8
    assert r.predicted_bytes == pytest.approx(r.estimated_weight_bytes + r.file_bytes - r.weight_bytes)
    assert 0 < r.weight_bytes < r.file_bytes
    # The estimate made before coding agrees with the coded weight tensors.
    assert abs(r.weight_estimate_error) < 0.05, (r.estimated_weight_bytes, r.weight_bytes)
    assert saved["estimate_error"] == pytest.approx(r.estimate_error)
    assert r.cost.decode_steps > 0 and r.cost.cost > r.cost.bits
    assert r.integer_error < 0.5 and len(r.history) == 2   # 16 steps: 12 in epoch 1 (1437/128), 4 in 2
    # The snapped float model and the integer graph in the file agree on most digits.
    assert abs(r.tuned_error - r.integer_error) < 0.05


def test_no_layer_selected_is_a_clear_error(digits):
    with pytest.raises(LevinError, match="no Conv2d/Linear"):
        train_mdl(zoo.create("digits_cnn"), digits, MDLConfig(include=("nothing*",)),
                  TrainConfig(epochs=1), progress=False, max_steps=1)


def test_mdl_pruning_and_dead_unit_removal_end_to_end(digits):
    torch.manual_seed(0)
    model = train(zoo.create("digits_cnn"), digits, TrainConfig(epochs=3, batch_size=64, lr=0.05),
                  progress=False).model
    before = {n: m.weight.shape for n, m in model.named_modules() if hasattr(m, "weight")}
    config = MDLConfig(lam=1.0, components=4, calibration_size=200, final_sigma=0.1, finetune_epochs=0.1,
                       prune_at=(0.0, 0.25, 0.5), prune_max_fraction=0.2, remove_dead=True, round_biases=True)
    r = train_mdl(model, digits, config, TrainConfig(optimizer="adam", lr=1e-3, epochs=2, batch_size=128),
                  progress=False, max_steps=16)
    assert r.history[-1]["mdl_pruned"] > 0, r.history
    shapes = {n: m.weight.shape for n, m in model.named_modules() if hasattr(m, "weight")}
    if r.extra["dead_units"]:                 # units were cut: some layer shrank, none grew
        assert any(shapes[n].numel() < before[n].numel() for n in before)
    assert all(shapes[n].numel() <= before[n].numel() for n in before)
    graph = container.decode(r.lvn)
    for layer, info in r.layers.items():      # the file holds the cut shapes, snapped codes only
        w = graph.tensors[f"{layer}.weight"].data
        assert w.size == info["weights"] and np.unique(w).size <= 4 + 1
    for bias in biased_layers(graph).values():        # round_biases: the file holds the rounded ones
        assert np.array_equal(graph.tensors[bias].data, r.graph.tensors[bias].data)
    # Accuracy is not checked: 16 steps on 1,437 digits say nothing about it (MNIST runs do).
    assert abs(r.weight_estimate_error) < 0.05 and abs(r.tuned_error - r.integer_error) < 0.1


class CountingTeacher(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x):
        self.calls += 1
        return self.model(x)


def test_mdl_training_distils_from_a_teacher_and_needs_one_to_distil(digits):
    torch.manual_seed(0)
    model = zoo.create("digits_cnn")
    teacher = CountingTeacher(zoo.create("digits_cnn"))
    config = MDLConfig(lam=1.0, components=4, calibration_size=100, finetune_epochs=0)
    distil = TrainConfig(optimizer="adam", lr=1e-3, epochs=1, batch_size=128, distill_alpha=0.5)
    with pytest.raises(LevinError, match="teacher"):
        train_mdl(model, digits, config, distil, progress=False, max_steps=1)
    train_mdl(model, digits, config, distil, progress=False, max_steps=5, teacher=teacher)
    assert teacher.calls == 5 and not teacher.training
