"""Slow scalar reimplementation of TFLite / gemmlowp integer arithmetic with Python big ints.

Written from the C definitions (gemmlowp fixedpoint.h; TFLite common.h, common.cc,
quantization_util.cc, kernel_util.cc, reference/softmax.h, reference/integer_ops/add.h and
pooling.h), one scalar at a time, with C's semantics spelled out instead of borrowed from numpy:
`cdiv` truncates towards zero; `>>` of a negative number is arithmetic (Python's and every C
compiler's); a plain int32 operation that would overflow (undefined in C) raises OverflowError,
except the left shift in MultiplyByQuantizedMultiplier, which the module under test documents as
wrapping. Float steps use exact rationals or float32 rounding via struct.
"""

from __future__ import annotations

import math
import struct
from fractions import Fraction

I32_MIN, I32_MAX = -(2**31), 2**31 - 1


def i32(v: int) -> int:
    if not I32_MIN <= v <= I32_MAX:
        raise OverflowError(f"int32 overflow: {v}")
    return v


def wrap32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 2**32 if v >= 2**31 else v


def cdiv(a: int, b: int) -> int:
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


def f32(v: float) -> float:
    return struct.unpack("f", struct.pack("f", v))[0]


def tflite_round(v) -> int:
    """std::round: nearest, ties away from zero, computed exactly."""
    v = Fraction(v)
    n = math.floor(abs(v) + Fraction(1, 2))
    return n if v >= 0 else -n


def srdhm(a: int, b: int) -> int:
    overflow = a == b == I32_MIN
    ab = a * b
    nudge = 2**30 if ab >= 0 else 1 - 2**30
    high = cdiv(ab + nudge, 2**31)
    return I32_MAX if overflow else i32(high)


