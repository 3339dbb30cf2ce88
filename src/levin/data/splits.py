"""Train / validation / test splits, made with a seed and recorded.

The test split is the source's own when it gives one, else a seeded share of the samples. The
validation split is always carved from the training samples with a seed, so every command that
gets the same data and seed holds out the same samples: training never sees them, choices are
scored on them, and the test split is scored once, at the end.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from levin.data.raw import Part
from levin.errors import DatasetError
from levin.train.data import Dataset

TEST_FRACTION = 0.2
VALIDATION_FRACTION = 0.1


def carve(part: Part, fraction: float, seed: int, what: str, source: str) -> tuple[Part, Part]:
    """(rest, held out): a seeded `fraction` of `part`'s samples held out, both in original order."""
    if not 0 < fraction < 1:
        raise DatasetError(f"a {what} split of {fraction:g}: expected a share between 0 and 1, e.g. 0.1")
    n = len(part.x)
    k = int(round(fraction * n))
    if k < 1 or k >= n:
        raise DatasetError(f"{source}: {n} sample(s) cannot give a {what} split of {fraction:g}; "
                           f"need at least {int(np.ceil(1 / min(fraction, 1 - fraction))) + 1}")
    order = np.random.default_rng(seed).permutation(n)
    held, rest = np.sort(order[:k]), np.sort(order[k:])
    return Part(part.x[rest], part.y[rest]), Part(part.x[held], part.y[held])


def with_validation(data: Dataset, fraction: float = VALIDATION_FRACTION, seed: int = 0) -> Dataset:
    """`data` with a seeded `fraction` of its training samples moved to the validation split."""
    train, val = carve(Part(data.x_train, data.y_train), fraction, seed, "validation", data.name)
    split = {**data.split, "train": len(train.x), "validation": len(val.x), "test": len(data.x_test),
             "validation_fraction": fraction, "validation_seed": seed}
    return replace(data, x_train=train.x, y_train=train.y, x_val=val.x, y_val=val.y, split=split)
