"""Helpers shared by subcommands: output paths, JSON output, tables."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

from levin.errors import LevinError
from levin.fileio import write_atomic


def writable_dir(path: str | Path) -> Path:
    """Create `path` if needed and prove it is writable, before any long work starts."""
    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".levin-write-test"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise LevinError(f"cannot write to {out}: {exc.strerror or exc}") from None
    return out


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1 (thread counts, sample counts): 0 and -1 are typos, not defaults."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def add_weights_argument(p) -> None:
    """`--weights`: how a checkpoint of the user's own model definition is loaded (a checkpoint
    never names code for levin to import)."""
    p.add_argument("--weights", metavar="CHECKPOINT",
                   help="trained weights for --model (a checkpoint file or directory from `levin train`); "
                        "needed for a model defined in your own path/to/file.py:factory")


def write_json(data: Any, target: str) -> None:
    """Write `data` as JSON to the file `target`, or to stdout for '-'."""
    text = json.dumps(data, indent=2) + "\n"
    if target == "-":
        sys.stdout.write(text)
        return
    write_atomic(target, text)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned."""
    cells = [list(map(str, headers))] + [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                         for i, (c, w) in enumerate(zip(row, widths)))

    return "\n".join([line(cells[0]), "  ".join("-" * w for w in widths)] + [line(r) for r in cells[1:]])
