"""How each supported torch module, function and tensor method maps onto the IR op set.

Three handler tables (modules by exact type, functions by identity, methods by name) map to
a handler and the names of its arguments. A handler gets the capture state, the fx node and
the bound arguments, emits IR nodes, and returns the `Value` of the result. `capture.py` walks
the traced graph; this file is the only place that knows torch's calling conventions.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from levin.errors import CaptureError

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}


@dataclass
class Value:
    """A torch value as the IR holds it."""

    name: str                          # IR tensor
    nchw: bool = False                 # torch rank-4 NCHW, held as NHWC
    perm: np.ndarray | None = None     # IR element j is torch element perm[j] (flattened maps)
    pad: tuple[int, int, int, int] | None = None   # a zero pad left for the next conv to absorb


def nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    n, c, h, w = shape
    return (n, h, w, c)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _fail(cap, node, why: str) -> CaptureError:
    return CaptureError(f"{op_label(cap, node)} at {cap.where(node)}: {why}")


def _feature_map(cap, node, a) -> Any:
    x = cap.value(node, a["input"])
    if not x.nchw:
        raise _fail(cap, node, f"needs a rank-4 NCHW input, got shape "
                               f"{tuple(a['input'].meta['tensor_meta'].shape)}")
    return x


# -- handlers -----------------------------------------------------------------------------------
def unary(op: str) -> Callable:
    """The handler of a one-input IR op that keeps the input's layout (activations): the table
    entry an elementwise op needs, e.g. MODULES[nn.ReLU] = (unary("ReLU"), {})."""
    def handler(cap, node, a):
        x = cap.value(node, a["input"])
        return Value(cap.emit(node, op, [x.name]), x.nchw, x.perm)
    return handler


def unary_with(op: str, **attrs: str) -> Callable:
    """`unary` for an op with attributes: `attrs` maps each IR attribute to the bound argument
    that holds it, e.g. MODULES[nn.LeakyReLU] = (unary_with("LeakyReLU", alpha="negative_slope"),
    {"negative_slope": "negative_slope"})."""
    def handler(cap, node, a):
        x = cap.value(node, a["input"])
        return Value(cap.emit(node, op, [x.name], **{k: a[v] for k, v in attrs.items()}), x.nchw, x.perm)
    return handler


def _identity(cap, node, a):
    return cap.value(node, a["input"])


def _clamp(cap, node, a):
    """hardtanh / clamp: ReLU6 for (0, 6), ReLU for (0, none), else a Clamp (an absent bound is
    infinite)."""
    if any(isinstance(a.get(k), fx.Node) for k in ("min", "max")):
        raise _fail(cap, node, "clamp bounds must be numbers, not tensors")
    lo = -math.inf if a.get("min") is None else float(a["min"])
    hi = math.inf if a.get("max") is None else float(a["max"])
    if (lo, hi) in ((0.0, 6.0), (0.0, math.inf)):
        return unary("ReLU6" if hi == 6.0 else "ReLU")(cap, node, a)
    if lo > hi:
        raise _fail(cap, node, f"clamp bounds ({lo}, {hi}): min is above max")
    return unary_with("Clamp", min="min", max="max")(cap, node, {**a, "min": lo, "max": hi})


def _hardtanh(cap, node, a):
    return _clamp(cap, node, {"input": a["input"], "min": a["min_val"], "max": a["max_val"]})


def _fold_bn(w: np.ndarray, b: np.ndarray | None, bn: nn.Module):
    """w, b of the layer that computes bn(layer(x)) (eval mode: running statistics)."""
    var = bn.running_var.detach().double().numpy()
    mean = bn.running_mean.detach().double().numpy()
    gamma = bn.weight.detach().double().numpy() if bn.affine else np.ones_like(var)
    beta = bn.bias.detach().double().numpy() if bn.affine else np.zeros_like(var)
    scale = gamma / np.sqrt(var + bn.eps)
    w = w * scale.reshape((-1,) + (1,) * (w.ndim - 1))
    return w, ((0.0 if b is None else b) - mean) * scale + beta


def _params(m: nn.Module, cap, node):
    w = m.weight.detach().double().numpy()
    b = None if m.bias is None else m.bias.detach().double().numpy()
    bn = cap.bn_into.get(node)
    if bn is not None and bn.running_mean is None:
        raise _fail(cap, node, "the BatchNorm after it has no running statistics to fold; "
                               "build it with track_running_stats=True")
    return _fold_bn(w, b, bn) if bn is not None else (w, b)


def _conv(cap, node, a):
    m = cap.module(node)
    x = _feature_map(cap, node, a)
    if m.padding_mode != "zeros":
        raise _fail(cap, node, f"padding_mode={m.padding_mode!r} is not supported; use 'zeros'")
    if isinstance(m.padding, str):      # 'valid' or 'same' (extra row/column at bottom/right)
        total = [0, 0] if m.padding == "valid" else [d * (k - 1) for d, k in zip(m.dilation, m.kernel_size)]
        pads = (total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2)
    else:
        ph, pw = _pair(m.padding)
        pads = (ph, ph, pw, pw)
    if x.pad is not None:
        pads = tuple(p + q for p, q in zip(pads, x.pad))
    name = cap.node_name(node)
    w, b = _params(m, cap, node)
    inputs = [x.name, cap.constant(f"{name}.weight", w.transpose(0, 2, 3, 1))]   # OIHW -> OHWI
    if b is not None:
        inputs.append(cap.constant(f"{name}.bias", b))
    out = cap.emit(node, "Conv2d", inputs, name, stride=_pair(m.stride), padding=pads,
                   dilation=_pair(m.dilation), groups=m.groups)
    return Value(out, True)


def _linear(cap, node, a):
    m = cap.module(node)
    x = cap.value(node, a["input"])
    if x.nchw or len(a["input"].meta["tensor_meta"].shape) != 2:
        raise _fail(cap, node, "takes (N, features) inputs; flatten the feature map first")
    name = cap.node_name(node)
    w, b = _params(m, cap, node)
    if x.perm is not None:                 # the input vector is in NHWC order: follow it
        w = w[:, x.perm]
    inputs = [x.name, cap.constant(f"{name}.weight", w)]
    if b is not None:
        inputs.append(cap.constant(f"{name}.bias", b))
    return Value(cap.emit(node, "Linear", inputs, name))


def _batchnorm(cap, node, a):
    if node in cap.absorbed:
        return cap.value(node, a["input"])
    raise _fail(cap, node, "levin folds BatchNorm into the Conv2d/Linear right before it, and "
                           "here there is none (or that layer's output has other users); "
                           "move the BatchNorm right after a conv or linear layer")


def _max_pool(cap, node, a):
    x = _feature_map(cap, node, a)
    if _pair(a["dilation"]) != (1, 1) or a["ceil_mode"] or a["return_indices"]:
        raise _fail(cap, node, "dilation, ceil_mode and return_indices are not supported")
    ph, pw = _pair(a["padding"])
    k = _pair(a["kernel_size"])
    s = k if a["stride"] in (None, ()) else _pair(a["stride"])
    return Value(cap.emit(node, "MaxPool2d", [x.name], kernel=k, stride=s,
                          padding=(ph, ph, pw, pw)), True)


def _avg_pool(cap, node, a):
    x = _feature_map(cap, node, a)
    if a["ceil_mode"] or a["divisor_override"] is not None:
        raise _fail(cap, node, "ceil_mode and divisor_override are not supported")
    ph, pw = _pair(a["padding"])
    k = _pair(a["kernel_size"])
    s = k if a["stride"] in (None, ()) else _pair(a["stride"])
    return Value(cap.emit(node, "AvgPool2d", [x.name], kernel=k, stride=s, padding=(ph, ph, pw, pw),
                          count_include_pad=bool(a["count_include_pad"])), True)


def _adaptive_avg_pool(cap, node, a):
    x = _feature_map(cap, node, a)
    size = a["output_size"]
    if (size if isinstance(size, int) else tuple(size)) not in (1, (1, 1)):
        raise _fail(cap, node, f"only output size 1 (global average pooling) is supported, got {size}")
    return Value(cap.emit(node, "GlobalAvgPool", [x.name]), True)


def _mean(cap, node, a):
    x = _feature_map(cap, node, a)
    dims = a["dim"]
    dims = {d % 4 for d in ((dims,) if isinstance(dims, int) else dims or ())}
    if dims != {2, 3}:
        raise _fail(cap, node, f"only the mean over H and W (dims 2, 3) is supported, got {a['dim']}")
    out = cap.emit(node, "GlobalAvgPool", [x.name])
    if a["keepdim"]:
        return Value(out, True)
    n, c = cap.torch_shape(node)
    return Value(cap.emit(node, "Reshape", [out], f"{out}.squeeze", shape=(n, c)))


def _same_order(shape) -> bool:
    """True if NCHW and NHWC list this tensor's elements in the same order."""
    return len(shape) != 4 or shape[1] == 1 or shape[2] * shape[3] == 1


