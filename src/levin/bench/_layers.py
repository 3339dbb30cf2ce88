"""What each layer of an exported model is, for the benchmarks' per-layer tables: the node behind
every LEVIN_LAYER_DONE hook of model.c, its op, the kernel variant it runs and its MACs."""

from __future__ import annotations

from levin.analyze.profile import count_macs
from levin.codegen.export import comment_text
from levin.targets import cortexm

_VARIANTS = {"Linear": "fully connected", "Add": "add", "Mul": "mul", "AvgPool2d": "avg pool",
             "MaxPool2d": "max pool", "GlobalAvgPool": "global avg pool",
             "Reshape": "reshape (no code)", "Softmax": "softmax", "ReLU": "relu", "ReLU6": "relu6"}


def variant(graph, node) -> str:
    """A short name for the kernel path a node takes: "conv 1x1", "depthwise 3x3 /2",
    "conv 10x4 /2, 1 input channel", "fully connected", "add", ..."""
    if node.op != "Conv2d":
        return _VARIANTS.get(node.op, node.op.lower())
    _, kh, kw, _ = graph.tensors[node.inputs[1]].shape
    c = graph.tensors[node.inputs[0]].shape[-1]
    sh, sw = node.attrs.get("stride", (1, 1))
    shape = f"{kh}x{kw}" + (f" /{sh}" if sh == sw != 1 else f" /{sh}x{sw}" if (sh, sw) != (1, 1) else "")
    if node.attrs.get("groups", 1) == c > 1:
        return f"depthwise {shape}"
    if c < 4:
        return f"conv {shape}, {c} input channel{'s' if c > 1 else ''}"
    return f"conv {shape}"


def describe(graph, export) -> dict[int, dict]:
    """model.c's node index -> dict(name, op, variant, macs) for each per-layer hook. Nodes are
    found by name in `graph` (a ReLU fused into its producer has no hook of its own; its
    producer's row covers it)."""
    by_name = {comment_text(n.name): n for n in graph.nodes}
    out = {}
    for k, name in cortexm.layer_nodes(export).items():
        node = by_name.get(name)
        out[k] = dict(name=name, op=node.op if node else "?", variant=variant(graph, node) if node else "?",
                      macs=count_macs(graph, node) if node else 0)
    return out
