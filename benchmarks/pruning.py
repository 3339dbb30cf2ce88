"""Deep Compression's MNIST pruning and weight-sharing figures, with levin's passes.

For each of LeNet-300-100 and LeNet-5 (trained baselines in runs/<model>):
  1. mask check: levin's global magnitude masks vs torch.nn.utils.prune.global_unstructured
     (L1Unstructured) at the same amount on the same weights; the number of differing entries;
  2. prune + fine-tune to the target density on a schedule (AGP by default), masks held;
  3. k-means weight sharing of the pruned model (8 bits conv / 5 bits fc, and 6 / 4), each
     followed by centroid fine-tuning; pruned zeros stay zeros;
  4. 2:4 sparsity (NVIDIA's N:M, along input channels) from the dense baseline, before and after
     fine-tuning with the masks held.
Every accuracy is on the 10,000 MNIST test images. Deep Compression (Han et al., ICLR 2016,
Table 1 / Table 2): LeNet-300-100 8% of weights at 1.59% error, LeNet-5 8% at 0.77%.

Run (one model per run; measured on the shared 2-core machine at load 4-7: LeNet-300 87 s,
LeNet-5 836-942 s, of which 650-810 s are the 16 pruning fine-tune epochs; lower them with
--finetune-epochs on a busier machine):
    .venv/bin/python benchmarks/pruning.py --model lenet300
    .venv/bin/python benchmarks/pruning.py --model lenet5
Writes benchmarks/results/pruning.json (merging models from earlier runs) and prints a table.
Fine-tuning runs checkpoint under runs/bench_pruning/<model>/, so an interrupted run resumes
(delete that folder to start over).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch
from torch.nn.utils import prune as torch_prune

from levin.config import NMConfig, PruneConfig, ShareConfig, TrainConfig
from levin.models import load_model
from levin.output import table
from levin.prune.finetune import prune_and_finetune
from levin.prune.magnitude import magnitude_masks
from levin.prune.masks import remove_masks, select_layers, sparsity_report
from levin.prune.nm import check_nm, prune_nm
from levin.share.kmeans import codebooks, remove_sharing, share
from levin.train.data import load
from levin.train.loop import evaluate, train

RESULTS = Path(__file__).resolve().parent / "results" / "pruning.json"

# Per model: target, schedule, fine-tuning budgets (epochs) chosen to fit ~15 min on 2 cores.
SETTINGS = {
    "lenet300": {"deep_compression": {"density": 0.08, "error": 0.0159},
                 "target": {"density": 0.08, "error": 0.017},
                 "prune": PruneConfig(sparsity=0.925, scope="global", schedule="agp", end=0.6,
                                      frequency=100),
                 "finetune": TrainConfig(epochs=20, lr=0.02, weight_decay=1e-4),
                 "share_epochs": 2, "nm_epochs": 4},
    "lenet5": {"deep_compression": {"density": 0.08, "error": 0.0077},
               "target": {"density": 0.08, "error": 0.009},
               "prune": PruneConfig(sparsity=0.925, scope="global", schedule="agp", end=0.6,
                                    frequency=100),
               "finetune": TrainConfig(epochs=16, lr=0.02, weight_decay=1e-4),
               "share_epochs": 1, "nm_epochs": 3},
}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def mask_check(model, sparsity: float) -> dict:
    """levin's global magnitude masks vs torch.nn.utils.prune's, on the same weights."""
    ours = magnitude_masks(model, sparsity, "global")
    theirs = copy.deepcopy(model)
    layers = select_layers(theirs)
    pool = sum(m.weight.numel() for m in layers.values())
    amount = int(round(sparsity * pool))
    torch_prune.global_unstructured([(m, "weight") for m in layers.values()],
                                    pruning_method=torch_prune.L1Unstructured, amount=amount)
    differ = sum(int((ours[n].bool() != m.weight_mask.bool()).sum()) for n, m in layers.items())
    return {"sparsity": sparsity, "weights": pool, "pruned_by_levin": int(sum(
        (v == 0).sum() for v in ours.values())), "pruned_by_torch": int(sum(
            (m.weight_mask == 0).sum() for m in layers.values())), "differing_entries": differ}


def shared_run(pruned, data, conv_bits: int, linear_bits: int, epochs: int, base: TrainConfig,
               out: Path, name: str) -> dict:
    model = copy.deepcopy(pruned)
    share(model, ShareConfig(conv_bits=conv_bits, linear_bits=linear_bits))
    before = evaluate(model, data.x_test, data.y_test)
    # Centroid fine-tuning: a centroid's gradient is the sum over its (hundreds of) weights, so
    # Adam (invariant to that scale) with a small step; no weight decay (it would pull
    # centroids toward zero).
    cfg = base.with_(epochs=epochs, optimizer="adam", lr=1e-4, weight_decay=0.0)
    start = time.perf_counter()
    after = train(model, data, cfg, out / f"share_{conv_bits}_{linear_bits}", model_name=name,
                  progress=False).test_accuracy
    books = codebooks(model)
    remove_sharing(model)
    distinct = {n: len(torch.unique(model.get_submodule(n).weight[model.get_submodule(n).weight != 0]))
                for n in books}
    return {"conv_bits": conv_bits, "linear_bits": linear_bits,
            "error_before_finetune": 1 - before, "error": 1 - after,
            "distinct_nonzero_values": distinct, "density": sparsity_report(model)["density"],
            "finetune_s": time.perf_counter() - start}


def run_model(name: str, data, runs: Path, epochs: int | None = None) -> dict:
    s = dict(SETTINGS[name])
    s["finetune"] = s["finetune"].with_(epochs=epochs)
    out = runs / name
    baseline = load_model(f"runs/{name}")
    dense = baseline.module.eval()
    base_acc = evaluate(dense, data.x_test, data.y_test)
    result = {"model": name, "baseline_error": 1 - base_acc, "deep_compression": s["deep_compression"],
              "target": s["target"], "prune_config": s["prune"].to_dict(),
              "finetune_config": s["finetune"].to_dict()}
    started = time.perf_counter()

    log(f"{name}: mask check against torch.nn.utils.prune")
    result["mask_check"] = mask_check(dense, s["prune"].sparsity)

    log(f"{name}: prune to {s['prune'].sparsity:.1%} ({s['prune'].schedule}) and fine-tune")
    model = copy.deepcopy(dense)
    t = time.perf_counter()
    pruned = prune_and_finetune(model, data, s["prune"], s["finetune"], out / "prune",
                                model_name=name, progress=False)
    remove_masks(model)
    rep = sparsity_report(model)
    result["pruned"] = {"error": 1 - pruned.accuracy, "density_weights": rep["density"],
                        "density_params": rep["params_nonzero"] / rep["params"],
                        "layers": {n: v["density"] for n, v in rep["layers"].items()},
                        "stages": pruned.stages, "wall_s": time.perf_counter() - t}

    result["shared"] = []
    for conv_bits, linear_bits in ((8, 5), (6, 4)):
        log(f"{name}: k-means sharing {conv_bits} bits conv / {linear_bits} bits fc")
        result["shared"].append(shared_run(model, data, conv_bits, linear_bits, s["share_epochs"],
                                           s["finetune"], out, name))

    log(f"{name}: 2:4 sparsity from the dense model")
    nm_model = copy.deepcopy(dense)
    t = time.perf_counter()
    nm = prune_nm(nm_model, NMConfig(n=2, m=4), torch.from_numpy(data.x_train[:1]))   # groups in IR order
    nm_before = evaluate(nm_model, data.x_test, data.y_test)
    nm_after = train(nm_model, data, s["finetune"].with_(epochs=s["nm_epochs"]), out / "nm_2_4",
                     model_name=name, progress=False).test_accuracy
    remove_masks(nm_model)
    result["nm_2_4"] = {"error_before_finetune": 1 - nm_before, "error": 1 - nm_after,
                        "skipped_layers": nm.skipped,
                        "density_weights": sparsity_report(nm_model)["density"],
                        "groups_ok": all(check_nm(nm_model.get_submodule(n).weight, 2, 4, nm.orders.get(n))
                                         for n in nm.masks),
                        "wall_s": time.perf_counter() - t}
    result["wall_s"] = time.perf_counter() - started
    result["threads"] = torch.get_num_threads()
    return result


def print_table(results: dict) -> None:
    rows = []
    for name, r in results.items():
        dc = r["deep_compression"]
        rows.append([name, "dense baseline", "100%", f"{100 * r['baseline_error']:.2f}%", ""])
        p = r["pruned"]
        rows.append([name, f"pruned ({r['prune_config']['schedule']})",
                     f"{100 * p['density_weights']:.2f}%", f"{100 * p['error']:.2f}%",
                     f"{100 * dc['density']:.0f}% at {100 * dc['error']:.2f}%"])
        for sh in r["shared"]:
            rows.append([name, f"+ k-means {sh['conv_bits']}/{sh['linear_bits']} bits",
                         f"{100 * sh['density']:.2f}%", f"{100 * sh['error']:.2f}%",
                         f"(before fine-tune {100 * sh['error_before_finetune']:.2f}%)"])
        nm = r["nm_2_4"]
        rows.append([name, "2:4 from dense", f"{100 * nm['density_weights']:.2f}%",
                     f"{100 * nm['error']:.2f}%",
                     f"(before fine-tune {100 * nm['error_before_finetune']:.2f}%)"])
        mc = r["mask_check"]
        rows.append([name, "masks vs torch.nn.utils.prune", "", "",
                     f"{mc['differing_entries']} of {mc['weights']:,} differ"])
    print(table(["model", "stage", "weights nonzero", "test error", "note"], rows))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=[*SETTINGS, "all"], default="all")
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--runs", default="runs/bench_pruning")
    parser.add_argument("--finetune-epochs", type=int, default=None,
                        help="override the pruning fine-tune epochs (LeNet-5: 16 by default)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: on a shared 2-core machine, 2 threads spin-wait "
                             "against other jobs and run many times slower)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load("mnist", args.data_dir)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    for name in SETTINGS if args.model == "all" else [args.model]:
        if not (Path("runs") / name / "model.json").exists():
            sys.exit(f"runs/{name}/model.json is missing: train the baseline first (make baselines)")
        results[name] = run_model(name, data, Path(args.runs), args.finetune_epochs)
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print_table(results)


if __name__ == "__main__":
    main()
