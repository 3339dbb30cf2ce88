"""`levin demo`: the main job on data that needs no download (scikit-learn's 8x8 digits)."""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from levin import zoo
from levin.cli.common import table, writable_dir
from levin.train import data as datasets
from levin.train.loop import CHECKPOINT, train

MODEL = "digits_cnn"


def register(sub) -> None:
    p = sub.add_parser("demo", help="train the digits CNN end to end (no data download)",
                       description=__doc__)
    p.add_argument("--out", default="runs/demo", help="run directory (default: runs/demo)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    out = writable_dir(args.out)
    (Path(out) / CHECKPOINT).unlink(missing_ok=True)   # the demo always trains afresh
    spec = zoo.spec(MODEL)
    torch.manual_seed(spec.train.seed)
    model = spec.factory()
    data = datasets.load(spec.dataset)
    print(f"training {MODEL} ({sum(p.numel() for p in model.parameters()):,} params) on "
          f"{len(data.x_train)} digits, testing on {len(data.x_test)}")
    result = train(model, data, spec.train, out, model_name=MODEL)
    print()
    print(table(["model", "params", "test accuracy", "train time", "saved to"],
                [[MODEL, f"{sum(p.numel() for p in model.parameters()):,}",
                  f"{100 * result.test_accuracy:.2f}%", f"{result.wall_s:.1f} s", str(out)]]))
    return 0
