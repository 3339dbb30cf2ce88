"""Table 1 of Deep Compression (Han et al., ICLR 2016), reproduced with levin on full MNIST.

For each model, `levin.compress` runs a recipe (src/levin/recipes/*.yaml) on the trained baseline
in runs/<model> (`make baselines` makes them) and freezes it to a .lvn file. The size is the
whole file: weights, positions, codebooks, biases, scales, graph, header. The ratio divides the
fp32 size of all parameters (LeNet-300-100 266,610 -> 1,066,440 B; LeNet-5 431,080 -> 1,724,320 B;
the paper rounds them to 1070 KB and 1720 KB) by that. The paper's rows print beside levin's.

    .venv/bin/python benchmarks/deep_compression.py --data-dir ../shared/data
    .venv/bin/python benchmarks/deep_compression.py --recipe levin-lenet5 --model lenet5

Runs resume from runs/<recipe>/ (delete it to start over). Writes
benchmarks/results/deep_compression.json (merged with earlier rows) and prints the table.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

import levin
from levin.compressor.recipe import load as load_recipe
from levin.compressor.summary import summary_dict
from levin.output import table

RESULTS = Path(__file__).resolve().parent / "results" / "deep_compression.json"
KB = 1000     # the paper's KB
PAPER = {     # Table 1: error before -> after, compressed size, ratio vs fp32 parameters
    "lenet300": {"baseline_error": 0.0164, "error": 0.0158, "bytes": 27 * KB, "ratio": 40},
    "lenet5": {"baseline_error": 0.0080, "error": 0.0074, "bytes": 44 * KB, "ratio": 39},
}
DEFAULT_RECIPES = {"lenet300": "deep-compression-lenet300", "lenet5": "deep-compression-lenet5"}


def run(model: str, recipe: str, data_dir: str | None, runs: Path) -> dict:
    checkpoint = runs / model
    if not (checkpoint / "model.safetensors").exists():
        sys.exit(f"no trained baseline in {checkpoint}; run `make baselines` first")
    started = time.perf_counter()
    result = levin.compress(str(checkpoint), "mnist", recipe=recipe, out_dir=runs / recipe,
                            data_dir=data_dir, progress=False)
    summary = summary_dict(result, load_recipe(recipe))
    return {"model": model, "recipe": recipe, "baseline_error": 1 - result.baseline_accuracy,
            "error": 1 - result.integer_accuracy, "float_error": 1 - result.quantize.float_accuracy,
            "bytes": result.lvn_bytes, "float32_bytes": result.float32_bytes,
            "ratio": result.float32_bytes / result.lvn_bytes, "density": result.steps[-1].density,
            "layers": summary["layers"], "steps": summary["steps"],
            "wall_s": time.perf_counter() - started, "paper": PAPER[model]}


def render(rows: list[dict]) -> str:
    out = []
    for model in sorted({r["model"] for r in rows}):
        p = PAPER[model]
        out.append([f"{model} (Deep Compression, paper)", f"{100 * p['baseline_error']:.2f}%",
                    f"{100 * p['error']:.2f}%", f"{p['bytes'] / KB:.0f} KB", f"{p['ratio']}x"])
        out += [[f"{model} (levin, {r['recipe']})", f"{100 * r['baseline_error']:.2f}%",
                 f"{100 * r['error']:.2f}%", f"{r['bytes'] / KB:.1f} KB", f"{r['ratio']:.1f}x"]
                for r in rows if r["model"] == model]
    return table(["model", "baseline error", "compressed error", "size", "ratio vs fp32"], out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", choices=sorted(PAPER), action="append",
                   help="model(s) to run (default: both)")
    p.add_argument("--recipe", help="recipe preset or file (default: the Deep Compression recipe per model)")
    p.add_argument("--data-dir", default="../shared/data")
    p.add_argument("--runs", default="runs", type=Path)
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    models = args.model or sorted(PAPER)
    rows = [run(m, args.recipe or DEFAULT_RECIPES[m], args.data_dir, args.runs) for m in models]
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved.update({f"{r['model']}/{r['recipe']}": r for r in rows})
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
    print(render(sorted(saved.values(), key=lambda r: (r["model"], r["recipe"]))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
