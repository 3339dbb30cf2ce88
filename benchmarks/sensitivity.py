"""Layer sensitivity of the MNIST baselines: accuracy vs sparsity and vs bits, one layer at a time.

Accuracy (%) is measured on the last 5,000 training images, without retraining. The baselines
were trained on all 60,000, so this measures how much of the fit a layer can lose, not
generalisation; the test set is kept out because the scan chooses per-layer targets (the
highest sparsity losing at most 0.5 pp here).

Run: .venv/bin/python benchmarks/sensitivity.py   (a few minutes on the shared machine; writes
benchmarks/results/sensitivity.json and the plots docs/img/sensitivity_<model>.png)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from levin.config import SensitivityConfig
from levin.models import load_model
from levin.output import table
from levin.compressor import sensitivity
from levin.report.figures import sensitivity_curves
from levin.train.data import load

RESULTS = Path(__file__).resolve().parent / "results"
IMAGES = Path(__file__).resolve().parents[1] / "docs" / "img"
TITLES = {"lenet300": "LeNet-300-100", "lenet5": "LeNet-5"}


def draw(name: str, result, samples: int) -> str:
    """The scan's plot as docs/img/sensitivity_<name>.png; its path from the repository root."""
    title = f"{TITLES[name]}: accuracy on {samples:,} held-back training images, no retraining"
    plot = sensitivity_curves(result, IMAGES / f"sensitivity_{name}.png", title=title)
    return str(plot.relative_to(IMAGES.parents[1]))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--samples", type=int, default=5000)
    parser.add_argument("--replot", action="store_true",
                        help="redraw the plots from benchmarks/results/sensitivity.json, no scan")
    args = parser.parse_args(argv)
    if args.replot:
        for name, saved in json.loads((RESULTS / "sensitivity.json").read_text()).items():
            print(draw(name, sensitivity.SensitivityResult.from_dict(saved), args.samples))
        return
    torch.set_num_threads(1)
    data = load("mnist", args.data_dir)
    x, y = data.x_train[-args.samples:], data.y_train[-args.samples:]
    config = SensitivityConfig(sparsities=(0.5, 0.7, 0.8, 0.9, 0.95, 0.98), bits=(8, 6, 4, 3, 2))
    out, rows = {}, []
    for name in ("lenet300", "lenet5"):
        result = sensitivity.scan(load_model(f"runs/{name}").module, x, y, config)
        chosen = sensitivity.targets(result, config.max_drop)
        out[name] = {**result.to_dict(), "targets": chosen, "max_drop": config.max_drop}
        out[name]["plot"] = draw(name, result, len(x))
        for layer in result.sparsity:
            rows.append([f"{name}.{layer}", f"{result.weights[layer]:,}"]
                        + [f"{100 * result.sparsity[layer][s]:.2f}" for s in config.sparsities]
                        + [f"{100 * result.bits[layer][b]:.2f}" for b in config.bits]
                        + [f"{chosen[layer]:.2f}"])
        rows.append([f"{name}: nothing changed", "", f"{100 * result.baseline:.2f}",
                     *[""] * (len(config.sparsities) + len(config.bits) - 1), ""])
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sensitivity.json").write_text(json.dumps(out, indent=2) + "\n")
    print(table(["layer", "weights", *[f"s={s}" for s in config.sparsities],
                 *[f"{b} bits" for b in config.bits], "target"], rows))


if __name__ == "__main__":
    main()
