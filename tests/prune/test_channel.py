"""Channel pruning: dependency groups, physically smaller layers, and the profiler agrees."""

import copy

import numpy as np
import pytest
import torch
from torch import nn

from levin import zoo
from levin.analyze.profile import profile
from levin.config import ChannelPruneConfig
from levin.errors import LevinError
from levin.ir.capture import capture
from levin.ir.interpreter import run
from levin.prune.channel import filter_scores, kept_count, prune_channels, select_channels
from levin.prune.depgraph import DependencyGraph
from levin.prune.magnitude import prune
from levin.config import PruneConfig

from tests.ir.conftest import randomize_batchnorm, to_ir


def zoo_model(name, seed=0):
    torch.manual_seed(seed)
    return randomize_batchnorm(zoo.create(name)).eval(), torch.randn(2, *zoo.spec(name).input_shape)


def zero_removed(model, graph, removed):
    """A copy of `model` whose removed channels output exactly zero everywhere they appear."""
    gone = {graph.groups[g].classes[p] for g, ps in removed.items() for p in ps}
    model = copy.deepcopy(model)
    with torch.no_grad():
        for name, atoms in {**graph.produced,
                            **{n: graph.inputs[n] for n in graph.carriers}}.items():
            module = model.get_submodule(name)
            rows = [i for i, a in enumerate(atoms.tolist()) if graph.find(a) in gone]
            module.weight[rows] = 0
            if module.bias is not None:
                module.bias[rows] = 0
    return model


class Concat(nn.Module):
    """Two branches concatenated, then a conv: the branches are separate groups."""

    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Conv2d(3, 6, 3, padding=1), nn.Conv2d(3, 4, 1)
        self.bn = nn.BatchNorm2d(10)
        self.head = nn.Conv2d(10, 5, 3)
        self.fc = nn.Linear(5, 3)

    def forward(self, x):
        y = torch.relu(self.bn(torch.cat([self.a(x), self.b(x)], dim=1)))
        return self.fc(self.head(y).mean((2, 3)))


