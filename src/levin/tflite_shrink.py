"""Shrink an imported int8 model without retraining: lossless coding, k-means, small-weight pruning.

Read me first. An imported .tflite model has int8 weights, per-channel scales and no training
data path, so everything here acts on the integer codes of the weight tensors and keeps every
scale, zero point and bias:
- **lossless**: the .lvn container codes each tensor with its smallest measured chain (codebook,
  sparse positions, Huffman / rANS; `levin.coding`); the graph decodes to identical codes, so
  outputs are identical by construction.
- **k-means** (`kmeans_codes`): per weight tensor, the int8 codes are clustered into at most k
  integer centroids (weighted 1-D Lloyd on the 256-bin histogram, starting from quantiles) and
  each code replaced by its nearest centroid. The container then stores a k-entry codebook and
  entropy-coded indices. The weights stay int8 with their scales: the graph still runs in
  TFLite Micro and levin's C runtime unchanged.
- **pruning** (`prune_codes`): per weight tensor, the given fraction of codes with the smallest
  magnitude become 0 (each code times its channel's scale is the real weight, but within one
  output channel the codes compare like the weights; across channels they are compared as codes,
  i.e. relative to each channel's range). The container stores the zeros as coded positions.
Near-lossless variants change outputs, so each is checked: `top1` (labelled data) or
`agreement` (same top-1 as the original on unlabelled inputs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from levin import ops, reference
from levin.coding import container
from levin.errors import LevinError
from levin.ir.graph import Graph


def weight_names(graph: Graph) -> list[str]:
    """Names of the weight tensors (input 1 of every Conv2d and Linear)."""
    return [n.inputs[1] for n in graph.nodes if ops.get(n.op).weighted]


def kmeans_1d_codes(codes: np.ndarray, k: int, iterations: int = 30) -> np.ndarray:
    """Integer centroids (sorted, distinct, at most k) of int8 `codes` by weighted Lloyd on the
    histogram: exact, and fast whatever the tensor size."""
    if not 1 <= k <= 256:
        raise LevinError(f"k-means: k={k} must lie in 1..256")
    values = np.arange(-128, 128)
    counts = np.bincount(codes.astype(np.int64).ravel() + 128, minlength=256).astype(np.float64)
    present = values[counts > 0]
    if present.size <= k:
        return present
    cdf = np.cumsum(counts) / counts.sum()
    centroids = np.unique(np.interp((np.arange(k) + 0.5) / k, cdf, values).round())
    for _ in range(iterations):
        labels = np.abs(values[:, None] - centroids[None, :]).argmin(axis=1)
        mass = np.bincount(labels, weights=counts, minlength=centroids.size)
        sums = np.bincount(labels, weights=counts * values, minlength=centroids.size)
        keep = mass > 0
        new = np.unique(np.round(sums[keep] / mass[keep]))
        if np.array_equal(new, centroids):
            break
        centroids = new
    return centroids.astype(np.int64)


def kmeans_codes(graph: Graph, k: int) -> Graph:
    """Every weight tensor's nonzero int8 codes replaced by the nearest of its own k - 1 integer
    centroids; zeros stay zero (so pruning before k-means keeps its sparsity), so at most k
    distinct values remain."""
    if k < 2:
        raise LevinError(f"k-means: k={k} must be at least 2 (zero is kept as one value)")
    new = {}
    for name in weight_names(graph):
        w = graph.tensors[name].data
        nz = w != 0
        c = kmeans_1d_codes(w[nz], k - 1) if nz.any() else np.zeros(1, np.int64)
        idx = np.abs(w.astype(np.int64)[..., None] - c).argmin(axis=-1)
        new[name] = np.where(nz, c[idx], 0).astype(w.dtype)
    return graph.with_constants(new, f"{graph.name}-kmeans{k}")


def prune_codes(graph: Graph, fraction: float) -> Graph:
    """The `fraction` of codes of smallest magnitude in each weight tensor set to 0."""
    if not 0.0 <= fraction < 1.0:
        raise LevinError(f"pruning fraction {fraction} must lie in [0, 1)")
    new = {}
    for name in weight_names(graph):
        w = graph.tensors[name].data
        n = int(round(fraction * w.size))
        out = w.copy().ravel()
        if n:
            out[np.argsort(np.abs(out.astype(np.int64)), kind="stable")[:n]] = 0
        new[name] = out.reshape(w.shape)
    return graph.with_constants(new, f"{graph.name}-prune{round(100 * fraction)}")


@dataclass(frozen=True)
class SizeResult:
    """Bytes of one model: the .lvn file, and its weight part (constant tensors with their
    metadata; the rest is graph structure and header)."""

    lvn_bytes: int
    weight_bytes: int
    lvn: bytes


def lossless(graph: Graph) -> SizeResult:
    """The .lvn of `graph`, each tensor coded by the smallest chain measured."""
    data = container.encode(graph)
    return SizeResult(len(data), container.inspect(data).tensor_bytes, data)


def order0_floor(graph: Graph) -> int:
    """Bytes no memoryless per-tensor code can beat: the sum over every constant tensor (weights
    and biases) of its size times the empirical entropy of its values, with free tables. Weights
    quantized per channel to the full int8 range carry 5-7.5 bits each, which is why lossless
    coding alone cannot take every .tflite far below its size."""
    bits = 0.0
    for t in graph.tensors.values():
        if t.is_constant:
            _, counts = np.unique(t.data, return_counts=True)
            bits -= float((counts * np.log2(counts / t.data.size)).sum())
    return int(np.ceil(bits / 8))


def predict(graph: Graph, x: np.ndarray, batch: int = 250, single_round: bool | set[str] = False) -> np.ndarray:
    """levin's integer reference outputs on int8 `x`, batch by batch."""
    out = graph.outputs[0]
    return np.concatenate([reference.run(graph, x[i:i + batch], single_round=single_round)[out]
                           for i in range(0, len(x), batch)])


def top1(graph: Graph, x: np.ndarray, y: np.ndarray, batch: int = 250) -> float:
    """Top-1 accuracy of `graph` on int8 inputs `x` with labels `y`."""
    return float((predict(graph, x, batch).reshape(len(x), -1).argmax(axis=1) == y).mean())


def agreement(graph: Graph, original: Graph, x: np.ndarray) -> float:
    """Share of inputs on which `graph` predicts the same class (argmax) as `original`."""
    a = predict(graph, x).reshape(len(x), -1).argmax(axis=1)
    return float((a == predict(original, x).reshape(len(x), -1).argmax(axis=1)).mean())


VARIANTS: dict[str, Callable[[Graph], Graph]] = {
    "kmeans64": lambda g: kmeans_codes(g, 64),
    "kmeans32": lambda g: kmeans_codes(g, 32),
    "kmeans16": lambda g: kmeans_codes(g, 16),
    "prune10": lambda g: prune_codes(g, 0.1),
    "prune20": lambda g: prune_codes(g, 0.2),
    "prune10+kmeans64": lambda g: kmeans_codes(prune_codes(g, 0.1), 64),
}
