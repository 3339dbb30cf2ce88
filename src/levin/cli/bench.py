"""`levin bench NAME`: run one of levin's benchmarks (the modules of levin.bench), print its table,
and with --json write its numbers."""

from __future__ import annotations

import argparse

from levin import bench

EXAMPLES = """examples:
  levin bench runtime --json runtime.json
  levin bench runtime --models lenet5 --formats int8,sparse
  levin bench runtime --models dscnn --formats int8 --per-layer
  levin bench runtime model.lvn kws.tflite --per-layer
  levin bench kernels --models kws,ad01 --opt Os --cores m4,m0+,m33
  levin bench runtime --help-bench
Options after NAME that `levin bench` does not know go to the benchmark itself.
`levin bench runtime MODEL_FILE...` measures your own .lvn / int8 .tflite files on the Cortex-M4
(qemu) and the host: the numbers `levin profile MODEL_FILE` reports, with host time and a
bit-exactness check on several inputs. With `--json -` the table goes to stderr.
"""


def register(sub) -> None:
    p = sub.add_parser("bench", help="run a benchmark: " + ", ".join(bench.names()),
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", metavar="NAME", help=f"one of: {', '.join(bench.names())}")
    p.add_argument("--json", metavar="FILE", help="also write the numbers as JSON ('-' for stdout)")
    p.add_argument("--help-bench", action="store_true", help="show the benchmark's own options")
    p.add_argument("options", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def _split_json(options: list[str], json_path: str | None) -> tuple[list[str], str | None]:
    """--json may also come after NAME, where argparse hands everything to the benchmark."""
    rest, k = [], 0
    while k < len(options):
        if options[k] == "--json" and k + 1 < len(options):
            json_path, k = options[k + 1], k + 2
            continue
        if options[k].startswith("--json="):
            json_path = options[k].split("=", 1)[1]
        else:
            rest.append(options[k])
        k += 1
    return rest, json_path


def run(args: argparse.Namespace) -> int:
    module = bench.get(args.name)
    options, json_path = _split_json(list(args.options), args.json)
    if args.help_bench or "--help-bench" in options:
        options = ["--help"]
    return module.main(options, json_path)
