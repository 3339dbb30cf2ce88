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
from functools import partial
from typing import Any, Callable

import numpy as np
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn

from levin.errors import CaptureError

BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 1, 3: 2}
_NCL_TO_NHWC_AXIS = {0: 0, 1: 3, 2: 2}


@dataclass
class Value:
    """A torch value as the IR holds it.

    `nchw` marks a torch feature map held as NHWC: rank 4 (N, C, H, W) as (N, H, W, C), or rank 3
    (N, C, L) (1-D: audio, accelerometer) as (N, 1, L, C), so that 1-D convs and pools run as the
    2-D IR ops with height 1. Which of the two it is, is the torch tensor's rank (`tensor_meta`).
    """

    name: str                          # IR tensor
    nchw: bool = False                 # torch NCHW (or NCL) feature map, held as NHWC
    perm: np.ndarray | None = None     # IR element j is torch element perm[j] (flattened maps)
    pad: tuple[int, int, int, int] | None = None   # a zero pad left for the next conv to absorb


def nhwc(shape: tuple[int, ...]) -> tuple[int, ...]:
    """The IR shape of a torch feature map: (N, C, H, W) -> (N, H, W, C), (N, C, L) -> (N, 1, L, C)."""
    if len(shape) == 3:
        n, c, length = shape
        return (n, 1, length, c)
    n, c, h, w = shape
    return (n, h, w, c)


def _pair(v: Any) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else (int(v[0]), int(v[1]))


def _spatial(v: Any, rank: int, h: int) -> tuple[int, int]:
    """A torch kernel size, stride, dilation or padding as the IR's (H, W) pair: a 1-D op's
    (L,) becomes (h, L), h being 1 for sizes and strides, 0 for padding."""
    if rank == 3:
        return (h, int(v) if isinstance(v, int) else int(v[0]))
    return _pair(v)


def _shape(arg: fx.Node) -> tuple[int, ...]:
    return tuple(arg.meta["tensor_meta"].shape)


def _fail(cap, node, why: str) -> CaptureError:
    return CaptureError(f"{op_label(cap, node)} at {cap.where(node)}: {why}")


_WANT = {4: "a rank-4 NCHW input", 3: "a rank-3 (N, C, L) input",
         None: "a rank-4 NCHW or rank-3 (N, C, L) feature map"}


def _feature_map(cap, node, a, rank: int | None = None) -> Any:
    """The input Value, which must be a feature map of torch rank `rank` (4 or 3; either if None)."""
    x = cap.value(node, a["input"])
    shape = tuple(a["input"].meta["tensor_meta"].shape)
    if not x.nchw or (rank is not None and len(shape) != rank):
        raise _fail(cap, node, f"needs {_WANT[rank]}, got shape {shape}")
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


def _params(m: nn.Module, cap, node, w: np.ndarray | None = None):
    """(weight, bias) of `m`, with the BatchNorm after it folded in; `w`: the weight in another
    layout, output channels first (a ConvTranspose2d's, made OHWI)."""
    w = m.weight.detach().double().numpy() if w is None else w
    b = None if m.bias is None else m.bias.detach().double().numpy()
    bn = cap.bn_into.get(node)
    if bn is not None and bn.running_mean is None:
        raise _fail(cap, node, "the BatchNorm after it has no running statistics to fold; "
                               "build it with track_running_stats=True")
    return _fold_bn(w, b, bn) if bn is not None else (w, b)


