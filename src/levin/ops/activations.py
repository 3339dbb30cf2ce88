"""Elementwise activations computed as a 256-entry table of the input code: Hardswish, LeakyReLU,
ELU, GELU, Hardsigmoid, SiLU and Clamp.

Read me first. An int8 -> int8 op with fixed parameters is exactly a lookup table of its input
code, so each op here is one function that builds that table; the reference indexes it and the C
runtime ships it to `levin_lut_s8` (levin_elementwise.c), the kernel Sigmoid/Tanh use. Where TFLite
has the op, the table is computed with TFLite's own int8 arithmetic, so levin's reference and C are
bit-exact with it:
- HARD_SWISH (TFLite Micro `HardSwishPrepare` / reference `HardSwish`): int16 fixed point, the
  input on a "hires" scale s_in / 128, a "reluish" factor in Q0.15 and two 16-bit multipliers
  (`DownScaleInt32ToInt16Multiplier`); the output shift must be a right shift (TFLite refuses
  s_in / 128 >= s_out otherwise, and so does levin).
- LEAKY_RELU (`CalculateOpDataLeakyRelu` / `QuantizeLeakyRelu`): x >= zp_in rescaled by
  s_in / s_out, below it by s_in * alpha / s_out, then
  `MultiplyByQuantizedMultiplier`; a negative alpha multiplies by |alpha| and negates. The ratios
  are taken in double from the float32 scales and alpha, as the TFLite Micro levin is checked
  against computes them (tests/ops/test_activations.py: ties that float32 ratios round otherwise).
- ELU and GELU: TFLite builds a table at prepare time from the float function (`PopulateLookupTable`
  in TFLite Micro's elu.cc, `LUTPopulate` in desktop TFLite's gelu.cc), every step in float32:
  x = s_in * (q - zp_in), y = f(x), round(y * (1 / s_out)) + zp_out. The float32 transcendental
  functions (expf, tanhf, erf) are taken in double and rounded once to float32 (the correctly
  rounded value, which glibc's float functions return on these inputs). TFLite has ELU for
  alpha 1 only; other alphas are levin's, by the same formula. TFLite Micro has no GELU kernel:
  the GELU table follows desktop TFLite's reference kernel.
Hardsigmoid, SiLU and Clamp have no TFLite builtin: their table is the float function at each code,
rounded half away from zero (as `ops/lut.py`). The output scale of every op here is calibrated.
"""

from __future__ import annotations

import math

import numpy as np

from levin import intmath as im
from levin.errors import GraphError
from levin.ops import qparams
from levin.ops.lut import table_kernels
from levin.ops.registry import Op, register

F32 = np.float32
CODES = np.arange(-128, 128, dtype=np.int64)
_SQRT_2_OVER_PI = F32(2.0 / math.sqrt(math.pi) * math.sqrt(0.5))   # TFLite's kSqrt2dPi, a float


def _f32(fn, x: np.ndarray) -> np.ndarray:
    """A float32 libm function (expf, tanhf, ...) on float32 x: in double, rounded once."""
    return fn(x.astype(np.float64)).astype(F32)


# -- tables: (node attrs, (s_in, zp_in), (s_out, zp_out)) -> output code of each input code ------------
def float32_table(fn, s_in: float, zp_in: int, s_out: float, zp_out: int) -> np.ndarray:
    """TFLite's `PopulateLookupTable` / `LUTPopulate` for int8: every step in float32."""
    x = F32(s_in) * (CODES - zp_in).astype(F32)
    with np.errstate(over="ignore", invalid="ignore"):
        y = im.round_half_away(fn(x).astype(F32) * (F32(1) / F32(s_out))) + F32(zp_out)
    return np.clip(y, -128, 127).astype(np.int8)   # clipped in float: the cast would overflow


def float64_table(fn, s_in: float, zp_in: int, s_out: float, zp_out: int) -> np.ndarray:
    """levin-only ops: the float function in double at each code, rounded half away from zero."""
    x = np.float64(F32(s_in)) * (CODES - zp_in)
    with np.errstate(over="ignore", invalid="ignore"):
        y = im.round_half_away(fn(x) / np.float64(F32(s_out))) + zp_out
    return np.clip(y, -128, 127).astype(np.int8)


def _srdhm16(a, b) -> np.ndarray:
    """gemmlowp `SaturatingRoundingDoublingHighMul` on int16: (a*b + 2**14) >> 15, ties up."""
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    return np.where((a == b) & (a == -32768), 32767, (a * b + (1 << 14)) >> 15)


