"""After the freeze: deploy the integer model to C, check it, and write the report.

`finish` is what `levin compress` and `levin demo` run once a recipe has produced its .lvn; it
sits here, above the compressor, because the report reads the compressor's results.
"""

from __future__ import annotations

import sys
from pathlib import Path

from levin.analyze import devices
from levin.compressor.deploy import deploy
from levin.compressor.pipeline import CompressResult
from levin.compressor.recipe import Recipe
from levin.errors import VerificationError
from levin.report.html import build
from levin.train import data as datasets


def finish(result: CompressResult, recipe: Recipe, data: datasets.Dataset, out_dir: str | Path, *,
           c: bool = True, report: bool = True, weight_format: str = "auto", prefer: str = "balanced",
           samples: int | None = None,
           device: str = "cortex-m4", title: str | None = None, progress: bool = True) -> dict:
    """The rest of the flow after the freeze: export C to OUT/c, build and run it on the test
    set and check it bit for bit against the reference (`c`); with the Cortex-M toolchain and
    qemu, build it for `device`'s core too and measure it per layer (`levin.targets.device_numbers`,
    what `levin profile model.lvn` reports); write OUT/report.html (`report`).
    Returns what it measured: {"runtime": RuntimeCheck dict or None, "device": its numbers or
    None, "report": path or None}."""
    out = Path(out_dir)
    check = numbers = None
    profile = devices.get(device)
    if c:
        if progress:
            print("C runtime: export, build, run on the test set, compare with the reference", file=sys.stderr)
        check, _ = deploy(result, data, out / "c", weight_format=weight_format, prefer=prefer, samples=samples)
        numbers = _on_device(result, out, weight_format, prefer, profile, progress)
    page = None
    if report:
        page = build(result, recipe, out / "report.html", title=title or f"{result.dataset}: {recipe.name}",
                     device=device, runtime=check, numbers=numbers)
    return {"runtime": check.to_dict() if check else None,
            "device": numbers.to_dict(profile) if numbers else None, "report": str(page) if page else None}


def _on_device(result: CompressResult, out: Path, weight_format: str, prefer: str, profile, progress: bool):
    """The C build measured on the device's core under qemu, per layer; None without a core
    (the accelerator) or without the toolchain (the report says how to get them)."""
    from levin.targets import cortexm, device_numbers

    if profile.core is None:
        return None
    try:
        cortexm.require_toolchain()
        cortexm.require_qemu()
    except cortexm.ToolMissing:
        return None
    if progress:
        print(f"device: build for {profile.core}, run under qemu, count per layer", file=sys.stderr)
    numbers = device_numbers.measure(result.lvn_path or result.graph, out / "c-build" / "device",
                                     weight_format=weight_format, prefer=prefer, core=profile.core,
                                     per_layer=True, cycles=True)
    if not numbers.exact:
        raise VerificationError(f"the C runtime on {profile.core} differs from the integer reference")
    return numbers
