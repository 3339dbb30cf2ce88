"""Run a float levin Graph in torch, as it is or fake-quantized as its integer graph will be.

Read me first. `GraphModule(graph)` is a torch module that executes the graph's nodes in order
(the IR's NHWC layout; convs and pools permute to NCHW views for torch's kernels and back). It
takes and returns tensors in torch's own layout (NCHW feature maps), like the module the graph
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
import torch.nn.functional as F
from torch import nn

from levin.ir.graph import Graph, Node
from levin.quant import fakequant as fq
from levin.quant import intmath as im
from levin.quant import lowbit
from levin.quant.plan import QuantPlan, WEIGHTED


def _key(name: str) -> str:
    return name.replace(".", "__")


def _nchw(x):
    return x.permute(0, 3, 1, 2)


def _nhwc(x):
    return x.permute(0, 2, 3, 1)


def _pad_nhwc(x, pads, value=0.0):
    pt, pb, pl, pr = pads
    return F.pad(x, (0, 0, pl, pr, pt, pb), value=value) if any(pads) else x


def _conv(x, w, b=None, *, stride, padding, dilation, groups):
    x = _nchw(_pad_nhwc(x, padding))
    return _nhwc(F.conv2d(x, w.permute(0, 3, 1, 2), b, stride, 0, dilation, groups)).contiguous()


def _window_sum(x, kernel, stride):
    """Sum over pooling windows of an (already padded) NHWC tensor."""
    return _nhwc(F.avg_pool2d(_nchw(x), kernel, stride) * (kernel[0] * kernel[1]))


def _avg_pool(x, *, kernel, stride, padding, count_include_pad, offset=None, rounder=None):
    """Float average pool; with `offset`/`rounder`, TFLite's int8 one in the real domain: the
    window's sum of codes (x / s + zp) divided by the count, rounded half away from zero."""
    total = _window_sum(_pad_nhwc(x, padding), kernel, stride)
    if count_include_pad or not any(padding):
        count = torch.tensor(float(kernel[0] * kernel[1]), dtype=x.dtype)
    else:
        ones = torch.ones((1,) + tuple(x.shape[1:3]) + (1,), dtype=x.dtype)
        count = _window_sum(_pad_nhwc(ones, padding), kernel, stride)
    if rounder is None:
        return total / count
    scale, zp = offset
    codes = fq.round_ste(total / scale + zp * count)     # the window's sum of int8 codes
    return (rounder(codes / count) - zp) * scale


def _reshape(x, shape):
    return x.reshape((x.shape[0],) + tuple(shape[1:]))


FLOAT_KERNELS: dict[str, Callable] = {
    "Conv2d": _conv,
    "Linear": lambda x, w, b=None: F.linear(x, w, b),
    "ReLU": torch.relu,
    "ReLU6": lambda x: torch.clamp(x, 0, 6),
    "Sigmoid": torch.sigmoid,
    "Tanh": torch.tanh,
    "MaxPool2d": lambda x, kernel, stride, padding: _nhwc(F.max_pool2d(
        _nchw(_pad_nhwc(x, padding, float("-inf"))), kernel, stride)),
    "AvgPool2d": _avg_pool,
    "GlobalAvgPool": lambda x: x.mean(dim=(1, 2), keepdim=True),
    "Add": torch.add,
    "Concat": lambda *xs, axis: torch.cat(xs, dim=axis),
    "Reshape": _reshape,
    "Pad": lambda x, pads, value: _pad_nhwc(x, pads, value),
    "Softmax": lambda x, axis: torch.softmax(x, dim=axis),
}


class GraphModule(nn.Module):
    """A float Graph as a torch module; fake-quantized if given a `QuantPlan`.

    Runs graphs with one input and returns their first output (the zoo's and capture's case).
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
                if node.op in WEIGHTED:
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
        x = _nhwc(x) if x.dim() == 4 else x
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
        out = values[self.graph.outputs[0]]
        return _nchw(out) if out.dim() == 4 else out

    def _arg(self, name: str, values: dict) -> torch.Tensor:
        t = self.graph.tensors[name]
        return self.constants[_key(name)] if t.is_constant else values[name]

    def _step(self, node: Node, values: dict) -> torch.Tensor:
        args = [self._arg(i, values) for i in node.inputs]
        quant = self.act_quantizer(node.output)
        attrs = dict(node.attrs)
        if node.op in WEIGHTED and self.plan is not None:
            wq = self.weight_q[_key(node.name)]
            if (self.integer_requant and not self.training and wq.enabled and quant is not None
                    and self.act_quantizer(node.inputs[0]) is not None):
                return self._integer_requantized(node, args, attrs, quant)
            if wq.enabled:
                args[1] = wq(args[1])
                in_q = self.act_quantizer(node.inputs[0])
                if len(args) == 3 and in_q is not None:
                    args[2] = fq.fake_quantize_bias(args[2], in_q.scale, wq.scales)
        if node.op in ("AvgPool2d", "GlobalAvgPool") and quant is not None:
            if node.op == "GlobalAvgPool":
                hw = tuple(self.graph.tensors[node.inputs[0]].shape[1:3])
                attrs = dict(kernel=hw, stride=hw, padding=(0, 0, 0, 0), count_include_pad=True)
            s = quant.scale
            return _avg_pool(*args, **attrs, offset=(s, quant.zero_point), rounder=fq.round_ste)
        y = FLOAT_KERNELS[node.op](*args, **attrs)
        if quant is None or node.op in ("MaxPool2d", "Reshape") or (
                node.op == "ReLU" and self.plan.share[node.inputs[0]] == self.plan.share[node.output]):
            return y                # already on the grid: the input's, or the fused conv's
        if (node.op in WEIGHTED and self.double_round and not self.training
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
        acc = np.rint(FLOAT_KERNELS[node.op](x, w, b, **attrs).numpy()).astype(np.int64)
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

