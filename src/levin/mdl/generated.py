"""Training for generated weights (MIRACLE, Havasi et al., ICLR 2019): variational Gaussian
posteriors under a per-layer Gaussian prior, a KL budget per block, then block-by-block coding.

Read me first. Every conv / fully connected weight gets a posterior N(mu, s^2) and its layer a
prior N(0, sigma_p^2) (sigma_p learned). The schedule:

1. `budget`: the KL of all weights is driven to the bit budget (one beta, adapted every step:
   x(1 + eps) when the KL is over the target, /(1 + eps) under);
2. each layer gets blocks = round(its KL in bits / kl_bits), cut in the flat order of the
   integer graph's tensor (OHWI for convs), as the .lvn generated body holds them;
3. `blocks`: every block's KL is driven to kl_bits (one beta per block, the same rule);
4. the blocks are coded in `groups` random groups: each block's index is chosen among 2^bits
   candidates by importance weights (`levin.coding.generated.encode_blocks`), the block's
   weights are fixed to the generated codes, and the weights not yet coded are retrained for
   `retrain_epochs` (their KL still held to the budget) before the next group.

The forward pass uses the local reparameterization trick (the pre-activations' mean and variance
from mu and s^2), fixed weights have variance 0. A layer's int8 grid is sigma_p / 24 (prior
sigma16 = 384), so the generated codes times that scale are the weights.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from levin.coding import generated as G

SIGMA16 = 384                      # the prior's sigma in 1/16 code units: 24 codes
SIGMA_CODES = SIGMA16 / 16


@dataclass(frozen=True)
class GeneratedConfig:
    """budget_bits: the weights' total KL target (bits) in phase 1; bits: index bits per block
    (2^bits candidates); kl_bits: the KL target per block (default: bits); epochs of each phase;
    groups: coding rounds, retrain_epochs between them; lr / lr_s: Adam's for the means (and
    biases, prior sigmas) / the log posterior sigmas, which start at init_log_s + log(sigma_p)
    of their layer; eps: the betas' step; sample: draw each index by importance
    weight (the paper) instead of taking the largest; seed: block order, sampling, prior seeds."""

    budget_bits: float = 48_000
    bits: int = 12
    kl_bits: float | None = None
    budget_epochs: float = 3
    block_epochs: float = 3
    groups: int = 4
    retrain_epochs: float = 0.5
    lr: float = 1e-3
    lr_s: float = 1e-2
    batch_size: int = 256
    eps: float = 0.01
    init_log_s: float = -3.0
    sample: bool = False
    seed: int = 0


class VarLayer:
    """The variational state of one nn.Linear / nn.Conv2d: mu is the module's weight."""

    def __init__(self, name: str, module: nn.Module, config: GeneratedConfig, order: np.ndarray):
        self.name, self.m = name, module
        w = module.weight
        sp = math.log(float(w.detach().std()) + 1e-8)
        self.log_s = nn.Parameter(torch.full_like(w, config.init_log_s + sp))
        self.log_sp = nn.Parameter(torch.tensor(sp))
        self.fixed = torch.zeros_like(w)
        self.mask = torch.zeros_like(w, dtype=torch.bool)
        n = w.numel()
        self.order = torch.from_numpy(np.asarray(order, np.int64))   # graph position f: torch element order[f]
        self.block = n
        self.beta = torch.ones(1)
        self.code: G.GeneratedCode | None = None

    @property
    def n(self) -> int:
        return self.m.weight.numel()

    def set_blocks(self, blocks: int, beta: float) -> None:
        self.block = -(-self.n // max(1, blocks))
        self.beta = torch.full((-(-self.n // self.block),), beta)

    def moments(self) -> tuple[torch.Tensor, torch.Tensor]:
        mu = torch.where(self.mask, self.fixed, self.m.weight)
        var = torch.where(self.mask, torch.zeros_like(mu), torch.exp(2 * self.log_s))
        return mu, var

    def kl_flat(self) -> torch.Tensor:
        """KL (nats) per weight in graph order; 0 where fixed."""
        mu, s2, sp = self.m.weight, torch.exp(2 * self.log_s), torch.exp(self.log_sp)
        kl = self.log_sp - self.log_s + (s2 + mu * mu) / (2 * sp * sp) - 0.5
        kl = torch.where(self.mask, torch.zeros_like(kl), kl)
        return kl.reshape(-1)[self.order]

    def kl_blocks(self) -> torch.Tensor:
        kl = self.kl_flat()
        pad = self.beta.numel() * self.block - kl.numel()
        return F.pad(kl, (0, pad)).reshape(-1, self.block).sum(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, var = self.moments()
        m = self.m
        if isinstance(m, nn.Linear):
            mean, v = F.linear(x, mu, m.bias), F.linear(x * x, var)
        else:
            kw = dict(stride=m.stride, padding=m.padding, dilation=m.dilation, groups=m.groups)
            mean, v = F.conv2d(x, mu, m.bias, **kw), F.conv2d(x * x, var, None, **kw)
        if not torch.is_grad_enabled():
            return mean
        return mean + torch.sqrt(v + 1e-16) * torch.randn_like(mean)

    def scale(self) -> float:
        return float(torch.exp(self.log_sp)) / SIGMA_CODES


@dataclass
class GeneratedResult:
    codes: dict[str, G.GeneratedCode]            # layer -> its program (graph order)
    scales: dict[str, float]                     # layer -> int8 weight scale
    history: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)


def _layers(model: nn.Module, config: GeneratedConfig, example: torch.Tensor) -> dict[str, VarLayer]:
    orders = graph_orders(model, example)
    return {name: VarLayer(name, m, config, orders[name]) for name, m in model.named_modules()
            if isinstance(m, (nn.Linear, nn.Conv2d))}


def graph_orders(model: nn.Module, example: torch.Tensor) -> dict[str, np.ndarray]:
    """Per conv / fully connected layer, the torch flat index of the weight at each flat position
    of its tensor in the captured graph, where the .lvn's blocks are cut: OHWI for a conv's OIHW,
    and a Linear after a flattened feature map has its columns in the map's NHWC order. Found by
    capturing a copy whose weights are their own indices (exact in float32 below 2^24)."""
    import copy

    from levin.ir.capture import capture

    probe = copy.deepcopy(model).eval()
    layers = {name: m for name, m in probe.named_modules() if isinstance(m, (nn.Linear, nn.Conv2d))}
    with torch.no_grad():
        for m in layers.values():
            if m.weight.numel() >= 1 << 24:
                raise ValueError(f"a layer of {m.weight.numel()} weights: indices not exact in float32")
            m.weight.copy_(torch.arange(m.weight.numel(), dtype=torch.float32).reshape(m.weight.shape))
            if m.bias is not None:
                m.bias.zero_()
    graph = capture(probe, example)
    out = {}
    for name in layers:
        t = graph.tensors.get(f"{name}.weight")
        order = None if t is None else np.rint(t.data.reshape(-1)).astype(np.int64)
        if order is None or not np.array_equal(np.sort(order), np.arange(layers[name].weight.numel())):
            raise ValueError(f"layer {name!r}: its captured weights are not a permutation of the module's "
                             f"(a BatchNorm folded into it?); generated coding needs them one to one")
        out[name] = order
    return out


def _patch(model: nn.Module, layers: dict[str, VarLayer]) -> Callable[[], None]:
    """Route each layer's forward through its VarLayer; returns the undo."""
    for v in layers.values():
        v.m.forward = v.forward
    def undo() -> None:
        for v in layers.values():
            del v.m.forward
    return undo


def _error(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    model.train()
    return float((pred != y).float().mean())


def _epochs(model, layers, params, x, y, epochs: float, config: GeneratedConfig, gen: torch.Generator,
            target_nats: float | None, beta: list[float], log: Callable[[str], None], what: str) -> None:
    """Train for `epochs`; with `target_nats` one global beta (beta[0]) holds the total KL to it,
    else each block's beta holds its KL to kl_bits."""
    opt = torch.optim.Adam([{"params": params[0]}, {"params": params[1], "lr": config.lr_s}], lr=config.lr)
    n = len(x)
    steps = max(1, int(epochs * n / config.batch_size))
    kl_target = (config.kl_bits or config.bits) * math.log(2)
    up, t0 = 1 + config.eps, time.perf_counter()
    for step in range(steps):
        i = torch.randint(0, n, (config.batch_size,), generator=gen)
        loss_data = F.cross_entropy(model(x[i]), y[i])
        kls = {k: v.kl_blocks() for k, v in layers.items()}
        if target_nats is not None:
            total = sum(k.sum() for k in kls.values())
            loss = loss_data + beta[0] * total / n
            beta[0] *= up if float(total.detach()) > target_nats else 1 / up
        else:
            loss = loss_data + sum((v.beta * kls[k]).sum() for k, v in layers.items()) / n
            for k, v in layers.items():
                over = kls[k].detach() > kl_target
                v.beta = torch.where(over, v.beta * up, v.beta / up)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 200 == 0 or step == steps - 1:
            bits = sum(float(k.detach().sum()) for k in kls.values()) / math.log(2)
            log(f"{what} step {step}/{steps}: loss {float(loss_data.detach()):.3f}, KL {bits:,.0f} bits, "
                f"{time.perf_counter() - t0:.0f} s")


def train_generated(model: nn.Module, x_train: np.ndarray, y_train: np.ndarray, x_val: np.ndarray,
                    y_val: np.ndarray, config: GeneratedConfig = GeneratedConfig(),
                    log: Callable[[str], None] = print) -> GeneratedResult:
    """Train `model` (its weights the posterior means, warm) and code every conv / fully
    connected weight as a generated program (module docstring). The model's weights end as the
    generated codes times their scales; errors in the history are on (x_val, y_val)."""
    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    x, y = torch.from_numpy(x_train), torch.from_numpy(y_train)
    xv, yv = torch.from_numpy(x_val), torch.from_numpy(y_val)
    layers = _layers(model, config, x[:1])
    undo = _patch(model, layers)
    history: list[dict[str, Any]] = []
    params = (list(model.parameters()) + [v.log_sp for v in layers.values()], [v.log_s for v in layers.values()])
    try:
        model.train()
        beta = [1.0]
        _epochs(model, layers, params, x, y, config.budget_epochs, config, gen,
                config.budget_bits * math.log(2), beta, log, "budget")
        kl_layer = {k: float(v.kl_blocks().sum()) / math.log(2) for k, v in layers.items()}
        kl_bits = config.kl_bits or config.bits
        for k, v in layers.items():
            v.set_blocks(max(1, round(kl_layer[k] / kl_bits)), beta[0])
        history.append({"phase": "budget", "val_error": _error(model, xv, yv), "kl_bits": kl_layer,
                        "blocks": {k: int(v.beta.numel()) for k, v in layers.items()},
                        "block": {k: v.block for k, v in layers.items()}})
        log(f"budget: {history[-1]}")
        _epochs(model, layers, params, x, y, config.block_epochs, config, gen, None, beta, log, "blocks")
        history.append({"phase": "blocks", "val_error": _error(model, xv, yv),
                        "kl_bits": {k: float(v.kl_blocks().sum()) / math.log(2) for k, v in layers.items()}})
        log(f"blocks: {history[-1]}")
        # code the blocks in random groups, retraining the rest between groups; the prior's
        # sigma (and with it each layer's int8 grid) is frozen from here on
        for v in layers.values():
            v.log_sp.requires_grad_(False)
            v.code = G.empty_code(v.n, v.block, config.bits, SIGMA16, seed=int(rng.integers(1, 128)))
        order = [(k, b) for k, v in layers.items() for b in range(v.beta.numel())]
        rng.shuffle(order)
        groups = np.array_split(np.arange(len(order)), config.groups)
        sample_rng = np.random.default_rng(config.seed + 1) if config.sample else None
        for gi, grp in enumerate(groups):
            t0 = time.perf_counter()
            for k in layers:
                v = layers[k]
                blocks = np.array([b for kk, b in (order[j] for j in grp) if kk == k], dtype=np.int64)
                if not blocks.size:
                    continue
                with torch.no_grad():
                    scale = v.scale()
                    mu = (v.m.weight.reshape(-1)[v.order] / scale).double().numpy()
                    s = (torch.exp(v.log_s).reshape(-1)[v.order] / scale).double().numpy()
                    v.code = G.encode_blocks(v.code, blocks, mu, s, SIGMA_CODES, sample_rng)
                    codes = torch.from_numpy(v.code.codes().astype(np.float32))
                    fixed_flat = torch.zeros(v.n)
                    fixed_flat[v.order] = codes * scale
                    sel = torch.zeros(v.n, dtype=torch.bool)
                    pos = (torch.from_numpy(blocks)[:, None] * v.block + torch.arange(v.block)).reshape(-1)
                    sel[v.order[pos[pos < v.n]]] = True
                    v.fixed = torch.where(v.mask, v.fixed, fixed_flat.reshape(v.m.weight.shape))
                    v.mask = v.mask | sel.reshape(v.m.weight.shape)
            err = _error(model, xv, yv)
            history.append({"phase": f"group {gi + 1}/{len(groups)}", "val_error": err,
                            "code_s": time.perf_counter() - t0})
            log(f"coded group {gi + 1}/{len(groups)} ({len(grp)} blocks, {time.perf_counter() - t0:.0f} s): "
                f"validation error {100 * err:.2f}%")
            if gi + 1 < len(groups) and config.retrain_epochs > 0:
                _epochs(model, layers, ([p for p in params[0] if p.requires_grad], params[1]), x, y, config.retrain_epochs,
                        config, gen, None, beta, log, f"retrain {gi + 1}")
    finally:
        undo()
    with torch.no_grad():
        for v in layers.values():
            v.m.weight.copy_(v.fixed)
    model.eval()
    result = GeneratedResult({k: v.code for k, v in layers.items()}, {k: v.scale() for k, v in layers.items()},
                             history, asdict(config))
    history.append({"phase": "coded", "val_error": _error(model, xv, yv)})
    return result
