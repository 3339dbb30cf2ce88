"""TFLite fixed-point arithmetic: hand-computed cases, TFLite's edge cases, and properties checked
against a slow big-int reimplementation (bigint_ref) written from the C definitions."""

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin import intmath as im
from tests.quant import bigint_ref as ref

I32_MIN, I32_MAX = ref.I32_MIN, ref.I32_MAX
EDGES = [I32_MIN, I32_MIN + 1, -(2**30), -2, -1, 0, 1, 2, 2**30, I32_MAX - 1, I32_MAX]
i32 = st.one_of(st.sampled_from(EDGES), st.integers(I32_MIN, I32_MAX))
SETTINGS = settings(derandomize=True, max_examples=150, deadline=None)


def test_saturating_rounding_doubling_high_mul_cases():
    f = im.saturating_rounding_doubling_high_mul
    assert f(I32_MIN, I32_MIN) == I32_MAX  # the one overflow, saturated
    assert f(I32_MIN, I32_MAX) == -(2**31) + 1
    assert f(I32_MAX, I32_MAX) == 2**31 - 2
    assert f(101, 2**30) == 51 and f(-101, 2**30) == -50  # +-50.5: ties round up, not away
    assert f(100, 2**30) == 50 and f(-99, 2**30) == -49  # -49.5 -> -49
    np.testing.assert_array_equal(f(np.array([3, -3, 0]), 2**30), [2, -1, 0])
    assert f(np.int32(7), np.int32(2**30)).dtype == np.int32


def test_rounding_divide_by_pot_cases():
    f = im.rounding_divide_by_pot
    got = f(np.array([5, -5, 3, -3, 4, 7, -6, -7, 6]), np.array([1, 1, 1, 1, 1, 2, 2, 2, 2]))
    np.testing.assert_array_equal(got, [3, -3, 2, -2, 2, 2, -2, -2, 2])  # ties away from zero
    assert f(I32_MIN, 31) == -1 and f(2**30, 31) == 1 and f(-(2**30), 31) == -1
    assert f(2**30 - 1, 31) == 0 and f(I32_MAX, 31) == 1 and f(-12345, 0) == -12345
    with pytest.raises(ValueError):
        f(1, 32)
    with pytest.raises(ValueError):
        f(1, -1)


def test_quantize_multiplier_cases():
    f = im.quantize_multiplier
    assert f(0.5) == (2**30, 0) and f(0.25) == (2**30, -1) and f(1.0) == (2**30, 1)
    assert f(0.75) == (3 * 2**29, 0) and f(0.0) == (0, 0) and f(-0.5) == (-(2**30), 0)
    assert f(1 - 2.0**-40) == (2**30, 1)  # mantissa rounds up to 2**31: halved, shift + 1
    assert f(2.0**-32) == (2**30, -31)  # the smallest shift kept
    assert f(2.0**-33) == (0, 0) and f(1e-12) == (0, 0)  # shift < -31 flushes to zero
    assert f(2.0**31) == (2**30, 32) and f(2.0**31, single_round=True) == (I32_MAX, 30)
    assert im.quantize_multiplier_smaller_than_one(0.3)[1] <= 0
    assert im.quantize_multiplier_greater_than_one(3.0) == (3 * 2**29, 2)
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError):
            f(bad)
    with pytest.raises(ValueError):
        im.quantize_multiplier_smaller_than_one(1.5)
    m, s = im.quantize_multipliers(np.array([[0.5, 0.25]]))
    assert m.dtype == s.dtype == np.int32 and m.tolist() == [[2**30, 2**30]] and s.tolist() == [[0, -1]]


def test_multiply_by_quantized_multiplier_cases():
    f = im.multiply_by_quantized_multiplier
    # 5 * 0.25 = 1.25: classic rounds twice (2.5 -> 3, 1.5 -> 2), single rounding gives 1
    assert f(5, 2**30, -1) == 2 and f(5, 2**30, -1, single_round=True) == 1
    assert f(-5, 2**30, -1) == -1 and f(-5, 2**30, -1, single_round=True) == -1
    assert f(1, 2**30, 30) == 2**29 and f(1, 2**30, 30, single_round=True) == 2**29
    assert f(2, 2**30, 30) == -(2**30)  # x * 2**30 wraps to INT32_MIN in int32, as the C does
    # 0.4999999998 rounds to 2**30 - 0.5 -> 2**30 in the high multiply, then 0.5 -> 1
    assert f(I32_MAX, 2**30, -31) == 1 and f(I32_MAX, 2**30, -31, single_round=True) == 0
    assert f(I32_MIN, I32_MAX, -31) == -1
    assert f(1000, *im.quantize_multiplier(0.01)) == 10
    with pytest.raises(ValueError):
        f(1, 2**30, 31)
    with pytest.raises(ValueError):
        f(1, 2**30, -32)
    with pytest.raises(TypeError):
        f(1.5, 2**30, 0)
    with pytest.raises(ValueError):
        f(2**31, 2**30, 0)


