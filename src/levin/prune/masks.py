"""Masks that hold pruned weights at exactly zero while a model trains.

Read me first: a mask is a torch parametrization on a layer's `weight`, so `layer.weight` *is*
`original * mask`, computed at every access. Whatever an optimizer does to `original` (momentum,
weight decay, Adam's moments), the weight the model uses is exactly zero where the mask is zero,
and the gradient reaching `original` there is zero too. Nothing in the training loop has to know:
`levin.train.loop.train` builds its optimizer from `model.parameters()` and fine-tunes a masked
model as it is. Masks are buffers, so training checkpoints hold them and a resumed run keeps them.

Before capture or export, `remove_masks` bakes the masks in and leaves plain modules (with
zeros) behind. A mask is a float tensor of 0s and 1s of the weight's shape.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Mapping

import torch
from torch import nn
from torch.nn.utils import parametrize

from levin.errors import LevinError

PRUNABLE = (nn.Conv2d, nn.Conv1d, nn.Linear)


class Mask(nn.Module):
    """The parametrization weight = original * mask."""

    def __init__(self, mask: torch.Tensor):
        super().__init__()
        self.register_buffer("mask", mask)

    def forward(self, original: torch.Tensor) -> torch.Tensor:
        return original * self.mask


def select_layers(model: nn.Module, include: Iterable[str] = (), exclude: Iterable[str] = (),
                  kinds: tuple[type, ...] = PRUNABLE) -> dict[str, nn.Module]:
    """The Conv2d/Linear layers of `model` by module name, filtered by fnmatch patterns.

    Raises:
        LevinError: an include pattern matches no layer (a misspelt name must not prune nothing).
    """
    layers = {name: m for name, m in model.named_modules() if isinstance(m, kinds)}
    include, exclude = tuple(include), tuple(exclude)
    for pattern in include:
        if not any(fnmatch.fnmatchcase(name, pattern) for name in layers):
            raise LevinError(f"pattern {pattern!r} matches no Conv2d/Linear layer; "
                             f"layers: {', '.join(layers) or 'none'}")
    return {name: m for name, m in layers.items()
            if (not include or any(fnmatch.fnmatchcase(name, p) for p in include))
            and not any(fnmatch.fnmatchcase(name, p) for p in exclude)}


def _masks_of(module: nn.Module) -> list[Mask]:
    if not parametrize.is_parametrized(module, "weight"):
        return []
    return [p for p in module.parametrizations.weight if isinstance(p, Mask)]


def apply_masks(model: nn.Module, masks: Mapping[str, torch.Tensor], intersect: bool = True) -> None:
    """Hold each named layer's weight at zero where its mask is 0 (registering or updating).

    With `intersect`, a layer that already has a mask keeps its zeros (pruned stays pruned:
    N:M then magnitude, or a schedule restarting at 0, never revive a weight). The underlying
    `original` is zeroed where the mask is 0, so baking or re-ranking later sees zeros.
    """
    for name, mask in masks.items():
        module = model.get_submodule(name)
        mask = mask.detach().to(dtype=module.weight.dtype, device=module.weight.device)
        if mask.shape != module.weight.shape:
            raise LevinError(f"mask for {name} has shape {tuple(mask.shape)}, "
                             f"its weight {tuple(module.weight.shape)}")
        existing = _masks_of(module)
        if existing:
            existing[0].mask.copy_(mask * existing[0].mask if intersect else mask)
            mask = existing[0].mask
        else:
            parametrize.register_parametrization(module, "weight", Mask(mask.clone()))
        with torch.no_grad():
            module.parametrizations.weight.original.mul_(mask)


def get_masks(model: nn.Module) -> dict[str, torch.Tensor]:
    """The masks held on `model`, by layer name (bool tensors, True = kept)."""
    return {name: _masks_of(m)[0].mask.bool().clone() for name, m in model.named_modules()
            if _masks_of(m)}


def remove_masks(model: nn.Module) -> nn.Module:
    """Bake every mask into its weight and restore plain modules (in place; returns `model`).

    Raises:
        LevinError: a layer carries another parametrization on top of its mask.
    """
    for name, module in model.named_modules():
        if not _masks_of(module):
            continue
        if len(module.parametrizations.weight) != 1:
            raise LevinError(f"{name}: the mask is stacked with other parametrizations; "
                             f"remove those first")
        parametrize.remove_parametrizations(module, "weight", leave_parametrized=True)
    return model


def sparsity_report(model: nn.Module, include: Iterable[str] = (),
                    exclude: Iterable[str] = ()) -> dict:
    """Zeros per layer and in total, over the weights of the selected Conv2d/Linear layers.

    Returns a dict: "layers" {name: {"weights", "nonzero", "density"}}, "weights", "nonzero",
    "density" (nonzero / weights), and the same over every parameter of the model ("params",
    "params_nonzero"), biases and BatchNorm included.
    """
    layers = {}
    with torch.no_grad():
        for name, m in select_layers(model, include, exclude).items():
            w = m.weight
            layers[name] = {"weights": w.numel(), "nonzero": int(torch.count_nonzero(w)),
                            "density": int(torch.count_nonzero(w)) / w.numel()}
        plain = {n: p for n, p in model.named_parameters() if "parametrizations" not in n}
        params = sum(p.numel() for p in plain.values())
        params_nonzero = sum(int(torch.count_nonzero(p)) for p in plain.values())
        for name, m in model.named_modules():      # parametrized weights count as they act
            if parametrize.is_parametrized(m, "weight"):
                params += m.weight.numel()
                params_nonzero += int(torch.count_nonzero(m.weight))
    weights = sum(v["weights"] for v in layers.values())
    nonzero = sum(v["nonzero"] for v in layers.values())
    return {"layers": layers, "weights": weights, "nonzero": nonzero,
            "density": nonzero / max(weights, 1), "params": params,
            "params_nonzero": params_nonzero}
