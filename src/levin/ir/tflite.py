"""Import an int8 .tflite flatbuffer into levin's graph IR (no TensorFlow needed).

Read me first. The flatbuffer is parsed with the `tflite` package (generated schema readers).
The graph levin builds computes what TFLite Micro computes, bit for bit, under
`levin.reference` (checked on the MLPerf Tiny models by tests/quant/test_against_tflite.py):
- Layout is already NHWC / OHWI. DEPTHWISE_CONV_2D weights `[1, KH, KW, C*M]` become a grouped
  Conv2d's `[C*M, KH, KW, 1]` (groups = C; TFLite's output channel c*M + m is levin's too), their
  per-channel axis 3 becomes 0.
- SAME/VALID padding becomes explicit (top, bottom, left, right) pads, as TFLite computes them
  (the odd pixel goes to the bottom/right). Pools with SAME padding leave padded cells out of
  the count (TFLite's only mode).
- A fused activation (RELU, RELU6) becomes a ReLU/ReLU6 node after the op, with the op's output
  parameters on both tensors: levin's fused-activation convention (`levin.quant.plan`); the two
  clamps compose to TFLite's single clamp exactly.
- FULLY_CONNECTED on a rank > 2 input gets a Reshape to [N, features] in front, as TFLite
  flattens it. An AVERAGE_POOL_2D whose VALID window is the whole map becomes GlobalAvgPool;
  MEAN (e.g. over H and W, as a MobileNetV2 exported from PyTorch ends) stays a Mean, whose int8
  rescaling differs. STRIDED_SLICE's begin/end masks and negative indices are resolved on import.
- TRANSPOSE_CONV becomes a ConvTranspose2d with explicit pads (SAME: TFLite Micro's, from the
  output size) and output_padding for rows past the last tap; RESIZE_NEAREST_NEIGHBOR and
  RESIZE_BILINEAR keep their align_corners / half_pixel_centers.
- Names are short and positional (`conv3`, `conv3.weight`, `conv3.bias`, graph input `input`),
  not TFLite's long scoped names, which would only add bytes to the container.

Float models are `levin.ir.tflite_float`'s (a subclass of this importer, `levin.models.load_graph`
picks one by the input type). Anything else raises CaptureError naming the op, its position and
what is supported: float tensors here (a FLOAT32 tensor or QUANTIZE/DEQUANTIZE op),
unsupported ops or options (e.g. SOFTMAX beta != 1, RELU_N1_TO_1), or parameters TFLite Micro
would itself reject.
Bytes that are no well-formed .tflite raise LevinFormatError: the flatbuffer is read into plain
records by `levin.ir.tflite_read` (the one place that catches the readers' exceptions), and
this module checks what it uses (tensor indices, ranks, buffer sizes, strides) before using it.
"""

from __future__ import annotations

import math
from typing import Callable
from pathlib import Path

import numpy as np

from levin.errors import CaptureError, LevinError, LevinFormatError
from levin.fileio import read_bytes
from levin.ir.graph import Graph, QuantParams
from levin.ir.tflite_read import OP_NAMES, TYPE_NAMES, ModelRecord, OperatorRecord, _fb, read  # noqa: F401

