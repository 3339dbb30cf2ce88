"""Add: elementwise sum of two tensors, with numpy broadcasting. TFLite: ADD. Integer kernel:
TFLite `AddElementwise` / `BroadcastAdd4DSlow` (inputs rescaled to a shared 20-bit left-shifted
scale); C: `levin_binary_add_s8` (levin_binary.c; one row when the shapes are equal). Either input
may be a constant (`x + 1`), quantized by PTQ per tensor from its own range. The family's other
ops and why in-place is safe under broadcasting: `ops/binary.py`."""

from __future__ import annotations

import numpy as np

from levin import intmath as im
from levin.ops import broadcast, qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import broadcast as broadcast_shape


def params(ins, out) -> im.AddParams:
    return im.add_params(*qparams.sz(ins[0]), *qparams.sz(ins[1]), *qparams.sz(out))


def reference(node, args, ins, out, single_round=False):
    return im.add_quantized(args[0], args[1], params(ins, out), single_round=single_round)


def prepare(ctx, node, k: int) -> dict:
    ins = [ctx.graph.tensors[i] for i in node.inputs]
    p = params(ins, ctx.graph.tensors[node.output])
    return {**broadcast.prepare(ctx, node, k, vars(p)), "ctype": "levin_add_params",
            "kernel": "levin_binary_add_s8"}


def _add_torch(a, b):
    import torch
    return torch.add(a, b)


ADD = register(Op(
    "Add", (2, 2), {}, broadcast_shape, np.add, _add_torch, reference,
    CBinding("op_binary.c.j2", prepare, ("levin_binary.c",)), kind="elementwise",
    element_ops=lambda graph, node: graph.tensors[node.output].size, code_bytes=512,
    fuses_activation=True, constant_inputs=(0, 1)))
