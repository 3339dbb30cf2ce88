""".tflite bytes -> plain records, trusting nothing: the parse boundary of the .tflite importer.

Read me first. The `tflite` package's generated readers follow offsets wherever the bytes point,
so a truncated or corrupt flatbuffer surfaces as `struct.error`, `IndexError`, `ValueError`
(numpy views past the end), `UnicodeDecodeError` or a loop over a garbage count. All reading
happens here, in `read`, and only here are those exceptions caught: each becomes one
LevinFormatError naming the file and what was being read. The importer (`levin.ir.tflite`)
then works on plain Python records, where any other exception is a bug to fix, not a file to
blame.

Checked before anything is allocated or looped over: the "TFL3" identifier, the root offset,
the file size (flatbuffers address at most 2 GiB), every vector count against the bytes there
are, every tensor and buffer index, tensor ranks and shapes (non-negative, at most 2**31
elements), quantization vector lengths, and external buffers (offset + size within the file).
The consistency of a constant's bytes with its shape and type is checked where it is used.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from levin.errors import LevinFormatError

try:
    import tflite as _fb
except ImportError:  # pragma: no cover - tflite is a core dependency
    _fb = None

OP_NAMES: dict[int, str] = {}
TYPE_NAMES: dict[int, str] = {}
if _fb is not None:
    OP_NAMES = {v: k for k, v in vars(_fb.BuiltinOperator).items() if not k.startswith("_")}
    TYPE_NAMES = {v: k for k, v in vars(_fb.TensorType).items() if not k.startswith("_")}

MAX_FILE_BYTES = (1 << 31) - 1    # flatbuffers offsets are 32-bit: larger files are not one
MAX_RANK = 8
MAX_ELEMENTS = 1 << 31            # any tensor; activations are never allocated on import
# Exceptions the generated readers raise on bytes that are not a well-formed flatbuffer:
# struct.error (a read past the end), IndexError, ValueError (a numpy view past the end, bad
# UTF-8), TypeError (flatbuffers' `enforce_number` on an offset sum outside uint32).
PARSE_ERRORS = (struct.error, IndexError, ValueError, TypeError, OverflowError, RecursionError)

# Builtin options levin reads, per op: the options class (also its BuiltinOptions union tag) and
# the fields, with the schema's defaults (used when an op has no options table).
_CONV = {"Padding": 0, "StrideW": 0, "StrideH": 0, "DilationWFactor": 1, "DilationHFactor": 1,
         "FusedActivationFunction": 0}
_POOL = {"Padding": 0, "StrideW": 0, "StrideH": 0, "FilterWidth": 0, "FilterHeight": 0,
         "FusedActivationFunction": 0}
OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "CONV_2D": ("Conv2DOptions", _CONV),
    "DEPTHWISE_CONV_2D": ("DepthwiseConv2DOptions", {**_CONV, "DepthMultiplier": 0}),
    "FULLY_CONNECTED": ("FullyConnectedOptions", {"FusedActivationFunction": 0, "WeightsFormat": 0,
                                                  "KeepNumDims": False}),
    "AVERAGE_POOL_2D": ("Pool2DOptions", _POOL),
    "MAX_POOL_2D": ("Pool2DOptions", _POOL),
    "ADD": ("AddOptions", {"FusedActivationFunction": 0}),
    "SUB": ("SubOptions", {"FusedActivationFunction": 0}),
    "MUL": ("MulOptions", {"FusedActivationFunction": 0}),
    "SOFTMAX": ("SoftmaxOptions", {"Beta": 0.0}),
    "CONCATENATION": ("ConcatenationOptions", {"Axis": 0, "FusedActivationFunction": 0}),
    "LEAKY_RELU": ("LeakyReluOptions", {"Alpha": 0.0}),
    "GELU": ("GeluOptions", {"Approximate": False}),
    **{code: ("ReducerOptions", {"KeepDims": False}) for code in ("MEAN", "SUM", "REDUCE_MAX")},
    "STRIDED_SLICE": ("StridedSliceOptions", {"BeginMask": 0, "EndMask": 0, "EllipsisMask": 0,
                                              "NewAxisMask": 0, "ShrinkAxisMask": 0, "Offset": False}),
    "RESIZE_NEAREST_NEIGHBOR": ("ResizeNearestNeighborOptions", {"AlignCorners": False, "HalfPixelCenters": False}),
    "RESIZE_BILINEAR": ("ResizeBilinearOptions", {"AlignCorners": False, "HalfPixelCenters": False}),
    "TRANSPOSE_CONV": ("TransposeConvOptions", {"Padding": 0, "StrideW": 0, "StrideH": 0,
                                                "FusedActivationFunction": 0}),
    "MIRROR_PAD": ("MirrorPadOptions", {"Mode": 0}),
}


@dataclass(frozen=True)
class TensorRecord:
    name: str
    type: str                        # TensorType name, e.g. "INT8" ("type 99" if unknown)
    shape: tuple[int, ...]
    buffer: int                      # index into ModelRecord.buffers
    scale: np.ndarray | None         # float32, None if the tensor has no quantization
    zero_point: np.ndarray | None    # int64, same length as scale (or empty)
    axis: int = 0                    # quantized dimension (per-channel)


@dataclass(frozen=True)
class OperatorRecord:
    code: str                        # builtin op name, or "CUSTOM <name>"
    inputs: tuple[int, ...]          # tensor indices; -1 = optional input left out
    outputs: tuple[int, ...]
    options: dict[str, Any] = field(default_factory=dict)   # fields of OPTIONS[code], if levin reads them


@dataclass(frozen=True)
class ModelRecord:
    tensors: list[TensorRecord]
    buffers: list[bytes]             # each buffer's bytes (empty: no data)
    operators: list[OperatorRecord]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    subgraphs: int


class _Reader:
    """Reads one model; `where` says what is being read, for the error message."""

    def __init__(self, data: bytes, source: str):
        self.data, self.source, self.where = data, source, "the model table"

    def fail(self, msg: str) -> LevinFormatError:
        return LevinFormatError(f"{self.source}: not a valid .tflite: {msg}")

    def count(self, n: int, what: str, item_bytes: int = 4) -> int:
        if not 0 <= n <= len(self.data) // item_bytes:
            raise self.fail(f"{what}: {n} entries cannot fit in {len(self.data)} bytes (corrupt)")
        return n

    def indices(self, length: int, get, what: str, low: int, high: int) -> tuple[int, ...]:
        out = tuple(int(get(j)) for j in range(self.count(length, what)))
        bad = [i for i in out if not low <= i < high]
        if bad:
            raise self.fail(f"{what}: index {bad[0]} outside {low}..{high - 1}")
        return out

    def text(self, raw: bytes | None) -> str:
        return raw.decode("utf-8", errors="replace") if raw else ""

    def model(self) -> ModelRecord:
        m = _fb.Model.GetRootAsModel(self.data, 0)
        n_sub = self.count(m.SubgraphsLength(), "subgraphs")
        if n_sub != 1:   # the importer says why it refuses; nothing more to read
            return ModelRecord([], [], [], (), (), n_sub)
        self.where = "the operator codes"
        codes = [self.op_code(m.OperatorCodes(j)) for j in range(self.count(m.OperatorCodesLength(), "operator codes"))]
        n_buf = self.count(m.BuffersLength(), "buffers")
        buffers = []
        for j in range(n_buf):
            self.where = f"buffer {j}"
            buffers.append(self.buffer(m.Buffers(j)))
        sg = m.Subgraphs(0)
        n_t = self.count(sg.TensorsLength(), "tensors")
        tensors = []
        for j in range(n_t):
            self.where = f"tensor {j}"
            tensors.append(self.tensor(sg.Tensors(j), n_buf))
        self.where = "the subgraph inputs and outputs"
        inputs = self.indices(sg.InputsLength(), sg.Inputs, "subgraph inputs", 0, n_t)
        outputs = self.indices(sg.OutputsLength(), sg.Outputs, "subgraph outputs", 0, n_t)
        ops = []
        for k in range(self.count(sg.OperatorsLength(), "operators")):
            self.where = f"operator {k}"
            ops.append(self.operator(sg.Operators(k), codes, n_t))
        return ModelRecord(tensors, buffers, ops, inputs, outputs, n_sub)

    def op_code(self, oc) -> str:
        code = OP_NAMES.get(max(oc.BuiltinCode(), oc.DeprecatedBuiltinCode()), "CUSTOM")
        return f"CUSTOM {self.text(oc.CustomCode()) or '?'}" if code == "CUSTOM" else code

    def buffer(self, b) -> bytes:
        n = self.count(b.DataLength(), "buffer data", 1)
        if n:
            return b.DataAsNumpy().tobytes()
        offset, size = b.Offset(), b.Size()
        if offset > 1:   # tensor data stored after the flatbuffer (models over 2 GB)
            if offset + size > len(self.data):
                raise self.fail(f"{self.where}: data at {offset}..{offset + size} lies past the "
                                f"end of the file ({len(self.data)} bytes)")
            return self.data[offset:offset + size]
        return b""

    def tensor(self, t, n_buf: int) -> TensorRecord:
        rank = self.count(t.ShapeLength(), "tensor shape")
        if rank > MAX_RANK:
            raise self.fail(f"{self.where}: rank {rank} (at most {MAX_RANK})")
        shape = tuple(int(t.Shape(j)) for j in range(rank))
        if any(d < 0 for d in shape) or math.prod(shape) > MAX_ELEMENTS:
            raise self.fail(f"{self.where}: shape {shape} (dimensions must be >= 0, "
                            f"at most {MAX_ELEMENTS} elements)")
        buffer = t.Buffer()
        if not 0 <= buffer < max(n_buf, 1):
            raise self.fail(f"{self.where}: buffer index {buffer} outside 0..{n_buf - 1}")
        kind = t.Type()
        scale = zp = None
        axis = 0
        q = t.Quantization()
        if q is not None and self.count(q.ScaleLength(), "scales"):
            scale = q.ScaleAsNumpy().astype(np.float32)
            n_zp = self.count(q.ZeroPointLength(), "zero points", 8)
            zp = q.ZeroPointAsNumpy().astype(np.int64) if n_zp else np.zeros(0, np.int64)
            if zp.size not in (0, 1, scale.size):
                raise self.fail(f"{self.where}: {scale.size} scales but {zp.size} zero points")
            axis = int(q.QuantizedDimension())
        return TensorRecord(self.text(t.Name()), TYPE_NAMES.get(kind, f"type {kind}"), shape, buffer,
                            scale, zp, axis)

    def operator(self, op, codes: list[str], n_t: int) -> OperatorRecord:
        index = op.OpcodeIndex()
        if not 0 <= index < len(codes):
            raise self.fail(f"{self.where}: opcode index {index} outside 0..{len(codes) - 1}")
        code = codes[index]
        inputs = self.indices(op.InputsLength(), op.Inputs, f"{self.where} inputs", -1, n_t)
        outputs = self.indices(op.OutputsLength(), op.Outputs, f"{self.where} outputs", 0, n_t)
        options = {}
        if code in OPTIONS:
            cls_name, defaults = OPTIONS[code]
            table = op.BuiltinOptions()
            if table is None:
                options = dict(defaults)
            else:
                tag = op.BuiltinOptionsType()
                if tag != getattr(_fb.BuiltinOptions, cls_name):
                    raise self.fail(f"{self.where} ({code}): options of union type {tag}, expected "
                                    f"{cls_name}")
                o = getattr(_fb, cls_name)()
                o.Init(table.Bytes, table.Pos)
                options = {k: getattr(o, k)() for k in defaults}
        return OperatorRecord(code, inputs, outputs, options)


def read(data: bytes, source: str = "tflite") -> ModelRecord:
    """The records of a .tflite flatbuffer. Raises LevinFormatError naming `source` (the file)
    for bytes that are not a well-formed, single-model .tflite file."""
    data = bytes(data)
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise LevinFormatError(f"{source}: not a .tflite file (no 'TFL3' identifier at byte 4)")
    if len(data) > MAX_FILE_BYTES:
        raise LevinFormatError(f"{source}: {len(data)} bytes; a .tflite flatbuffer is under 2 GiB")
    root = int.from_bytes(data[:4], "little")
    if not 8 <= root <= len(data) - 4:
        raise LevinFormatError(f"{source}: not a valid .tflite: root table offset {root} outside "
                               f"the {len(data)}-byte file (truncated or corrupt)")
    reader = _Reader(data, source)
    try:
        return reader.model()
    except PARSE_ERRORS as exc:
        kind = "struct.error" if isinstance(exc, struct.error) else type(exc).__name__
        raise LevinFormatError(f"{source}: not a valid .tflite: truncated or corrupt "
                               f"({kind} reading {reader.where}: {exc})") from None
