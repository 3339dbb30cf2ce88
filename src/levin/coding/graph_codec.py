"""The graph section of a .lvn file: tensors (names, shapes, dtypes, quantization) and nodes.

Read me first. A compact binary form, specified field by field in docs/format.md ("Graph
section"). Every string (graph, tensor and node names, op names, attribute keys and string
values) is stored once in a string table and referred to by its index, so repeated op names and
attribute keys cost a byte each. Tensors are listed in the graph's order; nodes and the
input/output lists refer to them by index. Constant data is not here: each constant tensor has
its own tensor section (`weights.py`), decoded before the graph is rebuilt.

`build_graph` rebuilds a `Graph` through its public API (`add_input`, `add_constant`,
`add_node`), so a decoded graph is checked exactly as a built one; whatever the IR rejects is
reported as a LevinFormatError naming the tensor or node. Every count, length and size is
checked against `limits.LIMITS` as it is read, before the work it declares is done.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from levin import ops
from levin.coding.fields import INT32_MAX, INT32_MIN, ByteReader, ByteWriter
from levin.coding.limits import LIMITS, exceeds
from levin.errors import GraphError, LevinError, LevinFormatError
from levin.ir.graph import Graph, QuantParams

DTYPES = tuple(np.dtype(t) for t in ("float32", "int8", "uint8", "int16", "int32"))
CONSTANT, QUANTIZED = 0x10, 0x20
PER_CHANNEL, HAS_BITS = 0x01, 0x08
ZP_ZERO, ZP_SHARED, ZP_EACH = 0, 1, 2
T_NONE, T_FALSE, T_TRUE, T_INT, T_INT64, T_FLOAT, T_STR, T_TUPLE, T_LIST = range(9)


@dataclass
class TensorRecord:
    name: str
    shape: tuple[int, ...] | None     # None: a node output whose shape the compact form leaves out
    dtype: np.dtype
    constant: bool
    quant: QuantParams | None
    nbytes: int = 0  # bytes of this record in the graph section


@dataclass
class NodeRecord:
    name: str
    op: str
    inputs: tuple[str, ...]
    output: str
    attrs: dict[str, Any]


@dataclass
class GraphDescription:
    """A decoded graph section; `parts` counts its bytes: strings, tensors, io, nodes."""

    name: str
    tensors: list[TensorRecord]
    nodes: list[NodeRecord]
    inputs: list[str]
    outputs: list[str]
    parts: dict[str, int] = field(default_factory=dict)


class _Strings:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def __call__(self, s: str) -> int:
        return self.index.setdefault(s, len(self.index))


def _write_value(w: ByteWriter, v: Any, strings: _Strings, depth: int = 0) -> None:
    if v is None:
        w.u8(T_NONE)
    elif isinstance(v, (bool, np.bool_)):
        w.u8(T_TRUE if v else T_FALSE)
    elif isinstance(v, (int, np.integer)):
        if INT32_MIN <= int(v) <= INT32_MAX:
            w.u8(T_INT)
            w.svarint(int(v))
        else:
            w.u8(T_INT64)
            w.raw(struct.pack("<q", int(v)))
    elif isinstance(v, (float, np.floating)):
        w.u8(T_FLOAT)
        w.f64(float(v))
    elif isinstance(v, str):
        w.u8(T_STR)
        w.varint(strings(v))
    elif isinstance(v, (tuple, list)):
        if depth >= LIMITS.attribute_depth:
            raise ValueError(f"attribute value nested deeper than {LIMITS.attribute_depth} levels")
        w.u8(T_TUPLE if isinstance(v, tuple) else T_LIST)
        w.varint(len(v))
        for item in v:
            _write_value(w, item, strings, depth + 1)
    else:
        raise ValueError(f"attribute value {v!r} of type {type(v).__name__} cannot be stored")


def _write_quant(w: ByteWriter, q: QuantParams) -> None:
    zp = q.zero_point
    mode = ZP_ZERO if not zp.any() else ZP_SHARED if (zp == zp[0]).all() else ZP_EACH
    bits = getattr(q, "bits", None)
    w.u8((PER_CHANNEL if q.axis is not None else 0) | mode << 1 | (HAS_BITS if bits is not None else 0))
    if q.axis is not None:
        w.svarint(q.axis)
    if bits is not None:
        w.u8(bits)
    w.raw(np.asarray(q.scale, dtype="<f4").tobytes())
    for z in zp[:1] if mode == ZP_SHARED else zp if mode == ZP_EACH else []:
        w.svarint(int(z))


def _check_writable(graph: Graph) -> None:
    """Refuse a graph the reader would refuse by its counts (limits.py), before writing it."""
    counts = [("tensors", len(graph.tensors)), ("nodes", len(graph.nodes)),
              ("graph_inputs", len(graph.inputs)), ("graph_outputs", len(graph.outputs))]
    counts += [("node_inputs", max((len(n.inputs) for n in graph.nodes), default=0)),
               ("edges", sum(len(n.inputs) for n in graph.nodes)),
               ("attributes", max((len(n.attrs) for n in graph.nodes), default=0))]
    for limit, n in counts:
        if n > getattr(LIMITS, limit):
            raise LevinError(f"graph {graph.name!r} cannot be stored: {limit} = {exceeds(limit, n)}")


def encode_graph(graph: Graph) -> bytes:
    """Return the graph section body of `graph` (format in docs/format.md).

    Raises:
        LevinError: the graph has more tensors, nodes, ... than a reader accepts (limits.py).
    """
    _check_writable(graph)
    strings, body = _Strings(), ByteWriter()
    index = {name: i for i, name in enumerate(graph.tensors)}
    body.varint(strings(graph.name))
    body.varint(len(graph.tensors))
    for t in graph.tensors.values():
        body.varint(strings(t.name))
        code = DTYPES.index(t.dtype) | (CONSTANT if t.is_constant else 0) | (QUANTIZED if t.quant else 0)
        body.u8(code)
        body.varint(len(t.shape))
        for d in t.shape:
            body.varint(int(d))
        if t.quant is not None:
            _write_quant(body, t.quant)
    for names in (graph.inputs, graph.outputs):
        body.varint(len(names))
        for n in names:
            body.varint(index[n])
    body.varint(len(graph.nodes))
    for node in graph.nodes:
        body.varint(strings(node.name))
        body.varint(strings(node.op))
        body.varint(len(node.inputs))
        for i in node.inputs:
            body.varint(index[i])
        body.varint(index[node.output])
        body.varint(len(node.attrs))
        for key, value in node.attrs.items():
            body.varint(strings(key))
            _write_value(body, value, strings)
    head = ByteWriter()
    head.varint(len(strings.index))
    for s in strings.index:
        b = s.encode("utf-8")
        if len(b) > LIMITS.string_bytes:
            raise LevinError(f"graph {graph.name!r} cannot be stored: the name {s[:40]!r}... has "
                             f"{exceeds('string_bytes', len(b), 'bytes')}")
        head.blob(b)
    return bytes(head.out + body.out)


class _Budget:
    """Attribute values still allowed in this graph (`attribute_values`), charged before reading."""

    def __init__(self) -> None:
        self.used = 0

    def charge(self, r: ByteReader, n: int) -> None:
        self.used += n
        if self.used > LIMITS.attribute_values:
            raise r.fail(f"attribute values = {exceeds('attribute_values', self.used)} (a hostile file?)")


def _read_value(r: ByteReader, strings: list[str], budget: _Budget | None = None, depth: int = 0) -> Any:
    """One attribute value; the caller has charged it to `budget`, a list charges its items."""
    budget = budget or _Budget()
    tag = r.u8("attribute value tag")
    if tag == T_NONE:
        return None
    if tag in (T_FALSE, T_TRUE):
        return tag == T_TRUE
    if tag == T_INT:
        return r.svarint("int attribute")
    if tag == T_INT64:
        return struct.unpack("<q", r.take(8, "int64 attribute"))[0]
    if tag == T_FLOAT:
        return r.f64("float attribute")
    if tag == T_STR:
        return _string(r, strings, "string attribute")
    if tag in (T_TUPLE, T_LIST):
        if depth >= LIMITS.attribute_depth:
            raise r.fail(f"attribute value nested deeper than the limit attribute_depth = {LIMITS.attribute_depth}")
        n = r.count("attribute item count", 1, limit="attribute_items")
        budget.charge(r, n)
        items = [_read_value(r, strings, budget, depth + 1) for _ in range(n)]
        return tuple(items) if tag == T_TUPLE else items
    raise r.fail(f"unknown attribute value tag {tag} (known 0..{T_LIST})")


def _string(r: ByteReader, strings: list[str], what: str) -> str:
    i = r.varint(what)
    if i >= len(strings):
        raise r.fail(f"{what}: string index {i} outside the table of {len(strings)}")
    return strings[i]


def _tensor_ref(r: ByteReader, records: list[TensorRecord], what: str) -> str:
    i = r.varint(what)
    if i >= len(records):
        raise r.fail(f"{what}: tensor index {i} outside 0..{len(records) - 1}")
    return records[i].name


def _read_quant(r: ByteReader, shape: tuple[int, ...], what: str) -> QuantParams:
    flags = r.u8("quantization flags")
    mode = (flags >> 1) & 3
    if flags & ~(PER_CHANNEL | HAS_BITS | 6) or mode > ZP_EACH:
        raise r.fail(f"{what}: unknown quantization flags {flags:#04x}")
    axis = r.svarint("quantization axis") if flags & PER_CHANNEL else None
    bits = r.u8("quantization bits") if flags & HAS_BITS else None
    if axis is not None and not -len(shape) <= axis < len(shape):
        raise r.fail(f"{what}: quantization axis {axis} out of range for shape {shape}")
    c = 1 if axis is None else shape[axis]
    if 4 * c > r.left:
        raise r.fail(f"{what}: {c} scales cannot fit in {r.left} bytes")
    scale = r.f32_array(c, "scales")
    return read_zero_points(r, mode, scale, axis, bits)


def read_zero_points(r: ByteReader, mode: int, scale: np.ndarray, axis: int | None,
                     bits: int | None) -> QuantParams:
    """The zero points that end a quantization record (none, one shared, or one per channel), and
    the record's QuantParams; shared by the plain and the compact graph readers."""
    zp = np.zeros(len(scale), dtype=np.int64)
    if mode == ZP_SHARED:
        zp[:] = r.svarint("zero point")
    elif mode == ZP_EACH:
        zp[:] = [r.svarint(f"zero point {i}") for i in range(len(scale))]
    extra = {} if bits is None else {"bits": bits}
    return QuantParams(scale, zp, axis, **extra)


