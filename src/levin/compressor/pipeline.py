"""Run a recipe: baseline, each step with its fine-tuning, then freeze to an integer graph and a .lvn.

Read me first. The model is plain between steps; each step
  1. applies its pass (prune, N:M, channels, share) on the constraints of the steps before it
     (levin.share.holds: pruned zeros stay zero, shared layers keep their codebooks),
  2. fine-tunes (optionally distilling from the uncompressed model),
  3. bakes its parametrizations and saves the model to `out/steps/NN-kind/model.safetensors`.
A rerun of the same command skips finished steps (after checking they came from the same recipe
and model), resumes an interrupted fine-tuning from its checkpoint, and replays the channel
removals of finished steps so their saved weights fit. The freeze quantizes (QuantConfig), writes
`out/model.lvn` (CodeConfig) and `out/summary.json`.

Tune on validation, report test: when the data has a validation split (levin.data.with_validation;
the CLI always makes one), the steps fine-tune on the training split and are scored on the
validation split, and so is every choice (mixed precision); the test split is scored for the
baseline and the frozen graph only. Data without one is used as given, steps scored on its test
split, and each record says which split scored it (`StepRecord.scored_on`).
"""

from __future__ import annotations

import copy
import json
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from levin import metrics, zoo
from levin.compressor.recipe import Recipe, Step
from levin.config import TrainConfig
from levin.data.fit import check_model_takes
from levin.errors import CheckpointError, LevinError
from levin.fileio import write_atomic
from levin.ir import Graph
from levin.ir.capture import capture
from levin.share import holds
from levin.compressor.steps import STEPS, StepContext
from levin.prune.masks import select_layers, sparsity_report
from levin.quant.graphmodule import GraphModule
from levin.quant.trainable import TrainableGraph
from levin.train import checkpoint
from levin.train.data import Dataset
from levin.train.loop import score, train
from levin.train.seeding import deterministic

STEP_FILE = "model.safetensors"


@dataclass
class StepRecord:
    index: int
    kind: str
    accuracy: float                   # on the `scored_on` split: validation when the data has one
    density: float                    # nonzero share of the Conv2d/Linear weights
    params: int
    wall_s: float
    coded_bytes: int = 0              # the layers' weights as int8 (one scale each), entropy-coded
    info: dict[str, Any] = field(default_factory=dict)
    resumed: bool = False
    scored_on: str = "validation"

    @property
    def test_accuracy(self) -> float:
        """The old name of `accuracy` (steps were scored on the test split before issue 19)."""
        return self.accuracy

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "StepRecord":
        data = dict(data)
        if "test_accuracy" in data:          # a step finished by a levin that scored on test
            data["accuracy"], data["scored_on"] = data.pop("test_accuracy"), "test"
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self).items()}


@dataclass
class CompressResult:
    model: nn.Module                  # the float model after the last step (plain, no parametrizations)
    graph: Graph                      # the frozen integer graph
    lvn_path: Path | None
    lvn_bytes: int
    baseline_accuracy: float          # on the test split: the reference every result is compared to
    float32_bytes: int                # every parameter of the model before compression, as fp32
    steps: list[StepRecord]
    baseline_weights: dict[str, np.ndarray]   # each Conv2d/Linear's float weights before any step
    quantize: Any                     # levin.quant.pipeline.QuantizeResult
    container: Any                    # levin.coding.container.ContainerReport
    wall_s: float
    data: Dataset | None = None       # what it was fine-tuned and tested on
    baseline_validation_accuracy: float | None = None
    task: str = "classification"      # what every *accuracy* field scores: `metric`, in its unit
    metric: str = "top-1 accuracy"
    higher_is_better: bool = True
    top_k: int = 1
    scored_task: str = "classification"   # what the steps were scored by (metrics.tuning_task)
    output: int = 0                   # the output the task scores, of a model with several

    def text(self, value: float | None) -> str:
        """A test score of this run as a person reads it (98.89%, or an MSE of 0.0123)."""
        return metrics.text(value, self.higher_is_better)

    @property
    def step_metric(self) -> str:
        return metrics.headline(self.scored_task, self.top_k)[0]

    def step_text(self, value: float | None) -> str:
        """A step's score (StepRecord.accuracy, on validation) as a person reads it."""
        return metrics.text(value, metrics.headline(self.scored_task, self.top_k)[1])

    @property
    def dataset(self) -> str:
        return self.data.name if self.data is not None else ""

    @property
    def integer_accuracy(self) -> float:
        return self.quantize.integer_accuracy


