"""N:M semi-structured sparsity: at most N nonzeros in every M consecutive weights along the
input (reduction) dimension, as NVIDIA Ampere's sparse tensor cores run 2:4.

Groups follow NVIDIA's ASP: a Linear's rows are cut along in_features; a conv's weight is read
as [out, kh, kw, in] (channels innermost, the IR's OHWI order) and cut along input channels at
each kernel position. In each group the N largest |w| stay (ties: the earlier one).

"Consecutive" means as the deployed kernel reads the weights, i.e. in the IR's order, not
torch's. The two differ for a Linear after a Flatten of a C x H x W feature map: torch orders
its columns (C, H, W), the IR (NHWC) stores them permuted to (H, W, C) (levin.ir.torch_ops).
Groups cut in torch's order would be 4 spatial positions of one channel, which the kernel
reads 4*C apart: no N:M pattern at all in the deployed weight. So such a layer is grouped in
(H, W, C) order; `input_orders` finds these layers by tracing the model with torch.fx.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.fx as fx
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from levin.config import NMConfig
from levin.errors import LevinError
from levin.prune.depgraph import _KEEP_FUNCTIONS, _KEEP_METHODS, _KEEP_MODULES
from levin.prune.masks import apply_masks, select_layers

_ADDS = {operator.add, operator.iadd, torch.add, "add", "add_"}


@dataclass
class NMResult:
    masks: dict[str, torch.Tensor]
    skipped: dict[str, str] = field(default_factory=dict)   # layer -> why it was left dense
    orders: dict[str, np.ndarray] = field(default_factory=dict)   # layer -> its column order


def _rows(weight: torch.Tensor, order: np.ndarray | None = None) -> torch.Tensor:
    """[rows, reduction] view in the deployed order: input channels innermost for a conv,
    columns in `order` (IR column j = torch column order[j]) for a Linear."""
    if weight.dim() == 4:
        return weight.permute(0, 2, 3, 1).reshape(weight.shape[0], -1)
    if weight.dim() == 3:                  # Conv1d: deployed as (O, 1, L, I)
        return weight.permute(0, 2, 1).reshape(weight.shape[0], -1)
    rows = weight.reshape(weight.shape[0], -1)
    return rows if order is None else rows[:, torch.as_tensor(order, dtype=torch.long)]


def _unrows(rows: torch.Tensor, shape: torch.Size, order: np.ndarray | None = None) -> torch.Tensor:
    if len(shape) == 4:
        o, i, kh, kw = shape
        return rows.reshape(o, kh, kw, i).permute(0, 3, 1, 2).contiguous()
    if len(shape) == 3:
        o, i, k = shape
        return rows.reshape(o, k, i).permute(0, 2, 1).contiguous()
    if order is not None:
        out = torch.empty_like(rows)
        out[:, torch.as_tensor(order, dtype=torch.long)] = rows
        rows = out
    return rows.reshape(shape)


def nm_mask(weight: torch.Tensor, n: int, m: int, order: np.ndarray | None = None) -> torch.Tensor:
    """0/1 mask keeping the n largest |w| in each group of m along the reduction axis.

    Args:
        order: for a Linear, the deployed order of its columns (see `input_orders`); groups
            are consecutive in that order. None: torch's order.
    The reduction axis need not be a multiple of m: the last group is shorter and keeps at most n.
    """
    rows = _rows(weight.detach().abs().float(), order)
    r, length = rows.shape
    padded = -(-length // m) * m
    # Padding scores -1 sort below every |w|, so a short last group never keeps a pad slot
    # over a real weight; pads are dropped again below.
    scores = torch.full((r, padded), -1.0)
    scores[:, :length] = rows
    groups = scores.reshape(r, padded // m, m)
    # Stable descending order: among equal |w| the earlier position wins.
    idx = torch.argsort(-groups, dim=-1, stable=True)
    keep = torch.zeros_like(groups)
    keep.scatter_(-1, idx[..., :n], 1.0)
    keep = keep.reshape(r, padded)[:, :length]
    return _unrows(keep, weight.shape, order)


def check_nm(weight: torch.Tensor, n: int, m: int, order: np.ndarray | None = None) -> bool:
    """Whether every group of m along the reduction axis (in `order`, as in `nm_mask`) holds at
    most n nonzeros."""
    rows = _rows(weight.detach(), order)
    r, length = rows.shape
    padded = torch.zeros(r, -(-length // m) * m, dtype=rows.dtype)
    padded[:, :length] = rows
    return bool((torch.count_nonzero(padded.reshape(r, -1, m), dim=-1) <= n).all())


def _hwc_order(channels: int, features: int) -> np.ndarray | None:
    """torch (C, H, W) columns listed in (H, W, C) order; None when they coincide (H*W = 1)."""
    if channels <= 1 or features % channels:
        return None
    spatial = features // channels
    if spatial == 1:
        return None
    return np.arange(features).reshape(channels, spatial).T.ravel()


def input_orders(model: nn.Module, example: torch.Tensor | None = None) -> dict[str, np.ndarray]:
    """For every Linear fed by a flattened feature map: its columns in the IR's order.

    Only the channel count C of the flattened map matters (H and W are flattened together in
    both layouts). It is read from `example`'s traced shapes when given, else from the module
    that made the map (a Conv2d's out_channels, a BatchNorm2d's num_features), followed back
    through ops that keep channels. Without `example`, a model input flattened directly is
    taken in torch's order (right for one-channel inputs such as MNIST; pass `example` for
    multi-channel images fed to an MLP).

    Raises:
        LevinError: a Linear follows a flatten whose channel count cannot be found without an
            example input (pass `example`).
    A model torch.fx cannot trace cannot be captured into the IR either: it has no deployed
    order, and {} is returned.
    """
    try:
        traced = fx.symbolic_trace(model)
    except Exception:  # fx raises many types; all mean "no IR for this model"
        return {}
    if example is not None:
        with torch.no_grad():
            ShapeProp(traced).propagate(example)
    modules = dict(traced.named_modules())
    channels: dict[fx.Node, int | None] = {}     # rank-4 (or 1-D rank-3) map -> C (None: unknown)
    flat: dict[fx.Node, int | None] = {}         # flattened map -> its C
    orders = {}
    for node in traced.graph.nodes:
        first = node.args[0] if node.args and isinstance(node.args[0], fx.Node) else None
        meta = node.meta.get("tensor_meta")
        shape = tuple(meta.shape) if hasattr(meta, "shape") else None
        module = modules.get(node.target) if node.op == "call_module" else None
        if isinstance(module, nn.Linear) and first in flat:
            c = flat[first]
            if c is None:
                raise LevinError(f"{node.target}: follows a flattened feature map whose channel "
                                 f"count levin cannot infer; pass an example input so N:M groups "
                                 f"follow the deployed (H, W, C) column order")
            order = _hwc_order(c, module.in_features)
            if order is not None:
                orders[str(node.target)] = order
            continue
        if _is_flatten(node, module):
            if first in channels:
                flat[node] = channels[first]
            continue
        if shape is not None and len(shape) in (3, 4):      # NCHW, or a 1-D NCL map
            channels[node] = shape[1]
        elif shape is None and isinstance(module, (nn.Conv2d, nn.Conv1d)):
            channels[node] = module.out_channels
        elif shape is None and isinstance(module, nn.BatchNorm2d):
            channels[node] = module.num_features
        elif _keeps(node, module) or node.target in _ADDS:
            source = next((a for a in node.args if isinstance(a, fx.Node)
                           and (a in channels or a in flat)), None)
            if source in channels:
                channels[node] = channels[source]
            elif source in flat:
                flat[node] = flat[source]
        elif shape is None and any(a in channels for a in node.args if isinstance(a, fx.Node)):
            channels[node] = None        # an op not understood on a map: its channels unknown
    return orders


def _keeps(node: fx.Node, module) -> bool:
    """An op that keeps the channels (and element order) of its first input."""
    if module is not None:
        return isinstance(module, _KEEP_MODULES)
    if node.op == "call_method":
        return node.target in _KEEP_METHODS
    return node.op == "call_function" and node.target in _KEEP_FUNCTIONS


def _is_flatten(node: fx.Node, module) -> bool:
    """A flatten of everything but the batch: nn.Flatten(), torch.flatten(x, 1),
    x.view(x.size(0), -1) or x.reshape(n, -1)."""
    if module is not None:
        return isinstance(module, nn.Flatten) and module.start_dim == 1 and module.end_dim == -1
    if node.op == "call_function" and node.target is torch.flatten:
        start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
        return start == 1
    if node.op == "call_method" and node.target == "flatten":
        start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
        return start == 1
    if node.op == "call_method" and node.target in ("view", "reshape"):
        sizes = node.args[1:]
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        return len(sizes) == 2 and sizes[1] == -1
    return False


def _input_channels(module: nn.Module) -> int:
    if isinstance(module, (nn.Conv2d, nn.Conv1d)):
        return module.in_channels // module.groups
    return module.in_features


def nm_masks(model: nn.Module, config: NMConfig, example: torch.Tensor | None = None) -> NMResult:
    """N:M masks for the selected layers (not applied); with `config.strict`, layers whose
    input-channel count is not a multiple of m are skipped and named in `skipped`.

    `example` (an input batch) is needed only when a Linear follows a flatten whose channel
    count the model's modules do not state (see `input_orders`)."""
    orders = input_orders(model, example)
    result = NMResult({})
    for name, module in select_layers(model, config.include, config.exclude).items():
        channels = _input_channels(module)
        if config.strict and channels % config.m:
            result.skipped[name] = (f"{channels} input channels per group, not a multiple of "
                                    f"{config.m}")
            continue
        if name in orders:
            result.orders[name] = orders[name]
        result.masks[name] = nm_mask(module.weight, config.n, config.m, orders.get(name))
    return result


def prune_nm(model: nn.Module, config: NMConfig, example: torch.Tensor | None = None) -> NMResult:
    """Apply N:M masks to `model` in place (held while fine-tuning, as magnitude masks are).
    Check a layer afterwards with check_nm(weight, n, m, result.orders.get(name))."""
    result = nm_masks(model, config, example)
    apply_masks(model, result.masks)
    return result
