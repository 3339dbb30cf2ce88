"""After the freeze: deploy the integer model to C, check it, and write the report.

`finish` is what `levin compress` and `levin demo` run once a recipe has produced its .lvn; it
sits here, above the compressor, because the report reads the compressor's results.
"""

from __future__ import annotations

import sys
from pathlib import Path

from levin.compressor.deploy import deploy
from levin.compressor.pipeline import CompressResult
from levin.compressor.recipe import Recipe
from levin.report.html import build
from levin.train import data as datasets


def finish(result: CompressResult, recipe: Recipe, data: datasets.Dataset, out_dir: str | Path, *,
           c: bool = True, report: bool = True, weight_format: str = "auto", prefer: str = "balanced",
           samples: int | None = None,
           device: str = "cortex-m4", title: str | None = None, progress: bool = True) -> dict:
    """The rest of the flow after the freeze: export C to OUT/c, build and run it on the test
    set and check it bit for bit against the reference (`c`), write OUT/report.html (`report`).
    Returns what it measured: {"runtime": RuntimeCheck dict or None, "report": path or None}."""
    out = Path(out_dir)
    check = None
    if c:
        if progress:
            print("C runtime: export, build, run on the test set, compare with the reference", file=sys.stderr)
        check, _ = deploy(result, data, out / "c", weight_format=weight_format, prefer=prefer, samples=samples)
    page = None
    if report:
        page = build(result, recipe, out / "report.html", title=title or f"{result.dataset}: {recipe.name}",
                     device=device, runtime=check)
    return {"runtime": check.to_dict() if check else None, "report": str(page) if page else None}