def _step_dir(ctx: StepContext, i: int, step: Step) -> Path | None:
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
        total += len(encode_tensor(codes, context=True).body)
    return total


def _settings(step: Step) -> str:
    """The fields a step sets away from their defaults, e.g. "sparsity=0.9, schedule=agp"."""
    if step.config is None:
        return "fine-tune only"
    default = type(step.config)().to_dict()
    changed = {k: v for k, v in step.config.to_dict().items() if default.get(k) != v}
    return ", ".join(f"{k}={v}" for k, v in changed.items()) or "defaults"


def _identity(ctx: StepContext, upto: int) -> dict:
    identity = {"model": ctx.model_name, "dataset": ctx.data.name,
                "steps": [s.to_dict() for s in ctx.recipe.steps[:upto + 1]],
                "finetune": ctx.recipe.finetune, "distill": ctx.recipe.distill}
    if ctx.base_train.task != "classification":   # (absent before issue 19: old runs resume)
        identity["task"] = ctx.base_train.task
    if "validation_seed" in ctx.data.split:       # the samples held out of fine-tuning
        identity["validation"] = {k: ctx.data.split[k] for k in ("validation_fraction", "validation_seed")}
    return identity


def _with_new_defaults(identity: Any, ctx: StepContext) -> Any:
    """A stored identity whose step configs gain the fields added to their config class since it
    was written, at today's defaults: a run made before a new option resumes unless the recipe
    sets that option."""
    if not isinstance(identity, dict) or not isinstance(identity.get("steps"), list):
        return identity
    steps = []
    for stored, step in zip(identity["steps"], ctx.recipe.steps):
        if isinstance(stored, dict) and isinstance(stored.get(step.kind), dict) and step.config is not None:
            defaults = json.loads(json.dumps(type(step.config)().to_dict()))
            stored = {**stored, step.kind: {**defaults, **stored[step.kind]}}
        steps.append(stored)
    return {**identity, "steps": steps + identity["steps"][len(steps):]}


def _finished(ctx: StepContext, i: int, step: Step) -> dict | None:
    folder = _step_dir(ctx, i, step)
    if folder is None or not (folder / STEP_FILE).exists():
        return None
    meta = checkpoint.read_meta(folder / STEP_FILE)
    if _with_new_defaults(meta.get("identity"), ctx) != json.loads(json.dumps(_identity(ctx, i))):
        raise CheckpointError(f"{folder} was made by another recipe or model; use another --out, "
                              f"or delete {ctx.out / 'steps'} to start over")
    return meta


def _record(model, ctx, i, step, accuracy, wall, info, scored_on) -> StepRecord:
    with torch.no_grad():
        rep = sparsity_report(model)
    return StepRecord(i + 1, step.kind, accuracy, rep["density"], sum(p.numel() for p in model.parameters()),
                      wall, coded_weight_bytes(model), info, scored_on=scored_on)


def _warn_if_at_chance(name: str, accuracy: float, classes: int) -> None:
    """Compressing a model that has learnt nothing wastes the run: say so before the steps."""
    if classes >= 2 and accuracy <= 1.5 / classes:
        print(f"levin: warning: {name}'s baseline test accuracy is {100 * accuracy:.2f}%, near chance "
              f"for {classes} classes ({100 / classes:.1f}%): is it trained, and on this data? "
              f"Compression keeps accuracy, it does not make it", file=sys.stderr)


def _warn_if_emptied(model: nn.Module, step: Step) -> None:
    """A layer left with no nonzero weight computes a constant: almost always a global ranking
    that found all its weights small (a head, an input layer). Say so, with the remedy."""
    with torch.no_grad():
        empty = [name for name, m in select_layers(model).items() if not bool(m.weight.any())]
    if empty:
        print(f"levin: warning: after step {step.kind}, layer(s) {', '.join(empty)} have no nonzero "
              f"weight left, so their outputs are constant; exclude them, give them a "
              f"layer_sparsity, or prune with scope: layer", file=sys.stderr)


