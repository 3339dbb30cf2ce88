"""`levin compress`: run a recipe on a trained model and freeze it to a .lvn file."""

from __future__ import annotations

import argparse

from levin import zoo
from levin.analyze import devices
from levin.cli.common import add_data_arguments, add_weights_argument, human, load_data, positive_int, writable_dir
from levin.output import write_json
from levin.codegen.weight_fields import FORMATS

# Shown by --help and parsed by tests/cli/test_compress.py: keep it a valid recipe.
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
  levin compress --model digits_cnn --recipe digits --out runs/digits-compressed --json -
  levin compress --model my_model.py:build --weights runs/mine --data images/ --recipe digits --out runs/mine-c

The steps are scored on the validation split (--validation, --split-seed: the same samples
`levin train` held out); the test split is scored for the baseline and the frozen graph only.

An untrained zoo model is trained first (its own preset, in OUT/baseline). Rerunning the same
command after an interruption resumes: finished steps are loaded from OUT/steps, an interrupted
fine-tuning continues from its checkpoint. Steps: prune, nm, channels, share, mdl, finetune.
A recipe (YAML):

{EXAMPLE_RECIPE}"""


def register(sub) -> None:
    from levin.compressor.recipe import preset_names

    p = sub.add_parser("compress", help="prune / share / quantize / code a model by a recipe",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help=f"checkpoint directory, zoo name ({', '.join(zoo.names())}) or path/to/file.py:factory")
    add_weights_argument(p)
    p.add_argument("--recipe", required=True,
                   help=f"recipe YAML file, or a preset: {', '.join(preset_names())}")
    add_data_arguments(p)
    p.add_argument("--out", required=True, help="run directory: steps/, model.lvn, summary.json")
    p.add_argument("--no-c", action="store_true", help="skip the C export, build and bit-exact check")
    p.add_argument("--no-report", action="store_true", help="skip report.html")
    p.add_argument("--format", default="auto", dest="weight_format", choices=list(FORMATS),
                   help="C weight format (default auto)")
    p.add_argument("--verify-samples", type=positive_int, metavar="N",
                   help="test inputs the C output is compared on (default: all)")
    p.add_argument("--device", default="cortex-m4", choices=list(devices.DEVICES),
                   help="device for the report's fit verdict (default cortex-m4)")
    p.add_argument("--threads", type=positive_int, metavar="N",
                   help="torch threads (default: one per core; 1 is faster while other jobs share the cores)")
    p.add_argument("--json", metavar="FILE", help="also write the summary as JSON ('-' for stdout)")
    p.add_argument("--quiet", action="store_true", help="no progress bars or step lines")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from levin.compressor.api import compress
    from levin.report.finish import finish
    from levin.compressor.recipe import load
    from levin.compressor.summary import render, summary_dict

    from levin.models import load_model

    recipe = load(args.recipe)           # a bad recipe fails before any work
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    loaded = load_model(args.model, args.weights)
    data = load_data(args, loaded)       # and so does bad data
    out = writable_dir(args.out)
    result = compress(loaded, data, recipe=recipe, out_dir=out, progress=not args.quiet)
    title = f"{args.model} on {result.dataset}, recipe {recipe.name}"
    extra = finish(result, recipe, result.data, out, c=not args.no_c,
                   report=not args.no_report, weight_format=args.weight_format,
                   samples=args.verify_samples, device=args.device, title=title, progress=not args.quiet)
    print(render(result, title), file=human(args))
    print(deployment_lines(extra), file=human(args))
    if args.json:
        write_json({**summary_dict(result, recipe), **extra}, args.json)
    return 0


def deployment_lines(extra: dict) -> str:
    lines = []
    rt = extra.get("runtime")
    if rt:
        lines.append(f"C runtime: bit-exact with the integer reference on {rt['samples']:,} test inputs "
                     f"({100 * rt['accuracy']:.2f}% accuracy); flash {rt['flash_bytes']:,} B "
                     f"({rt['flash_target']}), RAM {rt['ram_bytes']:,} B (arena incl. "
                     f"{rt['scratch_bytes']:,} B scratch)")
    if extra.get("report"):
        lines.append(f"report: {extra['report']}")
    return "\n".join(lines)
