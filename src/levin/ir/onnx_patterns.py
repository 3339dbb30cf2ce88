"""Rewrites of an ONNX node list before import: what exporters split into several nodes, levin
holds as one op.

Read me first. `rewrite` runs once, on the records of `levin.ir.onnx_read`, and returns a `Plan`:
- Constant nodes become constants (so that the patterns below see their values).
- MatMul + Add of a constant bias: the Add is folded into the MatMul's Linear (`matmul_bias`).
- Conv / Gemm / MatMul(+Add) + BatchNormalization (inference mode): the BN is folded into the
  weights and bias (`fold_bn`, the arithmetic of `torch_ops._fold_bn`).
- x / sqrt(2) -> Erf -> + 1 -> * x -> * 0.5 (GELU as opset < 20 exports it) becomes one Gelu node.
- x * HardSigmoid(x) (alpha 1/6, beta 1/2; HardSwish as opset < 14 exports it) becomes HardSwish.
A pattern matches only where its inner tensors have one consumer and are no graph outputs, so a
rewrite never changes what another node reads. Folded nodes' outputs stand for the head's
(`Plan.folds`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from levin.ir.onnx_read import ModelRecord, NodeRecord

PATTERN_OPS = {"Erf"}        # ops levin reads only as part of a pattern


@dataclass
class Plan:
    nodes: list[NodeRecord]
    folds: dict[str, tuple[str, ...]] = field(default_factory=dict)   # head node -> outputs it stands for
    bn: dict[str, NodeRecord] = field(default_factory=dict)            # Conv/Gemm/MatMul -> BN folded in
    bias: dict[str, str] = field(default_factory=dict)                 # MatMul -> constant bias name


def constant_value(node: NodeRecord) -> np.ndarray | None:
    a = node.attrs
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        if a.get(key) is not None:
            return np.asarray(a[key], np.float32 if "float" in key else np.int64 if "int" in key else None)
    return None


def _close(c: np.ndarray | None, v: float) -> bool:
    return c is not None and c.size == 1 and c.dtype.kind == "f" and math.isclose(float(c.reshape(-1)[0]), v, rel_tol=1e-5)


def rewrite(model: ModelRecord, consts: dict[str, np.ndarray]) -> Plan:
    """The node list to import; Constant nodes' values are added to `consts`."""
    nodes = []
    for n in model.nodes:
        v = constant_value(n) if n.op == "Constant" else None
        if v is not None and len(n.outputs) == 1:
            consts[n.outputs[0]] = v
        else:
            nodes.append(n)
    uses: dict[str, int] = {}
    for n in nodes:
        for i in n.inputs:
            uses[i] = uses.get(i, 0) + 1
    for o in model.outputs:
        uses[o] = uses.get(o, 0) + 2
    producer = {o: n for n in nodes for o in n.outputs}
    plan = Plan(nodes)
    drop: set[str] = set()
    replace: dict[str, NodeRecord] = {}

    def single(name: str) -> NodeRecord | None:
        """The producer of `name` if `name` has one consumer and is no graph output."""
        p = producer.get(name)
        return p if p is not None and uses.get(name) == 1 and p.name not in drop else None

    def other(n: NodeRecord, name: str) -> str:
        return n.inputs[1] if n.inputs[0] == name else n.inputs[0]

    for n in nodes:
        if n.op == "Add" and len(n.inputs) == 2:
            for k in (0, 1):
                m = single(n.inputs[k])
                b = consts.get(n.inputs[1 - k])
                if m is not None and m.op == "MatMul" and m.inputs[1] in consts and b is not None and b.ndim <= 2:
                    plan.bias[m.name] = n.inputs[1 - k]
                    plan.folds[m.name] = plan.folds.get(m.name, ()) + (n.outputs[0],)
                    drop.add(n.name)
                    break
        elif n.op == "BatchNormalization" and all(i in consts for i in n.inputs[1:5]) \
                and not n.attrs.get("training_mode", 0) and not any(n.outputs[1:]):
            head = single(n.inputs[0])
            if head is not None and head.name in drop:      # a MatMul's folded Add: its head
                head = None
            if head is None:
                add = next((h for h, outs in plan.folds.items() if n.inputs[0] in outs), None)
                head = next((h for h in nodes if h.name == add), None) if uses.get(n.inputs[0]) == 1 else None
            if head is not None and head.op in ("Conv", "ConvTranspose", "Gemm", "MatMul") and head.name not in plan.bn:
                plan.bn[head.name] = n
                plan.folds[head.name] = plan.folds.get(head.name, ()) + (n.outputs[0],)
                drop.add(n.name)
        elif n.op == "Erf":
            div, add = single(n.inputs[0]), None
            ok = div is not None and (div.op == "Div" and _close(consts.get(div.inputs[1]), math.sqrt(2))
                                      or div.op == "Mul" and _close(consts.get(div.inputs[1]), math.sqrt(0.5)))
            add = next((c for c in nodes if n.outputs[0] in c.inputs and c.op == "Add"), None) if ok else None
            ok = add is not None and uses.get(n.outputs[0]) == 1 and _close(consts.get(other(add, n.outputs[0])), 1.0)
            mul = next((c for c in nodes if c.op == "Mul" and add.outputs[0] in c.inputs), None) if ok else None
            ok = mul is not None and uses.get(add.outputs[0]) == 1 and other(mul, add.outputs[0]) == div.inputs[0]
            half = next((c for c in nodes if c.op == "Mul" and mul.outputs[0] in c.inputs), None) if ok else None
            if half is not None and uses.get(mul.outputs[0]) == 1 and _close(consts.get(other(half, mul.outputs[0])), 0.5):
                drop.update((div.name, n.name, add.name, mul.name))
                replace[half.name] = NodeRecord(half.name, "Gelu", (div.inputs[0],), half.outputs, {})
        elif n.op == "Mul" and len(n.inputs) == 2:
            for k in (0, 1):
                hs = single(n.inputs[k])
                if hs is not None and hs.op == "HardSigmoid" and hs.inputs[0] == n.inputs[1 - k] and \
                        _close(np.float32([hs.attrs.get("alpha", 0.2)]), 1 / 6) and hs.attrs.get("beta", 0.5) == 0.5:
                    drop.add(hs.name)
                    replace[n.name] = NodeRecord(n.name, "HardSwish", (hs.inputs[0],), n.outputs, {})
                    break
    plan.nodes = [replace.get(n.name, n) for n in nodes if n.name not in drop]
    return plan


