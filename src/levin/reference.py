"""The integer reference interpreter: runs an integer Graph with TFLite int8 arithmetic, in numpy.

Read me first. This is levin's oracle: the C runtime and the TFLite interop are checked against
it bit for bit. Conventions of the integer graph are in `levin.quant.ptq` and `levin.quant.plan`;
each op computes by its registered integer kernel (`levin.ops`, `Op.reference`; every op module
names the TFLite kernel it follows), and all rescaling goes through `levin.intmath`:
- Requantization parameters are derived from the tensors' float32 scales at run time, as TFLite
  does at prepare time: conv and per-channel linear multiply in_scale * w_scale in double
  (`effective_scale`), as TFLite Micro's `PopulateConvolutionQuantizationParams`, which its
  FULLY_CONNECTED uses too, per-tensor or not (older TFLite multiplied the scales of a per-tensor
  FC in float32 first, `float_product`: the MLPerf Tiny autoencoder tells them apart). Classic
  double rounding (TFLite Micro / CMSIS-NN default); `single_round=True` for the other variant.
- Conv2d/Linear accumulate in float64 BLAS, which is exact because every operand and partial sum
  is an integer far below 2^53; the result must fit int32, as in C (`levin.ops.qparams`).
Any batch size runs: the graph's leading dimension (1) is replaced by the inputs' N.
"""

from __future__ import annotations

from typing import Collection, Mapping

import numpy as np

from levin import intmath as im
from levin import ops
from levin.errors import GraphError
from levin.ir.graph import Graph
from levin.ir.interpreter import input_dict
from levin.ops.qparams import sz


def run(graph: Graph, inputs: Mapping[str, np.ndarray] | np.ndarray, keep: bool = False,
        single_round: bool | Collection[str] = False) -> dict[str, np.ndarray]:
    """Run integer `graph` on int8 `inputs` (one array for a one-input graph, else a dict).

    Inputs are NHWC with any batch size N. Returns the outputs by name (int8), or every
    activation if `keep`. `single_round` is a bool for every op, or the op names that round
    once: desktop TFLite's reference kernels round FULLY_CONNECTED once and CONV_2D twice, so
    `single_round={"Linear"}` reproduces them (TFLite Micro: the default, twice everywhere).
    Raises GraphError for float tensors or parameters a kernel rejects (naming the node): scales
    whose ratio overflows or needs a shift outside -31..30, an int32 accumulator that overflows,
    a NaN pad value, a softmax input scale too small for its multiplier, ...
    """
    inputs = input_dict(graph, inputs)
    values: dict[str, np.ndarray] = {}
    for name in graph.inputs:
        t = graph.tensors[name]
        x = np.asarray(inputs.get(name)) if name in inputs else None
        if x is None or x.dtype != t.dtype or x.shape[1:] != t.shape[1:]:
            got = "missing" if x is None else f"{x.dtype}{list(x.shape)}"
            raise GraphError(f"input {name!r}: expected {t.dtype}[N, {', '.join(map(str, t.shape[1:]))}]"
                             f" (NHWC), got {got}")
        values[name] = x
    for node in graph.nodes:
        ins = [graph.tensors[i] for i in node.inputs]
        if any(t.is_float for t in ins):
            raise GraphError(f"node {node.name!r}: the integer reference runs integer graphs only; "
                             f"quantize the graph first (levin.quant.ptq.quantize_graph)")
        args = [t.data if t.is_constant else values[t.name] for t in ins]
        once = single_round if isinstance(single_round, bool) else node.op in single_round
        try:
            values[node.output] = ops.get(node.op).reference(node, args, ins, graph.tensors[node.output], once)
        except im.IntMathError as exc:   # parameters the integer arithmetic cannot take
            raise GraphError(f"node {node.name!r} ({node.op}): {exc}") from None
    return values if keep else {name: values[name] for name in graph.outputs}


def nhwc(x: np.ndarray, ir_rank: int = 4) -> np.ndarray:
    """A dataset batch in the IR's layout: (N, C, H, W) -> (N, H, W, C), and (N, C, L), a 1-D
    feature map, -> (N, 1, L, C) when the IR tensor has rank `ir_rank` 4 (torch capture's
    convention); other ranks unchanged."""
    if x.ndim == 4:
        return x.transpose(0, 2, 3, 1)
    if x.ndim == 3 and ir_rank == 4:
        return x.transpose(0, 2, 1)[:, None]
    return x


def quantize_batch(graph: Graph, x: np.ndarray) -> np.ndarray:
    """A float dataset batch ((N, C, H, W), (N, C, L) or flat) -> int8 codes of the graph's first
    input."""
    return quantize_input(graph, nhwc(x, len(graph.tensors[graph.inputs[0]].shape)))


def quantize_input(graph: Graph, x: np.ndarray, name: str | None = None) -> np.ndarray:
    """Float NHWC input -> int8 codes of graph input `name` (the first by default), as TFLite's
    QUANTIZE op (float32 division, rounding half away from zero)."""
    t = graph.tensors[name or graph.inputs[0]]
    s, zp = sz(t)
    return im.quantize(x, s, zp, dtype=t.dtype)


def dequantize_output(graph: Graph, q: np.ndarray, name: str | None = None) -> np.ndarray:
    """int8 codes of graph output `name` (the first by default) -> float32 real values."""
    s, zp = sz(graph.tensors[name or graph.outputs[0]])
    return im.dequantize(q, s, zp)
