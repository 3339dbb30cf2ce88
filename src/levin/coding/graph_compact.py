"""The compact graph section (format 3.0, kind 4; kinds 5 and 6 are it raw-DEFLATE compressed).

Read me first. Same content as the plain section (`graph_codec.py`), less of it stored: what the
reader can rebuild is left out (issue 22: on LeNet-5 the graph section was a tenth of the file,
on a per-channel model a quarter). Differences from the plain form, field by field in
docs/format.md ("Compact graph section"):

- strings are sorted and front-coded: varint bytes shared with the previous string, then the
  rest as a blob ("conv1.bias" after "conv1" costs 1 + 1 + 5 bytes);
- a node output's shape is not stored (flag SHAPED clear): the op's shape rule gives it when the
  graph is rebuilt; inputs and constants keep their shapes (constants' data needs them);
- a scale vector equal, bit for bit, to an earlier tensor's (a ReLU or pooling output has its
  input's) is stored as that tensor's index (SCALE_COPY); one equal to the float32 product of
  two earlier tensors' scales (an int32 bias: input scale x weight scale, per channel) as the
  two indices (SCALE_PRODUCT), instead of 4 bytes per channel;
- attributes equal to what the op's defaults normalize to are left out;
- a node named as its output stores no name (flag NAMED clear);
- a constant named "<node>.<suffix>" after the first node that reads it ("conv1.weight") stores
  only the suffix ("weight": one string for every layer).

`encode_compact` returns None when it cannot stand for the graph; `decode_compact` returns a
`GraphDescription` whose node-output records have shape None (`build_graph` then checks nothing
against them; the container bounds the rebuilt activations with `limits.check_activation_bytes`).
"""

from __future__ import annotations

import math

import numpy as np

from levin import ops
from levin.coding.fields import ByteReader, ByteWriter
from levin.coding.graph_codec import (CONSTANT, DTYPES, HAS_BITS, PER_CHANNEL, QUANTIZED, ZP_EACH, ZP_SHARED,
                                      ZP_ZERO, GraphDescription, NodeRecord, TensorRecord, _Budget, _check_writable,
                                      _read_value, _string, _write_value, read_zero_points)
from levin.coding.limits import LIMITS, exceeds
from levin.errors import GraphError, LevinError
from levin.ir.graph import Graph, QuantParams

SHAPED = 0x40                         # tensor code: the shape follows
SCALE_COPY, SCALE_PRODUCT = 0x10, 0x20  # quantization flags: scales by reference
NAMED = 0x01                          # node flags: the node's name differs from its output's


class _Sorted:
    """String -> index in the sorted table; `collect` first records every string used."""

    def __init__(self) -> None:
        self.seen: dict[str, None] = {}
        self.index: dict[str, int] | None = None

    def __call__(self, s: str) -> int:
        if self.index is None:
            self.seen.setdefault(s, None)
            return 0
        return self.index[s]

    def freeze(self) -> list[str]:
        table = sorted(self.seen, key=lambda s: s.encode("utf-8"))
        self.index = {s: i for i, s in enumerate(table)}
        return table


def _f32(scale) -> bytes:
    return np.asarray(scale, dtype="<f4").reshape(-1).tobytes()


def _scale_refs(graph: Graph) -> dict[str, tuple[int, ...]]:
    """Tensor name -> (a,) or (a, b): earlier tensors whose scales give its own (module docstring)."""
    names = list(graph.tensors)
    index = {n: i for i, n in enumerate(names)}
    first: dict[bytes, int] = {}
    refs: dict[str, tuple[int, ...]] = {}
    for i, name in enumerate(names):
        q = graph.tensors[name].quant
        if q is None:
            continue
        key = _f32(q.scale)
        if key in first:
            refs[name] = (first[key],)
        else:
            first[key] = i
    for node in graph.nodes:
        if len(node.inputs) < 3:
            continue
        a, b, c = (index[n] for n in node.inputs[:3])
        qa, qb, qc = (graph.tensors[n].quant for n in node.inputs[:3])
        if qa is None or qb is None or qc is None or max(a, b) >= c or node.inputs[2] in refs:
            continue
        sa, sb = np.asarray(qa.scale, "<f4").reshape(-1), np.asarray(qb.scale, "<f4").reshape(-1)
        sc = np.asarray(qc.scale, "<f4").reshape(-1)
        if sa.size in (1, sc.size) and sb.size in (1, sc.size) and _f32(sa * sb) == _f32(sc):
            refs[node.inputs[2]] = (a, b)
    return refs


