"""Dependency groups for channel pruning, found on the torch.fx graph of a model.

Read me first: every channel of every tensor (dim 1: feature-map channels, or a vector's
features) is labelled with an *atom*. A conv or linear creates fresh atoms for its output
channels; ops that keep channels (BatchNorm, ReLU, pooling, depthwise conv, padding) pass their
input's atoms on; Concat along channels concatenates them; Flatten repeats each channel's atom
once per spatial position (so a Linear's in-features know which channel they came from); an
elementwise op over equally shaped tensors (residual Add, Mul) *unites* its operands' atoms
channel by channel, in a union-find. A class of united atoms is one prunable channel: removing
it removes one output filter from every conv/linear that produces it, one channel from every
BatchNorm and depthwise conv that carries it, and the matching input slices of every consumer.

Atoms that reach the model's inputs or outputs, a constant, or any op this file does not
understand are *fixed*: a class holding a fixed atom is never pruned (the safe answer, so an
unknown op can cost compression but never correctness). Classes whose producers are the same
set of layers form a `ChannelGroup` (ResNet-8: the stem, stack1.conv2 and the input of the
stack2/3 shortcuts form one group of 16 channels).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp
from torch.nn.utils import parametrize

from levin.errors import LevinError
from levin.prune.rebuild import shrink

_KEEP_MODULES = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.GELU,
                 nn.SiLU, nn.Hardswish, nn.Dropout, nn.Dropout2d, nn.Identity, nn.MaxPool2d,
                 nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.ZeroPad2d,
                 nn.ConstantPad2d, nn.Softmax2d)
_KEEP_FUNCTIONS = {torch.relu, F.relu, F.relu6, F.leaky_relu, torch.sigmoid, F.sigmoid,
                   torch.tanh, F.tanh, F.hardtanh, F.gelu, F.silu, F.hardswish, F.dropout,
                   F.max_pool2d, F.avg_pool2d, F.adaptive_avg_pool2d, F.adaptive_max_pool2d,
                   F.pad, torch.clamp}
_KEEP_METHODS = {"relu", "sigmoid", "tanh", "clamp", "contiguous", "clone", "float"}
_ELEMENTWISE = {operator.add, operator.sub, operator.mul, operator.truediv, torch.add, torch.sub,
                torch.mul, torch.div, operator.iadd, operator.imul}
_ELEMENTWISE_METHODS = {"add", "sub", "mul", "div", "add_", "mul_"}
_CATS = {torch.cat, torch.concat}


@dataclass
class ChannelGroup:
    """Output channels of `producers` that must be removed together (one entry per channel)."""

    producers: tuple[str, ...]                    # conv/linear layers making these channels
    channels: list[list[tuple[str, int]]]         # per channel: (producer, output index) pairs
    members: tuple[str, ...] = ()                 # every layer that changes when it shrinks
    classes: list[int] = field(default_factory=list, repr=False)

    def __len__(self) -> int:
        return len(self.channels)


class DependencyGraph:
    """The channel classes and groups of `model`, traced on `example` (one batch, any size).

    Raises:
        LevinError: the model cannot be traced by torch.fx, or carries masks/parametrizations.
    """

    def __init__(self, model: nn.Module, example: torch.Tensor):
        if any(parametrize.is_parametrized(m) for m in model.modules()):
            raise LevinError("channel pruning needs plain modules: call remove_masks (or remove "
                             "the weight sharing) first")
        self.model = model
        self.parent: list[int] = []
        self.fixed: set[int] = set()
        self.produced: dict[str, np.ndarray] = {}     # conv/linear -> its output atoms
        self.inputs: dict[str, np.ndarray] = {}       # conv/linear/depthwise/BN -> input atoms
        self.carriers: set[str] = set()               # depthwise convs and BatchNorms
        self._stale = False
        was_training = model.training
        model.eval()
        try:
            try:
                self.traced = fx.symbolic_trace(model)
            except Exception as exc:  # fx raises many types; all mean "cannot be traced"
                why = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
                raise LevinError(f"channel pruning traces the model with torch.fx and could not "
                                 f"({type(exc).__name__}: {why}); levin prunes forwards without "
                                 f"data-dependent control flow") from None
            try:
                with torch.no_grad():
                    ShapeProp(self.traced).propagate(example)
            except Exception as exc:  # the user's forward on the user's input: one line
                raise LevinError(f"the model does not run on the example input of shape "
                                 f"{tuple(example.shape)} ({type(exc).__name__}); check the "
                                 f"input shape") from None
            self.modules = dict(self.traced.named_modules())
            self._walk()
        finally:
            model.train(was_training)
        self.groups = self._groups()

    # -- union-find over atoms ------------------------------------------------------------------
    def _new(self, count: int, fixed: bool = False) -> np.ndarray:
        start = len(self.parent)
        self.parent.extend(range(start, start + count))
        if fixed:
            self.fixed.update(range(start, start + count))
        return np.arange(start, start + count)

    def find(self, atom: int) -> int:
        root = atom
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[atom] != root:
            self.parent[atom], atom = root, self.parent[atom]
        return root

    def _unite(self, a: np.ndarray, b: np.ndarray) -> None:
        for x, y in zip(a.tolist(), b.tolist()):
            rx, ry = self.find(x), self.find(y)
            if rx != ry:
                self.parent[ry] = rx

    def _fix(self, atoms: np.ndarray | None) -> None:
        if atoms is not None:
            self.fixed.update(atoms.tolist())

    # -- the walk -------------------------------------------------------------------------------
    @staticmethod
    def _shape(node) -> tuple[int, ...] | None:
        meta = node.meta.get("tensor_meta") if isinstance(node, fx.Node) else None
        return tuple(meta.shape) if hasattr(meta, "shape") else None

    def _walk(self) -> None:
        self.atoms: dict[fx.Node, np.ndarray | None] = {}
        for node in self.traced.graph.nodes:
            shape = self._shape(node)
            if node.op == "output":
                for arg in _flat(node.args):
                    self._fix(self.atoms.get(arg))
                continue
            if node.op in ("placeholder", "get_attr"):
                self.atoms[node] = self._new(shape[1], fixed=True) if shape and len(shape) >= 2 else None
                continue
            if shape is None:              # an int, a shape, a tuple of tensors ...
                if not (node.op == "call_method" and node.target == "size"
                        and node.args[1:] == (0,)):          # x.size(0), the batch, is harmless
                    self._opaque(node, ())
                self.atoms[node] = None
                continue
            out = self._visit(node, shape)
            if out is None:
                out = self._opaque(node, shape)
            self.atoms[node] = out if len(shape) >= 2 else None

    def _opaque(self, node: fx.Node, shape) -> np.ndarray | None:
        """An op not understood: its tensor inputs are fixed and its output is fresh and fixed."""
        for arg in _flat((node.args, node.kwargs)):
            self._fix(self.atoms.get(arg))
        return self._new(shape[1], fixed=True) if len(shape) >= 2 else None

    def _arg(self, node: fx.Node):
        first = node.args[0] if node.args else next(iter(node.kwargs.values()), None)
        return first, self.atoms.get(first) if isinstance(first, fx.Node) else None

    def _visit(self, node: fx.Node, shape) -> np.ndarray | None:
        first, inp = self._arg(node)
        in_shape = self._shape(first)
        same_channels = (inp is not None and len(shape) >= 2 and in_shape is not None
                         and len(in_shape) == len(shape) and in_shape[1] == shape[1])
        if node.op == "call_module":
            return self._visit_module(node, self.modules[node.target], inp, in_shape, shape,
                                      same_channels)
        target = node.target
        if target in _KEEP_FUNCTIONS or (node.op == "call_method" and target in _KEEP_METHODS):
            return inp if same_channels else None
        if target in _ELEMENTWISE or (node.op == "call_method" and target in _ELEMENTWISE_METHODS):
            return self._elementwise(node, shape)
        if target in _CATS:
            return self._cat(node, shape)
        if target in (torch.flatten,) or (node.op == "call_method" and target in ("flatten", "view", "reshape")):
            return self._flatten(node, inp, in_shape, shape)
        if target in (torch.mean, torch.sum, torch.amax) or (
                node.op == "call_method" and target in ("mean", "sum", "amax")):
            dims = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else None)
            dims = [dims] if isinstance(dims, int) else list(dims or [])
            rank = len(in_shape) if in_shape else 0
            if inp is not None and dims and all(d % rank >= 2 for d in dims):
                return inp
        return None

    def _visit_module(self, node, module, inp, in_shape, shape, same_channels):
        name = str(node.target)
        if isinstance(module, nn.Conv2d) and inp is not None:
            if module.groups == 1:
                return self._layer(name, inp, module.out_channels)
            if module.groups == module.in_channels == module.out_channels:    # depthwise
                self._carrier(name, inp)
                return inp
            return None
        if isinstance(module, nn.Linear) and inp is not None and len(in_shape) == 2:
            return self._layer(name, inp, module.out_features)
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)) and same_channels:
            self._carrier(name, inp)
            return inp
        if isinstance(module, _KEEP_MODULES):
            return inp if same_channels else None
        if isinstance(module, nn.Flatten) and inp is not None:
            if module.start_dim == 1 and module.end_dim == -1:
                return np.repeat(inp, int(np.prod(in_shape[2:], dtype=np.int64)))
            return inp if module.start_dim >= 2 and same_channels else None
        return None

    def _layer(self, name: str, inp: np.ndarray, out_channels: int) -> np.ndarray:
        if name in self.inputs:                 # a module called twice: both inputs are one space
            self._unite(self.inputs[name], inp)
        else:
            self.inputs[name] = inp
            self.produced[name] = self._new(out_channels)
        return self.produced[name]

    def _carrier(self, name: str, inp: np.ndarray) -> None:
        if name in self.inputs:
            self._unite(self.inputs[name], inp)
        else:
            self.inputs[name] = inp
            self.carriers.add(name)

    def _elementwise(self, node: fx.Node, shape) -> np.ndarray | None:
        if len(shape) < 2:
            return None
        full = []
        for arg in _flat((node.args, node.kwargs)):
            s = self._shape(arg)
            if s is None:
                continue                                  # a scalar
            aligned = (1,) * (len(shape) - len(s)) + s
            if aligned[1] == shape[1] and len(s) == len(shape) and self.atoms.get(arg) is not None:
                full.append(self.atoms[arg])
            elif aligned[1] != 1 or shape[1] == 1:
                return None                               # a constant or odd broadcast: opaque
        if not full:
            return None
        for other in full[1:]:
            self._unite(full[0], other)
        return full[0]

    def _cat(self, node: fx.Node, shape) -> np.ndarray | None:
        tensors = node.args[0] if node.args else node.kwargs.get("tensors")
        dim = node.kwargs.get("dim", node.args[1] if len(node.args) > 1 else 0)
        parts = [self.atoms.get(t) for t in tensors]
        if any(p is None for p in parts) or len(shape) < 2:
            return None
        if dim % len(shape) == 1:
            return np.concatenate(parts)
        for other in parts[1:]:
            self._unite(parts[0], other)
        return parts[0]

    def _flatten(self, node, inp, in_shape, shape) -> np.ndarray | None:
        if inp is None or len(shape) != 2 or len(in_shape) < 2 or shape[0] != in_shape[0]:
            return None
        if node.op == "call_method" and node.target in ("view", "reshape"):
            sizes = node.args[1:] if len(node.args) > 2 or not isinstance(node.args[1], (tuple, list)) \
                else node.args[1]
            if len(sizes) != 2 or sizes[1] != -1:
                return None                               # an explicit channel count: keep it
        else:
            start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 0)
            if start != 1:
                return None
        return np.repeat(inp, int(np.prod(in_shape[2:], dtype=np.int64)))

    # -- groups ---------------------------------------------------------------------------------
    def _groups(self) -> list[ChannelGroup]:
        blocked = {self.find(a) for a in self.fixed}
        by_class: dict[int, list[tuple[str, int]]] = {}
        for name, atoms in self.produced.items():
            for index, atom in enumerate(atoms.tolist()):
                root = self.find(atom)
                if root not in blocked:
                    by_class.setdefault(root, []).append((name, index))
        groups: dict[tuple[str, ...], ChannelGroup] = {}
        for root, where in by_class.items():
            key = tuple(sorted({name for name, _ in where}))
            group = groups.setdefault(key, ChannelGroup(key, []))
            group.channels.append(where)
            group.classes.append(root)
        for group in groups.values():
            classes = set(group.classes)
            group.members = tuple(sorted({
                name for table in (self.inputs, self.produced) for name, atoms in table.items()
                if any(self.find(a) in classes for a in atoms.tolist())}))
        return list(groups.values())

    def frozen_layers(self) -> list[str]:
        """Conv/linear layers none of whose output channels can be pruned."""
        return sorted(n for n in self.produced if not any(n in g.producers for g in self.groups))

    # -- pruning --------------------------------------------------------------------------------
    def prune(self, removed: dict[int, list[int]]) -> nn.Module:
        """Remove channels in place: `removed` maps a group's index in `groups` to positions in
        its `channels`. Every coupled layer is rebuilt smaller; returns the model.

        Raises:
            LevinError: a group would lose every channel, or this graph was used already.
        """
        if self._stale:
            raise LevinError("this DependencyGraph was already used to prune; build a new one")
        gone: set[int] = set()
        for g, positions in removed.items():
            group = self.groups[g]
            if len(set(positions)) >= len(group):
                raise LevinError(f"cannot remove all {len(group)} channels of the group of "
                                 f"{', '.join(group.producers)}")
            gone.update(group.classes[p] for p in positions)
        if not gone:
            return self.model

        def keep(atoms: np.ndarray) -> list[int]:
            return [i for i, a in enumerate(atoms.tolist()) if self.find(a) not in gone]

        for name in sorted(set(self.inputs) | set(self.produced)):
            module = self.model.get_submodule(name)
            inp = keep(self.inputs[name])
            out = inp if name in self.carriers else keep(self.produced[name])
            shrink(self.model, name, module, inp, out)
        self._stale = True
        return self.model


def _flat(value):
    """Every fx.Node inside nested args/kwargs."""
    if isinstance(value, fx.Node):
        yield value
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _flat(v)
    elif isinstance(value, dict):
        for v in value.values():
            yield from _flat(v)
