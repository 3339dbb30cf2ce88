"""`levin.compress(model, data, recipe=...)`: the pipeline with names resolved, as the CLI runs it."""

from __future__ import annotations

from pathlib import Path

from torch import nn

from levin import zoo
from levin.compressor.pipeline import CompressResult, compress as run_recipe, train_baseline
from levin.compressor.recipe import Recipe, load
from levin.errors import LevinError
from levin.train import data as datasets


def compress(model: nn.Module | str, data: datasets.Dataset | str | None = None, *,
             recipe: Recipe | str | Path, out_dir: str | Path | None = None,
             data_dir: str | Path | None = None, weights: str | Path | None = None,
             progress: bool = True) -> CompressResult:
    """Compress `model` by `recipe` and freeze it to an integer graph and a .lvn file.

    Args:
        model: an nn.Module, or a reference for `levin.load_model` (zoo name, checkpoint
            directory, path/to/file.py:factory); an untrained zoo model is trained first.
        data: a Dataset or a dataset name (default: the zoo model's own dataset).
        recipe: a Recipe, a YAML file, or a preset name (`levin.compressor.recipe.preset_names()`).
        out_dir: checkpoints of every step, model.lvn and summary.json (resumable); None: memory only.
        weights: a checkpoint to load into `model` when it is a zoo name or file.py:factory.
    """
    from levin.models import load_model

    recipe = recipe if isinstance(recipe, Recipe) else load(recipe)
    name = loaded = None
    if isinstance(model, str):
        loaded = load_model(model, weights)
        model, name = loaded.module, loaded.name
        untrained = name in zoo.names() and not loaded.meta
    else:
        untrained = False
    if data is None:
        if name not in zoo.names():
            raise LevinError("data is required for a model outside the zoo")
        data = zoo.spec(name).dataset
    if isinstance(data, str):
        data = datasets.load(data, data_dir)
    shape = tuple(loaded.input_shape or ()) if name is not None else ()
    if shape and shape != data.input_shape:
        raise LevinError(f"model {name} takes {shape} inputs, dataset {data.name} has {data.input_shape}")
    if untrained:
        baseline_dir = Path(out_dir) / "baseline" if out_dir is not None else None
        model = train_baseline(model, data, name, baseline_dir, progress=progress)
    return run_recipe(model, data, recipe, out_dir, model_name=name, progress=progress)
