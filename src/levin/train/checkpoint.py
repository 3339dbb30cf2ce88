"""Checkpoints: safetensors for tensors, JSON for everything else, never pickle.

A checkpoint is one `.safetensors` file whose header metadata holds a JSON document under the
key "levin" (so tensors and metadata are written in one atomic rename and cannot disagree).
Optimizer state is flattened into tensors named `optim.<param index>.<key>`; its non-tensor parts
(param groups, scalar entries) go in the JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from levin.errors import CheckpointError

_MODEL, _OPTIM = "model.", "optim."


def _atomic_save(tensors: dict[str, torch.Tensor], meta: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
    save_file(tensors, str(tmp), metadata={"levin": json.dumps(meta)})
    os.replace(tmp, path)


def save(path: str | os.PathLike, meta: dict[str, Any], model: torch.nn.Module,
         optimizer: torch.optim.Optimizer | None = None) -> None:
    """Write model (and optimizer) state plus `meta` to `path`, atomically."""
    tensors = {_MODEL + k: v for k, v in model.state_dict().items()}
    meta = dict(meta)
    if optimizer is not None:
        state = optimizer.state_dict()
        scalars: dict[str, dict[str, Any]] = {}
        for idx, entry in state["state"].items():
            for key, value in entry.items():
                if torch.is_tensor(value):
                    tensors[f"{_OPTIM}{idx}.{key}"] = value
                else:
                    scalars.setdefault(str(idx), {})[key] = value
        meta["optimizer"] = {"param_groups": state["param_groups"], "scalars": scalars}
    _atomic_save(tensors, meta, Path(path))


def read_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata of a checkpoint, without loading its tensors."""
    try:
        with safe_open(str(path), "pt") as f:
            meta = json.loads((f.metadata() or {})["levin"])
    except (OSError, SafetensorError, KeyError, json.JSONDecodeError, ValueError, RecursionError) as exc:
        raise CheckpointError(f"{path}: not a levin checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"{path}: not a levin checkpoint (metadata is a JSON "
                              f"{type(meta).__name__}, not an object)")
    return meta


def load(path: str | os.PathLike, model: torch.nn.Module,
         optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Restore `model` (and `optimizer`) from `path`; return the metadata."""
    meta = read_meta(path)
    try:
        tensors = load_file(str(path))
    except (OSError, SafetensorError) as exc:
        raise CheckpointError(f"{path}: unreadable checkpoint ({exc})") from None
    weights = {k[len(_MODEL):]: v for k, v in tensors.items() if k.startswith(_MODEL)}
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        first = " ".join(lines[:2])[:300] if lines else "mismatch"
        raise CheckpointError(f"{path}: weights do not fit the model ({first})") from None
    if optimizer is not None:
        saved = meta.get("optimizer")
        if saved is None:
            raise CheckpointError(f"{path}: holds no optimizer state to resume from")
        state: dict[int, dict[str, Any]] = {}
        for key, value in tensors.items():
            if key.startswith(_OPTIM):
                idx, name = key[len(_OPTIM):].split(".", 1)
                state.setdefault(int(idx), {})[name] = value
        for idx, scalars in saved["scalars"].items():
            state.setdefault(int(idx), {}).update(scalars)
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    return meta
