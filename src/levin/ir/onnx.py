"""Import a float ONNX model (opset 13+) into levin's graph IR; quantize it like any captured model.

Read me first. The model is read into plain records by `levin.ir.onnx_read` (the parse boundary:
protobuf, checker and shape inference; every failure there is a LevinFormatError), then each node
goes through the `OPS` table (op type -> (inputs it needs, handler)); adding an op is one entry.
- Layout: ONNX is NCHW like torch, and this frontend holds it as the torch frontend does
  (`levin.ir.torch_ops.Value`): a rank-4 tensor is a feature map held as NHWC, a rank-3 one
  (N, C, L) a 1-D map held as (N, 1, L, C) (1-D convs and pools run as the 2-D ones with height
  1), conv weights OIHW become OHWI, an NCHW axis becomes its NHWC axis, and a flatten of a
  feature map (or a Transpose that only a flatten reads) records the element order (`perm`)
  that the next Gemm/MatMul follows by permuting its weight columns. Graph inputs and outputs of
  rank 3 and 4 are in the IR layout.
- Folded on import: BatchNormalization into the Conv/ConvTranspose/Gemm/MatMul right before it (a lone one
  becomes Mul + Add by constants); MatMul + Add of a constant bias into one Linear; the erf
  form of GELU (Div, Erf, Add, Mul, Mul: what opset < 20 exports) into GELU; x * HardSigmoid(x)
  into Hardswish; nodes whose inputs are all constants (shape arithmetic) into constants.
- Every node's output shape is checked against the shape ONNX shape inference gives it.
Anything else raises CaptureError naming the node and what is supported: an unsupported op or
attribute, a dynamic dimension, a non-float input.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np

from levin.errors import CaptureError, LevinError
from levin.fileio import read_bytes
from levin.ir import onnx_patterns
from levin.ir.graph import Graph
from levin.ir.onnx_read import _DTYPES, FLOAT, ModelRecord, NodeRecord, read
from levin.ir.torch_ops import Value, flatten_order, ir_permutation, nhwc

_TO_NHWC_AXIS = {4: {0: 0, 1: 3, 2: 1, 3: 2}, 3: {0: 0, 1: 3, 2: 2}}   # by rank: NCHW / NCL axis -> IR


def _same_order(shape) -> bool:
    """True if NCHW (NCL) and NHWC list this tensor's elements in the same order."""
    return len(shape) not in (3, 4) or shape[1] == 1 or math.prod(shape[2:]) == 1


def _onnx_shape(ir: tuple[int, ...], rank: int) -> tuple[int, ...]:
    """The ONNX shape of a feature map of IR shape `ir` (N, H, W, C), of ONNX rank 3 or 4."""
    n, h, w, c = ir
    return (n, c, w) if rank == 3 else (n, c, h, w)


def _lift_1d(a: dict, rank: int) -> dict:
    """The attributes of a conv / pool node on a map of ONNX `rank`: a 1-D one's (rank 3) as
    those of the 2-D op with height 1."""
    if rank != 3:
        return a
    out = {**a, **{k: (1, *a[k]) for k in ("kernel_shape", "strides", "dilations") if a.get(k)}}
    if a.get("pads"):
        out["pads"] = (0, a["pads"][0], 0, a["pads"][1])
    return out


