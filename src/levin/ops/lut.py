"""Sigmoid and Tanh through a 256-entry table of the float function at each input code, rounded
half away from zero onto the fixed output grid (sigmoid: 1/256, -128; tanh: 1/128, 0). Exact by
construction between the reference and the C runtime (`levin_lut_s8`, levin_elementwise.c), which
use the same table; TFLite's LOGISTIC / TANH kernels may differ from it by an LSB."""

from __future__ import annotations

import numpy as np

from levin import intmath as im
from levin.ops import qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import unary

_FUNCTIONS = {"Sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)), "Tanh": np.tanh}


def table(node, ins, out) -> np.ndarray:
    """The int8 output code for each input code -128..127."""
    (s_in, zp_in), (s_out, zp_out) = qparams.sz(ins[0]), qparams.sz(out)
    codes = np.arange(-128, 128, dtype=np.float64)
    real = np.float64(np.float32(s_in)) * (codes - zp_in)
    with np.errstate(over="ignore"):  # exp(-v) = inf for very negative v: 1 / inf = 0, as it should
        codes = im.round_half_away(_FUNCTIONS[node.op](real) / np.float64(np.float32(s_out))) + zp_out
    return np.clip(codes, -128, 127).astype(np.int8)


def table_kernels(table):
    """The integer kernel and C binding of an op that is a 256-entry table of its input code:
    `table(node, ins, out)` gives the int8 output code of each input code -128..127."""
    def reference(node, args, ins, out, single_round=False):
        return table(node, ins, out)[args[0].astype(np.int64) + 128]

    def prepare(ctx, node, k: int) -> dict:
        ins = [ctx.graph.tensors[i] for i in node.inputs]
        return {"arrays": {f"n{k}_table": table(node, ins, ctx.graph.tensors[node.output])},
                "table": f"n{k}_table", "in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output),
                "n": ctx.graph.tensors[node.output].size}

    return reference, CBinding("op_lut.c.j2", prepare, ("levin_elementwise.c",))


def _size(graph, node) -> int:
    return graph.tensors[node.output].size


def _sigmoid_torch(x):
    import torch
    return torch.sigmoid(x)


def _tanh_torch(x):
    import torch
    return torch.tanh(x)


reference, _C = table_kernels(table)
SIGMOID = register(Op("Sigmoid", (1, 1), {}, unary, _FUNCTIONS["Sigmoid"], _sigmoid_torch, reference, _C,
                      kind="elementwise", element_ops=_size, code_bytes=768, output_quant=(1.0 / 256, -128)))
TANH = register(Op("Tanh", (1, 1), {}, unary, np.tanh, _tanh_torch, reference, _C,
                   kind="elementwise", element_ops=_size, code_bytes=768, output_quant=(1.0 / 128, 0)))
