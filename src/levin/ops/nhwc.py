"""Array helpers the float, torch and integer kernels share, in the IR's NHWC layout."""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def pad(x: np.ndarray, pads, value=0) -> np.ndarray:
    """Pad height and width by (top, bottom, left, right) with `value`."""
    pt, pb, pl, pr = pads
    return np.pad(x, ((0, 0), (pt, pb), (pl, pr), (0, 0)), constant_values=value)


def windows(x: np.ndarray, kernel, stride, dilation=(1, 1)) -> np.ndarray:
    """[N, H, W, C] -> [N, Ho, Wo, C, KH, KW] views of the (already padded) input."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    win = sliding_window_view(x, (dh * (kh - 1) + 1, dw * (kw - 1) + 1), axis=(1, 2))
    return win[:, ::sh, ::sw, :, ::dh, ::dw]


# torch (imported by the callers that run torch; the op modules stay importable without it)

def nchw(x):
    return x.permute(0, 3, 1, 2)


def to_nhwc(x):
    return x.permute(0, 2, 3, 1)


def pad_torch(x, pads, value=0.0):
    import torch.nn.functional as F

    pt, pb, pl, pr = pads
    return F.pad(x, (0, 0, pl, pr, pt, pb), value=value) if any(pads) else x
