"""Helpers shared by subcommands: output folders, checks made before any work, argument types
(tables and JSON: levin.output). Light on imports: `levin --help` loads this module."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Callable, TextIO

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


def check_writable(path: str | Path, what: str = "") -> Path:
    """Prove that the folder `path` can be written (made, if missing) without writing anything:
    a probe file in it, or in its nearest existing parent, is created and removed. For the
    checks made before long work; `writable_dir` makes the folder when the work starts.

    Raises:
        LevinError: one line naming the argument (`what`), `path` and why.
    """
    out = Path(path)
    label = f"{what}: " if what else ""
    if out.exists() and not out.is_dir():
        raise LevinError(f"{label}cannot write to {out}: it exists and is not a folder")
    parent = out
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise LevinError(f"{label}cannot write to {out}: {parent} is not a folder")
    try:
        fd, probe = tempfile.mkstemp(prefix=".levin-write-test", dir=parent)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise LevinError(f"{label}cannot write to {out}: {exc.strerror or exc}") from None
    return out


def check_output_file(path: str | None, what: str) -> None:
    """Prove that the file `path` can be written later ('-' is stdout; None: no file), before
    any work: not a folder, its folder writable (it is made when the file is written)."""
    if path is None or path == "-":
        return
    target = Path(path)
    if target.is_dir():
        raise LevinError(f"{what}: cannot write {target}: it is a folder")
    check_writable(target.parent, what)


def write_output(data, target: str) -> None:
    """`levin.output.write_json` to `target` ('-': stdout), making its folder first."""
    from levin.output import write_json

    if target != "-":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
    write_json(data, target)


def check_c_compiler() -> None:
    """A C compiler is there ($CC, gcc or cc), before the work that ends in a C build."""
    from levin.targets.build import compiler

    if compiler() is None:
        raise LevinError("no C compiler found (cc, gcc or $CC): install gcc, or pass --no-c")


class LazyChoices(Sequence):
    """argparse `choices` read from a module only when a value is checked or the command's help
    is shown, so that building the parser imports nothing heavy. Give the argument a `metavar`
    (argparse lists choices in the usage line otherwise) and `%(choices)s` in its help."""

    def __init__(self, load: Callable[[], Sequence[str]]):
        self._load, self._items = load, None

    def _all(self) -> tuple:
        if self._items is None:
            self._items = tuple(self._load())
        return self._items

    def __getitem__(self, i):
        return self._all()[i]

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, value) -> bool:
        return value in self._all()

    def __iter__(self):
        return iter(self._all())

    def __str__(self) -> str:
        return ", ".join(map(str, self._all()))


def human(args) -> TextIO:
    """Where the human-readable output goes: stdout, or stderr when `--json -` puts the JSON on
    stdout (so `levin CMD --json - | python -c 'import json, sys; json.load(sys.stdin)'` works)."""
    return sys.stderr if getattr(args, "json", None) == "-" else sys.stdout


def bounded(kind: type, ok, expected: str, name: str):
    """An argparse type: `kind(text)` where `ok` holds for it, else "expected <expected>, got ..."
    (0 and -1 are typos, not defaults)."""
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value
    parse.__name__ = name
    return parse


positive_int = bounded(int, lambda v: v >= 1, "a positive integer", "positive_int")   # counts, threads
seed = bounded(int, lambda v: v >= 0, "an integer >= 0", "seed")    # numpy takes no negative seeds
open_fraction = bounded(float, lambda v: 0 < v < 1, "a share between 0 and 1 (e.g. 0.1)", "open_fraction")
positive_float = bounded(float, lambda v: 0 < v < float("inf"), "a positive number", "positive_float")


def nonnegative_float(text: str) -> float:
    """argparse type: a number >= 0 (weight decay)."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def add_out_argument(p, required: bool = True, default: str | None = None, help: str = "run directory") -> None:
    """`-o/--out`: one spelling of the output argument for every command."""
    p.add_argument("-o", "--out", required=required, default=default, metavar="DIR", help=help)


def add_threads_argument(p) -> None:
    """`--threads`: torch threads of the run, and part of what makes its bytes (levin.train.seeding)."""
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="torch threads (default 1). The bytes depend on the seed and data, not on the "
                        "machine's cores; another N can be faster on a big model, and gives the same "
                        "bytes at that N only")


def add_weights_argument(p) -> None:
    """`--weights`: how a checkpoint of the user's own model definition is loaded (a checkpoint
    never names code for levin to import)."""
    p.add_argument("--weights", metavar="CHECKPOINT",
                   help="trained weights for --model (a checkpoint file or directory from `levin train`); "
                        "needed for a model defined in your own path/to/file.py:factory")


def dataset_names() -> list[str]:
    from levin.train import data as datasets

    return datasets.names()


def layouts() -> tuple[str, ...]:
    from levin.data.layout import LAYOUTS

    return LAYOUTS


