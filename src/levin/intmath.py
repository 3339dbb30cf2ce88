"""TFLite's int8 fixed-point arithmetic, vectorized over numpy integer arrays, exact.

Read me first. This is the one place in levin that holds TFLite's integer semantics; the numpy
integer interpreter and the C code generator both follow it, so that outputs can be compared bit
for bit with TFLite Micro. Each function names the TFLite or gemmlowp function it mirrors.

Conventions:
- A `shift` is TFLite's: positive = left shift, negative = right shift, real value
  multiplier * 2**(shift - 31).
- int32 values are carried in int64 arrays inside a function and returned as int32 (a numpy
  scalar for scalar input). Inputs must be integer arrays within int32 range (TypeError /
  IntMathError otherwise): no float enters the integer path.
- A value the arithmetic cannot take (outside int32, a shift outside its range, a multiplier
  that is not finite or not in the range a function needs, a scale that is not positive)
  raises IntMathError: a GraphError, so the CLI prints it as one line (the interpreter adds
  the node), and a ValueError, as before. A wrong argument of the caller's (an unknown
  activation name, a per-channel array without an axis) stays a plain ValueError.
- Floats appear only where TFLite itself uses them: computing multipliers and activation ranges
  from real scales at preparation time, and quantize/dequantize at the model boundary. There the
  float32/float64 steps follow TFLite's casts, because a .tflite file stores scales as float32.
- "Classic" (double-rounding) requantization is the default: it is what TFLite Micro's reference
  kernels and CMSIS-NN's `arm_nn_requantize` use unless built with TFLITE_SINGLE_ROUNDING /
  CMSIS_NN_USE_SINGLE_ROUNDING. `single_round=True` selects the other variant.
- Where the C code overflows a signed int32 (undefined behaviour; two's-complement wrap in every
  compiler TFLite targets), the result is wrapped to int32, so the C generator must use wrapping
  arithmetic there. Such places are named in the docstrings.

Rounding used, and why: TFLite's `TfLiteRound` is `std::round`, round half AWAY from zero (numpy's
`np.round` rounds half to even, so it is not used). Integer shifts round as gemmlowp does: the
doubling high multiply rounds half UP (towards +inf), `rounding_divide_by_pot` half away from zero.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from levin.errors import GraphError

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
ACTIVATIONS = ("NONE", "RELU", "RELU6", "RELU_N1_TO_1")


class IntMathError(GraphError, ValueError):
    """A value TFLite's integer arithmetic cannot take (see the module docstring)."""


def _ints(x, name: str) -> np.ndarray:
    """`x` as an int64 array, checked to be integers in int32 range."""
    a = np.asarray(x)
    if a.dtype.kind not in "iub":
        raise TypeError(f"{name} must be an integer array, got dtype {a.dtype}")
    a = a.astype(np.int64)
    if a.size and (a.min() < INT32_MIN or a.max() > INT32_MAX):
        raise IntMathError(f"{name} has values outside int32 range")
    return a