def _reshape(cap, node, a):
    x = cap.value(node, a["input"])
    src, dst = tuple(a["input"].meta["tensor_meta"].shape), cap.torch_shape(node)
    if src == dst:
        return x
    if x.perm is not None:
        raise _fail(cap, node, f"cannot reshape a flattened NHWC feature map again ({src} -> {dst})")
    ir_dst = nhwc(dst) if len(dst) == 4 else dst
    if x.nchw and not _same_order(src):
        if len(dst) != 2 or dst[0] != src[0]:
            raise _fail(cap, node, f"a {src} feature map can only be flattened to (N, features) "
                                   f"in the NHWC IR, not reshaped to {dst}")
        c, h, w = src[1:]
        perm = np.arange(c * h * w).reshape(c, h, w).transpose(1, 2, 0).ravel()
        return Value(cap.emit(node, "Reshape", [x.name], shape=ir_dst), False, perm)
    if len(dst) == 4 and not _same_order(dst):
        raise _fail(cap, node, f"reshaping {src} into a {dst} feature map is not supported "
                               f"(the IR is NHWC); make the input a feature map instead")
    return Value(cap.emit(node, "Reshape", [x.name], shape=ir_dst), len(dst) == 4)


def zero_pad_of(cap, node: fx.Node) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) if `node` pads a feature map's H and W with zeros, else None."""
    if node.op == "call_module" and type(cap.module(node)) in (nn.ZeroPad2d, nn.ConstantPad2d):
        m = cap.module(node)
        pad, value = m.padding, getattr(m, "value", 0.0)
    elif node.op == "call_function" and node.target is F.pad:
        a = _bind(node, *FUNCTIONS[F.pad][1:])
        if a["mode"] != "constant":
            return None
        pad, value = a["pad"], a["value"] or 0.0
    else:
        return None
    src = node.args[0]
    meta = src.meta.get("tensor_meta") if isinstance(src, fx.Node) else None
    if value != 0 or len(pad) not in (2, 4) or min(pad) < 0 or meta is None or len(meta.shape) != 4:
        return None
    left, right, top, bottom = tuple(pad) + (0, 0) * (len(pad) == 2)
    return (top, bottom, left, right)


