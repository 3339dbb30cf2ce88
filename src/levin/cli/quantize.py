"""`levin quantize`: int8 (or low-bit / mixed-precision) integer graph of a trained model, with
float, fake-quant and integer-reference scores side by side, in the task's metric."""

from __future__ import annotations

import argparse

from levin import zoo
from levin.cli.common import (add_data_arguments, add_out_argument, add_task_arguments, add_weights_argument,
                              check_data_arguments, check_task_arguments, check_output_file, check_writable, human, load_data,
                              positive_int, seed, writable_dir, write_output)
from levin.config import QuantConfig
from levin.config.quant import ACTIVATION_OBSERVERS, WEIGHT_OBSERVERS
from levin.errors import LevinError
from levin.output import table

EXAMPLES = """examples:
  levin quantize --model runs/lenet5 --data-dir ../shared/data -o runs/lenet5-int8
  levin quantize --model runs/lenet5 --data-dir ../shared/data --bits 4 --qat-epochs 2
  levin quantize --model runs/lenet5 --data-dir ../shared/data --max-drop 0.3 --json -
  levin quantize --model digits_cnn --test-size 100 --calibration-size 100
  levin quantize --model my_model.py:build --weights runs/mine --data windows.npz --layout ncl
  levin quantize --model model.onnx --data images/ --out runs/onnx-int8
  levin quantize --model ad01_fp32.tflite --data frames.npz --task anomaly --max-drop 0.5
  levin quantize --model denoiser.py:build --weights runs/dn --data clean.npy --task reconstruction
'fake-quant' is the float model with the integer graph's rounding (float64); 'integer' is levin's
numpy integer reference, the oracle the C runtime matches bit for bit. --out writes the integer
graph as OUT/model.lvn (weights coded losslessly; `levin export OUT/model.lvn --c DIR` makes its C,
`levin inspect` shows its bytes) and OUT/result.json. Calibration uses training samples;
--max-drop picks widths on the validation split; the scores shown are on the test split.
--task: classification (top-k accuracy, --top-k), reconstruction (MSE of the output against the
input; unlabelled data is enough), anomaly (ROC AUC of the reconstruction error; test labels
0 normal, 1 anomalous). --max-drop speaks the task's metric: percentage points of accuracy or AUC,
or % more MSE.
Every argument is checked before any work; --seed, data and platform fix the result.
"""


def register(sub) -> None:
    p = sub.add_parser("quantize", help="int8 / low-bit integer graph; float vs fake-quant vs integer",
                       description=__doc__, epilog=EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True,
                   help=f"checkpoint directory, zoo name ({', '.join(zoo.names())}), "
                        f"path/to/file.py:factory, or a float .onnx / .tflite")
    add_weights_argument(p)
    add_data_arguments(p)
    p.add_argument("--bits", type=int, default=8, help="weight bits, 2..8 (default 8)")
    p.add_argument("--observer", choices=ACTIVATION_OBSERVERS, default="minmax",
                   help="activation range observer (default minmax)")
    p.add_argument("--percentile", type=float, help="for --observer percentile (default 99.99)")
    p.add_argument("--weight-observer", choices=WEIGHT_OBSERVERS,
                   help="weight scale observer (default minmax; mse is better below 8 bits)")
    p.add_argument("--per-tensor", action="store_true", help="one weight scale per tensor")
    p.add_argument("--calibration-size", type=positive_int, help="training samples to calibrate on (1000)")
    p.add_argument("--qat-epochs", type=int, help="quantization-aware fine-tuning epochs (0)")
    p.add_argument("--qat-lr", type=float, help="QAT learning rate (Adam, default 1e-3)")
    p.add_argument("--qat-shift", type=int, help="QAT augmentation: random shift in pixels")
    p.add_argument("--max-drop", type=float, metavar="DROP",
                   help="mixed precision: fewest weight bits within DROP of 8-bit on the validation "
                        "split (percentage points of accuracy or AUC; %% more MSE)")
    p.add_argument("--round-biases", action="store_true",
                   help="round each layer's biases to the coarsest step that leaves the validation "
                        "score no worse (fewer bytes in the .lvn)")
    add_task_arguments(p, "what the model does, so what it is scored by")
    p.add_argument("--score-output", type=int, default=0, metavar="K",
                   help="a model with several outputs: the one the task scores (default 0); all "
                        "are quantized and written")
    p.add_argument("--test-size", type=int, help="score on N test samples spread evenly over the test split (all)")
    p.add_argument("--seed", type=seed, help="calibration / QAT seed (0)")
    add_out_argument(p, required=False, help="write the integer graph here (model.lvn, result.json)")
    p.add_argument("--json", metavar="FILE", help="also write the results as JSON ('-' for stdout)")
    p.add_argument("--quiet", action="store_true", help="no QAT progress")
    p.set_defaults(run=run)


