"""levin's graph IR: named tensors and a list of nodes over them, checked as it is built.

Read me first:
- **Layout is NHWC**, as in TFLite, TFLite Micro and CMSIS-NN, which the imported int8 models and
  the generated C use. Feature maps are `[N, H, W, C]`; conv weights are `[O, KH, KW, I/groups]`
  (OHWI; a depthwise conv is a Conv2d with `groups == C`, weights `[C*mult, KH, KW, 1]`); linear
  weights are `[out, in]`; padding attributes are `(top, bottom, left, right)`. Capture from
  PyTorch transposes NCHW to NHWC and fixes up what depends on element order (a Linear after a
  flatten of a feature map gets its weight columns permuted), so the graph computes what the
  torch model computes, with rank-4 inputs and outputs given as NHWC.
- Shapes are fixed and include the batch dimension (1 for a microcontroller).
- A tensor is either a **constant** (weights, biases: `data` holds a numpy array, it lives in
  flash) or an **activation** (graph inputs and every node output: it lives in the arena).
- A tensor is float32, or an integer type with `QuantParams` (real = scale * (q - zero_point),
  per tensor or per channel along `axis`). Quantization itself is done elsewhere; the
  representation is checked here.
- Nodes are kept in execution order, and every node is checked against its op's spec
  (`levin.ops`, the op registry) when it is added, so a `Graph` that exists is a valid one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

import numpy as np

from levin import ops
from levin.errors import GraphError

FLOAT_DTYPES = (np.dtype(np.float32),)
INT_DTYPES = tuple(np.dtype(t) for t in (np.int8, np.uint8, np.int16, np.int32))


def _dtype(dtype: Any, what: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt not in FLOAT_DTYPES + INT_DTYPES:
        allowed = ", ".join(str(d) for d in FLOAT_DTYPES + INT_DTYPES)
        raise GraphError(f"{what}: dtype {dt} is not supported; use one of {allowed}")
    return dt


@dataclass(frozen=True, eq=False)
class QuantParams:
    """Affine quantization: real = scale * (q - zero_point); per channel along `axis` if set."""

    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None
    bits: int | None = None    # significant bits of the values (low-bit weights); None = dtype's

    def __post_init__(self):
        if self.bits is not None and not (isinstance(self.bits, (int, np.integer)) and 2 <= self.bits <= 16):
            raise GraphError(f"quantization: bits={self.bits!r} must be an integer in 2..16")
        scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32))
        zp = np.atleast_1d(np.asarray(self.zero_point))
        if scale.ndim != 1 or zp.shape != scale.shape:
            raise GraphError(f"quantization: scale {scale.shape} and zero point {zp.shape} "
                             f"must be 1-D and the same length")
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise GraphError("quantization: every scale must be finite and > 0")
        if not np.array_equal(zp, np.round(zp)):
            raise GraphError("quantization: zero points must be integers")
        if self.axis is None and scale.size != 1:
            raise GraphError(f"quantization: {scale.size} scales need a per-channel axis")
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zp.astype(np.int32))

    def check(self, shape: tuple[int, ...], dtype: np.dtype, what: str) -> None:
        """Raise GraphError unless these parameters fit a tensor of `shape` and `dtype`."""
        if self.axis is not None:
            if not -len(shape) <= self.axis < len(shape):
                raise GraphError(f"{what}: quantization axis {self.axis} is out of range for "
                                 f"shape {shape}")
            if self.scale.size != shape[self.axis]:
                raise GraphError(f"{what}: {self.scale.size} scales for {shape[self.axis]} "
                                 f"channels along axis {self.axis}")
        info = np.iinfo(dtype)
        if np.any(self.zero_point < info.min) or np.any(self.zero_point > info.max):
            raise GraphError(f"{what}: zero point outside the range of {dtype}")
        if self.bits is not None and self.bits > info.bits:
            raise GraphError(f"{what}: bits={self.bits} exceeds the {info.bits} bits of {dtype}")

    @property
    def nbytes(self) -> int:
        """Bytes as stored: a float32 scale and an int32 zero point per channel."""
        return 8 * self.scale.size


@dataclass(eq=False)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    data: np.ndarray | None = None        # set for constants (weights, biases)
    quant: QuantParams | None = None      # required for integer tensors

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        """Bytes of the values (quantization parameters not included)."""
        return self.size * self.dtype.itemsize

    @property
    def is_float(self) -> bool:
        return self.dtype in FLOAT_DTYPES


@dataclass(eq=False)
class Node:
    """One op application. All ops in the set have exactly one output tensor."""

    name: str
    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict[str, Any] = field(default_factory=dict)


def check_tensor(t: Tensor) -> None:
    """Raise GraphError unless the tensor's shape, dtype, data and quantization agree."""
    what = f"tensor {t.name!r}"
    if any(not isinstance(d, (int, np.integer)) or d < 1 for d in t.shape):
        raise GraphError(f"{what}: shape {t.shape} must be positive integers")
    if t.data is not None and (t.data.shape != t.shape or t.data.dtype != t.dtype):
        raise GraphError(f"{what}: data is {t.data.dtype}{list(t.data.shape)}, declared "
                         f"{t.dtype}{list(t.shape)}")
    if t.is_float and t.quant is not None:
        raise GraphError(f"{what}: a float tensor has no quantization parameters")
    if not t.is_float:
        if t.quant is None:
            raise GraphError(f"{what}: integer tensor ({t.dtype}) needs quantization parameters")
        t.quant.check(t.shape, t.dtype, what)
        bits = t.quant.bits
        if bits is not None and t.data is not None and t.data.size and (
                t.data.min() < -(1 << (bits - 1)) or t.data.max() >= 1 << (bits - 1)):
            raise GraphError(f"{what}: values outside the signed {bits}-bit range")


