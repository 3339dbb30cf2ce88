"""Recipes and the pipeline that runs them: `compress(model, data, recipe, out_dir)`.

Attributes load lazily, so that reading a recipe (or `levin --help` listing the presets) does not
import torch and the passes."""

__all__ = ["CompressResult", "Recipe", "Step", "StepRecord", "compress", "load", "parse"]
_FROM = {"CompressResult": "pipeline", "StepRecord": "pipeline", "compress": "pipeline",
         "Recipe": "recipe", "Step": "recipe", "load": "recipe", "parse": "recipe"}


def __getattr__(name: str):
    if name in _FROM:
        import importlib
        return getattr(importlib.import_module(f"levin.compressor.{_FROM[name]}"), name)
    raise AttributeError(f"module 'levin.compressor' has no attribute {name!r}")
