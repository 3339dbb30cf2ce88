import numpy as np
import pytest

from levin.quant import observers as ob
from levin.intmath import choose_qparams


def _stats(x, bins=2048):
    s = ob.RangeStats()
    for chunk in np.array_split(x, 4):
        s.update(chunk)
    for chunk in np.array_split(x, 4):
        s.update_histogram(chunk, bins)
    return s


def test_minmax_is_the_observed_range():
    x = np.random.default_rng(0).normal(size=10000)
    assert ob.observe_range(_stats(x), "minmax") == (x.min(), x.max())


def test_percentile_clips_outliers_but_keeps_the_bulk():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.uniform(0, 1, 100000), [50.0]])
    lo, hi = ob.observe_range(_stats(x), "percentile", 99.9)
    assert 0 <= lo < 1e-3 and 0.99 <= hi <= 1.1
    lo, hi = ob.observe_range(_stats(-x), "percentile", 99.9)
    assert -1.1 <= lo <= -0.99 and hi <= 0


def test_mse_lowers_the_error_and_keeps_a_tight_range():
    rng = np.random.default_rng(2)

    def err(x, lo, hi):
        scale, zp = choose_qparams(lo, hi)
        q = np.clip(np.round(x / scale) + zp, -128, 127)
        return np.mean((x - (q - zp) * scale) ** 2)

    for x in (rng.standard_t(5, 50000), rng.laplace(size=50000)):
        lo, hi = ob.observe_range(_stats(x), "mse")
        assert x.min() < lo < 0 < hi < x.max()
        assert err(x, lo, hi) < 0.95 * err(x, x.min(), x.max())
    u = rng.uniform(-1, 1, 50000)                 # nothing to clip: stay close to the full range
    lo, hi = ob.observe_range(_stats(u), "mse")
    assert lo < -0.9 and hi > 0.9


def test_one_sided_ranges_stay_one_sided():
    x = np.abs(np.random.default_rng(3).normal(size=5000))
    for method in ("minmax", "percentile", "mse"):
        lo, hi = ob.observe_range(_stats(x), method)
        assert lo >= 0 and hi > 0


def test_constant_and_empty_inputs():
    s = _stats(np.full(100, 2.0))
    assert ob.observe_range(s, "mse") == (2.0, 2.0)
    with pytest.raises(ValueError):
        ob.observe_range(ob.RangeStats(), "minmax")
    with pytest.raises(ValueError, match="not one of"):
        ob.observe_range(s, "kl")
