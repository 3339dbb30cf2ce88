"""`train_mdl`: retrain with the code-length term, snap, quantize, code, and compare the sizes.

Read me first. `levin.train.loop.train` has no way to add a term to its loss, so this module
keeps its own short loop, with the same seeded batch order ((seed, epoch) permutation), the same
cosine learning rate, and the same `shift` augmentation. Per step:

    loss = cross_entropy + lam * ln 2 * (sum over layers of prior NLL bits + hyper-prior bits) / N

where N is the number of training samples (module docstring of `levin.config.mdl`); with
`final_sigma` < 1 every prior's width cap shrinks geometrically over the steps, and at the
`prune_at` fractions of the steps the weights whose removal shortens the two-part code become
held zeros (`saliency`). Then:

1. the soft code length (`MixturePrior.code_bits`) is recorded: what training optimized;
2. the weights snap to their components (`snap`); with `remove_dead` the units no weight uses
   any more are folded and cut (`dead`); with `finetune_epochs` the codebooks are
   fine-tuned with zeros and assignments held and put back on the int8 grid (`finetune`);
3. the integer graph is built (`export`) and each snapped tensor's size is *predicted* from its
   codes before coding (`levin.coding.estimate`: order-0 entropies of the index and gap streams
   under their own empirical distributions, plus the exact tables, codebook and headers);
4. the graph is coded; the prediction is compared with the tensors' coded bodies, and the whole
   file with prediction + the bytes no estimate covers (graph, biases, scales, framing, header).
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from levin.coding import container
from levin.coding.entropy_model import empirical_entropy_bits
from levin.config import CodeConfig, TrainConfig
from levin.config.mdl import MDLConfig
from levin.errors import LevinError
from levin.ir.graph import Graph
from levin.coding.cost import LevinCost, levin_cost
from levin.coding.estimate import estimate_tensor
from levin.coding.weights import encode_tensor
from levin.mdl.export import integer_graph
from levin.mdl.finetune import finetune_codebooks, regrid
from levin.mdl.prior import MixturePrior
from levin.mdl.saliency import fisher_diag, mdl_prune
from levin.mdl.dead import remove_dead_units
from levin.mdl.snap import rebase, snap
from levin.prune.masks import select_layers
from levin.quant.bias_precision import choose_fractions
from levin.quant.pipeline import integer_outputs
from levin.train.data import Dataset
from levin.train.loop import evaluate, random_shift, task_loss

LN2 = math.log(2.0)


@dataclass
class MDLResult:
    model: nn.Module                     # snapped float model (weights = scale * code)
    graph: Graph                         # the integer graph in the file
    lvn: bytes
    predicted_weight_bits: float         # differentiable (soft) estimate at the end of training
    estimated_weight_bytes: float        # the snapped codes' chains, from entropies (coding.estimate)
    weight_bytes: int                    # bytes of the snapped weight tensors' bodies in the file
    cost: LevinCost
    float_error: float                   # before snapping
    snapped_error: float                 # snapped float model, right after the snap
    tuned_error: float                   # snapped float model after the codebook fine-tune
    integer_error: float                 # the integer graph in the file (reference interpreter)
    history: list[dict[str, float]]
    layers: dict[str, dict[str, Any]]
    wall_s: float
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def file_bytes(self) -> int:
        return len(self.lvn)

    @property
    def predicted_bytes(self) -> float:
        """The weight estimate plus the bytes it does not model (graph, biases, scales, header),
        as measured in the file: the difference to the file is the weight estimate's error."""
        return self.estimated_weight_bytes + self.file_bytes - self.weight_bytes

    @property
    def estimate_error(self) -> float:
        """(predicted - actual) / actual, of the whole file."""
        return self.predicted_bytes / self.file_bytes - 1.0

    @property
    def weight_estimate_error(self) -> float:
        """(estimated - actual) / actual, of the snapped weight tensors alone."""
        return self.estimated_weight_bytes / self.weight_bytes - 1.0

    def to_dict(self) -> dict[str, Any]:
        return {"file_bytes": self.file_bytes, "predicted_bytes": self.predicted_bytes,
                "estimate_error": self.estimate_error,
                "estimated_weight_bytes": self.estimated_weight_bytes,
                "weight_estimate_error": self.weight_estimate_error,
                "predicted_weight_bytes_soft": self.predicted_weight_bits / 8,
                "weight_bytes": self.weight_bytes, "other_bytes": self.file_bytes - self.weight_bytes,
                "float_error": self.float_error, "snapped_error": self.snapped_error,
                "tuned_error": self.tuned_error,
                "integer_error": self.integer_error, **self.cost.to_dict(), "layers": self.layers,
                "history": self.history, "wall_s": self.wall_s, **self.extra}


def _priors(model: nn.Module, config: MDLConfig) -> dict[str, MixturePrior]:
    layers = select_layers(model, config.include, config.exclude)
    if not layers:
        raise LevinError("MDL training found no Conv2d/Linear layer to code (check include/exclude)")
    return {name: MixturePrior(m.weight, config.components, config.zero_mix, config.init_sigma,
                               config.gamma_alpha, config.gamma_beta) for name, m in layers.items()}


