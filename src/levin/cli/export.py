"""`levin export`: a .lvn model -> C sources (model.c, model.h, the levin runtime) for a microcontroller."""

from __future__ import annotations

import argparse
from pathlib import Path

from levin.errors import LevinError
from levin.output import write_json
from levin.codegen import FORMATS, export_c
from levin.codegen.weight_fields import PREFER

EXAMPLES = """examples:
  levin export model.lvn --c out/
  levin export model.lvn --c out/ --format rans --json -
  levin export pruned.lvn --c out/ --prefer speed
Weight formats: int8 (raw, read in place), packed (low-bit), codebook, rans (decoded two output
channels at a time into scratch), sparse (nonzeros only), auto (the .lvn's own bytes where the C
reader takes them, else the smallest). --prefer speed: auto and sparse pick per layer the coding
with the fewest estimated Cortex-M4 instructions (sparse where it runs faster than dense), of
those within 5%, the smallest. Build: cc -std=c99 -I out out/*.c your_main.c
"""


def register(sub) -> None:
    p = sub.add_parser("export", help="generate C code (model.c/.h + runtime) from a .lvn model",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="the .lvn file (an integer model)")
    p.add_argument("--c", dest="out_dir", required=True, metavar="OUTDIR", help="folder for the C sources")
    p.add_argument("--format", default="auto", choices=list(FORMATS), help="weight format (default auto)")
    p.add_argument("--prefer", default="flash", choices=list(PREFER),
                   help="what auto and sparse minimize per layer: flash bytes or M4 instructions (default flash)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON ('-' for stdout)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise LevinError(f"--c {out}: exists and is not a folder; give a folder for the C sources")
    try:
        result = export_c(args.model, out, args.format, prefer=args.prefer)
    except OSError as exc:  # the folder cannot be made or written (permissions, a full disk)
        raise LevinError(f"cannot write the C sources to {out}: {exc.strerror or exc}") from None
    if args.json != "-":
        print(f"wrote {len(result.files)} files to {result.out_dir}: weights {result.weight_bytes} B in "
              f"flash, arena {result.arena_bytes} B (activations {result.activation_bytes} + scratch "
              f"{result.scratch_bytes})")
        for name, chain in result.chains.items():
            print(f"  {name}: {chain}")
    if args.json:
        write_json(result.to_dict(), args.json)
    return 0
