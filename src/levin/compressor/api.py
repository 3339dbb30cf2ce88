"""`levin.compress(model, data, recipe=...)`: the pipeline with names resolved, as the CLI runs it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from torch import nn

from levin import zoo
from levin.compressor.pipeline import CompressResult, check_task, compress as run_recipe, train_baseline
from levin.compressor.recipe import Recipe, load
from levin.errors import LevinError
from levin.train import data as datasets
from levin.train.seeding import deterministic, seed_all


def compress(model: nn.Module | str | Any, data: datasets.Dataset | str | None = None, *,
             recipe: Recipe | str | Path, out_dir: str | Path | None = None,
             data_dir: str | Path | None = None, weights: str | Path | None = None,
             progress: bool = True, seed: int = 0, threads: int | None = None,
             task: str = "classification", top_k: int = 1, output: int = 0) -> CompressResult:
    """Compress `model` by `recipe` and freeze it to an integer graph and a .lvn file.

    Args:
        model: an nn.Module, a `levin.models.LoadedModel`, or a reference for `levin.load_model`
            (zoo name, checkpoint directory, path/to/file.py:factory); an untrained zoo model is
            trained first.
        data: a Dataset or a built-in dataset name (default: the zoo model's own dataset; a name
            gets a validation split, seed 0). With a validation split, it scores the steps and
            every choice, and the test split is scored for the baseline and the frozen graph only.
        recipe: a Recipe, a YAML file, or a preset name (`levin.compressor.recipe.preset_names()`).
        out_dir: checkpoints of every step, model.lvn and summary.json (resumable); None: memory only.
        weights: a checkpoint to load into `model` when it is a zoo name or file.py:factory.
        seed: seeds torch before a model named by `model` is built and again before the work,
            as `levin compress` does (it passes 0).
        threads: torch threads for the whole run (default 1, `levin.train.seeding.THREADS`).
            The bytes depend on the seed, not on the machine's cores or the caller's thread
            count: the same levin, seed, data and platform give the same .lvn, from Python and
            from `levin compress` alike (README, "Determinism"); another `threads` gives bytes
            reproducible at that count.
        task, top_k: what the model does and how it is scored (`levin.metrics.TASKS`):
            classification (top-k accuracy), regression, reconstruction (MSE) or anomaly (ROC AUC
            of the reconstruction error); fine-tuning, steps, budget and results speak its metric.
        output: which output of a model with several the task trains and scores (the others
            follow the uncompressed model's).
    """
    with deterministic(seed, threads):
        return _compress(model, data, recipe, out_dir, data_dir, weights, progress, seed, task, top_k, output)


def _compress(model, data, recipe, out_dir, data_dir, weights, progress, seed, task, top_k, output) -> CompressResult:
    from levin.data.fit import check_model_takes
    from levin.data.splits import with_validation
    from levin.models import LoadedModel, load_for_compression

    recipe = recipe if isinstance(recipe, Recipe) else load(recipe)
    check_task(recipe, task, top_k)
    loaded = load_for_compression(model, weights) if isinstance(model, str) else model
    if isinstance(loaded, LoadedModel):
        model, name = loaded.module, loaded.name
        untrained = name in zoo.names() and not loaded.meta
    else:
        name, untrained = None, False
    if data is None:
        if name not in zoo.names():
            raise LevinError("data is required for a model outside the zoo")
        data = zoo.spec(name).dataset
    if isinstance(data, str):            # a built-in dataset, held out as the CLI holds it out
        data = with_validation(datasets.load(data, data_dir))
    if name is not None:
        check_model_takes(model, name, loaded.input_shape, data, labels=task == "classification", output=output)
    seed_all(seed)                       # the work starts from the seed, whoever built the model
    if untrained:
        baseline_dir = Path(out_dir) / "baseline" if out_dir is not None else None
        model = train_baseline(model, data, name, baseline_dir, progress=progress)
    return run_recipe(model, data, recipe, out_dir, model_name=name, progress=progress, task=task, top_k=top_k,
                      output=output)