def _write_quant(w: ByteWriter, q: QuantParams, ref: tuple[int, ...] | None) -> None:
    zp = np.asarray(q.zero_point).reshape(-1)
    mode = ZP_ZERO if not zp.any() else ZP_SHARED if (zp == zp[0]).all() else ZP_EACH
    bits = getattr(q, "bits", None)
    how = 0 if ref is None else SCALE_COPY if len(ref) == 1 else SCALE_PRODUCT
    w.u8((PER_CHANNEL if q.axis is not None else 0) | mode << 1 | (HAS_BITS if bits is not None else 0) | how)
    if q.axis is not None:
        w.svarint(q.axis)
    if bits is not None:
        w.u8(bits)
    if ref is None:
        w.raw(_f32(q.scale))
    for i in ref or ():
        w.varint(i)
    for z in zp[:1] if mode == ZP_SHARED else zp if mode == ZP_EACH else []:
        w.svarint(int(z))


def _needed_attrs(graph: Graph, node) -> dict:
    """The node's attributes less those its op's defaults normalize to the same values."""
    spec, inputs = ops.get(node.op), [graph.tensors[i] for i in node.inputs]
    keep = dict(node.attrs)
    for key in list(keep):
        trial = {k: v for k, v in keep.items() if k != key}
        try:
            if spec.check(node.name, inputs, trial)[0] == node.attrs:
                keep = trial
        except (GraphError, TypeError, ValueError):
            pass
    return keep


def _suffixes(graph: Graph) -> dict[str, str]:
    """Constant name -> suffix, for constants named "<first node reading it>.<suffix>"."""
    out: dict[str, str] = {}
    seen: set[str] = set()
    for node in graph.nodes:
        for name in node.inputs:
            if name in seen:
                continue
            seen.add(name)
            if graph.tensors[name].is_constant and name.startswith(node.name + ".") and len(name) > len(node.name) + 1:
                out[name] = name[len(node.name) + 1:]
    return out


def _body(graph: Graph, strings) -> bytes:
    produced = {n.output for n in graph.nodes}
    index = {name: i for i, name in enumerate(graph.tensors)}
    refs, suffixes = _scale_refs(graph), _suffixes(graph)
    w = ByteWriter()
    w.varint(strings(graph.name))
    w.varint(len(graph.tensors))
    for t in graph.tensors.values():
        if t.name in suffixes:       # 0: derived, the suffix follows; else string index + 1
            w.varint(0)
            w.varint(strings(suffixes[t.name]))
        else:
            w.varint(strings(t.name) + 1)
        shaped = t.name not in produced or (t.quant is not None and t.quant.axis is not None)
        w.u8(DTYPES.index(t.dtype) | (CONSTANT if t.is_constant else 0) | (QUANTIZED if t.quant else 0)
             | (SHAPED if shaped else 0))
        if shaped:
            w.varint(len(t.shape))
            for d in t.shape:
                w.varint(int(d))
        if t.quant is not None:
            _write_quant(w, t.quant, refs.get(t.name))
    for names in (graph.inputs, graph.outputs):
        w.varint(len(names))
        for n in names:
            w.varint(index[n])
    w.varint(len(graph.nodes))
    for node in graph.nodes:
        w.varint(strings(node.op))
        named = node.name != node.output
        w.u8(NAMED if named else 0)
        if named:
            w.varint(strings(node.name))
        w.varint(len(node.inputs))
        for i in node.inputs:
            w.varint(index[i])
        w.varint(index[node.output])
        attrs = _needed_attrs(graph, node)
        w.varint(len(attrs))
        for key, value in attrs.items():
            w.varint(strings(key))
            _write_value(w, value, strings)
    return bytes(w.out)