def _same_padding(size: int, k: int, s: int, d: int, upper: bool) -> tuple[int, int]:
    out = -(-size // s)
    total = max((out - 1) * s + d * (k - 1) + 1 - size, 0)
    small = total // 2
    return (small, total - small) if upper else (total - small, small)


class _Importer:
    def __init__(self, model: ModelRecord, name: str, source: str):
        self.model, self.source = model, source
        self.graph = Graph(name)
        self.values: dict[str, Value] = {}        # ONNX activation -> how the IR holds it
        self.consts: dict[str, np.ndarray] = dict(model.constants)
        self.counts: dict[str, int] = {}
        self.derived: dict[str, tuple[int, ...]] = {}    # shapes ONNX left unknown: from the IR
        self.where = source
        self.plan = onnx_patterns.rewrite(model, self.consts)

    # -- helpers ------------------------------------------------------------------------------
    def fail(self, msg: str) -> CaptureError:
        return CaptureError(f"{self.where}: {msg}")

    def fresh(self, stem: str) -> str:
        k = self.counts.get(stem, 0)
        self.counts[stem] = k + 1
        return f"{stem}{k}"

    def shape(self, name: str) -> tuple[int, ...]:
        """The static ONNX shape of `name`."""
        if name in self.consts:
            return tuple(self.consts[name].shape)
        if name in self.derived:
            return self.derived[name]
        if name not in self.model.shapes:
            raise self.fail(f"shape inference gives no static shape for {name!r}; export with "
                            f"fixed input shapes")
        return self.model.shapes[name]

    def const(self, name: str, what: str, required: bool = True) -> np.ndarray | None:
        if not name:
            if required:
                raise self.fail(f"{what} is missing")
            return None
        if name not in self.consts:
            raise self.fail(f"{what} ({name!r}) must be a constant (an initializer or Constant node)")
        return self.consts[name]

    def value(self, name: str) -> Value:
        if name not in self.values:
            if name in self.consts:
                raise self.fail(f"input {name!r} is a constant where levin needs an activation")
            raise self.fail(f"input {name!r} is neither a graph input nor computed before")
        return self.values[name]

    def feature_map(self, name: str, ranks: tuple[int, ...] = (3, 4)) -> Value:
        x = self.value(name)
        if not x.nchw or len(self.shape(name)) not in ranks:
            maps = " or ".join({3: "rank-3 NCL", 4: "rank-4 NCHW"}[r] for r in ranks)
            raise self.fail(f"needs a {maps} feature map, got shape {self.shape(name)}")
        return x

    def hw(self, name: str) -> tuple[int, int]:
        """(height, width) of a feature map: (1, L) for a 1-D one."""
        shape = self.shape(name)
        return (1, shape[2]) if len(shape) == 3 else tuple(shape[2:4])

    def add_const(self, stem: str, data: np.ndarray) -> str:
        return self.graph.add_constant(self.fresh(stem), np.asarray(data, np.float32))

    def emit(self, op: str, inputs, stem: str, **attrs) -> str:
        return self.graph.add_node(op, inputs, self.fresh(stem), **attrs)

    def axis(self, x: Value, axis: int, rank: int) -> int:
        if not -rank <= axis < rank:
            raise self.fail(f"axis {axis} is out of range for rank {rank}")
        axis %= rank
        return _TO_NHWC_AXIS[rank][axis] if x.nchw else axis

    def layout(self, data: np.ndarray, like: Value, rank: int) -> np.ndarray:
        """An ONNX-layout constant operand in the IR layout of the activation `like`."""
        data = np.asarray(data, np.float64)
        if data.size == 1:
            return data.reshape(1)
        if data.ndim > rank:
            raise self.fail(f"constant operand of shape {data.shape} has more dims than the result")
        if like.nchw and rank == 3:
            return data.reshape((1,) * (3 - data.ndim) + data.shape).transpose(0, 2, 1)[:, None]
        if like.nchw:
            return data.reshape((1,) * (4 - data.ndim) + data.shape).transpose(0, 2, 3, 1)
        if like.perm is not None and data.shape[-1] != 1:
            return data[..., like.perm]
        return data

    # -- the walk -----------------------------------------------------------------------------
    def run(self) -> Graph:
        for k, (name, dims, elem) in enumerate(self.model.inputs):
            self.where = f"{self.source}: graph input {name!r}"
            if elem != FLOAT:
                raise self.fail(f"element type {elem} is not float32; levin imports float models")
            if not dims or any(not isinstance(d, int) or d < 1 for d in dims):
                raise self.fail(f"shape {dims} has a dynamic dimension; export with fixed shapes "
                                f"(no dynamic_axes), batch size 1")
            feature_map = len(dims) in (3, 4)      # (N, C, L) is a 1-D map, as torch capture takes it
            ir = self.graph.add_input("input" if k == 0 else f"input{k}", nhwc(dims) if feature_map else dims)
            self.values[name] = Value(ir, feature_map)
        for node in self.plan.nodes:
            self.where = f"{self.source}: node {node.name!r} ({node.op})"
            self.node(node)
        self.where = self.source
        for name in self.model.outputs:
            if name in self.consts or name not in self.values:
                raise self.fail(f"graph output {name!r} is a constant or never computed")
            if self.values[name].perm is not None:
                raise self.fail(f"graph output {name!r} is a flattened feature map, whose element "
                                f"order differs in NHWC; end the model with a Gemm or a pool to 1x1 "
                                f"before flattening")
            self.graph.mark_output(self.values[name].name)
        self.graph.validate()
        return self.graph

    def node(self, node: NodeRecord) -> None:
        arity, handler = OPS[node.op]
        if len(node.inputs) < arity or not all(node.inputs[:arity]):
            raise self.fail(f"takes {arity} inputs, the model gives {len(node.inputs)}")
        if node.op in FOLD and all(i in self.consts for i in node.inputs if i) or node.op == "Shape":
            self.consts[node.outputs[0]] = np.asarray(FOLD[node.op](self, node))
            return
        for extra in node.outputs[1:]:
            if extra and self.used(extra):
                raise self.fail(f"output {extra!r} is used; levin's ops have one output")
        out = handler(self, node)
        for name in (node.outputs[0],) + self.plan.folds.get(node.name, ()):
            self.values[name] = out
        have = self.graph.tensors[out.name].shape
        if node.outputs[0] not in self.model.shapes:
            rank = len(self.shape(node.inputs[0])) if node.inputs[0] in self.model.shapes else 4
            self.derived[node.outputs[0]] = _onnx_shape(have, rank) if out.nchw else have
        want = self.shape(node.outputs[0])
        if out.perm is not None:        # a Transpose only a flatten reads: the same elements
            same = math.prod(want) == math.prod(have)
        else:
            same = (nhwc(want) if out.nchw else want) == have
        if not same:
            raise self.fail(f"levin infers shape {have}, ONNX shape inference {want}")

    def used(self, name: str) -> bool:
        return name in self.model.outputs or any(name in n.inputs for n in self.plan.nodes)

    def only_flattened(self, name: str) -> bool:
        """True if every reader of `name` flattens it to (N, features) and it is no graph output."""
        users = [n for n in self.plan.nodes if name in n.inputs]
        return bool(users) and name not in self.model.outputs and all(
            n.op in ("Flatten", "Reshape") and n.inputs[0] == name
            and len(self.model.shapes.get(n.outputs[0], ())) == 2 for n in users)


# -- handlers: one per ONNX op (the OPS table below) ----------------------------------------------
def _unary(op: str, **defaults) -> Callable:
    """An activation: the IR op `op`, with ONNX attributes (defaults given) as its attributes."""
    def handler(imp: _Importer, node: NodeRecord) -> Value:
        x = imp.value(node.inputs[0])
        attrs = {k: node.attrs.get(k, v) for k, v in defaults.items()}
        return Value(imp.emit(op, [x.name], op.lower(), **attrs), x.nchw, x.perm)
    return handler


def _identity(imp, node):
    return imp.value(node.inputs[0])


def _clip(imp, node):
    lo = imp.const(node.inputs[1] if len(node.inputs) > 1 else "", "min", required=False)
    hi = imp.const(node.inputs[2] if len(node.inputs) > 2 else "", "max", required=False)
    for name, bound in (("min", lo), ("max", hi)):
        if bound is not None and bound.size != 1:
            raise imp.fail(f"Clip {name} must be one number, got {bound.size} values")
    lo = -math.inf if lo is None else float(lo.reshape(-1)[0])
    hi = math.inf if hi is None else float(hi.reshape(-1)[0])
    if math.isnan(lo) or math.isnan(hi):
        raise imp.fail("Clip bounds must not be NaN")
    x = imp.value(node.inputs[0])
    if (lo, hi) in ((0.0, 6.0), (0.0, math.inf)):
        op = "ReLU6" if hi == 6.0 else "ReLU"
        return Value(imp.emit(op, [x.name], op.lower()), x.nchw, x.perm)
    if lo > hi:
        raise imp.fail(f"min {lo} is above max {hi}")
    return Value(imp.emit("Clamp", [x.name], "clamp", min=lo, max=hi), x.nchw, x.perm)


def _hard_sigmoid(imp, node):
    alpha, beta = node.attrs.get("alpha", 0.2), node.attrs.get("beta", 0.5)
    if not (np.isclose(alpha, 1 / 6, rtol=1e-6) and beta == 0.5):
        raise imp.fail(f"HardSigmoid alpha={alpha}, beta={beta}: levin's Hardsigmoid is "
                       f"alpha=1/6, beta=0.5 (torch's)")
    return _unary("Hardsigmoid")(imp, node)


def _gelu(imp, node):
    approximate = node.attrs.get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise imp.fail(f"approximate={approximate!r}; 'none' or 'tanh' expected")
    x = imp.value(node.inputs[0])
    return Value(imp.emit("GELU", [x.name], "gelu", approximate=approximate), x.nchw, x.perm)


def _binary(op: str) -> Callable:
    """Add, Sub, Mul, Div (a Mul by the reciprocal of a constant divisor), Max, Min: numpy
    broadcasting; one operand may be a constant."""
    def handler(imp, node):
        if len(node.inputs) != 2:
            raise imp.fail(f"{len(node.inputs)} operands; levin's {op} takes 2")
        a, b = node.inputs
        rank = len(imp.shape(node.outputs[0]))
        if node.op == "Div":
            if b not in imp.consts:
                raise imp.fail("division by an activation is not supported (only by a constant)")
            imp.consts[f"{b}.reciprocal"] = 1.0 / imp.consts[b].astype(np.float64)
            b = f"{b}.reciprocal"
        if a in imp.consts or b in imp.consts:
            from levin import ops

            if not ops.get(op).constant_inputs:
                raise imp.fail(f"a constant operand of {op} is not supported; use two activations")
        x = imp.value(b if a in imp.consts else a)
        y = None if a in imp.consts or b in imp.consts else imp.value(b)
        if y is not None and (x.nchw != y.nchw or (x.perm is None) != (y.perm is None) or (
                x.perm is not None and not np.array_equal(x.perm, y.perm))):
            raise imp.fail("operands are held in different layouts (a feature map and a flattened "
                           "vector); combine tensors of the same kind")
        names = [imp.add_const(f"{op.lower()}.const", imp.layout(imp.consts[i], x, rank))
                 if i in imp.consts else imp.value(i).name for i in (a, b)]
        return Value(imp.emit(op, names, op.lower()), x.nchw, x.perm)
    return handler


def _conv_window(imp, a: dict, size: tuple[int, int], kernel: tuple[int, int]):
    """strides, dilations and (top, bottom, left, right) pads of a Conv or pool node's
    attributes `a` (2-D, or 1-D lifted by `_lift_1d`)."""
    strides = tuple(a.get("strides") or (1, 1))
    dilations = tuple(a.get("dilations") or (1, 1))
    if len(strides) != 2 or len(dilations) != 2 or min(strides + dilations + kernel) < 1:
        raise imp.fail(f"strides {strides}, dilations {dilations}, kernel {kernel}: 2-D, >= 1 expected")
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        up = auto == "SAME_UPPER"
        pads = (_same_padding(size[0], kernel[0], strides[0], dilations[0], up)
                + _same_padding(size[1], kernel[1], strides[1], dilations[1], up))
    elif auto == "VALID":
        pads = (0, 0, 0, 0)
    elif auto == "NOTSET":
        p = tuple(a.get("pads") or (0, 0, 0, 0))
        if len(p) != 4 or min(p) < 0:
            raise imp.fail(f"pads {p}: 4 non-negative values expected")
        pads = (p[0], p[2], p[1], p[3])      # ONNX (h_begin, w_begin, h_end, w_end)
    else:
        raise imp.fail(f"auto_pad={auto!r} is not supported")
    return strides, dilations, pads


def _conv(imp, node):
    x = imp.feature_map(node.inputs[0])
    w = imp.const(node.inputs[1], "weight").astype(np.float64)
    if w.ndim != len(imp.shape(node.inputs[0])):
        raise imp.fail(f"weight of shape {w.shape}: only 1-D and 2-D convolutions (OIL / OIHW "
                       f"weights) are supported")
    w = w[:, :, None] if w.ndim == 3 else w       # a 1-D conv: kernel (1, k)
    b = imp.const(node.inputs[2] if len(node.inputs) > 2 else "", "bias", required=False)
    b = None if b is None else b.astype(np.float64)
    w, b = onnx_patterns.fold_bn(imp, node, w, b)
    a = _lift_1d(node.attrs, len(imp.shape(node.inputs[0])))
    strides, dilations, pads = _conv_window(imp, a, imp.hw(node.inputs[0]), tuple(w.shape[2:]))
    name = imp.fresh("conv")
    inputs = [x.name, imp.graph.add_constant(f"{name}.weight", w.transpose(0, 2, 3, 1).astype(np.float32))]
    if b is not None:
        inputs.append(imp.graph.add_constant(f"{name}.bias", b.astype(np.float32)))
    return Value(imp.graph.add_node("Conv2d", inputs, name, stride=strides, padding=pads,
                                    dilation=dilations, groups=int(node.attrs.get("group", 1))), True)


def _linear(imp, node, w: np.ndarray, b: np.ndarray | None) -> Value:
    """Linear of node's input 0 with w [out, in] (in ONNX feature order) and bias b."""
    x = imp.value(node.inputs[0])
    if x.nchw or len(imp.shape(node.inputs[0])) != 2:
        raise imp.fail(f"takes (N, features) inputs, got {imp.shape(node.inputs[0])}; flatten first")
    w, b = onnx_patterns.fold_bn(imp, node, w, b)
    if x.perm is not None:
        w = w[:, x.perm]
    name = imp.fresh("fc")
    inputs = [x.name, imp.graph.add_constant(f"{name}.weight", w.astype(np.float32))]
    if b is not None:
        inputs.append(imp.graph.add_constant(f"{name}.bias", np.broadcast_to(b, (w.shape[0],)).astype(np.float32)))
    return Value(imp.graph.add_node("Linear", inputs, name))


def _bias(imp, c: np.ndarray | None, out: int) -> np.ndarray | None:
    if c is None:
        return None
    c = np.asarray(c, np.float64)
    if c.size not in (1, out) or c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1):
        raise imp.fail(f"bias of shape {c.shape} does not broadcast to ({out},)")
    return np.broadcast_to(c.reshape(-1), (out,))


