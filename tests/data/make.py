"""Tiny synthetic data sources written into a test's tmp_path: one maker per source kind."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np


def npz(path: Path, n: int = 40, shape=(8, 8, 3), classes: int = 2, **extra) -> Path:
    rng = np.random.default_rng(0)
    np.savez(path, x=rng.random((n, *shape), dtype=np.float32), y=rng.integers(0, classes, n), **extra)
    return path


def image_folder(root: Path, classes=("cat", "dog"), per_class: int = 5, size=(10, 12), mode="RGB") -> Path:
    """root/<class>/<i>.png; class k's images are bright in channel k, so they are learnable."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 60, (size[1], size[0], 3), dtype=np.uint8)
            pixels[..., k % 3] += 180
            image = Image.fromarray(pixels, "RGB").convert(mode)
            image.save(root / name / f"{i}.png")
    return root


def wav_folder(root: Path, classes=("low", "high"), per_class: int = 4, rate: int = 16000,
               seconds: float = 0.25) -> Path:
    """root/<class>/<i>.wav: 16-bit mono tones, one pitch per class, of slightly different lengths."""
    for k, name in enumerate(classes):
        (root / name).mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            t = np.arange(int(rate * seconds) - 100 * i) / rate
            tone = (0.5 * np.sin(2 * np.pi * (300 + 2000 * k) * t) * 32767).astype("<i2")
            with wave.open(str(root / name / f"{i}.wav"), "wb") as f:
                f.setnchannels(1)
                f.setsampwidth(2)
                f.setframerate(rate)
                f.writeframes(tone.tobytes())
    return root


def csv_file(path: Path, n: int = 40, label: str = "activity") -> Path:
    rng = np.random.default_rng(0)
    names = ("walk", "run", "sit")
    lines = [f"ax,ay,az,{label}"]
    for i in range(n):
        k = i % 3
        ax, ay, az = rng.normal(size=3) + k
        lines.append(f"{ax:.4f},{ay:.4f},{az:.4f},{names[k]}")
    path.write_text("\n".join(lines) + "\n")
    return path


MODELS = '''
import numpy as np
import torch
from torch import nn


def features():                 # 3 inputs (a CSV's ax, ay, az), 3 classes
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 8), nn.ReLU(), nn.Linear(8, 3))


def rgb():                      # 3x8x8 images, 2 classes
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 2))
    net.input_shape = (3, 8, 8)
    return net


def audio():                    # 10 MFCCs x 12 frames, 2 classes
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 10 * 12, 2))
    net.input_shape = (1, 10, 12)
    return net


def arrays():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3)).astype(np.float32)
    return x, (x[:, 0] > 0).astype(np.int64)


def dataset():
    x, y = arrays()
    return torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y))


def split():
    x, y = arrays()
    return {"train": (x[:40], y[:40]), "test": (x[40:], y[40:])}


def broken():
    values = [1, 2]
    return values[5]            # an IndexError in the user's own code


def wrong_type():
    return "not data"
'''


def models_file(path: Path) -> Path:
    path.write_text(MODELS)
    return path