def encode_compact(graph: Graph) -> bytes:
    """The compact graph section body of `graph` (module docstring).

    Raises:
        LevinError: the graph has more tensors, nodes, ... than a reader accepts (limits.py).
    """
    _check_writable(graph)
    strings = _Sorted()
    _body(graph, strings)                     # first pass: which strings
    table = strings.freeze()
    head, prev = ByteWriter(), b""
    head.varint(len(table))
    for s in table:
        b = s.encode("utf-8")
        if len(b) > LIMITS.string_bytes:
            raise LevinError(f"graph {graph.name!r} cannot be stored: the name {s[:40]!r}... has "
                             f"{exceeds('string_bytes', len(b), 'bytes')}")
        shared = next((i for i, (x, y) in enumerate(zip(prev, b)) if x != y), min(len(prev), len(b)))
        head.varint(shared)
        head.blob(b[shared:])
        prev = b
    return bytes(head.out) + _body(graph, strings)


def _read_strings(r: ByteReader) -> list[str]:
    out, prev = [], b""
    for i in range(r.count("string count", 2, limit="strings")):
        shared = r.varint(f"string {i} shared prefix")
        if shared > len(prev):
            raise r.fail(f"string {i} shares {shared} bytes with a string of {len(prev)}")
        rest = r.blob(f"string {i}", limit="string_bytes")
        b = prev[:shared] + rest
        if len(b) > LIMITS.string_bytes:
            raise r.fail(f"string {i}: {exceeds('string_bytes', len(b), 'bytes')}")
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            raise r.fail(f"string {i} is not valid UTF-8") from None
        prev = b
    return out


def _read_quant(r: ByteReader, shape, records: list[TensorRecord], what: str) -> QuantParams:
    flags = r.u8("quantization flags")
    mode, how = (flags >> 1) & 3, flags & (SCALE_COPY | SCALE_PRODUCT)
    if flags & ~(PER_CHANNEL | HAS_BITS | 6 | SCALE_COPY | SCALE_PRODUCT) or mode > ZP_EACH or how == 0x30:
        raise r.fail(f"{what}: unknown quantization flags {flags:#04x}")
    axis = r.svarint("quantization axis") if flags & PER_CHANNEL else None
    bits = r.u8("quantization bits") if flags & HAS_BITS else None
    if axis is not None and (shape is None or not -len(shape) <= axis < len(shape)):
        raise r.fail(f"{what}: quantization axis {axis} out of range for shape {shape}")
    c = 1 if axis is None else shape[axis]
    if how:
        scales = []
        for _ in range(1 if how == SCALE_COPY else 2):
            i = r.varint(f"{what} scale reference")
            if i >= len(records) or records[i].quant is None:
                raise r.fail(f"{what}: scale reference {i} is not an earlier quantized tensor")
            scales.append(records[i].quant.scale.astype(np.float32).reshape(-1))
        if any(s.size not in (1, c) for s in scales) or (how == SCALE_COPY and scales[0].size != c):
            raise r.fail(f"{what}: referenced scales of sizes {[s.size for s in scales]} do not give {c}")
        scale = scales[0] if how == SCALE_COPY else scales[0] * scales[1]
        scale = np.broadcast_to(scale, (c,)).astype(np.float32)   # as the plain reader's f32 array
    else:
        if 4 * c > r.left:
            raise r.fail(f"{what}: {c} scales cannot fit in {r.left} bytes")
        scale = r.f32_array(c, "scales")
    return read_zero_points(r, mode, scale, axis, bits)