def rdbpot(x: int, exponent: int) -> int:
    assert 0 <= exponent <= 31
    mask = (1 << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


def srmbpot(x: int, exponent: int) -> int:
    if exponent <= 0:
        return rdbpot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    if x > threshold:
        return I32_MAX
    if x < -threshold:
        return I32_MIN
    return i32(x * (1 << exponent))


def mbqm(x: int, multiplier: int, shift: int) -> int:
    left = shift if shift > 0 else 0
    right = 0 if shift > 0 else -shift
    return rdbpot(srdhm(wrap32(x * (1 << left)), multiplier), right)


def mbqm_single(x: int, multiplier: int, shift: int) -> int:
    total = 31 - shift
    return wrap32((x * multiplier + (1 << (total - 1))) >> total)


def quantize_multiplier(d: float, single_round: bool = False) -> tuple[int, int]:
    if d == 0.0:
        return 0, 0
    q, shift = math.frexp(d)
    q_fixed = tflite_round(Fraction(q) * 2**31)
    assert q_fixed <= 2**31
    if q_fixed == 2**31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift, q_fixed = 0, 0
    if single_round and shift > 30:
        shift, q_fixed = 30, 2**31 - 1
    return i32(q_fixed), shift


def activation_range(act: str, scale: float, zp: int, qmin=-128, qmax=127) -> tuple[int, int]:
    def q(f):
        return zp + tflite_round(f32(f32(f) / f32(scale)))

    return {"NONE": (qmin, qmax), "RELU": (max(qmin, q(0.0)), qmax),
            "RELU6": (max(qmin, q(0.0)), min(qmax, q(6.0))),
            "RELU_N1_TO_1": (max(qmin, q(-1.0)), min(qmax, q(1.0)))}[act]


def quantize(x: float, scale: float, zp: int, qmin=-128, qmax=127) -> int:
    return min(max(tflite_round(f32(f32(x) / f32(scale))) + zp, qmin), qmax)


def add_int8(x1: int, x2: int, p) -> int:
    v1 = i32((p.input1_offset + x1) * (1 << p.left_shift))
    v2 = i32((p.input2_offset + x2) * (1 << p.left_shift))
    s1 = rdbpot(srdhm(v1, p.input1_multiplier), -p.input1_shift)
    s2 = rdbpot(srdhm(v2, p.input2_multiplier), -p.input2_shift)
    raw = i32(rdbpot(srdhm(i32(s1 + s2), p.output_multiplier), -p.output_shift) + p.output_offset)
    return min(p.act_max, max(p.act_min, raw))


def average_pool_divide(acc: int, count: int) -> int:
    return cdiv(acc + count // 2, count) if acc > 0 else cdiv(acc - count // 2, count)


# --- gemmlowp fixed-point functions (raw int32 values) ------------------------------------------


def exp_interval(a: int) -> int:
    """exp_on_interval_between_negative_one_quarter_and_0_excl, Q0.31."""
    x = i32(a + 2**28)
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    poly = rdbpot(i32(srdhm(i32(x4_over_4 + x3), 715827883) + x2), 1)
    return i32(1895147668 + srdhm(1895147668, i32(x + poly)))


def exp_on_negative_values(a: int, integer_bits: int) -> int:
    frac = 31 - integer_bits
    quarter = 1 << (frac - 2)
    a_mod = i32((a & (quarter - 1)) - quarter)
    result = exp_interval(srmbpot(a_mod, integer_bits))
    remainder = i32(a_mod - a)
    for exponent, mult in ((-2, 1672461947), (-1, 1302514674), (0, 790015084), (1, 290630308),
                           (2, 39332535), (3, 720401), (4, 242)):
        if integer_bits > exponent and remainder & (1 << (frac + exponent)):
            result = srdhm(result, mult)
    if integer_bits > 5 and a < -(1 << (36 - integer_bits)):
        result = 0
    return I32_MAX if a == 0 else result


def rounding_half_sum(a: int, b: int) -> int:
    s = a + b
    return i32(cdiv(s + (1 if s >= 0 else -1), 2))


def one_over_one_plus_x(a: int) -> int:
    half_den = rounding_half_sum(a, I32_MAX)
    x = i32(1515870810 + srdhm(half_den, -1010580540))
    for _ in range(3):
        one_minus = i32(2**29 - srdhm(half_den, x))
        x = i32(x + srmbpot(srdhm(x, one_minus), 2))
    return srmbpot(x, 1)


def get_reciprocal(x: int, integer_digits: int) -> tuple[int, int]:
    u = x & 0xFFFFFFFF
    clz = 32 - u.bit_length()
    shifted = wrap32((((u << clz) & 0xFFFFFFFF) - 2**31) & 0xFFFFFFFF)
    return one_over_one_plus_x(shifted), integer_digits - clz


def softmax_row(row: list[int], p, out_bits: int = 8) -> list[int]:
    """reference_ops::Softmax for one row of int8 input."""
    out_min, out_max = -(2 ** (out_bits - 1)), 2 ** (out_bits - 1) - 1
    max_in_row = max([-128] + list(row))
    exps = {}
    total = 0
    for c, v in enumerate(row):
        diff = v - max_in_row
        if diff >= p.diff_min:
            scaled = srdhm(i32(diff * (1 << p.input_left_shift)), p.input_multiplier)
            exps[c] = exp_on_negative_values(scaled, 5)
            total = i32(total + rdbpot(exps[c], 12))
    scale, bits_over_unit = get_reciprocal(total, 12)
    exponent = bits_over_unit + 31 - out_bits
    assert 0 <= exponent <= 31
    out = []
    for c in range(len(row)):
        if c in exps:
            unsat = rdbpot(srdhm(scale, exps[c]), exponent)
            out.append(min(max(unsat + out_min, out_min), out_max))
        else:
            out.append(out_min)
    return out


def choose_qparams(rmin: float, rmax: float, qmin: int = -128, qmax: int = 127) -> tuple[float, int]:
    """MLIR getNudgedScaleAndZeroPoint after widening the range to include 0."""
    rmin, rmax = min(rmin, 0.0), max(rmax, 0.0)
    if abs(rmax - rmin) < 2.0**-52:
        return 1.0, qmin
    scale = (rmax - rmin) / (qmax - qmin)
    from_min, from_max = qmin - rmin / scale, qmax - rmax / scale
    use_min = abs(qmin) + abs(rmin / scale) < abs(qmax) + abs(rmax / scale)
    zp = from_min if use_min else from_max
    zp = qmin if zp < qmin else qmax if zp > qmax else tflite_round(zp)
    return f32(scale), zp


def add_params(s1: float, s2: float, so: float) -> tuple[int, ...]:
    """TFLite Micro CalculateOpDataAdd for int8: (m1, shift1, m2, shift2, m_out, shift_out)."""
    twice_max = 2 * max(f32(s1), f32(s2))
    m1 = quantize_multiplier(f32(s1) / twice_max)
    m2 = quantize_multiplier(f32(s2) / twice_max)
    mo = quantize_multiplier(twice_max / ((1 << 20) * f32(so)))
    return (*m1, *m2, *mo)
