"""Calibration observers: the real range [lo, hi] an int8 activation tensor is quantized over.

Read me first. Calibration runs the float model over the calibration set twice: the first pass
records each tensor's min and max (`RangeStats.update`), the second a histogram of its values
over exactly that range (`RangeStats.update_histogram`, only for observers that need one).
From those, an observer picks the range:
- "minmax": [min, max], nothing clipped (TFLite's converter default);
- "percentile": the values at the (100 - p)-th and p-th percentiles, so rare outliers are
  clipped and the rest get a finer step;
- "mse": the range whose quantization grid minimises the expected squared error, clipping error
  of the values outside plus step^2 / 12 rounding noise for those inside (the usual uniform
  approximation; bins are finer than any step it considers).
The range then goes through `intmath.choose_qparams`, which widens it to contain 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from levin.intmath import choose_qparams

QMIN, QMAX = -128, 127
_SHRINK = np.linspace(0.05, 1.0, 96)


@dataclass
class RangeStats:
    """Running min/max, then a histogram over [min, max], of one tensor's values."""

    lo: float = np.inf
    hi: float = -np.inf
    counts: np.ndarray | None = None
    count: int = field(default=0)

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x)
        if x.size:
            self.lo = min(self.lo, float(x.min()))
            self.hi = max(self.hi, float(x.max()))
            self.count += x.size

    def update_histogram(self, x: np.ndarray, bins: int) -> None:
        if self.counts is None:
            self.counts = np.zeros(bins, dtype=np.float64)
        if self.hi > self.lo:
            h, _ = np.histogram(np.asarray(x, dtype=np.float64), bins=bins, range=(self.lo, self.hi))
            self.counts += h

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.lo, self.hi, len(self.counts) + 1)


def needs_histogram(method: str) -> bool:
    return method in ("percentile", "mse")


def minmax_range(stats: RangeStats) -> tuple[float, float]:
    if not np.isfinite(stats.lo):
        raise ValueError("observer saw no values")
    return stats.lo, stats.hi


def percentile_range(stats: RangeStats, percentile: float) -> tuple[float, float]:
    """[lo, hi] at the (100-p)-th and p-th percentiles of the histogram (bin edges, rounded
    outwards so that at least p% of the values lie inside)."""
    lo, hi = minmax_range(stats)
    if stats.counts is None or hi <= lo or stats.counts.sum() == 0:
        return lo, hi
    cdf = np.cumsum(stats.counts) / stats.counts.sum()
    tail = 1.0 - percentile / 100.0
    edges = stats.edges
    upper = edges[min(int(np.searchsorted(cdf, 1.0 - tail, side="left")) + 1, len(edges) - 1)]
    lower = edges[int(np.searchsorted(cdf, tail, side="right"))]
    return float(min(lower, 0.0) if lo < 0 else lo), float(upper)


def expected_error(stats: RangeStats, lo: float, hi: float) -> float:
    """Expected squared error of quantizing the histogram's values on the int8 grid that
    `choose_qparams(lo, hi)` gives: clipping error outside the grid, step^2/12 inside."""
    scale, zp = choose_qparams(lo, hi)
    grid_lo, grid_hi = (QMIN - zp) * scale, (QMAX - zp) * scale
    edges = stats.edges
    centers = (edges[:-1] + edges[1:]) / 2
    clipped = np.clip(centers, grid_lo, grid_hi)
    per_bin = np.where(centers == clipped, scale * scale / 12.0, (centers - clipped) ** 2)
    return float((stats.counts * per_bin).sum())


def mse_range(stats: RangeStats) -> tuple[float, float]:
    """The [lo, hi] (each end shrunk towards 0 by the same or by separate factors) with the least
    `expected_error`. A one-sided range (lo >= 0, e.g. after ReLU) only searches hi."""
    lo, hi = minmax_range(stats)
    if stats.counts is None or hi <= lo or stats.counts.sum() == 0:
        return lo, hi
    los = [lo] if lo >= 0 else list(lo * _SHRINK[::3]) + [lo]
    his = [hi] if hi <= 0 else list(hi * _SHRINK[::3]) + [hi]
    best = min(((expected_error(stats, a, b), a, b) for a in los for b in his), key=lambda t: t[0])
    _, a, b = best            # refine each end on the fine grid, the other fixed
    if lo < 0:
        a = min((expected_error(stats, lo * r, b), lo * r) for r in _SHRINK)[1]
    if hi > 0:
        b = min((expected_error(stats, a, hi * r), hi * r) for r in _SHRINK)[1]
    return float(a), float(b)


def observe_range(stats: RangeStats, method: str, percentile: float = 99.99) -> tuple[float, float]:
    """The range `method` ("minmax" | "percentile" | "mse") picks from the statistics."""
    if method == "minmax":
        return minmax_range(stats)
    if method == "percentile":
        return percentile_range(stats, percentile)
    if method == "mse":
        return mse_range(stats)
    raise ValueError(f"observer {method!r} is not one of minmax, percentile, mse")