def _gemm(imp, node):
    a = node.attrs
    if a.get("transA", 0):
        raise imp.fail("transA=1 is not supported")
    w = imp.const(node.inputs[1], "B (the weights)").astype(np.float64)
    if w.ndim != 2:
        raise imp.fail(f"B of shape {w.shape}; 2-D expected")
    w = (w if a.get("transB", 0) else w.T) * a.get("alpha", 1.0)
    c = imp.const(node.inputs[2] if len(node.inputs) > 2 else "", "C (the bias)", required=False)
    b = _bias(imp, c, w.shape[0])
    return _linear(imp, node, w, None if b is None else b * a.get("beta", 1.0))


def _matmul(imp, node):
    w = imp.const(node.inputs[1], "the second operand (the weights)").astype(np.float64)
    if w.ndim != 2:
        raise imp.fail(f"weights of shape {w.shape}; 2-D [in, out] expected")
    bias = onnx_patterns.matmul_bias(imp, node)
    return _linear(imp, node, w.T, None if bias is None else _bias(imp, bias, w.shape[1]))


def _batchnorm(imp, node):
    """A BatchNormalization no Conv/Gemm absorbed: Mul and Add by per-channel constants."""
    x = imp.value(node.inputs[0])
    scale, shift = onnx_patterns.bn_affine(imp, node)
    rank = len(imp.shape(node.inputs[0]))
    shape = (1, -1) + (1,) * (rank - 2)
    y = imp.emit("Mul", [x.name, imp.add_const("bn.scale", imp.layout(scale.reshape(shape), x, rank))], "bn_mul")
    y = imp.emit("Add", [y, imp.add_const("bn.shift", imp.layout(shift.reshape(shape), x, rank))], "bn_add")
    return Value(y, x.nchw, x.perm)


