"""Unstructured magnitude pruning: the smallest |w| are set to zero, per layer or globally.

Exactly round(sparsity * n) weights are pruned from a pool of n (ties broken by position), so a
target is met to the weight, not to a threshold's luck. Ranking is on the weights as the model
uses them (`layer.weight`, masks applied), so weights pruned earlier stay at the bottom and
gradual schedules only ever add zeros.

>>> import torch; from levin import zoo; from levin.config import PruneConfig
>>> model = zoo.create("lenet300")
>>> masks = prune(model, PruneConfig(sparsity=0.9, scope="global"))
>>> round(sparsity_report(model)["density"], 3)
0.1
"""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from levin.config import PruneConfig
from levin.errors import LevinError
from levin.prune.masks import apply_masks, select_layers, sparsity_report

__all__ = ["magnitude_masks", "prune", "sparsity_report"]


def _keep_largest(scores: torch.Tensor, sparsity: float) -> torch.Tensor:
    """A 0/1 mask over flat `scores` that zeroes the round(sparsity * n) smallest."""
    n = scores.numel()
    k = int(round(sparsity * n))
    mask = torch.ones(n, dtype=torch.float32)
    if k > 0:
        order = torch.argsort(scores.reshape(-1), stable=True)
        mask[order[:k]] = 0.0
    return mask


def magnitude_masks(model: nn.Module, sparsity: float, scope: str = "global",
                    layer_sparsity: Mapping[str, float] | None = None,
                    include=(), exclude=()) -> dict[str, torch.Tensor]:
    """Masks pruning the selected layers to `sparsity` by |w|, without applying them.

    Args:
        scope: "global" ranks all pooled weights together; "layer" prunes each layer alone.
        layer_sparsity: layers with their own target; these are ranked alone, never pooled.
    Returns:
        {layer name: 0/1 float mask of the weight's shape}.
    """
    layers = select_layers(model, include, exclude)
    overrides = dict(layer_sparsity or {})
    unknown = sorted(set(overrides) - set(layers))
    if unknown:
        raise LevinError(f"layer_sparsity names layers that are not selected Conv2d/Linear "
                         f"layers: {', '.join(unknown)}")
    masks: dict[str, torch.Tensor] = {}
    with torch.no_grad():
        scores = {name: m.weight.detach().abs().float().cpu() for name, m in layers.items()}
        pooled = [name for name in layers if name not in overrides]
        for name in layers:
            if name in overrides or scope == "layer":
                target = overrides.get(name, sparsity)
                masks[name] = _keep_largest(scores[name], target).reshape(scores[name].shape)
        if scope == "global" and pooled:
            flat = _keep_largest(torch.cat([scores[n].reshape(-1) for n in pooled]), sparsity)
            for name, part in zip(pooled, torch.split(flat, [scores[n].numel() for n in pooled])):
                masks[name] = part.reshape(scores[name].shape)
        elif scope not in ("global", "layer"):
            raise LevinError(f"scope must be 'global' or 'layer', got {scope!r}")
    return masks


def prune(model: nn.Module, config: PruneConfig, sparsity: float | None = None,
          layer_sparsity: Mapping[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Prune `model` in place to `sparsity` (default: the config's target) and hold the zeros.

    Returns the masks applied (see levin.prune.masks: fine-tune the model as it is afterwards,
    and `remove_masks` before capture or export).
    """
    masks = magnitude_masks(
        model, config.sparsity if sparsity is None else sparsity, config.scope,
        config.layer_sparsity if layer_sparsity is None else layer_sparsity,
        config.include, config.exclude)
    apply_masks(model, masks)
    return masks