def decode_graph(buf: bytes, pos: int, end: int) -> GraphDescription:
    """Parse a graph section body at buf[pos:end].

    Raises:
        LevinFormatError: truncated or inconsistent fields, names the field and the record.
    """
    r = ByteReader(buf, pos, end, "graph section")
    if end - pos > LIMITS.graph_bytes:
        raise r.fail(exceeds("graph_bytes", end - pos, "bytes"))
    n_strings = r.count("string count", 1, limit="strings")
    strings = []
    for i in range(n_strings):
        try:
            strings.append(r.blob(f"string {i}", limit="string_bytes").decode("utf-8"))
        except UnicodeDecodeError:
            raise r.fail(f"string {i} is not valid UTF-8") from None
    parts = {"strings": r.pos - pos}
    start = r.pos
    name = _string(r, strings, "graph name")
    records: list[TensorRecord] = []
    constant_elements = activation_bytes = 0
    for i in range(r.count("tensor count", 3, limit="tensors")):
        at = r.pos
        tname = _string(r, strings, f"tensor {i} name")
        what = f"tensor {i} ({tname!r})"
        code = r.u8(f"{what} dtype")
        if code & 0x0F >= len(DTYPES) or code & 0xC0:
            raise r.fail(f"{what}: unknown dtype/flags byte {code:#04x}")
        rank = r.count(f"{what} rank", 1, limit="rank")
        shape = tuple(r.varint(f"{what} dimension {d}") for d in range(rank))
        size = math.prod(shape)
        constant = bool(code & CONSTANT)
        if min(shape, default=1) < 1:
            raise r.fail(f"{what}: shape {shape} has an empty dimension")
        if size > LIMITS.tensor_elements:
            raise r.fail(f"{what}: shape {shape}: {exceeds('tensor_elements', size, 'elements')}")
        if constant:
            constant_elements += size
            if constant_elements > LIMITS.constant_elements:
                raise r.fail(f"{what}: constant tensors up to here hold "
                             f"{exceeds('constant_elements', constant_elements, 'elements')}")
        else:
            activation_bytes += size * DTYPES[code & 0x0F].itemsize
            if activation_bytes > LIMITS.activation_bytes:
                raise r.fail(f"{what}: activation tensors up to here take "
                             f"{exceeds('activation_bytes', activation_bytes, 'bytes')}")
        try:
            quant = _read_quant(r, shape, what) if code & QUANTIZED else None
        except GraphError as e:
            raise r.fail(f"{what}: {e}") from None
        records.append(TensorRecord(tname, shape, DTYPES[code & 0x0F], constant, quant, r.pos - at))
    parts["tensors"] = r.pos - start
    start = r.pos
    io = [[_tensor_ref(r, records, f"{kind} {j}") for j in range(r.count(f"{kind} count", 1, limit=limit))]
          for kind, limit in (("graph input", "graph_inputs"), ("graph output", "graph_outputs"))]
    parts["io"] = r.pos - start
    start = r.pos
    nodes, budget, edges = [], _Budget(), 0
    for i in range(r.count("node count", 5, limit="nodes")):
        nname = _string(r, strings, f"node {i} name")
        op = _string(r, strings, f"node {i} ({nname!r}) op")
        n_inputs = r.count(f"node {nname!r} input count", 1, limit="node_inputs")
        edges += n_inputs
        if edges > LIMITS.edges:
            raise r.fail(f"node {nname!r}: node inputs up to here = {exceeds('edges', edges)}")
        inputs = tuple(_tensor_ref(r, records, f"node {nname!r} input") for _ in range(n_inputs))
        output = _tensor_ref(r, records, f"node {nname!r} output")
        attrs = {}
        for _ in range(r.count(f"node {nname!r} attribute count", 2, limit="attributes")):
            key = _string(r, strings, f"node {nname!r} attribute name")
            budget.charge(r, 1)
            attrs[key] = _read_value(r, strings, budget)
        nodes.append(NodeRecord(nname, op, inputs, output, attrs))
    parts["nodes"] = r.pos - start
    r.expect_end()
    return GraphDescription(name, records, nodes, io[0], io[1], parts)


