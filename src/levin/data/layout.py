"""Array layouts: what the axes of a user's array mean, stated or inferred, and the move to
levin's channels-first order ((N, C, H, W) images, (N, C, L) signals, (N, F) features).

Inference looks at the model's input shape first (the one unambiguous hint), then at which axis
is small enough to be channels (1, 3 or 4). What was chosen, and why, is echoed back.
"""

from __future__ import annotations

import numpy as np

from levin.errors import DatasetError

LAYOUTS = ("nchw", "nhwc", "ncl", "nlc", "nf")
_RANK = {"nchw": 4, "nhwc": 4, "ncl": 3, "nlc": 3, "nf": 2}
_CHANNELS = (1, 3, 4)


def to_channels_first(x: np.ndarray, layout: str | None, model_shape: tuple[int, ...] | None,
                      where: str) -> tuple[np.ndarray, str]:
    """`x` in channels-first order and a note saying its layout and how it was decided."""
    if x.ndim < 2:
        raise DatasetError(f"{where}: inputs have shape {list(x.shape)}; expected one row per sample "
                           f"(N, features), (N, C, L) or (N, C, H, W)")
    if layout is not None:
        layout = layout.lower()
        if layout not in LAYOUTS:
            raise DatasetError(f"--layout {layout}: expected one of {', '.join(LAYOUTS)}")
        if _RANK[layout] != x.ndim:
            raise DatasetError(f"{where}: --layout {layout.upper()} needs {_RANK[layout]}-D inputs, "
                               f"got shape {list(x.shape)}")
        how = "as stated"
    else:
        layout, how = _infer(x.shape, model_shape)
    if layout == "nhwc":
        x = x.transpose(0, 3, 1, 2)
    elif layout == "nlc":
        x = x.transpose(0, 2, 1)
    elif layout == "nhw":                 # single-channel images without their channel axis
        x = x[:, None]
    return np.ascontiguousarray(x), f"layout {layout.upper()} ({how})"


def _infer(shape: tuple[int, ...], model: tuple[int, ...] | None) -> tuple[str, str]:
    sample = tuple(shape[1:])
    if len(shape) == 2:
        return "nf", "2-D: one feature vector per sample"
    if model is not None:
        model = tuple(model)
        candidates = {"nchw": sample, "nhwc": sample[2:] + sample[:2] if len(sample) == 3 else None,
                      "ncl": sample, "nlc": sample[::-1], "nhw": (1, *sample)}
        for name, as_model in candidates.items():
            if as_model is not None and _RANK.get(name, 3) == len(shape) and as_model == model:
                return name, "inferred from the model's input"
    if len(shape) == 4:
        first, last = shape[1] in _CHANNELS, shape[3] in _CHANNELS
        if last and not first:
            return "nhwc", f"inferred: last axis has {shape[3]} channels"
        if first and not last:
            return "nchw", f"inferred: axis 1 has {shape[1]} channels"
        return "nchw", "ambiguous, assumed; pass --layout to choose"
    if len(shape) == 3:
        if shape[2] in _CHANNELS and shape[1] not in _CHANNELS:
            return "nlc", f"inferred: last axis has {shape[2]} channels"
        return "ncl", "inferred: channels before length"
    raise DatasetError(f"inputs of shape {list(shape)}: levin takes 2-D to 4-D arrays (N first)")
