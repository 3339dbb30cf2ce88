"""Import a float32 .tflite model into levin's float graph IR; quantize it like any float model.

Read me first. This is the int8 importer (`levin.ir.tflite._Importer`) with its tensor rules
swapped for float ones; the op handlers, their checks and their tables are the same, so a float
and an int8 .tflite of one network give graphs with the same nodes, names and attributes. The
float graph is the one the torch and ONNX frontends produce (NHWC activations, OHWI weights, no
quantization parameters): `levin.quant.ptq` calibrates it on the user's data into an int8 graph.
- Activations (graph inputs, every op output) must be FLOAT32.
- Weights and biases are FLOAT32, or FLOAT16 (converted exactly to float32).
- Dynamic-range ("hybrid") models keep int8 weights with a scale per tensor or channel, and
  TFLite quantizes the activations at run time: levin dequantizes the weights on import,
  (q - zero_point) * scale, and runs float activations, so its float graph computes what the
  hybrid model approximates (the difference is TFLite's run-time activation rounding).
- DEQUANTIZE of a constant (float16 weights, or int8 weights the converter left for a
  DEQUANTIZE op) is folded into a float32 constant. QUANTIZE, or DEQUANTIZE of an activation,
  is an int8 model with a float interface: refused, with what to do.
- LOGISTIC and TANH import as Sigmoid and Tanh (float ops; levin's int8 forms of them are its
  own, calibrated by PTQ, not TFLite's).
Anything else raises CaptureError naming the op and its position, as the int8 importer does.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from levin.errors import LevinError
from levin.fileio import read_bytes
from levin.ir import tflite
from levin.ir.graph import Graph
from levin.ir.tflite_read import ModelRecord, OperatorRecord, read

FLOAT_TYPES = ("FLOAT32", "FLOAT16")
WEIGHT_INT_TYPES = ("INT8", "UINT8", "INT16")     # dynamic-range weights: dequantized on import
FLOAT_UNARY = {"LOGISTIC": "Sigmoid", "TANH": "Tanh"}


def is_float(model: ModelRecord) -> bool:
    """True if the model's first graph input is a float tensor (a float or hybrid model)."""
    return bool(model.inputs) and model.tensors[model.inputs[0]].type in FLOAT_TYPES + ("FLOAT64",)


def dequantized_weights(model: ModelRecord) -> list[str]:
    """Names of the integer constants with a scale that a float import dequantizes (hybrid)."""
    return [t.name for t in model.tensors
            if t.type in WEIGHT_INT_TYPES and t.scale is not None and model.buffers[t.buffer]]


