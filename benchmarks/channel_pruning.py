"""ResNet-8 pruned to half its MACs: levin's channel pruning vs Torch-Pruning, same fine-tuning.

From the trained baseline in runs/resnet8 (CIFAR-10, 10k-image train subset, 70.24% test), each
method removes whole channels until the captured graph has at most --target of the baseline's
MACs, then every pruned model is fine-tuned with the same TrainConfig (epochs, lr, seed, data
order, augmentation). Methods:
    levin-l1, levin-l2, levin-taylor   levin.prune.channel.prune_channels, one ratio for every
                                       dependency group, importance L1 / L2 / first-order Taylor
    tp-l1, tp-taylor                   Torch-Pruning's MetaPruner (MagnitudeImportance(p=1),
                                       TaylorImportance), one ratio per layer, the classifier
                                       ignored (levin never prunes it: it is the model output)
The MAC budget: for each method the smallest ratio (on a 0.005 grid) whose model has
<= target * baseline MACs; then every method is re-fitted to the smallest MAC count any of them
reached, so all end at the same MACs (ResNet-8's channel counts are coarse: 16/32/64 per group).
Taylor scores (both libraries) come from the first 4 training batches of 128, in file order.

MACs, params and peak SRAM (the planned activation arena) are levin.analyze.profile of the
captured IR graph; each pruned model is also run by levin's numpy interpreter and compared with
torch on 8 test images. Accuracy: the 10,000 CIFAR-10 test images, before and after fine-tuning.

In the same script, the unstructured peer check: levin's global magnitude masks against
torch.nn.utils.prune.global_unstructured(L1Unstructured) on the trained LeNet-300-100, LeNet-5
and ResNet-8 weights at several sparsities: entries that differ, and whether two equal |w|
straddle the threshold (the one case where the two may legitimately differ; see
tests/prune/test_torch_peer.py). `--checks` runs only that and the kept-channel overlap
between methods (seconds), merged into the JSON of an earlier full run.

Run (on the shared 2-core machine, 1 thread: one epoch of a half-MAC model took 14.3 s at
load ~1; each 10-epoch fine-tune took 290-650 s at load 8-11, about 25 min for all five):
    .venv/bin/python benchmarks/channel_pruning.py --epoch-time     # one epoch, to size --epochs
    .venv/bin/python benchmarks/channel_pruning.py --epochs 10
    .venv/bin/python benchmarks/channel_pruning.py --epochs 10 --seed 1 --methods levin-l1,tp-l1
Fine-tuning checkpoints under runs/bench_channel/<method>/, so an interrupted run resumes.
Writes benchmarks/results/channel_pruning.json and prints a table.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.nn.utils import prune as torch_prune

from levin.analyze.profile import profile
from levin.config import ChannelPruneConfig, TrainConfig
from levin.ir.capture import capture
from levin.ir.interpreter import run as run_ir
from levin.models import load_model
from levin.output import table
from levin.prune.channel import prune_channels
from levin.prune.magnitude import magnitude_masks
from levin.prune.masks import select_layers
from levin.train.data import load
from levin.train.loop import evaluate, train

RESULTS = Path(__file__).resolve().parent / "results" / "channel_pruning.json"
METHODS = ("levin-l1", "levin-l2", "levin-taylor", "tp-l1", "tp-taylor")
TAYLOR_BATCHES, TAYLOR_BATCH = 4, 128
BASELINE_DOC = 0.7024            # docs/results.md, runs/resnet8
MASK_MODELS = ("lenet300", "lenet5", "resnet8")
MASK_SPARSITIES = (0.5, 0.8, 0.9, 0.925, 0.98)


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def taylor_batches(data) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(torch.from_numpy(data.x_train[i:i + TAYLOR_BATCH]),
             torch.from_numpy(data.y_train[i:i + TAYLOR_BATCH]).long())
            for i in range(0, TAYLOR_BATCHES * TAYLOR_BATCH, TAYLOR_BATCH)]


def prune_levin(model, example, ratio: float, importance: str, batches) -> None:
    prune_channels(model, example, ChannelPruneConfig(ratio=ratio, importance=importance,
                                                      taylor_batches=TAYLOR_BATCHES), batches)


def prune_tp(model, example, ratio: float, importance: str, batches) -> None:
    import torch_pruning as tp

    if importance == "taylor":
        # TaylorImportance reads the .grad left by the caller's backward passes.
        model.eval()
        model.zero_grad()
        for x, y in batches:
            F.cross_entropy(model(x), y).backward()
        scorer = tp.importance.TaylorImportance()
    else:
        scorer = tp.importance.MagnitudeImportance(p=1 if importance == "l1" else 2)
    pruner = tp.pruner.MetaPruner(model, example, scorer, pruning_ratio=ratio,
                                  ignored_layers=[model.fc])
    pruner.step()
    model.zero_grad(set_to_none=True)


PRUNERS = {"levin": prune_levin, "tp": prune_tp}


def pruned_copy(base, method: str, ratio: float, example, batches):
    library, importance = method.split("-")
    model = copy.deepcopy(base)
    PRUNERS[library](model, example, ratio, importance, batches)
    return model.eval()


def macs_of(model, example) -> int:
    return profile(capture(model, example)).macs


def fit_ratio(base, method: str, budget: int, example, batches) -> float:
    """The smallest ratio on a 0.005 grid whose pruned model has <= budget MACs (bisection:
    a larger ratio never keeps more channels, so MACs do not grow with it)."""
    def fits(step: int) -> bool:
        model = pruned_copy(base, method, 0.005 * step, example, batches)
        return macs_of(model, example) <= budget

    low, high = 0, 190                     # fits(high) is assumed: 95% of channels gone
    if not fits(high - 1):
        raise RuntimeError(f"{method}: no ratio below 0.95 reaches {budget:,} MACs")
    high -= 1
    while high - low > 1:                  # not fits(low) (ratio 0 keeps all), fits(high)
        mid = (low + high) // 2
        low, high = (low, mid) if fits(mid) else (mid, high)
    return round(0.005 * high, 3)


def measure(model, data, example) -> dict:
    """Profile of the captured graph, IR-vs-torch check, channel widths and test accuracy."""
    graph = capture(model, example)
    prof = profile(graph)
    x = torch.from_numpy(data.x_test[:8])
    batch = capture(model, x)          # the profile is per image; this graph runs 8 at once
    ours = run_ir(batch, x.numpy().transpose(0, 2, 3, 1))[batch.outputs[0]]
    with torch.no_grad():
        theirs = model.eval()(x).numpy()
    widths = [m.out_channels for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    return {"macs": prof.macs, "params": prof.params, "arena_bytes": prof.arena_bytes,
            "ir_max_abs_diff": float(np.abs(ours - theirs).max()),
            "ir_argmax_agree": bool((ours.argmax(1) == theirs.argmax(1)).all()),
            "conv_out_channels": widths,
            "test_accuracy": evaluate(model, data.x_test, data.y_test)}


def mask_check(runs: Path = Path("runs")) -> list[dict]:
    """levin's global magnitude masks vs torch.nn.utils.prune's on the trained baselines."""
    rows = []
    for name in MASK_MODELS:
        if not (runs / name / "model.json").exists():
            log(f"mask check: {runs / name} missing, skipped")
            continue
        model = load_model(str(runs / name)).module
        layers = select_layers(model).values()
        pool = torch.cat([m.weight.detach().abs().reshape(-1) for m in layers])
        ranked = torch.sort(pool).values
        for sparsity in MASK_SPARSITIES:
            k = round(sparsity * pool.numel())
            ours = magnitude_masks(model, sparsity, "global")
            theirs = copy.deepcopy(model)
            layers = select_layers(theirs)
            torch_prune.global_unstructured([(m, "weight") for m in layers.values()],
                                            pruning_method=torch_prune.L1Unstructured, amount=k)
            differ = sum(int((ours[n].bool() != m.weight_mask.bool()).sum())
                         for n, m in layers.items())
            rows.append({"model": name, "sparsity": sparsity, "weights": pool.numel(),
                         "pruned": k, "distinct_abs_values": int(torch.unique(pool).numel()),
                         "tie_at_threshold": bool(ranked[k - 1] == ranked[k]),
                         "differing_entries": differ})
    return rows


def kept_channels(base, model) -> dict[str, list[int]]:
    """Per conv: the original output channels a pruned copy kept, found by their biases (a
    pruned filter keeps its bias; the baseline's biases are distinct within each layer)."""
    kept = {}
    for name, m in model.named_modules():
        if isinstance(m, torch.nn.Conv2d):
            original = base.get_submodule(name).bias.detach()
            if torch.unique(original).numel() != original.numel():
                raise RuntimeError(f"{name}: equal biases, channels cannot be told apart")
            kept[name] = sorted(int((original == b).nonzero()[0]) for b in m.bias.detach())
    return kept


def overlaps(base, ratios: dict, example, batches) -> list[dict]:
    """How many kept channels two methods share, for the pairs that differ in one respect."""
    kept = {m: kept_channels(base, pruned_copy(base, m, r, example, batches))
            for m, r in ratios.items()}
    rows = []
    for a, b in (("levin-l1", "tp-l1"), ("levin-taylor", "tp-taylor"), ("levin-l1", "levin-l2"),
                 ("levin-l1", "levin-taylor")):
        if a in kept and b in kept:
            rows.append({"a": a, "b": b, "kept": sum(len(v) for v in kept[a].values()),
                         "in_common": sum(len(set(kept[a][n]) & set(kept[b][n]))
                                          for n in kept[a])})
    return rows


def finetune_config(args) -> TrainConfig:
    return TrainConfig(epochs=args.epochs, lr=args.lr, weight_decay=5e-4, shift=4, seed=args.seed,
                       batch_size=128)


def epoch_time(base, data, example, batches, args) -> None:
    """Time one fine-tuning epoch of a half-MAC levin-l1 model (no checkpoint written)."""
    model = pruned_copy(base, "levin-l1", 0.3, example, batches)
    start = time.perf_counter()
    train(model, data, finetune_config(args).with_(epochs=1), None, model_name="resnet8",
          progress=False)
    print(f"one epoch, {len(data.x_train)} images, {torch.get_num_threads()} thread(s): "
          f"{time.perf_counter() - start:.1f} s")


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="../shared/data")
    parser.add_argument("--baseline", default="runs/resnet8")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--target", type=float, default=0.5, help="MAC budget, x baseline")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--runs", default="runs/bench_channel")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0,
                        help="fine-tuning seed (data order, augmentation); pruning has none. "
                             "Other than 0: results go to channel_pruning_seed<N>.json")
    parser.add_argument("--epoch-time", action="store_true", help="time one epoch and stop")
    parser.add_argument("--checks", action="store_true",
                        help="only the quick checks (torch.nn.utils.prune masks, kept channels in "
                             "common), merged into the JSON of an earlier full run")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    results = RESULTS if args.seed == 0 else RESULTS.with_name(
        f"channel_pruning_seed{args.seed}.json")
    if args.checks:
        saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {"methods": {}}
        saved["mask_check"] = mask_check()
        if saved["methods"]:
            saved["overlap"] = overlaps(load_model(args.baseline).module.eval(),
                                        {m: r["ratio"] for m, r in saved["methods"].items()},
                                        torch.zeros(1, 3, 32, 32),
                                        taylor_batches(load("cifar10", args.data_dir)))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(saved, indent=2) + "\n")
        print_masks(saved["mask_check"])
        print_overlap(saved.get("overlap", []))
        if saved["methods"]:
            print_table(saved)
        return
    methods = [m for m in args.methods.split(",") if m]
    if unknown := sorted(set(methods) - set(METHODS)):
        sys.exit(f"unknown methods {', '.join(unknown)}; choose from {', '.join(METHODS)}")
    if not (Path(args.baseline) / "model.json").exists():
        sys.exit(f"{args.baseline}/model.json is missing: train ResNet-8 first (docs/results.md)")
    data = load("cifar10", args.data_dir)
    base = load_model(args.baseline).module.eval()
    example = torch.zeros(1, 3, 32, 32)
    batches = taylor_batches(data)
    if args.epoch_time:
        epoch_time(base, data, example, batches, args)
        return

    log("baseline")
    baseline = measure(base, data, example)
    budget = int(args.target * baseline["macs"])
    ratios = {m: fit_ratio(base, m, budget, example, batches) for m in methods}
    common = min(macs_of(pruned_copy(base, m, r, example, batches), example)
                 for m, r in ratios.items())
    ratios = {m: fit_ratio(base, m, common, example, batches) for m in methods}
    log(f"MAC budget {budget:,}; all methods at {common:,} MACs; ratios {ratios}")

    config = finetune_config(args)
    out = {"mask_check": mask_check(), "overlap": overlaps(base, ratios, example, batches),
           "baseline": baseline, "baseline_in_docs": BASELINE_DOC,
           "target": args.target, "budget_macs": budget, "common_macs": common,
           "finetune_config": config.to_dict(),
           "threads": torch.get_num_threads(), "methods": {}}
    for method in methods:
        log(f"{method}: ratio {ratios[method]}")
        t = time.perf_counter()
        model = pruned_copy(base, method, ratios[method], example, batches)
        prune_s = time.perf_counter() - t
        before = measure(model, data, example)
        t = time.perf_counter()
        folder = Path(args.runs) / (method if args.seed == 0 else f"{method}-seed{args.seed}")
        result = train(model, data, config, folder, model_name="resnet8",
                       progress=False)
        after = measure(model, data, example)
        out["methods"][method] = {"ratio": ratios[method], "prune_s": prune_s,
                                  "before_finetune": before, "after_finetune": after,
                                  "finetune_wall_s": time.perf_counter() - t,
                                  "finetune_history": result.history}
        log(f"{method}: {100 * before['test_accuracy']:.2f}% -> "
            f"{100 * after['test_accuracy']:.2f}% ({time.perf_counter() - t:.0f} s)")
        results.parent.mkdir(parents=True, exist_ok=True)
        results.write_text(json.dumps(out, indent=2) + "\n")
    print_masks(out["mask_check"])
    print_overlap(out["overlap"])
    print_table(out)