def decode_compact(buf: bytes, pos: int, end: int) -> GraphDescription:
    """Parse a compact graph section body at buf[pos:end]; node outputs have shape None.

    Raises:
        LevinFormatError: truncated or inconsistent fields, naming the field and the record.
    """
    r = ByteReader(buf, pos, end, "graph section (compact)")
    if end - pos > LIMITS.graph_bytes:
        raise r.fail(exceeds("graph_bytes", end - pos, "bytes"))
    strings = _read_strings(r)
    parts = {"strings": r.pos - pos}
    start = r.pos
    name = _string(r, strings, "graph name")
    records: list[TensorRecord] = []
    derived: dict[int, str] = {}
    constant_elements = 0
    for i in range(r.count("tensor count", 2, limit="tensors")):
        at = r.pos
        v = r.varint(f"tensor {i} name")
        if v == 0:
            derived[i] = _string(r, strings, f"tensor {i} name suffix")
        elif v > len(strings):
            raise r.fail(f"tensor {i} name: string index {v - 1} outside the table of {len(strings)}")
        tname = strings[v - 1] if v else f"#{i}"      # a derived name is known after the nodes
        what = f"tensor {i} ({tname!r})"
        code = r.u8(f"{what} dtype")
        if code & 0x0F >= len(DTYPES) or code & 0x80:
            raise r.fail(f"{what}: unknown dtype/flags byte {code:#04x}")
        constant, shape = bool(code & CONSTANT), None
        if code & SHAPED:
            rank = r.count(f"{what} rank", 1, limit="rank")
            shape = tuple(r.varint(f"{what} dimension {d}") for d in range(rank))
            size = math.prod(shape)
            if min(shape, default=1) < 1:
                raise r.fail(f"{what}: shape {shape} has an empty dimension")
            if size > LIMITS.tensor_elements:
                raise r.fail(f"{what}: shape {shape}: {exceeds('tensor_elements', size, 'elements')}")
            constant_elements += size if constant else 0
            if constant_elements > LIMITS.constant_elements:
                raise r.fail(f"{what}: constant tensors up to here hold "
                             f"{exceeds('constant_elements', constant_elements, 'elements')}")
        elif constant:
            raise r.fail(f"{what}: a constant without its shape")
        try:
            quant = _read_quant(r, shape, records, what) if code & QUANTIZED else None
        except GraphError as e:
            raise r.fail(f"{what}: {e}") from None
        records.append(TensorRecord(tname, shape, DTYPES[code & 0x0F], constant, quant, r.pos - at))
    parts["tensors"] = r.pos - start
    start = r.pos
    io = [[_ref(r, records, f"{kind} {j}") for j in range(r.count(f"{kind} count", 1, limit=limit))]
          for kind, limit in (("graph input", "graph_inputs"), ("graph output", "graph_outputs"))]
    if any(records[i].shape is None for i in io[0]):
        raise r.fail("a graph input without its shape")
    parts["io"] = r.pos - start
    start = r.pos
    nodes, budget, edges = [], _Budget(), 0
    for i in range(r.count("node count", 5, limit="nodes")):
        op = _string(r, strings, f"node {i} op")
        flags = r.u8(f"node {i} ({op}) flags")
        if flags & ~NAMED:
            raise r.fail(f"node {i} ({op}): unknown flags {flags:#04x}")
        nname = _string(r, strings, f"node {i} name") if flags & NAMED else None
        label = nname or f"{i} ({op})"
        n_inputs = r.count(f"node {label} input count", 1, limit="node_inputs")
        edges += n_inputs
        if edges > LIMITS.edges:
            raise r.fail(f"node {label}: node inputs up to here = {exceeds('edges', edges)}")
        inputs = tuple(_ref(r, records, f"node {label} input") for _ in range(n_inputs))
        output = _ref(r, records, f"node {label} output")
        if output in derived:
            raise r.fail(f"node {label}: its output tensor {output} has a derived name")
        attrs = {}
        for _ in range(r.count(f"node {label} attribute count", 2, limit="attributes")):
            key = _string(r, strings, f"node {label} attribute name")
            budget.charge(r, 1)
            attrs[key] = _read_value(r, strings, budget)
        nodes.append(NodeRecord(nname or records[output].name, op, inputs, output, attrs))
    parts["nodes"] = r.pos - start
    r.expect_end()
    for i, suffix in derived.items():
        reader = next((n for n in nodes if i in n.inputs), None)
        if reader is None:
            raise r.fail(f"tensor {i}: a derived name, but no node reads it")
        records[i].name = f"{reader.name}.{suffix}"
    names = [t.name for t in records]
    for n in nodes:
        n.inputs, n.output = tuple(names[i] for i in n.inputs), names[n.output]
    return GraphDescription(name, records, nodes, [names[i] for i in io[0]], [names[i] for i in io[1]], parts)


def _ref(r: ByteReader, records: list[TensorRecord], what: str) -> int:
    i = r.varint(what)
    if i >= len(records):
        raise r.fail(f"{what}: tensor index {i} outside 0..{len(records) - 1}")
    return i
