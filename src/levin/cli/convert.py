"""`levin convert`: a .tflite or .onnx model -> .lvn (or int8 .tflite), optionally shrinking the
weights on the way (no retraining); and .lvn -> .tflite.

The output format follows the output file's suffix. An int8 .tflite is imported as an integer
graph (bit-exact with TFLite Micro), an int8 QDQ .onnx with its own scales and zero points. A
float model (float .onnx, float or dynamic-range .tflite) is quantized to int8 (TFLite's int8
semantics, per-channel weights) on calibration inputs: --data, your own (a .npz / .npy file,
(N, C, H, W) or the model's own (N, H, W, C); any source of docs/data.md), or --dataset NAME.
A .lvn output codes every weight tensor losslessly with its smallest measured chain. --kmeans and --prune change weights
(near-lossless, see levin.tflite_shrink); check the accuracy of the result before shipping it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from levin.cli.common import (TASKS, LazyChoices, check_data_arguments, check_output_file, dataset_names, human,
                              bounded, layouts, positive_float, positive_int, seed, write_output)
from levin.errors import GraphError, LevinError

if TYPE_CHECKING:
    import numpy as np

EXAMPLES = """examples:
  levin convert model.tflite                     # -> model.lvn, weights coded losslessly
  levin convert model.tflite -o small.lvn --kmeans 16 --prune 0.3
  levin convert model.lvn -o model.tflite        # back to .tflite, for TFLite Micro
  levin convert model.tflite --out model.lvn --json -   # sizes as JSON on stdout
Every argument (input, output folder, --kmeans, --prune, data options) is checked before any work.
"""
FLOAT_EXAMPLES = """float models are quantized to int8 on calibration inputs (--data or --dataset):
  levin convert digits_cnn.onnx --dataset digits                # -> digits_cnn.lvn
  levin convert ad01_fp32.tflite --data inputs.npy -o ad01.tflite
  levin convert cnn_qdq.onnx -o cnn.lvn          # an int8 QDQ .onnx: its own scales, no data needed
"""
INPUTS = (".tflite", ".onnx", ".lvn")
OUTPUTS = (".lvn", ".tflite")


def register(sub) -> None:
    p = sub.add_parser("convert", help="convert .tflite / .onnx -> .lvn (float models: int8 on your "
                                       "data) or .lvn -> .tflite, optionally k-means / prune the weights",
                       description=__doc__, epilog=EXAMPLES + FLOAT_EXAMPLES,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", help="a .tflite, .onnx or .lvn file")
    p.add_argument("-o", "--out", metavar="FILE",
                   help="output file, .lvn or .tflite (default: the input's name with .lvn, or .tflite "
                        "for a .lvn input)")
    p.add_argument("--data", metavar="SOURCE",
                   help="float models: calibration inputs of your own, a .npz / .npy / .csv file, a folder "
                        "of images or WAV clips, or path/to/file.py:factory (docs/data.md)")
    p.add_argument("--layout", choices=LazyChoices(layouts), metavar="LAYOUT",
                   help="axes of --data arrays: %(choices)s (default: inferred)")
    p.add_argument("--dataset", choices=LazyChoices(dataset_names), metavar="NAME",
                   help="float models: calibrate on a built-in dataset's training inputs (%(choices)s)")
    p.add_argument("--data-dir", help="folder with the built-in dataset's files (default: $LEVIN_DATA_DIR)")
    p.add_argument("--calibration-size", type=positive_int, default=1000,
                   help="samples to calibrate on (default 1000)")
    p.add_argument("--seed", type=seed, default=0, help="which calibration samples (default 0)")
    p.add_argument("--kmeans", type=kmeans_k, metavar="K", help="replace each weight tensor's int8 codes "
                                                                "by its K nearest integer centroids (zero "
                                                                "kept), K in 2..256")
    p.add_argument("--prune", type=prune_fraction, metavar="FRACTION",
                   help="set this fraction, in [0, 1), of each weight tensor's smallest codes to zero "
                        "(before --kmeans)")
    p.add_argument("--task", choices=TASKS,
                   help="score the int8 model and the one written (after --prune / --kmeans) on the "
                        "test split of --data / --dataset: top-1 accuracy, reconstruction MSE, or "
                        "anomaly ROC AUC (test labels 0 normal, 1 anomalous)")
    p.add_argument("--score-output", type=int, default=0, metavar="K",
                   help="--task on a model with several outputs: the one it scores (default 0)")
    p.add_argument("--input-scale", type=positive_float, metavar="FACTOR",
                   help="multiply the data by FACTOR (e.g. 255 for a model trained on 0..255 pixels)")
    p.add_argument("--json", metavar="FILE", help="also write the sizes as JSON ('-' for stdout)")
    p.set_defaults(run=run)


# --kmeans: 2..256 values (zero and K - 1 centroids; int8 has 256 codes); --prune: a share.
kmeans_k = bounded(int, lambda k: 2 <= k <= 256, "an integer in 2..256", "kmeans_k")
prune_fraction = bounded(float, lambda v: 0 <= v < 1, "a share in [0, 1), e.g. 0.3", "prune_fraction")


def _suffix(path: Path, what: str, allowed: tuple[str, ...]) -> str:
    if path.suffix not in allowed:
        raise LevinError(f"{what} {path}: unknown suffix {path.suffix!r}; use {', '.join(allowed)}")
    return path.suffix


def calibration_inputs(args, graph) -> "np.ndarray":
    """Calibration inputs for float `graph` in levin's layout (channels first): --data (your own
    source, levin.data) or --dataset (a built-in dataset's training inputs)."""
    import numpy as np

    from levin.data import DataOptions, load_source
    from levin.models import channels_first
    from levin.train import data as datasets

    check_data_arguments(args)
    shape = graph.tensors[graph.inputs[0]].shape
    if args.data:
        data = load_source(args.data, DataOptions(layout=args.layout, unlabelled=True), channels_first(shape))
        x, what = np.concatenate([data.x_train, data.x_test]), f"--data {args.data}"
    else:
        x, what = datasets.load(args.dataset, args.data_dir).x_train, f"--dataset {args.dataset}"
    return calibration_layout(x, shape, what)


def calibration_layout(x: "np.ndarray", input_shape: tuple[int, ...], what: str) -> "np.ndarray":
    """`x` (N, ...) in levin's layout for a graph input of `input_shape` (NHWC for rank 4):
    channels first; an (N, H, W, C) array is transposed. Where both fit (C == H == W), channels
    first wins."""
    import numpy as np

    from levin.models import channels_first

    sample, first = tuple(input_shape[1:]), channels_first(input_shape)
    if x.shape[1:] == first:
        return x
    if len(sample) == 3 and x.shape[1:] == sample:
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))
    also = f" or {sample} (channels last)" if len(sample) == 3 else ""
    raise LevinError(f"{what}: samples of shape {x.shape[1:]}; the model takes {first}{also}")


