"""Linear: fully connected, input [N, in], weights [out, in], optional int32 bias. TFLite:
FULLY_CONNECTED. Integer kernel: TFLite reference `integer_ops::FullyConnected` (per-channel or
per-tensor weights); C: `levin_linear_s8` (levin_linear.c)."""

from __future__ import annotations

import numpy as np

from levin.errors import GraphError
from levin.ops import cparams, qparams
from levin.ops.registry import CBinding, Op, register
from levin.ops.shapes import rank


def shape(where, inputs, a):
    x, w = inputs[0], inputs[1]
    rank(x, 2, where)
    rank(w, 2, where, "weight")
    if w.shape[1] != x.shape[1]:
        raise GraphError(f"{where}: weight {w.shape} ([out, in]) does not take {x.shape[1]} features")
    if len(inputs) == 3 and inputs[2].shape != (w.shape[0],):
        raise GraphError(f"{where}: bias shape {inputs[2].shape} must be ({w.shape[0]},)")
    return a, (x.shape[0], w.shape[0])


def evaluate(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def evaluate_torch(x, w, b=None):
    import torch.nn.functional as F

    return F.linear(x, w, b)


def reference(node, args, ins, out, single_round=False):
    x, w, *b = args
    qparams.symmetric(node, ins[1])
    _, zp = qparams.sz(ins[0])
    acc = qparams.accumulate((x.astype(np.float64) - zp) @ w.T.astype(np.float64), node, b[0] if b else None)
    return qparams.requantize(acc, node, ins[0], ins[1], out, single_round=single_round)


def prepare(ctx, node, k: int) -> dict:
    w_t = ctx.graph.tensors[node.inputs[1]]
    d = cparams.weighted(ctx, node, k, 3, 4)   # coded rows four at a time (levin_linear.c)
    d["params"] = dict(in_features=w_t.shape[1], out_features=w_t.shape[0], in_zp=d["in_zp"],
                       out_zp=d["out_zp"], **d["act"])
    return d


def kernel_paths(d: dict) -> set[str]:
    """The optional paths of levin_linear_s8 this call runs (levin_linear.c)."""
    paths = _format_paths(d["weights"])
    if "LINEAR_PACKED8" in paths and _packed8_leaves_int8(d["weights"], d["arrays"]):
        paths.add("PACKED8_CHECK")
    return (paths | ({"REQUANT_WIDE"} if d["requant_wide"] else set())
            | ({"LEFT_SHIFT"} if d["left_shift"] else set()))


def _packed8_leaves_int8(w: dict, arrays: dict) -> bool:
    """True when a symbol of packed 8-bit weights (value = offset + symbol) lies above int8: the
    kernel then needs its check (the symbols are the payload's bytes, one each)."""
    data = arrays.get(w["data"]) if w["data"] else None
    return data is None or (len(data) > 0 and w["offset"] + int(np.max(data)) > 127)


def _format_paths(w: dict) -> set[str]:
    if cparams.sparse(w):
        return {"CODED_LINEAR", "SPARSE"}
    if not cparams.coded_dense(w):
        return set()
    if w["coder"] == cparams.CODER_PACK and w["bits"] == 8:
        return {"LINEAR_BOOK8" if w["codebook"] else "LINEAR_PACKED8"}
    return {"CODED_LINEAR"}


def _macs(graph, node) -> int:
    return graph.tensors[node.output].size * graph.tensors[node.inputs[1]].shape[1]


def _bias_adds(graph, node) -> int:
    return graph.tensors[node.output].size if len(node.inputs) == 3 else 0


LINEAR = register(Op(
    "Linear", (2, 3), {}, shape, evaluate, evaluate_torch, reference,
    CBinding("op_linear.c.j2", prepare, ("levin_linear.c",), kernel_paths),
    macs=_macs, element_ops=_bias_adds, code_bytes=1024, weighted=True, fuses_activation=True))
