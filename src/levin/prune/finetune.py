"""Prune and fine-tune with the training loop: one-shot, iterative (Han et al.) or AGP.

The training loop is used as it is: masks are parametrizations (levin.prune.masks) and AGP's
mask updates run in its `on_step` callback. With `out_dir`, each fine-tuning run checkpoints in
its own folder (`round1`, `round2`, ... or `agp`), so an interrupted run resumes where it
stopped and finished rounds are not redone.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from levin.config import PruneConfig, TrainConfig
from levin.prune import schedule
from levin.prune.magnitude import prune
from levin.prune.masks import sparsity_report
from levin.train import checkpoint
from levin.train.data import Dataset
from levin.train.loop import FINAL, score, train


@dataclass
class PruneResult:
    model: nn.Module                     # still masked: call remove_masks before capture
    accuracy: float                      # on data's scored split: test, or validation (Dataset.tuning)
    report: dict[str, Any]               # masks.sparsity_report of the final model
    stages: list[dict[str, Any]] = field(default_factory=list)   # per round: sparsity, accuracy
    wall_s: float = 0.0


class GradualPruner:
    """`on_step` callback: raises sparsity along an AGP schedule during one `train()` run.

    Build it before calling `train()`: it registers the (all-ones) masks at once, so the
    optimizer `train()` builds already sees the masked parameters.
    """

    def __init__(self, model: nn.Module, config: PruneConfig, steps_per_epoch: int,
                 total_steps: int):
        self.model, self.config, self.steps_per_epoch = model, config, steps_per_epoch
        self.schedule = schedule.AGPSchedule.from_config(config, total_steps)
        self.updates = 0
        self.prune_to(0)

    def prune_to(self, step: int) -> None:
        final = self.config.sparsity
        prune(self.model, self.config, self.schedule.sparsity(final, step),
              {n: self.schedule.sparsity(s, step) for n, s in self.config.layer_sparsity.items()})

    def __call__(self, epoch: int, step: int) -> None:
        done = epoch * self.steps_per_epoch + step + 1
        if self.schedule.updates_at(done):
            self.prune_to(done)
            self.updates += 1


def _round_dir(out_dir: Path | None, name: str) -> Path | None:
    return out_dir / name if out_dir is not None else None


def prune_and_finetune(model: nn.Module, data: Dataset, config: PruneConfig, train_config: TrainConfig,
                       out_dir: str | Path | None = None, *, model_name: str = "custom",
                       teacher: nn.Module | None = None, progress: bool = True) -> PruneResult:
    """Prune `model` (in place) to `config`'s targets on `config.schedule`, fine-tuning with
    `train_config`: once for one-shot and AGP, once per round for iterative.

    Returns a PruneResult; its model keeps its masks (call `remove_masks` before capture).
    """
    out = Path(out_dir) if out_dir is not None else None
    scored_on = data.split.get("scored", "test")
    stages: list[dict[str, Any]] = []
    wall = 0.0

    def finetune(name: str, on_step=None) -> float:
        nonlocal wall
        result = train(model, data, train_config, _round_dir(out, name), model_name=model_name,
                       teacher=teacher, on_step=on_step, progress=progress)
        wall += result.wall_s
        return result.test_accuracy

    if config.schedule == "agp":
        steps_per_epoch = math.ceil(len(data.x_train) / train_config.batch_size)
        pruner = GradualPruner(model, config, steps_per_epoch, train_config.epochs * steps_per_epoch)
        accuracy = finetune("agp", pruner)
        stages.append({"stage": "agp", "sparsity": config.sparsity, "accuracy": accuracy,
                       "scored_on": scored_on, "mask_updates": pruner.updates})
    else:
        rounds = config.rounds if config.schedule == "iterative" else 1
        for r in range(1, rounds + 1):
            target = (schedule.iterative(config.sparsity, r, rounds) if rounds > 1
                      else schedule.one_shot(config.sparsity))
            layer = {n: (schedule.iterative(s, r, rounds) if rounds > 1 else s)
                     for n, s in config.layer_sparsity.items()}
            prune(model, config, target, layer)
            pruned_accuracy = score(model, data.x_test, data.y_test, train_config.task, output=train_config.output).value
            name = f"round{r}"
            done = _round_dir(out, name)
            if done is not None and (done / FINAL).exists():     # finished before: reuse it
                checkpoint.load(done / FINAL, model)
                accuracy = score(model, data.x_test, data.y_test, train_config.task, output=train_config.output).value
            else:
                accuracy = finetune(name)
            stages.append({"stage": name, "sparsity": target, "accuracy_before_finetune":
                           pruned_accuracy, "accuracy": accuracy, "scored_on": scored_on})
    with torch.no_grad():
        report = sparsity_report(model, config.include, config.exclude)
    return PruneResult(model, stages[-1]["accuracy"], report, stages, wall)