DTYPES = {"INT8": np.int8, "INT32": np.int32, "UINT8": np.uint8, "INT16": np.int16}
ACTIVATIONS = {0: None, 1: "ReLU", 3: "ReLU6"}
ACTIVATION_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT", 6: "SIGMOID"}
SAME = 0  # Padding.SAME in the schema (VALID is 1)


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TFLite `ComputePaddingHeightWidth` for SAME: total = max((out-1)*s + k_eff - in, 0),
    the smaller half before, the odd pixel after."""
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


class _Importer:
    ops: dict[str, tuple[int, Callable]]     # code -> (inputs it needs, handler): OPS, set below
    dtypes: dict[str, type]                  # constant types it reads: DTYPES

    def __init__(self, model: ModelRecord, name: str, source: str):
        if model.subgraphs != 1:
            raise CaptureError(f"{source}: {model.subgraphs} subgraphs; levin imports "
                               f"single-subgraph models (no control flow)")
        self.model, self.source = model, source
        self.graph = Graph(name)
        self.names: dict[int, str] = {}   # tflite tensor index -> levin tensor name
        self.counts: dict[str, int] = {}
        self.where = source

    # -- tensors ----------------------------------------------------------------------------
    def type_name(self, i: int) -> str:
        return self.model.tensors[i].type

    def tname(self, i: int) -> str:
        return self.model.tensors[i].name

    def shape(self, i: int) -> tuple[int, ...]:
        return self.model.tensors[i].shape

    def quant(self, i: int, axis_map: dict[int, int] | None = None) -> QuantParams | None:
        t = self.model.tensors[i]
        if t.scale is None:
            return None
        scale = t.scale
        zp = t.zero_point if t.zero_point.size else np.zeros(scale.size, np.int64)
        if zp.size == 1 and scale.size > 1:
            zp = np.full(scale.size, zp[0])
        if not np.all(np.isfinite(scale)) or np.any(scale <= 0):
            raise self.fail(f"tensor {t.name!r}: a scale is not finite and positive ({scale[:4]})")
        if scale.size == 1:
            return QuantParams(scale, zp)
        return QuantParams(scale, zp, (axis_map or {}).get(t.axis, t.axis))  # the graph checks the axis

    def buffer(self, i: int) -> np.ndarray | None:
        t = self.model.tensors[i]
        raw = self.model.buffers[t.buffer] if self.model.buffers else b""
        if not raw:
            return None
        dtype = self.dtypes.get(t.type)
        if dtype is None:
            raise self.fail(f"constant tensor {t.name!r} has type {t.type}")
        dt = np.dtype(dtype).newbyteorder("<")
        if len(raw) != math.prod(t.shape) * dt.itemsize:
            raise LevinFormatError(f"{self.where}: not a valid .tflite: tensor {t.name!r} {t.type}"
                                   f"{list(t.shape)} needs {math.prod(t.shape) * dt.itemsize} bytes, "
                                   f"its buffer holds {len(raw)}")
        return np.frombuffer(raw, dtype=dt).astype(dtype).reshape(t.shape)

    def graph_input(self, name: str, i: int) -> str:
        self.check_int(i)
        if self.type_name(i) != "INT8":
            raise self.fail(f"graph input has type {self.type_name(i)}; levin imports int8 inputs")
        return self.graph.add_input(name, self.shape(i), np.int8, self.quant(i))

    def fail(self, msg: str) -> CaptureError:
        return CaptureError(f"{self.where}: {msg}")

    def check_int(self, i: int) -> None:
        kind = self.type_name(i)
        if kind in ("FLOAT32", "FLOAT16", "FLOAT64"):
            raise self.fail(f"tensor {self.tname(i)!r} is {kind}: this is a float model; import it "
                            f"with levin.ir.tflite_float and quantize it on your data (`levin convert "
                            f"model.tflite --data ...`), or convert it to full int8 with TFLite")
        if kind not in DTYPES:
            raise self.fail(f"tensor {self.tname(i)!r} has unsupported type {kind}")

    def activation(self, i: int) -> str:
        if i not in self.names:
            raise self.fail(f"input tensor {i} is neither a graph input nor computed before")
        return self.names[i]

    def rank(self, name: str, rank: int, role: str) -> tuple[int, ...]:
        shape = self.graph.tensors[name].shape
        if len(shape) != rank:
            raise self.fail(f"{role} has shape {shape}; rank {rank} expected")
        return shape

    def constant(self, i: int, name: str, data: np.ndarray | None = None,
                 quant: QuantParams | None = None) -> str:
        self.check_int(i)
        data = self.buffer(i) if data is None else data
        if data is None:
            raise self.fail(f"tensor {i} should be a constant but has no data")
        return self.graph.add_constant(name, data, quant if quant is not None else self.quant(i))

    def fresh(self, stem: str) -> str:
        k = self.counts.get(stem, 0)
        self.counts[stem] = k + 1
        return f"{stem}{k}"

    # -- ops --------------------------------------------------------------------------------
    def emit(self, op: str, inputs, name: str, out: int, act: int = 0, **attrs) -> None:
        """Add `op`, then its fused activation; the final tensor stands for TFLite tensor `out`."""
        if act not in ACTIVATIONS:
            raise self.fail(f"fused activation {ACTIVATION_NAMES.get(act, act)} is not supported "
                            f"(NONE, RELU, RELU6 are)")
        dtype, q = self.output_params(out)
        relu = ACTIVATIONS[act]
        y = self.graph.add_node(op, inputs, name, output=f"{name}.pre" if relu else name,
                                dtype=dtype, quant=q, **attrs)
        if relu:
            y = self.graph.add_node(relu, [y], f"{name}.{relu.lower()}", output=name, dtype=dtype, quant=q)
        want = self.shape(out)
        if want and tuple(self.graph.tensors[y].shape) != want:
            raise self.fail(f"levin infers output shape {self.graph.tensors[y].shape}, the file says {want}")
        self.names[out] = y

    def output_params(self, out: int) -> tuple[type, QuantParams]:
        """(dtype, quantization) of the op output `out`, checked."""
        self.check_int(out)
        q = self.quant(out)
        if q is None:
            raise self.fail(f"output tensor {out} has no quantization parameters")
        return DTYPES[self.type_name(out)], q

    def weight_quant(self, w: int, axis_map: dict[int, int] | None = None) -> QuantParams:
        """The quantization of weight tensor `w`, which must be symmetric."""
        wq = self.quant(w, axis_map)
        if wq is None or np.any(wq.zero_point != 0):
            raise self.fail("weights need symmetric quantization (zero point 0), as TFLite's int8 kernels")
        return wq

    def window(self, o: dict, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[tuple, tuple]:
        """(stride, padding) of a conv or pool, checked before any arithmetic on them."""
        stride = (o["StrideH"], o["StrideW"])
        if min(stride + kernel + dilation) < 1:
            raise self.fail(f"stride {stride}, kernel {kernel}, dilation {dilation} must be >= 1")
        return stride, dilation

    def conv(self, code, o, ins, out):
        depthwise = code == "DEPTHWISE_CONV_2D"
        x, w = self.activation(ins[0]), ins[1]
        n, h, wd, c = self.rank(x, 4, "input")
        name = self.fresh("dwconv" if depthwise else "conv")
        data = self.buffer(w)
        if data is None:
            raise self.fail("weights must be constant")
        if data.ndim != 4 or 0 in data.shape:
            raise self.fail(f"weights have shape {data.shape}; [O, KH, KW, I] expected")
        if depthwise:
            data = np.ascontiguousarray(data.transpose(3, 1, 2, 0))    # [1,KH,KW,C*M] -> [C*M,KH,KW,1]
            wq = self.weight_quant(w, {3: 0})
            groups = c
        else:
            wq = self.weight_quant(w)
            groups = c // data.shape[3] if c % data.shape[3] == 0 else 0
        _, kh, kw, _ = data.shape
        (sh, sw), (dh, dw) = self.window(o, (kh, kw), (o["DilationHFactor"], o["DilationWFactor"]))
        pads = (0, 0, 0, 0)
        if o["Padding"] == SAME:
            pads = _same_padding(h, kh, sh, dh) + _same_padding(wd, kw, sw, dw)
        args = [x, self.constant(w, f"{name}.weight", data, wq)]
        if len(ins) > 2 and ins[2] >= 0:
            args.append(self.bias(ins[2], name, x, wq))
        self.emit("Conv2d", args, name, out, o["FusedActivationFunction"], stride=(sh, sw),
                  dilation=(dh, dw), padding=pads, groups=groups)

    def bias(self, b: int, name: str, x: str, wq: QuantParams) -> str:
        q = self.quant(b, {3: 0})
        if q is None:  # the kernels ignore it; levin's graph requires one
            xq = self.graph.tensors[x].quant
            if xq is None:
                raise self.fail(f"input {x!r} has no quantization parameters")
            s = np.float32(xq.scale[0]) * wq.scale
            if not np.all(np.isfinite(s)) or np.any(s <= 0):
                raise self.fail(f"bias {self.tname(b)!r} has no scale, and input scale x weight "
                                f"scale is not a positive float32")
            q = QuantParams(s, np.zeros(s.size, np.int64), 0 if s.size > 1 else None)
        return self.constant(b, f"{name}.bias", quant=q)

    def fully_connected(self, code, o, ins, out):
        x, w = self.activation(ins[0]), ins[1]
        if o["WeightsFormat"] != 0:
            raise self.fail("FULLY_CONNECTED with shuffled weights is not supported")
        name = self.fresh("fc")
        data = self.buffer(w)
        if data is None:
            raise self.fail("weights must be constant")
        if data.ndim != 2 or 0 in data.shape:
            raise self.fail(f"weights have shape {data.shape}; [out, in] expected")
        wq = self.weight_quant(w)
        shape = self.graph.tensors[x].shape
        if len(shape) != 2:
            total = math.prod(shape)
            if total % data.shape[1]:
                raise self.fail(f"input {shape} does not flatten to rows of {data.shape[1]} features")
            x = self.graph.add_node("Reshape", [x], f"{name}.flatten", shape=(total // data.shape[1], data.shape[1]))
        args = [x, self.constant(w, f"{name}.weight", data, wq)]
        if len(ins) > 2 and ins[2] >= 0:
            args.append(self.bias(ins[2], name, x, wq))
        if len(self.shape(out)) != 2:
            raise self.fail(f"FULLY_CONNECTED with keep_num_dims (output {self.shape(out)}) is not supported")
        self.emit("Linear", args, name, out, o["FusedActivationFunction"])

    def pool(self, code, o, ins, out):
        x = self.activation(ins[0])
        n, h, w, c = self.rank(x, 4, "input")
        kernel = (o["FilterHeight"], o["FilterWidth"])
        stride, _ = self.window(o, kernel, (1, 1))
        self.same_params(ins[0], out, code)
        same = o["Padding"] == SAME
        pads = (_same_padding(h, kernel[0], stride[0], 1) + _same_padding(w, kernel[1], stride[1], 1)
                if same else (0, 0, 0, 0))
        act = o["FusedActivationFunction"]
        if code == "AVERAGE_POOL_2D" and kernel == (h, w) and not any(pads):
            return self.emit("GlobalAvgPool", [x], self.fresh("gap"), out, act)
        if code == "MAX_POOL_2D":
            return self.emit("MaxPool2d", [x], self.fresh("maxpool"), out, act, kernel=kernel,
                             stride=stride, padding=pads)
        self.emit("AvgPool2d", [x], self.fresh("avgpool"), out, act, kernel=kernel, stride=stride,
                  padding=pads, count_include_pad=False)

    def same_params(self, a: int, b: int, code: str) -> None:
        qa, qb = self.quant(a), self.quant(b)
        if qa is None or qb is None or (qa.scale[0], qa.zero_point[0]) != (qb.scale[0], qb.zero_point[0]):
            raise self.fail(f"{code} needs the same scale and zero point on input and output, "
                            f"as TFLite's int8 kernel")

    def op(self, k: int, op: OperatorRecord) -> None:
        code = op.code
        self.where = f"{self.source}: operator {k} ({code})"
        if code in ("QUANTIZE", "DEQUANTIZE"):
            raise self.fail("float model boundary (QUANTIZE/DEQUANTIZE): levin imports models whose "
                            "inputs and outputs are int8 (convert with inference_input_type=int8)")
        if code not in self.ops:
            raise self.fail(f"unsupported op; levin imports {', '.join(self.ops)}")
        if len(op.outputs) != 1:
            raise self.fail(f"{len(op.outputs)} outputs; levin's ops have one")
        ins, out, o = list(op.inputs), op.outputs[0], op.options
        arity, handler = self.ops[code]
        if len(ins) < arity or -1 in ins[:arity]:
            raise self.fail(f"takes {arity} inputs, the file gives {ins}")
        handler(self, code, o, ins, out)

    # -- one handler per TFLite builtin (the OPS table below maps codes to them) --------------------
    def binary(self, code, o, ins, out):
        """ADD, SUB, MUL, MAXIMUM, MINIMUM (BINARY below), broadcasting; an input with data is a
        constant operand."""
        op = BINARY[code]
        name = self.fresh(op.lower())
        args = [self.constant(i, f"{name}.input{k}") if self.buffer(i) is not None else self.activation(i)
                for k, i in enumerate(ins[:2])]
        self.emit(op, args, name, out, o.get("FusedActivationFunction", 0))

    def reshape(self, code, o, ins, out):
        self.same_params(ins[0], out, code)
        self.emit("Reshape", [self.activation(ins[0])], self.fresh("reshape"), out, shape=self.shape(out))

    def softmax(self, code, o, ins, out):
        if o["Beta"] != 1.0:
            raise self.fail(f"SOFTMAX beta={o['Beta']}; levin's Softmax has beta 1")
        self.emit("Softmax", [self.activation(ins[0])], self.fresh("softmax"), out, axis=-1)

    def unary(self, code, o, ins, out):
        """An activation op without options: the IR op of the same meaning (UNARY below)."""
        self.emit(UNARY[code], [self.activation(ins[0])], self.fresh(code.lower()), out)

    def leaky_relu(self, code, o, ins, out):
        self.emit("LeakyReLU", [self.activation(ins[0])], self.fresh("leaky_relu"), out,
                  alpha=float(o["Alpha"]))

    def gelu(self, code, o, ins, out):
        self.emit("GELU", [self.activation(ins[0])], self.fresh("gelu"), out,
                  approximate="tanh" if o["Approximate"] else "none")

    def concatenation(self, code, o, ins, out):
        self.emit("Concat", [self.activation(i) for i in ins], self.fresh("concat"), out,
                  o["FusedActivationFunction"], axis=o["Axis"])

    def hw_paddings(self, code, ins, out) -> tuple[int, int, int, int]:
        """(top, bottom, left, right) of a PAD / MIRROR_PAD, which moves codes unchanged."""
        self.same_params(ins[0], out, code)
        p = self.buffer(ins[1])
        if p is None or p.shape != (4, 2) or p[0].any() or p[3].any():
            raise self.fail(f"{code} needs constant paddings on height and width only")
        return int(p[1, 0]), int(p[1, 1]), int(p[2, 0]), int(p[2, 1])

    def pad(self, code, o, ins, out):
        self.emit("Pad", [self.activation(ins[0])], self.fresh("pad"), out, pads=self.hw_paddings(code, ins, out))

    def mirror_pad(self, code, o, ins, out):
        self.emit("MirrorPad", [self.activation(ins[0])], self.fresh("mirror_pad"), out,
                  pads=self.hw_paddings(code, ins, out), mode="symmetric" if o["Mode"] == 1 else "reflect")

    def reduce(self, code, o, ins, out):
        """MEAN, SUM, REDUCE_MAX over constant axes (REDUCE below)."""
        axes = self.buffer(ins[1])
        if axes is None:
            raise self.fail(f"{code} needs constant axes")
        op = REDUCE[code]
        self.emit(op, [self.activation(ins[0])], self.fresh(op.lower()), out,
                  axes=tuple(int(v) for v in np.ravel(axes)), keepdims=bool(o["KeepDims"]))

    def transpose(self, code, o, ins, out):
        self.same_params(ins[0], out, code)
        perm = self.buffer(ins[1])
        if perm is None:
            raise self.fail("TRANSPOSE needs a constant perm")
        self.emit("Transpose", [self.activation(ins[0])], self.fresh("transpose"), out,
                  perm=tuple(int(v) for v in np.ravel(perm)))

    def strided_slice(self, code, o, ins, out):
        """STRIDED_SLICE with constant begin, end, strides; begin/end masks and negative indices
        resolved here; ellipsis, new-axis and shrink-axis masks and negative strides refused."""
        self.same_params(ins[0], out, code)
        x = self.activation(ins[0])
        shape = self.graph.tensors[x].shape
        vals = [self.buffer(i) for i in ins[1:4]]
        if any(v is None for v in vals) or any(np.size(v) != len(shape) for v in vals):
            raise self.fail(f"STRIDED_SLICE needs constant begin, end and strides of {len(shape)} entries")
        if o["EllipsisMask"] or o["NewAxisMask"] or o["ShrinkAxisMask"]:
            raise self.fail("STRIDED_SLICE with ellipsis, new-axis or shrink-axis masks is not supported")
        begin, end, strides = ([int(v) for v in np.ravel(t)] for t in vals)
        if min(strides) < 1:
            raise self.fail(f"STRIDED_SLICE strides {strides}: only positive strides are supported")
        for k, d in enumerate(shape):
            b = 0 if o["BeginMask"] >> k & 1 else begin[k] + d * (begin[k] < 0)
            e = d if o["EndMask"] >> k & 1 else (b + end[k] if o["Offset"] else end[k] + d * (end[k] < 0))
            begin[k], end[k] = min(max(b, 0), d), min(max(e, 0), d)
        self.emit("StridedSlice", [x], self.fresh("slice"), out, begin=begin, end=end, strides=strides)

    def transpose_conv(self, code, o, ins, out):
        """TRANSPOSE_CONV (inputs: output shape, OHWI weights, input, optional bias): SAME pads as
        TFLite Micro computes them from the output size, VALID none; rows past the taps are
        output_padding."""
        x, w = self.activation(ins[2]), ins[1]
        _, h, wd, _ = self.rank(x, 4, "input")
        name = self.fresh("tconv")
        data = self.buffer(w)
        if data is None or data.ndim != 4 or 0 in data.shape:
            raise self.fail("weights must be constant, [O, KH, KW, I]")
        wq = self.weight_quant(w)
        _, kh, kw, _ = data.shape
        (sh, sw), _ = self.window(o, (kh, kw), (1, 1))
        want = self.buffer(ins[0])
        want = tuple(int(v) for v in np.ravel(want)) if want is not None else self.shape(out)
        if len(want) != 4:
            raise self.fail(f"output shape {want}; rank 4 expected")
        attrs = {}
        for (size, k, s, out_size), key in zip(((h, kh, sh, want[1]), (wd, kw, sw, want[2])), "hw"):
            lo = _same_padding(out_size, k, s, 1)[0] if o["Padding"] == SAME else 0
            rest = (size - 1) * s + k - lo - out_size
            attrs[key] = (lo, max(rest, 0), max(-rest, 0))
        args = [x, self.constant(w, f"{name}.weight", data, wq)]
        if len(ins) > 3 and ins[3] >= 0:
            args.append(self.bias(ins[3], name, x, wq))
        (pt, pb, oph), (pl, pr, opw) = attrs["h"], attrs["w"]
        self.emit("ConvTranspose2d", args, name, out, o["FusedActivationFunction"], stride=(sh, sw),
                  padding=(pt, pb, pl, pr), output_padding=(oph, opw))

    def resize(self, code, o, ins, out):
        """RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR to a constant size."""
        self.same_params(ins[0], out, code)
        size = self.buffer(ins[1])
        if size is None or np.size(size) != 2:
            raise self.fail(f"{code} needs a constant size of 2 entries")
        op = "ResizeNearest" if code == "RESIZE_NEAREST_NEIGHBOR" else "ResizeBilinear"
        self.emit(op, [self.activation(ins[0])], self.fresh("resize"), out,
                  size=tuple(int(v) for v in np.ravel(size)), align_corners=bool(o["AlignCorners"]),
                  half_pixel_centers=bool(o["HalfPixelCenters"]))

    def run(self) -> Graph:
        for n, i in enumerate(self.model.inputs):
            self.names[i] = self.graph_input("input" if n == 0 else f"input{n}", i)
        for k, op in enumerate(self.model.operators):
            self.op(k, op)
        self.where = self.source
        for i in self.model.outputs:
            self.graph.mark_output(self.activation(i))
        self.graph.validate()
        return self.graph


# The TFLite builtins levin imports: code -> (inputs it needs at least, handler). Adding an op to
# this frontend is an entry here (and, for an activation without options, one in UNARY).
UNARY = {"RELU": "ReLU", "RELU6": "ReLU6", "HARD_SWISH": "Hardswish", "ELU": "ELU"}
BINARY = {"ADD": "Add", "SUB": "Sub", "MUL": "Mul", "MAXIMUM": "Maximum", "MINIMUM": "Minimum"}
REDUCE = {"MEAN": "Mean", "SUM": "Sum", "REDUCE_MAX": "ReduceMax"}
OPS: dict[str, tuple[int, Callable]] = {
    "CONV_2D": (2, _Importer.conv), "DEPTHWISE_CONV_2D": (2, _Importer.conv),
    "FULLY_CONNECTED": (2, _Importer.fully_connected),
    "AVERAGE_POOL_2D": (1, _Importer.pool), "MAX_POOL_2D": (1, _Importer.pool),
    **{code: (2, _Importer.binary) for code in BINARY},
    "RESHAPE": (1, _Importer.reshape), "SOFTMAX": (1, _Importer.softmax),
    **{code: (1, _Importer.unary) for code in UNARY},
    "CONCATENATION": (1, _Importer.concatenation), "PAD": (2, _Importer.pad), "MIRROR_PAD": (2, _Importer.mirror_pad),
    "LEAKY_RELU": (1, _Importer.leaky_relu), "GELU": (1, _Importer.gelu),
    **{code: (2, _Importer.reduce) for code in REDUCE},
    "TRANSPOSE": (2, _Importer.transpose), "STRIDED_SLICE": (4, _Importer.strided_slice),
    "RESIZE_NEAREST_NEIGHBOR": (2, _Importer.resize), "RESIZE_BILINEAR": (2, _Importer.resize),
    "TRANSPOSE_CONV": (3, _Importer.transpose_conv),
}
_Importer.ops = OPS
_Importer.dtypes = DTYPES


def from_bytes(data: bytes, name: str = "tflite", source: str | None = None) -> Graph:
    """Return the levin Graph (named `name`) of an int8 .tflite flatbuffer. Raises CaptureError
    naming what is not supported (float model, op, option), LevinFormatError for bytes that are
    not a well-formed .tflite model; messages start with `source` (the file; default `name`)."""
    if _fb is None:  # pragma: no cover
        raise LevinError("importing .tflite needs the `tflite` package: pip install tflite")
    source = source or name
    return _Importer(read(data, source), name, source).run()


def load(path: str | Path) -> Graph:
    """Read an int8 .tflite file into a levin Graph named after the file."""
    path = Path(path)
    return from_bytes(read_bytes(path), path.stem, str(path))