def load_input(src: Path):
    """The graph of `src` (.tflite, .onnx or .lvn): float or integer."""
    from levin.coding import container
    from levin.models import load_graph

    return container.read(src) if _suffix(src, "input", INPUTS) == ".lvn" else load_graph(str(src))


def is_float(graph) -> bool:
    return graph.tensors[graph.inputs[0]].is_float


def quantize_float(graph, calibration: "np.ndarray", check: int = 64):
    """(int8 graph, agreement) of float `graph` calibrated on `calibration`; the int8 graph is
    run by levin's integer reference on the first `check` calibration samples against the float
    graph (an int32 overflow there is a GraphError, not a broken file written)."""
    import numpy as np
    import torch

    from levin import reference
    from levin.quant import pipeline, ptq
    from levin.quant.graphmodule import GraphModule

    int_graph = ptq.quantize_graph(graph, calibration)
    x = calibration[:check]
    codes = pipeline.integer_outputs(int_graph, x)
    with torch.no_grad():
        y = GraphModule(graph).double().eval()(torch.from_numpy(x).double()).numpy()
    y = reference.nhwc(y, len(graph.tensors[graph.outputs[0]].shape))
    t = int_graph.tensors[int_graph.outputs[0]]
    want = np.clip(np.round(y / np.float64(t.quant.scale[0])) + t.quant.zero_point[0], -128, 127)
    return int_graph, pipeline.agreement(want, codes)


