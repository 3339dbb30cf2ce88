"""Resolve what a user means by "a model": a zoo name, `path/to/file.py:factory`, or a checkpoint.

>>> loaded = load_model("lenet5")
>>> loaded.name, loaded.input_shape
('lenet5', (1, 28, 28))
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from levin import zoo
from levin.errors import LevinError
from levin.train import checkpoint
from levin.train.loop import FINAL


@dataclass
class LoadedModel:
    module: nn.Module
    name: str                                 # zoo name or "file.py:factory"; how to rebuild it
    input_shape: tuple[int, ...] | None       # one sample, channels first; None if unknown
    num_classes: int | None
    meta: dict[str, Any] = field(default_factory=dict)   # a checkpoint's metadata, if any


def _from_factory(ref: str) -> LoadedModel:
    path, _, attr = ref.rpartition(":")
    file = Path(path)
    if not file.is_file():
        raise LevinError(f"model file {file} not found (expected path/to/file.py:factory)")
    spec = importlib.util.spec_from_file_location(f"levin_user_{file.stem}", file)
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: report it in one line, whatever it raised
        raise LevinError(f"{file}: importing it failed: {type(exc).__name__}: {exc}") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise LevinError(f"{file} has no callable {attr!r}")
    model = factory()
    if not isinstance(model, nn.Module):
        raise LevinError(f"{ref} returned {type(model).__name__}, not a torch.nn.Module")
    shape = getattr(model, "input_shape", None)
    return LoadedModel(model, ref, tuple(shape) if shape else None, None)


def _from_checkpoint(path: Path) -> LoadedModel:
    file = path / FINAL if path.is_dir() else path
    if not file.is_file():
        raise LevinError(f"{path}: no {FINAL} here; train one with `levin train ... --out {path}`")
    meta = checkpoint.read_meta(file)
    base = load_model(meta["model"]) if "model" in meta else None
    if base is None:
        raise LevinError(f"{file}: checkpoint does not say which model it holds")
    checkpoint.load(file, base.module)
    shape = meta.get("input_shape") or base.input_shape
    return LoadedModel(base.module, base.name, tuple(shape) if shape else None,
                       meta.get("num_classes", base.num_classes), meta)


def load_model(ref: str) -> LoadedModel:
    """Build the model `ref` names: a zoo name, `file.py:factory`, or a checkpoint file/dir."""
    if ":" in ref and ref.rpartition(":")[0].endswith(".py"):
        return _from_factory(ref)
    path = Path(ref)
    if path.suffix == ".safetensors" or path.is_dir():
        return _from_checkpoint(path)
    try:
        spec = zoo.spec(ref)
    except LevinError:
        raise LevinError(f"unknown model {ref!r}: not a zoo model ({', '.join(zoo.names())}), "
                         f"a path/to/file.py:factory, or a checkpoint directory") from None
    return LoadedModel(spec.factory(), spec.name, spec.input_shape, spec.num_classes)


def load_graph(ref: str, input_shape: tuple[int, ...] | None = None):
    """Load the model `ref` names and capture it into a `levin.ir.Graph` on a batch-1 input."""
    import torch

    from levin.ir.capture import capture

    loaded = load_model(ref)
    shape = input_shape or loaded.input_shape
    if shape is None:
        raise LevinError(f"model {ref} does not say its input shape; pass --input-shape C,H,W "
                         f"(or give the module an `input_shape` attribute)")
    return capture(loaded.module, torch.zeros(1, *shape), name=loaded.name)