def test_requantize_per_tensor_and_per_channel():
    m, s = im.quantize_multiplier(0.01)
    out = im.requantize(np.array([1000, -1000, 0, 10**6]), m, s, -5)
    assert out.dtype == np.int8 and out.tolist() == [5, -15, -5, 127]
    ms, ss = im.quantize_multipliers([0.5, 0.25, 2.0])
    acc = np.array([[10, 10, 10], [-3, -3, -3]], dtype=np.int32)
    assert im.requantize(acc, ms, ss, 0, axis=1).tolist() == [[5, 3, 20], [-1, -1, -6]]
    assert im.requantize(acc.T, ms, ss, 0, axis=0).T.tolist() == [[5, 3, 20], [-1, -1, -6]]
    assert im.requantize(acc, ms, ss, 0, act_min=0, act_max=4, axis=1).tolist() == [[4, 3, 4], [0, 0, 0]]
    with pytest.raises(ValueError):
        im.requantize(acc, ms, ss, 0, act_min=-200)
    with pytest.raises(ValueError):
        im.requantize(acc, ms[:2], ss[:2], 0, axis=1)


def test_activation_range():
    assert im.activation_range("NONE", 0.05, -10) == (-128, 127)
    assert im.activation_range("NONE", 1e-30, 0) == (-128, 127)  # no bound is quantized
    with pytest.raises(ValueError, match="overflows int32"):
        im.activation_range("RELU6", 1e-30, 0)
    assert im.activation_range("RELU", 0.05, -10) == (-10, 127)
    assert im.activation_range("RELU6", 0.05, -10) == (-10, 110)
    assert im.activation_range("RELU_N1_TO_1", 0.05, -10) == (-30, 10)
    assert im.activation_range("RELU6", 12.0, 0) == (0, 1)  # 6/12 = 0.5 rounds away from zero
    assert im.activation_range("RELU_N1_TO_1", 2.0, 0) == (-1, 1)  # -0.5 -> -1
    assert im.activation_range("RELU6", 0.001, 100) == (100, 127)
    # float32(2.4) = 2.4000000954: 6 / scale is 2.4999999 in double but exactly 2.5 in float32,
    # TFLite's precision here, which rounds to 3
    assert im.activation_range("RELU6", float(np.float32(2.4)), 0) == (0, 3)
    with pytest.raises(ValueError, match="supported: NONE"):
        im.activation_range("TANH", 0.1, 0)


def test_quantize_dequantize_cases():
    q = im.quantize([0.5, 1.5, 2.5, -0.5, -2.5, 1000.0, -1000.0, 0.0], 1.0, 0)
    assert q.dtype == np.int8 and q.tolist() == [1, 2, 3, -1, -3, 127, -128, 0]
    assert im.quantize([-1000.0], 1.0, 0, narrow_range=True).tolist() == [-127]
    assert im.quantize([0.0, 0.1], 0.1, 3).tolist() == [3, 4]
    assert im.quantize([6.0], float(np.float32(2.4)), 0).tolist() == [3]  # float32 division: 2.5
    w = np.array([[1.0, -2.0], [0.5, 0.25]], dtype=np.float32)
    qw = im.quantize(w, [0.5, 0.25], 0, axis=0)
    assert qw.tolist() == [[2, -4], [2, 1]]
    np.testing.assert_array_equal(im.dequantize(qw, [0.5, 0.25], 0, axis=0), w)
    d = im.dequantize(np.array([-128, 0, 127], dtype=np.int8), 0.5, -1)
    assert d.dtype == np.float32 and d.tolist() == [-63.5, 0.5, 64.0]
    with pytest.raises(ValueError):
        im.quantize([np.nan], 1.0, 0)
    # infinities saturate (a Pad value of inf once came out as an arbitrary code, from NaN)
    assert im.quantize([np.inf, -np.inf, 1e30], 1e-30, 0).tolist() == [127, -128, 127]
    assert im.round_half_away(np.float32(np.inf)) == np.inf and im.round_half_away(-2.5) == -3.0
    with pytest.raises(ValueError):
        im.quantize([[1.0, 2.0]], [1.0, 2.0], 0)  # per-channel without axis