def convert(src: Path, out: Path, kmeans: int | None = None, prune: float | None = None,
            calibration: "np.ndarray | None" = None, graph=None, log: TextIO | None = None) -> tuple:
    """Convert `src` to `out` (formats by suffix); return (input bytes, output bytes, the int8
    graph, the graph written: after --prune / --kmeans). A float model is quantized on
    `calibration` (levin's layout, see `calibration_layout`). `graph`: the graph of `src`, if
    already loaded. `log`: where the int8-vs-float line goes (stdout)."""
    from levin import tflite_shrink
    from levin.coding import container
    from levin.ir import tflite_export

    graph = load_input(src) if graph is None else graph
    _suffix(out, "output", OUTPUTS)
    if is_float(graph):
        if calibration is None:
            raise LevinError(f"{src} is a float model: pass --data SOURCE (your own inputs) or "
                             f"--dataset NAME to quantize it to int8 on them")
        try:
            graph, agree = quantize_float(graph, calibration)
        except GraphError as exc:
            raise GraphError(f"{src}: the int8 graph of levin's PTQ fails on the calibration inputs: "
                             f"{exc}") from None
        print(f"int8 vs float on {min(len(calibration), 64)} calibration samples: max |diff| "
              f"{agree.max_lsb} LSB of the output, {100 * agree.differing:.1f}% of codes differ, "
              f"same argmax {100 * agree.argmax_match:.1f}%", file=log or sys.stdout)
    int8 = graph
    if prune is not None:
        graph = tflite_shrink.prune_codes(graph, prune)
    if kmeans is not None:
        graph = tflite_shrink.kmeans_codes(graph, kmeans)
    out.parent.mkdir(parents=True, exist_ok=True)          # checked writable before any work
    if out.suffix == ".lvn":
        size = container.write(graph, out)
    else:
        size = tflite_export.save(graph, out)
    return src.stat().st_size, size, int8, graph


def task_scores(args, graphs: dict) -> dict:
    """Each integer graph of `graphs` scored on the test split of --data / --dataset in the
    --task metric (`levin.metrics`): what --kmeans / --prune cost, on the user's data."""
    from levin import metrics, reference
    from levin.cli.common import read_source
    from levin.models import channels_first

    first = next(iter(graphs.values()))
    data = read_source(args, channels_first(first.tensors[first.inputs[0]].shape), args.task)
    scores = {}
    for name, g in graphs.items():
        if not 0 <= args.score_output < len(g.outputs):
            raise LevinError(f"--score-output {args.score_output}: the model has {len(g.outputs)} output(s)")
        out = g.outputs[args.score_output]
        codes = reference.run(g, reference.quantize_batch(g, data.x_test))[out]
        scores[name] = metrics.score(args.task, reference.dequantize_output(g, codes, out), data.x_test, data.y_test)
    return {"samples": len(data.x_test), **scores}


def run(args: argparse.Namespace) -> int:
    from levin import metrics
    from levin.quant import ptq
    from levin.train.seeding import deterministic

    # Everything a user can get wrong is checked before any work (and before anything is written).
    src = Path(args.input)
    if not src.is_file():
        raise LevinError(f"input {src} does not exist")
    _suffix(src, "input", INPUTS)
    out = Path(args.out) if args.out else src.with_suffix(".tflite" if src.suffix == ".lvn" else ".lvn")
    if out.resolve() == src.resolve():
        raise LevinError(f"output {out} would overwrite the input; pass -o")
    _suffix(out, "output", OUTPUTS)
    check_output_file(str(out), "output")
    check_output_file(args.json, "--json")
    check_data_arguments(args)
    if args.task and not (args.data or args.dataset):
        raise LevinError("--task scores on the test split of --data SOURCE or --dataset NAME: give one")
    log = human(args)
    calibration = None
    with deterministic(args.seed):
        graph = load_input(src)
        if args.data or args.dataset:
            if not is_float(graph):
                if not args.task:
                    print(f"levin convert: note: {src} is already int8; --data / --dataset is not used",
                          file=sys.stderr)
            else:
                calibration = ptq.calibration_set(calibration_inputs(args, graph), args.calibration_size,
                                                  args.seed)
        before, after, int8, final = convert(src, out, args.kmeans, args.prune, calibration, graph, log=log)
        scored = task_scores(args, {"int8": int8, "written": final}) if args.task else None
    how = (f", int8 calibrated on {len(calibration):,} samples of {args.data or args.dataset}"
           if calibration is not None else "")
    print(f"{src} ({before:,} B) -> {out} ({after:,} B), {after / before:.3f}x{how}", file=log)
    if scored:
        a, b = scored["int8"], scored["written"]
        unit = "pp" if a.higher_is_better else "%"
        print(f"{a.metric} on {scored['samples']:,} test samples: int8 {a.text()}, as written {b.text()} "
              f"(worse by {metrics.drop(a, b):+.2f} {unit})", file=log)
    if after > before:
        print(f"levin convert: warning: {out} is larger than {src}", file=sys.stderr)
    if args.json:
        write_output({"input": str(src), "output": str(out), "input_bytes": before, "output_bytes": after,
                      "ratio": after / before, "format": out.suffix[1:],
                      "calibration": None if calibration is None else {
                          "source": args.data or args.dataset, "samples": len(calibration), "seed": args.seed},
                      "kmeans": args.kmeans, "prune": args.prune,
                      "scores": None if not scored else {"samples": scored["samples"],
                                                         "int8": scored["int8"].to_dict(),
                                                         "written": scored["written"].to_dict()}},
                     args.json)
    return 0
