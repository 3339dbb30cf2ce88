"""Helpers shared by subcommands: output folders and argument types (tables and JSON: levin.output)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TextIO

from levin.errors import LevinError

# Documented in `levin --help`; scripts may rely on them.
EXIT_OK, EXIT_BAD_INPUT, EXIT_DOES_NOT_FIT, EXIT_VERIFICATION, EXIT_INTERRUPTED = 0, 2, 3, 4, 130
EXIT_CODES = """exit status:
  0    success
  1    an internal error (a bug: please report the traceback)
  2    bad input: arguments, files, data or a model levin cannot take (one line on stderr)
  3    the model does not fit the device (`levin profile --device`)
  4    verification failed: the generated C differs from the integer reference
  130  interrupted (Ctrl-C, SIGTERM); rerun the same command to resume"""


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


def human(args) -> TextIO:
    """Where the human-readable output goes: stdout, or stderr when `--json -` puts the JSON on
    stdout (so `levin CMD --json - | python -c 'import json, sys; json.load(sys.stdin)'` works)."""
    return sys.stderr if getattr(args, "json", None) == "-" else sys.stdout


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
