"""Where an integer graph quantizes, and with which parameters: the rules PTQ and QAT share.

Read me first. Every activation tensor of the integer graph is int8 with its own (scale, zero
point), except where TFLite's int8 kernels tie them to another tensor's. Each op declares which
(`levin.ops`, `Op.output_quant` and the fusion flags):
- MaxPool2d, AvgPool2d, GlobalAvgPool, Reshape and Pad keep their input's parameters (TFLite's
  MAX_POOL_2D, AVERAGE_POOL_2D, RESHAPE and PAD require it): output_quant "input";
- a Conv2d, Linear or Add (`fuses_activation`) whose only consumer is a ReLU or ReLU6
  (`fusable_activation`) takes that activation's output parameters. This is TFLite's fused
  activation: the conv's requantization already clamps to the activation's range, so the ReLU
  node, kept so the integer graph has the float graph's nodes, is a no-op clamp there (the C
  runtime may drop it; it must still clamp);
- Maximum and Minimum (TFLite MAXIMUM / MINIMUM move codes unchanged) tie both inputs and the
  output to one root, calibrated over all of them: output_quant "inputs";
- Softmax and Sigmoid output scale 1/256, zero point -128; Tanh 1/128, 0 (TFLite int8): a fixed
  output_quant.
`share_map` gives, for each activation, the *root* tensor whose parameters it uses; a
`QuantPlan` holds the parameters of the roots, the per-channel weight scales and bit widths,
and (after QAT) the fine-tuned float weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from levin import ops
from levin.errors import GraphError
from levin.ir.graph import Graph


def fixed_output(op: str) -> tuple[float, int] | None:
    """The (scale, zero point) TFLite fixes for the output of `op`, or None."""
    rule = ops.get(op).output_quant
    return rule if isinstance(rule, tuple) else None


def is_weighted(op: str) -> bool:
    """Whether `op` takes weights (input 1) and a bias (input 2), quantized per channel."""
    return ops.get(op).weighted


def share_map(graph: Graph) -> dict[str, str]:
    """activation tensor -> the tensor whose quantization parameters it uses (itself if its own)."""
    root: dict[str, str] = {name: name for name in graph.inputs}
    for node in graph.nodes:
        out = node.output
        src = node.inputs[0]
        op = ops.get(node.op)
        if op.output_quant in ("input", "inputs"):
            root[out] = root[src]
        else:
            root[out] = out
        if op.output_quant == "inputs":
            _tie(graph, root, node)
        if op.fusable_activation:
            producer = graph.producer(src)
            if (producer is not None and ops.get(producer.op).fuses_activation and root[src] == src
                    and len(graph.consumers(src)) == 1 and src not in graph.outputs):
                root[src] = out
    return root


def _tie(graph: Graph, root: dict[str, str], node) -> None:
    """Give every activation input of `node` (and its output) one root: MAXIMUM / MINIMUM move
    codes between them unchanged. The group of the other input joins the first input's group,
    unless only it holds parameters that are not calibrated (a graph input, a fixed output)."""
    def pinned(r: str) -> bool:
        producer = graph.producer(r)
        return r in graph.inputs or (producer is not None and fixed_output(producer.op) is not None)

    for name in node.inputs[1:]:
        if graph.tensors[name].is_constant:
            continue
        keep, drop = root[node.inputs[0]], root[name]
        if keep == drop:
            continue
        if pinned(keep) and pinned(drop):
            raise GraphError(f"node {node.name!r} ({node.op}): inputs {node.inputs[0]!r} and {name!r} "
                             f"must share quantization parameters, and both have fixed ones")
        if pinned(drop):
            keep, drop = drop, keep
        for t, r in root.items():
            if r == drop:
                root[t] = keep


def tied(graph: Graph, share: dict[str, str]) -> dict[str, str]:
    """Tensors whose range a root's calibration must cover besides the root itself: the inputs
    and output of ops whose inputs share parameters (`output_quant == "inputs"`)."""
    extra = {}
    for node in graph.nodes:
        if ops.get(node.op).output_quant == "inputs":
            for t in (*node.inputs, node.output):
                if not graph.tensors[t].is_constant and share[t] != t:
                    extra[t] = share[t]
    return extra


def weighted_nodes(graph: Graph) -> list[str]:
    """Names of the nodes that carry weights (Conv2d, Linear), in execution order."""
    return [n.name for n in graph.nodes if is_weighted(n.op)]


@dataclass
class QuantPlan:
    """Quantization parameters for every tensor of a float graph.

    Attributes:
        share: activation tensor -> root tensor (see `share_map`).
        activations: root tensor -> (float32 scale, int zero point).
        fixed: roots whose parameters are set by their op or are graph inputs (not learned).
        weight_scales: weighted node name -> float32 scales (per output channel, or 1).
        weight_bits: weighted node name -> 2..8.
        weights: float constants that replace the graph's (fine-tuned by QAT), by tensor name.
    """

    share: dict[str, str]
    activations: dict[str, tuple[float, int]]
    fixed: set[str] = field(default_factory=set)
    weight_scales: dict[str, np.ndarray] = field(default_factory=dict)
    weight_bits: dict[str, int] = field(default_factory=dict)
    weights: dict[str, np.ndarray] = field(default_factory=dict)

    def params(self, tensor: str) -> tuple[float, int]:
        """(scale, zero point) of any activation tensor."""
        try:
            return self.activations[self.share[tensor]]
        except KeyError:
            raise GraphError(f"quantization plan has no parameters for tensor {tensor!r}") from None

    def constant(self, graph: Graph, name: str) -> np.ndarray:
        """A constant's float values: the fine-tuned ones if any, else the graph's."""
        return self.weights.get(name, graph.tensors[name].data)
