"""The step kinds of a recipe, each registered once with everything levin knows about it.

Read me first. A step kind is one `@step_kind(...)` registration: its YAML key, its pass's
config class, the function that runs it on the model, how to replay its structural changes on a
fresh model when a finished step is reloaded (so the saved weights fit), and its place in the
order rules (a step that fixes each layer's values, such as sharing, may not be followed by one
that removes weights). The recipe parser (`recipe.py`) and the pipeline (`pipeline.py`) read
`STEPS`; adding a step kind is adding one function here.

A runner takes (model, ctx, step, folder): the model to change in place, the run's
`StepContext`, the parsed `recipe.Step`, and the folder for its checkpoints (None in memory).
It returns a JSON-able dict of what it did, stored with the step and handed back to `replay`.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from levin import metrics
from levin.config import ChannelPruneConfig, MDLConfig, NMConfig, PruneConfig, ShareConfig, TrainConfig
from levin.errors import LevinError
from levin.prune.channel import prune_channels
from levin.prune.depgraph import DependencyGraph
from levin.prune.finetune import prune_and_finetune
from levin.prune.magnitude import prune
from levin.prune.masks import select_layers
from levin.prune.nm import prune_nm
from levin.share import holds
from levin.share.kmeans import share
from levin.train.data import Dataset
from levin.train.loop import score, train


@dataclass
class StepContext:
    """What the steps of one run share: data, recipe, training base (its `task` is the run's),
    the metric scores are in (`top_k` for classification), and the layers whose zeros (`sparse`)
    and values (`shared`) earlier steps fixed."""

    data: Dataset
    recipe: Any                       # recipe.Recipe
    base_train: TrainConfig
    model_name: str
    out: Path | None
    teacher: nn.Module | None
    progress: bool
    top_k: int = 1
    sparse: set[str] = field(default_factory=set)
    shared: set[str] = field(default_factory=set)

    @property
    def scored_task(self) -> str:
        """What the steps are scored by: the task's metric (`metrics.tuning_task`: an anomaly
        detector held out on normal samples only is scored by its reconstruction error)."""
        return metrics.tuning_task(self.base_train.task, self.data.y_test)

    def evaluate(self, model: nn.Module) -> float:
        """`model`'s headline score on the split the steps are scored on (`scored_task`)."""
        return score(model, self.data.x_test, self.data.y_test, self.scored_task, top_k=self.top_k,
                     output=self.base_train.output).value

    def log(self, message: str) -> None:
        if self.progress:
            print(message, file=sys.stderr, flush=True)


Runner = Callable[[nn.Module, StepContext, Any, "Path | None"], dict]
Replay = Callable[[nn.Module, StepContext, dict], None]


@dataclass(frozen=True)
class StepKind:
    name: str
    config: type | None               # the pass's frozen config; None: the step only fine-tunes
    run: Runner
    replay: Replay | None = None      # redo structural changes (removed channels) on a fresh model
    fixes_values: bool = False        # later fine-tuning keeps each layer's values (a codebook)
    removes_weights: bool = False     # refused after a step that fixes values


STEPS: dict[str, StepKind] = {}


def step_kind(name: str, config: type | None = None, *, replay: Replay | None = None,
              fixes_values: bool = False, removes_weights: bool = False):
    """Register the decorated runner as the step kind `name` (its YAML key)."""
    def register(run: Runner) -> Runner:
        if name in STEPS:
            raise ValueError(f"step kind {name!r} is registered twice")
        STEPS[name] = StepKind(name, config, run, replay, fixes_values, removes_weights)
        return run
    return register


# --- helpers the runners share --------------------------------------------------------------------


def _finetune(model: nn.Module, ctx: StepContext, step, folder: Path | None) -> float:
    config = ctx.recipe.train_config(ctx.base_train, step)
    if config is None:
        return ctx.evaluate(model)
    return train(model, ctx.data, config, folder, model_name=ctx.model_name, teacher=ctx.teacher,
                 progress=ctx.progress).test_accuracy


def _batches(data: Dataset, batch_size: int = 64, seed: int = 0):
    order = np.random.default_rng(seed).permutation(len(data.x_train))
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        yield torch.from_numpy(data.x_train[idx]), torch.from_numpy(data.y_train[idx])