def _pad(cap, node, a):
    x = _feature_map(cap, node, a)
    pads = zero_pad_of(cap, node)
    if node in cap.absorbed:
        return Value(x.name, True, None, pads)
    pad, value = a["pad"], a.get("value") or 0.0
    if a.get("mode", "constant") != "constant" or len(pad) not in (2, 4) or min(pad) < 0:
        raise _fail(cap, node, f"only constant, non-negative padding of H and W is supported, "
                               f"got pad={tuple(pad)} mode={a.get('mode')!r}")
    left, right, top, bottom = tuple(pad) + (0, 0) * (len(pad) == 2)
    return Value(cap.emit(node, "Pad", [x.name], pads=(top, bottom, left, right),
                          value=float(value)), True)


def _axis(cap, node, x: Value, dim: Any, rank: int) -> int:
    if dim is None:
        raise _fail(cap, node, "give an explicit dim")
    dim = int(dim) % rank
    return _TO_NHWC_AXIS[dim] if x.nchw else dim


def _softmax(cap, node, a):
    x = cap.value(node, a["input"])
    axis = _axis(cap, node, x, a["dim"], len(cap.torch_shape(node)))
    return Value(cap.emit(node, "Softmax", [x.name], axis=axis), x.nchw, x.perm)


def _cat(cap, node, a):
    xs = [cap.value(node, t) for t in a["tensors"]]
    if len({x.nchw for x in xs}) > 1 or any(x.perm is not None for x in xs):
        raise _fail(cap, node, "inputs must all be feature maps, or all plain vectors not "
                               "flattened from feature maps")
    axis = _axis(cap, node, xs[0], a["dim"], len(cap.torch_shape(node)))
    return Value(cap.emit(node, "Concat", [x.name for x in xs], axis=axis), xs[0].nchw)


