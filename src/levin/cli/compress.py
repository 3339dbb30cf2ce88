"""`levin compress`: run a recipe on a trained model and freeze it to a .lvn file."""

from __future__ import annotations

import argparse

from levin import zoo
from levin.cli.common import (LazyChoices, add_data_arguments, add_out_argument, add_task_arguments,
                              add_threads_argument, add_weights_argument, check_c_compiler,
                              check_data_arguments, check_task_arguments,
                              check_output_file, check_writable, human, load_data, positive_int,
                              writable_dir, write_output)

# Shown by --help and loaded by tests/cli/test_help.py: keep it a valid recipe.
EXAMPLE_RECIPE = """\
name: prune-share-code
distill: {alpha: 0.5, temperature: 4}      # optional: learn from the uncompressed model
steps:
  - prune: {sparsity: 0.9, schedule: agp}   # PruneConfig fields
    finetune: {epochs: 10, lr: 0.02}        # TrainConfig fields
  - share: {conv_bits: 8, linear_bits: 5}   # ShareConfig: k-means codebooks
    finetune: {epochs: 2, optimizer: adam, lr: 1.0e-4, weight_decay: 0}
quantize: {per_channel: false}              # QuantConfig fields
code: {}                                    # CodeConfig fields
"""

EXAMPLES = f"""examples:
  levin compress --model runs/lenet5 --recipe recipes/deep-compression-lenet5.yaml --data-dir ../shared/data --out runs/dc-lenet5
  levin compress --model digits_cnn --recipe digits -o runs/digits-compressed --json -
  levin compress --model my_model.py:build --weights runs/mine --data images/ --recipe digits --out runs/mine-c
  levin compress --model ad01_fp32.tflite --data frames.npz --task anomaly --recipe prune-ae.yaml -o runs/ad

--task sets the fine-tuning loss and what every score is in: classification (cross-entropy; top-1
accuracy, or top-k with --top-k), reconstruction (MSE against the input; unlabelled data is
enough) or anomaly (MSE against the input; ROC AUC of the reconstruction error on test labels 0
normal, 1 anomalous). The recipe's quantize.max_drop speaks the same metric: percentage points of
accuracy or AUC, or % more MSE.

The steps are scored on the validation split (--validation, --split-seed: the same samples
`levin train` held out); the test split is scored for the baseline and the frozen graph only.

Every argument (recipe, model, data, --out, --json, a C compiler unless --no-c) is checked
before any work. The same levin, data and platform give the same model.lvn, byte for byte, at
any core count (torch runs on --threads, default 1; README, "Determinism").

An untrained zoo model is trained first (its own preset, in OUT/baseline). Rerunning the same
command after an interruption resumes: finished steps are loaded from OUT/steps, an interrupted
fine-tuning continues from its checkpoint. Steps: prune, nm, channels, share, mdl, finetune.
A recipe (YAML):

{EXAMPLE_RECIPE}"""


def _devices() -> list[str]:
    from levin.analyze import devices

    return list(devices.DEVICES)


def _formats() -> list[str]:
    from levin.codegen.weight_fields import FORMATS

    return list(FORMATS)


def _presets() -> list[str]:
    from levin.compressor.recipe import preset_names

    return preset_names()


