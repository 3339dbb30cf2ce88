"""What every source loader returns before splitting, and the checks all sources share.

A loader reads its files into `RawData`: the samples (channels first), integer labels, class
names, and a few words on what it read for the one-line echo. `levin.data.resolve` then checks
the values (finite, labels in range), makes the splits and builds the `Dataset` the commands take.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from levin.errors import DatasetError


@dataclass
class Part:
    """One split as read: inputs (N, ...) float32, channels first; labels (N,) int64."""

    x: np.ndarray
    y: np.ndarray


@dataclass
class RawData:
    source: str                       # what the user passed, for messages
    parts: dict[str, Part]            # "all", or "train" and "test" when the source gives them
    classes: tuple[str, ...]
    notes: list[str] = field(default_factory=list)   # echoed: layout, resizing, skipped files


def targets(y: np.ndarray, where: str, values: bool = False) -> tuple[np.ndarray, tuple[str, ...]]:
    """A source's targets: class labels as `labels_to_ints` reads them, or (`values`, a regression
    task) numbers kept as float32 in whatever shape they have per sample, with no classes."""
    if not values:
        return labels_to_ints(y, where)
    y = np.asarray(y)
    if y.dtype == object:
        try:
            y = y.astype(np.float64)
        except ValueError:
            raise DatasetError(f"{where}: regression targets must be numbers, not labels like "
                               f"{y.reshape(-1)[0]!r}") from None
    if y.dtype.kind not in "iufb":
        raise DatasetError(f"{where}: regression targets of type {y.dtype}; expected numbers")
    y = y.astype(np.float32)
    check_finite(y.reshape(len(y), -1), f"{where} (targets)")
    return y, ()


def labels_to_ints(y: np.ndarray, where: str, classes: Sequence[str] | None = None
                   ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Labels as int64 class indices and the class names: integers stay as they are (names
    "0".."K-1"); whole floats become integers; strings become indices of their sorted names."""
    y = np.asarray(y)
    if y.ndim != 1:
        y = y.reshape(len(y), -1)
        if y.shape[1] != 1:
            raise DatasetError(f"{where}: labels have shape {list(y.shape)}; expected one class "
                               f"index per sample (N,)")
        y = y[:, 0]
    if y.dtype.kind in "US" or y.dtype == object:
        names = tuple(classes) if classes is not None else tuple(sorted({str(v) for v in y}))
        index = {n: i for i, n in enumerate(names)}
        unknown = sorted({str(v) for v in y} - set(index))
        if unknown:
            raise DatasetError(f"{where}: label {unknown[0]!r} is not one of the classes {', '.join(names)}")
        return np.array([index[str(v)] for v in y], np.int64), names
    if y.dtype.kind == "f":
        bad = ~np.isfinite(y) | (y != np.round(y))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise DatasetError(f"{where}: label {y[i].item()!r} at sample {i} is not a class index "
                               f"(whole number >= 0)")
    if y.dtype.kind not in "iuf" and y.dtype.kind != "b":
        raise DatasetError(f"{where}: labels of type {y.dtype} are not class indices")
    ints = y.astype(np.int64)
    if len(ints) and ints.min() < 0:
        i = int(np.argmin(ints))
        raise DatasetError(f"{where}: label {ints[i]} at sample {i} is negative; class indices start at 0")
    count = int(ints.max()) + 1 if len(ints) else 0
    return ints, tuple(classes) if classes is not None else tuple(str(i) for i in range(count))


def check_finite(x: np.ndarray, where: str) -> None:
    """NaN or infinity in the inputs would poison every score and every quantization range."""
    bad = ~np.isfinite(x.reshape(len(x), -1)).all(axis=1)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        raise DatasetError(f"{where}: {int(bad.sum())} sample(s) hold NaN or infinity (first: sample "
                           f"{first}); clean or drop them")


def refuse_bad_files(bad: list[tuple[Path, str]], root: Path, kind: str, skip: bool,
                     notes: list[str]) -> None:
    """Files that could not be read: name them and stop, or (with --skip-bad) note and go on."""
    if not bad:
        return
    names = ", ".join(str(p.relative_to(root)) for p, _ in bad[:3]) + (" ..." if len(bad) > 3 else "")
    if not skip:
        raise DatasetError(f"{root}: {len(bad)} unreadable {kind} file(s): {names} ({bad[0][1]}); "
                           f"fix or remove them, or pass --skip-bad to skip them")
    notes.append(f"skipped {len(bad)} unreadable file(s): {names}")


def class_folders(root: Path, kind: str) -> list[Path]:
    """The class subfolders of `root` (sorted, hidden ones left out), or a DatasetError."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise DatasetError(f"{root}: no class subfolders; expected {root}/<class>/<{kind} files>")
    return folders


def files_in(folder: Path) -> list[Path]:
    """The files under `folder`, hidden ones left out, following linked folders (a class folder
    linked into place from a shared dataset is read as if copied; Path.rglob would skip it)."""
    found = []
    for root, dirs, files in os.walk(folder, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(root) / f for f in files if not f.startswith(".")]
    return sorted(found)


def split_folders(root: Path) -> dict[str, Path]:
    """{"train": root/train, "test": root/test} when the folder gives its own split, else {"all": root}."""
    if (root / "train").is_dir() and (root / "test").is_dir():
        return {"train": root / "train", "test": root / "test"}
    return {"all": root}