def add_data_arguments(p) -> None:
    """The data options of every command that takes data: a built-in dataset or your own source."""
    p.add_argument("--dataset", choices=LazyChoices(dataset_names), metavar="NAME",
                   help="a built-in dataset: %(choices)s (default: the zoo model's own)")
    p.add_argument("--data", metavar="SOURCE",
                   help="your own data: a .npz (x, y), .npy, or .csv file, a folder of images or WAV "
                        "clips in class subfolders, or path/to/file.py:factory (see docs/data.md)")
    p.add_argument("--data-dir", help="folder with the built-in dataset's files (default: $LEVIN_DATA_DIR)")
    p.add_argument("--layout", choices=LazyChoices(layouts), metavar="LAYOUT",
                   help="axes of --data arrays: %(choices)s (default: inferred, and echoed)")
    p.add_argument("--label-column", metavar="NAME", help="--data CSV: the label column (default: label)")
    p.add_argument("--audio-features", choices=("logmel", "mfcc"), default="logmel",
                   help="--data WAV folder: features per frame, by librosa (default logmel)")
    p.add_argument("--skip-bad", action="store_true",
                   help="--data folder: skip unreadable files (default: stop and name them)")
    p.add_argument("--validation", type=open_fraction, default=0.1, metavar="FRACTION",
                   help="share of the training samples held out to score choices on (default 0.1)")
    p.add_argument("--split-seed", type=seed, default=0, metavar="SEED",
                   help="seed of the validation (and test) split (0)")
    p.add_argument("--input-scale", type=positive_float, metavar="FACTOR",
                   help="multiply every input by FACTOR, e.g. 255 for a model trained on 0..255 "
                        "pixels (levin's built-in image datasets are in 0..1)")


TASKS = ("classification", "regression", "reconstruction", "anomaly")    # levin.metrics.TASKS


def add_task_arguments(p, help: str) -> None:
    """--task and --top-k: what the model does, so what its loss and score are (levin.metrics)."""
    p.add_argument("--task", default="classification", choices=TASKS,
                   help=help + " (default classification)")
    p.add_argument("--top-k", type=positive_int, default=1, help="classification: score by top-k accuracy (1)")


def check_task_arguments(args) -> None:
    if args.top_k > 1 and args.task != "classification":
        raise LevinError(f"--top-k is for --task classification; {args.task} scores by its own metric")


def check_data_arguments(args) -> None:
    """What the data options can be told wrong without reading any data (the data itself is
    read, and checked against the model, by `load_data`, still before any work)."""
    if getattr(args, "data", None) and getattr(args, "dataset", None):
        raise LevinError("give --data (your own) or --dataset (a built-in one), not both")


def check_anomaly_labels(data, task: str, source: str) -> None:
    """An anomaly detector trains on normal samples, labelled or not, and is scored by ROC AUC on
    test labels 0 (normal) and 1 (anomalous): both must be there, said before any work."""
    import numpy as np

    if task == "anomaly" and set(np.unique(data.y_test).tolist()) != {0, 1}:
        raise LevinError(f"--task anomaly: the test labels of {source} must be 0 (normal) and 1 "
                         f"(anomalous), both present (found {sorted(set(np.unique(data.y_test).tolist()))[:5]}); "
                         f"e.g. a .npz with x_train (normal frames), x_test and y_test")


def read_source(args, input_shape, task: str = "classification", model_name: str | None = None):
    """--data SOURCE (read for a model input of `input_shape`) or --dataset NAME (else the zoo
    model's own), scaled by --input-scale; no validation split yet. Options a command does not
    take keep their defaults. Raises LevinError on a source the task cannot use."""
    from levin import zoo
    from levin.data import DataOptions, load_source
    from levin.train import data as datasets

    if args.data and args.dataset:
        raise LevinError("give --data (your own) or --dataset (a built-in one), not both")
    if args.data:
        options = DataOptions(layout=args.layout, label_column=getattr(args, "label_column", None),
                              audio_features=getattr(args, "audio_features", "logmel"),
                              skip_bad=getattr(args, "skip_bad", False), seed=getattr(args, "split_seed", 0),
                              unlabelled=task in ("reconstruction", "anomaly"), values=task == "regression")
        data = load_source(args.data, options, input_shape)
        check_anomaly_labels(data, task, args.data)
    else:
        name = args.dataset or (zoo.spec(model_name).dataset if model_name in zoo.names() else None)
        if name is None:
            raise LevinError("--data SOURCE (or --dataset NAME) is required for a model outside the zoo")
        if task == "regression":
            raise LevinError(f"the built-in dataset {name} has class labels; --task regression takes "
                             f"--data SOURCE with numeric targets")
        data = datasets.load(name, args.data_dir)
        data = replace(data, split={"source": name, "test_from": "given"})
    if getattr(args, "input_scale", None):
        import numpy as np

        f = np.float32(args.input_scale)
        data = replace(data, x_train=data.x_train * f, x_test=data.x_test * f,
                       x_val=None if data.x_val is None else data.x_val * f,
                       split={**data.split, "input_scale": args.input_scale})
    return data


def load_data(args, loaded, task: str = "classification", output: int = 0, trains: bool = False):
    """The data a command runs on, for the model `loaded` (levin.models.LoadedModel): --data or
    --dataset (else the zoo model's own), with its validation split; checked against the model
    and echoed in one line. A reconstruction task takes unlabelled data; labels are checked
    against the model's outputs for classification only. Raises LevinError on any mismatch."""
    from levin.data import describe, with_validation
    from levin.data.fit import check_model_takes

    data = read_source(args, loaded.input_shape, task, loaded.name)
    data = with_validation(data, args.validation, args.split_seed)
    check_model_takes(loaded.module, loaded.name, loaded.input_shape, data,
                      labels=task == "classification", output=output, trains=trains)
    print(describe(data), file=human(args))
    return data