def _complexity_bits(model, priors) -> torch.Tensor:
    return sum(p.nll_bits(model.get_submodule(n).weight) + p.hyperprior_bits() for n, p in priors.items())


@torch.no_grad()
def code_length_bits(model: nn.Module, priors: dict[str, MixturePrior]) -> dict[str, float]:
    """The differentiable code-length estimate of each layer's weights, in bits (no_grad here)."""
    return {n: float(p.code_bits(model.get_submodule(n).weight)) for n, p in priors.items()}


def _error(model, data) -> float:
    return 1.0 - evaluate(model, data.x_test, data.y_test)


def _integer_error(graph: Graph, data: Dataset) -> float:
    codes = integer_outputs(graph, data.x_test)
    return float((codes.reshape(len(codes), -1).argmax(1) != data.y_test).mean())


def fit(model: nn.Module, priors: dict[str, MixturePrior], data: Dataset, config: MDLConfig,
        train: TrainConfig, progress: bool = True, max_steps: int | None = None,
        teacher: nn.Module | None = None) -> list[dict]:
    """Train `model` and `priors` together on the MDL loss (module docstring); return the history.
    With a `teacher` and `train.distill_alpha` > 0 the data term is the distillation loss."""
    if train.distill_alpha > 0 and teacher is None:
        raise LevinError("distill_alpha > 0 needs a teacher model")
    if teacher is not None:
        teacher.eval()
    weights = [p for p in model.parameters() if p.requires_grad]
    prior_params = [q for p in priors.values() for q in p.parameters()]
    opt_w = torch.optim.Adam(weights, lr=train.lr)
    opt_p = torch.optim.Adam(prior_params, lr=config.prior_lr)
    n = len(data.x_train)
    steps_per_epoch = math.ceil(n / train.batch_size)
    total = train.epochs * steps_per_epoch if max_steps is None else min(max_steps, train.epochs * steps_per_epoch)
    x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    scale = config.lam * LN2 / n
    history, step, started = [], 0, time.perf_counter()
    # MDL pruning (`saliency`): the start's zeros and every weight pruned since stay zero.
    masks = {n: (model.get_submodule(n).weight.detach() != 0).to(torch.float32) for n in priors} \
        if config.prune_at else None
    events = sorted({int(f * total) for f in config.prune_at})
    pruned: dict[str, int] = {}
    for epoch in range(train.epochs):
        if step >= total:
            break
        order = torch.from_numpy(np.random.default_rng([train.seed, epoch]).permutation(n))
        model.train()
        sums = {"ce": 0.0, "seen": 0}
        bar = tqdm(total=steps_per_epoch, disable=not progress or None, leave=False, file=sys.stderr,
                   desc=f"mdl epoch {epoch + 1}/{train.epochs}")
        for i in range(steps_per_epoch):
            if step >= total:
                break
            idx = order[i * train.batch_size:(i + 1) * train.batch_size]
            x, y = x_all[idx], y_all[idx]
            if train.shift:
                x = random_shift(x, train.shift, np.random.default_rng([train.seed, epoch, i]))
            frac = 0.5 * (1.0 + math.cos(math.pi * step / total))
            for g in opt_w.param_groups:
                g["lr"] = train.lr * frac
            for g in opt_p.param_groups:
                g["lr"] = config.prior_lr * frac
            if config.final_sigma < 1.0:
                shrink = config.final_sigma ** (step / max(total - 1, 1))
                for p in priors.values():
                    p.shrink(shrink)
            if masks is not None and step in events:
                fisher = fisher_diag(model, list(priors), data, config.prune_batches, train.batch_size,
                                     train.seed + step, train.shift)
                gone = mdl_prune(model, priors, masks, fisher, config.lam, config.prune_max_fraction)
                pruned = {n: pruned.get(n, 0) + k for n, k in gone.items()}
                if progress:
                    left = {n: int(m.sum()) for n, m in masks.items()}
                    print(f"mdl prune at step {step}: removed {gone}, nonzero left {left}", file=sys.stderr)
            logits = model(x)
            ce = F.cross_entropy(logits, y)
            data_loss = ce
            if teacher is not None and train.distill_alpha > 0:
                with torch.no_grad():
                    teacher_logits = teacher(x)
                data_loss = task_loss(logits, y, train, teacher_logits)
            loss = data_loss + scale * _complexity_bits(model, priors)
            opt_w.zero_grad(set_to_none=True)
            opt_p.zero_grad(set_to_none=True)
            loss.backward()
            opt_w.step()
            opt_p.step()
            if masks is not None:
                with torch.no_grad():
                    for layer, m in masks.items():
                        model.get_submodule(layer).weight.mul_(m)
            sums["ce"] += float(ce.detach()) * len(idx)
            sums["seen"] += len(idx)
            step += 1
            bar.update(1)
        bar.close()
        bits = sum(code_length_bits(model, priors).values())
        record = {"epoch": epoch + 1, "cross_entropy": sums["ce"] / max(sums["seen"], 1),
                  "predicted_weight_bytes": bits / 8, "test_error": _error(model, data),
                  "elapsed_s": time.perf_counter() - started}
        if masks is not None:
            record["mdl_pruned"] = sum(pruned.values())
        history.append(record)
        if progress:
            print(f"mdl epoch {epoch + 1:3d}/{train.epochs}  ce {record['cross_entropy']:.4f}  "
                  f"weights ~{bits / 8:,.0f} B  {data.split.get('scored', 'test')} err "
                  f"{100 * record['test_error']:.2f}%  "
                  f"{record['elapsed_s']:.0f}s", file=sys.stderr)
    return history


