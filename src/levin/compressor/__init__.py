"""Recipes and the pipeline that runs them: `compress(model, data, recipe, out_dir)`."""

from levin.compressor.pipeline import CompressResult, StepRecord, compress
from levin.compressor.recipe import Recipe, Step, load, parse

__all__ = ["CompressResult", "Recipe", "Step", "StepRecord", "compress", "load", "parse"]
