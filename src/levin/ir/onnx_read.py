""".onnx bytes -> plain records, trusting nothing: the parse boundary of the ONNX importer.

Read me first. The `onnx` package parses the protobuf, checks the model and infers shapes in C++;
on bytes that are no well-formed model it raises protobuf's DecodeError, onnx's ValidationError
or InferenceError, and now and then a ValueError, TypeError or RuntimeError from deeper down.
Every call into the package happens here, through `_guard`, and only there is any exception
caught: each becomes one LevinFormatError naming the file and the step. The importer
(`levin.ir.onnx`) then works on plain records, where any other exception is a bug to fix.

Before the checker runs, each node's op must be one the importer supports (`supported`), so that
an unsupported op is reported as that (a CaptureError naming the node), not as a checker error.
Checked before a tensor's values are read: no external data (it would open other files), a
known element type, non-negative dims, at most MAX_ELEMENTS elements, and as many stored values
as the dims say. The `onnx` import is lazy: levin imports without the package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Collection

import numpy as np

from levin.errors import CaptureError, LevinError, LevinFormatError

MAX_FILE_BYTES = (1 << 31) - 1    # protobuf messages are limited to 2 GiB
MAX_ELEMENTS = 1 << 28            # any constant: a microcontroller model is far smaller
MIN_OPSET = 13
# TensorProto.DataType -> numpy type, for the constants levin reads (weights, shapes, axes)
_DTYPES = {1: np.float32, 2: np.uint8, 3: np.int8, 5: np.int16, 6: np.int32, 7: np.int64,
           9: np.bool_, 10: np.float16, 11: np.float64}
FLOAT = 1
# Quantized ops of onnxruntime's QOperator format (and integer-arithmetic ONNX ops): refused by
# name, with what to do instead (levin reads the QDQ format, `levin.ir.onnx_qdq`)
QOPERATOR = {"QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul", "QLinearAveragePool",
             "QLinearGlobalAveragePool", "QLinearConcat", "QLinearSigmoid", "QLinearLeakyRelu",
             "QLinearSoftmax", "QLinearReduceMean", "QLinearWhere", "QGemm", "QAttention",
             "ConvInteger", "MatMulInteger", "DynamicQuantizeLinear", "DynamicQuantizeMatMul",
             "MatMulIntegerToFloat"}


@dataclass(frozen=True)
class NodeRecord:
    name: str                         # the node's name, or "<op_type> #k" when it has none
    op: str                           # op_type
    inputs: tuple[str, ...]           # "" for an omitted optional input
    outputs: tuple[str, ...]
    attrs: dict[str, Any]             # ints, floats, strings, lists of them, numpy arrays (tensors)


@dataclass
class ModelRecord:
    opset: int                                    # of the default domain
    nodes: list[NodeRecord]
    constants: dict[str, np.ndarray]              # initializers (not the graph inputs)
    inputs: list[tuple[str, tuple, int]]          # name, dims (int, or str for a symbolic one), elem type
    outputs: list[str]
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)   # every static shape known


def _guard(source: str, what: str, fn: Callable, *args, **kwargs):
    """fn(*args, **kwargs); any exception of the onnx package becomes one LevinFormatError."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # the onnx package raises many types on bad bytes: all are the file's fault
        text = " ".join(str(exc).split())[:300]
        raise LevinFormatError(f"{source}: not a valid ONNX model: {what} failed: "
                               f"{type(exc).__name__}: {text}") from None


def tensor(t, source: str, where: str) -> np.ndarray:
    """The values of a TensorProto, checked before they are read."""
    from onnx import numpy_helper

    if t.data_location == 1 or len(t.external_data):
        raise LevinError(f"{source}: {where}: tensor {t.name!r} keeps its data in an external file; "
                         f"save the model with its weights inside (onnx.save(..., save_as_external_data=False))")
    dtype = _DTYPES.get(t.data_type)
    if dtype is None:
        raise CaptureError(f"{source}: {where}: tensor {t.name!r} has element type {t.data_type}; "
                           f"levin reads float, int and bool tensors")
    dims = tuple(int(d) for d in t.dims)
    if any(d < 0 for d in dims) or math.prod(dims) > MAX_ELEMENTS:
        raise LevinFormatError(f"{source}: not a valid ONNX model: {where}: tensor {t.name!r} has dims {dims}")
    n = math.prod(dims)
    stored = (len(t.raw_data) // np.dtype(dtype).itemsize if t.HasField("raw_data") else
              len(t.float_data) + len(t.int32_data) + len(t.int64_data) + len(t.double_data))
    if stored != n or (t.HasField("raw_data") and len(t.raw_data) != n * np.dtype(dtype).itemsize):
        raise LevinFormatError(f"{source}: not a valid ONNX model: {where}: tensor {t.name!r} "
                               f"{list(dims)} holds {stored} values")
    return np.array(_guard(source, f"reading tensor {t.name!r}", numpy_helper.to_array, t))


