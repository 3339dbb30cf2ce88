"""Snap trained weights to their prior's components, on a grid the int8 graph holds exactly.

Each weight takes the mean of its most responsible component; the zero component gives an exact
0. The layer's means are then put on a symmetric per-tensor int8 grid, scale s = max|mean used|
/ 127, and the float weight becomes float32(s) * q with q = round(mean / s). PTQ divides that by
the same float32 scale in float64 and rounds, which gives back q exactly, so the integer tensor
holds at most components + 1 distinct values: levin's codec stores them as a codebook plus
rANS-coded indices. (Per-channel scales would give each channel its own copies of the values.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from levin.errors import LevinError
from levin.mdl.prior import MixturePrior
from levin.intmath import round_half_away
from levin.quant.lowbit import qmax


@dataclass
class SnappedLayer:
    scale: np.float32            # the layer's per-tensor weight scale
    codes: np.ndarray            # int8, the weight's shape (torch layout): q per weight
    components: np.ndarray       # int64, the weight's shape: the component chosen (0 = zero)

    @property
    def nonzero(self) -> int:
        return int(np.count_nonzero(self.codes))


def grid(means: np.ndarray, bits: int = 8) -> tuple[np.float32, np.ndarray]:
    """(float32 scale, int codes) putting `means` on a symmetric `bits`-bit grid; the largest
    |mean| gets code +-qmax, a mean of 0 gets 0. All means zero gives scale 1."""
    means = np.asarray(means, dtype=np.float64)
    top = float(np.abs(means).max()) if means.size else 0.0
    scale = np.float32(top / qmax(bits)) if top > np.finfo(np.float32).tiny else np.float32(1.0)
    codes = np.clip(round_half_away(means / np.float64(scale)), -qmax(bits), qmax(bits))
    return scale, codes.astype(np.int64)


@torch.no_grad()
def snap_layer(module: nn.Module, prior: MixturePrior) -> SnappedLayer:
    """Snap `module.weight` in place (see the module docstring); return its integer form."""
    w = module.weight
    comp = prior.assign(w).reshape(w.shape)
    means = prior.all_means.detach().double().cpu().numpy()
    used = np.unique(comp)
    used = used[used > 0]
    scale, codes = grid(means[used])
    lut = np.zeros(means.size, dtype=np.int64)
    lut[used] = codes
    q = lut[comp].astype(np.int8)
    w.copy_(torch.from_numpy(scale * q.astype(np.float32)).to(w.dtype))
    return SnappedLayer(scale, q, comp)


def snap(model: nn.Module, priors: dict[str, MixturePrior]) -> dict[str, SnappedLayer]:
    """Snap every layer that has a prior (by module name), in place."""
    return {name: snap_layer(model.get_submodule(name), prior) for name, prior in priors.items()}


@torch.no_grad()
def rebase(module: nn.Module, snapped: SnappedLayer) -> SnappedLayer:
    """`snapped` for `module`'s current weight, after units were cut or weights zeroed exactly
    (`levin.mdl.dead`): same scale, codes read back from the weights, components by code."""
    q = np.rint(module.weight.detach().double().cpu().numpy() / np.float64(snapped.scale)).astype(np.int64)
    by_code = dict(zip(snapped.codes.reshape(-1).tolist(), snapped.components.reshape(-1).tolist()))
    by_code[0] = 0
    unknown = sorted(set(np.unique(q).tolist()) - set(by_code))
    if unknown:
        raise LevinError(f"weights hold codes {unknown[:5]} the snapped layer does not: not an exact cut")
    lut = np.vectorize(by_code.__getitem__, otypes=[np.int64])
    return SnappedLayer(snapped.scale, q.astype(np.int8), lut(q) if q.size else q)
