"""`levin convert`: int8 .tflite <-> .lvn, optionally shrinking the weights on the way (no retraining).

The output format follows the output file's suffix. A .tflite input is imported as an integer
graph (bit-exact with TFLite Micro); a .lvn output codes every weight tensor losslessly with its
smallest measured chain. --kmeans and --prune change weights (near-lossless, see
levin.tflite_shrink); check the accuracy of the result before shipping it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from levin import tflite_shrink
from levin.coding import container
from levin.errors import LevinError

EXAMPLES = """examples:
  levin convert model.tflite                     # -> model.lvn, weights coded losslessly
  levin convert model.tflite -o small.lvn --kmeans 16 --prune 0.3
  levin convert model.lvn -o model.tflite        # back to .tflite, for TFLite Micro
"""
SUFFIXES = (".tflite", ".lvn")


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert int8 .tflite <-> .lvn, optionally k-means / prune the weights",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="an int8 .tflite or a .lvn file")
    p.add_argument("-o", "--out", help="output file, .lvn or .tflite (default: the input's name with "
                                       "the other suffix)")
    p.add_argument("--kmeans", type=int, metavar="K", help="replace each weight tensor's int8 codes by "
                                                           "its K nearest integer centroids (zero kept)")
    p.add_argument("--prune", type=float, metavar="FRACTION",
                   help="set this fraction of each weight tensor's smallest codes to zero (before --kmeans)")
    p.set_defaults(run=run)


def _suffix(path: Path, what: str) -> str:
    if path.suffix not in SUFFIXES:
        raise LevinError(f"{what} {path}: unknown suffix {path.suffix!r}; use .tflite or .lvn")
    return path.suffix


def convert(src: Path, out: Path, kmeans: int | None = None, prune: float | None = None) -> tuple[int, int]:
    """Convert `src` to `out` (formats by suffix); return (input bytes, output bytes)."""
    from levin.ir import tflite, tflite_export

    kind = _suffix(src, "input")
    graph = tflite.load(src) if kind == ".tflite" else container.read(src)
    if prune is not None:
        graph = tflite_shrink.prune_codes(graph, prune)
    if kmeans is not None:
        graph = tflite_shrink.kmeans_codes(graph, kmeans)
    if _suffix(out, "output") == ".lvn":
        size = container.write(graph, out)
    else:
        size = tflite_export.save(graph, out)
    return src.stat().st_size, size


def run(args: argparse.Namespace) -> int:
    src = Path(args.input)
    if not src.is_file():
        raise LevinError(f"input {src} does not exist")
    out = Path(args.out) if args.out else src.with_suffix(".lvn" if src.suffix == ".tflite" else ".tflite")
    if out.resolve() == src.resolve():
        raise LevinError(f"output {out} would overwrite the input; pass -o")
    before, after = convert(src, out, args.kmeans, args.prune)
    print(f"{src} ({before:,} B) -> {out} ({after:,} B), {after / before:.3f}x")
    if after > before:
        print(f"levin convert: warning: {out} is larger than {src}", file=sys.stderr)
    return 0
