"""Generated weights on MNIST (issue 22 item 2): MIRACLE-style coding, the C runtime regenerating
the weights bit-exact.

For each point a zoo model is trained from scratch on the training images less a seeded
validation split (`--validation`, 5,000), then trained variationally and coded block by block
(`levin.mdl.generated.train_generated`), its weights become `generated` tensor bodies of a .lvn
(`levin.coding.generated`), and the point reports: the whole .lvn's bytes (header, graph,
biases and scales included) and each tensor's; the validation error of the integer graph in the
file (every choice is made on it) and its test error on all 10,000 test images (measured once,
at the end); the C export's outputs against the numpy integer reference on the host (all test
images) and on the Cortex-M4 under qemu (`--m4` images), and the M4 instructions of one
inference, weights regenerated as it runs.

Run (one point per command; its entry replaces the same model/budget/bits/seed in
benchmarks/results/generated.json):
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generated.py --model lenet300 --budget-bits 48000 --bits 12
Files go to runs/generated/<model>-<budget>-C<bits>-seed<seed>/. `--check` trains nothing: it
reruns the C checks of that point's saved .lvn (after a runtime change) and updates its entry.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from levin import zoo
from levin.coding import container
from levin.data.splits import with_validation
from levin.mdl.export import integer_graph
from levin.mdl.generated import GeneratedConfig, train_generated
from levin.mdl.snap import SnappedLayer
from levin.quant.pipeline import integer_outputs
from levin.targets.c_check import c_check
from levin.bench.vs_tflm import DEFAULT_DATA
from levin.train.data import load

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results" / "generated.json"
TARGETS = {"lenet5": {"bytes": 1500, "error": 0.010}, "lenet300": {"bytes": 8000, "error": 0.016}}
PUBLISHED = {"lenet5": {"MIRACLE": (1520, 0.0096), "levin MDL (mdl.json)": (3369, 0.0114)},
             "lenet300": {"levin MDL (mdl.json)": (6957, 0.0139)}}


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pretrain(model, x, y, epochs: float, seed: int) -> None:
    """Plain training (Adam, cosine) of the posterior means' starting point."""
    gen = torch.Generator().manual_seed(seed)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    steps = int(epochs * len(x) / 128)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    model.train()
    for _ in range(steps):
        i = torch.randint(0, len(x), (128,), generator=gen)
        loss = F.cross_entropy(model(xt[i]), yt[i])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    model.eval()


