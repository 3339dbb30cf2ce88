"""Import an int8 QDQ ONNX model (QuantizeLinear / DequantizeLinear around float ops) into
levin's integer graph, with the model's own scales and zero points.

Read me first. A QDQ model is a float model with its quantization written next to it, as
onnxruntime's `quantize_static(..., quant_format=QuantFormat.QDQ)` writes it:
- weights and biases are DequantizeLinear nodes of integer initializers;
- each quantized activation x is QuantizeLinear(x) -> DequantizeLinear, with one scale and
  zero point.
`strip` takes the Q/DQ nodes out: weight DQs become float constants (the dequantized codes),
each activation pair becomes the parameters of x. The float model left is imported by the
float ONNX importer (`levin.ir.onnx`, same op table, same layout rules); `build` then gives each
IR tensor its parameters and writes the integer graph (TFLite int8 semantics, as
`levin.quant.ptq.build_integer_graph` writes one):
- weights: the model's codes, recovered exactly from the float constant (codes x scale /
  scale), symmetric per tensor or per output channel; a weight that is no integer multiple of
  its scale (a BatchNormalization folded in after the DQ) is refused;
- biases: int32 at scale float32(input scale x weight scale), as TFLite and onnxruntime store
  them; recovered exactly from the model's codes when the model used that scale;
- activations: int8 with the model's (scale, zero point); uint8 activations (onnxruntime's
  default QUInt8) become int8 with zero point - 128, the same real values and roundings;
- a tensor with no QuantizeLinear takes its parameters by levin's rules (`levin.ops`,
  `output_quant`): pools, reshapes and pads keep their input's (a GlobalAvgPool the model gives
  its own output scale becomes a Mean over H and W, which rescales, as TFLite's MEAN); a conv, linear or add whose only
  consumer is a ReLU takes the ReLU's (TFLite's fused activation); Softmax, Sigmoid and Tanh have
  TFLite's fixed output parameters. Any other tensor without parameters is refused by name;
- constant operands of Mul / Add (`constant_inputs`) get per-tensor parameters from their range,
  as levin's PTQ gives them.
Arithmetic is levin's (TFLite's fixed-point requantization); onnxruntime's QLinear kernels
requantize in float with round-half-to-even, so outputs may differ by an LSB here and there.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from levin import intmath, ops
from levin.errors import CaptureError
from levin.ir.graph import Graph, QuantParams
from levin.ir.onnx_patterns import constant_value
from levin.ir.onnx_read import ModelRecord, NodeRecord

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
_INTEGRAL_TOL = 1e-3      # |w / scale - round(w / scale)| of a dequantized weight (exact: ~1e-7)


def is_qdq(model: ModelRecord) -> bool:
    return any(n.op in QDQ_OPS for n in model.nodes)


@dataclass
class Stripped:
    model: ModelRecord                                  # the float model left
    acts: dict[str, tuple[float, int]]                  # ONNX activation -> (scale, int8 zero point)
    weights: dict[str, tuple[np.ndarray, np.ndarray, int, np.ndarray]]  # DQ output -> (scale, zp, axis, codes)


def _fail(source: str, node: NodeRecord, msg: str) -> CaptureError:
    return CaptureError(f"{source}: node {node.name!r} ({node.op}): {msg}")


def _params(source: str, node: NodeRecord, consts: dict[str, np.ndarray]):
    """(scale, zero point, axis, integer dtype) of a QuantizeLinear / DequantizeLinear node."""
    if len(node.inputs) < 2 or not node.inputs[1]:
        raise _fail(source, node, "the scale input is missing; a QDQ model gives every "
                                  "QuantizeLinear/DequantizeLinear a constant scale")
    if node.inputs[1] not in consts:
        raise _fail(source, node, f"scale {node.inputs[1]!r} is not a constant")
    scale = np.asarray(consts[node.inputs[1]], np.float32).reshape(-1)
    zp_name = node.inputs[2] if len(node.inputs) > 2 else ""
    if zp_name and zp_name not in consts:
        raise _fail(source, node, f"zero point {zp_name!r} is not a constant")
    zp = consts[zp_name] if zp_name else np.zeros(1, np.uint8)     # ONNX default: uint8 zero
    if zp.dtype not in (np.int8, np.uint8, np.int32):
        raise _fail(source, node, f"zero point of type {zp.dtype}; levin reads int8 and uint8 models")
    zp = np.asarray(zp).reshape(-1)
    if not np.all(np.isfinite(scale)) or np.any(scale <= 0) or zp.size not in (1, scale.size):
        raise _fail(source, node, f"{scale.size} scales (each finite and > 0 expected), {zp.size} zero points")
    return scale, np.broadcast_to(zp, scale.shape).astype(np.int64), int(node.attrs.get("axis", 1)), zp.dtype


def strip(model: ModelRecord, source: str) -> Stripped:
    """The float model under the Q/DQ nodes, and the parameters those nodes gave."""
    consts = dict(model.constants)
    for n in model.nodes:
        v = constant_value(n) if n.op == "Constant" else None
        if v is not None and len(n.outputs) == 1:
            consts[n.outputs[0]] = v
    quantized: dict[str, tuple[np.ndarray, np.ndarray, int, np.dtype, NodeRecord]] = {}   # Q outputs
    alias: dict[str, str] = {}
    acts: dict[str, tuple[float, int]] = {}
    weights = {}
    new_consts = dict(model.constants)
    nodes = []
    for n in model.nodes:
        if n.op == "QuantizeLinear":
            scale, zp, axis, dtype = _params(source, n, consts)
            x = n.inputs[0]
            if x in consts:      # a float constant quantized in the graph: its codes
                lo, hi = (-128, 127) if dtype == np.int8 else (0, 255)
                shape = [1] * consts[x].ndim
                if scale.size > 1:
                    shape[axis % consts[x].ndim] = -1
                codes = np.clip(np.round(consts[x] / scale.reshape(shape)) + zp.reshape(shape), lo, hi)
                consts[n.outputs[0]] = codes.astype(dtype)
                continue
            quantized[n.outputs[0]] = (scale, zp, axis, dtype, n)
        elif n.op == "DequantizeLinear":
            scale, zp, axis, dtype = _params(source, n, consts)
            x = n.inputs[0]
            if x in consts:      # a weight, bias or constant operand: its float values
                codes = np.asarray(consts[x]).astype(np.int64)
                shape = [1] * codes.ndim
                if scale.size > 1:
                    if not -codes.ndim <= axis < codes.ndim or codes.shape[axis] != scale.size:
                        raise _fail(source, n, f"{scale.size} scales along axis {axis} of a {list(codes.shape)} tensor")
                    shape[axis % codes.ndim] = -1
                    axis %= codes.ndim
                values = ((codes - zp.reshape(shape)) * scale.astype(np.float64).reshape(shape)).astype(np.float32)
                new_consts[n.outputs[0]] = consts[n.outputs[0]] = values
                weights[n.outputs[0]] = (scale, zp, axis, codes)
                continue
            if x not in quantized:
                raise _fail(source, n, f"input {x!r} is no QuantizeLinear output; levin reads QDQ "
                                       f"pairs (QuantizeLinear -> DequantizeLinear) on activations")
            qs, qzp, _, qtype, q = quantized[x]
            if not (np.array_equal(qs, scale) and np.array_equal(qzp, zp)):
                raise _fail(source, n, f"scale/zero point differ from its QuantizeLinear {q.name!r}")
            if scale.size != 1:
                raise _fail(source, n, "per-channel activation quantization is not supported "
                                       "(activations have one scale, as TFLite's int8)")
            shift = 128 if qtype == np.uint8 else 0      # uint8 codes q are int8 codes q - 128
            src = alias.get(q.inputs[0], q.inputs[0])
            params = (float(scale[0]), int(zp[0]) - shift)
            if acts.get(src, params) != params:
                raise _fail(source, n, f"tensor {src!r} is quantized twice with different parameters")
            acts[src] = params
            alias[n.outputs[0]] = src
        else:
            nodes.append(n)
    for name, (_, _, _, _, q) in quantized.items():
        if name in model.outputs or any(name in n.inputs for n in nodes):
            raise _fail(source, q, "its integer output is used directly (no DequantizeLinear); levin "
                                   "reads QDQ models, whose ops take and give float values")
    nodes = [replace(n, inputs=tuple(alias.get(i, i) for i in n.inputs)) for n in nodes]
    outputs = [alias.get(o, o) for o in model.outputs]
    for o, src in alias.items():
        if o in model.outputs and src in model.outputs:
            raise CaptureError(f"{source}: graph outputs {o!r} and {src!r} are one tensor")
    float_model = ModelRecord(model.opset, nodes, new_consts, model.inputs, outputs, model.shapes)
    return Stripped(float_model, acts, weights)


# -- the integer graph ------------------------------------------------------------------------------
# Ops whose int8 form keeps the input's parameters (TFLite's) -> the same float op with a rescaling
# int8 form, for a model that gives the output its own scale (onnxruntime does for GlobalAveragePool)
_RESCALING = {"GlobalAvgPool": ("Mean", {"axes": (1, 2), "keepdims": True})}
_WEIGHT_AXIS = {"Conv": lambda node: 0, "Gemm": lambda node: 0 if node.attrs.get("transB", 0) else 1,
                "MatMul": lambda node: 1}     # the ONNX axis of output channels


class _Builder:
    def __init__(self, imp, stripped: Stripped, source: str):
        self.imp, self.s, self.source = imp, stripped, source
        self.float = imp.graph
        self.params: dict[str, tuple[float, int]] = {}
        self.rewrite: dict[str, tuple[str, dict]] = {}     # node -> (op, attrs) it becomes
        for name, p in stripped.acts.items():
            if name in imp.values:
                ir = imp.values[name].name
                if self.params.get(ir, p) != p:
                    raise CaptureError(f"{source}: tensor {name!r} has two sets of quantization parameters")
                self.params[ir] = p
        # IR weighted node -> the ONNX node it came from (its weight and bias are that node's inputs)
        self.origin = {}
        for node in imp.plan.nodes:
            if node.op in _WEIGHT_AXIS and node.outputs[0] in imp.values:
                producer = self.float.producer(imp.values[node.outputs[0]].name)
                if producer is not None:
                    self.origin[producer.name] = node

    def fail(self, where: str, msg: str) -> CaptureError:
        return CaptureError(f"{self.source}: {where}: {msg}")

    def activation_params(self) -> None:
        """Parameters of every activation: the model's, else by levin's rules (module docstring)."""
        g = self.float
        for name in g.inputs:
            if name not in self.params:
                raise self.fail(f"graph input {name!r}", "has no QuantizeLinear; quantize the model's input too")
        for node in g.nodes:
            op = ops.get(node.op)
            fixed = op.output_quant if isinstance(op.output_quant, tuple) else None
            if fixed is not None:
                self.params[node.output] = (float(fixed[0]), int(fixed[1]))
                continue
            if node.op in _RESCALING and node.output in self.params \
                    and self.params[node.output] != self.params[node.inputs[0]]:
                self.rewrite[node.name] = _RESCALING[node.op]     # a new scale: the op that rescales
                continue
            if op.output_quant in ("input", "inputs"):
                src = self.params[node.inputs[0]]
                ties = [i for i in node.inputs if not g.tensors[i].is_constant] if op.output_quant == "inputs" \
                    else node.inputs[:1]
                if any(self.params[i] != src for i in ties) or self.params.get(node.output, src) != src:
                    raise self.fail(f"node {node.name!r} ({node.op})",
                                    "needs one scale and zero point on its inputs and output (as "
                                    "TFLite's int8 kernel); the model gives different ones")
                self.params[node.output] = src
                continue
            if node.output in self.params:
                continue
            users = g.consumers(node.output)
            if (op.fuses_activation and len(users) == 1 and ops.get(users[0].op).fusable_activation
                    and users[0].output in self.params):
                self.params[node.output] = self.params[users[0].output]
                continue
            raise self.fail(f"node {node.name!r} ({node.op})",
                            f"its output {node.output!r} has no QuantizeLinear (missing scale); levin "
                            f"needs the parameters of every activation: quantize all ops (QDQ)")

    def weight(self, node, name: str) -> tuple[np.ndarray, QuantParams]:
        """Codes and parameters of the IR weight `name` of weighted node `node`."""
        where = f"node {node.name!r} ({node.op})"
        src = self.origin.get(node.name)
        wname = src.inputs[1] if src is not None else None
        if wname not in self.s.weights:
            raise self.fail(where, "its weights are no DequantizeLinear of integer codes; "
                                   "quantize the model's weights (QDQ)")
        scale, zp, axis, _ = self.s.weights[wname]
        if np.any(zp != 0):
            raise self.fail(where, "weights need symmetric quantization (zero point 0), as TFLite's "
                                   "int8 kernels (quantize_static's default for int8 weights)")
        if scale.size > 1 and axis != _WEIGHT_AXIS[src.op](src):
            raise self.fail(where, f"weights are quantized per channel along axis {axis}, not along "
                                   f"the output channels")
        w = self.float.tensors[name].data.astype(np.float64)
        s = scale.astype(np.float64).reshape((-1,) + (1,) * (w.ndim - 1))
        codes = np.round(w / s)
        if np.abs(w / s - codes).max() > _INTEGRAL_TOL or np.abs(codes).max() > 127:
            raise self.fail(where, "weights are no int8 codes times their scale (a BatchNormalization "
                                   "or other op folded in after the DequantizeLinear); fold it before "
                                   "quantizing (onnxruntime.quantization.quant_pre_process)")
        return codes.astype(np.int8), QuantParams(scale, np.zeros(scale.size, np.int32),
                                                  0 if scale.size > 1 else None, 8)

    def bias(self, node, name: str, w_q: QuantParams) -> tuple[np.ndarray, QuantParams]:
        s_in = np.float64(np.float32(self.params[node.inputs[0]][0]))
        scale = (s_in * w_q.scale.astype(np.float64)).astype(np.float32)
        b = self.float.tensors[name].data.astype(np.float64)
        scale = np.broadcast_to(scale, b.shape) if scale.size == 1 else scale
        q = intmath.round_half_away(b / scale.astype(np.float64))
        if np.abs(q).max(initial=0) > 2 ** 31 - 1:
            raise self.fail(f"node {node.name!r} ({node.op})", "bias overflows int32 at input scale x weight scale")
        per_channel = w_q.scale.size > 1
        return q.astype(np.int32), QuantParams(scale if per_channel else scale[:1],
                                               np.zeros(scale.size if per_channel else 1, np.int32),
                                               0 if per_channel else None)

    def run(self) -> Graph:
        self.activation_params()
        f = self.float
        g = Graph(f.name)
        for name in f.inputs:
            s, zp = self.params[name]
            g.add_input(name, f.tensors[name].shape, np.int8, QuantParams(s, zp))
        for node in f.nodes:
            op = ops.get(node.op)
            inputs, w_q = [], None
            for pos, name in enumerate(node.inputs):
                t = f.tensors[name]
                if not t.is_constant:
                    inputs.append(name)
                elif name in g.tensors:
                    if op.weighted:
                        raise self.fail(f"node {node.name!r}", f"constant {name!r} is shared with another layer")
                    inputs.append(name)
                elif op.weighted and pos == 1:
                    codes, w_q = self.weight(node, name)
                    inputs.append(g.add_constant(name, codes, w_q))
                elif op.weighted and pos == 2:
                    inputs.append(g.add_constant(name, *self.bias(node, name, w_q)))
                elif pos in op.constant_inputs:
                    s, zp = intmath.choose_qparams(float(np.min(t.data)), float(np.max(t.data)))
                    inputs.append(g.add_constant(name, intmath.quantize(t.data, s, zp), QuantParams(s, zp)))
                else:
                    raise self.fail(f"node {node.name!r} ({node.op})",
                                    f"constant operand {name!r} has no int8 form in levin")
            s, zp = self.params[node.output]
            kind, attrs = self.rewrite.get(node.name, (node.op, node.attrs))
            g.add_node(kind, inputs, node.name, output=node.output, dtype=np.int8,
                       quant=QuantParams(s, zp), **attrs)
        for name in f.outputs:
            g.mark_output(name)
        g.validate()
        return g


def import_qdq(model: ModelRecord, name: str, source: str) -> Graph:
    """The integer Graph of a QDQ model (module docstring)."""
    from levin.ir import onnx

    stripped = strip(model, source)
    imp = onnx._Importer(stripped.model, name, source)
    imp.run()
    return _Builder(imp, stripped, source).run()