class _FloatImporter(tflite._Importer):
    dtypes = {**tflite.DTYPES, "FLOAT32": np.float32, "FLOAT16": np.float16}

    def __init__(self, model: ModelRecord, name: str, source: str):
        super().__init__(model, name, source)
        self.folded: dict[int, np.ndarray] = {}     # DEQUANTIZE outputs of constants

    def check_float(self, i: int) -> None:
        kind = self.type_name(i)
        if kind != "FLOAT32":
            raise self.fail(f"tensor {self.tname(i)!r} is {kind}; a float model's activations are "
                            f"FLOAT32 (an int8 model is imported by levin.ir.tflite)")

    def graph_input(self, name: str, i: int) -> str:
        self.check_float(i)
        return self.graph.add_input(name, self.shape(i), np.float32)

    def output_params(self, out: int):
        self.check_float(out)
        return None, None

    def quant(self, i, axis_map=None):
        return None

    def weight_quant(self, w, axis_map=None):
        return None

    def same_params(self, a, b, code):
        return None

    def bias(self, b, name, x, wq):
        return self.constant(b, f"{name}.bias")

    def constant(self, i, name, data=None, quant=None) -> str:
        data = self.buffer(i) if data is None else data
        if data is None:
            raise self.fail(f"tensor {i} should be a constant but has no data")
        if not np.issubdtype(data.dtype, np.floating):
            raise self.fail(f"constant {self.tname(i)!r} has type {self.type_name(i)}; float expected")
        return self.graph.add_constant(name, np.asarray(data, np.float32))

    def buffer(self, i: int) -> np.ndarray | None:
        """Constant `i` as stored; FLOAT16 as float32; integer weights with a scale dequantized."""
        if i in self.folded:
            return self.folded[i]
        data = super().buffer(i)
        t = self.model.tensors[i]
        if data is None:
            return None
        if t.type == "FLOAT16":
            return data.astype(np.float32)
        if t.type in WEIGHT_INT_TYPES:
            if t.scale is None:
                raise self.fail(f"constant {t.name!r} is {t.type} without a scale; a float model's "
                                f"integer weights need one (dynamic-range quantization)")
            return self.dequantize(i, data)
        return data

    def dequantize(self, i: int, q: np.ndarray) -> np.ndarray:
        t = self.model.tensors[i]
        scale = np.asarray(t.scale, np.float64)
        zp = np.asarray(t.zero_point if t.zero_point.size else [0], np.float64)
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise self.fail(f"tensor {t.name!r}: a scale is not finite and positive ({scale[:4]})")
        if scale.size > 1:
            if not 0 <= t.axis < q.ndim or q.shape[t.axis] != scale.size:
                raise self.fail(f"tensor {t.name!r} {list(q.shape)}: {scale.size} scales do not match "
                                f"quantized dimension {t.axis}")
            shape = [1] * q.ndim
            shape[t.axis] = -1
            scale = scale.reshape(shape)
            zp = zp.reshape(shape) if zp.size > 1 else zp
        return ((q.astype(np.float64) - zp) * scale).astype(np.float32)

    def op(self, k: int, op: OperatorRecord) -> None:
        if op.code == "DEQUANTIZE" and op.inputs and len(op.outputs) == 1:
            self.where = f"{self.source}: operator {k} ({op.code})"
            i = op.inputs[0]
            if i >= 0 and i not in self.names and (i in self.folded or self.model.buffers[self.model.tensors[i].buffer]):
                data = self.buffer(i)
                if not np.issubdtype(data.dtype, np.floating):
                    data = self.dequantize(i, data)
                self.folded[op.outputs[0]] = data.astype(np.float32)
                return
            raise self.fail("DEQUANTIZE of an activation: an int8 model with float inputs or outputs; "
                            "levin imports its int8 form (convert with inference_input_type=int8)")
        if op.code == "QUANTIZE":
            self.where = f"{self.source}: operator {k} ({op.code})"
            raise self.fail("QUANTIZE of an activation: an int8 model with float inputs or outputs; "
                            "levin imports its int8 form (convert with inference_input_type=int8)")
        super().op(k, op)

    def float_unary(self, code, o, ins, out):
        self.emit(FLOAT_UNARY[code], [self.activation(ins[0])], self.fresh(code.lower()), out)


_FloatImporter.ops = {**tflite.OPS, **{code: (1, _FloatImporter.float_unary) for code in FLOAT_UNARY}}


def from_bytes(data: bytes, name: str = "tflite", source: str | None = None) -> Graph:
    """The float levin Graph (named `name`) of a float32 (or dynamic-range) .tflite flatbuffer.
    Raises CaptureError naming what is not supported, LevinFormatError for bytes that are no
    well-formed .tflite; messages start with `source` (the file; default `name`)."""
    if tflite._fb is None:  # pragma: no cover
        raise LevinError("importing .tflite needs the `tflite` package: pip install tflite")
    source = source or name
    return _FloatImporter(read(data, source), name, source).run()


def load(path: str | Path) -> Graph:
    """Read a float .tflite file into a float levin Graph named after the file."""
    path = Path(path)
    return from_bytes(read_bytes(path), path.stem, str(path))


def load_any(path: str | Path) -> Graph:
    """A .tflite file as a levin Graph: float (or dynamic-range) models as a float graph to
    quantize, full-integer int8 models as the integer graph (bit-exact with TFLite Micro)."""
    path = Path(path)
    record = read(read_bytes(path), str(path))
    cls = _FloatImporter if is_float(record) else tflite._Importer
    return cls(record, path.stem, str(path)).run()