def build_graph(desc: GraphDescription, constants: dict[str, np.ndarray]) -> Graph:
    """Rebuild the Graph from its description and decoded constant data.

    Raises:
        LevinFormatError: the IR rejects a tensor or node (named), or a tensor is never produced.
    """
    g = Graph(desc.name)
    by_name = {t.name: t for t in desc.tensors}
    if len(by_name) != len(desc.tensors):
        raise LevinFormatError("graph section: two tensors have the same name")
    inputs = set(desc.inputs)
    try:
        for t in desc.tensors:
            what = f"tensor {t.name!r}"
            if t.dtype.kind != "f" and t.quant is None:
                raise GraphError(f"integer tensor ({t.dtype}) without quantization parameters")
            if t.name in inputs:
                if t.constant:
                    raise GraphError("a graph input cannot be a constant")
                g.add_input(t.name, t.shape, t.dtype, t.quant)
            elif t.constant:
                g.add_constant(t.name, constants[t.name], t.quant)
        for node in desc.nodes:
            what = f"node {node.name!r} ({node.op})"
            unknown = set(node.attrs) - set(ops.get(node.op).defaults)
            if unknown:
                raise GraphError(f"unknown attribute(s) {', '.join(sorted(unknown))}")
            out = by_name[node.output]
            g.add_node(node.op, node.inputs, node.name, output=out.name, dtype=out.dtype, quant=out.quant,
                       **node.attrs)
            if out.shape is not None and g.tensors[out.name].shape != out.shape:   # None: not stored
                raise GraphError(f"output shape {g.tensors[out.name].shape} differs from the stored {out.shape}")
        what = "graph outputs"
        for name in desc.outputs:
            g.mark_output(name)
    except (GraphError, TypeError, ValueError, OverflowError) as e:
        # TypeError/ValueError: an op's shape rule meeting attribute values of the wrong type.
        raise LevinFormatError(f"graph section: {what}: {e}") from None
    missing = [t.name for t in desc.tensors if t.name not in g.tensors]
    if missing:
        raise LevinFormatError(f"graph section: tensor {missing[0]!r} is neither an input, a constant, "
                               f"nor a node output")
    g.tensors = {t.name: g.tensors[t.name] for t in desc.tensors}
    return g