def _pool(imp, node):
    x = imp.feature_map(node.inputs[0])
    a = _lift_1d(node.attrs, len(imp.shape(node.inputs[0])))
    kernel = tuple(a.get("kernel_shape") or ())
    if len(kernel) != 2:
        raise imp.fail(f"kernel_shape {kernel}: 1-D or 2-D pooling expected")
    if any(d != 1 for d in a.get("dilations") or (1, 1)):
        raise imp.fail("dilated pooling is not supported")
    h, w = imp.hw(node.inputs[0])
    strides, _, pads = _conv_window(imp, a, (h, w), kernel)
    out = []
    for n, k, s, p0, p1 in zip((h, w), kernel, strides, pads[::2], pads[1::2]):
        o = (n + p0 + p1 - k) // s + 1
        if a.get("ceil_mode", 0):
            o = -(-(n + p0 + p1 - k) // s) + 1
            o -= (o - 1) * s >= n + p0        # no window may start in the end padding
        out.append(o)
    # ceil_mode (or SAME padding) may need more cells at the bottom/right: padding, left out of
    # the average and never the max
    extra = [max(0, (o - 1) * s + k - n - p0 - p1) for o, s, k, n, p0, p1 in
             zip(out, strides, kernel, (h, w), pads[::2], pads[1::2])]
    include = bool(a.get("count_include_pad", 0))
    if any(extra) and include and node.op == "AveragePool":
        # onnxruntime (as torch) divides an overhanging window by its cells inside the padded
        # input: without explicit padding, that is count_include_pad=0
        if any(pads):
            raise imp.fail("ceil_mode with padding and count_include_pad=1 is not supported")
        include = False
    pads = (pads[0], pads[1] + extra[0], pads[2], pads[3] + extra[1])
    if node.op == "MaxPool":
        return Value(imp.emit("MaxPool2d", [x.name], "maxpool", kernel=kernel, stride=strides, padding=pads), True)
    return Value(imp.emit("AvgPool2d", [x.name], "avgpool", kernel=kernel, stride=strides, padding=pads,
                          count_include_pad=include), True)


def _global_pool(imp, node):
    x = imp.feature_map(node.inputs[0])
    if node.op == "GlobalAveragePool":
        return Value(imp.emit("GlobalAvgPool", [x.name], "gap"), True)
    h, w = imp.hw(node.inputs[0])
    return Value(imp.emit("MaxPool2d", [x.name], "gmp", kernel=(h, w), stride=(h, w)), True)


def _reduce_mean(imp, node):
    x = imp.feature_map(node.inputs[0])
    axes = node.attrs.get("axes")
    if len(node.inputs) > 1 and node.inputs[1]:
        axes = imp.const(node.inputs[1], "axes").reshape(-1).tolist()
    rank = len(imp.shape(node.inputs[0]))
    if {int(d) % rank for d in axes or ()} != set(range(2, rank)):
        raise imp.fail(f"only the mean over the spatial axes ({', '.join(map(str, range(2, rank)))}) "
                       f"is supported, got {axes}")
    out = imp.emit("GlobalAvgPool", [x.name], "gap")
    if node.attrs.get("keepdims", 1):
        return Value(out, True)
    return Value(imp.emit("Reshape", [out], "squeeze", shape=imp.shape(node.outputs[0])))


def _reshape(imp, node):
    """Reshape, Flatten, Squeeze, Unsqueeze: to the shape ONNX infers, following the flatten
    order of a feature map (`perm`) as the torch frontend does."""
    x = imp.value(node.inputs[0])
    src = imp.shape(node.inputs[0])
    dst = imp.model.shapes.get(node.outputs[0]) or _target_shape(imp, node, src)
    if src == dst and x.perm is None:
        return x
    if x.perm is not None:              # a Transpose only this flatten reads: keep its order
        if len(dst) != 2 or dst[0] != src[0]:
            raise imp.fail(f"cannot reshape a flattened NHWC feature map again ({src} -> {dst})")
        return Value(imp.emit("Reshape", [x.name], "flatten", shape=dst), False, x.perm)
    if x.nchw and not _same_order(src):
        if len(dst) != 2 or dst[0] != src[0]:
            raise imp.fail(f"a {src} feature map can only be flattened to (N, features) in the "
                           f"NHWC IR, not reshaped to {dst}")
        perm = np.moveaxis(np.arange(math.prod(src[1:])).reshape(src[1:]), 0, -1).ravel()
        return Value(imp.emit("Reshape", [x.name], "flatten", shape=dst), False, perm)
    if len(dst) == 4 and not _same_order(dst):
        raise imp.fail(f"reshaping {src} into a {dst} feature map is not supported (the IR is NHWC)")
    return Value(imp.emit("Reshape", [x.name], "reshape", shape=nhwc(dst) if len(dst) == 4 else dst),
                 len(dst) == 4)


def _target_shape(imp, node, src: tuple[int, ...]) -> tuple[int, ...]:
    """The output shape of a Flatten, Reshape, Squeeze or Unsqueeze that shape inference left
    unknown (its input's shape was computed by nodes levin folded)."""
    if node.op == "Flatten":
        axis = int(node.attrs.get("axis", 1)) % (len(src) + 1)
        return (math.prod(src[:axis]), math.prod(src[axis:]))
    arg = imp.const(node.inputs[1], "axes" if node.op != "Reshape" else "shape") \
        if len(node.inputs) > 1 and node.inputs[1] else np.asarray(node.attrs.get("axes") or [], np.int64)
    arg = [int(v) for v in arg.reshape(-1)]
    if node.op == "Reshape":
        dst = [src[k] if v == 0 and k < len(src) else v for k, v in enumerate(arg)]
        if dst.count(-1) == 1:
            rest = math.prod(d for d in dst if d != -1)
            dst[dst.index(-1)] = math.prod(src) // rest if rest else 0
    elif node.op == "Squeeze":
        drop = {a % len(src) for a in arg} if arg else {k for k, d in enumerate(src) if d == 1}
        dst = [d for k, d in enumerate(src) if k not in drop]
    else:
        dst = list(src)
        for a in sorted(v % (len(src) + len(arg)) for v in arg):
            dst.insert(a, 1)
    if math.prod(dst) != math.prod(src) or min(dst, default=1) < 1:
        raise imp.fail(f"cannot reshape {src} to {tuple(dst)}")
    return tuple(dst)


def _concat(imp, node):
    xs = [imp.value(i) for i in node.inputs]
    if len({x.nchw for x in xs}) > 1 or any(x.perm is not None for x in xs):
        raise imp.fail("inputs must all be feature maps, or all plain vectors not flattened from maps")
    axis = imp.axis(xs[0], int(node.attrs.get("axis", 0)), len(imp.shape(node.outputs[0])))
    return Value(imp.emit("Concat", [x.name for x in xs], "concat", axis=axis), xs[0].nchw)


def _pad(imp, node):
    """Pad of H and W (or L): constant (Pad) or reflect (MirrorPad)."""
    x = imp.feature_map(node.inputs[0])
    mode = node.attrs.get("mode", "constant")
    if mode not in ("constant", "reflect"):
        raise imp.fail(f"mode={mode!r}; only constant and reflect padding are supported")
    p = imp.const(node.inputs[1], "pads").reshape(-1).astype(np.int64)
    if len(node.inputs) > 3 and node.inputs[3]:
        raise imp.fail("the axes input is not supported; give pads for all dims")
    value = imp.const(node.inputs[2] if len(node.inputs) > 2 else "", "constant_value", required=False)
    rank = len(imp.shape(node.inputs[0]))
    if rank == 3 and p.size == 6:            # (N, C, L): pad L only, as (0, 0, left, right)
        p = np.array([0, 0, 0, p[2], 0, 0, 0, p[5]])
    if p.size != 8 or p.min() < 0 or p[[0, 1, 4, 5]].any():
        raise imp.fail(f"pads {p.tolist()}: only non-negative padding of H and W (or L) is supported")
    pads = (int(p[2]), int(p[6]), int(p[3]), int(p[7]))
    if mode == "reflect":
        return Value(imp.emit("MirrorPad", [x.name], "pad", pads=pads, mode="reflect"), True)
    return Value(imp.emit("Pad", [x.name], "pad", pads=pads,
                          value=0.0 if value is None else float(value.reshape(-1)[0])), True)


def _transpose(imp, node):
    """A Transpose of an activation (batch axis first, rank <= 4): where only a flatten reads
    it, no copy (the order joins the flatten's, as in the torch frontend); else a Transpose."""
    x = imp.value(node.inputs[0])
    src = imp.shape(node.inputs[0])
    rank = len(src)
    p = [int(d) % rank for d in (node.attrs.get("perm") or range(rank - 1, -1, -1))]
    if sorted(p) != list(range(rank)):
        raise imp.fail(f"perm {p} is not a permutation of the {rank} axes")
    if p == list(range(rank)):
        return x
    if p[0] != 0 or rank > 4:
        raise imp.fail(f"perm {tuple(p)} of a rank-{rank} tensor: the batch axis must stay first (rank <= 4)")
    if x.perm is not None:
        raise imp.fail("cannot transpose a flattened feature map")
    if imp.only_flattened(node.outputs[0]):
        return Value(x.name, False, flatten_order(src, p, x.nchw))
    return Value(imp.emit("Transpose", [x.name], "transpose", perm=ir_permutation(p, x.nchw)), x.nchw)


def _conv_transpose(imp, node):
    """ConvTranspose (2-D, group 1, dilation 1, explicit pads): weights IOHW -> OHWI, a
    BatchNormalization after it folded."""
    x = imp.feature_map(node.inputs[0], (4,))
    a = node.attrs
    w = imp.const(node.inputs[1], "weight").astype(np.float64)
    if w.ndim != 4:
        raise imp.fail(f"weight of shape {w.shape}: only 2-D transposed convolutions are supported")
    if int(a.get("group", 1)) != 1 or any(d != 1 for d in a.get("dilations") or (1, 1)):
        raise imp.fail(f"group={a.get('group', 1)}, dilations={a.get('dilations')}: only group 1, "
                       f"dilation 1 are supported")
    if a.get("output_shape") or a.get("auto_pad", "NOTSET") != "NOTSET":
        raise imp.fail("output_shape / auto_pad are not supported; export with explicit pads")
    b = imp.const(node.inputs[2] if len(node.inputs) > 2 else "", "bias", required=False)
    w, b = onnx_patterns.fold_bn(imp, node, w.transpose(1, 2, 3, 0), None if b is None else b.astype(np.float64))
    p = tuple(a.get("pads") or (0, 0, 0, 0))
    strides, extra = tuple(a.get("strides") or (1, 1)), tuple(a.get("output_padding") or (0, 0))
    if len(p) != 4 or len(strides) != 2 or len(extra) != 2 or min(p + extra) < 0 or min(strides) < 1:
        raise imp.fail(f"pads {p}, strides {strides}, output_padding {extra}: 2-D values expected")
    name = imp.fresh("deconv")
    inputs = [x.name, imp.graph.add_constant(f"{name}.weight", w.astype(np.float32))]
    if b is not None:
        inputs.append(imp.graph.add_constant(f"{name}.bias", np.asarray(b, np.float32)))
    return Value(imp.graph.add_node("ConvTranspose2d", inputs, name, stride=strides,
                                    padding=(p[0], p[2], p[1], p[3]), output_padding=extra), True)


def _resize_source(out: int, size: int, scale: float, how: str, rounding: str) -> np.ndarray:
    """The input index ONNX's nearest Resize reads for each output index."""
    x = np.arange(out, dtype=np.float64)
    where = {"half_pixel": (x + 0.5) / scale - 0.5,
             "pytorch_half_pixel": (x + 0.5) / scale - 0.5 if out > 1 else 0 * x,
             "align_corners": x * (size - 1) / max(out - 1, 1),
             "asymmetric": x / scale, "tf_half_pixel_for_nn": (x + 0.5) / scale}[how]
    index = {"round_prefer_floor": np.ceil(where - 0.5), "round_prefer_ceil": np.floor(where + 0.5),
             "floor": np.floor(where), "ceil": np.ceil(where)}[rounding]
    return np.clip(index, 0, size - 1).astype(np.int64)


_BILINEAR = {"align_corners": (True, False), "half_pixel": (False, True),
             "pytorch_half_pixel": (False, True), "asymmetric": (False, False)}


def _resize(imp, node):
    """Resize of a feature map by its H and W: "nearest" where ONNX picks the source pixels one
    of TFLite's nearest resizes picks, "linear" where its coordinates are TFLite's bilinear ones."""
    from levin.ops.resize import source_index

    x = imp.feature_map(node.inputs[0], (4,))
    a = node.attrs
    mode, how = a.get("mode", "nearest"), a.get("coordinate_transformation_mode", "half_pixel")
    rounding = a.get("nearest_mode", "round_prefer_floor")
    if a.get("antialias", 0) or a.get("axes") is not None or a.get("exclude_outside", 0):
        raise imp.fail("antialias, axes and exclude_outside are not supported")
    (n, c, h, w), (on, oc, oh, ow) = imp.shape(node.inputs[0]), imp.shape(node.outputs[0])
    if (on, oc) != (n, c):
        raise imp.fail("only the H and W axes may be resized")
    scales = imp.const(node.inputs[2], "scales") if len(node.inputs) > 2 and node.inputs[2] else None
    scales = [oh / h, ow / w] if scales is None or scales.size == 0 else [float(v) for v in scales.reshape(-1)[2:]]
    if how not in ("half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric", "tf_half_pixel_for_nn"):
        raise imp.fail(f"coordinate_transformation_mode={how!r} is not supported")
    if mode == "linear":
        if how not in _BILINEAR or (how == "pytorch_half_pixel" and min(oh, ow) == 1):
            raise imp.fail(f"linear resize with coordinate_transformation_mode={how!r} is not TFLite's "
                           f"RESIZE_BILINEAR")
        if not np.allclose(scales, [oh / h, ow / w], rtol=1e-6):
            raise imp.fail(f"scales {scales} are not output / input size; export with a size")
        ac, half = _BILINEAR[how]
        return Value(imp.emit("ResizeBilinear", [x.name], "resize", size=(oh, ow), align_corners=ac,
                              half_pixel_centers=half), True)
    if mode != "nearest":
        raise imp.fail(f"mode={mode!r} is not supported; 'nearest' or 'linear'")
    if rounding not in ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil"):
        raise imp.fail(f"nearest_mode={rounding!r} is not supported")
    got = [_resize_source(o, i, s, how, rounding) for o, i, s in zip((oh, ow), (h, w), scales)]
    for half in (False, True):
        if all(np.array_equal(g, source_index(o, i, False, half)) for g, o, i in zip(got, (oh, ow), (h, w))):
            return Value(imp.emit("ResizeNearest", [x.name], "resize", size=(oh, ow), half_pixel_centers=half), True)
    raise imp.fail(f"nearest resize ({how}, {rounding}) picks source pixels none of TFLite's nearest "
                   f"resizes picks; export with mode 'nearest' (asymmetric, floor) or 'nearest-exact'")


def _softmax(imp, node):
    x = imp.value(node.inputs[0])
    axis = imp.axis(x, int(node.attrs.get("axis", -1)), len(imp.shape(node.inputs[0])))
    return Value(imp.emit("Softmax", [x.name], "softmax", axis=axis), x.nchw, x.perm)


def _constant(imp, node):
    raise imp.fail("a Constant node needs a 'value' tensor, value_float(s) or value_int(s)")


def _constant_only(imp, node):
    raise imp.fail(f"{node.op} is supported on constants only (the shape arithmetic of exporters)")


def _cast(imp, node):
    if node.attrs.get("to") != FLOAT:
        raise imp.fail(f"a cast of an activation to type {node.attrs.get('to')} is not supported "
                       f"(levin imports float models)")
    return imp.value(node.inputs[0])


def _erf(imp, node):
    raise imp.fail("Erf is supported only inside GELU, x * 0.5 * (1 + erf(x / sqrt(2))), as "
                   "exporters write it")


# -- constant folding: nodes whose inputs are all constants (shape arithmetic of exporters) --------
def _c(imp, node, k):
    return imp.consts[node.inputs[k]]


def _fold_reshape(imp, node):
    return _c(imp, node, 0).reshape(imp.shape(node.outputs[0]))


def _fold_cast(imp, node):
    dtype = _DTYPES.get(node.attrs.get("to"))
    if dtype is None:
        raise imp.fail(f"cast to type {node.attrs.get('to')} is not supported")
    return _c(imp, node, 0).astype(dtype)


def _slice(imp, node):
    data = _c(imp, node, 0)
    starts, ends = (_c(imp, node, k).reshape(-1).tolist() for k in (1, 2))
    axes = _c(imp, node, 3).reshape(-1).tolist() if len(node.inputs) > 3 and node.inputs[3] else range(len(starts))
    steps = _c(imp, node, 4).reshape(-1).tolist() if len(node.inputs) > 4 and node.inputs[4] else [1] * len(starts)
    index = [slice(None)] * data.ndim
    for a, b, e, s in zip(axes, starts, ends, steps):
        if s == 0 or not -data.ndim <= a < data.ndim:
            raise imp.fail(f"slice axis {a} or step {s} is invalid")
        index[int(a)] = slice(int(b), int(e), int(s))
    return data[tuple(index)]


def _constant_of_shape(imp, node):
    value = node.attrs.get("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value).reshape(-1)[:1]
    return np.full(imp.shape(node.outputs[0]), value[0] if value.size else 0, value.dtype)


def _gather(imp, node):
    return np.take(_c(imp, node, 0), _c(imp, node, 1).astype(np.int64), axis=int(node.attrs.get("axis", 0)))


_NUMPY = {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Div": np.divide,
          "Max": np.maximum, "Min": np.minimum}
FOLD: dict[str, Callable] = {
    **{op: (lambda f: lambda imp, node: f(_c(imp, node, 0), _c(imp, node, 1)))(f) for op, f in _NUMPY.items()},
    "Shape": lambda imp, node: np.asarray(imp.shape(node.inputs[0]), np.int64),
    "Gather": _gather,
    "Identity": lambda imp, node: _c(imp, node, 0),
    "Cast": _fold_cast, "Slice": _slice, "ConstantOfShape": _constant_of_shape,
    "Transpose": lambda imp, node: _c(imp, node, 0).transpose(node.attrs.get("perm")),
    "Concat": lambda imp, node: np.concatenate([imp.consts[i].reshape(-1) if imp.consts[i].ndim == 0
                                                else imp.consts[i] for i in node.inputs],
                                               axis=int(node.attrs.get("axis", 0))),
    **{op: _fold_reshape for op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze")},
}

# The ONNX ops levin imports: op type -> (inputs it needs at least, handler). Adding an op to this
# frontend is an entry here (and in FOLD if exporters also apply it to constants).
OPS: dict[str, tuple[int, Callable]] = {
    "Conv": (2, _conv), "Gemm": (2, _gemm), "MatMul": (2, _matmul),
    "BatchNormalization": (5, _batchnorm),
    "Relu": (1, _unary("ReLU")), "Sigmoid": (1, _unary("Sigmoid")), "Tanh": (1, _unary("Tanh")),
    "HardSwish": (1, _unary("Hardswish")), "HardSigmoid": (1, _hard_sigmoid),
    "LeakyRelu": (1, _unary("LeakyReLU", alpha=0.01)), "Elu": (1, _unary("ELU", alpha=1.0)),
    "Gelu": (1, _gelu), "Clip": (1, _clip),
    "Add": (2, _binary("Add")), "Sub": (2, _binary("Sub")), "Mul": (2, _binary("Mul")),
    "Div": (2, _binary("Mul")), "Max": (2, _binary("Maximum")), "Min": (2, _binary("Minimum")),
    "MaxPool": (1, _pool), "AveragePool": (1, _pool),
    "GlobalAveragePool": (1, _global_pool), "GlobalMaxPool": (1, _global_pool),
    "ReduceMean": (1, _reduce_mean),
    "Flatten": (1, _reshape), "Reshape": (2, _reshape), "Squeeze": (1, _reshape), "Unsqueeze": (1, _reshape),
    "Concat": (1, _concat), "Pad": (2, _pad), "Softmax": (1, _softmax),
    "Identity": (1, _identity), "Dropout": (1, _identity),
    "Constant": (0, _constant), "Shape": (1, _constant_only), "Gather": (2, _constant_only),
    "Cast": (1, _cast), "Erf": (1, _erf), "Slice": (3, _constant_only), "Transpose": (1, _transpose),
    "ConvTranspose": (2, _conv_transpose), "Resize": (1, _resize),
    "ConstantOfShape": (1, _constant_only),
}


def from_bytes(data: bytes, name: str = "onnx", source: str | None = None) -> Graph:
    """The levin Graph (named `name`) of an .onnx model: a float graph of a float model, the int8
    graph of a QDQ-quantized one (`levin.ir.onnx_qdq`). Raises CaptureError naming what is not
    supported, LevinFormatError for bytes that are no valid ONNX model; messages start with
    `source` (the file; default `name`)."""
    from levin.ir import onnx_qdq

    source = source or name
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise LevinError("importing .onnx needs the `onnx` package: pip install onnx") from None
    model = read(data, source, set(OPS) | set(onnx_qdq.QDQ_OPS))
    if onnx_qdq.is_qdq(model):
        return onnx_qdq.import_qdq(model, name, source)
    return _Importer(model, name, source).run()


def load(path: str | Path) -> Graph:
    """Read an .onnx file (float or QDQ int8) into a levin Graph named after the file."""
    path = Path(path)
    return from_bytes(read_bytes(path), path.stem, str(path))
