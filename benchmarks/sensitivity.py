"""Layer sensitivity of the MNIST baselines: accuracy vs sparsity and vs bits, one layer at a time.

Accuracy (%) is measured on the last 5,000 training images, without retraining. The baselines
were trained on all 60,000, so this measures how much of the fit a layer can lose, not
generalisation; the test set is kept out because the scan chooses per-layer targets (the
highest sparsity losing at most 0.5 pp here).

Run: .venv/bin/python benchmarks/sensitivity.py   (about a minute; writes
benchmarks/results/sensitivity.json, and sensitivity_<model>.png if matplotlib is installed)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from levin.cli.common import table
from levin.config import SensitivityConfig
from levin.models import load_model
from levin.prune import sensitivity
from levin.train.data import load

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--samples", type=int, default=5000)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load("mnist", args.data_dir)
    x, y = data.x_train[-args.samples:], data.y_train[-args.samples:]
    config = SensitivityConfig(sparsities=(0.5, 0.8, 0.9, 0.95, 0.98), bits=(8, 6, 4, 3, 2))
    out, rows = {}, []
    for name in ("lenet300", "lenet5"):
        result = sensitivity.scan(load_model(f"runs/{name}").module, x, y, config)
        chosen = sensitivity.targets(result, config.max_drop)
        out[name] = {**result.to_dict(), "targets": chosen, "max_drop": config.max_drop}
        plot = sensitivity.plot(result, RESULTS / f"sensitivity_{name}.png")
        out[name]["plot"] = str(plot) if plot else "matplotlib not installed: no plot"
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
