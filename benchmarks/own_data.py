"""Your own data from the command line, one worked example per source kind (issue 19).

For each kind of `--data SOURCE` (docs/data.md) this writes the inputs, a model file and a recipe
into a scratch folder, then runs the real CLI there, as a user would:

    levin train --model model.py:build --data SOURCE ... --out runs/base --json train.json
    levin compress --model model.py:build --weights runs/base --data SOURCE ... \
        --recipe recipe.yaml --out runs/small --json compress.json

and records the exact command lines, the baseline test metric (float), the metric of the frozen
integer graph, the .lvn bytes and the C check (the exported C, compiled and run on every test
input, compared byte for byte with levin's integer reference). The kinds:

- npz: synthetic accelerometer windows (N, 3, 128), five activities, a 1-D CNN;
- npz, --task anomaly: synthetic machine-sound log-mel frames (levin.data.synthetic), normal
  frames to train on and labelled test frames, a dense autoencoder scored by ROC AUC;
- images: 4 CIFAR-10 classes written as PNG in train/ and test/ class subfolders (300 + 100 per
  class, from ../shared/data/cifar10), a small CNN;
- WAV: the ten command words of the Speech Commands subset (../shared/data/
  speech_commands_v0.01_subset, 10 clips per word, linked, not copied), log-mel by librosa, a CNN;
- CSV: per-window features of synthetic accelerometer windows (HAR-like), an MLP;
- factory: `data.py:make` returning torch Datasets of MNIST digits (a 2,000 / 500 subset of
  ../shared/data/mnist), a small CNN.

The synthetic data are plausible, not real recordings: the figures say what levin does to a
model trained on them, not how well one could recognise real activities.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/own_data.py [--work /tmp/levin-own-data] [--only csv]

Writes benchmarks/results/own_data.json and prints the table (docs/results.md, "Your own data").
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from levin.output import table, write_json

ROOT = Path(__file__).resolve().parents[1]
LEVIN = ROOT / ".venv" / "bin" / "levin"
RESULTS = ROOT / "benchmarks" / "results" / "own_data.json"
DATA = ROOT.parent / "shared" / "data"

# Prune to 75% on a gradual (AGP) schedule while fine-tuning, then share each layer's weights
# through a 4-bit k-means codebook and fine-tune the centroids briefly. The first step's epochs and
# lr are per model; the masks are updated every 10 optimizer steps (the data sets are small).
RECIPE = """\
name: own-data
steps:
  - prune: {{sparsity: 0.75, schedule: agp, end: 0.7, frequency: {frequency}}}
    finetune: {{epochs: {epochs}, batch_size: 32, optimizer: adam, lr: {lr}, weight_decay: 0}}
  - share: {{bits: 4}}
    finetune: {{epochs: 1, batch_size: 32, optimizer: adam, lr: 1.0e-4, weight_decay: 0}}
quantize: {{per_channel: false, calibration_size: 200}}
code: {{}}
"""


# --- synthetic accelerometer windows: 50 Hz, 128 samples (2.56 s, as UCI HAR), in g ---------------

ACTIVITIES = ("lie", "run", "sit", "stairs", "walk")
GAIT = {"walk": (1.6, 2.1, 0.25, 0.45), "run": (2.4, 3.0, 0.7, 1.1), "stairs": (1.3, 1.8, 0.3, 0.5)}


def accelerometer(per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(N, 3, 128) float32 windows and (N,) activity indices: gravity in a jittered orientation,
    a gait at the activity's step rate (its second harmonic strong on stairs) and sensor noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(128) / 50.0
    xs, ys = [], []
    for label, name in enumerate(ACTIVITIES):
        for _ in range(per_class):
            up = {"lie": (0.0, 0.0, 1.0), "sit": (0.6, 0.0, 0.8)}.get(name, (1.0, 0.0, 0.0))
            g = np.asarray(up) + rng.normal(0, 0.25, 3)
            g /= np.linalg.norm(g)
            w = g[:, None] * np.ones_like(t)
            if name in GAIT:
                f0, f1, a0, a1 = GAIT[name]
                f, a, phase = rng.uniform(f0, f1), rng.uniform(a0, a1), rng.uniform(0, 2 * np.pi)
                second = 0.8 if name == "stairs" else 0.3
                vertical = a * (np.sin(2 * np.pi * f * t + phase) + second * np.sin(4 * np.pi * f * t + 2 * phase))
                sway = 0.4 * a * np.sin(np.pi * f * t + phase)            # lateral sway at half the step rate
                side = np.cross(g, rng.normal(size=3))
                side /= np.linalg.norm(side)
                w = w + g[:, None] * vertical + side[:, None] * sway
            else:                                                          # still: slow drift
                w = w + rng.normal(0, 0.02, (3, 1)) * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t)
            xs.append(w + rng.normal(0, rng.uniform(0.02, 0.06), w.shape))
            ys.append(label)
    return np.stack(xs).astype(np.float32), np.array(ys, np.int64)


def window_features(x: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window features a HAR dataset ships as columns (per axis and of the magnitude)."""
    cols = {}
    for i, axis in enumerate("xyz"):
        a = x[:, i]
        cols |= {f"mean_{axis}": a.mean(1), f"std_{axis}": a.std(1), f"min_{axis}": a.min(1), f"max_{axis}": a.max(1)}
    mag = np.linalg.norm(x, axis=1)
    spectrum = np.abs(np.fft.rfft(mag - mag.mean(1, keepdims=True), axis=1))
    cols |= {"mag_mean": mag.mean(1), "mag_std": mag.std(1),
             "mag_peak_hz": spectrum.argmax(1) * 50.0 / 128, "mag_energy": (spectrum ** 2).sum(1) / 128 ** 2}
    return cols


