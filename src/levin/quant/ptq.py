"""Post-training quantization: float Graph -> integer Graph (TFLite int8 semantics).

Read me first: the integer graph levin produces, and that `levin.reference` runs.
- Same tensor and node names, same ops and attributes as the float graph; only dtypes and
  quantization parameters change (a .tflite-like graph: scales and zero points, no multipliers).
- Activations int8, asymmetric, per tensor; the graph input too (quantize float inputs with
  `runtime.reference.quantize_input`). Which tensors share parameters, and the fused ReLU
  convention, are `levin.quant.plan`'s rules.
- Weights int8, symmetric (zero point 0), narrow range -(2^(b-1)-1)..2^(b-1)-1, per output
  channel along axis 0 (or per tensor); `QuantParams.bits` holds b (2..8) on every weight tensor,
  so that a container can store b bits per value (`lowbit.pack`).
- Biases int32, zero point 0, scale float32(input_scale * weight_scale) per channel.
- Requantization multipliers and shifts are not stored: the interpreter (and the C generator)
  derive them from the scales with `intmath`, as TFLite does at prepare time.

Calibration runs the float graph in torch on the calibration inputs (levin's dataset layout:
channels first) and observes the range of every tensor that owns parameters; graph inputs always
use min/max (their range is known; clipping them rarely helps).
"""

from __future__ import annotations

import numpy as np
import torch

from levin.config.quant import QuantConfig
from levin.errors import GraphError, LevinError
from levin.ir.graph import Graph, QuantParams
from levin.quant import lowbit, observers
from levin.quant.graphmodule import GraphModule
from levin.intmath import choose_qparams, quantize
from levin import ops
from levin.quant.plan import QuantPlan, fixed_output, is_weighted, share_map, tied, weighted_nodes


def calibration_set(x_train: np.ndarray, size: int, seed: int = 0) -> np.ndarray:
    """`size` training samples drawn without replacement (seeded)."""
    n = min(size, len(x_train))
    idx = np.sort(np.random.default_rng(seed).choice(len(x_train), n, replace=False))
    return x_train[idx]


@torch.no_grad()
def calibrate(graph: Graph, inputs: np.ndarray, config: QuantConfig,
              batch_size: int = 250) -> dict[str, tuple[float, float]]:
    """Observed real range [lo, hi] of every root tensor (see `plan.share_map`) whose parameters
    are not dictated by its op."""
    share = share_map(graph)
    fixed_roots = {n.output for n in graph.nodes if fixed_output(n.op)}
    stats = {r: observers.RangeStats() for r in set(share.values()) - fixed_roots}
    # tensors tied to another root (Maximum's inputs) are observed into that root's statistics
    observe = {r: r for r in stats} | {t: r for t, r in tied(graph, share).items() if r in stats}
    module = GraphModule(graph).eval()
    batches = [torch.from_numpy(np.ascontiguousarray(inputs[i:i + batch_size], dtype=np.float32))
               for i in range(0, len(inputs), batch_size)]
    if not batches:
        raise LevinError("calibration needs at least one input sample")

    def minmax(name, v):
        if name in observe:
            stats[observe[name]].update(v.numpy())

    def histogram(name, v):
        if name in observe:
            stats[observe[name]].update_histogram(v.numpy(), config.bins)

    for b in batches:
        module(b, record=minmax)
    if observers.needs_histogram(config.observer):
        for b in batches:
            module(b, record=histogram)
    return {r: observers.minmax_range(s) if r in graph.inputs
            else observers.observe_range(s, config.observer, config.percentile)
            for r, s in stats.items()}


def make_plan(graph: Graph, ranges: dict[str, tuple[float, float]], config: QuantConfig) -> QuantPlan:
    """Activation parameters from the ranges, weight scales from the weights, bits from config."""
    weighted = weighted_nodes(graph)
    unknown = sorted(set(config.layer_bits) - set(weighted))
    if unknown:
        raise LevinError(f"layer_bits names {', '.join(unknown)}, which are not weighted layers "
                         f"of {graph.name}; those are: {', '.join(weighted)}")
    share = share_map(graph)
    producers = {n.output: n.op for n in graph.nodes}
    acts, fixed = {}, set(graph.inputs)
    for root in sorted(set(share.values())):
        op = producers.get(root)
        fixed_params = fixed_output(op) if op is not None else None
        if fixed_params is not None:
            acts[root] = (float(np.float32(fixed_params[0])), fixed_params[1])
            fixed.add(root)
        else:
            acts[root] = choose_qparams(*ranges[root])
    scales, bits = {}, {}
    for node in graph.nodes:
        if is_weighted(node.op):
            bits[node.name] = config.bits_for(node.name)
            scales[node.name] = lowbit.weight_scales(
                graph.tensors[node.inputs[1]].data, bits[node.name],
                per_channel=config.per_channel, method=config.weight_observer)
            if len(node.inputs) > 2:
                scales[node.name] = bias_fits(scales[node.name], graph.tensors[node.inputs[2]].data,
                                              acts[share[node.inputs[0]]][0])
    return QuantPlan(share, acts, fixed, scales, bits)


