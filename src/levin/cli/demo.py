"""`levin demo`: the whole flow on data that needs no download (scikit-learn's 8x8 digits).

train the digits CNN -> compress it (recipe `digits`: prune, share, quantize, code) -> model.lvn
-> C -> compile -> run the C on the test set -> bit-exact check against the integer reference
-> report.html, ending with a short table. Its bytes are the same on every run and machine of a
platform (seed 0, one torch thread; README, "Determinism").
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from levin.cli.common import (add_out_argument, check_c_compiler, check_output_file, check_writable, human,
                              writable_dir, write_output)
from levin.output import table

MODEL, RECIPE = "digits_cnn", "digits"
EXAMPLES = """examples:
  levin demo
  levin demo -o runs/demo2 --quiet --json -      # the summary as JSON on stdout
"""


def register(sub) -> None:
    p = sub.add_parser("demo", help="train, compress, export to C, verify and report (no download)",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_out_argument(p, required=False, default="runs/demo", help="run directory (default: runs/demo)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON ('-' for stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or step lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from levin.compressor.api import compress
    from levin.compressor.recipe import load
    from levin.compressor.summary import summary_dict
    from levin.report.finish import finish
    from levin.train.seeding import deterministic

    check_writable(args.out, "--out")
    check_output_file(args.json, "--json")
    check_c_compiler()
    out = writable_dir(args.out)
    for stale in ("baseline", "steps", "checkpoint.safetensors"):   # the demo always starts afresh
        path = Path(out) / stale
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    started = time.perf_counter()
    recipe = load(RECIPE)
    # Seed 0 and one thread (levin.compress's defaults), C check and report included: a 6k-parameter
    # CNN gains nothing from a second thread, and loses 8x when the other core is busy (measured
    # 1.1 s vs 8.3 s per epoch).
    with deterministic(0, threads=1):
        result = compress(MODEL, recipe=recipe, out_dir=out, progress=not args.quiet, seed=0, threads=1)
        extra = finish(result, recipe, result.data, out, title=f"levin demo: {MODEL} on digits",
                       progress=not args.quiet)
    rt, dev = extra["runtime"], extra["device"]
    if dev:     # measured on the Cortex-M4 image under qemu (levin.targets.device_numbers)
        memory = [["RAM (arena + stack)", "", f"{dev['ram']:,} B"],
                  ["flash (weights + code)", "", f"{dev['flash']:,} B (Cortex-M4 image, -Os)"],
                  ["Cortex-M4 instructions", "", f"{dev['instructions']:,} (qemu), "
                                                 f"est. {dev['ms_estimate']:.1f} ms at 80 MHz"]]
    else:       # no Cortex-M toolchain: the host build's numbers
        memory = [["RAM (arena)", "", f"{rt['ram_bytes']:,} B"],
                  ["flash (weights + code)", "", f"{rt['flash_bytes']:,} B ({rt['flash_target']})"]]
    print(file=human(args))
    print(table(["", "before", "after"], [
        ["test accuracy", f"{100 * result.baseline_accuracy:.2f}% (float)",
         f"{100 * rt['accuracy']:.2f}% (C runtime, int8)"],
        ["model bytes", f"{result.float32_bytes:,} (fp32)", f"{result.lvn_bytes:,} (.lvn)"],
        ["ratio", "", f"{result.float32_bytes / result.lvn_bytes:.1f}x"],
        *memory,
        ["C vs reference", "", f"bit-exact on {rt['samples']:,} test images"],
    ]), file=human(args))
    print(f"\nreport: {extra['report']}   ({time.perf_counter() - started:.0f} s in all)", file=human(args))
    if args.json:
        write_output({**summary_dict(result, recipe), **extra}, args.json)
    return 0