def example_input(data: Dataset) -> torch.Tensor:
    return torch.from_numpy(data.x_train[:2])


# --- the step kinds -------------------------------------------------------------------------------


@step_kind("prune", PruneConfig, removes_weights=True)
def _run_prune(model, ctx, step, folder) -> dict:
    holds.hold(model, ctx.sparse, ctx.shared)
    config = ctx.recipe.train_config(ctx.base_train, step)
    ctx.sparse |= set(select_layers(model, step.config.include, step.config.exclude))
    if config is None:                       # no fine-tuning: straight to the target
        prune(model, step.config)
        return {"stages": [{"stage": "one_shot", "sparsity": step.config.sparsity}]}
    result = prune_and_finetune(model, ctx.data, step.config, config, folder, model_name=ctx.model_name,
                                teacher=ctx.teacher, progress=ctx.progress)
    return {"stages": result.stages}


@step_kind("nm", NMConfig, removes_weights=True)
def _run_nm(model, ctx, step, folder) -> dict:
    holds.hold(model, ctx.sparse, ctx.shared)
    result = prune_nm(model, step.config, example_input(ctx.data))
    ctx.sparse |= set(result.masks)
    before = ctx.evaluate(model)
    _finetune(model, ctx, step, folder and folder / "finetune")
    return {"accuracy_before_finetune": before, "skipped_layers": dict(result.skipped)}


def _replay_channels(model, ctx, info) -> None:
    if info.get("removed"):
        DependencyGraph(model, example_input(ctx.data)).prune({int(g): v for g, v in info["removed"].items()})


@step_kind("channels", ChannelPruneConfig, replay=_replay_channels, removes_weights=True)
def _run_channels(model, ctx, step, folder) -> dict:
    result = prune_channels(model, example_input(ctx.data), step.config, _batches(ctx.data))
    before = ctx.evaluate(model)
    holds.hold(model, ctx.sparse, ctx.shared)
    _finetune(model, ctx, step, folder and folder / "finetune")
    return {"accuracy_before_finetune": before,
            "removed": {str(i): g["removed"] for i, g in enumerate(result.groups) if g["removed"]},
            "groups": [{k: g[k] for k in ("producers", "before", "after")} for g in result.groups],
            "removed_channels": sum(len(g["removed"]) for g in result.groups)}


@step_kind("share", ShareConfig, fixes_values=True)
def _run_share(model, ctx, step, folder) -> dict:
    holds.release(model)
    books = share(model, step.config)
    holds.hold(model, ctx.sparse - set(books), ())     # layers outside the codebooks keep their zeros
    before = ctx.evaluate(model)
    _finetune(model, ctx, step, folder and folder / "finetune")
    ctx.shared |= set(books)
    return {"accuracy_before_finetune": before, "bits": {n: b.bits for n, b in books.items()}}


def _replay_mdl(model, ctx, info) -> None:
    if info.get("dead_units"):
        from levin.mdl.dead import replay_cuts
        replay_cuts(model, example_input(ctx.data), info["dead_units"])


@step_kind("mdl", MDLConfig, replay=_replay_mdl, fixes_values=True)
def _run_mdl(model, ctx, step, folder) -> dict:
    from levin.mdl import train_mdl

    config = ctx.recipe.train_config(ctx.base_train, step)
    if config is None:
        raise LevinError("an mdl step trains: give it finetune epochs >= 1")
    holds.release(model)
    result = train_mdl(model, ctx.data, step.config, config, folder, progress=ctx.progress,
                       name=ctx.model_name, code=ctx.recipe.code, teacher=ctx.teacher)
    ctx.sparse |= set(result.layers)
    ctx.shared |= set(result.layers)          # snapped: later fine-tuning keeps the codebooks
    return {"mdl_file_bytes": result.file_bytes, "predicted_bytes": result.predicted_bytes,
            "soft_estimate_bits": result.predicted_weight_bits, "integer_error": result.integer_error,
            "levin_cost": result.cost.cost, "dead_units": result.extra["dead_units"]}


@step_kind("finetune")
def _run_finetune(model, ctx, step, folder) -> dict:
    holds.hold(model, ctx.sparse, ctx.shared)
    _finetune(model, ctx, step, folder and folder / "finetune")
    return {}
