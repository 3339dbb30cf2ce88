"""Run a recipe: baseline, each step with its fine-tuning, then freeze to an integer graph and a .lvn.

Read me first. The model is plain between steps; each step
  1. applies its pass (prune, N:M, channels, share) on the constraints of the steps before it
     (levin.compressor.holds: pruned zeros stay zero, shared layers keep their codebooks),
  2. fine-tunes (optionally distilling from the uncompressed model),
  3. bakes its parametrizations and saves the model to `out/steps/NN-kind/model.safetensors`.
A rerun of the same command skips finished steps (after checking they came from the same recipe
and model), resumes an interrupted fine-tuning from its checkpoint, and replays the channel
removals of finished steps so their saved weights fit. The freeze quantizes (QuantConfig), writes
`out/model.lvn` (CodeConfig) and `out/summary.json`.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn

from levin import zoo
from levin.compressor import holds
from levin.compressor.recipe import Recipe, Step
from levin.config import TrainConfig
from levin.errors import CheckpointError, LevinError
from levin.fileio import write_atomic
from levin.ir import Graph
from levin.prune.channel import prune_channels
from levin.prune.depgraph import DependencyGraph
from levin.prune.finetune import prune_and_finetune
from levin.prune.magnitude import prune
from levin.prune.masks import select_layers, sparsity_report
from levin.prune.nm import prune_nm
from levin.share.kmeans import share
from levin.train import checkpoint
from levin.train.data import Dataset
from levin.train.loop import evaluate, train

STEP_FILE = "model.safetensors"


@dataclass
class StepRecord:
    index: int
    kind: str
    test_accuracy: float
    density: float                    # nonzero share of the Conv2d/Linear weights
    params: int
    wall_s: float
    coded_bytes: int = 0              # the layers' weights as int8 (one scale each), entropy-coded
    info: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


@dataclass
class CompressResult:
    model: nn.Module                  # the float model after the last step (plain, no parametrizations)
    graph: Graph                      # the frozen integer graph
    lvn_path: Path | None
    lvn_bytes: int
    baseline_accuracy: float
    float32_bytes: int                # every parameter of the model before compression, as fp32
    steps: list[StepRecord]
    baseline_weights: dict[str, np.ndarray]   # each Conv2d/Linear's float weights before any step
    quantize: Any                     # levin.quant.pipeline.QuantizeResult
    container: Any                    # levin.coding.container.ContainerReport
    wall_s: float
    data: Dataset | None = None       # what it was fine-tuned and tested on

    @property
    def dataset(self) -> str:
        return self.data.name if self.data is not None else ""

    @property
    def integer_accuracy(self) -> float:
        return self.quantize.integer_accuracy


@dataclass
class _Context:
    data: Dataset
    recipe: Recipe
    base_train: TrainConfig
    model_name: str
    out: Path | None
    teacher: nn.Module | None
    progress: bool
    sparse: set[str] = field(default_factory=set)
    shared: set[str] = field(default_factory=set)

    def log(self, message: str) -> None:
        if self.progress:
            print(message, file=sys.stderr, flush=True)


def _step_dir(ctx: _Context, i: int, step: Step) -> Path | None:
    return ctx.out / "steps" / f"{i + 1:02d}-{step.kind}" if ctx.out is not None else None


def layer_weights(model: nn.Module) -> dict[str, np.ndarray]:
    """Each Conv2d/Linear layer's float weights, by module name."""
    return {n: m.weight.detach().cpu().numpy().copy() for n, m in select_layers(model).items()}


def coded_weight_bytes(weights: nn.Module | dict[str, np.ndarray]) -> int:
    """Bytes of the layers' weights quantized to int8 (symmetric, one scale per layer) and coded
    by levin's auto codec: a measured size for every step, without the cost of a full freeze."""
    from levin.coding.weights import encode_tensor

    total = 0
    if isinstance(weights, nn.Module):
        weights = layer_weights(weights)
    for w in weights.values():
        peak = float(np.abs(w).max()) or 1.0
        codes = np.clip(np.round(w / peak * 127), -127, 127).astype(np.int8)
        total += len(encode_tensor(codes).body)
    return total


def _finetune(model: nn.Module, ctx: _Context, step: Step, folder: Path | None) -> float:
    config = ctx.recipe.train_config(ctx.base_train, step)
    if config is None:
        return evaluate(model, ctx.data.x_test, ctx.data.y_test)
    return train(model, ctx.data, config, folder, model_name=ctx.model_name, teacher=ctx.teacher,
                 progress=ctx.progress).test_accuracy