def _conv(cap, node, a, rank: int = 4):
    """nn.Conv2d, or nn.Conv1d (rank 3) as a Conv2d with kernel (1, k) on the (N, 1, L, C) map."""
    m = cap.module(node)
    x = _feature_map(cap, node, a, rank)
    if m.padding_mode not in ("zeros", "reflect"):
        raise _fail(cap, node, f"padding_mode={m.padding_mode!r} is not supported; use 'zeros' or 'reflect'")
    kernel, dilation = _spatial(m.kernel_size, rank, 1), _spatial(m.dilation, rank, 1)
    if isinstance(m.padding, str):      # 'valid' or 'same' (extra row/column at bottom/right)
        total = [0, 0] if m.padding == "valid" else [d * (k - 1) for d, k in zip(dilation, kernel)]
        pads = (total[0] // 2, total[0] - total[0] // 2, total[1] // 2, total[1] - total[1] // 2)
    else:
        ph, pw = _spatial(m.padding, rank, 0)
        pads = (ph, ph, pw, pw)
    if x.pad is not None:
        pads = tuple(p + q for p, q in zip(pads, x.pad))
    name = cap.node_name(node)
    if m.padding_mode == "reflect" and any(pads):     # the mirror first, then a conv without padding
        x = Value(cap.emit(node, "MirrorPad", [x.name], f"{name}.pad", pads=pads, mode="reflect"), True)
        pads = (0, 0, 0, 0)
    w, b = _params(m, cap, node)
    if rank == 3:
        w = w[:, :, None, :]                                                    # OIL -> OI1L
    inputs = [x.name, cap.constant(f"{name}.weight", w.transpose(0, 2, 3, 1))]   # OIHW -> OHWI
    if b is not None:
        inputs.append(cap.constant(f"{name}.bias", b))
    out = cap.emit(node, "Conv2d", inputs, name, stride=_spatial(m.stride, rank, 1), padding=pads,
                   dilation=dilation, groups=m.groups)
    return Value(out, True)


def _conv_transpose(cap, node, a):
    """nn.ConvTranspose2d (groups 1, dilation 1): weights IOHW -> OHWI, the BatchNorm after it folded."""
    m = cap.module(node)
    x = _feature_map(cap, node, a, 4)
    if m.groups != 1 or _pair(m.dilation) != (1, 1) or m.padding_mode != "zeros":
        raise _fail(cap, node, f"groups={m.groups}, dilation={m.dilation}, padding_mode="
                               f"{m.padding_mode!r}: only groups 1, dilation 1, zeros are supported")
    name = cap.node_name(node)
    w, b = _params(m, cap, node, m.weight.detach().double().numpy().transpose(1, 2, 3, 0))
    inputs = [x.name, cap.constant(f"{name}.weight", w)]
    if b is not None:
        inputs.append(cap.constant(f"{name}.bias", b))
    ph, pw = _pair(m.padding)
    out = cap.emit(node, "ConvTranspose2d", inputs, name, stride=_pair(m.stride), padding=(ph, ph, pw, pw),
                   output_padding=_pair(m.output_padding))
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


def _window(a, rank: int):
    """kernel, stride and (top, bottom, left, right) padding of a pool, as the IR's."""
    ph, pw = _spatial(a["padding"], rank, 0)
    k = _spatial(a["kernel_size"], rank, 1)
    s = k if a["stride"] in (None, ()) else _spatial(a["stride"], rank, 1)
    return k, s, (ph, ph, pw, pw)


def _ceil_pads(a, k, s, pads):
    """`pads` plus the bottom/right padding that makes a floor-mode pool give torch's ceil_mode
    output size (whose last window may overhang the input, never start past it)."""
    extra = []
    for size, kk, ss, p in zip(nhwc(_shape(a["input"]))[1:3], k, s, pads[::2]):
        out = -(-(size + 2 * p - kk) // ss) + 1
        if (out - 1) * ss >= size + p:
            out -= 1
        extra.append(max(0, (out - 1) * ss + kk - size - 2 * p))
    return (pads[0], pads[1] + extra[0], pads[2], pads[3] + extra[1])


def _max_pool(cap, node, a, rank: int = 4):
    x = _feature_map(cap, node, a, rank)
    if _spatial(a["dilation"], rank, 1) != (1, 1) or a["return_indices"]:
        raise _fail(cap, node, "dilation and return_indices are not supported")
    k, s, pads = _window(a, rank)
    if a["ceil_mode"]:                # the overhang is padding, which never wins a max
        pads = _ceil_pads(a, k, s, pads)
    return Value(cap.emit(node, "MaxPool2d", [x.name], kernel=k, stride=s, padding=pads), True)


def _avg_pool(cap, node, a, rank: int = 4):
    x = _feature_map(cap, node, a, rank)
    if a.get("divisor_override") is not None:
        raise _fail(cap, node, "divisor_override is not supported")
    k, s, pads = _window(a, rank)
    include = bool(a["count_include_pad"])
    if a["ceil_mode"] and _ceil_pads(a, k, s, pads) != pads:
        # torch divides an overhanging window by its elements inside the padded input, which
        # is the IR's count_include_pad=False when there is no explicit padding
        if include and any(pads):
            raise _fail(cap, node, "ceil_mode with padding and count_include_pad=True is not "
                                   "supported; use count_include_pad=False or no padding")
        pads, include = _ceil_pads(a, k, s, pads), False
    return Value(cap.emit(node, "AvgPool2d", [x.name], kernel=k, stride=s, padding=pads,
                          count_include_pad=include), True)


def _adaptive_avg_pool(cap, node, a, rank: int = 4):
    x = _feature_map(cap, node, a, rank)
    size = a["output_size"]
    if (size if isinstance(size, int) else tuple(size)) in (1, (1,), (1, 1)):
        return Value(cap.emit(node, "GlobalAvgPool", [x.name]), True)
    # an output that divides the input evenly is an average pool with kernel = stride = in / out
    _, h, w, _ = nhwc(_shape(a["input"]))
    sizes = (size,) if isinstance(size, int) or size is None else tuple(size)
    out = (1, sizes[0]) if rank == 3 else sizes * 2 if len(sizes) == 1 else sizes
    out = tuple(d if o is None else int(o) for o, d in zip(out, (h, w)))
    if h % out[0] or w % out[1]:
        raise _fail(cap, node, f"output size {size} does not divide the input {(h, w) if rank == 4 else w} "
                               f"evenly; only such sizes (an average pool) are supported")
    k = (h // out[0], w // out[1])
    return Value(cap.emit(node, "AvgPool2d", [x.name], kernel=k, stride=k, padding=0), True)


def reduction(op: str) -> Callable:
    """The handler of torch.mean / sum / amax over `dim`: the IR reduction over the same axes in
    NHWC (keepdims), then, for keepdim=False, a Reshape where the element order allows. A mean
    over H and W (or L) of a feature map is a GlobalAvgPool (TFLite's AVERAGE_POOL_2D rounding)."""
    def handler(cap, node, a):
        x = cap.value(node, a["input"])
        src = _shape(a["input"])
        rank, dims = len(src), a["dim"]
        if dims is None or dims == () or dims == []:
            raise _fail(cap, node, "give the dims to reduce (the batch dim 0 cannot be reduced)")
        dims = sorted({int(d) % rank for d in ((dims,) if isinstance(dims, int) else dims)})
        if 0 in dims:
            raise _fail(cap, node, f"dims {a['dim']}: the batch dim 0 cannot be reduced")
        if x.perm is not None and dims != list(range(1, rank)):
            raise _fail(cap, node, "a flattened feature map can only be reduced over all its features")
        kept = tuple(1 if i in dims else d for i, d in enumerate(src))
        if op == "Mean" and x.nchw and dims == ([2, 3] if rank == 4 else [2]):
            out = cap.emit(node, "GlobalAvgPool", [x.name])
        else:
            out = cap.emit(node, op, [x.name], axes=tuple(_axis(cap, node, x, d, rank) for d in dims),
                           keepdims=True)
        v = Value(out, x.nchw)
        return v if a["keepdim"] else _reshaped(cap, node, v, kept, cap.torch_shape(node))
    return handler


_mean = reduction("Mean")


def _same_order(shape) -> bool:
    """True if NCHW (NCL) and NHWC list this tensor's elements in the same order."""
    return len(shape) not in (3, 4) or shape[1] == 1 or math.prod(shape[2:]) == 1


def _reshape(cap, node, a):
    return _reshaped(cap, node, cap.value(node, a["input"]), _shape(a["input"]), cap.torch_shape(node))


def _reshaped(cap, node, x: Value, src: tuple[int, ...], dst: tuple[int, ...]) -> Value:
    """`x`, of torch shape `src`, reshaped to torch shape `dst` (a Reshape in the IR)."""
    if src == dst:
        return x
    if x.nchw and len(src) in (3, 4) and len(dst) in (3, 4) and src[:2] == dst[:2]:
        # N and C kept, only the spatial dims regrouped ((C, H, W) <-> (C, L), unsqueeze of H):
        # NHWC lists the pixels in the same order either way
        return Value(cap.emit(node, "Reshape", [x.name], shape=nhwc(dst)), True)
    if x.perm is not None:
        if len(dst) == 2 and dst[0] == src[0]:     # flattening a folded permute (or a no-op)
            return Value(cap.emit(node, "Reshape", [x.name], shape=dst), False, x.perm)
        raise _fail(cap, node, f"cannot reshape a flattened NHWC feature map again ({src} -> {dst})")
    ir_dst = nhwc(dst) if len(dst) in (3, 4) else dst
    if x.nchw and not _same_order(src):
        if len(dst) != 2 or dst[0] != src[0]:
            raise _fail(cap, node, f"a {src} feature map can only be flattened to (N, features) "
                                   f"in the NHWC IR, not reshaped to {dst}")
        # IR element j (channels last) is torch element perm[j] (channels first)
        perm = np.arange(math.prod(src[1:])).reshape(src[1:])
        perm = perm.transpose(tuple(range(1, len(src) - 1)) + (0,)).ravel()
        return Value(cap.emit(node, "Reshape", [x.name], shape=ir_dst), False, perm)
    if len(dst) in (3, 4) and not _same_order(dst):
        raise _fail(cap, node, f"reshaping {src} into a {dst} feature map is not supported "
                               f"(the IR is NHWC); make the input a feature map instead")
    return Value(cap.emit(node, "Reshape", [x.name], shape=ir_dst), len(dst) in (3, 4))


def _only_flattened(cap, node: fx.Node) -> bool:
    """True if every user of `node` flattens it to (N, features) (and nothing else reads it)."""
    users = list(node.users)
    for u in users:
        meta = u.meta.get("tensor_meta")
        if meta is None or not hasattr(meta, "shape") or len(meta.shape) != 2:
            return False
        try:
            handler, a = dispatch(cap, u)
        except CaptureError:
            return False
        if handler is not _reshape or a.get("input") is not node:
            return False
    return bool(users)


def _permute(cap, node, a):
    """permute / transpose. Where every user only flattens the result (to a Linear), no copy:
    the permutation joins the flatten order (`Value.perm`), which the Linear's weight columns
    follow. Anywhere else (a conv, an output, an activation in between), a Transpose node."""
    x = cap.value(node, a["input"])
    src = _shape(a["input"])
    rank = len(src)
    if "dim0" in a:
        p = list(range(rank))
        d0, d1 = int(a["dim0"]) % rank, int(a["dim1"]) % rank
        p[d0], p[d1] = p[d1], p[d0]
    else:
        dims = a["dims"] if not isinstance(a["dims"], int) else node.args[1:]
        p = [int(d) % rank for d in dims]
    if p == list(range(rank)):
        return x
    if p[0] != 0 or rank > 4:
        raise _fail(cap, node, f"permutation {tuple(p)} of a rank-{rank} tensor: the batch dim must "
                               f"stay first (rank <= 4)")
    if x.perm is not None:
        raise _fail(cap, node, "cannot permute a flattened feature map")
    if _only_flattened(cap, node):
        return Value(x.name, False, flatten_order(src, p, x.nchw))
    return Value(cap.emit(node, "Transpose", [x.name], perm=ir_permutation(p, x.nchw)), x.nchw)


def flatten_order(src: tuple[int, ...], p: list[int], nchw: bool) -> np.ndarray:
    """`Value.perm` of a torch tensor of shape `src` permuted by `p` and flattened: for each
    element in the IR's order of the unpermuted tensor, its position in the flattened result."""
    dst = tuple(src[d] for d in p)
    pos = np.arange(math.prod(dst[1:])).reshape(dst[1:]).transpose(np.argsort([d - 1 for d in p[1:]]))
    if nchw:                      # pos[torch source position] -> the IR (H, W, C) order
        pos = pos.transpose(tuple(range(1, len(src) - 1)) + (0,))
    return pos.ravel()


def ir_permutation(p: list[int], nchw: bool) -> tuple[int, ...]:
    """The IR Transpose `perm` of the torch permutation `p` (a feature map is held NHWC, a 1-D
    one (N, 1, L, C): its IR rank is 4 either way)."""
    if not nchw:
        return tuple(p)
    to_ir = _TO_NHWC_AXIS if len(p) == 4 else _NCL_TO_NHWC_AXIS
    torch_of = (0, 2, 3, 1) if len(p) == 4 else (0, None, 2, 1)      # IR axis -> torch axis
    return tuple(j if t is None else to_ir[p[t]] for j, t in enumerate(torch_of))


def _slice_value(cap, node, x: Value, src, bounds: dict[int, tuple[int, int, int]]) -> Value:
    """A StridedSlice of `x` (torch shape `src`) on torch dims {dim: (start, stop, step)}."""
    if all(bounds.get(d, (0, n, 1)) == (0, n, 1) for d, n in enumerate(src)):
        return x
    if x.perm is not None:
        raise _fail(cap, node, "cannot slice a flattened feature map (its NHWC order differs)")
    ir = nhwc(src) if x.nchw else src
    begin, end, strides = [0] * len(ir), list(ir), [1] * len(ir)
    for d, (b, e, s) in bounds.items():
        if s < 1 or e <= b:
            raise _fail(cap, node, f"slice {b}:{e}:{s} of dim {d}: only non-empty slices with a "
                                   f"positive step are supported")
        k = _axis(cap, node, x, d, len(src))
        begin[k], end[k], strides[k] = b, e, s
    return Value(cap.emit(node, "StridedSlice", [x.name], begin=begin, end=end, strides=strides), x.nchw)


@dataclass
class _Pieces:
    """The tuple chunk / split return: each piece becomes a StridedSlice when it is used."""
    x: Value
    src: tuple[int, ...]
    dim: int
    bounds: list[tuple[int, int]]


def _getitem(cap, node, a):
    x = a["input"]
    v = cap.env.get(x) if isinstance(x, fx.Node) else None
    if isinstance(v, _Pieces):
        b, e = v.bounds[int(a["index"])]
        return _slice_value(cap, node, v.x, v.src, {v.dim: (b, e, 1)})
    x = cap.value(node, x)
    src = _shape(a["input"])
    idx = a["index"] if isinstance(a["index"], tuple) else (a["index"],)
    if any(i is Ellipsis for i in idx):
        k = idx.index(Ellipsis)
        idx = idx[:k] + (slice(None),) * (len(src) - len(idx) + 1) + idx[k + 1:]
    if len(idx) > len(src) or any(not isinstance(i, slice) for i in idx):
        raise _fail(cap, node, f"indexing with {a['index']!r}: only slices (x[:, a:b], x[..., ::2]) are "
                               f"supported, not integers, None or tensors")
    bounds = {d: i.indices(src[d]) for d, i in enumerate(idx)}
    return _slice_value(cap, node, x, src, bounds)


def _narrow(cap, node, a):
    src = _shape(a["input"])
    d = int(a["dim"]) % len(src)
    start = int(a["start"]) % src[d]
    return _slice_value(cap, node, cap.value(node, a["input"]), src, {d: (start, start + int(a["length"]), 1)})


def _pieces(cap, node, a):
    """chunk / split: the pieces' bounds along `dim`, sliced when used (`_getitem`)."""
    x = cap.value(node, a["input"])
    src = _shape(a["input"])
    d = int(a["dim"]) % len(src)
    n = src[d]
    if "chunks" in a:
        step = -(-n // int(a["chunks"]))
        sizes = [min(step, n - b) for b in range(0, n, step)]
    elif isinstance(a["split_size"], int):
        sizes = [min(int(a["split_size"]), n - b) for b in range(0, n, int(a["split_size"]))]
    else:
        sizes = [int(s) for s in a["split_size"]]
    ends = np.cumsum(sizes).tolist()
    return _Pieces(x, src, d, [(e - s, e) for s, e in zip(sizes, ends)])


def zero_pad_of(cap, node: fx.Node) -> tuple[int, int, int, int] | None:
    """(top, bottom, left, right) if `node` pads a feature map's H and W with zeros, else None."""
    if node.op == "call_module" and type(cap.module(node)) in _PAD_MODULES:
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
    if value != 0 or len(pad) not in (2, 4) or min(pad) < 0 or meta is None or (
            len(meta.shape) not in (3, 4) or len(pad) > 2 * (len(meta.shape) - 2)):
        return None
    left, right, top, bottom = tuple(pad) + (0, 0) * (len(pad) == 2)
    return (top, bottom, left, right)


def _pad(cap, node, a, mode: str | None = None):
    """F.pad, nn.ZeroPad/ConstantPad (a Pad, or absorbed by the conv after it) and
    nn.ReflectionPad / mode "reflect" (a MirrorPad) of H and W, or of L."""
    x = _feature_map(cap, node, a)
    pads = zero_pad_of(cap, node)
    if node in cap.absorbed:
        return Value(x.name, True, None, pads)
    pad, value, mode = a["pad"], a.get("value") or 0.0, mode or a.get("mode", "constant")
    if mode not in ("constant", "reflect") or len(pad) not in (2, 4) or min(pad) < 0 or (
            len(pad) > 2 * (len(_shape(a["input"])) - 2)):
        raise _fail(cap, node, f"only constant or reflect, non-negative padding of H and W (or L) is "
                               f"supported, got pad={tuple(pad)} mode={mode!r}")
    left, right, top, bottom = tuple(pad) + (0, 0) * (len(pad) == 2)
    if mode == "reflect":
        return Value(cap.emit(node, "MirrorPad", [x.name], pads=(top, bottom, left, right), mode="reflect"), True)
    return Value(cap.emit(node, "Pad", [x.name], pads=(top, bottom, left, right),
                          value=float(value)), True)


def _axis(cap, node, x: Value, dim: Any, rank: int) -> int:
    if dim is None:
        raise _fail(cap, node, "give an explicit dim")
    dim = int(dim) % rank
    if not x.nchw:
        return dim
    return _NCL_TO_NHWC_AXIS[dim] if rank == 3 else _TO_NHWC_AXIS[dim]


def _softmax(cap, node, a):
    x = cap.value(node, a["input"])
    axis = _axis(cap, node, x, a["dim"], len(cap.torch_shape(node)))
    return Value(cap.emit(node, "Softmax", [x.name], axis=axis), x.nchw, x.perm)


_RESIZE_ARGS = ("size", "scale_factor", "recompute_scale_factor")


def _interpolate(cap, node, a):
    """F.interpolate / nn.Upsample / nn.UpsamplingNearest2d / nn.UpsamplingBilinear2d on an NCHW
    map, to the traced output size: mode "nearest" ("nearest-exact": half-pixel centers) is a
    ResizeNearest, "bilinear" a ResizeBilinear (`_bilinear`). For nearest, torch's
    source indices (its scale may be 1 / scale_factor, not in / out) must be TFLite's: checked by
    resizing a ramp of pixel numbers with torch itself."""
    from levin.ops.resize import source_index

    x = _feature_map(cap, node, a, 4)
    mode = a.get("mode", "nearest")
    if isinstance(a.get("scale_factor"), fx.Node):
        raise _fail(cap, node, "scale_factor must be a number, not a tensor")
    if a.get("antialias"):
        raise _fail(cap, node, "antialias=True is not supported")
    _, _, h, w = _shape(a["input"])
    oh, ow = cap.torch_shape(node)[2:]
    if a.get("size") is not None:       # a size read off another tensor (x.shape[2:]) is traced
        a = {**a, "size": (oh, ow)}
    if mode == "bilinear":
        return _bilinear(cap, node, a, x, (h, w), (oh, ow))
    if mode not in ("nearest", "nearest-exact"):
        raise _fail(cap, node, f"mode={mode!r} is not supported; use 'nearest', 'nearest-exact' or 'bilinear'")
    half = mode == "nearest-exact"
    ramp = torch.arange(h * w, dtype=torch.float32).reshape(1, 1, h, w)
    got = F.interpolate(ramp, mode=mode, **{k: a.get(k) for k in _RESIZE_ARGS})[0, 0].numpy()
    want = source_index(oh, h, False, half)[:, None] * w + source_index(ow, w, False, half)[None, :]
    if got.shape != want.shape or not np.array_equal(got, want):
        raise _fail(cap, node, f"torch picks other source pixels for scale_factor "
                               f"{a.get('scale_factor')} than TFLite's resize to {oh}x{ow}; pass "
                               f"size=({oh}, {ow}) (or recompute_scale_factor=True) instead")
    return Value(cap.emit(node, "ResizeNearest", [x.name], size=(oh, ow), half_pixel_centers=half), True)


def _bilinear(cap, node, a, x: Value, hw, out_hw):
    """mode "bilinear": align_corners False is TFLite's half_pixel_centers. torch's scale may be
    1 / scale_factor, not in / out: checked on a ramp against levin's float kernel."""
    from levin import ops

    ac = bool(a.get("align_corners"))
    attrs = dict(size=tuple(out_hw), align_corners=ac, half_pixel_centers=not ac)
    (h, w), (oh, ow) = hw, out_hw
    ramp = torch.arange(h * w, dtype=torch.float64).reshape(1, 1, h, w)
    got = F.interpolate(ramp, mode="bilinear", align_corners=ac, **{k: a.get(k) for k in _RESIZE_ARGS})
    want = ops.get("ResizeBilinear").evaluate(ramp.numpy().reshape(1, h, w, 1), **attrs)[..., 0]
    if got.shape[2:] != want.shape[1:] or not np.allclose(got[0, 0].numpy(), want[0], rtol=0, atol=1e-6 * h * w):
        raise _fail(cap, node, f"torch samples other positions for scale_factor {a.get('scale_factor')} "
                               f"than TFLite's resize to {oh}x{ow}; pass size=({oh}, {ow}) instead")
    return Value(cap.emit(node, "ResizeBilinear", [x.name], **attrs), True)


def _cat(cap, node, a):
    xs = [cap.value(node, t) for t in a["tensors"]]
    if len({x.nchw for x in xs}) > 1 or any(x.perm is not None for x in xs):
        raise _fail(cap, node, "inputs must all be feature maps, or all plain vectors not "
                               "flattened from feature maps")
    axis = _axis(cap, node, xs[0], a["dim"], len(cap.torch_shape(node)))
    return Value(cap.emit(node, "Concat", [x.name for x in xs], axis=axis), xs[0].nchw)


def _constant_operand(cap, node, arg) -> np.ndarray | None:
    """The float64 values of a binary op's operand that is no activation: a Python number, or a
    module's parameter or buffer (an fx get_attr node); None for an activation."""
    if isinstance(arg, bool) or arg is None:
        return None
    if isinstance(arg, (int, float)):
        return np.array([float(arg)])
    if isinstance(arg, fx.Node) and arg.op == "get_attr":
        obj = cap.traced
        for part in str(arg.target).split("."):
            obj = getattr(obj, part)
        if isinstance(obj, torch.Tensor):
            return obj.detach().double().numpy().reshape(obj.shape or (1,))
    return None


def _constant_layout(cap, node, data: np.ndarray, like: Value) -> np.ndarray:
    """A torch-layout constant in the IR layout of the activation `like` it combines with."""
    rank = len(cap.torch_shape(node))
    if data.size == 1:
        return data.reshape(1)
    if data.ndim > rank:
        raise _fail(cap, node, f"constant operand of shape {data.shape} has more dims than the result")
    if like.nchw:
        data = data.reshape((1,) * (rank - data.ndim) + data.shape)
        return data.transpose(0, 2, 3, 1) if rank == 4 else data.transpose(0, 2, 1)[:, None]
    if like.perm is not None and data.shape[-1] != 1:
        return data[..., like.perm]
    return data


def binary(op: str) -> Callable:
    """The handler of a two-input IR op with numpy broadcasting (Add, Sub, Mul, Maximum, Minimum);
    either operand may be a number or a module's tensor, captured as a constant when `op`
    declares constant inputs (`Op.constant_inputs`)."""
    def handler(cap, node, a):
        from levin import ops
        if a.get("alpha", 1) != 1:
            raise _fail(cap, node, f"{op.lower()} with alpha != 1 is not supported")
        args = [a["input"], a["other"]]
        consts = [_constant_operand(cap, node, v) for v in args]
        if all(c is not None for c in consts):
            raise _fail(cap, node, "both operands are constants; fold them before capture")
        if any(c is not None for c in consts) and not ops.get(op).constant_inputs:
            raise _fail(cap, node, f"a constant operand of {op} is not supported (its int8 kernel "
                                   f"needs both inputs on the output's scale); use two activations")
        values = [None if c is not None else cap.value(node, v, role)
                  for c, v, role in zip(consts, args, ("input", "second operand"))]
        x = next(v for v in values if v is not None)
        y = values[1] if values[0] is not None else None
        if y is not None and (x.nchw != y.nchw or (x.perm is None) != (y.perm is None) or (
                x.perm is not None and not np.array_equal(x.perm, y.perm))):
            raise _fail(cap, node, "operands are held in different layouts (a feature map and a "
                                   "flattened vector); combine tensors of the same kind")
        name = cap.node_name(node)
        names = [v.name if v is not None else
                 cap.constant(f"{name}.{('input', 'other')[k]}", _constant_layout(cap, node, consts[k], x))
                 for k, v in enumerate(values)]
        return Value(cap.emit(node, op, names, name), x.nchw, x.perm)
    return handler


_add = binary("Add")


# -- tables ---------------------------------------------------------------------------------------
_PAD_MODULES = (nn.ZeroPad2d, nn.ConstantPad2d, nn.ZeroPad1d, nn.ConstantPad1d)


def _m(handler, **attrs):
    """A module entry: handler plus how to read its arguments off the module."""
    return handler, attrs


_POOL = ("kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
MODULES: dict[type, tuple] = {
    nn.Conv2d: _m(_conv), nn.Conv1d: _m(partial(_conv, rank=3)), nn.Linear: _m(_linear),
    nn.ConvTranspose2d: _m(_conv_transpose),
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
    nn.MaxPool1d: _m(partial(_max_pool, rank=3), **{k: k for k in _POOL}),
    nn.AvgPool1d: _m(partial(_avg_pool, rank=3), kernel_size="kernel_size", stride="stride",
                     padding="padding", ceil_mode="ceil_mode", count_include_pad="count_include_pad"),
    nn.AdaptiveAvgPool1d: _m(partial(_adaptive_avg_pool, rank=3), output_size="output_size"),
    nn.Flatten: _m(_reshape), nn.Unflatten: _m(_reshape),
    nn.ZeroPad2d: _m(_pad, pad="padding"), nn.ConstantPad2d: _m(_pad, pad="padding", value="value"),
    nn.ZeroPad1d: _m(_pad, pad="padding"), nn.ConstantPad1d: _m(_pad, pad="padding", value="value"),
    nn.ReflectionPad1d: _m(partial(_pad, mode="reflect"), pad="padding"),
    nn.ReflectionPad2d: _m(partial(_pad, mode="reflect"), pad="padding"),
    nn.Softmax: _m(_softmax, dim="dim"),
    nn.Dropout: _m(_identity), nn.Dropout1d: _m(_identity), nn.Dropout2d: _m(_identity),
    nn.AlphaDropout: _m(_identity), nn.Identity: _m(_identity),
    **{t: _m(_interpolate, size="size", scale_factor="scale_factor", mode="mode",
            recompute_scale_factor="recompute_scale_factor", align_corners="align_corners")
       for t in (nn.Upsample, nn.UpsamplingNearest2d, nn.UpsamplingBilinear2d)},
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
    ("sub", (operator.sub, operator.isub, torch.sub), binary("Sub"), ("input", "other"), {"alpha": 1}),
    ("mul", (operator.mul, operator.imul, torch.mul), binary("Mul"), ("input", "other"), {}),
    ("maximum", (torch.maximum,), binary("Maximum"), ("input", "other"), {}),
    ("minimum", (torch.minimum,), binary("Minimum"), ("input", "other"), {}),
    ("max_pool2d", (F.max_pool2d,), _max_pool, ("input",) + _POOL[:-1],
     {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}),
    ("avg_pool2d", (F.avg_pool2d,), _avg_pool,
     ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
     {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True,
      "divisor_override": None}),
    ("adaptive_avg_pool2d", (F.adaptive_avg_pool2d,), _adaptive_avg_pool, ("input", "output_size"), {}),
    ("max_pool1d", (F.max_pool1d,), partial(_max_pool, rank=3), ("input",) + _POOL[:-1],
     {"stride": None, "padding": 0, "dilation": 1, "ceil_mode": False, "return_indices": False}),
    ("avg_pool1d", (F.avg_pool1d,), partial(_avg_pool, rank=3),
     ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
     {"stride": None, "padding": 0, "ceil_mode": False, "count_include_pad": True}),
    ("adaptive_avg_pool1d", (F.adaptive_avg_pool1d,), partial(_adaptive_avg_pool, rank=3),
     ("input", "output_size"), {}),
    ("mean", (torch.mean,), _mean, ("input", "dim", "keepdim"), {"dim": None, "keepdim": False}),
    ("sum", (torch.sum,), reduction("Sum"), ("input", "dim", "keepdim"), {"dim": None, "keepdim": False}),
    ("amax", (torch.amax,), reduction("ReduceMax"), ("input", "dim", "keepdim"), {"dim": None, "keepdim": False}),
    ("flatten", (torch.flatten,), _reshape, ("input",), {}),
    ("reshape", (torch.reshape,), _reshape, ("input",), {}),
    ("pad", (F.pad,), _pad, ("input", "pad", "mode", "value"), {"mode": "constant", "value": None}),
    ("softmax", (F.softmax, torch.softmax), _softmax, ("input", "dim"), {"dim": None}),
    ("cat", (torch.cat, torch.concat), _cat, ("tensors", "dim"), {"dim": 0}),
    ("interpolate", (F.interpolate,), _interpolate,
     ("input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"),
     {"size": None, "scale_factor": None, "mode": "nearest", "align_corners": None,
      "recompute_scale_factor": None, "antialias": False}),
    ("dropout", (F.dropout, F.dropout2d), _identity, ("input",), {}),
    ("permute", (torch.permute,), _permute, ("input", "dims"), {}),
    ("transpose", (torch.transpose,), _permute, ("input", "dim0", "dim1"), {}),
    ("getitem", (operator.getitem,), _getitem, ("input", "index"), {}),
    ("narrow", (torch.narrow,), _narrow, ("input", "dim", "start", "length"), {}),
    ("chunk", (torch.chunk,), _pieces, ("input", "chunks", "dim"), {"dim": 0}),
    ("split", (torch.split,), _pieces, ("input", "split_size", "dim"), {"dim": 0}),
    ("squeeze", (torch.squeeze,), _reshape, ("input",), {}),
    ("unsqueeze", (torch.unsqueeze,), _reshape, ("input",), {}),
]
FUNCTIONS: dict[Any, tuple] = {t: (h, names, defaults) for _, ts, h, names, defaults in _F for t in ts}
METHODS: dict[str, tuple] = {
    "add": (_add, ("input", "other"), {"alpha": 1}),
    "relu": (unary("ReLU"), ("input",), {}),
    "sigmoid": (unary("Sigmoid"), ("input",), {}),
    "tanh": (unary("Tanh"), ("input",), {}),
    "sub": (binary("Sub"), ("input", "other"), {"alpha": 1}),
    "mul": (binary("Mul"), ("input", "other"), {}),
    "maximum": (binary("Maximum"), ("input", "other"), {}),
    "minimum": (binary("Minimum"), ("input", "other"), {}),
    "clamp": (_clamp, ("input", "min", "max"), {"min": None, "max": None}),
    "clip": (_clamp, ("input", "min", "max"), {"min": None, "max": None}),
    "mean": (_mean, ("input", "dim", "keepdim"), {"dim": None, "keepdim": False}),
    "sum": (reduction("Sum"), ("input", "dim", "keepdim"), {"dim": None, "keepdim": False}),
    "amax": (reduction("ReduceMax"), ("input", "dim", "keepdim"), {"dim": None, "keepdim": False}),
    "softmax": (_softmax, ("input", "dim"), {"dim": None}),
    "view": (_reshape, ("input",), {}),
    "reshape": (_reshape, ("input",), {}),
    "flatten": (_reshape, ("input",), {}),
    "contiguous": (_identity, ("input",), {}),
    "permute": (_permute, ("input", "dims"), {}),
    "transpose": (_permute, ("input", "dim0", "dim1"), {}),
    "narrow": (_narrow, ("input", "dim", "start", "length"), {}),
    "chunk": (_pieces, ("input", "chunks", "dim"), {"dim": 0}),
    "split": (_pieces, ("input", "split_size", "dim"), {"dim": 0}),
    "squeeze": (_reshape, ("input",), {}),
    "unsqueeze": (_reshape, ("input",), {}),
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


def is_supported(cap, node: fx.Node) -> bool:
    """Whether a table has an entry for `node` (its arguments may still be refused)."""
    if node.op == "call_module":
        return type(cap.module(node)) in MODULES
    if node.op == "call_function":
        return _hashable(node.target) and node.target in FUNCTIONS
    return node.op != "call_method" or node.target in METHODS


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
