"""The op set: one small spec per op, with its attribute checks and its shape rule (NHWC).

Each `OpSpec` takes the node's input tensors and raw attributes, and returns the normalized
attributes and the output shape, or raises GraphError saying what does not fit. `kind` tells
the memory planner what the op may do with its buffers:
- "alias": the output is the input's bytes, reinterpreted (Reshape); no copy, no new buffer;
- "elementwise": output element i depends only on input elements i, so the output may be
  written over an input whose last use this is (in place);
- "compute": anything else; the output needs its own buffer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from levin.errors import GraphError
from levin.ir.graph import Tensor

Shape = tuple[int, ...]


@dataclass(frozen=True)
class OpSpec:
    name: str
    arity: tuple[int, int]        # (min, max) inputs; max -1 for any number
    defaults: dict[str, Any]
    rule: Callable[[str, list[Tensor], dict[str, Any]], tuple[dict[str, Any], Shape]]
    kind: str = "compute"         # "compute" | "elementwise" | "alias"

    def check(self, node: str, inputs: list[Tensor], attrs: dict[str, Any]):
        where = f"node {node!r} ({self.name})"
        lo, hi = self.arity
        if len(inputs) < lo or (hi >= 0 and len(inputs) > hi):
            want = f"{lo}" if lo == hi else f"{lo} to {hi if hi >= 0 else 'any'}"
            raise GraphError(f"{where}: takes {want} inputs, got {len(inputs)}")
        unknown = set(attrs) - set(self.defaults)
        if unknown:
            raise GraphError(f"{where}: unknown attribute(s) {', '.join(sorted(unknown))}; "
                             f"known: {', '.join(self.defaults) or 'none'}")
        kinds = {t.is_float for t in inputs}
        if len(kinds) > 1:
            raise GraphError(f"{where}: mixes float and integer inputs")
        return self.rule(where, inputs, {**self.defaults, **attrs})


def _ints(value: Any, n: int, what: str, where: str, minimum: int) -> tuple[int, ...]:
    try:
        vals = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:
        raise GraphError(f"{where}: {what} must be {n} integers >= {minimum}, got {value!r}") from None
    if n == 4 and len(vals) == 2:            # (h, w) padding -> (top, bottom, left, right)
        vals = (vals[0], vals[0], vals[1], vals[1])
    if len(vals) != n or any(not isinstance(v, (int, np.integer)) or v < minimum for v in vals):
        raise GraphError(f"{where}: {what} must be {n} integers >= {minimum}, got {value!r}")
    return tuple(int(v) for v in vals)


def _rank(t: Tensor, rank: int, where: str, role: str = "input") -> None:
    if len(t.shape) != rank:
        layout = {4: " (NHWC)", 2: " (N, features)"}.get(rank, "")
        raise GraphError(f"{where}: {role} {t.name!r} must be rank {rank}{layout}, has shape {t.shape}")


def _window(where, size, kernel, stride, dilation, pad_lo, pad_hi, axis) -> int:
    span = dilation * (kernel - 1) + 1
    out = (size + pad_lo + pad_hi - span) // stride + 1
    if out < 1:
        raise GraphError(f"{where}: window {span} does not fit the padded {axis} {size + pad_lo + pad_hi}")
    return out


def _conv(where, inputs, a):
    x, w = inputs[0], inputs[1]
    _rank(x, 4, where)
    _rank(w, 4, where, "weight")
    a["stride"] = _ints(a["stride"], 2, "stride", where, 1)
    a["dilation"] = _ints(a["dilation"], 2, "dilation", where, 1)
    a["padding"] = _ints(a["padding"], 4, "padding", where, 0)
    g = a["groups"]
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    if not isinstance(g, (int, np.integer)) or g < 1 or c % g or o % g:
        raise GraphError(f"{where}: groups={g} must divide input channels {c} and output channels {o}")
    if cg * g != c:
        raise GraphError(f"{where}: weight {w.shape} (OHWI) expects {cg * g} input channels, "
                         f"input has {c}")
    if len(inputs) == 3 and inputs[2].shape != (o,):
        raise GraphError(f"{where}: bias shape {inputs[2].shape} must be ({o},)")
    (sh, sw), (dh, dw), (pt, pb, pl, pr) = a["stride"], a["dilation"], a["padding"]
    ho = _window(where, h, kh, sh, dh, pt, pb, "height")
    wo = _window(where, wd, kw, sw, dw, pl, pr, "width")
    a["groups"] = int(g)
    return a, (n, ho, wo, o)


def _linear(where, inputs, a):
    x, w = inputs[0], inputs[1]
    _rank(x, 2, where)
    _rank(w, 2, where, "weight")
    if w.shape[1] != x.shape[1]:
        raise GraphError(f"{where}: weight {w.shape} ([out, in]) does not take {x.shape[1]} features")
    if len(inputs) == 3 and inputs[2].shape != (w.shape[0],):
        raise GraphError(f"{where}: bias shape {inputs[2].shape} must be ({w.shape[0]},)")
    return a, (x.shape[0], w.shape[0])


def _same(where, inputs, a):
    for t in inputs[1:]:
        if t.shape != inputs[0].shape:
            raise GraphError(f"{where}: input shapes {inputs[0].shape} and {t.shape} differ "
                             f"(no broadcasting)")
    return a, inputs[0].shape


def _pool(where, inputs, a):
    x = inputs[0]
    _rank(x, 4, where)
    a["kernel"] = _ints(a["kernel"], 2, "kernel", where, 1)
    a["stride"] = _ints(a["kernel"] if a["stride"] is None else a["stride"], 2, "stride", where, 1)
    a["padding"] = _ints(a["padding"], 4, "padding", where, 0)
    (kh, kw), (sh, sw), (pt, pb, pl, pr) = a["kernel"], a["stride"], a["padding"]
    if max(pt, pb) >= kh or max(pl, pr) >= kw:
        raise GraphError(f"{where}: padding {a['padding']} must be smaller than the kernel {a['kernel']}")
    n, h, w, c = x.shape
    ho = _window(where, h, kh, sh, 1, pt, pb, "height")
    wo = _window(where, w, kw, sw, 1, pl, pr, "width")
    return a, (n, ho, wo, c)


def _global_pool(where, inputs, a):
    _rank(inputs[0], 4, where)
    n, _, _, c = inputs[0].shape
    return a, (n, 1, 1, c)


def _axis(where, axis, rank) -> int:
    if not isinstance(axis, (int, np.integer)) or not -rank <= axis < rank:
        raise GraphError(f"{where}: axis {axis!r} is out of range for rank {rank}")
    return int(axis) % rank


def _concat(where, inputs, a):
    first = inputs[0].shape
    axis = a["axis"] = _axis(where, a["axis"], len(first))
    for t in inputs[1:]:
        if len(t.shape) != len(first) or any(d != e for i, (d, e) in enumerate(zip(t.shape, first))
                                             if i != axis):
            raise GraphError(f"{where}: shapes {first} and {t.shape} differ outside axis {axis}")
    return a, first[:axis] + (sum(t.shape[axis] for t in inputs),) + first[axis + 1:]


def _reshape(where, inputs, a):
    shape = a["shape"]
    if shape is None:
        raise GraphError(f"{where}: attribute 'shape' is required")
    shape = tuple(int(d) for d in shape)
    size = inputs[0].size
    if shape.count(-1) == 1:
        rest = int(np.prod([d for d in shape if d != -1]))
        shape = tuple(size // rest if d == -1 else d for d in shape) if rest and size % rest == 0 else shape
    if any(d < 1 for d in shape) or int(np.prod(shape)) != size:
        raise GraphError(f"{where}: cannot reshape {inputs[0].shape} ({size} elements) to {a['shape']}")
    a["shape"] = shape
    return a, shape


def _pad(where, inputs, a):
    x = inputs[0]
    _rank(x, 4, where)
    a["pads"] = _ints(a["pads"], 4, "pads (top, bottom, left, right)", where, 0)
    a["value"] = float(a["value"])
    pt, pb, pl, pr = a["pads"]
    n, h, w, c = x.shape
    return a, (n, h + pt + pb, w + pl + pr, c)


def _softmax(where, inputs, a):
    a["axis"] = _axis(where, a["axis"], len(inputs[0].shape))
    return a, inputs[0].shape


def _unary(where, inputs, a):
    return a, inputs[0].shape


_SPECS = [
    OpSpec("Conv2d", (2, 3), {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}, _conv),
    OpSpec("Linear", (2, 3), {}, _linear),
    OpSpec("ReLU", (1, 1), {}, _unary, "elementwise"),
    OpSpec("ReLU6", (1, 1), {}, _unary, "elementwise"),
    OpSpec("Sigmoid", (1, 1), {}, _unary, "elementwise"),
    OpSpec("Tanh", (1, 1), {}, _unary, "elementwise"),
    OpSpec("MaxPool2d", (1, 1), {"kernel": None, "stride": None, "padding": 0}, _pool),
    OpSpec("AvgPool2d", (1, 1), {"kernel": None, "stride": None, "padding": 0,
                                 "count_include_pad": True}, _pool),
    OpSpec("GlobalAvgPool", (1, 1), {}, _global_pool),
    OpSpec("Add", (2, 2), {}, _same, "elementwise"),
    OpSpec("Concat", (1, -1), {"axis": -1}, _concat),
    OpSpec("Reshape", (1, 1), {"shape": None}, _reshape, "alias"),
    OpSpec("Pad", (1, 1), {"pads": 0, "value": 0.0}, _pad),
    OpSpec("Softmax", (1, 1), {"axis": -1}, _softmax),
]
OPS: dict[str, OpSpec] = {s.name: s for s in _SPECS}


def names() -> list[str]:
    return list(OPS)


def get(op: str) -> OpSpec:
    try:
        return OPS[op]
    except KeyError:
        raise GraphError(f"unknown op {op!r}; the op set is {', '.join(OPS)}") from None
