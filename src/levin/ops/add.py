"""Add: elementwise sum of two tensors of one shape. TFLite: ADD. Integer kernel: TFLite
`AddElementwise` (inputs rescaled to a shared 20-bit left-shifted scale); C: `levin_add_s8`
(levin_elementwise.c)."""

from __future__ import annotations

import numpy as np

from levin import intmath as im
from levin.ops import qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import same


def reference(node, args, ins, out, single_round=False):
    p = im.add_params(*qparams.sz(ins[0]), *qparams.sz(ins[1]), *qparams.sz(out))
    return im.add_quantized(args[0], args[1], p, single_round=single_round)


def prepare(ctx, node, k: int) -> dict:
    t = [ctx.graph.tensors[i] for i in (*node.inputs, node.output)]
    p = im.add_params(*qparams.sz(t[0]), *qparams.sz(t[1]), *qparams.sz(t[2]))
    return {"params": vars(p), "in1": ctx.ptr(node.inputs[0]), "in2": ctx.ptr(node.inputs[1]),
            "out": ctx.ptr(node.output), "n": t[2].size}


def _add_torch(a, b):
    import torch
    return torch.add(a, b)


ADD = register(Op(
    "Add", (2, 2), {}, same, np.add, _add_torch, reference,
    CBinding("op_add.c.j2", prepare, ("levin_elementwise.c",)), kind="elementwise",
    element_ops=lambda graph, node: graph.tensors[node.output].size, code_bytes=512, fuses_activation=True))
