"""The training loop: seeded, resumable, with optional distillation from a teacher.

Read me first: every bit of randomness in a step (which samples, which shifts, which dropout
units) is derived from (seed, epoch, step). A checkpoint therefore only needs the model, the
optimizer and the position; a run killed at any point and rerun with the same command ends with
the same weights, bit for bit, as one that never stopped.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

import levin
from levin import metrics
from levin.config import TrainConfig
from levin.errors import CheckpointError, LevinError, TrainingInterrupted  # noqa: F401 (re-exported)
from levin.train import checkpoint
from levin.train.data import Dataset
from levin.train.seeding import deterministic

CHECKPOINT = "checkpoint.safetensors"
FINAL = "model.safetensors"
SUMMARY = "model.json"


@dataclass
class TrainResult:
    model: nn.Module
    test_accuracy: float          # the task's headline score (accuracy for classification)
    history: list[dict[str, float]]
    wall_s: float
    resumed_at: tuple[int, int] | None = None   # (epoch, step) a resumed run started from
    out_dir: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)


@torch.no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy of `model` on (x, y), in [0, 1]."""
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        logits = model(torch.from_numpy(x[i:i + batch_size]))
        correct += int((logits.argmax(1) == torch.from_numpy(y[i:i + batch_size])).sum())
    return correct / max(len(x), 1)


def _step_seed(seed: int, epoch: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, epoch, step]).generate_state(1)[0])


def random_shift(x: torch.Tensor, max_shift: int, gen: np.random.Generator) -> torch.Tensor:
    """Translate each image by up to `max_shift` pixels in each direction, filling with zeros."""
    n, _, h, w = x.shape
    padded = F.pad(x, (max_shift,) * 4)
    offsets = gen.integers(0, 2 * max_shift + 1, size=(n, 2))
    out = torch.empty_like(x)
    for dy, dx in np.unique(offsets, axis=0):
        rows = np.flatnonzero((offsets[:, 0] == dy) & (offsets[:, 1] == dx))
        out[rows] = padded[rows, :, dy:dy + h, dx:dx + w]
    return out


def _lr_at(config: TrainConfig, step: int, total: int, steps_per_epoch: int) -> float:
    warm = config.warmup_epochs * steps_per_epoch
    scale = min(1.0, (step + 1) / warm) if warm > 0 else 1.0
    return config.lr * scale * 0.5 * (1.0 + math.cos(math.pi * step / total))


def _make_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum, nesterov=True,
                           weight_decay=config.weight_decay)


def task_loss(logits, labels, config: TrainConfig, teacher_logits=None, inputs=None):
    """The task's loss (`config.task`): cross-entropy for classification, else the mean squared
    error against the targets (regression) or the inputs (reconstruction, anomaly); mixed with
    the teacher's soft targets (or outputs) when distilling. A model with several outputs is
    trained on output `config.output`; each other output on the mean squared error to the
    teacher's (the data has one target: the other heads keep what they computed)."""
    if isinstance(logits, (tuple, list)):
        if not isinstance(teacher_logits, (tuple, list)):
            raise LevinError(f"a model with {len(logits)} outputs trains with a teacher for the "
                             f"outputs the data has no targets for (levin compress gives it one)")
        others = sum(F.mse_loss(out, t) for i, (out, t) in enumerate(zip(logits, teacher_logits))
                     if i != config.output)
        k = config.output
        return task_loss(logits[k], labels, config, teacher_logits[k], inputs) + others
    if config.task == "classification":
        hard = F.cross_entropy(logits, labels, label_smoothing=config.label_smoothing)
    else:
        target = labels if config.task == "regression" else inputs
        hard = F.mse_loss(logits, target.reshape(logits.shape).to(logits.dtype))
    if teacher_logits is None or config.distill_alpha == 0:
        return hard
    if config.task != "classification":
        soft = F.mse_loss(logits, teacher_logits)
    else:
        t = config.distill_temperature
        soft = F.kl_div(F.log_softmax(logits / t, 1), F.log_softmax(teacher_logits / t, 1),
                        reduction="batchmean", log_target=True) * t * t
    return (1 - config.distill_alpha) * hard + config.distill_alpha * soft