def _add(cap, node, a):
    x = cap.value(node, a["input"])
    y = cap.value(node, a["other"], "second operand")
    if a.get("alpha", 1) != 1:
        raise _fail(cap, node, "add with alpha != 1 is not supported")
    if x.nchw != y.nchw or (x.perm is None) != (y.perm is None) or (
            x.perm is not None and not np.array_equal(x.perm, y.perm)):
        raise _fail(cap, node, "operands are held in different layouts (a feature map and a "
                               "flattened vector); add tensors of the same kind")
    return Value(cap.emit(node, "Add", [x.name, y.name]), x.nchw, x.perm)


# -- tables ---------------------------------------------------------------------------------------
def _m(handler, **attrs):
    """A module entry: handler plus how to read its arguments off the module."""
    return handler, attrs


_POOL = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
MODULES: dict[type, tuple] = {
    nn.Conv2d: _m(_conv), nn.Linear: _m(_linear),
    nn.BatchNorm1d: _m(_batchnorm), nn.BatchNorm2d: _m(_batchnorm),
    nn.ReLU: _m(unary("ReLU")), nn.ReLU6: _m(unary("ReLU6")),
    nn.Sigmoid: _m(unary("Sigmoid")), nn.Tanh: _m(unary("Tanh")),
    nn.Hardtanh: _m(_hardtanh, min_val="min_val", max_val="max_val"),
    nn.Hardswish: _m(unary("Hardswish")), nn.Hardsigmoid: _m(unary("Hardsigmoid")), nn.SiLU: _m(unary("SiLU")),
    nn.LeakyReLU: _m(unary_with("LeakyReLU", alpha="negative_slope"), negative_slope="negative_slope"),
    nn.ELU: _m(unary_with("ELU", alpha="alpha"), alpha="alpha"),
    nn.GELU: _m(unary_with("GELU", approximate="approximate"), approximate="approximate"),
    nn.MaxPool2d: _m(_max_pool, **{k: k for k in _POOL}),
    nn.AvgPool2d: _m(_avg_pool, kernel_size="kernel_size", stride="stride", padding="padding",
                     ceil_mode="ceil_mode", count_include_pad="count_include_pad",
                     divisor_override="divisor_override"),
    nn.AdaptiveAvgPool2d: _m(_adaptive_avg_pool, output_size="output_size"),
    nn.Flatten: _m(_reshape), nn.Unflatten: _m(_reshape),
    nn.ZeroPad2d: _m(_pad, pad="padding"), nn.ConstantPad2d: _m(_pad, pad="padding", value="value"),
    nn.Softmax: _m(_softmax, dim="dim"),
    nn.Dropout: _m(_identity), nn.Dropout1d: _m(_identity), nn.Dropout2d: _m(_identity),
    nn.AlphaDropout: _m(_identity), nn.Identity: _m(_identity),
}

