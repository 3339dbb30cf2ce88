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


def finish(result: CompressResult, recipe: Recipe, data: datasets.Dataset, out_dir: str | Path, *,
           c: bool = True, report: bool = True, weight_format: str = "auto", samples: int | None = None,
           device: str = "cortex-m4", title: str | None = None, progress: bool = True) -> dict:
    """The rest of the flow after the freeze: export C to OUT/c, build and run it on the test
    set and check it bit for bit against the reference (`c`), write OUT/report.html (`report`).
    Returns what it measured: {"runtime": RuntimeCheck dict or None, "report": path or None}."""
    import sys

    out = Path(out_dir)
    check = None
    if c:
        from levin.compressor.deploy import deploy

        if progress:
            print("C runtime: export, build, run on the test set, compare with the reference", file=sys.stderr)
        check, _ = deploy(result, data, out / "c", weight_format=weight_format, samples=samples)
    page = None
    if report:
        from levin.report.html import build

        page = build(result, recipe, out / "report.html", title=title or f"{result.dataset}: {recipe.name}",
                     device=device, runtime=check)
    return {"runtime": check.to_dict() if check else None, "report": str(page) if page else None}
