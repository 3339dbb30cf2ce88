"""Synthetic machine-sound log-mel frames, for anomaly detection where the real data is absent.

MLPerf Tiny's anomaly benchmark (ToyADMOS / DCASE 2020 task 2) is not available here, so the
tests and `benchmarks/anomaly.py` use frames shaped like its model's input: `frames` consecutive
log-mel frames of `mels` bands (ad01: 5 x 128 = 640 values), in dB-like units. A normal machine is
a stationary hum: a few harmonics of a base frequency (varying slightly per clip) over pink-ish
noise. An anomalous one adds what a failing machine adds: a harmonic shifted off the series, a
broadband rattle, or a missing harmonic. The numbers a model scores on them say how quantization
changes its outputs; they are not ToyADMOS AUCs.
"""

from __future__ import annotations

import numpy as np

from levin.train.data import Dataset


def machine_frames(n: int, anomalous: bool, rng: np.random.Generator, mels: int = 128,
                   frames: int = 5) -> np.ndarray:
    """(n, frames * mels) float32 log-mel frames of a normal or anomalous machine."""
    bands = np.arange(mels, dtype=np.float64)
    out = np.empty((n, frames, mels), np.float64)
    for i in range(n):
        base = rng.uniform(6.0, 9.0)
        level = -60.0 + 10.0 * np.log10(1.0 + 30.0 / (1.0 + bands))        # pink-ish floor
        spectrum = level.copy()
        harmonics = base * np.arange(1, 8)
        kind = rng.integers(3) if anomalous else -1
        if kind == 2:                                                     # a harmonic missing
            harmonics = np.delete(harmonics, rng.integers(1, len(harmonics)))
        for h in harmonics:
            spectrum += 25.0 * np.exp(-0.5 * ((bands - h) / 1.2) ** 2)
        if kind == 0:                                                     # an off-series tone
            spectrum += 20.0 * np.exp(-0.5 * ((bands - base * rng.uniform(2.3, 4.7)) / 1.5) ** 2)
        for f in range(frames):
            frame = spectrum + rng.normal(0.0, 2.0, mels)
            if kind == 1 and rng.random() < 0.6:                          # a broadband rattle
                frame += rng.uniform(8.0, 15.0) * np.exp(-bands / rng.uniform(40.0, 90.0))
            out[i, f] = frame
    return out.reshape(n, frames * mels).astype(np.float32)


def machine_sounds(train: int = 400, test_normal: int = 100, test_anomalous: int = 100,
                   seed: int = 0, mels: int = 128, frames: int = 5) -> Dataset:
    """Training frames of normal machines only (labels 0), as anomaly detection trains; test
    frames of both (0 normal, 1 anomalous)."""
    rng = np.random.default_rng(seed)
    x_train = machine_frames(train, False, rng, mels, frames)
    x_test = np.concatenate([machine_frames(test_normal, False, rng, mels, frames),
                             machine_frames(test_anomalous, True, rng, mels, frames)])
    y_test = np.r_[np.zeros(test_normal, np.int64), np.ones(test_anomalous, np.int64)]
    return Dataset("synthetic machine sounds", x_train, np.zeros(train, np.int64), x_test, y_test,
                   ("normal", "anomalous"),
                   split={"source": f"levin.data.synthetic seed {seed}", "test_from": "given"})
