"""Helpers shared by subcommands: output folders and argument types (tables and JSON: levin.output)."""

from __future__ import annotations

import argparse
from pathlib import Path

from levin.errors import LevinError


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
