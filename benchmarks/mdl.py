"""Description-length training (soft weight-sharing) on MNIST: a lambda sweep, size vs error.

For each lambda a starting model (default runs/<model>; `--init` takes a saved model dir or a
pipeline step's .safetensors, e.g. the magnitude-pruned Deep Compression step) is retrained with
`levin.mdl.train_mdl`: mixture prior with annealed widths, snap, codebook fine-tune, int8,
coded. Every size is the whole .lvn file (header, graph, scales, biases, codebooks, tables: all
included). For each point: file bytes; the weight tensors' size predicted from the snapped codes
before coding (entropies + exact tables, `levin.coding.estimate`) against their coded bytes;
predicted file bytes (that estimate + the file's other bytes, measured); the soft differentiable
estimate the loss optimized (order-0 over all weights, not what the sparse coder pays); test
error before the snap, after it, after the fine-tune, and of the integer graph in the file
(levin's reference interpreter, the error that counts); decode steps and Levin cost; and, with the
Cortex-M toolchain and qemu, the Levin cost measured (`levin.targets.levin_cost`): the file's bits
plus log2 of the Cortex-M4 instructions one inference runs with every weight in its smallest C
coding, beside the fastest coding's instructions, so the report shows what each byte saved costs
in time (`--measure` re-measures the points of the last sweep without training).

Published (MNIST): LeNet-5 - Deep Compression 44 KB (0.74%), soft weight-sharing 10.6 KB (0.97%),
Bayesian compression ~4 KB (1.0%), MIRACLE 1.52 KB (0.96%) and 3.03 KB (0.69%); LeNet-300-100 -
Deep Compression 27 KB (1.58%), soft weight-sharing 16.7 KB (1.94%). Targets (issue 22): LeNet-5
<= 1,500 B at <= 1.0% and <= 3,000 B at <= 0.70%, LeNet-300-100 <= 8,000 B at <= 1.6%.

Protocol (issue 22 item 4): a validation split of `--validation` (5,000) training images, seeded
by `--seed`, is held out of the training; every number the training prints and every choice it
makes (its float / snapped / tuned / integer errors) is on that split, and the test error of the
integer graph in the file is measured once per point, at the end (`test_error`). Each point
trains with `--seed` (the validation split's seed, the training's and torch's); run the headline
lambdas with two seeds (`--seed 0`, `--seed 1`): a sweep's points keep their seed, and mdl.json
keeps the points of every seed.

Run (one sweep per command; its points replace the model's points in benchmarks/results/mdl.json,
the plot (mdl.png) and the sweep report (mdl.html) are redrawn from all models there):
    .venv/bin/python benchmarks/mdl.py --model lenet300 --lambdas 0.05 0.1 0.2 0.4 --epochs 10 \
        --init runs/deep-compression-lenet300/steps/01-prune/model.safetensors
Each point's .lvn and mdl.json go to runs/mdl/<model>/lam<lambda>/.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch

from levin.config import TrainConfig
from levin.config.mdl import MDLConfig
from levin.mdl import train_mdl
from levin.models import load_model
from levin.output import table
from levin.data.splits import with_validation
from levin.quant.pipeline import integer_outputs
from levin.train.data import load

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "mdl.json"
PLOT = ROOT / "results" / "mdl.png"
REPORT = ROOT / "results" / "mdl.html"
PUBLISHED = {   # and issue 22's targets
    "lenet5": {"Deep Compression": (44_000, 0.0074), "soft weight-sharing": (10_600, 0.0097),
               "Bayesian compression": (4_000, 0.010), "MIRACLE": (1_520, 0.0096),
               "MIRACLE (larger)": (3_030, 0.0069), "target": (1_500, 0.010), "target (accurate)": (3_000, 0.007)},
    "lenet300": {"Deep Compression": (27_000, 0.0158), "soft weight-sharing": (16_700, 0.0194),
                 "target": (8_000, 0.016)},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def test_error(p: dict) -> float:
    """A point's integer test error (points made before the validation protocol were trained
    and scored on the test split: their integer_error is it)."""
    return p.get("test_error", p["integer_error"])


def pareto(points: list[dict]) -> None:
    """Mark each point that no other point beats on both file bytes and integer test error."""
    for p in points:
        p["pareto"] = not any(q is not p and q["file_bytes"] <= p["file_bytes"]
                              and test_error(q) <= test_error(p)
                              and (q["file_bytes"], test_error(q)) != (p["file_bytes"], test_error(p))
                              for q in points)


def plot(results: dict) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    models = [m for m in ("lenet300", "lenet5") if results.get(m, {}).get("points")]
    timed = any(p.get("device") for m in models for p in results[m]["points"])
    fig, axes = plt.subplots(1 + timed, len(models), figsize=(6 * len(models), 4.5 * (1 + timed)), squeeze=False)
    if timed:
        for ax, model in zip(axes[1], models):
            time_plot(ax, model, [p for p in results[model]["points"] if p.get("device")])
    for ax, model in zip(axes[0], models):
        pts = sorted(results[model]["points"], key=lambda p: p["file_bytes"])
        ax.plot([p["file_bytes"] / 1000 for p in pts], [100 * test_error(p) for p in pts], "o",
                color="tab:blue", alpha=0.5, label="levin MDL (all points)")
        front = [p for p in pts if p["pareto"]]
        ax.plot([p["file_bytes"] / 1000 for p in front], [100 * test_error(p) for p in front], "-o",
                color="tab:blue", label="levin MDL Pareto front")
        for p in pts:
            ax.annotate(f"λ={p['lam']:g}", (p["file_bytes"] / 1000, 100 * test_error(p)), fontsize=7,
                        xytext=(3, 3), textcoords="offset points")
        for i, (name, (nbytes, err)) in enumerate(PUBLISHED[model].items()):
            target = name.startswith("target")
            ax.plot(nbytes / 1000, 100 * err, "*" if target else "s", ms=10, label=name,
                    color=("tab:red" if name == "target" else "darkred") if target else f"C{i + 2}")
        own = next((p for p in (ROOT.parent / "runs" / f"{d}-{model}" / "summary.json"
                                for d in ("deep-compression", "dc")) if p.exists()), None)
        if own is not None:   # levin's own Deep Compression pipeline on the same baseline, measured
            dc = json.loads(own.read_text())
            ax.plot(dc["lvn_bytes"] / 1000, 100 * (1 - dc["integer_accuracy"]), "D", ms=8, color="tab:gray",
                    label=f"levin deep compression ({own.parent.name})")
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(matplotlib.ticker.LogLocator(base=10, subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
        ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_xlabel(".lvn file size (KB, everything included)")
        ax.set_ylabel("test error (%), integer model")
        ax.set_title(f"{model}: size vs error, lambda sweep")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)


def time_plot(ax, model: str, points: list[dict]) -> None:
    """Bits against Cortex-M4 instructions per inference: the Levin trade, one line per point from
    its smallest C coding to its fastest."""
    if not points:
        ax.text(0.5, 0.5, "not measured: the points' .lvn files are not here\n(rerun the sweep, or --measure)",
                ha="center", transform=ax.transAxes, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
    for p in sorted(points, key=lambda p: p["file_bytes"]):
        d = p["device"]
        ax.plot([d["flash_instructions"] / 1e6, d["speed_instructions"] / 1e6], [p["file_bytes"] / 1000] * 2,
                "-", color="0.6", zorder=1)
        ax.plot(d["flash_instructions"] / 1e6, p["file_bytes"] / 1000, "o", color="tab:blue", zorder=2)
        ax.plot(d["speed_instructions"] / 1e6, p["file_bytes"] / 1000, "s", color="tab:orange", zorder=2)
        ax.annotate(f"λ={p['lam']:g}, {100 * test_error(p):.2f}%",
                    (d["flash_instructions"] / 1e6, p["file_bytes"] / 1000), fontsize=7, xytext=(3, 3),
                    textcoords="offset points")
    ax.plot([], [], "o", color="tab:blue", label="weights in their smallest C coding")
    ax.plot([], [], "s", color="tab:orange", label="weights in their fastest C coding")
    ax.set_xlabel("Cortex-M4 instructions per inference, millions (qemu, decoding included)")
    ax.set_ylabel(".lvn file size (KB)")
    ax.set_title(f"{model}: bits vs Cortex-M4 instructions")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)


def report(results: dict) -> None:
    """mdl.html: the Pareto plot and, per model, every point of its last sweep and the command."""
    from levin.report.html import sweep_page

    headers = ["lambda (seed)", ".lvn B", "predicted B", "nonzero", "integer test error", "Levin cost (counted)",
               "M4 instructions, smallest / fastest coding", "weights in flash B", "Levin cost (measured)", "Pareto"]
    tables = [(f"{model}: {entry['command']}", headers,
               [[f"{p['lam']:g} ({p.get('seed', 0)})", f"{p['file_bytes']:,}", f"{p['predicted_bytes']:,.0f}",
                 f"{p['nonzero']:,}",
                 f"{100 * test_error(p):.2f}%", f"{p['levin_cost']:,.1f}", *_device_cells(p.get("device")),
                 "yes" if p["pareto"] else ""]
                for p in sorted(entry["points"], key=lambda p: p["file_bytes"])])
              for model, entry in results.items() if entry.get("points")]
    sweep_page("levin: description-length training, lambda sweeps",
               "Every size is the whole .lvn file; error is levin's integer reference on the 10,000 MNIST "
               "test images. Published points for context.", PLOT.read_bytes(), tables, REPORT)


def _device_cells(d: dict | None) -> list[str]:
    if not d:
        return ["not measured", "", ""]
    return [f"{d['flash_instructions']:,} / {d['speed_instructions']:,} ({d['decode_price']:.2f}x)",
            f"{d['flash_weight_bytes']:,} / {d['speed_weight_bytes']:,}", f"{d['levin_cost']:,.1f}"]


def point_dir(model: str, lam: float, seed: int = 0) -> Path:
    return ROOT.parent / "runs" / "mdl" / model / (f"lam{lam:g}" + (f"-seed{seed}" if seed else ""))


def device_cost(model: str, lam: float, seed: int = 0) -> dict | None:
    """The point's measured Levin cost on Cortex-M4 (qemu), or None without the toolchain."""
    from levin.targets.cortexm import ToolMissing
    from levin.targets.levin_cost import measured_cost

    try:
        folder = point_dir(model, lam, seed)
        return measured_cost(folder / "model.lvn", folder / "device").to_dict()
    except ToolMissing as exc:
        log(f"{model} lambda={lam:g}: not measured on the device ({exc})")
        return None


