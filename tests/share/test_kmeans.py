"""k-means weight sharing: at most 2**bits values per layer, zeros kept, centroids fine-tune."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

from levin import zoo
from levin.config import PruneConfig, ShareConfig, TrainConfig
from levin.errors import LevinError
from levin.ir.capture import capture
from levin.prune.magnitude import prune
from levin.share.kmeans import bits_for, codebooks, kmeans_1d, remove_sharing, share
from levin.train import data
from levin.train.data import Dataset
from levin.train.loop import evaluate, train

SETTINGS = settings(derandomize=True, max_examples=40, deadline=None)


def model_with_weights(w: np.ndarray) -> nn.Module:
    layer = nn.Linear(w.shape[1], w.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
    return nn.Sequential(layer)


@SETTINGS
@given(values=st.lists(st.floats(-4, 4, width=32), min_size=1, max_size=60),
       zero_every=st.integers(1, 5), bits=st.integers(1, 8),
       init=st.sampled_from(["linear", "density", "random"]))
def test_at_most_k_distinct_nonzeros_and_zeros_stay_zero(values, zero_every, bits, init):
    w = np.array(values, dtype=np.float32)
    w[::zero_every] = 0.0
    model = model_with_weights(w.reshape(1, -1))
    share(model, ShareConfig(bits=bits, init=init))
    shared = model[0].weight.detach().numpy().reshape(-1)
    assert len(np.unique(shared[shared != 0])) <= 2 ** bits
    assert (shared[w == 0] == 0).all()
    book = codebooks(model)["0"]
    assert book.centroids.shape == (2 ** bits,)
    assert ((book.indices == 0) == (w.reshape(1, -1) == 0)).all()       # index 0 = pruned zero


@SETTINGS
@given(values=st.lists(st.floats(-10, 10), min_size=2, max_size=200), k=st.integers(2, 16))
def test_lloyd_ends_with_every_value_at_its_nearest_centroid(values, k):
    v = np.array(values)
    centroids, labels = kmeans_1d(v, k, iterations=100)
    distance = np.abs(v[:, None] - centroids[None, :])
    assert np.allclose(distance[np.arange(len(v)), labels], distance.min(1))
    assert (np.diff(centroids) >= 0).all()


def test_linear_init_spans_min_to_max_and_fewer_values_than_k_are_exact():
    centroids, labels = kmeans_1d(np.array([-1.0, 2.0]), 8, iterations=0)
    np.testing.assert_allclose(centroids, np.linspace(-1, 2, 8))
    v = np.array([0.5, -0.25, 0.5, 3.0])
    centroids, labels = kmeans_1d(v, 16)
    np.testing.assert_array_equal(centroids[labels], v)


def test_centroid_gradient_is_the_sum_of_its_weights_gradients():
    torch.manual_seed(0)
    model = zoo.create("lenet300")
    prune(model, PruneConfig(sparsity=0.8))
    share(model, ShareConfig(bits=3))
    x = torch.randn(4, 1, 28, 28)
    dense = {n: model.get_submodule(n).weight.detach().clone().requires_grad_() for n in ("fc1", "fc2", "fc3")}
    for n, layer in dense.items():
        layer.retain_grad()
    out = torch.relu(torch.nn.functional.linear(x.flatten(1), dense["fc1"], model.fc1.bias))
    out = torch.relu(torch.nn.functional.linear(out, dense["fc2"], model.fc2.bias))
    torch.nn.functional.linear(out, dense["fc3"], model.fc3.bias).square().sum().backward()
    model(x).square().sum().backward()
    for n, w in dense.items():
        p = model.get_submodule(n).parametrizations.weight[0]
        expected = torch.stack([w.grad[p.indices == j + 1].sum() for j in range(8)])
        torch.testing.assert_close(p.centroids.grad, expected, rtol=1e-4, atol=1e-5)
        assert model.get_submodule(n).parametrizations.weight.original.grad is None


def test_centroid_fine_tuning_in_the_training_loop_keeps_indices_and_zeros(tmp_path):
    d = data.load("digits")
    small = Dataset(d.name, d.x_train[:320], d.y_train[:320], d.x_test, d.y_test, d.classes)
    torch.manual_seed(0)
    model = zoo.create("digits_cnn")
    train(model, d, TrainConfig(epochs=3, batch_size=32, lr=0.1), progress=False)
    prune(model, PruneConfig(sparsity=0.6))
    first = share(model, ShareConfig(bits=2))
    shared_acc = evaluate(model, d.x_test, d.y_test)
    # A centroid's gradient sums hundreds of weights' gradients: a small learning rate.
    train(model, small, TrainConfig(epochs=2, batch_size=32, lr=0.002, weight_decay=0.0), tmp_path,
          progress=False)                       # with out_dir: the codebook state checkpoints
    tuned = codebooks(model)
    assert evaluate(model, d.x_test, d.y_test) > shared_acc          # 0.922 -> 0.933
    for name, book in tuned.items():
        np.testing.assert_array_equal(book.indices, first[name].indices)
        assert not np.array_equal(book.centroids, first[name].centroids)     # they did move
    remove_sharing(model)
    assert all(p.requires_grad for p in model.parameters())
    graph = capture(model, torch.zeros(1, 1, 8, 8))
    for name in tuned:
        w = graph.tensors[f"{name}.weight"].data
        assert len(np.unique(w[w != 0])) <= 4
        assert (w == 0).sum() == (first[name].indices == 0).sum()


def test_bits_by_layer_then_kind_then_default():
    model = zoo.create("lenet5")
    config = ShareConfig(bits=5, conv_bits=8, linear_bits=4, layer_bits={"fc2": 6})
    chosen = {n: bits_for(n, model.get_submodule(n), config) for n in ("conv1", "conv2", "fc1", "fc2")}
    assert chosen == {"conv1": 8, "conv2": 8, "fc1": 4, "fc2": 6}
    books = share(model, config)
    assert {n: b.centroids.size for n, b in books.items()} == {"conv1": 256, "conv2": 256, "fc1": 16, "fc2": 64}
    with pytest.raises(LevinError, match="codebook"):
        share(model, config)
    with pytest.raises(LevinError, match="1..8"):
        ShareConfig(bits=9)
    with pytest.raises(LevinError, match="fc9"):
        share(zoo.create("lenet5"), ShareConfig(layer_bits={"fc9": 3}))
