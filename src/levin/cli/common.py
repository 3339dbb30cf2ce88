"""Helpers shared by subcommands: output folders and argument types (tables and JSON: levin.output)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
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


def add_data_arguments(p) -> None:
    """The data options of every command that takes data: a built-in dataset or your own source."""
    from levin.data.layout import LAYOUTS
    from levin.train import data as datasets

    p.add_argument("--dataset", help=f"a built-in dataset: {', '.join(datasets.names())} "
                                     f"(default: the zoo model's own)")
    p.add_argument("--data", metavar="SOURCE",
                   help="your own data: a .npz (x, y), .npy, or .csv file, a folder of images or WAV "
                        "clips in class subfolders, or path/to/file.py:factory (see docs/data.md)")
    p.add_argument("--data-dir", help="folder with the built-in dataset's files (default: $LEVIN_DATA_DIR)")
    p.add_argument("--layout", choices=LAYOUTS, help="axes of --data arrays (default: inferred, and echoed)")
    p.add_argument("--label-column", metavar="NAME", help="--data CSV: the label column (default: label)")
    p.add_argument("--audio-features", choices=("logmel", "mfcc"), default="logmel",
                   help="--data WAV folder: features per frame, by librosa (default logmel)")
    p.add_argument("--skip-bad", action="store_true",
                   help="--data folder: skip unreadable files (default: stop and name them)")
    p.add_argument("--validation", type=float, default=0.1, metavar="FRACTION",
                   help="share of the training samples held out to score choices on (default 0.1)")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the validation (and test) split (0)")


def load_data(args, loaded):
    """The data a command runs on, for the model `loaded` (levin.models.LoadedModel): --data or
    --dataset (else the zoo model's own), with its validation split; checked against the model
    and echoed in one line. Raises LevinError on any mismatch."""
    from levin import zoo
    from levin.data import DataOptions, describe, load_source, with_validation
    from levin.data.fit import check_model_takes
    from levin.train import data as datasets

    if args.data and args.dataset:
        raise LevinError("give --data (your own) or --dataset (a built-in one), not both")
    if args.data:
        options = DataOptions(layout=args.layout, label_column=args.label_column,
                              audio_features=args.audio_features, skip_bad=args.skip_bad,
                              seed=args.split_seed)
        data = load_source(args.data, options, loaded.input_shape)
    else:
        name = args.dataset or (zoo.spec(loaded.name).dataset if loaded.name in zoo.names() else None)
        if name is None:
            raise LevinError("--data SOURCE (or --dataset NAME) is required for a model outside the zoo")
        data = datasets.load(name, args.data_dir)
        data = replace(data, split={"source": name, "test_from": "given"})
    data = with_validation(data, args.validation, args.split_seed)
    check_model_takes(loaded.module, loaded.name, loaded.input_shape, data)
    print(describe(data), file=human(args))
    return data
