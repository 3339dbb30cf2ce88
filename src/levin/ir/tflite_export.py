"""Export a dense int8 levin Graph as a .tflite flatbuffer that TFLite Micro runs bit-exact.

Read me first. The inverse of `levin.ir.tflite`, written with the `flatbuffers` builder and the
generated schema functions of the `tflite` package (no TensorFlow). What is emitted:
- Conv2d: CONV_2D (groups 1) or DEPTHWISE_CONV_2D (one input channel per group; OHWI weights
  `[C*M, KH, KW, 1]` become `[1, KH, KW, C*M]`, quantized dimension 3). Explicit pads become SAME
  or VALID when they are what TFLite computes for them; other pads become a PAD op in front (int8
  PAD fills with the zero point, as levin's Conv2d pads).
- Linear: FULLY_CONNECTED; Add, Sub, Mul, Maximum, Minimum: ADD, SUB, MUL, MAXIMUM, MINIMUM
  (broadcasting; a constant operand is a constant tensor); MaxPool2d: MAX_POOL_2D; AvgPool2d (padded cells left out of
  the count) and GlobalAvgPool (window = whole map, VALID): AVERAGE_POOL_2D -- never MEAN, whose
  int8 rescaling differs; Reshape: RESHAPE (new shape as an int32 input); Softmax (beta 1):
  SOFTMAX; Concat: CONCATENATION; Pad (value 0.0): PAD; MirrorPad: MIRROR_PAD; ReLU/ReLU6: RELU/RELU6; Hardswish:
  HARD_SWISH; LeakyReLU: LEAKY_RELU (alpha); ELU (alpha 1): ELU; GELU: GELU (approximate "tanh" ->
  approximate true). TFLite Micro has no GELU kernel: desktop TFLite runs it bit-exact.
  Mean, Sum, ReduceMax: MEAN, SUM, REDUCE_MAX (axes as an int32 constant, keep_dims); Transpose:
  TRANSPOSE; StridedSlice: STRIDED_SLICE (begin, end, strides as int32 constants, no masks);
  ResizeNearest, ResizeBilinear: RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR (size as an int32
  constant); ConvTranspose2d:
  TRANSPOSE_CONV (top / left pads TFLite cannot express: a STRIDED_SLICE after it).
- A ReLU/ReLU6 whose input comes from a Conv2d, Linear, Add, Sub, Mul or pool with the same quantization
  parameters, and feeds nothing else, is fused into that op (levin's fused-activation
  convention, `levin.quant.plan`): TFLite clamps once, which equals levin's two clamps.
- Every constant gets its own buffer, 16-byte aligned; activations use the empty buffer 0.

Sigmoid/Tanh are refused (levin computes them by a table of the float function, which TFLite's
LOGISTIC/TANH kernels do not match bit for bit), as are the levin-only Hardsigmoid, SiLU and Clamp,
ELU with alpha other than 1, float graphs and low-bit (packed) weights
TFLite cannot hold. Errors are GraphError naming the node.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import flatbuffers
import numpy as np
import tflite as fb

from levin.errors import GraphError, LevinError
from levin.ir.graph import Graph, Node, Tensor

TYPES = {np.dtype(np.int8): fb.TensorType.INT8, np.dtype(np.int32): fb.TensorType.INT32,
         np.dtype(np.uint8): fb.TensorType.UINT8, np.dtype(np.int16): fb.TensorType.INT16}
FUSABLE = ("Conv2d", "Linear", "Add", "Sub", "Mul", "MaxPool2d", "AvgPool2d", "GlobalAvgPool")
ACT = {None: fb.ActivationFunctionType.NONE, "ReLU": fb.ActivationFunctionType.RELU,
       "ReLU6": fb.ActivationFunctionType.RELU6}


def _same_pads(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _qkey(t: Tensor):
    q = t.quant
    return (t.dtype, tuple(q.scale.tolist()), tuple(q.zero_point.tolist())) if q is not None else None


class _Writer:
    def __init__(self, graph: Graph):
        self.g = graph
        self.b = flatbuffers.Builder(1 << 16)
        self.tensors: list[dict] = []        # pending tensor records
        self.index: dict[str, int] = {}      # levin tensor name -> tflite index
        self.buffers: list[bytes] = [b""]    # buffer 0: the empty sentinel
        self.ops: list[tuple] = []           # (builtin code, inputs, outputs, options type, options builder)
        self.codes: list[int] = []

    # -- tensors ----------------------------------------------------------------------------
    def tensor(self, name: str, shape=None, data: np.ndarray | None = None, quant_from: Tensor | None = None,
               axis: int | None = None) -> int:
        if name in self.index and data is None:
            return self.index[name]
        t = self.g.tensors.get(name)
        src = quant_from or t
        dtype = np.dtype(data.dtype if data is not None else src.dtype)
        if dtype not in TYPES:
            raise GraphError(f"tensor {name!r}: {dtype} cannot be written to .tflite (integer graphs only)")
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).astype(dtype.newbyteorder("<")).tobytes())
            buf = len(self.buffers) - 1
        q = src.quant if src is not None else None
        rec = dict(name=name, shape=tuple(shape if shape is not None else data.shape if t is None else t.shape), type=TYPES[dtype], buffer=buf,
                   scale=None if q is None else q.scale, zp=None if q is None else q.zero_point,
                   axis=axis if axis is not None else (q.axis or 0) if q is not None else 0)
        self.tensors.append(rec)
        self.index[name] = len(self.tensors) - 1
        return self.index[name]

    def const(self, name: str, data: np.ndarray | None = None, axis: int | None = None) -> int:
        t = self.g.tensors[name]
        return self.tensor(name, data.shape if data is not None else t.shape,
                           t.data if data is None else data, t, axis)

    def op(self, code: int, inputs, outputs, opt_type: int = 0, options=None) -> None:
        if code not in self.codes:
            self.codes.append(code)
        self.ops.append((self.codes.index(code), list(inputs), list(outputs), opt_type, options))

    # -- ops --------------------------------------------------------------------------------
    def conv(self, node: Node, out: int, act: int) -> None:
        x, w = self.g.tensors[node.inputs[0]], self.g.tensors[node.inputs[1]]
        a = node.attrs
        _, h, wd, c = x.shape
        o, kh, kw, cg = w.shape
        (sh, sw), (dh, dw), pads = a["stride"], a["dilation"], a["padding"]
        xi = self.tensor(x.name)
        if not any(pads):
            padding = fb.Padding.VALID
        elif pads == _same_pads(h, kh, sh, dh) + _same_pads(wd, kw, sw, dw):
            padding = fb.Padding.SAME
        else:
            xi = self.pad_op(x, pads, f"{node.name}.pad")
            padding = fb.Padding.VALID
        bias = [self.const(node.inputs[2])] if len(node.inputs) > 2 else [-1]
        if a["groups"] == 1:
            ins = [xi, self.const(w.name)] + bias

            def opts(b):
                fb.Conv2DOptionsStart(b)
                fb.Conv2DOptionsAddPadding(b, padding)
                fb.Conv2DOptionsAddStrideW(b, sw)
                fb.Conv2DOptionsAddStrideH(b, sh)
                fb.Conv2DOptionsAddDilationWFactor(b, dw)
                fb.Conv2DOptionsAddDilationHFactor(b, dh)
                fb.Conv2DOptionsAddFusedActivationFunction(b, act)
                return fb.Conv2DOptionsEnd(b)
            self.op(fb.BuiltinOperator.CONV_2D, ins, [out], fb.BuiltinOptions.Conv2DOptions, opts)
        elif cg == 1 and a["groups"] == c:
            dwt = np.ascontiguousarray(w.data.transpose(3, 1, 2, 0))        # [1, KH, KW, C*M]
            ins = [xi, self.const(w.name, dwt, axis=3)] + bias

            def opts(b):
                fb.DepthwiseConv2DOptionsStart(b)
                fb.DepthwiseConv2DOptionsAddPadding(b, padding)
                fb.DepthwiseConv2DOptionsAddStrideW(b, sw)
                fb.DepthwiseConv2DOptionsAddStrideH(b, sh)
                fb.DepthwiseConv2DOptionsAddDepthMultiplier(b, o // c)
                fb.DepthwiseConv2DOptionsAddDilationWFactor(b, dw)
                fb.DepthwiseConv2DOptionsAddDilationHFactor(b, dh)
                fb.DepthwiseConv2DOptionsAddFusedActivationFunction(b, act)
                return fb.DepthwiseConv2DOptionsEnd(b)
            self.op(fb.BuiltinOperator.DEPTHWISE_CONV_2D, ins, [out], fb.BuiltinOptions.DepthwiseConv2DOptions, opts)
        else:
            raise GraphError(f"node {node.name!r} (Conv2d): groups={a['groups']} with {cg} channels per "
                             f"group has no TFLite Micro kernel (only groups 1 or depthwise)")

    def pad_op(self, x: Tensor, pads, name: str, out: int | None = None) -> int:
        pt, pb, pl, pr = pads
        if out is None:
            n, h, w, c = x.shape
            out = self.tensor(name, (n, h + pt + pb, w + pl + pr, c), quant_from=x)
        paddings = np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32)
        self.op(fb.BuiltinOperator.PAD, [self.tensor(x.name), self.tensor(f"{name}.paddings", data=paddings)], [out])
        return out

    def pool(self, node: Node, out: int, act: int) -> None:
        x = self.g.tensors[node.inputs[0]]
        _, h, w, _ = x.shape
        if node.op == "GlobalAvgPool":
            kernel, stride, pads = (h, w), (1, 1), (0, 0, 0, 0)
        else:
            a = node.attrs
            kernel, stride, pads = a["kernel"], a["stride"], a["padding"]
            if node.op == "AvgPool2d" and a["count_include_pad"] and any(pads):
                raise GraphError(f"node {node.name!r}: AVERAGE_POOL_2D leaves padding out of the count; "
                                 f"count_include_pad=True has no TFLite equivalent")
        if not any(pads):
            padding = fb.Padding.VALID
        elif pads == _same_pads(h, kernel[0], stride[0], 1) + _same_pads(w, kernel[1], stride[1], 1):
            padding = fb.Padding.SAME
        else:
            raise GraphError(f"node {node.name!r}: pool padding {pads} is neither SAME nor VALID")

        def opts(b):
            fb.Pool2DOptionsStart(b)
            fb.Pool2DOptionsAddPadding(b, padding)
            fb.Pool2DOptionsAddStrideW(b, stride[1])
            fb.Pool2DOptionsAddStrideH(b, stride[0])
            fb.Pool2DOptionsAddFilterWidth(b, kernel[1])
            fb.Pool2DOptionsAddFilterHeight(b, kernel[0])
            fb.Pool2DOptionsAddFusedActivationFunction(b, act)
            return fb.Pool2DOptionsEnd(b)
        code = fb.BuiltinOperator.MAX_POOL_2D if node.op == "MaxPool2d" else fb.BuiltinOperator.AVERAGE_POOL_2D
        self.op(code, [self.tensor(x.name)], [out], fb.BuiltinOptions.Pool2DOptions, opts)

    def node(self, node: Node, out_name: str, act_name: str | None) -> None:
        act = ACT[act_name]
        out = self.tensor(out_name)
        ins = [self.g.tensors[i] for i in node.inputs]
        if any(t.is_float for t in ins) or self.g.tensors[node.output].is_float:
            raise GraphError(f"node {node.name!r}: float tensors; export integer graphs only "
                             f"(quantize with levin.quant.ptq first)")
        if node.op not in OPS:
            raise GraphError(f"node {node.name!r} ({node.op}): no bit-exact TFLite op; exportable ops are "
                             f"{', '.join(OPS)}")
        OPS[node.op](self, node, out, act)

    # -- one writer per IR op (the OPS table below maps ops to them) --------------------------------
    def linear(self, node: Node, out: int, act: int) -> None:
        bias = [self.const(node.inputs[2])] if len(node.inputs) > 2 else [-1]

        def opts(b):
            fb.FullyConnectedOptionsStart(b)
            fb.FullyConnectedOptionsAddFusedActivationFunction(b, act)
            return fb.FullyConnectedOptionsEnd(b)
        self.op(fb.BuiltinOperator.FULLY_CONNECTED, [self.tensor(node.inputs[0]), self.const(node.inputs[1])] + bias,
                [out], fb.BuiltinOptions.FullyConnectedOptions, opts)

    def binary(self, node: Node, out: int, act: int) -> None:
        """Add, Sub, Mul (with their fused activation), Maximum, Minimum: BINARY below; TFLite
        broadcasts as levin; a constant operand gets its own buffer."""
        code, options = BINARY[node.op]
        ins = [self.const(i) if self.g.tensors[i].is_constant else self.tensor(i) for i in node.inputs]
        if options is None:
            return self.op(code, ins, [out])
        start, add_act, end = (getattr(fb, f"{options}{part}") for part in
                               ("Start", "AddFusedActivationFunction", "End"))

        def opts(b):
            start(b)
            add_act(b, act)
            return end(b)
        self.op(code, ins, [out], getattr(fb.BuiltinOptions, options), opts)

    def reshape(self, node: Node, out: int, act: int) -> None:
        shape = np.array(self.g.tensors[node.output].shape, np.int32)
        self.op(fb.BuiltinOperator.RESHAPE, [self.tensor(node.inputs[0]),
                                             self.tensor(f"{node.name}.shape", data=shape)], [out])

    def softmax(self, node: Node, out: int, act: int) -> None:
        if node.attrs["axis"] != len(self.g.tensors[node.inputs[0]].shape) - 1:
            raise GraphError(f"node {node.name!r}: TFLite's SOFTMAX works on the last axis only")

        def opts(b):
            fb.SoftmaxOptionsStart(b)
            fb.SoftmaxOptionsAddBeta(b, 1.0)
            return fb.SoftmaxOptionsEnd(b)
        self.op(fb.BuiltinOperator.SOFTMAX, [self.tensor(node.inputs[0])], [out], fb.BuiltinOptions.SoftmaxOptions, opts)

    def unary(self, node: Node, out: int, act: int) -> None:
        """An op TFLite runs without options (UNARY below: the IR op -> its builtin)."""
        self.op(UNARY[node.op], [self.tensor(node.inputs[0])], [out])

    def leaky_relu(self, node: Node, out: int, act: int) -> None:
        def opts(b):
            fb.LeakyReluOptionsStart(b)
            fb.LeakyReluOptionsAddAlpha(b, node.attrs["alpha"])
            return fb.LeakyReluOptionsEnd(b)
        self.op(fb.BuiltinOperator.LEAKY_RELU, [self.tensor(node.inputs[0])], [out],
                fb.BuiltinOptions.LeakyReluOptions, opts)

    def elu(self, node: Node, out: int, act: int) -> None:
        if node.attrs["alpha"] != 1.0:
            raise GraphError(f"node {node.name!r}: ELU with alpha {node.attrs['alpha']}; TFLite's ELU "
                             f"has alpha 1 only")
        self.op(fb.BuiltinOperator.ELU, [self.tensor(node.inputs[0])], [out])

    def gelu(self, node: Node, out: int, act: int) -> None:
        def opts(b):
            fb.GeluOptionsStart(b)
            fb.GeluOptionsAddApproximate(b, node.attrs["approximate"] == "tanh")
            return fb.GeluOptionsEnd(b)
        self.op(fb.BuiltinOperator.GELU, [self.tensor(node.inputs[0])], [out], fb.BuiltinOptions.GeluOptions, opts)

    def concat(self, node: Node, out: int, act: int) -> None:
        def opts(b):
            fb.ConcatenationOptionsStart(b)
            fb.ConcatenationOptionsAddAxis(b, node.attrs["axis"])
            return fb.ConcatenationOptionsEnd(b)
        self.op(fb.BuiltinOperator.CONCATENATION, [self.tensor(i) for i in node.inputs], [out],
                fb.BuiltinOptions.ConcatenationOptions, opts)

    def pad(self, node: Node, out: int, act: int) -> None:
        if node.attrs["value"] != 0.0:
            raise GraphError(f"node {node.name!r}: PAD with value {node.attrs['value']} (only 0.0 exports)")
        self.pad_op(self.g.tensors[node.inputs[0]], node.attrs["pads"], node.name, out)

    def mirror_pad(self, node: Node, out: int, act: int) -> None:
        pt, pb, pl, pr = node.attrs["pads"]
        paddings = np.array([[0, 0], [pt, pb], [pl, pr], [0, 0]], np.int32)
        mode = fb.MirrorPadMode.REFLECT if node.attrs["mode"] == "reflect" else fb.MirrorPadMode.SYMMETRIC

        def opts(b):
            fb.MirrorPadOptionsStart(b)
            fb.MirrorPadOptionsAddMode(b, mode)
            return fb.MirrorPadOptionsEnd(b)
        self.op(fb.BuiltinOperator.MIRROR_PAD, [self.tensor(node.inputs[0]),
                                                self.tensor(f"{node.name}.paddings", data=paddings)],
                [out], fb.BuiltinOptions.MirrorPadOptions, opts)

    def reduce(self, node: Node, out: int, act: int) -> None:
        """Mean, Sum, ReduceMax: MEAN, SUM, REDUCE_MAX with the axes as an int32 constant."""
        axes = np.array(node.attrs["axes"], np.int32)

        def opts(b):
            fb.ReducerOptionsStart(b)
            fb.ReducerOptionsAddKeepDims(b, node.attrs["keepdims"])
            return fb.ReducerOptionsEnd(b)
        self.op(REDUCE[node.op], [self.tensor(node.inputs[0]), self.tensor(f"{node.name}.axes", data=axes)],
                [out], fb.BuiltinOptions.ReducerOptions, opts)

    def transpose(self, node: Node, out: int, act: int) -> None:
        perm = np.array(node.attrs["perm"], np.int32)
        self.op(fb.BuiltinOperator.TRANSPOSE, [self.tensor(node.inputs[0]),
                                               self.tensor(f"{node.name}.perm", data=perm)], [out])

    def strided_slice(self, node: Node, out: int, act: int) -> None:
        """STRIDED_SLICE, no masks: begin, end, strides as int32 constants."""
        a = node.attrs
        ins = [self.tensor(node.inputs[0])] + [self.tensor(f"{node.name}.{k}", data=np.array(a[k], np.int32))
                                               for k in ("begin", "end", "strides")]

        def opts(b):
            fb.StridedSliceOptionsStart(b)
            return fb.StridedSliceOptionsEnd(b)
        self.op(fb.BuiltinOperator.STRIDED_SLICE, ins, [out], fb.BuiltinOptions.StridedSliceOptions, opts)

    def conv_transpose(self, node: Node, out: int, act: int) -> None:
        """TRANSPOSE_CONV: SAME when the top / left pads are those TFLite computes from the output
        size, VALID when they are 0, else VALID to a larger map and a STRIDED_SLICE off its top / left."""
        x, w, y = self.g.tensors[node.inputs[0]], self.g.tensors[node.inputs[1]], self.g.tensors[node.output]
        n, ho, wo, o = y.shape
        _, kh, kw, _ = w.shape
        (sh, sw), (pt, _, pl, _) = node.attrs["stride"], node.attrs["padding"]
        if (pt, pl) == (_same_pads(ho, kh, sh, 1)[0], _same_pads(wo, kw, sw, 1)[0]):
            padding, full, tc_out = fb.Padding.SAME, (n, ho, wo, o), out
        else:
            padding, full = fb.Padding.VALID, (n, ho + pt, wo + pl, o)
            tc_out = out if (pt, pl) == (0, 0) else self.tensor(f"{node.name}.full", full, quant_from=y)
        bias = [self.const(node.inputs[2])] if len(node.inputs) > 2 else [-1]
        ins = [self.tensor(f"{node.name}.output_shape", data=np.array(full, np.int32)), self.const(w.name),
               self.tensor(x.name)] + bias

        def opts(b):
            fb.TransposeConvOptionsStart(b)
            fb.TransposeConvOptionsAddPadding(b, padding)
            fb.TransposeConvOptionsAddStrideW(b, sw)
            fb.TransposeConvOptionsAddStrideH(b, sh)
            fb.TransposeConvOptionsAddFusedActivationFunction(b, act)
            return fb.TransposeConvOptionsEnd(b)
        self.op(fb.BuiltinOperator.TRANSPOSE_CONV, ins, [tc_out], fb.BuiltinOptions.TransposeConvOptions, opts)
        if tc_out != out:
            def slice_opts(b):
                fb.StridedSliceOptionsStart(b)
                return fb.StridedSliceOptionsEnd(b)
            cut = [self.tensor(f"{node.name}.{k}", data=np.array(v, np.int32)) for k, v in
                   (("begin", (0, pt, pl, 0)), ("end", full), ("strides", (1, 1, 1, 1)))]
            self.op(fb.BuiltinOperator.STRIDED_SLICE, [tc_out] + cut, [out],
                    fb.BuiltinOptions.StridedSliceOptions, slice_opts)

    def resize(self, node: Node, out: int, act: int) -> None:
        """RESIZE_NEAREST_NEIGHBOR, RESIZE_BILINEAR: the output size as an int32 constant."""
        a = node.attrs
        kind = "ResizeNearestNeighbor" if node.op == "ResizeNearest" else "ResizeBilinear"

        def opts(b):
            getattr(fb, f"{kind}OptionsStart")(b)
            getattr(fb, f"{kind}OptionsAddAlignCorners")(b, a["align_corners"])
            getattr(fb, f"{kind}OptionsAddHalfPixelCenters")(b, a["half_pixel_centers"])
            return getattr(fb, f"{kind}OptionsEnd")(b)
        code = fb.BuiltinOperator.RESIZE_NEAREST_NEIGHBOR if kind != "ResizeBilinear" else fb.BuiltinOperator.RESIZE_BILINEAR
        self.op(code, [self.tensor(node.inputs[0]), self.tensor(f"{node.name}.size", data=np.array(a["size"], np.int32))],
                [out], getattr(fb.BuiltinOptions, f"{kind}Options"), opts)

    # -- flatbuffer -------------------------------------------------------------------------
    def _vector(self, start, items) -> int:
        start(self.b, len(items))
        for it in reversed(items):
            self.b.PrependUOffsetTRelative(it)
        return self.b.EndVector()

    def _ints(self, values, dtype=np.int32) -> int:
        return self.b.CreateNumpyVector(np.asarray(values, dtype))

    def _bytes(self, data: bytes) -> int:
        self.b.StartVector(1, len(data), 16)      # 16-byte aligned, as TFLite writes buffers
        self.b.head -= len(data)
        self.b.Bytes[self.b.head:self.b.head + len(data)] = data
        return self.b.EndVector()

    def finish(self, inputs: list[int], outputs: list[int], description: str) -> bytes:
        b = self.b
        buffers = []
        for data in self.buffers:
            vec = self._bytes(data) if data else None
            fb.BufferStart(b)
            if vec is not None:
                fb.BufferAddData(b, vec)
            buffers.append(fb.BufferEnd(b))
        tensors = []
        for rec in self.tensors:
            name, shape = b.CreateString(rec["name"]), self._ints(rec["shape"])
            q = None
            if rec["scale"] is not None:
                scale = b.CreateNumpyVector(np.asarray(rec["scale"], np.float32))
                zp = self._ints(rec["zp"], np.int64)
                fb.QuantizationParametersStart(b)
                fb.QuantizationParametersAddScale(b, scale)
                fb.QuantizationParametersAddZeroPoint(b, zp)
                fb.QuantizationParametersAddQuantizedDimension(b, rec["axis"])
                q = fb.QuantizationParametersEnd(b)
            fb.TensorStart(b)
            fb.TensorAddShape(b, shape)
            fb.TensorAddType(b, rec["type"])
            fb.TensorAddBuffer(b, rec["buffer"])
            fb.TensorAddName(b, name)
            if q is not None:
                fb.TensorAddQuantization(b, q)
            tensors.append(fb.TensorEnd(b))
        operators = []
        for opcode, ins, outs, opt_type, opts in self.ops:
            iv, ov = self._ints(ins), self._ints(outs)
            ot = opts(b) if opts else None
            fb.OperatorStart(b)
            fb.OperatorAddOpcodeIndex(b, opcode)
            fb.OperatorAddInputs(b, iv)
            fb.OperatorAddOutputs(b, ov)
            if ot is not None:
                fb.OperatorAddBuiltinOptionsType(b, opt_type)
                fb.OperatorAddBuiltinOptions(b, ot)
            operators.append(fb.OperatorEnd(b))
        tv = self._vector(fb.SubGraphStartTensorsVector, tensors)
        ov = self._vector(fb.SubGraphStartOperatorsVector, operators)
        iv, outv, sg_name = self._ints(inputs), self._ints(outputs), b.CreateString(self.g.name)
        fb.SubGraphStart(b)
        fb.SubGraphAddTensors(b, tv)
        fb.SubGraphAddInputs(b, iv)
        fb.SubGraphAddOutputs(b, outv)
        fb.SubGraphAddOperators(b, ov)
        fb.SubGraphAddName(b, sg_name)
        subgraph = fb.SubGraphEnd(b)
        codes = []
        for code in self.codes:
            fb.OperatorCodeStart(b)
            fb.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            fb.OperatorCodeAddBuiltinCode(b, code)
            fb.OperatorCodeAddVersion(b, 1)
            codes.append(fb.OperatorCodeEnd(b))
        cv = self._vector(fb.ModelStartOperatorCodesVector, codes)
        sv = self._vector(fb.ModelStartSubgraphsVector, [subgraph])
        bv = self._vector(fb.ModelStartBuffersVector, buffers)
        desc = b.CreateString(description)
        fb.ModelStart(b)
        fb.ModelAddVersion(b, 3)
        fb.ModelAddOperatorCodes(b, cv)
        fb.ModelAddSubgraphs(b, sv)
        fb.ModelAddDescription(b, desc)
        fb.ModelAddBuffers(b, bv)
        b.Finish(fb.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


# The IR ops levin exports, each as the TFLite builtin TFLite Micro runs bit-exactly like levin's
# reference: IR op -> writer. Adding an op to this frontend is an entry here (or in UNARY).
UNARY = {"ReLU": fb.BuiltinOperator.RELU, "ReLU6": fb.BuiltinOperator.RELU6,
         "Hardswish": fb.BuiltinOperator.HARD_SWISH}
BINARY = {"Add": (fb.BuiltinOperator.ADD, "AddOptions"), "Sub": (fb.BuiltinOperator.SUB, "SubOptions"),
          "Mul": (fb.BuiltinOperator.MUL, "MulOptions"), "Maximum": (fb.BuiltinOperator.MAXIMUM, None),
          "Minimum": (fb.BuiltinOperator.MINIMUM, None)}
REDUCE = {"Mean": fb.BuiltinOperator.MEAN, "Sum": fb.BuiltinOperator.SUM,
          "ReduceMax": fb.BuiltinOperator.REDUCE_MAX}
OPS: dict[str, Callable] = {
    "Conv2d": _Writer.conv, "Linear": _Writer.linear, **{op: _Writer.binary for op in BINARY},
    "MaxPool2d": _Writer.pool, "AvgPool2d": _Writer.pool, "GlobalAvgPool": _Writer.pool,
    "Reshape": _Writer.reshape, "Softmax": _Writer.softmax, **{op: _Writer.unary for op in UNARY},
    "Concat": _Writer.concat, "Pad": _Writer.pad, "MirrorPad": _Writer.mirror_pad,
    "LeakyReLU": _Writer.leaky_relu, "ELU": _Writer.elu, "GELU": _Writer.gelu,
    **{op: _Writer.reduce for op in REDUCE},
    "Transpose": _Writer.transpose, "StridedSlice": _Writer.strided_slice,
    "ResizeNearest": _Writer.resize, "ResizeBilinear": _Writer.resize, "ConvTranspose2d": _Writer.conv_transpose,
}


def _fusions(graph: Graph) -> dict[str, Node]:
    """producer node name -> the ReLU/ReLU6 node fused into it."""
    fused = {}
    for node in graph.nodes:
        if node.op not in ("ReLU", "ReLU6"):
            continue
        src = graph.producer(node.inputs[0])
        if (src is not None and src.op in FUSABLE and src.output not in graph.outputs
                and len(graph.consumers(src.output)) == 1
                and _qkey(graph.tensors[src.output]) == _qkey(graph.tensors[node.output])):
            fused[src.name] = node
    return fused


def to_bytes(graph: Graph, description: str = "levin export") -> bytes:
    """Return the .tflite bytes of integer `graph` (see the module docstring for the mapping)."""
    graph.validate()
    for t in graph.tensors.values():
        if t.is_float:
            raise GraphError(f"tensor {t.name!r} is float: export integer (int8) graphs only; "
                             f"quantize first (levin quantize)")
    w = _Writer(graph)
    inputs = [w.tensor(n) for n in graph.inputs]
    fused = _fusions(graph)
    absorbed = {n.name for n in fused.values()}
    for node in graph.nodes:
        if node.name in absorbed:
            continue
        act = fused.get(node.name)
        w.node(node, act.output if act else node.output, act.op if act else None)
    outputs = [w.tensor(n) for n in graph.outputs]
    return w.finish(inputs, outputs, description)


def save(graph: Graph, path: str | Path) -> int:
    """Write `graph` as a .tflite file; return its size in bytes."""
    data = to_bytes(graph)
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise LevinError(f"cannot write {path}: {exc.strerror or exc}") from None
    return len(data)