def test_choose_qparams_cases():
    assert im.choose_qparams(-1.0, 1.0) == (float(np.float32(2 / 255)), -1)
    assert im.choose_qparams(0.0, 6.0) == (float(np.float32(6 / 255)), -128)
    assert im.choose_qparams(-6.0, 0.0) == (float(np.float32(6 / 255)), 127)
    assert im.choose_qparams(2.0, 5.0) == im.choose_qparams(0.0, 5.0)  # widened to include 0
    assert im.choose_qparams(0.0, 0.0) == (1.0, -128)
    # the zero point is -0.5 up to one ulp either way; the end with the smaller error decides
    assert im.choose_qparams(-0.7, 0.7) == (float(np.float32(1.4 / 255)), -1)
    assert im.choose_qparams(-1.1, 1.1) == (float(np.float32(2.2 / 255)), 0)
    assert im.choose_qparams(-1.0, 1.0, narrow_range=True) == (float(np.float32(2 / 254)), 0)
    np.testing.assert_array_equal(im.symmetric_scales([0.0, 1.27, -127.0]),
                                  np.float32([1.0, 1.27 / 127, 1.0]))


def test_effective_scale():
    a, b, c = 0.1, 0.3, 0.7
    f32 = np.float32
    assert im.effective_scale(a, b, c) == float(f32(a)) * float(f32(b)) / float(f32(c))
    assert im.effective_scale(a, b, c, float_product=True) == float(f32(a) * f32(b)) / float(f32(c))
    assert im.effective_scale(a, [b, b], c).shape == (2,)


def test_add_and_average_pool_cases():
    p = im.add_params(0.1, 0, 0.1, 0, 0.1, 0)
    assert p.left_shift == 20 and p.input1_shift <= 0 and p.output_shift <= 0
    assert im.add_quantized([10, 100, -100, -3], [20, 100, -100, 2], p).tolist() == [30, 127, -128, -1]
    p = im.add_params(0.5, 10, 0.25, -4, 0.5, 1, "RELU")
    # real values 0.5*(12-10) + 0.25*(0+4) = 2.0 -> 2/0.5 + 1 = 5; negative sums clamp to zp 1
    assert im.add_quantized([12, -20], [0, -4], p).tolist() == [5, 1]
    f = im.average_pool_divide
    got = f(np.array([5, -5, 7, -7, 8, -8, 0, 2, -2]), np.array([2, 2, 3, 3, 3, 3, 4, 4, 4]))
    np.testing.assert_array_equal(got, [3, -3, 2, -2, 3, -3, 0, 1, -1])
    with pytest.raises(ValueError):
        f(1, 0)
    with pytest.raises(ValueError, match=r"\(0, 1\)"):
        im.add_params(1.0, 0, 1.0, 0, 1e-9, 0)  # output multiplier would exceed 1


# --- properties against the big-int reference --------------------------------------------------


@SETTINGS
@given(st.lists(st.tuples(i32, i32), min_size=1, max_size=64))
def test_srdhm_matches_reference(pairs):
    a, b = np.array(pairs, dtype=np.int64).T
    got = im.saturating_rounding_doubling_high_mul(a, b)
    assert got.tolist() == [ref.srdhm(int(x), int(y)) for x, y in pairs]
    for (x, y), g in zip(pairs, got.tolist()):  # the meaning: round(a*b/2**31), ties up
        if not x == y == I32_MIN:
            assert g == (Fraction(x * y, 2**31) + Fraction(1, 2)).__floor__()


@SETTINGS
@given(st.lists(st.tuples(i32, st.integers(0, 31)), min_size=1, max_size=64))
def test_rounding_divide_by_pot_matches_reference(pairs):
    x, e = np.array(pairs, dtype=np.int64).T
    got = im.rounding_divide_by_pot(x, e).tolist()
    assert got == [ref.rdbpot(int(v), int(k)) for v, k in pairs]
    assert got == [ref.tflite_round(Fraction(int(v), 2 ** int(k))) for v, k in pairs]


@SETTINGS
@given(st.lists(st.tuples(i32, st.integers(0, I32_MAX), st.integers(-31, 30)), min_size=1, max_size=64))
def test_multiply_by_quantized_multiplier_matches_reference(triples):
    x, m, s = np.array(triples, dtype=np.int64).T
    got = im.multiply_by_quantized_multiplier(x, m, s).tolist()
    assert got == [ref.mbqm(int(a), int(b), int(c)) for a, b, c in triples]
    got = im.multiply_by_quantized_multiplier(x, m, s, single_round=True).tolist()
    assert got == [ref.mbqm_single(int(a), int(b), int(c)) for a, b, c in triples]