@torch.no_grad()
def score(model: nn.Module, x: np.ndarray, y: np.ndarray | None, task: str = "classification",
          batch_size: int = 1000, top_k: int = 1, output: int = 0):
    """`model` on (x, y) in `task`'s metric (a `levin.metrics.Score`); an anomaly detector on
    normal samples only, in its reconstruction error (`levin.metrics.tuning_task`)."""
    model.eval()
    out = np.concatenate([metrics.output_of(model(torch.from_numpy(x[i:i + batch_size])), output).double().numpy()
                          for i in range(0, len(x), batch_size)])
    return metrics.score(metrics.tuning_task(task, y), out, x, y, top_k)


@contextmanager
def _stop_requests():
    """Turn SIGINT/SIGTERM into a flag checked between steps (a step is never cut in half)."""
    flag = {"stop": False}
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return

    def handler(signum, frame):
        flag["stop"] = True

    previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield flag
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def train(model: nn.Module, data: Dataset, config: TrainConfig, out_dir: str | Path | None = None,
          *, model_name: str = "custom", teacher: nn.Module | None = None,
          on_step: Callable[[int, int], None] | None = None, progress: bool = True,
          threads: int | None = None) -> TrainResult:
    """Train `model` on `data`; with `out_dir`, checkpoint there and resume what is there.

    The same model (initial weights), data and `config.seed` give the same weights, bit for bit,
    on any machine of the same platform: every step is seeded from (seed, epoch, step) and torch
    runs on a fixed number of threads (levin.train.seeding). `levin train` seeds torch with
    `config.seed` before it builds the model; do the same (`levin.train.seeding.seed_all`) to
    get its initial weights.

    Args:
        model_name: recorded in the checkpoint; a rerun must name the same model.
        teacher: distil from this model's soft targets (needs `config.distill_alpha` > 0).
        on_step: called as on_step(epoch, step) after every optimizer step (tests use it).
        threads: torch threads (default: the enclosing `seeding.deterministic` region's, else 1);
            the weights are reproducible at a given count.
    Raises:
        TrainingInterrupted: on SIGINT/SIGTERM, after writing a checkpoint.
        CheckpointError: `out_dir` holds a run with other settings.
    """
    with deterministic(config.seed, threads):
        return _train(model, data, config, out_dir, model_name, teacher, on_step, progress)


