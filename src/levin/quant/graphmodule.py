"""Run a float levin Graph in torch, as it is or fake-quantized as its integer graph will be.

Read me first. `GraphModule(graph)` is a torch module that executes the graph's nodes in order
(the IR's NHWC layout; convs and pools permute to NCHW views for torch's kernels and back). It
takes and returns tensors in torch's own layout (NCHW feature maps; (N, C, L) for a graph
captured from a 1-D model, whose maps the IR holds as (N, 1, L, C)), like the module the graph
was captured from, so the training loop and `evaluate` work on it unchanged. Its weights and
biases are parameters (after BatchNorm folding: QAT fine-tunes the folded weights).

With a `QuantPlan` it fake-quantizes at exactly the points where the integer graph holds int8
values, with the same parameters (one quantizer per root tensor of `plan.share_map`, so a conv
fused with its ReLU quantizes once, to the ReLU's range); weights per channel; biases as int32
of scale input_scale * weight_scale; average pools re-round the int8 sum as TFLite does. The
graph input is quantized with float32 division, as `intmath.quantize`. In evaluation, a conv's
or linear's output is rounded twice as TFLite's classic requantization does (`double_round`;
turn it off to mirror `single_round` integer arithmetic): without that, low-bit weights, whose
large scales leave few bits to the rounding shift, differ from the integer graph in up to a
quarter of the output codes. With `integer_requant` (evaluation only; `pipeline.fakequant_outputs`
with `single_round`), a conv's or linear's output is instead computed as the integer graph does:
the int32 accumulator of the input, weight and bias codes (`lowbit`'s), summed in float64, which
is exact whatever the kernel's summation order, FMA or vectorization (every operand and partial
sum is an integer far below 2^53), then `intmath.requantize` with the reference's multipliers.
A float simulation cannot be exact by construction: it multiplies by the real scale ratio, the
integer graph by its 31-bit approximation, and a value between the two lands on either side of a
rounding tie. `export_plan` reads the learned scales and weights back into a `QuantPlan` for
`ptq.build_integer_graph`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from levin import ops
from levin.ir.graph import Graph, Node
from levin.ops.nhwc import nchw, to_nhwc
from levin.quant import fakequant as fq
from levin import intmath as im
from levin.quant import lowbit
from levin.quant.plan import QuantPlan, is_weighted


def _key(name: str) -> str:
    """A tensor or node name as a ModuleDict/ParameterDict key: no dots, and never the name of an
    nn.Module attribute (a constant called "half" or a node called "train" would clash)."""
    return "t_" + name.replace(".", "__")


class GraphModule(nn.Module):
    """A float Graph as a torch module; fake-quantized if given a `QuantPlan`.

    Runs graphs with one input; returns their output, or a tuple of them for a graph with
    several (as the two-headed torch module it was captured from returns them).
    """

    def __init__(self, graph: Graph, plan: QuantPlan | None = None, double_round: bool = True,
                 integer_requant: bool = False):
        super().__init__()
        self.graph = graph
        self.plan = plan
        self.double_round = double_round
        self.integer_requant = integer_requant
        self.constants = nn.ParameterDict()
        for name, t in graph.tensors.items():
            if t.is_constant:
                data = plan.constant(graph, name) if plan is not None else t.data
                self.constants[_key(name)] = nn.Parameter(torch.tensor(np.array(data, dtype=np.float32)))
        self.act_q = nn.ModuleDict()
        self.weight_q = nn.ModuleDict()
        if plan is not None:
            for root, (scale, zp) in plan.activations.items():
                self.act_q[_key(root)] = fq.ActQuantizer(scale, zp, learn=root not in plan.fixed)
            for node in graph.nodes:
                if is_weighted(node.op):
                    self.weight_q[_key(node.name)] = fq.WeightQuantizer(
                        torch.from_numpy(np.asarray(plan.weight_scales[node.name])),
                        plan.weight_bits[node.name])

    @property
    def quantized(self) -> bool:
        return self.plan is not None

    def set_quantization(self, enabled: bool) -> None:
        """Switch every fake quantizer on or off (off: the float graph)."""
        for q in list(self.act_q.values()) + list(self.weight_q.values()):
            q.enabled = enabled

    def act_quantizer(self, tensor: str) -> fq.ActQuantizer | None:
        if self.plan is None:
            return None
        q = self.act_q[_key(self.plan.share[tensor])]
        return q if q.enabled else None

    # -- running -----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, record: Callable[[str, torch.Tensor], None] | None = None):
        dtype = next((p.dtype for p in self.constants.values()), torch.float32)
        name = self.graph.inputs[0]
        # a torch (N, C, L) 1-D feature map is the IR's (N, 1, L, C), and so are its outputs
        one_d = x.dim() == 3 and len(self.graph.tensors[name].shape) == 4
        x = to_nhwc(x) if x.dim() == 4 else x.transpose(1, 2).unsqueeze(1) if one_d else x
        q = self.act_quantizer(name)
        if q is not None:          # as intmath.quantize: float32 division, round half away
            s, zp = q.params()
            codes = torch.clamp(fq.round_half_away(x.float() / np.float32(s)) + zp, q.qmin, q.qmax)
            x = (codes.to(dtype) - zp) * s
        values = {name: x.to(dtype)}
        if record is not None:
            record(name, values[name])
        for node in self.graph.nodes:
            values[node.output] = self._step(node, values)
            if record is not None:
                record(node.output, values[node.output])
        outs = tuple(self._torch_layout(values[name], one_d) for name in self.graph.outputs)
        return outs[0] if len(outs) == 1 else outs

    @staticmethod
    def _torch_layout(out: torch.Tensor, one_d: bool) -> torch.Tensor:
        if out.dim() == 4 and one_d and out.shape[1] == 1:
            return nchw(out).squeeze(2)
        return nchw(out) if out.dim() == 4 else out

    def _arg(self, name: str, values: dict) -> torch.Tensor:
        t = self.graph.tensors[name]
        return self.constants[_key(name)] if t.is_constant else values[name]

    def _step(self, node: Node, values: dict) -> torch.Tensor:
        args = [self._arg(i, values) for i in node.inputs]
        quant = self.act_quantizer(node.output)
        attrs = dict(node.attrs)
        op = ops.get(node.op)
        if op.weighted and self.plan is not None:
            wq = self.weight_q[_key(node.name)]
            if (self.integer_requant and not self.training and wq.enabled and quant is not None
                    and self.act_quantizer(node.inputs[0]) is not None):
                return self._integer_requantized(node, args, attrs, quant)
            if wq.enabled:
                args[1] = wq(args[1])
                in_q = self.act_quantizer(node.inputs[0])
                if len(args) == 3 and in_q is not None:
                    args[2] = fq.fake_quantize_bias(args[2], in_q.scale, wq.scales)
        if quant is not None and op.constant_inputs and not op.weighted:
            for pos in op.constant_inputs:
                if pos < len(args) and self.graph.tensors[node.inputs[pos]].is_constant:
                    args[pos] = _fake_quantize_constant(args[pos])
        if op.fake_quant_torch is not None and quant is not None:
            return op.fake_quant_torch(*args, attrs, self.graph.tensors[node.inputs[0]].shape,
                                       (quant.scale, quant.zero_point), fq.round_ste)
        y = op.evaluate_torch(*args, **attrs)
        if quant is None or not op.requantizes or (
                op.fused_on_grid and self.plan.share[node.inputs[0]] == self.plan.share[node.output]):
            return y                # already on the grid: the input's, or the fused conv's
        if (op.weighted and self.double_round and not self.training
                and self.act_quantizer(node.inputs[0]) is not None):
            return self._double_rounded(node, y, quant)
        return quant(y)

    @torch.no_grad()
    def _double_rounded(self, node: Node, y: torch.Tensor, quant: fq.ActQuantizer) -> torch.Tensor:
        """Output quantization of a conv/linear as TFLite's classic requantization rounds it:
        first to 2^-k of an output step (the doubling high multiply, ties up), then to a step
        (the rounding right shift by k, ties away from zero), k the multiplier's right shift.
        Evaluation only; training uses the plain quantizer."""
        in_q = self.act_quantizer(node.inputs[0])
        w_scales = self.weight_q[_key(node.name)].float32_scales()
        s_out, zp = quant.params()
        reals = im.effective_scale(in_q.params()[0], w_scales, s_out)   # as the oracle (TFLite Micro)
        _, shift = im.quantize_multipliers(np.atleast_1d(reals))
        k = torch.from_numpy(np.maximum(-shift.astype(np.float64), 0.0)).to(y.dtype)
        pot = torch.pow(2.0, k) if k.numel() == 1 else torch.pow(2.0, k).reshape(
            (1,) * (y.dim() - 1) + (-1,))
        v = y / quant.scale
        codes = fq.round_half_away(torch.floor(v * pot + 0.5) / pot) + quant.zero_point
        codes = torch.clamp(codes, quant.qmin, quant.qmax)
        return (codes - quant.zero_point) * quant.scale

    @torch.no_grad()
    def _integer_requantized(self, node: Node, args: list, attrs: dict,
                             quant: fq.ActQuantizer) -> torch.Tensor:
        """Output of a conv/linear exactly as `runtime.reference` computes it (`integer_requant`):
        codes of the input (on its quantizer's grid, so x / s is within an ulp of an integer),
        of the weights and bias (`lowbit`, as `ptq.build_integer_graph`), their int32 accumulator
        in float64 (exact: integers far below 2^53), then `intmath.requantize` with the
        multipliers and shifts the reference derives from the same float32 scales."""
        in_q = self.act_quantizer(node.inputs[0])
        wq = self.weight_q[_key(node.name)]
        s_in = in_q.params()[0]
        w_scales = wq.float32_scales()
        s_out, zp = quant.params()
        x = fq.round_half_away(args[0].double() / s_in)             # x's codes minus zero point
        w = torch.from_numpy(lowbit.quantize_weights(
            args[1].detach().double().numpy(), w_scales, wq.bits).astype(np.float64))
        b = None
        if len(args) == 3:
            b = torch.from_numpy(lowbit.quantize_bias(
                args[2].detach().double().numpy(), s_in, w_scales)[0].astype(np.float64))
        acc = np.rint(ops.get(node.op).evaluate_torch(x, w, b, **attrs).numpy()).astype(np.int64)
        reals = im.effective_scale(s_in, w_scales, s_out)
        single = not self.double_round
        m, shift = im.quantize_multipliers(np.atleast_1d(reals), single_round=single)
        if m.size == 1:
            m, shift = m[0], shift[0]
        codes = im.requantize(acc, m, shift, zp, axis=-1, single_round=single)
        y = torch.from_numpy(codes.astype(np.float64) - zp).to(args[0].dtype)
        return y * quant.scale

    # -- reading back --------------------------------------------------------------------------
    def export_plan(self) -> QuantPlan:
        """The plan this module's current scales and weights stand for (float32 values)."""
        if self.plan is None:
            raise ValueError("export_plan: this GraphModule is not quantized")
        acts = {root: q.params() for root, q in
                ((r, self.act_q[_key(r)]) for r in self.plan.activations)}
        for root, (s, zp) in self.plan.activations.items():
            if root in self.plan.fixed:
                acts[root] = (s, zp)
        scales = {n: self.weight_q[_key(n)].float32_scales() for n in self.plan.weight_scales}
        bits = {n: self.weight_q[_key(n)].bits for n in self.plan.weight_scales}
        weights = {name: self.constants[_key(name)].detach().float().numpy().copy()
                   for name, t in self.graph.tensors.items() if t.is_constant}
        return QuantPlan(dict(self.plan.share), acts, set(self.plan.fixed), scales, bits, weights)


def _fake_quantize_constant(c: torch.Tensor) -> torch.Tensor:
    """A constant operand on the int8 grid `ptq.constant_params` gives it (its own min / max, so
    the parameters follow the value as QAT trains it; straight-through gradient)."""
    s, zp = im.choose_qparams(float(c.detach().min()), float(c.detach().max()))
    codes = torch.clamp(fq.round_ste(c / np.float32(s)) + zp, -128, 127)
    return (codes - zp) * s