def bn_affine(imp, bn: NodeRecord) -> tuple[np.ndarray, np.ndarray]:
    """(scale, shift) per channel of an inference-mode BatchNormalization."""
    gamma, beta, mean, var = (imp.const(i, what).astype(np.float64).reshape(-1)
                              for i, what in zip(bn.inputs[1:5], ("scale", "B", "mean", "var")))
    if not gamma.size == beta.size == mean.size == var.size:
        raise imp.fail(f"BatchNormalization {bn.name!r}: scale, B, mean and var differ in length")
    scale = gamma / np.sqrt(var + bn.attrs.get("epsilon", 1e-5))
    return scale, beta - mean * scale


def fold_bn(imp, node: NodeRecord, w: np.ndarray, b: np.ndarray | None):
    """w [out, ...], b of `node` with the BatchNormalization after it folded in (if any)."""
    bn = imp.plan.bn.get(node.name)
    if bn is None:
        return w, b
    scale, shift = bn_affine(imp, bn)
    if scale.size != w.shape[0]:
        raise imp.fail(f"BatchNormalization {bn.name!r} has {scale.size} channels, the layer {w.shape[0]}")
    return w * scale.reshape((-1,) + (1,) * (w.ndim - 1)), (0.0 if b is None else b) * scale + shift


def matmul_bias(imp, node: NodeRecord) -> np.ndarray | None:
    name = imp.plan.bias.get(node.name)
    return None if name is None else imp.consts[name]