def register(sub) -> None:
    p = sub.add_parser("compress", help="prune / share / quantize / code a model by a recipe",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help=f"checkpoint directory, zoo name ({', '.join(zoo.names())}), path/to/file.py:factory, "
                        f"or a float .onnx / .tflite")
    add_weights_argument(p)
    recipe = p.add_argument("--recipe", required=True, metavar="RECIPE",
                            help="recipe YAML file, or a preset: %(presets)s")
    recipe.presets = LazyChoices(_presets)      # read when the help is shown (not a restriction)
    add_data_arguments(p)
    add_task_arguments(p, "what the model does: its fine-tuning loss and what it is scored by")
    p.add_argument("--score-output", type=int, default=0, metavar="K",
                   help="a model with several outputs: the one the task trains and scores (default "
                        "0); the others are fine-tuned toward the uncompressed model's outputs")
    add_out_argument(p, help="run directory: steps/, model.lvn, summary.json")
    p.add_argument("--no-c", action="store_true", help="skip the C export, build and bit-exact check")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--format", default="auto", dest="weight_format", choices=LazyChoices(_formats),
                   metavar="FORMAT", help="C weight format: %(choices)s (default auto)")
    p.add_argument("--optimize", default="balanced", choices=("balanced", "flash", "ram", "speed"),
                   help="what the C export picks each weight's coding by (default balanced: the "
                        "fewest flash bytes within 2x of the fastest and int8's RAM plus one "
                        "kernel's decoding scratch; the export command's help says more)")
    p.add_argument("--verify-samples", type=positive_int, metavar="N",
                   help="test inputs the C output is compared on (default: all)")
    p.add_argument("--device", default="cortex-m4", choices=LazyChoices(_devices), metavar="DEVICE",
                   help="device for the report's fit verdict: %(choices)s (default cortex-m4)")
    add_threads_argument(p)
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON ('-' for stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or step lines")
    p.set_defaults(run=run)


SEED = 0        # what `levin compress` seeds torch with; levin.compress's default too


def run(args: argparse.Namespace) -> int:
    from levin.compressor.api import compress
    from levin.compressor.pipeline import check_task
    from levin.compressor.recipe import load
    from levin.compressor.summary import render, summary_dict
    from levin.models import load_for_compression
    from levin.report.finish import finish
    from levin.train.seeding import deterministic

    # Everything a user can get wrong is checked before any work.
    recipe = load(args.recipe)
    check_task_arguments(args)
    check_task(recipe, args.task, args.top_k)
    check_data_arguments(args)
    check_writable(args.out, "--out")
    check_output_file(args.json, "--json")
    if not args.no_c:
        check_c_compiler()
    # Seeded as levin.compress seeds (the initial weights of an untrained zoo model are part of
    # the run), on --threads threads (default 1) from start to end.
    with deterministic(SEED, args.threads):
        loaded = load_for_compression(args.model, args.weights)
        data = load_data(args, loaded, args.task, output=args.score_output)   # bad data, or data the model cannot take
        out = writable_dir(args.out)
        result = compress(loaded, data, recipe=recipe, out_dir=out, progress=not args.quiet,
                          seed=SEED, threads=args.threads, task=args.task, top_k=args.top_k,
                          output=args.score_output)
        title = f"{args.model} on {result.dataset}, recipe {recipe.name}"
        extra = finish(result, recipe, result.data, out, c=not args.no_c,
                       report=not args.no_report, weight_format=args.weight_format,
                       prefer=args.optimize, samples=args.verify_samples, device=args.device, title=title, progress=not args.quiet)
    print(render(result, title), file=human(args))
    print(deployment_lines(extra, result), file=human(args))
    if args.json:
        write_output({**summary_dict(result, recipe), **extra}, args.json)
    return 0


def deployment_lines(extra: dict, result) -> str:
    lines = []
    rt = extra.get("runtime")
    if rt:
        lines.append(f"C runtime: bit-exact with the integer reference on {rt['samples']:,} test inputs "
                     f"({result.metric} {result.text(rt['accuracy'])}); flash {rt['flash_bytes']:,} B "
                     f"({rt['flash_target']}), RAM {rt['ram_bytes']:,} B (arena incl. "
                     f"{rt['scratch_bytes']:,} B scratch)")
        lines.append(f"weight codings (--optimize {rt['prefer']}): weights {rt['weight_bytes']:,} B in "
                     f"flash and arena {rt['ram_bytes']:,} B, against {rt['int8_weight_bytes']:,} B and "
                     f"{rt['int8_ram_bytes']:,} B with every weight raw int8; per weight: "
                     + ", ".join(f"{name} {chain}" for name, chain in rt["flashed"].items()))
    if extra.get("report"):
        lines.append(f"report: {extra['report']}")
    return "\n".join(lines)