def _sat_left16(x, amount: int) -> np.ndarray:
    return np.clip(np.asarray(x, np.int64) << amount, -32768, 32767)


def _rdbpot16(x, exponent: int) -> np.ndarray:
    """gemmlowp `RoundingDivideByPOT` on int16 values: ties away from zero; its mask is an int16,
    so from exponent 16 on it is all ones (the rounding then adds 1 to every x >= 0, as TFLite)."""
    x = np.asarray(x, np.int64)
    mask = ((1 << exponent) - 1) & 0xFFFF
    mask -= (mask >= 0x8000) << 16
    threshold = (mask >> 1) + (x < 0)
    return (x >> exponent) + ((x & mask) > threshold)


def _to_int16_multiplier(m: int) -> int:
    """TFLite `DownScaleInt32ToInt16Multiplier`: the Q0.31 multiplier rounded to Q0.15."""
    return 32767 if m >= im.INT32_MAX - (1 << 15) else (m + (1 << 15)) >> 16


def hardswish_table(a, s_in, zp_in, s_out, zp_out, node=None) -> np.ndarray:
    """TFLite Micro's int8 HARD_SWISH of every input code."""
    hires = F32(1.0 / 128.0) * F32(s_in)
    out_m, out_e = im.quantize_multiplier(float(hires / F32(s_out)))
    relu_m, relu_e = im.quantize_multiplier(float(hires / F32(3.0 / 32768.0)))
    if out_e > 0:
        where = f"node {node.name!r} (Hardswish)" if node is not None else "Hardswish"
        raise GraphError(f"{where}: output scale {s_out:.3g} is at most input scale / 128 "
                         f"({s_in:.3g} / 128): TFLite's int8 HARD_SWISH needs a larger output scale")
    out_m16, relu_m16 = _to_int16_multiplier(out_m), _to_int16_multiplier(relu_m)
    x = (CODES - zp_in) * 128                                  # on the hires input scale
    pre_out = _srdhm16(x, out_m16)
    reluish = _sat_left16(x, relu_e - 1) if relu_e > 0 else x
    reluish = _srdhm16(reluish, relu_m16)
    if relu_e > 0:
        reluish = _sat_left16(reluish, 1)
    elif relu_e < 0:
        reluish = _rdbpot16(reluish, -relu_e)
    reluish = (reluish + (1 << 15)) >> 1                       # [-1, 1] -> [0, 1] in Q0.15
    prod = reluish * pre_out
    pre_shift = np.sign(prod) * (np.abs(prod) >> 15)          # SaturatingDoublingHighMul: truncates
    y = _rdbpot16(pre_shift, -out_e) + zp_out
    y = ((y + (1 << 15)) & 0xFFFF) - (1 << 15)                 # the sum is stored in an int16
    return np.clip(y, -128, 127).astype(np.int8)


def leaky_relu_table(a, s_in, zp_in, s_out, zp_out, node=None) -> np.ndarray:
    """TFLite Micro's int8 LEAKY_RELU of every input code."""
    s_in, alpha, s_out = (float(F32(v)) for v in (s_in, a["alpha"], s_out))
    alpha_m, alpha_e = im.quantize_multiplier(s_in * alpha / s_out)
    id_m, id_e = im.quantize_multiplier(s_in / s_out)
    for shift, ratio in ((alpha_e, s_in * a["alpha"] / s_out), (id_e, s_in / s_out)):
        if node is not None:
            qparams.shift_ok(shift, abs(ratio), node)
    x = CODES - zp_in
    pos = im.multiply_by_quantized_multiplier(np.maximum(x, 0), id_m, id_e).astype(np.int64)
    neg = im.multiply_by_quantized_multiplier(np.minimum(x, 0), abs(alpha_m), alpha_e).astype(np.int64)
    y = zp_out + np.where(x >= 0, pos, -neg if alpha_m < 0 else neg)
    return np.clip(y, -128, 127).astype(np.int8)


def elu_table(a, s_in, zp_in, s_out, zp_out, node=None) -> np.ndarray:
    """TFLite Micro's ELU table (alpha 1): x < 0 ? expf(x) - 1 : x, in float32; alpha * (expf(x) - 1)
    in float32 for the other alphas."""
    alpha = F32(a["alpha"])

    def f(x):
        em1 = _f32(np.exp, x) - F32(1)
        return np.where(x < 0, em1 if alpha == 1 else alpha * em1, x)
    return float32_table(f, s_in, zp_in, s_out, zp_out)