def _layer_report(priors, snapped, bits, estimates, bodies, report) -> dict[str, dict[str, Any]]:
    by_name = {t.name: t for t in report.tensors}
    out = {}
    for name, s in snapped.items():
        t = by_name.get(f"{name}.weight")
        e = estimates[name]
        out[name] = {"weights": int(s.codes.size), "shape": list(s.codes.shape), "nonzero": s.nonzero,
                     "distinct": int(np.unique(s.codes).size), "predicted_bytes_soft": bits[name] / 8,
                     "estimated_bytes": e.nbytes, "estimated_chain": e.chain,
                     "body_bytes": bodies[name], "file_bytes": t.nbytes if t else None,
                     "chain": t.chain if t else None,
                     "scale": float(s.scale), "prior": priors[name].summary()}
    return out


def train_mdl(model: nn.Module, data: Dataset, config: MDLConfig = MDLConfig(),
              train_config: TrainConfig = TrainConfig(optimizer="adam", lr=5e-4, epochs=10),
              out_dir: str | Path | None = None, progress: bool = True, *,
              code: CodeConfig | None = None, max_steps: int | None = None,
              name: str | None = None, teacher: nn.Module | None = None) -> MDLResult:
    """Description-length training of `model` (in place) on `data`; see `levin.mdl`.

    Args:
        train_config: epochs, batch size, lr (weights, Adam), seed and shift augmentation; its
            optimizer and weight decay are not used (the prior replaces weight decay).
        out_dir: if given, write `model.lvn` and `mdl.json` there.
        max_steps: stop after this many optimizer steps (tests).
        teacher: distil from it while training (`train_config.distill_alpha` > 0).
    """
    started = time.perf_counter()
    priors = _priors(model, config)
    history = fit(model, priors, data, config, train_config, progress, max_steps, teacher)
    float_error = _error(model, data)
    bits = code_length_bits(model, priors)
    snapped = snap(model, priors)
    dead = []
    if config.remove_dead:      # exact: fold constant units into biases, cut unread ones
        dead = remove_dead_units(model, torch.from_numpy(data.x_train[:2]))
        snapped = {n: rebase(model.get_submodule(n), s) for n, s in snapped.items()}
    # The soft estimate in the limit of hard responsibilities: the entropy of the argmax assignment.
    hard = sum(empirical_entropy_bits(np.bincount(s.components.reshape(-1))) for s in snapped.values())
    snapped_error = tuned_error = _error(model, data)
    if config.finetune_epochs > 0:
        finetune_codebooks(model, list(snapped), data, config.finetune_epochs, config.finetune_lr,
                           train_config.batch_size, train_config.seed, train_config.shift, progress)
        snapped = {n: regrid(model.get_submodule(n), s) for n, s in snapped.items()}
        tuned_error = _error(model, data)
    graph = integer_graph(model, data, snapped, config.calibration_size, name)
    if config.round_biases:
        graph = choose_fractions(graph, lambda g: _integer_error(g, data))[0]
    # The prediction, made before coding: each snapped tensor as the coder will see it (graph layout).
    code = code or CodeConfig()
    estimates, bodies = {}, {}
    for layer in snapped:
        tensor = next(n for n in graph.nodes if n.name == layer).inputs[1]
        cfg = code.for_tensor(tensor)
        estimates[layer] = estimate_tensor(graph.tensors[tensor].data, cfg.gap_bits)
        # What the file holds for it: the same encoder the container runs (its section adds only
        # framing, a CRC and the tensor's graph record, which count as other bytes).
        bodies[layer] = len(encode_tensor(graph.tensors[tensor].data, cfg, tensor, context=True).body)
    lvn = container.encode(graph, code)
    report = container.inspect(lvn)
    integer_error = _integer_error(graph, data)
    weight_bytes = sum(bodies.values())
    result = MDLResult(model, graph, lvn, sum(bits.values()), sum(e.nbytes for e in estimates.values()),
                       weight_bytes, levin_cost(report), float_error, snapped_error, tuned_error,
                       integer_error, history, _layer_report(priors, snapped, bits, estimates, bodies, report),
                       time.perf_counter() - started, {"predicted_weight_bytes_hard": hard / 8, "dead_units": dead,
                                                       "config": config.to_dict(),
                                                       "train_config": train_config.to_dict()})
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "model.lvn").write_bytes(lvn)
        (out / "mdl.json").write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