def error_of(graph, x, y) -> float:
    codes = integer_outputs(graph, x)
    return float((codes.reshape(len(codes), -1).argmax(1) != y).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", choices=("lenet300", "lenet5"), required=True)
    ap.add_argument("--budget-bits", type=float, default=52_000)
    ap.add_argument("--bits", type=int, default=12)
    ap.add_argument("--kl-bits", type=float, default=None)
    ap.add_argument("--pretrain-epochs", type=float, default=10)
    ap.add_argument("--budget-epochs", type=float, default=8)
    ap.add_argument("--block-epochs", type=float, default=8)
    ap.add_argument("--groups", type=int, default=4)
    ap.add_argument("--retrain-epochs", type=float, default=1.0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--sample", action="store_true", help="draw indices by importance weight (the paper's rule)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--validation", type=int, default=5000)
    ap.add_argument("--m4", type=int, default=20, help="test images run on the Cortex-M4 (qemu)")
    ap.add_argument("--data-dir", default=str(DEFAULT_DATA))
    ap.add_argument("--check", action="store_true", help="no training: rerun the C checks of the point's saved .lvn")
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)
    t0 = time.perf_counter()
    data = with_validation(load("mnist", args.data_dir), args.validation / 60_000, args.seed)
    work = ROOT.parent / "runs" / "generated" / f"{args.model}-{args.budget_bits:g}-C{args.bits}-seed{args.seed}"
    if args.check:
        return recheck(args, work, data)
    model = zoo.create(args.model)
    pretrain(model, data.x_train, data.y_train, args.pretrain_epochs, args.seed)
    config = GeneratedConfig(budget_bits=args.budget_bits, bits=args.bits, kl_bits=args.kl_bits,
                             budget_epochs=args.budget_epochs, block_epochs=args.block_epochs,
                             groups=args.groups, retrain_epochs=args.retrain_epochs, lr=args.lr,
                             sample=args.sample, seed=args.seed)
    r = train_generated(model, data.x_train, data.y_train, data.x_val, data.y_val, config, log)
    # the integer graph: each coded layer's weights are its codes times its scale, exactly
    snapped = {}
    for name, m in model.named_modules():
        if name in r.codes:
            codes = np.rint(m.weight.detach().double().numpy() / r.scales[name]).astype(np.int8)
            snapped[name] = SnappedLayer(np.float32(r.scales[name]), codes, codes.astype(np.int64))
    graph = integer_graph(model, data.tuning(), snapped, name=args.model)
    bodies = {}
    for node in graph.nodes:
        if node.name in r.codes:
            t = graph.tensors[node.inputs[1]]
            want = r.codes[node.name].codes()
            if not np.array_equal(t.data.reshape(-1), want):
                raise SystemExit(f"{node.name}: the integer graph's codes differ from the program's "
                                 f"at {int((t.data.reshape(-1) != want).sum())} weights")
            bodies[t.name] = r.codes[node.name].body()
    work.mkdir(parents=True, exist_ok=True)
    data_bytes = container.encode(graph, bodies=bodies)
    (work / "model.lvn").write_bytes(data_bytes)
    stored = container.decode(data_bytes)          # scored from the file's bytes
    report = container.inspect(data_bytes)
    val_error = error_of(stored, data.x_val, data.y_val)
    test_error = error_of(stored, data.x_test, data.y_test)   # once, at the end
    log(f"{args.model}: {len(data_bytes):,} B, validation {100 * val_error:.2f}%, test {100 * test_error:.2f}%")
    device = c_check(work / "model.lvn", stored, data.x_test, work, args.m4)
    log(f"C: {device}")
    point = {"model": args.model, "budget_bits": args.budget_bits, "bits": args.bits, "seed": args.seed,
             "file_bytes": len(data_bytes), "validation_error": val_error, "test_error": test_error,
             "tensors": {t.name: {"chain": t.chain, "bytes": t.nbytes} for t in report.tensors},
             "graph_bytes": sum(report.graph_bytes.values()), "header_bytes": report.header_bytes,
             "history": r.history, "config": r.config, "pretrain_epochs": args.pretrain_epochs,
             "validation": {"images": args.validation, "seed": args.seed}, "c": device,
             "wall_s": time.perf_counter() - t0,
             "machine": f"{os.cpu_count()} CPU cores (shared), 1 torch thread"}
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    entry = results.setdefault(args.model, {"points": []})
    entry["target"] = TARGETS[args.model]
    entry["published"] = {k: {"bytes": b, "error": e} for k, (b, e) in PUBLISHED[args.model].items()}
    key = (args.budget_bits, args.bits, args.seed)
    entry["points"] = [p for p in entry["points"] if (p["budget_bits"], p["bits"], p["seed"]) != key]
    point["command"] = "OMP_NUM_THREADS=1 .venv/bin/python benchmarks/generated.py " + " ".join(sys.argv[1:])
    entry["points"].append(point)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2, default=float) + "\n")
    print(f"{args.model} budget {args.budget_bits:g} bits C={args.bits}: {len(data_bytes):,} B, "
          f"validation {100 * val_error:.2f}%, test {100 * test_error:.2f}%, host bit-exact "
          f"{device['host_bit_exact']}/{device['host_images']}, M4 {device.get('m4_bit_exact')}/"
          f"{device.get('m4_images')}, {device.get('m4_instructions')} instructions")
    return 0


def recheck(args, work: Path, data) -> int:
    """The C checks of a saved point rerun; its entry's "c" replaced."""
    results = json.loads(RESULTS.read_text())
    key = (args.budget_bits, args.bits, args.seed)
    point = next((p for p in results.get(args.model, {}).get("points", [])
                  if (p["budget_bits"], p["bits"], p["seed"]) == key), None)
    if point is None or not (work / "model.lvn").exists():
        raise SystemExit(f"no saved point {args.model} {key} (train it first)")
    point["c"] = c_check(work / "model.lvn", container.decode((work / "model.lvn").read_bytes()),
                         data.x_test, work, args.m4)
    RESULTS.write_text(json.dumps(results, indent=2, default=float) + "\n")
    log(f"C: {point['c']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
