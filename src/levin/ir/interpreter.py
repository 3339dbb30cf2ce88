"""Float reference interpreter: runs a float32 Graph in numpy, each op by its registered kernel
(`levin.ops`, `Op.evaluate`).

Kernels compute in float64 and round each node's output to float32, so the result is the
float32 rounding of nearly exact arithmetic: a reference PyTorch's own float32 kernels are
compared against (they agree to about 1e-6 on the zoo). Layout is NHWC (see levin.ir.graph).
Integer graphs run in the integer reference (a later module), not here.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

from levin import ops
from levin.errors import GraphError
from levin.ir.graph import Graph, Node


def input_dict(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray) -> Mapping[str, np.ndarray]:
    """`inputs` by input name; a bare array is accepted for a graph with one input."""
    if isinstance(inputs, Mapping):
        return inputs
    if len(graph.inputs) != 1:
        raise GraphError(f"graph {graph.name!r} has {len(graph.inputs)} inputs; pass a dict")
    return {graph.inputs[0]: inputs}


def run(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray,
        keep: bool = False) -> dict[str, np.ndarray]:
    """Run `graph` on `inputs` (one array for a one-input graph, else a dict by input name).

    Returns the graph outputs by name, or every activation if `keep` is set.
    """
    inputs = input_dict(graph, inputs)
    values: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        if name not in inputs:
            raise GraphError(f"input {name!r} is missing")
        x = np.asarray(inputs[name])
        if x.shape != t.shape:
            raise GraphError(f"input {name!r} has shape {x.shape}, the graph takes {t.shape} (NHWC)")
        values[name] = x.astype(np.float32)
    for node in graph.nodes:
        values[node.output] = _step(graph, node, values)
    return values if keep else {name: values[name] for name in graph.outputs}


def _step(graph: Graph, node: Node, values: dict[str, np.ndarray]) -> np.ndarray:
    args = []
    for name in node.inputs:
        t = graph.tensors[name]
        if not t.is_float:
            raise GraphError(f"node {node.name!r}: the float interpreter cannot run {t.dtype} "
                             f"tensor {name!r}; use the integer reference")
        args.append((t.data if t.is_constant else values[name]).astype(np.float64))
    return ops.get(node.op).evaluate(*args, **node.attrs).astype(np.float32)