def _batches(data: Dataset, batch_size: int = 64, seed: int = 0):
    order = np.random.default_rng(seed).permutation(len(data.x_train))
    for i in range(0, len(order), batch_size):
        idx = order[i:i + batch_size]
        yield torch.from_numpy(data.x_train[idx]), torch.from_numpy(data.y_train[idx])


def _example(data: Dataset) -> torch.Tensor:
    return torch.from_numpy(data.x_train[:2])


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


def _run_nm(model, ctx, step, folder) -> dict:
    holds.hold(model, ctx.sparse, ctx.shared)
    result = prune_nm(model, step.config, _example(ctx.data))
    ctx.sparse |= set(result.masks)
    before = evaluate(model, ctx.data.x_test, ctx.data.y_test)
    _finetune(model, ctx, step, folder and folder / "finetune")
    return {"accuracy_before_finetune": before, "skipped_layers": dict(result.skipped)}


def _run_channels(model, ctx, step, folder) -> dict:
    result = prune_channels(model, _example(ctx.data), step.config, _batches(ctx.data))
    before = evaluate(model, ctx.data.x_test, ctx.data.y_test)
    holds.hold(model, ctx.sparse, ctx.shared)
    _finetune(model, ctx, step, folder and folder / "finetune")
    return {"accuracy_before_finetune": before,
            "removed": {str(i): g["removed"] for i, g in enumerate(result.groups) if g["removed"]},
            "groups": [{k: g[k] for k in ("producers", "before", "after")} for g in result.groups],
            "removed_channels": sum(len(g["removed"]) for g in result.groups)}


def _run_share(model, ctx, step, folder) -> dict:
    holds.release(model)
    books = share(model, step.config)
    holds.hold(model, ctx.sparse - set(books), ())     # layers outside the codebooks keep their zeros
    before = evaluate(model, ctx.data.x_test, ctx.data.y_test)
    _finetune(model, ctx, step, folder and folder / "finetune")
    ctx.shared |= set(books)
    return {"accuracy_before_finetune": before, "bits": {n: b.bits for n, b in books.items()}}


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


def _run_finetune(model, ctx, step, folder) -> dict:
    holds.hold(model, ctx.sparse, ctx.shared)
    _finetune(model, ctx, step, folder and folder / "finetune")
    return {}


RUNNERS: dict[str, Callable[..., dict]] = {
    "prune": _run_prune, "nm": _run_nm, "channels": _run_channels, "share": _run_share,
    "mdl": _run_mdl, "finetune": _run_finetune,
}


def _settings(step: Step) -> str:
    """The fields a step sets away from their defaults, e.g. "sparsity=0.9, schedule=agp"."""
    if step.config is None:
        return "fine-tune only"
    default = type(step.config)().to_dict()
    changed = {k: v for k, v in step.config.to_dict().items() if default.get(k) != v}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"


def _replay(model: nn.Module, ctx: _Context, step: Step, info: dict) -> None:
    """Redo the structural part of a finished step on a fresh model, so its weights load."""
    if step.kind == "channels" and info.get("removed"):
        DependencyGraph(model, _example(ctx.data)).prune({int(g): v for g, v in info["removed"].items()})
    if step.kind == "mdl" and info.get("dead_units"):
        from levin.mdl.dead import replay_cuts
        replay_cuts(model, _example(ctx.data), info["dead_units"])


def _identity(ctx: _Context, upto: int) -> dict:
    return {"model": ctx.model_name, "dataset": ctx.data.name,
            "steps": [s.to_dict() for s in ctx.recipe.steps[:upto + 1]],
            "finetune": ctx.recipe.finetune, "distill": ctx.recipe.distill}


def _finished(ctx: _Context, i: int, step: Step) -> dict | None:
    folder = _step_dir(ctx, i, step)
    if folder is None or not (folder / STEP_FILE).exists():
        return None
    meta = checkpoint.read_meta(folder / STEP_FILE)
    if meta.get("identity") != json.loads(json.dumps(_identity(ctx, i))):
        raise CheckpointError(f"{folder} was made by another recipe or model; use another --out, "
                              f"or delete {ctx.out / 'steps'} to start over")
    return meta


def _record(model, ctx, i, step, accuracy, wall, info, resumed=False) -> StepRecord:
    with torch.no_grad():
        rep = sparsity_report(model)
    return StepRecord(i + 1, step.kind, accuracy, rep["density"], sum(p.numel() for p in model.parameters()),
                      wall, coded_weight_bytes(model), info, resumed)


