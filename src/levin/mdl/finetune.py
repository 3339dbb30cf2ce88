"""After the snap: fine-tune each snapped layer's codebook with its zeros and assignments held.

Snapping moves every weight to its component's mean at once; the means were learned for the
prior, not for the task. Deep Compression's remedy: keep which weight uses which value, train
only the values (`levin.compressor.holds.hold` registers that exact codebook parametrization),
then bake them back. The trained values are off the int8 grid, so `regrid` puts each layer's
values back on a per-tensor grid; the zeros and the assignment do not change (unless a value
rounds to code 0, which makes its weights zeros: still an exact codebook).
"""

from __future__ import annotations

import math
import sys

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from levin.share.holds import hold, release
from levin.mdl.snap import SnappedLayer, grid
from levin.train.data import Dataset
from levin.train.loop import random_shift


def finetune_codebooks(model: nn.Module, layers: list[str], data: Dataset, epochs: float, lr: float,
                       batch_size: int = 512, seed: int = 0, shift: int = 0, progress: bool = False) -> int:
    """Train the codebooks of `layers` (and every other trainable parameter but the held weights)
    on cross-entropy for `epochs` (fractions allowed); bake them in. Returns the steps taken."""
    n = len(data.x_train)
    per_epoch = math.ceil(n / batch_size)
    steps = int(math.ceil(epochs * per_epoch))
    if steps == 0:
        return 0
    hold(model, [], layers)
    try:
        params = [p for p in model.parameters() if p.requires_grad]
        opt = torch.optim.Adam(params, lr=lr)
        x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
        model.train()
        for step in range(steps):
            epoch, i = divmod(step, per_epoch)
            order = np.random.default_rng([seed, 1000 + epoch]).permutation(n)
            idx = torch.from_numpy(order[i * batch_size:(i + 1) * batch_size])
            x, y = x_all[idx], y_all[idx]
            if shift:
                x = random_shift(x, shift, np.random.default_rng([seed, 1000 + epoch, i]))
            for g in opt.param_groups:
                g["lr"] = lr * 0.5 * (1.0 + math.cos(math.pi * step / steps))
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        if progress:
            print(f"codebook fine-tune: {steps} steps, last ce {float(loss.detach()):.4f}", file=sys.stderr)
    finally:
        release(model)
    return steps


@torch.no_grad()
def regrid(module: nn.Module, snapped: SnappedLayer) -> SnappedLayer:
    """Put `module.weight`'s distinct nonzero values on a per-tensor int8 grid, in place."""
    w = module.weight
    flat = w.detach().double().cpu().numpy().reshape(-1)
    values, inverse = np.unique(flat, return_inverse=True)
    nonzero = values != 0
    scale, codes = grid(values[nonzero])
    lut = np.zeros(values.size, dtype=np.int64)
    lut[nonzero] = codes
    q = lut[inverse].reshape(w.shape).astype(np.int8)
    w.copy_(torch.from_numpy(scale * q.astype(np.float32)).to(w.dtype))
    return SnappedLayer(scale, q, np.where(q != 0, snapped.components, 0))