def load_init(model: str, init: str | None):
    """The model to retrain: runs/<model>, a saved model dir, or a pipeline step's .safetensors
    (e.g. the magnitude-pruned runs/deep-compression-lenet300/steps/01-prune/model.safetensors)."""
    loaded = load_model(f"runs/{model}")
    if init and init.endswith(".safetensors"):
        from safetensors.torch import load_file
        state = {k.removeprefix("model."): v for k, v in load_file(init).items()}
        loaded.module.load_state_dict(state)
    elif init:
        loaded = load_model(init)
    return loaded


def run_point(args: argparse.Namespace, lam: float) -> dict:
    """Retrain, snap, code and measure one lambda (in a worker process)."""
    torch.set_num_threads(args.threads)
    data = with_validation(load("mnist", args.data_dir), args.validation / 60_000, args.seed)
    torch.manual_seed(args.seed)
    train = TrainConfig(optimizer="adam", lr=args.lr, epochs=args.epochs, batch_size=args.batch_size,
                        shift=args.shift, distill_alpha=args.distill_alpha, seed=args.seed)
    teacher = load_model(f"runs/{args.model}").module if args.distill_alpha > 0 else None
    init = args.init or f"runs/{args.model}"
    loaded = load_init(args.model, args.init)
    config = MDLConfig(lam=lam, components=args.components, prior_lr=args.prior_lr,
                       final_sigma=args.final_sigma, finetune_epochs=args.finetune_epochs,
                       finetune_lr=args.finetune_lr, zero_mix=args.zero_mix, remove_dead=args.remove_dead,
                       prune_at=tuple(args.prune_at), prune_max_fraction=args.prune_max_fraction,
                       round_biases=args.round_biases)
    log(f"{args.model} lambda={lam:g}: {args.epochs} epochs from {init}")
    t0 = time.perf_counter()
    # Trained and scored on the validation split in the place of the test split: the test images
    # are seen once, below.
    r = train_mdl(loaded.module, data.tuning(), config, train, out_dir=point_dir(args.model, lam, args.seed),
                  progress=args.jobs == 1, name=args.model, teacher=teacher)
    d = r.to_dict()
    codes = integer_outputs(r.graph, data.x_test)
    error = float((codes.reshape(len(codes), -1).argmax(1) != data.y_test).mean())
    log(f"{args.model} lambda={lam:g} seed {args.seed}: {d['file_bytes']:,} B, integer error "
        f"{100 * error:.2f}% on test ({100 * d['integer_error']:.2f}% on validation)")
    return {"lam": lam, "seed": args.seed, "init": init, "test_error": error,
            "validation": {"images": args.validation, "seed": args.seed},
            "baseline_error": 1 - loaded.meta.get("test_accuracy", float("nan")),
            **{k: d[k] for k in ("file_bytes", "predicted_bytes", "estimate_error", "estimated_weight_bytes",
                                 "weight_bytes", "weight_estimate_error", "predicted_weight_bytes_soft",
                                 "predicted_weight_bytes_hard", "other_bytes", "float_error",
                                 "snapped_error", "tuned_error", "integer_error", "bits", "decode_steps",
                                 "levin_cost", "config", "train_config")},
            "nonzero": sum(v["nonzero"] for v in d["layers"].values()),
            "weights": sum(v["weights"] for v in d["layers"].values()),
            "dead_units": d["dead_units"],
            "layers": {k: {f: v[f] for f in ("weights", "shape", "nonzero", "distinct", "predicted_bytes_soft",
                                               "estimated_bytes", "estimated_chain", "body_bytes",
                                               "file_bytes", "chain")} for k, v in d["layers"].items()},
            "history": d["history"], "wall_s": time.perf_counter() - t0,
            "device": device_cost(args.model, lam, args.seed)}