def config_for(args: argparse.Namespace) -> QuantConfig:
    return QuantConfig().with_(
        weight_bits=args.bits, observer=args.observer, percentile=args.percentile,
        weight_observer=args.weight_observer, per_channel=False if args.per_tensor else None,
        calibration_size=args.calibration_size, qat_epochs=args.qat_epochs, qat_lr=args.qat_lr,
        qat_shift=args.qat_shift, max_drop=args.max_drop, calibration_seed=args.seed,
        round_biases=args.round_biases or None)


def run(args: argparse.Namespace) -> int:
    from levin.coding import container
    from levin.models import is_graph_file, load_float_model_file, load_model
    from levin.quant.pipeline import quantize, spread
    from levin.train.seeding import deterministic

    # Everything a user can get wrong is checked before any work (and before anything is written).
    config = config_for(args)
    if args.test_size is not None and args.test_size < 1:
        raise LevinError("--test-size must be >= 1")
    if args.percentile is not None and config.observer != "percentile":
        raise LevinError("--percentile is for --observer percentile")
    check_task_arguments(args)
    if args.task != "classification" and args.qat_epochs:
        raise LevinError(f"--qat-epochs trains for top-1 accuracy; drop it for --task {args.task}")
    check_data_arguments(args)
    if args.out:
        check_writable(args.out, "--out")
    check_output_file(args.json, "--json")
    graph_file = is_graph_file(args.model)
    if graph_file and args.weights is not None:
        raise LevinError(f"{args.model} carries its own weights; drop --weights")
    with deterministic(config.calibration_seed):
        graph = None
        if graph_file:                      # a float .onnx / .tflite: quantize its own graph
            loaded, graph = load_float_model_file(args.model)
        else:
            loaded = load_model(args.model, args.weights)
        if loaded.name in zoo.names() and not loaded.meta:
            print(f"note: {args.model} is an untrained zoo model (random weights); pass a checkpoint "
                  f"directory from `levin train` to quantize a trained one", file=human(args))
        data = load_data(args, loaded, args.task, output=args.score_output)   # bad data, or data the model cannot take
        out = writable_dir(args.out) if args.out else None
        dataset = data.name
        model = loaded.module if graph is None else graph
        result = quantize(model, data, config, progress=not args.quiet, test_size=args.test_size,
                          task=args.task, top_k=args.top_k, output=args.score_output)
    summary = {"model": args.model, "dataset": dataset, "test_size": len(spread(len(data.x_test), args.test_size)),
               "split": data.split, **result.to_dict()}
    print(render(args.model, dataset, result), file=human(args))
    if out is not None:
        nbytes = container.write(result.graph, out / "model.lvn")
        write_output(summary, str(out / "result.json"))
        print(f"saved {out / 'model.lvn'} ({nbytes:,} B), {out / 'result.json'}", file=human(args))
    if args.json:
        write_output(summary, args.json)
    return 0


def render(model: str, dataset: str, r) -> str:
    from levin import metrics

    c = r.config
    widths = sorted(set(r.weight_bits.values()))
    bits = f"{widths[0]}-bit" if len(widths) == 1 else "mixed " + ", ".join(
        f"{k} {v}" for k, v in r.weight_bits.items())
    how = (f"{bits} weights ({'per channel' if c.per_channel else 'per tensor'}), int8 activations "
           f"({c.observer} observer, {c.calibration_size} calibration samples)"
           + (f", {c.qat_epochs} QAT epochs" if c.qat_epochs else ""))
    biases = r.extra.get("biases")
    if biases:
        steps = ", ".join(f"{k} {v:g}" for k, v in biases["output_steps"].items()) or "none coarser"
        how += f"; biases rounded (output steps: {steps}; chosen on the {biases['scored_on']})"
    a = r.agreement
    s = r.scores
    unit = "pp" if s["float"].higher_is_better else "%"
    rows = [[name, s[key].text(), "-" if key == "float" else f"{metrics.drop(s['float'], s[key]):+.2f} {unit}"]
            for name, key in (("float", "float"), ("fake-quant", "fakequant"), ("integer reference", "integer"))]
    scored = r.extra.get("scored_output")
    return "\n".join([
        f"{model} on {dataset}: {how}"
        + (f"; scored on output {scored['index']} ({scored['name']}) of {len(scored['outputs'])}" if scored else ""),
        table(["model", s["float"].metric, "worse than float by"], rows),
        f"fake-quant vs integer: same argmax on {100 * a.argmax_match:.2f}% of samples, max |diff| "
        f"{a.max_lsb} LSB ({100 * a.differing:.2f}% of output codes differ)",
        f"weights: {r.weight_bytes:,} B packed codes (float32: {r.float_weight_bytes:,} B)"])
