"""The numpy float reference matches PyTorch to 1e-5 (max abs diff, float32)."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from levin import zoo
from levin.errors import GraphError
from levin.ir.capture import capture
from levin.ir.graph import Graph, QuantParams
from levin.ir.interpreter import run
from tests.ir.conftest import from_ir, randomize_batchnorm, to_ir

TOL = 1e-5


def assert_matches_torch(model: nn.Module, x: torch.Tensor, graph: Graph | None = None):
    graph = graph or capture(model, x)
    with torch.no_grad():
        ref = model.eval()(x)
    refs = ref if isinstance(ref, tuple) else (ref,)
    outs = run(graph, to_ir(x))
    assert len(outs) == len(refs)
    for name, r in zip(graph.outputs, refs):
        got = from_ir(outs[name])
        assert got.shape == tuple(r.shape), name
        diff = np.abs(got - r.numpy()).max()
        assert diff <= TOL, f"{name}: max abs diff {diff:.2e}"


@pytest.mark.parametrize("name", zoo.names())
def test_zoo_model_matches_torch(name, zoo_captures):
    model, x, graph = zoo_captures[name]
    assert_matches_torch(model, x, graph)
    torch.manual_seed(1)
    assert_matches_torch(model, 3 * torch.randn_like(x), graph)    # a second, larger input


@pytest.mark.parametrize("kw", [
    dict(in_channels=4, out_channels=6, kernel_size=3),
    dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 1), padding=(1, 2)),
    dict(in_channels=4, out_channels=6, kernel_size=3, dilation=2, padding=2),
    dict(in_channels=4, out_channels=8, kernel_size=3, groups=2, stride=2),
    dict(in_channels=4, out_channels=4, kernel_size=3, groups=4, padding=1),        # depthwise
    dict(in_channels=4, out_channels=8, kernel_size=5, groups=4, padding="same"),   # multiplier 2
    dict(in_channels=4, out_channels=3, kernel_size=4, padding="same", bias=False),  # even: 1/2
    dict(in_channels=4, out_channels=3, kernel_size=3, padding="valid", dilation=(1, 2)),
])
@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_conv_variants(kw):
    torch.manual_seed(0)
    assert_matches_torch(nn.Conv2d(**kw), torch.randn(1, 4, 11, 9))


class EveryOp(nn.Module):
    """Every op of the set, in the forms capture maps: modules, functions, tensor methods."""

    def __init__(self):
        super().__init__()
        self.pad = nn.ZeroPad2d((1, 0, 2, 1))               # folded into conv1's padding
        self.conv1 = nn.Conv2d(3, 8, 3, stride=2, bias=False)
        self.bn1 = nn.BatchNorm2d(8)                        # folded, and gives conv1 a bias
        self.act = nn.ReLU6()
        self.dw = nn.Conv2d(8, 8, 3, padding=1, groups=8)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.MaxPool2d(3, stride=1, padding=1)
        self.tanh = nn.Tanh()
        self.drop = nn.Dropout(0.5)
        self.avg = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(16 * 4 * 4, 16)
        self.bn3 = nn.BatchNorm1d(16)
        self.head = nn.Linear(16 + 16 + 16, 5)
        self.soft = nn.Softmax(dim=1)
        self.ident = nn.Identity()

    def forward(self, x):
        y = self.act(self.bn1(self.conv1(self.pad(x))))                  # 8x8 x6
        z = torch.sigmoid(self.bn2(self.dw(y)))
        y = self.pool(y + z)
        y = torch.cat([y, self.tanh(self.drop(y))], 1)                    # 16 channels
        y = F.pad(y, (1, 1, 0, 0), value=0.5)                             # 8x8, not folded
        a = self.avg(y)                                                   # 4x4
        v = self.bn3(self.fc(self.flatten(a)))                            # NHWC-order flatten
        g = self.gap(y).view(y.size(0), -1) + torch.mean(y, dim=(2, 3))
        h = torch.flatten(F.adaptive_avg_pool2d(F.relu6(F.avg_pool2d(y, 2)), 1), 1)
        h = h.sigmoid().relu() + F.hardtanh(torch.relu(h), 0.0, 6.0).tanh()
        k = x.mean((2, 3), keepdim=True).reshape(1, 3)
        out = self.head(torch.cat([F.relu(v), g, self.ident(h)], dim=1))
        return self.soft(out), F.softmax(y, dim=1), F.max_pool2d(y, 2, 2).relu(), k.softmax(1)


def test_every_op_matches_torch():
    torch.manual_seed(0)
    model = randomize_batchnorm(EveryOp())
    x = torch.randn(1, 3, 15, 12)
    graph = capture(model, x)
    ops = {n.op for n in graph.nodes}
    assert ops == {"Conv2d", "ReLU6", "Sigmoid", "Add", "MaxPool2d", "Concat", "Tanh", "Pad",
                   "AvgPool2d", "Reshape", "Linear", "GlobalAvgPool", "ReLU", "Softmax"}
    assert graph.nodes[0].attrs["padding"] == (2, 1, 1, 0)     # the ZeroPad2d, folded
    assert len(graph.inputs) == 1 and len(graph.outputs) == 4
    assert_matches_torch(model, x, graph)


def test_bad_inputs_and_integer_graphs_are_refused():
    graph = capture(nn.Conv2d(1, 2, 3), torch.randn(1, 1, 5, 5))
    with pytest.raises(GraphError, match=r"has shape \(1, 1, 5, 5\), the graph takes \(1, 5, 5, 1\)"):
        run(graph, np.zeros((1, 1, 5, 5), np.float32))
    g = Graph("int")
    x = g.add_input("x", (1, 4), np.int8, QuantParams(0.1, 0))
    g.mark_output(g.add_node("ReLU", [x], "r"))
    with pytest.raises(GraphError, match="use the integer reference"):
        run(g, np.zeros((1, 4), np.int8))