def check_points(model: str, data_dir: str) -> int:
    """`--check-c`: each point's .lvn exported to C (smallest coding) and run on every test image,
    on the host and on the Cortex-M4 (qemu), against the integer reference; into mdl.json."""
    from levin.targets.c_check import c_check
    from levin.coding import container
    from levin.train.data import load

    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data = load("mnist", data_dir)
    for p in results.get(model, {}).get("points", []):
        folder = point_dir(model, p["lam"], p.get("seed", 0))
        lvn = folder / "model.lvn"
        if not lvn.exists():
            print(f"no saved {lvn}; run the sweep first", file=sys.stderr)
            return 2
        p["c_check"] = c_check(lvn, container.decode(lvn.read_bytes()), data.x_test, folder / "c-check",
                               len(data.x_test))
        log(f"{model} lambda={p['lam']:g} seed {p.get('seed', 0)}: C = reference on "
            f"{p['c_check']['host_bit_exact']:,} / {len(data.x_test):,} images on the host, "
            f"{p['c_check'].get('m4_bit_exact', 0):,} on the M4")
    RESULTS.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return 0


def measure_points(model: str) -> int:
    """`--measure`: the device columns of the last sweep's points, from their saved files."""
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    points = results.get(model, {}).get("points", [])
    missing = [p["lam"] for p in points if not (point_dir(model, p["lam"], p.get("seed", 0)) / "model.lvn").exists()]
    if not points or missing:
        print(f"no saved .lvn for {model} lambda {missing or 'any'} in runs/mdl/{model}; run the sweep first",
              file=sys.stderr)
        return 2
    for p in points:
        p["device"] = device_cost(model, p["lam"], p.get("seed", 0))
        log(f"{model} lambda={p['lam']:g}: {_device_cells(p['device'])}")
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    plot(results)
    report(results)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("lenet300", "lenet5"), required=True)
    ap.add_argument("--lambdas", type=float, nargs="+", default=[0.3, 1.0, 3.0])
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--lr", type=float, default=5e-4, help="Adam lr of the weights (cosine to 0)")
    ap.add_argument("--prior-lr", type=float, default=3e-3)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--components", type=int, default=8)
    ap.add_argument("--shift", type=int, default=0, help="random-shift augmentation (pixels)")
    ap.add_argument("--final-sigma", type=float, default=0.02,
                    help="std cap at the end of training, x the initial (annealing; 1 = none)")
    ap.add_argument("--finetune-epochs", type=float, default=1.0, help="codebook fine-tune after the snap")
    ap.add_argument("--finetune-lr", type=float, default=1e-4)
    ap.add_argument("--zero-mix", type=float, default=0.99, help="initial mixing proportion of the zero component")
    ap.add_argument("--prune-at", type=float, nargs="*", default=[],
                    help="fractions of training at which to MDL-prune (levin.mdl.saliency), e.g. 0.1 0.2 0.3")
    ap.add_argument("--prune-max-fraction", type=float, default=0.3,
                    help="most of a layer's nonzeros one MDL-prune event removes")
    ap.add_argument("--remove-dead", action="store_true",
                    help="after the snap, fold constant units into biases and cut unread ones (exact)")
    ap.add_argument("--round-biases", action="store_true",
                    help="round each layer's biases to the coarsest step that costs no validation error")
    ap.add_argument("--distill-alpha", type=float, default=0.0,
                    help="distil from the uncompressed runs/<model> with this weight (temperature 4)")
    ap.add_argument("--init", default=None, help="warm start: a saved model dir or a step's .safetensors; default runs/<model>")
    ap.add_argument("--data-dir", default="/work/shared/data")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per lambda")
    ap.add_argument("--jobs", type=int, default=1, help="lambdas trained at once")
    ap.add_argument("--seed", type=int, default=0, help="seed of the validation split, the training and torch")
    ap.add_argument("--validation", type=int, default=5000,
                    help="training images held out to score every choice on (default 5000)")
    ap.add_argument("--measure", action="store_true",
                    help="no training: measure the Levin cost on Cortex-M4 of the model's points in "
                         "mdl.json from their runs/mdl/<model>/lam<lambda>/model.lvn")
    ap.add_argument("--check-c", action="store_true",
                    help="no training: run each point's C on every test image, host and Cortex-M4 (qemu), "
                         "against the integer reference (into mdl.json)")
    args = ap.parse_args()
    if args.measure:
        return measure_points(args.model)
    if args.check_c:
        return check_points(args.model, args.data_dir)
    # One command is one sweep of one seed: its points replace that seed's (a changed method would
    # otherwise leave stale points on the plot); other seeds' points under the protocol stay, as
    # the file holds them at each write (sweeps of other seeds may run beside this one).
    entry: dict = {"points": []}
    mine: list[dict] = []
    entry["published"] = {k: {"bytes": b, "error": e} for k, (b, e) in PUBLISHED[args.model].items()}
    entry["command"] = ".venv/bin/python benchmarks/mdl.py " + " ".join(sys.argv[1:])
    entry["machine"] = f"{os.cpu_count()} CPU cores, shared; load {os.getloadavg()[0]:.1f} at start"
    # Each lambda is independent: --jobs runs several at once (each on --threads threads).
    with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
        for point in pool.map(run_point, [args] * len(args.lambdas), args.lambdas):
            mine.append(point)
            # Re-read: a sweep of the other model or another seed may have written meanwhile.
            results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
            others = [p for p in results.get(args.model, {}).get("points", [])
                      if "test_error" in p and p["seed"] != args.seed]
            entry["points"] = others + mine
            pareto(entry["points"])
            results[args.model] = entry
            RESULTS.parent.mkdir(parents=True, exist_ok=True)
            RESULTS.write_text(json.dumps(results, indent=2) + "\n")
            plot(results)
            report(results)
    rows = [[f"{p['lam']:g}", f"{p['file_bytes']:,}", f"{p['predicted_bytes']:,.0f}", f"{100 * p['estimate_error']:+.2f}%",
             f"{p['estimated_weight_bytes']:,.0f} / {p['weight_bytes']:,}", f"{100 * p['weight_estimate_error']:+.2f}%",
             f"{p['predicted_weight_bytes_soft']:,.0f}", f"{p['nonzero']:,}",
             f"{100 * p['float_error']:.2f}%", f"{100 * p['snapped_error']:.2f}%", f"{100 * p['tuned_error']:.2f}%",
             f"{100 * p['integer_error']:.2f}%", f"{100 * test_error(p):.2f}%", f"{p['decode_steps']:,}",
             f"{p['levin_cost']:,.1f}",
             "*" if p["pareto"] else "", f"{p['wall_s']:.0f}"]
            for p in sorted(entry["points"], key=lambda p: p["file_bytes"])]
    print(f"{args.model}: {entry['command']}; baseline error {100 * entry['points'][0]['baseline_error']:.2f}%")
    print(table(["lambda", "file B", "predicted B", "pred err", "weights est / coded B", "w err", "soft est B",
                 "nonzero", "float err (val)", "snap err (val)", "tuned err (val)", "int err (val)", "int err (test)",
                 "decode steps", "Levin cost",
                 "pareto", "wall s"], rows))
    for p in sorted(entry["points"], key=lambda p: p["file_bytes"]):
        print(f"lambda {p['lam']:g}: per layer (shape after any dead-unit cut)")
        print(table(["layer", "shape", "weights", "nonzero", "distinct", "chain", "tensor B"],
                    [[k, "x".join(map(str, v["shape"])), f"{v['weights']:,}", f"{v['nonzero']:,}", str(v["distinct"]),
                      v["chain"] or "", f"{v['file_bytes']:,}"] for k, v in p["layers"].items()]))
    print(f"wrote {RESULTS}, {PLOT} and {REPORT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
