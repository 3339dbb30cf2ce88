"""Quantization figures: int8 PTQ of LeNet-5 (MNIST) and ResNet-8 (CIFAR-10), low-bit QAT of
LeNet-5, mixed precision, and how closely the fake-quant model predicts the integer reference.

Each row: float accuracy (the torch model), fake-quant accuracy (float64, the integer graph's
rounding), integer-reference accuracy (levin.reference), argmax agreement and max
|difference| of the output codes between the last two, packed weight bytes, wall time; and
the agreement of a plain fake-quant model (single rounding) with the integer reference.

Run (after `make baselines` and the ResNet-8 training in docs/results.md):
    .venv/bin/python benchmarks/quantization.py --data-dir ../shared/data
    .venv/bin/python benchmarks/quantization.py --only lenet5-int8 resnet8-int8
writes benchmarks/results/quantization.json (rows merged by name with earlier runs).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from levin.config import QuantConfig
from levin.models import load_model
from levin.output import table
from levin.quant.pipeline import agreement, fakequant_outputs, integer_outputs, quantize
from levin.train import data as datasets

RESULTS = Path(__file__).resolve().parent / "results" / "quantization.json"

# name -> (checkpoint, dataset, config)
EXPERIMENTS = {
    "lenet5-int8": ("runs/lenet5", "mnist", QuantConfig()),
    "lenet5-int8-percentile": ("runs/lenet5", "mnist", QuantConfig(observer="percentile")),
    "lenet5-int8-mse": ("runs/lenet5", "mnist", QuantConfig(observer="mse")),
    "resnet8-int8": ("runs/resnet8", "cifar10", QuantConfig()),
    "resnet8-int8-mse": ("runs/resnet8", "cifar10", QuantConfig(observer="mse")),
    "lenet5-w4-ptq": ("runs/lenet5", "mnist", QuantConfig(weight_bits=4, weight_observer="mse")),
    "lenet5-w4-qat": ("runs/lenet5", "mnist", QuantConfig(weight_bits=4, weight_observer="mse",
                                                          qat_epochs=2)),
    "lenet5-w2-ptq": ("runs/lenet5", "mnist", QuantConfig(weight_bits=2, weight_observer="mse")),
    "lenet5-w2-qat": ("runs/lenet5", "mnist", QuantConfig(weight_bits=2, weight_observer="mse",
                                                          qat_epochs=2)),
    "lenet5-mixed-0.1pp": ("runs/lenet5", "mnist", QuantConfig(max_drop=0.1, weight_observer="mse")),
}


def measure(name: str, data_dir: str) -> dict:
    ref, dataset, config = EXPERIMENTS[name]
    torch.manual_seed(0)
    model = load_model(ref).module
    data = datasets.load(dataset, data_dir)
    start = time.perf_counter()
    r = quantize(model, data, config)
    wall = time.perf_counter() - start
    # the same comparison with a plain fake-quant model (one rounding per requantization, as a
    # textbook STE model) against the integer reference's TFLite double rounding
    plain = agreement(fakequant_outputs(r.float_graph, r.plan, data.x_test, single_round=True),
                      integer_outputs(r.graph, data.x_test))
    return {"name": name, "checkpoint": ref, "dataset": dataset, "test_size": len(data.x_test),
            "wall_s": wall, **r.to_dict(), "agreement_plain_fakequant": plain.to_dict()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--only", nargs="+", choices=list(EXPERIMENTS), help="run only these rows")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = {}
    if RESULTS.exists():
        rows = {r["name"]: r for r in json.loads(RESULTS.read_text())}
    for name in args.only or EXPERIMENTS:
        rows[name] = measure(name, args.data_dir)
        print(f"{name}: done in {rows[name]['wall_s']:.0f} s", flush=True)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps([rows[k] for k in EXPERIMENTS if k in rows], indent=2) + "\n")
    shown = [rows[k] for k in EXPERIMENTS if k in rows]
    print(table(["experiment", "float", "fake-quant", "integer", "int - float pp", "argmax agree",
                 "max LSB", "plain: agree / max LSB", "weight B"],
                [[r["name"], f"{100 * r['float_accuracy']:.2f}%", f"{100 * r['fakequant_accuracy']:.2f}%",
                  f"{100 * r['integer_accuracy']:.2f}%",
                  f"{100 * (r['integer_accuracy'] - r['float_accuracy']):+.2f}",
                  f"{100 * r['agreement']['argmax_match']:.2f}%", r["agreement"]["max_lsb"],
                  _plain(r), f"{r['weight_bytes']:,}"] for r in shown]))


def _plain(row: dict) -> str:
    p = row.get("agreement_plain_fakequant")
    return "-" if p is None else f"{100 * p['argmax_match']:.2f}% / {p['max_lsb']}"


if __name__ == "__main__":
    main()
