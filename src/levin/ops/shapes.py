"""Checks the shape rules of several ops share: integer tuples, ranks, sliding windows, axes."""

from __future__ import annotations

from typing import Any

import numpy as np

from levin.errors import GraphError


def ints(value: Any, n: int, what: str, where: str, minimum: int) -> tuple[int, ...]:
    """`value` as n integers >= minimum; one integer is repeated, and for n == 4 an (h, w) pair
    becomes (top, bottom, left, right)."""
    try:
        vals = (value,) * n if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:
        raise GraphError(f"{where}: {what} must be {n} integers >= {minimum}, got {value!r}") from None
    if n == 4 and len(vals) == 2:
        vals = (vals[0], vals[0], vals[1], vals[1])
    if len(vals) != n or any(not isinstance(v, (int, np.integer)) or v < minimum for v in vals):
        raise GraphError(f"{where}: {what} must be {n} integers >= {minimum}, got {value!r}")
    return tuple(int(v) for v in vals)


def rank(t, r: int, where: str, role: str = "input") -> None:
    if len(t.shape) != r:
        layout = {4: " (NHWC)", 2: " (N, features)"}.get(r, "")
        raise GraphError(f"{where}: {role} {t.name!r} must be rank {r}{layout}, has shape {t.shape}")


def window(where, size, kernel, stride, dilation, pad_lo, pad_hi, axis) -> int:
    """Output length of a sliding window along one axis."""
    span = dilation * (kernel - 1) + 1
    out = (size + pad_lo + pad_hi - span) // stride + 1
    if out < 1:
        raise GraphError(f"{where}: window {span} does not fit the padded {axis} {size + pad_lo + pad_hi}")
    return out


def axis(where, value, r) -> int:
    if not isinstance(value, (int, np.integer)) or not -r <= value < r:
        raise GraphError(f"{where}: axis {value!r} is out of range for rank {r}")
    return int(value) % r


def same(where, inputs, a):
    """Every input has the first one's shape (no broadcasting); the output too."""
    for t in inputs[1:]:
        if t.shape != inputs[0].shape:
            raise GraphError(f"{where}: input shapes {inputs[0].shape} and {t.shape} differ "
                             f"(no broadcasting)")
    return a, inputs[0].shape


def unary(where, inputs, a):
    return a, inputs[0].shape


def broadcast(where, inputs, a):
    """numpy broadcasting of the input shapes (TFLite's binary ops: ADD, MUL, SUB, MAXIMUM, ...),
    at most rank 4 (NHWC), as TFLite Micro's broadcast kernels."""
    shapes = [tuple(t.shape) for t in inputs]
    if max(len(s) for s in shapes) > 4:
        raise GraphError(f"{where}: input shapes {' and '.join(map(str, shapes))}: broadcasting "
                         f"is supported up to rank 4")
    try:
        out = np.broadcast_shapes(*shapes)
    except ValueError:
        raise GraphError(f"{where}: input shapes {' and '.join(map(str, shapes))} do not broadcast "
                         f"(numpy rules: equal dimensions, or 1)") from None
    return a, tuple(int(d) for d in out)
