"""Concat along one axis. TFLite: CONCATENATION. PTQ ties the inputs and the output to one
(scale, zero point) (`output_quant="inputs"`), as TFLite's converter does and TFLite Micro's int8
kernel requires (it copies codes). The integer kernel still takes inputs whose parameters differ
from the output's (imported graphs, hand-built ones), requantized as TFLite's int8 -> int8
QUANTIZE; C: `levin_concat_s8` (levin_elementwise.c)."""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin.ops import cparams, qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import axis


def shape(where, inputs, a):
    first = inputs[0].shape
    ax = a["axis"] = axis(where, a["axis"], len(first))
    for t in inputs[1:]:
        if len(t.shape) != len(first) or any(d != e for i, (d, e) in enumerate(zip(t.shape, first)) if i != ax):
            raise GraphError(f"{where}: shapes {first} and {t.shape} differ outside axis {ax}")
    return a, first[:ax] + (sum(t.shape[ax] for t in inputs),) + first[ax + 1:]


def reference(node, args, ins, out, single_round=False):
    parts = [qparams.rescale(x, t, out, -128, 127, single_round, node=node) for x, t in zip(args, ins)]
    return np.concatenate(parts, axis=node.attrs["axis"])


def prepare(ctx, node, k: int) -> dict:
    out = ctx.graph.tensors[node.output]
    ax = node.attrs["axis"]
    ins = [ctx.graph.tensors[i] for i in node.inputs]
    outer = int(np.prod(out.shape[:ax], dtype=np.int64))
    return {"ins": [ctx.ptr(i) for i in node.inputs], "out": ctx.ptr(node.output), "outer": outer,
            "inner": [int(np.prod(t.shape[ax:], dtype=np.int64)) for t in ins],
            "rescale": [cparams.rescale(t, out, -128, 127, False) for t in ins]}


def _concat_torch(*xs, axis):
    import torch
    return torch.cat(xs, dim=axis)


CONCAT = register(Op(
    "Concat", (1, -1), {"axis": -1}, shape, lambda *xs, axis: np.concatenate(xs, axis=axis), _concat_torch,
    reference, CBinding("op_concat.c.j2", prepare, ("levin_elementwise.c",)), code_bytes=384,
    output_quant="inputs"))
