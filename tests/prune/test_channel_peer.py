"""levin's channel pruning beside Torch-Pruning's on ResNet-8: the same widths at the same
budget, and a Torch-Pruning result is an ordinary model that levin captures and runs."""

import copy

import numpy as np
import pytest
import torch

from levin import zoo
from levin.analyze.profile import profile
from levin.config import ChannelPruneConfig
from levin.ir.capture import capture
from levin.ir.interpreter import run
from levin.prune.channel import prune_channels

tp = pytest.importorskip("torch_pruning", reason="torch-pruning (dev extra) is not installed")


def widths(model):
    return [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def test_both_libraries_reach_the_same_widths_and_both_results_capture_and_run():
    torch.manual_seed(0)
    base = zoo.create("resnet8").eval()
    x = torch.randn(2, 3, 32, 32)
    ours, theirs = copy.deepcopy(base), copy.deepcopy(base)
    prune_channels(ours, x, ChannelPruneConfig(ratio=0.3))
    tp.pruner.MetaPruner(theirs, x, tp.importance.MagnitudeImportance(p=1), pruning_ratio=0.285,
                         ignored_layers=[theirs.fc]).step()
    # Each library rounds ratio * channels its own way: 0.3 and 0.285 give 11/22/45 in both.
    assert widths(ours) == widths(theirs) == [11, 11, 11, 22, 22, 22, 45, 45, 45]
    full = profile(capture(base, x[:1])).macs
    for model in (ours, theirs):
        graph = capture(model.eval(), x)
        assert profile(capture(model, x[:1])).macs < 0.5 * full
        out = run(graph, x.numpy().transpose(0, 2, 3, 1))[graph.outputs[0]]
        np.testing.assert_allclose(out, model(x).detach().numpy(), atol=1e-5, rtol=1e-4)
