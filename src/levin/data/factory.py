"""`path/to/file.py:factory`: your own Python function that returns the data.

The function takes no arguments and returns one of
  - a torch Dataset (or anything with __len__ and __getitem__) of (input, label) pairs;
  - a pair of arrays or tensors (x, y);
  - a dict {"train": ..., "test": ...} of those two kinds, when the split is yours.
Whatever your code raises (on import, in the function, in __getitem__) is reported as yours:
its type, its first line and where in your file, never a levin traceback.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from levin.data.layout import to_channels_first
from levin.data.raw import Part, RawData, targets
from levin.errors import DatasetError
from levin.usercode import call_users, is_reference, load_function

RETURNS = "a torch Dataset of (input, label) pairs, a pair (x, y), or a dict {'train': ..., 'test': ...}"


def is_factory(source: str) -> bool:
    return is_reference(source)


def load_factory(source: str, layout: str | None, model_shape, values: bool = False) -> RawData:
    file, factory = load_function(source, "data", DatasetError)
    attr = source.rpartition(":")[2]
    returned = _yours(file, f"your dataset factory {attr}()", factory)
    if isinstance(returned, dict) and {"train", "test"} <= set(returned):
        given = {"train": returned["train"], "test": returned["test"]}
    else:
        given = {"all": returned}
    parts, notes, count = {}, [], 0
    for split, value in given.items():
        x, y = _yours(file, f"reading the samples of {attr}()", _arrays, value, source)
        where = source if split == "all" else f"{source} ({split})"
        x, how = to_channels_first(x, layout, model_shape, where)
        y, names = targets(y, where, values)
        count = max(count, len(names))
        parts[split] = Part(x, y)
        notes = notes or [how]
    return RawData(source, parts, tuple(str(i) for i in range(count)), notes)


def _yours(file: Path, doing: str, call, *args) -> Any:
    return call_users(file, doing, call, *args, error=DatasetError)


def _arrays(value: Any, source: str) -> tuple[np.ndarray, np.ndarray]:
    """(x float32, y) from a pair of arrays or a dataset of pairs."""
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(_is_array(v) for v in value):
        x, y = (_numpy(v) for v in value)
    elif hasattr(value, "__len__") and hasattr(value, "__getitem__") and not _is_array(value) \
            and not isinstance(value, (str, bytes, dict)):
        items = [value[i] for i in range(len(value))]
        if not items:
            raise DatasetError(f"{source} returned an empty dataset")
        if not all(isinstance(it, (tuple, list)) and len(it) >= 2 for it in items[:1]):
            raise DatasetError(f"{source}: item 0 is {type(items[0]).__name__}; expected (input, label)")
        x = np.stack([_numpy(it[0]) for it in items])
        y = np.array([_numpy(it[1]).reshape(-1)[0] for it in items])
    else:
        raise DatasetError(f"{source} returned {type(value).__name__}; expected {RETURNS}")
    if len(x) != len(y):
        raise DatasetError(f"{source}: {len(x)} inputs but {len(y)} labels")
    if x.dtype.kind not in "iufb":
        raise DatasetError(f"{source}: inputs of type {x.dtype}; expected numbers")
    return x.astype(np.float32), y


def _is_array(value: Any) -> bool:
    return isinstance(value, np.ndarray) or type(value).__module__.startswith("torch") and hasattr(value, "numpy")


def _numpy(value: Any) -> np.ndarray:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    return np.asarray(value)
