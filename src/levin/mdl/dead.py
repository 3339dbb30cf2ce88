"""Remove the units a sparse model no longer uses, exactly: the file then pays for neither their
weights' positions nor their biases.

After the snap many channels / neurons are dead in one of two ways:
- *unread*: every weight that reads the channel is 0 (its consumers' input slices are zero), so
  its producer's filter and bias change nothing downstream;
- *constant*: every weight that writes it is 0, so it carries act(bias), the same for every
  input. Its consumers' biases absorb that constant (b += W[:, slice] . constant), then their
  slices are zeroed, which makes it unread.
Unread channels are cut out of every coupled layer with levin's channel-dependency graph
(`levin.prune.depgraph`), and the two steps repeat until nothing changes (a neuron cut from fc1
can leave a conv2 channel unread). Both are exact in float: the outputs do not change.

The constant is measured, not derived: consumers' inputs are recorded on a few samples and a
fold happens only where they are constant. A conv consumer with zero padding is never folded
(its border sees the padding, not the constant), nor one that a BatchNorm separates from the
producer; such channels stay, which costs bytes, never accuracy.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from levin.prune.depgraph import DependencyGraph


def remove_dead_units(model: nn.Module, example: torch.Tensor, max_rounds: int = 10) -> list[dict]:
    """Fold constant channels into their consumers and cut unread ones, in place, until none is
    left. Returns one record per round that changed the model: the groups' producers and the
    channel indices (of that round's graph) removed, plus the count of folded channels."""
    rounds = []
    for _ in range(max_rounds):
        graph = DependencyGraph(model, example)
        readers, carried = _readers(graph)
        folded = _fold_constants(model, graph, readers, carried, example)
        removed = {}
        for g, group in enumerate(graph.groups):
            dead = [p for p, root in enumerate(group.classes) if _unread(model, readers.get(root, {}))]
            dead = dead[:len(group) - 1]          # a group keeps one channel: the graph stays whole
            if dead:
                removed[g] = dead
        if not removed:
            if folded:
                rounds.append({"folded": folded, "removed": {}})
            break
        rounds.append({"folded": folded, "removed": {",".join(graph.groups[g].producers): p
                                                     for g, p in removed.items()}})
        graph.prune(removed)
    return rounds


def _readers(graph: DependencyGraph) -> tuple[dict[int, dict[str, list[int]]], set[int]]:
    """Per channel class: the input indices of every conv/linear reading it; and the classes a
    carrier (BatchNorm, add, ...) reads, which are never folded."""
    readers: dict[int, dict[str, list[int]]] = {}
    carried = set()
    for name, atoms in graph.inputs.items():
        for i, a in enumerate(atoms.tolist()):
            root = graph.find(a)
            if name in graph.carriers:
                carried.add(root)
            else:
                readers.setdefault(root, {}).setdefault(name, []).append(i)
    return readers, carried


def _unread(model: nn.Module, slices: dict[str, list[int]]) -> bool:
    with torch.no_grad():
        return all(not model.get_submodule(n).weight[:, idx].any() for n, idx in slices.items())


def _unwritten(model: nn.Module, channel: list[tuple[str, int]]) -> bool:
    with torch.no_grad():
        return all(not model.get_submodule(n).weight[i].any() for n, i in channel)


@torch.no_grad()
def _fold_constants(model: nn.Module, graph: DependencyGraph, readers: dict[int, dict[str, list[int]]],
                    carried: set[int], example: torch.Tensor) -> int:
    """Fold every constant (unwritten, still read) channel into its consumers' biases; returns how many."""
    todo = [root for group in graph.groups for p, root in enumerate(group.classes)
            if root not in carried and _unwritten(model, group.channels[p])
            and not _unread(model, readers.get(root, {}))]
    if not todo:
        return 0
    inputs = _record_inputs(model, {n for root in todo for n in readers[root]}, example)
    count = 0
    for root in todo:
        plan = []
        for name, idx in readers[root].items():
            module, x = model.get_submodule(name), inputs[name]
            const = _constant(module, x, idx)
            if const is None:
                break
            plan.append((module, idx, const))
        else:
            for module, idx, const in plan:
                w = module.weight
                # Linear: W[:, idx] @ c; conv (no padding): every kernel tap sees c.
                contrib = w[:, idx] @ const if w.dim() == 2 else w[:, idx].sum((2, 3)) @ const
                module.bias.add_(contrib.to(module.bias.dtype))
                w[:, idx] = 0
            count += 1
    return count


def _constant(module: nn.Module, x: torch.Tensor, idx: list[int]) -> torch.Tensor | None:
    """The constant value of input channels `idx` of `module` (recorded inputs `x`), or None if
    they are not constant or a fold would not be exact."""
    if module.bias is None:
        return None
    if isinstance(module, nn.Conv2d):
        if any(np.atleast_1d(module.padding)) or module.groups != 1:
            return None
        v = x[:, idx]                              # [B, c, H, W]
        first = v[:1, :, :1, :1]
    elif isinstance(module, nn.Linear):
        v = x[:, idx]                              # [B, c]
        first = v[:1]
    else:
        return None
    if not torch.equal(v, first.expand_as(v)):
        return None
    return first.reshape(-1).to(module.weight.dtype)


def _record_inputs(model: nn.Module, names: set[str], example: torch.Tensor) -> dict[str, torch.Tensor]:
    seen, hooks = {}, []
    for name in names:
        hooks.append(model.get_submodule(name).register_forward_hook(
            lambda m, args, out, name=name: seen.__setitem__(name, args[0].detach())))
    was_training = model.training
    model.eval()
    try:
        model(example)
    finally:
        model.train(was_training)
        for h in hooks:
            h.remove()
    return seen


def replay_cuts(model: nn.Module, example: torch.Tensor, rounds: list[dict]) -> None:
    """Cut the channels `remove_dead_units` cut (its returned `rounds`) from a fresh copy of the
    model, so that the cut model's weights load into it. Folds are not replayed: they changed
    values, which the loaded weights carry."""
    for record in rounds:
        if not record["removed"]:
            continue
        graph = DependencyGraph(model, example)
        by_producers = {",".join(g.producers): i for i, g in enumerate(graph.groups)}
        graph.prune({by_producers[p]: channels for p, channels in record["removed"].items()})