def print_masks(rows: list[dict]) -> None:
    print(table(["model", "sparsity", "weights", "pruned", "tie at threshold",
                 "masks differ (levin vs torch.nn.utils.prune)"],
                [[r["model"], f"{r['sparsity']:g}", f"{r['weights']:,}", f"{r['pruned']:,}",
                  "yes" if r["tie_at_threshold"] else "no", f"{r['differing_entries']:,}"]
                 for r in rows]))


def print_overlap(rows: list[dict]) -> None:
    print(table(["method", "vs", "kept channels in common"],
                [[r["a"], r["b"], f"{r['in_common']} of {r['kept']}"] for r in rows]))


def print_table(out: dict) -> None:
    b = out["baseline"]
    rows = [["unpruned", "", f"{b['macs']:,}", f"{b['params']:,}", f"{b['arena_bytes']:,}",
             f"{100 * b['test_accuracy']:.2f}%", "", ""]]
    for method, r in out["methods"].items():
        a, z = r["before_finetune"], r["after_finetune"]
        rows.append([method, f"{r['ratio']:.3f}", f"{z['macs']:,} ({z['macs'] / b['macs']:.1%})",
                     f"{z['params']:,}", f"{z['arena_bytes']:,}",
                     f"{100 * a['test_accuracy']:.2f}%", f"{100 * z['test_accuracy']:.2f}%",
                     f"{z['ir_max_abs_diff']:.1e}"])
    print(table(["method", "ratio", "MACs", "params", "arena B", "acc. pruned",
                 f"acc. +{out['finetune_config']['epochs']} ep.", "IR diff"], rows))


if __name__ == "__main__":
    main()
