"""An imported float graph (ONNX, float .tflite) as a torch model the recipe steps can train.

Read me first. `GraphModule` runs a graph with its weights in one ParameterDict, which is enough
to fine-tune (QAT) but not to compress: pruning, N:M, k-means sharing and their masks look for
Conv2d / Linear modules and change `module.weight`. `TrainableGraph` gives each conv and linear
node a real `nn.Conv2d` / `nn.Linear` holding its weight and bias in torch's layout (OIHW, not the
IR's OHWI), reads them (through any parametrization a step put on them) when the node runs, and
runs every other node as `GraphModule` does. `to_graph()` writes the weights back into a copy of
the float graph, which `quantize` takes as it is: no tracing of this module is ever needed.
Structural steps (channel removal) change shapes the graph records, and are refused.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import torch
from torch import nn

from levin.ir.graph import Graph
from levin.quant.graphmodule import GraphModule, _key


def _layer(op: str, attrs: dict, w: np.ndarray, bias: np.ndarray | None) -> nn.Module:
    """A torch layer with the node's weight (IR layout `w`) and bias, in torch's layout."""
    if op == "Linear":
        layer = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        weight = torch.tensor(w, dtype=torch.float32)
    else:                                               # conv2d: OHWI [O, KH, KW, I/groups]
        o, kh, kw, cg = w.shape
        layer = nn.Conv2d(cg * attrs["groups"], o, (kh, kw), attrs["stride"], 0, attrs["dilation"],
                          attrs["groups"], bias=bias is not None)
        weight = torch.tensor(w, dtype=torch.float32).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        layer.weight.copy_(weight)
        if bias is not None:
            layer.bias.copy_(torch.tensor(bias, dtype=torch.float32))
    return layer


def _names(graph: Graph) -> dict[str, str]:
    """A readable, unique module name for each conv / linear node ("conv1", "fc_2")."""
    names: dict[str, str] = {}
    for node in graph.nodes:
        if node.op in ("Conv2d", "Linear"):
            base = re.sub(r"\W", "_", node.name).strip("_") or node.op
            name, i = base, 1
            while name in names.values():
                i += 1
                name = f"{base}_{i}"
            names[node.name] = name
    return names


class TrainableGraph(GraphModule):
    """A float Graph as a torch model whose convs and linears are real torch layers (see above)."""

    def __init__(self, graph: Graph):
        super().__init__(graph)
        self.layers = nn.ModuleDict()
        self._owner: dict[str, tuple[str, str]] = {}     # tensor -> (layer, "weight" | "bias")
        for node_name, name in _names(graph).items():
            node = next(n for n in graph.nodes if n.name == node_name)
            if any(t in self._owner for t in node.inputs[1:]):
                continue                                 # a weight two nodes share stays a constant
            w = graph.tensors[node.inputs[1]].data
            b = graph.tensors[node.inputs[2]].data if len(node.inputs) > 2 else None
            self.layers[name] = _layer(node.op, node.attrs, w, b)
            for tensor, role in zip(node.inputs[1:], ("weight", "bias")):
                self._owner[tensor] = (name, role)
                del self.constants[_key(tensor)]

    def _arg(self, name: str, values: dict) -> torch.Tensor:
        owner = self._owner.get(name)
        if owner is None:
            return super()._arg(name, values)
        layer, role = owner
        value = getattr(self.layers[layer], role)
        return value.permute(0, 2, 3, 1) if role == "weight" and value.dim() == 4 else value

    @torch.no_grad()
    def to_graph(self) -> Graph:
        """A copy of the float graph holding this module's current weights."""
        graph = copy.deepcopy(self.graph)
        for tensor, _ in self._owner.items():
            graph.tensors[tensor].data = self._arg(tensor, {}).detach().float().numpy().copy()
        for name, t in graph.tensors.items():
            if t.is_constant and name not in self._owner:
                t.data = self.constants[_key(name)].detach().float().numpy().copy()
        return graph