# target -> (display name, handler, argument names, defaults)
_F = [
    ("add", (operator.add, operator.iadd, torch.add), _add, ("input", "other"), {"alpha": 1}),
    ("relu", (F.relu, torch.relu, torch.relu_), unary("ReLU"), ("input",), {}),
    ("relu6", (F.relu6,), unary("ReLU6"), ("input",), {}),
    ("hardtanh", (F.hardtanh,), _hardtanh, ("input", "min_val", "max_val"),
     {"min_val": -1.0, "max_val": 1.0}),
    ("sigmoid", (torch.sigmoid,), unary("Sigmoid"), ("input",), {}),
    ("hardswish", (F.hardswish,), unary("Hardswish"), ("input",), {}),
    ("hardsigmoid", (F.hardsigmoid,), unary("Hardsigmoid"), ("input",), {}),
    ("silu", (F.silu,), unary("SiLU"), ("input",), {}),
    ("leaky_relu", (F.leaky_relu,), unary_with("LeakyReLU", alpha="negative_slope"),
     ("input", "negative_slope"), {"negative_slope": 0.01}),
    ("elu", (F.elu,), unary_with("ELU", alpha="alpha"), ("input", "alpha"), {"alpha": 1.0}),
    ("gelu", (F.gelu,), unary_with("GELU", approximate="approximate"), ("input",), {"approximate": "none"}),
    ("clamp", (torch.clamp, torch.clip), _clamp, ("input", "min", "max"), {"min": None, "max": None}),
    ("tanh", (torch.tanh,), unary("Tanh"), ("input",), {}),
    ("max_pool2d", (F.max_pool2d,), _max_pool, ("input",) + _POOL[:-1],
     {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}),
    ("avg_pool2d", (F.avg_pool2d,), _avg_pool,
     ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
     {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
      "divisor_override": None}),
    ("adaptive_avg_pool2d", (F.adaptive_avg_pool2d,), _adaptive_avg_pool, ("input", "output_size"), {}),
    ("mean", (torch.mean,), _mean, ("input", "dim", "keepdim"), {"dim": None, "keepdim": False}),
    ("flatten", (torch.flatten,), _reshape, ("input",), {}),
    ("reshape", (torch.reshape,), _reshape, ("input",), {}),
    ("pad", (F.pad,), _pad, ("input", "pad", "mode", "value"), {"mode": "constant", "value": None}),
    ("softmax", (F.softmax, torch.softmax), _softmax, ("input", "dim"), {"dim": None}),
    ("cat", (torch.cat, torch.concat), _cat, ("tensors", "dim"), {"dim": 0}),
    ("dropout", (F.dropout, F.dropout2d), _identity, ("input",), {}),
]
FUNCTIONS: dict[Any, tuple] = {t: (h, names, defaults) for _, ts, h, names, defaults in _F for t in ts}
METHODS: dict[str, tuple] = {
    "add": (_add, ("input", "other"), {"alpha": 1}),
    "relu": (unary("ReLU"), ("input",), {}),
    "sigmoid": (unary("Sigmoid"), ("input",), {}),
    "tanh": (unary("Tanh"), ("input",), {}),
    "clamp": (_clamp, ("input", "min", "max"), {"min": None, "max": None}),
    "clip": (_clamp, ("input", "min", "max"), {"min": None, "max": None}),
    "mean": (_mean, ("input", "dim", "keepdim"), {"dim": None, "keepdim": False}),
    "softmax": (_softmax, ("input", "dim"), {"dim": None}),
    "view": (_reshape, ("input",), {}),
    "reshape": (_reshape, ("input",), {}),
    "flatten": (_reshape, ("input",), {}),
    "contiguous": (_identity, ("input",), {}),
}


def supported() -> str:
    mods = ", ".join(f"nn.{t.__name__}" for t in MODULES)
    funcs = ", ".join(name for name, *_ in _F)
    return f"modules {mods}; functions {funcs}; tensor methods {', '.join(METHODS)}"


def op_label(cap, node: fx.Node) -> str:
    if node.op == "call_module":
        cls = type(cap.module(node))
        return f"nn.{cls.__name__}" if cls.__module__.startswith("torch.nn") else cls.__qualname__
    if node.op == "call_function":
        return f"function {getattr(node.target, '__name__', str(node.target))}"
    if node.op == "call_method":
        return f"method .{node.target}()"
    return f"{node.op} '{node.target}'"


def _bind(node: fx.Node, names: tuple[str, ...], defaults: dict) -> dict:
    a = dict(defaults)
    a.update(zip(names, node.args))
    a.update(node.kwargs)
    return a


def dispatch(cap, node: fx.Node) -> tuple[Callable, dict]:
    """The handler for `node` and its bound arguments; CaptureError if the op is unsupported."""
    entry = None
    if node.op == "call_module":
        m = cap.module(node)
        if type(m) in MODULES:
            handler, attrs = MODULES[type(m)]
            args = {k: getattr(m, v) for k, v in attrs.items()}
            args["input"] = node.args[0] if node.args else node.kwargs.get("input")
            return handler, args
    elif node.op == "call_function":
        entry = FUNCTIONS.get(node.target) if _hashable(node.target) else None
    elif node.op == "call_method":
        entry = METHODS.get(node.target)
    if entry is None:
        raise CaptureError(f"unsupported op {op_label(cap, node)} at {cap.where(node)}; "
                           f"levin captures {supported()}")
    handler, names, defaults = entry
    return handler, _bind(node, names, defaults)


def _hashable(x: Any) -> bool:
    try:
        hash(x)
        return True
    except TypeError:
        return False
