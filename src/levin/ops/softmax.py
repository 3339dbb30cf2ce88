"""Softmax along one axis. TFLite: SOFTMAX, int8 output scale 1/256, zero point -128. C:
`levin_softmax_s8` (levin_softmax.c), the same fixed-point steps.

int8 SOFTMAX exactly as TFLite Micro's reference kernel, on gemmlowp fixed point.

Read me first. TFLite Micro's int8 softmax (`reference_ops::Softmax(SoftmaxParams, int8 in,
int8/int16 out)`, prepared by `CalculateSoftmaxParams` in micro/kernels/softmax_common.cc) uses no
lookup table: per row it subtracts the row max, rescales the difference to Q5.26 by
`input_multiplier`/`input_left_shift`, evaluates exp with gemmlowp's `exp_on_negative_values`,
sums in Q12.19, takes the reciprocal with `one_over_one_plus_x_for_x_in_0_1`, and scales each exp
by it. CMSIS-NN's `arm_softmax_s8` follows the same steps.

Not the same as desktop TFLite: its int8 SOFTMAX kernel builds a float exp lookup table at
prepare time (`PopulateSoftmaxLookupTable`), which may differ from this by an LSB.

A fixed-point value with I integer bits is an int32 raw r meaning r / 2**(31 - I) ("QI.(31-I)");
a product of QA and QB values is Q(A+B) via `saturating_rounding_doubling_high_mul`. Plain adds
and subtractions overflow nowhere on the paths used here (C would be undefined there); results
are wrapped to int32 to mirror the hardware all the same.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from levin.errors import GraphError
from levin.intmath import (
    INT32_MAX,
    IntMathError,
    _ints,
    _out,
    _wrap32,
    quantize_multiplier_greater_than_one,
    rounding_divide_by_pot,
    saturating_rounding_doubling_high_mul,
    saturating_rounding_multiply_by_pot,
)
from levin.ops import qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import axis

SCALED_DIFF_INTEGER_BITS = 5  # kScaledDiffIntegerBits: exp input is Q5.26
ACCUMULATION_INTEGER_BITS = 12  # kAccumulationIntegerBits: sum of exps is Q12.19

# exp(-2**k) in Q0.31 for k = -2..4 (gemmlowp's barrel shifter constants)
_EXP_BARREL = ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
               (2, 39332535), (3, 720401), (4, 242))

_mul = saturating_rounding_doubling_high_mul


def _add(a, b) -> np.ndarray:
    return _wrap32(np.asarray(a, dtype=np.int64) + np.asarray(b, dtype=np.int64))


def rounding_half_sum(a, b) -> np.ndarray:
    """(a + b) / 2 rounded half away from zero: gemmlowp `RoundingHalfSum` for int32."""
    s = _ints(a, "a") + _ints(b, "b")
    s = s + np.where(s >= 0, 1, -1)
    return _out(np.sign(s) * (np.abs(s) // 2))  # C's truncating division


def exp_on_interval_between_negative_one_quarter_and_0_excl(a) -> np.ndarray:
    """exp(a) for Q0.31 a in [-1/4, 0), result Q0.31: gemmlowp's fourth-order Taylor expansion
    around -1/8."""
    x = _add(a, 1 << 28)  # a + 1/8
    x2 = _mul(x, x)
    x3 = _mul(x2, x)
    x4 = _mul(x2, x2)
    x4_over_4 = rounding_divide_by_pot(x4, 2)
    poly = rounding_divide_by_pot(_add(_mul(_add(x4_over_4, x3), 715827883), x2), 1)  # 1/3 in Q0.31
    constant_term = 1895147668  # exp(-1/8) in Q0.31
    return _out(_add(constant_term, _mul(constant_term, _add(x, poly))))


def exp_on_negative_values(a, integer_bits: int) -> np.ndarray:
    """exp(a) for a <= 0 given as QI.(31-I) raw int32 (I = integer_bits), result Q0.31:
    gemmlowp `exp_on_negative_values`. a mod 1/4 goes to the Taylor step; each set bit of the
    remaining multiple of 1/4 multiplies in exp(-2**k); below -32 the result is 0 (only reachable
    for I > 5); exp(0) is 2**31 - 1."""
    if not 0 <= integer_bits <= 29:
        raise ValueError("exp_on_negative_values: integer_bits must lie in 0..29")
    a = _ints(a, "a")
    frac_bits = 31 - integer_bits
    quarter = 1 << (frac_bits - 2)
    a_mod_minus_quarter = _wrap32((a & (quarter - 1)) - quarter)
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        saturating_rounding_multiply_by_pot(a_mod_minus_quarter, integer_bits))  # Rescale<0>
    remainder = _wrap32(a_mod_minus_quarter - a)
    for exponent, multiplier in _EXP_BARREL:
        if integer_bits > exponent:
            bit = (remainder & (1 << (frac_bits + exponent))) != 0
            result = np.where(bit, _mul(result, multiplier), result)
    if integer_bits > 5:
        result = np.where(a < -(1 << (36 - integer_bits)), 0, result)
    return _out(np.where(a == 0, INT32_MAX, result))


def one_over_one_plus_x_for_x_in_0_1(a) -> np.ndarray:
    """1 / (1 + a) for Q0.31 a in [0, 1), result Q0.31: gemmlowp
    `one_over_one_plus_x_for_x_in_0_1` -- three Newton-Raphson steps in Q2.29 on the half
    denominator, starting from 48/17 - 32/17 d."""
    half_denominator = rounding_half_sum(a, INT32_MAX)  # (a + 1) / 2, Q0.31
    x = _add(1515870810, _mul(half_denominator, -1010580540))  # 48/17, -32/17 in Q2.29
    one_q2 = 1 << 29
    for _ in range(3):
        one_minus = _add(one_q2, -_mul(half_denominator, x).astype(np.int64))
        x = _add(x, saturating_rounding_multiply_by_pot(_mul(x, one_minus), 2))  # Q4 -> Q2
    return saturating_rounding_multiply_by_pot(x, 1)  # x/2 in Q1 -> Q0


def get_reciprocal(x, x_integer_digits: int) -> tuple[np.ndarray, np.ndarray]:
    """TFLite `GetReciprocal`: for positive x in Q(x_integer_digits), (Q0.31 scale, bits over
    unit) with 1/x ~= scale * 2**-bits: x is normalised by its leading zeros into 1 + f, f in
    [0, 1), and 1 / (1 + f) taken."""
    x = _ints(x, "x")
    if x.size and x.min() <= 0:
        raise IntMathError("get_reciprocal: x must be positive")
    headroom_plus_one = 32 - np.frexp(x.astype(np.float64))[1]  # count of leading zeros (exact)
    shifted = ((x << headroom_plus_one) & 0xFFFFFFFF) - (1 << 31)  # uint32 arithmetic
    return one_over_one_plus_x_for_x_in_0_1(shifted), _out(x_integer_digits - headroom_plus_one)


def preprocess_softmax_scaling(beta: float, input_scale: float, input_integer_bits: int, *,
                               single_round=False) -> tuple[int, int]:
    """(multiplier, left shift) for beta * input_scale into Q(input_integer_bits): TFLite
    `PreprocessSoftmaxScaling`, min(beta * scale * 2**(31 - bits), 2**31 - 1) (2**30 - 1 under
    TFLITE_SINGLE_ROUNDING) through `QuantizeMultiplierGreaterThanOne`."""
    cap = (1 << 30) - 1.0 if single_round else (1 << 31) - 1.0
    real = min(beta * input_scale * (1 << (31 - input_integer_bits)), cap)
    return quantize_multiplier_greater_than_one(real)


def calculate_input_radius(input_integer_bits: int, input_left_shift: int, total_signed_bits: int = 31) -> int:
    """TFLite `CalculateInputRadius`: the largest input difference whose rescaled value still
    fits, floor((2**bits - 1) * 2**(total - bits) / 2**left_shift)."""
    top = ((1 << input_integer_bits) - 1) * (1 << (total_signed_bits - input_integer_bits))
    return math.floor(top / (1 << input_left_shift))


@dataclass(frozen=True)
class SoftmaxParams:
    """Prepared int8 softmax parameters (the int8 fields of TFLite's `SoftmaxParams`)."""

    input_multiplier: int
    input_left_shift: int
    diff_min: int


def softmax_params(input_scale: float, beta: float = 1.0) -> SoftmaxParams:
    """TFLite Micro `CalculateSoftmaxParams` for int8 input: float32 beta and scale widened to
    double, `PreprocessSoftmaxScaling` into Q5.26, diff_min = -`CalculateInputRadius`."""
    beta, input_scale = float(np.float32(beta)), float(np.float32(input_scale))
    m, shift = preprocess_softmax_scaling(beta, input_scale, SCALED_DIFF_INTEGER_BITS)
    return SoftmaxParams(m, shift, -calculate_input_radius(SCALED_DIFF_INTEGER_BITS, shift))


def softmax_quantized(x, params: SoftmaxParams, *, axis: int = -1, out_dtype=np.int8) -> np.ndarray:
    """Softmax over `axis` of int8 `x`: TFLite reference `Softmax(SoftmaxParams, int8 input,
    int8 or int16 output)`. The output is quantized with zero point at the type's minimum and
    scale 2**-bits (int8: -128, 1/256; int16: -32768, 1/65536), as TFLite Micro requires.
    Elements more than |diff_min| below their row max give the minimum code."""
    x = np.moveaxis(_ints(x, "x"), axis, -1)
    if x.size and (x.min() < -128 or x.max() > 127):
        raise IntMathError("softmax_quantized: input must be int8")
    if x.shape[-1] == 0:
        return np.moveaxis(x.astype(out_dtype), -1, axis)
    out_bits = np.iinfo(out_dtype).bits
    out_min, out_max = int(np.iinfo(out_dtype).min), int(np.iinfo(out_dtype).max)
    diff = x - np.maximum(x.max(axis=-1, keepdims=True), -128)
    keep = diff >= params.diff_min
    # MultiplyByQuantizedMultiplierGreaterThanOne; diff_min keeps diff * 2**shift within int32
    # (the shift reaches 31 only when diff_min is 0, and then every kept diff is 0)
    shifted = _wrap32(np.where(keep, diff, 0) << params.input_left_shift)
    scaled = _mul(shifted, params.input_multiplier)
    exps = exp_on_negative_values(scaled, SCALED_DIFF_INTEGER_BITS)
    in_accum = rounding_divide_by_pot(exps, ACCUMULATION_INTEGER_BITS)  # Rescale<12>: Q0 -> Q12
    total = np.where(keep, in_accum, 0).astype(np.int64).sum(axis=-1, keepdims=True)
    # TFLite checks 0 <= exponent <= 31 below, i.e. the Q12.19 sum must stay under 2**28 for int8
    # output (about 512 elements at the row max) and within int32 for int16 output
    limit = 1 << (32 - max(1, ACCUMULATION_INTEGER_BITS - out_bits))
    if total.size and total.max() >= limit:
        raise IntMathError(f"softmax_quantized: a row's sum of exps ({total.max() / 2**19:.0f}) reaches "
                         f"{limit / 2**19:.0f}, beyond TFLite's kernel (its exponent check fails); "
                         f"use int16 output or shorter rows")
    scale, bits_over_unit = get_reciprocal(total, ACCUMULATION_INTEGER_BITS)
    exponent = np.asarray(bits_over_unit, dtype=np.int64) + 31 - out_bits
    out = rounding_divide_by_pot(_mul(scale, exps), exponent).astype(np.int64) + out_min
    out = np.where(keep, np.clip(out, out_min, out_max), out_min)
    return np.moveaxis(out.astype(out_dtype), -1, axis)


# --- the op -----------------------------------------------------------------------------------


def shape(where, inputs, a):
    a["axis"] = axis(where, a["axis"], len(inputs[0].shape))
    return a, inputs[0].shape


def evaluate(x, *, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def evaluate_torch(x, axis):
    import torch
    return torch.softmax(x, dim=axis)


def reference(node, args, ins, out, single_round=False):
    if qparams.sz(out) != OUTPUT:
        raise GraphError(f"node {node.name!r} (Softmax): int8 output needs scale 1/256, zero point -128")
    return softmax_quantized(args[0], softmax_params(qparams.sz(ins[0])[0]), axis=node.attrs["axis"])


def prepare(ctx, node, k: int) -> dict:
    t_in = ctx.graph.tensors[node.inputs[0]]
    ax = node.attrs["axis"]
    p = softmax_params(qparams.sz(t_in)[0])
    dims = t_in.shape
    return {"params": vars(p), "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output),
            "outer": int(np.prod(dims[:ax], dtype=np.int64)), "n": dims[ax],
            "inner": int(np.prod(dims[ax + 1:], dtype=np.int64))}


OUTPUT = (1.0 / 256, -128)
SOFTMAX = register(Op(
    "Softmax", (1, 1), {"axis": -1}, shape, evaluate, evaluate_torch, reference,
    CBinding("op_softmax.c.j2", prepare, ("levin_softmax.c",)),
    element_ops=lambda graph, node: 3 * graph.tensors[node.output].size,     # exp, sum, divide
    code_bytes=1024, output_quant=OUTPUT))