class Graph:
    """A model as tensors and nodes in execution order. Build with the `add_*` methods."""

    def __init__(self, name: str = "graph"):
        self.name = name
        self.tensors: dict[str, Tensor] = {}
        self.nodes: list[Node] = []
        self.inputs: list[str] = []
        self.outputs: list[str] = []
        self._producer: dict[str, Node] = {}
        # Sets beside the lists, so that a duplicate check is O(1), not a scan: the lists stay the
        # truth, and a set is rebuilt when its list was replaced or resized by code editing it.
        self._node_names: tuple[list[Node], set[str]] = (self.nodes, set())
        self._output_names: tuple[list[str], set[str]] = (self.outputs, set())

    def _names_of_nodes(self) -> set[str]:
        listed, names = self._node_names
        if listed is not self.nodes or len(names) != len(self.nodes):
            names = {n.name for n in self.nodes}
            self._node_names = (self.nodes, names)
        return names

    def _names_of_outputs(self) -> set[str]:
        listed, names = self._output_names
        if listed is not self.outputs or len(names) != len(self.outputs):
            names = set(self.outputs)
            self._output_names = (self.outputs, names)
        return names

    # -- building ---------------------------------------------------------------------------
    def _add_tensor(self, t: Tensor) -> str:
        if t.name in self.tensors:
            raise GraphError(f"tensor name {t.name!r} is already used in graph {self.name!r}")
        check_tensor(t)
        self.tensors[t.name] = t
        return t.name

    def add_input(self, name: str, shape: Iterable[int], dtype: Any = np.float32,
                  quant: QuantParams | None = None) -> str:
        shape = tuple(int(d) for d in shape)
        self._add_tensor(Tensor(name, shape, _dtype(dtype, f"input {name!r}"), None, quant))
        self.inputs.append(name)
        return name

    def add_constant(self, name: str, data: np.ndarray, quant: QuantParams | None = None) -> str:
        data = np.ascontiguousarray(data)
        data.setflags(write=False)
        dt = _dtype(data.dtype, f"constant {name!r}")
        return self._add_tensor(Tensor(name, tuple(data.shape), dt, data, quant))

    def add_node(self, op: str, inputs: Iterable[str], name: str, *, output: str | None = None,
                 dtype: Any = None, quant: QuantParams | None = None, **attrs: Any) -> str:
        """Append `op` applied to `inputs`; infer and check its output; return the output's name.

        The output is float32 like its first input, or, for an integer first input, of `dtype`
        (default: the input's) with `quant` (default: the input's parameters).
        """
        inputs = tuple(inputs)
        names = self._names_of_nodes()
        if name in names:
            raise GraphError(f"node name {name!r} is already used in graph {self.name!r}")
        for i in inputs:
            if i not in self.tensors:
                raise GraphError(f"node {name!r} ({op}): input {i!r} is not defined before it")
        spec = ops.get(op)
        tensors = [self.tensors[i] for i in inputs]
        attrs, shape = spec.check(name, tensors, attrs)
        first = tensors[0]
        out_dtype = first.dtype if dtype is None else _dtype(dtype, f"node {name!r}")
        if out_dtype not in FLOAT_DTYPES and quant is None:
            quant = first.quant
        out = output or name
        self._add_tensor(Tensor(out, shape, out_dtype, None, quant))
        node = Node(name, op, inputs, out, attrs)
        self.nodes.append(node)
        names.add(name)
        self._producer[out] = node
        return out

    def mark_output(self, name: str) -> None:
        if name not in self.tensors or self.tensors[name].is_constant:
            raise GraphError(f"graph output {name!r} is not an activation of graph {self.name!r}")
        outputs = self._names_of_outputs()
        if name not in outputs:
            self.outputs.append(name)
            outputs.add(name)

    def with_constants(self, new: dict[str, np.ndarray | None], name: str | None = None) -> Graph:
        """A copy whose constants in `new` hold other values (same shape; cast to the tensor's
        dtype; same quantization); a constant mapped to None is left out, with it the inputs
        that read it (an optional operand such as a bias: the ops check what is left).
        Raises GraphError on a shape mismatch or an input an op cannot do without."""
        g = Graph(name or self.name)
        dropped = {k for k, v in new.items() if v is None}
        for tname, t in self.tensors.items():
            if t.is_constant and tname not in dropped:
                data = new.get(tname, t.data)
                if data.shape != t.shape:
                    raise GraphError(f"tensor {tname!r}: new values {data.shape}, graph has {t.shape}")
                g.add_constant(tname, data.astype(t.dtype), t.quant)
            elif tname in self.inputs:
                g.add_input(tname, t.shape, t.dtype, t.quant)
        for node in self.nodes:
            out = self.tensors[node.output]
            g.add_node(node.op, [i for i in node.inputs if i not in dropped], node.name, output=node.output,
                       dtype=out.dtype, quant=out.quant, **node.attrs)
        for o in self.outputs:
            g.mark_output(o)
        return g

    # -- queries ----------------------------------------------------------------------------
    def producer(self, tensor: str) -> Node | None:
        return self._producer.get(tensor)

    def consumers(self, tensor: str) -> list[Node]:
        return [n for n in self.nodes if tensor in n.inputs]

    def activations(self) -> list[Tensor]:
        """Graph inputs, then node outputs in execution order: what the arena holds."""
        return [self.tensors[n] for n in self.inputs] + [self.tensors[n.output] for n in self.nodes]

    def constants(self, node: Node) -> list[Tensor]:
        return [self.tensors[i] for i in node.inputs if self.tensors[i].is_constant]

    def validate(self) -> None:
        """Check the whole graph again: order, names, shapes, outputs. Raises GraphError."""
        if not self.inputs or not self.outputs:
            raise GraphError(f"graph {self.name!r} needs at least one input and one output")
        defined = {n for n, t in self.tensors.items() if t.is_constant} | set(self.inputs)
        for node in self.nodes:
            missing = [i for i in node.inputs if i not in defined]
            if missing:
                raise GraphError(f"node {node.name!r} uses {missing[0]!r} before it is computed")
            if node.output in defined:
                raise GraphError(f"tensor {node.output!r} is written twice")
            tensors = [self.tensors[i] for i in node.inputs]
            _, shape = ops.get(node.op).check(node.name, tensors, node.attrs)
            if shape != self.tensors[node.output].shape:
                raise GraphError(f"node {node.name!r}: output shape {self.tensors[node.output].shape}"
                                 f" does not match the inferred {shape}")
            defined.add(node.output)
        for t in self.tensors.values():
            check_tensor(t)
        for out in self.outputs:
            if out not in defined or self.tensors[out].is_constant:
                raise GraphError(f"graph output {out!r} is never computed")

    def __str__(self) -> str:
        lines = [f"graph {self.name}: inputs {', '.join(self.inputs)}; outputs {', '.join(self.outputs)}"]
        for n in self.nodes:
            t = self.tensors[n.output]
            lines.append(f"  {n.output} = {n.op}({', '.join(n.inputs)}) -> {t.dtype}{list(t.shape)}")
        return "\n".join(lines)
