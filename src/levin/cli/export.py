"""`levin export`: a .lvn model -> a C package for a microcontroller (NAME.c/.h, the levin runtime,
a README, Makefile, CMakeLists.txt and an example main)."""

from __future__ import annotations

import argparse
from pathlib import Path

from levin.errors import LevinError
from levin.output import table, write_json
from levin.codegen import FORMATS, export_c
from levin.codegen.package import check_name
from levin.codegen.weight_fields import PREFER

EXAMPLES = """examples:
  levin export model.lvn -o out/
  levin export kws.lvn -o out/ --name kws && levin export vww.lvn -o out/ --name vww
  levin export model.lvn -o out/ --format rans --json -
  levin export pruned.lvn -o out/ --optimize speed
--name kws prefixes the model's files, functions and macros (kws.c, kws_run, KWS_ARENA_BYTES);
models exported under different names into one folder share its runtime and link into one
image. The folder is a package: README.md (Make, CMake, STM32CubeIDE, Zephyr, Arduino),
Makefile and CMakeLists.txt (library levin_models), example/main.c: try `make -C out/ run`.
Weight formats: int8 (raw, read in place), packed (low-bit), codebook, rans (decoded two output
channels at a time into scratch), sparse (nonzeros only), auto (per tensor, by --optimize).
--optimize (what auto picks per tensor by; sparse too, for speed):
  balanced  the fewest flash bytes among codings within 2x of the fastest estimate, and within
            int8's RAM plus the largest decoding scratch of one kernel (the default: a conv that
            decodes its weights cannot stream, which can double RAM; a layer whose weights are
            each read once can run 20x slower rANS-coded)
  flash     the fewest flash bytes (the .lvn's own coding where the C reader takes it)
  ram       raw int8: no decoding scratch, every conv streams
  speed     the fewest estimated Cortex-M4 instructions (sparse where it runs faster than dense),
            of those within 5%, the fewest bytes
The table printed says what each tensor's coding costs against raw int8.
"""


def register(sub) -> None:
    p = sub.add_parser("export", help="generate C code (model.c/.h + runtime) from a .lvn model",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", help="the .lvn file (an integer model)")
    p.add_argument("-o", "--out", "--c", dest="out_dir", required=True, metavar="OUTDIR",
                   help="folder for the C package (created; other models' files in it are kept)")
    p.add_argument("--name", default="model",
                   help="C prefix of the model's files, functions and macros (default: model)")
    p.add_argument("--format", default="auto", choices=list(FORMATS), help="weight format (default auto)")
    p.add_argument("--optimize", "--prefer", dest="prefer", default="balanced", choices=list(PREFER),
                   help="what auto picks per tensor by (default balanced; see below)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON ('-' for stdout)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    check_name(args.name)
    out = Path(args.out_dir)
    if out.exists() and not out.is_dir():
        raise LevinError(f"--out {out}: exists and is not a folder; give a folder for the C package")
    try:
        result = export_c(args.model, out, args.format, prefer=args.prefer, name=args.name)
    except OSError as exc:  # the folder cannot be made or written (permissions, a full disk)
        raise LevinError(f"cannot write the C sources to {out}: {exc.strerror or exc}") from None
    if args.json != "-":
        print(render(result))
    if args.json:
        write_json(result.to_dict(), args.json)
    return 0


def render(result) -> str:
    """Per weight tensor, its coding and what it costs against raw int8; then the totals."""
    rows = [(name, c["chain"], c["flash_bytes"], c["int8_flash_bytes"], c["scratch_bytes"])
            for name, c in result.choices.items()]
    lines = [table(("weight", "coding", "flash B", "int8 B", "scratch B"), rows)] if rows else []
    lines += [f"{result.name}: weights {result.weight_bytes:,} B in flash (all int8: "
              f"{result.int8_weight_bytes:,} B), arena {result.arena_bytes:,} B (activations "
              f"{result.activation_bytes:,} + scratch {result.scratch_bytes:,}; all int8: "
              f"{result.int8_arena_bytes:,} B), --optimize {result.prefer}",
              f"wrote {result.name}.c/.h, the runtime and the package to {result.out_dir}; "
              f"try it: make -C {result.out_dir} run"]
    return "\n".join(lines)
