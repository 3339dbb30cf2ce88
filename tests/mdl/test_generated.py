"""Generated-weights training (levin.mdl.generated): the blocks are cut in the captured graph's
order, which for a Linear after a flattened feature map is not torch's."""

import numpy as np
import pytest
import torch
from torch import nn

from levin import zoo
from levin.ir.capture import capture
from levin.mdl.generated import graph_orders


def test_graph_orders_map_each_graph_weight_to_its_torch_weight():
    torch.manual_seed(0)
    model = zoo.create("lenet5").eval()
    example = torch.zeros(1, 1, 28, 28)
    orders = graph_orders(model, example)
    graph = capture(model, example)
    for name, order in orders.items():
        want = model.get_submodule(name).weight.detach().numpy().reshape(-1)[order]
        np.testing.assert_array_equal(graph.tensors[f"{name}.weight"].data.reshape(-1), want)
    n = model.fc1.weight.shape[1]              # fc1 reads the flattened conv map: columns permuted
    assert not np.array_equal(orders["fc1"][:n], np.arange(n))


def test_a_folded_batchnorm_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).eval()
    with torch.no_grad():
        model[1].running_var.fill_(4.0)
    with pytest.raises(ValueError, match="not a permutation"):
        graph_orders(model, torch.zeros(1, 1, 6, 6))
