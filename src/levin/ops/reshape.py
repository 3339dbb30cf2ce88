"""Reshape (flatten included): the same bytes, reinterpreted; the planner aliases the output to
the input, so it costs no copy. TFLite: RESHAPE. Codes and parameters unchanged."""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin.ops import qparams
from levin.ops.registry import CBinding, Op, register


def shape(where, inputs, a):
    target = a["shape"]
    if target is None:
        raise GraphError(f"{where}: attribute 'shape' is required")
    target = tuple(int(d) for d in target)
    size = inputs[0].size
    if target.count(-1) == 1:
        rest = int(np.prod([d for d in target if d != -1]))
        target = tuple(size // rest if d == -1 else d for d in target) if rest and size % rest == 0 else target
    if any(d < 1 for d in target) or int(np.prod(target)) != size:
        raise GraphError(f"{where}: cannot reshape {inputs[0].shape} ({size} elements) to {a['shape']}")
    a["shape"] = target
    return a, target


def _keep_batch(x, shape):
    return x.reshape((x.shape[0],) + tuple(shape[1:]))


def reference(node, args, ins, out, single_round=False):
    qparams.same_params(ins[0], out, node)
    return _keep_batch(args[0], node.attrs["shape"])


def prepare(ctx, node, k: int) -> dict:
    same = ctx.plan.offset(node.inputs[0]) == ctx.plan.offset(node.output)
    return {"in": ctx.ptr(node.inputs[0]), "out": ctx.ptr(node.output),
            "n": ctx.graph.tensors[node.output].size, "alias": same}


RESHAPE = register(Op(
    "Reshape", (1, 1), {"shape": None}, shape, lambda x, shape: x.reshape(shape), _keep_batch, reference,
    CBinding("op_copy.c.j2", prepare), kind="alias", output_quant="input", requantizes=False))