# --- the cases: each writes its inputs and model.py, and says how the commands read them ------------

def npz_case(work: Path) -> dict:
    x, y = accelerometer(per_class=240, seed=0)
    np.savez(work / "windows.npz", x=x, y=y)
    (work / "model.py").write_text('''\
from torch import nn


def build():                      # 3 accelerometer axes x 128 samples, 5 activities
    net = nn.Sequential(
        nn.Conv1d(3, 16, 5, padding=2), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool1d(4),
        nn.Flatten(), nn.Linear(32 * 8, 5))
    net.input_shape = (3, 128)
    return net
''')
    return {"data": f"synthetic accelerometer windows, {len(x)} x (3, 128), 5 activities",
            "model": "1-D CNN", "source": ["windows.npz"], "train": ["--epochs", "15", "--batch-size", "32",
                                                                 "--optimizer", "adam", "--lr", "0.003"],
            "recipe": {"epochs": 4, "lr": 0.001}}


def anomaly_case(work: Path) -> dict:
    from levin.data.synthetic import machine_sounds

    d = machine_sounds(train=600, test_normal=150, test_anomalous=150, seed=0)
    np.savez(work / "frames.npz", x_train=d.x_train, x_test=d.x_test, y_test=d.y_test)
    (work / "model.py").write_text('''\
from torch import nn


def build():                      # 5 log-mel frames x 128 bands in, the same out
    net = nn.Sequential(
        nn.Linear(640, 64), nn.ReLU(), nn.Linear(64, 16), nn.ReLU(),
        nn.Linear(16, 64), nn.ReLU(), nn.Linear(64, 640))
    net.input_shape = (640,)
    return net
''')
    return {"data": f"synthetic machine-sound log-mel frames, {len(d.x_train)} normal train, "
                    f"{len(d.x_test)} test (half anomalous)",
            "model": "dense autoencoder", "source": ["frames.npz", "--task", "anomaly"],
            "train": ["--epochs", "30", "--batch-size", "32", "--optimizer", "adam", "--lr", "0.001"],
            "recipe": {"epochs": 6, "lr": 0.0003}}


CIFAR_CLASSES = (0, 1, 6, 8)      # airplane, automobile, frog, ship


def images_case(work: Path) -> dict:
    from PIL import Image

    for split, name, count in (("train", "cifar10_train_subset_10k.npz", 300), ("test", "cifar10_test.npz", 100)):
        d = np.load(DATA / "cifar10" / name)
        for c in CIFAR_CLASSES:
            folder = work / "photos" / split / str(d["class_names"][c])
            folder.mkdir(parents=True)
            for i, image in enumerate(d["x"][d["y"] == c][:count]):
                Image.fromarray(image).save(folder / f"{i:04d}.png")
    (work / "model.py").write_text('''\
from torch import nn


def build():                      # 32x32 RGB photos, 4 classes
    net = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 4 * 4, 4))
    net.input_shape = (3, 32, 32)
    return net
''')
    return {"data": "CIFAR-10 airplane/automobile/frog/ship PNGs, 1,200 train / 400 test",
            "model": "CNN", "source": ["photos"], "train": ["--epochs", "12", "--batch-size", "32",
                                                            "--optimizer", "adam", "--lr", "0.002"],
            "recipe": {"epochs": 4, "lr": 0.0005}}


WORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")


def wav_case(work: Path) -> dict:
    for word in WORDS:            # linked, not copied: levin reads the shared clips themselves
        (work / "clips" / word).mkdir(parents=True)
        # Each clip linked, not the word's folder: levin finds a WAV folder by the files under
        # it (Path.rglob) and does not look inside linked subfolders, so it took them for images.
        for clip in sorted((DATA / "speech_commands_v0.01_subset" / word).glob("*.wav")):
            (work / "clips" / word / clip.name).symlink_to(clip)
    (work / "model.py").write_text('''\
from torch import nn


def build():                      # 40 log-mel bands x 63 frames (1 s), 10 words
    net = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 10 * 15, 10))
    net.input_shape = (1, 40, 63)
    return net
''')
    return {"data": "Speech Commands v0.01, 10 command words x 10 clips (real)",
            "model": "CNN", "source": ["clips"], "train": ["--epochs", "20", "--batch-size", "16",
                                                           "--optimizer", "adam", "--lr", "0.001"],
            "recipe": {"epochs": 6, "lr": 0.0003}}


def csv_case(work: Path) -> dict:
    x, y = accelerometer(per_class=400, seed=1)
    cols = window_features(x)
    names = list(cols)
    rows = np.stack([cols[n] for n in names], axis=1)
    lines = [",".join(names + ["activity"])]
    lines += [",".join(f"{v:.5g}" for v in r) + f",{ACTIVITIES[c]}" for r, c in zip(rows, y)]
    (work / "har.csv").write_text("\n".join(lines) + "\n")
    (work / "model.py").write_text(f'''\
from torch import nn


def build():                      # {len(names)} window features, 5 activities
    return nn.Sequential(nn.Linear({len(names)}, 64), nn.ReLU(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 5))
''')
    return {"data": f"HAR-like window features (synthetic), {len(y)} rows x {len(names)} columns, 5 activities",
            "model": "MLP", "source": ["har.csv", "--label-column", "activity"],
            "train": ["--epochs", "30", "--batch-size", "32", "--optimizer", "adam", "--lr", "0.003"],
            "recipe": {"epochs": 6, "lr": 0.001}}


def factory_case(work: Path) -> dict:
    (work / "data.py").write_text(f'''\
import gzip

import numpy as np
import torch
from torch.utils.data import Dataset

MNIST = "{DATA / 'mnist'}"


def idx(name):
    with gzip.open(f"{{MNIST}}/{{name}}", "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * dims).reshape(shape)


class Digits(Dataset):
    def __init__(self, images, labels, count):
        self.x = torch.from_numpy(idx(images)[:count].astype(np.float32) / 255).unsqueeze(1)
        self.y = torch.from_numpy(idx(labels)[:count].astype(np.int64))

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def make():                       # your own torch Datasets, your own split
    return {{"train": Digits("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", 2000),
            "test": Digits("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz", 500)}}
''')
    (work / "model.py").write_text('''\
from torch import nn


def build():                      # 1x28x28 digits, 10 classes
    net = nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(16 * 5 * 5, 10))
    net.input_shape = (1, 28, 28)
    return net
''')
    return {"data": "MNIST digits as torch Datasets, 2,000 train / 500 test (real)",
            "model": "CNN", "source": ["data.py:make"], "train": ["--epochs", "10", "--batch-size", "32",
                                                                  "--optimizer", "adam", "--lr", "0.002"],
            "recipe": {"epochs": 4, "lr": 0.0005}}


CASES: dict[str, tuple[str, Callable[[Path], dict]]] = {
    "npz": ("npz", npz_case),
    "anomaly": ("npz (--task anomaly)", anomaly_case),
    "images": ("image folder", images_case),
    "wav": ("WAV folder", wav_case),
    "csv": ("CSV", csv_case),
    "factory": ("factory", factory_case),
}


# --- running the CLI -----------------------------------------------------------------------------