# The largest bias code: half of int32, the other half left for the accumulated products.
BIAS_LIMIT = 2.0 ** 30


def bias_fits(weight_scales: np.ndarray, bias: np.ndarray, input_scale: float) -> np.ndarray:
    """Weight scales raised where the bias code b / (input_scale * weight_scale) would pass
    BIAS_LIMIT, as TFLite's converter does: a channel whose weights are ~0 (1e-30 in VWW's float
    model) gets a tiny scale, and its bias would overflow the int32 accumulator. The raised
    channel's weights then quantize to 0, as they are in all but name."""
    floor = np.abs(np.asarray(bias, np.float64)) / (np.float64(input_scale) * BIAS_LIMIT)
    if weight_scales.size == 1:
        floor = floor.max(initial=0.0)
    return np.maximum(weight_scales, floor.astype(np.float32)).astype(np.float32)


def _quant(scale, zero_point=None, bits=None) -> QuantParams:
    scale = np.atleast_1d(np.asarray(scale, dtype=np.float32))
    zp = np.zeros(scale.shape, np.int32) if zero_point is None else zero_point
    return QuantParams(scale, zp, 0 if scale.size > 1 else None, bits)


def constant_params(data: np.ndarray) -> tuple[float, int]:
    """(scale, zero point) of a constant operand (`Op.constant_inputs`): int8, per tensor, from
    its min / max widened to include 0, as the TFLite converter quantizes a constant MUL / ADD
    input."""
    return choose_qparams(float(np.min(data)), float(np.max(data)))


def build_integer_graph(graph: Graph, plan: QuantPlan) -> Graph:
    """The integer Graph that `plan` describes (conventions: module docstring)."""
    g = Graph(graph.name)
    for name in graph.inputs:
        s, zp = plan.params(name)
        g.add_input(name, graph.tensors[name].shape, np.int8, QuantParams(s, zp))
    for node in graph.nodes:
        inputs = []
        for pos, name in enumerate(node.inputs):
            t = graph.tensors[name]
            if not t.is_constant:
                inputs.append(name)
                continue
            op = ops.get(node.op)
            if pos in op.constant_inputs and not is_weighted(node.op):
                if name not in g.tensors:   # a constant operand may be shared: one set of codes
                    data = plan.constant(graph, name)
                    s, zp = constant_params(data)
                    g.add_constant(name, quantize(data, s, zp), QuantParams(s, zp))
                inputs.append(name)
                continue
            if not is_weighted(node.op) or pos == 0:
                raise GraphError(f"node {node.name!r} ({node.op}): constant operand {name!r} is not "
                                 f"supported in an integer graph (conv/linear weights and biases, and "
                                 f"the inputs of ops that declare `constant_inputs`)")
            if name in g.tensors:
                raise GraphError(f"constant {name!r} is used by more than one layer; quantize a graph "
                                 f"whose layers own their weights")
            w_scales = plan.weight_scales[node.name]
            data = plan.constant(graph, name)
            if pos == 1:
                bits = plan.weight_bits[node.name]
                g.add_constant(name, lowbit.quantize_weights(data, w_scales, bits), _quant(w_scales, bits=bits))
            else:
                q, b_scales = lowbit.quantize_bias(data, plan.params(node.inputs[0])[0], w_scales)
                g.add_constant(name, q, _quant(b_scales if w_scales.size > 1 else b_scales[:1]))
            inputs.append(name)
        s, zp = plan.params(node.output)
        g.add_node(node.op, inputs, node.name, output=node.output, dtype=np.int8,
                   quant=QuantParams(s, zp), **node.attrs)
    for name in graph.outputs:
        g.mark_output(name)
    return g


def prepare(graph: Graph, calibration_inputs: np.ndarray, config: QuantConfig) -> QuantPlan:
    """Calibrate and plan: the parameters `build_integer_graph` (or QAT) starts from."""
    return make_plan(graph, calibrate(graph, calibration_inputs, config), config)


def quantize_graph(graph: Graph, calibration_inputs: np.ndarray, config: QuantConfig = QuantConfig()) -> Graph:
    """Post-training quantization of a float Graph to levin's integer Graph.

    Args:
        calibration_inputs: float samples in the dataset's layout (N, C, H, W), e.g.
            `calibration_set(data.x_train, config.calibration_size)`.
    """
    return build_integer_graph(graph, prepare(graph, calibration_inputs, config))
