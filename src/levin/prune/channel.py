"""Structured channel pruning: score channels, remove the weakest from each dependency group, and
rebuild every coupled layer smaller, so params, MACs and activation RAM really drop.

Importance of one output channel of one layer: the L1 or L2 norm of its filter, or the
first-order Taylor score sum |w * dL/dw| over the filter, accumulated over a few batches
(Molchanov et al. 2019). A group's channel can span several layers (ResNet-8's stem and the
stack1 output it is added to); each layer's scores are divided by their mean over the layer's
channels first, so no layer dominates by scale, and the channel's score is their average.

>>> import torch; from levin import zoo; from levin.config import ChannelPruneConfig
>>> model = zoo.create("resnet8")
>>> result = prune_channels(model, torch.zeros(1, 3, 32, 32), ChannelPruneConfig(ratio=0.5))
>>> model.stem[0].out_channels, model.stack3.shortcut.out_channels
(8, 32)
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from levin.config import ChannelPruneConfig
from levin.errors import LevinError
from levin.prune.depgraph import ChannelGroup, DependencyGraph


@dataclass
class ChannelPruneResult:
    model: nn.Module
    groups: list[dict] = field(default_factory=list)   # producers, channels before/after, removed
    frozen: list[str] = field(default_factory=list)    # layers whose outputs cannot be pruned


def taylor_scores(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                  layers: Iterable[str]) -> dict[str, torch.Tensor]:
    """sum over batches of |w * dL/dw| (cross-entropy), per weight element of each named layer."""
    modules = {name: model.get_submodule(name) for name in layers}
    totals = {name: torch.zeros_like(m.weight) for name, m in modules.items()}
    was_training = model.training
    model.eval()                     # BN statistics and dropout as at inference
    count = 0
    try:
        for x, y in batches:
            model.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            for name, m in modules.items():
                if m.weight.grad is not None:
                    totals[name] += (m.weight.detach() * m.weight.grad).abs()
            count += 1
    finally:
        model.zero_grad(set_to_none=True)
        model.train(was_training)
    if count == 0:
        raise LevinError("taylor importance needs at least one batch of (inputs, labels)")
    return totals


def filter_scores(model: nn.Module, layers: Iterable[str], importance: str,
                  taylor: dict[str, torch.Tensor] | None = None) -> dict[str, np.ndarray]:
    """Per output channel of each named conv/linear: its importance (larger = keep)."""
    out = {}
    with torch.no_grad():
        for name in layers:
            w = model.get_submodule(name).weight.detach()
            if importance == "taylor":
                per = taylor[name].reshape(w.shape[0], -1).sum(1)
            elif importance == "l1":
                per = w.reshape(w.shape[0], -1).abs().sum(1)
            elif importance == "l2":
                per = w.reshape(w.shape[0], -1).pow(2).sum(1).sqrt()
            else:
                raise LevinError(f"unknown importance {importance!r}; use l1, l2 or taylor")
            out[name] = per.double().cpu().numpy()
    return out


def group_scores(group: ChannelGroup, scores: dict[str, np.ndarray]) -> np.ndarray:
    """One score per channel of `group`: the mean of its layers' mean-normalised scores."""
    means = {name: float(scores[name].mean()) or 1.0 for name in group.producers}
    return np.array([np.mean([scores[name][i] / means[name] for name, i in where])
                     for where in group.channels])


def _ratio(group: ChannelGroup, config: ChannelPruneConfig) -> float | None:
    for name in group.producers:
        if any(fnmatch.fnmatchcase(name, p) for p in config.exclude):
            return None
    for name in group.producers:
        if name in config.layer_ratio:
            return config.layer_ratio[name]
    return config.ratio


def kept_count(size: int, ratio: float, config: ChannelPruneConfig) -> int:
    """How many of `size` channels stay at `ratio`, after min_channels and round_to."""
    keep = max(size - int(round(ratio * size)), config.min_channels)
    if config.round_to > 1:
        keep = -(-keep // config.round_to) * config.round_to
    return min(keep, size)


def select_channels(graph: DependencyGraph, scores: dict[str, np.ndarray],
                    config: ChannelPruneConfig) -> dict[int, list[int]]:
    """Positions to remove in each group (by index in `graph.groups`): the lowest scores."""
    frozen = set(graph.frozen_layers())
    known = {name for g in graph.groups for name in g.producers}
    unknown = sorted(set(config.layer_ratio) - known - frozen)
    if unknown:
        raise LevinError(f"layer_ratio names no conv/linear layer of the model: {', '.join(unknown)}")
    stuck = sorted(n for n, r in config.layer_ratio.items() if n in frozen and r > 0)
    if stuck:
        raise LevinError(f"layer_ratio names layers whose channels cannot be removed (their "
                         f"outputs reach the model output or an op levin does not prune "
                         f"through): {', '.join(stuck)}")
    removed = {}
    for g, group in enumerate(graph.groups):
        ratio = _ratio(group, config)
        if ratio is None:
            continue
        drop = len(group) - kept_count(len(group), ratio, config)
        if drop > 0:
            order = np.argsort(group_scores(group, scores), kind="stable")
            removed[g] = sorted(order[:drop].tolist())
    return removed


def prune_channels(model: nn.Module, example: torch.Tensor, config: ChannelPruneConfig,
                   batches: Iterable[tuple[torch.Tensor, torch.Tensor]] | None = None
                   ) -> ChannelPruneResult:
    """Remove channels from `model` in place by `config` and return what was removed.

    Args:
        example: an input batch to trace shapes with.
        batches: (inputs, labels) batches for the Taylor score; the first
            `config.taylor_batches` are used.
    """
    graph = DependencyGraph(model, example)
    producers = sorted({name for g in graph.groups for name in g.producers})
    taylor = None
    if config.importance == "taylor":
        if batches is None:
            raise LevinError("importance 'taylor' needs batches of (inputs, labels)")
        taylor = taylor_scores(model, _take(batches, config.taylor_batches), producers)
    scores = filter_scores(model, producers, config.importance, taylor)
    removed = select_channels(graph, scores, config)
    summary = [{"producers": list(group.producers), "members": list(group.members),
                "before": len(group), "after": len(group) - len(removed.get(g, [])),
                "removed": removed.get(g, [])} for g, group in enumerate(graph.groups)]
    graph.prune(removed)
    return ChannelPruneResult(model, summary, graph.frozen_layers())


def _take(batches, n: int):
    for i, batch in enumerate(batches):
        if i >= n:
            return
        yield batch
