"""`levin train`: train a zoo model (or your own) on a dataset, resumably."""

from __future__ import annotations

import argparse

from levin import zoo
from levin.cli.common import (TASKS, add_data_arguments, add_out_argument, add_threads_argument,
                              add_weights_argument, check_data_arguments, check_output_file,
                              check_writable, human, load_data, nonnegative_float, positive_int,
                              seed, writable_dir, write_output)
from levin.config import TrainConfig
from levin.errors import LevinError

EXAMPLES = """examples:
  levin train --model lenet5 --dataset mnist --data-dir ../shared/data --out runs/lenet5
  levin train --model digits_cnn --epochs 5 -o runs/digits --json -
  levin train --model my_model.py:build --data readings.csv --label-column activity --out runs/har
The validation split (--validation, seeded by --split-seed) is held out of training: each epoch
is scored on it (as `levin quantize` and `levin compress` score their choices), the test split
once, at the end.
Rerunning the same command after an interruption resumes from the last checkpoint.
Every argument is checked before training starts. The same --seed, data and platform give the
same weights, bit for bit, at any core count (torch runs on --threads, default 1).
"""


def register(sub) -> None:
    p = sub.add_parser("train", help="train a model, with checkpoints and resume",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help=f"zoo name ({', '.join(zoo.names())}), path/to/file.py:factory, "
                        f"or a checkpoint directory to fine-tune")
    add_weights_argument(p)
    add_data_arguments(p)
    add_out_argument(p, help="run directory: checkpoints, model.safetensors, model.json")
    p.add_argument("--epochs", type=positive_int, help="default: the zoo model's preset, else 10")
    p.add_argument("--batch-size", type=positive_int)
    p.add_argument("--lr", type=float, help="peak learning rate (cosine decay to 0)")
    p.add_argument("--optimizer", choices=("sgd", "adam"))
    p.add_argument("--weight-decay", type=nonnegative_float)
    p.add_argument("--seed", type=seed, help="seeds the initial weights and every step (default 0)")
    p.add_argument("--shift", type=int, metavar="PIXELS",
                   help="augment by random translation of up to PIXELS pixels")
    p.add_argument("--checkpoint-every", type=positive_int, metavar="STEPS")
    p.add_argument("--teacher", help="distil from this model (zoo name or checkpoint directory)")
    p.add_argument("--distill-alpha", type=float, help="weight of the teacher's soft targets "
                                                       "(default 0.5 with --teacher)")
    add_threads_argument(p)
    p.add_argument("--task", choices=TASKS,
                   help="the loss and the score: cross-entropy and accuracy (classification, the "
                        "default), MSE against numeric targets (regression), or MSE against the "
                        "input (reconstruction: unlabelled data is enough; anomaly: scored by ROC "
                        "AUC of the reconstruction error)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON ('-' for stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or per-epoch lines")
    p.set_defaults(run=run)


def config_for(args: argparse.Namespace, base: TrainConfig) -> TrainConfig:
    alpha = args.distill_alpha
    if alpha is None and args.teacher:
        alpha = 0.5
    return base.with_(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                      optimizer=args.optimizer, weight_decay=args.weight_decay, seed=args.seed,
                      shift=args.shift, checkpoint_every=args.checkpoint_every, distill_alpha=alpha,
                      task=args.task)


def run(args: argparse.Namespace) -> int:
    from levin.models import load_model
    from levin.train.loop import FINAL, train
    from levin.train.seeding import deterministic

    # Everything a user can get wrong is checked before any work (and before anything is written).
    base = zoo.spec(args.model).train if args.model in zoo.names() else TrainConfig()
    config = config_for(args, base)
    if config.distill_alpha > 0 and not args.teacher:
        raise LevinError("--distill-alpha needs --teacher")
    check_data_arguments(args)
    check_writable(args.out, "--out")
    check_output_file(args.json, "--json")
    with deterministic(config.seed, args.threads):   # the initial weights are part of the run
        loaded = load_model(args.model, args.weights)
        teacher = load_model(args.teacher).module if args.teacher else None
        data = load_data(args, loaded, config.task, trains=True)   # bad data, or data the model cannot take
        out = writable_dir(args.out)
        dataset = data.name
        result = train(loaded.module, data, config, out, model_name=loaded.name, teacher=teacher,
                       progress=not args.quiet)
    summary = {k: result.meta[k] for k in ("model", "dataset", "task", "metric", "test_accuracy", "train_wall_s")}
    summary.update(epochs=config.epochs, checkpoint=str(out / FINAL), split=data.split)
    if config.task == "classification":
        summary["test_error"] = 1 - result.test_accuracy
        scored = (f"test accuracy {100 * result.test_accuracy:.2f}% "
                  f"(error {100 * (1 - result.test_accuracy):.2f}%)")
    else:
        scored = f"test {result.meta['metric']} {result.test_accuracy:.4g}"
    if result.resumed_at is not None:
        summary["resumed_at"] = {"epoch": result.resumed_at[0] + 1, "step": result.resumed_at[1]}
    print(f"{loaded.name} on {dataset}: {scored}, {config.epochs} epochs, "
          f"{result.wall_s:.1f} s training; saved {out / FINAL}", file=human(args))
    if args.json:
        write_output(summary, args.json)
    return 0

