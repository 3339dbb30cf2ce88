import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

from levin.quant import lowbit


def test_qmax_is_narrow_range():
    assert [lowbit.qmax(b) for b in range(2, 9)] == [1, 3, 7, 15, 31, 63, 127]
    with pytest.raises(ValueError):
        lowbit.qmax(9)


@settings(derandomize=True, max_examples=60, deadline=None)
@given(hnp.arrays(np.float32, (4, 3, 2), elements=st.floats(-10, 10, width=32)),
       st.integers(2, 8), st.booleans())
def test_quantization_error_is_at_most_half_a_step(w, bits, per_channel):
    s = lowbit.weight_scales(w, bits, per_channel=per_channel)
    q = lowbit.quantize_weights(w, s, bits)
    assert q.dtype == np.int8 and np.abs(q).max() <= lowbit.qmax(bits)
    step = s.reshape(-1, 1, 1) if per_channel else s
    assert np.all(np.abs(q * step.astype(np.float64) - w) <= step / 2 * (1 + 1e-6) + 1e-30)


def test_all_zero_channel_gets_scale_one():
    w = np.zeros((2, 3), np.float32)
    w[1] = [1, -2, 0.5]
    s = lowbit.weight_scales(w, 4)
    assert s[0] == 1.0 and s[1] == pytest.approx(2 / 7)


def test_mse_scales_clip_outliers_and_lower_the_error():
    rng = np.random.default_rng(0)
    w = rng.standard_t(3, (8, 200)).astype(np.float32)
    errs = {}
    for method in ("minmax", "mse"):
        s = lowbit.weight_scales(w, 3, method=method)
        errs[method] = ((lowbit.quantize_weights(w, s, 3) * s[:, None] - w) ** 2).sum()
    assert errs["mse"] < errs["minmax"]


def test_bias_codes_and_scales():
    q, s = lowbit.quantize_bias(np.array([1.0, -0.3]), 0.5, np.array([0.25, 0.1], np.float32))
    np.testing.assert_array_equal(s, np.float32([0.125, 0.05]))
    assert q.dtype == np.int32 and q.tolist() == [8, -6]


@pytest.mark.parametrize("bits", range(2, 9))
def test_pack_round_trip_and_size(bits):
    rng = np.random.default_rng(bits)
    q = rng.integers(-lowbit.qmax(bits), lowbit.qmax(bits) + 1, 101).astype(np.int8)
    data = lowbit.pack(q, bits)
    assert len(data) == lowbit.packed_nbytes(101, bits) == (101 * bits + 7) // 8
    np.testing.assert_array_equal(lowbit.unpack(data, 101, bits), q)
