"""Weight sharing (Deep Compression, Han et al. 2016): per-layer k-means codebooks.

Read me first: each selected layer's nonzero weights are clustered in one dimension into
k = 2**bits centroids (Lloyd's algorithm; in 1-D the nearest centroid is found exactly by
binary search between centroid midpoints). The layer then holds a codebook parametrization:
`layer.weight` is `table[indices]` with `table = [0, c_1, ..., c_k]`, index 0 being the pruned
zeros, which therefore stay exactly zero and take no codebook entry. The centroids are the
layer's only trainable weight: in `levin.train.loop.train` the gradient reaching centroid c_j
is the sum of the gradients of the weights that share it (autograd of the gather), which is
Deep Compression's centroid fine-tuning, with no change to the loop.

`remove_sharing` bakes the shared values back into plain weights; `codebooks` hands the
centroids and indices to the coder.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn.utils import parametrize

from levin.config import ShareConfig
from levin.errors import LevinError
from levin.prune.masks import Mask, remove_masks, select_layers


def _init(values: np.ndarray, k: int, init: str, seed: int) -> np.ndarray:
    if init == "linear":
        return np.linspace(values.min(), values.max(), k)
    if init == "density":                              # equal counts: quantiles of the CDF
        return np.quantile(values, (np.arange(k) + 0.5) / k)
    if init == "random":
        rng = np.random.default_rng(seed)
        return np.sort(rng.choice(values, size=k, replace=len(values) < k))
    raise LevinError(f"unknown k-means init {init!r}; use linear, density or random")


def assign(values: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Index of the nearest centroid (centroids sorted ascending; ties go to the lower one)."""
    return np.searchsorted((centroids[1:] + centroids[:-1]) / 2, values, side="left")


def _reseed_empty(values, labels, centroids, counts) -> None:
    """Move each empty cluster's centroid onto the value worst served so far (in place).

    Linear initialisation over [min, max] leaves many centroids in the gap that pruning cuts
    around zero; without this they would stay empty and waste codebook entries.
    """
    empty = np.flatnonzero(counts == 0)
    if empty.size == 0:
        return
    err = (values - centroids[labels]) ** 2
    for j in empty:
        i = int(np.argmax(err))
        if err[i] <= 0:
            return
        centroids[j] = values[i]
        err[values == values[i]] = 0.0


def kmeans_1d(values: np.ndarray, k: int, init: str = "linear", iterations: int = 50,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cluster 1-D `values` into at most `k` centroids.

    Returns (centroids ascending, float64; labels int64 into them). An empty cluster is
    re-seeded at the worst-served value; with fewer distinct values than k some centroids
    simply go unused.
    """
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if values.size == 0:
        return np.zeros(k), np.zeros(0, dtype=np.int64)
    centroids = np.sort(_init(values, k, init, seed).astype(np.float64))
    labels = assign(values, centroids)
    for _ in range(iterations):
        sums = np.bincount(labels, weights=values, minlength=k)
        counts = np.bincount(labels, minlength=k)
        centroids = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        _reseed_empty(values, labels, centroids, counts)
        centroids = np.sort(centroids)
        new = assign(values, centroids)
        if np.array_equal(new, labels):
            break
        labels = new
    return centroids, labels.astype(np.int64)


class SharedWeight(nn.Module):
    """The parametrization weight = [0, centroids][indices]; only `centroids` trains."""

    def __init__(self, centroids: torch.Tensor, indices: torch.Tensor):
        super().__init__()
        self.centroids = nn.Parameter(centroids)
        self.register_buffer("indices", indices)
        self.register_buffer("zero", torch.zeros(1, dtype=centroids.dtype))

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.zero, self.centroids])[self.indices]


def bits_for(name: str, module: nn.Module, config: ShareConfig) -> int:
    if name in config.layer_bits:
        return config.layer_bits[name]
    kind = config.conv_bits if isinstance(module, (nn.Conv2d, nn.Conv1d)) else config.linear_bits
    return kind if kind is not None else config.bits


@dataclass
class Codebook:
    centroids: np.ndarray          # float32 [k]
    indices: np.ndarray            # int64, weight's shape: 0 = pruned zero, j = centroids[j - 1]
    bits: int


def share(model: nn.Module, config: ShareConfig) -> dict[str, Codebook]:
    """Replace each selected layer's weights by a k-means codebook, in place.

    Masks on a layer are baked in first (their zeros become the codebook's index 0). Returns
    the codebooks as first clustered (before any fine-tuning).
    """
    unknown = sorted(set(config.layer_bits) - set(select_layers(model)))
    if unknown:
        raise LevinError(f"layer_bits names no Conv2d/Linear layer: {', '.join(unknown)}")
    out = {}
    for name, module in select_layers(model, config.include, config.exclude).items():
        if parametrize.is_parametrized(module, "weight"):
            if not all(isinstance(p, Mask) for p in module.parametrizations.weight):
                raise LevinError(f"{name} already carries a codebook or another parametrization")
            remove_masks(module)
        bits = bits_for(name, module, config)
        w = module.weight.detach()
        flat = w.reshape(-1).double().cpu().numpy()
        nonzero = flat != 0
        centroids, labels = kmeans_1d(flat[nonzero], 2 ** bits, config.init, config.iterations,
                                      config.seed)
        indices = np.zeros(flat.shape, dtype=np.int64)
        indices[nonzero] = labels + 1
        cents = torch.tensor(centroids, dtype=w.dtype, device=w.device)
        idx = torch.from_numpy(indices).reshape(w.shape).to(w.device)
        parametrize.register_parametrization(module, "weight", SharedWeight(cents, idx))
        module.parametrizations.weight.original.requires_grad_(False)
        out[name] = Codebook(centroids.astype(np.float32), indices.reshape(w.shape), bits)
    return out


def _shared(module: nn.Module) -> SharedWeight | None:
    if not parametrize.is_parametrized(module, "weight"):
        return None
    found = [p for p in module.parametrizations.weight if isinstance(p, SharedWeight)]
    return found[0] if found else None


def codebooks(model: nn.Module) -> dict[str, Codebook]:
    """The current (possibly fine-tuned) codebooks of a shared model, by layer name."""
    out = {}
    for name, module in model.named_modules():
        p = _shared(module)
        if p is not None:
            k = p.centroids.numel()
            out[name] = Codebook(p.centroids.detach().cpu().float().numpy().copy(),
                                 p.indices.cpu().numpy().copy(), int(np.log2(k)))
    return out


def remove_sharing(model: nn.Module) -> nn.Module:
    """Bake the shared values into plain weights (in place; returns `model`)."""
    for module in model.modules():
        if _shared(module) is not None:
            parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
            module.weight.requires_grad_(True)
    return model