def _train(model, data, config, out_dir, model_name, teacher, on_step, progress) -> TrainResult:
    if config.distill_alpha > 0 and teacher is None:
        raise LevinError("distill_alpha > 0 needs a teacher model")
    run = {"model": model_name, "dataset": data.name, "config": config.to_dict()}
    optimizer = _make_optimizer(model, config)
    out = Path(out_dir) if out_dir is not None else None
    ckpt = out / CHECKPOINT if out is not None else None
    n = len(data.x_train)
    steps_per_epoch = math.ceil(n / config.batch_size)
    total_steps = config.epochs * steps_per_epoch

    state = {"epoch": 0, "step": 0, "elapsed_s": 0.0, "history": [],
             "running": {"loss": 0.0, "correct": 0, "seen": 0}}
    resumed_at = None
    if ckpt is not None and ckpt.exists():
        saved = checkpoint.read_meta(ckpt)
        if saved.get("run") != run:
            raise CheckpointError(
                f"{out} holds a run with other settings ({_first_difference(saved.get('run'), run)}); "
                f"use another --out, or delete {ckpt} to start over")
        checkpoint.load(ckpt, model, optimizer)
        state = saved["state"]
        resumed_at = (state["epoch"], state["step"])

    def save() -> None:
        if ckpt is not None:
            meta = {"levin_version": levin.__version__, "kind": "train-checkpoint", "run": run,
                    "state": state}
            checkpoint.save(ckpt, meta, model, optimizer)

    # Each epoch is scored on the validation split where there is one (nothing is chosen on the
    # test split: it is scored once, at the end); data already tuned scores validation as "test".
    test_name = data.split.get("scored", "test")
    tuned = test_name == "validation" or data.x_val is None
    held_x, held_y, held_name = ((data.x_test, data.y_test, test_name) if tuned
                                 else (data.x_val, data.y_val, "validation"))
    x_train, y_train = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    if teacher is not None:
        teacher.eval()
    started = time.perf_counter() - state["elapsed_s"]
    with _stop_requests() as stop:
        while state["epoch"] < config.epochs:
            epoch = state["epoch"]
            order = torch.from_numpy(np.random.default_rng([config.seed, epoch]).permutation(n))
            running = state["running"]
            bar = tqdm(total=steps_per_epoch, initial=state["step"], disable=not progress or None,
                       desc=f"epoch {epoch + 1}/{config.epochs}", leave=False, file=sys.stderr)
            model.train()
            for step in range(state["step"], steps_per_epoch):
                seed = _step_seed(config.seed, epoch, step)
                torch.manual_seed(seed)
                idx = order[step * config.batch_size:(step + 1) * config.batch_size]
                x, y = x_train[idx], y_train[idx]
                if config.shift:
                    x = random_shift(x, config.shift, np.random.default_rng(seed))
                lr = _lr_at(config, epoch * steps_per_epoch + step, total_steps, steps_per_epoch)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                logits = model(x)
                teacher_logits = None
                if teacher is not None and (config.distill_alpha > 0 or isinstance(logits, tuple)):
                    with torch.no_grad():
                        teacher_logits = teacher(x)
                loss = task_loss(logits, y, config, teacher_logits, x)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()

                running["loss"] += float(loss.detach()) * len(idx)
                if config.task == "classification":
                    head = metrics.output_of(logits, config.output)
                    running["correct"] += int((head.argmax(1) == y).sum())
                running["seen"] += len(idx)
                state["step"] = step + 1
                state["elapsed_s"] = time.perf_counter() - started
                bar.update(1)
                bar.set_postfix(loss=f"{running['loss'] / running['seen']:.4f}",
                                **({"acc": f"{100 * running['correct'] / running['seen']:.2f}%"}
                                   if config.task == "classification" else {}))
                if on_step is not None:
                    on_step(epoch, step)
                if stop["stop"]:
                    save()
                    bar.close()
                    raise TrainingInterrupted(
                        f"interrupted at epoch {epoch + 1} step {step + 1}/{steps_per_epoch}; "
                        f"checkpoint in {ckpt}, rerun the same command to resume"
                        if ckpt is not None else "interrupted (no --out, nothing saved)")
                if (step + 1) % config.checkpoint_every == 0 and step + 1 < steps_per_epoch:
                    save()
            bar.close()
            held = score(model, held_x, held_y, config.task, output=config.output)
            record = {"epoch": epoch + 1, "loss": running["loss"] / max(running["seen"], 1),
                      "train_accuracy": running["correct"] / max(running["seen"], 1),
                      "score": held.value, "scored_on": held_name, "metric": held.metric,
                      "elapsed_s": time.perf_counter() - started}
            state["history"].append(record)
            state.update(epoch=epoch + 1, step=0, elapsed_s=record["elapsed_s"],
                         running={"loss": 0.0, "correct": 0, "seen": 0})
            if progress:
                scores = (f"train {100 * record['train_accuracy']:6.2f}%  {held_name} {100 * held.value:6.2f}%"
                          if config.task == "classification" else f"{held_name} {held.metric} {held.text()}")
                print(f"epoch {epoch + 1:3d}/{config.epochs}  loss {record['loss']:.4f}  {scores}  "
                      f"{record['elapsed_s']:7.1f}s", file=sys.stderr)
            save()

    history = state["history"]
    if history and history[-1].get("scored_on") == test_name:
        test_acc, metric = history[-1]["score"], history[-1]["metric"]
    else:                                   # scored on the test split once, at the end
        final = score(model, data.x_test, data.y_test, config.task, output=config.output)
        test_acc, metric = final.value, final.metric
    meta = {"levin_version": levin.__version__, "kind": "model", **run,
            "input_shape": list(data.input_shape),
            "num_classes": data.num_classes if config.task == "classification" else None,
            "task": config.task, "metric": metric, "test_accuracy": test_acc, "train_wall_s": state["elapsed_s"], "history": history}
    if out is not None:
        checkpoint.save(out / FINAL, meta, model)
        _write_json(out / SUMMARY, meta)
    return TrainResult(model, test_acc, history, state["elapsed_s"], resumed_at, out, meta)


def _first_difference(saved: Any, wanted: dict[str, Any]) -> str:
    if not isinstance(saved, dict):
        return "not a training run"
    for key in ("model", "dataset"):
        if saved.get(key) != wanted[key]:
            return f"{key} {saved.get(key)!r}, not {wanted[key]!r}"
    old = saved.get("config", {})
    for key, value in wanted["config"].items():
        if old.get(key) != value:
            return f"{key} {old.get(key)!r}, not {value!r}"
    return "different settings"


def _write_json(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
