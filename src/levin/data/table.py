"""A CSV file of sensor readings or features: a header row names the columns, one row per sample.

The label column (`--label-column`, default `label`) holds class indices or class names; every
other column is a numeric input, so a sample is a (features,) vector.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from levin.data.raw import Part, RawData, targets
from levin.errors import DatasetError


def load_csv(path: Path, label_column: str | None, values: bool = False) -> RawData:
    label_column = label_column or "label"
    try:
        with path.open(newline="") as f:
            rows = list(csv.reader(f))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: not a readable CSV ({exc})") from None
    if len(rows) < 2:
        raise DatasetError(f"{path}: expected a header row and at least one row of data")
    header = [h.strip() for h in rows[0]]
    if label_column not in header:
        raise DatasetError(f"{path}: no column {label_column!r} (columns: {', '.join(header)}); "
                           f"name the label column with --label-column")
    at = header.index(label_column)
    inputs = [i for i in range(len(header)) if i != at]
    if not inputs:
        raise DatasetError(f"{path}: only the label column {label_column!r}; no input columns")
    x = np.empty((len(rows) - 1, len(inputs)), np.float32)
    labels = []
    for r, row in enumerate(rows[1:]):
        line = r + 2
        if len(row) != len(header):
            raise DatasetError(f"{path} line {line}: {len(row)} fields, the header has {len(header)}")
        for j, i in enumerate(inputs):
            try:
                x[r, j] = float(row[i])
            except ValueError:
                raise DatasetError(f"{path} line {line}, column {header[i]!r}: {row[i]!r} is not a "
                                   f"number") from None
        labels.append(row[at].strip())
    y, classes = targets(_as_numbers(labels), str(path), values)
    names = ", ".join(header[i] for i in inputs[:4]) + (" ..." if len(inputs) > 4 else "")
    return RawData(str(path), {"all": Part(x, y)}, classes,
                   [f"{len(inputs)} input column(s) ({names}), label column {label_column!r}"])


def _as_numbers(labels: list[str]) -> np.ndarray:
    """Integer labels when every one is an integer ("3"), else the names as they are ("walk")."""
    try:
        return np.array([int(v) for v in labels], np.int64)
    except ValueError:
        return np.array(labels, dtype=object)
