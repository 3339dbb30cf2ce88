"""Reductions over axes: Mean, Sum and ReduceMax. TFLite: MEAN, SUM, REDUCE_MAX.

Read me first. Each follows TFLite Micro's int8 kernel (`reduce_common.cc`, `reference_ops::
QuantizedMeanOrSum` / `Mean` / `ReduceGeneric`), so levin's reference and C are bit-exact with it
(tests/ops/test_layout.py runs both against TFLite Micro):
- MEAN: m, shift = QuantizeMultiplier(s_in / s_out) (double from the float32 scales);
  the 1 / count is folded in: c = min(floor(log2 count), 32, 31 + shift), m = (m << c) / count
  (int64, truncated), shift -= c; then zp_out + MultiplyByQuantizedMultiplier(sum - zp_in * count,
  m, shift), clamped -- also when input and output share their parameters (some TFLite Micro
  versions then divide the raw sum, truncating; the one levin tests against, and CMSIS-NN's
  arm_mean_s8, do not). This differs from AVERAGE_POOL_2D (sum / count rounded half away from zero,
  same parameters), which is why a captured mean over H and W stays a GlobalAvgPool.
- SUM: the same without the count fold.
- REDUCE_MAX: the largest code; TFLite Micro requires one (scale, zero point) in and out.
Axes are IR (NHWC) axes; the batch axis is never reduced (levin runs one sample at a time).
C: `levin_reduce_s8` (levin_reduce.c), over the input padded to rank 4 in front.
"""

from __future__ import annotations

import math

import numpy as np

from levin import intmath as im
from levin.errors import GraphError
from levin.ops import qparams
from levin.ops.registry import CBinding, Op, register

MODES = {"Mean": 0, "Sum": 1, "ReduceMax": 2}


def shape(where, inputs, a):
    x = inputs[0].shape
    r = len(x)
    if r > 4:
        raise GraphError(f"{where}: input rank {r}; reductions take rank <= 4")
    axes = a["axes"]
    if axes is None:
        raise GraphError(f"{where}: attribute 'axes' is required")
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    if not axes or any(not isinstance(v, (int, np.integer)) or not -r <= v < r for v in axes):
        raise GraphError(f"{where}: axes {a['axes']!r} must be axes of a rank-{r} input")
    axes = tuple(sorted({int(v) % r for v in axes}))
    if r > 1 and 0 in axes:
        raise GraphError(f"{where}: the batch axis 0 cannot be reduced (levin runs one sample at a time)")
    a["axes"], a["keepdims"] = axes, bool(a["keepdims"])
    out = tuple(1 if i in axes else d for i, d in enumerate(x)) if a["keepdims"] else \
        tuple(d for i, d in enumerate(x) if i not in axes)
    return a, out


def count(in_shape, axes) -> int:
    return math.prod(in_shape[i] for i in axes)


def params(node, t_in, t_out, n: int, single_round: bool = False) -> dict[str, int]:
    """The kernel's parameters, derived as TFLite Micro derives them (see the module docstring)."""
    (s_in, zp_in), (s_out, zp_out) = qparams.sz(t_in), qparams.sz(t_out)
    p = {"mode": MODES[node.op], "count": n, "in_zp": zp_in, "out_zp": zp_out, "multiplier": 0,
         "shift": 0}
    if node.op == "ReduceMax":
        qparams.same_params(t_in, t_out, node)
        return p
    ratio = qparams.rescale_ratio(s_in, s_out, False)
    m, shift = im.quantize_multiplier(ratio, single_round=single_round)
    qparams.shift_ok(shift, ratio, node)
    if node.op == "Mean":
        c = min(n.bit_length() - 1, 32, 31 + shift)
        m, shift = (int(m) << c) // n, shift - c
    p["multiplier"], p["shift"] = int(m), int(shift)
    return p


def reference(node, args, ins, out, single_round=False):
    x = args[0]
    a = node.attrs
    axes = tuple(i + x.ndim - len(ins[0].shape) for i in a["axes"])   # a batch of samples
    n = count(ins[0].shape, a["axes"])
    p = params(node, ins[0], out, n, single_round)
    if node.op == "ReduceMax":
        return x.max(axis=axes, keepdims=a["keepdims"]).astype(np.int8)
    total = x.astype(np.int64).sum(axis=axes, keepdims=a["keepdims"])
    y = im.multiply_by_quantized_multiplier(total - p["in_zp"] * n, p["multiplier"], p["shift"],
                                            single_round=single_round)
    return np.clip(np.asarray(y, np.int64) + p["out_zp"], -128, 127).astype(np.int8)


def prepare(ctx, node, k: int) -> dict:
    t_in, t_out = ctx.graph.tensors[node.inputs[0]], ctx.graph.tensors[node.output]
    pad = 4 - len(t_in.shape)
    dims = (1,) * pad + tuple(t_in.shape)
    reduce = [int(i - pad in node.attrs["axes"]) if i >= pad else 0 for i in range(4)]
    p = params(node, t_in, t_out, count(t_in.shape, node.attrs["axes"]))
    return {"params": {"dims": "{" + ", ".join(map(str, dims)) + "}",
                       "reduce": "{" + ", ".join(map(str, reduce)) + "}", **p},
            "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output)}


# -- float kernels -------------------------------------------------------------------------------
def _torch(name):
    def fn(x, *, axes, keepdims):
        import torch
        if name == "amax":
            return torch.amax(x, dim=axes, keepdim=keepdims)
        return getattr(torch, name)(x, dim=axes, keepdim=keepdims)
    return fn


def _input_size(graph, node) -> int:
    return graph.tensors[node.inputs[0]].size


DEFAULTS = {"axes": None, "keepdims": True}
_C = CBinding("op_reduce.c.j2", prepare, ("levin_reduce.c",))
MEAN = register(Op(
    "Mean", (1, 1), DEFAULTS, shape, lambda x, axes, keepdims: x.mean(axis=axes, keepdims=keepdims),
    _torch("mean"), reference, _C, element_ops=_input_size, code_bytes=448))
SUM = register(Op(
    "Sum", (1, 1), DEFAULTS, shape, lambda x, axes, keepdims: x.sum(axis=axes, keepdims=keepdims),
    _torch("sum"), reference, _C, element_ops=_input_size, code_bytes=448))
REDUCE_MAX = register(Op(
    "ReduceMax", (1, 1), DEFAULTS, shape, lambda x, axes, keepdims: x.max(axis=axes, keepdims=keepdims),
    _torch("amax"), reference, _C, element_ops=_input_size, code_bytes=448, output_quant="input",
    requantizes=False))
