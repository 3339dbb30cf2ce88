"""Elementwise binary ops with numpy broadcasting: Mul, Sub, Maximum, Minimum (Add: `ops/add.py`).

Read me first. Each follows TFLite Micro's int8 kernel, so levin's reference and C are bit-exact
with it (tests/ops/test_binary.py runs both against TFLite Micro):
- MUL (`CalculateOpDataMul`, `reference_integer_ops::MulElementwise` / `BroadcastMul4DSlow`):
  zp_out + MultiplyByQuantizedMultiplier((x1 - zp1) * (x2 - zp2), m, shift), clamped; m and shift
  from s1 * s2 / s_out taken in double from the float32 scales (a ratio above 1 is a left shift).
- SUB (`CalculateOpDataSub`, `SubElementwise`): ADD's parameters (inputs shifted left by 20,
  rescaled by s_i / (2 max(s1, s2)), the result by 2 max(s1, s2) / (2^20 s_out)), the rescaled
  second input subtracted (`intmath.add_quantized(subtract=True)`).
- MAXIMUM / MINIMUM (`MaximumMinimumBroadcastSlow`): the larger / smaller int8 code, with no
  rescaling at all -- TFLite Micro checks nothing, so levin requires one (scale, zero point) on
  both inputs and the output (`output_quant="inputs"`: PTQ gives them one) and refuses others.
Shapes broadcast as numpy's, up to rank 4 (`shapes.broadcast`); the C kernels take the iteration
computed at generation time (`ops/broadcast.py`). Mul and Sub may take a constant operand
(`x * 0.5`, `1 - x`, a learned scale), quantized by PTQ per tensor from its own range.
Planner kind "elementwise": the planner only lets the output reuse an input of the output's byte
size, which under broadcasting is an input of the output's shape, read at exactly the index the
kernel writes -- so in place is safe even when the other input broadcasts.
"""

from __future__ import annotations

import numpy as np

from levin import intmath as im
from levin.ops import broadcast, qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import broadcast as broadcast_shape


# -- integer kernels (TFLite Micro) ---------------------------------------------------------------
def mul_params(node, ins, out) -> dict[str, int]:
    """TFLite Micro `CalculateOpDataMul` for int8 (activation NONE: levin keeps ReLUs as nodes)."""
    (s1, zp1), (s2, zp2), (so, zpo) = (qparams.sz(t) for t in (*ins, out))
    real = float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(so))
    m, shift = im.quantize_multiplier(real)
    qparams.shift_ok(shift, real, node)
    return {"input1_offset": -zp1, "input2_offset": -zp2, "output_offset": zpo,
            "output_multiplier": m, "output_shift": shift, "act_min": -128, "act_max": 127}


def mul_reference(node, args, ins, out, single_round=False):
    p = mul_params(node, ins, out)
    prod = (args[0].astype(np.int64) + p["input1_offset"]) * (args[1].astype(np.int64) + p["input2_offset"])
    y = im.multiply_by_quantized_multiplier(prod, p["output_multiplier"], p["output_shift"],
                                            single_round=single_round).astype(np.int64)
    return np.clip(y + p["output_offset"], -128, 127).astype(np.int8)


def sub_params(ins, out) -> im.AddParams:
    return im.add_params(*qparams.sz(ins[0]), *qparams.sz(ins[1]), *qparams.sz(out))


def sub_reference(node, args, ins, out, single_round=False):
    return im.add_quantized(args[0], args[1], sub_params(ins, out), single_round=single_round,
                            subtract=True)


def _same_params(node, ins, out) -> None:
    for t in ins:
        qparams.same_params(t, out, node)


def max_reference(node, args, ins, out, single_round=False):
    _same_params(node, ins, out)
    return np.maximum(args[0], args[1]).astype(np.int8)


def min_reference(node, args, ins, out, single_round=False):
    _same_params(node, ins, out)
    return np.minimum(args[0], args[1]).astype(np.int8)


# -- C ------------------------------------------------------------------------------------------
def _tensors(ctx, node):
    return [ctx.graph.tensors[i] for i in node.inputs], ctx.graph.tensors[node.output]


def mul_prepare(ctx, node, k: int) -> dict:
    ins, out = _tensors(ctx, node)
    return {**broadcast.prepare(ctx, node, k, mul_params(node, ins, out)),
            "ctype": "levin_mul_params", "kernel": "levin_binary_mul_s8"}


def sub_prepare(ctx, node, k: int) -> dict:
    ins, out = _tensors(ctx, node)
    return {**broadcast.prepare(ctx, node, k, vars(sub_params(ins, out))),
            "ctype": "levin_add_params", "kernel": "levin_binary_sub_s8"}


def _minmax_prepare(kernel):
    def prepare(ctx, node, k: int) -> dict:
        ins, out = _tensors(ctx, node)
        _same_params(node, ins, out)
        return {**broadcast.prepare(ctx, node, k, None), "ctype": "", "kernel": kernel}
    return prepare


# -- float kernels -------------------------------------------------------------------------------
def _torch(name):
    def fn(a, b):
        import torch
        return getattr(torch, name)(a, b)
    return fn


def _size(graph, node) -> int:
    return graph.tensors[node.output].size


SOURCES = ("levin_binary.c",)
MUL = register(Op(
    "Mul", (2, 2), {}, broadcast_shape, np.multiply, _torch("mul"), mul_reference,
    CBinding("op_binary.c.j2", mul_prepare, SOURCES), kind="elementwise", macs=_size,
    code_bytes=384, fuses_activation=True, constant_inputs=(0, 1)))
SUB = register(Op(
    "Sub", (2, 2), {}, broadcast_shape, np.subtract, _torch("sub"), sub_reference,
    CBinding("op_binary.c.j2", sub_prepare, SOURCES), kind="elementwise", element_ops=_size,
    code_bytes=512, fuses_activation=True, constant_inputs=(0, 1)))
MAXIMUM = register(Op(
    "Maximum", (2, 2), {}, broadcast_shape, np.maximum, _torch("maximum"), max_reference,
    CBinding("op_binary.c.j2", _minmax_prepare("levin_binary_max_s8"), SOURCES), kind="elementwise",
    element_ops=_size, code_bytes=256, output_quant="inputs", requantizes=False))
MINIMUM = register(Op(
    "Minimum", (2, 2), {}, broadcast_shape, np.minimum, _torch("minimum"), min_reference,
    CBinding("op_binary.c.j2", _minmax_prepare("levin_binary_min_s8"), SOURCES), kind="elementwise",
    element_ops=_size, code_bytes=256, output_quant="inputs", requantizes=False))