def _wrap32(v: np.ndarray) -> np.ndarray:
    """Two's-complement wrap of an int64 array to int32 range (kept as int64)."""
    return ((v + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _out(v: np.ndarray) -> np.ndarray:
    return v.astype(np.int32)[()]


def _limits(dtype) -> tuple[int, int]:
    info = np.iinfo(dtype)
    return int(info.min), int(info.max)


def _along(param, ndim: int, axis: int | None, name: str) -> np.ndarray:
    """Reshape a per-channel 1-D `param` so that it broadcasts along `axis` of an ndim array."""
    p = np.asarray(param)
    if p.ndim == 0:
        return p
    if p.ndim != 1 or axis is None or not -ndim <= axis < ndim:
        raise ValueError(f"{name}: per-channel values need a 1-D array and an axis within {ndim} dims")
    shape = [1] * ndim
    shape[axis % ndim] = p.size
    return p.reshape(shape)


# --- quantize / dequantize / choosing parameters ---------------------------------------------


def round_half_away(x) -> np.ndarray:
    """Round to nearest, ties away from zero, in x's float type: TFLite's `TfLiteRound`."""
    x = np.asarray(x)
    a = np.abs(x)
    whole = np.floor(a)
    with np.errstate(invalid="ignore"):   # inf - inf: an infinity is returned as it is, below
        up = a - whole >= 0.5              # a - whole is exact in IEEE arithmetic
    return np.where(np.isinf(x), x, np.copysign(whole + up, x))[()]


def quantize(x, scale, zero_point, *, axis=None, dtype=np.int8, narrow_range=False) -> np.ndarray:
    """q = clamp(round(x / scale) + zero_point): TFLite reference `AffineQuantize` and
    `PerChannelQuantize` (the QUANTIZE op). x is taken as float32, the division is float32 /
    float32 as there, then rounded half away from zero. Per-channel: 1-D `scale`/`zero_point`
    along `axis`. `narrow_range` drops the lowest code (-127..127 for symmetric int8 weights)."""
    x = np.asarray(x, dtype=np.float32)
    if np.isnan(x).any():
        raise IntMathError("quantize: input contains NaN")
    s = _along(np.asarray(scale, dtype=np.float32), x.ndim, axis, "scale")
    zp = _along(np.asarray(zero_point, dtype=np.int64), x.ndim, axis, "zero_point")
    if (s <= 0).any():
        raise IntMathError("quantize: scales must be positive")
    lo, hi = _limits(dtype)
    with np.errstate(over="ignore"):   # beyond float32: +-inf, which saturates below
        q = round_half_away(x / s).astype(np.float64) + zp
    return np.clip(q, lo + bool(narrow_range), hi).astype(dtype)


def dequantize(q, scale, zero_point, *, axis=None) -> np.ndarray:
    """x = scale * (q - zero_point) as float32: TFLite reference `Dequantize` (double product of
    the float32 scale and the integer difference, one rounding to float32)."""
    q = _ints(q, "q")
    s = _along(np.asarray(scale, dtype=np.float32).astype(np.float64), q.ndim, axis, "scale")
    zp = _along(np.asarray(zero_point, dtype=np.int64), q.ndim, axis, "zero_point")
    return (s * (q - zp)).astype(np.float32)


def choose_qparams(rmin: float, rmax: float, *, dtype=np.int8, narrow_range=False) -> tuple[float, int]:
    """(scale, zero_point) for a real range, as the TFLite MLIR quantizer does
    (`getNudgedScaleAndZeroPoint`, same algorithm as TFLite's `ChooseQuantizationParams`).

    The range is first widened to include 0 so that 0.0 is exactly representable; the zero point
    is computed in double from whichever end gives the smaller rounding error, clamped to the
    integer range, and rounded half away from zero. A degenerate range gives (1.0, qmin), as MLIR
    does. The scale is returned rounded to float32, the precision a .tflite file stores.
    """
    rmin, rmax = min(float(rmin), 0.0), max(float(rmax), 0.0)
    if not (math.isfinite(rmin) and math.isfinite(rmax)):
        raise IntMathError(f"choose_qparams: range [{rmin}, {rmax}] is not finite")
    qmin, qmax = _limits(dtype)
    qmin += bool(narrow_range)
    if abs(rmax - rmin) < np.finfo(np.float64).eps:
        return 1.0, qmin
    scale = (rmax - rmin) / (qmax - qmin)
    from_min, err_min = qmin - rmin / scale, abs(qmin) + abs(rmin / scale)
    from_max, err_max = qmax - rmax / scale, abs(qmax) + abs(rmax / scale)
    zp = from_min if err_min < err_max else from_max
    zp = qmin if zp < qmin else qmax if zp > qmax else int(round_half_away(zp))
    return float(np.float32(scale)), int(zp)


def symmetric_scales(max_abs, *, dtype=np.int8) -> np.ndarray:
    """Per-channel symmetric scales max|w| / qmax (127 for int8; zero point 0, narrow range), as
    TFLite's per-axis weight quantization; an all-zero channel gets scale 1.0. float32."""
    m = np.abs(np.asarray(max_abs, dtype=np.float64))
    qmax = _limits(dtype)[1]
    return np.where(m < np.finfo(np.float64).eps, 1.0, m / qmax).astype(np.float32)


# --- multipliers ------------------------------------------------------------------------------


def quantize_multiplier(real: float, *, single_round=False) -> tuple[int, int]:
    """(int32 multiplier, shift) with real ~= multiplier * 2**(shift - 31): TFLite
    `QuantizeMultiplier`. frexp, round half away from zero to Q0.31; a mantissa that rounds up to
    2**31 is halved and the shift raised; shift < -31 flushes to (0, 0). With `single_round`, as
    under TFLITE_SINGLE_ROUNDING, a shift > 30 saturates to (2**31 - 1, 30)."""
    real = float(real)
    if not math.isfinite(real):
        raise IntMathError(f"quantize_multiplier: {real} is not finite")
    if real == 0.0:
        return 0, 0
    mantissa, shift = math.frexp(real)
    scaled = abs(mantissa) * (1 << 31)  # exact: a power-of-two scaling
    q = int(math.copysign(math.floor(scaled + 0.5), mantissa))
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        q, shift = 0, 0
    if single_round and shift > 30:
        q, shift = INT32_MAX, 30
    return q, shift


def quantize_multiplier_smaller_than_one(real: float) -> tuple[int, int]:
    """TFLite `QuantizeMultiplierSmallerThanOneExp`: 0 < real < 1, shift <= 0."""
    if not 0.0 < real < 1.0:
        raise IntMathError(f"multiplier {real} must lie in (0, 1) here (check the scales)")
    return quantize_multiplier(real)


def quantize_multiplier_greater_than_one(real: float) -> tuple[int, int]:
    """TFLite `QuantizeMultiplierGreaterThanOne`: real > 1, shift >= 0."""
    if not real > 1.0:
        raise IntMathError(f"multiplier {real} must be greater than 1 here (check the scales)")
    return quantize_multiplier(real)


def quantize_multipliers(reals, *, single_round=False) -> tuple[np.ndarray, np.ndarray]:
    """`quantize_multiplier` over an array: (int32 multipliers, int32 shifts)."""
    pairs = [quantize_multiplier(r, single_round=single_round) for r in np.ravel(reals)]
    shape = np.shape(reals)
    m = np.array([p[0] for p in pairs], dtype=np.int32).reshape(shape)
    return m, np.array([p[1] for p in pairs], dtype=np.int32).reshape(shape)


def effective_scale(input_scale, filter_scale, output_scale, *, float_product=False):
    """input_scale * filter_scale / output_scale in double, from float32 scales, as TFLite Micro's
    `PopulateConvolutionQuantizationParams` (CONV, DEPTHWISE_CONV, per-channel FULLY_CONNECTED).
    `float_product=True` multiplies the first two in float32 first, as `GetQuantizedConvolution
    Multipler` does for per-tensor FULLY_CONNECTED."""
    f32 = lambda v: np.asarray(v, dtype=np.float32)  # noqa: E731
    if float_product:
        product = (f32(input_scale) * f32(filter_scale)).astype(np.float64)
    else:
        product = f32(input_scale).astype(np.float64) * f32(filter_scale).astype(np.float64)
    return (product / f32(output_scale).astype(np.float64))[()]


# --- fixed-point primitives (gemmlowp fixedpoint.h, TFLite common.h) ---------------------------


def saturating_rounding_doubling_high_mul(a, b) -> np.ndarray:
    """round(a * b / 2**31) for int32 a, b: gemmlowp `SaturatingRoundingDoublingHighMul` (ARM
    VQRDMULH). gemmlowp adds a nudge of 2**30 (or 1 - 2**30 for a negative product) and divides
    truncating; that equals floor((a*b + 2**30) / 2**31), i.e. ties round up, computed here with an
    arithmetic shift. The one product that does not fit, INT32_MIN * INT32_MIN, saturates to
    INT32_MAX."""
    a, b = _ints(a, "a"), _ints(b, "b")
    res = (a * b + (1 << 30)) >> 31
    return _out(np.where((a == b) & (a == INT32_MIN), INT32_MAX, res))


def rounding_divide_by_pot(x, exponent) -> np.ndarray:
    """x / 2**exponent rounded to nearest, ties away from zero: gemmlowp `RoundingDivideByPOT`
    (the remainder is compared with a threshold one higher for negative x). exponent in 0..31,
    scalar or per-element."""
    x, e = _ints(x, "x"), _ints(exponent, "exponent")
    if e.size and (e.min() < 0 or e.max() > 31):
        raise IntMathError("rounding_divide_by_pot: exponent must lie in 0..31")
    mask = (np.int64(1) << e) - 1
    threshold = (mask >> 1) + (x < 0)
    return _out((x >> e) + ((x & mask) > threshold))


def saturating_rounding_multiply_by_pot(x, exponent: int) -> np.ndarray:
    """x * 2**exponent: gemmlowp `SaturatingRoundingMultiplyByPOT`. A positive exponent is a left
    shift saturating to int32 (|x| above 2**(31-exponent) - 1 goes to the limit); a negative one is
    `rounding_divide_by_pot`."""
    x = _ints(x, "x")
    exponent = int(exponent)
    if not -31 <= exponent <= 31:
        raise IntMathError("saturating_rounding_multiply_by_pot: exponent must lie in -31..31")
    if exponent <= 0:
        return rounding_divide_by_pot(x, -exponent)
    threshold = (1 << (31 - exponent)) - 1
    res = np.where(x > threshold, INT32_MAX, np.where(x < -threshold, INT32_MIN, x << exponent))
    return _out(res)


def multiply_by_quantized_multiplier(x, multiplier, shift, *, single_round=False) -> np.ndarray:
    """x * multiplier * 2**(shift - 31), rounded: TFLite `MultiplyByQuantizedMultiplier` (int32 x).

    Classic (default, TFLite Micro reference kernels, CMSIS-NN `arm_nn_requantize`):
    `RoundingDivideByPOT(SaturatingRoundingDoublingHighMul(x * 2**max(shift, 0), multiplier),
    max(-shift, 0))` -- two roundings; `x * 2**left` wraps in int32 as the C does.
    `single_round=True` (TFLITE_SINGLE_ROUNDING): (x * multiplier + 2**(30 - shift)) >> (31 - shift)
    in int64, one rounding (ties up); needs multiplier >= 0. shift must lie in -31..30 (the C
    shifts are undefined outside it).
    `multiplier` and `shift` may be arrays that broadcast against x (per-channel).
    """
    x, m, s = _ints(x, "x"), _ints(multiplier, "multiplier"), _ints(shift, "shift")
    if s.size and (s.min() < -31 or s.max() > 30):
        raise IntMathError("multiply_by_quantized_multiplier: shift must lie in -31..30")
    if single_round:
        if (m < 0).any():
            raise IntMathError("single-rounding multiply needs multiplier >= 0")
        total = 31 - s
        return _out(_wrap32((x * m + (np.int64(1) << (total - 1))) >> total))
    left = np.maximum(s, 0)
    high = saturating_rounding_doubling_high_mul(_wrap32(x << left), m)
    return rounding_divide_by_pot(high, np.maximum(-s, 0))


def requantize(acc, multiplier, shift, output_zero_point, act_min=None, act_max=None, *,
               axis=-1, dtype=np.int8, single_round=False) -> np.ndarray:
    """int32 accumulators -> int8 (or `dtype`): multiply_by_quantized_multiplier, add the output
    zero point, clamp to [act_min, act_max] -- the output stage of TFLite's reference
    `integer_ops::ConvPerChannel`, `DepthwiseConvPerChannel` and `FullyConnected`. Per-channel
    `multiplier`/`shift` (1-D) broadcast along `axis` of `acc`. act_min/act_max default to the
    dtype's limits (see `activation_range`)."""
    acc = _ints(acc, "acc")
    m = _along(multiplier, acc.ndim, axis, "multiplier")
    s = _along(shift, acc.ndim, axis, "shift")
    lo, hi = _limits(dtype)
    act_min = lo if act_min is None else int(act_min)
    act_max = hi if act_max is None else int(act_max)
    if not lo <= act_min <= act_max <= hi:
        raise IntMathError(f"activation range [{act_min}, {act_max}] not within {np.dtype(dtype)}")
    v = multiply_by_quantized_multiplier(acc, m, s, single_round=single_round).astype(np.int64)
    return np.clip(v + int(output_zero_point), act_min, act_max).astype(dtype)


def activation_range(activation: str, scale: float, zero_point: int, *, dtype=np.int8) -> tuple[int, int]:
    """(act_min, act_max) of a fused activation: TFLite `CalculateActivationRangeQuantized`.
    Bounds 0, 6, -1, 1 are quantized as zero_point + TfLiteRound(f / scale) in float32, then
    intersected with the dtype's range. `activation` is a TFLite schema name: NONE, RELU, RELU6,
    RELU_N1_TO_1."""
    lo, hi = _limits(dtype)
    if not float(scale) > 0:
        raise IntMathError(f"activation_range: scale {scale} must be positive")

    def q(f: float) -> int:
        with np.errstate(over="ignore"):
            t = np.float32(f) / np.float32(scale)
        if not (np.isfinite(t) and INT32_MIN <= round_half_away(t) <= INT32_MAX):
            raise IntMathError(f"activation bound {f} / scale {scale} overflows int32: a scale this small "
                               f"means the calibrated activations were ~0 (a dead layer, or inputs not "
                               f"scaled as in training)")
        return int(zero_point) + int(round_half_away(t))

    if activation not in ACTIVATIONS:
        raise ValueError(f"fused activation {activation!r} not supported; supported: {', '.join(ACTIVATIONS)}")
    if activation == "NONE":
        return lo, hi
    low, high = {"RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}[activation]
    return max(lo, q(low)), hi if high is None else min(hi, q(high))


# --- op helpers that rescale: ADD, AVERAGE_POOL ------------------------------------------------


@dataclass(frozen=True)
class AddParams:
    """Prepared integer parameters of a quantized ADD (TFLite `ArithmeticParams`)."""

    input1_offset: int
    input2_offset: int
    output_offset: int
    left_shift: int
    input1_multiplier: int
    input1_shift: int
    input2_multiplier: int
    input2_shift: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int


def add_params(input1_scale, input1_zero_point, input2_scale, input2_zero_point, output_scale,
               output_zero_point, activation="NONE", *, dtype=np.int8) -> AddParams:
    """TFLite Micro `CalculateOpDataAdd` (= TFLite `PrepareGeneralSubOrAdd` for ADD): inputs are
    shifted left by 20 bits (15 for int16), scaled by s_i / (2 max(s1, s2)), summed, and the sum
    scaled by 2 max(s1, s2) / (2**left_shift * s_out); multipliers from float32 scales in double."""
    left_shift = 15 if np.dtype(dtype) == np.int16 else 20
    s1, s2, so = (float(np.float32(s)) for s in (input1_scale, input2_scale, output_scale))
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = quantize_multiplier_smaller_than_one(s1 / twice_max)
    m2, sh2 = quantize_multiplier_smaller_than_one(s2 / twice_max)
    mo, sho = quantize_multiplier_smaller_than_one(twice_max / ((1 << left_shift) * so))
    act_min, act_max = activation_range(activation, output_scale, output_zero_point, dtype=dtype)
    return AddParams(-int(input1_zero_point), -int(input2_zero_point), int(output_zero_point),
                     left_shift, m1, sh1, m2, sh2, mo, sho, act_min, act_max)


def add_quantized(x1, x2, p: AddParams, *, dtype=np.int8, single_round=False,
                  subtract=False) -> np.ndarray:
    """Elementwise quantized ADD with numpy broadcasting: TFLite reference
    `integer_ops::AddElementwise` / `AddFunc` (each input offset, shifted left, rescaled by
    `MultiplyByQuantizedMultiplierSmallerThanOneExp`; the sum rescaled, offset and clamped).
    `subtract`: SUB (`SubElementwise`, the same parameters): the rescaled second input is
    subtracted, which is not the ADD of its negation (each rescaling rounds on its own)."""
    mul = lambda v, m, s: multiply_by_quantized_multiplier(v, m, s, single_round=single_round)  # noqa: E731
    v1 = (_ints(x1, "x1") + p.input1_offset) << p.left_shift
    v2 = (_ints(x2, "x2") + p.input2_offset) << p.left_shift
    r2 = mul(v2, p.input2_multiplier, p.input2_shift).astype(np.int64)
    total = mul(v1, p.input1_multiplier, p.input1_shift).astype(np.int64) + (-r2 if subtract else r2)
    out = mul(total, p.output_multiplier, p.output_shift).astype(np.int64) + p.output_offset
    return np.clip(out, p.act_min, p.act_max).astype(dtype)


def average_pool_divide(total, count) -> np.ndarray:
    """Rounded quotient of a pooling window's int32 sum by its element count: TFLite reference
    int8 `AveragePool`, (sum + count/2) / count for sum > 0 and (sum - count/2) / count otherwise,
    with C's truncating division -- ties away from zero. The caller clamps to the activation range."""
    t, c = _ints(total, "total"), _ints(count, "count")
    if c.size and c.min() <= 0:
        raise IntMathError("average_pool_divide: count must be positive")
    num = np.where(t > 0, t + c // 2, t - c // 2)
    return _out(np.sign(num) * (np.abs(num) // c))
