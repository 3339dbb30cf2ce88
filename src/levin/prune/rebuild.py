"""Rebuild a Conv2d / Linear / BatchNorm smaller, keeping chosen input and output channels.

The new module has the same type and settings (stride, padding, dilation, eps, momentum, ...)
and copies of the kept slices of every parameter and buffer, so a pruned model is an ordinary
torch model: it trains, saves, captures and exports like any other.
"""

from __future__ import annotations

import torch
from torch import nn

from levin.errors import LevinError


def _index(t: torch.Tensor, dim: int, keep: list[int]) -> torch.Tensor:
    return t.detach().index_select(dim, torch.tensor(keep, dtype=torch.long, device=t.device)).clone()


def _conv(m: nn.Conv2d, inp: list[int], out: list[int]) -> nn.Conv2d:
    depthwise = m.groups > 1
    if depthwise and (m.groups != m.in_channels or m.in_channels != m.out_channels or inp != out):
        raise LevinError("only depthwise convs (groups = in = out channels) can lose channels "
                         "among grouped convs")
    new = nn.Conv2d(len(inp), len(out), m.kernel_size, m.stride, m.padding, m.dilation,
                    groups=len(out) if depthwise else 1, bias=m.bias is not None,
                    padding_mode=m.padding_mode, device=m.weight.device, dtype=m.weight.dtype)
    w = _index(m.weight, 0, out)
    new.weight.data.copy_(w if depthwise else _index(w, 1, inp))
    if m.bias is not None:
        new.bias.data.copy_(_index(m.bias, 0, out))
    return new


def _linear(m: nn.Linear, inp: list[int], out: list[int]) -> nn.Linear:
    new = nn.Linear(len(inp), len(out), bias=m.bias is not None, device=m.weight.device,
                    dtype=m.weight.dtype)
    new.weight.data.copy_(_index(_index(m.weight, 0, out), 1, inp))
    if m.bias is not None:
        new.bias.data.copy_(_index(m.bias, 0, out))
    return new


def _batchnorm(m: nn.modules.batchnorm._BatchNorm, keep: list[int]):
    new = type(m)(len(keep), m.eps, m.momentum, m.affine, m.track_running_stats,
                  device=m.running_mean.device if m.running_mean is not None else None)
    if m.affine:
        new.weight.data.copy_(_index(m.weight, 0, keep))
        new.bias.data.copy_(_index(m.bias, 0, keep))
    if m.track_running_stats:
        new.running_mean.copy_(_index(m.running_mean, 0, keep))
        new.running_var.copy_(_index(m.running_var, 0, keep))
        new.num_batches_tracked.copy_(m.num_batches_tracked)
    return new


def shrink(model: nn.Module, name: str, module: nn.Module, inp: list[int], out: list[int]) -> None:
    """Replace submodule `name` of `model` by one keeping input channels `inp`, outputs `out`."""
    full_in = module.in_features if isinstance(module, nn.Linear) else (
        module.in_channels if isinstance(module, nn.Conv2d) else module.num_features)
    full_out = module.out_features if isinstance(module, nn.Linear) else (
        module.out_channels if isinstance(module, nn.Conv2d) else module.num_features)
    if len(inp) == full_in and len(out) == full_out:
        return
    if isinstance(module, nn.Conv2d):
        new = _conv(module, inp, out)
    elif isinstance(module, nn.Linear):
        new = _linear(module, inp, out)
    elif isinstance(module, nn.modules.batchnorm._BatchNorm):
        new = _batchnorm(module, out)
    else:
        raise LevinError(f"{name}: cannot shrink a {type(module).__name__}")
    new.train(module.training)
    parent_name, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent_name) if parent_name else model, child, new)
