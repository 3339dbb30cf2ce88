"""What the C kernels of the binary ops (levin_binary.c) need: the broadcast iteration, computed
at generation time, and the operands as C pointers (an activation in the arena, or a constant
operand as const data).

Read me first. `levin_binary_*_s8` walk the output as up to four nested dimensions, the innermost
a contiguous row, reading each input at its own element strides (0 along a dimension it
broadcasts). `layout` pads both input shapes to the output's rank 4 (leading 1s, numpy's rule)
and merges neighbouring dimensions that both inputs walk alike, so equal shapes become one row
of n elements (the fast path: one loop) and [N,H,W,C] * [N,1,1,C] becomes H*W rows of C.
"""

from __future__ import annotations

import numpy as np


def _pad4(shape) -> tuple[int, ...]:
    return (1,) * (4 - len(shape)) + tuple(int(d) for d in shape)


def layout(shape1, shape2, out_shape) -> dict[str, list[int]]:
    """`levin_broadcast` fields: the output's dims and each input's strides (elements), 4 each."""
    out = _pad4(out_shape)
    strides = []
    for shape in (_pad4(shape1), _pad4(shape2)):
        contiguous = np.cumprod((1,) + shape[:0:-1])[::-1]          # row-major strides of `shape`
        strides.append([int(s) if d == o else 0 for d, o, s in zip(shape, out, contiguous)])
    dims = [(o, s1, s2) for o, s1, s2 in zip(out, *strides) if o != 1]
    merged: list[tuple[int, int, int]] = []
    for o, s1, s2 in dims:                    # outer to inner: fold the previous dim into this one
        if merged and merged[-1][1] == s1 * o and merged[-1][2] == s2 * o:
            po = merged.pop()[0]
            o = po * o
        merged.append((o, s1, s2))
    merged = [(1, 0, 0)] * (4 - len(merged)) + merged
    return {"dims": [m[0] for m in merged], "stride1": [m[1] for m in merged],
            "stride2": [m[2] for m in merged]}


def operand(ctx, node, k: int, pos: int, arrays: dict) -> str:
    """Input `pos` of `node` as a C expression: its arena address, or its codes as const data."""
    name = node.inputs[pos]
    t = ctx.graph.tensors[name]
    if not t.is_constant:
        return ctx.ptr(name)
    cname = f"n{k}_in{pos + 1}"
    arrays[cname] = np.ascontiguousarray(t.data, dtype=np.int8).ravel()
    return cname


def prepare(ctx, node, k: int, params: dict | None) -> dict:
    """The template context of a binary op (`op_binary.c.j2`): kernel parameters, broadcast
    layout, operand pointers and the constant operands' arrays."""
    t1, t2, out = (ctx.graph.tensors[i] for i in (*node.inputs, node.output))
    if params is not None and "act_min" in params:  # a fused ReLU (`codegen.fusion`)
        params = {**params}
        params["act_min"], params["act_max"] = ctx.act_range(node)
    arrays: dict[str, np.ndarray] = {}
    in1, in2 = operand(ctx, node, k, 0, arrays), operand(ctx, node, k, 1, arrays)
    return {"params": params, "bcast": layout(t1.shape, t2.shape, out.shape), "arrays": arrays,
            "in1": in1, "in2": in2, "out": ctx.ptr(node.output)}
