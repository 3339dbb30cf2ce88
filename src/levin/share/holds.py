"""What earlier steps fixed and later fine-tuning must keep: pruned zeros and shared values.

Between steps the model is plain (no parametrizations, so it saves, reloads and captures like any
model); before a step trains, the constraints of the steps before it are put back on as
parametrizations: a mask over each pruned layer's zeros, and for a shared layer a codebook of
exactly its current distinct values (zeros stay index 0, outside the codebook).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn.utils import parametrize

from levin.prune.masks import apply_masks, remove_masks
from levin.share.kmeans import SharedWeight, remove_sharing


def hold(model: nn.Module, sparse: Iterable[str], shared: Iterable[str]) -> None:
    """Register masks on `sparse` layers and exact codebooks on `shared` ones (in place)."""
    shared = set(shared)
    masks = {n: model.get_submodule(n).weight.detach() != 0 for n in sparse if n not in shared}
    apply_masks(model, masks)
    for name in sorted(shared):
        module = model.get_submodule(name)
        w = module.weight.detach()
        centroids = torch.unique(w[w != 0])                    # sorted
        indices = torch.zeros(w.shape, dtype=torch.int64)
        nonzero = w != 0
        indices[nonzero] = torch.searchsorted(centroids, w[nonzero]) + 1
        parametrize.register_parametrization(module, "weight", SharedWeight(centroids.clone(), indices))
        module.parametrizations.weight.original.requires_grad_(False)


def release(model: nn.Module) -> nn.Module:
    """Bake every mask and codebook into plain weights (in place; returns `model`)."""
    remove_sharing(model)
    remove_masks(model)
    return model