def run_steps(model: nn.Module, ctx: _Context) -> list[StepRecord]:
    """Every step of the recipe on `model` (in place), skipping those a previous run finished."""
    records = []
    for i, step in enumerate(ctx.recipe.steps):
        folder = _step_dir(ctx, i, step)
        done = _finished(ctx, i, step)
        if done is not None:
            _replay(model, ctx, step, done["info"])
            checkpoint.load(folder / STEP_FILE, model)
            ctx.sparse, ctx.shared = set(done["sparse"]), set(done["shared"])
            ctx.log(f"step {i + 1}/{len(ctx.recipe.steps)} {step.kind}: done before, loaded {folder}")
            records.append(StepRecord(**{**done["record"], "resumed": True}))
            continue
        ctx.log(f"step {i + 1}/{len(ctx.recipe.steps)} {step.kind}: {_settings(step)}")
        started = time.perf_counter()
        info = RUNNERS[step.kind](model, ctx, step, folder)
        holds.release(model)
        accuracy = evaluate(model, ctx.data.x_test, ctx.data.y_test)
        record = _record(model, ctx, i, step, accuracy, time.perf_counter() - started, info)
        records.append(record)
        ctx.log(f"step {i + 1} {step.kind}: test accuracy {100 * accuracy:.2f}%, "
                f"{100 * record.density:.2f}% of weights nonzero")
        if folder is not None:
            meta = {"kind": "compress-step", "identity": _identity(ctx, i), "info": info,
                    "record": record.to_dict(), "sparse": sorted(ctx.sparse), "shared": sorted(ctx.shared)}
            checkpoint.save(folder / STEP_FILE, json.loads(json.dumps(meta)), model)
    return records


def compress(model: nn.Module, data: Dataset, recipe: Recipe, out_dir: str | Path | None = None, *,
             model_name: str | None = None, train_config: TrainConfig | None = None,
             progress: bool = True) -> CompressResult:
    """Compress a trained `model` (a copy; the argument is not changed) with `recipe` on `data`.

    Args:
        model_name: names the model in checkpoints (a zoo name picks that model's training preset).
        train_config: the fine-tuning base the recipe's settings override (default: the zoo preset
            of `model_name`, else TrainConfig()).
        out_dir: where steps checkpoint and `model.lvn` / `summary.json` go; None keeps it in memory.
    Raises:
        TrainingInterrupted: on Ctrl-C, after a checkpoint; rerun to resume.
    """
    from levin.coding import container
    from levin.quant.pipeline import quantize

    started = time.perf_counter()
    name = model_name or type(model).__name__
    base = train_config or (zoo.spec(name).train if name in zoo.names() else TrainConfig())
    out = Path(out_dir) if out_dir is not None else None
    model = copy.deepcopy(model)
    holds.release(model)
    fp32 = 4 * sum(p.numel() for p in model.parameters())
    before = layer_weights(model)
    teacher = copy.deepcopy(model).eval() if recipe.distill else None
    ctx = _Context(data, recipe, base, name, out, teacher, progress)
    baseline = evaluate(model, data.x_test, data.y_test)
    ctx.log(f"{name}: baseline test accuracy {100 * baseline:.2f}%; {len(recipe.steps)} step(s)")
    records = run_steps(model, ctx)

    ctx.log(f"freeze: {recipe.quantize.weight_bits}-bit weights, int8 activations")
    quant = quantize(model, data, recipe.quantize, progress=progress)
    blob = container.encode(quant.graph, recipe.code)
    lvn_path = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        lvn_path = out / "model.lvn"
        write_atomic(lvn_path, blob)
    result = CompressResult(model, quant.graph, lvn_path, len(blob), baseline, fp32, records, before, quant,
                            container.inspect(blob), time.perf_counter() - started, data)
    if out is not None:
        from levin.compressor.summary import summary_dict
        write_atomic(out / "summary.json", json.dumps(summary_dict(result, recipe), indent=2) + "\n")
    return result



def train_baseline(model: nn.Module, data: Dataset, zoo_name: str, out_dir: str | Path | None = None,
                   progress: bool = True) -> nn.Module:
    """Train an untrained zoo model with its own preset (resumable in `out_dir`); returns it."""
    if progress:
        print(f"{zoo_name} has no trained weights: training the baseline first", file=sys.stderr)
    return train(model, data, zoo.spec(zoo_name).train, out_dir, model_name=zoo_name,
                 progress=progress).model
