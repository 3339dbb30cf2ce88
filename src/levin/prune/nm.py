"""N:M semi-structured sparsity: at most N nonzeros in every M consecutive weights along the
input (reduction) dimension, as NVIDIA Ampere's sparse tensor cores run 2:4.

Groups follow NVIDIA's ASP: a Linear's rows are cut along in_features; a conv's weight is read
as [out, kh, kw, in] (channels innermost, the IR's OHWI order) and cut along input channels at
each kernel position. In each group the N largest |w| stay (ties: the earlier one).

A Linear after a Flatten sees torch's (C, H, W) feature order; the IR stores that weight with
columns permuted to (H, W, C), so such a layer's groups are consecutive in torch's order only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from levin.config import NMConfig
from levin.prune.masks import apply_masks, select_layers


@dataclass
class NMResult:
    masks: dict[str, torch.Tensor]
    skipped: dict[str, str] = field(default_factory=dict)   # layer -> why it was left dense


def _rows(weight: torch.Tensor) -> torch.Tensor:
    """[rows, reduction] view with input channels innermost."""
    if weight.dim() == 4:
        return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)
    return weight.reshape(weight.shape[0], -1)


def _unrows(rows: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    if len(shape) == 4:
        o, i, kh, kw = shape
        return rows.reshape(o, kh, kw, i).permute(0, 3, 1, 2).contiguous()
    return rows.reshape(shape)


def nm_mask(weight: torch.Tensor, n: int, m: int) -> torch.Tensor:
    """0/1 mask keeping the n largest |w| in each group of m along the reduction axis.

    The reduction axis need not be a multiple of m: the last group is shorter and keeps at most n.
    """
    rows = _rows(weight.detach().abs().float())
    r, length = rows.shape
    padded = -(-length // m) * m
    # Padding scores -1 sort below every |w|, so a short last group never keeps a pad slot
    # over a real weight; pads are dropped again below.
    scores = torch.full((r, padded), -1.0)
    scores[:, :length] = rows
    groups = scores.reshape(r, padded // m, m)
    # Stable descending order: among equal |w| the earlier position wins.
    order = torch.argsort(-groups, dim=-1, stable=True)
    keep = torch.zeros_like(groups)
    keep.scatter_(-1, order[..., :n], 1.0)
    keep = keep.reshape(r, padded)[:, :length]
    return _unrows(keep, weight.shape)


def check_nm(weight: torch.Tensor, n: int, m: int) -> bool:
    """Whether every group of m along the reduction axis holds at most n nonzeros."""
    rows = _rows(weight.detach())
    r, length = rows.shape
    padded = torch.zeros(r, -(-length // m) * m, dtype=rows.dtype)
    padded[:, :length] = rows
    return bool((torch.count_nonzero(padded.reshape(r, -1, m), dim=-1) <= n).all())


def _input_channels(module: nn.Module) -> int:
    return module.in_channels // module.groups if isinstance(module, nn.Conv2d) else module.in_features


def nm_masks(model: nn.Module, config: NMConfig) -> NMResult:
    """N:M masks for the selected layers (not applied); with `config.strict`, layers whose
    input-channel count is not a multiple of m are skipped and named in `skipped`."""
    result = NMResult({})
    for name, module in select_layers(model, config.include, config.exclude).items():
        channels = _input_channels(module)
        if config.strict and channels % config.m:
            result.skipped[name] = (f"{channels} input channels per group, not a multiple of "
                                    f"{config.m}")
            continue
        result.masks[name] = nm_mask(module.weight, config.n, config.m)
    return result


def prune_nm(model: nn.Module, config: NMConfig) -> NMResult:
    """Apply N:M masks to `model` in place (held while fine-tuning, as magnitude masks are)."""
    result = nm_masks(model, config)
    apply_masks(model, result.masks)
    return result
