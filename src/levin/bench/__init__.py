"""Benchmarks run by `levin bench NAME`: every module here with a `main(argv, json_path)` is one.

A benchmark measures (a figure it cannot measure, such as Cortex-M cycles under qemu, is
labelled an estimate wherever it appears), prints a table, and with a JSON path writes its numbers.
`levin.cli.bench` finds the modules by listing this package, so adding a benchmark is adding a
file.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from levin.errors import LevinError


def names() -> list[str]:
    """The benchmark names (modules of this package, `_` shown as `-`: vs-tflm), sorted."""
    return sorted(m.name.replace("_", "-") for m in pkgutil.iter_modules(__path__)
                  if not m.name.startswith("_"))


def get(name: str) -> ModuleType:
    """The benchmark module `name` (vs-tflm or vs_tflm); LevinError listing the known ones if none."""
    name = name.replace("_", "-")
    if name not in names():
        raise LevinError(f"unknown benchmark {name!r}; known: {', '.join(names()) or 'none'}")
    module = importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
    if not callable(getattr(module, "main", None)):
        raise LevinError(f"levin.bench.{name} has no main(argv, json_path)")
    return module
