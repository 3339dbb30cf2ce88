"""ReLU and ReLU6. TFLite: RELU / RELU6, or fused into the producer's output range. Integer
kernel: TFLite `ReluX`, zp_out + (x - zp_in) * (s_in / s_out) with the ratio in float32, clamped
to the activation range; a plain clamp when fused (same parameters in and out; ReLU6 still clamps
at the code of 6.0). C: `levin_rescale_s8` (levin_elementwise.c)."""

from __future__ import annotations

import numpy as np

from levin import intmath as im
from levin.ops import cparams, qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import unary

_TFLITE = {"ReLU": "RELU", "ReLU6": "RELU6"}


def _range(node, out) -> tuple[int, int]:
    return im.activation_range(_TFLITE[node.op], *qparams.sz(out))


def reference(node, args, ins, out, single_round=False):
    lo, hi = _range(node, out)
    return qparams.rescale(args[0], ins[0], out, lo, hi, single_round, float_ratio=True, node=node)


def prepare(ctx, node, k: int) -> dict:
    t_in, t_out = ctx.graph.tensors[node.inputs[0]], ctx.graph.tensors[node.output]
    lo, hi = _range(node, t_out)
    return {"params": cparams.rescale(t_in, t_out, lo, hi, True), "in": ctx.ptr(node.inputs[0]),
            "out": ctx.ptr(node.output), "n": t_out.size}


def _size(graph, node) -> int:
    return graph.tensors[node.output].size


def _relu_torch(x):
    import torch
    return torch.relu(x)


def _relu6_torch(x):
    import torch
    return torch.clamp(x, 0, 6)


_C = CBinding("op_rescale.c.j2", prepare, ("levin_elementwise.c",))
RELU = register(Op("ReLU", (1, 1), {}, unary, lambda x: np.maximum(x, 0), _relu_torch, reference, _C,
                   kind="elementwise", element_ops=_size, code_bytes=128, fusable_activation=True,
                   fused_on_grid=True))
RELU6 = register(Op("ReLU6", (1, 1), {}, unary, lambda x: np.clip(x, 0, 6), _relu6_torch, reference, _C,
                    kind="elementwise", element_ops=_size, code_bytes=128, fusable_activation=True))
