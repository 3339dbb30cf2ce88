"""Softmax along one axis. TFLite: SOFTMAX; int8 output scale 1/256, zero point -128. Integer
kernel: TFLite Micro's gemmlowp fixed-point reference (arithmetic below); C: `levin_softmax_s8`."""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin.ops import qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import axis
from levin.quant.softmax import softmax_params, softmax_quantized  # temporary: moves here


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