@SETTINGS
@given(st.one_of(st.floats(1e-12, 1e12), st.floats(-1e3, -1e-12), st.sampled_from([2.0**-31, 0.5, 1.0])))
def test_quantize_multiplier_matches_reference(real):
    for single in (False, True):
        assert im.quantize_multiplier(real, single_round=single) == ref.quantize_multiplier(real, single)
    m, s = im.quantize_multiplier(real)
    if m:  # |m * 2**(s-31) - real| <= half a unit in the last place of the Q0.31 mantissa
        assert abs(Fraction(m) * Fraction(2) ** (s - 31) - Fraction(real)) <= Fraction(2) ** (s - 32)
        assert 2**30 <= abs(m) <= 2**31 - 1 or m == -(2**31)


@SETTINGS
@given(st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_requantize_per_channel_matches_reference(channels, seed):
    rng = np.random.default_rng(seed)
    acc = rng.integers(-(2**24), 2**24, size=(5, channels))
    reals = rng.uniform(1e-5, 2.0, channels)
    ms, ss = im.quantize_multipliers(reals)
    zp = int(rng.integers(-128, 128))
    lo, hi = im.activation_range("RELU6", float(rng.uniform(0.01, 0.1)), zp)
    got = im.requantize(acc, ms, ss, zp, lo, hi, axis=1)
    want = [[min(hi, max(lo, ref.mbqm(int(a), int(ms[c]), int(ss[c])) + zp)) for c, a in enumerate(row)]
            for row in acc]
    assert got.tolist() == want


@SETTINGS
@given(st.floats(1e-4, 1.0), st.floats(1e-4, 1.0), st.floats(1e-4, 1.0), st.integers(-128, 127),
       st.integers(-128, 127), st.integers(-128, 127), st.sampled_from(im.ACTIVATIONS))
def test_add_matches_reference_and_float(s1, s2, so, z1, z2, zo, act):
    if 2 * max(s1, s2) / (2**20 * so) >= 1:
        return
    p = im.add_params(s1, z1, s2, z2, so, zo, act)
    assert (p.act_min, p.act_max) == ref.activation_range(act, so, zo)
    assert (p.input1_multiplier, p.input1_shift, p.input2_multiplier, p.input2_shift, p.output_multiplier,
            p.output_shift) == ref.add_params(s1, s2, so)
    x1, x2 = np.meshgrid(np.arange(-128, 128, 7), np.arange(-128, 128, 11))
    got = im.add_quantized(x1, x2, p)
    want = [[ref.add_int8(int(a), int(b), p) for a, b in zip(r1, r2)] for r1, r2 in zip(x1, x2)]
    assert got.tolist() == want
    real = np.float32(s1) * (x1 - z1) + np.float32(s2) * (x2 - z2)
    ideal = np.clip(np.round(real / np.float32(so)) + zo, p.act_min, p.act_max)
    assert np.abs(got - ideal).max() <= 1


@SETTINGS
@given(st.lists(st.tuples(st.integers(-(2**24), 2**24), st.integers(1, 10_000)), min_size=1, max_size=64))
def test_average_pool_divide_matches_reference(pairs):
    t, c = np.array(pairs, dtype=np.int64).T
    assert im.average_pool_divide(t, c).tolist() == [ref.average_pool_divide(int(a), int(b)) for a, b in pairs]


@SETTINGS
@given(st.lists(st.floats(-1e3, 1e3, width=32), min_size=1, max_size=32), st.floats(1e-3, 10.0),
       st.integers(-128, 127))
def test_quantize_matches_reference_and_round_trips(xs, scale, zp):
    q = im.quantize(xs, scale, zp)
    assert q.tolist() == [ref.quantize(x, scale, zp) for x in xs]
    back = im.dequantize(q, scale, zp)
    s = float(np.float32(scale))
    inside = (np.float32(xs) >= s * (-128 - zp)) & (np.float32(xs) <= s * (127 - zp))
    assert np.all(np.abs(back - np.float32(xs))[inside] <= s / 2 * (1 + 1e-5))


@SETTINGS
@given(st.floats(-1e4, 1e4), st.floats(-1e4, 1e4), st.booleans())
def test_choose_qparams_represents_zero_exactly(a, b, narrow):
    scale, zp = im.choose_qparams(min(a, b), max(a, b), narrow_range=narrow)
    assert (scale, zp) == ref.choose_qparams(min(a, b), max(a, b), -128 + narrow)
    assert -128 + narrow <= zp <= 127 and scale > 0
    assert im.quantize([0.0], scale, zp, narrow_range=narrow).tolist() == [zp]
    assert im.dequantize([zp], scale, zp).tolist() == [0.0]
