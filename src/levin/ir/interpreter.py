"""Float reference interpreter: runs a float32 Graph in numpy, one plain kernel per op.

Kernels compute in float64 and round each node's output to float32, so the result is the
float32 rounding of nearly exact arithmetic: a reference PyTorch's own float32 kernels are
compared against (they agree to about 1e-6 on the zoo). Layout is NHWC (see levin.ir.graph).
Integer graphs run in the integer reference (a later module), not here.
"""

from __future__ import annotations

from typing import Callable, Mapping

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from levin.errors import GraphError
from levin.ir.graph import Graph, Node


def _windows(x: np.ndarray, kernel, stride, dilation=(1, 1)) -> np.ndarray:
    """[N, H, W, C] -> [N, Ho, Wo, C, KH, KW] views of the (already padded) input."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    win = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
    return win[:, ::sh, ::sw, :, ::dh, ::dw]


def _pad(x: np.ndarray, pads, value: float = 0.0) -> np.ndarray:
    pt, pb, pl, pr = pads
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def conv2d(x, w, b=None, *, stride, padding, dilation, groups):
    o, kh, kw, cg = w.shape
    win = _windows(_pad(x, padding), (kh, kw), stride, dilation)          # N Ho Wo C KH KW
    n, ho, wo = win.shape[:3]
    win = win.reshape(n, ho, wo, groups, cg, kh, kw)
    wg = w.reshape(groups, o // groups, kh, kw, cg)
    y = np.einsum("nhwgcij,goijc->nhwgo", win, wg, optimize=True).reshape(n, ho, wo, o)
    return y if b is None else y + b


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def max_pool(x, *, kernel, stride, padding):
    return _windows(_pad(x, padding, -np.inf), kernel, stride).max(axis=(-2, -1))


def avg_pool(x, *, kernel, stride, padding, count_include_pad):
    total = _windows(_pad(x, padding), kernel, stride).sum(axis=(-2, -1))
    if count_include_pad or not any(padding):
        return total / (kernel[0] * kernel[1])
    ones = np.ones((1,) + x.shape[1:3] + (1,))
    return total / _windows(_pad(ones, padding), kernel, stride).sum(axis=(-2, -1))


def softmax(x, *, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


KERNELS: dict[str, Callable[..., np.ndarray]] = {
    "Conv2d": conv2d,
    "Linear": linear,
    "ReLU": lambda x: np.maximum(x, 0),
    "ReLU6": lambda x: np.clip(x, 0, 6),
    "Sigmoid": lambda x: 1 / (1 + np.exp(-x)),
    "Tanh": np.tanh,
    "MaxPool2d": max_pool,
    "AvgPool2d": avg_pool,
    "GlobalAvgPool": lambda x: x.mean(axis=(1, 2), keepdims=True),
    "Add": np.add,
    "Concat": lambda *xs, axis: np.concatenate(xs, axis=axis),
    "Reshape": lambda x, shape: x.reshape(shape),
    "Pad": lambda x, pads, value: _pad(x, pads, value),
    "Softmax": softmax,
}


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
    return KERNELS[node.op](*args, **node.attrs).astype(np.float32)