class Unknown(nn.Module):
    """An op the dependency graph does not know (flip over channels) freezes its input."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2, self.c3 = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 4, 1)

    def forward(self, x):
        return self.c3(torch.flip(self.c2(self.c1(x)), dims=[1]))


class ViewNet(nn.Module):
    """Functional ops: view(n, -1) flattening, a residual `+` and F.relu between layers."""

    def __init__(self):
        super().__init__()
        self.c1, self.c2 = nn.Conv2d(2, 6, 3, padding=1), nn.Conv2d(6, 6, 3, padding=1)
        self.fc1, self.fc2 = nn.Linear(6 * 4 * 4, 12), nn.Linear(12, 3)

    def forward(self, x):
        y = torch.nn.functional.relu(self.c1(x))
        y = torch.relu(self.c2(y) + y)
        y = torch.nn.functional.max_pool2d(y, 2)
        return self.fc2(torch.relu(self.fc1(y.view(y.size(0), -1))))


MODELS = {**{n: (lambda n=n: zoo_model(n)) for n in zoo.names()},
          "concat": lambda: (randomize_batchnorm(Concat()).eval(), torch.randn(2, 3, 8, 8)),
          "viewnet": lambda: (ViewNet().eval(), torch.randn(2, 2, 8, 8))}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_pruned_model_equals_the_original_with_those_channels_zeroed(name):
    model, x = MODELS[name]()
    graph = DependencyGraph(model, x)
    removed = select_channels(graph, filter_scores(model, graph.produced, "l2"),
                              ChannelPruneConfig(ratio=0.4))
    assert removed
    reference = zero_removed(model, graph, removed)(x)
    graph.prune(removed)
    out = model(x)
    assert out.shape == reference.shape
    torch.testing.assert_close(out, reference, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ["digits_cnn", "lenet5", "resnet8", "dscnn"])
def test_profiler_sees_fewer_params_macs_and_arena_and_the_ir_matches_torch(name):
    model, x = zoo_model(name)
    before = profile(capture(model, x[:1]))
    prune_channels(model, x, ChannelPruneConfig(ratio=0.5))
    graph = capture(model, x[:1])
    after = profile(graph)
    assert after.params < 0.5 * before.params
    assert after.macs < 0.5 * before.macs
    assert after.arena_bytes < before.arena_bytes
    ours = run(graph, to_ir(x[:1]))[graph.outputs[0]]
    np.testing.assert_allclose(ours, model(x[:1]).detach().numpy(), atol=1e-5, rtol=1e-4)


def test_resnet8_groups_follow_the_residual_adds():
    model, x = zoo_model("resnet8")
    groups = {g.producers: len(g) for g in DependencyGraph(model, x).groups}
    assert groups[("stack1.conv2.0", "stem.0")] == 16                  # identity shortcut
    assert groups[("stack2.conv2.0", "stack2.shortcut")] == 32          # 1x1 conv shortcut
    assert groups[("stack3.conv2.0", "stack3.shortcut")] == 64
    prune_channels(model, x, ChannelPruneConfig(ratio=0.25))
    assert model.stem[0].out_channels == model.stack1.conv2[0].out_channels == model.bn.num_features == 12
    assert model.stack2.shortcut.in_channels == model.stack2.conv1[1].in_channels == 12
    assert model.stack3.shortcut.out_channels == model.fc.in_features == 48


def test_dscnn_depthwise_convs_carry_the_channels_of_the_layer_before():
    model, x = zoo_model("dscnn")
    prune_channels(model, x, ChannelPruneConfig(ratio=0.5, layer_ratio={"blocks.0.pointwise": 0.25}))
    dw = model.blocks[1].depthwise
    assert dw.in_channels == dw.out_channels == dw.groups == model.blocks[0].pointwise.out_channels == 48
    assert model.blocks[0].depthwise.groups == model.conv.out_channels == 32
    assert model.blocks[1].bn1.num_features == 48


def test_unknown_ops_freeze_their_inputs_and_outputs_are_never_pruned():
    model, x = Unknown().eval(), torch.randn(1, 3, 9, 9)
    graph = DependencyGraph(model, x)
    assert graph.frozen_layers() == ["c2", "c3"]
    prune_channels(model, x, ChannelPruneConfig(ratio=0.5))
    assert (model.c1.out_channels, model.c2.out_channels, model.c3.out_channels) == (4, 8, 4)


def test_taylor_importance_uses_batches_and_exclude_and_round_to_apply():
    model, x = zoo_model("lenet5")
    batches = [(torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,))) for _ in range(2)]
    result = prune_channels(model, x, ChannelPruneConfig(ratio=0.5, importance="taylor",
                                                         exclude=("conv1",), round_to=8), batches)
    assert model.conv1.out_channels == 20
    assert model.conv2.out_channels == 32 and model.fc1.out_features == 256
    assert {tuple(g["producers"]): g["after"] for g in result.groups}[("conv2",)] == 32
    assert result.frozen == ["fc2"]
    with pytest.raises(LevinError, match="batches"):
        prune_channels(model, x, ChannelPruneConfig(importance="taylor"))


def test_kept_count_rounding():
    config = ChannelPruneConfig(ratio=0.5, round_to=8, min_channels=4)
    assert kept_count(20, 0.5, config) == 16
    assert kept_count(6, 0.9, config) == 6            # min 4, rounded up to 8, capped at 6
    assert kept_count(64, 0.0, ChannelPruneConfig()) == 64


def test_masked_models_and_a_second_prune_on_a_used_graph_are_refused():
    model, x = zoo_model("lenet5")
    graph = DependencyGraph(model, x)
    graph.prune({0: [0]})
    with pytest.raises(LevinError, match="already"):
        graph.prune({0: [1]})
    prune(model, PruneConfig(sparsity=0.5))
    with pytest.raises(LevinError, match="remove_masks"):
        DependencyGraph(model, x)
    with pytest.raises(LevinError, match="layer_ratio"):
        prune_channels(zoo.create("lenet5"), x, ChannelPruneConfig(layer_ratio={"fc9": 0.5}))


class Indexed(nn.Module):
    """Picking channel 0 (a rank-3 result) or reading size(1) ties a layer's channels down."""

    def __init__(self):
        super().__init__()
        self.c, self.d, self.e = nn.Conv2d(3, 8, 3), nn.Conv2d(8, 8, 3), nn.Conv2d(8, 8, 1)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        y = self.c(x)
        z = self.e(self.d(y))
        return self.fc(z.mean((2, 3))) + y[:, 0].mean() + z.size(1)


def test_indexing_a_channel_or_reading_the_channel_count_freezes_the_layer():
    graph = DependencyGraph(Indexed().eval(), torch.randn(1, 3, 9, 9))
    assert graph.frozen_layers() == ["c", "e", "fc"]
    assert [g.producers for g in graph.groups] == [("d",)]


def test_asking_to_prune_a_frozen_layer_or_an_untraceable_model_is_a_clear_error():
    model, x = zoo_model("lenet5")
    with pytest.raises(LevinError, match="cannot be removed.*fc2"):
        prune_channels(model, x, ChannelPruneConfig(layer_ratio={"fc2": 0.5}))

    class Branchy(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv2d(1, 2, 1)

        def forward(self, x):
            return self.c(x) if x.sum() > 0 else x

    with pytest.raises(LevinError, match="torch.fx"):
        DependencyGraph(Branchy(), torch.randn(1, 1, 4, 4))
