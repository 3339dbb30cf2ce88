"""Arrays from .npz and .npy files.

A .npz holds `x` and `y` (levin makes the test split), or `x_train`, `y_train`, `x_test`,
`y_test` (the split is yours). A .npy holds the inputs; its labels are the sibling file named
with `x` swapped for `y` (x.npy -> y.npy, x_train.npy -> y_train.npy) or `<stem>_labels.npy`.
Integer images (uint8) are scaled to [0, 1], as the built-in datasets are. Where the caller only
calibrates or reconstructs (`unlabelled`), labels may be missing: a .npz with `x` alone, or with
`x_train`, `x_test` and `y_test` (an anomaly detector's normal training frames), a .npy with no
sibling.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from levin.data.layout import to_channels_first
from levin.data.raw import Part, RawData, targets
from levin.errors import DatasetError

NPZ_LAYOUT = "arrays x and y, or x_train, y_train, x_test and y_test"


def load_npz(path: Path, layout: str | None, model_shape, unlabelled: bool = False,
             values: bool = False) -> RawData:
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
        raise DatasetError(f"{path}: not a readable .npz ({exc}); expected {NPZ_LAYOUT}") from None
    if "x_train" in arrays:
        missing = [k for k in ("y_train", "x_test", "y_test") if k not in arrays
                   and not (k.startswith("y") and unlabelled)]
        names = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
    else:
        missing = [k for k in ("x", "y") if k not in arrays and not (k == "y" and unlabelled)]
        names = {"all": ("x", "y")}
    if missing:
        raise DatasetError(f"{path}: no array {missing[0]!r} (has {', '.join(arrays) or 'none'}); "
                           f"expected {NPZ_LAYOUT}")
    return _raw(str(path), {split: (arrays[x], arrays.get(y)) for split, (x, y) in names.items()},
                layout, model_shape, values)


def load_npy(path: Path, layout: str | None, model_shape, unlabelled: bool = False,
             values: bool = False) -> RawData:
    labels = _label_file(path)
    if labels is None and unlabelled:
        return _raw(str(path), {"all": (_read_npy(path), None)}, layout, model_shape)
    if labels is None:
        raise DatasetError(f"{path}: no labels beside it; save them as {_swap(path.name) or 'y.npy'} "
                           f"or {path.stem}_labels.npy, or use a .npz with arrays x and y")
    raw = _raw(str(path), {"all": (_read_npy(path), _read_npy(labels))}, layout, model_shape, values)
    raw.notes.append(f"labels from {labels.name}")
    return raw


def _read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise DatasetError(f"{path}: not a readable .npy ({exc})") from None


def _swap(name: str) -> str | None:
    """The labels' file name for inputs named x.npy, x_<part>.npy or <part>_x.npy."""
    stem = name[:-len(".npy")]
    if stem == "x":
        return "y.npy"
    if stem.startswith("x_"):
        return f"y_{stem[2:]}.npy"
    if stem.endswith("_x"):
        return f"{stem[:-2]}_y.npy"
    return None


def _label_file(path: Path) -> Path | None:
    for name in (_swap(path.name), f"{path.stem}_labels.npy"):
        if name and (path.parent / name).is_file():
            return path.parent / name
    return None


def _raw(source: str, parts: dict[str, tuple[np.ndarray, np.ndarray | None]], layout, model_shape,
         values: bool = False) -> RawData:
    """Checked, channels-first parts; labels None: unlabelled (all zero, no classes); `values`:
    regression targets (float), not class labels."""
    notes, out, count = [], {}, 0
    for split, (x, y) in parts.items():
        where = f"{source} ({split})" if split != "all" else source
        if y is not None and len(x) != len(y):
            raise DatasetError(f"{where}: {len(x)} inputs but {len(y)} labels")
        if x.dtype.kind not in "iufb":
            raise DatasetError(f"{where}: inputs of type {x.dtype}; expected numbers")
        scaled = x.dtype == np.uint8
        x = x.astype(np.float32) / 255.0 if scaled else x.astype(np.float32)
        x, how = to_channels_first(x, layout, model_shape, where)
        if y is None:
            y = np.zeros(len(x), np.int64)
        else:
            y, names = targets(y, where, values)
            count = max(count, len(names))
        out[split] = Part(x, y)
        if not notes:
            notes.append(how + (", uint8 scaled to [0, 1]" if scaled else "")
                         + (f"; no labels{'' if split == 'all' else ' in ' + split}"
                            if parts[split][1] is None else ""))
    classes = tuple(str(i) for i in range(count))
    return RawData(source, out, classes, notes)
