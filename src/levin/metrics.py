"""Tasks and their metrics: what "how good is this model" means for the user's model.

    task            model output            target        metric (headline first)
    classification  class scores (N, K)     labels (N,)   top-1 accuracy (top-k with k > 1)
    regression      values (N, ...)         values y      MSE (and MAE)
    reconstruction  the input again         the input x   MSE (and MAE), e.g. a denoiser
    anomaly         the input again         0/1 labels    ROC AUC of the per-sample reconstruction
                                                          error (MSE), as MLPerf Tiny scores its
                                                          anomaly detection benchmark

A model with several outputs is scored on one of them (`output_of`; the CLI's `--score-output K`).
`score(task, outputs, x, y)` takes float outputs (dequantized for an integer model), the inputs
and the targets, and returns a `Score`: the headline value, whether higher is better, and the
other numbers of the task. `drop(task, before, after)` is how much worse `after` is, in the
metric's own unit (percentage points for accuracy and AUC, relative % for an error), so a
budget like `max_drop` reads the same for every task. Pure numpy: no torch here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from levin.errors import LevinError

TASKS = ("classification", "regression", "reconstruction", "anomaly")
_HEADLINE = {"classification": "accuracy", "regression": "MSE", "reconstruction": "MSE", "anomaly": "AUC"}


@dataclass(frozen=True)
class Score:
    task: str
    metric: str                  # "top-1 accuracy", "MSE", "AUC", ...
    value: float
    higher_is_better: bool
    extra: dict[str, float] = field(default_factory=dict)

    def text(self) -> str:
        return text(self.value, self.higher_is_better)

    def to_dict(self) -> dict:
        return {"task": self.task, "metric": self.metric, "value": self.value,
                "higher_is_better": self.higher_is_better, **self.extra}


def text(value: float | None, higher_is_better: bool = True) -> str:
    """A score as a person reads it: 98.89% for accuracy and AUC, 4 significant digits for an
    error; "" for None."""
    if value is None:
        return ""
    return f"{100 * value:.2f}%" if higher_is_better else f"{value:.4g}"


def headline(task: str, top_k: int = 1) -> tuple[str, bool]:
    """(the metric's name, whether higher is better) of `task`, before anything is scored."""
    check_task(task, top_k)
    name = f"top-{top_k} accuracy" if task == "classification" else _HEADLINE[task]
    return name, task in ("classification", "anomaly")


def tuning_task(task: str, y: np.ndarray | None) -> str:
    """The task choices are scored by on labels `y`: `task` itself, except an anomaly detector
    whose split holds no anomalies (held out of normal training data, as usual): there its AUC
    is undefined, and it is scored by what it is trained for, reconstruction MSE."""
    if task == "anomaly" and (y is None or len(np.unique(np.asarray(y))) < 2):
        return "reconstruction"
    return task


def output_of(outputs, k: int = 0):
    """Output `k` of a model that returns several (a tuple or list: two heads, say), else its
    only one. The task scores that output; levin quantizes, codes and checks all of them."""
    if isinstance(outputs, (tuple, list)):
        if not 0 <= k < len(outputs):
            raise LevinError(f"output {k} asked for, but the model returns {len(outputs)} "
                             f"(0..{len(outputs) - 1})")
        return outputs[k]
    if k != 0:
        raise LevinError(f"output {k} asked for, but the model returns one output (0)")
    return outputs


def check_task(task: str, top_k: int = 1) -> None:
    if task not in TASKS:
        raise LevinError(f"task {task!r} is not one of {', '.join(TASKS)}")
    if not isinstance(top_k, int) or top_k < 1:
        raise LevinError(f"top-k must be a positive integer, got {top_k!r}")
    if top_k > 1 and task != "classification":
        raise LevinError(f"top-k is a classification metric; task {task!r} scores by {_HEADLINE[task]}")


def score(task: str, outputs: np.ndarray, x: np.ndarray, y: np.ndarray | None, top_k: int = 1) -> Score:
    """The model's `outputs` (float, N first) scored for `task` against inputs `x` and targets `y`."""
    check_task(task, top_k)
    out = np.asarray(outputs, np.float64).reshape(len(outputs), -1)
    if task == "classification":
        labels = _targets(y, len(out), task).astype(np.int64).reshape(-1)
        if labels.min(initial=0) < 0 or labels.max(initial=0) >= out.shape[1]:
            raise LevinError(f"labels span {labels.min()}..{labels.max()} but the model has "
                             f"{out.shape[1]} outputs")
        ranked = np.argsort(-out, axis=1, kind="stable")
        hits = {k: float((ranked[:, :k] == labels[:, None]).any(axis=1).mean())
                for k in sorted({1, min(top_k, out.shape[1])})}
        k = min(top_k, out.shape[1])
        return Score(task, f"top-{k} accuracy", hits[k], True,
                     {f"top{j}_accuracy": v for j, v in hits.items()})
    reference = _targets(y, len(out), task) if task == "regression" else np.asarray(x, np.float64)
    reference = reference.reshape(len(out), -1)
    if reference.shape != out.shape:
        raise LevinError(f"task {task}: the model's outputs have {out.shape[1]} values per sample, "
                         f"the {'targets' if task == 'regression' else 'inputs'} {reference.shape[1]}")
    err = out - reference
    mse, mae = float(np.mean(err ** 2)), float(np.mean(np.abs(err)))
    if task != "anomaly":
        return Score(task, "MSE", mse, False, {"mse": mse, "mae": mae})
    labels = _targets(y, len(out), task).reshape(-1)
    if not np.isin(labels, (0, 1)).all() or labels.min() == labels.max():
        raise LevinError("task anomaly: labels must be 0 (normal) and 1 (anomalous), both present")
    auc = roc_auc(np.mean(err ** 2, axis=1), labels.astype(bool))
    return Score(task, "AUC", auc, True, {"auc": auc, "mse": mse, "mae": mae})


def drop(before: Score, after: Score) -> float:
    """How much worse `after` is than `before`: percentage points of accuracy or AUC, or the
    relative increase of an error in percent (MSE 0.010 -> 0.011 is a drop of 10)."""
    if before.higher_is_better:
        return 100 * (before.value - after.value)
    return 100 * (after.value - before.value) / max(before.value, 1e-12)


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve of `scores` (higher = more likely positive): the probability that
    a random positive scores above a random negative, ties counting half (Mann-Whitney U)."""
    scores = np.asarray(scores, np.float64)
    positive = np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise LevinError("ROC AUC needs both positive and negative samples")
    _, inverse, counts = np.unique(scores, return_inverse=True, return_counts=True)
    ranks = (np.cumsum(counts) - (counts - 1) / 2.0)[inverse]     # 1-based, ties share their mean
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def _targets(y: np.ndarray | None, n: int, task: str) -> np.ndarray:
    if y is None:
        raise LevinError(f"task {task}: the data has no targets (labels); give a source with y")
    y = np.asarray(y)
    if len(y) != n:
        raise LevinError(f"task {task}: {len(y)} targets for {n} samples")
    return y.astype(np.float64) if task == "regression" else y