def levin(args: list[str], cwd: Path) -> tuple[float, str]:
    """Run `levin ARGS` in `cwd` on one thread; the wall time and the `data:` line it printed."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run([str(LEVIN), *args], cwd=cwd, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"levin {shlex.join(args)} (in {cwd}) failed with status {done.returncode}:\n{done.stderr[-3000:]}")
    data_line = next((line for line in (done.stdout + done.stderr).splitlines() if line.startswith("data:")), "")
    return wall, data_line


def run_case(key: str, work: Path) -> dict:
    kind, prepare = CASES[key]
    folder = work / key
    if folder.exists():
        shutil.rmtree(folder)     # the scratch folder this script made: start from nothing
    folder.mkdir(parents=True)
    started = time.perf_counter()
    case = prepare(folder)
    (folder / "recipe.yaml").write_text(RECIPE.format(frequency=10, **case["recipe"]))
    prepare_s = time.perf_counter() - started
    data = ["--data", *case["source"]]
    train = ["train", "--model", "model.py:build", *data, *case["train"], "--threads", "1",
             "--out", "runs/base", "--json", "train.json"]
    compress = ["compress", "--model", "model.py:build", "--weights", "runs/base", *data,
                "--recipe", "recipe.yaml", "--out", "runs/small", "--no-report", "--threads", "1",
                "--json", "compress.json"]
    train_s, data_line = levin(train, folder)
    compress_s, _ = levin(compress, folder)
    t = json.loads((folder / "train.json").read_text())
    c = json.loads((folder / "compress.json").read_text())
    rt = c.get("runtime") or {}
    return {"kind": kind, "data": case["data"], "model": case["model"], "task": c["task"], "metric": c["metric"],
            "higher_is_better": c["higher_is_better"], "data_line": data_line, "split": c["split"],
            "commands": [shlex.join(["levin", *train]), shlex.join(["levin", *compress])],
            "recipe": (folder / "recipe.yaml").read_text(),
            "train_test_metric": t.get("test_accuracy", t.get("accuracy")),
            "baseline": c["baseline_accuracy"], "float_after_steps": c["float_accuracy"],
            "integer": c["integer_accuracy"], "lvn_bytes": c["lvn_bytes"], "float32_bytes": c["float32_bytes"],
            "density": c["steps"][-1]["density"] if c["steps"] else 1.0,
            "c_bit_exact": rt.get("bit_exact"), "c_samples": rt.get("samples"), "c_metric": rt.get("accuracy"),
            "flash_bytes": rt.get("flash_bytes"), "ram_bytes": rt.get("ram_bytes"),
            "prepare_s": prepare_s, "train_s": train_s, "compress_s": compress_s,
            "wall_s": time.perf_counter() - started}


def metric_text(r: dict, value: float) -> str:
    return f"{100 * value:.2f}%" if r["task"] == "classification" else f"{value:.4f}"


def render(rows: dict[str, dict]) -> str:
    out = []
    for r in rows.values():
        check = (f"{'yes' if r['c_bit_exact'] else 'NO'} ({r['c_samples']:,})" if r["c_samples"] else "not run")
        out.append([r["kind"], r["model"], r["metric"], f"{metric_text(r, r['baseline'])} -> {metric_text(r, r['integer'])}",
                    f"{r['lvn_bytes']:,}", f"{r['float32_bytes'] / r['lvn_bytes']:.1f}x", check, f"{r['wall_s']:.0f} s"])
    return table(["source", "model", "metric", "float -> .lvn (int8)", ".lvn bytes", "vs fp32",
                  "C bit-exact (test inputs)", "wall"], out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", type=Path, default=Path("/tmp/levin-own-data"),
                   help="scratch folder for the data, models and runs (default /tmp/levin-own-data)")
    p.add_argument("--only", choices=sorted(CASES), action="append", help="run these cases only (default: all)")
    args = p.parse_args(argv)
    if not LEVIN.exists():
        sys.exit(f"no {LEVIN}: run `make setup` first")
    if not DATA.exists():
        sys.exit(f"no {DATA}: the images, WAV and factory examples read the shared data there")
    started = time.perf_counter()
    rows = {}
    for key in args.only or list(CASES):
        rows[key] = run_case(key, args.work.resolve())
        print(f"{key}: {rows[key]['wall_s']:.0f} s", file=sys.stderr)
    saved = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    saved.update(rows)
    if not args.only:
        saved["wall_s"] = time.perf_counter() - started
    print(render({k: v for k, v in saved.items() if k in CASES}))
    write_json(saved, str(RESULTS))
    print(f"wrote {RESULTS} ({time.perf_counter() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
