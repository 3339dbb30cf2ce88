"""Pruning by description length: zero a weight when the bits its code costs exceed the bits of
training data it saves.

The mixture prior's pull on a weight is local: a zero component a few thousandths wide never
reaches a weight at 0.05, however little that weight is worth. This is the discrete MDL step the
gradient cannot take. Removing weight w_i changes the two-part code length (in bits) by

    data:  + 1/2 w_i^2 F_ii / ln 2        (Optimal Brain Damage, LeCun et al. 1990, with the
                                           empirical Fisher F_ii = sum_n (d loss_n / d w_i)^2
                                           standing in for the Hessian of the summed loss)
    code:  - lam * (log2 pi_0 - log2 pi_k)   (the weight's symbol becomes the zero component's,
                                           under the order-0 code of the layer's snapped
                                           symbols, zeros included: pi_k is the fraction of the
                                           layer's weights whose most responsible component is k)

and the weight goes when the sum is negative (lam as in the training loss). F_ii comes from a
few batches of cross-entropy gradients: with batch-mean gradients g_B, sum_n g_n^2 ~ N B E[g_B^2]
(a slight over-estimate when the mean gradient is not 0, so it errs on keeping weights). Each
call removes at most `max_fraction` of a layer's nonzeros (the smallest data/code ratios first):
OBD's estimate holds for one weight at a time, so the removals are spread over training and the
other weights adapt in between.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from levin.mdl.prior import MixturePrior
from levin.train.data import Dataset
from levin.train.loop import random_shift

LN2 = math.log(2.0)


def fisher_diag(model: nn.Module, layers: list[str], data: Dataset, batches: int, batch_size: int,
                seed: int = 0, shift: int = 0) -> dict[str, torch.Tensor]:
    """sum_n (d CE_n / d w)^2 over the training set, estimated from `batches` random batches."""
    params = {n: model.get_submodule(n).weight for n in layers}
    sums = {n: torch.zeros_like(p) for n, p in params.items()}
    rng = np.random.default_rng([seed, 7919])
    n_train = len(data.x_train)
    for b in range(batches):
        idx = rng.choice(n_train, size=min(batch_size, n_train), replace=False)
        x, y = torch.from_numpy(data.x_train[idx]), torch.from_numpy(data.y_train[idx])
        if shift:
            x = random_shift(x, shift, np.random.default_rng([seed, 7919, b]))
        grads = torch.autograd.grad(F.cross_entropy(model(x), y), list(params.values()))
        for n, g in zip(params, grads):
            sums[n] += g.detach() ** 2
    scale = n_train * min(batch_size, n_train) / batches
    return {n: s * scale for n, s in sums.items()}


@torch.no_grad()
def code_saving_bits(prior: MixturePrior, w: torch.Tensor) -> torch.Tensor:
    """Bits saved per weight by coding it as a zero: log2 pi_0 - log2 pi_k for its most responsible
    component k (0 for weights the zero component already holds). pi is the share of the layer's
    weights each component holds now (the frequencies the coder will count), not the learned
    mixing proportions, which start at `zero_mix` whatever the model's sparsity is."""
    comp = torch.from_numpy(prior.assign(w))
    counts = torch.bincount(comp, minlength=prior.logits.numel()).double()
    log_pi = torch.log2((counts + 0.5) / (counts.sum() + 0.5 * counts.numel()))   # KT: no empty class at -inf
    return (log_pi[0] - log_pi[comp]).reshape(w.shape)


@torch.no_grad()
def mdl_prune(model: nn.Module, priors: dict[str, MixturePrior], masks: dict[str, torch.Tensor],
              fisher: dict[str, torch.Tensor], lam: float, max_fraction: float) -> dict[str, int]:
    """Zero (and mask) the weights whose removal shortens the two-part code; returns the count
    removed per layer. `masks` (1 = free weight) are updated in place."""
    removed = {}
    for name, prior in priors.items():
        w = model.get_submodule(name).weight
        mask = masks[name]
        data_bits = 0.5 * w.double() ** 2 * fisher[name].double() / LN2
        code_bits = lam * code_saving_bits(prior, w).double()
        live = (mask > 0) & (w != 0)
        ratio = torch.where(live & (code_bits > 0), data_bits / code_bits.clamp_min(1e-12),
                            torch.full_like(data_bits, math.inf))
        # The smallest ratios first, at most `cap` of them (weights that stay have ratio inf).
        cap = int(max_fraction * int(live.sum()))
        chosen = torch.zeros(ratio.numel(), dtype=torch.bool)
        chosen[torch.argsort(ratio.reshape(-1))[:cap]] = True
        chosen = chosen.reshape(w.shape) & (ratio < 1)
        mask[chosen] = 0
        w.mul_(mask)
        removed[name] = int(chosen.sum())
    return removed