def _attr(a, source: str, where: str) -> Any:
    from onnx import helper

    if a.type not in (1, 2, 3, 4, 6, 7, 8):  # GRAPH(S), TENSORS, SPARSE_TENSOR(S), TYPE_PROTO(S), UNDEFINED:
        return None                          # no op levin reads has them
    if a.type == 4:                          # TENSOR
        return tensor(a.t, source, where)
    value = _guard(source, f"reading attribute {a.name!r}", helper.get_attribute_value, a)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value]
    return value


def _dims(vi) -> tuple | None:
    """A ValueInfoProto's dims (int, or the symbolic name / "?" of an unknown one); None if untyped."""
    t = vi.type
    if not t.HasField("tensor_type") or not t.tensor_type.HasField("shape"):
        return None
    return tuple(d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                 for d in t.tensor_type.shape.dim)


def read(data: bytes, source: str = "onnx", supported: Collection[str] = ()) -> ModelRecord:
    """The records of an .onnx model. Raises LevinFormatError naming `source` for bytes that are
    no valid model, CaptureError for a node whose op is not in `supported` (checked before the
    onnx checker) or an opset below 13."""
    import onnx
    from onnx import checker, shape_inference

    if len(data) > MAX_FILE_BYTES:
        raise LevinFormatError(f"{source}: {len(data)} bytes; an .onnx protobuf is under 2 GiB")
    model = _guard(source, "parsing the protobuf", onnx.load_model_from_string, bytes(data))
    graph = model.graph
    if not graph.node and not graph.output:
        raise LevinFormatError(f"{source}: not a valid ONNX model: no graph (no nodes, no outputs)")
    opsets = {o.domain or "ai.onnx": o.version for o in model.opset_import}
    opset = opsets.get("ai.onnx", 0)
    if opset < MIN_OPSET:
        raise CaptureError(f"{source}: opset {opset}; levin imports ONNX opset {MIN_OPSET} or later "
                           f"(re-export with opset_version={MIN_OPSET} or newer)")
    for k, n in enumerate(graph.node):
        if n.op_type in QOPERATOR and n.domain in ("", "ai.onnx", "com.microsoft"):
            raise CaptureError(f"{source}: node {n.name or f'#{k}'!r} ({n.op_type}): a QOperator-format "
                               f"quantized model; levin imports QDQ models (QuantizeLinear/DequantizeLinear "
                               f"around float ops: quantize_static(..., quant_format=QuantFormat.QDQ)) "
                               f"or the float model")
        if n.domain not in ("", "ai.onnx") or n.op_type not in supported:
            op = n.op_type if n.domain in ("", "ai.onnx") else f"{n.domain}.{n.op_type}"
            raise CaptureError(f"{source}: node {n.name or f'#{k}'!r} ({op}): unsupported op; levin "
                               f"imports {', '.join(sorted(supported))}")
    _guard(source, "the onnx checker", checker.check_model, model)
    model = _guard(source, "shape inference", shape_inference.infer_shapes, model, check_type=True,
                   strict_mode=True, data_prop=True)
    graph = model.graph
    constants = {t.name: tensor(t, source, "initializer") for t in graph.initializer}
    nodes = []
    for k, n in enumerate(graph.node):
        name = n.name or f"{n.op_type} #{k}"
        where = f"node {name!r} ({n.op_type})"
        nodes.append(NodeRecord(name, n.op_type, tuple(n.input), tuple(n.output),
                                {a.name: _attr(a, source, where) for a in n.attribute}))
    inputs = [(vi.name, _dims(vi) or (), vi.type.tensor_type.elem_type)
              for vi in graph.input if vi.name not in constants]
    shapes = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        dims = _dims(vi)
        if dims is not None and all(isinstance(d, int) and d > 0 for d in dims):
            shapes[vi.name] = dims
    return ModelRecord(opset, nodes, constants, inputs, [o.name for o in graph.output], shapes)
