"""int8 softmax and gemmlowp's fixed-point exp / reciprocal, against the big-int reference, float
math, and TFLite Micro's softmax test goldens."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from levin.ops import softmax as sm
from tests.quant import bigint_ref as ref

SETTINGS = settings(derandomize=True, max_examples=80, deadline=None)

# TFLite Micro kernels/softmax_test.cc: 1-D and 2-D data, input scale 0.1, zero point 0
TFLM_INPUT = [[1.0, 2.0, 3.0, 4.0, 5.0], [-1.0, -2.0, -3.0, -4.0, -5.0]]
TFLM_GOLDEN = [[0.011656231, 0.031684921, 0.086128544, 0.234121657, 0.636408647],
               [0.636408647, 0.234121657, 0.086128544, 0.031684921, 0.011656231]]


def test_params_hand_computed():
    p = sm.softmax_params(0.1)
    # float32(0.1) * 2**26 = 6710886.5; frexp -> shift 23, mantissa * 2**31 rounded
    assert p == sm.SoftmaxParams(1717986944, 23, -248)  # diff_min = -floor(31 * 2**26 / 2**23)
    assert sm.calculate_input_radius(5, 23) == 248 and sm.calculate_input_radius(5, 0) == 31 * 2**26
    assert sm.preprocess_softmax_scaling(1.0, 1000.0, 5) == (2**31 - 1, 31)  # capped
    assert sm.softmax_params(1000.0).diff_min == 0
    with pytest.raises(ValueError):
        sm.softmax_params(1e-9)


def test_tflm_golden_and_frozen_output():
    x = np.round(np.array(TFLM_INPUT) / 0.1).astype(np.int8)
    out = sm.softmax_quantized(x, sm.softmax_params(0.1))
    assert out.dtype == np.int8
    golden = np.round(np.array(TFLM_GOLDEN) * 256) - 128
    assert np.abs(out - golden).max() <= 1  # TFLite Micro's own tolerance
    assert out.tolist() == [[-125, -120, -106, -68, 35], [35, -68, -106, -120, -125]]  # frozen
    out16 = sm.softmax_quantized(x, sm.softmax_params(0.1), out_dtype=np.int16)
    assert np.abs(out16 - (np.array(TFLM_GOLDEN) * 65536 - 32768)).max() <= 2
    assert sm.softmax_quantized(x.T, sm.softmax_params(0.1), axis=0).T.tolist() == out.tolist()


def test_edge_rows():
    p = sm.softmax_params(0.1)
    assert sm.softmax_quantized(np.full((1, 4), 7), p).tolist() == [[-64] * 4]  # 1/4 each
    assert sm.softmax_quantized(np.array([[127, -128]]), p).tolist() == [[127, -128]]  # cut by diff_min
    assert sm.softmax_quantized(np.array([[5]]), p).tolist() == [[127]]  # 1.0 saturates to 255/256
    assert sm.softmax_quantized(np.zeros((2, 0), dtype=np.int8), p).shape == (2, 0)
    with pytest.raises(ValueError):
        sm.softmax_quantized(np.array([[300]]), p)
    # 512 elements at the row max push TFLite's output exponent to 32, which its kernel rejects
    assert sm.softmax_quantized(np.zeros((1, 511), np.int8), p).tolist() == [[-127] * 511]  # 256/511 rounds to 1
    with pytest.raises(ValueError, match="exponent check"):
        sm.softmax_quantized(np.zeros((1, 512), np.int8), p)
    out16 = sm.softmax_quantized(np.zeros((1, 600), np.int8), p, out_dtype=np.int16)
    assert np.abs(out16.astype(int) + 32768 - 65536 / 600).max() <= 1


a_q526 = st.one_of(st.sampled_from([0, -1, -(2**24), -(2**24) - 1, -(2**31), -(2**26)]),
                   st.integers(-(2**31), 0))


@SETTINGS
@given(st.lists(a_q526, min_size=1, max_size=64), st.sampled_from([0, 1, 2, 5, 6, 12, 20]))
def test_exp_on_negative_values_matches_reference_and_exp(values, bits):
    got = sm.exp_on_negative_values(np.array(values), bits).tolist()
    assert got == [ref.exp_on_negative_values(v, bits) for v in values]
    for v, g in zip(values, got):
        assert abs(g / 2**31 - math.exp(v / 2 ** (31 - bits))) < 3e-7


@pytest.mark.parametrize("bits", [0, 1, 5, 6, 12])
def test_exp_on_negative_values_uniform_sample(bits):
    # hypothesis favours small magnitudes; this covers every barrel-shifter bit evenly
    values = -np.random.default_rng(bits).integers(0, 2**31, 3000)
    got = sm.exp_on_negative_values(values, bits).tolist()
    assert got == [ref.exp_on_negative_values(int(v), bits) for v in values]


@SETTINGS
@given(st.lists(st.tuples(st.integers(-(2**31), 2**31 - 1), st.integers(-(2**31), 2**31 - 1)),
                min_size=1, max_size=64))
def test_rounding_half_sum_matches_reference(pairs):
    a, b = np.array(pairs, dtype=np.int64).T
    got = sm.rounding_half_sum(a, b).tolist()
    assert got == [ref.rounding_half_sum(int(x), int(y)) for x, y in pairs]


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from([0, 1, 2**31 - 1, 2**30]), st.integers(0, 2**31 - 1)),
                min_size=1, max_size=64))
def test_one_over_one_plus_x_matches_reference_and_float(values):
    got = sm.one_over_one_plus_x_for_x_in_0_1(np.array(values)).tolist()
    assert got == [ref.one_over_one_plus_x(v) for v in values]
    for v, g in zip(values, got):
        assert abs(g / 2**31 - 1 / (1 + v / 2**31)) < 1e-8


@SETTINGS
@given(st.lists(st.integers(1, 2**31 - 1), min_size=1, max_size=64), st.integers(0, 20))
def test_get_reciprocal_matches_reference(values, digits):
    scale, bits = sm.get_reciprocal(np.array(values), digits)
    assert list(zip(scale.tolist(), bits.tolist())) == [ref.get_reciprocal(v, digits) for v in values]


@SETTINGS
@given(st.integers(0, 2**32 - 1), st.floats(0.005, 2.0), st.sampled_from([1.0, 0.5, 2.0]),
       st.integers(1, 40), st.sampled_from([np.int8, np.int16]))
def test_softmax_matches_reference_and_float(seed, scale, beta, depth, out_dtype):
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(3, depth))
    x[0, :] = rng.integers(100, 128, size=depth)  # a row of near-ties
    p = sm.softmax_params(scale, beta)
    got = sm.softmax_quantized(x, p, out_dtype=out_dtype)
    bits = np.iinfo(out_dtype).bits
    assert got.dtype == out_dtype
    assert got.tolist() == [ref.softmax_row([int(v) for v in row], p, bits) for row in x]
    z = np.float32(beta) * np.float32(scale) * (x - x.max(axis=1, keepdims=True))
    want = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) * 2**bits - 2 ** (bits - 1)
    assert np.abs(got - np.minimum(want, 2 ** (bits - 1) - 1)).max() <= (1.5 if bits == 8 else 8)