def gelu_table(a, s_in, zp_in, s_out, zp_out, node=None) -> np.ndarray:
    """Desktop TFLite's GELU table (`GeluTransform`, `GeluTransformApproximate`)."""
    if a["approximate"] == "tanh":
        def f(x):
            inner = _SQRT_2_OVER_PI * (x + F32(0.044715) * x * x * x)
            return F32(0.5) * x * (F32(1) + _f32(np.tanh, inner))
    else:
        def f(x):   # 0.5f * x * (1.f + erf(x * M_SQRT1_2)): the erf term in double, one final rounding
            erf = np.vectorize(math.erf)(x.astype(np.float64) * math.sqrt(0.5))
            return (np.float64(F32(0.5) * x) * (1.0 + erf)).astype(F32)
    return float32_table(f, s_in, zp_in, s_out, zp_out)


def _hardsigmoid(x):
    return np.clip(x + 3.0, 0.0, 6.0) / 6.0


def _silu(x):
    with np.errstate(over="ignore"):
        return x / (1.0 + np.exp(-x))


TABLES = {
    "Hardswish": hardswish_table, "LeakyReLU": leaky_relu_table, "ELU": elu_table, "GELU": gelu_table,
    "Hardsigmoid": lambda a, *p, node=None: float64_table(_hardsigmoid, *p),
    "SiLU": lambda a, *p, node=None: float64_table(_silu, *p),
    "Clamp": lambda a, *p, node=None: float64_table(lambda x: np.clip(x, a["min"], a["max"]), *p),
}


def table(node, ins, out) -> np.ndarray:
    """The int8 output code of `node` for each input code -128..127."""
    return TABLES[node.op](node.attrs, *qparams.sz(ins[0]), *qparams.sz(out), node=node)


reference, _C = table_kernels(table)


# -- float kernels, numpy and torch ---------------------------------------------------------------
def _erf(x):
    from scipy.special import erf
    return erf(x)


def _gelu(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


def _torch(name):
    def fn(x, **a):
        import torch.nn.functional as F
        return {"Hardswish": lambda: F.hardswish(x), "LeakyReLU": lambda: F.leaky_relu(x, a.get("alpha", 0.01)),
                "ELU": lambda: F.elu(x, a.get("alpha", 1.0)),
                "GELU": lambda: F.gelu(x, approximate=a.get("approximate", "none")),
                "Hardsigmoid": lambda: F.hardsigmoid(x), "SiLU": lambda: F.silu(x),
                "Clamp": lambda: x.clamp(a.get("min"), a.get("max"))}[name]()
    return fn


def _shape(where, inputs, a):
    if "approximate" in a and a["approximate"] not in ("none", "tanh"):
        raise GraphError(f"{where}: approximate must be 'none' or 'tanh', got {a['approximate']!r}")
    for k in ("alpha", "min", "max"):      # Clamp's bounds may be infinite (a one-sided clamp)
        if k in a:
            if not isinstance(a[k], (int, float)) or math.isnan(a[k]) or (k == "alpha" and math.isinf(a[k])):
                raise GraphError(f"{where}: {k} must be a {'finite ' * (k == 'alpha')}number, got {a[k]!r}")
            a = {**a, k: float(a[k])}
    if "min" in a and not a["min"] <= a["max"]:
        raise GraphError(f"{where}: min {a['min']} is above max {a['max']}")
    return a, inputs[0].shape


def _size(graph, node) -> int:
    return graph.tensors[node.output].size


_FLOAT = {
    "Hardswish": ({}, lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0),
    "LeakyReLU": ({"alpha": 0.01}, lambda x, alpha=0.01: np.where(x >= 0, x, alpha * x)),
    "ELU": ({"alpha": 1.0}, lambda x, alpha=1.0: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0)))),
    "GELU": ({"approximate": "none"}, _gelu),
    "Hardsigmoid": ({}, _hardsigmoid),
    "SiLU": ({}, _silu),
    "Clamp": ({"min": -1.0, "max": 1.0}, lambda x, min=-1.0, max=1.0: np.clip(x, min, max)),
}
for _name, (_defaults, _fn) in _FLOAT.items():
    register(Op(_name, (1, 1), _defaults, _shape, _fn, _torch(_name), reference, _C,
                kind="elementwise", element_ops=_size, code_bytes=768))