def run_steps(model: nn.Module, ctx: StepContext, scored_on: str = "test") -> list[StepRecord]:
    """Every step of the recipe on `model` (in place), skipping those a previous run finished;
    each scored on `ctx.data.x_test`, which is the `scored_on` split."""
    records = []
    metric, higher = metrics.headline(ctx.scored_task, ctx.top_k)
    for i, step in enumerate(ctx.recipe.steps):
        folder = _step_dir(ctx, i, step)
        done = _finished(ctx, i, step)
        if done is not None:
            replay = STEPS[step.kind].replay
            if replay is not None:
                replay(model, ctx, done["info"])
            checkpoint.load(folder / STEP_FILE, model)
            ctx.sparse, ctx.shared = set(done["sparse"]), set(done["shared"])
            ctx.log(f"step {i + 1}/{len(ctx.recipe.steps)} {step.kind}: done before, loaded {folder}")
            records.append(StepRecord.from_dict({**done["record"], "resumed": True}))
            continue
        ctx.log(f"step {i + 1}/{len(ctx.recipe.steps)} {step.kind}: {_settings(step)}")
        started = time.perf_counter()
        info = STEPS[step.kind].run(model, ctx, step, folder)
        holds.release(model)
        _warn_if_emptied(model, step)
        accuracy = ctx.evaluate(model)
        record = _record(model, ctx, i, step, accuracy, time.perf_counter() - started, info, scored_on)
        records.append(record)
        ctx.log(f"step {i + 1} {step.kind}: {scored_on} {metric} {metrics.text(accuracy, higher)}, "
                f"{100 * record.density:.2f}% of weights nonzero")
        if folder is not None:
            meta = {"kind": "compress-step", "identity": _identity(ctx, i), "info": info,
                    "record": record.to_dict(), "sparse": sorted(ctx.sparse), "shared": sorted(ctx.shared)}
            checkpoint.save(folder / STEP_FILE, json.loads(json.dumps(meta)), model)
    return records


def compress(model: nn.Module, data: Dataset, recipe: Recipe, out_dir: str | Path | None = None, *,
             model_name: str | None = None, train_config: TrainConfig | None = None,
             progress: bool = True, task: str = "classification", top_k: int = 1,
             output: int = 0) -> CompressResult:
    """Compress a trained `model` (a copy; the argument is not changed) with `recipe` on `data`.
    It runs on a fixed number of torch threads (the enclosing `levin.train.seeding.deterministic`
    region's, else 1), so its bytes do not depend on the machine's cores; `levin.compress` also
    seeds torch, as the CLI does.

    Args:
        model_name: names the model in checkpoints (a zoo name picks that model's training preset).
        train_config: the fine-tuning base the recipe's settings override (default: the zoo preset
            of `model_name`, else TrainConfig()).
        out_dir: where steps checkpoint and `model.lvn` / `summary.json` go; None keeps it in memory.
        task, top_k: what the model does and how it is scored (`levin.metrics`): the fine-tuning
            loss, every step's score, the mixed-precision budget and the result speak its metric.
        output: a model with several outputs (heads): the one the task trains and scores; the
            others are fine-tuned toward the uncompressed model's outputs (it is their teacher).
    Raises:
        TrainingInterrupted: on Ctrl-C, after a checkpoint; rerun to resume.
    """
    with deterministic(seed=None):
        return _compress(model, data, recipe, out_dir, model_name, train_config, progress, task, top_k, output)


def check_task(recipe: Recipe, task: str, top_k: int = 1) -> None:
    """Refuse, before any work, a task the recipe cannot serve."""
    metrics.check_task(task, top_k)
    if task != "classification":
        if any(s.kind == "mdl" for s in recipe.steps):
            raise LevinError(f"an mdl step trains for top-1 accuracy; task {task} compresses with "
                             f"prune, nm, channels, share and finetune steps")
        if recipe.quantize.qat_epochs:
            raise LevinError(f"quantization-aware training trains for top-1 accuracy; drop "
                             f"quantize.qat_epochs for task {task}")


def trainable(model: nn.Module | Graph) -> nn.Module:
    """A copy of `model` the steps can change: an imported float graph (a Graph, or the
    GraphModule `levin.models.load_float_model_file` gives) as a `TrainableGraph`."""
    if isinstance(model, Graph):
        return TrainableGraph(model)
    if isinstance(model, GraphModule) and not isinstance(model, TrainableGraph):
        return TrainableGraph(model.graph)
    return copy.deepcopy(model)


