"""`levin demo`: the whole flow on data that needs no download (scikit-learn's 8x8 digits).

train the digits CNN -> compress it (recipe `digits`: prune, share, quantize, code) -> model.lvn
-> C -> compile -> run the C on the test set -> bit-exact check against the integer reference
-> report.html, ending with a short table.
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from levin.cli.common import writable_dir
from levin.output import table

MODEL, RECIPE = "digits_cnn", "digits"


def register(sub) -> None:
    p = sub.add_parser("demo", help="train, compress, export to C, verify and report (no download)",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or step lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from levin.compressor.api import compress
    from levin.report.finish import finish
    from levin.compressor.recipe import load

    out = writable_dir(args.out)
    for stale in ("baseline", "steps", "checkpoint.safetensors"):   # the demo always starts afresh
        path = Path(out) / stale
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    started = time.perf_counter()
    # A 6k-parameter CNN gains nothing from a second thread, and loses 8x when the other core is
    # busy (threads spin waiting for each other): measured 1.1 s vs 8.3 s per epoch.
    torch.set_num_threads(1)
    torch.manual_seed(0)
    recipe = load(RECIPE)
    result = compress(MODEL, recipe=recipe, out_dir=out, progress=not args.quiet)
    extra = finish(result, recipe, result.data, out, title=f"levin demo: {MODEL} on digits",
                   progress=not args.quiet)
    rt = extra["runtime"]
    print()
    print(table(["", "before", "after"], [
        ["test accuracy", f"{100 * result.baseline_accuracy:.2f}% (float)",
         f"{100 * rt['accuracy']:.2f}% (C runtime, int8)"],
        ["model bytes", f"{result.float32_bytes:,} (fp32)", f"{result.lvn_bytes:,} (.lvn)"],
        ["ratio", "", f"{result.float32_bytes / result.lvn_bytes:.1f}x"],
        ["RAM (arena)", "", f"{rt['ram_bytes']:,} B"],
        ["flash (weights + code)", "", f"{rt['flash_bytes']:,} B ({rt['flash_target']})"],
        ["C vs reference", "", f"bit-exact on {rt['samples']:,} test images"],
    ]))
    print(f"\nreport: {extra['report']}   ({time.perf_counter() - started:.0f} s in all)")
    return 0
