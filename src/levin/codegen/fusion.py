"""Activation fusion for the C export: a ReLU / ReLU6 that only clamps its producer's output runs
inside the producer's kernel, as TFLite's fused activations do.

A ReLU whose input and output share scale and zero point (what `levin.quant` gives a ReLU after
a Conv2d, Linear or Add: `quant/plan.py`) is `clamp(x, lo, hi)` of codes the producer has just
clamped to -128..127; clamping once to lo..hi gives the same bytes, so the ReLU's pass over
memory and its buffer disappear. Fused when the producer's op `fuses_activation` (its C prepare
reads `act_range`) and the ReLU is the only reader of the producer's output.
"""

from __future__ import annotations

from levin import intmath as im
from levin import ops
from levin.ir.graph import Graph, Node
from levin.ops import qparams

_TFLITE = {"ReLU": "RELU", "ReLU6": "RELU6"}


def _clamp_only(graph: Graph, node: Node) -> tuple[int, int] | None:
    """The code range (lo, hi) of a ReLU that only clamps, else None."""
    if node.op not in _TFLITE:
        return None
    t_in, t_out = graph.tensors[node.inputs[0]], graph.tensors[node.output]
    if qparams.sz(t_in) != qparams.sz(t_out):
        return None
    return im.activation_range(_TFLITE[node.op], *qparams.sz(t_out))


def fuse_activations(graph: Graph) -> tuple[Graph, dict[str, tuple[int, int]]]:
    """(graph with fusable ReLUs merged into their producers, producer name -> (act_min, act_max)).
    The graph is returned unchanged when nothing fuses; otherwise it is a new one (the producer
    writes the ReLU's output tensor; the intermediate tensor is gone)."""
    fused: dict[str, Node] = {}
    ranges: dict[str, tuple[int, int]] = {}
    for node in graph.nodes:
        rng = _clamp_only(graph, node)
        producer = graph.producer(node.inputs[0]) if rng else None
        if (producer is None or not ops.get(producer.op).fuses_activation or node.inputs[0] in graph.outputs
                or len(graph.consumers(node.inputs[0])) != 1):
            continue
        fused[producer.name], ranges[producer.name] = node, rng
    if not fused:
        return graph, {}
    merged = {relu.name for relu in fused.values()}
    out = Graph(graph.name)
    for name in graph.inputs:
        t = graph.tensors[name]
        out.add_input(name, t.shape, t.dtype, t.quant)
    for t in graph.tensors.values():
        if t.is_constant:
            out.add_constant(t.name, t.data, t.quant)
    for node in graph.nodes:
        if node.name in merged:
            continue
        target = fused[node.name].output if node.name in fused else node.output
        t = graph.tensors[target]
        out.add_node(node.op, node.inputs, node.name, output=target, dtype=t.dtype, quant=t.quant, **node.attrs)
    for name in graph.outputs:
        out.mark_output(name)
    return out, ranges