def count_outputs(model: nn.Module, x: np.ndarray) -> int:
    """How many outputs `model` returns (a tuple of heads, or one)."""
    with torch.no_grad():
        out = model.eval()(torch.from_numpy(x[:1]))
    return len(out) if isinstance(out, (tuple, list)) else 1


def check_steps_fit(model: nn.Module, recipe: Recipe, heads: int = 1) -> None:
    """An imported graph keeps the shapes it was imported with: no step may remove channels.
    A model with several outputs fine-tunes one on the task and the others on the teacher's
    outputs (`train.loop.task_loss`); description-length training and QAT do not do that."""
    if heads > 1:
        if any(s.kind == "mdl" for s in recipe.steps) or recipe.quantize.qat_epochs:
            raise LevinError(f"the model returns {heads} outputs: mdl steps and quantize.qat_epochs "
                             f"train one; use prune, nm, channels, share and finetune steps")
    if isinstance(model, TrainableGraph):
        for kind in ("channels", "mdl"):
            if any(s.kind == kind for s in recipe.steps):
                raise LevinError(f"a {kind} step removes channels, and an imported model (.onnx, "
                                 f".tflite) keeps its graph's shapes; use prune, nm, share and "
                                 f"finetune steps, or compress the model's PyTorch code")


def _compress(model, data, recipe, out_dir, model_name, train_config, progress, task, top_k, output) -> CompressResult:
    from levin.coding import container
    from levin.quant.pipeline import quantize

    check_task(recipe, task, top_k)
    started = time.perf_counter()
    name = model_name or (model.name if isinstance(model, Graph) else type(model).__name__)
    base = train_config or (zoo.spec(name).train if name in zoo.names() else TrainConfig())
    base = replace(base, task=task, output=output)
    metric, higher = metrics.headline(task, top_k)
    out = Path(out_dir) if out_dir is not None else None
    model = trainable(model)
    check_model_takes(model, name, None, data, labels=False, output=output)
    heads = count_outputs(model, data.x_train)
    check_steps_fit(model, recipe, heads)
    if not isinstance(model, TrainableGraph):     # what the freeze will capture, checked before any work
        capture(model, torch.from_numpy(data.x_train[:1]), name=name)
    holds.release(model)
    fp32 = 4 * sum(p.numel() for p in model.parameters())
    before = layer_weights(model)
    # the teacher also holds the heads the data has no targets for
    teacher = copy.deepcopy(model).eval() if recipe.distill or heads > 1 else None
    held_out = data.x_val is not None
    # The steps see the validation split where they look for test data: they never see the test split.
    ctx = StepContext(data.tuning() if held_out else data, recipe, base, name, out, teacher, progress, top_k)
    baseline_val = ctx.evaluate(model) if held_out else None
    baseline = score(model, data.x_test, data.y_test, task, top_k=top_k, output=output).value
    val_metric, val_higher = metrics.headline(ctx.scored_task, top_k)
    ctx.log(f"{name}: baseline test {metric} {metrics.text(baseline, higher)}"
            + (f", validation {val_metric} {metrics.text(baseline_val, val_higher)}" if held_out else "")
            + f"; {len(recipe.steps)} step(s)")
    if task == "classification" and top_k == 1:
        _warn_if_at_chance(name, baseline, data.num_classes)
    records = run_steps(model, ctx, "validation" if held_out else "test")

    ctx.log(f"freeze: {recipe.quantize.weight_bits}-bit weights, int8 activations")
    frozen = model.to_graph() if isinstance(model, TrainableGraph) else model
    quant = quantize(frozen, data, recipe.quantize, progress=progress,   # the test split, scored once
                     task=task, top_k=top_k, output=output)
    blob = container.encode(quant.graph, recipe.code)
    lvn_path = None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        lvn_path = out / "model.lvn"
        write_atomic(lvn_path, blob)
    result = CompressResult(model, quant.graph, lvn_path, len(blob), baseline, fp32, records, before, quant,
                            container.inspect(blob), time.perf_counter() - started, data, baseline_val,
                            task, metric, higher, top_k, ctx.scored_task, output)
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
